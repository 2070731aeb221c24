// Cahier's web editor: the home (documents, search, create) at /edit and one
// document at /edit/ID (ID: its automerge-repo document id).
//
// Documents sync over the automerge-repo protocol at /sync and are kept in
// IndexedDB, so editing goes on offline and survives a reload. "Saved" is shown
// only when the server reports (through its sync heads) that it has stored the
// current version.

import * as A from "@automerge/automerge"
import { type DocHandle, type DocumentId, Presence, Repo, decodeHeads, isValidDocumentId } from "@automerge/automerge-repo"
import { BrowserWebSocketClientAdapter } from "@automerge/automerge-repo-network-websocket"
import { IndexedDBStorageAdapter } from "@automerge/automerge-repo-storage-indexeddb"
import { markdown } from "@codemirror/lang-markdown"
import { basicSetup } from "codemirror"
import { EditorView } from "@codemirror/view"
import { authorshipColours } from "./authorship"
import { bindInput, codeMirrorText } from "./binding"
import { type RemoteCursor, remoteCursors, setRemoteCursors } from "./cursors"
import { flushOnLeave, keepOnDevice } from "./device"
import { lang, setLang, t } from "./i18n"
import { invitePanel } from "./invites"
import { friendlyMarkdown, toolbar } from "./markdown"
import { openDocument } from "./open"
import "./style.css"

type Action = { text: string; owner: string; due: string; done: boolean }
type CahierDoc = {
  kind: "page" | "minutes"
  schemaVersion: number
  title: string
  slug: string
  body: string
  tags: string[]
  license: string
  status: string
  createdAt: Date
  updatedAt: Date
  importedCredits: string[]
  startsAt?: string
  place?: string
  facilitator?: string
  participants?: string[]
  agenda?: string[]
  decisions?: string[]
  actions?: Action[]
}

type Session = {
  kind: "account" | "guest" | "anonymous"
  name: string | null
  doc: string | null
  write: boolean
  may_create: boolean
  may_publish: boolean
  storage_id: string
  csrf: string | null
}

const app = document.getElementById("app") as HTMLElement

// ---- small DOM helpers -------------------------------------------------------

function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Record<string, string> = {},
  ...children: (Node | string)[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag)
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v)
  for (const c of children) el.append(c)
  return el
}

let idCounter = 0
function labelled(label: string, input: HTMLInputElement | HTMLTextAreaElement): HTMLElement {
  const id = input.id || `f${++idCounter}`
  input.id = id
  return h("p", { class: "field" }, h("label", { for: id }, label), input)
}

function slugify(title: string): string {
  return title
    .normalize("NFD")
    .replace(/[\u0300-\u036f]/g, "")
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, "-")
    .replace(/^-+|-+$/g, "")
    .slice(0, 80)
}

/** A meeting's date and time ("2026-05-12T14:00") as people read it here. */
function formatWhen(startsAt: string): string {
  const d = new Date(startsAt)
  if (Number.isNaN(d.getTime())) return startsAt
  return d.toLocaleString(lang, { dateStyle: "medium", timeStyle: "short" })
}

function colorFor(name: string): string {
  let hash = 0
  for (const c of name) hash = (hash * 31 + c.charCodeAt(0)) >>> 0
  return `hsl(${hash % 360} 70% 38%)`
}

// ---- session and repo --------------------------------------------------------

async function loadSession(): Promise<Session> {
  try {
    const r = await fetch("/api/session", { credentials: "same-origin" })
    if (r.ok) {
      const s = (await r.json()) as Session
      localStorage.setItem("cahier.session", JSON.stringify(s))
      return s
    }
  } catch {
    // Offline: the last session seen on this device.
  }
  const cached = localStorage.getItem("cahier.session")
  if (cached) return JSON.parse(cached) as Session
  return { kind: "anonymous", name: null, doc: null, write: false, may_create: false, may_publish: false, storage_id: "", csrf: null }
}

function makeRepo(): Repo {
  const proto = location.protocol === "https:" ? "wss:" : "ws:"
  const repo = new Repo({
    network: [new BrowserWebSocketClientAdapter(`${proto}//${location.host}/sync`, 1000)],
    storage: new IndexedDBStorageAdapter("cahier"),
  })
  // The editor writes its document itself (device.ts); this covers the rest.
  flushOnLeave(repo)
  return repo
}

// ---- the header, shared by both views ---------------------------------------

// Wide screens show the header's menu and the meeting's details open; phones
// fold them (a tap opens them).
const wide = matchMedia("(min-width: 40rem)")
wide.addEventListener("change", () => {
  for (const d of document.querySelectorAll<HTMLDetailsElement>("details.menu")) d.open = wide.matches
  if (wide.matches) for (const d of document.querySelectorAll<HTMLDetailsElement>("details.meeting")) d.open = true
})
// A folded menu closes with Escape or a tap elsewhere.
document.addEventListener("click", (e) => {
  if (wide.matches) return
  for (const d of document.querySelectorAll<HTMLDetailsElement>("details.menu[open]")) if (!d.contains(e.target as Node)) d.open = false
})
document.addEventListener("keydown", (e) => {
  if (wide.matches || e.key !== "Escape") return
  for (const d of document.querySelectorAll<HTMLDetailsElement>("details.menu[open]")) {
    d.open = false
    d.querySelector("summary")?.focus()
  }
})

function header(session: Session, status?: HTMLElement): HTMLElement {
  const switcher = h("button", { type: "button", class: "lang", "aria-label": t.switchLangLabel, lang: lang === "fr" ? "en" : "fr" }, t.switchLang)
  switcher.addEventListener("click", () => {
    setLang(lang === "fr" ? "en" : "fr")
    route()
  })
  const nav = h("nav", { "aria-label": t.home }, h("a", { href: "/edit", class: "brand" }, t.appName))
  const items = h("div", { class: "menu-items" })
  if (session.name) items.append(h("span", { class: "user" }, session.name))
  items.append(h("a", { href: "/wiki", id: "wiki-link" }, t.wiki), switcher)
  if (session.kind !== "anonymous" && session.csrf) {
    // The server's own logout (it ends the session and opens the wiki).
    const logout = h(
      "form",
      { method: "post", action: "/logout", id: "logout" },
      h("input", { type: "hidden", name: "csrf", value: session.csrf }),
      h("button", { type: "submit" }, t.logout),
    )
    logout.addEventListener("submit", (e) => {
      // Changes the server does not have yet stay on this device only.
      const state = document.querySelector<HTMLElement>("#status")?.dataset.state
      if (state && state !== "saved" && !confirm(t.logoutUnsaved)) e.preventDefault()
    })
    items.append(logout)
  }
  const menu = h("details", { class: "menu", id: "menu" }, h("summary", {}, t.menu), items)
  menu.open = wide.matches
  const bar = h("header", { class: "bar" }, nav)
  if (status) bar.append(status)
  bar.append(menu)
  return bar
}

// ---- home ---------------------------------------------------------------------

type Entry = { id: string; kind: string; title: string; slug: string; updated_ms: number | null; published: boolean }

async function home(session: Session, repo: Repo) {
  document.title = `${t.home} · Cahier`
  const skip = document.getElementById("skip")
  if (skip) skip.textContent = t.skip
  let entries: Entry[] = []
  try {
    const r = await fetch("/api/documents", { credentials: "same-origin" })
    if (r.ok) entries = (await r.json()) as Entry[]
  } catch {
    entries = []
  }
  const search = h("input", { type: "search", id: "search", autocomplete: "off" })
  const minutesList = h("ul", { class: "docs", id: "minutes-list" })
  const pagesList = h("ul", { class: "docs", id: "pages-list" })
  const render = () => {
    const q = slugify(search.value)
    minutesList.replaceChildren()
    pagesList.replaceChildren()
    const shown = entries.filter((e) => !q || slugify(e.title).includes(q) || e.slug.includes(q))
    for (const e of shown) {
      const when = e.updated_ms ? new Date(e.updated_ms).toLocaleString(lang) : ""
      const li = h(
        "li",
        { "data-state": e.published ? "published" : "draft" },
        h("a", { href: `/edit/${e.id}` }, e.title || (e.kind === "minutes" ? t.untitledMinutes : t.untitledPage)),
        " ",
        h("span", { class: `badge ${e.published ? "published" : "draft"}` }, e.published ? t.publishedBadge(e.kind) : t.draft),
        " ",
      )
      // A published document's public page, for readers.
      if (e.published && e.slug) li.append(h("a", { href: `/wiki/${e.slug}`, class: "public", "aria-label": `${t.publicPage} : ${e.title}` }, t.publicPage), " ")
      li.append(h("small", {}, when))
      ;(e.kind === "minutes" ? minutesList : pagesList).append(li)
    }
    for (const list of [minutesList, pagesList]) {
      if (!list.childElementCount) list.append(h("li", { class: "empty" }, t.noDocuments))
    }
  }
  search.addEventListener("input", render)
  render()
  const buttons = h("p", { class: "create" })
  if (session.may_create) {
    const newMinutes = h("button", { type: "button", id: "new-minutes" }, t.newMinutes)
    const newPage = h("button", { type: "button", id: "new-page" }, t.newPage)
    newMinutes.addEventListener("click", () => create(repo, "minutes"))
    newPage.addEventListener("click", () => create(repo, "page"))
    buttons.append(newMinutes, " ", newPage)
  }
  const main = h(
    "main",
    { id: "main", tabindex: "-1" },
    h("h1", {}, t.appName),
    buttons,
    labelled(t.searchTitle, search),
    h("section", { "aria-labelledby": "h-minutes" }, h("h2", { id: "h-minutes" }, t.minutes), minutesList),
    h("section", { "aria-labelledby": "h-pages" }, h("h2", { id: "h-pages" }, t.pages), pagesList),
  )
  app.replaceChildren(header(session), main)
}

function create(repo: Repo, kind: "page" | "minutes") {
  const now = new Date()
  const base: CahierDoc = {
    kind,
    schemaVersion: 1,
    title: "",
    slug: "",
    body: "",
    tags: [],
    license: "CC-BY-4.0",
    status: "draft",
    createdAt: now,
    updatedAt: now,
    importedCredits: [],
  }
  if (kind === "minutes") {
    const pad = (n: number) => String(n).padStart(2, "0")
    Object.assign(base, {
      startsAt: `${now.getFullYear()}-${pad(now.getMonth() + 1)}-${pad(now.getDate())}T${pad(now.getHours())}:${pad(now.getMinutes())}`,
      place: "",
      facilitator: "",
      participants: [],
      agenda: [],
      decisions: [],
      actions: [],
    })
  }
  const handle = repo.create<CahierDoc>(base)
  history.pushState({ focusTitle: true }, "", `/edit/${handle.documentId}`)
  route()
}

// ---- the document editor ------------------------------------------------------

/** A text input bound to a text field: typing edits it, remote edits show up
 * (around the caret, see binding.ts). */
function bindText(handle: DocHandle<CahierDoc>, path: (string | number)[], input: HTMLInputElement, readOnly: boolean, after?: () => void) {
  return bindInput(handle, path, input, { readOnly, after, also: (d) => (d.updatedAt = new Date()) })
}

/** A list of strings (participants, agenda, decisions) as labelled inputs. */
function bindList(handle: DocHandle<CahierDoc>, key: "participants" | "agenda" | "decisions", itemLabel: string, addLabel: string, readOnly: boolean) {
  const list = h("ul", { class: "items", id: `${key}-list` })
  const adder = h("input", { type: "text", id: `${key}-new` })
  const addButton = h("button", { type: "button", id: `${key}-add` }, addLabel)
  const add = () => {
    const v = adder.value.trim()
    if (!v) return
    handle.change((d) => {
      if (!d[key]) d[key] = []
      d[key]!.push(v)
      d.updatedAt = new Date()
    })
    adder.value = ""
    adder.focus()
  }
  addButton.addEventListener("click", add)
  adder.addEventListener("keydown", (e) => {
    if (e.key === "Enter") {
      e.preventDefault()
      add()
    }
  })
  const box = h("div", { class: "list" }, list)
  if (!readOnly) box.append(h("p", { class: "adder" }, h("label", { for: adder.id }, addLabel), " ", adder, " ", addButton))
  let syncs: ((d: CahierDoc) => void)[] = []
  const update = (doc: CahierDoc) => {
    const items = doc[key] ?? []
    if (syncs.length !== items.length) {
      list.replaceChildren()
      syncs = []
      items.forEach((_, i) => {
        const input = h("input", { type: "text", "aria-label": `${itemLabel} ${i + 1}` })
        const sync = bindText(handle, [key, i], input, readOnly)
        syncs.push(sync)
        const li = h("li", {}, input)
        if (!readOnly) {
          const rm = h("button", { type: "button", class: "remove", "aria-label": `${t.remove} : ${items[i]}` }, "×")
          rm.addEventListener("click", () =>
            handle.change((d) => {
              d[key]!.splice(i, 1)
              d.updatedAt = new Date()
            }),
          )
          li.append(" ", rm)
        }
        list.append(li)
      })
    } else {
      for (const sync of syncs) sync(doc)
    }
  }
  return { element: box, update }
}

function bindActions(handle: DocHandle<CahierDoc>, readOnly: boolean) {
  const table = h("table", { class: "actions", id: "actions-table" })
  const body = h("tbody")
  table.append(
    h("thead", {}, h("tr", {}, h("th", { scope: "col" }, t.actionText), h("th", { scope: "col" }, t.actionOwner), h("th", { scope: "col" }, t.actionDue), h("th", { scope: "col" }, t.actionDone))),
    body,
  )
  const adder = h("input", { type: "text", id: "actions-new" })
  const addButton = h("button", { type: "button", id: "actions-add" }, t.addAction)
  const add = () => {
    const v = adder.value.trim()
    if (!v) return
    handle.change((d) => {
      if (!d.actions) d.actions = []
      d.actions.push({ text: v, owner: "", due: "", done: false })
      d.updatedAt = new Date()
    })
    adder.value = ""
    adder.focus()
  }
  addButton.addEventListener("click", add)
  adder.addEventListener("keydown", (e) => {
    if (e.key === "Enter") {
      e.preventDefault()
      add()
    }
  })
  const box = h("div", {}, table)
  if (!readOnly) box.append(h("p", { class: "adder" }, h("label", { for: adder.id }, t.addAction), " ", adder, " ", addButton))
  let rows: ((d: CahierDoc) => void)[][] = []
  const update = (doc: CahierDoc) => {
    const actions = doc.actions ?? []
    if (rows.length !== actions.length) {
      body.replaceChildren()
      rows = []
      actions.forEach((_, i) => {
        const text = h("input", { type: "text", "aria-label": `${t.actionText} ${i + 1}` })
        const owner = h("input", { type: "text", "aria-label": `${t.actionOwner} ${i + 1}` })
        const due = h("input", { type: "date", "aria-label": `${t.actionDue} ${i + 1}` })
        const done = h("input", { type: "checkbox", "aria-label": `${t.actionDone} ${i + 1}` })
        done.disabled = readOnly
        done.addEventListener("change", () =>
          handle.change((d) => {
            d.actions![i].done = done.checked
            d.updatedAt = new Date()
          }),
        )
        rows.push([bindText(handle, ["actions", i, "text"], text, readOnly), bindText(handle, ["actions", i, "owner"], owner, readOnly), bindText(handle, ["actions", i, "due"], due, readOnly)])
        // On a phone each action is a card: its cells stack, each with its name.
        body.append(
          h(
            "tr",
            {},
            h("td", { "data-label": t.actionText }, text),
            h("td", { "data-label": t.actionOwner }, owner),
            h("td", { "data-label": t.actionDue }, due),
            h("td", { class: "done" }, h("label", {}, done, h("span", { class: "done-label" }, t.actionDone))),
          ),
        )
        done.checked = actions[i].done === true
      })
    } else {
      body.querySelectorAll("tr").forEach((tr, i) => {
        for (const sync of rows[i]) sync(doc)
        const done = tr.querySelector<HTMLInputElement>('input[type="checkbox"]')
        if (done) done.checked = actions[i].done === true
      })
    }
  }
  return { element: box, update }
}

async function editor(session: Session, repo: Repo, id: DocumentId) {
  const status = h("p", { class: "status", id: "status", role: "status", "aria-live": "polite" }, t.connecting)
  app.replaceChildren(header(session, status), h("main", { id: "main" }, h("p", {}, t.connecting)))
  // "Connexion…" until the document is here: from this device, or from the
  // server once connected. "Not found" only when the server answered so.
  const visit = visits
  const found = await openDocument<CahierDoc>(repo, id)
  // Gone elsewhere in the meantime.
  if (visit !== visits) return
  if (!found) {
    app.replaceChildren(header(session), h("main", { id: "main" }, h("p", { role: "alert" }, t.notFound)))
    return
  }
  const handle: DocHandle<CahierDoc> = found
  const doc0 = handle.doc()
  const isMinutes = doc0.kind === "minutes"
  // Just created here: it starts at its title, its details open.
  const isNew = (history.state as { focusTitle?: boolean } | null)?.focusTitle === true
  const readOnly = !session.write
  const changes: ((d: CahierDoc) => void)[] = []

  const title = h("input", { type: "text", id: "title", autocomplete: "off" })
  const slugInput = h("input", { type: "text", id: "slug", autocomplete: "off", pattern: "[a-z0-9-]*" })
  const fillSlug = () => {
    // The address follows the title until someone sets it.
    const d = handle.doc()
    const s = slugify(d.title)
    if (!readOnly && (!d.slug || d.slug === slugify(lastTitle)) && s && d.slug !== s) handle.change((x) => A.updateText(x, ["slug"], s))
    lastTitle = d.title
  }
  let lastTitle = doc0.title
  changes.push(bindText(handle, ["title"], title, readOnly, fillSlug))
  changes.push(bindText(handle, ["slug"], slugInput, readOnly))

  const main = h("main", { id: "main", class: isMinutes ? "minutes" : "page" })
  main.append(h("h1", { class: "visually-hidden" }, isMinutes ? t.minutes : t.pages), labelled(t.title, title))
  // Draft or published, from the server's list (nothing shown offline).
  const publication = h("p", { id: "publication", class: "publication", hidden: "" })
  void showPublication(publication, session, id, doc0.kind)

  // The Markdown text, in CodeMirror, bound to `body`.
  const cmLabel = h("h2", { id: "body-label" }, isMinutes ? t.notes : t.body)
  const cmHost = h("div", { class: "cm-host", id: "body-editor" })
  type PeerState = { name: string; who?: string; color: string; cursor?: { anchor: A.Cursor; head: A.Cursor } }
  const cursors: Map<string, PeerState> = new Map()
  // Who we are: this tab (its repo's peer id) and this person (any of their tabs).
  const me = session.name ?? "?"
  const self = { peer: repo.peerId as string, who: `${session.kind}:${me}` }
  const body = codeMirrorText(handle, ["body"])
  const authors = authorshipColours(handle, id, ["body"])
  const view = new EditorView({
    doc: body.text,
    parent: cmHost,
    extensions: [
      basicSetup,
      markdown(),
      friendlyMarkdown(),
      EditorView.lineWrapping,
      EditorView.editable.of(!readOnly),
      EditorView.contentAttributes.of({ "aria-labelledby": "body-label", "aria-multiline": "true" }),
      body.extension,
      authors.extension,
      remoteCursors(self),
      EditorView.updateListener.of((u) => {
        if (u.selectionSet || u.docChanged) sendCursor()
        if (u.docChanged) schedulePreview()
      }),
    ],
  })

  authors.attach(view)
  const notesTools = h("div", { class: "notes-tools" })
  if (!readOnly) notesTools.append(toolbar(() => view, new AbortController().signal))
  notesTools.append(authors.element)
  // Minutes show their preview on demand (pages side by side, below).
  const preview = h("div", { class: "rendered", id: "preview" })
  let previewTimer: number | undefined
  const previewSection = h("section", { "aria-labelledby": "h-preview", class: "preview", id: "preview-section" }, h("h2", { id: "h-preview" }, t.preview), preview)
  let previewShown = !isMinutes
  if (isMinutes) {
    previewSection.hidden = true
    const toggle = h("button", { type: "button", id: "preview-toggle", "aria-pressed": "false", "aria-controls": "preview-section" }, t.showPreview)
    toggle.addEventListener("click", () => {
      previewShown = !previewShown
      toggle.setAttribute("aria-pressed", String(previewShown))
      previewSection.hidden = !previewShown
      if (previewShown) schedulePreview(0)
    })
    notesTools.append(toggle)
  }

  // Presence: who is here, with colours and cursors (Automerge cursors).
  const color = colorFor(me)
  const presence = new Presence<PeerState, CahierDoc>({ handle })
  presence.start({ initialState: { name: me, who: self.who, color }, heartbeatMs: 2000, peerTtlMs: 8000 })
  window.addEventListener("pagehide", () => presence.stop())
  const peopleList = h("ul", { id: "presence-list" })
  const renderPresence = () => {
    cursors.clear()
    peopleList.replaceChildren(h("li", {}, h("span", { class: "dot", style: `background:${color}`, "aria-hidden": "true" }), ` ${me} (${t.you})`))
    // Each person once, with the caret of the tab they used last: a person may
    // have several tabs (or a tab just reloaded, whose old peer has not expired
    // yet), and the server relays our own presence back to us through the
    // other peers.
    const people = presence.getPeerStates().getStates({ groupingFn: (p) => p.value?.who ?? `peer:${p.peerId}` })
    for (const [who, p] of Object.entries(people)) {
      const v = p?.value
      if (!v?.name || who === self.who || p.peerId === self.peer) continue
      cursors.set(p.peerId, v)
      peopleList.append(h("li", { "data-peer": p.peerId }, h("span", { class: "dot", style: `background:${v.color}`, "aria-hidden": "true" }), ` ${v.name}`))
    }
    drawCursors()
  }
  // Drawn after the current CodeMirror update: document changes arrive from
  // inside the editor's own transactions.
  let drawPending = false
  const drawCursors = () => {
    if (drawPending) return
    drawPending = true
    setTimeout(() => {
      drawPending = false
      drawCursorsNow()
    }, 0)
  }
  const drawCursorsNow = () => {
    const d = handle.doc()
    const list: RemoteCursor[] = []
    for (const [peer, c] of cursors) {
      if (!c.cursor) continue
      try {
        const anchor = A.getCursorPosition(d, ["body"], c.cursor.anchor)
        const head = A.getCursorPosition(d, ["body"], c.cursor.head)
        list.push({ peer, who: c.who ?? `name:${c.name}`, name: c.name, color: c.color, anchor, head })
      } catch {
        // A cursor into text this copy does not have yet.
      }
    }
    view.dispatch({ effects: setRemoteCursors.of(list) })
  }
  for (const ev of ["update", "snapshot", "goodbye", "pruning"] as const) presence.on(ev, renderPresence)
  let cursorTimer: number | undefined
  const sendCursor = () => {
    clearTimeout(cursorTimer)
    cursorTimer = window.setTimeout(() => {
      const sel = view.state.selection.main
      const d = handle.doc()
      try {
        presence.broadcast("cursor", { anchor: A.getCursor(d, ["body"], sel.anchor), head: A.getCursor(d, ["body"], sel.head) })
      } catch {
        // The editor is ahead of the document for a moment; the next update sends it.
      }
    }, 50)
  }

  if (isMinutes) {
    const startsAt = h("input", { type: "datetime-local", id: "startsAt" })
    const place = h("input", { type: "text", id: "place" })
    const facilitator = h("input", { type: "text", id: "facilitator" })
    changes.push(bindText(handle, ["startsAt"], startsAt, readOnly))
    changes.push(bindText(handle, ["place"], place, readOnly))
    changes.push(bindText(handle, ["facilitator"], facilitator, readOnly))
    const participants = bindList(handle, "participants", t.participant, t.addParticipant, readOnly)
    const agenda = bindList(handle, "agenda", t.agendaItem, t.addAgenda, readOnly)
    const decisions = bindList(handle, "decisions", t.decision, t.addDecision, readOnly)
    const actions = bindActions(handle, readOnly)
    changes.push(participants.update, agenda.update, decisions.update, actions.update)
    // On a phone the notes come first: the meeting's details fold into one
    // line that says what they hold (open on wide screens, and for new minutes).
    const summary = h("summary", { id: "meeting-summary" })
    changes.push((d) => {
      const text = t.meetingSummary(d.startsAt ? formatWhen(d.startsAt) : "", d.place ?? "", (d.participants ?? []).length, (d.agenda ?? []).length)
      if (summary.textContent !== text) summary.textContent = text
    })
    const meeting = h(
      "details",
      { class: "meeting", id: "meeting" },
      summary,
      h("fieldset", {}, h("legend", {}, t.meeting), labelled(t.startsAt, startsAt), labelled(t.place, place), labelled(t.facilitator, facilitator)),
      h("section", { "aria-labelledby": "h-participants" }, h("h2", { id: "h-participants" }, t.participants), participants.element),
      h("section", { "aria-labelledby": "h-agenda" }, h("h2", { id: "h-agenda" }, t.agenda), agenda.element),
    )
    meeting.open = wide.matches || isNew
    main.append(
      publication,
      meeting,
      h("section", { class: "notes" }, cmLabel, notesTools, cmHost),
      previewSection,
      h("section", { "aria-labelledby": "h-decisions" }, h("h2", { id: "h-decisions" }, t.decisions), decisions.element),
      h("section", { "aria-labelledby": "h-actions" }, h("h2", { id: "h-actions" }, t.actions), actions.element),
    )
  } else {
    const tags = h("input", { type: "text", id: "tags" })
    tags.readOnly = readOnly
    tags.addEventListener("change", () =>
      handle.change((d) => {
        const wanted = tags.value.split(",").map((s) => s.trim()).filter(Boolean)
        d.tags.splice(0, d.tags.length, ...wanted)
        d.updatedAt = new Date()
      }),
    )
    changes.push((d) => {
      const v = (d.tags ?? []).join(", ")
      if (document.activeElement !== tags && tags.value !== v) tags.value = v
    })
    main.append(
      labelled(t.slug, slugInput),
      labelled(t.tags, tags),
      publication,
      h("div", { class: "split" }, h("section", { class: "notes" }, cmLabel, notesTools, cmHost), previewSection),
    )
  }
  main.append(h("aside", { "aria-labelledby": "h-present" }, h("h2", { id: "h-present" }, t.present), peopleList))
  if (session.kind === "account" && session.csrf) main.append(invitePanel(id, session.csrf).element)
  app.replaceChildren(header(session, status), main)
  document.title = `${doc0.title || (isMinutes ? t.untitledMinutes : t.untitledPage)} · Cahier`

  let lastStatus = ""
  const refresh = () => {
    const d = handle.doc()
    for (const c of changes) c(d)
    drawCursors()
    updateStatus()
  }
  handle.on("change", refresh)
  handle.on("remote-heads", () => updateStatus())
  const device = keepOnDevice(repo, handle, () => updateStatus())
  refresh()
  renderPresence()
  schedulePreview()
  // A new document starts at its title; otherwise at the top of the page.
  if (isNew) title.focus()

  // Saved state: the server's heads (its storage id) against ours.
  function updateStatus() {
    const connected = repo.peers.length > 0 && navigator.onLine
    const local = handle.heads()
    const remote = session.storage_id ? handle.getRemoteHeads(session.storage_id as never) : undefined
    // Saved: every change we hold is in the server's stored history. Equal
    // heads say so at once; otherwise count what the server's heads lack (when
    // they name changes we do not hold yet, we cannot tell, and wait for them).
    const saved = !!remote && ((remote.length === local.length && local.every((x) => remote.includes(x))) || pendingChanges(remote) === 0)
    // And whether this device has stored what the editor shows (it then
    // survives a reload, offline too).
    const here = device.stored()
    let text: string
    let state: string
    if (!connected) {
      text = t.offline(pendingChanges(remote), here)
      state = "offline"
    } else if (saved) {
      text = t.saved
      state = "saved"
    } else {
      text = t.saving
      state = "saving"
    }
    if (readOnly) text = `${text} · ${t.readOnly}`
    const onDevice = here ? "stored" : "storing"
    if (text !== lastStatus || status.dataset.local !== onDevice) {
      status.textContent = text
      status.dataset.state = state
      status.dataset.local = onDevice
      status.title = saved ? t.savedTitle : here ? t.storedHere : t.storingHere
      lastStatus = text
    }
  }
  function pendingChanges(remote: string[] | undefined): number {
    const d = handle.doc()
    try {
      const base = remote ? A.view(d, decodeHeads(remote as never)) : A.init<CahierDoc>()
      return A.getChanges(base, d).length
    } catch {
      // The server's heads include changes we do not have yet: we cannot tell
      // from here which of ours it lacks.
      return A.getAllChanges(d).length
    }
  }
  repo.networkSubsystem.on("peer", () => updateStatus())
  repo.networkSubsystem.on("peer-disconnected", () => updateStatus())
  window.addEventListener("online", updateStatus)
  window.addEventListener("offline", updateStatus)

  // The live preview, from the server's renderer (what readers will see).
  // Minutes render as they will be published (line breaks kept as typed).
  function schedulePreview(ms = 300) {
    if (!previewShown) return
    clearTimeout(previewTimer)
    previewTimer = window.setTimeout(async () => {
      try {
        const r = await fetch("/api/render", {
          method: "POST",
          credentials: "same-origin",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ markdown: handle.doc().body ?? "", kind: doc0.kind }),
        })
        // The server's HTML is sanitised; it is also shown under this page's CSP.
        if (r.ok) preview.innerHTML = ((await r.json()) as { html: string }).html
      } catch {
        // Offline: the preview waits for the connection.
      }
    }, ms)
  }
}

/** Says whether the document is a draft or published, with a link to its
 * public page (or, for those who may publish a draft, to the wiki's view of
 * it, where the publish button is). */
async function showPublication(el: HTMLElement, session: Session, id: string, kind: string) {
  let entry: Entry | undefined
  try {
    const r = await fetch("/api/documents", { credentials: "same-origin" })
    if (!r.ok) return
    entry = ((await r.json()) as Entry[]).find((e) => e.id === id)
  } catch {
    return
  }
  // Not on the server's list yet: new, hence a draft.
  const published = entry?.published === true
  const slug = entry?.slug ?? ""
  el.replaceChildren(h("span", { class: `badge ${published ? "published" : "draft"}` }, published ? t.publishedBadge(kind) : t.draft))
  el.dataset.state = published ? "published" : "draft"
  if (published && slug) el.append(" ", h("a", { href: `/wiki/${slug}`, id: "published-link" }, t.publishedPage))
  else if (!published && slug && session.may_publish) el.append(" ", h("a", { href: `/wiki/${slug}`, id: "publish-link" }, kind === "minutes" ? t.reviewDraftMinutes : t.reviewDraft))
  el.hidden = false
}

// ---- routing ------------------------------------------------------------------

let repoSingleton: Repo | undefined
let sessionPromise: Promise<Session> | undefined

/** Counts the pages shown, so that a page still loading knows it was left. */
let visits = 0

async function route() {
  visits++
  const session = await (sessionPromise ??= loadSession())
  repoSingleton ??= makeRepo()
  const path = location.pathname.replace(/\/+$/, "")
  const m = path.match(/^\/edit\/([^/]+)$/)
  if (m) {
    const id = m[1].replace(/^automerge:/, "")
    if (isValidDocumentId(id)) return editor(session, repoSingleton, id as DocumentId)
    app.replaceChildren(header(session), h("main", { id: "main" }, h("p", { role: "alert" }, t.notFound)))
    return
  }
  if (session.kind === "guest" && session.doc) {
    history.replaceState({}, "", `/edit/${session.doc}`)
    return editor(session, repoSingleton, session.doc as DocumentId)
  }
  return home(session, repoSingleton)
}

window.addEventListener("popstate", () => route())
document.addEventListener("click", (e) => {
  // Links inside the editor navigate without reloading (the repo stays connected).
  const a = (e.target as HTMLElement).closest("a")
  if (!a || e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey) return
  const href = a.getAttribute("href") ?? ""
  if (href === "/edit" || href.startsWith("/edit/")) {
    e.preventDefault()
    history.pushState({}, "", href)
    route()
  }
})

if ("serviceWorker" in navigator) {
  navigator.serviceWorker.register("/edit/sw.js", { scope: "/edit" }).catch(() => {
    // Without it, the editor still works online.
  })
}

route()

// One document in the editor: its fields, the notes in CodeMirror (bound to
// the document through binding.ts), presence and cursors, the saved state
// (the server's heads against ours), the preview, the comments (comments.ts)
// and the invite panel.
//
// `editorView` returns at once ("Connexion…") and fills itself in once the
// document is here. Everything it starts beyond its own elements (listeners on
// the window, the repo and the handle, presence and its heartbeat, the
// CodeMirror view, timers and requests) stops in `dispose`, so a document you
// left no longer counts you as present.

import * as A from "@automerge/automerge"
import { type DocHandle, type DocumentId, Presence, decodeHeads } from "@automerge/automerge-repo"
import { EditorSelection } from "@codemirror/state"
import { markdown } from "@codemirror/lang-markdown"
import { EditorView } from "@codemirror/view"
import { basicSetup } from "codemirror"
import { authorshipColours } from "./authorship"
import { bindInput, codeMirrorText } from "./binding"
import { commentsPanel } from "./comments"
import { type CahierDoc, type Ctx, type Session, type View, colorFor, formatWhen, h, header, labelled, personLabel, slugify, wide } from "./common"
import { type RemoteCursor, plainColor, remoteCursors, setRemoteCursors } from "./cursors"
import { keepOnDevice } from "./device"
import type { Early, Typed } from "./early"
import type { Entry } from "./home"
import { t } from "./i18n"
import { invitePanel } from "./invites"
import { friendlyMarkdown, toolbar } from "./markdown"
import { dropAndPaste, uploader } from "./upload"
import { openDocument } from "./open"
import { timeslider } from "./timeslider"

/** A text input bound to a text field: typing edits it, remote edits show up
 * (around the caret, see binding.ts). */

/** `add` runs on the button's click and on Enter in the field. */
function onAdd(adder: HTMLInputElement, addButton: HTMLElement, add: () => void): void {
  addButton.addEventListener("click", add)
  adder.addEventListener("keydown", (e) => {
    if (e.key === "Enter") {
      e.preventDefault()
      add()
    }
  })
}
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
  onAdd(adder, addButton, add)
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
  onAdd(adder, addButton, add)
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

/** Up to this many people, "Présents" shows their names until someone folds them. */
const FEW_PEOPLE = 8

/** `early`: the notes main.ts showed before this chunk arrived; they stay,
 * editable, until the document is here, and what was typed in them is kept. */
export function editorView(ctx: Ctx, id: DocumentId, early?: Early): View {
  const abort = new AbortController()
  const cleanups: (() => void)[] = []
  const status = early?.status ?? h("p", { class: "status", id: "status", role: "status", "aria-live": "polite" }, t.connecting)
  const element = early?.element ?? h("div", { class: "view" }, header(ctx, abort.signal, status), h("main", { id: "main" }, h("p", {}, t.connecting)))
  if (early) cleanups.push(() => early.take())
  void fill(ctx, id, element, status, abort.signal, cleanups, early)
  return {
    element,
    dispose() {
      abort.abort()
      for (const stop of cleanups.splice(0).reverse()) {
        try {
          stop()
        } catch {
          // One part failing to stop does not keep the others running.
        }
      }
    },
  }
}

async function fill(ctx: Ctx, id: DocumentId, element: HTMLElement, status: HTMLElement, signal: AbortSignal, cleanups: (() => void)[], early?: Early) {
  const { session, repo } = ctx
  // "Connexion…" until the document is here: from this device, or from the
  // server once connected. "Not found" only when the server answered so.
  const found = await openDocument<CahierDoc>(repo, id)
  // Left in the meantime: this load is stale.
  if (signal.aborted) return
  if (!found) {
    element.replaceChildren(header(ctx, signal), h("main", { id: "main" }, h("p", { role: "alert" }, t.notFound)))
    return
  }
  const handle: DocHandle<CahierDoc> = found
  // What was typed in the early notes goes into the document, on the version
  // they showed (this device's copy may need a moment to reach it).
  let typed: Typed | undefined
  if (early) {
    await hasVersion(handle, early, signal)
    if (signal.aborted) return
    typed = early.take()
    if (typed && !typed.changes.empty && session.write) typed = applyTyped(handle, typed)
  }
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
  void showPublication(publication, session, id, doc0.kind, signal)

  // The Markdown text, in CodeMirror, bound to `body`.
  const cmLabel = h("h2", { id: "body-label" }, isMinutes ? t.notes : t.body)
  const cmHost = h("div", { class: "cm-host", id: "body-editor" })
  type PeerState = { name: string; who?: string; color: string; cursor?: { anchor: A.Cursor; head: A.Cursor } }
  const cursors: Map<string, PeerState> = new Map()
  // Who we are: this tab (its repo's peer id) and this person (any of their tabs).
  const me = session.name ?? "?"
  const self = { peer: repo.peerId as string, who: `${session.kind}:${me}` }
  const body = codeMirrorText(handle, ["body"])
  // Images and PDFs: the button, a drop or a paste (those who may write).
  const upload = readOnly ? undefined : uploader(id, session.csrf, signal)
  const authors = authorshipColours(handle, id, ["body"])
  const comments = commentsPanel(handle, id, readOnly, signal)
  const view = new EditorView({
    doc: body.text,
    parent: cmHost,
    extensions: [
      basicSetup,
      markdown(),
      friendlyMarkdown(),
      dropAndPaste(() => upload),
      EditorView.lineWrapping,
      EditorView.editable.of(!readOnly),
      EditorView.contentAttributes.of({ "aria-labelledby": "body-label", "aria-multiline": "true" }),
      body.extension,
      authors.extension,
      comments.extension,
      remoteCursors(self),
      EditorView.updateListener.of((u) => {
        if (u.selectionSet || u.docChanged) sendCursor()
        if (u.docChanged) schedulePreview()
      }),
    ],
  })
  cleanups.push(() => view.destroy(), () => authors.dispose(), () => comments.dispose())

  authors.attach(view)
  comments.attach(view)
  const notesTools = h("div", { class: "notes-tools" })
  const bar = readOnly ? undefined : toolbar(() => view, signal, upload, comments.button ? [comments.button] : [])
  if (bar) notesTools.append(bar)
  notesTools.append(authors.element)
  // The timeslider shows the past notes in the live notes' place.
  const slider = timeslider({
    docId: id,
    handle,
    path: ["body"],
    canRestore: !readOnly,
    shown: (open) => {
      cmHost.hidden = open
      if (bar) bar.hidden = open
      authors.element.hidden = open
    },
  })
  cleanups.push(() => slider.dispose())
  notesTools.append(slider.toggle)
  // Minutes show their preview on demand (pages side by side, below).
  const preview = h("div", { class: "rendered", id: "preview" })
  let previewTimer: number | undefined
  const previewSection = h("section", { "aria-labelledby": "h-preview", class: "preview", id: "preview-section" }, h("h2", { id: "h-preview" }, t.preview), preview)
  let previewShown = !isMinutes
  if (isMinutes) {
    previewSection.hidden = true
    const toggle = h("button", { type: "button", id: "preview-toggle", "aria-pressed": "false", "aria-controls": "preview-section" }, t.showPreview)
    toggle.addEventListener(
      "click",
      () => {
        previewShown = !previewShown
        toggle.setAttribute("aria-pressed", String(previewShown))
        previewSection.hidden = !previewShown
        if (previewShown) schedulePreview(0)
      },
      { signal },
    )
    notesTools.append(toggle)
  }

  // Presence: who is here, with colours and cursors (Automerge cursors).
  const color = colorFor(me)
  const presence = new Presence<PeerState, CahierDoc>({ handle })
  presence.start({ initialState: { name: me, who: self.who, color }, heartbeatMs: 2000, peerTtlMs: 8000 })
  // Leaving the document (or the page) says goodbye: others see us leave at once.
  cleanups.push(() => presence.stop())
  window.addEventListener("pagehide", () => presence.stop(), { signal })
  // "Présents": a count, and the names on demand (shown at first while they
  // are few; a meeting of ninety stays one line until asked).
  const peopleList = h("ul", { id: "presence-list" })
  const peopleToggle = h("button", { type: "button", id: "presence-toggle", "aria-expanded": "true", "aria-controls": "presence-list" })
  let namesChosen: boolean | undefined
  peopleToggle.addEventListener(
    "click",
    () => {
      namesChosen = peopleList.hidden
      showNames(namesChosen)
    },
    { signal },
  )
  const showNames = (shown: boolean) => {
    peopleList.hidden = !shown
    peopleToggle.setAttribute("aria-expanded", String(shown))
    peopleToggle.title = shown ? t.presentHide : t.presentShow
  }
  const isGuest = (who: string | undefined) => who?.startsWith("guest:") === true
  const renderPresence = () => {
    cursors.clear()
    peopleList.replaceChildren(h("li", {}, h("span", { class: "dot", style: `background:${color}`, "aria-hidden": "true" }), ` ${personLabel(me, session.kind === "guest")} (${t.you})`))
    // Each person once, with the caret of the tab they used last: a person may
    // have several tabs (or a tab just reloaded, whose old peer has not expired
    // yet), and the server relays our own presence back to us through the
    // other peers.
    const people = presence.getPeerStates().getStates({ groupingFn: (p) => p.value?.who ?? `peer:${p.peerId}` })
    for (const [who, p] of Object.entries(people)) {
      const v = p?.value
      if (!v?.name || who === self.who || p.peerId === self.peer) continue
      cursors.set(p.peerId, v)
      peopleList.append(
        h("li", { "data-peer": p.peerId }, h("span", { class: "dot", style: `background:${plainColor(v.color)}`, "aria-hidden": "true" }), ` ${personLabel(v.name, isGuest(v.who))}`),
      )
    }
    const count = peopleList.children.length
    const label = t.presentCount(count)
    if (peopleToggle.textContent !== label) peopleToggle.textContent = label
    showNames(namesChosen ?? count <= FEW_PEOPLE)
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
      if (!signal.aborted) drawCursorsNow()
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
  cleanups.push(() => clearTimeout(cursorTimer), () => clearTimeout(previewTimer))
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
      h("div", { class: "notes-row" }, h("section", { class: "notes" }, cmLabel, notesTools, slider.panel, cmHost), comments.element),
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
      // Beside the notes: their comments, then the preview.
      h("div", { class: "split" }, h("section", { class: "notes" }, cmLabel, notesTools, slider.panel, cmHost), h("div", { class: "beside" }, comments.element, previewSection)),
    )
  }
  main.append(h("aside", { "aria-labelledby": "h-present", class: "presence" }, h("h2", { id: "h-present" }, t.present), peopleToggle, peopleList))
  if (session.kind === "account" && session.csrf) {
    const invites = invitePanel(id, session.csrf)
    cleanups.push(invites.dispose)
    main.append(invites.element)
  }
  element.replaceChildren(header(ctx, signal, status), main)
  document.title = `${doc0.title || (isMinutes ? t.untitledMinutes : t.untitledPage)} · Cahier`

  let lastStatus = ""
  const refresh = () => {
    const d = handle.doc()
    for (const c of changes) c(d)
    drawCursors()
    updateStatus()
  }
  const onHeads = () => updateStatus()
  handle.on("change", refresh)
  handle.on("remote-heads", onHeads)
  const device = keepOnDevice(repo, handle, onHeads)
  cleanups.push(
    () => handle.off("change", refresh),
    () => handle.off("remote-heads", onHeads),
    () => device.stop(),
  )
  refresh()
  renderPresence()
  schedulePreview()
  // A new document starts at its title; otherwise at the top of the page
  // (or where the early notes had the focus).
  if (isNew) title.focus()
  // The caret stays where it was in the early notes, and so does the focus.
  if (typed) {
    const max = view.state.doc.length
    const clamp = (n: number) => Math.min(n, max)
    view.dispatch({ selection: EditorSelection.create(typed.selection.ranges.map((r) => EditorSelection.range(clamp(r.anchor), clamp(r.head))), typed.selection.mainIndex) })
    if (typed.focused && !isNew) view.focus()
  }

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
  repo.networkSubsystem.on("peer", onHeads)
  repo.networkSubsystem.on("peer-disconnected", onHeads)
  cleanups.push(
    () => repo.networkSubsystem.off("peer", onHeads),
    () => repo.networkSubsystem.off("peer-disconnected", onHeads),
  )
  window.addEventListener("online", onHeads, { signal })
  window.addEventListener("offline", onHeads, { signal })

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
          signal,
        })
        // The server's HTML is sanitised; it is also shown under this page's CSP.
        if (r.ok) preview.innerHTML = ((await r.json()) as { html: string }).html
      } catch {
        // Offline: the preview waits for the connection.
      }
    }, ms)
  }
}

/** Resolves once this copy of the document holds the version the early notes
 * showed (at once for a copy from the server; a copy from this device's
 * storage gets it when it syncs), or when the view is left. No timeout: what
 * was typed is applied on that version only, never by replacing the notes
 * (which would undo what others wrote meanwhile); until then the early notes
 * stay, editable, and the status says the editor is loading. */
async function hasVersion(handle: DocHandle<CahierDoc>, early: Early, signal: AbortSignal): Promise<void> {
  const heads = early.heads
  const holds = () => A.hasHeads(handle.doc(), heads)
  if (holds()) return
  await new Promise<void>((resolve) => {
    const done = () => {
      handle.off("change", check)
      signal.removeEventListener("abort", done)
      resolve()
    }
    const check = () => holds() && done()
    handle.on("change", check)
    signal.addEventListener("abort", done)
  })
}

/** Applies what was typed in the early notes to the document, and returns
 * it with its selection in the merged text. Each change is placed with
 * Automerge cursors taken in the version the early notes showed: an insertion
 * goes just after the character it followed, a deletion removes the very
 * characters deleted (those still there), so edits others made meanwhile stay.
 * (Automerge's `changeAt` would do this, but the repo's copy of the document
 * then shows others' concurrent text twice.) */
function applyTyped(handle: DocHandle<CahierDoc>, typed: Typed): Typed {
  const d = handle.doc()
  const path = ["body"]
  let base: CahierDoc
  try {
    base = A.view(d, typed.heads)
  } catch {
    // This copy lacks that version, which `hasVersion` waited for: not met
    // in practice. The text as typed replaces the notes, so nothing typed is
    // lost (edits got since may be undone).
    handle.change((x) => A.updateText(x, path, typed.text))
    return typed
  }
  const cursor = (pos: number) => A.getCursor(base, path, pos)
  const now = (pos: number) => A.getCursorPosition(d, path, cursor(pos))
  type Op = { at: number; deletes: number[]; text: string; fromB: number; toB: number; placed: number }
  const ops: Op[] = []
  typed.changes.iterChanges((fromA, toA, fromB, toB, inserted) => {
    const deletes: number[] = []
    for (let p = fromA; p < toA; p++) {
      const q = now(p)
      if (A.getCursor(d, path, q) === cursor(p)) deletes.push(q)
    }
    ops.push({ at: fromA === 0 ? 0 : now(fromA - 1) + 1, deletes, text: inserted.toString(), fromB, toB, placed: 0 })
  })
  handle.change((x) => {
    if (typeof x.body !== "string") x.body = ""
    // In order; `shift` is how far what was applied moved the later positions.
    let shift = 0
    for (const op of ops) {
      for (const q of [...op.deletes].reverse()) A.splice(x, path, q + shift, 1)
      op.placed = op.at + shift
      if (op.text) A.splice(x, path, op.placed, 0, op.text)
      shift += op.text.length - op.deletes.length
    }
    x.updatedAt = new Date()
  })
  // Carets stay just after the character before them.
  const merged = handle.doc()
  const map = (pos: number): number => {
    if (pos === 0) return 0
    const c = pos - 1
    const op = ops.find((o) => o.fromB <= c && c < o.toB)
    if (op) return op.placed + (c - op.fromB) + 1
    let b: number | undefined
    typed.changes.iterGaps((posA, posB, length) => {
      if (posB <= c && c < posB + length) b = posA + (c - posB)
    })
    if (b === undefined) return pos
    try {
      return A.getCursorPosition(merged, path, cursor(b)) + 1
    } catch {
      return pos
    }
  }
  const selection = EditorSelection.create(
    typed.selection.ranges.map((r) => EditorSelection.range(map(r.anchor), map(r.head))),
    typed.selection.mainIndex,
  )
  return { ...typed, selection }
}

/** Says whether the document is a draft or published, with a link to its
 * public page (or, for those who may publish a draft, to the wiki's view of
 * it, where the publish button is). */
async function showPublication(el: HTMLElement, session: Session, id: string, kind: string, signal: AbortSignal) {
  let entry: Entry | undefined
  try {
    const r = await fetch("/api/documents", { credentials: "same-origin", signal })
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
  if (kind === "page" && session.may_publish && session.csrf) el.append(" ", templateToggle(id, entry?.template === true, session.csrf, signal))
  el.hidden = false
}

/** "Modèle de page": a maintainer makes this page one of the templates
 * "Nouvelle page" offers (a server record, not a field of the page). */
function templateToggle(id: string, on: boolean, csrf: string, signal: AbortSignal): HTMLElement {
  const box = h("input", { type: "checkbox", id: "template-toggle" })
  box.checked = on
  const said = h("span", { id: "template-state", role: "status" })
  box.addEventListener(
    "change",
    async () => {
      const wanted = box.checked
      box.disabled = true
      try {
        const r = await fetch(`/api/documents/${id}/template`, {
          method: "POST",
          credentials: "same-origin",
          headers: { "content-type": "application/json", "x-cahier-csrf": csrf },
          body: JSON.stringify({ template: wanted }),
          signal,
        })
        if (!r.ok) throw new Error(`${r.status}`)
        said.textContent = wanted ? t.templateHelp : ""
      } catch (e) {
        if (signal.aborted) return
        box.checked = !wanted
        said.textContent = `${t.templateFailed} (${e instanceof Error ? e.message : String(e)})`
      } finally {
        box.disabled = false
      }
    },
    { signal },
  )
  if (on) said.textContent = t.templateHelp
  return h("span", { class: "template-toggle" }, h("label", {}, box, " ", t.templateToggle), " ", said)
}
// Comments on a passage of the notes, as in Etherpad and Google Docs: select a
// passage, "Commenter" (the toolbar's button, or Ctrl+Alt+M), type; the
// passage is highlighted and the comment listed beside the notes (below them
// on a phone) with who wrote it, when, the passage, and "Résoudre"/"Rouvrir".
// Under each comment its thread: "Répondre" opens a reply form (Ctrl+Enter
// sends, Escape cancels and gives the focus back to "Répondre"); each form
// keeps its draft, whichever other comment one replies to meanwhile, until it
// is sent or cancelled (a resolved comment hides it until reopened); a resolved
// comment folds to one line, its thread a click away. Those who may only read
// see the comments and their threads, and no button that would change them.
//
// Each comment lives in the document (`comments`, docs/schema.md) and is
// anchored by two Automerge cursors: one on the passage's first character,
// one on its last. They follow the passage through everyone's edits; when
// every character of it is gone the comment stays, "passage supprimé". A
// comment or reply stores no name: the server says who wrote it (GET
// /api/documents/ID/comments) from the change that set its text, with the
// same binding of actors to people as the authorship colours. Comments are
// never published: nothing that renders for readers reads them.

import * as A from "@automerge/automerge"
import type { DocHandle } from "@automerge/automerge-repo"
import { type Extension, StateEffect } from "@codemirror/state"
import { Decoration, EditorView, keymap } from "@codemirror/view"
import { type CahierDoc, h, personLabel } from "./common"
import { decorationField } from "./decorations"
import { lang, t } from "./i18n"

/** The server's bounds (cahier-doc's comments.rs). */
const MAX_COMMENTS = 1000
const MAX_TEXT = 4000
const MAX_REPLIES = 200
const PATH = ["body"]

type Person = { key: string; name: string; guest?: boolean }
type People = { comments: { id: string; author: Person | null; resolved_by?: Person; replies?: { id: string; author: Person | null }[] }[] }
type Who = { author: Person | null; resolvedBy?: Person; replies: Map<string, Person | null> }
type ShownReply = { id: string; text: string; createdAt?: Date }
type Shown = { id: string; from: number; to: number; text: string; createdAt?: Date; resolved: boolean; replies: ShownReply[] }

const setHighlights = StateEffect.define<{ from: number; to: number; id: string; active: boolean }[]>()

const highlights = decorationField(setHighlights, (value, len) =>
  value
    .filter((r) => r.from < r.to && r.to <= len)
    .map((r) => Decoration.mark({ class: r.active ? "cm-comment cm-comment-active" : "cm-comment", attributes: { "data-comment": r.id } }).range(r.from, r.to)),
)

/** Where a comment's passage is in `doc`'s notes: `from..to`, or null when
 * every character of it was deleted; undefined when its cursors name text
 * this copy does not hold. */
export function passage(doc: A.Doc<unknown>, start: string, end: string): { from: number; to: number } | null | undefined {
  try {
    const from = A.getCursorPosition(doc, PATH, start)
    const last = A.getCursorPosition(doc, PATH, end)
    const body = (doc as { body?: unknown }).body
    const len = typeof body === "string" ? body.length : 0
    // The cursor on the last character resolves to the next one once it is
    // deleted: the passage then ends where that character was.
    const lastHere = last < len && A.getCursor(doc, PATH, last) === end
    const to = lastHere ? last + 1 : last
    return to > from ? { from, to } : null
  } catch {
    return undefined
  }
}

function newId(): string {
  const b = new Uint8Array(8)
  crypto.getRandomValues(b)
  return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("")
}

function str(v: unknown): string {
  return v instanceof A.ImmutableString ? v.val : typeof v === "string" ? v : ""
}

type Thread = { id?: unknown; text?: unknown; createdAt?: unknown }[]

/** Every list under a comment's `replies`: a comment from before threads
 * gets its list from its first reply, and two first replies made at once
 * make rival lists, kept by Automerge as a conflict. The thread is all of
 * them (cahier-doc's comments.rs reads it the same way). */
function threads(c: { replies?: unknown }): Thread[] {
  const rivals = A.getConflicts(c as A.Doc<unknown>, "replies")
  const lists = rivals ? Object.values(rivals) : [c.replies]
  return lists.filter((l): l is Thread => Array.isArray(l))
}

/** `v` as JSON, maps as their entries: to tell whether something changed. */
function plain(v: unknown): string {
  return JSON.stringify(v, (_, x: unknown) => (x instanceof Map ? [...x] : x))
}

let formCounter = 0

function short(s: string): string {
  const one = s.replace(/\s+/g, " ").trim()
  return one.length > 80 ? `${one.slice(0, 79)}…` : one
}

/** The panel, the "Commenter" button, the highlights' extension. Call
 * `attach` once the view exists, `update` on every change of the document,
 * `dispose` at the end. */
export function commentsPanel(handle: DocHandle<CahierDoc>, docId: string, readOnly: boolean, signal: AbortSignal) {
  let view: EditorView | undefined
  let active: string | undefined
  const people = new Map<string, Who>()
  /** The resolved comments whose thread is unfolded. */
  const unfolded = new Set<string>()
  /** The open reply forms, by comment: each kept through redraws with its
   * draft until it is sent or cancelled, however many are open. */
  const drafts = new Map<string, { id: string; form: HTMLFormElement; input: HTMLTextAreaElement }>()
  const when = new Intl.DateTimeFormat(lang === "fr" ? "fr-FR" : "en-GB", { dateStyle: "medium", timeStyle: "short" })

  const list = h("ul", { id: "comment-list", class: "comment-list" })
  const empty = h("p", { class: "comments-empty", id: "comments-empty" }, t.commentsNone)
  const note = h("p", { class: "comments-note", id: "comments-note", role: "status" })
  const quote = h("p", { class: "comment-form-quote", id: "comment-form-quote" })
  const input = h("textarea", { id: "comment-text", maxlength: String(MAX_TEXT), rows: "3" })
  const save = h("button", { type: "submit", id: "comment-save" }, t.commentSave)
  const cancel = h("button", { type: "button", id: "comment-cancel" }, t.commentCancel)
  const form = h("form", { id: "comment-form", class: "comment-form", hidden: "" }, quote, h("label", { for: input.id }, t.commentLabel), input, h("p", { class: "comment-form-actions" }, save, " ", cancel))
  const element = h(
    "section",
    { id: "comments", class: "comments", "aria-labelledby": "h-comments" },
    h("h2", { id: "h-comments" }, t.comments),
    h("p", { class: "comments-private" }, t.commentsPrivate),
    form,
    note,
    empty,
    list,
  )
  const button = h("button", { type: "button", id: "comment-button", "aria-keyshortcuts": "Control+Alt+M", title: "Ctrl+Alt+M", "aria-controls": "comment-form" })
  button.append(h("span", { class: "icon", "aria-hidden": "true" }, "✎"), ` ${t.comment}`)
  // A click must not take the selection away from the editor first.
  button.addEventListener("mousedown", (e) => e.preventDefault(), { signal })
  button.addEventListener("click", () => open(), { signal })

  /** The passage the form comments on, as cursors (taken when it opened, so
   * they follow what others type meanwhile). */
  let pending: { start: string; end: string } | undefined

  function open(): boolean {
    if (readOnly || !view) return false
    const sel = view.state.selection.main
    if (sel.empty) {
      note.textContent = t.commentNeedsSelection
      return true
    }
    if (Object.keys(handle.doc().comments ?? {}).length >= MAX_COMMENTS) {
      note.textContent = t.commentsTooMany
      return true
    }
    const d = handle.doc()
    try {
      pending = { start: A.getCursor(d, PATH, sel.from), end: A.getCursor(d, PATH, sel.to - 1) }
    } catch {
      // The editor is a moment ahead of the document: try again.
      return true
    }
    note.textContent = ""
    quote.textContent = t.commentOn(short(view.state.sliceDoc(sel.from, sel.to)))
    form.hidden = false
    button.setAttribute("aria-expanded", "true")
    input.focus()
    return true
  }

  function close(focusEditor: boolean) {
    pending = undefined
    input.value = ""
    form.hidden = true
    button.setAttribute("aria-expanded", "false")
    if (focusEditor) view?.focus()
  }

  form.addEventListener(
    "submit",
    (e) => {
      e.preventDefault()
      const text = input.value.trim().slice(0, MAX_TEXT)
      if (!text || !pending) return
      const id = newId()
      const at = pending
      handle.change((d) => {
        if (!d.comments) d.comments = {}
        // The thread's list comes with the comment: two first replies made
        // at once then go into one list, not into two rival ones.
        d.comments[id] = { start: new A.ImmutableString(at.start), end: new A.ImmutableString(at.end), text: new A.ImmutableString(text), createdAt: new Date(), resolved: false, replies: [] } as never
      })
      active = id
      // Back to the notes, where the passage is now highlighted.
      close(true)
      note.textContent = t.commentAdded
      update()
    },
    { signal },
  )
  cancel.addEventListener("click", () => close(true), { signal })
  form.addEventListener(
    "keydown",
    (e) => {
      if (e.key === "Escape") close(true)
      else if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) form.requestSubmit()
    },
    { signal },
  )

  function setResolved(id: string, resolved: boolean) {
    handle.change((d) => {
      const c = d.comments?.[id]
      if (c) c.resolved = resolved
    })
  }

  function replyForm(id: string) {
    const n = ++formCounter
    const input = h("textarea", { id: `reply-text-${n}`, class: "comment-reply-text", maxlength: String(MAX_TEXT), rows: "2", "data-focus": "reply-text" })
    const send = h("button", { type: "submit", class: "comment-reply-send", "data-focus": "reply-send" }, t.commentReplySend)
    const no = h("button", { type: "button", class: "comment-reply-cancel", "data-focus": "reply-cancel" }, t.commentCancel)
    const form = h("form", { class: "comment-reply-form", id: `reply-form-${n}` }, h("label", { for: input.id }, t.commentReplyLabel), input, h("p", { class: "comment-form-actions" }, send, " ", no))
    form.addEventListener("submit", (e) => {
      e.preventDefault()
      const text = input.value.trim().slice(0, MAX_TEXT)
      if (!text) return
      let full = false
      const rid = newId()
      handle.change((d) => {
        const c = d.comments?.[id]
        if (!c) return
        if (!c.replies) c.replies = []
        if (threads(c).reduce((n, l) => n + l.length, 0) >= MAX_REPLIES) {
          full = true
          return
        }
        c.replies.push({ id: new A.ImmutableString(rid), text: new A.ImmutableString(text), createdAt: new Date() } as never)
      })
      if (full) {
        note.textContent = t.commentRepliesTooMany
        return
      }
      closeReply(id)
      note.textContent = t.commentReplySent
    })
    no.addEventListener("click", () => closeReply(id))
    form.addEventListener("keydown", (e) => {
      if (e.key === "Escape") {
        e.preventDefault()
        closeReply(id)
      } else if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) {
        e.preventDefault()
        form.requestSubmit()
      }
    })
    return { id, form, input }
  }

  function openReply(id: string) {
    if (readOnly) return
    const r = drafts.get(id) ?? replyForm(id)
    drafts.set(id, r)
    note.textContent = ""
    draw()
    r.input.focus()
  }

  /** Closes a comment's reply form, its draft gone; the focus goes back to its "Répondre". */
  function closeReply(id: string) {
    drafts.delete(id)
    draw()
    list.querySelector<HTMLElement>(`li[data-comment="${CSS.escape(id)}"] .comment-reply-open`)?.focus()
  }

  function goTo(c: Shown) {
    if (!view || c.from >= c.to) return
    active = c.id
    view.dispatch({ selection: { anchor: c.from, head: c.to }, scrollIntoView: true })
    view.focus()
    draw()
  }

  /** The comments as the notes now hold them, in the order of their passages
   * (those whose passage is gone last). */
  function current(): (Shown & { detached: boolean })[] {
    const d = handle.doc()
    const out: (Shown & { detached: boolean })[] = []
    for (const [id, c] of Object.entries(d.comments ?? {})) {
      if (!c || typeof c !== "object") continue
      const p = passage(d, str(c.start), str(c.end))
      if (p === undefined) continue
      const replies: ShownReply[] = []
      const lists = threads(c)
      for (const r of lists.flat()) {
        const rid = r && typeof r === "object" ? str(r.id) : ""
        if (!rid || replies.some((x) => x.id === rid) || replies.length >= MAX_REPLIES) continue
        replies.push({ id: rid, text: str(r.text).slice(0, MAX_TEXT), createdAt: r.createdAt instanceof Date ? r.createdAt : undefined })
      }
      // Rival lists (see `threads`): oldest first, each list in its order when times tie.
      if (lists.length > 1) replies.sort((a, b) => (a.createdAt?.getTime() ?? Infinity) - (b.createdAt?.getTime() ?? Infinity))
      out.push({ id, from: p?.from ?? -1, to: p?.to ?? -1, text: str(c.text), createdAt: c.createdAt instanceof Date ? c.createdAt : undefined, resolved: c.resolved === true, detached: p === null, replies })
    }
    out.sort((a, b) => Number(a.detached) - Number(b.detached) || a.from - b.from || a.id.localeCompare(b.id))
    return out
  }

  let drawPending = false
  /** Drawn after the current CodeMirror update (changes arrive inside it). */
  function update() {
    if (drawPending) return
    drawPending = true
    setTimeout(() => {
      drawPending = false
      if (!signal.aborted) draw()
    }, 0)
  }

  let drawn = ""
  function draw() {
    if (!view) return
    const shown = current()
    const text = str(handle.doc().body)
    // The highlights only once the editor shows the document's text.
    if (view.state.doc.toString() === text) {
      view.dispatch({ effects: setHighlights.of(shown.filter((c) => !c.resolved && !c.detached).map((c) => ({ from: c.from, to: c.to, id: c.id, active: c.id === active }))) })
    }
    // A comment reopened: whoever resolves it next is asked anew.
    for (const c of shown) {
      const who = people.get(c.id)
      if (!c.resolved && who?.resolvedBy) delete who.resolvedBy
      if (!c.resolved) unfolded.delete(c.id)
    }
    // A reply form whose comment is gone closes; a resolved one keeps its draft, hidden.
    for (const id of drafts.keys()) if (!shown.some((c) => c.id === id)) drafts.delete(id)
    // Who wrote a comment, a reply (or resolved one) that the last answer did not name.
    const unnamed = (c: Shown) => {
      const who = people.get(c.id)
      return !who?.author || (c.resolved && !who.resolvedBy) || c.replies.some((r) => !who.replies.get(r.id))
    }
    if (shown.some(unnamed)) schedule()
    // The list again only when something in it changed.
    const key = plain([active, [...drafts.keys()], [...unfolded], shown.map((c) => [c.id, c.resolved, c.detached, text.slice(c.from, c.to), c.text, c.replies, people.get(c.id)])])
    if (key === drawn) return
    drawn = key
    const focused = document.activeElement
    const focusedIn = focused instanceof HTMLElement && list.contains(focused) ? { id: focused.closest<HTMLElement>("li.comment")?.dataset.comment, what: focused.dataset.focus } : undefined
    const typing = [...drafts.values()].find((d) => d.input === focused)
    const caret = typing ? [typing.input.selectionStart, typing.input.selectionEnd] : undefined
    list.replaceChildren()
    for (const c of shown) list.append(item(c, text))
    empty.hidden = shown.length > 0
    // Redrawing keeps the focus where it was (the same control of the same comment).
    if (focusedIn?.id && !focused?.isConnected) {
      const li = list.querySelector<HTMLElement>(`li[data-comment="${CSS.escape(focusedIn.id)}"]`)
      const again = focusedIn.what ? li?.querySelector<HTMLElement>(`[data-focus="${focusedIn.what}"]`) : undefined
      ;(again ?? li?.querySelector<HTMLElement>("button"))?.focus()
      if (caret && typing && document.activeElement === typing.input) typing.input.setSelectionRange(caret[0], caret[1])
    }
  }

  function person(p: Person | null | undefined): string {
    return p ? personLabel(p.name, p.guest === true) : "…"
  }

  function meta(author: string, at: Date | undefined) {
    const m = h("p", { class: "comment-meta" }, h("strong", { class: "comment-author" }, author))
    if (at) m.append(" · ", h("time", { datetime: at.toISOString() }, when.format(at)))
    return m
  }

  /** One comment of the list: who and when, its passage, its text, its
   * thread and the reply form, then what may be done with it. */
  function item(c: Shown & { detached: boolean }, text: string): HTMLElement {
    const who = people.get(c.id)
    const li = h("li", { class: "comment", "data-comment": c.id, "data-state": c.detached ? "detached" : c.resolved ? "resolved" : "open" })
    if (c.id === active) li.classList.add("active")
    li.append(meta(person(who?.author), c.createdAt))
    // A resolved comment folds to one line; its thread is a click away.
    const folded = c.resolved && !unfolded.has(c.id)
    if (c.detached) li.append(h("p", { class: "comment-detached" }, t.commentDetached))
    else if (!folded) {
      const passageText = short(text.slice(c.from, c.to))
      const go = h("button", { type: "button", class: "comment-goto", "data-focus": "goto", "aria-label": t.commentGoTo(passageText) }, h("q", {}, passageText))
      go.addEventListener("click", () => goTo(c))
      li.append(go)
    }
    if (!folded) {
      li.append(h("p", { class: "comment-text" }, c.text))
      if (c.replies.length) {
        const thread = h("ol", { class: "comment-replies", "aria-label": t.commentReplies(c.replies.length) })
        for (const r of c.replies) {
          thread.append(h("li", { class: "comment-reply", "data-reply": r.id }, meta(person(who?.replies.get(r.id)), r.createdAt), h("p", { class: "comment-text" }, r.text)))
        }
        li.append(thread)
      }
      const draft = drafts.get(c.id)
      if (draft && !c.resolved) li.append(draft.form)
    }
    const foot = h("p", { class: "comment-foot" })
    const add = (b: HTMLElement) => {
      if (foot.childNodes.length) foot.append(" ")
      foot.append(b)
    }
    if (c.resolved) {
      add(h("span", { class: "comment-resolved" }, t.commentResolvedBy(person(who?.resolvedBy))))
      const toggle = h("button", { type: "button", class: "comment-thread-toggle", "data-focus": "toggle", "aria-expanded": String(!folded) }, folded ? t.commentShowThread(c.replies.length) : t.commentHideThread)
      toggle.addEventListener("click", () => {
        if (folded) unfolded.add(c.id)
        else unfolded.delete(c.id)
        draw()
      })
      add(toggle)
    }
    if (!readOnly) {
      // "Répondre" makes way for its form, and comes back when it closes.
      if (!c.resolved && !drafts.has(c.id)) {
        const r = h("button", { type: "button", class: "comment-reply-open", "data-focus": "reply" }, t.commentReply)
        r.addEventListener("click", () => openReply(c.id))
        add(r)
      }
      const b = h("button", { type: "button", class: c.resolved ? "comment-reopen" : "comment-resolve", "data-focus": "resolve" }, c.resolved ? t.commentReopen : t.commentResolve)
      b.addEventListener("click", () => setResolved(c.id, !c.resolved))
      add(b)
    }
    if (foot.childNodes.length) li.append(foot)
    return li
  }

  // Who wrote what, from the server; asked again (a little later each time)
  // while it does not know a comment yet: it names only what it stored.
  let timer: number | undefined
  let tries = 0
  let asking = false
  function schedule() {
    if (timer !== undefined || asking || tries > 30) return
    timer = window.setTimeout(
      () => {
        timer = undefined
        void ask()
      },
      tries === 0 ? 0 : Math.min(3000, 150 * 2 ** Math.min(tries, 5)),
    )
  }
  async function ask() {
    asking = true
    tries++
    try {
      const r = await fetch(`/api/documents/${encodeURIComponent(docId)}/comments`, { credentials: "same-origin", signal })
      if (!r.ok) return
      const a = (await r.json()) as People
      if (!Array.isArray(a?.comments)) return
      let learned = false
      for (const c of a.comments) {
        if (typeof c?.id !== "string") continue
        const author = c.author && typeof c.author.name === "string" ? c.author : null
        const resolvedBy = c.resolved_by && typeof c.resolved_by.name === "string" ? c.resolved_by : undefined
        const replies = new Map<string, Person | null>()
        for (const r of Array.isArray(c.replies) ? c.replies : []) {
          if (typeof r?.id === "string") replies.set(r.id, r.author && typeof r.author.name === "string" ? r.author : null)
        }
        const before = people.get(c.id)
        if (plain(before ?? null) !== plain({ author, resolvedBy, replies })) learned = true
        people.set(c.id, { author, resolvedBy, replies })
      }
      if (learned) tries = 0
    } catch {
      // Offline: asked again with the next change.
    } finally {
      asking = false
      if (!signal.aborted) update()
    }
  }
  const onChange = () => {
    tries = Math.min(tries, 1)
    update()
  }
  handle.on("change", onChange)

  return {
    element,
    button: readOnly ? undefined : button,
    extension: [
      highlights,
      keymap.of([{ key: "Mod-Alt-m", run: () => open() }]),
      // A click in a highlighted passage shows its comment.
      EditorView.domEventHandlers({
        click: (e) => {
          const id = (e.target as HTMLElement | null)?.closest?.("[data-comment]")?.getAttribute("data-comment")
          if (id && id !== active) {
            active = id
            update()
          }
          return false
        },
      }),
    ] as Extension,
    attach(v: EditorView) {
      view = v
      update()
    },
    dispose() {
      clearTimeout(timer)
      handle.off("change", onChange)
      view = undefined
    },
  }
}

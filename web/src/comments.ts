// Comments on a passage of the notes, as in Etherpad and Google Docs: select a
// passage, "Commenter" (the toolbar's button, or Ctrl+Alt+M), type; the
// passage is highlighted and the comment listed beside the notes (below them
// on a phone) with who wrote it, when, the passage, and "Résoudre"/"Rouvrir".
//
// Each comment lives in the document (`comments`, docs/schema.md) and is
// anchored by two Automerge cursors: one on the passage's first character,
// one on its last. They follow the passage through everyone's edits; when
// every character of it is gone the comment stays, "passage supprimé". A
// comment stores no name: the server says who wrote it (GET
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
const PATH = ["body"]

type Person = { key: string; name: string; guest?: boolean }
type People = { comments: { id: string; author: Person | null; resolved_by?: Person }[] }
type Shown = { id: string; from: number; to: number; text: string; createdAt?: Date; resolved: boolean }

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
  const people = new Map<string, { author: Person | null; resolvedBy?: Person }>()
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
        d.comments[id] = { start: new A.ImmutableString(at.start), end: new A.ImmutableString(at.end), text: new A.ImmutableString(text), createdAt: new Date(), resolved: false } as never
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
      out.push({ id, from: p?.from ?? -1, to: p?.to ?? -1, text: str(c.text), createdAt: c.createdAt instanceof Date ? c.createdAt : undefined, resolved: c.resolved === true, detached: p === null })
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
    for (const c of shown) if (!c.resolved) people.get(c.id)?.resolvedBy && delete people.get(c.id)!.resolvedBy
    // Who wrote a comment (or resolved it) that the last answer did not name.
    if (shown.some((c) => !people.get(c.id)?.author || (c.resolved && !people.get(c.id)?.resolvedBy))) schedule()
    // The list again only when something in it changed.
    const key = JSON.stringify([active, shown.map((c) => [c.id, c.resolved, c.detached, text.slice(c.from, c.to), c.text, people.get(c.id)])])
    if (key === drawn) return
    drawn = key
    const focused = document.activeElement
    const focusKey = focused instanceof HTMLElement ? `${focused.closest("li")?.dataset.comment}/${focused.className}` : ""
    list.replaceChildren()
    for (const c of shown) {
      const who = people.get(c.id)
      const author = who?.author ? personLabel(who.author.name, who.author.guest === true) : "…"
      const li = h("li", { class: "comment", "data-comment": c.id, "data-state": c.detached ? "detached" : c.resolved ? "resolved" : "open" })
      if (c.id === active) li.classList.add("active")
      const meta = h("p", { class: "comment-meta" }, h("strong", { class: "comment-author" }, author))
      if (c.createdAt) meta.append(" · ", h("time", { datetime: c.createdAt.toISOString() }, when.format(c.createdAt)))
      li.append(meta)
      if (c.detached) li.append(h("p", { class: "comment-detached" }, t.commentDetached))
      else {
        const passageText = short(text.slice(c.from, c.to))
        const go = h("button", { type: "button", class: "comment-goto", "aria-label": t.commentGoTo(passageText) }, h("q", {}, passageText))
        go.addEventListener("click", () => goTo(c))
        li.append(go)
      }
      li.append(h("p", { class: "comment-text" }, c.text))
      const foot = h("p", { class: "comment-foot" })
      if (c.resolved) foot.append(h("span", { class: "comment-resolved" }, t.commentResolvedBy(who?.resolvedBy ? personLabel(who.resolvedBy.name, who.resolvedBy.guest === true) : "…")))
      if (!readOnly) {
        const b = h("button", { type: "button", class: c.resolved ? "comment-reopen" : "comment-resolve" }, c.resolved ? t.commentReopen : t.commentResolve)
        b.addEventListener("click", () => setResolved(c.id, !c.resolved))
        if (foot.childNodes.length) foot.append(" ")
        foot.append(b)
      }
      if (foot.childNodes.length) li.append(foot)
      list.append(li)
    }
    empty.hidden = shown.length > 0
    // Redrawing keeps the focus where it was (a button of the same comment).
    if (focusKey && focused && !focused.isConnected) {
      const [id, cls] = focusKey.split("/")
      const li = list.querySelector<HTMLElement>(`li[data-comment="${CSS.escape(id ?? "")}"]`)
      const again = cls?.startsWith("comment-re") ? li?.querySelector<HTMLElement>(".comment-resolve, .comment-reopen") : li?.querySelector<HTMLElement>(".comment-goto")
      ;(again ?? li?.querySelector<HTMLElement>("button"))?.focus()
    }
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
        const before = people.get(c.id)
        if (before?.author?.name !== author?.name || before?.resolvedBy?.name !== resolvedBy?.name) learned = true
        people.set(c.id, { author, resolvedBy })
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

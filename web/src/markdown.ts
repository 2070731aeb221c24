// Markdown for people who do not know Markdown: a small toolbar above the
// notes (heading, bold, list, quote, link, checkbox, comment: `comments.ts`,
// image: `upload.ts`) and the Enter key doing
// what minute-takers expect.
//
// - Enter on an empty list item, task or quote line ends it: its marker goes,
//   leaving the blank line Markdown needs to end the block, and the caret goes
//   below (CodeMirror's own command continues a tight list once more, and a
//   quote until two empty lines).
// - Typing "- " at the start of an item the editor has just continued ("- ")
//   does not give "- - ": the second marker merges into the first.

import { EditorSelection, type Extension, Prec, type StateCommand } from "@codemirror/state"
import { EditorView, keymap } from "@codemirror/view"
import { t } from "./i18n"
import { addImageButton, type Uploader } from "./upload"

/** A line made of nothing but block markup: list markers, a task box, quote marks. */
const ONLY_MARKUP = /^[ \t]*(?:(?:>[ \t]?)|(?:[-*+][ \t]+(?:\[[ xX]\][ \t]+)?)|(?:\d{1,9}[.)][ \t]+(?:\[[ xX]\][ \t]+)?))+[ \t]*$/
/** A bullet (or a task's box) followed by a second bullet typed by hand. */
const DOUBLE_BULLET = /^([ \t]*(?:>[ \t]?)*[-*+][ \t](?:\[[ xX]\][ \t])?)[-*+]$/

/** Enter on a line with only markup: the markup goes, nothing is continued. */
export const endEmptyBlock: StateCommand = ({ state, dispatch }) => {
  const sel = state.selection.main
  if (state.selection.ranges.length !== 1 || !sel.empty) return false
  const line = state.doc.lineAt(sel.head)
  if (sel.head !== line.to || !ONLY_MARKUP.test(line.text)) return false
  // The marker's line stays, empty, and the caret goes below it: a blank line
  // is what ends a list or a quote in Markdown (text typed right under an
  // item would still belong to it).
  const insert = state.lineBreak
  dispatch(state.update({ changes: { from: line.from, to: line.to, insert }, selection: EditorSelection.cursor(line.from + insert.length), scrollIntoView: true, userEvent: "input" }))
  return true
}

const mergeDoubleBullet = EditorView.inputHandler.of((view, from, to, text) => {
  if (text !== " " || from !== to) return false
  const line = view.state.doc.lineAt(from)
  const before = line.text.slice(0, from - line.from)
  const m = DOUBLE_BULLET.exec(before)
  if (!m) return false
  // "- -" + " ": the hand-typed "-" goes; the item's own "- " stays.
  view.dispatch({ changes: { from: from - 1, to }, selection: EditorSelection.cursor(from - 1), userEvent: "input.type" })
  return true
})

type Format = "heading" | "bold" | "list" | "quote" | "link" | "task"

const PREFIX: Record<"heading" | "list" | "quote" | "task", string> = { heading: "## ", list: "- ", quote: "> ", task: "- [ ] " }
/** Any of those prefixes (a line has at most one of them, replaced by another). */
const ANY_PREFIX = /^(#{1,6} |- \[[ xX]\] |[-*+] |> )/

/** Applies a format to the selection (or at the caret) and gives the focus back. */
export function applyFormat(view: EditorView, format: Format): void {
  const { state } = view
  if (format === "bold" || format === "link") {
    const tr = state.changeByRange((range) => {
      const selected = state.sliceDoc(range.from, range.to)
      if (format === "bold") {
        const inner = selected || t.fmtBoldText
        return {
          changes: { from: range.from, to: range.to, insert: `**${inner}**` },
          range: EditorSelection.range(range.from + 2, range.from + 2 + inner.length),
        }
      }
      const label = selected || t.fmtLinkText
      const url = "https://"
      const insert = `[${label}](${url})`
      // The address is what is left to type; without a selection, the label first.
      const start = selected ? range.from + label.length + 3 : range.from + 1
      const end = selected ? start + url.length : start + label.length
      return { changes: { from: range.from, to: range.to, insert }, range: EditorSelection.range(start, end) }
    })
    view.dispatch(state.update(tr, { scrollIntoView: true, userEvent: "input" }))
  } else {
    const prefix = PREFIX[format]
    const changes = []
    const lines = new Set<number>()
    for (const r of state.selection.ranges) {
      for (let n = state.doc.lineAt(r.from).number; n <= state.doc.lineAt(r.to).number; n++) lines.add(n)
    }
    // Every line already so formatted: the format comes off; else it goes on.
    const all = [...lines].map((n) => state.doc.line(n))
    const off = all.every((l) => ANY_PREFIX.exec(l.text)?.[0] === prefix)
    for (const l of all) {
      const had = ANY_PREFIX.exec(l.text)?.[0] ?? ""
      if (off) changes.push({ from: l.from, to: l.from + prefix.length })
      else changes.push({ from: l.from, to: l.from + had.length, insert: prefix })
    }
    const set = state.changes(changes)
    // The caret follows the prefix it stood at.
    view.dispatch({ changes: set, selection: state.selection.map(set, 1), scrollIntoView: true, userEvent: "input" })
  }
  view.focus()
}

/** The extension: the Enter rules, and Ctrl/Cmd-B and -K for bold and link. */
export function friendlyMarkdown(): Extension {
  return [
    // Before lang-markdown's own Enter (itself at Prec.high).
    Prec.highest(
      keymap.of([
        { key: "Enter", run: endEmptyBlock },
        { key: "Mod-b", run: (v) => (applyFormat(v, "bold"), true) },
        { key: "Mod-k", run: (v) => (applyFormat(v, "link"), true) },
      ]),
    ),
    mergeDoubleBullet,
  ]
}

/** The toolbar for `view`: labelled buttons (44 px on phones), one Tab stop
 * for the whole bar (the button used last), arrow keys, Home and End moving
 * between them (ARIA's toolbar pattern, with a roving tabindex), with
 * "Ajouter une image" when files may be uploaded. */
export function toolbar(view: () => EditorView | undefined, signal: AbortSignal, upload?: Uploader, extra: HTMLButtonElement[] = []): HTMLElement {
  const bar = document.createElement("div")
  bar.className = "md-toolbar"
  bar.id = "md-toolbar"
  bar.setAttribute("role", "toolbar")
  bar.setAttribute("aria-label", t.toolbar)
  bar.setAttribute("aria-controls", "body-editor")
  const buttons: [Format, string, string][] = [
    ["heading", t.fmtHeading, "H"],
    ["bold", t.fmtBold, "B"],
    ["list", t.fmtList, "•"],
    ["quote", t.fmtQuote, "❝"],
    ["link", t.fmtLink, "↗"],
    ["task", t.fmtCheckbox, "☐"],
  ]
  for (const [format, label, icon] of buttons) {
    const b = document.createElement("button")
    b.type = "button"
    b.dataset.format = format
    b.id = `fmt-${format}`
    const i = document.createElement("span")
    i.className = "icon"
    i.setAttribute("aria-hidden", "true")
    i.textContent = icon
    b.append(i, ` ${label}`)
    // A click must not take the selection away from the editor first.
    b.addEventListener("mousedown", (e) => e.preventDefault(), { signal })
    b.addEventListener(
      "click",
      () => {
        rove(b)
        const v = view()
        if (v) applyFormat(v, format)
      },
      { signal },
    )
    b.tabIndex = bar.children.length === 0 ? 0 : -1
    // The button used last is the bar's Tab stop.
    b.addEventListener("focus", () => rove(b), { signal })
    bar.append(b)
  }
  const all = () => Array.from(bar.querySelectorAll<HTMLButtonElement>("button"))
  const rove = (to: HTMLButtonElement) => {
    for (const x of all()) x.tabIndex = x === to ? 0 : -1
  }
  bar.addEventListener(
    "keydown",
    (e) => {
      const buttons = all()
      const at = buttons.indexOf(document.activeElement as HTMLButtonElement)
      if (at < 0) return
      const next = { ArrowRight: at + 1, ArrowDown: at + 1, ArrowLeft: at - 1, ArrowUp: at - 1, Home: 0, End: buttons.length - 1 }[e.key]
      if (next === undefined) return
      e.preventDefault()
      const to = buttons[(next + buttons.length) % buttons.length]
      if (to) {
        rove(to)
        to.focus()
      }
    },
    { signal },
  )
  // Other tools of the notes ("Commenter"), in the same Tab stop.
  for (const b of extra) {
    b.tabIndex = -1
    b.addEventListener("focus", () => rove(b), { signal })
    bar.append(b)
  }
  if (upload) {
    const add = addImageButton(view, upload, signal)
    for (const b of add.querySelectorAll("button")) {
      b.tabIndex = -1
      b.addEventListener("focus", () => rove(b), { signal })
    }
    bar.append(add, upload.status)
  }
  return bar
}

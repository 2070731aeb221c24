// Authorship colours in the notes, as Etherpad shows them: each person's
// surviving text on a tint of their own, with a legend. Who wrote what comes
// from the server (GET /api/documents/ID/authorship), computed from the
// document's history with the credits' own attribution and the server's
// binding of Automerge actors to people; the answer names the version it
// describes, and its spans are mapped onto the text on screen through the
// edits made since (ours and others'). Off by default; refreshed a moment
// after the text changes.
//
// Colours come from a fixed palette of classes (style.css): nothing the server
// or anyone else sends ever reaches a `style`.

import * as A from "@automerge/automerge"
import type { DocHandle } from "@automerge/automerge-repo"
import { type Extension, type Range, StateEffect } from "@codemirror/state"
import { Decoration, type EditorView } from "@codemirror/view"
import { mapPos, textEdits } from "./binding"
import { personLabel } from "./common"
import { decorationField } from "./decorations"
import { t } from "./i18n"

/** Tints in style.css (`.cm-author-0` …), each dark text's background. */
export const PALETTE_SIZE = 8

type Answer = { heads: string[]; people: { key: string; name: string; guest?: boolean }[]; spans: { from: number; to: number; person: number }[] }
type Mark = { from: number; to: number; slot: number; key: string; name: string }

const setMarks = StateEffect.define<Mark[] | null>()

const field = decorationField(setMarks, (marks, len) => {
  const ranges: Range<Decoration>[] = []
  for (const m of marks ?? []) {
    const from = Math.max(0, Math.min(m.from, len))
    const to = Math.max(0, Math.min(m.to, len))
    if (from >= to) continue
    ranges.push(Decoration.mark({ class: `cm-author cm-author-${m.slot}`, attributes: { "data-author": m.key, title: m.name } }).range(from, to))
  }
  return ranges
})

/** One palette slot per person, the same for every viewer of the same people:
 * each takes the slot its key hashes to, or the next free one (keys in order). */
export function slots(keys: string[]): Map<string, number> {
  const out = new Map<string, number>()
  const taken = new Set<number>()
  for (const key of [...new Set(keys)].sort()) {
    let slot = parseInt(key.slice(0, 8), 16) % PALETTE_SIZE
    if (Number.isNaN(slot)) slot = 0
    for (let i = 0; i < PALETTE_SIZE && taken.has(slot); i++) slot = (slot + 1) % PALETTE_SIZE
    taken.add(slot)
    out.set(key, slot)
  }
  return out
}

function valid(a: unknown): a is Answer {
  const x = a as Answer
  return (
    !!x &&
    Array.isArray(x.heads) &&
    x.heads.every((h) => typeof h === "string" && /^[0-9a-f]{64}$/.test(h)) &&
    Array.isArray(x.people) &&
    x.people.every((p) => typeof p?.key === "string" && /^[0-9a-f]{16}$/.test(p.key) && typeof p.name === "string" && (p.guest === undefined || typeof p.guest === "boolean")) &&
    Array.isArray(x.spans) &&
    x.spans.every((s) => Number.isInteger(s?.from) && Number.isInteger(s.to) && Number.isInteger(s.person) && s.person >= 0 && s.person < x.people.length)
  )
}

/** The toggle, the legend and the CodeMirror extension. Call `attach` once
 * the view exists; `dispose` stops everything (requests, timers, listeners). */
export function authorshipColours<T>(handle: DocHandle<T>, docId: string, path: A.Prop[]) {
  const abort = new AbortController()
  const { signal } = abort
  const toggle = document.createElement("input")
  toggle.type = "checkbox"
  toggle.id = "authors-toggle"
  toggle.setAttribute("role", "switch")
  const label = document.createElement("label")
  label.className = "toggle"
  label.htmlFor = toggle.id
  label.append(toggle, " ", t.authorColours)
  const legend = document.createElement("ul")
  legend.id = "authors-legend"
  legend.className = "authors-legend"
  legend.setAttribute("aria-label", t.authorsLegend)
  legend.hidden = true
  const note = document.createElement("span")
  note.className = "authors-note"
  note.setAttribute("role", "status")
  const element = document.createElement("div")
  element.className = "authors"
  element.append(label, legend, note)

  let view: EditorView | undefined
  let timer: number | undefined
  let last: Answer | undefined
  let asked = 0

  const clear = () => {
    last = undefined
    legend.hidden = true
    legend.replaceChildren()
    note.textContent = ""
    view?.dispatch({ effects: setMarks.of(null) })
  }

  /** Draws `a` on the text shown, if the spans can be placed on it now. */
  const draw = (a: Answer): boolean => {
    if (!view) return false
    const doc = handle.doc() as A.Doc<T>
    let v: unknown = doc
    for (const p of path) v = (v as Record<A.Prop, unknown> | undefined)?.[p]
    const text = typeof v === "string" ? v : ""
    // The editor shows the document's current text (not a moment behind it).
    if (view.state.doc.toString() !== text) return false
    let edits
    try {
      const length = a.spans.length ? Math.max(...a.spans.map((s) => s.to)) : 0
      edits = textEdits(A.diff(doc, a.heads, A.getHeads(doc)), path, length)
    } catch {
      // The server's version holds changes this tab has not received yet.
      return false
    }
    const bySlot = slots(a.people.map((p) => p.key))
    const marks: Mark[] = []
    for (const s of a.spans) {
      let from = s.from
      let to = s.to
      for (const e of edits) {
        from = mapPos(from, e, 1)
        to = mapPos(to, e, -1)
      }
      const p = a.people[s.person]
      if (p && from < to) marks.push({ from, to, slot: bySlot.get(p.key) ?? 0, key: p.key, name: personLabel(p.name, p.guest === true) })
    }
    view.dispatch({ effects: setMarks.of(marks) })
    legend.replaceChildren()
    for (const p of a.people) {
      const li = document.createElement("li")
      li.dataset.author = p.key
      const swatch = document.createElement("span")
      swatch.className = `swatch cm-author-${bySlot.get(p.key) ?? 0}`
      swatch.setAttribute("aria-hidden", "true")
      li.append(swatch, ` ${personLabel(p.name, p.guest === true)}`)
      legend.append(li)
    }
    if (!a.people.length) legend.append(Object.assign(document.createElement("li"), { textContent: t.authorsNone }))
    legend.hidden = false
    note.textContent = ""
    return true
  }

  const fetchNow = async () => {
    const mine = ++asked
    try {
      const r = await fetch(`/api/documents/${encodeURIComponent(docId)}/authorship`, { credentials: "same-origin", signal })
      if (!r.ok) throw new Error(String(r.status))
      const a: unknown = await r.json()
      if (mine !== asked || !toggle.checked) return
      if (!valid(a)) throw new Error("unexpected answer")
      last = a
      draw(a)
    } catch {
      if (signal.aborted || mine !== asked || !toggle.checked) return
      note.textContent = t.authorsUnavailable
    }
  }

  const schedule = (ms: number) => {
    if (!toggle.checked) return
    clearTimeout(timer)
    timer = window.setTimeout(() => void fetchNow(), ms)
  }

  const onChange = () => {
    if (!toggle.checked) return
    // The last answer waits for the changes it names; a new one follows the text.
    if (last) {
      const a = last
      queueMicrotask(() => draw(a))
    }
    schedule(800)
  }
  toggle.addEventListener(
    "change",
    () => {
      if (toggle.checked) schedule(0)
      else {
        asked++
        clearTimeout(timer)
        clear()
      }
    },
    { signal },
  )
  handle.on("change", onChange)
  handle.on("remote-heads", onChange)

  return {
    element,
    extension: field as Extension,
    attach(v: EditorView) {
      view = v
    },
    dispose() {
      abort.abort()
      clearTimeout(timer)
      handle.off("change", onChange)
      handle.off("remote-heads", onChange)
      view = undefined
    },
  }
}

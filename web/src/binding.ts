// Binds text in an Automerge document (through an automerge-repo handle) to
// what people type: the Markdown text in CodeMirror, and plain text inputs.
//
// Two rules keep each person's words in one piece when several type at the
// same spot, as Etherpad and Google Docs do:
//
// - A remote insertion at your caret goes after it: your caret stays before
//   it (CodeMirror's assoc -1), so your next letter follows your own last one,
//   not the other person's.
// - A local edit is recorded at the positions of the text it was made in: each
//   binding remembers the Automerge heads its view shows, and when the document
//   holds changes the view has not shown yet, the edit is made at those heads
//   (changeAt) and the missing changes are shown afterwards.

import * as A from "@automerge/automerge"
import { type DocHandle, decodeHeads, encodeHeads } from "@automerge/automerge-repo"
import { Annotation, ChangeSet, type Extension, Transaction } from "@codemirror/state"
import { EditorView, ViewPlugin, type ViewUpdate } from "@codemirror/view"

/** One edit of a string, in the coordinates of the string as the edits before it left it. */
export type Edit = { from: number; to: number; insert: string }

function sameHeads(a: A.Heads, b: A.Heads): boolean {
  return a.length === b.length && a.every((h) => b.includes(h))
}

function isPath(p: A.Prop[], path: A.Prop[], extra: number): boolean {
  return p.length === path.length + extra && path.every((x, i) => p[i] === x)
}

/** The edits that `patches` (from A.diff, in order) make to the text at `path`,
 * which is `length` long before them. */
export function textEdits(patches: A.Patch[], path: A.Prop[], length: number): Edit[] {
  const edits: Edit[] = []
  let len = length
  const push = (e: Edit) => {
    edits.push(e)
    len += e.insert.length - (e.to - e.from)
  }
  for (const p of patches) {
    if (isPath(p.path, path, 1) && typeof p.path[path.length] === "number") {
      const at = p.path[path.length] as number
      if (p.action === "splice") push({ from: at, to: at, insert: p.value })
      else if (p.action === "del") push({ from: at, to: Math.min(len, at + (p.length ?? 1)), insert: "" })
    } else if (isPath(p.path, path, 0)) {
      // The text itself was replaced (or removed): start again from its new value.
      if (p.action === "put") push({ from: 0, to: len, insert: typeof p.value === "string" ? p.value : "" })
      else if (p.action === "del") push({ from: 0, to: len, insert: "" })
    }
  }
  return edits
}

/** Where `pos` goes through one edit. An insertion exactly at `pos` goes after
 * it when `assoc` is negative, before it otherwise. */
export function mapPos(pos: number, e: Edit, assoc: -1 | 1): number {
  if (pos < e.from) return pos
  if (pos > e.to) return pos - (e.to - e.from) + e.insert.length
  if (e.from === e.to) return assoc < 0 ? pos : pos + e.insert.length
  if (pos === e.from && assoc < 0) return pos
  return assoc < 0 ? e.from : e.from + e.insert.length
}

function applyEdits(text: string, edits: Edit[]): string {
  for (const e of edits) text = text.slice(0, e.from) + e.insert + text.slice(e.to)
  return text
}

const isHigh = (c: number) => c >= 0xd800 && c <= 0xdbff
const isLow = (c: number) => c >= 0xdc00 && c <= 0xdfff

/** The single edit that turned `before` into `after`, given where the caret
 * ended (`caret`, or null when the input has none): the text after the caret
 * is what was there before, so "a|a" + "a" is an insertion at 1, not at 2. */
export function editBetween(before: string, after: string, caret: number | null): Edit | null {
  if (before === after) return null
  let suffix = 0
  const maxSuffix = Math.min(before.length, after.length, caret === null ? Infinity : Math.max(0, after.length - caret))
  while (suffix < maxSuffix && before.charCodeAt(before.length - 1 - suffix) === after.charCodeAt(after.length - 1 - suffix)) suffix++
  // Never split a surrogate pair.
  if (suffix > 0 && suffix < after.length && isLow(after.charCodeAt(after.length - suffix))) suffix--
  let prefix = 0
  const maxPrefix = Math.min(before.length, after.length) - suffix
  while (prefix < maxPrefix && before.charCodeAt(prefix) === after.charCodeAt(prefix)) prefix++
  if (prefix > 0 && isHigh(after.charCodeAt(prefix - 1))) prefix--
  return { from: prefix, to: before.length - suffix, insert: after.slice(prefix, after.length - suffix) }
}

/** Records `edits` (in order, each in the coordinates the previous left) on
 * the text at `path`, made when the document was at `heads`. Returns the heads
 * the edited view now shows. */
function record<T>(handle: DocHandle<T>, path: A.Prop[], heads: A.Heads, edits: Edit[], also?: (d: T) => void): A.Heads {
  const write = (d: T) => {
    for (const e of edits) {
      try {
        A.splice(d as A.Doc<unknown>, path.slice(), e.from, e.to - e.from, e.insert)
      } catch {
        // Not collaborative text (an older plain string, or missing): set it whole.
        const parent = path.slice(0, -1).reduce<Record<A.Prop, unknown>>((o, k) => o[k] as Record<A.Prop, unknown>, d as Record<A.Prop, unknown>)
        const key = path[path.length - 1]
        const old = typeof parent[key] === "string" ? (parent[key] as string) : String(parent[key] ?? "")
        parent[key] = old.slice(0, e.from) + e.insert + old.slice(e.to)
      }
    }
    also?.(d)
  }
  if (sameHeads(A.getHeads(handle.doc() as A.Doc<T>), heads)) {
    handle.change(write)
    return A.getHeads(handle.doc() as A.Doc<T>)
  }
  const after = handle.changeAt(encodeHeads(heads), write)
  return after ? decodeHeads(after) : A.getHeads(handle.doc() as A.Doc<T>)
}

function textAt(doc: unknown, path: A.Prop[]): string {
  let v = doc
  for (const p of path) v = (v as Record<A.Prop, unknown> | undefined)?.[p]
  return typeof v === "string" ? v : v == null ? "" : String(v)
}

const fromAutomerge = Annotation.define<true>()

/** The text at `path` in CodeMirror: the text to start the editor with, and
 * the extension that keeps both in step. */
export function codeMirrorText<T>(handle: DocHandle<T>, path: A.Prop[]): { text: string; extension: Extension } {
  const doc0 = handle.doc() as A.Doc<T>
  const text = textAt(doc0, path)
  const heads0 = A.getHeads(doc0)
  const plugin = ViewPlugin.fromClass(
    class {
      /** The document's version the editor shows. */
      heads = heads0
      /** Set while we write the editor's own edits into the document. */
      recording = false
      /** Set while CodeMirror runs this plugin's update (no dispatch then). */
      updating = false
      pullQueued = false
      readonly onChange = () => this.pull()
      constructor(readonly view: EditorView) {
        handle.on("change", this.onChange)
      }
      update(u: ViewUpdate) {
        this.updating = true
        try {
          for (const tr of u.transactions) {
            if (!tr.docChanged || tr.annotation(fromAutomerge)) continue
            const edits: Edit[] = []
            // fromB: where each change starts once the changes before it are made.
            tr.changes.iterChanges((fromA, toA, fromB, _toB, inserted) => edits.push({ from: fromB, to: fromB + (toA - fromA), insert: inserted.toString() }))
            this.recording = true
            try {
              this.heads = record(handle, path, this.heads, edits)
            } finally {
              this.recording = false
            }
          }
        } finally {
          this.updating = false
        }
        // Changes that arrived before this edit and are not shown yet.
        if (!sameHeads(this.heads, A.getHeads(handle.doc() as A.Doc<T>))) this.queuePull()
      }
      queuePull() {
        if (this.pullQueued) return
        this.pullQueued = true
        queueMicrotask(() => {
          this.pullQueued = false
          this.pull()
        })
      }
      /** Shows the document's changes the editor does not show yet. */
      pull() {
        if (this.recording) return
        if (this.updating) return this.queuePull()
        const doc = handle.doc() as A.Doc<T>
        const heads = A.getHeads(doc)
        if (sameHeads(heads, this.heads)) return
        const edits = textEdits(A.diff(doc, this.heads, heads), path, this.view.state.doc.length)
        this.heads = heads
        if (!edits.length) return
        let changes: ChangeSet | undefined
        let len = this.view.state.doc.length
        for (const e of edits) {
          const c = ChangeSet.of(e, len)
          changes = changes ? changes.compose(c) : c
          len = c.newLength
        }
        this.view.dispatch({
          changes,
          // Other people's letters at the caret go after it.
          selection: this.view.state.selection.map(changes!, -1),
          annotations: [fromAutomerge.of(true), Transaction.remote.of(true), Transaction.addToHistory.of(false)],
        })
      }
      destroy() {
        handle.off("change", this.onChange)
      }
    },
  )
  return { text, extension: plugin }
}

/** A plain text input bound to the text at `path`: typing records exactly what
 * was typed where, and other people's edits show up without moving the caret
 * past them. Returns the function to call with each new version of the
 * document. */
export function bindInput<T>(handle: DocHandle<T>, path: A.Prop[], input: HTMLInputElement, options: { readOnly: boolean; also?: (d: T) => void; after?: () => void }) {
  input.readOnly = options.readOnly
  let shown = textAt(handle.doc(), path)
  let heads = A.getHeads(handle.doc() as A.Doc<T>)
  let recording = false
  input.value = shown
  const caret = () => {
    try {
      return input.selectionEnd
    } catch {
      return null
    }
  }
  input.addEventListener("input", () => {
    const edit = editBetween(shown, input.value, caret())
    if (!edit) return
    recording = true
    try {
      heads = record(handle, path, heads, [edit], options.also)
    } finally {
      recording = false
    }
    shown = input.value
    // Changes that arrived before this edit and are not shown yet.
    sync(handle.doc() as T)
    options.after?.()
  })
  const sync = (doc: T) => {
    if (recording) return
    const now = A.getHeads(doc as A.Doc<T>)
    if (sameHeads(now, heads)) return
    const value = textAt(doc, path)
    const edits = value === shown ? [] : textEdits(A.diff(doc as A.Doc<T>, heads, now), path, shown.length)
    heads = now
    if (value === shown) return
    const focused = document.activeElement === input
    let start = 0
    let end = 0
    try {
      start = input.selectionStart ?? 0
      end = input.selectionEnd ?? 0
    } catch {
      // This kind of input has no caret.
    }
    const direction = input.selectionDirection
    if (applyEdits(shown, edits) === value) {
      const collapsed = start === end
      for (const e of edits) {
        start = mapPos(start, e, collapsed ? -1 : 1)
        end = mapPos(end, e, -1)
      }
    } else {
      // The edits do not say how (the value was replaced as a whole).
      start = Math.min(start, value.length)
      end = Math.min(end, value.length)
    }
    shown = value
    input.value = value
    if (focused) {
      try {
        input.setSelectionRange(start, Math.max(start, end), direction ?? undefined)
      } catch {
        // This kind of input has no caret.
      }
    }
  }
  return sync
}

// The notes before the editor: on opening /edit/ID, this shows the notes'
// current text (from GET /api/documents/ID/notes) in CodeMirror, editable,
// while Automerge's WebAssembly and the rest of the editor download. What is
// typed meanwhile is kept as CodeMirror changes on the text it started from;
// editor.ts takes them once the Automerge document is here and applies them
// to the version that text came from, so edits others made meanwhile merge.
//
// This module and its imports are the first chunk: no Automerge here.

import { markdown } from "@codemirror/lang-markdown"
import { ChangeSet, type EditorSelection } from "@codemirror/state"
import { EditorView } from "@codemirror/view"
import { basicSetup } from "codemirror"
import { type Session, h } from "./common"
import { t } from "./i18n"

/** What was typed before the document was ready. */
export type Typed = {
  /** The version the text started from (hex change hashes). */
  heads: string[]
  /** From the text it started from to what is shown now. */
  changes: ChangeSet
  /** What is shown now. */
  text: string
  selection: EditorSelection
  focused: boolean
}

export type Early = {
  id: string
  /** The version the notes shown are at (hex change hashes). */
  heads: string[]
  /** The page, already in #app: the editor fills it in when it is ready. */
  element: HTMLElement
  status: HTMLElement
  /** Stops the early editor and hands over what was typed (once). */
  take(): Typed | undefined
}

type Notes = { text: string; heads: string[] }

/** Shows the notes of document `id` in `app`; resolves once they are shown
 * (or when they cannot be: offline, refused), with the early view if any. */
export async function showEarly(app: HTMLElement, id: string, session: Promise<Session>): Promise<Early | undefined> {
  let notes: Notes
  let who: Session
  try {
    const [r, s] = await Promise.all([fetch(`/api/documents/${encodeURIComponent(id)}/notes`, { credentials: "same-origin" }), session])
    if (!r.ok) return undefined
    notes = (await r.json()) as Notes
    who = s
  } catch {
    // Offline: the editor opens from this device's copy.
    return undefined
  }
  const status = h("p", { class: "status", id: "status", role: "status", "aria-live": "polite", "data-state": "loading" }, t.loadingEditor)
  const host = h("div", { class: "cm-host", id: "body-editor" })
  const element = h(
    "div",
    { class: "view" },
    h("header", { class: "site" }, status),
    h("main", { id: "main", class: "minutes" }, h("section", { class: "notes" }, h("h2", { id: "body-label" }, t.notes), host)),
  )
  let changes = ChangeSet.empty(notes.text.length)
  const view = new EditorView({
    doc: notes.text,
    parent: host,
    extensions: [
      basicSetup,
      markdown(),
      EditorView.lineWrapping,
      EditorView.editable.of(who.write),
      EditorView.contentAttributes.of({ "aria-labelledby": "body-label", "aria-multiline": "true" }),
      EditorView.updateListener.of((u) => {
        if (u.docChanged) changes = changes.compose(u.changes)
      }),
    ],
  })
  app.replaceChildren(element)
  let taken = false
  return {
    id,
    heads: notes.heads,
    element,
    status,
    take() {
      if (taken) return undefined
      taken = true
      const typed = { heads: notes.heads, changes, text: view.state.doc.toString(), selection: view.state.selection, focused: view.hasFocus }
      view.destroy()
      return typed
    },
  }
}

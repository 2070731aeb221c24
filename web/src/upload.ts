// Images and PDFs in the notes: "Ajouter une image" (a file picker), a file
// dropped on the text, or an image pasted into it is sent to the server
// (`POST /api/documents/ID/files`, the body being the file), which keeps it
// without its metadata under its hash; the Markdown that shows it,
// `![name](/files/HASH.jpg)` (a link for a PDF), goes where the caret was (or
// where the file was dropped), and what the server said is announced.

import { EditorSelection, type Extension } from "@codemirror/state"
import { EditorView } from "@codemirror/view"
import { t } from "./i18n"

/** What the file picker offers: the types the server takes. */
export const ACCEPT = "image/jpeg,image/png,image/webp,image/gif,application/pdf"

export interface Uploader {
  /** Sends the files one after the other, each inserted at `at` (or the caret). */
  send(view: EditorView, files: File[], at?: number): Promise<void>
  /** The live region that says how it went. */
  status: HTMLElement
}

type Stored = { path: string; type: string }

/** Uploads into document `doc` with the session's CSRF token. */
export function uploader(doc: string, csrf: string | null, signal: AbortSignal): Uploader {
  const status = document.createElement("p")
  status.className = "upload-status"
  status.id = "upload-status"
  status.setAttribute("role", "status")
  const say = (text: string, error = false) => {
    status.textContent = text
    status.classList.toggle("error", error)
  }
  const send = async (view: EditorView, files: File[], at?: number) => {
    let pos = at
    for (const file of files) {
      say(t.uploading(file.name))
      let r: Response
      try {
        r = await fetch(`/api/documents/${encodeURIComponent(doc)}/files`, {
          method: "POST",
          credentials: "same-origin",
          headers: csrf ? { "x-cahier-csrf": csrf } : {},
          body: file,
          signal,
        })
      } catch {
        if (signal.aborted) return
        say(t.uploadOffline, true)
        return
      }
      if (!r.ok) {
        const why = (await r.json().catch(() => null)) as { code?: string } | null
        say(refusal(why?.code, r.status), true)
        return
      }
      const stored = (await r.json()) as Stored
      const name = file.name.replace(/\.[^.]*$/, "").replace(/[[\]\\]/g, "") || t.imageAlt
      const text = stored.type === "application/pdf" ? `[${name}](${stored.path})` : `![${name}](${stored.path})`
      pos = insert(view, text, pos)
      say(stored.type === "application/pdf" ? t.uploadedFile : t.uploadedImage)
    }
  }
  return { send, status }
}

function refusal(code: string | undefined, status: number): string {
  switch (code) {
    case "too_large":
      return t.uploadTooLarge
    case "full":
      return t.uploadFull
    case "unsupported":
      return t.uploadUnsupported
    case "too_big":
      return t.uploadTooBig
    case "damaged":
      return t.uploadDamaged
    case "forbidden":
    case "csrf":
    case "login":
      return t.uploadForbidden
    default:
      return `${t.uploadFailed} (${status})`
  }
}

/** Inserts `text` as a paragraph of its own at `at` (or the caret); returns where the next one goes. */
function insert(view: EditorView, text: string, at?: number): number {
  const { state } = view
  const pos = at ?? state.selection.main.head
  const line = state.doc.lineAt(pos)
  const before = pos > line.from ? "\n\n" : ""
  const after = pos < line.to ? "\n\n" : "\n"
  const insert = `${before}${text}${after}`
  view.dispatch({ changes: { from: pos, insert }, selection: EditorSelection.cursor(pos + insert.length), scrollIntoView: true, userEvent: "input.paste" })
  return pos + insert.length
}

/** Files dropped on, or pasted into, the editor are uploaded. */
export function dropAndPaste(up: () => Uploader | undefined): Extension {
  const files = (list: FileList | null | undefined) => [...(list ?? [])].filter((f) => f.size > 0)
  return EditorView.domEventHandlers({
    drop(e, view) {
      const u = up()
      const dropped = files(e.dataTransfer?.files)
      if (!u || dropped.length === 0) return false
      e.preventDefault()
      const at = view.posAtCoords({ x: e.clientX, y: e.clientY }) ?? undefined
      void u.send(view, dropped, at)
      return true
    },
    paste(e, view) {
      const u = up()
      const pasted = files(e.clipboardData?.files)
      if (!u || pasted.length === 0) return false
      e.preventDefault()
      void u.send(view, pasted)
      return true
    },
  })
}

/** The "Ajouter une image" button: a file picker, its files inserted at the caret. */
export function addImageButton(view: () => EditorView | undefined, up: Uploader, signal: AbortSignal): HTMLElement {
  const input = document.createElement("input")
  input.type = "file"
  input.accept = ACCEPT
  input.multiple = true
  input.hidden = true
  input.id = "upload-input"
  const b = document.createElement("button")
  b.type = "button"
  b.id = "fmt-image"
  const i = document.createElement("span")
  i.className = "icon"
  i.setAttribute("aria-hidden", "true")
  i.textContent = "▣"
  b.append(i, ` ${t.addImage}`)
  b.addEventListener("mousedown", (e) => e.preventDefault(), { signal })
  b.addEventListener("click", () => input.click(), { signal })
  input.addEventListener(
    "change",
    () => {
      const v = view()
      const chosen = [...(input.files ?? [])]
      input.value = ""
      if (v && chosen.length > 0) void up.send(v, chosen).then(() => v.focus())
    },
    { signal },
  )
  const span = document.createElement("span")
  span.className = "upload"
  span.append(b, input)
  return span
}

// The editor's first chunk: the stylesheet, then, for a document (/edit/ID),
// its notes shown and editable at once (early.ts, CodeMirror without
// Automerge); the rest of the editor (app.ts, with Automerge's WebAssembly)
// is loaded after that and takes over the page.

import { type Early, showEarly } from "./early"
import { loadSession } from "./session"
// Cahier's one stylesheet (the wiki's too), then the editor's own parts.
import "../../crates/cahier-wiki/src/cahier.css"
import "./style.css"

const app = document.getElementById("app") as HTMLElement

async function boot() {
  const sessionPromise = loadSession()
  const m = /^\/edit\/([^/]+)\/?$/.exec(location.pathname)
  let early: Early | undefined
  // The notes first, so that they do not share the connection with the big
  // files; then the editor. (Cached files make this wait short.)
  if (m?.[1] !== undefined) early = await showEarly(app, m[1].replace(/^automerge:/, ""), sessionPromise)
  const { start } = await import("./app")
  start(sessionPromise, early)
}

void boot()

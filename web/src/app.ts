// Cahier's web editor, past its first chunk (main.ts): the home (documents,
// search, create) at /edit and one document at /edit/ID (ID: its
// automerge-repo document id).
//
// Documents sync over the automerge-repo protocol at /sync and are kept in
// IndexedDB, so editing goes on offline and survives a reload. "Saved" is shown
// only when the server reports (through its sync heads) that it has stored the
// current version.
//
// This file is the router: each address is one view (home.ts, editor.ts), a
// `{ element, dispose }`; the router disposes the view it replaces and drops
// a load that a later navigation overtook.

import { type DocumentId, Repo, isValidDocumentId } from "@automerge/automerge-repo"
import { BrowserWebSocketClientAdapter } from "@automerge/automerge-repo-network-websocket"
import { IndexedDBStorageAdapter } from "@automerge/automerge-repo-storage-indexeddb"
import { type Ctx, type Session, type View, h, header, wide } from "./common"
import { flushOnLeave } from "./device"
import type { Early } from "./early"
import { loadSession } from "./session"
import { editorView } from "./editor"
import { homeView } from "./home"
import { t } from "./i18n"

const app = document.getElementById("app") as HTMLElement

// ---- session and repo --------------------------------------------------------

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

// ---- menus, for every view ------------------------------------------------------

// Wide screens show the header's menu and the meeting's details open; phones
// fold them (a tap opens them).
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

// ---- routing ------------------------------------------------------------------

let repo: Repo | undefined
let sessionPromise: Promise<Session> | undefined
let current: View | undefined
/** Counts navigations: a route still loading when a later one started is dropped. */
let visits = 0
/** The notes shown before this chunk arrived (early.ts), for the first view. */
let early: Early | undefined

function navigate(path: string, state: unknown = {}) {
  history.pushState(state, "", path)
  void route()
}

function notFound(ctx: Ctx): View {
  const abort = new AbortController()
  const element = h("div", { class: "view" }, header(ctx, abort.signal), h("main", { id: "main" }, h("p", { role: "alert" }, t.notFound)))
  return { element, dispose: () => abort.abort() }
}

function viewFor(ctx: Ctx): View {
  const path = location.pathname.replace(/\/+$/, "")
  const m = /^\/edit\/([^/]+)$/.exec(path)
  if (m?.[1] !== undefined) {
    const id = m[1].replace(/^automerge:/, "")
    const first = early?.id === id ? early : undefined
    early = undefined
    return isValidDocumentId(id) ? editorView(ctx, id as DocumentId, first) : notFound(ctx)
  }
  const { session } = ctx
  if (session.kind === "guest" && session.doc) {
    history.replaceState({}, "", `/edit/${session.doc}`)
    return editorView(ctx, session.doc as DocumentId)
  }
  return homeView(ctx)
}

async function route() {
  const visit = ++visits
  const session = await (sessionPromise ??= loadSession())
  if (visit !== visits) return
  repo ??= makeRepo()
  const ctx: Ctx = { session, repo, navigate, redraw: () => void route() }
  // The view left stops first: its presence says goodbye, its editor goes.
  current?.dispose()
  // The skip link is in index.html, in French: every view says it in the
  // language chosen.
  const skip = document.getElementById("skip")
  if (skip) skip.textContent = t.skip
  current = viewFor(ctx)
  // The early notes are already on the page (and may have the focus).
  if (app.firstElementChild !== current.element) app.replaceChildren(current.element)
}

window.addEventListener("popstate", () => void route())
document.addEventListener("click", (e) => {
  // Links inside the editor navigate without reloading (the repo stays connected).
  const a = (e.target as HTMLElement).closest("a")
  if (!a || e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey) return
  const href = a.getAttribute("href") ?? ""
  if (href === "/edit" || href.startsWith("/edit/")) {
    e.preventDefault()
    navigate(href)
  }
})

if ("serviceWorker" in navigator) {
  navigator.serviceWorker.register("/edit/sw.js", { scope: "/edit" }).catch(() => {
    // Without it, the editor still works online.
  })
}

/** Starts the router: `session` is the request main.ts started, `shown` the
 * notes it showed (if any). */
export function start(session: Promise<Session>, shown: Early | undefined): void {
  sessionPromise = session
  early = shown
  void route()
}

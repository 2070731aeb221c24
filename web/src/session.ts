// Who is using the editor: the server's answer to GET /api/session, kept on
// the device for offline use. No Automerge here (main.ts's first chunk uses it).

import type { Session } from "./common"

/** The session from the server (or, offline, the last one seen here). */
export async function loadSession(): Promise<Session> {
  try {
    const r = await fetch("/api/session", { credentials: "same-origin" })
    if (r.ok) {
      const s = (await r.json()) as Session
      localStorage.setItem("cahier.session", JSON.stringify(s))
      return s
    }
  } catch {
    // Offline: the last session seen on this device.
  }
  const cached = localStorage.getItem("cahier.session")
  if (cached) return JSON.parse(cached) as Session
  return { kind: "anonymous", name: null, doc: null, write: false, may_create: false, may_publish: false, storage_id: "", csrf: null }
}

// Opening a document: from this device when it has it, else from the server.
//
// automerge-repo's find() reports a document unavailable as soon as none of the
// connected peers has it, and with no peer connected that is at once: the
// websocket adapter stops waiting for the server's `peer` answer after one
// second (a busy server, a slow network, a socket that had to reconnect), and
// find() then fails although the server has the document. The handle itself
// recovers: when the server connects, automerge-repo asks it for the document
// again and the handle becomes ready once the server sends it. So the editor
// waits on the handle, not on find(), and takes the document as missing only
// when the server, connected, answered `doc-unavailable` for it (it answers the
// same for a missing document and for one this person may not open).

import type { DocHandle, DocumentId, Repo } from "@automerge/automerge-repo"

/** Documents the server answered it does not have (or refuses), in this tab. */
const missingOnServer = new Set<string>()

/** The handle once the document is here; null once the server said it does
 * not have it. Waits as long as it takes to connect. */
export async function openDocument<T>(repo: Repo, id: DocumentId): Promise<DocHandle<T> | null> {
  let answeredMissing = () => {}
  const missing = new Promise<null>((resolve) => (answeredMissing = () => resolve(null)))
  const onMessage = (m: { type: string; documentId?: string }) => {
    if (m.type === "doc-unavailable" && m.documentId === id) {
      missingOnServer.add(id)
      answeredMissing()
    }
  }
  repo.networkSubsystem.on("message", onMessage)
  try {
    const { handle } = repo.findWithProgress<T>(id)
    if (handle.isReady()) return handle
    // Asked before in this tab: the server will not answer again (it said so
    // once, and automerge-repo asks again only when it reconnects).
    if (missingOnServer.has(id)) return null
    return await Promise.race([handle.whenReady(["ready"]).then(() => handle), missing])
  } finally {
    repo.networkSubsystem.off("message", onMessage)
  }
}

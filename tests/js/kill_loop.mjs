// The JavaScript typist of the kill loop (crates/cahier/tests/it/kill_loop.rs),
// the real automerge-repo client against a running `cahier serve`.
//
//   node kill_loop.mjs ws://HOST/sync?token=… automerge:ID TAG BURST
//
// Finds the document and prints {"ready": heads} (hex, sorted) once it holds
// what the server stores. Then, until it is killed, it appends bursts of BURST
// items "TAG:n" to the document's `items` list, and prints {"acked": [items]}
// once a version the server says it stores holds the burst. Every wait is on
// an event, bounded by a timeout that fails the run.
import { Repo, decodeHeads } from "@automerge/automerge-repo"
import { WebSocketClientAdapter } from "@automerge/automerge-repo-network-websocket"
import * as A from "@automerge/automerge"
import { sameHeads, timeout, when } from "./wait.mjs"

const [url, docUrl, tag, burstArg] = process.argv.slice(2)
const burst = Number(burstArg)

// Whether the version at the server's stored heads holds `item`: false while
// those heads name changes this client has not received yet.
function stored(handle, storageId, item) {
  const remote = handle.getRemoteHeads(storageId)
  if (remote === undefined) return false
  try {
    const items = A.view(handle.doc(), decodeHeads(remote)).items ?? []
    return items.some((i) => String(i) === item)
  } catch {
    return false
  }
}

const repo = new Repo({ network: [new WebSocketClientAdapter(url)], peerId: `js-${tag}`, enableRemoteHeadsGossiping: true })
await when([repo.networkSubsystem], ["peer"], () => Object.keys(repo.peerMetadataByPeerId).length > 0, 10000, "handshake")
const meta = Object.values(repo.peerMetadataByPeerId)[0]
if (!meta.storageId || meta.isEphemeral) throw new Error(`the server should be a storing peer: ${JSON.stringify(meta)}`)
const storageId = meta.storageId
repo.subscribeToRemotes([storageId])

const handle = await timeout(repo.find(docUrl), 10000, "finding the document")
await when([handle], ["remote-heads", "change"], () => {
  const remote = handle.getRemoteHeads(storageId)
  return remote !== undefined && sameHeads(remote, handle.heads())
}, 10000, "holding what the server stores")
console.log(JSON.stringify({ ready: A.getHeads(handle.doc()).sort() }))

for (let n = 0; ; ) {
  const items = []
  for (let i = 0; i < burst; i++, n++) {
    const item = `${tag}:${n}`
    handle.change((d) => {
      d.items.push(item)
    })
    items.push(item)
  }
  const last = items[items.length - 1]
  await when([handle], ["remote-heads", "change"], () => stored(handle, storageId, last), 20000, `the server storing ${last}`)
  console.log(JSON.stringify({ acked: items }))
}

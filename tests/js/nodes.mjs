// The real automerge-repo client of the tests of several `cahier serve`
// nodes on one database (crates/cahier/tests/it/postgres.rs), driven by the
// test, one JSON line at a time on stdin:
//
//   node nodes.mjs ws://HOST/sync?token=… automerge:ID TAG
//
// Prints {"ready": true} once it holds what the server stores. Then, for each
// line it reads:
//   {"write": TEXT}  appends TEXT to the document's body and prints
//                    {"acked": TEXT} once a version the server says it stores
//                    holds it;
//   {"see": TEXT}    prints {"seen": TEXT} once its copy's body holds TEXT.
// Its WebSocket reconnects by itself when the connection is lost (to whatever
// server answers at the address then). Every wait is on an event, bounded by
// a timeout that fails the run.
import { Repo, decodeHeads } from "@automerge/automerge-repo"
import { WebSocketClientAdapter } from "@automerge/automerge-repo-network-websocket"
import * as A from "@automerge/automerge"
import * as readline from "node:readline"
import { sameHeads, timeout, when } from "./wait.mjs"

const [url, docUrl, tag] = process.argv.slice(2)
const WAIT = 30000

// Whether the version at the server's stored heads holds `text`: false while
// those heads name changes this client has not received yet.
function stored(handle, storageId, text) {
  const remote = handle.getRemoteHeads(storageId)
  if (remote === undefined) return false
  try {
    return String(A.view(handle.doc(), decodeHeads(remote)).body ?? "").includes(text)
  } catch {
    return false
  }
}

const repo = new Repo({ network: [new WebSocketClientAdapter(url, 500)], peerId: `js-${tag}`, enableRemoteHeadsGossiping: true })
await when([repo.networkSubsystem], ["peer"], () => Object.keys(repo.peerMetadataByPeerId).length > 0, WAIT, "handshake")
const meta = Object.values(repo.peerMetadataByPeerId)[0]
if (!meta.storageId || meta.isEphemeral) throw new Error(`the server should be a storing peer: ${JSON.stringify(meta)}`)
const storageId = meta.storageId
repo.subscribeToRemotes([storageId])

const handle = await timeout(repo.find(docUrl), WAIT, "finding the document")
await when(
  [handle],
  ["remote-heads", "change"],
  () => {
    const remote = handle.getRemoteHeads(storageId)
    return remote !== undefined && sameHeads(remote, handle.heads())
  },
  WAIT,
  "holding what the server stores",
)
console.log(JSON.stringify({ ready: true }))

for await (const line of readline.createInterface({ input: process.stdin })) {
  const command = JSON.parse(line)
  if (command.write !== undefined) {
    const text = command.write
    handle.change((d) => {
      A.splice(d, ["body"], String(d.body).length, 0, text)
    })
    await when([handle], ["remote-heads", "change"], () => stored(handle, storageId, text), WAIT, `the server storing ${text}`)
    console.log(JSON.stringify({ acked: text }))
  } else if (command.see !== undefined) {
    const text = command.see
    await when([handle], ["change"], () => String(handle.doc().body ?? "").includes(text), WAIT, `seeing ${text}`)
    console.log(JSON.stringify({ seen: text }))
  } else {
    throw new Error(`unknown command ${line}`)
  }
}
process.exit(0)

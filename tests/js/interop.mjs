// Interop with the real automerge-repo client, against a running `cahier serve`.
//
//   node interop.mjs write ws://HOST/sync   → creates, syncs, edits concurrently, checks
//                                            presence and unavailability; prints {url, text}
//   node interop.mjs read ws://HOST/sync URL → finds URL and prints {text}
//
// Every wait is on an event, bounded by a timeout that fails the run.
import { Repo, Presence, generateAutomergeUrl } from "@automerge/automerge-repo"
import { WebSocketClientAdapter } from "@automerge/automerge-repo-network-websocket"
import * as A from "@automerge/automerge"
import { sameHeads, timeout, when } from "./wait.mjs"

const [mode, url, docUrl] = process.argv.slice(2)

function repo(peerId) {
  return new Repo({
    network: [new WebSocketClientAdapter(url)],
    peerId,
    enableRemoteHeadsGossiping: true,
  })
}

async function serverStorageId(r) {
  await when([r.networkSubsystem], ["peer"], () => Object.keys(r.peerMetadataByPeerId).length > 0, 5000, "handshake")
  const meta = Object.values(r.peerMetadataByPeerId)[0]
  if (!meta.storageId || meta.isEphemeral) throw new Error(`server should be a storing peer: ${JSON.stringify(meta)}`)
  return meta.storageId
}

if (mode === "write") {
  const alice = repo("alice")
  const bob = repo("bob")
  const storageId = await serverStorageId(alice)

  // Alice creates a document; the server says when it has stored it.
  const ha = alice.create({ text: "Bonjour à tous 😀" })
  alice.subscribeToRemotes([storageId])
  await when([ha], ["remote-heads"], () => {
    const h = ha.getRemoteHeads(storageId)
    return h !== undefined && sameHeads(h, ha.heads())
  }, 5000, "the server reporting it stored alice's document")

  // Bob finds it by URL.
  const hb = await timeout(bob.find(ha.url), 5000, "bob finding the document")
  if (hb.doc().text !== "Bonjour à tous 😀") throw new Error(`bob got ${JSON.stringify(hb.doc().text)}`)

  // Concurrent edits converge.
  ha.change((d) => A.splice(d, ["text"], 0, 0, "Alice : "))
  hb.change((d) => A.splice(d, ["text"], d.text.length, 0, " (Bob)"))
  await when([ha, hb], ["change"], () => ha.doc().text === hb.doc().text && ha.doc().text.includes("Alice") && ha.doc().text.includes("Bob"), 5000, "concurrent edits converging")

  // Presence is relayed from Alice to Bob.
  const pa = new Presence({ handle: ha })
  const pb = new Presence({ handle: hb })
  let sawAlice = false
  let cursor = null
  pb.on("snapshot", (e) => { if (e.peerId === "alice") sawAlice = true })
  pb.on("update", (e) => {
    if (e.peerId === "alice") sawAlice = true
    if (e.peerId === "alice" && e.channel === "cursor") cursor = e.value
  })
  pb.start({ initialState: { user: "bob", cursor: null } })
  pa.start({ initialState: { user: "alice", cursor: null } })
  await when([pb], ["snapshot"], () => sawAlice, 5000, "bob seeing alice's presence")
  pa.broadcast("cursor", { anchor: 3, head: 5 })
  await when([pb], ["update"], () => cursor !== null && cursor.anchor === 3, 5000, "bob seeing alice's cursor")
  pa.stop()
  pb.stop()

  // A document that exists nowhere is reported unavailable, quickly.
  const started = Date.now()
  let unavailable = false
  try {
    await timeout(bob.find(generateAutomergeUrl()), 1000, "an unknown document being reported unavailable")
  } catch (e) {
    if (!/unavailable/i.test(String(e.message))) throw e
    unavailable = true
  }
  if (!unavailable) throw new Error("a document that exists nowhere was found")
  const unavailableMs = Date.now() - started

  // Everything Alice sees is stored on the server.
  await when([ha], ["remote-heads"], () => {
    const h = ha.getRemoteHeads(storageId)
    return h !== undefined && sameHeads(h, ha.heads())
  }, 5000, "the server storing the final version")
  console.log(JSON.stringify({ url: ha.url, text: ha.doc().text, unavailableMs }))
  alice.shutdown()
  bob.shutdown()
  process.exit(0)
} else if (mode === "read") {
  const carol = repo("carol")
  const h = await timeout(carol.find(docUrl), 5000, "carol finding the document after a restart")
  console.log(JSON.stringify({ text: h.doc().text }))
  carol.shutdown()
  process.exit(0)
} else {
  console.error("usage: interop.mjs write|read URL [DOC_URL]")
  process.exit(2)
}

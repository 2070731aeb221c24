// The reference JS sync server: automerge-repo with its WebSocket server adapter
// and file storage, configured as automerge-repo's own sync server is.
// usage: node sync-server.mjs PORT DATA_DIR
import { Repo } from "@automerge/automerge-repo"
import { WebSocketServerAdapter } from "@automerge/automerge-repo-network-websocket"
import { NodeFSStorageAdapter } from "@automerge/automerge-repo-storage-nodefs"
import { WebSocketServer } from "ws"

const [port, dir] = process.argv.slice(2)
const wss = new WebSocketServer({ port: Number(port), host: "127.0.0.1" })
new Repo({
  network: [new WebSocketServerAdapter(wss)],
  storage: new NodeFSStorageAdapter(dir),
  peerId: `js-sync-server-${port}`,
  sharePolicy: async () => false,
})
wss.on("listening", () => console.log(`listening on ${port}`))

// Applies text edits at UTF-16 positions with the real @automerge/automerge, so a
// Rust test can check that both sides count positions the same way.
//
// usage: node utf16.mjs IN.automerge EDITS.json OUT.automerge
//   EDITS.json: { "splices": [[pos, del, insert], ...], "cursors": [pos, ...] }
// prints JSON: { text, length, cursors: [string, ...] } for the text at ["body"]
import * as A from "@automerge/automerge"
import { readFileSync, writeFileSync } from "node:fs"

const [inPath, editsPath, outPath] = process.argv.slice(2)
const edits = JSON.parse(readFileSync(editsPath, "utf8"))
let doc = A.load(new Uint8Array(readFileSync(inPath)))
doc = A.change(doc, { message: "js edits", time: 0 }, (d) => {
  for (const [pos, del, ins] of edits.splices) A.splice(d, ["body"], pos, del, ins)
})
writeFileSync(outPath, A.save(doc))
const cursors = edits.cursors.map((pos) => A.getCursor(doc, ["body"], pos))
process.stdout.write(JSON.stringify({ text: doc.body, length: doc.body.length, cursors }))

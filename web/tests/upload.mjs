// Images in the editor, in a real Chromium: "Ajouter une image" (the file
// picker), a picture pasted into the notes, and a refused file. Run by the
// server's Rust test `browser::a_photo_added_in_the_editor…`, which made the
// photo (with GPS EXIF) and the SVG, and checks what the server stored.
//
//   node tests/upload.mjs BASE_URL SCREENSHOT_DIR DOC_ID PHOTO.jpg DRAWING.svg
//
// Prints one JSON line: the Markdown the editor wrote.

import { WAIT, check, launch, logIn } from "./harness.mjs"
import { mkdirSync } from "node:fs"

const [base, shots, docId, photo, svg] = process.argv.slice(2)
mkdirSync(shots, { recursive: true })
const browser = await launch()
const errors = []
const notes = () => Array.from(document.querySelectorAll(".cm-content .cm-line")).map((l) => l.textContent).join("\n")
try {
  const { context, page } = await logIn(browser, base, "camille", errors, { next: `/edit/${docId}` })
  await page.waitForSelector(".cm-content", { timeout: WAIT })
  await page.click(".cm-content")
  await page.keyboard.type("La cour, le matin :")
  await page.keyboard.press("Enter")

  // The button, then the file picker, as a person does.
  check((await page.textContent("#fmt-image"))?.includes("Ajouter une image"), "the button says what it does")
  const [chooser] = await Promise.all([page.waitForEvent("filechooser", { timeout: WAIT }), page.click("#fmt-image")])
  await chooser.setFiles(photo)
  await page.waitForFunction(() => /Image ajoutée/.test(document.querySelector("#upload-status")?.textContent ?? ""), null, { timeout: WAIT })
  const afterButton = await page.evaluate(notes)
  const picked = /!\[cour\]\((\/files\/[0-9a-f]{64}\.jpg)\)/.exec(afterButton)
  check(picked, `the photo's Markdown is in the notes: ${JSON.stringify(afterButton)}`)
  check(afterButton.indexOf("La cour, le matin") < afterButton.indexOf("![cour]"), "inserted at the caret, after the text typed")
  // The preview shows it (same origin, allowed by the editor's CSP).
  await page.waitForFunction((p) => [...document.querySelectorAll("#preview img")].some((i) => i.getAttribute("src") === p && i.complete && i.naturalWidth > 0), picked[1], { timeout: WAIT })
  const bytes = await page.evaluate(async (p) => Array.from(new Uint8Array(await (await fetch(p)).arrayBuffer())), picked[1])
  const text = Buffer.from(bytes).toString("latin1")
  check(bytes[0] === 0xff && bytes[1] === 0xd8 && !text.includes("Exif"), "the photo the server gives back has no EXIF")

  // A picture pasted into the notes (drawn here, on a canvas).
  await page.click(".cm-content")
  await page.keyboard.press("Control+End")
  await page.evaluate(async () => {
    const canvas = document.createElement("canvas")
    canvas.width = 120
    canvas.height = 80
    const g = canvas.getContext("2d")
    g.fillStyle = "#2a7"
    g.fillRect(0, 0, 120, 80)
    const blob = await new Promise((ok) => canvas.toBlob(ok, "image/png"))
    const dt = new DataTransfer()
    dt.items.add(new File([blob], "plan.png", { type: "image/png" }))
    document.querySelector(".cm-content").dispatchEvent(new ClipboardEvent("paste", { clipboardData: dt, bubbles: true, cancelable: true }))
  })
  await page.waitForFunction(() => /!\[plan\]\(\/files\/[0-9a-f]{64}\.png\)/.test(Array.from(document.querySelectorAll(".cm-content .cm-line")).map((l) => l.textContent).join("\n")), null, { timeout: WAIT })

  // An SVG is refused, in French, and nothing is written.
  const before = await page.evaluate(notes)
  const [again] = await Promise.all([page.waitForEvent("filechooser", { timeout: WAIT }), page.click("#fmt-image")])
  await again.setFiles(svg)
  await page.waitForFunction(() => /Fichier refusé.*pas de SVG/.test(document.querySelector("#upload-status")?.textContent ?? ""), null, { timeout: WAIT })
  check((await page.evaluate(notes)) === before, "a refused file writes nothing")
  await page.screenshot({ path: `${shots}/upload-refused-svg.png`, fullPage: true })
  // Everything is saved before leaving.
  await page.waitForFunction(() => document.querySelector("#status")?.dataset.state === "saved", null, { timeout: WAIT })
  check(errors.length === 0, `no script errors: ${errors.join("; ")}`)
  console.log(JSON.stringify({ ok: true, notes: await page.evaluate(notes), photo: picked[1] }))
} catch (e) {
  console.error(`upload test failed: ${e.stack ?? e}`)
  for (const ctx of browser.contexts()) {
    for (const p of ctx.pages()) await p.screenshot({ path: `${shots}/upload-failure-${Date.now()}.png`, fullPage: true }).catch(() => {})
  }
  process.exitCode = 1
} finally {
  await browser.close()
}

// The notes before Automerge, in a real Chromium: Léo opens an invite link
// while Automerge's WebAssembly is held back (the request waits until he has
// typed); the notes are there, editable, and the status says the editor is
// loading; he types a phrase at the end of the notes. Meanwhile Camille, in
// the full editor, types her own phrase at the end of the same notes and it
// is saved. Then the WebAssembly goes through: on both screens the notes hold
// the text they started with and both phrases whole, Léo's caret is still
// after his own last letter (what he types next follows his phrase), and his
// status says saved. Run by the server's Rust test `browser::typed_before…`,
// which made the minutes and the invite and checks what the server stored.
//
//   node tests/early.mjs BASE_URL SCREENSHOT_DIR DOC_ID INVITE_PATH
//
// Prints one JSON line: the notes as each screen ended.

import { WAIT, check, launch, logIn, waitState } from "./harness.mjs"
import { mkdirSync } from "node:fs"

const [base, shots, docId, invite] = process.argv.slice(2)
mkdirSync(shots, { recursive: true })
const browser = await launch()
const errors = []
const START = "Ordre du jour : la sortie de printemps."
const CAMILLE = " Camille : on part en mai."
const LEO = " Léo : je réserve le car."
const MORE = " Merci."

/** The notes as shown, without the other people's carets drawn inside them. */
const notes = () =>
  Array.from(document.querySelectorAll(".cm-content .cm-line"))
    .map((l) => {
      const copy = l.cloneNode(true)
      for (const w of copy.querySelectorAll(".cm-remote-caret, .cm-widgetBuffer")) w.remove()
      return copy.textContent
    })
    .join("\n")
/** Waits until the notes on `page` hold each of `parts`; fails saying what they hold. */
async function holds(page, parts) {
  try {
    await page.waitForFunction(
      (ps) => {
        const text = Array.from(document.querySelectorAll(".cm-content .cm-line"))
          .map((l) => {
            const copy = l.cloneNode(true)
            for (const w of copy.querySelectorAll(".cm-remote-caret, .cm-widgetBuffer")) w.remove()
            return copy.textContent
          })
          .join("\n")
        return ps.every((p) => text.includes(p))
      },
      parts,
      { timeout: WAIT },
    )
  } catch (e) {
    const status = await page.textContent("#status").catch(() => "?")
    throw new Error(`the notes never held ${JSON.stringify(parts)}: ${JSON.stringify(await page.evaluate(notes))} (status ${status}; errors: ${errors.join("; ")})`, { cause: e })
  }
}

try {
  const a = await logIn(browser, base, "camille", errors, { next: `/edit/${docId}`, viewport: { width: 1280, height: 900 } })
  await waitState(a.page, "saved")
  await holds(a.page, [START])

  // Léo's browser: a phone, no service worker, the WebAssembly held back.
  const context = await browser.newContext({ locale: "fr-FR", viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true, serviceWorkers: "block" })
  let release = () => {}
  const released = new Promise((resolve) => (release = resolve))
  let wasmAsked = false
  let wasmSent = false
  await context.route(/\.wasm$/, async (route) => {
    wasmAsked = true
    await released
    await route.continue()
    wasmSent = true
  })
  const page = await context.newPage()
  page.on("pageerror", (e) => errors.push(`léo: ${e.message}`))
  await page.goto(`${base}${invite}`)
  await page.fill("#name", "Léo")
  await page.press("#name", "Enter")
  await page.waitForFunction((s) => document.querySelector('.cm-content[contenteditable="true"]')?.textContent?.includes(s), START, { timeout: WAIT })
  await page.waitForFunction(() => document.querySelector("#status")?.dataset.state === "loading", null, { timeout: WAIT })
  const loading = await page.textContent("#status")
  check(loading?.includes("Chargement de l’éditeur"), `the status says the editor is loading, in French: ${loading}`)
  await page.click(".cm-content")
  await page.keyboard.press("Control+End")
  await page.keyboard.type(LEO)
  // Camille types at the same place meanwhile, and the server stores it.
  await a.page.click(".cm-content")
  await a.page.keyboard.press("Control+End")
  await a.page.keyboard.type(CAMILLE)
  await waitState(a.page, "saved")
  check(!wasmSent, "the WebAssembly was held back while Léo typed")
  check((await page.evaluate(notes)) === START + LEO, `Léo sees what he typed: ${await page.evaluate(notes)}`)
  check((await page.textContent("#status"))?.includes("Chargement"), "still loading while the WebAssembly is held")
  await page.screenshot({ path: `${shots}/typed-before-automerge.png` })

  release()
  // Both phrases whole on both screens, and the text they started from.
  for (const p of [page, a.page]) await holds(p, [START, CAMILLE, LEO])
  check(wasmAsked, "the editor asked for the WebAssembly")
  await waitState(page, "saved")
  // Léo's caret is still after his own phrase: what he types next follows it.
  await page.keyboard.type(MORE)
  for (const p of [page, a.page]) await holds(p, [START, CAMILLE, LEO + MORE])
  await waitState(page, "saved")
  await waitState(a.page, "saved")
  await page.screenshot({ path: `${shots}/typed-before-automerge-merged.png` })
  const leo = await page.evaluate(notes)
  const camille = await a.page.evaluate(notes)
  check(leo === camille, `both screens agree: ${JSON.stringify({ leo, camille })}`)
  check(errors.length === 0, `no page errors: ${errors.join("; ")}`)
  console.log(JSON.stringify({ leo, camille }))
} finally {
  await browser.close()
}

// The timeslider and a crowded "Présents", in a real browser (Debian's
// Chromium, driven by playwright-core) against a real `cahier serve`. Run by
// the server's Rust test `browser::the_timeslider_…`, which starts the server
// and then checks what it stored.
//
//   node tests/timeslider.mjs BASE_URL SCREENSHOT_DIR CROWD_JSON
//
// Accounts (made by the Rust test): camille (maintainer), lea (editor), and
// the crowd: [{token, name}], editors whose clients are automerge-repo in Node.
// Prints one JSON line with what the Rust side must find in the store.

import { WAIT, check, launch, logIn, waitState } from "./harness.mjs"
import { Presence, Repo } from "@automerge/automerge-repo"
import { WebSocketClientAdapter } from "@automerge/automerge-repo-network-websocket"
import { mkdirSync } from "node:fs"

const [base, shots, crowdJson] = process.argv.slice(2)
const crowd = JSON.parse(crowdJson)
mkdirSync(shots, { recursive: true })
const CAMILLE = "Camille : ouverture de la séance."
const LEA = "Léa : je prends la suite."
const ZOE = "Zoé : bonjour à tous."

const browser = await launch()
const errors = []
const repos = []
let step = 0
async function shot(page, name, fullPage = false) {
  step += 1
  await page.screenshot({ path: `${shots}/${String(step).padStart(2, "0")}-${name}.png`, fullPage })
}
async function login(name, options = {}) {
  const user = await logIn(browser, base, name, errors, options)
  await user.page.waitForSelector("#minutes-list", { timeout: WAIT })
  return user
}
// The live notes as typed (CodeMirror's lines, without other people's caret labels).
const waitNotes = (page, wanted, exact = false) =>
  page.waitForFunction(
    ([wanted, exact]) => {
      const c = document.querySelector(".cm-content")?.cloneNode(true)
      if (!c) return false
      c.querySelectorAll(".cm-remote-caret").forEach((el) => el.remove())
      const text = Array.from(c.querySelectorAll(".cm-line")).map((l) => l.textContent).join("\n")
      return exact ? text === wanted : text.includes(wanted)
    },
    [wanted, exact],
    { timeout: WAIT },
  )
async function tabTo(page, id) {
  for (let i = 0; i < 60; i++) {
    if (await page.evaluate((x) => document.activeElement?.id === x, id)) return
    await page.keyboard.press("Tab")
  }
  throw new Error(`#${id} cannot be reached with Tab`)
}
/** Waits until the timeslider shows moment `index` (its text loaded), and returns what it shows. */
async function moment(page, index) {
  await page.waitForFunction(
    (i) => {
      const text = document.querySelector("#timeslider-text")
      return text?.dataset.state === "ready" && text.dataset.index === String(i) && document.querySelector("#timeslider-range")?.value === String(i)
    },
    index,
    { timeout: WAIT },
  )
  return page.evaluate(() => {
    const when = document.querySelector("#timeslider-when")?.textContent ?? ""
    const text = document.querySelector("#timeslider-text")
    return {
      when,
      authors: when.split(" · ")[1] ?? "",
      text: Array.from(text.childNodes).filter((n) => !n.classList?.contains("ts-empty")).map((n) => n.textContent).join(""),
      keys: [...new Set(Array.from(text.querySelectorAll(".cm-author")).map((s) => s.dataset.author))],
      legend: Array.from(document.querySelectorAll("#timeslider-legend li")).map((li) => ({ key: li.dataset.author, name: li.textContent.trim() })),
      valuetext: document.querySelector("#timeslider-range")?.getAttribute("aria-valuetext"),
      focused: document.activeElement?.id,
      max: Number(document.querySelector("#timeslider-range")?.max),
    }
  })
}
const FRENCH_TIME = /^(lundi|mardi|mercredi|jeudi|vendredi|samedi|dimanche) \d{1,2} \p{L}+ \d{4} à \d{2}:\d{2}:\d{2} · /u

try {
  // 1. Camille opens the meeting and writes; Léa joins and writes after her.
  const { context: cc, page: camille } = await login("camille")
  await camille.click("#new-minutes")
  await camille.waitForSelector("#title:focus", { timeout: WAIT })
  await camille.keyboard.type("Conseil du mardi")
  await camille.click(".cm-content")
  await camille.keyboard.type(CAMILLE)
  await waitState(camille, "saved")
  const url = camille.url()
  const docId = url.split("/edit/")[1]
  const { context: lc, page: lea } = await login("lea")
  await lea.goto(url)
  await waitNotes(lea, CAMILLE)
  // Léa types in the whole editor, one change per keystroke (what she would
  // type in the early notes, before Automerge has loaded, goes in as one).
  await lea.waitForSelector("header.bar", { timeout: WAIT })
  await lea.click(".cm-content")
  await lea.keyboard.press("Control+End")
  await lea.keyboard.press("Enter")
  await lea.keyboard.type(LEA)
  await waitNotes(camille, LEA)
  await waitState(lea, "saved")
  await waitState(camille, "saved")

  // 2. Camille goes back in time with the keyboard alone: the history opens
  // on the newest moment, Home goes to the first, arrows step through.
  await tabTo(camille, "timeslider-toggle")
  check((await camille.textContent("#timeslider-toggle")) === "Historique", "the history button is labelled")
  await camille.keyboard.press("Enter")
  await camille.waitForSelector("#timeslider", { state: "visible", timeout: WAIT })
  const label = await camille.$eval("#timeslider-range", (el) => el.labels?.[0]?.textContent ?? "")
  check(label === "Remonter le temps", `the slider is labelled: ${label}`)
  check(!(await camille.isVisible("#body-editor")), "the past notes take the live notes' place")
  await camille.waitForFunction(() => Number(document.querySelector("#timeslider-range")?.max) > 0, null, { timeout: WAIT })
  const now = await moment(camille, await camille.evaluate(() => Number(document.querySelector("#timeslider-range").max)))
  check(now.focused === "timeslider-range", `the slider has the focus once opened: ${now.focused}`)
  check(now.text === `${CAMILLE}\n${LEA}`, `the newest moment is the notes as they are: ${JSON.stringify(now.text)}`)
  check(now.keys.length === 2, `the newest moment shows two writers' colours: ${JSON.stringify(now)}`)
  await camille.keyboard.press("Home")
  const start = await moment(camille, 0)
  check(start.authors === "camille" && !start.text.includes("Léa"), `the first moment is Camille's alone: ${JSON.stringify(start)}`)
  check(FRENCH_TIME.test(start.when), `the moment says when, in French: ${start.when}`)
  // Step on until Léa's first moment; the one before it is Camille's text, whole and alone.
  let index = 0
  let seen = start
  while (!seen.authors.includes("lea")) {
    check(index < now.max, `some moment is Léa's: ${JSON.stringify(seen)}`)
    await camille.keyboard.press("ArrowRight")
    index += 1
    seen = await moment(camille, index)
  }
  check(seen.text.includes(LEA), `Léa's first moment shows her line: ${JSON.stringify(seen)}`)
  await camille.keyboard.press("ArrowLeft")
  const before = await moment(camille, index - 1)
  check(before.text === CAMILLE, `the moment before Léa wrote shows Camille's text only: ${JSON.stringify(before.text)}`)
  check(before.authors === "camille" && FRENCH_TIME.test(before.when), `with her name and the time: ${before.when}`)
  check(before.legend.length === 1 && before.legend[0].name === "camille" && before.keys.join() === before.legend[0].key, `in her colour only: ${JSON.stringify(before)}`)
  check(before.valuetext === before.when && before.focused === "timeslider-range", `the slider tells screen readers the moment, and kept the focus: ${JSON.stringify(before)}`)
  await shot(camille, "timeslider-before-lea")

  // 2b. Change by change, as in Etherpad: "modification par modification"
  // (a radio beside the slider, by keyboard) keeps the place, on that moment's
  // last change; each arrow is then one change, with its writer and time.
  const change = async (page, i) => {
    await page.waitForFunction(() => document.querySelector("#timeslider-text")?.dataset.mode === "changes", null, { timeout: WAIT })
    return moment(page, i)
  }
  await camille.keyboard.press("Shift+Tab")
  check((await camille.evaluate(() => document.activeElement?.id)) === "timeslider-by-moments", "the way of stepping is next to the slider, by moments first")
  const modes = await camille.$$eval("#timeslider-mode label", (ls) => ls.map((l) => l.textContent))
  check(modes.join() === "par moments,modification par modification", `the two ways are labelled: ${modes}`)
  check((await camille.textContent("#timeslider-mode legend")) === "Avancer", "and the group too")
  await camille.keyboard.press("ArrowRight")
  check(await camille.isChecked("#timeslider-by-changes"), "the arrow chooses change by change")
  await camille.keyboard.press("Tab")
  let ci = Number(await camille.inputValue("#timeslider-range"))
  let c = await change(camille, ci)
  check(c.text === CAMILLE && c.authors === "camille", `on the last change of that moment: ${JSON.stringify(c)}`)
  check(FRENCH_TIME.test(c.when) && / · modification \d+ sur \d+$/.test(c.when) && c.focused === "timeslider-range", `it says when, who, which change: ${c.when}`)
  const full = `${CAMILLE}\n${LEA}`
  let steps = 0
  while (c.text !== full) {
    check(ci < c.max, `Léa's whole line comes, change by change: ${JSON.stringify(c)}`)
    await camille.keyboard.press("ArrowRight")
    ci += 1
    steps += 1
    const next = await change(camille, ci)
    check(next.authors === "lea" && FRENCH_TIME.test(next.when), `each change after Camille's is Léa's, with its time: ${next.when}`)
    check(full.startsWith(next.text) && next.text.length - c.text.length <= 1, `one change at a time: ${JSON.stringify(c.text)} then ${JSON.stringify(next.text)}`)
    check(next.legend.some((p) => p.name === "lea"), "in her colour")
    c = next
  }
  check(steps > LEA.length, `one step per keystroke of Léa's line: ${steps}`)
  await shot(camille, "timeslider-change-by-change")
  // Back by moments: the slider is on the moment that holds that change, Léa's.
  await camille.keyboard.press("Shift+Tab")
  await camille.keyboard.press("ArrowLeft")
  check(await camille.isChecked("#timeslider-by-moments"), "back to by moments")
  await camille.keyboard.press("Tab")
  await camille.waitForFunction(() => document.querySelector("#timeslider-text")?.dataset.mode === "moments", null, { timeout: WAIT })
  const back = await moment(camille, index)
  check(back.authors.includes("lea") && back.text.includes(LEA), `by moments again, on Léa's moment: ${JSON.stringify(back)}`)
  await camille.keyboard.press("ArrowLeft")
  check((await moment(camille, index - 1)).text === CAMILLE, "and the moment before it is Camille's")

  // 3. Copy that moment's text, then restore it, by keyboard.
  await cc.grantPermissions(["clipboard-read", "clipboard-write"], { origin: base })
  await tabTo(camille, "timeslider-copy")
  await camille.keyboard.press("Enter")
  await camille.waitForFunction(() => document.querySelector("#timeslider-note")?.textContent === "Texte copié.", null, { timeout: WAIT })
  const copied = await camille.evaluate(() => navigator.clipboard.readText())
  check(copied === CAMILLE, `the copy button copied that moment's text: ${JSON.stringify(copied)}`)
  await tabTo(camille, "timeslider-restore")
  let asked = ""
  camille.once("dialog", async (d) => {
    asked = d.message()
    await d.accept()
  })
  await camille.keyboard.press("Enter")
  await waitNotes(lea, CAMILLE, true)
  await waitNotes(camille, CAMILLE, true)
  check(/^Remplacer les notes actuelles par celles du /.test(asked), `restoring asks first: ${asked}`)
  check(await camille.isHidden("#timeslider"), "after restoring, the live notes are back")
  check(await camille.evaluate(() => document.activeElement?.id === "timeslider-toggle"), "the focus goes back to the history button")
  await waitState(camille, "saved")
  await waitState(lea, "saved")
  await shot(lea, "restored-for-lea")

  // 4. At 390 × 844, Léa (on a phone) opens the history with a tap and moves
  // it with a tap; everything fits and can be tapped.
  {
    const { context: pc, page: phone } = await login("lea", { viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true })
    await phone.goto(url)
    await waitNotes(phone, CAMILLE, true)
    await phone.tap("#timeslider-toggle")
    // Open on the newest moment once the history is here.
    await phone.waitForFunction(
      () => {
        const text = document.querySelector("#timeslider-text")
        const range = document.querySelector("#timeslider-range")
        return text?.dataset.state === "ready" && Number(range?.max) > 0 && text.dataset.index === range.max
      },
      null,
      { timeout: WAIT },
    )
    const sizes = await phone.$$eval("#timeslider-toggle, #timeslider-range, #timeslider-copy, #timeslider-restore", (els) =>
      els.map((el) => ({ id: el.id, height: el.getBoundingClientRect().height, right: el.getBoundingClientRect().right, font: parseFloat(getComputedStyle(el).fontSize) })),
    )
    check(sizes.length === 4 && sizes.every((s) => s.height >= 44 && s.right <= 390 && (s.id === "timeslider-range" || s.font >= 16)), `the history's controls can be tapped at 390 px: ${JSON.stringify(sizes)}`)
    const wide = await phone.evaluate(() => ({ page: document.documentElement.scrollWidth, screen: innerWidth }))
    check(wide.page <= wide.screen, `nothing wider than the phone: ${JSON.stringify(wide)}`)
    const box = await phone.$eval("#timeslider-range", (el) => {
      el.scrollIntoView({ block: "center" })
      const r = el.getBoundingClientRect()
      return { x: r.left, y: r.top + r.height / 2 }
    })
    await phone.touchscreen.tap(box.x + 1, box.y)
    const tapped = await moment(phone, 0)
    check(tapped.authors === "camille", `a tap at the slider's start shows the first moment: ${JSON.stringify(tapped)}`)
    await shot(phone, "timeslider-phone")
    await pc.close()
  }

  // 5. A crowd: eleven people on automerge-repo clients and a guest invited
  // by link. "Présents" folds into a count, opens with the keyboard, lists
  // each person once and says who is a guest.
  const wsBase = base.replace(/^http/, "ws")
  for (const [i, { token, name }] of crowd.entries()) {
    const repo = new Repo({ network: [new WebSocketClientAdapter(`${wsBase}/sync?token=${token}`)] })
    repos.push(repo)
    const handle = await repo.find(`automerge:${docId}`)
    const presence = new Presence({ handle })
    presence.start({ initialState: { name, who: `account:${name}`, color: `hsl(${(i * 33) % 360} 60% 40%)` }, heartbeatMs: 2000, peerTtlMs: 8000 })
    repo.__presence = presence
  }
  await camille.check("#invite-rights-write")
  await camille.click("#invite-create")
  await camille.waitForFunction(() => (document.querySelector("#invite-list .invite-url")?.value ?? "").includes("/join/"), null, { timeout: WAIT })
  const link = await camille.$eval("#invite-list .invite-url", (el) => el.value)
  const gc = await browser.newContext({ locale: "fr-FR" })
  const zoe = await gc.newPage()
  zoe.on("pageerror", (e) => errors.push(`Zoé: ${e.message}`))
  await zoe.goto(link)
  await zoe.fill("#name", "Zoé")
  await Promise.all([zoe.waitForURL(url), zoe.press("#name", "Enter")])
  await zoe.waitForSelector('.cm-content[contenteditable="true"]', { timeout: WAIT })
  await zoe.click(".cm-content")
  await zoe.keyboard.press("Control+End")
  await zoe.keyboard.press("Enter")
  await zoe.keyboard.type(ZOE)
  await waitNotes(camille, ZOE)
  const everyone = 2 + crowd.length + 1
  await camille
    .waitForFunction((n) => document.querySelector("#presence-toggle")?.textContent === `${n} présents`, everyone, { timeout: WAIT })
    .catch(async (e) => {
      throw new Error(`"Présents" should count ${everyone}: ${await camille.textContent("#presence-toggle")} (${e.message})`)
    })
  check(await camille.isHidden("#presence-list"), "with many people, the names start folded")
  check((await camille.getAttribute("#presence-toggle", "aria-expanded")) === "false", "the count says the names are folded")
  await camille.evaluate(() => document.querySelector("#h-present").scrollIntoView())
  await shot(camille, "presence-folded")
  await camille.focus("#timeslider-toggle")
  await tabTo(camille, "presence-toggle")
  await camille.keyboard.press("Enter")
  await camille.waitForSelector("#presence-list", { state: "visible", timeout: WAIT })
  const names = await camille.$$eval("#presence-list li", (lis) => lis.map((li) => li.textContent.trim()))
  const wanted = ["camille (vous)", "lea", "Zoé (invité·e)", ...crowd.map((c) => c.name)]
  check(names.length === everyone && new Set(names).size === everyone && wanted.every((n) => names.includes(n)), `one entry per person, the guest marked: ${JSON.stringify(names)}`)
  check((await camille.getAttribute("#presence-toggle", "aria-expanded")) === "true", "the count says the names are shown")
  await shot(camille, "presence-open")
  await camille.keyboard.press("Enter")
  await camille.waitForSelector("#presence-list", { state: "hidden", timeout: WAIT })
  await zoe.waitForFunction(() => Array.from(document.querySelectorAll("#presence-list li")).some((li) => li.textContent.trim() === "Zoé (invité·e) (vous)"), null, { timeout: WAIT })
  // The authorship colours' legend says so too.
  await camille.check("#authors-toggle")
  await camille
    .waitForFunction(() => Array.from(document.querySelectorAll("#authors-legend li")).some((li) => li.textContent.trim() === "Zoé (invité·e)"), null, { timeout: WAIT })
    .catch(async (e) => {
      throw new Error(`the legend marks the guest: ${await camille.textContent("#authors-legend")} (${e.message})`)
    })
  await shot(camille, "legend-guest")
  await gc.close()
  await lc.close()
  await cc.close()
  check(errors.length === 0, `no script errors: ${errors.join("; ")}`)
  console.log(JSON.stringify({ ok: true, docId, restored: CAMILLE, replaced: LEA }))
} catch (e) {
  console.error(`timeslider test failed after screenshot ${step}: ${e.stack ?? e}`)
  for (const ctx of browser.contexts()) {
    for (const p of ctx.pages()) await p.screenshot({ path: `${shots}/failure-${Date.now()}.png`, fullPage: true }).catch(() => {})
  }
  if (errors.length) console.error(`script errors in the pages: ${errors.join("; ")}`)
  process.exitCode = 1
} finally {
  for (const r of repos) {
    r.__presence?.stop()
    await r.shutdown().catch(() => {})
  }
  await browser.close()
}

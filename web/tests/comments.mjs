// Comments on the notes, in a real Chromium, two people on one set of minutes:
// Camille (a wide screen) selects a passage by keyboard and comments it with
// Ctrl+Alt+M; Léa (a 390 px phone) sees the comment live, under Camille's
// name, below the notes; she types before the passage and inside it, and
// Camille's highlight still covers the passage, grown by Léa's word; Léa
// replies by keyboard (Escape cancels a first try, Ctrl+Enter sends), Camille
// sees the reply under Léa's name with a French date; axe-core finds nothing
// serious with the comment and a reply form open; Yasmine, with a view-only
// invite, sees the comment and its reply and nothing to change them with; a
// click on the comment puts Camille's selection on it; Léa resolves it, the
// thread folds, Camille sees it resolved by Léa; Léa deletes the passage, the
// comment stays, "passage supprimé". On older minutes whose comments predate
// threads, the two first replies Léa and Noé sent at once both show, under
// their names; Camille's unsent reply to one comment keeps its draft while she
// replies to another, until she cancels it. Run by the server's Rust test
// `browser::a_comment…`, which made the minutes and the invite, and checks
// what the server stored.
//
//   node tests/comments.mjs BASE_URL SCREENSHOT_DIR DOC_ID VIEW_INVITE_PATH OLD_DOC_ID
//
// Prints one JSON line: the comment's id, the reply and the notes as they ended.

import { WAIT, check, launch, logIn, waitState } from "./harness.mjs"
import { mkdirSync, readFileSync } from "node:fs"

const [base, shots, docId, viewInvite, oldDocId] = process.argv.slice(2)
const axeSource = readFileSync(new URL("../../tests/js/node_modules/axe-core/axe.min.js", import.meta.url), "utf8")
mkdirSync(shots, { recursive: true })
const browser = await launch()
const errors = []
const PASSAGE = "repeindre la salle"
const COMMENT = "Quelle couleur exactement ?"
const REPLY = "Un bleu clair, comme le couloir."
const FRENCH_DATE = /\d{1,2} (janv\.|févr\.|mars|avr\.|mai|juin|juil\.|août|sept\.|oct\.|nov\.|déc\.) \d{4}/

/** axe-core's serious and critical violations on `page` as it is now. */
async function axe(page, where) {
  await page.evaluate(axeSource)
  const result = await page.evaluate(() => axe.run(document, { resultTypes: ["violations"] }))
  return result.violations
    .filter((v) => v.impact === "serious" || v.impact === "critical")
    .map((v) => `${where}: ${v.id} (${v.impact}) ${v.nodes.slice(0, 3).map((n) => n.target.join(" ")).join(", ")}`)
}

/** The text the comment highlights in the notes (what a person sees marked),
 * without the other people's carets drawn inside it. */
const highlighted = () =>
  Array.from(document.querySelectorAll(".cm-content .cm-comment"))
    .map((el) => {
      const copy = el.cloneNode(true)
      for (const w of copy.querySelectorAll(".cm-remote-caret, .cm-widgetBuffer")) w.remove()
      return copy.textContent
    })
    .join("")
const notes = () => Array.from(document.querySelectorAll(".cm-content .cm-line")).map((l) => l.textContent).join("\n")

/** Moves the caret to `pos` in the notes, by keyboard, from their start. */
async function caretAt(page, pos) {
  await page.click(".cm-content")
  await page.keyboard.press("Control+Home")
  for (let i = 0; i < pos; i++) await page.keyboard.press("ArrowRight")
}

try {
  const a = await logIn(browser, base, "camille", errors, { next: `/edit/${docId}`, viewport: { width: 1280, height: 900 } })
  const b = await logIn(browser, base, "lea", errors, { next: `/edit/${docId}`, viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true })
  for (const p of [a.page, b.page]) await p.waitForFunction((s) => document.querySelector(".cm-content")?.textContent?.includes(s), PASSAGE, { timeout: WAIT })

  // Camille selects the passage by keyboard and comments it (Ctrl+Alt+M).
  const text0 = await a.page.evaluate(notes)
  const at = text0.indexOf(PASSAGE)
  check(at > 0, `the passage is in the notes: ${JSON.stringify(text0)}`)
  check((await a.page.textContent("#comment-button"))?.includes("Commenter"), "the toolbar's button says Commenter")
  await caretAt(a.page, at)
  for (let i = 0; i < PASSAGE.length; i++) await a.page.keyboard.press("Shift+ArrowRight")
  await a.page.keyboard.press("Control+Alt+m")
  await a.page.waitForSelector("#comment-form:not([hidden])", { timeout: WAIT })
  check((await a.page.evaluate(() => document.activeElement?.id)) === "comment-text", "the comment's field has the focus")
  check((await a.page.textContent("#comment-form-quote"))?.includes(PASSAGE), "the form names the passage")
  await a.page.keyboard.type(COMMENT)
  await a.page.keyboard.press("Control+Enter")
  await a.page.waitForFunction((s) => document.querySelector("#comment-list .comment-text")?.textContent === s, COMMENT, { timeout: WAIT })
  check((await a.page.evaluate(highlighted)) === PASSAGE, `the passage is highlighted: ${await a.page.evaluate(highlighted)}`)
  // Who wrote it comes from the server (the account's actor), in French dates.
  await a.page.waitForFunction(() => document.querySelector("#comment-list .comment-author")?.textContent === "camille", null, { timeout: WAIT })
  check(/\d{4}/.test((await a.page.textContent("#comment-list time")) ?? ""), "the comment says when")

  // Léa sees it live, with Camille's name, below the notes on her phone.
  await b.page.waitForFunction((s) => document.querySelector("#comment-list .comment-text")?.textContent === s, COMMENT, { timeout: WAIT })
  await b.page.waitForFunction(() => document.querySelector("#comment-list .comment-author")?.textContent === "camille", null, { timeout: WAIT })
  await b.page.waitForFunction((s) => document.querySelector("#comment-list .comment-goto")?.textContent === s, PASSAGE, { timeout: WAIT })
  const below = await b.page.evaluate(() => {
    const n = document.querySelector("#body-editor").getBoundingClientRect()
    const c = document.querySelector("#comments").getBoundingClientRect()
    return c.top >= n.bottom && c.left >= 0 && c.right <= innerWidth
  })
  check(below, "on a phone the comments come below the notes, within the screen's width")
  const beside = await a.page.evaluate(() => {
    const n = document.querySelector("#body-editor").getBoundingClientRect()
    const c = document.querySelector("#comments").getBoundingClientRect()
    return c.left >= n.right && c.top < n.bottom
  })
  check(beside, "on a wide screen the comments are beside the notes")
  check((await b.page.evaluate(highlighted)) === PASSAGE, "Léa sees the passage highlighted")

  // Léa types before the passage, then inside it.
  await caretAt(b.page, 0)
  await b.page.keyboard.type("Hier, ")
  await caretAt(b.page, at + "Hier, ".length + "repeindre ".length)
  await b.page.keyboard.type("toute ")
  // Her caret leaves the passage (others' carets are drawn where they are).
  await b.page.keyboard.press("Control+End")
  const grown = "repeindre toute la salle"
  await a.page.waitForFunction((s) => document.querySelector(".cm-content")?.textContent?.includes(s), `Hier, Nous`, { timeout: WAIT })
  await a.page.waitForFunction((s) => document.querySelector(".cm-content")?.textContent?.includes(s), grown, { timeout: WAIT })
  await a.page.waitForFunction((s) => document.querySelector("#comment-list .comment-goto")?.textContent === s, grown, { timeout: WAIT })
  const onA = await a.page.evaluate(highlighted)
  check(onA === grown, `Camille's highlight follows the passage: ${JSON.stringify(onA)}`)
  check((await b.page.evaluate(highlighted)) === grown, "and Léa's")

  // Léa replies, by keyboard: "Répondre" opens the form on its field; Escape
  // cancels (nothing sent, the focus back on "Répondre"); then Tab goes
  // field, send, cancel, and Ctrl+Enter sends.
  const active = (p) => p.evaluate(() => document.activeElement?.className ?? "")
  await b.page.focus("#comment-list .comment-reply-open")
  await b.page.keyboard.press("Enter")
  await b.page.waitForSelector("#comment-list .comment-reply-form", { timeout: WAIT })
  check((await active(b.page)) === "comment-reply-text", `the reply's field has the focus: ${await active(b.page)}`)
  await b.page.keyboard.type("Je ne sais pas")
  await b.page.keyboard.press("Escape")
  await b.page.waitForSelector("#comment-list .comment-reply-form", { state: "detached", timeout: WAIT })
  check((await active(b.page)) === "comment-reply-open", `Escape gives the focus back to Répondre: ${await active(b.page)}`)
  await b.page.keyboard.press("Enter")
  await b.page.waitForSelector("#comment-list .comment-reply-form", { timeout: WAIT })
  check((await b.page.inputValue("#comment-list .comment-reply-text")) === "", "a cancelled reply is not kept")
  await b.page.keyboard.type(REPLY)
  const order = []
  for (let i = 0; i < 3; i++) {
    await b.page.keyboard.press("Tab")
    order.push(await active(b.page))
  }
  check(order.join() === "comment-reply-send,comment-reply-cancel,comment-resolve", `Tab goes send, cancel, Résoudre: ${order}`)
  await b.page.keyboard.press("Shift+Tab")
  await b.page.keyboard.press("Shift+Tab")
  await b.page.keyboard.press("Shift+Tab")
  check((await active(b.page)) === "comment-reply-text", "and back to the field")
  await b.page.keyboard.press("Control+Enter")
  await b.page.waitForSelector("#comment-list .comment-reply-form", { state: "detached", timeout: WAIT })
  check((await active(b.page)) === "comment-reply-open", "sent, the focus is back on Répondre")
  check((await b.page.textContent("#comments-note")) === "Réponse envoyée.", "the panel says it was sent")
  for (const p of [a.page, b.page]) {
    await p.waitForFunction((s) => document.querySelector("#comment-list .comment-reply .comment-text")?.textContent === s, REPLY, { timeout: WAIT })
    await p.waitForFunction(() => document.querySelector("#comment-list .comment-reply .comment-author")?.textContent === "lea", null, { timeout: WAIT })
    const date = (await p.textContent("#comment-list .comment-reply time")) ?? ""
    check(FRENCH_DATE.test(date), `the reply's date is French: ${JSON.stringify(date)}`)
  }
  check((await a.page.$$("#comment-list .comment-reply")).length === 1, "one reply: the cancelled one was never sent")

  // A comment with its reply form open, on both screens: nothing serious for axe.
  await a.page.click("#comment-list .comment-reply-open")
  await a.page.waitForSelector("#comment-list .comment-reply-form", { timeout: WAIT })
  await b.page.focus("#comment-list .comment-reply-open")
  await b.page.keyboard.press("Enter")
  await b.page.waitForSelector("#comment-list .comment-reply-form", { timeout: WAIT })
  const violations = [...(await axe(a.page, "wide")), ...(await axe(b.page, "390 px"))]
  check(violations.length === 0, `axe-core finds no serious or critical violation:\n${violations.join("\n")}`)
  await a.page.screenshot({ path: `${shots}/comments-reply-form-wide.png`, fullPage: true })
  await b.page.locator("#comments").screenshot({ path: `${shots}/comments-reply-form-phone.png` })
  await a.page.click("#comment-list .comment-reply-cancel")
  await b.page.click("#comment-list .comment-reply-cancel")
  await a.page.waitForSelector("#comment-list .comment-reply-form", { state: "detached", timeout: WAIT })

  // Yasmine, with a view-only invite, reads the comment and its reply, and
  // has nothing to comment, reply, resolve with.
  const vc = await browser.newContext({ locale: "fr-FR", viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true })
  const viewer = await vc.newPage()
  viewer.on("pageerror", (e) => errors.push(`yasmine: ${e.message}`))
  await viewer.goto(`${base}${viewInvite}`)
  await viewer.fill("#name", "Yasmine")
  await Promise.all([viewer.waitForURL(`${base}/edit/${docId}`), viewer.press("#name", "Enter")])
  await viewer.waitForFunction((s) => document.querySelector("#comment-list .comment-text")?.textContent === s, COMMENT, { timeout: WAIT })
  await viewer.waitForFunction((s) => document.querySelector("#comment-list .comment-reply .comment-text")?.textContent === s, REPLY, { timeout: WAIT })
  await viewer.waitForFunction(() => document.querySelector("#comment-list .comment-reply .comment-author")?.textContent === "lea", null, { timeout: WAIT })
  check((await viewer.getAttribute(".cm-content", "contenteditable")) === "false", "a view link cannot type")
  for (const sel of ["#comment-button", "#comment-list .comment-resolve", "#comment-list .comment-reopen", "#comment-list .comment-reply-open", ".comment-reply-form"]) {
    check((await viewer.$(sel)) === null, `a view-only participant has no ${sel}`)
  }
  const buttons = await viewer.$$eval("#comments button", (bs) => bs.map((x) => x.textContent))
  check(!buttons.some((x) => /Commenter|Résoudre|Répondre|Rouvrir/.test(x ?? "")), `no button to change a comment: ${buttons}`)
  // Taken before the keyboard check below selects all the notes.
  await viewer.locator("#comments").screenshot({ path: `${shots}/comments-view-only-phone.png` })
  // Nor the keyboard shortcut.
  await viewer.click(".cm-content")
  await viewer.keyboard.press("Control+A")
  await viewer.keyboard.press("Control+Alt+m")
  check(await viewer.isHidden("#comment-form"), "Ctrl+Alt+M opens no comment form")

  // A click on the comment selects its passage in Camille's notes.
  await a.page.click("#comment-list .comment-goto")
  await a.page
    .waitForFunction((s) => document.activeElement?.closest(".cm-editor") && getSelection()?.toString() === s, grown, { timeout: WAIT })
    .catch(async () => check(false, `the click selects the passage: ${JSON.stringify(await a.page.evaluate(() => getSelection()?.toString()))}`))
  await a.page.screenshot({ path: `${shots}/comments-wide.png`, fullPage: true })

  // Léa resolves it (by keyboard); Camille sees it resolved, by Léa, its
  // thread folded to one line, unfolded on demand; Yasmine still has no button.
  await b.page.focus("#comment-list .comment-resolve")
  await b.page.keyboard.press("Enter")
  await b.page.waitForSelector('#comment-list li[data-state="resolved"] .comment-reopen', { timeout: WAIT })
  check((await b.page.evaluate(() => document.activeElement?.className)) === "comment-reopen", "the focus stays on the comment's button, now Rouvrir")
  await a.page.waitForSelector('#comment-list li[data-state="resolved"]', { timeout: WAIT })
  await a.page.waitForFunction(() => document.querySelector("#comment-list .comment-resolved")?.textContent === "Résolu par lea", null, { timeout: WAIT })
  check((await a.page.textContent("#comment-list .comment-reopen")) === "Rouvrir", "Camille may reopen it")
  check((await a.page.evaluate(highlighted)) === "", "a resolved comment no longer highlights its passage")
  for (const p of [a.page, b.page]) {
    check((await p.$("#comment-list .comment-text")) === null && (await p.$("#comment-list .comment-reply")) === null, "a resolved thread folds")
    check((await p.textContent("#comment-list .comment-thread-toggle")) === "Afficher le fil (1 réponse)", "and says what it holds")
  }
  await b.page.screenshot({ path: `${shots}/comments-phone-resolved.png`, fullPage: true })
  await a.page.click("#comment-list .comment-thread-toggle")
  await a.page.waitForSelector('#comment-list .comment-thread-toggle[aria-expanded="true"]', { timeout: WAIT })
  check((await a.page.textContent("#comment-list .comment-reply .comment-text")) === REPLY, "unfolded, the thread shows again")
  check((await a.page.textContent("#comment-list .comment-thread-toggle")) === "Replier le fil", "and may fold again")
  await viewer.waitForSelector('#comment-list li[data-state="resolved"] .comment-thread-toggle', { timeout: WAIT })
  check((await viewer.$("#comment-list .comment-reopen")) === null, "a view-only participant cannot reopen it")
  await vc.close()

  // Camille reopens it; Léa deletes the whole passage: the comment stays, detached.
  await a.page.click("#comment-list .comment-reopen")
  await b.page.waitForSelector('#comment-list li[data-state="open"]', { timeout: WAIT })
  const now = await b.page.evaluate(notes)
  const from = now.indexOf(grown)
  await caretAt(b.page, from)
  for (let i = 0; i < grown.length; i++) await b.page.keyboard.press("Shift+ArrowRight")
  await b.page.keyboard.press("Delete")
  await a.page.waitForSelector('#comment-list li[data-state="detached"]', { timeout: WAIT })
  check((await a.page.textContent("#comment-list .comment-detached")) === "passage supprimé", "the comment says its passage is gone")
  check((await a.page.textContent("#comment-list .comment-text")) === COMMENT, "and keeps its text")
  check((await a.page.evaluate(highlighted)) === "", "nothing is highlighted")
  await a.page.screenshot({ path: `${shots}/comments-detached.png`, fullPage: true })

  await waitState(a.page, "saved")
  await waitState(b.page, "saved")
  const id = await a.page.getAttribute("#comment-list li", "data-comment")
  const ended = await a.page.evaluate(notes)

  // Older minutes: "Quelle salle ?" predates threads, and Léa and Noé sent
  // its first reply at once; both replies show, each under its writer.
  const old = await a.page.context().newPage()
  old.on("pageerror", (e) => errors.push(`camille (old minutes): ${e.message}`))
  await old.goto(`${base}/edit/${oldDocId}`)
  const x = '#comment-list li[data-comment="1111111111111111"]'
  const y = '#comment-list li[data-comment="2222222222222222"]'
  await old.waitForFunction(
    (x) => Array.from(document.querySelectorAll(`${x} .comment-reply`), (r) => `${r.querySelector(".comment-author")?.textContent}: ${r.querySelector(".comment-text")?.textContent}`).join(" | ") === "léa: Bleu | noé: Vert",
    x,
    { timeout: WAIT },
  ).catch(async () => check(false, `both first replies show under their names: ${JSON.stringify(await old.textContent(x).catch(() => null))}`))

  // Camille starts a reply to one comment, then replies to the other: the
  // first draft stays, in its form, until she cancels it.
  const DRAFT = "Je vérifie avec la mairie"
  await old.click(`${x} .comment-reply-open`)
  await old.keyboard.type(DRAFT)
  await old.click(`${y} .comment-reply-open`)
  await old.keyboard.type("Au rez-de-chaussée.")
  check((await old.inputValue(`${x} .comment-reply-text`).catch(() => "(no form)")) === DRAFT, "the first comment keeps its unsent reply while the other gets one")
  await old.keyboard.press("Control+Enter")
  await old.waitForFunction((y) => document.querySelector(`${y} .comment-reply .comment-text`)?.textContent === "Au rez-de-chaussée.", y, { timeout: WAIT })
  check((await old.inputValue(`${x} .comment-reply-text`).catch(() => "(no form)")) === DRAFT, "and still once the other is sent")
  await old.screenshot({ path: `${shots}/comments-draft-kept.png`, fullPage: true })
  await old.focus(`${x} .comment-reply-text`)
  await old.keyboard.press("Escape")
  await old.waitForSelector(`${x} .comment-reply-form`, { state: "detached", timeout: WAIT })
  await old.click(`${x} .comment-reply-open`)
  check((await old.inputValue(`${x} .comment-reply-text`)) === "", "a cancelled draft is gone")
  await old.keyboard.press("Escape")
  await waitState(old, "saved")

  check(errors.length === 0, `no script errors: ${errors.join("; ")}`)
  console.log(JSON.stringify({ ok: true, id, comment: COMMENT, reply: REPLY, notes: ended }))
} catch (e) {
  console.error(`comments test failed: ${e.stack ?? e}`)
  for (const ctx of browser.contexts()) {
    for (const p of ctx.pages()) await p.screenshot({ path: `${shots}/comments-failure-${Date.now()}.png`, fullPage: true }).catch(() => {})
  }
  process.exitCode = 1
} finally {
  await browser.close()
}

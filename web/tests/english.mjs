// The interface in English, in a real Chromium. A maintainer whose browser
// asks for French chooses English on the wiki's login page (the choice is
// kept in a cookie) and walks the editor's home and a page's editor (its
// preview's task list included), then the wiki's pages a maintainer opens:
// a page with unpublished changes and its buttons, its history, recent
// changes, the audit log, the files, a deletion's question, minutes' draft,
// a missing page. An anonymous reader whose phone asks for English reads the
// index, the page (its task list), its history, a tag and a search. Every
// screen has `lang="en"`, English header and buttons, no French interface
// string (the content is written in English, so any French is the
// interface's), and dates written in English where it shows one. Choosing
// French in the editor brings the wiki back to French. Run by the server's
// Rust test `browser::the_interface_speaks_english_once_chosen_in_chromium`.
//
//   node tests/english.mjs BASE_URL SCREENSHOT_DIR PAGE_SLUG PAGE_ID
//
// Prints one JSON line: { "pages": N } (how many screens were read).

import { WAIT, PASSWORD, check, launch } from "./harness.mjs"
import { mkdirSync } from "node:fs"

const [base, shots, slug, pageId] = process.argv.slice(2)
mkdirSync(shots, { recursive: true })

// French words and marks no English sentence of the interface holds.
const FRENCH = [
  /[àâçéèêëîïôûùœ«»]/i,
  /\b(le|la|les|des|du|une|et|ou|pour|par|avec|sans|dans|sur|aux|au|est|sont|ce|cette|ces|qui|que|pas|plus|vous|nous|aucun|aucune|fait|faire|modifier|voir|retour|ajouter|rechercher|fichiers?|lien|envoyer|annuler|oui|non|publier|supprimer|mardi|jeudi|lundi)\b/i,
  /\b(janvier|février|mars|avril|mai|juin|juillet|août|septembre|octobre|novembre|décembre)\b/i,
]
const ENGLISH_DATE = /\b\d{1,2} (January|February|March|April|May|June|July|August|September|October|November|December) \d{4} at \d{2}:\d{2}\b/
// What the wiki's header says on every page, in English.
const HEADER = ["Pages", "Tags", "Recent changes", "Search the wiki", "Search", "Français"]

/** Everything the page says in English (what is marked in another language,
 * such as the switch to "Français", is left out): its text, and what it says
 * to screen readers and in tooltips. */
const said = (page) =>
  page.evaluate(() => {
    const english = (el) => (el.closest("[lang]")?.getAttribute("lang") ?? "en").startsWith("en")
    const parts = [document.title]
    const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT)
    for (let n = walker.nextNode(); n; n = walker.nextNode()) {
      const el = n.parentElement
      if (el && english(el) && !el.closest("script, style")) parts.push(n.textContent.trim())
    }
    for (const el of document.querySelectorAll("[aria-label], [title], [placeholder], [alt], input[type=submit][value]")) {
      if (!english(el)) continue
      for (const a of ["aria-label", "title", "placeholder", "alt", "value"]) if (el.getAttribute(a)) parts.push(el.getAttribute(a))
    }
    return parts.filter(Boolean).join("\n")
  })

let pages = 0
/** The screen speaks English: `lang`, no French, the wiki's header (`wiki`),
 * a date in English (`date`) and these words (`shows`); then its screenshot. */
async function speaksEnglish(page, name, { date = false, wiki = true, shows = [] } = {}) {
  check((await page.getAttribute("html", "lang")) === "en", `${name}: lang=en`)
  const text = await said(page)
  for (const re of FRENCH) {
    const line = text.split("\n").find((l) => re.test(l))
    check(line === undefined, `${name} (${page.url()}) says in French: ${JSON.stringify(line)} (${re})`)
  }
  if (date) check(ENGLISH_DATE.test(text), `${name}: a date in English: ${JSON.stringify(text.slice(0, 1500))}`)
  const header = wiki ? ((await page.textContent("header.site", { timeout: WAIT })) ?? "") : ""
  for (const w of wiki ? HEADER : []) check(header.includes(w), `${name}: the header says ${JSON.stringify(w)}: ${JSON.stringify(header)}`)
  const body = (await page.textContent("body")) ?? ""
  for (const w of shows) check(body.includes(w), `${name}: shows ${JSON.stringify(w)}`)
  await page.screenshot({ path: `${shots}/en-${String(++pages).padStart(2, "0")}-${name}.png`, fullPage: true })
}

/** The page's task list, as screen readers name its boxes. */
const taskBoxes = (page) => page.$$eval("article input[type=checkbox]", (boxes) => boxes.map((b) => `${b.checked}:${b.getAttribute("aria-label")}`))

const browser = await launch()
const errors = []
try {
  const context = await browser.newContext({ locale: "fr-FR", viewport: { width: 1200, height: 900 } })
  const page = await context.newPage()
  page.on("pageerror", (e) => errors.push(e.message))

  // The wiki in French, as the browser asks; "English" on the login page.
  await page.goto(`${base}/login?next=/edit`)
  check((await page.getAttribute("html", "lang")) === "fr", "French first")
  await Promise.all([page.waitForURL(/lang=en/, { timeout: WAIT }), page.click("header a.lang")])
  await speaksEnglish(page, "login", { shows: ["Account name", "Password", "Log in"] })
  await page.fill("#name", "camille")
  await page.fill("#password", PASSWORD)
  await Promise.all([page.waitForURL(`${base}/edit`, { timeout: WAIT }), page.press("#password", "Enter")])

  // The editor: its lists, then the page with its preview and timeslider.
  await page.waitForSelector("#minutes-list li a", { timeout: WAIT })
  await speaksEnglish(page, "editor-home", { wiki: false })
  await page.goto(`${base}/edit/${pageId}`)
  await page.waitForSelector(".cm-content", { timeout: WAIT })
  await page.waitForFunction(() => document.querySelector("#status")?.dataset.state === "saved", null, { timeout: WAIT })
  await page.waitForSelector("#preview input[type=checkbox]", { timeout: WAIT })
  const preview = await page.$$eval("#preview input[type=checkbox]", (boxes) => boxes.map((b) => b.getAttribute("aria-label")))
  check(JSON.stringify(preview) === JSON.stringify(["to do", "done"]), `the preview's task boxes: ${JSON.stringify(preview)}`)
  await page.click("#timeslider-toggle")
  await page.waitForSelector("#timeslider-when[data-authors]", { timeout: WAIT })
  await speaksEnglish(page, "page-editor", { wiki: false })

  // The wiki a maintainer sees, kept in English from page to page by the cookie.
  for (const [path, name, options] of [
    [`/wiki/${slug}`, "page", { date: true, shows: ["This page has unpublished changes.", "Publish the changes", "Unpublish", "Delete", "Published on"] }],
    [`/wiki/${slug}/history`, "history", { date: true, shows: ["Editing sessions", "published version"] }],
    ["/recent", "recent", { date: true }],
    ["/audit", "audit", { date: true, shows: ["Audit log", "When", "Who", "What"] }],
    ["/files", "files", { date: true, shows: ["Used by", "Garden"] }],
    [`/wiki/${slug}/delete`, "delete-question", { shows: ["Delete this page?", "“Garden”", "Yes, delete", "Cancel"] }],
    ["/wiki/thursday-meeting", "minutes-draft", { shows: ["Participants", "Decisions", "to do:", "Prepare the next meeting"] }],
  ]) {
    const r = await page.goto(`${base}${path}`)
    check(r.status() === 200, `${path}: ${r.status()}`)
    if (name === "page") {
      const boxes = await taskBoxes(page)
      check(JSON.stringify(boxes) === JSON.stringify(["false:to do", "true:done"]), `the maintainer's task boxes: ${JSON.stringify(boxes)}`)
    }
    await speaksEnglish(page, name, options)
  }
  const missing = await page.goto(`${base}/wiki/nowhere`)
  check(missing.status() === 404, "a missing page")
  await speaksEnglish(page, "not-found", { shows: ["Page not found"] })

  // An anonymous reader whose phone asks for English.
  const phone = await browser.newContext({ locale: "en-GB", viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true })
  const reader = await phone.newPage()
  reader.on("pageerror", (e) => errors.push(`reader: ${e.message}`))
  for (const [path, name, options] of [
    ["/wiki", "reader-index", { shows: ["Garden"] }],
    [`/wiki/${slug}`, "reader-page", { date: true, shows: ["Published on", "Credits and licence", "Download as Markdown"] }],
    [`/wiki/${slug}/history`, "reader-history", { date: true, shows: ["Editing sessions"] }],
    ["/tags/garden", "reader-tag", { shows: ["Garden"] }],
    ["/search?q=tomatoes", "reader-search", { shows: ["Results for", "Garden"] }],
  ]) {
    const r = await reader.goto(`${base}${path}`)
    check(r.status() === 200, `${path}: ${r.status()}`)
    if (name === "reader-page") {
      const boxes = await taskBoxes(reader)
      check(JSON.stringify(boxes) === JSON.stringify(["false:to do", "true:done"]), `the reader's task boxes: ${JSON.stringify(boxes)}`)
      const wide = await reader.evaluate(() => document.documentElement.scrollWidth)
      check(wide <= 390, `nothing wider than the phone: ${wide} px`)
    }
    await speaksEnglish(reader, name, options)
  }
  await phone.close()

  // French chosen in the editor: the wiki speaks French again.
  await page.goto(`${base}/edit`)
  await page.waitForSelector("#minutes-list li a", { timeout: WAIT })
  await page.click("header button.lang")
  await page.waitForFunction(() => document.documentElement.lang === "fr", null, { timeout: WAIT })
  await page.goto(`${base}/wiki/${slug}`)
  check((await page.getAttribute("html", "lang")) === "fr", "the wiki follows the editor's choice")
  check((await page.textContent("header")).includes("Étiquettes"), "the wiki's header in French")
  const boxes = await taskBoxes(page)
  check(JSON.stringify(boxes) === JSON.stringify(["false:à faire", "true:fait"]), `the task boxes in French: ${JSON.stringify(boxes)}`)
  check(errors.length === 0, `no page errors: ${errors.join("; ")}`)
  await context.close()
} finally {
  await browser.close()
}
console.log(JSON.stringify({ pages }))

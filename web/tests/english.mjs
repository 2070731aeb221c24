// The interface in English, in a real Chromium whose browser asks for French:
// a maintainer chooses English on the wiki's login page (the choice is kept
// in a cookie) and walks the wiki (pages, history, recent changes, tags,
// search, the audit log, the files, a deletion's question), the editor's
// lists and a page's and the minutes' editors. No French interface string is
// left (the content is written in English, so any French is the interface's),
// and dates are written in English. Choosing French in the editor brings the
// wiki back to French. Run by the server's Rust test
// `browser::the_interface_speaks_english_once_chosen_in_chromium`.
//
//   node tests/english.mjs BASE_URL SCREENSHOT_DIR PAGE_SLUG PAGE_ID MINUTES_ID
//
// Prints one JSON line: { "pages": N } (how many screens were read).

import { WAIT, PASSWORD, check, launch } from "./harness.mjs"
import { mkdirSync } from "node:fs"

const [base, shots, slug, pageId, minutesId] = process.argv.slice(2)
mkdirSync(shots, { recursive: true })

// French words and marks no English sentence of the interface holds.
const FRENCH = [
  /[àâçéèêëîïôûùœ«»]/i,
  /\b(le|la|les|des|du|une|et|ou|pour|par|avec|sans|dans|sur|aux|au|est|sont|ce|cette|ces|qui|que|pas|plus|vous|nous|aucun|aucune|fait|modifier|voir|retour|ajouter|rechercher|fichiers?|lien|envoyer|annuler|oui|non|mardi|jeudi|lundi)\b/i,
  /\b(janvier|février|mars|avril|mai|juin|juillet|août|septembre|octobre|novembre|décembre)\b/i,
]
const ENGLISH_DATE = /\b\d{1,2} (January|February|March|April|May|June|July|August|September|October|November|December) \d{4} at \d{2}:\d{2}\b/

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
    for (const el of document.querySelectorAll("[aria-label], [title], [placeholder], [alt]")) {
      if (!english(el)) continue
      for (const a of ["aria-label", "title", "placeholder", "alt"]) if (el.getAttribute(a)) parts.push(el.getAttribute(a))
    }
    return parts.filter(Boolean).join("\n")
  })

let pages = 0
async function speaksEnglish(page, name, { date = false } = {}) {
  check((await page.getAttribute("html", "lang")) === "en", `${name}: lang=en`)
  const text = await said(page)
  for (const re of FRENCH) {
    const line = text.split("\n").find((l) => re.test(l))
    check(line === undefined, `${name} (${page.url()}) says in French: ${JSON.stringify(line)} (${re})`)
  }
  if (date) check(ENGLISH_DATE.test(text), `${name}: a date in English: ${JSON.stringify(text.slice(0, 1500))}`)
  await page.screenshot({ path: `${shots}/en-${String(++pages).padStart(2, "0")}-${name}.png`, fullPage: true })
}

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
  await speaksEnglish(page, "login")
  await page.fill("#name", "camille")
  await page.fill("#password", PASSWORD)
  await Promise.all([page.waitForURL(`${base}/edit`, { timeout: WAIT }), page.press("#password", "Enter")])

  // The editor: its lists, then a page and the minutes, their tools open.
  await page.waitForSelector("#minutes-list li a", { timeout: WAIT })
  await speaksEnglish(page, "editor-home")
  for (const [id, name, minutes] of [
    [pageId, "page-editor", false],
    [minutesId, "minutes-editor", true],
  ]) {
    await page.goto(`${base}/edit/${id}`)
    await page.waitForSelector(".cm-content", { timeout: WAIT })
    await page.waitForFunction(() => document.querySelector("#status")?.dataset.state === "saved", null, { timeout: WAIT })
    // A page shows its preview beside the text; minutes on demand.
    if (minutes) {
      await page.click("#preview-toggle")
      await page.waitForSelector("#preview-toggle[aria-pressed=true]", { timeout: WAIT })
    }
    await page.waitForSelector("#preview :is(p, ul, h2)", { timeout: WAIT })
    await page.click("#timeslider-toggle")
    await page.waitForSelector("#timeslider-toggle[aria-expanded=true]", { timeout: WAIT })
    await page.waitForSelector("#timeslider-when[data-authors]", { timeout: WAIT })
    await speaksEnglish(page, name)
  }

  // The wiki, kept in English from page to page by the cookie.
  for (const [path, name, date] of [
    ["/wiki", "index", false],
    [`/wiki/${slug}`, "page", true],
    [`/wiki/${slug}/history`, "history", true],
    ["/recent", "recent", true],
    ["/tags", "tags", false],
    ["/tags/garden", "tag", false],
    ["/search?q=tomatoes", "search", false],
    ["/audit", "audit", true],
    ["/files", "files", true],
    [`/wiki/${slug}/delete`, "delete-question", false],
    ["/wiki/thursday-meeting", "minutes-draft", false],
  ]) {
    const r = await page.goto(`${base}${path}`)
    check(r.status() === 200, `${path}: ${r.status()}`)
    await speaksEnglish(page, name, { date })
  }
  const session = page.locator("ol.history a[href*='session=']").first()
  await page.goto(`${base}/wiki/${slug}/history`)
  await Promise.all([page.waitForURL(/session=/, { timeout: WAIT }), session.click()])
  await speaksEnglish(page, "history-session")
  const missing = await page.goto(`${base}/wiki/nowhere`)
  check(missing.status() === 404, "a missing page")
  await speaksEnglish(page, "not-found")

  // French chosen in the editor: the wiki speaks French again.
  await page.goto(`${base}/edit`)
  await page.waitForSelector("#minutes-list li a", { timeout: WAIT })
  await page.click("header button.lang")
  await page.waitForFunction(() => document.documentElement.lang === "fr", null, { timeout: WAIT })
  await page.goto(`${base}/wiki/${slug}`)
  check((await page.getAttribute("html", "lang")) === "fr", "the wiki follows the editor's choice")
  check((await page.textContent("header")).includes("Étiquettes"), "the wiki's header in French")
  check(errors.length === 0, `no page errors: ${errors.join("; ")}`)
  await context.close()
} finally {
  await browser.close()
}
console.log(JSON.stringify({ pages }))

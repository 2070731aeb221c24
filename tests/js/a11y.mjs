// Accessibility of every reader and editor page, checked by axe-core in
// Debian's Chromium (driven by playwright-core, installed with the web
// editor's test packages). Run by the server's Rust test `a11y`, which starts
// a server with the sample wiki.
//
//   node tests/js/a11y.mjs BASE_URL SCREENSHOT_DIR PAGES_JSON
//
// PAGES_JSON: { "reader": ["/wiki", …], "maintainer": [...], "editor": ["/edit", …],
// "setup": URL, "name": …, "password": … }.
// Each page is opened at 1200 px and at 390 px, in French and in English (the
// language chosen as a reader chooses it: its cookie); the maintainer's and
// the editor's pages logged in, and the editor's home with "Nouvelle page"
// open. Each page must speak the language asked (its lang attribute).
// Prints one JSON line: { "checked": N, "violations": [...] } with every
// serious or critical violation (rule, impact, page, width, language, the elements).

import { createRequire } from "node:module"
import { mkdirSync, readFileSync } from "node:fs"
import { fileURLToPath } from "node:url"

const here = fileURLToPath(new URL(".", import.meta.url))
const { chromium } = createRequire(`${here}../../web/package.json`)("playwright-core")
const axeSource = readFileSync(`${here}node_modules/axe-core/axe.min.js`, "utf8")

const [base, shots, pagesJson] = process.argv.slice(2)
const pages = JSON.parse(pagesJson)
mkdirSync(shots, { recursive: true })
// Waits for events, never for time: each wait fails after this long.
const WAIT = 15000
const WIDTHS = [
  { name: "desktop", width: 1200, height: 900 },
  { name: "phone", width: 390, height: 844 },
]

const browser = await chromium.launch({
  executablePath: "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
})
const violations = []
let checked = 0

// The editor's pages are ready when their main content is drawn.
const READY = {
  "/edit": "#minutes-list",
  doc: ".cm-content",
}

async function check(page, path, width, lang) {
  const said = await page.evaluate(() => document.documentElement.lang)
  if (said !== lang) throw new Error(`${path} at ${width} px speaks ${JSON.stringify(said)}, not ${lang}`)
  // Injected through the debugging protocol, which the pages' CSP (no scripts
  // at all on reader pages) does not govern: the pages are tested as served.
  await page.evaluate(axeSource)
  const result = await page.evaluate(() =>
    // eslint-disable-next-line no-undef
    axe.run(document, { resultTypes: ["violations"] }),
  )
  for (const v of result.violations) {
    if (v.impact !== "serious" && v.impact !== "critical") continue
    violations.push({
      rule: v.id,
      impact: v.impact,
      page: path,
      width,
      lang,
      help: v.help,
      nodes: v.nodes.slice(0, 5).map((n) => ({ target: n.target.join(" "), html: n.html.slice(0, 200), why: n.failureSummary })),
    })
  }
  checked += 1
}

const slug = (path) => path.replace(/^https?:\/\/[^/]+/, "").replace(/[^a-z0-9]+/gi, "-").replace(/^-|-$/g, "") || "root"

async function open(page, url, path) {
  const r = await page.goto(url)
  if (!r || r.status() !== 200) throw new Error(`${path}: status ${r && r.status()}`)
}

for (const lang of ["fr", "en"]) {
  for (const w of WIDTHS) {
    const context = await browser.newContext({ locale: "fr-FR", viewport: { width: w.width, height: w.height } })
    const cookie = { name: "cahier_lang", value: lang }
    await context.addCookies([{ ...cookie, url: base }, { ...cookie, url: pages.setup }])
    const page = await context.newPage()
    const shot = (path) => page.screenshot({ path: `${shots}/${lang}-${w.name}-${slug(path)}.png`, fullPage: true })
    for (const path of pages.reader) {
      await open(page, `${base}${path}`, path)
      await check(page, path, w.width, lang)
      await shot(path)
    }
    await open(page, pages.setup, "/setup")
    await check(page, "/setup", w.width, lang)
    await shot("/setup")
    // Logged in, the maintainer's pages and the editor's.
    await page.goto(`${base}/login?next=/edit`)
    await page.fill("#name", pages.name)
    await page.fill("#password", pages.password)
    await Promise.all([page.waitForURL(`${base}/edit`), page.press("#password", "Enter")])
    for (const path of pages.maintainer) {
      await open(page, `${base}${path}`, path)
      await check(page, path, w.width, lang)
      await shot(path)
    }
    for (const path of pages.editor) {
      await page.goto(`${base}${path}`)
      await page.waitForSelector(READY[path] ?? READY.doc, { timeout: WAIT })
      await check(page, path, w.width, lang)
      await shot(path)
    }
    // "Nouvelle page" with a template: the choice, open.
    await page.goto(`${base}/edit`)
    await page.waitForSelector("#new-page[aria-expanded=false]", { timeout: WAIT })
    await page.click("#new-page")
    await page.waitForSelector("#new-page-choices:not([hidden]) .from-template", { timeout: WAIT })
    await check(page, "/edit (new page choice)", w.width, lang)
    await shot("/edit-new-page")
    await context.close()
  }
}
await browser.close()
console.log(JSON.stringify({ checked, violations }))

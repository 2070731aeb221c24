// The wiki as a maintainer and a reader meet it, in a real Chromium: a page
// template chosen under "Nouvelle page"; a published page edited, seen to
// have unpublished changes, republished in one click, its history read
// (sessions, the published marker, a session's words); an anonymous reader
// on a 390 px phone reading the page and its history; the page deleted
// (asked first, undo offered) and brought back; the page's photo in the
// maintainers' list of files, deleted by keyboard after the question. Run by the server's Rust test
// `browser::a_maintainer_and_a_reader_walk_through_the_wiki_in_chromium`,
// which made the page and the template and checks what the server stored.
//
//   node tests/wiki.mjs BASE_URL SCREENSHOT_DIR PAGE_ID PAGE_SLUG TEMPLATE_ID
//
// Prints one JSON line: the id of the page made from the template.

import { WAIT, check, launch, logIn, waitState } from "./harness.mjs"
import { mkdirSync } from "node:fs"

const [base, shots, pageId, slug, templateId] = process.argv.slice(2)
mkdirSync(shots, { recursive: true })
const browser = await launch()
const errors = []
const shot = (page, name) => page.screenshot({ path: `${shots}/${name}.png`, fullPage: true })
const text = (page, selector = "body") => page.textContent(selector, { timeout: WAIT })
const sees = async (page, what, selector = "body") => {
  const got = (await text(page, selector)) ?? ""
  check(got.includes(what), `${page.url()} shows ${JSON.stringify(what)}: ${JSON.stringify(got.slice(0, 2000))}`)
}
const seesNot = async (page, what, selector = "body") => {
  const got = (await text(page, selector)) ?? ""
  check(!got.includes(what), `${page.url()} does not show ${JSON.stringify(what)}`)
}
const added = "Les enfants arrosent le potager le mardi."
let made
try {
  const { page } = await logIn(browser, base, "camille", errors)

  // 1. A template: ticked in its editor, then offered by "Nouvelle page".
  await page.goto(`${base}/edit/${templateId}`)
  await page.waitForSelector("#template-toggle", { timeout: WAIT })
  check(!(await page.isChecked("#template-toggle")), "not a template yet")
  await page.check("#template-toggle")
  await page.waitForFunction(() => /proposé par « Nouvelle page »/.test(document.querySelector("#template-state")?.textContent ?? ""), null, { timeout: WAIT })
  await shot(page, "01-template-ticked")
  await page.goto(`${base}/edit`)
  await page.waitForSelector("#new-page[aria-expanded=false]", { timeout: WAIT })
  await page.click("#new-page")
  await page.waitForSelector("#new-page-choices:not([hidden])", { timeout: WAIT })
  await sees(page, "Page vide", "#new-page-choices")
  await sees(page, "À partir du modèle : Fiche d’atelier", "#new-page-choices")
  check(await page.evaluate(() => document.activeElement?.id === "new-blank-page"), "the first choice has the focus")
  await shot(page, "02-new-page-choices")
  await Promise.all([page.waitForURL(/\/edit\/(?!$)[^/]+$/, { timeout: WAIT }), page.click("text=À partir du modèle : Fiche d’atelier")])
  made = page.url().split("/edit/")[1]
  check(made && made !== templateId, `a new document: ${made}`)
  await page.waitForFunction(() => document.querySelector(".cm-content")?.textContent?.includes("Matériel"), null, { timeout: WAIT })
  check(await page.evaluate(() => document.activeElement?.id === "title"), "the new page starts at its title")
  check((await page.inputValue("#tags")) === "atelier", "the template's tags")
  await page.keyboard.type("Atelier vélo")
  await page.waitForFunction(() => document.querySelector("#slug")?.value === "atelier-velo", null, { timeout: WAIT })
  await waitState(page, "saved")
  await shot(page, "03-page-from-template")

  // 2. The published page, edited: the wiki says it has unpublished changes.
  await page.goto(`${base}/edit/${pageId}`)
  await page.waitForSelector(".cm-content", { timeout: WAIT })
  await page.click(".cm-content")
  await page.keyboard.press("Control+End")
  await page.keyboard.press("Enter")
  await page.keyboard.press("Enter")
  await page.keyboard.type(added)
  await waitState(page, "saved")
  await sees(page, "Voir la page publique", "#publication")
  await page.goto(`${base}/wiki/${slug}`)
  await sees(page, "Cette page a des modifications non publiées.", "main")
  await seesNot(page, added, "article")
  await shot(page, "04-unpublished-changes")
  // Republished in one click.
  // (The address stays the same: wait for the republished text itself.)
  await page.click("text=Publier les modifications")
  await page.waitForSelector(`article >> text=${added}`, { timeout: WAIT })
  await seesNot(page, "modifications non publiées", "main")
  await shot(page, "05-republished")

  // 3. Its history: sessions, the published marker, a session's words.
  await Promise.all([page.waitForURL(`${base}/wiki/${slug}/history`, { timeout: WAIT }), page.click("main a[href$='/history']")])
  await sees(page, "Sessions d’écriture", "main")
  await sees(page, "Version publiée le", "main")
  const newest = page.locator("ol.history > li").first()
  check((await newest.textContent()).includes("camille"), `the newest session is camille's: ${await newest.textContent()}`)
  check((await newest.textContent()).includes("version publiée"), `the newest session is the published one: ${await newest.textContent()}`)
  await shot(page, "06-history")
  await Promise.all([page.waitForURL(/history\?session=/, { timeout: WAIT }), newest.locator("text=ce qu’elle a changé").click()])
  const ins = (await page.locator(".diff ins").allTextContents()).join(" ")
  check(ins.includes("arrosent le potager"), `the session's words are marked as added: ${ins}`)
  await shot(page, "07-session-diff")

  // 4. An anonymous reader on a phone: the page and its history.
  const phone = await browser.newContext({ locale: "fr-FR", viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true })
  const reader = await phone.newPage()
  reader.on("pageerror", (e) => errors.push(`reader: ${e.message}`))
  const opened = await reader.goto(`${base}/wiki/${slug}`)
  check(opened.status() === 200, `the reader gets the page: ${opened.status()}`)
  await sees(reader, added, "article")
  await seesNot(reader, "modifications non publiées")
  await seesNot(reader, "Supprimer")
  const wide = await reader.evaluate(() => document.documentElement.scrollWidth)
  check(wide <= 390, `nothing wider than the phone: ${wide} px`)
  await shot(reader, "08-reader-page-390")
  await Promise.all([reader.waitForURL(`${base}/wiki/${slug}/history`, { timeout: WAIT }), reader.click("main a[href$='/history']")])
  await sees(reader, "Sessions d’écriture", "main")
  await sees(reader, "version publiée", "main")
  await seesNot(reader, "Restaurer", "main")
  check((await reader.evaluate(() => document.documentElement.scrollWidth)) <= 390, "the history fits the phone")
  await shot(reader, "09-reader-history-390")

  // 5. Deleted, asked first; undo offered; back for readers too.
  await page.goto(`${base}/wiki/${slug}`)
  await Promise.all([page.waitForURL(`${base}/wiki/${slug}/delete`, { timeout: WAIT }), page.click("main a.danger")])
  await sees(page, "Supprimer cette page ?", "main")
  await sees(page, "« Le jardin »", "main")
  await shot(page, "10-delete-asked")
  check((await reader.goto(`${base}/wiki/${slug}`)).status() === 200, "nothing deleted before the answer")
  await Promise.all([page.waitForURL(`${base}/wiki/${slug}/deleted`, { timeout: WAIT }), page.click("text=Oui, supprimer")])
  await sees(page, "« Le jardin » est supprimée", "main")
  await sees(page, "Annuler la suppression", "main")
  await shot(page, "11-deleted-undo-offered")
  // A reader who opens it now (the first one's browser may keep its copy
  // for the minute the page's Cache-Control allows).
  const status = async () => {
    const other = await browser.newContext({ locale: "fr-FR" })
    const r = await (await other.newPage()).goto(`${base}/wiki/${slug}`)
    const got = r.status()
    await other.close()
    return got
  }
  check((await status()) === 404, "readers no longer see it")
  await Promise.all([page.waitForURL(`${base}/wiki/${slug}`, { timeout: WAIT }), page.click("#undo-delete")])
  await sees(page, added, "article")
  await shot(page, "12-undone")
  check((await status()) === 200, "readers see it again")
  await phone.close()

  // 6. The files, by keyboard alone: the page's photo listed with the page
  // that shows it, deleted after the question says it is still used.
  await page.goto(`${base}/files`)
  const row = page.locator("table.files tbody tr").first()
  check((await row.textContent()).includes("Le jardin"), `the photo is used by the page: ${await row.textContent()}`)
  check((await row.textContent()).includes("JPEG"), "its type")
  await shot(page, "13-files")
  const tabTo = async (selector) => {
    for (let i = 0; i < 60; i++) {
      await page.keyboard.press("Tab")
      if (await page.evaluate((s) => document.activeElement?.matches(s), selector)) return
    }
    throw new Error(`Tab never reaches ${selector}`)
  }
  await tabTo("table.files a.danger")
  await Promise.all([page.waitForURL(/\/files\/[0-9a-f]{64}\.jpg\/delete$/, { timeout: WAIT }), page.keyboard.press("Enter")])
  await sees(page, "Supprimer ce fichier ?", "main")
  await sees(page, "encore utilisé", "#still-used")
  await sees(page, "Le jardin", "#still-used")
  await shot(page, "14-file-delete-asked")
  await tabTo("main button.danger")
  await Promise.all([page.waitForURL(/\/files\?deleted=/, { timeout: WAIT }), page.keyboard.press("Enter")])
  await sees(page, "est supprimé", "main [role=status]")
  check((await page.locator("table.files").count()) === 0, "no file left")
  await sees(page, "Aucun fichier.", "main")
  await shot(page, "15-file-deleted")
  check(errors.length === 0, `no page errors: ${errors.join("; ")}`)
} finally {
  await browser.close()
}
console.log(JSON.stringify({ made }))

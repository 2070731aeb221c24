// The editor in a real browser (Debian's Chromium, driven by playwright-core)
// against a real `cahier serve`. Run by the server's Rust test `browser`, which
// starts the server, then checks what the server stored.
//
//   node tests/browser.mjs BASE_URL SCREENSHOT_DIR
//
// Accounts (made by the Rust test): camille (maintainer), lea (editor), both
// with the password "un mot de passe long". Prints one JSON line with what the
// Rust side must find in the store.

import { WAIT, check, launch, logIn, waitState } from "./harness.mjs"
import { generateAutomergeUrl } from "@automerge/automerge-repo/slim"
import { mkdirSync } from "node:fs"

const [base, shots] = process.argv.slice(2)
mkdirSync(shots, { recursive: true })

const browser = await launch()
const errors = []
let step = 0
async function shot(page, name, fullPage = true) {
  step += 1
  await page.screenshot({ path: `${shots}/${String(step).padStart(2, "0")}-${name}.png`, fullPage })
}
async function newUser(name, locale = "fr-FR") {
  const user = await logIn(browser, base, name, errors, { locale })
  await user.page.waitForSelector("#minutes-list", { timeout: WAIT })
  return user
}
const status = (page) => page.getAttribute("#status", "data-state")
// The notes as typed: CodeMirror's lines, without other people's cursor labels.
const notesOf = () => {
  const c = document.querySelector(".cm-content")?.cloneNode(true)
  if (!c) return ""
  c.querySelectorAll(".cm-remote-caret").forEach((el) => el.remove())
  return Array.from(c.querySelectorAll(".cm-line")).map((l) => l.textContent).join("\n")
}
const bodyText = (page) => page.evaluate(notesOf)
const waitNotes = (page, parts) =>
  page.waitForFunction(
    (parts) => {
      // Same as notesOf (the page's CSP forbids building functions from strings).
      const c = document.querySelector(".cm-content")?.cloneNode(true)
      if (!c) return false
      c.querySelectorAll(".cm-remote-caret").forEach((el) => el.remove())
      const text = Array.from(c.querySelectorAll(".cm-line")).map((l) => l.textContent).join("\n")
      return parts.every((p) => text.includes(p))
    },
    parts,
    { timeout: WAIT },
  )
// Waits until the notes are exactly `text`.
const waitText = (page, text) =>
  page.waitForFunction(
    (text) => {
      const c = document.querySelector(".cm-content")?.cloneNode(true)
      if (!c) return false
      c.querySelectorAll(".cm-remote-caret").forEach((el) => el.remove())
      return Array.from(c.querySelectorAll(".cm-line")).map((l) => l.textContent).join("\n") === text
    },
    text,
    { timeout: WAIT },
  )
// Waits until the notes are `length` characters long (every keystroke arrived).
const waitLength = (page, length) =>
  page.waitForFunction(
    (length) => {
      const c = document.querySelector(".cm-content")?.cloneNode(true)
      if (!c) return false
      c.querySelectorAll(".cm-remote-caret").forEach((el) => el.remove())
      return Array.from(c.querySelectorAll(".cm-line")).map((l) => l.textContent).join("\n").length === length
    },
    length,
    { timeout: WAIT },
  )
// Where people type together: the notes (CodeMirror), or a text input.
const notesField = {
  name: "the notes",
  text: bodyText,
  waitText,
  waitLength,
  focus: async (page) => {
    await page.click(".cm-content")
    await page.keyboard.press("Control+End")
  },
}
const inputField = (selector) => ({
  name: selector,
  text: (page) => page.inputValue(selector),
  waitText: (page, text) => page.waitForFunction(([sel, text]) => document.querySelector(sel)?.value === text, [selector, text], { timeout: WAIT }),
  waitLength: (page, n) => page.waitForFunction(([sel, n]) => document.querySelector(sel)?.value.length === n, [selector, n], { timeout: WAIT }),
  focus: async (page) => {
    await page.click(selector)
    await page.keyboard.press("End")
  },
})
/** Several people put their caret at the very end of a field and type there
 * at once, one key each in turn; checks that every screen then shows the same
 * text with each person's phrase in one piece, and returns that text. */
async function typeAtTheSameSpot(typists, field = notesField) {
  const start = await field.text(typists[0].page)
  for (const { page } of typists) await field.waitText(page, start)
  for (const { page } of typists) await field.focus(page)
  const longest = Math.max(...typists.map((t) => t.phrase.length))
  for (let i = 0; i < longest; i++) {
    for (const { page, phrase } of typists) {
      if (i < phrase.length) await page.keyboard.type(phrase[i])
    }
  }
  const length = start.length + typists.reduce((n, t) => n + t.phrase.length, 0)
  for (const { page } of typists) await field.waitLength(page, length)
  const texts = await Promise.all(typists.map(({ page }) => field.text(page)))
  check(texts.every((t) => t === texts[0]), `all screens show the same text in ${field.name}: ${JSON.stringify(texts)}`)
  for (const { phrase } of typists) check(texts[0].includes(phrase), `"${phrase}" is whole in ${field.name}: ${JSON.stringify(texts[0].slice(start.length))}`)
  return texts[0]
}
/** "Présents" on this page: each person once (guests marked "(invité·e)"),
 * ourselves once marked "(vous)"; one caret for each other person, none
 * labelled with our own name. */
async function checkPresence(page, me, others) {
  const nameOf = (label) => label.replace(/ \(invité·e\)$/, "")
  await page.waitForFunction(
    (names) => {
      const items = Array.from(document.querySelectorAll("#presence-list li")).map((li) => li.textContent.trim())
      return names.every((n) => items.includes(n))
    },
    [`${me} (vous)`, ...others],
    { timeout: WAIT },
  )
  for (const other of others) await page.waitForSelector(`.cm-remote-caret[data-name="${nameOf(other)}"]`, { timeout: WAIT })
  const items = await page.$$eval("#presence-list li", (lis) => lis.map((li) => li.textContent.trim()))
  check(new Set(items).size === items.length && !items.includes(me), `"Présents" lists each person once, ${me} as "${me} (vous)": ${JSON.stringify(items)}`)
  const carets = await page.$$eval(".cm-remote-caret", (els) => els.map((el) => el.dataset.name))
  check(!carets.includes(nameOf(me)), `${me} sees no caret labelled with their own name: ${JSON.stringify(carets)}`)
  for (const other of others) check(carets.filter((n) => n === nameOf(other)).length === 1, `${me} sees one caret of ${other}: ${JSON.stringify(carets)}`)
}
/** Presses Tab until the element with this id has the focus (a date-time input
 * takes several Tabs, one per part). */
async function tabTo(page, id) {
  for (let i = 0; i < 40; i++) {
    if (await page.evaluate((x) => document.activeElement?.id === x, id)) return
    await page.keyboard.press("Tab")
  }
  throw new Error(`#${id} cannot be reached with Tab`)
}
try {
  // 0. A published page holding every payload of an injection corpus: nothing runs.
  {
    const context = await browser.newContext()
    const page = await context.newPage()
    const ran = []
    page.on("dialog", async (d) => {
      ran.push(`dialog: ${d.message()}`)
      await d.dismiss()
    })
    await page.exposeFunction("__cahierPwned", (x) => ran.push(`called: ${x}`))
    const r = await page.goto(`${base}/wiki/injections`)
    check(r.status() === 200, "the injection page is published")
    await page.waitForLoadState("load")
    const scripts = await page.evaluate(() => document.querySelectorAll("script, iframe, object, embed").length)
    const handlers = await page.evaluate(() =>
      Array.from(document.querySelectorAll("*")).filter((el) => Array.from(el.attributes).some((a) => a.name.startsWith("on"))).length,
    )
    const badUrls = await page.evaluate(() =>
      Array.from(document.querySelectorAll("[href], [src]")).filter((el) => /^\s*(javascript|vbscript|data):/i.test(el.getAttribute("href") ?? el.getAttribute("src") ?? "")).length,
    )
    check(ran.length === 0 && scripts === 0 && handlers === 0 && badUrls === 0, `payloads ran or survived: ${JSON.stringify({ ran, scripts, handlers, badUrls })}`)
    await shot(page, "injections")
    await context.close()
  }

  // 1. French by default, English when the browser asks for it.
  const { context: cc, page: camille } = await newUser("camille", "fr-FR")
  check((await camille.getAttribute("html", "lang")) === "fr", "lang=fr")
  check((await camille.textContent("#new-minutes")) === "Nouveau compte rendu", "French labels")
  await shot(camille, "home-fr")
  const { context: ec, page: english } = await newUser("lea", "en-GB")
  check((await english.getAttribute("html", "lang")) === "en", "lang=en")
  check((await english.textContent("#new-minutes")) === "New minutes", "English labels")
  await shot(english, "home-en")
  await ec.close()

  // 2. New minutes, created and filled with the keyboard alone.
  await tabTo(camille, "new-minutes")
  await camille.keyboard.press("Enter")
  await camille.waitForSelector("#title:focus", { timeout: WAIT })
  await camille.keyboard.type("Webinaire du jeudi")
  await tabTo(camille, "place")
  await camille.keyboard.type("En ligne")
  await tabTo(camille, "facilitator")
  await camille.keyboard.type("Camille")
  await tabTo(camille, "participants-new")
  await camille.keyboard.type("Noé")
  await camille.keyboard.press("Enter")
  await camille.waitForSelector("#participants-list input", { timeout: WAIT })
  await waitState(camille, "saved")
  const url = camille.url()
  const docId = url.split("/edit/")[1]
  check(docId && docId.length > 10, "the editor's address names the document")
  await shot(camille, "keyboard-minutes")

  // 3. A second person opens the same minutes; both type in the notes at once.
  const { context: lc, page: lea } = await newUser("lea")
  await lea.goto(url)
  await lea.waitForSelector(".cm-content", { timeout: WAIT })
  // Each on a line of their own, then both type at the same time.
  await camille.click(".cm-content")
  await camille.keyboard.type("Camille : ")
  await waitNotes(lea, ["Camille : "])
  await lea.click(".cm-content")
  await lea.keyboard.press("Control+End")
  await lea.keyboard.press("Enter")
  await lea.keyboard.type("Léa : ")
  await waitNotes(camille, ["Léa : "])
  await camille.keyboard.press("Control+Home")
  await camille.keyboard.press("End")
  await lea.keyboard.press("Control+End")
  await Promise.all([camille.keyboard.type("Camille note ceci."), lea.keyboard.type("Léa ajoute cela.")])
  await lea.fill("#participants-new", "Zoé")
  await lea.press("#participants-new", "Enter")
  const same = async (page) => {
    const t = await bodyText(page)
    return t.includes("Camille : Camille note ceci.") && t.includes("Léa : Léa ajoute cela.")
  }
  await waitNotes(camille, ["Camille : Camille note ceci.", "Léa : Léa ajoute cela."])
  await waitNotes(lea, ["Camille : Camille note ceci.", "Léa : Léa ajoute cela."])
  await camille.waitForFunction(() => Array.from(document.querySelectorAll("#participants-list input")).some((i) => i.value === "Zoé"), null, { timeout: WAIT })
  check(await same(lea), "Léa sees both texts")
  check((await bodyText(camille)) === (await bodyText(lea)), "both show the same notes")
  await waitState(camille, "saved")
  await waitState(lea, "saved")

  // 3b. Authorship colours, as in Etherpad: off by default; switched on with
  // the keyboard, each person's text carries their colour and the legend
  // names both; what Léa adds next takes her colour a moment later.
  {
    const toggleLabel = await camille.$eval("#authors-toggle", (el) => el.labels?.[0]?.textContent?.trim() ?? "")
    check(toggleLabel === "Couleurs des auteurs", `the toggle is labelled: ${toggleLabel}`)
    check(!(await camille.isChecked("#authors-toggle")) && !(await camille.$(".cm-content .cm-author")), "authorship colours are off by default")
    await tabTo(camille, "authors-toggle")
    await camille.keyboard.press("Space")
    // Each person's text, by the colour key of the marks it is in.
    const byAuthor = () => {
      const out = {}
      for (const el of document.querySelectorAll(".cm-content .cm-author")) {
        const slot = Array.from(el.classList).find((c) => /^cm-author-\d$/.test(c))
        const k = `${el.dataset.author}|${slot}`
        out[k] = (out[k] ?? "") + el.textContent
      }
      return out
    }
    const legendOf = () => Object.fromEntries(Array.from(document.querySelectorAll("#authors-legend li")).map((li) => [li.dataset.author, li.textContent.trim()]))
    const waitAuthors = (page, wanted) =>
      page.waitForFunction(
        (wanted) => {
          const out = {}
          for (const el of document.querySelectorAll(".cm-content .cm-author")) out[el.dataset.author] = (out[el.dataset.author] ?? "") + el.textContent
          const legend = Object.fromEntries(Array.from(document.querySelectorAll("#authors-legend li")).map((li) => [li.textContent.trim(), li.dataset.author]))
          return wanted.every(([name, text]) => legend[name] && (out[legend[name]] ?? "").includes(text))
        },
        wanted,
        { timeout: WAIT },
      )
    await waitAuthors(camille, [
      ["camille", "Camille : Camille note ceci."],
      ["lea", "Léa : Léa ajoute cela."],
    ])
    const marks = await camille.evaluate(byAuthor)
    const legend = await camille.evaluate(legendOf)
    const keyOf = (name) => Object.keys(legend).find((k) => legend[k] === name)
    const groupOf = (name) => Object.entries(marks).find(([k]) => k.startsWith(`${keyOf(name)}|`))
    const [cKey, cText] = groupOf("camille") ?? []
    const [lKey, lText] = groupOf("lea") ?? []
    check(cKey && lKey && cKey.split("|")[1] !== lKey.split("|")[1], `camille and lea have colours of their own: ${JSON.stringify(marks)}`)
    check(!cText.includes("Léa ajoute") && !lText.includes("Camille note"), `nobody's text carries the other's colour: ${JSON.stringify(marks)}`)
    check(Object.keys(marks).length === 2 && Object.values(legend).sort().join() === "camille,lea", `two people, both in the legend: ${JSON.stringify({ marks, legend })}`)
    await lea.click(".cm-content")
    await lea.keyboard.press("Control+End")
    await lea.keyboard.type(" Merci.")
    await waitAuthors(camille, [
      ["camille", "Camille : Camille note ceci."],
      ["lea", "Léa ajoute cela. Merci."],
    ])
    await shot(camille, "authorship-colours", false)
    await camille.focus("#authors-toggle")
    await camille.keyboard.press("Space")
    await camille.waitForFunction(() => !document.querySelector(".cm-content .cm-author") && document.querySelector("#authors-legend")?.hidden, null, { timeout: WAIT })
    await waitState(lea, "saved")
  }

  // 4. Presence: names and cursors.
  await camille.waitForSelector('#presence-list li:has-text("lea")', { timeout: WAIT })
  await lea.waitForSelector('#presence-list li:has-text("camille")', { timeout: WAIT })
  await camille.click(".cm-content")
  await camille.keyboard.press("End")
  await lea.click(".cm-content")
  await lea.keyboard.press("Home")
  await camille.waitForSelector('.cm-remote-caret[data-name="lea"]', { timeout: WAIT })
  await lea.waitForSelector('.cm-remote-caret[data-name="camille"]', { timeout: WAIT })
  await shot(camille, "two-editors-camille")
  await shot(lea, "two-editors-lea")

  // 4b. Camille invites a participant (edit link) and a viewer (view link).
  // The panel lists links newest first: the first address is the new link's.
  const newestLink = () => document.querySelector("#invite-list .invite-url")?.value ?? ""
  const makeLink = async (write, previous) => {
    await camille.check(write ? "#invite-rights-write" : "#invite-rights-read")
    await camille.click("#invite-create")
    await camille.waitForFunction(
      (prev) => {
        const v = document.querySelector("#invite-list .invite-url")?.value ?? ""
        return v.includes("/join/") && v !== prev
      },
      previous,
      { timeout: WAIT },
    )
    return camille.evaluate(newestLink)
  }
  const editLink = await makeLink(true, "")
  const viewLink = await makeLink(false, editLink)
  check(!editLink.includes(docId) && !viewLink.includes(docId), "invite links do not carry the document id")
  // The guest joins while the server is slow to answer: their first
  // connection to /sync closes before the server's "peer" message (automerge-
  // repo stops waiting for it after a second), the next one goes through. The
  // page says the editor is loading meanwhile (over the notes, already
  // editable), never "introuvable".
  const guestCtx = await browser.newContext({ locale: "fr-FR" })
  let syncSockets = 0
  let reconnected
  const secondSocket = new Promise((resolve) => (reconnected = resolve))
  await guestCtx.routeWebSocket(/\/sync$/, (ws) => {
    syncSockets += 1
    if (syncSockets === 1) {
      // Open, then closed once the page has said "join", unanswered.
      ws.onMessage(() => ws.close())
    } else {
      ws.connectToServer()
      reconnected()
    }
  })
  await guestCtx.addInitScript(() => {
    // Everything the page ever said, for the checks below.
    window.__said = new Set()
    new MutationObserver(() => window.__said.add(document.body?.innerText ?? "")).observe(document, { subtree: true, childList: true, characterData: true })
  })
  const guest = await guestCtx.newPage()
  guest.on("pageerror", (e) => errors.push(`guest: ${e.message}`))
  await guest.goto(editLink)
  await guest.fill("#name", "Zed l’invité")
  await Promise.all([guest.waitForURL(url), guest.press("#name", "Enter")])
  await secondSocket
  // The notes, ready to type in, or a message.
  await guest.waitForSelector('.cm-content[contenteditable="true"], main [role="alert"]', { timeout: WAIT })
  const said = await guest.evaluate(() => Array.from(window.__said))
  check(!said.some((text) => /introuvable/i.test(text)), `the guest never saw "introuvable": ${JSON.stringify(said.filter((t) => /introuvable/i.test(t)))}`)
  // Meanwhile the notes are already there (early.ts), the status saying the editor is on its way.
  check(said.some((text) => text.includes("Connexion…") || text.includes("Chargement de l’éditeur")), `the guest was told the editor is connecting: ${JSON.stringify(said)}`)
  check(await guest.isVisible('.cm-content[contenteditable="true"]'), "the guest can type in the notes")
  // A document the server does not have: the page says so once the server answered.
  {
    const lost = await cc.newPage()
    lost.on("pageerror", (e) => errors.push(`camille (missing document): ${e.message}`))
    await lost.goto(`${base}/edit/${generateAutomergeUrl().replace(/^automerge:/, "")}`)
    await lost.waitForSelector('main [role="alert"]:has-text("Document introuvable")', { timeout: WAIT })
    check(!(await lost.isVisible(".cm-content")), "a missing document shows no editor")
    await lost.close()
  }
  await guest.click(".cm-content")
  await guest.keyboard.press("Control+End")
  await guest.keyboard.press("Enter")
  await guest.keyboard.type("Zed : merci pour l’invitation.")
  await waitNotes(camille, ["Zed : merci pour l’invitation."])
  await camille.waitForSelector('#presence-list li:has-text("Zed l’invité")', { timeout: WAIT })
  await waitState(guest, "saved")
  await shot(guest, "guest-joined")
  const viewerCtx = await browser.newContext({ locale: "fr-FR" })
  const viewer = await viewerCtx.newPage()
  viewer.on("pageerror", (e) => errors.push(`viewer: ${e.message}`))
  await viewer.goto(viewLink)
  await viewer.fill("#name", "Yasmine")
  await Promise.all([viewer.waitForURL(url), viewer.press("#name", "Enter")])
  await waitNotes(viewer, ["Zed : merci pour l’invitation."])
  await viewer.waitForFunction(() => (document.querySelector("#status")?.textContent ?? "").includes("Lecture seule"), null, { timeout: WAIT })
  check((await viewer.getAttribute(".cm-content", "contenteditable")) === "false", "a view link cannot type")
  check(await viewer.$eval("#title", (el) => el.readOnly), "a view link cannot change the title")
  await shot(viewer, "viewer")
  await viewerCtx.close()
  await guestCtx.close()

  // 5. Léa goes offline, types, reloads, comes back: nothing is lost.
  await lc.setOffline(true)
  await waitState(lea, "offline")
  await lea.click(".cm-content")
  await lea.keyboard.press("Control+End")
  await lea.keyboard.type("Écrit hors ligne.")
  // Reload only once the page says the text is stored on this device: the
  // status names the changes the server lacks and that they are kept here.
  await waitNotes(lea, ["Écrit hors ligne."])
  await lea.waitForFunction(
    () => {
      const s = document.querySelector("#status")
      return s?.dataset.local === "stored" && /^Hors ligne — [1-9]\d* modification\(s\) sur cet appareil seulement/.test(s.textContent ?? "")
    },
    null,
    { timeout: WAIT },
  )
  await shot(lea, "offline-typed")
  await lea.reload()
  await lea.waitForSelector(".cm-content", { timeout: WAIT })
  check((await bodyText(lea)).includes("Écrit hors ligne."), "the offline text survives a reload (IndexedDB)")
  await waitState(lea, "offline")
  await shot(lea, "offline-reloaded")
  await lc.setOffline(false)
  await waitState(lea, "saved")
  await waitNotes(camille, ["Écrit hors ligne."])
  await shot(lea, "back-online")
  await shot(camille, "sees-offline-text")

  // 6. Typing at the same spot: each person's words stay in one piece, as in
  // Etherpad or Google Docs (other people's letters land after your caret).
  const two = [
    { page: camille, phrase: "Camille : d’accord." },
    { page: lea, phrase: "Léa : on vote en ligne." },
  ]
  await typeAtTheSameSpot(two)
  await shot(camille, "same-spot-two-camille")
  // The same in a plain text input (a decision of the minutes).
  await camille.fill("#decisions-new", "Vote")
  await camille.press("#decisions-new", "Enter")
  await lea.waitForSelector("#decisions-list input", { timeout: WAIT })
  const decision = await typeAtTheSameSpot(
    [
      { page: camille, phrase: " : pour" },
      { page: lea, phrase: " à l’unanimité" },
    ],
    inputField("#decisions-list input"),
  )
  const inviteLink = await makeLink(true, viewLink)
  const inesCtx = await browser.newContext({ locale: "fr-FR" })
  const ines = await inesCtx.newPage()
  ines.on("pageerror", (e) => errors.push(`Inès: ${e.message}`))
  await ines.goto(inviteLink)
  await ines.fill("#name", "Inès")
  await Promise.all([ines.waitForURL(url), ines.press("#name", "Enter")])
  await ines.waitForSelector(".cm-content", { timeout: WAIT })
  const three = [
    { page: camille, phrase: "Camille propose mardi." },
    { page: lea, phrase: "Léa préfère jeudi." },
    { page: ines, phrase: "Inès vote vendredi." },
  ]
  await typeAtTheSameSpot(three)
  // Inès came in by an invite link: everyone's "Présents" says she is a guest.
  await checkPresence(camille, "camille", ["lea", "Inès (invité·e)"])
  await checkPresence(lea, "lea", ["camille", "Inès (invité·e)"])
  await checkPresence(ines, "Inès (invité·e)", ["camille", "lea"])
  await waitState(ines, "saved")
  await waitState(lea, "saved")
  await waitState(camille, "saved")
  await shot(camille, "same-spot-three-camille")
  await shot(ines, "same-spot-three-ines")
  await inesCtx.close()

  // 7. On a phone: fields and buttons big enough to tap (44 px) with text
  // iOS does not zoom into (16 px), a one-line header, the notes within the
  // first screen, and the actions readable without scrolling sideways.
  {
    const phoneLink = await makeLink(true, inviteLink)
    const phoneCtx = await browser.newContext({ locale: "fr-FR", viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true })
    const phone = await phoneCtx.newPage()
    phone.on("pageerror", (e) => errors.push(`phone: ${e.message}`))
    const sizes = (page, selector) =>
      page.$$eval(selector, (els) =>
        els
          .filter((el) => el.getClientRects().length > 0)
          .map((el) => ({ what: el.id || el.getAttribute("aria-label") || el.textContent.trim(), height: el.getBoundingClientRect().height, font: parseFloat(getComputedStyle(el).fontSize) })),
      )
    const checkTappable = async (page, selector, where) => {
      const found = await sizes(page, selector)
      check(found.length > 0, `${where}: ${selector} shown`)
      const small = found.filter((f) => f.height < 44 || f.font < 16)
      check(small.length === 0, `${where}: fields and buttons at least 44 px tall with 16 px text: ${JSON.stringify(small)}`)
    }
    const noSideways = async (page, where) => {
      const wide = await page.evaluate(() => ({ page: document.documentElement.scrollWidth, screen: innerWidth }))
      check(wide.page <= wide.screen, `${where}: nothing wider than the screen: ${JSON.stringify(wide)}`)
    }
    await phone.goto(phoneLink)
    // The join page (drawn by the server) is tappable too.
    const joinField = await phone.$eval("#name", (el) => ({ h: el.getBoundingClientRect().height, f: parseFloat(getComputedStyle(el).fontSize) }))
    check(joinField.h >= 44 && joinField.f >= 16, `the join page's name field is ${joinField.h} px high with ${joinField.f} px text`)
    await phone.fill("#name", "Pia")
    await Promise.all([phone.waitForURL(url), phone.press("#name", "Enter")])
    await phone.waitForSelector('.cm-content[contenteditable="true"]', { timeout: WAIT })
    await waitNotes(phone, ["Inès vote vendredi."])
    // The whole editor, past the early notes (its header is the editor's).
    await phone.waitForSelector("header.bar", { timeout: WAIT })
    const header = await phone.$eval("header.bar", (el) => el.getBoundingClientRect().height)
    check(header <= 56, `the phone's header is one line (${header} px)`)
    const notesTop = await phone.$eval("#body-editor", (el) => el.getBoundingClientRect().top)
    check(notesTop < 844 - 100, `the notes start within the phone's first screen (at ${notesTop} px of 844)`)
    await shot(phone, "phone-minutes-first-screen", false)
    // Offline, the longest status still fits the one-line header, whole.
    await phoneCtx.setOffline(true)
    await waitState(phone, "offline")
    await phone.tap(".cm-content")
    await phone.keyboard.press("Control+End")
    await phone.keyboard.type(" Pia relit.")
    await phone.waitForFunction(() => /sur cet appareil seulement/.test(document.querySelector("#status")?.textContent ?? ""), null, { timeout: WAIT })
    const offlineHeader = await phone.$eval("header.bar", (el) => el.getBoundingClientRect().height)
    check(offlineHeader <= 56, `offline, the phone's header is still one line (${offlineHeader} px)`)
    const clipped = await phone.$eval("#status", (el) => el.scrollHeight > el.clientHeight + 1 || el.scrollWidth > el.clientWidth + 1)
    check(!clipped, `the phone shows the whole offline status: ${await phone.textContent("#status")}`)
    await shot(phone, "phone-offline", false)
    await phoneCtx.setOffline(false)
    await waitState(phone, "saved")
    // The meeting's details open with a tap; the actions stack as cards.
    await phone.tap("#meeting-summary")
    await phone.waitForSelector("#place", { state: "visible", timeout: WAIT })
    await phone.fill("#actions-new", "Envoyer le compte rendu aux absents")
    await phone.tap("#actions-add")
    await phone.waitForSelector("#actions-table tbody tr", { timeout: WAIT })
    await phone.fill('[aria-label="Responsable 1"]', "Léa et Camille")
    await checkTappable(phone, 'main input:not([type="checkbox"]), main button, header summary', "the minutes on a phone")
    // Each field of an action shows its whole text and lies within the screen.
    const cut = await phone.$$eval('#actions-table input[type="text"], #actions-table input[type="date"]', (els) =>
      els
        .filter((el) => el.scrollWidth > el.clientWidth + 1 || el.getBoundingClientRect().right > innerWidth || el.getBoundingClientRect().width < 120)
        .map((el) => ({ field: el.getAttribute("aria-label"), value: el.value, width: el.clientWidth, needs: el.scrollWidth })),
    )
    check(cut.length === 0, `the actions are readable on a phone: ${JSON.stringify(cut)}`)
    const labels = await phone.$$eval("#actions-table td", (tds) => tds.map((td) => getComputedStyle(td, "::before").content))
    check(labels.includes('"Responsable"') && labels.includes('"Échéance"'), `each action's fields are named on a phone: ${JSON.stringify(labels)}`)
    await noSideways(phone, "the minutes on a phone")
    // The menu folds into one button and opens with a tap.
    await shot(phone, "phone-minutes")
    await phone.evaluate(() => document.querySelector("#h-actions").scrollIntoView())
    await shot(phone, "phone-actions", false)
    check(!(await phone.isVisible(".menu-items")), "the phone's menu starts folded")
    await phone.evaluate(() => scrollTo(0, 0))
    await phone.tap("#menu > summary")
    await phone.waitForSelector(".menu-items", { state: "visible", timeout: WAIT })
    await checkTappable(phone, ".menu-items button, .menu-items a", "the phone's menu")
    await shot(phone, "phone-menu", false)
    await phoneCtx.close()
  }

  // 7b. Running a webinar: the facilitator makes a read link valid one day
  // with the keyboard, sees its rights, author and expiry, shows its QR code
  // and copies it; a participant joins with it; the facilitator revokes it
  // (the participant's socket closes) and the link then says plainly that it
  // no longer works, in French and in English.
  {
    await camille.context().grantPermissions(["clipboard-read", "clipboard-write"], { origin: base })
    await camille.focus("#invite-rights-read")
    await camille.keyboard.press("Space")
    await camille.selectOption("#invite-duration", "1")
    await camille.focus("#invite-create")
    const before = await camille.evaluate(newestLink)
    await camille.keyboard.press("Enter")
    await camille.waitForFunction((prev) => (document.querySelector("#invite-list .invite-url")?.value ?? prev) !== prev, before, { timeout: WAIT })
    const link = await camille.evaluate(newestLink)
    const card = "#invite-list li.invite:first-child"
    const shown = await camille.$eval(card, (li) => ({
      text: li.innerText,
      qr: li.querySelector(".invite-qr:not([hidden]) svg[role=img]")?.getAttribute("aria-label") ?? null,
      qrModules: li.querySelector(".invite-qr svg path")?.getAttribute("d")?.split("M").length ?? 0,
    }))
    check(/Lecture/.test(shown.text) && /Actif/.test(shown.text) && /créé par camille/.test(shown.text), `the new link's card says its rights, status and author: ${shown.text}`)
    check(/Expire le \d{1,2} \p{L}+ \d{4}.*\(demain\)/su.test(shown.text), `the new link's expiry is a French date and duration: ${shown.text}`)
    check(shown.qr !== null && shown.qr.startsWith("QR code du lien d’invitation") && shown.qrModules > 200, `the new link's QR code is drawn and labelled: ${JSON.stringify(shown)}`)
    const earlier = await camille.$$eval("#invite-list li.invite", (lis) => lis.map((li) => li.dataset.status))
    check(earlier.length >= 5 && earlier.every((st) => st === "active"), `the panel lists every link of the document: ${earlier}`)
    await camille.evaluate(() => document.querySelector("#invite-panel").scrollIntoView())
    await camille.click(`${card} .invite-copy`)
    await camille.waitForFunction((sel) => document.querySelector(`${sel} .invite-copy`)?.textContent === "Copié", card, { timeout: WAIT })
    const copied = await camille.evaluate(() => navigator.clipboard.readText())
    check(copied === link, `the copy button put the link on the clipboard: ${copied} vs ${link}`)
    await shot(camille, "invite-panel-qr-copied", false)
    // At a phone's width the panel fits the screen.
    const wide = camille.viewportSize()
    await camille.setViewportSize({ width: 390, height: 844 })
    await camille.evaluate(() => document.querySelector("#invite-panel").scrollIntoView())
    const overflow = await camille.$eval("#invite-panel", (el) => ({ right: Math.max(...Array.from(el.querySelectorAll("*")).map((c) => c.getBoundingClientRect().right)), screen: innerWidth }))
    check(overflow.right <= overflow.screen, `the invite panel fits 390 px: ${JSON.stringify(overflow)}`)
    await shot(camille, "invite-panel-phone-width", false)
    await camille.setViewportSize(wide)

    const remiCtx = await browser.newContext({ locale: "fr-FR" })
    const remi = await remiCtx.newPage()
    remi.on("pageerror", (e) => errors.push(`Rémi: ${e.message}`))
    await remi.goto(link)
    await remi.fill("#name", "Rémi")
    await Promise.all([remi.waitForURL(url), remi.press("#name", "Enter")])
    await remi.waitForSelector(".cm-content", { timeout: WAIT })
    await waitState(remi, "saved")
    camille.once("dialog", (d) => d.accept())
    await camille.click(`${card} .invite-revoke`)
    await camille.waitForSelector(`${card}[data-status="revoked"]`, { timeout: WAIT })
    check(!(await camille.$(`${card} .invite-revoke`)), "a revoked link has no revoke button")
    check(/Révoqué/.test(await camille.$eval(card, (li) => li.innerText)), "the card says the link is revoked")
    // Rémi's open connection ends at once: his page is no longer saved to the server.
    await remi.waitForFunction(() => document.querySelector("#status")?.dataset.state !== "saved", null, { timeout: WAIT })
    const answer = await remi.goto(link)
    check(answer.status() === 410, `a revoked link answers 410: ${answer.status()}`)
    const gone = await remi.textContent("main")
    check(gone.includes("Cette invitation a expiré (ou n’existe pas). Demandez un nouveau lien à la personne qui anime la réunion.") && !gone.includes("introuvable"), `the revoked link says why: ${gone}`)
    await shot(remi, "invite-revoked-fr")
    await Promise.all([remi.waitForURL(/lang=en/), remi.click('a[href$="?lang=en"]')])
    check((await remi.textContent("main")).includes("This invitation has expired (or does not exist)."), "and in English")
    await shot(remi, "invite-revoked-en")
    const cut = await remi.goto(link.slice(0, -12))
    check(cut.status() === 404 && (await remi.textContent("main")).includes("Ask the person running the meeting for a new link."), `a truncated link says the same: ${cut.status()}`)
    await remiCtx.close()
  }

  // 7c. Markdown for everyone: Léa writes new minutes with the toolbar (one
  // button by keyboard); Enter on an empty item or quote line ends it, "- "
  // typed on a bullet the editor continued gives no "- - "; the preview shows
  // the minutes as published, one line per speaker kept.
  {
    const md = await lc.newPage()
    md.on("pageerror", (e) => errors.push(`lea (markdown): ${e.message}`))
    await md.goto(`${base}/edit`)
    await md.click("#new-minutes")
    await md.waitForSelector("#title:focus", { timeout: WAIT })
    await md.keyboard.type("Atelier Markdown")
    await md.click(".cm-content")
    const type = (s) => md.keyboard.type(s)
    const enter = () => md.keyboard.press("Enter")
    const firstStops = await md.$$eval("#md-toolbar button", (bs) => bs.filter((b) => b.tabIndex === 0).map((b) => b.id))
    check(firstStops.join() === "fmt-heading", `a new toolbar is one Tab stop, its first button: ${firstStops}`)
    await md.click("#fmt-heading")
    await type("Ordre du jour")
    await enter()
    await md.click("#fmt-list")
    await type("Camille : bonjour")
    await enter()
    await type("- Léa : salut")
    await enter()
    await enter()
    await md.click("#fmt-quote")
    await type("Citation")
    await enter()
    await enter()
    await type("Fin ")
    // The toolbar is one Tab stop (the button used last: Citation), and the
    // arrow keys, Home and End move along it (to "Ajouter une image", the
    // last), wrapping around.
    const inBar = () => md.evaluate(() => (document.activeElement?.closest("#md-toolbar") ? document.activeElement.id : null))
    for (let i = 0; i < 10 && !(await inBar()); i++) await md.keyboard.press("Shift+Tab")
    const stops = await md.$$eval("#md-toolbar button", (bs) => bs.filter((b) => b.tabIndex === 0).map((b) => b.id))
    check((await inBar()) === "fmt-quote" && stops.join() === "fmt-quote", `the toolbar is one Tab stop, its last used button: ${await inBar()}, ${stops}`)
    check((await md.getAttribute("#md-toolbar", "role")) === "toolbar", "the toolbar says it is one")
    const moves = []
    for (const key of ["ArrowLeft", "Home", "ArrowLeft", "End", "ArrowRight", "ArrowRight"]) {
      await md.keyboard.press(key)
      moves.push(await inBar())
    }
    check(moves.join() === "fmt-list,fmt-heading,fmt-image,fmt-image,fmt-heading,fmt-bold", `arrows, Home and End move along the toolbar: ${moves}`)
    // Tab leaves the toolbar at once; Shift+Tab comes back to the same button.
    await md.keyboard.press("Tab")
    check((await inBar()) === null, "one Tab leaves the toolbar")
    await md.keyboard.press("Shift+Tab")
    check((await inBar()) === "fmt-bold", "Shift+Tab comes back to the button left")
    await md.keyboard.press("Enter")
    await type("mot")
    await md.keyboard.press("End")
    await enter()
    await type("Cahier")
    await md.keyboard.press("Shift+Home")
    await md.click("#fmt-link")
    await type("https://cahier.example.org")
    await md.keyboard.press("End")
    await enter()
    await md.click("#fmt-task")
    await type("Envoyer")
    await enter()
    await enter()
    await type("Camille : oui")
    await enter()
    await type("Léa : non")
    const written = ["## Ordre du jour", "- Camille : bonjour", "- Léa : salut", "", "> Citation", "", "Fin **mot**", "[Cahier](https://cahier.example.org)", "- [ ] Envoyer", "", "Camille : oui", "Léa : non"].join("\n")
    await waitText(md, written).catch(async (e) => {
      throw new Error(`the toolbar and Enter wrote ${JSON.stringify(await bodyText(md))}, not ${JSON.stringify(written)}: ${e.message}`)
    })
    const labels = await md.$$eval("#md-toolbar button", (bs) => bs.map((b) => b.textContent.replace(/^\S+\s/, "")))
    check(labels.join() === "Titre,Gras,Liste,Citation,Lien,Case à cocher,Commenter,Ajouter une image", `the toolbar's buttons say what they do: ${labels}`)
    check((await md.getAttribute("#md-toolbar", "aria-label")) === "Mise en forme", "the toolbar is named")
    check(!(await md.isVisible("#preview")), "the minutes' preview starts hidden")
    await md.click("#preview-toggle")
    await md.waitForFunction(() => (document.querySelector("#preview")?.innerHTML ?? "").includes("Léa&nbsp;: non"), null, { timeout: WAIT })
    const shown = await md.$eval("#preview", (el) => ({
      h2: el.querySelector("h2")?.textContent,
      items: Array.from(el.querySelectorAll("ul > li")).map((li) => li.textContent.trim()),
      quote: el.querySelector("blockquote")?.textContent.trim(),
      bold: el.querySelector("strong")?.textContent,
      link: el.querySelector('a[href="https://cahier.example.org"]')?.textContent,
      box: !!el.querySelector('input[type="checkbox"]'),
      last: Array.from(el.querySelectorAll(":scope > p")).pop()?.innerHTML,
    }))
    check(shown.h2 === "Ordre du jour" && shown.quote === "Citation" && shown.bold === "mot" && shown.link === "Cahier" && shown.box, `the preview renders each format: ${JSON.stringify(shown)}`)
    check(shown.items.length === 3 && shown.items[1] === "Léa\u00a0: salut", `two bullets and a task, none doubled: ${JSON.stringify(shown.items)}`)
    check(/oui<br>\s*Léa/.test(shown.last ?? ""), `one line per speaker stays one line in the preview: ${shown.last}`)
    await shot(md, "markdown-toolbar-preview", false)
    await md.close()
  }

  // 8. Finding one's way: the minutes say they are a draft; the home says
  // which documents are drafts and which are published, with their public
  // page; a published page's editor links to it; the wiki is one click away;
  // logging out ends the session.
  const publication = (page) => page.$eval("#publication", (el) => (el.hidden ? "" : el.textContent.trim()))
  await camille.waitForFunction(() => !document.querySelector("#publication")?.hidden, null, { timeout: WAIT })
  check((await publication(camille)).startsWith("Brouillon"), `the new minutes say they are a draft: ${await publication(camille)}`)
  // Léa, in the minutes, sees Camille there; Camille's leaving (in the app, no
  // reload) takes her out of Léa's "Présents": the view she left stopped.
  const presentNames = () => Array.from(document.querySelectorAll("#presence-list li")).map((li) => li.textContent.trim())
  await lea.waitForFunction(() => Array.from(document.querySelectorAll("#presence-list li")).some((li) => li.textContent.trim() === "camille"), null, { timeout: WAIT })
  await camille.click("header .brand")
  await camille.waitForSelector('#minutes-list li:has(a:text-is("Webinaire du jeudi"))', { timeout: WAIT })
  const listed = async (list, title) =>
    camille.$eval(`${list} li:has(a:text-is("${title}"))`, (li) => ({
      badge: li.querySelector(".badge")?.textContent,
      public: li.querySelector("a.public")?.getAttribute("href") ?? null,
    }))
  const minutesEntry = await listed("#minutes-list", "Webinaire du jeudi")
  check(minutesEntry.badge === "Brouillon" && minutesEntry.public === null, `the home lists the minutes as a draft: ${JSON.stringify(minutesEntry)}`)
  const pageEntry = await listed("#pages-list", "Injections")
  check(pageEntry.badge === "Publiée" && pageEntry.public === "/wiki/injections", `the home lists the published page with its public page: ${JSON.stringify(pageEntry)}`)
  await shot(camille, "home-drafts-and-published")
  await camille.click('#pages-list a:text-is("Injections")')
  await camille.waitForSelector("#published-link", { timeout: WAIT })
  await lea
    .waitForFunction(() => !Array.from(document.querySelectorAll("#presence-list li")).some((li) => li.textContent.trim() === "camille"), null, { timeout: WAIT })
    .catch(async () => {
      throw new Error(`Camille left the minutes for another document, yet Léa still sees her present: ${JSON.stringify(await lea.evaluate(presentNames))}`)
    })
  const editors = await camille.$$eval(".cm-editor", (els) => els.length)
  check(editors === 1, `Camille's page holds the editor of the page she opened only: ${editors}`)
  check(!(await bodyText(camille)).includes("Camille note ceci."), "the text shown is the page’s, not the minutes’")
  await shot(lea, "left-presence")
  check((await publication(camille)).startsWith("Publiée"), `a published page's editor says so: ${await publication(camille)}`)
  await shot(camille, "published-page-editor", false)
  await Promise.all([camille.waitForURL(`${base}/wiki/injections`), camille.click("#published-link")])
  await camille.goBack()
  await camille.waitForSelector("#wiki-link", { timeout: WAIT })
  await Promise.all([camille.waitForURL(`${base}/wiki`), camille.click("#wiki-link")])
  await camille.goto(`${base}/edit`)
  await camille.waitForSelector("#logout button", { timeout: WAIT })
  await Promise.all([camille.waitForURL(`${base}/wiki`), camille.click("#logout button")])
  await camille.goto(`${base}/edit`)
  await camille.waitForSelector("#password", { timeout: WAIT })
  check(new URL(camille.url()).pathname === "/login", `logged out, the editor asks to log in again: ${camille.url()}`)
  await lc.close()
  await cc.close()
  check(errors.length === 0, `no script errors: ${errors.join("; ")}`)
  console.log(JSON.stringify({ ok: true, docId, expect: ["Camille : Camille note ceci.", "Léa : Léa ajoute cela. Merci.", "Écrit hors ligne.", "Zed : merci pour l’invitation.", ...[...two, ...three].map((t) => t.phrase)], participants: ["Noé", "Zoé"], decisions: [decision] }))
} catch (e) {
  console.error(`browser test failed at step ${step}: ${e.stack ?? e}`)
  for (const ctx of browser.contexts()) {
    for (const p of ctx.pages()) {
      const seen = await p
        .evaluate(() => ({
          url: location.href,
          status: document.querySelector("#status")?.textContent,
          notes: document.querySelector(".cm-content")?.innerText,
          participants: Array.from(document.querySelectorAll("#participants-list input")).map((i) => i.value),
        }))
        .catch(() => null)
      console.error(`a page showed: ${JSON.stringify(seen)}`)
      await p.screenshot({ path: `${shots}/failure-${Date.now()}.png`, fullPage: true }).catch(() => {})
    }
  }
  if (errors.length) console.error(`script errors in the pages: ${errors.join("; ")}`)
  process.exitCode = 1
} finally {
  await browser.close()
}

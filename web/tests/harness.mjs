// What the editor's browser scripts share: Debian's Chromium launched the same
// way, logging in as an account, and failing with a message. Waits are on
// events, never on time: each fails after WAIT.

import { chromium } from "playwright-core"

export const WAIT = 15000
export const PASSWORD = "un mot de passe long"

/** Debian's Chromium, quiet: no first-run work, no background traffic. */
export function launch() {
  return chromium.launch({
    executablePath: "/usr/bin/chromium",
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  })
}

export function check(cond, message) {
  if (!cond) throw new Error(message)
}

/** A new browser context logged in as `name` at `base`, landed on `next`
 * (the editor's home by default); page errors go to `errors`. */
export async function logIn(browser, base, name, errors, { next = "/edit", ...contextOptions } = {}) {
  const context = await browser.newContext({ locale: "fr-FR", ...contextOptions })
  const page = await context.newPage()
  page.on("pageerror", (e) => errors.push(`${name}: ${e.message}`))
  await page.goto(`${base}/login?next=${next}`)
  await page.fill("#name", name)
  await page.fill("#password", PASSWORD)
  await Promise.all([page.waitForURL(`${base}${next}`), page.press("#password", "Enter")])
  return { context, page }
}

/** Waits until the editor's status says `state` (saved, offline…). */
export const waitState = (page, state) =>
  page.waitForFunction((s) => document.querySelector("#status")?.dataset.state === s, state, { timeout: WAIT })

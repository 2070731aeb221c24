// The "Inviter" panel: a document's invite links (rights, author, expiry,
// status), making one, copying it, its QR code for a projected slide, and
// revoking it. The server keeps only a digest of each link, so the address of
// a link is known only to the tab that made it (kept in sessionStorage until
// the tab closes); other links are listed without it.

import qrcode from "qrcode-generator"
import { lang, t } from "./i18n"

type Invite = {
  id: string
  write: boolean
  created_by: string
  created_ms: number
  expires_ms: number | null
  revoked_ms: number | null
  status: "active" | "expired" | "revoked"
}

type InviteList = { invites: Invite[]; may_revoke: boolean }

const DAY_MS = 24 * 3600 * 1000
const URLS_KEY = "cahier.inviteUrls"

function el<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Record<string, string> = {}, ...children: (Node | string)[]): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag)
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v)
  e.append(...children)
  return e
}

/** The links this tab made: invite id → address. */
function knownUrls(): Record<string, string> {
  try {
    const v: unknown = JSON.parse(sessionStorage.getItem(URLS_KEY) ?? "{}")
    if (v && typeof v === "object") {
      const out: Record<string, string> = {}
      for (const [k, u] of Object.entries(v)) if (typeof u === "string" && /^https?:\/\/[^\s]+\/join\/[0-9a-f]{64}$/.test(u)) out[k] = u
      return out
    }
  } catch {
    // Unreadable: as if empty.
  }
  return {}
}

function rememberUrl(id: string, url: string) {
  const all = knownUrls()
  all[id] = url
  try {
    sessionStorage.setItem(URLS_KEY, JSON.stringify(all))
  } catch {
    // Storage full or refused: the link is still shown until the page is left.
  }
}

const locale = () => (lang === "fr" ? "fr-FR" : "en-GB")

/** "12 mars 2026 à 14:30 (dans 7 jours)". */
export function formatExpiry(ms: number, now = Date.now()): string {
  const date = new Intl.DateTimeFormat(locale(), { dateStyle: "long", timeStyle: "short" }).format(new Date(ms))
  const rel = new Intl.RelativeTimeFormat(locale(), { numeric: "auto" })
  const diff = ms - now
  const abs = Math.abs(diff)
  const when =
    abs >= DAY_MS - 1800_000 ? rel.format(Math.round(diff / DAY_MS), "day") : abs >= 3600_000 ? rel.format(Math.round(diff / 3600_000), "hour") : rel.format(Math.round(diff / 60_000), "minute")
  return `${date} (${when})`
}

/** The link's QR code as SVG, drawn here (no network), one square per dark module. */
function qrSvg(url: string, label: string): SVGSVGElement {
  const qr = qrcode(0, "M")
  qr.addData(url)
  qr.make()
  const n = qr.getModuleCount()
  const margin = 4
  const size = n + 2 * margin
  const NS = "http://www.w3.org/2000/svg"
  const svg = document.createElementNS(NS, "svg")
  svg.setAttribute("viewBox", `0 0 ${size} ${size}`)
  svg.setAttribute("role", "img")
  svg.setAttribute("aria-label", label)
  svg.setAttribute("class", "qr")
  svg.setAttribute("shape-rendering", "crispEdges")
  const bg = document.createElementNS(NS, "rect")
  bg.setAttribute("width", String(size))
  bg.setAttribute("height", String(size))
  bg.setAttribute("fill", "#fff")
  let d = ""
  for (let r = 0; r < n; r++) for (let c = 0; c < n; c++) if (qr.isDark(r, c)) d += `M${c + margin} ${r + margin}h1v1h-1z`
  const path = document.createElementNS(NS, "path")
  path.setAttribute("d", d)
  path.setAttribute("fill", "#000")
  svg.append(bg, path)
  return svg
}

/** Copies `text`, or says how to: the Clipboard API, else the browser's copy command on the selected field. */
async function copy(text: string, field: HTMLInputElement): Promise<boolean> {
  try {
    if (navigator.clipboard && window.isSecureContext) {
      await navigator.clipboard.writeText(text)
      return true
    }
  } catch {
    // Refused: fall back to the selection.
  }
  field.focus()
  field.select()
  try {
    return document.execCommand("copy")
  } catch {
    return false
  }
}

export function invitePanel(doc: string, csrf: string): { element: HTMLElement; dispose: () => void } {
  const abort = new AbortController()
  const signal = abort.signal
  const status = el("p", { id: "invite-status", role: "status", "aria-live": "polite" })
  const list = el("ul", { id: "invite-list", class: "invites" })
  let fresh: string | null = null

  // The form: rights and duration.
  const radio = (value: string, text: string, checked: boolean) => {
    const input = el("input", { type: "radio", name: "invite-rights", value, id: `invite-rights-${value}` })
    input.checked = checked
    return el("label", { class: "choice", for: `invite-rights-${value}` }, input, " ", text)
  }
  const duration = el("select", { id: "invite-duration" })
  for (const [value, text] of [
    ["1", t.inviteDay],
    ["7", t.inviteWeek],
    ["30", t.inviteMonth],
    ["", t.inviteNoExpiry],
  ] as const) {
    const o = el("option", { value }, text)
    if (value === "7") o.selected = true
    duration.append(o)
  }
  const create = el("button", { type: "submit", id: "invite-create" }, t.inviteCreate)
  const form = el(
    "form",
    { id: "invite-form", class: "invite-form" },
    el("fieldset", {}, el("legend", {}, t.inviteRights), radio("write", t.inviteRightsWrite, true), radio("read", t.inviteRightsRead, false)),
    el("p", { class: "field" }, el("label", { for: "invite-duration" }, t.inviteDuration), duration),
    el("p", {}, create),
  )
  form.addEventListener(
    "submit",
    async (e) => {
      e.preventDefault()
      const write = (form.querySelector('input[name="invite-rights"]:checked') as HTMLInputElement | null)?.value !== "read"
      const days = duration.value ? Number(duration.value) : null
      create.disabled = true
      try {
        const r = await fetch("/api/invites", {
          method: "POST",
          credentials: "same-origin",
          headers: { "content-type": "application/json", "x-cahier-csrf": csrf },
          body: JSON.stringify({ doc, write, expires_days: days }),
          signal,
        })
        if (!r.ok) throw new Error(await r.text())
        const made = (await r.json()) as { id: string; url: string }
        rememberUrl(made.id, made.url)
        fresh = made.id
        status.textContent = t.inviteCreated
        await load()
      } catch (err) {
        if (!signal.aborted) status.textContent = `${t.inviteFailed} ${err instanceof Error ? err.message : ""}`.trim()
      } finally {
        create.disabled = false
      }
    },
    { signal },
  )

  async function load() {
    let data: InviteList
    try {
      const r = await fetch(`/api/documents/${encodeURIComponent(doc)}/invites`, { credentials: "same-origin", signal })
      if (!r.ok) throw new Error(await r.text())
      data = (await r.json()) as InviteList
    } catch (err) {
      if (!signal.aborted) list.replaceChildren(el("li", { role: "alert" }, `${t.inviteListFailed} ${err instanceof Error ? err.message : ""}`.trim()))
      return
    }
    const urls = knownUrls()
    list.replaceChildren(...data.invites.map((inv) => item(inv, urls[inv.id], data.may_revoke)))
    if (data.invites.length === 0) list.append(el("li", {}, t.inviteNone))
    if (fresh) list.querySelector<HTMLElement>(`[data-invite="${fresh}"] .invite-url`)?.focus()
  }

  function item(inv: Invite, url: string | undefined, mayRevoke: boolean): HTMLElement {
    const rights = inv.write ? t.inviteRightsWrite : t.inviteRightsRead
    const statusText = { active: t.inviteActive, expired: t.inviteExpired, revoked: t.inviteRevoked }[inv.status]
    const expiry = inv.expires_ms === null ? t.inviteNoExpiry : `${inv.status === "expired" ? t.inviteExpiredOn : t.inviteExpiresOn} ${formatExpiry(inv.expires_ms)}`
    const li = el(
      "li",
      { class: `invite ${inv.status}`, "data-invite": inv.id, "data-status": inv.status },
      el("p", { class: "invite-head" }, el("strong", {}, rights), " ", el("span", { class: `badge ${inv.status}` }, statusText), " ", el("span", {}, `${t.inviteBy} ${inv.created_by}`)),
      el("p", { class: "invite-expiry" }, expiry),
    )
    if (url && inv.status === "active") {
      const fieldId = `invite-url-${inv.id}`
      const field = el("input", { type: "text", id: fieldId, class: "invite-url", readonly: "", value: url })
      field.addEventListener("focus", () => field.select(), { signal })
      const copyButton = el("button", { type: "button", class: "invite-copy", "aria-describedby": fieldId }, t.inviteCopy)
      const said = el("span", { class: "invite-copied", role: "status", "aria-live": "polite" })
      let timer: number | undefined
      copyButton.addEventListener(
        "click",
        async () => {
          const ok = await copy(url, field)
          said.textContent = ok ? t.inviteCopied : t.inviteCopyByHand
          copyButton.textContent = ok ? t.inviteCopied : t.inviteCopy
          window.clearTimeout(timer)
          timer = window.setTimeout(() => {
            copyButton.textContent = t.inviteCopy
            said.textContent = ""
          }, 3000)
        },
        { signal },
      )
      const qr = el("figure", { class: "invite-qr" }, qrSvg(url, `${t.inviteQrLabel} (${rights})`), el("figcaption", {}, t.inviteQrCaption))
      qr.hidden = inv.id !== fresh
      const qrButton = el("button", { type: "button", class: "invite-qr-toggle", "aria-expanded": String(!qr.hidden) }, qr.hidden ? t.inviteShowQr : t.inviteHideQr)
      qrButton.addEventListener(
        "click",
        () => {
          qr.hidden = !qr.hidden
          qrButton.setAttribute("aria-expanded", String(!qr.hidden))
          qrButton.textContent = qr.hidden ? t.inviteShowQr : t.inviteHideQr
        },
        { signal },
      )
      li.append(el("p", { class: "field" }, el("label", { for: fieldId }, t.inviteLink), field), el("p", { class: "invite-actions" }, copyButton, " ", qrButton, " ", said), qr)
    } else if (inv.status === "active") {
      li.append(el("p", { class: "invite-hidden-url" }, t.inviteUrlElsewhere))
    }
    if (mayRevoke && inv.status === "active") {
      const revoke = el("button", { type: "button", class: "invite-revoke danger" }, t.inviteRevoke)
      revoke.setAttribute("aria-label", `${t.inviteRevoke} — ${rights}, ${expiry}`)
      revoke.addEventListener(
        "click",
        async () => {
          if (!window.confirm(t.inviteRevokeConfirm)) return
          revoke.disabled = true
          try {
            const r = await fetch(`/api/invites/${encodeURIComponent(inv.id)}/revoke`, {
              method: "POST",
              credentials: "same-origin",
              headers: { "x-cahier-csrf": csrf },
              signal,
            })
            if (!r.ok) throw new Error(await r.text())
            status.textContent = t.inviteRevokedDone
            fresh = null
            await load()
          } catch (err) {
            revoke.disabled = false
            if (!signal.aborted) status.textContent = `${t.inviteRevokeFailed} ${err instanceof Error ? err.message : ""}`.trim()
          }
        },
        { signal },
      )
      li.append(el("p", {}, revoke))
    }
    return li
  }

  load()
  const element = el("section", { "aria-labelledby": "h-invite", id: "invite-panel", class: "invite-panel" }, el("h2", { id: "h-invite" }, t.invite), form, status, list)
  return { element, dispose: () => abort.abort() }
}

// What the views share: the document and session types, small DOM helpers,
// and the header every page carries.

import type { ImmutableString } from "@automerge/automerge"
import type { Repo } from "@automerge/automerge-repo"
import { lang, setLang, t } from "./i18n"

export type Action = { text: string; owner: string; due: string; done: boolean }
/** A comment on the notes (comments.ts): plain strings, not collaborative text. */
export type StoredComment = {
  start: ImmutableString | string
  end: ImmutableString | string
  text: ImmutableString | string
  createdAt?: Date
  resolved?: boolean
  /** The thread under the comment, appended to. */
  replies?: StoredReply[]
}
/** A reply in a comment's thread: a random id, a plain string, a date. */
export type StoredReply = { id: ImmutableString | string; text: ImmutableString | string; createdAt?: Date }
export type CahierDoc = {
  kind: "page" | "minutes"
  schemaVersion: number
  title: string
  slug: string
  body: string
  tags: string[]
  license: string
  status: string
  createdAt: Date
  updatedAt: Date
  importedCredits: string[]
  startsAt?: string
  place?: string
  facilitator?: string
  participants?: string[]
  agenda?: string[]
  decisions?: string[]
  actions?: Action[]
  comments?: Record<string, StoredComment>
}

export type Session = {
  kind: "account" | "guest" | "anonymous"
  name: string | null
  doc: string | null
  write: boolean
  may_create: boolean
  may_publish: boolean
  storage_id: string
  csrf: string | null
}


/** One view of the editor: its element, and what stops everything it started
 * (listeners, timers, presence, editors), called when another view replaces it. */
export type View = { element: HTMLElement; dispose: () => void }

/** What a view gets from the router. */
export type Ctx = {
  session: Session
  repo: Repo
  /** Opens an address of the editor in place (history entry, no reload). */
  navigate: (path: string, state?: unknown) => void
  /** Draws the current address again (after a language change). */
  redraw: () => void
}

// ---- small DOM helpers -------------------------------------------------------

export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Record<string, string> = {},
  ...children: (Node | string)[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag)
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v)
  for (const c of children) el.append(c)
  return el
}

let idCounter = 0
export function labelled(label: string, input: HTMLInputElement | HTMLTextAreaElement): HTMLElement {
  const id = input.id || `f${++idCounter}`
  input.id = id
  return h("p", { class: "field" }, h("label", { for: id }, label), input)
}

export function slugify(title: string): string {
  return title
    .normalize("NFD")
    .replace(/[\u0300-\u036f]/g, "")
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, "-")
    .replace(/^-+|-+$/g, "")
    .slice(0, 80)
}

/** A meeting's date and time ("2026-05-12T14:00") as people read it here. */
export function formatWhen(startsAt: string): string {
  const d = new Date(startsAt)
  if (Number.isNaN(d.getTime())) return startsAt
  return d.toLocaleString(lang, { dateStyle: "medium", timeStyle: "short" })
}

/** A person as the editor lists them: guests (who came in through an invite
 * link) marked as such, "Léa (invité·e)". */
export function personLabel(name: string, guest: boolean): string {
  return guest ? `${name} (${t.guest})` : name
}

export function colorFor(name: string): string {
  let hash = 0
  for (const c of name) hash = (hash * 31 + c.charCodeAt(0)) >>> 0
  return `hsl(${hash % 360} 70% 38%)`
}

/** Wide screens show the header's menu and the meeting's details open. */
export const wide = matchMedia("(min-width: 40rem)")

export function header(ctx: Ctx, signal: AbortSignal, status?: HTMLElement): HTMLElement {
  const { session } = ctx
  const switcher = h("button", { type: "button", class: "lang", "aria-label": t.switchLangLabel, lang: lang === "fr" ? "en" : "fr" }, t.switchLang)
  switcher.addEventListener(
    "click",
    () => {
      setLang(lang === "fr" ? "en" : "fr")
      ctx.redraw()
    },
    { signal },
  )
  const nav = h("nav", { "aria-label": t.home }, h("a", { href: "/edit", class: "brand" }, t.appName))
  const items = h("div", { class: "menu-items" })
  if (session.name) items.append(h("span", { class: "user" }, session.name))
  items.append(h("a", { href: "/wiki", id: "wiki-link" }, t.wiki), switcher)
  if (session.kind !== "anonymous" && session.csrf) {
    // The server's own logout (it ends the session and opens the wiki).
    const logout = h(
      "form",
      { method: "post", action: "/logout", id: "logout" },
      h("input", { type: "hidden", name: "csrf", value: session.csrf }),
      h("button", { type: "submit" }, t.logout),
    )
    logout.addEventListener(
      "submit",
      (e) => {
        // Changes the server does not have yet stay on this device only.
        const state = document.querySelector<HTMLElement>("#status")?.dataset.state
        if (state && state !== "saved" && !confirm(t.logoutUnsaved)) e.preventDefault()
      },
      { signal },
    )
    items.append(logout)
  }
  const menu = h("details", { class: "menu", id: "menu" }, h("summary", {}, t.menu), items)
  menu.open = wide.matches
  const bar = h("header", { class: "bar" }, nav)
  if (status) bar.append(status)
  bar.append(menu)
  return bar
}
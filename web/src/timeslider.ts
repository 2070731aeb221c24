// The timeslider, Etherpad's loved feature on the CRDT: a slider through the
// moments of the document's history (GET /api/documents/ID/history: runs of
// one writer, at most a few hundred), showing the notes as they were at each
// one, read-only, with who wrote what (GET /api/documents/ID/at?heads=…: the
// authorship colours' spans at that version), when, and who wrote in that
// moment. The text of a moment can be copied, and restored by those who may
// write: a new change that makes the notes equal that text, so it syncs to
// everyone and stays in the history.
//
// "Avancer: par moments / modification par modification" switches the slider
// to Etherpad's step by step: one step per change (GET
// /api/documents/ID/changes?from=N, a page of changes at a time), each
// saying who made it and when; switching keeps the place in the history.
//
// The slider is a native range input (arrow keys, Home/End, PageUp/PageDown,
// a tap on a phone). Nothing the server sends reaches a `style` or `innerHTML`:
// text goes in as text, colours as palette classes.

import * as A from "@automerge/automerge"
import type { DocHandle } from "@automerge/automerge-repo"
import { h, personLabel } from "./common"
import { lang, t } from "./i18n"
import { slots } from "./authorship"

type Person = { key: string; name: string; guest: boolean }
type Moment = { heads: string[]; start: number; end: number; changes: number; authors: number[] }
type History = { heads: string[]; total: number; people: Person[]; moments: Moment[] }
type Step = { heads: string[]; time: number; author: number }
type Steps = { total: number; from: number; people: Person[]; changes: Step[] }
type At = { heads: string[]; text: string; people: Person[]; spans: { from: number; to: number; person: number }[] }

const HEX = /^[0-9a-f]{64}$/
const isPerson = (p: unknown): p is Person => {
  const x = p as Person
  return !!x && typeof x.key === "string" && /^[0-9a-f]{16}$/.test(x.key) && typeof x.name === "string" && typeof x.guest === "boolean"
}
const isHeads = (h: unknown): h is string[] => Array.isArray(h) && h.length > 0 && h.every((x) => typeof x === "string" && HEX.test(x))

function validHistory(a: unknown): a is History {
  const x = a as History
  return (
    !!x &&
    isHeads(x.heads) &&
    Array.isArray(x.people) &&
    x.people.every(isPerson) &&
    Array.isArray(x.moments) &&
    x.moments.every(
      (m) =>
        isHeads(m?.heads) &&
        Number.isInteger(m.start) &&
        Number.isInteger(m.end) &&
        Number.isInteger(m.changes) &&
        Array.isArray(m.authors) &&
        m.authors.every((i) => Number.isInteger(i) && i >= 0 && i < x.people.length),
    )
  )
}

function validSteps(a: unknown): a is Steps {
  const x = a as Steps
  return (
    !!x &&
    Number.isInteger(x.total) &&
    Number.isInteger(x.from) &&
    Array.isArray(x.people) &&
    x.people.every(isPerson) &&
    Array.isArray(x.changes) &&
    x.changes.every((c) => isHeads(c?.heads) && Number.isInteger(c.time) && Number.isInteger(c.author) && c.author >= 0 && c.author < x.people.length)
  )
}

/** How many changes the server lists in one answer (timeslider.rs's STEPS_PAGE). */
const PAGE = 100

function validAt(a: unknown): a is At {
  const x = a as At
  return (
    !!x &&
    isHeads(x.heads) &&
    typeof x.text === "string" &&
    Array.isArray(x.people) &&
    x.people.every(isPerson) &&
    Array.isArray(x.spans) &&
    x.spans.every((s) => Number.isInteger(s?.from) && Number.isInteger(s.to) && Number.isInteger(s.person) && s.person >= 0 && s.person < x.people.length)
  )
}

/** A moment's time as people read it here ("mardi 1 décembre 2026 à 17:08:12"). */
export function momentTime(secs: number): string {
  return new Date(secs * 1000).toLocaleString(lang, { dateStyle: "full", timeStyle: "medium" })
}

/** The toggle button and the panel. `shown(open)` lets the editor hide the
 * live notes while the past ones are shown. `dispose` stops everything. */
export function timeslider<T>(opts: { docId: string; handle: DocHandle<T>; path: A.Prop[]; canRestore: boolean; shown: (open: boolean) => void }) {
  const { docId, handle, path } = opts
  const abort = new AbortController()
  const { signal } = abort

  const toggle = h("button", { type: "button", id: "timeslider-toggle", "aria-expanded": "false", "aria-controls": "timeslider" }, t.tsOpen)
  const range = h("input", { type: "range", id: "timeslider-range", min: "0", max: "0", step: "1", value: "0" })
  const byMoments = h("input", { type: "radio", name: "timeslider-mode", id: "timeslider-by-moments", value: "moments", checked: "" })
  const byChanges = h("input", { type: "radio", name: "timeslider-mode", id: "timeslider-by-changes", value: "changes" })
  const mode = h(
    "fieldset",
    { class: "ts-mode", id: "timeslider-mode" },
    h("legend", {}, t.tsStep),
    h("label", { for: byMoments.id }, byMoments, t.tsByMoments),
    h("label", { for: byChanges.id }, byChanges, t.tsByChanges),
  )
  const when = h("p", { id: "timeslider-when", class: "ts-when", role: "status", "aria-live": "polite" }, t.tsLoading)
  const legend = h("ul", { id: "timeslider-legend", class: "authors-legend", "aria-label": t.authorsLegend })
  const text = h("div", { id: "timeslider-text", class: "ts-text", tabindex: "0", role: "document", "aria-label": t.tsTextLabel, "data-state": "loading" })
  const copy = h("button", { type: "button", id: "timeslider-copy" }, t.tsCopy)
  const restore = h("button", { type: "button", id: "timeslider-restore" }, t.tsRestore)
  const note = h("span", { id: "timeslider-note", class: "ts-note", role: "status" })
  const actions = h("p", { class: "ts-actions" }, copy)
  if (opts.canRestore) actions.append(restore)
  actions.append(note)
  const panel = h(
    "section",
    { id: "timeslider", class: "timeslider", "aria-labelledby": "timeslider-title" },
    h("h3", { id: "timeslider-title" }, t.tsTitle),
    mode,
    h("p", { class: "ts-control" }, h("label", { for: range.id }, t.tsSlider), range),
    when,
    legend,
    text,
    actions,
  )
  panel.hidden = true

  let history: History | undefined
  let colours = new Map<string, number>()
  const cache = new Map<string, At>()
  let shownAt: At | undefined
  let shownTime = 0
  let asked = 0
  let atTimer: number | undefined
  let historyTimer: number | undefined
  let open = false

  /** Change by change (else by moments), and the pages of changes loaded. */
  let stepping = false
  const pages = new Map<number, Steps>()
  const authorsOf = (m: Moment) => m.authors.map((i) => history?.people[i]).filter((p): p is Person => !!p)

  /** What the slider is on: its version, when, who, and the line that says so;
   * undefined while its page of changes is not loaded. */
  const current = (): { heads: string[]; time: number; people: Person[]; line: string } | undefined => {
    if (!history) return
    const i = Number(range.value)
    if (!stepping) {
      const m = history.moments[i]
      if (!m) return
      const people = authorsOf(m)
      const line = t.tsMoment(momentTime(m.end), people.map((p) => personLabel(p.name, p.guest)).join(", "), i + 1, history.moments.length)
      return { heads: m.heads, time: m.end, people, line }
    }
    const page = pages.get(Math.floor(i / PAGE))
    const c = page?.changes[i - page.from]
    const p = c && page.people[c.author]
    if (!c || !p) return
    return { heads: c.heads, time: c.time, people: [p], line: t.tsChange(momentTime(c.time), personLabel(p.name, p.guest), i + 1, history.total) }
  }

  /** The time and authors, at once (the text follows from the server). */
  const describe = () => {
    const c = current()
    if (!c) {
      if (stepping) {
        when.textContent = t.tsLoading
        void loadPage(Math.floor(Number(range.value) / PAGE))
      }
      return
    }
    when.textContent = c.line
    when.dataset.authors = c.people.map((p) => p.key).join(" ")
    range.setAttribute("aria-valuetext", c.line)
  }

  /** Loads a page of changes, then shows the slider's place if it is there. */
  const loading = new Set<number>()
  const loadPage = async (n: number) => {
    if (loading.has(n) || pages.has(n)) return
    loading.add(n)
    try {
      const r = await fetch(`/api/documents/${encodeURIComponent(docId)}/changes?from=${n * PAGE}`, { credentials: "same-origin", signal })
      if (!r.ok) throw new Error(String(r.status))
      const a: unknown = await r.json()
      if (!validSteps(a)) throw new Error("unexpected answer")
      if (pages.size > 64) pages.clear()
      pages.set(n, a)
      if (stepping && Math.floor(Number(range.value) / PAGE) === n) {
        describe()
        scheduleAt(0)
      }
    } catch {
      if (!signal.aborted) when.textContent = t.tsUnavailable
    } finally {
      loading.delete(n)
    }
  }

  /** Switches between moments and changes, at the same place in the history:
   * a moment's last change, or the moment that holds a change. */
  const setStepping = (on: boolean) => {
    if (!history) {
      // Not loaded yet: the choice waits.
      byChanges.checked = stepping
      byMoments.checked = !stepping
      return
    }
    if (on === stepping) return
    const i = Number(range.value)
    const ends: number[] = []
    for (const m of history.moments) ends.push((ends.at(-1) ?? 0) + m.changes)
    stepping = on
    if (on) {
      range.max = String(Math.max(0, history.total - 1))
      range.value = String(Math.max(0, (ends[i] ?? history.total) - 1))
    } else {
      range.max = String(Math.max(0, history.moments.length - 1))
      const k = ends.findIndex((e) => e > i)
      range.value = String(k < 0 ? history.moments.length - 1 : k)
    }
    text.dataset.mode = on ? "changes" : "moments"
    note.textContent = ""
    describe()
    scheduleAt(0)
  }

  const draw = (a: At, index: number, time: number) => {
    shownAt = a
    shownTime = time
    text.replaceChildren()
    let at = 0
    for (const s of a.spans) {
      if (s.from > at) text.append(a.text.slice(at, s.from))
      const p = a.people[s.person]
      const span = h("span", { class: `cm-author cm-author-${(p && colours.get(p.key)) ?? 0}` }, a.text.slice(s.from, s.to))
      if (p) {
        span.dataset.author = p.key
        span.title = personLabel(p.name, p.guest)
      }
      text.append(span)
      at = Math.max(at, s.to)
    }
    if (at < a.text.length) text.append(a.text.slice(at))
    if (!a.text) text.append(h("span", { class: "ts-empty" }, t.tsEmpty))
    legend.replaceChildren()
    for (const p of a.people) {
      legend.append(
        h("li", { "data-author": p.key }, h("span", { class: `swatch cm-author-${colours.get(p.key) ?? 0}`, "aria-hidden": "true" }), ` ${personLabel(p.name, p.guest)}`),
      )
    }
    text.dataset.index = String(index)
    text.dataset.state = "ready"
    copy.disabled = false
    restore.disabled = false
  }

  const showAt = async () => {
    const m = current()
    const index = Number(range.value)
    const mode = stepping
    if (!m) return
    const key = m.heads.join(",")
    const cached = cache.get(key)
    if (cached) return draw(cached, index, m.time)
    const mine = ++asked
    text.dataset.state = "loading"
    copy.disabled = true
    restore.disabled = true
    try {
      const r = await fetch(`/api/documents/${encodeURIComponent(docId)}/at?heads=${key}`, { credentials: "same-origin", signal })
      if (!r.ok) throw new Error(String(r.status))
      const a: unknown = await r.json()
      if (!validAt(a)) throw new Error("unexpected answer")
      // Kept small: a slider's worth of versions.
      if (cache.size > 64) cache.clear()
      cache.set(key, a)
      if (mine === asked && Number(range.value) === index && stepping === mode) draw(a, index, m.time)
    } catch {
      if (signal.aborted || mine !== asked) return
      text.dataset.state = "failed"
      note.textContent = t.tsUnavailable
    }
  }

  const scheduleAt = (ms: number) => {
    clearTimeout(atTimer)
    atTimer = window.setTimeout(() => void showAt(), ms)
  }

  const loadHistory = async () => {
    try {
      const r = await fetch(`/api/documents/${encodeURIComponent(docId)}/history`, { credentials: "same-origin", signal })
      if (!r.ok) throw new Error(String(r.status))
      const a: unknown = await r.json()
      if (!validHistory(a)) throw new Error("unexpected answer")
      if (!open) return
      // At the newest moment or change (or just opened): follow the newest.
      const atEnd = !history || Number(range.value) >= Number(range.max)
      history = a
      pages.clear()
      colours = slots(a.people.map((p) => p.key))
      range.max = String(Math.max(0, (stepping ? a.total : a.moments.length) - 1))
      if (atEnd) range.value = range.max
      describe()
      scheduleAt(0)
    } catch {
      if (signal.aborted) return
      when.textContent = t.tsUnavailable
    }
  }

  const setOpen = (o: boolean) => {
    open = o
    toggle.setAttribute("aria-expanded", String(o))
    toggle.textContent = o ? t.tsClose : t.tsOpen
    panel.hidden = !o
    opts.shown(o)
    note.textContent = ""
    if (o) {
      history = undefined
      stepping = false
      byMoments.checked = true
      text.dataset.mode = "moments"
      void loadHistory().then(() => range.focus())
    } else {
      asked++
      clearTimeout(atTimer)
      clearTimeout(historyTimer)
    }
  }

  toggle.addEventListener("click", () => setOpen(!open), { signal })
  for (const r of [byMoments, byChanges]) r.addEventListener("change", () => setStepping(byChanges.checked), { signal })
  range.addEventListener(
    "input",
    () => {
      describe()
      note.textContent = ""
      scheduleAt(120)
    },
    { signal },
  )
  copy.addEventListener(
    "click",
    async () => {
      if (!shownAt) return
      try {
        await navigator.clipboard.writeText(shownAt.text)
        note.textContent = t.tsCopied
      } catch {
        // No clipboard here: the text is selected for Ctrl+C.
        const sel = getSelection()
        sel?.selectAllChildren(text)
        note.textContent = t.inviteCopyByHand
      }
    },
    { signal },
  )
  restore.addEventListener(
    "click",
    () => {
      const a = shownAt
      if (!a || !confirm(t.tsRestoreConfirm(momentTime(shownTime)))) return
      try {
        handle.change((d) => {
          A.updateText(d as A.Doc<unknown>, path.slice(), a.text)
          ;(d as { updatedAt?: Date }).updatedAt = new Date()
        })
      } catch {
        note.textContent = t.tsRestoreFailed
        return
      }
      setOpen(false)
      toggle.focus()
    },
    { signal },
  )
  // New changes while it is open: the list of moments follows, a moment later.
  const onChange = () => {
    if (!open) return
    clearTimeout(historyTimer)
    historyTimer = window.setTimeout(() => void loadHistory(), 1500)
  }
  handle.on("remote-heads", onChange)

  return {
    toggle,
    panel,
    dispose() {
      abort.abort()
      clearTimeout(atTimer)
      clearTimeout(historyTimer)
      handle.off("remote-heads", onChange)
    },
  }
}

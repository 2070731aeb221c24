// The home: the documents this person may open (minutes and pages, drafts
// marked), a search by title, and the buttons that create new ones.

import { type CahierDoc, type Ctx, type View, h, header, labelled, slugify } from "./common"
import { lang, t } from "./i18n"

/** A document on the server's list. */
export type Entry = { id: string; kind: string; title: string; slug: string; updated_ms: number | null; published: boolean; template?: boolean }

/** A page template, as "Nouvelle page" offers it. */
type Template = { id: string; title: string }

export function homeView(ctx: Ctx): View {
  const abort = new AbortController()
  const { signal } = abort
  const { session } = ctx
  document.title = `${t.home} · Cahier`
  let entries: Entry[] = []
  // Until the list arrives, and when it cannot be had, the page says so.
  const listState = h("p", { id: "list-state", role: "status" }, t.connecting)
  const search = h("input", { type: "search", id: "search", autocomplete: "off" })
  const minutesList = h("ul", { class: "docs", id: "minutes-list" })
  const pagesList = h("ul", { class: "docs", id: "pages-list" })
  const render = () => {
    const q = slugify(search.value)
    minutesList.replaceChildren()
    pagesList.replaceChildren()
    const shown = entries.filter((e) => !q || slugify(e.title).includes(q) || e.slug.includes(q))
    for (const e of shown) {
      const when = e.updated_ms ? new Date(e.updated_ms).toLocaleString(lang) : ""
      const li = h(
        "li",
        { "data-state": e.published ? "published" : "draft" },
        h("a", { href: `/edit/${e.id}` }, e.title || (e.kind === "minutes" ? t.untitledMinutes : t.untitledPage)),
        " ",
        h("span", { class: `badge ${e.published ? "published" : "draft"}` }, e.published ? t.publishedBadge(e.kind) : t.draft),
        " ",
      )
      if (e.template) li.append(h("span", { class: "badge template" }, t.templateBadge), " ")
      // A published document's public page, for readers.
      if (e.published && e.slug) li.append(h("a", { href: `/wiki/${e.slug}`, class: "public", "aria-label": `${t.publicPage} : ${e.title}` }, t.publicPage), " ")
      li.append(h("small", {}, when))
      ;(e.kind === "minutes" ? minutesList : pagesList).append(li)
    }
    for (const list of [minutesList, pagesList]) {
      if (!list.childElementCount) list.append(h("li", { class: "empty" }, t.noDocuments))
    }
  }
  search.addEventListener("input", render, { signal })
  render()
  void (async () => {
    try {
      const r = await fetch("/api/documents", { credentials: "same-origin", signal })
      if (!r.ok) throw new Error(`${r.status}`)
      entries = (await r.json()) as Entry[]
      listState.textContent = ""
      listState.hidden = true
    } catch (e) {
      if (signal.aborted) return
      listState.textContent = `${t.listFailed} (${e instanceof Error ? e.message : String(e)})`
    }
    render()
  })()
  const buttons = h("p", { class: "create" })
  // With page templates, "Nouvelle page" offers a blank page or one of them.
  const choices = h("ul", { class: "choices", id: "new-page-choices", hidden: "" })
  const createState = h("p", { id: "create-state", role: "status" })
  if (session.may_create) {
    const newMinutes = h("button", { type: "button", id: "new-minutes" }, t.newMinutes)
    const newPage = h("button", { type: "button", id: "new-page" }, t.newPage)
    let templates: Template[] = []
    const showChoices = (shown: boolean) => {
      choices.hidden = !shown
      newPage.setAttribute("aria-expanded", String(shown))
    }
    newMinutes.addEventListener("click", () => create(ctx, "minutes"), { signal })
    newPage.addEventListener(
      "click",
      () => {
        if (!templates.length) return create(ctx, "page")
        showChoices(choices.hidden)
        if (!choices.hidden) choices.querySelector("button")?.focus()
      },
      { signal },
    )
    choices.addEventListener(
      "keydown",
      (e) => {
        if (e.key !== "Escape") return
        showChoices(false)
        newPage.focus()
      },
      { signal },
    )
    buttons.append(newMinutes, " ", newPage)
    void (async () => {
      try {
        const r = await fetch("/api/templates", { credentials: "same-origin", signal })
        if (!r.ok) return
        templates = (await r.json()) as Template[]
      } catch {
        return
      }
      if (!templates.length) return
      newPage.setAttribute("aria-expanded", "false")
      newPage.setAttribute("aria-controls", choices.id)
      const blank = h("button", { type: "button", id: "new-blank-page" }, t.blankPage)
      blank.addEventListener("click", () => create(ctx, "page"), { signal })
      choices.replaceChildren(h("li", {}, blank))
      for (const tpl of templates) {
        const b = h("button", { type: "button", class: "from-template", "data-template": tpl.id }, t.fromTemplate(tpl.title || t.untitledPage))
        b.addEventListener("click", () => void createFrom(ctx, tpl.id, createState, signal), { signal })
        choices.append(h("li", {}, b))
      }
    })()
  }
  const main = h(
    "main",
    { id: "main", tabindex: "-1" },
    h("h1", {}, t.appName),
    buttons,
    choices,
    createState,
    labelled(t.searchTitle, search),
    listState,
    h("section", { "aria-labelledby": "h-minutes" }, h("h2", { id: "h-minutes" }, t.minutes), minutesList),
    h("section", { "aria-labelledby": "h-pages" }, h("h2", { id: "h-pages" }, t.pages), pagesList),
  )
  // Maintainers' pages, on the server (no JavaScript needed there).
  if (session.may_publish) {
    main.append(
      h(
        "section",
        { "aria-labelledby": "h-maintain" },
        h("h2", { id: "h-maintain" }, t.maintain),
        h("ul", { class: "docs" }, h("li", {}, h("a", { href: "/files", id: "files-link" }, t.files)), h("li", {}, h("a", { href: "/audit" }, t.auditLog))),
      ),
    )
  }
  const element = h("div", { class: "view" }, header(ctx, signal), main)
  return { element, dispose: () => abort.abort() }
}

/** A new page from a template, made by the server (so that its text is
 * credited to the template's authors), then opened at its title. */
async function createFrom(ctx: Ctx, template: string, state: HTMLElement, signal: AbortSignal) {
  try {
    const r = await fetch(`/api/documents/${template}/from-template`, {
      method: "POST",
      credentials: "same-origin",
      headers: { "content-type": "application/json", "x-cahier-csrf": ctx.session.csrf ?? "" },
      body: JSON.stringify({ title: "" }),
      signal,
    })
    if (!r.ok) throw new Error(`${r.status} ${await r.text()}`)
    const made = (await r.json()) as { id: string }
    ctx.navigate(`/edit/${made.id}`, { focusTitle: true })
  } catch (e) {
    if (signal.aborted) return
    state.textContent = `${t.createFailed} (${e instanceof Error ? e.message : String(e)})`
  }
}

function create(ctx: Ctx, kind: "page" | "minutes") {
  const now = new Date()
  const base: CahierDoc = {
    kind,
    schemaVersion: 1,
    title: "",
    slug: "",
    body: "",
    tags: [],
    license: "CC-BY-4.0",
    status: "draft",
    createdAt: now,
    updatedAt: now,
    importedCredits: [],
  }
  if (kind === "minutes") {
    const pad = (n: number) => String(n).padStart(2, "0")
    Object.assign(base, {
      startsAt: `${now.getFullYear()}-${pad(now.getMonth() + 1)}-${pad(now.getDate())}T${pad(now.getHours())}:${pad(now.getMinutes())}`,
      place: "",
      facilitator: "",
      participants: [],
      agenda: [],
      decisions: [],
      actions: [],
    })
  }
  const handle = ctx.repo.create<CahierDoc>(base)
  ctx.navigate(`/edit/${handle.documentId}`, { focusTitle: true })
}
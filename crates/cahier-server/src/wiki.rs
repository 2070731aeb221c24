//! The wiki over HTTP: published pages for readers, tags, backlinks, recent
//! changes, the Atom feed, search, Markdown export, history, and publishing.
//!
//! Readers only ever see what the catalog holds: published versions. Every other
//! resource asks [`cahier_auth::allowed`], and a refusal to an anonymous reader
//! looks exactly like a missing page.

use std::sync::{Arc, RwLock};

use automerge::{ChangeHash, ReadDoc};
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use cahier_auth::{Act, Principal, allowed};
use cahier_doc::history::{TooLarge, WordDiff};
use cahier_doc::{DocId, Status};
use cahier_store::Store;
use cahier_wiki::html;
use cahier_wiki::search::SearchIndex;
use cahier_wiki::{Catalog, Published};
use serde::Deserialize;

use crate::handler::{LiveDoc, blocking, error_page, refused, server_error};
use crate::http::AppState;
use crate::publication;
use crate::web_auth::{CsrfForm, Viewer, html_page, viewer};

/// The published wiki in memory: the catalog and its search index.
pub struct WikiState {
    pub catalog: Catalog,
    pub search: SearchIndex,
    /// Readers' pages, whole, per (slug, language), for one catalog generation.
    pub pages: std::sync::Mutex<std::collections::HashMap<(String, cahier_wiki::Lang), Arc<CachedPage>>>,
    /// Published pages as Markdown files, by document, with the heads they show.
    pub markdown: std::sync::Mutex<std::collections::HashMap<DocId, MarkdownAt>>,
    /// Readers see published pages' history (`publication::public_history`, read at start).
    pub public_history: bool,
}

pub struct CachedPage {
    generation: u64,
    etag: String,
    body: axum::body::Bytes,
}

pub type Wiki = Arc<RwLock<WikiState>>;

/// Builds the catalog from the store's publication records (at startup).
pub fn load(store: &Store) -> anyhow::Result<WikiState> {
    let mut pages = Vec::new();
    for (id, p) in publication::publications(store)? {
        match publication::published_page(store, &id, &p)? {
            Some(page) => pages.push(page),
            None => tracing::warn!(%id, "a published document or its published version is missing; not served"),
        }
    }
    let mut search = SearchIndex::new()?;
    let texts: Vec<(String, String, String)> =
        pages.iter().map(|p| (p.slug.clone(), p.title.clone(), cahier_wiki::render::plain_text(&p.body))).collect();
    let refs: Vec<(&str, &str, &str)> = texts.iter().map(|(a, b, c)| (a.as_str(), b.as_str(), c.as_str())).collect();
    search.put(&refs)?;
    let mut catalog = Catalog::default();
    for file in cahier_app::files::list(store)? {
        if file.kind().is_some_and(cahier_app::media::FileKind::is_image) {
            catalog.set_image_size(&file.name(), file.width, file.height);
        }
    }
    catalog.extend(pages);
    let public_history = publication::public_history(store)?;
    Ok(WikiState { catalog, search, pages: Default::default(), markdown: Default::default(), public_history })
}

/// Puts a freshly published page in the catalog and the search index.
pub fn show(wiki: &Wiki, page: Published) -> anyhow::Result<()> {
    let mut w = wiki.write().map_err(|_| anyhow::anyhow!("the wiki's lock is poisoned"))?;
    let text = cahier_wiki::render::plain_text(&page.body);
    w.search.put(&[(&page.slug, &page.title, &text)])?;
    if let Some(old) = w.catalog.by_id(&page.id).map(|p| p.slug.clone())
        && old != page.slug
    {
        w.search.remove(&old)?;
    }
    w.catalog.upsert(page);
    Ok(())
}

pub fn hide(wiki: &Wiki, id: &DocId) -> anyhow::Result<()> {
    let mut w = wiki.write().map_err(|_| anyhow::anyhow!("the wiki's lock is poisoned"))?;
    if let Some(p) = w.catalog.remove(id) {
        w.search.remove(&p.slug)?;
    }
    Ok(())
}

const CSP: &str =
    "default-src 'none'; style-src 'self'; img-src 'self' https:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// Security headers for every response of Cahier's HTTP side.
pub async fn security_headers(req: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let mut resp = next.run(req).await;
    let h = resp.headers_mut();
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    resp
}

#[derive(Deserialize, Default)]
pub struct PageQuery {
    lang: Option<String>,
    version: Option<String>,
    from: Option<String>,
    to: Option<String>,
    session: Option<String>,
    q: Option<String>,
}

fn not_found(state: &AppState, v: &Viewer, _path: &str) -> Response {
    crate::handler::not_found(state, v)
}

/// A cacheable response for readers: `ETag`, `304 Not Modified`, `Cache-Control`.
/// Logged-in viewers get private, uncached pages (they carry their name and forms).
/// Whether the request already holds the response `cacheable` would tag `etag`.
fn etag_matches(headers: &HeaderMap, v: &Viewer, etag: &str) -> bool {
    let etag = format!("\"{etag}-{}\"", v.lang.code());
    headers
        .get(header::IF_NONE_MATCH)
        .and_then(|h| h.to_str().ok())
        .is_some_and(|h| h.split(',').any(|t| t.trim().trim_start_matches("W/") == etag))
}

fn cacheable<B: Into<axum::body::Body>>(
    headers: &HeaderMap,
    v: &Viewer,
    etag: String,
    content_type: &'static str,
    body: impl FnOnce() -> B,
) -> Response {
    if v.principal != Principal::Anonymous {
        return (StatusCode::OK, [(header::CONTENT_TYPE, content_type), (header::CACHE_CONTROL, "private, no-store")], body().into())
            .into_response();
    }
    let matches = etag_matches(headers, v, &etag);
    let etag = format!("\"{etag}-{}\"", v.lang.code());
    let common = [
        (header::CACHE_CONTROL, "public, max-age=60".to_owned()),
        (header::ETAG, etag),
        (header::VARY, "Accept-Language, Accept-Encoding, Cookie, Authorization".to_owned()),
    ];
    if matches {
        return (StatusCode::NOT_MODIFIED, common).into_response();
    }
    (StatusCode::OK, common, [(header::CONTENT_TYPE, content_type)], body().into()).into_response()
}

pub async fn home() -> Redirect {
    Redirect::to("/wiki")
}

pub async fn index(State(state): State<AppState>, Query(q): Query<PageQuery>, headers: HeaderMap) -> Response {
    let v = viewer(&state, &headers, q.lang.as_deref()).await;
    let Ok(w) = state.wiki.read() else { return server_error("lock") };
    let etag = format!("index-{}", w.catalog.generation());
    cacheable(&headers, &v, etag, "text/html; charset=utf-8", || html::index(&v.ctx(&state, "/wiki"), &w.catalog.by_title()))
}

pub async fn page(State(state): State<AppState>, Path(slug): Path<String>, Query(q): Query<PageQuery>, headers: HeaderMap) -> Response {
    if let Some(slug) = slug.strip_suffix(".md") {
        return markdown(state, slug.to_owned(), q, headers).await;
    }
    let v = viewer(&state, &headers, q.lang.as_deref()).await;
    let path = format!("/wiki/{slug}");
    let published = match state.wiki.read() {
        Ok(w) => w.catalog.get(&slug).map(|p| p.id.clone()),
        Err(_) => return server_error("lock"),
    };
    let Some(id) = published else { return draft_or_missing(&state, &v, &slug, &path).await };
    // A maintainer learns that the draft moved on, sees what changed, and
    // publishes exactly that version in place (readers never get a 404).
    let maintainer = allowed(&v.principal, &Act::Unpublish) && v.csrf.is_some();
    let live = if maintainer {
        let heads = blocking(&state.store, move |store| Ok(store.load_record(&id)?.map(|(doc, _)| doc.get_heads()))).await;
        heads.ok().flatten()
    } else {
        None
    };
    published_page(&state, &v, &slug, &path, &headers, maintainer, live)
}

/// A published page from the catalog; `live`: the heads of the document now,
/// for a maintainer.
fn published_page(
    state: &AppState,
    v: &Viewer,
    slug: &str,
    path: &str,
    headers: &HeaderMap,
    maintainer: bool,
    live: Option<Vec<ChangeHash>>,
) -> Response {
    let Ok(w) = state.wiki.read() else { return server_error("lock") };
    let Some(p) = w.catalog.get(slug) else { return not_found(state, v, path) };
    let generation = w.catalog.generation();
    if v.principal == Principal::Anonymous {
        // Readers all get the same bytes: rendered once per published version.
        let key = (slug.to_owned(), v.lang);
        let hit = w.pages.lock().ok().and_then(|c| c.get(&key).filter(|h| h.generation == generation).cloned());
        let page = match hit {
            Some(page) => page,
            None => {
                let body = html::page(&v.ctx(state, path), p, &w.catalog.backlinks(slug), w.public_history, "");
                let page = Arc::new(CachedPage { generation, etag: format!("{}-{generation}", p.version_tag()), body: body.into() });
                if let Ok(mut c) = w.pages.lock() {
                    c.retain(|_, h| h.generation == generation);
                    c.insert(key, page.clone());
                }
                page
            }
        };
        return cacheable(headers, v, page.etag.clone(), "text/html; charset=utf-8", || page.body.clone());
    }
    let can_history = w.public_history || allowed(&v.principal, &Act::ReadHistory(&p.id));
    let etag = format!("{}-{generation}", p.version_tag());
    let extra = if maintainer {
        let ctx = v.ctx(state, path);
        format!(" · {} {}", html::unpublish_form(&ctx, slug), html::delete_form(&ctx, slug))
    } else {
        String::new()
    };
    let notice = if let Some(live) = live
        && publication::parse_heads(&p.heads).is_some_and(|published| {
            let mut a = published.clone();
            let mut b = live.clone();
            a.sort();
            b.sort();
            a != b
        }) {
        let live: Vec<String> = live.iter().map(|h| h.to_string()).collect();
        html::unpublished_changes(&v.ctx(state, path), slug, p.heads.first().map_or("", String::as_str), &live.join(","))
    } else {
        String::new()
    };
    cacheable(headers, v, etag, "text/html; charset=utf-8", || {
        let page = html::page(&v.ctx(state, path), p, &w.catalog.backlinks(slug), can_history, &extra);
        if notice.is_empty() { page } else { page.replacen("<main id=\"main\">", &format!("<main id=\"main\">\n{notice}"), 1) }
    })
}

/// A slug that is not published: a 404 for readers (exactly like a missing page);
/// for maintainers, a page offering to publish the draft.
async fn draft_or_missing(state: &AppState, v: &Viewer, slug: &str, path: &str) -> Response {
    if !allowed(&v.principal, &Act::Publish) {
        return not_found(state, v, path);
    }
    let owned = slug.to_owned();
    let found = blocking(&state.store, move |store| {
        let Some(id) = cahier_app::live_by_slug(store, &owned)? else { return Ok(None) };
        let Some((doc, _)) = store.load_record(&id)? else { return Ok(None) };
        let names = crate::auth_store::actor_names(store).unwrap_or_default();
        // Minutes that became a page say where it lives now.
        let promoted = match cahier_app::promote::promotion(store, &id)? {
            Some(p) => {
                let address = DocId::parse(&p.page).ok().map(|page| store.address(&page)).transpose()?.unwrap_or_default();
                Some((address, p))
            }
            None => None,
        };
        Ok(Some((doc, names, promoted)))
    })
    .await;
    let Ok(Some((doc, names, promoted))) = found else { return not_found(state, v, path) };
    let (view, _) = cahier_doc::read(&doc, None);
    let ctx = v.ctx(state, path);
    let mut rendered = render_with_catalog(state, &view.body, view.kind, v.lang);
    if let Some(m) = &view.minutes {
        // Every structured part of the minutes, around their notes.
        let (head, tail) = html::minutes_parts(&ctx, m);
        // Notes that bring their own heading keep it.
        let notes = match view.body.trim_start() {
            "" => String::new(),
            b if b.starts_with('#') => rendered,
            _ => format!("<h2>{}</h2>\n{rendered}", v.lang.t().m_notes),
        };
        rendered = format!("{head}{notes}{tail}");
    }
    if let Some((address, p)) = &promoted {
        rendered = format!("{}\n{rendered}", html::promoted_notice(&ctx, address, p.at_ms, &p.by));
    }
    let sessions = named_sessions(&names, &doc);
    let heads = doc.get_heads();
    let current = cahier_doc::history::session_naming(&sessions, &heads);
    let mut body =
        html::version(&ctx, slug, &view.title, &heads.first().map(|h| h.to_string()).unwrap_or_default(), current.as_ref(), &rendered);
    if v.csrf.is_some() {
        let heads: Vec<String> = doc.get_heads().iter().map(|h| h.to_string()).collect();
        let first = match (view.kind, &promoted) {
            (cahier_doc::Kind::Page, _) => html::publish_version_form(&ctx, slug, &heads.join(","), v.lang.t().publish),
            (cahier_doc::Kind::Minutes, None) => format!("{} {}", html::next_meeting_form(&ctx, slug), html::promote_form(&ctx, slug)),
            (cahier_doc::Kind::Minutes, Some(_)) => html::next_meeting_form(&ctx, slug),
        };
        body = body.replace("</main>", &format!("<p>{first} {}</p>\n</main>", html::delete_form(&ctx, slug)));
    }
    html_page(StatusCode::OK, body)
}

fn render_with_catalog(state: &AppState, body: &str, kind: cahier_doc::Kind, lang: cahier_wiki::Lang) -> String {
    // Rendered outside the lock: publishing must never wait on a preview.
    let slugs = state.wiki.read().map(|w| w.catalog.slugs()).unwrap_or_default();
    cahier_wiki::render_as(body, kind, &|s: &str| slugs.contains(s)).html(lang).into_owned()
}

use cahier_app::restore::parse_version;

/// The live document at address `slug`, read on a blocking thread.
async fn find_live(state: &AppState, slug: &str) -> cahier_app::Result<Option<DocId>> {
    let slug = slug.to_owned();
    blocking(&state.store, move |store| cahier_app::live_by_slug(store, &slug)).await
}

/// `/wiki/SLUG.md`: the published version with front matter and credits;
/// `?version=HASH` any version, for those who may read the history.
async fn markdown(state: AppState, slug: String, q: PageQuery, headers: HeaderMap) -> Response {
    let v = viewer(&state, &headers, q.lang.as_deref()).await;
    let path = format!("/wiki/{slug}.md");
    let (id, heads, published) = match q.version.as_deref() {
        None => {
            let Ok(w) = state.wiki.read() else { return server_error("lock") };
            let Some(p) = w.catalog.get(&slug) else { return not_found(&state, &v, &path) };
            let Some(heads) = publication::parse_heads(&p.heads) else { return not_found(&state, &v, &path) };
            (p.id.clone(), heads, true)
        }
        Some(version) => {
            let Some(heads) = parse_version(version) else { return not_found(&state, &v, &path) };
            let Ok(Some(id)) = find_live(&state, &slug).await else { return not_found(&state, &v, &path) };
            if !allowed(&v.principal, &Act::ReadHistory(&id)) {
                return not_found(&state, &v, &path);
            }
            (id, heads, false)
        }
    };
    let etag: String = heads.iter().map(|h| h.to_string()[..16].to_owned()).collect::<Vec<_>>().join("-");
    // Readers all get the same bytes for a publication: made once, and a
    // reader who has them is answered 304 before any work.
    let cached = published.then(|| state.wiki.read().ok()?.markdown.lock().ok()?.get(&id).filter(|(h, _)| *h == heads).cloned()).flatten();
    let not_modified = v.principal == Principal::Anonymous && etag_matches(&headers, &v, &etag);
    let made = match cached {
        Some((_, made)) => made,
        None if not_modified => Arc::new(MarkdownFile::default()),
        None => {
            let store = state.store.clone();
            let (id2, heads2) = (id.clone(), heads.clone());
            match tokio::task::spawn_blocking(move || markdown_file(&store, &id2, &heads2, published)).await {
                Ok(Ok(Some(made))) => {
                    let made = Arc::new(made);
                    if published
                        && let Ok(w) = state.wiki.read()
                        && let Ok(mut cache) = w.markdown.lock()
                    {
                        cache.insert(id.clone(), (heads.clone(), made.clone()));
                    }
                    made
                }
                Ok(Ok(None)) => return not_found(&state, &v, &path),
                Ok(Err(e)) => return server_error(e),
                Err(e) => return server_error(e),
            }
        }
    };
    let text = made.text.clone();
    let mut resp = cacheable(&headers, &v, etag, "text/markdown; charset=utf-8", || text);
    if let Ok(d) = HeaderValue::from_str(&format!("inline; filename=\"{}\"", made.file_name)) {
        resp.headers_mut().insert(header::CONTENT_DISPOSITION, d);
    }
    resp
}

/// A published page's Markdown file and the heads it shows.
pub type MarkdownAt = (Vec<ChangeHash>, Arc<MarkdownFile>);

/// One version of a document as a Markdown file.
#[derive(Default)]
pub struct MarkdownFile {
    text: String,
    file_name: String,
}

/// Loads the document and writes it at `heads` with its credits; `None` if it
/// or one of the heads is gone. Blocking: store reads and attribution.
fn markdown_file(store: &Store, id: &DocId, heads: &[ChangeHash], published: bool) -> cahier_app::Result<Option<MarkdownFile>> {
    let Some((doc, _)) = store.load_record(id)? else { return Ok(None) };
    if heads.iter().any(|h| doc.get_change_by_hash(h).is_none()) {
        return Ok(None);
    }
    let (mut view, _) = cahier_doc::read(&doc, Some(heads));
    if published {
        view.status = Status::Published;
    }
    let address = store.address(id)?;
    if cahier_doc::schema::is_valid_slug(&address) {
        view.slug = address;
    }
    let names: Vec<String> = crate::auth_store::credits(store, &doc, Some(heads))?;
    Ok(Some(MarkdownFile { text: cahier_doc::markdown::to_markdown(&view, &names), file_name: cahier_doc::markdown::file_name(&view) }))
}

/// `/wiki/SLUG/history`: editing sessions (`?version=` one version,
/// `?session=` what one session's changes did, `?from=&to=` two versions
/// compared). Those who may read the history see all of it; other readers,
/// when public history is on (`publication::public_history`), see
/// a published page's sessions up to its published version and nothing after
/// (a draft's history is a 404, like a missing page).
pub async fn history(State(state): State<AppState>, Path(slug): Path<String>, Query(q): Query<PageQuery>, headers: HeaderMap) -> Response {
    let v = viewer(&state, &headers, q.lang.as_deref()).await;
    let path = format!("/wiki/{slug}/history");
    let id = match find_live(&state, &slug).await {
        Ok(Some(id)) => id,
        Ok(None) => return not_found(&state, &v, &path),
        Err(e) => return server_error(e),
    };
    let full = allowed(&v.principal, &Act::ReadHistory(&id));
    let (published, slugs, public) = match state.wiki.read() {
        Ok(w) => (
            w.catalog.by_id(&id).and_then(|p| {
                let heads = publication::parse_heads(&p.heads)?;
                Some((heads, html::PublishedMark { heads: p.heads.join(","), at_ms: p.published_ms, by: p.published_by.clone() }))
            }),
            w.catalog.slugs(),
            w.public_history,
        ),
        Err(_) => return server_error("lock"),
    };
    let limit = match (&published, full) {
        (_, true) => None,
        (Some((heads, _)), false) if public => Some(heads.clone()),
        _ => return not_found(&state, &v, &path),
    };
    let asked = HistoryQuery { version: q.version.clone(), session: q.session.clone(), from: q.from.clone(), to: q.to.clone() };
    let (lang, published_heads) = (v.lang, published.as_ref().map(|(h, _)| h.clone()));
    // Diffs cost work in proportion to the text: a few at a time.
    let Ok(Ok(_permit)) = tokio::time::timeout(std::time::Duration::from_secs(10), state.render_permits.acquire()).await else {
        return (StatusCode::SERVICE_UNAVAILABLE, [(header::RETRY_AFTER, "5")], "busy: try again in a few seconds").into_response();
    };
    let built = blocking(&state.store, move |store| {
        let Some((doc, _)) = store.load_record(&id)? else { return Ok(HistoryPage::Missing) };
        let names = crate::auth_store::actor_names(store).unwrap_or_default();
        Ok(history_page(&doc, &names, limit.as_deref(), published_heads.as_deref(), &asked, lang, &slugs))
    })
    .await;
    let page = match built {
        Ok(page) => page,
        Err(e) => return server_error(e),
    };
    let ctx = v.ctx(&state, &path);
    let body = match page {
        HistoryPage::Missing => return not_found(&state, &v, &path),
        HistoryPage::Version { title, version, session, html } => html::version(&ctx, &slug, &title, &version, session.as_ref(), &html),
        HistoryPage::Diff { title, session, diff } => html::diff(&ctx, &slug, &title, session.as_ref(), diff.as_ref()),
        HistoryPage::List { title, rows } => {
            let restore = if full && allowed(&v.principal, &Act::Restore) { v.csrf.as_deref() } else { None };
            html::history(&ctx, &slug, &title, &rows, published.as_ref().map(|(_, m)| m), restore)
        }
    };
    html_page(StatusCode::OK, body)
}

/// What the history was asked for.
struct HistoryQuery {
    version: Option<String>,
    session: Option<String>,
    from: Option<String>,
    to: Option<String>,
}

/// A history page's content, made on a blocking thread.
enum HistoryPage {
    Missing,
    List { title: String, rows: Vec<html::SessionRow> },
    Version { title: String, version: String, session: Option<cahier_doc::history::Session>, html: String },
    Diff { title: String, session: Option<cahier_doc::history::Session>, diff: Result<WordDiff, TooLarge> },
}

/// The newest sessions whose words the history counts; older ones link to their diff.
const COUNTED_SESSIONS: usize = 30;
/// The most lines the counts of one history page compare, all sessions together.
const COUNTED_LINES: usize = 100_000;

/// Builds a history page from the document. `limit`: the version beyond
/// which nothing is shown (the published one, for readers of public
/// history); `published`: the published version, to mark it.
fn history_page(
    doc: &automerge::Automerge,
    names: &std::collections::HashMap<String, String>,
    limit: Option<&[ChangeHash]>,
    published: Option<&[ChangeHash]>,
    q: &HistoryQuery,
    lang: cahier_wiki::Lang,
    slugs: &std::collections::HashSet<String>,
) -> HistoryPage {
    use cahier_doc::history;
    let all = named_versions(names, doc);
    let versions = match limit {
        Some(l) => history::up_to(&all, l),
        None => all.clone(),
    };
    let shown: std::collections::HashSet<ChangeHash> = versions.iter().map(|v| v.hash).collect();
    let visible = |heads: &[ChangeHash]| heads.iter().all(|h| shown.contains(h));
    let sessions = history::sessions(&versions);
    let (now, _) = cahier_doc::read(doc, limit);
    if let Some(version) = q.version.as_deref() {
        let Some(heads) = parse_version(version).filter(|h| visible(h)) else { return HistoryPage::Missing };
        let (view, _) = history::view_at(doc, &heads);
        let html = cahier_wiki::render_as(&view.body, view.kind, &|s: &str| slugs.contains(s)).html(lang).into_owned();
        let session = history::session_naming(&sessions, &heads);
        return HistoryPage::Version { title: view.title, version: version.to_owned(), session, html };
    }
    if let Some(asked) = q.session.as_deref() {
        let Some(session) = parse_version(asked).and_then(|h| history::session_ending_at(&sessions, &h)) else {
            return HistoryPage::Missing;
        };
        let (before, after) = history::session_views(doc, session);
        let diff = history::word_diff(&html::diff_text(lang, &before), &html::diff_text(lang, &after));
        return HistoryPage::Diff { title: now.title, session: Some(session.clone()), diff };
    }
    if let (Some(from), Some(to)) = (q.from.as_deref(), q.to.as_deref()) {
        let (Some(from), Some(to)) = (parse_version(from).filter(|h| visible(h)), parse_version(to).filter(|h| visible(h))) else {
            return HistoryPage::Missing;
        };
        let (a, _) = history::view_at(doc, &from);
        let (b, _) = history::view_at(doc, &to);
        let diff = history::word_diff(&html::diff_text(lang, &a), &html::diff_text(lang, &b));
        return HistoryPage::Diff { title: now.title, session: None, diff };
    }
    let in_published = published.map(|p| history::ancestors(&all, p));
    let mut budget = COUNTED_LINES;
    let mut rows: Vec<html::SessionRow> = Vec::with_capacity(sessions.len());
    for (age, s) in sessions.iter().rev().enumerate() {
        let mut words = None;
        if age < COUNTED_SESSIONS && budget > 0 {
            let (before, after) = history::session_views(doc, s);
            let (a, b) = (html::diff_text(lang, &before), html::diff_text(lang, &after));
            let lines = a.lines().count() + b.lines().count();
            if lines <= budget {
                budget -= lines;
                words = history::word_diff(&a, &b).ok().map(|d| (d.added_words, d.removed_words));
            } else {
                budget = 0;
            }
        }
        let published_here = published.is_some_and(|p| p.iter().any(|h| s.hashes.contains(h)));
        let unpublished = limit.is_none() && in_published.as_ref().is_some_and(|inside| s.hashes.iter().any(|h| !inside.contains(h)));
        rows.push(html::SessionRow { session: s.clone(), words, published: published_here, unpublished });
    }
    rows.reverse();
    HistoryPage::List { title: now.title, rows }
}

/// A document's changes, each named by its actor's recorded owner whatever
/// its author field says (browsers leave it empty, a hostile writer may
/// forge it).
fn named_versions(names: &std::collections::HashMap<String, String>, doc: &automerge::Automerge) -> Vec<cahier_doc::history::Version> {
    let mut versions = cahier_doc::history::versions(doc);
    for version in &mut versions {
        if let Some(bound) = names.get(&version.actor) {
            version.author = Some(bound.clone());
        }
    }
    versions
}

/// A document's editing sessions, named as [`named_versions`] says.
fn named_sessions(names: &std::collections::HashMap<String, String>, doc: &automerge::Automerge) -> Vec<cahier_doc::history::Session> {
    cahier_doc::history::sessions(&named_versions(names, doc))
}

#[derive(Deserialize, Default)]
pub struct PublishForm {
    #[serde(default)]
    csrf: Option<String>,
    /// The version the maintainer reviewed (comma-separated heads): exactly
    /// that is published. Without it (scripts), the stored version.
    #[serde(default)]
    heads: Option<String>,
}

pub async fn publish(
    State(state): State<AppState>,
    Path(slug): Path<String>,
    headers: HeaderMap,
    Form(form): Form<PublishForm>,
) -> Response {
    set_published(state, slug, headers, CsrfForm { csrf: form.csrf }, form.heads, true).await
}

#[derive(Deserialize, Default)]
pub struct DeleteForm {
    #[serde(default)]
    csrf: Option<String>,
    /// `yes` once the maintainer confirmed; without it, the question is asked.
    #[serde(default)]
    confirm: Option<String>,
}

/// `GET /wiki/SLUG/delete`: asks before deleting, naming the page.
pub async fn delete_page(State(state): State<AppState>, Path(slug): Path<String>, headers: HeaderMap) -> Response {
    let path = format!("/wiki/{slug}/delete");
    match LiveDoc::read(&state, &headers, &slug, Act::Delete, &path).await {
        Ok(live) => confirm_delete(&state, &live, &slug, &path).await,
        Err(refused) => refused,
    }
}

async fn confirm_delete(state: &AppState, live: &LiveDoc, slug: &str, path: &str) -> Response {
    let id = live.id.clone();
    let title = blocking(&state.store, move |store| Ok(store.load_record(&id)?.map(|(doc, _)| cahier_doc::read(&doc, None).0.title))).await;
    match title {
        Ok(Some(title)) => html_page(StatusCode::OK, html::delete_confirmation(&live.viewer.ctx(state, path), slug, &title)),
        Ok(None) => not_found(state, &live.viewer, path),
        Err(e) => server_error(e),
    }
}

pub async fn delete(State(state): State<AppState>, Path(slug): Path<String>, headers: HeaderMap, Form(form): Form<DeleteForm>) -> Response {
    let live = match LiveDoc::change(&state, &headers, &slug, Act::Delete, form.csrf.as_deref(), &format!("/wiki/{slug}")).await {
        Ok(live) => live,
        Err(refused) => return refused,
    };
    if form.confirm.as_deref() != Some("yes") {
        return confirm_delete(&state, &live, &slug, &format!("/wiki/{slug}/delete")).await;
    }
    let (id, by) = (live.id.clone(), live.by());
    if let Err(e) = blocking(&state.store, move |store| publication::delete(store, &id, &by, crate::now_ms())).await {
        return error_page(&state, &live.viewer, &format!("/wiki/{slug}"), live.viewer.lang.t().delete, &e);
    }
    let id = live.id;
    if let Err(e) = hide(&state.wiki, &id) {
        return server_error(e);
    }
    // Open editors are told at once and dropped, rather than keep syncing it;
    // from now on the engine refuses it.
    state.deleted.write().unwrap_or_else(std::sync::PoisonError::into_inner).insert(id.clone());
    let _ = state.hub.tx.send(crate::hub_task::HubEvent::Input(cahier_sync::Input::Deleted { doc: id })).await;
    // Said, with the way back.
    Redirect::to(&format!("/wiki/{slug}/deleted")).into_response()
}

/// `GET /wiki/SLUG/deleted`: for a maintainer, says that the page at SLUG is
/// deleted and offers to undo it; a 404 when nothing deleted is there.
pub async fn deleted_page(State(state): State<AppState>, Path(slug): Path<String>, headers: HeaderMap) -> Response {
    let path = format!("/wiki/{slug}/deleted");
    let v = viewer(&state, &headers, None).await;
    if !allowed(&v.principal, &Act::Delete) {
        return refused(&state, &v, &path);
    }
    let owned = slug.clone();
    let found = blocking(&state.store, move |store| {
        let Some(id) = store.find_slug(&owned)? else { return Ok(None) };
        if !publication::is_deleted(store, &id)? {
            return Ok(None);
        }
        Ok(store.load_record(&id)?.map(|(doc, _)| cahier_doc::read(&doc, None).0.title))
    })
    .await;
    match found {
        Ok(Some(title)) => html_page(StatusCode::OK, html::deleted(&v.ctx(&state, &path), &slug, &title)),
        Ok(None) => not_found(&state, &v, &path),
        Err(e) => server_error(e),
    }
}

/// `POST /wiki/SLUG/undelete`: the deleted document at SLUG comes back,
/// published again if it was published when deleted (`publication::undelete`).
pub async fn undelete(State(state): State<AppState>, Path(slug): Path<String>, headers: HeaderMap, Form(form): Form<CsrfForm>) -> Response {
    let path = format!("/wiki/{slug}");
    let v = viewer(&state, &headers, None).await;
    if !allowed(&v.principal, &Act::Delete) {
        return refused(&state, &v, &path);
    }
    if !v.csrf_ok(form.csrf.as_deref()) {
        return crate::handler::forbidden(&state, &v, &path);
    }
    let (by, wiki, owned) = (v.name().unwrap_or("?").to_owned(), state.wiki.clone(), slug.clone());
    let back = blocking(&state.store, move |store| {
        let Some(id) = store.find_slug(&owned)? else { return Ok(None) };
        let Some(_) = publication::undelete(store, &id, &by, crate::now_ms())? else { return Ok(None) };
        if let Some(p) = publication::publication(store, &id)?
            && let Some(page) = publication::published_page(store, &id, &p)?
        {
            show(&wiki, page).map_err(|e| cahier_app::Error::Storage(cahier_store::StorageError::Io(e.to_string())))?;
        }
        Ok(Some(id))
    })
    .await;
    match back {
        Ok(Some(id)) => {
            state.deleted.write().unwrap_or_else(std::sync::PoisonError::into_inner).remove(&id);
            Redirect::to(&path).into_response()
        }
        Ok(None) => not_found(&state, &v, &path),
        Err(e) => error_page(&state, &v, &path, v.lang.t().undo_delete, &e),
    }
}

pub async fn unpublish(
    State(state): State<AppState>,
    Path(slug): Path<String>,
    headers: HeaderMap,
    Form(form): Form<CsrfForm>,
) -> Response {
    set_published(state, slug, headers, form, None, false).await
}

async fn set_published(
    state: AppState,
    slug: String,
    headers: HeaderMap,
    form: CsrfForm,
    heads: Option<String>,
    publish: bool,
) -> Response {
    let path = format!("/wiki/{slug}");
    let act = if publish { Act::Publish } else { Act::Unpublish };
    let live = match LiveDoc::change(&state, &headers, &slug, act, form.csrf.as_deref(), &path).await {
        Ok(live) => live,
        Err(refused) => return refused,
    };
    let heads = match heads.as_deref().map(str::trim).filter(|h| !h.is_empty()) {
        None => None,
        Some(h) => match parse_version(h) {
            Some(h) => Some(h),
            None => {
                return html_page(
                    StatusCode::BAD_REQUEST,
                    html::message(&live.viewer.ctx(&state, &path), live.viewer.lang.t().publish, "invalid version"),
                );
            }
        },
    };
    let (id, by) = (live.id.clone(), live.by());
    let wiki = state.wiki.clone();
    let result = blocking(&state.store, move |store| {
        let now = crate::now_ms();
        if publish {
            let p = publication::publish_at(store, &id, heads.as_deref(), &by, now)?;
            if let Some(page) = publication::published_page(store, &id, &p)? {
                show(&wiki, page).map_err(|e| cahier_app::Error::Storage(cahier_store::StorageError::Io(e.to_string())))?;
            }
        } else {
            publication::unpublish(store, &id, &by, now)?;
            hide(&wiki, &id).map_err(|e| cahier_app::Error::Storage(cahier_store::StorageError::Io(e.to_string())))?;
        }
        Ok(())
    })
    .await;
    match result {
        Ok(()) => Redirect::to(&path).into_response(),
        Err(e) => error_page(&state, &live.viewer, &path, live.viewer.lang.t().publish, &e),
    }
}

pub async fn tags(State(state): State<AppState>, Query(q): Query<PageQuery>, headers: HeaderMap) -> Response {
    let v = viewer(&state, &headers, q.lang.as_deref()).await;
    let Ok(w) = state.wiki.read() else { return server_error("lock") };
    let etag = format!("tags-{}", w.catalog.generation());
    cacheable(&headers, &v, etag, "text/html; charset=utf-8", || html::tags(&v.ctx(&state, "/tags"), &w.catalog.tags()))
}

pub async fn tag(State(state): State<AppState>, Path(tag): Path<String>, Query(q): Query<PageQuery>, headers: HeaderMap) -> Response {
    let v = viewer(&state, &headers, q.lang.as_deref()).await;
    let path = format!("/tags/{}", html::url_segment(&tag));
    let Ok(w) = state.wiki.read() else { return server_error("lock") };
    let all = w.catalog.tags();
    let Some(pages) = all.get(&tag) else { return not_found(&state, &v, &path) };
    let etag = format!("tag-{}", w.catalog.generation());
    cacheable(&headers, &v, etag, "text/html; charset=utf-8", || html::tag(&v.ctx(&state, &path), &tag, pages))
}

pub async fn recent(State(state): State<AppState>, Query(q): Query<PageQuery>, headers: HeaderMap) -> Response {
    let v = viewer(&state, &headers, q.lang.as_deref()).await;
    let events = match blocking(&state.store, |store| publication::events(store, 100)).await {
        Ok(e) => e,
        Err(e) => return server_error(e),
    };
    html_page(StatusCode::OK, html::recent(&v.ctx(&state, "/recent"), &events, crate::now_ms()))
}

pub async fn feed(State(state): State<AppState>) -> Response {
    match blocking(&state.store, |store| publication::events(store, 50)).await {
        Ok(events) => {
            ([(header::CONTENT_TYPE, "application/atom+xml; charset=utf-8")], html::atom(&state.base_url, &events)).into_response()
        }
        Err(e) => server_error(e),
    }
}

pub async fn search(State(state): State<AppState>, Query(q): Query<PageQuery>, headers: HeaderMap) -> Response {
    let v = viewer(&state, &headers, q.lang.as_deref()).await;
    let query = q.q.unwrap_or_default();
    let query: String = query.chars().take(200).collect();
    let Ok(w) = state.wiki.read() else { return server_error("lock") };
    let hits = match w.search.search(&query, 20) {
        Ok(h) => h,
        Err(e) => return server_error(e),
    };
    let here = format!("/search?q={}", html::url_segment(&query));
    html_page(StatusCode::OK, html::search(&v.ctx(&state, &here), &query, &hits))
}

pub async fn css() -> Response {
    ([(header::CONTENT_TYPE, "text/css; charset=utf-8"), (header::CACHE_CONTROL, "public, max-age=3600")], html::CSS).into_response()
}

/// `/favicon.svg`, the icon every page links to.
pub async fn favicon() -> Response {
    ([(header::CONTENT_TYPE, "image/svg+xml"), (header::CACHE_CONTROL, "public, max-age=86400")], html::FAVICON_SVG).into_response()
}

/// `/favicon.ico`, which browsers ask for on pages that name no icon (the
/// editor's files, a feed): nothing, rather than a 404 in every log.
pub async fn no_favicon_ico() -> Response {
    (StatusCode::NO_CONTENT, [(header::CACHE_CONTROL, "public, max-age=86400")]).into_response()
}

/// `/export.tar.gz` and `/export.zip`: the whole wiki, drafts and minutes
/// included, in `cahier export`'s format. Maintainers only.
pub async fn export(State(state): State<AppState>, Path(name): Path<String>, headers: HeaderMap) -> Response {
    let v = viewer(&state, &headers, None).await;
    let path = format!("/{name}");
    let zip = match name.as_str() {
        "export.tar.gz" => false,
        "export.zip" => true,
        _ => return not_found(&state, &v, &path),
    };
    if !allowed(&v.principal, &Act::ExportAll) {
        return refused(&state, &v, &path);
    }
    let built = blocking(&state.store, move |store| {
        let files = cahier_app::transfer::export_all(store, &mut |_| {})?;
        let mut out = std::io::Cursor::new(Vec::new());
        if zip {
            cahier_app::archive::write_zip(&mut out, &files)?;
        } else {
            cahier_app::archive::write_tar_gz(&mut out, &files)?;
        }
        Ok(out.into_inner())
    })
    .await;
    match built {
        Ok(bytes) => {
            let (ct, file) = if zip { ("application/zip", "cahier-wiki.zip") } else { ("application/gzip", "cahier-wiki.tar.gz") };
            (
                [
                    (header::CONTENT_TYPE, ct.to_owned()),
                    (header::CONTENT_DISPOSITION, format!("attachment; filename=\"{file}\"")),
                    (header::CACHE_CONTROL, "private, no-store".to_owned()),
                ],
                bytes,
            )
                .into_response()
        }
        Err(e) => server_error(e),
    }
}

/// `/audit`: the audit log, newest first. Maintainers only.
pub async fn audit(State(state): State<AppState>, Query(q): Query<PageQuery>, headers: HeaderMap) -> Response {
    let v = viewer(&state, &headers, q.lang.as_deref()).await;
    if !allowed(&v.principal, &Act::ReadAudit) {
        return refused(&state, &v, "/audit");
    }
    match blocking(&state.store, crate::auth_store::audit_log).await {
        Ok(mut events) => {
            events.reverse();
            let rows: Vec<(i64, String, String, String)> = events.into_iter().map(|e| (e.at_ms, e.who, e.action, e.target)).collect();
            html_page(StatusCode::OK, html::audit(&v.ctx(&state, "/audit"), &rows))
        }
        Err(e) => server_error(e),
    }
}

#[derive(Deserialize)]
pub struct RestoreForm {
    csrf: Option<String>,
    version: String,
}

/// `POST /wiki/SLUG/restore`: makes a past version the current one, as a new
/// change on top of the history (which is never rewritten). The change goes
/// through the sync engine, so open editors receive it like anyone's edit, and
/// the maintainer is answered once it is stored.
pub async fn restore(
    State(state): State<AppState>,
    Path(slug): Path<String>,
    headers: HeaderMap,
    Form(form): Form<RestoreForm>,
) -> Response {
    let path = format!("/wiki/{slug}/history");
    let live = match LiveDoc::change(&state, &headers, &slug, Act::Restore, form.csrf.as_deref(), &path).await {
        Ok(live) => live,
        Err(refused) => return refused,
    };
    let (id, by, engine) = (live.id.clone(), live.by(), crate::handler::HubEngine::new(&state.hub));
    let done =
        blocking(&state.store, move |store| cahier_app::restore::restore(store, &engine, &id, &form.version, &by, crate::now_ms())).await;
    match done {
        Ok(_) => Redirect::to(&path).into_response(),
        Err(e) => {
            tracing::error!(id = %live.id, cause = %e, "a restore was not stored");
            error_page(&state, &live.viewer, &path, live.viewer.lang.t().restore, &e)
        }
    }
}

/// `/import`: maintainers upload a `.md`, a `.tar.gz` or a `.zip`.
pub async fn import_page(State(state): State<AppState>, Query(q): Query<PageQuery>, headers: HeaderMap) -> Response {
    let v = viewer(&state, &headers, q.lang.as_deref()).await;
    if !allowed(&v.principal, &Act::Import) {
        return refused(&state, &v, "/import");
    }
    html_page(StatusCode::OK, html::import_form(&v.ctx(&state, "/import")))
}

/// The upload: each file is imported on its own (a bad one changes nothing and
/// names its file and line), and the page reports each as it goes: the
/// response is streamed, one line per file.
pub async fn import_upload(State(state): State<AppState>, headers: HeaderMap, mut form: axum::extract::Multipart) -> Response {
    let v = viewer(&state, &headers, None).await;
    if !allowed(&v.principal, &Act::Import) {
        return refused(&state, &v, "/import");
    }
    let (mut csrf, mut upload) = (None, None);
    loop {
        match form.next_field().await {
            Ok(Some(field)) => match field.name() {
                Some("csrf") => csrf = field.text().await.ok(),
                Some("file") => {
                    let name = field.file_name().unwrap_or("upload.md").to_owned();
                    match field.bytes().await {
                        Ok(b) => upload = Some((name, b)),
                        Err(e) => return (StatusCode::BAD_REQUEST, format!("the upload was cut short: {e}")).into_response(),
                    }
                }
                _ => {}
            },
            Ok(None) => break,
            Err(e) => return (StatusCode::BAD_REQUEST, format!("not a valid upload: {e}")).into_response(),
        }
    }
    if !v.csrf_ok(csrf.as_deref()) {
        return crate::handler::forbidden(&state, &v, "/import");
    }
    let Some((name, bytes)) = upload else { return (StatusCode::BAD_REQUEST, "no file in the upload").into_response() };
    let files = match cahier_app::archive::read_markdown_upload(&name, &bytes) {
        Ok(f) => f,
        Err(e) => {
            return html_page(
                StatusCode::UNPROCESSABLE_ENTITY,
                html::message(&v.ctx(&state, "/import"), v.lang.t().import, &e.to_string()),
            );
        }
    };
    let (files, attached) = cahier_app::files::partition(files);
    let page = html::import_result(&v.ctx(&state, "/import"), "\u{0}");
    let (head, tail) = page.split_once('\u{0}').map(|(a, b)| (a.to_owned(), b.to_owned())).unwrap_or_default();
    let (tx, rx) = tokio::sync::mpsc::channel::<String>(16);
    // Each change waits until the store has it: the file is reported
    // imported (and published, if it says so) only then.
    let engine = crate::handler::HubEngine::new(&state.hub);
    let by = v.name().unwrap_or("?").to_owned();
    let t = v.lang.t();
    tokio::task::spawn_blocking(move || {
        let _ = tx.blocking_send(head);
        let (mut ok, mut failed) = (0, 0);
        for file in &files {
            let line = match cahier_app::transfer::import_file(&state.store, file, crate::now_ms(), &engine) {
                Ok(done) => {
                    ok += 1;
                    if let Some(p) = &done.publication
                        && let Ok(Some(page)) = publication::published_page_from(&state.store, &done.id, &done.doc, p)
                    {
                        let _ = show(&state.wiki, page);
                    } else if done.publication.is_none() {
                        let _ = hide(&state.wiki, &done.id);
                    }
                    let what = if done.created { t.import_new } else { t.import_updated };
                    format!(
                        "<li>{what} <a href=\"/wiki/{}\">{}</a> ← {}</li>\n",
                        html::url_segment(&done.slug),
                        cahier_wiki::render::escape(&done.slug),
                        cahier_wiki::render::escape(&file.name)
                    )
                }
                Err(e) => {
                    failed += 1;
                    format!("<li class=\"error\">{} {}</li>\n", t.import_failed, cahier_wiki::render::escape(&e.to_string()))
                }
            };
            if tx.blocking_send(line).is_err() {
                return;
            }
        }
        // Files after the documents, whose addresses they name.
        for (name, outcome) in cahier_app::files::import(&state.store, &attached, crate::now_ms(), &state.config.files) {
            let line = match outcome {
                Ok(meta) => {
                    ok += 1;
                    if meta.kind().is_some_and(cahier_app::media::FileKind::is_image)
                        && let Ok(mut w) = state.wiki.write()
                    {
                        w.catalog.set_image_size(&meta.name(), meta.width, meta.height);
                    }
                    format!("<li>{} ← {}</li>\n", cahier_wiki::render::escape(&meta.path()), cahier_wiki::render::escape(&name))
                }
                Err(e) => {
                    failed += 1;
                    format!(
                        "<li class=\"error\">{} {}: {}</li>\n",
                        t.import_failed,
                        cahier_wiki::render::escape(&name),
                        cahier_wiki::render::escape(&e.to_string())
                    )
                }
            };
            if tx.blocking_send(line).is_err() {
                return;
            }
        }
        let event = crate::auth_store::AuditEvent {
            at_ms: crate::now_ms(),
            who: by,
            action: "imported".into(),
            target: format!("{ok} files, {failed} failed"),
        };
        let _ = crate::auth_store::record_audit(&state.store, &event);
        let _ = tx.blocking_send(format!("</ol>\n<p role=\"status\">{ok} / {}</p>\n{tail}", ok + failed));
    });
    let stream =
        futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|s| (Ok::<_, std::convert::Infallible>(s), rx)) });
    ([(header::CONTENT_TYPE, "text/html; charset=utf-8"), (header::CACHE_CONTROL, "no-store")], axum::body::Body::from_stream(stream))
        .into_response()
}

/// `POST /wiki/SLUG/next`: new minutes for the next meeting, made from these
/// (same title, place, facilitator, participants and agenda; the open
/// actions; empty notes), opened in the editor.
pub async fn next_meeting(
    State(state): State<AppState>,
    Path(slug): Path<String>,
    headers: HeaderMap,
    Form(form): Form<CsrfForm>,
) -> Response {
    let path = format!("/wiki/{slug}");
    let live = match LiveDoc::change(&state, &headers, &slug, Act::CreateDocument, form.csrf.as_deref(), &path).await {
        Ok(live) => live,
        Err(refused) => return refused,
    };
    let (id, by) = (live.id.clone(), live.by());
    match blocking(&state.store, move |store| cahier_app::next_meeting::prepare_next(store, &id, &by, crate::now_ms())).await {
        Ok(next) => Redirect::to(&format!("/edit/{}", next.id)).into_response(),
        // Only minutes have a next meeting.
        Err(cahier_app::Error::Invalid(_)) => crate::handler::forbidden(&state, &live.viewer, &path),
        Err(e) => error_page(&state, &live.viewer, &path, live.viewer.lang.t().prepare_next, &e),
    }
}

/// `POST /wiki/SLUG/promote`: minutes become a new wiki page (a fork of their
/// document, so the page keeps the whole history and credits the
/// minute-takers); `cahier promote` runs the same use case.
pub async fn promote(State(state): State<AppState>, Path(slug): Path<String>, headers: HeaderMap, Form(form): Form<CsrfForm>) -> Response {
    let path = format!("/wiki/{slug}");
    let live = match LiveDoc::change(&state, &headers, &slug, Act::CreateDocument, form.csrf.as_deref(), &path).await {
        Ok(live) => live,
        Err(refused) => return refused,
    };
    // The minutes' new address goes through the sync engine, so open
    // editors get it like anyone's edit; the page is made once it is stored.
    let (id, by, engine) = (live.id.clone(), live.by(), crate::handler::HubEngine::new(&state.hub));
    match blocking(&state.store, move |store| cahier_app::promote::promote_via(store, &engine, &id, None, &by, crate::now_ms())).await {
        Ok(page) => Redirect::to(&format!("/edit/{}", page.id)).into_response(),
        // Only minutes are promoted.
        Err(cahier_app::Error::Invalid(_)) => crate::handler::forbidden(&state, &live.viewer, &path),
        Err(e) => error_page(&state, &live.viewer, &path, live.viewer.lang.t().promote, &e),
    }
}

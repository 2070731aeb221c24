//! The web editor's side of the server: its static files (built by Vite into
//! `web/dist`), and the small JSON API it needs besides the sync socket: who am
//! I, which documents may I open, and the reader's Markdown renderer for the
//! live preview.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use cahier_auth::{Act, Principal, allowed};
use cahier_doc::DocId;
use serde::{Deserialize, Serialize};

use crate::handler::blocking;
use crate::http::AppState;
use crate::web_auth::viewer;

/// The editor's pages run the Automerge WebAssembly and talk on the sync
/// socket; nothing else is allowed.
pub fn editor_csp(base_url: &str) -> String {
    let ws = base_url.replacen("http", "ws", 1);
    format!(
        "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self' 'unsafe-inline'; \
connect-src 'self' {ws}; img-src 'self' https: data:; worker-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    )
}

fn with_csp(state: &AppState, mut resp: Response) -> Response {
    if let Ok(v) = HeaderValue::from_str(&editor_csp(&state.base_url)) {
        resp.headers_mut().insert(header::CONTENT_SECURITY_POLICY, v);
    }
    resp.headers_mut().insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    resp
}

fn not_built(state: &AppState) -> Response {
    let msg = format!(
        "The web editor is not built: {} has no index.html. Build it with ./scripts/start (or `npm --prefix web ci && npm --prefix web run build`).",
        state.config.web_dir.display()
    );
    (StatusCode::SERVICE_UNAVAILABLE, [(header::CONTENT_TYPE, "text/plain; charset=utf-8")], msg).into_response()
}

/// `/edit` and `/edit/ID`: the editor's single page. Guests and accounts only;
/// anyone else is sent to log in.
pub async fn shell(State(state): State<AppState>, headers: HeaderMap, uri: axum::http::Uri) -> Response {
    let v = viewer(&state, &headers, None).await;
    if v.principal == Principal::Anonymous {
        let next = uri.path().to_owned();
        return Redirect::to(&format!("/login?next={next}")).into_response();
    }
    match tokio::fs::read(state.config.web_dir.join("index.html")).await {
        Ok(bytes) => with_csp(
            &state,
            ([(header::CONTENT_TYPE, "text/html; charset=utf-8"), (header::CACHE_CONTROL, "no-cache")], bytes).into_response(),
        ),
        Err(_) => not_built(&state),
    }
}

/// Files of the built editor: `/app/…` (hashed, cached for good) and the
/// service worker `/edit/sw.js` (never cached, so updates reach everyone).
pub async fn asset(State(state): State<AppState>, Path(path): Path<String>) -> Response {
    serve_file(&state, &format!("app/{path}"), "public, max-age=31536000, immutable").await
}

pub async fn service_worker(State(state): State<AppState>) -> Response {
    let mut resp = serve_file(&state, "sw.js", "no-cache").await;
    // It lives at /edit/sw.js and looks after /edit itself too.
    resp.headers_mut().insert("service-worker-allowed", HeaderValue::from_static("/edit"));
    resp
}

async fn serve_file(state: &AppState, rel: &str, cache: &'static str) -> Response {
    // Only plain relative paths inside the build folder.
    if rel.split('/').any(|p| p.is_empty() || p == "." || p == ".." || p.contains('\\')) {
        return StatusCode::NOT_FOUND.into_response();
    }
    let path = state.config.web_dir.join(rel);
    let ct = match path.extension().and_then(|e| e.to_str()) {
        Some("js" | "mjs") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("wasm") => "application/wasm",
        Some("svg") => "image/svg+xml",
        Some("json") => "application/json",
        Some("html") => "text/html; charset=utf-8",
        _ => "application/octet-stream",
    };
    match tokio::fs::read(&path).await {
        Ok(bytes) => with_csp(state, ([(header::CONTENT_TYPE, ct), (header::CACHE_CONTROL, cache)], bytes).into_response()),
        Err(_) => StatusCode::NOT_FOUND.into_response(),
    }
}

#[derive(Serialize)]
struct Session {
    /// `account`, `guest` or `anonymous`.
    kind: &'static str,
    name: Option<String>,
    role: Option<&'static str>,
    /// For a guest: the one document they may open, and whether they may write.
    doc: Option<String>,
    write: bool,
    may_create: bool,
    may_publish: bool,
    /// The server's automerge-repo storage id: its heads are what is saved.
    storage_id: String,
    csrf: Option<String>,
}

pub async fn session(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let v = viewer(&state, &headers, None).await;
    let storage_id = blocking(&state.store, |store| Ok(store.storage_id()?)).await.unwrap_or_default();
    let (kind, name, role, doc, write) = match &v.principal {
        Principal::Anonymous => ("anonymous", None, None, None, false),
        Principal::Guest { name, doc, write, .. } => ("guest", Some(name.clone()), None, Some(doc.clone()), *write),
        Principal::Account { name, role, .. } => ("account", Some(name.clone()), Some(role.as_str()), None, true),
    };
    let s = Session {
        kind,
        name,
        role,
        doc,
        write,
        may_create: allowed(&v.principal, &Act::CreateDocument),
        may_publish: allowed(&v.principal, &Act::Publish),
        storage_id,
        csrf: v.csrf.clone(),
    };
    ([(header::CACHE_CONTROL, "no-store")], Json(s)).into_response()
}

#[derive(Serialize)]
struct DocEntry {
    id: String,
    kind: String,
    title: String,
    slug: String,
    updated_ms: Option<i64>,
    published: bool,
    /// A page template ("Modèle de page").
    template: bool,
}

/// The documents the viewer may open, most recently updated first.
pub async fn documents(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let v = viewer(&state, &headers, None).await;
    if v.principal == Principal::Anonymous {
        return (StatusCode::UNAUTHORIZED, "log in first").into_response();
    }
    let listed = blocking(&state.store, |store| {
        let templates: std::collections::HashSet<DocId> = cahier_app::templates::templates(store)?.into_iter().map(|t| t.id).collect();
        Ok((store.list()?, crate::publication::deleted_ids(store)?, templates))
    })
    .await;
    let (entries, deleted, templates) = match listed {
        Ok(found) => found,
        Err(e) => return crate::handler::server_error(e),
    };
    let published: std::collections::HashSet<DocId> =
        state.wiki.read().map(|w| w.catalog.by_title().iter().map(|p| p.id.clone()).collect()).unwrap_or_default();
    let list: Vec<DocEntry> = entries
        .into_iter()
        .filter(|e| e.kind != "other")
        .filter_map(|e| {
            let id = DocId::parse(&e.id).ok()?;
            if deleted.contains(&id) {
                return None;
            }
            allowed(&v.principal, &Act::ReadDocument(&id)).then(|| DocEntry {
                published: published.contains(&id),
                template: templates.contains(&id),
                id: e.id,
                kind: e.kind,
                title: e.title,
                slug: e.slug,
                updated_ms: e.updated_ms,
            })
        })
        .collect();
    ([(header::CACHE_CONTROL, "no-store")], Json(list)).into_response()
}

#[derive(Serialize)]
struct TemplateEntry {
    id: String,
    title: String,
}

/// `GET /api/templates`: the page templates "Nouvelle page" offers, by
/// title, for those who may create pages.
pub async fn templates(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let v = viewer(&state, &headers, None).await;
    if !allowed(&v.principal, &Act::CreateDocument) {
        return (StatusCode::FORBIDDEN, "you may not create pages").into_response();
    }
    match blocking(&state.store, cahier_app::templates::templates).await {
        Ok(list) => {
            let list: Vec<TemplateEntry> = list
                .into_iter()
                .filter(|t| allowed(&v.principal, &Act::ReadDocument(&t.id)))
                .map(|t| TemplateEntry { id: t.id.to_string(), title: t.title })
                .collect();
            ([(header::CACHE_CONTROL, "no-store")], Json(list)).into_response()
        }
        Err(e) => crate::handler::server_error(e),
    }
}

#[derive(Deserialize)]
pub struct TemplateRequest {
    template: bool,
}

/// `POST /api/documents/ID/template`: marks a page as a template, or not.
/// Maintainers only, with the session's CSRF token in `X-Cahier-CSRF`.
pub async fn set_template(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    Json(req): Json<TemplateRequest>,
) -> Response {
    let v = viewer(&state, &headers, None).await;
    let Ok(doc) = DocId::parse(&id) else { return (StatusCode::BAD_REQUEST, "not a document id").into_response() };
    if !allowed(&v.principal, &Act::Publish) {
        return (StatusCode::FORBIDDEN, "only maintainers choose the page templates").into_response();
    }
    if !v.csrf_header_ok(&headers) {
        return (StatusCode::FORBIDDEN, "missing or wrong CSRF token").into_response();
    }
    let by = v.name().unwrap_or("?").to_owned();
    let on = req.template;
    let done = blocking(&state.store, move |store| {
        if crate::publication::is_deleted(store, &doc)? {
            return Err(cahier_app::Error::NotFound(format!("no document {doc}")));
        }
        cahier_app::templates::set_template(store, &doc, on, &by, crate::now_ms())
    })
    .await;
    api_outcome(done.map(|_| StatusCode::NO_CONTENT.into_response()))
}

#[derive(Deserialize)]
pub struct FromTemplateRequest {
    /// The new page's title; empty: the person names it in the editor.
    #[serde(default)]
    title: String,
}

/// `POST /api/documents/ID/from-template`: a new page made from the template
/// ID (its body, tags and licence; credited to the template's authors), for
/// those who may create pages and read the template. Answers its id.
pub async fn from_template(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    Json(req): Json<FromTemplateRequest>,
) -> Response {
    let v = viewer(&state, &headers, None).await;
    let Ok(template) = DocId::parse(&id) else { return (StatusCode::BAD_REQUEST, "not a document id").into_response() };
    if !allowed(&v.principal, &Act::CreateDocument) || !allowed(&v.principal, &Act::ReadDocument(&template)) {
        return (StatusCode::FORBIDDEN, "you may not create pages").into_response();
    }
    if !v.csrf_header_ok(&headers) {
        return (StatusCode::FORBIDDEN, "missing or wrong CSRF token").into_response();
    }
    if req.title.len() > 1024 {
        return (StatusCode::BAD_REQUEST, "the title is too long").into_response();
    }
    let by = v.name().unwrap_or("?").to_owned();
    let made =
        blocking(&state.store, move |store| cahier_app::templates::create_from(store, &template, &req.title, &by, crate::now_ms())).await;
    api_outcome(made.map(|c| Json(serde_json::json!({ "id": c.id.to_string(), "address": c.address })).into_response()))
}

/// A use case's outcome as the JSON API answers it: the reason when it is the
/// caller's to act on, a generic message when the server failed.
fn api_outcome(outcome: cahier_app::Result<Response>) -> Response {
    match outcome {
        Ok(resp) => resp,
        Err(cahier_app::Error::NotFound(why)) => (StatusCode::NOT_FOUND, why).into_response(),
        Err(cahier_app::Error::Invalid(why)) => (StatusCode::UNPROCESSABLE_ENTITY, why).into_response(),
        Err(e) => crate::handler::server_error(e),
    }
}

#[derive(Deserialize)]
pub struct RenderRequest {
    markdown: String,
    /// `minutes` renders as published minutes read (line breaks kept).
    #[serde(default)]
    kind: Option<String>,
}

/// The live preview: the same renderer, sanitiser and wiki-link resolution
/// readers get. For those who may edit something; at most 1 MiB of Markdown.
pub async fn render(State(state): State<AppState>, headers: HeaderMap, Json(req): Json<RenderRequest>) -> Response {
    let v = viewer(&state, &headers, None).await;
    if v.principal == Principal::Anonymous {
        return (StatusCode::UNAUTHORIZED, "log in first").into_response();
    }
    if req.markdown.len() > 1 << 20 {
        return (StatusCode::PAYLOAD_TOO_LARGE, "the preview takes at most 1 MiB of Markdown").into_response();
    }
    // Previews render on the blocking pool, a few at a time, outside the
    // catalog's lock: however many arrive, sync and readers keep their workers.
    let Ok(Ok(permit)) = tokio::time::timeout(std::time::Duration::from_secs(10), state.render_permits.clone().acquire_owned()).await
    else {
        return (StatusCode::SERVICE_UNAVAILABLE, "too many previews at once; try again").into_response();
    };
    let slugs = state.wiki.read().map(|w| w.catalog.slugs()).unwrap_or_default();
    let lang = v.lang;
    let rendered = tokio::task::spawn_blocking(move || {
        let _permit = permit;
        let kind = if req.kind.as_deref() == Some("minutes") { cahier_doc::Kind::Minutes } else { cahier_doc::Kind::Page };
        cahier_wiki::render_as(&req.markdown, kind, &|s: &str| slugs.contains(s)).html(lang).into_owned()
    })
    .await;
    match rendered {
        Ok(html) => Json(serde_json::json!({ "html": html })).into_response(),
        Err(_) => (StatusCode::INTERNAL_SERVER_ERROR, "the preview failed").into_response(),
    }
}

#[derive(Deserialize)]
pub struct InviteRequest {
    doc: String,
    write: bool,
    /// Days until the link stops working; none: until revoked.
    expires_days: Option<u32>,
}

/// `POST /api/invites`: a new invite link to a document. Needs the right to
/// invite to it, and the session's CSRF token in `X-Cahier-CSRF` (or a bearer token).
pub async fn create_invite(State(state): State<AppState>, headers: HeaderMap, Json(req): Json<InviteRequest>) -> Response {
    let v = viewer(&state, &headers, None).await;
    let Ok(doc) = DocId::parse(&req.doc) else { return (StatusCode::BAD_REQUEST, "not a document id").into_response() };
    if !allowed(&v.principal, &Act::CreateInvite(&doc)) {
        return (StatusCode::FORBIDDEN, "you may not invite people to this document").into_response();
    }
    if !v.csrf_header_ok(&headers) {
        return (StatusCode::FORBIDDEN, "missing or wrong CSRF token").into_response();
    }
    let now = crate::now_ms();
    let expires = req.expires_days.map(|d| now + i64::from(d.clamp(1, 365)) * 24 * 3600 * 1000);
    let mut id = [0u8; 8];
    let mut secret = [0u8; 32];
    if getrandom::fill(&mut id).and_then(|()| getrandom::fill(&mut secret)).is_err() {
        return (StatusCode::SERVICE_UNAVAILABLE, "no randomness").into_response();
    }
    let by = v.name().unwrap_or("?").to_owned();
    let write = req.write;
    match blocking(&state.store, move |store| crate::auth_store::create_invite(store, &doc, write, &by, expires, id, secret, now)).await {
        Ok((inv, secret)) => Json(serde_json::json!({
            "id": inv.id,
            "url": format!("{}/join/{secret}", state.base_url),
            "write": inv.write,
            "expires_ms": inv.expires_ms,
        }))
        .into_response(),
        Err(e) => crate::handler::server_error(e),
    }
}

#[derive(Serialize)]
struct InviteEntry {
    id: String,
    write: bool,
    created_by: String,
    created_ms: i64,
    expires_ms: Option<i64>,
    revoked_ms: Option<i64>,
    /// `active`, `expired` or `revoked`.
    status: &'static str,
}

/// `GET /api/documents/ID/invites`: the document's invite links, newest
/// first, for those who may invite to it. The store keeps only each link's
/// digest, so no link is in the answer: the editor shows the address of the
/// links it made itself.
pub async fn list_invites(State(state): State<AppState>, Path(id): Path<String>, headers: HeaderMap) -> Response {
    let v = viewer(&state, &headers, None).await;
    if v.principal == Principal::Anonymous {
        return (StatusCode::UNAUTHORIZED, "log in first").into_response();
    }
    let Ok(doc) = DocId::parse(&id) else { return (StatusCode::BAD_REQUEST, "not a document id").into_response() };
    if !allowed(&v.principal, &Act::CreateInvite(&doc)) {
        return (StatusCode::FORBIDDEN, "you may not invite people to this document").into_response();
    }
    let now = crate::now_ms();
    match blocking(&state.store, move |store| crate::auth_store::invites_of(store, &doc)).await {
        Ok(list) => {
            let invites: Vec<InviteEntry> = list
                .into_iter()
                .map(|i| InviteEntry {
                    status: i.status(now).as_str(),
                    id: i.id,
                    write: i.write,
                    created_by: i.created_by,
                    created_ms: i.created_ms,
                    expires_ms: i.expires_ms,
                    revoked_ms: i.revoked_ms,
                })
                .collect();
            let may_revoke = allowed(&v.principal, &Act::RevokeInvite);
            ([(header::CACHE_CONTROL, "no-store")], Json(serde_json::json!({ "invites": invites, "may_revoke": may_revoke })))
                .into_response()
        }
        Err(e) => {
            tracing::error!(cause = %e, "cannot list invites");
            (StatusCode::INTERNAL_SERVER_ERROR, "cannot list the invites").into_response()
        }
    }
}

/// `POST /api/invites/ID/revoke`: the link stops working, and so do the guest
/// sessions opened with it, their open sync sockets closed at once. Maintainers only.
pub async fn revoke_invite(State(state): State<AppState>, Path(id): Path<String>, headers: HeaderMap) -> Response {
    let v = viewer(&state, &headers, None).await;
    if !allowed(&v.principal, &Act::RevokeInvite) {
        return (StatusCode::FORBIDDEN, "only maintainers revoke invite links").into_response();
    }
    if !v.csrf_header_ok(&headers) {
        return (StatusCode::FORBIDDEN, "missing or wrong CSRF token").into_response();
    }
    let by = v.name().unwrap_or("?").to_owned();
    let invite = id.clone();
    match blocking(&state.store, move |store| crate::auth_store::revoke_invite(store, &invite, &by, crate::now_ms())).await {
        Ok(()) => {
            // Its guests' open sockets close now, not at their next reconnect.
            let closed = state.principals.close_invite(&id, "invite revoked");
            tracing::info!(invite = %id, closed, "invite revoked");
            StatusCode::NO_CONTENT.into_response()
        }
        Err(cahier_app::Error::NotFound(why)) => (StatusCode::NOT_FOUND, why).into_response(),
        Err(e) => crate::handler::server_error(e),
    }
}

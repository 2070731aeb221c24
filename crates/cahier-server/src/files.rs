//! Images and attachments over HTTP: `POST /api/documents/ID/files` (the
//! editor's upload, for those who may change the document, with the session's
//! CSRF token) and `GET /files/HASH.EXT` (and its smaller copies
//! `HASH.wWIDTH.EXT`). Anyone gets a file a published page shows; any other
//! file only those who may read a document it was uploaded into, and everyone
//! else the same 404 as for nothing. Files are served with the type sniffed at
//! upload, never as HTML, `nosniff`, a sandboxing CSP, and cached for good
//! (their address is their hash). Maintainers list them at `/files` and
//! delete them, asked first (`/files/NAME/delete`).

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Form, Json};
use cahier_app::files::{FileMeta, FileName, UploadError};
use cahier_app::media::{FileKind, MediaError};
use cahier_auth::{Act, Principal, allowed};
use cahier_doc::DocId;

use cahier_wiki::html;

use crate::http::AppState;
use crate::web_auth::{html_page, viewer};

fn refusal(status: StatusCode, code: &str, message: &str) -> Response {
    (status, Json(serde_json::json!({ "code": code, "error": message }))).into_response()
}

/// `POST /api/documents/ID/files`: the body is the file. Answers its address
/// and size as JSON, or a refusal `{ code, error }`: 413 past a limit
/// (`too_large`, `full`), 422 for what is not a picture or PDF Cahier takes
/// (`unsupported`, `too_big`, `damaged`).
pub async fn upload(State(state): State<AppState>, Path(id): Path<String>, headers: HeaderMap, body: axum::body::Body) -> Response {
    let v = viewer(&state, &headers, None).await;
    if v.principal == Principal::Anonymous {
        return refusal(StatusCode::UNAUTHORIZED, "login", "log in first");
    }
    let Ok(doc) = DocId::parse(&id) else { return refusal(StatusCode::BAD_REQUEST, "bad_request", "not a document id") };
    let deleted = state.deleted.read().map(|d| d.contains(&doc)).unwrap_or(true);
    if deleted || !allowed(&v.principal, &Act::WriteDocument(&doc)) {
        return refusal(StatusCode::FORBIDDEN, "forbidden", "you may not change this document");
    }
    if !v.csrf_header_ok(&headers) {
        return refusal(StatusCode::FORBIDDEN, "csrf", "missing or wrong CSRF token");
    }
    let limits = state.config.files;
    let bytes = match read_body(body, limits.max_file_bytes).await {
        Ok(bytes) => bytes,
        Err(status) if status == StatusCode::PAYLOAD_TOO_LARGE => {
            return refusal(status, "too_large", &UploadError::TooLarge(limits.max_file_bytes).to_string());
        }
        Err(status) => return refusal(status, "bad_request", "the upload was cut short"),
    };
    // One upload decodes at a time: a picture may take a few hundred MiB
    // while it is cleaned, and the limits on the count and total hold exactly.
    let Ok(Ok(permit)) = tokio::time::timeout(std::time::Duration::from_secs(30), state.upload_permits.clone().acquire_owned()).await
    else {
        return refusal(StatusCode::SERVICE_UNAVAILABLE, "busy", "too many uploads at once; try again");
    };
    let by = v.name().unwrap_or("?").to_owned();
    let store = state.store.clone();
    let stored = tokio::task::spawn_blocking(move || {
        let _permit = permit;
        let exists = store.backend().entry(&doc).map_err(|e| UploadError::Store(e.into()))?.is_some();
        if !exists {
            return Err(UploadError::Store(cahier_app::Error::NotFound(format!("no document {doc}"))));
        }
        cahier_app::files::upload(&store, &doc, &bytes, &by, crate::now_ms(), &limits)
    })
    .await;
    match stored {
        Ok(Ok(meta)) => {
            if meta.kind().is_some_and(FileKind::is_image)
                && let Ok(mut w) = state.wiki.write()
            {
                w.catalog.set_image_size(&meta.name(), meta.width, meta.height);
            }
            tracing::info!(file = %meta.name(), doc = %id, size = meta.size, "file stored");
            Json(described(&meta)).into_response()
        }
        Ok(Err(e)) => upload_error(&e),
        Err(e) => crate::handler::server_error(e),
    }
}

/// The body, at most `max` bytes kept. Past that, the rest is still read
/// (up to four times the limit) and dropped: a browser that is answered
/// before it has sent everything shows a reset connection, not the 413.
async fn read_body(body: axum::body::Body, max: u64) -> Result<Vec<u8>, StatusCode> {
    use futures_util::StreamExt;
    let mut stream = body.into_data_stream();
    let (mut kept, mut seen) = (Vec::new(), 0u64);
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|_| StatusCode::BAD_REQUEST)?;
        seen = seen.saturating_add(chunk.len() as u64);
        if seen <= max {
            kept.extend_from_slice(&chunk);
        } else if seen > max.saturating_mul(4) {
            break;
        }
    }
    if seen > max { Err(StatusCode::PAYLOAD_TOO_LARGE) } else { Ok(kept) }
}

fn described(meta: &FileMeta) -> serde_json::Value {
    serde_json::json!({
        "path": meta.path(),
        "type": meta.kind().map_or("application/octet-stream", FileKind::mime),
        "size": meta.size,
        "width": meta.width,
        "height": meta.height,
    })
}

fn upload_error(e: &UploadError) -> Response {
    let message = e.to_string();
    match e {
        UploadError::TooLarge(_) => refusal(StatusCode::PAYLOAD_TOO_LARGE, "too_large", &message),
        UploadError::Full(_) => refusal(StatusCode::PAYLOAD_TOO_LARGE, "full", &message),
        UploadError::Refused(MediaError::Unsupported) => refusal(StatusCode::UNPROCESSABLE_ENTITY, "unsupported", &message),
        UploadError::Refused(MediaError::TooBig) => refusal(StatusCode::UNPROCESSABLE_ENTITY, "too_big", &message),
        UploadError::Refused(MediaError::Damaged(..)) => refusal(StatusCode::UNPROCESSABLE_ENTITY, "damaged", &message),
        UploadError::Store(cahier_app::Error::NotFound(_)) => refusal(StatusCode::NOT_FOUND, "not_found", &message),
        UploadError::Store(other) => crate::handler::server_error(other),
    }
}

/// `GET /files/HASH.EXT` and `GET /files/HASH.wWIDTH.EXT`.
pub async fn serve(State(state): State<AppState>, Path(name): Path<String>, headers: HeaderMap) -> Response {
    let v = viewer(&state, &headers, None).await;
    let Some(file) = FileName::parse(&name) else { return crate::handler::not_found(&state, &v) };
    let public = state.wiki.read().map(|w| w.catalog.shows_file(&file.hash)).unwrap_or(false);
    let deleted = state.deleted.read().map(|d| d.clone()).unwrap_or_default();
    let principal = v.principal.clone();
    let (hash, width, kind) = (file.hash.clone(), file.width, file.kind);
    let found = crate::handler::blocking(&state.store, move |store| {
        let Some(meta) = cahier_app::files::meta(store, &hash)? else { return Ok(None) };
        let may_read = public
            || meta
                .docs
                .iter()
                .filter_map(|d| DocId::parse(d).ok())
                .any(|d| !deleted.contains(&d) && allowed(&principal, &Act::ReadDocument(&d)));
        if !may_read || meta.kind() != Some(kind) {
            return Ok(None);
        }
        Ok(cahier_app::files::data(store, &hash, width)?.map(|bytes| (meta, bytes)))
    })
    .await;
    let (meta, bytes) = match found {
        Ok(Some(found)) => found,
        Ok(None) => return crate::handler::not_found(&state, &v),
        Err(e) => return crate::handler::server_error(e),
    };
    let disposition = if kind == FileKind::Pdf { "attachment" } else { "inline" };
    let mut resp = (StatusCode::OK, bytes).into_response();
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(kind.mime()));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static("default-src 'none'; sandbox"));
    // A draft's file stays out of shared caches.
    let cache = if public { "public, max-age=31536000, immutable" } else { "private, max-age=31536000, immutable" };
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    if let Ok(d) = HeaderValue::from_str(&format!("{disposition}; filename=\"{}\"", meta.name())) {
        h.insert(header::CONTENT_DISPOSITION, d);
    }
    resp
}

#[derive(serde::Deserialize)]
pub struct ListQuery {
    lang: Option<String>,
    /// The file just deleted, said at the top of the list.
    deleted: Option<String>,
}

/// `GET /files`: the maintainers' list of stored files, newest first, with
/// the pages that use each (their current text, or their published version).
pub async fn list_page(State(state): State<AppState>, Query(q): Query<ListQuery>, headers: HeaderMap) -> Response {
    let v = viewer(&state, &headers, q.lang.as_deref()).await;
    if !allowed(&v.principal, &Act::ManageFiles) {
        return crate::handler::refused(&state, &v, "/files");
    }
    let wiki = state.wiki.clone();
    let rows = crate::handler::blocking(&state.store, move |store| {
        let mut uses = cahier_app::files::uses(store)?;
        let mut metas = cahier_app::files::list(store)?;
        metas.sort_by(|a, b| b.at_ms.cmp(&a.at_ms).then_with(|| a.hash.cmp(&b.hash)));
        Ok(metas.into_iter().map(|m| file_row(&wiki, uses.remove(&m.hash).unwrap_or_default(), m)).collect::<Vec<_>>())
    })
    .await;
    let deleted = q.deleted.filter(|n| FileName::parse(n).is_some_and(|f| f.width.is_none()));
    match rows {
        Ok(rows) => html_page(StatusCode::OK, html::files(&v.ctx(&state, "/files"), &rows, deleted.as_deref())),
        Err(e) => crate::handler::server_error(e),
    }
}

/// A file as the list shows it: `live` are the documents whose current text
/// names it; the published pages that show it are added.
fn file_row(wiki: &crate::wiki::Wiki, live: Vec<cahier_store::IndexEntry>, meta: FileMeta) -> html::FileRow {
    let mut used_by: Vec<(String, String)> = live.into_iter().map(|e| (e.slug, e.title)).collect();
    if let Ok(w) = wiki.read() {
        for (slug, title) in w.catalog.pages_showing_file(&meta.hash) {
            if !used_by.iter().any(|(s, _)| *s == slug) {
                used_by.push((slug, title));
            }
        }
    }
    let kind = meta.kind();
    html::FileRow {
        name: meta.name(),
        kind: kind.map_or_else(|| meta.ext.to_uppercase(), |k| k.label().to_owned()),
        size_px: (kind != Some(FileKind::Pdf) && meta.width > 0).then_some((meta.width, meta.height)),
        bytes: meta.size,
        at_ms: meta.at_ms,
        by: meta.by,
        used_by,
    }
}

/// The stored file at `/files/NAME` (not a smaller copy), as the list shows it.
async fn find_row(state: &AppState, name: &str) -> cahier_app::Result<Option<html::FileRow>> {
    let Some(file) = FileName::parse(name).filter(|f| f.width.is_none()) else { return Ok(None) };
    let wiki = state.wiki.clone();
    crate::handler::blocking(&state.store, move |store| {
        let Some(meta) = cahier_app::files::meta(store, &file.hash)? else { return Ok(None) };
        if meta.kind() != Some(file.kind) {
            return Ok(None);
        }
        let live = cahier_app::files::used_by(store, &file.hash)?;
        Ok(Some(file_row(&wiki, live, meta)))
    })
    .await
}

/// `GET /files/NAME/delete`: asks before deleting, saying which pages still use it.
pub async fn delete_page(State(state): State<AppState>, Path(name): Path<String>, headers: HeaderMap) -> Response {
    let path = format!("/files/{name}/delete");
    let v = viewer(&state, &headers, None).await;
    if !allowed(&v.principal, &Act::ManageFiles) {
        return crate::handler::refused(&state, &v, &path);
    }
    match find_row(&state, &name).await {
        Ok(Some(row)) => html_page(StatusCode::OK, html::file_delete_confirmation(&v.ctx(&state, &path), &row)),
        Ok(None) => crate::handler::not_found(&state, &v),
        Err(e) => crate::handler::server_error(e),
    }
}

/// `POST /files/NAME/delete`: deletes the file once the maintainer confirmed
/// (`confirm=yes`, with the session's CSRF token), then lists the files again,
/// saying so. The deletion is in the audit log.
pub async fn delete(State(state): State<AppState>, Path(name): Path<String>, headers: HeaderMap, Form(form): Form<DeleteForm>) -> Response {
    let path = format!("/files/{name}/delete");
    let v = viewer(&state, &headers, None).await;
    if !allowed(&v.principal, &Act::ManageFiles) {
        return crate::handler::refused(&state, &v, &path);
    }
    if !v.csrf_ok(form.csrf.as_deref()) {
        return crate::handler::forbidden(&state, &v, &path);
    }
    let row = match find_row(&state, &name).await {
        Ok(Some(row)) => row,
        Ok(None) => return crate::handler::not_found(&state, &v),
        Err(e) => return crate::handler::server_error(e),
    };
    if form.confirm.as_deref() != Some("yes") {
        return html_page(StatusCode::OK, html::file_delete_confirmation(&v.ctx(&state, &path), &row));
    }
    let by = v.name().unwrap_or("?").to_owned();
    let hash = row.name.split_once('.').map_or(row.name.as_str(), |(h, _)| h).to_owned();
    match crate::handler::blocking(&state.store, move |store| cahier_app::files::delete(store, &hash, &by, crate::now_ms())).await {
        Ok(_) => {
            if let Ok(mut w) = state.wiki.write() {
                w.catalog.forget_image(&row.name);
            }
            Redirect::to(&format!("/files?deleted={}", row.name)).into_response()
        }
        Err(e) => crate::handler::server_error(e),
    }
}

#[derive(serde::Deserialize, Default)]
pub struct DeleteForm {
    #[serde(default)]
    csrf: Option<String>,
    /// `yes` once the maintainer confirmed; without it, the question is asked.
    #[serde(default)]
    confirm: Option<String>,
}

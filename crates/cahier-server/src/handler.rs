//! What the HTTP handlers share: use cases run off the async workers
//! ([`blocking`]), the engine seam the use cases change live documents through
//! ([`HubEngine`]), use-case errors as responses ([`error_page`]), and the live
//! document a maintainer may change ([`LiveDoc`]), the preamble of every
//! handler that changes one.

use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use cahier_app::Error;
use cahier_auth::{Act, Principal, allowed};
use cahier_doc::DocId;
use cahier_store::{StorageError, Store};
use cahier_wiki::html;

use crate::http::AppState;
use crate::hub_task::HubHandle;
use crate::web_auth::{Viewer, html_page, viewer};

/// Runs `f` (store calls, use cases: they block, the store may be a
/// PostgreSQL server away) on tokio's blocking threads, so that a slow store
/// never holds an async worker.
pub async fn blocking<T: Send + 'static>(
    store: &Store,
    f: impl FnOnce(&Store) -> cahier_app::Result<T> + Send + 'static,
) -> cahier_app::Result<T> {
    let store = store.clone();
    tokio::task::spawn_blocking(move || f(&store))
        .await
        .unwrap_or_else(|e| Err(Error::Storage(StorageError::Io(format!("the request's work failed: {e}")))))
}

/// The running sync engine as the use cases' [`cahier_app::Engine`]: a change
/// goes in as `Input::Apply` and counts once the engine says it is stored.
/// For use on a blocking thread (inside [`blocking`]).
pub struct HubEngine {
    hub: HubHandle,
    runtime: tokio::runtime::Handle,
}

impl HubEngine {
    /// Must be called on the runtime (in a handler).
    pub fn new(hub: &HubHandle) -> HubEngine {
        HubEngine { hub: hub.clone(), runtime: tokio::runtime::Handle::current() }
    }
}

impl cahier_app::Engine for HubEngine {
    fn apply(&self, id: &DocId, change: Vec<u8>) -> cahier_app::Result<()> {
        self.runtime.block_on(self.hub.apply(id.clone(), change)).map_err(Error::NotSaved)
    }
}

/// A use case's error as the page a person sees: the reason when it is
/// theirs to act on, a generic message when the server failed (the details go
/// to the log, not to the client).
pub fn error_page(state: &AppState, v: &Viewer, path: &str, title: &str, e: &Error) -> Response {
    let status = match e {
        Error::NotFound(_) => return not_found(state, v),
        Error::Invalid(_) | Error::File(_) => StatusCode::UNPROCESSABLE_ENTITY,
        Error::Conflict(_) => StatusCode::CONFLICT,
        Error::NotSaved(_) => StatusCode::SERVICE_UNAVAILABLE,
        Error::Storage(_) => return server_error(e),
    };
    let why = match e {
        Error::NotSaved(why) => format!("{}: {why}", v.lang.t().not_saved),
        other => other.to_string(),
    };
    html_page(status, html::message(&v.ctx(state, path), title, &why))
}

/// The same bytes for every missing, unpublished or refused page, whatever the
/// address asked (the language switch points to the index), so that a reader
/// cannot tell a draft from nothing.
pub fn not_found(state: &AppState, v: &Viewer) -> Response {
    html_page(StatusCode::NOT_FOUND, html::not_found(&v.ctx(state, "/wiki")))
}

pub fn forbidden(state: &AppState, v: &Viewer, path: &str) -> Response {
    let t = v.lang.t();
    html_page(StatusCode::FORBIDDEN, html::message(&v.ctx(state, path), t.forbidden_title, t.forbidden))
}

/// Refused: a 404 to anonymous readers (a refusal looks like nothing there),
/// a 403 to the others.
pub fn refused(state: &AppState, v: &Viewer, path: &str) -> Response {
    if v.principal == Principal::Anonymous { not_found(state, v) } else { forbidden(state, v, path) }
}

pub fn server_error(e: impl std::fmt::Display) -> Response {
    tracing::error!(cause = %e, "request failed");
    (StatusCode::INTERNAL_SERVER_ERROR, "internal error; see the server's log").into_response()
}

/// The live (not deleted) document at `/wiki/SLUG` that the viewer may
/// change by `act`, asked with the form's CSRF token: refused (404 to an
/// anonymous reader, 403 to others), a bad CSRF token (403), or no such
/// document (404) become the response at once.
pub struct LiveDoc {
    pub viewer: Viewer,
    pub id: DocId,
}

impl LiveDoc {
    /// For a form that changes the document: `csrf` is the token it carried.
    pub async fn change(
        state: &AppState,
        headers: &HeaderMap,
        slug: &str,
        act: Act<'_>,
        csrf: Option<&str>,
        path: &str,
    ) -> Result<LiveDoc, Response> {
        LiveDoc::find(state, headers, slug, act, Some(csrf), path).await
    }

    /// For a page that only asks (a `GET`): no CSRF token.
    pub async fn read(state: &AppState, headers: &HeaderMap, slug: &str, act: Act<'_>, path: &str) -> Result<LiveDoc, Response> {
        LiveDoc::find(state, headers, slug, act, None, path).await
    }

    async fn find(
        state: &AppState,
        headers: &HeaderMap,
        slug: &str,
        act: Act<'_>,
        csrf: Option<Option<&str>>,
        path: &str,
    ) -> Result<LiveDoc, Response> {
        let v = viewer(state, headers, None).await;
        if !allowed(&v.principal, &act) {
            return Err(refused(state, &v, path));
        }
        if let Some(token) = csrf
            && !v.csrf_ok(token)
        {
            return Err(forbidden(state, &v, path));
        }
        let owned = slug.to_owned();
        match blocking(&state.store, move |store| cahier_app::live_by_slug(store, &owned)).await {
            Ok(Some(id)) => Ok(LiveDoc { viewer: v, id }),
            Ok(None) => Err(not_found(state, &v)),
            Err(e) => Err(server_error(e)),
        }
    }

    /// Who the use case records as doing it.
    pub fn by(&self) -> String {
        self.viewer.name().unwrap_or("?").to_owned()
    }
}

//! HTTP: the routes, and the accept loop (with a header-read timeout, which
//! `axum::serve` does not set, and a connection limit).

use std::sync::Arc;

use axum::Extension;
use axum::Router;
use axum::extract::{Query, State, WebSocketUpgrade};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tower::Service;

use crate::hub_task::HubHandle;
use crate::{Metrics, ServerConfig};

#[derive(Clone)]
pub struct AppState {
    pub hub: HubHandle,
    pub metrics: Arc<Metrics>,
    pub config: Arc<ServerConfig>,
    pub shutdown: CancellationToken,
    pub store: cahier_store::Store,
    pub principals: crate::access::Principals,
    pub wiki: crate::wiki::Wiki,
    /// The public URL, without a trailing slash (for links in feeds and credits).
    pub base_url: String,
    pub login_limiter: Arc<crate::web_auth::LoginLimiter>,
    pub sockets_per_address: SocketsPerAddress,
    /// Deleted documents, as the sync engine's policy sees them.
    pub deleted: crate::access::Deleted,
    /// Previews rendered at once (each on the blocking pool).
    pub render_permits: Arc<Semaphore>,
    /// Uploads cleaned at once (one: each may take a few hundred MiB).
    pub upload_permits: Arc<Semaphore>,
    /// The last answer of the store to `/healthz`'s check.
    pub store_health: Arc<StoreHealth>,
}

/// `/healthz`'s view of the store: one check at a time, so that a flood of
/// `/healthz` never queues checks in front of the store's real work, nor
/// behind a database that does not answer. Requests that come while a check
/// runs get the last answer.
pub struct StoreHealth {
    alive: std::sync::atomic::AtomicBool,
    checking: std::sync::atomic::AtomicBool,
}

impl Default for StoreHealth {
    fn default() -> StoreHealth {
        StoreHealth { alive: true.into(), checking: false.into() }
    }
}

pub fn app(state: AppState) -> Router {
    use crate::{web_auth, wiki};
    let pages = Router::new()
        .route("/", get(wiki::home))
        .route("/wiki", get(wiki::index))
        .route("/wiki/", get(|| async { axum::response::Redirect::permanent("/wiki") }))
        .route("/wiki/{slug}", get(wiki::page))
        .route("/wiki/{slug}/history", get(wiki::history))
        .route("/wiki/{slug}/publish", post(wiki::publish))
        .route("/wiki/{slug}/unpublish", post(wiki::unpublish))
        .route("/wiki/{slug}/restore", post(wiki::restore))
        .route("/wiki/{slug}/delete", get(wiki::delete_page).post(wiki::delete))
        .route("/wiki/{slug}/deleted", get(wiki::deleted_page))
        .route("/wiki/{slug}/undelete", post(wiki::undelete))
        .route("/wiki/{slug}/promote", post(wiki::promote))
        .route("/wiki/{slug}/next", post(wiki::next_meeting))
        .route("/tags", get(wiki::tags))
        .route("/tags/{tag}", get(wiki::tag))
        .route("/recent", get(wiki::recent))
        .route("/audit", get(wiki::audit))
        .route("/files", get(crate::files::list_page))
        .route("/files/{name}/delete", get(crate::files::delete_page).post(crate::files::delete))
        .route("/feed.atom", get(wiki::feed))
        .route("/search", get(wiki::search))
        .route("/assets/cahier.css", get(wiki::css))
        // Its former address, for pages a browser kept from before.
        .route("/assets/wiki.css", get(wiki::css))
        .route("/favicon.svg", get(wiki::favicon))
        .route("/favicon.ico", get(wiki::no_favicon_ico))
        .route("/{export}", get(wiki::export))
        .route("/login", get(web_auth::login_page).post(web_auth::login_submit))
        .route("/logout", post(web_auth::logout))
        .route("/setup/{secret}", get(web_auth::setup_page).post(web_auth::setup_submit))
        .route("/join/{secret}", get(web_auth::join_page).post(web_auth::join_submit))
        .layer(tower_http::compression::CompressionLayer::new())
        .layer(axum::extract::DefaultBodyLimit::max(64 * 1024))
        .layer(axum::middleware::from_fn(wiki::security_headers))
        .layer(axum::middleware::from_fn(web_auth::remember_lang));
    // The import report is streamed line by line: not through the compression
    // layer, which would hold the lines back (and cut the stream short).
    let import = Router::new()
        .route("/import", get(wiki::import_page).post(wiki::import_upload))
        .layer(axum::extract::DefaultBodyLimit::max(64 << 20))
        .layer(axum::middleware::from_fn(wiki::security_headers));
    let editor = Router::new()
        .route("/edit", get(crate::web::shell))
        .route("/edit/sw.js", get(crate::web::service_worker))
        .route("/edit/{id}", get(crate::web::shell))
        .route("/app/{*path}", get(crate::web::asset))
        .route("/api/session", get(crate::web::session))
        .route("/api/documents", get(crate::web::documents))
        .route("/api/render", post(crate::web::render))
        .route("/api/invites", post(crate::web::create_invite))
        .route("/api/invites/{id}/revoke", post(crate::web::revoke_invite))
        .route("/api/documents/{id}/invites", get(crate::web::list_invites))
        .route("/api/templates", get(crate::web::templates))
        .route("/api/documents/{id}/template", post(crate::web::set_template))
        .route("/api/documents/{id}/from-template", post(crate::web::from_template))
        .route("/api/documents/{id}/authorship", get(crate::authorship::authorship))
        .route("/api/documents/{id}/comments", get(crate::authorship::comments))
        .route("/api/documents/{id}/notes", get(crate::notes::notes))
        .route("/api/documents/{id}/history", get(crate::timeslider::history))
        .route("/api/documents/{id}/at", get(crate::timeslider::at))
        .route("/api/documents/{id}/changes", get(crate::timeslider::changes))
        .layer(axum::extract::DefaultBodyLimit::max(2 << 20))
        .layer(tower_http::compression::CompressionLayer::new())
        .layer(axum::middleware::from_fn(api_headers));
    // Files are compressed already, and an upload's body is read (and
    // limited) by its handler.
    let files = Router::new()
        .route("/files/{name}", get(crate::files::serve))
        .route("/api/documents/{id}/files", post(crate::files::upload))
        .layer(axum::middleware::from_fn(api_headers));
    Router::new()
        .route("/sync", get(sync))
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .merge(pages)
        .merge(import)
        .merge(editor)
        .merge(files)
        .with_state(state)
}

/// The connection-limit permit of the TCP connection a request came on. A
/// WebSocket keeps it after the upgrade, so open sockets count against the limit.
#[derive(Clone)]
pub struct ConnPermit(#[allow(dead_code)] Arc<tokio::sync::OwnedSemaphorePermit>);

async fn sync(
    ws: WebSocketUpgrade,
    State(state): State<AppState>,
    Query(query): Query<std::collections::HashMap<String, String>>,
    headers: HeaderMap,
    permit: Option<Extension<ConnPermit>>,
    peer: Option<Extension<crate::web_auth::PeerAddr>>,
) -> Response {
    // A page from another site must not open a socket with the visitor's rights.
    if let (Some(origin), Some(public)) = (headers.get("origin"), state.config.public_origin.as_deref())
        && origin.as_bytes() != public.trim_end_matches('/').as_bytes()
    {
        return (StatusCode::FORBIDDEN, "this origin may not open a sync connection").into_response();
    }
    // Authenticated before any document is touched: a token, else the session
    // cookie. What it came with is kept, to be asked again while it is open.
    let (principal, credential) = match sync_token(&query, &headers) {
        None => {
            let session = crate::web_auth::cookie(&headers, crate::web_auth::session_cookie(&state))
                .map(|s| crate::access::Credential::Session(s.to_owned()));
            (crate::web_auth::viewer(&state, &headers, None).await.principal, session)
        }
        Some(token) => {
            let store = state.store.clone();
            let secret = token.clone();
            match tokio::task::spawn_blocking(move || crate::auth_store::token_principal(&store, &token)).await {
                Ok(Ok(Some(p))) => (p, Some(crate::access::Credential::Token(secret))),
                Ok(Ok(None)) => return (StatusCode::UNAUTHORIZED, "unknown or revoked token").into_response(),
                Ok(Err(e)) => {
                    tracing::error!(cause = %e, "cannot check a token");
                    return (StatusCode::INTERNAL_SERVER_ERROR, "cannot check the token").into_response();
                }
                Err(_) => return (StatusCode::INTERNAL_SERVER_ERROR, "cannot check the token").into_response(),
            }
        }
    };
    // An anonymous socket could open nothing at all: it only holds a slot.
    if principal == cahier_auth::Principal::Anonymous {
        return (StatusCode::UNAUTHORIZED, "log in, or open an invite link, before syncing").into_response();
    }
    // One address (a school behind one router, or one abuser) holds a share
    // of the slots, never all of them.
    let addr = crate::web_auth::client_addr(peer.map(|p| p.0.0.ip()), &headers, &state.config.trusted_proxies);
    let Some(slot) = addr.and_then(|a| AddressSlot::take(&state.sockets_per_address, a, state.config.max_connections_per_address)) else {
        return (StatusCode::TOO_MANY_REQUESTS, "too many sync connections from this address").into_response();
    };
    let limit = state.config.limits.max_message_bytes;
    // Frames a little over the limit still reach the hub, which answers with an
    // `error` naming the limit; far larger ones are cut off by tungstenite.
    // Small socket buffers (tungstenite reserves 128 KiB each way by default):
    // sync messages are mostly a few hundred bytes, and a meeting holds
    // hundreds of sockets. Larger messages still pass, in more reads.
    // A client that carried its token in `Sec-WebSocket-Protocol` also offered
    // `cahier`, the one protocol answered (never the token).
    ws.protocols([SYNC_PROTOCOL])
        .read_buffer_size(16 * 1024)
        .write_buffer_size(16 * 1024)
        .max_message_size(limit + 64 * 1024)
        .max_frame_size(limit + 64 * 1024)
        .max_write_buffer_size(64 * 1024 * 1024)
        .on_failed_upgrade(|e| tracing::info!(cause = %e, "websocket upgrade failed"))
        .on_upgrade(move |socket| async move {
            crate::ws::handle_socket(socket, state.hub, state.config, state.shutdown, principal, credential, state.principals).await;
            drop(slot);
            drop(permit);
        })
}

/// The subprotocol a sync client may offer, and the one the server answers.
const SYNC_PROTOCOL: &str = "cahier";
/// A `Sec-WebSocket-Protocol` entry carrying an API token: `cahier-token.SECRET`.
const TOKEN_PROTOCOL_PREFIX: &str = "cahier-token.";

/// The API token a sync client sent, from wherever a client can put it:
/// `Authorization: Bearer` (scripts), a `cahier-token.` subprotocol (a browser
/// page, which cannot set headers), or `?token=` (older clients; it ends up in
/// proxies' logs, so the other two are preferred). Cahier itself never logs
/// request addresses or headers.
fn sync_token(query: &std::collections::HashMap<String, String>, headers: &HeaderMap) -> Option<String> {
    let bearer = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(|t| t.trim().to_owned());
    let offered = || {
        headers
            .get_all(axum::http::header::SEC_WEBSOCKET_PROTOCOL)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .find_map(|p| p.trim().strip_prefix(TOKEN_PROTOCOL_PREFIX).map(str::to_owned))
    };
    bearer.or_else(offered).or_else(|| query.get("token").cloned())
}

/// The JSON API's answers are data, never a page: no sniffing, nothing to run
/// or frame (the editor's own pages keep their policy).
async fn api_headers(req: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let api = req.uri().path().starts_with("/api/");
    let mut resp = next.run(req).await;
    if api {
        use axum::http::{HeaderValue, header};
        let h = resp.headers_mut();
        h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
        h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static("default-src 'none'; frame-ancestors 'none'"));
        h.entry(header::CACHE_CONTROL).or_insert(HeaderValue::from_static("no-store"));
    }
    resp
}

/// Open sync sockets per client address.
pub type SocketsPerAddress = Arc<std::sync::Mutex<std::collections::HashMap<std::net::IpAddr, usize>>>;

/// One socket's share of its address's count, given back when dropped.
struct AddressSlot {
    counts: SocketsPerAddress,
    addr: std::net::IpAddr,
}

impl AddressSlot {
    fn take(counts: &SocketsPerAddress, addr: std::net::IpAddr, max: usize) -> Option<AddressSlot> {
        let mut m = counts.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let n = m.entry(addr).or_default();
        if *n >= max {
            return None;
        }
        *n += 1;
        Some(AddressSlot { counts: counts.clone(), addr })
    }
}

impl Drop for AddressSlot {
    fn drop(&mut self) {
        let mut m = self.counts.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(n) = m.get_mut(&self.addr) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                m.remove(&self.addr);
            }
        }
    }
}

/// `ok` while the sync engine lives and makes progress and the store answers;
/// 503 otherwise, so a load balancer or a supervisor stops sending people to a
/// half-dead server (edits could not be saved there).
async fn healthz(State(state): State<AppState>) -> Response {
    let now = crate::now_ms().max(0) as u64;
    if let Some(why) = state.metrics.engine_trouble(now, state.hub.tx.is_closed()) {
        return (StatusCode::SERVICE_UNAVAILABLE, why).into_response();
    }
    if store_alive(&state).await {
        "ok".into_response()
    } else {
        // The cause (which may name the database's host and role) goes to the log only.
        (StatusCode::SERVICE_UNAVAILABLE, "the store does not answer").into_response()
    }
}

/// Whether the store answers: checked now, unless another request is
/// checking (then its last answer); waits `STORE_CHECK` at most.
async fn store_alive(state: &AppState) -> bool {
    use std::sync::atomic::Ordering;
    let health = state.store_health.clone();
    if health.checking.swap(true, Ordering::SeqCst) {
        return health.alive.load(Ordering::SeqCst);
    }
    let store = state.store.clone();
    let check = tokio::task::spawn_blocking(move || {
        let alive = store.check_alive().map_err(|e| tracing::warn!(error = %e, "the store does not answer /healthz's check")).is_ok();
        health.alive.store(alive, Ordering::SeqCst);
        health.checking.store(false, Ordering::SeqCst);
        alive
    });
    tokio::time::timeout(STORE_CHECK, check).await.is_ok_and(|r| r.unwrap_or(false))
}

/// How long `/healthz` waits for the store.
const STORE_CHECK: std::time::Duration = std::time::Duration::from_secs(3);

/// Prometheus text, for whoever holds the metrics token (`--metrics-token`):
/// the counters tell an outsider how busy the host is and who is blocked, so
/// without a token configured the route does not exist.
async fn metrics(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let Some(expected) = state.config.metrics_token.as_deref() else {
        return (StatusCode::NOT_FOUND, "metrics are off: start the server with --metrics-token (CAHIER_METRICS_TOKEN)").into_response();
    };
    let given = headers.get(axum::http::header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer "));
    if !given.is_some_and(|g| cahier_auth::same_secret(g.trim(), expected)) {
        return (
            StatusCode::UNAUTHORIZED,
            [(axum::http::header::WWW_AUTHENTICATE, "Bearer")],
            "the metrics token is needed: Authorization: Bearer TOKEN",
        )
            .into_response();
    }
    let mut text = state.metrics.render();
    text.push_str(&format!(
        "# HELP cahier_login_limiter_keys Accounts and addresses whose failed logins are remembered.\n# TYPE cahier_login_limiter_keys gauge\ncahier_login_limiter_keys {}\n",
        state.login_limiter.tracked()
    ));
    ([("content-type", "text/plain; version=0.0.4")], text).into_response()
}

/// Accepts connections until `shutdown`, then lets open HTTP requests finish.
pub async fn serve(listener: TcpListener, app: Router, config: &ServerConfig, metrics: &Metrics, shutdown: CancellationToken) {
    let permits = Arc::new(Semaphore::new(config.max_connections));
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder.http1().timer(TokioTimer::new()).header_read_timeout(config.header_timeout);
    loop {
        let (stream, peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(x) => x,
                Err(e) => {
                    tracing::warn!(cause = %e, "accept failed");
                    continue;
                }
            },
            _ = shutdown.cancelled() => break,
        };
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            tracing::warn!(%peer, "connection limit reached; refusing");
            metrics.refused_connections.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            drop(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let permit = ConnPermit(Arc::new(permit));
        let tower_service = app.clone();
        let request_permit = permit.clone();
        let service = hyper::service::service_fn(move |mut req: hyper::Request<hyper::body::Incoming>| {
            req.extensions_mut().insert(request_permit.clone());
            req.extensions_mut().insert(crate::web_auth::PeerAddr(peer));
            tower_service.clone().call(req.map(axum::body::Body::new))
        });
        let conn = builder.serve_connection_with_upgrades(TokioIo::new(stream), service).into_owned();
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(cause = %e, "http connection ended with an error");
            }
            drop(permit);
        });
    }
    let _ = tokio::time::timeout(config.shutdown_grace, graceful.shutdown()).await;
}

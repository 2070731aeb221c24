//! Who is asking over HTTP (API token, session cookie, or nobody), the login and
//! logout pages, CSRF checks, login rate limits, and client addresses behind
//! trusted proxies.

use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::sync::Mutex;

use axum::Form;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use cahier_auth::Principal;
use cahier_wiki::Lang;
use cahier_wiki::html::{self, Ctx};
use serde::Deserialize;

use crate::handler::blocking;
use crate::http::AppState;

/// The session cookie's name. Served over HTTPS it carries the `__Host-`
/// prefix, which browsers accept only from a secure origin, with `Path=/` and
/// no `Domain`: a neighbour on the same site (another service on a
/// sub-domain, or a man in the middle on plain HTTP) cannot plant a session of
/// its own choosing, and a plain `cahier_session` is then not read at all.
pub(crate) fn session_cookie(state: &AppState) -> &'static str {
    if https(state) { "__Host-cahier_session" } else { "cahier_session" }
}

/// The login, setup and join forms' CSRF cookie, path-scoped to its form, so
/// it gets the `__Secure-` prefix (`__Host-` needs `Path=/`).
fn form_cookie(state: &AppState) -> &'static str {
    if https(state) { "__Secure-cahier_login" } else { "cahier_login" }
}

fn https(state: &AppState) -> bool {
    state.base_url.starts_with("https://")
}

/// The TCP peer of a request, set by the accept loop.
#[derive(Clone, Copy, Debug)]
pub struct PeerAddr(pub SocketAddr);

/// Who is asking, and how.
#[derive(Debug, Clone)]
pub struct Viewer {
    pub principal: Principal,
    /// The session's CSRF token when the viewer came with a session cookie.
    pub csrf: Option<String>,
    /// Came with `Authorization: Bearer` (no ambient credentials: no CSRF risk).
    pub bearer: bool,
    pub lang: Lang,
}

impl Viewer {
    pub fn name(&self) -> Option<&str> {
        self.principal.display_name()
    }

    pub fn ctx<'a>(&'a self, state: &'a AppState, path: &'a str) -> Ctx<'a> {
        Ctx {
            lang: self.lang,
            base_url: &state.base_url,
            path,
            user: self.name(),
            csrf: self.csrf.as_deref(),
            zone: &state.config.time_zone,
        }
    }

    /// [`Viewer::csrf_ok`] for a script's request, whose token is in the
    /// `X-Cahier-CSRF` header.
    pub fn csrf_header_ok(&self, headers: &HeaderMap) -> bool {
        self.csrf_ok(headers.get("x-cahier-csrf").and_then(|h| h.to_str().ok()))
    }

    /// Whether a state-changing request carries proof that it comes from
    /// Cahier's own pages (or from a script with a token).
    pub fn csrf_ok(&self, form_token: Option<&str>) -> bool {
        if self.bearer {
            return true;
        }
        match (&self.csrf, form_token) {
            (Some(expected), Some(got)) => cahier_auth::same_secret(expected, got),
            _ => false,
        }
    }
}

pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get_all(header::COOKIE).iter().filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(';')).find_map(|kv| {
        let (k, v) = kv.trim().split_once('=')?;
        (k == name).then_some(v)
    })
}

/// The cookie that keeps a reader's language choice across pages.
pub const LANG_COOKIE: &str = "cahier_lang";

/// `?lang=`, else the language chosen before (its cookie), else
/// `Accept-Language`, else French.
pub fn lang(headers: &HeaderMap, query_lang: Option<&str>) -> Lang {
    let chosen = query_lang.or_else(|| cookie(headers, LANG_COOKIE));
    Lang::negotiate(chosen, headers.get(header::ACCEPT_LANGUAGE).and_then(|v| v.to_str().ok()))
}

/// Remembers a language chosen with `?lang=fr|en`: a cookie on the response,
/// and, for this request, as if it had come with it (so every page, the join
/// and setup pages included, speaks it from this click on).
pub async fn remember_lang(mut req: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let chosen = req.uri().query().and_then(|q| {
        q.split('&').find_map(|kv| match kv {
            "lang=fr" => Some("fr"),
            "lang=en" => Some("en"),
            _ => None,
        })
    });
    let Some(code) = chosen else { return next.run(req).await };
    let existing = req.headers().get(header::COOKIE).and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
    let merged = if existing.is_empty() { format!("{LANG_COOKIE}={code}") } else { format!("{LANG_COOKIE}={code}; {existing}") };
    if let Ok(v) = HeaderValue::from_str(&merged) {
        req.headers_mut().insert(header::COOKIE, v);
    }
    let mut resp = next.run(req).await;
    if let Ok(c) = HeaderValue::from_str(&format!("{LANG_COOKIE}={code}; Path=/; Max-Age=31536000; SameSite=Lax")) {
        resp.headers_mut().append(header::SET_COOKIE, c);
    }
    resp
}

/// Resolves the viewer: an API token in `Authorization: Bearer`, else a session
/// cookie, else anonymous. A bad token is anonymous too (pages answer as to a
/// reader). The store is read on a blocking thread, and only when the request
/// carries a credential.
pub async fn viewer(state: &AppState, headers: &HeaderMap, query_lang: Option<&str>) -> Viewer {
    let lang = lang(headers, query_lang);
    let anonymous = Viewer { principal: Principal::Anonymous, csrf: None, bearer: false, lang };
    if let Some(token) = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer ")) {
        let token = token.trim().to_owned();
        return match crate::handler::blocking(&state.store, move |store| crate::auth_store::token_principal(store, &token)).await {
            Ok(Some(p)) => Viewer { principal: p, csrf: None, bearer: true, lang },
            _ => anonymous,
        };
    }
    if let Some(secret) = cookie(headers, session_cookie(state)) {
        let secret = secret.to_owned();
        let found = crate::handler::blocking(&state.store, move |store| crate::auth_store::session(store, &secret, crate::now_ms())).await;
        if let Ok(Some((p, s))) = found {
            return Viewer { principal: p, csrf: Some(s.csrf), bearer: false, lang };
        }
    }
    anonymous
}

/// The client's address: the TCP peer, or, when the peer is a trusted proxy, the
/// nearest address in `X-Forwarded-For` that is not itself a trusted proxy.
pub fn client_addr(peer: Option<IpAddr>, headers: &HeaderMap, trusted: &[IpAddr]) -> Option<IpAddr> {
    let peer = peer?;
    if !trusted.contains(&peer) {
        return Some(peer);
    }
    let forwarded: Vec<IpAddr> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    Some(forwarded.iter().rev().find(|a| !trusted.contains(a)).copied().unwrap_or(peer))
}

/// Failed logins per account and per client address, in a sliding window.
/// Keys are fixed-size hashes (a long name costs nothing to remember),
/// looking up never inserts (blocked attempts cost no memory), each key keeps
/// at most as many times as its limit, and when a table is full the key whose
/// last failure is oldest is forgotten, never the others.
pub struct LoginLimiter {
    accounts: Mutex<Failures>,
    addrs: Mutex<Failures>,
    keys: std::collections::hash_map::RandomState,
}

impl Default for LoginLimiter {
    fn default() -> LoginLimiter {
        LoginLimiter::with_capacity(MAX_TRACKED)
    }
}

pub const LOGIN_WINDOW_MS: i64 = 15 * 60 * 1000;
pub const MAX_FAILURES_PER_ACCOUNT: usize = 5;
pub const MAX_FAILURES_PER_ADDR: usize = 20;
/// Accounts (and, apart, addresses) whose failures are remembered at once.
pub const MAX_TRACKED: usize = 65_536;

struct Failures {
    times: HashMap<u64, VecDeque<i64>>,
    capacity: usize,
    limit: usize,
}

impl Failures {
    fn count(&self, key: u64, now: i64) -> usize {
        self.times.get(&key).map_or(0, |q| q.iter().filter(|t| **t > now - LOGIN_WINDOW_MS).count())
    }

    fn record(&mut self, key: u64, now: i64) {
        if !self.times.contains_key(&key) && self.times.len() >= self.capacity {
            self.times.retain(|_, q| q.back().is_some_and(|t| *t > now - LOGIN_WINDOW_MS));
            if self.times.len() >= self.capacity
                && let Some(oldest) = self.times.iter().min_by_key(|(_, q)| q.back().copied()).map(|(k, _)| *k)
            {
                self.times.remove(&oldest);
            }
        }
        let q = self.times.entry(key).or_default();
        q.push_back(now);
        while q.len() > self.limit || q.front().is_some_and(|t| *t <= now - LOGIN_WINDOW_MS) {
            q.pop_front();
        }
    }
}

impl LoginLimiter {
    /// A limiter remembering at most `capacity` accounts and as many addresses.
    pub fn with_capacity(capacity: usize) -> LoginLimiter {
        let table = |limit| Mutex::new(Failures { times: HashMap::new(), capacity: capacity.max(1), limit });
        LoginLimiter { accounts: table(MAX_FAILURES_PER_ACCOUNT), addrs: table(MAX_FAILURES_PER_ADDR), keys: Default::default() }
    }

    fn key(&self, s: &str) -> u64 {
        use std::hash::BuildHasher;
        self.keys.hash_one(s)
    }

    /// Whether another attempt is allowed now.
    pub fn allows(&self, account: &str, addr: &str, now: i64) -> bool {
        let (account, addr) = (self.key(account), self.key(addr));
        let accounts = self.accounts.lock().unwrap_or_else(std::sync::PoisonError::into_inner).count(account, now);
        let addrs = self.addrs.lock().unwrap_or_else(std::sync::PoisonError::into_inner).count(addr, now);
        accounts < MAX_FAILURES_PER_ACCOUNT && addrs < MAX_FAILURES_PER_ADDR
    }

    pub fn failed(&self, account: &str, addr: &str, now: i64) {
        let (account, addr) = (self.key(account), self.key(addr));
        self.accounts.lock().unwrap_or_else(std::sync::PoisonError::into_inner).record(account, now);
        self.addrs.lock().unwrap_or_else(std::sync::PoisonError::into_inner).record(addr, now);
    }

    /// Keys remembered, accounts and addresses together (for tests and metrics).
    pub fn tracked(&self) -> usize {
        let n = |m: &Mutex<Failures>| m.lock().unwrap_or_else(std::sync::PoisonError::into_inner).times.len();
        n(&self.accounts) + n(&self.addrs)
    }
}

pub fn html_page(status: StatusCode, body: String) -> Response {
    (status, [(header::CONTENT_TYPE, "text/html; charset=utf-8"), (header::CACHE_CONTROL, "no-store")], body).into_response()
}

fn random32() -> Option<[u8; 32]> {
    let mut b = [0u8; 32];
    getrandom::fill(&mut b).ok().map(|_| b)
}

fn secure(state: &AppState) -> &'static str {
    if https(state) { "; Secure" } else { "" }
}

/// A path on this site to go to after logging in. Browsers drop tabs and
/// newlines from URLs (`/\t/evil.example/` becomes `//evil.example/`), so only
/// plain path characters are accepted, else the wiki's front page.
fn safe_next(next: &str) -> &str {
    let plain = next.bytes().all(|b| b.is_ascii_alphanumeric() || b"/_-.~%?=&+,:;@!".contains(&b));
    if plain && next.starts_with('/') && !next.starts_with("//") { next } else { "/wiki" }
}

#[derive(Deserialize)]
pub struct LoginQuery {
    next: Option<String>,
    lang: Option<String>,
}

pub async fn login_page(State(state): State<AppState>, Query(q): Query<LoginQuery>, headers: HeaderMap) -> Response {
    let v = viewer(&state, &headers, q.lang.as_deref()).await;
    let Some(r) = random32() else { return html_page(StatusCode::SERVICE_UNAVAILABLE, String::new()) };
    let csrf = cahier_auth::new_secret(r);
    login_form(&state, &v, &csrf, "", None, q.next.as_deref().unwrap_or("/wiki"), StatusCode::OK)
}

fn login_form(state: &AppState, v: &Viewer, csrf: &str, name: &str, error: Option<&str>, next: &str, status: StatusCode) -> Response {
    let next = safe_next(next);
    let here = format!("/login?next={}", html::url_segment(next));
    let body = html::login(&v.ctx(state, &here), csrf, name, error, next);
    let mut resp = html_page(status, body);
    let c = format!("{}={csrf}; Path=/login; HttpOnly; SameSite=Strict; Max-Age=3600{}", form_cookie(state), secure(state));
    if let Ok(c) = HeaderValue::from_str(&c) {
        resp.headers_mut().append(header::SET_COOKIE, c);
    }
    resp
}

#[derive(Deserialize)]
pub struct LoginForm {
    name: String,
    password: String,
    csrf: String,
    #[serde(default)]
    next: String,
}

pub async fn login_submit(
    State(state): State<AppState>,
    peer: Option<axum::Extension<PeerAddr>>,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Response {
    let v = viewer(&state, &headers, None).await;
    let t = v.lang.t();
    // The form must come from our own login page (login CSRF).
    let cookie_ok = cookie(&headers, form_cookie(&state)).is_some_and(|c| cahier_auth::same_secret(c, &form.csrf));
    if !cookie_ok {
        return html_page(StatusCode::FORBIDDEN, html::message(&v.ctx(&state, "/login"), t.forbidden_title, t.forbidden));
    }
    let addr = client_addr(peer.map(|p| p.0.0.ip()), &headers, &state.config.trusted_proxies)
        .map_or_else(|| "unknown".to_owned(), |a| a.to_string());
    let now = crate::now_ms();
    if !state.login_limiter.allows(&form.name, &addr, now) {
        let mut r = login_form(&state, &v, &form.csrf, &form.name, Some(t.too_many), &form.next, StatusCode::TOO_MANY_REQUESTS);
        r.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("900"));
        return r;
    }
    let (Some(secret), Some(csrf)) = (random32(), random32()) else {
        return html_page(StatusCode::SERVICE_UNAVAILABLE, String::new());
    };
    let store = state.store.clone();
    let (name, password) = (form.name.clone(), form.password.clone());
    let outcome = tokio::task::spawn_blocking(move || crate::auth_store::login(&store, &name, &password, secret, csrf, now)).await;
    match outcome {
        Ok(Ok(Some((secret, _session)))) => {
            // A session id the browser had before is dropped: the id changes at login.
            if let Some(old) = cookie(&headers, session_cookie(&state)) {
                let old = old.to_owned();
                let _ = blocking(&state.store, move |store| crate::auth_store::logout(store, &old)).await;
            }
            let mut resp = Redirect::to(safe_next(&form.next)).into_response();
            let c = format!(
                "{}={secret}; Path=/; HttpOnly; SameSite=Lax; Max-Age={}{}",
                session_cookie(&state),
                crate::auth_store::SESSION_MS / 1000,
                secure(&state)
            );
            if let Ok(c) = HeaderValue::from_str(&c) {
                resp.headers_mut().append(header::SET_COOKIE, c);
            }
            resp
        }
        Ok(Ok(None)) => {
            state.login_limiter.failed(&form.name, &addr, now);
            login_form(&state, &v, &form.csrf, &form.name, Some(t.login_failed), &form.next, StatusCode::UNAUTHORIZED)
        }
        Ok(Err(e)) => {
            tracing::error!(cause = %e, "login failed on the store");
            html_page(StatusCode::INTERNAL_SERVER_ERROR, html::message(&v.ctx(&state, "/login"), t.login, &e.to_string()))
        }
        Err(_) => html_page(StatusCode::INTERNAL_SERVER_ERROR, String::new()),
    }
}

#[derive(Deserialize)]
pub struct CsrfForm {
    #[serde(default)]
    pub csrf: Option<String>,
}

pub async fn logout(State(state): State<AppState>, headers: HeaderMap, Form(form): Form<CsrfForm>) -> Response {
    let v = viewer(&state, &headers, None).await;
    if !v.csrf_ok(form.csrf.as_deref()) {
        let t = v.lang.t();
        return html_page(StatusCode::FORBIDDEN, html::message(&v.ctx(&state, "/logout"), t.forbidden_title, t.forbidden));
    }
    if let Some(secret) = cookie(&headers, session_cookie(&state)) {
        let secret = secret.to_owned();
        let ended = secret.clone();
        if blocking(&state.store, move |store| crate::auth_store::logout(store, &secret)).await.is_ok() {
            // The editor's open sockets end with the session, at once.
            state.principals.close_session(&ended, crate::access::ACCESS_ENDED);
        }
    }
    let mut resp = Redirect::to("/wiki").into_response();
    let c = format!("{}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0{}", session_cookie(&state), secure(&state));
    if let Ok(c) = HeaderValue::from_str(&c) {
        resp.headers_mut().append(header::SET_COOKIE, c);
    }
    resp
}

/// `/setup/SECRET`: the one-time page, printed on the console at the first
/// start, that creates the first maintainer.
pub async fn setup_page(
    State(state): State<AppState>,
    axum::extract::Path(secret): axum::extract::Path<String>,
    headers: HeaderMap,
) -> Response {
    let v = viewer(&state, &headers, None).await;

    let asked = secret.clone();
    if !blocking(&state.store, move |store| crate::auth_store::setup_secret_ok(store, &asked, crate::now_ms())).await.unwrap_or(false) {
        return html_page(StatusCode::NOT_FOUND, html::not_found(&v.ctx(&state, "/wiki")));
    }
    let Some(r) = random32() else { return html_page(StatusCode::SERVICE_UNAVAILABLE, String::new()) };
    let csrf = cahier_auth::new_secret(r);
    let here = format!("/setup/{secret}");
    let body = html::setup(&v.ctx(&state, &here), &secret, &csrf, None);
    let mut resp = html_page(StatusCode::OK, body);
    let c = format!("{}={csrf}; Path=/setup; HttpOnly; SameSite=Strict; Max-Age=3600{}", form_cookie(&state), secure(&state));
    if let Ok(c) = HeaderValue::from_str(&c) {
        resp.headers_mut().append(header::SET_COOKIE, c);
    }

    resp
}

#[derive(Deserialize)]
pub struct SetupForm {
    name: String,
    password: String,
    password2: String,
    csrf: String,
}

pub async fn setup_submit(
    State(state): State<AppState>,
    axum::extract::Path(secret): axum::extract::Path<String>,
    headers: HeaderMap,
    Form(form): Form<SetupForm>,
) -> Response {
    let v = viewer(&state, &headers, None).await;
    let t = v.lang.t();
    let ctx_path = "/setup";
    let cookie_ok = cookie(&headers, form_cookie(&state)).is_some_and(|c| cahier_auth::same_secret(c, &form.csrf));
    if !cookie_ok {
        return html_page(StatusCode::FORBIDDEN, html::message(&v.ctx(&state, ctx_path), t.forbidden_title, t.forbidden));
    }
    let again =
        |msg: &str| html_page(StatusCode::UNPROCESSABLE_ENTITY, html::setup(&v.ctx(&state, ctx_path), &secret, &form.csrf, Some(msg)));
    if form.password != form.password2 {
        return again(t.passwords_differ);
    }
    let Some(salt) = random32() else { return html_page(StatusCode::SERVICE_UNAVAILABLE, String::new()) };
    let mut s16 = [0u8; 16];
    s16.copy_from_slice(&salt[..16]);
    let (sec, name, password) = (secret.clone(), form.name.clone(), form.password.clone());
    let done =
        blocking(&state.store, move |store| crate::auth_store::complete_setup(store, &sec, &name, &password, s16, crate::now_ms())).await;
    match done {
        Ok(()) => Redirect::to("/login?next=/edit").into_response(),
        Err(cahier_app::Error::Invalid(why)) => again(&why),
        // The link was used meanwhile (another request with it won): nothing changed.
        Err(e @ cahier_app::Error::Conflict(_)) => {
            html_page(StatusCode::CONFLICT, html::message(&v.ctx(&state, ctx_path), t.login, &e.to_string()))
        }
        Err(e) => crate::handler::server_error(e),
    }
}

/// `/join/SECRET`: an invite link. The participant chooses a display name and
/// gets a guest session for that one document.
pub async fn join_page(
    State(state): State<AppState>,
    axum::extract::Path(secret): axum::extract::Path<String>,
    headers: HeaderMap,
) -> Response {
    let v = viewer(&state, &headers, None).await;
    let Some((inv, title)) = invite_and_title(&state, &secret).await else {
        return invite_gone(&state, &v, &secret).await;
    };
    let Some(r) = random32() else { return html_page(StatusCode::SERVICE_UNAVAILABLE, String::new()) };
    let csrf = cahier_auth::new_secret(r);
    let here = format!("/join/{secret}");
    let mut resp = html_page(StatusCode::OK, html::join(&v.ctx(&state, &here), &secret, &title, inv.write, &csrf, None));
    let c = format!("{}={csrf}; Path=/join; HttpOnly; SameSite=Strict; Max-Age=3600{}", form_cookie(&state), secure(&state));
    if let Ok(c) = HeaderValue::from_str(&c) {
        resp.headers_mut().append(header::SET_COOKIE, c);
    }
    resp
}

/// A link that opens nothing: why, and what to do. 410 for a link that worked
/// once (expired or revoked), 404 for one Cahier never made (a typo, a link
/// cut short by a mail client).
async fn invite_gone(state: &AppState, v: &Viewer, secret: &str) -> Response {
    let asked = secret.to_owned();
    let status = match blocking(&state.store, move |store| crate::auth_store::any_invite_by_secret(store, &asked)).await {
        Ok(Some(_)) => StatusCode::GONE,
        Ok(None) => StatusCode::NOT_FOUND,
        Err(e) => {
            tracing::error!(cause = %e, "cannot read an invite");
            return html_page(StatusCode::INTERNAL_SERVER_ERROR, String::new());
        }
    };
    // The language switch comes back to this link, unless it is not even the
    // shape of one.
    let here = if secret.bytes().all(|b| b.is_ascii_alphanumeric()) { format!("/join/{secret}") } else { "/join".to_owned() };
    let t = v.lang.t();
    html_page(status, html::message(&v.ctx(state, &here), t.invite_gone_title, t.invite_gone))
}

/// The invite a link's secret opens, if it still works, and its document's title.
async fn invite_and_title(state: &AppState, secret: &str) -> Option<(crate::auth_store::Invite, String)> {
    let secret = secret.to_owned();
    let found = blocking(&state.store, move |store| {
        let Some(inv) = crate::auth_store::invite_by_secret(store, &secret, crate::now_ms())? else { return Ok(None) };
        let id = cahier_doc::DocId::parse(&inv.doc).ok();
        let title = id.and_then(|id| store.backend().entry(&id).ok().flatten()).map(|e| e.title).unwrap_or_default();
        Ok(Some((inv, title)))
    })
    .await;
    found.ok().flatten()
}

#[derive(Deserialize)]
pub struct JoinForm {
    name: String,
    csrf: String,
}

pub async fn join_submit(
    State(state): State<AppState>,
    axum::extract::Path(secret): axum::extract::Path<String>,
    headers: HeaderMap,
    Form(form): Form<JoinForm>,
) -> Response {
    let v = viewer(&state, &headers, None).await;
    let t = v.lang.t();
    let cookie_ok = cookie(&headers, form_cookie(&state)).is_some_and(|c| cahier_auth::same_secret(c, &form.csrf));
    if !cookie_ok {
        return html_page(StatusCode::FORBIDDEN, html::message(&v.ctx(&state, "/join"), t.forbidden_title, t.forbidden));
    }
    let (Some(sr), Some(cr)) = (random32(), random32()) else { return html_page(StatusCode::SERVICE_UNAVAILABLE, String::new()) };
    let (asked, name) = (secret.clone(), form.name.clone());
    match blocking(&state.store, move |store| crate::auth_store::join(store, &asked, &name, sr, cr, crate::now_ms())).await {
        Ok(Some((session_secret, inv))) => {
            if let Some(old) = cookie(&headers, session_cookie(&state)) {
                let old = old.to_owned();
                let _ = blocking(&state.store, move |store| crate::auth_store::logout(store, &old)).await;
            }
            let mut resp = Redirect::to(&format!("/edit/{}", inv.doc)).into_response();
            let c = format!(
                "{}={session_secret}; Path=/; HttpOnly; SameSite=Lax; Max-Age={}{}",
                session_cookie(&state),
                crate::auth_store::SESSION_MS / 1000,
                secure(&state)
            );
            if let Ok(c) = HeaderValue::from_str(&c) {
                resp.headers_mut().append(header::SET_COOKIE, c);
            }
            resp
        }
        Ok(None) => invite_gone(&state, &v, &secret).await,
        Err(cahier_app::Error::Invalid(why)) => {
            let Some((inv, title)) = invite_and_title(&state, &secret).await else {
                return invite_gone(&state, &v, &secret).await;
            };
            html_page(
                StatusCode::UNPROCESSABLE_ENTITY,
                html::join(&v.ctx(&state, "/join"), &secret, &title, inv.write, &form.csrf, Some(&why)),
            )
        }
        Err(e) => html_page(StatusCode::INTERNAL_SERVER_ERROR, html::message(&v.ctx(&state, "/join"), t.login, &e.to_string())),
    }
}

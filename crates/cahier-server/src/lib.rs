//! Cahier's server: runs the sync engine ([`cahier_sync::Hub`]) on WebSockets and
//! the store.
//!
//! Start at [`run`]. Four kinds of tasks: one per connection (`ws.rs`: frames
//! in and out, keepalive), one router task and one task per loaded document
//! (`hub_task.rs`: each drains every pending input before a flush, so changes
//! are applied in batches, and documents progress in parallel), and one
//! storage thread (`storage.rs`: loads, and group commits that return only
//! after the store's commit). HTTP routes are in `http.rs`; the use cases they
//! call are `cahier_app`'s, run off the async workers (`handler.rs`).

mod access;
mod authorship;
mod files;
mod handler;
mod http;
mod hub_task;
mod metrics;
mod notes;
mod storage;
mod timeslider;
mod web;
mod web_auth;
mod wiki;
mod ws;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use cahier_app::{auth_store, publication};
use cahier_sync::Limits;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub use metrics::Metrics;

/// Everything the server needs to know, validated.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub limits: Limits,
    /// A document with no peer leaves memory after this long.
    pub idle_unload: Duration,
    /// Pings go out this often; a peer that has not answered the previous one is dropped.
    pub keepalive: Duration,
    /// A client that has not sent its request headers by then is dropped.
    pub header_timeout: Duration,
    /// Simultaneous TCP connections; more are refused.
    pub max_connections: usize,
    /// Simultaneous sync sockets from one client address; more are refused.
    pub max_connections_per_address: usize,
    /// Where readers' dates are shown.
    pub time_zone: jiff::tz::TimeZone,
    /// Messages waiting to be sent to one peer before it counts as too slow and is dropped.
    pub max_outbound_queue: usize,
    /// How long shutdown may take to flush before giving up.
    pub shutdown_grace: Duration,
    /// How often every open sync socket's token or session is checked again
    /// (a revocation made by the command line or on another node ends the
    /// socket within this long; a logout or an invite revoked here, at once).
    pub access_recheck: Duration,
    pub compact_after: usize,
    /// The origin browsers load Cahier from (`https://cahier.example.org`). A
    /// WebSocket upgrade whose `Origin` header names another origin is refused.
    pub public_origin: Option<String>,
    /// Reverse proxies whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Vec<std::net::IpAddr>,
    /// The built web editor (`web/dist`).
    pub web_dir: std::path::PathBuf,
    /// The secret that `/metrics` asks for (`Authorization: Bearer`); none
    /// means no `/metrics`.
    pub metrics_token: Option<String>,
    /// What uploads may store (images and attachments).
    pub files: cahier_app::files::FileLimits,
    /// When nodes share the store: how often each open document is compared
    /// with it, in case announcements of other nodes' changes were missed.
    pub catch_up_every: Duration,
}

impl Default for ServerConfig {
    fn default() -> ServerConfig {
        ServerConfig {
            limits: Limits::default(),
            idle_unload: Duration::from_secs(60),
            keepalive: Duration::from_secs(15),
            header_timeout: Duration::from_secs(30),
            max_connections: 2048,
            max_connections_per_address: 256,
            time_zone: jiff::tz::TimeZone::system(),
            max_outbound_queue: 4096,
            shutdown_grace: Duration::from_secs(10),
            access_recheck: Duration::from_secs(30),
            compact_after: cahier_store::DEFAULT_COMPACT_AFTER,
            public_origin: None,
            trusted_proxies: Vec::new(),
            web_dir: std::path::PathBuf::from("web/dist"),
            metrics_token: None,
            files: cahier_app::files::FileLimits::default(),
            catch_up_every: Duration::from_secs(10),
        }
    }
}

/// How often sessions that no longer open anything are removed from the store
/// (logins and joins remove them too).
const SESSION_PURGE_EVERY: Duration = Duration::from_secs(3600);

/// Serves until `shutdown` is cancelled, then stops accepting, closes every
/// socket with a close frame, flushes every document and returns.
pub async fn run(
    listener: TcpListener,
    config: ServerConfig,
    store: cahier_store::Store,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let storage_id = store.storage_id().context("reading the store's id")?;
    let wiki_store = store.clone();
    let wiki = tokio::task::spawn_blocking(move || wiki::load(&wiki_store))
        .await
        .context("loading the published wiki")?
        .context("loading the published wiki")?;
    let metrics = Arc::new(Metrics::default());
    let bindings = Arc::new(access::Bindings::load(&store).context("reading who owns each Automerge actor")?);
    let (storage, storage_thread) = storage::spawn(store.clone(), bindings.clone(), metrics.clone());
    let principals = access::Principals::default();
    let hub_stop = CancellationToken::new();
    let mut sync_config = cahier_sync::Config::new(&format!("cahier-{}", &storage_id[..8.min(storage_id.len())]), &storage_id);
    sync_config.limits = config.limits.clone();
    sync_config.idle_unload_ms = config.idle_unload.as_millis() as u64;
    sync_config.compact_after = config.compact_after;
    let deleted: access::Deleted =
        Arc::new(std::sync::RwLock::new(publication::deleted_ids(&store).context("reading the deleted documents")?));
    let policy = access::AccessPolicy::new(principals.clone(), deleted.clone(), bindings);
    // Other nodes share the store: their changes and presence come through
    // its watch, and this node's presence goes to them through it.
    let watched = store.watch();
    sync_config.forward_ephemeral = watched.is_some();
    let nodes = watched.is_some().then(|| store.clone());
    let storage_weak = storage.downgrade();
    let (hub, hub_handle) = hub_task::spawn(sync_config, config.clone(), storage, metrics.clone(), hub_stop.clone(), policy, nodes);
    if let Some(watched) = watched {
        relay_stored(watched, hub.tx.clone(), storage_weak, config.catch_up_every).context("starting the relay of other nodes' changes")?;
    }
    let addr: SocketAddr = listener.local_addr()?;
    let base_url = config.public_origin.clone().unwrap_or_else(|| format!("http://{addr}")).trim_end_matches('/').to_owned();
    if !auth_store::has_maintainer(&store).context("reading the accounts")? {
        // Serving goes on without the link if it cannot be made (a full disk):
        // readers and existing accounts are not held hostage to it.
        let mut random = [0u8; 32];
        let made = getrandom::fill(&mut random)
            .map_err(|e| anyhow::anyhow!("no randomness: {e}"))
            .and_then(|()| Ok(auth_store::create_setup_secret(&store, random, now_ms())?));
        match made {
            Ok(secret) => {
                println!("No maintainer account yet. Open this link once to create the first one (valid 24 hours):");
                println!("  {base_url}/setup/{secret}");
            }
            Err(e) => eprintln!(
                "cahier: no maintainer account yet, and the setup link cannot be made ({e:#}); use `cahier user add NAME --role maintainer`"
            ),
        }
    }
    let state = http::AppState {
        wiki: Arc::new(std::sync::RwLock::new(wiki)),
        base_url,
        login_limiter: Arc::new(web_auth::LoginLimiter::default()),
        sockets_per_address: Default::default(),
        deleted,
        render_permits: Arc::new(tokio::sync::Semaphore::new(std::thread::available_parallelism().map_or(2, |n| n.get()).max(1))),
        upload_permits: Arc::new(tokio::sync::Semaphore::new(1)),
        hub,
        metrics: metrics.clone(),
        config: Arc::new(config.clone()),
        shutdown: shutdown.clone(),
        store,
        principals,
        store_health: Default::default(),
    };
    // A dead or stalled engine stops the server, so that its supervisor
    // (systemd) restarts it, rather than serving on with live editing gone.
    let engine_failed = Arc::new(std::sync::Mutex::new(None::<String>));
    let watchdog = {
        let (metrics, failed, stop) = (metrics.clone(), engine_failed.clone(), shutdown.clone());
        let tx = state.hub.tx.clone();
        tokio::spawn(async move {
            let mut every = tokio::time::interval(std::time::Duration::from_secs(1));
            loop {
                tokio::select! {
                    _ = every.tick() => {}
                    _ = stop.cancelled() => return,
                }
                let now = now_ms().max(0) as u64;
                // Twice the stall that turns /healthz to 503: a supervisor
                // polling it sees the trouble before the process goes.
                let trouble = metrics.engine_trouble(now.saturating_sub(metrics::ENGINE_STALL_MS), tx.is_closed());
                if let Some(why) = trouble {
                    tracing::error!(%why, "stopping: live editing cannot go on");
                    *failed.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(why);
                    stop.cancel();
                    return;
                }
            }
        })
    };
    let purge = {
        let (store, stop) = (state.store.clone(), shutdown.clone());
        tokio::spawn(async move {
            let mut every = tokio::time::interval(SESSION_PURGE_EVERY);
            loop {
                tokio::select! {
                    _ = every.tick() => {}
                    _ = stop.cancelled() => return,
                }
                match handler::blocking(&store, |store| auth_store::purge_sessions(store, now_ms())).await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(sessions = n, "expired sessions removed"),
                    Err(e) => tracing::warn!(cause = %e, "cannot remove expired sessions"),
                }
            }
        })
    };
    let recheck = {
        let (store, principals, stop, every) = (state.store.clone(), state.principals.clone(), shutdown.clone(), config.access_recheck);
        tokio::spawn(async move {
            let mut every = tokio::time::interval(every);
            every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = every.tick() => {}
                    _ = stop.cancelled() => return,
                }
                let principals = principals.clone();
                match handler::blocking(&store, move |store| principals.recheck(store, now_ms())).await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(sockets = n, "sync sockets closed: their access ended"),
                    // Nothing is closed on a store error: rights stay as they were.
                    Err(e) => tracing::warn!(cause = %e, "cannot check the open sockets' access again"),
                }
            }
        })
    };
    let app = http::app(state);
    tracing::info!(%addr, "cahier is listening");
    http::serve(listener, app, &config, &metrics, shutdown.clone()).await;
    watchdog.abort();
    purge.abort();
    recheck.abort();
    let failed = engine_failed.lock().unwrap_or_else(std::sync::PoisonError::into_inner).take();
    if let Some(why) = failed {
        // The engine cannot be asked to flush; what it acknowledged is stored.
        anyhow::bail!("{why}");
    }
    // No new connections; the hub closes the open ones and flushes.
    hub_stop.cancel();
    let _ = tokio::time::timeout(config.shutdown_grace, hub_handle).await;
    tokio::task::spawn_blocking(move || storage_thread.join()).await.ok();
    tracing::info!("cahier stopped");
    Ok(())
}

/// Passes on what the store's watch reports: each chunk another node sharing
/// the store committed, to the storage thread, which reads what the open
/// documents lack of it; a catch-up when the watch listens again (it may have
/// missed some) and every `every`; each ephemeral message another node's
/// peer sent, to the engine, which relays it to the peers here.
/// On a thread of its own, as the watch blocks. It ends when the storage
/// thread has (it holds no sender that would keep it going).
fn relay_stored(
    watched: std::sync::mpsc::Receiver<cahier_store::Watched>,
    hub: tokio::sync::mpsc::Sender<hub_task::HubEvent>,
    storage: tokio::sync::mpsc::WeakUnboundedSender<storage::StorageRequest>,
    every: Duration,
) -> std::io::Result<()> {
    use std::sync::mpsc::RecvTimeoutError;
    let ask = move |request: storage::StorageRequest| storage.upgrade().is_some_and(|tx| tx.send(request).is_ok());
    std::thread::Builder::new().name("cahier-relay".into()).spawn(move || {
        let mut next_catch_up = std::time::Instant::now() + every;
        loop {
            let wait = next_catch_up.saturating_duration_since(std::time::Instant::now());
            let asked = match watched.recv_timeout(wait) {
                Ok(cahier_store::Watched::Ephemeral(e)) => {
                    // Presence is dropped, not waited for, when the engine is
                    // this busy: the next one says the same.
                    let message = cahier_sync::Ephemeral { sender_id: e.sender_id, session_id: e.session_id, count: e.count, data: e.data };
                    let _ = hub.try_send(hub_task::HubEvent::Input(cahier_sync::Input::Ephemeral { doc: e.doc, message }));
                    true
                }
                Ok(cahier_store::Watched::Appended(cahier_store::Appended { doc, key })) => {
                    ask(storage::StorageRequest::Moved { doc, key })
                }
                Ok(cahier_store::Watched::Missed) => ask(storage::StorageRequest::CatchUp),
                Err(RecvTimeoutError::Timeout) => true,
                Err(RecvTimeoutError::Disconnected) => return,
            };
            if !asked {
                return;
            }
            if std::time::Instant::now() >= next_catch_up {
                if !ask(storage::StorageRequest::CatchUp) {
                    return;
                }
                next_catch_up = std::time::Instant::now() + every;
            }
        }
    })?;
    Ok(())
}

/// The time zone named `name` (an IANA name such as `Europe/Paris`), or the
/// system's when there is none.
pub fn time_zone(name: Option<&str>) -> anyhow::Result<jiff::tz::TimeZone> {
    match name {
        None => Ok(jiff::tz::TimeZone::system()),
        Some(n) => jiff::tz::TimeZone::get(n).with_context(|| format!("unknown time zone {n:?}: use a name like Europe/Paris")),
    }
}

/// Milliseconds since the epoch, now.
pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

//! The hub task: owns the sync engine, feeds it every input waiting, flushes once,
//! and carries out the outputs.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use cahier_sync::{ConnId, Hub, Input, Output};

use crate::access::AccessPolicy;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::ServerConfig;
use crate::metrics::Metrics;
use crate::storage::{StorageHandle, StorageRequest};

/// What a connection task is told to do.
pub enum Outbound {
    Bytes(Vec<u8>),
    /// Send a close frame with this reason, then end.
    Close(String),
}

#[allow(clippy::large_enum_variant, reason = "each event is moved once through a channel")]
pub enum HubEvent {
    Connect { conn: ConnId, tx: mpsc::Sender<Outbound>, kill: CancellationToken },
    Input(Input),
}

/// Where the engine's answers to acknowledged applies go.
type Acks = Arc<std::sync::Mutex<HashMap<u64, tokio::sync::oneshot::Sender<Result<(), String>>>>>;

#[derive(Clone)]
pub struct HubHandle {
    pub tx: mpsc::Sender<HubEvent>,
    next_conn: Arc<AtomicU64>,
    acks: Acks,
    next_ack: Arc<AtomicU64>,
}

impl HubHandle {
    pub fn next_conn(&self) -> ConnId {
        self.next_conn.fetch_add(1, Ordering::Relaxed)
    }

    /// An `Input::Apply` whose answer the receiver gets once the changes are
    /// stored (`Ok`), or were not (why). The receiver errs if the engine
    /// stopped before answering.
    pub fn apply_input(&self, doc: cahier_doc::DocId, changes: Vec<u8>) -> (HubEvent, tokio::sync::oneshot::Receiver<Result<(), String>>) {
        let ack = self.next_ack.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.acks.lock().unwrap_or_else(std::sync::PoisonError::into_inner).insert(ack, tx);
        (HubEvent::Input(Input::Apply { doc, changes, ack: Some(ack) }), rx)
    }

    /// Hands changes the server made to the engine and waits until they are
    /// stored: only then may the user be told they are saved.
    pub async fn apply(&self, doc: cahier_doc::DocId, changes: Vec<u8>) -> Result<(), String> {
        let (event, rx) = self.apply_input(doc, changes);
        self.tx.send(event).await.map_err(|_| "the sync engine is stopping".to_owned())?;
        match tokio::time::timeout(Duration::from_secs(30), rx).await {
            Ok(Ok(result)) => result,
            Ok(Err(_)) => Err("the sync engine stopped before storing the change".into()),
            Err(_) => Err("the change was not stored within 30 s".into()),
        }
    }
}

struct ConnHandle {
    tx: mpsc::Sender<Outbound>,
    kill: CancellationToken,
}

fn now_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

pub fn spawn(
    sync_config: cahier_sync::Config,
    config: ServerConfig,
    mut storage: StorageHandle,
    metrics: Arc<Metrics>,
    stop: CancellationToken,
    policy: AccessPolicy,
) -> (HubHandle, JoinHandle<()>) {
    let (tx, rx) = mpsc::channel(8192);
    storage.connect(tx.clone());
    let acks: Acks = Default::default();
    let handle = HubHandle { tx, next_conn: Arc::new(AtomicU64::new(1)), acks: acks.clone(), next_ack: Arc::new(AtomicU64::new(1)) };
    let task = tokio::spawn(run(Hub::new(sync_config, policy), config, rx, storage, metrics, stop, acks));
    (handle, task)
}

async fn run(
    mut hub: Hub<AccessPolicy>,
    config: ServerConfig,
    mut rx: mpsc::Receiver<HubEvent>,
    storage: StorageHandle,
    metrics: Arc<Metrics>,
    stop: CancellationToken,
    acks: Acks,
) {
    let mut conns: HashMap<ConnId, ConnHandle> = HashMap::new();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        metrics.engine_beat_ms.store(now_ms(), Ordering::Relaxed);
        tokio::select! {
            ev = rx.recv() => {
                let Some(ev) = ev else { break };
                take(&mut hub, &mut conns, ev);
                // Everything that arrived meanwhile goes into the same flush.
                for _ in 0..4096 {
                    match rx.try_recv() {
                        Ok(ev) => take(&mut hub, &mut conns, ev),
                        Err(_) => break,
                    }
                }
            }
            _ = tick.tick() => hub.handle(now_ms(), Input::Tick),
            _ = stop.cancelled() => break,
        }
        route(&mut hub, &mut conns, &storage, &metrics, &acks);
    }
    // Shutdown: close every socket with a close frame, then finish storing.
    for (conn, c) in conns.drain() {
        if c.tx.try_send(Outbound::Close("server shutting down".into())).is_err() {
            c.kill.cancel();
        }
        hub.handle(now_ms(), Input::Disconnected { conn });
    }
    route(&mut hub, &mut conns, &storage, &metrics, &acks);
    let deadline = Instant::now() + config.shutdown_grace;
    while hub.has_unsaved() && Instant::now() < deadline {
        match tokio::time::timeout_at(deadline.into(), rx.recv()).await {
            Ok(Some(HubEvent::Input(input))) => {
                if !matches!(input, Input::Received { .. } | Input::ReceivedText { .. }) {
                    hub.handle(now_ms(), input);
                }
            }
            Ok(Some(HubEvent::Connect { kill, .. })) => kill.cancel(),
            Ok(None) | Err(_) => break,
        }
        route(&mut hub, &mut conns, &storage, &metrics, &acks);
    }
    if hub.has_unsaved() {
        tracing::error!("shutdown grace period over with changes not yet stored");
    }
}

fn take(hub: &mut Hub<AccessPolicy>, conns: &mut HashMap<ConnId, ConnHandle>, ev: HubEvent) {
    match ev {
        HubEvent::Connect { conn, tx, kill } => {
            conns.insert(conn, ConnHandle { tx, kill });
            hub.handle(now_ms(), Input::Connected { conn });
        }
        HubEvent::Input(input) => {
            if let Input::Disconnected { conn } = &input {
                conns.remove(conn);
            }
            hub.handle(now_ms(), input);
        }
    }
}

fn route(hub: &mut Hub<AccessPolicy>, conns: &mut HashMap<ConnId, ConnHandle>, storage: &StorageHandle, metrics: &Metrics, acks: &Acks) {
    loop {
        let outputs = hub.flush();
        if outputs.is_empty() {
            break;
        }
        for out in outputs {
            match out {
                Output::Send { conn, bytes } => {
                    let Some(c) = conns.get(&conn) else { continue };
                    match c.tx.try_send(Outbound::Bytes(bytes)) {
                        Ok(()) => {}
                        Err(mpsc::error::TrySendError::Full(_)) => {
                            // A reader this slow would make memory grow without bound.
                            metrics.slow_readers.fetch_add(1, Ordering::Relaxed);
                            c.kill.cancel();
                            conns.remove(&conn);
                            hub.handle(now_ms(), Input::Disconnected { conn });
                        }
                        Err(mpsc::error::TrySendError::Closed(_)) => {
                            conns.remove(&conn);
                            hub.handle(now_ms(), Input::Disconnected { conn });
                        }
                    }
                }
                Output::Close { conn, reason } => {
                    if let Some(c) = conns.remove(&conn)
                        && c.tx.try_send(Outbound::Close(reason)).is_err()
                    {
                        c.kill.cancel();
                    }
                }
                Output::Load { doc } => {
                    let _ = storage.tx.send(StorageRequest::Load(doc));
                }
                Output::Persist { doc, kind, bytes, heads, summary } => {
                    let _ = storage.tx.send(StorageRequest::Persist { doc, kind, bytes, heads, summary });
                }
                Output::Unload { doc } => {
                    let _ = storage.tx.send(StorageRequest::Unload(doc));
                }
                Output::Applied { ack, result } => {
                    if let Some(tx) = acks.lock().unwrap_or_else(std::sync::PoisonError::into_inner).remove(&ack) {
                        let _ = tx.send(result);
                    }
                }
            }
        }
    }
    if let Ok(mut s) = metrics.hub.lock() {
        *s = hub.stats();
    }
}

//! The engine's tasks: one router task (every connection, the handshake,
//! the checks, who may see what) and one task per loaded document (its
//! replica and its peers), so that documents progress in parallel and one
//! document's work never delays another's or a `join`.
//!
//! Each task feeds its state machine every input waiting, flushes once, and
//! carries out the outputs. A document's task sends to its peers' sockets
//! directly and takes the store's answers on a channel of its own.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use cahier_doc::DocId;
use cahier_sync::doc::{DocEngine, DocInput};
use cahier_sync::router::Router;
use cahier_sync::{ConnId, Input, Output, Stats};
use tokio::sync::mpsc;
use tokio::task::{JoinHandle, JoinSet};
use tokio_util::sync::CancellationToken;

use crate::ServerConfig;
use crate::access::{AccessPolicy, lock};
use crate::metrics::Metrics;
use crate::storage::{StorageRequest, StorageSender};

/// What a connection task is told to do.
pub enum Outbound {
    Bytes(Vec<u8>),
    /// Send a close frame with this reason, then end.
    Close(String),
}

#[allow(clippy::large_enum_variant, reason = "each event is moved once through a channel")]
pub enum HubEvent {
    Connect {
        conn: ConnId,
        tx: mpsc::Sender<Outbound>,
        kill: CancellationToken,
    },
    Input(Input),
    /// A document's task has nothing to do and nobody to serve, having taken
    /// `seen` events: it goes if the router sent it no more since.
    Idle {
        doc: DocId,
        seen: u64,
    },
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
    pub fn apply_input(&self, doc: DocId, changes: Vec<u8>) -> (HubEvent, tokio::sync::oneshot::Receiver<Result<(), String>>) {
        let ack = self.next_ack.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = tokio::sync::oneshot::channel();
        lock(&self.acks).insert(ack, tx);
        (HubEvent::Input(Input::Apply { doc, changes, ack: Some(ack) }), rx)
    }

    /// Hands changes the server made to the engine and waits until they are
    /// stored: only then may the user be told they are saved.
    pub async fn apply(&self, doc: DocId, changes: Vec<u8>) -> Result<(), String> {
        let (event, rx) = self.apply_input(doc, changes);
        self.tx.send(event).await.map_err(|_| "the sync engine is stopping".to_owned())?;
        match tokio::time::timeout(Duration::from_secs(30), rx).await {
            Ok(Ok(result)) => result,
            Ok(Err(_)) => Err("the sync engine stopped before storing the change".into()),
            Err(_) => Err("the change was not stored within 30 s".into()),
        }
    }
}

#[derive(Clone)]
struct ConnHandle {
    tx: mpsc::Sender<Outbound>,
    kill: CancellationToken,
}

fn now_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

/// An input for a document's task, with the socket of the peer it comes from.
struct DocEvent {
    input: DocInput,
    peer: Option<(ConnId, ConnHandle)>,
    /// Bytes of peers' messages it carries, counted in the document's queue.
    bytes: usize,
}

/// The router's side of a document's task.
struct DocTask {
    tx: mpsc::UnboundedSender<DocEvent>,
    /// Events sent to it.
    sent: u64,
    /// Bytes of peers' messages waiting in its queue.
    queued: Arc<AtomicUsize>,
}

/// What every task shares.
#[derive(Clone)]
struct Shared {
    sync_config: Arc<cahier_sync::Config>,
    policy: Arc<AccessPolicy>,
    storage: StorageSender,
    metrics: Arc<Metrics>,
    acks: Acks,
    stop: CancellationToken,
    router: mpsc::Sender<HubEvent>,
    shutdown_grace: Duration,
    /// The store other nodes share, which carries ephemeral messages to them.
    nodes: Option<cahier_store::Store>,
}

pub fn spawn(
    sync_config: cahier_sync::Config,
    config: ServerConfig,
    storage: StorageSender,
    metrics: Arc<Metrics>,
    stop: CancellationToken,
    policy: AccessPolicy,
    nodes: Option<cahier_store::Store>,
) -> (HubHandle, JoinHandle<()>) {
    let (tx, rx) = mpsc::channel(8192);
    let acks: Acks = Default::default();
    let handle =
        HubHandle { tx: tx.clone(), next_conn: Arc::new(AtomicU64::new(1)), acks: acks.clone(), next_ack: Arc::new(AtomicU64::new(1)) };
    let shared = Shared {
        sync_config: Arc::new(sync_config),
        policy: Arc::new(policy),
        storage,
        metrics,
        acks,
        stop,
        router: tx,
        shutdown_grace: config.shutdown_grace,
        nodes,
    };
    let task = tokio::spawn(run_router(shared, config, rx));
    (handle, task)
}

struct RouterTask {
    router: Router<AccessPolicy>,
    conns: HashMap<ConnId, ConnHandle>,
    docs: HashMap<DocId, DocTask>,
    tasks: JoinSet<()>,
    shared: Shared,
    /// Bytes of peers' messages one document's queue may hold; a peer whose
    /// message does not fit is dropped (the document is that far behind).
    max_queue: usize,
    stats: Stats,
}

async fn run_router(shared: Shared, config: ServerConfig, mut rx: mpsc::Receiver<HubEvent>) {
    let mut r = RouterTask {
        router: Router::new(shared.sync_config.clone(), shared.policy.clone()),
        conns: HashMap::new(),
        docs: HashMap::new(),
        tasks: JoinSet::new(),
        max_queue: config.limits.max_message_bytes.saturating_mul(4),
        shared: shared.clone(),
        stats: Stats::default(),
    };
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        shared.metrics.engine_beat_ms.store(now_ms(), Ordering::Relaxed);
        tokio::select! {
            ev = rx.recv() => {
                let Some(ev) = ev else { break };
                r.take(ev);
                // Everything that arrived meanwhile goes into the same round.
                for _ in 0..4096 {
                    match rx.try_recv() {
                        Ok(ev) => r.take(ev),
                        Err(_) => break,
                    }
                }
            }
            _ = tick.tick() => r.router.handle(now_ms(), Input::Tick),
            // Finished document tasks are reaped as they end.
            Some(_) = r.tasks.join_next(), if !r.tasks.is_empty() => {}
            _ = shared.stop.cancelled() => break,
        }
        r.dispatch();
    }
    // Shutdown: close every socket with a close frame; each document's task
    // finishes storing what it has, then ends.
    for (conn, c) in std::mem::take(&mut r.conns) {
        if c.tx.try_send(Outbound::Close("server shutting down".into())).is_err() {
            c.kill.cancel();
        }
        r.router.handle(now_ms(), Input::Disconnected { conn });
    }
    r.dispatch();
    let deadline = Instant::now() + shared.shutdown_grace;
    loop {
        tokio::select! {
            done = r.tasks.join_next() => if done.is_none() { break },
            ev = rx.recv() => match ev {
                Some(HubEvent::Connect { kill, .. }) => kill.cancel(),
                Some(_) => {}
                None => {}
            },
            _ = tokio::time::sleep_until(deadline.into()) => {
                tracing::error!(documents = r.tasks.len(), "shutdown grace period over with changes not yet stored");
                break;
            }
        }
    }
}

impl RouterTask {
    fn take(&mut self, ev: HubEvent) {
        match ev {
            HubEvent::Connect { conn, tx, kill } => {
                self.conns.insert(conn, ConnHandle { tx, kill });
                self.router.handle(now_ms(), Input::Connected { conn });
            }
            HubEvent::Input(input) => {
                if let Input::Disconnected { conn } = &input {
                    self.conns.remove(conn);
                }
                self.router.handle(now_ms(), input);
            }
            HubEvent::Idle { doc, seen } => {
                if self.docs.get(&doc).is_some_and(|t| t.sent == seen) {
                    // Dropping its sender ends the task once it has taken
                    // what is queued (nothing: it had seen everything).
                    self.docs.remove(&doc);
                    let _ = self.shared.storage.send(StorageRequest::Unload(doc));
                }
            }
        }
    }

    /// Carries out the router's outputs and hands each document its work.
    fn dispatch(&mut self) {
        loop {
            let (outs, routes) = self.router.take();
            if outs.is_empty() && routes.is_empty() {
                break;
            }
            for out in outs {
                match out {
                    Output::Send { conn, bytes } => {
                        let Some(c) = self.conns.get(&conn) else { continue };
                        if !deliver(c, bytes, &self.shared.metrics) {
                            self.conns.remove(&conn);
                            self.router.handle(now_ms(), Input::Disconnected { conn });
                        }
                    }
                    Output::Close { conn, reason } => {
                        if let Some(c) = self.conns.remove(&conn) {
                            close(&c, reason);
                        }
                    }
                    Output::Forward { doc, message } => self.forward(doc, message),
                    // The router has no other outputs.
                    _ => {}
                }
            }
            for (doc, input) in routes {
                self.route_to(doc, input);
            }
        }
        self.stats.add(&self.router.take_stats());
        let mut m = lock(&self.shared.metrics.hub);
        m.add(&std::mem::take(&mut self.stats));
        m.connections = self.router.connection_count();
        m.documents_loaded = self.docs.len();
    }

    /// Hands a peer's ephemeral message to the store the other nodes share
    /// (which only queues it: nothing here waits on the database).
    fn forward(&mut self, doc: DocId, message: cahier_sync::Ephemeral) {
        let Some(store) = &self.shared.nodes else { return };
        let cahier_sync::Ephemeral { sender_id, session_id, count, data } = message;
        if store.broadcast(cahier_store::Ephemeral { doc, sender_id, session_id, count, data }) {
            self.shared.metrics.ephemeral_forwarded.fetch_add(1, Ordering::Relaxed);
        } else {
            *self.stats.errors.entry("ephemeral_not_forwarded").or_default() += 1;
        }
    }

    fn route_to(&mut self, doc: DocId, input: DocInput) {
        let (peer, bytes) = match &input {
            DocInput::Sync { conn, msg, .. } => {
                (*conn, msg.changes.iter().map(<[u8]>::len).sum::<usize>() + msg.have.len() * 64 + msg.heads.len() * 32 + 64)
            }
            DocInput::Ephemeral { conn, data, .. } => (*conn, data.len() + 64),
            // Counted, so that another node's flood is dropped, not queued,
            // when the document is far behind.
            DocInput::Foreign { message } => (0, message.data.len() + 64),
            _ => (0, 0),
        };
        let peer = match peer {
            0 => None,
            conn => match self.conns.get(&conn) {
                Some(c) => Some((conn, c.clone())),
                // Gone already: nothing to do for it.
                None => return,
            },
        };
        if !self.docs.contains_key(&doc) {
            if !input.wants_document() {
                return;
            }
            let task = self.start(doc.clone());
            self.docs.insert(doc.clone(), task);
        }
        let Some(task) = self.docs.get_mut(&doc) else { return };
        if bytes > 0 && task.queued.load(Ordering::Relaxed) + bytes > self.max_queue {
            // The document is this far behind: shed the peer that adds to it.
            if let Some((conn, c)) = peer {
                *self.stats.errors.entry("document_busy").or_default() += 1;
                let [send, _] = cahier_sync::hub::failure(conn, format!("document {doc} is busy: too much is waiting for it; reconnect"));
                if let Output::Send { bytes, .. } = send {
                    let _ = c.tx.try_send(Outbound::Bytes(bytes));
                }
                close(&c, "document busy".into());
                self.conns.remove(&conn);
                self.router.handle(now_ms(), Input::Disconnected { conn });
            }
            return;
        }
        task.queued.fetch_add(bytes, Ordering::Relaxed);
        task.sent += 1;
        if task.tx.send(DocEvent { input, peer, bytes }).is_err() {
            // The task ended (a panic outside the engine's containment).
            self.docs.remove(&doc);
        }
    }

    fn start(&mut self, doc: DocId) -> DocTask {
        let (tx, rx) = mpsc::unbounded_channel();
        let queued = Arc::new(AtomicUsize::new(0));
        let engine = DocEngine::new(doc, self.shared.sync_config.clone(), self.shared.policy.clone());
        self.tasks.spawn(run_doc(engine, rx, queued.clone(), self.shared.clone()));
        DocTask { tx, sent: 0, queued }
    }
}

/// Hands bytes to a socket; `false` if the socket is gone or too slow (it is
/// killed: a reader this slow would make memory grow without bound).
fn deliver(c: &ConnHandle, bytes: Vec<u8>, metrics: &Metrics) -> bool {
    match c.tx.try_send(Outbound::Bytes(bytes)) {
        Ok(()) => true,
        Err(mpsc::error::TrySendError::Full(_)) => {
            metrics.slow_readers.fetch_add(1, Ordering::Relaxed);
            c.kill.cancel();
            false
        }
        Err(mpsc::error::TrySendError::Closed(_)) => false,
    }
}

fn close(c: &ConnHandle, reason: String) {
    if c.tx.try_send(Outbound::Close(reason)).is_err() {
        c.kill.cancel();
    }
}

/// One document's task: its engine, fed by the router and the store.
async fn run_doc(mut engine: DocEngine<AccessPolicy>, mut rx: mpsc::UnboundedReceiver<DocEvent>, queued: Arc<AtomicUsize>, shared: Shared) {
    let (reply, mut replies) = mpsc::unbounded_channel::<DocInput>();
    let mut peers: HashMap<ConnId, ConnHandle> = HashMap::new();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut seen: u64 = 0;
    let mut asked_idle = false;
    let mut stopping = false;
    loop {
        tokio::select! {
            ev = rx.recv() => {
                let Some(ev) = ev else { break };
                let mut take = |ev: DocEvent| {
                    seen += 1;
                    queued.fetch_sub(ev.bytes, Ordering::Relaxed);
                    if let DocInput::PeerLeft { conn } = &ev.input {
                        peers.remove(conn);
                    }
                    if let Some((conn, c)) = ev.peer {
                        peers.entry(conn).or_insert(c);
                    }
                    engine.handle(now_ms(), ev.input);
                };
                take(ev);
                for _ in 0..4096 {
                    match rx.try_recv() {
                        Ok(ev) => take(ev),
                        Err(_) => break,
                    }
                }
                asked_idle = false;
                // Relayed changes go out before the apply, which may be long.
                for out in engine.take_ready() {
                    carry_out(&mut engine, &mut peers, out, &reply, &shared);
                }
            }
            Some(answer) = replies.recv() => {
                // A persist's answer sends the document's new heads to every
                // peer: on a long history that is heavy work too.
                let answers: Vec<DocInput> = std::iter::once(answer).chain(std::iter::from_fn(|| replies.try_recv().ok())).collect();
                let take = |engine: &mut DocEngine<AccessPolicy>| answers.into_iter().for_each(|a| engine.handle(now_ms(), a));
                if engine.is_heavy() {
                    heavy(|| take(&mut engine));
                } else {
                    take(&mut engine);
                }
            }
            _ = tick.tick() => engine.handle(now_ms(), DocInput::Tick),
            _ = shared.stop.cancelled(), if !stopping => stopping = true,
        }
        // Carrying out the outputs may drop a peer (a slow reader), which is
        // more work for the engine: round again until it is quiet.
        loop {
            let outputs = if engine.is_heavy() { heavy(|| engine.flush()) } else { engine.flush() };
            if outputs.is_empty() {
                break;
            }
            for out in outputs {
                carry_out(&mut engine, &mut peers, out, &reply, &shared);
            }
        }
        lock(&shared.metrics.hub).add(&engine.take_stats());
        if stopping && !engine.has_unsaved() {
            break;
        }
        if !asked_idle && !stopping && engine.is_idle(now_ms()) {
            // Asked again at the next tick if the router's inbox was full.
            asked_idle = shared.router.try_send(HubEvent::Idle { doc: engine.id().clone(), seen }).is_ok();
        }
    }
}

/// Runs `f`, work that may keep the thread busy for a long while (a large
/// change applied to a long history): on a multi-threaded runtime the
/// worker's other tasks move to another thread meanwhile, so that nothing
/// queued behind it waits.
fn heavy<T>(f: impl FnOnce() -> T) -> T {
    match tokio::runtime::Handle::current().runtime_flavor() {
        tokio::runtime::RuntimeFlavor::MultiThread => tokio::task::block_in_place(f),
        _ => f(),
    }
}

fn carry_out(
    engine: &mut DocEngine<AccessPolicy>,
    peers: &mut HashMap<ConnId, ConnHandle>,
    out: Output,
    reply: &mpsc::UnboundedSender<DocInput>,
    shared: &Shared,
) {
    match out {
        Output::Send { conn, bytes } => {
            let Some(c) = peers.get(&conn) else { return };
            if !deliver(c, bytes, &shared.metrics) {
                peers.remove(&conn);
                engine.handle(now_ms(), DocInput::PeerLeft { conn });
            }
        }
        Output::Close { conn, reason } => {
            if let Some(c) = peers.remove(&conn) {
                close(&c, reason);
            }
        }
        Output::Load { doc } => {
            let _ = shared.storage.send(StorageRequest::Load { doc, reply: reply.clone() });
        }
        Output::Persist { doc, kind, bytes, heads, summary } => {
            let _ = shared.storage.send(StorageRequest::Persist { doc, kind, bytes, heads, summary, reply: reply.clone() });
        }
        Output::Unload { doc } => {
            let _ = shared.storage.send(StorageRequest::Unload(doc));
        }
        Output::Applied { ack, result } => {
            if let Some(tx) = lock(&shared.acks).remove(&ack) {
                let _ = tx.send(result);
            }
        }
        // Only the router forwards.
        Output::Forward { .. } => {}
    }
}

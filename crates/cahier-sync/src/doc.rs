//! One document's engine: its replica, its peers' sync states, what waits to
//! be applied and what is being stored.
//!
//! A [`DocEngine`] knows nothing of other documents: the router
//! ([`crate::router`]) checks and routes each peer's messages to it, and the
//! server runs each engine on a task of its own, so that one document's work
//! never delays another's. Incoming sync messages are queued and applied in
//! batches: the caller feeds all the inputs it has, then calls
//! [`DocEngine::flush`]. While changes are being persisted, newer messages wait
//! and are applied together afterwards. New heads are advertised (sync
//! replies, heads gossip) only after the store reported them durable.
//!
//! A writer's changes do not wait for any of that to reach the other peers:
//! once read and checked (as they will be applied: well-formed, numbered on
//! from known dependencies, their actors the writer's), they are relayed at
//! once ([`crate::relay`]), and a runner sends them before it flushes
//! ([`DocEngine::take_ready`]). A peer that has not answered the last message
//! it was sent gets what arrives meanwhile in one message when it does.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;

use automerge::sync::{self, SyncDoc};
use automerge::{Automerge, Change, ChangeHash, ReadDoc};
use cahier_doc::DocId;

use crate::hub::{Config, ConnId, Output, PersistKind, Policy, Stats};
use crate::wire::{self, Message, RemoteHeads};

/// What a document's engine is told.
#[derive(Debug)]
#[allow(clippy::large_enum_variant, reason = "each input is moved once into the engine")]
pub enum DocInput {
    /// A peer's sync message, already decoded, checked and authorized by the
    /// router. `request` when it came as `request` (the peer may not have the
    /// document); `can_write` whether its changes may be applied.
    Sync {
        conn: ConnId,
        peer: PeerInfo,
        msg: sync::Message,
        request: bool,
        can_write: bool,
    },
    /// A peer's own presence, checked by the router, to relay to the others.
    Ephemeral {
        conn: ConnId,
        count: u64,
        session_id: String,
        data: Vec<u8>,
    },
    /// Another node's peer's ephemeral message, checked by the router, to
    /// relay to the peers here who may read the document.
    Foreign {
        message: crate::hub::Ephemeral,
    },
    /// The connection is gone.
    PeerLeft {
        conn: ConnId,
    },
    /// The connection (un)subscribed to our heads gossip.
    Subscribed {
        conn: ConnId,
        on: bool,
    },
    /// The answer to [`Output::Load`].
    Loaded {
        result: Result<Option<(Automerge, usize)>, String>,
    },
    /// The answer to [`Output::Persist`].
    Persisted {
        heads: Vec<ChangeHash>,
        result: Result<(), String>,
    },
    /// The document was deleted: its peers are told and dropped.
    Deleted,
    /// Changes made by the server itself; see [`crate::Input::Apply`].
    Apply {
        changes: Vec<u8>,
        ack: Option<u64>,
    },
    /// Changes another node stored; see [`crate::Input::Stored`].
    Stored {
        changes: Vec<u8>,
    },
    Tick,
}

impl DocInput {
    /// Whether this input needs the document in memory (loading it if it is
    /// not). Others are for a document already there, and are dropped if it is not.
    pub fn wants_document(&self) -> bool {
        matches!(self, DocInput::Sync { .. } | DocInput::Apply { .. })
    }
}

/// Who a peer is, as the router knows it.
#[derive(Debug, Clone)]
pub struct PeerInfo {
    pub peer_id: String,
    /// Wants `remote-heads-changed` for our storage id.
    pub subscribed: bool,
}

struct PeerSync {
    info: PeerInfo,
    state: sync::State,
    /// May read but not write: its changes are never applied.
    read_only: bool,
    requested: bool,
    told_unavailable: bool,
    /// The first `have` of the last message generated for it: relayed
    /// messages repeat it.
    last_have: Option<sync::Have>,
    /// It was relayed changes and has not spoken since. (A peer answers a
    /// message that brings it changes; one that tells it nothing new may go
    /// unanswered, so generated messages do not count.)
    awaiting: bool,
    /// The number, in the relay log, of the next change to relay to it.
    next_relay: u64,
}

/// Changes the relay log keeps for peers that have not answered; older ones
/// reach them through the next generated message instead.
const MAX_RELAY_LOG: usize = 4096;
/// Relayed changes remembered until the replica holds them.
const MAX_UNAPPLIED: usize = 100_000;
/// Changes waiting for a dependency the server does not know yet, per
/// document: a writer whose changes would pass either bound is refused.
const MAX_WAITING: usize = 1024;
const MAX_WAITING_BYTES: usize = 4 * 1024 * 1024;

struct Slot {
    doc: Automerge,
    saved_heads: Vec<ChangeHash>,
    persisting: Option<Vec<ChangeHash>>,
    /// Applies applied in memory, not yet in a persist.
    acks: Vec<u64>,
    /// Applies the persist in flight confirms.
    acks_in_flight: Vec<u64>,
    /// Incremental chunks stored since the last snapshot.
    chunks: usize,
    /// Their bytes.
    since_snapshot: usize,
    /// The last snapshot's bytes (0 until this engine wrote one).
    snapshot_bytes: usize,
    /// Whether the store has the document.
    exists: bool,
    bytes: usize,
    log: crate::round::RoundLog,
}

pub struct DocEngine<P: Policy> {
    id: DocId,
    config: Arc<Config>,
    policy: Arc<P>,
    slot: Option<Slot>,
    /// A [`Output::Load`] is out and not answered.
    loading: bool,
    peers: BTreeMap<ConnId, PeerSync>,
    /// Connections this engine closed: what they still send is dropped.
    closed: BTreeSet<ConnId>,
    pending: Vec<(ConnId, sync::Message)>,
    /// Changes checked and relayed that the replica does not hold yet, with
    /// their last op: known to the server (a peer sending one back claims no
    /// actor), and dependencies later changes may be checked against. Kept
    /// when the document is dropped and reloaded.
    unapplied: HashMap<ChangeHash, u64>,
    /// Changes whose dependencies the server does not know yet, with their
    /// sender, in arrival order: automerge 0.12 would keep them in its own
    /// queue and apply them unchecked once those arrive. They wait here,
    /// never in the replica (so never stored, advertised or relayed), and
    /// are checked and applied when their dependencies are in the replica,
    /// from any peer or the store. Bounded by [`MAX_WAITING`] and
    /// [`MAX_WAITING_BYTES`]; a sender's go when it leaves or is refused (its
    /// client sends them again when it syncs again).
    waiting: Vec<(ConnId, Change)>,
    waiting_bytes: usize,
    /// Changes past that bound, dropped (their sender is told to sync again),
    /// kept by hash and dependencies only: what they wait for is asked for
    /// too. Otherwise a dependency hidden by a Bloom filter's false positive
    /// behind a dropped change is never asked for, and the sender, sending
    /// the dropped change again each time, is dropped and reset forever.
    /// Bounded by [`MAX_WAITING`]; a sender's go when it leaves.
    dropped: Vec<(ConnId, ChangeHash, Vec<ChangeHash>)>,
    /// Some peer has changes waiting, or answered.
    relay_due: bool,
    /// The changes relayed lately, each with its sender, in order; the
    /// first is number `relay_base`. Shared by the peers, each at its own
    /// place in it.
    relay_log: std::collections::VecDeque<(ConnId, Change)>,
    relay_base: u64,
    /// Changes relayed since the server last advertised new heads, and that
    /// extra `have` (built once for every peer): a superset of what each peer
    /// was relayed since its last generated message, all known to the server.
    relay_window: Vec<ChangeHash>,
    relay_have: Option<sync::Have>,
    /// Changes from the server itself, waiting for the document to load.
    local: Vec<(Vec<u8>, Option<u64>)>,
    /// Changes another node stored, waiting to be applied.
    remote: Vec<Vec<u8>>,
    last_active: u64,
    dirty: bool,
    out: Vec<Output>,
    stats: Stats,
    now: u64,
}

impl<P: Policy> DocEngine<P> {
    pub fn new(id: DocId, config: Arc<Config>, policy: Arc<P>) -> DocEngine<P> {
        DocEngine {
            id,
            config,
            policy,
            slot: None,
            loading: false,
            peers: BTreeMap::new(),
            closed: BTreeSet::new(),
            pending: Vec::new(),
            unapplied: HashMap::new(),
            waiting: Vec::new(),
            waiting_bytes: 0,
            dropped: Vec::new(),
            relay_due: false,
            relay_log: Default::default(),
            relay_base: 0,
            relay_window: Vec::new(),
            relay_have: None,
            local: Vec::new(),
            remote: Vec::new(),
            last_active: 0,
            dirty: false,
            out: Vec::new(),
            stats: Stats::default(),
            now: 0,
        }
    }

    pub fn id(&self) -> &DocId {
        &self.id
    }

    /// Whether the document is in memory.
    pub fn is_loaded(&self) -> bool {
        self.slot.is_some()
    }

    /// The heads the store has, if the document is loaded.
    pub fn saved_heads(&self) -> Option<&[ChangeHash]> {
        self.slot.as_ref().map(|s| s.saved_heads.as_slice())
    }

    /// Whether the engine's work may keep its thread busy for long: much to
    /// apply, or a long history (applying, saving and generating walk it in
    /// automerge 0.12). A runner may move other work off the thread for it;
    /// for a keystroke on a short document that costs more than the work.
    pub fn is_heavy(&self) -> bool {
        const HEAVY_BYTES: usize = 256 * 1024;
        const LONG_HISTORY_BYTES: usize = 1024 * 1024;
        let queued: usize = self.pending.iter().map(|(_, m)| m.changes.iter().map(<[u8]>::len).sum::<usize>()).sum::<usize>()
            + self.local.iter().map(|(c, _)| c.len()).sum::<usize>()
            + self.remote.iter().map(Vec::len).sum::<usize>();
        queued >= HEAVY_BYTES || self.slot.as_ref().is_some_and(|s| s.bytes >= LONG_HISTORY_BYTES)
    }

    /// Changes not yet durable, or a persist in flight.
    pub fn has_unsaved(&self) -> bool {
        !self.pending.is_empty()
            || !self.local.is_empty()
            || self.slot.as_ref().is_some_and(|s| s.persisting.is_some() || s.doc.get_heads() != s.saved_heads)
    }

    /// Nothing to do and nobody to serve for `idle_unload_ms`, everything
    /// stored: the engine may go. An engine that dropped its document (an
    /// error) and has no peer left may go at once.
    pub fn is_idle(&self, now: u64) -> bool {
        if !self.peers.is_empty() || self.has_unsaved() || self.loading {
            return false;
        }
        self.slot.is_none() || now.saturating_sub(self.last_active) >= self.config.idle_unload_ms
    }

    /// The counters since the last call.
    pub fn take_stats(&mut self) -> Stats {
        std::mem::take(&mut self.stats)
    }

    /// Takes one input. Outputs accumulate until [`DocEngine::flush`].
    pub fn handle(&mut self, now_ms: u64, input: DocInput) {
        self.now = now_ms;
        match input {
            DocInput::Sync { conn, peer, msg, request, can_write } => {
                if self.closed.contains(&conn) {
                    return;
                }
                self.sync_in(conn, peer, msg, request, can_write);
            }
            DocInput::Ephemeral { conn, count, session_id, data } => self.ephemeral(conn, count, session_id, data),
            DocInput::Foreign { message } => self.foreign_ephemeral(message),
            DocInput::PeerLeft { conn } => {
                self.closed.remove(&conn);
                self.forget_waiting(conn);
                if self.peers.remove(&conn).is_some() {
                    self.last_active = now_ms;
                }
            }
            DocInput::Subscribed { conn, on } => {
                if let Some(p) = self.peers.get_mut(&conn) {
                    p.info.subscribed = on;
                }
            }
            DocInput::Loaded { result } => self.contained(|e| e.loaded(result)),
            DocInput::Persisted { heads, result } => self.contained(|e| e.persisted(heads, result)),
            DocInput::Apply { changes, ack } => {
                self.ensure_loading();
                self.local.push((changes, ack));
                self.last_active = now_ms;
                self.dirty = true;
            }
            DocInput::Stored { changes } => {
                if self.slot.is_some() || self.loading {
                    self.remote.push(changes);
                    self.dirty = true;
                }
            }
            DocInput::Deleted => {
                self.dirty = false;
                let peers = self.reset("the document was deleted");
                for conn in peers {
                    self.fail(conn, "document_deleted", format!("document {} was deleted", self.id));
                }
            }
            DocInput::Tick => {}
        }
    }

    /// Processes the queued work and returns everything to do.
    pub fn flush(&mut self) -> Vec<Output> {
        if std::mem::take(&mut self.dirty) && catch_unwind(AssertUnwindSafe(|| self.process())).is_err() {
            // A panic inside automerge: this document alone is dropped.
            self.count_error("panic");
            self.drop_panicked();
        }
        self.take_ready()
    }

    /// What the inputs so far produced without processing the queue (relayed
    /// changes, refusals): a runner sends it before [`DocEngine::flush`],
    /// which may keep it busy for long on a long history.
    pub fn take_ready(&mut self) -> Vec<Output> {
        if std::mem::take(&mut self.relay_due) {
            let end = self.relay_base + self.relay_log.len() as u64;
            let conns: Vec<ConnId> = self.peers.iter().filter(|(_, p)| !p.awaiting && p.next_relay < end).map(|(c, _)| *c).collect();
            for conn in conns {
                self.relay_to(conn);
            }
            // What every peer was given (or will get otherwise) is forgotten.
            let oldest = self.peers.values().map(|p| p.next_relay).min().unwrap_or(end);
            while self.relay_base < oldest.min(end) || self.relay_log.len() > MAX_RELAY_LOG {
                self.relay_log.pop_front();
                self.relay_base += 1;
            }
        }
        for o in &self.out {
            if let Output::Send { bytes, .. } = o {
                self.stats.messages_out += 1;
                self.stats.bytes_out += bytes.len() as u64;
            }
        }
        std::mem::take(&mut self.out)
    }

    fn count_error(&mut self, kind: &'static str) {
        *self.stats.errors.entry(kind).or_default() += 1;
    }

    fn send(&mut self, conn: ConnId, msg: &Message) {
        self.out.push(Output::Send { conn, bytes: msg.encode() });
    }

    /// Sends an `error` naming the problem, then closes the connection.
    fn fail(&mut self, conn: ConnId, kind: &'static str, message: String) {
        if !self.closed.insert(conn) {
            return;
        }
        self.peers.remove(&conn);
        self.forget_waiting(conn);
        self.count_error(kind);
        self.out.extend(crate::hub::failure(conn, message));
    }

    /// Drops the changes `conn` sent that wait for dependencies.
    fn forget_waiting(&mut self, conn: ConnId) {
        self.dropped.retain(|(c, _, _)| *c != conn);
        if self.waiting.iter().any(|(c, _)| *c == conn) {
            self.waiting.retain(|(c, _)| *c != conn);
            self.waiting_bytes = self.waiting.iter().map(|(_, c)| c.raw_bytes().len()).sum();
        }
    }

    fn ensure_loading(&mut self) {
        if self.slot.is_none() && !self.loading {
            self.loading = true;
            self.out.push(Output::Load { doc: self.id.clone() });
        }
    }

    fn unavailable(&mut self, conn: ConnId, peer_id: &str) {
        let msg = Message::DocUnavailable {
            sender_id: self.config.peer_id.clone(),
            target_id: peer_id.to_owned(),
            document_id: self.id.to_string(),
        };
        self.send(conn, &msg);
    }

    fn sync_in(&mut self, conn: ConnId, info: PeerInfo, msg: sync::Message, request: bool, can_write: bool) {
        self.ensure_loading();
        self.last_active = self.now;
        let peer = self.peers.entry(conn).or_insert_with(|| PeerSync {
            info,
            state: if can_write { sync::State::new() } else { sync::State::new_read_only() },
            read_only: !can_write,
            requested: false,
            told_unavailable: false,
            last_have: None,
            awaiting: false,
            next_relay: self.relay_base + self.relay_log.len() as u64,
        });
        peer.requested |= request;
        peer.awaiting = false;
        if peer.read_only && can_write {
            // Rights can only be checked per message: a peer whose rights grew
            // starts a fresh, writable sync state.
            peer.read_only = false;
            peer.state = sync::State::new();
            peer.last_have = None;
        }
        let fresh = if can_write && !msg.changes.is_empty() { self.relayable(conn, &msg.changes) } else { Vec::new() };
        self.pending.push((conn, msg));
        self.dirty = true;
        if !fresh.is_empty() {
            if self.relay_window.len() > MAX_UNAPPLIED {
                // Never advertised for that long (the store keeps failing):
                // at worst, peers send some of these back.
                self.relay_window.clear();
            }
            self.relay_window.extend(fresh.iter().map(Change::hash));
            self.relay_have = None;
            self.relay_log.extend(fresh.into_iter().map(|c| (conn, c)));
        }
        // Sent with [`DocEngine::take_ready`]: what arrives in one batch of
        // inputs goes in one message to each peer. The sender answered, so
        // what waited for it goes too.
        self.relay_due = true;
    }

    /// The changes of `chunks` the server has not seen yet, if they can be
    /// relayed before they are applied: read on their own, numbered on from
    /// dependencies the server knows, within the document's size limit, their
    /// actors claimed by the writer. Empty otherwise (they then reach the
    /// other peers once applied and stored, and are refused there if they
    /// must be).
    fn relayable(&mut self, conn: ConnId, chunks: &sync::ChunkList) -> Vec<Change> {
        let Some(slot) = self.slot.as_ref() else { return Vec::new() };
        let queued: usize = self.pending.iter().map(|(_, m)| m.changes.iter().map(<[u8]>::len).sum::<usize>()).sum();
        let size: usize = chunks.iter().map(<[u8]>::len).sum();
        if slot.bytes + queued + size > self.config.limits.max_document_bytes {
            return Vec::new();
        }
        let read = catch_unwind(AssertUnwindSafe(|| read_changes(&slot.doc, &self.unapplied, chunks)));
        let Ok(Ok(Some(read))) = read else { return Vec::new() };
        if read.unchecked || read.fresh.is_empty() {
            return Vec::new();
        }
        if !read.actors.is_empty() && self.policy.claim_actors(conn, &read.actors).is_err() {
            return Vec::new();
        }
        if self.unapplied.len() + read.fresh.len() > MAX_UNAPPLIED {
            self.unapplied.clear();
        }
        let fresh: Vec<Change> = read.take_fresh();
        for c in &fresh {
            self.unapplied.insert(c.hash(), c.max_op());
        }
        fresh
    }

    /// Relays to `conn` what the log holds for it, if it is ready for a message.
    fn relay_to(&mut self, conn: ConnId) {
        let end = self.relay_base + self.relay_log.len() as u64;
        let Some(peer) = self.peers.get(&conn) else { return };
        if peer.awaiting || peer.next_relay >= end {
            return;
        }
        let relayed_have = self.relay_have.get_or_insert_with(|| crate::relay::relayed_have(&self.relay_window)).clone();
        let Some(peer) = self.peers.get_mut(&conn) else { return };
        let from = peer.next_relay.saturating_sub(self.relay_base) as usize;
        peer.next_relay = end;
        let Some(last_have) = peer.last_have.as_ref().filter(|_| crate::relay::ready(&peer.state, peer.last_have.as_ref())) else {
            // It gets them from the next generated message.
            return;
        };
        let changes: Vec<&Change> = self
            .relay_log
            .iter()
            .skip(from)
            .filter(|(sender, c)| *sender != conn && !peer.state.sent_hashes.contains(&c.hash()))
            .map(|(_, c)| c)
            .collect();
        if changes.is_empty() {
            return;
        }
        let msg = crate::relay::message(&mut peer.state, last_have, &relayed_have, &changes);
        peer.awaiting = true;
        self.stats.relayed += changes.len() as u64;
        let msg = Message::Sync {
            sender_id: self.config.peer_id.clone(),
            target_id: peer.info.peer_id.clone(),
            document_id: self.id.to_string(),
            data: msg.encode(),
        };
        self.send(conn, &msg);
    }

    fn ephemeral(&mut self, conn: ConnId, count: u64, session_id: String, data: Vec<u8>) {
        let Some(sender) = self.peers.get(&conn) else { return };
        let sender_id = sender.info.peer_id.clone();
        let targets: Vec<(ConnId, String)> =
            self.peers.iter().filter(|(c, _)| **c != conn).map(|(c, p)| (*c, p.info.peer_id.clone())).collect();
        for (c, target_id) in targets {
            let msg = Message::Ephemeral {
                sender_id: sender_id.clone(),
                target_id,
                count,
                session_id: session_id.clone(),
                document_id: self.id.to_string(),
                data: data.clone(),
            };
            self.send(c, &msg);
        }
    }

    /// Relays another node's peer's ephemeral message to every peer here who
    /// may read the document now (asked again: a right may have gone since
    /// the peer's last message).
    fn foreign_ephemeral(&mut self, message: crate::hub::Ephemeral) {
        let targets: Vec<(ConnId, String)> = self
            .peers
            .iter()
            .filter(|(c, p)| {
                p.info.peer_id != message.sender_id && self.policy.authorize(**c, &p.info.peer_id, &self.id, crate::hub::Access::Read)
            })
            .map(|(c, p)| (*c, p.info.peer_id.clone()))
            .collect();
        for (c, target_id) in targets {
            let msg = Message::Ephemeral {
                sender_id: message.sender_id.clone(),
                target_id,
                count: message.count,
                session_id: message.session_id.clone(),
                document_id: self.id.to_string(),
                data: message.data.clone(),
            };
            self.send(c, &msg);
        }
    }

    fn loaded(&mut self, result: Result<Option<(Automerge, usize)>, String>) {
        if self.slot.is_some() || !self.loading {
            return;
        }
        self.loading = false;
        match result {
            Ok(loaded) => {
                let exists = loaded.is_some();
                let (am, chunks) = loaded.unwrap_or_else(|| (cahier_doc::empty(), 0));
                let bytes = if exists { am.get_changes_meta(&[]).len() * 64 } else { 0 };
                self.slot = Some(Slot {
                    saved_heads: am.get_heads(),
                    doc: am,
                    persisting: None,
                    acks: Vec::new(),
                    acks_in_flight: Vec::new(),
                    chunks,
                    since_snapshot: 0,
                    snapshot_bytes: 0,
                    exists,
                    bytes,
                    log: Default::default(),
                });
                self.dirty = true;
            }
            Err(e) => {
                self.count_error("load_failed");
                let peers: Vec<(ConnId, String)> = self.peers.iter().map(|(c, p)| (*c, p.info.peer_id.clone())).collect();
                self.reset(&format!("the document cannot be loaded: {e}"));
                for (conn, peer_id) in peers {
                    let message = format!("document {} cannot be loaded from the store: {e}", self.id);
                    self.send(conn, &Message::Error { message });
                    self.unavailable(conn, &peer_id);
                }
            }
        }
    }

    fn persisted(&mut self, heads: Vec<ChangeHash>, result: Result<(), String>) {
        let Some(slot) = self.slot.as_mut() else { return };
        if slot.persisting.as_ref() != Some(&heads) {
            return;
        }
        slot.persisting = None;
        match result {
            Ok(()) => {
                slot.saved_heads = heads.clone();
                slot.exists = true;
                for ack in std::mem::take(&mut slot.acks_in_flight) {
                    self.out.push(Output::Applied { ack, result: Ok(()) });
                }
                // Advertise what is now durable, before applying anything
                // newer. The heads cover every relayed change applied so far.
                let unapplied = &self.unapplied;
                self.relay_window.retain(|h| unapplied.contains_key(h));
                self.relay_have = None;
                self.generate();
                self.gossip_heads(&heads);
                self.dirty = true;
            }
            Err(e) => {
                // Refuse the changes: forget the in-memory document (it will be
                // reloaded from what is durable) and tell its peers, whose clients
                // still hold their changes and send them again when they reconnect.
                self.count_error("persist_failed");
                let peers = self.reset(&e);
                for conn in peers {
                    let message = format!("could not save changes to {}: {e}; they were not stored, reconnect to send them again", self.id);
                    self.fail(conn, "persist_failed", message);
                }
            }
        }
    }

    fn gossip_heads(&mut self, heads: &[ChangeHash]) {
        let targets: Vec<(ConnId, String)> =
            self.peers.iter().filter(|(_, p)| p.info.subscribed).map(|(c, p)| (*c, p.info.peer_id.clone())).collect();
        for (conn, target_id) in targets {
            let msg = Message::RemoteHeadsChanged {
                sender_id: self.config.peer_id.clone(),
                target_id,
                document_id: self.id.to_string(),
                new_heads: vec![RemoteHeads {
                    storage_id: self.config.storage_id.clone(),
                    heads: heads.iter().map(wire::encode_head).collect(),
                    timestamp: self.now,
                }],
            };
            self.send(conn, &msg);
        }
    }

    /// Runs `f`; a panic inside it drops the document and fails its peers, nothing else.
    fn contained(&mut self, f: impl FnOnce(&mut Self)) {
        if catch_unwind(AssertUnwindSafe(|| f(self))).is_err() {
            self.count_error("panic");
            self.drop_panicked();
        }
    }

    /// Forgets the document (it reloads from the store when next wanted):
    /// applies it had not confirmed are told they were not stored. Returns
    /// the peers it had, now dropped.
    fn reset(&mut self, why: &str) -> Vec<ConnId> {
        let mut acks: Vec<u64> = self.local.drain(..).filter_map(|(_, a)| a).collect();
        if let Some(slot) = self.slot.take() {
            acks.extend(slot.acks.iter().chain(&slot.acks_in_flight));
            self.out.push(Output::Unload { doc: self.id.clone() });
        }
        for ack in acks {
            self.out.push(Output::Applied { ack, result: Err(format!("not stored: {why}")) });
        }
        self.pending.clear();
        self.waiting.clear();
        self.waiting_bytes = 0;
        self.dropped.clear();
        self.relay_log.clear();
        self.relay_window.clear();
        self.relay_have = None;
        self.remote.clear();
        self.dirty = false;
        // A load still out is answered for a document no longer wanted.
        self.loading = false;
        std::mem::take(&mut self.peers).into_keys().collect()
    }

    fn drop_panicked(&mut self) {
        let peers = self.reset("internal error on the document");
        for conn in peers {
            self.fail(conn, "document_dropped", format!("internal error on document {}; other documents are unaffected", self.id));
        }
    }

    /// A document that took changes it must not keep: forgotten (it reloads from
    /// the store), the offender told why, the other peers asked to reconnect.
    fn forget_poisoned(&mut self, offender: ConnId, why: String) {
        self.count_error("refused_change");
        let peers = self.reset("the document is reloading");
        self.fail(offender, "refused_change", why);
        for conn in peers {
            if conn != offender {
                self.fail(conn, "document_reloaded", format!("document {} is reloading; reconnect", self.id));
            }
        }
    }

    /// Applies what is pending, persists, or advertises: one step per call.
    fn process(&mut self) {
        let max_doc = self.config.limits.max_document_bytes;
        let compact_after = self.config.compact_after;
        let doc_id = self.id.clone();
        let Some(slot) = self.slot.as_mut() else { return };
        if slot.persisting.is_some() {
            return;
        }
        if !self.remote.is_empty() {
            // Durable already (another node committed them): when nothing of
            // ours is waiting to be stored, the document's new heads are
            // stored heads, and are not written a second time.
            let clean = slot.doc.get_heads() == slot.saved_heads;
            for changes in std::mem::take(&mut self.remote) {
                let _ = slot.doc.load_incremental(&changes);
                slot.bytes += changes.len();
            }
            if clean && slot.doc.get_missing_deps(&[]).is_empty() {
                slot.saved_heads = slot.doc.get_heads();
                slot.exists = true;
            }
        }
        for (changes, ack) in std::mem::take(&mut self.local) {
            // Made by the server from this document's stored history: they
            // apply. One that cannot (or waits on a missing dependency) is
            // reported, never confirmed.
            let applied = slot.doc.load_incremental(&changes).map_err(|e| e.to_string()).and_then(|_| {
                let hashes: Vec<ChangeHash> = split_chunks(&changes)
                    .map(|chunks| chunks.iter().filter_map(|c| automerge::Change::from_bytes(c.to_vec()).ok()).map(|c| c.hash()).collect())
                    .unwrap_or_default();
                match hashes.iter().all(|h| slot.doc.get_change_by_hash(h).is_some()) {
                    true => Ok(()),
                    false => Err("the change depends on history this document does not hold".to_owned()),
                }
            });
            slot.bytes += changes.len();
            match (ack, applied) {
                (Some(ack), Ok(())) => slot.acks.push(ack),
                (Some(ack), Err(e)) => self.out.push(Output::Applied { ack, result: Err(e) }),
                (None, _) => {}
            }
        }
        let mut refused: Vec<(ConnId, String)> = Vec::new();
        if !self.pending.is_empty() {
            let pending = std::mem::take(&mut self.pending);
            // One batch for every change that arrived: applying changes one by one
            // costs as much per change as the whole batch on a long document.
            let mut batch = Vec::new();
            let mut accepted = Vec::new();
            let mut poisoned: Option<(ConnId, String)> = None;
            // Senders some of whose waiting changes were not kept.
            let mut resync: Vec<ConnId> = Vec::new();
            for (conn, mut msg) in pending {
                let size: usize = msg.changes.iter().map(<[u8]>::len).sum();
                let read = if size > 0 { read_changes(&slot.doc, &self.unapplied, &msg.changes) } else { Ok(Some(Read::default())) };
                // Changes relayed already were held to the limit then.
                let relayed_only = matches!(&read, Ok(Some(r)) if r.fresh.is_empty() && !r.unchecked);
                if size > 0 && !relayed_only && slot.bytes + batch.len() + size > max_doc {
                    refused.push((conn, format!("document too large: the limit is {max_doc} bytes of changes")));
                    continue;
                }
                match read {
                    Err(why) => {
                        // Never applied: reading it alone made Automerge panic.
                        refused.push((conn, format!("changes to {doc_id} refused: {why}")));
                        continue;
                    }
                    Ok(Some(read)) => {
                        if !read.actors.is_empty()
                            && let Err(why) = self.policy.claim_actors(conn, &read.actors)
                        {
                            refused.push((conn, format!("changes to {doc_id} refused: {why}")));
                            continue;
                        }
                        if read.unchecked {
                            // Some depend on changes the server does not know
                            // yet: those wait in the engine, the others are
                            // applied, and the message goes on without the
                            // waiting ones.
                            let mut ready: Vec<Vec<u8>> = Vec::new();
                            let mut known: BTreeSet<ChangeHash> = BTreeSet::new();
                            let mut over = false;
                            for c in read.new_changes {
                                let hash = c.hash();
                                let dep_known = |d: &ChangeHash| {
                                    slot.doc.get_change_meta_by_hash(d).is_some() || self.unapplied.contains_key(d) || known.contains(d)
                                };
                                if c.deps().iter().all(dep_known) {
                                    known.insert(hash);
                                    ready.push(c.raw_bytes().to_vec());
                                } else if self.waiting.iter().any(|(wc, w)| *wc == conn && w.hash() == hash) {
                                    // Sent again while it waits. (Another
                                    // connection's copy is kept apart: it goes
                                    // if that one leaves.)
                                } else if self.waiting.len() >= MAX_WAITING || self.waiting_bytes + c.raw_bytes().len() > MAX_WAITING_BYTES
                                {
                                    // Not kept. The sender believes it sent
                                    // it (automerge never sends a change twice
                                    // on one connection), so it is told to
                                    // start over: it sends again what the
                                    // server lacks once what is asked for
                                    // has come.
                                    over = true;
                                    if self.dropped.len() >= MAX_WAITING {
                                        self.dropped.remove(0);
                                    }
                                    if !self.dropped.iter().any(|(dc, h, _)| *dc == conn && *h == hash) {
                                        self.dropped.push((conn, hash, c.deps().to_vec()));
                                    }
                                } else {
                                    self.waiting_bytes += c.raw_bytes().len();
                                    self.waiting.push((conn, c));
                                }
                            }
                            if over && !resync.contains(&conn) {
                                resync.push(conn);
                            }
                            for c in &ready {
                                batch.extend_from_slice(c);
                            }
                            msg.changes = ready.into();
                        } else if read.new > 0 {
                            // A message whose changes the replica holds (a
                            // duplicate, or changes another peer relayed back)
                            // costs no apply.
                            for c in msg.changes.iter() {
                                batch.extend_from_slice(c);
                            }
                        }
                    }
                    Ok(None) => {
                        // Chunks whose changes cannot be read on their own (the JS
                        // client sends document chunks that build on earlier
                        // changes): apply this message alone to see whose they are.
                        let before = slot.doc.get_heads();
                        let waiting = slot.doc.get_missing_deps(&[]).len();
                        let mut bytes = Vec::with_capacity(size);
                        for c in msg.changes.iter() {
                            bytes.extend_from_slice(c);
                        }
                        let _ = slot.doc.load_incremental(&bytes);
                        slot.bytes += size;
                        if slot.doc.get_missing_deps(&[]).len() > waiting {
                            // Changes left waiting for a dependency were not
                            // checked; applied later, they would escape the check.
                            let why = format!("changes to {doc_id} refused: they depend on changes not sent; sync again");
                            poisoned = Some((conn, why));
                            break;
                        }
                        let mut actors: Vec<String> = Vec::new();
                        for m in slot.doc.get_changes_meta(&before) {
                            let a = m.actor.to_hex_string();
                            if !actors.contains(&a) {
                                actors.push(a);
                            }
                        }
                        if !actors.is_empty()
                            && let Err(why) = self.policy.claim_actors(conn, &actors)
                        {
                            // Already in the in-memory document: it must go (nothing
                            // of this round was stored or sent yet).
                            poisoned = Some((conn, format!("changes to {doc_id} refused: {why}")));
                            break;
                        }
                    }
                }
                accepted.push((conn, msg));
            }
            if let Some((conn, why)) = poisoned {
                self.forget_poisoned(conn, why);
                return;
            }
            let batch_ok = batch.is_empty() || slot.doc.load_incremental(&batch).is_ok();
            slot.bytes += batch.len();
            if !batch.is_empty() && !self.unapplied.is_empty() {
                let doc = &slot.doc;
                self.unapplied.retain(|h, _| doc.get_change_meta_by_hash(h).is_none());
            }
            for (conn, msg) in accepted {
                // Automerge counts our heads as sent when a peer's message, with
                // no changes, names heads equal to ours. But the peer may have
                // merged them itself (its own change and another's, crossing
                // ours on the wire) and never been told that we hold them: it
                // would wait for that forever ("Enregistrement…"). Our heads
                // count as sent only once we sent them.
                let keep_sent = |state: &mut sync::State, sent: Vec<ChangeHash>| {
                    if state.last_sent_heads != sent && !state.last_sent_heads.is_empty() {
                        state.last_sent_heads = sent;
                    }
                };
                match self.peers.get_mut(&conn) {
                    // Every change of the round is in the document already.
                    Some(peer) if batch_ok => {
                        let sent = peer.state.last_sent_heads.clone();
                        crate::round::receive_applied(&slot.doc, &mut peer.state, msg);
                        keep_sent(&mut peer.state, sent);
                    }
                    Some(peer) => {
                        let sent = peer.state.last_sent_heads.clone();
                        if let Err(e) = slot.doc.receive_sync_message(&mut peer.state, msg) {
                            refused.push((conn, format!("invalid sync message for {doc_id}: {e}")));
                        }
                        keep_sent(&mut peer.state, sent);
                    }
                    None if !batch_ok => {
                        // The sender is gone; apply what it sent on its own.
                        let mut state = sync::State::new();
                        let _ = slot.doc.receive_sync_message(&mut state, msg);
                    }
                    None => {}
                }
            }
            for conn in resync {
                if let Some(peer) = self.peers.get_mut(&conn) {
                    peer.state.needs_reset = true;
                    *self.stats.errors.entry("waiting_full").or_default() += 1;
                }
            }
        }
        if !self.dropped.is_empty() {
            // Those that came again since and are in the replica now.
            let gone: Vec<ConnId> = refused.iter().map(|(c, _)| *c).collect();
            let doc = &slot.doc;
            self.dropped.retain(|(c, h, _)| !gone.contains(c) && doc.get_change_meta_by_hash(h).is_none());
        }
        if !self.waiting.is_empty() {
            // What waited for dependencies now in the replica is checked
            // and applied; the refused senders' others go with them.
            let gone: Vec<ConnId> = refused.iter().map(|(c, _)| *c).collect();
            self.waiting.retain(|(c, _)| !gone.contains(c));
            let (applied, bad) = apply_waiting(&mut slot.doc, &mut self.waiting);
            slot.bytes += applied;
            self.waiting_bytes = self.waiting.iter().map(|(_, c)| c.raw_bytes().len()).sum();
            for conn in bad {
                refused.push((
                    conn,
                    format!("changes to {doc_id} refused: a change of them does not number its operations on from its dependencies"),
                ));
            }
        }
        let heads = slot.doc.get_heads();
        if heads != slot.saved_heads && !heads.is_empty() {
            // A snapshot writes (and first builds) the whole document: on a
            // long history that holds the document for a while. It comes after
            // `compact_after` chunks, and once the chunks since the last one
            // add up to a quarter of it, so that its cost stays a fraction of
            // what was written.
            let compact = slot.chunks + 1 >= compact_after && slot.since_snapshot.saturating_mul(4) >= slot.snapshot_bytes;
            let (kind, bytes) = if !slot.exists || compact {
                (PersistKind::Snapshot, slot.doc.save())
            } else {
                (PersistKind::Incremental, slot.doc.save_after(&slot.saved_heads))
            };
            if kind == PersistKind::Snapshot {
                slot.chunks = 0;
                slot.since_snapshot = 0;
                slot.snapshot_bytes = bytes.len();
            } else {
                slot.chunks += 1;
                slot.since_snapshot += bytes.len();
            }
            slot.persisting = Some(heads.clone());
            let summary = cahier_doc::read::summary(&slot.doc);
            // Confirmed when this persist is.
            slot.acks_in_flight = std::mem::take(&mut slot.acks);
            self.out.push(Output::Persist { doc: doc_id, kind, bytes, heads, summary });
        } else {
            // Nothing new to store: what was applied is stored already.
            for ack in std::mem::take(&mut slot.acks) {
                self.out.push(Output::Applied { ack, result: Ok(()) });
            }
            self.generate();
        }
        for (conn, message) in refused {
            self.fail(conn, "refused_change", message);
        }
    }

    /// One sync round to every peer of the document: what it lacks of the
    /// durable state, or `doc-unavailable` if nobody has the document.
    fn generate(&mut self) {
        let Some(slot) = self.slot.as_mut() else { return };
        let mut sends = Vec::new();
        slot.log.advance(&slot.doc);
        let arena = typed_arena::Arena::new();
        let mut round = crate::round::Round::new(&slot.doc, &slot.log, &arena);
        let unknown = !slot.exists && slot.doc.get_heads().is_empty();
        let waiting: HashMap<ChangeHash, &[ChangeHash]> = self.waiting.iter().map(|(_, c)| (c.hash(), c.deps())).collect();
        let mut waiting = waiting;
        let mut own: HashMap<ConnId, Vec<ChangeHash>> = HashMap::new();
        for (conn, c) in &self.waiting {
            own.entry(*conn).or_default().push(c.hash());
        }
        // A dropped change is walked through like a waiting one (its sender
        // sends it again after the reset, the filter does not hide it), so
        // that what it waits for is asked for.
        for (conn, hash, deps) in &self.dropped {
            waiting.entry(*hash).or_insert(deps.as_slice());
            own.entry(*conn).or_default().push(*hash);
        }
        for (conn, peer) in self.peers.iter_mut() {
            let peer_id = peer.info.peer_id.clone();
            if unknown && peer.requested {
                // Nobody has it (yet). A peer that sent `sync` rather than
                // `request` has the document and gets a normal reply instead.
                if !peer.told_unavailable {
                    peer.told_unavailable = true;
                    sends.push((
                        *conn,
                        Message::DocUnavailable {
                            sender_id: self.config.peer_id.clone(),
                            target_id: peer_id,
                            document_id: self.id.to_string(),
                        },
                    ));
                }
                continue;
            }
            if let Some(mut msg) = round.generate(&mut peer.state) {
                if !waiting.is_empty() {
                    ask_past_waiting(&slot.doc, &waiting, own.get(conn).map_or(&[][..], Vec::as_slice), &mut msg);
                }
                for (c, hash, _) in &self.dropped {
                    // Asked for by name too: a filter's false positive may hide it.
                    if c == conn && !msg.need.contains(hash) {
                        msg.need.push(*hash);
                        // Sent sorted, as automerge encodes them.
                        msg.need.sort();
                    }
                }
                peer.last_have = msg.have.first().cloned();
                if !self.relay_window.is_empty() && !msg.have.is_empty() {
                    // Relayed changes not advertised yet: the peer must not
                    // send them back.
                    let window = &self.relay_window;
                    msg.have.push(self.relay_have.get_or_insert_with(|| crate::relay::relayed_have(window)).clone());
                }
                sends.push((
                    *conn,
                    Message::Sync {
                        sender_id: self.config.peer_id.clone(),
                        target_id: peer_id,
                        document_id: self.id.to_string(),
                        data: msg.encode(),
                    },
                ));
            }
        }
        for (conn, msg) in sends {
            self.send(conn, &msg);
        }
    }
}

/// Asks for what the changes waiting in the engine wait for, rather than for
/// the changes themselves.
///
/// Automerge 0.12 asks a peer (`need`) for the heads it announced that the
/// document lacks, walking through the changes in automerge's own queue to
/// the dependencies they miss. The engine's waiting changes are not in that
/// queue, so automerge asks for them instead, and the peer never sends a
/// change again on a connection where it sent it once (`sent_hashes`): the
/// dependency it holds and the server lacks (one a Bloom filter's false
/// positive made it believe the server has) would never come, and its changes
/// would wait until it reconnects, where the same filter gives the same false
/// positive. Here the walk goes on through the waiting changes, and also
/// starts from the dependencies of those `own` (the peer's). Unlike upstream,
/// our `have` is kept: the peer sends what is asked for first, then whatever
/// the filter lacks (all of it again after a reset), so what waits and what it
/// waits for come in one message.
fn ask_past_waiting(doc: &Automerge, waiting: &HashMap<ChangeHash, &[ChangeHash]>, own: &[ChangeHash], msg: &mut sync::Message) {
    let mut stack: Vec<ChangeHash> = msg.need.clone();
    for h in own {
        stack.extend(waiting.get(h).into_iter().flat_map(|deps| deps.iter().copied()));
    }
    if stack.iter().all(|h| !waiting.contains_key(h)) && own.is_empty() {
        return;
    }
    let mut need: BTreeSet<ChangeHash> = BTreeSet::new();
    let mut seen: BTreeSet<ChangeHash> = BTreeSet::new();
    while let Some(hash) = stack.pop() {
        if doc.get_change_meta_by_hash(&hash).is_some() || !seen.insert(hash) {
            continue;
        }
        match waiting.get(&hash) {
            Some(deps) => stack.extend(deps.iter().copied()),
            None => {
                need.insert(hash);
            }
        }
    }
    msg.need = need.into_iter().collect();
}

/// What a message's changes are, read without applying them.
#[derive(Default)]
struct Read {
    /// The actors (hex) of the changes the server has not seen (neither in
    /// the replica nor relayed).
    actors: Vec<String>,
    /// Those changes, in order: their places in `new_changes`.
    fresh: Vec<usize>,
    /// Every change the replica does not hold, relayed ones among them, in order.
    new_changes: Vec<Change>,
    /// How many changes the replica does not hold (relayed ones among them).
    new: usize,
    /// Some change could not be checked before it is applied: a dependency
    /// the server does not know yet.
    unchecked: bool,
}

impl Read {
    /// The changes the server has not seen, moved out.
    fn take_fresh(self) -> Vec<Change> {
        let fresh: BTreeSet<usize> = self.fresh.into_iter().collect();
        self.new_changes.into_iter().enumerate().filter(|(i, _)| fresh.contains(i)).map(|(_, c)| c).collect()
    }
}

/// Reads the changes in `chunks` against `doc` and the changes relayed but
/// not applied yet (`unapplied`, with their last op); `None` when a chunk
/// cannot be read on its own. Each chunk of the list may hold several storage
/// chunks one after the other (as `save_after` writes them): each is read
/// alone, so a change is checked even when it must wait for a dependency that
/// has not arrived. An error when a chunk is corrupt in a way automerge 0.12
/// does not see but trips over later (some chunks with a right checksum make
/// it index out of bounds as it reads them; some changes are taken with a
/// hash their ops do not encode to, and the document's next save panics):
/// applied, it would drop the document for every peer.
fn read_changes(doc: &Automerge, unapplied: &HashMap<ChangeHash, u64>, chunks: &sync::ChunkList) -> Result<Option<Read>, String> {
    let mut out = Read::default();
    let in_doc = |h: &ChangeHash| doc.get_change_meta_by_hash(h).is_some();
    // Each new single change's place in the op order: (start op, deps).
    let mut placed: Vec<(u64, Vec<ChangeHash>)> = Vec::new();
    let mut max_ops: HashMap<ChangeHash, u64> = HashMap::new();
    for bytes in chunks.iter() {
        let Some(split) = split_chunks(bytes) else { return Ok(None) };
        for chunk in split {
            let read = catch_unwind(|| match Change::from_bytes(chunk.to_vec()) {
                // A change whose ops encode to other bytes gets another hash
                // once in the document: its next save would panic.
                Ok(c) if Change::from(c.decode()).hash() != c.hash() => None,
                Ok(c) => Some(Some(vec![c])),
                // A whole-document chunk (a peer sends one when it has much
                // to send, or when the document is small): every change in it.
                Err(_) => match Automerge::load(chunk) {
                    Ok(d) => Some(Some(d.get_changes(&[]))),
                    Err(_) => Some(None),
                },
            });
            let changes = match read {
                Ok(Some(Some(changes))) => changes,
                Ok(Some(None)) => return Ok(None),
                Ok(None) | Err(_) => return Err("a chunk of them is corrupt".to_owned()),
            };
            for c in changes {
                let hash = c.hash();
                if in_doc(&hash) {
                    continue;
                }
                out.new += 1;
                if max_ops.contains_key(&hash) {
                    continue;
                }
                max_ops.insert(hash, c.max_op());
                if unapplied.contains_key(&hash) {
                    out.new_changes.push(c);
                    continue;
                }
                placed.push((c.start_op().get(), c.deps().to_vec()));
                let actor = c.actor_id().to_hex_string();
                if !out.actors.contains(&actor) {
                    out.actors.push(actor);
                }
                out.fresh.push(out.new_changes.len());
                out.new_changes.push(c);
            }
        }
    }
    // A change's ops are numbered on from the last op of everything it
    // depends on: automerge 0.12 takes a change that starts elsewhere (made
    // up: no client writes one), but the document then saves to bytes it
    // cannot load again. A dependency not known yet leaves its change
    // unchecked here.
    for (start, deps) in &placed {
        let max_of = |dep: &ChangeHash| {
            doc.get_change_meta_by_hash(dep).map(|m| m.max_op).or_else(|| unapplied.get(dep).copied()).or_else(|| max_ops.get(dep).copied())
        };
        match deps.iter().map(max_of).collect::<Option<Vec<u64>>>() {
            Some(before) if *start != before.iter().copied().max().unwrap_or(0) + 1 => {
                return Err("a change of them does not number its operations on from its dependencies".to_owned());
            }
            Some(_) => {}
            None => out.unchecked = true,
        }
    }
    Ok(Some(out))
}

/// Applies the changes of `waiting` whose dependencies `doc` holds, and then
/// those that depended on them, each checked first as [`read_changes`] checks
/// a change (numbered on from its dependencies; it was read, its hash and
/// actors checked, as it arrived). Returns the bytes applied and the senders
/// of changes refused, whose other waiting changes are dropped.
fn apply_waiting(doc: &mut Automerge, waiting: &mut Vec<(ConnId, Change)>) -> (usize, Vec<ConnId>) {
    let mut applied = 0;
    let mut bad: Vec<ConnId> = Vec::new();
    loop {
        let (ready, rest): (Vec<_>, Vec<_>) =
            std::mem::take(waiting).into_iter().partition(|(_, c)| c.deps().iter().all(|d| doc.get_change_meta_by_hash(d).is_some()));
        *waiting = rest;
        if ready.is_empty() {
            break;
        }
        let mut batch = Vec::new();
        let mut senders: Vec<ConnId> = Vec::new();
        for (conn, c) in &ready {
            let before = c.deps().iter().filter_map(|d| doc.get_change_meta_by_hash(d)).map(|m| m.max_op).max().unwrap_or(0);
            if c.start_op().get() != before + 1 {
                if !bad.contains(conn) {
                    bad.push(*conn);
                }
            } else if !bad.contains(conn) && doc.get_change_meta_by_hash(&c.hash()).is_none() {
                batch.extend_from_slice(c.raw_bytes());
                if !senders.contains(conn) {
                    senders.push(*conn);
                }
            }
        }
        waiting.retain(|(c, _)| !bad.contains(c));
        if batch.is_empty() {
            continue;
        }
        applied += batch.len();
        if doc.load_incremental(&batch).is_err() {
            // Read and checked, they should apply; if not, their senders are
            // refused like senders of changes that do not number on.
            bad.extend(senders.into_iter().filter(|c| !bad.contains(c)).collect::<Vec<_>>());
            waiting.retain(|(c, _)| !bad.contains(c));
        }
    }
    (applied, bad)
}

/// Automerge's storage chunks, in order: each is the magic bytes, a checksum
/// (4 bytes), a type (1 byte), a LEB128 length, then that many bytes. `None`
/// if `bytes` is not such a sequence.
fn split_chunks(bytes: &[u8]) -> Option<Vec<&[u8]>> {
    const MAGIC: [u8; 4] = [0x85, 0x6f, 0x4a, 0x83];
    let mut out = Vec::new();
    let mut rest = bytes;
    while !rest.is_empty() {
        if rest.get(..4)? != MAGIC {
            return None;
        }
        let mut i = 9;
        let mut len: u64 = 0;
        for shift in 0..10 {
            let b = *rest.get(i)?;
            i += 1;
            len |= u64::from(b & 0x7f) << (7 * shift);
            if b & 0x80 == 0 {
                break;
            }
            if shift == 9 {
                return None;
            }
        }
        let end = i.checked_add(usize::try_from(len).ok()?)?;
        out.push(rest.get(..end)?);
        rest = &rest[end..];
    }
    Some(out)
}

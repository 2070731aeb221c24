//! The hub: every connection, every loaded document, and the rules between them.
//!
//! Incoming sync messages are queued per document and applied in batches: the
//! caller feeds all the inputs it has, then calls [`Hub::flush`] once. While a
//! document's changes are being persisted, newer messages wait and are applied
//! together afterwards. New heads are advertised (sync replies, heads gossip)
//! only after the store reported them durable.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::panic::{AssertUnwindSafe, catch_unwind};

use automerge::sync::{self, SyncDoc};
use automerge::{Automerge, ChangeHash, ReadDoc};
use cahier_doc::DocId;
use cahier_doc::read::Summary;

use crate::wire::{self, Message, PROTOCOL_VERSION, PeerMetadata, RemoteHeads};

pub type ConnId = u64;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Read,
    Write,
}

/// The one place that decides who may read or write a document. A refused
/// document is answered exactly like a missing one.
pub trait Policy {
    fn authorize(&self, conn: ConnId, peer_id: &str, doc: &DocId, access: Access) -> bool;

    /// Called with the actors (hex) of changes new to the server, before they are
    /// applied. The first connection to write with an actor claims it; an error
    /// (said to the peer) refuses the changes, e.g. when an actor belongs to
    /// someone else.
    fn claim_actors(&self, _conn: ConnId, _actors: &[String]) -> Result<(), String> {
        Ok(())
    }
}

/// Lets everyone read and write everything.
pub struct AllowAll;

impl Policy for AllowAll {
    fn authorize(&self, _: ConnId, _: &str, _: &DocId, _: Access) -> bool {
        true
    }
}

#[derive(Debug, Clone)]
pub struct Limits {
    /// Largest message accepted, in bytes.
    pub max_message_bytes: usize,
    /// Largest document, counted as the bytes of its changes.
    pub max_document_bytes: usize,
    /// Documents one connection may sync at once.
    pub max_documents_per_connection: usize,
    /// Messages one connection may send in one second.
    pub max_messages_per_second: u32,
    /// A connection that has not sent `join` by then is closed.
    pub handshake_timeout_ms: u64,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_message_bytes: 8 * 1024 * 1024,
            max_document_bytes: 64 * 1024 * 1024,
            max_documents_per_connection: 256,
            max_messages_per_second: 5000,
            handshake_timeout_ms: 10_000,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Config {
    /// The server's peer id, `senderId` of everything it sends.
    pub peer_id: String,
    /// The server's storage id, sent in `peer` and used in heads gossip.
    pub storage_id: String,
    pub limits: Limits,
    /// A document with no peer is unloaded after this long.
    pub idle_unload_ms: u64,
    /// Incremental chunks before the next save is a full snapshot.
    pub compact_after: usize,
}

impl Config {
    pub fn new(peer_id: &str, storage_id: &str) -> Config {
        Config {
            peer_id: peer_id.to_owned(),
            storage_id: storage_id.to_owned(),
            limits: Limits::default(),
            idle_unload_ms: 60_000,
            compact_after: 64,
        }
    }
}

#[derive(Debug)]
#[allow(clippy::large_enum_variant, reason = "each input is moved once into the hub")]
pub enum Input {
    Connected {
        conn: ConnId,
    },
    /// A binary frame.
    Received {
        conn: ConnId,
        bytes: Vec<u8>,
    },
    /// A text frame: not part of the protocol.
    ReceivedText {
        conn: ConnId,
    },
    Disconnected {
        conn: ConnId,
    },
    /// The answer to [`Output::Load`]: the document and how many chunks it is
    /// stored in, `None` if the store does not have it, or why it could not be loaded.
    Loaded {
        doc: DocId,
        result: Result<Option<(Automerge, usize)>, String>,
    },
    /// The answer to [`Output::Persist`].
    Persisted {
        doc: DocId,
        heads: Vec<ChangeHash>,
        result: Result<(), String>,
    },
    /// The document was deleted: its peers are told and dropped, and it leaves
    /// memory (the policy refuses it from now on).
    Deleted {
        doc: DocId,
    },
    /// Changes made by the server itself (restoring a version, an import):
    /// applied, stored and sent to the peers like any others, with no peer's
    /// rights involved. With an `ack`, [`Output::Applied`] says once they are
    /// durable, or why they are not.
    Apply {
        doc: DocId,
        changes: Vec<u8>,
        ack: Option<u64>,
    },
    Tick,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PersistKind {
    /// The whole document; it replaces every chunk stored before.
    Snapshot,
    /// The changes since the last persisted heads.
    Incremental,
}

#[derive(Debug)]
pub enum Output {
    Send {
        conn: ConnId,
        bytes: Vec<u8>,
    },
    /// Close the connection; `reason` goes in the close frame. An `error` message
    /// naming the problem has been sent just before when there was one.
    Close {
        conn: ConnId,
        reason: String,
    },
    Load {
        doc: DocId,
    },
    /// Store these bytes durably, then answer with [`Input::Persisted`].
    Persist {
        doc: DocId,
        kind: PersistKind,
        bytes: Vec<u8>,
        heads: Vec<ChangeHash>,
        summary: Summary,
    },
    /// The document left memory; the store may forget its bookkeeping.
    Unload {
        doc: DocId,
    },
    /// The answer to an [`Input::Apply`] with an `ack`: its changes are in the
    /// store (`Ok`), or were not stored and why.
    Applied {
        ack: u64,
        result: Result<(), String>,
    },
}

/// Counters for metrics.
#[derive(Debug, Clone, Default)]
pub struct Stats {
    pub connections: usize,
    pub documents_loaded: usize,
    pub messages_in: u64,
    pub messages_out: u64,
    pub bytes_in: u64,
    pub bytes_out: u64,
    pub errors: BTreeMap<&'static str, u64>,
}

struct Conn {
    peer_id: Option<String>,
    connected_at: u64,
    docs: BTreeSet<DocId>,
    window_start: u64,
    window_count: u32,
    /// Wants `remote-heads-changed` for our storage id.
    subscribed: bool,
}

struct PeerSync {
    state: sync::State,
    /// May read but not write: its changes are never applied.
    read_only: bool,
    requested: bool,
    told_unavailable: bool,
}

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
    /// Whether the store has the document.
    exists: bool,
    bytes: usize,
    log: crate::round::RoundLog,
}

struct Doc {
    slot: Option<Slot>,
    peers: BTreeMap<ConnId, PeerSync>,
    pending: Vec<(ConnId, sync::Message)>,
    /// Changes from the server itself ([`Input::Apply`]), waiting for the document to load.
    local: Vec<(Vec<u8>, Option<u64>)>,
    last_active: u64,
}

pub struct Hub<P: Policy> {
    config: Config,
    policy: P,
    conns: HashMap<ConnId, Conn>,
    docs: HashMap<DocId, Doc>,
    dirty: BTreeSet<DocId>,
    out: Vec<Output>,
    stats: Stats,
    now: u64,
}

impl<P: Policy> Hub<P> {
    pub fn new(config: Config, policy: P) -> Hub<P> {
        Hub {
            config,
            policy,
            conns: HashMap::new(),
            docs: HashMap::new(),
            dirty: BTreeSet::new(),
            out: Vec::new(),
            stats: Stats::default(),
            now: 0,
        }
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    pub fn stats(&self) -> Stats {
        let mut s = self.stats.clone();
        s.connections = self.conns.len();
        s.documents_loaded = self.docs.values().filter(|d| d.slot.is_some()).count();
        s
    }

    /// The heads the store has of a loaded document.
    pub fn saved_heads(&self, doc: &DocId) -> Option<&[ChangeHash]> {
        self.docs.get(doc)?.slot.as_ref().map(|s| s.saved_heads.as_slice())
    }

    /// Whether any document has changes not yet durable, or a persist in flight.
    pub fn has_unsaved(&self) -> bool {
        self.docs
            .values()
            .any(|d| !d.pending.is_empty() || d.slot.as_ref().is_some_and(|s| s.persisting.is_some() || s.doc.get_heads() != s.saved_heads))
    }

    /// Every connection, to close them all at shutdown.
    pub fn connections(&self) -> Vec<ConnId> {
        self.conns.keys().copied().collect()
    }

    /// Takes one input. Outputs accumulate until [`Hub::flush`].
    pub fn handle(&mut self, now_ms: u64, input: Input) {
        self.now = now_ms;
        match input {
            Input::Connected { conn } => {
                self.conns.insert(
                    conn,
                    Conn {
                        peer_id: None,
                        connected_at: now_ms,
                        docs: BTreeSet::new(),
                        window_start: now_ms,
                        window_count: 0,
                        subscribed: false,
                    },
                );
            }
            Input::Received { conn, bytes } => self.received(conn, &bytes),
            Input::ReceivedText { conn } => {
                self.fail(conn, "text_frame", "text frames are not part of the protocol: send binary CBOR frames".into())
            }
            Input::Disconnected { conn } => self.drop_conn(conn),
            Input::Loaded { doc, result } => {
                let id = doc.clone();
                self.contained_doc(&id, |hub| hub.loaded(doc, result));
            }
            Input::Persisted { doc, heads, result } => {
                let id = doc.clone();
                self.contained_doc(&id, |hub| hub.persisted(doc, heads, result));
            }
            Input::Apply { doc, changes, ack } => {
                let now = self.now;
                let entry = self.docs.entry(doc.clone()).or_insert_with(|| {
                    self.out.push(Output::Load { doc: doc.clone() });
                    Doc { slot: None, peers: BTreeMap::new(), pending: Vec::new(), local: Vec::new(), last_active: now }
                });
                entry.local.push((changes, ack));
                entry.last_active = now;
                self.dirty.insert(doc);
            }
            Input::Deleted { doc } => {
                self.dirty.remove(&doc);
                if let Some(d) = self.remove_doc(&doc, "the document was deleted") {
                    self.out.push(Output::Unload { doc: doc.clone() });
                    for conn in d.peers.into_keys() {
                        self.fail(conn, "document_deleted", format!("document {doc} was deleted"));
                    }
                }
            }
            Input::Tick => {
                if catch_unwind(AssertUnwindSafe(|| self.tick())).is_err() {
                    self.count_error("panic");
                }
            }
        }
    }

    /// Processes the queued work and returns everything to do.
    pub fn flush(&mut self) -> Vec<Output> {
        let dirty = std::mem::take(&mut self.dirty);
        for doc in dirty {
            self.process(&doc);
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
        if !self.conns.contains_key(&conn) {
            return;
        }
        self.count_error(kind);
        self.send(conn, &Message::Error { message: message.clone() });
        let mut reason = message;
        // A close frame's reason is at most 123 bytes.
        while reason.len() > 120 {
            reason.pop();
        }
        self.out.push(Output::Close { conn, reason });
        self.drop_conn(conn);
    }

    fn drop_conn(&mut self, conn: ConnId) {
        let Some(c) = self.conns.remove(&conn) else { return };
        for doc in c.docs {
            if let Some(d) = self.docs.get_mut(&doc) {
                d.peers.remove(&conn);
                d.last_active = self.now;
            }
        }
    }

    fn received(&mut self, conn: ConnId, bytes: &[u8]) {
        let limits = self.config.limits.clone();
        let now = self.now;
        let Some(c) = self.conns.get_mut(&conn) else { return };
        self.stats.messages_in += 1;
        self.stats.bytes_in += bytes.len() as u64;
        if now.saturating_sub(c.window_start) >= 1000 {
            c.window_start = now;
            c.window_count = 0;
        }
        c.window_count += 1;
        if c.window_count > limits.max_messages_per_second {
            let msg = format!("too many messages: the limit is {} per second", limits.max_messages_per_second);
            return self.fail(conn, "rate_limit", msg);
        }
        if bytes.len() > limits.max_message_bytes {
            let msg = format!("message too large: {} bytes, the limit is {} bytes", bytes.len(), limits.max_message_bytes);
            return self.fail(conn, "message_too_large", msg);
        }
        let msg = match Message::decode(bytes) {
            Ok(m) => m,
            Err(e) => return self.fail(conn, "malformed_message", format!("malformed message: {e}")),
        };
        let joined = c.peer_id.clone();
        let Some(peer_id) = joined else {
            return self.join(conn, msg);
        };
        match msg {
            Message::Join { .. } | Message::Peer { .. } => {
                self.fail(conn, "protocol", "unexpected handshake message: this connection has already joined".into())
            }
            Message::Request { document_id, data, .. } => {
                self.contained(conn, &document_id, |hub| hub.sync_in(conn, &peer_id, &document_id, &data, true))
            }
            Message::Sync { document_id, data, .. } => {
                self.contained(conn, &document_id, |hub| hub.sync_in(conn, &peer_id, &document_id, &data, false))
            }
            Message::Ephemeral { sender_id, count, session_id, document_id, data, .. } => {
                self.ephemeral(conn, &peer_id, sender_id, count, session_id, &document_id, data)
            }
            Message::RemoteSubscriptionChange { add, remove, .. } => {
                let ours = &self.config.storage_id;
                let add = add.contains(ours);
                let remove = remove.contains(ours);
                if let Some(c) = self.conns.get_mut(&conn) {
                    if add {
                        c.subscribed = true;
                    } else if remove {
                        c.subscribed = false;
                    }
                }
            }
            Message::RemoteHeadsChanged { .. } | Message::DocUnavailable { .. } => {}
            Message::Leave { .. } => {
                self.out.push(Output::Close { conn, reason: "leave".into() });
                self.drop_conn(conn);
            }
            Message::Error { .. } => {
                self.out.push(Output::Close { conn, reason: "peer reported an error".into() });
                self.drop_conn(conn);
            }
        }
    }

    fn join(&mut self, conn: ConnId, msg: Message) {
        let Message::Join { sender_id, supported_versions, .. } = msg else {
            return self.fail(conn, "protocol", "expected a join message".into());
        };
        if let Some(v) = &supported_versions
            && !v.iter().any(|v| v == PROTOCOL_VERSION)
        {
            return self.fail(conn, "protocol", format!("unsupported protocol version: this server speaks {PROTOCOL_VERSION:?}"));
        }
        if sender_id.is_empty() || sender_id.len() > 256 {
            return self.fail(conn, "protocol", "invalid senderId".into());
        }
        let reply = Message::Peer {
            sender_id: self.config.peer_id.clone(),
            target_id: sender_id.clone(),
            selected_version: PROTOCOL_VERSION.into(),
            metadata: Some(PeerMetadata { storage_id: Some(self.config.storage_id.clone()), is_ephemeral: false }),
        };
        if let Some(c) = self.conns.get_mut(&conn) {
            c.peer_id = Some(sender_id);
        }
        self.send(conn, &reply);
    }

    fn unavailable(&mut self, conn: ConnId, peer_id: &str, document_id: &str) {
        let msg = Message::DocUnavailable {
            sender_id: self.config.peer_id.clone(),
            target_id: peer_id.to_owned(),
            document_id: document_id.to_owned(),
        };
        self.send(conn, &msg);
    }

    fn sync_in(&mut self, conn: ConnId, peer_id: &str, document_id: &str, data: &[u8], request: bool) {
        let Ok(doc_id) = DocId::parse(document_id) else {
            self.count_error("invalid_document_id");
            return self.unavailable(conn, peer_id, document_id);
        };
        let mut msg = match sync::Message::decode(data) {
            Ok(m) => m,
            Err(e) => return self.fail(conn, "malformed_sync", format!("malformed sync message for {doc_id}: {e}")),
        };
        if let Err(e) = crate::check::sync_message(&msg) {
            return self.fail(conn, "refused_sync", format!("refused sync message for {doc_id}: {e}"));
        }
        // Refused documents count too: they must look exactly like missing ones.
        let limit = self.config.limits.max_documents_per_connection;
        let Some(c) = self.conns.get_mut(&conn) else { return };
        if !c.docs.contains(&doc_id) {
            if c.docs.len() >= limit {
                return self.fail(conn, "too_many_documents", format!("too many documents on one connection: the limit is {limit}"));
            }
            c.docs.insert(doc_id.clone());
        }
        if !self.policy.authorize(conn, peer_id, &doc_id, Access::Read) {
            // Answered at once, whether the document exists or not (so the two
            // look the same), without loading anything: refusals cost no memory.
            self.count_error("denied");
            return self.unavailable(conn, peer_id, document_id);
        }
        let can_write = self.policy.authorize(conn, peer_id, &doc_id, Access::Write);
        if !can_write && !msg.changes.is_empty() {
            // Never applied, never stored; the peer is told.
            self.count_error("read_only_change");
            msg.changes = sync::ChunkList::empty();
            let message = format!("read-only access: your changes to {doc_id} were not applied");
            self.send(conn, &Message::Error { message });
        }
        let now = self.now;
        let doc = self.docs.entry(doc_id.clone()).or_insert_with(|| {
            self.out.push(Output::Load { doc: doc_id.clone() });
            Doc { slot: None, peers: BTreeMap::new(), pending: Vec::new(), local: Vec::new(), last_active: now }
        });
        doc.last_active = now;
        let peer = doc.peers.entry(conn).or_insert_with(|| PeerSync {
            state: if can_write { sync::State::new() } else { sync::State::new_read_only() },
            read_only: !can_write,
            requested: false,
            told_unavailable: false,
        });
        peer.requested |= request;
        if peer.read_only && can_write {
            // Rights can only be checked per message: a peer whose rights grew
            // starts a fresh, writable sync state.
            peer.read_only = false;
            peer.state = sync::State::new();
        }
        doc.pending.push((conn, msg));
        self.dirty.insert(doc_id);
    }

    #[allow(clippy::too_many_arguments)]
    fn ephemeral(
        &mut self,
        conn: ConnId,
        peer_id: &str,
        sender_id: String,
        count: u64,
        session_id: String,
        document_id: &str,
        data: Vec<u8>,
    ) {
        let Ok(doc_id) = DocId::parse(document_id) else { return };
        if !self.policy.authorize(conn, peer_id, &doc_id, Access::Read) {
            return;
        }
        // Only a peer's own presence is relayed: clients pass on what they
        // received (the server already relayed it to everyone), and nobody may
        // speak in another peer's name.
        if sender_id != peer_id {
            return;
        }
        if data.len() > MAX_EPHEMERAL_BYTES {
            let message = format!("ephemeral message too large: {} bytes, the limit is {MAX_EPHEMERAL_BYTES}", data.len());
            return self.fail(conn, "ephemeral_too_large", message);
        }
        if minicbor::Decoder::new(&data).skip().is_err() {
            return self.fail(conn, "malformed_ephemeral", "ephemeral data is not CBOR".into());
        }
        let Some(doc) = self.docs.get(&doc_id) else { return };
        if !doc.peers.contains_key(&conn) {
            return;
        }
        let targets: Vec<(ConnId, String)> =
            doc.peers.keys().filter(|c| **c != conn).filter_map(|c| Some((*c, self.conns.get(c)?.peer_id.clone()?))).collect();
        for (c, target_id) in targets {
            let msg = Message::Ephemeral {
                sender_id: sender_id.clone(),
                target_id,
                count,
                session_id: session_id.clone(),
                document_id: document_id.to_owned(),
                data: data.clone(),
            };
            self.send(c, &msg);
        }
    }

    fn loaded(&mut self, doc_id: DocId, result: Result<Option<(Automerge, usize)>, String>) {
        let Some(doc) = self.docs.get_mut(&doc_id) else { return };
        if doc.slot.is_some() {
            return;
        }
        match result {
            Ok(loaded) => {
                let exists = loaded.is_some();
                let (am, chunks) = loaded.unwrap_or_else(|| (cahier_doc::empty(), 0));
                let bytes = if exists { am.get_changes_meta(&[]).len() * 64 } else { 0 };
                doc.slot = Some(Slot {
                    saved_heads: am.get_heads(),
                    doc: am,
                    persisting: None,
                    acks: Vec::new(),
                    acks_in_flight: Vec::new(),
                    chunks,
                    exists,
                    bytes,
                    log: Default::default(),
                });
                self.dirty.insert(doc_id);
            }
            Err(e) => {
                self.count_error("load_failed");
                let doc = self.remove_doc(&doc_id, &format!("the document cannot be loaded: {e}"));
                self.out.push(Output::Unload { doc: doc_id.clone() });
                for conn in doc.map(|d| d.peers.into_keys().collect::<Vec<_>>()).unwrap_or_default() {
                    let message = format!("document {doc_id} cannot be loaded from the store: {e}");
                    self.send(conn, &Message::Error { message });
                    if let Some(peer_id) = self.conns.get(&conn).and_then(|c| c.peer_id.clone()) {
                        self.unavailable(conn, &peer_id, doc_id.as_str());
                    }
                    if let Some(c) = self.conns.get_mut(&conn) {
                        c.docs.remove(&doc_id);
                    }
                }
            }
        }
    }

    fn persisted(&mut self, doc_id: DocId, heads: Vec<ChangeHash>, result: Result<(), String>) {
        let Some(doc) = self.docs.get_mut(&doc_id) else { return };
        let Some(slot) = doc.slot.as_mut() else { return };
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
                // Advertise what is now durable, before applying anything newer.
                self.generate(&doc_id);
                self.gossip_heads(&doc_id, &heads);
                self.dirty.insert(doc_id);
            }
            Err(e) => {
                // Refuse the changes: forget the in-memory document (it will be
                // reloaded from what is durable) and tell its peers, whose clients
                // still hold their changes and send them again when they reconnect.
                self.count_error("persist_failed");
                let doc = self.remove_doc(&doc_id, &e);
                self.out.push(Output::Unload { doc: doc_id.clone() });
                for conn in doc.map(|d| d.peers.into_keys().collect::<Vec<_>>()).unwrap_or_default() {
                    let message = format!("could not save changes to {doc_id}: {e}; they were not stored, reconnect to send them again");
                    self.fail(conn, "persist_failed", message);
                }
            }
        }
    }

    fn gossip_heads(&mut self, doc_id: &DocId, heads: &[ChangeHash]) {
        let Some(doc) = self.docs.get(doc_id) else { return };
        let targets: Vec<(ConnId, String)> = doc
            .peers
            .keys()
            .filter_map(|c| {
                let conn = self.conns.get(c)?;
                conn.subscribed.then(|| Some((*c, conn.peer_id.clone()?)))?
            })
            .collect();
        for (conn, target_id) in targets {
            let msg = Message::RemoteHeadsChanged {
                sender_id: self.config.peer_id.clone(),
                target_id,
                document_id: doc_id.to_string(),
                new_heads: vec![RemoteHeads {
                    storage_id: self.config.storage_id.clone(),
                    heads: heads.iter().map(wire::encode_head).collect(),
                    timestamp: self.now,
                }],
            };
            self.send(conn, &msg);
        }
    }

    /// Runs `f`, work on one document for `conn`; a panic inside it drops that
    /// document (and fails its peers and `conn`), nothing else.
    fn contained(&mut self, conn: ConnId, document_id: &str, f: impl FnOnce(&mut Self)) {
        if catch_unwind(AssertUnwindSafe(|| f(self))).is_err() {
            self.count_error("panic");
            if let Ok(doc_id) = DocId::parse(document_id) {
                self.drop_panicked(&doc_id);
            }
            let message = format!("internal error on document {document_id}; other documents are unaffected");
            self.fail(conn, "document_dropped", message);
        }
    }

    /// Runs `f`, work on one document; a panic inside it drops that document
    /// and fails its peers, nothing else.
    fn contained_doc(&mut self, doc_id: &DocId, f: impl FnOnce(&mut Self)) {
        if catch_unwind(AssertUnwindSafe(|| f(self))).is_err() {
            self.count_error("panic");
            self.drop_panicked(doc_id);
        }
    }

    /// A document that took changes it must not keep: forgotten (it reloads from
    /// the store), the offender told why, the other peers asked to reconnect.
    fn forget_poisoned(&mut self, doc_id: &DocId, offender: ConnId, why: String) {
        self.count_error("refused_change");
        self.dirty.remove(doc_id);
        let doc = self.remove_doc(doc_id, "the document is reloading");
        self.out.push(Output::Unload { doc: doc_id.clone() });
        self.fail(offender, "refused_change", why);
        for conn in doc.map(|d| d.peers.into_keys().collect::<Vec<_>>()).unwrap_or_default() {
            if conn != offender {
                self.fail(conn, "document_reloaded", format!("document {doc_id} is reloading; reconnect"));
            }
        }
    }

    /// Removes a document from memory; applies it had not confirmed are told
    /// they were not stored.
    fn remove_doc(&mut self, doc_id: &DocId, why: &str) -> Option<Doc> {
        let doc = self.docs.remove(doc_id)?;
        let mut acks: Vec<u64> = doc.local.iter().filter_map(|(_, a)| *a).collect();
        if let Some(slot) = &doc.slot {
            acks.extend(slot.acks.iter().chain(&slot.acks_in_flight));
        }
        for ack in acks {
            self.out.push(Output::Applied { ack, result: Err(format!("not stored: {why}")) });
        }
        Some(doc)
    }

    fn drop_panicked(&mut self, doc_id: &DocId) {
        self.dirty.remove(doc_id);
        let doc = self.remove_doc(doc_id, "internal error on the document");
        self.out.push(Output::Unload { doc: doc_id.clone() });
        for conn in doc.map(|d| d.peers.into_keys().collect::<Vec<_>>()).unwrap_or_default() {
            self.fail(conn, "document_dropped", format!("internal error on document {doc_id}; other documents are unaffected"));
        }
    }

    /// Applies what is pending, persists, or advertises: one step per call.
    fn process(&mut self, doc_id: &DocId) {
        if catch_unwind(AssertUnwindSafe(|| self.process_inner(doc_id))).is_err() {
            // A panic inside automerge: this document alone is dropped.
            self.count_error("panic");
            self.drop_panicked(doc_id);
        }
    }

    fn process_inner(&mut self, doc_id: &DocId) {
        let max_doc = self.config.limits.max_document_bytes;
        let compact_after = self.config.compact_after;
        let Some(doc) = self.docs.get(doc_id) else { return };
        if doc.slot.is_none() {
            return;
        }
        let Some(doc) = self.docs.get_mut(doc_id) else { return };
        let Some(slot) = doc.slot.as_mut() else { return };
        if slot.persisting.is_some() {
            return;
        }
        for (changes, ack) in std::mem::take(&mut doc.local) {
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
        if !doc.pending.is_empty() {
            let pending = std::mem::take(&mut doc.pending);
            // One batch for every change that arrived: applying changes one by one
            // costs as much per change as the whole batch on a long document.
            let mut batch = Vec::new();
            let mut accepted = Vec::new();
            let mut poisoned: Option<(ConnId, String)> = None;
            for (conn, msg) in pending {
                let size: usize = msg.changes.iter().map(<[u8]>::len).sum();
                if size > 0 && slot.bytes + batch.len() + size > max_doc {
                    refused.push((conn, format!("document too large: the limit is {max_doc} bytes of changes")));
                    continue;
                }
                match new_actors(&slot.doc, &msg.changes) {
                    Some(actors) => {
                        if !actors.is_empty()
                            && let Err(why) = self.policy.claim_actors(conn, &actors)
                        {
                            refused.push((conn, format!("changes to {doc_id} refused: {why}")));
                            continue;
                        }
                        for c in msg.changes.iter() {
                            batch.extend_from_slice(c);
                        }
                    }
                    None => {
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
                self.forget_poisoned(doc_id, conn, why);
                return;
            }
            let batch_ok = batch.is_empty() || slot.doc.load_incremental(&batch).is_ok();
            slot.bytes += batch.len();
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
                match doc.peers.get_mut(&conn) {
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
        }
        let heads = slot.doc.get_heads();
        if heads != slot.saved_heads && !heads.is_empty() {
            let (kind, bytes) = if !slot.exists || slot.chunks + 1 >= compact_after {
                (PersistKind::Snapshot, slot.doc.save())
            } else {
                (PersistKind::Incremental, slot.doc.save_after(&slot.saved_heads))
            };
            slot.chunks = if kind == PersistKind::Snapshot { 0 } else { slot.chunks + 1 };
            slot.persisting = Some(heads.clone());
            let summary = cahier_doc::read::summary(&slot.doc);
            // Confirmed when this persist is.
            let acks = std::mem::take(&mut slot.acks);
            slot.acks_in_flight = acks;
            self.out.push(Output::Persist { doc: doc_id.clone(), kind, bytes, heads, summary });
        } else {
            // Nothing new to store: what was applied is stored already.
            for ack in std::mem::take(&mut slot.acks) {
                self.out.push(Output::Applied { ack, result: Ok(()) });
            }
            self.generate(doc_id);
        }
        for (conn, message) in refused {
            self.fail(conn, "refused_change", message);
        }
    }

    /// One sync round to every peer of the document: what it lacks of the
    /// durable state, or `doc-unavailable` if nobody has the document.
    fn generate(&mut self, doc_id: &DocId) {
        let Some(doc) = self.docs.get_mut(doc_id) else { return };
        let Some(slot) = doc.slot.as_mut() else { return };
        let mut sends = Vec::new();
        slot.log.advance(&slot.doc);
        let arena = typed_arena::Arena::new();
        let mut round = crate::round::Round::new(&slot.doc, &slot.log, &arena);
        for (conn, peer) in doc.peers.iter_mut() {
            let Some(peer_id) = self.conns.get(conn).and_then(|c| c.peer_id.clone()) else { continue };
            if !slot.exists && slot.doc.get_heads().is_empty() && peer.requested {
                // Nobody has it (yet). A peer that sent `sync` rather than
                // `request` has the document and gets a normal reply instead.
                if !peer.told_unavailable {
                    peer.told_unavailable = true;
                    sends.push((
                        *conn,
                        Message::DocUnavailable {
                            sender_id: self.config.peer_id.clone(),
                            target_id: peer_id,
                            document_id: doc_id.to_string(),
                        },
                    ));
                }
                continue;
            }
            if let Some(msg) = round.generate(&mut peer.state) {
                sends.push((
                    *conn,
                    Message::Sync {
                        sender_id: self.config.peer_id.clone(),
                        target_id: peer_id,
                        document_id: doc_id.to_string(),
                        data: msg.encode(),
                    },
                ));
            }
        }
        for (conn, msg) in sends {
            self.send(conn, &msg);
        }
    }

    fn tick(&mut self) {
        let now = self.now;
        let timeout = self.config.limits.handshake_timeout_ms;
        let late: Vec<ConnId> = self
            .conns
            .iter()
            .filter(|(_, c)| c.peer_id.is_none() && now.saturating_sub(c.connected_at) >= timeout)
            .map(|(id, _)| *id)
            .collect();
        for conn in late {
            self.fail(conn, "handshake_timeout", format!("no join message within {timeout} ms"));
        }
        let idle = self.config.idle_unload_ms;
        let unload: Vec<DocId> = self
            .docs
            .iter()
            .filter(|(_, d)| {
                d.peers.is_empty()
                    && d.pending.is_empty()
                    && now.saturating_sub(d.last_active) >= idle
                    && d.slot.as_ref().is_some_and(|s| s.persisting.is_none() && s.doc.get_heads() == s.saved_heads)
            })
            .map(|(id, _)| id.clone())
            .collect();
        for doc in unload {
            self.docs.remove(&doc);
            self.out.push(Output::Unload { doc });
        }
    }
}

/// Presence is a name, a colour and a cursor: a few hundred bytes. Each
/// ephemeral message is copied to every peer of the document.
pub const MAX_EPHEMERAL_BYTES: usize = 16 * 1024;

/// The actors (hex) of the changes in `chunks` that `doc` does not have yet;
/// `None` when a chunk cannot be read on its own. Each chunk of the list may
/// hold several storage chunks one after the other (as `save_after` writes
/// them): each is read alone, so a change is checked even when it must wait
/// for a dependency that has not arrived.
fn new_actors(doc: &Automerge, chunks: &sync::ChunkList) -> Option<Vec<String>> {
    let mut out: Vec<String> = Vec::new();
    for bytes in chunks.iter() {
        for chunk in split_chunks(bytes)? {
            let metas: Vec<(ChangeHash, String)> = match automerge::Change::from_bytes(chunk.to_vec()) {
                Ok(c) => vec![(c.hash(), c.actor_id().to_hex_string())],
                // A whole-document chunk: every change in it.
                Err(_) => match Automerge::load(chunk) {
                    Ok(d) => d.get_changes_meta(&[]).iter().map(|m| (m.hash, m.actor.to_hex_string())).collect(),
                    Err(_) => return None,
                },
            };
            for (hash, actor) in metas {
                if doc.get_change_meta_by_hash(&hash).is_none() && !out.contains(&actor) {
                    out.push(actor);
                }
            }
        }
    }
    Some(out)
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

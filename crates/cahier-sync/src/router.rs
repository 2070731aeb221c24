//! The router: every connection, the handshake, the limits, and who may see
//! which document. It decodes and checks each message, answers refusals at
//! once, and hands each document's work to that document's engine
//! ([`crate::doc::DocEngine`]) as a [`DocInput`]. It never touches a
//! document's history, so it stays fast whatever the documents are doing: a
//! `join` is answered at once.

use std::collections::{BTreeSet, HashMap};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;

use automerge::sync;
use cahier_doc::DocId;

use crate::doc::{DocInput, PeerInfo};
use crate::hub::{
    Access, Config, ConnId, Ephemeral, Input, MAX_EPHEMERAL_BYTES, MAX_FORWARDED_EPHEMERAL_BYTES, MAX_FORWARDED_SESSION_BYTES, Output,
    Policy, Stats,
};
use crate::wire::{Message, PROTOCOL_VERSION, PeerMetadata};

/// A `join` is a peer id, versions and a little metadata: a few hundred
/// bytes. More before it is refused unread.
pub const MAX_JOIN_BYTES: usize = 4096;

struct Conn {
    peer_id: Option<String>,
    connected_at: u64,
    docs: BTreeSet<DocId>,
    window_start: u64,
    window_count: u32,
    /// Wants `remote-heads-changed` for our storage id.
    subscribed: bool,
    /// Its ephemeral messages passed on to other nodes in this second.
    forwarded: Window,
}

/// A count of events in the current second.
#[derive(Default)]
struct Window {
    start: u64,
    count: u32,
}

impl Window {
    /// Counts one more at `now`; `false` if that would pass `max` in this second.
    fn take(&mut self, now: u64, max: u32) -> bool {
        if now.saturating_sub(self.start) >= 1000 {
            self.start = now;
            self.count = 0;
        }
        if self.count >= max {
            return false;
        }
        self.count += 1;
        true
    }
}

pub struct Router<P: Policy> {
    config: Arc<Config>,
    policy: Arc<P>,
    conns: HashMap<ConnId, Conn>,
    out: Vec<Output>,
    routes: Vec<(DocId, DocInput)>,
    stats: Stats,
    now: u64,
    /// Ephemeral messages passed on to other nodes in this second, all
    /// connections together.
    forwarded: Window,
}

impl<P: Policy> Router<P> {
    pub fn new(config: Arc<Config>, policy: Arc<P>) -> Router<P> {
        Router {
            config,
            policy,
            conns: HashMap::new(),
            out: Vec::new(),
            routes: Vec::new(),
            stats: Stats::default(),
            now: 0,
            forwarded: Window::default(),
        }
    }

    pub fn connections(&self) -> Vec<ConnId> {
        self.conns.keys().copied().collect()
    }

    pub fn connection_count(&self) -> usize {
        self.conns.len()
    }

    /// The counters since the last call.
    pub fn take_stats(&mut self) -> Stats {
        std::mem::take(&mut self.stats)
    }

    /// What to send and close, and the work for each document, since the last call.
    pub fn take(&mut self) -> (Vec<Output>, Vec<(DocId, DocInput)>) {
        for o in &self.out {
            if let Output::Send { bytes, .. } = o {
                self.stats.messages_out += 1;
                self.stats.bytes_out += bytes.len() as u64;
            }
        }
        (std::mem::take(&mut self.out), std::mem::take(&mut self.routes))
    }

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
                        forwarded: Window::default(),
                    },
                );
            }
            Input::Received { conn, bytes } => self.received(conn, &bytes),
            Input::ReceivedText { conn } => {
                self.fail(conn, "text_frame", "text frames are not part of the protocol: send binary CBOR frames".into())
            }
            Input::Disconnected { conn } => self.drop_conn(conn),
            Input::Loaded { doc, result } => self.routes.push((doc, DocInput::Loaded { result })),
            Input::Persisted { doc, heads, result } => self.routes.push((doc, DocInput::Persisted { heads, result })),
            Input::Deleted { doc } => self.routes.push((doc, DocInput::Deleted)),
            Input::Apply { doc, changes, ack } => self.routes.push((doc, DocInput::Apply { changes, ack })),
            Input::Stored { doc, changes } => self.routes.push((doc, DocInput::Stored { changes })),
            Input::Ephemeral { doc, message } => self.other_nodes_ephemeral(doc, message),
            Input::Tick => self.tick(),
        }
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
        self.out.extend(crate::hub::failure(conn, message));
        self.drop_conn(conn);
    }

    /// Forgets a connection; its documents are told.
    pub fn drop_conn(&mut self, conn: ConnId) {
        let Some(c) = self.conns.remove(&conn) else { return };
        for doc in c.docs {
            self.routes.push((doc, DocInput::PeerLeft { conn }));
        }
    }

    fn received(&mut self, conn: ConnId, bytes: &[u8]) {
        let limits = &self.config.limits;
        let (max_rate, max_bytes) = (limits.max_messages_per_second, limits.max_message_bytes);
        let now = self.now;
        let Some(c) = self.conns.get_mut(&conn) else { return };
        self.stats.messages_in += 1;
        self.stats.bytes_in += bytes.len() as u64;
        if now.saturating_sub(c.window_start) >= 1000 {
            c.window_start = now;
            c.window_count = 0;
        }
        c.window_count += 1;
        if c.window_count > max_rate {
            return self.fail(conn, "rate_limit", format!("too many messages: the limit is {max_rate} per second"));
        }
        if bytes.len() > max_bytes {
            let msg = format!("message too large: {} bytes, the limit is {max_bytes} bytes", bytes.len());
            return self.fail(conn, "message_too_large", msg);
        }
        if c.peer_id.is_none() && bytes.len() > MAX_JOIN_BYTES {
            // Before `join`, nobody is known: only a small handshake is read.
            let msg = format!("the first message must be a join of at most {MAX_JOIN_BYTES} bytes, not {} bytes", bytes.len());
            return self.fail(conn, "protocol", msg);
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
                self.contained(conn, &document_id, |r| r.sync_in(conn, &peer_id, &document_id, &data, true))
            }
            Message::Sync { document_id, data, .. } => {
                self.contained(conn, &document_id, |r| r.sync_in(conn, &peer_id, &document_id, &data, false))
            }
            Message::Ephemeral { sender_id, count, session_id, document_id, data, .. } => {
                let id = document_id.clone();
                self.contained(conn, &id, |r| r.ephemeral(conn, &peer_id, &sender_id, count, session_id, &document_id, data))
            }
            Message::RemoteSubscriptionChange { add, remove, .. } => {
                let ours = &self.config.storage_id;
                let on = if add.contains(ours) {
                    true
                } else if remove.contains(ours) {
                    false
                } else {
                    return;
                };
                if let Some(c) = self.conns.get_mut(&conn) {
                    c.subscribed = on;
                    for doc in &c.docs {
                        self.routes.push((doc.clone(), DocInput::Subscribed { conn, on }));
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

    /// Runs `f`, the router's work on one document for `conn` (the policy's
    /// decisions among it); a panic inside fails `conn` alone.
    fn contained(&mut self, conn: ConnId, document_id: &str, f: impl FnOnce(&mut Self)) {
        if catch_unwind(AssertUnwindSafe(|| f(self))).is_err() {
            self.count_error("panic");
            let message = format!("internal error on document {document_id}; other documents are unaffected");
            self.fail(conn, "document_dropped", message);
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
        let subscribed = c.subscribed;
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
        let peer = PeerInfo { peer_id: peer_id.to_owned(), subscribed };
        self.routes.push((doc_id, DocInput::Sync { conn, peer, msg, request, can_write }));
    }

    #[allow(clippy::too_many_arguments)]
    fn ephemeral(
        &mut self,
        conn: ConnId,
        peer_id: &str,
        sender_id: &str,
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
        if let Err(why) = crate::presence::check(&data, self.policy.presence_identity(conn).as_ref()) {
            return self.fail(conn, "forged_presence", why);
        }
        if !self.conns.get(&conn).is_some_and(|c| c.docs.contains(&doc_id)) {
            return;
        }
        if self.config.forward_ephemeral {
            self.forward(conn, &doc_id, sender_id, count, &session_id, &data);
        }
        self.routes.push((doc_id, DocInput::Ephemeral { conn, count, session_id, data }));
    }

    /// Passes a peer's checked ephemeral message on to the other nodes, unless
    /// it is too large to travel or past the connection's or the node's rate.
    fn forward(&mut self, conn: ConnId, doc: &DocId, sender_id: &str, count: u64, session_id: &str, data: &[u8]) {
        if data.len() > MAX_FORWARDED_EPHEMERAL_BYTES || session_id.len() > MAX_FORWARDED_SESSION_BYTES {
            return self.count_error("ephemeral_too_large_to_forward");
        }
        let limits = &self.config.limits;
        let (per_conn, per_node) = (limits.max_forwarded_ephemeral_per_connection, limits.max_forwarded_ephemeral_per_second);
        let now = self.now;
        let Some(c) = self.conns.get_mut(&conn) else { return };
        // The node's budget is spent only by what the connection's allows.
        let mut peek = Window { start: self.forwarded.start, count: self.forwarded.count };
        if !peek.take(now, per_node) || !c.forwarded.take(now, per_conn) {
            return self.count_error("ephemeral_not_forwarded");
        }
        self.forwarded = peek;
        let message = Ephemeral { sender_id: sender_id.to_owned(), session_id: session_id.to_owned(), count, data: data.to_vec() };
        self.out.push(Output::Forward { doc: doc.clone(), message });
    }

    /// Another node's peer's ephemeral message, for this node's peers of
    /// `doc`. That node checked it; what reaches browsers is checked again
    /// here (its size, CBOR, a plain colour) so that nothing another node
    /// sends gets past what a peer here could send.
    fn other_nodes_ephemeral(&mut self, doc: DocId, message: Ephemeral) {
        let ok = !message.sender_id.is_empty()
            && message.sender_id.len() <= 256
            && message.data.len() <= MAX_FORWARDED_EPHEMERAL_BYTES
            && minicbor::Decoder::new(&message.data).skip().is_ok()
            && crate::presence::check(&message.data, None).is_ok();
        if !ok {
            return self.count_error("refused_ephemeral_from_node");
        }
        self.routes.push((doc, DocInput::Foreign { message }));
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
    }
}

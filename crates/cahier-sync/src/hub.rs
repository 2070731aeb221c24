//! The engine's vocabulary ([`Input`], [`Output`], [`Policy`], [`Config`]) and
//! [`Hub`]: the router and every document's engine run one after the other,
//! in one place.
//!
//! The server runs the router ([`crate::router::Router`]) on one task and each
//! document's engine ([`crate::doc::DocEngine`]) on a task of its own. `Hub`
//! runs the same code sequentially, for the in-memory simulation and tests:
//! what the router hands a document reaches its engine at once, and a
//! connection an engine closes is dropped by the router, as the server's
//! sockets do.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use automerge::{Automerge, ChangeHash};
use cahier_doc::DocId;
use cahier_doc::read::Summary;

use crate::doc::{DocEngine, DocInput};
use crate::router::Router;
use crate::wire::Message;

pub type ConnId = u64;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Read,
    Write,
}

/// The one place that decides who may read or write a document. A refused
/// document is answered exactly like a missing one.
pub trait Policy: Send + Sync + 'static {
    fn authorize(&self, conn: ConnId, peer_id: &str, doc: &DocId, access: Access) -> bool;

    /// Called with the actors (hex) of changes new to the server, before they are
    /// applied. The first connection to write with an actor claims it; an error
    /// (said to the peer) refuses the changes, e.g. when an actor belongs to
    /// someone else.
    fn claim_actors(&self, _conn: ConnId, _actors: &[String]) -> Result<(), String> {
        Ok(())
    }

    /// Who the connection is, as its presence must name it; `None` lets any
    /// name through (only the colour is checked).
    fn presence_identity(&self, _conn: ConnId) -> Option<crate::presence::Identity> {
        None
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
    /// Ephemeral messages (presence) of one connection passed on to the
    /// other nodes in one second, when nodes share the store
    /// ([`Config::forward_ephemeral`]); past it they reach this node's peers
    /// only. Cahier's editor sends at most 20 a second (a caret is sent 50 ms
    /// after it stops moving) and a heartbeat every 2 seconds.
    pub max_forwarded_ephemeral_per_connection: u32,
    /// Ephemeral messages this node passes on to the others in one second,
    /// all connections together: what one node may make the database carry.
    pub max_forwarded_ephemeral_per_second: u32,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_message_bytes: 8 * 1024 * 1024,
            max_document_bytes: 64 * 1024 * 1024,
            max_documents_per_connection: 256,
            max_messages_per_second: 5000,
            handshake_timeout_ms: 10_000,
            max_forwarded_ephemeral_per_connection: 30,
            max_forwarded_ephemeral_per_second: 500,
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
    /// Other nodes share the store: peers' ephemeral messages go to them too
    /// ([`Output::Forward`]), within [`Limits`].
    pub forward_ephemeral: bool,
}

impl Config {
    pub fn new(peer_id: &str, storage_id: &str) -> Config {
        Config {
            peer_id: peer_id.to_owned(),
            storage_id: storage_id.to_owned(),
            limits: Limits::default(),
            idle_unload_ms: 60_000,
            compact_after: 64,
            forward_ephemeral: false,
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
    /// Changes another node stored (several nodes sharing one database): if
    /// the document is in memory here, they are applied and sent to its peers;
    /// otherwise nothing is done (it loads them with the rest when wanted).
    Stored {
        doc: DocId,
        changes: Vec<u8>,
    },
    /// An ephemeral message a peer of another node sent to `doc` (several
    /// nodes sharing one store): relayed to this node's peers of the document
    /// who may read it, if it is in memory here; never stored.
    Ephemeral {
        doc: DocId,
        message: Ephemeral,
    },
    Tick,
}

/// A peer's ephemeral message (automerge-repo's presence) as it travels
/// between nodes: checked by the node the peer is connected to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ephemeral {
    /// The sender's peer id: its connection's own, as the router checked.
    pub sender_id: String,
    pub session_id: String,
    pub count: u64,
    /// The CBOR payload; its presence names the connection's own identity.
    pub data: Vec<u8>,
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
    /// Pass this ephemeral message, which a peer here sent to `doc`, on to
    /// the other nodes sharing the store (their [`Input::Ephemeral`]); only
    /// when [`Config::forward_ephemeral`] is set.
    Forward {
        doc: DocId,
        message: Ephemeral,
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
    /// Changes relayed to a peer before the server applied them.
    pub relayed: u64,
    pub errors: BTreeMap<&'static str, u64>,
}

/// Presence is a name, a colour and a cursor: a few hundred bytes. Each
/// ephemeral message is copied to every peer of the document.
pub const MAX_EPHEMERAL_BYTES: usize = 16 * 1024;

/// The largest ephemeral message passed on to other nodes (with its session
/// id, at most [`MAX_FORWARDED_SESSION_BYTES`]): a PostgreSQL notification
/// carries less than 8000 bytes. Larger ones reach this node's peers only.
pub const MAX_FORWARDED_EPHEMERAL_BYTES: usize = 4096;
pub const MAX_FORWARDED_SESSION_BYTES: usize = 128;

impl Stats {
    /// Adds another part's counters to these.
    pub fn add(&mut self, other: &Stats) {
        self.messages_in += other.messages_in;
        self.messages_out += other.messages_out;
        self.bytes_in += other.bytes_in;
        self.bytes_out += other.bytes_out;
        self.relayed += other.relayed;
        for (kind, n) in &other.errors {
            *self.errors.entry(kind).or_default() += n;
        }
    }
}

/// An `error` message naming the problem, then the close, its reason cut to
/// what a close frame holds (123 bytes).
pub fn failure(conn: ConnId, message: String) -> [Output; 2] {
    let bytes = Message::Error { message: message.clone() }.encode();
    let mut reason = message;
    while reason.len() > 120 {
        reason.pop();
    }
    [Output::Send { conn, bytes }, Output::Close { conn, reason }]
}

/// The router and the documents' engines, run sequentially.
pub struct Hub<P: Policy> {
    config: Arc<Config>,
    policy: Arc<P>,
    router: Router<P>,
    docs: HashMap<DocId, DocEngine<P>>,
    dirty: BTreeSet<DocId>,
    out: Vec<Output>,
    stats: Stats,
    now: u64,
}

impl<P: Policy> Hub<P> {
    pub fn new(config: Config, policy: P) -> Hub<P> {
        let config = Arc::new(config);
        let policy = Arc::new(policy);
        Hub {
            router: Router::new(config.clone(), policy.clone()),
            config,
            policy,
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

    pub fn stats(&mut self) -> Stats {
        self.collect_stats();
        let mut s = self.stats.clone();
        s.connections = self.router.connection_count();
        s.documents_loaded = self.docs.values().filter(|d| d.is_loaded()).count();
        s
    }

    fn collect_stats(&mut self) {
        self.stats.add(&self.router.take_stats());
        for d in self.docs.values_mut() {
            let s = d.take_stats();
            self.stats.add(&s);
        }
    }

    /// The heads the store has of a loaded document.
    pub fn saved_heads(&self, doc: &DocId) -> Option<&[ChangeHash]> {
        self.docs.get(doc)?.saved_heads()
    }

    /// Whether any document has changes not yet durable, or a persist in flight.
    pub fn has_unsaved(&self) -> bool {
        self.docs.values().any(DocEngine::has_unsaved)
    }

    /// Every connection, to close them all at shutdown.
    pub fn connections(&self) -> Vec<ConnId> {
        self.router.connections()
    }

    /// Takes one input. Outputs accumulate until [`Hub::flush`].
    pub fn handle(&mut self, now_ms: u64, input: Input) {
        self.now = now_ms;
        let tick = matches!(input, Input::Tick);
        self.router.handle(now_ms, input);
        self.pump();
        if tick {
            let ids: Vec<DocId> = self.docs.keys().cloned().collect();
            for id in ids {
                self.route_to(id, DocInput::Tick);
            }
            let idle: Vec<DocId> = self.docs.iter().filter(|(_, d)| d.is_idle(now_ms)).map(|(id, _)| id.clone()).collect();
            for id in idle {
                if let Some(mut d) = self.docs.remove(&id) {
                    self.stats.add(&d.take_stats());
                    if d.is_loaded() {
                        self.out.push(Output::Unload { doc: id });
                    }
                }
            }
            self.pump();
        }
    }

    /// Carries the router's work to the engines, and the connections engines
    /// closed back to the router, until both are quiet.
    fn pump(&mut self) {
        loop {
            let (outs, routes) = self.router.take();
            if outs.is_empty() && routes.is_empty() {
                break;
            }
            self.out.extend(outs);
            for (doc, input) in routes {
                self.route_to(doc, input);
            }
        }
    }

    fn route_to(&mut self, doc: DocId, input: DocInput) {
        let now = self.now;
        let engine = match self.docs.get_mut(&doc) {
            Some(e) => e,
            None if input.wants_document() => {
                self.docs.entry(doc.clone()).or_insert_with(|| DocEngine::new(doc.clone(), self.config.clone(), self.policy.clone()))
            }
            None => return,
        };
        engine.handle(now, input);
        self.dirty.insert(doc);
    }

    /// Processes the queued work and returns everything to do.
    pub fn flush(&mut self) -> Vec<Output> {
        while let Some(doc) = self.dirty.pop_first() {
            let Some(engine) = self.docs.get_mut(&doc) else { continue };
            let outs = engine.flush();
            for o in outs {
                if let Output::Close { conn, .. } = &o {
                    // The socket closes: the router forgets it, its other
                    // documents drop it.
                    self.router.drop_conn(*conn);
                }
                self.out.push(o);
            }
            self.pump();
        }
        std::mem::take(&mut self.out)
    }
}

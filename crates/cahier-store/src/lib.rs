//! Cahier's storage: a fallible [`Storage`] trait, its sled and PostgreSQL
//! backends, and [`Store`], which keeps Automerge documents in it.
//!
//! Start with [`Storage`]: everything a backend must do, in terms that a networked
//! database could also provide (no sled type appears in it). Then [`Store`]: how
//! documents are appended as incremental changes, compacted into snapshots, and
//! indexed, all in atomic, durable batches. [`RedbStorage`] is the embedded
//! default, the one that survives power cuts; [`SledStorage`] opens the
//! folders older Cahiers made (sled 0.34.7 loses acknowledged batches in a
//! power cut: `docs/reliability.md`, "Power cut"); [`PostgresStorage`] keeps the
//! same in a PostgreSQL database, which several servers may share.
//! [`Store::open`] picks one from the `--data` value. [`check()`] reads a
//! whole store and names every damaged document; [`backup()`] and
//! [`restore()`] copy one into a file and back, every document's heads
//! checked.
//!
//! Invariant: when [`Storage::commit`] returns `Ok`, the batch is on disk (sled's
//! `flush()` has returned, redb's commit has synced, or PostgreSQL committed
//! with `synchronous_commit = on`). Nothing is acknowledged to a user before
//! that. Only redb and PostgreSQL keep that promise through a power cut.

mod backup;
mod check;
mod faulty;
mod kv;
mod migrate;
mod postgres_backend;
mod redb_backend;
mod sled_backend;
mod store;

pub use backup::{Backed, BackupError, Restored, backup, restore, verify};
pub use check::{Damage, Report, check};
pub use faulty::FaultyStorage;
pub use kv::MARKER_FILE;
pub use migrate::{Migrated, Step as MigrateStep, migrate};
pub use postgres_backend::PostgresStorage;
pub use redb_backend::{REDB_FILE, RedbStorage};
pub use sled_backend::SledStorage;
pub use store::{DEFAULT_COMPACT_AFTER, DocRecord, LoadedDoc, PersistItem, Store, UpsertError};

use cahier_doc::DocId;

/// One piece of a stored document. A document is loaded by applying its chunks in
/// key order: the snapshot (if any) first, then the incremental changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chunk {
    /// Increasing within a document; chunks committed later have larger keys
    /// (PostgreSQL: the document's own sequence, so that a reader who has
    /// every chunk up to a key has every chunk committed before it).
    pub key: u64,
    pub kind: ChunkKind,
    pub bytes: Vec<u8>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChunkKind {
    /// A whole document (`Automerge::save`).
    Snapshot,
    /// Changes since the previous chunk (`Automerge::save_after`).
    Incremental,
}

/// What the document list knows of a document without loading it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct IndexEntry {
    pub id: String,
    pub kind: String,
    pub title: String,
    pub slug: String,
    pub status: String,
    /// Milliseconds since the epoch, if the document says.
    pub updated_ms: Option<i64>,
}

/// One write in a [`Batch`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Write {
    /// Adds a chunk, under a key the backend gives it as it commits
    /// ([`Storage::commit`] says which).
    Append { doc: DocId, kind: ChunkKind, bytes: Vec<u8> },
    /// Removes chunks (after a snapshot that covers them was appended in the same batch).
    Remove { doc: DocId, keys: Vec<u64> },
    /// Sets the document's index entry.
    Index(IndexEntry),
    /// Makes `owner` the document found by `slug`, or frees the slug.
    Slug { slug: String, owner: Option<DocId> },
}

/// Writes applied all together or not at all, and durable when committed.
pub type Batch = Vec<Write>;

/// A storage backend. Every method can fail; errors are values, never panics.
pub trait Storage: Send + Sync {
    /// The document's chunks in key order, or `None` if the store has no such document.
    fn load(&self, doc: &DocId) -> Result<Option<Vec<Chunk>>, StorageError>;
    /// A number larger than every one handed out before, even across
    /// restarts (records use it to keep their order).
    fn next_key(&self) -> Result<u64, StorageError>;
    /// Applies the batch atomically and returns once it is durable, with the
    /// key of each [`Write::Append`], in the batch's order. A backend that
    /// several processes share (PostgreSQL) stores an appended chunk once:
    /// the same bytes appended again to the same document are not stored
    /// twice, and their key is the one they were stored under.
    fn commit(&self, batch: Batch) -> Result<Vec<u64>, StorageError>;
    /// Every document's index entry.
    fn list(&self) -> Result<Vec<IndexEntry>, StorageError>;
    /// One document's index entry.
    fn entry(&self, doc: &DocId) -> Result<Option<IndexEntry>, StorageError>;
    /// The document that has this slug, if any.
    fn find_slug(&self, slug: &str) -> Result<Option<DocId>, StorageError>;
    /// This store's identity, stable across restarts (automerge-repo's `storageId`).
    fn storage_id(&self) -> Result<String, StorageError>;
    /// A record of Cahier's own (accounts, sessions, invites, audit log…) by key.
    fn record(&self, key: &str) -> Result<Option<Vec<u8>>, StorageError>;
    /// Every record whose key starts with `prefix`, in key order.
    fn records(&self, prefix: &str) -> Result<Vec<(String, Vec<u8>)>, StorageError>;
    /// Sets (`Some`) or removes (`None`) records, atomically, durable on return.
    fn put_records(&self, writes: Vec<(String, Option<Vec<u8>>)>) -> Result<(), StorageError>;
    /// Whether the store answers a request now (a database that can be cut
    /// off checks its connection); an embedded store always does.
    fn check_alive(&self) -> Result<(), StorageError> {
        Ok(())
    }
    /// One chunk of a document, or `None` if it is not stored (never was, or a
    /// compaction removed it).
    fn load_chunk(&self, doc: &DocId, key: u64) -> Result<Option<Chunk>, StorageError> {
        Ok(self.load(doc)?.and_then(|chunks| chunks.into_iter().find(|c| c.key == key)))
    }
    /// The document's chunks whose key is larger than `after`, in key order:
    /// how a node that holds every chunk up to `after` catches up. A chunk a
    /// compaction removed is covered by the snapshot that replaced it, whose
    /// key is larger than every key it covers.
    fn load_since(&self, doc: &DocId, after: u64) -> Result<Vec<Chunk>, StorageError> {
        Ok(self.load(doc)?.unwrap_or_default().into_iter().filter(|c| c.key > after).collect())
    }
    /// The largest chunk key of each of `docs` that is stored (documents
    /// without chunks are left out), to find which of them moved.
    fn last_keys(&self, docs: &[DocId]) -> Result<Vec<(DocId, u64)>, StorageError> {
        let mut out = Vec::with_capacity(docs.len());
        for doc in docs {
            if let Some(last) = self.load(doc)?.and_then(|chunks| chunks.iter().map(|c| c.key).max()) {
                out.push((doc.clone(), last));
            }
        }
        Ok(out)
    }
    /// Chunks that other processes sharing this store append, as they commit
    /// them, for a server to relay to its peers; `None` when nobody else can
    /// write to this store (sled: one process holds it). The stream is made of
    /// hints: one may be missed (while the connection that listens is lost),
    /// and the chunk it names may be gone by the time it is read. Each time
    /// the watch starts listening (at first, and after a lost connection) it
    /// says [`Watched::Missed`] once it listens again.
    fn watch(&self) -> Option<std::sync::mpsc::Receiver<Watched>> {
        None
    }
    /// Hands an ephemeral message (presence) to the other processes sharing
    /// this store, whose [`Storage::watch`] reports it as
    /// [`Watched::Ephemeral`]; never stored. It returns at once (the message
    /// is queued) and says whether it was taken: `false` when nobody else
    /// shares the store, the message is too large to carry, or too many wait
    /// to be sent.
    fn broadcast(&self, message: Ephemeral) -> bool {
        let _ = message;
        false
    }
    /// Hands `visit` everything the store holds, as of one moment where the
    /// backend can (redb: one read transaction; PostgreSQL: one repeatable-read
    /// transaction; sled: one process holds the store, so nobody writes while
    /// the command that reads it runs). A document's chunks come one after the
    /// other, in key order. Stored bytes that do not decode are items too
    /// (errors in them), so that a check can name them; `Err` is for a store
    /// that cannot be read at all.
    ///
    /// The default reads the index, each document and the records one after
    /// the other: not one moment, and it sees only indexed documents.
    fn scan(&self, visit: &mut dyn FnMut(Item) -> Result<(), StorageError>) -> Result<(), StorageError> {
        visit(Item::StorageId(self.storage_id()?))?;
        let entries = self.list()?;
        for entry in &entries {
            let Ok(id) = DocId::parse(&entry.id) else { continue };
            for chunk in self.load(&id)?.unwrap_or_default() {
                visit(Item::Chunk { doc: entry.id.clone(), chunk: Ok(chunk) })?;
            }
        }
        for entry in entries {
            visit(Item::Index { id: entry.id.clone(), entry: Ok(entry) })?;
        }
        for (key, value) in self.records("")? {
            visit(Item::Record { key, value })?;
        }
        Ok(())
    }
    /// Gives this store the identity `id` (another store's, when a migration
    /// or a restore replaces it), so that clients that synced with that store
    /// keep their sync state.
    fn set_storage_id(&self, id: &str) -> Result<(), StorageError> {
        let _ = id;
        Err(StorageError::Io("this store cannot take another store's identity".into()))
    }
}

/// One thing a store holds, as [`Storage::scan`] reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Item {
    /// The store's identity (automerge-repo's `storageId`).
    StorageId(String),
    /// A chunk of the document `doc` (its id as stored, which may not parse).
    Chunk { doc: String, chunk: Result<Chunk, String> },
    /// A document's index entry, or why it does not decode.
    Index { id: String, entry: Result<IndexEntry, String> },
    /// An address and the id of the document that holds it.
    Slug { slug: String, owner: String },
    /// One of Cahier's own records.
    Record { key: String, value: Vec<u8> },
    /// A key this build does not know.
    Unknown { key: String },
}

/// What [`Storage::watch`] reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Watched {
    /// A chunk another process committed.
    Appended(Appended),
    /// An ephemeral message another process broadcast ([`Storage::broadcast`]).
    Ephemeral(Ephemeral),
    /// The watch listens (again): anything committed while it was not
    /// listening went unannounced, so documents in memory should be read
    /// again from the store.
    Missed,
}

/// A chunk another process committed; see [`Storage::watch`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Appended {
    pub doc: DocId,
    pub key: u64,
}

/// An ephemeral message (automerge-repo's presence) a peer of one server sent
/// to a document, as that server checked it, on its way to the other servers
/// sharing the store; see [`Storage::broadcast`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ephemeral {
    pub doc: DocId,
    /// The sender's peer id, which its server checked is its connection's.
    pub sender_id: String,
    /// The sender's session and its message counter (automerge-repo drops a
    /// message whose `(sender, session, count)` it has seen).
    pub session_id: String,
    pub count: u64,
    /// The CBOR payload, as the sender sent it.
    pub data: Vec<u8>,
}

impl IndexEntry {
    /// The entry for a document, from its summary. Documents that are not Cahier
    /// pages or minutes are listed with the kind `other`.
    pub fn from_summary(id: &DocId, s: &cahier_doc::read::Summary) -> IndexEntry {
        IndexEntry {
            id: id.to_string(),
            kind: s.kind.map_or("other", |k| k.as_str()).to_owned(),
            title: s.title.clone(),
            slug: s.slug.clone(),
            status: s.status.as_str().to_owned(),
            updated_ms: s.updated_ms,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("cannot open the store at {path}: {cause}")]
    Open { path: String, cause: String },
    /// Another process (or a store of this one not yet wound down) holds it.
    #[error("the store at {path} is in use by another Cahier; stop it first")]
    Locked { path: String },
    #[error("storage i/o error: {0}")]
    Io(String),
    #[error("stored data is corrupt ({what}): {cause}")]
    Corrupt { what: String, cause: String },
}

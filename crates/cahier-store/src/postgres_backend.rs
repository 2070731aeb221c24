//! The networked backend: PostgreSQL, for hosts that run several `cahier serve`
//! nodes on one database or that already trust a PostgreSQL cluster.
//!
//! Everything lives in the schema `cahier` (see [`MIGRATIONS`]):
//! - `changes (doc_id, seq)` → one row per stored chunk (a batch of changes
//!   or a snapshot): its kind, bytes and their SHA-256 `hash`, unique per
//!   document, so that a batch sent again is not stored again (its key is the
//!   one it was stored under). `seq` is the document's own count, taken from
//!   its row in `doc_seqs (doc_id)` in the writing transaction
//!   (`append_change`, which locks that row until the commit): the writers of
//!   one document take turns, so its seq order is its commit order, and a
//!   node that has every row up to `seq` and reads the rows past it misses
//!   nothing committed. A compaction's snapshot comes after every row it
//!   replaces, so it is among the rows past any of them;
//! - `chunk_keys`, a sequence: [`Storage::next_key`], for records' order;
//! - `documents (doc_id)` → the index entry, as JSON text (JSON escapes control
//!   characters, so a title holding U+0000, which PostgreSQL text refuses,
//!   is stored as written);
//! - `slugs (slug)` → the id of the document with that slug;
//! - `records (key)` → Cahier's own records; keys are `bytea`, so they sort
//!   bytewise (as sled does) and may hold any character;
//! - `meta` → the storage id; `migrations` → the schema versions applied.
//!
//! The `postgres` client runs its own tokio runtime and panics when called from
//! inside another (the server calls storage from its runtime's threads). So
//! the client lives on threads of this backend: [`POOL`] threads, each owning
//! one connection, take requests from one channel; a caller on any thread
//! sends a job and waits for its answer. A connection that fails is dropped
//! and a new one is opened for the next request. Every session runs with
//! `synchronous_commit = on`: `commit` returns once PostgreSQL has the batch
//! on disk.
//!
//! Several nodes on one database learn of each other's writes through
//! `LISTEN`/`NOTIFY` on the channel [`CHANNEL`]. Once a batch that appends
//! chunks has committed, the `(document, seq)` pairs of the rows it added go to this backend's
//! notifier thread, which sends them from a connection of its own, in a
//! transaction of their own (`synchronous_commit = off`: a hint need not be
//! durable), coalescing whatever is waiting into one statement. Not inside
//! the write transaction: a transaction that notifies takes a lock shared by
//! the whole cluster at commit, and a write transaction holding it while it
//! waits for its flush would serialize every node's commits. Each payload is
//! `NODE:DOC:SEQ`, `NODE` being a random name of this backend, so that
//! [`Storage::watch`]'s listener (one more thread and connection, opened when a
//! server asks) skips its own. Notifications are hints: one sent while the
//! listener was disconnected is lost, and a node dying between its commit and
//! its notification sends none: a node catches up by `seq`
//! ([`Storage::last_keys`], [`Storage::load_since`]).
//!
//! Ephemeral messages (presence) cross nodes the same way, never stored: a
//! server hands one to [`Storage::broadcast`], which queues it for the
//! notifier as one payload on the channel [`PRESENCE_CHANNEL`],
//! `NODE:{"doc", "sender", "session", "count", "data"}` (JSON, the CBOR data
//! in base64), and the other nodes' listeners report it as
//! [`crate::Watched::Ephemeral`]. A payload must be shorter than
//! PostgreSQL's 8000 bytes: a larger message is not taken, nor one past the
//! [`MAX_PENDING_EPHEMERAL`] waiting to be sent.

use std::panic::AssertUnwindSafe;
use std::str::FromStr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use cahier_doc::DocId;
use postgres::fallible_iterator::FallibleIterator;
use postgres::{Client, NoTls, Statement};

use crate::{Batch, Chunk, ChunkKind, IndexEntry, Item, Storage, StorageError, Write};

/// Connections (and threads) per backend.
const POOL: usize = 4;

/// How long opening a connection may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// How long sent data may stay unacknowledged by the server's host before the
/// connection counts as lost (a silent network cut), and when keepalives start.
const TCP_USER_TIMEOUT: Duration = Duration::from_secs(30);
const KEEPALIVE_IDLE: Duration = Duration::from_secs(15);

/// Taken (as a transaction-level advisory lock) while migrating, so two nodes
/// starting together apply each migration once.
const MIGRATION_LOCK: i64 = 0x6361_6869_6572; // "cahier"

/// The channel on which nodes announce the chunks they appended.
pub const CHANNEL: &str = "cahier_changes";

/// The channel on which nodes pass on their peers' ephemeral messages.
pub const PRESENCE_CHANNEL: &str = "cahier_presence";

/// The `application_name` of the connection that listens.
const LISTENER_NAME: &str = "cahier-listen";

/// PostgreSQL refuses a notification payload of 8000 bytes or more.
const MAX_PAYLOAD: usize = 7999;

/// Ephemeral messages waiting for the notifier; more are not taken (the
/// database is slower than the peers' presence: it is dropped, not queued).
pub const MAX_PENDING_EPHEMERAL: usize = 256;

/// How long the listener waits for a notification before checking that its
/// connection is alive, and before reconnecting after a failure.
const LISTEN_CHECK: Duration = Duration::from_secs(5);

/// The schema, one entry per version, applied in order and never edited once
/// released: a change of schema is a new entry.
const MIGRATIONS: &[&str] = &[
    // 1: the first schema.
    "CREATE TABLE cahier.meta (key text PRIMARY KEY, value text NOT NULL);
     CREATE SEQUENCE cahier.chunk_keys AS bigint MINVALUE 1;
     CREATE TABLE cahier.chunks (
         doc_id text NOT NULL,
         key bigint NOT NULL,
         kind text NOT NULL CHECK (kind IN ('snapshot', 'incremental')),
         bytes bytea NOT NULL,
         PRIMARY KEY (doc_id, key)
     );
     CREATE TABLE cahier.documents (doc_id text PRIMARY KEY, entry text NOT NULL);
     CREATE TABLE cahier.slugs (slug text PRIMARY KEY, doc_id text NOT NULL);
     CREATE TABLE cahier.records (key bytea PRIMARY KEY, value bytea NOT NULL);",
    // 2: chunks numbered per document, in commit order, each stored once.
    // The chunks of version 1 are numbered in their key order, a chunk stored
    // twice (a batch sent again) once.
    "CREATE TABLE cahier.changes (
         doc_id text NOT NULL,
         seq bigint NOT NULL CHECK (seq > 0),
         kind text NOT NULL CHECK (kind IN ('snapshot', 'incremental')),
         bytes bytea NOT NULL,
         hash bytea NOT NULL GENERATED ALWAYS AS (sha256(bytes)) STORED,
         PRIMARY KEY (doc_id, seq),
         UNIQUE (doc_id, hash)
     );
     CREATE TABLE cahier.doc_seqs (doc_id text PRIMARY KEY, seq bigint NOT NULL);
     INSERT INTO cahier.changes (doc_id, seq, kind, bytes)
         SELECT doc_id, row_number() OVER (PARTITION BY doc_id ORDER BY key), kind, bytes
         FROM (SELECT DISTINCT ON (doc_id, sha256(bytes)) doc_id, key, kind, bytes
               FROM cahier.chunks ORDER BY doc_id, sha256(bytes), key) AS first_copies;
     INSERT INTO cahier.doc_seqs (doc_id, seq) SELECT doc_id, max(seq) FROM cahier.changes GROUP BY doc_id;
     DROP TABLE cahier.chunks;
     -- Stores a chunk once, numbered after the document's last: the lock on
     -- the document's counter row is held until the commit, so the next
     -- writer of the document reads what this one stored, and numbers after it.
     CREATE FUNCTION cahier.append_change(p_doc text, p_kind text, p_bytes bytea, OUT stored_seq bigint, OUT added boolean)
     LANGUAGE plpgsql AS $$
     DECLARE
         last_seq bigint;
     BEGIN
         INSERT INTO cahier.doc_seqs (doc_id, seq) VALUES (p_doc, 0) ON CONFLICT (doc_id) DO NOTHING;
         SELECT d.seq INTO last_seq FROM cahier.doc_seqs d WHERE d.doc_id = p_doc FOR UPDATE;
         SELECT c.seq INTO stored_seq FROM cahier.changes c WHERE c.doc_id = p_doc AND c.hash = sha256(p_bytes);
         IF FOUND THEN
             added := false;
             RETURN;
         END IF;
         stored_seq := last_seq + 1;
         UPDATE cahier.doc_seqs d SET seq = stored_seq WHERE d.doc_id = p_doc;
         INSERT INTO cahier.changes (doc_id, seq, kind, bytes) VALUES (p_doc, stored_seq, p_kind, p_bytes);
         added := true;
     END
     $$;",
];

pub struct PostgresStorage {
    jobs: mpsc::Sender<Job>,
    storage_id: Mutex<String>,
    config: postgres::Config,
    /// This backend's name in the payloads it notifies.
    node: String,
    /// What to announce, for the notifier thread.
    notify: Mutex<mpsc::Sender<Hint>>,
    /// Ephemeral messages queued for the notifier, not yet sent.
    pending_ephemeral: Arc<AtomicUsize>,
}

/// What the notifier sends.
enum Hint {
    /// A chunk this node appended.
    Appended(DocId, u64),
    /// An ephemeral message's payload, on [`PRESENCE_CHANNEL`].
    Ephemeral(String),
}

/// An ephemeral message as it travels in a notification.
#[derive(serde::Serialize, serde::Deserialize)]
struct EphemeralPayload {
    doc: String,
    sender: String,
    session: String,
    count: u64,
    /// The CBOR bytes, in base64.
    data: String,
}

/// A request for a worker thread; it answers on a channel of its own.
type Job = Box<dyn FnOnce(&mut Worker) + Send>;

impl PostgresStorage {
    /// Connects to the database `url` names (`postgres://USER@HOST:PORT/DB`,
    /// or any URL or key=value string libpq takes), applies the migrations this
    /// build knows and refuses a database whose schema is newer.
    pub fn open(url: &str) -> Result<PostgresStorage, StorageError> {
        let shown = redact(url);
        let open_err = |cause: String| StorageError::Open { path: shown.clone(), cause };
        let mut config = postgres::Config::from_str(url).map_err(|e| open_err(e.to_string()))?;
        config
            .application_name("cahier")
            .connect_timeout(CONNECT_TIMEOUT)
            .tcp_user_timeout(TCP_USER_TIMEOUT)
            .keepalives(true)
            .keepalives_idle(KEEPALIVE_IDLE);
        // The first connection, made here, migrates: a wrong address, password
        // or database is said at start, not at the first write.
        let mut client = session(&config).map_err(|e| open_err(describe(&e)))?;
        let storage_id = migrate(&mut client, MIGRATIONS.len()).map_err(|e| open_err(e.to_string()))?;
        let first = prepare(client).map_err(|e| open_err(describe(&e)))?;

        let (jobs, rx) = mpsc::channel::<Job>();
        let rx = Arc::new(Mutex::new(rx));
        let mut first = Some(first);
        for n in 0..POOL {
            let rx = rx.clone();
            let mut worker = Worker { config: config.clone(), conn: first.take() };
            std::thread::Builder::new()
                .name(format!("cahier-postgres-{n}"))
                .spawn(move || {
                    loop {
                        // The lock is held only while waiting for one job.
                        let job = match rx.lock() {
                            Ok(rx) => rx.recv(),
                            Err(_) => return,
                        };
                        let Ok(job) = job else { return };
                        // A panic costs this job (its caller gets an error) and
                        // the connection, never the thread.
                        if std::panic::catch_unwind(AssertUnwindSafe(|| job(&mut worker))).is_err() {
                            worker.conn = None;
                        }
                    }
                })
                .map_err(|e| open_err(format!("cannot start a connection thread: {e}")))?;
        }
        let mut node = [0u8; 8];
        getrandom::fill(&mut node).map_err(|e| open_err(format!("no randomness: {e}")))?;
        let node: String = node.iter().map(|b| format!("{b:02x}")).collect();
        let (notify, hints) = mpsc::channel();
        let pending_ephemeral = Arc::new(AtomicUsize::new(0));
        {
            let (config, node, pending) = (config.clone(), node.clone(), pending_ephemeral.clone());
            std::thread::Builder::new()
                .name("cahier-postgres-notify".into())
                .spawn(move || notifier(&config, &node, &hints, &pending))
                .map_err(|e| open_err(format!("cannot start the notifier thread: {e}")))?;
        }
        Ok(PostgresStorage { jobs, storage_id: Mutex::new(storage_id), config, node, notify: Mutex::new(notify), pending_ephemeral })
    }

    /// For tests of the migrations: brings the database `url` names to the
    /// schema `version` (at most this build's), as a Cahier of that version
    /// would have made it.
    #[doc(hidden)]
    pub fn create_schema_version(url: &str, version: usize) -> Result<(), StorageError> {
        let open_err = |cause: String| StorageError::Open { path: redact(url), cause };
        let config = postgres::Config::from_str(url).map_err(|e| open_err(e.to_string()))?;
        let mut client = session(&config).map_err(|e| open_err(describe(&e)))?;
        migrate(&mut client, version.min(MIGRATIONS.len())).map(drop).map_err(open_err)
    }

    /// Runs `f` on a worker's connection and waits for its answer. When `f`
    /// fails with [`Attempt::Retry`] (nothing of it took effect and the
    /// connection is gone: the server restarted, the network dropped it), it
    /// runs once more on a new connection.
    fn call<T: Send + 'static>(&self, f: impl Fn(&mut Conn) -> Result<T, Attempt> + Send + 'static) -> Result<T, StorageError> {
        let (tx, rx) = mpsc::sync_channel(1);
        let job: Job = Box::new(move |worker: &mut Worker| {
            let _ = tx.send(worker.run(&f));
        });
        self.jobs.send(job).map_err(|_| StorageError::Io("the PostgreSQL connection threads stopped".into()))?;
        rx.recv().map_err(|_| StorageError::Io("a PostgreSQL request failed unexpectedly (see the log)".into()))?
    }
}

/// Sends every hint it is given (appended chunks on [`CHANNEL`], ephemeral
/// messages on [`PRESENCE_CHANNEL`]), those waiting together in one
/// statement, until the backend is dropped. A hint that cannot be sent (no
/// connection) is dropped: notifications are not the truth.
fn notifier(config: &postgres::Config, node: &str, hints: &mpsc::Receiver<Hint>, pending: &AtomicUsize) {
    let mut client: Option<Client> = None;
    while let Ok(first) = hints.recv() {
        let (mut channels, mut payloads) = (Vec::new(), Vec::new());
        for hint in std::iter::once(first).chain(hints.try_iter()) {
            match hint {
                Hint::Appended(doc, key) => {
                    channels.push(CHANNEL);
                    payloads.push(format!("{node}:{doc}:{key}"));
                }
                Hint::Ephemeral(payload) => {
                    pending.fetch_sub(1, Ordering::Relaxed);
                    channels.push(PRESENCE_CHANNEL);
                    payloads.push(payload);
                }
            }
        }
        // PostgreSQL folds identical payloads of one transaction.
        for attempt in 0..2 {
            let conn = match &mut client {
                Some(c) if !c.is_closed() => c,
                slot => match config.connect(NoTls) {
                    Ok(mut c) => match c.batch_execute("SET synchronous_commit = off") {
                        Ok(()) => slot.insert(c),
                        Err(_) => break,
                    },
                    Err(e) => {
                        eprintln!("cahier: cannot reach PostgreSQL to tell other nodes of new changes: {}", describe(&e));
                        break;
                    }
                },
            };
            let sql = "SELECT pg_notify(c, p) FROM unnest($1::text[], $2::text[]) AS t(c, p)";
            match conn.execute(sql, &[&channels, &payloads]) {
                Ok(_) => break,
                Err(e) => {
                    client = None;
                    if attempt == 1 {
                        eprintln!("cahier: cannot tell other nodes of new changes: {}", describe(&e));
                    }
                }
            }
        }
    }
}

/// The notification payload of an ephemeral message, or `None` if it would
/// not fit in one.
fn ephemeral_payload(node: &str, m: &crate::Ephemeral) -> Option<String> {
    use base64::Engine as _;
    // The base64 alone would not fit: not worth encoding.
    if m.data.len() / 3 * 4 > MAX_PAYLOAD {
        return None;
    }
    let payload = EphemeralPayload {
        doc: m.doc.to_string(),
        sender: m.sender_id.clone(),
        session: m.session_id.clone(),
        count: m.count,
        data: base64::engine::general_purpose::STANDARD.encode(&m.data),
    };
    let payload = format!("{node}:{}", serde_json::to_string(&payload).ok()?);
    (payload.len() <= MAX_PAYLOAD).then_some(payload)
}

/// The ephemeral message in a payload another node sent (`NODE:` taken off).
fn read_ephemeral(json: &str) -> Option<crate::Ephemeral> {
    use base64::Engine as _;
    let p: EphemeralPayload = serde_json::from_str(json).ok()?;
    Some(crate::Ephemeral {
        doc: DocId::parse(&p.doc).ok()?,
        sender_id: p.sender,
        session_id: p.session,
        count: p.count,
        data: base64::engine::general_purpose::STANDARD.decode(p.data).ok()?,
    })
}

/// Listens on [`CHANNEL`] and [`PRESENCE_CHANNEL`] and hands every chunk
/// another node appended, and every ephemeral message it passed on, to
/// `out`, reconnecting when the connection is lost, until `out`'s receiver is
/// dropped.
fn listener(config: &postgres::Config, node: &str, out: &mpsc::Sender<crate::Watched>) {
    let own = format!("{node}:");
    // Named apart, so that an operator tells it from the others in `pg_stat_activity`.
    let mut config = config.clone();
    config.application_name(LISTENER_NAME);
    loop {
        let mut client = match config
            .connect(NoTls)
            .and_then(|mut c| c.batch_execute(&format!("LISTEN {CHANNEL}; LISTEN {PRESENCE_CHANNEL}")).map(|()| c))
        {
            Ok(c) => c,
            Err(e) => {
                eprintln!("cahier: cannot listen for other nodes' changes ({}); trying again", describe(&e));
                std::thread::sleep(LISTEN_CHECK);
                continue;
            }
        };
        // Listening from here on: what was committed before went unannounced.
        if out.send(crate::Watched::Missed).is_err() {
            return;
        }
        loop {
            let (mut got, mut failed) = (false, false);
            {
                let mut notifications = client.notifications();
                let mut iter = notifications.timeout_iter(LISTEN_CHECK);
                loop {
                    let n = match iter.next() {
                        Ok(Some(n)) => n,
                        Ok(None) => break,
                        Err(_) => {
                            failed = true;
                            break;
                        }
                    };
                    got = true;
                    let payload = n.payload();
                    if payload.starts_with(&own) {
                        continue;
                    }
                    if n.channel() == PRESENCE_CHANNEL {
                        let message = payload.split_once(':').and_then(|(_, json)| read_ephemeral(json));
                        let Some(message) = message else {
                            eprintln!("cahier: an unreadable notification on {PRESENCE_CHANNEL}");
                            continue;
                        };
                        if out.send(crate::Watched::Ephemeral(message)).is_err() {
                            return;
                        }
                        continue;
                    }
                    let mut parts = payload.splitn(3, ':').skip(1);
                    let (Some(doc), Some(key)) =
                        (parts.next().and_then(|d| DocId::parse(d).ok()), parts.next().and_then(|k| k.parse().ok()))
                    else {
                        eprintln!("cahier: an unreadable notification on {CHANNEL}: {payload:?}");
                        continue;
                    };
                    if out.send(crate::Watched::Appended(crate::Appended { doc, key })).is_err() {
                        return;
                    }
                }
            }
            // Nothing for a while, or the connection failed: is it alive?
            if failed || client.is_closed() || (!got && client.is_valid(LISTEN_CHECK).is_err()) {
                eprintln!("cahier: the connection listening for other nodes' changes was lost; reconnecting");
                break;
            }
        }
    }
}

/// One worker thread's connection, opened when first needed.
struct Worker {
    config: postgres::Config,
    conn: Option<Conn>,
}

struct Conn {
    client: Client,
    st: Statements,
}

/// Prepared once per connection: each request is then one round trip.
struct Statements {
    load: Statement,
    load_chunk: Statement,
    load_since: Statement,
    last_keys: Statement,
    next_key: Statement,
    append: Statement,
    remove: Statement,
    index: Statement,
    list: Statement,
    entry: Statement,
    find_slug: Statement,
    set_slug: Statement,
    free_slug: Statement,
    record: Statement,
    records: Statement,
    put_record: Statement,
    delete_record: Statement,
}

/// How a request on one connection ended, when it did not succeed.
enum Attempt {
    /// Nothing took effect and the connection is unusable: try a new one.
    Retry(postgres::Error),
    /// The connection was lost during a transaction that may be run again:
    /// run it once more on a new connection, however new the lost one was.
    Again(StorageError),
    Fail(StorageError),
}

impl Worker {
    fn run<T>(&mut self, f: &impl Fn(&mut Conn) -> Result<T, Attempt>) -> Result<T, StorageError> {
        let mut retried = false;
        loop {
            let fresh = self.conn.as_ref().is_none_or(|c| c.client.is_closed());
            let conn = match &mut self.conn {
                Some(c) if !c.client.is_closed() => c,
                slot => {
                    slot.insert(connect(&self.config).map_err(|e| StorageError::Io(format!("cannot reach PostgreSQL: {}", describe(&e))))?)
                }
            };
            match f(conn) {
                Ok(v) => return Ok(v),
                Err(Attempt::Retry(e)) => {
                    self.conn = None;
                    if fresh || retried {
                        return Err(pg(e));
                    }
                    retried = true;
                }
                Err(Attempt::Again(e)) => {
                    self.conn = None;
                    if retried {
                        return Err(e);
                    }
                    retried = true;
                }
                Err(Attempt::Fail(e)) => {
                    if conn.client.is_closed() {
                        self.conn = None;
                    }
                    return Err(e);
                }
            }
        }
    }
}

fn connect(config: &postgres::Config) -> Result<Conn, postgres::Error> {
    prepare(session(config)?)
}

/// A new session, set up for Cahier.
fn session(config: &postgres::Config) -> Result<Client, postgres::Error> {
    let mut client = config.connect(NoTls)?;
    // Saved means committed: whatever the server's default, this session's
    // commits return once they are on disk.
    client.batch_execute("SET synchronous_commit = on")?;
    Ok(client)
}

fn prepare(mut client: Client) -> Result<Conn, postgres::Error> {
    let st = Statements {
        load: client.prepare("SELECT seq, kind, bytes FROM cahier.changes WHERE doc_id = $1 ORDER BY seq")?,
        load_chunk: client.prepare("SELECT seq, kind, bytes FROM cahier.changes WHERE doc_id = $1 AND seq = $2")?,
        load_since: client.prepare("SELECT seq, kind, bytes FROM cahier.changes WHERE doc_id = $1 AND seq > $2 ORDER BY seq")?,
        last_keys: client.prepare("SELECT doc_id, seq FROM cahier.doc_seqs WHERE doc_id = ANY($1) AND seq > 0")?,
        next_key: client.prepare("SELECT nextval('cahier.chunk_keys')")?,
        append: client.prepare("SELECT stored_seq, added FROM cahier.append_change($1, $2, $3)")?,
        remove: client.prepare("DELETE FROM cahier.changes WHERE doc_id = $1 AND seq = ANY($2)")?,
        index: client.prepare(
            "INSERT INTO cahier.documents (doc_id, entry) VALUES ($1, $2) ON CONFLICT (doc_id) DO UPDATE SET entry = EXCLUDED.entry",
        )?,
        list: client.prepare("SELECT doc_id, entry FROM cahier.documents")?,
        entry: client.prepare("SELECT entry FROM cahier.documents WHERE doc_id = $1")?,
        find_slug: client.prepare("SELECT doc_id FROM cahier.slugs WHERE slug = $1")?,
        set_slug: client
            .prepare("INSERT INTO cahier.slugs (slug, doc_id) VALUES ($1, $2) ON CONFLICT (slug) DO UPDATE SET doc_id = EXCLUDED.doc_id")?,
        free_slug: client.prepare("DELETE FROM cahier.slugs WHERE slug = $1")?,
        record: client.prepare("SELECT value FROM cahier.records WHERE key = $1")?,
        records: client
            .prepare("SELECT key, value FROM cahier.records WHERE key >= $1 AND ($2::bytea IS NULL OR key < $2) ORDER BY key")?,
        put_record: client
            .prepare("INSERT INTO cahier.records (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value")?,
        delete_record: client.prepare("DELETE FROM cahier.records WHERE key = $1")?,
    };
    Ok(Conn { client, st })
}

/// Brings the schema to version `upto` (this build's, but for tests), in one
/// transaction under an advisory lock, and returns the storage id (made when
/// the schema is).
fn migrate(client: &mut Client, upto: usize) -> Result<String, String> {
    let mut tx = client.transaction().map_err(|e| describe(&e))?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK]).map_err(|e| describe(&e))?;
    let row = tx
        .query_one(
            "SELECT to_regclass('cahier.migrations') IS NOT NULL,
                    (SELECT count(*) FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
                     WHERE n.nspname = 'cahier')",
            &[],
        )
        .map_err(|e| describe(&e))?;
    let (ours, objects): (bool, i64) = (row.get(0), row.get(1));
    if !ours && objects > 0 {
        return Err("the database has a schema \"cahier\" that Cahier did not create; use another database".into());
    }
    tx.batch_execute(
        "CREATE SCHEMA IF NOT EXISTS cahier;
         CREATE TABLE IF NOT EXISTS cahier.migrations (
             version integer PRIMARY KEY,
             applied_at timestamptz NOT NULL DEFAULT now()
         );",
    )
    .map_err(|e| describe(&e))?;
    let applied: i32 = tx.query_one("SELECT coalesce(max(version), 0) FROM cahier.migrations", &[]).map_err(|e| describe(&e))?.get(0);
    let known = MIGRATIONS.len() as i32;
    if applied > known {
        return Err(format!("the database has Cahier's schema version {applied}; this Cahier knows up to version {known}"));
    }
    for (n, sql) in MIGRATIONS.iter().enumerate().take(upto).skip(applied as usize) {
        let version = n as i32 + 1;
        tx.batch_execute(sql).map_err(|e| format!("migration {version}: {}", describe(&e)))?;
        tx.execute("INSERT INTO cahier.migrations (version) VALUES ($1)", &[&version]).map_err(|e| describe(&e))?;
    }
    let mut id = [0u8; 16];
    getrandom::fill(&mut id).map_err(|e| format!("no randomness: {e}"))?;
    let id: String = id.iter().map(|b| format!("{b:02x}")).collect();
    tx.execute("INSERT INTO cahier.meta (key, value) VALUES ('storage-id', $1) ON CONFLICT (key) DO NOTHING", &[&id])
        .map_err(|e| describe(&e))?;
    let id: String = tx.query_one("SELECT value FROM cahier.meta WHERE key = 'storage-id'", &[]).map_err(|e| describe(&e))?.get(0);
    tx.commit().map_err(|e| describe(&e))?;
    Ok(id)
}

/// `url` with its password, if any, replaced by `***`, for messages.
pub(crate) fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else { return url.to_owned() };
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let Some(at) = rest[..authority_end].rfind('@') else { return url.to_owned() };
    match rest[..at].split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:***{}", &rest[at..]),
        None => url.to_owned(),
    }
}

fn pg(e: postgres::Error) -> StorageError {
    StorageError::Io(format!("PostgreSQL: {}", describe(&e)))
}

/// The server's own message when there is one (the `Display` of a database
/// error is only "db error").
fn describe(e: &postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{}: {}", db.severity(), db.message()),
        None => e.to_string(),
    }
}

/// Whether a request failed because its connection is gone (the server
/// closed it, or is shutting down): a new connection may succeed.
fn lost(e: &postgres::Error) -> bool {
    // 57P01..57P03: administrator shutdown, crash shutdown, cannot connect now;
    // class 08: connection exceptions.
    e.is_closed()
        || e.code().is_some_and(|c| {
            let c = c.code();
            c.starts_with("57P") || c.starts_with("08")
        })
}

/// For a request that only reads: any failure on a lost connection may be retried.
fn read(conn: &Conn, e: postgres::Error) -> Attempt {
    if lost(&e) || conn.client.is_closed() { Attempt::Retry(e) } else { Attempt::Fail(pg(e)) }
}

fn corrupt(what: String, cause: impl ToString) -> StorageError {
    StorageError::Corrupt { what, cause: cause.to_string() }
}

fn decode_entry(what: &str, json: &str) -> Result<IndexEntry, StorageError> {
    serde_json::from_str(json).map_err(|e| corrupt(what.to_owned(), e))
}

/// The smallest byte string greater than every string starting with `prefix`,
/// or `None` if there is none (the prefix is empty or all 0xff).
fn prefix_end(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return Some(end);
        }
    }
    None
}

/// What a batch did: the key of each of its appended chunks, in its order,
/// and the `(document, seq)` of those that were not stored before.
struct Applied {
    keys: Vec<u64>,
    added: Vec<(DocId, u64)>,
}

/// Applies one batch inside a transaction. The appended chunks go first, in
/// the order of their documents' ids: each locks its document's counter row
/// until the commit, and two nodes taking the same rows in different orders
/// would deadlock.
fn apply(tx: &mut postgres::Transaction<'_>, st: &Statements, batch: &Batch) -> Result<Applied, StorageError> {
    let mut appends: Vec<(usize, &DocId, &ChunkKind, &Vec<u8>)> = batch
        .iter()
        .enumerate()
        .filter_map(|(n, w)| match w {
            Write::Append { doc, kind, bytes } => Some((n, doc, kind, bytes)),
            _ => None,
        })
        .collect();
    appends.sort_by(|a, b| a.1.as_str().cmp(b.1.as_str()).then(a.0.cmp(&b.0)));
    let mut keys: Vec<(usize, DocId, u64)> = Vec::with_capacity(appends.len());
    let mut added = Vec::new();
    for (n, doc, kind, bytes) in appends {
        let kind = match kind {
            ChunkKind::Snapshot => "snapshot",
            ChunkKind::Incremental => "incremental",
        };
        let row = tx.query_one(&st.append, &[&doc.as_str(), &kind, bytes]).map_err(pg)?;
        let (seq, fresh): (i64, bool) = (row.get(0), row.get(1));
        let seq = u64::try_from(seq).map_err(|_| corrupt(format!("counter of {doc}"), "negative seq"))?;
        if fresh {
            added.push((doc.clone(), seq));
        }
        keys.push((n, doc.clone(), seq));
    }
    for write in batch {
        match write {
            Write::Append { .. } => {}
            Write::Remove { doc, keys: removed } => {
                // Never the row a chunk of this batch turned out to be already.
                let removed: Vec<i64> = removed
                    .iter()
                    .filter(|k| !keys.iter().any(|(_, d, key)| d == doc && key == *k))
                    .filter_map(|k| i64::try_from(*k).ok())
                    .collect();
                tx.execute(&st.remove, &[&doc.as_str(), &removed]).map_err(pg)?;
            }
            Write::Index(entry) => {
                let json = serde_json::to_string(entry).map_err(|e| StorageError::Io(e.to_string()))?;
                tx.execute(&st.index, &[&entry.id, &json]).map_err(pg)?;
            }
            Write::Slug { slug, owner: Some(owner) } => {
                tx.execute(&st.set_slug, &[slug, &owner.as_str()]).map_err(pg)?;
            }
            Write::Slug { slug, owner: None } => {
                tx.execute(&st.free_slug, &[slug]).map_err(pg)?;
            }
        }
    }
    keys.sort_by_key(|(n, _, _)| *n);
    Ok(Applied { keys: keys.into_iter().map(|(_, _, key)| key).collect(), added })
}

/// A chunk as a row holds it.
fn chunk(doc: &str, seq: i64, kind: &str, bytes: Vec<u8>) -> Result<Chunk, StorageError> {
    let kind = match kind {
        "snapshot" => ChunkKind::Snapshot,
        "incremental" => ChunkKind::Incremental,
        other => return Err(corrupt(format!("chunk of {doc}"), format!("unknown chunk kind {other:?}"))),
    };
    let key = u64::try_from(seq).map_err(|_| corrupt(format!("chunk of {doc}"), "negative seq"))?;
    Ok(Chunk { key, kind, bytes })
}

/// The chunks `rows` (seq, kind, bytes) hold.
fn chunks(doc: &DocId, rows: Vec<postgres::Row>) -> Result<Vec<Chunk>, StorageError> {
    rows.into_iter().map(|row| chunk(doc.as_str(), row.get(0), row.get(1), row.get(2))).collect()
}

/// Runs `writes` in one transaction and commits it. A failure to begin on a
/// lost connection may be retried; so may a transaction whose connection was
/// lost before its commit answered (`Attempt::Again`): it either rolled back
/// or committed, and running it again is harmless either way (a chunk is
/// stored once, by its hash; the other writes put or remove by key).
fn transaction<T>(
    conn: &mut Conn,
    writes: impl FnOnce(&mut postgres::Transaction<'_>, &Statements) -> Result<T, StorageError>,
) -> Result<T, Attempt> {
    let Conn { client, st } = conn;
    let mut tx = match client.transaction() {
        Ok(tx) => tx,
        Err(e) if lost(&e) => return Err(Attempt::Retry(e)),
        Err(e) => return Err(Attempt::Fail(pg(e))),
    };
    let done = writes(&mut tx, &*st).and_then(|done| tx.commit().map(|()| done).map_err(pg));
    match done {
        Ok(done) => Ok(done),
        Err(e) if client.is_closed() => Err(Attempt::Again(e)),
        Err(e) => Err(Attempt::Fail(e)),
    }
}

impl Storage for PostgresStorage {
    fn load(&self, doc: &DocId) -> Result<Option<Vec<Chunk>>, StorageError> {
        let id = doc.clone();
        self.call(move |conn| {
            let rows = conn.client.query(&conn.st.load, &[&id.as_str()]).map_err(|e| read(conn, e))?;
            let chunks = chunks(&id, rows).map_err(Attempt::Fail)?;
            Ok(if chunks.is_empty() { None } else { Some(chunks) })
        })
    }

    fn load_since(&self, doc: &DocId, after: u64) -> Result<Vec<Chunk>, StorageError> {
        let id = doc.clone();
        let after = i64::try_from(after).unwrap_or(i64::MAX);
        self.call(move |conn| {
            let rows = conn.client.query(&conn.st.load_since, &[&id.as_str(), &after]).map_err(|e| read(conn, e))?;
            chunks(&id, rows).map_err(Attempt::Fail)
        })
    }

    fn last_keys(&self, docs: &[DocId]) -> Result<Vec<(DocId, u64)>, StorageError> {
        let ids: Vec<String> = docs.iter().map(|d| d.to_string()).collect();
        self.call(move |conn| {
            let rows = conn.client.query(&conn.st.last_keys, &[&ids]).map_err(|e| read(conn, e))?;
            let mut out = Vec::with_capacity(rows.len());
            for row in rows {
                let (doc, seq): (&str, i64) = (row.get(0), row.get(1));
                let doc = DocId::parse(doc).map_err(|e| Attempt::Fail(corrupt(format!("counter of {doc}"), e)))?;
                out.push((doc, u64::try_from(seq).unwrap_or(0)));
            }
            Ok(out)
        })
    }

    fn next_key(&self) -> Result<u64, StorageError> {
        self.call(|conn| {
            let key: i64 = conn.client.query_one(&conn.st.next_key, &[]).map_err(|e| read(conn, e))?.get(0);
            u64::try_from(key).map_err(|_| Attempt::Fail(corrupt("chunk key sequence".into(), "negative key")))
        })
    }

    fn commit(&self, batch: Batch) -> Result<Vec<u64>, StorageError> {
        if let Some(bad) = batch.iter().find_map(|w| match w {
            Write::Slug { slug, .. } if slug.contains('\0') => Some(slug),
            _ => None,
        }) {
            return Err(StorageError::Io(format!("slug {bad:?} holds a NUL character")));
        }
        let batch = Arc::new(batch);
        let Applied { keys, added } = self.call(move |conn| transaction(conn, |tx, st| apply(tx, st, &batch)))?;
        // Committed: tell the other nodes (a hint; the notifier sends it).
        let notify = self.notify.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        for (doc, seq) in added {
            let _ = notify.send(Hint::Appended(doc, seq));
        }
        Ok(keys)
    }

    fn load_chunk(&self, doc: &DocId, key: u64) -> Result<Option<Chunk>, StorageError> {
        let id = doc.clone();
        let Ok(key) = i64::try_from(key) else { return Ok(None) };
        self.call(move |conn| {
            let row = conn.client.query_opt(&conn.st.load_chunk, &[&id.as_str(), &key]).map_err(|e| read(conn, e))?;
            row.map(|row| chunk(id.as_str(), row.get(0), row.get(1), row.get(2))).transpose().map_err(Attempt::Fail)
        })
    }

    fn watch(&self) -> Option<mpsc::Receiver<crate::Watched>> {
        let (tx, rx) = mpsc::channel();
        let (config, node) = (self.config.clone(), self.node.clone());
        let started = std::thread::Builder::new().name("cahier-postgres-listen".into()).spawn(move || listener(&config, &node, &tx));
        match started {
            Ok(_) => Some(rx),
            Err(e) => {
                eprintln!("cahier: cannot start the thread listening for other nodes' changes: {e}");
                None
            }
        }
    }

    fn broadcast(&self, message: crate::Ephemeral) -> bool {
        let Some(payload) = ephemeral_payload(&self.node, &message) else { return false };
        if self.pending_ephemeral.fetch_add(1, Ordering::Relaxed) >= MAX_PENDING_EPHEMERAL {
            self.pending_ephemeral.fetch_sub(1, Ordering::Relaxed);
            return false;
        }
        let notify = self.notify.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if notify.send(Hint::Ephemeral(payload)).is_err() {
            self.pending_ephemeral.fetch_sub(1, Ordering::Relaxed);
            return false;
        }
        true
    }

    fn list(&self) -> Result<Vec<IndexEntry>, StorageError> {
        self.call(|conn| {
            let rows = conn.client.query(&conn.st.list, &[]).map_err(|e| read(conn, e))?;
            rows.iter()
                .map(|row| decode_entry(&format!("index of {}", row.get::<_, &str>(0)), row.get(1)))
                .collect::<Result<_, _>>()
                .map_err(Attempt::Fail)
        })
    }

    fn entry(&self, doc: &DocId) -> Result<Option<IndexEntry>, StorageError> {
        let id = doc.clone();
        self.call(move |conn| {
            let row = conn.client.query_opt(&conn.st.entry, &[&id.as_str()]).map_err(|e| read(conn, e))?;
            row.map(|r| decode_entry(&format!("index of {id}"), r.get(0))).transpose().map_err(Attempt::Fail)
        })
    }

    fn find_slug(&self, slug: &str) -> Result<Option<DocId>, StorageError> {
        // PostgreSQL text cannot hold NUL, so no stored slug has one.
        if slug.contains('\0') {
            return Ok(None);
        }
        let slug = slug.to_owned();
        self.call(move |conn| {
            let Some(row) = conn.client.query_opt(&conn.st.find_slug, &[&slug]).map_err(|e| read(conn, e))? else {
                return Ok(None);
            };
            DocId::parse(row.get(0)).map(Some).map_err(|e| Attempt::Fail(corrupt(format!("slug {slug}"), e)))
        })
    }

    fn storage_id(&self) -> Result<String, StorageError> {
        Ok(self.storage_id.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone())
    }

    fn set_storage_id(&self, id: &str) -> Result<(), StorageError> {
        let value = id.to_owned();
        self.call(move |conn| {
            transaction(conn, |tx, _| {
                tx.execute("UPDATE cahier.meta SET value = $1 WHERE key = 'storage-id'", &[&value]).map_err(pg)?;
                Ok(())
            })
        })?;
        *self.storage_id.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = id.to_owned();
        Ok(())
    }

    /// Everything, read in one repeatable-read transaction (one snapshot of
    /// the database while other nodes write), gathered in memory first: the
    /// connection's thread cannot call `visit`.
    fn scan(&self, visit: &mut dyn FnMut(Item) -> Result<(), StorageError>) -> Result<(), StorageError> {
        let items = self.call(|conn| {
            let mut tx =
                match conn.client.build_transaction().isolation_level(postgres::IsolationLevel::RepeatableRead).read_only(true).start() {
                    Ok(tx) => tx,
                    Err(e) if lost(&e) => return Err(Attempt::Retry(e)),
                    Err(e) => return Err(Attempt::Fail(pg(e))),
                };
            let fail = |e: postgres::Error| Attempt::Fail(pg(e));
            let mut items = Vec::new();
            let id = tx.query_one("SELECT value FROM cahier.meta WHERE key = 'storage-id'", &[]).map_err(fail)?;
            items.push(Item::StorageId(id.get(0)));
            for row in tx.query("SELECT doc_id, seq, kind, bytes FROM cahier.changes ORDER BY doc_id, seq", &[]).map_err(fail)? {
                let doc: String = row.get(0);
                let chunk = chunk(&doc, row.get(1), row.get(2), row.get(3)).map_err(|e| e.to_string());
                items.push(Item::Chunk { doc, chunk });
            }
            for row in tx.query("SELECT doc_id, entry FROM cahier.documents ORDER BY doc_id", &[]).map_err(fail)? {
                let entry = serde_json::from_str::<IndexEntry>(row.get(1)).map_err(|e| e.to_string());
                items.push(Item::Index { id: row.get(0), entry });
            }
            for row in tx.query("SELECT slug, doc_id FROM cahier.slugs ORDER BY slug", &[]).map_err(fail)? {
                items.push(Item::Slug { slug: row.get(0), owner: row.get(1) });
            }
            for row in tx.query("SELECT key, value FROM cahier.records ORDER BY key", &[]).map_err(fail)? {
                items.push(Item::Record { key: String::from_utf8_lossy(row.get::<_, &[u8]>(0)).into_owned(), value: row.get(1) });
            }
            tx.commit().map_err(fail)?;
            Ok(items)
        })?;
        for item in items {
            visit(item)?;
        }
        Ok(())
    }

    fn check_alive(&self) -> Result<(), StorageError> {
        self.call(|conn| conn.client.simple_query("SELECT 1").map(drop).map_err(|e| read(conn, e)))
    }

    fn record(&self, key: &str) -> Result<Option<Vec<u8>>, StorageError> {
        let key = key.as_bytes().to_vec();
        self.call(move |conn| {
            let row = conn.client.query_opt(&conn.st.record, &[&key]).map_err(|e| read(conn, e))?;
            Ok(row.map(|r| r.get(0)))
        })
    }

    fn records(&self, prefix: &str) -> Result<Vec<(String, Vec<u8>)>, StorageError> {
        let start = prefix.as_bytes().to_vec();
        let end = prefix_end(&start);
        self.call(move |conn| {
            let rows = conn.client.query(&conn.st.records, &[&start, &end]).map_err(|e| read(conn, e))?;
            Ok(rows.iter().map(|r| (String::from_utf8_lossy(r.get::<_, &[u8]>(0)).into_owned(), r.get::<_, Vec<u8>>(1))).collect())
        })
    }

    fn put_records(&self, writes: Vec<(String, Option<Vec<u8>>)>) -> Result<(), StorageError> {
        let writes = Arc::new(writes);
        self.call(move |conn| {
            transaction(conn, |tx, st| {
                for (key, value) in writes.iter() {
                    let key = key.as_bytes();
                    match value {
                        Some(v) => tx.execute(&st.put_record, &[&key, v]).map_err(pg)?,
                        None => tx.execute(&st.delete_record, &[&key]).map_err(pg)?,
                    };
                }
                Ok(())
            })
        })
    }
}

//! The embedded backend that is durable by design: redb 4, one file, one table,
//! every batch one write transaction committed with `Durability::Immediate`.
//!
//! Why redb rather than sled or SQLite: the power-cut simulator
//! (`crates/cahier-powercut`, `docs/reliability.md`) shows sled 0.34.7
//! acknowledging batches that a power cut then loses, because its flush ends
//! in `sync_file_range`, which is no durability barrier. redb commits with
//! `fdatasync` (pages first, then the header that points to them, each
//! synced), which the simulator finds loses nothing; it is pure Rust (no C
//! library to build, unlike SQLite), keeps one file with a stable format, and
//! its range scans over byte keys fit the key layout sled already uses, so
//! both backends store the same keys. SQLite would be as safe; it would bring
//! a C build, a second query language and a connection that is not `Sync`.
//!
//! Keys, as in `sled_backend.rs`: `c/<doc id>/<u64 big-endian>` (chunk kind
//! byte, then the chunk), `i/<doc id>` (index entry as JSON), `s/<slug>`,
//! `r/<key>`, `format`, `storage-id`, and `next-key`: the chunk keys reserved
//! so far (keys are handed out from memory and a block of them is reserved,
//! durably, before the first of the block is handed out).
//!
//! The store is the file `cahier.redb` in the `--data` folder, with the
//! marker file `kv.rs` describes. Creating it syncs the folder (and its
//! parent) so that the file's name survives a power cut as well as its
//! content. Every handle opens the file in redb's `SingleWriter` mode: one
//! process writes (`cahier serve`), others may read it meanwhile, each read
//! transaction a consistent snapshot (`cahier backup`, `cahier check`). The
//! writer checks every page's checksum when it opens the file.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, RwLock};

use cahier_doc::DocId;
use redb::{ReadableDatabase, TableDefinition};

use crate::kv::{chunk_key, chunk_prefix, decode_chunk, encode_chunk};
use crate::{Batch, Chunk, IndexEntry, Item, Storage, StorageError, Write};

/// The store's file in its folder.
pub const REDB_FILE: &str = "cahier.redb";

/// The storage format this build reads and writes (the keys are sled's).
const FORMAT: &[u8] = b"cahier-store/1";

/// Chunk keys reserved by one durable write.
const KEY_BLOCK: u64 = 1024;

/// Pages redb may cache in memory.
const CACHE_BYTES: usize = 32 * 1024 * 1024;

const TABLE: TableDefinition<&[u8], &[u8]> = TableDefinition::new("cahier");

/// A key and its value.
type Pair = (Vec<u8>, Vec<u8>);

/// What [`RedbStorage::walk`] hands each key and value to.
type Visit<'a> = dyn FnMut(&[u8], &[u8]) -> Result<(), StorageError> + 'a;

/// The one table, open in a write transaction.
type Table<'txn> = redb::Table<'txn, &'static [u8], &'static [u8]>;

pub struct RedbStorage {
    /// The database and how many times it was opened. After a failed write
    /// (a full disk, a file system turned read-only) redb refuses every call
    /// until the database is opened again: [`RedbStorage::with_db`] does that,
    /// so writing works again once there is room, without a restart.
    db: RwLock<(u64, Option<Db>)>,
    path: PathBuf,
    /// Opened with [`RedbStorage::open_read_only`]: never writes.
    read_only: bool,
    /// The next chunk key to hand out, and the first one not reserved.
    keys: Mutex<(u64, u64)>,
}

/// redb's two kinds of handle on the file.
enum Db {
    Writer(redb::Database),
    Reader(redb::ReadOnlyDatabase),
}

impl Db {
    fn begin_read(&self) -> Result<redb::ReadTransaction, redb::TransactionError> {
        match self {
            Db::Writer(db) => db.begin_read(),
            Db::Reader(db) => db.begin_read(),
        }
    }
}

/// How every handle opens the file. `SingleWriter`: the server writes while
/// `cahier backup` and `cahier check`, in other processes, read a snapshot
/// (redb keeps the pages a reader's transaction sees until it ends); a
/// second writer is still refused. The writer verifies every page's checksum
/// when it opens the file, so a damaged file is refused instead of trusted.
fn builder() -> redb::Builder {
    let mut builder = redb::Database::builder();
    builder.set_cache_size(CACHE_BYTES).set_concurrency_mode(redb::ConcurrencyMode::SingleWriter).set_check_integrity_on_open(true);
    builder
}

/// Runs an open of redb's, turning a panic (redb trusts some of what it reads
/// in a damaged file) into an error.
fn guarded<T>(dir: &Path, open: impl FnOnce() -> Result<T, StorageError>) -> Result<T, StorageError> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(open)).unwrap_or_else(|_| {
        Err(StorageError::Corrupt { what: format!("store at {}", dir.display()), cause: "redb cannot read the file".into() })
    })
}

impl RedbStorage {
    /// Opens the store in `dir`, creating it only if `dir` is missing or empty.
    /// A folder holding anything but a Cahier redb store is refused, and so is
    /// a store whose file was removed, emptied or damaged.
    pub fn open(dir: &Path) -> Result<RedbStorage, StorageError> {
        let open_err = |cause: String| StorageError::Open { path: dir.display().to_string(), cause };
        let corrupt = |cause: &str| StorageError::Corrupt { what: format!("store at {}", dir.display()), cause: cause.into() };
        let file = dir.join(REDB_FILE);
        let fresh = match std::fs::read_dir(dir) {
            Ok(mut entries) => entries.next().is_none(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => true,
            Err(e) => return Err(open_err(e.to_string())),
        };
        let marked = crate::kv::marker(dir).is_some_and(|m| m == "redb");
        if !fresh && !file.exists() {
            if marked {
                return Err(corrupt("the store's file cahier.redb is missing"));
            }
            return Err(open_err("the folder is not empty and holds no Cahier store; choose an empty folder or an existing store".into()));
        }
        let db = if fresh {
            std::fs::create_dir_all(dir).map_err(|e| open_err(e.to_string()))?;
            let db = builder().create(&file).map_err(|e| open_error(dir, e.into()))?;
            // The file's name is durable only once its folder is synced.
            sync_dir(dir).map_err(|e| open_err(format!("cannot sync the folder: {e}")))?;
            if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
                sync_dir(parent).map_err(|e| open_err(format!("cannot sync the folder's parent: {e}")))?;
            }
            db
        } else {
            // `create` opens a valid file and initialises an empty one: a store
            // whose creation was cut short before redb wrote its header (the
            // marker, written after the first commit, tells it from a store
            // whose file was emptied since).
            if marked && std::fs::metadata(&file).is_ok_and(|m| m.len() == 0) {
                return Err(corrupt("the store's file cahier.redb is empty: it was truncated"));
            }
            guarded(dir, || {
                builder().create(&file).map_err(|e| match open_error(dir, e.into()) {
                    // A file that ends early or holds garbage is a damaged store.
                    StorageError::Open { cause, .. } if marked => {
                        let len = std::fs::metadata(&file).map(|m| m.len()).unwrap_or(0);
                        corrupt(&format!("cahier.redb ({len} bytes) cannot be read, it is damaged or truncated: {cause}"))
                    }
                    other => other,
                })
            })?
        };
        let storage = RedbStorage { db: RwLock::new((0, Some(Db::Writer(db)))), path: file, read_only: false, keys: Mutex::new((0, 0)) };
        match storage.get(b"format").map_err(|e| open_err(e.to_string()))? {
            Some(v) if v == FORMAT => {
                if !marked {
                    // A store made before the marker existed gets it now; a
                    // folder that cannot be written to keeps working without it.
                    let _ = crate::kv::write_marker(dir, "redb", "");
                }
            }
            Some(v) => {
                return Err(open_err(format!(
                    "the store has format {:?}, this Cahier reads {:?}",
                    String::from_utf8_lossy(&v),
                    String::from_utf8_lossy(FORMAT)
                )));
            }
            None if marked => return Err(corrupt("the store's file cahier.redb holds no data: it was truncated or replaced")),
            // Fresh, or created but killed before its first commit: nothing to lose.
            None if fresh || storage.scan_pairs(b"")?.is_empty() => {
                let mut id = [0u8; 16];
                getrandom::fill(&mut id).map_err(|e| open_err(format!("no randomness: {e}")))?;
                let id: String = id.iter().map(|b| format!("{b:02x}")).collect();
                storage
                    .write(|t| {
                        t.insert(b"storage-id".as_slice(), id.as_bytes())?;
                        t.insert(b"format".as_slice(), FORMAT)?;
                        Ok(())
                    })
                    .map_err(|e| open_err(e.to_string()))?;
                crate::kv::write_marker(dir, "redb", "").map_err(|e| open_err(format!("cannot write the store's marker: {e}")))?;
            }
            None => return Err(open_err("the store has data but no format marker; it was not written by Cahier".into())),
        }
        let reserved = match storage.get(b"next-key").map_err(|e| open_err(e.to_string()))? {
            Some(v) => {
                u64::from_be_bytes(v.as_slice().try_into().map_err(|_| open_err("the reserved chunk keys are not a number".into()))?)
            }
            None => 0,
        };
        // Keys reserved before a restart may have been handed out: start past them.
        *storage.keys.lock().map_err(|_| open_err("poisoned".into()))? = (reserved, reserved);
        Ok(storage)
    }

    /// Opens the store in `dir` for reading only, beside a `cahier serve`
    /// that writes to it (or none): each read is one consistent snapshot, and
    /// [`Storage::scan`] reads the whole store in one. Every write fails.
    pub fn open_read_only(dir: &Path) -> Result<RedbStorage, StorageError> {
        let file = dir.join(REDB_FILE);
        if !file.exists() {
            let cause = if crate::kv::marker(dir).is_some() {
                "the store's file cahier.redb is missing"
            } else {
                "the folder holds no Cahier redb store"
            };
            return Err(StorageError::Corrupt { what: format!("store at {}", dir.display()), cause: cause.into() });
        }
        let db = guarded(dir, || builder().open_read_only(&file).map_err(|e| open_error(dir, e.into())))?;
        let storage = RedbStorage { db: RwLock::new((0, Some(Db::Reader(db)))), path: file, read_only: true, keys: Mutex::new((0, 0)) };
        match storage.get(b"format")? {
            Some(v) if v == FORMAT => Ok(storage),
            _ => Err(StorageError::Corrupt { what: format!("store at {}", dir.display()), cause: "it has no Cahier format marker".into() }),
        }
    }

    /// Runs `f` on the database, opening it again first when an earlier
    /// failure left redb refusing calls ("previous I/O error"); a call that
    /// meets that refusal is run once more on the database opened again
    /// (nothing of it took effect). While it cannot be opened again (a full
    /// disk, a read-only file system), each call tries again.
    fn with_db<T>(&self, f: impl Fn(&Db) -> Result<T, StorageError>) -> Result<T, StorageError> {
        let mut reopened = false;
        loop {
            let generation = {
                let guard = self.db.read().unwrap_or_else(std::sync::PoisonError::into_inner);
                match &guard.1 {
                    Some(db) => match f(db) {
                        Err(StorageError::Io(m)) if m == PREVIOUS_IO && !reopened => guard.0,
                        other => return other,
                    },
                    None => guard.0,
                }
            };
            let mut guard = self.db.write().unwrap_or_else(std::sync::PoisonError::into_inner);
            if guard.0 == generation {
                // The old handle holds the file's lock: it goes before the new one opens.
                guard.1 = None;
                let db = if self.read_only {
                    Db::Reader(builder().open_read_only(&self.path).map_err(|e| again(e.into()))?)
                } else {
                    Db::Writer(builder().create(&self.path).map_err(|e| again(e.into()))?)
                };
                *guard = (generation + 1, Some(db));
            }
            reopened = true;
        }
    }

    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StorageError> {
        self.with_db(|db| Self::get_in(db, key))
    }

    fn get_in(db: &Db, key: &[u8]) -> Result<Option<Vec<u8>>, StorageError> {
        let txn = db.begin_read().map_err(err)?;
        let table = match txn.open_table(TABLE) {
            // A store just created has no table until its first write.
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(None),
            table => table.map_err(err)?,
        };
        Ok(table.get(key).map_err(err)?.map(|v| v.value().to_vec()))
    }

    /// Every key and value whose key starts with `prefix`, in key order.
    fn scan_pairs(&self, prefix: &[u8]) -> Result<Vec<Pair>, StorageError> {
        self.with_db(|db| {
            let mut out = Vec::new();
            Self::walk(db, prefix, &mut |k, v| {
                out.push((k.to_vec(), v.to_vec()));
                Ok(())
            })?;
            Ok(out)
        })
    }

    /// Hands `f` every key and value whose key starts with `prefix`, in key
    /// order, all from one read transaction.
    fn walk(db: &Db, prefix: &[u8], f: &mut Visit<'_>) -> Result<(), StorageError> {
        let txn = db.begin_read().map_err(err)?;
        let table = match txn.open_table(TABLE) {
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(()),
            table => table.map_err(err)?,
        };
        for item in table.range(prefix..).map_err(err)? {
            let (k, v) = item.map_err(err)?;
            if !k.value().starts_with(prefix) {
                break;
            }
            f(k.value(), v.value())?;
        }
        Ok(())
    }

    /// Runs `f` in one write transaction and commits it durably.
    fn write(&self, f: impl FnOnce(&mut Table) -> Result<(), redb::Error>) -> Result<(), StorageError> {
        if self.read_only {
            return Err(StorageError::Io("the store was opened for reading only".into()));
        }
        // Taken once: a write refused before it began runs on the database opened again.
        let f = Mutex::new(Some(f));
        self.with_db(|db| {
            let Db::Writer(db) = db else { return Err(StorageError::Io("the store can only be read now".into())) };
            let txn = db.begin_write().map_err(err)?;
            let Some(f) = f.lock().unwrap_or_else(std::sync::PoisonError::into_inner).take() else {
                return Err(StorageError::Io("a write was tried twice".into()));
            };
            {
                let mut table = txn.open_table(TABLE).map_err(err)?;
                f(&mut table).map_err(err)?;
            }
            // `Durability::Immediate` is redb's default: commit returns once synced.
            txn.commit().map_err(err)?;
            Ok(())
        })
    }
}

/// Why the database could not be opened again after a failed write.
fn again(e: redb::Error) -> StorageError {
    StorageError::Io(format!("cannot open the store again: {e}"))
}

fn sync_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
}

fn open_error(dir: &Path, e: redb::Error) -> StorageError {
    match e {
        redb::Error::DatabaseAlreadyOpen => StorageError::Locked { path: dir.display().to_string() },
        redb::Error::Corrupted(cause) => StorageError::Corrupt { what: format!("store at {}", dir.display()), cause },
        e => StorageError::Open { path: dir.display().to_string(), cause: e.to_string() },
    }
}

/// What redb says once an I/O error happened, until the database is opened again.
const PREVIOUS_IO: &str = "an earlier write failed; the store is being opened again";

fn err(e: impl Into<redb::Error>) -> StorageError {
    match e.into() {
        redb::Error::Corrupted(cause) => StorageError::Corrupt { what: "redb".into(), cause },
        redb::Error::PreviousIo => StorageError::Io(PREVIOUS_IO.into()),
        e => StorageError::Io(e.to_string()),
    }
}

fn decode_entry(what: &str, bytes: &[u8]) -> Result<IndexEntry, StorageError> {
    serde_json::from_slice(bytes).map_err(|e| StorageError::Corrupt { what: what.to_owned(), cause: e.to_string() })
}

impl Storage for RedbStorage {
    fn load(&self, doc: &DocId) -> Result<Option<Vec<Chunk>>, StorageError> {
        let prefix = chunk_prefix(doc);
        let mut chunks = Vec::new();
        for (k, v) in self.scan_pairs(&prefix)? {
            chunks.push(decode_chunk(doc, &k, &v)?);
        }
        if chunks.is_empty() { Ok(None) } else { Ok(Some(chunks)) }
    }

    fn next_key(&self) -> Result<u64, StorageError> {
        let mut keys = self.keys.lock().map_err(|_| StorageError::Io("the chunk key lock is poisoned".into()))?;
        let (next, reserved) = *keys;
        if next >= reserved {
            let upto = next.checked_add(KEY_BLOCK).ok_or_else(|| StorageError::Io("chunk keys are exhausted".into()))?;
            self.write(|t| {
                t.insert(b"next-key".as_slice(), upto.to_be_bytes().as_slice())?;
                Ok(())
            })?;
            keys.1 = upto;
        }
        keys.0 = next + 1;
        Ok(next)
    }

    fn commit(&self, batch: Batch) -> Result<Vec<u64>, StorageError> {
        let mut entries = Vec::new();
        let mut keys = Vec::new();
        for write in &batch {
            match write {
                Write::Index(entry) => entries.push(serde_json::to_vec(entry).map_err(|e| StorageError::Io(e.to_string()))?),
                Write::Append { .. } => keys.push(self.next_key()?),
                _ => {}
            }
        }
        let mut entries = entries.into_iter();
        let mut appended = keys.clone().into_iter();
        self.write(|t| {
            for write in batch {
                match write {
                    Write::Append { doc, kind, bytes } => {
                        let key = appended.next().unwrap_or_default();
                        t.insert(chunk_key(&doc, key).as_slice(), encode_chunk(kind, &bytes).as_slice())?;
                    }
                    Write::Remove { doc, keys } => {
                        for key in keys {
                            t.remove(chunk_key(&doc, key).as_slice())?;
                        }
                    }
                    Write::Index(entry) => {
                        let json = entries.next().unwrap_or_default();
                        t.insert(format!("i/{}", entry.id).as_bytes(), json.as_slice())?;
                    }
                    Write::Slug { slug, owner: Some(owner) } => {
                        t.insert(format!("s/{slug}").as_bytes(), owner.as_str().as_bytes())?;
                    }
                    Write::Slug { slug, owner: None } => {
                        t.remove(format!("s/{slug}").as_bytes())?;
                    }
                }
            }
            Ok(())
        })?;
        Ok(keys)
    }

    fn list(&self) -> Result<Vec<IndexEntry>, StorageError> {
        self.scan_pairs(b"i/")?.iter().map(|(k, v)| decode_entry(&String::from_utf8_lossy(k), v)).collect()
    }

    fn entry(&self, doc: &DocId) -> Result<Option<IndexEntry>, StorageError> {
        match self.get(format!("i/{doc}").as_bytes())? {
            Some(v) => Ok(Some(decode_entry(&format!("index of {doc}"), &v)?)),
            None => Ok(None),
        }
    }

    fn storage_id(&self) -> Result<String, StorageError> {
        match self.get(b"storage-id")? {
            Some(v) => Ok(String::from_utf8_lossy(&v).into_owned()),
            None => Err(StorageError::Corrupt { what: format!("store {}", self.path.display()), cause: "no storage id".into() }),
        }
    }

    fn record(&self, key: &str) -> Result<Option<Vec<u8>>, StorageError> {
        self.get(format!("r/{key}").as_bytes())
    }

    fn records(&self, prefix: &str) -> Result<Vec<(String, Vec<u8>)>, StorageError> {
        Ok(self
            .scan_pairs(format!("r/{prefix}").as_bytes())?
            .into_iter()
            .map(|(k, v)| (String::from_utf8_lossy(&k[2..]).into_owned(), v))
            .collect())
    }

    fn put_records(&self, writes: Vec<(String, Option<Vec<u8>>)>) -> Result<(), StorageError> {
        self.write(|t| {
            for (k, v) in writes {
                match v {
                    Some(v) => {
                        t.insert(format!("r/{k}").as_bytes(), v.as_slice())?;
                    }
                    None => {
                        t.remove(format!("r/{k}").as_bytes())?;
                    }
                }
            }
            Ok(())
        })
    }

    /// The whole table from one read transaction: one consistent snapshot,
    /// while a server (in this process or another) goes on writing.
    fn scan(&self, visit: &mut dyn FnMut(Item) -> Result<(), StorageError>) -> Result<(), StorageError> {
        let visit = std::cell::RefCell::new(visit);
        self.with_db(|db| {
            let mut visit = visit.borrow_mut();
            Self::walk(db, b"", &mut |k, v| match crate::kv::item(k, v) {
                Some(item) => visit(item),
                None => Ok(()),
            })
        })
    }

    fn set_storage_id(&self, id: &str) -> Result<(), StorageError> {
        self.write(|t| {
            t.insert(b"storage-id".as_slice(), id.as_bytes())?;
            Ok(())
        })
    }

    fn find_slug(&self, slug: &str) -> Result<Option<DocId>, StorageError> {
        match self.get(format!("s/{slug}").as_bytes())? {
            None => Ok(None),
            Some(v) => {
                let s = String::from_utf8_lossy(&v);
                DocId::parse(&s).map(Some).map_err(|e| StorageError::Corrupt { what: format!("slug {slug}"), cause: e.to_string() })
            }
        }
    }
}

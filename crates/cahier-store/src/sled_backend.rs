//! The embedded backend: sled 0.34.7, one tree, atomic batches, flushed on commit.
//!
//! Keys (all in the default tree, so a batch spans them atomically):
//! - `c/<doc id>/<u64 big-endian>` → one byte of chunk kind, then the chunk;
//! - `i/<doc id>` → the index entry, as JSON;
//! - `s/<slug>` → the id of the document with that slug;
//! - `r/<key>` → Cahier's own records (accounts, sessions, invites, audit log);
//! - `format` → the storage format version, written when the store is created.
//!
//! A store whose folder has Cahier's marker (`kv.rs`) but whose sled files
//! were removed or emptied is refused, never made anew. sled reads its log up
//! to the first message that fails its checksum and silently drops the rest:
//! a flipped bit can leave a store that opens with fewer documents, or none.
//! Documents are never removed from the index, so the marker also holds how
//! many the index had when the store last opened or closed, and a store that
//! opens with fewer is refused.

use std::path::Path;

use cahier_doc::DocId;

use crate::kv::{chunk_key, chunk_prefix, decode_chunk, encode_chunk};
use crate::{Batch, Chunk, IndexEntry, Item, Storage, StorageError, Write};

/// The page cache sled may keep in memory.
const CACHE_BYTES: u64 = 32 * 1024 * 1024;

/// The storage format this build reads and writes.
const FORMAT: &[u8] = b"cahier-store/1";

pub struct SledStorage {
    db: sled::Db,
    dir: std::path::PathBuf,
}

impl Drop for SledStorage {
    /// Records how many documents the index holds, for the next open.
    fn drop(&mut self) {
        if self.db.flush().is_ok() {
            let indexed = self.db.scan_prefix(b"i/").count();
            let _ = crate::kv::write_marker(&self.dir, "sled", &format!("documents {indexed}\n"));
        }
    }
}

impl SledStorage {
    /// Opens the store in `dir`, creating it only if `dir` is missing or empty.
    /// A folder holding something else, or a store of another format, is refused:
    /// Cahier never starts empty over existing data.
    pub fn open(dir: &Path) -> Result<SledStorage, StorageError> {
        let open_err = |cause: String| StorageError::Open { path: dir.display().to_string(), cause };
        let fresh = match std::fs::read_dir(dir) {
            Ok(mut entries) => entries.next().is_none(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => true,
            Err(e) => return Err(open_err(e.to_string())),
        };
        let marked = crate::kv::marker(dir).is_some_and(|m| m == "sled");
        if !fresh && marked && !dir.join("conf").exists() {
            return Err(StorageError::Corrupt {
                what: format!("store at {}", dir.display()),
                cause: "sled's `conf` file is missing: the store's files were removed".into(),
            });
        }
        if !fresh && !dir.join("conf").exists() {
            return Err(open_err("the folder is not empty and holds no Cahier store; choose an empty folder or an existing store".into()));
        }
        // sled caches up to 1 GiB of pages by default; a small host cannot spare
        // that, and documents in use are in the server's memory anyway.
        let db = sled::Config::new().path(dir).cache_capacity(CACHE_BYTES).open().map_err(|e| match e {
            // sled reports a held lock only in its message (kind `Other`).
            sled::Error::Io(io) if io.to_string().starts_with("could not acquire lock") => {
                StorageError::Locked { path: dir.display().to_string() }
            }
            e @ sled::Error::Corruption { .. } => {
                StorageError::Corrupt { what: format!("store at {}", dir.display()), cause: format!("sled's files are damaged: {e}") }
            }
            e => open_err(e.to_string()),
        })?;
        match db.get("format").map_err(|e| open_err(e.to_string()))? {
            Some(v) if v.as_ref() == FORMAT => {}
            Some(v) => {
                return Err(open_err(format!(
                    "the store has format {:?}, this Cahier reads {:?}",
                    String::from_utf8_lossy(&v),
                    String::from_utf8_lossy(FORMAT)
                )));
            }
            None if marked => {
                let cause = if db.is_empty() {
                    "the store holds no data: its files were removed or truncated"
                } else {
                    "the store lost its format key: sled's files are damaged"
                };
                return Err(StorageError::Corrupt { what: format!("store at {}", dir.display()), cause: cause.into() });
            }
            None if db.is_empty() => {
                let mut id = [0u8; 16];
                getrandom::fill(&mut id).map_err(|e| open_err(format!("no randomness: {e}")))?;
                let id: String = id.iter().map(|b| format!("{b:02x}")).collect();
                db.insert("storage-id", id.as_bytes()).map_err(|e| open_err(e.to_string()))?;
                db.insert("format", FORMAT).map_err(|e| open_err(e.to_string()))?;
                db.flush().map_err(|e| open_err(e.to_string()))?;
                crate::kv::write_marker(dir, "sled", "documents 0\n")
                    .map_err(|e| open_err(format!("cannot write the store's marker: {e}")))?;
            }
            None => return Err(open_err("the store has data but no format marker; it was not written by Cahier".into())),
        }
        let indexed = db.scan_prefix(b"i/").count();
        if let Some(known) = crate::kv::marker_documents(dir).filter(|&known| known > indexed) {
            return Err(StorageError::Corrupt {
                what: format!("store at {}", dir.display()),
                cause: format!(
                    "sled's log is damaged: the store indexed {known} documents when it last opened or closed, it now opens with {indexed}"
                ),
            });
        }
        // A store made before the marker existed gets it now; a folder that
        // cannot be written to keeps working without it.
        let _ = crate::kv::write_marker(dir, "sled", &format!("documents {indexed}\n"));
        Ok(SledStorage { db, dir: dir.to_owned() })
    }
}

fn io(e: sled::Error) -> StorageError {
    match e {
        sled::Error::Corruption { .. } => StorageError::Corrupt { what: "sled".into(), cause: e.to_string() },
        e => StorageError::Io(e.to_string()),
    }
}

fn decode_entry(what: &str, bytes: &[u8]) -> Result<IndexEntry, StorageError> {
    serde_json::from_slice(bytes).map_err(|e| StorageError::Corrupt { what: what.to_owned(), cause: e.to_string() })
}

impl Storage for SledStorage {
    fn load(&self, doc: &DocId) -> Result<Option<Vec<Chunk>>, StorageError> {
        let prefix = chunk_prefix(doc);
        let mut chunks = Vec::new();
        for item in self.db.scan_prefix(&prefix) {
            let (k, v) = item.map_err(io)?;
            chunks.push(decode_chunk(doc, &k, &v)?);
        }
        if chunks.is_empty() { Ok(None) } else { Ok(Some(chunks)) }
    }

    fn next_key(&self) -> Result<u64, StorageError> {
        self.db.generate_id().map_err(io)
    }

    fn commit(&self, batch: Batch) -> Result<Vec<u64>, StorageError> {
        let mut b = sled::Batch::default();
        let mut keys = Vec::new();
        for write in batch {
            match write {
                Write::Append { doc, kind, bytes } => {
                    let key = self.next_key()?;
                    b.insert(chunk_key(&doc, key), encode_chunk(kind, &bytes));
                    keys.push(key);
                }
                Write::Remove { doc, keys } => {
                    for key in keys {
                        b.remove(chunk_key(&doc, key));
                    }
                }
                Write::Index(entry) => {
                    let json = serde_json::to_vec(&entry).map_err(|e| StorageError::Io(e.to_string()))?;
                    b.insert(format!("i/{}", entry.id).into_bytes(), json);
                }
                Write::Slug { slug, owner: Some(owner) } => {
                    b.insert(format!("s/{slug}").into_bytes(), owner.as_str().as_bytes());
                }
                Write::Slug { slug, owner: None } => {
                    b.remove(format!("s/{slug}").into_bytes());
                }
            }
        }
        self.db.apply_batch(b).map_err(io)?;
        self.db.flush().map_err(io)?;
        Ok(keys)
    }

    fn list(&self) -> Result<Vec<IndexEntry>, StorageError> {
        let mut out = Vec::new();
        for item in self.db.scan_prefix(b"i/") {
            let (k, v) = item.map_err(io)?;
            out.push(decode_entry(&String::from_utf8_lossy(&k), &v)?);
        }
        Ok(out)
    }

    fn entry(&self, doc: &DocId) -> Result<Option<IndexEntry>, StorageError> {
        match self.db.get(format!("i/{doc}")).map_err(io)? {
            Some(v) => Ok(Some(decode_entry(&format!("index of {doc}"), &v)?)),
            None => Ok(None),
        }
    }

    fn storage_id(&self) -> Result<String, StorageError> {
        match self.db.get("storage-id").map_err(io)? {
            Some(v) => Ok(String::from_utf8_lossy(&v).into_owned()),
            None => Err(StorageError::Corrupt { what: "store".into(), cause: "no storage id".into() }),
        }
    }

    fn record(&self, key: &str) -> Result<Option<Vec<u8>>, StorageError> {
        Ok(self.db.get(format!("r/{key}")).map_err(io)?.map(|v| v.to_vec()))
    }

    fn records(&self, prefix: &str) -> Result<Vec<(String, Vec<u8>)>, StorageError> {
        let mut out = Vec::new();
        for item in self.db.scan_prefix(format!("r/{prefix}")) {
            let (k, v) = item.map_err(io)?;
            out.push((String::from_utf8_lossy(&k[2..]).into_owned(), v.to_vec()));
        }
        Ok(out)
    }

    fn put_records(&self, writes: Vec<(String, Option<Vec<u8>>)>) -> Result<(), StorageError> {
        let mut b = sled::Batch::default();
        for (k, v) in writes {
            match v {
                Some(v) => b.insert(format!("r/{k}").into_bytes(), v),
                None => b.remove(format!("r/{k}").into_bytes()),
            }
        }
        self.db.apply_batch(b).map_err(io)?;
        self.db.flush().map_err(io)?;
        Ok(())
    }

    /// The whole tree in key order. Only one process can hold a sled store,
    /// so nothing writes while `cahier check` or `cahier backup` reads it.
    fn scan(&self, visit: &mut dyn FnMut(Item) -> Result<(), StorageError>) -> Result<(), StorageError> {
        for pair in self.db.iter() {
            let (k, v) = pair.map_err(io)?;
            if let Some(item) = crate::kv::item(&k, &v) {
                visit(item)?;
            }
        }
        Ok(())
    }

    fn set_storage_id(&self, id: &str) -> Result<(), StorageError> {
        self.db.insert("storage-id", id.as_bytes()).map_err(io)?;
        self.db.flush().map_err(io)?;
        Ok(())
    }

    fn find_slug(&self, slug: &str) -> Result<Option<DocId>, StorageError> {
        match self.db.get(format!("s/{slug}")).map_err(io)? {
            None => Ok(None),
            Some(v) => {
                let s = String::from_utf8_lossy(&v);
                DocId::parse(&s).map(Some).map_err(|e| StorageError::Corrupt { what: format!("slug {slug}"), cause: e.to_string() })
            }
        }
    }
}

//! `cahier backup` and `cahier restore`: a whole store in one file and back.
//!
//! The file: the line `cahier-backup/1`, then frames, each a tag byte, a
//! length (8 bytes, big-endian) and that many bytes:
//! - `S` the store's identity (automerge-repo's `storageId`);
//! - `D` a document's id, then its chunks as stored, `C` each (a kind byte,
//!   `s`napshot or `i`ncremental, then the bytes), then `H` its heads (32
//!   bytes each), or `X` why it did not load when the backup was taken (its
//!   chunks are kept as they were);
//! - `I` an index entry (JSON), `R` a record (its key's length, 4 bytes
//!   big-endian, the key, the value);
//! - `E` the SHA-256 of every byte before it, last.
//!
//! The backup reads the store with [`crate::Storage::scan`], so it is one
//! snapshot on redb and PostgreSQL while a server writes. A restore checks
//! the whole file's digest before it writes anything, writes into an empty
//! store, and loads every document again to compare its heads.

use std::io::{Read, Write};
use std::path::Path;

use automerge::ChangeHash;
use sha2::{Digest, Sha256};

use crate::{Chunk, ChunkKind, IndexEntry, Item, StorageError, Store, Write as StoreWrite};

const MAGIC: &[u8] = b"cahier-backup/1\n";

/// A frame longer than this is a damaged file, not a chunk.
const MAX_FRAME: u64 = 1 << 32;

/// What [`backup`] wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Backed {
    pub documents: usize,
    pub chunks: usize,
    pub records: usize,
    /// Documents that did not load, copied as they were: (id, why).
    pub damaged: Vec<(String, String)>,
}

/// What [`restore`] wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Restored {
    pub documents: usize,
    pub chunks: usize,
    pub records: usize,
    pub storage_id: String,
    /// Documents the backup held as damaged, restored as they were.
    pub damaged: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("the backup file is damaged or not a Cahier backup: {0}")]
    Invalid(String),
    #[error("the target store is not empty; restore into a new folder or an empty database")]
    NotEmpty,
    #[error("document {id} does not come back as it was backed up: {cause}")]
    Mismatch { id: String, cause: String },
}

/// Writes everything `store` holds to `out`.
pub fn backup(store: &Store, out: &mut dyn Write) -> Result<Backed, BackupError> {
    let mut out = Hashing { out, hash: Sha256::new() };
    out.put(MAGIC)?;
    let mut done = Backed { documents: 0, chunks: 0, records: 0, damaged: Vec::new() };
    let mut current: Option<(String, Vec<Result<Chunk, String>>)> = None;
    let mut failed: Option<std::io::Error> = None;
    let result = store.backend().scan(&mut |item| {
        let step = (|| -> std::io::Result<()> {
            match item {
                Item::Chunk { doc, chunk } => match &mut current {
                    Some((d, chunks)) if *d == doc => chunks.push(chunk),
                    slot => {
                        if let Some((d, chunks)) = slot.replace((doc, vec![chunk])) {
                            document(&mut out, &d, &chunks, &mut done)?;
                        }
                    }
                },
                other => {
                    if let Some((d, chunks)) = current.take() {
                        document(&mut out, &d, &chunks, &mut done)?;
                    }
                    match other {
                        Item::StorageId(id) => out.frame(b'S', id.as_bytes())?,
                        Item::Index { entry: Ok(entry), .. } => {
                            let json = serde_json::to_vec(&entry).map_err(std::io::Error::other)?;
                            out.frame(b'I', &json)?;
                        }
                        Item::Index { id, entry: Err(e) } => done.damaged.push((id, format!("its index entry does not decode: {e}"))),
                        Item::Record { key, value } => {
                            let mut bytes = Vec::with_capacity(4 + key.len() + value.len());
                            bytes.extend_from_slice(&(key.len() as u32).to_be_bytes());
                            bytes.extend_from_slice(key.as_bytes());
                            bytes.extend_from_slice(&value);
                            out.frame(b'R', &bytes)?;
                            done.records += 1;
                        }
                        // Addresses come back from the index entries.
                        Item::Slug { .. } | Item::Unknown { .. } | Item::Chunk { .. } => {}
                    }
                }
            }
            Ok(())
        })();
        step.map_err(|e| {
            let message = e.to_string();
            failed = Some(e);
            StorageError::Io(message)
        })
    });
    if let Some(e) = failed {
        return Err(BackupError::Io(e));
    }
    result?;
    if let Some((d, chunks)) = current.take() {
        document(&mut out, &d, &chunks, &mut done)?;
    }
    let digest = out.hash.clone().finalize();
    write_frame(out.out, b'E', &digest)?;
    out.out.flush()?;
    Ok(done)
}

/// One document's frames: its id, its chunks, its heads (or why it does not load).
fn document(out: &mut Hashing<'_>, doc: &str, chunks: &[Result<Chunk, String>], done: &mut Backed) -> std::io::Result<()> {
    out.frame(b'D', doc.as_bytes())?;
    for chunk in chunks.iter().flatten() {
        let mut bytes = Vec::with_capacity(chunk.bytes.len() + 1);
        bytes.push(match chunk.kind {
            ChunkKind::Snapshot => b's',
            ChunkKind::Incremental => b'i',
        });
        bytes.extend_from_slice(&chunk.bytes);
        out.frame(b'C', &bytes)?;
        done.chunks += 1;
    }
    match crate::check::examine(doc, chunks) {
        Ok(heads) => out.frame(b'H', &heads.iter().flat_map(|h| h.0).collect::<Vec<u8>>())?,
        Err(problem) => {
            out.frame(b'X', problem.as_bytes())?;
            done.damaged.push((doc.to_owned(), problem));
        }
    }
    done.documents += 1;
    Ok(())
}

/// Restores the backup file `file` into `to`, which must hold nothing yet,
/// and checks every document's heads. The file's digest is checked first: a
/// damaged file writes nothing.
pub fn restore(file: &Path, to: &Store) -> Result<Restored, BackupError> {
    verify(file)?;
    if !is_empty(to)? {
        return Err(BackupError::NotEmpty);
    }
    let mut done = Restored { documents: 0, chunks: 0, records: 0, storage_id: String::new(), damaged: 0 };
    let mut frames = Frames::open(file)?;
    let mut batch = Vec::new();
    let mut doc: Option<cahier_doc::DocId> = None;
    let mut expected: Vec<(cahier_doc::DocId, Vec<ChangeHash>)> = Vec::new();
    let mut entries = Vec::new();
    let mut records = Vec::new();
    let invalid = |what: &str| BackupError::Invalid(what.to_owned());
    while let Some((tag, bytes)) = frames.next()? {
        match tag {
            b'S' => done.storage_id = String::from_utf8(bytes).map_err(|_| invalid("a storage id that is not text"))?,
            b'D' => {
                let id = std::str::from_utf8(&bytes).map_err(|_| invalid("a document id that is not text"))?;
                doc = Some(cahier_doc::DocId::parse(id).map_err(|e| BackupError::Invalid(format!("document id {id:?}: {e}")))?);
            }
            b'C' => {
                let d = doc.clone().ok_or_else(|| invalid("a chunk outside a document"))?;
                let kind = match bytes.first() {
                    Some(b's') => ChunkKind::Snapshot,
                    Some(b'i') => ChunkKind::Incremental,
                    _ => return Err(invalid("a chunk of unknown kind")),
                };
                batch.push(StoreWrite::Append { doc: d, kind, bytes: bytes[1..].to_vec() });
                done.chunks += 1;
            }
            b'H' | b'X' => {
                let d = doc.take().ok_or_else(|| invalid("heads outside a document"))?;
                to.backend().commit(std::mem::take(&mut batch))?;
                if tag == b'H' {
                    let heads = bytes
                        .chunks(32)
                        .map(|h| ChangeHash::try_from(h).map_err(|_| invalid("a head that is not 32 bytes")))
                        .collect::<Result<Vec<_>, _>>()?;
                    expected.push((d, heads));
                } else {
                    done.damaged += 1;
                }
                done.documents += 1;
            }
            b'I' => {
                let entry: IndexEntry = serde_json::from_slice(&bytes).map_err(|e| BackupError::Invalid(format!("an index entry: {e}")))?;
                entries.push(entry);
                if entries.len() >= 256 {
                    commit_entries(to, &mut entries)?;
                }
            }
            b'R' => {
                let n = bytes.get(..4).map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize).ok_or_else(|| invalid("a record"))?;
                let key = bytes.get(4..4 + n).ok_or_else(|| invalid("a record's key"))?;
                let key = String::from_utf8(key.to_vec()).map_err(|_| invalid("a record key that is not text"))?;
                records.push((key, Some(bytes[4 + n..].to_vec())));
                done.records += 1;
                if records.len() >= 1000 {
                    to.put_records(std::mem::take(&mut records))?;
                }
            }
            _ => return Err(BackupError::Invalid(format!("an unknown frame {:?}", tag as char))),
        }
    }
    commit_entries(to, &mut entries)?;
    if !records.is_empty() {
        to.put_records(records)?;
    }
    if !done.storage_id.is_empty() {
        to.backend().set_storage_id(&done.storage_id)?;
    }
    for (id, heads) in expected {
        let loaded = to.load(&id).map_err(|e| BackupError::Mismatch { id: id.to_string(), cause: e.to_string() })?;
        let Some(loaded) = loaded else {
            return Err(BackupError::Mismatch { id: id.to_string(), cause: "it is missing".into() });
        };
        let mut got = loaded.doc.get_heads();
        got.sort();
        if got != heads {
            return Err(BackupError::Mismatch {
                id: id.to_string(),
                cause: format!("{} heads in the backup, {} restored", heads.len(), got.len()),
            });
        }
    }
    Ok(done)
}

/// Reads the whole backup file and checks its digest and frames.
pub fn verify(file: &Path) -> Result<(), BackupError> {
    let mut frames = Frames::open(file)?;
    while frames.next()?.is_some() {}
    Ok(())
}

fn commit_entries(to: &Store, entries: &mut Vec<IndexEntry>) -> Result<(), StorageError> {
    let mut batch = Vec::new();
    for entry in entries.drain(..) {
        if let (false, Ok(owner)) = (entry.slug.is_empty(), cahier_doc::DocId::parse(&entry.id)) {
            batch.push(StoreWrite::Slug { slug: entry.slug.clone(), owner: Some(owner) });
        }
        batch.push(StoreWrite::Index(entry));
    }
    if batch.is_empty() { Ok(()) } else { to.backend().commit(batch).map(drop) }
}

/// Whether the store holds nothing: no chunk, index entry, address or record.
fn is_empty(store: &Store) -> Result<bool, StorageError> {
    let mut empty = true;
    store.backend().scan(&mut |item| {
        if !matches!(item, Item::StorageId(_)) {
            empty = false;
        }
        Ok(())
    })?;
    Ok(empty)
}

/// A writer that hashes what it writes.
struct Hashing<'a> {
    out: &'a mut dyn Write,
    hash: Sha256,
}

impl Hashing<'_> {
    fn put(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.hash.update(bytes);
        self.out.write_all(bytes)
    }

    fn frame(&mut self, tag: u8, bytes: &[u8]) -> std::io::Result<()> {
        self.put(&[tag])?;
        self.put(&(bytes.len() as u64).to_be_bytes())?;
        self.put(bytes)
    }
}

fn write_frame(out: &mut dyn Write, tag: u8, bytes: &[u8]) -> std::io::Result<()> {
    out.write_all(&[tag])?;
    out.write_all(&(bytes.len() as u64).to_be_bytes())?;
    out.write_all(bytes)
}

/// The frames of a backup file, its digest checked at the end.
struct Frames {
    input: std::io::BufReader<std::fs::File>,
    hash: Sha256,
    ended: bool,
}

impl Frames {
    fn open(file: &Path) -> Result<Frames, BackupError> {
        let mut input = std::io::BufReader::new(std::fs::File::open(file)?);
        let mut magic = vec![0u8; MAGIC.len()];
        input.read_exact(&mut magic).map_err(|_| BackupError::Invalid("it is too short".into()))?;
        if magic != MAGIC {
            return Err(BackupError::Invalid("it does not start with `cahier-backup/1`".into()));
        }
        let mut hash = Sha256::new();
        hash.update(&magic);
        Ok(Frames { input, hash, ended: false })
    }

    /// The next frame before the end; `None` once the end frame's digest matched.
    fn next(&mut self) -> Result<Option<(u8, Vec<u8>)>, BackupError> {
        if self.ended {
            return Ok(None);
        }
        let cut = || BackupError::Invalid("it ends before its last frame (truncated?)".into());
        let mut head = [0u8; 9];
        self.input.read_exact(&mut head).map_err(|_| cut())?;
        let len = u64::from_be_bytes(head[1..].try_into().unwrap_or([0; 8]));
        if len > MAX_FRAME {
            return Err(BackupError::Invalid(format!("a frame of {len} bytes")));
        }
        let mut bytes = Vec::new();
        (&mut self.input).take(len).read_to_end(&mut bytes)?;
        if bytes.len() as u64 != len {
            return Err(cut());
        }
        if head[0] == b'E' {
            let digest = self.hash.clone().finalize();
            if digest.as_slice() != bytes.as_slice() {
                return Err(BackupError::Invalid("its SHA-256 checksum does not match its content".into()));
            }
            let mut rest = [0u8; 1];
            if self.input.read(&mut rest)? != 0 {
                return Err(BackupError::Invalid("bytes follow its last frame".into()));
            }
            self.ended = true;
            return Ok(None);
        }
        self.hash.update(head);
        self.hash.update(&bytes);
        Ok(Some((head[0], bytes)))
    }
}

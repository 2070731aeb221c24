//! How the two embedded stores (sled, redb) lay documents out in one ordered
//! key/value table: a chunk of document `D` under `c/D/` then its key (8 bytes,
//! big-endian, so a prefix scan returns chunks in order), its value one kind
//! byte (`s`napshot or `i`ncremental) then the chunk's bytes; and what each
//! key of that table is, for a scan of the whole store. Beside the store's
//! files, [`MARKER_FILE`] says which store the folder holds, so that a store
//! whose files were deleted or emptied is refused rather than made anew.

use cahier_doc::DocId;

use crate::{Chunk, ChunkKind, IndexEntry, Item, StorageError};

/// The file that says a folder holds a Cahier store, and which: `redb` or
/// `sled`, then a newline. Written once the new store's first commit is
/// durable (and, for a store made before it existed, at its next open).
pub const MARKER_FILE: &str = "cahier-store";

/// Which store the folder's marker names, if it has one.
pub(crate) fn marker(dir: &std::path::Path) -> Option<String> {
    let text = std::fs::read_to_string(dir.join(MARKER_FILE)).ok()?;
    text.lines().next().map(|s| s.trim().to_owned())
}

/// How many documents the marker says the store indexed when it last
/// opened or closed (sled's marker says; see `sled_backend.rs`).
pub(crate) fn marker_documents(dir: &std::path::Path) -> Option<usize> {
    let text = std::fs::read_to_string(dir.join(MARKER_FILE)).ok()?;
    text.lines().find_map(|l| l.strip_prefix("documents ")).and_then(|n| n.trim().parse().ok())
}

/// Writes the marker durably (the file, then the folder's entry for it):
/// the store's name, then more lines if `more` has any.
pub(crate) fn write_marker(dir: &std::path::Path, store: &str, more: &str) -> std::io::Result<()> {
    use std::io::Write;
    let partial = dir.join(format!("{MARKER_FILE}.partial"));
    let mut f = std::fs::File::create(&partial)?;
    f.write_all(format!("{store}\n{more}").as_bytes())?;
    f.sync_all()?;
    std::fs::rename(&partial, dir.join(MARKER_FILE))?;
    std::fs::File::open(dir)?.sync_all()
}

pub(crate) fn chunk_prefix(doc: &DocId) -> Vec<u8> {
    format!("c/{doc}/").into_bytes()
}

pub(crate) fn chunk_key(doc: &DocId, key: u64) -> Vec<u8> {
    let mut k = chunk_prefix(doc);
    k.extend_from_slice(&key.to_be_bytes());
    k
}

pub(crate) fn encode_chunk(kind: ChunkKind, bytes: &[u8]) -> Vec<u8> {
    let mut value = Vec::with_capacity(bytes.len() + 1);
    value.push(match kind {
        ChunkKind::Snapshot => b's',
        ChunkKind::Incremental => b'i',
    });
    value.extend_from_slice(bytes);
    value
}

/// The chunk stored under `key` (which starts with `chunk_prefix(doc)`).
pub(crate) fn decode_chunk(doc: &DocId, key: &[u8], value: &[u8]) -> Result<Chunk, StorageError> {
    let corrupt = |cause: &str| StorageError::Corrupt { what: format!("chunk of {doc}"), cause: cause.into() };
    let key_bytes: [u8; 8] = key.get(chunk_prefix(doc).len()..).and_then(|k| k.try_into().ok()).ok_or_else(|| corrupt("bad key"))?;
    let kind = match value.first() {
        Some(b's') => ChunkKind::Snapshot,
        Some(b'i') => ChunkKind::Incremental,
        _ => return Err(corrupt("unknown chunk kind")),
    };
    Ok(Chunk { key: u64::from_be_bytes(key_bytes), kind, bytes: value[1..].to_vec() })
}

/// What the pair `key`, `value` of the table is, for [`crate::Storage::scan`];
/// `None` for the bookkeeping keys (`format`, `next-key`).
pub(crate) fn item(key: &[u8], value: &[u8]) -> Option<Item> {
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    if let Some(rest) = key.strip_prefix(b"c/") {
        // `c/<doc>/<8 bytes>`: the id is what lies between.
        let Some(split) = rest.len().checked_sub(9).filter(|&at| rest[at] == b'/') else {
            return Some(Item::Chunk { doc: text(rest), chunk: Err("a chunk key that is not `c/<doc>/<key>`".into()) });
        };
        let (doc, key) = (text(&rest[..split]), &rest[split + 1..]);
        let number = u64::from_be_bytes(key.try_into().unwrap_or([0; 8]));
        let chunk = match value.first() {
            Some(b's') => Ok(Chunk { key: number, kind: ChunkKind::Snapshot, bytes: value[1..].to_vec() }),
            Some(b'i') => Ok(Chunk { key: number, kind: ChunkKind::Incremental, bytes: value[1..].to_vec() }),
            _ => Err(format!("chunk {number} has an unknown kind")),
        };
        return Some(Item::Chunk { doc, chunk });
    }
    if let Some(id) = key.strip_prefix(b"i/") {
        let entry = serde_json::from_slice::<IndexEntry>(value).map_err(|e| e.to_string());
        return Some(Item::Index { id: text(id), entry });
    }
    if let Some(slug) = key.strip_prefix(b"s/") {
        return Some(Item::Slug { slug: text(slug), owner: text(value) });
    }
    if let Some(record) = key.strip_prefix(b"r/") {
        return Some(Item::Record { key: text(record), value: value.to_vec() });
    }
    match key {
        b"storage-id" => Some(Item::StorageId(text(value))),
        b"format" | b"next-key" => None,
        other => Some(Item::Unknown { key: text(other) }),
    }
}

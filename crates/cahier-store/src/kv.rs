//! How the two embedded stores (sled, redb) lay documents out in one ordered
//! key/value table: a chunk of document `D` under `c/D/` then its key (8 bytes,
//! big-endian, so a prefix scan returns chunks in order), its value one kind
//! byte (`s`napshot or `i`ncremental) then the chunk's bytes.

use cahier_doc::DocId;

use crate::{Chunk, ChunkKind, StorageError};

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

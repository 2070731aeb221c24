//! Checks an incoming Automerge sync message before Automerge sees it.
//!
//! automerge 0.12 trusts every field of a decoded message: a Bloom filter that
//! declares entries but no bits makes `BloomFilter::contains_hash` divide by
//! zero, and a huge probe count makes it allocate and loop billions of times,
//! once per change. [`sync_message`] refuses such messages, so a hostile peer
//! gets an error and its own connection closed, and nobody else notices.

use automerge::{ChangeHash, sync};

/// Automerge's own filters use 7 probes and 10 bits per entry; anything far
/// above that is not a filter any client builds.
pub const MAX_BLOOM_PROBES: u64 = 64;
pub const MAX_BLOOM_BITS_PER_ENTRY: u64 = 64;
/// A peer sends one `have` per sync state it keeps with us: one in practice.
pub const MAX_HAVES: usize = 16;
/// Heads of a document, of a last sync, or hashes asked for. Each costs a
/// look-up; a document with this many concurrent heads is not one people write.
pub const MAX_HASHES: usize = 4096;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    #[error("too many `have` entries: {0}, at most {MAX_HAVES}")]
    TooManyHaves(usize),
    #[error("too many hashes in `{field}`: {count}, at most {MAX_HASHES}")]
    TooManyHashes { field: &'static str, count: usize },
    #[error("the hashes in `{0}` are not sorted")]
    Unsorted(&'static str),
    #[error("Bloom filter {0}")]
    Bloom(&'static str),
}

/// Refuses a message whose fields would make Automerge panic, allocate without
/// bound, or walk more than the message is worth.
pub fn sync_message(msg: &sync::Message) -> Result<(), Refused> {
    hashes("heads", &msg.heads)?;
    hashes("need", &msg.need)?;
    if msg.have.len() > MAX_HAVES {
        return Err(Refused::TooManyHaves(msg.have.len()));
    }
    for have in &msg.have {
        hashes("lastSync", &have.last_sync)?;
        bloom(&have.bloom)?;
    }
    Ok(())
}

/// Automerge writes every list of hashes sorted (and its own encoder asserts
/// it); a peer's unsorted list, echoed back in our messages, trips that
/// assertion (found by the `sync_live` fuzz target).
fn hashes(field: &'static str, list: &[ChangeHash]) -> Result<(), Refused> {
    if list.len() > MAX_HASHES {
        return Err(Refused::TooManyHashes { field, count: list.len() });
    }
    if !list.is_sorted() {
        return Err(Refused::Unsorted(field));
    }
    Ok(())
}

/// The filter's fields are private in automerge 0.12; its encoding is public
/// and is exactly what the peer sent: `num_entries`, `num_bits_per_entry`,
/// `num_probes` (LEB128), then the bits. An empty encoding is the empty filter.
fn bloom(filter: &sync::BloomFilter) -> Result<(), Refused> {
    let bytes = filter.to_bytes();
    if bytes.is_empty() {
        return Ok(());
    }
    let mut rest = bytes.as_slice();
    let entries = leb128(&mut rest).ok_or(Refused::Bloom("has a malformed header"))?;
    let bits_per_entry = leb128(&mut rest).ok_or(Refused::Bloom("has a malformed header"))?;
    let probes = leb128(&mut rest).ok_or(Refused::Bloom("has a malformed header"))?;
    if entries == 0 {
        return Ok(());
    }
    if bits_per_entry == 0 || bits_per_entry > MAX_BLOOM_BITS_PER_ENTRY {
        return Err(Refused::Bloom("has an impossible number of bits per entry"));
    }
    if probes == 0 || probes > MAX_BLOOM_PROBES {
        return Err(Refused::Bloom("has an impossible number of probes"));
    }
    let expected = (entries * bits_per_entry).div_ceil(8);
    if rest.is_empty() || rest.len() as u64 != expected {
        return Err(Refused::Bloom("does not hold the bits its header declares"));
    }
    Ok(())
}

/// One unsigned LEB128 number of at most 32 bits (what automerge reads).
fn leb128(input: &mut &[u8]) -> Option<u64> {
    let mut value: u64 = 0;
    for (i, byte) in input.iter().enumerate().take(5) {
        value |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            *input = &input[i + 1..];
            return (value <= u64::from(u32::MAX)).then_some(value);
        }
    }
    None
}

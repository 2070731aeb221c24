//! Relaying a writer's changes to a document's other peers before the
//! server's replica applies them.
//!
//! On a long history automerge 0.12 takes tens of milliseconds to apply a
//! keystroke (its batch apply walks the text object), and the store takes
//! longer still to make it durable. Neither is needed to pass a checked change
//! on: [`message`] builds the sync message that carries it to one peer at
//! once, in a form an unmodified Automerge peer takes as an ordinary sync
//! message. What the message says of the server stays true without the apply:
//!
//! - its `heads` are the ones last sent to that peer, so the peer learns
//!   nothing new of what the server holds (heads are the server's
//!   acknowledgement, and wait for the store);
//! - its first `have` is the one last sent to that peer (its `last_sync` is
//!   heads the peer has), and a second `have`, with no `last_sync`, holds a
//!   Bloom filter of what was relayed since: a peer sends the changes no
//!   filter holds, so it does not send the relayed changes back;
//! - `need` is empty (what the server lacks it asks for in its generated
//!   messages, and a peer whose last one withheld our `have` is not relayed
//!   to), and the flags are the ones upstream sets.
//!
//! On our side the peer's [`sync::State`] is updated as upstream's
//! `generate_sync_message` would for a message with these changes: they join
//! `sent_hashes` (so the next generated message does not carry them again)
//! and a message is in flight.

use automerge::sync::{self, BloomFilter, Have, MessageFlags};
use automerge::{Change, ChangeHash};

/// Whether a peer can take relayed changes: it was sent a generated message
/// with a `have` (the one to repeat, `last_have`), whose heads it holds, and
/// it reads what it is sent.
pub fn ready(state: &sync::State, last_have: Option<&Have>) -> bool {
    state.have_responded && !state.last_sent_heads.is_empty() && !state.peer_read_only && last_have.is_some()
}

/// The message relaying `changes` to a peer in `state`, which is updated as
/// for any message sent. `last_have` is the first `have` of the last message
/// generated for the peer; `relayed` the [`relayed_have`] of (at least) the
/// hashes relayed to it since then, those of `changes` among them. `changes`
/// must not be empty.
pub fn message(state: &mut sync::State, last_have: &Have, relayed: &Have, changes: &[&Change]) -> sync::Message {
    let v2 = state.their_capabilities.as_ref().is_some_and(|caps| caps.contains(&sync::Capability::MessageV2));
    let (chunks, version) = if v2 {
        let bytes: Vec<u8> = changes.iter().flat_map(|c| c.raw_bytes().iter().copied()).collect();
        (vec![bytes], sync::MessageVersion::V2)
    } else {
        (changes.iter().map(|c| c.raw_bytes().to_vec()).collect(), sync::MessageVersion::V1)
    };
    state.sent_hashes.extend(changes.iter().map(|c| c.hash()));
    state.in_flight = true;
    let mut flags = MessageFlags::new();
    flags.set(MessageFlags::SUPPORTS_SYNC_RESET);
    if state.read_only {
        flags.set(MessageFlags::READ_ONLY);
    }
    sync::Message {
        heads: state.last_sent_heads.clone(),
        need: Vec::new(),
        have: vec![last_have.clone(), relayed.clone()],
        changes: sync::ChunkList::from(chunks),
        flags: Some(flags),
        version,
    }
}

/// The `have` that tells a peer which relayed changes the server has though
/// it has not advertised them yet. Added to a generated message too, while
/// some relayed changes are still being applied.
pub fn relayed_have(relayed: &[ChangeHash]) -> Have {
    Have { last_sync: Vec::new(), bloom: BloomFilter::from_hashes(relayed.iter()) }
}

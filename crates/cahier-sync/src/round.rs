//! One sync round for many peers of one document, sharing the work.
//!
//! Automerge 0.12's `generate_sync_message` computes, for every peer, the
//! changes since the peer's last sync and a Bloom filter of the changes since
//! the heads both share. Each is a walk of the change graph, and on a busy
//! document most peers ask the same question (they were all sent the same
//! heads last round). [`Round`] asks Automerge once per distinct set of heads
//! and builds each peer's message from the answers, following upstream's
//! algorithm step by step. A peer in any state this does not cover (a first
//! sync, a reset, explicit needs, read-only flags, a message that would carry
//! much of the document) gets upstream's own `generate_sync_message`.
//! [`receive_applied`] is the receiving side, for messages whose changes the
//! round has already applied.

use std::collections::{HashMap, HashSet};

use automerge::sync::{self, SyncDoc};
use automerge::{Automerge, Change, ChangeHash, ReadDoc};

/// The changes each recent round added to a document, with the heads after it.
/// A peer's last sync is usually the heads of some recent round (the heads it
/// was sent), and the changes since then are exactly what the later rounds
/// added: no walk of the change graph needed.
#[derive(Default)]
pub struct RoundLog {
    rounds: std::collections::VecDeque<(Vec<ChangeHash>, Vec<Change>)>,
    kept: usize,
}

/// Changes the log keeps at most (oldest rounds dropped first).
const LOG_CHANGES: usize = 20_000;

impl RoundLog {
    /// Records what the document gained since the last call.
    pub fn advance(&mut self, doc: &Automerge) {
        let heads = doc.get_heads();
        match self.rounds.back() {
            Some((last, _)) if *last == heads => {}
            Some((last, _)) => {
                let new = doc.get_changes(last);
                self.kept += new.len();
                self.rounds.push_back((heads, new));
            }
            None => self.rounds.push_back((heads, Vec::new())),
        }
        while self.kept > LOG_CHANGES && self.rounds.len() > 1 {
            if let Some((_, dropped)) = self.rounds.pop_front() {
                self.kept -= dropped.len();
            }
        }
    }

    /// The changes that are not ancestors of `heads`, if `heads` are a logged round's.
    fn since(&self, heads: &[ChangeHash]) -> Option<Vec<&Change>> {
        let i = self.rounds.iter().rposition(|(h, _)| h == heads)?;
        Some(self.after(i))
    }

    /// The latest logged round whose heads are all among `heads`: the changes
    /// after it are a superset of those that are not ancestors of `heads`.
    fn within(&self, heads: &[ChangeHash]) -> Option<usize> {
        let heads: HashSet<&ChangeHash> = heads.iter().collect();
        self.rounds.iter().rposition(|(h, _)| h.iter().all(|x| heads.contains(x)))
    }

    fn after(&self, i: usize) -> Vec<&Change> {
        self.rounds.iter().skip(i + 1).flat_map(|(_, c)| c.iter()).collect()
    }
}

/// What every peer with the same last sync shares: the changes since then and
/// which of them depend on which.
struct Since<'a> {
    changes: Vec<&'a Change>,
    dependents: HashMap<ChangeHash, Vec<ChangeHash>>,
}

impl<'a> Since<'a> {
    fn new(changes: Vec<&'a Change>) -> Since<'a> {
        let hashes: HashSet<ChangeHash> = changes.iter().map(|c| c.hash()).collect();
        let mut dependents: HashMap<ChangeHash, Vec<ChangeHash>> = HashMap::new();
        for c in &changes {
            for dep in c.deps() {
                if hashes.contains(dep) {
                    dependents.entry(*dep).or_default().push(c.hash());
                }
            }
        }
        Since { changes, dependents }
    }
}

pub struct Round<'a> {
    doc: &'a Automerge,
    log: &'a RoundLog,
    heads: Vec<ChangeHash>,
    changes: usize,
    /// Changes fetched from Automerge when the log could not tell, kept for the round.
    fetched: &'a typed_arena::Arena<Vec<Change>>,
    since: HashMap<Vec<ChangeHash>, Since<'a>>,
    /// Our Bloom filters, by the logged round they start after (or by heads).
    blooms: HashMap<Result<usize, Vec<ChangeHash>>, sync::BloomFilter>,
}

impl<'a> Round<'a> {
    /// `log` must have been advanced to `doc`'s current heads; `arena` holds what
    /// the round fetches from Automerge.
    pub fn new(doc: &'a Automerge, log: &'a RoundLog, arena: &'a typed_arena::Arena<Vec<Change>>) -> Round<'a> {
        Round {
            doc,
            log,
            heads: doc.get_heads(),
            changes: doc.stats().num_changes as usize,
            fetched: arena,
            since: HashMap::new(),
            blooms: HashMap::new(),
        }
    }

    fn fetch(&self, heads: &[ChangeHash]) -> Vec<&'a Change> {
        self.fetched.alloc(self.doc.get_changes(heads)).iter().collect()
    }

    /// Our `have` for a peer: the changes since `heads` in a Bloom filter. Upstream
    /// lists exactly those; a superset (changes we also have) tells the peer
    /// nothing false.
    fn bloom(&mut self, heads: &[ChangeHash]) -> sync::BloomFilter {
        let key = self.log.within(heads).ok_or_else(|| heads.to_vec());
        if let Some(b) = self.blooms.get(&key) {
            return b.clone();
        }
        let changes = match &key {
            Ok(i) => self.log.after(*i),
            Err(h) => self.fetch(h),
        };
        let bloom = sync::BloomFilter::from_hashes(changes.iter().map(|c| c.hash()).collect::<Vec<_>>().iter());
        self.blooms.insert(key, bloom.clone());
        bloom
    }

    /// The next message for a peer, as `generate_sync_message` would make it.
    pub fn generate(&mut self, state: &mut sync::State) -> Option<sync::Message> {
        if nothing_to_send(state, &self.heads) {
            return None;
        }
        match self.shared(state) {
            Some(message) => message,
            None => self.doc.generate_sync_message(state),
        }
    }

    /// The message built from the round's shared work; `None` when the peer's
    /// state is not one this covers (then [`Round::generate`] asks Automerge).
    pub fn shared(&mut self, state: &mut sync::State) -> Option<Option<sync::Message>> {
        if state.read_only || state.peer_read_only || state.needs_reset {
            return None;
        }
        let their_heads = state.their_heads.as_ref()?;
        let [have] = state.their_have.as_deref()? else { return None };
        let need = state.their_need.as_ref()?;
        // Upstream would ask for what we lack, reset, or send the whole
        // document in these cases.
        if their_heads.is_empty()
            || !need.is_empty()
            || !self.doc.get_missing_deps(their_heads).is_empty()
            || !self.doc.get_missing_deps(&have.last_sync).is_empty()
        {
            return None;
        }
        let (last_sync, their_bloom) = (have.last_sync.clone(), have.bloom.clone());
        let shared_heads = state.shared_heads.clone();

        // The changes the peer lacks: not in its Bloom filter, and whatever depends on those.
        if !self.since.contains_key(&last_sync) {
            let changes = match self.log.since(&last_sync) {
                Some(c) => c,
                None => self.fetch(&last_sync),
            };
            self.since.insert(last_sync.clone(), Since::new(changes));
        }
        let since = &self.since[&last_sync];
        let mut send: HashSet<ChangeHash> = since.changes.iter().map(|c| c.hash()).filter(|h| !their_bloom.contains_hash(h)).collect();
        let mut stack: Vec<ChangeHash> = send.iter().copied().collect();
        while let Some(h) = stack.pop() {
            for d in since.dependents.get(&h).into_iter().flatten() {
                if send.insert(*d) {
                    stack.push(*d);
                }
            }
        }
        let to_send: Vec<&Change> =
            since.changes.iter().copied().filter(|c| send.contains(&c.hash()) && !state.sent_hashes.contains(&c.hash())).collect();
        let v2 = state.their_capabilities.as_ref().is_some_and(|caps| caps.contains(&sync::Capability::MessageV2));
        if to_send.len() > self.changes / 3 && v2 {
            return None;
        }
        let hashes: Vec<ChangeHash> = to_send.iter().map(|c| c.hash()).collect();
        let (chunks, version) = if v2 {
            let bytes: Vec<u8> = to_send.iter().flat_map(|c| c.raw_bytes().iter().copied()).collect();
            (if bytes.is_empty() { Vec::new() } else { vec![bytes] }, sync::MessageVersion::V2)
        } else {
            (to_send.iter().map(|c| c.raw_bytes().to_vec()).collect(), sync::MessageVersion::V1)
        };

        let heads_unchanged = state.last_sent_heads == self.heads;
        let heads_equal = state.their_heads.as_ref() == Some(&self.heads);
        if heads_unchanged && state.have_responded && ((heads_equal && hashes.is_empty()) || state.in_flight) {
            return Some(None);
        }
        let our_have = sync::Have { bloom: self.bloom(&shared_heads), last_sync: shared_heads };
        state.have_responded = true;
        state.last_sent_heads.clone_from(&self.heads);
        state.sent_hashes.extend(hashes.iter().copied());
        let mut flags = sync::MessageFlags::new();
        flags.set(sync::MessageFlags::SUPPORTS_SYNC_RESET);
        state.in_flight = true;
        Some(Some(sync::Message {
            heads: self.heads.clone(),
            need: Vec::new(),
            have: vec![our_have],
            changes: sync::ChunkList::from(chunks),
            flags: Some(flags),
            version,
        }))
    }
}

/// Whether `generate_sync_message` would return nothing for this peer, told
/// without computing the message: Automerge 0.12 builds its Bloom filter and
/// the list of changes to send (two walks of the change graph) before it
/// checks. Its own conditions: the peer has had our current heads, and either
/// a message is still unanswered or the peer holds exactly our heads and needs
/// nothing. Most peers of a busy document are in one of these after every
/// round, since each acknowledges what it was sent.
fn nothing_to_send(state: &sync::State, heads: &[ChangeHash]) -> bool {
    state.have_responded
        && state.last_sent_heads == heads
        && (state.in_flight || (state.their_heads.as_deref() == Some(heads) && state.their_need.as_ref().is_none_or(Vec::is_empty)))
}

/// `receive_sync_message` for a message whose changes `doc` already holds.
///
/// Automerge 0.12 walks the whole change graph on every received message to
/// drop from `sent_hashes` what the peer's heads cover; with hundreds of peers
/// acknowledging every round of a long document, that walk was most of the
/// server's time. Here the set is trimmed by the peer's heads themselves, and
/// emptied once the peer holds everything the server holds. What stays longer
/// is only what the peer has anyway (not sent to it again, as upstream), so the
/// messages generated afterwards are the same. Everything else is upstream's
/// bookkeeping, field by field.
pub fn receive_applied(doc: &Automerge, state: &mut sync::State, msg: sync::Message) {
    state.in_flight = false;
    if let Some(flags) = msg.flags {
        let mut caps = vec![sync::Capability::MessageV2];
        if flags.contains(sync::MessageFlags::SUPPORTS_SYNC_RESET) {
            caps.push(sync::Capability::SyncReset);
        }
        state.their_capabilities = Some(caps);
        if flags.contains(sync::MessageFlags::SYNC_RESET) {
            state.sent_hashes.clear();
        }
        state.peer_read_only = flags.contains(sync::MessageFlags::READ_ONLY);
    }
    let ours = doc.get_heads();
    if msg.heads == ours {
        state.sent_hashes.clear();
    } else {
        for h in &msg.heads {
            state.sent_hashes.remove(h);
        }
    }
    if msg.changes.is_empty() && msg.heads == ours {
        state.last_sent_heads.clone_from(&msg.heads);
    }
    let missing = doc.get_missing_deps(&msg.heads);
    if missing.is_empty() {
        state.shared_heads.clone_from(&msg.heads);
        if msg.heads.is_empty() {
            // The peer lost everything: a full sync again.
            state.last_sent_heads = Vec::new();
            state.sent_hashes = Default::default();
        }
    } else {
        state.shared_heads.extend(msg.heads.iter().filter(|h| !missing.contains(h)));
        state.shared_heads.sort();
        state.shared_heads.dedup();
    }
    state.their_have = Some(msg.have);
    state.their_heads = Some(msg.heads);
    state.their_need = Some(msg.need);
}

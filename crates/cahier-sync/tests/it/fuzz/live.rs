//! Sync messages on a live document, built from fuzzer bytes: the `sync_live`
//! target of `cargo fuzz` (`fuzz/`) and the normal test run, which replays the
//! target's corpus (`tests/corpus/sync-live`) through this same oracle.
//!
//! [`run`] reads the bytes with `arbitrary` as a script: a meeting with two
//! honest peers (a writer and a reader) and two attackers (a writer and a
//! reader) who hold real replicas of the document and send, among honest sync,
//! automerge-repo messages that are valid CBOR with real keys and hostile
//! values: real heads and changes mixed with unknown ones, huge or lying
//! counts, Bloom filters with no bits, billions of probes or the wrong size,
//! truncated or corrupted chunks, deep CBOR nesting, presence in another's
//! name. The oracle: nothing panics, the honest peers are never disturbed,
//! their next words reach the store and each other, and what was stored loads
//! again, into a fresh engine too.

use std::collections::{BTreeMap, HashMap};

use arbitrary::Unstructured;
use automerge::sync::{self, SyncDoc};
use automerge::transaction::Transactable;
use automerge::{Automerge, ChangeHash, ReadDoc};
use cahier_doc::{DocId, DocView, Editor};
use cahier_sync::wire::Message;
use cahier_sync::{Access, Config, ConnId, Hub, Input, Output, PersistKind, Policy};

/// The honest writer and reader.
pub const HONEST: [ConnId; 2] = [1, 4];
/// The attacking writer and reader.
pub const ATTACKERS: [ConnId; 2] = [2, 3];

/// 1 and 2 write; 3 and 4 only read.
struct Rights;

impl Policy for Rights {
    fn authorize(&self, conn: ConnId, _: &str, _: &DocId, access: Access) -> bool {
        access == Access::Read || conn == 1 || conn == 2
    }
}

/// An empty replica whose actor is fixed by its connection, so that an input
/// replays to the same hashes (random actors would order heads differently
/// from one run to the next).
fn replica(conn: ConnId) -> Automerge {
    cahier_doc::empty().with_actor(automerge::ActorId::from([conn as u8; 16]))
}

fn peer_id(conn: ConnId) -> String {
    format!("peer-{conn}")
}

/// The hub, a store that answers at once, and a real replica per connection.
struct Live {
    hub: Hub<Rights>,
    doc_id: DocId,
    now: u64,
    /// The store: every document as its persisted bytes load.
    stored: HashMap<DocId, Automerge>,
    replicas: BTreeMap<ConnId, (Automerge, sync::State)>,
    /// What each connection was told (errors, closes), in order.
    told: BTreeMap<ConnId, Vec<String>>,
}

impl Live {
    fn new(stored: HashMap<DocId, Automerge>, doc_id: DocId, first: Option<Automerge>) -> Live {
        let mut l = Live {
            hub: Hub::new(Config::new("server", "storage-1"), Rights),
            doc_id,
            now: 0,
            stored,
            replicas: BTreeMap::new(),
            told: BTreeMap::new(),
        };
        for conn in 1..=4 {
            let doc = match (&first, conn) {
                (Some(d), 1) => d.clone(),
                _ => replica(conn),
            };
            l.connect(conn, doc);
        }
        l
    }

    fn connect(&mut self, conn: ConnId, doc: Automerge) {
        self.hub.handle(self.now, Input::Connected { conn });
        let join = Message::Join { sender_id: peer_id(conn), supported_versions: Some(vec!["1".into()]), metadata: None };
        self.hub.handle(self.now, Input::Received { conn, bytes: join.encode() });
        self.replicas.insert(conn, (doc, sync::State::new()));
    }

    fn frame(&mut self, conn: ConnId, bytes: Vec<u8>) {
        self.hub.handle(self.now, Input::Received { conn, bytes });
    }

    fn sync_frame(&self, conn: ConnId, data: Vec<u8>) -> Vec<u8> {
        Message::Sync { sender_id: peer_id(conn), target_id: "server".into(), document_id: self.doc_id.to_string(), data }.encode()
    }

    /// Runs the replicas, the hub and the store until nothing moves; a meeting
    /// that never settles is a failure.
    fn run(&mut self) {
        for _ in 0..200 {
            let mut moved = false;
            let conns: Vec<ConnId> = self.replicas.keys().copied().collect();
            for conn in conns {
                let Some((doc, state)) = self.replicas.get_mut(&conn) else { continue };
                if let Some(msg) = doc.generate_sync_message(state) {
                    moved = true;
                    let bytes = self.sync_frame(conn, msg.encode());
                    self.frame(conn, bytes);
                }
            }
            for out in self.hub.flush() {
                moved = true;
                self.output(out);
            }
            if !moved {
                return;
            }
        }
        panic!("the meeting did not settle: {:?}", self.told);
    }

    fn output(&mut self, out: Output) {
        match out {
            Output::Load { doc } => {
                let result = Ok(self.stored.get(&doc).map(|d| (d.clone(), 1)));
                self.hub.handle(self.now, Input::Loaded { doc, result });
            }
            Output::Persist { doc, bytes, heads, kind, .. } => {
                let stored = self.stored.entry(doc.clone()).or_insert_with(cahier_doc::empty);
                if kind == PersistKind::Snapshot {
                    *stored = cahier_doc::load(&bytes).expect("a snapshot the engine persists loads");
                } else {
                    stored.load_incremental(&bytes).expect("the engine persists valid changes");
                }
                assert_eq!(stored.get_missing_deps(&[]), vec![], "the engine persists whole histories");
                self.hub.handle(self.now, Input::Persisted { doc, heads, result: Ok(()) });
            }
            Output::Send { conn, bytes } => match Message::decode(&bytes).expect("the engine sends valid messages") {
                Message::Sync { data, .. } => {
                    let msg = sync::Message::decode(&data).expect("the engine sends valid sync messages");
                    if let Some((doc, state)) = self.replicas.get_mut(&conn) {
                        doc.receive_sync_message(state, msg).expect("an honest replica takes what the engine sends");
                    }
                }
                Message::Error { message } => self.told.entry(conn).or_default().push(message),
                _ => {}
            },
            Output::Close { conn, reason } => {
                self.replicas.remove(&conn);
                self.told.entry(conn).or_default().push(format!("close: {reason}"));
            }
            Output::Applied { .. } | Output::Unload { .. } | Output::Forward { .. } => {}
        }
    }

    fn type_text(&mut self, conn: ConnId, text: &str) {
        let Some((doc, _)) = self.replicas.get_mut(&conn) else { return };
        let Ok(Some((_, body))) = doc.get(automerge::ROOT, "body") else { panic!("{conn} has the minutes") };
        let mut tx = doc.transaction();
        let len = tx.length(&body);
        tx.splice_text(&body, len, 0, text).expect("type");
        tx.commit();
    }

    fn body(&self, conn: ConnId) -> String {
        cahier_doc::read(&self.replicas[&conn].0, None).0.body
    }
}

/// Replays one input; panics when the oracle fails.
pub fn run(data: &[u8]) {
    let mut u = Unstructured::new(data);
    let doc_id = DocId::from_random([7; 16]);
    let mut first = replica(1);
    cahier_doc::apply_view(&mut first, &DocView::new_minutes("Réunion"), &Editor::new("camille"), 0, "create").expect("doc");
    let mut m = Live::new(HashMap::new(), doc_id.clone(), Some(first));
    m.type_text(1, "Ordre du jour. ");
    m.run();
    let acts = u.int_in_range(1..=6).unwrap_or(1);
    for _ in 0..acts {
        act(&mut u, &mut m);
        m.run();
        if u.ratio(1, 3).unwrap_or(false) {
            m.type_text(1, "Camille : oui. ");
            m.run();
        }
    }

    let stats = m.hub.stats();
    assert!(!stats.errors.contains_key("panic"), "a panic was caught: {:?}", stats.errors);
    for conn in HONEST {
        assert!(!m.told.contains_key(&conn), "honest peer {conn} was disturbed: {:?}", m.told.get(&conn));
    }
    m.type_text(1, "Suite.");
    m.run();
    let heads = m.replicas[&1].0.get_heads();
    assert!(m.body(1).ends_with("Suite."), "the writer's words: {:?}", m.body(1));
    assert_eq!(m.replicas[&4].0.get_heads(), heads, "the honest reader converges");
    assert_eq!(m.body(4), m.body(1), "the honest reader reads the same text");
    let stored = &m.stored[&doc_id];
    assert_eq!(stored.get_heads(), heads, "everything the writer wrote is stored");

    // What was stored loads again: as bytes, as a view, and in a fresh engine
    // that serves it to a new reader.
    let reloaded = cahier_doc::load(&stored.save()).expect("the stored document loads");
    assert_eq!(cahier_doc::read(&reloaded, None).0.body, m.body(1), "the stored document reads the same");
    let mut fresh = Live::new(m.stored.clone(), doc_id, None);
    fresh.run();
    assert_eq!(fresh.replicas[&4].0.get_heads(), heads, "a restarted engine serves the stored document");
}

/// One hostile act by an attacker, between rounds of honest sync.
fn act(u: &mut Unstructured<'_>, m: &mut Live) {
    let conn = pick(u, &ATTACKERS);
    if !m.replicas.contains_key(&conn) {
        // Closed: the attacker comes back on a new connection.
        m.connect(conn, replica(conn));
        m.run();
    }
    m.now += pick(u, &[0u64, 1, 999, 1000, 61_000]);
    match u.int_in_range(0..=9u8).unwrap_or(0) {
        0..=4 => {
            let data = sync_data(u, m, conn);
            let frame = if u.ratio(1, 4).unwrap_or(false) {
                Message::Request { sender_id: peer_id(conn), target_id: "server".into(), document_id: document_id(u, m), data }.encode()
            } else {
                m.sync_frame(conn, data)
            };
            m.frame(conn, frame);
        }
        5 => {
            let data = cbor_value(u, 0);
            let sender_id = if u.ratio(1, 2).unwrap_or(false) { peer_id(conn) } else { peer_id(pick(u, &HONEST)) };
            let msg = Message::Ephemeral {
                sender_id,
                target_id: "server".into(),
                count: count(u),
                session_id: "s".into(),
                document_id: document_id(u, m),
                data,
            };
            m.frame(conn, msg.encode());
        }
        6 => {
            let frame = hostile_frame(u, m, conn);
            m.frame(conn, frame);
        }
        7 => {
            let msg = match u.int_in_range(0..=3u8).unwrap_or(0) {
                0 => Message::RemoteSubscriptionChange {
                    sender_id: peer_id(conn),
                    target_id: "server".into(),
                    add: vec!["storage-1".into()],
                    remove: vec![],
                },
                1 => Message::RemoteHeadsChanged {
                    sender_id: peer_id(conn),
                    target_id: "server".into(),
                    document_id: document_id(u, m),
                    new_heads: vec![],
                },
                2 => Message::DocUnavailable { sender_id: peer_id(conn), target_id: "server".into(), document_id: document_id(u, m) },
                _ => Message::Join { sender_id: peer_id(conn), supported_versions: None, metadata: None },
            };
            m.frame(conn, msg.encode());
        }
        8 => m.hub.handle(m.now, Input::Tick),
        _ => {
            // The attacker leaves in the middle of things.
            m.hub.handle(m.now, Input::Disconnected { conn });
            m.replicas.remove(&conn);
        }
    }
}

fn pick<T: Copy>(u: &mut Unstructured<'_>, from: &[T]) -> T {
    u.choose(from).copied().unwrap_or(from[0])
}

/// A count as an attacker writes it: small, at a limit, or huge.
fn count(u: &mut Unstructured<'_>) -> u64 {
    match u.int_in_range(0..=3u8).unwrap_or(0) {
        0 => pick(u, &[0, 16, 17, 4096, 4097, 70_000, u64::from(u32::MAX), u64::from(u32::MAX) + 1, u64::MAX]),
        _ => u.int_in_range(0..=4).unwrap_or(0),
    }
}

fn document_id(u: &mut Unstructured<'_>, m: &Live) -> String {
    match u.int_in_range(0..=7u8).unwrap_or(0) {
        0 => DocId::from_random([u.arbitrary().unwrap_or(0); 16]).to_string(),
        1 => pick(u, &["", "x", "automerge:abc", "4NMNnkMhL8jXrdJ9jamS58PAVdXu"]).to_owned(),
        _ => m.doc_id.to_string(),
    }
}

fn leb(out: &mut Vec<u8>, mut n: u64) {
    loop {
        let b = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            out.push(b);
            return;
        }
        out.push(b | 0x80);
    }
}

/// A length prefix: the true one, or a lie.
fn prefix(u: &mut Unstructured<'_>, out: &mut Vec<u8>, len: usize) {
    let len = len as u64;
    let n = match u.int_in_range(0..=15u8).unwrap_or(0) {
        0 => count(u),
        1 => len + 1,
        2 => len.saturating_sub(1),
        _ => len,
    };
    leb(out, n);
}

fn random_bytes(u: &mut Unstructured<'_>, max: usize) -> Vec<u8> {
    let n = u.int_in_range(0..=max).unwrap_or(0);
    u.bytes(n).map(<[u8]>::to_vec).unwrap_or_default()
}

/// Change hashes: real ones of the attacker's replica, unknown ones, or far too many.
fn hashes(u: &mut Unstructured<'_>, real: &[ChangeHash]) -> Vec<ChangeHash> {
    let n = match u.int_in_range(0..=15u8).unwrap_or(0) {
        0 => pick(u, &[4096usize, 4097]),
        1..=5 => 0,
        _ => u.int_in_range(0..=3).unwrap_or(0),
    };
    let mut out: Vec<ChangeHash> = (0..n)
        .map(|_| match real.is_empty() || u.ratio(1, 3).unwrap_or(false) {
            true => ChangeHash(u.arbitrary().unwrap_or([0; 32])),
            false => real[u.choose_index(real.len()).unwrap_or(0)],
        })
        .collect();
    if u.ratio(3, 4).unwrap_or(true) {
        out.sort();
        out.dedup();
    }
    out
}

fn write_hashes(u: &mut Unstructured<'_>, out: &mut Vec<u8>, hashes: &[ChangeHash]) {
    prefix(u, out, hashes.len());
    for h in hashes {
        out.extend_from_slice(&h.0);
    }
}

/// A Bloom filter's encoding: a real one, the empty one, or hostile fields
/// with bits that match the declared size or not.
fn bloom(u: &mut Unstructured<'_>, real: &[ChangeHash]) -> Vec<u8> {
    match u.int_in_range(0..=3u8).unwrap_or(0) {
        0 => return Vec::new(),
        1 => return sync::BloomFilter::from_hashes(real.iter()).to_bytes(),
        _ => {}
    }
    let entries = pick(u, &[0u64, 1, 2, 100, 70_000, u64::from(u32::MAX), u64::from(u32::MAX) + 1]);
    let per_entry = pick(u, &[0u64, 1, 10, 64, 65, u64::from(u32::MAX)]);
    let probes = pick(u, &[0u64, 1, 7, 64, 65, 1 << 20, u64::from(u32::MAX)]);
    let mut out = Vec::new();
    leb(&mut out, entries);
    leb(&mut out, per_entry);
    leb(&mut out, probes);
    let declared = entries.saturating_mul(per_entry).div_ceil(8).min(1 << 16);
    let len = match u.int_in_range(0..=5u8).unwrap_or(0) {
        0 => declared.saturating_sub(1),
        1 => declared + 1,
        2 => 0,
        _ => declared,
    };
    let fill: u8 = u.arbitrary().unwrap_or(0xff);
    out.extend(std::iter::repeat_n(fill, len as usize));
    out
}

/// A chunk with a storage header whose length field lies.
fn lying_chunk(u: &mut Unstructured<'_>) -> Vec<u8> {
    let mut c = vec![0x85, 0x6f, 0x4a, 0x83];
    c.extend(u.bytes(4).unwrap_or(&[0; 4]));
    c.push(pick(u, &[0u8, 1, 2, 3]));
    leb(&mut c, count(u));
    c.extend(random_bytes(u, 16));
    c
}

/// `chunk` (one storage chunk) with its checksum set to the first four bytes
/// of the SHA-256 of its type, length and data, as Automerge checks it.
fn reseal(mut chunk: Vec<u8>) -> Vec<u8> {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(&chunk[8..]);
    chunk[4..8].copy_from_slice(&digest[..4]);
    chunk
}

/// The changes of a sync message: real ones of the attacker's replica (a new
/// one, the whole document, every change), broken ones, or made-up bytes.
fn chunks(u: &mut Unstructured<'_>, doc: &mut Automerge, honest: &Automerge) -> Vec<Vec<u8>> {
    let one = |u: &mut Unstructured<'_>, doc: &mut Automerge| -> Vec<u8> {
        match u.int_in_range(0..=9u8).unwrap_or(0) {
            0 => {
                let before = doc.get_heads();
                let mut tx = doc.transaction();
                let _ = tx.put(automerge::ROOT, "title", format!("titre {}", u.arbitrary::<u16>().unwrap_or(0)));
                if let Ok(Some((_, body))) = tx.get(automerge::ROOT, "body") {
                    let _ = tx.splice_text(&body, 0, 0, "x");
                }
                tx.commit();
                doc.save_after(&before)
            }
            1 => doc.save(),
            2 => doc.get_changes(&[]).last().map(|c| c.raw_bytes().to_vec()).unwrap_or_default(),
            3 => honest.save(),
            4 => {
                let mut c = doc.save();
                let cut = u.choose_index(c.len().max(1)).unwrap_or(0);
                c.truncate(cut);
                c
            }
            5 => {
                let mut c = doc.save();
                if !c.is_empty() {
                    let i = u.choose_index(c.len()).unwrap_or(0);
                    c[i] ^= 1 << u.int_in_range(0..=7).unwrap_or(0);
                }
                c
            }
            6 => match u.ratio(1, 2).unwrap_or(true) {
                true => lying_chunk(u),
                // Corrupt, with its checksum made right again: it gets past
                // Automerge's first check to the column decoders.
                false => {
                    let mut c = doc.save();
                    if c.len() > 8 {
                        let i = 8 + u.choose_index(c.len() - 8).unwrap_or(0);
                        c[i] ^= 1 << u.int_in_range(0..=7).unwrap_or(0);
                    }
                    reseal(c)
                }
            },
            7 => {
                // A change of the honest history without what it depends on.
                let changes = honest.get_changes(&[]);
                changes.get(u.choose_index(changes.len().max(1)).unwrap_or(0)).map(|c| c.raw_bytes().to_vec()).unwrap_or_default()
            }
            8 => Vec::new(),
            _ => random_bytes(u, 64),
        }
    };
    let n = u.int_in_range(0..=3).unwrap_or(0);
    (0..n).map(|_| one(u, doc)).collect()
}

/// The payload of a `sync`: a real message of the attacker's replica with
/// hostile fields, in automerge's encoding.
fn sync_data(u: &mut Unstructured<'_>, m: &mut Live, conn: ConnId) -> Vec<u8> {
    let honest = m.replicas[&1].0.clone();
    let Some((doc, state)) = m.replicas.get_mut(&conn) else { return Vec::new() };
    let real: Vec<ChangeHash> = doc.get_changes(&[]).iter().map(|c| c.hash()).collect();
    let genuine = doc.generate_sync_message(state);
    let mut out = vec![pick(u, &[0x42u8, 0x42, 0x42, 0x43])];
    let heads = match (&genuine, u.ratio(1, 2).unwrap_or(true)) {
        (Some(g), true) => g.heads.clone(),
        _ => hashes(u, &real),
    };
    write_hashes(u, &mut out, &heads);
    let need = hashes(u, &real);
    write_hashes(u, &mut out, &need);
    let haves = match u.int_in_range(0..=7u8).unwrap_or(0) {
        0 => pick(u, &[0usize, 2, 16, 17]),
        _ => 1,
    };
    prefix(u, &mut out, haves);
    for _ in 0..haves {
        let last = if u.ratio(1, 2).unwrap_or(true) { doc.get_heads() } else { hashes(u, &real) };
        write_hashes(u, &mut out, &last);
        let b = bloom(u, &real);
        prefix(u, &mut out, b.len());
        out.extend(b);
    }
    let changes = chunks(u, doc, &honest);
    prefix(u, &mut out, changes.len());
    for c in changes {
        prefix(u, &mut out, c.len());
        out.extend(c);
    }
    match u.int_in_range(0..=5u8).unwrap_or(0) {
        // Flags: sync reset, read-only, whatever bits.
        0 => {
            let flags = random_bytes(u, 3);
            prefix(u, &mut out, flags.len());
            out.extend(flags);
        }
        1 => out.extend(random_bytes(u, 4)),
        _ => {}
    }
    out
}

/// Some CBOR: scalars, strings, byte strings, and arrays, maps and tags nested
/// up to far deeper than anyone writes, definite or not.
fn cbor_value(u: &mut Unstructured<'_>, depth: usize) -> Vec<u8> {
    let mut out = Vec::new();
    cbor_into(u, depth, &mut out);
    out
}

fn cbor_into(u: &mut Unstructured<'_>, depth: usize, out: &mut Vec<u8>) {
    let kind = if depth > 200 { 0 } else { u.int_in_range(0..=9u8).unwrap_or(0) };
    match kind {
        0 => out.push(pick(u, &[0x00, 0x17, 0x18, 0xf4, 0xf5, 0xf6, 0xf7, 0x20])),
        1 => {
            out.push(0x1b);
            out.extend(u.bytes(8).unwrap_or(&[0xff; 8]));
        }
        2 => {
            out.push(0xfb);
            out.extend(u.bytes(8).unwrap_or(&[0x7f, 0xf8, 0, 0, 0, 0, 0, 0]));
        }
        3 => {
            let s = random_bytes(u, 12);
            out.push(0x60 | s.len() as u8);
            out.extend(s);
        }
        4 => {
            let s = random_bytes(u, 12);
            out.push(0x40 | s.len() as u8);
            out.extend(s);
        }
        5 | 6 => {
            // A deep chain of one-element arrays or maps.
            let levels = pick(u, &[1usize, 16, 17, 100, 1000]);
            for _ in 0..levels {
                out.push(if kind == 5 { 0x81 } else { 0xa1 });
                if kind == 6 {
                    out.push(0x61);
                    out.push(b'k');
                }
            }
            cbor_into(u, depth + levels, out);
        }
        7 => {
            let n = u.int_in_range(0..=3u8).unwrap_or(0);
            out.push(0x9f);
            for _ in 0..n {
                cbor_into(u, depth + 1, out);
            }
            out.push(0xff);
        }
        8 => {
            out.push(0xd8);
            out.push(pick(u, &[0x40u8, 0x18, 0x1e]));
            cbor_into(u, depth + 1, out);
        }
        _ => {
            // A header that declares more than follows.
            out.push(pick(u, &[0x5b, 0x7b, 0x9b, 0xbb]));
            be64(out, count(u));
        }
    }
}

fn be64(out: &mut Vec<u8>, n: u64) {
    out.extend_from_slice(&n.to_be_bytes());
}

/// A frame that is a CBOR map with the protocol's real keys, each holding a
/// value of the right type or not.
fn hostile_frame(u: &mut Unstructured<'_>, m: &Live, conn: ConnId) -> Vec<u8> {
    const TYPES: &[&str] = &[
        "sync",
        "request",
        "ephemeral",
        "join",
        "peer",
        "leave",
        "error",
        "doc-unavailable",
        "remote-subscription-change",
        "remote-heads-changed",
        "other",
    ];
    const KEYS: &[&str] = &[
        "senderId",
        "targetId",
        "documentId",
        "data",
        "count",
        "sessionId",
        "add",
        "remove",
        "newHeads",
        "message",
        "supportedProtocolVersions",
        "selectedProtocolVersion",
        "peerMetadata",
        "type",
    ];
    let ty = pick(u, TYPES);
    let extra: usize = u.int_in_range(0..=6).unwrap_or(0);
    let indefinite = u.ratio(1, 4).unwrap_or(false);
    let mut out = Vec::new();
    if indefinite {
        out.push(0xbf);
    } else {
        out.push(0xb8);
        out.push((4 + extra) as u8);
    }
    let text = |out: &mut Vec<u8>, s: &str| {
        out.push(0x78);
        out.push(s.len() as u8);
        out.extend_from_slice(s.as_bytes());
    };
    text(&mut out, "type");
    text(&mut out, ty);
    text(&mut out, "senderId");
    text(&mut out, &peer_id(conn));
    text(&mut out, "targetId");
    text(&mut out, "server");
    text(&mut out, "documentId");
    text(&mut out, &m.doc_id.to_string());
    for _ in 0..extra {
        text(&mut out, pick(u, KEYS));
        match u.int_in_range(0..=2u8).unwrap_or(0) {
            0 => cbor_into(u, 0, &mut out),
            1 => {
                // Bytes, as `data` should be.
                let b = random_bytes(u, 40);
                out.push(0x58);
                out.push(b.len() as u8);
                out.extend(b);
            }
            _ => text(&mut out, &peer_id(pick(u, &HONEST))),
        }
    }
    if indefinite {
        out.push(0xff);
    }
    out
}

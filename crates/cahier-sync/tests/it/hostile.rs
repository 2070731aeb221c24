//! Hostile sync messages, as a participant holding an invite link could send
//! them: the sender is refused and disconnected, everyone else keeps editing.

use std::collections::HashMap;

use automerge::sync::{self, SyncDoc};
use automerge::{Automerge, ChangeHash};
use cahier_doc::{DocId, DocView, Editor};
use cahier_sync::wire::Message;
use cahier_sync::{Config, ConnId, Hub, Input, Output, PersistKind};

/// Connections 1 and 2 write; 3 only reads.
pub(crate) struct Rights;

impl cahier_sync::Policy for Rights {
    fn authorize(&self, conn: ConnId, _: &str, _: &DocId, access: cahier_sync::Access) -> bool {
        conn != 3 || access == cahier_sync::Access::Read
    }
}

/// The hub with a store that answers at once, and one real Automerge replica
/// per connection.
pub(crate) struct Meeting {
    pub(crate) hub: Hub<Rights>,
    pub(crate) doc_id: DocId,
    stored: HashMap<DocId, Automerge>,
    pub(crate) replicas: HashMap<ConnId, (Automerge, sync::State)>,
    /// What each connection was told: errors and closes, in order.
    pub(crate) told: HashMap<ConnId, Vec<String>>,
    /// The store fails every write while this is set.
    pub(crate) full_disk: bool,
    /// What each acknowledged apply was answered.
    pub(crate) applied: HashMap<u64, Result<(), String>>,
    /// Presence received: (by whom, in whose name).
    pub(crate) presence: Vec<(ConnId, String)>,
    /// Sync messages for connections whose replica the test holds itself.
    pub(crate) held: HashMap<ConnId, Vec<Vec<u8>>>,
    /// Each persist asked for: whether it was a snapshot, and its bytes.
    pub(crate) persists: Vec<(bool, usize)>,
    /// Ephemeral messages passed on to other nodes: (document, sender).
    pub(crate) forwarded: Vec<(DocId, String)>,
}

impl Meeting {
    pub(crate) fn new() -> Meeting {
        Meeting::with(Config::new("server", "storage-1"))
    }

    pub(crate) fn with(config: Config) -> Meeting {
        let doc_id = DocId::from_random([7; 16]);
        let first = cahier_doc::new_document(&DocView::new_minutes("Réunion"), &Editor::new("camille"), 0).expect("doc");
        let mut m = Meeting {
            hub: Hub::new(config, Rights),
            doc_id,
            stored: HashMap::new(),
            replicas: HashMap::new(),
            told: HashMap::new(),
            full_disk: false,
            applied: HashMap::new(),
            presence: Vec::new(),
            held: HashMap::new(),
            persists: Vec::new(),
            forwarded: Vec::new(),
        };
        for conn in [1, 2, 3] {
            m.hub.handle(0, Input::Connected { conn });
            let join = Message::Join { sender_id: format!("peer-{conn}"), supported_versions: None, metadata: None };
            m.hub.handle(0, Input::Received { conn, bytes: join.encode() });
            let doc = if conn == 1 { first.clone() } else { Automerge::new() };
            m.replicas.insert(conn, (doc, sync::State::new()));
        }
        m.run();
        m
    }

    fn send(&mut self, conn: ConnId, msg: sync::Message) {
        self.send_data(conn, msg.encode());
    }

    /// Sends `data` as the payload of a `sync` message, whatever it holds.
    /// The document as the store holds it.
    pub(crate) fn stored_doc(&self) -> &Automerge {
        self.stored.get(&self.doc_id).expect("stored")
    }

    pub(crate) fn send_data(&mut self, conn: ConnId, data: Vec<u8>) {
        let sync =
            Message::Sync { sender_id: format!("peer-{conn}"), target_id: "server".into(), document_id: self.doc_id.to_string(), data };
        self.hub.handle(0, Input::Received { conn, bytes: sync.encode() });
    }

    /// Runs the replicas, the hub and the store until nothing moves.
    pub(crate) fn run(&mut self) {
        for _ in 0..100 {
            let mut moved = false;
            let conns: Vec<ConnId> = self.replicas.keys().copied().collect();
            for conn in conns {
                let Some((doc, state)) = self.replicas.get_mut(&conn) else { continue };
                if let Some(msg) = doc.generate_sync_message(state) {
                    moved = true;
                    self.send(conn, msg);
                }
            }
            for out in self.hub.flush() {
                moved = true;
                match out {
                    Output::Load { doc } => {
                        let result = Ok(self.stored.get(&doc).map(|d| (d.clone(), 0)));
                        self.hub.handle(0, Input::Loaded { doc, result });
                    }
                    Output::Persist { doc, heads, .. } if self.full_disk => {
                        self.hub.handle(0, Input::Persisted { doc, heads, result: Err("No space left on device".into()) });
                    }
                    Output::Persist { doc, bytes, heads, kind, .. } => {
                        self.persists.push((kind == PersistKind::Snapshot, bytes.len()));
                        let stored = self.stored.entry(doc.clone()).or_default();
                        stored.load_incremental(&bytes).expect("the hub persists valid changes");
                        self.hub.handle(0, Input::Persisted { doc, heads, result: Ok(()) });
                    }
                    Output::Applied { ack, result } => {
                        self.applied.insert(ack, result);
                    }
                    Output::Send { conn, bytes } => match Message::decode(&bytes).expect("the hub sends valid messages") {
                        Message::Sync { data, .. } => {
                            if let Some((doc, state)) = self.replicas.get_mut(&conn) {
                                let msg = sync::Message::decode(&data).expect("valid sync");
                                doc.receive_sync_message(state, msg).expect("apply");
                            } else {
                                self.held.entry(conn).or_default().push(data);
                            }
                        }
                        Message::Error { message } => self.told.entry(conn).or_default().push(message),
                        Message::Ephemeral { sender_id, .. } => self.presence.push((conn, sender_id)),
                        _ => {}
                    },
                    Output::Close { conn, reason } => {
                        self.replicas.remove(&conn);
                        self.told.entry(conn).or_default().push(format!("close: {reason}"));
                    }
                    Output::Unload { .. } => {}
                    Output::Forward { doc, message } => self.forwarded.push((doc, message.sender_id)),
                }
            }
            if !moved {
                return;
            }
        }
        panic!("the meeting did not settle: {:?}", self.hub.stats());
    }

    pub(crate) fn type_text(&mut self, conn: ConnId, text: &str) {
        use automerge::ReadDoc;
        use automerge::transaction::Transactable;
        let (doc, _) = self.replicas.get_mut(&conn).expect("connected");
        let body = match doc.get(automerge::ROOT, "body").expect("read") {
            Some((_, id)) => id,
            None => panic!("the replica has the minutes"),
        };
        let mut tx = doc.transaction();
        let len = tx.length(&body);
        tx.splice_text(&body, len, 0, text).expect("type");
        tx.commit();
    }

    pub(crate) fn body(&self, conn: ConnId) -> String {
        cahier_doc::read(&self.replicas[&conn].0, None).0.body
    }

    pub(crate) fn stored_heads(&self) -> Vec<ChangeHash> {
        self.stored[&self.doc_id].get_heads()
    }

    /// A new connection whose client holds `doc`, with a new sync state (as
    /// after any reconnection).
    pub(crate) fn connect(&mut self, conn: ConnId, doc: Automerge) {
        self.hub.handle(0, Input::Connected { conn });
        let join = Message::Join { sender_id: format!("peer-{conn}"), supported_versions: None, metadata: None };
        self.hub.handle(0, Input::Received { conn, bytes: join.encode() });
        self.replicas.insert(conn, (doc, sync::State::new()));
    }
}

/// A Bloom filter exactly as a hostile peer encodes it.
fn bloom(bytes: &[u8]) -> sync::BloomFilter {
    sync::BloomFilter::try_from(bytes).expect("automerge 0.12 accepts this filter")
}

/// Each hostile `have`, sent by a writer along with a real change (the persist
/// path) and by a reader without one (the apply path).
fn check(have: sync::Have) {
    for (attacker, with_change) in [(2, true), (3, false)] {
        let mut m = Meeting::new();
        m.type_text(1, "Camille : bonjour à tous.");
        m.run();
        let msg = {
            let (doc, state) = m.replicas.get_mut(&attacker).expect("attacker");
            if with_change {
                use automerge::transaction::Transactable;
                let mut tx = doc.transaction();
                tx.put(automerge::ROOT, "title", "Piégé").expect("put");
                tx.commit();
            }
            let mut msg =
                doc.generate_sync_message(state).unwrap_or_else(|| doc.generate_sync_message(&mut sync::State::new()).expect("a message"));
            if with_change {
                msg.changes = doc.save().into();
            }
            msg.heads = vec![ChangeHash([9; 32])];
            msg.have = vec![have.clone()];
            msg
        };
        m.send(attacker, msg);
        m.run();
        let told = &m.told[&attacker];
        assert!(told[0].contains("refused sync message"), "the attacker is told: {told:?}");
        assert!(told.last().is_some_and(|t| t.starts_with("close:")), "and disconnected: {told:?}");
        assert!(!m.hub.stats().errors.contains_key("panic"), "no panic: {:?}", m.hub.stats().errors);
        // The meeting goes on: the other participant's words reach the store
        // and the first writer.
        let other = if attacker == 2 { 3 } else { 2 };
        if other == 2 {
            m.type_text(2, " Léo : on commence.");
        } else {
            m.type_text(1, " Léo : on commence.");
        }
        m.run();
        assert!(!m.told.contains_key(&1), "the first writer was never disturbed: {:?}", m.told.get(&1));
        assert!(m.body(1).ends_with("on commence."), "{}", m.body(1));
        assert_eq!(m.body(other), m.body(1));
        assert_eq!(m.stored_heads(), m.replicas[&1].0.get_heads(), "everything is stored");
        assert_ne!(cahier_doc::read(&m.stored[&m.doc_id], None).0.title, "Piégé", "nothing of the attacker was kept");
    }
}

#[test]
fn a_bloom_filter_without_bits_is_refused() {
    check(sync::Have { last_sync: vec![], bloom: bloom(&[1, 0, 1]) });
}

#[test]
fn a_bloom_filter_with_billions_of_probes_is_refused() {
    // 1 entry, 10 bits per entry (2 bytes of bits), 2³²−1 probes.
    check(sync::Have { last_sync: vec![], bloom: bloom(&[1, 10, 0xff, 0xff, 0xff, 0xff, 0x0f, 0xff, 0x03]) });
}

#[test]
fn too_many_last_sync_heads_are_refused() {
    let last_sync = (0..5000u32).map(|i| {
        let mut h = [0; 32];
        h[..4].copy_from_slice(&i.to_be_bytes());
        ChangeHash(h)
    });
    check(sync::Have { last_sync: last_sync.collect(), bloom: sync::BloomFilter::default() });
}

#[test]
fn before_join_only_a_small_handshake_is_read() {
    let mut hub = Hub::new(Config::new("server", "storage-1"), Rights);
    hub.handle(0, Input::Connected { conn: 1 });
    let big = Message::Join { sender_id: "x".repeat(200), supported_versions: Some(vec!["1".into(); 2000]), metadata: None };
    assert!(big.encode().len() > cahier_sync::router::MAX_JOIN_BYTES);
    hub.handle(0, Input::Received { conn: 1, bytes: big.encode() });
    let out = hub.flush();
    let said: Vec<String> = out
        .iter()
        .filter_map(|o| match o {
            Output::Send { bytes, .. } => Some(format!("{:?}", Message::decode(bytes).expect("valid"))),
            Output::Close { reason, .. } => Some(format!("close: {reason}")),
            _ => None,
        })
        .collect();
    assert!(said[0].contains("the first message must be a join of at most 4096 bytes"), "{said:?}");
    assert!(said[1].starts_with("close:"), "{said:?}");
    // An ordinary join is still answered.
    hub.handle(0, Input::Connected { conn: 2 });
    let join = Message::Join { sender_id: "peer-2".into(), supported_versions: Some(vec!["1".into()]), metadata: None };
    hub.handle(0, Input::Received { conn: 2, bytes: join.encode() });
    assert!(
        hub.flush()
            .iter()
            .any(|o| matches!(o, Output::Send { conn: 2, bytes } if matches!(Message::decode(bytes), Ok(Message::Peer { .. }))))
    );
}

#[test]
fn refused_requests_load_nothing_and_look_like_missing_documents() {
    /// Connection 1 may read everything, 2 nothing.
    struct OnlyOne;
    impl cahier_sync::Policy for OnlyOne {
        fn authorize(&self, conn: ConnId, _: &str, _: &DocId, _: cahier_sync::Access) -> bool {
            conn == 1
        }
    }
    let mut hub = Hub::new(Config::new("server", "storage-1"), OnlyOne);
    hub.handle(0, Input::Connected { conn: 2 });
    let join = Message::Join { sender_id: "stranger".into(), supported_versions: None, metadata: None };
    hub.handle(0, Input::Received { conn: 2, bytes: join.encode() });
    hub.flush();
    let data = cahier_doc::empty().generate_sync_message(&mut sync::State::new()).expect("msg").encode();
    for i in 0..200u8 {
        let document_id = DocId::from_random([i; 16]).to_string();
        let request = Message::Request {
            sender_id: "stranger".into(),
            target_id: "server".into(),
            document_id: document_id.clone(),
            data: data.clone(),
        };
        hub.handle(0, Input::Received { conn: 2, bytes: request.encode() });
        let out = hub.flush();
        assert!(!out.iter().any(|o| matches!(o, Output::Load { .. })), "nothing is loaded for a refused request");
        let answers: Vec<Message> = out
            .iter()
            .filter_map(|o| match o {
                Output::Send { bytes, .. } => Message::decode(bytes).ok(),
                _ => None,
            })
            .collect();
        assert!(matches!(answers.as_slice(), [Message::DocUnavailable { document_id: d, .. }] if *d == document_id), "{answers:?}");
    }
    assert_eq!(hub.stats().documents_loaded, 0, "no document is kept in memory");
}

/// A change the server makes itself (a restore, an import), from the stored
/// document: the text appended to the body.
fn server_change(m: &Meeting, text: &str) -> Vec<u8> {
    use automerge::ReadDoc;
    use automerge::transaction::Transactable;
    let mut doc = m.stored[&m.doc_id].clone();
    let body = doc.get(automerge::ROOT, "body").expect("read").expect("a body").1;
    let len = doc.length(&body);
    let mut tx = doc.transaction();
    tx.splice_text(&body, len, 0, text).expect("type");
    tx.commit();
    doc.get_last_local_change().expect("a change").raw_bytes().to_vec()
}

#[test]
fn a_change_the_server_makes_is_confirmed_only_once_stored() {
    let mut m = Meeting::new();
    m.type_text(1, "Notes.");
    m.run();
    let changes = server_change(&m, " Restauré.");
    m.hub.handle(0, Input::Apply { doc: m.doc_id.clone(), changes, ack: Some(1) });
    m.run();
    assert_eq!(m.applied.get(&1), Some(&Ok(())));
    assert!(cahier_doc::read(&m.stored[&m.doc_id], None).0.body.ends_with("Restauré."), "stored before confirmed");
    assert!(m.body(1).ends_with("Restauré."), "and sent to the open editors");
    // With the disk full, the same kind of change is reported as not stored.
    m.full_disk = true;
    let changes = server_change(&m, " Perdu ?");
    m.hub.handle(0, Input::Apply { doc: m.doc_id.clone(), changes, ack: Some(2) });
    m.run();
    let answer = m.applied.get(&2).expect("an answer");
    assert!(answer.as_ref().is_err_and(|e| e.contains("No space left")), "{answer:?}");
    assert!(!cahier_doc::read(&m.stored[&m.doc_id], None).0.body.contains("Perdu"));
    // A change built on history the document does not hold is never confirmed.
    m.full_disk = false;
    let mut other = cahier_doc::new_document(&DocView::new_page("Autre"), &Editor::new("x"), 0).expect("doc");
    {
        use automerge::transaction::Transactable;
        let mut tx = other.transaction();
        tx.put(automerge::ROOT, "title", "Autre titre").expect("put");
        tx.commit();
    }
    let orphan = other.get_last_local_change().expect("a change").raw_bytes().to_vec();
    m.hub.handle(0, Input::Apply { doc: m.doc_id.clone(), changes: orphan, ack: Some(3) });
    m.run();
    assert!(m.applied.get(&3).is_some_and(Result::is_err), "{:?}", m.applied.get(&3));
}

#[test]
fn presence_is_relayed_only_in_its_senders_own_name_and_small() {
    let mut m = Meeting::new();
    m.run();
    let mut data = Vec::new();
    minicbor::encode(["Léo", "hsl(200 70% 40%)"], &mut data).expect("cbor");
    let presence = |sender: &str, data: Vec<u8>| Message::Ephemeral {
        sender_id: sender.into(),
        target_id: "server".into(),
        count: 1,
        session_id: "s".into(),
        document_id: DocId::from_random([7; 16]).to_string(),
        data,
    };
    // In another peer's name (or passed on from it): relayed to nobody.
    m.hub.handle(0, Input::Received { conn: 2, bytes: presence("peer-1", data.clone()).encode() });
    m.run();
    assert!(m.presence.is_empty(), "{:?}", m.presence);
    // In its own name: to everyone else.
    m.hub.handle(0, Input::Received { conn: 2, bytes: presence("peer-2", data).encode() });
    m.run();
    let mut got = m.presence.clone();
    got.sort();
    assert_eq!(got, [(1, "peer-2".to_owned()), (3, "peer-2".to_owned())]);
    // Far larger than any presence: refused, the sender told.
    let mut big = Vec::new();
    minicbor::encode(minicbor::bytes::ByteVec::from(vec![0u8; 100_000]), &mut big).expect("cbor");
    m.hub.handle(0, Input::Received { conn: 2, bytes: presence("peer-2", big).encode() });
    m.run();
    assert!(m.told.get(&2).is_some_and(|t| t[0].contains("ephemeral message too large")), "{:?}", m.told.get(&2));
    assert_eq!(m.presence.len(), 2, "nothing of it relayed");
}

/// A colour goes into every other editor's `style`: one sent on its own
/// (an `update` of the `color` channel) must be a plain colour too, and an
/// update of another channel passes.
#[test]
fn a_presence_update_with_css_for_a_colour_is_refused() {
    let mut m = Meeting::new();
    m.run();
    let update = |channel: &str, value: &str| {
        let mut data = Vec::new();
        let mut e = minicbor::Encoder::new(&mut data);
        e.map(1).and_then(|e| e.str("__presence")).and_then(|e| e.map(3)).expect("cbor");
        e.str("type").and_then(|e| e.str("update")).and_then(|e| e.str("channel")).and_then(|e| e.str(channel)).expect("cbor");
        e.str("value").and_then(|e| e.str(value)).expect("cbor");
        Message::Ephemeral {
            sender_id: "peer-2".into(),
            target_id: "server".into(),
            count: 1,
            session_id: "s".into(),
            document_id: DocId::from_random([7; 16]).to_string(),
            data,
        }
    };
    m.hub.handle(0, Input::Received { conn: 2, bytes: update("status", "en train d'écrire").encode() });
    m.hub.handle(0, Input::Received { conn: 2, bytes: update("color", "#1a7f37").encode() });
    m.run();
    assert_eq!(m.presence.len(), 4, "both relayed to the two others: {:?}", m.presence);
    m.hub.handle(0, Input::Received { conn: 2, bytes: update("color", "red;background:url(//evil.example)").encode() });
    m.run();
    assert!(m.told.get(&2).is_some_and(|t| t[0].contains("is not a colour")), "{:?}", m.told.get(&2));
    assert_eq!(m.presence.len(), 4, "nothing of it relayed");
    // The value before its channel, or a harmless channel then the real one
    // (a client keeps the last): refused all the same.
    let shuffled = |keys: &[(&str, &str)]| {
        let mut data = Vec::new();
        let mut e = minicbor::Encoder::new(&mut data);
        e.map(1).and_then(|e| e.str("__presence")).and_then(|e| e.map(keys.len() as u64 + 1)).expect("cbor");
        e.str("type").and_then(|e| e.str("update")).expect("cbor");
        for (k, v) in keys {
            e.str(k).and_then(|e| e.str(v)).expect("cbor");
        }
        data
    };
    for keys in [
        &[("value", "url(//evil.example)"), ("channel", "color")][..],
        &[("channel", "status"), ("value", "url(//evil.example)"), ("channel", "color")][..],
    ] {
        assert!(cahier_sync::presence::check(&shuffled(keys), None).is_err_and(|e| e.contains("is not a colour")), "{keys:?}");
    }
    for ok in ["#abc", "#A1B2C3", "#a1b2c3d4", "hsl(200 70% 38%)"] {
        assert!(cahier_sync::presence::is_plain_colour(ok), "{ok}");
    }
    for bad in ["#ab", "#ggg", "hsl(200 70% 38%); x", "hsl(200,70%,38%)", "rgb(0 0 0)", "var(--x)", ""] {
        assert!(!cahier_sync::presence::is_plain_colour(bad), "{bad}");
    }
}

/// A writer makes up a change whose operations are not numbered on from
/// those of its dependencies (found by the `load` fuzz target): automerge
/// 0.12 takes it, but the whole document then saves to bytes that do not
/// load, so the next snapshot would lose the meeting. It is refused to its
/// sender; an honest change with no operations still passes.
#[test]
fn a_change_numbered_out_of_order_is_refused_and_the_document_still_saves() {
    let mut m = Meeting::new();
    m.type_text(1, "Ordre du jour. ");
    m.run();
    // The next op number after everything the stored document holds.
    let next_of = |doc: &Automerge| doc.get_changes_meta(&[]).iter().map(|c| c.max_op).max().unwrap_or(0) + 1;
    let made_up = |head: Vec<automerge::ChangeHash>, seq: u64, start_op: u64| {
        let change = automerge::Change::from(automerge::ExpandedChange {
            operations: vec![],
            actor_id: automerge::ActorId::from(vec![9u8; 16]),
            hash: None,
            seq,
            start_op: std::num::NonZeroU64::new(start_op).expect("non-zero"),
            time: 0,
            message: None,
            deps: head,
            extra_bytes: vec![],
            author: None,
        });
        let msg = sync::Message {
            heads: vec![change.hash()],
            need: vec![],
            have: vec![],
            changes: vec![change.raw_bytes().to_vec()].into(),
            flags: None,
            version: sync::MessageVersion::V1,
        };
        msg.encode()
    };
    m.send_data(2, made_up(m.stored_doc().get_heads(), 1, next_of(m.stored_doc()) + 7));
    m.run();
    let told = m.told.get(&2).cloned().unwrap_or_default();
    assert!(told.iter().any(|t| t.contains("does not number its operations")), "{told:?}");
    m.type_text(1, "Point 1.");
    m.run();
    let saved = m.stored_doc().save();
    let reloaded = Automerge::load(&saved).expect("the stored document saves to bytes that load");
    assert!(cahier_doc::read(&reloaded, None).0.body.ends_with("Point 1."));
    // The same change numbered right is a change like any other.
    let mut honest = Meeting::new();
    honest.type_text(1, "Ordre du jour. ");
    honest.run();
    honest.send_data(2, made_up(honest.stored_doc().get_heads(), 1, next_of(honest.stored_doc())));
    honest.run();
    assert!(honest.told.get(&2).is_none_or(|t| !t.iter().any(|t| t.contains("does not number"))), "{:?}", honest.told.get(&2));
    assert_eq!(honest.stored_doc().get_heads().len(), 1, "the honest empty change was stored");
    assert!(
        honest.stored_doc().get_change_meta_by_hash(&honest.stored_doc().get_heads()[0]).is_some_and(|c| c.actor.to_bytes() == [9u8; 16])
    );
    Automerge::load(&honest.stored_doc().save()).expect("and the document still loads");
}

/// Léa's keystroke crosses Camille's on the wire: she merges Camille's change
/// and tells the server heads it already holds. She must still hear that the
/// server stored her change, or her editor says "Enregistrement…" for ever.
#[test]
fn a_typist_whose_change_crossed_anothers_is_told_it_is_stored() {
    use automerge::ReadDoc;
    use automerge::transaction::Transactable;
    let mut m = Meeting::new();
    m.type_text(1, "Camille : ");
    m.run();
    let (mut lea, mut lea_state) = m.replicas.remove(&2).expect("Léa");
    let body = lea.get(automerge::ROOT, "body").expect("read").expect("a body").1;
    let mut tx = lea.transaction();
    let len = tx.length(&body);
    tx.splice_text(&body, len, 0, "L").expect("type");
    tx.commit();
    let mine = lea.generate_sync_message(&mut lea_state).expect("her change");
    // Camille types; what the server sends Léa meanwhile reaches her first.
    m.type_text(1, "C");
    m.run();
    for data in m.held.remove(&2).unwrap_or_default() {
        lea.receive_sync_message(&mut lea_state, sync::Message::decode(&data).expect("sync")).expect("apply");
    }
    let ack = lea.generate_sync_message(&mut lea_state).expect("her answer, with the merged heads");
    assert!(ack.changes.is_empty(), "her change went in the first message");
    // Both of her messages reach the server together.
    m.send_data(2, mine.encode());
    m.send_data(2, ack.encode());
    m.run();
    for data in m.held.remove(&2).unwrap_or_default() {
        lea.receive_sync_message(&mut lea_state, sync::Message::decode(&data).expect("sync")).expect("apply");
    }
    assert_eq!(m.stored_heads(), lea.get_heads(), "the server stored everything");
    assert_eq!(lea_state.their_heads.as_deref(), Some(&lea.get_heads()[..]), "and Léa was told so");
}

#[test]
fn changes_another_node_stored_reach_the_peers_and_are_not_stored_again() {
    let mut m = Meeting::new();
    let changes = server_change(&m, " Écrit sur l’autre nœud.");
    m.hub.handle(0, Input::Stored { doc: m.doc_id.clone(), changes });
    let out = m.hub.flush();
    assert!(!out.iter().any(|o| matches!(o, Output::Persist { .. })), "durable already: not written again");
    for o in out {
        if let Output::Send { conn, bytes } = o
            && let Ok(Message::Sync { data, .. }) = Message::decode(&bytes)
            && let Some((doc, state)) = m.replicas.get_mut(&conn)
        {
            doc.receive_sync_message(state, sync::Message::decode(&data).expect("valid")).expect("apply");
        }
    }
    m.run();
    for conn in [1, 2, 3] {
        assert!(m.body(conn).ends_with(" Écrit sur l’autre nœud."), "peer {conn}: {:?}", m.body(conn));
    }
    // A document this node does not hold is left to load when wanted.
    m.hub.handle(0, Input::Stored { doc: DocId::from_random([9; 16]), changes: vec![1, 2, 3] });
    assert!(m.hub.flush().is_empty(), "nothing is loaded for it");
}

#[test]
fn a_snapshot_comes_once_the_chunks_since_the_last_add_up_to_a_quarter_of_it() {
    let mut config = Config::new("server", "storage-1");
    config.compact_after = 4;
    let mut m = Meeting::with(config);
    // A short document: its snapshot is small, so every fourth persist compacts.
    for i in 0..12 {
        m.type_text(1, &format!(" {i}"));
        m.run();
    }
    let kinds: Vec<bool> = m.persists.iter().map(|(s, _)| *s).collect();
    assert!(kinds.iter().skip(1).filter(|s| **s).count() >= 2, "small documents compact every few chunks: {kinds:?}");
    // A long one: a snapshot as large as the whole text waits until a quarter
    // of its size was written since, however many chunks that takes.
    let long: String = (0..20_000u64).map(|i| format!("{} ", i.wrapping_mul(2_654_435_761) % 100_003)).collect();
    m.type_text(1, &long);
    m.run();
    // The big change compacts soon after (it is most of the document).
    let mut typed = 0;
    while !m.persists.last().is_some_and(|(s, _)| *s) {
        typed += 1;
        assert!(typed < 10, "the long text is compacted within a few chunks: {:?}", m.persists);
        m.type_text(1, " x");
        m.run();
    }
    let size = m.persists.last().map(|(_, b)| *b).unwrap_or_default();
    let start = m.persists.len();
    for i in 0..40 {
        m.type_text(1, &format!(" {i}"));
        m.run();
    }
    let after: Vec<(bool, usize)> = m.persists[start..].to_vec();
    let written: usize = after.iter().map(|(_, b)| b).sum();
    assert!(written * 4 < size, "the test writes less than a quarter of the snapshot ({written} of {size})");
    assert!(after.iter().all(|(s, _)| !s), "no snapshot of a long document for a few keystrokes: {after:?}");
}

/// A sync message carrying `changes` and naming the last as its heads, as a
/// hand-built client sends it.
fn changes_message(changes: &[&automerge::Change]) -> Vec<u8> {
    let msg = sync::Message {
        heads: changes.last().map(|c| vec![c.hash()]).unwrap_or_default(),
        need: vec![],
        have: vec![],
        changes: changes.iter().map(|c| c.raw_bytes().to_vec()).collect::<Vec<_>>().into(),
        flags: None,
        version: sync::MessageVersion::V1,
    };
    msg.encode()
}

/// An empty change by actor 9 (as in the test above), on `deps`.
fn empty_change(deps: Vec<ChangeHash>, seq: u64, start_op: u64) -> automerge::Change {
    automerge::Change::from(automerge::ExpandedChange {
        operations: vec![],
        actor_id: automerge::ActorId::from(vec![9u8; 16]),
        hash: None,
        seq,
        start_op: std::num::NonZeroU64::new(start_op).expect("non-zero"),
        time: 0,
        message: None,
        deps,
        extra_bytes: vec![],
        author: None,
    })
}

/// The same made-up change, sent before the change it depends on: the server
/// cannot check it yet. It waits in the engine (automerge 0.12 would keep it
/// in its own queue and apply it unchecked once the dependency arrives, and
/// the document would save to bytes that do not load); when the dependency
/// comes it is checked and refused, the dependency is stored.
#[test]
fn a_made_up_change_sent_before_its_dependency_is_refused_once_the_dependency_arrives() {
    let mut m = Meeting::new();
    m.type_text(1, "Ordre du jour. ");
    m.run();
    let heads = m.stored_heads();
    let next = m.stored_doc().get_changes_meta(&[]).iter().map(|c| c.max_op).max().unwrap_or(0) + 1;
    let dependency = empty_change(heads.clone(), 1, next);
    let made_up = empty_change(vec![dependency.hash()], 2, next + 7);
    m.send_data(2, changes_message(&[&made_up]));
    m.run();
    assert_eq!(m.stored_heads(), heads, "nothing is stored while the change waits");
    m.send_data(2, changes_message(&[&dependency]));
    m.run();
    let told = m.told.get(&2).cloned().unwrap_or_default();
    assert!(told.iter().any(|t| t.contains("does not number its operations")), "{told:?}");
    assert!(m.stored_doc().get_change_meta_by_hash(&dependency.hash()).is_some(), "the honest dependency is stored");
    assert!(m.stored_doc().get_change_meta_by_hash(&made_up.hash()).is_none());
    m.type_text(1, "Point 1.");
    m.run();
    let reloaded = Automerge::load(&m.stored_doc().save()).expect("the stored document saves to bytes that load");
    assert!(cahier_doc::read(&reloaded, None).0.body.ends_with("Point 1."));
    for conn in [1, 3] {
        assert_eq!(m.replicas[&conn].0.get_heads(), m.stored_heads(), "peer {conn} converged");
    }
}

/// An honest change that arrives before the one it builds on (another
/// server's peer, a client replaying its history out of order) is not lost:
/// it waits, unstored and unadvertised, and is applied when its dependency
/// arrives.
#[test]
fn an_honest_change_sent_before_its_dependency_is_applied_when_the_dependency_arrives() {
    use automerge::ReadDoc;
    use automerge::transaction::Transactable;
    let mut m = Meeting::new();
    m.type_text(1, "Ordre du jour. ");
    m.run();
    let heads = m.stored_heads();
    let mut fork = m.stored_doc().fork().with_actor(automerge::ActorId::from(vec![9u8; 16]));
    let body = fork.get(automerge::ROOT, "body").expect("read").expect("a body").1;
    let mut written = Vec::new();
    for text in ["Point 1. ", "Point 2."] {
        let mut tx = fork.transaction();
        let len = tx.length(&body);
        tx.splice_text(&body, len, 0, text).expect("type");
        tx.commit();
        written.push(fork.get_last_local_change().expect("a change").clone());
    }
    m.send_data(2, changes_message(&[&written[1]]));
    m.run();
    assert_eq!(m.stored_heads(), heads, "nothing is stored while the change waits");
    assert!(m.replicas[&1].0.get_change_by_hash(&written[1].hash()).is_none(), "nor relayed");
    m.send_data(2, changes_message(&[&written[0]]));
    m.run();
    assert!(!m.told.contains_key(&2), "{:?}", m.told.get(&2));
    assert_eq!(m.stored_heads(), vec![written[1].hash()], "both are stored");
    let reloaded = Automerge::load(&m.stored_doc().save()).expect("the stored document loads");
    assert!(cahier_doc::read(&reloaded, None).0.body.ends_with("Point 1. Point 2."));
    for conn in [1, 3] {
        assert!(m.body(conn).ends_with("Point 1. Point 2."), "peer {conn}: {}", m.body(conn));
    }
}

/// A writer cannot make the server keep an unbounded pile of changes waiting
/// for dependencies it never sends: past the bound (1,024 changes, 4 MiB)
/// they are not kept, and the sender is told to sync again (never refused for
/// it: an honest writer with a long offline session behind one false positive
/// of a Bloom filter sends that many, and sends them all again with what they
/// wait for); the others write on.
#[test]
fn changes_waiting_for_dependencies_are_bounded() {
    let mut m = Meeting::new();
    m.type_text(1, "Ordre du jour. ");
    m.run();
    let changes: Vec<automerge::Change> =
        (0..1100u64).map(|i| empty_change(vec![ChangeHash([(i % 251) as u8 + 1; 32])], 1 + i, 1 + i)).collect();
    for chunk in changes.chunks(100) {
        m.send_data(2, changes_message(&chunk.iter().collect::<Vec<_>>()));
    }
    m.run();
    let stats = m.hub.stats();
    assert!(stats.errors.get("waiting_full").is_some_and(|n| *n > 0), "{:?}", stats.errors);
    assert!(!m.told.contains_key(&2), "{:?}", m.told.get(&2));
    m.type_text(1, "Point 1.");
    m.run();
    assert!(m.body(3).ends_with("Point 1."));
    assert!(m.body(2).ends_with("Point 1."));
}

/// An honest writer back from a long offline session whose first change is a
/// false positive of the server's Bloom filter sends more changes than may
/// wait: those that do not fit are dropped, the writer is told to sync again,
/// and everything is stored in the end, on the same connection.
#[test]
fn more_changes_than_may_wait_behind_a_false_positive_are_all_stored() {
    use automerge::ReadDoc;
    use automerge::transaction::Transactable;
    let mut m = Meeting::new();
    // A long document, so that the writer's changes are not a third of it
    // (it would send a whole document, which carries what they wait for).
    for i in 0..3000 {
        m.type_text(1, &format!("{i} "));
    }
    m.run();
    let (mut doc, _, _) = edits_behind_a_false_positive(&m);
    let body = doc.get(automerge::ROOT, "body").expect("read").expect("a body").1;
    for i in 0..1100 {
        let mut tx = doc.transaction();
        let len = tx.length(&body);
        tx.splice_text(&body, len, 0, &format!("{i} ")).expect("type");
        tx.commit();
    }
    let heads = doc.get_heads();
    m.connect(4, doc);
    m.run();
    let stats = m.hub.stats();
    assert!(stats.errors.get("waiting_full").is_some_and(|n| *n > 0), "the bound was reached: {:?}", stats.errors);
    assert!(!m.told.contains_key(&4), "{:?}", m.told.get(&4));
    assert_eq!(m.stored_heads(), heads, "every edit is stored");
    assert_eq!(m.replicas[&4].1.their_heads.as_ref(), Some(&heads), "the writer is told so");
    assert!(m.body(3).ends_with("1099 "), "{}", m.body(3));
}

/// A writer's two edits, the second on the first, where the first is a false
/// positive of the Bloom filter a new connection gets from the server (the
/// changes the server has, in about ten bits each: one change in a hundred
/// looks held): the writer, an unmodified Automerge peer, sends only the
/// second, which waits for the first. Returns the writer's document, the two
/// edits, and the text it wrote.
fn edits_behind_a_false_positive(m: &Meeting) -> (Automerge, automerge::Change, automerge::Change) {
    use automerge::ReadDoc;
    use automerge::transaction::Transactable;
    let stored = m.stored_doc();
    let hashes: Vec<ChangeHash> = stored.get_changes(&[]).iter().map(|c| c.hash()).collect();
    let bloom = sync::BloomFilter::from_hashes(hashes.iter());
    for attempt in 0..100_000 {
        let mut doc = stored.fork().with_actor(automerge::ActorId::from(vec![9u8; 16]));
        let body = doc.get(automerge::ROOT, "body").expect("read").expect("a body").1;
        let mut tx = doc.transaction();
        let len = tx.length(&body);
        tx.splice_text(&body, len, 0, &format!("Point {attempt}. ")).expect("type");
        tx.commit();
        let first = doc.get_last_local_change().expect("a change").clone();
        if !bloom.contains_hash(&first.hash()) {
            continue;
        }
        let mut tx = doc.transaction();
        let len = tx.length(&body);
        tx.splice_text(&body, len, 0, "Suite.").expect("type");
        tx.commit();
        let second = doc.get_last_local_change().expect("a change").clone();
        return (doc, first, second);
    }
    panic!("no false positive in 100,000 edits");
}

/// The stall the kill loop found: a change waiting in the engine for its
/// dependency is not in automerge's queue, so automerge asked the writer for
/// the waiting change itself, which an Automerge peer never sends twice on
/// one connection, and never for the dependency it holds; the writer's edits
/// waited until it reconnected (with the same Bloom filter, for ever). The
/// server asks for the dependency, and the writer converges on the same
/// connection.
#[test]
fn a_writer_whose_bloom_filter_hid_a_dependency_is_asked_for_it_and_converges() {
    let mut m = Meeting::new();
    m.type_text(1, "Ordre du jour. ");
    m.run();
    let (doc, first, second) = edits_behind_a_false_positive(&m);
    m.connect(4, doc);
    m.run();
    assert!(!m.told.contains_key(&4), "{:?}", m.told.get(&4));
    assert_eq!(m.stored_heads(), vec![second.hash()], "both edits are stored");
    assert!(m.stored_doc().get_change_meta_by_hash(&first.hash()).is_some());
    assert_eq!(m.replicas[&4].1.their_heads.as_deref(), Some(&[second.hash()][..]), "the writer is told they are stored");
    for conn in [1, 3] {
        assert!(m.body(conn).ends_with("Suite."), "peer {conn}: {}", m.body(conn));
    }
}

/// A change that waits for its dependency goes when its sender's connection
/// closes, and was never acknowledged: the client, connecting again, sends it
/// again with what it lacks, and both are stored.
#[test]
fn a_waiting_change_whose_sender_left_is_delivered_when_it_connects_again() {
    let mut m = Meeting::new();
    m.type_text(1, "Ordre du jour. ");
    m.run();
    let before = m.stored_heads();
    let (doc, first, second) = edits_behind_a_false_positive(&m);
    m.connect(4, doc.clone());
    // Its first message, then its change alone; it leaves before anything
    // else.
    let (replica, state) = m.replicas.get_mut(&4).expect("connected");
    let hello = replica.generate_sync_message(state).expect("a first message");
    m.send(4, hello);
    m.send_data(4, changes_message(&[&second]));
    m.replicas.remove(&4);
    m.hub.handle(0, Input::Disconnected { conn: 4 });
    m.run();
    assert_eq!(m.stored_heads(), before, "nothing of it is stored while its dependency is missing");
    assert!(m.replicas[&1].0.get_change_meta_by_hash(&second.hash()).is_none(), "nor relayed");
    m.connect(5, doc);
    m.run();
    assert!(!m.told.contains_key(&5), "{:?}", m.told.get(&5));
    assert_eq!(m.stored_heads(), vec![second.hash()], "both edits are stored");
    assert!(m.stored_doc().get_change_meta_by_hash(&first.hash()).is_some());
    assert_eq!(m.replicas[&5].1.their_heads.as_deref(), Some(&[second.hash()][..]), "the writer is told they are stored");
    for conn in [1, 3] {
        assert!(m.body(conn).ends_with("Suite."), "peer {conn}: {}", m.body(conn));
    }
}

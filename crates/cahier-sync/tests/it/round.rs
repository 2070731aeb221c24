//! The shared sync round against Automerge's own `generate_sync_message`.

#![allow(clippy::unwrap_used)]

use automerge::sync::{self, SyncDoc};
use automerge::transaction::Transactable;
use automerge::{Automerge, ChangeHash, ObjType, ROOT, ReadDoc};
use cahier_sync::relay;
use cahier_sync::round::{Round, RoundLog, receive_applied};

/// Upstream on both sides until neither has anything to say. `b_v1`: `b`'s
/// messages lose their flags on the way, as a V1 peer's have none.
fn sync_fully(a: &mut Automerge, sa: &mut sync::State, b: &mut Automerge, sb: &mut sync::State, b_v1: bool) {
    for _ in 0..20 {
        let m1 = a.generate_sync_message(sa);
        if let Some(m) = m1.clone() {
            b.receive_sync_message(sb, m).unwrap();
        }
        let m2 = b.generate_sync_message(sb);
        if let Some(mut m) = m2.clone() {
            if b_v1 {
                m.flags = None;
            }
            a.receive_sync_message(sa, m).unwrap();
        }
        if m1.is_none() && m2.is_none() {
            return;
        }
    }
    panic!("sync did not settle");
}

/// The state `receive_applied` leaves is upstream's, except that `sent_hashes`
/// may keep hashes upstream drops (ones the peer has: never sent again either way).
fn same_bookkeeping(upstream: &sync::State, ours: &sync::State) {
    assert_eq!(
        (
            &upstream.shared_heads,
            &upstream.last_sent_heads,
            &upstream.their_heads,
            &upstream.their_need,
            upstream.in_flight,
            &upstream.their_capabilities
        ),
        (&ours.shared_heads, &ours.last_sent_heads, &ours.their_heads, &ours.their_need, ours.in_flight, &ours.their_capabilities)
    );
    assert_eq!(
        upstream.their_have.as_ref().map(|h| h.iter().map(|h| (&h.last_sync, h.bloom.clone())).collect::<Vec<_>>()),
        ours.their_have.as_ref().map(|h| h.iter().map(|h| (&h.last_sync, h.bloom.clone())).collect::<Vec<_>>())
    );
    assert!(
        upstream.sent_hashes.is_subset(&ours.sent_hashes),
        "sent hashes: upstream {:?}, ours {:?}",
        upstream.sent_hashes,
        ours.sent_hashes
    );
}

#[test]
fn a_round_sends_and_receives_as_automerge_itself_would() {
    let mut server = Automerge::new();
    let mut tx = server.transaction();
    let text = tx.put_object(ROOT, "text", ObjType::Text).unwrap();
    tx.commit();
    // Clients 0 to 3 speak V2, 4 speaks V1 (its messages carry no flags),
    // and 5 may only read (its sync state on the server is read-only).
    const V1: usize = 4;
    const READER: usize = 5;
    let mut clients: Vec<(Automerge, sync::State, sync::State)> = (0..6)
        .map(|i| (Automerge::new(), sync::State::new(), if i == READER { sync::State::new_read_only() } else { sync::State::new() }))
        .collect();
    for (i, (doc, cs, ss)) in clients.iter_mut().enumerate() {
        sync_fully(&mut server, ss, doc, cs, i == V1);
    }
    let as_sent = |i: usize, mut m: sync::Message| {
        if i == V1 {
            m.flags = None;
        }
        m
    };
    let mut log = RoundLog::default();
    let mut shared_path = 0;
    for round in 0..8 {
        // Everyone types at once, at the end of what it sees.
        for (i, (doc, cs, ss)) in clients.iter_mut().enumerate() {
            if i == READER {
                continue;
            }
            let len = doc.length(&text);
            let mut tx = doc.transaction();
            tx.splice_text(&text, len, 0, &format!("{i}")).unwrap();
            tx.commit();
            if let Some(m) = doc.generate_sync_message(cs) {
                let m = as_sent(i, m);
                // As the hub does: the round applies the changes, then each message updates its sync state.
                server.load_incremental(&m.changes.iter().flatten().copied().collect::<Vec<u8>>()).unwrap();
                let mut upstream = ss.clone();
                server.receive_sync_message(&mut upstream, m.clone()).unwrap();
                receive_applied(&server, ss, m);
                same_bookkeeping(&upstream, ss);
            }
        }
        log.advance(&server);
        let arena = typed_arena::Arena::new();
        let mut r = Round::new(&server, &log, &arena);
        let mut replies = Vec::new();
        for (doc, cs, ss) in &mut clients {
            let mut mine = ss.clone();
            let theirs = server.generate_sync_message(ss);
            if r.shared(&mut mine.clone()).is_some() {
                shared_path += 1;
            }
            let ours = r.generate(&mut mine);
            match (&theirs, &ours) {
                (Some(t), Some(o)) => {
                    assert_eq!((&t.heads, &t.need, &t.changes, &t.version), (&o.heads, &o.need, &o.changes, &o.version), "round {round}");
                    assert_eq!((&t.flags, t.have.len()), (&o.flags, o.have.len()));
                    for (th, oh) in t.have.iter().zip(&o.have) {
                        assert_eq!(th.last_sync, oh.last_sync);
                        // Ours may hold more (changes the peer may be told we
                        // have), never less: every change upstream's filter
                        // holds, ours holds.
                        for c in server.get_changes(&th.last_sync) {
                            assert!(th.bloom.contains_hash(&c.hash()));
                            assert!(oh.bloom.contains_hash(&c.hash()), "round {round}: our Bloom filter lacks a change");
                        }
                    }
                }
                (None, None) => {}
                _ => panic!("round {round}: upstream {theirs:?}, round {ours:?}"),
            }
            assert_eq!(
                (&ss.sent_hashes, &ss.last_sent_heads, ss.in_flight, ss.have_responded),
                (&mine.sent_hashes, &mine.last_sent_heads, mine.in_flight, mine.have_responded)
            );
            if let Some(m) = theirs {
                doc.receive_sync_message(cs, m).unwrap();
                replies.push(doc.generate_sync_message(cs));
            } else {
                replies.push(None);
            }
        }
        drop(r);
        // The clients answer upstream's messages, as they would on the wire.
        for (i, ((_, _, ss), reply)) in clients.iter_mut().zip(replies).enumerate() {
            if let Some(m) = reply {
                let m = as_sent(i, m);
                // As the hub does: the round applies the changes, then each message updates its sync state.
                server.load_incremental(&m.changes.iter().flatten().copied().collect::<Vec<u8>>()).unwrap();
                let mut upstream = ss.clone();
                server.receive_sync_message(&mut upstream, m.clone()).unwrap();
                receive_applied(&server, ss, m);
                same_bookkeeping(&upstream, ss);
            }
        }
    }
    assert!(shared_path > 10, "the shared path was taken {shared_path} times");
    assert_eq!(clients[V1].2.their_capabilities, None, "the V1 client was served as one");
    // And everyone ends with the same text.
    for (i, (doc, cs, ss)) in clients.iter_mut().enumerate() {
        sync_fully(&mut server, ss, doc, cs, i == V1);
        assert_eq!(doc.text(&text).unwrap(), server.text(&text).unwrap());
    }
}

/// A client on both sides: its replica and sync state, and the server's sync
/// state for it.
struct Peer {
    doc: Automerge,
    state: sync::State,
    on_server: sync::State,
    /// Its messages carry no flags, so the server speaks V1 to it.
    v1: bool,
    /// The first `have` the server last generated for it.
    last_have: Option<sync::Have>,
    /// What was relayed to it since.
    relayed: Vec<ChangeHash>,
}

impl Peer {
    fn new(v1: bool, read_only: bool) -> Peer {
        let on_server = if read_only { sync::State::new_read_only() } else { sync::State::new() };
        Peer { doc: Automerge::new(), state: sync::State::new(), on_server, v1, last_have: None, relayed: Vec::new() }
    }

    /// One exchange each way (upstream on both sides); whether anything was said.
    fn exchange(&mut self, server: &mut Automerge) -> bool {
        let mut said = false;
        if let Some(mut m) = self.doc.generate_sync_message(&mut self.state) {
            if self.v1 {
                m.flags = None;
            }
            server.receive_sync_message(&mut self.on_server, wire(m)).unwrap();
            said = true;
        }
        if let Some(m) = server.generate_sync_message(&mut self.on_server) {
            self.last_have = m.have.first().cloned();
            self.relayed.clear();
            self.doc.receive_sync_message(&mut self.state, wire(m)).unwrap();
            said = true;
        }
        said
    }
}

/// Through the encoding, as on a socket.
fn wire(m: sync::Message) -> sync::Message {
    sync::Message::decode(&m.encode()).unwrap()
}

fn settle(server: &mut Automerge, peers: &mut [Peer]) {
    for _ in 0..20 {
        let mut said = false;
        for p in peers.iter_mut() {
            said |= p.exchange(server);
        }
        if !said {
            return;
        }
    }
    panic!("sync did not settle");
}

#[test]
fn a_relayed_change_is_taken_by_v1_v2_and_read_only_peers_before_the_server_applies_it_and_never_comes_back() {
    let mut server = Automerge::new();
    let mut tx = server.transaction();
    let text = tx.put_object(ROOT, "text", ObjType::Text).unwrap();
    tx.splice_text(&text, 0, 0, "début ").unwrap();
    tx.commit();
    // The writer and another V2 peer, a V1 peer, a peer that may only read.
    let mut peers = vec![Peer::new(false, false), Peer::new(false, false), Peer::new(true, false), Peer::new(false, true)];
    settle(&mut server, &mut peers);
    for round in 0..3 {
        let w = &mut peers[0];
        let len = w.doc.length(&text);
        let mut tx = w.doc.transaction();
        tx.splice_text(&text, len, 0, &format!("mot{round} ")).unwrap();
        tx.commit();
        let change = w.doc.get_last_local_change().unwrap();
        let hash = change.hash();
        let from_writer = w.doc.generate_sync_message(&mut w.state).unwrap();
        // Relayed to each other peer, the server's replica not touched.
        let mut replies = Vec::new();
        for (i, p) in peers.iter_mut().enumerate().skip(1) {
            assert!(relay::ready(&p.on_server, p.last_have.as_ref()), "peer {i}");
            let before = p.on_server.clone();
            p.relayed.push(hash);
            let m = relay::message(&mut p.on_server, p.last_have.as_ref().unwrap(), &relay::relayed_have(&p.relayed), &[&change]);
            assert_eq!(m.version, if p.v1 { sync::MessageVersion::V1 } else { sync::MessageVersion::V2 }, "peer {i}");
            assert_eq!(m.heads, before.last_sent_heads, "the relay claims nothing new of the server");
            // The server's state for it moves as upstream's would for a
            // message with this change (upstream may also send again what
            // the peer's last `have` did not mention).
            let mut upstream = before.clone();
            let mut applied = server.clone();
            applied.load_incremental(change.raw_bytes()).unwrap();
            applied.generate_sync_message(&mut upstream).unwrap();
            let mut expected = before.sent_hashes.clone();
            expected.insert(hash);
            assert_eq!(p.on_server.sent_hashes, expected, "peer {i}");
            assert!(expected.is_subset(&upstream.sent_hashes), "peer {i}");
            assert_eq!(
                (upstream.in_flight, &upstream.shared_heads, &upstream.their_heads, upstream.have_responded),
                (p.on_server.in_flight, &p.on_server.shared_heads, &p.on_server.their_heads, p.on_server.have_responded),
                "peer {i}"
            );
            p.doc.receive_sync_message(&mut p.state, wire(m)).unwrap();
            assert!(p.doc.text(&text).unwrap().ends_with(&format!("mot{round} ")), "peer {i} has the relayed words");
            // Its answer sends nothing back and asks for nothing.
            let mut reply = p.doc.generate_sync_message(&mut p.state).expect("the peer answers with its new heads");
            assert!(reply.changes.is_empty(), "peer {i} sent the relayed change back");
            assert!(reply.need.is_empty(), "peer {i} asks for {:?}", reply.need);
            assert!(reply.heads.contains(&hash));
            if p.v1 {
                reply.flags = None;
            }
            replies.push(reply);
        }
        // Then the server applies the writer's message, and takes the answers.
        let w = &mut peers[0];
        server.receive_sync_message(&mut w.on_server, wire(from_writer)).unwrap();
        for (p, reply) in peers.iter_mut().skip(1).zip(replies) {
            server.receive_sync_message(&mut p.on_server, wire(reply)).unwrap();
        }
        // What it generates next never carries the relayed change again.
        for (i, p) in peers.iter_mut().enumerate() {
            if let Some(m) = server.generate_sync_message(&mut p.on_server) {
                assert!(m.changes.is_empty(), "round {round}: peer {i} was sent {} changes again", m.changes.len());
                p.last_have = m.have.first().cloned();
                p.relayed.clear();
                p.doc.receive_sync_message(&mut p.state, wire(m)).unwrap();
            }
        }
        settle(&mut server, &mut peers);
        for (i, p) in peers.iter().enumerate() {
            assert_eq!(p.doc.get_heads(), server.get_heads(), "round {round}: peer {i}");
            assert_eq!(p.doc.text(&text).unwrap(), server.text(&text).unwrap());
        }
    }
}

//! The shared sync round against Automerge's own `generate_sync_message`.

#![allow(clippy::unwrap_used)]

use automerge::sync::{self, SyncDoc};
use automerge::transaction::Transactable;
use automerge::{Automerge, ObjType, ROOT, ReadDoc};
use cahier_sync::round::{Round, RoundLog, receive_applied};

/// Upstream on both sides until neither has anything to say.
fn sync_fully(a: &mut Automerge, sa: &mut sync::State, b: &mut Automerge, sb: &mut sync::State) {
    for _ in 0..20 {
        let m1 = a.generate_sync_message(sa);
        if let Some(m) = m1.clone() {
            b.receive_sync_message(sb, m).unwrap();
        }
        let m2 = b.generate_sync_message(sb);
        if let Some(m) = m2.clone() {
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
    let mut clients: Vec<(Automerge, sync::State, sync::State)> =
        (0..5).map(|_| (Automerge::new(), sync::State::new(), sync::State::new())).collect();
    for (doc, cs, ss) in &mut clients {
        sync_fully(&mut server, ss, doc, cs);
    }
    let mut log = RoundLog::default();
    let mut shared_path = 0;
    for round in 0..8 {
        // Everyone types at once, at the end of what it sees.
        for (i, (doc, cs, ss)) in clients.iter_mut().enumerate() {
            let len = doc.length(&text);
            let mut tx = doc.transaction();
            tx.splice_text(&text, len, 0, &format!("{i}")).unwrap();
            tx.commit();
            if let Some(m) = doc.generate_sync_message(cs) {
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
                    assert_eq!(
                        t.have.iter().map(|h| &h.last_sync).collect::<Vec<_>>(),
                        o.have.iter().map(|h| &h.last_sync).collect::<Vec<_>>()
                    );
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
        for ((_, _, ss), reply) in clients.iter_mut().zip(replies) {
            if let Some(m) = reply {
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
    // And everyone ends with the same text.
    for (doc, cs, ss) in &mut clients {
        sync_fully(&mut server, ss, doc, cs);
        assert_eq!(doc.text(&text).unwrap(), server.text(&text).unwrap());
    }
}

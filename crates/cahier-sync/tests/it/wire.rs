//! Decoding what the JavaScript encoder sends, and round trips.
#![allow(clippy::unwrap_used, reason = "encoding into a Vec cannot fail")]

use cahier_sync::wire::{DecodeError, Message, PeerMetadata, RemoteHeads};

/// A `join` exactly as automerge-repo 2.5 sends it (cbor-x: map16 headers even for
/// small maps, `undefined` for a missing storageId).
fn js_join() -> Vec<u8> {
    let mut b = vec![0xb9, 0x00, 0x04];
    let s = |b: &mut Vec<u8>, s: &str| {
        if s.len() < 24 {
            b.push(0x60 + s.len() as u8);
        } else {
            b.extend_from_slice(&[0x78, s.len() as u8]);
        }
        b.extend_from_slice(s.as_bytes());
    };
    s(&mut b, "type");
    s(&mut b, "join");
    s(&mut b, "senderId");
    s(&mut b, "peer-abc123");
    s(&mut b, "peerMetadata");
    b.extend_from_slice(&[0xb9, 0x00, 0x02]);
    s(&mut b, "storageId");
    b.push(0xf7); // undefined
    s(&mut b, "isEphemeral");
    b.push(0xf5);
    s(&mut b, "supportedProtocolVersions");
    b.push(0x81);
    s(&mut b, "1");
    b
}

#[test]
fn decodes_a_join_as_the_js_client_encodes_it() {
    assert_eq!(
        Message::decode(&js_join()),
        Ok(Message::Join {
            sender_id: "peer-abc123".into(),
            supported_versions: Some(vec!["1".into()]),
            metadata: Some(PeerMetadata { storage_id: None, is_ephemeral: true }),
        })
    );
}

#[test]
fn accepts_floats_for_integers_undefined_lists_and_unknown_keys() {
    // remote-heads-changed with a float64 timestamp, and an unknown key.
    let mut e = minicbor::Encoder::new(Vec::new());
    e.map(6).unwrap().str("type").unwrap().str("remote-heads-changed").unwrap();
    e.str("senderId").unwrap().str("a").unwrap().str("targetId").unwrap().str("b").unwrap();
    e.str("documentId").unwrap().str("doc").unwrap();
    e.str("futureKey").unwrap().array(2).unwrap().u8(1).unwrap().map(0).unwrap();
    e.str("newHeads").unwrap().map(1).unwrap().str("storage-1").unwrap().map(2).unwrap();
    e.str("heads").unwrap().array(1).unwrap().str("h1").unwrap();
    e.str("timestamp").unwrap().f64(1_795_387_031_000.0).unwrap();
    let msg = Message::decode(&e.into_writer()).expect("decode");
    assert_eq!(
        msg,
        Message::RemoteHeadsChanged {
            sender_id: "a".into(),
            target_id: "b".into(),
            document_id: "doc".into(),
            new_heads: vec![RemoteHeads { storage_id: "storage-1".into(), heads: vec!["h1".into()], timestamp: 1_795_387_031_000 }],
        }
    );
    // remote-subscription-change with `remove: undefined`.
    let mut e = minicbor::Encoder::new(Vec::new());
    e.map(5).unwrap().str("type").unwrap().str("remote-subscription-change").unwrap();
    e.str("senderId").unwrap().str("a").unwrap().str("targetId").unwrap().str("b").unwrap();
    e.str("add").unwrap().array(1).unwrap().str("s").unwrap();
    e.str("remove").unwrap().undefined().unwrap();
    assert_eq!(
        Message::decode(&e.into_writer()),
        Ok(Message::RemoteSubscriptionChange { sender_id: "a".into(), target_id: "b".into(), add: vec!["s".into()], remove: vec![] })
    );
}

#[test]
fn every_message_round_trips() {
    let meta = Some(PeerMetadata { storage_id: Some("st".into()), is_ephemeral: false });
    let all = vec![
        Message::Join { sender_id: "a".into(), supported_versions: Some(vec!["1".into()]), metadata: meta.clone() },
        Message::Peer { sender_id: "s".into(), target_id: "a".into(), selected_version: "1".into(), metadata: meta },
        Message::Request { sender_id: "a".into(), target_id: "s".into(), document_id: "d".into(), data: vec![1, 2] },
        Message::Sync { sender_id: "a".into(), target_id: "s".into(), document_id: "d".into(), data: vec![3] },
        Message::DocUnavailable { sender_id: "s".into(), target_id: "a".into(), document_id: "d".into() },
        Message::Ephemeral {
            sender_id: "a".into(),
            target_id: "b".into(),
            count: 7,
            session_id: "x".into(),
            document_id: "d".into(),
            data: vec![0xa0],
        },
        Message::RemoteSubscriptionChange { sender_id: "a".into(), target_id: "s".into(), add: vec!["q".into()], remove: vec![] },
        Message::Leave { sender_id: "a".into() },
        Message::Error { message: "boom".into() },
    ];
    for m in all {
        assert_eq!(Message::decode(&m.encode()).as_ref(), Ok(&m));
    }
}

#[test]
fn garbage_is_an_error_with_a_reason() {
    let check = |bytes: &[u8], expected: &str| {
        let got = Message::decode(bytes).expect_err("must fail").to_string();
        assert!(got.contains(expected), "{got:?} should contain {expected:?}");
    };
    check(&[0xf6], "not a CBOR map"); // null: what crashed the JS server once
    check(&[], "malformed CBOR");
    check(&[0xa1, 0x64, b't', b'y', b'p', b'e'], "malformed CBOR");
    check(&[0xa0], "no `type`");
    check(&Message::Error { message: "x".into() }.encode()[..3], "malformed CBOR");
    let mut two = Message::Leave { sender_id: "a".into() }.encode();
    two.extend(Message::Leave { sender_id: "a".into() }.encode());
    assert_eq!(Message::decode(&two), Err(DecodeError::Trailing));
    let mut e = minicbor::Encoder::new(Vec::new());
    e.map(1).unwrap().str("type").unwrap().str("teleport").unwrap();
    check(&e.into_writer(), "unknown message type");
    // Deep nesting under an unknown key is refused without recursing away.
    let mut deep = vec![0xa2, 0x64, b't', b'y', b'p', b'e', 0x65, b'l', b'e', b'a', b'v', b'e', 0x61, b'x'];
    deep.extend(std::iter::repeat_n(0x81, 10_000));
    deep.push(0x00);
    check(&deep, "nested too deeply");
}

proptest::proptest! {
    #[test]
    fn decoding_random_bytes_never_panics(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..256)) {
        let _ = Message::decode(&bytes);
    }
}

//! Presence between nodes sharing one store: what a peer here says of itself
//! goes to the other nodes (`Output::Forward`) within the rates and the size
//! a notification carries, and what another node's peer says reaches the
//! readers here of that document alone (`Input::Ephemeral`).

use cahier_doc::DocId;
use cahier_sync::wire::Message;
use cahier_sync::{Config, Ephemeral, Input};

use crate::hostile::Meeting;

/// The presence Cahier's editor sends, as CBOR.
fn presence(name: &str, color: &str) -> Vec<u8> {
    let mut data = Vec::new();
    let mut e = minicbor::Encoder::new(&mut data);
    e.map(1).and_then(|e| e.str("__presence")).and_then(|e| e.map(2)).expect("cbor");
    e.str("type").and_then(|e| e.str("snapshot")).and_then(|e| e.str("state")).and_then(|e| e.map(2)).expect("cbor");
    e.str("name").and_then(|e| e.str(name)).and_then(|e| e.str("color")).and_then(|e| e.str(color)).expect("cbor");
    data
}

fn from_peer(m: &Meeting, conn: u64, count: u64, data: Vec<u8>) -> Vec<u8> {
    Message::Ephemeral {
        sender_id: format!("peer-{conn}"),
        target_id: "server".into(),
        count,
        session_id: "session".into(),
        document_id: m.doc_id.to_string(),
        data,
    }
    .encode()
}

fn sharing() -> Meeting {
    let mut config = Config::new("server", "storage-1");
    config.forward_ephemeral = true;
    config.limits.max_forwarded_ephemeral_per_connection = 3;
    config.limits.max_forwarded_ephemeral_per_second = 5;
    Meeting::with(config)
}

#[test]
fn a_peers_presence_goes_to_the_other_nodes_within_the_rates_and_the_size_a_notification_carries() {
    let mut m = sharing();
    m.run();
    // Ten from one peer in one second: three go to the other nodes, all ten
    // to the peers here.
    for count in 1..=10 {
        m.hub.handle(0, Input::Received { conn: 2, bytes: from_peer(&m, 2, count, presence("Léo", "#1a7f37")) });
    }
    m.run();
    assert_eq!(m.forwarded, vec![(m.doc_id.clone(), "peer-2".to_owned()); 3]);
    assert_eq!(m.presence.iter().filter(|(to, from)| *to != 2 && from == "peer-2").count(), 20);
    // Another peer has its own budget, the node the rest of its own (5).
    for count in 1..=10 {
        m.hub.handle(0, Input::Received { conn: 1, bytes: from_peer(&m, 1, count, presence("Ana", "#1a7f37")) });
    }
    m.run();
    assert_eq!(m.forwarded.iter().filter(|(_, from)| from == "peer-1").count(), 2, "the node's budget is spent");
    // A second later, both may speak again.
    m.hub.handle(1000, Input::Received { conn: 1, bytes: from_peer(&m, 1, 11, presence("Ana", "#1a7f37")) });
    m.run();
    assert_eq!(m.forwarded.iter().filter(|(_, from)| from == "peer-1").count(), 3);
    // Larger than a notification carries: for the peers here only.
    let big = presence(&"L".repeat(5000), "#1a7f37");
    let before = (m.forwarded.len(), m.presence.len());
    m.hub.handle(1000, Input::Received { conn: 2, bytes: from_peer(&m, 2, 11, big) });
    m.run();
    assert_eq!((m.forwarded.len(), m.presence.len()), (before.0, before.1 + 2));
}

#[test]
fn a_store_nobody_shares_forwards_nothing() {
    let mut m = Meeting::new();
    m.run();
    m.hub.handle(0, Input::Received { conn: 2, bytes: from_peer(&m, 2, 1, presence("Léo", "#1a7f37")) });
    m.run();
    assert_eq!(m.presence.len(), 2, "relayed here");
    assert!(m.forwarded.is_empty());
}

#[test]
fn another_nodes_presence_reaches_this_nodes_peers_of_that_document_only() {
    let mut m = sharing();
    m.run();
    let message = |data: Vec<u8>| Ephemeral { sender_id: "on-node-b".into(), session_id: "s".into(), count: 1, data };
    m.hub.handle(0, Input::Ephemeral { doc: m.doc_id.clone(), message: message(presence("Léo", "#1a7f37")) });
    m.run();
    let mut got = m.presence.clone();
    got.sort();
    assert_eq!(got, [(1, "on-node-b".to_owned()), (2, "on-node-b".to_owned()), (3, "on-node-b".to_owned())]);
    assert!(m.forwarded.is_empty(), "never sent back to the nodes");
    // A document nobody here has open: nobody hears of it, nothing loads.
    m.hub.handle(0, Input::Ephemeral { doc: DocId::from_random([8; 16]), message: message(presence("Léo", "#1a7f37")) });
    m.run();
    assert_eq!(m.presence.len(), 3);
    // What a peer here could not send, another node cannot either.
    m.hub.handle(0, Input::Ephemeral { doc: m.doc_id.clone(), message: message(presence("Léo", "red;background:url(//x)")) });
    m.hub.handle(0, Input::Ephemeral { doc: m.doc_id.clone(), message: message(vec![0xa1, 0x61]) });
    m.run();
    assert_eq!(m.presence.len(), 3, "{:?}", m.presence);
    assert!(m.told.is_empty(), "no peer here is blamed: {:?}", m.told);
}

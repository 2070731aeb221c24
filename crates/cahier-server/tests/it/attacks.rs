//! Attacks from the security review, replayed as a hostile participant would
//! make them, on real sockets and real HTTP: each shows that the other users
//! are unharmed.

use automerge::sync::{self, SyncDoc};
use automerge::transaction::Transactable;
use automerge::{Automerge, ChangeHash, ReadDoc};
use cahier_auth::Role;
use cahier_doc::{DocId, DocView, Editor};
use cahier_server::ServerConfig;
use cahier_sync::wire::Message;

use crate::sockets::{Client, rand_bytes};
use crate::wiki::request;
use crate::{TestServer, token_in};

fn append(doc: &mut Automerge, text: &str) {
    let body = match doc.get(automerge::ROOT, "body").expect("read") {
        Some((_, id)) => id,
        None => panic!("the document has a body"),
    };
    let len = doc.length(&body);
    let mut tx = doc.transaction();
    tx.splice_text(&body, len, 0, text).expect("type");
    tx.commit();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_poisoned_bloom_filter_stops_its_sender_and_nobody_else() {
    let tmp = tempfile::tempdir().expect("tmp");
    let data = tmp.path().join("data");
    let (alice, mallory) = {
        let store = crate::open_store(&data);
        (token_in(&store, "alice", Role::Editor), token_in(&store, "mallory", Role::Editor))
    };
    let server = TestServer::start(&data, ServerConfig::default()).await;
    let id = DocId::from_random(rand_bytes()).to_string();
    let mut a = Client::connect_url(&server.ws_url_with(&alice), "alice").await;
    a.join().await;
    let mut doc = cahier_doc::new_document(&DocView::new_minutes("Webinaire"), &Editor::new("alice"), 0).expect("doc");
    a.sync_all(&mut doc, &id).await;
    let mut m = Client::connect_url(&server.ws_url_with(&mallory), "mallory").await;
    m.join().await;
    let mut theirs = Automerge::new();
    m.sync_all(&mut theirs, &id).await;

    // A real change (so the server must store it and answer once it is stored)
    // with a `have` whose Bloom filter declares one entry and no bits.
    let mut tx = theirs.transaction();
    tx.put(automerge::ROOT, "title", "Piégé").expect("put");
    tx.commit();
    let mut msg = theirs.generate_sync_message(&mut sync::State::new()).expect("a message");
    msg.changes = theirs.save().into();
    msg.heads = vec![ChangeHash([9; 32])];
    msg.have = vec![sync::Have { last_sync: vec![], bloom: sync::BloomFilter::try_from(&[1u8, 0, 1][..]).expect("filter") }];
    m.send(&Message::Sync { sender_id: "mallory".into(), target_id: "s".into(), document_id: id.clone(), data: msg.encode() }).await;
    m.expect_error("refused sync message").await;

    // The meeting goes on: Alice's next words are stored on her open socket,
    // newcomers are served, and the health check says so.
    append(&mut doc, "Alice : on continue.");
    a.sync_all(&mut doc, &id).await;
    let health = request(&server, "GET", "/healthz", &[], "").await;
    assert_eq!((health.status, health.text().as_str()), (200, "ok"));
    let mut newcomer = Client::connect_url(&server.ws_url_with(&alice), "alice-2").await;
    newcomer.join().await;
    let mut fresh = Automerge::new();
    newcomer.sync_all(&mut fresh, &id).await;
    assert_eq!(cahier_doc::read(&fresh, None).0.body, "Alice : on continue.");
    server.stop().await;
    let store = crate::open_store(&data);
    let (stored, _) = store.load_record(&DocId::parse(&id).expect("id")).expect("load").expect("stored");
    let (view, _) = cahier_doc::read(&stored, None);
    assert_eq!(view.body, "Alice : on continue.");
    assert_eq!(view.title, "Webinaire", "nothing of the attacker was stored");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_view_only_participant_cannot_drop_the_document_for_its_editors() {
    let tmp = tempfile::tempdir().expect("tmp");
    let data = tmp.path().join("data");
    let (alice, id, link) = {
        let store = crate::open_store(&data);
        let alice = token_in(&store, "alice", Role::Editor);
        let id = store.upsert(&DocView::new_minutes("Webinaire"), &Editor::new("alice"), 1).expect("minutes").0.id;
        let (_, secret) =
            cahier_server::auth_store::create_invite(&store, &id, false, "alice", None, [2; 8], [2; 32], 1).expect("invite");
        (alice, id.to_string(), format!("/join/{secret}"))
    };
    let server = TestServer::start(&data, ServerConfig::default()).await;
    let mut a = Client::connect_url(&server.ws_url_with(&alice), "alice").await;
    a.join().await;
    let mut doc = Automerge::new();
    a.sync_all(&mut doc, &id).await;
    let cookie = crate::sockets::join_invite(&server, &link, "Yasmine").await.expect("the view link works");
    // Each poisoned filter, again and again, from a guest who may only read.
    for bloom in [&[1u8, 0, 1][..], &[1, 10, 0xff, 0xff, 0xff, 0xff, 0x0f, 0xff, 0x03], &[1, 0, 1]] {
        let mut guest = Client::connect_with_cookie(&server, &cookie, "guest").await;
        guest.join().await;
        let mut mine = Automerge::new();
        guest.sync_all(&mut mine, &id).await;
        let mut msg = mine.generate_sync_message(&mut sync::State::new()).expect("a message");
        msg.have = vec![sync::Have { last_sync: vec![], bloom: sync::BloomFilter::try_from(bloom).expect("filter") }];
        guest.send(&Message::Sync { sender_id: "guest".into(), target_id: "s".into(), document_id: id.clone(), data: msg.encode() }).await;
        guest.expect_error("refused sync message").await;
    }
    // Alice's socket was never touched: her next words are stored through it
    // (sync_all fails on an error or a close).
    append(&mut doc, "Alice : toujours là.");
    a.sync_all(&mut doc, &id).await;
    server.stop().await;
    let store = crate::open_store(&data);
    let (stored, _) = store.load_record(&DocId::parse(&id).expect("id")).expect("load").expect("stored");
    assert_eq!(cahier_doc::read(&stored, None).0.body, "Alice : toujours là.");
}

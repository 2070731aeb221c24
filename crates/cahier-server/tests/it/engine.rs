//! The engine on real sockets: documents progress independently.

use automerge::sync::{self, SyncDoc};
use automerge::transaction::Transactable;
use automerge::{Automerge, ChangeHash, ObjType, ROOT, ReadDoc};
use cahier_doc::DocId;
use cahier_server::ServerConfig;
use cahier_sync::wire::Message;

use crate::TestServer;
use crate::sockets::{Client, Got, rand_bytes};

/// A client's replica of one document and its sync state with the server.
struct Replica {
    client: Client,
    id: String,
    doc: Automerge,
    state: sync::State,
}

impl Replica {
    async fn open(server: &TestServer, name: &str, id: &DocId) -> Replica {
        let mut client = Client::connect(server, name).await;
        client.join().await;
        Replica { client, id: id.to_string(), doc: cahier_doc::empty(), state: sync::State::new() }
    }

    async fn send_sync(&mut self) -> bool {
        let Some(m) = self.doc.generate_sync_message(&mut self.state) else { return false };
        let msg =
            Message::Sync { sender_id: self.client.name.clone(), target_id: "s".into(), document_id: self.id.clone(), data: m.encode() };
        self.client.send(&msg).await;
        true
    }

    /// Takes one sync message from the server; `None` for anything else.
    fn take(&mut self, got: Got) -> Option<sync::Message> {
        match got {
            Got::Msg(Message::Sync { data, .. }) => {
                let m = sync::Message::decode(&data).expect("decode");
                self.doc.receive_sync_message(&mut self.state, m.clone()).expect("apply");
                Some(m)
            }
            Got::Msg(Message::RemoteHeadsChanged { .. }) => None,
            other => panic!("{}: unexpected {other:?}", self.client.name),
        }
    }

    /// Syncs until the server holds exactly our heads and says so.
    async fn settle(&mut self) {
        self.send_sync().await;
        loop {
            let got = self.client.recv().await;
            if let Some(m) = self.take(got) {
                let ours = self.doc.get_heads();
                self.send_sync().await;
                if m.heads == ours {
                    return;
                }
            }
        }
    }

    fn write(&mut self, key: &str, text: &str) -> ChangeHash {
        let mut tx = self.doc.transaction();
        let t = tx.put_object(ROOT, key, ObjType::Text).expect("text");
        tx.splice_text(&t, 0, 0, text).expect("splice");
        tx.commit().0.expect("a change")
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_round_on_one_document_never_holds_up_another() {
    let data = tempfile::tempdir().expect("tempdir");
    let server = TestServer::start_with_tester(data.path(), ServerConfig::default()).await;
    let (heavy_id, light_id) = (DocId::from_random([7; 16]), DocId::from_random(rand_bytes()));
    let mut heavy = Replica::open(&server, "heavy", &heavy_id).await;
    heavy.write("start", "début");
    heavy.settle().await;
    let mut writer = Replica::open(&server, "writer", &light_id).await;
    writer.write("notes", "Ordre du jour");
    writer.settle().await;
    let mut reader = Replica::open(&server, "reader", &light_id).await;
    reader.settle().await;
    assert_eq!(reader.doc.get_heads(), writer.doc.get_heads());

    // Two changes that take the server a long while to apply and store (a
    // whole book pasted, twice); meanwhile, on another document, one person
    // types and another sees each keystroke before the next is typed.
    let book: String = "Une classe dehors, sous les arbres de la cour. ".repeat(20_000);
    let first = heavy.write("book", &book);
    let first_msg = heavy.doc.generate_sync_message(&mut heavy.state).expect("a message");
    heavy.write("again", &book);
    let second_msg = heavy.doc.generate_sync_message(&mut heavy.state).expect("a message");
    for m in [first_msg, second_msg] {
        let msg = Message::Sync { sender_id: "heavy".into(), target_id: "s".into(), document_id: heavy.id.clone(), data: m.encode() };
        heavy.client.send(&msg).await;
    }
    let mut typed = writer.write("more", "b");
    assert!(writer.send_sync().await);
    let mut relayed = 0;
    while relayed < 5 {
        tokio::select! {
            got = heavy.client.recv() => {
                // With one engine for every document, the keystrokes would go
                // through between the pastes' rounds: one per round at best.
                let stored = heavy.take(got).is_some_and(|m| m.heads.contains(&first));
                assert!(!stored, "the first paste was stored before 5 keystrokes were relayed (only {relayed})");
            }
            got = reader.client.recv() => {
                if reader.take(got).is_some() && reader.doc.get_change_by_hash(&typed).is_some() {
                    relayed += 1;
                    typed = writer.write("more", "b");
                    writer.send_sync().await;
                }
            }
            got = writer.client.recv() => {
                writer.take(got);
                writer.send_sync().await;
            }
        }
    }
    server.stop().await;
}

//! Relay before apply, through the engine: a writer's change reaches the other
//! editors while the store has not made it durable, only the acknowledgement
//! (the server's heads) waits for the store, nothing is sent twice, and a peer
//! that has not answered gets what arrived meanwhile in one message.

use std::collections::VecDeque;

use automerge::sync::{self, SyncDoc};
use automerge::transaction::Transactable;
use automerge::{Automerge, ChangeHash, ReadDoc};
use cahier_doc::{DocId, DocView, Editor};
use cahier_sync::wire::Message;
use cahier_sync::{AllowAll, Config, Hub, Input, Output};

struct Client {
    doc: Automerge,
    state: sync::State,
    /// Sync messages the server sent it, not delivered yet.
    inbox: VecDeque<sync::Message>,
    /// Every sync message it was sent.
    received: Vec<sync::Message>,
    /// Every sync message it sent.
    sent: Vec<sync::Message>,
}

/// The hub, two real Automerge editors (connections 1 and 2), and a store
/// whose answers wait until the test gives them.
struct Meeting {
    hub: Hub<AllowAll>,
    doc_id: DocId,
    clients: Vec<Client>,
    /// Persists asked for and not answered.
    store: VecDeque<(DocId, Vec<ChangeHash>)>,
}

impl Meeting {
    fn new() -> Meeting {
        let doc_id = DocId::from_random([7; 16]);
        let mut hub = Hub::new(Config::new("server", "storage-1"), AllowAll);
        let base = cahier_doc::new_document(&DocView::new_page("Séance"), &Editor::new("alice"), 0).expect("doc");
        let mut clients = Vec::new();
        for (conn, who) in [(1, "alice"), (2, "bob")] {
            hub.handle(0, Input::Connected { conn });
            hub.handle(
                0,
                Input::Received { conn, bytes: Message::Join { sender_id: who.into(), supported_versions: None, metadata: None }.encode() },
            );
            let doc = if conn == 1 { base.clone() } else { cahier_doc::empty() };
            clients.push(Client { doc, state: sync::State::new(), inbox: VecDeque::new(), received: Vec::new(), sent: Vec::new() });
        }
        let mut m = Meeting { hub, doc_id, clients, store: VecDeque::new() };
        m.take();
        m.settle();
        m
    }

    fn conn(i: usize) -> u64 {
        i as u64 + 1
    }

    /// Client `i` sends what its sync state says, if anything.
    fn send(&mut self, i: usize) {
        let c = &mut self.clients[i];
        let Some(msg) = c.doc.generate_sync_message(&mut c.state) else { return };
        c.sent.push(msg.clone());
        let wire = Message::Sync {
            sender_id: format!("c{i}"),
            target_id: "server".into(),
            document_id: self.doc_id.to_string(),
            data: msg.encode(),
        };
        self.hub.handle(0, Input::Received { conn: Meeting::conn(i), bytes: wire.encode() });
        self.take();
    }

    /// Collects the hub's outputs: sync messages into the clients' inboxes,
    /// persists into the store's queue, the load answered at once.
    fn take(&mut self) {
        let mut out = self.hub.flush();
        while !out.is_empty() {
            let mut next = Vec::new();
            for o in out {
                self.output(o, &mut next);
            }
            out = next;
        }
    }

    fn output(&mut self, o: Output, next: &mut Vec<Output>) {
        match o {
            Output::Load { doc } => {
                self.hub.handle(0, Input::Loaded { doc, result: Ok(None) });
                next.extend(self.hub.flush());
            }
            Output::Send { conn, bytes } => {
                if let Ok(Message::Sync { data, .. }) = Message::decode(&bytes) {
                    let msg = sync::Message::decode(&data).expect("a valid sync message");
                    self.clients[conn as usize - 1].inbox.push_back(msg);
                }
            }
            Output::Persist { doc, heads, .. } => self.store.push_back((doc, heads)),
            _ => {}
        }
    }

    /// Client `i` takes its next message and answers it.
    fn deliver(&mut self, i: usize) -> bool {
        let c = &mut self.clients[i];
        let Some(msg) = c.inbox.pop_front() else { return false };
        c.received.push(msg.clone());
        c.doc.receive_sync_message(&mut c.state, msg).expect("the client takes the server's message");
        self.send(i);
        true
    }

    /// The store answers its oldest persist.
    fn store_one(&mut self) -> bool {
        let Some((doc, heads)) = self.store.pop_front() else { return false };
        self.hub.handle(0, Input::Persisted { doc, heads, result: Ok(()) });
        self.take();
        true
    }

    /// Everything delivered and stored until nobody has anything to say.
    fn settle(&mut self) {
        self.send(0);
        self.send(1);
        for _ in 0..1000 {
            let mut progressed = false;
            for i in 0..self.clients.len() {
                progressed |= self.deliver(i);
            }
            progressed |= self.store_one();
            if !progressed {
                return;
            }
        }
        panic!("the meeting never settled");
    }

    fn text(&self, i: usize) -> String {
        let doc = &self.clients[i].doc;
        let body = cahier_doc::write::body_obj(doc, None).expect("a body");
        doc.text(&body).expect("text")
    }

    /// Client `i` types `s` at the end of its text; returns the change's hash.
    fn type_text(&mut self, i: usize, s: &str) -> ChangeHash {
        let doc = &mut self.clients[i].doc;
        let body = cahier_doc::write::body_obj(doc, None).expect("a body");
        let len = doc.length(&body);
        let mut tx = doc.transaction();
        tx.splice_text(&body, len, 0, s).expect("splice");
        tx.commit();
        let hash = doc.get_heads()[0];
        self.send(i);
        hash
    }
}

/// Whether the message's changes hold this one (each chunk of the list may
/// be several changes one after the other).
fn carries(msg: &sync::Message, hash: &ChangeHash) -> bool {
    msg.changes.iter().any(|bytes| {
        let mut rest: &[u8] = bytes;
        while rest.len() > 9 {
            // Magic (4), checksum (4), type (1), LEB128 length, body.
            let (mut len, mut i, mut shift) = (0usize, 9usize, 0);
            loop {
                let b = rest[i];
                i += 1;
                len |= usize::from(b & 0x7f) << shift;
                shift += 7;
                if b & 0x80 == 0 {
                    break;
                }
            }
            let (chunk, tail) = rest.split_at(i + len);
            if automerge::Change::from_bytes(chunk.to_vec()).is_ok_and(|c| c.hash() == *hash) {
                return true;
            }
            rest = tail;
        }
        false
    })
}

#[test]
fn a_change_reaches_the_other_editor_before_it_is_stored_and_only_the_acknowledgement_waits() {
    let mut m = Meeting::new();
    assert_eq!(m.text(0), m.text(1));
    assert!(m.store.is_empty());
    let hash = m.type_text(0, "bonjour");
    // The store has not answered: bob has the change all the same.
    assert_eq!(m.store.len(), 1, "the change is being stored");
    assert!(m.deliver(1), "bob was sent the change before it was stored");
    assert!(m.text(1).ends_with("bonjour"), "bob sees alice's words: {:?}", m.text(1));
    // Its heads are the ones bob was last sent: the server claims nothing new.
    let relayed = m.clients[1].received.last().expect("a message").clone();
    assert!(!relayed.heads.contains(&hash));
    // Bob answers without sending alice's change back.
    assert!(m.clients[1].sent.last().is_some_and(|s| s.changes.is_empty() && s.heads.contains(&hash)));
    // Alice's acknowledgement waits for the store.
    while m.deliver(0) {}
    assert!(!m.clients[0].received.iter().any(|r| r.heads.contains(&hash)), "alice was told her change is stored before it was");
    while m.store_one() || m.deliver(0) || m.deliver(1) {}
    assert!(m.clients[0].received.iter().any(|r| r.heads.contains(&hash)), "alice is told once it is stored");
    assert_eq!(m.hub.saved_heads(&m.doc_id), Some(m.clients[0].doc.get_heads().as_slice()));
    assert_eq!(m.clients[0].doc.get_heads(), m.clients[1].doc.get_heads());
    // Bob was sent the change once, alice never.
    assert_eq!(m.clients[1].received.iter().filter(|r| carries(r, &hash)).count(), 1);
    assert!(!m.clients[0].received.iter().any(|r| carries(r, &hash)));
    // Nobody sent it but alice.
    assert_eq!(m.clients[1].sent.iter().filter(|s| carries(s, &hash)).count(), 0);
}

#[test]
fn an_editor_that_has_not_answered_gets_what_arrived_meanwhile_in_one_message() {
    let mut m = Meeting::new();
    let first = m.type_text(0, "a");
    // Bob has not read the first relay yet: the next changes wait for his answer.
    let more: Vec<ChangeHash> = ["b", "c", "d"].iter().map(|s| m.type_text(0, s)).collect();
    assert_eq!(m.clients[1].inbox.len(), 1, "one message in flight to bob");
    assert!(carries(&m.clients[1].inbox[0], &first));
    // His answer to it brings the three others, together.
    assert!(m.deliver(1));
    assert_eq!(m.clients[1].inbox.len(), 1);
    let next = m.clients[1].inbox[0].clone();
    assert!(more.iter().all(|h| carries(&next, h)), "the waiting changes come in one message");
    assert!(m.deliver(1));
    assert!(m.text(1).ends_with("abcd"), "{:?}", m.text(1));
    assert!(m.store.len() <= 1, "no store answer was given, yet bob has everything");
    while m.store_one() || m.deliver(0) || m.deliver(1) {}
    assert_eq!(m.clients[0].doc.get_heads(), m.clients[1].doc.get_heads());
    assert_eq!(m.hub.saved_heads(&m.doc_id), Some(m.clients[0].doc.get_heads().as_slice()));
}

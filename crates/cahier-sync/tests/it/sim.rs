//! A deterministic in-memory network: the hub, an in-memory store, and clients
//! that are real Automerge peers speaking the wire protocol. Random edits, random
//! disconnects and reconnects, messages of different connections delivered in a
//! random order, duplicated changes; then everything heals and runs until quiet,
//! and every replica must have the same heads and text as the store. The store
//! answers late and in a random order, and in one run fails a tenth of its
//! loads and writes: heads the server announces as stored must be in the store
//! at that moment.
//!
//! `CAHIER_SIM_SEEDS=N` runs more seeds than the default; a failing seed is printed.

use std::collections::{HashMap, VecDeque};

use automerge::sync::{self, SyncDoc};
use automerge::transaction::Transactable;
use automerge::{Automerge, ChangeHash, ReadDoc};
use cahier_doc::{DocId, DocView, Editor};
use cahier_sync::wire::Message;
use cahier_sync::{AllowAll, Config, ConnId, Hub, Input, Output, PersistKind};

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        // splitmix64
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

struct Client {
    name: String,
    doc: Automerge,
    conn: Option<ConnId>,
    joined: bool,
    state: sync::State,
    /// The last sync message sent, to duplicate now and then.
    last_sent: Option<Vec<u8>>,
    /// `doc-unavailable` answers received.
    unavailable: usize,
}

#[derive(Default)]
struct Store {
    chunks: HashMap<DocId, Vec<Vec<u8>>>,
}

impl Store {
    fn load(&self, doc: &DocId) -> Option<(Automerge, usize)> {
        let chunks = self.chunks.get(doc)?;
        let all: Vec<u8> = chunks.concat();
        Some((cahier_doc::load(&all).expect("stored bytes load"), chunks.len()))
    }
}

struct World {
    rng: Rng,
    hub: Hub<AllowAll>,
    store: Store,
    clients: Vec<Client>,
    /// Per connection: messages to the server, and to the client.
    up: HashMap<ConnId, VecDeque<Vec<u8>>>,
    down: HashMap<ConnId, VecDeque<Vec<u8>>>,
    /// Store work not answered yet (answered in a random order).
    store_work: Vec<Input>,
    next_conn: ConnId,
    now: u64,
    doc_id: DocId,
    /// Percent of loads and persists the store fails (0 while healing).
    fail_percent: u64,
    /// Store failures so far, and closes the server sent because of them.
    failures: usize,
    closes: usize,
    /// The first time the server called heads stored that the store lacks.
    lost: Option<String>,
}

impl World {
    fn new(seed: u64, n_clients: usize) -> World {
        let mut rng = Rng(seed);
        let mut bytes = [0u8; 16];
        for b in bytes.iter_mut() {
            *b = rng.next() as u8;
        }
        let mut config = Config::new("server", "storage-1");
        config.compact_after = 4;
        config.idle_unload_ms = 5_000;
        let clients = (0..n_clients)
            .map(|i| Client {
                name: format!("client-{i}"),
                doc: if i == 0 {
                    cahier_doc::new_document(&DocView::new_page("Sim"), &Editor::new("client-0"), 0).expect("doc")
                } else {
                    cahier_doc::empty()
                },
                conn: None,
                joined: false,
                state: sync::State::new(),
                last_sent: None,
                unavailable: 0,
            })
            .collect();
        World {
            rng,
            hub: Hub::new(config, AllowAll),
            store: Store::default(),
            clients,
            up: HashMap::new(),
            down: HashMap::new(),
            store_work: Vec::new(),
            next_conn: 1,
            now: 0,
            doc_id: DocId::from_random(bytes),
            fail_percent: 0,
            failures: 0,
            closes: 0,
            lost: None,
        }
    }

    fn hub_input(&mut self, input: Input) {
        self.hub.handle(self.now, input);
    }

    fn flush(&mut self) {
        for out in self.hub.flush() {
            match out {
                Output::Send { conn, bytes } => {
                    if let Some(q) = self.down.get_mut(&conn) {
                        q.push_back(bytes);
                    }
                }
                Output::Close { conn, reason } => {
                    // Only a failing store may make the server drop a well-behaved client.
                    assert!(self.failures > 0, "the server closed a well-behaved client ({conn}): {reason}");
                    self.closes += 1;
                    if let Some(i) = self.clients.iter().position(|c| c.conn == Some(conn)) {
                        self.clients[i].conn = None;
                        self.clients[i].joined = false;
                        self.up.remove(&conn);
                        self.down.remove(&conn);
                        // The socket ends, as the server's connection task reports it.
                        self.hub.handle(self.now, Input::Disconnected { conn });
                    }
                }
                Output::Load { doc } => {
                    let result =
                        if self.store_fails() { Err("injected: the disk is unreadable".into()) } else { Ok(self.store.load(&doc)) };
                    self.store_work.push(Input::Loaded { doc, result });
                }
                Output::Persist { doc, kind, bytes, heads, .. } => {
                    // A failed write stores nothing; its answer comes later, like any other.
                    let result = if self.store_fails() {
                        Err("injected: No space left on device".into())
                    } else {
                        let chunks = self.store.chunks.entry(doc.clone()).or_default();
                        if kind == PersistKind::Snapshot {
                            chunks.clear();
                        }
                        chunks.push(bytes);
                        Ok(())
                    };
                    self.store_work.push(Input::Persisted { doc, heads, result });
                }
                Output::Applied { .. } => {}
                Output::Unload { .. } => {}
                Output::Forward { .. } => panic!("one node forwards nothing to others"),
            }
        }
    }

    fn store_fails(&mut self) -> bool {
        let fails = self.fail_percent > 0 && self.rng.chance(self.fail_percent);
        self.failures += usize::from(fails);
        fails
    }

    /// The oracle of "saved": heads the server announced as stored must all
    /// be in the store at that moment.
    fn check_stored(&mut self, heads: &[String]) {
        if self.lost.is_some() {
            return;
        }
        let stored: std::collections::HashSet<String> = match self.store.load(&self.doc_id) {
            Some((d, _)) => d.get_changes(&[]).iter().map(|c| cahier_sync::wire::encode_head(&c.hash())).collect(),
            None => Default::default(),
        };
        for h in heads {
            if !stored.contains(h) {
                self.lost = Some(format!("the server called {h} stored at t={} but the store lacks it", self.now));
            }
        }
    }

    fn connect(&mut self, i: usize) {
        let conn = self.next_conn;
        self.next_conn += 1;
        self.up.insert(conn, VecDeque::new());
        self.down.insert(conn, VecDeque::new());
        let c = &mut self.clients[i];
        c.conn = Some(conn);
        c.joined = false;
        c.state = sync::State::new();
        let join = Message::Join { sender_id: c.name.clone(), supported_versions: Some(vec!["1".into()]), metadata: None };
        self.hub_input(Input::Connected { conn });
        self.up.get_mut(&conn).expect("queue").push_back(join.encode());
    }

    fn disconnect(&mut self, i: usize) {
        if let Some(conn) = self.clients[i].conn.take() {
            self.up.remove(&conn);
            self.down.remove(&conn);
            self.clients[i].joined = false;
            self.hub_input(Input::Disconnected { conn });
            self.flush();
        }
    }

    /// The client sends what its sync state says it should, if anything.
    fn client_sync(&mut self, i: usize) -> bool {
        let doc_id = self.doc_id.to_string();
        let c = &mut self.clients[i];
        let (Some(conn), true) = (c.conn, c.joined) else { return false };
        let Some(msg) = c.doc.generate_sync_message(&mut c.state) else { return false };
        let data = msg.encode();
        let wire = if c.doc.get_heads().is_empty() {
            Message::Request { sender_id: c.name.clone(), target_id: "server".into(), document_id: doc_id, data }
        } else {
            Message::Sync { sender_id: c.name.clone(), target_id: "server".into(), document_id: doc_id, data }
        };
        let bytes = wire.encode();
        c.last_sent = Some(bytes.clone());
        self.up.get_mut(&conn).expect("queue").push_back(bytes);
        true
    }

    fn client_receive(&mut self, i: usize, bytes: &[u8]) {
        match Message::decode(bytes).expect("server sends valid messages") {
            Message::Peer { .. } => {
                self.clients[i].joined = true;
                self.client_sync(i);
            }
            Message::Sync { data, .. } => {
                let c = &mut self.clients[i];
                let msg = sync::Message::decode(&data).expect("valid sync message");
                c.doc.receive_sync_message(&mut c.state, msg).expect("apply");
                self.client_sync(i);
            }
            Message::DocUnavailable { .. } => {
                self.clients[i].unavailable += 1;
                // After a failed load the client asks again later, from scratch.
                if self.failures > 0 {
                    self.clients[i].state = sync::State::new();
                }
            }
            Message::RemoteHeadsChanged { new_heads, .. } => {
                for h in new_heads {
                    self.check_stored(&h.heads);
                }
            }
            // What the server says before closing a client after a store failure.
            Message::Error { .. } if self.failures > 0 => {}
            other => panic!("unexpected message to a client: {other:?}"),
        }
    }

    fn edit(&mut self, i: usize) {
        let c = &mut self.clients[i];
        let Some(body) = cahier_doc::write::body_obj(&c.doc, None) else { return };
        let len = c.doc.length(&body);
        let pos = self.rng.below(len as u64 + 1) as usize;
        let del = if len > pos && self.rng.chance(30) { self.rng.below(3.min((len - pos) as u64) + 1) as isize } else { 0 };
        let text = ["a", "é", "😀", " ", "\n", "mot "][self.rng.below(6) as usize];
        let mut tx = c.doc.transaction();
        tx.splice_text(&body, pos, del, text).expect("splice");
        tx.commit();
        self.client_sync(i);
    }

    /// One random event. Returns false if there was nothing to deliver.
    fn step(&mut self, chaos: bool) -> bool {
        self.now += self.rng.below(30);
        let n = self.clients.len();
        if chaos {
            let who = self.rng.below(n as u64) as usize;
            match self.rng.below(100) {
                0..=24 => self.edit(who),
                25..=27 => self.disconnect(who),
                28..=32 if self.clients[who].conn.is_none() => self.connect(who),
                33 => {
                    // A duplicated message, as after a retry.
                    let c = &self.clients[who];
                    if let (Some(conn), Some(bytes)) = (c.conn, c.last_sent.clone())
                        && c.joined
                    {
                        self.up.get_mut(&conn).expect("queue").push_back(bytes);
                    }
                }
                34 => {
                    self.hub_input(Input::Tick);
                    self.flush();
                }
                _ => {}
            }
        }
        // Deliver one thing, chosen at random among the non-empty queues.
        let mut choices: Vec<(u8, ConnId)> = Vec::new();
        for (c, q) in &self.up {
            if !q.is_empty() {
                choices.push((0, *c));
            }
        }
        for (c, q) in &self.down {
            if !q.is_empty() {
                choices.push((1, *c));
            }
        }
        if !self.store_work.is_empty() {
            choices.push((2, 0));
        }
        if choices.is_empty() {
            return false;
        }
        choices.sort();
        let (dir, conn) = choices[self.rng.below(choices.len() as u64) as usize];
        match dir {
            0 => {
                // Several inputs before one flush, so batches form.
                let burst = 1 + self.rng.below(3);
                for _ in 0..burst {
                    let Some(bytes) = self.up.get_mut(&conn).and_then(|q| q.pop_front()) else { break };
                    self.hub_input(Input::Received { conn, bytes });
                }
                self.flush();
            }
            1 => {
                let bytes = self.down.get_mut(&conn).and_then(|q| q.pop_front()).expect("message");
                let i = self.clients.iter().position(|c| c.conn == Some(conn)).expect("client");
                self.client_receive(i, &bytes);
            }
            _ => {
                let k = self.rng.below(self.store_work.len() as u64) as usize;
                let input = self.store_work.remove(k);
                self.hub_input(input);
                self.flush();
            }
        }
        true
    }
}

fn run_seed(seed: u64) -> Result<(), String> {
    run_world(seed, 0).map(|_| ())
}

/// Runs one seed; `fail_percent` of the store's loads and writes fail during
/// the chaos (none while healing). Returns the store failures and the closes.
fn run_world(seed: u64, fail_percent: u64) -> Result<(usize, usize), String> {
    let mut w = World::new(seed, 2 + (seed % 4) as usize);
    w.fail_percent = fail_percent;
    for i in 0..w.clients.len() {
        w.connect(i);
    }
    for _ in 0..600 {
        w.step(true);
    }
    // Heal: the store works again, everyone connects, then run until nothing moves.
    w.fail_percent = 0;
    for i in 0..w.clients.len() {
        if w.clients[i].conn.is_none() {
            w.connect(i);
        }
    }
    let mut steps = 0;
    loop {
        steps += 1;
        if steps > 200_000 {
            return Err(format!("seed {seed}: no quiescence after {steps} steps"));
        }
        if w.step(false) {
            continue;
        }
        let mut sent = false;
        for i in 0..w.clients.len() {
            // A client the server closed on a store failure reconnects.
            if w.clients[i].conn.is_none() {
                w.connect(i);
                sent = true;
            }
            sent |= w.client_sync(i);
        }
        if !sent {
            break;
        }
    }
    let stored = w.store.load(&w.doc_id).map(|(d, _)| d).ok_or(format!("seed {seed}: nothing stored"))?;
    let heads: Vec<ChangeHash> = stored.get_heads();
    let text = cahier_doc::read(&stored, None).0.body;
    if w.hub.saved_heads(&w.doc_id).is_some_and(|h| h != heads.as_slice()) {
        return Err(format!("seed {seed}: the hub's saved heads differ from the store"));
    }
    for c in &w.clients {
        if c.doc.get_heads() != heads {
            return Err(format!("seed {seed}: {} has different heads from the store", c.name));
        }
        if cahier_doc::read(&c.doc, None).0.body != text {
            return Err(format!("seed {seed}: {} has different text", c.name));
        }
    }
    if w.hub.has_unsaved() {
        return Err(format!("seed {seed}: the hub still has unsaved changes"));
    }
    if let Some(lost) = w.lost {
        return Err(format!("seed {seed}: {lost}"));
    }
    Ok((w.failures, w.closes))
}

#[test]
fn replicas_converge_with_the_store_under_random_disconnects_and_reordering() {
    let seeds: u64 = std::env::var("CAHIER_SIM_SEEDS").ok().and_then(|v| v.parse().ok()).unwrap_or(200);
    let first: u64 = std::env::var("CAHIER_SIM_FIRST_SEED").ok().and_then(|v| v.parse().ok()).unwrap_or(1);
    let failures: Vec<String> = (first..first + seeds).filter_map(|s| run_seed(s).err()).collect();
    assert!(
        failures.is_empty(),
        "{} of {seeds} seeds failed (CAHIER_SIM_FIRST_SEED=N CAHIER_SIM_SEEDS=1 replays one):\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// The store fails one load or write in ten, and answers late and out of
/// order: the server never calls stored what the store lacks, the clients it
/// drops for it reconnect and send their changes again, and once the store
/// works everyone converges on what it holds.
#[test]
fn a_failing_store_loses_nothing_the_server_called_stored() {
    let seeds: u64 = std::env::var("CAHIER_SIM_SEEDS").ok().and_then(|v| v.parse().ok()).unwrap_or(200);
    let first: u64 = std::env::var("CAHIER_SIM_FIRST_SEED").ok().and_then(|v| v.parse().ok()).unwrap_or(1);
    let (mut failures, mut closes, mut errors) = (0, 0, Vec::new());
    for seed in first..first + seeds {
        match run_world(seed, 10) {
            Ok((f, c)) => (failures, closes) = (failures + f, closes + c),
            Err(e) => errors.push(e),
        }
    }
    assert!(
        errors.is_empty(),
        "{} of {seeds} seeds failed (CAHIER_SIM_FIRST_SEED=N CAHIER_SIM_SEEDS=1 replays one):\n{}",
        errors.len(),
        errors.join("\n")
    );
    // The failures really happened and really dropped clients.
    assert!(failures > seeds as usize && closes > 0, "{failures} store failures, {closes} closes");
}

#[test]
fn a_request_for_an_unknown_document_is_answered_unavailable_then_served_when_it_arrives() {
    let mut w = World::new(7, 2);
    // Client 1 (empty) asks first; client 0 (which has the document) is offline.
    w.connect(1);
    while w.step(false) {}
    assert_eq!(w.clients[1].unavailable, 1, "the server must answer doc-unavailable once, never stay silent");
    // Client 0 comes online and pushes the document: client 1 receives it.
    w.connect(0);
    for _ in 0..10_000 {
        if !w.step(false) {
            let mut sent = false;
            for i in 0..2 {
                sent |= w.client_sync(i);
            }
            if !sent {
                break;
            }
        }
    }
    assert_eq!(w.clients[1].doc.get_heads(), w.clients[0].doc.get_heads());
    assert_eq!(cahier_doc::read(&w.clients[1].doc, None).0.title, "Sim");
}

#[test]
fn a_document_nobody_uses_leaves_memory_after_the_idle_time() {
    let mut w = World::new(11, 1);
    w.connect(0);
    while w.step(false) {}
    assert_eq!(w.hub.stats().documents_loaded, 1);
    w.disconnect(0);
    w.now += 4_000;
    w.hub_input(Input::Tick);
    w.flush();
    assert_eq!(w.hub.stats().documents_loaded, 1, "still within the idle time (5 s)");
    w.now += 1_000;
    w.hub_input(Input::Tick);
    w.flush();
    assert_eq!(w.hub.stats().documents_loaded, 0);
    // Used again, it comes back from the store intact.
    let heads = w.clients[0].doc.get_heads();
    w.clients[0].doc = cahier_doc::empty();
    w.connect(0);
    for _ in 0..10_000 {
        if !w.step(false) && !w.client_sync(0) {
            break;
        }
    }
    assert_eq!(w.clients[0].doc.get_heads(), heads);
}

/// A policy that panics for one document, standing in for a bug deep inside.
struct PanicsOn(DocId);

impl cahier_sync::Policy for PanicsOn {
    fn authorize(&self, _: ConnId, _: &str, doc: &DocId, _: cahier_sync::Access) -> bool {
        assert!(*doc != self.0, "simulated bug on {doc}");
        true
    }
}

#[test]
fn a_panic_on_one_document_fails_its_peer_and_spares_everyone_else() {
    let bad = DocId::from_random([1; 16]);
    let good = DocId::from_random([2; 16]);
    let mut hub = Hub::new(Config::new("server", "storage-1"), PanicsOn(bad.clone()));
    let request = |who: &str, doc: &DocId| {
        let data = cahier_doc::empty().generate_sync_message(&mut sync::State::new()).expect("msg").encode();
        Message::Request { sender_id: who.into(), target_id: "server".into(), document_id: doc.to_string(), data }.encode()
    };
    let join = |who: &str| Message::Join { sender_id: who.into(), supported_versions: None, metadata: None }.encode();
    for (conn, who) in [(1, "victim"), (2, "bystander")] {
        hub.handle(0, Input::Connected { conn });
        hub.handle(0, Input::Received { conn, bytes: join(who) });
    }
    hub.flush();
    let previous_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    hub.handle(0, Input::Received { conn: 1, bytes: request("victim", &bad) });
    std::panic::set_hook(previous_hook);
    hub.handle(0, Input::Received { conn: 2, bytes: request("bystander", &good) });
    let mut out = hub.flush();
    // The bystander's document is loaded and answered as usual.
    let load = out.iter().position(|o| matches!(o, Output::Load { doc } if *doc == good)).expect("load of the good document");
    out.remove(load);
    hub.handle(0, Input::Loaded { doc: good.clone(), result: Ok(None) });
    out.extend(hub.flush());
    let to = |conn: ConnId| -> Vec<String> {
        out.iter()
            .filter_map(|o| match o {
                Output::Send { conn: c, bytes } if *c == conn => Some(format!("{:?}", Message::decode(bytes).expect("valid"))),
                Output::Close { conn: c, reason } if *c == conn => Some(format!("close: {reason}")),
                _ => None,
            })
            .collect()
    };
    let victim = to(1);
    assert!(victim[0].contains("internal error on document"), "{victim:?}");
    assert!(victim[1].starts_with("close:"), "{victim:?}");
    let bystander = to(2);
    assert_eq!(bystander.len(), 1, "{bystander:?}");
    assert!(bystander[0].starts_with("DocUnavailable"), "{bystander:?}");
    assert_eq!(hub.stats().errors.get("panic"), Some(&1));
    assert_eq!(hub.stats().connections, 1);
}

/// Connection 1 may read and write, 2 may only read, 3 may do nothing.
struct Rights;

impl cahier_sync::Policy for Rights {
    fn authorize(&self, conn: ConnId, _: &str, _: &DocId, access: cahier_sync::Access) -> bool {
        match conn {
            1 => true,
            2 => access == cahier_sync::Access::Read,
            _ => false,
        }
    }
}

fn sent_to(out: &[Output], conn: ConnId) -> Vec<Message> {
    out.iter()
        .filter_map(|o| match o {
            Output::Send { conn: c, bytes } if *c == conn => Some(Message::decode(bytes).expect("valid")),
            _ => None,
        })
        .collect()
}

#[test]
fn a_readers_changes_are_never_applied_nor_stored_and_a_refused_document_looks_missing() {
    let doc_id = DocId::from_random([3; 16]);
    let mut hub = Hub::new(Config::new("server", "storage-1"), Rights);
    for (conn, who) in [(1, "writer"), (2, "reader"), (3, "stranger")] {
        hub.handle(0, Input::Connected { conn });
        let join = Message::Join { sender_id: who.into(), supported_versions: None, metadata: None };
        hub.handle(0, Input::Received { conn, bytes: join.encode() });
    }
    hub.flush();
    // The reader pushes a document of its own, hand-crafted.
    let forged = cahier_doc::new_document(&DocView::new_page("Forgé"), &Editor::new("reader"), 0).expect("doc");
    let mut state = sync::State::new();
    let mut msg = forged.generate_sync_message(&mut state).expect("msg");
    msg.changes = forged.save().into();
    let sync = |who: &str, data: Vec<u8>| {
        Message::Sync { sender_id: who.into(), target_id: "server".into(), document_id: doc_id.to_string(), data }.encode()
    };
    hub.handle(0, Input::Received { conn: 2, bytes: sync("reader", msg.encode()) });
    let mut out = hub.flush();
    assert!(matches!(out.iter().find(|o| matches!(o, Output::Load { .. })), Some(Output::Load { .. })));
    let told = sent_to(&out, 2);
    assert!(matches!(&told[0], Message::Error { message } if message.contains("read-only access")), "{told:?}");
    hub.handle(0, Input::Loaded { doc: doc_id.clone(), result: Ok(None) });
    out = hub.flush();
    assert!(!out.iter().any(|o| matches!(o, Output::Persist { .. })), "nothing from a reader is stored");
    // The stranger asks for the same (missing) document and for one that exists:
    // both answers are the same doc-unavailable.
    let data = cahier_doc::empty().generate_sync_message(&mut sync::State::new()).expect("msg").encode();
    hub.handle(
        0,
        Input::Received {
            conn: 3,
            bytes: Message::Request {
                sender_id: "stranger".into(),
                target_id: "server".into(),
                document_id: doc_id.to_string(),
                data: data.clone(),
            }
            .encode(),
        },
    );
    out = hub.flush();
    assert!(matches!(sent_to(&out, 3).as_slice(), [Message::DocUnavailable { .. }]));
    // The writer creates it for real; the stranger still cannot see it.
    let mut real = cahier_doc::new_document(&DocView::new_page("Vrai"), &Editor::new("writer"), 0).expect("doc");
    let mut ws = sync::State::new();
    let mut persisted = false;
    for _ in 0..10 {
        if let Some(m) = real.generate_sync_message(&mut ws) {
            hub.handle(0, Input::Received { conn: 1, bytes: sync("writer", m.encode()) });
        }
        for o in hub.flush() {
            match o {
                Output::Persist { doc, heads, .. } => {
                    persisted = true;
                    hub.handle(0, Input::Persisted { doc, heads, result: Ok(()) });
                }
                Output::Send { conn: 1, bytes } => {
                    if let Ok(Message::Sync { data, .. }) = Message::decode(&bytes) {
                        real.receive_sync_message(&mut ws, sync::Message::decode(&data).expect("m")).expect("apply");
                    }
                }
                _ => {}
            }
        }
    }
    assert!(persisted);
    assert_eq!(hub.saved_heads(&doc_id), Some(real.get_heads().as_slice()));
    hub.handle(
        0,
        Input::Received {
            conn: 3,
            bytes: Message::Request { sender_id: "stranger".into(), target_id: "server".into(), document_id: doc_id.to_string(), data }
                .encode(),
        },
    );
    out = hub.flush();
    assert!(matches!(sent_to(&out, 3).as_slice(), [Message::DocUnavailable { .. }]));
}

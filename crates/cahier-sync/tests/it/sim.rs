//! A deterministic in-memory network: the hub, an in-memory store, and clients
//! that are real Automerge peers speaking the wire protocol. Random edits, random
//! disconnects and reconnects, messages of different connections delivered in a
//! random order, duplicated changes; then everything heals and runs until quiet,
//! and every replica must have the same heads and text as the store. The store
//! answers late and in a random order, and in one run fails a tenth of its
//! loads and writes. Every head the server announces as stored (in a sync
//! message or in heads gossip) must be in the store at that moment.
//!
//! A third run adds partitions (clients cut off for a stretch while they keep
//! editing, what is on the wire held or lost with the connection), a long
//! offline branch (a client offline while the others go on; in one seed in
//! 25 for a day, with thousands of edits), server restarts on the same store (writes in flight land or not,
//! their answers are lost), connections whose last messages reach the server
//! after the client has moved on to a new one, and messages sent again. Every
//! head announced before a restart must be in the store after it, and a world
//! that is not quiet and converged within a bound of steps after healing fails
//! as stalled, with each side's heads.
//!
//! Everything random, actor ids included, comes from the seed: a failing seed
//! replays exactly. `CAHIER_SIM_SEEDS=N` runs more seeds than the default,
//! from `CAHIER_SIM_FIRST_SEED` (1); a failing seed is printed.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};

use automerge::sync::{self, SyncDoc};
use automerge::transaction::Transactable;
use automerge::{ActorId, Automerge, ChangeHash, ReadDoc};
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
    fn bytes<const N: usize>(&mut self) -> [u8; N] {
        let mut b = [0u8; N];
        for x in b.iter_mut() {
            *x = self.next() as u8;
        }
        b
    }
}

/// What may go wrong during the chaos, besides edits, disconnects,
/// reconnects, duplicated messages and messages of different connections
/// delivered out of order.
#[derive(Clone, Copy, Default)]
struct Chaos {
    /// Steps of chaos before the world heals (600 when 0).
    steps: u64,
    /// Percent of loads and writes the store fails.
    fail_percent: u64,
    /// A client that drops its connection may leave messages on the way:
    /// the server reads them (after the client's next connection began,
    /// perhaps), then learns of the close.
    dying: bool,
    /// Groups of clients cut off from the server for a stretch while they
    /// keep editing: nothing moves on their connections, which survive it
    /// (everything held is delivered once healed) or not (the server's side
    /// gives up, what was on the wire is lost).
    partitions: bool,
    /// The server restarts on the same store.
    restarts: bool,
    /// Clients send again a message they sent earlier, on this connection
    /// or an earlier one.
    replays: bool,
    /// One client goes offline for a stretch (a laptop offline for a day)
    /// and makes this many edits meanwhile, while the others go on.
    offline_edits: usize,
    /// Test only: the client this names never reaches the server, and its
    /// connection never says so. The world cannot converge.
    black_hole: Option<usize>,
}

/// What happened in one world (or, added up, in several).
#[derive(Clone, Copy, Default, Debug)]
struct Report {
    seeds: u64,
    /// Store failures, and connections the server closed.
    failures: usize,
    closes: usize,
    partitions: usize,
    /// Connections the server gave up on during a partition.
    partition_drops: usize,
    restarts: usize,
    /// Writes in flight at a restart that reached the store, and that did not.
    writes_landed: usize,
    writes_lost: usize,
    /// Messages the server read from a connection its client had left.
    late: usize,
    replays: usize,
    offline_edits: usize,
    /// Clients offline for a day (1,000 edits or more).
    days: usize,
    /// Heads the server announced as stored.
    announced: usize,
    /// Steps from healing until the world was quiet (the most, when added up).
    heal_steps: u64,
    /// Changes in the store at the end.
    changes: usize,
}

impl Report {
    fn add(&mut self, o: &Report) {
        self.seeds += o.seeds;
        self.failures += o.failures;
        self.closes += o.closes;
        self.partitions += o.partitions;
        self.partition_drops += o.partition_drops;
        self.restarts += o.restarts;
        self.writes_landed += o.writes_landed;
        self.writes_lost += o.writes_lost;
        self.late += o.late;
        self.replays += o.replays;
        self.offline_edits += o.offline_edits;
        self.days += o.days;
        self.announced += o.announced;
        self.heal_steps = self.heal_steps.max(o.heal_steps);
        self.changes += o.changes;
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
    /// The last messages sent, on this connection or earlier ones, to send again.
    sent: VecDeque<Vec<u8>>,
    /// `doc-unavailable` answers received.
    unavailable: usize,
    /// Asks for the server's heads gossip once joined.
    subscribes: bool,
    /// Cut off from the server until this step: a partition, or offline.
    cut_until: u64,
    /// Edits still to make while offline.
    offline_edits: usize,
}

/// One connection, as both of its ends see it.
struct Link {
    client: usize,
    /// Messages to the server, and to the client, in order.
    up: VecDeque<Vec<u8>>,
    down: VecDeque<Vec<u8>>,
    /// The hub knows the connection (no `Disconnected` yet).
    server_open: bool,
    /// The client still uses it.
    client_open: bool,
    /// It was held in a partition: the server may close it for a join that
    /// came too late.
    held: bool,
}

/// The store's work not answered yet.
#[allow(clippy::large_enum_variant, reason = "each is moved once into the hub")]
enum Work {
    Load {
        doc: DocId,
        result: Result<Option<(Automerge, usize)>, String>,
    },
    /// Written when answered: a restart before that loses it or not.
    Persist {
        doc: DocId,
        kind: PersistKind,
        bytes: Vec<u8>,
        heads: Vec<ChangeHash>,
    },
}

#[derive(Default)]
struct Store {
    chunks: HashMap<DocId, Vec<Vec<u8>>>,
    /// Changes the store holds, per document, for the check of announced
    /// heads: the heads of each write as it lands (checked against the bytes
    /// after each restart and at the end), and, when a head is not among
    /// them, every change read from the bytes.
    holds: HashMap<DocId, HashSet<ChangeHash>>,
}

impl Store {
    fn load(&self, doc: &DocId) -> Option<(Automerge, usize)> {
        let chunks = self.chunks.get(doc)?;
        let all: Vec<u8> = chunks.concat();
        Some((cahier_doc::load(&all).expect("stored bytes load"), chunks.len()))
    }

    fn write(&mut self, doc: &DocId, kind: PersistKind, bytes: Vec<u8>, heads: &[ChangeHash]) {
        let chunks = self.chunks.entry(doc.clone()).or_default();
        if kind == PersistKind::Snapshot {
            chunks.clear();
        }
        chunks.push(bytes);
        self.holds.entry(doc.clone()).or_default().extend(heads.iter().copied());
    }

    fn holds(&mut self, doc: &DocId, hash: &ChangeHash) -> bool {
        if self.holds.get(doc).is_some_and(|h| h.contains(hash)) {
            return true;
        }
        let Some((stored, _)) = self.load(doc) else { return false };
        let all: HashSet<ChangeHash> = stored.get_changes_meta(&[]).iter().map(|m| m.hash).collect();
        let found = all.contains(hash);
        self.holds.insert(doc.clone(), all);
        found
    }
}

fn decode_head(head: &str) -> Option<ChangeHash> {
    let bytes = bs58::decode(head).with_check(None).into_vec().ok()?;
    ChangeHash::try_from(bytes.as_slice()).ok()
}

fn short(heads: &[ChangeHash]) -> String {
    let names: Vec<String> = heads.iter().map(|h| h.to_string()[..8].to_owned()).collect();
    format!("[{}]", names.join(" "))
}

/// A client offline types near the top of the text: an edit elsewhere costs
/// automerge 0.12 a walk of the text up to it, and a day of edits over a
/// long text would cost the test run minutes.
const OFFLINE_WITHIN: usize = 64;

struct World {
    rng: Rng,
    config: Config,
    hub: Hub<AllowAll>,
    store: Store,
    clients: Vec<Client>,
    links: BTreeMap<ConnId, Link>,
    /// Store work not answered yet (answered in a random order).
    store_work: Vec<Work>,
    next_conn: ConnId,
    now: u64,
    step_no: u64,
    doc_id: DocId,
    chaos: Chaos,
    /// Percent of loads and persists the store fails (0 while healing).
    fail_percent: u64,
    /// Every head the server announced as stored.
    announced: BTreeSet<ChangeHash>,
    /// The first thing that went wrong: heads announced the store lacks, a
    /// well-behaved client closed, an unexpected message.
    broken: Option<String>,
    report: Report,
}

impl World {
    fn new(seed: u64, n_clients: usize) -> World {
        World::with_chaos(seed, n_clients, Chaos::default())
    }

    fn with_chaos(seed: u64, n_clients: usize, chaos: Chaos) -> World {
        let mut rng = Rng(seed);
        let doc_id = DocId::from_random(rng.bytes());
        let mut config = Config::new("server", "storage-1");
        config.compact_after = 4;
        config.idle_unload_ms = 5_000;
        let clients = (0..n_clients)
            .map(|i| {
                // Actors from the seed, so that the changes (and their hashes)
                // replay. (Setting an author picks a random actor: first the
                // author, then the actor.)
                let mut doc = cahier_doc::empty();
                let editor = Editor::new(&format!("client-{i}"));
                doc.set_author(Some(editor.author()));
                doc.set_actor(ActorId::from(rng.bytes::<16>().as_slice()));
                if i == 0 {
                    cahier_doc::write::apply_view(&mut doc, &DocView::new_page("Sim"), &editor, 0, "create").expect("doc");
                }
                Client {
                    name: format!("client-{i}"),
                    doc,
                    conn: None,
                    joined: false,
                    state: sync::State::new(),
                    last_sent: None,
                    sent: VecDeque::new(),
                    unavailable: 0,
                    subscribes: i % 2 == 1,
                    cut_until: 0,
                    offline_edits: 0,
                }
            })
            .collect();
        World {
            rng,
            hub: Hub::new(config.clone(), AllowAll),
            config,
            store: Store::default(),
            clients,
            links: BTreeMap::new(),
            store_work: Vec::new(),
            next_conn: 1,
            now: 0,
            step_no: 0,
            doc_id,
            fail_percent: chaos.fail_percent,
            chaos,
            announced: BTreeSet::new(),
            broken: None,
            report: Report { seeds: 1, ..Report::default() },
        }
    }

    fn broke(&mut self, what: String) {
        if self.broken.is_none() {
            self.broken = Some(format!("at step {} (t={}): {what}", self.step_no, self.now));
        }
    }

    fn hub_input(&mut self, input: Input) {
        self.hub.handle(self.now, input);
    }

    fn flush(&mut self) {
        for out in self.hub.flush() {
            match out {
                Output::Send { conn, bytes } => {
                    self.check_announced(&bytes);
                    if let Some(l) = self.links.get_mut(&conn)
                        && l.server_open
                    {
                        l.down.push_back(bytes);
                    }
                }
                Output::Close { conn, reason } => {
                    // Only a failing store may make the server drop a
                    // well-behaved client, or a partition that held its join.
                    let held = self.links.get(&conn).is_some_and(|l| l.held);
                    if self.report.failures == 0 && !held {
                        self.broke(format!("the server closed a well-behaved client ({conn}): {reason}"));
                    }
                    self.report.closes += 1;
                    self.server_side_ends(conn);
                    // The socket ends, as the server's connection task reports it.
                    self.hub.handle(self.now, Input::Disconnected { conn });
                }
                Output::Load { doc } => {
                    let result =
                        if self.store_fails() { Err("injected: the disk is unreadable".into()) } else { Ok(self.store.load(&doc)) };
                    self.store_work.push(Work::Load { doc, result });
                }
                Output::Persist { doc, kind, bytes, heads, .. } => self.store_work.push(Work::Persist { doc, kind, bytes, heads }),
                Output::Applied { .. } => {}
                Output::Unload { .. } => {}
                Output::Forward { .. } => panic!("one node forwards nothing to others"),
            }
        }
    }

    fn store_fails(&mut self) -> bool {
        let fails = self.fail_percent > 0 && self.rng.chance(self.fail_percent);
        self.report.failures += usize::from(fails);
        fails
    }

    /// The oracle of "saved": heads the server announces as stored (a sync
    /// message's heads, heads gossip) must all be in the store at that moment.
    fn check_announced(&mut self, bytes: &[u8]) {
        let heads: Vec<ChangeHash> = match Message::decode(bytes) {
            Ok(Message::Sync { data, .. }) => sync::Message::decode(&data).expect("the server sends valid sync messages").heads,
            Ok(Message::RemoteHeadsChanged { new_heads, .. }) => {
                new_heads.iter().flat_map(|r| &r.heads).map(|h| decode_head(h).expect("a head the server sends decodes")).collect()
            }
            _ => return,
        };
        for h in heads {
            if !self.store.holds(&self.doc_id, &h) {
                self.broke(format!("the server announced {h} as stored, but the store lacks it"));
            }
            if self.announced.insert(h) {
                self.report.announced += 1;
            }
        }
    }

    /// Every head the server ever announced as stored is in the store, as
    /// read back from its bytes.
    fn check_announced_kept(&mut self, when: &str, stored: Option<&Automerge>) {
        let missing: Vec<ChangeHash> =
            self.announced.iter().filter(|h| stored.is_none_or(|d| d.get_change_meta_by_hash(h).is_none())).copied().collect();
        if !missing.is_empty() {
            self.broke(format!("{when}: {} heads announced as stored are not in the store: {}", missing.len(), short(&missing)));
        }
    }

    fn cut(&self, i: usize) -> bool {
        self.clients[i].cut_until > self.step_no
    }

    /// Client `i` opens a new connection and sends `join` (not while cut off).
    fn connect(&mut self, i: usize) -> bool {
        if self.cut(i) {
            return false;
        }
        let conn = self.next_conn;
        self.next_conn += 1;
        let c = &mut self.clients[i];
        c.conn = Some(conn);
        c.joined = false;
        c.state = sync::State::new();
        let join = Message::Join { sender_id: c.name.clone(), supported_versions: Some(vec!["1".into()]), metadata: None };
        let link = Link {
            client: i,
            up: VecDeque::from([join.encode()]),
            down: VecDeque::new(),
            server_open: true,
            client_open: true,
            held: false,
        };
        self.links.insert(conn, link);
        self.hub_input(Input::Connected { conn });
        true
    }

    /// Client `i` drops its connection. The server learns it at once, or
    /// (`Chaos::dying`) once it has read what the client had sent.
    fn disconnect(&mut self, i: usize) {
        let Some(conn) = self.clients[i].conn.take() else { return };
        self.clients[i].joined = false;
        let late = self.chaos.dying && self.rng.chance(50);
        let Some(link) = self.links.get_mut(&conn) else { return };
        link.client_open = false;
        link.down.clear();
        if !link.server_open {
            self.links.remove(&conn);
        } else if !late {
            self.server_learns_close(conn);
        }
    }

    /// The server's end of a connection closes: what was on the wire is lost.
    fn server_side_ends(&mut self, conn: ConnId) {
        let Some(link) = self.links.get_mut(&conn) else { return };
        link.server_open = false;
        link.up.clear();
        link.down.clear();
        if !link.client_open {
            self.links.remove(&conn);
        }
    }

    /// The server's connection task reports the socket gone.
    fn server_learns_close(&mut self, conn: ConnId) {
        if !self.links.get(&conn).is_some_and(|l| l.server_open) {
            return;
        }
        self.server_side_ends(conn);
        self.hub_input(Input::Disconnected { conn });
        self.flush();
    }

    /// Sends on client `i`'s connection; lost if the server's end is gone.
    fn send_up(&mut self, i: usize, bytes: Vec<u8>) {
        if self.chaos.black_hole == Some(i) {
            return;
        }
        if let Some(conn) = self.clients[i].conn
            && let Some(l) = self.links.get_mut(&conn)
            && l.server_open
        {
            l.up.push_back(bytes);
        }
    }

    /// The client sends what its sync state says it should, if anything.
    fn client_sync(&mut self, i: usize) -> bool {
        let doc_id = self.doc_id.to_string();
        let c = &mut self.clients[i];
        let (Some(_), true) = (c.conn, c.joined) else { return false };
        let Some(msg) = c.doc.generate_sync_message(&mut c.state) else { return false };
        let data = msg.encode();
        let wire = if c.doc.get_heads().is_empty() {
            Message::Request { sender_id: c.name.clone(), target_id: "server".into(), document_id: doc_id, data }
        } else {
            Message::Sync { sender_id: c.name.clone(), target_id: "server".into(), document_id: doc_id, data }
        };
        let bytes = wire.encode();
        c.last_sent = Some(bytes.clone());
        if self.chaos.replays {
            c.sent.push_back(bytes.clone());
            if c.sent.len() > 16 {
                c.sent.pop_front();
            }
        }
        self.send_up(i, bytes);
        true
    }

    fn client_receive(&mut self, i: usize, bytes: &[u8]) {
        match Message::decode(bytes).expect("server sends valid messages") {
            Message::Peer { .. } => {
                self.clients[i].joined = true;
                if self.clients[i].subscribes {
                    let name = self.clients[i].name.clone();
                    let sub = Message::RemoteSubscriptionChange {
                        sender_id: name,
                        target_id: "server".into(),
                        add: vec![self.config.storage_id.clone()],
                        remove: vec![],
                    };
                    self.send_up(i, sub.encode());
                }
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
                if self.report.failures > 0 {
                    self.clients[i].state = sync::State::new();
                }
            }
            // Checked as the server sent it.
            Message::RemoteHeadsChanged { .. } => {}
            // What the server says before closing a client after a store failure.
            Message::Error { .. } if self.report.failures > 0 => {}
            other => self.broke(format!("unexpected message to {}: {other:?}", self.clients[i].name)),
        }
    }

    fn edit(&mut self, i: usize) {
        self.edit_within(i, usize::MAX);
    }

    /// An edit within the first `within` characters of the text.
    fn edit_within(&mut self, i: usize, within: usize) {
        let c = &mut self.clients[i];
        let Some(body) = cahier_doc::write::body_obj(&c.doc, None) else { return };
        let len = c.doc.length(&body);
        let pos = self.rng.below(len.min(within) as u64 + 1) as usize;
        let del = if len > pos && self.rng.chance(30) { self.rng.below(3.min((len - pos) as u64) + 1) as isize } else { 0 };
        let text = ["a", "é", "😀", " ", "\n", "mot "][self.rng.below(6) as usize];
        let mut tx = c.doc.transaction();
        tx.splice_text(&body, pos, del, text).expect("splice");
        tx.commit();
        self.client_sync(i);
    }

    /// The server process dies and a new one starts on the same store: a
    /// write in flight reached the disk or not, no answer comes; every
    /// connection ends (clients find out as they would, by their socket).
    /// Every head announced before must be in the store.
    fn restart(&mut self) {
        for work in std::mem::take(&mut self.store_work) {
            if let Work::Persist { doc, kind, bytes, heads } = work {
                if self.rng.chance(50) {
                    self.store.write(&doc, kind, bytes, &heads);
                    self.report.writes_landed += 1;
                } else {
                    self.report.writes_lost += 1;
                }
            }
        }
        let conns: Vec<ConnId> = self.links.keys().copied().collect();
        for conn in conns {
            self.server_side_ends(conn);
        }
        self.hub = Hub::new(self.config.clone(), AllowAll);
        self.report.restarts += 1;
        let stored = self.store.load(&self.doc_id).map(|(d, _)| d);
        self.check_announced_kept(&format!("after restart {}", self.report.restarts), stored.as_ref());
    }

    /// A group of clients (at least `who`) is cut off from the server.
    fn partition(&mut self, who: usize) {
        let until = self.step_no + 20 + self.rng.below(180);
        for i in 0..self.clients.len() {
            if i == who || self.rng.chance(40) {
                let c = &mut self.clients[i];
                c.cut_until = c.cut_until.max(until);
                let conns: Vec<ConnId> = self.links.iter().filter(|(_, l)| l.client == i).map(|(id, _)| *id).collect();
                for conn in conns {
                    self.links.get_mut(&conn).expect("link").held = true;
                }
            }
        }
        self.report.partitions += 1;
    }

    /// Client `who` goes offline for `steps` steps, making `edits` edits meanwhile.
    fn go_offline(&mut self, who: usize, steps: u64, edits: usize) {
        self.disconnect(who);
        let c = &mut self.clients[who];
        c.cut_until = c.cut_until.max(self.step_no + steps);
        c.offline_edits += edits;
        self.report.offline_edits += edits;
        self.report.days += usize::from(edits >= 1_000);
    }

    fn chaos_event(&mut self) {
        let n = self.clients.len();
        let who = self.rng.below(n as u64) as usize;
        match self.rng.below(100) {
            0..=24 => self.edit(who),
            25..=27 => self.disconnect(who),
            28..=32 if self.clients[who].conn.is_none() => {
                self.connect(who);
            }
            33 => {
                // A duplicated message, as after a retry.
                let c = &self.clients[who];
                if let (true, Some(bytes)) = (c.joined, c.last_sent.clone()) {
                    self.send_up(who, bytes);
                }
            }
            34 => {
                self.hub_input(Input::Tick);
                self.flush();
            }
            35 if self.chaos.replays && self.clients[who].joined && !self.clients[who].sent.is_empty() => {
                // A message sent earlier (changes the server may have), again.
                let k = self.rng.below(self.clients[who].sent.len() as u64) as usize;
                let bytes = self.clients[who].sent[k].clone();
                self.send_up(who, bytes);
                self.report.replays += 1;
            }
            36 if self.chaos.partitions && self.rng.chance(50) => self.partition(who),
            37 | 38 if self.chaos.partitions && self.cut(who) => {
                // Inside a partition, one end gives up on the connection: the
                // server (its pings go unanswered) or the client.
                if let Some(conn) = self.clients[who].conn {
                    if self.rng.chance(50) {
                        if self.links.get(&conn).is_some_and(|l| l.server_open) {
                            self.report.partition_drops += 1;
                        }
                        self.server_learns_close(conn);
                    } else {
                        self.disconnect(who);
                    }
                }
            }
            39 if self.chaos.restarts && self.rng.chance(60) => self.restart(),
            // Most of all while a write is in flight.
            40 if self.chaos.restarts && self.store_work.iter().any(|w| matches!(w, Work::Persist { .. })) => self.restart(),
            _ => {}
        }
    }

    /// One random event. Returns false if there was nothing to deliver.
    fn step(&mut self, chaos: bool) -> bool {
        self.now += self.rng.below(30);
        self.step_no += 1;
        if chaos {
            self.chaos_event();
        }
        for i in 0..self.clients.len() {
            let left = self.clients[i].offline_edits;
            if left > 0 {
                // Spread over the time offline.
                let steps = self.clients[i].cut_until.saturating_sub(self.step_no).max(1) as usize;
                for _ in 0..left.div_ceil(steps) {
                    self.edit_within(i, OFFLINE_WITHIN);
                }
                self.clients[i].offline_edits -= left.div_ceil(steps);
            }
        }
        // Deliver one thing, chosen at random among what can move.
        let mut choices: Vec<(u8, ConnId)> = Vec::new();
        for (&id, l) in &self.links {
            if self.clients[l.client].cut_until > self.step_no {
                continue;
            }
            if l.server_open && !l.up.is_empty() {
                choices.push((0, id));
            }
            if l.client_open && !l.down.is_empty() {
                choices.push((1, id));
            }
            if l.server_open && !l.client_open && l.up.is_empty() {
                choices.push((3, id));
            }
            if l.client_open && !l.server_open {
                choices.push((4, id));
            }
        }
        if !self.store_work.is_empty() {
            choices.push((2, 0));
        }
        if choices.is_empty() {
            return false;
        }
        let (dir, conn) = choices[self.rng.below(choices.len() as u64) as usize];
        match dir {
            0 => {
                // Several inputs before one flush, so batches form.
                let burst = 1 + self.rng.below(3);
                for _ in 0..burst {
                    let Some(link) = self.links.get_mut(&conn) else { break };
                    let Some(bytes) = link.up.pop_front() else { break };
                    self.report.late += usize::from(!link.client_open);
                    self.hub_input(Input::Received { conn, bytes });
                }
                self.flush();
            }
            1 => {
                let link = self.links.get_mut(&conn).expect("link");
                let bytes = link.down.pop_front().expect("message");
                let i = link.client;
                self.client_receive(i, &bytes);
            }
            2 => {
                let k = self.rng.below(self.store_work.len() as u64) as usize;
                let input = match self.store_work.remove(k) {
                    Work::Load { doc, result } => Input::Loaded { doc, result },
                    Work::Persist { doc, kind, bytes, heads } => {
                        // A failed write stores nothing.
                        let result = if self.store_fails() {
                            Err("injected: No space left on device".into())
                        } else {
                            self.store.write(&doc, kind, bytes, &heads);
                            Ok(())
                        };
                        Input::Persisted { doc, heads, result }
                    }
                };
                self.hub_input(input);
                self.flush();
            }
            3 => self.server_learns_close(conn),
            _ => {
                // The client finds its connection closed.
                let link = self.links.remove(&conn).expect("link");
                let c = &mut self.clients[link.client];
                if c.conn == Some(conn) {
                    c.conn = None;
                    c.joined = false;
                }
            }
        }
        true
    }

    /// Each side's heads, for a failure message.
    fn sides(&self) -> String {
        let mut s = match self.store.load(&self.doc_id) {
            Some((d, _)) => format!("store {} ({} changes)", short(&d.get_heads()), d.get_changes_meta(&[]).len()),
            None => "store empty".to_owned(),
        };
        match self.hub.saved_heads(&self.doc_id) {
            Some(h) => s += &format!("; server saved {}", short(h)),
            None => s += "; server: document not loaded",
        }
        if self.hub.has_unsaved() {
            s += " with unsaved changes";
        }
        for c in &self.clients {
            s += &format!(
                "; {} {} ({} changes, {}, in flight {})",
                c.name,
                short(&c.doc.get_heads()),
                c.doc.get_changes_meta(&[]).len(),
                match (c.conn, c.joined) {
                    (Some(conn), true) => format!("joined on {conn}"),
                    (Some(conn), false) => format!("joining on {conn}"),
                    (None, _) => "offline".to_owned(),
                },
                c.state.in_flight
            );
        }
        let up: usize = self.links.values().map(|l| l.up.len()).sum();
        let down: usize = self.links.values().map(|l| l.down.len()).sum();
        s + &format!("; on the wire: {up} to the server, {down} to clients; {} store answers due", self.store_work.len())
    }

    /// Everything heals (no failures, partitions end, offline clients come
    /// back, everyone connects), then runs until nothing moves. A world not
    /// quiet within `bound` steps, or quiet but not converged, stalled.
    fn heal(&mut self, bound: u64) -> Result<(u64, Automerge), String> {
        self.fail_percent = 0;
        for i in 0..self.clients.len() {
            while self.clients[i].offline_edits > 0 {
                self.edit_within(i, OFFLINE_WITHIN);
                self.clients[i].offline_edits -= 1;
            }
            self.clients[i].cut_until = 0;
        }
        let start = self.step_no;
        loop {
            let steps = self.step_no - start;
            if steps > bound {
                return Err(format!("stalled: not quiet {steps} steps after healing; {}", self.sides()));
            }
            if self.step(false) {
                continue;
            }
            let mut sent = false;
            for i in 0..self.clients.len() {
                // A client the server closed reconnects.
                if self.clients[i].conn.is_none() {
                    sent |= self.connect(i);
                }
                sent |= self.client_sync(i);
            }
            if !sent {
                break;
            }
        }
        let steps = self.step_no - start;
        let Some((stored, _)) = self.store.load(&self.doc_id) else { return Err("nothing stored".into()) };
        let heads = stored.get_heads();
        if self.hub.saved_heads(&self.doc_id).is_some_and(|h| h != heads.as_slice())
            && self.clients.iter().all(|c| Some(c.doc.get_heads().as_slice()) == self.hub.saved_heads(&self.doc_id))
        {
            return Err(format!("lost: everyone agrees on what the server calls saved, but the store differs; {}", self.sides()));
        }
        if self.hub.has_unsaved() || self.clients.iter().any(|c| c.doc.get_heads() != heads) {
            return Err(format!("stalled: quiet {steps} steps after healing, but not converged; {}", self.sides()));
        }
        Ok((steps, stored))
    }
}

/// Runs one seed under `chaos`, then heals and checks. Returns what happened.
fn run_world(seed: u64, chaos: Chaos) -> Result<Report, String> {
    let mut w = World::with_chaos(seed, 2 + (seed % 4) as usize, chaos);
    let result = run(&mut w);
    result.map_err(|e| format!("seed {seed}: {e}"))
}

fn run(w: &mut World) -> Result<Report, String> {
    for i in 0..w.clients.len() {
        w.connect(i);
    }
    let steps = if w.chaos.steps == 0 { 600 } else { w.chaos.steps };
    // The long offline branch: when, who, for how long.
    let offline = (w.chaos.offline_edits > 0).then(|| {
        let who = w.rng.below(w.clients.len() as u64) as usize;
        (w.rng.below(steps / 3), who, steps / 3 + w.rng.below(steps / 2))
    });
    for step in 0..steps {
        if let Some((at, who, len)) = offline
            && step == at
        {
            w.go_offline(who, len, w.chaos.offline_edits);
        }
        w.step(true);
    }
    let changes: usize = w.clients.iter().map(|c| c.doc.get_changes_meta(&[]).len()).max().unwrap_or(0);
    // Generous: a few hundred steps are usual.
    let bound = 20_000 + 20 * changes as u64;
    let healed = w.heal(bound);
    // A loss is reported as such, before what it leads to.
    let stored = w.store.load(&w.doc_id).map(|(d, _)| d);
    w.check_announced_kept("at the end", stored.as_ref());
    if let Some(broken) = w.broken.take() {
        return Err(broken);
    }
    let (heal_steps, stored) = healed?;
    let heads: Vec<ChangeHash> = stored.get_heads();
    let text = cahier_doc::read(&stored, None).0.body;
    if w.hub.saved_heads(&w.doc_id).is_some_and(|h| h != heads.as_slice()) {
        return Err(format!("the hub's saved heads differ from the store; {}", w.sides()));
    }
    for c in &w.clients {
        if cahier_doc::read(&c.doc, None).0.body != text {
            return Err(format!("{} has different text", c.name));
        }
    }
    w.report.heal_steps = heal_steps;
    w.report.changes = stored.get_changes_meta(&[]).len();
    Ok(w.report)
}

fn seeds(default: u64) -> std::ops::Range<u64> {
    let seeds: u64 = std::env::var("CAHIER_SIM_SEEDS").ok().and_then(|v| v.parse().ok()).unwrap_or(default);
    let first: u64 = std::env::var("CAHIER_SIM_FIRST_SEED").ok().and_then(|v| v.parse().ok()).unwrap_or(1);
    first..first + seeds
}

/// Runs `chaos(seed)` on every seed; a panic fails its seed, named.
fn run_seeds(range: std::ops::Range<u64>, chaos: impl Fn(u64) -> Chaos) -> (Report, Vec<String>) {
    let (mut total, mut errors) = (Report::default(), Vec::new());
    for seed in range {
        let chaos = chaos(seed);
        match std::panic::catch_unwind(|| run_world(seed, chaos)) {
            Ok(Ok(r)) => total.add(&r),
            Ok(Err(e)) => errors.push(e),
            Err(p) => {
                let why = p.downcast_ref::<String>().cloned().or_else(|| p.downcast_ref::<&str>().map(|s| (*s).to_owned()));
                errors.push(format!("seed {seed}: panicked: {}", why.unwrap_or_default()));
            }
        }
    }
    (total, errors)
}

fn assert_no_errors(seeds: u64, errors: &[String]) {
    assert!(
        errors.is_empty(),
        "{} of {seeds} seeds failed (CAHIER_SIM_FIRST_SEED=N CAHIER_SIM_SEEDS=1 replays one):\n{}",
        errors.len(),
        errors.join("\n")
    );
}

#[test]
fn replicas_converge_with_the_store_under_random_disconnects_and_reordering() {
    let range = seeds(200);
    let (_, errors) = run_seeds(range.clone(), |_| Chaos::default());
    assert_no_errors(range.end - range.start, &errors);
}

/// The store fails one load or write in ten, and answers late and out of
/// order: the server never calls stored what the store lacks, the clients it
/// drops reconnect and send their changes again, and once the store works
/// everyone converges on what it holds.
#[test]
fn a_failing_store_loses_nothing_the_server_called_stored() {
    let range = seeds(200);
    let (total, errors) = run_seeds(range.clone(), |_| Chaos { fail_percent: 10, ..Chaos::default() });
    assert_no_errors(range.end - range.start, &errors);
    // The failures really happened and really dropped clients.
    assert!(total.failures > total.seeds as usize && total.closes > 0, "{total:?}");
}

/// One seed in this many has a client offline for a day, with thousands of
/// edits: in a debug build such a seed costs about ten times another.
const DAY_EVERY: u64 = 25;

/// The chaos of a real network and server, per seed.
fn partitions(seed: u64) -> Chaos {
    let mut r = Rng(seed ^ 0x5eed_0fda_7a00);
    Chaos {
        dying: true,
        partitions: true,
        restarts: true,
        replays: true,
        // Offline for a while: 20 to 200 edits; for a day (one seed in
        // DAY_EVERY): 1,000 to 2,500.
        offline_edits: if r.below(DAY_EVERY) == 0 { 1_000 + r.below(1_501) as usize } else { 20 + r.below(181) as usize },
        // In one seed in four the store fails (one load or write in 20) too.
        fail_percent: if r.chance(25) { 5 } else { 0 },
        steps: 200,
        ..Chaos::default()
    }
}

/// Partitions that hold or lose what is on the wire while the clients cut
/// off keep editing, a client a day offline with thousands of edits while
/// the others go on, server restarts on the same store with writes in
/// flight, connections whose last messages arrive after the client's next
/// connection began, messages sent again: nothing announced as stored is
/// ever missing from the store (before and after each restart), and once
/// healed every replica converges on the store, without stalling.
#[test]
fn partitions_restarts_and_a_day_offline_lose_nothing_announced_and_converge() {
    let range = seeds(500);
    let (total, errors) = run_seeds(range.clone(), partitions);
    eprintln!("partitions: {total:?}");
    assert_no_errors(range.end - range.start, &errors);
    // The chaos really happened.
    if total.seeds >= 100 {
        assert!(
            total.partitions > 0
                && total.partition_drops > 0
                && total.restarts > 0
                && total.writes_landed > 0
                && total.writes_lost > 0
                && total.late > 0
                && total.replays > 0
                && total.days > 0
                && total.announced > 0,
            "{total:?}"
        );
    }
}

/// Everything comes from the seed: the same seed takes the same path (the
/// random numbers drawn, every step) to the same changes. (The stored bytes
/// themselves differ: the server's replica has a random actor of its own,
/// which automerge writes in a snapshot though it made no change.)
#[test]
fn a_seed_replays_exactly() {
    let once = |seed| {
        let mut w = World::with_chaos(seed, 4, partitions(seed));
        run(&mut w).expect("converges");
        let (stored, _) = w.store.load(&w.doc_id).expect("stored");
        let changes: Vec<ChangeHash> = stored.get_changes_meta(&[]).iter().map(|m| m.hash).collect();
        (w.rng.0, w.step_no, w.now, w.announced.clone(), changes)
    };
    for seed in [3, 7] {
        assert!(once(seed) == once(seed), "seed {seed} replayed differently");
    }
}

/// A client whose messages vanish on a connection that never says so: the
/// world is quiet and not converged, and says so. A world still busy when
/// the bound of steps is reached says so too.
#[test]
fn a_world_that_cannot_converge_is_reported_as_stalled() {
    let chaos = Chaos { black_hole: Some(1), ..Chaos::default() };
    let mut w = World::with_chaos(5, 2, chaos);
    let err = run(&mut w).expect_err("client-1's messages never reach the server");
    eprintln!("{err}");
    assert!(err.contains("stalled: quiet") && err.contains("client-1 [") && err.contains("store ["), "{err}");
    let mut w = World::with_chaos(5, 3, Chaos::default());
    for i in 0..3 {
        w.connect(i);
    }
    for _ in 0..100 {
        w.step(true);
    }
    let err = w.heal(3).expect_err("not quiet within 3 steps");
    assert!(err.contains("stalled: not quiet") && err.contains("client-2 [") && err.contains("on the wire"), "{err}");
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

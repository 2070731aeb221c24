//! The kill loop: the real `cahier serve` on a sled data folder, killed with
//! SIGKILL at random moments and restarted on the same folder, again and again.
//!
//! Each cycle picks where to kill: during start-up (while the store opens, or
//! as the server starts serving), while a Rust client writes one edit at a
//! time, right after a burst of edits (while the storage thread's group commit
//! runs), or around a compaction (a document's 64th persist after a snapshot
//! writes a new one). Rust clients write in every cycle, the real JavaScript
//! automerge-repo client (`tests/js/kill_loop.mjs`) in some, into the same
//! document.
//!
//! The oracle, what a minute-taker would notice: every edit whose change the
//! server advertised as stored (heads in a sync reply, or in
//! `remote-heads-changed` gossip for its storage id, both sent only once the
//! store has flushed) is in the document a fresh client fetches after the
//! restart, before any writer could send it again; a document the server said
//! it stored is never unavailable; and every writer converges with the server.
//!
//! `CAHIER_KILL_CYCLES` (default 200) and `CAHIER_KILL_SEED` (printed; it
//! replays the plan, not the exact timing) for long runs.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use automerge::sync::{self, SyncDoc};
use automerge::transaction::Transactable;
use automerge::{Automerge, ChangeHash, ObjId, ObjType, ROOT, ReadDoc, Value};
use cahier_sync::wire::Message;
use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message as Frame;

use crate::{Rng, s};

/// How long any one awaited event may take before the cycle fails.
const WAIT: Duration = Duration::from_secs(10);
/// A new shared document every so many cycles, so that none grows without bound.
const CYCLES_PER_DOCUMENT: usize = 50;
/// One cycle in this many (among those that write) also runs the JS client.
const JS_EVERY: u64 = 6;
/// Documents one connection of the last check opens (the server's limit is 256).
const DOCUMENTS_PER_CONNECTION: usize = 100;
/// A progress line every so many cycles, for long runs.
const REPORT_EVERY: usize = 500;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_edit_the_server_called_stored_is_lost_when_it_is_killed() {
    let cycles: usize = std::env::var("CAHIER_KILL_CYCLES").ok().and_then(|v| v.parse().ok()).unwrap_or(200);
    let seed: u64 = std::env::var("CAHIER_KILL_SEED").ok().and_then(|v| v.parse().ok()).unwrap_or_else(clock_seed);
    eprintln!("kill loop: {cycles} cycles, seed {seed} (CAHIER_KILL_SEED={seed} replays the plan)");
    let started = Instant::now();
    let tmp = tempfile::tempdir().expect("tmp");
    let data = tmp.path().join("data");
    let mut run = Run {
        rng: Rng::new(seed),
        token: make_token(&data),
        data,
        js: js_dir(),
        compact_after: cahier_server::ServerConfig::default().compact_after,
        docs: BTreeMap::new(),
        main: String::new(),
        compacted: None,
        to_check: BTreeSet::new(),
        tally: Tally::default(),
    };
    for cycle in 0..cycles {
        let phase = Phase::pick(&mut run.rng);
        let mut server = Server::spawn(&run.data);
        if let Err(e) = run.cycle(cycle, phase, &mut server).await {
            let stderr = server.stop().await;
            panic!("cycle {cycle} ({phase:?}), seed {seed}: {e:#}\nthe server's stderr:\n{stderr}");
        }
        if (cycle + 1).is_multiple_of(REPORT_EVERY) && cycle + 1 < cycles {
            eprintln!("kill loop: {}", run.summary(cycle + 1, seed, started));
        }
    }
    let mut server = Server::spawn(&run.data);
    if let Err(e) = run.last_check(&mut server).await {
        let stderr = server.stop().await;
        panic!("after the last cycle, seed {seed}: {e:#}\nthe server's stderr:\n{stderr}");
    }
    eprintln!("kill loop: {}, and the last check", run.summary(cycles, seed, started));
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Phase {
    /// While the store opens, or as the server starts serving.
    StartUp,
    /// While a client writes one edit at a time, after a random number of them.
    Writing,
    /// Right after a burst of edits, while the group commit runs.
    GroupCommit,
    /// Around a document's compaction, with another client's burst beside it.
    Compaction,
}

impl Phase {
    fn pick(rng: &mut Rng) -> Phase {
        match rng.below(20) {
            0..2 => Phase::StartUp,
            2..8 => Phase::Writing,
            8..15 => Phase::GroupCommit,
            _ => Phase::Compaction,
        }
    }
}

#[derive(Default)]
struct Tally {
    kills: BTreeMap<&'static str, usize>,
    checked: usize,
    js_edits: usize,
    js_cycles: usize,
}

struct Run {
    rng: Rng,
    data: PathBuf,
    token: String,
    js: PathBuf,
    compact_after: usize,
    /// Every document written, as its writer holds it, with the oracle.
    docs: BTreeMap<String, Replica>,
    /// The document writer A and the JS client share.
    main: String,
    /// Writer B's last compaction document, converged at the next start.
    compacted: Option<String>,
    /// Documents written since the last check.
    to_check: BTreeSet<String>,
    tally: Tally,
}

impl Run {
    async fn cycle(&mut self, cycle: usize, phase: Phase, server: &mut Server) -> anyhow::Result<()> {
        if phase == Phase::StartUp {
            if self.rng.below(2) == 0 {
                // The kill moment is the random draw itself: anywhere from the
                // exec to opening (recovering) the store and binding.
                tokio::time::sleep(Duration::from_micros(self.rng.below(25_000))).await;
                self.count("start-up: opening");
            } else {
                server.address().await?;
                self.count("start-up: as it starts serving");
            }
            return server.kill().await;
        }
        let addr = server.address().await?;

        // The oracle, before any writer can send again what it holds.
        self.check(addr, &format!("reader-{cycle}")).await?;

        // The writers come back with what they hold and converge.
        if cycle.is_multiple_of(CYCLES_PER_DOCUMENT) || self.main.is_empty() {
            self.main = self.new_doc();
        }
        let main = self.main.clone();
        self.to_check.insert(main.clone());
        let mut a = Conn::open(addr, &self.token, &format!("rust-a-{cycle}")).await?;
        a.converge(&mut self.docs, &main).await.context("writer A converging")?;
        let mut b = Conn::open(addr, &self.token, &format!("rust-b-{cycle}")).await?;
        if let Some(prev) = self.compacted.take() {
            b.converge(&mut self.docs, &prev).await.context("writer B converging")?;
        }

        let mut js = None;
        if phase != Phase::Compaction && self.rng.below(JS_EVERY) == 0 {
            let burst = 1 + self.rng.below(8) as usize;
            let mut client = Js::spawn(&self.js, addr, &self.token, &main, &format!("js{cycle}"), burst)?;
            let ready = client.ready().await?;
            let ours: Vec<String> = self.docs[&main].doc.get_heads().iter().map(|h| h.to_string()).collect();
            if ready != ours {
                client.finish().await;
                bail!("the JS client and writer A did not converge: JS holds {ready:?}, A holds {ours:?}");
            }
            // It writes on from here, beside writer A, until it is killed.
            let first = client.acked().await?;
            self.acked_by_js(&main, first);
            self.tally.js_cycles += 1;
            js = Some(client);
        }

        match phase {
            Phase::StartUp => {}
            Phase::Writing => {
                for _ in 0..self.rng.below(12) {
                    a.write_acked(&mut self.docs, &main).await?;
                }
                self.count("while writing");
            }
            Phase::GroupCommit => {
                for _ in 0..self.rng.below(4) {
                    a.write_acked(&mut self.docs, &main).await?;
                }
                for _ in 0..4 + self.rng.below(29) {
                    a.write(&mut self.docs, &main).await?;
                }
                if self.rng.below(2) == 0 {
                    self.count("group commit: right after the burst");
                } else {
                    a.next_ack(&mut self.docs, &main).await?;
                    self.count("group commit: at its first acknowledgement");
                }
            }
            Phase::Compaction => {
                // A new document: its creation is a snapshot, then each edit
                // written alone is one incremental chunk, until the persist
                // that compacts.
                let id = self.new_doc();
                self.to_check.insert(id.clone());
                self.compacted = Some(id.clone());
                b.converge(&mut self.docs, &id).await.context("writer B creating its document")?;
                for _ in 1..self.compact_after {
                    b.write_acked(&mut self.docs, &id).await?;
                }
                for _ in 0..2 + self.rng.below(16) {
                    a.write(&mut self.docs, &main).await?;
                }
                for _ in 0..1 + self.rng.below(3) {
                    b.write(&mut self.docs, &id).await?;
                }
                match self.rng.below(3) {
                    0 => self.count("compaction: as it is asked"),
                    1 => {
                        b.next_ack(&mut self.docs, &id).await?;
                        self.count("compaction: as it is acknowledged");
                    }
                    _ => {
                        a.next_ack(&mut self.docs, &main).await?;
                        self.count("compaction: at the other writer's acknowledgement");
                    }
                }
            }
        }
        server.kill().await?;

        // What the server sent before it died was stored: it counts.
        a.drain(&mut self.docs).await;
        b.drain(&mut self.docs).await;
        if let Some(client) = js {
            for items in client.finish().await {
                self.acked_by_js(&main, items);
            }
        }
        Ok(())
    }

    /// After the last kill: every document is whole, every writer converges
    /// with what a fresh reader fetches, and the server stops cleanly.
    async fn last_check(&mut self, server: &mut Server) -> anyhow::Result<()> {
        let addr = server.address().await?;
        let ids: Vec<String> = self.docs.keys().cloned().collect();
        // A connection may hold only so many documents: one per batch.
        for (n, batch) in ids.chunks(DOCUMENTS_PER_CONNECTION).enumerate() {
            self.to_check = batch.iter().cloned().collect();
            self.check(addr, &format!("reader-last-{n}")).await?;
            let mut a = Conn::open(addr, &self.token, &format!("rust-a-last-{n}")).await?;
            for id in batch {
                a.converge(&mut self.docs, id).await?;
            }
            let mut reader = Conn::open(addr, &self.token, &format!("reader-converged-{n}")).await?;
            for id in batch {
                let fetched = reader.fetch(id).await?.with_context(|| format!("{id} is unavailable"))?;
                if fetched.get_heads() != self.docs[id].doc.get_heads() {
                    bail!("{id}: a fresh reader and the writer did not converge");
                }
            }
        }
        server.terminate().await
    }

    /// Fetches every document written since the last check, and one older
    /// one, with a fresh client, and checks the oracle.
    async fn check(&mut self, addr: SocketAddr, name: &str) -> anyhow::Result<()> {
        if !self.docs.is_empty() {
            let older = self.rng.below(self.docs.len() as u64) as usize;
            self.to_check.extend(self.docs.keys().nth(older).cloned());
        }
        let mut reader = Conn::open(addr, &self.token, name).await?;
        for id in std::mem::take(&mut self.to_check) {
            let fetched = reader.fetch(&id).await?;
            self.tally.checked += self.docs[&id].check(&id, fetched.as_ref())?;
        }
        Ok(())
    }

    fn summary(&self, cycles: usize, seed: u64, started: Instant) -> String {
        let t = &self.tally;
        let edits: usize = self.docs.values().map(|r| r.acked.len()).sum();
        format!(
            "{cycles} cycles, seed {seed}, {:.0} s; kills: {}; {edits} acknowledged edits ({} from the JS client) in {} documents, \
             {} checks of an acknowledged edit after a restart, 0 lost; {} JS cycles",
            started.elapsed().as_secs_f64(),
            t.kills.iter().map(|(k, n)| format!("{k} {n}")).collect::<Vec<_>>().join(", "),
            t.js_edits,
            self.docs.len(),
            t.checked,
            t.js_cycles,
        )
    }

    fn new_doc(&mut self) -> String {
        let mut bytes = [0u8; 16];
        bytes[..8].copy_from_slice(&self.rng.next_u64().to_le_bytes());
        bytes[8..].copy_from_slice(&self.rng.next_u64().to_le_bytes());
        let id = cahier_doc::DocId::from_random(bytes).to_string();
        self.docs.insert(id.clone(), Replica::new());
        id
    }

    fn acked_by_js(&mut self, id: &str, items: Vec<String>) {
        self.tally.js_edits += items.len();
        if let Some(r) = self.docs.get_mut(id) {
            r.acked.extend(items);
        }
    }

    fn count(&mut self, moment: &'static str) {
        *self.tally.kills.entry(moment).or_default() += 1;
    }
}

/// A writer's copy of a document, and what the server said it stores of it.
pub(crate) struct Replica {
    pub(crate) doc: Automerge,
    items: ObjId,
    /// Own changes the server has not said it stores yet (`None`: the creation).
    pending: Vec<(ChangeHash, Option<String>)>,
    /// Items the server said it stores, from every writer: the oracle.
    pub(crate) acked: Vec<String>,
    /// Whether the server advertised heads of this document at all.
    stored: bool,
    next: usize,
}

impl Replica {
    pub(crate) fn new() -> Replica {
        let mut doc = Automerge::new();
        let mut tx = doc.transaction();
        let items = tx.put_object(ROOT, "items", ObjType::List).expect("items list");
        let (hash, _) = tx.commit();
        let pending = hash.map(|h| (h, None)).into_iter().collect();
        Replica { doc, items, pending, acked: Vec::new(), stored: false, next: 0 }
    }

    /// Appends one item, named by this replica's actor and a number.
    fn edit(&mut self) {
        let item = format!("{}:{}", self.doc.get_actor(), self.next);
        self.next += 1;
        let len = self.doc.length(&self.items);
        let mut tx = self.doc.transaction();
        tx.insert(&self.items, len, item.as_str()).expect("insert");
        let (hash, _) = tx.commit();
        self.pending.extend(hash.map(|h| (h, Some(item))));
    }

    /// The server says it stores `heads`: every own change they descend from
    /// is acknowledged. Heads this copy has not received yet are left out,
    /// which can only undercount.
    fn stored_heads(&mut self, heads: &[ChangeHash]) {
        if heads.is_empty() {
            return;
        }
        self.stored = true;
        let known: Vec<ChangeHash> = heads.iter().copied().filter(|h| self.doc.get_change_meta_by_hash(h).is_some()).collect();
        if known.is_empty() {
            return;
        }
        let after: HashSet<ChangeHash> = self.doc.get_changes_meta(&known).into_iter().map(|c| c.hash).collect();
        let acked = &mut self.acked;
        self.pending.retain(|(hash, item)| {
            if after.contains(hash) {
                return true;
            }
            acked.extend(item.clone());
            false
        });
    }

    /// The oracle on what a fresh reader fetched; returns how many
    /// acknowledged items it checked.
    fn check(&self, id: &str, fetched: Option<&Automerge>) -> anyhow::Result<usize> {
        let Some(doc) = fetched else {
            if self.stored {
                bail!("lost: the server said it stored document {id} ({} acknowledged items), now it is unavailable", self.acked.len());
            }
            return Ok(0);
        };
        let items = items(doc);
        let lost: Vec<&String> = self.acked.iter().filter(|i| !items.contains(i.as_str())).collect();
        if !lost.is_empty() {
            bail!(
                "lost: {} of the {} items the server said it stored in {id} are missing after the restart, e.g. {:?}",
                lost.len(),
                self.acked.len(),
                &lost[..lost.len().min(5)]
            );
        }
        Ok(self.acked.len())
    }
}

/// The strings of a document's `items` list (scalars from Rust, text from JS).
pub(crate) fn items(doc: &Automerge) -> HashSet<String> {
    let Ok(Some((Value::Object(ObjType::List), list))) = doc.get(ROOT, "items") else { return HashSet::new() };
    (0..doc.length(&list))
        .filter_map(|i| match doc.get(&list, i).ok()?? {
            (Value::Scalar(s), _) => s.as_str().map(str::to_owned),
            (Value::Object(ObjType::Text), text) => doc.text(&text).ok(),
            _ => None,
        })
        .collect()
}

type Ws = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// One client socket: the automerge-repo handshake, subscribed to the
/// server's storage id, with one sync state per document.
pub(crate) struct Conn {
    ws: Ws,
    name: String,
    server: String,
    pub(crate) storage_id: String,
    states: HashMap<String, sync::State>,
}

impl Conn {
    pub(crate) async fn open(addr: SocketAddr, token: &str, name: &str) -> anyhow::Result<Conn> {
        let url = format!("ws://{addr}/sync?token={token}");
        let (ws, _) =
            tokio::time::timeout(WAIT, tokio_tungstenite::connect_async(url)).await.context("connecting in time")?.context("connecting")?;
        let mut conn = Conn { ws, name: name.to_owned(), server: String::new(), storage_id: String::new(), states: HashMap::new() };
        let join = Message::Join { sender_id: name.to_owned(), supported_versions: Some(vec!["1".into()]), metadata: None };
        conn.send(&join).await?;
        let Some(Message::Peer { sender_id, metadata, .. }) = conn.recv(Instant::now() + WAIT).await? else {
            bail!("{name}: expected the server's peer message");
        };
        conn.server = sender_id;
        conn.storage_id = metadata.and_then(|m| m.storage_id).context("the server should announce a storage id")?;
        let subscribe = Message::RemoteSubscriptionChange {
            sender_id: name.to_owned(),
            target_id: conn.server.clone(),
            add: vec![conn.storage_id.clone()],
            remove: Vec::new(),
        };
        conn.send(&subscribe).await?;
        Ok(conn)
    }

    async fn send(&mut self, msg: &Message) -> anyhow::Result<()> {
        self.ws.send(Frame::Binary(msg.encode().into())).await.with_context(|| format!("{}: sending", self.name))
    }

    /// The next protocol message before `deadline`; `None` once the socket is closed.
    async fn recv(&mut self, deadline: Instant) -> anyhow::Result<Option<Message>> {
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let frame = tokio::time::timeout(left, self.ws.next()).await.with_context(|| format!("{}: no message in time", self.name))?;
            match frame {
                Some(Ok(Frame::Binary(b))) => return Ok(Some(Message::decode(&b).context("the server sends valid messages")?)),
                Some(Ok(Frame::Close(_))) | Some(Err(_)) | None => return Ok(None),
                Some(Ok(_)) => continue,
            }
        }
    }

    pub(crate) async fn send_sync(&mut self, docs: &BTreeMap<String, Replica>, id: &str) -> anyhow::Result<()> {
        let doc = &docs[id].doc;
        let state = self.states.entry(id.to_owned()).or_default();
        let Some(m) = doc.generate_sync_message(state) else { return Ok(()) };
        let (sender_id, target_id, document_id, data) = (self.name.clone(), self.server.clone(), id.to_owned(), m.encode());
        self.send(&Message::Sync { sender_id, target_id, document_id, data }).await
    }

    /// Takes one message from the server; `false` once the socket is closed.
    async fn pump(&mut self, docs: &mut BTreeMap<String, Replica>, deadline: Instant) -> anyhow::Result<bool> {
        match self.recv(deadline).await? {
            None => Ok(false),
            Some(Message::Sync { document_id, data, .. }) => {
                let Some(replica) = docs.get_mut(&document_id) else { return Ok(true) };
                let m = sync::Message::decode(&data).context("a valid sync message")?;
                let heads = m.heads.clone();
                let state = self.states.entry(document_id.clone()).or_default();
                replica.doc.receive_sync_message(state, m).context("applying the server's sync message")?;
                replica.stored_heads(&heads);
                self.send_sync(docs, &document_id).await?;
                Ok(true)
            }
            Some(Message::RemoteHeadsChanged { document_id, new_heads, .. }) => {
                if let Some(replica) = docs.get_mut(&document_id) {
                    for h in new_heads.iter().filter(|h| h.storage_id == self.storage_id) {
                        let heads: Vec<ChangeHash> = h.heads.iter().map(|s| decode_head(s)).collect::<anyhow::Result<_>>()?;
                        replica.stored_heads(&heads);
                    }
                }
                Ok(true)
            }
            Some(Message::Error { message }) => bail!("{}: the server said: {message}", self.name),
            Some(Message::DocUnavailable { document_id, .. }) => bail!("{}: the server says {document_id} is unavailable", self.name),
            Some(_) => Ok(true),
        }
    }

    /// Takes messages until `done` holds.
    pub(crate) async fn until(
        &mut self,
        docs: &mut BTreeMap<String, Replica>,
        what: &str,
        done: impl Fn(&BTreeMap<String, Replica>) -> bool,
    ) -> anyhow::Result<()> {
        let deadline = Instant::now() + WAIT;
        while !done(docs) {
            if !self.pump(docs, deadline).await.with_context(|| format!("waiting for {what}"))? {
                bail!("{}: the connection closed while waiting for {what}", self.name);
            }
        }
        Ok(())
    }

    /// Syncs document `id` until the server says it stores exactly what this
    /// writer holds (new sync state, as after any reconnection).
    async fn converge(&mut self, docs: &mut BTreeMap<String, Replica>, id: &str) -> anyhow::Result<()> {
        self.states.remove(id);
        self.send_sync(docs, id).await?;
        let state_done = |conn_states: &HashMap<String, sync::State>, docs: &BTreeMap<String, Replica>| {
            let heads = docs[id].doc.get_heads();
            conn_states.get(id).and_then(|s| s.their_heads.as_ref()) == Some(&heads) && docs[id].pending.is_empty()
        };
        let deadline = Instant::now() + WAIT;
        while !state_done(&self.states, docs) {
            if !self.pump(docs, deadline).await.with_context(|| format!("converging on {id}"))? {
                bail!("{}: the connection closed while converging on {id}", self.name);
            }
        }
        Ok(())
    }

    /// One edit, sent without waiting.
    async fn write(&mut self, docs: &mut BTreeMap<String, Replica>, id: &str) -> anyhow::Result<()> {
        docs.get_mut(id).context("a known document")?.edit();
        self.send_sync(docs, id).await
    }

    /// One edit, then waits until the server says it stores it.
    pub(crate) async fn write_acked(&mut self, docs: &mut BTreeMap<String, Replica>, id: &str) -> anyhow::Result<()> {
        self.write(docs, id).await?;
        self.until(docs, "the acknowledgement of an edit", |d| d[id].pending.is_empty()).await
    }

    /// Waits until the server acknowledges at least one more of this writer's edits.
    async fn next_ack(&mut self, docs: &mut BTreeMap<String, Replica>, id: &str) -> anyhow::Result<()> {
        let before = docs[id].pending.len();
        self.until(docs, "an acknowledgement", |d| d[id].pending.len() < before).await
    }

    /// Takes what the killed server sent before it died, until the socket ends.
    async fn drain(&mut self, docs: &mut BTreeMap<String, Replica>) {
        let deadline = Instant::now() + WAIT;
        while let Ok(true) = self.pump(docs, deadline).await {}
    }

    /// Fetches document `id` into an empty document, as a new client would;
    /// `None` if the server says it is unavailable.
    pub(crate) async fn fetch(&mut self, id: &str) -> anyhow::Result<Option<Automerge>> {
        let mut doc = Automerge::new();
        let mut state = sync::State::new();
        let data = doc.generate_sync_message(&mut state).context("a first message")?.encode();
        let (sender_id, target_id, document_id) = (self.name.clone(), self.server.clone(), id.to_owned());
        self.send(&Message::Request { sender_id, target_id, document_id, data }).await?;
        let deadline = Instant::now() + WAIT;
        loop {
            match self.recv(deadline).await.with_context(|| format!("fetching {id}"))? {
                None => bail!("{}: the connection closed while fetching {id}", self.name),
                Some(Message::DocUnavailable { document_id, .. }) if document_id == id => return Ok(None),
                Some(Message::Sync { document_id, data, .. }) if document_id == id => {
                    doc.receive_sync_message(&mut state, sync::Message::decode(&data)?).context("applying")?;
                    let heads = doc.get_heads();
                    if !heads.is_empty() && state.their_heads.as_ref() == Some(&heads) {
                        return Ok(Some(doc));
                    }
                    if let Some(m) = doc.generate_sync_message(&mut state) {
                        let (sender_id, target_id, document_id) = (self.name.clone(), self.server.clone(), id.to_owned());
                        self.send(&Message::Sync { sender_id, target_id, document_id, data: m.encode() }).await?;
                    }
                }
                Some(Message::Error { message }) => bail!("{}: the server said: {message}", self.name),
                Some(_) => {}
            }
        }
    }
}

/// A head as automerge-repo gossips it: bs58check of the hash's 32 bytes.
fn decode_head(s: &str) -> anyhow::Result<ChangeHash> {
    let bytes = bs58::decode(s).with_check(None).into_vec().with_context(|| format!("a bs58check head: {s:?}"))?;
    ChangeHash::try_from(&bytes[..]).map_err(|e| anyhow::anyhow!("a 32-byte head: {e}"))
}

/// A `cahier serve` process on a free loopback port (`--listen 127.0.0.1:0`;
/// it prints the address it got).
pub(crate) struct Server {
    child: Child,
    stdout: mpsc::UnboundedReceiver<String>,
    stderr: Option<tokio::task::JoinHandle<String>>,
    addr: Option<SocketAddr>,
    killed: bool,
}

impl Server {
    pub(crate) fn spawn(data: &Path) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_cahier"))
            .args(["serve", "--data", s(data), "--listen", "127.0.0.1:0"])
            .current_dir(data.parent().expect("a parent folder"))
            .env_remove("CAHIER_DATA")
            .env_remove("CAHIER_LISTEN")
            .env_remove("CAHIER_PUBLIC_URL")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("start cahier serve");
        let stdout = lines(child.stdout.take().expect("stdout"));
        let stderr = Some(read_all(child.stderr.take().expect("stderr")));
        Server { child, stdout, stderr, addr: None, killed: false }
    }

    /// Waits for the line that says where it listens (the socket is bound by then).
    pub(crate) async fn address(&mut self) -> anyhow::Result<SocketAddr> {
        if let Some(a) = self.addr {
            return Ok(a);
        }
        let deadline = Instant::now() + WAIT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = tokio::time::timeout(left, self.stdout.recv())
                .await
                .context("the server did not start serving in time")?
                .context("the server stopped before serving")?;
            if let Some(addr) = line.strip_prefix("cahier: serving ").and_then(|l| l.rsplit_once(" on http://")) {
                let addr: SocketAddr = addr.1.parse().with_context(|| format!("an address in {line:?}"))?;
                self.addr = Some(addr);
                return Ok(addr);
            }
        }
    }

    /// SIGKILL. The server must still be running: one that stopped by itself failed.
    async fn kill(&mut self) -> anyhow::Result<()> {
        if self.killed {
            return Ok(());
        }
        if let Some(status) = self.child.try_wait()? {
            bail!("the server stopped by itself before the kill: {status}");
        }
        self.child.start_kill()?;
        self.killed = true;
        let status = tokio::time::timeout(WAIT, self.child.wait()).await.context("the killed server did not end")??;
        use std::os::unix::process::ExitStatusExt;
        if status.signal() != Some(9) {
            bail!("the server ended otherwise than by the kill: {status}");
        }
        Ok(())
    }

    /// SIGTERM: the server closes its sockets, flushes and exits with success.
    pub(crate) async fn terminate(&mut self) -> anyhow::Result<()> {
        let pid = self.child.id().context("a running server")?;
        let sent = std::process::Command::new("kill").args(["-TERM", &pid.to_string()]).status()?;
        if !sent.success() {
            bail!("kill -TERM {pid} failed");
        }
        self.killed = true;
        let status = tokio::time::timeout(WAIT, self.child.wait()).await.context("the server did not stop in time")??;
        if !status.success() {
            bail!("the server stopped with {status}");
        }
        Ok(())
    }

    /// Ends the process whatever its state and returns what it wrote on stderr.
    pub(crate) async fn stop(&mut self) -> String {
        let _ = self.child.start_kill();
        let _ = self.child.wait().await;
        match self.stderr.take() {
            Some(task) => task.await.unwrap_or_default(),
            None => String::new(),
        }
    }
}

/// The real JS automerge-repo client, writing into a shared document.
struct Js {
    child: Child,
    stdout: mpsc::UnboundedReceiver<String>,
    stderr: Option<tokio::task::JoinHandle<String>>,
}

impl Js {
    fn spawn(dir: &Path, addr: SocketAddr, token: &str, id: &str, tag: &str, burst: usize) -> anyhow::Result<Js> {
        let url = format!("ws://{addr}/sync?token={token}");
        let mut child = Command::new("node")
            .arg(dir.join("kill_loop.mjs"))
            .args([url.as_str(), &format!("automerge:{id}"), tag, &burst.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .context("running node")?;
        let stdout = lines(child.stdout.take().context("stdout")?);
        let stderr = Some(read_all(child.stderr.take().context("stderr")?));
        Ok(Js { child, stdout, stderr })
    }

    async fn line(&mut self, what: &str) -> anyhow::Result<serde_json::Value> {
        let next = tokio::time::timeout(WAIT, self.stdout.recv()).await;
        let line = match next {
            Ok(Some(line)) => line,
            _ => {
                let _ = self.child.start_kill();
                let stderr = match self.stderr.take() {
                    Some(t) => t.await.unwrap_or_default(),
                    None => String::new(),
                };
                bail!("the JS client gave no {what}:\n{stderr}");
            }
        };
        serde_json::from_str(&line).with_context(|| format!("the JS client printed {line:?}"))
    }

    /// The heads the JS client holds once it holds what the server stores.
    async fn ready(&mut self) -> anyhow::Result<Vec<String>> {
        let v = self.line("ready line").await?;
        let heads = v["ready"].as_array().context("a ready line")?;
        Ok(heads.iter().filter_map(|h| h.as_str().map(str::to_owned)).collect())
    }

    /// The next burst of items the server said it stores.
    async fn acked(&mut self) -> anyhow::Result<Vec<String>> {
        let v = self.line("acknowledgement").await?;
        acked_items(&v).context("an acked line")
    }

    /// Kills it and returns every acknowledged burst it printed.
    async fn finish(mut self) -> Vec<Vec<String>> {
        let _ = self.child.start_kill();
        let _ = self.child.wait().await;
        let mut out = Vec::new();
        while let Some(line) = self.stdout.recv().await {
            if let Some(items) = serde_json::from_str(&line).ok().as_ref().and_then(acked_items) {
                out.push(items);
            }
        }
        out
    }
}

fn acked_items(v: &serde_json::Value) -> Option<Vec<String>> {
    Some(v["acked"].as_array()?.iter().filter_map(|i| i.as_str().map(str::to_owned)).collect())
}

/// The lines a child writes, as they come; the channel ends with the pipe.
fn lines(out: impl AsyncRead + Unpin + Send + 'static) -> mpsc::UnboundedReceiver<String> {
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut lines = BufReader::new(out).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

fn read_all(out: impl AsyncRead + Unpin + Send + 'static) -> tokio::task::JoinHandle<String> {
    tokio::spawn(async move {
        let mut out = out;
        let mut b = Vec::new();
        let _ = out.read_to_end(&mut b).await;
        String::from_utf8_lossy(&b).into_owned()
    })
}

/// An editor account made with the CLI, and an API token for it.
pub(crate) fn make_token(data: &Path) -> String {
    use std::io::Write;
    let mut add = std::process::Command::new(env!("CARGO_BIN_EXE_cahier"))
        .args(["user", "add", "kill-loop", "--role", "editor", "--data", s(data)])
        .env_remove("CAHIER_DATA")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run cahier user add");
    add.stdin.take().expect("stdin").write_all(b"un mot de passe assez long\n").expect("password");
    let out = add.wait_with_output().expect("cahier user add");
    assert!(out.status.success(), "cahier user add: {}", String::from_utf8_lossy(&out.stderr));
    crate::ok(&["token", "create", "kill-loop", "--data", s(data)]).trim().to_owned()
}

fn js_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/js");
    assert!(
        dir.join("node_modules/@automerge/automerge-repo-network-websocket").exists(),
        "the JS test packages are missing: run the README's test command (scripts/test), which installs them in tests/js"
    );
    dir
}

fn clock_seed() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(1)
}

//! `cahier serve --data postgres://…` as a host runs it, on a real PostgreSQL
//! cluster (`cahier-testpg`): a document written over a real sync WebSocket
//! survives SIGKILL and a restart, two nodes on one database serve what
//! the other stored, a change made on one node reaches, live, a client of
//! the same document on the other, and so does presence, never stored;
//! PostgreSQL restarted under writers loses nothing they were told is stored.

use std::io::{BufRead, BufReader, Write as _};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use automerge::sync::SyncDoc;
use automerge::{ChangeHash, ReadDoc as _};
use cahier_doc::{DocId, DocView, Editor};
use cahier_sync::wire::Message;
use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message as Frame;

use crate::ok;

const WAIT: Duration = Duration::from_secs(20);

/// One `cahier serve` process; killed (SIGKILL) when dropped.
struct Node {
    child: Child,
    addr: String,
    log: tempfile::NamedTempFile,
}

impl Node {
    fn start(data: &str) -> Node {
        Node::start_with(data, &[])
    }

    /// A node started with more flags.
    fn start_with(data: &str, flags: &[&str]) -> Node {
        let log = tempfile::NamedTempFile::new().expect("log file");
        let mut child = Command::new(env!("CARGO_BIN_EXE_cahier"))
            .args(["serve", "--data", data, "--listen", "127.0.0.1:0"])
            .args(flags)
            .env_remove("CAHIER_DATA")
            .stdout(Stdio::piped())
            .stderr(log.reopen().expect("log"))
            .spawn()
            .expect("start cahier serve");
        let mut line = String::new();
        let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
        let read = stdout.read_line(&mut line);
        // The server prints more (the setup link): keep reading, or its
        // next line would find the pipe closed.
        std::thread::spawn(move || std::io::copy(&mut stdout, &mut std::io::sink()));
        let addr = match (read, line.trim().rsplit_once(" on http://")) {
            (Ok(_), Some((_, addr))) => addr.to_owned(),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("cahier serve did not start: {line:?}\n{}", std::fs::read_to_string(log.path()).unwrap_or_default());
            }
        };
        Node { child, addr, log }
    }

    fn kill(mut self) {
        self.child.kill().expect("SIGKILL");
        let status = self.child.wait().expect("wait");
        assert!(!status.success(), "the server was killed");
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.log.path()).unwrap_or_default()
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A sync client on one node's `/sync`, joined.
struct Client {
    ws: tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>,
    name: String,
}

impl Client {
    async fn joined(node: &Node, token: &str, name: &str) -> Client {
        let url = format!("ws://{}/sync?token={token}", node.addr);
        let (ws, _) = tokio_tungstenite::connect_async(url).await.expect("connect");
        let mut c = Client { ws, name: name.to_owned() };
        c.send(Message::Join { sender_id: c.name.clone(), supported_versions: Some(vec!["1".into()]), metadata: None }).await;
        match c.recv(node).await {
            Message::Peer { .. } => c,
            other => panic!("expected peer, got {other:?}"),
        }
    }

    async fn send(&mut self, msg: Message) {
        self.ws.send(Frame::Binary(msg.encode().into())).await.expect("send");
    }

    async fn recv(&mut self, node: &Node) -> Message {
        loop {
            let next =
                tokio::time::timeout(WAIT, self.ws.next()).await.unwrap_or_else(|_| panic!("no answer within {WAIT:?}\n{}", node.log()));
            match next {
                Some(Ok(Frame::Binary(b))) => return Message::decode(&b).expect("valid CBOR"),
                Some(Ok(Frame::Close(f))) => panic!("closed: {f:?}\n{}", node.log()),
                Some(Ok(_)) => continue,
                Some(Err(e)) => panic!("socket error {e}\n{}", node.log()),
                None => panic!("socket ended\n{}", node.log()),
            }
        }
    }

    fn sync(&self, id: &str, m: automerge::sync::Message) -> Message {
        Message::Sync { sender_id: self.name.clone(), target_id: "s".into(), document_id: id.to_owned(), data: m.encode() }
    }

    /// Syncs `doc` as `id` until the server's heads are ours: the server
    /// advertises heads only once they are committed.
    async fn push(&mut self, node: &Node, doc: &mut automerge::Automerge, id: &str) {
        let mut state = automerge::sync::State::new();
        let first = doc.generate_sync_message(&mut state).expect("something to send");
        self.send(self.sync(id, first)).await;
        loop {
            match self.recv(node).await {
                Message::Sync { data, .. } => {
                    doc.receive_sync_message(&mut state, automerge::sync::Message::decode(&data).expect("decode")).expect("apply");
                    if state.their_heads.as_deref() == Some(&doc.get_heads()[..]) {
                        return;
                    }
                    if let Some(m) = doc.generate_sync_message(&mut state) {
                        self.send(self.sync(id, m)).await;
                    }
                }
                Message::RemoteHeadsChanged { .. } => {}
                other => panic!("expected sync, got {other:?}\n{}", node.log()),
            }
        }
    }

    /// Syncs `doc` as `id` with `state` (answering the server) until `done`,
    /// failing after [`WAIT`] in all (the server's pings do not extend it).
    async fn sync_until(
        &mut self,
        node: &Node,
        id: &str,
        doc: &mut automerge::Automerge,
        state: &mut automerge::sync::State,
        done: impl Fn(&automerge::Automerge, &automerge::sync::State) -> bool,
    ) {
        if let Some(m) = doc.generate_sync_message(state) {
            self.send(self.sync(id, m)).await;
        }
        let until = async {
            while !done(doc, state) {
                match self.recv(node).await {
                    Message::Sync { data, document_id, .. } if document_id == id => {
                        doc.receive_sync_message(state, automerge::sync::Message::decode(&data).expect("decode")).expect("apply");
                        if let Some(m) = doc.generate_sync_message(state) {
                            self.send(self.sync(id, m)).await;
                        }
                    }
                    Message::RemoteHeadsChanged { .. } | Message::Ephemeral { .. } => {}
                    other => panic!("expected sync, got {other:?}\n{}", node.log()),
                }
            }
        };
        if tokio::time::timeout(WAIT, until).await.is_err() {
            panic!("{} not in sync with {} within {WAIT:?}\n{}", self.name, node.addr, node.log());
        }
    }

    /// An ephemeral message in this client's name.
    fn ephemeral(&self, id: &str, count: u64, data: Vec<u8>) -> Message {
        Message::Ephemeral {
            sender_id: self.name.clone(),
            target_id: "s".into(),
            count,
            session_id: format!("{}-session", self.name),
            document_id: id.to_owned(),
            data,
        }
    }

    /// The next ephemeral message the server sends: its sender, document and
    /// data (sync messages on the way are skipped: nothing changes meanwhile).
    async fn next_ephemeral(&mut self, node: &Node) -> (String, String, Vec<u8>) {
        // Bounded as a whole: the server's pings would keep `recv` waiting.
        let next = async {
            loop {
                match self.recv(node).await {
                    Message::Ephemeral { sender_id, document_id, data, .. } => return (sender_id, document_id, data),
                    Message::Sync { .. } | Message::RemoteHeadsChanged { .. } => {}
                    other => panic!("expected presence, got {other:?}\n{}", node.log()),
                }
            }
        };
        match tokio::time::timeout(WAIT, next).await {
            Ok(got) => got,
            Err(_) => panic!("no presence within {WAIT:?}\n{}", node.log()),
        }
    }

    /// Waits until the server closes this connection; the errors it said.
    async fn refused(&mut self) -> Vec<String> {
        let mut said = Vec::new();
        loop {
            let next = tokio::time::timeout(WAIT, self.ws.next()).await.unwrap_or_else(|_| panic!("not closed within {WAIT:?}"));
            match next {
                Some(Ok(Frame::Binary(b))) => {
                    if let Ok(Message::Error { message }) = Message::decode(&b) {
                        said.push(message);
                    }
                }
                Some(Ok(Frame::Close(_))) | None | Some(Err(_)) => return said,
                Some(Ok(_)) => {}
            }
        }
    }

    /// Requests `id` and syncs until this client holds `heads`.
    async fn fetch(&mut self, node: &Node, id: &str, heads: &[ChangeHash]) -> automerge::Automerge {
        let mut doc = cahier_doc::empty();
        let mut state = automerge::sync::State::new();
        let data = doc.generate_sync_message(&mut state).expect("first message").encode();
        self.send(Message::Request { sender_id: self.name.clone(), target_id: "s".into(), document_id: id.to_owned(), data }).await;
        while doc.get_heads() != heads {
            match self.recv(node).await {
                Message::Sync { data, .. } => {
                    doc.receive_sync_message(&mut state, automerge::sync::Message::decode(&data).expect("decode")).expect("apply");
                    if let Some(m) = doc.generate_sync_message(&mut state) {
                        self.send(self.sync(id, m)).await;
                    }
                }
                Message::RemoteHeadsChanged { .. } => {}
                other => panic!("expected the document, got {other:?}\n{}", node.log()),
            }
        }
        doc
    }
}

/// A fresh database with an editor account; returns its URL and a token.
fn database_with_editor() -> (String, String) {
    editor_on(cahier_testpg::cluster())
}

/// A fresh database of `cluster` with an editor account; its URL and a token.
fn editor_on(cluster: &cahier_testpg::Cluster) -> (String, String) {
    let url = cluster.database();
    let mut add = Command::new(env!("CARGO_BIN_EXE_cahier"))
        .args(["user", "add", "camille", "--role", "editor", "--data", &url])
        .env_remove("CAHIER_DATA")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("cahier user add");
    add.stdin.take().expect("stdin").write_all(b"un mot de passe assez long\n").expect("password");
    let out = add.wait_with_output().expect("wait");
    assert!(out.status.success(), "cahier user add: {}", String::from_utf8_lossy(&out.stderr));
    let token = ok(&["token", "create", "camille", "--data", &url]).trim().to_owned();
    (url, token)
}

fn minutes(text: &str) -> (String, automerge::Automerge) {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).expect("random");
    let view = DocView { body: text.to_owned(), ..DocView::new_minutes("Conseil d'école") };
    let doc = cahier_doc::new_document(&view, &Editor::new("Camille"), 1_795_199_400_000).expect("doc");
    (DocId::from_random(bytes).to_string(), doc)
}

fn body(doc: &automerge::Automerge) -> String {
    cahier_doc::read(doc, None).0.body
}

#[test]
fn a_document_written_over_sync_survives_sigkill_and_a_restart_on_postgres() {
    let (url, token) = database_with_editor();
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let (id, mut doc) = minutes("Ordre du jour : la cantine.");
    let node = Node::start(&url);
    rt.block_on(async {
        let mut c = Client::joined(&node, &token, "camille-1").await;
        c.push(&node, &mut doc, &id).await;
    });
    node.kill();

    let node = Node::start(&url);
    let again = rt.block_on(async {
        let mut c = Client::joined(&node, &token, "camille-2").await;
        c.fetch(&node, &id, &doc.get_heads()).await
    });
    assert_eq!(body(&again), "Ordre du jour : la cantine.");
    drop(node);
    // The command line reads the same database.
    let listed = ok(&["list", "--data", &url]);
    assert!(listed.contains(&id) && listed.contains("Conseil d'école"), "{listed}");
}

#[test]
fn two_nodes_on_one_database_serve_what_the_other_stored() {
    let (url, token) = database_with_editor();
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let (a, b) = (Node::start(&url), Node::start(&url));
    let (id, mut doc) = minutes("Écrit sur le nœud A.");
    let (other_id, mut other) = minutes("Écrit sur le nœud B.");
    rt.block_on(async {
        let mut on_a = Client::joined(&a, &token, "sur-a").await;
        on_a.push(&a, &mut doc, &id).await;
        let mut on_b = Client::joined(&b, &token, "sur-b").await;
        assert_eq!(body(&on_b.fetch(&b, &id, &doc.get_heads()).await), "Écrit sur le nœud A.");
        on_b.push(&b, &mut other, &other_id).await;
        let mut on_a = Client::joined(&a, &token, "encore-sur-a").await;
        assert_eq!(body(&on_a.fetch(&a, &other_id, &other.get_heads()).await), "Écrit sur le nœud B.");
    });
}

/// Whether `doc` holds every change `heads` name.
fn holds(doc: &automerge::Automerge, heads: &[ChangeHash]) -> bool {
    heads.iter().all(|h| doc.get_change_by_hash(h).is_some())
}

/// Appends `text` to the document's body, as one change.
fn type_at_end(doc: &mut automerge::Automerge, text: &str) {
    use automerge::transaction::Transactable as _;
    let body = cahier_doc::write::body_obj(doc, None).expect("a body");
    let mut tx = doc.transaction();
    let len = tx.length(&body);
    tx.splice_text(&body, len, 0, text).expect("type");
    tx.commit();
}

#[test]
fn a_change_on_one_node_reaches_the_other_nodes_client_live() {
    let (url, token) = database_with_editor();
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let (a, b) = (Node::start(&url), Node::start(&url));
    let (id, mut on_x) = minutes("Ordre du jour.");
    rt.block_on(async {
        // X stores the document on A; Y opens it on B: both nodes hold it.
        let mut x = Client::joined(&a, &token, "x-sur-a").await;
        let mut x_state = automerge::sync::State::new();
        x.sync_until(&a, &id, &mut on_x, &mut x_state, |d, s| s.their_heads.as_deref() == Some(&d.get_heads()[..])).await;
        let mut y = Client::joined(&b, &token, "y-sur-b").await;
        let mut on_y = cahier_doc::empty();
        let mut y_state = automerge::sync::State::new();
        let data = on_y.generate_sync_message(&mut y_state).expect("first message").encode();
        y.send(Message::Request { sender_id: y.name.clone(), target_id: "s".into(), document_id: id.clone(), data }).await;
        let heads = on_x.get_heads();
        y.sync_until(&b, &id, &mut on_y, &mut y_state, |d, _| holds(d, &heads)).await;

        // X writes on A: Y hears of it from B, without asking.
        type_at_end(&mut on_x, " Point 1 : la cantine.");
        let heads = on_x.get_heads();
        let sent = std::time::Instant::now();
        x.sync_until(&a, &id, &mut on_x, &mut x_state, |d, s| s.their_heads.as_deref() == Some(&d.get_heads()[..])).await;
        y.sync_until(&b, &id, &mut on_y, &mut y_state, |d, _| holds(d, &heads)).await;
        eprintln!("A to B: {:?}", sent.elapsed());
        assert_eq!(body(&on_y), "Ordre du jour. Point 1 : la cantine.");

        // Y writes on B: X hears of it from A.
        type_at_end(&mut on_y, " Point 2 : la kermesse.");
        let heads = on_y.get_heads();
        let sent = std::time::Instant::now();
        y.sync_until(&b, &id, &mut on_y, &mut y_state, |d, s| s.their_heads.as_deref() == Some(&d.get_heads()[..])).await;
        x.sync_until(&a, &id, &mut on_x, &mut x_state, |d, _| holds(d, &heads)).await;
        eprintln!("B to A: {:?}", sent.elapsed());
        assert_eq!(body(&on_x), "Ordre du jour. Point 1 : la cantine. Point 2 : la kermesse.");
    });
}

/// Stores `changes` to the document `id` as another node would, but
/// without announcing them: only catching up by key can find them.
fn store_unannounced(url: &str, id: &str, changes: &[u8]) {
    let hex: String = changes.iter().map(|b| format!("{b:02x}")).collect();
    let db = cahier_testpg::database_name(url);
    cahier_testpg::cluster().sql(db, &format!("SELECT cahier.append_change('{id}', 'incremental', '\\x{hex}')"));
}

/// Opens `id` on `node` as a new client, synced until it holds `heads`.
async fn follower(
    node: &Node,
    token: &str,
    name: &str,
    id: &str,
    heads: &[ChangeHash],
) -> (Client, automerge::Automerge, automerge::sync::State) {
    let mut c = Client::joined(node, token, name).await;
    let mut doc = cahier_doc::empty();
    let mut state = automerge::sync::State::new();
    let data = doc.generate_sync_message(&mut state).expect("first message").encode();
    c.send(Message::Request { sender_id: c.name.clone(), target_id: "s".into(), document_id: id.to_owned(), data }).await;
    c.sync_until(node, id, &mut doc, &mut state, |d, _| holds(d, heads)).await;
    (c, doc, state)
}

/// A node's connection listening for the others' announcements is cut
/// (`pg_terminate_backend`) after a change was stored that was never
/// announced: when it listens again, the node reads, by key, what its open
/// documents lack, and its client gets the change (the slow timer is set
/// to an hour, so it is not what finds it).
#[test]
fn a_node_whose_listener_was_cut_catches_up_by_key_when_it_listens_again() {
    let (url, token) = database_with_editor();
    let cluster = cahier_testpg::cluster();
    let db = cahier_testpg::database_name(&url).to_owned();
    let node = Node::start_with(&url, &["--catch-up-secs", "3600"]);
    let (id, mut doc) = minutes("Ordre du jour.");
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        let mut x = Client::joined(&node, &token, "x").await;
        x.push(&node, &mut doc, &id).await;
        let (mut y, mut on_y, mut state) = follower(&node, &token, "y", &id, &doc.get_heads()).await;
        let mut elsewhere = doc.fork();
        type_at_end(&mut elsewhere, " Point 1 : écrit ailleurs.");
        store_unannounced(&url, &id, &elsewhere.save_after(&doc.get_heads()));
        let cut = format!(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = '{db}' AND application_name = 'cahier-listen'"
        );
        assert_eq!(cluster.sql(&db, &cut), "1", "the node's listener was there");
        let heads = elsewhere.get_heads();
        y.sync_until(&node, &id, &mut on_y, &mut state, |d, _| holds(d, &heads)).await;
        assert_eq!(body(&on_y), "Ordre du jour. Point 1 : écrit ailleurs.");
    });
}

/// A change stored and never announced (its node died between its commit and
/// its announcement) reaches the clients of the other nodes all the same: each
/// node compares its open documents with the database on a slow timer.
#[test]
fn a_change_never_announced_reaches_the_clients_on_the_slow_timer() {
    let (url, token) = database_with_editor();
    let node = Node::start_with(&url, &["--catch-up-secs", "1"]);
    let (id, mut doc) = minutes("Ordre du jour.");
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        let mut x = Client::joined(&node, &token, "x").await;
        x.push(&node, &mut doc, &id).await;
        let (mut y, mut on_y, mut state) = follower(&node, &token, "y", &id, &doc.get_heads()).await;
        let mut elsewhere = doc.fork();
        type_at_end(&mut elsewhere, " Point 1 : jamais annoncé.");
        store_unannounced(&url, &id, &elsewhere.save_after(&doc.get_heads()));
        let heads = elsewhere.get_heads();
        y.sync_until(&node, &id, &mut on_y, &mut state, |d, _| holds(d, &heads)).await;
        assert_eq!(body(&on_y), "Ordre du jour. Point 1 : jamais annoncé.");
    });
}

/// A load balancer in front of the nodes, as small as can be: each TCP
/// connection it accepts goes to the node it points at then (the test points
/// it elsewhere once a node is dead). Stops accepting when dropped.
struct Balancer {
    addr: std::net::SocketAddr,
    target: std::sync::Arc<std::sync::Mutex<String>>,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl Balancer {
    fn to(node: &Node) -> Balancer {
        use std::sync::atomic::Ordering;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        let target = std::sync::Arc::new(std::sync::Mutex::new(node.addr.clone()));
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (to, stopped) = (target.clone(), stop.clone());
        std::thread::spawn(move || {
            for client in listener.incoming() {
                if stopped.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(client) = client else { continue };
                let node = to.lock().expect("target").clone();
                let Ok(server) = std::net::TcpStream::connect(&node) else { continue };
                for (mut from, mut into) in [
                    (client.try_clone().expect("clone"), server.try_clone().expect("clone")),
                    (server.try_clone().expect("clone"), client.try_clone().expect("clone")),
                ] {
                    // Either side ending ends both, as a dead node's connections do.
                    std::thread::spawn(move || {
                        let _ = std::io::copy(&mut from, &mut into);
                        let _ = from.shutdown(std::net::Shutdown::Both);
                        let _ = into.shutdown(std::net::Shutdown::Both);
                    });
                }
            }
        });
        Balancer { addr, target, stop }
    }

    fn point_to(&self, node: &Node) {
        *self.target.lock().expect("target") = node.addr.clone();
    }
}

impl Drop for Balancer {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
        let _ = std::net::TcpStream::connect(self.addr);
    }
}

/// The real JS automerge-repo client (`tests/js/nodes.mjs`) on one document,
/// told what to do line by line; killed when dropped.
struct Js {
    child: Child,
    stdin: std::process::ChildStdin,
    lines: std::sync::mpsc::Receiver<String>,
    stderr: tempfile::NamedTempFile,
    tag: String,
}

impl Js {
    fn open(addr: &str, token: &str, id: &str, tag: &str) -> Js {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/js");
        assert!(
            dir.join("node_modules/@automerge/automerge-repo-network-websocket").exists(),
            "the JS test packages are missing: run the README's test command (scripts/test), which installs them in tests/js"
        );
        let stderr = tempfile::NamedTempFile::new().expect("stderr file");
        let mut child = Command::new("node")
            .arg(dir.join("nodes.mjs"))
            .args([&format!("ws://{addr}/sync?token={token}"), &format!("automerge:{id}"), tag])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(stderr.reopen().expect("stderr"))
            .spawn()
            .expect("run node");
        let stdin = child.stdin.take().expect("stdin");
        let stdout = BufReader::new(child.stdout.take().expect("stdout"));
        let (tx, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in stdout.lines() {
                let Ok(line) = line else { return };
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        let mut js = Js { child, stdin, lines, stderr, tag: tag.to_owned() };
        js.expect("ready", serde_json::Value::Bool(true));
        js
    }

    /// Waits for the line `{key: value}`.
    fn expect(&mut self, key: &str, value: serde_json::Value) {
        let line = match self.lines.recv_timeout(WAIT + Duration::from_secs(15)) {
            Ok(line) => line,
            Err(_) => panic!(
                "the JS client {} printed no {key} line:\n{}",
                self.tag,
                std::fs::read_to_string(self.stderr.path()).unwrap_or_default()
            ),
        };
        let got: serde_json::Value = serde_json::from_str(&line).unwrap_or_else(|_| panic!("the JS client printed {line:?}"));
        assert_eq!(got, serde_json::json!({ key: value }), "the JS client {}", self.tag);
    }

    fn tell(&mut self, command: serde_json::Value) {
        writeln!(self.stdin, "{command}").expect("tell the JS client");
    }

    /// Types `text` at the end of the body; returns once the server said it stores it.
    fn write(&mut self, text: &str) {
        self.tell(serde_json::json!({ "write": text }));
        self.expect("acked", text.into());
    }

    /// Returns once this client's copy holds `text`.
    fn sees(&mut self, text: &str) {
        self.tell(serde_json::json!({ "see": text }));
        self.expect("seen", text.into());
    }
}

impl Drop for Js {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The real JS automerge-repo client on node A (through a load balancer) and
/// another on node B, on one document: each sees the other's typing, live.
/// Then A is killed (SIGKILL) and the balancer sends its client to B: its
/// WebSocket reconnects by itself, it goes on typing, and both see it all,
/// nothing acknowledged lost.
#[test]
fn js_clients_on_two_nodes_converge_live_and_one_carries_on_when_its_node_is_killed() {
    let (url, token) = database_with_editor();
    let (a, b) = (Node::start(&url), Node::start(&url));
    let (id, mut doc) = minutes("Ordre du jour.");
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        let mut c = Client::joined(&a, &token, "rust").await;
        c.push(&a, &mut doc, &id).await;
    });
    let balancer = Balancer::to(&a);
    let mut x = Js::open(&balancer.addr.to_string(), &token, &id, "x-sur-a");
    let mut y = Js::open(&b.addr, &token, &id, "y-sur-b");
    x.write(" X1 sur A.");
    y.sees(" X1 sur A.");
    y.write(" Y1 sur B.");
    x.sees(" Y1 sur B.");

    a.kill();
    balancer.point_to(&b);
    x.write(" X2 après la panne.");
    y.sees(" X2 après la panne.");
    y.write(" Y2 sur B.");
    x.sees(" Y2 sur B.");

    // Everything acknowledged is stored: a new client of B gets it all.
    let stored = rt.block_on(async {
        let mut c = Client::joined(&b, &token, "rust-again").await;
        let mut state = automerge::sync::State::new();
        let mut copy = cahier_doc::empty();
        let data = copy.generate_sync_message(&mut state).expect("first message").encode();
        c.send(Message::Request { sender_id: c.name.clone(), target_id: "s".into(), document_id: id.clone(), data }).await;
        c.sync_until(&b, &id, &mut copy, &mut state, |d, _| body(d).contains("Y2")).await;
        body(&copy)
    });
    for text in [" X1 sur A.", " Y1 sur B.", " X2 après la panne.", " Y2 sur B."] {
        assert!(stored.contains(text), "{text:?} in {stored:?}");
    }
}

/// `GET path` on a node: the status and the body.
fn http_get(addr: &str, path: &str) -> (u16, String) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(WAIT)).expect("timeout");
    write!(s, "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").expect("request");
    let mut answer = String::new();
    s.read_to_string(&mut answer).expect("answer");
    let status = answer.split(' ').nth(1).and_then(|c| c.parse().ok()).expect("a status line");
    (status, answer.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default())
}

/// A node cut off from its database cannot save anyone's edits: its
/// `/healthz` says so (503, naming the database), so the load balancer sends
/// people to the nodes that can, and says `ok` again once the database is back.
#[test]
fn a_node_cut_off_from_its_database_says_so_on_healthz() {
    let (url, _token) = database_with_editor();
    let cluster = cahier_testpg::cluster();
    let db = cahier_testpg::database_name(&url).to_owned();
    let node = Node::start(&url);
    assert_eq!(http_get(&node.addr, "/healthz"), (200, "ok".to_owned()));
    cluster.sql("postgres", &format!("ALTER DATABASE {db} ALLOW_CONNECTIONS false"));
    cluster.sql("postgres", &format!("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = '{db}'"));
    let (status, body) = http_get(&node.addr, "/healthz");
    cluster.sql("postgres", &format!("ALTER DATABASE {db} ALLOW_CONNECTIONS true"));
    assert_eq!((status, body.as_str()), (503, "the store does not answer"), "nothing of the database (host, role) is told");
    assert_eq!(http_get(&node.addr, "/healthz"), (200, "ok".to_owned()), "back once the database is");
    node.kill();
}

/// Presence as Cahier's editor sends it: a snapshot of its state.
fn presence(name: &str, who: &str) -> Vec<u8> {
    let mut data = Vec::new();
    let mut e = minicbor::Encoder::new(&mut data);
    e.map(1).and_then(|e| e.str("__presence")).and_then(|e| e.map(2)).expect("cbor");
    e.str("type").and_then(|e| e.str("snapshot")).and_then(|e| e.str("state")).and_then(|e| e.map(3)).expect("cbor");
    e.str("name").and_then(|e| e.str(name)).and_then(|e| e.str("who")).and_then(|e| e.str(who)).expect("cbor");
    e.str("color").and_then(|e| e.str("hsl(200 70% 40%)")).expect("cbor");
    data
}

/// The name a presence snapshot shows.
fn presence_name(data: &[u8]) -> Option<String> {
    let mut d = minicbor::Decoder::new(data);
    // Finds `key` in the map at the decoder's position, leaving it at its value.
    fn find(d: &mut minicbor::Decoder<'_>, key: &str) -> Option<()> {
        let n = d.map().ok()??;
        for _ in 0..n {
            if d.str().ok()? == key {
                return Some(());
            }
            d.skip().ok()?;
        }
        None
    }
    find(&mut d, "__presence")?;
    find(&mut d, "state")?;
    find(&mut d, "name")?;
    d.str().ok().map(str::to_owned)
}

/// Every table of Cahier's schema: its rows' count and a digest of them.
fn tables(url: &str) -> Vec<String> {
    let (cluster, db) = (cahier_testpg::cluster(), cahier_testpg::database_name(url));
    let names = cluster.sql(db, "SELECT tablename FROM pg_tables WHERE schemaname = 'cahier' ORDER BY tablename");
    names
        .lines()
        .map(|t| {
            let sql = format!("SELECT count(*) || ' ' || md5(coalesce(string_agg(t::text, ',' ORDER BY t::text), '')) FROM cahier.{t} t");
            format!("{t}: {}", cluster.sql(db, &sql))
        })
        .collect()
}

/// Presence crosses nodes: a participant on A appears, under the name A
/// checked, to a participant of the same document on B; a participant of
/// another document on B hears nothing of it; forged presence is refused on
/// A and goes nowhere; nothing of it is written to the database.
#[test]
fn presence_on_one_node_reaches_the_other_nodes_clients_of_that_document_and_is_never_stored() {
    let (url, token) = database_with_editor();
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let (a, b) = (Node::start(&url), Node::start(&url));
    let (id, mut doc) = minutes("Ordre du jour.");
    let (other_id, mut other) = minutes("Une autre réunion.");
    rt.block_on(async {
        let mut x = Client::joined(&a, &token, "x-sur-a").await;
        x.push(&a, &mut doc, &id).await;
        x.push(&a, &mut other, &other_id).await;
        let mut y = Client::joined(&b, &token, "y-sur-b").await;
        y.fetch(&b, &id, &doc.get_heads()).await;
        let mut z = Client::joined(&b, &token, "z-sur-b").await;
        z.fetch(&b, &other_id, &other.get_heads()).await;
        let mut forger = Client::joined(&a, &token, "faussaire-sur-a").await;
        forger.fetch(&a, &id, &doc.get_heads()).await;
        let stored = tables(&url);

        // In another's name: refused on A, before anything is passed on.
        forger.send(forger.ephemeral(&id, 1, presence("La directrice", "account:directrice"))).await;
        let said = forger.refused().await;
        assert!(said.iter().any(|s| s.contains("this connection is \"camille\"")), "{said:?}");

        // X's own: Y on B sees it, under the name A checked. The first
        // presence Y gets is X's, so the forged one never left A. (20, one
        // after the other: within what a connection may pass on in a second.)
        let mut latencies = Vec::new();
        for count in 1..=20 {
            let sent = std::time::Instant::now();
            x.send(x.ephemeral(&id, count, presence("camille", "account:camille"))).await;
            let (sender, doc_id, data) = y.next_ephemeral(&b).await;
            latencies.push(sent.elapsed());
            assert_eq!((sender.as_str(), doc_id.as_str(), presence_name(&data).as_deref()), ("x-sur-a", id.as_str(), Some("camille")));
        }
        latencies.sort();
        eprintln!(
            "presence from a client of node A to a client of node B, {} rounds: median {:?}, p90 {:?}, max {:?}",
            latencies.len(),
            latencies[latencies.len() / 2],
            latencies[latencies.len() * 9 / 10],
            latencies[latencies.len() - 1]
        );

        // Z, on B with another document, hears nothing of it: X's presence on
        // Z's document, sent after Y got every one of the others, is the
        // first Z gets.
        x.send(x.ephemeral(&other_id, 21, presence("camille", "account:camille"))).await;
        let (sender, doc_id, _) = z.next_ephemeral(&b).await;
        assert_eq!((sender.as_str(), doc_id.as_str()), ("x-sur-a", other_id.as_str()));

        assert_eq!(tables(&url), stored, "presence is never stored");
    });
}

/// Everything a store holds besides its documents: its identity and records.
fn records(data: &str) -> (String, Vec<(String, Vec<u8>)>) {
    let store = cahier_store::Store::open(data).expect("open");
    (store.storage_id().expect("id"), store.records("").expect("records"))
}

/// `cahier migrate` moves a folder into PostgreSQL and back: every document
/// with the same heads, every record (an account, its token, the
/// publications, the audit log) and the store's identity, with progress on
/// the way; the folder it comes back into serves the published page.
#[test]
fn migrate_moves_a_folder_into_postgresql_and_back_with_every_documents_heads() {
    let tmp = tempfile::tempdir().expect("tmp");
    let before = tmp.path().join("avant");
    let before = crate::s(&before).to_owned();
    ok(&["import", crate::s(&crate::sample_dir()), "--data", &before]);
    ok(&["publish", "classe-dehors", "--by", "camille", "--data", &before]);
    let mut add = Command::new(env!("CARGO_BIN_EXE_cahier"))
        .args(["user", "add", "camille", "--role", "editor", "--data", &before])
        .env_remove("CAHIER_DATA")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("cahier user add");
    add.stdin.take().expect("stdin").write_all(b"un mot de passe assez long\n").expect("password");
    assert!(add.wait().expect("wait").success());
    ok(&["token", "create", "camille", "--data", &before]);
    let heads = crate::heads(&cahier_store::Store::open(&before).expect("open"));
    assert_eq!(heads.len(), 5);

    let url = cahier_testpg::cluster().database();
    let into = crate::cahier(&["migrate", "--from", &before, "--to", &url]);
    let (out, err) = (String::from_utf8_lossy(&into.stdout), String::from_utf8_lossy(&into.stderr));
    assert!(into.status.success(), "{out}\n{err}");
    assert!(
        out.contains("5 documents") && err.contains("copying 5 documents") && err.contains("reading every document back"),
        "{out}\n{err}"
    );
    assert_eq!(crate::heads(&cahier_store::Store::open(&url).expect("open")), heads);
    assert_eq!(records(&url), records(&before));

    let after = tmp.path().join("apres");
    let after = crate::s(&after).to_owned();
    ok(&["migrate", "--from", &url, "--to", &after]);
    assert_eq!(crate::heads(&cahier_store::Store::open(&after).expect("open")), heads);
    assert_eq!(records(&after), records(&before));
    let again = crate::cahier(&["migrate", "--from", &before, "--to", &url]);
    assert!(
        !again.status.success() && String::from_utf8_lossy(&again.stderr).contains("not empty"),
        "a database holding a store is refused"
    );

    let node = Node::start(&after);
    let (status, page) = http_get(&node.addr, "/wiki/classe-dehors");
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("Classe dehors"), "{page}");
}

/// When a change was made or acknowledged, in the restart test.
const BEFORE: u8 = 0;
const DOWN: u8 = 1;
const AFTER: u8 = 2;

/// What one writer of the restart test lived through.
#[derive(Default)]
struct Written {
    /// Every head a node advertised to this writer: each says it and all it
    /// depends on are stored.
    advertised: std::collections::HashSet<ChangeHash>,
    /// This writer's acknowledged changes, by the phase they were made in.
    acked: [usize; 3],
    /// What the writer was told while PostgreSQL was down: errors, closed
    /// or refused connections.
    told_while_down: Vec<String>,
    /// Changes made while PostgreSQL was down and acknowledged before it was
    /// started again: acknowledged without being stored.
    false_acks: Vec<ChangeHash>,
}

/// The restart test's writers and the test itself, in step.
struct Restart {
    phase: std::sync::atomic::AtomicU8,
    stop: std::sync::atomic::AtomicBool,
    writers: std::sync::Mutex<Vec<Written>>,
    changed: std::sync::Condvar,
}

impl Restart {
    fn update(&self, n: usize, f: impl FnOnce(&mut Written, u8)) {
        let phase = self.phase.load(std::sync::atomic::Ordering::SeqCst);
        f(&mut self.writers.lock().expect("writers")[n], phase);
        self.changed.notify_all();
    }

    fn told(&self, n: usize, what: String) {
        self.update(n, |w, phase| {
            if phase == DOWN {
                w.told_while_down.push(what);
            }
        });
    }

    /// Waits until every writer is `done`; fails, saying `what`, after [`WAIT`].
    fn wait_all(&self, what: &str, done: impl Fn(&Written) -> bool) {
        let writers = self.writers.lock().expect("writers");
        let (writers, timeout) = self.changed.wait_timeout_while(writers, WAIT, |w| !w.iter().all(&done)).expect("writers");
        if timeout.timed_out() {
            let acked: Vec<[usize; 3]> = writers.iter().map(|w| w.acked).collect();
            let told: Vec<Option<&String>> = writers.iter().map(|w| w.told_while_down.first()).collect();
            panic!("not every writer {what} within {WAIT:?}: acknowledged {acked:?}, first told while down {told:?}");
        }
    }
}

type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Connects to `/sync` and joins; what went wrong otherwise.
async fn join(addr: &str, token: &str, name: &str) -> Result<Socket, String> {
    let url = format!("ws://{addr}/sync?token={token}");
    let (mut ws, _) = match tokio::time::timeout(WAIT, tokio_tungstenite::connect_async(url)).await {
        Ok(Ok(ws)) => ws,
        Ok(Err(e)) => return Err(format!("connection refused: {e}")),
        Err(_) => return Err("no connection".into()),
    };
    let hello = Message::Join { sender_id: name.to_owned(), supported_versions: Some(vec!["1".into()]), metadata: None };
    ws.send(Frame::Binary(hello.encode().into())).await.map_err(|e| e.to_string())?;
    loop {
        match tokio::time::timeout(WAIT, ws.next()).await {
            Ok(Some(Ok(Frame::Binary(b)))) => match Message::decode(&b) {
                Ok(Message::Peer { .. }) => return Ok(ws),
                other => return Err(format!("not joined: {other:?}")),
            },
            Ok(Some(Ok(Frame::Close(f)))) => return Err(format!("closed: {f:?}")),
            Ok(Some(Ok(_))) => {}
            Ok(Some(Err(e))) => return Err(e.to_string()),
            Ok(None) => return Err("socket ended".into()),
            Err(_) => return Err("not joined".into()),
        }
    }
}

/// Writer `n`: types into `id` on the node at `addr` every 50 ms, whatever
/// happens, syncing whenever it is connected and reconnecting (with a fresh
/// sync state) whenever the node closes, refuses or fails the document, until
/// told to stop. Returns its copy.
async fn keep_writing(
    addr: String,
    token: String,
    id: String,
    mut doc: automerge::Automerge,
    n: usize,
    shared: Arc<Restart>,
) -> automerge::Automerge {
    use std::sync::atomic::Ordering::SeqCst;
    let name = format!("writer-{n}");
    // This writer's changes not acknowledged yet, with the phase each was made in.
    let mut unacked: Vec<(ChangeHash, u8)> = Vec::new();
    let mut typed = 0;
    let mut tick = tokio::time::interval(Duration::from_millis(50));
    let mut type_one = |doc: &mut automerge::Automerge, unacked: &mut Vec<(ChangeHash, u8)>| {
        typed += 1;
        type_at_end(doc, &format!(" {n}.{typed}"));
        let hash = doc.get_last_local_change().expect("just made").hash();
        unacked.push((hash, shared.phase.load(SeqCst)));
    };
    let mut conn: Option<(Socket, automerge::sync::State)> = None;
    while !shared.stop.load(SeqCst) {
        let Some((ws, state)) = conn.as_mut() else {
            match join(&addr, &token, &name).await {
                Ok(ws) => {
                    let mut state = automerge::sync::State::new();
                    let first = doc.generate_sync_message(&mut state).expect("a first message");
                    let msg =
                        Message::Sync { sender_id: name.clone(), target_id: "s".into(), document_id: id.clone(), data: first.encode() };
                    let mut ws = ws;
                    if ws.send(Frame::Binary(msg.encode().into())).await.is_ok() {
                        conn = Some((ws, state));
                    }
                }
                Err(why) => {
                    shared.told(n, why);
                    // Typing on meanwhile, and trying again at the next keystroke.
                    tick.tick().await;
                    type_one(&mut doc, &mut unacked);
                }
            }
            continue;
        };
        let mut lost = None;
        tokio::select! {
            _ = tick.tick() => {
                type_one(&mut doc, &mut unacked);
                if let Some(m) = doc.generate_sync_message(state) {
                    let msg = Message::Sync { sender_id: name.clone(), target_id: "s".into(), document_id: id.clone(), data: m.encode() };
                    if let Err(e) = ws.send(Frame::Binary(msg.encode().into())).await {
                        lost = Some(e.to_string());
                    }
                }
            }
            frame = ws.next() => match frame {
                Some(Ok(Frame::Binary(b))) => match Message::decode(&b) {
                    Ok(Message::Sync { data, .. }) => {
                        let m = automerge::sync::Message::decode(&data).expect("decode");
                        doc.receive_sync_message(state, m).expect("apply");
                        let heads = state.their_heads.clone().unwrap_or_default();
                        let now = shared.phase.load(SeqCst);
                        let mut acked = Vec::new();
                        if holds(&doc, &heads) {
                            let uncovered: std::collections::HashSet<ChangeHash> =
                                doc.get_changes_meta(&heads).iter().map(|c| c.hash).collect();
                            unacked.retain(|&(h, made)| {
                                let covered = !uncovered.contains(&h);
                                if covered {
                                    acked.push((h, made));
                                }
                                !covered
                            });
                        }
                        shared.update(n, |w, _| {
                            w.advertised.extend(heads.iter().copied());
                            for (h, made) in acked {
                                w.acked[made as usize] += 1;
                                if made == DOWN && now == DOWN {
                                    w.false_acks.push(h);
                                }
                            }
                        });
                        if let Some(m) = doc.generate_sync_message(state) {
                            let msg = Message::Sync { sender_id: name.clone(), target_id: "s".into(), document_id: id.clone(), data: m.encode() };
                            if let Err(e) = ws.send(Frame::Binary(msg.encode().into())).await {
                                lost = Some(e.to_string());
                            }
                        }
                    }
                    Ok(Message::Error { message }) => lost = Some(message),
                    Ok(Message::DocUnavailable { .. }) => lost = Some("document unavailable".into()),
                    Ok(_) => {}
                    Err(e) => panic!("undecodable message: {e}"),
                },
                Some(Ok(Frame::Close(f))) => lost = Some(format!("closed: {f:?}")),
                Some(Ok(_)) => {}
                Some(Err(e)) => lost = Some(e.to_string()),
                None => lost = Some("socket ended".into()),
            },
        }
        if let Some(why) = lost {
            shared.told(n, why);
            conn = None;
        }
    }
    doc
}

/// `GET /healthz` on `node` until it answers `status`; fails after [`WAIT`].
fn healthz_becomes(node: &Node, status: u16) -> String {
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let (got, body) = http_get(&node.addr, "/healthz");
        if got == status {
            return body;
        }
        assert!(std::time::Instant::now() < deadline, "/healthz still {got} {body:?}, not {status}, after {WAIT:?}\n{}", node.log());
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// PostgreSQL crashes (`pg_ctl stop -m immediate`) and is started again on
/// the same folder and port while two writers, one on node A and one on
/// node B, type into one meeting. While it is down, writers are told their
/// changes were not stored, no change made then is acknowledged, and both
/// nodes' `/healthz` answer 503; once it is back, `/healthz` answers 200
/// and writing resumes by itself, without restarting Cahier. Every head
/// the nodes advertised, before, during and after, is in the database.
#[test]
fn postgresql_restarted_under_writers_loses_nothing_acknowledged_and_writing_resumes() {
    use std::sync::atomic::Ordering::SeqCst;
    let cluster = cahier_testpg::own();
    let (url, token) = editor_on(&cluster);
    let (a, b) = (Node::start_with(&url, &["--catch-up-secs", "1"]), Node::start_with(&url, &["--catch-up-secs", "1"]));
    let (id, mut doc) = minutes("Ordre du jour.");
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        let mut c = Client::joined(&a, &token, "first").await;
        c.push(&a, &mut doc, &id).await;
    });
    let shared = Arc::new(Restart {
        phase: BEFORE.into(),
        stop: false.into(),
        writers: std::sync::Mutex::new(vec![Written::default(), Written::default()]),
        changed: std::sync::Condvar::new(),
    });
    let writers: Vec<_> = [&a, &b]
        .iter()
        .enumerate()
        .map(|(n, node)| rt.spawn(keep_writing(node.addr.clone(), token.clone(), id.clone(), doc.fork(), n, shared.clone())))
        .collect();
    shared.wait_all("had 5 changes acknowledged", |w| w.acked[BEFORE as usize] >= 5);

    cluster.stop("immediate");
    shared.phase.store(DOWN, SeqCst);
    // Each is told: its changes were not stored, its socket closed, its
    // connections refused (the node cannot check its token).
    shared.wait_all("was told of trouble", |w| !w.told_while_down.is_empty() || !w.false_acks.is_empty());
    for (n, w) in shared.writers.lock().expect("writers").iter().enumerate() {
        assert_eq!(w.false_acks, Vec::<ChangeHash>::new(), "writer {n}: changes made while PostgreSQL was down were acknowledged");
    }
    for node in [&a, &b] {
        assert_eq!(healthz_becomes(node, 503), "the store does not answer");
    }
    shared.phase.store(AFTER, SeqCst);
    cluster.start();
    for node in [&a, &b] {
        assert_eq!(healthz_becomes(node, 200), "ok");
    }
    shared.wait_all("had 5 new changes acknowledged after the restart", |w| w.acked[AFTER as usize] >= 5);
    shared.stop.store(true, SeqCst);
    let copies: Vec<automerge::Automerge> = writers.into_iter().map(|w| rt.block_on(w).expect("writer")).collect();

    let stored = cahier_store::Store::open(&url).expect("open the database");
    let stored = stored.load(&DocId::parse(&id).expect("id")).expect("load").expect("stored").doc;
    let writers = shared.writers.lock().expect("writers");
    for (n, w) in writers.iter().enumerate() {
        assert_eq!(
            w.false_acks,
            Vec::<ChangeHash>::new(),
            "writer {n}: changes made while PostgreSQL was down were acknowledged before it was back"
        );
        let lost: Vec<&ChangeHash> = w.advertised.iter().filter(|h| stored.get_change_by_hash(h).is_none()).collect();
        assert_eq!(lost, Vec::<&ChangeHash>::new(), "writer {n}: advertised as stored, not in the database");
        eprintln!(
            "writer {n}: {:?} acknowledged (before, made while down, after), told while down first {:?} and {} times in all, {} changes in its copy",
            w.acked,
            w.told_while_down.first(),
            w.told_while_down.len(),
            copies[n].get_changes_meta(&[]).len()
        );
    }
    drop((a, b));
}

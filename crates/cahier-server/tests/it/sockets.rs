//! Bad input on real sockets: each gets its clear error, and the server keeps
//! serving the others.

use std::sync::Arc;
use std::time::Duration;

use automerge::sync::SyncDoc;
use cahier_doc::DocId;
use cahier_server::ServerConfig;
use cahier_store::{FaultyStorage, SledStorage, Storage};
use cahier_sync::wire::Message;
use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::Message as Frame;

use crate::TestServer;

/// How long a test waits for an answer before failing: long enough for a
/// debug build on two busy cores to apply and store a large paste.
const WAIT: Duration = Duration::from_secs(30);

type Ws = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

#[derive(Debug)]
pub(crate) enum Got {
    Msg(Message),
    Closed(String),
}

pub(crate) struct Client {
    pub(crate) ws: Ws,
    pub(crate) name: String,
}

impl Client {
    /// Connects as the server's `tester` account (see `TestServer::start_with_tester`).
    pub(crate) async fn connect(server: &TestServer, name: &str) -> Client {
        let token = server.tester.as_deref().expect("a server started with a tester account");
        Client::connect_url(&server.ws_url_with(token), name).await
    }

    pub(crate) async fn connect_url(url: &str, name: &str) -> Client {
        let (ws, _) = tokio_tungstenite::connect_async(url).await.expect("connect");
        Client { ws, name: name.to_owned() }
    }

    /// Connects with `token` and joins (the server answered `peer`).
    pub(crate) async fn joined(server: &TestServer, token: &str, name: &str) -> Client {
        let mut c = Client::connect_url(&server.ws_url_with(token), name).await;
        c.join().await;
        c
    }

    /// Connects with a browser's session cookie instead of a token.
    pub(crate) async fn connect_with_cookie(server: &TestServer, cookie: &str, name: &str) -> Client {
        use tokio_tungstenite::tungstenite::client::IntoClientRequest;
        let mut req = server.ws_url().into_client_request().expect("request");
        req.headers_mut().insert("Cookie", cookie.parse().expect("header"));
        let (ws, _) = tokio_tungstenite::connect_async(req).await.expect("connect");
        Client { ws, name: name.to_owned() }
    }

    /// Requests a document; `true` if the server serves it, `false` if it
    /// answers doc-unavailable (missing and forbidden look the same).
    pub(crate) async fn can_open(&mut self, id: &str) -> bool {
        let mut state = automerge::sync::State::new();
        let data = cahier_doc::empty().generate_sync_message(&mut state).expect("first message").encode();
        self.send(&Message::Request { sender_id: self.name.clone(), target_id: "s".into(), document_id: id.to_owned(), data }).await;
        match self.recv().await {
            Got::Msg(Message::Sync { .. }) => true,
            Got::Msg(Message::DocUnavailable { .. }) => false,
            other => panic!("expected sync or doc-unavailable, got {other:?}"),
        }
    }

    pub(crate) async fn send(&mut self, msg: &Message) {
        self.ws.send(Frame::Binary(msg.encode().into())).await.expect("send");
    }

    pub(crate) async fn send_raw(&mut self, frame: Frame) {
        // The server may already have closed: a failed send is what it says next.
        let _ = self.ws.send(frame).await;
    }

    /// The next protocol message or the close, within `WAIT`.
    pub(crate) async fn recv(&mut self) -> Got {
        loop {
            let next = tokio::time::timeout(WAIT, self.ws.next()).await.expect("an answer within 30 s");
            match next {
                Some(Ok(Frame::Binary(b))) => return Got::Msg(Message::decode(&b).expect("server sends valid CBOR")),
                Some(Ok(Frame::Close(f))) => return Got::Closed(f.map(|f| f.reason.to_string()).unwrap_or_default()),
                Some(Ok(_)) => continue,
                Some(Err(_)) | None => return Got::Closed(String::new()),
            }
        }
    }

    pub(crate) async fn join(&mut self) {
        let join = Message::Join { sender_id: self.name.clone(), supported_versions: Some(vec!["1".into()]), metadata: None };
        self.send(&join).await;
        match self.recv().await {
            Got::Msg(Message::Peer { target_id, selected_version, .. }) => {
                assert_eq!(target_id, self.name);
                assert_eq!(selected_version, "1");
            }
            other => panic!("expected peer, got {other:?}"),
        }
    }

    /// Expects an `error` message containing `text`, then the close.
    /// Sync replies still on their way from an earlier exchange are skipped.
    pub(crate) async fn expect_error(&mut self, text: &str) {
        loop {
            match self.recv().await {
                Got::Msg(Message::Error { message }) => {
                    assert!(message.contains(text), "{message:?} should say {text:?}");
                    break;
                }
                Got::Msg(Message::Sync { .. } | Message::RemoteHeadsChanged { .. }) => continue,
                other => panic!("expected an error saying {text:?}, got {other:?}"),
            }
        }
        match self.recv().await {
            Got::Closed(_) => {}
            other => panic!("expected the close after the error, got {other:?}"),
        }
    }

    /// Pushes `doc` as document `id`, answering the server's sync messages,
    /// until the server sends an `error`; returns its message. No message on
    /// the way may acknowledge `doc`'s heads: what is refused is never stored.
    pub(crate) async fn push_until_error(&mut self, doc: &mut automerge::Automerge, id: &str) -> String {
        let mut state = automerge::sync::State::new();
        let mut next = doc.generate_sync_message(&mut state);
        let heads = doc.get_heads();
        loop {
            if let Some(m) = next.take() {
                let msg =
                    Message::Sync { sender_id: self.name.clone(), target_id: "s".into(), document_id: id.to_owned(), data: m.encode() };
                self.send(&msg).await;
            }
            match self.recv().await {
                Got::Msg(Message::Sync { data, .. }) => {
                    let m = automerge::sync::Message::decode(&data).expect("decode");
                    assert!(!heads.iter().all(|h| m.heads.contains(h)), "the server acknowledged a change it refuses");
                    doc.receive_sync_message(&mut state, m).expect("apply");
                    next = doc.generate_sync_message(&mut state);
                }
                Got::Msg(Message::RemoteHeadsChanged { .. }) => {}
                Got::Msg(Message::Error { message }) => return message,
                other => panic!("expected sync or error, got {other:?}"),
            }
        }
    }

    /// Syncs `doc` as document `id` until the server has all of it.
    pub(crate) async fn sync_all(&mut self, doc: &mut automerge::Automerge, id: &str) {
        let mut state = automerge::sync::State::new();
        let mut next = doc.generate_sync_message(&mut state);
        loop {
            if let Some(m) = next.take() {
                let msg =
                    Message::Sync { sender_id: self.name.clone(), target_id: "s".into(), document_id: id.to_owned(), data: m.encode() };
                self.send(&msg).await;
            }
            match self.recv().await {
                Got::Msg(Message::Sync { data, .. }) => {
                    doc.receive_sync_message(&mut state, automerge::sync::Message::decode(&data).expect("decode")).expect("apply");
                    next = doc.generate_sync_message(&mut state);
                    // Both sides hold the same heads: say the last word, if any, and stop.
                    if state.their_heads.as_deref() == Some(&doc.get_heads()[..]) {
                        if let Some(m) = next.take() {
                            let msg = Message::Sync {
                                sender_id: self.name.clone(),
                                target_id: "s".into(),
                                document_id: id.to_owned(),
                                data: m.encode(),
                            };
                            self.send(&msg).await;
                        }
                        return;
                    }
                }
                other => panic!("unexpected {other:?}"),
            }
        }
    }

    /// A well-behaved request for a document nobody has: answered `doc-unavailable`.
    pub(crate) async fn still_served(&mut self) {
        let id = DocId::from_random(rand_bytes());
        let mut state = automerge::sync::State::new();
        let data = cahier_doc::empty().generate_sync_message(&mut state).expect("first message").encode();
        let req = Message::Request { sender_id: self.name.clone(), target_id: "s".into(), document_id: id.to_string(), data };
        self.send(&req).await;
        match self.recv().await {
            Got::Msg(Message::DocUnavailable { document_id, .. }) => assert_eq!(document_id, id.to_string()),
            other => panic!("expected doc-unavailable, got {other:?}"),
        }
    }
}

pub(crate) fn rand_bytes() -> [u8; 16] {
    let mut b = [0u8; 16];
    let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
    b.copy_from_slice(&t.to_le_bytes());
    b
}

fn small_limits() -> ServerConfig {
    let mut c = ServerConfig::default();
    c.limits.max_message_bytes = 4096;
    c.limits.max_messages_per_second = 50;
    c.limits.max_documents_per_connection = 3;
    c.limits.handshake_timeout_ms = 300;
    c.header_timeout = Duration::from_secs(1);
    c
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_kind_of_bad_input_gets_its_error_and_others_are_unaffected() {
    let tmp = tempfile::tempdir().expect("tmp");
    let server = TestServer::start_with_tester(&tmp.path().join("data"), small_limits()).await;
    let mut good = Client::connect(&server, "good").await;
    good.join().await;

    let mut c = Client::connect(&server, "garbage").await;
    c.send_raw(Frame::Binary(vec![0xf6].into())).await;
    c.expect_error("malformed message: not a CBOR map").await;

    let mut c = Client::connect(&server, "text").await;
    c.send_raw(Frame::Text("{\"type\":\"join\"}".into())).await;
    c.expect_error("text frames are not part of the protocol").await;

    let mut c = Client::connect(&server, "no-join").await;
    c.send(&Message::Leave { sender_id: "x".into() }).await;
    c.expect_error("expected a join message").await;

    let mut c = Client::connect(&server, "old").await;
    c.send(&Message::Join { sender_id: "old".into(), supported_versions: Some(vec!["0".into()]), metadata: None }).await;
    c.expect_error("unsupported protocol version").await;

    let mut c = Client::connect(&server, "big").await;
    c.join().await;
    c.send_raw(Frame::Binary(vec![0u8; 5000].into())).await;
    c.expect_error("message too large: 5000 bytes, the limit is 4096 bytes").await;

    let mut c = Client::connect(&server, "huge").await;
    c.join().await;
    c.send_raw(Frame::Binary(vec![0u8; 1024 * 1024].into())).await;
    match c.recv().await {
        Got::Closed(reason) => assert!(reason.contains("message too large"), "{reason:?}"),
        other => panic!("expected a close, got {other:?}"),
    }

    let mut c = Client::connect(&server, "bad-sync").await;
    c.join().await;
    let doc = DocId::from_random(rand_bytes()).to_string();
    c.send(&Message::Sync { sender_id: "bad-sync".into(), target_id: "s".into(), document_id: doc, data: vec![0x42, 1, 2] }).await;
    c.expect_error("malformed sync message").await;

    let mut c = Client::connect(&server, "many-docs").await;
    c.join().await;
    for _ in 0..3 {
        c.still_served().await;
    }
    let id = DocId::from_random([9; 16]).to_string();
    let data = cahier_doc::empty().generate_sync_message(&mut automerge::sync::State::new()).expect("msg").encode();
    c.send(&Message::Request { sender_id: "many-docs".into(), target_id: "s".into(), document_id: id, data }).await;
    c.expect_error("too many documents on one connection: the limit is 3").await;

    let mut f = Client::connect(&server, "flood2").await;
    f.join().await;
    let noise = Message::RemoteSubscriptionChange { sender_id: "f".into(), target_id: "s".into(), add: vec![], remove: vec![] };
    for _ in 0..100 {
        f.send_raw(Frame::Binary(noise.encode().into())).await;
    }
    f.expect_error("too many messages: the limit is 50 per second").await;

    // A request for an id that is not an automerge-repo id is answered, not ignored.
    let mut c = Client::connect(&server, "bad-id").await;
    c.join().await;
    let data = cahier_doc::empty().generate_sync_message(&mut automerge::sync::State::new()).expect("msg").encode();
    c.send(&Message::Request { sender_id: "bad-id".into(), target_id: "s".into(), document_id: "not-an-id".into(), data }).await;
    assert!(matches!(c.recv().await, Got::Msg(Message::DocUnavailable { .. })));

    good.still_served().await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_clients_are_dropped_handshake_and_headers() {
    let tmp = tempfile::tempdir().expect("tmp");
    let server = TestServer::start_with_tester(&tmp.path().join("data"), small_limits()).await;
    // A WebSocket that never sends `join`.
    let mut c = Client::connect(&server, "mute").await;
    c.expect_error("no join message within 300 ms").await;
    // An HTTP client that never finishes its headers (slowloris).
    let mut tcp = tokio::net::TcpStream::connect(server.addr).await.expect("tcp");
    tcp.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n").await.expect("write");
    let mut buf = Vec::new();
    let read = tokio::time::timeout(WAIT, tcp.read_to_end(&mut buf)).await.expect("dropped within 30 s");
    assert!(read.is_ok(), "the server closes the connection");
    assert!(!String::from_utf8_lossy(&buf).contains("200 OK"));
    // Health still answers.
    let mut tcp = tokio::net::TcpStream::connect(server.addr).await.expect("tcp");
    tcp.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").await.expect("write");
    let mut buf = Vec::new();
    tokio::time::timeout(WAIT, tcp.read_to_end(&mut buf)).await.expect("answer").expect("read");
    let text = String::from_utf8_lossy(&buf);
    assert!(text.starts_with("HTTP/1.1 200") && text.ends_with("ok"), "{text}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_closes_sockets_with_a_close_frame() {
    let tmp = tempfile::tempdir().expect("tmp");
    let server = TestServer::start_with_tester(&tmp.path().join("data"), ServerConfig::default()).await;
    let mut c = Client::connect(&server, "c").await;
    c.join().await;
    let stopping = tokio::spawn(server.stop());
    match c.recv().await {
        Got::Closed(reason) => assert_eq!(reason, "server shutting down"),
        other => panic!("expected a close frame, got {other:?}"),
    }
    stopping.await.expect("stopped");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_storage_error_refuses_the_change_and_tells_the_client() {
    let tmp = tempfile::tempdir().expect("tmp");
    let backend = Arc::new(FaultyStorage::new(SledStorage::open(&tmp.path().join("data")).expect("open")));
    let store = cahier_store::Store::new(backend.clone());
    let token = crate::token_in(&store, "writer", cahier_auth::Role::Editor);
    backend.set_failing(true);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let shutdown = tokio_util::sync::CancellationToken::new();
    let task = tokio::spawn(cahier_server::run(listener, ServerConfig::default(), store, shutdown.clone()));
    let (ws, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/sync?token={token}")).await.expect("connect");
    let mut c = Client { ws, name: "writer".into() };
    c.join().await;
    let mut doc = cahier_doc::new_document(&cahier_doc::DocView::new_page("Plein"), &cahier_doc::Editor::new("w"), 0).expect("doc");
    let id = DocId::from_random(rand_bytes()).to_string();
    let error = c.push_until_error(&mut doc, &id).await;
    assert!(error.contains("could not save changes") && error.contains("No space left on device"), "{error}");
    assert!(matches!(c.recv().await, Got::Closed(_)));
    // Nothing was stored, and nothing pretends to be.
    assert_eq!(backend.inner.load(&DocId::parse(&id).expect("id")).expect("load"), None);
    shutdown.cancel();
    task.await.expect("join").expect("run");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_document_over_the_size_limit_is_refused_and_connections_over_the_limit_too() {
    let tmp = tempfile::tempdir().expect("tmp");
    let mut config = ServerConfig::default();
    config.limits.max_document_bytes = 2_000;
    let token = crate::make_token(&tmp.path().join("data"), "big", cahier_auth::Role::Editor);
    let server = TestServer::start(&tmp.path().join("data"), config).await;
    let mut c = Client::connect_url(&server.ws_url_with(&token), "big-doc").await;
    c.join().await;
    // Text that does not compress, so its changes weigh what they say.
    let mut x: u32 = 12345;
    let body: String = (0..6_000)
        .map(|_| {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
            char::from(b'a' + ((x >> 16) % 26) as u8)
        })
        .collect();
    let view = cahier_doc::DocView { body, ..cahier_doc::DocView::new_page("Gros") };
    let mut doc = cahier_doc::new_document(&view, &cahier_doc::Editor::new("w"), 0).expect("doc");
    let id = DocId::from_random(rand_bytes()).to_string();
    let error = c.push_until_error(&mut doc, &id).await;
    assert!(error.contains("document too large: the limit is 2000 bytes"), "{error}");
    server.stop().await;

    // Two connections are allowed; a third is refused at once.
    let config = ServerConfig { max_connections: 2, ..ServerConfig::default() };
    let server = TestServer::start_with_tester(&tmp.path().join("data2"), config).await;
    let mut a = Client::connect(&server, "a").await;
    a.join().await;
    let mut b = Client::connect(&server, "b").await;
    b.join().await;
    let mut tcp = tokio::net::TcpStream::connect(server.addr).await.expect("tcp");
    let _ = tcp.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").await;
    let mut buf = Vec::new();
    let _ = tokio::time::timeout(WAIT, tcp.read_to_end(&mut buf)).await.expect("closed within 30 s");
    assert!(buf.is_empty(), "the third connection got an answer: {}", String::from_utf8_lossy(&buf));
    a.still_served().await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sync_socket_authenticates_before_anything_and_hides_what_it_refuses() {
    let tmp = tempfile::tempdir().expect("tmp");
    let data = tmp.path().join("data");
    let token = crate::make_token(&data, "editrice", cahier_auth::Role::Editor);
    let config = ServerConfig { public_origin: Some("https://cahier.example.org".into()), ..ServerConfig::default() };
    let server = TestServer::start(&data, config).await;

    // An editor creates a document.
    let mut editor = Client::connect_url(&server.ws_url_with(&token), "editor").await;
    editor.join().await;
    let mut doc = cahier_doc::new_document(&cahier_doc::DocView::new_page("Brouillon"), &cahier_doc::Editor::new("e"), 0).expect("doc");
    let id = DocId::from_random(rand_bytes()).to_string();
    editor.sync_all(&mut doc, &id).await;

    // Anonymous sockets could open nothing: they are refused at the upgrade,
    // before they hold a slot.
    let err = tokio_tungstenite::connect_async(server.ws_url()).await.expect_err("refused");
    assert!(err.to_string().contains("401"), "{err}");

    // A wrong token, and a page from another site, are refused at the upgrade.
    let err = tokio_tungstenite::connect_async(server.ws_url_with(&"0".repeat(64))).await.expect_err("refused");
    assert!(err.to_string().contains("401"), "{err}");
    let mut req = tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(server.ws_url_with(&token)).expect("req");
    req.headers_mut().insert("origin", "https://evil.example".parse().expect("header"));
    let err = tokio_tungstenite::connect_async(req).await.expect_err("refused");
    assert!(err.to_string().contains("403"), "{err}");
    let mut req = tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(server.ws_url_with(&token)).expect("req");
    req.headers_mut().insert("origin", "https://cahier.example.org".parse().expect("header"));
    assert!(tokio_tungstenite::connect_async(req).await.is_ok(), "the public origin is accepted");
    server.stop().await;

    // A revoked token no longer opens the socket.
    let store = crate::open_store(&data);
    let tokens = cahier_app::auth_store::tokens(&store).expect("tokens");
    cahier_app::auth_store::revoke_token(&store, &tokens[0].id, "test", 1).expect("revoke");
    let log = cahier_app::auth_store::audit_log(&store).expect("audit");
    assert_eq!(log.iter().map(|e| e.action.as_str()).collect::<Vec<_>>(), ["account created", "token created", "token revoked"]);
    drop(store);
    let server = TestServer::start(&data, ServerConfig::default()).await;
    let err = tokio_tungstenite::connect_async(server.ws_url_with(&token)).await.expect_err("refused");
    assert!(err.to_string().contains("401"), "{err}");
    server.stop().await;
}

/// Waits (30 s at most: pings alone keep a socket open) for the server to
/// close `client`'s socket, skipping the sync messages still on their way;
/// returns the close frame's reason.
async fn closed_by_server(client: &mut Client) -> String {
    let closed = async {
        loop {
            match client.recv().await {
                Got::Closed(why) => return why,
                Got::Msg(_) => continue,
            }
        }
    };
    tokio::time::timeout(WAIT, closed).await.expect("the server closes the socket within 30 s")
}

/// Rights taken back where this server cannot see it (the command line on a
/// shared store, another node) end the open sockets they opened at the next
/// check; a logout here ends its sockets at once. Whoever kept their rights
/// goes on writing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_open_socket_ends_when_its_token_is_revoked_or_its_holder_logs_out() {
    use cahier_app::auth_store;
    let tmp = tempfile::tempdir().expect("tmp");
    let store = crate::open_store(tmp.path());
    let camille_token = crate::token_in(&store, "camille", cahier_auth::Role::Editor);
    let leo_token = crate::token_in(&store, "leo", cahier_auth::Role::Editor);
    // Checked again every 200 ms here (30 s by default).
    let config = ServerConfig { access_recheck: Duration::from_millis(200), ..ServerConfig::default() };
    let server = TestServer::start_on(store.clone(), config).await;
    let mut leo = Client::connect_url(&server.ws_url_with(&leo_token), "leo").await;
    leo.join().await;
    let mut camille = Client::connect_url(&server.ws_url_with(&camille_token), "camille").await;
    camille.join().await;
    let id = DocId::from_random(rand_bytes()).to_string();
    let mut doc = cahier_doc::new_document(&cahier_doc::DocView::new_minutes("Conseil"), &cahier_doc::Editor::new("leo"), 0).expect("doc");
    leo.sync_all(&mut doc, &id).await;
    let mut hers = doc.clone();
    camille.sync_all(&mut hers, &id).await;

    // Camille's token is revoked in the store, as `cahier token revoke` does
    // beside a server sharing a PostgreSQL store: her open socket ends, saying why.
    let tokens = auth_store::tokens(&store).expect("tokens");
    let id_of_hers = &tokens.iter().find(|t| t.account == "camille").expect("her token").id;
    auth_store::revoke_token(&store, id_of_hers, "console", 1).expect("revoke");
    let why = closed_by_server(&mut camille).await;
    assert!(why.contains("access ended"), "{why:?}");
    let err = tokio_tungstenite::connect_async(server.ws_url_with(&camille_token)).await.expect_err("refused");
    assert!(err.to_string().contains("401"), "{err}");

    // Léo's socket stays, and his next words are stored.
    doc.transact::<_, _, automerge::AutomergeError>(|tx| {
        use automerge::transaction::Transactable;
        tx.put(automerge::ROOT, "note", "Léo : d'accord.")?;
        Ok(())
    })
    .expect("change");
    leo.sync_all(&mut doc, &id).await;
    server.stop().await;

    // Léo also has the editor open in a browser: logging out there ends that
    // socket at once (the next check is an hour away), and not his token's.
    let config = ServerConfig { access_recheck: Duration::from_secs(3600), ..ServerConfig::default() };
    let server = TestServer::start_on(store.clone(), config).await;
    let (_, session) = crate::http_auth::login(&server, "leo", None).await;
    let session = session.expect("a session cookie");
    let mut browser = Client::connect_with_cookie(&server, &session, "leo-browser").await;
    browser.join().await;
    assert!(browser.can_open(&id).await, "the session opens the minutes");
    let mut script = Client::connect_url(&server.ws_url_with(&leo_token), "leo-script").await;
    script.join().await;
    let csrf = crate::http_auth::csrf_of(&server, &session, "/wiki").await;
    let form = ("Content-Type", "application/x-www-form-urlencoded");
    let r = crate::wiki::request(&server, "POST", "/logout", &[form, ("Cookie", &session)], &format!("csrf={csrf}")).await;
    assert_eq!(r.status, 303);
    let why = closed_by_server(&mut browser).await;
    assert!(why.contains("access ended"), "{why:?}");
    assert!(script.can_open(&id).await, "the token's socket is not the session's");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_actor_belongs_to_the_first_account_that_writes_with_it() {
    let tmp = tempfile::tempdir().expect("tmp");
    let data = tmp.path().join("data");
    let (alice, bruno) = {
        let store = crate::open_store(&data);
        (crate::token_in(&store, "alice", cahier_auth::Role::Editor), crate::token_in(&store, "bruno", cahier_auth::Role::Editor))
    };
    let server = TestServer::start(&data, ServerConfig::default()).await;
    let actor = automerge::ActorId::from([7u8; 16]);
    let mut a = Client::connect_url(&server.ws_url_with(&alice), "alice").await;
    a.join().await;
    let mut doc = cahier_doc::new_document(&cahier_doc::DocView::new_page("À Alice"), &cahier_doc::Editor::new("x"), 0).expect("doc");
    doc.set_actor(actor.clone());
    doc.transact::<_, _, automerge::AutomergeError>(|tx| {
        use automerge::transaction::Transactable;
        tx.put(automerge::ROOT, "note", "écrit par Alice")?;
        Ok(())
    })
    .expect("change");
    let id = DocId::from_random(rand_bytes()).to_string();
    a.sync_all(&mut doc, &id).await;
    // Bruno's client uses Alice's actor: refused, never applied.
    let mut b = Client::connect_url(&server.ws_url_with(&bruno), "bruno").await;
    b.join().await;
    let mut forged = cahier_doc::new_document(&cahier_doc::DocView::new_page("Faux"), &cahier_doc::Editor::new("y"), 0).expect("doc");
    forged.set_actor(actor);
    forged
        .transact::<_, _, automerge::AutomergeError>(|tx| {
            use automerge::transaction::Transactable;
            tx.put(automerge::ROOT, "note", "signé Alice, écrit par Bruno")?;
            Ok(())
        })
        .expect("change");
    let other = DocId::from_random(rand_bytes()).to_string();
    let error = b.push_until_error(&mut forged, &other).await;
    assert!(error.contains("belongs to someone else"), "{error}");
    server.stop().await;
    let store = crate::open_store(&data);
    assert!(store.load(&DocId::parse(&other).expect("id")).expect("load").is_none(), "the forged document was not stored");
    let binding = cahier_app::auth_store::actor_binding(&store, &"07".repeat(16)).expect("read").expect("bound");
    assert_eq!(binding.identity, "account:alice");
}

/// Joins through an invite link as a browser does: returns the session cookie,
/// or the status when the link does not work.
pub(crate) async fn join_invite(server: &TestServer, link_path: &str, name: &str) -> Result<String, u16> {
    use crate::wiki::{get, request};
    let page = get(server, link_path, &[]).await;
    if page.status != 200 {
        return Err(page.status);
    }
    let html = page.text();
    let key = "name=\"csrf\" value=\"";
    let start = html.find(key).expect("csrf field") + key.len();
    let csrf = &html[start..start + 64];
    let cookie =
        page.cookies().iter().find_map(|c| c.split(';').next().filter(|c| c.starts_with("cahier_login="))).expect("cookie").to_owned();
    let r = request(
        server,
        "POST",
        link_path,
        &[("Content-Type", "application/x-www-form-urlencoded"), ("Cookie", &cookie)],
        &format!("name={name}&csrf={csrf}"),
    )
    .await;
    if r.status != 303 {
        return Err(r.status);
    }
    Ok(r.cookies().iter().find_map(|c| c.split(';').next().filter(|c| c.starts_with("cahier_session="))).expect("session").to_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn participants_open_their_document_only_and_only_while_their_invite_lasts() {
    use crate::wiki::{get, request};
    use cahier_app::auth_store;
    let tmp = tempfile::tempdir().expect("tmp");
    let data = tmp.path().join("data");
    let (a, b, links, edit_id, maintainer) = {
        let store = crate::open_store(&data);
        let mut m = cahier_doc::DocView::new_minutes("Réunion A");
        m.slug = "reunion-a".into();
        let a = store.upsert(&m, &cahier_doc::Editor::new("léa"), 1).expect("a").0.id;
        let b = store.upsert(&cahier_doc::DocView::new_page("Page B"), &cahier_doc::Editor::new("léa"), 1).expect("b").0.id;
        let now = 1_000;
        let mk = |doc: &DocId, write: bool, expires: Option<i64>, n: u8| {
            auth_store::create_invite(&store, doc, write, "camille", expires, [n; 8], [n; 32], now).expect("invite")
        };
        let (edit, edit_secret) = mk(&a, true, None, 1);
        let (_, view_secret) = mk(&a, false, None, 2);
        let (_, expired_secret) = mk(&a, true, Some(2_000), 3);
        let (_, other_secret) = mk(&b, true, None, 4);
        let (revoked, revoked_secret) = mk(&a, true, None, 5);
        auth_store::revoke_invite(&store, &revoked.id, "camille", now).expect("revoke");
        let maintainer = crate::token_in(&store, "camille", cahier_auth::Role::Maintainer);
        let links = [edit_secret, view_secret, expired_secret, other_secret, revoked_secret].map(|s| format!("/join/{s}"));
        (a.to_string(), b.to_string(), links, edit.id, maintainer)
    };
    let server = TestServer::start(&data, ServerConfig::default()).await;
    let [edit, view, expired, other, revoked] = &links;
    assert!(!links.iter().any(|l| l.contains(&a) || l.contains(&b)), "links do not carry document ids");
    // Expired and revoked links open nothing (and say they are gone).
    assert_eq!(join_invite(&server, expired, "Zed").await, Err(410));
    assert_eq!(join_invite(&server, revoked, "Zed").await, Err(410));
    let edit_cookie = join_invite(&server, edit, "Zed").await.expect("the edit link works");
    let view_cookie = join_invite(&server, view, "Yasmine").await.expect("the view link works");
    let other_cookie = join_invite(&server, other, "Xavier").await.expect("the other link works");

    // Each participant lists and opens their own document, and nothing else.
    for (cookie, mine, not_mine) in [(&edit_cookie, &a, &b), (&view_cookie, &a, &b), (&other_cookie, &b, &a)] {
        let list = get(&server, "/api/documents", &[("Cookie", cookie)]).await.text();
        assert!(list.contains(mine.as_str()) && !list.contains(not_mine.as_str()), "{list}");
        let mut c = Client::connect_with_cookie(&server, cookie, "guest").await;
        c.join().await;
        assert!(c.can_open(mine).await, "a participant opens their document");
        assert!(!c.can_open(not_mine).await, "and not another");
        for path in ["/export.tar.gz", "/audit"] {
            assert_eq!(get(&server, path, &[("Cookie", cookie)]).await.status, 403, "{path}");
        }
        assert_eq!(get(&server, "/wiki/reunion-a/history", &[("Cookie", cookie)]).await.status, 404);
        // Participants do not hand out links of their own.
        let body = format!("{{\"doc\":\"{mine}\",\"write\":true}}");
        let r = request(&server, "POST", "/api/invites", &[("Cookie", cookie), ("Content-Type", "application/json")], &body).await;
        assert_eq!(r.status, 403, "{}", r.text());
    }
    // The view link reads but may not write: its change is refused, never stored.
    let mut viewer = Client::connect_with_cookie(&server, &view_cookie, "viewer").await;
    viewer.join().await;
    let mut copy = cahier_doc::empty();
    viewer.sync_all(&mut copy, &a).await;
    assert_eq!(cahier_doc::read(&copy, None).0.title, "Réunion A");
    copy.transact::<_, _, automerge::AutomergeError>(|tx| {
        use automerge::transaction::Transactable;
        tx.put(automerge::ROOT, "note", "écrit par une lectrice")?;
        Ok(())
    })
    .expect("change");
    // Its first sync message carries the change, as a client that knows the
    // server's heads would send it.
    let mut m = copy.generate_sync_message(&mut automerge::sync::State::new()).expect("message");
    let change = copy.get_last_local_change().expect("the change").raw_bytes().to_vec();
    m.changes = automerge::sync::ChunkList::from(vec![change]);
    viewer.send(&Message::Sync { sender_id: "viewer".into(), target_id: "s".into(), document_id: a.clone(), data: m.encode() }).await;
    loop {
        match viewer.recv().await {
            Got::Msg(Message::Error { message }) => {
                assert!(message.contains("read-only"), "{message}");
                break;
            }
            Got::Msg(_) => continue,
            Got::Closed(why) => panic!("closed without an error: {why}"),
        }
    }
    let mut check = Client::connect_with_cookie(&server, &edit_cookie, "check").await;
    check.join().await;
    let mut seen = cahier_doc::empty();
    check.sync_all(&mut seen, &a).await;
    assert!(automerge::ReadDoc::get(&seen, automerge::ROOT, "note").expect("read").is_none(), "the viewer's change was not applied");
    // Revoking the edit link ends its sessions too.
    let auth = format!("Bearer {maintainer}");
    let r = request(&server, "POST", &format!("/api/invites/{edit_id}/revoke"), &[("Authorization", &auth)], "").await;
    assert_eq!(r.status, 204, "{}", r.text());
    assert_eq!(get(&server, "/api/documents", &[("Cookie", &edit_cookie)]).await.status, 401);
    // Its session is now anonymous: the socket is refused at the upgrade.
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let mut req = server.ws_url().into_client_request().expect("request");
    req.headers_mut().insert("Cookie", edit_cookie.parse().expect("header"));
    let err = tokio_tungstenite::connect_async(req).await.expect_err("a revoked participant opens nothing");
    assert!(err.to_string().contains("401"), "{err}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restoring_a_version_adds_a_change_that_open_editors_receive() {
    let tmp = tempfile::tempdir().expect("tmp");
    let data = tmp.path().join("data");
    let (id, first, maintainer, editor) = {
        let store = crate::open_store(&data);
        let mut v = cahier_doc::DocView::new_page("Recette");
        v.body = "Version un.\n".into();
        let (loaded, _) = store.upsert(&v, &cahier_doc::Editor::new("léa"), 1_000).expect("v1");
        let first = loaded.doc.get_heads()[0].to_string();
        v.body = "Version deux.\n".into();
        store.upsert(&v, &cahier_doc::Editor::new("léa"), 2_000).expect("v2");
        let m = crate::token_in(&store, "camille", cahier_auth::Role::Maintainer);
        let e = crate::token_in(&store, "eli", cahier_auth::Role::Editor);
        (loaded.id.to_string(), first, m, e)
    };
    let server = TestServer::start(&data, ServerConfig::default()).await;
    let mut open = Client::connect_url(&server.ws_url_with(&editor), "eli").await;
    open.join().await;
    let mut doc = cahier_doc::empty();
    open.sync_all(&mut doc, &id).await;
    assert_eq!(cahier_doc::read(&doc, None).0.body, "Version deux.\n");

    // An editor may not restore; a maintainer may.
    let form = format!("version={first}");
    let ct = ("Content-Type", "application/x-www-form-urlencoded");
    let r =
        crate::wiki::request(&server, "POST", "/wiki/recette/restore", &[ct, ("Authorization", &format!("Bearer {editor}"))], &form).await;
    assert_eq!(r.status, 403);
    let r =
        crate::wiki::request(&server, "POST", "/wiki/recette/restore", &[ct, ("Authorization", &format!("Bearer {maintainer}"))], &form)
            .await;
    assert_eq!(r.status, 303, "{}", r.text());

    // The open editor receives the restoring change like any edit.
    let mut state = automerge::sync::State::new();
    while cahier_doc::read(&doc, None).0.body != "Version un.\n" {
        match open.recv().await {
            Got::Msg(Message::Sync { data, .. }) => {
                doc.receive_sync_message(&mut state, automerge::sync::Message::decode(&data).expect("decode")).expect("apply");
                if let Some(m) = doc.generate_sync_message(&mut state) {
                    open.send(&Message::Sync { sender_id: "eli".into(), target_id: "s".into(), document_id: id.clone(), data: m.encode() })
                        .await;
                }
            }
            Got::Msg(_) => {}
            Got::Closed(why) => panic!("closed: {why}"),
        }
    }
    server.stop().await;

    // Stored, as a third change by the maintainer; history kept.
    let store = crate::open_store(&data);
    let stored = store.load(&DocId::parse(&id).expect("id")).expect("load").expect("stored");
    assert_eq!(cahier_doc::read(&stored.doc, None).0.body, "Version un.\n");
    let versions = cahier_doc::history::versions(&stored.doc);
    assert_eq!(versions.len(), 3, "nothing rewritten: two versions and the restore");
    let last = versions.last().expect("last");
    assert_eq!(last.author.as_deref(), Some("camille"));
    assert!(last.message.as_deref().is_some_and(|m| m.starts_with("restore version")), "{last:?}");
    assert!(cahier_app::auth_store::audit_log(&store).expect("audit").iter().any(|e| e.action == "restored"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_a_document_tells_its_open_editors_and_closes_it_to_them() {
    use crate::wiki::request;
    let tmp = tempfile::tempdir().expect("tmp");
    let data = tmp.path().join("data");
    let (editor, maintainer, id) = {
        let store = crate::open_store(&data);
        let mut v = cahier_doc::DocView::new_page("À supprimer");
        v.slug = "a-supprimer".into();
        let id = store.upsert(&v, &cahier_doc::Editor::new("lea"), 1).expect("page").0.id;
        (crate::token_in(&store, "lea", cahier_auth::Role::Editor), crate::token_in(&store, "camille", cahier_auth::Role::Maintainer), id)
    };
    let server = TestServer::start(&data, ServerConfig::default()).await;
    let mut c = Client::connect_url(&server.ws_url_with(&editor), "lea").await;
    c.join().await;
    let mut doc = automerge::Automerge::new();
    c.sync_all(&mut doc, id.as_str()).await;
    let auth = format!("Bearer {maintainer}");
    let r = request(
        &server,
        "POST",
        "/wiki/a-supprimer/delete",
        &[("Authorization", &auth), ("Content-Type", "application/x-www-form-urlencoded")],
        "csrf=&confirm=yes",
    )
    .await;
    assert_eq!(r.status, 303, "{}", r.text());
    // The last sync replies may still be on their way; then the error and the close.
    loop {
        match c.recv().await {
            Got::Msg(Message::Error { message }) => {
                assert!(message.contains("was deleted"), "{message}");
                break;
            }
            Got::Msg(_) => continue,
            Got::Closed(reason) => panic!("closed without saying why: {reason}"),
        }
    }
    assert!(matches!(c.recv().await, Got::Closed(_)));
    let mut again = Client::connect_url(&server.ws_url_with(&editor), "lea-2").await;
    again.join().await;
    assert!(!again.can_open(id.as_str()).await, "a deleted document looks missing");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restore_the_store_cannot_keep_is_reported_and_leaves_no_trace() {
    use crate::wiki::request;
    let tmp = tempfile::tempdir().expect("tmp");
    let backend = Arc::new(FaultyStorage::new(SledStorage::open(&tmp.path().join("data")).expect("open")));
    let store = cahier_store::Store::new(backend.clone());
    let mut v = cahier_doc::DocView::new_page("Sortie");
    v.slug = "sortie".into();
    v.body = "Version une.".into();
    let (first, _) = store.upsert(&v, &cahier_doc::Editor::new("lea"), 1).expect("v1");
    let version = first.doc.get_heads()[0].to_string();
    v.body = "Version deux.".into();
    let (second, _) = store.upsert(&v, &cahier_doc::Editor::new("lea"), 2).expect("v2");
    let id = second.id.clone();
    let maintainer = crate::token_in(&store, "camille", cahier_auth::Role::Maintainer);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let shutdown = tokio_util::sync::CancellationToken::new();
    let task = tokio::spawn(cahier_server::run(listener, ServerConfig::default(), store.clone(), shutdown.clone()));
    let server = TestServer { addr, tester: None, shutdown: shutdown.clone(), task };
    let auth = format!("Bearer {maintainer}");
    let form = [("Authorization", auth.as_str()), ("Content-Type", "application/x-www-form-urlencoded")];
    let body = format!("csrf=&version={version}");
    let restored = || request(&server, "POST", "/wiki/sortie/restore", &form, &body);
    backend.set_documents_failing(true);
    let r = restored().await;
    assert_eq!(r.status, 503, "{}", r.text());
    assert!(r.text().contains("Rien n’a été enregistré") && r.text().contains("No space left"), "{}", r.text());
    let log = cahier_app::auth_store::audit_log(&store).expect("audit");
    assert!(!log.iter().any(|e| e.action == "restored"), "no audit entry for what was not stored: {log:?}");
    // Once the disk has room again, the same restore works and is logged.
    backend.set_documents_failing(false);
    assert_eq!(restored().await.status, 303);
    let log = cahier_app::auth_store::audit_log(&store).expect("audit");
    assert!(log.iter().any(|e| e.action == "restored"));
    shutdown.cancel();
    server.task.await.expect("join").expect("run");
    let (doc, _) = store.load_record(&id).expect("load").expect("stored");
    assert_eq!(cahier_doc::read(&doc, None).0.body, "Version une.");
}

/// A script sends its API token in `Authorization`, a page in a
/// `cahier-token.` subprotocol (beside `cahier`, the one answered), so the
/// secret need not sit in the address that proxies log; a wrong one is refused
/// whichever way it comes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_can_come_in_a_header_instead_of_the_address() {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let tmp = tempfile::tempdir().expect("tmp");
    let server = TestServer::start_with_tester(&tmp.path().join("data"), ServerConfig::default()).await;
    let token = server.tester.clone().expect("tester");
    let request = |header: &'static str, value: String| {
        let mut req = server.ws_url().into_client_request().expect("request");
        req.headers_mut().insert(header, value.parse().expect("header"));
        req
    };
    let (ws, resp) = tokio_tungstenite::connect_async(request("Authorization", format!("Bearer {token}"))).await.expect("bearer");
    assert!(resp.headers().get("sec-websocket-protocol").is_none());
    Client { ws, name: "bearer".into() }.join().await;

    let offered = request("Sec-WebSocket-Protocol", format!("cahier, cahier-token.{token}"));
    let (ws, resp) = tokio_tungstenite::connect_async(offered).await.expect("subprotocol");
    assert_eq!(resp.headers().get("sec-websocket-protocol").and_then(|v| v.to_str().ok()), Some("cahier"), "the token is never echoed");
    Client { ws, name: "protocol".into() }.join().await;

    let wrong = format!("{}0", &token[..token.len() - 1]);
    for req in
        [request("Authorization", format!("Bearer {wrong}")), request("Sec-WebSocket-Protocol", format!("cahier, cahier-token.{wrong}"))]
    {
        match tokio_tungstenite::connect_async(req).await {
            Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => assert_eq!(resp.status(), 401),
            other => panic!("a wrong token must be refused at the upgrade, got {:?}", other.map(|(_, r)| r.status())),
        }
    }
    server.stop().await;
}

/// Several nodes on one database hear of each other's changes through the
/// store's watch; when it was cut off (a lost connection to PostgreSQL), the
/// announcements made meanwhile are gone. When it listens again, every
/// document in memory is read again, so a participant still sees what another
/// node stored while nobody was listening.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_stored_while_the_watch_was_cut_off_still_reach_the_open_editors() {
    use automerge::ReadDoc;
    use automerge::transaction::Transactable;
    let tmp = tempfile::tempdir().expect("tmp");
    let backend = Arc::new(FaultyStorage::new(SledStorage::open(&tmp.path().join("data")).expect("open")));
    let watch = backend.drive_watch();
    let store = cahier_store::Store::new(backend.clone());
    let token = crate::token_in(&store, "writer", cahier_auth::Role::Editor);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let shutdown = tokio_util::sync::CancellationToken::new();
    let task = tokio::spawn(cahier_server::run(listener, ServerConfig::default(), store.clone(), shutdown.clone()));
    let (ws, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/sync?token={token}")).await.expect("connect");
    let mut x = Client { ws, name: "x".into() };
    x.join().await;
    let mut view = cahier_doc::DocView::new_minutes("Conseil d'école");
    view.body = "Ordre du jour.".into();
    let mut mine = cahier_doc::new_document(&view, &cahier_doc::Editor::new("x"), 0).expect("doc");
    let id = DocId::from_random(rand_bytes());
    x.sync_all(&mut mine, &id.to_string()).await;

    // Another node writes into the shared store; its announcement never comes.
    let store_for_other = store.clone();
    let other_id = id.clone();
    tokio::task::spawn_blocking(move || {
        let mut loaded = store_for_other.load(&other_id).expect("load").expect("stored");
        let body = cahier_doc::write::body_obj(&loaded.doc, None).expect("body");
        let end = loaded.doc.length(&body);
        let mut tx = loaded.doc.transaction();
        tx.splice_text(&body, end, 0, " Point 1 : la cantine.").expect("splice");
        tx.commit();
        store_for_other.save(&mut loaded).expect("save");
    })
    .await
    .expect("the other node's write");
    // Its watch listens again.
    watch.send(cahier_store::Watched::Missed).expect("the relay listens");
    let mut state = automerge::sync::State::new();
    loop {
        match x.recv().await {
            Got::Msg(Message::Sync { data, .. }) => {
                mine.receive_sync_message(&mut state, automerge::sync::Message::decode(&data).expect("decode")).expect("apply");
                if cahier_doc::read(&mine, None).0.body.ends_with("Point 1 : la cantine.") {
                    break;
                }
                if let Some(m) = mine.generate_sync_message(&mut state) {
                    let reply =
                        Message::Sync { sender_id: "x".into(), target_id: "s".into(), document_id: id.to_string(), data: m.encode() };
                    x.send(&reply).await;
                }
            }
            Got::Msg(Message::RemoteHeadsChanged { .. }) => {}
            other => panic!("expected the other node's change, got {other:?}"),
        }
    }
    shutdown.cancel();
    task.await.expect("join").expect("run");
}

//! `cahier_app`'s use cases through the HTTP handlers: promoting follows the
//! store's slug rule and is audited (as `cahier promote` is, see the CLI's
//! `cli.rs`), and a setup link used twice at once creates one account.

use cahier_app::auth_store;
use cahier_auth::Role;
use cahier_doc::{Action, DocView, Editor, MinutesFields};
use cahier_server::ServerConfig;
use tokio_util::sync::CancellationToken;

use crate::TestServer;
use crate::http_auth::field;
use crate::wiki::{get, request};

const FORM: (&str, &str) = ("Content-Type", "application/x-www-form-urlencoded");

/// Minutes at `reunion`, and a page already at `reunion-cr`, where promoting
/// moves the minutes first.
fn minutes_and_a_taken_address(store: &cahier_store::Store) {
    let mut m = DocView::new_minutes("Réunion");
    m.slug = "reunion".into();
    store.upsert(&m, &Editor::new("léa"), 1).expect("minutes");
    let mut p = DocView::new_page("Déjà là");
    p.slug = "reunion-cr".into();
    store.upsert(&p, &Editor::new("léa"), 1).expect("page");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn promoting_on_the_web_gives_the_page_the_minutes_address_and_is_audited() {
    let dir = tempfile::tempdir().expect("tempdir");
    let maintainer = {
        let store = crate::open_store(dir.path());
        minutes_and_a_taken_address(&store);
        crate::token_in(&store, "camille", Role::Maintainer)
    };
    let server = TestServer::start(dir.path(), ServerConfig::default()).await;
    let auth = format!("Bearer {maintainer}");
    let r = request(&server, "POST", "/wiki/reunion/promote", &[("Authorization", &auth), FORM], "csrf=").await;
    assert_eq!(r.status, 303, "{}", r.text());
    let made = r.header("location").expect("to the editor").trim_start_matches("/edit/").to_owned();
    // The minutes moved aside by the store's rule (`reunion-cr` is taken), and are promoted once.
    let again = request(&server, "POST", "/wiki/reunion-cr-2/promote", &[("Authorization", &auth), FORM], "csrf=").await;
    assert_eq!(again.status, 409, "{}", again.text());
    server.stop().await;
    let store = crate::open_store(dir.path());
    // The same rule as `cahier promote`.
    assert_eq!(store.address(&cahier_doc::DocId::parse(&made).expect("an id")).expect("address"), "reunion");
    let minutes = store.find_slug("reunion-cr-2").expect("find").expect("the minutes");
    let (doc, _) = store.load_record(&minutes).expect("load").expect("stored");
    assert_eq!(cahier_doc::read(&doc, None).0.kind, cahier_doc::Kind::Minutes);
    let promoted: Vec<String> =
        auth_store::audit_log(&store).expect("audit").into_iter().filter(|e| e.action == "promoted").map(|e| e.target).collect();
    assert_eq!(promoted.len(), 1, "{promoted:?}");
    assert!(promoted[0].starts_with("reunion-cr-2 (") && promoted[0].contains(&format!("→ reunion ({made})")), "{promoted:?}");
}

/// A maintainer's view of minutes: every structured part; once promoted, where
/// the page lives and no promotion offered; promotion, deletion and
/// restoration in the audit log.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn minutes_show_every_part_prepare_the_next_meeting_and_once_promoted_say_where_the_page_lives() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let store = crate::open_store(dir.path());
        let mut m = DocView::new_minutes("Réunion du 20 novembre");
        m.slug = "reunion".into();
        m.body = "Tour de table.\n".into();
        m.minutes = Some(MinutesFields {
            starts_at: "2026-11-20T18:30".into(),
            place: "Salle 4".into(),
            facilitator: "Camille".into(),
            participants: vec!["Camille".into(), "Noé".into()],
            agenda: vec!["Accueil".into(), "Le potager".into()],
            decisions: vec!["Publier le guide".into()],
            actions: vec![Action { text: "Relire le guide".into(), owner: "Noé".into(), due: "2026-12-01".into(), done: false }],
        });
        store.upsert(&m, &Editor::new("léa"), 1).expect("minutes");
        crate::token_in(&store, "camille", Role::Maintainer);
    }
    let server = TestServer::start(dir.path(), ServerConfig::default()).await;
    let (_, session) = crate::http_auth::login(&server, "camille", None).await;
    let cookie = session.expect("logged in");
    let draft = get(&server, "/wiki/reunion", &[("Cookie", &cookie)]).await.text();
    for part in [
        "<dt>Date</dt><dd>2026-11-20 18:30</dd>",
        "<dt>Lieu</dt><dd>Salle 4</dd>",
        "<dt>Animation</dt><dd>Camille</dd>",
        "<li>Camille</li><li>Noé</li>",
        "<li>Accueil</li><li>Le potager</li>",
        ">Décisions</h2>\n<ul><li>Publier le guide</li>",
        "à faire :</span> Relire le guide — Noé, pour le <time datetime=\"2026-12-01\">",
        "Tour de table.",
    ] {
        assert!(draft.contains(part), "{part} missing from {draft}");
    }
    assert!(draft.contains("action=\"/wiki/reunion/promote\""), "promotion offered: {draft}");
    assert!(draft.contains("Préparer la prochaine réunion</button>"), "the next meeting offered: {draft}");
    let r = request(&server, "POST", "/wiki/reunion/next", &[("Cookie", &cookie), FORM], &format!("csrf={}", field(&draft, "csrf"))).await;
    assert_eq!(r.status, 303, "{}", r.text());
    let next = r.header("location").expect("to the editor").trim_start_matches("/edit/").to_owned();
    let r =
        request(&server, "POST", "/wiki/reunion/promote", &[("Cookie", &cookie), FORM], &format!("csrf={}", field(&draft, "csrf"))).await;
    assert_eq!(r.status, 303, "{}", r.text());
    let page = r.header("location").expect("to the editor").trim_start_matches("/edit/").to_owned();
    // The page took the minutes' address; the minutes say where it is and offer no promotion.
    let minutes = get(&server, "/wiki/reunion-cr", &[("Cookie", &cookie)]).await.text();
    assert!(minutes.contains("Ce compte rendu est devenu une page du wiki : <a href=\"/wiki/reunion\">"), "{minutes}");
    assert!(!minutes.contains("/promote"), "{minutes}");
    assert!(minutes.contains("Publier le guide"), "{minutes}");
    let the_page = get(&server, "/wiki/reunion", &[("Cookie", &cookie)]).await.text();
    assert!(the_page.contains("action=\"/wiki/reunion/publish\"") && !the_page.contains("/promote"), "{the_page}");
    let r = request(
        &server,
        "POST",
        "/wiki/reunion/delete",
        &[("Cookie", &cookie), FORM],
        &format!("csrf={}&confirm=yes", field(&the_page, "csrf")),
    )
    .await;
    assert_eq!(r.status, 303, "{}", r.text());
    server.stop().await;
    let store = crate::open_store(dir.path());
    let page = cahier_doc::DocId::parse(&page).expect("an id");
    assert_eq!(
        cahier_app::publication::undelete(&store, &page, "camille", 10).expect("undelete"),
        Some(false),
        "back, as the draft it was"
    );
    let log: Vec<(String, String)> = auth_store::audit_log(&store).expect("audit").into_iter().map(|e| (e.action, e.target)).collect();
    let of = |action: &str| log.iter().filter(|(a, _)| a == action).map(|(_, t)| t.as_str()).collect::<Vec<_>>();
    assert_eq!(
        of("promoted"),
        [format!("reunion-cr ({}) → reunion ({page})", store.find_slug("reunion-cr").expect("find").expect("minutes"))]
    );
    assert_eq!(of("deleted"), [format!("reunion « Réunion du 20 novembre » ({page})")]);
    assert_eq!(of("undeleted"), [format!("reunion « Réunion du 20 novembre » ({page})")]);
    assert_eq!(of("next meeting prepared").len(), 1, "{log:?}");
    // The next meeting starts with the same people, agenda and open action, and nothing written yet.
    let (doc, _) = store.load_record(&cahier_doc::DocId::parse(&next).expect("an id")).expect("load").expect("the next minutes");
    let (view, _) = cahier_doc::read(&doc, None);
    let m = view.minutes.expect("minutes");
    assert_eq!((m.participants, m.agenda), (vec!["Camille".to_owned(), "Noé".into()], vec!["Accueil".to_owned(), "Le potager".into()]));
    assert_eq!(m.actions.iter().map(|a| a.text.as_str()).collect::<Vec<_>>(), ["Relire le guide"]);
    assert!(m.decisions.is_empty() && view.body.trim().is_empty(), "{:?} {:?}", m.decisions, view.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_setup_link_sent_twice_at_once_creates_one_account_and_tells_the_other_why() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = crate::open_store(dir.path());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(cahier_server::run(listener, ServerConfig::default(), store.clone(), shutdown.clone()));
    let server = TestServer { addr, tester: None, shutdown, task };
    // Once it answers, the server has made its own link: this one replaces it.
    assert_eq!(get(&server, "/healthz", &[]).await.status, 200);
    let secret = tokio::task::spawn_blocking(move || auth_store::create_setup_secret(&store, [9; 32], cahier_now()))
        .await
        .expect("task")
        .expect("a setup link");
    let page = get(&server, &format!("/setup/{secret}"), &[]).await;
    assert_eq!(page.status, 200);
    let csrf = field(&page.text(), "csrf");
    let cookie =
        page.cookies().iter().find_map(|c| c.split(';').next().filter(|c| c.starts_with("cahier_login="))).expect("cookie").to_owned();
    let path = format!("/setup/{secret}");
    let post = |password: &'static str| {
        let body = format!("name=alice&password={password}&password2={password}&csrf={csrf}");
        let (server, path, cookie) = (&server, path.clone(), cookie.clone());
        async move { request(server, "POST", &path, &[FORM, ("Cookie", &cookie)], &body).await }
    };
    let (a, b) = tokio::join!(post("premier-mot-de-passe"), post("second-mot-de-passe"));
    let mut statuses = [a.status, b.status];
    statuses.sort();
    assert_eq!(statuses, [303, 409], "one wins, the other is refused: {} / {}", a.text(), b.text());
    let refused = if a.status == 409 { &a } else { &b };
    assert!(refused.text().contains("this setup link has been used"), "{}", refused.text());
    let winner = if a.status == 303 { "premier-mot-de-passe" } else { "second-mot-de-passe" };
    let loser = if a.status == 303 { "second-mot-de-passe" } else { "premier-mot-de-passe" };
    server.stop().await;
    let store = crate::open_store(dir.path());
    let accounts = auth_store::accounts(&store).expect("accounts");
    assert_eq!(accounts.len(), 1);
    // The account is the winner's: the other request changed nothing.
    assert!(auth_store::login(&store, "alice", winner, [1; 32], [2; 32], 10).expect("login").is_some());
    assert!(auth_store::login(&store, "alice", loser, [3; 32], [4; 32], 10).expect("login").is_none());
    let created = auth_store::audit_log(&store).expect("audit").iter().filter(|e| e.action.starts_with("account")).count();
    assert_eq!(created, 1, "one account event in the audit log");
}

fn cahier_now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

/// A sled store whose audit log takes as long as the test likes: reading it
/// waits until `open` (a slow PostgreSQL server, a disk that hangs).
struct SlowAudit {
    inner: cahier_store::SledStorage,
    open: std::sync::Mutex<bool>,
    opened: std::sync::Condvar,
    entered: std::sync::Mutex<Option<std::sync::mpsc::Sender<()>>>,
}

impl SlowAudit {
    fn release(&self) {
        *self.open.lock().expect("lock") = true;
        self.opened.notify_all();
    }
}

impl cahier_store::Storage for SlowAudit {
    fn load(&self, doc: &cahier_doc::DocId) -> Result<Option<Vec<cahier_store::Chunk>>, cahier_store::StorageError> {
        self.inner.load(doc)
    }
    fn next_key(&self) -> Result<u64, cahier_store::StorageError> {
        self.inner.next_key()
    }
    fn commit(&self, batch: cahier_store::Batch) -> Result<Vec<u64>, cahier_store::StorageError> {
        self.inner.commit(batch)
    }
    fn list(&self) -> Result<Vec<cahier_store::IndexEntry>, cahier_store::StorageError> {
        self.inner.list()
    }
    fn entry(&self, doc: &cahier_doc::DocId) -> Result<Option<cahier_store::IndexEntry>, cahier_store::StorageError> {
        self.inner.entry(doc)
    }
    fn find_slug(&self, slug: &str) -> Result<Option<cahier_doc::DocId>, cahier_store::StorageError> {
        self.inner.find_slug(slug)
    }
    fn storage_id(&self) -> Result<String, cahier_store::StorageError> {
        self.inner.storage_id()
    }
    fn record(&self, key: &str) -> Result<Option<Vec<u8>>, cahier_store::StorageError> {
        self.inner.record(key)
    }
    fn records(&self, prefix: &str) -> Result<Vec<(String, Vec<u8>)>, cahier_store::StorageError> {
        if prefix == "audit/" {
            if let Some(entered) = self.entered.lock().expect("lock").take() {
                let _ = entered.send(());
            }
            let mut open = self.open.lock().expect("lock");
            while !*open {
                open = self.opened.wait(open).expect("wait");
            }
        }
        self.inner.records(prefix)
    }
    fn put_records(&self, writes: Vec<(String, Option<Vec<u8>>)>) -> Result<(), cahier_store::StorageError> {
        self.inner.put_records(writes)
    }
}

/// One async worker only: were a handler to call the store on it, the
/// runtime would stall with the store, `/healthz` included.
#[tokio::test(flavor = "multi_thread", worker_threads = 1)]
async fn a_slow_store_holds_its_request_and_nothing_else() {
    let tmp = tempfile::tempdir().expect("tmp");
    let (entered_tx, entered_rx) = std::sync::mpsc::channel();
    let backend = std::sync::Arc::new(SlowAudit {
        inner: cahier_store::SledStorage::open(&tmp.path().join("data")).expect("open"),
        open: std::sync::Mutex::new(false),
        opened: std::sync::Condvar::new(),
        entered: std::sync::Mutex::new(Some(entered_tx)),
    });
    let store = cahier_store::Store::new(backend.clone());
    let maintainer = crate::token_in(&store, "camille", Role::Maintainer);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(cahier_server::run(listener, ServerConfig::default(), store, shutdown.clone()));
    let server = std::sync::Arc::new(TestServer { addr, tester: None, shutdown, task });
    let audit = {
        let server = server.clone();
        let auth = format!("Bearer {maintainer}");
        tokio::spawn(async move { get(&server, "/audit", &[("Authorization", &auth)]).await.status })
    };
    // The audit page is waiting on the store…
    tokio::task::spawn_blocking(move || entered_rx.recv_timeout(std::time::Duration::from_secs(20)))
        .await
        .expect("task")
        .expect("the audit page reads the store");
    // …and the server still answers everything else. (Asked from a thread of
    // its own: a stalled runtime could not even run this test's timers.)
    let answers = tokio::task::spawn_blocking(move || [status_within(addr, "/healthz"), status_within(addr, "/wiki")]).await.expect("task");
    backend.release();
    let [health, wiki] = answers;
    assert_eq!(health.expect("/healthz answers while the store is slow"), 200);
    assert_eq!(wiki.expect("readers are served while the store is slow"), 200);
    assert_eq!(audit.await.expect("task"), 200, "the slow request is answered once the store is");
    let Ok(server) = std::sync::Arc::try_unwrap(server) else { panic!("the server is still shared") };
    server.stop().await;
}

/// The status of `GET path`, or the error if no answer came within 10 s.
fn status_within(addr: std::net::SocketAddr, path: &str) -> std::io::Result<u16> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr)?;
    s.set_read_timeout(Some(std::time::Duration::from_secs(10)))?;
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").as_bytes())?;
    let mut head = [0u8; 12];
    s.read_exact(&mut head)?;
    let text = String::from_utf8_lossy(&head);
    text.split(' ').nth(1).and_then(|c| c.parse().ok()).ok_or_else(|| std::io::Error::other(format!("not a status line: {text}")))
}

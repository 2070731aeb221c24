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

use crate::sockets::{Client, Got, rand_bytes};
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
    let mut a = Client::joined(&server, &alice, "alice").await;
    let mut doc = cahier_doc::new_document(&DocView::new_minutes("Webinaire"), &Editor::new("alice"), 0).expect("doc");
    a.sync_all(&mut doc, &id).await;
    let mut m = Client::joined(&server, &mallory, "mallory").await;
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
    let mut newcomer = Client::joined(&server, &alice, "alice-2").await;
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
        let (_, secret) = cahier_app::auth_store::create_invite(&store, &id, false, "alice", None, [2; 8], [2; 32], 1).expect("invite");
        (alice, id.to_string(), format!("/join/{secret}"))
    };
    let server = TestServer::start(&data, ServerConfig::default()).await;
    let mut a = Client::joined(&server, &alice, "alice").await;
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

/// Every `.md` file under `dir`, as paths relative to it.
fn markdown_under(dir: &std::path::Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).expect("read dir") {
            let p = e.expect("entry").path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "md") {
                out.push(p.strip_prefix(dir).expect("inside").to_string_lossy().into_owned());
            }
        }
    }
    out.sort();
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_slugs_written_over_sync_never_make_an_export_lose_a_page_or_leave_its_folder() {
    use std::io::Read;
    let tmp = tempfile::tempdir().expect("tmp");
    let data = tmp.path().join("data");
    let (ed, boss) = {
        let store = crate::open_store(&data);
        (token_in(&store, "ed", Role::Editor), token_in(&store, "boss", Role::Maintainer))
    };
    let server = TestServer::start(&data, ServerConfig::default()).await;
    let long_title = "Une très longue réunion du conseil d'école ".repeat(7);
    let views = {
        let with = |mut v: DocView, slug: &str| {
            v.slug = slug.to_owned();
            v.body = format!("Texte de {}", v.title);
            v
        };
        vec![
            with(DocView::new_minutes(""), ""),
            with(DocView::new_minutes(""), ""),
            with(DocView::new_page("Notes d'Alice"), "alice-notes"),
            with(DocView::new_page("Fausses notes"), "alice-notes"),
            with(DocView::new_page("Évasion"), "../../../../../etc/x"),
            with(DocView::new_page(&long_title), &"a".repeat(300)),
        ]
    };
    let mut c = Client::joined(&server, &ed, "ed").await;
    for v in &views {
        let mut doc = cahier_doc::new_document(v, &Editor::new("ed"), 1).expect("doc");
        c.sync_all(&mut doc, &DocId::from_random(rand_bytes()).to_string()).await;
    }
    let auth = format!("Bearer {boss}");
    let zip = crate::wiki::get(&server, "/export.zip", &[("Authorization", &auth)]).await;
    assert_eq!(zip.status, 200, "{}", zip.text());
    let tar = crate::wiki::get(&server, "/export.tar.gz", &[("Authorization", &auth)]).await;
    assert_eq!(tar.status, 200, "{}", tar.text());
    server.stop().await;

    let zipped = zip::ZipArchive::new(std::io::Cursor::new(zip.body.clone())).expect("a zip");
    let mut zip_names: Vec<String> = zipped.file_names().map(str::to_owned).collect();
    zip_names.sort();
    let mut tar_names = Vec::new();
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(tar.body.as_slice()));
    for entry in archive.entries().expect("a tar") {
        let mut entry = entry.expect("entry");
        tar_names.push(entry.path().expect("path").to_string_lossy().into_owned());
        let mut text = String::new();
        entry.read_to_string(&mut text).expect("read");
    }
    tar_names.sort();
    let store = crate::open_store(&data);
    let files = cahier_app::transfer::export_all(&store, &mut |_| {}).expect("export");
    let out = tmp.path().join("exports/nightly");
    cahier_app::archive::write_files(&out, &files).expect("folder export");
    drop(store);
    let folder_names = markdown_under(&out);
    assert_eq!(markdown_under(tmp.path()).len(), folder_names.len(), "nothing written outside the export folder");
    for names in [&zip_names, &tar_names, &folder_names] {
        assert_eq!(names.len(), views.len() + 1, "every document once, and the credits: {names:?}");
        for n in names.iter() {
            let inside = n == "CREDITS.md" || n.starts_with("pages/") || n.starts_with("minutes/");
            assert!(inside && !n.contains("..") && n.len() < 240, "{n:?} stays inside the archive");
        }
    }
    assert_eq!(zip_names, tar_names);
    assert_eq!(zip_names, folder_names);

    // Importing the export gives back every document, each with its text.
    let again = crate::open_store(&tmp.path().join("again"));
    let path = tmp.path().join("wiki.tar.gz");
    std::fs::write(&path, &tar.body).expect("write");
    for f in cahier_app::archive::read_markdown_files(&path).expect("read") {
        cahier_app::transfer::import_file(&again, &f, 10, &cahier_app::Direct(&again)).expect("import");
    }
    let mut bodies: Vec<String> = again
        .list()
        .expect("list")
        .iter()
        .map(|e| {
            let id = DocId::parse(&e.id).expect("id");
            cahier_doc::read(&again.load_record(&id).expect("load").expect("stored").0, None).0.body
        })
        .collect();
    bodies.sort();
    let mut expected: Vec<String> = views.iter().map(|v| v.body.clone()).collect();
    expected.sort();
    assert_eq!(bodies, expected);
}

async fn post_as(server: &TestServer, token: &str, path: &str) -> u16 {
    let auth = format!("Bearer {token}");
    let headers = [("Authorization", auth.as_str()), ("Content-Type", "application/x-www-form-urlencoded")];
    request(server, "POST", path, &headers, "csrf=").await.status
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_that_copies_a_published_slug_gets_its_own_address_and_drafts_never_reach_readers() {
    let tmp = tempfile::tempdir().expect("tmp");
    let data = tmp.path().join("data");
    let (ed, boss, alice_page) = {
        let store = crate::open_store(&data);
        let mut v = DocView::new_page("Notes d'Alice");
        v.slug = "alice-notes".into();
        v.body = "Le vrai texte d'Alice.".into();
        let id = store.upsert(&v, &Editor::new("alice"), 1).expect("page").0.id;
        (token_in(&store, "ed", Role::Editor), token_in(&store, "boss", Role::Maintainer), id)
    };
    let server = TestServer::start(&data, ServerConfig::default()).await;
    assert_eq!(post_as(&server, &boss, "/wiki/alice-notes/publish").await, 303);
    // An editor writes another page claiming the same slug, over sync.
    let mut c = Client::joined(&server, &ed, "ed").await;
    let mut fake = DocView::new_page("Fausses notes");
    fake.slug = "alice-notes".into();
    fake.body = "Texte piégé.".into();
    let mut doc = cahier_doc::new_document(&fake, &Editor::new("ed"), 2).expect("doc");
    c.sync_all(&mut doc, &DocId::from_random(rand_bytes()).to_string()).await;
    assert_eq!(post_as(&server, &boss, "/wiki/alice-notes-2/publish").await, 303, "the copy lives at its own address");
    let read = |path: &'static str| {
        let server = &server;
        async move { crate::wiki::get(server, path, &[]).await }
    };
    let alice = read("/wiki/alice-notes").await;
    assert!(alice.status == 200 && alice.text().contains("Le vrai texte d'Alice.") && !alice.text().contains("piégé"), "{}", alice.text());
    let copy = read("/wiki/alice-notes-2").await;
    assert!(copy.status == 200 && copy.text().contains("Texte piégé."), "{}", copy.text());
    assert_eq!(post_as(&server, &boss, "/wiki/alice-notes-2/unpublish").await, 303);
    assert_eq!(read("/wiki/alice-notes-2").await.status, 404);
    assert_eq!(read("/wiki/alice-notes").await.status, 200, "unpublishing the copy leaves Alice's page");

    // A draft title typed after publication never reaches the public log.
    let mut alice_doc = Automerge::new();
    c.sync_all(&mut alice_doc, alice_page.as_str()).await;
    let mut tx = alice_doc.transaction();
    tx.put(automerge::ROOT, "title", "SECRET : liste des absents").expect("title");
    tx.commit();
    c.sync_all(&mut alice_doc, alice_page.as_str()).await;
    assert_eq!(post_as(&server, &boss, "/wiki/alice-notes/unpublish").await, 303);
    let recent = read("/recent").await.text();
    assert!(!recent.contains("SECRET"), "{recent}");
    assert!(recent.contains("Notes d&#39;Alice dépubliée"), "the published title is logged: {recent}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deep_quotes_from_a_view_only_guest_render_flat_and_the_server_stays_responsive() {
    let tmp = tempfile::tempdir().expect("tmp");
    let data = tmp.path().join("data");
    let link = {
        let store = crate::open_store(&data);
        let id = store.upsert(&DocView::new_minutes("Webinaire"), &Editor::new("alice"), 1).expect("minutes").0.id;
        let (_, secret) = cahier_app::auth_store::create_invite(&store, &id, false, "alice", None, [3; 8], [3; 32], 1).expect("invite");
        format!("/join/{secret}")
    };
    let server = std::sync::Arc::new(TestServer::start(&data, ServerConfig::default()).await);
    let cookie = crate::sockets::join_invite(&server, &link, "Yasmine").await.expect("the view link works");
    let body = serde_json::json!({ "markdown": format!("{} x", ">".repeat(200_000)) }).to_string();
    // As many previews as the server has workers, and more.
    let previews: Vec<_> = (0..4)
        .map(|_| {
            let (server, cookie, body) = (server.clone(), cookie.clone(), body.clone());
            tokio::spawn(async move {
                let headers = [("Cookie", cookie.as_str()), ("Content-Type", "application/json")];
                request(&server, "POST", "/api/render", &headers, &body).await
            })
        })
        .collect();
    // request() fails the test when no answer comes within 20 s.
    let health = request(&server, "GET", "/healthz", &[], "").await;
    assert_eq!(health.status, 200);
    for p in previews {
        let r = p.await.expect("preview task");
        assert_eq!(r.status, 200, "{}", r.text());
        let quotes = r.text().matches("<blockquote>").count();
        assert!(quotes <= cahier_wiki::render::MAX_NESTING, "{quotes} levels");
    }
    match std::sync::Arc::try_unwrap(server) {
        Ok(server) => server.stop().await,
        Err(_) => panic!("the server is still shared"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn odd_versions_extreme_dates_and_tab_redirects_get_sane_answers() {
    use automerge::transaction::CommitOptions;
    let tmp = tempfile::tempdir().expect("tmp");
    let data = tmp.path().join("data");
    let (boss, head) = {
        let store = crate::open_store(&data);
        let mut v = DocView::new_page("Dates folles");
        v.slug = "dates-folles".into();
        let mut loaded = store.upsert(&v, &Editor::new("ed"), 1).expect("page").0;
        // Writers choose their changes' times: the far future, the far past.
        // (Halves: automerge itself overflows between i64::MAX and i64::MIN.)
        for (time, text) in [(i64::MAX / 2, "futur"), (i64::MIN / 2, "passé")] {
            let body = cahier_doc::write::body_obj(&loaded.doc, None).expect("body");
            let mut tx = loaded.doc.transaction();
            let len = tx.length(&body);
            tx.splice_text(&body, len, 0, text).expect("type");
            tx.commit_with(CommitOptions::default().with_time(time));
        }
        store.save(&mut loaded).expect("save");
        let head = loaded.doc.get_heads()[0].to_string();
        (token_in(&store, "boss", Role::Maintainer), head)
    };
    let server = TestServer::start(&data, ServerConfig::default()).await;
    let auth = format!("Bearer {boss}");
    let history = crate::wiki::get(&server, "/wiki/dates-folles/history", &[("Authorization", &auth)]).await;
    assert_eq!(history.status, 200, "{}", history.text());
    // Ten spaces, an ideographic space, then a real head: the review's panic.
    let odd = format!("/wiki/dates-folles/history?version={}%E3%80%80{head}", "%20".repeat(10));
    let r = crate::wiki::get(&server, &odd, &[("Authorization", &auth)]).await;
    assert!(matches!(r.status, 200 | 400 | 404), "a clear answer, not a dropped connection: {}", r.status);
    let md = crate::wiki::get(&server, &format!("/wiki/dates-folles.md?version=%E3%80%80{head}"), &[("Authorization", &auth)]).await;
    assert!(matches!(md.status, 200 | 400 | 404), "{}", md.status);
    // A login link whose `next` hides a tab leads back to the wiki, not away.
    let page = crate::wiki::get(&server, "/login?next=%2F%09%2Fevil.example%2F", &[]).await;
    assert!(!page.text().contains("evil.example"), "{}", page.text());
    assert_eq!(crate::wiki::get(&server, "/healthz", &[]).await.status, 200);
    // The JSON API is never sniffed as a page.
    let api = crate::wiki::get(&server, "/api/session", &[("Authorization", &auth)]).await;
    assert_eq!(api.header("x-content-type-options"), Some("nosniff"));
    assert!(api.header("content-security-policy").is_some_and(|c| c.contains("default-src 'none'")));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credits_name_only_who_connected_whatever_a_change_claims() {
    let tmp = tempfile::tempdir().expect("tmp");
    let data = tmp.path().join("data");
    let (alice, mallory) = {
        let store = crate::open_store(&data);
        (token_in(&store, "alice", Role::Editor), token_in(&store, "mallory", Role::Editor))
    };
    let server = TestServer::start(&data, ServerConfig::default()).await;
    let id = DocId::from_random(rand_bytes()).to_string();
    let mut a = Client::joined(&server, &alice, "alice").await;
    let mut doc = cahier_doc::new_document(&DocView::new_page("Projet d'école"), &Editor::new("alice"), 0).expect("doc");
    append(&mut doc, "Texte d'Alice. ");
    a.sync_all(&mut doc, &id).await;

    // (b) Changes signed with Alice's actor, sent together, that wait on a
    // change of Mallory's own not sent yet.
    let mut m = Client::joined(&server, &mallory, "mallory").await;
    let mut theirs = Automerge::new();
    m.sync_all(&mut theirs, &id).await;
    append(&mut theirs, "D");
    let mut forged = theirs.fork();
    forged.set_actor(doc.get_actor().clone());
    append(&mut forged, "Texte forgé");
    append(&mut forged, " !");
    let mut msg = forged.generate_sync_message(&mut sync::State::new()).expect("a message");
    msg.changes = vec![forged.save_after(&theirs.get_heads())].into();
    m.send(&Message::Sync { sender_id: "mallory".into(), target_id: "s".into(), document_id: id.clone(), data: msg.encode() }).await;
    m.expect_error("belongs to someone else").await;

    // (a) A change whose author field names Alice, by Mallory's own actor.
    let mut m = Client::joined(&server, &mallory, "mallory").await;
    let mut theirs = Automerge::new();
    m.sync_all(&mut theirs, &id).await;
    theirs.set_author(Some(Editor::new("Alice Maintainer").author()));
    append(&mut theirs, "Texte de Mallory.");
    m.sync_all(&mut theirs, &id).await;
    server.stop().await;

    let store = crate::open_store(&data);
    let (stored, _) = store.load_record(&DocId::parse(&id).expect("id")).expect("load").expect("stored");
    let body = cahier_doc::read(&stored, None).0.body;
    assert_eq!(body, "Texte d'Alice. Texte de Mallory.", "nothing forged was kept");
    let credits = cahier_app::auth_store::credits(&store, &stored, None).expect("credits");
    assert!(credits.contains(&"mallory".to_owned()), "{credits:?}");
    assert!(!credits.contains(&"Alice Maintainer".to_owned()), "the author field is not trusted: {credits:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_address_holds_only_its_share_of_the_sync_slots_and_anonymous_sockets_none() {
    let tmp = tempfile::tempdir().expect("tmp");
    let config = ServerConfig { max_connections_per_address: 3, ..ServerConfig::default() };
    let server = TestServer::start_with_tester(&tmp.path().join("data"), config).await;
    let anon = tokio_tungstenite::connect_async(server.ws_url()).await.expect_err("refused");
    assert!(anon.to_string().contains("401"), "{anon}");
    let mut held = Vec::new();
    for i in 0..3 {
        let mut c = Client::connect(&server, &format!("c{i}")).await;
        c.join().await;
        held.push(c);
    }
    let refused = tokio_tungstenite::connect_async(server.ws_url_with(server.tester.as_deref().expect("tester")))
        .await
        .expect_err("a fourth socket from one address");
    assert!(refused.to_string().contains("429"), "{refused}");
    // A slot given back is free again, and the sockets held still work.
    let mut first = held.remove(0);
    let _ = first.ws.close(None).await;
    while !matches!(first.recv().await, crate::sockets::Got::Closed(_)) {}
    let mut again = loop {
        // The server frees the slot once it has seen the close.
        match tokio_tungstenite::connect_async(server.ws_url_with(server.tester.as_deref().expect("tester"))).await {
            Ok((ws, _)) => break Client { ws, name: "again".into() },
            Err(e) => assert!(e.to_string().contains("429"), "{e}"),
        }
        tokio::task::yield_now().await;
    };
    again.join().await;
    for c in &mut held {
        c.still_served().await;
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_guest_cannot_take_an_account_holders_name_or_hide_characters_in_theirs() {
    let tmp = tempfile::tempdir().expect("tmp");
    let data = tmp.path().join("data");
    let link = {
        let store = crate::open_store(&data);
        token_in(&store, "boss", Role::Maintainer);
        let id = store.upsert(&DocView::new_minutes("Webinaire"), &Editor::new("boss"), 1).expect("minutes").0.id;
        let (_, secret) = cahier_app::auth_store::create_invite(&store, &id, true, "boss", None, [4; 8], [4; 32], 1).expect("invite");
        format!("/join/{secret}")
    };
    let server = TestServer::start(&data, ServerConfig::default()).await;
    for name in ["Boss", "bóss", "ｂｏｓｓ", "bo%E2%80%8Bss", "%E2%80%AEssob"] {
        let joined = crate::sockets::join_invite(&server, &link, name).await;
        assert!(joined.is_err(), "{name} is refused");
    }
    assert!(crate::sockets::join_invite(&server, &link, "Zo%C3%A9").await.is_ok(), "a name of one's own works");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_maintainer_publishes_exactly_the_version_reviewed_in_place() {
    let tmp = tempfile::tempdir().expect("tmp");
    let data = tmp.path().join("data");
    let (ed, id) = {
        let store = crate::open_store(&data);
        token_in(&store, "boss", Role::Maintainer);
        let mut v = DocView::new_page("Classe dehors");
        v.slug = "classe-dehors".into();
        v.body = "Première version.".into();
        let id = store.upsert(&v, &Editor::new("boss"), 1).expect("page").0.id;
        cahier_app::publication::publish(&store, &id, "boss", 2).expect("publish");
        (token_in(&store, "ed", Role::Editor), id.to_string())
    };
    let server = TestServer::start(&data, ServerConfig::default()).await;
    let (_, session) = crate::http_auth::login(&server, "boss", None).await;
    let cookie = session.expect("boss is logged in");
    let mut c = Client::joined(&server, &ed, "ed").await;
    let mut doc = Automerge::new();
    c.sync_all(&mut doc, &id).await;
    append(&mut doc, " Deuxième version.");
    c.sync_all(&mut doc, &id).await;
    // The maintainer sees that the page has unpublished changes, and reviews them.
    let page = crate::wiki::get(&server, "/wiki/classe-dehors", &[("Cookie", &cookie)]).await.text();
    assert!(page.contains("modifications non publiées"), "{page}");
    let reviewed = crate::http_auth::field(&page, "heads");
    let csrf = crate::http_auth::field(&page, "csrf");
    // Meanwhile someone types more.
    append(&mut doc, " Ajout de dernière minute.");
    c.sync_all(&mut doc, &id).await;
    let form = [("Cookie", cookie.as_str()), ("Content-Type", "application/x-www-form-urlencoded")];
    let published = request(&server, "POST", "/wiki/classe-dehors/publish", &form, &format!("csrf={csrf}&heads={reviewed}")).await;
    assert_eq!(published.status, 303, "{}", published.text());
    let readers = crate::wiki::get(&server, "/wiki/classe-dehors", &[]).await.text();
    assert!(readers.contains("Première version. Deuxième version."), "{readers}");
    assert!(!readers.contains("dernière minute"), "exactly the reviewed version is published: {readers}");
    // A version the store does not hold is refused, and nothing changes.
    let bogus = request(&server, "POST", "/wiki/classe-dehors/publish", &form, &format!("csrf={csrf}&heads={}", "ab".repeat(32))).await;
    assert_eq!(bogus.status, 422);
    assert!(crate::wiki::get(&server, "/wiki/classe-dehors", &[]).await.text().contains("Deuxième version."));
    let recent = crate::wiki::get(&server, "/recent", &[]).await.text();
    assert_eq!(recent.matches("dépubliée").count(), 0, "republishing never unpublished the page: {recent}");
    server.stop().await;
}

/// automerge-repo's presence snapshot, as Cahier's editor sends it.
fn presence(name: &str, who: &str, color: &str) -> Vec<u8> {
    let mut data = Vec::new();
    let mut e = minicbor::Encoder::new(&mut data);
    e.map(1)
        .and_then(|e| e.str("__presence"))
        .and_then(|e| e.map(2))
        .and_then(|e| e.str("type"))
        .and_then(|e| e.str("snapshot"))
        .expect("cbor");
    e.str("state").and_then(|e| e.map(3)).expect("cbor");
    e.str("name").and_then(|e| e.str(name)).and_then(|e| e.str("who")).and_then(|e| e.str(who)).expect("cbor");
    e.str("color").and_then(|e| e.str(color)).expect("cbor");
    data
}

/// A guest with a write link shows up in Alice's "Présents" and beside the
/// caret under the name she joined with, and only that: presence naming an
/// account holder, or carrying a "colour" that would be CSS in everyone's
/// editor, is refused and never reaches Alice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_guest_appears_under_her_own_name_only_and_with_a_plain_colour() {
    let tmp = tempfile::tempdir().expect("tmp");
    let data = tmp.path().join("data");
    let (alice, id, link) = {
        let store = crate::open_store(&data);
        let alice = token_in(&store, "alice", Role::Maintainer);
        let id = store.upsert(&DocView::new_minutes("Webinaire"), &Editor::new("alice"), 1).expect("minutes").0.id;
        let (_, secret) = cahier_app::auth_store::create_invite(&store, &id, true, "alice", None, [6; 8], [6; 32], 1).expect("invite");
        (alice, id.to_string(), format!("/join/{secret}"))
    };
    let server = TestServer::start(&data, ServerConfig::default()).await;
    let mut a = Client::joined(&server, &alice, "alice").await;
    let mut doc = Automerge::new();
    a.sync_all(&mut doc, &id).await;
    let cookie = crate::sockets::join_invite(&server, &link, "Yasmine").await.expect("the link works");
    let ephemeral = |data: Vec<u8>| Message::Ephemeral {
        sender_id: "yasmine".into(),
        target_id: "s".into(),
        count: 1,
        session_id: "tab".into(),
        document_id: id.clone(),
        data,
    };
    let attempts = [
        (presence("alice", "account:alice", "hsl(10 70% 38%)"), "presence names \"alice\""),
        (presence("Yasmine", "account:alice", "hsl(10 70% 38%)"), "presence names \"account:alice\""),
        (presence("Yasmine", "guest:Yasmine", "red; background: url(https://evil.example/)"), "is not a colour"),
    ];
    for (forged, why) in attempts {
        let mut y = Client::connect_with_cookie(&server, &cookie, "yasmine").await;
        y.join().await;
        let mut mine = Automerge::new();
        y.sync_all(&mut mine, &id).await;
        y.send(&ephemeral(forged)).await;
        y.expect_error(why).await;
    }
    let mut y = Client::connect_with_cookie(&server, &cookie, "yasmine").await;
    y.join().await;
    let mut mine = Automerge::new();
    y.sync_all(&mut mine, &id).await;
    y.send(&ephemeral(presence("Yasmine", "guest:Yasmine", "hsl(200 70% 38%)"))).await;
    // The first presence Alice hears is the honest one: none of the forged ones was relayed.
    loop {
        match a.recv().await {
            Got::Msg(Message::Ephemeral { data, .. }) => {
                assert_eq!(data, presence("Yasmine", "guest:Yasmine", "hsl(200 70% 38%)"));
                break;
            }
            Got::Msg(Message::Sync { .. } | Message::RemoteHeadsChanged { .. }) => continue,
            other => panic!("expected Yasmine's presence, got {other:?}"),
        }
    }
    server.stop().await;
}

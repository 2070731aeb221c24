//! `GET /api/documents/ID/authorship`: who wrote which part of the notes, for
//! the editor's authorship colours; readable exactly by those who may read
//! the document.

use cahier_app::auth_store;
use cahier_auth::Role;
use cahier_server::ServerConfig;

use crate::TestServer;
use crate::sockets::join_invite;
use crate::wiki::get;

/// Asks for each path with its header; returns, for each answer that is not
/// the status expected, who asked and what came back.
async fn wrong_answers<'a>(
    server: &TestServer,
    cases: impl IntoIterator<Item = (&'a str, String, (&'a str, &'a str), u16)>,
) -> Vec<String> {
    let mut wrong = Vec::new();
    for (who, path, header, expected) in cases {
        let r = get(server, &path, &[header]).await;
        if r.status != expected {
            wrong.push(format!("{who}: {} (expected {expected})", r.status));
        }
    }
    wrong
}

/// The people and documents the refusals are checked with, beside `doc`:
/// another document and a deleted one, a view link to `doc` and an edit link
/// to the other (as `/join/…` secrets), and an editor's token.
fn who_may_not_read(
    store: &cahier_store::Store,
    doc: &cahier_doc::DocId,
) -> (cahier_doc::DocId, cahier_doc::DocId, String, String, String) {
    let other = store.upsert(&cahier_doc::DocView::new_page("Autre"), &cahier_doc::Editor::new("léa"), 1).expect("other").0.id;
    let deleted = store.upsert(&cahier_doc::DocView::new_page("Supprimée"), &cahier_doc::Editor::new("léa"), 1).expect("deleted").0.id;
    cahier_app::publication::delete(store, &deleted, "camille", 3).expect("delete");
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64);
    let (_, read_link) = auth_store::create_invite(store, doc, false, "camille", None, [1; 8], [1; 32], now).expect("invite");
    let (_, other_link) = auth_store::create_invite(store, &other, true, "camille", None, [2; 8], [2; 32], now).expect("invite");
    let editor = crate::token_in(store, "eli", Role::Editor);
    (other, deleted, editor, read_link, other_link)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_notes_authors_are_told_to_those_who_may_read_them_with_the_credits_names() {
    let tmp = tempfile::tempdir().expect("tmp");
    let data = tmp.path().join("data");
    let (doc, other, deleted, editor, links) = {
        let store = crate::open_store(&data);
        let mut view = cahier_doc::DocView::new_minutes("Réunion");
        view.body = "Camille : bonjour.\n".to_owned();
        let doc = store.upsert(&view, &cahier_doc::Editor::new("camille"), 1).expect("minutes").0.id;
        // Léa adds a line from another replica (another actor).
        view.body.push_str("Léa : salut.");
        let (loaded, _) = store.upsert(&view, &cahier_doc::Editor::new("léa"), 2).expect("second line");
        // Camille's actor is bound to her account, as the server does when she writes.
        let versions = cahier_doc::history::versions(&loaded.doc);
        let camille_actor = versions.iter().find(|v| v.author.as_deref() == Some("camille")).expect("camille's change").actor.clone();
        let binding = auth_store::ActorBinding { identity: "account:camille".into(), name: "Camille Martin".into(), at_ms: 1 };
        auth_store::bind_actors(&store, &[(camille_actor, binding)]).expect("bind");
        let (other, deleted, editor, read_link, other_link) = who_may_not_read(&store, &doc);
        (doc.to_string(), other.to_string(), deleted.to_string(), editor, [read_link, other_link].map(|s| format!("/join/{s}")))
    };
    let server = TestServer::start(&data, ServerConfig::default()).await;
    let reader = join_invite(&server, &links[0], "Yasmine").await.expect("read link");
    let elsewhere = join_invite(&server, &links[1], "Zed").await.expect("other link");
    let editor = format!("Bearer {editor}");
    let path = |id: &str| format!("/api/documents/{id}/authorship");
    let cases: [(&str, &str, (&str, &str), u16); 6] = [
        ("nobody", &doc, ("X-None", "1"), 401),
        ("a guest invited to read it", &doc, ("Cookie", &reader), 200),
        ("a guest of another document", &doc, ("Cookie", &elsewhere), 404),
        ("an editor", &doc, ("Authorization", &editor), 200),
        ("an editor, a deleted document", &deleted, ("Authorization", &editor), 404),
        ("an editor, not a document id", "pas-un-id", ("Authorization", &editor), 400),
    ];
    let wrong = wrong_answers(&server, cases.map(|(who, id, header, expected)| (who, path(id), header, expected))).await;
    assert!(wrong.is_empty(), "{wrong:#?}");
    assert_eq!(get(&server, &path(&other), &[("Cookie", &elsewhere)]).await.status, 200, "the guest reads their own");

    let body: serde_json::Value = serde_json::from_str(&get(&server, &path(&doc), &[("Cookie", &reader)]).await.text()).expect("json");
    let people: Vec<&str> = body["people"].as_array().expect("people").iter().map(|p| p["name"].as_str().expect("name")).collect();
    // The credits' names: the bound account's, and the author field of an unbound actor; most text first.
    assert_eq!(people, ["Camille Martin", "léa"]);
    let spans: Vec<(u64, u64, u64)> = body["spans"]
        .as_array()
        .expect("spans")
        .iter()
        .map(|s| (s["from"].as_u64().expect("from"), s["to"].as_u64().expect("to"), s["person"].as_u64().expect("person")))
        .collect();
    let first = "Camille : bonjour.\n".encode_utf16().count() as u64;
    let all = "Camille : bonjour.\nLéa : salut.".encode_utf16().count() as u64;
    assert_eq!(spans, [(0, first, 0), (first, all, 1)]);
    assert_eq!(body["heads"].as_array().map(Vec::len), Some(1), "the version the spans describe");
    let keys: Vec<&str> = body["people"].as_array().expect("people").iter().map(|p| p["key"].as_str().expect("key")).collect();
    assert!(keys[0] != keys[1] && !body.to_string().contains("account:"), "opaque keys, one per person: {keys:?}");
    // Not a digest anyone can recompute from the names shown: that would tell who has an account.
    for guess in ["bound:account:camille", "author:léa"] {
        assert!(!keys.contains(&&cahier_auth::digest(guess)[..16]), "{guess} gives a key a reader can recompute: {keys:?}");
    }
    server.stop().await;
    // The same names, in the same order, as the credits of the published page.
    let store = crate::open_store(&data);
    let id = cahier_doc::DocId::parse(&doc).expect("id");
    let (stored, _) = store.load_record(&id).expect("load").expect("stored");
    assert_eq!(auth_store::credits(&store, &stored, None).expect("credits"), people);
}

/// The timeslider's endpoints: the moments of the history and the notes at
/// one of them, with who wrote what (a guest marked as such); refused, exactly
/// as the notes are, to those who may not read the document.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_history_moments_and_past_notes_are_told_to_those_who_may_read_them() {
    let tmp = tempfile::tempdir().expect("tmp");
    let data = tmp.path().join("data");
    let first = "Camille : ouverture.\n";
    let (doc, deleted, editor, links, long) = {
        let store = crate::open_store(&data);
        let mut view = cahier_doc::DocView::new_minutes("Conseil");
        view.body = first.to_owned();
        let doc = store.upsert(&view, &cahier_doc::Editor::new("camille"), 1_000_000).expect("minutes").0.id;
        // Léa, a guest, writes half a minute later from her own replica.
        view.body.push_str("Léa : merci.");
        let (loaded, _) = store.upsert(&view, &cahier_doc::Editor::new("léa"), 1_030_000).expect("second line");
        let versions = cahier_doc::history::versions(&loaded.doc);
        let actor = |who: &str| versions.iter().find(|v| v.author.as_deref() == Some(who)).expect("a change").actor.clone();
        let bind = |identity: &str, name: &str| auth_store::ActorBinding { identity: identity.into(), name: name.into(), at_ms: 1 };
        auth_store::bind_actors(
            &store,
            &[(actor("camille"), bind("account:camille", "Camille Martin")), (actor("léa"), bind("guest:abc:Léa", "Léa"))],
        )
        .expect("bind");
        let (_, deleted, editor, read_link, other_link) = who_may_not_read(&store, &doc);
        // A long meeting: 250 turns of two writers, more moments than a slider holds.
        let mut long = cahier_doc::DocView::new_minutes("Longue réunion");
        let mut long_id = None;
        for turn in 0..250 {
            long.body.push_str(&format!("{turn} "));
            let writer = cahier_doc::Editor::new(if turn % 2 == 0 { "ana" } else { "bo" });
            long_id = Some(store.upsert(&long, &writer, 2_000_000 + turn * 1000).expect("a turn").0.id);
        }
        (
            doc.to_string(),
            deleted.to_string(),
            editor,
            [read_link, other_link].map(|s| format!("/join/{s}")),
            long_id.expect("the long meeting"),
        )
    };
    let server = TestServer::start(&data, ServerConfig::default()).await;
    let reader = join_invite(&server, &links[0], "Yasmine").await.expect("read link");
    let elsewhere = join_invite(&server, &links[1], "Zed").await.expect("other link");
    let editor = format!("Bearer {editor}");

    let history: serde_json::Value =
        serde_json::from_str(&get(&server, &format!("/api/documents/{doc}/history"), &[("Cookie", &reader)]).await.text()).expect("json");
    let people: Vec<(String, bool)> = history["people"]
        .as_array()
        .expect("people")
        .iter()
        .map(|p| (p["name"].as_str().expect("name").to_owned(), p["guest"].as_bool().expect("guest")))
        .collect();
    assert_eq!(people, [("Camille Martin".to_owned(), false), ("Léa".to_owned(), true)], "who wrote, a guest marked");
    let moments = history["moments"].as_array().expect("moments");
    let authors: Vec<Vec<u64>> =
        moments.iter().map(|m| m["authors"].as_array().expect("authors").iter().map(|a| a.as_u64().expect("index")).collect()).collect();
    assert_eq!(authors, [vec![0], vec![1]], "one moment per writer: {history}");
    assert_eq!((moments[0]["end"].as_i64(), moments[1]["start"].as_i64()), (Some(1_000), Some(1_030)), "their times in seconds");
    assert_eq!(moments[1]["heads"], history["heads"], "the last moment is now");
    let total: u64 = moments.iter().map(|m| m["changes"].as_u64().expect("changes")).sum();
    assert_eq!(history["total"].as_u64(), Some(total));

    // The notes at the first moment: Camille's line alone, hers.
    let heads: Vec<&str> = moments[0]["heads"].as_array().expect("heads").iter().map(|h| h.as_str().expect("hex")).collect();
    let at = format!("/api/documents/{doc}/at?heads={}", heads.join(","));
    let past: serde_json::Value = serde_json::from_str(&get(&server, &at, &[("Cookie", &reader)]).await.text()).expect("json");
    assert_eq!(past["text"].as_str(), Some(first));
    assert_eq!(past["people"][0]["name"].as_str(), Some("Camille Martin"));
    assert_eq!(past["people"][0]["key"], history["people"][0]["key"], "one key per person, the colours follow");
    let n = first.encode_utf16().count() as u64;
    assert_eq!(past["spans"], serde_json::json!([{ "from": 0, "to": n, "person": 0 }]));

    // Change by change: every change counted, each with its writer; the last one is now.
    let changes: serde_json::Value =
        serde_json::from_str(&get(&server, &format!("/api/documents/{doc}/changes"), &[("Cookie", &reader)]).await.text()).expect("json");
    assert_eq!(changes["total"], history["total"]);
    let list = changes["changes"].as_array().expect("changes");
    assert_eq!(list.len() as u64, total, "a short history fits one page");
    let last = list.last().expect("a change");
    assert_eq!(last["heads"], history["heads"], "the last change is now");
    let by = &changes["people"][last["author"].as_u64().expect("index") as usize];
    assert_eq!((by["name"].as_str(), by["guest"].as_bool()), (Some("Léa"), Some(true)), "by Léa, a guest: {changes}");
    assert_eq!(by["key"], history["people"][1]["key"], "the same key as in the moments");
    assert_eq!(last["time"].as_i64(), moments[1]["end"].as_i64());

    let history_path = |id: &str| format!("/api/documents/{id}/history");
    let changes_path = |id: &str| format!("/api/documents/{id}/changes?from=0");
    let at_path = |id: &str| format!("/api/documents/{id}/at?heads={}", heads.join(","));
    let zeros = "0".repeat(64);
    let cases: Vec<(&str, String, (&str, &str), u16)> = vec![
        ("nobody, history", history_path(&doc), ("X-None", "1"), 401),
        ("nobody, a version", at_path(&doc), ("X-None", "1"), 401),
        ("a guest of another document, history", history_path(&doc), ("Cookie", &elsewhere), 404),
        ("a guest of another document, a version", at_path(&doc), ("Cookie", &elsewhere), 404),
        ("nobody, changes", changes_path(&doc), ("X-None", "1"), 401),
        ("a guest of another document, changes", changes_path(&doc), ("Cookie", &elsewhere), 404),
        ("an editor, changes", changes_path(&doc), ("Authorization", &editor), 200),
        ("an editor, a deleted document's changes", changes_path(&deleted), ("Authorization", &editor), 404),
        ("changes from no number", format!("/api/documents/{doc}/changes?from=x"), ("Cookie", &reader), 400),
        ("an editor, history", history_path(&doc), ("Authorization", &editor), 200),
        ("an editor, a version", at_path(&doc), ("Authorization", &editor), 200),
        ("an editor, a deleted document's history", history_path(&deleted), ("Authorization", &editor), 404),
        ("an editor, a deleted document's version", at_path(&deleted), ("Authorization", &editor), 404),
        ("an editor, not a document id", history_path("pas-un-id"), ("Authorization", &editor), 400),
        ("a version the document does not have", format!("/api/documents/{doc}/at?heads={zeros}"), ("Cookie", &reader), 404),
        ("heads that are not hashes", format!("/api/documents/{doc}/at?heads=abc"), ("Cookie", &reader), 400),
        ("no heads", format!("/api/documents/{doc}/at"), ("Cookie", &reader), 400),
        ("too many heads", format!("/api/documents/{doc}/at?heads={}", vec![zeros.as_str(); 65].join(",")), ("Cookie", &reader), 400),
    ];
    let wrong = wrong_answers(&server, cases).await;
    assert!(wrong.is_empty(), "{wrong:#?}");

    // However long the meeting, the slider holds a bounded number of moments,
    // the last one now, every change counted once.
    let history: serde_json::Value =
        serde_json::from_str(&get(&server, &format!("/api/documents/{long}/history"), &[("Authorization", &editor)]).await.text())
            .expect("json");
    let moments = history["moments"].as_array().expect("moments");
    assert_eq!(moments.len(), 200, "capped");
    assert_eq!(moments.last().map(|m| &m["heads"]), Some(&history["heads"]));
    let total: u64 = moments.iter().map(|m| m["changes"].as_u64().expect("changes")).sum();
    assert!(total >= 250 && history["total"].as_u64() == Some(total), "{total} changes in {}", history["total"]);
    // Its changes come a page at a time, the last page shorter.
    let page = |from: u64| {
        let path = format!("/api/documents/{long}/changes?from={from}");
        let editor = editor.clone();
        let server = &server;
        async move { serde_json::from_str::<serde_json::Value>(&get(server, &path, &[("Authorization", &editor)]).await.text()).expect("json") }
    };
    assert_eq!(page(0).await["changes"].as_array().map(Vec::len), Some(100));
    let tail = page(total - 3).await;
    assert_eq!((tail["from"].as_u64(), tail["changes"].as_array().map(Vec::len)), (Some(total - 3), Some(3)));
    assert_eq!(tail["changes"][2]["heads"], history["heads"]);
    server.stop().await;
}

/// `GET /api/documents/ID/notes`, the text the editor shows before Automerge
/// arrives: the notes and their version to those who may read the document
/// (a guest invited to read it too), nothing else of it; refused as the
/// other reads are.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_notes_text_is_given_to_those_who_may_read_the_document_and_nothing_else_of_it() {
    let tmp = tempfile::tempdir().expect("tmp");
    let data = tmp.path().join("data");
    let (doc, other, deleted, editor, links, heads) = {
        let store = crate::open_store(&data);
        let mut view = cahier_doc::DocView::new_minutes("Réunion");
        view.body = "Camille : bonjour.\nLéa : salut.".to_owned();
        if let Some(m) = view.minutes.as_mut() {
            m.place = "Salle des maîtres".to_owned();
        }
        let (loaded, _) = store.upsert(&view, &cahier_doc::Editor::new("camille"), 1).expect("minutes");
        let heads: Vec<String> = loaded.doc.get_heads().iter().map(ToString::to_string).collect();
        let doc = loaded.id;
        let (other, deleted, editor, read_link, other_link) = who_may_not_read(&store, &doc);
        (doc.to_string(), other.to_string(), deleted.to_string(), editor, [read_link, other_link].map(|s| format!("/join/{s}")), heads)
    };
    let server = TestServer::start(&data, ServerConfig::default()).await;
    let reader = join_invite(&server, &links[0], "Yasmine").await.expect("read link");
    let elsewhere = join_invite(&server, &links[1], "Zed").await.expect("other link");
    let editor = format!("Bearer {editor}");
    let path = |id: &str| format!("/api/documents/{id}/notes");
    let cases: [(&str, &str, (&str, &str), u16); 7] = [
        ("nobody", &doc, ("X-None", "1"), 401),
        ("a guest invited to read it", &doc, ("Cookie", &reader), 200),
        ("a guest of another document", &doc, ("Cookie", &elsewhere), 404),
        ("a guest, their own document", &other, ("Cookie", &elsewhere), 200),
        ("an editor", &doc, ("Authorization", &editor), 200),
        ("an editor, a deleted document", &deleted, ("Authorization", &editor), 404),
        ("an editor, not a document id", "pas-un-id", ("Authorization", &editor), 400),
    ];
    let wrong = wrong_answers(&server, cases.map(|(who, id, header, expected)| (who, path(id), header, expected))).await;
    assert!(wrong.is_empty(), "{wrong:#?}");

    let r = get(&server, &path(&doc), &[("Cookie", &reader)]).await;
    assert_eq!(r.header("cache-control"), Some("no-store"), "not kept by caches");
    let body: serde_json::Value = serde_json::from_str(&r.text()).expect("json");
    assert_eq!(
        body,
        serde_json::json!({ "text": "Camille : bonjour.\nLéa : salut.", "heads": heads }),
        "the notes and their version, nothing else"
    );
    server.stop().await;
}

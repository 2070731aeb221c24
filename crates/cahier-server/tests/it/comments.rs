//! Comments on the notes over real HTTP: never shown to readers (the page,
//! its `.md`, the feed, search, the public history, the exports), and named
//! to those who may read the document by the server's binding of actors, not
//! by anything a comment says.

use std::io::Read;

use cahier_app::{auth_store, publication};
use cahier_auth::Role;
use cahier_doc::{DocId, DocView, Editor};
use cahier_server::ServerConfig;
use cahier_store::Store;

use crate::wiki::get;
use crate::{TestServer, token_in};

/// Adds a comment on `passage` (in the notes) as `who` (a fresh actor: the
/// author is set anew), and stores it; returns the comment's id and the actor (hex).
fn comment(store: &Store, id: &DocId, who: &str, passage: &str, text: &str, seed: u8, at_ms: i64) -> (String, String) {
    let mut loaded = store.load(id).expect("load").expect("stored");
    let body = cahier_doc::read(&loaded.doc, None).0.body;
    let from = body[..body.find(passage).expect("the passage is in the notes")].encode_utf16().count();
    let range = from..from + passage.encode_utf16().count();
    let cid = cahier_doc::comments::add(&mut loaded.doc, &Editor::new(who), at_ms, [seed; 8], range, text).expect("comment");
    let actor = loaded.doc.get_actor().to_hex_string();
    store.save(&mut loaded).expect("store the comment");
    (cid, actor)
}

/// Every member of a `.tar.gz` or `.zip` export, unpacked.
fn unpack(bytes: &[u8], zip: bool) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    if zip {
        let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes)).expect("a zip");
        for i in 0..archive.len() {
            let mut f = archive.by_index(i).expect("member");
            let mut b = Vec::new();
            f.read_to_end(&mut b).expect("read");
            out.push((f.name().to_owned(), b));
        }
    } else {
        let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(bytes));
        for entry in archive.entries().expect("a tar.gz") {
            let mut e = entry.expect("member");
            let mut b = Vec::new();
            e.read_to_end(&mut b).expect("read");
            out.push((e.path().expect("path").to_string_lossy().into_owned(), b));
        }
    }
    out
}

/// Appends a reply to the comment `cid` as `who` (a fresh actor), and
/// stores it; returns the actor (hex).
fn reply(store: &Store, id: &DocId, who: &str, cid: &str, text: &str, seed: u8, at_ms: i64) -> String {
    let mut loaded = store.load(id).expect("load").expect("stored");
    cahier_doc::comments::reply(&mut loaded.doc, &Editor::new(who), at_ms, cid, [seed; 8], text).expect("reply");
    let actor = loaded.doc.get_actor().to_hex_string();
    store.save(&mut loaded).expect("store the reply");
    actor
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle.as_bytes())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn comments_and_their_replies_on_a_published_page_reach_no_reader_and_no_export() {
    // Words found nowhere else, so that any leak shows.
    const SECRET: &str = "Zanzibarcommentaire";
    const SECOND: &str = "Quokkaresolu";
    const REPLY: &str = "Ornithorynquereponse";
    let dir = tempfile::tempdir().expect("tempdir");
    let store = crate::open_store(dir.path());
    let mut view = DocView::new_page("Potager");
    view.body = "On sème les tomates en mars.\n\nOn arrose le soir.\n".to_owned();
    view.tags = vec!["jardin".into()];
    let id = store.upsert(&view, &Editor::new("léa"), 1_000).expect("page").0.id;
    let (cid, _) = comment(&store, &id, "camille", "les tomates", &format!("{SECRET} : lesquelles ?"), 1, 2_000);
    // A second session, then the page is published with both comments in its version.
    view.body.push_str("On récolte en août.\n");
    store.upsert(&view, &Editor::new("noé"), 400_000).expect("edit");
    comment(&store, &id, "noé", "en août", SECOND, 2, 401_000);
    reply(&store, &id, "léa", &cid, &format!("{REPLY} : Cornichonrond"), 3, 401_500);
    publication::publish(&store, &id, "camille", 402_000).expect("publish");
    let (comments, problems) = cahier_doc::comments::comments(&store.load(&id).expect("load").expect("page").doc, None);
    assert_eq!((comments.len(), problems), (2, vec![]), "the comments are in the published document");
    let first = comments.iter().find(|c| c.id == cid).expect("the first comment");
    assert!(first.text.contains(SECRET) && first.replies[0].text.contains(REPLY), "with its reply: {first:?}");
    let maintainer = token_in(&store, "camille", Role::Maintainer);
    let folder = cahier_app::transfer::export_all(&store, &mut |_| {}).expect("export");
    drop(store);
    let server = TestServer::start(dir.path(), ServerConfig::default()).await;

    // Everything a reader may fetch, the history's every session and version included.
    let page = get(&server, "/wiki/potager", &[]).await;
    assert_eq!(page.status, 200);
    assert!(page.text().contains("On récolte en août"), "the published version is shown");
    let mut paths: Vec<String> =
        ["/wiki/potager", "/wiki/potager.md", "/wiki/potager/history", "/wiki", "/recent", "/tags", "/tags/jardin", "/feed.atom"]
            .map(String::from)
            .into();
    // A search for the commented words finds the page, not the comment.
    paths.push("/search?q=tomates".into());
    let history = get(&server, "/wiki/potager/history", &[]).await;
    assert_eq!(history.status, 200, "public history is on");
    let text = history.text();
    let links: Vec<String> = text
        .split("href=\"")
        .skip(1)
        .filter_map(|s| s.split('"').next())
        .filter(|l| l.starts_with("/wiki/potager/history?"))
        .map(|l| l.replace("&amp;", "&"))
        .collect();
    assert!(links.len() >= 2, "the history links its sessions and versions: {links:?}");
    paths.extend(links);
    for path in &paths {
        let r = get(&server, path, &[]).await;
        assert!(r.status == 200, "{path}: {}", r.status);
        for word in [SECRET, SECOND, REPLY, "lesquelles", "Cornichonrond"] {
            assert!(!contains(&r.body, word), "{path} shows a comment ({word})");
        }
    }
    assert!(get(&server, "/search?q=tomates", &[]).await.text().contains("/wiki/potager"), "search finds the page");
    for word in [SECRET, SECOND, REPLY, "lesquelles", "Cornichonrond"] {
        // (The results page repeats the query, not the comment.)
        assert!(
            get(&server, &format!("/search?q={word}"), &[]).await.text().contains("Aucun résultat"),
            "search finds no comment ({word})"
        );
    }

    // The exports a maintainer downloads, and the folder `cahier export` writes.
    let auth = format!("Bearer {maintainer}");
    let mut members: Vec<(String, Vec<u8>)> = folder.into_iter().map(|f| (f.path, f.bytes)).collect();
    for (path, zip) in [("/export.tar.gz", false), ("/export.zip", true)] {
        let r = get(&server, path, &[("Authorization", &auth)]).await;
        assert_eq!(r.status, 200, "{path}");
        let unpacked = unpack(&r.body, zip);
        assert!(unpacked.iter().any(|(n, b)| n.ends_with("potager.md") && contains(b, "On récolte en août")), "{path} holds the page");
        members.extend(unpacked);
    }
    for (name, bytes) in &members {
        for word in [SECRET, SECOND, REPLY, "lesquelles", "Cornichonrond"] {
            assert!(!contains(bytes, word), "the export's {name} holds a comment ({word})");
        }
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_comments_author_is_whoever_wrote_its_text_as_the_server_bound_them() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (doc, editor) = {
        let store = crate::open_store(dir.path());
        let mut view = DocView::new_minutes("Réunion");
        view.body = "Nous avons décidé de repeindre la salle.\n".to_owned();
        let doc = store.upsert(&view, &Editor::new("test"), 1).expect("minutes").0.id;
        // Camille's actor is bound to her account; the change's author field says otherwise.
        let (first, camille_actor) = comment(&store, &doc, "Quelqu'un d'autre", "repeindre", "Oui", 3, 2_000);
        let binding = auth_store::ActorBinding { identity: "account:camille".into(), name: "Camille Martin".into(), at_ms: 1 };
        auth_store::bind_actors(&store, &[(camille_actor, binding)]).expect("bind");
        // An unbound actor's comment is named by its author field.
        let (second, _) = comment(&store, &doc, "léa", "la salle", "Non", 4, 3_000);
        assert!(first < second);
        // A reply is named the same way: by whoever's actor wrote it.
        let noe_actor = reply(&store, &doc, "Camille Martin", &first, "Peut-être", 5, 4_000);
        let binding = auth_store::ActorBinding { identity: "account:noe".into(), name: "Noé".into(), at_ms: 1 };
        auth_store::bind_actors(&store, &[(noe_actor, binding)]).expect("bind");
        let editor = token_in(&store, "eli", Role::Editor);
        (doc, editor)
    };
    let server = TestServer::start(dir.path(), ServerConfig::default()).await;
    let path = format!("/api/documents/{doc}/comments");
    assert_eq!(get(&server, &path, &[]).await.status, 401, "nobody");
    let r = get(&server, &path, &[("Authorization", &format!("Bearer {editor}"))]).await;
    assert_eq!(r.status, 200);
    let body: serde_json::Value = serde_json::from_str(&r.text()).expect("json");
    let names: Vec<&str> =
        body["comments"].as_array().expect("comments").iter().map(|c| c["author"]["name"].as_str().expect("a name")).collect();
    assert_eq!(names, ["Camille Martin", "léa"]);
    let replies = &body["comments"][0]["replies"];
    assert_eq!(replies[0]["author"]["name"].as_str(), Some("Noé"), "the reply's writer, not the name it claims: {replies}");
    assert_eq!(replies[0]["id"].as_str(), Some("0505050505050505"));
    let text = r.text();
    assert!(!["Oui", "Non", "Peut-être"].iter().any(|w| text.contains(w)), "names only, not the comments: {text}");
    server.stop().await;
}

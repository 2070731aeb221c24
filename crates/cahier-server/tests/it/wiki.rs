//! The wiki over real HTTP: what readers see, credits, export, and who may do what.

use std::path::Path;

use automerge::transaction::Transactable;
use cahier_app::{publication, transfer};
use cahier_auth::Role;
use cahier_doc::{DocView, Editor};
use cahier_server::ServerConfig;
use cahier_store::Store;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::{TestServer, token_in};

/// A response as a client sees it.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Resp {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    pub fn cookies(&self) -> Vec<&str> {
        self.headers.iter().filter(|(k, _)| k.eq_ignore_ascii_case("set-cookie")).map(|(_, v)| v.as_str()).collect()
    }
}

/// One HTTP/1.1 request on a fresh connection (`Connection: close`), read to the end.
pub async fn request(server: &TestServer, method: &str, path: &str, headers: &[(&str, &str)], body: impl AsRef<[u8]>) -> Resp {
    let body = body.as_ref();
    let mut s = tokio::net::TcpStream::connect(server.addr).await.expect("connect");
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n", server.addr);
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    if !body.is_empty() || method == "POST" {
        req.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    req.push_str("\r\n");
    let mut req = req.into_bytes();
    req.extend_from_slice(body);
    s.write_all(&req).await.expect("send");
    let mut raw = Vec::new();
    tokio::time::timeout(std::time::Duration::from_secs(20), s.read_to_end(&mut raw)).await.expect("an answer within 20 s").expect("read");
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").expect("a header block");
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = head.split("\r\n");
    let status = lines.next().and_then(|l| l.split(' ').nth(1)).and_then(|s| s.parse().ok()).expect("status line");
    let headers: Vec<(String, String)> =
        lines.filter_map(|l| l.split_once(':')).map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned())).collect();
    let mut body = raw[split + 4..].to_vec();
    if headers.iter().any(|(k, v)| k.eq_ignore_ascii_case("transfer-encoding") && v.contains("chunked")) {
        body = dechunk(&body);
    }
    Resp { status, headers, body }
}

fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let Some(eol) = b.windows(2).position(|w| w == b"\r\n") else { return out };
        let size = usize::from_str_radix(String::from_utf8_lossy(&b[..eol]).trim(), 16).unwrap_or(0);
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&b[eol + 2..eol + 2 + size]);
        b = &b[eol + 2 + size + 2..];
    }
}

pub async fn get(server: &TestServer, path: &str, headers: &[(&str, &str)]) -> Resp {
    request(server, "GET", path, headers, "").await
}

fn page(title: &str, body: &str) -> DocView {
    let mut v = DocView::new_page(title);
    v.body = body.to_owned();
    v
}

/// Writes a page as `author`, returning its id.
fn write(store: &Store, view: &DocView, author: &str, at: i64) -> cahier_doc::DocId {
    store.upsert(view, &Editor::new(author), at).expect("store the page").0.id
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

#[tokio::test]
async fn readers_see_the_published_version_and_nothing_unpublished() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = crate::open_store(dir.path());
    let id = write(&store, &page("Potager", "Version publiée : on sème en mars."), "léa", 1_000);
    publication::publish(&store, &id, "camille", 2_000).expect("publish");
    // The live draft moves on after publication.
    write(&store, &page("Potager", "Brouillon : on sème en avril. SECRET"), "léa", 3_000);
    write(&store, &page("Projet secret", "Jamais publié. SECRET"), "léa", 3_000);
    let maintainer = token_in(&store, "camille", Role::Maintainer);
    drop(store);
    let server = TestServer::start(dir.path(), ServerConfig::default()).await;

    let r = get(&server, "/wiki/potager", &[]).await;
    assert_eq!(r.status, 200);
    assert!(r.text().contains("on sème en mars"), "the published version");
    assert!(!r.text().contains("SECRET"), "never the live draft");
    // Caches can keep it: an ETag, 304 when unchanged, compression on request.
    let etag = r.header("etag").expect("an ETag").to_owned();
    assert!(r.header("cache-control").is_some_and(|c| c.contains("max-age")));
    assert!(r.header("content-security-policy").is_some_and(|c| c.contains("default-src 'none'")));
    let again = get(&server, "/wiki/potager", &[("If-None-Match", &etag)]).await;
    assert_eq!((again.status, again.body.len()), (304, 0));
    let gz = get(&server, "/wiki/potager", &[("Accept-Encoding", "gzip")]).await;
    assert_eq!(gz.header("content-encoding"), Some("gzip"));
    let md = get(&server, "/wiki/potager.md", &[]).await;
    assert_eq!(md.status, 200);
    assert!(md.text().contains("status: published") && md.text().contains("on sème en mars") && !md.text().contains("SECRET"));
    // The Markdown file is the same bytes again (made once per publication),
    // and a reader who holds it gets a 304 with nothing in it.
    let md_again = get(&server, "/wiki/potager.md", &[]).await;
    assert_eq!(md_again.body, md.body);
    let md_etag = md.header("etag").expect("an etag").to_owned();
    let not_modified = get(&server, "/wiki/potager.md", &[("If-None-Match", &md_etag)]).await;
    assert_eq!((not_modified.status, not_modified.body.len()), (304, 0));
    let other_lang = get(&server, "/wiki/potager.md?lang=en", &[("If-None-Match", &md_etag)]).await;
    assert_eq!(other_lang.status, 200, "another language's tag does not match");
    assert!(other_lang.text().contains("on sème en mars"), "a full file, not an empty one");

    // The index with a trailing slash, as people type it, leads to the index.
    let slash = get(&server, "/wiki/", &[]).await;
    assert_eq!((slash.status, slash.header("location")), (308, Some("/wiki")));

    // A draft answers exactly like a page that never existed.
    let draft = get(&server, "/wiki/projet-secret", &[]).await;
    let missing = get(&server, "/wiki/nulle-part", &[]).await;
    assert_eq!((draft.status, missing.status), (404, 404));
    assert_eq!(draft.body, missing.body, "same bytes for a draft and for nothing");
    assert!(get(&server, "/search?q=jamais", &[]).await.text().contains("Aucun résultat"));
    for path in ["/wiki/projet-secret.md", "/wiki/projet-secret/history", "/search?q=jamais", "/wiki", "/feed.atom", "/recent"] {
        let r = get(&server, path, &[]).await;
        assert!(!r.text().contains("SECRET") && !r.text().contains("Projet secret"), "{path} leaks the draft");
    }

    // Unpublishing (a maintainer with a token) hides the page again.
    let auth = bearer(&maintainer);
    let r = request(
        &server,
        "POST",
        "/wiki/potager/unpublish",
        &[("Authorization", &auth), ("Content-Type", "application/x-www-form-urlencoded")],
        "",
    )
    .await;
    assert_eq!(r.status, 303, "{}", r.text());
    let gone = get(&server, "/wiki/potager", &[]).await;
    assert_eq!((gone.status, gone.body), (404, missing.body.clone()));
    assert!(get(&server, "/search?q=mars", &[]).await.text().contains("Aucun résultat"), "out of search too");
    server.stop().await;
}

#[tokio::test]
async fn credits_name_only_those_whose_text_survives() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = crate::open_store(dir.path());
    write(&store, &page("Jardin", "Paragraphe d’Alice.\n"), "Alice", 1_000);
    write(&store, &page("Jardin", "Paragraphe d’Alice.\nParagraphe de Bruno.\n"), "Bruno", 2_000);
    // Bruno deletes everything Alice wrote (one splice, as an editor would).
    let id = store.find_slug("jardin").expect("slug").expect("stored");
    let mut loaded = store.load(&id).expect("load").expect("stored");
    loaded.doc.set_author(Some(Editor::new("Bruno").author()));
    let body = cahier_doc::write::body_obj(&loaded.doc, None).expect("a body");
    let alice = "Paragraphe d’Alice.\n".encode_utf16().count();
    let mut tx = loaded.doc.transaction();
    tx.splice_text(&body, 0, alice as isize, "").expect("delete");
    tx.commit();
    store.save(&mut loaded).expect("save");
    assert_eq!(cahier_doc::read(&loaded.doc, None).0.body, "Paragraphe de Bruno.\n");
    publication::publish(&store, &id, "camille", 4_000).expect("publish");

    // Minutes taken by Léa and Noé, promoted to a page by Camille.
    let mut minutes = DocView::new_minutes("Réunion du 20 novembre");
    minutes.body = "Notes de Léa.\n".into();
    let mid = write(&store, &minutes, "Léa", 1_000);
    minutes.body = "Notes de Léa.\nNotes de Noé.\n".into();
    write(&store, &minutes, "Noé", 2_000);
    if let Some(m) = minutes.minutes.as_mut() {
        m.decisions.push("Ouvrir la cour le samedi".into());
    }
    write(&store, &minutes, "Noé", 2_500);
    let (doc, _) = store.load_record(&mid).expect("load").expect("stored");
    let promoted =
        cahier_doc::write::promote_minutes(&doc, "reunion-du-20-novembre-page", &Editor::new("Camille"), 5_000).expect("promote");
    let pid = store.create(promoted).expect("store the page").id;
    publication::publish(&store, &pid, "camille", 6_000).expect("publish");
    drop(store);
    let server = TestServer::start(dir.path(), ServerConfig::default()).await;

    let r = get(&server, "/wiki/jardin", &[]).await.text();
    let authors = between(&r, "<span class=\"authors\">", "</span>");
    assert_eq!(authors, "Bruno", "Alice's text is gone, so is her credit");
    assert!(r.contains("rel=\"license\" href=\"https://creativecommons.org/licenses/by/4.0/\""));
    assert!(r.contains("« Jardin » par Bruno, http://"), "a ready-to-copy attribution line");
    let md = get(&server, "/wiki/jardin.md", &[]).await.text();
    assert!(md.contains("contributors:\n  - \"Bruno\"\n"), "{md}");

    let r = get(&server, "/wiki/reunion-du-20-novembre-page", &[]).await.text();
    let authors = between(&r, "<span class=\"authors\">", "</span>");
    for who in ["Léa", "Noé", "Camille"] {
        assert!(authors.contains(who), "{who} is credited: {authors}");
    }
    assert!(r.contains("Ouvrir la cour le samedi") && r.contains("Notes de Noé"));
    server.stop().await;
}

fn between<'a>(s: &'a str, a: &str, b: &str) -> &'a str {
    let start = s.find(a).map(|i| i + a.len()).unwrap_or_else(|| panic!("{a} not in the page"));
    let end = s[start..].find(b).map(|i| start + i).unwrap_or(s.len());
    &s[start..end]
}

/// Reads an archive's Markdown files as the CLI import does.
fn import_archive(store: &Store, bytes: &[u8], name: &str, dir: &Path) {
    let path = dir.join(name);
    std::fs::write(&path, bytes).expect("write archive");
    for f in cahier_app::archive::read_markdown_files(&path).expect("read archive") {
        transfer::import_file(store, &f, 10_000, &cahier_app::Direct(store)).expect("import");
    }
}

#[tokio::test]
async fn a_wiki_exported_imported_and_exported_again_is_byte_identical() {
    let sample = concat!(env!("CARGO_MANIFEST_DIR"), "/../../sample");
    let dir = tempfile::tempdir().expect("tempdir");
    let store = crate::open_store(&dir.path().join("a"));
    for f in cahier_app::archive::read_markdown_files(Path::new(sample)).expect("sample") {
        transfer::import_file(&store, &f, 10_000, &cahier_app::Direct(&store)).expect("import sample");
    }
    let maintainer = token_in(&store, "camille", Role::Maintainer);
    let editor = token_in(&store, "eli", Role::Editor);
    drop(store);
    let server = TestServer::start(&dir.path().join("a"), ServerConfig::default()).await;
    let anon = get(&server, "/export.tar.gz", &[]).await;
    assert_eq!(anon.status, 404, "readers do not learn the export exists");
    let ed = get(&server, "/export.tar.gz", &[("Authorization", &bearer(&editor))]).await;
    assert_eq!(ed.status, 403);
    let auth = bearer(&maintainer);
    let first = get(&server, "/export.tar.gz", &[("Authorization", &auth)]).await;
    assert_eq!(first.status, 200);
    assert_eq!(first.header("content-type"), Some("application/gzip"));
    let zip = get(&server, "/export.zip", &[("Authorization", &auth)]).await;
    assert_eq!(zip.status, 200);
    server.stop().await;

    for (bytes, name) in [(&first.body, "wiki.tar.gz"), (&zip.body, "wiki.zip")] {
        let empty = crate::open_store(&dir.path().join(format!("b-{name}")));
        import_archive(&empty, bytes, name, dir.path());
        let files = transfer::export_all(&empty, &mut |_| {}).expect("export");
        let mut again = Vec::new();
        cahier_app::archive::write_tar_gz(&mut again, &files).expect("tar");
        assert!(again == first.body, "{name}: export → import → export changed the bytes");
    }
}

fn multipart(boundary: &str, csrf: &str, file_name: &str, content: &str) -> String {
    format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\n{csrf}\r\n--{boundary}\r\n\
Content-Disposition: form-data; name=\"file\"; filename=\"{file_name}\"\r\nContent-Type: text/markdown\r\n\r\n{content}\r\n--{boundary}--\r\n"
    )
}

#[tokio::test]
async fn maintainers_import_through_the_web_and_each_file_reports_on_its_own() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = crate::open_store(dir.path());
    let id = write(&store, &page("Potager", "Ancien texte.\n"), "léa", 1_000);
    publication::publish(&store, &id, "camille", 2_000).expect("publish");
    let maintainer = token_in(&store, "camille", Role::Maintainer);
    let editor = token_in(&store, "eli", Role::Editor);
    drop(store);
    let server = TestServer::start(dir.path(), ServerConfig::default()).await;
    let b = "cahier-test-boundary";
    let ct = format!("multipart/form-data; boundary={b}");
    let good = "---\ntitle: \"Potager\"\nkind: page\nslug: \"potager\"\nstatus: published\nlicense: \"CC-BY-4.0\"\ncontributors:\n  - \"Léa\"\n---\nNouveau texte importé.\n";
    let upload = |token: &str, content: &str, name: &str| {
        let auth = bearer(token);
        let body = multipart(b, "", name, content);
        let ct = ct.clone();
        let server = &server;
        // As a browser asks: compressed if possible (the streamed report must still arrive whole).
        async move {
            request(server, "POST", "/import", &[("Authorization", &auth), ("Content-Type", &ct), ("Accept-Encoding", "gzip, br")], &body)
                .await
        }
    };
    assert_eq!(upload(&editor, good, "potager.md").await.status, 403, "editors do not import");
    assert_eq!(get(&server, "/import", &[]).await.status, 404, "readers do not learn of it");
    let r = upload(&maintainer, good, "potager.md").await;
    assert_eq!(r.status, 200);
    assert!(r.text().contains("mis à jour") && r.text().contains("potager.md") && r.text().contains("</html>"), "{}", r.text());
    // The update went through the sync engine and was published as the file says.
    let mut text = String::new();
    for _ in 0..200 {
        text = get(&server, "/wiki/potager", &[]).await.text();
        if text.contains("Nouveau texte importé.") {
            break;
        }
        tokio::task::yield_now().await;
    }
    assert!(text.contains("Nouveau texte importé.") && !text.contains("Ancien texte"), "{text}");
    // A bad file names itself and its line, and changes nothing.
    let bad = "---\ntitle: \"Cassé\"\nkind: page\nslug: \"Pas Un Slug\"\n---\nTexte.\n";
    let r = upload(&maintainer, bad, "casse.md").await;
    assert_eq!(r.status, 200);
    assert!(r.text().contains("casse.md:") && r.text().contains("erreur"), "{}", r.text());
    assert_eq!(get(&server, "/wiki/pas-un-slug", &[("Authorization", &bearer(&maintainer))]).await.status, 404);
    // Not Markdown at all: a clear refusal.
    let r = upload(&maintainer, "hello", "notes.txt").await;
    assert_eq!(r.status, 422);
    assert!(r.text().contains("not a .md file"), "{}", r.text());
    server.stop().await;
}

#[tokio::test]
async fn payloads_in_titles_and_tags_come_out_as_text_everywhere() {
    let corpus = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/js/node_modules/big-list-of-naughty-strings/blns.json");
    let all: Vec<String> =
        serde_json::from_str(&std::fs::read_to_string(corpus).expect("the corpus (installed by scripts/test)")).expect("json");
    let payloads: Vec<&String> = all.iter().filter(|p| p.contains('<') && p.chars().count() <= 64).collect();
    assert!(payloads.len() > 20, "{} payloads with markup", payloads.len());
    let dir = tempfile::tempdir().expect("tempdir");
    let store = crate::open_store(dir.path());
    for (i, p) in payloads.iter().enumerate() {
        let mut v = DocView::new_page(p);
        v.slug = format!("p{i}");
        v.tags = vec![(*p).clone()];
        v.body = format!("Texte {i}.");
        let id = store.upsert(&v, &Editor::new(p), 1_000).expect("page").0.id;
        publication::publish(&store, &id, p, 2_000).expect("publish");
    }
    drop(store);
    let server = TestServer::start(dir.path(), ServerConfig::default()).await;
    let mut paths: Vec<String> = vec!["/wiki".into(), "/tags".into(), "/recent".into(), "/feed.atom".into(), "/search?q=texte".into()];
    paths.extend((0..payloads.len()).map(|i| format!("/wiki/p{i}")));
    for path in &paths {
        let r = get(&server, path, &[]).await;
        assert_eq!(r.status, 200, "{path}");
        let lower = r.text().to_lowercase();
        for tag in ["<script", "<img", "<svg", "<iframe", "<a href=\"javascript"] {
            assert!(!lower.contains(tag), "{path} carries a raw {tag}");
        }
    }
    server.stop().await;
}

#[tokio::test]
async fn the_history_names_sessions_and_versions_by_date_and_people() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = crate::open_store(dir.path());
    // 2026-11-20T18:30:00Z: Alice and Bruno write together, Alice comes back half an hour later.
    let t0 = 1_795_199_400_000;
    write(&store, &page("Cour", "Plan d’Alice.\n"), "Alice", t0);
    write(&store, &page("Cour", "Plan d’Alice.\nAjout de Bruno.\n"), "Bruno", t0 + 60_000);
    write(&store, &page("Cour", "Plan d’Alice.\nAjout de Bruno.\nFin.\n"), "Alice", t0 + 30 * 60_000);
    let boss = token_in(&store, "boss", Role::Maintainer);
    drop(store);
    let config = ServerConfig { time_zone: cahier_server::time_zone(Some("UTC")).expect("UTC"), ..ServerConfig::default() };
    let server = TestServer::start(dir.path(), config).await;
    let auth = bearer(&boss);

    let r = get(&server, "/wiki/cour/history", &[("Authorization", &auth)]).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let page = r.text();
    let text = between(&page, "<ol class=\"history\" reversed>", "</ol>");
    let items: Vec<&str> = text.split("<li>").skip(1).map(|li| li.split(": <a").next().unwrap_or(li)).collect();
    assert_eq!(
        items,
        [
            "<time datetime=\"2026-11-20T19:00:00Z\">20 novembre 2026 à 19\u{a0}h\u{a0}00 UTC</time> — <strong>Alice</strong>, 1 modification(s) · \
<span class=\"words\">+1 mot</span>",
            "<time datetime=\"2026-11-20T18:30:00Z\">20 novembre 2026 à 18\u{a0}h\u{a0}30 UTC</time> – \
<time datetime=\"2026-11-20T18:31:00Z\">20 novembre 2026 à 18\u{a0}h\u{a0}31 UTC</time> — <strong>Alice, Bruno</strong>, 2 modification(s) · \
<span class=\"words\">+7 mots</span>",
        ],
        "newest first"
    );
    // The first session's version is named by its date and people, not a hash.
    let link = between(text, "<a href=\"/wiki/cour/history?version=", "\"");
    let older = text.rfind("history?version=").map(|i| &text[i + "history?version=".len()..]).expect("a version link");
    let older = &older[..older.find('"').expect("end of link")];
    assert_ne!(link, older);
    let v = get(&server, &format!("/wiki/cour/history?version={older}"), &[("Authorization", &auth)]).await.text();
    assert!(
        v.contains("Version du <time datetime=\"2026-11-20T18:31:00Z\">20 novembre 2026 à 18\u{a0}h\u{a0}31 UTC</time>, par Alice, Bruno"),
        "{v}"
    );
    assert!(v.contains("Ajout de Bruno.") && !v.contains("Fin."), "{v}");
    server.stop().await;
}

fn edit(doc: &mut automerge::Automerge, who: &str, at: i64, f: impl FnOnce(&str) -> String) {
    let (mut view, _) = cahier_doc::read(doc, None);
    view.body = f(&view.body);
    cahier_doc::apply_view(doc, &view, &Editor::new(who), at, "edit").expect("edit");
}

/// The `<li>` of the history list naming `who` alone, and a link's parameter in it.
fn row<'a>(list: &'a str, who: &str) -> &'a str {
    list.split("<li>").find(|li| li.contains(&format!("<strong>{who}</strong>"))).unwrap_or_else(|| panic!("no session of {who} in {list}"))
}

fn param<'a>(li: &'a str, name: &str) -> &'a str {
    between(li, &format!("history?{name}="), "\"")
}

/// Alice takes the page offline and writes a paragraph while Bruno reworks a
/// sentence online, in the same minutes; their replicas reach the server,
/// the page is published with both, then Camille writes a draft.
#[tokio::test]
async fn each_session_shows_its_own_words_and_readers_see_the_history_up_to_the_published_version() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = crate::open_store(dir.path());
    let t0 = 1_795_199_400_000;
    let id = write(&store, &page("Cour", "Intro.\n\nParagraphe commun.\n"), "Camille", t0);
    let mut loaded = store.load(&id).expect("load").expect("stored");
    let mut alice = cahier_doc::load(&loaded.doc.save()).expect("replica");
    let mut bruno = cahier_doc::load(&loaded.doc.save()).expect("replica");
    let later = t0 + 20 * 60_000;
    edit(&mut alice, "Alice", later, |b| format!("{b}\nLes élèves "));
    edit(&mut bruno, "Bruno", later + 30_000, |b| b.replace("commun.", "commun, revu."));
    edit(&mut alice, "Alice", later + 60_000, |b| format!("{b}plantent des arbres.\n"));
    edit(&mut bruno, "Bruno", later + 90_000, |b| b.replace("revu", "revu par Bruno"));
    loaded.doc.merge(&mut bruno).expect("merge Bruno");
    loaded.doc.merge(&mut alice).expect("merge Alice");
    store.save(&mut loaded).expect("save");
    let published = loaded.doc.get_heads();
    publication::publish_at(&store, &id, Some(published.as_slice()), "boss", later + 120_000).expect("publish");
    write(&store, &page("Cour", "Intro.\n\nBROUILLON SECRET\n"), "Camille", t0 + 60 * 60_000);
    let draft_heads: Vec<String> =
        store.load_record(&id).expect("load").expect("stored").0.get_heads().iter().map(|h| h.to_string()).collect();
    let draft_heads = draft_heads.join(",");
    write(&store, &page("Projet secret", "SECRET"), "Camille", t0);
    let boss = token_in(&store, "boss", Role::Maintainer);
    drop(store);
    let config = ServerConfig { time_zone: cahier_server::time_zone(Some("UTC")).expect("UTC"), ..ServerConfig::default() };
    let server = TestServer::start(dir.path(), config).await;
    let auth = bearer(&boss);

    // A maintainer sees every session, the published version marked.
    let full = get(&server, "/wiki/cour/history", &[("Authorization", &auth)]).await.text();
    let list = between(&full, "<ol class=\"history\" reversed>", "</ol>");
    let people: Vec<&str> = list.split("<strong>").skip(1).map(|s| s.split("</strong>").next().unwrap_or(s)).collect();
    // Newest first; Alice's and Bruno's concurrent sessions apart, in either order.
    assert_eq!(people.len(), 4, "{list}");
    let mut middle = people[1..3].to_vec();
    middle.sort();
    assert_eq!((people[0], middle, people[3]), ("Camille", vec!["Alice", "Bruno"], "Camille"), "{list}");
    assert!(full.contains("Version publiée le <time datetime=\"2026-11-20T18:52:00Z\">"), "{full}");
    let newest = list.split("<li>").nth(1).expect("a session");
    assert!(newest.contains("pas encore publiée") && !newest.contains("version publiée"), "{newest}");
    for who in ["Alice", "Bruno"] {
        assert!(row(list, who).contains("<strong class=\"published\">version publiée</strong>"), "{list}");
    }
    // Each session's diff shows its own words, word by word, and nobody else's.
    let alice = row(list, "Alice");
    assert!(alice.contains("<span class=\"words\">+5 mots</span>"), "{alice}");
    let diff = get(&server, &format!("/wiki/cour/history?session={}", param(alice, "session")), &[]).await.text();
    let marked = between(&diff, "<div class=\"diff\">", "</div>");
    assert!(marked.contains("<p class=\"added\"><ins>Les élèves plantent des arbres.</ins></p>"), "{marked}");
    assert!(marked.contains("<p class=\"same\">Paragraphe commun.</p>"), "Bruno's words are not Alice's: {marked}");
    assert!(!marked.contains("<del>") && !marked.contains("revu"), "{marked}");
    let bruno = row(list, "Bruno");
    assert!(bruno.contains("<span class=\"words\">+3 mots</span>"), "{bruno}");
    let diff = get(&server, &format!("/wiki/cour/history?session={}", param(bruno, "session")), &[]).await.text();
    let marked = between(&diff, "<div class=\"diff\">", "</div>");
    assert!(marked.contains("<p class=\"changed\">Paragraphe commun<ins>, revu par Bruno</ins>.</p>"), "{marked}");
    assert!(!marked.contains("<del>") && !marked.contains("arbres"), "{marked}");
    // Identical lines stay unchanged, never removed and added again.
    assert!(marked.contains("<p class=\"same\">Intro.</p>"), "{marked}");

    // Anonymous readers: the published page's history up to its published version.
    let page_html = get(&server, "/wiki/cour", &[]).await.text();
    assert!(page_html.contains("href=\"/wiki/cour/history\""), "the page links its history");
    let public = get(&server, "/wiki/cour/history", &[]).await;
    assert_eq!(public.status, 200, "{}", public.text());
    let public = public.text();
    let list = between(&public, "<ol class=\"history\" reversed>", "</ol>");
    let people: Vec<&str> = list.split("<strong>").skip(1).map(|s| s.split("</strong>").next().unwrap_or(s)).collect();
    assert_eq!(people.len(), 3, "only the sessions up to the published version: {list}");
    let mut first = people[..2].to_vec();
    first.sort();
    assert_eq!((first, people[2]), (vec!["Alice", "Bruno"], "Camille"), "{list}");
    assert!(!public.contains("BROUILLON") && !public.contains("pas encore publiée") && !public.contains("/restore"), "{public}");
    let missing = get(&server, "/wiki/nulle-part", &[]).await;
    for path in [format!("/wiki/cour/history?session={draft_heads}"), format!("/wiki/cour/history?version={draft_heads}")] {
        let r = get(&server, &path, &[]).await;
        assert_eq!((r.status, &r.body), (404, &missing.body), "{path}");
        let r = get(&server, &path, &[("Authorization", &auth)]).await;
        assert!(r.status == 200 && r.text().contains("BROUILLON"), "{path} for a maintainer: {}", r.text());
    }
    let diff = get(&server, &format!("/wiki/cour/history?session={}", param(row(list, "Alice"), "session")), &[]).await.text();
    assert!(diff.contains("<ins>Les élèves plantent des arbres.</ins>"), "{diff}");
    // A draft's history is a 404, like a missing page.
    let draft = get(&server, "/wiki/projet-secret/history", &[]).await;
    assert_eq!((draft.status, &draft.body), (404, &missing.body));
    server.stop().await;

    // Public history is a setting.
    publication::set_public_history(&crate::open_store(dir.path()), false, "boss", later).expect("setting");
    let server = TestServer::start(dir.path(), ServerConfig::default()).await;
    assert_eq!(get(&server, "/wiki/cour/history", &[]).await.status, 404);
    assert_eq!(get(&server, "/wiki/cour/history", &[("Authorization", &auth)]).await.status, 200);
    server.stop().await;
}

/// A page's task list, read in French and in English: each reader's
/// checkboxes are named in their language, on the first request and on the
/// next ones (served from the readers' page cache), however the language
/// was asked for; a maintainer's page, the history's version and the
/// editor's preview speak the viewer's language too.
#[tokio::test]
async fn task_list_boxes_are_named_in_each_readers_language_also_from_the_cache() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = crate::open_store(dir.path());
    let id = write(&store, &page("Jardin", "- [ ] Arroser les tomates\n- [x] Semer les radis\n"), "léa", 1_000);
    publication::publish(&store, &id, "camille", 2_000).expect("publish");
    let maintainer = token_in(&store, "camille", Role::Maintainer);
    drop(store);
    let server = TestServer::start(dir.path(), ServerConfig::default()).await;

    const FR: [&str; 2] = [
        "<input type=\"checkbox\" disabled=\"\" aria-label=\"à faire\"> Arroser",
        "<input type=\"checkbox\" checked=\"\" disabled=\"\" aria-label=\"fait\"> Semer",
    ];
    const EN: [&str; 2] = [
        "<input type=\"checkbox\" disabled=\"\" aria-label=\"to do\"> Arroser",
        "<input type=\"checkbox\" checked=\"\" disabled=\"\" aria-label=\"done\"> Semer",
    ];
    let says = |what: &str, html: &str, labels: [&str; 2], other: [&str; 2]| {
        for l in labels {
            assert!(html.contains(l), "{what}: {l:?} in {html}");
        }
        for l in other {
            assert!(!html.contains(l), "{what}: not {l:?}");
        }
    };
    // Alternating, twice over, so that each language is asked for after the
    // other one filled the cache.
    for round in 0..2 {
        let cases = [
            ("French by default", "/wiki/jardin", ("X-None", ""), FR, EN),
            ("English by ?lang=en", "/wiki/jardin?lang=en", ("X-None", ""), EN, FR),
            ("French by Accept-Language", "/wiki/jardin", ("Accept-Language", "fr-FR,fr;q=0.9"), FR, EN),
            ("English by its cookie", "/wiki/jardin", ("Cookie", "cahier_lang=en"), EN, FR),
            ("English by Accept-Language", "/wiki/jardin", ("Accept-Language", "en-GB,en;q=0.9"), EN, FR),
        ];
        for (what, path, header, labels, other) in cases {
            let r = get(&server, path, &[header]).await;
            assert_eq!(r.status, 200, "{what}");
            says(&format!("{what}, round {round}"), &r.text(), labels, other);
        }
    }
    // A maintainer's own (uncached) page, the published version in the
    // history and the editor's preview.
    let auth = bearer(&maintainer);
    let r = get(&server, "/wiki/jardin", &[("Authorization", &auth), ("Cookie", "cahier_lang=en")]).await;
    says("a maintainer in English", &r.text(), EN, FR);
    let history = get(&server, "/wiki/jardin/history?lang=en", &[]).await.text();
    let version = between(&history, "<a href=\"/wiki/jardin/history?version=", "\"");
    let r = get(&server, &format!("/wiki/jardin/history?version={version}&lang=en"), &[]).await;
    assert_eq!(r.status, 200, "{history}");
    says("a version in English", &r.text(), EN, FR);
    let body = serde_json::json!({ "markdown": "- [ ] Arroser les tomates\n- [x] Semer les radis\n" }).to_string();
    for (lang, labels, other) in [("fr", FR, EN), ("en", EN, FR)] {
        let cookie = format!("cahier_lang={lang}");
        let headers = [("Authorization", auth.as_str()), ("Cookie", cookie.as_str()), ("Content-Type", "application/json")];
        let r = request(&server, "POST", "/api/render", &headers, &body).await;
        assert_eq!(r.status, 200, "{}", r.text());
        let html = serde_json::from_slice::<serde_json::Value>(&r.body).expect("json")["html"].as_str().expect("html").to_owned();
        says(&format!("the preview in {lang}"), &html, labels, other);
    }
    server.stop().await;
}

/// Recent changes say how long ago a publication was, in the reader's
/// language, with its date kept for machines and in the tooltip; an old one
/// keeps its date.
#[tokio::test]
async fn recent_changes_say_how_long_ago_in_the_readers_language_and_keep_the_date() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = crate::open_store(dir.path());
    let now = || std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64);
    // Five minutes and ten seconds ago: "5 min" unless the test runs long.
    let lately = now() - 5 * 60_000 - 10_000;
    let new = write(&store, &page("Potager", "On sème."), "léa", lately - 1_000);
    publication::publish(&store, &new, "camille", lately).expect("publish");
    let old = write(&store, &page("Préau", "Il pleut."), "léa", 1_000);
    publication::publish(&store, &old, "camille", 2_000).expect("publish");
    drop(store);
    let config = ServerConfig::default();
    let zone = config.time_zone.clone();
    let server = TestServer::start(dir.path(), config).await;

    for (lang, query, ago) in [(cahier_wiki::Lang::Fr, "", "il y a 5\u{a0}min"), (cahier_wiki::Lang::En, "?lang=en", "5 min ago")] {
        let before = now();
        let r = get(&server, &format!("/recent{query}"), &[]).await;
        let after = now();
        assert_eq!(r.status, 200);
        let text = r.text();
        let date = |ms| cahier_wiki::render::escape(&cahier_wiki::html::date(lang, &zone, ms));
        let expected = |ago: &str| {
            format!(
                "<time datetime=\"{}\" title=\"{}\">{ago}</time> — <a href=\"/wiki/potager\">Potager</a>",
                cahier_doc::time::format_ms(lately),
                date(lately)
            )
        };
        if after - lately < 6 * 60_000 {
            assert!(text.contains(&expected(ago)), "{lang:?}: {} in {text}", expected(ago));
        } else {
            // A slow machine: the sixth minute began before the answer.
            let counts: Vec<String> = [before, after].iter().filter_map(|&t| cahier_wiki::html::ago(lang, t, lately)).collect();
            assert!(counts.iter().any(|c| text.contains(&expected(c))), "{lang:?}: one of {counts:?} in {text}");
        }
        let dated =
            format!("<time datetime=\"{}\">{}</time> — <a href=\"/wiki/preau\">Préau</a>", cahier_doc::time::format_ms(2_000), date(2_000));
        assert!(text.contains(&dated), "{lang:?}: {dated} in {text}");
    }
    server.stop().await;
}

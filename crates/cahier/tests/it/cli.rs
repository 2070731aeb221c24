//! `cahier import`, `export` and `list` on the sample content and on bad input.

use std::path::Path;

use crate::{cahier, ok, s, sample_dir};

/// Every file under `dir`, as (relative path, bytes), sorted.
fn tree(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).expect("read dir") {
            let p = e.expect("entry").path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let rel = p.strip_prefix(dir).expect("prefix").to_string_lossy().into_owned();
                out.push((rel, std::fs::read(&p).expect("read")));
            }
        }
    }
    out.sort();
    out
}

#[test]
fn the_sample_wiki_exports_imports_and_exports_again_identically_in_every_format() {
    let tmp = tempfile::tempdir().expect("tmp");
    let t = tmp.path();
    let out = ok(&["import", s(&sample_dir()), "--data", s(&t.join("a"))]);
    assert!(out.contains("5 new, 0 updated, 0 failed"), "{out}");
    // The sample files are written in exactly the format Cahier exports.
    ok(&["export", "--data", s(&t.join("a")), "--out", s(&t.join("folder1"))]);
    let exported = tree(&t.join("folder1"));
    let sample = tree(&sample_dir());
    let without_credits: Vec<_> = exported.iter().filter(|(p, _)| p != "CREDITS.md").cloned().collect();
    assert_eq!(without_credits, sample);
    let credits = String::from_utf8(exported.iter().find(|(p, _)| p == "CREDITS.md").expect("credits").1.clone()).expect("utf-8");
    assert!(credits.contains("`pages/ecoles-ouvertes.md` « Écoles ouvertes » (CC-BY-4.0) : Équipe Cahier"), "{credits}");

    for ext in ["tar.gz", "zip"] {
        let first = t.join(format!("one.{ext}"));
        let second = t.join(format!("two.{ext}"));
        let data2 = t.join(format!("data-{ext}"));
        ok(&["export", "--data", s(&t.join("a")), "--out", s(&first)]);
        let out = ok(&["import", s(&first), "--data", s(&data2)]);
        assert!(out.contains("5 new, 0 updated, 0 failed"), "{out}");
        ok(&["export", "--data", s(&data2), "--out", s(&second)]);
        assert_eq!(std::fs::read(&first).expect("read"), std::fs::read(&second).expect("read"), "{ext} differs");
    }
}

#[test]
fn a_wiki_with_images_exports_imports_and_exports_again_identically_in_every_format() {
    let tmp = tempfile::tempdir().expect("tmp");
    let t = tmp.path();
    let a = t.join("a");
    ok(&["import", s(&sample_dir()), "--data", s(&a)]);
    // A photo and a PDF uploaded into a page, the photo shown on it.
    let photo = image::RgbImage::from_fn(1000, 500, |x, y| image::Rgb([(x / 4) as u8, (y / 2) as u8, 60]));
    let mut jpeg = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, 90).encode_image(&photo).expect("encode");
    let pdf = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n";
    let (photo_path, stored) = {
        let store = cahier_store::Store::open(s(&a)).expect("open");
        let id = store.find_slug("classe-dehors").expect("find").expect("the sample page");
        let limits = cahier_app::files::FileLimits::default();
        let meta = cahier_app::files::upload(&store, &id, &jpeg, "Léa", 1_764_000_000_000, &limits).expect("upload");
        cahier_app::files::upload(&store, &id, pdf, "Léa", 1_764_000_001_000, &limits).expect("upload the PDF");
        let stored = cahier_app::files::data(&store, &meta.hash, None).expect("read").expect("stored");
        (meta.path(), stored)
    };
    let page = t.join("classe-dehors.md");
    let original = std::fs::read_to_string(sample_dir().join("pages/classe-dehors.md")).expect("read");
    std::fs::write(&page, format!("{original}\n![La cour]({photo_path})\n")).expect("write");
    ok(&["import", s(&page), "--data", s(&a)]);

    ok(&["export", "--data", s(&a), "--out", s(&t.join("folder1"))]);
    let exported = tree(&t.join("folder1"));
    let file = |path: &str| exported.iter().find(|(p, _)| p == path).map(|(_, b)| b.clone()).unwrap_or_else(|| panic!("no {path}"));
    assert_eq!(file(&photo_path[1..]), stored, "the photo as stored");
    let index = String::from_utf8(file("files/index.json")).expect("utf-8");
    assert!(index.contains("\"classe-dehors\"") && index.contains("Léa") && index.contains("CC-BY-4.0"), "{index}");
    let credits = String::from_utf8(file("CREDITS.md")).expect("utf-8");
    assert!(credits.contains(&format!("`{}` (CC-BY-4.0) : Léa", &photo_path[1..])), "{credits}");

    let data = t.join("from-folder");
    let out = ok(&["import", s(&t.join("folder1")), "--data", s(&data)]);
    assert!(out.contains("5 new, 0 updated, 0 failed"), "{out}");
    ok(&["export", "--data", s(&data), "--out", s(&t.join("folder2"))]);
    assert!(tree(&t.join("folder2")) == exported, "folder: export → import → export changed the files");
    for ext in ["tar.gz", "zip"] {
        let first = t.join(format!("one.{ext}"));
        let second = t.join(format!("two.{ext}"));
        let data2 = t.join(format!("data-{ext}"));
        ok(&["export", "--data", s(&a), "--out", s(&first)]);
        let out = ok(&["import", s(&first), "--data", s(&data2)]);
        assert!(out.contains("0 failed"), "{out}");
        ok(&["export", "--data", s(&data2), "--out", s(&second)]);
        assert!(std::fs::read(&first).expect("read") == std::fs::read(&second).expect("read"), "{ext} differs");
    }
    // A file whose bytes are not its name is refused on import.
    let tampered = t.join("tampered");
    ok(&["export", "--data", s(&a), "--out", s(&tampered)]);
    let mut bytes = stored.clone();
    bytes[stored.len() / 2] ^= 1;
    std::fs::write(tampered.join(&photo_path[1..]), bytes).expect("write");
    let out = cahier(&["import", s(&tampered), "--data", s(&t.join("t"))]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not the SHA-256 of its bytes"), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn importing_again_updates_instead_of_duplicating() {
    let tmp = tempfile::tempdir().expect("tmp");
    let data = tmp.path().join("data");
    ok(&["import", s(&sample_dir()), "--data", s(&data)]);
    let page = tmp.path().join("p.md");
    let original = std::fs::read_to_string(sample_dir().join("pages/classe-dehors.md")).expect("read");
    std::fs::write(&page, original.replace("Une demi-journée", "Une journée")).expect("write");
    let out = ok(&["import", s(&page), "--data", s(&data)]);
    assert!(out.contains("0 new, 1 updated, 0 failed"), "{out}");
    let list = ok(&["list", "--data", s(&data)]);
    assert_eq!(list.lines().count(), 5, "{list}");
    ok(&["export", "--data", s(&data), "--out", s(&tmp.path().join("e"))]);
    let exported = std::fs::read_to_string(tmp.path().join("e/pages/classe-dehors.md")).expect("read");
    assert!(exported.contains("Une journée par semaine"));
}

#[test]
fn a_bad_file_is_reported_with_its_line_and_changes_nothing() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path().join("in");
    std::fs::create_dir_all(&dir).expect("mkdir");
    std::fs::write(dir.join("bon.md"), "---\ntitle: \"Bon\"\n---\n\nTexte.\n").expect("write");
    std::fs::write(dir.join("mauvais.md"), "---\ntitle: \"Mauvais\"\nstatus: archivé\n---\n\nTexte.\n").expect("write");
    std::fs::write(dir.join("sans-titre.md"), "---\ntags: [a]\n---\n").expect("write");
    let data = tmp.path().join("data");
    let out = cahier(&["import", s(&dir), "--data", s(&data)]);
    assert!(!out.status.success(), "import with errors must fail");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("mauvais.md:3: unknown status \"archivé\""), "{stderr}");
    assert!(stderr.contains("sans-titre.md:1: the front matter has no `title`"), "{stderr}");
    let list = ok(&["list", "--data", s(&data)]);
    assert_eq!(list.lines().map(|l| l.split('\t').nth(3).unwrap_or("")).collect::<Vec<_>>(), ["bon"]);
}

#[test]
fn cahier_refuses_a_data_folder_that_is_not_its_store() {
    let tmp = tempfile::tempdir().expect("tmp");
    std::fs::write(tmp.path().join("photo.jpg"), b"\xff\xd8").expect("write");
    let out = cahier(&["list", "--data", s(tmp.path())]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("cannot use the data folder"), "{stderr}");
    assert!(stderr.contains("not empty and holds no Cahier store"), "{stderr}");
}

#[test]
fn flags_can_come_from_the_environment() {
    let tmp = tempfile::tempdir().expect("tmp");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_cahier"))
        .args(["import", s(&sample_dir())])
        .env("CAHIER_DATA", tmp.path().join("d"))
        .output()
        .expect("run");
    assert!(out.status.success());
    assert!(tmp.path().join("d").join(cahier_store::REDB_FILE).exists(), "the store was created where CAHIER_DATA says");
}

#[test]
fn promoting_from_the_command_line_gives_the_page_the_minutes_address_and_is_audited() {
    // The same case as the server's `promoting_on_the_web_…` test: both
    // callers run `cahier_app::promote`, so both give these addresses.
    let tmp = tempfile::tempdir().expect("tmp");
    let data = tmp.path().join("data");
    {
        let store = cahier_store::Store::open_sled(&data).expect("store");
        let mut m = cahier_doc::DocView::new_minutes("Réunion");
        m.slug = "reunion".into();
        store.upsert(&m, &cahier_doc::Editor::new("léa"), 1).expect("minutes");
        let mut p = cahier_doc::DocView::new_page("Déjà là");
        p.slug = "reunion-cr".into();
        store.upsert(&p, &cahier_doc::Editor::new("léa"), 1).expect("page");
    }
    let first = ok(&["promote", "reunion", "--by", "camille", "--data", s(&data)]);
    assert!(first.contains("to the page reunion ("), "{first}");
    // The minutes moved aside, by the store's rule (`reunion-cr` is taken); promoted once only.
    let again = crate::cahier(&["promote", "reunion-cr-2", "--by", "camille", "--data", s(&data)]);
    assert_eq!(again.status.code(), Some(2), "{}", String::from_utf8_lossy(&again.stderr));
    assert!(String::from_utf8_lossy(&again.stderr).contains("already the page reunion ("));
    let store = cahier_store::Store::open_sled(&data).expect("store");
    let promoted: Vec<String> = cahier_app::auth_store::audit_log(&store)
        .expect("audit")
        .into_iter()
        .filter(|e| e.action == "promoted" && e.who == "camille")
        .map(|e| e.target)
        .collect();
    assert_eq!(promoted.len(), 1, "{promoted:?}");
    assert!(promoted[0].starts_with("reunion-cr-2 (") && promoted[0].contains("→ reunion ("), "{promoted:?}");
    let page = store.find_slug("reunion").expect("find").expect("the page");
    let (doc, _) = store.load_record(&page).expect("load").expect("stored");
    assert_eq!(cahier_doc::read(&doc, None).0.kind, cahier_doc::Kind::Page);
}

#[test]
fn a_refused_request_exits_with_2_and_says_why() {
    let tmp = tempfile::tempdir().expect("tmp");
    let data = tmp.path().join("data");
    ok(&["import", s(&sample_dir()), "--data", s(&data)]);
    let out = crate::cahier(&["publish", "nothing-here", "--data", s(&data)]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no document with the slug or id \"nothing-here\""));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn turning_public_history_off_hides_a_published_pages_history_from_readers() {
    let tmp = tempfile::tempdir().expect("tmp");
    let data = tmp.path().join("data");
    {
        let store = cahier_store::Store::open(s(&data)).expect("store");
        let mut page = cahier_doc::DocView::new_page("Cour");
        page.body = "Les élèves plantent des arbres.\n".into();
        let id = store.upsert(&page, &cahier_doc::Editor::new("léa"), 1).expect("page").0.id;
        cahier_app::publication::publish(&store, &id, "camille", 2).expect("publish");
    }
    let status = ok(&["public-history", "--data", s(&data)]);
    assert!(status.contains("public history is on"), "{status}");
    let seen = |data: std::path::PathBuf| async move {
        let mut server = crate::kill_loop::Server::spawn(&data);
        let addr = server.address().await.expect("serving");
        let page = http_get(addr, "/wiki/cour").await;
        let history = http_get(addr, "/wiki/cour/history").await;
        server.terminate().await.expect("the server stops cleanly");
        (page, history)
    };
    let (page, history) = seen(data.clone()).await;
    assert!(page.starts_with("HTTP/1.1 200") && page.contains("Les élèves plantent des arbres."), "{page}");
    assert!(page.contains("href=\"/wiki/cour/history\""), "the page links its history: {page}");
    assert!(history.starts_with("HTTP/1.1 200") && history.contains("léa"), "{history}");

    let off = ok(&["public-history", "off", "--by", "camille", "--data", s(&data)]);
    assert!(off.contains("public history is off"), "{off}");
    let (page, history) = seen(data.clone()).await;
    assert!(page.starts_with("HTTP/1.1 200") && page.contains("Les élèves plantent des arbres."), "{page}");
    assert!(!page.contains("/wiki/cour/history"), "no link to a history readers may not read: {page}");
    assert!(history.starts_with("HTTP/1.1 404"), "{history}");
    let store = cahier_store::Store::open(s(&data)).expect("store");
    let audit = cahier_app::auth_store::audit_log(&store).expect("audit");
    assert!(audit.iter().any(|e| e.action == "public history off" && e.who == "camille"), "{audit:?}");
}

/// One `GET` as a reader's browser sends it, answered whole (status line,
/// headers, body) once the server closes the connection.
async fn http_get(addr: std::net::SocketAddr, path: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let exchange = async {
        let mut conn = tokio::net::TcpStream::connect(addr).await.expect("connect");
        let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nAccept-Language: fr\r\nConnection: close\r\n\r\n");
        conn.write_all(request.as_bytes()).await.expect("send");
        let mut answer = Vec::new();
        conn.read_to_end(&mut answer).await.expect("read");
        String::from_utf8_lossy(&answer).into_owned()
    };
    tokio::time::timeout(std::time::Duration::from_secs(10), exchange).await.expect("answered within 10 s")
}

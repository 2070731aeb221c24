//! Images and attachments over real HTTP: the editor's upload, what readers
//! are served and when, what is refused, the limits.

use cahier_app::files::FileLimits;
use cahier_app::publication;
use cahier_auth::Role;
use cahier_doc::{DocView, Editor};
use cahier_server::ServerConfig;

use crate::wiki::{Resp, get, request};
use crate::{TestServer, token_in};

/// A JPEG photo `w`×`h` as a phone takes it, with EXIF saying to turn it a
/// quarter right and where it was taken (GPS latitude 48° 51′ 24.12″ N).
pub(crate) fn photo_with_gps(w: u32, h: u32) -> Vec<u8> {
    let img = image::RgbImage::from_fn(w, h, |x, y| image::Rgb([(x * 255 / w) as u8, (y * 255 / h) as u8, 90]));
    let mut jpeg = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, 90).encode_image(&img).expect("encode");
    let entry = |tag: u16, ty: u16, count: u32, value: [u8; 4]| {
        let mut e = tag.to_le_bytes().to_vec();
        e.extend(ty.to_le_bytes());
        e.extend(count.to_le_bytes());
        e.extend(value);
        e
    };
    let mut tiff: Vec<u8> = b"II\x2a\x00\x08\x00\x00\x00".to_vec();
    tiff.extend(2u16.to_le_bytes());
    tiff.extend(entry(0x0112, 3, 1, [6, 0, 0, 0]));
    tiff.extend(entry(0x8825, 4, 1, 38u32.to_le_bytes()));
    tiff.extend(0u32.to_le_bytes());
    tiff.extend(2u16.to_le_bytes());
    tiff.extend(entry(0x0001, 2, 2, *b"N\0\0\0"));
    tiff.extend(entry(0x0002, 5, 3, 68u32.to_le_bytes()));
    tiff.extend(0u32.to_le_bytes());
    tiff.extend(GPS_LATITUDE);
    let mut out = jpeg[..2].to_vec();
    out.extend([0xFF, 0xE1]);
    out.extend(u16::try_from(8 + tiff.len()).expect("short").to_be_bytes());
    out.extend(b"Exif\0\0");
    out.extend(tiff);
    out.extend(&jpeg[2..]);
    out
}

pub(crate) const GPS_LATITUDE: [u8; 24] = [48, 0, 0, 0, 1, 0, 0, 0, 51, 0, 0, 0, 1, 0, 0, 0, 0x6c, 0x09, 0, 0, 100, 0, 0, 0];

pub(crate) fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

fn json(r: &Resp) -> serde_json::Value {
    serde_json::from_slice(&r.body).unwrap_or_else(|e| panic!("JSON ({e}): {}", r.text()))
}

async fn upload(server: &TestServer, doc: &str, auth: Option<&str>, bytes: &[u8]) -> Resp {
    let bearer = auth.map(|t| format!("Bearer {t}"));
    let mut headers = vec![("Content-Type", "application/octet-stream")];
    if let Some(b) = &bearer {
        headers.push(("Authorization", b));
    }
    request(server, "POST", &format!("/api/documents/{doc}/files"), &headers, bytes).await
}

#[tokio::test]
async fn a_photo_comes_back_without_its_gps_position_and_readers_see_it_once_published() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = crate::open_store(dir.path());
    let id = store.upsert(&DocView::new_page("Classe dehors"), &Editor::new("léa"), 1_000).expect("page").0.id;
    let maintainer = token_in(&store, "camille", Role::Maintainer);
    let editor = token_in(&store, "eli", Role::Editor);
    drop(store);
    let server = TestServer::start(dir.path(), ServerConfig::default()).await;
    let photo = photo_with_gps(1200, 800);
    assert!(contains(&photo, b"Exif") && contains(&photo, &GPS_LATITUDE));

    // Readers may not upload; editors may.
    assert_eq!(upload(&server, id.as_str(), None, &photo).await.status, 401);
    let r = upload(&server, id.as_str(), Some(&editor), &photo).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let stored = json(&r);
    let path = stored["path"].as_str().expect("a path").to_owned();
    assert!(path.starts_with("/files/") && path.ends_with(".jpg"), "{path}");
    assert_eq!((stored["width"].as_u64(), stored["height"].as_u64()), (Some(800), Some(1200)), "turned upright");

    // Its bytes: a JPEG with no EXIF and no GPS, addressed by its SHA-256.
    let auth = format!("Bearer {editor}");
    let r = get(&server, &path, &[("Authorization", &auth)]).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("image/jpeg"));
    assert_eq!(r.header("x-content-type-options"), Some("nosniff"));
    assert!(r.header("cache-control").is_some_and(|c| c.contains("max-age=31536000") && c.contains("immutable")));
    assert!(!contains(&r.body, b"Exif") && !contains(&r.body, &GPS_LATITUDE), "the position is gone");
    assert!(cahier_app::media::metadata(&r.body).is_empty());
    assert_eq!(path, format!("/files/{}.jpg", cahier_app::files::hash(&r.body)));
    let img = image::load_from_memory(&r.body).expect("a picture");
    assert_eq!((img.width(), img.height()), (800, 1200));

    // A draft's file is nobody else's business.
    let variant = path.replace(".jpg", ".w480.jpg");
    assert_eq!(get(&server, &path, &[]).await.status, 404);
    assert_eq!(get(&server, &variant, &[]).await.status, 404);
    server.stop().await;

    // Published on a page, it is everyone's, with copies for phones.
    let store = crate::open_store(dir.path());
    let mut view = DocView::new_page("Classe dehors");
    view.body = format!("La cour, le matin :\n\n![La cour]({path})\n");
    store.upsert(&view, &Editor::new("léa"), 5_000).expect("write");
    publication::publish(&store, &id, "camille", 6_000).expect("publish");
    drop(store);
    let server = TestServer::start(dir.path(), ServerConfig::default()).await;
    let r = get(&server, &path, &[]).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("cache-control"), Some("public, max-age=31536000, immutable"));
    let small = get(&server, &variant, &[]).await;
    assert_eq!(small.status, 200);
    assert_eq!(image::load_from_memory(&small.body).expect("a picture").width(), 480);
    let html = get(&server, "/wiki/classe-dehors", &[]).await.text();
    let srcset = format!("srcset=\"{variant} 480w, {path} 800w\"");
    assert!(html.contains(&format!("<img src=\"{path}\"")) && html.contains(&srcset), "{html}");
    assert!(html.contains("width=\"800\" height=\"1200\""), "{html}");
    let csp = get(&server, "/wiki/classe-dehors", &[]).await.header("content-security-policy").unwrap_or_default().to_owned();
    assert!(csp.contains("img-src 'self'"), "same-origin pictures may show: {csp}");
    assert_eq!(get(&server, &path, &[("Authorization", &format!("Bearer {maintainer}"))]).await.status, 200);
    server.stop().await;
}

#[tokio::test]
async fn what_is_not_a_picture_or_a_pdf_is_refused_and_the_limits_hold() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = crate::open_store(dir.path());
    let id = store.upsert(&DocView::new_page("Plans"), &Editor::new("léa"), 1_000).expect("page").0.id;
    let maintainer = token_in(&store, "camille", Role::Maintainer);
    drop(store);
    let config =
        ServerConfig { files: FileLimits { max_file_bytes: 200_000, max_files: 2, ..FileLimits::default() }, ..ServerConfig::default() };
    let server = TestServer::start(dir.path(), config).await;
    let doc = id.as_str();
    let me = Some(maintainer.as_str());

    for (what, bytes) in [
        ("an SVG", &b"<?xml version=\"1.0\"?><svg xmlns=\"http://www.w3.org/2000/svg\" onload=\"alert(1)\"/>"[..]),
        ("an HTML page", &b"<!DOCTYPE html><html><script>alert(document.cookie)</script></html>"[..]),
        ("a script", &b"alert(1)"[..]),
    ] {
        let r = upload(&server, doc, me, bytes).await;
        assert_eq!(r.status, 422, "{what}: {}", r.text());
        assert_eq!(json(&r)["code"], "unsupported", "{what}");
        assert!(json(&r)["error"].as_str().is_some_and(|e| e.contains("SVG")), "{what}: the message says why");
    }

    // A PDF is kept, and downloaded rather than shown.
    let pdf = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n";
    let r = upload(&server, doc, me, pdf).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let path = json(&r)["path"].as_str().expect("path").to_owned();
    let auth = format!("Bearer {maintainer}");
    let r = get(&server, &path, &[("Authorization", &auth)]).await;
    assert_eq!((r.status, r.header("content-type")), (200, Some("application/pdf")));
    assert!(r.header("content-disposition").is_some_and(|d| d.starts_with("attachment")));
    assert_eq!(r.body, pdf);
    // Asked under another type's extension, it is not there.
    assert_eq!(get(&server, &path.replace(".pdf", ".jpg"), &[("Authorization", &auth)]).await.status, 404);

    // Past the size of one file: 413, said plainly.
    let mut big = photo_with_gps(64, 64);
    big.resize(200_001, 0);
    let r = upload(&server, doc, me, &big).await;
    assert_eq!(r.status, 413, "{}", r.text());
    assert_eq!(json(&r)["code"], "too_large");
    // Past the number of files (the PDF and a photo are two).
    assert_eq!(upload(&server, doc, me, &photo_with_gps(100, 60)).await.status, 200);
    let r = upload(&server, doc, me, &photo_with_gps(60, 100)).await;
    assert_eq!(r.status, 413, "{}", r.text());
    assert_eq!(json(&r)["code"], "full");
    server.stop().await;
}

/// The maintainers' list of files over HTTP: each file with its type, size,
/// date and the pages that use it; readers get the 404 of nothing, editors a
/// 403. Deleting asks first (saying which pages still use the file), needs
/// the session's CSRF token, is in the audit log, and the file is gone: its
/// address answers 404 and the page that showed it offers no smaller copies.
#[tokio::test]
async fn maintainers_list_the_files_and_delete_one_after_being_asked() {
    const FORM: (&str, &str) = ("Content-Type", "application/x-www-form-urlencoded");
    let dir = tempfile::tempdir().expect("tempdir");
    let store = crate::open_store(dir.path());
    let id = store.upsert(&DocView::new_page("Classe dehors"), &Editor::new("léa"), 1_000).expect("page").0.id;
    let limits = FileLimits::default();
    let photo = cahier_app::files::upload(&store, &id, &photo_with_gps(1200, 800), "léa", 2_000, &limits).expect("the photo");
    let plan = store.upsert(&DocView::new_page("Plans"), &Editor::new("léa"), 1_000).expect("draft").0.id;
    let pdf = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n";
    let unused = cahier_app::files::upload(&store, &plan, pdf, "noé", 3_000, &limits).expect("the PDF");
    let mut view = DocView::new_page("Classe dehors");
    view.body = format!("La cour :\n\n![La cour]({})\n", photo.path());
    store.upsert(&view, &Editor::new("léa"), 4_000).expect("write");
    publication::publish(&store, &id, "camille", 5_000).expect("publish");
    token_in(&store, "camille", Role::Maintainer);
    let editor = token_in(&store, "eli", Role::Editor);
    drop(store);
    let server = TestServer::start(dir.path(), ServerConfig::default()).await;
    let (photo_name, short) = (photo.name(), format!("{}….jpg", &photo.hash[..12]));
    let ask = format!("/files/{photo_name}/delete");

    // Not for readers (nothing there) nor editors (refused).
    assert_eq!(get(&server, "/files", &[]).await.status, 404);
    let bearer = format!("Bearer {editor}");
    assert_eq!(get(&server, "/files", &[("Authorization", &bearer)]).await.status, 403);
    assert_eq!(get(&server, &ask, &[("Authorization", &bearer)]).await.status, 403);
    assert_eq!(request(&server, "POST", &ask, &[("Authorization", &bearer), FORM], "csrf=&confirm=yes").await.status, 403);

    // The list: newest first, each file's type, size, date, uploader and pages.
    let (_, session) = crate::http_auth::login(&server, "camille", None).await;
    let cookie = session.expect("logged in");
    let list = get(&server, "/files", &[("Cookie", &cookie)]).await;
    assert_eq!(list.status, 200);
    let list = list.text();
    let (pdf_at, photo_at) = (list.find(&format!("{}….pdf", &unused.hash[..12])), list.find(&short));
    assert!(pdf_at.is_some() && photo_at.is_some() && pdf_at < photo_at, "both listed, newest first: {list}");
    for part in [
        "<td data-label=\"Type\">JPEG 800\u{a0}×\u{a0}1200</td>",
        "<td data-label=\"Type\">PDF</td>",
        "<a href=\"/wiki/classe-dehors\">Classe dehors</a>",
        "aucune page",
        " · léa</td>",
        "\u{a0}ko</td>",
    ] {
        assert!(list.contains(part), "{part} in {list}");
    }
    assert!(list.contains(&format!("<a class=\"danger\" href=\"{ask}\" aria-label=\"Supprimer {short}\">")), "{list}");

    // Asked first, saying that a page still shows it.
    let question = get(&server, &ask, &[("Cookie", &cookie)]).await.text();
    assert!(question.contains("Supprimer ce fichier ?") && question.contains("encore utilisé"), "{question}");
    assert!(question.contains("<a href=\"/wiki/classe-dehors\">Classe dehors</a>"), "{question}");
    let csrf = crate::http_auth::field(&question, "csrf");
    // Without the session's token, or unconfirmed, nothing is deleted.
    assert_eq!(request(&server, "POST", &ask, &[("Cookie", &cookie), FORM], "confirm=yes").await.status, 403);
    let wrong = format!("csrf={}&confirm=yes", "0".repeat(64));
    assert_eq!(request(&server, "POST", &ask, &[("Cookie", &cookie), FORM], &wrong).await.status, 403);
    let unconfirmed = request(&server, "POST", &ask, &[("Cookie", &cookie), FORM], &format!("csrf={csrf}")).await;
    assert!(unconfirmed.status == 200 && unconfirmed.text().contains("Supprimer ce fichier ?"), "{}", unconfirmed.text());
    let html = get(&server, "/wiki/classe-dehors", &[]).await.text();
    assert!(html.contains("srcset="), "{html}");
    assert_eq!(get(&server, &photo.path(), &[]).await.status, 200);

    // Confirmed: gone, said, audited.
    let r = request(&server, "POST", &ask, &[("Cookie", &cookie), FORM], &format!("csrf={csrf}&confirm=yes")).await;
    assert_eq!(r.status, 303, "{}", r.text());
    let back = r.header("location").expect("back to the list").to_owned();
    assert_eq!(back, format!("/files?deleted={photo_name}"));
    let list = get(&server, &back, &[("Cookie", &cookie)]).await.text();
    assert!(list.contains(&format!("<code>{photo_name}</code> est supprimé.")), "{list}");
    assert!(!list.contains(&short), "no longer listed: {list}");
    assert_eq!(get(&server, &photo.path(), &[("Cookie", &cookie)]).await.status, 404);
    assert_eq!(get(&server, &photo.path().replace(".jpg", ".w480.jpg"), &[]).await.status, 404);
    let html = get(&server, "/wiki/classe-dehors", &[]).await.text();
    assert!(html.contains(&format!("<img src=\"{}\"", photo.path())) && !html.contains("srcset="), "no copies offered: {html}");
    let audit = get(&server, "/audit", &[("Cookie", &cookie)]).await.text();
    assert!(audit.contains("<td>fichier supprimé</td>") && audit.contains(&photo.path()), "{audit}");
    assert_eq!(get(&server, &ask, &[("Cookie", &cookie)]).await.status, 404, "nothing left to delete");
    server.stop().await;
}

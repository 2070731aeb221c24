//! Accessibility checked by a real tool: axe-core in Debian's Chromium
//! (`tests/js/a11y.mjs`) on every reader page, the maintainers' pages (a
//! deleted page's notice, the audit log, the files), the first
//! maintainer's setup page and the editor's pages (the "Nouvelle page"
//! choice open too), at desktop and phone widths, in French and in English,
//! against a real server holding the sample wiki. Any serious or critical
//! violation fails the test, listed.

use std::path::{Path, PathBuf};

use cahier_auth::Role;
use cahier_server::ServerConfig;

use crate::TestServer;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn axe_finds_no_serious_or_critical_violation_on_any_page_at_desktop_and_phone_widths() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let web = root.join("web");
    assert!(
        web.join("dist/index.html").exists()
            && web.join("node_modules/playwright-core").exists()
            && root.join("tests/js/node_modules/axe-core/axe.min.js").exists(),
        "the web editor is not built or the test packages are missing: run the README's test command (scripts/test)"
    );
    assert!(Path::new("/usr/bin/chromium").exists(), "Debian's Chromium is missing: scripts/test installs it");
    let tmp = tempfile::tempdir().expect("tmp");
    let data = tmp.path().join("data");
    let (minutes, page, join) = {
        let store = crate::open_store(&data);
        let mut minutes = None;
        let mut page = None;
        let mut deleted = None;
        for f in cahier_app::archive::read_markdown_files(&root.join("sample")).expect("the sample wiki") {
            let imported = cahier_app::transfer::import_file(&store, &f, 10_000, &cahier_app::Direct(&store)).expect("import the sample");
            match imported.slug.as_str() {
                "webinaire-ecoles-ouvertes-2026-11-20" => minutes = Some(imported.id),
                "guide-du-webinaire" => page = Some(imported.id),
                "ecoles-ouvertes" => deleted = Some(imported.id),
                _ => {}
            }
        }
        crate::token_in(&store, "camille", Role::Maintainer);
        // The guide, published: a page long enough for a table of contents;
        // a template too, so that "Nouvelle page" offers a choice.
        let page = page.expect("the sample draft page");
        cahier_app::publication::publish(&store, &page, "camille", 20_000).expect("publish the guide");
        cahier_app::templates::set_template(&store, &page, true, "camille", 20_000).expect("a template");
        // A deleted page, for its notice; a photo, for the list of files.
        cahier_app::publication::delete(&store, &deleted.expect("the sample page"), "camille", 20_000).expect("delete");
        let photo = crate::files::photo_with_gps(300, 200);
        cahier_app::files::upload(&store, &page, &photo, "camille", 20_000, &Default::default()).expect("a photo");
        let minutes = minutes.expect("the sample minutes");
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64);
        let (_, secret) =
            cahier_app::auth_store::create_invite(&store, &minutes, true, "camille", None, [7; 8], [7; 32], now).expect("invite");
        (minutes, page, secret)
    };
    let pages = serde_json::json!({
        "reader": [
            "/wiki",
            // Published, with a task list and more than three headings.
            "/wiki/classe-dehors",
            "/wiki/bienvenue",
            // Three headings: a table of contents.
            "/wiki/guide-du-webinaire",
            "/recent",
            "/tags",
            "/search?q=classe",
            "/wiki/classe-dehors/history",
            "/login",
            format!("/join/{join}"),
        ],
        "maintainer": ["/wiki/ecoles-ouvertes/deleted", "/audit", "/files", "/wiki/guide-du-webinaire/history"],
        "editor": ["/edit", format!("/edit/{minutes}"), format!("/edit/{page}")],
        "name": "camille",
        "password": "un mot de passe long",
    });
    let mut pages = pages;
    let config = ServerConfig { web_dir: web.join("dist"), ..ServerConfig::default() };
    let server = TestServer::start(&data, config.clone()).await;
    // The setup page exists only while there is no maintainer: on a second server.
    let fresh = crate::open_store(&tmp.path().join("fresh"));
    let first = TestServer::start_on(fresh.clone(), config).await;
    // Once it answers, the server has made its own link: this one replaces it.
    assert_eq!(crate::wiki::get(&first, "/healthz", &[]).await.status, 200);
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64);
    let secret = tokio::task::spawn_blocking(move || cahier_app::auth_store::create_setup_secret(&fresh, [9; 32], now))
        .await
        .expect("task")
        .expect("a setup link");
    pages["setup"] = format!("http://{}/setup/{secret}", first.addr).into();
    let (addr, shots) = (format!("http://{}", server.addr), root.join("tests/screenshots/a11y"));
    let result =
        crate::browser::run_node(&root.join("tests/js/a11y.mjs"), &[addr.as_ref(), shots.as_ref(), pages.to_string().as_ref()], 480).await;
    server.stop().await;
    first.stop().await;
    let count = |key: &str| pages[key].as_array().map_or(0, Vec::len);
    // Each page, the setup page and the open "Nouvelle page" choice, in two languages at two widths.
    let expected = 2 * 2 * (count("reader") + count("maintainer") + count("editor") + 2);
    assert_eq!(result["checked"].as_u64(), Some(expected as u64), "every page checked at both widths in both languages");
    let violations = result["violations"].as_array().expect("violations");
    assert!(
        violations.is_empty(),
        "axe-core found serious or critical violations:\n{}",
        serde_json::to_string_pretty(violations).unwrap_or_default()
    );
}

/// Every page names the icon; the icon is served (an SVG, allowed by the
/// pages' policy, which lets images come from the site itself); browsers
/// asking for `/favicon.ico` get an empty answer instead of a 404.
#[tokio::test]
async fn every_page_links_the_favicon_and_it_is_served() {
    let tmp = tempfile::tempdir().expect("tmp");
    let server = TestServer::start(&tmp.path().join("data"), ServerConfig::default()).await;
    for path in ["/wiki", "/login", "/recent", "/wiki/nulle-part"] {
        let page = crate::wiki::get(&server, path, &[]).await;
        assert!(page.text().contains("<link rel=\"icon\" href=\"/favicon.svg\" type=\"image/svg+xml\">"), "{path} links the icon");
        let csp = page.header("content-security-policy").unwrap_or_default().to_owned();
        assert!(csp.split(';').any(|d| d.trim().starts_with("img-src") && d.contains("'self'")), "{path}: the CSP allows it: {csp}");
    }
    let icon = crate::wiki::get(&server, "/favicon.svg", &[]).await;
    assert_eq!(icon.status, 200);
    assert_eq!(icon.header("content-type"), Some("image/svg+xml"));
    assert!(icon.text().starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\"") && !icon.text().contains("<script"), "{}", icon.text());
    let ico = crate::wiki::get(&server, "/favicon.ico", &[]).await;
    assert_eq!(ico.status, 204, "no 404 for the icon browsers ask for by themselves");
    server.stop().await;
}

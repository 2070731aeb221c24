//! Access control over HTTP: the matrix of who may do what, sessions, CSRF,
//! login limits.

use cahier_app::publication;
use cahier_auth::Role;
use cahier_doc::{DocView, Editor};
use cahier_server::ServerConfig;

use crate::TestServer;
use crate::wiki::{Resp, get, request};

const PASSWORD: &str = "un mot de passe long";
const FORM: (&str, &str) = ("Content-Type", "application/x-www-form-urlencoded");

/// Logs in through the form, as a browser does. Returns the session cookie
/// (`name=value`) and the page's CSRF token.
pub(crate) async fn login(server: &TestServer, name: &str, planted: Option<&str>) -> (Resp, Option<String>) {
    let page = get(server, "/login", &[]).await;
    let csrf = field(&page.text(), "csrf");
    let login_cookie = page
        .cookies()
        .iter()
        .find_map(|c| c.split(';').next().filter(|c| c.starts_with("cahier_login=")))
        .expect("login cookie")
        .to_owned();
    let cookie = match planted {
        Some(p) => format!("{login_cookie}; cahier_session={p}"),
        None => login_cookie,
    };
    let body = format!("name={name}&password={}&csrf={csrf}&next=/wiki", PASSWORD.replace(' ', "+"));
    let r = request(server, "POST", "/login", &[FORM, ("Cookie", &cookie)], &body).await;
    let session = r.cookies().iter().find_map(|c| c.split(';').next().filter(|c| c.starts_with("cahier_session="))).map(str::to_owned);
    (r, session)
}

pub(crate) fn field(html: &str, name: &str) -> String {
    let key = format!("name=\"{name}\" value=\"");
    let start = html.find(&key).unwrap_or_else(|| panic!("no {name} field")) + key.len();
    html[start..start + html[start..].find('"').expect("end")].to_owned()
}

pub(crate) async fn csrf_of(server: &TestServer, cookie: &str, page: &str) -> String {
    field(&get(server, page, &[("Cookie", cookie)]).await.text(), "csrf")
}

fn setup() -> (tempfile::TempDir, String, String) {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = crate::open_store(dir.path());
    let mut v = DocView::new_page("Publiée");
    v.body = "Texte public.".into();
    let id = store.upsert(&v, &Editor::new("léa"), 1).expect("page").0.id;
    publication::publish(&store, &id, "camille", 2).expect("publish");
    let mut d = DocView::new_page("Brouillon");
    d.body = "Texte privé.".into();
    store.upsert(&d, &Editor::new("léa"), 1).expect("draft");
    let mut m = DocView::new_minutes("Réunion");
    m.slug = "reunion".into();
    store.upsert(&m, &Editor::new("léa"), 1).expect("minutes");
    store.upsert(&DocView::new_page("À supprimer"), &Editor::new("léa"), 1).expect("to delete");
    let editor = crate::token_in(&store, "eli", Role::Editor);
    let maintainer = crate::token_in(&store, "camille", Role::Maintainer);
    (dir, editor, maintainer)
}

#[tokio::test]
async fn the_http_matrix_matches_the_policy_table() {
    let (dir, editor, maintainer) = setup();
    let server = TestServer::start(dir.path(), ServerConfig::default()).await;
    let missing = get(&server, "/wiki/nulle-part", &[]).await;
    let (eb, mb) = (format!("Bearer {editor}"), format!("Bearer {maintainer}"));
    let who: [(&str, Vec<(&str, &str)>); 3] =
        [("anonymous", vec![]), ("editor", vec![("Authorization", &eb)]), ("maintainer", vec![("Authorization", &mb)])];
    // (method, path, [expected status for anonymous, editor, maintainer])
    let cells: &[(&str, &str, [u16; 3])] = &[
        ("GET", "/wiki/publiee", [200, 200, 200]),
        ("GET", "/wiki/publiee.md", [200, 200, 200]),
        ("GET", "/wiki/brouillon", [404, 404, 200]),
        ("GET", "/wiki/brouillon.md", [404, 404, 404]),
        ("GET", "/wiki/reunion", [404, 404, 200]),
        // Public history: readers see a published page's history (up to its published version).
        ("GET", "/wiki/publiee/history", [200, 200, 200]),
        ("GET", "/wiki/brouillon/history", [404, 200, 200]),
        ("GET", "/wiki/reunion/history", [404, 200, 200]),
        ("GET", "/export.tar.gz", [404, 403, 200]),
        ("GET", "/export.zip", [404, 403, 200]),
        ("POST", "/wiki/brouillon/publish", [404, 403, 303]),
        ("POST", "/wiki/publiee/unpublish", [404, 403, 303]),
        ("GET", "/api/documents", [401, 200, 200]),
        ("GET", "/audit", [404, 403, 200]),
        // Deleting asks first (naming the page), then deletes once confirmed.
        ("GET", "/wiki/a-supprimer/delete", [404, 403, 200]),
        ("POST", "/wiki/a-supprimer/delete", [404, 403, 303]),
        // Promoting minutes makes a new page (editors create documents), which
        // takes the minutes' address; the minutes move to `reunion-cr` and
        // are promoted once.
        ("POST", "/wiki/reunion/promote", [404, 303, 403]),
        ("GET", "/wiki/reunion-cr", [404, 404, 200]),
        ("POST", "/wiki/reunion-cr/promote", [404, 409, 409]),
        ("POST", "/wiki/publiee/promote", [404, 403, 403]),
        // Deleted: gone for everyone, maintainers included (the store keeps it).
        ("GET", "/wiki/a-supprimer", [404, 404, 404]),
        ("GET", "/wiki/a-supprimer/history", [404, 404, 404]),
        ("GET", "/edit", [303, 503, 503]),
    ];
    let mut wrong = Vec::new();
    for (method, path, expected) in cells {
        for (i, (name, headers)) in who.iter().enumerate() {
            let mut h: Vec<(&str, &str)> = headers.clone();
            if *method == "POST" {
                h.push(FORM);
            }
            // Forms that ask for a confirmation get it (the others ignore it).
            let body = if *method == "POST" { "confirm=yes" } else { "" };
            let r = request(&server, method, path, &h, body).await;
            if r.status != expected[i] {
                wrong.push(format!("{name} {method} {path}: {} (expected {})", r.status, expected[i]));
            }
            if i == 0 && r.status == 404 && r.body != missing.body {
                wrong.push(format!("anonymous {method} {path}: a 404 that differs from a missing page's"));
            }
        }
    }
    // Creating an invite link (JSON): editors and maintainers, with a token or a session's CSRF header.
    let reunion = get(&server, "/api/documents", &[("Authorization", &mb)]).await.text();
    let id_start = reunion.find("\"id\":\"").expect("a document") + 6;
    let doc = &reunion[id_start..id_start + reunion[id_start..].find('"').expect("end")];
    let body = format!("{{\"doc\":\"{doc}\",\"write\":false,\"expires_days\":7}}");
    for (i, (name, headers)) in who.iter().enumerate() {
        let mut h: Vec<(&str, &str)> = headers.clone();
        h.push(("Content-Type", "application/json"));
        let r = request(&server, "POST", "/api/invites", &h, &body).await;
        let expected = [403, 200, 200][i];
        if r.status != expected {
            wrong.push(format!("{name} POST /api/invites: {} (expected {expected})", r.status));
        }
        if r.status == 200 && !r.text().contains("/join/") {
            wrong.push(format!("{name}: no link in {}", r.text()));
        }
    }
    assert!(wrong.is_empty(), "cells that differ from the policy table:\n{}", wrong.join("\n"));
    server.stop().await;
}

#[tokio::test]
async fn sessions_rotate_at_login_and_forms_need_their_csrf_token() {
    let (dir, _, _) = setup();
    let server = TestServer::start(dir.path(), ServerConfig::default()).await;
    // A session id planted before login is not the one after.
    let planted = "a".repeat(64);
    let (r, session) = login(&server, "camille", Some(&planted)).await;
    assert_eq!(r.status, 303, "{}", r.text());
    let session = session.expect("a session cookie");
    assert!(!session.contains(&planted));
    let set = r.cookies().into_iter().find(|c| c.starts_with("cahier_session=")).expect("set-cookie").to_owned();
    assert!(set.contains("HttpOnly") && set.contains("SameSite=Lax"), "{set}");
    // Logged in: the draft's page offers to publish it, with the session's token.
    let csrf = csrf_of(&server, &session, "/wiki/brouillon").await;
    // Without the token, or with another, nothing happens.
    for body in ["".to_owned(), format!("csrf={}", "0".repeat(64))] {
        let r = request(&server, "POST", "/wiki/brouillon/publish", &[FORM, ("Cookie", &session)], &body).await;
        assert_eq!(r.status, 403, "publishing without the CSRF token: {}", r.text());
    }
    assert_eq!(get(&server, "/wiki/brouillon", &[]).await.status, 404, "still a draft");
    let r = request(&server, "POST", "/wiki/brouillon/publish", &[FORM, ("Cookie", &session)], &format!("csrf={csrf}")).await;
    assert_eq!(r.status, 303);
    assert_eq!(get(&server, "/wiki/brouillon", &[]).await.status, 200, "published with the token");
    // Logout needs the token too, and ends the session.
    let r = request(&server, "POST", "/logout", &[FORM, ("Cookie", &session)], "").await;
    assert_eq!(r.status, 403);
    let r = request(&server, "POST", "/logout", &[FORM, ("Cookie", &session)], &format!("csrf={csrf}")).await;
    assert_eq!(r.status, 303);
    let after = get(&server, "/wiki/reunion", &[("Cookie", &session)]).await;
    assert_eq!(after.status, 404, "the old session no longer opens anything");
    server.stop().await;
}

#[tokio::test]
async fn logins_are_rate_limited_per_account() {
    let (dir, _, _) = setup();
    let server = TestServer::start(dir.path(), ServerConfig::default()).await;
    let page = get(&server, "/login", &[]).await;
    let csrf = field(&page.text(), "csrf");
    let cookie =
        page.cookies().iter().find_map(|c| c.split(';').next().filter(|c| c.starts_with("cahier_login="))).expect("cookie").to_owned();
    let attempt = |password: &'static str| {
        let body = format!("name=camille&password={password}&csrf={csrf}");
        let cookie = cookie.clone();
        let server = &server;
        async move { request(server, "POST", "/login", &[FORM, ("Cookie", &cookie)], &body).await }
    };
    for _ in 0..5 {
        assert_eq!(attempt("mauvais-mot-de-passe").await.status, 401);
    }
    let blocked = attempt("un+mot+de+passe+long").await;
    assert_eq!(blocked.status, 429, "even the right password waits after 5 failures");
    assert!(blocked.header("retry-after").is_some());
    assert!(blocked.text().contains("Trop de tentatives"));
    // A login form not from our own page (no matching cookie) is refused.
    let forged = request(&server, "POST", "/login", &[FORM], &format!("name=eli&password=un+mot+de+passe+long&csrf={csrf}")).await;
    assert_eq!(forged.status, 403);
    server.stop().await;
}

#[tokio::test]
async fn client_addresses_come_from_x_forwarded_for_only_behind_a_trusted_proxy() {
    // Twenty failed logins (each for a different account) from one address
    // block that address, and only that one.
    async fn fail_from(server: &TestServer, xff: &str, account: &str) -> u16 {
        let page = get(server, "/login", &[]).await;
        let csrf = field(&page.text(), "csrf");
        let cookie =
            page.cookies().iter().find_map(|c| c.split(';').next().filter(|c| c.starts_with("cahier_login="))).expect("cookie").to_owned();
        let body = format!("name={account}&password=faux-mot-de-passe&csrf={csrf}");
        request(server, "POST", "/login", &[FORM, ("Cookie", &cookie), ("X-Forwarded-For", xff)], &body).await.status
    }
    for (trusted, blocked_elsewhere) in [(true, false), (false, true)] {
        let (dir, _, _) = setup();
        let config = ServerConfig {
            trusted_proxies: if trusted { vec!["127.0.0.1".parse().expect("ip")] } else { vec![] },
            ..ServerConfig::default()
        };
        let server = TestServer::start(dir.path(), config).await;
        for i in 0..20 {
            assert_eq!(fail_from(&server, "203.0.113.9", &format!("inconnu{i}")).await, 401);
        }
        assert_eq!(fail_from(&server, "203.0.113.9", "encore").await, 429, "the address is blocked");
        let other = fail_from(&server, "198.51.100.7", "autre").await;
        // Behind a trusted proxy the other client is someone else; without one,
        // the header is ignored and every request comes from the proxy itself.
        assert_eq!(other, if blocked_elsewhere { 429 } else { 401 }, "trusted proxy: {trusted}");
        server.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blocked_logins_cost_no_memory_and_never_reset_the_limits() {
    let (dir, _, _) = setup();
    let config = ServerConfig { metrics_token: Some(METRICS_TOKEN.into()), ..ServerConfig::default() };
    let server = TestServer::start(dir.path(), config).await;
    let metrics = [("Authorization", "Bearer s3cr3t-metrics")];
    let page = get(&server, "/login", &[]).await;
    let csrf = field(&page.text(), "csrf");
    let cookie =
        page.cookies().iter().find_map(|c| c.split(';').next().filter(|c| c.starts_with("cahier_login="))).expect("cookie").to_owned();
    let attempt = |name: String| {
        let body = format!("name={name}&password=mauvais-mot-de-passe&csrf={csrf}");
        let cookie = cookie.clone();
        let server = &server;
        async move { request(server, "POST", "/login", &[FORM, ("Cookie", &cookie)], &body).await.status }
    };
    // 20 failures from this address (4 accounts × 5) use up its allowance.
    for i in 0..20 {
        assert_eq!(attempt(format!("compte{}", i % 4)).await, 401);
    }
    let keys = |text: String| -> u64 {
        text.lines().find_map(|l| l.strip_prefix("cahier_login_limiter_keys ")).and_then(|v| v.parse().ok()).expect("the gauge")
    };
    let before = keys(get(&server, "/metrics", &metrics).await.text());
    // Then a flood of blocked attempts, each with a new, long name.
    for i in 0..300 {
        assert_eq!(attempt(format!("{i}{}", "x".repeat(20_000))).await, 429);
    }
    assert_eq!(keys(get(&server, "/metrics", &metrics).await.text()), before, "blocked attempts are not remembered");
    assert_eq!(attempt("compte0".into()).await, 429, "and the flood did not lift the limit");
    server.stop().await;
}

/// Behind HTTPS the session cookie is `__Host-` prefixed (Secure, `Path=/`,
/// no `Domain`), so a neighbouring sub-domain or a plain-HTTP man in the
/// middle cannot plant one; an unprefixed `cahier_session` is not read there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn behind_https_the_session_cookie_is_host_prefixed_and_a_planted_plain_one_is_ignored() {
    let (dir, _, _) = setup();
    let store = crate::open_store(dir.path());
    crate::token_in(&store, "sacha", Role::Editor);
    drop(store);
    let config = ServerConfig { public_origin: Some("https://cahier.example.org".into()), ..ServerConfig::default() };
    let server = TestServer::start(dir.path(), config).await;
    let page = get(&server, "/login", &[]).await;
    let csrf = field(&page.text(), "csrf");
    let form_cookie =
        page.cookies().into_iter().find(|c| c.starts_with("__Secure-cahier_login=")).expect("a __Secure- form cookie").to_owned();
    assert!(form_cookie.contains("; Secure"), "{form_cookie}");
    let form_cookie = form_cookie.split(';').next().expect("name=value").to_owned();
    let body = format!("name=sacha&password={}&csrf={csrf}&next=/edit", PASSWORD.replace(' ', "+"));
    let r = request(&server, "POST", "/login", &[FORM, ("Cookie", &form_cookie)], &body).await;
    assert_eq!(r.status, 303, "{}", r.text());
    let set = r.cookies().into_iter().find(|c| c.starts_with("__Host-cahier_session=")).expect("a __Host- session cookie").to_owned();
    assert!(set.contains("; Secure") && set.contains("Path=/;") && !set.to_ascii_lowercase().contains("domain="), "{set}");
    let secret = set.split(';').next().and_then(|c| c.split_once('=')).map(|(_, v)| v.to_owned()).expect("value");
    let who = |cookie: String| {
        let server = &server;
        async move { get(server, "/api/session", &[("Cookie", &cookie)]).await }
    };
    let me = who(format!("__Host-cahier_session={secret}")).await;
    assert!(me.status == 200 && me.text().contains("sacha"), "{} {}", me.status, me.text());
    let planted = who(format!("cahier_session={secret}")).await;
    assert!(!planted.text().contains("sacha"), "an unprefixed cookie must not log anyone in: {} {}", planted.status, planted.text());
    server.stop().await;
}

const METRICS_TOKEN: &str = "s3cr3t-metrics";

/// The counters say how busy the host is and how many logins are blocked:
/// nobody reads them without the metrics token, and without one configured
/// there is no `/metrics` at all.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_are_for_the_holder_of_the_metrics_token_only() {
    let (dir, _, _) = setup();
    let server = TestServer::start(dir.path(), ServerConfig::default()).await;
    let off = get(&server, "/metrics", &[("Authorization", "Bearer anything")]).await;
    assert_eq!(off.status, 404, "no token configured: no metrics");
    assert!(!off.text().contains("cahier_connections"));
    server.stop().await;

    let config = ServerConfig { metrics_token: Some(METRICS_TOKEN.into()), ..ServerConfig::default() };
    let server = TestServer::start(dir.path(), config).await;
    for headers in [&[][..], &[("Authorization", "Bearer s3cr3t-metricz")][..], &[("Authorization", "s3cr3t-metrics")][..]] {
        let r = get(&server, "/metrics", headers).await;
        assert_eq!(r.status, 401, "{headers:?}");
        assert!(!r.text().contains("cahier_connections"), "{headers:?}");
    }
    let ok = get(&server, "/metrics", &[("Authorization", "Bearer s3cr3t-metrics")]).await;
    assert_eq!(ok.status, 200);
    assert!(ok.text().contains("cahier_connections "), "{}", ok.text());
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_asks_first_names_the_page_and_the_audit_log_says_which() {
    let (dir, _, maintainer) = setup();
    let server = TestServer::start(dir.path(), ServerConfig::default()).await;
    let auth = format!("Bearer {maintainer}");
    // The button on the page is a link to a question, not a deletion.
    let question = get(&server, "/wiki/a-supprimer/delete", &[("Authorization", &auth)]).await;
    assert_eq!(question.status, 200);
    assert!(question.text().contains("Supprimer cette page ?") && question.text().contains("Oui, supprimer"), "{}", question.text());
    // A form sent without the confirmation asks again and deletes nothing.
    let unconfirmed = request(&server, "POST", "/wiki/a-supprimer/delete", &[("Authorization", &auth), FORM], "csrf=").await;
    assert_eq!(unconfirmed.status, 200);
    assert_eq!(get(&server, "/wiki/a-supprimer/delete", &[("Authorization", &auth)]).await.status, 200, "still there");
    let done = request(&server, "POST", "/wiki/a-supprimer/delete", &[("Authorization", &auth), FORM], "csrf=&confirm=yes").await;
    assert_eq!(done.status, 303);
    let audit = get(&server, "/audit", &[("Authorization", &auth)]).await.text();
    assert!(
        audit.contains("a-supprimer « À supprimer »") && audit.contains("<td>suppression</td>"),
        "the audit log names the page, in French: {audit}"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_language_chosen_once_stays_on_every_page_the_invite_page_included() {
    let (dir, _, _) = setup();
    let link = {
        let store = crate::open_store(dir.path());
        let id = store.find_slug("reunion").expect("find").expect("the minutes");
        let (_, secret) = cahier_app::auth_store::create_invite(&store, &id, true, "camille", None, [6; 8], [6; 32], 1).expect("invite");
        format!("/join/{secret}")
    };
    let server = TestServer::start(dir.path(), ServerConfig::default()).await;
    let chosen = get(&server, "/wiki?lang=en", &[]).await;
    let cookie =
        chosen.cookies().iter().find_map(|c| c.split(';').next().filter(|c| c.starts_with("cahier_lang="))).expect("a cookie").to_owned();
    assert_eq!(cookie, "cahier_lang=en");
    let next = get(&server, "/recent", &[("Cookie", &cookie)]).await.text();
    assert!(next.contains("<html lang=\"en\">"), "the next page is in English too");
    // On an invite link, "English" keeps the link (it used to lead to a 404).
    let invite = get(&server, &link, &[]).await.text();
    assert!(invite.contains(&format!("href=\"{link}?lang=en\"")), "the switch keeps the token: {invite}");
    let english = get(&server, &format!("{link}?lang=en"), &[]).await;
    assert_eq!(english.status, 200);
    assert!(english.text().contains("<html lang=\"en\">"), "{}", english.text());
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_page_comes_back_published_when_the_deletion_is_undone() {
    let (dir, editor, maintainer) = setup();
    let server = TestServer::start(dir.path(), ServerConfig::default()).await;
    let (auth, eb) = (format!("Bearer {maintainer}"), format!("Bearer {editor}"));
    let done = request(&server, "POST", "/wiki/publiee/delete", &[("Authorization", &auth), FORM], "csrf=&confirm=yes").await;
    assert_eq!((done.status, done.header("location")), (303, Some("/wiki/publiee/deleted")));
    assert_eq!(get(&server, "/wiki/publiee", &[]).await.status, 404, "readers no longer see it");
    // The maintainer is told, and offered the way back.
    let told = get(&server, "/wiki/publiee/deleted", &[("Authorization", &auth)]).await;
    assert_eq!(told.status, 200);
    assert!(
        told.text().contains("<strong>« Publiée »</strong> est supprimée") && told.text().contains("Annuler la suppression"),
        "{}",
        told.text()
    );
    assert_eq!(get(&server, "/wiki/brouillon/deleted", &[("Authorization", &auth)]).await.status, 404, "not deleted");
    // Only maintainers undo it.
    for (who, status) in [(None, 404), (Some(eb.as_str()), 403)] {
        let h: Vec<(&str, &str)> = who.map(|a| ("Authorization", a)).into_iter().chain([FORM]).collect();
        assert_eq!(request(&server, "POST", "/wiki/publiee/undelete", &h, "csrf=").await.status, status);
    }
    assert_eq!(get(&server, "/wiki/publiee", &[]).await.status, 404);
    let undone = request(&server, "POST", "/wiki/publiee/undelete", &[("Authorization", &auth), FORM], "csrf=").await;
    assert_eq!((undone.status, undone.header("location")), (303, Some("/wiki/publiee")));
    // Published again, as readers saw it.
    let page = get(&server, "/wiki/publiee", &[]).await;
    assert!(page.status == 200 && page.text().contains("Texte public."), "{}", page.text());
    let audit = get(&server, "/audit", &[("Authorization", &auth)]).await.text();
    assert!(audit.contains("<td>rétablissement</td>"), "{audit}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_maintainers_template_makes_new_pages_that_credit_its_authors() {
    let (dir, editor, maintainer) = setup();
    let template = {
        let store = crate::open_store(dir.path());
        let mut v = DocView::new_page("Fiche d’atelier");
        v.body = "## Objectif\n\n## Matériel\n".into();
        v.tags = vec!["atelier".into()];
        store.upsert(&v, &Editor::new("léa"), 1).expect("template").0.id
    };
    let server = TestServer::start(dir.path(), ServerConfig::default()).await;
    let (mb, eb) = (format!("Bearer {maintainer}"), format!("Bearer {editor}"));
    let json = ("Content-Type", "application/json");
    let mark = format!("/api/documents/{template}/template");
    let from = format!("/api/documents/{template}/from-template");
    // Not a template yet: nothing to make from it.
    assert_eq!(request(&server, "POST", &from, &[("Authorization", &eb), json], "{}").await.status, 422);
    // Only maintainers choose the templates.
    assert_eq!(request(&server, "POST", &mark, &[json], "{\"template\":true}").await.status, 403);
    assert_eq!(request(&server, "POST", &mark, &[("Authorization", &eb), json], "{\"template\":true}").await.status, 403);
    assert_eq!(request(&server, "POST", &mark, &[("Authorization", &mb), json], "{\"template\":true}").await.status, 204);
    let listed = get(&server, "/api/templates", &[("Authorization", &eb)]).await;
    assert_eq!(listed.text(), format!("[{{\"id\":\"{template}\",\"title\":\"Fiche d’atelier\"}}]"));
    assert_eq!(get(&server, "/api/templates", &[]).await.status, 403);
    let docs = get(&server, "/api/documents", &[("Authorization", &mb)]).await.text();
    assert!(docs.contains(&format!("\"id\":\"{template}\",\"kind\":\"page\"")) && docs.contains("\"template\":true"), "{docs}");
    // Readers do not see a template that is not published.
    assert_eq!(get(&server, "/wiki/fiche-d-atelier", &[]).await.status, 404);
    assert!(!get(&server, "/wiki", &[]).await.text().contains("Fiche"));
    // An editor makes a page from it: a new document, a fresh address.
    assert_eq!(request(&server, "POST", &from, &[json], "{}").await.status, 403);
    let made = request(&server, "POST", &from, &[("Authorization", &eb), json], "{\"title\":\"Atelier vélo\"}").await;
    assert_eq!(made.status, 200, "{}", made.text());
    let made: serde_json::Value = serde_json::from_slice(&made.body).expect("json");
    assert_eq!(made["address"], "atelier-velo");
    let id = cahier_doc::DocId::parse(made["id"].as_str().expect("an id")).expect("a document id");
    server.stop().await;

    let store = crate::open_store(dir.path());
    let (doc, _) = store.load_record(&id).expect("load").expect("stored");
    let (view, _) = cahier_doc::read(&doc, None);
    assert_eq!(
        (view.title.as_str(), view.body.as_str(), view.tags.as_slice()),
        ("Atelier vélo", "## Objectif\n\n## Matériel\n", &["atelier".to_owned()][..])
    );
    assert_eq!(cahier_app::auth_store::credits(&store, &doc, None).expect("credits"), ["léa"], "the template's author, not eli");
    let audit = cahier_app::auth_store::audit_log(&store).expect("audit");
    assert!(audit.iter().any(|e| e.action == "page made from a template" && e.who == "eli"), "{audit:?}");
    assert!(audit.iter().any(|e| e.action == "template marked" && e.who == "camille"), "{audit:?}");
}

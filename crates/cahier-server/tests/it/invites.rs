//! Invite links as a facilitator runs them: the document's list (for those who
//! may invite), revoking (which closes the guests' open sockets at once), and
//! the page a link that no longer works shows.

use cahier_app::auth_store;
use cahier_auth::Role;
use cahier_doc::DocId;
use cahier_server::ServerConfig;

use crate::TestServer;
use crate::sockets::{Client, Got, join_invite};
use crate::wiki::{get, request};

struct Setup {
    _tmp: tempfile::TempDir,
    server: TestServer,
    doc: String,
    other: String,
    /// Links (`/join/SECRET`): active edit, active view, expired, revoked, of the other document.
    links: [String; 5],
    /// The active edit link's invite id.
    edit_id: String,
    editor: String,
    maintainer: String,
}

async fn setup() -> Setup {
    let tmp = tempfile::tempdir().expect("tmp");
    let data = tmp.path().join("data");
    let (doc, other, links, edit_id, editor, maintainer) = {
        let store = crate::open_store(&data);
        let doc = store.upsert(&cahier_doc::DocView::new_minutes("Webinaire"), &cahier_doc::Editor::new("léa"), 1).expect("a").0.id;
        let other = store.upsert(&cahier_doc::DocView::new_page("Autre"), &cahier_doc::Editor::new("léa"), 1).expect("b").0.id;
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64);
        let mk = |d: &DocId, write: bool, expires: Option<i64>, n: u8| {
            auth_store::create_invite(&store, d, write, "camille", expires, [n; 8], [n; 32], now - i64::from(n)).expect("invite")
        };
        let (edit, edit_secret) = mk(&doc, true, None, 1);
        let (_, view_secret) = mk(&doc, false, Some(now + 3_600_000), 2);
        let (_, expired_secret) = mk(&doc, true, Some(now - 1), 3);
        let (revoked, revoked_secret) = mk(&doc, true, None, 4);
        auth_store::revoke_invite(&store, &revoked.id, "camille", now).expect("revoke");
        let (_, other_secret) = mk(&other, true, None, 5);
        let editor = crate::token_in(&store, "eli", Role::Editor);
        let maintainer = crate::token_in(&store, "camille", Role::Maintainer);
        let links = [edit_secret, view_secret, expired_secret, revoked_secret, other_secret].map(|s| format!("/join/{s}"));
        (doc.to_string(), other.to_string(), links, edit.id, editor, maintainer)
    };
    let server = TestServer::start(&data, ServerConfig::default()).await;
    Setup { _tmp: tmp, server, doc, other, links, edit_id, editor, maintainer }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_those_who_may_invite_list_a_documents_invites_and_no_link_is_in_the_list() {
    let s = setup().await;
    let path = format!("/api/documents/{}/invites", s.doc);
    let edit_guest = join_invite(&s.server, &s.links[0], "Zed").await.expect("edit link");
    let view_guest = join_invite(&s.server, &s.links[1], "Yasmine").await.expect("view link");
    let bearer = |t: &str| format!("Bearer {t}");
    let (editor, maintainer) = (bearer(&s.editor), bearer(&s.maintainer));
    let cases: [(&str, (&str, &str), u16); 5] = [
        ("nobody", ("X-None", "1"), 401),
        ("a guest who may write", ("Cookie", &edit_guest), 403),
        ("a guest who may read", ("Cookie", &view_guest), 403),
        ("an editor", ("Authorization", &editor), 200),
        ("the maintainer", ("Authorization", &maintainer), 200),
    ];
    let mut wrong = Vec::new();
    for (who, header, expected) in cases {
        let r = get(&s.server, &path, &[header]).await;
        if r.status != expected {
            wrong.push(format!("{who}: {} (expected {expected})", r.status));
        }
    }
    assert!(wrong.is_empty(), "{wrong:#?}");

    let body: serde_json::Value =
        serde_json::from_str(&get(&s.server, &path, &[("Authorization", &maintainer)]).await.text()).expect("json");
    assert_eq!(body["may_revoke"], true);
    let list = body["invites"].as_array().expect("invites");
    let summary: Vec<(bool, &str, &str)> = list
        .iter()
        .map(|i| (i["write"].as_bool().expect("write"), i["status"].as_str().expect("status"), i["created_by"].as_str().expect("by")))
        .collect();
    // Newest first; the other document's link is not among them.
    assert_eq!(
        summary,
        [(true, "active", "camille"), (false, "active", "camille"), (true, "expired", "camille"), (true, "revoked", "camille")]
    );
    assert!(list[1]["expires_ms"].is_i64() && list[0]["expires_ms"].is_null());
    let text = body.to_string();
    for link in &s.links {
        let secret = link.trim_start_matches("/join/");
        assert!(!text.contains(secret), "no secret in the list: {text}");
    }
    let editors: serde_json::Value =
        serde_json::from_str(&get(&s.server, &path, &[("Authorization", &editor)]).await.text()).expect("json");
    assert_eq!(editors["may_revoke"], false, "editors list but do not revoke");
    let r = get(&s.server, &format!("/api/documents/{}/invites", s.other), &[("Cookie", &edit_guest)]).await;
    assert_eq!(r.status, 403, "nor another document's");
    s.server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoking_an_invite_closes_its_guests_open_sockets_at_once() {
    let s = setup().await;
    let revoked_guest = join_invite(&s.server, &s.links[0], "Zed").await.expect("edit link");
    let other_guest = join_invite(&s.server, &s.links[1], "Yasmine").await.expect("view link");
    let mut zed = Client::connect_with_cookie(&s.server, &revoked_guest, "zed").await;
    zed.join().await;
    assert!(zed.can_open(&s.doc).await, "the guest is in the document");
    let mut yasmine = Client::connect_with_cookie(&s.server, &other_guest, "yasmine").await;
    yasmine.join().await;
    assert!(yasmine.can_open(&s.doc).await);

    let auth = format!("Bearer {}", s.maintainer);
    let r = request(&s.server, "POST", &format!("/api/invites/{}/revoke", s.edit_id), &[("Authorization", &auth)], "").await;
    assert_eq!(r.status, 204, "{}", r.text());
    // The socket closes now (within `recv`'s wait), with the reason said.
    loop {
        match zed.recv().await {
            Got::Closed(why) => {
                assert_eq!(why, "invite revoked");
                break;
            }
            Got::Msg(_) => continue,
        }
    }
    // A guest of another link is still served.
    yasmine.still_served().await;
    s.server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_link_that_no_longer_works_says_why_and_what_to_do() {
    let s = setup().await;
    let [_, _, expired, revoked, _] = &s.links;
    let unknown = format!("/join/{}", "ab".repeat(32));
    let truncated = &expired[..expired.len() - 10];
    let fr = "Cette invitation a expiré (ou n’existe pas). Demandez un nouveau lien à la personne qui anime la réunion.";
    let en = "This invitation has expired (or does not exist). Ask the person running the meeting for a new link.";
    for (link, status) in [(expired.as_str(), 410), (revoked.as_str(), 410), (unknown.as_str(), 404), (truncated, 404)] {
        let r = get(&s.server, link, &[]).await;
        assert_eq!(r.status, status, "{link}");
        let html = r.text();
        assert!(html.contains(fr) && !html.contains("introuvable"), "{link}: {html}");
        let r = get(&s.server, &format!("{link}?lang=en"), &[]).await;
        assert_eq!(r.status, status, "{link} in English");
        assert!(r.text().contains(en), "{link} in English: {}", r.text());
    }
    s.server.stop().await;
}

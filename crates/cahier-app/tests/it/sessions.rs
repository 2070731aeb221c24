//! Sessions end: expired ones and those of dead invites are removed, and an
//! account or an invite keeps a bounded number open.

use cahier_app::auth_store::{self, MAX_SESSIONS_PER_ACCOUNT};
use cahier_auth::Role;

const DAY: i64 = 24 * 3600 * 1000;

fn store() -> (tempfile::TempDir, cahier_store::Store) {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = cahier_store::Store::open_sled(dir.path()).expect("store");
    auth_store::put_account(&store, "camille", Role::Maintainer, "un mot de passe long", [1; 16], "test", 0).expect("account");
    (dir, store)
}

fn sessions(store: &cahier_store::Store) -> usize {
    store.records("sess/").expect("records").len()
}

fn random(n: usize) -> [u8; 32] {
    let mut b = [0u8; 32];
    b[..8].copy_from_slice(&(n as u64).to_le_bytes());
    b
}

fn login(store: &cahier_store::Store, n: usize, now: i64) -> String {
    auth_store::login(store, "camille", "un mot de passe long", random(n), random(n + 10_000), now)
        .expect("login")
        .expect("right password")
        .0
}

#[test]
fn expired_sessions_are_removed_at_the_next_login_and_by_the_purge() {
    let (_dir, store) = store();
    let old = login(&store, 1, 0);
    assert_eq!(sessions(&store), 1);
    // A login a month later removes the session that expired meanwhile.
    let later = 30 * DAY;
    let fresh = login(&store, 2, later);
    assert_eq!(sessions(&store), 1, "the expired session is gone from the store");
    assert!(auth_store::session(&store, &old, later).expect("read").is_none());
    assert!(auth_store::session(&store, &fresh, later).expect("read").is_some());
    // The periodic purge removes it once it expires too, and nothing else.
    assert_eq!(auth_store::purge_sessions(&store, later + DAY).expect("purge"), 0, "a live session stays");
    assert_eq!(auth_store::purge_sessions(&store, later + 15 * DAY).expect("purge"), 1);
    assert_eq!(sessions(&store), 0);
}

#[test]
fn an_account_keeps_a_bounded_number_of_sessions_the_oldest_ending_first() {
    let (_dir, store) = store();
    let first = login(&store, 0, 1);
    for n in 1..MAX_SESSIONS_PER_ACCOUNT + 5 {
        login(&store, n, 1 + n as i64);
    }
    assert_eq!(sessions(&store), MAX_SESSIONS_PER_ACCOUNT);
    assert!(auth_store::session(&store, &first, 100).expect("read").is_none(), "the oldest session ended");
    let newest = login(&store, 99, 200);
    assert!(auth_store::session(&store, &newest, 201).expect("read").is_some());
}

#[test]
fn guests_sessions_end_with_their_invite_and_are_purged() {
    let (_dir, store) = store();
    let id = store.upsert(&cahier_doc::DocView::new_minutes("Réunion"), &cahier_doc::Editor::new("camille"), 1).expect("minutes").0.id;
    let (invite, link) = auth_store::create_invite(&store, &id, true, "camille", None, [1; 8], [1; 32], 1).expect("invite");
    for n in 0..3 {
        auth_store::join(&store, &link, &format!("Invité {n}"), random(n), random(n + 100), 2).expect("join").expect("the link works");
    }
    assert_eq!(sessions(&store), 3);
    auth_store::revoke_invite(&store, &invite.id, "camille", 3).expect("revoke");
    assert_eq!(auth_store::purge_sessions(&store, 4).expect("purge"), 3, "the revoked invite's guests are removed");
    assert_eq!(sessions(&store), 0);
}

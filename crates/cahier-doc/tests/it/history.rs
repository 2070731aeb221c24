//! History: versions, sessions, past versions and diffs, on a document edited
//! concurrently by two people.

use automerge::Automerge;
use cahier_doc::history::{self, LineChange, SESSION_GAP_SECS, Version};

use crate::{T0, create, edit_body, page, replica};

/// Alice writes a page; Bob and Alice then edit it at the same time on two
/// replicas, which merge.
fn concurrently_edited() -> Automerge {
    let mut alice = create(&page("Programme", "Ligne un\nLigne deux\nLigne trois\n"), "Alice", T0);
    let mut bob = replica(&alice);
    edit_body(&mut alice, "Alice", T0 + 60_000, |b| b.replace("Ligne un", "Ligne une"));
    edit_body(&mut bob, "Bob", T0 + 61_000, |b| format!("{b}Ligne de Bob\n"));
    alice.merge(&mut bob).expect("merge");
    alice
}

#[test]
fn versions_list_every_change_with_author_time_and_message() {
    let doc = concurrently_edited();
    let versions = history::versions(&doc);
    let summary: Vec<(Option<&str>, i64, Option<&str>)> =
        versions.iter().map(|v| (v.author.as_deref(), v.time - T0 / 1000, v.message.as_deref())).collect();
    assert_eq!(summary.len(), 3);
    assert_eq!(summary[0], (Some("Alice"), 0, Some("create")));
    // The two concurrent edits come after the creation, in either order.
    let mut rest = summary[1..].to_vec();
    rest.sort();
    assert_eq!(rest, vec![(Some("Alice"), 60, Some("edit")), (Some("Bob"), 61, Some("edit"))]);
}

#[test]
fn a_past_version_shows_the_text_as_it_was_and_diffs_show_the_lines() {
    let doc = concurrently_edited();
    let versions = history::versions(&doc);
    let first = [versions[0].hash];
    let (then, problems) = history::view_at(&doc, &first);
    assert!(problems.is_empty());
    assert_eq!(then.body, "Ligne un\nLigne deux\nLigne trois\n");
    let (now, _) = cahier_doc::read(&doc, None);
    assert_eq!(now.body, "Ligne une\nLigne deux\nLigne trois\nLigne de Bob\n");

    let diff = history::diff_versions(&doc, &first, &doc.get_heads());
    assert_eq!(history::render_diff(&diff), "-Ligne un\n+Ligne une\n Ligne deux\n Ligne trois\n+Ligne de Bob\n");
    // Bob's version alone does not contain Alice's concurrent edit.
    let bob = versions.iter().find(|v| v.author.as_deref() == Some("Bob")).expect("bob");
    let (bobs, _) = history::view_at(&doc, &[bob.hash]);
    assert_eq!(bobs.body, "Ligne un\nLigne deux\nLigne trois\nLigne de Bob\n");
    assert!(history::line_diff(&bobs.body, &now.body).iter().any(|l| l.change == LineChange::Removed));
}

fn v(author: &str, time: i64) -> Version {
    Version { hash: automerge::ChangeHash([time as u8; 32]), author: Some(author.to_owned()), actor: "00".into(), time, message: None }
}

#[test]
fn sessions_group_one_authors_consecutive_changes_within_the_gap() {
    let check = |versions: Vec<Version>, expected: &[(&str, usize)]| {
        let sessions = history::sessions(&versions);
        let got: Vec<(&str, usize)> = sessions.iter().map(|s| (s.author.as_deref().unwrap_or("?"), s.versions.len())).collect();
        assert_eq!(got, expected);
    };
    let g = SESSION_GAP_SECS;
    check(vec![], &[]);
    check(vec![v("a", 0), v("a", 10), v("a", 10 + g)], &[("a", 3)]);
    check(vec![v("a", 0), v("a", g + 1)], &[("a", 1), ("a", 1)]);
    check(vec![v("a", 0), v("b", 1), v("a", 2)], &[("a", 1), ("b", 1), ("a", 1)]);
    check(vec![v("a", 0), v("a", 1), v("b", 2), v("b", 3)], &[("a", 2), ("b", 2)]);
}

#[test]
fn sessions_of_a_real_document_name_their_authors() {
    let mut doc = concurrently_edited();
    edit_body(&mut doc, "Alice", T0 + 120_000, |b| format!("{b}Fin\n"));
    let sessions = history::sessions(&history::versions(&doc));
    let authors: Vec<&str> = sessions.iter().map(|s| s.author.as_deref().unwrap_or("?")).collect();
    assert!(authors.contains(&"Bob"));
    assert_eq!(sessions.last().map(|s| s.last().time), Some((T0 + 120_000) / 1000));
}

//! History: versions, sessions, past versions and diffs, on a document edited
//! concurrently by two people.

use automerge::Automerge;
use cahier_doc::history::{self, LineChange, SESSION_GAP_SECS, Version};

use crate::{T0, create, edit_body, page, replica, splice_body};

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

fn v(author: Option<&str>, time: i64) -> Version {
    Version {
        hash: automerge::ChangeHash([time as u8; 32]),
        deps: vec![],
        author: author.map(str::to_owned),
        actor: "00ff".into(),
        time,
        message: None,
    }
}

#[test]
fn sessions_are_time_windows_that_a_pause_ends() {
    // (author or None, seconds) → "authors: changes" per session.
    let check = |changes: &[(Option<&str>, i64)], expected: &[&str]| {
        let versions: Vec<Version> = changes.iter().map(|&(a, t)| v(a, t)).collect();
        let got: Vec<String> = history::sessions(&versions)
            .iter()
            .map(|s| format!("{}{}: {} ({}..{})", s.authors.join(","), s.unnamed.join(","), s.changes, s.start, s.end))
            .collect();
        assert_eq!(got, expected);
    };
    let g = SESSION_GAP_SECS;
    let (a, b, c) = (Some("a"), Some("b"), Some("c"));
    check(&[], &[]);
    check(&[(a, 0), (b, 1), (a, 2), (c, 3), (b, 4)], &["a,b,c: 5 (0..4)"]);
    check(&[(a, 0), (a, 10), (a, 10 + g)], &[format!("a: 3 (0..{})", 10 + g).as_str()]);
    check(&[(a, 0), (b, g + 1)], &["a: 1 (0..0)", format!("b: 1 ({0}..{0})", g + 1).as_str()]);
    // Concurrent changes may come slightly out of time order: same session.
    check(&[(a, 100), (b, 90), (a, 101)], &["a,b: 3 (90..101)"]);
    // A change far back in time (a lagging clock, a device offline) stands apart.
    check(&[(a, 5000), (b, 5000 - g - 1), (a, 5001)], &["a: 1 (5000..5000)", "b: 1 (4699..4699)", "a: 1 (5001..5001)"]);
    check(&[(None, 0), (a, 1), (None, 2)], &["a00ff: 3 (0..2)"]);
    check(
        &[(a, i64::MIN / 2), (a, i64::MAX / 2)],
        &[format!("a: 1 ({0}..{0})", i64::MIN / 2).as_str(), format!("a: 1 ({0}..{0})", i64::MAX / 2).as_str()],
    );
}

/// Three replicas typing in turn, one keystroke every `step_ms` from `from_ms`
/// for `count` keystrokes, each merged at once into the others (a live meeting).
fn live_meeting(rooms: &mut [Automerge; 3], who: [&str; 3], from_ms: i64, step_ms: i64, count: usize) {
    for i in 0..count {
        let k = i % 3;
        let at = from_ms + step_ms * i as i64;
        let len = cahier_doc::read(&rooms[k], None).0.body.encode_utf16().count();
        splice_body(&mut rooms[k], who[k], at, len, 0, &who[k][..1]);
        let change = rooms[k].get_last_local_change().expect("a keystroke");
        for (j, other) in rooms.iter_mut().enumerate() {
            if j != k {
                other.apply_changes([change.clone()]).expect("apply");
            }
        }
    }
}

#[test]
fn three_people_typing_for_ten_minutes_make_one_session_naming_them_all() {
    let alice = create(&page("Réunion", ""), "Alice", T0);
    let mut rooms = [replica(&alice), replica(&alice), replica(&alice)];
    // 300 keystrokes, one every 2 s, in turn: ten minutes without a 5-minute pause.
    live_meeting(&mut rooms, ["Alice", "Bob", "Chloé"], T0 + 1_000, 2_000, 300);
    let doc = &rooms[0];
    let sessions = history::sessions(&history::versions(doc));
    assert_eq!(sessions.len(), 1, "{sessions:#?}");
    let s = &sessions[0];
    assert_eq!(s.authors, ["Alice", "Bob", "Chloé"]);
    assert_eq!((s.start, s.end, s.changes), (T0 / 1000, (T0 + 1_000 + 2_000 * 299) / 1000, 301));
    assert_eq!(s.heads, doc.get_heads());
    assert_eq!(history::session_ending_at(&sessions, &doc.get_heads()), Some(s));
}

#[test]
fn a_twenty_minute_pause_splits_the_meeting_into_two_sessions() {
    let alice = create(&page("Réunion", ""), "Alice", T0);
    let mut rooms = [replica(&alice), replica(&alice), replica(&alice)];
    live_meeting(&mut rooms, ["Alice", "Bob", "Chloé"], T0 + 1_000, 2_000, 150);
    let before_pause = rooms[0].get_heads();
    let pause_body = cahier_doc::read(&rooms[0], None).0.body;
    let after = T0 + 1_000 + 2_000 * 149 + 20 * 60_000;
    live_meeting(&mut rooms, ["Chloé", "Bob", "Alice"], after, 2_000, 30);
    let doc = &rooms[2];
    let sessions = history::sessions(&history::versions(doc));
    let got: Vec<(Vec<String>, usize)> = sessions.iter().map(|s| (s.authors.clone(), s.changes)).collect();
    let names = |n: &[&str]| n.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    assert_eq!(got, [(names(&["Alice", "Bob", "Chloé"]), 151), (names(&["Chloé", "Bob", "Alice"]), 30)]);
    assert_eq!(sessions[0].heads, before_pause);
    assert_eq!(history::view_at(doc, &sessions[0].heads).0.body, pause_body);
    assert_eq!((sessions[1].start, sessions[1].end), (after / 1000, (after + 2_000 * 29) / 1000));
    assert_eq!(sessions[1].heads, doc.get_heads());
}

#[test]
fn sessions_of_a_real_document_name_their_authors() {
    let mut doc = concurrently_edited();
    edit_body(&mut doc, "Alice", T0 + 120_000, |b| format!("{b}Fin\n"));
    let sessions = history::sessions(&history::versions(&doc));
    assert_eq!(sessions.len(), 1);
    assert_eq!(sessions[0].authors, ["Alice", "Bob"]);
    assert_eq!(sessions[0].end, (T0 + 120_000) / 1000);
    assert_eq!(sessions[0].heads, doc.get_heads());
}

/// A word diff in one line per row: `{+added+}`, `[-removed-]`.
fn render_words(d: &history::WordDiff) -> String {
    let rows: Vec<String> = d
        .rows
        .iter()
        .map(|r| {
            r.pieces
                .iter()
                .map(|p| match p.change {
                    LineChange::Same => p.text.clone(),
                    LineChange::Added => format!("{{+{}+}}", p.text),
                    LineChange::Removed => format!("[-{}-]", p.text),
                })
                .collect::<String>()
        })
        .collect();
    rows.join("\n")
}

#[test]
fn word_diffs_mark_words_and_keep_identical_lines() {
    let check = |old: &str, new: &str, expected: &str, added: usize, removed: usize| {
        let d = history::word_diff(old, new).expect("small enough");
        assert_eq!(render_words(&d), expected, "{old:?} → {new:?}");
        assert_eq!((d.added_words, d.removed_words), (added, removed), "{old:?} → {new:?}");
    };
    check("Le chat dort.\n", "Le chat noir dort.\n", "Le chat {+noir +}dort.", 1, 0);
    check("Un\nDeux\nTrois\n", "Un\nDeux bis\nTrois\n", "Un\nDeux{+ bis+}\nTrois", 1, 0);
    check("Un\nDeux\nTrois\n", "Un\nTrois\n", "Un\n[-Deux-]\nTrois", 0, 1);
    check("Un\n", "Un\n\nNouveau paragraphe ici.\n", "Un\n{++}\n{+Nouveau paragraphe ici.+}", 3, 0);
    check("L’école est fermée.\n", "L’école est ouverte.\n", "L’école est [-fermée-]{+ouverte+}.", 1, 1);
    check("same\n", "same\n", "same", 0, 0);
    assert!(history::word_diff("same\n", "same\n").expect("small").is_empty());
    // Bounded: a huge text is refused with the reason, not compared.
    let huge = "ligne\n".repeat(history::MAX_DIFF_LINES + 1);
    let refused = history::word_diff(&huge, "").expect_err("too large");
    assert_eq!(refused.lines, history::MAX_DIFF_LINES + 1);
}

/// Alice takes the page offline and writes a paragraph while Bruno, online,
/// reworks a sentence at the same minutes; their replicas merge afterwards.
#[test]
fn offline_work_merged_later_is_a_session_of_its_own_and_its_diff_shows_only_its_words() {
    let base = create(&page("Classe dehors", "Intro.\n\nParagraphe commun.\n"), "Camille", T0);
    let mut alice = replica(&base);
    let mut bruno = replica(&base);
    let later = T0 + 20 * 60_000;
    let mut server = replica(&base);
    let len = |d: &Automerge| cahier_doc::read(d, None).0.body.encode_utf16().count();
    // Keystrokes, interleaved in time.
    let at = len(&alice);
    splice_body(&mut alice, "Alice", later, at, 0, "\nLes élèves ");
    edit_body(&mut bruno, "Bruno", later + 30_000, |b| b.replace("commun.", "commun, revu."));
    let at = len(&alice);
    splice_body(&mut alice, "Alice", later + 60_000, at, 0, "plantent des arbres.\n");
    edit_body(&mut bruno, "Bruno", later + 90_000, |b| b.replace("revu", "revu par Bruno"));
    server.merge(&mut bruno).expect("merge Bruno");
    server.merge(&mut alice).expect("merge Alice");
    assert_eq!(cahier_doc::read(&server, None).0.body, "Intro.\n\nParagraphe commun, revu par Bruno.\n\nLes élèves plantent des arbres.\n");

    let sessions = history::sessions(&history::versions(&server));
    let names: Vec<Vec<String>> = sessions.iter().map(|s| s.authors.clone()).collect();
    assert_eq!(names, [vec!["Camille".to_owned()], vec!["Bruno".to_owned()], vec!["Alice".to_owned()]], "{sessions:#?}");
    let diff_of = |who: &str| {
        let s = sessions.iter().find(|s| s.authors == [who]).expect("a session");
        let (before, after) = history::session_views(&server, s);
        render_words(&history::word_diff(&before.body, &after.body).expect("small"))
    };
    assert_eq!(diff_of("Alice"), "Intro.\n\nParagraphe commun.\n{++}\n{+Les élèves plantent des arbres.+}");
    assert_eq!(diff_of("Bruno"), "Intro.\n\nParagraphe commun{+, revu par Bruno+}.");
    // Each session ended on its own version, without the other's work.
    let alice_s = sessions.iter().find(|s| s.authors == ["Alice"]).expect("Alice");
    assert!(!history::view_at(&server, &alice_s.heads).0.body.contains("Bruno"));
    // The merged version is named by both sessions.
    let mut named = history::session_naming(&sessions, &server.get_heads()).expect("named").authors;
    named.sort();
    assert_eq!(named, ["Alice", "Bruno"]);
}

#[test]
fn the_history_change_by_change_is_the_moments_changes_in_order_each_with_its_writer() {
    let mut doc = crate::create(&crate::page("Salle", ""), "camille", crate::T0);
    crate::splice_body(&mut doc, "camille", crate::T0 + 1000, 0, 0, "A");
    crate::splice_body(&mut doc, "léa", crate::T0 + 2000, 1, 0, "B");
    crate::splice_body(&mut doc, "léa", crate::T0 + 3000, 2, 0, "C");
    let moments = cahier_doc::moments::moments(&doc, &|_| None, 200);
    let (total, steps) = cahier_doc::moments::steps(&doc, &|_| None, 0, 1000);
    assert_eq!(total, steps.len());
    assert_eq!(total, moments.iter().map(|m| m.changes).sum::<usize>());
    // Each moment ends where its last change's step does.
    let mut end = 0;
    for m in &moments {
        end += m.changes;
        assert_eq!(steps[end - 1].heads, m.heads);
    }
    let last: Vec<(String, i64)> =
        steps[total - 3..].iter().map(|s| (cahier_doc::history::view_at(&doc, &s.heads).0.body, s.time)).collect();
    assert_eq!(
        last,
        [("A".into(), (crate::T0 + 1000) / 1000), ("AB".into(), (crate::T0 + 2000) / 1000), ("ABC".into(), (crate::T0 + 3000) / 1000)]
    );
    let writers: Vec<_> = steps[total - 3..].iter().map(|s| s.writer.clone()).collect();
    assert_eq!(
        writers,
        [cahier_doc::Writer::Author("camille".into()), cahier_doc::Writer::Author("léa".into()), cahier_doc::Writer::Author("léa".into())]
    );
    // A page further on holds the rest, fewer at the end.
    let (_, page) = cahier_doc::moments::steps(&doc, &|_| None, total - 2, 100);
    assert_eq!(page, steps[total - 2..]);
}

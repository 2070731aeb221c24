//! The typed view, UTF-16 positions, commit metadata, malformed documents.

use std::path::PathBuf;
use std::process::Command;

use automerge::transaction::Transactable;
use automerge::{ObjType, ROOT, ReadDoc};
use cahier_doc::{Kind, Status, read};
use expect_test::{Expect, expect};

use crate::{T0, create, page, sample_minutes};

#[test]
fn a_created_page_reads_back_as_written() {
    let view = page("Écoles ouvertes", "# Écoles ouvertes\n\nUn programme.\n");
    let doc = create(&view, "Camille", T0);
    let (back, problems) = read(&doc, None);
    assert_eq!(problems, vec![]);
    assert_eq!(back, view);
    assert_eq!(back.kind, Kind::Page);
    assert_eq!(back.slug, "ecoles-ouvertes");
    assert_eq!(back.license, "CC-BY-4.0");
    assert_eq!(back.status, Status::Draft);
}

#[test]
fn created_minutes_read_back_with_every_structured_field() {
    let view = sample_minutes();
    let doc = create(&view, "Camille", T0);
    let (back, problems) = read(&doc, None);
    assert_eq!(problems, vec![]);
    assert_eq!(back, view);
}

#[test]
fn ticking_an_action_done_is_a_small_change() {
    let view = sample_minutes();
    let mut doc = create(&view, "Camille", T0);
    let before = doc.get_heads();
    let mut done = view.clone();
    done.minutes.as_mut().expect("minutes").actions[0].done = true;
    let hash = cahier_doc::apply_view(&mut doc, &done, &cahier_doc::Editor::new("Noé"), T0 + 1000, "done")
        .expect("apply")
        .expect("a change was made");
    let change = doc.get_change_by_hash(&hash).expect("change");
    assert_eq!(change.len(), 1, "only the `done` flag changes");
    assert_eq!(read(&doc, None).0, done);
    assert_eq!(read(&doc, Some(&before)).0, view);
    // Saving the same view again makes no change at all.
    let again = cahier_doc::apply_view(&mut doc, &done, &cahier_doc::Editor::new("Noé"), T0 + 2000, "same");
    assert_eq!(again.expect("apply"), None);
}

#[test]
fn commits_carry_the_time_in_seconds_and_the_author() {
    let doc = create(&page("Titre", "x"), "Inès", T0 + 999);
    let metas = doc.get_changes_meta(&[]);
    assert_eq!(metas.len(), 1);
    assert_eq!(metas[0].timestamp, (T0 + 999) / 1000);
    let author = metas[0].author.as_ref().expect("an author");
    assert_eq!(author.as_bytes(), "Inès".as_bytes());
}

/// Text with accents (precomposed), combining marks, emoji outside the BMP and a
/// ZWJ sequence: positions differ between bytes, code points and UTF-16 units.
const TRICKY: &str = "Élève e\u{301}cole 😀 👩‍👩‍👧 fin";

#[test]
fn utf16_positions_agree_with_automerge_in_node() {
    let Some(node) = node_harness() else { return };
    let doc = create(&page("UTF-16", TRICKY), "Rust", T0);
    let body = cahier_doc::write::body_obj(&doc, None).expect("body");
    let expected_len = TRICKY.encode_utf16().count();
    assert_eq!(doc.length(&body), expected_len, "Rust counts UTF-16 units");

    // Positions chosen on both sides of each multi-unit character.
    let splices: Vec<(usize, isize, &str)> = vec![(0, 1, "É"), (7, 1, "é"), (13, 2, "🎉"), (16, 0, "[")];
    let cursors = [0usize, 6, 8, 13, 15, 16, 17, 20, expected_len];
    let dir = tempdir();
    let input = dir.join("in.automerge");
    let output = dir.join("out.automerge");
    let edits = dir.join("edits.json");
    std::fs::write(&input, doc.save()).expect("write doc");
    let edits_json = serde_json::json!({
        "splices": splices.iter().map(|(p, d, s)| serde_json::json!([p, d, s])).collect::<Vec<_>>(),
        "cursors": cursors,
    });
    std::fs::write(&edits, edits_json.to_string()).expect("write edits");
    let out = Command::new(&node.0).arg(node.1.join("utf16.mjs")).args([&input, &edits, &output]).output().expect("run node");
    assert!(out.status.success(), "node failed: {}", String::from_utf8_lossy(&out.stderr));
    let js: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json from node");

    // The same splices in Rust give the same text.
    let mut rust = crate::replica(&doc);
    let mut tx = rust.transaction();
    for (pos, del, ins) in &splices {
        tx.splice_text(&body, *pos, *del, ins).expect("splice");
    }
    tx.commit();
    let rust_text = rust.text(&body).expect("text");
    assert_eq!(js["text"].as_str(), Some(rust_text.as_str()));
    assert_eq!(js["length"].as_u64(), Some(rust.length(&body) as u64));

    // The document JS saved reads the same in Rust.
    let from_js = cahier_doc::load(&std::fs::read(&output).expect("read js doc")).expect("load js doc");
    assert_eq!(read(&from_js, None).0.body, rust_text);

    // A cursor made in JS resolves to the same UTF-16 position in Rust.
    for (i, pos) in cursors.iter().enumerate() {
        let cursor_str = js["cursors"][i].as_str().expect("cursor string");
        let cursor = automerge::Cursor::try_from(cursor_str).expect("parse cursor");
        let body_js = cahier_doc::write::body_obj(&from_js, None).expect("body");
        let at = from_js.get_cursor_position(&body_js, &cursor, None).expect("cursor position");
        assert_eq!(at, *pos, "cursor {cursor_str} made at {pos} in JS");
    }
}

/// `node` and the folder of the JS test harness with its packages installed. The
/// README's test command installs them; without them this test fails and says so.
fn node_harness() -> Option<(PathBuf, PathBuf)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/js");
    assert!(
        dir.join("node_modules/@automerge/automerge").exists(),
        "the JS test packages are missing: run the README's test command (scripts/test), which installs them in tests/js"
    );
    Some((PathBuf::from("node"), dir))
}

fn tempdir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("cahier-doc-test-{}-{:?}", std::process::id(), std::thread::current().id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

/// Builds a document by hand, reads it, and compares the problems found.
fn check_problems(build: impl FnOnce(&mut automerge::transaction::Transaction<'_>), expected: Expect) {
    let mut doc = cahier_doc::empty();
    let mut tx = doc.transaction();
    build(&mut tx);
    tx.commit();
    let (view, problems) = read(&doc, None);
    let mut out = format!("kind={} title={:?} body={:?}\n", view.kind.as_str(), view.title, view.body);
    for p in problems {
        out.push_str(&format!("{p}\n"));
    }
    expected.assert_eq(&out);
}

#[test]
fn malformed_documents_read_with_problems_not_panics() {
    check_problems(
        |_| {},
        expect![[r#"
            kind=page title="" body=""
            kind: missing, read as a page
            schemaVersion: missing
            title: missing
            slug: missing
            body: missing
        "#]],
    );
    check_problems(
        |tx| {
            tx.put(&ROOT, "kind", 7).expect("put");
            tx.put(&ROOT, "schemaVersion", "one").expect("put");
            tx.put_object(&ROOT, "title", ObjType::Map).expect("put");
            tx.put(&ROOT, "slug", "plain-string-is-fine").expect("put");
            tx.put_object(&ROOT, "body", ObjType::List).expect("put");
            tx.put(&ROOT, "tags", "not a list").expect("put");
            tx.put(&ROOT, "createdAt", "yesterday").expect("put");
        },
        expect![[r#"
            kind=page title="" body=""
            kind: expected text, found 7
            kind: unknown kind "7", read as a page
            schemaVersion: not a whole number
            title: expected text, found a map
            title: missing
            body: expected text, found a list
            body: missing
            tags: expected a list
            createdAt: expected a date
        "#]],
    );
    check_problems(
        |tx| {
            tx.put(&ROOT, "kind", "minutes").expect("put");
            tx.put(&ROOT, "schemaVersion", 99).expect("put");
            tx.put(&ROOT, "title", "Réunion").expect("put");
            tx.put(&ROOT, "slug", "reunion").expect("put");
            let body = tx.put_object(&ROOT, "body", ObjType::Text).expect("put");
            tx.splice_text(&body, 0, 0, "notes").expect("splice");
            tx.put(&ROOT, "status", "archived").expect("put");
            tx.put(&ROOT, "futureField", true).expect("put");
            let actions = tx.put_object(&ROOT, "actions", ObjType::List).expect("put");
            tx.insert(&actions, 0, "not a map").expect("insert");
            let a = tx.insert_object(&actions, 1, ObjType::Map).expect("insert");
            tx.put(&a, "text", "Relire").expect("put");
            tx.put(&a, "done", "yes").expect("put");
        },
        expect![[r#"
            kind=minutes title="Réunion" body="notes"
            schemaVersion: written by a newer Cahier (schema 99, this one knows 1); fields it does not know are ignored
            status: unknown status "archived", read as draft
            actions/0: not an action (a map), skipped
            actions/1/done: not true or false
        "#]],
    );
}

#[test]
fn garbage_bytes_are_an_error_not_a_panic_nor_an_empty_document() {
    for bytes in [&b""[..], b"\x85\x6f\x4a\x83", b"not an automerge document", &[0xff; 64]] {
        if bytes.is_empty() {
            // Automerge loads empty input as an empty document; Cahier's store never
            // hands it empty bytes for an existing document (see cahier-store).
            continue;
        }
        assert!(cahier_doc::load(bytes).is_err(), "{bytes:?} should not load");
    }
    let good = create(&page("t", "b"), "a", T0).save();
    let mut truncated = good.clone();
    truncated.truncate(good.len() / 2);
    assert!(cahier_doc::load(&truncated).is_err());
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(200))]
    /// Whatever values sit under the schema's keys, reading gives a view.
    #[test]
    fn reading_any_root_values_never_panics(values in proptest::collection::vec((0usize..17, 0u8..8, ".{0,12}"), 0..20)) {
        let keys = ["kind", "schemaVersion", "title", "slug", "body", "tags", "license", "status",
            "createdAt", "updatedAt", "participants", "actions", "agenda", "decisions", "startsAt", "importedCredits", "comments"];
        let mut doc = cahier_doc::empty();
        let mut tx = doc.transaction();
        tx.put(&ROOT, "kind", "minutes").expect("put");
        for (k, ty, s) in values {
            let k = keys[k];
            match ty {
                0 => { tx.put(&ROOT, k, s.as_str()).expect("put"); }
                1 => { let t = tx.put_object(&ROOT, k, ObjType::Text).expect("put"); tx.splice_text(&t, 0, 0, &s).expect("splice"); }
                2 => { tx.put(&ROOT, k, s.len() as i64 - 5).expect("put"); }
                3 => { let l = tx.put_object(&ROOT, k, ObjType::List).expect("put"); tx.insert(&l, 0, s.as_str()).expect("insert"); tx.insert_object(&l, 1, ObjType::Map).expect("insert"); }
                4 => { tx.put_object(&ROOT, k, ObjType::Map).expect("put"); }
                5 => { tx.put(&ROOT, k, f64::NAN).expect("put"); }
                6 => { tx.put(&ROOT, k, automerge::ScalarValue::Null).expect("put"); }
                _ => { tx.put(&ROOT, k, automerge::ScalarValue::Timestamp(-1)).expect("put"); }
            }
        }
        tx.commit();
        let _ = read(&doc, None);
        let _ = cahier_doc::contributors(&doc, None);
        let _ = cahier_doc::markdown::export_document(&doc);
    }
}

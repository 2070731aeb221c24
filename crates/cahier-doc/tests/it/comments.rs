//! Comments on the notes: anchored by cursors, they follow their passage
//! through everyone's edits, stay when it is deleted, and read bounded.

use automerge::{ObjType, ROOT, ReadDoc, transaction::Transactable};
use cahier_doc::comments::{self, MAX_COMMENT_TEXT, MAX_COMMENTS};
use cahier_doc::{Editor, Writer};

use crate::{T0, create, page, replica, splice_body};

const NOTES: &str = "Nous avons décidé de repeindre la salle en bleu.";

/// The passage of the only comment, as text, or `None` once it is gone.
fn passage(doc: &automerge::Automerge) -> Option<String> {
    let (list, problems) = comments::comments(doc, None);
    assert_eq!(problems, vec![]);
    let [c] = &list[..] else { panic!("one comment: {list:?}") };
    let range = comments::passage(doc, None, c).expect("the cursors point into the notes")?;
    let units: Vec<u16> = cahier_doc::read(doc, None).0.body.encode_utf16().collect();
    Some(String::from_utf16_lossy(&units[range]))
}

fn at(s: &str) -> usize {
    find(NOTES, s)
}

/// Where `s` starts in `text`, in UTF-16 code units (as editors count).
fn find(text: &str, s: &str) -> usize {
    text[..text.find(s).expect("in the notes")].encode_utf16().count()
}

#[test]
fn a_comment_follows_its_passage_through_concurrent_edits_and_stays_when_it_is_deleted() {
    let mut camille = create(&page("Salle", NOTES), "camille", T0);
    let from = at("repeindre");
    let id = comments::add(
        &mut camille,
        &Editor::new("camille"),
        T0 + 1000,
        [7; 8],
        from..from + "repeindre la salle".len(),
        "Quelle couleur ?",
    )
    .expect("comment");
    assert_eq!(id, "0707070707070707");
    assert_eq!(passage(&camille).as_deref(), Some("repeindre la salle"));

    // Léa, on her own replica, types before the passage, inside it, and right
    // around it; Camille types at its end at the same time.
    let mut lea = replica(&camille);
    splice_body(&mut lea, "léa", T0 + 2000, 0, 0, "Hier, ");
    let inside = "Hier, ".len() + at("la salle");
    splice_body(&mut lea, "léa", T0 + 3000, inside, 0, "toute ");
    splice_body(&mut camille, "camille", T0 + 2500, at(" en bleu"), 0, " du fond");
    camille.merge(&mut lea).expect("merge");
    assert_eq!(cahier_doc::read(&camille, None).0.body, "Hier, Nous avons décidé de repeindre toute la salle du fond en bleu.");
    assert_eq!(passage(&camille).as_deref(), Some("repeindre toute la salle"), "typed before and inside; not what follows it");

    // Its first and last letters deleted: the rest stays commented.
    let start = find(&cahier_doc::read(&camille, None).0.body, "repeindre");
    splice_body(&mut camille, "léa", T0 + 4000, start, 1, "");
    let end = find(&cahier_doc::read(&camille, None).0.body, "la salle") + "la sall".len();
    splice_body(&mut camille, "léa", T0 + 4500, end, 1, "");
    assert_eq!(passage(&camille).as_deref(), Some("epeindre toute la sall"));

    // All of it deleted: the comment stays, detached.
    let start = find(&cahier_doc::read(&camille, None).0.body, "epeindre");
    splice_body(&mut camille, "léa", T0 + 5000, start, "epeindre toute la sall".len() as isize, "");
    assert_eq!(passage(&camille), None);
    let (list, _) = comments::comments(&camille, None);
    assert_eq!(list[0].text, "Quelle couleur ?");
    // Who wrote it: the change that set its text (here an unbound actor's author field).
    let writers = comments::comment_writers(&camille, &|_| None);
    let expected = comments::CommentWriters { id, author: Some(Writer::Author("camille".into())), resolved_by: None, replies: vec![] };
    assert_eq!(writers, vec![expected]);
}

#[test]
fn whoever_writes_a_comments_text_is_its_author_not_who_made_it() {
    let mut doc = create(&page("Salle", NOTES), "camille", T0);
    let id = comments::add(&mut doc, &Editor::new("camille"), T0, [1; 8], 0..4, "D'accord").expect("comment");
    let mut other = replica(&doc);
    other.set_author(Some(Editor::new("zed").author()));
    let mut tx = other.transaction();
    let map = tx.get(&ROOT, "comments").expect("get").expect("comments").1;
    let c = tx.get(&map, id.as_str()).expect("get").expect("comment").1;
    tx.put(&c, "text", "Pas d'accord").expect("put");
    tx.commit();
    let writers = comments::comment_writers(&other, &|_| None);
    assert_eq!(writers[0].author, Some(Writer::Author("zed".into())), "the name goes with the words");
}

#[test]
fn malformed_comments_are_skipped_with_problems_and_the_rest_reads() {
    let mut doc = create(&page("Salle", NOTES), "camille", T0);
    let good = comments::add(&mut doc, &Editor::new("camille"), T0, [2; 8], 0..4, "Bien").expect("comment");
    let cursor = comments::comments(&doc, None).0[0].start.clone();
    let mut tx = doc.transaction();
    let map = tx.get(&ROOT, "comments").expect("get").expect("comments").1;
    tx.put(&map, "a-scalar", 3).expect("put");
    let missing = tx.put_object(&map, "b-missing", ObjType::Map).expect("put");
    tx.put(&missing, "start", cursor.as_str()).expect("put");
    let bad = tx.put_object(&map, "c-bad-cursor", ObjType::Map).expect("put");
    for k in ["start", "end"] {
        tx.put(&bad, k, "not a cursor").expect("put");
    }
    tx.put(&bad, "text", "x").expect("put");
    let text_obj = tx.put_object(&map, "d-text-object", ObjType::Map).expect("put");
    for k in ["start", "end"] {
        tx.put(&text_obj, k, cursor.as_str()).expect("put");
    }
    let t = tx.put_object(&text_obj, "text", ObjType::Text).expect("put");
    tx.splice_text(&t, 0, 0, "collaborative").expect("splice");
    let long = tx.put_object(&map, "e-too-long", ObjType::Map).expect("put");
    for k in ["start", "end"] {
        tx.put(&long, k, cursor.as_str()).expect("put");
    }
    tx.put(&long, "text", "x".repeat(MAX_COMMENT_TEXT + 1).as_str()).expect("put");
    let nested = tx.put_object(&map, "f-nested", ObjType::Map).expect("put");
    for k in ["start", "end"] {
        tx.put(&nested, k, cursor.as_str()).expect("put");
    }
    tx.put(&nested, "text", "x").expect("put");
    tx.put_object(&nested, "resolved", ObjType::Map).expect("put");
    tx.commit();
    let (view, problems) = cahier_doc::read(&doc, None);
    assert_eq!(view.body, NOTES, "the document reads as before");
    let problems: Vec<String> = problems.iter().map(ToString::to_string).collect();
    expect_test::expect![[r#"
        [
            "comments/a-scalar: not a comment (a map), skipped",
            "comments/b-missing/end: missing, comment skipped",
            "comments/c-bad-cursor/start: not a cursor, comment skipped",
            "comments/d-text-object/text: expected a string (not a text object), comment skipped",
            "comments/e-too-long/text: too long, comment skipped",
            "comments/f-nested/resolved: not true or false, comment skipped",
        ]
    "#]]
    .assert_debug_eq(&problems);
    let (list, _) = comments::comments(&doc, None);
    assert_eq!(list.iter().map(|c| c.id.as_str()).collect::<Vec<_>>(), [good.as_str()]);
}

#[test]
fn at_most_so_many_comments_are_read() {
    let mut doc = create(&page("Salle", NOTES), "camille", T0);
    comments::add(&mut doc, &Editor::new("camille"), T0, [3; 8], 0..4, "Un").expect("comment");
    let c = comments::comments(&doc, None).0.remove(0);
    let mut tx = doc.transaction();
    let map = tx.get(&ROOT, "comments").expect("get").expect("comments").1;
    for i in 0..MAX_COMMENTS {
        let o = tx.put_object(&map, format!("{i:016x}").as_str(), ObjType::Map).expect("put");
        tx.put(&o, "start", c.start.as_str()).expect("put");
        tx.put(&o, "end", c.end.as_str()).expect("put");
        tx.put(&o, "text", "plus").expect("put");
    }
    tx.commit();
    let (list, problems) = comments::comments(&doc, None);
    assert_eq!(list.len(), MAX_COMMENTS);
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(problems[0].message.contains("more than 1000 comments"));
}

#[test]
fn two_people_replying_at_once_both_keep_their_reply_each_under_their_name() {
    let mut camille = create(&page("Salle", NOTES), "camille", T0);
    let id = comments::add(&mut camille, &Editor::new("camille"), T0, [4; 8], 0..4, "Quelle couleur ?").expect("comment");
    let mut lea = replica(&camille);
    let mut noe = replica(&camille);
    comments::reply(&mut lea, &Editor::new("léa"), T0 + 1000, &id, [5; 8], "Bleu").expect("reply");
    comments::reply(&mut noe, &Editor::new("noé"), T0 + 1000, &id, [6; 8], "Vert").expect("reply");
    camille.merge(&mut lea).expect("merge");
    camille.merge(&mut noe).expect("merge");
    let (list, problems) = comments::comments(&camille, None);
    assert_eq!(problems, vec![]);
    let mut texts: Vec<&str> = list[0].replies.iter().map(|r| r.text.as_str()).collect();
    texts.sort_unstable();
    assert_eq!(texts, ["Bleu", "Vert"], "both replies kept");
    assert_eq!(list[0].replies[0].created_ms, Some(T0 + 1000));
    let writers = comments::comment_writers(&camille, &|_| None);
    let mut named: Vec<(String, Option<Writer>)> = writers[0].replies.clone();
    named.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        named,
        vec![
            ("0505050505050505".into(), Some(Writer::Author("léa".into()))),
            ("0606060606060606".into(), Some(Writer::Author("noé".into())))
        ]
    );
    assert!(matches!(comments::reply(&mut camille, &Editor::new("x"), T0, "nope", [7; 8], "?"), Err(comments::AddError::NoComment)));
    let long = "x".repeat(MAX_COMMENT_TEXT + 1);
    assert!(matches!(comments::reply(&mut camille, &Editor::new("x"), T0, &id, [7; 8], &long), Err(comments::AddError::TooLong)));
}

#[test]
fn malformed_replies_are_skipped_with_problems_and_the_comment_reads() {
    let mut doc = create(&page("Salle", NOTES), "camille", T0);
    let id = comments::add(&mut doc, &Editor::new("camille"), T0, [8; 8], 0..4, "Bien").expect("comment");
    let first = comments::reply(&mut doc, &Editor::new("léa"), T0, &id, [9; 8], "Oui").expect("reply");
    let mut tx = doc.transaction();
    let map = tx.get(&ROOT, "comments").expect("get").expect("comments").1;
    let c = tx.get(&map, id.as_str()).expect("get").expect("comment").1;
    let thread = tx.get(&c, "replies").expect("get").expect("replies").1;
    tx.insert(&thread, 1, 3).expect("insert");
    let dup = tx.insert_object(&thread, 2, ObjType::Map).expect("insert");
    tx.put(&dup, "id", first.as_str()).expect("put");
    tx.put(&dup, "text", "encore").expect("put");
    let no_text = tx.insert_object(&thread, 3, ObjType::Map).expect("insert");
    tx.put(&no_text, "id", "aa").expect("put");
    let long = tx.insert_object(&thread, 4, ObjType::Map).expect("insert");
    tx.put(&long, "id", "bb").expect("put");
    tx.put(&long, "text", "x".repeat(MAX_COMMENT_TEXT + 1).as_str()).expect("put");
    tx.commit();
    let (list, problems) = comments::comments(&doc, None);
    let problems: Vec<String> = problems.iter().map(ToString::to_string).collect();
    expect_test::expect![[r#"
        [
            "comments/0808080808080808/replies/1: not a reply (a map), skipped",
            "comments/0808080808080808/replies/2/id: the id of an earlier reply, reply skipped",
            "comments/0808080808080808/replies/3/text: missing, reply skipped",
            "comments/0808080808080808/replies/4/text: too long, reply skipped",
        ]
    "#]]
    .assert_debug_eq(&problems);
    assert_eq!(list[0].replies.iter().map(|r| r.text.as_str()).collect::<Vec<_>>(), ["Oui"], "the good reply reads");

    // A thread full: more replies are refused, and a longer list is read bounded.
    let mut tx = doc.transaction();
    for i in 0..comments::MAX_REPLIES {
        let r = tx.insert_object(thread_of(&tx, &id), 0, ObjType::Map).expect("insert");
        tx.put(&r, "id", format!("{i:016x}").as_str()).expect("put");
        tx.put(&r, "text", "plus").expect("put");
    }
    tx.commit();
    let (list, problems) = comments::comments(&doc, None);
    assert_eq!(list[0].replies.len(), comments::MAX_REPLIES);
    assert!(problems.iter().any(|p| p.message.contains("more than 200 replies")), "{problems:?}");
    assert!(matches!(comments::reply(&mut doc, &Editor::new("x"), T0, &id, [1; 8], "?"), Err(comments::AddError::TooManyReplies)));
}

fn thread_of(doc: &impl ReadDoc, id: &str) -> automerge::ObjId {
    let map = doc.get(&ROOT, "comments").expect("get").expect("comments").1;
    let c = doc.get(&map, id).expect("get").expect("comment").1;
    doc.get(&c, "replies").expect("get").expect("replies").1
}

#[test]
fn two_first_replies_at_once_to_a_comment_from_before_threads_both_stay() {
    // A comment as the editor wrote them before threads: no `replies` list.
    let mut camille = create(&page("Salle", NOTES), "camille", T0);
    let id = comments::add(&mut camille, &Editor::new("camille"), T0, [4; 8], 0..4, "Quelle couleur ?").expect("comment");
    let mut tx = camille.transaction();
    let map = tx.get(&ROOT, "comments").expect("get").expect("comments").1;
    let c = tx.get(&map, id.as_str()).expect("get").expect("comment").1;
    tx.delete(&c, "replies").expect("delete");
    tx.commit();
    let old = camille.save();

    // Léa and Noé each send the first reply on their own replica, at once.
    let mut lea = automerge::Automerge::load(&old).expect("load");
    let mut noe = automerge::Automerge::load(&old).expect("load");
    comments::reply(&mut lea, &Editor::new("léa"), T0 + 1000, &id, [5; 8], "Bleu").expect("reply");
    comments::reply(&mut noe, &Editor::new("noé"), T0 + 2000, &id, [6; 8], "Vert").expect("reply");
    lea.merge(&mut noe).expect("merge");
    let (list, problems) = comments::comments(&lea, None);
    assert_eq!(problems, vec![]);
    let texts: Vec<&str> = list[0].replies.iter().map(|r| r.text.as_str()).collect();
    assert_eq!(texts, ["Bleu", "Vert"], "both first replies kept, oldest first");
    let named = comments::comment_writers(&lea, &|_| None).remove(0).replies;
    assert_eq!(
        named,
        vec![
            ("0505050505050505".into(), Some(Writer::Author("léa".into()))),
            ("0606060606060606".into(), Some(Writer::Author("noé".into())))
        ]
    );

    // A later reply joins the thread, on every replica alike.
    comments::reply(&mut noe, &Editor::new("noé"), T0 + 3000, &id, [7; 8], "Ou jaune").expect("reply");
    lea.merge(&mut noe).expect("merge");
    noe.merge(&mut lea).expect("merge");
    for doc in [&lea, &noe] {
        let texts: Vec<String> = comments::comments(doc, None).0[0].replies.iter().map(|r| r.text.clone()).collect();
        assert_eq!(texts, ["Bleu", "Vert", "Ou jaune"]);
    }
}

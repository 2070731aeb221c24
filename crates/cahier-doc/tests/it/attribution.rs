//! Credits computed from the CRDT: whose text survives.

use cahier_doc::{Contribution, contributors};

use crate::{T0, create, edit_body, page, replica};

fn names(c: &[Contribution]) -> Vec<(&str, usize)> {
    c.iter().map(|c| (c.name.as_str(), c.chars)).collect()
}

#[test]
fn each_author_is_credited_with_the_surviving_text_they_inserted() {
    let mut alice = create(&page("Crédits", "Bonjour"), "Alice", T0);
    let mut bob = replica(&alice);
    edit_body(&mut bob, "Bob", T0 + 1000, |b| format!("{b} à tous 😀"));
    edit_body(&mut alice, "Alice", T0 + 2000, |b| format!("« {b}"));
    alice.merge(&mut bob).expect("merge");
    assert_eq!(cahier_doc::read(&alice, None).0.body, "« Bonjour à tous 😀");
    // Alice: "« " + "Bonjour" = 9 units; Bob: " à tous " + 😀 = 8 + 2 UTF-16 units.
    assert_eq!(names(&contributors(&alice, None)), vec![("Bob", 10), ("Alice", 9)]);
}

#[test]
fn an_author_whose_text_was_all_deleted_is_no_longer_credited() {
    let mut doc = create(&page("Crédits", "Texte d'Alice."), "Alice", T0);
    edit_body(&mut doc, "Bob", T0 + 1000, |b| format!("{b} Texte de Bob."));
    let before = doc.get_heads();
    // Bob selects Alice's sentence and deletes it, as in an editor.
    crate::splice_body(&mut doc, "Bob", T0 + 2000, 0, "Texte d'Alice. ".len() as isize, "");
    assert_eq!(cahier_doc::read(&doc, None).0.body, "Texte de Bob.");
    assert_eq!(names(&contributors(&doc, None)), vec![("Bob", 13)]);
    // At the earlier version, both were credited.
    let then = contributors(&doc, Some(&before));
    assert_eq!(then.iter().map(|c| c.name.as_str()).collect::<Vec<_>>(), vec!["Alice", "Bob"]);
}

#[test]
fn imported_text_is_credited_to_the_files_contributors() {
    let file = "---\ntitle: \"Guide\"\ncontributors:\n  - \"Zoé\"\n  - \"Yann\"\n---\n\nUn guide.\n";
    let imported = cahier_doc::markdown::from_markdown("guide.md", file).expect("import");
    let mut doc = cahier_doc::new_document(&imported.view, &cahier_doc::Editor::import(), T0).expect("doc");
    assert_eq!(names(&contributors(&doc, None)), vec![("Zoé", 10), ("Yann", 10)]);
    edit_body(&mut doc, "Camille", T0 + 1000, |b| format!("{b}Ajout.\n"));
    let got: Vec<String> = contributors(&doc, None).into_iter().map(|c| c.name).collect();
    assert_eq!(got, ["Zoé", "Yann", "Camille"]);
    // Once all imported text is gone, so are the imported credits.
    edit_body(&mut doc, "Camille", T0 + 2000, |_| "Tout neuf.".to_owned());
    assert_eq!(names(&contributors(&doc, None)), vec![("Camille", 10)]);
}

#[test]
fn authorship_says_who_wrote_each_part_of_the_body_as_the_credits_count_it() {
    use cahier_doc::{Span, Writer, authorship};
    let mut alice = create(&page("Notes", "Bonjour"), "Alice", T0);
    let mut bob = replica(&alice);
    edit_body(&mut bob, "Bob", T0 + 1000, |b| format!("{b} à tous 😀"));
    edit_body(&mut alice, "Alice", T0 + 2000, |b| format!("« {b}"));
    alice.merge(&mut bob).expect("merge");
    let author = |n: &str| Writer::Author(n.to_owned());
    let span = |from, to, writer| Span { from, to, writer };
    // "« Bonjour" is Alice's (9 units), " à tous 😀" Bob's (10, the emoji two).
    assert_eq!(authorship(&alice, None, &|_| None), vec![span(0, 9, author("Alice")), span(9, 19, author("Bob"))]);
    // A binding of the actor wins over the change's author field.
    let bob_actor = bob.get_actor().to_hex_string();
    let bound = authorship(&alice, None, &|a| (a == bob_actor).then(|| "account:bob".to_owned()));
    assert_eq!(bound, vec![span(0, 9, author("Alice")), span(9, 19, Writer::Bound("account:bob".into()))]);
    // The spans, summed by name, are the credits.
    let credits = contributors(&alice, None);
    for c in &credits {
        let sum: usize = authorship(&alice, None, &|_| None)
            .iter()
            .filter(|s| s.writer.credit_name().as_deref() == Some(c.name.as_str()))
            .map(|s| s.to - s.from)
            .sum();
        assert_eq!(sum, c.chars, "{}", c.name);
    }
}

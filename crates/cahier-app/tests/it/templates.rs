//! Page templates: a new page made from one takes its body, tags and licence,
//! gets its own title and address, credits the template's authors for the
//! text it took, and is audited.

use cahier_doc::{DocView, Editor};

#[test]
fn a_page_made_from_a_template_takes_its_text_and_credits_its_authors() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = cahier_store::Store::open_sled(dir.path()).expect("store");
    let mut t = DocView::new_page("Fiche d’atelier");
    t.body = "## Objectif\n\n## Matériel\n".into();
    t.tags = vec!["atelier".into()];
    t.license = "CC-BY-SA-4.0".into();
    let template = store.upsert(&t, &Editor::new("alice"), 1).expect("template").0.id;
    let other = store.upsert(&DocView::new_page("Autre"), &Editor::new("alice"), 1).expect("page").0.id;

    // Not a template yet: refused, nothing made.
    let before = store.list().expect("list").len();
    assert!(matches!(cahier_app::templates::create_from(&store, &template, "", "camille", 2), Err(cahier_app::Error::Invalid(_))));
    assert_eq!(store.list().expect("list").len(), before);

    assert!(cahier_app::templates::set_template(&store, &template, true, "boss", 3).expect("marked"));
    let listed = cahier_app::templates::templates(&store).expect("templates");
    assert_eq!(listed.iter().map(|t| (t.id.clone(), t.title.as_str())).collect::<Vec<_>>(), [(template.clone(), "Fiche d’atelier")]);
    assert!(!cahier_app::templates::templates(&store).expect("templates").iter().any(|t| t.id == other));

    let made = cahier_app::templates::create_from(&store, &template, "Atelier vélo", "camille", 5_000).expect("made");
    assert_eq!(made.address, "atelier-velo");
    assert_ne!(made.id, template);
    let (doc, _) = store.load_record(&made.id).expect("load").expect("stored");
    let (view, problems) = cahier_doc::read(&doc, None);
    assert!(problems.is_empty(), "{problems:?}");
    assert_eq!((view.title.as_str(), view.body.as_str()), ("Atelier vélo", "## Objectif\n\n## Matériel\n"));
    assert_eq!((view.tags.as_slice(), view.license.as_str()), (&["atelier".to_owned()][..], "CC-BY-SA-4.0"));
    assert_eq!(view.status, cahier_doc::Status::Draft);
    // The copied text is Alice's, not Camille's, who only asked for the copy.
    assert_eq!(cahier_app::auth_store::credits(&store, &doc, None).expect("credits"), ["alice"]);
    // What the new page's writers add is theirs, beside the template's authors.
    let mut more = view.clone();
    more.body.push_str("\nUne sortie au parc, le samedi matin.\n");
    store.upsert(&more, &Editor::new("noé"), 6_000).expect("edit");
    let (doc, _) = store.load_record(&made.id).expect("load").expect("stored");
    assert_eq!(cahier_app::auth_store::credits(&store, &doc, None).expect("credits"), ["alice", "noé"]);
    // The template is as it was.
    let (doc, _) = store.load_record(&template).expect("load").expect("stored");
    assert_eq!(cahier_doc::read(&doc, None).0.title, "Fiche d’atelier");

    let audit = cahier_app::auth_store::audit_log(&store).expect("audit");
    assert!(
        audit.iter().any(|e| e.action == "page made from a template"
            && e.who == "camille"
            && e.target.starts_with("fiche-d-atelier (")
            && e.target.contains("→ atelier-velo (")),
        "{audit:?}"
    );
    assert!(audit.iter().any(|e| e.action == "template marked" && e.who == "boss"), "{audit:?}");

    // Unmarked, it is no longer offered, and makes nothing.
    assert!(cahier_app::templates::set_template(&store, &template, false, "boss", 7_000).expect("unmarked"));
    assert!(cahier_app::templates::templates(&store).expect("templates").is_empty());
    assert!(cahier_app::templates::create_from(&store, &template, "Encore", "camille", 8_000).is_err());
}

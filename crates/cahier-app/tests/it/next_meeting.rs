//! Preparing the next meeting: new minutes carry the participants, the agenda
//! and the open actions over, with empty notes.

use cahier_doc::{Action, DocView, Editor, MinutesFields};

#[test]
fn the_next_meetings_minutes_carry_participants_agenda_and_open_actions() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = cahier_store::Store::open_sled(dir.path()).expect("store");
    let mut m = DocView::new_minutes("Conseil d’école");
    m.slug = "conseil".into();
    m.body = "Notes de la séance.\n".into();
    let action = |text: &str, done: bool| Action { text: text.into(), owner: "Noé".into(), due: String::new(), done };
    m.minutes = Some(MinutesFields {
        starts_at: "2026-11-20T18:30".into(),
        place: "Salle 4".into(),
        facilitator: "Camille".into(),
        participants: vec!["Camille".into(), "Noé".into()],
        agenda: vec!["Accueil".into()],
        decisions: vec!["Publier le guide".into()],
        actions: vec![action("Relire le guide", false), action("Réserver la salle", true)],
    });
    let last = store.upsert(&m, &Editor::new("léa"), 1).expect("minutes").0.id;
    let next = cahier_app::next_meeting::prepare_next(&store, &last, "camille", 5_000).expect("prepared");
    assert_eq!(next.address, "conseil-d-ecole");
    let (doc, _) = store.load_record(&next.id).expect("load").expect("stored");
    let (view, problems) = cahier_doc::read(&doc, None);
    assert!(problems.is_empty(), "{problems:?}");
    assert_eq!((view.title.as_str(), view.body.as_str()), ("Conseil d’école", ""));
    let f = view.minutes.expect("minutes");
    assert_eq!(f.participants, ["Camille", "Noé"]);
    assert_eq!(f.agenda, ["Accueil"]);
    assert_eq!(f.actions, [action("Relire le guide", false)], "open actions only");
    assert!(f.decisions.is_empty() && f.starts_at.is_empty());
    assert_eq!((f.place.as_str(), f.facilitator.as_str()), ("Salle 4", "Camille"));
    let audit = cahier_app::auth_store::audit_log(&store).expect("audit");
    assert!(audit.iter().any(|e| e.action == "next meeting prepared" && e.target.contains("→ conseil-d-ecole (")), "{audit:?}");
}

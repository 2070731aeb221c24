//! Integration tests of the document core, at the boundaries Cahier's users see:
//! views, history, credits and Markdown files.

mod attribution;
mod comments;
mod fuzz;
mod history;
mod markdown;
mod model;

use automerge::Automerge;
use cahier_doc::{DocView, Editor, MinutesFields, apply_view, new_document};

/// 2026-11-20T18:30:00Z
pub const T0: i64 = 1_795_199_400_000;

pub fn page(title: &str, body: &str) -> DocView {
    DocView { body: body.to_owned(), ..DocView::new_page(title) }
}

pub fn create(view: &DocView, who: &str, at_ms: i64) -> Automerge {
    new_document(view, &Editor::new(who), at_ms).expect("create document")
}

/// Edits the body of `doc` as `who` at `at_ms`.
pub fn edit_body(doc: &mut Automerge, who: &str, at_ms: i64, f: impl FnOnce(&str) -> String) {
    let (mut view, _) = cahier_doc::read(doc, None);
    view.body = f(&view.body);
    view.updated_ms = Some(at_ms);
    apply_view(doc, &view, &Editor::new(who), at_ms, "edit").expect("edit");
}

/// Splices the body at a UTF-16 position as `who`, as an editor's keystrokes do.
pub fn splice_body(doc: &mut Automerge, who: &str, at_ms: i64, pos: usize, del: isize, insert: &str) {
    use automerge::transaction::{CommitOptions, Transactable};
    let body = cahier_doc::write::body_obj(doc, None).expect("body");
    doc.set_author(Some(Editor::new(who).author()));
    let mut tx = doc.transaction();
    tx.splice_text(&body, pos, del, insert).expect("splice");
    tx.commit_with(CommitOptions::default().with_time(at_ms / 1000));
}

/// A second replica of `doc`, as another device would load it.
pub fn replica(doc: &Automerge) -> Automerge {
    cahier_doc::load(&doc.save()).expect("load replica")
}

pub fn sample_minutes() -> DocView {
    DocView {
        body: "## Notes\n\nTour de table : chacun·e présente son école.\n".to_owned(),
        tags: vec!["webinaire".into(), "écoles".into()],
        created_ms: Some(T0),
        updated_ms: Some(T0 + 3_600_000),
        minutes: Some(MinutesFields {
            starts_at: "2026-11-20T18:30".into(),
            place: "https://visio.example.org/ecoles".into(),
            facilitator: "Camille".into(),
            participants: vec!["Camille".into(), "Noé".into(), "Inès".into()],
            agenda: vec!["Accueil".into(), "Retours d'expérience".into()],
            decisions: vec!["Publier le guide sous CC BY 4.0".into()],
            actions: vec![cahier_doc::Action {
                text: "Relire le guide".into(),
                owner: "Noé".into(),
                due: "2026-12-01".into(),
                done: false,
            }],
        }),
        ..DocView::new_minutes("Webinaire du 20 novembre")
    }
}

//! The reader's pages' text, as each language writes it.

use cahier_doc::{Action, DocView};
use cahier_wiki::Lang;
use cahier_wiki::html::diff_text;

/// Minutes as the history compares them: "Label : value" with French
/// typography's no-break space in French, "Label: value" in English.
#[test]
fn minutes_facts_are_punctuated_as_each_language_writes_them() {
    let mut m = DocView::new_minutes("Réunion de jeudi");
    m.body = "On commence.\n".into();
    if let Some(f) = m.minutes.as_mut() {
        f.starts_at = "2026-12-03T18:30".into();
        f.place = "Salle 3".into();
        f.participants = vec!["Noé".into(), "Zoé".into()];
        f.actions = vec![Action { text: "Relire".into(), owner: "Noé".into(), due: String::new(), done: false }];
    }
    let check = |lang: Lang, expected: &str| assert_eq!(diff_text(lang, &m), expected, "{lang:?}");
    check(
        Lang::Fr,
        "# Réunion de jeudi\n\nDate\u{a0}: 2026-12-03 18:30\nLieu\u{a0}: Salle 3\nParticipants\u{a0}: Noé, Zoé\n\n\
## Notes\n\nOn commence.\n\n## Actions\n\n- [ ] Relire — Noé\n",
    );
    check(
        Lang::En,
        "# Réunion de jeudi\n\nDate: 2026-12-03 18:30\nPlace: Salle 3\nParticipants: Noé, Zoé\n\n\
## Notes\n\nOn commence.\n\n## Actions\n\n- [ ] Relire — Noé\n",
    );
}

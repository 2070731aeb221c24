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

/// How long ago, as each language says it, for the last week; a date beyond.
#[test]
fn recent_moments_are_said_as_how_long_ago_in_each_language() {
    const MIN: i64 = 60_000;
    let now = 1_800_000_000_000;
    let cases: [(i64, Option<&str>, Option<&str>); 10] = [
        (0, Some("à l’instant"), Some("just now")),
        (59_000, Some("à l’instant"), Some("just now")),
        (-30_000, Some("à l’instant"), Some("just now")),
        (5 * MIN + 30_000, Some("il y a 5\u{a0}min"), Some("5 min ago")),
        (60 * MIN, Some("il y a 1\u{a0}h"), Some("1 hour ago")),
        (3 * 60 * MIN + 59 * MIN, Some("il y a 3\u{a0}h"), Some("3 hours ago")),
        (24 * 60 * MIN, Some("il y a 1\u{a0}jour"), Some("1 day ago")),
        (6 * 24 * 60 * MIN, Some("il y a 6\u{a0}jours"), Some("6 days ago")),
        (7 * 24 * 60 * MIN, None, None),
        (-2 * MIN, None, None),
    ];
    for (elapsed, fr, en) in cases {
        let said = |lang| cahier_wiki::html::ago(lang, now, now - elapsed);
        assert_eq!((said(Lang::Fr).as_deref(), said(Lang::En).as_deref()), (fr, en), "{elapsed} ms ago");
    }
}

//! The Markdown file format: export, import, byte-identical round trips, errors.

use std::path::PathBuf;

use cahier_doc::markdown::{export_document, from_markdown, to_markdown};
use cahier_doc::{Action, DocView, Editor, Kind, MinutesFields, Status, new_document};
use expect_test::expect;
use proptest::prelude::*;

use crate::{T0, create, edit_body, sample_minutes};

/// Exports `doc`, imports the file into a fresh document as `cahier import` does,
/// exports that, and checks both files are the same bytes.
fn assert_round_trip(doc: &automerge::Automerge) -> String {
    let (first, _) = export_document(doc);
    let imported = from_markdown("x.md", &first).unwrap_or_else(|e| panic!("{e}\n{first}"));
    let again = new_document(&imported.view, &Editor::import(), T0).expect("doc");
    let (second, _) = export_document(&again);
    assert_eq!(first, second);
    first
}

#[test]
fn minutes_export_to_readable_front_matter() {
    let mut doc = create(&sample_minutes(), "Camille", T0);
    edit_body(&mut doc, "Noé", T0 + 5000, |b| format!("{b}\nDécision : on publie.\n"));
    let file = assert_round_trip(&doc);
    expect![[r#"
        ---
        title: "Webinaire du 20 novembre"
        kind: minutes
        slug: "webinaire-du-20-novembre"
        status: draft
        license: "CC-BY-4.0"
        tags:
          - "webinaire"
          - "écoles"
        contributors:
          - "Camille"
          - "Noé"
        created: 2026-11-20T18:30:00Z
        updated: 2026-11-20T18:30:05Z
        starts: "2026-11-20T18:30"
        place: "https://visio.example.org/ecoles"
        facilitator: "Camille"
        participants:
          - "Camille"
          - "Noé"
          - "Inès"
        agenda:
          - "Accueil"
          - "Retours d'expérience"
        decisions:
          - "Publier le guide sous CC BY 4.0"
        actions:
          - text: "Relire le guide"
            owner: "Noé"
            due: "2026-12-01"
            done: false
        ---

        ## Notes

        Tour de table : chacun·e présente son école.

        Décision : on publie.
    "#]]
    .assert_eq(&file);
}

#[test]
fn the_community_texts_round_trip_byte_for_byte() {
    let seeds = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/seeds");
    let Ok(entries) = std::fs::read_dir(&seeds) else {
        eprintln!("skipped: the community's texts are not beside this clone ({}); the generated inputs below still run", seeds.display());
        return;
    };
    let mut n = 0;
    for entry in entries {
        let path = entry.expect("entry").path();
        let text = std::fs::read_to_string(&path).expect("read seed");
        let title = text.lines().find(|l| !l.trim().is_empty()).unwrap_or("Sans titre").trim().to_owned();
        let view = DocView { body: text.clone(), tags: vec!["seed".into()], ..DocView::new_page(&title) };
        let mut doc = create(&view, "Communauté", T0);
        edit_body(&mut doc, "Relecteur", T0 + 1000, |b| b.replacen("e", "é", 3));
        let file = assert_round_trip(&doc);
        assert!(file.ends_with(&cahier_doc::read(&doc, None).0.body));
        n += 1;
    }
    assert!(n > 0, "no seed files in {}", seeds.display());
}

/// Builds a file from front matter lines and a body, imports it, and compares the error.
fn check_error(front: &str, expected: expect_test::Expect) {
    let file = format!("---\n{front}---\n\nbody\n");
    let got = match from_markdown("pages/guide.md", &file) {
        Ok(_) => "imported".to_owned(),
        Err(e) => e.to_string(),
    };
    expected.assert_eq(&got);
}

#[test]
fn bad_files_are_rejected_naming_the_file_and_the_line() {
    check_error("title: \"Guide\"\n", expect!["imported"]);
    check_error("slug: \"guide\"\n", expect!["pages/guide.md:1: the front matter has no `title`"]);
    check_error("title: \"\"\n", expect!["pages/guide.md:2: the title is empty (give a title or a slug)"]);
    check_error(
        "title: \"Guide\"\ntags: [a, b\n",
        expect![
            "pages/guide.md:4: invalid front matter: did not find expected ',' or ']' at line 3 column 1, while parsing a flow sequence at line 2 column 7"
        ],
    );
    check_error(
        "title: \"Guide\"\ntags: \"pas une liste\"\n",
        expect![
            "pages/guide.md:3: invalid front matter: tags: invalid type: string \"pas une liste\", expected a sequence at line 2 column 7"
        ],
    );
    check_error(
        "title: \"Guide\"\nslug: \"Mon Guide\"\n",
        expect![[r#"pages/guide.md:3: invalid slug "Mon Guide": use lowercase letters, digits and hyphens, e.g. "mon-guide""#]],
    );
    check_error("title: \"Guide\"\nkind: note\n", expect![[r#"pages/guide.md:3: unknown kind "note": use `page` or `minutes`"#]]);
    check_error(
        "title: \"Guide\"\n\nstatus: archived\n",
        expect![[r#"pages/guide.md:4: unknown status "archived": use `draft` or `published`"#]],
    );
    check_error(
        "title: \"Guide\"\ncreated: hier\n",
        expect![[r#"pages/guide.md:3: invalid date "hier": use 2026-11-20T18:30:00Z or 2026-11-20"#]],
    );
    check_error(
        "title: \"Guide\"\nlicense: \"CC BY\"\n",
        expect![[r#"pages/guide.md:3: invalid licence "CC BY": use an SPDX identifier such as CC-BY-4.0"#]],
    );
    check_error(
        "title: \"Guide\"\nfacilitator: \"Camille\"\n",
        expect!["pages/guide.md:3: `facilitator` belongs to minutes: add `kind: minutes`"],
    );
    let no_front = from_markdown("a.md", "# Titre\n").expect_err("no front matter");
    assert_eq!(no_front.to_string(), "a.md:1: expected front matter: the file must start with a line `---`, then `title: …`");
    let unclosed = from_markdown("b.md", "---\ntitle: x\n").expect_err("unclosed");
    assert_eq!(unclosed.to_string(), "b.md:1: front matter is not closed: add a line `---` after it");
}

#[test]
fn duplicate_and_blank_contributors_are_credited_once() {
    let file = "---\ntitle: \"T\"\ncontributors: [\"Zoé\", \"\", \"Yann\", \"Zoé\", \"  \"]\n---\n\nx";
    assert_eq!(from_markdown("c.md", file).expect("import").view.imported_credits, ["Zoé", "Yann"]);
}

#[test]
fn hand_written_files_import_with_defaults() {
    let file = "---\ntitle: Écoles ouvertes\ntags: [écoles, été]\ncreated: 2026-11-20\n---\nTexte.\n";
    let view = from_markdown("e.md", file).expect("import").view;
    assert_eq!(view.kind, Kind::Page);
    assert_eq!(view.slug, "ecoles-ouvertes");
    assert_eq!(view.license, "CC-BY-4.0");
    assert_eq!(view.status, Status::Draft);
    assert_eq!(view.tags, ["écoles", "été"]);
    assert_eq!(view.created_ms, Some(1_795_132_800_000));
    assert_eq!(view.body, "Texte.\n");
}

fn any_text() -> impl Strategy<Value = String> {
    // Any Unicode, with a bias towards the characters YAML treats specially.
    prop_oneof![
        ".{0,30}",
        proptest::collection::vec(
            prop_oneof![
                Just("\n".to_owned()),
                Just("\r\n".to_owned()),
                Just("\"".to_owned()),
                Just("\\".to_owned()),
                Just("---".to_owned()),
                Just(": ".to_owned()),
                Just("#".to_owned()),
                Just("\u{85}".to_owned()),
                Just("\u{2028}".to_owned()),
                Just("\u{feff}".to_owned()),
                Just("\t".to_owned()),
                Just("\u{0}".to_owned()),
                Just("\u{7f}".to_owned()),
                Just("\u{fffe}".to_owned()),
                Just("é😀".to_owned()),
                Just("'".to_owned()),
                Just(" ".to_owned()),
                Just("yes".to_owned()),
                Just("null".to_owned()),
                Just("~".to_owned()),
            ],
            0..12,
        )
        .prop_map(|v| v.concat()),
    ]
}

fn any_view() -> impl Strategy<Value = DocView> {
    let list = || proptest::collection::vec(any_text(), 0..4);
    let action = (any_text(), any_text(), any_text(), any::<bool>()).prop_map(|(text, owner, due, done)| Action { text, owner, due, done });
    let minutes = (any_text(), any_text(), any_text(), list(), list(), list(), proptest::collection::vec(action, 0..3)).prop_map(
        |(starts_at, place, facilitator, participants, agenda, decisions, actions)| MinutesFields {
            starts_at,
            place,
            facilitator,
            participants,
            agenda,
            decisions,
            actions,
        },
    );
    (
        any_text().prop_filter("a title", |t| !t.trim().is_empty()),
        "[a-z0-9]{1,8}(-[a-z0-9]{1,8}){0,3}",
        any_text(),
        list(),
        list(),
        any::<bool>(),
        proptest::option::of(0i64..4_000_000_000),
        proptest::option::of(minutes),
    )
        .prop_map(|(title, slug, body, tags, credits, published, created, minutes)| DocView {
            kind: if minutes.is_some() { Kind::Minutes } else { Kind::Page },
            schema_version: cahier_doc::schema::SCHEMA_VERSION,
            title,
            slug,
            body,
            tags,
            license: "CC-BY-SA-4.0".into(),
            status: if published { Status::Published } else { Status::Draft },
            created_ms: created.map(|s| s * 1000),
            updated_ms: created.map(|s| s * 1000 + 7000),
            imported_credits: credits,
            minutes,
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]
    #[test]
    fn any_document_survives_export_import_export(mut view in any_view()) {
        // Credits name each person once (import keeps the first of duplicates
        // and drops blank names; see `duplicate_and_blank_contributors…`).
        view.imported_credits = cahier_doc::markdown::distinct_names(view.imported_credits);
        let credits = view.imported_credits.clone();
        let first = to_markdown(&view, &credits);
        let back = from_markdown("p.md", &first).map_err(|e| TestCaseError::fail(format!("{e}\n{first}")))?;
        prop_assert_eq!(&back.view, &view);
        // Through a real document, as `cahier import` then `cahier export` do.
        let doc = new_document(&back.view, &Editor::import(), T0).expect("doc");
        let (second, _) = export_document(&doc);
        let expected = if view.body.is_empty() {
            // Nothing imported survives, so nobody is credited.
            to_markdown(&view, &[])
        } else {
            first
        };
        prop_assert_eq!(second, expected);
    }
}

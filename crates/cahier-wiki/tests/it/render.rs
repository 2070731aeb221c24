//! Rendering, as a table of Markdown inputs and the exact HTML readers get.

use cahier_wiki::{Lang, render};

/// Pages that exist in these cases.
fn exists(slug: &str) -> bool {
    matches!(slug, "accueil" | "ecoles-ouvertes")
}

const R: &str = " rel=\"noopener noreferrer nofollow\"";

#[test]
fn markdown_renders_as_readers_expect() {
    let cases: Vec<(&str, &str, String)> = vec![
        ("wiki link by title", "Voir [[Accueil]].", format!("<p>Voir <a href=\"/wiki/accueil\"{R}>Accueil</a>.</p>\n")),
        (
            "wiki link by title with accents",
            "[[Écoles ouvertes]]",
            format!("<p><a href=\"/wiki/ecoles-ouvertes\"{R}>Écoles ouvertes</a></p>\n"),
        ),
        (
            "wiki link by slug with a label",
            "[[accueil|la page d’accueil]]",
            format!("<p><a href=\"/wiki/accueil\"{R}>la page d’accueil</a></p>\n"),
        ),
        (
            "wiki link to a page that does not exist yet",
            "[[Page à venir]]",
            format!(
                "<p><a class=\"missing\" href=\"/wiki/page-a-venir\" title=\"Page inexistante / missing page: page-a-venir\"{R}>Page à venir</a></p>\n"
            ),
        ),
        ("wiki link to nothing", "[[ ]] [[!!!]]", "<p>[[]] [[!!!]]</p>\n".to_owned()),
        (
            "footnote",
            "Texte[^n].\n\n[^n]: La note.",
            format!(
                "<p>Texte<sup class=\"footnote-ref\"><a href=\"#fn-n\" id=\"fnref-n\" data-footnote-ref=\"\"{R}>1</a></sup>.</p>\n\
<section class=\"footnotes\" data-footnotes=\"\">\n<ol>\n<li id=\"fn-n\">\n<p>La note. \
<a href=\"#fnref-n\" class=\"footnote-backref\" data-footnote-backref=\"\"{R}>↩</a></p>\n</li>\n</ol>\n</section>\n"
            ),
        ),
        (
            "French typography: no-break spaces before ; : ! ? » and after «",
            "« Bonjour » ; vraiment ! Pourquoi ? Réponse : oui.",
            "<p>«&nbsp;Bonjour&nbsp;»\u{202f}; vraiment\u{202f}! Pourquoi\u{202f}? Réponse&nbsp;: oui.</p>\n".to_owned(),
        ),
        (
            "French typography leaves URLs and times alone",
            "Voir https://example.org:8080/a et 18:30.",
            format!("<p>Voir <a href=\"https://example.org:8080/a\"{R}>https://example.org:8080/a</a> et 18:30.</p>\n"),
        ),
        (
            "heading anchor",
            "## Ordre du jour",
            format!("<h2 id=\"h-ordre-du-jour\">Ordre du jour<a href=\"#h-ordre-du-jour\" class=\"anchor\"{R}></a></h2>\n"),
        ),
        (
            "task list",
            "- [x] fait\n- [ ] à faire",
            "<ul>\n<li><input type=\"checkbox\" checked=\"\" disabled=\"\" aria-label=\"fait\"> fait</li>\n<li><input type=\"checkbox\" disabled=\"\" aria-label=\"à faire\"> à faire</li>\n</ul>\n"
                .to_owned(),
        ),
        (
            "table",
            "| Qui | Quoi |\n|---|---|\n| Léa | accueil |",
            "<table>\n<thead>\n<tr>\n<th>Qui</th>\n<th>Quoi</th>\n</tr>\n</thead>\n<tbody>\n<tr>\n<td>Léa</td>\n<td>accueil</td>\n</tr>\n</tbody>\n</table>\n"
                .to_owned(),
        ),
        ("strikethrough", "~~annulé~~", "<p><del>annulé</del></p>\n".to_owned()),
        ("autolink", "www.example.org", format!("<p><a href=\"http://www.example.org\"{R}>www.example.org</a></p>\n")),
        ("raw HTML is shown as text", "a <b>gras</b>", "<p>a &lt;b&gt;gras&lt;/b&gt;</p>\n".to_owned()),
        ("javascript: link keeps only its text", "[clic](javascript:alert(1))", "<p>clic</p>\n".to_owned()),
        ("data: image keeps only its text", "![image](data:text/html;base64,PHNjcmlwdD4=)", "<p>image</p>\n".to_owned()),
        ("mailto is kept", "[écrire](mailto:a@example.org)", format!("<p><a href=\"mailto:a@example.org\"{R}>écrire</a></p>\n")),
    ];
    let mut failures = Vec::new();
    for (name, md, expected) in &cases {
        let got = render(md, &exists).html(Lang::Fr).into_owned();
        if &got != expected {
            failures.push(format!("{name}\n  input:    {md:?}\n  expected: {expected:?}\n  got:      {got:?}"));
        }
    }
    assert!(failures.is_empty(), "{} of {} cases differ:\n{}", failures.len(), cases.len(), failures.join("\n"));
}

#[test]
fn a_long_page_gets_a_table_of_contents_whose_links_reach_its_headings() {
    let md = "Intro.\n\n## Avant\n\ntexte\n\n### Matériel : liste\n\n## Pendant\n\n> ## Cité, pas listé\n\n## Avant\n\n## main\n";
    let r = render(md, &exists);
    let toc: Vec<(u8, &str, &str)> = r.toc.iter().map(|h| (h.level, h.id.as_str(), h.text.as_str())).collect();
    assert_eq!(
        toc,
        [
            (2, "h-avant", "Avant"),
            (3, "h-matériel-liste", "Matériel\u{a0}: liste"),
            (2, "h-pendant", "Pendant"),
            (2, "h-avant-1", "Avant"),
            (2, "h-main", "main"),
        ],
        "headings at the top level, repeated titles numbered as their ids are"
    );
    // Every entry's anchor is a heading's id in the page, once; none takes the
    // id of the page around it.
    let html = r.html(Lang::Fr);
    for h in &r.toc {
        assert_eq!(html.matches(&format!("<h{} id=\"{}\">", h.level, h.id)).count(), 1, "{} in {html}", h.id);
    }
    assert!(!html.contains("id=\"main\""), "{html}");

    for short in ["Un paragraphe.", "## Un\n\n## Deux\n", "## Un\n\n> ## Deux\n\n- ## Trois\n"] {
        assert!(render(short, &exists).toc.is_empty(), "no table of contents for {short:?}");
    }
}

#[test]
fn wiki_links_are_listed_once_each_in_order() {
    let r = render("[[Écoles ouvertes]], [[accueil]], [[Écoles ouvertes|encore]] et [[Nouvelle page]]", &exists);
    assert_eq!(r.links, ["ecoles-ouvertes", "accueil", "nouvelle-page"]);
}

#[test]
fn plain_text_drops_markup_for_search() {
    let t = cahier_wiki::render::plain_text("# Titre\n\nUn *mot* et `code`.\n\n- un\n- deux");
    assert_eq!(t.split_whitespace().collect::<Vec<_>>(), ["Titre", "Un", "mot", "et", "code.", "un", "deux"]);
}

/// Renders on a thread and waits at most `secs` for it: a renderer stuck in
/// quadratic work fails the test instead of hanging it.
fn render_within(markdown: String, secs: u64) -> render::Rendered {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(render::render(&markdown, &exists));
    });
    rx.recv_timeout(std::time::Duration::from_secs(secs)).expect("rendering finishes (nesting is capped)")
}

#[test]
fn hostile_nesting_is_flattened_at_the_limit_and_its_text_kept() {
    for (name, markdown) in [
        ("200,000 quote levels", format!("{} fin du texte", ">".repeat(200_000))),
        ("spaced quotes", format!("{} fin du texte", "> ".repeat(100_000))),
        ("quotes and list items", format!("{} fin du texte", "> - ".repeat(60_000))),
        ("ordered items", format!("{} fin du texte", "1. ".repeat(60_000))),
    ] {
        let html = render_within(markdown, 60).html(Lang::Fr).into_owned();
        let depth = html.matches("<blockquote>").count() + html.matches("<li>").count();
        assert!(depth <= render::MAX_NESTING, "{name}: {depth} levels rendered");
        assert!(html.contains("fin du texte"), "{name}: the text is kept");
    }
    // Real nesting, a few levels deep, is left alone.
    let normal = "> Camille :\n> > Léo a dit\n> > - oui\n> >   - non\n";
    assert_eq!(render::limit_nesting(normal), normal);
}

#[test]
fn task_boxes_say_whether_the_task_is_done_in_the_readers_language() {
    let r = render::render("- [ ] réserver la salle\n- [x] envoyer l'invitation\n", &exists);
    for (lang, open, done) in [(Lang::Fr, "à faire", "fait"), (Lang::En, "to do", "done")] {
        let html = r.html(lang);
        assert!(
            html.contains(&format!("<input type=\"checkbox\" disabled=\"\" aria-label=\"{open}\"> réserver"))
                && html.contains(&format!("<input type=\"checkbox\" checked=\"\" disabled=\"\" aria-label=\"{done}\"> envoyer")),
            "{lang:?}: {html}"
        );
        assert_eq!(html.matches("aria-label").count(), 2, "{html}");
    }
    // A writer's own words cannot pass for a label.
    let typed = render::render("<input type=\"checkbox\" disabled=\"\"> `<input type=\"checkbox\" disabled=\"\">`", &exists);
    assert!(!typed.html(Lang::En).contains("aria-label"), "{}", typed.html(Lang::En));
}

#[test]
fn dates_read_as_french_and_english_readers_write_them_in_the_servers_zone() {
    use cahier_wiki::html::date;
    use cahier_wiki::i18n::Lang;
    let paris = jiff::tz::TimeZone::get("Europe/Paris").expect("the system's time zone database");
    let utc = jiff::tz::TimeZone::UTC;
    // 2026-12-01T07:24Z, 2026-07-14T20:05Z
    let (december, july) = (1_796_109_840_000, 1_784_059_500_000);
    let cases = [
        (Lang::Fr, &paris, december, "1er décembre 2026 à 8\u{a0}h\u{a0}24"),
        (Lang::En, &paris, december, "1 December 2026 at 08:24"),
        (Lang::Fr, &paris, july, "14 juillet 2026 à 22\u{a0}h\u{a0}05"),
        (Lang::Fr, &utc, december, "1er décembre 2026 à 7\u{a0}h\u{a0}24 UTC"),
    ];
    for (lang, zone, ms, expected) in cases {
        assert_eq!(date(lang, zone, ms), expected);
    }
}

/// A small deterministic generator of hostile Markdown: deep and mixed
/// nesting, long runs of brackets, emphasis, tables, links and raw HTML.
fn hostile_markdown(seed: u64) -> String {
    let mut x = seed | 1;
    let mut next = move |n: u64| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x % n.max(1)
    };
    let pieces = ["> ", "- ", "* ", "1. ", "  ", "[", "]", "(", ")", "*", "_", "`", "|", "<div>", "[[", "]]", "#", "\n", "x", "é"];
    let mut out = String::new();
    let lines = 1 + next(40);
    for _ in 0..lines {
        let depth = [0, 1, 5, 40, 2_000][next(5) as usize];
        for _ in 0..depth {
            out.push_str(pieces[next(5) as usize]);
        }
        let run = [1, 10, 1_000, 20_000][next(4) as usize];
        let piece = pieces[next(pieces.len() as u64) as usize];
        for _ in 0..run.min(50_000 / piece.len().max(1)) {
            out.push_str(piece);
        }
        out.push('\n');
    }
    out
}

#[test]
fn generated_hostile_markdown_renders_flat_safe_and_in_bounded_time() {
    let cases: u64 = std::env::var("CAHIER_FUZZ_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(60);
    for seed in 1..=cases {
        let markdown = hostile_markdown(seed);
        let html = render_within(markdown.clone(), 60).html(Lang::Fr).into_owned();
        let depth = html.matches("<blockquote>").count();
        assert!(depth <= render::MAX_NESTING * (markdown.lines().count() + 1), "seed {seed}: {depth} quotes");
        assert!(!html.contains("<div>") && !html.contains("<script"), "seed {seed}: raw HTML came through");
    }
}

#[test]
fn minutes_keep_their_line_breaks_as_typed_and_pages_follow_markdown() {
    use cahier_doc::Kind;
    let notes = "Camille : on commence.\nLéa : d’accord.\n\n- Zoé : présente\n  Noé aussi";
    let minutes = cahier_wiki::render_as(notes, Kind::Minutes, &exists).html(Lang::Fr).into_owned();
    assert_eq!(
        minutes, "<p>Camille&nbsp;: on commence.<br>\nLéa&nbsp;: d’accord.</p>\n<ul>\n<li>Zoé&nbsp;: présente<br>\nNoé aussi</li>\n</ul>\n",
        "one line per speaker stays one line in minutes"
    );
    let page = render(notes, &exists).html(Lang::Fr).into_owned();
    assert!(!page.contains("<br"), "a page's single line breaks join its lines, as in Markdown: {page}");
}

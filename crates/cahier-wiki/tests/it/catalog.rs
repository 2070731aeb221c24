//! The catalog: backlinks, tags, and links that appear when their page is published.

use cahier_doc::DocId;
use cahier_wiki::{Catalog, Published};

fn page(n: u8, slug: &str, body: &str, tags: &[&str]) -> Published {
    Published {
        id: DocId::from_random([n; 16]),
        slug: slug.into(),
        title: slug.to_uppercase(),
        tags: tags.iter().map(|t| t.to_string()).collect(),
        kind: cahier_doc::Kind::Page,
        body: body.into(),
        license: "CC-BY-4.0".into(),
        heads: vec![format!("{n:02x}")],
        published_ms: 0,
        published_by: "léa".into(),
        contributors: vec!["léa".into()],
        rendered: cahier_wiki::render("", &|_: &str| false),
    }
}

#[test]
fn a_missing_link_turns_into_a_link_when_its_page_is_published() {
    let mut c = Catalog::default();
    c.upsert(page(1, "a", "voir [[b]]", &["x"]));
    assert!(c.get("a").expect("a").rendered.html(cahier_wiki::Lang::Fr).contains("class=\"missing\""));
    c.upsert(page(2, "b", "retour à [[a]]", &["x", "y"]));
    let a = c.get("a").expect("a");
    assert!(!a.rendered.html(cahier_wiki::Lang::Fr).contains("missing"), "{}", a.rendered.html(cahier_wiki::Lang::Fr));
    assert_eq!(c.backlinks("b").iter().map(|p| p.slug.as_str()).collect::<Vec<_>>(), ["a"]);
    assert_eq!(c.backlinks("a").iter().map(|p| p.slug.as_str()).collect::<Vec<_>>(), ["b"]);
    let tags = c.tags();
    assert_eq!(tags["x"].len(), 2);
    assert_eq!(tags["y"].len(), 1);
    // Unpublishing b: a's link is missing again, and b has no backlinks to give.
    c.remove(&DocId::from_random([2; 16]));
    assert!(c.get("a").expect("a").rendered.html(cahier_wiki::Lang::Fr).contains("class=\"missing\""));
    assert!(c.get("b").is_none());
}

#[test]
fn a_page_whose_slug_changes_moves() {
    let mut c = Catalog::default();
    c.upsert(page(1, "ancien", "texte", &[]));
    c.upsert(page(1, "nouveau", "texte", &[]));
    assert!(c.get("ancien").is_none());
    assert!(c.get("nouveau").is_some());
    assert_eq!(c.len(), 1);
}

#[test]
fn published_minutes_keep_one_line_per_speaker() {
    let mut c = Catalog::default();
    let mut minutes = page(7, "reunion", "Camille : bonjour.\nLéa : salut.", &[]);
    minutes.kind = cahier_doc::Kind::Minutes;
    c.upsert(minutes);
    c.upsert(page(8, "guide", "Une ligne\net la suite.", &[]));
    let html = c.get("reunion").expect("minutes").rendered.html(cahier_wiki::Lang::Fr);
    assert!(html.contains("Camille&nbsp;: bonjour.<br>\nLéa&nbsp;: salut."), "{html}");
    let html = c.get("guide").expect("page").rendered.html(cahier_wiki::Lang::Fr);
    assert!(!html.contains("<br"), "{html}");
}

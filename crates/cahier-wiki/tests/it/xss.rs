//! Injection: every script-injection string of a public corpus (the Big List
//! of Naughty Strings, installed by the test command in `tests/js`), put raw and
//! inside each Markdown construct that carries text or a URL. The rendered HTML,
//! parsed as a browser would, holds no script, no event handler and no dangerous URL. (The browser half,
//! loading such a page in Chromium, is in the server's browser tests.)

use cahier_wiki::render;

fn corpus() -> Vec<String> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/js/node_modules/big-list-of-naughty-strings/blns.json");
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{path}: {e}; run ./scripts/test, which installs the test packages (npm) first"));
    let all: Vec<String> = serde_json::from_str(&text).expect("blns.json is a JSON array of strings");
    assert!(all.len() > 400, "the corpus is the whole list");
    all
}

/// Each payload in every place Markdown lets text or URLs go.
fn contexts(p: &str) -> Vec<String> {
    vec![
        p.to_owned(),
        format!("\n\n{p}\n\n"),
        format!("[lien]({p})"),
        format!("[{p}](https://example.org)"),
        format!("[lien](<{p}>)"),
        format!("![{p}]({p})"),
        format!("<{p}>"),
        format!("| a | b |\n|---|---|\n| {p} | [x]({p}) |"),
        format!("Texte[^1].\n\n[^1]: {p} [x]({p})"),
        format!("[[{p}]] [[accueil|{p}]]"),
        format!("# {p}"),
        format!("- [ ] {p}"),
        format!("[ref][r]\n\n[r]: {p}"),
    ]
}

/// What makes rendered HTML dangerous, found by parsing it as a browser would:
/// a scripting or embedding element, an event handler, a style, or a URL
/// attribute with a scheme that runs code or embeds content.
fn dangerous(html: &str) -> Option<String> {
    let doc = scraper::Html::parse_fragment(html);
    for node in doc.tree.nodes() {
        let Some(el) = node.value().as_element() else { continue };
        let name = el.name();
        if matches!(name, "script" | "iframe" | "object" | "embed" | "svg" | "math" | "style" | "form" | "meta" | "base" | "link" | "frame")
        {
            return Some(format!("<{name}>"));
        }
        for (attr, value) in el.attrs() {
            let attr = attr.to_ascii_lowercase();
            if attr.starts_with("on") || matches!(attr.as_str(), "style" | "formaction" | "srcdoc" | "srcset") || attr.contains(':') {
                return Some(format!("attribute {attr}"));
            }
            if matches!(attr.as_str(), "href" | "src" | "action" | "cite" | "poster" | "background") {
                let v: String = value.chars().filter(|c| !c.is_whitespace() && !c.is_control()).collect::<String>().to_ascii_lowercase();
                for scheme in ["javascript:", "vbscript:", "data:", "file:"] {
                    if v.starts_with(scheme) {
                        return Some(format!("{attr}={v}"));
                    }
                }
            }
        }
    }
    None
}

#[test]
fn no_payload_of_the_corpus_survives_rendering() {
    let exists = |s: &str| s == "accueil";
    let mut checked = 0;
    let mut failures = Vec::new();
    for payload in corpus() {
        for md in contexts(&payload) {
            let html = render(&md, &exists).html(cahier_wiki::Lang::Fr).into_owned();
            checked += 1;
            if let Some(what) = dangerous(&html) {
                failures.push(format!("{what} in {html:?} from {md:?}"));
            }
        }
    }
    assert!(checked > 5000, "checked {checked} renderings");
    assert!(failures.is_empty(), "{} dangerous renderings, first ones:\n{}", failures.len(), failures[..failures.len().min(5)].join("\n"));
}

#[test]
fn the_checker_itself_sees_dangerous_html() {
    // The test above is only as good as `dangerous`: it must flag each kind.
    for html in [
        "<script>x</script>",
        "<a href=\"javascript:x\">",
        "<img src=\"data:image/svg+xml,x\">",
        "<img src=x onerror=alert(1)>",
        "<p onclick = \"x\">",
        "<a href=\"vbscript:x\">",
        "<svg/onload=x>",
    ] {
        assert!(dangerous(html).is_some(), "{html} should be flagged");
    }
    assert_eq!(dangerous("<p>javascript: est un mot, onload=texte &lt;script&gt;</p>"), None);
    assert_eq!(dangerous("<a href=\"/wiki/x\" title=\"javascript:\">x</a>"), None);
}

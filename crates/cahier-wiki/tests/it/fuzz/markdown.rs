//! The Markdown pipeline on fuzzer bytes: the `markdown` target of `cargo fuzz`
//! (`fuzz/`) and the normal test run, which replays the target's corpus
//! (`tests/corpus/markdown`) through this same oracle.
//!
//! [`run`] reads the bytes with `arbitrary` as either a whole file or a
//! pattern (a prefix, a unit repeated up to 20,000 times, a suffix: deep
//! quotes and lists, long tables, many footnotes), with or without front
//! matter. The file goes through what Cahier does with one: the front matter
//! is parsed as an import does, and the body is rendered for readers and
//! reduced to plain text for search. The oracle: no panic, and the HTML holds
//! no scripting or embedding element, no event handler, no style and no URL
//! with a scheme that runs code, read as a browser parses it. Time is bounded
//! by the fuzzer's `-timeout`.

use arbitrary::Unstructured;
use cahier_wiki::render;

/// Replays one input; panics when the oracle fails.
pub fn run(data: &[u8]) {
    let text = file(Unstructured::new(data));
    let exists = |s: &str| s == "accueil";
    let body = match cahier_doc::markdown::from_markdown("fuzz.md", &text) {
        Ok(imported) => {
            // An imported file exports again to a file that imports the same.
            let view = imported.view;
            let again = cahier_doc::markdown::to_markdown(&view, &view.imported_credits);
            let back = cahier_doc::markdown::from_markdown("fuzz.md", &again).expect("an exported file imports");
            assert_eq!(back.view, view, "export then import gives the same document");
            view.body
        }
        Err(e) => {
            assert!(e.line >= 1, "errors name a line: {e}");
            text
        }
    };
    let html = render::render(&body, &exists).html(cahier_wiki::Lang::Fr).into_owned();
    if let Some(what) = dangerous(&html) {
        panic!("{what} in the rendered HTML {html:?}");
    }
    let _ = render::plain_text(&body);
}

/// The file a fuzzer input stands for.
fn file(mut u: Unstructured<'_>) -> String {
    let u = &mut u;
    let front = match u.int_in_range(0..=3u8).unwrap_or(0) {
        0 => "---\ntitle: Page\n---\n".to_owned(),
        1 => format!("---\n{}\n---\n", text(u, 200)),
        _ => String::new(),
    };
    let body = if u.ratio(1, 2).unwrap_or(true) {
        let prefix = text(u, 64);
        let unit = text(u, 16);
        // Mostly a few repeats; one time in eight, up to 20,000.
        let most = if u.ratio(1, 8).unwrap_or(false) { 20_000 } else { 64 };
        let times = u.int_in_range(0..=most).unwrap_or(0);
        let suffix = text(u, 64);
        format!("{prefix}{}{suffix}", unit.repeat(times))
    } else {
        let rest = std::mem::replace(u, Unstructured::new(&[]));
        String::from_utf8_lossy(rest.take_rest()).into_owned()
    };
    front + &body
}

fn text(u: &mut Unstructured<'_>, max: usize) -> String {
    let n = u.int_in_range(0..=max).unwrap_or(0);
    String::from_utf8_lossy(u.bytes(n).unwrap_or_default()).into_owned()
}

/// What makes rendered HTML dangerous, found by parsing it as a browser would.
fn dangerous(html: &str) -> Option<String> {
    let doc = scraper::Html::parse_fragment(html);
    for node in doc.tree.nodes() {
        let Some(el) = node.value().as_element() else { continue };
        let name = el.name();
        if matches!(
            name,
            "script" | "iframe" | "object" | "embed" | "svg" | "math" | "style" | "form" | "meta" | "base" | "link" | "frame" | "template"
        ) {
            return Some(format!("<{name}>"));
        }
        for (attr, value) in el.attrs() {
            let attr = attr.to_ascii_lowercase();
            if attr.starts_with("on") || matches!(attr.as_str(), "style" | "formaction" | "srcdoc" | "srcset") {
                return Some(format!("attribute {attr}"));
            }
            if matches!(attr.as_str(), "href" | "src" | "action" | "cite" | "poster" | "background") {
                let v: String = value.chars().filter(|c| !c.is_whitespace() && !c.is_control()).collect::<String>().to_ascii_lowercase();
                if ["javascript:", "vbscript:", "data:", "file:"].iter().any(|s| v.starts_with(s)) {
                    return Some(format!("{attr}={v}"));
                }
            }
        }
    }
    None
}

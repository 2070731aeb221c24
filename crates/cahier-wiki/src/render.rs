//! Markdown to safe HTML, the one renderer readers and the editor's preview share.
//!
//! Three layers, so that one mistake is not enough to let a script through:
//! 1. the syntax tree is rewritten before rendering: raw HTML from the author
//!    becomes visible text, link and image URLs outside an allowlist are dropped,
//!    wiki links are resolved;
//! 2. comrak renders the tree;
//! 3. ammonia cleans the output against an allowlist of tags, attributes, classes
//!    and URL schemes.
//!
//! Pages are also served with a Content-Security-Policy that forbids scripts.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::sync::OnceLock;

use cahier_doc::Kind;
use comrak::nodes::{AstNode, NodeValue};
use comrak::{Arena, Options};

use crate::i18n::Lang;

/// What rendering produced.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rendered {
    /// Sanitised HTML, the same for every reader; its task-list boxes get
    /// their label in the reader's language when read ([`Rendered::html`]).
    pub(crate) html: String,
    /// Slugs this page links to with wiki links, in order, each once.
    pub links: Vec<String>,
    /// The table of contents: the page's headings (levels 1 to 3, outside
    /// quotes and lists) when it has at least [`TOC_MIN_HEADINGS`] of them,
    /// each with the id its heading carries in `html`; empty otherwise.
    pub toc: Vec<Heading>,
}

impl Rendered {
    /// The HTML a reader of `lang` gets: task-list boxes are named "à faire" /
    /// "fait" in French, "to do" / "done" in English.
    pub fn html(&self, lang: Lang) -> Cow<'_, str> {
        label_task_boxes(&self.html, lang)
    }
}

/// A heading, as the table of contents lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Heading {
    pub level: u8,
    /// The heading's `id` in the page: [`HEADING_ID_PREFIX`] and its text,
    /// made an anchor (letters, digits, `-` and `_` only).
    pub id: String,
    /// Its text, plain (not escaped).
    pub text: String,
}

/// Headings' ids start with this, so that no heading a writer types can take
/// the id of a part of the page around it (`main`, the search box's `q`…).
pub const HEADING_ID_PREFIX: &str = "h-";

/// A page with this many headings or more gets a table of contents.
pub const TOC_MIN_HEADINGS: usize = 3;

/// Answers whether a page with this slug is published (wiki links to other
/// slugs are shown as missing), and the size of the pictures stored by Cahier.
pub trait Pages {
    fn exists(&self, slug: &str) -> bool;
    /// The width and height of the stored picture `HASH.EXT` (at
    /// `/files/HASH.EXT`), if known: its `<img>` then gets its size and the
    /// smaller copies phones load ([`IMAGE_WIDTHS`]).
    fn image_size(&self, _name: &str) -> Option<(u32, u32)> {
        None
    }
}

impl<F: Fn(&str) -> bool> Pages for F {
    fn exists(&self, slug: &str) -> bool {
        self(slug)
    }
}

/// Where wiki links point: `/wiki/` followed by the slug.
pub const WIKI_PREFIX: &str = "/wiki/";

/// Where the pictures and attachments stored by Cahier are: `/files/HASH.EXT`,
/// and their smaller copies `/files/HASH.wWIDTH.EXT` for each of [`IMAGE_WIDTHS`]
/// narrower than the picture.
pub const FILES_PREFIX: &str = "/files/";
/// The widths of the smaller copies of a stored picture.
pub const IMAGE_WIDTHS: [u32; 2] = [480, 960];

fn options(kind: Kind) -> Options<'static> {
    let mut o = Options::default();
    // Minutes keep their line breaks as typed: one line per speaker stays one
    // line (as HedgeDoc shows them), where Markdown would join them.
    o.render.hardbreaks = kind == Kind::Minutes;
    o.extension.strikethrough = true;
    o.extension.table = true;
    o.extension.autolink = true;
    o.extension.tasklist = true;
    o.extension.footnotes = true;
    o.extension.header_id_prefix = Some(HEADING_ID_PREFIX.to_owned());
    o.extension.header_id_prefix_in_href = true;
    o.extension.wikilinks_title_after_pipe = true;
    // Raw HTML nodes are turned into text before rendering (see `neutralise`), so
    // the only HTML nodes left are the ones this module writes itself.
    o.render.r#unsafe = true;
    o
}

/// Containers (quotes, list items) a line may open before its text. comrak's
/// time grows with the square of blockquote nesting (20,000 levels: seconds;
/// 200,000: minutes), and nobody writes more than a few levels.
pub const MAX_NESTING: usize = 32;

/// `markdown` with every line's container markers beyond [`MAX_NESTING`]
/// dropped: the deepest quotes and list items are flattened into the one at
/// the limit, and their text is kept.
pub fn limit_nesting(markdown: &str) -> Cow<'_, str> {
    let over = markdown.lines().any(|line| containers(line).1 > MAX_NESTING);
    if !over {
        return Cow::Borrowed(markdown);
    }
    let mut out = String::with_capacity(markdown.len());
    for line in markdown.split_inclusive('\n') {
        let (cut, depth, end) = containers(line);
        if depth > MAX_NESTING {
            out.push_str(&line[..cut]);
            out.push(' ');
            out.push_str(&line[end..]);
        } else {
            out.push_str(line);
        }
    }
    Cow::Owned(out)
}

/// Where the [`MAX_NESTING`]th container marker of `line` ends, how many
/// markers open it, and where the last one ends (byte offsets).
fn containers(line: &str) -> (usize, usize, usize) {
    let b = line.as_bytes();
    let (mut i, mut depth, mut cut) = (0, 0, 0);
    loop {
        while i < b.len() && (b[i] == b' ' || b[i] == b'\t') {
            i += 1;
        }
        let after = match b.get(i) {
            Some(b'>') => i + 1,
            Some(b'-' | b'+' | b'*') if matches!(b.get(i + 1), Some(b' ' | b'\t')) => i + 2,
            Some(c) if c.is_ascii_digit() => {
                let digits = b[i..].iter().take_while(|c| c.is_ascii_digit()).count();
                if digits <= 9 && matches!(b.get(i + digits), Some(b'.' | b')')) && matches!(b.get(i + digits + 1), Some(b' ' | b'\t')) {
                    i + digits + 2
                } else {
                    return (cut, depth, i);
                }
            }
            _ => return (cut, depth, i),
        };
        depth += 1;
        i = after;
        if depth == MAX_NESTING {
            cut = i;
        }
    }
}

/// Renders a page's Markdown as sanitised HTML. Never fails: any input gives some HTML.
pub fn render(markdown: &str, pages: &dyn Pages) -> Rendered {
    render_as(markdown, Kind::Page, pages)
}

/// Renders a document's Markdown as its kind reads: like [`render`], and
/// minutes keep every line break as typed.
pub fn render_as(markdown: &str, kind: Kind, pages: &dyn Pages) -> Rendered {
    let arena = Arena::new();
    let options = options(kind);
    let markdown = limit_nesting(markdown);
    let root = comrak::parse_document(&arena, &markdown, &options);
    let mut links = Vec::new();
    rewrite(&arena, root, pages, &mut links);
    let mut html = String::new();
    // Writing into a String cannot fail.
    let _ = comrak::format_html(root, &options, &mut html);
    let html = sized_images(&sanitizer().clean(&html).to_string(), pages);
    let mut toc = headings(root);
    // Only entries whose anchor survived the sanitiser, so that every link works.
    toc.retain(|h| html.contains(&format!(" id=\"{}\"", h.id)));
    if toc.len() < TOC_MIN_HEADINGS {
        toc.clear();
    }
    Rendered { html, links, toc }
}

/// The headings of the document at its top level, levels 1 to 3, with the
/// ids comrak gives them: the same anchorizer, fed every heading in the order
/// comrak renders them (so that repeated titles get the same `-1`, `-2`).
fn headings<'a>(root: &'a AstNode<'a>) -> Vec<Heading> {
    let mut anchors = comrak::Anchorizer::new();
    let mut out = Vec::new();
    for node in root.descendants() {
        let level = match &node.data().value {
            NodeValue::Heading(h) => h.level,
            _ => continue,
        };
        let text = node.collect_text();
        let id = format!("{HEADING_ID_PREFIX}{}", anchors.anchorize(&text));
        let top = node.parent().is_some_and(|p| matches!(p.data().value, NodeValue::Document));
        if top && level <= 3 {
            out.push(Heading { level, id, text: text.trim().to_owned() });
        }
    }
    out
}

/// Stored pictures whose size is known get it (no jump when they load) and a
/// `srcset` of their smaller copies, so that a phone loads the one its screen
/// needs; without JavaScript. Runs on the sanitised HTML, where every `<img`
/// is ammonia's and its `src` is quoted and escaped.
fn sized_images(html: &str, pages: &dyn Pages) -> String {
    const OPEN: &str = "<img src=\"/files/";
    if !html.contains(OPEN) {
        return html.to_owned();
    }
    let mut out = String::with_capacity(html.len() + 256);
    let mut rest = html;
    while let Some(at) = rest.find(OPEN) {
        let after = at + OPEN.len();
        out.push_str(&rest[..after]);
        rest = &rest[after..];
        let Some(end) = rest.find('"') else { continue };
        let name = &rest[..end];
        out.push_str(name);
        out.push('"');
        rest = &rest[end + 1..];
        let Some((w, h)) = pages.image_size(name) else { continue };
        let Some((stem, ext)) = name.rsplit_once('.') else { continue };
        out.push_str(&format!(" width=\"{w}\" height=\"{h}\""));
        let smaller: Vec<u32> = IMAGE_WIDTHS.into_iter().filter(|&x| x < w).collect();
        if !smaller.is_empty() && ext != "gif" {
            let mut set: Vec<String> = smaller.iter().map(|x| format!("{FILES_PREFIX}{stem}.w{x}.{ext} {x}w")).collect();
            set.push(format!("{FILES_PREFIX}{name} {w}w"));
            out.push_str(&format!(" srcset=\"{}\" sizes=\"(max-width: 46rem) 100vw, 46rem\"", set.join(", ")));
        }
        out.push_str(" loading=\"lazy\"");
    }
    out.push_str(rest);
    out
}

/// Task-list checkboxes get a name screen readers announce, in the reader's
/// language (the item's text follows the box; the box itself says whether
/// the task is done). Runs on the sanitised HTML, where every box is comrak's.
fn label_task_boxes(html: &str, lang: Lang) -> Cow<'_, str> {
    if !html.contains("<input type=\"checkbox\"") {
        return Cow::Borrowed(html);
    }
    let t = lang.t();
    Cow::Owned(
        html.replace(
            "<input type=\"checkbox\" checked=\"\" disabled=\"\">",
            &format!("<input type=\"checkbox\" checked=\"\" disabled=\"\" aria-label=\"{}\">", t.task_done),
        )
        .replace(
            "<input type=\"checkbox\" disabled=\"\">",
            &format!("<input type=\"checkbox\" disabled=\"\" aria-label=\"{}\">", t.task_open),
        ),
    )
}

/// The plain text of some Markdown, for search and summaries.
pub fn plain_text(markdown: &str) -> String {
    let arena = Arena::new();
    let markdown = limit_nesting(markdown);
    let root = comrak::parse_document(&arena, &markdown, &options(Kind::Page));
    let mut out = String::new();
    for node in root.descendants() {
        match &node.data().value {
            NodeValue::Text(t) => out.push_str(t),
            NodeValue::Code(c) => out.push_str(&c.literal),
            NodeValue::CodeBlock(c) => out.push_str(&c.literal),
            NodeValue::SoftBreak | NodeValue::LineBreak => out.push(' '),
            NodeValue::Paragraph | NodeValue::Heading(_) | NodeValue::Item(_) | NodeValue::TableCell
                if !out.is_empty() && !out.ends_with(' ') =>
            {
                out.push(' ');
            }
            _ => {}
        }
    }
    out
}

fn rewrite<'a>(arena: &'a Arena<'a>, root: &'a AstNode<'a>, pages: &dyn Pages, links: &mut Vec<String>) {
    let nodes: Vec<&'a AstNode<'a>> = root.descendants().collect();
    for node in nodes {
        let value = node.data().value.clone();
        match value {
            NodeValue::HtmlBlock(b) => {
                node.data_mut().value =
                    NodeValue::CodeBlock(Box::new(comrak::nodes::NodeCodeBlock { fenced: true, literal: b.literal, ..Default::default() }));
            }
            NodeValue::HtmlInline(s) => node.data_mut().value = NodeValue::Text(s.into()),
            // A link or image to a forbidden URL keeps only its text.
            NodeValue::Link(l) | NodeValue::Image(l) if !safe_url(&l.url) => unwrap(node),
            NodeValue::WikiLink(w) => wiki_link(arena, node, &w.url, pages, links),
            NodeValue::Text(t) => {
                let typeset = french_spacing(&t);
                if typeset != *t {
                    node.data_mut().value = NodeValue::Text(typeset.into());
                }
            }
            _ => {}
        }
    }
}

fn wiki_link<'a>(arena: &'a Arena<'a>, node: &'a AstNode<'a>, target: &str, pages: &dyn Pages, links: &mut Vec<String>) {
    let target = target.trim();
    if !target.chars().any(char::is_alphanumeric) {
        // Nothing to link to: show what the author typed.
        node.insert_before(arena.alloc(NodeValue::Text("[[".into()).into()));
        node.insert_after(arena.alloc(NodeValue::Text("]]".into()).into()));
        unwrap(node);
        return;
    }
    let slug = if cahier_doc::schema::is_valid_slug(target) { target.to_owned() } else { cahier_doc::schema::slugify(target) };
    if !links.contains(&slug) {
        links.push(slug.clone());
    }
    let href = format!("{WIKI_PREFIX}{slug}");
    if pages.exists(&slug) {
        node.data_mut().value = NodeValue::Link(Box::new(comrak::nodes::NodeLink { url: href, title: String::new() }));
        return;
    }
    // A page that does not exist yet: a link marked as such, with a tooltip.
    let open = format!(
        "<a class=\"missing\" href=\"{}\" title=\"{}\">",
        escape(&href),
        escape(&format!("Page inexistante / missing page: {slug}"))
    );
    let open = arena.alloc(NodeValue::HtmlInline(open).into());
    let close = arena.alloc(NodeValue::HtmlInline("</a>".into()).into());
    node.insert_before(open);
    while let Some(child) = node.first_child() {
        node.insert_before(child);
    }
    node.insert_before(close);
    node.detach();
}

/// Replaces a node by its children.
fn unwrap<'a>(node: &'a AstNode<'a>) {
    while let Some(child) = node.first_child() {
        node.insert_before(child);
    }
    node.detach();
}

/// Schemes a link may use; anything else (`javascript:`, `vbscript:`, `data:`, …)
/// is dropped. Relative URLs and fragments pass.
fn safe_url(url: &str) -> bool {
    let trimmed: String = url.chars().filter(|c| !c.is_whitespace() && !c.is_control()).collect();
    match trimmed.find(':') {
        None => true,
        Some(colon) => {
            // A colon after a '/', '?' or '#' is part of a relative URL, not a scheme.
            if trimmed[..colon].contains(['/', '?', '#']) {
                return true;
            }
            let scheme = trimmed[..colon].to_ascii_lowercase();
            matches!(scheme.as_str(), "http" | "https" | "mailto")
        }
    }
}

/// French typography: a no-break space before `; : ! ?` and `»`, after `«`, so
/// that a line never starts with a lone punctuation mark. Only where the author
/// typed a plain space there.
fn french_spacing(text: &str) -> String {
    const NNBSP: char = '\u{202F}';
    const NBSP: char = '\u{00A0}';
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    for (i, &c) in chars.iter().enumerate() {
        if c == ' ' {
            let next = chars.get(i + 1).copied();
            let prev = i.checked_sub(1).map(|p| chars[p]);
            let before_punct = matches!(next, Some(';' | '!' | '?')) && followed_by_space_or_end(&chars, i + 2);
            if before_punct {
                out.push(NNBSP);
                continue;
            }
            if next == Some(':') && followed_by_space_or_end(&chars, i + 2) || next == Some('»') || prev == Some('«') {
                out.push(NBSP);
                continue;
            }
        }
        out.push(c);
    }
    out
}

fn followed_by_space_or_end(chars: &[char], i: usize) -> bool {
    chars.get(i).is_none_or(|c| c.is_whitespace() || matches!(c, ')' | '»' | '.' | ','))
}

/// Escapes text for HTML content and attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

fn sanitizer() -> &'static ammonia::Builder<'static> {
    static B: OnceLock<ammonia::Builder<'static>> = OnceLock::new();
    B.get_or_init(|| {
        let mut b = ammonia::Builder::default();
        b.add_tags(["input", "section", "details", "summary"]);
        b.add_tag_attributes("input", ["type", "checked", "disabled"]);
        b.add_tag_attribute_values("input", "type", ["checkbox"]);
        b.add_tag_attributes("a", ["id", "aria-hidden", "data-footnote-ref", "data-footnote-backref"]);
        b.add_tag_attributes("sup", ["id"]);
        b.add_tag_attributes("li", ["id"]);
        b.add_tag_attributes("section", ["data-footnotes"]);
        for h in ["h1", "h2", "h3", "h4", "h5", "h6"] {
            b.add_tag_attributes(h, ["id"]);
        }
        let classes: HashMap<&str, HashSet<&str>> = HashMap::from([
            ("a", HashSet::from(["anchor", "missing", "footnote-backref"])),
            ("section", HashSet::from(["footnotes"])),
            ("sup", HashSet::from(["footnote-ref"])),
            ("ul", HashSet::from(["contains-task-list"])),
            ("li", HashSet::from(["task-list-item"])),
        ]);
        b.allowed_classes(classes);
        b.url_schemes(HashSet::from(["http", "https", "mailto"]));
        b.link_rel(Some("noopener noreferrer nofollow"));
        b
    })
}

/// Cleans a small HTML fragment (search snippets) down to text and `<b>`.
pub fn sanitize_fragment(html: &str) -> String {
    static B: OnceLock<ammonia::Builder<'static>> = OnceLock::new();
    B.get_or_init(|| {
        let mut b = ammonia::Builder::empty();
        b.add_tags(["b"]);
        b
    })
    .clean(html)
    .to_string()
}

//! The reader's pages, as HTML strings. Every value from a document or a request
//! goes through [`escape`]; rendered Markdown comes from [`crate::render`], already
//! sanitised. No page needs JavaScript.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use cahier_doc::history::{LineChange, Session, TooLarge, WordDiff};
use cahier_doc::{Action, DocView, MinutesFields};

use crate::catalog::Published;
use crate::i18n::{Lang, Strings};
use crate::render::escape;
use crate::search::Hit;

pub const CC_BY_URL: &str = "https://creativecommons.org/licenses/by/4.0/";

/// What every page needs to know about the request.
#[derive(Debug, Clone)]
pub struct Ctx<'a> {
    pub lang: Lang,
    /// The public URL Cahier is served at, without a trailing slash.
    pub base_url: &'a str,
    /// The path of this page, with the query it needs, for the language switch.
    pub path: &'a str,
    /// Shown in the header when someone is logged in.
    pub user: Option<&'a str>,
    /// The session's CSRF token, for the forms on the page.
    pub csrf: Option<&'a str>,
    /// Where dates are shown (`cahier serve --time-zone`).
    pub zone: &'a jiff::tz::TimeZone,
}

impl Ctx<'_> {
    fn t(&self) -> &'static Strings {
        self.lang.t()
    }
}

/// A publication or unpublication, for recent changes and the feed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PubEvent {
    pub slug: String,
    pub title: String,
    pub at_ms: i64,
    pub by: String,
    pub published: bool,
}

pub fn layout(ctx: &Ctx<'_>, title: &str, main: &str) -> String {
    let t = ctx.t();
    // The same page in the other language, its query kept (a search, where to go after logging in).
    let sep = if ctx.path.contains('?') { '&' } else { '?' };
    let switch = format!("{}{sep}lang={}", ctx.path, t.other_lang);
    let user = match (ctx.user, ctx.csrf) {
        (Some(u), Some(csrf)) => format!(
            "<form class=\"user\" method=\"post\" action=\"/logout\"><span>{}</span> \
<input type=\"hidden\" name=\"csrf\" value=\"{}\"><button type=\"submit\">{}</button></form>",
            escape(u),
            escape(csrf),
            t.logout
        ),
        (Some(u), None) => format!("<span class=\"user\">{}</span>", escape(u)),
        _ => format!("<a class=\"user\" href=\"/login\">{}</a>", t.login),
    };
    format!(
        "<!DOCTYPE html>\n<html lang=\"{lang}\">\n<head>\n<meta charset=\"utf-8\">\n\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
<title>{title} · Cahier</title>\n<link rel=\"stylesheet\" href=\"/assets/cahier.css\">\n\
<link rel=\"icon\" href=\"/favicon.svg\" type=\"image/svg+xml\">\n\
<link rel=\"alternate\" type=\"application/atom+xml\" title=\"{feed}\" href=\"/feed.atom\">\n</head>\n<body>\n\
<a class=\"skip\" href=\"#main\">{skip}</a>\n\
<header class=\"site\">\n<a class=\"brand\" href=\"/wiki\">Cahier</a>\n\
<nav aria-label=\"{nav}\"><ul>\
<li><a href=\"/wiki\">{pages}</a></li><li><a href=\"/tags\">{tags}</a></li><li><a href=\"/recent\">{recent}</a></li></ul></nav>\n\
<form class=\"search\" role=\"search\" action=\"/search\" method=\"get\">\
<label for=\"q\">{search_label}</label> <input id=\"q\" name=\"q\" type=\"search\"> \
<button type=\"submit\">{search_button}</button></form>\n\
{user}<a class=\"lang\" href=\"{switch}\" hreflang=\"{other}\" lang=\"{other}\">{other_name}</a>\n</header>\n\
<main id=\"main\">\n{main}\n</main>\n\
<footer class=\"site\"><p>{footer} <a href=\"/feed.atom\">{feed}</a></p></footer>\n</body>\n</html>\n",
        lang = ctx.lang.code(),
        title = escape(title),
        feed = t.feed,
        skip = t.skip,
        nav = t.nav_label,
        pages = t.pages,
        tags = t.tags,
        recent = t.recent,
        search_label = t.search_label,
        search_button = t.search_button,
        switch = escape(&switch),
        other = t.other_lang,
        other_name = t.other_lang_name,
        footer = t.licence_footer,
    )
}

/// A date as a reader of `lang` writes it, in `zone`: "1er décembre 2026 à
/// 8 h 24", "1 December 2026 at 08:24" (with "UTC" when the zone is UTC).
pub fn date(lang: Lang, zone: &jiff::tz::TimeZone, ms: i64) -> String {
    const MOIS: [&str; 12] =
        ["janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août", "septembre", "octobre", "novembre", "décembre"];
    const MONTHS: [&str; 12] =
        ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December"];
    let Ok(t) = jiff::Timestamp::from_millisecond(ms) else { return cahier_doc::time::format_ms(ms) };
    let z = zone.to_datetime(t);
    let month = usize::try_from(z.month() - 1).unwrap_or(0).min(11);
    let utc = if zone.iana_name() == Some("UTC") || zone.iana_name() == Some("Etc/UTC") { " UTC" } else { "" };
    match lang {
        Lang::Fr => {
            let day = if z.day() == 1 { "1er".to_owned() } else { z.day().to_string() };
            // No-break spaces keep "8 h 24" on one line on a phone.
            format!("{day} {} {} à {}\u{a0}h\u{a0}{:02}{utc}", MOIS[month], z.year(), z.hour(), z.minute())
        }
        Lang::En => format!("{} {} {} at {:02}:{:02}{utc}", z.day(), MONTHS[month], z.year(), z.hour(), z.minute()),
    }
}

/// The first 12 hex digits of a version, for people: whatever the request
/// held, never a slice through a character.
pub fn short_version(version: &str) -> String {
    version.chars().filter(char::is_ascii_hexdigit).take(12).collect()
}

/// How long before `now_ms` the moment `ms` was, as a reader of `lang` says
/// it, when that says more than a date: within the last week ("il y a
/// 5 min", "5 min ago"; "à l'instant", "just now" under a minute). `None`
/// for older moments and for moments ahead of the clock by more than a minute.
pub fn ago(lang: Lang, now_ms: i64, ms: i64) -> Option<String> {
    const MINUTE: i64 = 60_000;
    let elapsed = now_ms.checked_sub(ms)?;
    let (fr, en) = match elapsed {
        e if e < -MINUTE => return None,
        e if e < MINUTE => return Some(if lang == Lang::Fr { "à l’instant" } else { "just now" }.to_owned()),
        e if e < 60 * MINUTE => {
            let n = e / MINUTE;
            (format!("{n}\u{a0}min"), format!("{n} min"))
        }
        e if e < 24 * 60 * MINUTE => {
            let n = e / (60 * MINUTE);
            (format!("{n}\u{a0}h"), format!("{n} {}", if n == 1 { "hour" } else { "hours" }))
        }
        e if e < 7 * 24 * 60 * MINUTE => {
            let n = e / (24 * 60 * MINUTE);
            (format!("{n}\u{a0}{}", if n == 1 { "jour" } else { "jours" }), format!("{n} {}", if n == 1 { "day" } else { "days" }))
        }
        _ => return None,
    };
    Some(if lang == Lang::Fr { format!("il y a {fr}") } else { format!("{en} ago") })
}

/// A moment for a list of recent events: how long ago, when that helps,
/// with its date in the tooltip; else its date.
fn time_ago_el(ctx: &Ctx<'_>, now_ms: i64, ms: i64) -> String {
    match ago(ctx.lang, now_ms, ms) {
        Some(ago) => format!(
            "<time datetime=\"{}\" title=\"{}\">{ago}</time>",
            cahier_doc::time::format_ms(ms),
            escape(&date(ctx.lang, ctx.zone, ms))
        ),
        None => time_el(ctx, ms),
    }
}

/// Quotation marks as each language writes them: « titre », “title”.
fn quotes(lang: Lang) -> (&'static str, &'static str) {
    if lang == Lang::Fr { ("« ", " »") } else { ("“", "”") }
}

/// `text` (already escaped) between the quotation marks of `lang`.
fn quoted(lang: Lang, text: &str) -> String {
    let (open, close) = quotes(lang);
    format!("{open}{text}{close}")
}

fn time_el(ctx: &Ctx<'_>, ms: i64) -> String {
    format!("<time datetime=\"{}\">{}</time>", cahier_doc::time::format_ms(ms), date(ctx.lang, ctx.zone, ms))
}

fn tag_links(tags: &[String]) -> String {
    tags.iter()
        .map(|t| format!("<a href=\"/tags/{}\" rel=\"tag\">{}</a>", escape(&url_segment(t)), escape(t)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Percent-encodes a path segment.
pub fn url_segment(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// The attribution line a reuser copies: title, authors, source URL, licence.
pub fn attribution_line(page: &Published, base_url: &str, lang: Lang) -> String {
    let authors = if page.contributors.is_empty() { "Cahier".to_owned() } else { page.contributors.join(", ") };
    let (open, close) = quotes(lang);
    format!("{open}{}{close} {} {}, {}/wiki/{}, CC BY 4.0 ({CC_BY_URL})", page.title, lang.t().by, authors, base_url, page.slug)
}

/// A published page, with tags, backlinks and credits.
pub fn page(ctx: &Ctx<'_>, p: &Published, backlinks: &[&Published], can_see_history: bool, extra_actions: &str) -> String {
    let t = ctx.t();
    let mut m = String::new();
    let _ = write!(m, "<article>\n<h1>{}</h1>\n", escape(&p.title));
    let _ = write!(m, "<p class=\"meta\">{} {} {} {}", t.published_on, time_el(ctx, p.published_ms), t.by, escape(&p.published_by));
    if !p.tags.is_empty() {
        let _ = write!(m, " · {} {}", t.tagged, tag_links(&p.tags));
    }
    m.push_str("</p>\n");
    m.push_str(&toc(ctx, &p.rendered.toc));
    m.push_str("<div class=\"body\">\n");
    m.push_str(&p.rendered.html(ctx.lang));
    m.push_str("</div>\n</article>\n");
    let _ = write!(m, "<section class=\"backlinks\" aria-labelledby=\"backlinks-h\">\n<h2 id=\"backlinks-h\">{}</h2>\n", t.backlinks);
    if backlinks.is_empty() {
        let _ = writeln!(m, "<p>{}</p>", t.no_backlinks);
    } else {
        m.push_str("<ul>");
        for b in backlinks {
            let _ = write!(m, "<li><a href=\"/wiki/{}\">{}</a></li>", escape(&b.slug), escape(&b.title));
        }
        m.push_str("</ul>\n");
    }
    m.push_str("</section>\n");
    m.push_str(&credits(ctx, p));
    let _ = write!(m, "<p class=\"actions\"><a href=\"/wiki/{}.md\" type=\"text/markdown\">{}</a>", escape(&p.slug), t.markdown);
    if can_see_history {
        let _ = write!(m, " · <a href=\"/wiki/{}/history\">{}</a>", escape(&p.slug), t.history);
    }
    m.push_str(extra_actions);
    m.push_str("</p>\n");
    layout(ctx, &p.title, &m)
}

/// A long page's table of contents: links to its headings, nested by level
/// (a level-3 heading under the level-2 one before it). Empty for a page
/// without one (see [`crate::render::TOC_MIN_HEADINGS`]).
pub fn toc(ctx: &Ctx<'_>, headings: &[crate::render::Heading]) -> String {
    let Some(top) = headings.iter().map(|h| h.level).min() else { return String::new() };
    let mut m = format!("<nav class=\"toc\" aria-label=\"{0}\">\n<h2 class=\"toc-title\">{0}</h2>\n<ol>", ctx.t().toc);
    // Headings below the top level go into a list inside the entry before them.
    let mut open_sub = false;
    for (i, h) in headings.iter().enumerate() {
        let deeper = h.level > top && i > 0;
        if deeper && !open_sub {
            m.push_str("<ol>");
            open_sub = true;
        } else if !deeper && open_sub {
            m.push_str("</li></ol></li>");
            open_sub = false;
        } else if i > 0 {
            m.push_str("</li>");
        }
        let _ = write!(m, "<li><a href=\"#{}\">{}</a>", escape(&h.id), escape(&h.text));
    }
    m.push_str(if open_sub { "</li></ol></li></ol>\n</nav>\n" } else { "</li></ol>\n</nav>\n" });
    m
}

fn credits(ctx: &Ctx<'_>, p: &Published) -> String {
    let t = ctx.t();
    let authors = if p.contributors.is_empty() {
        t.no_authors.to_owned()
    } else {
        p.contributors.iter().map(|c| escape(c)).collect::<Vec<_>>().join(", ")
    };
    let licence_link = if p.license == "CC-BY-4.0" {
        format!("<a rel=\"license\" href=\"{CC_BY_URL}\">Creative Commons Attribution 4.0 International (CC BY 4.0)</a>")
    } else {
        escape(&p.license)
    };
    format!(
        "<section class=\"credits\" aria-labelledby=\"credits-h\">\n<h2 id=\"credits-h\">{}</h2>\n\
<p>{} {}.</p>\n<p>{} <span class=\"authors\">{}</span></p>\n\
<p><label for=\"attribution\">{}</label></p>\n<textarea id=\"attribution\" readonly rows=\"3\" aria-describedby=\"attribution-help\">{}</textarea>\n\
<p id=\"attribution-help\" class=\"help\">{}</p>\n</section>\n",
        t.credits,
        t.license_intro,
        licence_link,
        t.authors,
        authors,
        t.attribution,
        escape(&attribution_line(p, ctx.base_url, ctx.lang)),
        t.attribution_help,
    )
}

pub fn index(ctx: &Ctx<'_>, pages: &[&Published]) -> String {
    let t = ctx.t();
    let mut m = format!("<h1>{}</h1>\n", t.pages);
    if pages.is_empty() {
        let _ = writeln!(m, "<p>{}</p>", t.no_pages);
    } else {
        m.push_str("<ul class=\"pages\">\n");
        for p in pages {
            let _ = writeln!(m, "<li><a href=\"/wiki/{}\">{}</a></li>", escape(&p.slug), escape(&p.title));
        }
        m.push_str("</ul>\n");
    }
    layout(ctx, t.pages, &m)
}

pub fn tags(ctx: &Ctx<'_>, tags: &BTreeMap<String, Vec<&Published>>) -> String {
    let t = ctx.t();
    let mut m = format!("<h1>{}</h1>\n", t.tags);
    if tags.is_empty() {
        let _ = writeln!(m, "<p>{}</p>", t.no_pages);
    }
    // In the order a French reader expects: accents and case folded
    // ("école" among the e's, not after "z").
    let mut sorted: Vec<(&String, &Vec<&Published>)> = tags.iter().collect();
    sorted.sort_by_cached_key(|(tag, _)| (crate::catalog::fold(tag), (*tag).clone()));
    for (tag, pages) in sorted {
        let _ = write!(
            m,
            "<h2 id=\"tag-{}\"><a href=\"/tags/{}\">{}</a></h2>\n<ul>",
            escape(&url_segment(tag)),
            escape(&url_segment(tag)),
            escape(tag)
        );
        for p in pages {
            let _ = write!(m, "<li><a href=\"/wiki/{}\">{}</a></li>", escape(&p.slug), escape(&p.title));
        }
        m.push_str("</ul>\n");
    }
    layout(ctx, t.tags, &m)
}

pub fn tag(ctx: &Ctx<'_>, tag: &str, pages: &[&Published]) -> String {
    let t = ctx.t();
    let mut m = format!("<h1>{} {}</h1>\n<ul>", t.tagged, escape(tag));
    for p in pages {
        let _ = write!(m, "<li><a href=\"/wiki/{}\">{}</a></li>", escape(&p.slug), escape(&p.title));
    }
    m.push_str("</ul>\n");
    layout(ctx, tag, &m)
}

/// Recent publications, newest first; `now_ms` for how long ago each was.
pub fn recent(ctx: &Ctx<'_>, events: &[PubEvent], now_ms: i64) -> String {
    let t = ctx.t();
    let mut m = format!("<h1>{}</h1>\n", t.recent);
    if events.is_empty() {
        let _ = writeln!(m, "<p>{}</p>", t.no_pages);
    } else {
        m.push_str("<ol class=\"recent\">\n");
        for e in events {
            let what = if e.published { t.published } else { t.unpublished };
            let link =
                if e.published { format!("<a href=\"/wiki/{}\">{}</a>", escape(&e.slug), escape(&e.title)) } else { escape(&e.title) };
            let _ = writeln!(m, "<li>{} — {link} {what} {} {}</li>", time_ago_el(ctx, now_ms, e.at_ms), t.by, escape(&e.by));
        }
        m.push_str("</ol>\n");
    }
    layout(ctx, t.recent, &m)
}

pub fn search(ctx: &Ctx<'_>, query: &str, hits: &[Hit]) -> String {
    let t = ctx.t();
    let mut m = format!("<h1>{}</h1>\n", t.search);
    let _ = writeln!(
        m,
        "<form role=\"search\" action=\"/search\" method=\"get\"><label for=\"q2\">{}</label> \
<input id=\"q2\" name=\"q\" type=\"search\" value=\"{}\"> <button type=\"submit\">{}</button></form>",
        t.search_label,
        escape(query),
        t.search_button
    );
    if !query.trim().is_empty() {
        let _ = writeln!(m, "<h2>{} {}</h2>", t.results_for, quoted(ctx.lang, &escape(query)));
        if hits.is_empty() {
            let _ = writeln!(m, "<p>{}</p>", t.no_results);
        } else {
            m.push_str("<ol class=\"results\">\n");
            for h in hits {
                // The snippet is escaped by the search library, with <b> around matches.
                let _ = writeln!(
                    m,
                    "<li><a href=\"/wiki/{}\">{}</a><p>{}</p></li>",
                    escape(&h.slug),
                    escape(&h.title),
                    crate::render::sanitize_fragment(&h.snippet)
                );
            }
            m.push_str("</ol>\n");
        }
    }
    layout(ctx, t.search, &m)
}

pub fn not_found(ctx: &Ctx<'_>) -> String {
    let t = ctx.t();
    layout(
        ctx,
        t.not_found_title,
        &format!("<h1>{}</h1>\n<p>{}</p>\n<p><a href=\"/wiki\">{}</a></p>", t.not_found_title, t.not_found, t.pages),
    )
}

/// One editing session as the history lists it.
#[derive(Debug, Clone)]
pub struct SessionRow {
    pub session: Session,
    /// Words its changes added and removed; `None` when not counted (an old
    /// session far down the list, or a text too long to compare).
    pub words: Option<(usize, usize)>,
    /// The published version ends (at least partly) on this session.
    pub published: bool,
    /// Some of its changes are not in the published version (shown to
    /// maintainers of a published page).
    pub unpublished: bool,
}

/// The published version of a page, for its history.
#[derive(Debug, Clone)]
pub struct PublishedMark {
    /// Its heads, as the `version` parameter carries them.
    pub heads: String,
    pub at_ms: i64,
    pub by: String,
}

/// "+120 mots, −8 mots".
pub fn words_summary(lang: Lang, added: usize, removed: usize) -> String {
    let t = lang.t();
    let n = |k: usize| if k == 1 { t.word } else { t.words };
    if added == 0 && removed == 0 {
        return t.no_word_changed.to_owned();
    }
    let mut parts = Vec::new();
    if added > 0 {
        parts.push(format!("+{added} {}", n(added)));
    }
    if removed > 0 {
        parts.push(format!("\u{2212}{removed} {}", n(removed)));
    }
    parts.join(", ")
}

/// A document's history: editing sessions, newest first, each named by its
/// time and everyone who wrote in it, with what it changed in words, linking
/// to the version it ended on and to its own diff (what its changes did);
/// the published version marked.
pub fn history(
    ctx: &Ctx<'_>,
    slug: &str,
    title: &str,
    rows: &[SessionRow],
    published: Option<&PublishedMark>,
    restore_csrf: Option<&str>,
) -> String {
    let t = ctx.t();
    let mut m = format!("<h1>{} — {}</h1>\n<p><a href=\"/wiki/{}\">{}</a></p>\n", t.history, escape(title), escape(slug), t.back_to_page);
    if let Some(p) = published {
        let _ = writeln!(
            m,
            "<p class=\"notice\">{} {} {} {} — <a href=\"/wiki/{}/history?version={}\">{}</a></p>",
            t.published_version_intro,
            time_el(ctx, p.at_ms),
            t.by,
            escape(&p.by),
            escape(slug),
            escape(&p.heads),
            t.view_version
        );
    }
    let _ = writeln!(m, "<h2>{}</h2>\n<ol class=\"history\" reversed>", t.sessions);
    for row in rows.iter().rev() {
        let s = &row.session;
        let v = heads_param(&s.heads);
        let mut when = time_el(ctx, s.start.saturating_mul(1000));
        if s.end != s.start {
            let _ = write!(when, " – {}", time_el(ctx, s.end.saturating_mul(1000)));
        }
        let mut li = format!("<li>{when} — <strong>{}</strong>, {} {}", escape(&people(t, s)), s.changes, t.changes);
        if let Some((added, removed)) = row.words {
            let _ = write!(li, " · <span class=\"words\">{}</span>", words_summary(ctx.lang, added, removed));
        }
        if row.published {
            let _ = write!(li, " · <strong class=\"published\">{}</strong>", t.published_version);
        } else if row.unpublished {
            let _ = write!(li, " · <span class=\"unpublished\">{}</span>", t.not_published_yet);
        }
        let _ = write!(
            li,
            ": <a href=\"/wiki/{s}/history?version={v}\">{}</a> · <a href=\"/wiki/{s}/history?session={v}\">{}</a>",
            t.view_version,
            t.session_changes,
            s = escape(slug),
        );
        if let Some(csrf) = restore_csrf {
            let _ = write!(
                li,
                "<form class=\"inline\" method=\"post\" action=\"/wiki/{}/restore\"><input type=\"hidden\" name=\"csrf\" value=\"{}\">\
<input type=\"hidden\" name=\"version\" value=\"{v}\"><button type=\"submit\">{}</button></form>",
                escape(slug),
                escape(csrf),
                t.restore
            );
        }
        li.push_str("</li>\n");
        m.push_str(&li);
    }
    m.push_str("</ol>\n");
    layout(ctx, &format!("{} — {title}", t.history), &m)
}

/// One past version of a document, rendered. Named by the date and people of
/// the session that ended on it ("Version du 1er décembre 2026 à 8 h 24, par
/// Alice, Bob"); by its hash when no session ended exactly there.
pub fn version(ctx: &Ctx<'_>, slug: &str, title: &str, version: &str, session: Option<&Session>, html: &str) -> String {
    let t = ctx.t();
    let name = match session {
        Some(s) => format!("{} {}, {} {}", t.version_of, time_el(ctx, s.end.saturating_mul(1000)), t.by, escape(&people(t, s))),
        None => format!("{} <code>{}</code>", t.version_of, escape(&short_version(version))),
    };
    let m = format!(
        "<p class=\"notice\">{name} — <a href=\"/wiki/{}/history\">{}</a></p>\n<article>\n<h1>{}</h1>\n<div class=\"body\">\n{html}</div>\n</article>\n",
        escape(slug),
        t.history,
        escape(title)
    );
    layout(ctx, title, &m)
}

/// Everyone who wrote in a session, comma-separated; a change with no author
/// shows as "anonyme-" and the start of its actor.
fn people(t: &Strings, s: &Session) -> String {
    let unnamed = s.unnamed.iter().map(|actor| format!("{}-{}", t.unknown_author, actor.get(..8).unwrap_or(actor)));
    s.authors.iter().cloned().chain(unnamed).collect::<Vec<_>>().join(", ")
}

/// Heads as the `version` parameter carries them: hex hashes, comma-separated.
fn heads_param<H: std::fmt::Display>(heads: &[H]) -> String {
    heads.iter().map(ToString::to_string).collect::<Vec<_>>().join(",")
}

/// Unchanged lines shown around each change; longer unchanged runs are folded.
const CONTEXT_LINES: usize = 2;

/// A diff page: what a session's changes did (`session`), or the changes
/// between two versions (`None`). Words added are in `<ins>`, words removed
/// in `<del>`, unchanged lines far from any change folded.
pub fn diff(ctx: &Ctx<'_>, slug: &str, title: &str, session: Option<&Session>, diff: Result<&WordDiff, &TooLarge>) -> String {
    let t = ctx.t();
    let mut m =
        format!("<h1>{} — {}</h1>\n<p><a href=\"/wiki/{}/history\">{}</a></p>\n", t.diff_title, escape(title), escape(slug), t.history);
    if let Some(s) = session {
        let mut when = time_el(ctx, s.start.saturating_mul(1000));
        if s.end != s.start {
            let _ = write!(when, " – {}", time_el(ctx, s.end.saturating_mul(1000)));
        }
        let _ = writeln!(m, "<p>{} {when}, {} <strong>{}</strong>.</p>", t.session_diff_intro, t.by, escape(&people(t, s)));
    }
    let d = match diff {
        Ok(d) => d,
        Err(too) => {
            let _ = writeln!(m, "<p class=\"notice\" role=\"status\">{} ({} {}).</p>", t.diff_too_long, too.lines, t.lines);
            return layout(ctx, &format!("{} — {title}", t.diff_title), &m);
        }
    };
    if d.is_empty() {
        let _ = writeln!(m, "<p>{}</p>", t.no_word_changed);
        return layout(ctx, &format!("{} — {title}", t.diff_title), &m);
    }
    let _ = writeln!(
        m,
        "<p class=\"meta\">{} · <ins>{}</ins> · <del>{}</del></p>\n<div class=\"diff\">",
        words_summary(ctx.lang, d.added_words, d.removed_words),
        t.added,
        t.removed
    );
    let changed: Vec<bool> = d.rows.iter().map(|r| r.change() != Some(LineChange::Same)).collect();
    let near = |i: usize| {
        let from = i.saturating_sub(CONTEXT_LINES);
        let to = (i + CONTEXT_LINES + 1).min(changed.len());
        changed[from..to].iter().any(|c| *c)
    };
    let mut folded = 0usize;
    for (i, row) in d.rows.iter().enumerate() {
        if !near(i) {
            folded += 1;
            continue;
        }
        if folded > 0 {
            let _ = writeln!(m, "<p class=\"fold\">… {folded} {} …</p>", t.unchanged_lines);
            folded = 0;
        }
        let class = match row.change() {
            Some(LineChange::Same) => "same",
            Some(LineChange::Added) => "added",
            Some(LineChange::Removed) => "removed",
            None => "changed",
        };
        let _ = write!(m, "<p class=\"{class}\">");
        if row.pieces.iter().all(|p| p.text.is_empty()) {
            // A blank line keeps its height.
            let mark = match row.change() {
                Some(LineChange::Added) => "<ins>\u{a0}</ins>",
                Some(LineChange::Removed) => "<del>\u{a0}</del>",
                _ => "\u{a0}",
            };
            m.push_str(mark);
        }
        for p in row.pieces.iter().filter(|p| !p.text.is_empty()) {
            match p.change {
                LineChange::Same => m.push_str(&escape(&p.text)),
                LineChange::Added => {
                    let _ = write!(m, "<ins>{}</ins>", escape(&p.text));
                }
                LineChange::Removed => {
                    let _ = write!(m, "<del>{}</del>", escape(&p.text));
                }
            }
        }
        m.push_str("</p>\n");
    }
    if folded > 0 {
        let _ = writeln!(m, "<p class=\"fold\">… {folded} {} …</p>", t.unchanged_lines);
    }
    m.push_str("</div>\n");
    layout(ctx, &format!("{} — {title}", t.diff_title), &m)
}

/// A version as text to compare: the title, the minutes' structured parts
/// in the order the draft shows them, the notes or the page's body.
pub fn diff_text(lang: Lang, view: &DocView) -> String {
    let t = lang.t();
    let mut out = format!("# {}\n\n", view.title);
    let Some(mf) = &view.minutes else {
        out.push_str(&view.body);
        return out;
    };
    // "Lieu : salle 3" with French typography's no-break space, "Place: room 3".
    let colon = if lang == Lang::Fr { "\u{a0}:" } else { ":" };
    let fact = |out: &mut String, label: &str, value: &str| {
        if !value.is_empty() {
            let _ = writeln!(out, "{label}{colon} {value}");
        }
    };
    fact(&mut out, t.m_date, &mf.starts_at.replace('T', " "));
    fact(&mut out, t.m_place, &mf.place);
    fact(&mut out, t.m_facilitator, &mf.facilitator);
    fact(&mut out, t.m_participants, &mf.participants.join(", "));
    let list = |out: &mut String, label: &str, items: &[String]| {
        if !items.is_empty() {
            let _ = writeln!(out, "\n## {label}\n");
            for i in items {
                let _ = writeln!(out, "- {i}");
            }
        }
    };
    list(&mut out, t.m_agenda, &mf.agenda);
    if !view.body.trim().is_empty() {
        let _ = writeln!(out, "\n## {}\n", t.m_notes);
        out.push_str(&view.body);
        if !view.body.ends_with('\n') {
            out.push('\n');
        }
    }
    list(&mut out, t.m_decisions, &mf.decisions);
    let actions: Vec<String> = mf.actions.iter().map(|a| action_text(lang, a)).collect();
    list(&mut out, t.m_actions, &actions);
    out
}

/// An action as one line: "[x] Relire le guide — Noé, pour le 2026-12-01".
fn action_text(lang: Lang, a: &Action) -> String {
    let t = lang.t();
    let mut line = format!("[{}] {}", if a.done { "x" } else { " " }, a.text);
    if !a.owner.is_empty() {
        let _ = write!(line, " — {}", a.owner);
    }
    if !a.due.is_empty() {
        let _ = write!(line, ", {} {}", t.m_due, a.due);
    }
    line
}

/// The structured parts of minutes as their draft shows them: date, place,
/// facilitator, participants, agenda, then (after the notes) decisions and
/// actions. Returns (before the notes, after the notes).
pub fn minutes_parts(ctx: &Ctx<'_>, mf: &MinutesFields) -> (String, String) {
    let t = ctx.t();
    let mut head = String::new();
    let mut facts = String::new();
    for (label, value) in
        [(t.m_date, mf.starts_at.replace('T', " ")), (t.m_place, mf.place.clone()), (t.m_facilitator, mf.facilitator.clone())]
    {
        if !value.is_empty() {
            let _ = write!(facts, "<dt>{label}</dt><dd>{}</dd>", escape(&value));
        }
    }
    if !facts.is_empty() {
        let _ = writeln!(head, "<dl class=\"minutes\">{facts}</dl>");
    }
    let list = |out: &mut String, id: &str, label: &str, items: &[String], empty: bool| {
        if items.is_empty() && !empty {
            return;
        }
        let _ = write!(out, "<section class=\"minutes\" aria-labelledby=\"m-{id}\">\n<h2 id=\"m-{id}\">{label}</h2>\n");
        if items.is_empty() {
            let _ = writeln!(out, "<p class=\"help\">{}</p>", t.m_none);
        } else {
            out.push_str("<ul>");
            for i in items {
                let _ = write!(out, "<li>{}</li>", escape(i));
            }
            out.push_str("</ul>\n");
        }
        out.push_str("</section>\n");
    };
    list(&mut head, "participants", t.m_participants, &mf.participants, true);
    list(&mut head, "agenda", t.m_agenda, &mf.agenda, true);
    let mut tail = String::new();
    list(&mut tail, "decisions", t.m_decisions, &mf.decisions, true);
    let _ = write!(tail, "<section class=\"minutes\" aria-labelledby=\"m-actions\">\n<h2 id=\"m-actions\">{}</h2>\n", t.m_actions);
    if mf.actions.is_empty() {
        let _ = writeln!(tail, "<p class=\"help\">{}</p>", t.m_none);
    } else {
        tail.push_str("<ul class=\"actions\">");
        for a in &mf.actions {
            let state = if a.done { t.m_done } else { t.m_open };
            let mut li = format!("<li><span class=\"state\">{state}</span> {}", escape(&a.text));
            if !a.owner.is_empty() {
                let _ = write!(li, " — {}", escape(&a.owner));
            }
            if !a.due.is_empty() {
                let _ = write!(li, ", {} <time datetime=\"{d}\">{d}</time>", t.m_due, d = escape(&a.due));
            }
            li.push_str("</li>");
            tail.push_str(&li);
        }
        tail.push_str("</ul>\n");
    }
    tail.push_str("</section>\n");
    (head, tail)
}

/// On minutes that became a wiki page: where the page now lives.
pub fn promoted_notice(ctx: &Ctx<'_>, page_slug: &str, at_ms: i64, by: &str) -> String {
    let t = ctx.t();
    format!(
        "<p class=\"notice\" role=\"status\">{} <a href=\"/wiki/{s}\">/wiki/{s}</a> ({} {} {} {}).</p>",
        t.promoted_to,
        t.promoted_on,
        time_el(ctx, at_ms),
        t.by,
        escape(by),
        s = escape(page_slug),
    )
}

/// The Atom feed of publications, newest first.
pub fn atom(base_url: &str, events: &[PubEvent]) -> String {
    let updated = events.first().map_or(0, |e| e.at_ms);
    let mut s = format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<feed xmlns=\"http://www.w3.org/2005/Atom\">\n\
<title>Cahier</title>\n<id>{base}/feed.atom</id>\n<link rel=\"self\" href=\"{base}/feed.atom\"/>\n\
<link href=\"{base}/wiki\"/>\n<updated>{}</updated>\n<rights>CC BY 4.0</rights>\n",
        cahier_doc::time::format_ms(updated),
        base = escape(base_url)
    );
    for e in events.iter().filter(|e| e.published) {
        let url = format!("{base_url}/wiki/{}", e.slug);
        let _ = write!(
            s,
            "<entry>\n<title>{}</title>\n<id>{}#{}</id>\n<link href=\"{}\"/>\n<updated>{}</updated>\n<author><name>{}</name></author>\n</entry>\n",
            escape(&e.title),
            escape(&url),
            e.at_ms,
            escape(&url),
            cahier_doc::time::format_ms(e.at_ms),
            escape(&e.by)
        );
    }
    s.push_str("</feed>\n");
    s
}

/// Cahier's one stylesheet, served at `/assets/cahier.css`: the reader's pages
/// link it, and the editor's build imports it before its own parts.
pub const CSS: &str = include_str!("cahier.css");

/// Cahier's icon, served at `/favicon.svg` and linked from every page.
pub const FAVICON_SVG: &str = include_str!("favicon.svg");

/// The login form. `csrf` is also in a cookie; both must match on submit.
pub fn login(ctx: &Ctx<'_>, csrf: &str, name: &str, error: Option<&str>, next: &str) -> String {
    let t = ctx.t();
    let error = error.map(|e| format!("<p class=\"error\" role=\"alert\">{}</p>\n", escape(e))).unwrap_or_default();
    let m = format!(
        "<h1>{login}</h1>\n{error}<form method=\"post\" action=\"/login\" class=\"login\">\n\
<input type=\"hidden\" name=\"csrf\" value=\"{csrf}\"><input type=\"hidden\" name=\"next\" value=\"{next}\">\n\
<p><label for=\"name\">{name_label}</label><br><input id=\"name\" name=\"name\" autocomplete=\"username\" required value=\"{name}\"></p>\n\
<p><label for=\"password\">{password}</label><br><input id=\"password\" name=\"password\" type=\"password\" autocomplete=\"current-password\" required></p>\n\
<p><button type=\"submit\">{login}</button></p>\n</form>\n",
        login = t.login,
        csrf = escape(csrf),
        next = escape(next),
        name_label = t.account_name,
        name = escape(name),
        password = t.password,
    );
    layout(ctx, t.login, &m)
}

/// A plain message page (forbidden, too many attempts, errors).
pub fn message(ctx: &Ctx<'_>, title: &str, text: &str) -> String {
    layout(ctx, title, &format!("<h1>{}</h1>\n<p>{}</p>\n", escape(title), escape(text)))
}

/// Turns minutes into a wiki page (keeping their history and credits).
pub fn promote_form(ctx: &Ctx<'_>, slug: &str) -> String {
    post_button(ctx, slug, "promote", ctx.t().promote)
}

/// A maintainer's button making the next meeting's minutes from these
/// (participants, agenda and open actions carried over).
pub fn next_meeting_form(ctx: &Ctx<'_>, slug: &str) -> String {
    post_button(ctx, slug, "next", ctx.t().prepare_next)
}

/// A one-button form posting to `/wiki/SLUG/ACTION` with the CSRF token.
fn post_button(ctx: &Ctx<'_>, slug: &str, action: &str, label: &str) -> String {
    format!(
        "<form class=\"inline\" method=\"post\" action=\"/wiki/{}/{action}\"><input type=\"hidden\" name=\"csrf\" value=\"{}\"><button type=\"submit\">{}</button></form>",
        escape(slug),
        escape(ctx.csrf.unwrap_or("")),
        label
    )
}

/// A maintainer's delete button (the document is kept, out of reach; `cahier undelete` brings it back).
/// A link to the page that asks before deleting (deleting is never one click).
pub fn delete_form(ctx: &Ctx<'_>, slug: &str) -> String {
    format!("<a class=\"danger\" href=\"/wiki/{}/delete\">{}</a>", escape(slug), ctx.t().delete)
}

/// Asks a maintainer to confirm deleting the page titled `title`.
pub fn delete_confirmation(ctx: &Ctx<'_>, slug: &str, title: &str) -> String {
    let t = ctx.t();
    let m = format!(
        "<h1>{question}</h1>\n<p><strong>{title}</strong> (<code>/wiki/{slug}</code>)</p>\n<p>{explain}</p>\n\
<form method=\"post\" action=\"/wiki/{slug}/delete\"><input type=\"hidden\" name=\"csrf\" value=\"{csrf}\"><input type=\"hidden\" name=\"confirm\" value=\"yes\">\
<button type=\"submit\" class=\"danger\">{confirm}</button> <a href=\"/wiki/{slug}\">{cancel}</a></form>\n",
        question = t.delete_question,
        title = quoted(ctx.lang, &escape(title)),
        slug = escape(slug),
        explain = t.delete_explain,
        csrf = escape(ctx.csrf.unwrap_or("")),
        confirm = t.delete_confirm,
        cancel = t.cancel,
    );
    layout(ctx, t.delete_question, &m)
}

/// Says that the page titled `title` is deleted, offering to undo it.
pub fn deleted(ctx: &Ctx<'_>, slug: &str, title: &str) -> String {
    let t = ctx.t();
    let m = format!(
        "<h1>{heading}</h1>\n<p role=\"status\"><strong>{title}</strong> {done}</p>\n\
<form method=\"post\" action=\"/wiki/{slug}/undelete\"><input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
<button type=\"submit\" id=\"undo-delete\">{undo}</button> <a href=\"/edit\">{home}</a></form>\n",
        heading = t.deleted_title,
        title = quoted(ctx.lang, &escape(title)),
        done = t.deleted_done,
        slug = escape(slug),
        csrf = escape(ctx.csrf.unwrap_or("")),
        undo = t.undo_delete,
        home = t.editor_home,
    );
    layout(ctx, t.deleted_title, &m)
}

/// A maintainer's unpublish button (publishing names a version: see
/// [`publish_version_form`]).
pub fn unpublish_form(ctx: &Ctx<'_>, slug: &str) -> String {
    format!(
        "<form class=\"inline\" method=\"post\" action=\"/wiki/{}/unpublish\"><input type=\"hidden\" name=\"csrf\" value=\"{}\"><button type=\"submit\">{}</button></form>",
        escape(slug),
        escape(ctx.csrf.unwrap_or("")),
        ctx.t().unpublish
    )
}

/// The form that publishes exactly the version the maintainer is looking at
/// (`heads`, comma-separated): `label` is "Publier" for a draft, "Publier les
/// modifications" for a published page with newer changes.
pub fn publish_version_form(ctx: &Ctx<'_>, slug: &str, heads: &str, label: &str) -> String {
    format!(
        "<form class=\"inline\" method=\"post\" action=\"/wiki/{}/publish\"><input type=\"hidden\" name=\"csrf\" value=\"{}\"><input type=\"hidden\" name=\"heads\" value=\"{}\"><button type=\"submit\">{}</button></form>",
        escape(slug),
        escape(ctx.csrf.unwrap_or("")),
        escape(heads),
        escape(label)
    )
}

/// For maintainers on a published page whose draft has moved on: says so,
/// links to what changed, and offers to publish exactly that version.
pub fn unpublished_changes(ctx: &Ctx<'_>, slug: &str, published_head: &str, live_heads: &str) -> String {
    let t = ctx.t();
    let to = live_heads.split(',').next().unwrap_or("");
    format!(
        "<p class=\"notice\" role=\"status\">{} <a href=\"/wiki/{s}/history?from={}&amp;to={}\">{}</a> · {}</p>",
        t.unpublished_changes,
        escape(published_head),
        escape(to),
        t.see_changes,
        publish_version_form(ctx, slug, live_heads, t.publish_changes),
        s = escape(slug),
    )
}

/// The one-time setup page that creates the first maintainer.
pub fn setup(ctx: &Ctx<'_>, secret: &str, csrf: &str, error: Option<&str>) -> String {
    let t = ctx.t();
    let error = error.map(|e| format!("<p class=\"error\" role=\"alert\">{}</p>\n", escape(e))).unwrap_or_default();
    let m = format!(
        "<h1>{title}</h1>\n<p>{intro}</p>\n{error}<form method=\"post\" action=\"/setup/{secret}\">\n\
<input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\n\
<p><label for=\"name\">{name_label}</label><br><input id=\"name\" name=\"name\" autocomplete=\"username\" required></p>\n\
<p><label for=\"password\">{password}</label><br><input id=\"password\" name=\"password\" type=\"password\" autocomplete=\"new-password\" minlength=\"10\" required></p>\n\
<p><label for=\"password2\">{password2}</label><br><input id=\"password2\" name=\"password2\" type=\"password\" autocomplete=\"new-password\" minlength=\"10\" required></p>\n\
<p><button type=\"submit\">{button}</button></p>\n</form>\n",
        title = t.setup_title,
        intro = t.setup_intro,
        secret = escape(secret),
        csrf = escape(csrf),
        name_label = t.account_name,
        password = t.password,
        password2 = t.password_again,
        button = t.setup_button,
    );
    layout(ctx, t.setup_title, &m)
}

/// The audit log: (time, who, what, target), newest first.
pub fn audit(ctx: &Ctx<'_>, rows: &[(i64, String, String, String)]) -> String {
    let t = ctx.t();
    let mut m = format!(
        "<h1>{}</h1>\n<table class=\"audit\">\n<thead><tr><th scope=\"col\">{}</th><th scope=\"col\">{}</th><th scope=\"col\">{}</th><th scope=\"col\">{}</th></tr></thead>\n<tbody>\n",
        t.audit, t.when, t.who, t.what, t.target
    );
    for (at, who, what, target) in rows {
        let _ = writeln!(
            m,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            time_el(ctx, *at),
            escape(who),
            escape(&action_label(ctx.lang, what)),
            escape(target)
        );
    }
    m.push_str("</tbody>\n</table>\n");
    layout(ctx, t.audit, &m)
}

/// A stored file as the maintainers' list shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileRow {
    /// `HASH.EXT`, its address under `/files/`.
    pub name: String,
    /// "JPEG", "PDF"…
    pub kind: String,
    /// Pixels, for a picture.
    pub size_px: Option<(u32, u32)>,
    pub bytes: u64,
    pub at_ms: i64,
    pub by: String,
    /// The pages and minutes that name it: (slug, title).
    pub used_by: Vec<(String, String)>,
}

impl FileRow {
    /// The name people read: the start of the hash and the extension.
    fn short_name(&self) -> String {
        let (hash, ext) = self.name.split_once('.').unwrap_or((&self.name, ""));
        format!("{}….{ext}", hash.get(..12).unwrap_or(hash))
    }
}

/// A size in bytes as a reader of `lang` writes it: "12,5 ko", "12.5 kB".
pub fn byte_size(lang: Lang, bytes: u64) -> String {
    let (value, unit) = match bytes {
        b if b < 1000 => return format!("{b}\u{a0}{}", if lang == Lang::Fr { "o" } else { "B" }),
        b if b < 1_000_000 => (b as f64 / 1e3, if lang == Lang::Fr { "ko" } else { "kB" }),
        b => (b as f64 / 1e6, if lang == Lang::Fr { "Mo" } else { "MB" }),
    };
    let n = format!("{value:.1}");
    let n = if lang == Lang::Fr { n.replace('.', ",") } else { n };
    format!("{n}\u{a0}{unit}")
}

fn used_by_links(ctx: &Ctx<'_>, used_by: &[(String, String)]) -> String {
    if used_by.is_empty() {
        return format!("<span class=\"meta\">{}</span>", ctx.t().file_unused);
    }
    used_by
        .iter()
        .map(|(slug, title)| format!("<a href=\"/wiki/{}\">{}</a>", escape(&url_segment(slug)), escape(title)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `/files`: every stored file, newest first, each with the pages that use
/// it and a link that asks before deleting it; `deleted` names the file just
/// deleted.
pub fn files(ctx: &Ctx<'_>, rows: &[FileRow], deleted: Option<&str>) -> String {
    let t = ctx.t();
    let mut m = format!("<h1>{}</h1>\n<p class=\"help\">{}</p>\n", t.files, t.files_intro);
    if let Some(name) = deleted {
        let _ = writeln!(m, "<p class=\"notice\" role=\"status\"><code>{}</code> {}</p>", escape(name), t.file_deleted);
    }
    if rows.is_empty() {
        let _ = writeln!(m, "<p>{}</p>", t.no_files);
        return layout(ctx, t.files, &m);
    }
    let _ = writeln!(
        m,
        "<table class=\"list files\">\n<thead><tr><th scope=\"col\">{}</th><th scope=\"col\">{}</th><th scope=\"col\">{}</th>\
<th scope=\"col\">{}</th><th scope=\"col\">{}</th><th scope=\"col\"><span class=\"visually-hidden\">{}</span></th></tr></thead>\n<tbody>",
        t.file, t.file_type, t.file_size, t.file_added, t.file_used_by, t.delete
    );
    for r in rows {
        let kind = match r.size_px {
            Some((w, h)) => format!("{} {w}\u{a0}×\u{a0}{h}", escape(&r.kind)),
            None => escape(&r.kind),
        };
        let _ = writeln!(
            m,
            "<tr><th scope=\"row\"><a href=\"/files/{name}\"><code>{short}</code></a></th>\
<td data-label=\"{type_}\">{kind}</td><td class=\"num\" data-label=\"{size}\">{bytes}</td>\
<td data-label=\"{added}\">{at} · {by}</td><td data-label=\"{used}\">{used_by}</td>\
<td><a class=\"danger\" href=\"/files/{name}/delete\" aria-label=\"{delete} {short}\">{delete}</a></td></tr>",
            name = escape(&r.name),
            short = escape(&r.short_name()),
            type_ = t.file_type,
            size = t.file_size,
            bytes = byte_size(ctx.lang, r.bytes),
            added = t.file_added,
            at = time_el(ctx, r.at_ms),
            by = escape(&r.by),
            used = t.file_used_by,
            used_by = used_by_links(ctx, &r.used_by),
            delete = t.delete,
        );
    }
    m.push_str("</tbody>\n</table>\n");
    layout(ctx, t.files, &m)
}

/// Asks a maintainer to confirm deleting a stored file, saying which pages
/// still use it.
pub fn file_delete_confirmation(ctx: &Ctx<'_>, row: &FileRow) -> String {
    let t = ctx.t();
    let used = if row.used_by.is_empty() {
        String::new()
    } else {
        format!("<p class=\"notice\" id=\"still-used\">{} {}</p>\n", t.file_still_used, used_by_links(ctx, &row.used_by))
    };
    let preview = if row.size_px.is_some() {
        format!("<p><img class=\"file-preview\" src=\"/files/{}\" alt=\"\"></p>\n", escape(&row.name))
    } else {
        String::new()
    };
    let m = format!(
        "<h1>{question}</h1>\n<p><a href=\"/files/{name}\"><code>{short}</code></a> · {kind} · {bytes}</p>\n{preview}{used}<p>{explain}</p>\n\
<form method=\"post\" action=\"/files/{name}/delete\"><input type=\"hidden\" name=\"csrf\" value=\"{csrf}\"><input type=\"hidden\" name=\"confirm\" value=\"yes\">\
<button type=\"submit\" class=\"danger\">{confirm}</button> <a href=\"/files\">{cancel}</a></form>\n",
        question = t.file_delete_question,
        name = escape(&row.name),
        short = escape(&row.short_name()),
        kind = escape(&row.kind),
        bytes = byte_size(ctx.lang, row.bytes),
        explain = t.file_delete_explain,
        csrf = escape(ctx.csrf.unwrap_or("")),
        confirm = t.delete_confirm,
        cancel = t.cancel,
    );
    layout(ctx, t.file_delete_question, &m)
}

/// An audit action (stored in English, as a stable key) as the reader reads it.
pub fn action_label(lang: Lang, action: &str) -> String {
    let fr = match action {
        "account created" => "compte créé",
        "account changed" => "compte modifié",
        "token created" => "jeton créé",
        "token revoked" => "jeton révoqué",
        "invite created" => "lien d’invitation créé",
        "invite revoked" => "lien d’invitation révoqué",
        "published" => "publication",
        "unpublished" => "dépublication",
        "deleted" => "suppression",
        "undeleted" => "rétablissement",
        "restored" => "restauration d’une version",
        "imported" => "import",
        "promoted" => "compte rendu devenu page",
        "next meeting prepared" => "prochaine réunion préparée",
        "public history on" => "historique public activé",
        "public history off" => "historique public désactivé",
        "template marked" => "page marquée comme modèle",
        "template unmarked" => "page retirée des modèles",
        "page made from a template" => "page créée à partir d’un modèle",
        "file deleted" => "fichier supprimé",
        other => other,
    };
    match lang {
        Lang::Fr => fr.to_owned(),
        Lang::En => action.to_owned(),
    }
}

/// The page an invite link opens: choose the name others will see.
pub fn join(ctx: &Ctx<'_>, secret: &str, title: &str, write: bool, csrf: &str, error: Option<&str>) -> String {
    let t = ctx.t();
    let error = error.map(|e| format!("<p class=\"error\" role=\"alert\">{}</p>\n", escape(e))).unwrap_or_default();
    let m = format!(
        "<h1>{heading}</h1>\n<p>{intro} {title} ({mode}).</p>\n{error}<form method=\"post\" action=\"/join/{secret}\">\n\
<input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\n\
<p><label for=\"name\">{name_label}</label><br><input id=\"name\" name=\"name\" autocomplete=\"nickname\" maxlength=\"64\" required></p>\n\
<p class=\"help\">{help}</p>\n<p><button type=\"submit\">{button}</button></p>\n</form>\n",
        heading = t.join_title,
        intro = t.join_intro,
        title = quoted(ctx.lang, &escape(title)),
        mode = if write { t.join_edit } else { t.join_view },
        secret = escape(secret),
        csrf = escape(csrf),
        name_label = t.display_name,
        help = t.display_name_help,
        button = t.join_button,
    );
    layout(ctx, t.join_title, &m)
}

/// The maintainers' import form.
pub fn import_form(ctx: &Ctx<'_>) -> String {
    let t = ctx.t();
    let m = format!(
        "<h1>{title}</h1>\n<p>{intro}</p>\n<form method=\"post\" action=\"/import\" enctype=\"multipart/form-data\">\n\
<input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\n\
<p><label for=\"file\">{label}</label><br><input id=\"file\" name=\"file\" type=\"file\" accept=\".md,.zip,.gz,.tgz\" required></p>\n\
<p><button type=\"submit\">{button}</button></p>\n</form>\n",
        title = t.import,
        intro = t.import_intro,
        csrf = escape(ctx.csrf.unwrap_or("")),
        label = t.import_file,
        button = t.import,
    );
    layout(ctx, t.import, &m)
}

/// The import report; `list` goes inside the list of files (streamed).
pub fn import_result(ctx: &Ctx<'_>, list: &str) -> String {
    let t = ctx.t();
    layout(ctx, t.import, &format!("<h1>{}</h1>\n<ol class=\"import\" aria-live=\"polite\">\n{list}", t.import))
}

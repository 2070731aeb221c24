//! The Markdown file format: YAML front matter, a blank line, then the body.
//!
//! ```text
//! ---
//! title: "Écoles ouvertes"
//! kind: page
//! slug: "ecoles-ouvertes"
//! ...
//! ---
//!
//! # Markdown body
//! ```
//!
//! Export is deterministic (every string double-quoted with YAML escapes, keys in a
//! fixed order), so importing a file Cahier wrote and exporting it again gives the
//! same bytes. Import errors name the file and the line.

use serde::Deserialize;

use crate::schema::{Action, DEFAULT_LICENSE, DocView, Kind, MinutesFields, SCHEMA_VERSION, Status, is_valid_slug, slugify};

/// A file that cannot be imported, and where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{line}: {message}")]
pub struct ImportError {
    pub file: String,
    /// 1-based line in the file.
    pub line: usize,
    pub message: String,
}

/// What a Markdown file holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Imported {
    /// The document; its `imported_credits` are the file's `contributors`.
    pub view: DocView,
}

/// Writes a document as a Markdown file, with `contributors` in the front matter.
pub fn to_markdown(view: &DocView, contributors: &[String]) -> String {
    let mut out = String::from("---\n");
    field(&mut out, "title", &quote(&view.title));
    field(&mut out, "kind", view.kind.as_str());
    field(&mut out, "slug", &quote(&view.slug));
    field(&mut out, "status", view.status.as_str());
    field(&mut out, "license", &quote(&view.license));
    list(&mut out, "tags", &view.tags);
    list(&mut out, "contributors", contributors);
    if let Some(ms) = view.created_ms {
        field(&mut out, "created", &crate::time::format_ms(ms));
    }
    if let Some(ms) = view.updated_ms {
        field(&mut out, "updated", &crate::time::format_ms(ms));
    }
    if let Some(m) = &view.minutes {
        field(&mut out, "starts", &quote(&m.starts_at));
        field(&mut out, "place", &quote(&m.place));
        field(&mut out, "facilitator", &quote(&m.facilitator));
        list(&mut out, "participants", &m.participants);
        list(&mut out, "agenda", &m.agenda);
        list(&mut out, "decisions", &m.decisions);
        if m.actions.is_empty() {
            out.push_str("actions: []\n");
        } else {
            out.push_str("actions:\n");
            for a in &m.actions {
                out.push_str(&format!("  - text: {}\n", quote(&a.text)));
                out.push_str(&format!("    owner: {}\n", quote(&a.owner)));
                out.push_str(&format!("    due: {}\n", quote(&a.due)));
                out.push_str(&format!("    done: {}\n", a.done));
            }
        }
    }
    out.push_str("---\n\n");
    out.push_str(&view.body);
    out
}

/// The file name Cahier gives a document in an export: `SLUG.md`.
pub fn file_name(view: &DocView) -> String {
    format!("{}.md", view.slug)
}

fn field(out: &mut String, key: &str, value: &str) {
    out.push_str(key);
    out.push_str(": ");
    out.push_str(value);
    out.push('\n');
}

fn list(out: &mut String, key: &str, items: &[String]) {
    out.push_str(key);
    if items.is_empty() {
        out.push_str(": []\n");
        return;
    }
    out.push_str(":\n");
    for item in items {
        out.push_str("  - ");
        out.push_str(&quote(item));
        out.push('\n');
    }
}

/// A YAML double-quoted scalar that reads back as exactly `s`.
fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{0}' => out.push_str("\\0"),
            c if is_yaml_printable(c) => out.push(c),
            c if (c as u32) < 0x100 => out.push_str(&format!("\\x{:02X}", c as u32)),
            c if (c as u32) < 0x10000 => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push_str(&format!("\\U{:08X}", c as u32)),
        }
    }
    out.push('"');
    out
}

/// YAML's printable set, less the characters YAML 1.1 treats as line breaks
/// (NEL, LS, PS) and the byte-order mark, which are escaped instead.
fn is_yaml_printable(c: char) -> bool {
    matches!(c as u32, 0x20..=0x7E | 0xA0..=0xD7FF | 0xE000..=0xFFFD | 0x10000..=0x10FFFF)
        && !matches!(c, '\u{2028}' | '\u{2029}' | '\u{FEFF}')
}

#[derive(Debug, Default, Deserialize)]
struct Front {
    title: Option<String>,
    kind: Option<String>,
    slug: Option<String>,
    status: Option<String>,
    license: Option<String>,
    tags: Option<Vec<String>>,
    contributors: Option<Vec<String>>,
    created: Option<String>,
    updated: Option<String>,
    starts: Option<String>,
    place: Option<String>,
    facilitator: Option<String>,
    participants: Option<Vec<String>>,
    agenda: Option<Vec<String>>,
    decisions: Option<Vec<String>>,
    actions: Option<Vec<FrontAction>>,
}

#[derive(Debug, Default, Deserialize)]
struct FrontAction {
    text: Option<String>,
    owner: Option<String>,
    due: Option<String>,
    done: Option<bool>,
}

/// Reads a Markdown file. `file` is only used to name it in errors.
pub fn from_markdown(file: &str, text: &str) -> Result<Imported, ImportError> {
    let err = |line: usize, message: String| ImportError { file: file.to_owned(), line, message };
    let text = text.strip_prefix('\u{FEFF}').unwrap_or(text);
    let mut lines = text.split_inclusive('\n');
    let first = lines.next().unwrap_or("");
    if first.trim_end_matches(['\n', '\r']) != "---" {
        return Err(err(1, "expected front matter: the file must start with a line `---`, then `title: …`".into()));
    }
    let mut yaml = String::new();
    let mut offset = first.len();
    let mut closed = false;
    let mut fm_lines: Vec<&str> = Vec::new();
    for line in lines.by_ref() {
        offset += line.len();
        let bare = line.trim_end_matches(['\n', '\r']);
        if bare == "---" || bare == "..." {
            closed = true;
            break;
        }
        fm_lines.push(bare);
        yaml.push_str(line);
    }
    if !closed {
        return Err(err(1, "front matter is not closed: add a line `---` after it".into()));
    }
    let rest = &text[offset..];
    let body = rest.strip_prefix("\r\n").or_else(|| rest.strip_prefix('\n')).unwrap_or(rest);

    // Line of a top-level key in the file, for errors about its value.
    let line_of = |key: &str| {
        fm_lines.iter().position(|l| l.strip_prefix(key).is_some_and(|r| r.trim_start().starts_with(':'))).map(|i| i + 2).unwrap_or(1)
    };

    let front: Front = if yaml.trim().is_empty() {
        Front::default()
    } else {
        serde_norway::from_str(&yaml).map_err(|e| {
            let line = e.location().map(|l| l.line() + 1).unwrap_or(1);
            err(line, format!("invalid front matter: {e}"))
        })?
    };

    let title = match front.title {
        Some(t) if !t.trim().is_empty() => t,
        // Untitled minutes, as an export writes them: their slug names them.
        Some(t) if front.slug.as_deref().is_some_and(is_valid_slug) => t,
        Some(_) => return Err(err(line_of("title"), "the title is empty (give a title or a slug)".into())),
        None => return Err(err(1, "the front matter has no `title`".into())),
    };
    let kind = match front.kind.as_deref() {
        None => Kind::Page,
        Some(k) => Kind::parse(k).ok_or_else(|| err(line_of("kind"), format!("unknown kind {k:?}: use `page` or `minutes`")))?,
    };
    let slug = match front.slug {
        None => slugify(&title),
        Some(s) if is_valid_slug(&s) => s,
        Some(s) => {
            return Err(err(
                line_of("slug"),
                format!("invalid slug {s:?}: use lowercase letters, digits and hyphens, e.g. {:?}", slugify(&s)),
            ));
        }
    };
    let status = match front.status.as_deref() {
        None => Status::Draft,
        Some(s) => Status::parse(s).ok_or_else(|| err(line_of("status"), format!("unknown status {s:?}: use `draft` or `published`")))?,
    };
    let license = match front.license {
        None => DEFAULT_LICENSE.to_owned(),
        Some(l) if !l.is_empty() && l.chars().all(|c| c.is_ascii_alphanumeric() || ".+-".contains(c)) => l,
        Some(l) => {
            return Err(err(line_of("license"), format!("invalid licence {l:?}: use an SPDX identifier such as CC-BY-4.0")));
        }
    };
    let date = |key: &str, value: Option<String>| -> Result<Option<i64>, ImportError> {
        match value {
            None => Ok(None),
            Some(v) => crate::time::parse_ms(&v)
                .map(Some)
                .ok_or_else(|| err(line_of(key), format!("invalid date {v:?}: use 2026-11-20T18:30:00Z or 2026-11-20"))),
        }
    };
    let created_ms = date("created", front.created)?;
    let updated_ms = date("updated", front.updated)?;

    let has_minutes_fields = front.starts.is_some()
        || front.place.is_some()
        || front.facilitator.is_some()
        || front.participants.is_some()
        || front.agenda.is_some()
        || front.decisions.is_some()
        || front.actions.is_some();
    let minutes = match kind {
        Kind::Page if has_minutes_fields => {
            let key = ["starts", "place", "facilitator", "participants", "agenda", "decisions", "actions"]
                .into_iter()
                .find(|k| line_of(k) > 1)
                .unwrap_or("starts");
            return Err(err(line_of(key), format!("`{key}` belongs to minutes: add `kind: minutes`")));
        }
        Kind::Page => None,
        Kind::Minutes => Some(MinutesFields {
            starts_at: front.starts.unwrap_or_default(),
            place: front.place.unwrap_or_default(),
            facilitator: front.facilitator.unwrap_or_default(),
            participants: front.participants.unwrap_or_default(),
            agenda: front.agenda.unwrap_or_default(),
            decisions: front.decisions.unwrap_or_default(),
            actions: front
                .actions
                .unwrap_or_default()
                .into_iter()
                .map(|a| Action {
                    text: a.text.unwrap_or_default(),
                    owner: a.owner.unwrap_or_default(),
                    due: a.due.unwrap_or_default(),
                    done: a.done.unwrap_or(false),
                })
                .collect(),
        }),
    };
    Ok(Imported {
        view: DocView {
            kind,
            schema_version: SCHEMA_VERSION,
            title,
            slug,
            body: body.to_owned(),
            tags: front.tags.unwrap_or_default(),
            license,
            status,
            created_ms,
            updated_ms,
            imported_credits: distinct_names(front.contributors.unwrap_or_default()),
            minutes,
        },
    })
}

/// Contributors as credited: each name once, in order, blank ones left out.
pub fn distinct_names(names: Vec<String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for n in names {
        if !n.trim().is_empty() && !out.contains(&n) {
            out.push(n);
        }
    }
    out
}

/// Exports a whole document: the view now, credited to the authors of its surviving text.
pub fn export_document(doc: &automerge::Automerge) -> (String, DocView) {
    let (view, _) = crate::read(doc, None);
    let names: Vec<String> = crate::contributors(doc, None).into_iter().map(|c| c.name).collect();
    (to_markdown(&view, &names), view)
}

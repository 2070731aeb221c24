//! History: versions, editing sessions, views of past versions and line diffs.

use automerge::{Automerge, ChangeHash, ChangeMetadata};

use crate::schema::{DocView, Problem};

/// Two changes by the same author belong to one editing session when the second
/// comes at most this long after the first.
pub const SESSION_GAP_SECS: i64 = 5 * 60;

/// One change of the document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Version {
    pub hash: ChangeHash,
    /// Who made it: the change's author, or `None` when the change carries none.
    pub author: Option<String>,
    /// The Automerge actor, as hex.
    pub actor: String,
    /// Seconds since the epoch; 0 when the client recorded no time.
    pub time: i64,
    pub message: Option<String>,
}

/// Consecutive changes by one author, each within [`SESSION_GAP_SECS`] of the previous.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub author: Option<String>,
    pub actor: String,
    pub start: i64,
    pub end: i64,
    /// Oldest first. The last one is the session's resulting version.
    pub versions: Vec<Version>,
}

impl Session {
    /// The version this session ended on.
    pub fn last(&self) -> &Version {
        // A session is never built empty.
        &self.versions[self.versions.len() - 1]
    }
}

/// The name recorded as the author of a change: its author bytes as UTF-8.
pub fn author_name(meta: &ChangeMetadata<'_>) -> Option<String> {
    let author = meta.author.as_ref()?;
    std::str::from_utf8(author.as_bytes()).ok().map(str::to_owned)
}

/// Every change, in causal order (a change comes after all its dependencies).
pub fn versions(doc: &Automerge) -> Vec<Version> {
    doc.get_changes_meta(&[])
        .iter()
        .map(|m| Version {
            hash: m.hash,
            author: author_name(m),
            actor: m.actor.to_hex_string(),
            time: m.timestamp,
            message: m.message.as_ref().map(|s| s.to_string()),
        })
        .collect()
}

/// Groups versions into editing sessions: one author's consecutive changes, each
/// within [`SESSION_GAP_SECS`] of the one before.
pub fn sessions(versions: &[Version]) -> Vec<Session> {
    let mut out: Vec<Session> = Vec::new();
    for v in versions {
        let same_person = |s: &Session| match (&s.author, &v.author) {
            (Some(a), Some(b)) => a == b,
            (None, None) => s.actor == v.actor,
            _ => false,
        };
        match out.last_mut() {
            Some(s) if same_person(s) && v.time >= s.end && v.time.saturating_sub(s.end) <= SESSION_GAP_SECS => {
                s.end = v.time;
                s.versions.push(v.clone());
            }
            _ => out.push(Session {
                author: v.author.clone(),
                actor: v.actor.clone(),
                start: v.time,
                end: v.time,
                versions: vec![v.clone()],
            }),
        }
    }
    out
}

/// The document as it was right after `version` (that change and everything it depended on).
pub fn view_at(doc: &Automerge, version: &[ChangeHash]) -> (DocView, Vec<Problem>) {
    crate::read(doc, Some(version))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineChange {
    Same,
    Added,
    Removed,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiffLine {
    pub change: LineChange,
    /// The line, without its line break.
    pub text: String,
}

/// A line diff from `old` to `new`.
pub fn line_diff(old: &str, new: &str) -> Vec<DiffLine> {
    let diff = similar::TextDiff::from_lines(old, new);
    diff.iter_all_changes()
        .map(|c| DiffLine {
            change: match c.tag() {
                similar::ChangeTag::Equal => LineChange::Same,
                similar::ChangeTag::Insert => LineChange::Added,
                similar::ChangeTag::Delete => LineChange::Removed,
            },
            text: c.value().trim_end_matches(['\n', '\r']).to_owned(),
        })
        .collect()
}

/// The line diff of the body between two versions.
pub fn diff_versions(doc: &Automerge, from: &[ChangeHash], to: &[ChangeHash]) -> Vec<DiffLine> {
    let (a, _) = crate::read(doc, Some(from));
    let (b, _) = crate::read(doc, Some(to));
    line_diff(&a.body, &b.body)
}

/// A diff in the familiar unified form (`+`, `-`, and a space for context).
pub fn render_diff(lines: &[DiffLine]) -> String {
    let mut out = String::new();
    for l in lines {
        out.push(match l.change {
            LineChange::Same => ' ',
            LineChange::Added => '+',
            LineChange::Removed => '-',
        });
        out.push_str(&l.text);
        out.push('\n');
    }
    out
}

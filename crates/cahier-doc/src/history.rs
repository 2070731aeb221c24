//! History: versions, editing sessions, views of past versions and line diffs.

use std::collections::BTreeSet;

use automerge::{Automerge, ChangeHash, ChangeMetadata};

use crate::schema::{DocView, Problem};

/// A pause longer than this between two consecutive changes (in the document's
/// change order) ends an editing session.
pub const SESSION_GAP_SECS: i64 = 5 * 60;

/// One change of the document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Version {
    pub hash: ChangeHash,
    /// The changes this one was made on top of.
    pub deps: Vec<ChangeHash>,
    /// Who made it: the change's author, or `None` when the change carries none.
    pub author: Option<String>,
    /// The Automerge actor, as hex.
    pub actor: String,
    /// Seconds since the epoch; 0 when the client recorded no time.
    pub time: i64,
    pub message: Option<String>,
}

/// Consecutive changes with no pause longer than [`SESSION_GAP_SECS`] between
/// one and the next, whoever made them: a meeting where three people type is
/// one session naming the three.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// Everyone who wrote in it, in order of first appearance, once each.
    pub authors: Vec<String>,
    /// The actors (hex) of its changes that carry no author, once each.
    pub unnamed: Vec<String>,
    /// Seconds since the epoch: the earliest and the latest of its changes' times.
    pub start: i64,
    pub end: i64,
    /// How many changes it holds.
    pub changes: usize,
    /// The document's heads once this session's changes and every change
    /// before them are applied, sorted: the version it ended on.
    pub heads: Vec<ChangeHash>,
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
            deps: m.deps.clone(),
            author: author_name(m),
            actor: m.actor.to_hex_string(),
            time: m.timestamp,
            message: m.message.as_ref().map(|s| s.to_string()),
        })
        .collect()
}

/// Groups versions, in the order given (causal, as [`versions`] returns them),
/// into editing sessions: a change joins the current session unless its time
/// is more than [`SESSION_GAP_SECS`] away from the previous change's (either
/// way: a device whose clock or connection lagged starts a session of its own).
pub fn sessions(versions: &[Version]) -> Vec<Session> {
    let mut out: Vec<Session> = Vec::new();
    let mut heads: BTreeSet<ChangeHash> = BTreeSet::new();
    let mut previous: Option<i64> = None;
    for v in versions {
        for d in &v.deps {
            heads.remove(d);
        }
        heads.insert(v.hash);
        let paused = previous.is_none_or(|p| v.time.saturating_sub(p).unsigned_abs() > SESSION_GAP_SECS.unsigned_abs());
        previous = Some(v.time);
        if paused {
            out.push(Session { authors: Vec::new(), unnamed: Vec::new(), start: v.time, end: v.time, changes: 0, heads: Vec::new() });
        }
        // Just pushed when there was none.
        let Some(s) = out.last_mut() else { continue };
        match &v.author {
            Some(a) if !s.authors.contains(a) => s.authors.push(a.clone()),
            None if !s.unnamed.contains(&v.actor) => s.unnamed.push(v.actor.clone()),
            _ => {}
        }
        s.start = s.start.min(v.time);
        s.end = s.end.max(v.time);
        s.changes += 1;
        s.heads = heads.iter().copied().collect();
    }
    out
}

/// The session that ended on exactly these heads (in any order), if any.
pub fn session_ending_at<'a>(sessions: &'a [Session], heads: &[ChangeHash]) -> Option<&'a Session> {
    let mut heads = heads.to_vec();
    heads.sort();
    heads.dedup();
    sessions.iter().find(|s| s.heads == heads)
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

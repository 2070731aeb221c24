//! History: versions, editing sessions, views of past versions and diffs,
//! line by line and word by word.

use std::collections::{BTreeSet, HashMap, HashSet};

use automerge::{Automerge, ChangeHash, ChangeMetadata};

use crate::schema::{DocView, Problem};

/// A pause longer than this between a change and the changes it was made on
/// top of ends an editing session.
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

/// Changes made on top of one another with no pause longer than
/// [`SESSION_GAP_SECS`] between a change and those it was made on: a meeting
/// where three people type is one session naming the three (each types on top
/// of the others' words within seconds), while someone writing offline at the
/// same time has a session of her own (her changes are made on top of her
/// own only).
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
    /// The version it ended on: its changes on top of everything they were
    /// made on (heads, sorted). Never includes concurrent work of another session.
    pub heads: Vec<ChangeHash>,
    /// The version it started from: the changes outside it that its changes
    /// were made on (sorted; empty for the session that created the document).
    pub before: Vec<ChangeHash>,
    /// Its changes, in causal order.
    pub hashes: Vec<ChangeHash>,
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

/// The changes of `versions` that `heads` contain (the heads and everything
/// they were made on), in the order given. A hash `versions` lacks is ignored.
pub fn up_to(versions: &[Version], heads: &[ChangeHash]) -> Vec<Version> {
    let within = ancestors(versions, heads);
    versions.iter().filter(|v| within.contains(&v.hash)).cloned().collect()
}

/// Whether every change of `inner` is contained in the version `outer`.
pub fn contains(versions: &[Version], outer: &[ChangeHash], inner: &[ChangeHash]) -> bool {
    let within = ancestors(versions, outer);
    inner.iter().all(|h| within.contains(h))
}

/// The changes of `versions` that the version `heads` contains.
pub fn ancestors(versions: &[Version], heads: &[ChangeHash]) -> HashSet<ChangeHash> {
    let deps: HashMap<ChangeHash, &[ChangeHash]> = versions.iter().map(|v| (v.hash, v.deps.as_slice())).collect();
    let mut seen: HashSet<ChangeHash> = HashSet::new();
    let mut todo: Vec<ChangeHash> = heads.iter().copied().filter(|h| deps.contains_key(h)).collect();
    while let Some(h) = todo.pop() {
        if seen.insert(h) {
            todo.extend(deps.get(&h).into_iter().flat_map(|d| d.iter()).copied().filter(|d| !seen.contains(d) && deps.contains_key(d)));
        }
    }
    seen
}

/// Groups versions, in the order given (causal, as [`versions`] returns them),
/// into editing sessions. A change joins the sessions of the changes it was
/// made on that are at most [`SESSION_GAP_SECS`] away from it in time (either
/// way: a device whose clock lagged starts a session of its own), uniting them
/// when there are several (a merge typed on at once); with none near enough
/// it starts a session. A change made on nothing (a document's first) joins
/// the session of the change listed before it when that one is near enough.
pub fn sessions(versions: &[Version]) -> Vec<Session> {
    let near = |a: i64, b: i64| a.saturating_sub(b).unsigned_abs() <= SESSION_GAP_SECS.unsigned_abs();
    let index: HashMap<ChangeHash, usize> = versions.iter().enumerate().map(|(i, v)| (v.hash, i)).collect();
    // Union-find over the versions: each points towards its session's first change.
    let mut parent: Vec<usize> = (0..versions.len()).collect();
    fn root(parent: &mut [usize], mut i: usize) -> usize {
        while parent[i] != i {
            parent[i] = parent[parent[i]];
            i = parent[i];
        }
        i
    }
    for (i, v) in versions.iter().enumerate() {
        let linked: Vec<usize> =
            v.deps.iter().filter_map(|d| index.get(d).copied()).filter(|&j| j < i && near(v.time, versions[j].time)).collect();
        let linked = if v.deps.is_empty() && i > 0 && near(v.time, versions[i - 1].time) { vec![i - 1] } else { linked };
        for j in linked {
            let (a, b) = (root(&mut parent, i), root(&mut parent, j));
            // The earlier change stays the root, so sessions keep the order of their first change.
            parent[a.max(b)] = a.min(b);
        }
    }
    let mut out: Vec<Session> = Vec::new();
    let mut slot: HashMap<usize, usize> = HashMap::new();
    for (i, v) in versions.iter().enumerate() {
        let r = root(&mut parent, i);
        let s = *slot.entry(r).or_insert_with(|| {
            out.push(Session {
                authors: Vec::new(),
                unnamed: Vec::new(),
                start: v.time,
                end: v.time,
                changes: 0,
                heads: Vec::new(),
                before: Vec::new(),
                hashes: Vec::new(),
            });
            out.len() - 1
        });
        let s = &mut out[s];
        match &v.author {
            Some(a) if !s.authors.contains(a) => s.authors.push(a.clone()),
            None if !s.unnamed.contains(&v.actor) => s.unnamed.push(v.actor.clone()),
            _ => {}
        }
        s.start = s.start.min(v.time);
        s.end = s.end.max(v.time);
        s.changes += 1;
        s.hashes.push(v.hash);
    }
    for s in &mut out {
        let own: HashSet<ChangeHash> = s.hashes.iter().copied().collect();
        let mut depended: HashSet<ChangeHash> = HashSet::new();
        let mut before: BTreeSet<ChangeHash> = BTreeSet::new();
        for h in &s.hashes {
            for d in index.get(h).map(|&i| versions[i].deps.as_slice()).unwrap_or_default() {
                if own.contains(d) {
                    depended.insert(*d);
                } else {
                    before.insert(*d);
                }
            }
        }
        let mut heads: Vec<ChangeHash> = s.hashes.iter().copied().filter(|h| !depended.contains(h)).collect();
        heads.sort();
        s.heads = heads;
        s.before = before.into_iter().collect();
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

/// What names the version `heads`: the session that ended on it, else the
/// sessions its heads come from taken together (a version where two
/// sessions merged is named by both: the latest end, everyone who wrote).
/// `None` when a head belongs to no session.
pub fn session_naming(sessions: &[Session], heads: &[ChangeHash]) -> Option<Session> {
    if let Some(s) = session_ending_at(sessions, heads) {
        return Some(s.clone());
    }
    let mut from: Vec<&Session> = Vec::new();
    for h in heads {
        let s = sessions.iter().find(|s| s.hashes.contains(h))?;
        if !from.iter().any(|f| std::ptr::eq(*f, s)) {
            from.push(s);
        }
    }
    let (first, rest) = from.split_first()?;
    let mut named = (*first).clone();
    for s in rest {
        for a in &s.authors {
            if !named.authors.contains(a) {
                named.authors.push(a.clone());
            }
        }
        for u in &s.unnamed {
            if !named.unnamed.contains(u) {
                named.unnamed.push(u.clone());
            }
        }
        named.start = named.start.min(s.start);
        named.end = named.end.max(s.end);
        named.changes += s.changes;
    }
    let mut heads = heads.to_vec();
    heads.sort();
    heads.dedup();
    named.heads = heads;
    Some(named)
}

/// The document as it was right after `version` (that change and everything it depended on).
pub fn view_at(doc: &Automerge, version: &[ChangeHash]) -> (DocView, Vec<Problem>) {
    crate::read(doc, Some(version))
}

/// The document just before a session and just after it: the versions its
/// diff compares. "After" is the session's changes on top of "before", so
/// the two differ by exactly what the session's own changes did, whatever
/// happened concurrently elsewhere.
pub fn session_views(doc: &Automerge, session: &Session) -> (DocView, DocView) {
    let (before, _) = crate::read(doc, Some(&session.before));
    let (after, _) = crate::read(doc, Some(&session.heads));
    (before, after)
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

/// The most lines (old and new together) a diff compares; beyond, it is refused
/// ([`TooLarge`]): the line diff's cost grows with the lines times the changes.
pub const MAX_DIFF_LINES: usize = 10_000;
/// The most bytes (old and new together) a diff compares.
pub const MAX_DIFF_BYTES: usize = 1 << 20;
/// A run of changed lines is compared word by word when each side has at most
/// this many tokens; a longer run shows as whole lines removed and added.
pub const MAX_WORD_TOKENS: usize = 4_000;

/// A diff refused because the texts are too long to compare at a bounded cost.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("too long to compare: {lines} lines, {bytes} bytes (at most {max_lines} lines and {max_bytes} bytes)", max_lines = MAX_DIFF_LINES, max_bytes = MAX_DIFF_BYTES)]
pub struct TooLarge {
    pub lines: usize,
    pub bytes: usize,
}

/// A piece of a line in a word diff.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Piece {
    pub change: LineChange,
    pub text: String,
}

/// One line of a word diff: the new text's lines, with removed words kept
/// where they were. A line whose pieces are all [`LineChange::Same`] is unchanged.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Row {
    pub pieces: Vec<Piece>,
}

impl Row {
    /// `Same` for an unchanged line, `Added` or `Removed` for a line wholly
    /// added or removed, `None` for a line with words of both or changed words.
    pub fn change(&self) -> Option<LineChange> {
        let mut marks = self.pieces.iter().filter(|p| !p.text.trim().is_empty() || p.change == LineChange::Same).map(|p| p.change);
        let first = marks.next().unwrap_or(LineChange::Same);
        if marks.all(|m| m == first) { Some(first) } else { None }
    }

    /// The line as plain text, removed words left out.
    pub fn new_text(&self) -> String {
        self.pieces.iter().filter(|p| p.change != LineChange::Removed).map(|p| p.text.as_str()).collect()
    }
}

/// A word diff: its lines and how many words it adds and removes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WordDiff {
    pub rows: Vec<Row>,
    pub added_words: usize,
    pub removed_words: usize,
}

impl WordDiff {
    /// Whether anything changed.
    pub fn is_empty(&self) -> bool {
        self.rows.iter().all(|r| r.change() == Some(LineChange::Same))
    }
}

/// A diff from `old` to `new`: lines first (identical lines are always
/// unchanged, never removed and added again), then, inside each run of changed
/// lines, word by word. Bounded: texts beyond [`MAX_DIFF_LINES`] or
/// [`MAX_DIFF_BYTES`] are refused.
pub fn word_diff(old: &str, new: &str) -> Result<WordDiff, TooLarge> {
    let old_lines: Vec<&str> = old.lines().collect();
    let new_lines: Vec<&str> = new.lines().collect();
    let (lines, bytes) = (old_lines.len() + new_lines.len(), old.len() + new.len());
    if lines > MAX_DIFF_LINES || bytes > MAX_DIFF_BYTES {
        return Err(TooLarge { lines, bytes });
    }
    let mut out = WordDiff::default();
    for op in similar::capture_diff_slices(similar::Algorithm::Myers, &old_lines, &new_lines) {
        let (_, old_range, new_range) = op.as_tag_tuple();
        let (olds, news) = (&old_lines[old_range], &new_lines[new_range]);
        match op.tag() {
            similar::DiffTag::Equal => {
                out.rows.extend(news.iter().map(|l| Row { pieces: vec![piece(LineChange::Same, l)] }));
            }
            similar::DiffTag::Delete => whole(&mut out, olds, LineChange::Removed),
            similar::DiffTag::Insert => whole(&mut out, news, LineChange::Added),
            similar::DiffTag::Replace => {
                let (a, b) = (olds.join("\n"), news.join("\n"));
                let (ta, tb) = (tokens(&a), tokens(&b));
                if ta.len() > MAX_WORD_TOKENS || tb.len() > MAX_WORD_TOKENS {
                    whole(&mut out, olds, LineChange::Removed);
                    whole(&mut out, news, LineChange::Added);
                } else {
                    words(&mut out, &ta, &tb);
                }
            }
        }
    }
    Ok(out)
}

fn piece(change: LineChange, text: &str) -> Piece {
    Piece { change, text: text.to_owned() }
}

fn is_word(token: &str) -> bool {
    token.chars().next().is_some_and(char::is_alphanumeric)
}

fn whole(out: &mut WordDiff, lines: &[&str], change: LineChange) {
    for l in lines {
        let n = tokens(l).iter().filter(|t| is_word(t)).count();
        match change {
            LineChange::Added => out.added_words += n,
            LineChange::Removed => out.removed_words += n,
            LineChange::Same => {}
        }
        out.rows.push(Row { pieces: vec![piece(change, l)] });
    }
}

/// Words (runs of letters and digits), runs of spaces, line breaks, and every
/// other character on its own.
fn tokens(text: &str) -> Vec<&str> {
    #[derive(PartialEq)]
    enum Class {
        Word,
        Space,
        Other,
    }
    let class = |c: char| {
        if c.is_alphanumeric() {
            Class::Word
        } else if c.is_whitespace() && c != '\n' {
            Class::Space
        } else {
            Class::Other
        }
    };
    let mut out = Vec::new();
    let mut start = 0;
    let mut current: Option<Class> = None;
    for (i, c) in text.char_indices() {
        let k = class(c);
        let joins = matches!((&current, &k), (Some(Class::Word), Class::Word) | (Some(Class::Space), Class::Space));
        if !joins && i > start {
            out.push(&text[start..i]);
            start = i;
        }
        current = Some(k);
    }
    if start < text.len() {
        out.push(&text[start..]);
    }
    out
}

fn words(out: &mut WordDiff, old: &[&str], new: &[&str]) {
    let mut row = Row::default();
    let push = |row: &mut Row, change: LineChange, text: &str| match row.pieces.last_mut() {
        Some(last) if last.change == change => last.text.push_str(text),
        _ => row.pieces.push(piece(change, text)),
    };
    for op in similar::capture_diff_slices(similar::Algorithm::Myers, old, new) {
        let (tag, old_range, new_range) = op.as_tag_tuple();
        let removed: &[&str] = if matches!(tag, similar::DiffTag::Delete | similar::DiffTag::Replace) { &old[old_range] } else { &[] };
        for t in removed {
            if *t == "\n" {
                // A line break removed: the two lines are one now.
                continue;
            }
            if is_word(t) {
                out.removed_words += 1;
            }
            push(&mut row, LineChange::Removed, t);
        }
        let (change, kept) = match tag {
            similar::DiffTag::Equal => (LineChange::Same, &new[new_range]),
            similar::DiffTag::Insert | similar::DiffTag::Replace => (LineChange::Added, &new[new_range]),
            similar::DiffTag::Delete => (LineChange::Same, &new[..0]),
        };
        for t in kept {
            if *t == "\n" {
                out.rows.push(std::mem::take(&mut row));
                continue;
            }
            if change == LineChange::Added && is_word(t) {
                out.added_words += 1;
            }
            push(&mut row, change, t);
        }
    }
    out.rows.push(row);
}

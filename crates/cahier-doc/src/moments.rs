//! Moments of a document's history, for the editor's timeslider: its changes
//! in causal order, grouped into runs of one writer lasting at most
//! [`MOMENT_SECS`], then merged evenly down to a given number of moments, so
//! that a meeting of thousands of keystrokes stays a slider of bounded size.
//! Each moment ends on the heads of the document once its changes and every
//! change before them are applied: a version one can show or restore.
//! [`steps`] gives the same history change by change, a page at a time, for
//! the timeslider's "change by change" mode; the changes are in the same
//! order, so the last change of moment `k` is step `sum(changes[..=k]) - 1`.

use std::collections::{BTreeSet, HashMap};

use automerge::{Automerge, ChangeHash};

use crate::attribution::{Writer, writer_of_meta};

/// A run of one writer's changes ends once it lasts longer than this.
pub const MOMENT_SECS: i64 = 10;

/// One moment of the history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Moment {
    /// The version it ends on, sorted.
    pub heads: Vec<ChangeHash>,
    /// Seconds since the epoch: the earliest and latest of its changes' times.
    pub start: i64,
    pub end: i64,
    /// Who made its changes, in order of first appearance, once each.
    pub writers: Vec<Writer>,
    /// How many changes it holds.
    pub changes: usize,
}

/// The document's moments, oldest first, at most `max` of them (at least
/// one when the document has any change). `names` binds actors to people as
/// in [`crate::authorship`].
pub fn moments(doc: &Automerge, names: &dyn Fn(&str) -> Option<String>, max: usize) -> Vec<Moment> {
    let metas = doc.get_changes_meta(&[]);
    // First pass: runs of one writer, as (index of the last change, start, end, writer, changes).
    let mut writers: Vec<Writer> = Vec::new();
    let mut by_actor: HashMap<(String, Option<String>), usize> = HashMap::new();
    let mut runs: Vec<(usize, i64, i64, usize, usize)> = Vec::new();
    for (i, meta) in metas.iter().enumerate() {
        let author = crate::history::author_name(meta);
        let key = (meta.actor.to_hex_string(), author);
        let w = *by_actor.entry(key).or_insert_with(|| {
            let w = writer_of_meta(meta, names);
            writers.iter().position(|x| *x == w).unwrap_or_else(|| {
                writers.push(w);
                writers.len() - 1
            })
        });
        let t = meta.timestamp;
        match runs.last_mut() {
            Some(run) if run.3 == w && t.saturating_sub(run.1).unsigned_abs() <= MOMENT_SECS.unsigned_abs() => {
                run.0 = i;
                run.1 = run.1.min(t);
                run.2 = run.2.max(t);
                run.4 += 1;
            }
            _ => runs.push((i, t, t, w, 1)),
        }
    }
    // Evenly merged down to `max`: moment k covers runs [k·n/max, (k+1)·n/max).
    let n = runs.len();
    let count = n.min(max.max(1));
    let mut out: Vec<Moment> = Vec::with_capacity(count);
    let mut ends: Vec<usize> = Vec::with_capacity(count);
    for k in 0..count {
        let (from, to) = (k * n / count, (k + 1) * n / count);
        let Some(group) = runs.get(from..to) else { continue };
        let mut m = Moment { heads: Vec::new(), start: i64::MAX, end: i64::MIN, writers: Vec::new(), changes: 0 };
        for run in group {
            m.start = m.start.min(run.1);
            m.end = m.end.max(run.2);
            m.changes += run.4;
            if let Some(w) = writers.get(run.3)
                && !m.writers.contains(w)
            {
                m.writers.push(w.clone());
            }
        }
        if let Some(last) = group.last() {
            ends.push(last.0);
            out.push(m);
        }
    }
    // Second pass: the heads once each moment's last change is applied.
    let mut heads: BTreeSet<ChangeHash> = BTreeSet::new();
    let mut next = 0;
    for (i, meta) in metas.iter().enumerate() {
        for d in &meta.deps {
            heads.remove(d);
        }
        heads.insert(meta.hash);
        while ends.get(next) == Some(&i) {
            if let Some(m) = out.get_mut(next) {
                m.heads = heads.iter().copied().collect();
            }
            next += 1;
        }
    }
    out
}

/// One change of the history, as a step of the timeslider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// The version once it and every change before it are applied, sorted.
    pub heads: Vec<ChangeHash>,
    /// Seconds since the epoch, as its writer's clock said.
    pub time: i64,
    pub writer: Writer,
}

/// How many changes the document holds, and its changes `from..from + count`
/// (fewer at the end) in the order [`moments`] groups them.
pub fn steps(doc: &Automerge, names: &dyn Fn(&str) -> Option<String>, from: usize, count: usize) -> (usize, Vec<Step>) {
    let metas = doc.get_changes_meta(&[]);
    let mut writers: HashMap<(String, Option<String>), Writer> = HashMap::new();
    let mut heads: BTreeSet<ChangeHash> = BTreeSet::new();
    let mut out = Vec::new();
    for (i, meta) in metas.iter().enumerate().take(from.saturating_add(count)) {
        for d in &meta.deps {
            heads.remove(d);
        }
        heads.insert(meta.hash);
        if i < from {
            continue;
        }
        let key = (meta.actor.to_hex_string(), crate::history::author_name(meta));
        let writer = writers.entry(key).or_insert_with(|| writer_of_meta(meta, names)).clone();
        out.push(Step { heads: heads.iter().copied().collect(), time: meta.timestamp, writer });
    }
    (metas.len(), out)
}

//! Attribution: who wrote the text that survives, computed from the CRDT.
//!
//! Every character of an Automerge text is an insert operation, and every
//! operation belongs to exactly one change. So the authors of the surviving text
//! are the authors of the changes that inserted the characters still visible,
//! at any version. Deleted text credits nobody.

use std::collections::HashMap;

use automerge::{Automerge, ChangeHash, ChangeMetadata, ReadDoc, ScalarValueRef, ValueRef};

use crate::history::author_name;
use crate::write::IMPORT_AUTHOR;

/// One contributor's share of the surviving body text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Contribution {
    /// The author's name, or `anonyme-` and the first hex digits of the actor when a
    /// change carries no author.
    pub name: String,
    /// UTF-16 code units of surviving text inserted by this contributor.
    pub chars: usize,
}

/// Who wrote the body as it is at `heads` (now, if `None`), most text first.
///
/// Text inserted by an import is credited to the document's `importedCredits`
/// (each with the imported character count), listed first in their own order.
pub fn contributors(doc: &Automerge, heads: Option<&[ChangeHash]>) -> Vec<Contribution> {
    contributors_named(doc, heads, &|_| None)
}

/// Like [`contributors`], with names for changes that carry no author: `names`
/// gets the actor as hex and may answer who it belongs to (the server records
/// which account or guest each actor is, see `docs/security.md`).
pub fn contributors_named(doc: &Automerge, heads: Option<&[ChangeHash]>, names: &dyn Fn(&str) -> Option<String>) -> Vec<Contribution> {
    let mut by_name: HashMap<String, usize> = HashMap::new();
    let mut imported = 0usize;
    for span in authorship(doc, heads, names) {
        let n = span.to - span.from;
        match span.writer.credit_name() {
            Some(name) => *by_name.entry(name).or_default() += n,
            None => imported += n,
        }
    }
    let mut out = Vec::new();
    if imported > 0 {
        let (view, _) = crate::read(doc, heads);
        for name in view.imported_credits {
            if !out.iter().any(|c: &Contribution| c.name == name) {
                out.push(Contribution { name, chars: imported });
            }
        }
    }
    let mut rest: Vec<Contribution> = by_name.into_iter().map(|(name, chars)| Contribution { name, chars }).collect();
    rest.sort_by(|a, b| b.chars.cmp(&a.chars).then_with(|| a.name.cmp(&b.name)));
    for c in rest {
        if let Some(existing) = out.iter_mut().find(|e| e.name == c.name) {
            existing.chars += c.chars;
        } else {
            out.push(c);
        }
    }
    out
}

/// Who wrote a piece of the surviving body, as the credits see it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Writer {
    /// What `names` answered for the change's actor (the server's binding).
    Bound(String),
    /// The change's own author field, for an actor nobody is bound to.
    Author(String),
    /// A change with neither: the first hex digits of its actor.
    Unknown(String),
    /// Brought in by an import: the document's `importedCredits`.
    Imported,
}

impl Writer {
    /// The name the credits give this writer; none for imported text, which
    /// is credited to the document's `importedCredits`.
    pub fn credit_name(&self) -> Option<String> {
        match self {
            Writer::Bound(n) | Writer::Author(n) => Some(n.clone()),
            Writer::Unknown(hex) => Some(format!("anonyme-{hex}")),
            Writer::Imported => None,
        }
    }
}

/// A run of the body's surviving text written by one writer: `from..to` in
/// UTF-16 code units of the body at the version asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Span {
    pub from: usize,
    pub to: usize,
    pub writer: Writer,
}

/// Who wrote each part of the body at `heads` (now, if `None`), in text order,
/// neighbouring runs of one writer merged. The credits ([`contributors_named`])
/// are these spans summed by name; `names` is the same as theirs.
pub fn authorship(doc: &Automerge, heads: Option<&[ChangeHash]>, names: &dyn Fn(&str) -> Option<String>) -> Vec<Span> {
    let Some(body) = crate::write::body_obj(doc, heads) else { return Vec::new() };
    let items = match heads {
        None => doc.list_range(&body, ..),
        Some(h) => doc.list_range_at(&body, .., h),
    };
    // Each change's writer once, by index (a body has far more characters than changes).
    let mut index: HashMap<ChangeHash, usize> = HashMap::new();
    let mut writers: Vec<Writer> = vec![Writer::Imported];
    let mut runs: Vec<(usize, usize, usize)> = Vec::new();
    let mut at = 0usize;
    for item in items {
        let width = match &item.value {
            ValueRef::Scalar(ScalarValueRef::Str(s)) => s.encode_utf16().count(),
            _ => 1,
        };
        let writer = match doc.hash_for_opid(&item.id()) {
            Some(hash) => *index.entry(hash).or_insert_with(|| {
                let w = writer_of(doc, &hash, names);
                writers.iter().position(|x| *x == w).unwrap_or_else(|| {
                    writers.push(w);
                    writers.len() - 1
                })
            }),
            None => 0,
        };
        match runs.last_mut() {
            Some(last) if last.2 == writer => last.1 += width,
            _ => runs.push((at, at + width, writer)),
        }
        at += width;
    }
    runs.into_iter().map(|(from, to, w)| Span { from, to, writer: writers[w].clone() }).collect()
}

fn writer_of(doc: &Automerge, hash: &ChangeHash, names: &dyn Fn(&str) -> Option<String>) -> Writer {
    match doc.get_change_meta_by_hash(hash) {
        Some(meta) => writer_of_meta(&meta, names),
        None => Writer::Imported,
    }
}

/// Who made a change, as the credits name them.
pub(crate) fn writer_of_meta(meta: &ChangeMetadata<'_>, names: &dyn Fn(&str) -> Option<String>) -> Writer {
    // Whoever the server bound the actor to wrote it, whatever the change's
    // own author field claims (any writer can fill that in). The field
    // names only changes of unbound actors: those the server made itself.
    let hex = meta.actor.to_hex_string();
    match (names(&hex), author_name(meta)) {
        (Some(bound), _) => Writer::Bound(bound),
        (None, Some(name)) if name == IMPORT_AUTHOR => Writer::Imported,
        (None, Some(name)) => Writer::Author(name),
        (None, None) => Writer::Unknown(hex[..hex.len().min(8)].to_owned()),
    }
}

//! Attribution: who wrote the text that survives, computed from the CRDT.
//!
//! Every character of an Automerge text is an insert operation, and every
//! operation belongs to exactly one change. So the authors of the surviving text
//! are the authors of the changes that inserted the characters still visible,
//! at any version. Deleted text credits nobody.

use std::collections::HashMap;

use automerge::{Automerge, ChangeHash, ReadDoc, ScalarValueRef, ValueRef};

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
    let Some(body) = crate::write::body_obj(doc, heads) else { return Vec::new() };
    let items = match heads {
        None => doc.list_range(&body, ..),
        Some(h) => doc.list_range_at(&body, .., h),
    };
    let mut by_change: HashMap<ChangeHash, usize> = HashMap::new();
    let mut unknown = 0usize;
    for item in items {
        let width = match &item.value {
            ValueRef::Scalar(ScalarValueRef::Str(s)) => s.encode_utf16().count(),
            _ => 1,
        };
        match doc.hash_for_opid(&item.id()) {
            Some(h) => *by_change.entry(h).or_default() += width,
            None => unknown += width,
        }
    }
    let mut by_name: HashMap<String, usize> = HashMap::new();
    let mut imported = unknown;
    for (hash, n) in by_change {
        let Some(meta) = doc.get_change_meta_by_hash(&hash) else {
            imported += n;
            continue;
        };
        // Whoever the server bound the actor to wrote it, whatever the change's
        // own author field claims (any writer can fill that in). The field
        // names only changes of unbound actors: those the server made itself.
        let hex = meta.actor.to_hex_string();
        match (names(&hex), author_name(&meta)) {
            (Some(bound), _) => *by_name.entry(bound).or_default() += n,
            (None, Some(name)) if name == IMPORT_AUTHOR => imported += n,
            (None, Some(name)) => *by_name.entry(name).or_default() += n,
            (None, None) => {
                let name = format!("anonyme-{}", &hex[..hex.len().min(8)]);
                *by_name.entry(name).or_default() += n;
            }
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

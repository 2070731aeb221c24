//! The oracle, run in a child process on one crash state: the store opens
//! and holds every acknowledged change, or it refuses with a clear error.
//! A panic or a hang is the parent's to see (exit status, timeout).

use std::collections::BTreeMap;
use std::path::Path;

use automerge::{ChangeHash, ReadDoc};
use cahier_doc::DocId;

use crate::{Ack, Backend, hex};

/// What the check found, as the child prints it and the parent reads it back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Everything acknowledged is there.
    Kept,
    /// The store opened without something it had acknowledged.
    Lost(String),
    /// The store refused to open, or a document to load, with this error.
    Refused(String),
}

/// Exit codes of `cahier-powercut check`.
pub const KEPT: i32 = 0;
pub const LOST: i32 = 2;
pub const REFUSED: i32 = 3;

/// The acknowledgements a check expects: the last heads of each document and
/// every record, from the acknowledgements given before the crash point.
pub fn expectations<'a>(acks: impl IntoIterator<Item = &'a Ack>) -> String {
    let mut docs: BTreeMap<&str, &Ack> = BTreeMap::new();
    let mut records = Vec::new();
    for ack in acks {
        match ack {
            Ack::Doc { id, .. } => {
                docs.insert(id, ack);
            }
            Ack::Record { .. } => records.push(ack),
        }
    }
    docs.values().chain(records.iter()).map(|a| a.line()).collect()
}

/// Opens the store in `dir` and checks it holds what `expected` lists.
pub fn run(backend: Backend, dir: &Path, expected: &str) -> Verdict {
    let store = match backend.open(dir) {
        Ok(store) => store,
        Err(e) => return Verdict::Refused(e.to_string()),
    };
    if let Err(e) = store.list() {
        return Verdict::Refused(format!("the index does not read: {e}"));
    }
    for line in expected.lines() {
        match Ack::parse(line) {
            Some(Ack::Doc { id, heads }) => {
                let Ok(doc_id) = DocId::parse(&id) else { return Verdict::Lost(format!("bad document id {id}")) };
                let loaded = match store.load(&doc_id) {
                    Ok(Some(loaded)) => loaded,
                    Ok(None) => return Verdict::Lost(format!("document {id} is missing")),
                    Err(e) => return Verdict::Refused(format!("document {id}: {e}")),
                };
                for h in &heads {
                    let known = parse_hash(h).is_some_and(|h| loaded.doc.get_change_by_hash(&h).is_some());
                    if !known {
                        let have = loaded.doc.get_changes(&[]).len();
                        return Verdict::Lost(format!("document {id} lacks acknowledged change {h} (it has {have} changes)"));
                    }
                }
                match store.backend().entry(&doc_id) {
                    Ok(Some(_)) => {}
                    Ok(None) => return Verdict::Lost(format!("document {id} has no index entry")),
                    Err(e) => return Verdict::Refused(format!("index of {id}: {e}")),
                }
            }
            Some(Ack::Record { key, value }) => match store.record(&key) {
                Ok(Some(v)) if hex(&v) == value => {}
                Ok(_) => return Verdict::Lost(format!("record {key} is missing or changed")),
                Err(e) => return Verdict::Refused(format!("record {key}: {e}")),
            },
            None => return Verdict::Lost(format!("bad expectation {line:?}")),
        }
    }
    Verdict::Kept
}

fn parse_hash(h: &str) -> Option<ChangeHash> {
    if h.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(h.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(ChangeHash(out))
}

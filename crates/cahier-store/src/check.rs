//! `cahier check`: reads a whole store and names every damaged document
//! (which one, what is wrong with it) without changing anything.

use std::collections::{BTreeMap, BTreeSet};

use automerge::{Automerge, ChangeHash, ReadDoc};

use crate::{Chunk, ChunkKind, IndexEntry, Item, StorageError, Store};

/// What [`check`] found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    /// Documents stored (with chunks) or indexed.
    pub documents: usize,
    pub chunks: usize,
    /// Bytes of chunks.
    pub bytes: u64,
    pub records: usize,
    /// Every problem, documents' in id order, then the store's own.
    pub damage: Vec<Damage>,
}

/// One problem: the document it hurts (or `store`), its title when the index
/// gives one, and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Damage {
    pub id: String,
    pub title: Option<String>,
    pub problem: String,
}

impl Report {
    pub fn is_healthy(&self) -> bool {
        self.damage.is_empty()
    }
}

/// Reads everything `store` holds ([`crate::Storage::scan`]) and loads every
/// document as the server would. `Err` only when the store cannot be read.
pub fn check(store: &Store) -> Result<Report, StorageError> {
    let mut report = Report::default();
    let mut stored = BTreeSet::new();
    let mut index: BTreeMap<String, Result<IndexEntry, String>> = BTreeMap::new();
    let mut slugs = Vec::new();
    let mut problems: Vec<(String, String)> = Vec::new();
    let mut has_id = false;
    let mut current: Option<(String, Vec<Result<Chunk, String>>)> = None;
    let mut finish = |doc: String, chunks: Vec<Result<Chunk, String>>, problems: &mut Vec<(String, String)>| {
        if let Err(problem) = examine(&doc, &chunks) {
            problems.push((doc.clone(), problem));
        }
        stored.insert(doc);
    };
    store.backend().scan(&mut |item| {
        if let Item::Chunk { doc, chunk } = item {
            report.chunks += 1;
            report.bytes += chunk.as_ref().map_or(0, |c| c.bytes.len() as u64);
            match &mut current {
                Some((d, chunks)) if *d == doc => chunks.push(chunk),
                slot => {
                    if let Some((d, chunks)) = slot.replace((doc, vec![chunk])) {
                        finish(d, chunks, &mut problems);
                    }
                }
            }
            return Ok(());
        }
        match item {
            Item::StorageId(_) => has_id = true,
            Item::Index { id, entry } => {
                index.insert(id, entry);
            }
            Item::Slug { slug, owner } => slugs.push((slug, owner)),
            Item::Record { .. } => report.records += 1,
            Item::Unknown { key } => problems.push(("store".into(), format!("a key this Cahier does not know: {key:?}"))),
            Item::Chunk { .. } => {}
        }
        Ok(())
    })?;
    if let Some((d, chunks)) = current.take() {
        finish(d, chunks, &mut problems);
    }
    for (id, entry) in &index {
        match entry {
            Err(e) => problems.push((id.clone(), format!("its index entry does not decode: {e}"))),
            Ok(_) if !stored.contains(id) => {
                problems.push((id.clone(), "index entry without document: it is listed, but nothing of it is stored".into()))
            }
            Ok(_) => {}
        }
    }
    for id in stored.iter().filter(|id| !index.contains_key(*id)) {
        problems.push((id.clone(), "stored but not in the index: neither the wiki nor the document list shows it".into()));
    }
    for (slug, owner) in slugs {
        let held = matches!(index.get(&owner), Some(Ok(e)) if e.slug == slug);
        if !stored.contains(&owner) {
            problems.push((owner, format!("the address {slug:?} points to this document, which is not stored")));
        } else if !held {
            problems.push((owner, format!("the address {slug:?} points to this document, whose index entry has another")));
        }
    }
    if !has_id {
        problems.push(("store".into(), "the store has no storage id".into()));
    }
    report.documents = stored.union(&index.keys().cloned().collect()).count();
    problems.sort_by(|a, b| (a.0 == "store").cmp(&(b.0 == "store")).then_with(|| a.0.cmp(&b.0)));
    report.damage = problems
        .into_iter()
        .map(|(id, problem)| {
            let title = match index.get(&id) {
                Some(Ok(e)) => Some(e.title.clone()),
                _ => None,
            };
            Damage { id, title, problem }
        })
        .collect();
    Ok(report)
}

/// Loads one document's chunks as [`Store::load`] does and says what is
/// wrong when they do not give a whole document: a chunk that does not
/// decode (its checksum, its bytes), changes whose history is missing (a
/// snapshot gone), an id that is not one. `Ok`: the document's heads, sorted.
pub(crate) fn examine(doc: &str, chunks: &[Result<Chunk, String>]) -> Result<Vec<ChangeHash>, String> {
    cahier_doc::DocId::parse(doc).map_err(|e| format!("its id is not a document id: {e}"))?;
    let mut good = Vec::with_capacity(chunks.len());
    for chunk in chunks {
        good.push(chunk.as_ref().map_err(|e| e.to_string())?);
    }
    let options =
        || automerge::LoadOptions::new().text_encoding(cahier_doc::TEXT_ENCODING).on_partial_load(automerge::OnPartialLoad::Error);
    let all: Vec<u8> = good.iter().flat_map(|c| c.bytes.iter().copied()).collect();
    let whole = std::panic::catch_unwind(|| Automerge::load_with_options(&all, options()));
    let snapshot = if good.first().is_some_and(|c| c.kind == ChunkKind::Incremental) {
        " (its first chunk holds changes only: the snapshot before them is missing)"
    } else {
        ""
    };
    let failure = match whole {
        Ok(Ok(loaded)) => {
            let missing = loaded.get_missing_deps(&[]);
            if missing.is_empty() {
                let mut heads = loaded.get_heads();
                heads.sort();
                return Ok(heads);
            }
            return Err(format!("{} changes its history needs are missing{snapshot}", missing.len()));
        }
        Ok(Err(e)) => format!("it does not load: {e}"),
        Err(_) => "it does not load: automerge panicked on its bytes".into(),
    };
    // Which chunk: the first one that the chunks before it load without.
    let mut so_far = Vec::with_capacity(all.len());
    for c in &good {
        so_far.extend_from_slice(&c.bytes);
        let kind = match c.kind {
            ChunkKind::Snapshot => "snapshot",
            ChunkKind::Incremental => "changes",
        };
        let why = match std::panic::catch_unwind(|| Automerge::load_with_options(&so_far, options())) {
            Ok(Ok(_)) => continue,
            Ok(Err(e)) => e.to_string(),
            Err(_) => "automerge panicked on it".into(),
        };
        return Err(format!("{failure}; the first chunk that does not load: {} ({kind}, {} bytes): {why}{snapshot}", c.key, c.bytes.len()));
    }
    Err(format!("{failure}{snapshot}"))
}

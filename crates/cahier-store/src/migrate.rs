//! Copying a whole store into another, such as a sled folder into a new redb
//! one, or a folder into PostgreSQL and back: every document's chunks as they
//! are stored (so its whole history and heads), its index entry and address,
//! and every record (accounts, sessions, invites, publications, the audit
//! log, files); then, once all is copied, each document is loaded from the
//! new store and its heads compared with the old one's, and the records
//! compared too. The new store takes the old one's identity
//! (automerge-repo's `storageId`), so clients keep their sync state.

use automerge::ChangeHash;
use cahier_doc::DocId;
use sha2::{Digest, Sha256};

use crate::{StorageError, Store, Write};

/// What [`migrate`] copied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Migrated {
    pub documents: usize,
    pub chunks: usize,
    pub records: usize,
}

/// How far [`migrate`] is, as it goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step<'a> {
    /// Copying begins: this many documents.
    Start { documents: usize },
    /// One more document copied.
    Copied(&'a DocId),
    /// The records are copied: this many.
    Records(usize),
    /// One more document read back from the target with the source's heads.
    Checked(&'a DocId),
}

/// Records copied in one transaction at most (files make records large).
const RECORDS_PER_BATCH: usize = 512;

/// Copies everything in `from` into `to`, which must hold nothing yet, one
/// document per batch, telling `progress` as it goes; then reads every
/// document back from `to` and checks it has the heads it has in `from`, and
/// that `to` holds the same records: `Ok` only then. A failure leaves `from`
/// untouched.
pub fn migrate(from: &Store, to: &Store, progress: &mut dyn FnMut(Step<'_>)) -> Result<Migrated, StorageError> {
    let target = |cause: String| StorageError::Open { path: "the target store".into(), cause };
    if !to.list()?.is_empty() || !to.records("")?.is_empty() {
        return Err(target("it is not empty; migrate into a new folder or an empty database".into()));
    }
    let entries = from.backend().list()?;
    progress(Step::Start { documents: entries.len() });
    let mut done = Migrated { documents: 0, chunks: 0, records: 0 };
    let mut copied: Vec<(DocId, Vec<ChangeHash>)> = Vec::with_capacity(entries.len());
    for entry in entries {
        let id = DocId::parse(&entry.id)
            .map_err(|e| StorageError::Corrupt { what: format!("index entry {}", entry.id), cause: e.to_string() })?;
        let Some(chunks) = from.backend().load(&id)? else { continue };
        let Some(source) = from.load(&id)? else { continue };
        let mut batch = Vec::with_capacity(chunks.len() + 2);
        for chunk in &chunks {
            batch.push(Write::Append { doc: id.clone(), kind: chunk.kind, bytes: chunk.bytes.clone() });
        }
        if !entry.slug.is_empty() {
            batch.push(Write::Slug { slug: entry.slug.clone(), owner: Some(id.clone()) });
        }
        batch.push(Write::Index(entry));
        to.backend().commit(batch)?;
        done.documents += 1;
        done.chunks += chunks.len();
        progress(Step::Copied(&id));
        copied.push((id, sorted(source.doc.get_heads())));
    }
    let records = from.records("")?;
    done.records = records.len();
    let source_records = digest(&records);
    let mut batch = Vec::new();
    let mut batch_bytes = 0;
    for (key, value) in records {
        batch_bytes += key.len() + value.len();
        batch.push((key, Some(value)));
        if batch.len() >= RECORDS_PER_BATCH || batch_bytes >= 64 << 20 {
            to.put_records(std::mem::take(&mut batch))?;
            batch_bytes = 0;
        }
    }
    if !batch.is_empty() {
        to.put_records(batch)?;
    }
    progress(Step::Records(done.records));
    to.backend().set_storage_id(&from.storage_id()?)?;

    // Everything is copied: read it back from the target.
    let mismatch = |what: String, cause: String| StorageError::Corrupt { what, cause };
    for (id, heads) in &copied {
        let what = || format!("document {id} after migration");
        let Some(b) = to.load(id)? else { return Err(mismatch(what(), "it is missing from the target".into())) };
        let got = sorted(b.doc.get_heads());
        if &got != heads {
            return Err(mismatch(what(), format!("its heads differ: {} in the source, {} in the target", heads.len(), got.len())));
        }
        progress(Step::Checked(id));
    }
    let listed = to.list()?.len();
    if listed != copied.len() {
        return Err(mismatch("the target's index".into(), format!("{listed} documents listed, {} copied", copied.len())));
    }
    if digest(&to.records("")?) != source_records {
        return Err(mismatch("the target's records".into(), "they differ from the source's".into()));
    }
    if to.storage_id()? != from.storage_id()? {
        return Err(mismatch("the target's identity".into(), "it did not take the source's".into()));
    }
    Ok(done)
}

fn sorted(mut heads: Vec<ChangeHash>) -> Vec<ChangeHash> {
    heads.sort();
    heads
}

/// A digest of records, keys and values, in the keys' byte order.
fn digest(records: &[(String, Vec<u8>)]) -> [u8; 32] {
    let mut sorted: Vec<&(String, Vec<u8>)> = records.iter().collect();
    sorted.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    let mut h = Sha256::new();
    for (key, value) in sorted {
        h.update((key.len() as u64).to_be_bytes());
        h.update(key.as_bytes());
        h.update((value.len() as u64).to_be_bytes());
        h.update(value);
    }
    h.finalize().into()
}

//! Copying a whole store into another, such as a sled folder into a new redb
//! one: every document's chunks as they are stored (so its whole history and
//! heads), its index entry and address, and every record; then each
//! document is loaded from both and its heads compared. The new store takes
//! the old one's identity (automerge-repo's `storageId`), so clients keep
//! their sync state.

use crate::{StorageError, Store, Write};

/// What [`migrate`] copied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Migrated {
    pub documents: usize,
    pub chunks: usize,
    pub records: usize,
}

/// Copies everything in `from` into `to`, which must hold nothing yet, one
/// document per batch, and checks that each document loads from `to` with the
/// heads it has in `from`. A failure leaves `from` untouched.
pub fn migrate(from: &Store, to: &Store) -> Result<Migrated, StorageError> {
    let target = |cause: String| StorageError::Open { path: "the target store".into(), cause };
    if !to.list()?.is_empty() || !to.records("")?.is_empty() {
        return Err(target("it is not empty; migrate into a new folder".into()));
    }
    let mut done = Migrated { documents: 0, chunks: 0, records: 0 };
    for entry in from.backend().list()? {
        let id = cahier_doc::DocId::parse(&entry.id)
            .map_err(|e| StorageError::Corrupt { what: format!("index entry {}", entry.id), cause: e.to_string() })?;
        let Some(chunks) = from.backend().load(&id)? else { continue };
        let mut batch = Vec::with_capacity(chunks.len() + 2);
        for chunk in &chunks {
            let key = to.backend().next_key()?;
            batch.push(Write::Append { doc: id.clone(), key, kind: chunk.kind, bytes: chunk.bytes.clone() });
        }
        if !entry.slug.is_empty() {
            batch.push(Write::Slug { slug: entry.slug.clone(), owner: Some(id.clone()) });
        }
        batch.push(Write::Index(entry));
        to.backend().commit(batch)?;
        let mismatch = |cause: String| StorageError::Corrupt { what: format!("document {id} after migration"), cause };
        let (Some(a), Some(b)) = (from.load(&id)?, to.load(&id)?) else {
            return Err(mismatch("it is missing from the target".into()));
        };
        let (mut ha, mut hb) = (a.doc.get_heads(), b.doc.get_heads());
        ha.sort();
        hb.sort();
        if ha != hb {
            return Err(mismatch(format!("its heads differ: {} in the source, {} in the target", ha.len(), hb.len())));
        }
        done.documents += 1;
        done.chunks += chunks.len();
    }
    let records = from.records("")?;
    done.records = records.len();
    to.put_records(records.into_iter().map(|(k, v)| (k, Some(v))).collect())?;
    to.backend().set_storage_id(&from.storage_id()?)?;
    Ok(done)
}

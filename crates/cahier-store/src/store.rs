//! [`Store`]: Automerge documents kept as a snapshot plus incremental changes,
//! with an index kept in the same atomic batches.

use std::sync::Arc;

use automerge::{Automerge, ChangeHash, ReadDoc};
use cahier_doc::{DocId, DocView, Editor};

use crate::{Batch, ChunkKind, IndexEntry, SledStorage, Storage, StorageError, Write};

/// Incremental chunks a document may pile up before they are compacted into one snapshot.
pub const DEFAULT_COMPACT_AFTER: usize = 64;

/// A document loaded from the store, with what the store needs to save it again.
pub struct LoadedDoc {
    pub id: DocId,
    pub doc: Automerge,
    /// Heads as last stored: what is beyond them is not saved yet.
    saved_heads: Vec<ChangeHash>,
    /// Keys of the stored chunks.
    chunk_keys: Vec<u64>,
    /// The slug the index holds for this document.
    indexed_slug: Option<String>,
}

impl LoadedDoc {
    /// Whether every change of the document is stored.
    pub fn is_saved(&self) -> bool {
        self.doc.get_heads() == self.saved_heads
    }

    pub fn saved_heads(&self) -> &[ChangeHash] {
        &self.saved_heads
    }
}

#[derive(Clone)]
pub struct Store {
    backend: Arc<dyn Storage>,
    compact_after: usize,
}

impl Store {
    pub fn new(backend: Arc<dyn Storage>) -> Store {
        Store { backend, compact_after: DEFAULT_COMPACT_AFTER }
    }

    /// Opens (or creates, in an empty folder) the embedded sled store.
    pub fn open_sled(dir: &std::path::Path) -> Result<Store, StorageError> {
        Ok(Store::new(Arc::new(SledStorage::open(dir)?)))
    }

    /// Sets how many incremental chunks trigger a compaction (at least 1).
    pub fn with_compact_after(mut self, n: usize) -> Store {
        self.compact_after = n.max(1);
        self
    }

    pub fn backend(&self) -> &dyn Storage {
        &*self.backend
    }

    /// Loads a document. `Ok(None)`: the store has no such document. Stored bytes
    /// that do not load are an error, never an empty document.
    pub fn load(&self, id: &DocId) -> Result<Option<LoadedDoc>, StorageError> {
        let Some(chunks) = self.backend.load(id)? else { return Ok(None) };
        let mut all = Vec::with_capacity(chunks.iter().map(|c| c.bytes.len()).sum());
        for c in &chunks {
            all.extend_from_slice(&c.bytes);
        }
        let corrupt = |cause: String| StorageError::Corrupt { what: format!("document {id}"), cause };
        let doc = automerge::Automerge::load_with_options(
            &all,
            automerge::LoadOptions::new()
                .text_encoding(cahier_doc::TEXT_ENCODING)
                .on_partial_load(automerge::OnPartialLoad::Error),
        )
        .map_err(|e| corrupt(e.to_string()))?;
        let missing = doc.get_missing_deps(&[]);
        if !missing.is_empty() {
            return Err(corrupt(format!("{} changes are missing", missing.len())));
        }
        let indexed_slug = self.backend.entry(id)?.map(|e| e.slug);
        Ok(Some(LoadedDoc {
            id: id.clone(),
            saved_heads: doc.get_heads(),
            doc,
            chunk_keys: chunks.iter().map(|c| c.key).collect(),
            indexed_slug,
        }))
    }

    /// Stores a new document under a fresh random id.
    pub fn create(&self, doc: Automerge) -> Result<LoadedDoc, StorageError> {
        let mut bytes = [0u8; 16];
        getrandom::fill(&mut bytes).map_err(|e| StorageError::Io(format!("no randomness for a document id: {e}")))?;
        let mut loaded = LoadedDoc {
            id: DocId::from_random(bytes),
            doc,
            saved_heads: Vec::new(),
            chunk_keys: Vec::new(),
            indexed_slug: None,
        };
        self.save(&mut loaded)?;
        Ok(loaded)
    }

    /// Stores whatever changed since the document was loaded or last saved, with
    /// its index entry, in one durable batch. Returns `false` if there was nothing
    /// to store. Compacts the document into one snapshot when chunks pile up.
    pub fn save(&self, loaded: &mut LoadedDoc) -> Result<bool, StorageError> {
        let heads = loaded.doc.get_heads();
        if heads == loaded.saved_heads && !loaded.chunk_keys.is_empty() {
            return Ok(false);
        }
        let key = self.backend.next_key()?;
        let mut batch: Batch = Vec::new();
        let compact = loaded.chunk_keys.is_empty() || loaded.chunk_keys.len() >= self.compact_after;
        if compact {
            batch.push(Write::Append { doc: loaded.id.clone(), key, kind: ChunkKind::Snapshot, bytes: loaded.doc.save() });
            batch.push(Write::Remove { doc: loaded.id.clone(), keys: loaded.chunk_keys.clone() });
        } else {
            let bytes = loaded.doc.save_after(&loaded.saved_heads);
            batch.push(Write::Append { doc: loaded.id.clone(), key, kind: ChunkKind::Incremental, bytes });
        }
        let (view, _) = cahier_doc::read(&loaded.doc, None);
        let slug = self.slug_writes(&loaded.id, loaded.indexed_slug.as_deref(), &view.slug, &mut batch)?;
        batch.push(Write::Index(index_entry(&loaded.id, &view)));
        self.backend.commit(batch)?;
        loaded.saved_heads = heads;
        if compact {
            loaded.chunk_keys = vec![key];
        } else {
            loaded.chunk_keys.push(key);
        }
        loaded.indexed_slug = slug;
        Ok(true)
    }

    /// Claims `slug` for `id` unless another document has it; frees the old slug.
    fn slug_writes(
        &self,
        id: &DocId,
        old: Option<&str>,
        slug: &str,
        batch: &mut Batch,
    ) -> Result<Option<String>, StorageError> {
        if old == Some(slug) {
            return Ok(Some(slug.to_owned()));
        }
        if let Some(old) = old {
            batch.push(Write::Slug { slug: old.to_owned(), owner: None });
        }
        match self.backend.find_slug(slug)? {
            Some(owner) if owner != *id => Ok(None),
            _ => {
                batch.push(Write::Slug { slug: slug.to_owned(), owner: Some(id.clone()) });
                Ok(Some(slug.to_owned()))
            }
        }
    }

    /// Every document's index entry, most recently updated first.
    pub fn list(&self) -> Result<Vec<IndexEntry>, StorageError> {
        let mut entries = self.backend.list()?;
        entries.sort_by(|a, b| b.updated_ms.cmp(&a.updated_ms).then_with(|| a.slug.cmp(&b.slug)));
        Ok(entries)
    }

    pub fn find_slug(&self, slug: &str) -> Result<Option<DocId>, StorageError> {
        self.backend.find_slug(slug)
    }

    /// Creates the document `view` describes, or, if its slug exists, changes that
    /// document to match it (a new change, never a duplicate). Returns the stored
    /// document and whether it was created.
    pub fn upsert(&self, view: &DocView, editor: &Editor, now_ms: i64) -> Result<(LoadedDoc, bool), UpsertError> {
        if let Some(id) = self.find_slug(&view.slug)? {
            let mut loaded = self.load(&id)?.ok_or_else(|| StorageError::Corrupt {
                what: format!("slug {}", view.slug),
                cause: format!("points to document {id}, which is not stored"),
            })?;
            cahier_doc::apply_view(&mut loaded.doc, view, editor, now_ms, "import")?;
            self.save(&mut loaded)?;
            Ok((loaded, false))
        } else {
            let doc = cahier_doc::new_document(view, editor, now_ms)?;
            Ok((self.create(doc)?, true))
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum UpsertError {
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error("cannot apply the change: {0}")]
    Automerge(#[from] automerge::AutomergeError),
}

fn index_entry(id: &DocId, view: &DocView) -> IndexEntry {
    IndexEntry {
        id: id.to_string(),
        kind: view.kind.as_str().to_owned(),
        title: view.title.clone(),
        slug: view.slug.clone(),
        status: view.status.as_str().to_owned(),
        updated_ms: view.updated_ms,
    }
}

//! [`Store`]: Automerge documents kept as a snapshot plus incremental changes,
//! with an index kept in the same atomic batches.

use std::collections::HashMap;
use std::sync::Arc;

use automerge::{Automerge, ChangeHash, ReadDoc};
use cahier_doc::{DocId, DocView, Editor};

use crate::{Batch, Chunk, ChunkKind, IndexEntry, PostgresStorage, REDB_FILE, RedbStorage, SledStorage, Storage, StorageError, Write};

/// Incremental chunks a document may pile up before they are compacted into one snapshot.
pub const DEFAULT_COMPACT_AFTER: usize = 64;

/// A document loaded from the store, with what the store needs to save it again.
pub struct LoadedDoc {
    pub id: DocId,
    pub doc: Automerge,
    /// Heads as last stored: what is beyond them is not saved yet.
    saved_heads: Vec<ChangeHash>,
    record: DocRecord,
}

/// The store's bookkeeping for one document, kept by whoever persists it.
#[derive(Debug, Clone, Default)]
pub struct DocRecord {
    /// Keys of the stored chunks.
    chunk_keys: Vec<u64>,
    /// The slug the index holds for this document.
    indexed_slug: Option<String>,
}

impl DocRecord {
    /// How many chunks the document is stored in.
    pub fn chunks(&self) -> usize {
        self.chunk_keys.len()
    }

    /// The largest key of the chunks it was loaded from or saved in since
    /// (`0`: none).
    pub fn last_key(&self) -> u64 {
        self.chunk_keys.iter().copied().max().unwrap_or(0)
    }
}

/// One document's share of a group commit ([`Store::persist`]).
pub struct PersistItem<'a> {
    pub id: &'a DocId,
    pub record: &'a mut DocRecord,
    /// A snapshot replaces every chunk stored before; otherwise the bytes are appended.
    pub snapshot: bool,
    pub bytes: Vec<u8>,
    pub entry: IndexEntry,
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

    /// Opens the store `data` names: a PostgreSQL database for a
    /// `postgres://` or `postgresql://` URL (see [`PostgresStorage::open`]);
    /// `redb:DIR` or `sled:DIR` for that embedded store in the folder DIR,
    /// created there if the folder is missing or empty; else the folder
    /// `data`: the store it holds, sled's if it has sled's `conf` file, and a
    /// new redb store if it is missing or empty (see [`Store::open_redb`]:
    /// redb keeps acknowledged changes through a power cut, sled 0.34.7 does
    /// not).
    pub fn open(data: &str) -> Result<Store, StorageError> {
        if Store::names_database(data) {
            Ok(Store::new(Arc::new(PostgresStorage::open(data)?)))
        } else if let Some(dir) = data.strip_prefix("redb:") {
            Store::open_redb(std::path::Path::new(dir))
        } else if let Some(dir) = data.strip_prefix("sled:") {
            Store::open_sled(std::path::Path::new(dir))
        } else {
            Store::open_folder(std::path::Path::new(data))
        }
    }

    /// Opens the embedded store in the folder `dir` (any path, UTF-8 or
    /// not): the one its marker names, else sled's if it has sled's `conf`
    /// file and no redb file, else redb, which a missing or empty folder gets.
    pub fn open_folder(dir: &std::path::Path) -> Result<Store, StorageError> {
        if Store::holds_sled(dir) { Store::open_sled(dir) } else { Store::open_redb(dir) }
    }

    /// Opens the store `data` names to read it while a `cahier serve` may be
    /// writing to it: a redb folder is opened for reading only (each read,
    /// and a whole [`Storage::scan`], one consistent snapshot); sled, which
    /// one process holds, and PostgreSQL, shared anyway, as [`Store::open`]
    /// does. Nothing is created: a missing or empty folder is refused.
    pub fn open_to_read(data: &str) -> Result<Store, StorageError> {
        let (dir, forced) = match (data.strip_prefix("redb:"), data.strip_prefix("sled:")) {
            _ if Store::names_database(data) => return Store::open(data),
            (Some(dir), _) => (std::path::Path::new(dir), Some(false)),
            (_, Some(dir)) => (std::path::Path::new(dir), Some(true)),
            _ => (std::path::Path::new(data), None),
        };
        Store::open_folder_to_read(dir, forced)
    }

    /// [`Store::open_to_read`] for a folder; `sled`: which store it must hold, if said.
    pub fn open_folder_to_read(dir: &std::path::Path, sled: Option<bool>) -> Result<Store, StorageError> {
        let empty = std::fs::read_dir(dir).map(|mut e| e.next().is_none()).unwrap_or(true);
        if empty {
            return Err(StorageError::Open { path: dir.display().to_string(), cause: "there is no Cahier store here".into() });
        }
        if sled.unwrap_or_else(|| Store::holds_sled(dir)) {
            Store::open_sled(dir)
        } else {
            Ok(Store::new(Arc::new(RedbStorage::open_read_only(dir)?)))
        }
    }

    fn holds_sled(dir: &std::path::Path) -> bool {
        match crate::kv::marker(dir).as_deref() {
            Some("sled") => true,
            Some("redb") => false,
            _ => dir.join("conf").exists() && !dir.join(REDB_FILE).exists(),
        }
    }

    /// Opens (or creates, in a missing or empty folder) the embedded redb
    /// store, the one that keeps acknowledged changes through a power cut.
    pub fn open_redb(dir: &std::path::Path) -> Result<Store, StorageError> {
        Ok(Store::new(Arc::new(RedbStorage::open(dir)?)))
    }

    /// How to name the store `data` names in messages: a database URL without
    /// its password, a folder as it is.
    pub fn describe(data: &str) -> String {
        if Store::names_database(data) { crate::postgres_backend::redact(data) } else { data.to_owned() }
    }

    /// Whether `data` is a database URL rather than a folder.
    pub fn names_database(data: &str) -> bool {
        data.starts_with("postgres://") || data.starts_with("postgresql://")
    }

    /// Opens (or creates, in an empty folder) the embedded sled store.
    pub fn open_sled(dir: &std::path::Path) -> Result<Store, StorageError> {
        Ok(Store::new(Arc::new(SledStorage::open(dir)?)))
    }

    /// [`Store::open_sled`], waiting up to `timeout` while the store is
    /// [`StorageError::Locked`]. Within one process, sled releases the lock of a
    /// dropped store only once its flusher thread has wound down, a moment
    /// later: reopening at once (tests do) meets that.
    pub fn open_sled_waiting(dir: &std::path::Path, timeout: std::time::Duration) -> Result<Store, StorageError> {
        let deadline = std::time::Instant::now() + timeout;
        loop {
            match Store::open_sled(dir) {
                Err(StorageError::Locked { .. }) if std::time::Instant::now() < deadline => std::thread::yield_now(),
                result => return result,
            }
        }
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
        Ok(self.load_record(id)?.map(|(doc, record)| LoadedDoc { id: id.clone(), saved_heads: doc.get_heads(), doc, record }))
    }

    /// Loads a document and the bookkeeping needed to persist it later.
    pub fn load_record(&self, id: &DocId) -> Result<Option<(Automerge, DocRecord)>, StorageError> {
        let Some(chunks) = self.backend.load(id)? else { return Ok(None) };
        let mut all = Vec::with_capacity(chunks.iter().map(|c| c.bytes.len()).sum());
        for c in &chunks {
            all.extend_from_slice(&c.bytes);
        }
        let corrupt = |cause: String| StorageError::Corrupt { what: format!("document {id}"), cause };
        let doc = automerge::Automerge::load_with_options(
            &all,
            automerge::LoadOptions::new().text_encoding(cahier_doc::TEXT_ENCODING).on_partial_load(automerge::OnPartialLoad::Error),
        )
        .map_err(|e| corrupt(e.to_string()))?;
        let missing = doc.get_missing_deps(&[]);
        if !missing.is_empty() {
            return Err(corrupt(format!("{} changes are missing", missing.len())));
        }
        let indexed_slug = self.backend.entry(id)?.map(|e| e.slug);
        Ok(Some((doc, DocRecord { chunk_keys: chunks.iter().map(|c| c.key).collect(), indexed_slug })))
    }

    /// Stores several documents' new chunks in one atomic batch and one flush
    /// (group commit). On error nothing was stored and no record changed.
    pub fn persist(&self, items: Vec<PersistItem<'_>>) -> Result<(), StorageError> {
        let mut batch: Batch = Vec::new();
        let mut slugs = Vec::new();
        // Addresses claimed by earlier items of this batch, not yet committed.
        let mut claimed: HashMap<String, DocId> = HashMap::new();
        for item in &items {
            let kind = if item.snapshot { ChunkKind::Snapshot } else { ChunkKind::Incremental };
            batch.push(Write::Append { doc: item.id.clone(), kind, bytes: item.bytes.clone() });
            if item.snapshot && !item.record.chunk_keys.is_empty() {
                batch.push(Write::Remove { doc: item.id.clone(), keys: item.record.chunk_keys.clone() });
            }
            let mut entry = item.entry.clone();
            let slug = self.claim_address(item.id, item.record.indexed_slug.as_deref(), &entry, &mut claimed, &mut batch)?;
            entry.slug = slug.clone().unwrap_or_default();
            batch.push(Write::Index(entry));
            slugs.push(slug);
        }
        let keys = self.backend.commit(batch)?;
        if keys.len() != items.len() {
            return Err(StorageError::Io(format!("the store gave {} keys for {} chunks", keys.len(), items.len())));
        }
        for ((item, key), slug) in items.into_iter().zip(keys).zip(slugs) {
            if item.snapshot {
                item.record.chunk_keys = vec![key];
            } else if !item.record.chunk_keys.contains(&key) {
                // (A resend is stored under the key it was stored under before.)
                item.record.chunk_keys.push(key);
            }
            item.record.indexed_slug = slug;
        }
        Ok(())
    }

    /// Stores a new document under a fresh random id.
    pub fn create(&self, doc: Automerge) -> Result<LoadedDoc, StorageError> {
        let mut bytes = [0u8; 16];
        getrandom::fill(&mut bytes).map_err(|e| StorageError::Io(format!("no randomness for a document id: {e}")))?;
        let mut loaded = LoadedDoc { id: DocId::from_random(bytes), doc, saved_heads: Vec::new(), record: DocRecord::default() };
        self.save(&mut loaded)?;
        Ok(loaded)
    }

    /// Stores whatever changed since the document was loaded or last saved, with
    /// its index entry, in one durable batch. Returns `false` if there was nothing
    /// to store. Compacts the document into one snapshot when chunks pile up.
    pub fn save(&self, loaded: &mut LoadedDoc) -> Result<bool, StorageError> {
        let heads = loaded.doc.get_heads();
        if heads == loaded.saved_heads && !loaded.record.chunk_keys.is_empty() {
            return Ok(false);
        }
        let snapshot = loaded.record.chunk_keys.is_empty() || loaded.record.chunk_keys.len() >= self.compact_after;
        let bytes = if snapshot { loaded.doc.save() } else { loaded.doc.save_after(&loaded.saved_heads) };
        let entry = IndexEntry::from_summary(&loaded.id, &cahier_doc::read::summary(&loaded.doc));
        self.persist(vec![PersistItem { id: &loaded.id, record: &mut loaded.record, snapshot, bytes, entry }])?;
        loaded.saved_heads = heads;
        Ok(true)
    }

    /// The one rule for a document's address (its slug in the index, hence its
    /// page on the wiki and its file name in an export): the slug the document
    /// asks for when it is valid, else one made from its title; when another
    /// document holds that, the same with `-2`, `-3`, …, then with the id. An
    /// address is always a valid slug and never shared, whatever a writer put in
    /// the document. Documents that are not Cahier's get none.
    fn claim_address(
        &self,
        id: &DocId,
        old: Option<&str>,
        entry: &IndexEntry,
        claimed: &mut HashMap<String, DocId>,
        batch: &mut Batch,
    ) -> Result<Option<String>, StorageError> {
        if entry.kind == "other" {
            if let Some(old) = old {
                batch.push(Write::Slug { slug: old.to_owned(), owner: None });
            }
            return Ok(None);
        }
        let preferred = preferred_address(entry);
        let free = |slug: &str| -> Result<bool, StorageError> {
            if let Some(owner) = claimed.get(slug) {
                return Ok(owner == id);
            }
            Ok(self.backend.find_slug(slug)?.is_none_or(|owner| owner == *id))
        };
        let chosen = if old == Some(preferred.as_str()) || free(&preferred)? {
            preferred
        } else if let Some(old) = old.filter(|o| is_numbered(o, &preferred)) {
            // Already numbered for this preferred slug, which is still taken.
            old.to_owned()
        } else {
            let mut found = None;
            for n in 2..=20 {
                let candidate = format!("{preferred}-{n}");
                if free(&candidate)? {
                    found = Some(candidate);
                    break;
                }
            }
            match found {
                Some(c) => c,
                None => format!("{preferred}-{}", id.as_str().to_ascii_lowercase()),
            }
        };
        if old == Some(chosen.as_str()) {
            claimed.insert(chosen.clone(), id.clone());
            return Ok(Some(chosen));
        }
        if let Some(old) = old {
            batch.push(Write::Slug { slug: old.to_owned(), owner: None });
        }
        batch.push(Write::Slug { slug: chosen.clone(), owner: Some(id.clone()) });
        claimed.insert(chosen.clone(), id.clone());
        Ok(Some(chosen))
    }

    /// Every document's index entry, most recently updated first.
    pub fn list(&self) -> Result<Vec<IndexEntry>, StorageError> {
        let mut entries = self.backend.list()?;
        entries.sort_by(|a, b| b.updated_ms.cmp(&a.updated_ms).then_with(|| a.slug.cmp(&b.slug)));
        Ok(entries)
    }

    pub fn record(&self, key: &str) -> Result<Option<Vec<u8>>, StorageError> {
        self.backend.record(key)
    }

    pub fn records(&self, prefix: &str) -> Result<Vec<(String, Vec<u8>)>, StorageError> {
        self.backend.records(prefix)
    }

    pub fn put_records(&self, writes: Vec<(String, Option<Vec<u8>>)>) -> Result<(), StorageError> {
        self.backend.put_records(writes)
    }

    /// Every stored chunk of a document, one after the other, as Automerge
    /// loads them (`load_incremental`); `None` when there is no such document.
    pub fn load_chunks(&self, id: &DocId) -> Result<Option<Vec<u8>>, StorageError> {
        Ok(self.backend.load(id)?.map(|chunks| chunks.into_iter().flat_map(|c| c.bytes).collect()))
    }

    /// One stored chunk of a document; see [`Storage::load_chunk`].
    pub fn load_chunk(&self, id: &DocId, key: u64) -> Result<Option<Chunk>, StorageError> {
        self.backend.load_chunk(id, key)
    }

    /// Chunks other processes append to this store; see [`Storage::watch`].
    pub fn watch(&self) -> Option<std::sync::mpsc::Receiver<crate::Watched>> {
        self.backend.watch()
    }

    /// An ephemeral message for the other processes sharing this store; see
    /// [`Storage::broadcast`].
    pub fn broadcast(&self, message: crate::Ephemeral) -> bool {
        self.backend.broadcast(message)
    }

    pub fn storage_id(&self) -> Result<String, StorageError> {
        self.backend.storage_id()
    }

    /// Whether the store answers now; see [`Storage::check_alive`].
    pub fn check_alive(&self) -> Result<(), StorageError> {
        self.backend.check_alive()
    }

    pub fn find_slug(&self, slug: &str) -> Result<Option<DocId>, StorageError> {
        self.backend.find_slug(slug)
    }

    /// The document's address: the slug the index gave it (see
    /// `claim_address`), empty for a document that is not Cahier's or is stored
    /// from before addresses were checked and not written since.
    pub fn address(&self, id: &DocId) -> Result<String, StorageError> {
        Ok(self.backend.entry(id)?.map(|e| e.slug).unwrap_or_default())
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

/// Longest slug a title gives, so numbered and id fallbacks stay valid slugs.
const MAX_TITLE_SLUG: usize = 100;

/// The address a document would have if nobody else held it.
fn preferred_address(entry: &IndexEntry) -> String {
    if cahier_doc::schema::is_valid_slug(&entry.slug) && entry.slug.len() <= cahier_doc::schema::MAX_SLUG - 40 {
        return entry.slug.clone();
    }
    if entry.title.trim().is_empty() {
        return if entry.kind == "minutes" { "compte-rendu".into() } else { "page".into() };
    }
    let mut slug = cahier_doc::schema::slugify(&entry.title);
    if slug.len() > MAX_TITLE_SLUG {
        slug.truncate(MAX_TITLE_SLUG);
        while slug.ends_with('-') {
            slug.pop();
        }
    }
    slug
}

/// `slug` is `preferred-N` for a number N.
fn is_numbered(slug: &str, preferred: &str) -> bool {
    slug.strip_prefix(preferred)
        .and_then(|rest| rest.strip_prefix('-'))
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

#[derive(Debug, thiserror::Error)]
pub enum UpsertError {
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error("cannot apply the change: {0}")]
    Automerge(#[from] automerge::AutomergeError),
}

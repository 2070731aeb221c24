//! A backend wrapper that fails its writes on demand, as a full disk would,
//! and whose watch a test may drive (as another node's announcements would):
//! for tests of what users see when storage fails or is shared.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;

use cahier_doc::DocId;

use crate::{Batch, Chunk, IndexEntry, Item, Storage, StorageError, Watched};

pub struct FaultyStorage<S> {
    pub inner: S,
    failing: AtomicBool,
    documents_failing: AtomicBool,
    /// A watch handed out in place of the inner backend's.
    watch: Mutex<Option<mpsc::Receiver<Watched>>>,
    /// Writes so far, and the one (counted from 0) that fails.
    writes: AtomicU64,
    fail_write: AtomicU64,
}

impl<S: Storage> FaultyStorage<S> {
    pub fn new(inner: S) -> FaultyStorage<S> {
        FaultyStorage {
            inner,
            failing: AtomicBool::new(false),
            documents_failing: AtomicBool::new(false),
            watch: Mutex::new(None),
            writes: AtomicU64::new(0),
            fail_write: AtomicU64::new(u64::MAX),
        }
    }

    /// The next [`Storage::watch`] reports what is sent here instead of the
    /// inner backend's announcements.
    pub fn drive_watch(&self) -> mpsc::Sender<Watched> {
        let (tx, rx) = mpsc::channel();
        *self.watch.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(rx);
        tx
    }

    /// While set, writes of documents fail (records still succeed), as when
    /// the documents' large writes find no room but small ones still do.
    pub fn set_documents_failing(&self, failing: bool) {
        self.documents_failing.store(failing, Ordering::SeqCst);
    }

    /// While set, every write fails with "No space left on device".
    pub fn set_failing(&self, failing: bool) {
        self.failing.store(failing, Ordering::SeqCst);
    }

    /// The `n`th write from now (commits and record writes, counted from 0)
    /// fails, once; the others go through.
    pub fn fail_write(&self, n: u64) {
        self.fail_write.store(self.writes.load(Ordering::SeqCst) + n, Ordering::SeqCst);
    }

    /// Commits and record writes so far.
    pub fn writes(&self) -> u64 {
        self.writes.load(Ordering::SeqCst)
    }

    fn check(&self) -> Result<(), StorageError> {
        if self.writes.fetch_add(1, Ordering::SeqCst) == self.fail_write.load(Ordering::SeqCst) {
            return Err(StorageError::Io("injected: Input/output error (os error 5)".into()));
        }
        if self.failing.load(Ordering::SeqCst) {
            return Err(StorageError::Io("No space left on device (os error 28)".into()));
        }
        Ok(())
    }
}

impl<S: Storage> Storage for FaultyStorage<S> {
    fn load(&self, doc: &DocId) -> Result<Option<Vec<Chunk>>, StorageError> {
        self.inner.load(doc)
    }
    fn next_key(&self) -> Result<u64, StorageError> {
        self.inner.next_key()
    }
    fn commit(&self, batch: Batch) -> Result<Vec<u64>, StorageError> {
        self.check()?;
        if self.documents_failing.load(Ordering::SeqCst) {
            return Err(StorageError::Io("No space left on device (os error 28)".into()));
        }
        self.inner.commit(batch)
    }
    fn list(&self) -> Result<Vec<IndexEntry>, StorageError> {
        self.inner.list()
    }
    fn entry(&self, doc: &DocId) -> Result<Option<IndexEntry>, StorageError> {
        self.inner.entry(doc)
    }
    fn find_slug(&self, slug: &str) -> Result<Option<DocId>, StorageError> {
        self.inner.find_slug(slug)
    }
    fn storage_id(&self) -> Result<String, StorageError> {
        self.inner.storage_id()
    }
    fn record(&self, key: &str) -> Result<Option<Vec<u8>>, StorageError> {
        self.inner.record(key)
    }
    fn records(&self, prefix: &str) -> Result<Vec<(String, Vec<u8>)>, StorageError> {
        self.inner.records(prefix)
    }
    fn put_records(&self, writes: Vec<(String, Option<Vec<u8>>)>) -> Result<(), StorageError> {
        self.check()?;
        self.inner.put_records(writes)
    }
    fn load_chunk(&self, doc: &DocId, key: u64) -> Result<Option<Chunk>, StorageError> {
        self.inner.load_chunk(doc, key)
    }
    fn load_since(&self, doc: &DocId, after: u64) -> Result<Vec<Chunk>, StorageError> {
        self.inner.load_since(doc, after)
    }
    fn last_keys(&self, docs: &[DocId]) -> Result<Vec<(DocId, u64)>, StorageError> {
        self.inner.last_keys(docs)
    }
    fn check_alive(&self) -> Result<(), StorageError> {
        self.inner.check_alive()
    }
    fn scan(&self, visit: &mut dyn FnMut(Item) -> Result<(), StorageError>) -> Result<(), StorageError> {
        self.inner.scan(visit)
    }
    fn set_storage_id(&self, id: &str) -> Result<(), StorageError> {
        self.check()?;
        self.inner.set_storage_id(id)
    }
    fn watch(&self) -> Option<std::sync::mpsc::Receiver<crate::Watched>> {
        let injected = self.watch.lock().unwrap_or_else(std::sync::PoisonError::into_inner).take();
        injected.or_else(|| self.inner.watch())
    }
    fn broadcast(&self, message: crate::Ephemeral) -> bool {
        self.inner.broadcast(message)
    }
}

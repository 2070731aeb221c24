//! The storage thread: loads documents and group-commits their changes.
//!
//! It runs on a thread of its own because sled is blocking. It takes every
//! request waiting, commits all the persists among them in one batch and one
//! flush, and only then answers: a change is reported durable only after
//! sled's `flush()` has returned.

use std::collections::HashMap;
use std::time::Instant;

use automerge::ChangeHash;
use cahier_doc::DocId;
use cahier_doc::read::Summary;
use cahier_store::{DocRecord, IndexEntry, PersistItem, Store};
use cahier_sync::{Input, PersistKind};
use tokio::sync::mpsc;

use crate::hub_task::HubEvent;
use crate::metrics::Metrics;

pub enum StorageRequest {
    Load(DocId),
    Persist { doc: DocId, kind: PersistKind, bytes: Vec<u8>, heads: Vec<ChangeHash>, summary: Summary },
    Unload(DocId),
}

/// A persist request waiting for the next group commit.
type Job = (DocId, PersistKind, Vec<u8>, Vec<ChangeHash>, Summary);

pub type StorageSender = mpsc::UnboundedSender<StorageRequest>;

/// Starts the thread. It ends when every sender is dropped, after finishing
/// what was asked.
pub fn spawn(store: Store, metrics: std::sync::Arc<Metrics>) -> (StorageHandle, std::thread::JoinHandle<()>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let (hub_tx, hub_rx) = tokio::sync::oneshot::channel::<mpsc::Sender<HubEvent>>();
    let thread = std::thread::Builder::new()
        .name("cahier-storage".into())
        .spawn(move || {
            let Ok(hub) = hub_rx.blocking_recv() else { return };
            run(store, rx, hub, &metrics)
        })
        .unwrap_or_else(|e| panic!("cannot start the storage thread: {e}"));
    (StorageHandle { tx, hub: Some(hub_tx) }, thread)
}

pub struct StorageHandle {
    pub tx: StorageSender,
    hub: Option<tokio::sync::oneshot::Sender<mpsc::Sender<HubEvent>>>,
}

impl StorageHandle {
    /// Tells the thread where to send its answers.
    pub fn connect(&mut self, hub: mpsc::Sender<HubEvent>) {
        if let Some(h) = self.hub.take() {
            let _ = h.send(hub);
        }
    }
}

fn run(store: Store, mut rx: mpsc::UnboundedReceiver<StorageRequest>, hub: mpsc::Sender<HubEvent>, metrics: &Metrics) {
    let mut records: HashMap<DocId, DocRecord> = HashMap::new();
    let answer = |input: Input| {
        let _ = hub.blocking_send(HubEvent::Input(input));
    };
    while let Some(first) = rx.blocking_recv() {
        let mut requests = vec![first];
        while let Ok(r) = rx.try_recv() {
            requests.push(r);
        }
        let mut group: Vec<Job> = Vec::new();
        for req in requests {
            match req {
                StorageRequest::Persist { doc, kind, bytes, heads, summary } => {
                    group.push((doc, kind, bytes, heads, summary));
                }
                other => {
                    commit(&store, &mut records, std::mem::take(&mut group), metrics, &answer);
                    match other {
                        StorageRequest::Load(doc) => {
                            let result = match store.load_record(&doc) {
                                Ok(Some((am, record))) => {
                                    let chunks = record.chunks();
                                    records.insert(doc.clone(), record);
                                    Ok(Some((am, chunks)))
                                }
                                Ok(None) => Ok(None),
                                Err(e) => {
                                    tracing::error!(doc = %doc, cause = %e, "cannot load document");
                                    Err(e.to_string())
                                }
                            };
                            answer(Input::Loaded { doc, result });
                        }
                        StorageRequest::Unload(doc) => {
                            records.remove(&doc);
                        }
                        StorageRequest::Persist { .. } => {}
                    }
                }
            }
        }
        commit(&store, &mut records, group, metrics, &answer);
    }
}

fn commit(store: &Store, records: &mut HashMap<DocId, DocRecord>, group: Vec<Job>, metrics: &Metrics, answer: &impl Fn(Input)) {
    if group.is_empty() {
        return;
    }
    let started = Instant::now();
    let mut taken: Vec<DocRecord> = group.iter().map(|(doc, ..)| records.remove(doc).unwrap_or_default()).collect();
    let items: Vec<PersistItem<'_>> = group
        .iter()
        .zip(taken.iter_mut())
        .map(|((doc, kind, bytes, _, summary), record)| PersistItem {
            id: doc,
            record,
            snapshot: *kind == PersistKind::Snapshot,
            bytes: bytes.clone(),
            entry: IndexEntry::from_summary(doc, summary),
        })
        .collect();
    let result = store.persist(items).map_err(|e| e.to_string());
    metrics.observe_persist(started.elapsed().as_secs_f64());
    if let Err(e) = &result {
        tracing::error!(cause = %e, documents = group.len(), "cannot store changes");
    }
    for ((doc, _, _, heads, _), record) in group.into_iter().zip(taken) {
        records.insert(doc.clone(), record);
        answer(Input::Persisted { doc, heads, result: result.clone() });
    }
}

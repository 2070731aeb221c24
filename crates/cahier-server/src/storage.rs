//! The storage thread: loads documents and group-commits their changes.
//!
//! It runs on a thread of its own because the store is blocking. It takes
//! every request waiting, commits all the persists among them in one batch and
//! one flush, and only then answers each document's task: a change is
//! reported durable only after the store's commit has returned. New actor
//! owners claimed by the engine are written first, in one write per group.

use std::collections::HashMap;
use std::time::Instant;

use automerge::ChangeHash;
use cahier_doc::DocId;
use cahier_doc::read::Summary;
use cahier_store::{DocRecord, IndexEntry, PersistItem, Store};
use cahier_sync::PersistKind;
use cahier_sync::doc::DocInput;
use tokio::sync::mpsc;

use crate::access::Bindings;
use crate::metrics::Metrics;

/// Where a document's task takes the store's answers.
pub type Reply = mpsc::UnboundedSender<DocInput>;

pub enum StorageRequest {
    Load { doc: DocId, reply: Reply },
    Persist { doc: DocId, kind: PersistKind, bytes: Vec<u8>, heads: Vec<ChangeHash>, summary: Summary, reply: Reply },
    Unload(DocId),
}

/// A persist request waiting for the next group commit.
struct Job {
    doc: DocId,
    kind: PersistKind,
    bytes: Vec<u8>,
    heads: Vec<ChangeHash>,
    summary: Summary,
    reply: Reply,
}

pub type StorageSender = mpsc::UnboundedSender<StorageRequest>;

/// Starts the thread. It ends when every sender is dropped, after finishing
/// what was asked.
pub fn spawn(
    store: Store,
    bindings: std::sync::Arc<Bindings>,
    metrics: std::sync::Arc<Metrics>,
) -> (StorageSender, std::thread::JoinHandle<()>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let thread = std::thread::Builder::new()
        .name("cahier-storage".into())
        .spawn(move || run(store, rx, &bindings, &metrics))
        .unwrap_or_else(|e| panic!("cannot start the storage thread: {e}"));
    (tx, thread)
}

fn run(store: Store, mut rx: mpsc::UnboundedReceiver<StorageRequest>, bindings: &Bindings, metrics: &Metrics) {
    let mut records: HashMap<DocId, DocRecord> = HashMap::new();
    while let Some(first) = rx.blocking_recv() {
        let mut requests = vec![first];
        while let Ok(r) = rx.try_recv() {
            requests.push(r);
        }
        let mut group: Vec<Job> = Vec::new();
        for req in requests {
            match req {
                StorageRequest::Persist { doc, kind, bytes, heads, summary, reply } => {
                    group.push(Job { doc, kind, bytes, heads, summary, reply });
                }
                other => {
                    commit(&store, &mut records, std::mem::take(&mut group), bindings, metrics);
                    match other {
                        StorageRequest::Load { doc, reply } => {
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
                            let _ = reply.send(DocInput::Loaded { result });
                        }
                        StorageRequest::Unload(doc) => {
                            records.remove(&doc);
                        }
                        StorageRequest::Persist { .. } => {}
                    }
                }
            }
        }
        commit(&store, &mut records, group, bindings, metrics);
    }
}

fn commit(store: &Store, records: &mut HashMap<DocId, DocRecord>, group: Vec<Job>, bindings: &Bindings, metrics: &Metrics) {
    if group.is_empty() {
        return;
    }
    let started = Instant::now();
    // The owners of the actors these changes carry, before the changes.
    let owners = bindings.take_unsaved();
    let owned = match owners.is_empty() {
        true => Ok(()),
        false => crate::auth_store::bind_actors(store, &owners).map_err(|e| format!("recording their authors failed: {e}")),
    };
    let owners_failed = owned.is_err();
    let result = owned.and_then(|()| {
        let mut taken: Vec<DocRecord> = group.iter().map(|job| records.remove(&job.doc).unwrap_or_default()).collect();
        let items: Vec<PersistItem<'_>> = group
            .iter()
            .zip(taken.iter_mut())
            .map(|(job, record)| PersistItem {
                id: &job.doc,
                record,
                snapshot: job.kind == PersistKind::Snapshot,
                bytes: job.bytes.clone(),
                entry: IndexEntry::from_summary(&job.doc, &job.summary),
            })
            .collect();
        let result = store.persist(items).map_err(|e| e.to_string());
        for (job, record) in group.iter().zip(taken) {
            records.insert(job.doc.clone(), record);
        }
        result
    });
    metrics.observe_persist(started.elapsed().as_secs_f64());
    if let Err(e) = &result {
        tracing::error!(cause = %e, documents = group.len(), "cannot store changes");
        if owners_failed {
            bindings.put_back(owners);
        }
    }
    for job in group {
        let _ = job.reply.send(DocInput::Persisted { heads: job.heads, result: result.clone() });
    }
}

//! The storage thread: loads documents, group-commits their changes, and
//! reads what other nodes sharing the store stored of the documents open here.
//!
//! It runs on a thread of its own because the store is blocking. It takes
//! every request waiting, commits all the persists among them in one batch and
//! one flush, and only then answers each document's task: a change is
//! reported durable only after the store's commit has returned. New actor
//! owners claimed by the engine are written first, in one write per group.
//!
//! For each open document it keeps `seen`, a chunk key up to which the
//! document's task holds every chunk stored (the load's last key, then its
//! own chunks while they follow on). When another node announces a chunk past
//! it ([`StorageRequest::Moved`]), or when announcements may have been missed
//! ([`StorageRequest::CatchUp`]: the watch listens again, and on a slow
//! timer), it reads the chunks past `seen` ([`cahier_store::Storage::load_since`])
//! and hands them to the task: announcements are hints, the keys are the truth.

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
    Load {
        doc: DocId,
        reply: Reply,
    },
    Persist {
        doc: DocId,
        kind: PersistKind,
        bytes: Vec<u8>,
        heads: Vec<ChangeHash>,
        summary: Summary,
        reply: Reply,
    },
    Unload(DocId),
    /// Another node stored the chunk `key` of `doc`.
    Moved {
        doc: DocId,
        key: u64,
    },
    /// Announcements may have been missed: every open document is compared
    /// with the store, and reads what it lacks.
    CatchUp,
}

/// An open document, as the storage thread follows it.
struct Open {
    reply: Reply,
    /// Every chunk up to this key is in the document's task.
    seen: u64,
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
    let mut open: HashMap<DocId, Open> = HashMap::new();
    while let Some(first) = rx.blocking_recv() {
        let mut requests = vec![first];
        while let Ok(r) = rx.try_recv() {
            requests.push(r);
        }
        let mut group: Vec<Job> = Vec::new();
        // Read once the round's loads and commits are done, each document once.
        let mut moved: HashMap<DocId, u64> = HashMap::new();
        let mut catch_up = false;
        for req in requests {
            match req {
                StorageRequest::Persist { doc, kind, bytes, heads, summary, reply } => {
                    group.push(Job { doc, kind, bytes, heads, summary, reply });
                }
                StorageRequest::Moved { doc, key } => {
                    let k = moved.entry(doc).or_default();
                    *k = (*k).max(key);
                }
                StorageRequest::CatchUp => catch_up = true,
                other => {
                    commit(&store, &mut records, &mut open, std::mem::take(&mut group), bindings, metrics);
                    match other {
                        StorageRequest::Load { doc, reply } => {
                            let result = match store.load_record(&doc) {
                                Ok(Some((am, record))) => {
                                    let chunks = record.chunks();
                                    open.insert(doc.clone(), Open { reply: reply.clone(), seen: record.last_key() });
                                    records.insert(doc.clone(), record);
                                    Ok(Some((am, chunks)))
                                }
                                Ok(None) => {
                                    open.insert(doc.clone(), Open { reply: reply.clone(), seen: 0 });
                                    Ok(None)
                                }
                                Err(e) => {
                                    tracing::error!(doc = %doc, cause = %e, "cannot load document");
                                    Err(e.to_string())
                                }
                            };
                            let _ = reply.send(DocInput::Loaded { result });
                        }
                        StorageRequest::Unload(doc) => {
                            records.remove(&doc);
                            open.remove(&doc);
                        }
                        StorageRequest::Persist { .. } | StorageRequest::Moved { .. } | StorageRequest::CatchUp => {}
                    }
                }
            }
        }
        commit(&store, &mut records, &mut open, group, bindings, metrics);
        if catch_up {
            let docs: Vec<DocId> = open.keys().cloned().collect();
            match store.backend().last_keys(&docs) {
                Ok(last) => {
                    for (doc, key) in last {
                        let k = moved.entry(doc).or_default();
                        *k = (*k).max(key);
                    }
                }
                Err(e) => tracing::warn!(cause = %e, "cannot compare the open documents with the store"),
            }
        }
        for (doc, key) in moved {
            read_past_seen(&store, &mut open, doc, key);
        }
    }
}

/// Hands the task of `doc`, if it is open here and lacks the chunk `key`,
/// every chunk stored past what it holds.
fn read_past_seen(store: &Store, open: &mut HashMap<DocId, Open>, doc: DocId, key: u64) {
    let Some(o) = open.get_mut(&doc) else { return };
    if key <= o.seen {
        return;
    }
    let chunks = match store.backend().load_since(&doc, o.seen) {
        Ok(chunks) => chunks,
        Err(e) => {
            // The next announcement or catch-up reads them.
            tracing::warn!(%doc, cause = %e, "cannot read the changes other nodes stored");
            return;
        }
    };
    let Some(last) = chunks.iter().map(|c| c.key).max() else { return };
    let changes: Vec<u8> = chunks.into_iter().flat_map(|c| c.bytes).collect();
    if o.reply.send(DocInput::Stored { changes }).is_err() {
        open.remove(&doc);
        return;
    }
    o.seen = o.seen.max(last);
}

fn commit(
    store: &Store,
    records: &mut HashMap<DocId, DocRecord>,
    open: &mut HashMap<DocId, Open>,
    group: Vec<Job>,
    bindings: &Bindings,
    metrics: &Metrics,
) {
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
            // Its own chunk, right after what it held: it holds that too.
            if let Some(o) = open.get_mut(&job.doc)
                && result.is_ok()
                && record.last_key() == o.seen + 1
            {
                o.seen = record.last_key();
            }
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

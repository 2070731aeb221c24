//! Storage faults, one at a time: a workload of saves (three documents,
//! compactions included, account records between them) runs once to count its
//! writes, then once more for every N with its Nth write failing. The oracle:
//! the failing call says so (never a panic), every save that returned `Ok` is
//! in the store when it is opened again, each document still loads, the index
//! lists each document once, and the saves after the failure carry the
//! changes the failed one could not store.

use std::path::Path;
use std::sync::Arc;

use automerge::{ChangeHash, ReadDoc};
use cahier_doc::Editor;
use cahier_store::{FaultyStorage, LoadedDoc, RedbStorage, SledStorage, Storage, Store};

use crate::{T0, append, page};

/// What a workload saw: the heads of each document's last save that returned
/// `Ok`, and how many calls failed.
struct Outcome {
    acknowledged: Vec<(cahier_doc::DocId, Vec<ChangeHash>)>,
    failures: usize,
}

fn workload<S: Storage + 'static>(backend: Arc<FaultyStorage<S>>) -> Outcome {
    let store = Store::new(backend).with_compact_after(4);
    let mut docs: Vec<LoadedDoc> = Vec::new();
    let mut acknowledged: Vec<Option<Vec<ChangeHash>>> = Vec::new();
    let mut failures = 0;
    for (i, title) in ["Conseil d'école", "Classe dehors", "Kermesse"].iter().enumerate() {
        match store.upsert(&page(title, "Début."), &Editor::new("camille"), T0 + i as i64) {
            Ok((loaded, _)) => {
                acknowledged.push(Some(loaded.doc.get_heads()));
                docs.push(loaded);
            }
            // A document whose creation failed is created again next round.
            Err(_) => failures += 1,
        }
    }
    for round in 0..12 {
        for (i, loaded) in docs.iter_mut().enumerate() {
            append(loaded, &format!(" {round}.{i}"), T0 + 100 + round);
            match store.save(loaded) {
                Ok(_) => acknowledged[i] = Some(loaded.doc.get_heads()),
                Err(_) => failures += 1,
            }
        }
        if round % 5 == 0 && store.put_records(vec![(format!("note/{round}"), Some(vec![round as u8]))]).is_err() {
            failures += 1;
        }
    }
    // One last save each: what a failure left unsaved goes with it.
    for (i, loaded) in docs.iter_mut().enumerate() {
        if store.save(loaded).is_ok() {
            acknowledged[i] = Some(loaded.doc.get_heads());
        }
    }
    let acknowledged = docs.iter().zip(acknowledged).filter_map(|(d, h)| h.map(|h| (d.id.clone(), h))).collect();
    Outcome { acknowledged, failures }
}

fn check(store: &Store, outcome: &Outcome, n: u64) {
    let listed = store.list().unwrap_or_else(|e| panic!("write {n} failed: the index cannot be read: {e}"));
    for (id, heads) in &outcome.acknowledged {
        let loaded = store.load(id).unwrap_or_else(|e| panic!("write {n} failed: {id} does not load: {e}"));
        let doc = loaded.unwrap_or_else(|| panic!("write {n} failed: {id}, saved, is gone")).doc;
        for h in heads {
            assert!(doc.get_change_by_hash(h).is_some(), "write {n} failed: {id} lost a change its save acknowledged");
        }
        // The last save after the failure stored everything.
        assert_eq!(doc.get_heads(), *heads, "write {n} failed: {id} is not at its last acknowledged heads");
        assert_eq!(listed.iter().filter(|e| e.id == id.to_string()).count(), 1, "write {n} failed: {id} is not listed once");
    }
}

fn every_write_failing_in_turn_loses_nothing_acknowledged<S: Storage + 'static>(open: impl Fn(&Path) -> S) {
    let dir = tempfile::tempdir().expect("tmp");
    let clean = Arc::new(FaultyStorage::new(open(&dir.path().join("clean"))));
    let outcome = workload(clean.clone());
    assert_eq!(outcome.failures, 0);
    let writes = clean.writes();
    assert!(writes > 40, "the workload writes enough to be worth failing: {writes}");
    for n in 0..writes {
        let folder = dir.path().join(format!("n{n}"));
        let backend = Arc::new(FaultyStorage::new(open(&folder)));
        backend.fail_write(n);
        let outcome = workload(backend.clone());
        assert_eq!(outcome.failures, 1, "write {n}: exactly the injected failure, reported");
        drop(backend);
        let reopened = Store::new(Arc::new(open(&folder)));
        check(&reopened, &outcome, n);
        drop(reopened);
        let _ = std::fs::remove_dir_all(&folder);
    }
}

#[test]
fn every_write_failing_in_turn_loses_nothing_acknowledged_on_redb() {
    every_write_failing_in_turn_loses_nothing_acknowledged(|d| RedbStorage::open(d).expect("redb"));
}

#[test]
fn every_write_failing_in_turn_loses_nothing_acknowledged_on_sled() {
    // sled lets go of a folder's lock a moment after the drop: wait for it.
    every_write_failing_in_turn_loses_nothing_acknowledged(|d| {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            match SledStorage::open(d) {
                Err(cahier_store::StorageError::Locked { .. }) if std::time::Instant::now() < deadline => std::thread::yield_now(),
                other => break other.expect("sled"),
            }
        }
    });
}

//! Tests of the `cahier` command as a user runs it: real processes, real sled
//! files, a real PostgreSQL cluster.

mod backup;
mod cli;
mod corrupt;
mod crash;
mod kill_loop;
mod postgres;
mod redb_store;
mod tidy;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub fn cahier(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cahier")).args(args).env_remove("CAHIER_DATA").output().expect("run cahier")
}

pub fn ok(args: &[&str]) -> String {
    let out = cahier(args);
    assert!(
        out.status.success(),
        "cahier {args:?} failed\nstdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Every document's heads, sorted, by id.
pub fn heads(store: &cahier_store::Store) -> std::collections::BTreeMap<String, Vec<automerge::ChangeHash>> {
    let mut out = std::collections::BTreeMap::new();
    for e in store.list().expect("list") {
        let loaded = store.load(&cahier_doc::DocId::parse(&e.id).expect("id")).expect("load").expect("stored");
        let mut h = loaded.doc.get_heads();
        h.sort();
        out.insert(e.id, h);
    }
    out
}

pub fn sample_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../sample")
}

pub fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

/// A small deterministic generator, so a failing run can be replayed by its seed.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.max(1))
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// A number in `0..n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }
}

//! The power-cut simulator: what a store's files may look like after the
//! power fails, and whether every change the store acknowledged survives.
//!
//! A process kill cannot test this (the page cache survives it), so the
//! simulator works one level down. `shim/trace.c`, preloaded into a process
//! that runs a real workload on a real [`cahier_store::Store`]
//! ([`workload`]), logs every call that changes the store's files and every
//! durability barrier, in order; the workload appends a line to an `acks` file
//! each time a save returned `Ok` (when the server would say "Enregistré"),
//! so acknowledgements sit in the same log. [`trace`] reads the log into a
//! [`trace::Recording`]: file-system events and acknowledgements. [`crash`]
//! builds crash states from it: at a crash point, the files as the last
//! barriers made them durable, plus any prefix or subset of the writes issued
//! since, some torn at sector boundaries, under [`crash::Semantics`] that
//! differ on what counts as a barrier. [`check`] reopens a state (in a child
//! process, since a damaged store may panic or hang) and checks the oracle:
//! every acknowledged change is there, or the store refuses to open with a
//! clear error; never silently empty.
//!
//! Start with `tests/it/main.rs`, which drives all of it.

pub mod check;
pub mod crash;
pub mod trace;
pub mod workload;

use std::path::Path;
use std::sync::Arc;

use cahier_store::{SledStorage, StorageError, Store};

/// The embedded backends the simulator runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sled,
    Redb,
}

impl Backend {
    pub fn name(self) -> &'static str {
        match self {
            Backend::Sled => "sled",
            Backend::Redb => "redb",
        }
    }

    pub fn parse(name: &str) -> Option<Backend> {
        match name {
            "sled" => Some(Backend::Sled),
            "redb" => Some(Backend::Redb),
            _ => None,
        }
    }

    /// Opens (or creates) this backend's store in `dir`.
    pub fn open(self, dir: &Path) -> Result<Store, StorageError> {
        match self {
            // Without the waiting of `Store::open_sled_waiting`: each process opens once.
            Backend::Sled => Ok(Store::new(Arc::new(SledStorage::open(dir)?))),
            Backend::Redb => Store::open_redb(dir),
        }
    }
}

/// A small seeded generator (SplitMix64): runs are replayed from their seed.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`n` > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n.max(1) as u64) as usize
    }

    /// True with probability 1/`n`.
    pub fn one_in(&mut self, n: usize) -> bool {
        self.below(n) == 0
    }
}

/// An acknowledgement: what the workload was told is stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ack {
    /// A document saved with these heads (hex change hashes).
    Doc { id: String, heads: Vec<String> },
    /// A record set to this value (hex).
    Record { key: String, value: String },
}

impl Ack {
    /// One line of the `acks` file.
    pub fn line(&self) -> String {
        match self {
            Ack::Doc { id, heads } => format!("doc {id} {}\n", heads.join(",")),
            Ack::Record { key, value } => format!("record {key} {value}\n"),
        }
    }

    pub fn parse(line: &str) -> Option<Ack> {
        let mut words = line.split(' ');
        match (words.next()?, words.next()?, words.next(), words.next()) {
            ("doc", id, heads, None) => Some(Ack::Doc {
                id: id.to_owned(),
                heads: heads.unwrap_or_default().split(',').filter(|h| !h.is_empty()).map(str::to_owned).collect(),
            }),
            ("record", key, Some(value), None) => Some(Ack::Record { key: key.to_owned(), value: value.to_owned() }),
            _ => None,
        }
    }
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

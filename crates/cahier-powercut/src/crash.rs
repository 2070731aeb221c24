//! Crash states: the files a power cut may leave at a point of a
//! [`Recording`], under a [`Semantics`] of what the barriers guarantee.
//!
//! The model is the one POSIX promises and no more. A file's bytes and size
//! are durable once a barrier covering that file has returned; a folder's
//! entries (new names, renames, removals) once the folder itself has been
//! synced. Everything issued after its last covering barrier may or may not
//! have reached the disk, in any combination, and a write may be torn at
//! 512-byte sector boundaries. The simulator samples those combinations.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;

use crate::Rng;
use crate::trace::{Barrier, DataOp, Event, NameOp, Recording};

/// A file's identity in the model (an inode that lives as long as its data).
pub type FileId = usize;

/// What counts as a durability barrier.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Semantics {
    /// POSIX: `fsync`/`fdatasync` make a file's data durable, a folder's
    /// `fsync` its entries; `sync_file_range` guarantees nothing (its man
    /// page: it writes no metadata and flushes no disk cache).
    Strict,
    /// As strict, and a file's `fsync` also makes durable the name it was
    /// created under, as journalling file systems such as ext4 do in practice.
    NamesWithFile,
    /// As `NamesWithFile`, and `sync_file_range` counts as `fdatasync`: what a
    /// store relying on it hopes for.
    Lenient,
}

impl Semantics {
    pub const ALL: [Semantics; 3] = [Semantics::Strict, Semantics::NamesWithFile, Semantics::Lenient];

    pub fn name(self) -> &'static str {
        match self {
            Semantics::Strict => "strict",
            Semantics::NamesWithFile => "names-with-file",
            Semantics::Lenient => "lenient",
        }
    }
}

/// A folder tree in memory: folders, names, and each file's bytes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Fs {
    pub dirs: BTreeSet<String>,
    pub names: BTreeMap<String, FileId>,
    pub data: Vec<Vec<u8>>,
}

impl Fs {
    pub fn new_file(&mut self) -> FileId {
        self.data.push(Vec::new());
        self.data.len() - 1
    }

    /// Reads a real folder; returns it with its files' inode numbers.
    pub fn snapshot(root: &Path) -> std::io::Result<(Fs, HashMap<u64, FileId>)> {
        use std::os::unix::fs::MetadataExt;
        let mut fs = Fs::default();
        let mut inodes = HashMap::new();
        let mut todo = vec![String::new()];
        while let Some(rel) = todo.pop() {
            for entry in std::fs::read_dir(root.join(&rel))? {
                let entry = entry?;
                let name = entry.file_name().to_string_lossy().into_owned();
                let path = if rel.is_empty() { name } else { format!("{rel}/{name}") };
                let meta = entry.metadata()?;
                if meta.is_dir() {
                    fs.dirs.insert(path.clone());
                    todo.push(path);
                } else {
                    let file = fs.new_file();
                    fs.data[file] = std::fs::read(entry.path())?;
                    fs.names.insert(path, file);
                    inodes.insert(meta.ino(), file);
                }
            }
        }
        Ok((fs, inodes))
    }

    /// The tree below `prefix` (a folder), with paths relative to it.
    pub fn under(&self, prefix: &str) -> Fs {
        let strip = |p: &String| p.strip_prefix(prefix).and_then(|r| r.strip_prefix('/')).map(str::to_owned);
        Fs {
            dirs: self.dirs.iter().filter_map(strip).collect(),
            names: self.names.iter().filter_map(|(p, f)| strip(p).map(|p| (p, *f))).collect(),
            data: self.data.clone(),
        }
    }

    /// Each name and its bytes: what a reader of the folder sees.
    pub fn contents(&self) -> BTreeMap<&str, &[u8]> {
        self.names.iter().map(|(p, f)| (p.as_str(), self.data[*f].as_slice())).collect()
    }

    /// Writes the tree into `dir`, which exists and is empty.
    pub fn write_to(&self, dir: &Path) -> std::io::Result<()> {
        for d in &self.dirs {
            std::fs::create_dir_all(dir.join(d))?;
        }
        for (path, file) in &self.names {
            if let Some(parent) = dir.join(path).parent() {
                std::fs::create_dir_all(parent)?;
            }
            std::fs::write(dir.join(path), &self.data[*file])?;
        }
        Ok(())
    }

    /// Applies one event; a write is applied only in the sectors `keep`
    /// selects when given (a torn write).
    pub fn apply(&mut self, event: &Event, keep: Option<&[bool]>) {
        match event {
            Event::Data { file, op } => {
                self.ensure(*file);
                let data = &mut self.data[*file];
                match op {
                    DataOp::SetLen(n) => data.resize(*n as usize, 0),
                    DataOp::Extend(n) => {
                        if data.len() < *n as usize {
                            data.resize(*n as usize, 0);
                        }
                    }
                    DataOp::Write { off, data: bytes } => {
                        for (i, (start, end)) in sectors(*off, bytes.len()).into_iter().enumerate() {
                            if keep.is_some_and(|k| !k.get(i).copied().unwrap_or(true)) {
                                continue;
                            }
                            let (s, e) = (start as usize, end as usize);
                            if data.len() < e {
                                data.resize(e, 0);
                            }
                            let from = s - *off as usize;
                            data[s..e].copy_from_slice(&bytes[from..from + (e - s)]);
                        }
                    }
                }
            }
            Event::Name(op) => match op {
                NameOp::Link { path, file } => {
                    // A file created and named but never written (a marker
                    // file, say) is an empty file.
                    self.ensure(*file);
                    self.names.insert(path.clone(), *file);
                }
                NameOp::Rename { from, to, file } => {
                    self.names.remove(from);
                    if let Some(file) = file {
                        self.ensure(*file);
                        self.names.insert(to.clone(), *file);
                    } else if self.dirs.remove(from) {
                        self.dirs.insert(to.clone());
                    }
                }
                NameOp::Unlink { path } => {
                    self.names.remove(path);
                }
                NameOp::Mkdir { path } => {
                    self.dirs.insert(path.clone());
                }
                NameOp::Rmdir { path } => {
                    self.dirs.remove(path);
                }
            },
            Event::Barrier(_) => {}
        }
    }
}

impl Fs {
    /// Makes room for `file`'s bytes (none yet).
    fn ensure(&mut self, file: FileId) {
        while self.data.len() <= file {
            self.data.push(Vec::new());
        }
    }
}

/// The 512-byte-aligned pieces of a write of `len` bytes at `off`.
fn sectors(off: u64, len: usize) -> Vec<(u64, u64)> {
    let end = off + len as u64;
    let mut out = Vec::new();
    let mut at = off;
    while at < end {
        let next = ((at / 512) + 1) * 512;
        out.push((at, next.min(end)));
        at = next;
    }
    out
}

/// Which events still pending a barrier makes durable.
fn covers(barrier: &Barrier, event: &Event, semantics: Semantics) -> bool {
    match (barrier, event) {
        (Barrier::All, _) => true,
        (Barrier::File(f), Event::Data { file, .. }) => f == file,
        (Barrier::File(f), Event::Name(NameOp::Link { file, .. })) => semantics != Semantics::Strict && f == file,
        (Barrier::Range(f), Event::Data { file, .. }) => semantics == Semantics::Lenient && f == file,
        (Barrier::Range(f), Event::Name(NameOp::Link { file, .. })) => semantics == Semantics::Lenient && f == file,
        (Barrier::Dir(d), Event::Name(op)) => op.dirs().iter().any(|p| p == d),
        _ => false,
    }
}

/// What a power cut after `events[..at]` leaves for sure, and the indices of
/// the events that may or may not have reached the disk, in order.
pub fn durable_at(rec: &Recording, at: usize, semantics: Semantics) -> (Fs, Vec<usize>) {
    let mut durable = rec.initial.clone();
    let mut pending: Vec<usize> = Vec::new();
    for (i, event) in rec.events[..at].iter().enumerate() {
        match event {
            Event::Barrier(b) => {
                let (now, still): (Vec<usize>, Vec<usize>) = pending.iter().partition(|&&p| covers(b, &rec.events[p], semantics));
                for p in now {
                    durable.apply(&rec.events[p], None);
                }
                pending = still;
            }
            _ => pending.push(i),
        }
    }
    (durable, pending)
}

/// How the pending events of a crash state were chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Variant {
    /// Only what the barriers made durable.
    DurableOnly,
    /// The pending events in issue order, up to a random one.
    Prefix,
    /// Each pending event with probability one half.
    Subset,
    /// A subset, with some of its writes torn at sector boundaries.
    Torn,
}

impl Variant {
    pub const ALL: [Variant; 4] = [Variant::DurableOnly, Variant::Prefix, Variant::Subset, Variant::Torn];

    pub fn name(self) -> &'static str {
        match self {
            Variant::DurableOnly => "durable only",
            Variant::Prefix => "prefix",
            Variant::Subset => "subset",
            Variant::Torn => "torn subset",
        }
    }
}

/// A crash state: the durable files plus the pending events `variant` picks.
/// Returns the tree and how many pending events were applied out of how many.
pub fn state(rec: &Recording, at: usize, semantics: Semantics, variant: Variant, rng: &mut Rng) -> (Fs, usize, usize) {
    let (mut fs, pending) = durable_at(rec, at, semantics);
    let total = pending.len();
    let mut applied = 0;
    let prefix = rng.below(total + 1);
    for (n, &i) in pending.iter().enumerate() {
        let event = &rec.events[i];
        let (take, keep) = match variant {
            Variant::DurableOnly => (false, None),
            Variant::Prefix => (n < prefix, None),
            Variant::Subset => (rng.one_in(2), None),
            Variant::Torn => {
                let take = rng.one_in(2);
                let keep = match event {
                    Event::Data { op: DataOp::Write { off, data }, .. } if take && rng.one_in(3) => {
                        Some(sectors(*off, data.len()).iter().map(|_| rng.one_in(2)).collect::<Vec<bool>>())
                    }
                    _ => None,
                };
                (take, keep)
            }
        };
        if take {
            fs.apply(event, keep.as_deref());
            applied += 1;
        }
    }
    (fs, applied, total)
}

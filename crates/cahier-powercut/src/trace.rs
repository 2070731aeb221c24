//! Reading the recorder's log (`shim/trace.c`) into a [`Recording`]: the
//! store's file-system events in order, with each acknowledgement placed
//! between the events it came after and before.

use std::collections::HashMap;
use std::path::Path;

use crate::Ack;
use crate::crash::{FileId, Fs};

/// One call the recorder logged, as the C side numbers them.
#[derive(Debug, Clone)]
enum Call {
    Open { path: String, ino: u64, created: bool },
    Write { ino: u64, off: u64, data: Vec<u8> },
    Truncate { ino: u64, size: u64 },
    Sync { ino: u64, dir: bool, path: String },
    SyncRange { ino: u64 },
    Rename { from: String, to: String },
    Unlink { path: String },
    Mkdir { path: String },
    Rmdir { path: String },
    SyncAll,
    Extend { ino: u64, size: u64 },
    Unsupported { what: String, path: String },
}

/// A change to one file's bytes.
#[derive(Debug, Clone)]
pub enum DataOp {
    Write {
        off: u64,
        data: Vec<u8>,
    },
    SetLen(u64),
    /// Grows the file to at least this size (`fallocate`).
    Extend(u64),
}

/// A change to a folder's entries. Paths are relative to the traced root.
#[derive(Debug, Clone)]
pub enum NameOp {
    /// A new file's name.
    Link {
        path: String,
        file: FileId,
    },
    /// `from` was `file` when renamed.
    Rename {
        from: String,
        to: String,
        file: Option<FileId>,
    },
    Unlink {
        path: String,
    },
    Mkdir {
        path: String,
    },
    Rmdir {
        path: String,
    },
}

impl NameOp {
    /// The folders whose sync makes this change durable.
    pub fn dirs(&self) -> Vec<String> {
        match self {
            NameOp::Rename { from, to, .. } => vec![parent(from), parent(to)],
            NameOp::Link { path, .. } | NameOp::Unlink { path } | NameOp::Mkdir { path } | NameOp::Rmdir { path } => {
                vec![parent(path)]
            }
        }
    }
}

/// What a barrier asks to make durable.
#[derive(Debug, Clone)]
pub enum Barrier {
    /// `fsync` or `fdatasync` of a file.
    File(FileId),
    /// `fsync` of a folder: its entries.
    Dir(String),
    /// `sync_file_range` on a file: no barrier at all by its man page.
    Range(FileId),
    /// `sync()` or `syncfs()`.
    All,
}

#[derive(Debug, Clone)]
pub enum Event {
    Data { file: FileId, op: DataOp },
    Name(NameOp),
    Barrier(Barrier),
}

/// A workload's run: the files before it, what it did to them, and what it was told.
#[derive(Debug, Clone)]
pub struct Recording {
    /// The traced folder as it was, every byte of it durable.
    pub initial: Fs,
    pub events: Vec<Event>,
    /// `(i, ack)`: acknowledged after `events[..i]` had been issued.
    pub acks: Vec<(usize, Ack)>,
    /// The files as the workload left them (every event applied), to check
    /// the recording against the real folder.
    pub last: Fs,
}

/// The name of the acknowledgements file in the traced root.
pub const ACKS: &str = "acks";

/// Reads a log of the calls on files under `root` into a recording that
/// starts from `initial` (with the inode numbers its files had).
pub fn read(log: &[u8], root: &Path, initial: Fs, inodes: HashMap<u64, FileId>) -> Result<Recording, String> {
    let root = root.to_str().ok_or("the root is not UTF-8")?;
    let rel = |p: &str| -> Result<String, String> {
        p.strip_prefix(root).map(|r| r.trim_start_matches('/').to_owned()).ok_or_else(|| format!("{p} is outside {root}"))
    };
    let mut live = initial.clone();
    let mut inodes = inodes;
    let mut ack_ino = None;
    let mut ack_text = Vec::new();
    let mut events = Vec::new();
    let mut acks = Vec::new();
    let file_of = |inodes: &HashMap<u64, FileId>, ino: u64| -> Result<FileId, String> {
        inodes.get(&ino).copied().ok_or_else(|| format!("inode {ino} was written before the log saw it opened"))
    };
    for call in parse(log)? {
        let event = match call {
            Call::Open { path, ino, created } => {
                let path = rel(&path)?;
                if path == ACKS {
                    ack_ino = Some(ino);
                    continue;
                }
                if created {
                    let file = live.new_file();
                    inodes.insert(ino, file);
                    Event::Name(NameOp::Link { path, file })
                } else {
                    // Opening an existing file changes nothing; learn its inode.
                    if let Some(file) = live.names.get(&path) {
                        inodes.insert(ino, *file);
                    }
                    continue;
                }
            }
            Call::Write { ino, off, data } if Some(ino) == ack_ino => {
                // Lines of the acks file: each complete one is an acknowledgement.
                let _ = off;
                ack_text.extend_from_slice(&data);
                while let Some(end) = ack_text.iter().position(|&b| b == b'\n') {
                    let line: Vec<u8> = ack_text.drain(..=end).collect();
                    let line = String::from_utf8_lossy(&line[..end]).into_owned();
                    let ack = Ack::parse(&line).ok_or_else(|| format!("bad acknowledgement line {line:?}"))?;
                    acks.push((events.len(), ack));
                }
                continue;
            }
            Call::Write { ino, off, data } => Event::Data { file: file_of(&inodes, ino)?, op: DataOp::Write { off, data } },
            Call::Truncate { ino, .. } | Call::Sync { ino, .. } | Call::SyncRange { ino } if Some(ino) == ack_ino => {
                continue;
            }
            Call::Truncate { ino, size } => Event::Data { file: file_of(&inodes, ino)?, op: DataOp::SetLen(size) },
            Call::Extend { ino, size } => Event::Data { file: file_of(&inodes, ino)?, op: DataOp::Extend(size) },
            Call::Sync { dir: true, path, .. } => Event::Barrier(Barrier::Dir(rel(&path)?)),
            Call::Sync { ino, .. } => Event::Barrier(Barrier::File(file_of(&inodes, ino)?)),
            Call::SyncRange { ino } => Event::Barrier(Barrier::Range(file_of(&inodes, ino)?)),
            Call::SyncAll => Event::Barrier(Barrier::All),
            Call::Rename { from, to } => {
                let (from, to) = (rel(&from)?, rel(&to)?);
                let file = live.names.get(&from).copied();
                Event::Name(NameOp::Rename { from, to, file })
            }
            Call::Unlink { path } => Event::Name(NameOp::Unlink { path: rel(&path)? }),
            Call::Mkdir { path } => Event::Name(NameOp::Mkdir { path: rel(&path)? }),
            Call::Rmdir { path } => Event::Name(NameOp::Rmdir { path: rel(&path)? }),
            Call::Unsupported { what, path } => {
                return Err(format!("the store called {what} on {path}, which the simulator does not model"));
            }
        };
        live.apply(&event, None);
        events.push(event);
    }
    Ok(Recording { initial, events, acks, last: live })
}

fn parent(path: &str) -> String {
    path.rsplit_once('/').map_or("", |(p, _)| p).to_owned()
}

fn parse(log: &[u8]) -> Result<Vec<Call>, String> {
    let mut calls = Vec::new();
    let mut at = 0usize;
    let take = |at: &mut usize, n: usize| -> Result<&[u8], String> {
        let end = at.checked_add(n).filter(|&e| e <= log.len()).ok_or("the log ends inside a record")?;
        let s = &log[*at..end];
        *at = end;
        Ok(s)
    };
    let u64_at = |b: &[u8]| u64::from_le_bytes(b.try_into().unwrap_or([0; 8]));
    while at < log.len() {
        let op = take(&mut at, 1)?[0];
        let ino = u64_at(take(&mut at, 8)?);
        let a = u64_at(take(&mut at, 8)?);
        let b = u64_at(take(&mut at, 8)?);
        let l1 = u32::from_le_bytes(take(&mut at, 4)?.try_into().unwrap_or([0; 4])) as usize;
        let l2 = u32::from_le_bytes(take(&mut at, 4)?.try_into().unwrap_or([0; 4])) as usize;
        let dlen = usize::try_from(u64_at(take(&mut at, 8)?)).map_err(|_| "a record too long")?;
        let p1 = String::from_utf8_lossy(take(&mut at, l1)?).into_owned();
        let p2 = String::from_utf8_lossy(take(&mut at, l2)?).into_owned();
        let data = take(&mut at, dlen)?.to_vec();
        let _ = b;
        calls.push(match op {
            1 => Call::Open { path: p1, ino, created: a == 1 },
            2 => Call::Write { ino, off: a, data },
            3 => Call::Truncate { ino, size: a },
            4 | 5 => Call::Sync { ino, dir: a == 1, path: p1 },
            6 => Call::SyncRange { ino },
            7 => Call::Rename { from: p1, to: p2 },
            8 => Call::Unlink { path: p1 },
            9 => Call::Mkdir { path: p1 },
            10 => Call::Rmdir { path: p1 },
            11 => Call::SyncAll,
            12 => Call::Extend { ino, size: a },
            13 => Call::Unsupported { what: p1, path: p2 },
            op => return Err(format!("unknown record {op} in the log")),
        });
    }
    Ok(calls)
}

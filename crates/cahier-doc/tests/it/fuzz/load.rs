//! Document loading on fuzzer bytes: the `load` target of `cargo fuzz`
//! (`fuzz/`) and the normal test run, which replays the target's corpus
//! (`tests/corpus/load`) through this same oracle.
//!
//! The bytes are what a store or an import hands Cahier: Automerge storage
//! chunks (documents, changes). Each chunk carries a checksum, so a mutated
//! chunk would stop at the first check; [`run`] loads the bytes as they are,
//! then with every chunk's checksum made right again, so the fuzzer reaches
//! the column decoders and the op set behind it. Whatever loads goes through
//! everything Cahier reads of a document: the view, the index summary, the
//! history and its sessions, the credits and the Markdown export. The
//! oracle: no panic, and a loaded document saves and loads again to the same
//! heads and view.

use automerge::{Automerge, LoadOptions, OnPartialLoad, ReadDoc};
use sha2::Digest;

const MAGIC: [u8; 4] = [0x85, 0x6f, 0x4a, 0x83];

/// Replays one input; panics when the oracle fails.
pub fn run(data: &[u8]) {
    let sealed = reseal(data);
    for bytes in [data, sealed.as_slice()] {
        // As the store loads its chunks, as an import and the tools load a
        // file, as the sync engine reads a whole-document chunk, and as a
        // loaded document takes more chunks. Automerge's unverified mode
        // (`VerificationMode::DontCheck`) is left out: Cahier never uses it, and
        // saving a document it loaded panics (the first crasher of this target).
        let store = || {
            let options = LoadOptions::new().text_encoding(cahier_doc::TEXT_ENCODING).on_partial_load(OnPartialLoad::Error);
            Automerge::load_with_options(bytes, options).ok()
        };
        let more = || {
            let mut doc = cahier_doc::empty();
            doc.load_incremental(bytes).ok().map(|_| doc)
        };
        let loaded = [loader(store), loader(|| cahier_doc::load(bytes).ok()), loader(|| Automerge::load(bytes).ok()), loader(more)];
        for doc in loaded.into_iter().flatten().filter(admitted) {
            read_all(&doc);
        }
    }
}

/// Runs one of automerge's loaders. automerge 0.12 panics on some corrupt
/// documents whose checksums are right (an actor index out of bounds, the
/// second crasher of this target): that is its bug, contained where Cahier
/// reads untrusted bytes (the sync engine refuses such a chunk; see
/// docs/security.md), so here it counts as a refusal and the fuzzer goes on to
/// what Cahier does with the documents that load.
fn loader(f: impl FnOnce() -> Option<Automerge>) -> Option<Automerge> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).ok().flatten()
}

/// Whether every change of `doc` encodes back to its own hash, as the sync
/// engine checks each change a peer sends. automerge 0.12 loads some that do
/// not (the third crasher of this target), then panics when it rebuilds them
/// (history, saving): the engine refuses them, and the documents it admits
/// must read and save whole.
fn admitted(doc: &Automerge) -> bool {
    let check = || doc.get_changes(&[]).iter().all(|c| automerge::Change::from(c.decode()).hash() == c.hash());
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(check)).unwrap_or(false)
}

fn read_all(doc: &Automerge) {
    let (view, _problems) = cahier_doc::read(doc, None);
    let _ = cahier_doc::read::summary(doc);
    let versions = cahier_doc::history::versions(doc);
    let _ = cahier_doc::history::sessions(&versions);
    let _ = cahier_doc::contributors(doc, None);
    let _ = cahier_doc::markdown::export_document(doc);
    if doc.get_missing_deps(&[]).is_empty() {
        let again = cahier_doc::load(&doc.save()).expect("a loaded document saves and loads again");
        assert_eq!(again.get_heads(), doc.get_heads(), "the same heads after saving");
        assert_eq!(cahier_doc::read(&again, None).0, view, "the same view after saving");
    }
}

/// `bytes` with the checksum of each storage chunk (magic, checksum, type,
/// LEB128 length, data) set to the first four bytes of the SHA-256 of its
/// type, length and data, as Automerge checks it. Bytes after the last whole
/// chunk are kept as they are.
pub fn reseal(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len());
    let mut rest = bytes;
    while let Some(len) = chunk_len(rest) {
        let (chunk, after) = rest.split_at(len);
        let digest = sha2::Sha256::digest(&chunk[8..]);
        out.extend_from_slice(&MAGIC);
        out.extend_from_slice(&digest[..4]);
        out.extend_from_slice(&chunk[8..]);
        rest = after;
    }
    out.extend_from_slice(rest);
    out
}

/// The length of the whole chunk at the start of `bytes`, if one is there.
fn chunk_len(bytes: &[u8]) -> Option<usize> {
    if bytes.get(..4)? != MAGIC {
        return None;
    }
    let mut i = 9;
    let mut len: u64 = 0;
    for shift in 0..10 {
        let b = *bytes.get(i)?;
        i += 1;
        len |= u64::from(b & 0x7f) << (7 * shift);
        if b & 0x80 == 0 {
            let end = i.checked_add(usize::try_from(len).ok()?)?;
            return (end <= bytes.len()).then_some(end);
        }
    }
    None
}

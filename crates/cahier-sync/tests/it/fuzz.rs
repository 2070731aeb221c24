//! Hostile sync messages against a live meeting: a structure-aware generator
//! (real heads and changes of a real document, hostile counts, Bloom filters
//! and chunks) and the regression corpus in `tests/corpus/sync`, each sent by
//! a writer into a meeting that must go on.
//!
//! `CAHIER_FUZZ_CASES=N` runs N generated messages (300 by default);
//! `CAHIER_FUZZ_SEED` replays one run. A message that breaks the meeting is
//! printed as hex: save it in the corpus folder.
//!
//! The coverage-guided targets of `cargo fuzz` (`fuzz/`, docs/security.md)
//! share their oracles with this file: [`live`] (sync messages on a live
//! document) and [`frame`] (the frame decoder and the router). Their corpora,
//! the crashers they found and a minimized set of inputs, are replayed here.

use automerge::ChangeHash;

use crate::hostile::Meeting;

mod frame;
mod live;

/// Every file of `tests/corpus/NAME`, replayed through `oracle`; the files
/// that fail it are named.
fn walk(name: &str, at_least: usize, oracle: fn(&[u8])) {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus").join(name);
    let mut files: Vec<_> = std::fs::read_dir(&dir).expect("the corpus folder").flatten().map(|e| e.path()).collect();
    files.sort();
    assert!(files.len() >= at_least, "the corpus is there: {files:?}");
    let mut failed = Vec::new();
    for file in &files {
        let data = std::fs::read(file).expect("read");
        if std::panic::catch_unwind(|| oracle(&data)).is_err() {
            failed.push(file.display().to_string());
        }
    }
    assert!(failed.is_empty(), "{} of {} inputs fail the oracle:\n{}", failed.len(), files.len(), failed.join("\n"));
}

#[test]
fn the_live_document_corpus_leaves_the_meeting_going() {
    walk("sync-live", 10, live::run);
}

#[test]
fn the_frame_corpus_is_decoded_and_refused_cleanly() {
    walk("frame", 10, frame::run);
}

/// The oracle: the attacker may be refused or served (a writer may change the
/// text: that is writing), but no panic happened, the first writer was never
/// disturbed, the first writer's next words reach the store and the reader,
/// who converge, and the stored document saves to bytes that load again to
/// the same heads (the next snapshot loses nothing).
/// Returns whether the attacker was refused.
fn survives(name: &str, data: Vec<u8>) -> bool {
    let mut m = Meeting::new();
    m.type_text(1, "Ordre du jour. ");
    m.run();
    m.send_data(2, data);
    m.run();
    let refused = m.told.get(&2).is_some_and(|t| t.iter().any(|t| t.starts_with("close:")));
    assert!(!m.hub.stats().errors.contains_key("panic"), "{name}: a panic ({:?})", m.hub.stats().errors);
    assert!(!m.told.contains_key(&1), "{name}: the first writer was disturbed: {:?}", m.told.get(&1));
    m.type_text(1, "Suite.");
    m.run();
    assert!(m.body(1).contains("Suite."), "{name}: {:?}", m.body(1));
    assert_eq!(m.body(3), m.body(1), "{name}: the reader has it");
    assert_eq!(m.stored_heads(), m.replicas[&1].0.get_heads(), "{name}: everything is stored");
    let saved = m.stored_doc().save();
    let reloaded = automerge::Automerge::load(&saved).unwrap_or_else(|e| panic!("{name}: the stored document does not load: {e}"));
    assert_eq!(reloaded.get_heads(), m.stored_heads(), "{name}: the snapshot holds everything stored");
    refused
}

#[test]
fn every_message_of_the_corpus_leaves_the_meeting_going() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus/sync");
    let mut files: Vec<_> = std::fs::read_dir(&dir).expect("the corpus folder").flatten().map(|e| e.path()).collect();
    files.sort();
    assert!(files.len() >= 5, "the corpus is there: {files:?}");
    for file in files {
        let data = std::fs::read(&file).expect("read");
        survives(&file.display().to_string(), data);
    }
}

/// The `load` target's inputs that automerge 0.12 loads but cannot save back
/// (`cahier-doc`'s `tests/corpus/open`: changes numbered out of order), each
/// sent by a writer as a document chunk: refused, and the meeting goes on.
/// (Their walk through the store's loaders belongs to `cahier-doc`.)
#[test]
fn documents_that_do_not_save_back_sent_over_sync_leave_the_meeting_going() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../cahier-doc/tests/corpus/open");
    let mut files: Vec<_> = std::fs::read_dir(&dir).expect("the corpus folder").flatten().map(|e| e.path()).collect();
    files.sort();
    assert!(files.len() >= 5, "the corpus is there: {files:?}");
    for file in files {
        let chunk = std::fs::read(&file).expect("read");
        let msg = automerge::sync::Message {
            heads: vec![],
            need: vec![],
            have: vec![],
            changes: vec![chunk].into(),
            flags: None,
            version: automerge::sync::MessageVersion::V1,
        };
        let name = file.display().to_string();
        assert!(survives(&name, msg.encode()), "{name}: refused to its sender");
    }
}

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        // xorshift64*
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    fn pick<T: Copy>(&mut self, from: &[T]) -> T {
        from[self.below(from.len() as u64) as usize]
    }
}

fn leb(out: &mut Vec<u8>, mut n: u64) {
    loop {
        let b = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            out.push(b);
            return;
        }
        out.push(b | 0x80);
    }
}

/// Heads: real ones, unknown ones, sometimes far too many, sorted as
/// Automerge encodes them.
fn hashes(rng: &mut Rng, real: &[ChangeHash]) -> Vec<ChangeHash> {
    let n = match rng.below(10) {
        0 => rng.pick(&[4097, 6000]),
        1..=3 => 0,
        _ => rng.below(4),
    };
    let mut out: Vec<ChangeHash> = (0..n)
        .map(|_| {
            if !real.is_empty() && rng.below(2) == 0 {
                real[rng.below(real.len() as u64) as usize]
            } else {
                let mut h = [0u8; 32];
                for b in h.iter_mut() {
                    *b = rng.next() as u8;
                }
                ChangeHash(h)
            }
        })
        .collect();
    out.sort();
    out.dedup();
    out
}

/// A Bloom filter's encoding with hostile fields; the bits match the declared
/// size (else Automerge refuses the message itself) unless `rng` says not.
fn bloom(rng: &mut Rng) -> Vec<u8> {
    if rng.below(4) == 0 {
        return Vec::new();
    }
    let entries = rng.pick(&[0u64, 1, 2, 100, 70_000, u64::from(u32::MAX)]);
    let per_entry = rng.pick(&[0u64, 1, 10, 64, 65, u64::from(u32::MAX)]);
    let probes = rng.pick(&[0u64, 1, 7, 64, 65, 1 << 20, u64::from(u32::MAX)]);
    let mut out = Vec::new();
    leb(&mut out, entries);
    leb(&mut out, per_entry);
    leb(&mut out, probes);
    let declared = (entries.saturating_mul(per_entry)).div_ceil(8).min(1 << 16);
    let len = match rng.below(6) {
        0 => declared.saturating_sub(1),
        1 => declared + 1,
        _ => declared,
    };
    out.extend((0..len).map(|_| rng.next() as u8));
    out
}

/// One hostile sync message, as bytes: real parts of the attacker's replica
/// mixed with hostile values.
fn message(rng: &mut Rng, m: &mut Meeting) -> Vec<u8> {
    let (doc, _) = m.replicas.get_mut(&2).expect("the attacker's replica");
    if rng.below(2) == 0 {
        use automerge::transaction::Transactable;
        let mut tx = doc.transaction();
        let _ = tx.put(automerge::ROOT, "title", format!("titre {}", rng.next()));
        tx.commit();
    }
    let real = doc.get_heads();
    let all: Vec<ChangeHash> = doc.get_changes(&[]).iter().map(|c| c.hash()).collect();
    let mut out = vec![0x42];
    for list in [hashes(rng, &all), hashes(rng, &all)] {
        leb(&mut out, list.len() as u64);
        for h in list {
            out.extend_from_slice(&h.0);
        }
    }
    let haves = rng.pick(&[0u64, 1, 1, 1, 2, 17, 40]);
    leb(&mut out, haves);
    for _ in 0..haves {
        let last = if rng.below(2) == 0 { real.clone() } else { hashes(rng, &all) };
        leb(&mut out, last.len() as u64);
        for h in last {
            out.extend_from_slice(&h.0);
        }
        let b = bloom(rng);
        leb(&mut out, b.len() as u64);
        out.extend(b);
    }
    let changes: Vec<Vec<u8>> = match rng.below(6) {
        0 => vec![],
        1 => vec![doc.save()],
        2 => doc.get_changes(&[]).iter().map(|c| c.raw_bytes().to_vec()).collect(),
        3 => {
            let mut c = doc.save_after(&[]);
            let cut = rng.below(c.len() as u64) as usize;
            c.truncate(cut);
            vec![c]
        }
        4 => vec![(0..rng.below(200)).map(|_| rng.next() as u8).collect()],
        _ => {
            let mut c = doc.save();
            if !c.is_empty() {
                let i = rng.below(c.len() as u64) as usize;
                c[i] ^= 1 << rng.below(8);
            }
            vec![c]
        }
    };
    leb(&mut out, changes.len() as u64);
    for c in changes {
        leb(&mut out, c.len() as u64);
        out.extend(c);
    }
    if rng.below(4) == 0 {
        out.extend((0..rng.below(4)).map(|_| rng.next() as u8));
    }
    out
}

#[test]
fn generated_hostile_messages_leave_the_meeting_going() {
    let cases: u64 = std::env::var("CAHIER_FUZZ_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(300);
    let seed: u64 = std::env::var("CAHIER_FUZZ_SEED").ok().and_then(|v| v.parse().ok()).unwrap_or(0x5eed_cafe);
    let mut rng = Rng(seed | 1);
    let mut refused = 0;
    for case in 0..cases {
        let mut m = Meeting::new();
        let data = message(&mut rng, &mut m);
        let name = format!("case {case} (seed {seed}): {}", data.iter().map(|b| format!("{b:02x}")).collect::<String>());
        if survives(&name, data) {
            refused += 1;
        }
    }
    eprintln!("fuzz: {cases} generated messages (seed {seed}), {refused} refused, 0 harmed the meeting");
}

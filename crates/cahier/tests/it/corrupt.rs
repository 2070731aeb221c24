//! Damaged stores, as an operator meets them: copies of real stores (written
//! by `cahier import` and the store's own code) with bits flipped, files
//! truncated or deleted, and documents damaged inside a sound file. `cahier
//! check` names every damaged document and exits with 1; `cahier serve`
//! refuses to start and says why; nothing panics, and a damaged store is never
//! served as an emptier wiki. On redb (the default) and sled.

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use automerge::ROOT;
use automerge::transaction::Transactable;
use cahier_doc::DocId;
use cahier_store::{ChunkKind, Store, Write};

use crate::{Rng, cahier, heads, ok, s, sample_dir};

/// A store as `cahier import` writes it, in `dir`, on `backend` (`redb` or `sled`).
fn real_store(dir: &Path, backend: &str) {
    let out = ok(&["import", s(&sample_dir()), "--data", &format!("{backend}:{}", s(dir))]);
    assert!(out.contains("5 new"), "{out}");
}

fn open(dir: &Path) -> Store {
    if dir.join("conf").exists() {
        Store::open_sled_waiting(dir, Duration::from_secs(10)).expect("open sled")
    } else {
        Store::open_folder(dir).expect("open redb")
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for e in std::fs::read_dir(from).expect("read dir") {
        let p = e.expect("entry").path();
        let target = to.join(p.file_name().expect("name"));
        if p.is_dir() { copy_dir(&p, &target) } else { std::fs::copy(&p, &target).map(drop).expect("copy") }
    }
}

/// `cahier serve` on `data`: `Ok(stderr)` when it exits by itself (it
/// refused), `Err(stdout line)` when it starts serving (it is stopped then).
fn serve(data: &Path, extra: &[&str]) -> Result<String, String> {
    let mut child = Command::new(env!("CARGO_BIN_EXE_cahier"))
        .args(["serve", "--data", s(data), "--listen", "127.0.0.1:0"])
        .args(extra)
        .env_remove("CAHIER_DATA")
        .env_remove("CAHIER_LISTEN")
        .current_dir(data.parent().expect("parent"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start cahier serve");
    let (tx, rx) = mpsc::channel();
    let stdout = child.stdout.take().expect("stdout");
    let lines = tx.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if line.starts_with("cahier: serving") {
                let _ = lines.send(Err(line));
                return;
            }
        }
        let _ = lines.send(Ok(()));
    });
    let mut stderr = child.stderr.take().expect("stderr");
    let err = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });
    let outcome = rx.recv_timeout(Duration::from_secs(20)).expect("cahier serve neither refused nor served within 20 s");
    if outcome.is_err() {
        let _ = child.kill();
    }
    let status = child.wait().expect("wait");
    let stderr = err.join().expect("stderr");
    assert!(!stderr.contains("panicked"), "cahier serve panicked on {}: {stderr}", data.display());
    match outcome {
        Ok(()) => {
            assert!(!status.success(), "cahier serve stopped without serving, yet with success: {stderr}");
            Ok(stderr)
        }
        Err(line) => Err(line),
    }
}

/// Damage written by the store's own code into a sound file: a flipped bit
/// in a snapshot, a snapshot removed from under its changes, a document's
/// chunks removed while its index entry stays, a document stored without an
/// index entry, changes that do not decode. `cahier check` names each, with
/// its title, and nothing else; `cahier serve` refuses, naming them, and
/// serves the rest only when told to.
fn damaged_documents_are_named_and_refused(backend: &str) {
    let tmp = tempfile::tempdir().expect("tmp");
    let data = tmp.path().join("data");
    real_store(&data, backend);
    let out = ok(&["check", "--data", s(&data)]);
    assert!(out.contains("5 documents") && out.contains("no damage"), "{backend}: {out}");

    let store = open(&data);
    let entries = store.list().expect("list");
    let id = |slug: &str| DocId::parse(&entries.iter().find(|e| e.slug == slug).expect(slug).id).expect("id");
    let (flipped, unsnapshotted, emptied, garbled) =
        (id("ecoles-ouvertes"), id("classe-dehors"), id("bienvenue"), id("guide-du-webinaire"));
    let healthy =
        entries.iter().map(|e| e.id.clone()).find(|i| ![&flipped, &unsnapshotted, &emptied, &garbled].iter().any(|d| d.as_str() == i));
    let healthy = healthy.expect("a fifth document");
    // A second chunk for one document, so that its snapshot can go.
    let mut loaded = store.load(&unsnapshotted).expect("load").expect("stored");
    let mut tx = loaded.doc.transaction();
    tx.put(ROOT, "note", "ajoutée").expect("put");
    tx.commit();
    assert!(store.save(&mut loaded).expect("save"));
    let chunks = |d: &DocId| store.backend().load(d).expect("load").expect("chunks");
    let b = store.backend();
    let snapshot = chunks(&flipped).remove(0);
    let mut bytes = snapshot.bytes.clone();
    let at = bytes.len() / 2;
    bytes[at] ^= 0x10;
    b.commit(vec![
        Write::Remove { doc: flipped.clone(), keys: vec![snapshot.key] },
        Write::Append { doc: flipped.clone(), kind: ChunkKind::Snapshot, bytes },
    ])
    .expect("flip");
    let first = chunks(&unsnapshotted);
    assert_eq!(first.len(), 2, "a snapshot and one chunk of changes");
    b.commit(vec![Write::Remove { doc: unsnapshotted.clone(), keys: vec![first[0].key] }]).expect("drop the snapshot");
    b.commit(vec![Write::Remove { doc: emptied.clone(), keys: chunks(&emptied).iter().map(|c| c.key).collect() }]).expect("empty");
    let mut rng = Rng::new(17);
    let garbage: Vec<u8> = (0..300).map(|_| rng.next_u64() as u8).collect();
    b.commit(vec![Write::Append { doc: garbled.clone(), kind: ChunkKind::Incremental, bytes: garbage }]).expect("garble");
    let unindexed = DocId::from_random([7; 16]);
    let lone = cahier_doc::new_document(&cahier_doc::DocView::new_page("Seule"), &cahier_doc::Editor::new("x"), 1).expect("doc").save();
    b.commit(vec![Write::Append { doc: unindexed.clone(), kind: ChunkKind::Snapshot, bytes: lone }]).expect("unindexed");
    drop(store);

    let out = cahier(&["check", "--data", s(&data)]);
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.status.code(), Some(1), "{backend}: {stdout}{stderr}");
    let line = |d: &DocId| {
        stdout
            .lines()
            .find(|l| l.starts_with(&format!("damaged: {d}")))
            .unwrap_or_else(|| panic!("{backend}: {d} not named:\n{stdout}"))
            .to_owned()
    };
    let l = line(&flipped);
    assert!(l.contains("«Écoles ouvertes»") && l.contains("does not load") && l.contains("(snapshot,"), "{backend}: {l}");
    let l = line(&unsnapshotted);
    assert!(l.contains("«Classe dehors»") && l.contains("the snapshot before them is missing"), "{backend}: {l}");
    let l = line(&emptied);
    assert!(l.contains("index entry without document"), "{backend}: {l}");
    let l = line(&garbled);
    assert!(l.contains("does not load") && l.contains("(changes, 300 bytes)"), "{backend}: {l}");
    let l = line(&unindexed);
    assert!(l.contains("not in the index"), "{backend}: {l}");
    assert!(!stdout.contains(&healthy), "{backend}: the sound document is not named: {stdout}");
    assert!(stderr.contains("5 of 6 documents damaged"), "{backend}: {stderr}");

    let refused = serve(&data, &[]).expect("cahier serve must refuse a damaged store");
    assert!(refused.contains("refusing to serve a damaged store") && refused.contains(flipped.as_str()), "{backend}: {refused}");
    let served = serve(&data, &["--allow-damaged"]).expect_err("--allow-damaged serves the rest");
    assert!(served.starts_with("cahier: serving"), "{served}");
}

#[test]
fn every_damaged_document_is_named_by_check_and_refused_by_serve_on_redb() {
    damaged_documents_are_named_and_refused("redb");
}

#[test]
fn every_damaged_document_is_named_by_check_and_refused_by_serve_on_sled() {
    damaged_documents_are_named_and_refused("sled");
}

/// Damage done to a copy of a store's folder.
type Damage = Box<dyn Fn(&Path)>;

/// What one damaged copy gave.
#[derive(Debug, Default)]
struct Tally {
    refused: usize,
    intact: usize,
}

/// Bit flips, truncations and deleted files in a copy of a real store: each
/// copy is either refused by `cahier check` and `cahier serve` with a message
/// naming the problem, or opens with every document and its heads exactly
/// as before. Never a panic, never fewer documents.
fn damaged_files_are_refused_or_harmless(backend: &str, main_file: &str) -> Tally {
    let tmp = tempfile::tempdir().expect("tmp");
    let base = tmp.path().join("base");
    real_store(&base, backend);
    // Read from a copy: the base stays as `cahier import` left it (sled
    // writes a snapshot file when a process that opened it closes it).
    let first = tmp.path().join("first");
    copy_dir(&base, &first);
    let expected = heads(&open(&first));
    assert_eq!(expected.len(), 5);
    let len = std::fs::metadata(base.join(main_file)).expect("file").len();
    let mut cases: Vec<(String, Damage)> = Vec::new();
    let seed = 20261201u64;
    for n in 0..24u64 {
        let file = main_file.to_owned();
        cases.push((
            format!("8 bits flipped (seed {seed}+{n})"),
            Box::new(move |dir: &Path| {
                let mut rng = Rng::new(seed + n);
                let mut bytes = std::fs::read(dir.join(&file)).expect("read");
                // Within what the store wrote: sled's file ends in zeros it has not used yet.
                let used = bytes.iter().rposition(|b| *b != 0).map_or(bytes.len(), |i| i + 1);
                for _ in 0..8 {
                    let at = rng.below(used as u64) as usize;
                    bytes[at] ^= 1 << rng.below(8);
                }
                std::fs::write(dir.join(&file), bytes).expect("write");
            }),
        ));
    }
    for cut in [0, 100, 4096, len / 2, len - 100] {
        let file = main_file.to_owned();
        cases.push((
            format!("{main_file} truncated to {cut} bytes"),
            Box::new(move |dir: &Path| {
                std::fs::OpenOptions::new().write(true).open(dir.join(&file)).expect("open").set_len(cut).expect("truncate")
            }),
        ));
    }
    for e in std::fs::read_dir(&base).expect("read dir") {
        let name = e.expect("entry").file_name();
        cases.push((
            format!("{} deleted", name.to_string_lossy()),
            Box::new(move |dir: &Path| {
                let p = dir.join(&name);
                if p.is_dir() { std::fs::remove_dir_all(p).expect("rm") } else { std::fs::remove_file(p).expect("rm") }
            }),
        ));
    }
    let mut tally = Tally::default();
    for (n, (what, damage)) in cases.iter().enumerate() {
        let copy = tmp.path().join(format!("copy-{n}"));
        copy_dir(&base, &copy);
        damage(&copy);
        let out = cahier(&["check", "--data", s(&copy)]);
        let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert!(!stderr.contains("panicked"), "{backend}, {what}: cahier check panicked: {stderr}");
        if out.status.success() {
            // Harmless damage (unused bytes, the marker): everything is there.
            assert_eq!(heads(&open(&copy)), expected, "{backend}, {what}: check passed ({stdout}) but documents differ");
            tally.intact += 1;
        } else {
            assert_eq!(out.status.code(), Some(1), "{backend}, {what}: {stderr}");
            assert!(
                stderr.contains("corrupt") || stderr.contains("damaged") || stderr.contains("no Cahier store"),
                "{backend}, {what}: {stderr}"
            );
            // The server refuses the same copy, with the same words.
            if n % 4 == 0 || n >= 24 {
                let refused =
                    serve(&copy, &[]).unwrap_or_else(|l| panic!("{backend}, {what}: check refused ({stderr}) but serve started: {l}"));
                let first = stderr.lines().find(|l| l.starts_with("cahier")).unwrap_or("");
                let reason = first.rsplit(": ").next().unwrap_or(first);
                assert!(refused.contains(reason), "{backend}, {what}: serve said {refused:?}, check {stderr:?}");
            }
            tally.refused += 1;
        }
        std::fs::remove_dir_all(&copy).expect("rm copy");
    }
    eprintln!(
        "{backend}: {} damaged copies: {} refused, {} harmless (every document and head intact)",
        cases.len(),
        tally.refused,
        tally.intact
    );
    // The truncations and the deleted store files at least are damage.
    assert!(tally.refused >= 5, "{backend}: these copies are damaged: {tally:?}");
    tally
}

#[test]
fn bit_flips_truncations_and_deleted_files_are_refused_or_harmless_on_redb() {
    damaged_files_are_refused_or_harmless("redb", cahier_store::REDB_FILE);
}

#[test]
fn bit_flips_truncations_and_deleted_files_are_refused_or_harmless_on_sled() {
    damaged_files_are_refused_or_harmless("sled", "db");
}

//! The corpus of the `load` fuzz target (`fuzz/`, docs/security.md): the
//! crashers it found and a minimized set of inputs, replayed through the
//! target's own oracle ([`load`]).

mod load;

#[test]
fn the_load_corpus_loads_or_is_refused_cleanly() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus/load");
    let mut files: Vec<_> = std::fs::read_dir(&dir).expect("the corpus folder").flatten().map(|e| e.path()).collect();
    files.sort();
    assert!(files.len() >= 10, "the corpus is there: {files:?}");
    let mut failed = Vec::new();
    for file in &files {
        let data = std::fs::read(file).expect("read");
        if std::panic::catch_unwind(|| load::run(&data)).is_err() {
            failed.push(file.display().to_string());
        }
    }
    assert!(failed.is_empty(), "{} of {} inputs fail the oracle:\n{}", failed.len(), files.len(), failed.join("\n"));
}

#[test]
fn resealing_makes_a_corrupted_document_load_past_its_checksum() {
    // The oracle reaches past the checksum only if `reseal` writes it as
    // Automerge checks it.
    let doc = crate::create(&crate::page("Titre", "Texte"), "camille", crate::T0);
    let mut bytes = doc.save();
    assert_eq!(load::reseal(&bytes), bytes, "a valid document is left as it is");
    bytes[5] ^= 0xff;
    assert!(cahier_doc::load(&bytes).is_err(), "a wrong checksum is refused");
    assert!(cahier_doc::load(&load::reseal(&bytes)).is_ok(), "a resealed one loads");
}

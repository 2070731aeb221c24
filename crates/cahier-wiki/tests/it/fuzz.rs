//! The corpus of the `markdown` fuzz target (`fuzz/`, docs/security.md): the
//! crashers it found and a minimized set of inputs, replayed through the
//! target's own oracle ([`markdown`]).

mod markdown;

#[test]
fn the_markdown_corpus_renders_safely() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus/markdown");
    let mut files: Vec<_> = std::fs::read_dir(&dir).expect("the corpus folder").flatten().map(|e| e.path()).collect();
    files.sort();
    assert!(files.len() >= 10, "the corpus is there: {files:?}");
    let mut failed = Vec::new();
    for file in &files {
        let data = std::fs::read(file).expect("read");
        if std::panic::catch_unwind(|| markdown::run(&data)).is_err() {
            failed.push(file.display().to_string());
        }
    }
    assert!(failed.is_empty(), "{} of {} inputs fail the oracle:\n{}", failed.len(), files.len(), failed.join("\n"));
}

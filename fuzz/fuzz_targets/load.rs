//! Fuzz target: loading Automerge bytes into a document and reading it (the
//! oracle is `crates/cahier-doc/tests/it/fuzz/load.rs`).
#![no_main]

#[path = "../../crates/cahier-doc/tests/it/fuzz/load.rs"]
mod load;

libfuzzer_sys::fuzz_target!(
    // The oracle decides: a panic the code under test contains is not a
    // crash by itself (libFuzzer's hook would abort on it), one it does not
    // contain still is.
    init: drop(std::panic::take_hook()),
    |data: &[u8]| load::run(data)
);

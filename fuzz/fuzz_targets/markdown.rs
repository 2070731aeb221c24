//! Fuzz target: the Markdown pipeline, front matter and rendering (the oracle
//! is `crates/cahier-wiki/tests/it/fuzz/markdown.rs`).
#![no_main]

#[path = "../../crates/cahier-wiki/tests/it/fuzz/markdown.rs"]
mod markdown;

libfuzzer_sys::fuzz_target!(
    // The oracle decides: a panic the code under test contains is not a
    // crash by itself (libFuzzer's hook would abort on it), one it does not
    // contain still is.
    init: drop(std::panic::take_hook()),
    |data: &[u8]| markdown::run(data)
);

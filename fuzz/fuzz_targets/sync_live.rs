//! Fuzz target: sync messages on a live document with several peers (the
//! oracle is `crates/cahier-sync/tests/it/fuzz/live.rs`).
#![no_main]

#[path = "../../crates/cahier-sync/tests/it/fuzz/live.rs"]
mod live;

libfuzzer_sys::fuzz_target!(
    // The oracle decides: a panic the code under test contains is not a
    // crash by itself (libFuzzer's hook would abort on it), one it does not
    // contain still is.
    init: drop(std::panic::take_hook()),
    |data: &[u8]| live::run(data)
);

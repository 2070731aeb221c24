//! The crash test: a child process writes and acknowledges changes; we kill it with
//! SIGKILL at random moments, reopen the store and check that every acknowledged
//! change is there. `CAHIER_CRASH_CYCLES` asks for more cycles than the default 50.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use cahier_doc::DocId;

use crate::{Rng, s};

#[test]
fn no_acknowledged_change_is_lost_when_the_process_is_killed() {
    let cycles: usize = std::env::var("CAHIER_CRASH_CYCLES").ok().and_then(|v| v.parse().ok()).unwrap_or(50);
    let seed: u64 = std::env::var("CAHIER_CRASH_SEED").ok().and_then(|v| v.parse().ok()).unwrap_or(0x5eed_cafe);
    eprintln!("crash test: {cycles} cycles, seed {seed} (CAHIER_CRASH_SEED to replay)");
    let mut rng = Rng::new(seed);
    let tmp = tempfile::tempdir().expect("tmp");
    let data = tmp.path().join("data");
    let mut max_acked: Option<u64> = None;
    let mut total_acks = 0u64;
    for cycle in 0..cycles {
        let mut child = Command::new(env!("CARGO_BIN_EXE_cahier"))
            .args(["crash-writer", "--data", s(&data), "--compact-after", "8"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn writer");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = mpsc::channel();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        // Kill at a random moment: sometimes while the store is still opening
        // (before READY), mostly while it writes, after a random number of acks.
        let kill_during_open = rng.next_u64().is_multiple_of(10);
        let acks_before_kill = rng.next_u64() % 60;
        if !kill_during_open {
            let mut seen = 0;
            loop {
                match rx.recv_timeout(Duration::from_secs(30)) {
                    Ok(line) if line.starts_with("ACK") => {
                        record(&line, &mut max_acked, &mut total_acks);
                        seen += 1;
                        if seen > acks_before_kill {
                            break;
                        }
                    }
                    Ok(_) => {}
                    Err(_) => {
                        let _ = child.kill();
                        let out = child.wait_with_output().expect("wait");
                        panic!("cycle {cycle}: the writer stopped: {}", String::from_utf8_lossy(&out.stderr));
                    }
                }
            }
        }
        child.kill().expect("SIGKILL");
        let status = child.wait().expect("wait");
        assert!(!status.success(), "cycle {cycle}: the writer was killed");
        reader.join().expect("reader");
        // Acks still in the pipe were printed, so flushed, before the kill.
        for line in rx.try_iter() {
            record(&line, &mut max_acked, &mut total_acks);
        }
        check_store(&data, max_acked, cycle, seed);
    }
    eprintln!("crash test: {cycles} cycles, {total_acks} acks counted after kills, last acked {max_acked:?}, 0 lost");
}

fn record(line: &str, max_acked: &mut Option<u64>, total: &mut u64) {
    if let Some(n) = line.strip_prefix("ACK ").and_then(|n| n.parse::<u64>().ok()) {
        *max_acked = Some(max_acked.map_or(n, |m| m.max(n)));
        *total += 1;
    }
}

/// Every line 0..=max_acked is in the page, in order, exactly once.
fn check_store(data: &std::path::Path, max_acked: Option<u64>, cycle: usize, seed: u64) {
    let store = match cahier_store::Store::open_sled(data) {
        Ok(s) => s,
        Err(e) if max_acked.is_none() && !data.join("conf").exists() => {
            panic!("cycle {cycle} (seed {seed}): {e}")
        }
        Err(e) => panic!("cycle {cycle} (seed {seed}): the store does not reopen: {e}"),
    };
    let Some(id) = store.find_slug("crash-test").expect("find") else {
        assert_eq!(max_acked, None, "cycle {cycle} (seed {seed}): the page with acknowledged lines is gone");
        return;
    };
    let _ = DocId::parse(id.as_str()).expect("id");
    let loaded = store.load(&id).expect("load").expect("stored");
    let body = cahier_doc::read(&loaded.doc, None).0.body;
    let numbers: Vec<u64> = body.lines().map(|l| l.parse().expect("a number")).collect();
    let expected_prefix: Vec<u64> = (0..numbers.len() as u64).collect();
    assert_eq!(numbers, expected_prefix, "cycle {cycle} (seed {seed}): lines out of order or duplicated");
    if let Some(max) = max_acked {
        assert!(
            numbers.len() as u64 > max,
            "cycle {cycle} (seed {seed}): acknowledged line {max} lost (store has {} lines)",
            numbers.len()
        );
    }
}

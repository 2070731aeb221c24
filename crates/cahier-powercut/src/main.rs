//! `cahier-powercut`: the simulator's child processes, started by its test.
//!
//! - `init BACKEND DIR`: creates an empty store in DIR and closes it;
//! - `workload BACKEND ROOT SEED STEPS`: runs the workload on the store in
//!   ROOT/store, acknowledging into ROOT/acks (under the recorder);
//! - `check BACKEND DIR EXPECTED`: reopens a crash state and prints the
//!   verdict; exits 0 (kept), 2 (lost) or 3 (refused).

use std::path::Path;
use std::process::ExitCode;

use cahier_powercut::check::{self, Verdict};
use cahier_powercut::{Backend, workload};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let backend = |name: &str| Backend::parse(name).ok_or_else(|| format!("unknown backend {name}"));
    let result = match args.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
        ["init", b, dir] => backend(b).and_then(|b| b.open(Path::new(dir)).map(drop).map_err(|e| e.to_string())),
        ["workload", b, root, seed, steps] => backend(b).and_then(|b| {
            let seed = seed.parse().map_err(|_| "the seed is not a number".to_owned())?;
            let steps = steps.parse().map_err(|_| "the steps are not a number".to_owned())?;
            let root = Path::new(root);
            workload::run(b, &root.join("store"), &root.join("acks"), seed, steps)
        }),
        ["check", b, dir, expected] => {
            let b = match backend(b) {
                Ok(b) => b,
                Err(e) => {
                    eprintln!("{e}");
                    return ExitCode::FAILURE;
                }
            };
            let expected = match std::fs::read_to_string(expected) {
                Ok(e) => e,
                Err(e) => {
                    eprintln!("cannot read the expectations: {e}");
                    return ExitCode::FAILURE;
                }
            };
            let (code, text) = match check::run(b, Path::new(dir), &expected) {
                Verdict::Kept => (check::KEPT, "kept".to_owned()),
                Verdict::Lost(what) => (check::LOST, what),
                Verdict::Refused(why) => (check::REFUSED, why),
            };
            println!("{text}");
            return ExitCode::from(code as u8);
        }
        _ => Err("usage: cahier-powercut init|workload|check …".to_owned()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{e}");
            ExitCode::FAILURE
        }
    }
}

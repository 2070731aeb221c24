//! The house rules docs/ARCHITECTURE.md states, checked on the sources: the
//! pure crates name no IO, every crate uses the dependencies it declares, and
//! every Rust file says what it is for.

use std::path::{Path, PathBuf};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Every `.rs` file under `dir`.
fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else { continue };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "rs") {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

fn crates() -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(workspace().join("crates")).expect("crates/").flatten().map(|e| e.path()).collect();
    out.sort();
    out
}

/// What a pure crate must not name: files, sockets, the runtime, the clock,
/// threads. Time and effects come in and go out as data.
const IO: &[&str] = &["std::fs", "std::net", "tokio", "SystemTime", "std::thread", "Instant::now"];
const PURE: &[&str] = &["cahier-doc", "cahier-sync", "cahier-auth", "cahier-wiki"];

#[test]
fn pure_crates_name_no_io() {
    let mut found = Vec::new();
    for name in PURE {
        for file in rust_files(&workspace().join("crates").join(name).join("src")) {
            let text = std::fs::read_to_string(&file).expect("read");
            for (n, line) in text.lines().enumerate() {
                let code = line.split("//").next().unwrap_or("");
                for io in IO {
                    if code.contains(io) {
                        found.push(format!("{}:{}: {io}", file.display(), n + 1));
                    }
                }
            }
        }
    }
    assert!(found.is_empty(), "pure crates doing IO:\n{}", found.join("\n"));
}

/// `cahier-app` is not pure (it calls the store, which does IO, and reads and
/// writes export files), but it has no runtime: the use cases block, and an
/// async caller runs them on a blocking thread. Nor does it read the clock:
/// `now_ms` comes in.
const APP_MUST_NOT_NAME: &[&str] = &["tokio", "axum", "hyper", "SystemTime", "Instant::now", "cahier_server"];

#[test]
fn the_application_layer_has_no_runtime_and_the_cli_needs_the_server_only_to_serve() {
    let mut found = Vec::new();
    let mut check = |dir: &Path, names: &[&str], except: &[&str]| {
        for file in rust_files(dir) {
            if except.iter().any(|e| file.ends_with(e)) {
                continue;
            }
            let text = std::fs::read_to_string(&file).expect("read");
            for (n, line) in text.lines().enumerate() {
                let code = line.split("//").next().unwrap_or("");
                for name in names {
                    if code.contains(name) {
                        found.push(format!("{}:{}: {name}", file.display(), n + 1));
                    }
                }
            }
        }
    };
    check(&workspace().join("crates/cahier-app/src"), APP_MUST_NOT_NAME, &[]);
    // Every command but `cahier serve` runs `cahier_app`'s use cases.
    check(&workspace().join("crates/cahier/src"), &["cahier_server"], &["serve.rs"]);
    assert!(found.is_empty(), "layering broken:\n{}", found.join("\n"));
}

/// The names of the dependencies in one table (`[dependencies]`, …) of a manifest.
fn table(manifest: &str, header: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut inside = false;
    for line in manifest.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            inside = line == header;
            continue;
        }
        if inside && let Some((name, _)) = line.split_once(['=', '.']) {
            let name = name.trim();
            if !name.is_empty() && !name.starts_with('#') {
                out.push(name.to_owned());
            }
        }
    }
    out
}

#[test]
fn every_crate_uses_the_dependencies_it_declares() {
    let mut unused = Vec::new();
    for dir in crates() {
        let Ok(manifest) = std::fs::read_to_string(dir.join("Cargo.toml")) else { continue };
        let read_all = |sub: &[&str]| -> String {
            sub.iter().flat_map(|s| rust_files(&dir.join(s))).map(|f| std::fs::read_to_string(f).expect("read")).collect()
        };
        let src = read_all(&["src"]);
        let all = read_all(&["src", "tests", "benches"]);
        for (header, text) in [("[dependencies]", &src), ("[dev-dependencies]", &all)] {
            for dep in table(&manifest, header) {
                let ident = dep.replace('-', "_");
                if !text.contains(&format!("{ident}::")) && !text.contains(&format!("use {ident}")) && !text.contains(&format!("{ident}!"))
                {
                    unused.push(format!("{}: {dep} ({header})", dir.display()));
                }
            }
        }
    }
    assert!(unused.is_empty(), "declared but never used:\n{}", unused.join("\n"));
}

#[test]
fn every_rust_file_starts_by_saying_what_it_is_for() {
    let mut silent = Vec::new();
    for dir in crates() {
        for file in rust_files(&dir) {
            let text = std::fs::read_to_string(&file).expect("read");
            if !text.trim_start().starts_with("//!") {
                silent.push(file.display().to_string());
            }
        }
    }
    assert!(silent.is_empty(), "files without a `//!` line:\n{}", silent.join("\n"));
}

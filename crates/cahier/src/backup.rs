//! `cahier check`, `cahier backup` and `cahier restore`: what an operator
//! runs to know a store is whole, to copy it while Cahier serves, and to
//! bring it back.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, bail};
use cahier_store::{Report, StorageError, Store};

/// Reads the whole store and names every damaged document; 1 if any.
pub fn check(data: &Path) -> anyhow::Result<ExitCode> {
    let store = open_to_check(data)?;
    let report = cahier_store::check(&store).context("cannot read the store")?;
    for line in damage_lines(&report) {
        println!("{line}");
    }
    if report.is_healthy() {
        println!(
            "cahier check: {} documents ({} chunks, {} bytes) and {} records, no damage",
            report.documents, report.chunks, report.bytes, report.records
        );
        Ok(ExitCode::SUCCESS)
    } else {
        eprintln!("cahier check: {}", summary(&report));
        Ok(ExitCode::FAILURE)
    }
}

/// Every problem, one line each: the document, its title, what is wrong.
pub fn damage_lines(report: &Report) -> Vec<String> {
    report
        .damage
        .iter()
        .map(|d| match &d.title {
            Some(title) => format!("damaged: {} «{}»: {}", d.id, title, d.problem),
            None => format!("damaged: {}: {}", d.id, d.problem),
        })
        .collect()
}

/// "N problems in M documents" for a damaged store.
pub fn summary(report: &Report) -> String {
    let hurt: std::collections::BTreeSet<&str> = report.damage.iter().map(|d| d.id.as_str()).collect();
    format!(
        "{} problems: {} of {} documents damaged{} ({} chunks, {} bytes read)",
        report.damage.len(),
        hurt.iter().filter(|id| **id != "store").count(),
        report.documents,
        if hurt.contains("store") { ", and the store itself" } else { "" },
        report.chunks,
        report.bytes
    )
}

/// The store as `cahier serve` opens it (redb then verifies every page), or,
/// while a server holds it, a snapshot read beside it. Never creates one.
fn open_to_check(data: &Path) -> anyhow::Result<Store> {
    let shown = Store::describe(&data.to_string_lossy());
    let is_database = data.to_str().is_some_and(Store::names_database);
    let folder = data.to_str().map_or(data, |s| Path::new(s.strip_prefix("redb:").or_else(|| s.strip_prefix("sled:")).unwrap_or(s)));
    if !is_database && std::fs::read_dir(folder).map(|mut e| e.next().is_none()).unwrap_or(true) {
        bail!("there is no Cahier store in {shown}");
    }
    match crate::open_raw(data) {
        Err(StorageError::Locked { .. }) => crate::open_to_read(data),
        other => other.with_context(|| format!("cannot use the store {shown}")),
    }
}

/// Writes a backup of the whole store to `out` (through a temporary file
/// beside it, renamed once synced), while a server may be writing.
pub fn backup(data: &Path, out: &Path) -> anyhow::Result<ExitCode> {
    let store = crate::open_to_read(data).context(
        "a sled folder is backed up with Cahier stopped (sled lets one process hold it); `cahier migrate` moves it to redb, which is backed up while serving",
    )?;
    let name = out.file_name().with_context(|| format!("--out {} names no file", out.display()))?;
    let partial = out.with_file_name(format!(".{}.partial", name.to_string_lossy()));
    let written = (|| -> anyhow::Result<cahier_store::Backed> {
        let mut file =
            std::io::BufWriter::new(std::fs::File::create(&partial).with_context(|| format!("cannot write {}", partial.display()))?);
        let done = cahier_store::backup(&store, &mut file).context("the backup failed")?;
        file.flush()?;
        file.into_inner().map_err(|e| e.into_error())?.sync_all().context("cannot sync the backup")?;
        std::fs::rename(&partial, out).with_context(|| format!("cannot rename {} to {}", partial.display(), out.display()))?;
        let parent = out.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
        std::fs::File::open(parent)?.sync_all()?;
        Ok(done)
    })();
    let done = match written {
        Ok(done) => done,
        Err(e) => {
            let _ = std::fs::remove_file(&partial);
            return Err(e);
        }
    };
    println!(
        "cahier backup: {} documents ({} chunks, each document's heads recorded) and {} records written to {}",
        done.documents,
        done.chunks,
        done.records,
        out.display()
    );
    if done.damaged.is_empty() {
        return Ok(ExitCode::SUCCESS);
    }
    for (id, why) in &done.damaged {
        println!("damaged: {id}: {why}");
    }
    eprintln!("cahier backup: {} damaged documents were copied as they are (listed above)", done.damaged.len());
    Ok(ExitCode::FAILURE)
}

/// Restores the backup `file` into the new store `data` and checks every
/// document's heads.
pub fn restore(file: &Path, data: &Path) -> anyhow::Result<ExitCode> {
    // A damaged file is refused before anything is created.
    cahier_store::verify(file).with_context(|| format!("cannot restore {}", file.display()))?;
    let store = crate::open_store(data)?;
    let done = cahier_store::restore(file, &store).with_context(|| format!("cannot restore {}", file.display()))?;
    println!(
        "cahier restore: {} documents ({} chunks, every document's heads checked) and {} records restored into {}, storage id {}",
        done.documents,
        done.chunks,
        done.records,
        Store::describe(&data.to_string_lossy()),
        done.storage_id
    );
    if done.damaged > 0 {
        eprintln!("cahier restore: {} documents were damaged in the backup and are restored as they were", done.damaged);
    }
    Ok(ExitCode::SUCCESS)
}

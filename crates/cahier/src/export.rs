//! `cahier export`: every document as Markdown, the images and attachments,
//! and a credits file.

use std::path::Path;
use std::process::ExitCode;

use cahier_app::{archive, transfer};

use crate::import::Progress;

pub fn run(data: &Path, out: &Path) -> anyhow::Result<ExitCode> {
    let store = crate::open_store(data)?;
    let skipped = transfer::foreign_documents(&store)?;
    if skipped > 0 {
        eprintln!("{skipped} documents are not pages or minutes (no `kind`) and are not exported");
    }
    let progress = Progress::new(store.list()?.len().saturating_sub(skipped) as u64);
    let files = transfer::export_all(&store, &mut |path| {
        progress.line(&format!("exported {path}"));
        progress.inc();
    })?;
    progress.finish();
    archive::write_files(out, &files)?;
    let attached = files.iter().filter(|f| cahier_app::files::is_file_member(&f.path)).count();
    println!("{} documents exported to {}", files.len() - 1 - attached, out.display());
    Ok(ExitCode::SUCCESS)
}

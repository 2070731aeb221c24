//! `cahier export`: every document as Markdown, plus a credits file.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use cahier_doc::{DocId, Kind};

use crate::archive::{self, CREDITS_FILE, OutFile};
use crate::import::Progress;

pub fn run(data: &Path, out: &Path) -> anyhow::Result<ExitCode> {
    let store = crate::open_store(data)?;
    let files = export_all(&store)?;
    archive::write_files(out, &files)?;
    println!("{} documents exported to {}", files.len() - 1, out.display());
    Ok(ExitCode::SUCCESS)
}

/// The export of a whole store: `pages/SLUG.md`, `minutes/SLUG.md`, and `CREDITS.md`,
/// sorted by path.
pub fn export_all(store: &cahier_store::Store) -> anyhow::Result<Vec<OutFile>> {
    let entries = store.list()?;
    let skipped = entries.iter().filter(|e| e.kind == "other").count();
    if skipped > 0 {
        eprintln!("{skipped} documents are not pages or minutes (no `kind`) and are not exported");
    }
    let progress = Progress::new(entries.len() as u64);
    let mut files = Vec::new();
    let mut credits = Vec::new();
    for entry in entries.into_iter().filter(|e| e.kind != "other") {
        let id = DocId::parse(&entry.id)?;
        let loaded = store.load(&id)?.with_context(|| format!("document {id} is in the index but not stored"))?;
        let (text, view) = cahier_doc::markdown::export_document(&loaded.doc);
        let folder = match view.kind {
            Kind::Page => "pages",
            Kind::Minutes => "minutes",
        };
        let path = format!("{folder}/{}", cahier_doc::markdown::file_name(&view));
        let names: Vec<String> = cahier_doc::contributors(&loaded.doc, None).into_iter().map(|c| c.name).collect();
        credits.push((path.clone(), view.title.clone(), view.license.clone(), names));
        progress.line(&format!("exported {path}"));
        progress.inc();
        files.push(OutFile {
            path,
            bytes: text.into_bytes(),
            mtime_secs: view.updated_ms.map(|ms| (ms / 1000).max(0) as u64).unwrap_or(0),
        });
    }
    progress.finish();
    files.sort_by(|a, b| a.path.cmp(&b.path));
    credits.sort();
    let mut c = String::from(
        "# Crédits — Credits\n\nChaque document est l'œuvre des personnes nommées, sous la licence indiquée.\nEach document is the work of the people named, under the licence given.\n\n",
    );
    for (path, title, license, names) in credits {
        let who = if names.is_empty() { "—".to_owned() } else { names.join(", ") };
        c.push_str(&format!("- `{path}` « {title} » ({license}) : {who}\n"));
    }
    let mtime = files.iter().map(|f| f.mtime_secs).max().unwrap_or(0);
    files.push(OutFile { path: CREDITS_FILE.to_owned(), bytes: c.into_bytes(), mtime_secs: mtime });
    Ok(files)
}

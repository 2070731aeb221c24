//! `cahier import`: Markdown files into the store, each file all or nothing,
//! then an export's images and attachments.

use std::io::IsTerminal;
use std::path::Path;
use std::process::ExitCode;

use cahier_app::{Direct, archive, transfer};

pub fn run(path: &Path, data: &Path) -> anyhow::Result<ExitCode> {
    let store = crate::open_store(data)?;
    let (files, attached) = cahier_app::files::partition(archive::read_markdown_files(path)?);
    if files.is_empty() {
        anyhow::bail!("{}: no .md files to import", path.display());
    }
    let progress = Progress::new(files.len() as u64);
    let (mut created, mut updated, mut failed) = (0, 0, 0);
    for file in &files {
        // No server runs (it would hold the store): changes go straight to it.
        let outcome = transfer::import_file(&store, file, crate::now_ms(), &Direct(&store));
        match &outcome {
            Ok(done) if done.created => {
                created += 1;
                progress.line(&format!("new      {}  ← {}", done.slug, file.name));
            }
            Ok(done) => {
                updated += 1;
                progress.line(&format!("updated  {}  ← {}", done.slug, file.name));
            }
            Err(e) => {
                failed += 1;
                progress.error(&format!("error    {e}"));
            }
        }
        progress.inc();
    }
    // Files after the documents they belong to, whose addresses they name.
    for (name, outcome) in cahier_app::files::import(&store, &attached, crate::now_ms(), &cahier_app::files::FileLimits::default()) {
        match outcome {
            Ok(meta) => progress.line(&format!("file     {}  ← {name}", meta.path())),
            Err(e) => {
                failed += 1;
                progress.error(&format!("error    {name}: {e}"));
            }
        }
    }
    progress.finish();
    println!("{created} new, {updated} updated, {failed} failed ({} files)", files.len() + attached.len());
    Ok(if failed == 0 { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

/// A progress bar on a terminal; plain lines otherwise.
pub struct Progress {
    bar: Option<indicatif::ProgressBar>,
}

impl Progress {
    pub fn new(len: u64) -> Progress {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = indicatif::ProgressBar::new(len);
            if let Ok(style) = indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} {wide_msg}") {
                bar.set_style(style);
            }
            bar
        });
        Progress { bar }
    }

    pub fn line(&self, s: &str) {
        match &self.bar {
            Some(bar) => bar.set_message(s.to_owned()),
            None => println!("{s}"),
        }
    }

    pub fn error(&self, s: &str) {
        match &self.bar {
            Some(bar) => bar.println(s),
            None => eprintln!("{s}"),
        }
    }

    pub fn inc(&self) {
        if let Some(bar) = &self.bar {
            bar.inc(1);
        }
    }

    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

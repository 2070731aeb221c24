//! The writer half of the crash test: appends numbered lines to one page and
//! prints `ACK n` only after the store has flushed line `n`. The test kills this
//! process at random moments and checks that every acknowledged line survived.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use automerge::ReadDoc;
use automerge::transaction::{CommitOptions, Transactable};
use cahier_doc::{DocView, Editor};

pub const SLUG: &str = "crash-test";

pub fn run(data: &Path, compact_after: usize) -> anyhow::Result<ExitCode> {
    // The test checks the store in its own process between two kills; sled
    // frees that store's lock a moment after it is dropped.
    let store = cahier_store::Store::open_sled_waiting(data, std::time::Duration::from_secs(10))
        .map_err(|e| anyhow::anyhow!("cannot use the data folder {}: {e}", data.display()))?
        .with_compact_after(compact_after);
    let mut loaded = match store.find_slug(SLUG)? {
        Some(id) => store.load(&id)?.ok_or_else(|| anyhow::anyhow!("slug without document"))?,
        None => {
            let view = DocView { slug: SLUG.into(), ..DocView::new_page("Crash test") };
            let doc = cahier_doc::new_document(&view, &Editor::new("crash-writer"), crate::now_ms())?;
            store.create(doc)?
        }
    };
    let body = cahier_doc::write::body_obj(&loaded.doc, None).ok_or_else(|| anyhow::anyhow!("no body"))?;
    let text = loaded.doc.text(&body)?;
    let mut next: u64 = text.lines().filter_map(|l| l.parse::<u64>().ok()).max().map_or(0, |n| n + 1);
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "READY {next}")?;
    stdout.flush()?;
    loop {
        let len = loaded.doc.length(&body);
        let mut tx = loaded.doc.transaction();
        tx.splice_text(&body, len, 0, &format!("{next}\n"))?;
        tx.commit_with(CommitOptions::default().with_time(crate::now_ms() / 1000));
        store.save(&mut loaded)?;
        writeln!(stdout, "ACK {next}")?;
        stdout.flush()?;
        next += 1;
    }
}

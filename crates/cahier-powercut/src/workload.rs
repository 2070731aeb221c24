//! The workload the recorder watches: real [`Store`] operations as the server
//! and the command line issue them, with an acknowledgement line written to
//! the `acks` file after each one returned `Ok`.
//!
//! Several documents: two saved one by one through [`Store::save`] (which
//! compacts them into a snapshot every few chunks), the others group-committed
//! together through [`Store::persist`] as the server's storage thread does,
//! with their own compactions; titles change (the index and the slugs are
//! rewritten in the same batches); pastes of several kilobytes among
//! keystroke-sized edits; records (accounts, invites…) written now and then.

use std::io::Write as _;
use std::path::Path;

use automerge::{Automerge, ChangeHash};
use cahier_doc::{DocId, DocView, Editor};
use cahier_store::{DocRecord, IndexEntry, LoadedDoc, PersistItem, Store};

use crate::{Ack, Backend, Rng, hex};

/// Chunks a document piles up before it is compacted, here: small, so that
/// a short run holds several compactions.
const COMPACT_AFTER: usize = 4;

const T0: i64 = 1_795_199_400_000;

/// A document written through [`Store::persist`], with the bookkeeping the
/// server's storage thread keeps.
struct Grouped {
    id: DocId,
    doc: Automerge,
    record: DocRecord,
    saved: Vec<ChangeHash>,
}

/// Runs `steps` steps of the workload on the store in `dir`, acknowledging
/// into `acks`.
pub fn run(backend: Backend, dir: &Path, acks: &Path, seed: u64, steps: usize) -> Result<(), String> {
    let store = backend.open(dir).map_err(|e| e.to_string())?.with_compact_after(COMPACT_AFTER);
    let mut acks = std::fs::OpenOptions::new().create(true).append(true).open(acks).map_err(|e| e.to_string())?;
    let mut ack = |a: Ack| acks.write_all(a.line().as_bytes()).map_err(|e| e.to_string());
    let mut rng = Rng::new(seed);
    let editor = Editor::new("Camille");
    let mut single: Vec<LoadedDoc> = Vec::new();
    for (n, title) in ["Conseil d'école", "Réunion du 3 mars"].iter().enumerate() {
        let doc = cahier_doc::new_document(&page(title), &editor, T0 + n as i64).map_err(|e| e.to_string())?;
        let loaded = store.create(doc).map_err(|e| e.to_string())?;
        ack(doc_ack(&loaded.id, &loaded.doc))?;
        single.push(loaded);
    }
    let mut grouped: Vec<Grouped> = Vec::new();
    for (n, title) in ["Budget", "Ateliers", "Compte rendu"].iter().enumerate() {
        let mut bytes = [0u8; 16];
        bytes[..8].copy_from_slice(&rng.next_u64().to_le_bytes());
        bytes[8..].copy_from_slice(&rng.next_u64().to_le_bytes());
        let doc = cahier_doc::new_document(&page(title), &editor, T0 + 10 + n as i64).map_err(|e| e.to_string())?;
        grouped.push(Grouped { id: DocId::from_random(bytes), doc, record: DocRecord::default(), saved: Vec::new() });
    }
    persist(&store, &mut grouped, &[0, 1, 2], &mut ack)?;
    for step in 0..steps {
        let at = T0 + 1000 + step as i64;
        let text = if rng.one_in(12) { paste(&mut rng) } else { typed(&mut rng) };
        match rng.below(5) {
            0 | 1 => {
                let loaded = &mut single[rng.below(2)];
                edit(&mut loaded.doc, &text, at, rng.one_in(8).then(|| format!("Titre {step}")))?;
                store.save(loaded).map_err(|e| e.to_string())?;
                ack(doc_ack(&loaded.id, &loaded.doc))?;
            }
            2 | 3 => {
                // One to three documents in one group commit.
                let mut which: Vec<usize> = (0..grouped.len()).filter(|_| rng.one_in(2)).collect();
                if which.is_empty() {
                    which.push(rng.below(grouped.len()));
                }
                for &i in &which {
                    edit(&mut grouped[i].doc, &text, at, rng.one_in(8).then(|| format!("Atelier {step}")))?;
                }
                persist(&store, &mut grouped, &which, &mut ack)?;
            }
            _ => {
                let key = format!("audit/{step:06}");
                let value = format!("{{\"step\":{step},\"by\":\"Camille\"}}").into_bytes();
                store.put_records(vec![(key.clone(), Some(value.clone()))]).map_err(|e| e.to_string())?;
                ack(Ack::Record { key, value: hex(&value) })?;
            }
        }
    }
    Ok(())
}

fn page(title: &str) -> DocView {
    DocView { body: String::new(), updated_ms: Some(T0), ..DocView::new_page(title) }
}

fn doc_ack(id: &DocId, doc: &Automerge) -> Ack {
    Ack::Doc { id: id.to_string(), heads: doc.get_heads().iter().map(|h| hex(&h.0)).collect() }
}

fn edit(doc: &mut Automerge, text: &str, at: i64, title: Option<String>) -> Result<(), String> {
    let (mut view, _) = cahier_doc::read(doc, None);
    view.body.push_str(text);
    view.updated_ms = Some(at);
    if let Some(title) = title {
        view.title = title;
    }
    cahier_doc::apply_view(doc, &view, &Editor::new("Camille"), at, "edit").map(|_| ()).map_err(|e| e.to_string())
}

/// One group commit of the documents `which`, as the storage thread makes it.
fn persist(store: &Store, docs: &mut [Grouped], which: &[usize], ack: &mut impl FnMut(Ack) -> Result<(), String>) -> Result<(), String> {
    let mut items = Vec::new();
    let mut heads = Vec::new();
    for (i, g) in docs.iter_mut().enumerate().filter(|(i, _)| which.contains(i)) {
        let snapshot = g.record.chunks() == 0 || g.record.chunks() >= COMPACT_AFTER;
        let bytes = if snapshot { g.doc.save() } else { g.doc.save_after(&g.saved) };
        let entry = IndexEntry::from_summary(&g.id, &cahier_doc::read::summary(&g.doc));
        heads.push((i, g.doc.get_heads()));
        items.push(PersistItem { id: &g.id, record: &mut g.record, snapshot, bytes, entry });
    }
    store.persist(items).map_err(|e| e.to_string())?;
    for (i, h) in heads {
        docs[i].saved = h;
        ack(doc_ack(&docs[i].id, &docs[i].doc))?;
    }
    Ok(())
}

fn typed(rng: &mut Rng) -> String {
    let words = ["la ", "cantine ", "ouvre ", "à ", "midi ", "; ", "vote ", "adopté ", "élèves ", "\n"];
    (0..1 + rng.below(6)).map(|_| words[rng.below(words.len())]).collect()
}

/// A paste of 4 to 24 KiB: writes that span many sectors.
fn paste(rng: &mut Rng) -> String {
    let line = "Les parents d'élèves demandent un point sur la sécurité aux abords de l'école.\n";
    line.repeat((4096 + rng.below(20 * 1024)) / line.len())
}

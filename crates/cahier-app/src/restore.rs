//! A past version made the current one again, as a new change on top of the
//! history (which is never rewritten).

use automerge::{ChangeHash, ReadDoc};
use cahier_doc::{DocId, Editor};
use cahier_store::Store;

use crate::Engine;
use crate::auth_store::{AuditEvent, record_audit};
use crate::error::{Error, Result};

/// What restoring did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Restored {
    /// The document already held that version's content.
    Unchanged,
    /// A change brought it back; the store has it and the audit log says so.
    Restored,
}

/// Parses a version as written in addresses and forms: heads in hex, separated
/// by commas. `None` if it is not one.
pub fn parse_version(s: &str) -> Option<Vec<ChangeHash>> {
    let heads: Option<Vec<ChangeHash>> = s.split(',').map(|h| h.trim().parse().ok()).collect();
    heads.filter(|h| !h.is_empty())
}

/// Brings back the content of document `id` at `version` (title, body, tags,
/// minutes' fields); its address, kind, status and creation date stay. The
/// change goes through `engine`, so open editors receive it like anyone's
/// edit, and the audit entry is written only once it is stored.
pub fn restore(store: &Store, engine: &dyn Engine, id: &DocId, version: &str, by: &str, now_ms: i64) -> Result<Restored> {
    let Some((mut doc, _)) = store.load_record(id)? else { return Err(Error::NotFound(format!("no document {id}"))) };
    let Some(heads) = parse_version(version).filter(|h| h.iter().all(|x| doc.get_change_by_hash(x).is_some())) else {
        return Err(Error::NotFound(format!("document {id} has no version {version:?}")));
    };
    let (now_view, _) = cahier_doc::read(&doc, None);
    let (old, _) = cahier_doc::history::view_at(&doc, &heads);
    let restored = cahier_doc::DocView {
        slug: now_view.slug.clone(),
        kind: now_view.kind,
        status: now_view.status,
        created_ms: now_view.created_ms,
        updated_ms: Some(now_ms),
        ..old
    };
    let short = cahier_wiki::html::short_version(version);
    if cahier_doc::apply_view(&mut doc, &restored, &Editor::new(by), now_ms, &format!("restore version {short}"))?.is_none() {
        return Ok(Restored::Unchanged);
    }
    let Some(change) = doc.get_last_local_change() else { return Err(Error::Invalid("restoring made no change".into())) };
    engine.apply(id, change.raw_bytes().to_vec())?;
    let address = store.address(id)?;
    let event = AuditEvent { at_ms: now_ms, who: by.to_owned(), action: "restored".into(), target: format!("{address} ({id}) to {short}") };
    record_audit(store, &event)?;
    Ok(Restored::Restored)
}

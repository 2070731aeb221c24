//! Minutes become a wiki page: one rule for the command line and the web.

use cahier_doc::write::PromoteError;
use cahier_doc::{DocId, Editor};
use cahier_store::Store;

use crate::auth_store::{AuditEvent, record_audit};
use crate::error::{Error, Result};

/// The page promoting made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Promoted {
    pub id: DocId,
    /// The page's address: the slug asked for when it was free, else the
    /// store's fallback for it (numbered, then with the id).
    pub address: String,
    /// The slug asked for (the minutes' address followed by `-page` unless one
    /// was given).
    pub requested: String,
}

/// Turns the minutes `minutes` into a new draft page: a fork of their
/// document, so the page keeps the whole history and credits the
/// minute-takers. Its address comes from the store's one rule
/// (`Store::persist`), from `slug` or else the minutes' address followed by
/// `-page`. The audit log records it once the page is stored.
pub fn promote(store: &Store, minutes: &DocId, slug: Option<&str>, by: &str, now_ms: i64) -> Result<Promoted> {
    let Some((doc, _)) = store.load_record(minutes)? else { return Err(Error::NotFound(format!("no document {minutes}"))) };
    let from = store.address(minutes)?;
    let requested = match slug {
        Some(s) => s.to_owned(),
        None if from.is_empty() => "page".to_owned(),
        None => format!("{from}-page"),
    };
    let page = cahier_doc::write::promote_minutes(&doc, &requested, &Editor::new(by), now_ms).map_err(|e| match e {
        PromoteError::NotMinutes | PromoteError::BadSlug(_) => Error::Invalid(e.to_string()),
        PromoteError::Automerge(e) => Error::from(e),
    })?;
    let loaded = store.create(page)?;
    let address = store.address(&loaded.id)?;
    let event = AuditEvent {
        at_ms: now_ms,
        who: by.to_owned(),
        action: "promoted".into(),
        target: format!("{from} ({minutes}) → {address} ({})", loaded.id),
    };
    record_audit(store, &event)?;
    Ok(Promoted { id: loaded.id, address, requested })
}

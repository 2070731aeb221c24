//! Minutes become a wiki page: one rule for the command line and the web.

use cahier_doc::write::PromoteError;
use cahier_doc::{DocId, Editor};
use cahier_store::Store;
use serde::{Deserialize, Serialize};

use crate::auth_store::{AuditEvent, audit_write};
use crate::error::{Error, Result, corrupt, json};
use crate::{Direct, Engine};

/// What promoted minutes' address becomes, after their own: the page takes
/// the minutes' address, the minutes keep theirs with this suffix (compte rendu).
pub const MINUTES_SUFFIX: &str = "-cr";

/// The page promoting made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Promoted {
    pub id: DocId,
    /// The page's address: the slug asked for when it was free, else the
    /// store's fallback for it (numbered, then with the id).
    pub address: String,
    /// The slug asked for (the minutes' address unless one was given).
    pub requested: String,
    /// The minutes' address now (their old one followed by [`MINUTES_SUFFIX`]
    /// when the page took it).
    pub minutes_address: String,
}

/// The record that minutes were promoted: which page they became.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Promotion {
    /// The page's document id.
    pub page: String,
    pub at_ms: i64,
    pub by: String,
}

fn key(id: &DocId) -> String {
    format!("promoted/{id}")
}

/// Whether the minutes `minutes` were promoted, and to which page.
pub fn promotion(store: &Store, minutes: &DocId) -> Result<Option<Promotion>> {
    let k = key(minutes);
    store.record(&k)?.map(|b| serde_json::from_slice(&b).map_err(|e| corrupt(&k, e))).transpose()
}

/// [`promote_via`] with no server running: the minutes' new address goes
/// straight to the store (the command line).
pub fn promote(store: &Store, minutes: &DocId, slug: Option<&str>, by: &str, now_ms: i64) -> Result<Promoted> {
    promote_via(store, &Direct(store), minutes, slug, by, now_ms)
}

/// Turns the minutes `minutes` into a new draft page: a fork of their
/// document, so the page keeps the whole history and credits the
/// minute-takers. Unless `slug` names another address, the page takes the
/// minutes' address and the minutes move to it followed by
/// [`MINUTES_SUFFIX`] (a change through `engine`, stored before the page is
/// made); the page's address is then the store's one rule (`Store::persist`)
/// applied to that slug. Minutes are promoted once: again is a conflict
/// naming the page. The promotion record and the audit entry are written
/// together once the page is stored.
pub fn promote_via(store: &Store, engine: &dyn Engine, minutes: &DocId, slug: Option<&str>, by: &str, now_ms: i64) -> Result<Promoted> {
    let Some((mut doc, _)) = store.load_record(minutes)? else { return Err(Error::NotFound(format!("no document {minutes}"))) };
    if let Some(done) = promotion(store, minutes)? {
        let address = DocId::parse(&done.page).ok().map(|p| store.address(&p)).transpose()?.unwrap_or_default();
        return Err(Error::Conflict(format!("these minutes are already the page {address} ({})", done.page)));
    }
    let (view, _) = cahier_doc::read(&doc, None);
    if view.minutes.is_none() {
        return Err(Error::Invalid(PromoteError::NotMinutes.to_string()));
    }
    let from = store.address(minutes)?;
    let requested = match slug {
        Some(s) => s.to_owned(),
        None if from.is_empty() => "page".to_owned(),
        None => from.clone(),
    };
    if !cahier_doc::schema::is_valid_slug(&requested) {
        return Err(Error::Invalid(PromoteError::BadSlug(requested).to_string()));
    }
    if slug.is_none() && !from.is_empty() {
        let moved = cahier_doc::DocView { slug: format!("{from}{MINUTES_SUFFIX}"), ..view };
        if cahier_doc::apply_view(&mut doc, &moved, &Editor::new(by), now_ms, "promoted: the page takes this address")?.is_some() {
            let Some(change) = doc.get_last_local_change() else { return Err(Error::Invalid("moving the minutes made no change".into())) };
            engine.apply(minutes, change.raw_bytes().to_vec())?;
        }
    }
    let page = cahier_doc::write::promote_minutes(&doc, &requested, &Editor::new(by), now_ms).map_err(|e| match e {
        PromoteError::NotMinutes | PromoteError::BadSlug(_) => Error::Invalid(e.to_string()),
        PromoteError::Automerge(e) => Error::from(e),
    })?;
    let loaded = store.create(page)?;
    let address = store.address(&loaded.id)?;
    let minutes_address = store.address(minutes)?;
    let event = AuditEvent {
        at_ms: now_ms,
        who: by.to_owned(),
        action: "promoted".into(),
        target: format!("{minutes_address} ({minutes}) → {address} ({})", loaded.id),
    };
    let record = Promotion { page: loaded.id.to_string(), at_ms: now_ms, by: by.to_owned() };
    store.put_records(vec![(key(minutes), Some(json(&record)?)), audit_write(store, &event)?])?;
    Ok(Promoted { id: loaded.id, address, requested, minutes_address })
}

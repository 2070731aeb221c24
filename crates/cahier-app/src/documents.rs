//! Finding the document a user names: by its address (slug) or its id.

use cahier_doc::DocId;
use cahier_store::Store;

use crate::error::{Error, Result};
use crate::publication;

/// The document `what` names, by its address or its id (`automerge:` prefix
/// allowed), deleted ones included (to undelete them).
pub fn find(store: &Store, what: &str) -> Result<DocId> {
    if let Some(id) = store.find_slug(what)? {
        return Ok(id);
    }
    if let Ok(id) = DocId::parse(what.trim_start_matches("automerge:"))
        && store.backend().entry(&id)?.is_some()
    {
        return Ok(id);
    }
    Err(Error::NotFound(format!("no document with the slug or id {what:?}")))
}

/// The document at address `slug`, unless it was deleted.
pub fn live_by_slug(store: &Store, slug: &str) -> Result<Option<DocId>> {
    match store.find_slug(slug)? {
        Some(id) if !publication::is_deleted(store, &id)? => Ok(Some(id)),
        _ => Ok(None),
    }
}

//! Recurring meetings: new minutes prepared from the last ones.

use cahier_doc::{DocId, DocView, Editor, MinutesFields};
use cahier_store::Store;

use crate::auth_store::{AuditEvent, record_audit};
use crate::error::{Error, Result};

/// The minutes prepared for the next meeting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prepared {
    pub id: DocId,
    /// Their address, by the store's rule.
    pub address: String,
}

/// What the next meeting's minutes start with, from `last`: the same title,
/// place, facilitator, participants and agenda, the actions still open;
/// no date, notes, decisions or done actions.
pub fn next_minutes(last: &DocView) -> Option<DocView> {
    let m = last.minutes.as_ref()?;
    let fields = MinutesFields {
        starts_at: String::new(),
        place: m.place.clone(),
        facilitator: m.facilitator.clone(),
        participants: m.participants.clone(),
        agenda: m.agenda.clone(),
        decisions: Vec::new(),
        actions: m.actions.iter().filter(|a| !a.done).cloned().collect(),
    };
    let mut next = DocView::new_minutes(&last.title);
    next.tags = last.tags.clone();
    next.license = last.license.clone();
    next.minutes = Some(fields);
    Some(next)
}

/// Makes new minutes for the next meeting from the minutes `last`
/// ([`next_minutes`]), at an address from the store's rule (the title's,
/// numbered), and records it in the audit log once stored.
pub fn prepare_next(store: &Store, last: &DocId, by: &str, now_ms: i64) -> Result<Prepared> {
    let Some((doc, _)) = store.load_record(last)? else { return Err(Error::NotFound(format!("no document {last}"))) };
    let (view, _) = cahier_doc::read(&doc, None);
    let Some(mut next) = next_minutes(&view) else { return Err(Error::Invalid("only minutes prepare a next meeting".into())) };
    next.created_ms = Some(now_ms);
    next.updated_ms = Some(now_ms);
    let loaded = store.create(cahier_doc::new_document(&next, &Editor::new(by), now_ms)?)?;
    let address = store.address(&loaded.id)?;
    let from = store.address(last)?;
    let event = AuditEvent {
        at_ms: now_ms,
        who: by.to_owned(),
        action: "next meeting prepared".into(),
        target: format!("{from} ({last}) → {address} ({})", loaded.id),
    };
    record_audit(store, &event)?;
    Ok(Prepared { id: loaded.id, address })
}

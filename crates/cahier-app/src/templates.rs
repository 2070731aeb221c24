//! Page templates: pages a maintainer marks as the model of a kind of page,
//! and new pages made from them.
//!
//! A template is a store record (`template/ID`), like a publication, not a
//! field of the document: marking one is a maintainer's decision the server
//! checks (every writer of a page, guests included, may change its fields),
//! and the list of templates is one read of the records, not of every
//! document. Marking a page does not publish it: a template is a draft for
//! readers until it is published.
//!
//! The text a new page takes from its template was written by the template's
//! authors: it is written as imported text, credited to them through the new
//! page's `importedCredits` (`cahier_doc::attribution`), and what the new
//! page's writers add or change is theirs. Minutes prepared for the next
//! meeting (`next_meeting.rs`) carry over fields, not notes, so nothing there
//! needs crediting.

use cahier_doc::{DocId, DocView, Editor, Kind};
use cahier_store::Store;
use serde::{Deserialize, Serialize};

use crate::auth_store::{AuditEvent, audit_write, record_audit};
use crate::error::{Error, Result, corrupt, json};
use crate::publication;

/// Who marked a page as a template, and when.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Marked {
    pub at_ms: i64,
    pub by: String,
}

/// A template as "Nouvelle page" offers it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    pub id: DocId,
    pub title: String,
}

/// A page made from a template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Created {
    pub id: DocId,
    /// Its address, by the store's rule.
    pub address: String,
}

fn key(id: &DocId) -> String {
    format!("template/{id}")
}

/// Whether page `id` is a template.
pub fn is_template(store: &Store, id: &DocId) -> Result<bool> {
    Ok(store.record(&key(id))?.is_some())
}

/// Every template that is not deleted, by title.
pub fn templates(store: &Store) -> Result<Vec<Template>> {
    let deleted = publication::deleted_ids(store)?;
    let mut out = Vec::new();
    for (k, v) in store.records("template/")? {
        let id = DocId::parse(k.trim_start_matches("template/")).map_err(|e| corrupt(&k, e))?;
        let _: Marked = serde_json::from_slice(&v).map_err(|e| corrupt(&k, e))?;
        if deleted.contains(&id) {
            continue;
        }
        if let Some(entry) = store.backend().entry(&id)? {
            out.push(Template { id, title: entry.title });
        }
    }
    out.sort_by(|a, b| a.title.cmp(&b.title).then_with(|| a.id.as_str().cmp(b.id.as_str())));
    Ok(out)
}

/// Marks page `id` as a template (`on`) or not, in the audit log. Only
/// pages are templates. `Ok(false)` when it already was as asked.
pub fn set_template(store: &Store, id: &DocId, on: bool, by: &str, now_ms: i64) -> Result<bool> {
    let Some((doc, _)) = store.load_record(id)? else { return Err(Error::NotFound(format!("no document {id}"))) };
    if on && cahier_doc::read::summary(&doc).kind != Some(Kind::Page) {
        return Err(Error::Invalid("only pages are templates".into()));
    }
    if is_template(store, id)? == on {
        return Ok(false);
    }
    let event = AuditEvent {
        at_ms: now_ms,
        who: by.to_owned(),
        action: if on { "template marked" } else { "template unmarked" }.into(),
        target: format!("{} ({id})", store.address(id)?),
    };
    let value = on.then(|| json(&Marked { at_ms: now_ms, by: by.to_owned() })).transpose()?;
    store.put_records(vec![(key(id), value), audit_write(store, &event)?])?;
    Ok(true)
}

/// What a new page titled `title` starts with, from the template `template`
/// (written by `credits`): its body, tags and licence; its own title and an
/// address from it; a draft.
pub fn from_template(template: &DocView, title: &str, credits: &[String]) -> DocView {
    let mut page = DocView::new_page(title);
    // An empty title leaves the address to the editor, which follows the title.
    if title.trim().is_empty() {
        page.slug = String::new();
    }
    page.body = template.body.clone();
    page.tags = template.tags.clone();
    page.license = template.license.clone();
    page.imported_credits = credits.to_vec();
    page
}

/// Makes a new page titled `title` from the template `template`
/// ([`from_template`]; its text credited to the template's authors as they
/// are credited now), at an address from the store's rule, and records it in
/// the audit log once stored.
pub fn create_from(store: &Store, template: &DocId, title: &str, by: &str, now_ms: i64) -> Result<Created> {
    if !is_template(store, template)? || publication::is_deleted(store, template)? {
        return Err(Error::Invalid(format!("{template} is not a template")));
    }
    let Some((doc, _)) = store.load_record(template)? else { return Err(Error::NotFound(format!("no document {template}"))) };
    let (view, _) = cahier_doc::read(&doc, None);
    let credits = crate::auth_store::credits(store, &doc, None)?;
    let mut page = from_template(&view, title, &credits);
    page.created_ms = Some(now_ms);
    page.updated_ms = Some(now_ms);
    // Written as imported text: the credits go to `importedCredits`, the
    // template's authors, not to whoever asked for the copy.
    let loaded = store.create(cahier_doc::new_document(&page, &Editor::import(), now_ms)?)?;
    let address = store.address(&loaded.id)?;
    let event = AuditEvent {
        at_ms: now_ms,
        who: by.to_owned(),
        action: "page made from a template".into(),
        target: format!("{} ({template}) → {address} ({})", store.address(template)?, loaded.id),
    };
    record_audit(store, &event)?;
    Ok(Created { id: loaded.id, address })
}

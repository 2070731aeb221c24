//! Publishing: a record of the heads a maintainer published, per document, and a
//! log of publications. Publishing never copies text: readers get the document as
//! it was at the recorded heads.

use automerge::{ChangeHash, ReadDoc};
use cahier_doc::{DocId, Kind};
use cahier_store::Store;
use cahier_wiki::Published;
use cahier_wiki::html::PubEvent;
use serde::{Deserialize, Serialize};

use crate::auth_store::{AuditEvent, audit_write};
use crate::error::{Error, Result, corrupt, json};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Publication {
    /// The document's heads when it was published, as hex.
    pub heads: Vec<String>,
    pub at_ms: i64,
    pub by: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct LogEntry {
    doc: String,
    slug: String,
    title: String,
    at_ms: i64,
    by: String,
    published: bool,
}

fn key(id: &DocId) -> String {
    format!("pub/{id}")
}

pub fn publication(store: &Store, id: &DocId) -> Result<Option<Publication>> {
    let k = key(id);
    store.record(&k)?.map(|b| serde_json::from_slice(&b).map_err(|e| corrupt(&k, e))).transpose()
}

/// Every published document.
pub fn publications(store: &Store) -> Result<Vec<(DocId, Publication)>> {
    let mut out = Vec::new();
    for (k, v) in store.records("pub/")? {
        let id = DocId::parse(k.trim_start_matches("pub/")).map_err(|e| corrupt(&k, e))?;
        out.push((id, serde_json::from_slice(&v).map_err(|e| corrupt(&k, e))?));
    }
    Ok(out)
}

/// Publishes the stored version of a page (its current heads in the store).
/// Minutes are not published as such: promote them to a page first.
pub fn publish(store: &Store, id: &DocId, by: &str, now_ms: i64) -> Result<Publication> {
    publish_at(store, id, None, by, now_ms)
}

/// Publishes the version `heads` of a page, as the maintainer reviewed it,
/// or its stored version when `heads` is `None`. A version the store does not
/// hold is refused, never published.
pub fn publish_at(store: &Store, id: &DocId, heads: Option<&[ChangeHash]>, by: &str, now_ms: i64) -> Result<Publication> {
    let Some((doc, _)) = store.load_record(id)? else {
        return Err(Error::NotFound(format!("no document {id}")));
    };
    let heads = heads.map(<[ChangeHash]>::to_vec).unwrap_or_else(|| doc.get_heads());
    if heads.is_empty() || heads.iter().any(|h| doc.get_change_by_hash(h).is_none()) {
        return Err(Error::Invalid("this version is not stored (yet): reload the page and publish again".into()));
    }
    publish_heads(store, id, &doc, &heads, by, now_ms)
}

/// Publishes `doc` (document `id`) at its current heads, which the store holds
/// (the caller had them stored first, through an [`crate::Engine`]).
pub fn publish_doc(store: &Store, id: &DocId, doc: &automerge::Automerge, by: &str, now_ms: i64) -> Result<Publication> {
    publish_heads(store, id, doc, &doc.get_heads(), by, now_ms)
}

fn publish_heads(
    store: &Store,
    id: &DocId,
    doc: &automerge::Automerge,
    heads: &[ChangeHash],
    by: &str,
    now_ms: i64,
) -> Result<Publication> {
    let (view, _) = cahier_doc::read(doc, Some(heads));
    if view.kind != Kind::Page {
        return Err(Error::Invalid(format!(
            "{} is a set of minutes; promote it to a page to publish it",
            if view.slug.is_empty() { id.to_string() } else { view.slug.clone() }
        )));
    }
    // Readers find the page at its address, which the store keeps unique.
    let slug = store.address(id)?;
    if !cahier_doc::schema::is_valid_slug(&slug) {
        return Err(Error::Invalid(format!("document {id} has no address yet; edit it once, then publish")));
    }
    let heads: Vec<String> = heads.iter().map(|h| h.to_string()).collect();
    let p = Publication { heads, at_ms: now_ms, by: by.to_owned() };
    let log =
        LogEntry { doc: id.to_string(), slug: slug.clone(), title: view.title.clone(), at_ms: now_ms, by: by.to_owned(), published: true };
    let event = AuditEvent { at_ms: now_ms, who: by.to_owned(), action: "published".into(), target: format!("{slug} ({id})") };
    store.put_records(vec![(key(id), Some(json(&p)?)), log_write(store, &log)?, audit_write(store, &event)?])?;
    Ok(p)
}

/// Hides a page from readers again. `Ok(false)` if it was not published.
pub fn unpublish(store: &Store, id: &DocId, by: &str, now_ms: i64) -> Result<bool> {
    let Some(published) = publication(store, id)? else {
        return Ok(false);
    };
    // The public log names what readers saw, never the draft's title.
    let slug = store.address(id)?;
    let title = match (store.load_record(id)?, parse_heads(&published.heads)) {
        (Some((doc, _)), Some(heads)) if heads.iter().all(|h| doc.get_change_by_hash(h).is_some()) => {
            cahier_doc::read(&doc, Some(&heads)).0.title
        }
        _ => String::new(),
    };
    let log = LogEntry { doc: id.to_string(), slug: slug.clone(), title, at_ms: now_ms, by: by.to_owned(), published: false };
    let event = AuditEvent { at_ms: now_ms, who: by.to_owned(), action: "unpublished".into(), target: format!("{slug} ({id})") };
    store.put_records(vec![(key(id), None), log_write(store, &log)?, audit_write(store, &event)?])?;
    Ok(true)
}

const PUBLIC_HISTORY: &str = "settings/public-history";

/// Whether readers who may not read a document's history see a published
/// page's history up to its published version (the licence asks for
/// attribution, so reusers may check who wrote what). On unless a
/// maintainer turned it off.
pub fn public_history(store: &Store) -> Result<bool> {
    Ok(store.record(PUBLIC_HISTORY)?.is_none_or(|v| v != b"off"))
}

/// Turns public history on or off (a running server reads it when it starts),
/// in the audit log.
pub fn set_public_history(store: &Store, on: bool, by: &str, now_ms: i64) -> Result<()> {
    let event = AuditEvent {
        at_ms: now_ms,
        who: by.to_owned(),
        action: if on { "public history on" } else { "public history off" }.into(),
        target: String::new(),
    };
    let value = if on { None } else { Some(b"off".to_vec()) };
    store.put_records(vec![(PUBLIC_HISTORY.to_owned(), value), audit_write(store, &event)?])?;
    Ok(())
}

/// Publications and unpublications, newest first.
pub fn events(store: &Store, limit: usize) -> Result<Vec<PubEvent>> {
    let mut all = store.records("publog/")?;
    all.reverse();
    all.into_iter()
        .take(limit)
        .map(|(k, v)| {
            let e: LogEntry = serde_json::from_slice(&v).map_err(|e| corrupt(&k, e))?;
            Ok(PubEvent { slug: e.slug, title: e.title, at_ms: e.at_ms, by: e.by, published: e.published })
        })
        .collect()
}

fn log_write(store: &Store, e: &LogEntry) -> Result<(String, Option<Vec<u8>>)> {
    let seq = store.backend().next_key()?;
    Ok((format!("publog/{:020}-{seq:020}", e.at_ms.max(0)), Some(json(e)?)))
}

/// Parses hex heads as recorded.
pub fn parse_heads(heads: &[String]) -> Option<Vec<ChangeHash>> {
    heads.iter().map(|h| h.parse::<ChangeHash>().ok()).collect()
}

/// The page readers see for a publication: the document read at the published
/// heads, credited to whoever's text survives there. `None` if the document or
/// one of the heads is gone (then readers get a 404, not an error).
pub fn published_page(store: &Store, id: &DocId, p: &Publication) -> Result<Option<Published>> {
    let Some((doc, _)) = store.load_record(id)? else { return Ok(None) };
    published_page_from(store, id, &doc, p)
}

/// The page readers see for a publication, from a document in memory.
pub fn published_page_from(store: &Store, id: &DocId, doc: &automerge::Automerge, p: &Publication) -> Result<Option<Published>> {
    let Some(heads) = parse_heads(&p.heads) else { return Ok(None) };
    if heads.iter().any(|h| doc.get_change_by_hash(h).is_none()) {
        return Ok(None);
    }
    let (view, _) = cahier_doc::read(doc, Some(&heads));
    let contributors = crate::auth_store::credits(store, doc, Some(&heads))?;
    let slug = store.address(id)?;
    if !cahier_doc::schema::is_valid_slug(&slug) {
        return Ok(None);
    }
    Ok(Some(Published {
        id: id.clone(),
        slug,
        title: view.title,
        tags: view.tags,
        kind: view.kind,
        body: view.body,
        license: view.license,
        heads: p.heads.clone(),
        published_ms: p.at_ms,
        published_by: p.by.clone(),
        contributors,
        rendered: cahier_wiki::Rendered::default(),
    }))
}
/// Deleting keeps the document (nothing is lost) but takes it out of reach:
/// unpublished, listed nowhere, refused on the sync socket like a missing one.
/// `undelete` brings it back.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Deletion {
    pub at_ms: i64,
    pub by: String,
    /// What readers saw when it was deleted, published again by `undelete`.
    #[serde(default)]
    pub published: Option<Publication>,
}

/// Every deleted document (read once at start; the sync engine's policy keeps
/// the set in memory rather than read the store for every message).
pub fn deleted_ids(store: &Store) -> Result<std::collections::HashSet<DocId>> {
    store.records("del/")?.iter().map(|(k, _)| DocId::parse(k.trim_start_matches("del/")).map_err(|e| corrupt(k, e))).collect()
}

pub fn is_deleted(store: &Store, id: &DocId) -> Result<bool> {
    Ok(store.record(&format!("del/{id}"))?.is_some())
}

pub fn delete(store: &Store, id: &DocId, by: &str, now_ms: i64) -> Result<()> {
    let published = publication(store, id)?;
    unpublish(store, id, by, now_ms)?;
    let d = Deletion { at_ms: now_ms, by: by.to_owned(), published };
    // The audit log names what was deleted, so that it can be found again.
    let title = store.load_record(id)?.map(|(doc, _)| cahier_doc::read::summary(&doc).title).unwrap_or_default();
    let target = format!("{} « {title} » ({id})", store.address(id)?);
    let event = AuditEvent { at_ms: now_ms, who: by.to_owned(), action: "deleted".into(), target };
    store.put_records(vec![(format!("del/{id}"), Some(json(&d)?)), audit_write(store, &event)?])?;
    Ok(())
}

/// Brings a deleted document back, published again at the version readers
/// saw when it was deleted, if it was published then. `Ok(None)` if it was
/// not deleted; else whether it is published again.
pub fn undelete(store: &Store, id: &DocId, by: &str, now_ms: i64) -> Result<Option<bool>> {
    let k = format!("del/{id}");
    let Some(bytes) = store.record(&k)? else { return Ok(None) };
    let deletion: Deletion = serde_json::from_slice(&bytes).map_err(|e| corrupt(&k, e))?;
    // Named like the deletion, so that the two entries are found together.
    let title = store.load_record(id)?.map(|(doc, _)| cahier_doc::read::summary(&doc).title).unwrap_or_default();
    let target = format!("{} « {title} » ({id})", store.address(id)?);
    let event = AuditEvent { at_ms: now_ms, who: by.to_owned(), action: "undeleted".into(), target };
    store.put_records(vec![(k, None), audit_write(store, &event)?])?;
    let Some(was) = deletion.published else { return Ok(Some(false)) };
    // The version readers saw, unless it is gone from the document.
    let heads = parse_heads(&was.heads).unwrap_or_default();
    match publish_at(store, id, Some(&heads), by, now_ms) {
        Ok(_) => Ok(Some(true)),
        Err(Error::Invalid(_)) => Ok(Some(false)),
        Err(e) => Err(e),
    }
}

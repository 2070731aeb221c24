//! `cahier publish`, `cahier unpublish`, `cahier promote`: the maintainer's wiki
//! tasks from the command line (while Cahier is stopped: the store is locked by
//! a running server).

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, bail};
use cahier_doc::{DocId, Editor};
use cahier_server::publication;

/// A document named by its slug or its id.
fn find(store: &cahier_store::Store, what: &str) -> anyhow::Result<DocId> {
    if let Some(id) = store.find_slug(what)? {
        return Ok(id);
    }
    if let Ok(id) = DocId::parse(what.trim_start_matches("automerge:"))
        && store.load_record(&id)?.is_some()
    {
        return Ok(id);
    }
    bail!("no document with the slug or id {what:?} (see `cahier list`)")
}

pub fn publish(data: &Path, what: &str, by: &str) -> anyhow::Result<ExitCode> {
    let store = crate::open_store(data)?;
    let id = find(&store, what)?;
    let p = publication::publish(&store, &id, by, crate::now_ms())?;
    println!("published {what} at version {}", p.heads.iter().map(|h| &h[..12]).collect::<Vec<_>>().join(","));
    Ok(ExitCode::SUCCESS)
}

pub fn unpublish(data: &Path, what: &str, by: &str) -> anyhow::Result<ExitCode> {
    let store = crate::open_store(data)?;
    let id = find(&store, what)?;
    if publication::unpublish(&store, &id, by, crate::now_ms())? {
        println!("unpublished {what}");
    } else {
        println!("{what} was not published");
    }
    Ok(ExitCode::SUCCESS)
}

pub fn promote(data: &Path, what: &str, slug: Option<&str>, by: &str) -> anyhow::Result<ExitCode> {
    let store = crate::open_store(data)?;
    let id = find(&store, what)?;
    let (doc, _) = store.load_record(&id)?.context("the document vanished")?;
    let summary = cahier_doc::read::summary(&doc);
    let slug = slug.map(str::to_owned).unwrap_or_else(|| format!("{}-page", summary.slug));
    if store.find_slug(&slug)?.is_some() {
        bail!("the slug {slug:?} is taken; choose another with --slug");
    }
    let page = cahier_doc::write::promote_minutes(&doc, &slug, &Editor::new(by), crate::now_ms())?;
    let loaded = store.create(page)?;
    println!("promoted {what} to the page {slug} ({}); publish it with `cahier publish {slug}`", loaded.id);
    Ok(ExitCode::SUCCESS)
}

pub fn delete(data: &Path, what: &str, by: &str) -> anyhow::Result<ExitCode> {
    let store = crate::open_store(data)?;
    let id = find(&store, what)?;
    publication::delete(&store, &id, by, crate::now_ms())?;
    println!("deleted {what} ({id}); `cahier undelete {id}` brings it back");
    Ok(ExitCode::SUCCESS)
}

pub fn undelete(data: &Path, what: &str, by: &str) -> anyhow::Result<ExitCode> {
    let store = crate::open_store(data)?;
    let id = find(&store, what)?;
    if publication::undelete(&store, &id, by, crate::now_ms())? {
        println!("{what} is back (publish it again if readers should see it)");
    } else {
        println!("{what} was not deleted");
    }
    Ok(ExitCode::SUCCESS)
}

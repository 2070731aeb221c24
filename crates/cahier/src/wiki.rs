//! `cahier publish`, `unpublish`, `delete`, `undelete`, `promote`,
//! `public-history`: the
//! maintainer's wiki tasks from the command line (while Cahier is stopped: a
//! running server holds the store), `cahier_app`'s use cases.

use std::path::Path;
use std::process::ExitCode;

use cahier_app::{find, promote, publication};

pub fn publish(data: &Path, what: &str, by: &str) -> anyhow::Result<ExitCode> {
    let store = crate::open_store(data)?;
    let id = find(&store, what)?;
    let p = publication::publish(&store, &id, by, crate::now_ms())?;
    let short: Vec<String> = p.heads.iter().map(|h| h.chars().take(12).collect()).collect();
    println!("published {what} at version {}", short.join(","));
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
    let page = promote::promote(&store, &id, slug, by, crate::now_ms())?;
    let address = &page.address;
    if *address != page.requested {
        println!("{} is taken: the page's address is {address}", page.requested);
    }
    println!("promoted {what} to the page {address} ({}); publish it with `cahier publish {address}`", page.id);
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
    match publication::undelete(&store, &id, by, crate::now_ms())? {
        Some(true) => println!("{what} is back, published again as readers saw it"),
        Some(false) => println!("{what} is back (publish it again if readers should see it)"),
        None => println!("{what} was not deleted"),
    }
    Ok(ExitCode::SUCCESS)
}

#[derive(Clone, Copy, clap::ValueEnum)]
pub enum OnOff {
    On,
    Off,
}

pub fn public_history(data: &Path, state: Option<OnOff>, by: &str) -> anyhow::Result<ExitCode> {
    let store = crate::open_store(data)?;
    if let Some(state) = state {
        publication::set_public_history(&store, matches!(state, OnOff::On), by, crate::now_ms())?;
    }
    let on = publication::public_history(&store)?;
    let said = if on { "on: readers see a published page's history" } else { "off: only those who may edit see the history" };
    println!("public history is {said} (a running server sees a change once restarted)");
    Ok(ExitCode::SUCCESS)
}

//! The many-documents scenario: a store of many small documents, many clients
//! each on its own document; the server's memory per connection and per loaded
//! document, and after idle documents are unloaded. And the cold load of one
//! long document (`push`, then `fetch` after the server restarts).

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use automerge::transaction::Transactable;
use automerge::{Automerge, ChangeHash};

use crate::peer::{Peer, Thin, handshake};
use crate::{ProcStats, random_doc_id, trace};

pub struct Args {
    pub url: String,
    pub docs: usize,
    pub clients: usize,
    pub server_pid: u32,
    /// How long the server keeps a document with no peer (its setting).
    pub idle_unload_secs: u64,
    pub label: String,
}

/// A small set of minutes: a text of a few hundred characters.
fn small_doc(i: usize) -> anyhow::Result<Automerge> {
    let (mut doc, text) = trace::base_doc()?;
    let mut tx = doc.transaction();
    tx.splice_text(&text, 0, 0, &format!("Compte rendu n° {i}. Présents : Anne, Bruno, Chloé. Ordre du jour : le budget de l'école ouverte, le calendrier des ateliers, la prochaine réunion. Décisions : le budget est adopté ; les ateliers ont lieu le mercredi. Actions : Bruno écrit aux familles avant vendredi."))?;
    tx.commit();
    Ok(doc)
}

fn rss_mib(pid: u32) -> anyhow::Result<f64> {
    Ok(ProcStats::read(pid)?.rss_kib as f64 / 1024.0)
}

/// Waits until the server's memory has not fallen for `quiet` (idle documents
/// unloaded), at most `limit`.
async fn settle(pid: u32, quiet: Duration, limit: Duration) -> anyhow::Result<f64> {
    let start = Instant::now();
    let mut low = rss_mib(pid)?;
    let mut since = Instant::now();
    let mut tick = tokio::time::interval(Duration::from_millis(500));
    while start.elapsed() < limit && since.elapsed() < quiet {
        tick.tick().await;
        let now = rss_mib(pid)?;
        if now < low - 0.5 {
            low = now;
            since = Instant::now();
        }
    }
    rss_mib(pid)
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    let idle = Duration::from_secs(args.idle_unload_secs);
    let rss_start = rss_mib(args.server_pid)?;
    // 1. The store: many documents, 40 connections creating them.
    let ids: Vec<String> = (0..args.docs).map(|_| random_doc_id().to_string()).collect();
    let ids = Arc::new(ids);
    let t = Instant::now();
    let writers = 40.min(args.docs.max(1));
    let mut tasks = Vec::new();
    for w in 0..writers {
        let (url, ids) = (args.url.clone(), ids.clone());
        tasks.push(tokio::spawn(async move {
            for i in (w..ids.len()).step_by(writers) {
                let doc = small_doc(i)?;
                let changes = doc.get_changes(&[]);
                let bytes: Vec<Vec<u8>> = changes.iter().map(|c| c.raw_bytes().to_vec()).collect();
                let hashes: Vec<ChangeHash> = changes.iter().map(|c| c.hash()).collect();
                // One socket per document: a connection may hold only so many.
                let mut thin = Thin::connect(&url, &format!("bench-writer-{w}"), &ids[i], Vec::new()).await?;
                thin.send(bytes, &hashes).await?;
                thin.wait_acked(hashes.last().context("no change")?, Duration::from_secs(60)).await?;
            }
            anyhow::Ok(())
        }));
        if w % 8 == 7 {
            eprint!("\r[many {}] writers started: {}   ", args.label, w + 1);
        }
    }
    for task in tasks {
        task.await??;
    }
    let create_secs = t.elapsed().as_secs_f64();
    eprintln!("\n[many {}] {} documents stored in {create_secs:.1} s; waiting for them to be unloaded …", args.label, args.docs);
    let rss_stored = settle(args.server_pid, idle + Duration::from_secs(2), idle + Duration::from_secs(30)).await?;

    // 2. Connections alone.
    let mut sockets = Vec::new();
    for c in 0..args.clients {
        sockets.push(handshake(&args.url, &format!("bench-client-{c}")).await?);
    }
    let rss_connected = rss_mib(args.server_pid)?;
    drop(sockets);
    // 3. Each client on its own document.
    let t = Instant::now();
    let limit = Arc::new(tokio::sync::Semaphore::new(64));
    let mut tasks = Vec::new();
    for c in 0..args.clients {
        let (url, ids, limit) = (args.url.clone(), ids.clone(), limit.clone());
        tasks.push(tokio::spawn(async move {
            let permit = limit.acquire_owned().await?;
            let mut peer = Peer::connect(&url, &format!("bench-client-{c}"), Automerge::new(), &ids[c % ids.len()]).await?;
            peer.fetch(None, Duration::from_secs(120)).await?;
            drop(permit);
            anyhow::Ok(peer)
        }));
    }
    let mut peers = Vec::new();
    for task in tasks {
        peers.push(task.await??);
    }
    let open_secs = t.elapsed().as_secs_f64();
    let rss_loaded = rss_mib(args.server_pid)?;
    eprintln!("[many {}] {} clients on their documents in {open_secs:.1} s; closing them …", args.label, args.clients);
    drop(peers);
    // 4. All closed: idle documents unloaded.
    let rss_unloaded = settle(args.server_pid, idle + Duration::from_secs(2), idle + Duration::from_secs(30)).await?;
    let n = args.clients as f64;
    println!(
        "{}",
        serde_json::json!({
            "scenario": "many",
            "label": args.label,
            "docs": args.docs,
            "clients": args.clients,
            "create_secs": create_secs,
            "rss_start_mib": rss_start,
            "rss_stored_mib": rss_stored,
            "rss_connected_mib": rss_connected,
            "rss_loaded_mib": rss_loaded,
            "rss_unloaded_mib": rss_unloaded,
            // Both measured with the sockets open (step 2, then step 3).
            "kib_per_connection": (rss_connected - rss_stored) * 1024.0 / n,
            "kib_per_loaded_doc_and_connection": (rss_loaded - rss_stored) * 1024.0 / n,
            "open_secs": open_secs,
        })
    );
    Ok(())
}

/// Sends the first `changes` changes of a trace as one document; prints its id.
pub async fn push(url: &str, preload: &std::path::Path, changes: usize) -> anyhow::Result<()> {
    let (doc, _) = trace::replay(preload, Some(changes))?;
    let id = random_doc_id().to_string();
    let mut peer = Peer::connect(url, "bench-push", doc, &id).await?;
    peer.push(Duration::from_secs(900)).await?;
    println!("{id}");
    Ok(())
}

/// Fetches a document (the server just started: a cold load) and times it.
pub async fn fetch(url: &str, id: &str, label: &str, server_pid: Option<u32>) -> anyhow::Result<()> {
    let t = Instant::now();
    let mut peer = Peer::connect(url, "bench-fetch", Automerge::new(), id).await?;
    peer.fetch(None, Duration::from_secs(900)).await?;
    let secs = t.elapsed().as_secs_f64();
    let changes = peer.doc.get_changes(&[]).len();
    let rss = server_pid.map(rss_mib).transpose()?;
    println!(
        "{}",
        serde_json::json!({"scenario": "cold", "label": label, "doc": id, "changes": changes, "secs": secs, "server_rss_mib": rss})
    );
    Ok(())
}

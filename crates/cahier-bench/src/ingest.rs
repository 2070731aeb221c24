//! The editing-trace scenario: a real trace's keystrokes, one change each,
//! sent into the server as fast as it takes them, then the last ones at typing
//! speed; the server's document must end with the trace's final text.

use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use automerge::{Automerge, ChangeHash, ReadDoc};

use crate::peer::{Peer, Thin};
use crate::{ProcStats, percentile, random_doc_id, trace};

pub struct Args {
    pub url: String,
    pub trace: std::path::PathBuf,
    /// Changes per sync message while ingesting.
    pub batch: usize,
    /// Keystrokes kept for the typing-speed phase.
    pub typing: usize,
    pub rate: f64,
    pub server_pid: Option<u32>,
    pub label: String,
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    let name = args.trace.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    eprintln!("[ingest {}] replaying {name} locally …", args.label);
    let (doc, text) = trace::replay(&args.trace, None)?;
    let end = doc.text(&text)?;
    let changes: Vec<(Vec<u8>, ChangeHash)> = doc.get_changes(&[]).iter().map(|c| (c.raw_bytes().to_vec(), c.hash())).collect();
    let floor = doc.save().len();
    let keystrokes = changes.len() - 1; // the first change only creates the text
    let typing = args.typing.min(keystrokes);
    let split = changes.len() - typing;
    let id = random_doc_id().to_string();
    let mut thin = Thin::connect(&args.url, "bench-ingest", &id, Vec::new()).await?;

    let server = args.server_pid.map(ProcStats::read).transpose()?;
    let start = Instant::now();
    let mut sent = 0;
    for batch in changes[..split].chunks(args.batch.max(1)) {
        let bytes = batch.iter().map(|(b, _)| b.clone()).collect();
        let hashes: Vec<ChangeHash> = batch.iter().map(|(_, h)| *h).collect();
        thin.send(bytes, &hashes).await?;
        thin.wait_acked(hashes.last().context("empty batch")?, Duration::from_secs(300)).await?;
        sent += batch.len();
        eprint!("\r[ingest {}] {sent}/{} changes taken   ", args.label, changes.len());
    }
    eprintln!();
    let ingest_secs = start.elapsed().as_secs_f64();
    let server_after = args.server_pid.map(ProcStats::read).transpose()?;
    let server_cpu_secs = match (server, server_after) {
        (Some(a), Some(b)) => Some((b.cpu_ticks - a.cpu_ticks) as f64 / 100.0),
        _ => None,
    };

    // The last keystrokes at typing speed: each one's time to be acknowledged.
    let mut latencies = Vec::new();
    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / args.rate));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    for (bytes, hash) in &changes[split..] {
        tick.tick().await;
        let t0 = Instant::now();
        thin.send(vec![bytes.clone()], &[*hash]).await?;
        thin.wait_acked(hash, Duration::from_secs(60)).await?;
        latencies.push(t0.elapsed().as_secs_f64() * 1000.0);
        eprint!("\r[ingest {}] typing {}/{typing}   ", args.label, latencies.len());
    }
    eprintln!();
    latencies.sort_by(f64::total_cmp);

    // What the server holds must be the trace's final text.
    let mut check = Peer::connect(&args.url, "bench-ingest-check", Automerge::new(), &id).await?;
    check.fetch(Some(&doc.get_heads()), Duration::from_secs(600)).await?;
    let (_, server_text) = check.doc.get(automerge::ROOT, "text")?.context("the server's document has no text")?;
    if check.doc.text(&server_text)? != end {
        bail!("the server's document does not end with the trace's final text");
    }
    let ingested = split - 1;
    println!(
        "{}",
        serde_json::json!({
            "scenario": "ingest",
            "label": args.label,
            "trace": name,
            "doc": id,
            "keystrokes": keystrokes,
            "batch": args.batch,
            "ingest_secs": ingest_secs,
            "keystrokes_per_s": ingested as f64 / ingest_secs,
            "server_cpu_secs": server_cpu_secs,
            "keystrokes_per_cpu_s": server_cpu_secs.map(|c| ingested as f64 / c),
            "typing": typing,
            "typing_rate": args.rate,
            "typing_p50_ms": percentile(&latencies, 0.5),
            "typing_p99_ms": percentile(&latencies, 0.99),
            "final_text_ok": true,
            "save_bytes": floor,
        })
    );
    Ok(())
}

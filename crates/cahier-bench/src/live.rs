//! The live-meeting scenario: N editors typing into one document at once, each
//! at a steady rate; the latency each edit takes to reach the others.
//!
//! Editors are [`Thin`] typists (real changes, real sync messages, no local
//! merge). The first `measure` of them time every change they receive from the
//! others against the moment it was committed (one clock: one process).
//! Given several URLs (nodes sharing one store), editor `i` connects to the
//! `i`-th in turn, so the measuring editors are spread over the nodes too.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use automerge::transaction::Transactable;
use automerge::{ActorId, Automerge, ChangeHash, ROOT, ReadDoc};
use futures_util::StreamExt;

use crate::peer::{Peer, Thin};
use crate::trace::{self, Patch};
use crate::{ProcStats, percentile, random_doc_id};

pub struct Args {
    /// One or more nodes' sync URLs, taken in turn by the editors.
    pub urls: Vec<String>,
    pub levels: Vec<usize>,
    pub seconds: u64,
    pub rate: f64,
    pub measure: usize,
    pub preload: Option<std::path::PathBuf>,
    pub traces: Vec<std::path::PathBuf>,
    /// The servers' process ids (their CPU and memory are summed).
    pub server_pids: Vec<u32>,
    pub label: String,
    /// Stop raising the level once p99 passes this (ms).
    pub give_up_ms: f64,
}

/// What all editors of one level share.
struct Shared {
    /// Commit time of every change sent.
    sent: Mutex<HashMap<ChangeHash, Instant>>,
    total_sent: AtomicUsize,
    typing_done: AtomicUsize,
    /// Set when an edit took so long that the server is clearly saturated.
    stop: AtomicBool,
}

struct Editor {
    index: usize,
    url: String,
    doc_id: String,
    known_heads: Vec<ChangeHash>,
    base: Vec<u8>,
    patches: Option<Arc<Vec<Patch>>>,
    measure: bool,
}

#[derive(Default)]
struct EditorReport {
    latencies: Vec<f64>,
    undelivered: usize,
    last_hash: Option<ChangeHash>,
}

struct Timing {
    start: Instant,
    period: Duration,
    seconds: u64,
    editors: usize,
    drain: Duration,
}

async fn editor(
    e: Editor,
    shared: Arc<Shared>,
    connect_limit: Arc<tokio::sync::Semaphore>,
    ready: Arc<tokio::sync::Barrier>,
    mut timing: tokio::sync::watch::Receiver<Option<Arc<Timing>>>,
    mut finish: tokio::sync::watch::Receiver<bool>,
) -> anyhow::Result<EditorReport> {
    let name = format!("bench-editor-{}", e.index);
    let permit = connect_limit.acquire_owned().await;
    let connected = Thin::connect(&e.url, &name, &e.doc_id, e.known_heads.clone()).await;
    drop(permit);
    // Everyone waits for everyone, connected or not, so the barrier always opens.
    ready.wait().await;
    let timing = timing.wait_for(Option::is_some).await?.clone().context("no timing")?;
    let mut typing = Typing { shared: &shared, typing: true };
    let mut thin = connected?;
    thin.bloom = false;
    let mut doc = Automerge::load(&e.base)?;
    let mut actor = [0u8; 16];
    let _ = getrandom::fill(&mut actor);
    doc.set_actor(ActorId::from(actor));
    let (_, text) = doc.get(ROOT, "text")?.context("the base document has no text")?;

    let offset = timing.period.mul_f64(e.index as f64 / timing.editors as f64);
    let mut tick = tokio::time::interval_at((timing.start + offset).into(), timing.period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let end_typing = timing.start + Duration::from_secs(timing.seconds);
    let deadline = end_typing + timing.drain;
    let mut own = 0usize;
    let mut k = 0usize;
    let mut seen: HashSet<ChangeHash> = HashSet::new();
    let mut report = EditorReport::default();
    loop {
        if !typing.typing && e.measure && shared.typing_done.load(Ordering::SeqCst) == timing.editors {
            let expected = shared.total_sent.load(Ordering::SeqCst) - own;
            if seen.len() >= expected {
                break;
            }
        }
        tokio::select! {
            _ = tick.tick(), if typing.typing => {
                if Instant::now() >= end_typing || shared.stop.load(Ordering::SeqCst) {
                    typing.stop();
                    continue;
                }
                let len = doc.length(&text);
                let (pos, del, ins) = match &e.patches {
                    Some(ps) => {
                        let p = &ps[k % ps.len()];
                        let pos = p.pos.min(len);
                        (pos, p.del.min((len - pos) as isize), p.ins.as_str())
                    }
                    None => (len, 0, if k % 6 == 5 { " " } else { "x" }),
                };
                k += 1;
                let mut tx = doc.transaction();
                tx.splice_text(&text, pos, del, ins)?;
                tx.commit();
                let change = doc.get_last_local_change().context("no change")?;
                let hash = change.hash();
                let bytes = change.raw_bytes().to_vec();
                shared.sent.lock().map_err(|_| anyhow::anyhow!("poisoned"))?.insert(hash, Instant::now());
                shared.total_sent.fetch_add(1, Ordering::SeqCst);
                own += 1;
                report.last_hash = Some(hash);
                thin.send(vec![bytes], &[hash]).await?;
            }
            frame = thin.ws.next() => {
                let frame = frame.context("the server closed the connection")??;
                if let Some(m) = thin.on_frame(frame)? {
                    if e.measure && !m.changes.is_empty() {
                        let now = Instant::now();
                        let sent = shared.sent.lock().map_err(|_| anyhow::anyhow!("poisoned"))?;
                        for chunk in m.changes.iter() {
                            let Ok(c) = automerge::Change::from_bytes(chunk.to_vec()) else { continue };
                            let h = c.hash();
                            if let Some(t) = sent.get(&h)
                                && seen.insert(h)
                            {
                                let ms = now.duration_since(*t).as_secs_f64() * 1000.0;
                                if ms > 5000.0 {
                                    shared.stop.store(true, Ordering::SeqCst);
                                }
                                report.latencies.push(ms);
                            }
                        }
                    }
                    if !m.changes.is_empty() {
                        // Acknowledge, as a client answers a sync message with its new heads.
                        thin.send(Vec::new(), &[]).await?;
                    }
                }
            }
            _ = finish.changed(), if !e.measure => break,
            _ = tokio::time::sleep_until(deadline.into()) => break,
        }
    }
    typing.stop();
    if e.measure {
        let expected = shared.total_sent.load(Ordering::SeqCst) - own;
        report.undelivered = expected.saturating_sub(seen.len());
    }
    Ok(report)
}

/// Counts an editor as done typing exactly once, also when it fails.
struct Typing<'a> {
    shared: &'a Shared,
    typing: bool,
}

impl Typing<'_> {
    fn stop(&mut self) {
        if std::mem::take(&mut self.typing) {
            self.shared.typing_done.fetch_add(1, Ordering::SeqCst);
        }
    }
}

impl Drop for Typing<'_> {
    fn drop(&mut self) {
        self.stop();
    }
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    let (doc, _) = match &args.preload {
        Some(p) => trace::replay(p, None)?,
        None => trace::base_doc()?,
    };
    let changes = doc.get_changes(&[]);
    let history = changes.len();
    let base = changes.first().context("empty base document")?.raw_bytes().to_vec();
    let heads = doc.get_heads();
    let mut patches = Vec::new();
    for t in &args.traces {
        patches.push(Arc::new(trace::agent_patches(t, 0)?));
    }
    let mut doc_id: Option<String> = None;
    for &n in &args.levels {
        // A document holding a long history is pushed once and shared by the
        // levels; a fresh document is made for each level.
        if doc_id.is_none() || args.preload.is_none() {
            let id = random_doc_id().to_string();
            let mut seed = Peer::connect(&args.urls[0], "bench-seed", doc.clone(), &id).await?;
            eprintln!("[live {}] sending the {history}-change document …", args.label);
            seed.push(Duration::from_secs(900)).await?;
            doc_id = Some(id);
        }
        let id = doc_id.clone().context("no document")?;
        let result = level(&args, n, &id, &heads, &base, &patches, history).await?;
        println!("{result}");
        let p99 = result["p99_ms"].as_f64().unwrap_or(f64::INFINITY);
        if result["saturated"].as_bool() == Some(true) || p99 > args.give_up_ms {
            eprintln!("[live {}] p99 {p99:.0} ms at {n} editors: not raising the level further", args.label);
            break;
        }
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
async fn level(
    args: &Args,
    n: usize,
    doc_id: &str,
    heads: &[ChangeHash],
    base: &[u8],
    patches: &[Arc<Vec<Patch>>],
    history: usize,
) -> anyhow::Result<serde_json::Value> {
    let measure = args.measure.clamp(1, n.max(1));
    let shared = Arc::new(Shared {
        sent: Mutex::new(HashMap::new()),
        total_sent: AtomicUsize::new(0),
        typing_done: AtomicUsize::new(0),
        stop: AtomicBool::new(false),
    });
    let ready = Arc::new(tokio::sync::Barrier::new(n + 1));
    let connect_limit = Arc::new(tokio::sync::Semaphore::new(32));
    let (timing_tx, timing_rx) = tokio::sync::watch::channel(None);
    let (finish_tx, finish_rx) = tokio::sync::watch::channel(false);
    let mut tasks = Vec::new();
    for i in 0..n {
        let e = Editor {
            index: i,
            url: args.urls[i % args.urls.len()].clone(),
            doc_id: doc_id.to_owned(),
            known_heads: heads.to_vec(),
            base: base.to_vec(),
            // The real traces type as the last editors.
            patches: (i + patches.len()).checked_sub(n).and_then(|j| patches.get(j).cloned()),
            measure: i < measure,
        };
        tasks.push(tokio::spawn(editor(e, shared.clone(), connect_limit.clone(), ready.clone(), timing_rx.clone(), finish_rx.clone())));
    }
    ready.wait().await;
    let timing = Arc::new(Timing {
        start: Instant::now() + Duration::from_secs(1),
        period: Duration::from_secs_f64(1.0 / args.rate),
        seconds: args.seconds,
        editors: n,
        drain: Duration::from_secs(20),
    });
    timing_tx.send(Some(timing.clone())).ok();
    let server = ProcStats::sum(&args.server_pids)?;
    let client = ProcStats::read(std::process::id())?;

    // Progress, and the server's peak memory, once a second until the measuring editors are done.
    let mut measuring: Vec<_> = tasks.drain(..measure).collect();
    let mut rss_peak = 0u64;
    let mut reports = Vec::new();
    let mut ticker = tokio::time::interval(Duration::from_secs(1));
    let mut next = measuring.remove(0);
    loop {
        tokio::select! {
            r = &mut next => {
                reports.push(r);
                if measuring.is_empty() { break }
                next = measuring.remove(0);
            }
            _ = ticker.tick() => {
                rss_peak = rss_peak.max(ProcStats::sum(&args.server_pids).ok().flatten().map_or(0, |s| s.rss_kib));
                let t = timing.start.elapsed().as_secs().min(args.seconds);
                eprint!("\r[live {}] {n} editors: {t}/{} s, {} keystrokes sent   ", args.label, args.seconds, shared.total_sent.load(Ordering::SeqCst));
            }
        }
    }
    eprintln!();
    let typing_secs = (Instant::now().min(timing.start + Duration::from_secs(args.seconds)) - timing.start).as_secs_f64();
    let server_after = ProcStats::sum(&args.server_pids)?;
    let client_after = ProcStats::read(std::process::id())?;
    finish_tx.send(true).ok();
    let mut last_hashes = Vec::new();
    let mut errors = Vec::new();
    for t in tasks {
        match t.await {
            Ok(Ok(r)) => last_hashes.extend(r.last_hash),
            Ok(Err(e)) => errors.push(format!("{e:#}")),
            Err(e) => errors.push(e.to_string()),
        }
    }
    let mut latencies = Vec::new();
    let mut undelivered = 0;
    for r in reports {
        match r {
            Ok(Ok(r)) => {
                latencies.extend(r.latencies);
                undelivered += r.undelivered;
                last_hashes.extend(r.last_hash);
            }
            Ok(Err(e)) => errors.push(format!("{e:#}")),
            Err(e) => errors.push(e.to_string()),
        }
    }
    latencies.sort_by(f64::total_cmp);
    // The server must hold every editor's last change (and so all before it).
    let stored = if history < 1000 {
        let mut check = Peer::connect(&args.urls[args.urls.len() - 1], "bench-check", Automerge::new(), doc_id).await?;
        Some(check.fetch(Some(&last_hashes), Duration::from_secs(120)).await.is_ok())
    } else {
        None
    };
    let cpu = |a: Option<ProcStats>, b: Option<ProcStats>| match (a, b) {
        (Some(a), Some(b)) => Some((b.cpu_ticks - a.cpu_ticks) as f64 / 100.0 / typing_secs * 100.0),
        _ => None,
    };
    let sent = shared.total_sent.load(Ordering::SeqCst);
    Ok(serde_json::json!({
        "scenario": "live",
        "label": args.label,
        "doc": doc_id,
        "history": history,
        "editors": n,
        "nodes": args.urls.len(),
        "seconds": args.seconds,
        "rate": args.rate,
        "keystrokes": sent,
        "measured_by": measure,
        "samples": latencies.len(),
        "p50_ms": percentile(&latencies, 0.5),
        "p95_ms": percentile(&latencies, 0.95),
        "p99_ms": if undelivered > 0 { f64::INFINITY } else { percentile(&latencies, 0.99) },
        "max_ms": latencies.last().copied().unwrap_or(0.0),
        "undelivered": undelivered,
        "saturated": shared.stop.load(Ordering::SeqCst) || undelivered > 0,
        "server_cpu_pct": cpu(server, server_after),
        "server_rss_peak_mib": rss_peak / 1024,
        "client_cpu_pct": cpu(Some(client), Some(client_after)),
        "stored": stored,
        "errors": errors.len(),
        "first_error": errors.first(),
    }))
}

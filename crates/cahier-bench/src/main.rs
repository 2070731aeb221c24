//! `cahier-bench`: measures a running automerge-repo sync server (Cahier or any
//! other) over real WebSockets, as a real client does.
//!
//! `relay`: one editor, one observer, N sequential one-character edits; the time
//! from the editor's commit to the observer holding the change. Optionally on a
//! document that already holds a real editing trace's whole history, or with
//! the observer on another server (`--observer-url`: another node sharing the
//! editor's store).

use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use automerge::ReadDoc;
use automerge::sync::{self, SyncDoc};
use automerge::transaction::Transactable;
use cahier_doc::DocId;
use clap::Parser;
use futures_util::StreamExt;

mod ingest;
mod live;
mod many;
mod peer;
mod trace;

use peer::Peer;

#[derive(Parser)]
struct Cli {
    #[command(subcommand)]
    scenario: Scenario,
}

#[derive(clap::Subcommand)]
enum Scenario {
    /// Edit-to-observer latency for sequential edits.
    Relay {
        /// The server's sync URL, e.g. ws://127.0.0.1:8080/sync
        #[arg(long)]
        url: String,
        /// Where the observer connects (another node of the same store); by
        /// default where the editor does.
        #[arg(long)]
        observer_url: Option<String>,
        #[arg(long, default_value_t = 1000)]
        edits: usize,
        /// A .json.gz editing trace whose whole history the document holds first.
        #[arg(long)]
        preload: Option<std::path::PathBuf>,
        /// A label for the report.
        #[arg(long, default_value = "server")]
        label: String,
    },
    /// Search latency on a wiki of many pages, with the server's index.
    Search {
        #[arg(long, default_value_t = 10_000)]
        pages: usize,
        /// Where to take words from (the project's sample wiki).
        #[arg(long, default_value = "sample")]
        sample: std::path::PathBuf,
    },
    /// Many editors typing into one document at once: latency seen by the others.
    Live {
        /// The server's sync URL; given more than once (nodes sharing one
        /// store), the editors take them in turn.
        #[arg(long, required = true)]
        url: Vec<String>,
        /// Numbers of editors, one run each, in order (stops once saturated).
        #[arg(long, value_delimiter = ',', default_value = "10,50,100,200,300,400")]
        editors: Vec<usize>,
        #[arg(long, default_value_t = 60)]
        seconds: u64,
        /// Keystrokes per second per editor.
        #[arg(long, default_value_t = 5.0)]
        rate: f64,
        /// How many editors time what they receive.
        #[arg(long, default_value_t = 8)]
        measure: usize,
        /// A sequential .json.gz trace whose whole history the document holds first.
        #[arg(long)]
        preload: Option<std::path::PathBuf>,
        /// Concurrent .json.gz traces replayed by the last editors (one each).
        #[arg(long)]
        trace: Vec<std::path::PathBuf>,
        /// The server's process id, for its CPU time and memory; given more
        /// than once, their sums.
        #[arg(long)]
        server_pid: Vec<u32>,
        #[arg(long, default_value = "server")]
        label: String,
        /// Stop raising the number of editors once p99 passes this many ms.
        #[arg(long, default_value_t = 1000.0)]
        give_up_ms: f64,
    },
    /// A real trace's keystrokes into the server as fast as it takes them, then at typing speed.
    Ingest {
        #[arg(long)]
        url: String,
        #[arg(long)]
        trace: std::path::PathBuf,
        #[arg(long, default_value_t = 1000)]
        batch: usize,
        #[arg(long, default_value_t = 300)]
        typing: usize,
        #[arg(long, default_value_t = 10.0)]
        rate: f64,
        #[arg(long)]
        server_pid: Option<u32>,
        #[arg(long, default_value = "server")]
        label: String,
    },
    /// Many small documents, many clients each on its own: the server's memory.
    Many {
        #[arg(long)]
        url: String,
        #[arg(long, default_value_t = 10_000)]
        docs: usize,
        #[arg(long, default_value_t = 1000)]
        clients: usize,
        #[arg(long)]
        server_pid: u32,
        /// The server's idle-unload delay, in seconds.
        #[arg(long, default_value_t = 60)]
        idle_unload_secs: u64,
        #[arg(long, default_value = "server")]
        label: String,
    },
    /// Sends the first N changes of a trace as a new document; prints its id.
    Push {
        #[arg(long)]
        url: String,
        #[arg(long)]
        preload: std::path::PathBuf,
        #[arg(long, default_value_t = 100_000)]
        changes: usize,
    },
    /// Fetches a document and times it (after a restart: a cold load).
    Fetch {
        #[arg(long)]
        url: String,
        #[arg(long)]
        doc: String,
        #[arg(long)]
        server_pid: Option<u32>,
        #[arg(long, default_value = "server")]
        label: String,
    },
    /// Bytes a document takes in a Cahier store (the server stopped).
    Stored {
        #[arg(long)]
        data: std::path::PathBuf,
        #[arg(long)]
        doc: String,
    },
    /// Times the server-side Automerge operations of one keystroke on a document
    /// holding a trace's history (no network): where relay latency goes.
    Ops {
        #[arg(long)]
        preload: std::path::PathBuf,
    },
}

fn random_doc_id() -> DocId {
    let mut b = [0u8; 16];
    let _ = getrandom::fill(&mut b);
    DocId::from_random(b)
}

/// The value below which a share `p` of the sorted samples lie.
fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

/// A process's CPU time and resident memory, from `/proc`.
#[derive(Clone, Copy)]
struct ProcStats {
    /// User plus system time, in clock ticks (100 per second on Linux).
    cpu_ticks: u64,
    rss_kib: u64,
}

impl ProcStats {
    /// The sum over `pids`; `None` for none.
    fn sum(pids: &[u32]) -> anyhow::Result<Option<ProcStats>> {
        let mut total: Option<ProcStats> = None;
        for &pid in pids {
            let s = ProcStats::read(pid)?;
            let t = total.get_or_insert(ProcStats { cpu_ticks: 0, rss_kib: 0 });
            t.cpu_ticks += s.cpu_ticks;
            t.rss_kib += s.rss_kib;
        }
        Ok(total)
    }

    fn read(pid: u32) -> anyhow::Result<ProcStats> {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).with_context(|| format!("process {pid}"))?;
        // Fields after the command name, which is in parentheses and may hold spaces.
        let rest = stat.rsplit_once(')').context("stat")?.1;
        let f: Vec<&str> = rest.split_whitespace().collect();
        let cpu_ticks = f.get(11).context("utime")?.parse::<u64>()? + f.get(12).context("stime")?.parse::<u64>()?;
        let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
        let rss_kib = status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        Ok(ProcStats { cpu_ticks, rss_kib })
    }
}

async fn relay(url: &str, observer_url: Option<&str>, edits: usize, preload: Option<&std::path::Path>, label: &str) -> anyhow::Result<()> {
    let (doc, text) = match preload {
        Some(p) => trace::replay(p, None)?,
        None => trace::base_doc()?,
    };
    let history = doc.get_changes_meta(&[]).len();
    let id = random_doc_id().to_string();
    let mut editor = Peer::connect(url, "bench-editor", doc, &id).await?;
    let mut observer = Peer::connect(observer_url.unwrap_or(url), "bench-observer", cahier_doc::empty(), &id).await?;
    // The editor pushes the document; the observer fetches it.
    // The editor's document is stored first; then the observer fetches it.
    editor.push(Duration::from_secs(300)).await?;
    let target = editor.doc.get_heads();
    observer.fetch(Some(&target), Duration::from_secs(300)).await?;
    let mut latencies = Vec::with_capacity(edits);
    for i in 0..edits {
        let len = editor.doc.length(&text);
        let mut tx = editor.doc.transaction();
        tx.splice_text(&text, len, 0, if i % 10 == 9 { " " } else { "x" })?;
        tx.commit();
        let head = editor.doc.get_heads();
        let t0 = Instant::now();
        editor.send_sync().await?;
        while !observer.doc.get_missing_deps(&head).is_empty() {
            if t0.elapsed() > Duration::from_secs(60) {
                bail!("edit {i} did not reach the observer within 60 s");
            }
            tokio::select! {
                f = editor.ws.next() => editor.on_frame(f.context("editor closed")??).await?,
                f = observer.ws.next() => observer.on_frame(f.context("observer closed")??).await?,
            }
        }
        latencies.push(t0.elapsed().as_secs_f64() * 1000.0);
    }
    latencies.sort_by(f64::total_cmp);
    let report = serde_json::json!({
        "scenario": "relay",
        "label": label,
        "edits": edits,
        "history": history,
        "observer_elsewhere": observer_url.is_some_and(|o| o != url),
        "p50_ms": percentile(&latencies, 0.5),
        "p95_ms": percentile(&latencies, 0.95),
        "p99_ms": percentile(&latencies, 0.99),
        "max_ms": latencies.last().copied().unwrap_or(0.0),
    });
    println!("{report}");
    Ok(())
}

fn stored(data: &std::path::Path, doc: &str) -> anyhow::Result<()> {
    let store = cahier_store::Store::open_sled(data)?;
    let chunks = store.backend().load(&DocId::parse(doc)?)?.context("no such document")?;
    let bytes: usize = chunks.iter().map(|c| c.bytes.len()).sum();
    println!("{}", serde_json::json!({"scenario": "stored", "doc": doc, "chunks": chunks.len(), "bytes": bytes}));
    Ok(())
}

fn ops(preload: &std::path::Path) -> anyhow::Result<()> {
    let (client, text) = trace::replay(preload, None)?;
    let mut server = cahier_doc::load(&client.save())?;
    let mut client = client;
    let (mut cs, mut ss, mut ss2) = (sync::State::new(), sync::State::new(), sync::State::new());
    // Establish sync states.
    for _ in 0..10 {
        if let Some(m) = client.generate_sync_message(&mut cs) {
            server.receive_sync_message(&mut ss, m)?;
        }
        if let Some(m) = server.generate_sync_message(&mut ss) {
            client.receive_sync_message(&mut cs, m)?;
        }
    }
    let time = |label: &str, f: &mut dyn FnMut()| {
        let t = Instant::now();
        f();
        println!("{label:>40}: {:8.3} ms", t.elapsed().as_secs_f64() * 1000.0);
    };
    for round in 0..3 {
        println!("-- keystroke {round}");
        let len = client.length(&text);
        let mut tx = client.transaction();
        tx.splice_text(&text, len, 0, "x")?;
        tx.commit();
        let saved = server.get_heads();
        let msg = client.generate_sync_message(&mut cs).context("message")?;
        let bytes: Vec<u8> = msg.changes.iter().flatten().copied().collect();
        time("load_incremental(1 change)", &mut || {
            server.load_incremental(&bytes).ok();
        });
        let mut dup = msg.clone();
        time("receive_sync_message (dup changes)", &mut || {
            server.receive_sync_message(&mut ss, dup.clone()).ok();
        });
        dup.changes = sync::ChunkList::empty();
        time("receive_sync_message (no changes)", &mut || {
            server.receive_sync_message(&mut ss, dup.clone()).ok();
        });
        time("generate_sync_message (sender)", &mut || {
            server.generate_sync_message(&mut ss);
        });
        time("generate_sync_message (first sync of a peer)", &mut || {
            server.generate_sync_message(&mut ss2);
        });
        time("save_after(saved heads)", &mut || {
            server.save_after(&saved);
        });
        time("summary", &mut || {
            cahier_doc::read::summary(&server);
        });
        if let Some(m) = server.generate_sync_message(&mut ss) {
            client.receive_sync_message(&mut cs, m)?;
        }
    }
    // A busy meeting: one keystroke from each of `k` editors, concurrent
    // (each on the same heads), applied in one batch as the server applies
    // what arrives together.
    println!("-- one batch of concurrent keystrokes");
    for k in [1usize, 10, 50, 100] {
        let mut batch = Vec::new();
        for i in 0..k {
            // A copy at the server's heads, with an actor of its own.
            let mut editor = server.fork();
            let len = editor.length(&text);
            let mut tx = editor.transaction();
            tx.splice_text(&text, len.saturating_sub(i % 7), 0, "y")?;
            tx.commit();
            batch.extend_from_slice(editor.get_last_local_change().context("no change")?.raw_bytes());
        }
        time(&format!("load_incremental({k} changes)"), &mut || {
            server.load_incremental(&batch).ok();
        });
    }
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    match Cli::parse().scenario {
        Scenario::Relay { url, observer_url, edits, preload, label } => {
            relay(&url, observer_url.as_deref(), edits, preload.as_deref(), &label).await
        }
        Scenario::Ops { preload } => ops(&preload),
        Scenario::Ingest { url, trace, batch, typing, rate, server_pid, label } => {
            ingest::run(ingest::Args { url, trace, batch, typing, rate, server_pid, label }).await
        }
        Scenario::Many { url, docs, clients, server_pid, idle_unload_secs, label } => {
            many::run(many::Args { url, docs, clients, server_pid, idle_unload_secs, label }).await
        }
        Scenario::Stored { data, doc } => stored(&data, &doc),
        Scenario::Push { url, preload, changes } => many::push(&url, &preload, changes).await,
        Scenario::Fetch { url, doc, server_pid, label } => many::fetch(&url, &doc, &label, server_pid).await,
        Scenario::Live { url, editors, seconds, rate, measure, preload, trace, server_pid, label, give_up_ms } => {
            live::run(live::Args {
                urls: url,
                levels: editors,
                seconds,
                rate,
                measure,
                preload,
                traces: trace,
                server_pids: server_pid,
                label,
                give_up_ms,
            })
            .await
        }
        Scenario::Search { pages, sample } => search_bench(pages, &sample),
    }
}

/// Search latency on a wiki of `pages` pages, with the index the server uses
/// (tantivy in memory, French stemming). Pages are made of the words of the
/// project's sample wiki, shuffled.
fn search_bench(pages: usize, sample: &std::path::Path) -> anyhow::Result<()> {
    let mut words: Vec<String> = Vec::new();
    for entry in std::fs::read_dir(sample)? {
        let path = entry?.path();
        if path.is_dir() {
            for f in std::fs::read_dir(&path)? {
                let text = std::fs::read_to_string(f?.path())?;
                words.extend(
                    text.split_whitespace().filter(|w| w.chars().all(char::is_alphabetic) && w.chars().count() > 3).map(str::to_lowercase),
                );
            }
        }
    }
    words.sort();
    words.dedup();
    if words.len() < 50 {
        bail!("{}: not enough words to build pages from", sample.display());
    }
    let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = move |n: usize| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed % n as u64) as usize
    };
    let docs: Vec<(String, String, String)> = (0..pages)
        .map(|i| {
            let title: Vec<&str> = (0..3).map(|_| words[next(words.len())].as_str()).collect();
            let body: Vec<&str> = (0..300).map(|_| words[next(words.len())].as_str()).collect();
            (format!("page-{i}"), title.join(" "), body.join(" "))
        })
        .collect();
    let mut index = cahier_wiki::search::SearchIndex::new()?;
    let start = Instant::now();
    for chunk in docs.chunks(1000) {
        let refs: Vec<(&str, &str, &str)> = chunk.iter().map(|(a, b, c)| (a.as_str(), b.as_str(), c.as_str())).collect();
        index.put(&refs)?;
    }
    let indexing = start.elapsed();
    let mut times = Vec::new();
    for i in 0..300 {
        let q = if i % 2 == 0 {
            words[next(words.len())].clone()
        } else {
            format!("{} {}", words[next(words.len())], words[next(words.len())])
        };
        let t = Instant::now();
        let hits = index.search(&q, 20)?;
        times.push(t.elapsed().as_secs_f64() * 1000.0);
        std::hint::black_box(hits);
    }
    times.sort_by(f64::total_cmp);
    let pct = |p: f64| times[((times.len() as f64 - 1.0) * p).round() as usize];
    println!(
        "{}",
        serde_json::json!({
            "scenario": "search", "pages": pages, "indexing_s": indexing.as_secs_f64(),
            "queries": times.len(), "p50_ms": pct(0.5), "p99_ms": pct(0.99), "max_ms": times[times.len() - 1],
        })
    );
    Ok(())
}

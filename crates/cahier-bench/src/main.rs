//! `cahier-bench`: measures a running automerge-repo sync server (Cahier or any
//! other) over real WebSockets, as a real client does.
//!
//! `relay`: one editor, one observer, N sequential one-character edits; the time
//! from the editor's commit to the observer holding the change. Optionally on a
//! document that already holds a real editing trace's whole history.

use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use automerge::sync::{self, SyncDoc};
use automerge::transaction::Transactable;
use automerge::{Automerge, ObjType, ROOT, ReadDoc};
use cahier_doc::DocId;
use cahier_sync::wire::Message;
use clap::Parser;
use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message as Frame;

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
    /// Times the server-side Automerge operations of one keystroke on a document
    /// holding a trace's history (no network): where relay latency goes.
    Ops {
        #[arg(long)]
        preload: std::path::PathBuf,
    },
}

type Ws = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

struct Peer {
    name: String,
    ws: Ws,
    doc: Automerge,
    state: sync::State,
    doc_id: String,
    server: String,
}

impl Peer {
    async fn connect(url: &str, name: &str, doc: Automerge, doc_id: &str) -> anyhow::Result<Peer> {
        let (mut ws, _) = tokio_tungstenite::connect_async_with_config(url, None, true).await.with_context(|| format!("connect {url}"))?;
        let join = Message::Join { sender_id: name.into(), supported_versions: Some(vec!["1".into()]), metadata: None };
        ws.send(Frame::Binary(join.encode().into())).await?;
        let server = loop {
            match ws.next().await {
                Some(Ok(Frame::Binary(b))) => match Message::decode(&b)? {
                    Message::Peer { sender_id, .. } => break sender_id,
                    other => bail!("expected peer, got {other:?}"),
                },
                Some(Ok(_)) => continue,
                other => bail!("connection ended during the handshake: {other:?}"),
            }
        };
        Ok(Peer { name: name.into(), ws, doc, state: sync::State::new(), doc_id: doc_id.into(), server })
    }

    async fn send_sync(&mut self) -> anyhow::Result<bool> {
        let Some(m) = self.doc.generate_sync_message(&mut self.state) else { return Ok(false) };
        let msg = if self.doc.get_heads().is_empty() {
            Message::Request { sender_id: self.name.clone(), target_id: self.server.clone(), document_id: self.doc_id.clone(), data: m.encode() }
        } else {
            Message::Sync { sender_id: self.name.clone(), target_id: self.server.clone(), document_id: self.doc_id.clone(), data: m.encode() }
        };
        self.ws.send(Frame::Binary(msg.encode().into())).await?;
        Ok(true)
    }

    /// Applies one incoming frame and answers it.
    async fn on_frame(&mut self, frame: Frame) -> anyhow::Result<()> {
        if let Frame::Binary(b) = frame {
            match Message::decode(&b)? {
                Message::Sync { data, .. } => {
                    self.doc.receive_sync_message(&mut self.state, sync::Message::decode(&data)?)?;
                    self.send_sync().await?;
                }
                Message::Error { message } => bail!("server error: {message}"),
                _ => {}
            }
        }
        Ok(())
    }
}

fn random_doc_id() -> DocId {
    let mut b = [0u8; 16];
    let _ = getrandom::fill(&mut b);
    DocId::from_random(b)
}

/// A document holding a sequential trace's whole history (one change per transaction).
fn replay_trace(path: &std::path::Path) -> anyhow::Result<(Automerge, automerge::ObjId)> {
    let file = std::fs::File::open(path).with_context(|| format!("open {}", path.display()))?;
    let trace: serde_json::Value = serde_json::from_reader(flate2::read::GzDecoder::new(file))?;
    let mut doc = cahier_doc::empty();
    let mut tx = doc.transaction();
    let text = tx.put_object(ROOT, "text", ObjType::Text)?;
    tx.commit();
    for txn in trace["txns"].as_array().context("txns")? {
        let mut tx = doc.transaction();
        for p in txn["patches"].as_array().context("patches")? {
            let pos = p[0].as_u64().context("pos")? as usize;
            let del = p[1].as_i64().context("del")? as isize;
            let ins = p[2].as_str().context("ins")?;
            tx.splice_text(&text, pos, del, ins)?;
        }
        tx.commit();
    }
    let end = trace["endContent"].as_str().context("endContent")?;
    if doc.text(&text)? != end {
        bail!("the replayed trace does not end with endContent");
    }
    Ok((doc, text))
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

async fn relay(url: &str, edits: usize, preload: Option<&std::path::Path>, label: &str) -> anyhow::Result<()> {
    let (doc, text) = match preload {
        Some(p) => replay_trace(p)?,
        None => {
            let mut doc = cahier_doc::empty();
            let mut tx = doc.transaction();
            let text = tx.put_object(ROOT, "text", ObjType::Text)?;
            tx.commit();
            (doc, text)
        }
    };
    let history = doc.get_changes_meta(&[]).len();
    let id = random_doc_id().to_string();
    let mut editor = Peer::connect(url, "bench-editor", doc, &id).await?;
    let mut observer = Peer::connect(url, "bench-observer", cahier_doc::empty(), &id).await?;
    // The editor pushes the document; the observer fetches it.
    editor.send_sync().await?;
    let target = editor.doc.get_heads();
    let setup = Instant::now();
    observer.send_sync().await?;
    while observer.doc.get_heads() != target {
        if setup.elapsed() > Duration::from_secs(300) {
            bail!("the observer did not get the document within 300 s");
        }
        tokio::select! {
            f = editor.ws.next() => editor.on_frame(f.context("editor closed")??).await?,
            f = observer.ws.next() => observer.on_frame(f.context("observer closed")??).await?,
        }
    }
    let mut latencies = Vec::with_capacity(edits);
    for i in 0..edits {
        let len = editor.doc.length(&text);
        let mut tx = editor.doc.transaction();
        tx.splice_text(&text, len, 0, if i % 10 == 9 { " " } else { "x" })?;
        tx.commit();
        let head = editor.doc.get_heads();
        let t0 = Instant::now();
        editor.send_sync().await?;
        while !head.iter().all(|h| observer.doc.get_change_by_hash(h).is_some()) {
            if t0.elapsed() > Duration::from_secs(60) {
                bail!("edit {i} did not reach the observer within 60 s");
            }
            tokio::select! {
                f = editor.ws.next() => editor.on_frame(f.context("editor closed")??).await?,
                f = observer.ws.next() => observer.on_frame(f.context("observer closed")??).await?,
            }
        }
        latencies.push(t0.elapsed());
    }
    latencies.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let report = serde_json::json!({
        "scenario": "relay",
        "label": label,
        "edits": edits,
        "history": history,
        "p50_ms": ms(percentile(&latencies, 0.5)),
        "p99_ms": ms(percentile(&latencies, 0.99)),
        "max_ms": ms(*latencies.last().unwrap_or(&Duration::ZERO)),
    });
    println!("{report}");
    Ok(())
}

fn ops(preload: &std::path::Path) -> anyhow::Result<()> {
    let (client, text) = replay_trace(preload)?;
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
        time("load_incremental(1 change)", &mut || { server.load_incremental(&bytes).ok(); });
        let mut dup = msg.clone();
        time("receive_sync_message (dup changes)", &mut || { server.receive_sync_message(&mut ss, dup.clone()).ok(); });
        dup.changes = sync::ChunkList::empty();
        time("receive_sync_message (no changes)", &mut || { server.receive_sync_message(&mut ss, dup.clone()).ok(); });
        time("generate_sync_message (sender)", &mut || { server.generate_sync_message(&mut ss); });
        time("generate_sync_message (first sync of a peer)", &mut || { server.generate_sync_message(&mut ss2); });
        time("save_after(saved heads)", &mut || { server.save_after(&saved); });
        time("summary", &mut || { cahier_doc::read::summary(&server); });
        if let Some(m) = server.generate_sync_message(&mut ss) { client.receive_sync_message(&mut cs, m)?; }
    }
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    match Cli::parse().scenario {
        Scenario::Relay { url, edits, preload, label } => relay(&url, edits, preload.as_deref(), &label).await,
        Scenario::Ops { preload } => ops(&preload),
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
                words.extend(text.split_whitespace().filter(|w| w.chars().all(char::is_alphabetic) && w.chars().count() > 3).map(str::to_lowercase));
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
        let q = if i % 2 == 0 { words[next(words.len())].clone() } else { format!("{} {}", words[next(words.len())], words[next(words.len())]) };
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

//! Counters for `GET /metrics`, in the Prometheus text format.

use std::fmt::Write;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use cahier_sync::Stats;

/// Persist latency buckets, in seconds.
const BUCKETS: [f64; 8] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1, 1.0];

#[derive(Default)]
pub struct Metrics {
    /// The engine's counters, as of its last flush.
    pub hub: Mutex<Stats>,
    pub persist_count: AtomicU64,
    pub persist_micros: AtomicU64,
    persist_buckets: [AtomicU64; BUCKETS.len()],
    pub slow_readers: AtomicU64,
    pub refused_connections: AtomicU64,
    /// Peers' ephemeral messages handed to the other nodes sharing the store.
    pub ephemeral_forwarded: AtomicU64,
    /// When the sync engine last went round its loop (milliseconds since the
    /// epoch); it does at least once a second while it lives.
    pub engine_beat_ms: AtomicU64,
}

/// The engine is stalled when it has not gone round its loop for this long.
pub const ENGINE_STALL_MS: u64 = 10_000;

impl Metrics {
    /// Why the sync engine cannot serve, if it cannot: its task ended, or it
    /// made no progress for [`ENGINE_STALL_MS`].
    pub fn engine_trouble(&self, now_ms: u64, task_ended: bool) -> Option<String> {
        if task_ended {
            return Some("the sync engine stopped".into());
        }
        let beat = self.engine_beat_ms.load(Ordering::Relaxed);
        let late = now_ms.saturating_sub(beat);
        (beat != 0 && late > ENGINE_STALL_MS).then(|| format!("the sync engine made no progress for {} s", late / 1000))
    }
}

impl Metrics {
    pub fn observe_persist(&self, seconds: f64) {
        self.persist_count.fetch_add(1, Ordering::Relaxed);
        self.persist_micros.fetch_add((seconds * 1e6) as u64, Ordering::Relaxed);
        for (i, b) in BUCKETS.iter().enumerate() {
            if seconds <= *b {
                self.persist_buckets[i].fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    pub fn render(&self) -> String {
        let hub = self.hub.lock().map(|s| s.clone()).unwrap_or_default();
        let mut o = String::new();
        let mut gauge = |name: &str, help: &str, kind: &str, v: u64| {
            let _ = writeln!(o, "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {v}");
        };
        gauge("cahier_connections", "Open sync connections.", "gauge", hub.connections as u64);
        gauge("cahier_documents_loaded", "Documents in memory.", "gauge", hub.documents_loaded as u64);
        gauge("cahier_messages_in_total", "Sync protocol messages received.", "counter", hub.messages_in);
        gauge("cahier_messages_out_total", "Sync protocol messages sent.", "counter", hub.messages_out);
        gauge("cahier_bytes_in_total", "Bytes of messages received.", "counter", hub.bytes_in);
        gauge("cahier_bytes_out_total", "Bytes of messages sent.", "counter", hub.bytes_out);
        gauge("cahier_changes_relayed_total", "Changes relayed to other editors before the server applied them.", "counter", hub.relayed);
        gauge(
            "cahier_refused_connections_total",
            "TCP connections refused because the connection limit was reached.",
            "counter",
            self.refused_connections.load(Ordering::Relaxed),
        );
        gauge(
            "cahier_ephemeral_forwarded_total",
            "Presence messages passed on to the other nodes sharing the store.",
            "counter",
            self.ephemeral_forwarded.load(Ordering::Relaxed),
        );
        let _ = writeln!(o, "# HELP cahier_errors_total Errors by kind.\n# TYPE cahier_errors_total counter");
        let mut errors = hub.errors.clone();
        *errors.entry("slow_reader").or_default() += self.slow_readers.load(Ordering::Relaxed);
        for (kind, n) in errors {
            let _ = writeln!(o, "cahier_errors_total{{kind=\"{kind}\"}} {n}");
        }
        let _ =
            writeln!(o, "# HELP cahier_persist_seconds Time to store and flush a group commit.\n# TYPE cahier_persist_seconds histogram");
        for (i, b) in BUCKETS.iter().enumerate() {
            let _ = writeln!(o, "cahier_persist_seconds_bucket{{le=\"{b}\"}} {}", self.persist_buckets[i].load(Ordering::Relaxed));
        }
        let count = self.persist_count.load(Ordering::Relaxed);
        let _ = writeln!(o, "cahier_persist_seconds_bucket{{le=\"+Inf\"}} {count}");
        let _ = writeln!(o, "cahier_persist_seconds_sum {}", self.persist_micros.load(Ordering::Relaxed) as f64 / 1e6);
        let _ = writeln!(o, "cahier_persist_seconds_count {count}");
        o
    }
}

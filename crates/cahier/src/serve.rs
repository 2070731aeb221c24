//! `cahier serve`: the live sync server, on the embedded store or PostgreSQL.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, bail};
use cahier_server::ServerConfig;
use tokio_util::sync::CancellationToken;

#[derive(clap::Args)]
pub struct ServeArgs {
    #[arg(long, env = "CAHIER_DATA", default_value = "./data", help = crate::DATA_HELP)]
    data: PathBuf,
    /// The address to listen on.
    #[arg(long, env = "CAHIER_LISTEN", default_value = "127.0.0.1:8080")]
    listen: String,
    /// The address browsers use, e.g. https://cahier.example.org; WebSocket
    /// upgrades from any other origin are refused. Default: http://LISTEN.
    #[arg(long, env = "CAHIER_PUBLIC_URL")]
    public_url: Option<String>,
    /// A reverse proxy whose X-Forwarded-For header gives the client's address
    /// (repeat for several). Requests from other addresses are taken as they come.
    #[arg(long = "trusted-proxy", env = "CAHIER_TRUSTED_PROXIES", value_delimiter = ',')]
    trusted_proxies: Vec<std::net::IpAddr>,
    /// The built web editor (Vite's output folder).
    #[arg(long, env = "CAHIER_WEB_DIR", default_value = "web/dist")]
    web_dir: PathBuf,
    /// The secret that `GET /metrics` asks for (`Authorization: Bearer
    /// TOKEN`); without it, `/metrics` is off. Prefer the environment
    /// variable: a command line is visible to every user of the machine.
    #[arg(long, env = "CAHIER_METRICS_TOKEN", hide_env_values = true)]
    metrics_token: Option<String>,
    /// Seconds a document with no peer stays in memory.
    #[arg(long, env = "CAHIER_IDLE_UNLOAD_SECS", default_value_t = 60)]
    idle_unload_secs: u64,
    /// Seconds between keepalive pings; a peer that misses one is dropped.
    #[arg(long, env = "CAHIER_KEEPALIVE_SECS", default_value_t = 15)]
    keepalive_secs: u64,
    /// Seconds a client has to send its request headers.
    #[arg(long, env = "CAHIER_HEADER_TIMEOUT_SECS", default_value_t = 30)]
    header_timeout_secs: u64,
    /// Simultaneous connections.
    #[arg(long, env = "CAHIER_MAX_CONNECTIONS", default_value_t = 2048)]
    max_connections: usize,
    /// Simultaneous sync connections from one client address (a school's
    /// router counts as one address).
    #[arg(long, env = "CAHIER_MAX_CONNECTIONS_PER_ADDRESS", default_value_t = 256)]
    max_connections_per_address: usize,
    /// The time zone readers' dates are shown in (e.g. Europe/Paris); the
    /// system's by default.
    #[arg(long, env = "CAHIER_TIME_ZONE")]
    time_zone: Option<String>,
    /// Largest sync message, in bytes.
    #[arg(long, env = "CAHIER_MAX_MESSAGE_BYTES", default_value_t = 8 * 1024 * 1024)]
    max_message_bytes: usize,
    /// Largest document, in bytes of changes.
    #[arg(long, env = "CAHIER_MAX_DOCUMENT_BYTES", default_value_t = 64 * 1024 * 1024)]
    max_document_bytes: usize,
    /// Documents one connection may sync at once.
    #[arg(long, env = "CAHIER_MAX_DOCUMENTS_PER_CONNECTION", default_value_t = 256)]
    max_documents_per_connection: usize,
    /// Messages one connection may send per second.
    #[arg(long, env = "CAHIER_MAX_MESSAGES_PER_SECOND", default_value_t = 5000)]
    max_messages_per_second: u32,
    /// Serve a store that `cahier check` finds damaged: the damaged
    /// documents stay unavailable (never empty), the others are served.
    /// Without it, Cahier refuses to start on such a store.
    #[arg(long, env = "CAHIER_ALLOW_DAMAGED")]
    allow_damaged: bool,
    /// The largest image or attachment one upload may be, in MiB.
    #[arg(long, env = "CAHIER_MAX_FILE_MIB", default_value_t = 10)]
    max_file_mib: u64,
    /// Images and attachments the store may hold.
    #[arg(long, env = "CAHIER_MAX_FILES", default_value_t = 10_000)]
    max_files: usize,
    /// The size of every image and attachment together (smaller copies
    /// included), in MiB.
    #[arg(long, env = "CAHIER_MAX_FILES_TOTAL_MIB", default_value_t = 2048)]
    max_files_total_mib: u64,
    /// On a database several nodes share: seconds between two comparisons of
    /// each open document with the database, in case announcements of other
    /// nodes' changes were missed.
    #[arg(long, env = "CAHIER_CATCH_UP_SECS", default_value_t = 10)]
    catch_up_secs: u64,
    /// Threads that run the server's tasks (sockets, the router, the
    /// documents); the default is one per core.
    #[arg(long, env = "CAHIER_WORKER_THREADS")]
    worker_threads: Option<usize>,
}

impl ServeArgs {
    fn config(&self) -> anyhow::Result<(SocketAddr, ServerConfig)> {
        let addr: SocketAddr =
            self.listen.parse().with_context(|| format!("--listen {:?} is not an address like 127.0.0.1:8080", self.listen))?;
        for (name, v) in [
            ("--keepalive-secs", self.keepalive_secs),
            ("--header-timeout-secs", self.header_timeout_secs),
            ("--max-connections", self.max_connections as u64),
            ("--max-connections-per-address", self.max_connections_per_address as u64),
            ("--max-message-bytes", self.max_message_bytes as u64),
            ("--max-document-bytes", self.max_document_bytes as u64),
            ("--max-documents-per-connection", self.max_documents_per_connection as u64),
            ("--max-messages-per-second", self.max_messages_per_second as u64),
            ("--max-file-mib", self.max_file_mib),
            ("--max-files", self.max_files as u64),
            ("--max-files-total-mib", self.max_files_total_mib),
            ("--catch-up-secs", self.catch_up_secs),
        ] {
            if v == 0 {
                bail!("{name} must be at least 1");
            }
        }
        let public = self.public_url.clone().unwrap_or_else(|| format!("http://{addr}"));
        let origin = public.trim_end_matches('/').to_owned();
        if !(origin.starts_with("http://") || origin.starts_with("https://")) || origin[8..].contains('/') {
            bail!("--public-url {public:?} must be an origin like https://cahier.example.org");
        }
        let mut config = ServerConfig {
            public_origin: Some(origin),
            idle_unload: Duration::from_secs(self.idle_unload_secs),
            keepalive: Duration::from_secs(self.keepalive_secs),
            header_timeout: Duration::from_secs(self.header_timeout_secs),
            max_connections: self.max_connections,
            max_connections_per_address: self.max_connections_per_address,
            time_zone: cahier_server::time_zone(self.time_zone.as_deref())?,
            trusted_proxies: self.trusted_proxies.clone(),
            web_dir: self.web_dir.clone(),
            metrics_token: self.metrics_token.clone().filter(|t| !t.trim().is_empty()),
            files: cahier_app::files::FileLimits {
                max_file_bytes: self.max_file_mib.saturating_mul(1 << 20),
                max_files: self.max_files,
                max_total_bytes: self.max_files_total_mib.saturating_mul(1 << 20),
            },
            catch_up_every: Duration::from_secs(self.catch_up_secs),
            ..ServerConfig::default()
        };
        config.limits.max_message_bytes = self.max_message_bytes;
        config.limits.max_document_bytes = self.max_document_bytes;
        config.limits.max_documents_per_connection = self.max_documents_per_connection;
        config.limits.max_messages_per_second = self.max_messages_per_second;
        Ok((addr, config))
    }
}

pub fn run(args: ServeArgs) -> anyhow::Result<ExitCode> {
    let (addr, config) = args.config()?;
    let store = crate::open_store(&args.data)?;
    // The whole store is read and every document loaded before anything is
    // served: a damaged store is named, never served as an emptier wiki.
    let report = cahier_store::check(&store).context("cannot read the store")?;
    if !report.is_healthy() {
        for line in crate::backup::damage_lines(&report) {
            eprintln!("cahier: {line}");
        }
        let shown = cahier_store::Store::describe(&args.data.to_string_lossy());
        if !args.allow_damaged {
            bail!(
                "refusing to serve a damaged store: {} (listed above; `cahier check --data {shown}` lists them again). \
                 Restore a backup (docs/operations.md, \"Restore\"), or start with --allow-damaged to serve the other documents",
                crate::backup::summary(&report)
            );
        }
        eprintln!(
            "cahier: serving a damaged store (--allow-damaged): {}; the damaged documents are unavailable",
            crate::backup::summary(&report)
        );
    }
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    if let Some(n) = args.worker_threads {
        anyhow::ensure!(n > 0, "--worker-threads must be at least 1");
        builder.worker_threads(n);
    }
    let runtime = builder.enable_all().build().context("starting the runtime")?;
    let served = runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(addr).await.with_context(|| format!("cannot listen on {addr}"))?;
        let shutdown = CancellationToken::new();
        let signal = shutdown.clone();
        tokio::spawn(async move {
            wait_for_signal().await;
            eprintln!("cahier: stopping (closing connections, flushing)");
            signal.cancel();
        });
        println!("cahier: serving {} on http://{}", cahier_store::Store::describe(&args.data.to_string_lossy()), listener.local_addr()?);
        cahier_server::run(listener, config, store, shutdown).await
    });
    // A stalled engine task never yields: do not wait for it forever.
    runtime.shutdown_timeout(std::time::Duration::from_secs(5));
    served?;
    Ok(ExitCode::SUCCESS)
}

async fn wait_for_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(s) => s,
            Err(_) => {
                let _ = ctrl_c.await;
                return;
            }
        };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}

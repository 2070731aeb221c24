//! The `cahier` command: one binary for every task, each flag also read from a
//! `CAHIER_*` environment variable.
//!
//! Start at [`Command`]; each subcommand lives in a module of its own.

mod accounts;
mod backup;
mod crash_writer;
mod export;
mod import;
mod serve;
mod wiki;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// mimalloc gives freed memory back to the system: with glibc's allocator the
/// server kept about 1 GiB after 10,000 documents had been written and
/// unloaded (all of it free inside the allocator; see docs/benchmarks.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(name = "cahier", version, about = "Live meeting minutes and a Creative Commons wiki")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Import pages and minutes from a .md file, a folder of them, a .tar.gz or a .zip.
    Import {
        /// The file, folder or archive to import.
        path: PathBuf,
        #[arg(long, env = "CAHIER_DATA", default_value = "./data", help = crate::DATA_HELP)]
        data: PathBuf,
    },
    /// Export every page and set of minutes as Markdown, with a credits file.
    Export {
        #[arg(long, env = "CAHIER_DATA", default_value = "./data", help = crate::DATA_HELP)]
        data: PathBuf,
        /// Where to write: a folder, or a file ending in .tar.gz, .tgz or .zip.
        #[arg(long, env = "CAHIER_EXPORT_OUT")]
        out: PathBuf,
    },
    /// Serve live sync over WebSocket (`/sync`), with `/healthz` and `/metrics`.
    Serve(serve::ServeArgs),
    /// Manage accounts.
    #[command(subcommand)]
    User(accounts::UserCommand),
    /// Manage API tokens (for scripts and sync clients).
    #[command(subcommand)]
    Token(accounts::TokenCommand),
    /// Publish a page (by slug or id): readers see it as it is now.
    Publish {
        page: String,
        /// Recorded as the publisher.
        #[arg(long, env = "CAHIER_USER", default_value = "admin")]
        by: String,
        #[arg(long, env = "CAHIER_DATA", default_value = "./data", help = crate::DATA_HELP)]
        data: PathBuf,
    },
    /// Hide a published page from readers.
    Unpublish {
        page: String,
        #[arg(long, env = "CAHIER_USER", default_value = "admin")]
        by: String,
        #[arg(long, env = "CAHIER_DATA", default_value = "./data", help = crate::DATA_HELP)]
        data: PathBuf,
    },
    /// Delete a page or minutes: kept in the store, out of everyone's reach, unpublished.
    Delete {
        document: String,
        #[arg(long, env = "CAHIER_USER", default_value = "admin")]
        by: String,
        #[arg(long, env = "CAHIER_DATA", default_value = "./data", help = crate::DATA_HELP)]
        data: PathBuf,
    },
    /// Bring back a deleted document.
    Undelete {
        document: String,
        #[arg(long, env = "CAHIER_USER", default_value = "admin")]
        by: String,
        #[arg(long, env = "CAHIER_DATA", default_value = "./data", help = crate::DATA_HELP)]
        data: PathBuf,
    },
    /// Turn a set of minutes into a wiki page that keeps its whole history and credits.
    Promote {
        minutes: String,
        /// The new page's slug (default: the minutes' address followed by
        /// `-page`); when another document has it, the store's fallback (numbered).
        #[arg(long)]
        slug: Option<String>,
        #[arg(long, env = "CAHIER_USER", default_value = "admin")]
        by: String,
        #[arg(long, env = "CAHIER_DATA", default_value = "./data", help = crate::DATA_HELP)]
        data: PathBuf,
    },
    /// Whether readers see a published page's history (its editing sessions up
    /// to the published version): on by default. Every `cahier serve` node
    /// reads it when it starts: restart them after changing it.
    PublicHistory {
        /// `on` or `off`; without it, says which it is.
        state: Option<wiki::OnOff>,
        #[arg(long, env = "CAHIER_USER", default_value = "admin")]
        by: String,
        #[arg(long, env = "CAHIER_DATA", default_value = "./data", help = crate::DATA_HELP)]
        data: PathBuf,
    },
    /// Manage invite links (participants without an account).
    #[command(subcommand)]
    Invite(accounts::InviteCommand),
    /// Copy a store into a new one (a sled folder into redb, a folder into
    /// PostgreSQL, PostgreSQL into a folder): every document with its whole
    /// history, its address, every record (accounts, sessions, invites,
    /// publications, audit log, files) and the store's identity; then every
    /// document's heads are checked in the new store. With Cahier stopped.
    Migrate {
        /// The store to copy, left as it is (`--from` or `--data`).
        #[arg(long, visible_alias = "from", env = "CAHIER_DATA", default_value = "./data", help = crate::DATA_HELP)]
        data: PathBuf,
        /// The new store: a missing or empty folder (redb), or an empty database.
        #[arg(long)]
        to: PathBuf,
    },
    /// Read the whole store and name every damaged document (which one, what
    /// is wrong); exits with 1 if there is any, 0 with a summary otherwise.
    /// Works while Cahier serves a redb folder or PostgreSQL.
    Check {
        #[arg(long, env = "CAHIER_DATA", default_value = "./data", help = crate::DATA_HELP)]
        data: PathBuf,
    },
    /// Write the whole store (documents with their history, index,
    /// accounts, publications, every record) to one file, while Cahier serves
    /// a redb folder or PostgreSQL: one consistent snapshot.
    Backup {
        #[arg(long, env = "CAHIER_DATA", default_value = "./data", help = crate::DATA_HELP)]
        data: PathBuf,
        /// The backup file (replaced once the new one is complete and synced).
        #[arg(long)]
        out: PathBuf,
    },
    /// Restore a backup file into a new store and check every document's heads.
    Restore {
        /// The file `cahier backup` wrote.
        file: PathBuf,
        /// The new store: a missing or empty folder, or an empty database.
        #[arg(long, env = "CAHIER_DATA", default_value = "./data", help = crate::DATA_HELP)]
        data: PathBuf,
    },
    /// List the documents in the store.
    List {
        #[arg(long, env = "CAHIER_DATA", default_value = "./data", help = crate::DATA_HELP)]
        data: PathBuf,
    },
    /// Test helper: appends and acknowledges changes until killed (the crash test).
    #[command(hide = true)]
    CrashWriter {
        #[arg(long)]
        data: PathBuf,
        #[arg(long, default_value_t = 8)]
        compact_after: usize,
    },
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_env("CAHIER_LOG").unwrap_or_else(|_| "warn".into()))
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Import { path, data } => import::run(&path, &data),
        Command::Export { data, out } => export::run(&data, &out),
        Command::List { data } => list(&data),
        Command::Check { data } => backup::check(&data),
        Command::Backup { data, out } => backup::backup(&data, &out),
        Command::Restore { file, data } => backup::restore(&file, &data),
        Command::Migrate { data, to } => migrate(&data, &to),
        Command::Publish { page, by, data } => wiki::publish(&data, &page, &by),
        Command::Unpublish { page, by, data } => wiki::unpublish(&data, &page, &by),
        Command::Delete { document, by, data } => wiki::delete(&data, &document, &by),
        Command::Undelete { document, by, data } => wiki::undelete(&data, &document, &by),
        Command::PublicHistory { state, by, data } => wiki::public_history(&data, state, &by),
        Command::Promote { minutes, slug, by, data } => wiki::promote(&data, &minutes, slug.as_deref(), &by),
        Command::Serve(args) => serve::run(args),
        Command::User(cmd) => accounts::user(cmd),
        Command::Token(cmd) => accounts::token(cmd),
        Command::Invite(cmd) => accounts::invite(cmd),
        Command::CrashWriter { data, compact_after } => crash_writer::run(&data, compact_after),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("cahier: {e:#}");
            exit_code(&e)
        }
    }
}

/// 2 when the request was refused as asked (nothing by that name, not
/// possible, already done: change the command), 1 for every other failure
/// (the store, files, the system).
fn exit_code(e: &anyhow::Error) -> ExitCode {
    match e.downcast_ref::<cahier_app::Error>() {
        Some(cahier_app::Error::NotFound(_) | cahier_app::Error::Invalid(_) | cahier_app::Error::Conflict(_)) => ExitCode::from(2),
        _ => ExitCode::FAILURE,
    }
}

/// What every `--data` says.
const DATA_HELP: &str = "Where Cahier keeps everything: a folder (the embedded store: redb in a new folder, else the \
                         store it holds; redb:FOLDER or sled:FOLDER to choose) or a PostgreSQL database, \
                         postgres://USER@HOST:PORT/DB";

/// Opens the store `--data` names (a folder, `redb:FOLDER`, `sled:FOLDER` or
/// a `postgres://` URL; see `Store::open`), refusing (with the reason) rather
/// than starting empty.
fn open_store(data: &std::path::Path) -> anyhow::Result<cahier_store::Store> {
    use anyhow::Context;
    open_raw(data).with_context(|| describe_data(data))
}

/// The store `--data` names, as `cahier serve` opens it.
fn open_raw(data: &std::path::Path) -> Result<cahier_store::Store, cahier_store::StorageError> {
    match data.to_str() {
        Some(data) => cahier_store::Store::open(data),
        // Not UTF-8: a folder, opened as any folder is.
        None => cahier_store::Store::open_folder(data),
    }
}

/// The store `--data` names, to read while a server may write to it (see
/// `Store::open_to_read`); nothing is created.
fn open_to_read(data: &std::path::Path) -> anyhow::Result<cahier_store::Store> {
    use anyhow::Context;
    match data.to_str() {
        Some(s) => cahier_store::Store::open_to_read(s),
        None => cahier_store::Store::open_folder_to_read(data, None),
    }
    .with_context(|| describe_data(data))
}

fn describe_data(data: &std::path::Path) -> String {
    match data.to_str() {
        Some(url) if cahier_store::Store::names_database(url) => format!("cannot use the database {}", cahier_store::Store::describe(url)),
        _ => format!("cannot use the data folder {}", data.display()),
    }
}

fn migrate(data: &std::path::Path, to: &std::path::Path) -> anyhow::Result<ExitCode> {
    use anyhow::Context;
    use cahier_store::MigrateStep;
    let from = open_store(data)?;
    let target = open_store(to)?;
    let shown = cahier_store::Store::describe(&to.to_string_lossy());
    // A bar on a terminal, a line per document otherwise.
    let (mut bar, mut documents) = (None::<import::Progress>, 0);
    let done = cahier_store::migrate(&from, &target, &mut |step| match step {
        MigrateStep::Start { documents: n } => {
            documents = n;
            eprintln!("copying {n} documents into {shown}");
            bar = Some(import::Progress::new(n as u64));
        }
        MigrateStep::Copied(id) | MigrateStep::Checked(id) => {
            if let Some(bar) = &bar {
                bar.inc();
                bar.line(&format!("{} {id}", if matches!(step, MigrateStep::Copied(_)) { "copied " } else { "checked" }));
            }
        }
        MigrateStep::Records(n) => {
            if let Some(bar) = &bar {
                bar.finish();
            }
            eprintln!("copied {documents} documents and {n} records; reading every document back from {shown}");
            bar = Some(import::Progress::new(documents as u64));
        }
    })
    .with_context(|| format!("cannot migrate into {shown}"))?;
    if let Some(bar) = &bar {
        bar.finish();
    }
    println!(
        "{} documents ({} chunks, every head checked in the new store) and {} records copied into {shown}",
        done.documents, done.chunks, done.records
    );
    Ok(ExitCode::SUCCESS)
}

fn list(data: &std::path::Path) -> anyhow::Result<ExitCode> {
    let store = open_store(data)?;
    for e in store.list()? {
        let id = cahier_doc::DocId::parse(&e.id)?;
        let status = if cahier_app::publication::publication(&store, &id)?.is_some() { "published" } else { "draft" };
        println!("{}\t{}\t{}\t{}\t{}", e.id, e.kind, status, e.slug, e.title);
    }
    Ok(ExitCode::SUCCESS)
}

/// Milliseconds since the epoch, now.
fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

//! `cahier user` and `cahier token`: accounts and API tokens, from the console.

use std::io::{BufRead, IsTerminal};
use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, bail};
use cahier_app::auth_store;
use cahier_auth::Role;

#[derive(clap::Subcommand)]
pub enum UserCommand {
    /// Create an account, or change its role and password. The password is read
    /// from standard input (first line), or prompted for on a terminal.
    Add {
        name: String,
        #[arg(long, value_parser = ["editor", "maintainer"])]
        role: String,
        #[arg(long, env = "CAHIER_DATA", default_value = "./data", help = crate::DATA_HELP)]
        data: std::path::PathBuf,
    },
    /// List accounts.
    List {
        #[arg(long, env = "CAHIER_DATA", default_value = "./data", help = crate::DATA_HELP)]
        data: std::path::PathBuf,
    },
}

#[derive(clap::Subcommand)]
pub enum TokenCommand {
    /// Print a new API token with ACCOUNT's rights (shown once; only its digest is kept).
    Create {
        account: String,
        #[arg(long, env = "CAHIER_DATA", default_value = "./data", help = crate::DATA_HELP)]
        data: std::path::PathBuf,
    },
    /// Revoke a token by its id.
    Revoke {
        id: String,
        #[arg(long, env = "CAHIER_DATA", default_value = "./data", help = crate::DATA_HELP)]
        data: std::path::PathBuf,
    },
    /// List tokens (ids and accounts, never the secrets).
    List {
        #[arg(long, env = "CAHIER_DATA", default_value = "./data", help = crate::DATA_HELP)]
        data: std::path::PathBuf,
    },
}

fn random<const N: usize>() -> anyhow::Result<[u8; N]> {
    let mut b = [0u8; N];
    getrandom::fill(&mut b).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
    Ok(b)
}

fn read_password() -> anyhow::Result<String> {
    if std::io::stdin().is_terminal() {
        let a = rpassword::prompt_password("Mot de passe / Password: ")?;
        let b = rpassword::prompt_password("Encore / Again: ")?;
        if a != b {
            bail!("the two passwords differ");
        }
        Ok(a)
    } else {
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line).context("reading the password from standard input")?;
        Ok(line.trim_end_matches(['\n', '\r']).to_owned())
    }
}

fn store(data: &Path) -> anyhow::Result<cahier_store::Store> {
    crate::open_store(data)
}

pub fn user(cmd: UserCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        UserCommand::Add { name, role, data } => {
            let role = Role::parse(&role).context("role")?;
            let password = read_password()?;
            let store = store(&data)?;
            let created = auth_store::put_account(&store, &name, role, &password, random()?, "console", crate::now_ms())?;
            println!("{} {name} ({})", if created { "created" } else { "updated" }, role.as_str());
        }
        UserCommand::List { data } => {
            for a in auth_store::accounts(&store(&data)?)? {
                println!("{}\t{}", a.name, a.role.as_str());
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub fn token(cmd: TokenCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        TokenCommand::Create { account, data } => {
            let (id, secret) = auth_store::create_token(&store(&data)?, &account, random()?, random()?, crate::now_ms())?;
            eprintln!("token {id} for {account}; use it as ?token=… on /sync. It is shown once:");
            println!("{secret}");
        }
        TokenCommand::Revoke { id, data } => {
            auth_store::revoke_token(&store(&data)?, &id, "console", crate::now_ms())?;
            println!("revoked {id}");
        }
        TokenCommand::List { data } => {
            for t in auth_store::tokens(&store(&data)?)? {
                println!("{}\t{}", t.id, t.account);
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[derive(clap::Subcommand)]
pub enum InviteCommand {
    /// Print a new invite link to a document (slug or id): anyone with it joins
    /// under a name they choose, to write, or only to read with --view.
    Create {
        document: String,
        #[arg(long)]
        view: bool,
        /// Days until the link stops working (default: until revoked).
        #[arg(long)]
        expires_days: Option<u32>,
        /// The public URL the link starts with.
        #[arg(long, env = "CAHIER_PUBLIC_URL", default_value = "http://127.0.0.1:8080")]
        public_url: String,
        #[arg(long, env = "CAHIER_USER", default_value = "admin")]
        by: String,
        #[arg(long, env = "CAHIER_DATA", default_value = "./data", help = crate::DATA_HELP)]
        data: std::path::PathBuf,
    },
    /// Revoke an invite by its id: the link and the sessions opened with it stop working.
    Revoke {
        id: String,
        #[arg(long, env = "CAHIER_USER", default_value = "admin")]
        by: String,
        #[arg(long, env = "CAHIER_DATA", default_value = "./data", help = crate::DATA_HELP)]
        data: std::path::PathBuf,
    },
    /// List invites (ids, documents, modes, expiry; never the secrets).
    List {
        #[arg(long, env = "CAHIER_DATA", default_value = "./data", help = crate::DATA_HELP)]
        data: std::path::PathBuf,
    },
}

pub fn invite(cmd: InviteCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        InviteCommand::Create { document, view, expires_days, public_url, by, data } => {
            let store = crate::open_store(&data)?;
            let id = cahier_app::find(&store, &document)?;
            let now = crate::now_ms();
            let expires = expires_days.map(|d| now + i64::from(d.max(1)) * 24 * 3600 * 1000);
            let (inv, secret) = auth_store::create_invite(&store, &id, !view, &by, expires, random()?, random()?, now)?;
            eprintln!("invite {} ({}) to {id}", inv.id, if inv.write { "edit" } else { "view" });
            println!("{}/join/{secret}", public_url.trim_end_matches('/'));
        }
        InviteCommand::Revoke { id, by, data } => {
            let store = crate::open_store(&data)?;
            auth_store::revoke_invite(&store, &id, &by, crate::now_ms())?;
            println!("revoked invite {id}");
        }
        InviteCommand::List { data } => {
            let store = crate::open_store(&data)?;
            for i in auth_store::invites(&store)? {
                let expires = i.expires_ms.map(cahier_doc::time::format_ms).unwrap_or_else(|| "never".into());
                let status = i.status(crate::now_ms()).as_str();
                println!("{}\t{}\t{}\t{}\texpires {expires}\t{status}", i.id, i.doc, if i.write { "edit" } else { "view" }, i.created_by);
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

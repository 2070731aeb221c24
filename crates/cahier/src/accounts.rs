//! `cahier user` and `cahier token`: accounts and API tokens, from the console.

use std::io::{BufRead, IsTerminal};
use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, bail};
use cahier_auth::Role;
use cahier_server::auth_store;

#[derive(clap::Subcommand)]
pub enum UserCommand {
    /// Create an account, or change its role and password. The password is read
    /// from standard input (first line), or prompted for on a terminal.
    Add {
        name: String,
        #[arg(long, value_parser = ["editor", "maintainer"])]
        role: String,
        #[arg(long, env = "CAHIER_DATA", default_value = "./data")]
        data: std::path::PathBuf,
    },
    /// List accounts.
    List {
        #[arg(long, env = "CAHIER_DATA", default_value = "./data")]
        data: std::path::PathBuf,
    },
}

#[derive(clap::Subcommand)]
pub enum TokenCommand {
    /// Print a new API token with ACCOUNT's rights (shown once; only its digest is kept).
    Create {
        account: String,
        #[arg(long, env = "CAHIER_DATA", default_value = "./data")]
        data: std::path::PathBuf,
    },
    /// Revoke a token by its id.
    Revoke {
        id: String,
        #[arg(long, env = "CAHIER_DATA", default_value = "./data")]
        data: std::path::PathBuf,
    },
    /// List tokens (ids and accounts, never the secrets).
    List {
        #[arg(long, env = "CAHIER_DATA", default_value = "./data")]
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

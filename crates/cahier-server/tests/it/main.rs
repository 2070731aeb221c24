//! Server tests on real sockets: a real `cahier_server::run` on 127.0.0.1:0, with
//! real sled files, reached by tokio-tungstenite clients and the JS client.

mod a11y;
mod app;
mod attacks;
mod authorship;
mod browser;
mod comments;
mod disk_full;
mod engine;
mod files;
mod http_auth;
mod invites;
mod js_interop;
mod read_only_fs;
mod sockets;
mod wiki;

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use cahier_server::ServerConfig;
use tokio_util::sync::CancellationToken;

/// Opens the sled store at `data`, waiting (10 s at most) for the lock a store
/// this test closed a moment ago may still hold.
pub fn open_store(data: &Path) -> cahier_store::Store {
    cahier_store::Store::open_sled_waiting(data, Duration::from_secs(10)).unwrap_or_else(|e| panic!("open store {}: {e}", data.display()))
}

/// Creates an account with `role` in the store at `data` and returns an API token for it.
pub fn make_token(data: &Path, name: &str, role: cahier_auth::Role) -> String {
    let store = open_store(data);
    token_in(&store, name, role)
}

pub fn token_in(store: &cahier_store::Store, name: &str, role: cahier_auth::Role) -> String {
    use cahier_app::auth_store;
    auth_store::put_account(store, name, role, "un mot de passe long", [5; 16], "test", 0).expect("account");
    let id: [u8; 8] = name.as_bytes().iter().chain([0u8; 8].iter()).take(8).copied().collect::<Vec<_>>().try_into().expect("8");
    let mut secret = [0u8; 32];
    for (i, b) in name.bytes().enumerate() {
        secret[i % 32] ^= b.wrapping_add(i as u8);
    }
    secret[31] ^= 0x5a;
    auth_store::create_token(store, name, id, secret, 0).expect("token").1
}

pub struct TestServer {
    pub addr: SocketAddr,
    /// A token of the editor account `tester`, for tests whose clients are
    /// anyone logged in (anonymous sockets are refused at the upgrade).
    pub tester: Option<String>,
    pub shutdown: CancellationToken,
    pub task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl TestServer {
    pub async fn start(data: &Path, config: ServerConfig) -> TestServer {
        TestServer::start_on(open_store(data), config).await
    }

    /// A server on a store of the test's choosing.
    pub async fn start_on(store: cahier_store::Store, config: ServerConfig) -> TestServer {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(cahier_server::run(listener, config, store, shutdown.clone()));
        TestServer { addr, tester: None, shutdown, task }
    }

    /// [`TestServer::start`], with an editor account `tester` made first.
    pub async fn start_with_tester(data: &Path, config: ServerConfig) -> TestServer {
        let token = make_token(data, "tester", cahier_auth::Role::Editor);
        let mut server = TestServer::start(data, config).await;
        server.tester = Some(token);
        server
    }

    pub fn ws_url(&self) -> String {
        format!("ws://{}/sync", self.addr)
    }

    pub fn ws_url_with(&self, token: &str) -> String {
        format!("ws://{}/sync?token={token}", self.addr)
    }

    /// Stops the server as SIGTERM would, and waits until it has flushed and returned.
    pub async fn stop(self) {
        self.shutdown.cancel();
        tokio::time::timeout(Duration::from_secs(20), self.task)
            .await
            .expect("the server stops within 20 s")
            .expect("server task")
            .expect("server result");
    }
}

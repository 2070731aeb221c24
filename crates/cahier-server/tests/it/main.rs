//! Server tests on real sockets: a real `cahier_server::run` on 127.0.0.1:0, with
//! real sled files, reached by tokio-tungstenite clients and the JS client.

mod js_interop;
mod sockets;

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use cahier_server::ServerConfig;
use tokio_util::sync::CancellationToken;

pub struct TestServer {
    pub addr: SocketAddr,
    shutdown: CancellationToken,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl TestServer {
    pub async fn start(data: &Path, config: ServerConfig) -> TestServer {
        let store = cahier_store::Store::open_sled(data).expect("open store");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(cahier_server::run(listener, config, store, shutdown.clone()));
        TestServer { addr, shutdown, task }
    }

    pub fn ws_url(&self) -> String {
        format!("ws://{}/sync", self.addr)
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

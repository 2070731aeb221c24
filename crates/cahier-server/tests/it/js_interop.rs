//! The real JavaScript automerge-repo client (2.5.6, WebSocket adapter) against Cahier.

use std::path::PathBuf;
use std::process::Stdio;

use cahier_server::ServerConfig;

use crate::TestServer;

fn js_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/js");
    assert!(
        dir.join("node_modules/@automerge/automerge-repo-network-websocket").exists(),
        "the JS test packages are missing: run the README's test command (scripts/test), which installs them in tests/js"
    );
    dir
}

async fn node(args: &[&str]) -> serde_json::Value {
    let dir = js_dir();
    let out = tokio::process::Command::new("node").arg(dir.join("interop.mjs")).args(args).stdin(Stdio::null()).kill_on_drop(true).output();
    let out = tokio::time::timeout(std::time::Duration::from_secs(60), out).await.expect("node finishes within 60 s").expect("run node");
    assert!(
        out.status.success(),
        "node interop.mjs {args:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let last = stdout.lines().last().unwrap_or("");
    serde_json::from_str(last).unwrap_or_else(|e| panic!("not JSON ({e}): {stdout}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_js_client_creates_finds_edits_and_sees_presence_and_the_document_survives_a_restart() {
    let tmp = tempfile::tempdir().expect("tmp");
    let data = tmp.path().join("data");
    let token = crate::make_token(&data, "Camille", cahier_auth::Role::Editor);
    let config = ServerConfig { metrics_token: Some("metrics".into()), ..ServerConfig::default() };
    let server = TestServer::start(&data, config).await;
    let wrote = node(&["write", &server.ws_url_with(&token)]).await;
    let url = wrote["url"].as_str().expect("url").to_owned();
    let text = wrote["text"].as_str().expect("text").to_owned();
    assert!(text.starts_with("Alice : Bonjour à tous 😀"), "{text}");
    assert!(text.ends_with(" (Bob)"), "{text}");
    assert!(wrote["unavailableMs"].as_u64().expect("ms") < 1000);
    // The concurrent edits converged through changes relayed before the
    // server applied them (each client took them as ordinary sync messages).
    let metrics = crate::wiki::get(&server, "/metrics", &[("Authorization", "Bearer metrics")]).await.text();
    let relayed: u64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("cahier_changes_relayed_total "))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("no relay counter in {metrics}"));
    assert!(relayed > 0, "no change was relayed before it was applied");
    server.stop().await;

    // Stored in sled: readable directly from the store...
    let store = crate::open_store(&data);
    let id = cahier_doc::DocId::parse(&url).expect("id");
    let loaded = store.load(&id).expect("load").expect("stored");
    let body = automerge::ReadDoc::get(&loaded.doc, automerge::ROOT, "text").expect("get").expect("text field");
    let text_obj = body.1;
    assert_eq!(automerge::ReadDoc::text(&loaded.doc, &text_obj).expect("text"), text);
    drop(loaded);
    drop(store);

    // ...and by a new client of a restarted server.
    let server = TestServer::start(&data, ServerConfig::default()).await;
    let read = node(&["read", &server.ws_url_with(&token), &url]).await;
    assert_eq!(read["text"].as_str(), Some(text.as_str()));
    server.stop().await;
}

//! The backup and restore drill of docs/operations.md, as an operator runs
//! it: `cahier backup` while the real `cahier serve` serves a redb folder and
//! two writers keep writing, `cahier restore` into an empty folder, then a
//! server on the restored folder. Every document comes back with heads the
//! original store holds, every edit acknowledged before the backup began is
//! there, accounts, tokens, publications and the store's identity too; a
//! backup of the stopped store restores every document's heads exactly; a
//! damaged backup file is refused before anything is written.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use automerge::ReadDoc;
use cahier_doc::DocId;
use cahier_store::Store;
use tokio::sync::{mpsc, watch};

use crate::kill_loop::{Conn, Replica, Server, items, make_token};
use crate::{cahier, heads, ok, s, sample_dir};

const WAIT: Duration = Duration::from_secs(20);

/// A writer: its own connection and document, one acknowledged edit after
/// another until told to stop; after each, what the server acknowledged.
async fn writer(
    addr: std::net::SocketAddr,
    token: String,
    n: u8,
    acked: mpsc::UnboundedSender<(String, Vec<String>)>,
    mut stop: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let mut conn = Conn::open(addr, &token, &format!("writer-{n}")).await?;
    let id = DocId::from_random([n; 16]).to_string();
    let mut docs = BTreeMap::from([(id.clone(), Replica::new())]);
    while !*stop.borrow_and_update() {
        conn.write_acked(&mut docs, &id).await?;
        let _ = acked.send((id.clone(), docs[&id].acked.clone()));
    }
    Ok(())
}

async fn run(args: &[&str]) -> std::process::Output {
    let child = tokio::process::Command::new(env!("CARGO_BIN_EXE_cahier")).args(args).env_remove("CAHIER_DATA").output();
    tokio::time::timeout(WAIT, child).await.expect("cahier in time").expect("run cahier")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_taken_while_writers_write_restores_every_documents_heads() {
    let tmp = tempfile::tempdir().expect("tmp");
    let data = tmp.path().join("data");
    ok(&["import", s(&sample_dir()), "--data", s(&data)]);
    let token = make_token(&data);
    let listed = ok(&["list", "--data", s(&data)]);
    assert!(listed.contains("published"), "{listed}");
    let users = ok(&["user", "list", "--data", s(&data)]);

    let mut server = Server::spawn(&data);
    let addr = server.address().await.expect("serving");
    let (stop, stopped) = watch::channel(false);
    let (tx, mut rx) = mpsc::unbounded_channel();
    let writers: Vec<_> = (1..=2u8).map(|n| tokio::spawn(writer(addr, token.clone(), n, tx.clone(), stopped.clone()))).collect();
    // Until each writer has three acknowledged edits.
    let mut acked: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let progress = |acked: &BTreeMap<String, Vec<String>>| acked.values().map(Vec::len).collect::<Vec<_>>();
    while acked.len() < 2 || acked.values().any(|a| a.len() < 3) {
        let (id, items) = tokio::time::timeout(WAIT, rx.recv()).await.expect("writers write").expect("a writer");
        acked.insert(id, items);
    }
    let before = acked.clone();
    let backup = tmp.path().join("cahier.backup");
    let out = run(&["backup", "--data", s(&data), "--out", s(&backup)]).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "cahier backup while serving: {stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("7 documents"), "{stdout}");
    // The writers were not stopped: three more acknowledged edits each.
    let target: Vec<usize> = progress(&acked).iter().map(|n| n + 3).collect();
    while progress(&acked).iter().zip(&target).any(|(n, t)| n < t) {
        let (id, items) = tokio::time::timeout(WAIT, rx.recv()).await.expect("writers go on").expect("a writer");
        acked.insert(id, items);
    }
    stop.send(true).expect("stop");
    for w in writers {
        tokio::time::timeout(WAIT, w).await.expect("writer stops").expect("writer task").expect("writer");
    }
    server.terminate().await.expect("the server stops cleanly");

    let restored = tmp.path().join("restored");
    let out = ok(&["restore", s(&backup), "--data", s(&restored)]);
    assert!(out.contains("7 documents") && out.contains("every document's heads checked"), "{out}");
    let (original, copy) = (Store::open_folder(&data).expect("original"), Store::open_folder(&restored).expect("restored"));
    assert_eq!(copy.storage_id().expect("id"), original.storage_id().expect("id"), "the store's identity comes back");
    let (now, back) = (heads(&original), heads(&copy));
    assert_eq!(back.keys().collect::<Vec<_>>(), now.keys().collect::<Vec<_>>(), "every document comes back");
    for (id, heads) in &back {
        let (loaded, _) = original.load_record(&DocId::parse(id).expect("id")).expect("load").expect("stored");
        if let Some(items_before) = before.get(id) {
            // A writer's document: as it was at one moment of the backup.
            let (restored_doc, _) = copy.load_record(&DocId::parse(id).expect("id")).expect("load").expect("stored");
            let have = items(&restored_doc);
            let lost: Vec<_> = items_before.iter().filter(|i| !have.contains(i.as_str())).collect();
            assert!(lost.is_empty(), "edits acknowledged before the backup are missing from {id}: {lost:?}");
            assert!(heads.iter().all(|h| loaded.get_change_by_hash(h).is_some()), "{id}: restored heads the original never had");
            assert_ne!(heads, &now[id], "{id}: the writers went on after the backup, so the original is further");
        } else {
            assert_eq!(heads, &now[id], "{id}: a document nobody wrote to comes back exactly");
        }
    }
    drop((original, copy));
    let sample_lines = |l: &str| l.lines().filter(|l| !l.contains("\tother\t")).map(str::to_owned).collect::<Vec<_>>();
    assert_eq!(sample_lines(&ok(&["list", "--data", s(&restored)])), sample_lines(&listed), "publications come back");
    assert_eq!(ok(&["user", "list", "--data", s(&restored)]), users, "accounts come back");

    // A server on the restored folder: the token opens it, under the same identity.
    let mut again = Server::spawn(&restored);
    let addr = again.address().await.expect("serving the restored folder");
    let mut conn = Conn::open(addr, &token, "reader").await.expect("the token of the backed-up store works");
    let id = before.keys().next().expect("a writer's document").clone();
    let fetched = conn.fetch(&id).await.expect("fetch").expect("the restored server has it");
    assert!(before[&id].iter().all(|i| items(&fetched).contains(i.as_str())), "served from the restored store");
    assert_eq!(conn.storage_id, Store::open_to_read(s(&restored)).expect("read").storage_id().expect("id"));
    again.terminate().await.expect("stops");

    // With nobody writing, a backup gives back every document's heads exactly.
    let quiet = tmp.path().join("quiet.backup");
    ok(&["backup", "--data", s(&data), "--out", s(&quiet)]);
    let exact = tmp.path().join("exact");
    ok(&["restore", s(&quiet), "--data", s(&exact)]);
    assert_eq!(heads(&Store::open_folder(&exact).expect("exact")), now, "every document's heads identical");
    let out = cahier(&["restore", s(&quiet), "--data", s(&exact)]);
    assert!(
        !out.status.success() && String::from_utf8_lossy(&out.stderr).contains("not empty"),
        "a store with data is never restored over"
    );

    // One flipped byte in the file: refused, nothing written.
    let mut bytes = std::fs::read(&quiet).expect("read");
    let at = bytes.len() / 2;
    bytes[at] ^= 0x01;
    let damaged = tmp.path().join("damaged.backup");
    std::fs::write(&damaged, bytes).expect("write");
    let target = tmp.path().join("never");
    let out = cahier(&["restore", s(&damaged), "--data", s(&target)]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && stderr.contains("the backup file is damaged"), "{stderr}");
    assert!(!target.exists(), "a damaged backup creates nothing");
    assert!(Path::new(&backup).exists());
}

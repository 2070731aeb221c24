//! A real full disk under a live meeting: a small tmpfs holds the store. The
//! writer whose change finds no room is told so and nothing pretends it was
//! saved; readers are served meanwhile; once room is made, the same client
//! sends its change again and it is stored, and it is there after a restart.
//! Mounting needs root: without it the test fails, unless
//! `CAHIER_NO_ROOT_TESTS` is set, when it says it is skipped, and why.
//! On redb, the default store. sled 0.34.7 (kept for folders older Cahiers
//! made) gives no answer at all once the disk is full: the write waits, and
//! every document's commits with it (docs/reliability.md, "Full disk").

use std::path::{Path, PathBuf};
use std::process::Command;

use automerge::ReadDoc;
use automerge::transaction::Transactable;
use cahier_doc::{DocId, DocView, Editor};
use cahier_server::ServerConfig;

use crate::sockets::{Client, rand_bytes};
use crate::wiki::get;
use crate::{TestServer, token_in};

/// A tmpfs of `mib` MiB, unmounted when dropped.
struct SmallDisk {
    dir: tempfile::TempDir,
}

impl SmallDisk {
    /// `None` (the test skipped, and said so) only when mounting fails and
    /// `CAHIER_NO_ROOT_TESTS` is set; otherwise a failed mount fails the test,
    /// so a run that could not fill a disk never passes for one that did.
    fn mount(mib: u32) -> Option<SmallDisk> {
        let dir = tempfile::tempdir().expect("tmp");
        let out = Command::new("mount").args(["-t", "tmpfs", "-o", &format!("size={mib}m"), "tmpfs"]).arg(dir.path()).output();
        let why = match out {
            Ok(o) if o.status.success() => return Some(SmallDisk { dir }),
            Ok(o) => String::from_utf8_lossy(&o.stderr).trim().to_owned(),
            Err(e) => format!("no mount command: {e}"),
        };
        if std::env::var_os("CAHIER_NO_ROOT_TESTS").is_some() {
            eprintln!("skipped (CAHIER_NO_ROOT_TESTS is set): cannot mount a small tmpfs to fill ({why})");
            return None;
        }
        panic!("cannot mount a small tmpfs to fill ({why}): run the tests as root, or set CAHIER_NO_ROOT_TESTS=1 to skip this one");
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Writes a filler file until the disk is full; returns its path.
    fn fill(&self) -> PathBuf {
        use std::io::Write;
        let filler = self.path().join("filler");
        let mut f = std::fs::File::create(&filler).expect("filler");
        let block = vec![0x55u8; 64 * 1024];
        while f.write_all(&block).is_ok() {}
        // The last partial block may still sit in a buffer: the disk is full.
        let _ = f.sync_all();
        filler
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(self.dir.path()).status();
    }
}

/// Types `text` at the end of `doc`'s notes.
pub(crate) fn append(doc: &mut automerge::Automerge, text: &str) {
    let body = cahier_doc::write::body_obj(doc, None).expect("body");
    let end = doc.length(&body);
    let mut tx = doc.transaction();
    tx.splice_text(&body, end, 0, text).expect("splice");
    tx.commit();
}

async fn full_disk_refuses_the_change_then_stores_it_once_there_is_room(store_of: fn(&Path) -> cahier_store::Store, name: &str) {
    // The filler may leave a few bytes: the paste is far larger.
    let Some(disk) = SmallDisk::mount(24) else { return };
    let data = disk.path().join("data");
    let store = store_of(&data);
    let token = token_in(&store, "camille", cahier_auth::Role::Maintainer);
    let mut page = DocView::new_page("Plan de la classe dehors");
    page.body = "Les tables sous le préau.".into();
    let published = store.upsert(&page, &Editor::new("camille"), 1).expect("page").0.id;
    cahier_app::publication::publish(&store, &published, "camille", 2).expect("publish");
    drop(store);
    let server = TestServer::start_on(store_of(&data), ServerConfig::default()).await;
    let mut c = Client::joined(&server, &token, "camille").await;
    let mut view = DocView::new_minutes("Conseil d'école");
    view.body = "Ordre du jour.".into();
    let mut doc = cahier_doc::new_document(&view, &Editor::new("camille"), 0).expect("doc");
    let id = DocId::from_random(rand_bytes()).to_string();
    c.sync_all(&mut doc, &id).await;

    let filler = disk.fill();
    let paste = " Compte rendu détaillé. ".repeat(20_000);
    append(&mut doc, &paste);
    let error = c.push_until_error(&mut doc, &id).await;
    assert!(error.contains("could not save changes") && error.contains("No space left on device"), "{name}: {error}");
    // Readers are still served while the disk is full.
    let r = get(&server, "/wiki/plan-de-la-classe-dehors", &[]).await;
    assert!(r.status == 200 && r.text().contains("préau"), "{name}: {} {}", r.status, r.text());

    std::fs::remove_file(&filler).expect("room again");
    let mut again = Client::joined(&server, &token, "camille").await;
    again.sync_all(&mut doc, &id).await;
    server.stop().await;
    let store = store_of(&data);
    let (stored, _) = store.load_record(&DocId::parse(&id).expect("id")).expect("load").expect("stored");
    assert_eq!(cahier_doc::read(&stored, None).0.body, format!("Ordre du jour.{paste}"), "{name}: the change sent again is stored");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_refuses_the_change_then_stores_it_once_there_is_room_on_redb() {
    full_disk_refuses_the_change_then_stores_it_once_there_is_room(|d| cahier_store::Store::open_redb(d).expect("redb"), "redb").await;
}

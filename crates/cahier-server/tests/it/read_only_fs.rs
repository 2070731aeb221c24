//! The store's file system turns read-only under a live meeting, as ext4
//! does when it meets an error (`errors=remount-ro`): a 32 MiB ext4 image on
//! a loop device holds the server's redb store, and the kernel's
//! `trigger_fs_error` makes it read-only while the server runs. The writer is
//! told its change was not stored and nothing acknowledges it; the wiki's
//! readers are still served; once the file system is mounted again (the operator's
//! repair: unmount, mount), the same client sends its change again and it is
//! stored, without restarting the server. Needs root: without it the test
//! fails, unless `CAHIER_NO_ROOT_TESTS` is set, when it says it is skipped.

use std::path::{Path, PathBuf};
use std::process::Command;

use cahier_doc::{DocId, DocView, Editor};
use cahier_server::ServerConfig;

use crate::disk_full::append;
use crate::sockets::{Client, rand_bytes};
use crate::wiki::get;
use crate::{TestServer, token_in};

/// An ext4 image mounted with `errors=remount-ro`; unmounted when dropped.
struct Ext4 {
    dir: tempfile::TempDir,
    image: PathBuf,
    /// The loop device `mount_again` set up, detached when dropped.
    again: std::sync::Mutex<Option<String>>,
}

impl Ext4 {
    fn mount() -> Option<Ext4> {
        let dir = tempfile::tempdir().expect("tmp");
        let image = dir.path().join("disk.img");
        let mnt = dir.path().join("mnt");
        std::fs::create_dir(&mnt).expect("mkdir");
        std::fs::File::create(&image).and_then(|f| f.set_len(32 << 20)).expect("image");
        let steps: [&[&str]; 2] = [&["mkfs.ext4", "-q", "-F"], &["mount", "-o", "loop,errors=remount-ro"]];
        let mut why = None;
        for step in steps {
            let mut cmd = Command::new(step[0]);
            cmd.args(&step[1..]).arg(&image);
            if step[0] == "mount" {
                cmd.arg(&mnt);
            }
            match cmd.output() {
                Ok(o) if o.status.success() => {}
                Ok(o) => why = Some(format!("{}: {}", step[0], String::from_utf8_lossy(&o.stderr).trim())),
                Err(e) => why = Some(format!("no {}: {e}", step[0])),
            }
            if why.is_some() {
                break;
            }
        }
        let Some(why) = why else { return Some(Ext4 { dir, image, again: std::sync::Mutex::new(None) }) };
        if std::env::var_os("CAHIER_NO_ROOT_TESTS").is_some() {
            eprintln!("skipped (CAHIER_NO_ROOT_TESTS is set): cannot mount an ext4 image to turn read-only ({why})");
            return None;
        }
        panic!(
            "cannot mount an ext4 image to turn read-only ({why}): run the tests as root, or set CAHIER_NO_ROOT_TESTS=1 to skip this one"
        );
    }

    fn path(&self) -> PathBuf {
        self.dir.path().join("mnt")
    }

    /// What happens when ext4 meets an error: the file system turns read-only
    /// under every open file.
    fn turn_read_only(&self) {
        let out = Command::new("findmnt").args(["-n", "-o", "SOURCE"]).arg(self.path()).output().expect("findmnt");
        let device = String::from_utf8_lossy(&out.stdout).trim().to_owned();
        let name = Path::new(&device).file_name().expect("a loop device").to_string_lossy().into_owned();
        std::fs::write(format!("/sys/fs/ext4/{name}/trigger_fs_error"), "1").expect("trigger an ext4 error");
        let probe = std::fs::write(self.path().join("probe"), b"x");
        assert!(probe.is_err(), "the file system should be read-only now");
    }

    /// The operator's repair: the file system is unmounted (lazily: the
    /// server still has the old file open) and mounted again, writable.
    fn mount_again(&self) {
        let st = Command::new("umount").arg("-l").arg(self.path()).status().expect("umount");
        assert!(st.success(), "umount -l");
        // A loop device of its own: `mount -o loop` would take the old one
        // again, whose file system stays read-only while the server holds
        // its file open.
        let out = Command::new("losetup").args(["-f", "--show"]).arg(&self.image).output().expect("losetup");
        assert!(out.status.success(), "losetup: {}", String::from_utf8_lossy(&out.stderr));
        let device = String::from_utf8_lossy(&out.stdout).trim().to_owned();
        let st = Command::new("mount").args(["-o", "errors=remount-ro", &device]).arg(self.path()).status().expect("mount");
        assert!(st.success(), "mount again");
        *self.again.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(device);
    }
}

impl Drop for Ext4 {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(self.path()).status();
        if let Some(device) = self.again.lock().unwrap_or_else(std::sync::PoisonError::into_inner).take() {
            let _ = Command::new("losetup").arg("-d").arg(device).status();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_system_turned_read_only_refuses_the_change_then_stores_it_once_writable_on_redb() {
    let Some(disk) = Ext4::mount() else { return };
    let data = disk.path().join("data");
    let store = cahier_store::Store::open_redb(&data).expect("redb");
    let token = token_in(&store, "camille", cahier_auth::Role::Maintainer);
    let mut page = DocView::new_page("Plan de la classe dehors");
    page.body = "Les tables sous le préau.".into();
    let published = store.upsert(&page, &Editor::new("camille"), 1).expect("page").0.id;
    cahier_app::publication::publish(&store, &published, "camille", 2).expect("publish");
    drop(store);
    let server = TestServer::start_on(cahier_store::Store::open_redb(&data).expect("redb"), ServerConfig::default()).await;
    let mut c = Client::joined(&server, &token, "camille").await;
    let mut view = DocView::new_minutes("Conseil d'école");
    view.body = "Ordre du jour.".into();
    let mut doc = cahier_doc::new_document(&view, &Editor::new("camille"), 0).expect("doc");
    let id = DocId::from_random(rand_bytes()).to_string();
    c.sync_all(&mut doc, &id).await;

    disk.turn_read_only();
    append(&mut doc, " Décision : la sortie aura lieu jeudi.");
    let error = c.push_until_error(&mut doc, &id).await;
    assert!(error.contains("could not save changes") && error.contains("Read-only file system"), "{error}");
    // Readers of the wiki are still served (its published pages are in memory).
    let r = get(&server, "/wiki/plan-de-la-classe-dehors", &[]).await;
    assert!(r.status == 200 && r.text().contains("préau"), "{} {}", r.status, r.text());

    disk.mount_again();
    let mut again = Client::joined(&server, &token, "camille").await;
    again.sync_all(&mut doc, &id).await;
    server.stop().await;
    let store = cahier_store::Store::open_redb(&data).expect("redb");
    let (stored, _) = store.load_record(&DocId::parse(&id).expect("id")).expect("load").expect("stored");
    assert_eq!(
        cahier_doc::read(&stored, None).0.body,
        "Ordre du jour. Décision : la sortie aura lieu jeudi.",
        "the change sent again is stored"
    );
}

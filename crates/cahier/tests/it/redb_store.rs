//! The `cahier` command on the embedded stores: a new folder gets redb, as
//! does `--data redb:FOLDER`; `sled:FOLDER` makes a sled one; the plain
//! folder opens whichever it holds.

use crate::{cahier, ok, s, sample_dir};

#[test]
fn a_redb_store_is_created_by_its_prefix_and_reopened_by_its_folder() {
    let tmp = tempfile::tempdir().expect("tmp");
    let data = tmp.path().join("data");
    let out = ok(&["import", s(&sample_dir()), "--data", &format!("redb:{}", s(&data))]);
    assert!(out.contains("5 new"), "{out}");
    assert!(data.join(cahier_store::REDB_FILE).exists(), "no redb file in {}", data.display());
    assert!(!data.join("conf").exists(), "a sled store was made beside it");
    let list = ok(&["list", "--data", s(&data)]);
    assert_eq!(list.lines().count(), 5, "{list}");
    // A folder that holds a sled store is not taken for a new redb one.
    let sled = tmp.path().join("sled");
    ok(&["import", s(&sample_dir()), "--data", &format!("sled:{}", s(&sled))]);
    assert!(sled.join("conf").exists());
    assert_eq!(ok(&["list", "--data", s(&sled)]).lines().count(), 5);
    let out = cahier(&["list", "--data", &format!("redb:{}", s(&sled))]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("holds no Cahier store"));
    let fresh = tmp.path().join("fresh");
    ok(&["import", s(&sample_dir()), "--data", s(&fresh)]);
    assert!(fresh.join(cahier_store::REDB_FILE).exists(), "a new folder gets the redb store");
}

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

/// `cahier migrate` copies a sled folder into a new redb one, which then
/// serves the same documents; a second run into it is refused.
#[test]
fn migrate_moves_a_sled_folder_into_a_new_redb_one() {
    let tmp = tempfile::tempdir().expect("tmp");
    let sled = tmp.path().join("sled");
    let redb = tmp.path().join("redb");
    ok(&["import", s(&sample_dir()), "--data", &format!("sled:{}", s(&sled))]);
    let out = ok(&["migrate", "--data", s(&sled), "--to", s(&redb)]);
    assert!(out.contains("5 documents"), "{out}");
    assert!(redb.join(cahier_store::REDB_FILE).exists());
    assert_eq!(ok(&["list", "--data", s(&redb)]), ok(&["list", "--data", s(&sled)]));
    ok(&["export", "--data", s(&redb), "--out", s(&tmp.path().join("e"))]);
    assert!(tmp.path().join("e/pages/classe-dehors.md").exists());
    let again = cahier(&["migrate", "--data", s(&sled), "--to", s(&redb)]);
    assert!(!again.status.success(), "a target that holds documents is refused");
    assert!(String::from_utf8_lossy(&again.stderr).contains("not empty"));
}

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
    // The new store keeps the old one's identity: clients keep their sync state.
    let old_id = cahier_store::Store::open_sled(&sled).expect("sled").storage_id().expect("id");
    assert_eq!(cahier_store::Store::open_folder(&redb).expect("redb").storage_id().expect("id"), old_id);
}

/// A `--data` folder whose name is not UTF-8 is a folder like any other: a
/// new one gets redb, and it opens again.
#[test]
fn a_data_folder_whose_name_is_not_utf8_gets_redb() {
    use std::os::unix::ffi::OsStrExt;
    let tmp = tempfile::tempdir().expect("tmp");
    let data = tmp.path().join(std::ffi::OsStr::from_bytes(b"donn\xe9es"));
    let run = |args: &[&std::ffi::OsStr]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_cahier")).args(args).env_remove("CAHIER_DATA").output().expect("run");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let import = std::ffi::OsStr::new("import");
    run(&[import, sample_dir().as_os_str(), std::ffi::OsStr::new("--data"), data.as_os_str()]);
    assert!(data.join(cahier_store::REDB_FILE).exists(), "a new folder gets redb whatever its name");
    assert!(!data.join("conf").exists(), "no sled store");
    let list = run(&[std::ffi::OsStr::new("list"), std::ffi::OsStr::new("--data"), data.as_os_str()]);
    assert_eq!(list.lines().count(), 5, "{list}");
}

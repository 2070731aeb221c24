//! Store tests, each run on every backend: real sled and redb files in
//! temporary folders, and a real PostgreSQL cluster the tests start
//! (`cahier-testpg`), one fresh database per test. Then what only one backend
//! has: the embedded stores' refusal of a foreign folder, `--data` choosing
//! between sled and redb, PostgreSQL's migrations, lost connections and one
//! database shared by two stores.

mod faults;

use std::path::Path;
use std::sync::Arc;

use cahier_doc::{DocView, Editor};
use cahier_store::{ChunkKind, FaultyStorage, PostgresStorage, RedbStorage, SledStorage, Storage, StorageError, Store, Write};

#[derive(Debug, Clone, Copy)]
enum Backend {
    Sled,
    Redb,
    Postgres,
}

/// An empty store of one backend: a folder, or a database of its own.
struct Place {
    backend: Backend,
    /// What `--data` would say.
    data: String,
    _dir: Option<tempfile::TempDir>,
}

impl Place {
    fn new(backend: Backend) -> Place {
        match backend {
            Backend::Sled => {
                let dir = tempfile::tempdir().expect("tempdir");
                let data = format!("sled:{}", dir.path().join("data").to_str().expect("utf-8"));
                Place { backend, data, _dir: Some(dir) }
            }
            Backend::Redb => {
                let dir = tempfile::tempdir().expect("tempdir");
                let data = format!("redb:{}", dir.path().join("data").to_str().expect("utf-8"));
                Place { backend, data, _dir: Some(dir) }
            }
            Backend::Postgres => Place { backend, data: cahier_testpg::cluster().database(), _dir: None },
        }
    }

    fn open(&self) -> Store {
        Store::open(&self.data).unwrap_or_else(|e| panic!("open {}: {e}", self.data))
    }

    /// Opens it again after a store on it was dropped.
    fn reopen(&self) -> Store {
        match self.backend {
            // Reopened at once in this process: sled lets go of the lock a moment after the drop.
            Backend::Sled => Store::open_sled_waiting(self.dir(), std::time::Duration::from_secs(10)).expect("reopen"),
            Backend::Redb | Backend::Postgres => self.open(),
        }
    }

    /// The folder of an embedded store.
    fn dir(&self) -> &Path {
        Path::new(self.data.split_once(':').map_or(self.data.as_str(), |(_, dir)| dir))
    }
}

/// Each test named here runs as `sled::NAME`, `redb::NAME` and `postgres::NAME`.
macro_rules! on_every_backend {
    ($($name:ident),* $(,)?) => {
        mod sled {
            $(#[test] fn $name() { super::$name(super::Backend::Sled) })*
        }
        mod redb {
            $(#[test] fn $name() { super::$name(super::Backend::Redb) })*
        }
        mod postgres {
            $(#[test] fn $name() { super::$name(super::Backend::Postgres) })*
        }
    };
}

on_every_backend!(
    documents_survive_reopening_with_every_change_and_their_index,
    importing_the_same_slug_again_updates_the_page_as_a_new_change,
    renaming_a_slug_frees_the_old_one_and_never_steals_anothers,
    a_corrupt_chunk_is_an_error_not_an_empty_document,
    a_failed_write_is_reported_and_the_change_stays_unsaved_until_it_succeeds,
    every_document_gets_an_address_of_its_own_whatever_its_slug_says,
    records_are_listed_by_prefix_in_key_order_whatever_their_characters,
    any_title_is_indexed_as_written,
    the_storage_id_stays_across_reopening,
);

const T0: i64 = 1_795_199_400_000;

fn page(title: &str, body: &str) -> DocView {
    DocView { body: body.to_owned(), updated_ms: Some(T0), ..DocView::new_page(title) }
}

fn append(loaded: &mut cahier_store::LoadedDoc, text: &str, at: i64) {
    let (mut view, _) = cahier_doc::read(&loaded.doc, None);
    view.body.push_str(text);
    view.updated_ms = Some(at);
    cahier_doc::apply_view(&mut loaded.doc, &view, &Editor::new("Camille"), at, "edit").expect("edit");
}

fn documents_survive_reopening_with_every_change_and_their_index(backend: Backend) {
    let place = Place::new(backend);
    let id = {
        let store = place.open().with_compact_after(4);
        let doc = cahier_doc::new_document(&page("Écoles", "a"), &Editor::new("Camille"), T0).expect("doc");
        let mut loaded = store.create(doc).expect("create");
        for i in 0..10 {
            append(&mut loaded, &i.to_string(), T0 + i);
            assert!(store.save(&mut loaded).expect("save"));
            assert!(loaded.is_saved());
        }
        assert!(!store.save(&mut loaded).expect("save"), "nothing new to save");
        // Compaction keeps the chunk count bounded.
        let chunks = store.backend().load(&loaded.id).expect("load").expect("some");
        assert!(chunks.len() <= 4, "{} chunks", chunks.len());
        assert_eq!(chunks[0].kind, ChunkKind::Snapshot);
        loaded.id
    };
    let store = place.reopen();
    let loaded = store.load(&id).expect("load").expect("exists");
    assert_eq!(cahier_doc::read(&loaded.doc, None).0.body, "a0123456789");
    assert_eq!(loaded.doc.get_changes_meta(&[]).len(), 11, "the whole history is kept");
    let list = store.list().expect("list");
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].title, "Écoles");
    assert_eq!(list[0].updated_ms, Some(T0 + 9));
    assert_eq!(store.find_slug("ecoles").expect("slug"), Some(id));
}

fn importing_the_same_slug_again_updates_the_page_as_a_new_change(backend: Backend) {
    let store = Place::new(backend).open();
    let (first, created) = store.upsert(&page("Guide", "v1\n"), &Editor::import(), T0).expect("import");
    assert!(created);
    let (second, created) = store.upsert(&page("Guide", "v1\nv2\n"), &Editor::import(), T0 + 1000).expect("import");
    assert!(!created);
    assert_eq!(first.id, second.id);
    assert_eq!(store.list().expect("list").len(), 1);
    let loaded = store.load(&first.id).expect("load").expect("exists");
    assert_eq!(cahier_doc::read(&loaded.doc, None).0.body, "v1\nv2\n");
    assert_eq!(loaded.doc.get_changes_meta(&[]).len(), 2);
}

fn renaming_a_slug_frees_the_old_one_and_never_steals_anothers(backend: Backend) {
    let store = Place::new(backend).open();
    let (mut a, _) = store.upsert(&page("Alpha", ""), &Editor::new("x"), T0).expect("a");
    let (b, _) = store.upsert(&page("Beta", ""), &Editor::new("x"), T0).expect("b");
    let mut view = cahier_doc::read(&a.doc, None).0;
    view.slug = "gamma".into();
    cahier_doc::apply_view(&mut a.doc, &view, &Editor::new("x"), T0, "rename").expect("rename");
    store.save(&mut a).expect("save");
    assert_eq!(store.find_slug("alpha").expect("find"), None);
    assert_eq!(store.find_slug("gamma").expect("find"), Some(a.id.clone()));
    view.slug = "beta".into();
    cahier_doc::apply_view(&mut a.doc, &view, &Editor::new("x"), T0, "clash").expect("clash");
    store.save(&mut a).expect("save");
    assert_eq!(store.find_slug("beta").expect("find"), Some(b.id), "Beta keeps its slug");
}

#[test]
fn a_folder_with_other_files_is_refused_not_overwritten() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("notes.txt"), "mine").expect("write");
    for open in [Store::open_sled, Store::open_redb] {
        let err = open(dir.path()).err().expect("refused");
        let msg = err.to_string();
        assert!(msg.contains("not empty and holds no Cahier store"), "{msg}");
    }
    assert_eq!(std::fs::read_to_string(dir.path().join("notes.txt")).expect("read"), "mine");
}

/// A redb store whose creation was cut short (its file made, nothing in it
/// yet) is created again on the next start; one holding data without
/// Cahier's marker is refused.
#[test]
fn a_redb_store_cut_short_at_creation_opens_and_a_foreign_one_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join(cahier_store::REDB_FILE), b"").expect("write");
    let store = Store::open_redb(dir.path()).expect("an empty file is a store cut short");
    store.upsert(&page("Écoles", "a"), &Editor::new("x"), T0).expect("doc");
    drop(store);
    assert_eq!(Store::open_redb(dir.path()).expect("reopen").list().expect("list").len(), 1);
    let other = tempfile::tempdir().expect("tempdir");
    std::fs::write(other.path().join(cahier_store::REDB_FILE), b"not a database at all").expect("write");
    assert!(Store::open_redb(other.path()).is_err(), "a file that is not redb's is refused");
}

/// `--data DIR` opens whichever embedded store DIR holds, and makes a redb
/// store in a new folder; `redb:DIR` and `sled:DIR` choose, and refuse a
/// folder that holds the other.
#[test]
fn data_folder_opens_the_embedded_store_it_holds() {
    let dir = tempfile::tempdir().expect("tempdir");
    let redb_dir = dir.path().join("r");
    let sled_dir = dir.path().join("s");
    let id = {
        let store = Store::open(&format!("redb:{}", redb_dir.display())).expect("create redb");
        store.upsert(&page("Écoles", "a"), &Editor::new("x"), T0).expect("doc").0.id
    };
    assert!(redb_dir.join(cahier_store::REDB_FILE).exists());
    let store = Store::open(redb_dir.to_str().expect("utf-8")).expect("reopen as a folder");
    assert_eq!(store.find_slug("ecoles").expect("slug"), Some(id));
    let sled_id = {
        let store = Store::open(&format!("sled:{}", sled_dir.display())).expect("create sled");
        store.upsert(&page("Écoles", "b"), &Editor::new("x"), T0).expect("doc").0.id
    };
    // Reopened at once in this process: sled lets go of the lock a moment after the drop.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let reopened = loop {
        match Store::open(sled_dir.to_str().expect("utf-8")) {
            Err(StorageError::Locked { .. }) if std::time::Instant::now() < deadline => std::thread::yield_now(),
            other => break other.expect("reopen the sled folder"),
        }
    };
    assert!(!sled_dir.join(cahier_store::REDB_FILE).exists(), "the sled folder was opened as sled");
    assert_eq!(reopened.find_slug("ecoles").expect("slug"), Some(sled_id));
    drop(reopened);
    let err = Store::open(&format!("redb:{}", sled_dir.display())).err().expect("refused");
    assert!(err.to_string().contains("holds no Cahier store"), "{err}");
    let err = Store::open(&format!("sled:{}", redb_dir.display())).err().expect("refused");
    assert!(err.to_string().contains("holds no Cahier store"), "{err}");
    let new_dir = dir.path().join("n");
    drop(Store::open(new_dir.to_str().expect("utf-8")).expect("a new folder"));
    assert!(new_dir.join(cahier_store::REDB_FILE).exists(), "a new folder gets redb");
}

fn a_corrupt_chunk_is_an_error_not_an_empty_document(backend: Backend) {
    let store = Place::new(backend).open();
    let (mut loaded, _) = store.upsert(&page("Guide", "texte"), &Editor::new("x"), T0).expect("doc");
    append(&mut loaded, " suite", T0 + 1);
    let good = loaded.doc.save_after(loaded.saved_heads());
    let mut bad = good.clone();
    let mid = bad.len() / 2;
    bad[mid] ^= 0x55;
    store.backend().commit(vec![Write::Append { doc: loaded.id.clone(), kind: ChunkKind::Incremental, bytes: bad }]).expect("commit");
    match store.load(&loaded.id) {
        Err(StorageError::Corrupt { what, .. }) => assert!(what.contains(loaded.id.as_str())),
        Err(e) => panic!("unexpected error {e}"),
        Ok(_) => panic!("a corrupt document loaded"),
    }
}

fn a_failed_write_is_reported_and_the_change_stays_unsaved_until_it_succeeds(backend: Backend) {
    let place = Place::new(backend);
    match backend {
        Backend::Sled => failed_write(FaultyStorage::new(SledStorage::open(place.dir()).expect("open"))),
        Backend::Redb => failed_write(FaultyStorage::new(RedbStorage::open(place.dir()).expect("open"))),
        Backend::Postgres => failed_write(FaultyStorage::new(PostgresStorage::open(&place.data).expect("open"))),
    }
}

fn failed_write<S: Storage + 'static>(backend: FaultyStorage<S>) {
    let backend = Arc::new(backend);
    let store = Store::new(backend.clone());
    let (mut loaded, _) = store.upsert(&page("Guide", "a"), &Editor::new("x"), T0).expect("doc");
    backend.set_failing(true);
    append(&mut loaded, "b", T0 + 1);
    let err = store.save(&mut loaded).expect_err("disk full");
    assert!(err.to_string().contains("No space left"));
    assert!(!loaded.is_saved());
    backend.set_failing(false);
    assert!(store.save(&mut loaded).expect("save"));
    let again = store.load(&loaded.id).expect("load").expect("exists");
    assert_eq!(cahier_doc::read(&again.doc, None).0.body, "ab");
}

/// Whatever slug a writer puts in a document, the store gives it an address
/// of its own: a valid slug, never another document's.
fn every_document_gets_an_address_of_its_own_whatever_its_slug_says(backend: Backend) {
    let store = Place::new(backend).open();
    let long = "Une très longue réunion ".repeat(13);
    let cases: &[(cahier_doc::Kind, &str, &str, &str)] = &[
        (cahier_doc::Kind::Minutes, "", "", "compte-rendu"),
        (cahier_doc::Kind::Minutes, "", "", "compte-rendu-2"),
        (cahier_doc::Kind::Page, "beta", "Beta", "beta"),
        (cahier_doc::Kind::Page, "beta", "Autre", "beta-2"),
        (cahier_doc::Kind::Page, "../../../../etc/x", "Attaque", "attaque"),
        (cahier_doc::Kind::Page, "e\u{301}cole", "École ouverte", "ecole-ouverte"),
        (cahier_doc::Kind::Page, "Majuscules", "", "page"),
        (
            cahier_doc::Kind::Page,
            &long,
            &long,
            "une-tres-longue-reunion-une-tres-longue-reunion-une-tres-longue-reunion-une-tres-longue-reunion-une",
        ),
    ];
    let mut ids = Vec::new();
    for (kind, slug, title, address) in cases {
        let mut view =
            if *kind == cahier_doc::Kind::Minutes { cahier_doc::DocView::new_minutes(title) } else { cahier_doc::DocView::new_page(title) };
        view.slug = (*slug).to_owned();
        let doc = cahier_doc::new_document(&view, &Editor::new("x"), T0).expect("doc");
        let loaded = store.create(doc).expect("create");
        assert_eq!(store.address(&loaded.id).expect("address"), *address, "slug {slug:?}, title {title:?}");
        assert_eq!(store.find_slug(address).expect("find"), Some(loaded.id.clone()));
        ids.push(loaded);
    }
    // The first "beta" is renamed: its address follows, and the second keeps
    // its own (no page changes address under its readers' feet).
    let first_beta = &mut ids[2];
    let mut view = cahier_doc::read(&first_beta.doc, None).0;
    view.slug = "gamma".into();
    cahier_doc::apply_view(&mut first_beta.doc, &view, &Editor::new("x"), T0, "rename").expect("rename");
    store.save(first_beta).expect("save");
    assert_eq!(store.address(&ids[2].id).expect("address"), "gamma");
    assert_eq!(store.address(&ids[3].id).expect("address"), "beta-2");
    let listed: Vec<String> = store.list().expect("list").into_iter().map(|e| e.slug).collect();
    let mut unique = listed.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), listed.len(), "{listed:?}");
    assert!(listed.iter().all(|s| cahier_doc::schema::is_valid_slug(s)), "{listed:?}");
}

fn records_are_listed_by_prefix_in_key_order_whatever_their_characters(backend: Backend) {
    let store = Place::new(backend).open();
    let keys =
        ["acct/zoé", "acct/a\0b", "acct/", "acct0", "acc", "acct/\u{10ffff}", "audit/00000000000000000002", "audit/00000000000000000010"];
    store.put_records(keys.iter().map(|k| (k.to_string(), Some(k.as_bytes().to_vec()))).collect()).expect("put");
    let listed: Vec<String> = store
        .records("acct/")
        .expect("records")
        .into_iter()
        .map(|(k, v)| {
            assert_eq!(k.as_bytes(), &v[..]);
            k
        })
        .collect();
    assert_eq!(listed, ["acct/", "acct/a\0b", "acct/zoé", "acct/\u{10ffff}"]);
    assert_eq!(store.records("").expect("all").len(), keys.len());
    assert_eq!(store.records("audit/").expect("audit").len(), 2);
    assert_eq!(store.record("acct/a\0b").expect("record"), Some(b"acct/a\0b".to_vec()));
    store.put_records(vec![("acct/zoé".into(), None), ("acct/".into(), Some(b"new".to_vec()))]).expect("put");
    assert_eq!(store.record("acct/zoé").expect("record"), None);
    assert_eq!(store.record("acct/").expect("record"), Some(b"new".to_vec()));
    assert_eq!(store.records("acct/").expect("records").len(), 3);
}

/// A writer may put any character in a title, NUL included (which
/// PostgreSQL's text refuses): the change is stored and listed as written.
fn any_title_is_indexed_as_written(backend: Backend) {
    let place = Place::new(backend);
    let store = place.open();
    let (loaded, _) = store.upsert(&page("Nul\0 et \u{1F600}", "x"), &Editor::new("x"), T0).expect("stored");
    assert_eq!(store.list().expect("list")[0].title, "Nul\0 et \u{1F600}");
    assert_eq!(store.find_slug("a\0b").expect("find"), None);
    drop(store);
    let store = place.reopen();
    assert_eq!(cahier_doc::read(&store.load(&loaded.id).expect("load").expect("there").doc, None).0.title, "Nul\0 et \u{1F600}");
}

fn the_storage_id_stays_across_reopening(backend: Backend) {
    let place = Place::new(backend);
    let first = place.open().storage_id().expect("id");
    assert_eq!(first.len(), 32, "{first}");
    assert_eq!(place.reopen().storage_id().expect("id"), first);
    assert_ne!(Place::new(backend).open().storage_id().expect("id"), first, "each store has its own");
}

#[test]
fn a_database_url_is_shown_without_its_password() {
    for (data, shown) in [
        ("postgres://cahier:s3cret@db:5432/cahier", "postgres://cahier:***@db:5432/cahier"),
        ("postgres://cahier@db:5432/cahier", "postgres://cahier@db:5432/cahier"),
        ("postgresql:///cahier?host=/run/postgresql", "postgresql:///cahier?host=/run/postgresql"),
        ("./data", "./data"),
    ] {
        assert_eq!(Store::describe(data), shown);
    }
}

#[test]
fn an_unreachable_database_is_an_error_at_open() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port();
    let url = format!("postgres://cahier:s3cret@127.0.0.1:{port}/cahier");
    let msg = Store::open(&url).err().expect("refused").to_string();
    assert!(msg.contains("cannot open the store at postgres://cahier:***@127.0.0.1"), "{msg}");
    assert!(!msg.contains("s3cret"), "{msg}");
}

#[test]
fn a_database_holding_a_foreign_cahier_schema_is_refused() {
    let cluster = cahier_testpg::cluster();
    let url = cluster.database();
    cluster.sql(
        cahier_testpg::database_name(&url),
        "CREATE SCHEMA cahier; CREATE TABLE cahier.notes (x text); INSERT INTO cahier.notes VALUES ('mine')",
    );
    let msg = Store::open(&url).err().expect("refused").to_string();
    assert!(msg.contains("a schema \"cahier\" that Cahier did not create"), "{msg}");
    assert_eq!(cluster.sql(cahier_testpg::database_name(&url), "SELECT x FROM cahier.notes"), "mine");
}

#[test]
fn migrations_are_applied_once_and_a_newer_schema_is_refused() {
    let cluster = cahier_testpg::cluster();
    let url = cluster.database();
    let db = cahier_testpg::database_name(&url);
    // Nodes starting together: each migration is applied once.
    let opened: Vec<_> = (0..4)
        .map(|_| {
            let url = url.clone();
            std::thread::spawn(move || Store::open(&url).map(|s| s.storage_id()))
        })
        .collect();
    let ids: Vec<String> = opened.into_iter().map(|t| t.join().expect("thread").expect("open").expect("id")).collect();
    assert!(ids.iter().all(|id| *id == ids[0]), "{ids:?}");
    assert_eq!(cluster.sql(db, "SELECT string_agg(version::text, ',' ORDER BY version) FROM cahier.migrations"), "1,2");
    cluster.sql(db, "INSERT INTO cahier.migrations (version) VALUES (99)");
    let msg = Store::open(&url).err().expect("refused").to_string();
    assert!(msg.contains("schema version 99; this Cahier knows up to version 2"), "{msg}");
}

/// PostgreSQL restarts or an administrator ends the sessions: the next calls
/// open new connections. While the database refuses connections, calls are
/// errors (never panics, never hangs), and it works again by itself.
#[test]
fn lost_connections_are_errors_then_reopened() {
    let cluster = cahier_testpg::cluster();
    let url = cluster.database();
    let db = cahier_testpg::database_name(&url);
    let store = Store::open(&url).expect("open");
    let (mut loaded, _) = store.upsert(&page("Guide", "a"), &Editor::new("x"), T0).expect("doc");
    let terminate =
        format!("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = '{db}' AND pid <> pg_backend_pid()");
    cluster.sql("postgres", &terminate);
    // A connection found closed before anything of a request was sent is replaced at once.
    append(&mut loaded, "b", T0 + 1);
    assert!(store.save(&mut loaded).expect("saved on a new connection"));
    assert_eq!(store.list().expect("list").len(), 1);

    cluster.sql("postgres", &format!("ALTER DATABASE {db} ALLOW_CONNECTIONS false"));
    cluster.sql("postgres", &terminate);
    append(&mut loaded, "c", T0 + 2);
    let err = store.save(&mut loaded).expect_err("no connection");
    assert!(err.to_string().contains("PostgreSQL"), "{err}");
    assert!(!loaded.is_saved());
    assert!(store.list().is_err());

    cluster.sql("postgres", &format!("ALTER DATABASE {db} ALLOW_CONNECTIONS true"));
    assert!(store.save(&mut loaded).expect("saved once the database is back"));
    let again = Store::open(&url).expect("open").load(&loaded.id).expect("load").expect("there");
    assert_eq!(cahier_doc::read(&again.doc, None).0.body, "abc");
}

/// A commit whose connection is lost midway (the server ends the session
/// inside the transaction, which rolls back) is run once more on a new
/// connection: the caller is told it is stored, and it is, once.
#[test]
fn a_commit_whose_connection_is_lost_midway_is_run_again_on_a_new_one() {
    let cluster = cahier_testpg::cluster();
    let url = cluster.database();
    let db = cahier_testpg::database_name(&url);
    let store = Store::open(&url).expect("open");
    let (mut loaded, _) = store.upsert(&page("Guide", "a"), &Editor::new("x"), T0).expect("doc");
    // The next chunk stored ends its own session, once.
    cluster.sql(
        db,
        "CREATE SEQUENCE public.cuts;
         CREATE FUNCTION public.cut() RETURNS trigger LANGUAGE plpgsql AS $$
         BEGIN
             IF nextval('public.cuts') = 1 THEN PERFORM pg_terminate_backend(pg_backend_pid()); END IF;
             RETURN NEW;
         END $$;
         CREATE TRIGGER cut BEFORE INSERT ON cahier.changes FOR EACH ROW EXECUTE FUNCTION public.cut()",
    );
    let rows = cluster.sql(db, "SELECT count(*) FROM cahier.changes");
    append(&mut loaded, "b", T0 + 1);
    assert!(store.save(&mut loaded).expect("stored on a new connection"));
    assert_eq!(cluster.sql(db, "SELECT last_value FROM public.cuts"), "2", "cut once, then run again");
    let rows: i64 = rows.parse().expect("a count");
    assert_eq!(cluster.sql(db, "SELECT count(*) FROM cahier.changes"), (rows + 1).to_string(), "stored once");
    let again = Store::open(&url).expect("open").load(&loaded.id).expect("load").expect("there");
    assert_eq!(cahier_doc::read(&again.doc, None).0.body, "ab");
}

/// Two stores (two nodes) on one database: what one stores, the other loads;
/// chunk keys grow across both.
#[test]
fn two_stores_on_one_database_share_documents_and_keys() {
    let url = cahier_testpg::cluster().database();
    let (a, b) = (Store::open(&url).expect("a"), Store::open(&url).expect("b"));
    let (mut doc, _) = a.upsert(&page("Partagé", "a"), &Editor::new("x"), T0).expect("doc");
    append(&mut doc, "b", T0 + 1);
    a.save(&mut doc).expect("save");
    let mut from_b = b.load(&doc.id).expect("load").expect("b sees it");
    assert_eq!(cahier_doc::read(&from_b.doc, None).0.body, "ab");
    assert_eq!(b.find_slug("partage").expect("slug"), Some(doc.id.clone()));
    append(&mut from_b, "c", T0 + 2);
    b.save(&mut from_b).expect("save on b");
    assert_eq!(cahier_doc::read(&a.load(&doc.id).expect("load").expect("there").doc, None).0.body, "abc");
    let (ka, kb, ka2) = (a.backend().next_key().expect("key"), b.backend().next_key().expect("key"), a.backend().next_key().expect("key"));
    assert!(ka < kb && kb < ka2, "{ka} {kb} {ka2}");
    assert_eq!(a.storage_id().expect("id"), b.storage_id().expect("id"));
}

/// The watch says when it listens, at first and again after its connection
/// was lost, so that a node reads its documents again rather than trusting
/// announcements it could not hear; another node's change announced while it
/// listens comes through as a chunk it can read.
#[test]
fn the_watch_says_when_it_listens_again_after_its_connection_was_lost() {
    use cahier_store::Watched;
    let cluster = cahier_testpg::cluster();
    let url = cluster.database();
    let db = cahier_testpg::database_name(&url);
    let here = Store::open(&url).expect("open");
    let other = Store::open(&url).expect("open another node");
    let watch = here.watch().expect("PostgreSQL announces changes");
    let next = || watch.recv_timeout(std::time::Duration::from_secs(20)).expect("the watch reports within 20 s");
    assert_eq!(next(), Watched::Missed, "listening from the start");
    let (loaded, _) = other.upsert(&page("Guide", "a"), &Editor::new("x"), T0).expect("doc");
    match next() {
        Watched::Appended(a) => {
            assert_eq!(a.doc, loaded.id);
            assert!(here.load_chunk(&a.doc, a.key).expect("read").is_some(), "the announced chunk is there");
        }
        other => panic!("expected the other node's chunk, got {other:?}"),
    }
    let listening = "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = 'cahier-listen'";
    assert_ne!(cluster.sql(db, &format!("{listening} AND datname = '{db}'")), "0", "the watch's connection was there");
    assert_eq!(next(), Watched::Missed, "listening again after the connection was lost");
}

/// A batch of changes sent again (a node that could not tell whether its
/// commit went through sends it again; another node may hold the same) is
/// stored once: the same key, not one row nor one byte more, the document's
/// count unchanged.
#[test]
fn a_batch_of_changes_sent_again_is_stored_once_under_its_first_key() {
    let cluster = cahier_testpg::cluster();
    let url = cluster.database();
    let db = cahier_testpg::database_name(&url);
    let store = Store::open(&url).expect("open");
    let (mut loaded, _) = store.upsert(&page("Guide", "a"), &Editor::new("x"), T0).expect("doc");
    append(&mut loaded, "b", T0 + 1);
    let batch = loaded.doc.save_after(loaded.saved_heads());
    let write = || vec![Write::Append { doc: loaded.id.clone(), kind: ChunkKind::Incremental, bytes: batch.clone() }];
    let first = store.backend().commit(write()).expect("stored");
    let rows = || cluster.sql(db, "SELECT count(*) || ' rows, ' || sum(length(bytes)) || ' bytes' FROM cahier.changes");
    let counters = || cluster.sql(db, "SELECT string_agg(doc_id || '=' || seq, ',') FROM cahier.doc_seqs");
    let (stored, counted) = (rows(), counters());
    let again = store.backend().commit(write()).expect("sent again");
    let other = Store::open(&url).expect("another node");
    let from_other = other.backend().commit(write()).expect("sent by another node");
    assert_eq!((&again, &from_other), (&first, &first), "the key it was stored under");
    assert_eq!(rows(), stored, "nothing stored twice");
    assert_eq!(counters(), counted, "nothing numbered twice");
    let back = other.load(&loaded.id).expect("load").expect("there");
    assert_eq!(cahier_doc::read(&back.doc, None).0.body, "ab");
    assert_eq!(back.doc.get_changes(&[]).len(), loaded.doc.get_changes(&[]).len());
}

/// Three nodes write one document at once. Its chunks are numbered 1, 2, 3…
/// in the order they commit, so a node that follows the document by key
/// (reading the chunks past the last it holds, as nodes do when they catch
/// up) never passes over one that commits after it read: it ends with
/// exactly what is stored.
#[test]
fn a_node_following_a_document_by_key_misses_nothing_concurrent_writers_commit() {
    let url = cahier_testpg::cluster().database();
    let first = Store::open(&url).expect("open");
    let (loaded, _) = first.upsert(&page("Partagé", ""), &Editor::new("x"), T0).expect("doc");
    let id = loaded.id.clone();
    let writers: Vec<_> = ["a", "b", "c"]
        .into_iter()
        .map(|who| {
            let (url, id) = (url.clone(), id.clone());
            std::thread::spawn(move || {
                // No compaction: each chunk holds only its own change, so one
                // passed over is missed for good.
                let store = Store::open(&url).expect("open").with_compact_after(1000);
                let mut mine = store.load(&id).expect("load").expect("there");
                for i in 0..30 {
                    append(&mut mine, &format!("{who}{i} "), T0 + i);
                    store.save(&mut mine).expect("save");
                }
            })
        })
        .collect();
    let reader = Store::open(&url).expect("the following node");
    let mut followed = cahier_doc::empty();
    let mut last = 0;
    loop {
        let done = writers.iter().all(|w| w.is_finished());
        for chunk in reader.backend().load_since(&id, last).expect("read") {
            assert!(chunk.key > last, "{} after {last}", chunk.key);
            followed.load_incremental(&chunk.bytes).expect("load");
            last = chunk.key;
        }
        if done {
            break;
        }
        std::thread::yield_now();
    }
    for w in writers {
        w.join().expect("writer");
    }
    let stored = reader.load(&id).expect("load").expect("there");
    let keys: Vec<u64> = reader.backend().load(&id).expect("load").expect("there").iter().map(|c| c.key).collect();
    assert_eq!(keys, (1..=91).collect::<Vec<u64>>(), "numbered in commit order, without gaps");
    assert_eq!(followed.get_changes(&[]).len(), stored.doc.get_changes(&[]).len(), "every change committed was followed");
    let mut heads = (followed.get_heads(), stored.doc.get_heads());
    heads.0.sort();
    heads.1.sort();
    assert_eq!(heads.0, heads.1);
}

/// A node compacts a document while another node stores a change to it that
/// the first has not read: the snapshot removes only the chunks it covers
/// (those its node loaded or wrote), so the other node's change stays.
#[test]
fn a_compaction_on_one_node_keeps_the_change_another_node_stored_meanwhile() {
    let url = cahier_testpg::cluster().database();
    let a = Store::open(&url).expect("a").with_compact_after(3);
    let b = Store::open(&url).expect("b");
    let (mut on_a, _) = a.upsert(&page("Partagé", "a"), &Editor::new("x"), T0).expect("doc");
    let mut on_b = b.load(&on_a.id).expect("load").expect("there");
    append(&mut on_b, "B", T0 + 1);
    b.save(&mut on_b).expect("b stores its change");
    for (n, text) in ["1", "2", "3", "4"].iter().enumerate() {
        append(&mut on_a, text, T0 + 2 + n as i64);
        a.save(&mut on_a).expect("a stores, then compacts");
    }
    let chunks = a.backend().load(&on_a.id).expect("load").expect("there");
    assert!(chunks.iter().any(|c| c.kind == ChunkKind::Snapshot) && chunks.len() < 5, "a compacted: {chunks:?}");
    let back = Store::open(&url).expect("open").load(&on_a.id).expect("load").expect("there");
    let body = cahier_doc::read(&back.doc, None).0.body;
    assert!(body.contains('B') && body.contains("1234"), "{body:?}");
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A database a Cahier of schema version 1 wrote (chunk keys from one
/// sequence for every document, interleaved; one batch stored twice, sent
/// again) is upgraded at open: each document's chunks numbered 1, 2, … in
/// their old order, the copy sent again stored once, every document loading
/// with its whole history, and new chunks numbered after.
#[test]
fn a_database_of_schema_version_1_is_upgraded_with_every_document_and_its_history() {
    let cluster = cahier_testpg::cluster();
    let url = cluster.database();
    let db = cahier_testpg::database_name(&url);
    PostgresStorage::create_schema_version(&url, 1).expect("schema version 1");
    let editor = Editor::new("x");
    let mut docs = Vec::new();
    for title in ["Écoles", "Cantine"] {
        let mut doc = cahier_doc::new_document(&page(title, "a"), &editor, T0).expect("doc");
        let mut chunks = vec![("snapshot", doc.save())];
        for text in ["b", "c"] {
            let heads = doc.get_heads();
            let (mut view, _) = cahier_doc::read(&doc, None);
            view.body.push_str(text);
            cahier_doc::apply_view(&mut doc, &view, &editor, T0 + 1, "edit").expect("edit");
            chunks.push(("incremental", doc.save_after(&heads)));
        }
        let mut id = [0u8; 16];
        id[0] = docs.len() as u8 + 1;
        docs.push((cahier_doc::DocId::from_random(id), doc, chunks));
    }
    let insert = |n: usize, chunk: usize| {
        let (id, _, chunks) = &docs[n];
        let (kind, bytes) = &chunks[chunk];
        cluster.sql(
            db,
            &format!(
                "INSERT INTO cahier.chunks (doc_id, key, kind, bytes) VALUES ('{id}', nextval('cahier.chunk_keys'), '{kind}', '\\x{}')",
                hex(bytes)
            ),
        );
    };
    for (n, chunk) in [(0, 0), (1, 0), (0, 1), (1, 1), (0, 1), (1, 2), (0, 2)] {
        insert(n, chunk);
    }

    let store = Store::open(&url).expect("upgraded");
    assert_eq!(cluster.sql(db, "SELECT string_agg(version::text, ',' ORDER BY version) FROM cahier.migrations"), "1,2");
    for (id, doc, chunks) in &docs {
        let stored = store.backend().load(id).expect("load").expect("there");
        let got: Vec<(u64, Vec<u8>)> = stored.into_iter().map(|c| (c.key, c.bytes)).collect();
        let want: Vec<(u64, Vec<u8>)> = chunks.iter().enumerate().map(|(n, (_, b))| (n as u64 + 1, b.clone())).collect();
        assert_eq!(got, want, "numbered in their old order, once each");
        let loaded = store.load(id).expect("load").expect("there");
        assert_eq!(cahier_doc::read(&loaded.doc, None).0.body, "abc");
        assert_eq!(loaded.doc.get_heads(), doc.get_heads());
    }
    let mut loaded = store.load(&docs[0].0).expect("load").expect("there");
    append(&mut loaded, "d", T0 + 5);
    store.save(&mut loaded).expect("save");
    let keys: Vec<u64> = store.backend().load(&docs[0].0).expect("load").expect("there").iter().map(|c| c.key).collect();
    assert_eq!(keys, [1, 2, 3, 4]);
}

/// `migrate` copies a sled store into a new redb one: every document with its
/// whole history (same heads, same changes), its address, and every record;
/// and refuses a target that already holds something.
#[test]
fn a_sled_store_migrates_into_redb_with_every_document_heads_and_record() {
    let dir = tempfile::tempdir().expect("tempdir");
    let from = Store::open(&format!("sled:{}", dir.path().join("s").display())).expect("sled").with_compact_after(3);
    let mut ids = Vec::new();
    for (n, title) in ["Écoles", "Cantine", "Budget"].iter().enumerate() {
        let (mut loaded, _) = from.upsert(&page(title, "a"), &Editor::new("x"), T0).expect("doc");
        for i in 0..(2 + 3 * n as i64) {
            append(&mut loaded, &i.to_string(), T0 + i);
            from.save(&mut loaded).expect("save");
        }
        ids.push((loaded.id.clone(), loaded.doc.get_heads(), loaded.doc.get_changes(&[]).len()));
    }
    from.put_records(vec![("account/camille".into(), Some(b"c".to_vec())), ("invite/1".into(), Some(b"i".to_vec()))]).expect("records");
    let to = Store::open(&format!("redb:{}", dir.path().join("r").display())).expect("redb");
    let done = cahier_store::migrate(&from, &to, &mut |_| {}).expect("migrate");
    assert_eq!((done.documents, done.records), (3, 2));
    drop(to);
    let to = Store::open(dir.path().join("r").to_str().expect("utf-8")).expect("reopen redb");
    for (id, heads, changes) in &ids {
        let loaded = to.load(id).expect("load").expect("there");
        assert_eq!(&loaded.doc.get_heads(), heads);
        assert_eq!(loaded.doc.get_changes(&[]).len(), *changes, "the whole history came over");
    }
    assert_eq!(to.find_slug("cantine").expect("slug"), Some(ids[1].0.clone()));
    assert_eq!(to.list().expect("list").len(), 3);
    assert_eq!(to.record("invite/1").expect("record"), Some(b"i".to_vec()));
    let err = cahier_store::migrate(&from, &to, &mut |_| {}).expect_err("a full target is refused");
    assert!(err.to_string().contains("not empty"), "{err}");
}

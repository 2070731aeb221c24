//! Store tests on real sled files in temporary folders.

use std::sync::Arc;

use cahier_doc::{DocView, Editor};
use cahier_store::{ChunkKind, FaultyStorage, SledStorage, StorageError, Store, Write};

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

#[test]
fn documents_survive_reopening_with_every_change_and_their_index() {
    let dir = tempfile::tempdir().expect("tempdir");
    let id = {
        let store = Store::open_sled(dir.path()).expect("open").with_compact_after(4);
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
    // Reopened at once in this process: sled lets go of the lock a moment after the drop.
    let store = Store::open_sled_waiting(dir.path(), std::time::Duration::from_secs(10)).expect("reopen");
    let loaded = store.load(&id).expect("load").expect("exists");
    assert_eq!(cahier_doc::read(&loaded.doc, None).0.body, "a0123456789");
    assert_eq!(loaded.doc.get_changes_meta(&[]).len(), 11, "the whole history is kept");
    let list = store.list().expect("list");
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].title, "Écoles");
    assert_eq!(list[0].updated_ms, Some(T0 + 9));
    assert_eq!(store.find_slug("ecoles").expect("slug"), Some(id));
}

#[test]
fn importing_the_same_slug_again_updates_the_page_as_a_new_change() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open_sled(dir.path()).expect("open");
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

#[test]
fn renaming_a_slug_frees_the_old_one_and_never_steals_anothers() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open_sled(dir.path()).expect("open");
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
    let err = Store::open_sled(dir.path()).err().expect("refused");
    let msg = err.to_string();
    assert!(msg.contains("not empty and holds no Cahier store"), "{msg}");
    assert_eq!(std::fs::read_to_string(dir.path().join("notes.txt")).expect("read"), "mine");
}

#[test]
fn a_corrupt_chunk_is_an_error_not_an_empty_document() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open_sled(dir.path()).expect("open");
    let (mut loaded, _) = store.upsert(&page("Guide", "texte"), &Editor::new("x"), T0).expect("doc");
    append(&mut loaded, " suite", T0 + 1);
    let good = loaded.doc.save_after(loaded.saved_heads());
    let mut bad = good.clone();
    let mid = bad.len() / 2;
    bad[mid] ^= 0x55;
    let key = store.backend().next_key().expect("key");
    store.backend().commit(vec![Write::Append { doc: loaded.id.clone(), key, kind: ChunkKind::Incremental, bytes: bad }]).expect("commit");
    match store.load(&loaded.id) {
        Err(StorageError::Corrupt { what, .. }) => assert!(what.contains(loaded.id.as_str())),
        Err(e) => panic!("unexpected error {e}"),
        Ok(_) => panic!("a corrupt document loaded"),
    }
}

#[test]
fn a_failed_write_is_reported_and_the_change_stays_unsaved_until_it_succeeds() {
    let dir = tempfile::tempdir().expect("tempdir");
    let backend = Arc::new(FaultyStorage::new(SledStorage::open(dir.path()).expect("open")));
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
#[test]
fn every_document_gets_an_address_of_its_own_whatever_its_slug_says() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open_sled(dir.path()).expect("open");
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

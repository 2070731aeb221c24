//! The web editor in a real browser: Debian's Chromium, driven by playwright-core
//! (`web/tests/browser.mjs`; `web/tests/upload.mjs` for images; `web/tests/wiki.mjs`
//! for the wiki's maintainer and reader; `web/tests/english.mjs` for the
//! interface in English; `web/tests/early.mjs` for typing before Automerge
//! has loaded), against a real
//! server on loopback. The scripts check what people see; this side checks what
//! the server stored.

use std::path::PathBuf;
use std::process::Stdio;

use cahier_auth::Role;
use cahier_server::ServerConfig;

use crate::TestServer;
use crate::files::{GPS_LATITUDE, contains, photo_with_gps};

fn web_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../web");
    assert!(
        dir.join("dist/index.html").exists() && dir.join("node_modules/playwright-core").exists(),
        "the web editor is not built or its test packages are missing: run the README's test command (scripts/test)"
    );
    assert!(
        std::path::Path::new("/usr/bin/chromium").exists(),
        "Debian's Chromium is missing: the README's test command installs it (apt-get install chromium)"
    );
    dir
}

/// Runs the browser script `script` with `args` under Node, failing the test
/// with its output unless it succeeds within `seconds`; its last line of
/// output is its result, as JSON.
pub(crate) async fn run_node(script: &std::path::Path, args: &[&std::ffi::OsStr], seconds: u64) -> serde_json::Value {
    let run = tokio::process::Command::new("node").arg(script).args(args).stdin(Stdio::null()).kill_on_drop(true).output();
    let out = tokio::time::timeout(std::time::Duration::from_secs(seconds), run)
        .await
        .unwrap_or_else(|_| panic!("{} finishes within {seconds} s", script.display()))
        .expect("run node");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{} failed:\n{stdout}\n{}", script.display(), String::from_utf8_lossy(&out.stderr));
    serde_json::from_str(stdout.lines().last().unwrap_or("")).expect("a JSON result line")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_people_edit_minutes_live_offline_and_by_keyboard_in_chromium() {
    let web = web_dir();
    let tmp = tempfile::tempdir().expect("tmp");
    let data = tmp.path().join("data");
    {
        let store = crate::open_store(&data);
        crate::token_in(&store, "camille", Role::Maintainer);
        crate::token_in(&store, "lea", Role::Editor);
        // A published page made of every payload of the injection corpus, raw
        // and inside links and images, for the browser to load.
        let corpus = web.join("../tests/js/node_modules/big-list-of-naughty-strings/blns.json");
        let all: Vec<String> =
            serde_json::from_str(&std::fs::read_to_string(&corpus).expect("the corpus (installed by scripts/test)")).expect("json");
        let mut body = String::new();
        for p in &all {
            body.push_str(&format!("{p}\n\n[lien]({p}) ![image]({p}) <{p}>\n\n"));
        }
        let mut page = cahier_doc::DocView::new_page("Injections");
        page.body = body;
        let id = store.upsert(&page, &cahier_doc::Editor::new("test"), 1).expect("page").0.id;
        cahier_app::publication::publish(&store, &id, "camille", 2).expect("publish");
    }
    let config = ServerConfig { web_dir: web.join("dist"), ..ServerConfig::default() };
    let server = TestServer::start(&data, config).await;
    let shots = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/screenshots/editor");
    let result = run_node(&web.join("tests/browser.mjs"), &[format!("http://{}", server.addr).as_ref(), shots.as_ref()], 240).await;
    server.stop().await;

    // What the browser showed as saved is in the store, with both people's words.
    let store = crate::open_store(&data);
    let id = cahier_doc::DocId::parse(result["docId"].as_str().expect("docId")).expect("a document id");
    let (doc, _) = store.load_record(&id).expect("load").expect("the minutes are stored");
    let (view, problems) = cahier_doc::read(&doc, None);
    assert!(problems.is_empty(), "the browser wrote the schema: {problems:?}");
    assert_eq!(view.title, "Webinaire du jeudi");
    for text in result["expect"].as_array().expect("expect") {
        assert!(view.body.contains(text.as_str().expect("text")), "{text} stored in {:?}", view.body);
    }
    let minutes = view.minutes.expect("minutes fields");
    assert_eq!(minutes.place, "En ligne");
    assert_eq!(minutes.facilitator, "Camille");
    assert_eq!(minutes.participants, ["Noé", "Zoé"]);
    // The decision two people typed at the same spot, each phrase whole (as their screens showed it).
    let decisions: Vec<String> = serde_json::from_value(result["decisions"].clone()).expect("decisions");
    assert_eq!(minutes.decisions, decisions);
    // Browser changes carry no author; the server bound each actor to its account.
    let credits = cahier_app::auth_store::credits(&store, &doc, None).expect("credits");
    for who in ["camille", "lea", "Zed l’invité"] {
        assert!(
            credits.contains(&who.to_owned()),
            "{who} credited: {credits:?}; actors: {:?}",
            cahier_app::auth_store::actor_names(&store).expect("actors")
        );
    }
    assert!(!credits.contains(&"Yasmine".to_owned()), "a viewer wrote nothing: {credits:?}");
}

/// The timeslider and a crowded "Présents" in real Chromium
/// (`web/tests/timeslider.mjs`): Camille writes, Léa writes later; the slider
/// (by keyboard, and by touch at 390 px) shows the notes of each moment with
/// who wrote them and when; the first writer's moment is copied and restored,
/// and the other browser gets it back. Eleven more people (real automerge-repo
/// clients in Node, each an account of its own) and a guest join: "Présents"
/// folds into a count, opens on demand, and says the guest is one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_timeslider_goes_back_in_time_and_a_crowd_stays_one_line_in_chromium() {
    let web = web_dir();
    let tmp = tempfile::tempdir().expect("tmp");
    let data = tmp.path().join("data");
    let crowd: Vec<(String, String)> = {
        let store = crate::open_store(&data);
        crate::token_in(&store, "camille", Role::Maintainer);
        crate::token_in(&store, "lea", Role::Editor);
        (1..=11).map(|i| format!("personne{i:02}")).map(|name| (crate::token_in(&store, &name, Role::Editor), name)).collect()
    };
    let config = ServerConfig { web_dir: web.join("dist"), ..ServerConfig::default() };
    let server = TestServer::start(&data, config).await;
    let shots = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/screenshots/timeslider");
    let crowd_json =
        serde_json::to_string(&crowd.iter().map(|(token, name)| serde_json::json!({ "token": token, "name": name })).collect::<Vec<_>>())
            .expect("json");
    let result = run_node(
        &web.join("tests/timeslider.mjs"),
        &[format!("http://{}", server.addr).as_ref(), shots.as_ref(), crowd_json.as_ref()],
        240,
    )
    .await;
    server.stop().await;

    // The restored notes are the first writer's, stored, and the history
    // still holds what was replaced (a restore is one more change).
    let store = crate::open_store(&data);
    let id = cahier_doc::DocId::parse(result["docId"].as_str().expect("docId")).expect("a document id");
    let (doc, _) = store.load_record(&id).expect("load").expect("the minutes are stored");
    let (view, _) = cahier_doc::read(&doc, None);
    let restored = result["restored"].as_str().expect("restored");
    let replaced = result["replaced"].as_str().expect("replaced");
    assert!(view.body.starts_with(restored) && !view.body.contains(replaced), "the restored notes are stored: {:?}", view.body);
    let versions = cahier_doc::history::versions(&doc);
    assert!(
        versions.iter().any(|v| cahier_doc::history::view_at(&doc, &[v.hash]).0.body.contains(replaced)),
        "the replaced text stays in the history"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_photo_added_in_the_editor_is_stored_without_its_position_and_an_svg_is_refused_in_chromium() {
    let web = web_dir();
    let tmp = tempfile::tempdir().expect("tmp");
    let data = tmp.path().join("data");
    let id = {
        let store = crate::open_store(&data);
        crate::token_in(&store, "camille", Role::Maintainer);
        store.upsert(&cahier_doc::DocView::new_page("Classe dehors"), &cahier_doc::Editor::new("test"), 1).expect("page").0.id
    };
    let photo = tmp.path().join("cour.jpg");
    let jpeg = photo_with_gps(1100, 700);
    assert!(contains(&jpeg, &GPS_LATITUDE));
    std::fs::write(&photo, &jpeg).expect("write the photo");
    let svg = tmp.path().join("dessin.svg");
    std::fs::write(&svg, "<svg xmlns=\"http://www.w3.org/2000/svg\"><script>alert(1)</script></svg>").expect("write the svg");
    let config = ServerConfig { web_dir: web.join("dist"), ..ServerConfig::default() };
    let server = TestServer::start(&data, config).await;
    let shots = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/screenshots/editor");
    let result = run_node(
        &web.join("tests/upload.mjs"),
        &[format!("http://{}", server.addr).as_ref(), shots.as_ref(), id.as_str().as_ref(), photo.as_ref(), svg.as_ref()],
        120,
    )
    .await;
    server.stop().await;

    // The page's text names the photo; the photo's stored bytes carry no position.
    let store = crate::open_store(&data);
    let (doc, _) = store.load_record(&id).expect("load").expect("stored");
    let (view, _) = cahier_doc::read(&doc, None);
    let path = result["photo"].as_str().expect("the photo's address");
    assert!(view.body.contains(&format!("![cour]({path})")), "{:?}", view.body);
    let hash = path.trim_start_matches("/files/").trim_end_matches(".jpg");
    let stored = cahier_app::files::data(&store, hash, None).expect("read").expect("the photo is stored");
    assert!(cahier_app::media::metadata(&stored).is_empty());
    assert!(!contains(&stored, &GPS_LATITUDE), "no GPS position");
    assert_eq!(cahier_app::files::list(&store).expect("list").len(), 2, "the photo and the pasted picture; not the SVG");
}

/// What a maintainer and a reader meet in the wiki (`web/tests/wiki.mjs`,
/// screenshots in `tests/screenshots/wiki`): a template chosen under
/// "Nouvelle page", a published page edited and republished in one click,
/// its history, the same page and history on a 390 px phone, a deletion
/// asked first and undone; the page's photo deleted from the list of files.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_maintainer_and_a_reader_walk_through_the_wiki_in_chromium() {
    let web = web_dir();
    let tmp = tempfile::tempdir().expect("tmp");
    let data = tmp.path().join("data");
    let (page, template) = {
        let store = crate::open_store(&data);
        crate::token_in(&store, "camille", Role::Maintainer);
        let mut p = cahier_doc::DocView::new_page("Le jardin");
        let page = store.upsert(&p, &cahier_doc::Editor::new("léa"), 1).expect("page").0.id;
        let limits = cahier_app::files::FileLimits::default();
        let photo = cahier_app::files::upload(&store, &page, &photo_with_gps(600, 400), "léa", 1, &limits).expect("a photo");
        p.body = format!("Les tomates poussent contre le mur du préau.\n\n![Le mur]({})\n", photo.path());
        store.upsert(&p, &cahier_doc::Editor::new("léa"), 1).expect("page");
        cahier_app::publication::publish(&store, &page, "camille", 2).expect("publish");
        let mut t = cahier_doc::DocView::new_page("Fiche d’atelier");
        t.body = "## Objectif\n\n## Matériel\n".into();
        t.tags = vec!["atelier".into()];
        let template = store.upsert(&t, &cahier_doc::Editor::new("léa"), 1).expect("template").0.id;
        (page, template)
    };
    let config = ServerConfig { web_dir: web.join("dist"), ..ServerConfig::default() };
    let server = TestServer::start(&data, config).await;
    let shots = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/screenshots/wiki");
    let result = run_node(
        &web.join("tests/wiki.mjs"),
        &[
            format!("http://{}", server.addr).as_ref(),
            shots.as_ref(),
            page.as_str().as_ref(),
            "le-jardin".as_ref(),
            template.as_str().as_ref(),
        ],
        240,
    )
    .await;
    server.stop().await;

    let store = crate::open_store(&data);
    // The page made from the template has its text, credited to its author.
    let made = cahier_doc::DocId::parse(result["made"].as_str().expect("made")).expect("a document id");
    let (doc, _) = store.load_record(&made).expect("load").expect("stored");
    let (view, _) = cahier_doc::read(&doc, None);
    assert_eq!((view.title.as_str(), view.body.as_str()), ("Atelier vélo", "## Objectif\n\n## Matériel\n"));
    assert_eq!(cahier_app::auth_store::credits(&store, &doc, None).expect("credits"), ["léa"]);
    // The published version is the edited one, published again after the undo.
    let p = cahier_app::publication::publication(&store, &page).expect("read").expect("published again");
    let shown = cahier_app::publication::published_page(&store, &page, &p).expect("read").expect("shown");
    assert!(shown.body.contains("Les enfants arrosent le potager le mardi."), "{:?}", shown.body);
    assert!(!cahier_app::publication::is_deleted(&store, &page).expect("read"));
    let actions: Vec<String> = cahier_app::auth_store::audit_log(&store).expect("audit").into_iter().map(|e| e.action).collect();
    assert!(cahier_app::files::list(&store).expect("files").is_empty(), "the photo is deleted");
    for done in ["template marked", "page made from a template", "published", "deleted", "undeleted", "file deleted"] {
        assert!(actions.iter().any(|a| a == done), "{done} in {actions:?}");
    }
    for shot in
        ["02-new-page-choices", "04-unpublished-changes", "06-history", "08-reader-page-390", "11-deleted-undo-offered", "15-file-deleted"]
    {
        assert!(shots.join(format!("{shot}.png")).exists(), "{shot}.png");
    }
}

/// Comments in real Chromium (`web/tests/comments.mjs`): Camille (wide
/// screen) comments a passage; Léa (390 px) sees it live under Camille's
/// name, types before and inside the passage, and Camille's highlight
/// follows it; Léa replies by keyboard and Camille sees the reply under her
/// name; axe-core finds nothing serious with a reply form open; a view-only
/// invite sees the comments and no button to change them; Léa resolves it,
/// the thread folds, Camille sees it resolved by Léa; the deleted passage
/// leaves the comment, "passage supprimé". On older minutes whose comments
/// have no thread yet, two first replies sent at once both show under their
/// writers; a draft reply stays while Camille replies to another comment.
/// Here: the store holds the comment and its reply as the schema says,
/// written by Camille's and Léa's accounts, and the older minutes' replies.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_comment_follows_its_passage_gets_a_reply_and_is_resolved_between_people_in_chromium() {
    let web = web_dir();
    let tmp = tempfile::tempdir().expect("tmp");
    let data = tmp.path().join("data");
    let (id, view_invite, old_id) = {
        let store = crate::open_store(&data);
        crate::token_in(&store, "camille", Role::Maintainer);
        crate::token_in(&store, "lea", Role::Editor);
        let old_id = old_minutes_with_rival_first_replies(&store);
        let mut view = cahier_doc::DocView::new_minutes("Conseil de l’école");
        view.body = "Nous avons décidé de repeindre la salle en bleu.\n\nProchaine réunion en mars.\n".to_owned();
        let id = store.upsert(&view, &cahier_doc::Editor::new("test"), 1).expect("minutes").0.id;
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64);
        let (_, secret) = cahier_app::auth_store::create_invite(&store, &id, false, "camille", None, [5; 8], [5; 32], now).expect("invite");
        (id, format!("/join/{secret}"), old_id)
    };
    let config = ServerConfig { web_dir: web.join("dist"), ..ServerConfig::default() };
    let server = TestServer::start(&data, config).await;
    let shots = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/screenshots/comments");
    let base = format!("http://{}", server.addr);
    let args = [base.as_ref(), shots.as_ref(), id.as_str().as_ref(), view_invite.as_ref(), old_id.as_str().as_ref()];
    let result = run_node(&web.join("tests/comments.mjs"), &args, 300).await;
    server.stop().await;

    let store = crate::open_store(&data);
    let (doc, _) = store.load_record(&id).expect("load").expect("the minutes are stored");
    let (view, problems) = cahier_doc::read(&doc, None);
    assert!(problems.is_empty(), "the browser wrote the schema: {problems:?}");
    assert!(view.body.starts_with("Hier, Nous avons décidé de  en bleu."), "{:?}", view.body);
    let (comments, _) = cahier_doc::comments::comments(&doc, None);
    let [c] = &comments[..] else { panic!("one comment stored: {comments:?}") };
    assert_eq!(Some(c.id.as_str()), result["id"].as_str());
    assert_eq!(c.text, "Quelle couleur exactement ?");
    assert!(!c.resolved, "reopened last");
    let [r] = &c.replies[..] else { panic!("one reply stored (the cancelled one never was): {:?}", c.replies) };
    assert_eq!(Some(r.text.as_str()), result["reply"].as_str());
    assert!(r.created_ms.is_some(), "the reply says when");
    assert_eq!(cahier_doc::comments::passage(&doc, None, c), Some(None), "its passage is gone");
    let names = cahier_app::auth_store::actor_identities(&store).expect("bindings");
    let writers = cahier_doc::comments::comment_writers(&doc, &|actor| names.get(actor).cloned());
    assert_eq!(writers[0].author, Some(cahier_doc::Writer::Bound("account:camille".into())), "written by Camille's account");
    assert_eq!(writers[0].replies, [(r.id.clone(), Some(cahier_doc::Writer::Bound("account:lea".into())))], "replied by Léa's account");

    // The older minutes: both rival first replies, and Camille's one reply (not her cancelled draft).
    let (doc, _) = store.load_record(&old_id).expect("load").expect("stored");
    let (comments, problems) = cahier_doc::comments::comments(&doc, None);
    assert!(problems.is_empty(), "{problems:?}");
    let thread = |i: usize| comments[i].replies.iter().map(|r| r.text.as_str()).collect::<Vec<_>>();
    assert_eq!(thread(0), ["Bleu", "Vert"]);
    assert_eq!(thread(1), ["Au rez-de-chaussée."]);
}

/// Minutes with two comments from before threads (no `replies` list),
/// `1111…` and `2222…`; the first got its first reply from Léa and from Noé
/// at once, on two replicas merged since. Returns its id.
fn old_minutes_with_rival_first_replies(store: &cahier_store::Store) -> cahier_doc::DocId {
    use automerge::{ROOT, ReadDoc, transaction::Transactable};
    let mut view = cahier_doc::DocView::new_minutes("Conseil de septembre");
    view.body = "Quelle salle pour la fête de l’école ?\n".to_owned();
    let id = store.upsert(&view, &cahier_doc::Editor::new("test"), 1).expect("minutes").0.id;
    let mut loaded = store.load(&id).expect("load").expect("stored");
    let doc = &mut loaded.doc;
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64);
    let camille = cahier_doc::Editor::new("camille");
    let x = cahier_doc::comments::add(doc, &camille, now, [0x11; 8], 0..13, "Quelle salle ?").expect("comment");
    let y = cahier_doc::comments::add(doc, &camille, now, [0x22; 8], 18..36, "Où, dans l’école ?").expect("comment");
    let mut tx = doc.transaction();
    let map = tx.get(&ROOT, "comments").expect("get").expect("comments").1;
    for c in [&x, &y] {
        let c = tx.get(&map, c.as_str()).expect("get").expect("comment").1;
        tx.delete(&c, "replies").expect("as before threads");
    }
    tx.commit();
    let mut noe = doc.fork();
    cahier_doc::comments::reply(doc, &cahier_doc::Editor::new("léa"), now + 1000, &x, [0x33; 8], "Bleu").expect("reply");
    cahier_doc::comments::reply(&mut noe, &cahier_doc::Editor::new("noé"), now + 2000, &x, [0x44; 8], "Vert").expect("reply");
    doc.merge(&mut noe).expect("merge");
    store.save(&mut loaded).expect("store");
    id
}

/// Typing before Automerge has loaded (`web/tests/early.mjs`): Léo opens an
/// invite link with the WebAssembly held back, sees the notes editable and
/// "Chargement de l’éditeur…", types at their end; Camille meanwhile types at
/// the same place in the full editor; once the WebAssembly arrives both
/// screens hold both phrases whole. Here: so does the store.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn typed_before_automerge_loads_is_kept_and_merges_with_others_edits_in_chromium() {
    let web = web_dir();
    let tmp = tempfile::tempdir().expect("tmp");
    let data = tmp.path().join("data");
    let start = "Ordre du jour : la sortie de printemps.";
    let (id, invite) = {
        let store = crate::open_store(&data);
        crate::token_in(&store, "camille", Role::Maintainer);
        let mut view = cahier_doc::DocView::new_minutes("Conseil de l’école");
        view.body = start.to_owned();
        let id = store.upsert(&view, &cahier_doc::Editor::new("test"), 1).expect("minutes").0.id;
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64);
        let (_, secret) = cahier_app::auth_store::create_invite(&store, &id, true, "camille", None, [6; 8], [6; 32], now).expect("invite");
        (id, format!("/join/{secret}"))
    };
    let config = ServerConfig { web_dir: web.join("dist"), ..ServerConfig::default() };
    let server = TestServer::start(&data, config).await;
    let shots = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/screenshots/early");
    let base = format!("http://{}", server.addr);
    let result = run_node(&web.join("tests/early.mjs"), &[base.as_ref(), shots.as_ref(), id.as_str().as_ref(), invite.as_ref()], 180).await;
    server.stop().await;

    let store = crate::open_store(&data);
    let (doc, _) = store.load_record(&id).expect("load").expect("the minutes are stored");
    let (view, problems) = cahier_doc::read(&doc, None);
    assert!(problems.is_empty(), "the browser wrote the schema: {problems:?}");
    for phrase in [start, " Camille : on part en mai.", " Léo : je réserve le car. Merci."] {
        assert!(view.body.contains(phrase), "{phrase:?} whole in the stored notes: {:?}", view.body);
    }
    assert_eq!(result["leo"].as_str(), Some(view.body.as_str()), "the screens show what is stored");
}

/// The interface in English in real Chromium (`web/tests/english.mjs`,
/// screenshots in `tests/screenshots/english`): a browser asking for French,
/// English chosen once on the login page, then the editor's home, a page's
/// editor (its preview's task list named "to do" and "done") and the wiki's
/// pages a maintainer opens speak English, dates, header and buttons
/// included; an anonymous reader whose phone asks for English reads the
/// index, the page, its history, a tag and a search in English, the task
/// list too; French chosen in the editor is the wiki's language again. The
/// content is in English, so any French the script finds is the interface's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_interface_speaks_english_once_chosen_in_chromium() {
    let web = web_dir();
    let tmp = tempfile::tempdir().expect("tmp");
    let data = tmp.path().join("data");
    let page = {
        let store = crate::open_store(&data);
        crate::token_in(&store, "camille", Role::Maintainer);
        let editor = cahier_doc::Editor::new("lea");
        let page = store.upsert(&cahier_doc::DocView::new_page("Garden"), &editor, 1_000).expect("page").0.id;
        let limits = cahier_app::files::FileLimits::default();
        let photo = cahier_app::files::upload(&store, &page, &photo_with_gps(600, 400), "lea", 2_000, &limits).expect("a photo");
        let mut p = cahier_doc::DocView::new_page("Garden");
        p.body = format!("Tomatoes grow against the wall.\n\n![The wall]({})\n\n- [ ] Water them\n- [x] Sow the radishes\n", photo.path());
        p.tags = vec!["garden".into()];
        store.upsert(&p, &editor, 3_000).expect("write");
        cahier_app::publication::publish(&store, &page, "camille", 4_000).expect("publish");
        // A change since: the maintainer's page offers to publish it.
        p.body.push_str("\nThe children water it on Tuesdays.\n");
        store.upsert(&p, &editor, 6_000).expect("write again");
        let mut m = cahier_doc::DocView::new_minutes("Thursday meeting");
        m.body = "We talked about the garden.\n".into();
        if let Some(f) = m.minutes.as_mut() {
            f.participants = vec!["Noah".into(), "Zoe".into()];
            f.agenda = vec!["Welcome".into()];
            f.decisions = vec!["Water on Tuesdays".into()];
            f.actions = vec![cahier_doc::Action { text: "Buy a hose".into(), owner: "Noah".into(), ..Default::default() }];
        }
        store.upsert(&m, &editor, 5_000).expect("minutes");
        page
    };
    let config = ServerConfig { web_dir: web.join("dist"), ..ServerConfig::default() };
    let server = TestServer::start(&data, config).await;
    let shots = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/screenshots/english");
    let result = run_node(
        &web.join("tests/english.mjs"),
        &[format!("http://{}", server.addr).as_ref(), shots.as_ref(), "garden".as_ref(), page.as_str().as_ref()],
        240,
    )
    .await;
    server.stop().await;
    assert_eq!(result["pages"].as_u64(), Some(16), "every screen read: {result}");
}

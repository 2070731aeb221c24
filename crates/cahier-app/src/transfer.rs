//! Moving documents in and out as Markdown: the whole store as a set of files
//! (the `cahier export` format, also served to maintainers over HTTP), and one
//! imported file at a time, all or nothing.

use cahier_doc::{DocId, Editor, Kind, Status};
use cahier_store::Store;

use crate::archive::{CREDITS_FILE, InFile, OutFile};
use crate::error::{Error, Result, corrupt};
use crate::{Engine, publication};

/// Who imports are recorded as having published.
pub const IMPORT_PUBLISHER: &str = "import";

/// The export of a whole store: `pages/SLUG.md`, `minutes/SLUG.md`, the
/// images and attachments in `files/` (with `files/index.json`), and
/// `CREDITS.md`, sorted by path. Each document as it is now, its `status` saying
/// whether it is published. `progress` hears each file's path.
pub fn export_all(store: &Store, progress: &mut dyn FnMut(&str)) -> Result<Vec<OutFile>> {
    let entries = store.list()?;
    let mut files = Vec::new();
    let mut credits = Vec::new();
    let mut names = FileNames::default();
    let mut slugs = std::collections::HashMap::new();
    for entry in entries.into_iter().filter(|e| e.kind != "other") {
        let id = DocId::parse(&entry.id).map_err(|e| corrupt("the index", e))?;
        if publication::is_deleted(store, &id)? {
            continue;
        }
        let Some((doc, _)) = store.load_record(&id)? else {
            return Err(corrupt("the index", format!("document {id} is in the index but not stored")));
        };
        let (mut view, _) = cahier_doc::read(&doc, None);
        if view.kind == Kind::Page {
            view.status = if publication::publication(store, &id)?.is_some() { Status::Published } else { Status::Draft };
        }
        let folder = match view.kind {
            Kind::Page => "pages",
            Kind::Minutes => "minutes",
        };
        // The file is named after the document's address, which the front
        // matter carries too, so that importing the export finds each document.
        view.slug = names.claim(folder, &entry.slug, &id);
        slugs.insert(id.to_string(), view.slug.clone());
        let who: Vec<String> = crate::auth_store::credits(store, &doc, None)?;
        let text = cahier_doc::markdown::to_markdown(&view, &who);
        let path = format!("{folder}/{}", cahier_doc::markdown::file_name(&view));
        credits.push((path.clone(), view.title.clone(), view.license.clone(), who));
        progress(&path);
        files.push(OutFile {
            path,
            bytes: text.into_bytes(),
            mtime_secs: view.updated_ms.map(|ms| (ms / 1000).max(0) as u64).unwrap_or(0),
        });
    }
    files.extend(crate::files::export(store, &slugs)?);
    files.sort_by(|a, b| a.path.cmp(&b.path));
    credits.sort();
    let mut c = String::from(
        "# Crédits — Credits\n\nChaque document est l'œuvre des personnes nommées, sous la licence indiquée.\nEach document is the work of the people named, under the licence given.\n\n",
    );
    for (path, title, license, names) in credits {
        let who = if names.is_empty() { "—".to_owned() } else { names.join(", ") };
        c.push_str(&format!("- `{path}` « {title} » ({license}) : {who}\n"));
    }
    let file_credits = crate::files::credit_lines(store)?;
    if !file_credits.is_empty() {
        c.push_str("\n## Images et fichiers — Images and files\n\n");
        c.extend(file_credits);
    }
    let mtime = files.iter().map(|f| f.mtime_secs).max().unwrap_or(0);
    files.push(OutFile { path: CREDITS_FILE.to_owned(), bytes: c.into_bytes(), mtime_secs: mtime });
    Ok(files)
}

/// The names given in one export: each document's address, unless it is not a
/// valid slug (a store written before addresses were checked) or already given
/// in that folder, then one made from the id. Never a path, never twice.
#[derive(Default)]
struct FileNames(std::collections::HashSet<(String, String)>);

impl FileNames {
    fn claim(&mut self, folder: &str, address: &str, id: &DocId) -> String {
        let mut name = address.to_owned();
        if !cahier_doc::schema::is_valid_slug(&name) || self.0.contains(&(folder.to_owned(), name.clone())) {
            name = format!("document-{}", id.as_str().to_ascii_lowercase());
        }
        let mut n = 2;
        let base = name.clone();
        while !self.0.insert((folder.to_owned(), name.clone())) {
            name = format!("{base}-{n}");
            n += 1;
        }
        name
    }
}

/// How many documents of the store are not Cahier pages or minutes (not exported).
pub fn foreign_documents(store: &Store) -> Result<usize> {
    Ok(store.list()?.iter().filter(|e| e.kind == "other").count())
}

/// What one imported file became.
pub struct Imported {
    pub slug: String,
    pub created: bool,
    pub id: DocId,
    /// The document with the import applied.
    pub doc: automerge::Automerge,
    /// Set when the file published the page.
    pub publication: Option<publication::Publication>,
}

/// Imports one file. On error nothing is written: the document is parsed and
/// changed in memory, and stored in one batch only if all of that succeeded. A
/// page whose front matter says `status: published` is published as imported,
/// once `engine` stored the change (the running server's sync engine, which may
/// hold the document and whose editors must get the change; or the store
/// itself).
pub fn import_file(store: &Store, file: &InFile, now: i64, engine: &dyn Engine) -> Result<Imported> {
    let text = std::str::from_utf8(&file.bytes).map_err(|e| Error::Invalid(format!("{}:1: not UTF-8 text ({e})", file.name)))?;
    let mut view = cahier_doc::markdown::from_markdown(&file.name, text)?.view;
    if view.updated_ms.is_none() {
        view.updated_ms = Some(now);
    }
    let existing = match store.find_slug(&view.slug)? {
        Some(id) if !publication::is_deleted(store, &id)? => store.load_record(&id)?.map(|(doc, _)| (id, doc)),
        _ => None,
    };
    if view.created_ms.is_none() {
        view.created_ms = Some(existing.as_ref().and_then(|(_, d)| cahier_doc::read(d, None).0.created_ms).unwrap_or(now));
    }
    let (id, doc, created) = match existing {
        Some((id, mut doc)) => {
            if cahier_doc::apply_view(&mut doc, &view, &Editor::import(), now, "import")?.is_some()
                && let Some(change) = doc.get_last_local_change()
            {
                engine.apply(&id, change.raw_bytes().to_vec())?;
            }
            (id, doc, false)
        }
        None => {
            let (loaded, created) = store.upsert(&view, &Editor::import(), now)?;
            (loaded.id.clone(), loaded.doc, created)
        }
    };
    let mut published = None;
    if view.kind == Kind::Page {
        match view.status {
            Status::Published => published = Some(publication::publish_doc(store, &id, &doc, IMPORT_PUBLISHER, now)?),
            Status::Draft => {
                publication::unpublish(store, &id, IMPORT_PUBLISHER, now)?;
            }
        }
    }
    Ok(Imported { slug: view.slug, created, id, doc, publication: published })
}

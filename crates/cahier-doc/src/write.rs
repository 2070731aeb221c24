//! Writing: creating documents and bringing them in line with a [`DocView`].
//!
//! Every commit Cahier makes carries a time (seconds) and an author. Texts are
//! updated with Automerge's diff-based `update_text`, so re-importing a file or
//! saving a form produces a small change that merges well with concurrent edits.

use automerge::transaction::{CommitOptions, Transactable, Transaction};
use automerge::{Author, Automerge, AutomergeError, ChangeHash, ObjId, ObjType, ROOT, ReadDoc, ScalarValue, Value};

use crate::read::Reader;
use crate::schema::{Action, DocView, key};

/// Who makes a change. Its name is stored as the Automerge author of the change
/// (UTF-8 bytes), so history and credits can name people.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Editor(String);

/// The author recorded on changes that bring in text from a Markdown file. Their
/// text is credited to the file's own `contributors`, not to whoever ran the import.
pub const IMPORT_AUTHOR: &str = "cahier:import";

impl Editor {
    pub fn new(name: &str) -> Editor {
        Editor(name.to_owned())
    }

    pub fn import() -> Editor {
        Editor(IMPORT_AUTHOR.to_owned())
    }

    pub fn name(&self) -> &str {
        &self.0
    }

    pub fn author(&self) -> Author<'static> {
        Author::from(self.0.as_bytes().to_vec())
    }
}

/// A new document holding `view`, committed by `editor` at `now_ms`.
pub fn new_document(view: &DocView, editor: &Editor, now_ms: i64) -> Result<Automerge, AutomergeError> {
    let mut doc = crate::empty();
    apply_view(&mut doc, view, editor, now_ms, "create")?;
    Ok(doc)
}

/// Changes `doc` so that it reads as `view`, in one commit. Returns the hash of
/// the change, or `None` if the document already matched.
pub fn apply_view(
    doc: &mut Automerge,
    view: &DocView,
    editor: &Editor,
    now_ms: i64,
    message: &str,
) -> Result<Option<ChangeHash>, AutomergeError> {
    let author = editor.author();
    if doc.get_author() != Some(&author) {
        doc.set_author(Some(author));
    }
    let (current, _) = crate::read(doc, None);
    let options = CommitOptions::default().with_message(message).with_time(now_ms.div_euclid(1000));
    let result = doc.transact_with(|_| options, |tx| write_view(tx, &current, view)).map_err(|failure| failure.error)?;
    Ok(result.hash)
}

fn write_view(tx: &mut Transaction<'_>, current: &DocView, view: &DocView) -> Result<(), AutomergeError> {
    put_text(tx, &ROOT, key::KIND, view.kind.as_str())?;
    if tx.get(&ROOT, key::SCHEMA_VERSION)?.map(|(v, _)| v) != Some(Value::from(view.schema_version)) {
        tx.put(&ROOT, key::SCHEMA_VERSION, view.schema_version)?;
    }
    put_text(tx, &ROOT, key::TITLE, &view.title)?;
    put_text(tx, &ROOT, key::SLUG, &view.slug)?;
    put_text(tx, &ROOT, key::BODY, &view.body)?;
    put_list(tx, &ROOT, key::TAGS, &current.tags, &view.tags)?;
    put_text(tx, &ROOT, key::LICENSE, &view.license)?;
    put_text(tx, &ROOT, key::STATUS, view.status.as_str())?;
    put_time(tx, key::CREATED_AT, view.created_ms)?;
    put_time(tx, key::UPDATED_AT, view.updated_ms)?;
    put_list(tx, &ROOT, key::IMPORTED_CREDITS, &current.imported_credits, &view.imported_credits)?;
    if let Some(m) = &view.minutes {
        let empty = Default::default();
        let cur = current.minutes.as_ref().unwrap_or(&empty);
        put_text(tx, &ROOT, key::STARTS_AT, &m.starts_at)?;
        put_text(tx, &ROOT, key::PLACE, &m.place)?;
        put_text(tx, &ROOT, key::FACILITATOR, &m.facilitator)?;
        put_list(tx, &ROOT, key::PARTICIPANTS, &cur.participants, &m.participants)?;
        put_list(tx, &ROOT, key::AGENDA, &cur.agenda, &m.agenda)?;
        put_list(tx, &ROOT, key::DECISIONS, &cur.decisions, &m.decisions)?;
        put_actions(tx, &cur.actions, &m.actions)?;
    }
    Ok(())
}

/// Puts `value` as an Automerge text under `prop`, editing the existing text in
/// place when there is one.
fn put_text<P: Into<automerge::Prop> + Clone>(tx: &mut Transaction<'_>, obj: &ObjId, prop: P, value: &str) -> Result<(), AutomergeError> {
    match tx.get(obj, prop.clone())? {
        Some((Value::Object(ObjType::Text), id)) => {
            if tx.text(&id)? != value {
                tx.update_text(&id, value)?;
            }
        }
        _ => {
            let id = tx.put_object(obj, prop, ObjType::Text)?;
            tx.splice_text(&id, 0, 0, value)?;
        }
    }
    Ok(())
}

fn insert_text(tx: &mut Transaction<'_>, list: &ObjId, index: usize, value: &str) -> Result<(), AutomergeError> {
    let id = tx.insert_object(list, index, ObjType::Text)?;
    tx.splice_text(&id, 0, 0, value)
}

fn list_obj(tx: &mut Transaction<'_>, obj: &ObjId, k: &str) -> Result<ObjId, AutomergeError> {
    match tx.get(obj, k)? {
        Some((Value::Object(ObjType::List), id)) => Ok(id),
        _ => tx.put_object(obj, k, ObjType::List),
    }
}

/// Edits a list of strings element by element: same-index texts are updated in
/// place, extra ones removed from the end, new ones appended.
fn put_list(tx: &mut Transaction<'_>, obj: &ObjId, k: &str, current: &[String], wanted: &[String]) -> Result<(), AutomergeError> {
    let exists = matches!(tx.get(obj, k)?, Some((Value::Object(ObjType::List), _)));
    if exists && current == wanted {
        return Ok(());
    }
    let list = list_obj(tx, obj, k)?;
    let len = tx.length(&list);
    for (i, value) in wanted.iter().enumerate() {
        if i < len {
            put_text(tx, &list, i, value)?;
        } else {
            insert_text(tx, &list, i, value)?;
        }
    }
    for i in (wanted.len()..len).rev() {
        tx.delete(&list, i)?;
    }
    Ok(())
}

fn put_actions(tx: &mut Transaction<'_>, current: &[Action], wanted: &[Action]) -> Result<(), AutomergeError> {
    let exists = matches!(tx.get(&ROOT, key::ACTIONS)?, Some((Value::Object(ObjType::List), _)));
    if exists && current == wanted {
        return Ok(());
    }
    let list = list_obj(tx, &ROOT, key::ACTIONS)?;
    let len = tx.length(&list);
    for (i, action) in wanted.iter().enumerate() {
        let map = match tx.get(&list, i)? {
            Some((Value::Object(ObjType::Map), id)) if i < len => id,
            _ if i < len => tx.put_object(&list, i, ObjType::Map)?,
            _ => tx.insert_object(&list, i, ObjType::Map)?,
        };
        put_text(tx, &map, key::TEXT, &action.text)?;
        put_text(tx, &map, key::OWNER, &action.owner)?;
        put_text(tx, &map, key::DUE, &action.due)?;
        let done = matches!(tx.get(&map, key::DONE)?, Some((Value::Scalar(s), _)) if *s == ScalarValue::Boolean(action.done));
        if !done {
            tx.put(&map, key::DONE, action.done)?;
        }
    }
    for i in (wanted.len()..len).rev() {
        tx.delete(&list, i)?;
    }
    Ok(())
}

fn put_time(tx: &mut Transaction<'_>, k: &str, ms: Option<i64>) -> Result<(), AutomergeError> {
    let current = tx.get(&ROOT, k)?.map(|(v, _)| v.into_owned());
    match ms {
        Some(ms) => {
            if current != Some(Value::Scalar(std::borrow::Cow::Owned(ScalarValue::Timestamp(ms)))) {
                tx.put(&ROOT, k, ScalarValue::Timestamp(ms))?;
            }
        }
        None => {
            if current.is_some() {
                tx.delete(&ROOT, k)?;
            }
        }
    }
    Ok(())
}

/// The body text object, if the document has one.
pub fn body_obj(doc: &Automerge, heads: Option<&[ChangeHash]>) -> Option<ObjId> {
    Reader::new(doc, heads).text_obj(&ROOT, key::BODY)
}

/// Promotes a set of minutes to a wiki page. The page is a fork of the minutes'
/// document, so it keeps the whole history and the credits of everyone who took
/// the notes; one change by `editor` makes it a page whose body gives the
/// structured parts (when, where, who, decisions, actions) around the notes.
pub fn promote_minutes(minutes: &Automerge, slug: &str, editor: &Editor, now_ms: i64) -> Result<Automerge, PromoteError> {
    let (view, _) = crate::read(minutes, None);
    let Some(m) = view.minutes.clone() else { return Err(PromoteError::NotMinutes) };
    if !crate::schema::is_valid_slug(slug) {
        return Err(PromoteError::BadSlug(slug.to_owned()));
    }
    let mut page = minutes.fork();
    let mut body = String::new();
    let mut facts = Vec::new();
    if !m.starts_at.is_empty() {
        facts.push(format!("**Date :** {}", m.starts_at.replace('T', " ")));
    }
    if !m.place.is_empty() {
        facts.push(format!("**Lieu :** {}", m.place));
    }
    if !m.facilitator.is_empty() {
        facts.push(format!("**Animation :** {}", m.facilitator));
    }
    if !facts.is_empty() {
        body.push_str(&facts.join(" · "));
        body.push_str("\n\n");
    }
    let list = |title: &str, items: &[String], out: &mut String| {
        if !items.is_empty() {
            out.push_str(&format!("## {title}\n\n"));
            for i in items {
                out.push_str(&format!("- {i}\n"));
            }
            out.push('\n');
        }
    };
    list("Participants", &m.participants, &mut body);
    list("Ordre du jour", &m.agenda, &mut body);
    if !view.body.trim().is_empty() {
        // Notes that bring their own heading keep it.
        if !view.body.trim_start().starts_with('#') {
            body.push_str("## Notes\n\n");
        }
        body.push_str(&view.body);
        if !view.body.ends_with('\n') {
            body.push('\n');
        }
        body.push('\n');
    }
    list("Décisions", &m.decisions, &mut body);
    if !m.actions.is_empty() {
        body.push_str("## Actions\n\n");
        for a in &m.actions {
            let mut line = format!("- [{}] {}", if a.done { "x" } else { " " }, a.text);
            if !a.owner.is_empty() {
                line.push_str(&format!(" — {}", a.owner));
            }
            if !a.due.is_empty() {
                line.push_str(&format!(" ({})", a.due));
            }
            body.push_str(&line);
            body.push('\n');
        }
    }
    let promoted = DocView {
        kind: crate::Kind::Page,
        slug: slug.to_owned(),
        body: body.trim_end().to_owned() + "\n",
        status: crate::Status::Draft,
        updated_ms: Some(now_ms),
        minutes: None,
        ..view
    };
    apply_view(&mut page, &promoted, editor, now_ms, "promote minutes to a page")?;
    Ok(page)
}

#[derive(Debug, thiserror::Error)]
pub enum PromoteError {
    #[error("only minutes can be promoted to a page")]
    NotMinutes,
    #[error("{0:?} is not a valid slug (lowercase letters, digits and hyphens)")]
    BadSlug(String),
    #[error(transparent)]
    Automerge(#[from] AutomergeError),
}

//! Comments on the notes: what participants say about a passage, stored in the
//! document (`comments`, see `docs/schema.md`) and never published.
//!
//! Each comment is anchored by two Automerge cursors into `body` (its first
//! and its last character), so it follows its passage through everyone's
//! edits. Nobody's name is stored in a comment: whoever wrote it is the writer
//! of the change that set its text (the server's binding of actors to people,
//! as for the credits), so nobody can sign a comment for someone else.
//!
//! Each comment carries its thread: `replies`, a list to which each reply is
//! appended (two people replying at once both keep theirs), named the same
//! way as the comment, by whoever wrote its text. A comment made before
//! threads existed has no list: the first reply makes it, and two first
//! replies made at once make two rival lists under the same key. Automerge
//! keeps both as a conflict (nobody ever overwrites the key), and the thread
//! is read from all of them ([`threads`]), so both replies stay.
//!
//! Reading is bounded ([`MAX_COMMENTS`], [`MAX_REPLIES`], [`MAX_COMMENT_TEXT`],
//! [`MAX_CURSOR`]): a malformed comment or reply is skipped with a
//! [`Problem`], and the rest of the document reads as before. Nothing that renders for readers
//! (the wiki, `.md` files, exports, the feed, search, the history's diffs)
//! reads this field: [`DocView`](crate::DocView) does not hold it.

use automerge::{Automerge, ChangeHash, Cursor, ObjId, ObjType, ROOT, ReadDoc, ScalarValue, Value};

use crate::attribution::{Writer, writer_of_meta};
use crate::schema::{Problem, key};

/// The most comments a document's reading keeps; the rest are reported.
pub const MAX_COMMENTS: usize = 1000;
/// The longest comment, in UTF-16 code units (the editor's `maxlength`).
pub const MAX_COMMENT_TEXT: usize = 4000;
/// The longest cursor string (`COUNTER@ACTOR` in hex; actors are at most 32 bytes).
pub const MAX_CURSOR: usize = 100;
/// The longest comment or reply id (the editor's are 16 hex digits).
pub const MAX_COMMENT_ID: usize = 64;
/// The most replies a comment's reading keeps; the rest are reported.
pub const MAX_REPLIES: usize = 200;

/// One comment as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Comment {
    /// Its key in the `comments` map.
    pub id: String,
    /// Cursor on the passage's first character in `body`.
    pub start: String,
    /// Cursor on the passage's last character in `body`.
    pub end: String,
    pub text: String,
    /// Milliseconds since the Unix epoch, as the writer's clock said.
    pub created_ms: Option<i64>,
    pub resolved: bool,
    /// The thread under the comment, oldest first (in the list's order).
    pub replies: Vec<Reply>,
}

/// One reply in a comment's thread, as stored: no name either.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// Random, unique in its thread (the editor's are 16 hex digits).
    pub id: String,
    /// At most [`MAX_COMMENT_TEXT`] UTF-16 code units, as a comment.
    pub text: String,
    /// Milliseconds since the Unix epoch, as the writer's clock said.
    pub created_ms: Option<i64>,
}

/// Who wrote a comment, who resolved it, who wrote each of its replies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommentWriters {
    pub id: String,
    pub author: Option<Writer>,
    pub resolved_by: Option<Writer>,
    /// `(reply id, writer)`, in the thread's order.
    pub replies: Vec<(String, Option<Writer>)>,
}

/// The comments at `heads` (now, if `None`), in id order, and what was wrong
/// with the ones skipped.
pub fn comments(doc: &Automerge, heads: Option<&[ChangeHash]>) -> (Vec<Comment>, Vec<Problem>) {
    let mut out = Vec::new();
    let mut problems = Vec::new();
    let mut problem = |path: String, message: &str| problems.push(Problem { path, message: message.to_owned() });
    let Some(map) = comments_obj(doc, heads, &mut problem) else { return (out, problems) };
    let keys: Vec<String> = match heads {
        None => doc.keys(&map).collect(),
        Some(h) => doc.keys_at(&map, h).collect(),
    };
    for id in keys {
        let path = format!("{}/{id}", key::COMMENTS);
        if out.len() == MAX_COMMENTS {
            problem(key::COMMENTS.to_owned(), &format!("more than {MAX_COMMENTS} comments; the rest are ignored"));
            break;
        }
        if id.is_empty() || id.len() > MAX_COMMENT_ID {
            problem(path, "not a comment id, skipped");
            continue;
        }
        let Some((Value::Object(ObjType::Map), obj)) = get(doc, heads, &map, id.as_str()) else {
            problem(path, "not a comment (a map), skipped");
            continue;
        };
        match comment(doc, heads, &obj, id) {
            Ok(mut c) => {
                c.replies = replies(doc, heads, &obj, &path, &mut problem);
                out.push(c);
            }
            Err((field, why)) => problem(format!("{path}/{field}"), &format!("{why}, comment skipped")),
        }
    }
    (out, problems)
}

/// Who wrote each comment's text, who resolved it and who wrote each reply,
/// as the credits name people (`names`: the server's binding of actors, see
/// [`contributors_named`](crate::contributors_named)). In the order of
/// [`comments`]; a comment or reply whose change is not known names nobody.
pub fn comment_writers(doc: &Automerge, names: &dyn Fn(&str) -> Option<String>) -> Vec<CommentWriters> {
    let (list, _) = comments(doc, None);
    let Some(Some((Value::Object(ObjType::Map), map))) = doc.get(&ROOT, key::COMMENTS).ok() else { return Vec::new() };
    let writer = |obj: &ObjId, field: &str| {
        let (_, op) = doc.get(obj, field).ok().flatten()?;
        let hash = doc.hash_for_opid(&op)?;
        let meta = doc.get_change_meta_by_hash(&hash)?;
        Some(writer_of_meta(&meta, names))
    };
    list.into_iter()
        .map(|c| {
            let obj = doc.get(&map, c.id.as_str()).ok().flatten().map(|(_, o)| o);
            let author = obj.as_ref().and_then(|o| writer(o, key::TEXT));
            let resolved_by = if c.resolved { obj.as_ref().and_then(|o| writer(o, key::RESOLVED)) } else { None };
            // Each reply's object, by its id (the reading kept the first of an id).
            let mut objects = std::collections::HashMap::new();
            for thread in obj.as_ref().map(|o| threads(doc, None, o)).unwrap_or_default() {
                for i in 0..doc.length(&thread).min(MAX_REPLIES) {
                    let Some((Value::Object(ObjType::Map), r)) = doc.get(&thread, i).ok().flatten() else { continue };
                    if let Ok(Some(id)) = string(doc, None, &r, key::ID, MAX_COMMENT_ID) {
                        objects.entry(id).or_insert(r);
                    }
                }
            }
            let replies = c.replies.into_iter().map(|r| {
                let w = objects.get(&r.id).and_then(|o| writer(o, key::TEXT));
                (r.id, w)
            });
            CommentWriters { id: c.id, author, resolved_by, replies: replies.collect() }
        })
        .collect()
}

/// Where a comment's passage is in the notes at `heads` (now, if `None`):
/// `from..to` in UTF-16 code units; `Some(None)` once every character of it
/// was deleted; `None` when its cursors do not point into the notes. The
/// editor's `passage` (web/src/comments.ts) is the same.
pub fn passage(doc: &Automerge, heads: Option<&[ChangeHash]>, comment: &Comment) -> Option<Option<std::ops::Range<usize>>> {
    let body = crate::write::body_obj(doc, heads)?;
    let start = Cursor::try_from(comment.start.as_str()).ok()?;
    let end = Cursor::try_from(comment.end.as_str()).ok()?;
    let from = doc.get_cursor_position(&body, &start, heads).ok()?;
    let last = doc.get_cursor_position(&body, &end, heads).ok()?;
    let len = match heads {
        None => doc.length(&body),
        Some(h) => doc.length_at(&body, h),
    };
    // The cursor on the last character resolves to the next one once it is
    // deleted: the passage then ends where that character was.
    let last_here = last < len && doc.get_cursor(&body, last, heads).is_ok_and(|c| c.to_string() == comment.end);
    let to = if last_here { last + 1 } else { last };
    Some((to > from).then_some(from..to))
}

/// Adds a comment on `from..to` of the notes (UTF-16 code units, not empty),
/// in one commit by `editor`, under the id `id` (16 hex digits from bytes the
/// caller brings). What the editor does, for tests and tools.
pub fn add(
    doc: &mut Automerge,
    editor: &crate::Editor,
    now_ms: i64,
    id: [u8; 8],
    range: std::ops::Range<usize>,
    text: &str,
) -> Result<String, AddError> {
    let body = crate::write::body_obj(doc, None).ok_or(AddError::NoNotes)?;
    if range.is_empty() || range.end > doc.length(&body) {
        return Err(AddError::Range);
    }
    if text.encode_utf16().count() > MAX_COMMENT_TEXT {
        return Err(AddError::TooLong);
    }
    let start = doc.get_cursor(&body, range.start, None)?.to_string();
    let end = doc.get_cursor(&body, range.end - 1, None)?.to_string();
    let id: String = id.iter().map(|b| format!("{b:02x}")).collect();
    let author = editor.author();
    if doc.get_author() != Some(&author) {
        doc.set_author(Some(author));
    }
    let options = automerge::transaction::CommitOptions::default().with_message("comment").with_time(now_ms.div_euclid(1000));
    doc.transact_with(
        |_| options,
        |tx| {
            use automerge::transaction::Transactable;
            let map = match tx.get(&ROOT, key::COMMENTS)? {
                Some((Value::Object(ObjType::Map), map)) => map,
                _ => tx.put_object(&ROOT, key::COMMENTS, ObjType::Map)?,
            };
            let c = tx.put_object(&map, id.as_str(), ObjType::Map)?;
            tx.put(&c, key::START, start.as_str())?;
            tx.put(&c, key::END, end.as_str())?;
            tx.put(&c, key::TEXT, text)?;
            tx.put(&c, key::CREATED_AT, ScalarValue::Timestamp(now_ms))?;
            tx.put(&c, key::RESOLVED, false)?;
            // The thread's list exists from the start: two first replies
            // made at once then land in one list, not in two rival ones.
            tx.put_object(&c, key::REPLIES, ObjType::List)?;
            Ok::<_, automerge::AutomergeError>(())
        },
    )
    .map_err(|f| f.error)?;
    Ok(id)
}

/// Appends a reply to the comment `comment` in one commit by `editor`, under
/// the id `id` (16 hex digits from bytes the caller brings). What the
/// editor's reply form does, for tests and tools.
pub fn reply(doc: &mut Automerge, editor: &crate::Editor, now_ms: i64, comment: &str, id: [u8; 8], text: &str) -> Result<String, AddError> {
    if text.encode_utf16().count() > MAX_COMMENT_TEXT {
        return Err(AddError::TooLong);
    }
    let Some(Some((Value::Object(ObjType::Map), map))) = doc.get(&ROOT, key::COMMENTS).ok() else { return Err(AddError::NoComment) };
    let Some(Some((Value::Object(ObjType::Map), c))) = doc.get(&map, comment).ok() else { return Err(AddError::NoComment) };
    // Appended to the list `get` gives (the one every peer picks among rivals).
    let thread = match doc.get(&c, key::REPLIES)? {
        Some((Value::Object(ObjType::List), thread)) => Some(thread),
        Some(_) => return Err(AddError::NoComment),
        None => None,
    };
    if threads(doc, None, &c).iter().map(|t| doc.length(t)).sum::<usize>() >= MAX_REPLIES {
        return Err(AddError::TooManyReplies);
    }
    let id: String = id.iter().map(|b| format!("{b:02x}")).collect();
    let author = editor.author();
    if doc.get_author() != Some(&author) {
        doc.set_author(Some(author));
    }
    let options = automerge::transaction::CommitOptions::default().with_message("reply").with_time(now_ms.div_euclid(1000));
    doc.transact_with(
        |_| options,
        |tx| {
            use automerge::transaction::Transactable;
            let thread = match &thread {
                Some(t) => t.clone(),
                None => tx.put_object(&c, key::REPLIES, ObjType::List)?,
            };
            let end = tx.length(&thread);
            let r = tx.insert_object(&thread, end, ObjType::Map)?;
            tx.put(&r, key::ID, id.as_str())?;
            tx.put(&r, key::TEXT, text)?;
            tx.put(&r, key::CREATED_AT, ScalarValue::Timestamp(now_ms))?;
            Ok::<_, automerge::AutomergeError>(())
        },
    )
    .map_err(|f| f.error)?;
    Ok(id)
}

#[derive(Debug, thiserror::Error)]
pub enum AddError {
    #[error("the document has no notes to comment")]
    NoNotes,
    #[error("a comment needs a passage of the notes")]
    Range,
    #[error("a comment or reply is at most {MAX_COMMENT_TEXT} characters")]
    TooLong,
    #[error("no such comment to reply to")]
    NoComment,
    #[error("a comment has at most {MAX_REPLIES} replies")]
    TooManyReplies,
    #[error(transparent)]
    Automerge(#[from] automerge::AutomergeError),
}

/// Whether `cursor` is one Automerge can read back.
pub fn is_cursor(cursor: &str) -> bool {
    cursor.len() <= MAX_CURSOR && Cursor::try_from(cursor).is_ok()
}

type Refusal = (&'static str, &'static str);

fn comment(doc: &Automerge, heads: Option<&[ChangeHash]>, obj: &ObjId, id: String) -> Result<Comment, Refusal> {
    let start = string(doc, heads, obj, key::START, MAX_CURSOR)?.ok_or((key::START, "missing"))?;
    let end = string(doc, heads, obj, key::END, MAX_CURSOR)?.ok_or((key::END, "missing"))?;
    for (field, c) in [(key::START, &start), (key::END, &end)] {
        if !is_cursor(c) {
            return Err((field, "not a cursor"));
        }
    }
    let text = string(doc, heads, obj, key::TEXT, MAX_COMMENT_TEXT)?.ok_or((key::TEXT, "missing"))?;
    let created_ms = created(doc, heads, obj)?;
    let resolved = match get(doc, heads, obj, key::RESOLVED) {
        None => false,
        Some((Value::Scalar(s), _)) => match s.as_ref() {
            ScalarValue::Boolean(b) => *b,
            _ => return Err((key::RESOLVED, "not true or false")),
        },
        Some(_) => return Err((key::RESOLVED, "not true or false")),
    };
    Ok(Comment { id, start, end, text, created_ms, resolved, replies: Vec::new() })
}

/// A comment's thread: the good replies, in order; the others reported.
/// Rival lists (first replies made at once) are read one after the other,
/// then the replies ordered by their time: each list keeps its order.
fn replies(doc: &Automerge, heads: Option<&[ChangeHash]>, obj: &ObjId, path: &str, problem: &mut impl FnMut(String, &str)) -> Vec<Reply> {
    let mut out: Vec<Reply> = Vec::new();
    let values = match heads {
        None => doc.get_all(obj, key::REPLIES),
        Some(h) => doc.get_all_at(obj, key::REPLIES, h),
    }
    .unwrap_or_default();
    if values.iter().any(|(v, _)| !matches!(v, Value::Object(ObjType::List))) {
        problem(format!("{path}/{}", key::REPLIES), "expected a list of replies; none read");
        return out;
    }
    let lists = values.len();
    for (_, thread) in values {
        read_thread(doc, heads, &thread, path, problem, &mut out);
    }
    if lists > 1 {
        // Stable: the replies of one list stay in its order when their times tie.
        out.sort_by_key(|r| r.created_ms.unwrap_or(i64::MAX));
    }
    out
}

/// Every list under a comment's `replies` (more than one after rival first replies).
fn threads(doc: &Automerge, heads: Option<&[ChangeHash]>, obj: &ObjId) -> Vec<ObjId> {
    let values = match heads {
        None => doc.get_all(obj, key::REPLIES),
        Some(h) => doc.get_all_at(obj, key::REPLIES, h),
    };
    values.unwrap_or_default().into_iter().filter(|(v, _)| matches!(v, Value::Object(ObjType::List))).map(|(_, o)| o).collect()
}

fn read_thread(
    doc: &Automerge,
    heads: Option<&[ChangeHash]>,
    thread: &ObjId,
    path: &str,
    problem: &mut impl FnMut(String, &str),
    out: &mut Vec<Reply>,
) {
    let len = match heads {
        None => doc.length(thread),
        Some(h) => doc.length_at(thread, h),
    };
    for i in 0..len {
        let at = format!("{path}/{}/{i}", key::REPLIES);
        if out.len() == MAX_REPLIES {
            problem(format!("{path}/{}", key::REPLIES), &format!("more than {MAX_REPLIES} replies; the rest are ignored"));
            break;
        }
        let Some((Value::Object(ObjType::Map), r)) = get(doc, heads, thread, i) else {
            problem(at, "not a reply (a map), skipped");
            continue;
        };
        let read = || -> Result<Reply, Refusal> {
            let id = string(doc, heads, &r, key::ID, MAX_COMMENT_ID)?.filter(|id| !id.is_empty()).ok_or((key::ID, "missing"))?;
            let text = string(doc, heads, &r, key::TEXT, MAX_COMMENT_TEXT)?.ok_or((key::TEXT, "missing"))?;
            Ok(Reply { id, text, created_ms: created(doc, heads, &r)? })
        };
        match read() {
            Ok(reply) if out.iter().any(|o| o.id == reply.id) => {
                problem(format!("{at}/{}", key::ID), "the id of an earlier reply, reply skipped")
            }
            Ok(reply) => out.push(reply),
            Err((field, why)) => problem(format!("{at}/{field}"), &format!("{why}, reply skipped")),
        }
    }
}

fn created(doc: &Automerge, heads: Option<&[ChangeHash]>, obj: &ObjId) -> Result<Option<i64>, Refusal> {
    match get(doc, heads, obj, key::CREATED_AT) {
        None => Ok(None),
        Some((Value::Scalar(s), _)) => match s.as_ref() {
            ScalarValue::Timestamp(t) | ScalarValue::Int(t) => Ok(Some(*t)),
            ScalarValue::Null => Ok(None),
            _ => Err((key::CREATED_AT, "expected a date")),
        },
        Some(_) => Err((key::CREATED_AT, "expected a date")),
    }
}

fn comments_obj(doc: &Automerge, heads: Option<&[ChangeHash]>, problem: &mut impl FnMut(String, &str)) -> Option<ObjId> {
    match get(doc, heads, &ROOT, key::COMMENTS) {
        None => None,
        Some((Value::Object(ObjType::Map), id)) => Some(id),
        Some(_) => {
            problem(key::COMMENTS.to_owned(), "expected a map of comments; none read");
            None
        }
    }
}

fn get<P: Into<automerge::Prop>>(doc: &Automerge, heads: Option<&[ChangeHash]>, obj: &ObjId, prop: P) -> Option<(Value<'static>, ObjId)> {
    let got = match heads {
        None => doc.get(obj, prop),
        Some(h) => doc.get_at(obj, prop, h),
    };
    got.ok().flatten().map(|(v, id)| (v.into_owned(), id))
}

/// A string field, at most `max` UTF-16 code units; `None` when absent. Only
/// a plain string (JavaScript's `ImmutableString`): a text object could hold
/// letters spliced in by anyone, under its first writer's name.
fn string(doc: &Automerge, heads: Option<&[ChangeHash]>, obj: &ObjId, field: &'static str, max: usize) -> Result<Option<String>, Refusal> {
    let s = match get(doc, heads, obj, field) {
        None => return Ok(None),
        Some((Value::Scalar(s), _)) => match s.as_ref() {
            ScalarValue::Str(s) => s.to_string(),
            _ => return Err((field, "expected a string")),
        },
        Some(_) => return Err((field, "expected a string (not a text object)")),
    };
    if s.encode_utf16().count() > max {
        return Err((field, "too long"));
    }
    Ok(Some(s))
}

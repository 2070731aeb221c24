//! `GET /api/documents/ID/authorship`: who wrote each part of a document's
//! notes, for the editor's authorship colours. The same attribution as the
//! credits (`cahier_doc::authorship`, with the actors bound to accounts and
//! guests), at the heads the store holds, which the answer names so the editor
//! can map the spans onto the text it shows. Also what the timeslider
//! (`timeslider.rs`) shares: who may read, naming writers, the spans at a
//! past version.

use std::collections::HashMap;

use automerge::{ChangeHash, ReadDoc};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use cahier_auth::{Act, Principal, allowed};
use cahier_doc::{DocId, Writer};
use cahier_store::Store;
use serde::Serialize;

use crate::http::AppState;
use crate::web_auth::viewer;

#[derive(Serialize)]
pub(crate) struct Authorship {
    /// The version the spans describe (hex change hashes).
    heads: Vec<String>,
    /// Everyone with surviving text, most text first.
    people: Vec<Person>,
    spans: Vec<SpanOut>,
    /// The notes at that version, when asked for (the timeslider).
    #[serde(skip_serializing_if = "Option::is_none")]
    text: Option<String>,
}

#[derive(Serialize)]
pub(crate) struct Person {
    /// Stable for a person across versions and viewers, and says nothing of
    /// how they came in (a digest of who they are).
    key: String,
    name: String,
    /// Came in through an invite link (the editor says "invitée").
    guest: bool,
}

#[derive(Serialize)]
struct SpanOut {
    /// UTF-16 code units of the notes, `from..to`.
    from: usize,
    to: usize,
    /// Index into `people`.
    person: usize,
}

/// Readable by whoever may read the document (its sync socket's rule: not
/// deleted, and `Act::ReadDocument`); anyone else is told it is not there.
pub async fn authorship(State(state): State<AppState>, Path(id): Path<String>, headers: HeaderMap) -> Response {
    let doc = match readable(&state, &headers, &id).await {
        Ok(doc) => doc,
        Err(refused) => return refused,
    };
    answer(&state, &id, move |store| compute(store, &doc, None, false)).await
}

/// The document named `id` if the viewer may read it; otherwise the refusal
/// to send: 401 to nobody, 400 for what is not an id, 404 (as if it were not
/// there) to those who may not read it and for a deleted one.
pub(crate) async fn readable(state: &AppState, headers: &HeaderMap, id: &str) -> Result<DocId, Response> {
    let v = viewer(state, headers, None).await;
    if v.principal == Principal::Anonymous {
        return Err((StatusCode::UNAUTHORIZED, "log in first").into_response());
    }
    let Ok(doc) = DocId::parse(id) else { return Err((StatusCode::BAD_REQUEST, "not a document id").into_response()) };
    let deleted = state.deleted.read().unwrap_or_else(std::sync::PoisonError::into_inner).contains(&doc);
    if deleted || !allowed(&v.principal, &Act::ReadDocument(&doc)) {
        return Err((StatusCode::NOT_FOUND, "no such document").into_response());
    }
    Ok(doc)
}

/// Runs `f` on the blocking pool, a few at a time (the previews' permits: a
/// document's history is walked there, so sync and readers keep their
/// workers), and answers its JSON; `None` or `NotFound` is a 404, `Invalid` a 400.
pub(crate) async fn answer<T: Serialize + Send + 'static>(
    state: &AppState,
    id: &str,
    f: impl FnOnce(&Store) -> cahier_app::Result<Option<T>> + Send + 'static,
) -> Response {
    let Ok(Ok(permit)) = tokio::time::timeout(std::time::Duration::from_secs(10), state.render_permits.clone().acquire_owned()).await
    else {
        return (StatusCode::SERVICE_UNAVAILABLE, "too busy; try again").into_response();
    };
    let result = crate::handler::blocking(&state.store, move |store| {
        let _permit = permit;
        f(store)
    })
    .await;
    match result {
        Ok(Some(a)) => ([(header::CACHE_CONTROL, "no-store")], Json(a)).into_response(),
        Ok(None) => (StatusCode::NOT_FOUND, "no such document").into_response(),
        Err(cahier_app::Error::NotFound(why)) => (StatusCode::NOT_FOUND, why).into_response(),
        Err(cahier_app::Error::Invalid(why)) => (StatusCode::BAD_REQUEST, why).into_response(),
        Err(e) => {
            tracing::error!(cause = %e, doc = %id, "cannot read a document's history");
            (StatusCode::INTERNAL_SERVER_ERROR, "cannot tell who wrote what").into_response()
        }
    }
}

/// Who people are, to name the writers of a document: the server's bindings
/// of actors to accounts and guests, and the document's imported credits.
pub(crate) struct Names {
    /// Actor (hex) → identity (`account:NAME`, `guest:INVITE:NAME`).
    identities: HashMap<String, String>,
    /// Identity → name.
    name_of: HashMap<String, String>,
    imported: String,
}

impl Names {
    pub(crate) fn load(store: &Store, doc: &automerge::Automerge) -> cahier_app::Result<Names> {
        let identities = crate::auth_store::actor_identities(store)?;
        let names = crate::auth_store::actor_names(store)?;
        let name_of = identities.iter().filter_map(|(actor, who)| Some((who.clone(), names.get(actor)?.clone()))).collect();
        let (view, _) = cahier_doc::read(doc, None);
        Ok(Names { identities, name_of, imported: view.imported_credits.join(", ") })
    }

    /// Whom an actor is bound to.
    pub(crate) fn bound(&self, actor: &str) -> Option<String> {
        self.identities.get(actor).cloned()
    }

    /// A writer as the editor shows them.
    pub(crate) fn person(&self, writer: &Writer) -> Person {
        let (key, name) = match writer {
            Writer::Bound(who) => (format!("bound:{who}"), self.name_of.get(who).cloned().unwrap_or_else(|| who.clone())),
            Writer::Author(n) => (format!("author:{n}"), n.clone()),
            Writer::Unknown(_) => (format!("unknown:{writer:?}"), writer.credit_name().unwrap_or_default()),
            Writer::Imported => ("imported".to_owned(), if self.imported.is_empty() { "import".to_owned() } else { self.imported.clone() }),
        };
        let guest = matches!(writer, Writer::Bound(who) if who.starts_with("guest:"));
        let key = cahier_auth::digest(&format!("{}:{key}", person_salt()))[..16].to_owned();
        Person { key, name, guest }
    }
}

/// Who wrote each part of the notes at `heads` (now, if `None`; every head
/// must be one of the document's changes), with the notes' text if `text`.
pub(crate) fn compute(store: &Store, id: &DocId, heads: Option<&[ChangeHash]>, text: bool) -> cahier_app::Result<Option<Authorship>> {
    let Some((doc, _)) = store.load_record(id)? else { return Ok(None) };
    if let Some(heads) = heads
        && heads.iter().any(|h| doc.get_change_by_hash(h).is_none())
    {
        return Err(cahier_app::Error::NotFound("this document has no such version".into()));
    }
    let names = Names::load(store, &doc)?;
    let spans = cahier_doc::authorship(&doc, heads, &|actor| names.bound(actor));
    let mut people: Vec<(Writer, Person, usize)> = Vec::new();
    let mut out = Vec::with_capacity(spans.len());
    for s in spans {
        let i = match people.iter().position(|(w, _, _)| *w == s.writer) {
            Some(i) => i,
            None => {
                people.push((s.writer.clone(), names.person(&s.writer), 0));
                people.len() - 1
            }
        };
        if let Some(p) = people.get_mut(i) {
            p.2 += s.to - s.from;
        }
        out.push(SpanOut { from: s.from, to: s.to, person: i });
    }
    // Most text first, as the credits list them; the spans follow the new order.
    let mut order: Vec<usize> = (0..people.len()).collect();
    order.sort_by(|&a, &b| people[b].2.cmp(&people[a].2).then_with(|| people[a].1.name.cmp(&people[b].1.name)));
    let mut rank = vec![0; people.len()];
    for (r, &i) in order.iter().enumerate() {
        rank[i] = r;
    }
    for s in &mut out {
        s.person = rank[s.person];
    }
    let mut sorted: Vec<Option<Person>> = people.into_iter().map(|(_, p, _)| Some(p)).collect();
    let people = order.iter().filter_map(|&i| sorted.get_mut(i).and_then(Option::take)).collect();
    let heads = heads.map_or_else(|| doc.get_heads(), <[ChangeHash]>::to_vec);
    let text = text.then(|| cahier_doc::read(&doc, Some(&heads)).0.body);
    Ok(Some(Authorship { heads: heads.iter().map(|h| h.to_string()).collect(), people, spans: out, text }))
}

/// A secret of this process, mixed into each person's key: without it a
/// reader could hash the names in the legend (`bound:account:NAME`) and learn
/// who has an account and their login name. Keys stay stable while the server
/// runs, which is all the editor's colours need.
fn person_salt() -> &'static str {
    static SALT: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    SALT.get_or_init(|| {
        let mut b = [0u8; 32];
        // Without randomness the keys are the plain digests: colours still work.
        let _ = getrandom::fill(&mut b);
        cahier_auth::new_secret(b)
    })
}

/// `GET /api/documents/ID/comments`: who wrote each comment on the notes, who
/// resolved it and who wrote each of its replies, for the editor's comment list, from the same binding of
/// actors to people as the colours (a comment stores no name: nobody can
/// sign one for someone else). Only ids and people: the comments themselves
/// reach the editor with the document.
#[derive(Serialize)]
pub(crate) struct CommentPeople {
    heads: Vec<String>,
    comments: Vec<CommentOut>,
}

#[derive(Serialize)]
struct CommentOut {
    id: String,
    author: Option<Person>,
    #[serde(skip_serializing_if = "Option::is_none")]
    resolved_by: Option<Person>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    replies: Vec<ReplyOut>,
}

#[derive(Serialize)]
struct ReplyOut {
    id: String,
    author: Option<Person>,
}

/// Readable by the same people as the authorship colours.
pub async fn comments(State(state): State<AppState>, Path(id): Path<String>, headers: HeaderMap) -> Response {
    let doc = match readable(&state, &headers, &id).await {
        Ok(doc) => doc,
        Err(refused) => return refused,
    };
    answer(&state, &id, move |store| comment_people(store, &doc)).await
}

fn comment_people(store: &Store, id: &DocId) -> cahier_app::Result<Option<CommentPeople>> {
    let Some((doc, _)) = store.load_record(id)? else { return Ok(None) };
    let names = Names::load(store, &doc)?;
    let comments = cahier_doc::comments::comment_writers(&doc, &|actor| names.bound(actor))
        .into_iter()
        .map(|c| CommentOut {
            id: c.id,
            author: c.author.map(|w| names.person(&w)),
            resolved_by: c.resolved_by.map(|w| names.person(&w)),
            replies: c.replies.into_iter().map(|(id, w)| ReplyOut { id, author: w.map(|w| names.person(&w)) }).collect(),
        })
        .collect();
    Ok(Some(CommentPeople { heads: doc.get_heads().iter().map(|h| h.to_string()).collect(), comments }))
}

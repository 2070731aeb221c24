//! `GET /api/documents/ID/authorship`: who wrote each part of a document's
//! notes, for the editor's authorship colours. The same attribution as the
//! credits (`cahier_doc::authorship`, with the actors bound to accounts and
//! guests), at the heads the store holds, which the answer names so the editor
//! can map the spans onto the text it shows.

use std::collections::HashMap;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use cahier_auth::{Act, Principal, allowed};
use cahier_doc::{DocId, Writer};
use serde::Serialize;

use crate::http::AppState;
use crate::web_auth::viewer;

#[derive(Serialize)]
struct Authorship {
    /// The version the spans describe (hex change hashes).
    heads: Vec<String>,
    /// Everyone with surviving text, most text first.
    people: Vec<Person>,
    spans: Vec<SpanOut>,
}

#[derive(Serialize)]
struct Person {
    /// Stable for a person across versions and viewers, and says nothing of
    /// how they came in (a digest of who they are).
    key: String,
    name: String,
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
    let v = viewer(&state, &headers, None).await;
    if v.principal == Principal::Anonymous {
        return (StatusCode::UNAUTHORIZED, "log in first").into_response();
    }
    let Ok(doc) = DocId::parse(&id) else { return (StatusCode::BAD_REQUEST, "not a document id").into_response() };
    let deleted = state.deleted.read().unwrap_or_else(std::sync::PoisonError::into_inner).contains(&doc);
    if deleted || !allowed(&v.principal, &Act::ReadDocument(&doc)) {
        return (StatusCode::NOT_FOUND, "no such document").into_response();
    }
    // Loading a document and walking its text is the blocking pool's work, a
    // few at a time (the previews' permits), so sync and readers keep their workers.
    let Ok(Ok(permit)) = tokio::time::timeout(std::time::Duration::from_secs(10), state.render_permits.clone().acquire_owned()).await
    else {
        return (StatusCode::SERVICE_UNAVAILABLE, "too busy; try again").into_response();
    };
    let store = state.store.clone();
    let answer = tokio::task::spawn_blocking(move || {
        let _permit = permit;
        compute(&store, &doc)
    })
    .await;
    match answer {
        Ok(Ok(Some(a))) => ([(header::CACHE_CONTROL, "no-store")], Json(a)).into_response(),
        Ok(Ok(None)) => (StatusCode::NOT_FOUND, "no such document").into_response(),
        Ok(Err(e)) => {
            tracing::error!(cause = %e, doc = %id, "cannot compute authorship");
            (StatusCode::INTERNAL_SERVER_ERROR, "cannot compute who wrote what").into_response()
        }
        Err(e) => {
            tracing::error!(cause = %e, doc = %id, "authorship task failed");
            (StatusCode::INTERNAL_SERVER_ERROR, "cannot compute who wrote what").into_response()
        }
    }
}

fn compute(store: &cahier_store::Store, id: &DocId) -> anyhow::Result<Option<Authorship>> {
    let Some((doc, _)) = store.load_record(id)? else { return Ok(None) };
    // Actor → identity (`account:NAME`, `guest:INVITE:NAME`) and identity → name.
    let identities = crate::auth_store::actor_identities(store)?;
    let names = crate::auth_store::actor_names(store)?;
    let name_of: HashMap<&str, &str> =
        identities.iter().filter_map(|(actor, who)| Some((who.as_str(), names.get(actor)?.as_str()))).collect();
    let spans = cahier_doc::authorship(&doc, None, &|actor| identities.get(actor).cloned());
    let imported = {
        let (view, _) = cahier_doc::read(&doc, None);
        view.imported_credits.join(", ")
    };
    let mut people: Vec<(Writer, Person, usize)> = Vec::new();
    let mut out = Vec::with_capacity(spans.len());
    for s in spans {
        let i = match people.iter().position(|(w, _, _)| *w == s.writer) {
            Some(i) => i,
            None => {
                let (key, name) = match &s.writer {
                    Writer::Bound(who) => {
                        (format!("bound:{who}"), name_of.get(who.as_str()).map_or_else(|| who.clone(), |n| (*n).to_owned()))
                    }
                    Writer::Author(n) => (format!("author:{n}"), n.clone()),
                    Writer::Unknown(_) => (format!("unknown:{:?}", s.writer), s.writer.credit_name().unwrap_or_default()),
                    Writer::Imported => ("imported".to_owned(), if imported.is_empty() { "import".to_owned() } else { imported.clone() }),
                };
                let key = cahier_auth::digest(&format!("{}:{key}", person_salt()))[..16].to_owned();
                people.push((s.writer.clone(), Person { key, name }, 0));
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
    Ok(Some(Authorship { heads: doc.get_heads().iter().map(|h| h.to_string()).collect(), people, spans: out }))
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

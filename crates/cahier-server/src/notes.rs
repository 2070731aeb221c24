//! `GET /api/documents/ID/notes`: the notes' current text and the version it
//! is at, for the editor's first paint (it shows them, editable, before
//! Automerge's WebAssembly has arrived). Authorised like the other document
//! reads (`authorship::readable`: a session or an invite's guest session; 404
//! for a document the viewer may not read); it sends the body text only, no
//! comments and no other field.

use automerge::ReadDoc;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::Response;
use cahier_doc::DocId;
use cahier_store::Store;
use serde::Serialize;

use crate::authorship::{answer, readable};
use crate::http::AppState;

#[derive(Serialize)]
struct Notes {
    /// The body's text at `heads` (empty when the document has none).
    text: String,
    /// The version the text is at (hex change hashes): the editor applies what
    /// was typed on it to this version, so that edits made since merge.
    heads: Vec<String>,
}

pub async fn notes(State(state): State<AppState>, Path(id): Path<String>, headers: HeaderMap) -> Response {
    let doc = match readable(&state, &headers, &id).await {
        Ok(doc) => doc,
        Err(refused) => return refused,
    };
    answer(&state, &id, move |store| current(store, &doc)).await
}

fn current(store: &Store, id: &DocId) -> cahier_app::Result<Option<Notes>> {
    let Some((doc, _)) = store.load_record(id)? else { return Ok(None) };
    let text = cahier_doc::write::body_obj(&doc, None).and_then(|obj| doc.text(&obj).ok()).unwrap_or_default();
    let heads = doc.get_heads().iter().map(ToString::to_string).collect();
    Ok(Some(Notes { text, heads }))
}

//! The editor's timeslider, for those who may read the document:
//! `GET /api/documents/ID/history` lists the moments of its history (at most
//! [`MAX_MOMENTS`], `cahier_doc::moments`: runs of one writer, merged evenly),
//! each with its version, its times and who wrote in it; `GET
//! /api/documents/ID/at?heads=H1,H2` gives the notes at one version with who
//! wrote each part of them (the authorship colours' spans at that version);
//! `GET /api/documents/ID/changes?from=N` lists its changes one by one, a page
//! ([`STEPS_PAGE`]) at a time, each with its version, time and writer, for the
//! "change by change" mode. All walk the document on the blocking pool, a few
//! at a time.

use std::collections::HashMap;

use automerge::ChangeHash;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use cahier_doc::{DocId, Writer};
use cahier_store::Store;
use serde::Serialize;

use crate::authorship::{Names, Person, answer, compute, readable};
use crate::http::AppState;

/// The most moments a history lists: a slider's worth, whatever the meeting's length.
pub const MAX_MOMENTS: usize = 200;

/// How many changes one answer of `/changes` lists.
pub const STEPS_PAGE: usize = 100;

/// The most heads a version may name (a version has one head per concurrent branch).
const MAX_HEADS: usize = 64;

#[derive(Serialize)]
struct History {
    /// The version the last moment ends on (the document's heads).
    heads: Vec<String>,
    /// How many changes the document holds.
    total: usize,
    /// Everyone who wrote in some moment.
    people: Vec<Person>,
    /// Oldest first.
    moments: Vec<MomentOut>,
}

#[derive(Serialize)]
struct MomentOut {
    heads: Vec<String>,
    /// Seconds since the epoch.
    start: i64,
    end: i64,
    changes: usize,
    /// Indexes into `people`, in order of first appearance.
    authors: Vec<usize>,
}

pub async fn history(State(state): State<AppState>, Path(id): Path<String>, headers: HeaderMap) -> Response {
    let doc = match readable(&state, &headers, &id).await {
        Ok(doc) => doc,
        Err(refused) => return refused,
    };
    answer(&state, &id, move |store| moments(store, &doc)).await
}

#[derive(Serialize)]
struct Steps {
    /// How many changes the document holds.
    total: usize,
    /// The index of the first change listed.
    from: usize,
    /// Everyone who wrote one of the changes listed.
    people: Vec<Person>,
    changes: Vec<StepOut>,
}

#[derive(Serialize)]
struct StepOut {
    heads: Vec<String>,
    /// Seconds since the epoch.
    time: i64,
    /// Index into `people`.
    author: usize,
}

pub async fn changes(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let doc = match readable(&state, &headers, &id).await {
        Ok(doc) => doc,
        Err(refused) => return refused,
    };
    let from = match query.get("from").map(|f| f.parse::<usize>()) {
        None => 0,
        Some(Ok(n)) => n,
        Some(Err(_)) => return (StatusCode::BAD_REQUEST, "from=N (a change's index) starts the page").into_response(),
    };
    answer(&state, &id, move |store| steps(store, &doc, from)).await
}

fn steps(store: &Store, id: &DocId, from: usize) -> cahier_app::Result<Option<Steps>> {
    let Some((doc, _)) = store.load_record(id)? else { return Ok(None) };
    let names = Names::load(store, &doc)?;
    let (total, list) = cahier_doc::moments::steps(&doc, &|actor| names.bound(actor), from, STEPS_PAGE);
    let mut people = People::new(&names);
    let changes = list.into_iter().map(|s| StepOut { heads: hex(&s.heads), time: s.time, author: people.index(&s.writer) }).collect();
    Ok(Some(Steps { total, from, people: people.people, changes }))
}

pub async fn at(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let doc = match readable(&state, &headers, &id).await {
        Ok(doc) => doc,
        Err(refused) => return refused,
    };
    let Some(heads) = query.get("heads").and_then(|h| parse_heads(h)) else {
        return (StatusCode::BAD_REQUEST, "heads=HASH,HASH… (hex change hashes) names the version").into_response();
    };
    answer(&state, &id, move |store| compute(store, &doc, Some(&heads), true)).await
}

/// One to [`MAX_HEADS`] hex change hashes, comma-separated.
fn parse_heads(s: &str) -> Option<Vec<ChangeHash>> {
    let parts: Vec<&str> = s.split(',').collect();
    if parts.is_empty() || parts.len() > MAX_HEADS {
        return None;
    }
    parts.iter().map(|p| if p.len() == 64 { p.parse().ok() } else { None }).collect()
}

fn moments(store: &Store, id: &DocId) -> cahier_app::Result<Option<History>> {
    let Some((doc, _)) = store.load_record(id)? else { return Ok(None) };
    let names = Names::load(store, &doc)?;
    let moments = cahier_doc::moments::moments(&doc, &|actor| names.bound(actor), MAX_MOMENTS);
    let mut people = People::new(&names);
    let mut out = Vec::with_capacity(moments.len());
    let total = moments.iter().map(|m| m.changes).sum();
    for m in moments {
        let authors = m.writers.iter().map(|w| people.index(w)).collect();
        out.push(MomentOut { heads: hex(&m.heads), start: m.start, end: m.end, changes: m.changes, authors });
    }
    Ok(Some(History { heads: hex(&doc.get_heads()), total, people: people.people, moments: out }))
}

/// The writers an answer names, each listed once in `people`; moments and
/// changes point into it by index.
struct People<'a> {
    names: &'a Names,
    writers: Vec<Writer>,
    people: Vec<Person>,
}

impl<'a> People<'a> {
    fn new(names: &'a Names) -> People<'a> {
        People { names, writers: Vec::new(), people: Vec::new() }
    }

    /// `writer`'s index in `people`, listing them on first sight.
    fn index(&mut self, writer: &Writer) -> usize {
        if let Some(i) = self.writers.iter().position(|x| x == writer) {
            return i;
        }
        self.writers.push(writer.clone());
        self.people.push(self.names.person(writer));
        self.writers.len() - 1
    }
}

fn hex(heads: &[ChangeHash]) -> Vec<String> {
    heads.iter().map(ChangeHash::to_string).collect()
}

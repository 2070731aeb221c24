//! Cahier's document core: pages and minutes as Automerge documents.
//!
//! Start reading at [`schema`]: it names every field of the two document kinds and
//! gives [`DocView`], the typed view that the rest of Cahier works with. Then:
//! - [`read`] turns any Automerge document (even a malformed one) into a view plus problems;
//! - [`write`] creates documents and brings them in line with a view, as small changes;
//! - [`history`] lists versions, groups them into editing sessions and diffs them;
//! - [`attribution`] computes who wrote the text that survives, from the CRDT itself;
//! - [`comments`] reads the comments on the notes (never part of the view, never published);
//! - [`moments`] groups the history into moments for the editor's timeslider;
//! - [`markdown`] is the `.md` file format with YAML front matter (export and import).
//!
//! This crate is pure: no IO, no clock, no threads. Times and authors come in as arguments.

pub mod attribution;
pub mod comments;
pub mod history;
pub mod id;
pub mod markdown;
pub mod moments;
pub mod read;
pub mod schema;
pub mod time;
pub mod write;

pub use attribution::{Contribution, Span, Writer, authorship, contributors, contributors_named};
pub use id::DocId;
pub use read::read;
pub use schema::{Action, DocView, Kind, MinutesFields, Problem, Status};
pub use write::{Editor, apply_view, new_document};

/// Text positions everywhere in Cahier are UTF-16 code units, like JavaScript and CodeMirror.
pub const TEXT_ENCODING: automerge::TextEncoding = automerge::TextEncoding::Utf16CodeUnit;

/// Loads a document from bytes, with Cahier's text encoding.
pub fn load(bytes: &[u8]) -> Result<automerge::Automerge, automerge::AutomergeError> {
    automerge::Automerge::load_with_options(bytes, automerge::LoadOptions::new().text_encoding(TEXT_ENCODING))
}

/// An empty document with Cahier's text encoding.
pub fn empty() -> automerge::Automerge {
    automerge::Automerge::new_with_encoding(TEXT_ENCODING)
}

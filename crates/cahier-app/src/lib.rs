//! Cahier's use cases, as plain functions over the [`cahier_store::Store`]:
//! publishing and unpublishing (`publication.rs`), deleting and undeleting,
//! promoting minutes to a page (`promote.rs`), preparing the next meeting's
//! minutes (`next_meeting.rs`), page templates and pages made from them
//! (`templates.rs`), restoring a past version
//! (`restore.rs`), importing and exporting (`transfer.rs`, with the file
//! formats in `archive.rs`), and accounts, API tokens, invites, sessions and
//! the audit log (`auth_store.rs`), and images and attachments (`files.rs`,
//! with what is kept of an upload's bytes in `media.rs`). The `cahier` command and the server's HTTP
//! handlers both call them, so each rule is written once.
//!
//! Start at [`Error`], the one error every use case returns, then
//! [`Engine`]: the seam through which a use case changes a document that a
//! running server may hold (the server answers once its sync engine stored
//! the change; the command line, with no server running, writes to the store
//! itself).
//!
//! Every function blocks (the store may be a PostgreSQL server away): an async
//! caller runs them on a blocking thread. None reads the clock: the time comes
//! in as `now_ms`.

pub mod archive;
pub mod auth_store;
mod documents;
mod error;
pub mod files;
pub mod media;
pub mod next_meeting;
pub mod promote;
pub mod publication;
pub mod restore;
pub mod templates;
pub mod transfer;

use cahier_doc::DocId;
use cahier_store::Store;

pub use documents::{find, live_by_slug};
pub use error::{Error, Result};

/// Where a use case's own change to an existing document goes, to be stored
/// before the use case goes on (and writes its audit entry or publication).
pub trait Engine {
    /// Stores `change` (one Automerge change, as bytes) in document `id`, and
    /// returns only once it is durable; [`Error::NotSaved`] says why it is not.
    fn apply(&self, id: &DocId, change: Vec<u8>) -> Result<()>;
}

/// The engine of the command line: with no server running, a change goes
/// straight to the store.
pub struct Direct<'a>(pub &'a Store);

impl Engine for Direct<'_> {
    fn apply(&self, id: &DocId, change: Vec<u8>) -> Result<()> {
        let Some(mut loaded) = self.0.load(id)? else { return Err(Error::NotFound(format!("no document {id}"))) };
        loaded.doc.load_incremental(&change).map_err(|e| Error::NotSaved(format!("the change does not apply: {e}")))?;
        self.0.save(&mut loaded)?;
        Ok(())
    }
}

//! The one error of every use case. Its variants say what the caller shows:
//! the server maps them to HTTP statuses, the command line to exit codes.

use cahier_store::StorageError;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The store failed (a full disk, a lost database connection, a corrupt
    /// record). Nothing the user did; the details belong in the log.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// Nothing by that name: no such document, account, token or invite.
    #[error("{0}")]
    NotFound(String),
    /// Not possible as asked: a bad name, minutes to publish, a file that is
    /// not Markdown, a version the document does not have.
    #[error("{0}")]
    Invalid(String),
    /// Already done, or done by someone else meanwhile: a setup link used
    /// twice.
    #[error("{0}")]
    Conflict(String),
    /// The running server did not store a change: nothing was confirmed.
    #[error("not saved: {0}")]
    NotSaved(String),
    /// A file or archive cannot be read or written (import and export).
    #[error("{0}")]
    File(String),
}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Error {
        Error::File(e.to_string())
    }
}

impl From<cahier_store::UpsertError> for Error {
    fn from(e: cahier_store::UpsertError) -> Error {
        match e {
            cahier_store::UpsertError::Storage(e) => Error::Storage(e),
            cahier_store::UpsertError::Automerge(e) => Error::Invalid(format!("cannot apply the change: {e}")),
        }
    }
}

impl From<automerge::AutomergeError> for Error {
    fn from(e: automerge::AutomergeError) -> Error {
        Error::Invalid(format!("cannot apply the change: {e}"))
    }
}

impl From<cahier_doc::markdown::ImportError> for Error {
    fn from(e: cahier_doc::markdown::ImportError) -> Error {
        Error::Invalid(e.to_string())
    }
}

pub(crate) fn corrupt(what: &str, e: impl std::fmt::Display) -> Error {
    Error::Storage(StorageError::Corrupt { what: what.to_owned(), cause: e.to_string() })
}

pub(crate) fn json<T: serde::Serialize>(v: &T) -> Result<Vec<u8>> {
    serde_json::to_vec(v).map_err(|e| Error::Invalid(e.to_string()))
}

/// Says which file an error is about.
pub(crate) trait Context<T> {
    fn context(self, what: impl std::fmt::Display) -> Result<T>;
    fn with_context<D: std::fmt::Display>(self, what: impl FnOnce() -> D) -> Result<T>;
}

impl<T, E: std::fmt::Display> Context<T> for std::result::Result<T, E> {
    fn context(self, what: impl std::fmt::Display) -> Result<T> {
        self.map_err(|e| Error::File(format!("{what}: {e}")))
    }

    fn with_context<D: std::fmt::Display>(self, what: impl FnOnce() -> D) -> Result<T> {
        self.map_err(|e| Error::File(format!("{}: {e}", what())))
    }
}

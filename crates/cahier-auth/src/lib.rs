//! Who may do what in Cahier: principals, roles, the policy table, and the
//! secrets that prove who someone is.
//!
//! Start with [`allowed`]: every access decision in Cahier, over HTTP and on the
//! sync socket, is a call to it. `docs/security.md` is the same table in prose.
//! This crate is pure: randomness comes in as bytes, time as milliseconds.

use cahier_doc::DocId;
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Editor,
    Maintainer,
}

impl Role {
    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "editor" => Some(Role::Editor),
            "maintainer" => Some(Role::Maintainer),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Editor => "editor",
            Role::Maintainer => "maintainer",
        }
    }
}

/// Who is asking.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Principal {
    /// A reader: nobody in particular.
    Anonymous,
    /// A participant who joined one set of minutes through an invite link.
    Guest { name: String, doc: String, write: bool, invite: String },
    /// Someone with an account.
    Account { name: String, role: Role },
}

impl Principal {
    /// The name history and credits show.
    pub fn display_name(&self) -> Option<&str> {
        match self {
            Principal::Anonymous => None,
            Principal::Guest { name, .. } | Principal::Account { name, .. } => Some(name),
        }
    }

    /// A stable identity for actor bindings: `account:NAME` or `guest:INVITE:NAME`.
    pub fn identity(&self) -> Option<String> {
        match self {
            Principal::Anonymous => None,
            Principal::Guest { name, invite, .. } => Some(format!("guest:{invite}:{name}")),
            Principal::Account { name, .. } => Some(format!("account:{name}")),
        }
    }
}

/// Something one may or may not do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Act<'a> {
    /// Read a published page as HTML, its published Markdown, the index, search, feeds.
    ReadPublished,
    /// Open a document on the sync socket, or read its live (unpublished) state over HTTP.
    ReadDocument(&'a DocId),
    /// Send changes to a document (creating it if new).
    WriteDocument(&'a DocId),
    /// Read a document's history, past versions and diffs.
    ReadHistory(&'a DocId),
    /// Create pages and minutes.
    CreateDocument,
    /// Create an invite link to a document.
    CreateInvite(&'a DocId),
    /// Revoke any invite link.
    RevokeInvite,
    Publish,
    Unpublish,
    Delete,
    Restore,
    /// Export the whole wiki, import files.
    ExportAll,
    Import,
    /// Manage accounts and roles, read the audit log.
    ManageAccounts,
    ReadAudit,
    /// List the stored files and delete them.
    ManageFiles,
}

/// The policy table. See `docs/security.md`.
pub fn allowed(who: &Principal, act: &Act<'_>) -> bool {
    match who {
        Principal::Anonymous => matches!(act, Act::ReadPublished),
        Principal::Guest { doc, write, .. } => match act {
            Act::ReadPublished => true,
            Act::ReadDocument(d) => d.as_str() == doc,
            Act::WriteDocument(d) => *write && d.as_str() == doc,
            _ => false,
        },
        Principal::Account { role: Role::Editor, .. } => matches!(
            act,
            Act::ReadPublished
                | Act::ReadDocument(_)
                | Act::WriteDocument(_)
                | Act::ReadHistory(_)
                | Act::CreateDocument
                | Act::CreateInvite(_)
        ),
        Principal::Account { role: Role::Maintainer, .. } => true,
    }
}

/// A secret (session id, API token, invite token, setup token): 256 random bits as hex.
pub fn new_secret(random: [u8; 32]) -> String {
    hex(&random)
}

/// What is stored in place of a secret: its SHA-256, so a copy of the store
/// does not hand out working sessions, tokens or links.
pub fn digest(secret: &str) -> String {
    use sha2::Digest;
    hex(&sha2::Sha256::digest(secret.as_bytes()))
}

/// Whether a secret looks like one Cahier made (before any lookup).
pub fn is_well_formed_secret(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
}

/// Compares two secrets in constant time.
pub fn same_secret(a: &str, b: &str) -> bool {
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[derive(Debug)]
pub struct PasswordError(pub String);

impl std::error::Error for PasswordError {}

impl std::fmt::Display for PasswordError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// The shortest password accepted.
pub const MIN_PASSWORD_CHARS: usize = 10;

/// Hashes a password with argon2id (the crate's default parameters) and the given salt.
pub fn hash_password(password: &str, salt: [u8; 16]) -> Result<String, PasswordError> {
    use argon2::password_hash::{PasswordHasher, SaltString};
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(PasswordError(format!("the password must have at least {MIN_PASSWORD_CHARS} characters")));
    }
    let salt = SaltString::encode_b64(&salt).map_err(|e| PasswordError(e.to_string()))?;
    argon2::Argon2::default().hash_password(password.as_bytes(), &salt).map(|h| h.to_string()).map_err(|e| PasswordError(e.to_string()))
}

/// Checks a password against a stored hash.
pub fn verify_password(password: &str, stored: &str) -> bool {
    use argon2::password_hash::{PasswordHash, PasswordVerifier};
    match PasswordHash::new(stored) {
        Ok(h) => argon2::Argon2::default().verify_password(password.as_bytes(), &h).is_ok(),
        Err(_) => false,
    }
}

/// A valid account or display name: 1 to 64 characters, not only spaces, no
/// control characters and no invisible formatting ones (zero-width spaces and
/// joiners, bidirectional overrides), with which a name would pass for
/// another.
pub fn is_valid_name(name: &str) -> bool {
    let n = name.chars().count();
    (1..=64).contains(&n) && !name.trim().is_empty() && !name.chars().any(|c| c.is_control() || is_invisible_format(c))
}

/// Unicode format characters (category Cf) that change how text shows
/// without showing themselves.
fn is_invisible_format(c: char) -> bool {
    matches!(c,
        '\u{00AD}' | '\u{061C}' | '\u{180E}' | '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}'
        | '\u{2060}'..='\u{2064}' | '\u{2066}'..='\u{206F}' | '\u{FEFF}' | '\u{FFF9}'..='\u{FFFB}')
}

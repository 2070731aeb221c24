//! Document ids, as automerge-repo writes them: bs58check of 16 bytes (a UUID v4).

use std::fmt;

/// A document id. Its text form is what goes after `automerge:` in a URL and
/// after `/edit/` in Cahier's addresses.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DocId(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid document id {0:?}: expected the base58check form of 16 bytes")]
pub struct InvalidDocId(pub String);

impl DocId {
    /// The id for 16 random bytes; the caller brings the randomness. Version and
    /// variant bits are set as in a UUID v4, which every automerge-repo accepts.
    pub fn from_random(mut bytes: [u8; 16]) -> DocId {
        bytes[6] = (bytes[6] & 0x0f) | 0x40;
        bytes[8] = (bytes[8] & 0x3f) | 0x80;
        DocId(bs58::encode(bytes).with_check().into_string())
    }

    /// Parses an id, or an `automerge:` URL (with or without `#heads`).
    pub fn parse(s: &str) -> Result<DocId, InvalidDocId> {
        let bare = s.strip_prefix("automerge:").unwrap_or(s);
        let bare = bare.split(['#', '/']).next().unwrap_or("");
        if bare.len() > 64 {
            return Err(InvalidDocId(s.chars().take(80).collect()));
        }
        match bs58::decode(bare).with_check(None).into_vec() {
            Ok(bytes) if bytes.len() == 16 => Ok(DocId(bare.to_owned())),
            _ => Err(InvalidDocId(s.chars().take(80).collect())),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// `automerge:ID`, what automerge-repo's `find()` takes.
    pub fn url(&self) -> String {
        format!("automerge:{}", self.0)
    }
}

impl fmt::Display for DocId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

//! The automerge-repo WebSocket wire format, protocol version "1": one CBOR map
//! per binary frame.
//!
//! Decoding is lenient in the ways the JavaScript encoder (cbor-x) needs: any map
//! header width, `undefined` where a value is optional, integers sent as floats,
//! and unknown keys, which are skipped. Encoding writes canonical definite-length
//! maps, which JavaScript decodes fine, and never a zero-length `data`.

use minicbor::data::Type;
use minicbor::{Decoder, Encoder};

/// The only protocol version there is.
pub const PROTOCOL_VERSION: &str = "1";

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PeerMetadata {
    pub storage_id: Option<String>,
    pub is_ephemeral: bool,
}

/// The heads one storage holds of a document, as gossiped in `remote-heads-changed`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteHeads {
    pub storage_id: String,
    /// bs58check of each change hash.
    pub heads: Vec<String>,
    /// Milliseconds since the epoch.
    pub timestamp: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    Join { sender_id: String, supported_versions: Option<Vec<String>>, metadata: Option<PeerMetadata> },
    Peer { sender_id: String, target_id: String, selected_version: String, metadata: Option<PeerMetadata> },
    Request { sender_id: String, target_id: String, document_id: String, data: Vec<u8> },
    Sync { sender_id: String, target_id: String, document_id: String, data: Vec<u8> },
    DocUnavailable { sender_id: String, target_id: String, document_id: String },
    Ephemeral { sender_id: String, target_id: String, count: u64, session_id: String, document_id: String, data: Vec<u8> },
    RemoteSubscriptionChange { sender_id: String, target_id: String, add: Vec<String>, remove: Vec<String> },
    RemoteHeadsChanged { sender_id: String, target_id: String, document_id: String, new_heads: Vec<RemoteHeads> },
    Leave { sender_id: String },
    Error { message: String },
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("not a CBOR map: {0}")]
    NotAMap(String),
    #[error("malformed CBOR: {0}")]
    Cbor(String),
    #[error("message has no `type`")]
    NoType,
    #[error("unknown message type {0:?}")]
    UnknownType(String),
    #[error("`{ty}` message lacks `{field}`")]
    Missing { ty: String, field: &'static str },
    #[error("field `{0}` has the wrong type")]
    WrongType(&'static str),
    #[error("trailing bytes after the message")]
    Trailing,
}

impl From<minicbor::decode::Error> for DecodeError {
    fn from(e: minicbor::decode::Error) -> Self {
        DecodeError::Cbor(e.to_string())
    }
}

/// Nesting deeper than this in an unknown value is refused, not recursed into.
const MAX_DEPTH: usize = 16;

#[derive(Default)]
struct Fields {
    ty: Option<String>,
    sender_id: Option<String>,
    target_id: Option<String>,
    document_id: Option<String>,
    data: Option<Vec<u8>>,
    supported_versions: Option<Vec<String>>,
    selected_version: Option<String>,
    metadata: Option<PeerMetadata>,
    count: Option<u64>,
    session_id: Option<String>,
    add: Option<Vec<String>>,
    remove: Option<Vec<String>>,
    new_heads: Option<Vec<RemoteHeads>>,
    message: Option<String>,
}

impl Message {
    pub fn decode(bytes: &[u8]) -> Result<Message, DecodeError> {
        let mut d = Decoder::new(bytes);
        let mut f = Fields::default();
        map_entries(&mut d, |d, key| {
            match key {
                "type" => f.ty = opt_str(d, "type")?,
                "senderId" => f.sender_id = opt_str(d, "senderId")?,
                "targetId" => f.target_id = opt_str(d, "targetId")?,
                "documentId" => f.document_id = opt_str(d, "documentId")?,
                "data" => f.data = opt_bytes(d)?,
                "supportedProtocolVersions" => f.supported_versions = opt_str_list(d, "supportedProtocolVersions")?,
                "selectedProtocolVersion" => f.selected_version = opt_str(d, "selectedProtocolVersion")?,
                "peerMetadata" | "metadata" => f.metadata = opt_metadata(d)?,
                "count" => f.count = opt_u64(d, "count")?,
                "sessionId" => f.session_id = opt_str(d, "sessionId")?,
                "add" => f.add = opt_str_list(d, "add")?,
                "remove" => f.remove = opt_str_list(d, "remove")?,
                "newHeads" => f.new_heads = opt_new_heads(d)?,
                "message" => f.message = opt_str(d, "message")?,
                _ => skip(d, 0)?,
            }
            Ok(())
        })?;
        if d.position() != bytes.len() {
            return Err(DecodeError::Trailing);
        }
        let ty = f.ty.ok_or(DecodeError::NoType)?;
        let missing = |field: &'static str| DecodeError::Missing { ty: ty.clone(), field };
        let msg = match ty.as_str() {
            "join" => Message::Join {
                sender_id: f.sender_id.ok_or_else(|| missing("senderId"))?,
                supported_versions: f.supported_versions,
                metadata: f.metadata,
            },
            "peer" => Message::Peer {
                sender_id: f.sender_id.ok_or_else(|| missing("senderId"))?,
                target_id: f.target_id.ok_or_else(|| missing("targetId"))?,
                selected_version: f.selected_version.ok_or_else(|| missing("selectedProtocolVersion"))?,
                metadata: f.metadata,
            },
            "request" | "sync" => {
                let sender_id = f.sender_id.ok_or_else(|| missing("senderId"))?;
                let target_id = f.target_id.ok_or_else(|| missing("targetId"))?;
                let document_id = f.document_id.ok_or_else(|| missing("documentId"))?;
                let data = f.data.ok_or_else(|| missing("data"))?;
                if ty == "request" {
                    Message::Request { sender_id, target_id, document_id, data }
                } else {
                    Message::Sync { sender_id, target_id, document_id, data }
                }
            }
            "doc-unavailable" => Message::DocUnavailable {
                sender_id: f.sender_id.ok_or_else(|| missing("senderId"))?,
                target_id: f.target_id.ok_or_else(|| missing("targetId"))?,
                document_id: f.document_id.ok_or_else(|| missing("documentId"))?,
            },
            "ephemeral" => Message::Ephemeral {
                sender_id: f.sender_id.ok_or_else(|| missing("senderId"))?,
                target_id: f.target_id.ok_or_else(|| missing("targetId"))?,
                count: f.count.ok_or_else(|| missing("count"))?,
                session_id: f.session_id.ok_or_else(|| missing("sessionId"))?,
                document_id: f.document_id.ok_or_else(|| missing("documentId"))?,
                data: f.data.ok_or_else(|| missing("data"))?,
            },
            "remote-subscription-change" => Message::RemoteSubscriptionChange {
                sender_id: f.sender_id.ok_or_else(|| missing("senderId"))?,
                target_id: f.target_id.ok_or_else(|| missing("targetId"))?,
                add: f.add.unwrap_or_default(),
                remove: f.remove.unwrap_or_default(),
            },
            "remote-heads-changed" => Message::RemoteHeadsChanged {
                sender_id: f.sender_id.ok_or_else(|| missing("senderId"))?,
                target_id: f.target_id.ok_or_else(|| missing("targetId"))?,
                document_id: f.document_id.ok_or_else(|| missing("documentId"))?,
                new_heads: f.new_heads.unwrap_or_default(),
            },
            "leave" => Message::Leave { sender_id: f.sender_id.unwrap_or_default() },
            "error" => Message::Error { message: f.message.unwrap_or_default() },
            _ => return Err(DecodeError::UnknownType(ty.chars().take(64).collect())),
        };
        Ok(msg)
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut e = Encoder::new(Vec::new());
        // Writing to a Vec cannot fail.
        let _ = self.encode_into(&mut e);
        e.into_writer()
    }

    fn encode_into(&self, e: &mut Encoder<Vec<u8>>) -> Result<(), minicbor::encode::Error<std::convert::Infallible>> {
        match self {
            Message::Join { sender_id, supported_versions, metadata } => {
                let n = 2 + supported_versions.is_some() as u64 + metadata.is_some() as u64;
                e.map(n)?.str("type")?.str("join")?.str("senderId")?.str(sender_id)?;
                if let Some(v) = supported_versions {
                    e.str("supportedProtocolVersions")?.array(v.len() as u64)?;
                    for s in v {
                        e.str(s)?;
                    }
                }
                if let Some(m) = metadata {
                    e.str("peerMetadata")?;
                    encode_metadata(e, m)?;
                }
            }
            Message::Peer { sender_id, target_id, selected_version, metadata } => {
                e.map(4 + metadata.is_some() as u64)?;
                e.str("type")?.str("peer")?.str("senderId")?.str(sender_id)?.str("targetId")?.str(target_id)?;
                e.str("selectedProtocolVersion")?.str(selected_version)?;
                if let Some(m) = metadata {
                    e.str("peerMetadata")?;
                    encode_metadata(e, m)?;
                }
            }
            Message::Request { sender_id, target_id, document_id, data } | Message::Sync { sender_id, target_id, document_id, data } => {
                let ty = if matches!(self, Message::Request { .. }) { "request" } else { "sync" };
                e.map(5)?.str("type")?.str(ty)?.str("senderId")?.str(sender_id)?.str("targetId")?.str(target_id)?;
                e.str("documentId")?.str(document_id)?.str("data")?.bytes(data)?;
            }
            Message::DocUnavailable { sender_id, target_id, document_id } => {
                e.map(4)?.str("type")?.str("doc-unavailable")?.str("senderId")?.str(sender_id)?;
                e.str("targetId")?.str(target_id)?.str("documentId")?.str(document_id)?;
            }
            Message::Ephemeral { sender_id, target_id, count, session_id, document_id, data } => {
                e.map(7)?.str("type")?.str("ephemeral")?.str("senderId")?.str(sender_id)?;
                e.str("targetId")?.str(target_id)?.str("count")?.u64(*count)?.str("sessionId")?.str(session_id)?;
                e.str("documentId")?.str(document_id)?.str("data")?.bytes(data)?;
            }
            Message::RemoteSubscriptionChange { sender_id, target_id, add, remove } => {
                e.map(5)?.str("type")?.str("remote-subscription-change")?.str("senderId")?.str(sender_id)?;
                e.str("targetId")?.str(target_id)?.str("add")?.array(add.len() as u64)?;
                for s in add {
                    e.str(s)?;
                }
                e.str("remove")?.array(remove.len() as u64)?;
                for s in remove {
                    e.str(s)?;
                }
            }
            Message::RemoteHeadsChanged { sender_id, target_id, document_id, new_heads } => {
                e.map(5)?.str("type")?.str("remote-heads-changed")?.str("senderId")?.str(sender_id)?;
                e.str("targetId")?.str(target_id)?.str("documentId")?.str(document_id)?;
                e.str("newHeads")?.map(new_heads.len() as u64)?;
                for h in new_heads {
                    e.str(&h.storage_id)?.map(2)?.str("heads")?.array(h.heads.len() as u64)?;
                    for s in &h.heads {
                        e.str(s)?;
                    }
                    e.str("timestamp")?.u64(h.timestamp)?;
                }
            }
            Message::Leave { sender_id } => {
                e.map(2)?.str("type")?.str("leave")?.str("senderId")?.str(sender_id)?;
            }
            Message::Error { message } => {
                e.map(2)?.str("type")?.str("error")?.str("message")?.str(message)?;
            }
        }
        Ok(())
    }

    /// The document a message is about, if any.
    pub fn document_id(&self) -> Option<&str> {
        match self {
            Message::Request { document_id, .. }
            | Message::Sync { document_id, .. }
            | Message::DocUnavailable { document_id, .. }
            | Message::Ephemeral { document_id, .. }
            | Message::RemoteHeadsChanged { document_id, .. } => Some(document_id),
            _ => None,
        }
    }
}

fn encode_metadata(e: &mut Encoder<Vec<u8>>, m: &PeerMetadata) -> Result<(), minicbor::encode::Error<std::convert::Infallible>> {
    e.map(1 + m.storage_id.is_some() as u64)?;
    if let Some(id) = &m.storage_id {
        e.str("storageId")?.str(id)?;
    }
    e.str("isEphemeral")?.bool(m.is_ephemeral)?;
    Ok(())
}

/// Calls `f` with each key of a map (definite or indefinite), positioned at its value.
fn map_entries<'b>(d: &mut Decoder<'b>, mut f: impl FnMut(&mut Decoder<'b>, &str) -> Result<(), DecodeError>) -> Result<(), DecodeError> {
    let len = match d.datatype()? {
        Type::Map | Type::MapIndef => d.map()?,
        other => return Err(DecodeError::NotAMap(format!("{other}"))),
    };
    each_entry(d, len, |d| match d.datatype()? {
        Type::String => {
            let key = d.str()?.to_owned();
            f(d, &key)
        }
        _ => {
            skip(d, 0)?;
            skip(d, 0)
        }
    })
}

/// Calls `f` once per entry of an array or map whose header gave `len`
/// (`None`: indefinite, ended by a break).
fn each_entry<'b>(
    d: &mut Decoder<'b>,
    len: Option<u64>,
    mut f: impl FnMut(&mut Decoder<'b>) -> Result<(), DecodeError>,
) -> Result<(), DecodeError> {
    let mut i = 0u64;
    loop {
        match len {
            Some(n) if i >= n => return Ok(()),
            None if d.datatype()? == Type::Break => {
                d.skip()?;
                return Ok(());
            }
            _ => {}
        }
        f(d)?;
        i += 1;
    }
}

fn skip(d: &mut Decoder<'_>, depth: usize) -> Result<(), DecodeError> {
    if depth > MAX_DEPTH {
        return Err(DecodeError::Cbor("nested too deeply".into()));
    }
    match d.datatype()? {
        Type::Array | Type::ArrayIndef => {
            let len = d.array()?;
            each_entry(d, len, |d| skip(d, depth + 1))
        }
        Type::Map | Type::MapIndef => {
            let len = d.map()?;
            each_entry(d, len, |d| {
                skip(d, depth + 1)?;
                skip(d, depth + 1)
            })
        }
        Type::Tag => {
            d.tag()?;
            skip(d, depth + 1)
        }
        _ => Ok(d.skip()?),
    }
}

fn is_absent(d: &mut Decoder<'_>) -> Result<bool, DecodeError> {
    match d.datatype()? {
        Type::Undefined => {
            d.undefined()?;
            Ok(true)
        }
        Type::Null => {
            d.null()?;
            Ok(true)
        }
        _ => Ok(false),
    }
}

fn opt_str(d: &mut Decoder<'_>, field: &'static str) -> Result<Option<String>, DecodeError> {
    if is_absent(d)? {
        return Ok(None);
    }
    match d.datatype()? {
        Type::String => Ok(Some(d.str()?.to_owned())),
        Type::StringIndef => {
            let mut s = String::new();
            for part in d.str_iter()? {
                s.push_str(part?);
            }
            Ok(Some(s))
        }
        _ => Err(DecodeError::WrongType(field)),
    }
}

fn opt_bytes(d: &mut Decoder<'_>) -> Result<Option<Vec<u8>>, DecodeError> {
    if is_absent(d)? {
        return Ok(None);
    }
    match d.datatype()? {
        Type::Tag => {
            // A typed array tag around the bytes (cbor-x with tagging on).
            d.tag()?;
            opt_bytes(d)
        }
        Type::Bytes => Ok(Some(d.bytes()?.to_vec())),
        Type::BytesIndef => {
            let mut v = Vec::new();
            for part in d.bytes_iter()? {
                v.extend_from_slice(part?);
            }
            Ok(Some(v))
        }
        _ => Err(DecodeError::WrongType("data")),
    }
}

fn opt_u64(d: &mut Decoder<'_>, field: &'static str) -> Result<Option<u64>, DecodeError> {
    if is_absent(d)? {
        return Ok(None);
    }
    let v = match d.datatype()? {
        Type::U8 | Type::U16 | Type::U32 | Type::U64 => d.u64()?,
        Type::I8 | Type::I16 | Type::I32 | Type::I64 | Type::Int => {
            let i: i64 = d.i64().map_err(|_| DecodeError::WrongType(field))?;
            u64::try_from(i).map_err(|_| DecodeError::WrongType(field))?
        }
        Type::F16 | Type::F32 | Type::F64 => {
            let f = d.f64()?;
            if f.is_finite() && f >= 0.0 && f.fract() == 0.0 && f < 1.8e19 {
                f as u64
            } else {
                return Err(DecodeError::WrongType(field));
            }
        }
        _ => return Err(DecodeError::WrongType(field)),
    };
    Ok(Some(v))
}

fn opt_str_list(d: &mut Decoder<'_>, field: &'static str) -> Result<Option<Vec<String>>, DecodeError> {
    if is_absent(d)? {
        return Ok(None);
    }
    let len = match d.datatype()? {
        Type::Array | Type::ArrayIndef => d.array()?,
        _ => return Err(DecodeError::WrongType(field)),
    };
    let mut out = Vec::new();
    each_entry(d, len, |d| {
        if let Some(s) = opt_str(d, field)? {
            out.push(s);
        }
        Ok(())
    })?;
    Ok(Some(out))
}

fn opt_metadata(d: &mut Decoder<'_>) -> Result<Option<PeerMetadata>, DecodeError> {
    if is_absent(d)? {
        return Ok(None);
    }
    let mut m = PeerMetadata::default();
    map_entries(d, |d, key| {
        match key {
            "storageId" => m.storage_id = opt_str(d, "storageId")?,
            "isEphemeral" => {
                m.is_ephemeral = match d.datatype()? {
                    Type::Bool => d.bool()?,
                    _ => {
                        skip(d, 0)?;
                        false
                    }
                }
            }
            _ => skip(d, 0)?,
        }
        Ok(())
    })?;
    Ok(Some(m))
}

fn opt_new_heads(d: &mut Decoder<'_>) -> Result<Option<Vec<RemoteHeads>>, DecodeError> {
    if is_absent(d)? {
        return Ok(None);
    }
    let mut out = Vec::new();
    map_entries(d, |d, storage_id| {
        let mut heads = Vec::new();
        let mut timestamp = 0;
        if is_absent(d)? {
            return Ok(());
        }
        map_entries(d, |d, key| {
            match key {
                "heads" => heads = opt_str_list(d, "heads")?.unwrap_or_default(),
                "timestamp" => timestamp = opt_u64(d, "timestamp")?.unwrap_or(0),
                _ => skip(d, 0)?,
            }
            Ok(())
        })?;
        out.push(RemoteHeads { storage_id: storage_id.to_owned(), heads, timestamp });
        Ok(())
    })?;
    Ok(Some(out))
}

/// A change hash as automerge-repo writes heads: bs58check of its 32 bytes.
pub fn encode_head(hash: &automerge::ChangeHash) -> String {
    bs58::encode(hash.0).with_check().into_string()
}

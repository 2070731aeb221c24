//! Images and attachments in the store: each file under the SHA-256 of the
//! bytes stored (a picture as [`crate::media::clean`] left it), as records of
//! the store (so every backend keeps them, in the same atomic batches): its
//! description under `filemeta/HASH`, its bytes under `filedata/HASH` and its
//! smaller copies under `filedata/HASH.wWIDTH`. A file belongs to the
//! documents it was uploaded into, whose readers may fetch it; anyone may
//! once a published page shows it (the server decides that). Limits on the
//! size of one file, the number of files and their total size hold on upload
//! and on import.

use std::collections::{BTreeSet, HashMap};

use cahier_doc::DocId;
use cahier_store::Store;
use serde::{Deserialize, Serialize};
use sha2::Digest;

use crate::archive::{InFile, OutFile};
use crate::error::{Error, Result};
use crate::media::{self, FileKind, MediaError};

const META: &str = "filemeta/";
const DATA: &str = "filedata/";
/// The folder of an export that holds the files.
pub const FOLDER: &str = "files";
/// The description of every file in an export: who uploaded it, under which
/// licence, for which documents.
pub const INDEX_FILE: &str = "files/index.json";

/// What the store accepts; on by default.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileLimits {
    /// One file, as uploaded.
    pub max_file_bytes: u64,
    /// Files in the store.
    pub max_files: usize,
    /// Every file's stored bytes, smaller copies included.
    pub max_total_bytes: u64,
}

impl Default for FileLimits {
    fn default() -> FileLimits {
        FileLimits { max_file_bytes: 10 << 20, max_files: 10_000, max_total_bytes: 2 << 30 }
    }
}

/// A stored file's description.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileMeta {
    /// The SHA-256 of the stored bytes, in lowercase hex.
    pub hash: String,
    pub ext: String,
    /// The stored file's size in bytes.
    pub size: u64,
    /// With the smaller copies.
    pub stored: u64,
    pub width: u32,
    pub height: u32,
    /// The widths of the smaller copies.
    pub variants: Vec<u32>,
    /// The documents it was uploaded into.
    pub docs: Vec<String>,
    /// Who uploaded it first: the credit.
    pub by: String,
    pub at_ms: i64,
    pub license: String,
}

impl FileMeta {
    pub fn kind(&self) -> Option<FileKind> {
        FileKind::from_ext(&self.ext)
    }

    /// Its stable address: `/files/HASH.EXT`.
    pub fn path(&self) -> String {
        format!("/files/{}", self.name())
    }

    pub fn name(&self) -> String {
        format!("{}.{}", self.hash, self.ext)
    }
}

/// Why an upload was not stored; each says what the person can do.
#[derive(Debug, thiserror::Error)]
pub enum UploadError {
    #[error("the file is larger than {} MiB", .0 >> 20)]
    TooLarge(u64),
    #[error("{0}")]
    Refused(#[from] MediaError),
    #[error("the wiki holds as many files as it may ({0})")]
    Full(String),
    #[error(transparent)]
    Store(#[from] Error),
}

/// A file's address, parsed: `HASH.EXT`, or `HASH.wWIDTH.EXT` for a smaller copy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileName {
    pub hash: String,
    pub kind: FileKind,
    pub width: Option<u32>,
}

impl FileName {
    pub fn parse(name: &str) -> Option<FileName> {
        let (stem, ext) = name.rsplit_once('.')?;
        let kind = FileKind::from_ext(ext)?;
        let (hash, width) = match stem.split_once('.') {
            None => (stem, None),
            Some((hash, w)) => {
                let w: u32 = w.strip_prefix('w')?.parse().ok()?;
                if !media::VARIANT_WIDTHS.contains(&w) {
                    return None;
                }
                (hash, Some(w))
            }
        };
        is_hash(hash).then(|| FileName { hash: hash.to_owned(), kind, width })
    }
}

fn is_hash(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

pub fn hash(bytes: &[u8]) -> String {
    let digest = sha2::Sha256::digest(bytes);
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// Stores an upload into document `doc`: refused past the limits or when it
/// is not a picture or PDF Cahier takes; a picture loses its metadata first.
/// The same file uploaded again is stored once and belongs to both documents.
pub fn upload(store: &Store, doc: &DocId, bytes: &[u8], by: &str, now_ms: i64, limits: &FileLimits) -> Result<FileMeta, UploadError> {
    if bytes.len() as u64 > limits.max_file_bytes {
        return Err(UploadError::TooLarge(limits.max_file_bytes));
    }
    let cleaned = media::clean(bytes)?;
    let meta = FileMeta {
        hash: hash(&cleaned.bytes),
        ext: cleaned.kind.ext().to_owned(),
        size: cleaned.bytes.len() as u64,
        stored: (cleaned.bytes.len() + cleaned.variants.iter().map(|(_, v)| v.len()).sum::<usize>()) as u64,
        width: cleaned.width,
        height: cleaned.height,
        variants: cleaned.variants.iter().map(|(w, _)| *w).collect(),
        docs: vec![doc.to_string()],
        by: by.to_owned(),
        at_ms: now_ms,
        license: cahier_doc::schema::DEFAULT_LICENSE.to_owned(),
    };
    put(store, meta, cleaned.bytes, cleaned.variants, limits)
}

/// Writes a new file (or adds its documents to the one stored) in one batch.
fn put(
    store: &Store,
    mut meta: FileMeta,
    bytes: Vec<u8>,
    variants: Vec<(u32, Vec<u8>)>,
    limits: &FileLimits,
) -> Result<FileMeta, UploadError> {
    if let Some(mut old) = self::meta(store, &meta.hash)? {
        let before = old.docs.len();
        let docs: BTreeSet<String> = old.docs.drain(..).chain(meta.docs).collect();
        old.docs = docs.into_iter().collect();
        if old.docs.len() != before {
            store.put_records(vec![(format!("{META}{}", old.hash), Some(to_json(&old)?))]).map_err(Error::from)?;
        }
        return Ok(old);
    }
    let all = list(store)?;
    if all.len() >= limits.max_files {
        return Err(UploadError::Full(format!("{} files", limits.max_files)));
    }
    let total: u64 = all.iter().map(|m| m.stored).sum();
    if total + meta.stored > limits.max_total_bytes {
        return Err(UploadError::Full(format!("{} MiB in all", limits.max_total_bytes >> 20)));
    }
    meta.docs.sort();
    let mut writes = vec![(format!("{META}{}", meta.hash), Some(to_json(&meta)?)), (format!("{DATA}{}", meta.hash), Some(bytes))];
    for (w, v) in variants {
        writes.push((format!("{DATA}{}.w{w}", meta.hash), Some(v)));
    }
    store.put_records(writes).map_err(Error::from)?;
    Ok(meta)
}

fn to_json(meta: &FileMeta) -> Result<Vec<u8>> {
    serde_json::to_vec(meta).map_err(|e| Error::Invalid(format!("cannot describe the file: {e}")))
}

/// A stored file's description.
pub fn meta(store: &Store, hash: &str) -> Result<Option<FileMeta>> {
    match store.record(&format!("{META}{hash}"))? {
        Some(bytes) => {
            Ok(Some(serde_json::from_slice(&bytes).map_err(|e| crate::error::corrupt(&format!("the description of file {hash}"), e))?))
        }
        None => Ok(None),
    }
}

/// Every stored file's description, by hash.
pub fn list(store: &Store) -> Result<Vec<FileMeta>> {
    store
        .records(META)?
        .into_iter()
        .map(|(k, v)| serde_json::from_slice(&v).map_err(|e| crate::error::corrupt(&format!("the description of {k}"), e)))
        .collect()
}

/// The documents (not deleted) whose current text shows or links the stored
/// file `hash` (or one of its smaller copies), as the document list knows them.
pub fn used_by(store: &Store, hash: &str) -> Result<Vec<cahier_store::IndexEntry>> {
    Ok(uses(store)?.remove(hash).unwrap_or_default())
}

/// For every stored file named in a document's current text, the documents
/// (not deleted) that name it: each document is read once.
pub fn uses(store: &Store) -> Result<HashMap<String, Vec<cahier_store::IndexEntry>>> {
    let deleted = crate::publication::deleted_ids(store)?;
    let mut out: HashMap<String, Vec<cahier_store::IndexEntry>> = HashMap::new();
    for entry in store.list()? {
        let Ok(id) = DocId::parse(&entry.id) else { continue };
        if deleted.contains(&id) {
            continue;
        }
        let Some((doc, _)) = store.load_record(&id)? else { continue };
        let body = cahier_doc::read(&doc, None).0.body;
        let named: BTreeSet<&str> = body.match_indices("/files/").filter_map(|(at, _)| named_hash(&body[at + "/files/".len()..])).collect();
        for hash in named {
            out.entry(hash.to_owned()).or_default().push(entry.clone());
        }
    }
    Ok(out)
}

/// The hash a file's address starts with (`HASH.…`), if it is one.
fn named_hash(rest: &str) -> Option<&str> {
    let hash = rest.get(..64)?;
    (hash.bytes().all(|b| b.is_ascii_hexdigit()) && rest[64..].starts_with('.')).then_some(hash)
}

/// Deletes the stored file `hash`: its bytes, its smaller copies and its
/// description, in one batch with the audit entry naming it. Pages that still
/// name it show a missing picture or link. `Ok(None)` when no such file.
pub fn delete(store: &Store, hash: &str, by: &str, now_ms: i64) -> Result<Option<FileMeta>> {
    let Some(meta) = meta(store, hash)? else { return Ok(None) };
    let mut writes = vec![(format!("{META}{hash}"), None), (format!("{DATA}{hash}"), None)];
    writes.extend(meta.variants.iter().map(|w| (format!("{DATA}{hash}.w{w}"), None)));
    let event = crate::auth_store::AuditEvent { at_ms: now_ms, who: by.to_owned(), action: "file deleted".into(), target: meta.path() };
    writes.push(crate::auth_store::audit_write(store, &event)?);
    store.put_records(writes)?;
    Ok(Some(meta))
}

/// The bytes of a file, or of its smaller copy of `width` (the file itself when
/// it is no wider).
pub fn data(store: &Store, hash: &str, width: Option<u32>) -> Result<Option<Vec<u8>>> {
    if let Some(w) = width
        && let Some(bytes) = store.record(&format!("{DATA}{hash}.w{w}"))?
    {
        return Ok(Some(bytes));
    }
    Ok(store.record(&format!("{DATA}{hash}"))?)
}

/// One file of the export's index.
#[derive(Debug, Serialize, Deserialize)]
struct Indexed {
    name: String,
    by: String,
    at_ms: i64,
    license: String,
    /// The addresses of the documents it belongs to.
    documents: Vec<String>,
}

/// The export's `files/`: each file as stored, and `files/index.json`, its
/// credit, licence and documents (by address, from `slugs`). Sorted by path.
pub fn export(store: &Store, slugs: &HashMap<String, String>) -> Result<Vec<OutFile>> {
    let mut out = Vec::new();
    let mut index = Vec::new();
    for meta in list(store)? {
        let Some(bytes) = data(store, &meta.hash, None)? else {
            return Err(crate::error::corrupt("the files", format!("file {} is described but not stored", meta.hash)));
        };
        let mtime_secs = (meta.at_ms / 1000).max(0) as u64;
        let mut documents: Vec<String> = meta.docs.iter().filter_map(|d| slugs.get(d).cloned()).collect();
        documents.sort();
        index.push(Indexed { name: meta.name(), by: meta.by.clone(), at_ms: meta.at_ms, license: meta.license.clone(), documents });
        out.push(OutFile { path: format!("{FOLDER}/{}", meta.name()), bytes, mtime_secs });
    }
    if !out.is_empty() {
        let mtime_secs = out.iter().map(|f| f.mtime_secs).max().unwrap_or(0);
        let mut json = serde_json::to_vec_pretty(&index).map_err(|e| Error::Invalid(format!("cannot write the files' index: {e}")))?;
        json.push(b'\n');
        out.push(OutFile { path: INDEX_FILE.to_owned(), bytes: json, mtime_secs });
    }
    out.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(out)
}

/// The credits' lines for the files: `files/NAME (licence) : who`.
pub fn credit_lines(store: &Store) -> Result<Vec<String>> {
    Ok(list(store)?.iter().map(|m| format!("- `{FOLDER}/{}` ({}) : {}\n", m.name(), m.license, m.by)).collect())
}

/// Whether an archive member belongs to the files (`…files/NAME` or the index).
pub fn is_file_member(name: &str) -> bool {
    let mut parts = name.rsplit(['/', ':']);
    let (Some(last), Some(folder)) = (parts.next(), parts.next()) else { return false };
    folder == FOLDER && (last == "index.json" || FileName::parse(last).is_some_and(|f| f.width.is_none()))
}

/// Imports the files of an export, once its documents are (the index names
/// them by address). Each file is kept byte for byte, so the pages that show
/// it still do: its name must be the SHA-256 of its bytes, its type what the
/// bytes say, and a picture must carry no metadata. Returns, per file, its
/// name and what became of it.
pub fn import(store: &Store, members: &[InFile], now_ms: i64, limits: &FileLimits) -> Vec<(String, Result<FileMeta, UploadError>)> {
    let index: HashMap<String, Indexed> = members
        .iter()
        .find(|m| m.name.ends_with("index.json"))
        .and_then(|m| serde_json::from_slice::<Vec<Indexed>>(&m.bytes).ok())
        .unwrap_or_default()
        .into_iter()
        .map(|i| (i.name.clone(), i))
        .collect();
    let mut out = Vec::new();
    for m in members.iter().filter(|m| !m.name.ends_with("index.json")) {
        let last = m.name.rsplit(['/', ':']).next().unwrap_or_default();
        out.push((m.name.clone(), import_one(store, last, &m.bytes, index.get(last), now_ms, limits)));
    }
    out
}

fn import_one(
    store: &Store,
    name: &str,
    bytes: &[u8],
    indexed: Option<&Indexed>,
    now_ms: i64,
    limits: &FileLimits,
) -> Result<FileMeta, UploadError> {
    let invalid = |why: String| UploadError::Store(Error::Invalid(format!("{name}: {why}")));
    let Some(file) = FileName::parse(name) else { return Err(invalid("not a file's name".into())) };
    if bytes.len() as u64 > limits.max_file_bytes {
        return Err(UploadError::TooLarge(limits.max_file_bytes));
    }
    if hash(bytes) != file.hash {
        return Err(invalid("its name is not the SHA-256 of its bytes".into()));
    }
    if media::sniff(bytes) != Some(file.kind) {
        return Err(invalid(format!("not a {} file", file.kind.ext())));
    }
    let left = media::metadata(bytes);
    if !left.is_empty() {
        return Err(invalid(format!("carries metadata ({})", left.join(", "))));
    }
    let media::Cleaned { width, height, variants, .. } = media::variants(bytes, file.kind)?;
    let mut docs = Vec::new();
    for slug in indexed.map(|i| i.documents.as_slice()).unwrap_or_default() {
        if let Some(id) = store.find_slug(slug).map_err(Error::from)? {
            docs.push(id.to_string());
        }
    }
    let meta = FileMeta {
        hash: file.hash,
        ext: file.kind.ext().to_owned(),
        size: bytes.len() as u64,
        stored: (bytes.len() + variants.iter().map(|(_, v)| v.len()).sum::<usize>()) as u64,
        width,
        height,
        variants: variants.iter().map(|(w, _)| *w).collect(),
        docs,
        by: indexed.map_or_else(|| crate::transfer::IMPORT_PUBLISHER.to_owned(), |i| i.by.clone()),
        at_ms: indexed.map_or(now_ms, |i| i.at_ms),
        license: indexed.map_or_else(|| cahier_doc::schema::DEFAULT_LICENSE.to_owned(), |i| i.license.clone()),
    };
    put(store, meta, bytes.to_vec(), variants, limits)
}

/// The documents of an import, and its files (imported after them).
pub fn partition(members: Vec<InFile>) -> (Vec<InFile>, Vec<InFile>) {
    members.into_iter().partition(|m| !is_file_member(&m.name))
}

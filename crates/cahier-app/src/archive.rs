//! Reading and writing sets of files: a folder, a .tar.gz or a .zip, by the name.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use crate::error::{Context, Error, Result};

/// The largest Markdown file accepted on import.
pub const MAX_FILE_BYTES: u64 = 16 * 1024 * 1024;
/// The most an archive may unpack to, against archive bombs.
pub const MAX_TOTAL_BYTES: u64 = 512 * 1024 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Folder,
    TarGz,
    Zip,
}

pub fn format_of(path: &Path) -> Format {
    let name = path.file_name().map(|n| n.to_string_lossy().to_lowercase()).unwrap_or_default();
    if name.ends_with(".tar.gz") || name.ends_with(".tgz") {
        Format::TarGz
    } else if name.ends_with(".zip") {
        Format::Zip
    } else {
        Format::Folder
    }
}

/// A file to import: its name as the user should see it in errors, and its bytes.
pub struct InFile {
    pub name: String,
    pub bytes: Vec<u8>,
}

/// Every `.md` file under `path` (a file, a folder, or an archive), and the
/// images and attachments of an export (`files/`), sorted by name.
pub fn read_markdown_files(path: &Path) -> Result<Vec<InFile>> {
    let meta = std::fs::metadata(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut files = if meta.is_dir() {
        let mut out = Vec::new();
        walk(path, path, &mut out)?;
        out
    } else {
        match format_of(path) {
            Format::TarGz => read_tar_gz(path)?,
            Format::Zip => read_zip(path)?,
            Format::Folder => {
                let bytes = read_limited(std::fs::File::open(path)?, &path.display().to_string())?;
                vec![InFile { name: path.display().to_string(), bytes }]
            }
        }
    };
    files.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(files)
}

fn is_imported(name: &str) -> bool {
    name.to_lowercase().ends_with(".md") && !is_credits(name) || crate::files::is_file_member(name)
}

/// The credits file an export writes beside the pages; it is not a page.
fn is_credits(name: &str) -> bool {
    name.rsplit('/').next() == Some(CREDITS_FILE)
}

pub const CREDITS_FILE: &str = "CREDITS.md";

fn walk(root: &Path, dir: &Path, out: &mut Vec<InFile>) -> Result<()> {
    let mut total = 0u64;
    for entry in std::fs::read_dir(dir).with_context(|| format!("cannot read {}", dir.display()))? {
        let entry = entry?;
        let path = entry.path();
        let ty = entry.file_type()?;
        if ty.is_dir() {
            walk(root, &path, out)?;
        } else if ty.is_file() {
            let name = path.display().to_string();
            let rel = path.strip_prefix(root).unwrap_or(&path).to_string_lossy().replace('\\', "/");
            if is_imported(&rel) {
                let bytes = read_limited(std::fs::File::open(&path)?, &name)?;
                total += bytes.len() as u64;
                if total > MAX_TOTAL_BYTES {
                    return Err(Error::File(format!("{}: more than {} MiB of Markdown", root.display(), MAX_TOTAL_BYTES >> 20)));
                }
                out.push(InFile { name, bytes });
            }
        }
    }
    Ok(())
}

fn read_limited(r: impl Read, name: &str) -> Result<Vec<u8>> {
    let mut bytes = Vec::new();
    r.take(MAX_FILE_BYTES + 1).read_to_end(&mut bytes).with_context(|| format!("cannot read {name}"))?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(Error::File(format!("{name}: larger than {} MiB", MAX_FILE_BYTES >> 20)));
    }
    Ok(bytes)
}

fn read_tar_gz(path: &Path) -> Result<Vec<InFile>> {
    let file = std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    tar_gz_members(file, &path.display().to_string())
}

fn tar_gz_members(r: impl Read, label: &str) -> Result<Vec<InFile>> {
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(r));
    let mut out = Vec::new();
    let mut total = 0u64;
    for entry in archive.entries().with_context(|| format!("{label}: not a .tar.gz archive"))? {
        let entry = entry.with_context(|| format!("{label}: damaged archive"))?;
        if !entry.header().entry_type().is_file() {
            continue;
        }
        let inner = entry.path()?.to_string_lossy().into_owned();
        if !is_imported(&inner) {
            continue;
        }
        let name = format!("{label}:{inner}");
        add_member(label, &mut out, &mut total, name, entry)?;
    }
    Ok(out)
}

fn read_zip(path: &Path) -> Result<Vec<InFile>> {
    let file = std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    zip_members(file, &path.display().to_string())
}

fn zip_members(r: impl Read + std::io::Seek, label: &str) -> Result<Vec<InFile>> {
    let mut archive = zip::ZipArchive::new(r).with_context(|| format!("{label}: not a .zip archive"))?;
    let mut out = Vec::new();
    let mut total = 0u64;
    for i in 0..archive.len() {
        let entry = archive.by_index(i).with_context(|| format!("{label}: damaged archive"))?;
        if !entry.is_file() || !is_imported(entry.name()) {
            continue;
        }
        let name = format!("{label}:{}", entry.name());
        add_member(label, &mut out, &mut total, name, entry)?;
    }
    Ok(out)
}

/// The Markdown files of an upload: a `.md` file, a `.tar.gz` or a `.zip`, by its name.
pub fn read_markdown_upload(name: &str, bytes: &[u8]) -> Result<Vec<InFile>> {
    let mut files = match format_of(Path::new(name)) {
        Format::TarGz => tar_gz_members(bytes, name)?,
        Format::Zip => zip_members(std::io::Cursor::new(bytes), name)?,
        Format::Folder if name.to_lowercase().ends_with(".md") => {
            if bytes.len() as u64 > MAX_FILE_BYTES {
                return Err(Error::File(format!("{name}: larger than {} MiB", MAX_FILE_BYTES >> 20)));
            }
            vec![InFile { name: name.to_owned(), bytes: bytes.to_vec() }]
        }
        Format::Folder => return Err(Error::File(format!("{name}: not a .md file, a .tar.gz or a .zip"))),
    };
    files.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(files)
}

/// Reads one archive member, keeping the whole archive under `MAX_TOTAL_BYTES`.
fn add_member(archive: &str, out: &mut Vec<InFile>, total: &mut u64, name: String, r: impl Read) -> Result<()> {
    let bytes = read_limited(r, &name)?;
    *total += bytes.len() as u64;
    if *total > MAX_TOTAL_BYTES {
        return Err(Error::File(format!("{archive}: unpacks to more than {} MiB", MAX_TOTAL_BYTES >> 20)));
    }
    out.push(InFile { name, bytes });
    Ok(())
}

/// A file to export, with its path inside the export and a modification time.
pub struct OutFile {
    pub path: String,
    pub bytes: Vec<u8>,
    pub mtime_secs: u64,
}

/// Writes `files` to `out` in the format its name says. Archives are written to a
/// temporary file first and renamed into place, so a failed export leaves no
/// half-written archive. Output is deterministic: same files, same bytes.
pub fn write_files(out: &Path, files: &[OutFile]) -> Result<()> {
    match format_of(out) {
        Format::Folder => {
            for f in files {
                // Names are made by the export itself; still, nothing is ever
                // written outside `out`.
                let inside = !f.path.is_empty() && Path::new(&f.path).components().all(|c| matches!(c, std::path::Component::Normal(_)));
                if !inside {
                    return Err(Error::File(format!("refusing to write {:?} outside {}", f.path, out.display())));
                }
                let path = out.join(&f.path);
                if let Some(parent) = path.parent() {
                    std::fs::create_dir_all(parent).with_context(|| format!("cannot create {}", parent.display()))?;
                }
                std::fs::write(&path, &f.bytes).with_context(|| format!("cannot write {}", path.display()))?;
            }
            Ok(())
        }
        Format::TarGz => write_atomically(out, |w| write_tar_gz(w, files)),
        Format::Zip => write_atomically(out, |w| write_zip(w, files)),
    }
}

/// Writes `files` as a .tar.gz archive.
pub fn write_tar_gz(w: impl Write, files: &[OutFile]) -> Result<()> {
    let gz = flate2::write::GzEncoder::new(w, flate2::Compression::default());
    let mut tar = tar::Builder::new(gz);
    for f in files {
        let mut header = tar::Header::new_gnu();
        header.set_size(f.bytes.len() as u64);
        header.set_mode(0o644);
        header.set_mtime(f.mtime_secs);
        header.set_entry_type(tar::EntryType::Regular);
        tar.append_data(&mut header, &f.path, f.bytes.as_slice())?;
    }
    tar.into_inner()?.finish()?;
    Ok(())
}

/// Writes `files` as a .zip archive.
pub fn write_zip(w: impl Write + std::io::Seek, files: &[OutFile]) -> Result<()> {
    let mut zip = zip::ZipWriter::new(w);
    let options = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated).unix_permissions(0o644);
    for f in files {
        zip.start_file(f.path.as_str(), options).context("cannot write the .zip archive")?;
        zip.write_all(&f.bytes)?;
    }
    zip.finish().context("cannot write the .zip archive")?;
    Ok(())
}

fn write_atomically(out: &Path, write: impl FnOnce(&mut std::io::BufWriter<std::fs::File>) -> Result<()>) -> Result<()> {
    let tmp: PathBuf = out.with_extension("partial");
    let file = std::fs::File::create(&tmp).with_context(|| format!("cannot create {}", tmp.display()))?;
    let mut w = std::io::BufWriter::new(file);
    let result = write(&mut w).and_then(|()| {
        let file = w.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()?;
        Ok(())
    });
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(Error::File(format!("cannot write {}: {e}", out.display())));
    }
    std::fs::rename(&tmp, out).with_context(|| format!("cannot write {}", out.display()))
}

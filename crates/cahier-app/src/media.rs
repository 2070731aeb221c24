//! What an uploaded file is and what of it Cahier keeps, from its bytes alone:
//! the type sniffed from the first bytes (JPEG, PNG, WebP, GIF, PDF; anything
//! else, SVG and HTML included, is refused), photos decoded and encoded again
//! so that no metadata survives (EXIF, GPS, XMP, IPTC, comments, text chunks),
//! with the EXIF orientation applied first, and the smaller copies phones get
//! ([`VARIANT_WIDTHS`]). Pure: bytes in, bytes out, every decode bounded.

use std::io::Cursor;

use image::{AnimationDecoder, DynamicImage, ImageDecoder, ImageFormat};

/// The widths of the smaller copies made of a picture wider than them.
pub const VARIANT_WIDTHS: [u32; 2] = cahier_wiki::render::IMAGE_WIDTHS;
/// The longest side of a picture Cahier decodes.
pub const MAX_SIDE: u32 = 12_000;
/// The most memory a decoded picture may take (a 48-megapixel photo takes
/// 144 MiB), against decompression bombs; cleaning it takes a few times that.
pub const MAX_DECODE_BYTES: u64 = 200 << 20;
/// The most pixels an animated GIF may hold, all frames together.
pub const MAX_GIF_PIXELS: u64 = 100_000_000;

/// The kinds of file Cahier stores.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FileKind {
    Jpeg,
    Png,
    Webp,
    Gif,
    Pdf,
}

impl FileKind {
    pub const ALL: [FileKind; 5] = [FileKind::Jpeg, FileKind::Png, FileKind::Webp, FileKind::Gif, FileKind::Pdf];

    /// The extension in the file's address (`/files/HASH.jpg`).
    pub fn ext(self) -> &'static str {
        match self {
            FileKind::Jpeg => "jpg",
            FileKind::Png => "png",
            FileKind::Webp => "webp",
            FileKind::Gif => "gif",
            FileKind::Pdf => "pdf",
        }
    }

    pub fn from_ext(ext: &str) -> Option<FileKind> {
        FileKind::ALL.into_iter().find(|k| k.ext() == ext)
    }

    /// The `Content-Type` it is served with.
    /// Its name for people: "JPEG", "PDF"…
    pub fn label(self) -> &'static str {
        match self {
            FileKind::Jpeg => "JPEG",
            FileKind::Png => "PNG",
            FileKind::Webp => "WebP",
            FileKind::Gif => "GIF",
            FileKind::Pdf => "PDF",
        }
    }

    pub fn mime(self) -> &'static str {
        match self {
            FileKind::Jpeg => "image/jpeg",
            FileKind::Png => "image/png",
            FileKind::Webp => "image/webp",
            FileKind::Gif => "image/gif",
            FileKind::Pdf => "application/pdf",
        }
    }

    pub fn is_image(self) -> bool {
        self != FileKind::Pdf
    }

    fn format(self) -> Option<ImageFormat> {
        match self {
            FileKind::Jpeg => Some(ImageFormat::Jpeg),
            FileKind::Png => Some(ImageFormat::Png),
            FileKind::Webp => Some(ImageFormat::WebP),
            FileKind::Gif => Some(ImageFormat::Gif),
            FileKind::Pdf => None,
        }
    }
}

/// The kind the bytes say they are, whatever name or type the upload gave.
pub fn sniff(bytes: &[u8]) -> Option<FileKind> {
    if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Some(FileKind::Jpeg)
    } else if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some(FileKind::Png)
    } else if bytes.starts_with(b"GIF87a") || bytes.starts_with(b"GIF89a") {
        Some(FileKind::Gif)
    } else if bytes.len() >= 12 && bytes.starts_with(b"RIFF") && &bytes[8..12] == b"WEBP" {
        Some(FileKind::Webp)
    } else if bytes.starts_with(b"%PDF-") {
        Some(FileKind::Pdf)
    } else {
        None
    }
}

#[derive(Debug, thiserror::Error)]
pub enum MediaError {
    #[error("only JPEG, PNG, WebP and GIF pictures and PDF documents are accepted (SVG and other files are not)")]
    Unsupported,
    #[error("the picture is larger than {MAX_SIDE} pixels on a side, or too big to open")]
    TooBig,
    #[error("the {0} file is damaged: {1}")]
    Damaged(&'static str, String),
}

/// What Cahier keeps of an upload.
#[derive(Debug, Clone)]
pub struct Cleaned {
    pub kind: FileKind,
    /// The bytes stored (and hashed): a picture encoded again, without metadata.
    pub bytes: Vec<u8>,
    /// In pixels, after the orientation was applied; 0 for a PDF.
    pub width: u32,
    pub height: u32,
    /// The smaller copies: (width, bytes), in the same format.
    pub variants: Vec<(u32, Vec<u8>)>,
}

/// Sniffs, decodes and encodes again an upload, metadata left behind, and
/// makes its smaller copies. A PDF is kept as it came.
pub fn clean(bytes: &[u8]) -> Result<Cleaned, MediaError> {
    let kind = sniff(bytes).ok_or(MediaError::Unsupported)?;
    match kind {
        FileKind::Pdf => Ok(Cleaned { kind, bytes: bytes.to_vec(), width: 0, height: 0, variants: Vec::new() }),
        FileKind::Gif => clean_gif(bytes),
        FileKind::Jpeg | FileKind::Png | FileKind::Webp => {
            let img = decode(bytes, kind, true)?;
            let out = encode(&img, kind)?;
            let variants = variants_of(&img, kind)?;
            Ok(Cleaned { kind, bytes: out, width: img.width(), height: img.height(), variants })
        }
    }
}

/// A stored file's size and smaller copies again (on import: the file is
/// kept byte for byte, its copies are made as an upload's would be), in a
/// [`Cleaned`] whose `bytes` are empty.
pub fn variants(bytes: &[u8], kind: FileKind) -> Result<Cleaned, MediaError> {
    let sized = |width, height, variants| Cleaned { kind, bytes: Vec::new(), width, height, variants };
    match kind {
        FileKind::Pdf => Ok(sized(0, 0, Vec::new())),
        FileKind::Gif => {
            let (w, h) = gif_size(bytes)?;
            Ok(sized(w, h, Vec::new()))
        }
        _ => {
            // An uploaded picture has no orientation left: it was applied.
            let img = decode(bytes, kind, false)?;
            Ok(sized(img.width(), img.height(), variants_of(&img, kind)?))
        }
    }
}

/// The metadata a file still carries, by the name of its segment or chunk
/// (`APP1`, `COM`, `tEXt`, `eXIf`, `EXIF`, `XMP `…): empty for what Cahier
/// stores. PDFs are not looked into.
pub fn metadata(bytes: &[u8]) -> Vec<String> {
    match sniff(bytes) {
        Some(FileKind::Jpeg) => jpeg_metadata(bytes),
        Some(FileKind::Png) => png_metadata(bytes),
        Some(FileKind::Webp) => webp_metadata(bytes),
        Some(FileKind::Gif) => gif_metadata(bytes),
        Some(FileKind::Pdf) | None => Vec::new(),
    }
}

fn limits() -> image::Limits {
    let mut l = image::Limits::default();
    l.max_image_width = Some(MAX_SIDE);
    l.max_image_height = Some(MAX_SIDE);
    l.max_alloc = Some(MAX_DECODE_BYTES);
    l
}

fn decode_error(kind: FileKind, e: image::ImageError) -> MediaError {
    match e {
        image::ImageError::Limits(_) => MediaError::TooBig,
        image::ImageError::Unsupported(_) => MediaError::Unsupported,
        other => MediaError::Damaged(kind.ext(), other.to_string()),
    }
}

fn decode(bytes: &[u8], kind: FileKind, orient: bool) -> Result<DynamicImage, MediaError> {
    let format = kind.format().ok_or(MediaError::Unsupported)?;
    let mut reader = image::ImageReader::with_format(Cursor::new(bytes), format);
    reader.limits(limits());
    let mut decoder = reader.into_decoder().map_err(|e| decode_error(kind, e))?;
    // The decoder checks the sides; the whole buffer is checked here.
    if decoder.total_bytes() > MAX_DECODE_BYTES {
        return Err(MediaError::TooBig);
    }
    let orientation = if orient { decoder.orientation().ok() } else { None };
    let mut img = DynamicImage::from_decoder(decoder).map_err(|e| decode_error(kind, e))?;
    if let Some(o) = orientation {
        img.apply_orientation(o);
    }
    Ok(img)
}

fn encode(img: &DynamicImage, kind: FileKind) -> Result<Vec<u8>, MediaError> {
    let mut out = Vec::new();
    let failed = |e: image::ImageError| MediaError::Damaged(kind.ext(), e.to_string());
    match kind {
        FileKind::Jpeg => {
            let encoder = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 85);
            match img {
                DynamicImage::ImageLuma8(_) => img.write_with_encoder(encoder),
                _ => DynamicImage::ImageRgb8(img.to_rgb8()).write_with_encoder(encoder),
            }
            .map_err(failed)?;
        }
        FileKind::Png => {
            let encoder = image::codecs::png::PngEncoder::new_with_quality(
                &mut out,
                image::codecs::png::CompressionType::Best,
                image::codecs::png::FilterType::Adaptive,
            );
            match img {
                DynamicImage::ImageLuma8(_)
                | DynamicImage::ImageLumaA8(_)
                | DynamicImage::ImageRgb8(_)
                | DynamicImage::ImageRgba8(_)
                | DynamicImage::ImageLuma16(_)
                | DynamicImage::ImageLumaA16(_)
                | DynamicImage::ImageRgb16(_)
                | DynamicImage::ImageRgba16(_) => img.write_with_encoder(encoder),
                _ => DynamicImage::ImageRgba8(img.to_rgba8()).write_with_encoder(encoder),
            }
            .map_err(failed)?;
        }
        FileKind::Webp => {
            let encoder = image::codecs::webp::WebPEncoder::new_lossless(&mut out);
            if img.color().has_alpha() {
                DynamicImage::ImageRgba8(img.to_rgba8()).write_with_encoder(encoder)
            } else {
                DynamicImage::ImageRgb8(img.to_rgb8()).write_with_encoder(encoder)
            }
            .map_err(failed)?;
        }
        FileKind::Gif | FileKind::Pdf => return Err(MediaError::Unsupported),
    }
    Ok(out)
}

fn variants_of(img: &DynamicImage, kind: FileKind) -> Result<Vec<(u32, Vec<u8>)>, MediaError> {
    let mut out = Vec::new();
    for w in VARIANT_WIDTHS {
        if img.width() <= w {
            continue;
        }
        let h = (u64::from(img.height()) * u64::from(w) / u64::from(img.width())).max(1);
        let h = u32::try_from(h).unwrap_or(u32::MAX);
        let small = img.resize_exact(w, h, image::imageops::FilterType::CatmullRom);
        out.push((w, encode(&small, kind)?));
    }
    Ok(out)
}

/// A GIF, every frame decoded and encoded again (which keeps the animation
/// and leaves comments and application blocks behind).
fn clean_gif(bytes: &[u8]) -> Result<Cleaned, MediaError> {
    let (width, height) = gif_size(bytes)?;
    let mut decoder = image::codecs::gif::GifDecoder::new(Cursor::new(bytes)).map_err(|e| decode_error(FileKind::Gif, e))?;
    decoder.set_limits(limits()).map_err(|e| decode_error(FileKind::Gif, e))?;
    let frame_pixels = u64::from(width) * u64::from(height);
    if frame_pixels * 4 > MAX_DECODE_BYTES {
        return Err(MediaError::TooBig);
    }
    let mut out = Vec::new();
    {
        let mut encoder = image::codecs::gif::GifEncoder::new_with_speed(&mut out, 10);
        encoder.set_repeat(image::codecs::gif::Repeat::Infinite).map_err(|e| decode_error(FileKind::Gif, e))?;
        let mut pixels = 0u64;
        for frame in decoder.into_frames() {
            pixels += frame_pixels;
            if pixels > MAX_GIF_PIXELS {
                return Err(MediaError::TooBig);
            }
            let frame = frame.map_err(|e| decode_error(FileKind::Gif, e))?;
            encoder.encode_frame(frame).map_err(|e| decode_error(FileKind::Gif, e))?;
        }
    }
    Ok(Cleaned { kind: FileKind::Gif, bytes: out, width, height, variants: Vec::new() })
}

fn gif_size(bytes: &[u8]) -> Result<(u32, u32), MediaError> {
    let (Some(w), Some(h)) = (bytes.get(6..8), bytes.get(8..10)) else {
        return Err(MediaError::Damaged("gif", "too short".into()));
    };
    let (w, h) = (u32::from(u16::from_le_bytes([w[0], w[1]])), u32::from(u16::from_le_bytes([h[0], h[1]])));
    if w == 0 || h == 0 || w > MAX_SIDE || h > MAX_SIDE {
        return Err(MediaError::TooBig);
    }
    Ok((w, h))
}

/// JPEG segments before the image data that carry anything but what decoding
/// needs: every `APPn` but a JFIF `APP0`, and comments.
fn jpeg_metadata(b: &[u8]) -> Vec<String> {
    let mut found = Vec::new();
    let mut i = 2;
    while i + 4 <= b.len() {
        if b[i] != 0xFF {
            found.push("garbage between segments".to_owned());
            break;
        }
        let marker = b[i + 1];
        if marker == 0xFF {
            i += 1;
            continue;
        }
        if marker == 0xD8 || marker == 0x01 || (0xD0..=0xD7).contains(&marker) {
            i += 2;
            continue;
        }
        if marker == 0xDA || marker == 0xD9 {
            break;
        }
        let len = usize::from(u16::from_be_bytes([b[i + 2], b[i + 3]]));
        let body = b.get(i + 4..(i + 2 + len).min(b.len())).unwrap_or(&[]);
        match marker {
            0xE0 if body.starts_with(b"JFIF\0") => {}
            0xE0..=0xEF => found.push(format!("APP{}", marker - 0xE0)),
            0xFE => found.push("COM".to_owned()),
            _ => {}
        }
        i += 2 + len.max(2);
    }
    found
}

fn png_metadata(b: &[u8]) -> Vec<String> {
    let mut found = Vec::new();
    let mut i = 8;
    while i + 8 <= b.len() {
        let len = u32::from_be_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]) as usize;
        let name = String::from_utf8_lossy(&b[i + 4..i + 8]).into_owned();
        if matches!(name.as_str(), "tEXt" | "zTXt" | "iTXt" | "eXIf" | "tIME" | "iCCP") {
            found.push(name.clone());
        }
        if name == "IEND" {
            break;
        }
        i = i.saturating_add(12).saturating_add(len);
    }
    found
}

fn webp_metadata(b: &[u8]) -> Vec<String> {
    let mut found = Vec::new();
    let mut i = 12;
    while i + 8 <= b.len() {
        let name = String::from_utf8_lossy(&b[i..i + 4]).into_owned();
        let len = u32::from_le_bytes([b[i + 4], b[i + 5], b[i + 6], b[i + 7]]) as usize;
        if matches!(name.as_str(), "EXIF" | "XMP " | "ICCP") {
            found.push(name);
        }
        // Chunks are padded to an even length.
        i = i.saturating_add(8).saturating_add(len).saturating_add(len & 1);
    }
    found
}

/// GIF comment blocks, and application blocks other than the loop count.
fn gif_metadata(b: &[u8]) -> Vec<String> {
    let mut found = Vec::new();
    let Some(&flags) = b.get(10) else { return found };
    let mut i = 13;
    if flags & 0x80 != 0 {
        i += 3 << ((flags & 7) + 1);
    }
    let skip_sub_blocks = |mut i: usize| {
        while let Some(&n) = b.get(i) {
            i += 1 + usize::from(n);
            if n == 0 {
                break;
            }
        }
        i
    };
    while let Some(&block) = b.get(i) {
        match block {
            0x21 => {
                let label = b.get(i + 1).copied().unwrap_or(0);
                if label == 0xFE {
                    found.push("comment".to_owned());
                } else if label == 0xFF && b.get(i + 3..i + 14) != Some(b"NETSCAPE2.0") {
                    found.push("application".to_owned());
                }
                i = skip_sub_blocks(i + 2);
            }
            0x2C => {
                let Some(&f) = b.get(i + 9) else { break };
                i += 10;
                if f & 0x80 != 0 {
                    i += 3 << ((f & 7) + 1);
                }
                i = skip_sub_blocks(i + 1);
            }
            _ => break,
        }
    }
    found
}

//! Images and attachments in the store, on sled, redb and a real PostgreSQL:
//! what is kept of a photo (no EXIF, no GPS, the orientation applied), what
//! is refused, the limits, and the same file stored once.

use cahier_app::files::{self, FileLimits, UploadError};
use cahier_app::media::{self, MediaError};
use cahier_doc::{DocView, Editor};
use cahier_store::Store;

/// A JPEG photo as a phone takes it: `w`×`h` pixels, with an EXIF block that
/// says to turn it a quarter right (orientation 6) and where it was taken
/// (GPS latitude 48° 51′ 24.12″ N).
pub fn photo_with_gps(w: u32, h: u32) -> Vec<u8> {
    let img = image::RgbImage::from_fn(w, h, |x, y| image::Rgb([(x * 255 / w) as u8, (y * 255 / h) as u8, 128]));
    let mut jpeg = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, 90).encode_image(&img).expect("encode");
    let mut tiff: Vec<u8> = b"II\x2a\x00\x08\x00\x00\x00".to_vec();
    let entry = |tag: u16, ty: u16, count: u32, value: [u8; 4]| {
        let mut e = tag.to_le_bytes().to_vec();
        e.extend(ty.to_le_bytes());
        e.extend(count.to_le_bytes());
        e.extend(value);
        e
    };
    // IFD0 at 8: orientation, and where the GPS IFD is (at 38).
    tiff.extend(2u16.to_le_bytes());
    tiff.extend(entry(0x0112, 3, 1, [6, 0, 0, 0]));
    tiff.extend(entry(0x8825, 4, 1, 38u32.to_le_bytes()));
    tiff.extend(0u32.to_le_bytes());
    // The GPS IFD at 38: latitude reference and latitude (three rationals at 68).
    tiff.extend(2u16.to_le_bytes());
    tiff.extend(entry(0x0001, 2, 2, *b"N\0\0\0"));
    tiff.extend(entry(0x0002, 5, 3, 68u32.to_le_bytes()));
    tiff.extend(0u32.to_le_bytes());
    assert_eq!(tiff.len(), 68);
    tiff.extend(GPS_LATITUDE);
    let mut app1 = vec![0xFF, 0xE1];
    app1.extend(u16::try_from(2 + 6 + tiff.len()).expect("short").to_be_bytes());
    app1.extend(b"Exif\0\0");
    app1.extend(tiff);
    let mut out = jpeg[..2].to_vec();
    out.extend(app1);
    out.extend(&jpeg[2..]);
    out
}

/// 48/1, 51/1, 2412/100 as EXIF rationals.
pub const GPS_LATITUDE: [u8; 24] = [48, 0, 0, 0, 1, 0, 0, 0, 51, 0, 0, 0, 1, 0, 0, 0, 0x6c, 0x09, 0, 0, 100, 0, 0, 0];

fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 { (crc >> 1) ^ 0xEDB8_8320 } else { crc >> 1 };
        }
    }
    !crc
}

/// A PNG screenshot with a text chunk saying where it was made.
pub fn png_with_text(w: u32, h: u32) -> Vec<u8> {
    let img = image::RgbaImage::from_fn(w, h, |x, y| image::Rgba([x as u8, y as u8, 200, 255]));
    let mut png = Vec::new();
    img.write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png).expect("encode");
    let body = b"tEXtComment\0GPS 48.8567 N 2.3508 E".to_vec();
    let mut chunk = u32::try_from(body.len() - 4).expect("short").to_be_bytes().to_vec();
    chunk.extend(&body);
    chunk.extend(crc32(&body).to_be_bytes());
    let iend = png.len() - 12;
    png.splice(iend..iend, chunk);
    png
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

fn check(store: &Store) {
    let doc = store.upsert(&DocView::new_page("Classe dehors"), &Editor::new("léa"), 1_000).expect("page").0.id;
    let other = store.upsert(&DocView::new_page("Potager"), &Editor::new("léa"), 1_000).expect("page").0.id;
    let limits = FileLimits::default();

    // A photo with its GPS position: stored without EXIF, turned upright.
    let photo = photo_with_gps(1200, 800);
    assert!(!media::metadata(&photo).is_empty(), "the test photo carries EXIF");
    let meta = files::upload(store, &doc, &photo, "léa", 2_000, &limits).expect("upload");
    assert_eq!((meta.ext.as_str(), meta.width, meta.height), ("jpg", 800, 1200), "the orientation is applied");
    assert_eq!(meta.variants, vec![480], "a smaller copy for phones (the picture is 800 wide)");
    let stored = files::data(store, &meta.hash, None).expect("read").expect("stored");
    assert_eq!(files::hash(&stored), meta.hash, "addressed by the SHA-256 of its bytes");
    assert_eq!(media::metadata(&stored), Vec::<String>::new(), "no APPn segment but JFIF");
    assert!(!contains(&stored, b"Exif") && !contains(&stored, &GPS_LATITUDE), "no trace of the position");
    let small = files::data(store, &meta.hash, Some(480)).expect("read").expect("stored");
    let decoded = image::load_from_memory(&small).expect("a JPEG");
    assert_eq!((decoded.width(), decoded.height()), (480, 720));
    assert!(media::metadata(&small).is_empty());

    // The same photo again, into another document: one file, both documents.
    let again = files::upload(store, &other, &photo, "max", 3_000, &limits).expect("upload again");
    assert_eq!(again.hash, meta.hash);
    assert_eq!(files::list(store).expect("list").len(), 1);
    let mut both = vec![doc.to_string(), other.to_string()];
    both.sort();
    assert_eq!(again.docs, both);
    assert_eq!(again.by, "léa", "the first uploader keeps the credit");

    // A PNG's text chunks go too.
    let png = png_with_text(300, 200);
    assert_eq!(media::metadata(&png), vec!["tEXt".to_owned()]);
    let p = files::upload(store, &doc, &png, "léa", 4_000, &limits).expect("upload png");
    let stored = files::data(store, &p.hash, None).expect("read").expect("stored");
    assert!(media::metadata(&stored).is_empty() && !contains(&stored, b"GPS"));

    // What is not a picture or a PDF is refused, whatever it is called.
    for (what, bytes) in [
        ("svg", &b"<svg xmlns=\"http://www.w3.org/2000/svg\"><script>alert(1)</script></svg>"[..]),
        ("html", &b"<!doctype html><script>alert(1)</script>"[..]),
        ("a jpeg's start and then garbage", &[0xFF, 0xD8, 0xFF, 0xE0, 0, 0, 1, 2, 3][..]),
    ] {
        let e = files::upload(store, &doc, bytes, "léa", 5_000, &limits).expect_err(what);
        assert!(matches!(e, UploadError::Refused(MediaError::Unsupported | MediaError::Damaged(..))), "{what}: {e}");
    }
    let pdf = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n";
    let f = files::upload(store, &doc, pdf, "léa", 5_000, &limits).expect("a PDF");
    assert_eq!(f.ext, "pdf");

    // The limits: one file's size, the number of files, their total.
    let tight = FileLimits { max_file_bytes: 1000, ..limits };
    assert!(matches!(files::upload(store, &doc, &photo, "léa", 6_000, &tight), Err(UploadError::TooLarge(1000))));
    let count = FileLimits { max_files: 3, ..limits };
    let another = png_with_text(20, 20);
    let e = files::upload(store, &doc, &another, "léa", 6_000, &count).expect_err("a fourth file");
    assert!(matches!(e, UploadError::Full(_)), "{e}");
    let total = FileLimits { max_total_bytes: 100, ..limits };
    assert!(matches!(files::upload(store, &doc, &another, "léa", 6_000, &total), Err(UploadError::Full(_))));
    assert_eq!(files::list(store).expect("list").len(), 3, "nothing stored past a limit");
}

#[test]
fn sled_keeps_photos_without_their_position() {
    let dir = tempfile::tempdir().expect("tmp");
    check(&Store::open(&format!("sled:{}", dir.path().join("d").display())).expect("open"));
}

#[test]
fn redb_keeps_photos_without_their_position() {
    let dir = tempfile::tempdir().expect("tmp");
    check(&Store::open(&format!("redb:{}", dir.path().join("d").display())).expect("open"));
}

#[test]
fn postgres_keeps_photos_without_their_position() {
    check(&Store::open(&cahier_testpg::cluster().database()).expect("open"));
}

#[test]
fn a_picture_that_would_unpack_to_gigabytes_is_refused_before_decoding() {
    // PNG headers, and no pixels: 60,000 × 60,000 pixels (14 GB), past the
    // longest side; 11,000 × 11,000 16-bit RGBA (968 MB), within it.
    for (side, depth) in [(60_000u32, 8u8), (11_000, 16)] {
        let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
        let mut ihdr = b"IHDR".to_vec();
        ihdr.extend(side.to_be_bytes());
        ihdr.extend(side.to_be_bytes());
        ihdr.extend([depth, 6, 0, 0, 0]);
        png.extend(13u32.to_be_bytes());
        png.extend(&ihdr);
        png.extend(crc32(&ihdr).to_be_bytes());
        for empty in [&b"IDAT"[..], b"IEND"] {
            png.extend(0u32.to_be_bytes());
            png.extend(empty);
            png.extend(crc32(empty).to_be_bytes());
        }
        let got = media::clean(&png);
        assert!(matches!(got, Err(MediaError::TooBig)), "{side} × {side}, {depth} bits: {got:?}");
    }
}

//! What an uploaded file is, read from its bytes alone (the `Content-Type` it came with is
//! never trusted), and what is kept of it: images lose the metadata that says where and with
//! what they were taken (EXIF, GPS, XMP, IPTC, text chunks) and get a thumbnail.

use std::io::Cursor;

use bytes::Bytes;
use image::codecs::jpeg::JpegEncoder;
use image::metadata::Orientation;
use image::{DynamicImage, ImageFormat, ImageReader, Limits};
use img_parts::ImageEXIF;

/// The longest side of a thumbnail, in pixels.
pub const THUMBNAIL_SIDE: u32 = 320;
/// The largest image decoded for a thumbnail, per side.
const MAX_SIDE: u32 = 16_384;
/// What decoding one image may allocate: a 25 MiB upload can claim to be far larger.
const MAX_DECODE_BYTES: u64 = 512 * 1024 * 1024;

/// The image types a browser is given to show inline. Every other file, SVG and HTML
/// included, is only ever offered as a download.
pub const INLINE_TYPES: [&str; 4] = ["image/png", "image/jpeg", "image/gif", "image/webp"];

/// A file as it is kept.
#[derive(Debug)]
pub struct Inspected {
    /// What the bytes are, as sniffed.
    pub content_type: String,
    /// The bytes to store: the upload, without its metadata when it is an image.
    pub bytes: Bytes,
    /// For an image that decoded: its size and a thumbnail.
    pub picture: Option<Picture>,
}

#[derive(Debug)]
pub struct Picture {
    pub width: u32,
    pub height: u32,
    /// A JPEG (a PNG when the image has transparency) at most [`THUMBNAIL_SIDE`] a side.
    pub thumbnail: Bytes,
}

/// Reads the upload. CPU-bound: run it off the async workers.
pub fn inspect(upload: Bytes) -> Inspected {
    let Some(format) = image_format(&upload) else {
        let content_type = infer::get(&upload)
            .map_or("application/octet-stream", |kind| kind.mime_type())
            .to_owned();
        return Inspected {
            content_type,
            bytes: upload,
            picture: None,
        };
    };
    // Read before the EXIF that holds it goes.
    let orientation = orientation_of(&upload, format);
    // Stripped even if it does not decode: a viewer elsewhere might still show it.
    let stripped = strip_metadata(upload, format);
    match picture(&stripped, format, orientation) {
        Ok((picture, reoriented)) => match reoriented {
            Some((bytes, format)) => Inspected {
                content_type: format.to_mime_type().to_owned(),
                bytes,
                picture: Some(picture),
            },
            None => Inspected {
                content_type: format.to_mime_type().to_owned(),
                bytes: stripped,
                picture: Some(picture),
            },
        },
        Err(error) => {
            tracing::debug!(%error, "an uploaded image did not decode; kept as a file");
            Inspected {
                content_type: format.to_mime_type().to_owned(),
                bytes: stripped,
                picture: None,
            }
        }
    }
}

fn image_format(bytes: &[u8]) -> Option<ImageFormat> {
    match crate::images::sniff(bytes)? {
        "image/png" => Some(ImageFormat::Png),
        "image/jpeg" => Some(ImageFormat::Jpeg),
        "image/gif" => Some(ImageFormat::Gif),
        "image/webp" => Some(ImageFormat::WebP),
        _ => None,
    }
}

/// Drops the metadata of a JPEG, PNG or WebP without decoding it: the pixels stay as they
/// were, colour profiles (ICC) too. A GIF carries no camera metadata and is kept as it is.
fn strip_metadata(bytes: Bytes, format: ImageFormat) -> Bytes {
    match format {
        ImageFormat::Jpeg => match img_parts::jpeg::Jpeg::from_bytes(bytes.clone()) {
            Ok(mut jpeg) => {
                // APP1 holds EXIF (with GPS) and XMP; APP13 holds IPTC; COM is free text.
                for marker in [0xE1, 0xED, 0xFE] {
                    jpeg.remove_segments_by_marker(marker);
                }
                jpeg.encoder().bytes()
            }
            Err(_) => bytes,
        },
        ImageFormat::Png => match img_parts::png::Png::from_bytes(bytes.clone()) {
            Ok(mut png) => {
                for chunk in [*b"eXIf", *b"tEXt", *b"zTXt", *b"iTXt", *b"tIME"] {
                    png.remove_chunks_by_type(chunk);
                }
                png.encoder().bytes()
            }
            Err(_) => bytes,
        },
        ImageFormat::WebP => match img_parts::webp::WebP::from_bytes(bytes.clone()) {
            Ok(mut webp) => {
                webp.set_exif(None);
                webp.remove_chunks_by_id(*b"XMP ");
                webp.encoder().bytes()
            }
            Err(_) => bytes,
        },
        _ => bytes,
    }
}

/// Decodes the image for its size and thumbnail. A photo that a camera saved sideways (with
/// an EXIF `orientation`, read before it was stripped) is turned upright and re-encoded,
/// since the stripped file no longer says how to turn it: that is the second value.
#[allow(clippy::type_complexity)]
fn picture(
    bytes: &[u8],
    format: ImageFormat,
    orientation: Orientation,
) -> image::ImageResult<(Picture, Option<(Bytes, ImageFormat)>)> {
    let mut reader = ImageReader::with_format(Cursor::new(bytes), format);
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_SIDE);
    limits.max_image_height = Some(MAX_SIDE);
    limits.max_alloc = Some(MAX_DECODE_BYTES);
    reader.limits(limits);
    let mut image = reader.decode()?;
    let reoriented = if orientation == Orientation::NoTransforms {
        None
    } else {
        image.apply_orientation(orientation);
        Some(encode(&image, 90)?)
    };
    let small = if image.width() > THUMBNAIL_SIDE || image.height() > THUMBNAIL_SIDE {
        image.thumbnail(THUMBNAIL_SIDE, THUMBNAIL_SIDE)
    } else {
        image.clone()
    };
    let (thumbnail, _) = encode(&small, 80)?;
    Ok((
        Picture {
            width: image.width(),
            height: image.height(),
            thumbnail,
        },
        reoriented,
    ))
}

/// The EXIF orientation the image was saved with; upright when it has none.
fn orientation_of(bytes: &Bytes, format: ImageFormat) -> Orientation {
    // `Bytes` clones share the upload; nothing is copied.
    let exif = match format {
        ImageFormat::Jpeg => img_parts::jpeg::Jpeg::from_bytes(bytes.clone())
            .ok()
            .and_then(|jpeg| jpeg.exif()),
        ImageFormat::WebP => img_parts::webp::WebP::from_bytes(bytes.clone())
            .ok()
            .and_then(|webp| webp.exif()),
        ImageFormat::Png => img_parts::png::Png::from_bytes(bytes.clone())
            .ok()
            .and_then(|png| png.exif()),
        _ => None,
    };
    exif.and_then(|exif| Orientation::from_exif_chunk(&exif))
        .unwrap_or(Orientation::NoTransforms)
}

/// JPEG at `quality`, or PNG when the image has transparency.
fn encode(image: &DynamicImage, quality: u8) -> image::ImageResult<(Bytes, ImageFormat)> {
    let mut out = Vec::new();
    if image.color().has_alpha() {
        image
            .to_rgba8()
            .write_to(&mut Cursor::new(&mut out), ImageFormat::Png)?;
        Ok((out.into(), ImageFormat::Png))
    } else {
        JpegEncoder::new_with_quality(&mut out, quality).encode_image(&image.to_rgb8())?;
        Ok((out.into(), ImageFormat::Jpeg))
    }
}

/// Whether a stored file is shown inline: an image that decoded, of a type browsers show.
pub fn shown_inline(content_type: &str, has_thumbnail: bool) -> bool {
    has_thumbnail && INLINE_TYPES.contains(&content_type)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png(width: u32, height: u32) -> Bytes {
        let image = DynamicImage::new_rgb8(width, height);
        let mut out = Vec::new();
        image
            .write_to(&mut Cursor::new(&mut out), ImageFormat::Png)
            .unwrap();
        out.into()
    }

    #[test]
    fn images_get_a_thumbnail_within_the_side() {
        let inspected = inspect(png(1000, 500));
        assert_eq!(inspected.content_type, "image/png");
        let picture = inspected.picture.unwrap();
        assert_eq!((picture.width, picture.height), (1000, 500));
        let thumbnail = image::load_from_memory(&picture.thumbnail).unwrap();
        assert_eq!((thumbnail.width(), thumbnail.height()), (320, 160));
    }

    #[test]
    fn files_are_what_their_bytes_say() {
        let pdf = inspect(Bytes::from_static(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj"));
        assert_eq!(pdf.content_type, "application/pdf");
        assert!(pdf.picture.is_none());
        let svg = inspect(Bytes::from_static(
            b"<svg xmlns=\"http://www.w3.org/2000/svg\"><script>alert(1)</script></svg>",
        ));
        assert!(!shown_inline(&svg.content_type, svg.picture.is_some()));
        let html = inspect(Bytes::from_static(
            b"<!DOCTYPE html><script>alert(1)</script>",
        ));
        assert!(!shown_inline(&html.content_type, html.picture.is_some()));
    }

    #[test]
    fn a_broken_image_is_kept_as_a_file() {
        let mut bytes = png(10, 10).to_vec();
        bytes.truncate(40);
        let inspected = inspect(bytes.into());
        assert!(inspected.picture.is_none());
        assert!(!shown_inline(&inspected.content_type, false));
    }
}

//! Doors into the request parsers, for the fuzz targets in `fuzz/` and the property tests
//! in `tests/parsers.rs`. The parsers stay private to their handlers; these take exactly
//! what any client can put in a header, and none of them may panic on it.

use axum::http::{HeaderMap, HeaderName, HeaderValue};

use crate::db::Upload;

/// Headers from `name: value` lines. Lines that HTTP itself refuses (hyper drops such a
/// request before any handler runs) are skipped.
pub fn headers(bytes: &[u8]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for line in bytes.split(|&b| b == b'\n') {
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            continue;
        };
        let value = line[colon + 1..].trim_ascii();
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(&line[..colon]),
            HeaderValue::from_bytes(value),
        ) {
            map.append(name, value);
        }
    }
    map
}

/// `Upload-Metadata` as the upload it describes, or the 400's message.
pub fn upload_metadata(value: &[u8]) -> Option<Result<Upload, String>> {
    let value = HeaderValue::from_bytes(value).ok()?;
    Some(crate::tus::metadata_to_upload(Some(&value)).map_err(|e| e.to_string()))
}

/// A tus number header (`Upload-Offset`, `Upload-Length`), as `serve` reads it.
pub fn number(value: &[u8]) -> Option<Result<Option<u64>, String>> {
    let mut map = HeaderMap::new();
    map.insert(
        crate::tus::UPLOAD_OFFSET.clone(),
        HeaderValue::from_bytes(value).ok()?,
    );
    Some(crate::tus::number_header(&map, &crate::tus::UPLOAD_OFFSET).map_err(|e| e.to_string()))
}

/// `Upload-Checksum`: the digest a chunk must match, or the 400's message.
pub fn upload_checksum(headers: &HeaderMap) -> Result<Option<Vec<u8>>, String> {
    crate::tus::chunk_checksum(headers)
        .map(|c| c.map(|(_, digest)| digest))
        .map_err(|e| e.to_string())
}

/// What the RUFH handlers read from a request's structured fields.
#[derive(Debug)]
pub struct RufhFields {
    pub is_rufh: bool,
    pub version: Result<Option<u8>, String>,
    pub complete: Result<bool, String>,
    pub repr_digest: Result<Option<String>, String>,
    pub filename: Option<String>,
    pub length: Result<Option<u64>, String>,
    pub offset: Result<Option<u64>, String>,
}

pub fn rufh_fields(headers: &HeaderMap) -> RufhFields {
    let e = |e: crate::error::AppError| e.to_string();
    RufhFields {
        is_rufh: crate::rufh::is_rufh(headers),
        version: crate::rufh::version(headers).map_err(e),
        complete: crate::rufh::upload_complete(headers).map_err(e),
        repr_digest: crate::rufh::repr_digest(headers).map_err(e),
        filename: headers
            .get("content-disposition")
            .and_then(|v| v.to_str().ok())
            .and_then(crate::rufh::disposition_filename),
        length: crate::tus::number_header(headers, &crate::tus::UPLOAD_LENGTH).map_err(e),
        offset: crate::tus::number_header(headers, &crate::tus::UPLOAD_OFFSET).map_err(e),
    }
}

/// A `POST /api/assets` body: `multipart/form-data` with `boundary`, read as the handler
/// reads it (file parts drained, not stored). The text fields, or the 400's message.
pub fn multipart_form(boundary: &[u8], body: &[u8]) -> Option<Result<Upload, String>> {
    use axum::extract::FromRequest;

    let content_type = [b"multipart/form-data; boundary=".as_slice(), boundary].concat();
    let content_type = HeaderValue::from_bytes(&content_type).ok()?;
    let request = axum::http::Request::builder()
        .method("POST")
        .header(axum::http::header::CONTENT_TYPE, content_type)
        .body(axum::body::Body::from(body.to_vec()))
        .ok()?;
    thread_local! {
        // One per thread, not per input: building a runtime costs more than most bodies.
        static RUNTIME: tokio::runtime::Runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("a current-thread runtime");
    }
    Some(RUNTIME.with(|runtime| {
        runtime.block_on(async {
            let mut multipart = axum::extract::Multipart::from_request(request, &())
                .await
                .map_err(|e| e.body_text())?;
            crate::form::text_fields_only(&mut multipart)
                .await
                .map_err(|e| e.to_string())
        })
    }))
}

/// What the browser engine reads from a file's bytes before it creates the upload: the
/// same parser as [`media_meta`], driven block by block as a `Blob` is read.
pub fn engine_media_meta(bytes: &[u8], declared_type: &str) -> media_meta::Outcome {
    let mut probe = media_meta::Probe::new(bytes.len() as u64, declared_type);
    loop {
        match probe.next_step() {
            media_meta::Step::Read(range) => {
                let block = &bytes[range.start as usize..range.end as usize];
                probe.supply(range.start, block.to_vec());
            }
            media_meta::Step::Done(outcome) => return outcome,
        }
    }
}

/// What completing an upload reads from a stored file's bytes: its sniffed media type, and
/// the metadata found for it (EXIF dates, QuickTime `mvhd`) as that type.
pub fn media_meta(
    bytes: &[u8],
    declared_type: &str,
) -> (Option<&'static str>, crate::db::MediaMeta) {
    let mut file = std::io::Cursor::new(bytes);
    let sniffed = crate::media::read_head(&mut file)
        .ok()
        .and_then(|head| crate::media::sniff_mime(&head));
    file.set_position(0);
    let meta = crate::media::read_meta(&mut file, sniffed.unwrap_or(declared_type));
    (sniffed, meta)
}

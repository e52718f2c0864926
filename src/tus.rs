//! The tus 1.0 protocol as data: which headers a request carries and what a server's
//! answer means. No I/O happens here, so every answer a server can give is unit-tested.

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;

/// The protocol version ferry speaks, sent as `Tus-Resumable` on every request.
pub const TUS_VERSION: &str = "1.0.0";
/// The media type of a chunk body.
pub const CHUNK_CONTENT_TYPE: &str = "application/offset+octet-stream";
/// Response header with which ferry-server names the asset a finished upload became.
/// Other tus servers do not send it; the client then asks the dedup check instead.
pub const ASSET_ID_HEADER: &str = "Ferry-Asset-Id";

/// A request header, as name and value.
pub type Header = (&'static str, String);

/// Encodes `Upload-Metadata`: comma-separated `key base64(value)` pairs. Keys must be
/// non-empty ASCII without spaces or commas; values are arbitrary UTF-8 (file names with
/// emoji or markup survive because they travel base64-encoded).
pub fn encode_metadata(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(key, value)| {
            debug_assert!(!key.is_empty() && !key.contains([' ', ',']));
            if value.is_empty() {
                (*key).to_string()
            } else {
                format!("{key} {}", BASE64.encode(value))
            }
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// Headers of the `POST` that creates an upload of `length` bytes.
pub fn creation_headers(length: u64, metadata: &[(&str, &str)]) -> Vec<Header> {
    let mut headers = vec![
        ("Tus-Resumable", TUS_VERSION.to_string()),
        ("Upload-Length", length.to_string()),
    ];
    if !metadata.is_empty() {
        headers.push(("Upload-Metadata", encode_metadata(metadata)));
    }
    headers
}

/// Headers of the `PATCH` that sends the chunk starting at `offset`.
pub fn chunk_headers(offset: u64) -> Vec<Header> {
    vec![
        ("Tus-Resumable", TUS_VERSION.to_string()),
        ("Upload-Offset", offset.to_string()),
        ("Content-Type", CHUNK_CONTENT_TYPE.to_string()),
    ]
}

/// Headers of the `HEAD` that asks how many bytes the server holds.
pub fn offset_headers() -> Vec<Header> {
    vec![("Tus-Resumable", TUS_VERSION.to_string())]
}

/// What a tus server said it supports, in its answer to `OPTIONS`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServerSupport {
    /// The server speaks tus (it answered with `Tus-Version`).
    pub tus: bool,
    /// Small files can be sent in the creation request itself (one round trip).
    pub creation_with_upload: bool,
    pub termination: bool,
    /// The algorithm chunks carry their `Upload-Checksum` in, when the server verifies
    /// them one by one: SHA-256 where offered, SHA-1 otherwise.
    pub chunk_checksum: Option<ChecksumAlgorithm>,
    /// The largest upload the server accepts, if it said.
    pub max_size: Option<u64>,
}

impl ServerSupport {
    /// Reads an `OPTIONS` answer; `header` looks a response header up by name.
    /// A server that does not answer with tus headers supports nothing optional.
    /// Whether an `OPTIONS` answer of `status` tells what the server supports (a 2xx, or a
    /// 4xx from a server without discovery), rather than trouble on the way (5xx, 429, 423),
    /// which must be asked again, not remembered as "no tus".
    pub fn is_final_options_status(status: u16) -> bool {
        ErrorClass::of_status(status) != ErrorClass::Transient
    }

    pub fn from_options(status: u16, header: impl Fn(&str) -> Option<String>) -> Self {
        if !(200..300).contains(&status) {
            return Self::default();
        }
        let list = |name: &str| -> Vec<String> {
            header(name)
                .unwrap_or_default()
                .split(',')
                .map(|item| item.trim().to_ascii_lowercase())
                .filter(|item| !item.is_empty())
                .collect()
        };
        let extensions = list("Tus-Extension");
        let has = |name: &str| extensions.iter().any(|e| e == name);
        Self {
            tus: header("Tus-Version").is_some(),
            creation_with_upload: has("creation-with-upload"),
            termination: has("termination"),
            chunk_checksum: if has("checksum") {
                ChecksumAlgorithm::preferred(&list("Tus-Checksum-Algorithm"))
            } else {
                None
            },
            max_size: header("Tus-Max-Size").and_then(|v| v.trim().parse().ok()),
        }
    }
}

/// A digest a chunk's `Upload-Checksum` can carry (tus checksum extension).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChecksumAlgorithm {
    Sha256,
    Sha1,
}

impl ChecksumAlgorithm {
    /// The one to use of those a server offers: SHA-256, else SHA-1 (md5 and others are
    /// not used: a browser has no native md5).
    pub fn preferred(offered: &[String]) -> Option<Self> {
        [Self::Sha256, Self::Sha1]
            .into_iter()
            .find(|a| offered.iter().any(|o| o == a.tus_name()))
    }

    /// Its name in `Tus-Checksum-Algorithm` and `Upload-Checksum`.
    pub fn tus_name(self) -> &'static str {
        match self {
            Self::Sha256 => "sha256",
            Self::Sha1 => "sha1",
        }
    }

    /// Its name for WebCrypto's `digest`.
    pub fn web_crypto_name(self) -> &'static str {
        match self {
            Self::Sha256 => "SHA-256",
            Self::Sha1 => "SHA-1",
        }
    }

    fn digest_len(self) -> usize {
        match self {
            Self::Sha256 => 32,
            Self::Sha1 => 20,
        }
    }
}

/// The `Upload-Checksum` header for a chunk whose `algorithm` digest is `hex_digest`.
pub fn checksum_header(algorithm: ChecksumAlgorithm, hex_digest: &str) -> Option<Header> {
    let bytes: Option<Vec<u8>> = (0..hex_digest.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(hex_digest.get(i..i + 2)?, 16).ok())
        .collect();
    let bytes = bytes.filter(|b| b.len() == algorithm.digest_len())?;
    Some((
        "Upload-Checksum",
        format!("{} {}", algorithm.tus_name(), BASE64.encode(bytes)),
    ))
}

/// The parts of a server's answer the protocol looks at.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Reply {
    pub status: u16,
    pub location: Option<String>,
    pub upload_offset: Option<String>,
    pub asset_id: Option<String>,
    /// The `error` code of a failed answer's JSON problem body (ferry-server's
    /// `{"error": "storage-full", ...}`). It tells a full disk from a full quota, which
    /// share a status.
    pub error_code: Option<String>,
}

/// An upload the server created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Created {
    /// The upload URL exactly as the server sent it; it may be relative to the endpoint.
    pub location: String,
    /// Bytes the server already holds (non-zero only with creation-with-upload).
    pub offset: u64,
    /// Set when the upload completed at creation (a 0-byte file) on ferry-server.
    pub asset_id: Option<String>,
}

/// What the client should do about a failed request. See DESIGN.md, "error classes".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// Network trouble or an overloaded server: back off and resume.
    Transient,
    /// The server holds a different offset than we thought: ask it, then continue.
    Desync,
    /// The server computed a different checksum than the bytes we declared.
    Corrupt,
    /// The upload URL is gone: create a new upload.
    Expired,
    /// The chunk was too large for the server.
    TooBig,
    /// The key or session is no longer accepted: the user must sign in again.
    Auth,
    /// The user's storage quota on the server is full: theirs to fix.
    Quota,
    /// The server's own storage is full (its disk): the server admin's to fix. The
    /// backup stops and tries again now and then, since freeing space tells no client.
    StorageFull,
    /// The server refused the request for a reason retrying will not fix.
    Refused,
}

impl ErrorClass {
    /// Classifies an HTTP status a tus server answered with.
    pub fn of_status(status: u16) -> Self {
        Self::of_answer(status, None)
    }

    /// Classifies a failed answer by its status and, where a status means two things,
    /// by the server's problem code: ferry-server answers a full quota with 413 (at
    /// creation) or 507 and `quota-exceeded`, and a full disk with 507 `storage-full`.
    /// A 507 without that code is the server's storage, as RFC 4918 defines it.
    pub fn of_answer(status: u16, code: Option<&str>) -> Self {
        match (status, code) {
            (413 | 507, Some("quota-exceeded")) => Self::Quota,
            (507, _) => Self::StorageFull,
            _ => Self::of_status_alone(status),
        }
    }

    fn of_status_alone(status: u16) -> Self {
        match status {
            401 | 403 => Self::Auth,
            404 | 410 => Self::Expired,
            409 => Self::Desync,
            413 => Self::TooBig,
            417 | 460 => Self::Corrupt,
            507 => Self::Quota,
            423 | 429 | 500..=599 => Self::Transient,
            _ => Self::Refused,
        }
    }

    /// What happened, in words for the person whose backup it is.
    pub fn explain(self) -> &'static str {
        match self {
            Self::Transient => "The server or network is having trouble; ferry will try again.",
            Self::Desync => "The server and ferry disagreed about how much was sent.",
            Self::Corrupt => "The bytes the server received did not match the file.",
            Self::Expired => "The server no longer has this upload.",
            Self::TooBig => "The server refused a chunk as too large.",
            Self::Auth => "The server no longer accepts your key. Sign in again.",
            Self::Quota => "Your storage quota on the server is full: delete some files or ask for a bigger quota. Your files are safe here and stay queued.",
            Self::StorageFull => "The server is out of storage space. Your files are safe here and the backup will continue when space is freed; tell the server's admin.",
            Self::Refused => "The server refused the upload.",
        }
    }
}

/// Why a server's answer could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TusError {
    #[error("{} (HTTP {status})", class.explain())]
    Status { status: u16, class: ErrorClass },
    #[error("the server's answer lacks the {0} header")]
    MissingHeader(&'static str),
    #[error("the server sent an unreadable {name} header: {value:?}")]
    BadHeader { name: &'static str, value: String },
    #[error("the server reported offset {got}, outside {min}..={max}")]
    OffsetOutOfRange { got: u64, min: u64, max: u64 },
}

impl TusError {
    /// The class of a failed request, for retry decisions.
    pub fn class(&self) -> ErrorClass {
        match self {
            Self::Status { class, .. } => *class,
            // A server that answers nonsense may be a proxy in trouble; treat as transient.
            _ => ErrorClass::Transient,
        }
    }
}

fn expect_status(reply: &Reply, ok: &[u16]) -> Result<(), TusError> {
    if ok.contains(&reply.status) {
        Ok(())
    } else {
        Err(TusError::Status {
            status: reply.status,
            class: ErrorClass::of_answer(reply.status, reply.error_code.as_deref()),
        })
    }
}

fn parse_offset(value: Option<&String>) -> Result<u64, TusError> {
    let value = value.ok_or(TusError::MissingHeader("Upload-Offset"))?;
    value.trim().parse().map_err(|_| TusError::BadHeader {
        name: "Upload-Offset",
        value: value.clone(),
    })
}

/// Reads the answer to a creation `POST`.
pub fn created(reply: &Reply, length: u64) -> Result<Created, TusError> {
    expect_status(reply, &[201])?;
    let location = reply
        .location
        .clone()
        .filter(|l| !l.trim().is_empty())
        .ok_or(TusError::MissingHeader("Location"))?;
    let offset = match reply.upload_offset {
        Some(_) => parse_offset(reply.upload_offset.as_ref())?,
        None => 0,
    };
    check_range(offset, 0, length)?;
    Ok(Created {
        location,
        offset,
        asset_id: reply.asset_id.clone(),
    })
}

/// Reads the answer to a chunk `PATCH` that started at `sent_from` and should have reached
/// `sent_to`. Returns the server's new offset, which must lie in `sent_from..=sent_to`.
pub fn chunk_accepted(reply: &Reply, sent_from: u64, sent_to: u64) -> Result<u64, TusError> {
    expect_status(reply, &[204, 200])?;
    let offset = parse_offset(reply.upload_offset.as_ref())?;
    check_range(offset, sent_from, sent_to)?;
    Ok(offset)
}

/// Reads the answer to a `HEAD`: how many of `length` bytes the server holds.
pub fn current_offset(reply: &Reply, length: u64) -> Result<u64, TusError> {
    expect_status(reply, &[200, 204])?;
    let offset = parse_offset(reply.upload_offset.as_ref())?;
    check_range(offset, 0, length)?;
    Ok(offset)
}

fn check_range(got: u64, min: u64, max: u64) -> Result<(), TusError> {
    if (min..=max).contains(&got) {
        Ok(())
    } else {
        Err(TusError::OffsetOutOfRange { got, min, max })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(status: u16) -> Reply {
        Reply {
            status,
            ..Reply::default()
        }
    }

    #[test]
    fn metadata_is_base64_and_survives_any_file_name() {
        let encoded = encode_metadata(&[("filename", "<script>🐱.jpg"), ("empty", "")]);
        let (first, second) = encoded.split_once(',').unwrap();
        let (key, value) = first.split_once(' ').unwrap();
        assert_eq!(key, "filename");
        assert_eq!(BASE64.decode(value).unwrap(), "<script>🐱.jpg".as_bytes());
        assert_eq!(second, "empty");
    }

    #[test]
    fn creation_request_declares_length_and_version() {
        let headers = creation_headers(0, &[("filename", "a")]);
        assert!(headers.contains(&("Tus-Resumable", "1.0.0".into())));
        assert!(headers.contains(&("Upload-Length", "0".into())));
        assert!(headers.iter().any(|(k, _)| *k == "Upload-Metadata"));
        assert!(!creation_headers(1, &[])
            .iter()
            .any(|(k, _)| *k == "Upload-Metadata"));
    }

    #[test]
    fn chunk_request_names_offset_and_media_type() {
        let headers = chunk_headers(8);
        assert!(headers.contains(&("Upload-Offset", "8".into())));
        assert!(headers.contains(&("Content-Type", CHUNK_CONTENT_TYPE.into())));
    }

    #[test]
    fn created_reads_location_and_optional_offset() {
        let mut r = reply(201);
        r.location = Some("/api/uploads/abc".into());
        assert_eq!(created(&r, 10).unwrap().offset, 0);
        r.upload_offset = Some("4".into());
        r.asset_id = Some("id".into());
        let c = created(&r, 10).unwrap();
        assert_eq!((c.location.as_str(), c.offset), ("/api/uploads/abc", 4));
        assert_eq!(c.asset_id.as_deref(), Some("id"));
    }

    #[test]
    fn created_without_location_is_an_error() {
        assert_eq!(
            created(&reply(201), 1),
            Err(TusError::MissingHeader("Location"))
        );
    }

    #[test]
    fn created_offset_beyond_length_is_rejected() {
        let mut r = reply(201);
        r.location = Some("/u/1".into());
        r.upload_offset = Some("11".into());
        assert!(matches!(
            created(&r, 10),
            Err(TusError::OffsetOutOfRange { .. })
        ));
    }

    #[test]
    fn chunk_accepted_returns_new_offset() {
        let mut r = reply(204);
        r.upload_offset = Some("16".into());
        assert_eq!(chunk_accepted(&r, 8, 16), Ok(16));
        // A server may accept part of a chunk; the client continues from there.
        r.upload_offset = Some("12".into());
        assert_eq!(chunk_accepted(&r, 8, 16), Ok(12));
    }

    #[test]
    fn chunk_offset_going_backwards_or_past_the_chunk_is_rejected() {
        let mut r = reply(204);
        r.upload_offset = Some("7".into());
        assert!(chunk_accepted(&r, 8, 16).is_err());
        r.upload_offset = Some("17".into());
        assert!(chunk_accepted(&r, 8, 16).is_err());
        r.upload_offset = Some("x".into());
        assert!(matches!(
            chunk_accepted(&r, 8, 16),
            Err(TusError::BadHeader { .. })
        ));
    }

    #[test]
    fn failed_requests_are_classified() {
        let cases = [
            (401, ErrorClass::Auth),
            (403, ErrorClass::Auth),
            (404, ErrorClass::Expired),
            (410, ErrorClass::Expired),
            (409, ErrorClass::Desync),
            (413, ErrorClass::TooBig),
            (460, ErrorClass::Corrupt),
            (507, ErrorClass::StorageFull),
            (429, ErrorClass::Transient),
            (503, ErrorClass::Transient),
            (400, ErrorClass::Refused),
        ];
        for (status, class) in cases {
            let err = chunk_accepted(&reply(status), 0, 1).unwrap_err();
            assert_eq!(err.class(), class, "status {status}");
        }
    }

    #[test]
    fn head_reports_the_offset_the_server_holds() {
        let mut r = reply(200);
        r.upload_offset = Some("5".into());
        assert_eq!(current_offset(&r, 10), Ok(5));
        assert_eq!(
            current_offset(&reply(200), 10),
            Err(TusError::MissingHeader("Upload-Offset"))
        );
    }

    #[test]
    fn options_answer_tells_what_the_server_supports() {
        let headers = |name: &str| match name {
            "Tus-Version" => Some("1.0.0".into()),
            "Tus-Extension" => Some("creation,creation-with-upload, Termination,checksum".into()),
            "Tus-Checksum-Algorithm" => Some("md5,sha1,sha256".into()),
            "Tus-Max-Size" => Some("1073741824".into()),
            _ => None,
        };
        let support = ServerSupport::from_options(204, headers);
        assert!(support.tus && support.creation_with_upload && support.termination);
        assert_eq!(support.chunk_checksum, Some(ChecksumAlgorithm::Sha256));
        assert_eq!(support.max_size, Some(1 << 30));

        let sha1_only = |name: &str| match name {
            "Tus-Extension" => Some("checksum".into()),
            "Tus-Checksum-Algorithm" => Some("sha1".into()),
            _ => None,
        };
        assert_eq!(
            ServerSupport::from_options(204, sha1_only).chunk_checksum,
            Some(ChecksumAlgorithm::Sha1)
        );
        let md5_only = |name: &str| match name {
            "Tus-Extension" => Some("checksum".into()),
            "Tus-Checksum-Algorithm" => Some("md5".into()),
            _ => None,
        };
        assert_eq!(
            ServerSupport::from_options(204, md5_only).chunk_checksum,
            None
        );
        // Algorithms offered without the extension are not used.
        let no_extension = |name: &str| match name {
            "Tus-Checksum-Algorithm" => Some("sha256".into()),
            _ => None,
        };
        assert_eq!(
            ServerSupport::from_options(204, no_extension).chunk_checksum,
            None
        );
        assert_eq!(
            ServerSupport::from_options(404, headers),
            ServerSupport::default()
        );
        // An answer the network or a proxy made is asked again, not taken as "no tus".
        for status in [200, 204, 404, 405] {
            assert!(ServerSupport::is_final_options_status(status), "{status}");
        }
        for status in [429, 500, 502, 503, 504] {
            assert!(!ServerSupport::is_final_options_status(status), "{status}");
        }
    }

    #[test]
    fn chunk_checksum_header_is_base64_of_the_digest() {
        let abc = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
        assert_eq!(
            checksum_header(ChecksumAlgorithm::Sha256, abc),
            Some((
                "Upload-Checksum",
                "sha256 ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0=".to_string()
            ))
        );
        // SHA-1 of "abc" (FIPS 180-1's example).
        let abc_sha1 = "a9993e364706816aba3e25717850c26c9cd0d89d";
        assert_eq!(
            checksum_header(ChecksumAlgorithm::Sha1, abc_sha1),
            Some((
                "Upload-Checksum",
                "sha1 qZk+NkcGgWq6PiVxeFDCbJzQ2J0=".to_string()
            ))
        );
        // A digest of the other algorithm's length, or not hex, makes no header.
        assert_eq!(checksum_header(ChecksumAlgorithm::Sha1, abc), None);
        assert_eq!(checksum_header(ChecksumAlgorithm::Sha256, abc_sha1), None);
        assert_eq!(checksum_header(ChecksumAlgorithm::Sha256, "zz"), None);
        assert_eq!(checksum_header(ChecksumAlgorithm::Sha256, "abcd"), None);
    }

    #[test]
    fn a_full_disk_and_a_full_quota_are_told_apart_by_the_problem_code() {
        let answer = |status: u16, code: &str| Reply {
            status,
            error_code: Some(code.into()),
            ..Reply::default()
        };
        let class = |r: &Reply| chunk_accepted(r, 0, 1).unwrap_err().class();
        assert_eq!(class(&answer(507, "storage-full")), ErrorClass::StorageFull);
        assert_eq!(class(&answer(507, "quota-exceeded")), ErrorClass::Quota);
        assert_eq!(class(&reply(507)), ErrorClass::StorageFull);
        assert_eq!(class(&answer(413, "quota-exceeded")), ErrorClass::Quota);
        assert_eq!(class(&answer(413, "too-large")), ErrorClass::TooBig);
        assert_eq!(
            created(&answer(413, "quota-exceeded"), 10)
                .unwrap_err()
                .class(),
            ErrorClass::Quota
        );
    }

    #[test]
    fn errors_read_as_advice() {
        let err = |class| TusError::Status { status: 507, class }.to_string();
        let disk = err(ErrorClass::StorageFull);
        let quota = err(ErrorClass::Quota);
        assert!(
            disk.starts_with("The server is out of storage space."),
            "{disk}"
        );
        assert!(
            disk.contains("admin") && disk.ends_with("(HTTP 507)"),
            "{disk}"
        );
        assert!(
            quota.starts_with("Your storage quota on the server is full"),
            "{quota}"
        );
        assert_ne!(disk, quota);
    }
}

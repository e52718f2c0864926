//! Resumable Uploads for HTTP (the IETF RUFH draft) as data, like `tus`: which headers a
//! request carries and what an answer means. A browser cannot see the draft's 104
//! interim response, so uploads are created "carefully": a `POST` that declares the
//! upload incomplete and carries no body, answered with its `Location`; the bytes follow
//! in `PATCH` appends. The interop version is sent in `Upload-Draft-Interop-Version`.

use crate::tus::{Created, ErrorClass, Header, Reply, TusError, CHUNK_CONTENT_TYPE};

/// The draft interop versions ferry speaks; 8 by default.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum InteropVersion {
    V6,
    V7,
    #[default]
    V8,
}

impl InteropVersion {
    /// Parses `6`, `7` or `8`.
    pub fn from_number(n: u32) -> Option<Self> {
        match n {
            6 => Some(Self::V6),
            7 => Some(Self::V7),
            8 => Some(Self::V8),
            _ => None,
        }
    }

    fn header(self) -> Header {
        let n = match self {
            Self::V6 => "6",
            Self::V7 => "7",
            Self::V8 => "8",
        };
        ("Upload-Draft-Interop-Version", n.to_string())
    }

    /// Since interop version 7 an append carries `application/partial-upload`.
    fn append_content_type(self) -> &'static str {
        match self {
            Self::V6 => CHUNK_CONTENT_TYPE,
            Self::V7 | Self::V8 => "application/partial-upload",
        }
    }
}

fn complete(done: bool) -> Header {
    (
        "Upload-Complete",
        if done { "?1" } else { "?0" }.to_string(),
    )
}

/// Headers of the `POST` that creates an upload of `length` bytes. With `whole_body`
/// the request carries the entire file and completes the upload at once.
pub fn creation_headers(
    version: InteropVersion,
    length: u64,
    metadata: &[(&str, &str)],
    whole_body: bool,
) -> Vec<Header> {
    let mut headers = vec![
        version.header(),
        complete(whole_body),
        ("Upload-Length", length.to_string()),
    ];
    if whole_body {
        headers.push(("Content-Type", "application/octet-stream".to_string()));
    }
    if !metadata.is_empty() {
        // Not part of the draft: ferry-server reads the same metadata header as tus.
        headers.push(("Upload-Metadata", crate::tus::encode_metadata(metadata)));
    }
    headers
}

/// Headers of the `PATCH` that appends bytes at `offset`; `last` completes the upload.
pub fn append_headers(version: InteropVersion, offset: u64, last: bool) -> Vec<Header> {
    vec![
        version.header(),
        ("Upload-Offset", offset.to_string()),
        complete(last),
        ("Content-Type", version.append_content_type().to_string()),
    ]
}

/// Headers of the `HEAD` that asks how many bytes the server holds.
pub fn offset_headers(version: InteropVersion) -> Vec<Header> {
    vec![version.header()]
}

fn expect_success(reply: &Reply) -> Result<(), TusError> {
    if (200..300).contains(&reply.status) {
        Ok(())
    } else {
        Err(TusError::Status {
            status: reply.status,
            class: ErrorClass::of_answer(reply.status, reply.error_code.as_deref()),
        })
    }
}

fn offset_of(reply: &Reply) -> Result<Option<u64>, TusError> {
    reply
        .upload_offset
        .as_ref()
        .map(|v| {
            v.trim().parse().map_err(|_| TusError::BadHeader {
                name: "Upload-Offset",
                value: v.clone(),
            })
        })
        .transpose()
}

/// Reads the answer to a creation `POST`. A body-less creation must name the upload;
/// a whole-body creation that succeeded holds every byte.
pub fn created(reply: &Reply, length: u64, whole_body: bool) -> Result<Created, TusError> {
    expect_success(reply)?;
    let location = reply
        .location
        .clone()
        .filter(|l| !l.trim().is_empty())
        .ok_or(TusError::MissingHeader("Location"))?;
    let offset = match offset_of(reply)? {
        Some(offset) => offset,
        None if whole_body => length,
        None => 0,
    };
    if offset > length {
        return Err(TusError::OffsetOutOfRange {
            got: offset,
            min: 0,
            max: length,
        });
    }
    Ok(Created {
        location,
        offset,
        asset_id: reply.asset_id.clone(),
    })
}

/// Reads the answer to an append of bytes `from..to`: the server's new offset. A final
/// append may be answered by the target resource without `Upload-Offset`; success then
/// means every byte arrived.
pub fn appended(reply: &Reply, from: u64, to: u64, last: bool) -> Result<u64, TusError> {
    if reply.status == 400 && reply.error_code.as_deref() == Some(COMPLETED_UPLOAD) {
        return already_completed(reply, from, to);
    }
    expect_success(reply)?;
    let offset = match offset_of(reply)? {
        Some(offset) => offset,
        None if last => to,
        None => return Err(TusError::MissingHeader("Upload-Offset")),
    };
    if !(from..=to).contains(&offset) {
        return Err(TusError::OffsetOutOfRange {
            got: offset,
            min: from,
            max: to,
        });
    }
    Ok(offset)
}

/// The problem type (and ferry-server's `error` code) of a `400` to an append whose
/// upload is complete.
pub const COMPLETED_UPLOAD: &str = "completed-upload";

/// `400 completed-upload` to an append: an append sent again after the one before it
/// completed the upload and its answer was lost. The browser itself sends a request again
/// when a reused connection closes before any answer, so the engine may never know it
/// was sent twice. The upload is done, not refused: the server's offset (the whole length)
/// is the answer, if it is the end of these bytes; otherwise ask the server (`Desync`).
fn already_completed(reply: &Reply, from: u64, to: u64) -> Result<u64, TusError> {
    match offset_of(reply)? {
        Some(offset) if (from..=to).contains(&offset) => Ok(offset),
        _ => Err(TusError::Status {
            status: reply.status,
            class: ErrorClass::Desync,
        }),
    }
}

/// Reads the answer to a `HEAD`: how many of `length` bytes the server holds.
pub fn current_offset(reply: &Reply, length: u64) -> Result<u64, TusError> {
    expect_success(reply)?;
    let offset = offset_of(reply)?.ok_or(TusError::MissingHeader("Upload-Offset"))?;
    if offset > length {
        return Err(TusError::OffsetOutOfRange {
            got: offset,
            min: 0,
            max: length,
        });
    }
    Ok(offset)
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

    fn has(headers: &[Header], name: &str, value: &str) -> bool {
        headers.iter().any(|(k, v)| *k == name && v == value)
    }

    #[test]
    fn careful_creation_declares_an_incomplete_upload_and_its_length() {
        let h = creation_headers(
            InteropVersion::default(),
            10,
            &[("filename", "a.jpg")],
            false,
        );
        assert!(has(&h, "Upload-Draft-Interop-Version", "8"));
        assert!(has(&h, "Upload-Complete", "?0"));
        assert!(has(&h, "Upload-Length", "10"));
        assert!(h.iter().any(|(k, _)| *k == "Upload-Metadata"));
        assert!(!h.iter().any(|(k, _)| *k == "Content-Type"));
        let whole = creation_headers(InteropVersion::V6, 3, &[], true);
        assert!(has(&whole, "Upload-Complete", "?1"));
        assert!(has(&whole, "Upload-Draft-Interop-Version", "6"));
    }

    #[test]
    fn appends_name_offset_completion_and_media_type_per_version() {
        let h = append_headers(InteropVersion::V8, 8, false);
        assert!(has(&h, "Upload-Offset", "8") && has(&h, "Upload-Complete", "?0"));
        assert!(has(&h, "Content-Type", "application/partial-upload"));
        assert!(has(
            &append_headers(InteropVersion::V7, 0, true),
            "Upload-Complete",
            "?1"
        ));
        assert!(has(
            &append_headers(InteropVersion::V6, 0, true),
            "Content-Type",
            CHUNK_CONTENT_TYPE
        ));
        assert_eq!(InteropVersion::from_number(7), Some(InteropVersion::V7));
        assert_eq!(InteropVersion::from_number(5), None);
    }

    #[test]
    fn creation_answers() {
        let mut r = reply(201);
        assert_eq!(
            created(&r, 5, false),
            Err(TusError::MissingHeader("Location"))
        );
        r.location = Some("/u/1".into());
        assert_eq!(created(&r, 5, false).unwrap().offset, 0);
        assert_eq!(
            created(&r, 5, true).unwrap().offset,
            5,
            "a whole body that succeeded"
        );
        r.upload_offset = Some("6".into());
        assert!(created(&r, 5, false).is_err());
        assert_eq!(
            created(&reply(413), 5, false).unwrap_err().class(),
            ErrorClass::TooBig
        );
    }

    #[test]
    fn append_answers() {
        let mut r = reply(204);
        r.upload_offset = Some("16".into());
        assert_eq!(appended(&r, 8, 16, false), Ok(16));
        assert_eq!(
            appended(&reply(201), 8, 16, true),
            Ok(16),
            "final answer from the resource"
        );
        assert_eq!(
            appended(&reply(204), 8, 16, false),
            Err(TusError::MissingHeader("Upload-Offset"))
        );
        assert_eq!(
            appended(&reply(409), 8, 16, false).unwrap_err().class(),
            ErrorClass::Desync
        );
        r.upload_offset = Some("4".into());
        assert!(appended(&r, 8, 16, false).is_err());
    }

    #[test]
    fn an_append_to_an_upload_it_completed_already_is_done_not_refused() {
        let completed = |offset: Option<&str>| Reply {
            status: 400,
            upload_offset: offset.map(Into::into),
            asset_id: Some("asset-1".into()),
            error_code: Some(COMPLETED_UPLOAD.into()),
            ..Reply::default()
        };
        assert_eq!(appended(&completed(Some("16")), 8, 16, true), Ok(16));
        // Not the end of these bytes (or no offset): ask the server where it stands.
        for reply in [completed(Some("20")), completed(None)] {
            let err = appended(&reply, 8, 16, false).unwrap_err();
            assert_eq!(err.class(), ErrorClass::Desync);
        }
        // Any other 400 is still a refusal.
        let other = Reply {
            error_code: Some("inconsistent-upload-length".into()),
            ..completed(Some("16"))
        };
        let err = appended(&other, 8, 16, true).unwrap_err();
        assert_eq!(err.class(), ErrorClass::Refused);
    }

    #[test]
    fn offset_answers() {
        let mut r = reply(204);
        r.upload_offset = Some("3".into());
        assert_eq!(current_offset(&r, 10), Ok(3));
        assert_eq!(
            current_offset(&reply(404), 10).unwrap_err().class(),
            ErrorClass::Expired
        );
    }
}

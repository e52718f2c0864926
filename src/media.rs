//! What a photo or video file says about itself, as the catalog keeps it and an upload
//! declares it. The reading is `ferry-media-meta`'s, the parser ferry-server uses too; the
//! engine runs it (`web::media`) just before it creates an upload, so a plain tus server
//! that never opens files (npm `@tus/server`) still learns when a photo was taken, and a
//! file found to be a duplicate costs no read at all.

use media_meta::{Outcome, Timestamp};
use serde::{Deserialize, Serialize};

/// What was read from a file's own bytes. Stored on the asset record (`asset.media`),
/// camelCase as JavaScript sees it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FileMeta {
    /// When the photo was taken (EXIF `DateTimeOriginal`) or the video recorded
    /// (QuickTime/MP4 `mvhd`): RFC 3339 in the file's own offset, e.g.
    /// `2024-05-01T14:00:00.000+02:00` (`Z` when the file named none).
    pub taken_at: Option<String>,
    /// A video's length in milliseconds.
    pub duration_ms: Option<i64>,
    /// The media type the file's first bytes show, if ferry knows it.
    pub mime: Option<String>,
    /// Whether the file was read as far as its metadata goes. `false` when it could not
    /// be read, or its metadata lies beyond the first mebibyte ferry reads: then the
    /// engine leaves `fileCreatedAt` to the server, which reads the whole file.
    pub complete: bool,
}

impl From<Outcome> for FileMeta {
    fn from(o: Outcome) -> Self {
        Self {
            taken_at: o.meta.taken_at.map(Timestamp::to_rfc3339),
            duration_ms: o.meta.duration_ms,
            mime: o.sniffed_mime.map(str::to_owned),
            complete: o.complete,
        }
    }
}

/// The media type to declare: the browser's, unless it gave none (or only
/// `application/octet-stream`), then what the bytes show.
pub fn declared_mime<'a>(browser: &'a str, media: Option<&'a FileMeta>) -> &'a str {
    let generic = browser.is_empty() || browser == "application/octet-stream";
    match media.and_then(|m| m.mime.as_deref()) {
        Some(sniffed) if generic => sniffed,
        _ => browser,
    }
}

/// The `Upload-Metadata` keys a file's metadata adds (tus and RUFH alike):
/// - `fileCreatedAt`: the file's own date; else, for a file read to its end with no date,
///   `lastModified` (RFC 3339, UTC); else none (ferry-server then reads the file itself,
///   and falls back to `fileModifiedAt`, which the engine always sends).
/// - `duration`: a video's length as `H:MM:SS.mmm`, as Immich clients send it.
pub fn upload_fields(media: Option<&FileMeta>, last_modified: f64) -> Vec<(&'static str, String)> {
    let Some(media) = media else {
        return Vec::new();
    };
    let mut fields = Vec::new();
    let created = media.taken_at.clone().or_else(|| {
        // Beyond the years 0 to 9999 (a clock gone wrong) it is sent as nothing at all.
        let fallback = Timestamp::from_unix_ms(last_modified as i64);
        fallback
            .filter(|_| media.complete)
            .map(Timestamp::to_rfc3339)
    });
    if let Some(created) = created {
        fields.push(("fileCreatedAt", created));
    }
    if let Some(ms) = media.duration_ms {
        fields.push(("duration", media_meta::format_duration(ms)));
    }
    fields
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(taken_at: Option<&str>, duration_ms: Option<i64>, complete: bool) -> FileMeta {
        FileMeta {
            taken_at: taken_at.map(str::to_owned),
            duration_ms,
            mime: Some("video/quicktime".into()),
            complete,
        }
    }

    #[test]
    fn the_files_own_date_wins_and_last_modified_is_the_fallback() {
        let may_first = 1_714_564_800_000.0;
        let taken = meta(Some("2024-05-01T14:00:00.000+02:00"), Some(90_000), true);
        assert_eq!(
            upload_fields(Some(&taken), 0.0),
            [
                ("fileCreatedAt", "2024-05-01T14:00:00.000+02:00".to_string()),
                ("duration", "0:01:30.000".to_string()),
            ]
        );
        assert_eq!(
            upload_fields(Some(&meta(None, None, true)), may_first),
            [("fileCreatedAt", "2024-05-01T12:00:00.000Z".to_string())]
        );
        // Not read to its end: the server, which reads it all, decides.
        assert!(upload_fields(Some(&meta(None, None, false)), may_first).is_empty());
        assert!(upload_fields(None, may_first).is_empty());
        // A lastModified no calendar holds is not sent (the server would refuse it).
        assert!(upload_fields(Some(&meta(None, None, true)), 1e300).is_empty());
    }

    #[test]
    fn the_browsers_type_wins_unless_it_gave_none() {
        let m = meta(None, None, true);
        assert_eq!(declared_mime("video/mp4", Some(&m)), "video/mp4");
        assert_eq!(declared_mime("", Some(&m)), "video/quicktime");
        assert_eq!(
            declared_mime("application/octet-stream", Some(&m)),
            "video/quicktime"
        );
        assert_eq!(declared_mime("", None), "");
    }

    #[test]
    fn records_without_media_still_load() {
        let m: FileMeta = serde_json::from_str(r#"{"takenAt":null,"complete":false}"#).unwrap();
        assert_eq!(m, FileMeta::default());
    }
}

//! What ferry knows about one file the user asked it to back up.

use serde::{Deserialize, Serialize};

/// Where an asset is on its way to the server. Each step's result is written to the
/// catalog before the next step starts, so a reload resumes from the last finished step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AssetStatus {
    /// Recorded in the catalog, nothing done yet.
    Pending,
    /// Its SHA-256 is being computed in a worker.
    Hashing,
    /// The server is being asked whether it already has these bytes.
    Checking,
    /// Its bytes are being sent.
    Uploading,
    /// Cancelled by the user, or its file is no longer available; `last_error` says which.
    Skipped,
    /// The server stored it and verified its checksum.
    Uploaded,
    /// The server already had these bytes for this user; nothing was sent.
    Duplicate,
    /// It could not be backed up; `last_error` says why.
    Failed,
}

impl AssetStatus {
    /// The word stored in the catalog (and its status index).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Hashing => "hashing",
            Self::Checking => "checking",
            Self::Uploading => "uploading",
            Self::Skipped => "skipped",
            Self::Uploaded => "uploaded",
            Self::Duplicate => "duplicate",
            Self::Failed => "failed",
        }
    }

    /// The status whose word is `word` (see [`AssetStatus::as_str`]).
    pub fn from_word(word: &str) -> Option<Self> {
        [
            Self::Pending,
            Self::Hashing,
            Self::Checking,
            Self::Uploading,
            Self::Skipped,
            Self::Uploaded,
            Self::Duplicate,
            Self::Failed,
        ]
        .into_iter()
        .find(|status| status.as_str() == word)
    }

    /// The statuses of an asset still on its way: the queue.
    pub const WAITING: [Self; 4] = [
        Self::Pending,
        Self::Hashing,
        Self::Checking,
        Self::Uploading,
    ];

    /// True once nothing more will happen to the asset without the user asking.
    pub fn is_finished(self) -> bool {
        matches!(
            self,
            Self::Uploaded | Self::Duplicate | Self::Failed | Self::Skipped
        )
    }
}

/// Why an asset failed or was skipped, as a word a program can act on: the package's
/// `FerryError` codes (`package/index.d.ts`). The asset's `last_error` says the same in
/// words a person can act on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ErrorCode {
    /// Cancelled by the user; not an error.
    Cancelled,
    /// The file could not be read (moved or deleted after it was added), or hashing it
    /// failed.
    FileUnreadable,
    /// The file changed after it was added.
    FileChanged,
    /// ferry kept no copy of the file and the page that had it closed: add it again.
    FileNotKept,
    /// Its album is excluded by the album rules.
    Excluded,
    /// The file, or even the smallest chunk, is larger than the server accepts.
    TooLarge,
    /// The server refused the file.
    Rejected,
    /// The server's bytes kept differing from the file's (by SHA-256).
    Checksum,
    /// Repeated network trouble or server errors: the engine gave up on the file.
    Network,
}

impl ErrorCode {
    const ALL: [Self; 9] = [
        Self::Cancelled,
        Self::FileUnreadable,
        Self::FileChanged,
        Self::FileNotKept,
        Self::Excluded,
        Self::TooLarge,
        Self::Rejected,
        Self::Checksum,
        Self::Network,
    ];

    /// The word stored in the record (`errorCode`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Cancelled => "cancelled",
            Self::FileUnreadable => "file-unreadable",
            Self::FileChanged => "file-changed",
            Self::FileNotKept => "file-not-kept",
            Self::Excluded => "excluded",
            Self::TooLarge => "too-large",
            Self::Rejected => "rejected",
            Self::Checksum => "checksum",
            Self::Network => "network",
        }
    }

    /// The code whose word is `word` (see [`ErrorCode::as_str`]).
    pub fn from_word(word: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|code| code.as_str() == word)
    }
}

/// One catalog record. Field names are camelCase because the record is stored in
/// IndexedDB and handed to JavaScript as it is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Asset {
    /// The catalog's own id for this asset (a random UUID).
    pub id: String,
    /// The file name as the user's device gave it. Display it as text, never as HTML.
    pub name: String,
    pub size: u64,
    /// `File.lastModified`, in milliseconds since the Unix epoch.
    pub last_modified: f64,
    /// The MIME type the browser reported, possibly empty.
    pub mime: String,
    /// The folder the file came from (its album), when a folder was picked or dropped.
    #[serde(default)]
    pub album: Option<String>,
    /// `name|size|lastModified|album`: the same file picked again has the same
    /// fingerprint, so it finds its unfinished record and its cached hash.
    #[serde(default)]
    pub fingerprint: String,
    /// When the asset was added to the catalog, in milliseconds since the Unix epoch.
    pub added_at: f64,
    pub status: AssetStatus,
    /// Lowercase hex SHA-256 of the file's bytes, once hashed.
    pub sha256: Option<String>,
    /// Bytes hashed or acknowledged by the server so far, for the progress bar.
    pub done_bytes: u64,
    /// The tus upload URL, once created, so an interrupted upload can be resumed.
    pub upload_url: Option<String>,
    /// The server's asset id, once uploaded or found to be a duplicate.
    pub server_id: Option<String>,
    /// Why the asset failed, in words a user can act on.
    pub last_error: Option<String>,
    /// Why the asset failed, as a code; records from before codes load without it.
    #[serde(default)]
    pub error_code: Option<ErrorCode>,
    /// A Live Photo's still: the catalog id of its motion part (the video asset), which
    /// is uploaded first and linked to it on the server. See `live_photos`.
    #[serde(default)]
    pub live_photo_video: Option<String>,
    /// A Live Photo's motion part: the catalog id of its still.
    #[serde(default)]
    pub live_photo_of: Option<String>,
    /// What the file's own bytes say (when it was taken, a video's length), read just
    /// before its upload is created; `None` until then. Records from before it load
    /// without it.
    #[serde(default)]
    pub media: Option<crate::media::FileMeta>,
}

/// `name|size|lastModified|album`: what tells a picked file from others across picks (an
/// asset's fingerprint, and the hash cache's key). `lastModified` is whole milliseconds, and
/// printed as an integer it reads as the `f64` did.
pub fn file_key(name: &str, size: u64, last_modified: f64, album: Option<&str>) -> String {
    let album = album.unwrap_or_default();
    format!("{name}|{size}|{}|{album}", last_modified as i64)
}

impl Asset {
    /// A new catalog record for a file the user just picked.
    pub fn new(
        id: String,
        name: String,
        size: u64,
        last_modified: f64,
        mime: String,
        added_at: f64,
    ) -> Self {
        Self {
            id,
            name,
            size,
            last_modified,
            mime,
            album: None,
            fingerprint: String::new(),
            added_at,
            status: AssetStatus::Pending,
            sha256: None,
            done_bytes: 0,
            upload_url: None,
            server_id: None,
            last_error: None,
            error_code: None,
            live_photo_video: None,
            live_photo_of: None,
            media: None,
        }
    }

    /// Sets the album (the folder the file came from) and the fingerprint that depends on it.
    pub fn in_album(mut self, album: Option<String>) -> Self {
        self.album = album;
        self.fingerprint = file_key(
            &self.name,
            self.size,
            self.last_modified,
            self.album.as_deref(),
        );
        self
    }

    /// Moves to `status`, resetting the progress counter that belongs to the old step.
    pub fn enter(&mut self, status: AssetStatus) {
        self.status = status;
        self.done_bytes = match status {
            AssetStatus::Uploaded | AssetStatus::Duplicate => self.size,
            _ => 0,
        };
    }

    /// The id this device gives the file on the server (`deviceAssetId`): its
    /// fingerprint, so the same file picked again is found by `/api/assets/exist`.
    pub fn device_asset_id(&self) -> &str {
        if self.fingerprint.is_empty() {
            &self.id // a record from before fingerprints
        } else {
            &self.fingerprint
        }
    }

    /// Puts a failed or skipped asset back in the queue. A known checksum still holds
    /// (the runner re-checks the file before sending), and a known upload URL is resumed.
    pub fn requeue(&mut self) {
        self.clear_error();
        self.enter(if self.sha256.is_some() {
            AssetStatus::Checking
        } else {
            AssetStatus::Pending
        });
    }

    /// The media type to declare to the server: the browser's, or what the bytes show
    /// when the browser gave none.
    pub fn declared_mime(&self) -> &str {
        crate::media::declared_mime(&self.mime, self.media.as_ref())
    }

    /// Marks the asset failed with a reason the user can read.
    pub fn fail(&mut self, code: ErrorCode, reason: impl Into<String>) {
        self.status = AssetStatus::Failed;
        self.set_error(code, reason);
    }

    /// Says why the asset failed or was skipped, as a code and in words.
    pub fn set_error(&mut self, code: ErrorCode, reason: impl Into<String>) {
        self.error_code = Some(code);
        self.last_error = Some(reason.into());
    }

    /// Forgets why the asset last failed.
    pub fn clear_error(&mut self) {
        self.error_code = None;
        self.last_error = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_use_the_names_javascript_sees() {
        let a = Asset::new("1".into(), "a.jpg".into(), 3, 5.0, "image/jpeg".into(), 6.0);
        let v = serde_json::to_value(&a).unwrap();
        assert_eq!(v["status"], "pending");
        assert_eq!(v["lastModified"], 5.0);
        assert_eq!(v["doneBytes"], 0);
        let back: Asset = serde_json::from_value(v).unwrap();
        assert_eq!(back, a);
    }

    #[test]
    fn status_words_match_their_serde_names() {
        use AssetStatus::*;
        for s in [
            Pending, Hashing, Checking, Uploading, Skipped, Uploaded, Duplicate, Failed,
        ] {
            assert_eq!(serde_json::to_value(s).unwrap(), s.as_str());
            assert_eq!(AssetStatus::from_word(s.as_str()), Some(s));
        }
        assert_eq!(AssetStatus::from_word("Pending"), None);
    }

    #[test]
    fn error_code_words_match_their_serde_names_and_the_package() {
        // The package's `ErrorCodes` (package/index.js) lists every one but `cancelled`.
        let package = include_str!("../package/index.js");
        let start = package.find("export const ErrorCodes").unwrap();
        let package = &package[start..start + package[start..].find("]);").unwrap()];
        for code in ErrorCode::ALL {
            assert_eq!(serde_json::to_value(code).unwrap(), code.as_str());
            assert_eq!(ErrorCode::from_word(code.as_str()), Some(code));
            if code != ErrorCode::Cancelled {
                assert!(
                    package.contains(&format!("'{}'", code.as_str())),
                    "{code:?}"
                );
            }
        }
        assert_eq!(ErrorCode::from_word("FileNotKept"), None);
    }

    #[test]
    fn the_same_file_in_the_same_album_has_the_same_fingerprint() {
        let a = |id: &str, album: Option<&str>| {
            Asset::new(id.into(), "a.jpg".into(), 3, 5.0, String::new(), 0.0)
                .in_album(album.map(str::to_string))
        };
        assert_eq!(
            a("1", Some("Trip")).fingerprint,
            a("2", Some("Trip")).fingerprint
        );
        assert_ne!(
            a("1", Some("Trip")).fingerprint,
            a("1", Some("Home")).fingerprint
        );
        assert_ne!(a("1", None).fingerprint, a("1", Some("Trip")).fingerprint);
    }

    #[test]
    fn finished_statuses() {
        assert!(AssetStatus::Uploaded.is_finished());
        assert!(AssetStatus::Duplicate.is_finished());
        assert!(AssetStatus::Failed.is_finished());
        assert!(!AssetStatus::Uploading.is_finished());
    }

    #[test]
    fn entering_a_finished_state_fills_progress() {
        let mut a = Asset::new("1".into(), "a.jpg".into(), 10, 0.0, String::new(), 0.0);
        a.done_bytes = 4;
        a.enter(AssetStatus::Duplicate);
        assert_eq!(a.done_bytes, 10);
        a.enter(AssetStatus::Uploading);
        assert_eq!(a.done_bytes, 0);
    }
}

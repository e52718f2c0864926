//! An [`Asset`] as a plain JavaScript object: the record IndexedDB stores, the value
//! `Backup.assets()` resolves to and the `asset-state` event carries.
//!
//! The shape is the one `Asset`'s serde derive gives (camelCase fields, the status as its
//! word, an absent value as `undefined`, or `null` in events), and catalogs written by
//! serde-wasm-bindgen read back unchanged; `tests/common` holds the two to each other. The
//! conversion is written out rather than done by serde-wasm-bindgen because serde's
//! generic code for `Asset` and `FileMeta`, both ways, was 1.4 KB of the engine's gzipped
//! wasm (measured on 2026-12-07: 166,712 B to 165,314 B); see also `js_object`.

use js_sys::{Object, Reflect};
use wasm_bindgen::JsValue;

use super::js_object::{Fields, Name, WrongField};
use crate::asset::{Asset, AssetStatus, ErrorCode};
use crate::media::FileMeta;

/// The field names as JavaScript strings, made once per thread: a pick of 100,000 files
/// writes 100,000 records, and making each name afresh would be 1.7 million more calls
/// into JavaScript.
macro_rules! field_names {
    ($($field:ident: $name:literal),* $(,)?) => {
        struct Names { $($field: JsValue),* }
        impl Names {
            fn new() -> Self {
                Self { $($field: JsValue::from_str($name)),* }
            }
        }
    };
}

field_names! {
    id: "id", name: "name", size: "size", last_modified: "lastModified", mime: "mime",
    album: "album", fingerprint: "fingerprint", added_at: "addedAt", status: "status",
    sha256: "sha256", done_bytes: "doneBytes", upload_url: "uploadUrl",
    server_id: "serverId", last_error: "lastError", error_code: "errorCode",
    live_photo_video: "livePhotoVideo",
    live_photo_of: "livePhotoOf", media: "media", taken_at: "takenAt",
    duration_ms: "durationMs", complete: "complete",
}

thread_local! {
    static NAMES: Names = Names::new();
}

/// How an absent value is written: `undefined` in the catalog (as serde-wasm-bindgen
/// wrote it), `null` in events (as JSON would have it).
#[derive(Clone, Copy)]
pub enum Absent {
    Undefined,
    Null,
}

/// Writes the fields of one object.
struct Writer {
    object: Object,
    absent: JsValue,
}

impl Writer {
    fn set(&self, name: &JsValue, value: JsValue) {
        // Setting a property of a plain new object cannot throw.
        let _ = Reflect::set(&self.object, name, &value);
    }

    fn text(&self, name: &JsValue, value: &str) {
        self.set(name, JsValue::from_str(value));
    }

    fn optional_text(&self, name: &JsValue, value: Option<&str>) {
        self.set(name, value.map_or(self.absent.clone(), JsValue::from_str));
    }

    fn number(&self, name: &JsValue, value: f64) {
        self.set(name, JsValue::from_f64(value));
    }
}

impl Asset {
    /// This asset as a plain object (see the module's comment).
    pub fn to_record(&self, absent: Absent) -> JsValue {
        NAMES.with(|n| {
            let absent = match absent {
                Absent::Undefined => JsValue::UNDEFINED,
                Absent::Null => JsValue::NULL,
            };
            let media = self
                .media
                .as_ref()
                .map_or(absent.clone(), |media| media.to_record(n, &absent));
            let w = Writer {
                object: Object::new(),
                absent,
            };
            w.text(&n.id, &self.id);
            w.text(&n.name, &self.name);
            w.number(&n.size, self.size as f64);
            w.number(&n.last_modified, self.last_modified);
            w.text(&n.mime, &self.mime);
            w.optional_text(&n.album, self.album.as_deref());
            w.text(&n.fingerprint, &self.fingerprint);
            w.number(&n.added_at, self.added_at);
            w.text(&n.status, self.status.as_str());
            w.optional_text(&n.sha256, self.sha256.as_deref());
            w.number(&n.done_bytes, self.done_bytes as f64);
            w.optional_text(&n.upload_url, self.upload_url.as_deref());
            w.optional_text(&n.server_id, self.server_id.as_deref());
            w.optional_text(&n.last_error, self.last_error.as_deref());
            w.optional_text(&n.error_code, self.error_code.map(ErrorCode::as_str));
            w.optional_text(&n.live_photo_video, self.live_photo_video.as_deref());
            w.optional_text(&n.live_photo_of, self.live_photo_of.as_deref());
            w.set(&n.media, media);
            w.object.into()
        })
    }

    /// The asset a record holds. Fields added since a record was written read as absent
    /// (`album`, `fingerprint`, `errorCode`, the Live Photo links, `media`); others must
    /// be there.
    pub fn from_record(record: &JsValue) -> Result<Self, WrongField> {
        NAMES.with(|n| {
            let r = Fields(record);
            let status = r.text(&n.status)?;
            let media = match r.value(&n.media) {
                media if media.is_null_or_undefined() => None,
                media => Some(FileMeta::from_record(n, &media)?),
            };
            Ok(Self {
                id: r.text(&n.id)?,
                name: r.text(&n.name)?,
                size: r.count(&n.size)?,
                last_modified: r.number(&n.last_modified)?,
                mime: r.text(&n.mime)?,
                album: r.optional_text(&n.album)?,
                fingerprint: r.optional_text(&n.fingerprint)?.unwrap_or_default(),
                added_at: r.number(&n.added_at)?,
                status: AssetStatus::from_word(&status).ok_or_else(|| n.status.wrong())?,
                sha256: r.optional_text(&n.sha256)?,
                done_bytes: r.count(&n.done_bytes)?,
                upload_url: r.optional_text(&n.upload_url)?,
                server_id: r.optional_text(&n.server_id)?,
                last_error: r.optional_text(&n.last_error)?,
                // A code this version does not know (from a newer one) reads as none: the
                // reason in words still says what happened.
                error_code: r
                    .optional_text(&n.error_code)?
                    .and_then(|word| ErrorCode::from_word(&word)),
                live_photo_video: r.optional_text(&n.live_photo_video)?,
                live_photo_of: r.optional_text(&n.live_photo_of)?,
                media,
            })
        })
    }
}

impl FileMeta {
    fn to_record(&self, n: &Names, absent: &JsValue) -> JsValue {
        let w = Writer {
            object: Object::new(),
            absent: absent.clone(),
        };
        w.optional_text(&n.taken_at, self.taken_at.as_deref());
        let duration = self.duration_ms.map(|ms| JsValue::from_f64(ms as f64));
        w.set(&n.duration_ms, duration.unwrap_or_else(|| absent.clone()));
        w.optional_text(&n.mime, self.mime.as_deref());
        w.set(&n.complete, JsValue::from_bool(self.complete));
        w.object.into()
    }

    fn from_record(n: &Names, record: &JsValue) -> Result<Self, WrongField> {
        let r = Fields(record);
        Ok(Self {
            taken_at: r.optional_text(&n.taken_at)?,
            duration_ms: r.optional_whole(&n.duration_ms)?,
            mime: r.optional_text(&n.mime)?,
            complete: r
                .optional_bool(&n.complete)?
                .ok_or_else(|| n.complete.wrong())?,
        })
    }
}

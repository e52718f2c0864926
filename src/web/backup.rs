//! `Backup`, the JavaScript-facing engine. The PWA uses exactly this API.

use std::collections::HashSet;
use std::rc::Rc;

use js_sys::{Array, Function, Promise};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::future_to_promise;
use web_sys::File;

use super::asset_record::Absent;
use super::catalog::Catalog;
use super::hash_worker::HashPool;
use super::http::Server;
use super::js_object::{Fields, FromJs, Name, ToJs, WrongField};
use super::runner::{hash_cache_key, Engine, EngineConfig, LAST_BACKUP_AT, SAVE_BATCH};
use super::staging::KeepLimits;
use super::transfer::Requested;
use crate::albums::{album_of, AlbumRules};
use crate::asset::{Asset, AssetStatus, ErrorCode};
use crate::chunks::DEFAULT_CHUNK_SIZE;
use crate::policy::Settings;
use crate::rufh::InteropVersion;

/// `add` writes records with their kept copies in transactions of about this many bytes
/// of copies (and at most `SAVE_BATCH` records, so no one task of the page writes
/// thousands), and starts the backup after the first: keeping copies of a gigabyte took
/// about 7 s, which the first upload used to wait for.
const ADD_BATCH_BYTES: u64 = 64 << 20;

/// How long `add` reads picked files (and `assets` reads records) before giving the page
/// a turn: well under the 50 ms of a long task, even stretched by a loaded machine (100
/// files a turn took 25 ms of CPU and 50-70 ms by the clock).
const TURN_MS: f64 = 8.0;

/// Options for `Backup.open`, under these names in camelCase.
struct BackupOptions {
    /// API root, e.g. `https://photos.example/api`. Defaults to this origin's `/api`.
    endpoint: Option<String>,
    /// Where uploads are created, if not at `{endpoint}/uploads`: any tus 1.0 server.
    tus_endpoint: Option<String>,
    /// The user's API key or session token, sent as `x-api-key`.
    api_key: String,
    /// IndexedDB database name; one per server and user. Defaults to `ferry`.
    catalog_name: Option<String>,
    /// URL of the hashing worker script. Defaults to `./hash-worker.js` beside the page.
    hash_worker_url: Option<String>,
    /// First chunk size in bytes (then adapted to the link). Defaults to 8 MiB.
    chunk_size: Option<u64>,
    /// Ask the server which files it already has before uploading. Defaults to true;
    /// set false for a plain tus server without ferry's dedup check.
    dedup: Option<bool>,
    /// `auto` (default: tus when the server advertises it, else RUFH), `tus` or `rufh`.
    protocol: Option<String>,
    /// RUFH draft interop version: 6, 7 or 8 (default).
    rufh_version: Option<u32>,
    /// Files uploading at once. Defaults to 3.
    concurrency: Option<usize>,
    /// Wi-Fi, cellular, charging and pause settings. Defaults: Wi-Fi only.
    settings: Option<Settings>,
    /// Albums (folders) to back up and to exclude: `{include: [], exclude: []}`.
    albums: Option<AlbumRules>,
    /// Files up to this size (default 64 MiB) are kept in IndexedDB until backed up, so
    /// a reload resumes them without picking them again. Browsers copy kept files.
    keep_files_up_to: Option<u64>,
    /// Kept files never make this origin's storage exceed this (default 1 GiB).
    keep_files_budget: Option<u64>,
    /// Milliseconds within which an answer must start (default 30,000), plus 1 ms for
    /// every 64 bytes sent; a request past it is retried.
    request_timeout_ms: Option<u32>,
}

impl FromJs for BackupOptions {
    fn from_js(value: &JsValue) -> Result<Self, WrongField> {
        let f = Fields::of(value, "options")?;
        let small = |n: Option<u64>, name: &str| match n {
            Some(n) => u32::try_from(n).map(Some).map_err(|_| name.wrong()),
            None => Ok(None),
        };
        Ok(Self {
            endpoint: f.optional_text(&"endpoint")?,
            tus_endpoint: f.optional_text(&"tusEndpoint")?,
            api_key: f.text(&"apiKey")?,
            catalog_name: f.optional_text(&"catalogName")?,
            hash_worker_url: f.optional_text(&"hashWorkerUrl")?,
            chunk_size: f.optional_count(&"chunkSize")?,
            dedup: f.optional_bool(&"dedup")?,
            protocol: f.optional_text(&"protocol")?,
            rufh_version: small(f.optional_count(&"rufhVersion")?, "rufhVersion")?,
            concurrency: small(f.optional_count(&"concurrency")?, "concurrency")?
                .map(|n| n as usize),
            settings: f.optional_object(&"settings")?,
            albums: f.optional_object(&"albums")?,
            keep_files_up_to: f.optional_count(&"keepFilesUpTo")?,
            keep_files_budget: f.optional_count(&"keepFilesBudget")?,
            request_timeout_ms: small(f.optional_count(&"requestTimeoutMs")?, "requestTimeoutMs")?,
        })
    }
}

/// `{wifiOnly, cellularPhotos, cellularVideos, requireCharging, paused}`; a missing field,
/// or one that is `null`, keeps its default.
impl FromJs for Settings {
    fn from_js(value: &JsValue) -> Result<Self, WrongField> {
        let f = Fields::of(value, "settings")?;
        let default = Settings::default();
        let flag = |name: &str, default: bool| Ok(f.optional_bool(&name)?.unwrap_or(default));
        Ok(Self {
            wifi_only: flag("wifiOnly", default.wifi_only)?,
            cellular_photos: flag("cellularPhotos", default.cellular_photos)?,
            cellular_videos: flag("cellularVideos", default.cellular_videos)?,
            require_charging: flag("requireCharging", default.require_charging)?,
            paused: flag("paused", default.paused)?,
        })
    }
}

/// `{include: [names], exclude: [names]}`; a missing list is empty.
impl FromJs for AlbumRules {
    fn from_js(value: &JsValue) -> Result<Self, WrongField> {
        let f = Fields::of(value, "albums")?;
        let names = |name: &str| {
            Ok(f.optional_list(&name, JsValue::as_string)?
                .unwrap_or_default())
        };
        Ok(Self {
            include: names("include")?,
            exclude: names("exclude")?,
        })
    }
}

fn js_error(e: impl std::fmt::Display) -> JsValue {
    JsError::new(&e.to_string()).into()
}

/// A backup of files to one server, with its catalog in IndexedDB. Opening it resumes
/// whatever an earlier page left unfinished.
#[wasm_bindgen]
pub struct Backup {
    engine: Rc<Engine>,
}

/// The `code` of a `Backup.open` failure caused by its options.
const INVALID_OPTIONS: &str = "invalid-options";

/// A `Backup.open` failure: an `Error` with a `code`, the package's `FerryError` code for
/// it, so that no caller has to tell failures apart by their words.
fn open_error(code: &str, message: &str) -> JsValue {
    let error = js_sys::Error::new(message);
    // Setting a property of a new Error cannot throw.
    let _ = js_sys::Reflect::set(&error, &"code".into(), &code.into());
    error.into()
}

#[wasm_bindgen]
impl Backup {
    /// Opens the catalog, starts the hashing worker, and resumes unfinished work.
    /// `options`: `{ apiKey, endpoint?, tusEndpoint?, catalogName?, hashWorkerUrl?,
    /// protocol?, rufhVersion?, chunkSize?, concurrency?, dedup?, settings?, albums?,
    /// keepFilesUpTo?, keepFilesBudget?, requestTimeoutMs? }`. Fails with an `Error` whose
    /// `code` is `invalid-options`, `storage` (IndexedDB) or `worker`.
    pub async fn open(options: JsValue) -> Result<Backup, JsValue> {
        let options = BackupOptions::from_js(&options)
            .map_err(|e| open_error(INVALID_OPTIONS, &format!("invalid Backup options: {e}")))?;
        let origin = js_sys::Reflect::get(&js_sys::global(), &"location".into())
            .and_then(|l| js_sys::Reflect::get(&l, &"origin".into()))
            .ok()
            .and_then(|o| o.as_string())
            .unwrap_or_default();
        let api = options
            .endpoint
            .unwrap_or_else(|| format!("{origin}/api"))
            .trim_end_matches('/')
            .to_string();
        let catalog_name = options.catalog_name.unwrap_or_else(|| "ferry".into());
        let worker_url = options
            .hash_worker_url
            .unwrap_or_else(|| "./hash-worker.js".into());
        let rufh_version = match options.rufh_version {
            None => InteropVersion::default(),
            Some(n) => InteropVersion::from_number(n).ok_or_else(|| {
                open_error(
                    INVALID_OPTIONS,
                    &format!("rufhVersion must be 6, 7 or 8, not {n}"),
                )
            })?,
        };
        let protocol = match options.protocol.as_deref().unwrap_or("auto") {
            "auto" => Requested::Auto,
            "tus" => Requested::Tus,
            "rufh" => Requested::Rufh(rufh_version),
            other => {
                return Err(open_error(
                    INVALID_OPTIONS,
                    &format!("protocol must be \"auto\", \"tus\" or \"rufh\", not {other:?}"),
                ))
            }
        };
        // The catalog opens while the workers load: most of a cold start is the workers.
        let (catalog, hasher) = futures_util::future::join(
            Catalog::open(&catalog_name),
            HashPool::start(&worker_url, HashPool::default_size()),
        )
        .await;
        let catalog = catalog.map_err(|e| open_error("storage", &e.to_string()))?;
        let hasher = hasher.map_err(|e| {
            open_error(
                "worker",
                &format!(
                    "could not start the hashing worker at {worker_url}: {}",
                    super::http::describe_js_error(&e)
                ),
            )
        })?;
        let engine = Engine::new(EngineConfig {
            catalog,
            catalog_name,
            server: Server {
                uploads: options
                    .tus_endpoint
                    .unwrap_or_else(|| format!("{api}/uploads")),
                api,
                api_key: options.api_key,
                timeout_ms: f64::from(options.request_timeout_ms.unwrap_or(30_000)),
            },
            hasher,
            chunk_size: options.chunk_size.unwrap_or(DEFAULT_CHUNK_SIZE),
            concurrency: options.concurrency.unwrap_or(3),
            dedup: options.dedup.unwrap_or(true),
            settings: options.settings.unwrap_or_default(),
            albums: options.albums.unwrap_or_default(),
            protocol,
            keep: KeepLimits {
                up_to: options.keep_files_up_to.unwrap_or(64 << 20),
                budget: options.keep_files_budget.unwrap_or(1 << 30),
            },
        });
        engine.kick();
        Ok(Backup { engine })
    }

    /// Calls `listener(asset)` whenever an asset's record or progress changes, including
    /// changes made by another tab's runner. Returns a function that unsubscribes.
    #[wasm_bindgen(js_name = onChange)]
    pub fn on_change(&self, listener: Function) -> Function {
        subscribe(&self.engine, listener, |e| &e.listeners)
    }

    /// Calls `listener(progress)` with the overall state: `{state: idle|running|held|halted,
    /// reason, reasonCode, done, total, bytesDone, bytesTotal, current, bytesPerSecond,
    /// etaSeconds}`. `reasonCode` is one of `paused`, `offline`, `waiting-for-wifi`,
    /// `waiting-for-charging`, `low-battery` (held) or `auth`, `quota` (the user's quota
    /// is full), `storage-full` (the server's disk is full; the backup tries again by
    /// itself, after 15 s and then less and less often), `storage` (this browser's
    /// catalog, IndexedDB, failed, or was deleted or upgraded by another tab: reload to
    /// continue) (halted).
    /// Returns a function that unsubscribes.
    #[wasm_bindgen(js_name = onProgress)]
    pub fn on_progress(&self, listener: Function) -> Function {
        subscribe(&self.engine, listener, |e| &e.progress_listeners)
    }

    /// The overall state now (see `onProgress`).
    pub fn progress(&self) -> JsValue {
        self.engine.progress().to_js()
    }

    /// Which device APIs this browser offers: `{networkType, battery, webLocks}`.
    pub fn capabilities(&self) -> JsValue {
        self.engine.device().capabilities().to_js()
    }

    /// Resolves to the catalog's statistics: `{total, waiting, uploaded, duplicates,
    /// failed, skipped, lastBackupAt}` (`lastBackupAt` in ms since the epoch, or null).
    /// Counted through indexes, so it stays quick with 100,000 assets.
    pub fn stats(&self) -> Promise {
        let engine = self.engine.clone();
        future_to_promise(async move {
            let [uploaded, duplicates, failed, skipped, pending, hashing, checking, uploading] =
                engine
                    .catalog
                    .counts([
                        AssetStatus::Uploaded,
                        AssetStatus::Duplicate,
                        AssetStatus::Failed,
                        AssetStatus::Skipped,
                        AssetStatus::Pending,
                        AssetStatus::Hashing,
                        AssetStatus::Checking,
                        AssetStatus::Uploading,
                    ])
                    .await
                    .map_err(js_error)?;
            let waiting = pending + hashing + checking + uploading;
            let last = engine
                .catalog
                .fact(super::runner::LAST_BACKUP_AT)
                .await
                .map_err(js_error)?;
            let stats = js_sys::Object::new();
            let set = |key: &str, value: JsValue| js_sys::Reflect::set(&stats, &key.into(), &value);
            set(
                "total",
                (uploaded + duplicates + failed + skipped + waiting).into(),
            )?;
            set("waiting", waiting.into())?;
            set("uploaded", uploaded.into())?;
            set("duplicates", duplicates.into())?;
            set("failed", failed.into())?;
            set("skipped", skipped.into())?;
            set(
                "lastBackupAt",
                last.map_or(JsValue::NULL, JsValue::from_f64),
            )?;
            Ok(stats.into())
        })
    }

    /// Resolves to the catalog's asset records, oldest first (at most `limit`).
    pub fn assets(&self, limit: u32) -> Promise {
        let engine = self.engine.clone();
        future_to_promise(async move {
            let records = engine.catalog.oldest_first(limit).await.map_err(js_error)?;
            // Each record is read and handed over afresh (old records get the fields added
            // since), and the page gets a turn every `TURN_MS`: 10,000 of them at
            // once were a task of 200-300 ms.
            let list = Array::new();
            let mut turn_started = super::now_ms();
            for record in records {
                if super::now_ms() - turn_started >= TURN_MS {
                    super::next_turn().await;
                    turn_started = super::now_ms();
                }
                let asset = Asset::from_record(&record).map_err(js_error)?;
                list.push(&asset.to_record(Absent::Undefined));
            }
            Ok(list.into())
        })
    }

    /// Adds `files`: a `FileList`, or an array of `File`s or of `{file, path}` where
    /// `path` is the file's place in a dropped folder (`"Trip/IMG_1.jpg"`; a `File` from a
    /// folder picker carries its own `webkitRelativePath`). The parent folder is the
    /// file's album. Each file is recorded in the catalog, with its file handle, before
    /// any work starts; files outside the album rules are recorded as skipped. A file
    /// this browser already backed up, unchanged, keeps its record, announced again as a
    /// change. Resolves to the ids of the files' records: those kept first, then the new.
    pub fn add(&self, files: JsValue) -> Promise {
        let engine = self.engine.clone();
        future_to_promise(async move {
            let now = super::now_ms();
            let rules = engine.album_rules();
            // Kept copies are the staging area a service worker backs up from after the
            // page closes (see `staging`).
            let mut room = engine
                .staging
                .room(&engine.catalog)
                .await
                .map_err(js_error)?;
            let mut items: Vec<(Asset, Option<File>)> = Vec::new();
            let mut excluded = Vec::new();
            let mut admitted: Vec<(Asset, File)> = Vec::new();
            let mut turn_started = super::now_ms();
            for entry in Array::from(&files).iter() {
                // The page gets a turn every `TURN_MS`: reading 10,000 picked
                // files' names, sizes and dates in one go was one 5 s task, and even 100
                // of them took 25 ms (Chromium asks for each picked file's size).
                if super::now_ms() - turn_started >= TURN_MS {
                    super::next_turn().await;
                    turn_started = super::now_ms();
                }
                let Some((file, path)) = file_and_path(entry) else {
                    continue;
                };
                let new = Asset::new(
                    super::random_id(),
                    file.name(),
                    file.size() as u64,
                    file.last_modified(),
                    file.type_(),
                    now,
                )
                .in_album(album_of(&path).map(str::to_string));
                if !rules.admits(new.album.as_deref()) {
                    let mut asset = new;
                    asset.status = AssetStatus::Skipped;
                    asset.set_error(
                        ErrorCode::Excluded,
                        "Its album is not backed up (see album settings).",
                    );
                    excluded.push(asset);
                    continue;
                }
                admitted.push((new, file));
            }
            // The same file picked again continues its unfinished record, looked up for
            // the whole pick at once: 10,000 files cost 20 transactions, not 10,000.
            let waiting = {
                let fingerprints: Vec<&str> = admitted
                    .iter()
                    .map(|(a, _)| a.fingerprint.as_str())
                    .collect();
                engine
                    .catalog
                    .waiting_many(&fingerprints)
                    .await
                    .map_err(js_error)?
            };
            // A file this browser backed up before, unchanged (the hash cache knows it, and
            // a record with its checksum is backed up), is done at once: no copy is kept,
            // nothing is hashed, and the server is not asked.
            let backed_up = {
                let keys: Vec<String> = admitted.iter().map(|(a, _)| hash_cache_key(a)).collect();
                let cached = engine
                    .catalog
                    .cached_hashes(&keys)
                    .await
                    .map_err(js_error)?;
                let wanted: Vec<(&str, &str)> = cached
                    .iter()
                    .zip(&admitted)
                    .filter_map(|(c, (a, _))| Some((c.as_deref()?, a.fingerprint.as_str())))
                    .collect();
                let mut found = engine
                    .catalog
                    .backed_up_as(&wanted)
                    .await
                    .map_err(js_error)?
                    .into_iter();
                cached
                    .iter()
                    .map(|c| c.as_ref().and_then(|c| Some((c.clone(), found.next()??))))
                    .collect::<Vec<_>>()
            };
            // Files whose own record is backed up keep it: picking a library again adds
            // nothing to the catalog (10,000 new records a re-run, 10 of its 16 s, before).
            let mut already = Vec::new();
            let mut any_backed_up = false;
            let mut queued_again = HashSet::new();
            for (((new, file), waiting), backed_up) in
                admitted.into_iter().zip(waiting).zip(backed_up)
            {
                let asset = match waiting {
                    Some(mut waiting) if !waiting.status.is_finished() => {
                        waiting.clear_error();
                        queued_again.insert(waiting.id.clone());
                        waiting
                    }
                    Some(mut waiting)
                        if matches!(waiting.status, AssetStatus::Failed | AssetStatus::Skipped) =>
                    {
                        waiting.requeue();
                        queued_again.insert(waiting.id.clone());
                        waiting
                    }
                    _ => match backed_up {
                        Some((_, record)) if record.fingerprint == new.fingerprint => {
                            any_backed_up = true;
                            already.push(record);
                            continue;
                        }
                        // The same bytes, backed up under another file's record.
                        Some((sha256, record)) => {
                            let mut asset = new;
                            asset.sha256 = Some(sha256);
                            asset.server_id = record.server_id;
                            asset.enter(AssetStatus::Duplicate);
                            any_backed_up = true;
                            items.push((asset, None));
                            continue;
                        }
                        None => new,
                    },
                };
                engine.queued_again(&asset.id);
                let kept = room.take(asset.size).then(|| file.clone());
                if kept.is_none() {
                    engine.staging.wait_for_room(&asset.id, asset.size);
                }
                engine
                    .live_files
                    .borrow_mut()
                    .insert(asset.id.clone(), file);
                items.push((asset, kept));
            }
            if any_backed_up {
                engine
                    .catalog
                    .set_fact(LAST_BACKUP_AT, super::now_ms())
                    .await
                    .map_err(js_error)?;
            }
            // Live Photos pair up among the files of one pick or drop.
            crate::live_photos::pair(&mut items.iter_mut().map(|(a, _)| a).collect::<Vec<_>>());
            items.extend(excluded.into_iter().map(|asset| (asset, None)));
            let ids = Array::new();
            for (i, record) in already.iter().enumerate() {
                if i > 0 && i % SAVE_BATCH == 0 {
                    super::next_turn().await;
                }
                ids.push(&record.id.as_str().into());
                engine.notify(record);
            }
            let mut kicked = false;
            let mut rest = &items[..];
            while !rest.is_empty() {
                let mut bytes = 0;
                let split = rest
                    .iter()
                    .take(SAVE_BATCH)
                    .position(|(asset, kept)| {
                        bytes += kept.as_ref().map_or(0, |_| asset.size);
                        bytes >= ADD_BATCH_BYTES
                    })
                    .map_or(rest.len().min(SAVE_BATCH), |last| last + 1);
                let (batch, later) = rest.split_at(split);
                // A record the runner has had since this add read it stays as it is (see
                // `Catalog::add`), and so is announced; a backed-up one's file is let go.
                let left = engine
                    .catalog
                    .add(batch, &queued_again)
                    .await
                    .map_err(js_error)?;
                for (asset, _) in batch {
                    ids.push(&asset.id.as_str().into());
                    match left.iter().find(|now| now.id == asset.id) {
                        Some(now) => {
                            if now.status.is_finished() {
                                engine.live_files.borrow_mut().remove(&now.id);
                            }
                            engine.notify(now);
                        }
                        None => engine.notify(asset),
                    }
                }
                // Each batch with work may find the runner between rounds, or finished. A
                // batch of files already backed up gives it none.
                if batch.iter().any(|(asset, _)| !asset.status.is_finished()) {
                    engine.kick();
                    kicked = true;
                }
                rest = later;
                // The page gets a turn before the next batch, so this batch's change
                // listeners and the next batch's writes are not one task.
                if !rest.is_empty() {
                    super::next_turn().await;
                }
            }
            // One round, to settle the progress state, when no batch had work.
            if !kicked {
                engine.kick();
            }
            // Resolved once every copy is kept, so a caller that closes the tab after
            // `add` still leaves the files for a background sync to back up.
            Ok(ids.into())
        })
    }

    /// Replaces the album rules: `{include: [names], exclude: [names]}`. Applies to files
    /// added from now on.
    #[wasm_bindgen(js_name = setAlbumRules)]
    pub fn set_album_rules(&self, rules: JsValue) -> Result<(), JsError> {
        let rules = AlbumRules::from_js(&rules)
            .map_err(|e| JsError::new(&format!("invalid album rules: {e}")))?;
        self.engine.set_album_rules(rules);
        Ok(())
    }

    /// Pauses uploading (the current chunk finishes).
    pub fn pause(&self) {
        let settings = Settings {
            paused: true,
            ..self.engine.settings()
        };
        self.engine.set_settings(settings);
    }

    /// Resumes after `pause`, or after the backup stopped because storage (the user's
    /// quota or the server's disk) was full.
    pub fn resume(&self) {
        let settings = Settings {
            paused: false,
            ..self.engine.settings()
        };
        self.engine.clear_quota_halt();
        self.engine.set_settings(settings);
    }

    /// Ends the current run once the steps in flight are saved, without pausing: a
    /// service worker calls it before the browser's time limit. Nothing is lost; every
    /// record resumes from where it stopped. Anything that kicks the engine again (`add`,
    /// `resume`, `retry`, new settings) starts a new run. The progress state turns
    /// `idle` when the run has ended.
    pub fn stop(&self) {
        self.engine.stop();
    }

    /// Replaces the settings: `{wifiOnly, cellularPhotos, cellularVideos,
    /// requireCharging, paused}`; missing or `null` fields take their defaults.
    #[wasm_bindgen(js_name = setSettings)]
    pub fn set_settings(&self, settings: JsValue) -> Result<(), JsError> {
        let settings = Settings::from_js(&settings)
            .map_err(|e| JsError::new(&format!("invalid settings: {e}")))?;
        self.engine.set_settings(settings);
        Ok(())
    }

    /// After the server stopped accepting the old key: use `apiKey` and resume.
    #[wasm_bindgen(js_name = signIn)]
    pub fn sign_in(&self, api_key: String) {
        self.engine.sign_in(api_key);
    }

    /// Cancels asset `id`: it ends `skipped` (a failed or skipped one is set aside the same
    /// way, as cancelled), and its partial upload is terminated.
    pub fn cancel(&self, id: String) -> Promise {
        let engine = self.engine.clone();
        future_to_promise(async move {
            engine.cancel(&id).await.map_err(js_error)?;
            Ok(JsValue::UNDEFINED)
        })
    }

    /// Puts a failed or skipped asset back in the queue.
    pub fn retry(&self, id: String) -> Promise {
        let engine = self.engine.clone();
        future_to_promise(async move {
            engine.retry(&id).await.map_err(js_error)?;
            Ok(JsValue::UNDEFINED)
        })
    }

    /// Puts every failed asset back in the queue.
    #[wasm_bindgen(js_name = retryAll)]
    pub fn retry_all(&self) -> Promise {
        let engine = self.engine.clone();
        future_to_promise(async move {
            let failed = engine
                .catalog
                .with_status(AssetStatus::Failed, u32::MAX)
                .await
                .map_err(js_error)?;
            for asset in failed {
                engine.retry(&asset.id).await.map_err(js_error)?;
            }
            Ok(JsValue::UNDEFINED)
        })
    }
}

/// A `File` with its place in a dropped folder: from `{file, path}`, or a `File` with
/// its own `webkitRelativePath` (folder pickers), or a lone `File`.
fn file_and_path(entry: JsValue) -> Option<(File, String)> {
    let text = |object: &JsValue, name: &str| {
        js_sys::Reflect::get(object, &name.into())
            .ok()
            .and_then(|p| p.as_string())
            .unwrap_or_default()
    };
    match entry.clone().dyn_into::<File>() {
        Ok(file) => {
            let path = text(&file, "webkitRelativePath");
            Some((file, path))
        }
        Err(_) => {
            let file = js_sys::Reflect::get(&entry, &"file".into())
                .ok()?
                .dyn_into()
                .ok()?;
            Some((file, text(&entry, "path")))
        }
    }
}

fn subscribe(
    engine: &Rc<Engine>,
    listener: Function,
    list: fn(&Engine) -> &std::cell::RefCell<Vec<Function>>,
) -> Function {
    list(engine).borrow_mut().push(listener.clone());
    let weak = Rc::downgrade(engine);
    Closure::once_into_js(move || {
        if let Some(engine) = weak.upgrade() {
            list(&engine).borrow_mut().retain(|l| l != &listener);
        }
    })
    .unchecked_into()
}

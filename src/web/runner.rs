//! The backup runner: takes unfinished assets from the catalog and drives each through
//! hash → check → upload, writing every step's result before the next starts. Only one
//! runner works per browser profile at a time (a Web Lock), so two tabs never upload the
//! same file; other tabs hear about changes over a BroadcastChannel.

use std::cell::{Cell, RefCell};
use std::collections::{HashMap, HashSet, VecDeque};
use std::rc::Rc;

use futures_util::future::Either;
use gloo_timers::future::TimeoutFuture;
use js_sys::{Function, Reflect};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;
use web_sys::{BroadcastChannel, File};

use super::asset_record::Absent;
use super::catalog::{Catalog, CatalogError, KeptFile};
use super::device::Device;
use super::hash_worker::{HashPool, UploadHashing};
use super::http::{describe_js_error, ApiError, Server};
use super::js_object::{self, or_null, ToJs};
use super::staging::{KeepLimits, Staging};
use super::transfer::{AppendError, Protocol, Requested, Transfer};
use crate::albums::AlbumRules;
use crate::asset::{Asset, AssetStatus, ErrorCode};
use crate::dedup::{
    Candidate, CheckRequest, CheckResponse, ExistRequest, ExistResponse, SizesRequest,
    SizesResponse,
};
use crate::join_all::join_all;
use crate::policy::{may_upload, Hold, MediaKind, Settings};
use crate::progress::Throughput;
use crate::retry::RetryPolicy;
use crate::small_map::SmallMap;
use crate::tus::{self, ChecksumAlgorithm, ErrorClass, ServerSupport};
use crate::upload::{Action, Failure, Upload};

/// Assets taken from the catalog in a run's first round (later rounds take a whole
/// dedup request's worth): bounded memory, whatever the queue's length.
const ROUND: u32 = 200;
/// Status changes written (and announced) together, at most; see `Engine::save_all`.
pub const SAVE_BATCH: usize = 100;
/// Kept copies of backed-up files are forgotten this many at a time (each forgetting
/// leaves room to keep as many of the files waiting for it; see `staging`).
const FORGET_BATCH: usize = 50;
/// Files up to this size are hashed without first being saved as `hashing`.
const QUIET_HASH_BYTES: u64 = 1 << 20;
/// The server accepts this many checksums per dedup request.
const CHECK_BATCH: usize = 1_000;
/// The catalog fact holding when an asset was last backed up (ms since the epoch).
pub const LAST_BACKUP_AT: &str = "lastBackupAt";
/// How often a held backup looks again at the network, battery and settings.
const POLICY_POLL_MS: u32 = 1_000;
/// How often a run may count the catalog's queue for its progress (see `RunTally::unseen`).
const QUEUE_COUNT_MS: u32 = 250;
/// The server's disk was full: the backup tries again by itself after this long, then
/// after twice as long each time the disk is still full, up to `STORAGE_FULL_RETRY_MAX_MS`.
const STORAGE_FULL_RETRY_MS: u32 = 15_000;
const STORAGE_FULL_RETRY_MAX_MS: u32 = 600_000;
/// Tries of the `OPTIONS` discovery before an upload goes on without knowing the server.
const OPTIONS_ATTEMPTS: u32 = 3;
/// How soon a hash in progress notices that its asset was cancelled or the engine stopped.
const GIVE_UP_POLL_MS: u32 = 200;
/// How often an idle upload worker looks for a file just checked, and the checker for
/// files just hashed, within a round (see `Engine::run_round`).
const PIPELINE_POLL_MS: u32 = 10;
/// A run's dedup checks ask about 1 file, then 4 times as many each time, up to
/// `CHECK_BATCH`: the first upload starts at once, and 10,000 files still take about a
/// dozen requests. Uploads that run out of work are fed sooner (`UploadQueue::starving`),
/// once the files hashed meanwhile are worth a request: `EARLY_CHECK_BYTES`, so small
/// files never make a check each.
const CHECK_GROWTH: usize = 4;
const EARLY_CHECK_BYTES: u64 = 8 * 1024 * 1024;
/// Files at least this large may start uploading before their hash is known (see
/// `upload_unhashed_where_safe`). Below it hashing takes a fraction of a second, not
/// worth the extra size check and the verification at the end.
const UPLOAD_WHILE_HASHING_BYTES: u64 = 32 * 1024 * 1024;

/// The overall state, for the progress bar and the status card.
#[derive(Debug, Clone, Default)]
pub struct ProgressState {
    /// `idle`, `running`, `held` (see `reason`) or `halted` (see `reason`).
    pub state: &'static str,
    pub reason: Option<String>,
    /// The reason as a stable code to switch on: `paused`, `offline`,
    /// `waiting-for-wifi`, `waiting-for-charging`, `low-battery`, `auth`, `quota` (the
    /// user's quota is full) or `storage-full` (the server's disk is).
    pub reason_code: Option<&'static str>,
    /// Assets finished in this run, and all assets in it: those it has taken on and the
    /// catalog's queue it has not taken on yet (`RunTally::unseen`).
    pub done: u32,
    pub total: u32,
    pub bytes_done: u64,
    /// Bytes of `total`; the assets not taken on yet count at the average size of those
    /// that were, until the last batch.
    pub bytes_total: u64,
    pub current: Option<CurrentAsset>,
    pub bytes_per_second: Option<f64>,
    pub eta_seconds: Option<f64>,
}

#[derive(Debug, Clone)]
pub struct CurrentAsset {
    pub id: String,
    pub name: String,
    pub mime: String,
    pub size: u64,
}

/// `{state, reason, reasonCode, done, total, bytesDone, bytesTotal, current: {id, name,
/// mime, size}, bytesPerSecond, etaSeconds}`, absent values `null`.
impl ToJs for ProgressState {
    fn to_js(&self) -> JsValue {
        let current = self.current.as_ref().map(|c| {
            js_object::object(&[
                ("id", c.id.as_str().into()),
                ("name", c.name.as_str().into()),
                ("mime", c.mime.as_str().into()),
                ("size", js_object::number(c.size)),
            ])
        });
        js_object::object(&[
            ("state", self.state.into()),
            ("reason", or_null(self.reason.as_deref())),
            ("reasonCode", or_null(self.reason_code)),
            ("done", self.done.into()),
            ("total", self.total.into()),
            ("bytesDone", js_object::number(self.bytes_done)),
            ("bytesTotal", js_object::number(self.bytes_total)),
            ("current", or_null(current)),
            ("bytesPerSecond", or_null(self.bytes_per_second)),
            ("etaSeconds", or_null(self.eta_seconds)),
        ])
    }
}

#[derive(Default)]
struct RunTally {
    /// Assets this run has taken on, and those of them that finished.
    seen: HashSet<String>,
    finished: HashSet<String>,
    done: u32,
    total: u32,
    bytes_done: u64,
    bytes_total: u64,
    /// Bytes sent by uploads still in progress, by asset id: a few at a time.
    in_flight: SmallMap<String, u64>,
    current: Option<CurrentAsset>,
    throughput: Throughput,
    /// Waiting assets in the catalog this run has not taken on yet: it takes them a batch
    /// at a time, and the progress counts the whole queue from the start, not each batch
    /// as it comes in. Counted by `count_queue_while_running`, again when `recount`.
    unseen: u32,
    recount: bool,
}

impl RunTally {
    /// Bytes of the files backed up this run and of the uploads in progress.
    fn bytes_sent(&self) -> u64 {
        self.bytes_done + self.in_flight.values().sum::<u64>()
    }
}

pub struct Engine {
    pub catalog: Catalog,
    pub server: RefCell<Server>,
    hasher: HashPool,
    chunk_size: u64,
    concurrency: usize,
    retry: RetryPolicy,
    device: Device,
    settings: Cell<Settings>,
    albums: RefCell<AlbumRules>,
    pub listeners: RefCell<Vec<Function>>,
    pub progress_listeners: RefCell<Vec<Function>>,
    running: Cell<bool>,
    /// Counts the runs started, so a run's helper task knows when its run is over.
    runs: Cell<u32>,
    /// Files picked in this page, by asset id. Kept copies in IndexedDB are only for
    /// resuming after the page closes.
    pub live_files: RefCell<HashMap<String, File>>,
    /// Live files waiting for room to be kept.
    pub staging: Staging,
    /// The protocol the page asked for (`auto` follows discovery).
    protocol: Requested,
    /// What the tus server supports, learnt once from `OPTIONS`.
    support: RefCell<Option<ServerSupport>>,
    /// The server answered that it has no dedup check: every file is uploaded.
    no_dedup: Cell<bool>,
    /// Set when new work arrived while a run was going: it takes another round.
    more: Cell<bool>,
    halted: Cell<Option<ErrorClass>>,
    /// Why the last run ended on a catalog (IndexedDB) failure: the progress says so
    /// until a new run starts, rather than "running" with nothing moving.
    catalog_failed: RefCell<Option<String>>,
    /// Tries again since the server's disk was full, and whether one is scheduled.
    storage_full_tries: Cell<u32>,
    storage_full_retry_due: Cell<bool>,
    /// Set by `stop`: steps in flight finish, nothing new starts, and the run ends.
    stopping: Cell<bool>,
    hold: Cell<Option<Hold>>,
    cancelled: RefCell<HashSet<String>>,
    /// Backed-up assets whose kept copy is still to be forgotten.
    backed_up: RefCell<Vec<KeptFile>>,
    /// Whether kept files left over by an earlier page were looked for.
    swept: Cell<bool>,
    /// The catalog's device id, once read.
    device_id: RefCell<Option<String>>,
    /// Hashed files the next dedup check waits for (see `CHECK_GROWTH`).
    check_target: Cell<usize>,
    tally: RefCell<RunTally>,
    lock_name: String,
    channel: Option<BroadcastChannel>,
    _on_broadcast: Option<Closure<dyn FnMut(web_sys::MessageEvent)>>,
}

impl Drop for Engine {
    fn drop(&mut self) {
        // Another tab's message already queued must not call the dropped closure.
        if let Some(channel) = &self.channel {
            channel.set_onmessage(None);
            channel.close();
        }
    }
}

/// How an engine is set up; see `Backup.open`.
pub struct EngineConfig {
    pub catalog: Catalog,
    pub catalog_name: String,
    pub server: Server,
    pub hasher: HashPool,
    pub chunk_size: u64,
    pub concurrency: usize,
    pub dedup: bool,
    pub settings: Settings,
    pub albums: AlbumRules,
    pub protocol: Requested,
    pub keep: KeepLimits,
}

/// The hash cache's key: the same file picked again (same name, size, modification time
/// and folder) is not hashed again.
pub(crate) fn hash_cache_key(asset: &Asset) -> String {
    crate::asset::file_key(
        &asset.name,
        asset.size,
        asset.last_modified,
        asset.album.as_deref(),
    )
}

/// Claims `asset`'s bytes for one upload: false if an asset with the same checksum already
/// has them. An asset still unhashed claims nothing and is always let through: it has a
/// size no other asset has (see `upload_unhashed_where_safe`), so it cannot be a copy.
fn claim(claimed: &mut HashSet<String>, asset: &Asset) -> bool {
    asset
        .sha256
        .as_ref()
        .is_none_or(|sha256| claimed.insert(sha256.clone()))
}

fn jitter() -> f64 {
    js_sys::Math::random()
}

/// Why a run stopped early.
enum Stop {
    Halted,
    Catalog(CatalogError),
}

/// The files a round has found the server lacks, waiting for an upload worker. The
/// round's hashing and checking add to it while uploads run, and close it when done.
#[derive(Default)]
struct UploadQueue {
    waiting: RefCell<VecDeque<Asset>>,
    closed: Cell<bool>,
    /// Whether an upload started from it, and how many workers wait for work now.
    started: Cell<bool>,
    idle: Cell<usize>,
    /// Every upload worker has returned (the round halted or stopped, or a refusal of a
    /// key replaced meanwhile ended them): nothing more is taken from `waiting`.
    ended: Cell<bool>,
}

impl UploadQueue {
    /// Uploads ran in this round, and now a worker has nothing to do: the next dedup
    /// check should not wait to gather more. (When every file so far was a duplicate,
    /// there is no upload to feed, and checks keep growing.)
    fn starving(&self) -> bool {
        self.started.get() && self.idle.get() > 0 && self.waiting.borrow().is_empty()
    }

    /// Queues `assets`, Live Photo motion parts ahead of the rest: their stills name
    /// them when they are created.
    fn push_all(&self, assets: impl IntoIterator<Item = Asset>) {
        let mut waiting = self.waiting.borrow_mut();
        for asset in assets {
            if asset.live_photo_of.is_some() {
                waiting.push_front(asset);
            } else {
                waiting.push_back(asset);
            }
        }
    }
}

impl From<CatalogError> for Stop {
    fn from(e: CatalogError) -> Self {
        Self::Catalog(e)
    }
}

impl Engine {
    pub fn new(config: EngineConfig) -> Rc<Self> {
        let channel = BroadcastChannel::new(&format!("ferry:{}", config.catalog_name)).ok();
        Rc::new_cyclic(|weak: &std::rc::Weak<Engine>| {
            let on_broadcast = channel.as_ref().map(|channel| {
                let weak = weak.clone();
                let closure = Closure::<dyn FnMut(web_sys::MessageEvent)>::new(
                    move |event: web_sys::MessageEvent| {
                        if let Some(engine) = weak.upgrade() {
                            engine.tell(&engine.listeners, &event.data());
                        }
                    },
                );
                channel.set_onmessage(Some(closure.as_ref().unchecked_ref()));
                closure
            });
            Engine {
                catalog: config.catalog,
                server: RefCell::new(config.server),
                hasher: config.hasher,
                chunk_size: config.chunk_size,
                concurrency: config.concurrency.max(1),
                retry: RetryPolicy::default(),
                device: Device::default(),
                settings: Cell::new(config.settings),
                albums: RefCell::new(config.albums),
                listeners: RefCell::default(),
                progress_listeners: RefCell::default(),
                running: Cell::new(false),
                runs: Cell::new(0),
                no_dedup: Cell::new(!config.dedup),
                support: RefCell::default(),
                protocol: config.protocol,
                live_files: RefCell::default(),
                staging: Staging::new(config.keep),
                more: Cell::new(false),
                halted: Cell::new(None),
                catalog_failed: RefCell::new(None),
                storage_full_tries: Cell::new(0),
                storage_full_retry_due: Cell::new(false),
                stopping: Cell::new(false),
                hold: Cell::new(None),
                cancelled: RefCell::default(),
                backed_up: RefCell::default(),
                swept: Cell::new(false),
                device_id: RefCell::new(None),
                check_target: Cell::new(1),
                tally: RefCell::default(),
                lock_name: format!("ferry-runner:{}", config.catalog_name),
                channel,
                _on_broadcast: on_broadcast,
            }
        })
    }

    pub fn device(&self) -> &Device {
        &self.device
    }

    pub fn settings(&self) -> Settings {
        self.settings.get()
    }

    /// New settings take effect at the next policy check, within a second.
    pub fn set_settings(self: &Rc<Self>, settings: Settings) {
        self.settings.set(settings);
        self.emit_progress();
        self.kick();
    }

    pub fn album_rules(&self) -> AlbumRules {
        self.albums.borrow().clone()
    }

    pub fn set_album_rules(&self, rules: AlbumRules) {
        *self.albums.borrow_mut() = rules;
    }

    /// The user freed space or got a bigger quota (or the server's admin freed its disk):
    /// try again.
    pub fn clear_quota_halt(&self) {
        if matches!(
            self.halted.get(),
            Some(ErrorClass::Quota | ErrorClass::StorageFull)
        ) {
            self.halted.set(None);
        }
    }

    /// The server's disk is full. Nothing tells a client when its admin frees space, so
    /// the backup tries again by itself, waiting longer each time the disk is still full.
    fn try_again_when_space_may_be_free(self: &Rc<Self>) {
        if self.storage_full_retry_due.replace(true) {
            return;
        }
        let tries = self.storage_full_tries.get();
        self.storage_full_tries.set(tries.saturating_add(1));
        let ms = STORAGE_FULL_RETRY_MS
            .saturating_mul(1 << tries.min(6))
            .min(STORAGE_FULL_RETRY_MAX_MS);
        let engine = Rc::downgrade(self);
        wasm_bindgen_futures::spawn_local(async move {
            TimeoutFuture::new(ms).await;
            let Some(engine) = engine.upgrade() else {
                return;
            };
            engine.storage_full_retry_due.set(false);
            if engine.halted.get() == Some(ErrorClass::StorageFull) {
                engine.halted.set(None);
                engine.kick();
            }
        });
    }

    /// Ends the current run once the steps in flight are saved (a service worker nearing
    /// its time limit). Every record stays resumable; the next `kick` starts again.
    pub fn stop(&self) {
        self.stopping.set(true);
    }

    /// Signing in again after an auth failure: clears the halt and resumes.
    pub fn sign_in(self: &Rc<Self>, api_key: String) {
        self.server.borrow_mut().api_key = api_key;
        self.halted.set(None);
        self.kick();
        // Said at once, so a halt after this one is a change of state the page hears.
        self.emit_progress();
    }

    /// Marks asset `id` cancelled; its upload is terminated at the next step. A failed or
    /// skipped asset is settled as cancelled too: the person set it aside (a file gone for
    /// good), so it no longer asks for them. A backed-up one stays as it is.
    pub async fn cancel(self: &Rc<Self>, id: &str) -> Result<(), CatalogError> {
        self.cancelled.borrow_mut().insert(id.to_string());
        if let Some(mut asset) = self.catalog.get(id).await? {
            let backed_up = matches!(asset.status, AssetStatus::Uploaded | AssetStatus::Duplicate);
            if !backed_up && asset.status != AssetStatus::Uploading {
                // Not in flight: settle it here. An upload in flight settles itself.
                asset.status = AssetStatus::Skipped;
                asset.set_error(ErrorCode::Cancelled, "Cancelled");
                self.save(&asset).await?;
                // The page's file stays, for a retry; the copy is not needed.
                self.catalog.forget_file(&asset, false).await?;
            }
        }
        Ok(())
    }

    /// Asset `id` is queued again (`Backup.add` picked its file again): a cancel before
    /// no longer holds.
    pub fn queued_again(&self, id: &str) {
        self.cancelled.borrow_mut().remove(id);
    }

    /// Puts a failed or skipped asset back in the queue.
    pub async fn retry(self: &Rc<Self>, id: &str) -> Result<(), CatalogError> {
        self.queued_again(id);
        if let Some(mut asset) = self.catalog.get(id).await? {
            if matches!(asset.status, AssetStatus::Failed | AssetStatus::Skipped) {
                asset.requeue();
                self.save(&asset).await?;
            }
        }
        self.kick();
        Ok(())
    }

    pub async fn save(&self, asset: &Asset) -> Result<(), CatalogError> {
        self.catalog.put(asset).await?;
        self.notify(asset);
        Ok(())
    }

    /// [`Engine::save`] of many assets, a transaction per `SAVE_BATCH`: far fewer
    /// commits than one per asset, and each piece short enough (its writes, then a
    /// change event and a broadcast per asset) to keep the page's tasks under 50 ms.
    async fn save_all(&self, assets: &[Asset]) -> Result<(), CatalogError> {
        for piece in assets.chunks(SAVE_BATCH) {
            self.catalog.put_all(piece).await?;
            for asset in piece {
                self.notify(asset);
            }
        }
        Ok(())
    }

    /// Tells this tab's listeners, and the other tabs, about an asset's new state.
    pub fn notify(&self, asset: &Asset) {
        let value = asset.to_record(Absent::Null);
        self.tell(&self.listeners, &value);
        if let Some(channel) = &self.channel {
            let _ = channel.post_message(&value);
        }
        self.track(asset);
    }

    fn tell(&self, listeners: &RefCell<Vec<Function>>, value: &JsValue) {
        // Clone first: a listener may add another listener.
        let listeners = listeners.borrow().clone();
        for listener in listeners {
            let _ = listener.call1(&JsValue::NULL, value);
        }
    }

    /// Updates this run's counters from an asset's new state.
    fn track(&self, asset: &Asset) {
        {
            let mut tally = self.tally.borrow_mut();
            let now = super::now_ms();
            if asset.status == AssetStatus::Uploading {
                tally.in_flight.insert(asset.id.clone(), asset.done_bytes);
                tally.current = Some(CurrentAsset {
                    id: asset.id.clone(),
                    name: asset.name.clone(),
                    mime: asset.mime.clone(),
                    size: asset.size,
                });
            } else if asset.status.is_finished()
                && tally.seen.contains(&asset.id)
                && tally.finished.insert(asset.id.clone())
            {
                tally.in_flight.remove(&asset.id);
                tally.done += 1;
                tally.recount |= tally.unseen > 0;
                if matches!(asset.status, AssetStatus::Uploaded | AssetStatus::Duplicate) {
                    tally.bytes_done += asset.size;
                }
                if tally.current.as_ref().is_some_and(|c| c.id == asset.id) {
                    tally.current = None;
                }
            }
            let sent = tally.bytes_sent();
            tally.throughput.record(now, sent);
        }
        self.emit_progress();
    }

    pub fn progress(&self) -> ProgressState {
        let tally = self.tally.borrow();
        let bytes_done = tally.bytes_sent().min(tally.bytes_total);
        let catalog_failed = self.catalog_failed.borrow().clone();
        let (state, reason, reason_code) =
            match (self.halted.get(), self.hold.get(), self.running.get()) {
                (None, _, false) if catalog_failed.is_some() => {
                    ("halted", catalog_failed, Some("storage"))
                }
                (Some(class), _, _) => (
                    "halted",
                    Some(class.explain().to_string()),
                    Some(match class {
                        ErrorClass::Quota => "quota",
                        ErrorClass::StorageFull => "storage-full",
                        _ => "auth",
                    }),
                ),
                (None, Some(hold), true) => {
                    ("held", Some(hold.explain().to_string()), Some(hold.code()))
                }
                (None, _, true) => ("running", None, None),
                (None, _, false) => ("idle", None, None),
            };
        // The assets not taken on yet count at the average size of those that were. A
        // run that ended took on all there was (its last count may be a moment old).
        let unseen = if self.running.get() { tally.unseen } else { 0 };
        let unseen_bytes = match tally.total {
            0 => 0,
            seen => unseen as u64 * (tally.bytes_total / seen as u64),
        };
        let bytes_total = tally.bytes_total + unseen_bytes;
        ProgressState {
            state,
            reason,
            reason_code,
            done: tally.done,
            total: tally.total + unseen,
            bytes_done,
            bytes_total,
            current: tally.current.clone(),
            bytes_per_second: tally.throughput.bytes_per_second(),
            eta_seconds: tally
                .throughput
                .eta_seconds(bytes_total.saturating_sub(bytes_done)),
        }
    }

    fn emit_progress(&self) {
        let value = self.progress().to_js();
        self.tell(&self.progress_listeners, &value);
    }

    /// Starts a run unless one is going; a going run takes another round instead.
    pub fn kick(self: &Rc<Self>) {
        if self.running.get() {
            self.more.set(true);
            // Files added meanwhile join the queue this run counts.
            self.tally.borrow_mut().recount = true;
            return;
        }
        self.running.set(true);
        self.stopping.set(false);
        self.catalog_failed.replace(None);
        let engine = self.clone();
        with_web_lock(&self.lock_name, async move {
            *engine.tally.borrow_mut() = RunTally::default();
            engine.runs.set(engine.runs.get().wrapping_add(1));
            engine.count_queue_while_running();
            engine.check_target.set(1);
            engine.emit_progress();
            if !engine.swept.replace(true) {
                if let Err(e) = engine.catalog.forget_files_of_finished().await {
                    web_sys::console::warn_1(&e.to_string().into());
                }
            }
            loop {
                engine.more.set(false);
                if engine.stopping.get() {
                    break;
                }
                match engine.run_round().await {
                    Ok(true) => continue,
                    Ok(false) if engine.more.get() => continue,
                    // Signed in again while the halted round was winding down.
                    Err(Stop::Halted) if engine.halted.get().is_none() => continue,
                    Ok(false) | Err(Stop::Halted) => break,
                    Err(Stop::Catalog(e)) => {
                        web_sys::console::error_1(&e.to_string().into());
                        engine
                            .catalog_failed
                            .replace(Some(format!("{e}. Reload ferry to continue.")));
                        break;
                    }
                }
            }
            // Nothing may await between the last round and this: a kick meanwhile would
            // see a run still going and leave its work to it.
            engine.running.set(false);
            engine.hold.set(None);
            engine.emit_progress();
            if engine.halted.get() == Some(ErrorClass::StorageFull) {
                engine.try_again_when_space_may_be_free();
            } else if engine.halted.get().is_none() {
                engine.storage_full_tries.set(0);
            }
        });
    }

    /// One round over a bounded batch of the catalog, as a pipeline: files are hashed (a
    /// file per worker), the hashed ones are checked with the server in batches of what
    /// has gathered, and the new ones are uploaded, all at once. Uploads left from before
    /// go first. The first upload starts as soon as the first file is hashed and checked,
    /// and a backup of many files takes about the longer of hashing and uploading, not
    /// their sum. Returns whether there was anything to do.
    async fn run_round(self: &Rc<Self>) -> Result<bool, Stop> {
        // A run starts small, so the first upload starts soon; later rounds fill a whole
        // dedup request, so a re-run over 10,000 files asks about a dozen times.
        let round = if self.tally.borrow().seen.is_empty() {
            ROUND
        } else {
            CHECK_BATCH as u32
        };
        let uploads = self
            .catalog
            .with_status(AssetStatus::Uploading, round)
            .await?;
        self.count_in(&uploads);
        // Bytes on their way up now: a copy checked meanwhile waits for them to land,
        // then becomes a duplicate, rather than going up twice.
        let in_flight: HashSet<String> = uploads.iter().filter_map(|a| a.sha256.clone()).collect();
        let uploading = !uploads.is_empty();
        let to_upload = UploadQueue::default();
        let preparing = async {
            let prepared = self.prepare_next(in_flight, round, &to_upload).await;
            to_upload.closed.set(true);
            prepared
        };
        let (prepared, uploaded) =
            futures_util::future::join(preparing, self.upload_all(uploads, &to_upload)).await;
        // Forgotten even when the round halted, so no kept copy outlives its backup.
        let forgotten = self.forget_backed_up_files().await;
        let prepared = prepared?;
        uploaded?;
        forgotten?;
        if self.halted.get().is_some() {
            return Err(Stop::Halted);
        }
        Ok(prepared || uploading)
    }

    /// Hashes and checks a bounded batch of each waiting status, and queues the files
    /// the server lacks in `to_upload`; then further batches of new files while there
    /// are any, so files added meanwhile (a large pick is written 100 at a time) join the
    /// uploads running now instead of waiting for them to end. Returns whether there was
    /// any work.
    async fn prepare_next(
        self: &Rc<Self>,
        mut in_flight: HashSet<String>,
        mut round: u32,
        to_upload: &UploadQueue,
    ) -> Result<bool, Stop> {
        let mut worked = false;
        let mut statuses: &[AssetStatus] = &[
            AssetStatus::Pending,
            AssetStatus::Hashing,
            AssetStatus::Checking,
        ];
        loop {
            let mut more = false;
            for &status in statuses {
                let batch = self.catalog.with_status(status, round).await?;
                if batch.is_empty() {
                    continue;
                }
                worked = true;
                self.count_in(&batch);
                if !self.prepare(batch, &mut in_flight, to_upload).await? {
                    return Ok(worked);
                }
                more |= status == AssetStatus::Pending;
            }
            // Copies waiting for their twin's upload (`checking` again) wait for the next
            // round, so only new files continue this one.
            statuses = &[AssetStatus::Pending];
            // Later batches fill a whole dedup request, as later rounds do.
            round = CHECK_BATCH as u32;
            // Hashing may run ahead of uploads by a dedup request's worth, not the queue.
            while to_upload.waiting.borrow().len() >= CHECK_BATCH
                && !self.stopping.get()
                && self.halted.get().is_none()
                && !to_upload.ended.get()
            {
                TimeoutFuture::new(POLICY_POLL_MS).await;
            }
            if !more || self.stopping.get() || self.halted.get().is_some() || to_upload.ended.get()
            {
                return Ok(worked);
            }
        }
    }

    /// Keeps `RunTally::unseen` up to date while this run lasts: a count of the queue by the
    /// status index (no table scan) after each batch the run takes on, and after each
    /// asset that finishes while some are unseen, at most every `QUEUE_COUNT_MS`.
    fn count_queue_while_running(self: &Rc<Self>) {
        let engine = self.clone();
        let run = self.runs.get();
        wasm_bindgen_futures::spawn_local(async move {
            while engine.running.get() && engine.runs.get() == run {
                if std::mem::take(&mut engine.tally.borrow_mut().recount) {
                    if let Ok(counts) = engine.catalog.counts(AssetStatus::WAITING).await {
                        let mut tally = engine.tally.borrow_mut();
                        let open = tally.seen.len().saturating_sub(tally.finished.len()) as u32;
                        // An asset that finished during the count was counted as waiting:
                        // its finish asked for another count, which corrects this one.
                        tally.unseen = counts.iter().sum::<u32>().saturating_sub(open);
                        drop(tally);
                        engine.emit_progress();
                    }
                }
                TimeoutFuture::new(QUEUE_COUNT_MS).await;
            }
        });
    }

    fn count_in(&self, assets: &[Asset]) {
        let mut tally = self.tally.borrow_mut();
        tally.recount = true;
        for asset in assets {
            if tally.seen.insert(asset.id.clone()) {
                tally.total += 1;
                tally.bytes_total += asset.size;
            }
        }
        drop(tally);
        self.emit_progress();
    }

    /// Hashes what needs hashing (one file per worker at a time) while asking the server,
    /// in batches, which of the hashed files it already has; the others join `to_upload`
    /// at once. `claimed` holds the checksums on their way up. Returns false if the
    /// server could not be asked now (the rest waits for a later round).
    async fn prepare(
        self: &Rc<Self>,
        batch: Vec<Asset>,
        claimed: &mut HashSet<String>,
        to_upload: &UploadQueue,
    ) -> Result<bool, Stop> {
        let batch = self.recall_hashes(batch).await?;
        let batch = self.settle_known_to_this_device(batch).await?;
        let mut batch = self.upload_unhashed_where_safe(batch, to_upload).await?;
        // Assets whose hash came from the cache are `checking` now, all in one write.
        let recalled: Vec<Asset> = batch
            .iter_mut()
            .filter(|a| {
                a.sha256.is_some()
                    && a.status != AssetStatus::Checking
                    && !self.cancelled.borrow().contains(&a.id)
            })
            .map(|a| {
                a.enter(AssetStatus::Checking);
                a.clone()
            })
            .collect();
        self.save_all(&recalled).await?;
        let queue = RefCell::new(VecDeque::from(batch));
        let hashed = RefCell::new(VecDeque::with_capacity(queue.borrow().len()));
        let hashing = Cell::new(self.hasher.size());
        // Set when the server cannot be asked now: hashing stops too, for a later round.
        let unchecked = Cell::new(false);
        let hash_all = || async {
            loop {
                let Some(mut asset) = queue.borrow_mut().pop_front() else {
                    return Ok::<(), Stop>(());
                };
                self.wait_until_unpaused().await;
                // Uploads run alongside: one of them may have halted.
                if self.stopping.get() || self.halted.get().is_some() || unchecked.get() {
                    return Ok(());
                }
                if self.cancelled.borrow().contains(&asset.id) {
                    continue;
                }
                if asset.sha256.is_none() && !self.hash(&mut asset).await? {
                    continue;
                }
                // Cancelled while its hash finished: cancel() has settled it already.
                if self.cancelled.borrow().contains(&asset.id) {
                    continue;
                }
                if asset.status != AssetStatus::Checking {
                    asset.enter(AssetStatus::Checking);
                    self.save(&asset).await?;
                }
                hashed.borrow_mut().push_back(asset);
            }
        };
        let hashers = (0..self.hasher.size()).map(|_| async {
            let result = hash_all().await;
            hashing.set(hashing.get() - 1);
            result
        });
        let checker = async {
            loop {
                let ready = hashed.borrow().len();
                let hashing_done = hashing.get() == 0;
                if ready == 0 && hashing_done {
                    return Ok(true);
                }
                // Each check waits for more files than the one before (fewer requests),
                // unless uploads have run out of work.
                let target = self.check_target.get();
                let worth_it = || {
                    to_upload.starving()
                        && hashed.borrow().iter().map(|a| a.size).sum::<u64>() >= EARLY_CHECK_BYTES
                };
                if ready == 0 || !(hashing_done || ready >= target || worth_it()) {
                    TimeoutFuture::new(PIPELINE_POLL_MS).await;
                    continue;
                }
                self.check_target
                    .set((target * CHECK_GROWTH).min(CHECK_BATCH));
                let chunk: Vec<Asset> = {
                    let mut hashed = hashed.borrow_mut();
                    let take = ready.min(CHECK_BATCH);
                    hashed.drain(..take).collect()
                };
                if !self.settle_checked(chunk, claimed, to_upload).await? {
                    unchecked.set(true);
                    return Ok(false);
                }
            }
        };
        let (hashed_all, checked) = futures_util::future::join(join_all(hashers), checker).await;
        for result in hashed_all {
            result?;
        }
        checked
    }

    /// Settles hashed `assets`: a duplicate when this browser backed up the same bytes
    /// before (no request), or when the server has them; otherwise `uploading`, queued in
    /// `to_upload`. The same bytes twice (two tabs, or one photo under two names) are
    /// uploaded once: the later copy stays `checking` and becomes a duplicate next round.
    /// Returns false if the server could not be asked now.
    async fn settle_checked(
        self: &Rc<Self>,
        assets: Vec<Asset>,
        claimed: &mut HashSet<String>,
        to_upload: &UploadQueue,
    ) -> Result<bool, Stop> {
        let checksums: Vec<(&str, &str)> = assets
            .iter()
            .filter_map(|a| Some((a.sha256.as_deref()?, a.fingerprint.as_str())))
            .collect();
        let mut local = self.catalog.backed_up_as(&checksums).await?.into_iter();
        let (mut backed_up, mut ask) = (Vec::new(), Vec::with_capacity(assets.len()));
        for mut asset in assets {
            let here = if asset.sha256.is_some() {
                local.next().flatten().and_then(|record| record.server_id)
            } else {
                None
            };
            match here {
                Some(server_id) => {
                    asset.server_id = Some(server_id);
                    asset.clear_error();
                    asset.enter(AssetStatus::Duplicate);
                    backed_up.push(asset);
                }
                None => ask.push(asset),
            }
        }
        self.save_all(&backed_up).await?;
        self.done_with_files(&backed_up).await?;
        if ask.is_empty() {
            return Ok(true);
        }
        let Some(verdicts) = self.check(&ask).await? else {
            return Ok(false);
        };
        let mut settled = Vec::with_capacity(ask.len());
        let mut duplicates = Vec::new();
        for mut asset in ask {
            match verdicts.existing_asset(&asset.id) {
                None if !claim(claimed, &asset) => continue,
                Some(existing) => {
                    asset.server_id = Some(existing.to_string());
                    asset.enter(AssetStatus::Duplicate);
                    duplicates.push(asset.clone());
                }
                None => asset.enter(AssetStatus::Uploading),
            }
            settled.push(asset);
        }
        // One catalog write for the whole answer, not one per asset.
        self.save_all(&settled).await?;
        self.done_with_files(&duplicates).await?;
        let new = settled
            .into_iter()
            .filter(|a| a.status == AssetStatus::Uploading);
        to_upload.push_all(new);
        Ok(true)
    }

    /// Takes each unhashed asset's SHA-256 from the hash cache where it is there.
    async fn recall_hashes(&self, mut batch: Vec<Asset>) -> Result<Vec<Asset>, Stop> {
        let mut unhashed: Vec<&mut Asset> =
            batch.iter_mut().filter(|a| a.sha256.is_none()).collect();
        let keys: Vec<String> = unhashed.iter().map(|a| hash_cache_key(a)).collect();
        let found = self.catalog.cached_hashes(&keys).await?;
        for (asset, digest) in unhashed.iter_mut().zip(found) {
            asset.sha256 = digest;
        }
        Ok(batch)
    }

    /// Settles as duplicates, without hashing them, the unhashed assets this device
    /// backed up before (`/api/assets/exist` by `deviceAssetId` and `deviceId`): files
    /// whose hash the cache no longer has. Returns the others.
    async fn settle_known_to_this_device(&self, batch: Vec<Asset>) -> Result<Vec<Asset>, Stop> {
        let unhashed: Vec<String> = batch
            .iter()
            .filter(|a| a.sha256.is_none())
            .map(|a| a.device_asset_id().to_string())
            .collect();
        if unhashed.is_empty() || self.no_dedup.get() {
            return Ok(batch);
        }
        let request = ExistRequest {
            device_asset_ids: unhashed,
            device_id: self.device_id().await?,
        };
        let server = self.server.borrow().clone();
        // Not answered (an older server, or not now): the files are hashed instead.
        let Ok(known) = server
            .json::<ExistResponse>(crate::dedup::EXIST_PATH, &request)
            .await
        else {
            return Ok(batch);
        };
        let known: HashSet<String> = known.existing_ids.into_iter().collect();
        let mut rest = Vec::with_capacity(batch.len());
        let mut duplicates = Vec::new();
        for mut asset in batch {
            if asset.sha256.is_none() && known.contains(asset.device_asset_id()) {
                asset.clear_error();
                asset.enter(AssetStatus::Duplicate);
                duplicates.push(asset);
            } else {
                rest.push(asset);
            }
        }
        self.save_all(&duplicates).await?;
        self.done_with_files(&duplicates).await?;
        Ok(rest)
    }

    async fn device_id(&self) -> Result<String, CatalogError> {
        if let Some(id) = self.device_id.borrow().clone() {
            return Ok(id);
        }
        let id = self.catalog.device_id().await?;
        *self.device_id.borrow_mut() = Some(id.clone());
        Ok(id)
    }

    /// Sends large files the server cannot already have straight to `uploading`, before
    /// they are hashed: their hash runs alongside their upload (`upload_one`), so a fresh
    /// backup of one big video takes about the longer of hashing and sending, not their
    /// sum. A file is safe to send unhashed when no asset of the user has its exact byte
    /// size (`POST /api/assets/sizes`): then it cannot be a duplicate, and a file the
    /// server has still sends no byte. Two unhashed files of one size in a batch are
    /// hashed first, since they may be copies. The others join `to_upload`; returns the
    /// assets to hash first.
    async fn upload_unhashed_where_safe(
        &self,
        batch: Vec<Asset>,
        to_upload: &UploadQueue,
    ) -> Result<Vec<Asset>, Stop> {
        let mut rest = Vec::with_capacity(batch.len());
        let mut large = Vec::new();
        for asset in batch {
            if asset.sha256.is_some() || asset.size < UPLOAD_WHILE_HASHING_BYTES {
                rest.push(asset);
            } else {
                large.push(asset);
            }
        }
        if large.is_empty() {
            return Ok(rest);
        }
        let Some(known) = self.known_sizes(&large).await else {
            rest.extend(large);
            return Ok(rest);
        };
        // Linear scans: large files are few in a batch (and no hash map of sizes in the
        // wasm).
        let sizes: Vec<u64> = large.iter().map(|a| a.size).collect();
        for mut asset in large {
            let alone = sizes.iter().filter(|&&s| s == asset.size).count() == 1;
            let safe = alone && !known.contains(&asset.size);
            if safe && !self.cancelled.borrow().contains(&asset.id) {
                asset.enter(AssetStatus::Uploading);
                self.save(&asset).await?;
                to_upload.push_all([asset]);
            } else {
                rest.push(asset);
            }
        }
        Ok(rest)
    }

    /// Which of `assets`' sizes some asset on the server has, or `None` if the server
    /// cannot say (an older server, or unreachable now): those files are hashed first.
    async fn known_sizes(&self, assets: &[Asset]) -> Option<Vec<u64>> {
        if self.no_dedup.get() {
            // No dedup at all: every file is uploaded, so none needs hashing first.
            return Some(Vec::new());
        }
        let request = SizesRequest {
            sizes: assets.iter().map(|a| a.size).collect(),
        };
        let server = self.server.borrow().clone();
        match server
            .json::<SizesResponse>(crate::dedup::SIZES_PATH, &request)
            .await
        {
            Ok(response) => Some(response.known),
            Err(_) => None,
        }
    }

    /// Hashes one asset (`recall_hashes` has looked in the cache already). Returns false
    /// if the asset was settled instead (its file is gone).
    async fn hash(self: &Rc<Self>, asset: &mut Asset) -> Result<bool, Stop> {
        let Some(file) = self.file_of(asset).await? else {
            return Ok(false);
        };
        let key = hash_cache_key(asset);
        asset.enter(AssetStatus::Hashing);
        // A small file is hashed in moments: saving that state would cost a catalog write
        // per file. Its progress event (at the end) still says `hashing`.
        if asset.size > QUIET_HASH_BYTES {
            self.save(asset).await?;
        }
        let progress = {
            let engine = self.clone();
            let snapshot = asset.clone();
            move |done| {
                let mut progress = snapshot.clone();
                progress.done_bytes = done;
                engine.tell(&engine.listeners, &progress.to_record(Absent::Null));
            }
        };
        let hashed = {
            let hashing = std::pin::pin!(self.hasher.sha256(&file, progress));
            let given_up = std::pin::pin!(self.given_up_on(&asset.id));
            match futures_util::future::select(hashing, given_up).await {
                Either::Left((hashed, _)) => Some(hashed),
                // Dropping the hash stops it in its worker.
                Either::Right(_) => None,
            }
        };
        let Some(hashed) = hashed else {
            // Settled again here, in case this run saved it as hashing after cancel() did.
            if self.cancelled.borrow().contains(&asset.id) {
                self.skip(asset, Some(&file), ErrorCode::Cancelled, "Cancelled".into())
                    .await?;
            }
            return Ok(false);
        };
        match hashed {
            // Cancelled while its hash finished: cancel() has settled it already, and
            // the caller leaves it.
            Ok(digest) if self.cancelled.borrow().contains(&asset.id) => {
                self.catalog.remember_hash(&key, &digest).await?;
                asset.sha256 = Some(digest);
                Ok(true)
            }
            Ok(digest) => {
                asset.sha256 = Some(digest);
                asset.enter(AssetStatus::Checking);
                self.catalog.put_hashed(asset, &key).await?;
                self.notify(asset);
                Ok(true)
            }
            Err(reason) => {
                self.skip(asset, Some(&file), ErrorCode::FileUnreadable, reason)
                    .await?;
                Ok(false)
            }
        }
    }

    /// Resolves once asset `id` is cancelled or the engine stops or halts: then its hash
    /// is not waited for (a 5 GB file would otherwise hold its worker for minutes).
    async fn given_up_on(&self, id: &str) {
        while !self.cancelled.borrow().contains(id)
            && !self.stopping.get()
            && self.halted.get().is_none()
        {
            TimeoutFuture::new(GIVE_UP_POLL_MS).await;
        }
    }

    /// The asset's file, or `None` after settling the asset as skipped when it is gone.
    async fn file_of(&self, asset: &mut Asset) -> Result<Option<File>, Stop> {
        let live = self.live_files.borrow().get(&asset.id).cloned();
        let file = match live {
            Some(file) => Some(file),
            // The page may add the file again (`Backup.add`) while its kept copy is
            // looked for: a shared file the service worker could not keep does just that.
            // The file it added is the one to send.
            None => {
                let kept = self.catalog.file(&asset.id).await?;
                self.live_files.borrow().get(&asset.id).cloned().or(kept)
            }
        };
        let file = match file {
            Some(file)
                if file.size() as u64 == asset.size
                    && file.last_modified() == asset.last_modified =>
            {
                file
            }
            Some(changed) => {
                let reason =
                    "The file changed after it was added. Add it again to back up the new version.";
                self.skip(asset, Some(&changed), ErrorCode::FileChanged, reason.into())
                    .await?;
                return Ok(None);
            }
            None => {
                let reason = "ferry could not keep a copy of this file after the page \
                              closed (it keeps files up to 64 MiB, 200 at a time as earlier \
                              ones finish, within its storage budget). Add it again to \
                              continue where its backup stopped.";
                self.skip(asset, None, ErrorCode::FileNotKept, reason.into())
                    .await?;
                return Ok(None);
            }
        };
        Ok(Some(file))
    }

    /// Settles the asset as skipped, and lets its file and kept copy go; `used` is the file
    /// this step read, or `None` when it found none. A cancelled asset's file stays on the
    /// page for a Retry, as [`Engine::cancel`] leaves that of one that waits. Nothing is
    /// settled when the page has added the file again meanwhile (`Backup.add`, which
    /// continues the record; see `Catalog::add`): then the file and its copy stay for the
    /// round the add starts.
    async fn skip(
        &self,
        asset: &mut Asset,
        used: Option<&File>,
        code: ErrorCode,
        reason: String,
    ) -> Result<(), CatalogError> {
        if self.added_again(&asset.id, used) {
            return Ok(());
        }
        let keep_file = code == ErrorCode::Cancelled;
        if !keep_file {
            self.live_files.borrow_mut().remove(&asset.id);
        }
        asset.status = AssetStatus::Skipped;
        asset.set_error(code, reason);
        self.catalog.put(asset).await?;
        // Added again while the record was written: the add's record comes after it.
        if self.added_again(&asset.id, if keep_file { used } else { None }) {
            return Ok(());
        }
        self.notify(asset);
        self.catalog.forget_file(asset, false).await
    }

    /// Whether the page holds a file for asset `id` that a step did not read: one added
    /// again since. `used` is the file the step read, or `None` when it found none.
    fn added_again(&self, id: &str, used: Option<&File>) -> bool {
        match (self.live_files.borrow().get(id), used) {
            (Some(live), Some(used)) => JsValue::from(live) != JsValue::from(used),
            (Some(_), None) => true,
            (None, _) => false,
        }
    }

    /// The assets are backed up (their records say so): notes the time, and lets their
    /// files go (see [`Engine::let_files_go`]).
    async fn done_with_files(&self, assets: &[Asset]) -> Result<(), CatalogError> {
        if assets.is_empty() {
            return Ok(());
        }
        self.catalog
            .set_fact(LAST_BACKUP_AT, super::now_ms())
            .await?;
        self.let_files_go(assets).await
    }

    /// The assets' files are no longer needed anywhere. Their kept copies are forgotten
    /// with others in one transaction (see `Catalog::forget_files`).
    async fn let_files_go(&self, assets: &[Asset]) -> Result<(), CatalogError> {
        let full = {
            let mut live_files = self.live_files.borrow_mut();
            let mut backed_up = self.backed_up.borrow_mut();
            for asset in assets {
                live_files.remove(&asset.id);
                backed_up.push(KeptFile {
                    id: asset.id.clone(),
                    fingerprint: asset.fingerprint.clone(),
                });
            }
            backed_up.len() >= FORGET_BATCH
        };
        if full {
            self.forget_backed_up_files().await?;
        }
        Ok(())
    }

    /// Forgets the kept copies of the files backed up since the last call, and keeps
    /// files waiting for the room that leaves.
    async fn forget_backed_up_files(&self) -> Result<(), CatalogError> {
        let batch = std::mem::take(&mut *self.backed_up.borrow_mut());
        if batch.is_empty() {
            return Ok(());
        }
        self.catalog.forget_files(&batch, true).await?;
        self.keep_waiting_files().await
    }

    /// Keeps copies of live files that were added past the limits, as far as there is
    /// room now, so that more of a large pick can finish after the page closes.
    async fn keep_waiting_files(&self) -> Result<(), CatalogError> {
        if self.staging.is_empty() {
            return Ok(());
        }
        let mut room = self.staging.room(&self.catalog).await?;
        let chosen = {
            let live = self.live_files.borrow();
            let cancelled = self.cancelled.borrow();
            // A cancelled file stays live (for a retry) but needs no copy.
            self.staging.take_fitting(&mut room, |id| {
                live.get(id).filter(|_| !cancelled.contains(id)).cloned()
            })
        };
        if chosen.is_empty() {
            return Ok(());
        }
        let files: Vec<(&str, &File)> = chosen.iter().map(|(id, f)| (id.as_str(), f)).collect();
        self.catalog.keep_files(&files).await?;
        // An asset settled while its copy was written needs it no more.
        let settled: Vec<KeptFile> = {
            let live = self.live_files.borrow();
            chosen
                .iter()
                .filter(|(id, _)| !live.contains_key(id))
                .map(|(id, _)| KeptFile {
                    id: id.clone(),
                    fingerprint: String::new(),
                })
                .collect()
        };
        self.catalog.forget_files(&settled, false).await
    }

    /// Asks the server which of `assets` it already has, retrying transient failures.
    /// `None` means the run should stop for now (halted, or the server stays unreachable).
    async fn check(self: &Rc<Self>, assets: &[Asset]) -> Result<Option<CheckResponse>, Stop> {
        let request = CheckRequest {
            assets: assets
                .iter()
                .filter_map(|a| {
                    Some(Candidate {
                        id: a.id.clone(),
                        checksum: a.sha256.clone()?,
                    })
                })
                .collect(),
        };
        let nothing_known = CheckResponse {
            results: Vec::new(),
        };
        if self.no_dedup.get() {
            return Ok(Some(nothing_known));
        }
        let mut attempt = 0;
        loop {
            self.wait_until_online().await;
            if self.stopping.get() {
                return Ok(None);
            }
            let server = self.server.borrow().clone();
            match server
                .json::<CheckResponse>(crate::dedup::PATH, &request)
                .await
            {
                Ok(response) => return Ok(Some(response)),
                Err(ApiError::Status { status, .. })
                    if matches!(ErrorClass::of_status(status), ErrorClass::Auth) =>
                {
                    self.halt(ErrorClass::Auth, &server.api_key);
                    return Err(Stop::Halted);
                }
                Err(e) => {
                    attempt += 1;
                    if self.retry.exhausted(attempt) {
                        web_sys::console::warn_1(&format!("dedup check failed: {e}").into());
                        return Ok(None);
                    }
                    TimeoutFuture::new(self.retry.delay_ms(attempt, jitter()) as u32).await;
                }
            }
        }
    }

    /// Asks the tus server once what it supports. If it cannot be asked now, ferry
    /// assumes only the core protocol and asks again later.
    async fn server_support(&self) -> ServerSupport {
        if let Some(known) = self.support.borrow().clone() {
            return known;
        }
        // A lost or 5xx answer says nothing about the server: asked again (and not kept),
        // or one fault would make a tus server's uploads RUFH ones for the page's life.
        for attempt in 1..=OPTIONS_ATTEMPTS {
            let server = self.server.borrow().clone();
            if let Ok(response) = server.send("OPTIONS", &server.uploads, &[], None).await {
                let status = response.status();
                if ServerSupport::is_final_options_status(status) {
                    let headers = response.headers();
                    let support = ServerSupport::from_options(status, |name| {
                        headers.get(name).ok().flatten()
                    });
                    *self.support.borrow_mut() = Some(support.clone());
                    return support;
                }
            }
            if attempt < OPTIONS_ATTEMPTS {
                TimeoutFuture::new(self.retry.delay_ms(attempt, jitter()) as u32).await;
            }
        }
        ServerSupport::default()
    }

    /// The `Upload-Checksum` header for bytes `range` of `file`, when the server verifies
    /// chunks. The whole file's SHA-256 serves when the chunk is the whole file; a part is
    /// digested in a worker, natively (see `hash::chunk_digest`). A file sent while it is
    /// hashed has every chunk read through `hashing`, checksummed or not.
    async fn chunk_checksum(
        &self,
        transfer: &Transfer<'_>,
        file: &File,
        range: &std::ops::Range<u64>,
        file_digest: Option<&str>,
        hashing: Option<&UploadHashing<'_>>,
    ) -> Option<tus::Header> {
        let algorithm = transfer.chunk_checksum();
        if let Some(hashing) = hashing {
            let name = algorithm.map(ChecksumAlgorithm::web_crypto_name);
            let digest = hashing.chunk(file, range.clone(), name).await.ok()??;
            return tus::checksum_header(algorithm?, &digest);
        }
        let algorithm = algorithm?;
        if let (ChecksumAlgorithm::Sha256, Some(digest), true) = (
            algorithm,
            file_digest,
            range.start == 0 && range.end == file.size() as u64,
        ) {
            return tus::checksum_header(algorithm, digest);
        }
        let chunk = file
            .slice_with_f64_and_f64(range.start as f64, range.end as f64)
            .ok()?;
        let digest = self
            .hasher
            .chunk_digest(&chunk, algorithm.web_crypto_name())
            .await
            .ok()?;
        tus::checksum_header(algorithm, &digest)
    }

    /// Stops the run for `class`, until the user acts (see `ErrorClass`). A refusal of
    /// `key_sent` after it was replaced (by `getAuth` or a new sign-in) while its request
    /// was on its way is no reason to halt: the round ends, and the next one sends the
    /// new key. Halting then would stop the backup again right after the page had signed
    /// it in, and the page, seeing no change of state, would not sign in again.
    fn halt(&self, class: ErrorClass, key_sent: &str) {
        if class == ErrorClass::Auth && self.server.borrow().api_key != key_sent {
            return;
        }
        self.halted.set(Some(class));
        self.emit_progress();
    }

    async fn wait_until_unpaused(&self) {
        while self.settings.get().paused && !self.stopping.get() {
            self.hold.set(Some(Hold::Paused));
            self.emit_progress();
            TimeoutFuture::new(POLICY_POLL_MS).await;
        }
    }

    async fn wait_until_online(&self) {
        loop {
            let now = self.device.conditions().await;
            match may_upload(&self.settings.get(), &now, MediaKind::Photo) {
                Err(hold @ (Hold::Offline | Hold::Paused)) if !self.stopping.get() => {
                    self.hold.set(Some(hold));
                    self.emit_progress();
                    TimeoutFuture::new(POLICY_POLL_MS).await;
                }
                _ => return,
            }
        }
    }

    /// Waits until the backup policy lets a file of `kind` upload.
    /// Ends early when asset `id` is cancelled meanwhile: a Cancel while the backup is
    /// paused or held takes effect at once, not when it resumes.
    async fn wait_until_allowed(&self, kind: MediaKind, id: &str) {
        loop {
            let now = self.device.conditions().await;
            match may_upload(&self.settings.get(), &now, kind) {
                Ok(()) => {
                    if self.hold.take().is_some() {
                        self.emit_progress();
                    }
                    return;
                }
                Err(_) if self.stopping.get() || self.cancelled.borrow().contains(id) => return,
                Err(hold) => {
                    if self.hold.get() != Some(hold) {
                        self.hold.set(Some(hold));
                        self.emit_progress();
                    }
                    TimeoutFuture::new(POLICY_POLL_MS).await;
                }
            }
        }
    }

    /// Uploads `assets`, then the files joining `to_upload` until it closes,
    /// `concurrency` at a time; one file's chunks go in order.
    async fn upload_all(
        self: &Rc<Self>,
        assets: Vec<Asset>,
        to_upload: &UploadQueue,
    ) -> Result<(), Stop> {
        // Identical bytes go up once; later copies return to `checking` and become
        // duplicates next round, whichever tab or pick they came from.
        let mut claimed = HashSet::new();
        let mut queue = VecDeque::with_capacity(assets.len());
        for mut asset in assets {
            if claim(&mut claimed, &asset) {
                queue.push_back(asset);
            } else {
                asset.enter(AssetStatus::Checking);
                self.save(&asset).await?;
            }
        }
        // Live Photo motion parts first: their stills name them when they are created.
        let (motion, others): (VecDeque<Asset>, VecDeque<Asset>) =
            queue.into_iter().partition(|a| a.live_photo_of.is_some());
        {
            let mut waiting = to_upload.waiting.borrow_mut();
            for asset in others.into_iter().rev() {
                waiting.push_front(asset);
            }
            for asset in motion.into_iter().rev() {
                waiting.push_front(asset);
            }
        }
        let workers = (0..self.concurrency).map(|_| async {
            loop {
                if self.halted.get().is_some() || self.stopping.get() {
                    return Ok::<(), Stop>(());
                }
                let next = to_upload.waiting.borrow_mut().pop_front();
                match next {
                    Some(asset) => {
                        to_upload.started.set(true);
                        self.upload_one(asset).await?;
                    }
                    None if to_upload.closed.get() => return Ok(()),
                    None => {
                        to_upload.idle.set(to_upload.idle.get() + 1);
                        TimeoutFuture::new(PIPELINE_POLL_MS).await;
                        to_upload.idle.set(to_upload.idle.get() - 1);
                    }
                }
            }
        });
        let results = join_all(workers).await;
        to_upload.ended.set(true);
        for result in results {
            result?;
        }
        Ok(())
    }

    /// Uploads one asset. One not hashed yet (a large file the server cannot have, see
    /// `upload_unhashed_where_safe`) is hashed while it is sent, and at the end the
    /// server's asset is checked against that hash: the bytes stored are the bytes read.
    async fn upload_one(self: &Rc<Self>, mut asset: Asset) -> Result<(), Stop> {
        let Some(file) = self.file_of(&mut asset).await? else {
            return Ok(());
        };
        let motion = match self.motion_part(&asset).await? {
            MotionPart::None => None,
            MotionPart::Uploaded(id) => Some(id),
            // Back to `checking`: a later round, once the video is up, sends the still.
            MotionPart::OnItsWay => {
                asset.enter(AssetStatus::Checking);
                return Ok(self.save(&asset).await?);
            }
        };
        let motion = motion.as_deref();
        let (sent, hashed_alongside) = match asset.sha256.clone() {
            Some(digest) => (
                self.send(&mut asset, &file, Some(&digest), motion, None)
                    .await?,
                false,
            ),
            None => match self.send_while_hashing(&mut asset, &file, motion).await? {
                Some(sent) => (sent, true),
                None => return Ok(()),
            },
        };
        let Sent::All { asset_id } = sent else {
            return Ok(());
        };
        // The server named the asset it made of the bytes it received: it must be the
        // asset those bytes' SHA-256 finds. (A tus server that names no asset has no
        // check either, nor has an engine told not to dedup: chunk checksums are all
        // there is then.)
        let verify = hashed_alongside && !self.no_dedup.get();
        if let (true, Some(named)) = (verify, &asset_id) {
            let Some(verdicts) = self.check(std::slice::from_ref(&asset)).await? else {
                // Not asked now: the next round finds every byte there and asks again.
                return Ok(());
            };
            if verdicts.existing_asset(&asset.id) != Some(named.as_str()) {
                // A copy that is not the file (bytes changed on the way, or the file
                // changed while it was sent) goes to the server's trash, where it can be
                // looked at for a while, rather than into the timeline.
                let server = self.server.borrow().clone();
                let url = server.url(&format!("/assets/{named}"));
                let trashed = matches!(server.send("DELETE", &url, &[], None).await,
                    Ok(response) if response.ok());
                asset.upload_url = None;
                asset.fail(
                    ErrorCode::Checksum,
                    format!(
                        "The server's copy does not match the file (their SHA-256 differ){}: \
                     the file may have changed while it was backed up. Retry to send it again.",
                        if trashed {
                            " and was moved to the server's trash"
                        } else {
                            ""
                        }
                    ),
                );
                return Ok(self.save(&asset).await?);
            }
        }
        asset.server_id = asset_id;
        asset.clear_error();
        asset.enter(AssetStatus::Uploaded);
        // The record and the time of the last backup in one transaction: a small file's
        // upload is a few catalog writes, and each costs about as much as its request.
        self.catalog
            .put_with_fact(&asset, LAST_BACKUP_AT, super::now_ms())
            .await?;
        self.notify(&asset);
        self.let_files_go(std::slice::from_ref(&asset)).await?;
        Ok(())
    }

    /// Where a Live Photo still's motion part is, for the still's upload creation.
    async fn motion_part(&self, asset: &Asset) -> Result<MotionPart, Stop> {
        // An upload created already named its motion part then, or had none.
        let (Some(video), None) = (&asset.live_photo_video, &asset.upload_url) else {
            return Ok(MotionPart::None);
        };
        Ok(match self.catalog.get(video).await? {
            Some(v) if matches!(v.status, AssetStatus::Uploaded | AssetStatus::Duplicate) => {
                v.server_id.map_or(MotionPart::None, MotionPart::Uploaded)
            }
            Some(v) if !v.status.is_finished() => MotionPart::OnItsWay,
            // Failed, skipped or gone: the still goes up alone.
            _ => MotionPart::None,
        })
    }

    /// Sends a file while it is hashed: each chunk is read once in a hashing worker, for
    /// its checksum and for the file's SHA-256 (see `upload_hash`). Returns `None` unless
    /// every byte was sent and the hash is known: the asset was settled, or the run
    /// stopped. Otherwise the asset carries its SHA-256 (also kept in the hash cache) and
    /// is still `uploading`.
    async fn send_while_hashing(
        self: &Rc<Self>,
        asset: &mut Asset,
        file: &File,
        motion: Option<&str>,
    ) -> Result<Option<Sent>, Stop> {
        let key = hash_cache_key(asset);
        // Hashed before, by a run that stopped before it recorded the upload's end.
        let cached = self.catalog.cached_hash(&key).await?;
        let hashing = self.hasher.upload_hash();
        let sent = self
            .send(
                asset,
                file,
                None,
                motion,
                cached.is_none().then_some(&hashing),
            )
            .await?;
        if !matches!(sent, Sent::All { .. }) {
            return Ok(None);
        }
        let hashed = match cached {
            Some(digest) => Ok(digest),
            None => hashing.finish(file).await,
        };
        match hashed {
            Ok(digest) => {
                self.catalog.remember_hash(&key, &digest).await?;
                asset.sha256 = Some(digest);
                self.save(asset).await?;
                Ok(Some(sent))
            }
            Err(reason) => {
                self.skip(asset, Some(file), ErrorCode::FileUnreadable, reason)
                    .await?;
                Ok(None)
            }
        }
    }

    /// Sends the asset's bytes, resuming its upload if it has one, until the server holds
    /// them all (`Sent::All`) or the upload stops; a stopped upload has been saved as it
    /// stands (failed, skipped, or `uploading` to resume). `digest` is declared to the
    /// server when known, so it verifies the whole file; `motion` is a Live Photo still's
    /// motion part on the server. Each chunk passes through `hashing`, if given, for the
    /// file's SHA-256.
    async fn send(
        self: &Rc<Self>,
        asset: &mut Asset,
        file: &File,
        digest: Option<&str>,
        motion: Option<&str>,
        hashing: Option<&UploadHashing<'_>>,
    ) -> Result<Sent, Stop> {
        let kind = MediaKind::of_mime(&asset.mime);
        let support = self.server_support().await;
        if support.max_size.is_some_and(|max| asset.size > max) {
            asset.fail(
                ErrorCode::TooLarge,
                format!(
                    "The file is larger than this server accepts ({} bytes at most).",
                    support.max_size.unwrap_or_default()
                ),
            );
            self.save(asset).await?;
            return Ok(Sent::Not);
        }
        let mut upload = Upload::resume(
            asset.size,
            asset.upload_url.clone(),
            asset.done_bytes,
            self.chunk_size,
            self.retry,
        );
        let protocol = Protocol::choose(self.protocol, &support);
        // A chunk that carries a checksum is digested in one native call (see
        // `hash::chunk_digest`): off the hashing worker's own thread, where other files
        // are hashed meanwhile, and faster than the wasm SHA-256. So such chunks are at
        // most what one call takes (which also bounds what a reload can send twice).
        if protocol == Protocol::Tus && support.chunk_checksum.is_some() {
            upload.limit_chunks_to(super::hash::ONE_SHOT_BYTES);
        }
        let device_id = self.device_id().await?;
        let mut checksum_ahead: Option<(std::ops::Range<u64>, Option<tus::Header>)> = None;
        // The key the last step's request went with: a refusal is acted on a step later.
        let mut key_sent = self.server.borrow().api_key.clone();
        loop {
            if self.halted.get().is_some() {
                return Ok(Sent::Not);
            }
            if !self.cancelled.borrow().contains(&asset.id) {
                self.wait_until_allowed(kind, &asset.id).await;
            }
            if self.stopping.get() {
                return Ok(Sent::Not);
            }
            // Cloned per step: signing in again replaces the key mid-upload.
            let server = self.server.borrow().clone();
            let transfer = Transfer {
                server: &server,
                protocol,
                support: &support,
                device_id: &device_id,
            };
            if self.cancelled.borrow().contains(&asset.id) {
                if let Some(url) = upload.url() {
                    transfer.cancel(url).await;
                }
                asset.upload_url = None;
                self.skip(asset, Some(file), ErrorCode::Cancelled, "Cancelled".into())
                    .await?;
                return Ok(Sent::Not);
            }
            match upload.next() {
                Action::Create => {
                    // A small file goes up in the creation request itself.
                    let whole = if transfer.sends_whole_at_creation(asset.size, upload.chunk_size())
                    {
                        let range = 0..asset.size;
                        Some((
                            file,
                            self.chunk_checksum(&transfer, file, &range, digest, hashing)
                                .await,
                        ))
                    } else {
                        None
                    };
                    // The file's own date goes into the creation request (saved with it).
                    super::media::read_once(asset, file).await;
                    let result = transfer.create(asset, digest, motion, whole).await;
                    upload.created(result, jitter());
                    if upload.url().is_some() {
                        asset.upload_url = upload.url().map(str::to_string);
                        asset.done_bytes = upload.offset();
                        self.save(asset).await?;
                    }
                }
                Action::AskOffset { url } => {
                    let result = transfer.offset(&url, asset.size).await;
                    upload.offset_known(result, jitter());
                    asset.upload_url = upload.url().map(str::to_string);
                    asset.done_bytes = upload.offset();
                    self.save(asset).await?;
                }
                Action::Send { url, range } => {
                    let started = super::now_ms();
                    let chunk = match file
                        .slice_with_f64_and_f64(range.start as f64, range.end as f64)
                    {
                        Ok(chunk) => chunk,
                        Err(e) => {
                            let reason =
                                format!("The file could not be read: {}", describe_js_error(&e));
                            self.skip(asset, Some(file), ErrorCode::FileUnreadable, reason)
                                .await?;
                            return Ok(Sent::Not);
                        }
                    };
                    let checksum = match checksum_ahead.take() {
                        Some((ahead, checksum)) if ahead == range => checksum,
                        _ => {
                            self.chunk_checksum(&transfer, file, &range, digest, hashing)
                                .await
                        }
                    };
                    // The next chunk's checksum is hashed while this one is on the wire,
                    // so hashing and sending overlap. A chunk size changed meanwhile (or a
                    // retry) plans another range, and that one is hashed afresh.
                    let ahead = range.end..asset.size.min(range.end + upload.chunk_size());
                    let sending = transfer.append(&url, &chunk, range, asset.size, checksum);
                    let sent = if ahead.is_empty() {
                        sending.await
                    } else {
                        let checksumming =
                            self.chunk_checksum(&transfer, file, &ahead, digest, hashing);
                        let (sent, checksum) =
                            futures_util::future::join(sending, checksumming).await;
                        checksum_ahead = Some((ahead, checksum));
                        sent
                    };
                    let result = match sent {
                        Ok(accepted) => Ok(accepted),
                        Err(AppendError::Refused(failure)) => Err(failure),
                        // A vanished file also fails the request: tell them apart.
                        Err(AppendError::NoAnswer(_)) if !readable(&chunk).await => {
                            let reason = "The file could not be read any more; it may have been moved or deleted.";
                            self.skip(asset, Some(file), ErrorCode::FileUnreadable, reason.into())
                                .await?;
                            return Ok(Sent::Not);
                        }
                        Err(AppendError::NoAnswer(e)) => Err(Failure::network(e)),
                    };
                    upload.chunk_sent(result, super::now_ms() - started, jitter());
                    asset.upload_url = upload.url().map(str::to_string);
                    asset.done_bytes = upload.offset();
                    self.save(asset).await?;
                }
                Action::Wait { ms } => {
                    TimeoutFuture::new(ms as u32).await;
                    upload.waited();
                }
                Action::Finished { asset_id } => {
                    let asset_id = match asset_id {
                        Some(id) => Some(id),
                        // A tus server other than ferry-server does not name the asset.
                        None => self
                            .check(std::slice::from_ref(asset))
                            .await?
                            .and_then(|r| r.existing_asset(&asset.id).map(str::to_string)),
                    };
                    // Every byte is there but no asset is: a server killed after its last
                    // chunk was stored and before it made the asset. An empty PATCH at the
                    // end asks ferry-server to complete (idempotently) and name the asset.
                    let asset_id = match (asset_id, upload.url()) {
                        (None, Some(url)) if !self.no_dedup.get() => {
                            let end = asset.size..asset.size;
                            match web_sys::Blob::new() {
                                Ok(empty) => transfer
                                    .append(url, &empty, end, asset.size, None)
                                    .await
                                    .ok()
                                    .and_then(|(_, named)| named),
                                Err(_) => None,
                            }
                        }
                        (asset_id, _) => asset_id,
                    };
                    return Ok(Sent::All { asset_id });
                }
                Action::Fail { code, reason } => {
                    asset.fail(code, reason);
                    self.save(asset).await?;
                    return Ok(Sent::Not);
                }
                Action::Halt { class } => {
                    self.halt(class, &key_sent);
                    return Err(Stop::Halted);
                }
            }
            key_sent = server.api_key.clone();
        }
    }
}

/// A Live Photo still's motion part, as far as its upload is concerned.
enum MotionPart {
    /// Not a Live Photo still (or its video could not be backed up).
    None,
    /// The video's server asset id.
    Uploaded(String),
    /// The video is not backed up yet.
    OnItsWay,
}

/// How sending a file's bytes ended.
enum Sent {
    /// The server holds every byte. ferry-server names the asset it made of them.
    All { asset_id: Option<String> },
    /// Not all sent: the asset was saved as it stands (settled, or to resume later).
    Not,
}

/// Whether a slice of a file can still be read.
async fn readable(blob: &web_sys::Blob) -> bool {
    let Ok(probe) = blob.slice_with_f64_and_f64(0.0, 1.0) else {
        return false;
    };
    JsFuture::from(probe.array_buffer()).await.is_ok()
}

/// Runs `work` while holding the Web Lock `name`, so one runner works per browser
/// profile. Without the Web Locks API it just runs.
fn with_web_lock(name: &str, work: impl std::future::Future<Output = ()> + 'static) {
    let locks = Reflect::get(&js_sys::global(), &"navigator".into())
        .and_then(|n| Reflect::get(&n, &"locks".into()))
        .ok()
        .filter(|l| !l.is_undefined());
    let Some(locks) = locks else {
        wasm_bindgen_futures::spawn_local(work);
        return;
    };
    let callback = Closure::once_into_js(move |_lock: JsValue| {
        wasm_bindgen_futures::future_to_promise(async move {
            work.await;
            Ok(JsValue::UNDEFINED)
        })
    });
    let request = Reflect::get(&locks, &"request".into())
        .ok()
        .and_then(|f| f.dyn_into::<Function>().ok());
    if let Some(request) = request {
        if let Ok(promise) = request.call2(&locks, &name.into(), &callback) {
            wasm_bindgen_futures::spawn_local(async move {
                if let Err(e) = JsFuture::from(js_sys::Promise::from(promise)).await {
                    web_sys::console::error_1(&e);
                }
            });
        }
    }
}

//! The catalog: every asset's record in IndexedDB, so a reload or a killed tab shows and
//! resumes exactly what was there. Transactions stay short: nothing awaits the network
//! or a hash while one is open.

use std::collections::HashSet;

use indexed_db_futures::database::Database;
use indexed_db_futures::prelude::*;
use indexed_db_futures::transaction::TransactionMode;

use wasm_bindgen::{JsCast, JsValue};

use super::asset_record::Absent;
use super::js_object::WrongField;
use crate::asset::{Asset, AssetStatus};

const ASSETS: &str = "assets";
/// The `File` handle of each asset not yet finished, keyed by asset id, so a reload can
/// resume without the user picking the file again. It lives in a database of its own
/// (see `Catalog::files`).
const FILES: &str = "files";
/// The kept files' database is named after the catalog with this suffix.
const FILES_DB_SUFFIX: &str = ":files";
/// `name|size|lastModified` → SHA-256, so a re-run never re-hashes an unchanged file.
const HASH_CACHE: &str = "hash_cache";
const BY_ADDED_AT: &str = "addedAt";
const BY_STATUS: &str = "status";
const BY_SHA256: &str = "sha256";
/// Fingerprint → id of the record still waiting to be backed up, so the same file picked
/// again (after a reload lost its handle) continues that record instead of starting anew.
const WAITING: &str = "waiting_by_fingerprint";
/// Bump with each schema change and add a step to the upgrade below.
const SCHEMA_VERSION: u32 = 5;
/// Small facts about the backup as a whole, e.g. `lastBackupAt`.
const META: &str = "meta";
/// The facts key of this catalog's device id (a string, unlike the other facts).
const DEVICE_ID: &str = "deviceId";
/// The facts key of the kept files the last sweep found without a record (an array of
/// ids; see [`Catalog::forget_files_of_finished`]).
const KEPT_ALONE: &str = "keptWithoutRecord";

/// A catalog operation failed; the message comes from the browser.
#[derive(Debug, thiserror::Error)]
#[error("the local catalog (IndexedDB) failed: {0}")]
pub struct CatalogError(String);

impl<E: std::fmt::Display> From<E> for CatalogError
where
    E: Into<indexed_db_futures::error::Error>,
{
    fn from(e: E) -> Self {
        Self(e.to_string())
    }
}

impl From<WrongField> for CatalogError {
    fn from(e: WrongField) -> Self {
        Self(format!("an asset record's {e}"))
    }
}

/// The asset whose kept file is to be forgotten, and the fingerprint it waits under.
#[derive(Debug, Clone)]
pub struct KeptFile {
    pub id: String,
    pub fingerprint: String,
}

/// The asset records of one backup, in IndexedDB.
pub struct Catalog {
    db: Database,
    /// The kept files, in a second database. Chromium makes every read-write
    /// transaction of a database pay for the number of blobs stored in it (about 36 ms
    /// per commit with 10,000 small files kept, against 1 ms without), so the records
    /// and the blobs are kept apart.
    files: Database,
}

// Writes issue their requests and ask to commit in the same step, with no `.await` in
// between: the browser commits a transaction by itself once a task ends with none of its
// requests pending, so a write whose future is not polled at once (held while its caller
// awaits something else) would find its transaction finished when it calls `commit`.
// Only a read-then-write (`device_id`, `forget_files`) awaits inside a transaction.
//
// PIPELINED: a lookup of many keys asks for all of them, then awaits the answers in order.
// Awaiting each before asking for the next costs a round trip to the browser's database
// process per key; a re-picked pick of 10,000 files looks up each key three times.
// Keys are asked for `LOOKUPS_AT_ONCE` at a time, a transaction each, so the page gets a
// turn between them: asking for 10,000 in one go was one task of 300-450 ms.
const LOOKUPS_AT_ONCE: usize = 500;

/// The answers of `look_up` over `keys`, asked `LOOKUPS_AT_ONCE` keys at a time, in order.
async fn in_pieces<'k, K, T, Fut>(
    keys: &'k [K],
    mut look_up: impl FnMut(&'k [K]) -> Fut,
) -> Result<Vec<T>, CatalogError>
where
    Fut: std::future::Future<Output = Result<Vec<T>, CatalogError>>,
{
    let mut found = Vec::with_capacity(keys.len());
    for piece in keys.chunks(LOOKUPS_AT_ONCE) {
        found.extend(look_up(piece).await?);
    }
    Ok(found)
}

/// When another context asks for the database (a sign-out deleting it, a newer version of
/// the app upgrading it), this connection closes rather than block that for as long as
/// this engine lives: a service worker's engine stays open after its backup. What this
/// engine asks of it afterwards fails, and its run ends.
fn close_when_asked(db: &Database) {
    use indexed_db_futures::internals::SystemRepr;
    let connection: web_sys::IdbDatabase = db.as_sys().clone().unchecked_into();
    let close = wasm_bindgen::closure::Closure::once_into_js({
        let connection = connection.clone();
        move || connection.close()
    });
    connection.set_onversionchange(Some(close.unchecked_ref()));
}

impl Catalog {
    /// Opens the catalog named `name`, creating or migrating it as needed.
    pub async fn open(name: &str) -> Result<Self, CatalogError> {
        let db = Database::open(name)
            .with_version(SCHEMA_VERSION)
            .with_on_upgrade_needed(|event, db| {
                let old = event.old_version() as u32;
                if old < 1 {
                    let assets = db
                        .create_object_store(ASSETS)
                        .with_key_path("id".into())
                        .build()?;
                    assets.create_index(BY_ADDED_AT, "addedAt".into()).build()?;
                    assets.create_index(BY_STATUS, "status".into()).build()?;
                    assets.create_index(BY_SHA256, "sha256".into()).build()?;
                }
                if old < 2 {
                    db.create_object_store(HASH_CACHE).build()?;
                }
                if old < 3 {
                    db.create_object_store(WAITING).build()?;
                }
                if old < 4 {
                    db.create_object_store(META).build()?;
                }
                if (2..5).contains(&old) {
                    // Kept files moved to their own database; the few kept here are
                    // dropped, and their assets ask to be added again.
                    db.delete_object_store(FILES)?;
                }
                Ok(())
            })
            .await
            .map_err(|e| CatalogError(e.to_string()))?;
        let files = Database::open(format!("{name}{FILES_DB_SUFFIX}").as_str())
            .with_version(1u32)
            .with_on_upgrade_needed(|_, db| {
                db.create_object_store(FILES).build()?;
                Ok(())
            })
            .await
            .map_err(|e| CatalogError(e.to_string()))?;
        close_when_asked(&db);
        close_when_asked(&files);
        Ok(Self { db, files })
    }

    /// Writes `asset`, replacing any earlier record with the same id.
    pub async fn put(&self, asset: &Asset) -> Result<(), CatalogError> {
        let tx = self
            .db
            .transaction(ASSETS)
            .with_mode(TransactionMode::Readwrite)
            .build()?;
        tx.object_store(ASSETS)?
            .put(asset.to_record(Absent::Undefined))
            .primitive()?;
        tx.commit().await?;
        Ok(())
    }

    /// [`Catalog::put`] of many records in one transaction: a batch of 1,000 status
    /// changes costs one commit, not 1,000.
    pub async fn put_all(&self, assets: &[Asset]) -> Result<(), CatalogError> {
        if assets.is_empty() {
            return Ok(());
        }
        let tx = self
            .db
            .transaction(ASSETS)
            .with_mode(TransactionMode::Readwrite)
            .build()?;
        let store = tx.object_store(ASSETS)?;
        for asset in assets {
            store.put(asset.to_record(Absent::Undefined)).primitive()?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Writes records and the files to keep for them. The files go first: a tab closed
    /// in between leaves kept files without a record, which the next run forgets
    /// (`forget_files_of_finished`), never a record that counts on a missing file.
    ///
    /// `again` names records read from the catalog that this add continues (their file
    /// added again). Each is written only if it is still failed or skipped, to queue it
    /// again. Otherwise the runner has had it since it was read: writing back what was
    /// read would undo its work, and a record taken back from `uploading` would be picked
    /// up and checked a second time. Such records are left as they are and returned; the
    /// copies of those backed up are not kept.
    pub async fn add(
        &self,
        items: &[(Asset, Option<web_sys::File>)],
        again: &HashSet<String>,
    ) -> Result<Vec<Asset>, CatalogError> {
        let kept: Vec<(&str, &web_sys::File)> = items
            .iter()
            .filter_map(|(asset, file)| Some((asset.id.as_str(), file.as_ref()?)))
            .collect();
        if !kept.is_empty() {
            self.keep_files(&kept).await?;
        }
        let tx = self
            .db
            .transaction([ASSETS, WAITING])
            .with_mode(TransactionMode::Readwrite)
            .build()?;
        let assets = tx.object_store(ASSETS)?;
        let waiting = tx.object_store(WAITING)?;
        let mut left = Vec::new();
        for (asset, _) in items {
            if again.contains(&asset.id) {
                let now: Option<JsValue> = assets.get(asset.id.as_str()).primitive()?.await?;
                let now = now.as_ref().map(Asset::from_record).transpose()?;
                if let Some(now) = now
                    .filter(|now| !matches!(now.status, AssetStatus::Failed | AssetStatus::Skipped))
                {
                    left.push(now);
                    continue;
                }
            }
            assets.put(asset.to_record(Absent::Undefined)).primitive()?;
            // A record backed up already (a copy of bytes backed up before) waits for
            // nothing; listing it would keep it under its fingerprint for good.
            if !matches!(asset.status, AssetStatus::Uploaded | AssetStatus::Duplicate) {
                waiting
                    .put(asset.id.as_str())
                    .with_key(asset.fingerprint.as_str())
                    .primitive()?;
            }
        }
        tx.commit().await?;
        let kept: Vec<KeptFile> = left
            .iter()
            .filter(|asset| matches!(asset.status, AssetStatus::Uploaded | AssetStatus::Duplicate))
            .map(|asset| KeptFile {
                id: asset.id.clone(),
                fingerprint: asset.fingerprint.clone(),
            })
            .collect();
        self.forget_files(&kept, false).await?;
        Ok(left)
    }

    /// Keeps copies of the files of assets already recorded, by asset id.
    pub async fn keep_files(&self, files: &[(&str, &web_sys::File)]) -> Result<(), CatalogError> {
        let tx = self
            .files
            .transaction(FILES)
            .with_mode(TransactionMode::Readwrite)
            .build()?;
        let store = tx.object_store(FILES)?;
        for (id, file) in files {
            let file: &JsValue = file.as_ref();
            store.put(file.clone()).with_key(*id).primitive()?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// The file handle recorded for asset `id`, if it is still kept.
    pub async fn file(&self, id: &str) -> Result<Option<web_sys::File>, CatalogError> {
        let tx = self.files.transaction(FILES).build()?;
        let value: Option<JsValue> = tx.object_store(FILES)?.get(id).primitive()?.await?;
        Ok(value.and_then(|v| v.dyn_into().ok()))
    }

    /// Forgets the kept file of an asset that no longer needs it. Once the asset is
    /// backed up (`done`), picking the same file again starts a new record.
    pub async fn forget_file(&self, asset: &Asset, done: bool) -> Result<(), CatalogError> {
        let kept = KeptFile {
            id: asset.id.clone(),
            fingerprint: asset.fingerprint.clone(),
        };
        self.forget_files(std::slice::from_ref(&kept), done).await
    }

    /// Forgets the kept files of several assets in one transaction. Chromium rewrites
    /// its list of stored blobs once per transaction that deletes any, at a cost that
    /// grows with the number of blobs kept: one transaction per file made a backup of
    /// 10,000 small files quadratic (about 30 ms per file with 10,000 kept).
    pub async fn forget_files(&self, kept: &[KeptFile], done: bool) -> Result<(), CatalogError> {
        if kept.is_empty() {
            return Ok(());
        }
        let tx = self
            .files
            .transaction(FILES)
            .with_mode(TransactionMode::Readwrite)
            .build()?;
        let files = tx.object_store(FILES)?;
        for file in kept {
            files.delete(file.id.as_str()).primitive()?;
        }
        tx.commit().await?;
        if !done {
            return Ok(());
        }
        let tx = self
            .db
            .transaction(WAITING)
            .with_mode(TransactionMode::Readwrite)
            .build()?;
        let waiting = tx.object_store(WAITING)?;
        for file in kept {
            let current: Option<String> =
                waiting.get(file.fingerprint.as_str()).primitive()?.await?;
            if current.as_deref() == Some(file.id.as_str()) {
                waiting.delete(file.fingerprint.as_str()).primitive()?;
            }
        }
        tx.commit().await?;
        Ok(())
    }

    /// How many files are kept now.
    pub async fn kept_count(&self) -> Result<u32, CatalogError> {
        let tx = self.files.transaction(FILES).build()?;
        Ok(tx.object_store(FILES)?.count().primitive()?.await?)
    }

    /// Forgets kept files whose asset is finished or gone: the runner forgets files in
    /// batches, so a tab closed between a backup and its batch leaves some behind.
    /// Returns how many were forgotten.
    ///
    /// A kept file without a record is forgotten only when the sweep before this one
    /// found it without a record too. [`Catalog::add`] keeps files before it writes their
    /// records, so a file alone may be another tab's, a moment before its record: forgot
    /// then, that record would be left counting on a missing file (and skipped by a runner
    /// in a tab that does not hold the file).
    pub async fn forget_files_of_finished(&self) -> Result<usize, CatalogError> {
        let ids = {
            let tx = self.files.transaction(FILES).build()?;
            tx.object_store(FILES)?
                .get_all_keys::<String>()
                .primitive()?
                .await?
                .collect::<Result<Vec<String>, _>>()?
        };
        let alone_before = self.kept_alone().await?;
        let (stale, alone) = {
            let tx = self.db.transaction(ASSETS).build()?;
            let assets = tx.object_store(ASSETS)?;
            let mut stale = Vec::new();
            let mut alone = Vec::new();
            for id in ids {
                let record: Option<JsValue> = assets.get(id.as_str()).primitive()?.await?;
                let asset = record.as_ref().map(Asset::from_record).transpose()?;
                let fingerprint = match asset {
                    Some(asset) if !asset.status.is_finished() => continue,
                    Some(asset) => asset.fingerprint,
                    None if alone_before.contains(&id) => String::new(),
                    None => {
                        alone.push(id);
                        continue;
                    }
                };
                stale.push(KeptFile { id, fingerprint });
            }
            (stale, alone)
        };
        if !stale.is_empty() {
            self.forget_files(&stale, true).await?;
        }
        if alone != alone_before {
            self.set_kept_alone(&alone).await?;
        }
        Ok(stale.len())
    }

    /// The ids of the kept files the last sweep found without a record.
    async fn kept_alone(&self) -> Result<Vec<String>, CatalogError> {
        Ok(self
            .meta_value(KEPT_ALONE)
            .await?
            .map(|v| {
                js_sys::Array::from(&v)
                    .iter()
                    .filter_map(|id| id.as_string())
                    .collect()
            })
            .unwrap_or_default())
    }

    async fn set_kept_alone(&self, ids: &[String]) -> Result<(), CatalogError> {
        let list: js_sys::Array = ids.iter().map(|id| JsValue::from_str(id)).collect();
        self.set_meta_value(KEPT_ALONE, list.into()).await
    }

    /// The unfinished record of a file with this fingerprint, if one is waiting.
    pub async fn waiting(&self, fingerprint: &str) -> Result<Option<Asset>, CatalogError> {
        let id: Option<String> = {
            let tx = self.db.transaction(WAITING).build()?;
            tx.object_store(WAITING)?
                .get(fingerprint)
                .primitive()?
                .await?
        };
        match id {
            Some(id) => self.get(&id).await,
            None => Ok(None),
        }
    }

    /// [`Catalog::waiting`] for many fingerprints, a transaction per `LOOKUPS_AT_ONCE`
    /// (10,000 picked files cost 20 transactions, not 10,000).
    pub async fn waiting_many(
        &self,
        fingerprints: &[&str],
    ) -> Result<Vec<Option<Asset>>, CatalogError> {
        in_pieces(fingerprints, |piece| self.waiting_piece(piece)).await
    }

    async fn waiting_piece(
        &self,
        fingerprints: &[&str],
    ) -> Result<Vec<Option<Asset>>, CatalogError> {
        let tx = self.db.transaction([WAITING, ASSETS]).build()?;
        let waiting = tx.object_store(WAITING)?;
        let assets = tx.object_store(ASSETS)?;
        // All lookups are asked for before the first answer is awaited (see `PIPELINED`).
        let ids = fingerprints
            .iter()
            .map(|fingerprint| waiting.get(*fingerprint).primitive())
            .collect::<Result<Vec<_>, _>>()?;
        let mut records = Vec::with_capacity(ids.len());
        for id in ids {
            let id: Option<String> = id.await?;
            records.push(match id {
                Some(id) => Some(assets.get(id.as_str()).primitive()?),
                None => None,
            });
        }
        let mut found = Vec::with_capacity(records.len());
        for record in records {
            let record: Option<JsValue> = match record {
                Some(record) => record.await?,
                None => None,
            };
            found.push(record.as_ref().map(Asset::from_record).transpose()?);
        }
        Ok(found)
    }

    /// Up to `limit` records in `status`, through the status index (no table scan).
    pub async fn with_status(
        &self,
        status: AssetStatus,
        limit: u32,
    ) -> Result<Vec<Asset>, CatalogError> {
        let tx = self.db.transaction(ASSETS).build()?;
        let store = tx.object_store(ASSETS)?;
        let records = store
            .index(BY_STATUS)?
            .get_all()
            .with_query::<&str, _>(status.as_str())
            .with_limit(limit)
            .primitive()?
            .await?;
        records
            .map(|record| Ok(Asset::from_record(&record?)?))
            .collect()
    }

    /// For each `(checksum, fingerprint)`, a record of this catalog with those bytes that is
    /// backed up (uploaded, or found on the server, with the server's asset id): the
    /// record of that very file (its fingerprint) when it is one of them, else any. A
    /// transaction per `LOOKUPS_AT_ONCE`, through the checksum index.
    pub async fn backed_up_as(
        &self,
        wanted: &[(&str, &str)],
    ) -> Result<Vec<Option<Asset>>, CatalogError> {
        in_pieces(wanted, |piece| self.backed_up_as_piece(piece)).await
    }

    async fn backed_up_as_piece(
        &self,
        wanted: &[(&str, &str)],
    ) -> Result<Vec<Option<Asset>>, CatalogError> {
        // Records of one checksum looked at, at most: the same bytes under a few names,
        // or a file picked again and again before a pick reused its record.
        const LOOK_AT: u32 = 8;
        let tx = self.db.transaction(ASSETS).build()?;
        let store = tx.object_store(ASSETS)?;
        let index = store.index(BY_SHA256)?;
        // All lookups are asked for before the first answer is awaited (see `PIPELINED`).
        let lookups = wanted
            .iter()
            .map(|(checksum, _)| {
                index
                    .get_all()
                    .with_query::<&str, _>(*checksum)
                    .with_limit(LOOK_AT)
                    .primitive()
            })
            .collect::<Result<Vec<_>, _>>()?;
        let mut found = Vec::with_capacity(wanted.len());
        for (lookup, (_, fingerprint)) in lookups.into_iter().zip(wanted) {
            let mut backed_up: Option<Asset> = None;
            for record in lookup.await? {
                let record = Asset::from_record(&record?)?;
                let done = matches!(
                    record.status,
                    AssetStatus::Uploaded | AssetStatus::Duplicate
                ) && record.server_id.is_some();
                if done && record.fingerprint == *fingerprint {
                    backed_up = Some(record);
                    break;
                }
                if done && backed_up.is_none() {
                    backed_up = Some(record);
                }
            }
            found.push(backed_up);
        }
        Ok(found)
    }

    /// How many records are in each of `statuses`, counted by the status index (no table
    /// scan), in one transaction: one moment's counts, so an asset moving on meanwhile
    /// is never counted twice or missed.
    pub async fn counts<const N: usize>(
        &self,
        statuses: [AssetStatus; N],
    ) -> Result<[u32; N], CatalogError> {
        let tx = self.db.transaction(ASSETS).build()?;
        let store = tx.object_store(ASSETS)?;
        let index = store.index(BY_STATUS)?;
        let mut counts = [0; N];
        for (count, status) in counts.iter_mut().zip(statuses) {
            *count = index
                .count()
                .with_query::<&str, _>(status.as_str())
                .primitive()?
                .await?;
        }
        Ok(counts)
    }

    /// A number stored under `key` in the catalog's facts.
    pub async fn fact(&self, key: &str) -> Result<Option<f64>, CatalogError> {
        Ok(self.meta_value(key).await?.and_then(|v| v.as_f64()))
    }

    /// Whatever is stored under `key` in the catalog's facts.
    async fn meta_value(&self, key: &str) -> Result<Option<JsValue>, CatalogError> {
        let tx = self.db.transaction(META).build()?;
        Ok(tx.object_store(META)?.get(key).primitive()?.await?)
    }

    /// [`Catalog::put`] and [`Catalog::set_fact`] in one transaction.
    pub async fn put_with_fact(
        &self,
        asset: &Asset,
        key: &str,
        value: f64,
    ) -> Result<(), CatalogError> {
        self.put_with(asset, META, key, JsValue::from_f64(value))
            .await
    }

    /// `asset`'s record, and `value` under `key` in `store`, in one transaction: each
    /// commit costs about as much as a small file's request.
    async fn put_with(
        &self,
        asset: &Asset,
        store: &str,
        key: &str,
        value: JsValue,
    ) -> Result<(), CatalogError> {
        let tx = self
            .db
            .transaction([ASSETS, store])
            .with_mode(TransactionMode::Readwrite)
            .build()?;
        tx.object_store(ASSETS)?
            .put(asset.to_record(Absent::Undefined))
            .primitive()?;
        tx.object_store(store)?
            .put(value)
            .with_key(key)
            .primitive()?;
        tx.commit().await?;
        Ok(())
    }

    /// Stores a number under `key` in the catalog's facts.
    pub async fn set_fact(&self, key: &str, value: f64) -> Result<(), CatalogError> {
        self.set_meta_value(key, JsValue::from_f64(value)).await
    }

    async fn set_meta_value(&self, key: &str, value: JsValue) -> Result<(), CatalogError> {
        let tx = self
            .db
            .transaction(META)
            .with_mode(TransactionMode::Readwrite)
            .build()?;
        tx.object_store(META)?
            .put(value)
            .with_key(key)
            .primitive()?;
        tx.commit().await?;
        Ok(())
    }

    /// This catalog's device id, sent with each upload as `deviceId` so the server can
    /// answer `/api/assets/exist` for this device. Made once, then kept.
    pub async fn device_id(&self) -> Result<String, CatalogError> {
        let tx = self
            .db
            .transaction(META)
            .with_mode(TransactionMode::Readwrite)
            .build()?;
        let store = tx.object_store(META)?;
        let known: Option<JsValue> = store.get(DEVICE_ID).primitive()?.await?;
        if let Some(id) = known.and_then(|v| v.as_string()) {
            return Ok(id);
        }
        let id = super::random_id();
        store
            .put(JsValue::from_str(&id))
            .with_key(DEVICE_ID)
            .primitive()?
            .await?;
        tx.commit().await?;
        Ok(id)
    }

    /// The SHA-256 recorded for an unchanged file, if it was hashed before.
    pub async fn cached_hash(&self, key: &str) -> Result<Option<String>, CatalogError> {
        let tx = self.db.transaction(HASH_CACHE).build()?;
        let value = tx.object_store(HASH_CACHE)?.get(key).primitive()?.await?;
        Ok(value)
    }

    /// [`Catalog::cached_hash`] of many keys, a transaction per `LOOKUPS_AT_ONCE` (a batch
    /// of 1,000 costs two, not 1,000).
    pub async fn cached_hashes(
        &self,
        keys: &[String],
    ) -> Result<Vec<Option<String>>, CatalogError> {
        in_pieces(keys, |piece| self.cached_hashes_piece(piece)).await
    }

    async fn cached_hashes_piece(
        &self,
        keys: &[String],
    ) -> Result<Vec<Option<String>>, CatalogError> {
        let tx = self.db.transaction(HASH_CACHE).build()?;
        let store = tx.object_store(HASH_CACHE)?;
        // All lookups are asked for before the first answer is awaited (see `PIPELINED`).
        let lookups = keys
            .iter()
            .map(|key| store.get(key.as_str()).primitive())
            .collect::<Result<Vec<_>, _>>()?;
        let mut found = Vec::with_capacity(keys.len());
        for lookup in lookups {
            found.push(lookup.await?);
        }
        Ok(found)
    }

    /// Writes a just-hashed asset's record and its hash cache entry (`key` → its
    /// SHA-256) in one transaction.
    pub async fn put_hashed(&self, asset: &Asset, key: &str) -> Result<(), CatalogError> {
        match asset.sha256.as_deref() {
            Some(sha256) => self.put_with(asset, HASH_CACHE, key, sha256.into()).await,
            None => self.put(asset).await,
        }
    }

    /// Records the SHA-256 of the file identified by `key`.
    pub async fn remember_hash(&self, key: &str, sha256: &str) -> Result<(), CatalogError> {
        let tx = self
            .db
            .transaction(HASH_CACHE)
            .with_mode(TransactionMode::Readwrite)
            .build()?;
        tx.object_store(HASH_CACHE)?
            .put(sha256)
            .with_key(key)
            .primitive()?;
        tx.commit().await?;
        Ok(())
    }

    /// The record with `id`, if there is one.
    pub async fn get(&self, id: &str) -> Result<Option<Asset>, CatalogError> {
        let tx = self.db.transaction(ASSETS).build()?;
        let record: Option<JsValue> = tx.object_store(ASSETS)?.get(id).primitive()?.await?;
        Ok(record.as_ref().map(Asset::from_record).transpose()?)
    }

    /// The first `limit` records in the order they were added, as stored: reading them into
    /// [`Asset`]s is left to the caller, so that a page of 10,000 can be read a slice at a
    /// time (see `Backup::assets`).
    pub async fn oldest_first(&self, limit: u32) -> Result<Vec<JsValue>, CatalogError> {
        let tx = self.db.transaction(ASSETS).build()?;
        let store = tx.object_store(ASSETS)?;
        let records = store
            .index(BY_ADDED_AT)?
            .get_all()
            .with_limit(limit)
            .primitive()?
            .await?;
        Ok(records.collect::<Result<Vec<JsValue>, _>>()?)
    }

    /// Closes the connection, so the database can be deleted or upgraded.
    pub fn close(self) {
        self.db.close();
        self.files.close();
    }

    /// Deletes the catalog named `name`, every record in it and its kept files.
    pub async fn delete(name: &str) -> Result<(), CatalogError> {
        for name in [name.to_string(), format!("{name}{FILES_DB_SUFFIX}")] {
            let db = Database::open(name.as_str())
                .await
                .map_err(|e| CatalogError(e.to_string()))?;
            db.delete()
                .map_err(|e| CatalogError(e.to_string()))?
                .await
                .map_err(|e| CatalogError(e.to_string()))?;
        }
        Ok(())
    }
}

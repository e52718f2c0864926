//! `Backup`, the JavaScript-facing engine: files in, each one hashed in a worker, checked
//! against the server, uploaded with tus in resumable chunks, and recorded in the catalog
//! after every step. The PWA uses exactly this API.

use std::cell::RefCell;
use std::rc::Rc;

use js_sys::{Array, Function, Promise};
use serde::Deserialize;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::future_to_promise;
use web_sys::File;

use super::catalog::{Catalog, CatalogError};
use super::hash_worker::HashWorker;
use super::http::{reply_of, resolve_url, ApiError, NetworkError, Server};
use crate::asset::{Asset, AssetStatus};
use crate::chunks::{ChunkPlan, DEFAULT_CHUNK_SIZE};
use crate::dedup::{Candidate, CheckRequest, CheckResponse};
use crate::tus::{self, TusError};

/// Options for `Backup.open`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct BackupOptions {
    /// API root, e.g. `https://photos.example/api`. Defaults to this origin's `/api`.
    endpoint: Option<String>,
    /// The user's API key, sent as `x-api-key`.
    api_key: String,
    /// IndexedDB database name; one per server and user. Defaults to `ferry`.
    catalog_name: Option<String>,
    /// URL of the hashing worker script. Defaults to `./hash-worker.js` beside the page.
    hash_worker_url: Option<String>,
    /// Bytes per upload request. Defaults to 8 MiB.
    chunk_size: Option<u64>,
}

/// Why one asset could not be backed up.
#[derive(Debug, thiserror::Error)]
enum AssetError {
    #[error("{0}")]
    Unreadable(String),
    #[error(transparent)]
    Catalog(#[from] CatalogError),
    #[error(transparent)]
    Network(#[from] NetworkError),
    #[error(transparent)]
    Api(#[from] ApiError),
    #[error(transparent)]
    Upload(#[from] TusError),
}

struct Engine {
    catalog: Catalog,
    server: Server,
    hasher: HashWorker,
    chunk_size: u64,
    listeners: RefCell<Vec<Function>>,
}

/// A backup of files to one server, with its catalog in IndexedDB.
#[wasm_bindgen]
pub struct Backup {
    engine: Rc<Engine>,
}

#[wasm_bindgen]
impl Backup {
    /// Opens the catalog and starts the hashing worker.
    /// `options`: `{ apiKey, endpoint?, catalogName?, hashWorkerUrl?, chunkSize? }`.
    pub async fn open(options: JsValue) -> Result<Backup, JsError> {
        let options: BackupOptions = serde_wasm_bindgen::from_value(options)
            .map_err(|e| JsError::new(&format!("invalid Backup options: {e}")))?;
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
        let catalog = Catalog::open(options.catalog_name.as_deref().unwrap_or("ferry"))
            .await
            .map_err(|e| JsError::new(&e.to_string()))?;
        let worker_url = options
            .hash_worker_url
            .unwrap_or_else(|| "./hash-worker.js".into());
        let hasher = HashWorker::start(&worker_url).await.map_err(|e| {
            JsError::new(&format!(
                "could not start the hashing worker at {worker_url}: {}",
                super::http::describe_js_error(&e)
            ))
        })?;
        Ok(Backup {
            engine: Rc::new(Engine {
                catalog,
                server: Server {
                    api,
                    api_key: options.api_key,
                },
                hasher,
                chunk_size: options.chunk_size.unwrap_or(DEFAULT_CHUNK_SIZE),
                listeners: RefCell::default(),
            }),
        })
    }

    /// Calls `listener(asset)` whenever an asset's record or progress changes.
    #[wasm_bindgen(js_name = onChange)]
    pub fn on_change(&self, listener: Function) {
        self.engine.listeners.borrow_mut().push(listener);
    }

    /// Resolves to the catalog's asset records, oldest first (at most `limit`).
    pub fn assets(&self, limit: u32) -> Promise {
        let engine = self.engine.clone();
        future_to_promise(async move {
            let assets = engine
                .catalog
                .oldest_first(limit)
                .await
                .map_err(|e| JsError::new(&e.to_string()))?;
            let list = Array::new();
            for asset in &assets {
                list.push(&to_js(asset));
            }
            Ok(list.into())
        })
    }

    /// Adds `files` (a `FileList` or an array of `File`s): each is recorded in the catalog
    /// at once, then backed up one after another. Resolves when all are finished.
    pub fn add(&self, files: JsValue) -> Promise {
        let engine = self.engine.clone();
        future_to_promise(async move {
            let files: Vec<File> = Array::from(&files)
                .iter()
                .filter_map(|f| f.dyn_into().ok())
                .collect();
            let mut queued = Vec::with_capacity(files.len());
            for file in files {
                let asset = Asset::new(
                    super::random_id(),
                    file.name(),
                    file.size() as u64,
                    file.last_modified(),
                    file.type_(),
                    super::now_ms(),
                );
                engine
                    .save(&asset)
                    .await
                    .map_err(|e| JsError::new(&e.to_string()))?;
                queued.push((file, asset));
            }
            for (file, mut asset) in queued {
                if let Err(e) = engine.back_up(&file, &mut asset).await {
                    asset.fail(e.to_string());
                    // If even this write fails the record stays in its last step and the
                    // next scan picks it up again; nothing is lost.
                    let _ = engine.save(&asset).await;
                }
            }
            Ok(JsValue::UNDEFINED)
        })
    }
}

impl Engine {
    async fn save(&self, asset: &Asset) -> Result<(), CatalogError> {
        self.catalog.put(asset).await?;
        self.notify(asset);
        Ok(())
    }

    fn notify(&self, asset: &Asset) {
        let value = to_js(asset);
        for listener in self.listeners.borrow().iter() {
            let _ = listener.call1(&JsValue::NULL, &value);
        }
    }

    async fn back_up(self: &Rc<Self>, file: &File, asset: &mut Asset) -> Result<(), AssetError> {
        asset.enter(AssetStatus::Hashing);
        self.save(asset).await?;
        let progress = {
            let engine = self.clone();
            let snapshot = asset.clone();
            move |done| {
                let mut progress = snapshot.clone();
                progress.done_bytes = done;
                engine.notify(&progress);
            }
        };
        let digest = self
            .hasher
            .sha256(file, progress)
            .await
            .map_err(AssetError::Unreadable)?;
        asset.sha256 = Some(digest.clone());
        asset.enter(AssetStatus::Checking);
        self.save(asset).await?;

        if let Some(existing) = self.existing_asset(&asset.id, &digest).await? {
            asset.server_id = Some(existing);
            asset.enter(AssetStatus::Duplicate);
            return Ok(self.save(asset).await?);
        }

        asset.enter(AssetStatus::Uploading);
        self.save(asset).await?;
        let server_id = match self.upload(file, asset, &digest).await? {
            Some(id) => Some(id),
            // A tus server other than ferry-server does not name the asset; ask.
            None => self.existing_asset(&asset.id, &digest).await?,
        };
        asset.server_id = server_id;
        asset.enter(AssetStatus::Uploaded);
        Ok(self.save(asset).await?)
    }

    async fn existing_asset(&self, id: &str, digest: &str) -> Result<Option<String>, ApiError> {
        let request = CheckRequest {
            assets: vec![Candidate {
                id: id.to_string(),
                checksum: digest.to_string(),
            }],
        };
        let response: CheckResponse = self.server.json(crate::dedup::PATH, &request).await?;
        Ok(response.existing_asset(id).map(str::to_string))
    }

    /// Creates a tus upload and sends the file chunk by chunk, recording the upload URL
    /// and each acknowledged offset. Returns the server's asset id when it names one.
    async fn upload(
        &self,
        file: &File,
        asset: &mut Asset,
        digest: &str,
    ) -> Result<Option<String>, AssetError> {
        let endpoint = self.server.url("/uploads");
        let modified = format!("{}", asset.last_modified as i64);
        let metadata = [
            ("filename", asset.name.as_str()),
            ("filetype", asset.mime.as_str()),
            ("checksum", digest),
            ("fileModifiedAt", modified.as_str()),
            ("deviceAssetId", asset.id.as_str()),
        ];
        let headers = tus::creation_headers(asset.size, &metadata);
        let response = self.server.send("POST", &endpoint, &headers, None).await?;
        let created = tus::created(&reply_of(&response), asset.size)?;
        let upload_url = resolve_url(&created.location, &endpoint)?;
        asset.upload_url = Some(upload_url.clone());
        asset.done_bytes = created.offset;
        self.save(asset).await?;

        let mut asset_id = created.asset_id;
        let mut offset = created.offset;
        let plan = ChunkPlan::new(asset.size, self.chunk_size);
        while let Some(range) = plan.next(offset) {
            let chunk = file
                .slice_with_f64_and_f64(range.start as f64, range.end as f64)
                .map_err(|e| AssetError::Unreadable(super::http::describe_js_error(&e)))?;
            let headers = tus::chunk_headers(range.start);
            let response = self
                .server
                .send("PATCH", &upload_url, &headers, Some(&chunk))
                .await?;
            let reply = reply_of(&response);
            let acknowledged = tus::chunk_accepted(&reply, range.start, range.end)?;
            if acknowledged == offset {
                // A server that accepts nothing would loop forever; retries come later.
                return Err(TusError::OffsetOutOfRange {
                    got: acknowledged,
                    min: offset + 1,
                    max: range.end,
                }
                .into());
            }
            offset = acknowledged;
            asset_id = reply.asset_id.or(asset_id);
            asset.done_bytes = offset;
            self.save(asset).await?;
        }
        Ok(asset_id)
    }
}

fn to_js(asset: &Asset) -> JsValue {
    serde_wasm_bindgen::to_value(asset).unwrap_or(JsValue::NULL)
}

//! Hashing off the main thread: the page side (`HashWorker`) sends a `File` to a module
//! worker running this same wasm, whose side (`serve_hash_requests`) hashes it and posts
//! back progress and the digest.
//!
//! Messages, page → worker: first `{module}`, the page's own compiled `WebAssembly.Module`,
//! so the worker script instantiates it instead of fetching and compiling the wasm a
//! second time at every start; then `{id, blob}` (the blob's SHA-256, streamed) or
//! `{id, blob, algorithm}` (one upload chunk's digest for its checksum header, in that
//! WebCrypto algorithm), or `{id, blob, upload, start, end, algorithm?}` (bytes
//! `start..end` of a file sent while it is hashed: their digest, if an algorithm is given,
//! and the file's SHA-256 in the worker's `UploadHash` number `upload` takes them; see
//! `upload_hash`), `{endUpload: n}` when that file's upload is over, or `{cancel: id}` when
//! the page stops waiting (the hash future was dropped: its asset was cancelled or the
//! engine stopped).
//! Worker → page: `{ready: true}` once, then `{id, progress}`, `{id, digest, fileDigest}`
//! (lowercase hex; `fileDigest` once an upload's every byte was taken) or `{id, error}`.
//! A cancelled request gets no answer.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use js_sys::{Function, Object, Promise, Reflect};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;
use web_sys::{Blob, DedicatedWorkerGlobalScope, MessageEvent, Worker, WorkerOptions, WorkerType};

use super::hash::{chunk_digest, sha256_of_blob, sha256_of_blob_until};
use super::upload_hash::UploadHashes;
use crate::small_map::SmallMap;

struct Pending {
    resolve: Function,
    reject: Function,
    on_progress: Box<dyn Fn(u64)>,
}

/// The requests in flight on one worker, by id: a handful at a time (one per file hashed
/// or chunk checked).
type PendingMap = Rc<RefCell<SmallMap<u32, Pending>>>;

/// A module worker that hashes files for the page. Terminated when dropped.
pub struct HashWorker {
    worker: Worker,
    pending: PendingMap,
    next_id: Cell<u32>,
    _on_message: Closure<dyn FnMut(MessageEvent)>,
    _on_error: Closure<dyn FnMut(JsValue)>,
}

impl HashWorker {
    /// Starts the worker script at `url`, hands it this wasm's compiled module, and waits
    /// until its wasm is ready.
    pub async fn start(url: &str) -> Result<Self, JsValue> {
        let options = WorkerOptions::new();
        options.set_type(WorkerType::Module);
        let worker = Worker::new_with_options(url, &options)?;
        // Delivered once the script starts; our worker scripts listen for it before their
        // first `await`. One that does not wait for it (an older one) loads the wasm
        // itself, and the worker side below ignores the message.
        let module = Object::new();
        let _ = Reflect::set(&module, &"module".into(), &wasm_bindgen::module());
        worker.post_message(&module)?;
        let pending: PendingMap = Rc::default();

        // The first message is `{ready: true}`; until then requests would be lost.
        let ready_slot: Rc<RefCell<Option<(Function, Function)>>> = Rc::default();
        let ready = Promise::new(&mut |resolve, reject| {
            *ready_slot.borrow_mut() = Some((resolve, reject));
        });

        let on_message = {
            let pending = pending.clone();
            let ready_slot = ready_slot.clone();
            Closure::<dyn FnMut(MessageEvent)>::new(move |event: MessageEvent| {
                let data = event.data();
                if field(&data, "ready").is_truthy() {
                    if let Some((resolve, _)) = ready_slot.borrow_mut().take() {
                        let _ = resolve.call0(&JsValue::NULL);
                    }
                    return;
                }
                let Some(id) = field(&data, "id").as_f64().map(|id| id as u32) else {
                    return;
                };
                if let Some(done) = field(&data, "progress").as_f64() {
                    if let Some(p) = pending.borrow().get(&id) {
                        (p.on_progress)(done as u64);
                    }
                    return;
                }
                let Some(p) = pending.borrow_mut().remove(&id) else {
                    return;
                };
                let error = field(&data, "error");
                if error.is_undefined() {
                    let _ = p.resolve.call1(&JsValue::NULL, &data);
                } else {
                    let _ = p.reject.call1(&JsValue::NULL, &error);
                }
            })
        };
        worker.set_onmessage(Some(on_message.as_ref().unchecked_ref()));

        // A worker that fails to load or crashes fails the start and every file in flight.
        let on_error = {
            let pending = pending.clone();
            let ready_slot = ready_slot.clone();
            Closure::<dyn FnMut(JsValue)>::new(move |event: JsValue| {
                let message = field(&event, "message")
                    .as_string()
                    .unwrap_or_else(|| "the hashing worker stopped".into());
                let error = JsValue::from_str(&format!("hashing worker failed: {message}"));
                if let Some((_, reject)) = ready_slot.borrow_mut().take() {
                    let _ = reject.call1(&JsValue::NULL, &error);
                }
                for (_, p) in pending.borrow_mut().drain() {
                    let _ = p.reject.call1(&JsValue::NULL, &error);
                }
            })
        };
        worker.set_onerror(Some(on_error.as_ref().unchecked_ref()));

        let this = Self {
            worker,
            pending,
            next_id: Cell::new(1),
            _on_message: on_message,
            _on_error: on_error,
        };
        JsFuture::from(ready).await?;
        Ok(this)
    }

    fn next_id(&self) -> u32 {
        let id = self.next_id.get();
        self.next_id.set(id.wrapping_add(1));
        id
    }

    /// Posts the request `message` (the module docs list them) and waits for its answer;
    /// `on_progress` gets the bytes hashed so far.
    async fn ask(
        &self,
        message: Object,
        on_progress: impl Fn(u64) + 'static,
    ) -> Result<JsValue, String> {
        let id = self.next_id();
        let mut on_progress: Option<Box<dyn Fn(u64)>> = Some(Box::new(on_progress));
        let result = Promise::new(&mut |resolve, reject| {
            if let Some(on_progress) = on_progress.take() {
                let entry = Pending {
                    resolve,
                    reject,
                    on_progress,
                };
                self.pending.borrow_mut().insert(id, entry);
            }
        });
        let _ = Reflect::set(&message, &"id".into(), &JsValue::from(id));
        if let Err(e) = self.worker.post_message(&message) {
            self.pending.borrow_mut().remove(&id);
            return Err(super::http::describe_js_error(&e));
        }
        let mut waiting = Waiting {
            worker: self,
            id,
            answered: false,
        };
        let answer = JsFuture::from(result).await;
        waiting.answered = true;
        answer.map_err(|e| super::http::describe_js_error(&e))
    }
}

/// A request's message: `{blob}` plus `fields`.
fn request(blob: &Blob, fields: &[(&str, JsValue)]) -> Object {
    let message = Object::new();
    let _ = Reflect::set(&message, &"blob".into(), blob);
    for (name, value) in fields {
        let _ = Reflect::set(&message, &(*name).into(), value);
    }
    message
}

/// A request the page waits for. Dropped unanswered, it tells the worker to stop.
struct Waiting<'a> {
    worker: &'a HashWorker,
    id: u32,
    answered: bool,
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        if self.answered {
            return;
        }
        self.worker.pending.borrow_mut().remove(&self.id);
        let message = Object::new();
        let _ = Reflect::set(&message, &"cancel".into(), &JsValue::from(self.id));
        let _ = self.worker.worker.post_message(&message);
    }
}

impl Drop for HashWorker {
    fn drop(&mut self) {
        // Its handlers go with it: a message already queued for the page must not call a
        // dropped closure.
        self.worker.set_onmessage(None);
        self.worker.set_onerror(None);
        self.worker.terminate();
    }
}

fn field(object: &JsValue, name: &str) -> JsValue {
    Reflect::get(object, &JsValue::from_str(name)).unwrap_or(JsValue::UNDEFINED)
}

/// Worker side: answers hash requests posted by a `HashWorker`. Call it once from the
/// worker script after the wasm module is initialised.
#[wasm_bindgen(js_name = serveHashRequests)]
pub fn serve_hash_requests() -> Result<(), JsError> {
    let scope: DedicatedWorkerGlobalScope = js_sys::global()
        .dyn_into()
        .map_err(|_| JsError::new("serveHashRequests must run in a dedicated worker"))?;
    let reply_scope = scope.clone();
    // Requests the page stopped waiting for; their hashing stops at the next slice.
    let cancelled: Rc<RefCell<SmallMap<u32, ()>>> = Rc::default();
    // The hashes of files sent while they are hashed, by the page's number for each.
    let uploads: Rc<UploadHashes> = Rc::default();
    let on_message = Closure::<dyn FnMut(MessageEvent)>::new(move |event: MessageEvent| {
        let scope = reply_scope.clone();
        let data = event.data();
        if !field(&data, "module").is_undefined() {
            return;
        }
        if let Some(id) = field(&data, "cancel").as_f64() {
            cancelled.borrow_mut().insert(id as u32, ());
            return;
        }
        if let Some(upload) = field(&data, "endUpload").as_f64() {
            uploads.end(upload as u32);
            return;
        }
        let id = field(&data, "id");
        let Ok(blob) = field(&data, "blob").dyn_into::<Blob>() else {
            post(&scope, &id, "error", &"the message carried no file".into());
            return;
        };
        let key = id.as_f64().unwrap_or(-1.0) as u32;
        let algorithm = field(&data, "algorithm").as_string();
        let cancelled = cancelled.clone();
        if let Some(upload) = field(&data, "upload").as_f64() {
            let upload = upload as u32;
            let uploads = uploads.clone();
            let start = field(&data, "start").as_f64().unwrap_or(0.0) as u64;
            let end = field(&data, "end").as_f64().unwrap_or(0.0) as u64;
            wasm_bindgen_futures::spawn_local(async move {
                let stopped = || cancelled.borrow().contains_key(&key);
                let mut hash = uploads.take(upload);
                let result = hash
                    .chunk(&blob, start..end, algorithm.as_deref(), &stopped)
                    .await;
                // One the page stopped waiting for is over (its end follows): dropped.
                if cancelled.borrow_mut().remove(&key).is_none() {
                    uploads.put_back(upload, hash);
                }
                match result {
                    Ok(Some(hashed)) => {
                        let message = Object::new();
                        let _ = Reflect::set(&message, &"id".into(), &id);
                        let _ = Reflect::set(&message, &"digest".into(), &hashed.digest.into());
                        let file = hashed.file_sha256.into();
                        let _ = Reflect::set(&message, &"fileDigest".into(), &file);
                        let _ = scope.post_message(&message);
                    }
                    Ok(None) => {}
                    Err(e) => post(&scope, &id, "error", &e.to_string().into()),
                }
            });
            return;
        }
        wasm_bindgen_futures::spawn_local(async move {
            let stopped = || cancelled.borrow().contains_key(&key);
            let result = match &algorithm {
                Some(algorithm) => chunk_digest(&blob, algorithm).await.map(Some),
                None => {
                    sha256_of_blob_until(
                        &blob,
                        |done| post(&scope, &id, "progress", &JsValue::from_f64(done as f64)),
                        stopped,
                    )
                    .await
                }
            };
            cancelled.borrow_mut().remove(&key);
            match result {
                Ok(Some(digest)) => post(&scope, &id, "digest", &digest.into()),
                Ok(None) => {}
                Err(e) => post(&scope, &id, "error", &e.to_string().into()),
            }
        });
    });
    scope.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
    // The handler lives as long as the worker does.
    on_message.forget();

    let ready = Object::new();
    let _ = Reflect::set(&ready, &"ready".into(), &JsValue::TRUE);
    scope
        .post_message(&ready)
        .map_err(|e| JsError::new(&super::http::describe_js_error(&e)))
}

fn post(scope: &DedicatedWorkerGlobalScope, id: &JsValue, key: &str, value: &JsValue) {
    let message = Object::new();
    let _ = Reflect::set(&message, &"id".into(), id);
    let _ = Reflect::set(&message, &key.into(), value);
    let _ = scope.post_message(&message);
}

/// Several hashing workers: files are hashed in parallel on a multi-core device, each
/// request going to the least busy worker.
///
/// Where `Worker` does not exist (a service worker in Chromium, which cannot start
/// workers), the pool has no workers and hashes in the current thread instead, still
/// streaming the file in slices. That thread is never a page's main thread: a page
/// always has `Worker`.
pub struct HashPool {
    workers: Vec<(HashWorker, Cell<usize>)>,
}

/// Whether this global scope can start dedicated workers.
fn can_start_workers() -> bool {
    Reflect::get(&js_sys::global(), &"Worker".into())
        .map(|w| w.is_function())
        .unwrap_or(false)
}

impl HashPool {
    /// `min(hardwareConcurrency - 1, 4)` workers, at least one: the page keeps a core.
    pub fn default_size() -> usize {
        let cores = Reflect::get(&js_sys::global(), &"navigator".into())
            .and_then(|n| Reflect::get(&n, &"hardwareConcurrency".into()))
            .ok()
            .and_then(|c| c.as_f64())
            .unwrap_or(2.0) as usize;
        cores.saturating_sub(1).clamp(1, 4)
    }

    /// Starts `size` workers from the script at `url`, or none where this scope cannot
    /// start workers (then files are hashed in this thread).
    pub async fn start(url: &str, size: usize) -> Result<Self, JsValue> {
        if !can_start_workers() {
            return Ok(Self {
                workers: Vec::new(),
            });
        }
        // Started together: each loads and compiles the engine, which takes a while.
        let started = crate::join_all::join_all((0..size.max(1)).map(|_| HashWorker::start(url)));
        let workers = started
            .await
            .into_iter()
            .map(|worker| Ok((worker?, Cell::new(0))))
            .collect::<Result<_, JsValue>>()?;
        Ok(Self { workers })
    }

    /// How many files are hashed at once: one per worker, or one in this thread.
    pub fn size(&self) -> usize {
        self.workers.len().max(1)
    }

    /// The SHA-256 of `blob`, hashed on the least busy worker, or in this thread without
    /// workers.
    pub async fn sha256(
        &self,
        blob: &Blob,
        on_progress: impl Fn(u64) + 'static,
    ) -> Result<String, String> {
        let Some((worker, _busy)) = self.least_busy() else {
            return sha256_of_blob(blob, on_progress)
                .await
                .map_err(|e| e.to_string());
        };
        let answer = worker.ask(request(blob, &[]), on_progress).await?;
        Ok(field(&answer, "digest").as_string().unwrap_or_default())
    }

    /// The digest of one upload chunk for its checksum header, in `algorithm` (a WebCrypto
    /// name; see `hash::chunk_digest`).
    pub async fn chunk_digest(&self, chunk: &Blob, algorithm: &str) -> Result<String, String> {
        match self.least_busy() {
            Some((worker, _busy)) => {
                let message = request(chunk, &[("algorithm", algorithm.into())]);
                let answer = worker.ask(message, |_| {}).await?;
                Ok(field(&answer, "digest").as_string().unwrap_or_default())
            }
            None => chunk_digest(chunk, algorithm)
                .await
                .map_err(|e| e.to_string()),
        }
    }

    /// The SHA-256 of a file sent while it is hashed, built from its upload's chunks in one
    /// worker (see `upload_hash`), which counts as busy until it is dropped.
    pub fn upload_hash(&self) -> UploadHashing<'_> {
        let at = match self.least_busy() {
            Some((worker, busy)) => {
                let number = worker.next_id();
                UploadHashAt::Worker {
                    worker,
                    number,
                    _busy: busy,
                }
            }
            None => UploadHashAt::Here(UploadHashes::default()),
        };
        UploadHashing {
            at,
            file_sha256: RefCell::default(),
        }
    }

    /// The least busy worker, counted busy until the guard is dropped (so a cancelled hash
    /// frees it in the count too); `None` without workers.
    fn least_busy(&self) -> Option<(&HashWorker, Busy<'_>)> {
        let (worker, busy) = self.workers.iter().min_by_key(|(_, busy)| busy.get())?;
        busy.set(busy.get() + 1);
        Some((worker, Busy(busy)))
    }
}

struct Busy<'a>(&'a Cell<usize>);

impl Drop for Busy<'_> {
    fn drop(&mut self) {
        self.0.set(self.0.get() - 1);
    }
}

/// The SHA-256 of one file sent while it is hashed, taken from the chunks of its upload.
pub struct UploadHashing<'a> {
    at: UploadHashAt<'a>,
    /// Once every byte was taken.
    file_sha256: RefCell<Option<String>>,
}

enum UploadHashAt<'a> {
    Worker {
        worker: &'a HashWorker,
        number: u32,
        _busy: Busy<'a>,
    },
    /// In this thread, which has no workers (see `HashPool`).
    Here(UploadHashes),
}

impl UploadHashing<'_> {
    /// The `algorithm` digest (a WebCrypto name) of bytes `range` of `file`, if one is
    /// asked for, read once in the worker, where the file's SHA-256 takes them too.
    pub async fn chunk(
        &self,
        file: &Blob,
        range: std::ops::Range<u64>,
        algorithm: Option<&str>,
    ) -> Result<Option<String>, String> {
        let (digest, file_sha256) = match &self.at {
            UploadHashAt::Worker { worker, number, .. } => {
                let mut fields = vec![
                    ("upload", JsValue::from(*number)),
                    ("start", JsValue::from_f64(range.start as f64)),
                    ("end", JsValue::from_f64(range.end as f64)),
                ];
                if let Some(algorithm) = algorithm {
                    fields.push(("algorithm", algorithm.into()));
                }
                let answer = worker.ask(request(file, &fields), |_| {}).await?;
                (
                    field(&answer, "digest").as_string(),
                    field(&answer, "fileDigest").as_string(),
                )
            }
            UploadHashAt::Here(hashes) => {
                let mut hash = hashes.take(0);
                let hashed = hash.chunk(file, range, algorithm, &|| false).await;
                hashes.put_back(0, hash);
                let hashed = hashed.map_err(|e| e.to_string())?;
                let hashed = hashed.ok_or("stopped")?;
                (hashed.digest, hashed.file_sha256)
            }
        };
        if file_sha256.is_some() {
            *self.file_sha256.borrow_mut() = file_sha256;
        }
        Ok(digest)
    }

    /// The file's SHA-256: what its chunks gave, or (after an upload that did not send
    /// them all here, say one found complete on the server) the rest of it read now.
    pub async fn finish(&self, file: &Blob) -> Result<String, String> {
        if let Some(digest) = self.file_sha256.borrow().clone() {
            return Ok(digest);
        }
        let end = file.size() as u64;
        self.chunk(file, end..end, None).await?;
        self.file_sha256
            .borrow()
            .clone()
            .ok_or_else(|| "the file's hash did not end".to_string())
    }
}

impl Drop for UploadHashing<'_> {
    fn drop(&mut self) {
        if let UploadHashAt::Worker { worker, number, .. } = &self.at {
            let message = Object::new();
            let _ = Reflect::set(&message, &"endUpload".into(), &JsValue::from(*number));
            let _ = worker.worker.post_message(&message);
        }
    }
}

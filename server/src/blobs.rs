//! Where bytes live: the `Storage` trait, and its local-disk implementation (the default).
//! `s3.rs` is the other one: S3-compatible object storage, shared by several instances.
//!
//! On disk, partial uploads live in `uploads/<upload-id>`; completed content lives in
//! `blobs/<first 2 hex>/<sha256 hex>`, content-addressed and shared between users.
//! A blob appears only by `rename` of an fsynced file, so it is never half-written.
//! Thumbnails live in `thumbs/gen/<first 2 hex>/<sha256 hex>.webp` (made by the server from
//! a blob, shared like the blob) and `thumbs/asset/<asset id>` (uploaded by the client).
//!
//! Callers pass only ids the server generated (validated hex), never client paths.

use std::io::{self, Read, Seek};
use std::ops::Range;
use std::path::{Path, PathBuf};

use async_trait::async_trait;
use bytes::Bytes;
use futures_util::stream::BoxStream;
use sha2::{Digest, Sha256};
use tokio::fs::{self, File, OpenOptions};
use tokio::io::{AsyncSeekExt, AsyncWriteExt};

use crate::db;

/// A thumbnail: made by the server from a blob, or uploaded by the client for an asset.
#[derive(Debug, Clone, Copy)]
pub enum Thumb<'a> {
    Generated { sha256: &'a str },
    Client { asset_id: &'a str },
}

/// A blob opened for blocking reads (metadata, thumbnails), inside `spawn_blocking`.
pub trait BlobReader: Read + Seek + Send {}
impl<T: Read + Seek + Send> BlobReader for T {}

/// What the catalog records with an acknowledged offset, so that any instance can go on.
#[derive(Debug, Default)]
pub struct Progress {
    /// The upload's new store state (`uploads.store_state`); `None`: unchanged.
    pub state: Option<String>,
    /// Parts finished by this chunk: `(part index, ETag)`.
    pub parts: Vec<(i64, String)>,
    /// Objects the previous state named and the new one does not: `Storage::forget` them
    /// once the new state is recorded.
    pub stale: Vec<String>,
}

/// Appends one chunk to an unfinished upload, at its acknowledged offset.
#[async_trait]
pub trait ChunkWriter: Send {
    async fn write(&mut self, data: Bytes) -> io::Result<()>;
    /// Makes every byte written durable in the store; only then may the offset move.
    async fn commit(&mut self) -> io::Result<Progress>;
    /// Forgets every byte written: the upload is as it was at its acknowledged offset.
    async fn rollback(&mut self) -> io::Result<()>;
}

/// Blobs, thumbnails and unfinished uploads. Every method is safe to call again after a
/// crash midway; "missing" is never an error for a delete.
#[async_trait]
pub trait Storage: Send + Sync + std::fmt::Debug {
    /// Makes room for a new upload of at most `max_length` bytes. Returns its store state
    /// for the catalog (`None`: the store keeps none).
    async fn create_partial(&self, upload_id: &str, max_length: u64) -> io::Result<Option<String>>;
    /// A writer at `upload.upload_offset`; bytes past it that were never acknowledged are
    /// dropped.
    async fn open_writer(&self, upload: &db::Upload) -> io::Result<Box<dyn ChunkWriter>>;
    /// Deletes objects a recorded `Progress::stale` named.
    async fn forget(&self, stale: Vec<String>) -> io::Result<()>;
    /// Whether the upload's bytes are still held as a partial upload (not yet promoted).
    async fn partial_exists(&self, upload: &db::Upload) -> io::Result<bool>;
    /// SHA-256 (lowercase hex) of the whole partial upload, read back from the store.
    async fn hash_partial(&self, upload: &db::Upload, parts: &[String]) -> io::Result<String>;
    async fn discard_partial(&self, upload: &db::Upload) -> io::Result<()>;
    /// Makes a fully received upload the blob `sha256` (`parts`: its recorded part ETags).
    /// If that content is already stored, the partial upload is simply dropped.
    async fn promote(&self, upload: &db::Upload, parts: &[String], sha256: &str) -> io::Result<()>;

    /// The blob's size in bytes.
    async fn blob_len(&self, sha256: &str) -> io::Result<u64>;
    /// The blob's bytes in `range`.
    async fn read_blob(
        &self,
        sha256: &str,
        range: Range<u64>,
    ) -> io::Result<BoxStream<'static, io::Result<Bytes>>>;
    /// The blob for blocking reads; call from `spawn_blocking`.
    fn open_blob_blocking(&self, sha256: &str) -> io::Result<Box<dyn BlobReader>>;
    /// The blob's file, if it is one (originals are then served with `ServeFile`).
    fn blob_file(&self, sha256: &str) -> Option<PathBuf>;
    /// Deletes a blob and its server-made thumbnail (callers check first that nothing
    /// references it).
    async fn remove_blob(&self, sha256: &str) -> io::Result<()>;

    /// `None` if there is no such thumbnail.
    async fn read_thumb(&self, thumb: Thumb<'_>) -> io::Result<Option<Vec<u8>>>;
    /// Writes a thumbnail whole or not at all.
    async fn write_thumb(&self, thumb: Thumb<'_>, bytes: &[u8]) -> io::Result<()>;
    async fn remove_thumb(&self, thumb: Thumb<'_>) -> io::Result<()>;
}

/// The local-disk store under the data directory (the default, one instance).
#[derive(Debug, Clone)]
pub struct DiskStore {
    uploads: PathBuf,
    blobs: PathBuf,
    thumbs: PathBuf,
}

impl DiskStore {
    /// Creates `uploads/`, `blobs/` and `thumbs/` under `data_dir` if missing.
    pub async fn open(data_dir: &Path) -> io::Result<Self> {
        let store = Self {
            uploads: data_dir.join("uploads"),
            blobs: data_dir.join("blobs"),
            thumbs: data_dir.join("thumbs"),
        };
        fs::create_dir_all(&store.uploads).await?;
        fs::create_dir_all(&store.blobs).await?;
        fs::create_dir_all(store.thumbs.join("gen")).await?;
        fs::create_dir_all(store.thumbs.join("asset")).await?;
        Ok(store)
    }

    pub fn partial_path(&self, upload_id: &str) -> PathBuf {
        self.uploads.join(upload_id)
    }

    pub fn blob_path(&self, sha256_hex: &str) -> PathBuf {
        self.blobs.join(&sha256_hex[..2]).join(sha256_hex)
    }

    fn thumb_path(&self, thumb: Thumb<'_>) -> PathBuf {
        match thumb {
            Thumb::Generated { sha256 } => self
                .thumbs
                .join("gen")
                .join(&sha256[..2])
                .join(format!("{sha256}.webp")),
            Thumb::Client { asset_id } => self.thumbs.join("asset").join(asset_id),
        }
    }

    /// Writes `bytes` to `path` whole or not at all: temp file, fsync, rename.
    async fn write_atomic(&self, path: &Path, bytes: &[u8]) -> io::Result<()> {
        let dir = path.parent().expect("thumbnail paths have a parent");
        fs::create_dir_all(dir).await?;
        let tmp = dir.join(format!(".tmp-{}", uuid::Uuid::new_v4().simple()));
        let result = async {
            let mut file = File::create(&tmp).await?;
            file.write_all(bytes).await?;
            file.sync_all().await?;
            fs::rename(&tmp, path).await?;
            sync_dir(dir).await
        }
        .await;
        if result.is_err() {
            let _ = fs::remove_file(&tmp).await;
        }
        result
    }
}

/// Deletes a file if it exists.
async fn remove_file(path: &Path) -> io::Result<()> {
    match fs::remove_file(path).await {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// Appends to `uploads/<id>`; a chunk that is not kept is cut off again.
struct DiskWriter {
    file: File,
    start: u64,
    /// `uploads/`, whose entry for this file is made durable with the file's first bytes
    /// (`Some` while the writer starts at offset 0).
    new_entry_in: Option<PathBuf>,
}

#[async_trait]
impl ChunkWriter for DiskWriter {
    async fn write(&mut self, data: Bytes) -> io::Result<()> {
        self.file.write_all(&data).await
    }

    async fn commit(&mut self) -> io::Result<Progress> {
        // A full disk may only show here (delayed allocation).
        self.file.flush().await?;
        self.file.sync_all().await?;
        if let Some(dir) = &self.new_entry_in {
            // The file's name, made when its upload was (`create_partial`, which syncs
            // nothing): durable now, before the first offset that names its bytes.
            sync_dir(dir).await?;
        }
        Ok(Progress::default())
    }

    async fn rollback(&mut self) -> io::Result<()> {
        let _ = self.file.flush().await;
        self.file.set_len(self.start).await?;
        self.file.sync_all().await
    }
}

#[async_trait]
impl Storage for DiskStore {
    /// Makes the empty partial file, and syncs nothing: an empty file holds no byte
    /// anyone was told is stored, and the row (written first) is what says the upload
    /// exists. If a crash takes the file, the upload is still at offset 0, and
    /// `open_writer` makes it again. The file's first bytes and its name are synced
    /// together, by the writer's first `commit`. (This was an fsync of the empty file and
    /// one of `uploads/` for every upload, before any byte arrived.)
    async fn create_partial(
        &self,
        upload_id: &str,
        _max_length: u64,
    ) -> io::Result<Option<String>> {
        File::create(self.partial_path(upload_id)).await?;
        Ok(None)
    }

    /// At offset 0 a missing partial file is made again (see `create_partial`); past it,
    /// the file holds acknowledged bytes, and a missing one is an error, never recreated.
    async fn open_writer(&self, upload: &db::Upload) -> io::Result<Box<dyn ChunkWriter>> {
        let offset = upload.upload_offset as u64;
        let mut file = OpenOptions::new()
            .write(true)
            .create(offset == 0)
            .truncate(false)
            .open(self.partial_path(&upload.id))
            .await?;
        file.set_len(offset).await?;
        file.seek(io::SeekFrom::Start(offset)).await?;
        Ok(Box::new(DiskWriter {
            file,
            start: offset,
            new_entry_in: (offset == 0).then(|| self.uploads.clone()),
        }))
    }

    async fn forget(&self, _stale: Vec<String>) -> io::Result<()> {
        Ok(())
    }

    async fn partial_exists(&self, upload: &db::Upload) -> io::Result<bool> {
        let path = self.partial_path(&upload.id);
        if fs::try_exists(&path).await? {
            return Ok(true);
        }
        if upload.upload_offset == 0 && upload.content_sha256.is_none() {
            // An empty upload (completed with no bytes) whose unsynced empty file a crash
            // took (`create_partial`): nothing was lost; make it again, and sync it, as
            // `promote` moves it into place next.
            File::create(&path).await?.sync_all().await?;
            return Ok(true);
        }
        Ok(false)
    }

    async fn hash_partial(&self, upload: &db::Upload, _parts: &[String]) -> io::Result<String> {
        let path = self.partial_path(&upload.id);
        tokio::task::spawn_blocking(move || {
            let mut file = std::fs::File::open(path)?;
            let mut hasher = Sha256::new();
            io::copy(&mut file, &mut hasher)?;
            Ok(hex::encode(hasher.finalize()))
        })
        .await
        .map_err(io::Error::other)?
    }

    async fn discard_partial(&self, upload: &db::Upload) -> io::Result<()> {
        remove_file(&self.partial_path(&upload.id)).await
    }

    async fn promote(
        &self,
        upload: &db::Upload,
        _parts: &[String],
        sha256: &str,
    ) -> io::Result<()> {
        let blob = self.blob_path(sha256);
        if fs::try_exists(&blob).await? {
            return self.discard_partial(upload).await;
        }
        let dir = blob.parent().expect("blob paths have a parent");
        match fs::create_dir(dir).await {
            // A new `blobs/xx/` must itself be durable in `blobs/` (256 times in all).
            Ok(()) => sync_dir(&self.blobs).await?,
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e),
        }
        fs::rename(self.partial_path(&upload.id), &blob).await?;
        // The blob's name is durable with `blobs/xx/` synced. `uploads/` is not synced
        // for the name that left it (that was one more fsync per upload): should a crash
        // bring `uploads/<id>` back, its row is complete, so it is never written again,
        // and the expiry sweep deletes the file with the row.
        sync_dir(dir).await
    }

    async fn blob_len(&self, sha256: &str) -> io::Result<u64> {
        Ok(fs::metadata(self.blob_path(sha256)).await?.len())
    }

    async fn read_blob(
        &self,
        sha256: &str,
        range: Range<u64>,
    ) -> io::Result<BoxStream<'static, io::Result<Bytes>>> {
        use futures_util::StreamExt;
        use tokio::io::AsyncReadExt;
        let mut file = File::open(self.blob_path(sha256)).await?;
        file.seek(io::SeekFrom::Start(range.start)).await?;
        let reader = file.take(range.end - range.start);
        Ok(stream_of(reader).boxed())
    }

    fn open_blob_blocking(&self, sha256: &str) -> io::Result<Box<dyn BlobReader>> {
        Ok(Box::new(std::fs::File::open(self.blob_path(sha256))?))
    }

    fn blob_file(&self, sha256: &str) -> Option<PathBuf> {
        Some(self.blob_path(sha256))
    }

    async fn remove_blob(&self, sha256: &str) -> io::Result<()> {
        remove_file(&self.thumb_path(Thumb::Generated { sha256 })).await?;
        remove_file(&self.blob_path(sha256)).await
    }

    async fn read_thumb(&self, thumb: Thumb<'_>) -> io::Result<Option<Vec<u8>>> {
        match fs::read(self.thumb_path(thumb)).await {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn write_thumb(&self, thumb: Thumb<'_>, bytes: &[u8]) -> io::Result<()> {
        self.write_atomic(&self.thumb_path(thumb), bytes).await
    }

    async fn remove_thumb(&self, thumb: Thumb<'_>) -> io::Result<()> {
        remove_file(&self.thumb_path(thumb)).await
    }
}

/// An `AsyncRead` as a stream of 64 KiB buffers.
fn stream_of(
    reader: impl tokio::io::AsyncRead + Send + Unpin + 'static,
) -> impl futures_util::Stream<Item = io::Result<Bytes>> + Send {
    futures_util::stream::unfold(reader, |mut reader| async move {
        use tokio::io::AsyncReadExt;
        let mut buf = vec![0u8; 64 * 1024];
        match reader.read(&mut buf).await {
            Ok(0) => None,
            Ok(n) => {
                buf.truncate(n);
                Some((Ok(Bytes::from(buf)), reader))
            }
            Err(e) => Some((Err(e), reader)),
        }
    })
}

/// Makes a rename or create in `dir` durable.
async fn sync_dir(dir: &Path) -> io::Result<()> {
    let dir = dir.to_owned();
    tokio::task::spawn_blocking(move || std::fs::File::open(dir)?.sync_all())
        .await
        .map_err(io::Error::other)?
}

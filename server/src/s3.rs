//! Blobs, thumbnails and unfinished uploads in an S3-compatible bucket (`--blobs
//! s3://bucket?endpoint=...`), through `object_store`, so that several instances share them
//! and no upload lives on one instance's disk.
//!
//! Keys: `blobs/<2 hex>/<sha256>`, `thumbs/gen/<2 hex>/<sha256>.webp`,
//! `thumbs/asset/<asset id>`, and for an unfinished upload `uploads/<id>/data` (the target
//! of its S3 multipart upload) and `uploads/<id>/tail-<random>`.
//!
//! **Chunks onto parts.** S3 parts are at least 5 MiB (except the last) and at most 10,000,
//! while a tus or RUFH chunk can be any size. Each upload gets a fixed part size when it is
//! created: 5 MiB, or more when the upload could otherwise need over 10,000 parts (its
//! length, or the server's maximum while RUFH defers the length). A chunk's bytes are cut
//! into parts of exactly that size, each sent with UploadPart as soon as it is full; what is
//! left below a part (the tail) is written as one object of its own, `tail-<random>`, and the
//! next chunk starts by reading it back. Completion sends the tail as the last part.
//! Why a tail object rather than the tail in the database or a small last part:
//! - a part below 5 MiB cannot be followed by another, so a short chunk's bytes cannot be
//!   a part until we know more bytes follow, yet they must be durable before the offset is
//!   acknowledged;
//! - the tail is under one part (5 MiB), which is too large a value to rewrite in a
//!   PostgreSQL row on every chunk, and it belongs with the other bytes in the object store;
//! - each write of the tail is a new key (a PUT is atomic), and the catalog names the
//!   current one with the offset in one statement: a crash between the PUT and the
//!   statement leaves an unnamed object (deleted with the upload), never a tail that
//!   disagrees with the offset.
//!
//! The cost is that tail bytes are written again by the next chunk (at most one part's worth
//! per chunk); with ferry's own chunks (8 MiB to start) that is under half the bytes again.
//! Parts sent during a chunk that is then not kept (bad checksum) are not recorded; the
//! next chunk sends those part numbers again, and S3 keeps the last one sent.
//!
//! **Completion.** An upload with no full part is put as one object at its blob key. Else
//! the tail becomes the last part, the multipart upload is completed at `uploads/<id>/data`,
//! and that object is copied to its blob key: with CopyObject inside S3 up to 5 GiB (AWS's
//! limit for it), above that by reading it back into a new multipart upload.

use std::io::{self, Read, Seek, SeekFrom};
use std::ops::Range;
use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;
use bytes::{Bytes, BytesMut};
use futures_util::stream::BoxStream;
use futures_util::{StreamExt, TryStreamExt};
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::multipart::{MultipartStore, PartId};
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::blobs::{BlobReader, ChunkWriter, Progress, Storage, Thumb};
use crate::db;

/// S3's smallest part (but the last).
pub const MIN_PART: u64 = 5 << 20;
/// S3's most parts in one upload.
pub const MAX_PARTS: u64 = 10_000;
/// The largest object AWS copies with one CopyObject.
const COPY_OBJECT_LIMIT: u64 = 5 << 30;

/// The part size of an upload of at most `max_length` bytes: 5 MiB, or the next MiB that
/// keeps it within 10,000 parts.
pub fn part_size(max_length: u64) -> u64 {
    let needed = max_length.div_ceil(MAX_PARTS);
    needed
        .div_ceil(1 << 20)
        .saturating_mul(1 << 20)
        .max(MIN_PART)
}

/// What the catalog keeps of an unfinished upload in S3 (`uploads.store_state`, JSON); its
/// finished parts' ETags are rows of `upload_parts`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct UploadState {
    multipart: String,
    part_size: u64,
    /// The key of the bytes after the last full part, if any.
    tail: Option<String>,
}

impl UploadState {
    fn of(upload: &db::Upload) -> io::Result<Self> {
        let state = upload.store_state.as_deref().ok_or_else(|| {
            io::Error::other(format!("upload {} has no S3 multipart upload", upload.id))
        })?;
        serde_json::from_str(state).map_err(io::Error::other)
    }
}

/// An S3 bucket as ferry's store.
#[derive(Debug, Clone)]
pub struct S3Store {
    s3: Arc<AmazonS3>,
    /// The bucket, for messages.
    bucket: String,
    copy_limit: u64,
}

impl S3Store {
    /// `s3://BUCKET?endpoint=URL[&region=R]`; credentials and other settings from the
    /// environment (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_REGION`, ...).
    /// Without `endpoint`, AWS itself. An `http://` endpoint is allowed (loopback tests).
    pub fn open(url: &str) -> io::Result<Self> {
        let bad = |why: &str| {
            io::Error::new(io::ErrorKind::InvalidInput, format!("--blobs {url}: {why}"))
        };
        let rest = url
            .strip_prefix("s3://")
            .ok_or_else(|| bad("expected s3://bucket?endpoint=..."))?;
        let (bucket, query) = rest.split_once('?').unwrap_or((rest, ""));
        let bucket = bucket.trim_end_matches('/');
        if bucket.is_empty() || bucket.contains('/') {
            return Err(bad("name a bucket, and no path inside it"));
        }
        let mut builder = AmazonS3Builder::from_env().with_bucket_name(bucket);
        let mut has_region = std::env::var_os("AWS_REGION").is_some()
            || std::env::var_os("AWS_DEFAULT_REGION").is_some();
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            let value = percent_decode(value);
            match key {
                "endpoint" => {
                    builder = builder
                        .with_allow_http(value.starts_with("http://"))
                        .with_endpoint(value);
                }
                "region" => {
                    has_region = true;
                    builder = builder.with_region(value);
                }
                other => return Err(bad(&format!("unknown setting {other:?}"))),
            }
        }
        if !has_region {
            builder = builder.with_region("us-east-1");
        }
        let s3 = builder.build().map_err(|e| bad(&e.to_string()))?;
        Ok(Self {
            s3: Arc::new(s3),
            bucket: bucket.to_owned(),
            copy_limit: COPY_OBJECT_LIMIT,
        })
    }

    /// Copies objects above `bytes` by reading them back instead of with CopyObject (the
    /// tests use it to take that path without 5 GiB uploads).
    pub fn with_copy_limit(mut self, bytes: u64) -> Self {
        self.copy_limit = bytes;
        self
    }

    /// Fails unless the bucket answers with these credentials (checked at start, so a
    /// misconfigured instance stops at once instead of failing its first upload).
    pub async fn check(&self) -> io::Result<()> {
        let probe = Path::from("ferry-check");
        self.s3
            .put(&probe, PutPayload::from_static(b"ok"))
            .await
            .map_err(|e| io::Error::other(format!("bucket {}: {e}", self.bucket)))?;
        Ok(())
    }

    fn data_key(upload_id: &str) -> Path {
        Path::from(format!("uploads/{upload_id}/data"))
    }

    fn blob_key(sha256: &str) -> Path {
        Path::from(format!("blobs/{}/{sha256}", &sha256[..2]))
    }

    fn thumb_key(thumb: Thumb<'_>) -> Path {
        match thumb {
            Thumb::Generated { sha256 } => {
                Path::from(format!("thumbs/gen/{}/{sha256}.webp", &sha256[..2]))
            }
            Thumb::Client { asset_id } => Path::from(format!("thumbs/asset/{asset_id}")),
        }
    }

    async fn exists(&self, key: &Path) -> io::Result<bool> {
        match self.s3.head(key).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    async fn delete(&self, key: &Path) -> io::Result<()> {
        match self.s3.delete(key).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    async fn tail_bytes(&self, state: &UploadState, len: u64) -> io::Result<Bytes> {
        match (&state.tail, len) {
            (_, 0) => Ok(Bytes::new()),
            (Some(key), len) => Ok(self.s3.get_range(&Path::from(key.as_str()), 0..len).await?),
            (None, len) => Err(io::Error::other(format!(
                "{len} bytes after the last part, but no tail object"
            ))),
        }
    }

    /// Copies the object `from` (`size` bytes) to `to`.
    async fn copy(&self, from: &Path, to: &Path, size: u64) -> io::Result<()> {
        if size <= self.copy_limit {
            return Ok(self.s3.copy(from, to).await?);
        }
        let upload = self.s3.put_multipart(to).await?;
        let mut writer = object_store::WriteMultipart::new_with_chunk_size(upload, 64 << 20);
        let mut stream = self.s3.get(from).await?.into_stream();
        while let Some(bytes) = stream.try_next().await? {
            // At most two parts in flight: memory stays bounded.
            writer.wait_for_capacity(2).await?;
            writer.put(bytes);
        }
        writer.finish().await?;
        Ok(())
    }

    /// Completes the multipart upload at `uploads/<id>/data` (unless that was done before a
    /// crash) and returns its key.
    async fn assemble(&self, upload: &db::Upload, parts: &[String]) -> io::Result<Path> {
        let data = Self::data_key(&upload.id);
        if self.exists(&data).await? {
            return Ok(data);
        }
        let state = UploadState::of(upload)?;
        let full = parts.len() as u64 * state.part_size;
        let tail_len = (upload.upload_offset as u64)
            .checked_sub(full)
            .ok_or_else(|| {
                io::Error::other(format!("upload {}: more parts than bytes", upload.id))
            })?;
        let mut ids: Vec<PartId> = parts
            .iter()
            .map(|etag| PartId {
                content_id: etag.clone(),
            })
            .collect();
        if tail_len > 0 || ids.is_empty() {
            let tail = self.tail_bytes(&state, tail_len).await?;
            let id = self
                .s3
                .put_part(&data, &state.multipart, ids.len(), tail.into())
                .await?;
            ids.push(id);
        }
        self.s3
            .complete_multipart(&data, &state.multipart, ids)
            .await?;
        Ok(data)
    }
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let Ok(b) = u8::from_str_radix(&s[i + 1..i + 3], 16) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Buffers a chunk into parts of `part_size`, sent as each fills; the rest becomes the
/// new tail object at `commit`.
struct S3Writer {
    s3: Arc<AmazonS3>,
    upload_id: String,
    data: Path,
    state: UploadState,
    /// Parts recorded before this chunk.
    parts_before: usize,
    /// The old tail's bytes, then this chunk's, not yet sent as a part.
    buffer: BytesMut,
    /// Parts sent during this chunk.
    sent: Vec<(i64, String)>,
    /// Whether the buffer holds anything the tail object does not.
    changed: bool,
}

impl S3Writer {
    async fn send_full_parts(&mut self) -> io::Result<()> {
        let size = self.state.part_size as usize;
        while self.buffer.len() >= size {
            let part = self.buffer.split_to(size).freeze();
            let index = self.parts_before + self.sent.len();
            let id = self
                .s3
                .put_part(&self.data, &self.state.multipart, index, part.into())
                .await?;
            self.sent.push((index as i64, id.content_id));
        }
        Ok(())
    }
}

#[async_trait]
impl ChunkWriter for S3Writer {
    async fn write(&mut self, data: Bytes) -> io::Result<()> {
        self.buffer.extend_from_slice(&data);
        self.changed = true;
        self.send_full_parts().await
    }

    async fn commit(&mut self) -> io::Result<Progress> {
        if !self.changed {
            return Ok(Progress::default());
        }
        let old_tail = self.state.tail.take();
        if !self.buffer.is_empty() {
            let key = format!(
                "uploads/{}/tail-{}",
                self.upload_id,
                uuid::Uuid::new_v4().simple()
            );
            let bytes = self.buffer.clone().freeze();
            self.s3.put(&Path::from(key.as_str()), bytes.into()).await?;
            self.state.tail = Some(key);
        }
        self.changed = false;
        Ok(Progress {
            state: Some(serde_json::to_string(&self.state).map_err(io::Error::other)?),
            parts: std::mem::take(&mut self.sent),
            stale: old_tail.into_iter().collect(),
        })
    }

    async fn rollback(&mut self) -> io::Result<()> {
        // Nothing recorded names the parts sent or the bytes buffered.
        self.buffer.clear();
        self.sent.clear();
        self.changed = false;
        Ok(())
    }
}

#[async_trait]
impl Storage for S3Store {
    async fn create_partial(&self, upload_id: &str, max_length: u64) -> io::Result<Option<String>> {
        let multipart = self.s3.create_multipart(&Self::data_key(upload_id)).await?;
        let state = UploadState {
            multipart,
            part_size: part_size(max_length),
            tail: None,
        };
        Ok(Some(
            serde_json::to_string(&state).map_err(io::Error::other)?,
        ))
    }

    async fn open_writer(&self, upload: &db::Upload) -> io::Result<Box<dyn ChunkWriter>> {
        let state = UploadState::of(upload)?;
        let offset = upload.upload_offset as u64;
        let parts_before = (offset / state.part_size) as usize;
        let tail_len = offset % state.part_size;
        let tail = self.tail_bytes(&state, tail_len).await?;
        let mut buffer = BytesMut::with_capacity(state.part_size as usize + (256 << 10));
        buffer.extend_from_slice(&tail);
        Ok(Box::new(S3Writer {
            s3: Arc::clone(&self.s3),
            upload_id: upload.id.clone(),
            data: Self::data_key(&upload.id),
            state,
            parts_before,
            buffer,
            sent: Vec::new(),
            changed: false,
        }))
    }

    async fn forget(&self, stale: Vec<String>) -> io::Result<()> {
        for key in stale {
            self.delete(&Path::from(key)).await?;
        }
        Ok(())
    }

    async fn partial_exists(&self, upload: &db::Upload) -> io::Result<bool> {
        if upload.store_state.is_none() {
            return Ok(false);
        }
        // Promoted: the blob is there (the partial upload may still be, until swept).
        match upload.content_sha256.as_deref() {
            Some(sha256) => Ok(!self.exists(&Self::blob_key(sha256)).await?),
            None => Ok(true),
        }
    }

    async fn hash_partial(&self, upload: &db::Upload, parts: &[String]) -> io::Result<String> {
        let data = self.assemble(upload, parts).await?;
        let mut stream = self.s3.get(&data).await?.into_stream();
        let mut hasher = Sha256::new();
        while let Some(bytes) = stream.try_next().await? {
            hasher.update(&bytes);
        }
        Ok(hex::encode(hasher.finalize()))
    }

    async fn discard_partial(&self, upload: &db::Upload) -> io::Result<()> {
        if let Ok(state) = UploadState::of(upload) {
            match self
                .s3
                .abort_multipart(&Self::data_key(&upload.id), &state.multipart)
                .await
            {
                // Already completed or aborted.
                Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => tracing::debug!(error = %e, "abort multipart upload"),
            }
        }
        let prefix = Path::from(format!("uploads/{}", upload.id));
        let keys: Vec<Path> = self
            .s3
            .list(Some(&prefix))
            .map_ok(|meta| meta.location)
            .try_collect()
            .await?;
        for key in keys {
            self.delete(&key).await?;
        }
        Ok(())
    }

    async fn promote(&self, upload: &db::Upload, parts: &[String], sha256: &str) -> io::Result<()> {
        let blob = Self::blob_key(sha256);
        if !self.exists(&blob).await? {
            let data = Self::data_key(&upload.id);
            if parts.is_empty() && !self.exists(&data).await? {
                // Under one part: the tail is the whole content.
                let state = UploadState::of(upload)?;
                let bytes = self.tail_bytes(&state, upload.upload_offset as u64).await?;
                self.s3.put(&blob, bytes.into()).await?;
            } else {
                let data = self.assemble(upload, parts).await?;
                self.copy(&data, &blob, upload.upload_offset as u64).await?;
            }
        }
        self.discard_partial(upload).await
    }

    async fn blob_len(&self, sha256: &str) -> io::Result<u64> {
        Ok(self.s3.head(&Self::blob_key(sha256)).await?.size)
    }

    async fn read_blob(
        &self,
        sha256: &str,
        range: Range<u64>,
    ) -> io::Result<BoxStream<'static, io::Result<Bytes>>> {
        let options = object_store::GetOptions {
            range: Some(range.into()),
            ..Default::default()
        };
        let result = self.s3.get_opts(&Self::blob_key(sha256), options).await?;
        Ok(result.into_stream().map_err(io::Error::from).boxed())
    }

    fn open_blob_blocking(&self, sha256: &str) -> io::Result<Box<dyn BlobReader>> {
        let runtime = tokio::runtime::Handle::current();
        let key = Self::blob_key(sha256);
        let len = runtime.block_on(self.s3.head(&key))?.size;
        Ok(Box::new(RangeReader {
            s3: Arc::clone(&self.s3),
            key,
            runtime,
            len,
            pos: 0,
            buffer: Bytes::new(),
            buffer_at: 0,
        }))
    }

    fn blob_file(&self, _sha256: &str) -> Option<PathBuf> {
        None
    }

    async fn remove_blob(&self, sha256: &str) -> io::Result<()> {
        self.delete(&Self::thumb_key(Thumb::Generated { sha256 }))
            .await?;
        self.delete(&Self::blob_key(sha256)).await
    }

    async fn read_thumb(&self, thumb: Thumb<'_>) -> io::Result<Option<Vec<u8>>> {
        match self.s3.get(&Self::thumb_key(thumb)).await {
            Ok(result) => Ok(Some(result.bytes().await?.to_vec())),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    async fn write_thumb(&self, thumb: Thumb<'_>, bytes: &[u8]) -> io::Result<()> {
        let payload = PutPayload::from(Bytes::copy_from_slice(bytes));
        self.s3.put(&Self::thumb_key(thumb), payload).await?;
        Ok(())
    }

    async fn remove_thumb(&self, thumb: Thumb<'_>) -> io::Result<()> {
        self.delete(&Self::thumb_key(thumb)).await
    }
}

/// Blocking `Read + Seek` over an object, by ranged GETs of at least 256 KiB (EXIF and
/// QuickTime boxes are read in small pieces at a few offsets). Only inside `spawn_blocking`.
struct RangeReader {
    s3: Arc<AmazonS3>,
    key: Path,
    runtime: tokio::runtime::Handle,
    len: u64,
    pos: u64,
    buffer: Bytes,
    buffer_at: u64,
}

const READ_AHEAD: u64 = 256 << 10;

impl Read for RangeReader {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if self.pos >= self.len || out.is_empty() {
            return Ok(0);
        }
        let buffered = self.buffer_at..self.buffer_at + self.buffer.len() as u64;
        if !buffered.contains(&self.pos) {
            let want = (out.len() as u64).max(READ_AHEAD);
            let range = self.pos..(self.pos + want).min(self.len);
            self.buffer = self.runtime.block_on(self.s3.get_range(&self.key, range))?;
            self.buffer_at = self.pos;
        }
        let from = (self.pos - self.buffer_at) as usize;
        let n = out.len().min(self.buffer.len() - from);
        out[..n].copy_from_slice(&self.buffer[from..from + n]);
        self.pos += n as u64;
        Ok(n)
    }
}

impl Seek for RangeReader {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        let pos = match to {
            SeekFrom::Start(p) => Some(p),
            SeekFrom::End(d) => self.len.checked_add_signed(d),
            SeekFrom::Current(d) => self.pos.checked_add_signed(d),
        };
        self.pos =
            pos.ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "seek before 0"))?;
        Ok(self.pos)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_are_5_mib_or_as_many_as_10000_allow() {
        assert_eq!(part_size(0), MIN_PART);
        assert_eq!(part_size(50 * MIN_PART), MIN_PART);
        assert_eq!(part_size(MAX_PARTS * MIN_PART), MIN_PART);
        let big = 64u64 << 30;
        let size = part_size(big);
        assert!(size >= MIN_PART && size % (1 << 20) == 0);
        assert!(big.div_ceil(size) <= MAX_PARTS);
        assert!(big.div_ceil(size - (1 << 20)) > MAX_PARTS);
    }

    #[test]
    fn urls_name_a_bucket_and_an_endpoint() {
        assert!(S3Store::open("s3://photos?endpoint=http%3A%2F%2F127.0.0.1%3A9000").is_ok());
        assert!(S3Store::open("s3://photos/inside?endpoint=http://x").is_err());
        assert!(S3Store::open("s3://?endpoint=http://x").is_err());
        assert!(S3Store::open("http://photos").is_err());
        assert!(S3Store::open("s3://photos?colour=blue").is_err());
        assert_eq!(percent_decode("http%3A%2F%2Fa%3A1"), "http://a:1");
    }
}

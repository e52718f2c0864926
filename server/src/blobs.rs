//! Bytes on disk. Partial uploads live in `uploads/<upload-id>`; completed content lives in
//! `blobs/<first 2 hex>/<sha256 hex>`, content-addressed and shared between users.
//! A blob appears only by `rename` of an fsynced file, so it is never half-written.
//! Thumbnails live in `thumbs/gen/<first 2 hex>/<sha256 hex>.webp` (made by the server from
//! a blob, shared like the blob) and `thumbs/asset/<asset id>` (uploaded by the client).

use std::io;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use tokio::fs::{self, File, OpenOptions};
use tokio::io::AsyncSeekExt;

#[derive(Debug, Clone)]
pub struct BlobStore {
    uploads: PathBuf,
    blobs: PathBuf,
    thumbs: PathBuf,
}

impl BlobStore {
    /// Creates `uploads/` and `blobs/` under `data_dir` if missing.
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

    /// Callers pass only ids the server generated (validated hex), never client paths.
    pub fn partial_path(&self, upload_id: &str) -> PathBuf {
        self.uploads.join(upload_id)
    }

    pub fn blob_path(&self, sha256_hex: &str) -> PathBuf {
        self.blobs.join(&sha256_hex[..2]).join(sha256_hex)
    }

    /// The server-made thumbnail of the blob `sha256_hex`.
    pub fn generated_thumb_path(&self, sha256_hex: &str) -> PathBuf {
        self.thumbs
            .join("gen")
            .join(&sha256_hex[..2])
            .join(format!("{sha256_hex}.webp"))
    }

    /// The thumbnail the client uploaded for an asset (server-made ids only).
    pub fn client_thumb_path(&self, asset_id: &str) -> PathBuf {
        self.thumbs.join("asset").join(asset_id)
    }

    /// Writes `bytes` to `path` whole or not at all: temp file, fsync, rename.
    pub async fn write_atomic(&self, path: &Path, bytes: &[u8]) -> io::Result<()> {
        let dir = path.parent().expect("thumbnail paths have a parent");
        fs::create_dir_all(dir).await?;
        let tmp = dir.join(format!(".tmp-{}", uuid::Uuid::new_v4().simple()));
        let result = async {
            let mut file = File::create(&tmp).await?;
            tokio::io::AsyncWriteExt::write_all(&mut file, bytes).await?;
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

    /// Deletes a file if it exists.
    pub async fn remove_file(&self, path: &Path) -> io::Result<()> {
        match fs::remove_file(path).await {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }

    pub async fn create_partial(&self, upload_id: &str) -> io::Result<()> {
        let file = File::create(self.partial_path(upload_id)).await?;
        file.sync_all().await?;
        sync_dir(&self.uploads).await
    }

    /// Opens the partial file for writing at `offset`, first cutting off anything past it:
    /// bytes written but never acknowledged (crash, discarded chunk) are not kept.
    /// The file must exist (`create_partial`); a missing one is an error, never recreated.
    pub async fn open_partial_at(&self, upload_id: &str, offset: u64) -> io::Result<File> {
        let mut file = OpenOptions::new()
            .write(true)
            .truncate(false)
            .open(self.partial_path(upload_id))
            .await?;
        file.set_len(offset).await?;
        file.seek(io::SeekFrom::Start(offset)).await?;
        Ok(file)
    }

    pub async fn partial_exists(&self, upload_id: &str) -> io::Result<bool> {
        fs::try_exists(self.partial_path(upload_id)).await
    }

    pub async fn discard_partial(&self, upload_id: &str) -> io::Result<()> {
        match fs::remove_file(self.partial_path(upload_id)).await {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }

    /// SHA-256 (lowercase hex) of the whole partial file.
    pub async fn hash_partial(&self, upload_id: &str) -> io::Result<String> {
        let path = self.partial_path(upload_id);
        tokio::task::spawn_blocking(move || {
            let mut file = std::fs::File::open(path)?;
            let mut hasher = Sha256::new();
            io::copy(&mut file, &mut hasher)?;
            Ok(hex::encode(hasher.finalize()))
        })
        .await
        .map_err(io::Error::other)?
    }

    /// Deletes a blob and its server-made thumbnail (callers check first that nothing
    /// references it). Missing is fine.
    pub async fn remove_blob(&self, sha256_hex: &str) -> io::Result<()> {
        self.remove_file(&self.generated_thumb_path(sha256_hex))
            .await?;
        self.remove_file(&self.blob_path(sha256_hex)).await
    }

    /// Moves a fully received, fsynced partial file into the blob store under its hash.
    /// If that content is already stored, the partial file is simply dropped.
    pub async fn promote(&self, upload_id: &str, sha256_hex: &str) -> io::Result<()> {
        let blob = self.blob_path(sha256_hex);
        if fs::try_exists(&blob).await? {
            return self.discard_partial(upload_id).await;
        }
        let dir = blob.parent().expect("blob paths have a parent");
        fs::create_dir_all(dir).await?;
        fs::rename(self.partial_path(upload_id), &blob).await?;
        sync_dir(dir).await?;
        sync_dir(&self.uploads).await
    }
}

/// Makes a rename or create in `dir` durable.
async fn sync_dir(dir: &Path) -> io::Result<()> {
    let dir = dir.to_owned();
    tokio::task::spawn_blocking(move || std::fs::File::open(dir)?.sync_all())
        .await
        .map_err(io::Error::other)?
}

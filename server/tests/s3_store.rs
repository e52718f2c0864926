//! The S3 store (`s3.rs`) on its own, against the harness's `s3s-fs`: chunks of any size
//! re-parted into fixed-size parts, resumed by a second store from the catalog's state,
//! completed byte for byte, and read back whole, by range and by seeking.
//!
//! Runs with `FERRY_TEST_BLOBS=s3` (the PostgreSQL + S3 pass of `cargo xtask test`);
//! otherwise each test says so and passes.

use std::io::{Read, Seek, SeekFrom};

use axum::body::Bytes;
use ferry_server::blobs::{Progress, Storage};
use ferry_server::db::Upload;
use ferry_server::s3::{part_size, S3Store, MIN_PART};
use futures_util::TryStreamExt;
use sha2::{Digest, Sha256};

mod common;

fn sample(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(len);
    out
}

fn store(name: &str) -> Option<(S3Store, String)> {
    if !common::on_s3() {
        eprintln!("FERRY_TEST_BLOBS is not s3: skipping {name}");
        return None;
    }
    let url = common::fresh_bucket(&format!("ferry-store-{name}-{}", std::process::id()));
    Some((S3Store::open(&url).unwrap(), url))
}

/// What the catalog keeps between chunks: the upload row's offset and store state, and
/// the parts' ETags.
#[derive(Default)]
struct Catalog {
    upload: Upload,
    parts: Vec<String>,
}

impl Catalog {
    fn record(&mut self, offset: usize, progress: Progress) {
        self.upload.upload_offset = offset as i64;
        if progress.state.is_some() {
            self.upload.store_state = progress.state;
        }
        for (index, etag) in progress.parts {
            let index = index as usize;
            assert!(index <= self.parts.len(), "parts are recorded in order");
            self.parts.truncate(index);
            self.parts.push(etag);
        }
    }
}

/// Sends `bytes[from..to]` as one chunk in `frame`-sized writes and records it.
async fn chunk(store: &S3Store, catalog: &mut Catalog, bytes: &[u8], to: usize, frame: usize) {
    let from = catalog.upload.upload_offset as usize;
    let mut writer = store.open_writer(&catalog.upload).await.unwrap();
    for piece in bytes[from..to].chunks(frame) {
        writer.write(Bytes::copy_from_slice(piece)).await.unwrap();
    }
    let progress = writer.commit().await.unwrap();
    let stale = progress.stale.clone();
    catalog.record(to, progress);
    store.forget(stale).await.unwrap();
}

#[tokio::test]
async fn one_mib_chunks_cross_part_boundaries_and_resume_on_another_store() {
    let Some((first, url)) = store("re-part") else {
        return;
    };
    let len = 3 * MIN_PART as usize + 123_456;
    let bytes = sample(len, 7);
    let mut catalog = Catalog::default();
    catalog.upload.id = "0123456789abcdef0123456789abcdef".into();
    catalog.upload.upload_length = len as i64;
    catalog.upload.store_state = first
        .create_partial(&catalog.upload.id, len as u64)
        .await
        .unwrap();
    assert_eq!(part_size(len as u64), MIN_PART);

    // 1 MiB chunks from the first store (in 64 KiB frames, as a body arrives) up to
    // 7.5 MiB: one full part, and half of the second in the tail.
    while (catalog.upload.upload_offset as usize) < (15 << 19) {
        let to = (catalog.upload.upload_offset as usize + (1 << 20)).min(15 << 19);
        chunk(&first, &mut catalog, &bytes, to, 64 << 10).await;
    }
    assert_eq!(catalog.parts.len(), 1);

    // A chunk that is not kept (a checksum mismatch): parts it sent are not recorded, and
    // the next chunk goes on from the recorded state.
    {
        let mut writer = first.open_writer(&catalog.upload).await.unwrap();
        writer.write(Bytes::from(vec![0u8; 4 << 20])).await.unwrap();
        writer.rollback().await.unwrap();
    }

    // Another instance (a store of its own on the same bucket) resumes mid-part from the
    // catalog alone, with odd-sized chunks.
    let second = S3Store::open(&url).unwrap();
    while (catalog.upload.upload_offset as usize) < len {
        let to = (catalog.upload.upload_offset as usize + 777_777).min(len);
        chunk(&second, &mut catalog, &bytes, to, 100_000).await;
    }
    assert_eq!(
        catalog.parts.len(),
        3,
        "three full parts, the tail is the last"
    );

    let sha = hex::encode(Sha256::digest(&bytes));
    assert_eq!(
        second
            .hash_partial(&catalog.upload, &catalog.parts)
            .await
            .unwrap(),
        sha
    );
    // Above the copy limit the blob is written by reading the upload back.
    let second = second.with_copy_limit(1 << 20);
    second
        .promote(&catalog.upload, &catalog.parts, &sha)
        .await
        .unwrap();
    assert_eq!(second.blob_len(&sha).await.unwrap(), len as u64);
    let whole: Vec<Bytes> = second
        .read_blob(&sha, 0..len as u64)
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    assert!(whole.concat() == bytes, "byte-identical");
    let range: Vec<Bytes> = second
        .read_blob(&sha, 5_000_000..5_300_000)
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    assert!(range.concat() == bytes[5_000_000..5_300_000]);
    // Nothing of the upload is left in the bucket.
    assert!(common::files_under(&common::bucket_dir(&url).join("uploads")).is_empty());

    // Blocking reads seek by ranged GETs (EXIF and QuickTime boxes are read so).
    let blocking = tokio::task::spawn_blocking(move || {
        let mut reader = second.open_blob_blocking(&sha).unwrap();
        let mut head = [0u8; 16];
        reader.read_exact(&mut head).unwrap();
        reader.seek(SeekFrom::End(-10)).unwrap();
        let mut end = Vec::new();
        reader.read_to_end(&mut end).unwrap();
        reader.seek(SeekFrom::Start(12_345_678)).unwrap();
        let mut middle = vec![0u8; 300_000];
        reader.read_exact(&mut middle).unwrap();
        (head, end, middle)
    })
    .await
    .unwrap();
    assert!(blocking.0 == bytes[..16]);
    assert!(blocking.1 == bytes[len - 10..]);
    assert!(blocking.2 == bytes[12_345_678..12_645_678]);
}

#[tokio::test]
async fn an_upload_under_one_part_becomes_its_blob_directly() {
    let Some((store, url)) = store("small") else {
        return;
    };
    let bytes = sample(300_000, 3);
    let mut catalog = Catalog::default();
    catalog.upload.id = "fedcba9876543210fedcba9876543210".into();
    catalog.upload.upload_length = bytes.len() as i64;
    catalog.upload.store_state = store
        .create_partial(&catalog.upload.id, bytes.len() as u64)
        .await
        .unwrap();
    chunk(&store, &mut catalog, &bytes, 100_000, 10_000).await;
    chunk(&store, &mut catalog, &bytes, 300_000, 10_000).await;
    assert!(catalog.parts.is_empty());
    let sha = hex::encode(Sha256::digest(&bytes));
    catalog.upload.content_sha256 = Some(sha.clone());
    assert!(store.partial_exists(&catalog.upload).await.unwrap());
    store.promote(&catalog.upload, &[], &sha).await.unwrap();
    // Promoted: a retry after a crash here sees the blob, not a partial upload.
    assert!(!store.partial_exists(&catalog.upload).await.unwrap());
    store.promote(&catalog.upload, &[], &sha).await.unwrap();
    let blob: Vec<Bytes> = store
        .read_blob(&sha, 0..bytes.len() as u64)
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    assert!(blob.concat() == bytes);
    assert!(common::files_under(&common::bucket_dir(&url).join("uploads")).is_empty());
    store.remove_blob(&sha).await.unwrap();
    assert!(common::files_under(&common::bucket_dir(&url).join("blobs")).is_empty());
}

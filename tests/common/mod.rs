//! Tests shared by the page suite (`browser.rs`) and the dedicated-worker suite
//! (`dedicated_worker.rs`): the same code must work in both places.

use ferry::asset::{Asset, AssetStatus, ErrorCode};
use ferry::media::FileMeta;
use ferry::web::asset_record::Absent;
use ferry::web::catalog::Catalog;
use ferry::web::hash::{sha256_of_blob, SLICE_BYTES};
use ferry::web::upload_hash::{ChunkHashed, UploadHash};
use js_sys::{Array, Object, Uint8Array, JSON};
use serde::Serialize;
use sha1::Sha1;
use sha2::{Digest, Sha256};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_test::wasm_bindgen_test;
use web_sys::Blob;

/// The catalog's first `limit` records, read into assets as `Backup::assets` reads them.
async fn oldest_first(catalog: &Catalog, limit: u32) -> Vec<Asset> {
    let records = catalog.oldest_first(limit).await.unwrap();
    records
        .into_iter()
        .map(|record| serde_wasm_bindgen::from_value(record).unwrap())
        .collect()
}

fn blob_of(bytes: &[u8]) -> Blob {
    let parts = Array::of1(&Uint8Array::from(bytes));
    Blob::new_with_u8_array_sequence(&parts).unwrap()
}

#[wasm_bindgen_test]
async fn hashes_known_vectors() {
    let empty = sha256_of_blob(&blob_of(b""), |_| {}).await.unwrap();
    assert_eq!(
        empty,
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    );
    let abc = sha256_of_blob(&blob_of(b"abc"), |_| {}).await.unwrap();
    assert_eq!(
        abc,
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
}

#[wasm_bindgen_test]
async fn hashes_a_50_mib_blob_in_slices_like_native_sha2() {
    // Deterministic, non-repeating-per-slice content so a misplaced slice changes the digest.
    let bytes: Vec<u8> = (0..50u32 * 1024 * 1024)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let expected = format!("{:x}", Sha256::digest(&bytes));
    let blob = blob_of(&bytes);
    drop(bytes);

    let mut reports = Vec::new();
    let digest = sha256_of_blob(&blob, |done| reports.push(done))
        .await
        .unwrap();
    assert_eq!(digest, expected);
    // Progress arrives once per slice and ends at the full size.
    assert_eq!(
        reports.len() as u64,
        (50 * 1024 * 1024u64).div_ceil(SLICE_BYTES)
    );
    assert_eq!(reports.last().copied(), Some(50 * 1024 * 1024));
}

#[wasm_bindgen_test]
async fn small_files_are_hashed_in_one_native_call() {
    let bytes: Vec<u8> = (0..5u32 * 1024 * 1024).map(|i| (i % 251) as u8).collect();
    let expected = format!("{:x}", Sha256::digest(&bytes));
    let mut reports = Vec::new();
    let digest = sha256_of_blob(&blob_of(&bytes), |done| reports.push(done))
        .await
        .unwrap();
    assert_eq!(digest, expected);
    assert_eq!(
        reports,
        vec![5 * 1024 * 1024],
        "one report: WebCrypto, not slices"
    );
}

#[wasm_bindgen_test]
async fn an_upload_hash_takes_each_byte_once_whatever_order_its_chunks_come_in() {
    const MIB: u64 = 1024 * 1024;
    let bytes: Vec<u8> = (0..40 * MIB as u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 11) as u8)
        .collect();
    let file = blob_of(&bytes);
    let part = |r: &std::ops::Range<u64>| &bytes[r.start as usize..r.end as usize];
    let mut hash = UploadHash::default();
    // A chunk with its SHA-256, then the same chunk again (a resend is not taken twice).
    for _ in 0..2 {
        let first = hashed_chunk(&mut hash, &file, 0..8 * MIB, Some("SHA-256")).await;
        assert_eq!(
            first.digest,
            Some(format!("{:x}", Sha256::digest(part(&(0..8 * MIB)))))
        );
        assert_eq!(first.file_sha256, None);
    }
    // Skipping ahead (an upload resumed at the server's offset) takes the gap first.
    let sha1 = hashed_chunk(&mut hash, &file, 16 * MIB..24 * MIB, Some("SHA-1")).await;
    assert_eq!(
        sha1.digest,
        Some(format!("{:x}", Sha1::digest(part(&(16 * MIB..24 * MIB)))))
    );
    // A chunk reaching back over bytes taken: only the new ones are taken.
    let overlapping = hashed_chunk(&mut hash, &file, 20 * MIB..36 * MIB, Some("SHA-256")).await;
    assert_eq!(
        overlapping.digest,
        Some(format!("{:x}", Sha256::digest(part(&(20 * MIB..36 * MIB)))))
    );
    // Without an algorithm only the file's hash takes the bytes; the last one ends it.
    let last = hashed_chunk(&mut hash, &file, 36 * MIB..40 * MIB, None).await;
    assert_eq!(last.digest, None);
    assert_eq!(
        last.file_sha256,
        Some(format!("{:x}", Sha256::digest(&bytes)))
    );
}

async fn hashed_chunk(
    hash: &mut UploadHash,
    file: &Blob,
    range: std::ops::Range<u64>,
    algorithm: Option<&str>,
) -> ChunkHashed {
    hash.chunk(file, range, algorithm, &|| false)
        .await
        .unwrap()
        .unwrap()
}

fn fresh_catalog_name() -> String {
    format!("ferry-test-{}", js_sys::Math::random().to_bits())
}

#[wasm_bindgen_test]
async fn catalog_round_trips_assets_through_indexeddb() {
    let name = fresh_catalog_name();
    let catalog = Catalog::open(&name).await.unwrap();
    let mut first = Asset::new(
        "a".into(),
        "<b>🐱.jpg".into(),
        3,
        1.0,
        "image/jpeg".into(),
        10.0,
    );
    let second = Asset::new("b".into(), "video.mp4".into(), 0, 2.0, String::new(), 20.0);
    catalog.put(&second).await.unwrap();
    catalog.put(&first).await.unwrap();

    first.sha256 = Some("ab".repeat(32));
    first.server_id = Some("srv".into());
    first.enter(AssetStatus::Uploaded);
    catalog.put(&first).await.unwrap();

    assert_eq!(catalog.get("a").await.unwrap(), Some(first.clone()));
    assert_eq!(catalog.get("missing").await.unwrap(), None);
    // Listed in the order they were added, not the order they were written.
    assert_eq!(
        oldest_first(&catalog, 10).await,
        vec![first.clone(), second]
    );
    assert_eq!(oldest_first(&catalog, 1).await, vec![first]);

    catalog.close();
    Catalog::delete(&name).await.unwrap();
}

#[wasm_bindgen_test]
async fn catalog_survives_reopening() {
    let name = fresh_catalog_name();
    let asset = Asset::new("x".into(), "x.png".into(), 1, 0.0, "image/png".into(), 1.0);
    let catalog = Catalog::open(&name).await.unwrap();
    catalog.put(&asset).await.unwrap();
    catalog.close();

    let reopened = Catalog::open(&name).await.unwrap();
    assert_eq!(reopened.get("x").await.unwrap(), Some(asset));
    reopened.close();
    Catalog::delete(&name).await.unwrap();
}

/// A write polled once and then left alone while its caller awaits something else (the
/// runner holds an upload's future while it records a hash) still commits. The browser
/// commits a transaction by itself when a task ends with none of its requests pending; a
/// write that awaited its request before calling `commit` then failed with "The
/// transaction has finished" (seen in CI as a share that stopped mid-upload).
#[wasm_bindgen_test]
async fn a_write_left_unpolled_for_a_while_still_commits() {
    use futures_util::FutureExt;
    let name = fresh_catalog_name();
    let catalog = Catalog::open(&name).await.unwrap();
    let asset = Asset::new(
        "w".into(),
        "w.mov".into(),
        5,
        0.0,
        "video/quicktime".into(),
        1.0,
    );
    let mut put = Box::pin(catalog.put(&asset));
    let mut fact = Box::pin(catalog.set_fact("lastBackupAt", 42.0));
    let mut hash = Box::pin(catalog.remember_hash("w.mov|5|0|", "cd"));
    assert!((&mut put).now_or_never().is_none());
    assert!((&mut fact).now_or_never().is_none());
    assert!((&mut hash).now_or_never().is_none());
    // Several tasks pass with the writes unpolled.
    gloo_timers::future::TimeoutFuture::new(50).await;
    put.await.unwrap();
    fact.await.unwrap();
    hash.await.unwrap();
    assert_eq!(catalog.get("w").await.unwrap(), Some(asset));
    assert_eq!(catalog.fact("lastBackupAt").await.unwrap(), Some(42.0));
    assert_eq!(
        catalog.cached_hash("w.mov|5|0|").await.unwrap().as_deref(),
        Some("cd")
    );
    catalog.close();
    Catalog::delete(&name).await.unwrap();
}

fn file_of(bytes: &[u8], name: &str) -> web_sys::File {
    let parts = Array::of1(&Uint8Array::from(bytes));
    web_sys::File::new_with_u8_array_sequence(&parts, name).unwrap()
}

#[wasm_bindgen_test]
async fn kept_files_are_forgotten_in_batches_and_leftovers_swept() {
    use ferry::web::catalog::KeptFile;
    let name = fresh_catalog_name();
    let catalog = Catalog::open(&name).await.unwrap();
    let assets: Vec<Asset> = (0..4)
        .map(|i| {
            Asset::new(
                format!("k{i}"),
                format!("p{i}.jpg"),
                3,
                1.0,
                "image/jpeg".into(),
                1.0,
            )
            .in_album(None)
        })
        .collect();
    let items: Vec<_> = assets
        .iter()
        .map(|a| (a.clone(), Some(file_of(b"abc", &a.name))))
        .collect();
    catalog.add(&items, &Default::default()).await.unwrap();
    let kept = catalog.file("k0").await.unwrap().expect("k0 is kept");
    assert_eq!((kept.name(), kept.size()), ("p0.jpg".to_string(), 3.0));
    assert!(catalog
        .waiting(&assets[1].fingerprint)
        .await
        .unwrap()
        .is_some());

    // Two backed-up files forgotten in one call: files and waiting entries go.
    let done: Vec<KeptFile> = assets[..2]
        .iter()
        .map(|a| KeptFile {
            id: a.id.clone(),
            fingerprint: a.fingerprint.clone(),
        })
        .collect();
    catalog.forget_files(&done, true).await.unwrap();
    assert!(catalog.file("k0").await.unwrap().is_none());
    assert!(catalog.file("k1").await.unwrap().is_none());
    assert!(catalog
        .waiting(&assets[1].fingerprint)
        .await
        .unwrap()
        .is_none());
    assert!(catalog.file("k2").await.unwrap().is_some());

    // A tab closed before its batch was forgotten: the sweep forgets the kept file of a
    // finished asset and keeps the one still waiting.
    let mut finished = assets[2].clone();
    finished.enter(AssetStatus::Uploaded);
    catalog.put(&finished).await.unwrap();
    assert_eq!(catalog.forget_files_of_finished().await.unwrap(), 1);
    assert!(catalog.file("k2").await.unwrap().is_none());
    assert!(catalog.file("k3").await.unwrap().is_some());

    // Kept files without a record: another tab's, kept a moment before their records
    // (`add` writes the files first), or a tab's that closed in between. A sweep keeps
    // them; the next forgets those still without a record.
    let (gone, late) = (file_of(b"abc", "gone.jpg"), file_of(b"abc", "late.jpg"));
    catalog
        .keep_files(&[("gone", &gone), ("late", &late)])
        .await
        .unwrap();
    assert_eq!(catalog.forget_files_of_finished().await.unwrap(), 0);
    assert!(catalog.file("gone").await.unwrap().is_some());
    let late_asset = Asset::new(
        "late".into(),
        "late.jpg".into(),
        3,
        1.0,
        "image/jpeg".into(),
        1.0,
    )
    .in_album(None);
    catalog
        .add(&[(late_asset, None)], &Default::default())
        .await
        .unwrap();
    assert_eq!(catalog.forget_files_of_finished().await.unwrap(), 1);
    assert!(catalog.file("gone").await.unwrap().is_none());
    assert!(
        catalog.file("late").await.unwrap().is_some(),
        "its record came"
    );
    assert!(catalog.file("k3").await.unwrap().is_some());
    assert_eq!(catalog.forget_files_of_finished().await.unwrap(), 0);

    catalog.close();
    Catalog::delete(&name).await.unwrap();
}

/// `value` as JSON, and the names of its own fields, nested ones included (JSON leaves out
/// a field whose value is `undefined`; the names keep it).
fn shape(value: &JsValue) -> (String, Vec<String>) {
    fn names(value: &JsValue, into: &mut Vec<String>) {
        if value.is_object() {
            for name in Object::keys(value.unchecked_ref::<Object>()).iter() {
                into.push(name.as_string().unwrap());
                names(&js_sys::Reflect::get(value, &name).unwrap(), into);
            }
        }
    }
    let mut all = Vec::new();
    names(value, &mut all);
    (JSON::stringify(value).unwrap().as_string().unwrap(), all)
}

#[wasm_bindgen_test]
fn asset_records_keep_the_shape_serde_wasm_bindgen_gave_them() {
    let mut asset = Asset::new(
        "a".into(),
        "<b>🐱.heic".into(),
        3,
        1.5,
        "image/heic".into(),
        10.0,
    )
    .in_album(Some("Trip".into()));
    let bare = asset.clone();
    asset.sha256 = Some("ab".repeat(32));
    asset.live_photo_video = Some("v".into());
    asset.media = Some(FileMeta {
        taken_at: Some("2024-05-01T14:00:00.250+02:00".into()),
        duration_ms: None,
        mime: Some("image/heic".into()),
        complete: true,
    });
    asset.enter(AssetStatus::Uploading);
    let mut failed = asset.clone();
    failed.fail(
        ErrorCode::Network,
        "Gave up after repeated failures: offline",
    );
    for asset in [bare, asset, failed] {
        // The catalog's records, as indexed_db_futures wrote them with serde-wasm-bindgen.
        let by_serde = asset
            .serialize(&serde_wasm_bindgen::Serializer::new().serialize_maps_as_objects(true))
            .unwrap();
        assert_eq!(shape(&asset.to_record(Absent::Undefined)), shape(&by_serde));
        assert_eq!(Asset::from_record(&by_serde).unwrap(), asset);
        // Events, as they were sent with absent values as null.
        let by_serde = asset
            .serialize(&serde_wasm_bindgen::Serializer::json_compatible())
            .unwrap();
        assert_eq!(shape(&asset.to_record(Absent::Null)), shape(&by_serde));
        assert_eq!(Asset::from_record(&by_serde).unwrap(), asset);
    }
}

#[wasm_bindgen_test]
fn an_old_record_reads_with_its_later_fields_absent_and_a_broken_one_names_its_field() {
    let old = || {
        JSON::parse(
            r#"{"id":"x","name":"a.jpg","size":3,"lastModified":5,"mime":"","addedAt":6,
                "status":"pending","sha256":null,"doneBytes":0}"#,
        )
        .unwrap()
    };
    assert_eq!(
        Asset::from_record(&old()).unwrap(),
        Asset::new("x".into(), "a.jpg".into(), 3, 5.0, String::new(), 6.0)
    );
    // An error code from a later version reads as none; its reason in words stays.
    let later = old();
    let changes = JSON::parse(r#"{"lastError":"Why","errorCode":"not-yet-known"}"#).unwrap();
    Object::assign(
        later.unchecked_ref::<Object>(),
        changes.unchecked_ref::<Object>(),
    );
    let read = Asset::from_record(&later).unwrap();
    assert_eq!(
        (read.last_error.as_deref(), read.error_code),
        (Some("Why"), None)
    );
    for (field, broken) in [
        ("size", r#"{"size":"3"}"#),
        ("size", r#"{"size":1.5}"#),
        ("status", r#"{"status":"lost"}"#),
        ("complete", r#"{"media":{"takenAt":null}}"#),
        ("id", r#"{"id":null}"#),
    ] {
        let record = old();
        let changes = JSON::parse(broken).unwrap();
        Object::assign(
            record.unchecked_ref::<Object>(),
            changes.unchecked_ref::<Object>(),
        );
        let error = Asset::from_record(&record).unwrap_err().to_string();
        assert!(error.contains(&format!("`{field}`")), "{broken}: {error}");
    }
}

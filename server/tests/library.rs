//! Library API handler tests: one asset, ETags, the sync feed, trash, albums, metadata read
//! from the bytes, thumbnails and the multipart fallback, each with its authorization checks.

mod common;

use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{header, Request, Response, StatusCode};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use common::{get, sample, sha256_hex, Server};
use ferry_server::{trash, users, Config};
use http_body_util::BodyExt;
use serde_json::{json, Value};

impl Server {
    async fn new() -> Self {
        Self::with_config(Config::default()).await
    }

    async fn with_config(config: Config) -> Self {
        Self::start(config, &[]).await
    }

    async fn user(&self, name: &str) -> String {
        self.user_with_quota(name, None).await
    }

    async fn user_with_quota(&self, name: &str, quota: Option<i64>) -> String {
        users::create_user(&self.state.pool, name, quota, None)
            .await
            .unwrap()
            .api_key
    }

    async fn call(&self, method: &str, uri: &str, key: &str) -> (StatusCode, Value) {
        let response = self
            .send(
                Request::builder()
                    .method(method)
                    .uri(uri)
                    .header("x-api-key", key)
                    .body(Body::empty())
                    .unwrap(),
            )
            .await;
        let status = response.status();
        (status, json_or_null(response).await)
    }

    async fn get_json(&self, key: &str, uri: &str) -> (StatusCode, Value) {
        self.call("GET", uri, key).await
    }

    async fn post_json(&self, key: &str, uri: &str, body: Value) -> (StatusCode, Value) {
        let response = self
            .send(
                Request::post(uri)
                    .header("x-api-key", key)
                    .header(header::CONTENT_TYPE, "application/json")
                    .body(Body::from(body.to_string()))
                    .unwrap(),
            )
            .await;
        let status = response.status();
        (status, json_or_null(response).await)
    }

    /// tus creation-with-upload of all of `data`; returns the asset id.
    async fn upload(&self, key: &str, data: &[u8], metadata: &[(&str, &str)]) -> String {
        let response = self
            .send(
                Request::post("/api/uploads")
                    .header("x-api-key", key)
                    .header("tus-resumable", "1.0.0")
                    .header("upload-length", data.len())
                    .header("upload-metadata", encode_metadata(metadata))
                    .header(header::CONTENT_TYPE, "application/offset+octet-stream")
                    .body(Body::from(data.to_vec()))
                    .unwrap(),
            )
            .await;
        assert_eq!(response.status(), StatusCode::CREATED);
        response.headers()["ferry-asset-id"]
            .to_str()
            .unwrap()
            .to_owned()
    }

    async fn items(&self, key: &str, uri: &str) -> Vec<Value> {
        let (status, body) = self.get_json(key, uri).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body["items"].as_array().unwrap().clone()
    }

    async fn asset(&self, key: &str, id: &str) -> Value {
        let (status, body) = self.get_json(key, &format!("/api/assets/{id}")).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body
    }

    fn blob_count(&self) -> usize {
        self.blob_files().len()
    }
}

fn encode_metadata(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{k} {}", STANDARD.encode(v)))
        .collect::<Vec<_>>()
        .join(",")
}

async fn bytes(response: Response<Body>) -> Bytes {
    response.into_body().collect().await.unwrap().to_bytes()
}

async fn json_or_null(response: Response<Body>) -> Value {
    let body = bytes(response).await;
    if body.is_empty() {
        return Value::Null;
    }
    serde_json::from_slice(&body)
        .unwrap_or_else(|_| panic!("not JSON: {}", String::from_utf8_lossy(&body)))
}

fn ids(items: &[Value]) -> Vec<&str> {
    items.iter().map(|i| i["id"].as_str().unwrap()).collect()
}

/// A `width`×`height` JPEG made with the `image` crate.
fn jpeg(width: u32, height: u32) -> Vec<u8> {
    let image = image::RgbImage::from_fn(width, height, |x, y| {
        image::Rgb([(x % 256) as u8, (y % 256) as u8, 128])
    });
    let mut out = std::io::Cursor::new(Vec::new());
    image::DynamicImage::ImageRgb8(image)
        .write_to(&mut out, image::ImageFormat::Jpeg)
        .unwrap();
    out.into_inner()
}

/// `jpeg` with an EXIF APP1 segment (built by hand, big-endian TIFF): Orientation,
/// DateTimeOriginal and OffsetTimeOriginal.
fn jpeg_with_exif(
    width: u32,
    height: u32,
    orientation: u16,
    taken: &str,
    offset: Option<&str>,
) -> Vec<u8> {
    fn entry(out: &mut Vec<u8>, tag: u16, kind: u16, count: u32, value: u32) {
        out.extend_from_slice(&tag.to_be_bytes());
        out.extend_from_slice(&kind.to_be_bytes());
        out.extend_from_slice(&count.to_be_bytes());
        out.extend_from_slice(&value.to_be_bytes());
    }
    const ASCII: u16 = 2;
    const SHORT: u16 = 3;
    const LONG: u16 = 4;
    let taken = format!("{taken}\0");
    let offset = offset.map(|o| format!("{o}\0"));
    // TIFF header (8) + IFD0 with 2 entries (30) + Exif IFD with 1-2 entries + strings.
    let exif_entries: u16 = if offset.is_some() { 2 } else { 1 };
    let exif_ifd = 8 + 30;
    let strings = exif_ifd + 2 + 12 * u32::from(exif_entries) + 4;
    let mut tiff = b"MM\0\x2a\0\0\0\x08".to_vec();
    tiff.extend_from_slice(&2u16.to_be_bytes());
    entry(&mut tiff, 0x0112, SHORT, 1, u32::from(orientation) << 16);
    entry(&mut tiff, 0x8769, LONG, 1, exif_ifd);
    tiff.extend_from_slice(&0u32.to_be_bytes());
    tiff.extend_from_slice(&exif_entries.to_be_bytes());
    entry(&mut tiff, 0x9003, ASCII, taken.len() as u32, strings);
    if let Some(offset) = &offset {
        let at = strings + taken.len() as u32;
        entry(&mut tiff, 0x9011, ASCII, offset.len() as u32, at);
    }
    tiff.extend_from_slice(&0u32.to_be_bytes());
    tiff.extend_from_slice(taken.as_bytes());
    if let Some(offset) = &offset {
        tiff.extend_from_slice(offset.as_bytes());
    }
    let mut app1 = b"Exif\0\0".to_vec();
    app1.extend_from_slice(&tiff);
    let plain = jpeg(width, height);
    let mut out = plain[..2].to_vec(); // SOI
    out.extend_from_slice(&[0xFF, 0xE1]);
    out.extend_from_slice(&((app1.len() + 2) as u16).to_be_bytes());
    out.extend_from_slice(&app1);
    out.extend_from_slice(&plain[2..]);
    out
}

/// A minimal MP4: `ftyp`, `mdat`, `moov/mvhd` (version 0) with this creation time and length.
fn mp4(created_unix: u32, duration_ms: u32) -> Vec<u8> {
    fn mp4_box(kind: &[u8; 4], body: &[u8]) -> Vec<u8> {
        let mut b = ((body.len() + 8) as u32).to_be_bytes().to_vec();
        b.extend_from_slice(kind);
        b.extend_from_slice(body);
        b
    }
    let created = created_unix + 2_082_844_800;
    let mut mvhd = vec![0u8; 4];
    mvhd.extend_from_slice(&created.to_be_bytes());
    mvhd.extend_from_slice(&created.to_be_bytes());
    mvhd.extend_from_slice(&1000u32.to_be_bytes());
    mvhd.extend_from_slice(&duration_ms.to_be_bytes());
    mvhd.extend_from_slice(&[0u8; 80]);
    let mut file = mp4_box(b"ftyp", b"isom\0\0\0\0isomiso2");
    file.extend(mp4_box(b"mdat", &sample(500, 3)));
    file.extend(mp4_box(b"moov", &mp4_box(b"mvhd", &mvhd)));
    file
}

// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn one_asset_with_etag_and_content_type() {
    let server = Server::new().await;
    let a = server.user("a").await;
    let b = server.user("b").await;
    let photo = jpeg(32, 16);
    // No filetype and a misleading name: the type comes from the bytes.
    let id = server
        .upload(
            &a,
            &photo,
            &[
                ("filename", "IMG_1.bin"),
                ("fileModifiedAt", "1714564800000"),
            ],
        )
        .await;

    let asset = server.asset(&a, &id).await;
    assert_eq!(asset["id"], id.as_str());
    assert_eq!(asset["checksum"], sha256_hex(&photo));
    assert_eq!(asset["mimeType"], "image/jpeg");
    assert_eq!(asset["originalFileName"], "IMG_1.bin");
    assert_eq!(asset["albums"], json!([]));
    assert_eq!(asset["isTrashed"], false);
    assert_eq!(asset["deletedAt"], Value::Null);
    assert_eq!(asset["isFavorite"], false);
    assert_eq!(asset["hasThumbnail"], true);
    assert!(asset["updatedAt"].as_str().unwrap().ends_with('Z'));
    // Neither EXIF nor fileCreatedAt: fileModifiedAt.
    assert_eq!(asset["fileCreatedAt"], "2024-05-01T12:00:00.000Z");

    let original = format!("/api/assets/{id}/original");
    let response = server.send(get(&original, &a)).await;
    assert_eq!(response.status(), StatusCode::OK);
    let etag = format!("\"{}\"", sha256_hex(&photo));
    assert_eq!(response.headers()[header::ETAG], etag.as_str());
    assert_eq!(response.headers()[header::CONTENT_TYPE], "image/jpeg");
    assert_eq!(bytes(response).await, photo);

    for if_none_match in [
        etag.clone(),
        format!("W/{etag}"),
        format!("\"x\", {etag}"),
        "*".into(),
    ] {
        let response = server
            .send(
                Request::get(&original)
                    .header("x-api-key", &a)
                    .header(header::IF_NONE_MATCH, if_none_match)
                    .body(Body::empty())
                    .unwrap(),
            )
            .await;
        assert_eq!(response.status(), StatusCode::NOT_MODIFIED);
        assert_eq!(response.headers()[header::ETAG], etag.as_str());
        assert!(bytes(response).await.is_empty());
    }
    let response = server
        .send(
            Request::get(&original)
                .header("x-api-key", &a)
                .header(header::IF_NONE_MATCH, "\"other\"")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);

    // Another user: 404 for the asset and its original, even with the right ETag.
    let (status, body) = server.get_json(&b, &format!("/api/assets/{id}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["error"], "not-found");
    let response = server
        .send(
            Request::get(&original)
                .header("x-api-key", &b)
                .header(header::IF_NONE_MATCH, &etag)
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        server
            .get_json("nope", &format!("/api/assets/{id}"))
            .await
            .0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        server.get_json(&a, "/api/assets/not-an-id").await.0,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn trash_hides_restores_and_purges() {
    let server = Server::new().await;
    let a = server.user_with_quota("a", Some(1_000_000)).await;
    let b = server.user("b").await;
    let shared = sample(1000, 1);
    let own = sample(2000, 2);
    let keep = server.upload(&a, &shared, &[("filename", "s.jpg")]).await;
    let gone = server.upload(&a, &own, &[("filename", "o.jpg")]).await;
    let bs = server.upload(&b, &shared, &[("filename", "b.jpg")]).await;
    assert_eq!(server.blob_count(), 2);

    // B can neither trash, restore nor purge A's asset; A's asset is untouched.
    for (method, uri) in [
        ("DELETE", format!("/api/assets/{gone}")),
        ("POST", format!("/api/trash/{gone}/restore")),
        ("DELETE", format!("/api/trash/{gone}")),
    ] {
        assert_eq!(
            server.call(method, &uri, &b).await.0,
            StatusCode::NOT_FOUND,
            "{method} {uri}"
        );
        assert_eq!(
            server.call(method, &uri, "nope").await.0,
            StatusCode::UNAUTHORIZED
        );
    }
    assert_eq!(server.asset(&a, &gone).await["isTrashed"], false);

    // Not in the trash yet: restore and purge are 404.
    assert_eq!(
        server
            .call("DELETE", &format!("/api/trash/{gone}"), &a)
            .await
            .0,
        StatusCode::NOT_FOUND
    );
    let (status, _) = server
        .call("DELETE", &format!("/api/assets/{gone}"), &a)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = server
        .call("DELETE", &format!("/api/assets/{gone}"), &a)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "trashing twice is fine");

    assert_eq!(ids(&server.items(&a, "/api/assets").await), [keep.as_str()]);
    let trash = server.items(&a, "/api/trash").await;
    assert_eq!(ids(&trash), [gone.as_str()]);
    assert_eq!(trash[0]["isTrashed"], true);
    assert!(trash[0]["deletedAt"].is_string());
    assert!(server.items(&b, "/api/trash").await.is_empty());
    // Still "exists" for dedup, and still readable by its owner.
    let (_, check) = server
        .post_json(
            &a,
            "/api/assets/bulk-upload-check",
            json!({ "assets": [{ "id": "x", "checksum": sha256_hex(&own) }] }),
        )
        .await;
    assert_eq!(check["results"][0]["action"], "reject");
    assert_eq!(check["results"][0]["assetId"], gone.as_str());
    assert_eq!(
        server
            .send(get(&format!("/api/assets/{gone}/original"), &a))
            .await
            .status(),
        StatusCode::OK
    );
    let (_, me) = server.get_json(&a, "/api/users/me").await;
    assert_eq!(me["quotaUsageInBytes"], 3000);

    // Restore.
    let (status, body) = server
        .call("POST", &format!("/api/trash/{gone}/restore"), &a)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["isTrashed"], false);
    assert_eq!(server.items(&a, "/api/assets").await.len(), 2);
    assert!(server.items(&a, "/api/trash").await.is_empty());

    // Trash both and purge: the shared blob stays for B, the other one goes.
    for id in [&keep, &gone] {
        server
            .call("DELETE", &format!("/api/assets/{id}"), &a)
            .await;
    }
    for id in [&keep, &gone] {
        let (status, _) = server.call("DELETE", &format!("/api/trash/{id}"), &a).await;
        assert_eq!(status, StatusCode::NO_CONTENT);
    }
    assert_eq!(server.blob_count(), 1);
    assert!(server.items(&a, "/api/trash").await.is_empty());
    assert_eq!(
        server.get_json(&a, &format!("/api/assets/{gone}")).await.0,
        StatusCode::NOT_FOUND
    );
    let (_, me) = server.get_json(&a, "/api/users/me").await;
    assert_eq!(me["quotaUsageInBytes"], 0);
    let response = server
        .send(get(&format!("/api/assets/{bs}/original"), &b))
        .await;
    assert_eq!(bytes(response).await, shared);
    // Once purged, the bytes are new again.
    let (_, check) = server
        .post_json(
            &a,
            "/api/assets/bulk-upload-check",
            json!({ "assets": [{ "id": "x", "checksum": sha256_hex(&own) }] }),
        )
        .await;
    assert_eq!(check["results"][0]["action"], "accept");
}

#[tokio::test]
async fn a_live_photo_links_its_motion_part_which_leaves_the_timeline_and_follows_it() {
    let server = Server::new().await;
    let a = server.user("a").await;
    let b = server.user("b").await;
    let clip = mp4(1_700_000_000, 2_500);
    let video = server
        .upload(
            &a,
            &clip,
            &[
                ("filename", "IMG_0001.MOV"),
                ("filetype", "video/quicktime"),
            ],
        )
        .await;
    let photo = server
        .upload(
            &a,
            &jpeg(8, 8),
            &[
                ("filename", "IMG_0001.HEIC"),
                ("filetype", "image/jpeg"),
                ("livePhotoVideoId", &video),
            ],
        )
        .await;
    let timeline = server.items(&a, "/api/assets").await;
    assert_eq!(
        ids(&timeline),
        [photo.as_str()],
        "the motion part is not listed"
    );
    assert_eq!(timeline[0]["livePhotoVideoId"], video.as_str());
    let response = server
        .send(get(&format!("/api/assets/{video}/original"), &a))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(bytes(response).await, clip);

    // B cannot link A's video to a photo of B's, nor hide it: the link is ignored.
    let bs = server
        .upload(
            &b,
            &jpeg(9, 9),
            &[("filename", "b.jpg"), ("livePhotoVideoId", &video)],
        )
        .await;
    assert_eq!(server.asset(&b, &bs).await["livePhotoVideoId"], Value::Null);
    // Nor can a photo be its own or another photo's motion part.
    let other = server
        .upload(
            &a,
            &jpeg(10, 10),
            &[("filename", "c.jpg"), ("livePhotoVideoId", &photo)],
        )
        .await;
    assert_eq!(
        server.asset(&a, &other).await["livePhotoVideoId"],
        Value::Null
    );
    assert_eq!(server.items(&a, "/api/assets").await.len(), 2);

    // Trash and restore take the motion part along.
    let uri = format!("/api/assets/{photo}");
    assert_eq!(
        server.call("DELETE", &uri, &a).await.0,
        StatusCode::NO_CONTENT
    );
    assert_eq!(server.asset(&a, &video).await["isTrashed"], true);
    assert_eq!(ids(&server.items(&a, "/api/trash").await), [photo.as_str()]);
    let restore = format!("/api/trash/{photo}/restore");
    assert_eq!(server.call("POST", &restore, &a).await.0, StatusCode::OK);
    assert_eq!(server.asset(&a, &video).await["isTrashed"], false);
}

#[tokio::test]
async fn the_sweep_purges_old_trash_only() {
    let server = Server::with_config(Config {
        trash_retention: Duration::from_secs(3600),
        ..Config::default()
    })
    .await;
    let a = server.user("a").await;
    let old = server.upload(&a, &sample(100, 1), &[]).await;
    let recent = server.upload(&a, &sample(100, 2), &[]).await;
    for id in [&old, &recent] {
        server
            .call("DELETE", &format!("/api/assets/{id}"), &a)
            .await;
    }
    sqlx::query("UPDATE assets SET deleted_at = '2020-01-01T00:00:00.000Z' WHERE id = $1")
        .bind(&old)
        .execute(&server.state.pool.pool)
        .await
        .unwrap();
    assert_eq!(trash::sweep_trash(&server.state).await.unwrap(), 1);
    assert_eq!(
        ids(&server.items(&a, "/api/trash").await),
        [recent.as_str()]
    );
    assert_eq!(server.blob_count(), 1);
    assert_eq!(trash::sweep_trash(&server.state).await.unwrap(), 0);
}

#[tokio::test]
async fn sync_feed_has_changes_and_tombstones() {
    let server = Server::new().await;
    let a = server.user("a").await;
    let b = server.user("b").await;
    let first = server.upload(&a, &sample(100, 1), &[]).await;
    let (_, asset) = server.get_json(&a, &format!("/api/assets/{first}")).await;
    let t0 = asset["updatedAt"].as_str().unwrap().to_owned();
    tokio::time::sleep(Duration::from_millis(5)).await;
    let second = server.upload(&a, &sample(100, 2), &[]).await;
    let third = server.upload(&a, &sample(100, 3), &[]).await;
    server.upload(&b, &sample(100, 4), &[]).await;

    let feed = |since: &str| format!("/api/assets?updatedAfter={}", since.replace('+', "%2B"));
    let items = server.items(&a, &feed(&t0)).await;
    assert_eq!(ids(&items), [second.as_str(), third.as_str()]);
    assert!(items.iter().all(|i| i.get("deleted").is_none()));

    tokio::time::sleep(Duration::from_millis(5)).await;
    server
        .call("DELETE", &format!("/api/assets/{second}"), &a)
        .await;
    tokio::time::sleep(Duration::from_millis(5)).await;
    server
        .call("DELETE", &format!("/api/assets/{third}"), &a)
        .await;
    server
        .call("DELETE", &format!("/api/trash/{third}"), &a)
        .await;
    let items = server.items(&a, &feed(&t0)).await;
    assert_eq!(ids(&items), [second.as_str(), third.as_str()]);
    assert_eq!(items[0]["deleted"], true);
    assert_eq!(items[0]["purged"], false);
    assert!(items[0]["deletedAt"].is_string());
    assert!(items[0].get("checksum").is_none());
    assert_eq!(items[1]["deleted"], true);
    assert_eq!(items[1]["purged"], true);

    // Paging by cursor, oldest change first; unix ms works too.
    let since_ms = "0";
    let (_, page) = server
        .get_json(&a, &format!("{}&limit=2", feed(since_ms)))
        .await;
    assert_eq!(
        ids(page["items"].as_array().unwrap()),
        [first.as_str(), second.as_str()]
    );
    let cursor = page["nextCursor"].as_str().unwrap();
    let (_, page) = server
        .get_json(&a, &format!("{}&limit=2&cursor={cursor}", feed(since_ms)))
        .await;
    assert_eq!(ids(page["items"].as_array().unwrap()), [third.as_str()]);
    assert_eq!(page["nextCursor"], Value::Null);

    // Restoring brings it back as an asset, later than everything else.
    server
        .call("POST", &format!("/api/trash/{second}/restore"), &a)
        .await;
    let items = server.items(&a, &feed(&t0)).await;
    assert_eq!(items.last().unwrap()["id"], second.as_str());
    assert_eq!(items.last().unwrap()["isTrashed"], false);

    // B sees only B's changes; bad input is 400.
    assert_eq!(server.items(&b, &feed(since_ms)).await.len(), 1);
    assert_eq!(
        server
            .get_json(&a, "/api/assets?updatedAfter=yesterday")
            .await
            .0,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        server
            .get_json(&a, "/api/assets?updatedAfter=0&album=x")
            .await
            .0,
        StatusCode::BAD_REQUEST
    );
}

#[tokio::test]
async fn albums_group_the_users_own_assets() {
    let server = Server::new().await;
    let a = server.user("a").await;
    let b = server.user("b").await;
    let one = server.upload(&a, &sample(100, 1), &[]).await;
    let two = server
        .upload(&a, &sample(100, 2), &[("album", "Camera Roll")])
        .await;
    let bs = server.upload(&b, &sample(100, 3), &[]).await;

    let (status, body) = server
        .post_json(
            &a,
            "/api/albums/Summer%202024/assets",
            json!({ "assetIds": [one, two, bs, "no-such-id"] }),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, json!({ "album": "Summer 2024", "added": 2 }));
    // Adding again adds nothing.
    let (_, body) = server
        .post_json(
            &a,
            "/api/albums/Summer%202024/assets",
            json!({ "assetIds": [one] }),
        )
        .await;
    assert_eq!(body["added"], 0);

    let (_, albums) = server.get_json(&a, "/api/albums").await;
    let albums = albums["items"].as_array().unwrap();
    let names: Vec<_> = albums.iter().map(|a| a["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["Camera Roll", "Summer 2024"]);
    assert_eq!(albums[0]["assetCount"], 1);
    assert_eq!(albums[1]["assetCount"], 2);

    let items = server.items(&a, "/api/albums/Summer%202024/assets").await;
    assert_eq!(items.len(), 2);
    let items = server.items(&a, "/api/assets?album=Camera%20Roll").await;
    assert_eq!(ids(&items), [two.as_str()]);
    assert_eq!(items[0]["albums"], json!(["Camera Roll", "Summer 2024"]));
    assert_eq!(
        server.asset(&a, &one).await["albums"],
        json!(["Summer 2024"])
    );
    assert!(server.items(&a, "/api/assets?album=Nope").await.is_empty());
    assert_eq!(
        server.get_json(&a, "/api/albums/Nope/assets").await.0,
        StatusCode::NOT_FOUND
    );

    // B's asset was not added, and B sees none of A's albums.
    assert_eq!(server.asset(&b, &bs).await["albums"], json!([]));
    let (_, b_albums) = server.get_json(&b, "/api/albums").await;
    assert_eq!(b_albums["items"], json!([]));
    assert_eq!(
        server
            .get_json(&b, "/api/albums/Summer%202024/assets")
            .await
            .0,
        StatusCode::NOT_FOUND
    );
    // B adding A's ids to an album of the same name: an empty album of B's own.
    let (_, body) = server
        .post_json(
            &b,
            "/api/albums/Summer%202024/assets",
            json!({ "assetIds": [one] }),
        )
        .await;
    assert_eq!(body["added"], 0);
    assert!(server
        .items(&b, "/api/albums/Summer%202024/assets")
        .await
        .is_empty());
    assert_eq!(
        server.asset(&a, &one).await["albums"],
        json!(["Summer 2024"])
    );

    // Trashed assets leave the counts and the album listing.
    server
        .call("DELETE", &format!("/api/assets/{one}"), &a)
        .await;
    let (_, albums) = server.get_json(&a, "/api/albums").await;
    assert_eq!(albums["items"][1]["assetCount"], 1);

    // Bad names and no auth.
    let (status, _) = server
        .post_json(&a, "/api/albums/%20/assets", json!({ "assetIds": [] }))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let long = "x".repeat(300);
    let (status, _) = server
        .post_json(
            &a,
            &format!("/api/albums/{long}/assets"),
            json!({ "assetIds": [] }),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        server.get_json("nope", "/api/albums").await.0,
        StatusCode::UNAUTHORIZED
    );
    let (status, _) = server
        .post_json("nope", "/api/albums/x/assets", json!({ "assetIds": [] }))
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn capture_time_comes_from_exif_and_quicktime() {
    let server = Server::new().await;
    let a = server.user("a").await;

    let with_offset = jpeg_with_exif(8, 8, 1, "2019:07:04 18:30:00", Some("+02:00"));
    let id = server
        .upload(&a, &with_offset, &[("filename", "a.jpg")])
        .await;
    assert_eq!(
        server.asset(&a, &id).await["fileCreatedAt"],
        "2019-07-04T16:30:00.000Z"
    );

    let without_offset = jpeg_with_exif(8, 9, 1, "2018:01:02 03:04:05", None);
    let id = server.upload(&a, &without_offset, &[]).await;
    assert_eq!(
        server.asset(&a, &id).await["fileCreatedAt"],
        "2018-01-02T03:04:05.000Z"
    );

    // What the client says wins.
    let told = jpeg_with_exif(9, 8, 1, "2018:01:02 03:04:05", None);
    let id = server
        .upload(&a, &told, &[("fileCreatedAt", "2020-02-02T02:02:02Z")])
        .await;
    assert_eq!(
        server.asset(&a, &id).await["fileCreatedAt"],
        "2020-02-02T02:02:02.000Z"
    );

    // Video: creation time and duration from moov/mvhd.
    let video = mp4(1_714_564_800, 12_345);
    let id = server.upload(&a, &video, &[("filename", "clip.mp4")]).await;
    let asset = server.asset(&a, &id).await;
    assert_eq!(asset["mimeType"], "video/mp4");
    assert_eq!(asset["fileCreatedAt"], "2024-05-01T12:00:00.000Z");
    assert_eq!(asset["duration"], "0:00:12.345");
    assert_eq!(asset["hasThumbnail"], false);

    // A client's duration and favorite flag are kept.
    let id = server
        .upload(
            &a,
            &sample(50, 9),
            &[("duration", "0:01:02.500000"), ("isFavorite", "true")],
        )
        .await;
    let asset = server.asset(&a, &id).await;
    assert_eq!(asset["duration"], "0:01:02.500");
    assert_eq!(asset["isFavorite"], true);
    // Nothing at all: now.
    assert!(asset["fileCreatedAt"].as_str().unwrap() > "2025");

    let response = server
        .send(
            Request::post("/api/uploads")
                .header("x-api-key", &a)
                .header("tus-resumable", "1.0.0")
                .header("upload-length", 1)
                .header("upload-metadata", encode_metadata(&[("duration", "soon")]))
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn a_photo_no_thumbnail_can_be_made_of_is_answered_at_once_the_next_time() {
    let server = Server::new().await;
    let a = server.user("a").await;
    // A JPEG's first bytes, then nothing the decoder can read.
    let mut broken = vec![0xFF, 0xD8, 0xFF, 0xE0];
    broken.extend(sample(4000, 7));
    let id = server
        .upload(&a, &broken, &[("filename", "broken.jpg")])
        .await;
    assert_eq!(server.asset(&a, &id).await["mimeType"], "image/jpeg");
    let uri = format!("/api/assets/{id}/thumbnail");
    let (status, body) = server.get_json(&a, &uri).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["error"], "no-thumbnail");

    // With the one decoding slot taken (by another photo being decoded), the broken one is
    // not queued behind it for a second try.
    let _decoding = server.state.thumb_slots.acquire().await.unwrap();
    let again = tokio::time::timeout(Duration::from_secs(5), server.get_json(&a, &uri)).await;
    let (status, body) = again.expect("answered without waiting for the decoding slot");
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["error"], "no-thumbnail");
}

#[tokio::test]
async fn thumbnails_are_made_cached_and_private() {
    let server = Server::new().await;
    let a = server.user("a").await;
    let b = server.user("b").await;
    // 60×30, rotated by EXIF orientation 6: the thumbnail is portrait.
    let photo = jpeg_with_exif(600, 300, 6, "2019:07:04 18:30:00", None);
    let id = server.upload(&a, &photo, &[("filename", "p.jpg")]).await;
    let uri = format!("/api/assets/{id}/thumbnail");

    let response = server.send(get(&uri, &a)).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()[header::CONTENT_TYPE], "image/webp");
    assert!(response.headers()[header::CACHE_CONTROL]
        .to_str()
        .unwrap()
        .contains("private"));
    let etag = response.headers()[header::ETAG]
        .to_str()
        .unwrap()
        .to_owned();
    let webp = bytes(response).await;
    let thumb = image::load_from_memory_with_format(&webp, image::ImageFormat::WebP).unwrap();
    assert_eq!((thumb.width(), thumb.height()), (128, 256));
    assert_eq!(
        common::files_under(&server.store_dir().join("thumbs/gen")).len(),
        1
    );

    let response = server
        .send(
            Request::get(&uri)
                .header("x-api-key", &a)
                .header(header::IF_NONE_MATCH, &etag)
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(response.status(), StatusCode::NOT_MODIFIED);

    // B: 404 on GET and PUT, and A's thumbnail is unchanged.
    assert_eq!(
        server.send(get(&uri, &b)).await.status(),
        StatusCode::NOT_FOUND
    );
    let small = jpeg(16, 16);
    let put = |key: &str, content_type: &str, body: Vec<u8>| {
        Request::put(&uri)
            .header("x-api-key", key)
            .header(header::CONTENT_TYPE, content_type)
            .body(Body::from(body))
            .unwrap()
    };
    assert_eq!(
        server
            .send(put(&b, "image/jpeg", small.clone()))
            .await
            .status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        server
            .send(put("nope", "image/jpeg", small.clone()))
            .await
            .status(),
        StatusCode::UNAUTHORIZED
    );
    let response = server.send(get(&uri, &a)).await;
    assert_eq!(response.headers()[header::ETAG], etag.as_str());

    // A's own thumbnail replaces the server-made one.
    assert_eq!(
        server
            .send(put(&a, "image/png", small.clone()))
            .await
            .status(),
        StatusCode::UNSUPPORTED_MEDIA_TYPE
    );
    assert_eq!(
        server
            .send(put(&a, "image/webp", small.clone()))
            .await
            .status(),
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        server
            .send(put(&a, "image/jpeg", vec![0xFF; 600 * 1024]))
            .await
            .status(),
        StatusCode::PAYLOAD_TOO_LARGE
    );
    assert_eq!(
        server
            .send(put(&a, "image/jpeg", small.clone()))
            .await
            .status(),
        StatusCode::NO_CONTENT
    );
    let response = server.send(get(&uri, &a)).await;
    assert_eq!(response.headers()[header::CONTENT_TYPE], "image/jpeg");
    assert_eq!(
        response.headers()[header::ETAG],
        format!("\"{}\"", sha256_hex(&small)).as_str()
    );
    assert_eq!(bytes(response).await, small);

    // Videos and HEIC have none until the client sends one.
    let video = server.upload(&a, &mp4(1_714_564_800, 1000), &[]).await;
    let (status, body) = server
        .get_json(&a, &format!("/api/assets/{video}/thumbnail"))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["error"], "no-thumbnail");
    let heic = server
        .upload(
            &a,
            b"\0\0\0\x18ftypheic\0\0\0\0mif1heic",
            &[("filename", "x.heic")],
        )
        .await;
    assert_eq!(server.asset(&a, &heic).await["mimeType"], "image/heic");
    let uri = format!("/api/assets/{heic}/thumbnail");
    assert_eq!(
        server.send(get(&uri, &a)).await.status(),
        StatusCode::NOT_FOUND
    );
    let response = server
        .send(
            Request::put(&uri)
                .header("x-api-key", &a)
                .header(header::CONTENT_TYPE, "image/jpeg")
                .body(Body::from(small.clone()))
                .unwrap(),
        )
        .await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_eq!(server.asset(&a, &heic).await["hasThumbnail"], true);
    assert_eq!(bytes(server.send(get(&uri, &a)).await).await, small);
    // Purging removes the client's thumbnail file.
    server
        .call("DELETE", &format!("/api/assets/{heic}"), &a)
        .await;
    server
        .call("DELETE", &format!("/api/trash/{heic}"), &a)
        .await;
    assert!(!server.store_dir().join("thumbs/asset").join(&heic).exists());
}

fn multipart(fields: &[(&str, &str)], files: &[(&str, &str, &[u8])]) -> (String, Vec<u8>) {
    let boundary = "ferry-test-boundary-7d3f";
    let mut body = Vec::new();
    for (name, value) in fields {
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
            )
            .as_bytes(),
        );
    }
    for (name, filename, data) in files {
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"; filename=\"{filename}\"\r\nContent-Type: application/octet-stream\r\n\r\n"
            )
            .as_bytes(),
        );
        body.extend_from_slice(data);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

async fn post_form(
    server: &Server,
    key: &str,
    fields: &[(&str, &str)],
    files: &[(&str, &str, &[u8])],
) -> (StatusCode, Value) {
    let (content_type, body) = multipart(fields, files);
    let response = server
        .send(
            Request::post("/api/assets")
                .header("x-api-key", key)
                .header(header::CONTENT_TYPE, content_type)
                .body(Body::from(body))
                .unwrap(),
        )
        .await;
    let status = response.status();
    (status, json_or_null(response).await)
}

#[tokio::test]
async fn multipart_fallback_creates_then_answers_duplicate() {
    let server = Server::new().await;
    let a = server.user("a").await;
    let b = server.user_with_quota("b", Some(100)).await;
    let photo = jpeg_with_exif(8, 8, 1, "2019:07:04 18:30:00", Some("+02:00"));
    let fields = [
        ("deviceAssetId", "IMG_7"),
        ("deviceId", "phone"),
        ("fileModifiedAt", "2024-05-01T12:00:00Z"),
        ("isFavorite", "true"),
        ("album", "Camera"),
    ];
    let (status, body) =
        post_form(&server, &a, &fields, &[("assetData", "IMG_7.JPG", &photo)]).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["duplicate"], false);
    let id = body["id"].as_str().unwrap().to_owned();
    let asset = server.asset(&a, &id).await;
    assert_eq!(asset["originalFileName"], "IMG_7.JPG");
    assert_eq!(asset["mimeType"], "image/jpeg");
    assert_eq!(asset["checksum"], sha256_hex(&photo));
    assert_eq!(asset["deviceAssetId"], "IMG_7");
    assert_eq!(asset["isFavorite"], true);
    assert_eq!(asset["albums"], json!(["Camera"]));
    assert_eq!(asset["fileCreatedAt"], "2019-07-04T16:30:00.000Z");
    let response = server
        .send(get(&format!("/api/assets/{id}/original"), &a))
        .await;
    assert_eq!(bytes(response).await, photo);
    let (_, exist) = server
        .post_json(
            &a,
            "/api/assets/exist",
            json!({ "deviceAssetIds": ["IMG_7"], "deviceId": "phone" }),
        )
        .await;
    assert_eq!(exist["existingIds"], json!(["IMG_7"]));

    // The same bytes again: 200 duplicate with the same id; no partial files left.
    let (status, body) =
        post_form(&server, &a, &fields, &[("assetData", "copy.jpg", &photo)]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, json!({ "id": id, "duplicate": true }));
    assert_eq!(server.upload_files().len(), 0);
    let uploads: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM uploads")
        .fetch_one(&server.state.pool.pool)
        .await
        .unwrap();
    assert_eq!(uploads, 0);

    // Live Photo: the motion part becomes its own asset.
    let motion = mp4(1_714_564_800, 2000);
    let still = jpeg(10, 10);
    let (status, body) = post_form(
        &server,
        &a,
        &[],
        &[
            ("assetData", "live.jpg", &still),
            ("livePhotoData", "live.mov", &motion),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let live = body["livePhotoVideoId"].as_str().unwrap();
    assert_eq!(server.asset(&a, live).await["duration"], "0:00:02.000");
    // The photo names its motion part, which the timeline lists only through it.
    let id = body["id"].as_str().unwrap();
    assert_eq!(server.asset(&a, id).await["livePhotoVideoId"], live);
    assert!(!ids(&server.items(&a, "/api/assets").await).contains(&live));

    // Dedup is per user: B gets 201 for A's bytes... unless over quota (413, nothing kept).
    let small = sample(50, 1);
    let (status, _) = post_form(&server, &a, &[], &[("assetData", "s.bin", &small)]).await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, body) = post_form(&server, &b, &[], &[("assetData", "s.bin", &small)]).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(body["duplicate"], false);
    let (status, body) = post_form(
        &server,
        &b,
        &[],
        &[("assetData", "big.bin", &sample(60, 2))],
    )
    .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(body["error"], "quota-exceeded");
    assert_eq!(server.items(&b, "/api/assets").await.len(), 1);

    // Bad input and no auth.
    let (status, _) = post_form(&server, &a, &[("deviceId", "x")], &[]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = post_form(
        &server,
        &a,
        &[("fileCreatedAt", "someday")],
        &[("assetData", "x.bin", b"xyz")],
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = post_form(&server, "nope", &[], &[("assetData", "x.bin", b"xyz")]).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(server.upload_files().len(), 0);
}

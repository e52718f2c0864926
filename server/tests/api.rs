//! Handler tests: the whole router, driven in-process with `oneshot`.

mod common;

use axum::body::{Body, Bytes};
use axum::http::{header, Request, Response, StatusCode};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use common::{get, header_str, json_body, sample, sha256_hex, tus, Server};
use ferry_server::{db, tus as ferry_tus, users, Config};
use http_body_util::BodyExt;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

impl Server {
    async fn new() -> Self {
        Self::with_config(Config::default()).await
    }

    async fn with_config(config: Config) -> Self {
        Self::start(
            config,
            &[
                ("index.html", b"<!doctype html><title>ferry</title>"),
                ("worker.mjs", b"export {};"),
                ("app.wasm", b"\0asm"),
            ],
        )
        .await
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

    /// `POST /api/uploads`; returns the response (Location etc.).
    async fn create(&self, key: &str, length: u64, metadata: &[(&str, &str)]) -> Response<Body> {
        self.send(
            tus("POST", "/api/uploads", key)
                .header("upload-length", length)
                .header("upload-metadata", encode_metadata(metadata))
                .body(Body::empty())
                .unwrap(),
        )
        .await
    }

    /// Creates an upload and returns its URL.
    async fn create_url(&self, key: &str, length: u64, metadata: &[(&str, &str)]) -> String {
        let response = self.create(key, length, metadata).await;
        assert_eq!(response.status(), StatusCode::CREATED);
        header_str(&response, "location")
    }

    async fn patch(&self, key: &str, url: &str, offset: u64, data: &[u8]) -> Response<Body> {
        self.send(
            patch_request(key, url, offset)
                .body(Body::from(data.to_vec()))
                .unwrap(),
        )
        .await
    }

    async fn head(&self, key: &str, url: &str) -> Response<Body> {
        self.send(tus("HEAD", url, key).body(Body::empty()).unwrap())
            .await
    }

    async fn get_json(&self, key: &str, uri: &str) -> (StatusCode, Value) {
        let response = self.send(get(uri, key)).await;
        let status = response.status();
        (status, json_body(response).await)
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
        (status, json_body(response).await)
    }

    /// Uploads `data` in one PATCH and returns the asset id.
    async fn upload(&self, key: &str, data: &[u8], metadata: &[(&str, &str)]) -> String {
        let url = self.create_url(key, data.len() as u64, metadata).await;
        let response = self.patch(key, &url, 0, data).await;
        assert_eq!(response.status(), StatusCode::NO_CONTENT);
        header_str(&response, "ferry-asset-id")
    }

    async fn assets(&self, key: &str) -> Vec<Value> {
        let (status, body) = self.get_json(key, "/api/assets").await;
        assert_eq!(status, StatusCode::OK);
        body["items"].as_array().unwrap().clone()
    }
}

fn patch_request(key: &str, url: &str, offset: u64) -> axum::http::request::Builder {
    tus("PATCH", url, key)
        .header("upload-offset", offset)
        .header(header::CONTENT_TYPE, "application/offset+octet-stream")
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

#[tokio::test]
async fn api_requires_a_valid_key() {
    let server = Server::new().await;
    let key = server.user("alice").await;

    for request in [
        Request::get("/api/assets").body(Body::empty()).unwrap(),
        get("/api/users/me", "not-a-key"),
        tus("POST", "/api/uploads", "")
            .header("upload-length", 1)
            .body(Body::empty())
            .unwrap(),
    ] {
        let response = server.send(request).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(json_body(response).await["error"], "unauthorized");
    }

    let response = server
        .send(
            Request::get("/api/users/me")
                .header(header::AUTHORIZATION, format!("Bearer {key}"))
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let me = json_body(response).await;
    assert_eq!(me["name"], "alice");
    assert_eq!(me["quotaUsageInBytes"], 0);
    assert_eq!(me["quotaSizeInBytes"], Value::Null);
}

#[tokio::test]
async fn tus_options_needs_no_auth() {
    let server = Server::new().await;
    let response = server
        .send(
            Request::options("/api/uploads")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_eq!(header_str(&response, "tus-resumable"), "1.0.0");
    assert_eq!(header_str(&response, "tus-version"), "1.0.0");
    let extensions = header_str(&response, "tus-extension");
    for extension in [
        "creation",
        "creation-with-upload",
        "termination",
        "checksum",
        "expiration",
    ] {
        assert!(
            extensions.split(',').any(|e| e == extension),
            "{extensions}"
        );
    }
    assert_eq!(
        header_str(&response, "tus-checksum-algorithm"),
        "md5,sha1,sha256"
    );
    assert_eq!(
        header_str(&response, "tus-max-size"),
        (64u64 << 30).to_string()
    );
}

#[tokio::test]
async fn wrong_or_missing_tus_resumable_is_412() {
    let server = Server::new().await;
    let key = server.user("alice").await;
    for version in [Some("0.2.2"), None] {
        let mut request = Request::post("/api/uploads")
            .header("x-api-key", &key)
            .header("upload-length", 1);
        if let Some(version) = version {
            request = request.header("tus-resumable", version);
        }
        let response = server.send(request.body(Body::empty()).unwrap()).await;
        assert_eq!(response.status(), StatusCode::PRECONDITION_FAILED);
        assert_eq!(header_str(&response, "tus-resumable"), "1.0.0");
        assert_eq!(header_str(&response, "tus-version"), "1.0.0");
    }
}

#[tokio::test]
async fn upload_in_two_chunks_becomes_an_asset_with_its_bytes() {
    let server = Server::new().await;
    let key = server.user("alice").await;
    let data = sample(300_000, 7);
    let url = server
        .create_url(
            &key,
            data.len() as u64,
            &[
                ("filename", "beach.jpg"),
                ("filetype", "image/jpeg"),
                ("fileModifiedAt", "1714564800000"),
                ("fileCreatedAt", "2024-05-01T10:00:00+02:00"),
                ("deviceAssetId", "local-1"),
                ("deviceId", "phone"),
            ],
        )
        .await;
    assert!(url.starts_with("/api/uploads/"), "{url}");
    let id = url.rsplit('/').next().unwrap();
    assert!(id.len() >= 32 && id.bytes().all(|b| b.is_ascii_hexdigit()));

    let response = server.patch(&key, &url, 0, &data[..100_000]).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_eq!(header_str(&response, "upload-offset"), "100000");
    assert_eq!(header_str(&response, "tus-resumable"), "1.0.0");
    assert!(response.headers().get("ferry-asset-id").is_none());

    let response = server.head(&key, &url).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(header_str(&response, "upload-offset"), "100000");
    assert_eq!(header_str(&response, "upload-length"), "300000");
    assert_eq!(header_str(&response, "cache-control"), "no-store");

    let response = server.patch(&key, &url, 100_000, &data[100_000..]).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_eq!(header_str(&response, "upload-offset"), "300000");
    let asset_id = header_str(&response, "ferry-asset-id");

    let response = server.head(&key, &url).await;
    assert_eq!(header_str(&response, "upload-offset"), "300000");
    assert_eq!(header_str(&response, "ferry-asset-id"), asset_id);

    let assets = server.assets(&key).await;
    assert_eq!(assets.len(), 1);
    let asset = &assets[0];
    assert_eq!(asset["id"], asset_id.as_str());
    assert_eq!(asset["checksum"], sha256_hex(&data));
    assert_eq!(asset["originalFileName"], "beach.jpg");
    assert_eq!(asset["mimeType"], "image/jpeg");
    assert_eq!(asset["fileSize"], 300_000);
    assert_eq!(asset["fileCreatedAt"], "2024-05-01T08:00:00.000Z");
    assert_eq!(asset["fileModifiedAt"], "2024-05-01T12:00:00.000Z");
    assert_eq!(asset["albums"], json!([]));

    let original = format!("/api/assets/{asset_id}/original");
    let response = server.send(get(&original, &key)).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(header_str(&response, "content-type"), "image/jpeg");
    assert_eq!(bytes(response).await, data);

    let response = server
        .send(
            Request::get(&original)
                .header("x-api-key", &key)
                .header(header::RANGE, "bytes=1000-1999")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(response.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(
        header_str(&response, "content-range"),
        "bytes 1000-1999/300000"
    );
    assert_eq!(bytes(response).await, data[1000..2000]);

    let (_, me) = server.get_json(&key, "/api/users/me").await;
    assert_eq!(me["quotaUsageInBytes"], 300_000);
    // The partial file is gone; the blob is stored under its hash.
    assert_eq!(
        server
            .blob_files()
            .iter()
            .map(|p| p.file_name().unwrap().to_owned())
            .collect::<Vec<_>>(),
        vec![std::ffi::OsString::from(sha256_hex(&data))]
    );
}

#[tokio::test]
async fn zero_byte_upload_completes_at_creation() {
    let server = Server::new().await;
    let key = server.user("alice").await;
    let response = server.create(&key, 0, &[("filename", "empty.txt")]).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    assert_eq!(header_str(&response, "upload-offset"), "0");
    let asset_id = header_str(&response, "ferry-asset-id");
    let url = header_str(&response, "location");
    assert_eq!(
        header_str(&server.head(&key, &url).await, "ferry-asset-id"),
        asset_id
    );

    let assets = server.assets(&key).await;
    assert_eq!(assets.len(), 1);
    assert_eq!(assets[0]["checksum"], sha256_hex(b""));
    assert_eq!(assets[0]["fileSize"], 0);
    let response = server
        .send(get(&format!("/api/assets/{asset_id}/original"), &key))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(bytes(response).await.is_empty());
}

#[tokio::test]
async fn creation_with_upload_writes_the_first_chunk() {
    let server = Server::new().await;
    let key = server.user("alice").await;
    let data = sample(1000, 3);
    let response = server
        .send(
            tus("POST", "/api/uploads", &key)
                .header("upload-length", 1000)
                .header(header::CONTENT_TYPE, "application/offset+octet-stream")
                .body(Body::from(data[..400].to_vec()))
                .unwrap(),
        )
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    assert_eq!(header_str(&response, "upload-offset"), "400");
    let url = header_str(&response, "location");
    let response = server.patch(&key, &url, 400, &data[400..]).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert!(response.headers().contains_key("ferry-asset-id"));
    assert_eq!(server.assets(&key).await[0]["checksum"], sha256_hex(&data));

    // The whole file in the POST completes it there.
    let response = server
        .send(
            tus("POST", "/api/uploads", &key)
                .header("upload-length", 3)
                .header(header::CONTENT_TYPE, "application/offset+octet-stream")
                .body(Body::from("abc"))
                .unwrap(),
        )
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    assert_eq!(header_str(&response, "upload-offset"), "3");
    assert!(response.headers().contains_key("ferry-asset-id"));
}

#[tokio::test]
async fn patch_preconditions() {
    let server = Server::new().await;
    let key = server.user("alice").await;
    let url = server.create_url(&key, 10, &[]).await;
    assert_eq!(
        server.patch(&key, &url, 0, b"12345").await.status(),
        StatusCode::NO_CONTENT
    );

    let response = server.patch(&key, &url, 0, b"12345").await;
    assert_eq!(response.status(), StatusCode::CONFLICT);
    assert_eq!(json_body(response).await["error"], "offset-mismatch");

    let response = server
        .send(
            tus("PATCH", &url, &key)
                .header("upload-offset", 5)
                .header(header::CONTENT_TYPE, "application/octet-stream")
                .body(Body::from("67890"))
                .unwrap(),
        )
        .await;
    assert_eq!(response.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);

    // Past Upload-Length: refused, nothing written.
    let response = server.patch(&key, &url, 5, b"6789012").await;
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(
        header_str(&server.head(&key, &url).await, "upload-offset"),
        "5"
    );

    let missing = "/api/uploads/0123456789abcdef0123456789abcdef";
    assert_eq!(
        server.head(&key, missing).await.status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        server.head(&key, "/api/uploads/..").await.status(),
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn concurrent_patch_on_one_upload_is_423() {
    let server = Server::new().await;
    let key = server.user("alice").await;
    let url = server.create_url(&key, 10, &[]).await;
    let id = url.rsplit('/').next().unwrap();
    let held = server.state.upload_locks.try_lock(id).unwrap();
    assert_eq!(
        server.patch(&key, &url, 0, b"12345").await.status(),
        StatusCode::LOCKED
    );
    drop(held);
    assert_eq!(
        server.patch(&key, &url, 0, b"12345").await.status(),
        StatusCode::NO_CONTENT
    );
}

#[tokio::test]
async fn chunk_checksum_mismatch_is_460_and_keeps_the_offset() {
    let server = Server::new().await;
    let key = server.user("alice").await;
    let data = b"hello world";
    let url = server.create_url(&key, data.len() as u64, &[]).await;

    let wrong = STANDARD.encode(Sha256::digest(b"something else"));
    let response = server
        .send(
            patch_request(&key, &url, 0)
                .header("upload-checksum", format!("sha256 {wrong}"))
                .body(Body::from(&data[..5]))
                .unwrap(),
        )
        .await;
    assert_eq!(response.status().as_u16(), 460);
    assert_eq!(header_str(&response, "tus-resumable"), "1.0.0");
    assert_eq!(
        header_str(&server.head(&key, &url).await, "upload-offset"),
        "0"
    );

    let response = server
        .send(
            patch_request(&key, &url, 0)
                .header("upload-checksum", "crc32 AAAA")
                .body(Body::from(&data[..5]))
                .unwrap(),
        )
        .await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);

    let wrong_md5 = STANDARD.encode(md5::Md5::digest(b"jello"));
    let response = server
        .send(
            patch_request(&key, &url, 0)
                .header("upload-checksum", format!("md5 {wrong_md5}"))
                .body(Body::from(&data[..5]))
                .unwrap(),
        )
        .await;
    assert_eq!(response.status().as_u16(), 460);
    assert_eq!(
        header_str(&server.head(&key, &url).await, "upload-offset"),
        "0"
    );
    let right_md5 = STANDARD.encode(md5::Md5::digest(&data[..3]));
    let response = server
        .send(
            patch_request(&key, &url, 0)
                .header("upload-checksum", format!("MD5 {right_md5}"))
                .body(Body::from(&data[..3]))
                .unwrap(),
        )
        .await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_eq!(header_str(&response, "upload-offset"), "3");
    // Start over at 0 for the rest of the test: terminate and recreate.
    server
        .send(tus("DELETE", &url, &key).body(Body::empty()).unwrap())
        .await;
    let url = server.create_url(&key, data.len() as u64, &[]).await;

    let right = STANDARD.encode(sha1::Sha1::digest(&data[..5]));
    let response = server
        .send(
            patch_request(&key, &url, 0)
                .header("upload-checksum", format!("sha1 {right}"))
                .body(Body::from(&data[..5]))
                .unwrap(),
        )
        .await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_eq!(header_str(&response, "upload-offset"), "5");
    assert_eq!(
        server.patch(&key, &url, 5, &data[5..]).await.status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(server.assets(&key).await[0]["checksum"], sha256_hex(data));
}

#[tokio::test]
async fn declared_checksum_mismatch_stores_nothing() {
    let server = Server::new().await;
    let key = server.user("alice").await;
    let data = b"the real bytes";
    let declared = sha256_hex(b"what the client hashed");
    let url = server
        .create_url(&key, data.len() as u64, &[("checksum", &declared)])
        .await;
    let response = server.patch(&key, &url, 0, data).await;
    assert_eq!(response.status().as_u16(), 460);
    assert_eq!(json_body(response).await["error"], "checksum-mismatch");

    assert!(server.assets(&key).await.is_empty());
    assert!(server.blob_files().is_empty());
    assert_eq!(
        server.head(&key, &url).await.status(),
        StatusCode::NOT_FOUND
    );
    let (_, me) = server.get_json(&key, "/api/users/me").await;
    assert_eq!(me["quotaUsageInBytes"], 0);

    // Declared and matching: accepted (uppercase hex is fine).
    let declared = sha256_hex(data).to_uppercase();
    server.upload(&key, data, &[("checksum", &declared)]).await;
    assert_eq!(server.assets(&key).await[0]["checksum"], sha256_hex(data));

    // A declared checksum that is not SHA-256 hex is refused at creation.
    let response = server.create(&key, 3, &[("checksum", "abc")]).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn same_bytes_twice_is_one_asset() {
    let server = Server::new().await;
    let key = server.user("alice").await;
    let data = sample(5000, 9);
    let first = server.upload(&key, &data, &[("filename", "a.jpg")]).await;
    let second = server
        .upload(&key, &data, &[("filename", "copy of a.jpg")])
        .await;
    assert_eq!(first, second);
    let assets = server.assets(&key).await;
    assert_eq!(assets.len(), 1);
    assert_eq!(assets[0]["originalFileName"], "a.jpg");
    assert_eq!(server.blob_files().len(), 1);
    let (_, me) = server.get_json(&key, "/api/users/me").await;
    assert_eq!(me["quotaUsageInBytes"], 5000);
}

#[tokio::test]
async fn dedup_and_uploads_are_private_to_each_user() {
    let server = Server::new().await;
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    let data = sample(2048, 1);
    let checksum = sha256_hex(&data);
    let asset_id = server.upload(&alice, &data, &[]).await;
    let other = sha256_hex(b"other");

    let check = json!({ "assets": [
        { "id": "c1", "checksum": checksum },
        { "id": "c2", "checksum": other },
    ]});
    let (status, body) = server
        .post_json(&alice, "/api/assets/bulk-upload-check", check.clone())
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body,
        json!({ "results": [
            { "id": "c1", "action": "reject", "reason": "duplicate", "assetId": asset_id },
            { "id": "c2", "action": "accept" },
        ]})
    );
    let (_, body) = server
        .post_json(&bob, "/api/assets/bulk-upload-check", check)
        .await;
    assert_eq!(
        body,
        json!({ "results": [
            { "id": "c1", "action": "accept" },
            { "id": "c2", "action": "accept" },
        ]})
    );

    // Bob cannot see, continue, or cancel Alice's upload, nor read her asset.
    let url = server.create_url(&alice, 10, &[]).await;
    assert_eq!(
        server.head(&bob, &url).await.status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        server.patch(&bob, &url, 0, b"12345").await.status(),
        StatusCode::NOT_FOUND
    );
    let delete = tus("DELETE", &url, &bob).body(Body::empty()).unwrap();
    assert_eq!(server.send(delete).await.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        header_str(&server.head(&alice, &url).await, "upload-offset"),
        "0"
    );
    let original = format!("/api/assets/{asset_id}/original");
    assert_eq!(
        server.send(get(&original, &bob)).await.status(),
        StatusCode::NOT_FOUND
    );
    assert!(server.assets(&bob).await.is_empty());

    // Bob uploading the same bytes gets his own asset (the blob may be shared).
    let bobs = server.upload(&bob, &data, &[]).await;
    assert_ne!(bobs, asset_id);
    let response = server
        .send(get(&format!("/api/assets/{bobs}/original"), &bob))
        .await;
    assert_eq!(bytes(response).await, data);
}

#[tokio::test]
async fn bulk_upload_check_validates_input() {
    let server = Server::new().await;
    let key = server.user("alice").await;
    let (status, body) = server
        .post_json(
            &key,
            "/api/assets/bulk-upload-check",
            json!({ "assets": [{ "id": "x", "checksum": "not-hex" }] }),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "bad-request");

    let too_many: Vec<Value> = (0..1001)
        .map(|i| json!({ "id": i.to_string(), "checksum": sha256_hex(&[i as u8]) }))
        .collect();
    let (status, _) = server
        .post_json(
            &key,
            "/api/assets/bulk-upload-check",
            json!({ "assets": too_many }),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    let (status, _) = server
        .post_json(&key, "/api/assets/bulk-upload-check", json!({ "nope": 1 }))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn exist_answers_by_device_asset_id() {
    let server = Server::new().await;
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    server
        .upload(
            &alice,
            b"photo",
            &[("deviceAssetId", "IMG_1"), ("deviceId", "phone")],
        )
        .await;
    let query = json!({ "deviceAssetIds": ["IMG_1", "IMG_2"], "deviceId": "phone" });
    let (status, body) = server
        .post_json(&alice, "/api/assets/exist", query.clone())
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, json!({ "existingIds": ["IMG_1"] }));
    let (_, body) = server.post_json(&bob, "/api/assets/exist", query).await;
    assert_eq!(body, json!({ "existingIds": [] }));
    let (_, body) = server
        .post_json(
            &alice,
            "/api/assets/exist",
            json!({ "deviceAssetIds": ["IMG_1"], "deviceId": "tablet" }),
        )
        .await;
    assert_eq!(body, json!({ "existingIds": [] }));
}

#[tokio::test]
async fn sizes_answers_only_within_the_users_library() {
    let server = Server::new().await;
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    server.upload(&alice, &sample(3000, 4), &[]).await;
    let query = json!({ "sizes": [3000, 3001, 0] });
    let (status, body) = server
        .post_json(&alice, "/api/assets/sizes", query.clone())
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, json!({ "known": [3000] }));
    let (_, body) = server.post_json(&bob, "/api/assets/sizes", query).await;
    assert_eq!(body, json!({ "known": [] }));

    let too_many: Vec<u64> = (0..1001).collect();
    let (status, _) = server
        .post_json(&alice, "/api/assets/sizes", json!({ "sizes": too_many }))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = server
        .post_json(&alice, "/api/assets/sizes", json!({ "sizes": [-1] }))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn assets_are_paginated_newest_first() {
    let server = Server::new().await;
    let key = server.user("alice").await;
    let other = server.user("bob").await;
    server
        .upload(
            &other,
            b"bob's",
            &[("fileCreatedAt", "2030-01-01T00:00:00Z")],
        )
        .await;
    // Two share a timestamp: the id breaks the tie, and no item is lost or repeated.
    let times = [
        "2021-01-01T00:00:00Z",
        "2023-01-01T00:00:00Z",
        "2022-06-01T00:00:00Z",
        "2022-06-01T00:00:00Z",
        "2020-01-01T00:00:00Z",
    ];
    for (i, time) in times.iter().enumerate() {
        server
            .upload(&key, &[i as u8; 3], &[("fileCreatedAt", time)])
            .await;
    }

    let mut seen = Vec::new();
    let mut uri = "/api/assets?limit=2".to_owned();
    let mut pages = 0;
    loop {
        let (status, body) = server.get_json(&key, &uri).await;
        assert_eq!(status, StatusCode::OK);
        let items = body["items"].as_array().unwrap();
        assert!(items.len() <= 2);
        seen.extend(items.iter().map(|a| {
            (
                a["fileCreatedAt"].as_str().unwrap().to_owned(),
                a["id"].as_str().unwrap().to_owned(),
            )
        }));
        pages += 1;
        match body["nextCursor"].as_str() {
            Some(cursor) => uri = format!("/api/assets?limit=2&cursor={cursor}"),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(seen.len(), 5);
    let mut expected = seen.clone();
    expected.sort_by(|a, b| b.cmp(a));
    assert_eq!(seen, expected);
    assert_eq!(seen[0].0, "2023-01-01T00:00:00.000Z");
    assert_eq!(seen[4].0, "2020-01-01T00:00:00.000Z");

    let (status, _) = server.get_json(&key, "/api/assets?cursor=%%%").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn termination_removes_the_upload() {
    let server = Server::new().await;
    let key = server.user("alice").await;
    let url = server.create_url(&key, 10, &[]).await;
    server.patch(&key, &url, 0, b"123").await;
    let response = server
        .send(tus("DELETE", &url, &key).body(Body::empty()).unwrap())
        .await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        server.head(&key, &url).await.status(),
        StatusCode::NOT_FOUND
    );
    let id = url.rsplit('/').next().unwrap();
    assert!(!server.upload_stored(id));
}

#[tokio::test]
async fn quota_is_enforced_at_creation() {
    let server = Server::new().await;
    let key = server.user_with_quota("alice", Some(10)).await;
    server.upload(&key, b"123456", &[]).await;
    let response = server.create(&key, 5, &[]).await;
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(json_body(response).await["error"], "quota-exceeded");
    assert_eq!(
        server.create(&key, 4, &[]).await.status(),
        StatusCode::CREATED
    );
    let (_, me) = server.get_json(&key, "/api/users/me").await;
    assert_eq!(me["quotaSizeInBytes"], 10);
    assert_eq!(me["quotaUsageInBytes"], 6);
}

#[tokio::test]
async fn a_declared_own_checksum_is_free_only_up_to_that_contents_size() {
    let server = Server::with_config(Config {
        max_upload_bytes: 1000,
        ..Config::default()
    })
    .await;
    let key = server.user_with_quota("alice", Some(10)).await;
    let own = sha256_hex(b"123456");
    server.upload(&key, b"123456", &[]).await;
    server.upload(&key, b"abcd", &[]).await; // the quota is full

    // The same content again costs nothing, and may take no more than its own 6 bytes.
    let response = server.create(&key, 6, &[("checksum", &own)]).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    assert_eq!(header_str(&response, "tus-max-size"), "6");
    // A larger upload cannot be that content: the quota holds, not the server's 1,000 bytes.
    let response = server.create(&key, 900, &[("checksum", &own)]).await;
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(json_body(response).await["error"], "quota-exceeded");
}

#[tokio::test]
async fn serves_health_and_the_pwa() {
    let server = Server::new().await;
    let response = server
        .send(Request::get("/healthz").body(Body::empty()).unwrap())
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(bytes(response).await, "ok");

    for (path, content_type) in [
        ("/", "text/html"),
        ("/worker.mjs", "text/javascript"),
        ("/app.wasm", "application/wasm"),
    ] {
        let response = server
            .send(Request::get(path).body(Body::empty()).unwrap())
            .await;
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        assert_eq!(
            header_str(&response, "content-type"),
            content_type,
            "{path}"
        );
    }
    let response = server.send(get("/api/nothing-here", "x")).await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn large_chunks_are_not_limited() {
    let server = Server::new().await;
    let key = server.user("alice").await;
    let data = sample(9 * 1024 * 1024 + 17, 5);
    server.upload(&key, &data, &[]).await;
    assert_eq!(server.assets(&key).await[0]["checksum"], sha256_hex(&data));
}

#[tokio::test]
async fn unacknowledged_bytes_after_a_crash_are_dropped() {
    let server = Server::new().await;
    let key = server.user("alice").await;
    let data = b"0123456789";
    let url = server.create_url(&key, 10, &[]).await;
    server.patch(&key, &url, 0, &data[..5]).await;
    // A crash after writing but before acknowledging leaves extra bytes in the store.
    let id = url.rsplit('/').next().unwrap();
    server.store_bytes(id, b"junk", false).await;

    assert_eq!(
        header_str(&server.head(&key, &url).await, "upload-offset"),
        "5"
    );
    let response = server.patch(&key, &url, 5, &data[5..]).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_eq!(server.assets(&key).await[0]["checksum"], sha256_hex(data));
}

#[tokio::test]
async fn an_upload_with_all_bytes_but_no_asset_completes_on_an_empty_patch() {
    let server = Server::new().await;
    let key = server.user("alice").await;
    let url = server.create_url(&key, 5, &[]).await;
    // As if the server died after acknowledging the last byte but before completing.
    let id = url.rsplit('/').next().unwrap();
    server.store_bytes(id, b"hello", true).await;

    let response = server.patch(&key, &url, 5, b"").await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let asset_id = header_str(&response, "ferry-asset-id");
    assert_eq!(server.assets(&key).await[0]["id"], asset_id.as_str());
    assert_eq!(
        server.assets(&key).await[0]["checksum"],
        sha256_hex(b"hello")
    );
}

// ---------------------------------------------------------------------------------------
// Accounts and auth

async fn login(server: &Server, username: &str, password: &str) -> (StatusCode, Value) {
    let response = server
        .send(
            Request::post("/api/auth/login")
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(
                    json!({ "username": username, "password": password }).to_string(),
                ))
                .unwrap(),
        )
        .await;
    let status = response.status();
    (status, json_body(response).await)
}

fn bearer(uri: &str, token: &str) -> Request<Body> {
    Request::get(uri)
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .body(Body::empty())
        .unwrap()
}

#[tokio::test]
async fn an_admin_ends_a_users_sessions_and_a_new_password_ends_them_too() {
    let server = &Server::new().await;
    let key = users::create_user(&server.state.pool, "alice", None, Some("old secret"))
        .await
        .unwrap()
        .api_key;
    let other = users::create_user(&server.state.pool, "bob", None, Some("bob's"))
        .await
        .unwrap()
        .api_key;
    let me = move |token: String| async move { server.send(bearer("/api/users/me", &token)).await };
    let sign_in = move |password: &'static str| async move {
        let (status, body) = login(server, "alice", password).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body["token"].as_str().unwrap().to_owned()
    };
    let (laptop, phone) = (sign_in("old secret").await, sign_in("old secret").await);
    let (_, body) = login(server, "bob", "bob's").await;
    let bobs = body["token"].as_str().unwrap().to_owned();

    // `user sign-out alice`: both her browsers must sign in again; her key and Bob's
    // session are untouched.
    let ended = users::sign_out_everywhere(&server.state.pool, "alice")
        .await
        .unwrap();
    assert_eq!(ended, 2);
    for token in [&laptop, &phone] {
        assert_eq!(me(token.clone()).await.status(), StatusCode::UNAUTHORIZED);
    }
    assert_eq!(
        server.send(get("/api/users/me", &key)).await.status(),
        StatusCode::OK
    );
    assert_eq!(me(bobs.clone()).await.status(), StatusCode::OK);
    assert_eq!(
        server.send(get("/api/users/me", &other)).await.status(),
        StatusCode::OK
    );

    // `user password alice`: the session made with the old password ends with it.
    let before = sign_in("old secret").await;
    let ended = users::set_password(&server.state.pool, "alice", "new secret")
        .await
        .unwrap();
    assert_eq!(ended, 1);
    assert_eq!(me(before).await.status(), StatusCode::UNAUTHORIZED);
    let (status, _) = login(server, "alice", "old secret").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        me(sign_in("new secret").await).await.status(),
        StatusCode::OK
    );
    assert_eq!(me(bobs).await.status(), StatusCode::OK);

    // A sign-in whose password check began before the change records no session after it.
    let alice = db::user_by_name(&server.state.pool, "alice")
        .await
        .unwrap()
        .unwrap();
    let token = ferry_server::auth::hash_api_key(&ferry_server::auth::generate_api_key());
    let later = ferry_server::auth::unix_now() + 3600;
    let stale = "the hash the sign-in checked before `user password`";
    let recorded = db::insert_session(&server.state.pool, &token, &alice.id, stale, later)
        .await
        .unwrap();
    assert!(!recorded);

    assert!(users::set_password(&server.state.pool, "alice", "")
        .await
        .is_err());
    assert!(users::sign_out_everywhere(&server.state.pool, "nobody")
        .await
        .is_err());
}

#[tokio::test]
async fn api_keys_have_ids_names_and_revocation_is_immediate() {
    let server = Server::new().await;
    let first = server.user("alice").await;
    let (row, second) = users::create_api_key(&server.state.pool, "alice", "laptop")
        .await
        .unwrap();
    assert_eq!(row.name, "laptop");
    assert_ne!(first, second);
    let user = db::user_by_name(&server.state.pool, "alice")
        .await
        .unwrap()
        .unwrap();
    let keys = db::list_api_keys(&server.state.pool, &user.id)
        .await
        .unwrap();
    let names: Vec<_> = keys.iter().map(|k| k.name.as_str()).collect();
    assert_eq!(names, ["default", "laptop"]);

    for key in [&first, &second] {
        assert_eq!(
            server.send(get("/api/users/me", key)).await.status(),
            StatusCode::OK
        );
        assert_eq!(
            server.send(bearer("/api/users/me", key)).await.status(),
            StatusCode::OK
        );
    }
    assert!(db::delete_api_key(&server.state.pool, &row.id)
        .await
        .unwrap());
    assert!(!db::delete_api_key(&server.state.pool, &row.id)
        .await
        .unwrap());
    assert_eq!(
        server.send(get("/api/users/me", &second)).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        server.send(bearer("/api/users/me", &second)).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        server.send(get("/api/users/me", &first)).await.status(),
        StatusCode::OK
    );
    assert!(users::create_api_key(&server.state.pool, "nobody", "x")
        .await
        .is_err());
}

#[tokio::test]
async fn login_gives_a_session_token_accepted_like_an_api_key_until_logout() {
    let server = Server::new().await;
    let created = users::create_user(&server.state.pool, "alice", None, Some("correct horse"))
        .await
        .unwrap();
    users::create_user(&server.state.pool, "nopassword", None, None)
        .await
        .unwrap();

    let (status, body) = login(&server, "alice", "correct horse").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["user"]["name"], "alice");
    assert_eq!(body["user"]["id"], created.user.id.as_str());
    let token = body["token"].as_str().unwrap().to_owned();
    assert_eq!(token.len(), 64);
    assert_ne!(token, created.api_key);

    // Everywhere an API key goes, in either header.
    assert_eq!(
        server.send(get("/api/users/me", &token)).await.status(),
        StatusCode::OK
    );
    assert_eq!(
        server.send(bearer("/api/assets", &token)).await.status(),
        StatusCode::OK
    );
    let url = server.create_url(&token, 3, &[]).await;
    let response = server.patch(&token, &url, 0, b"abc").await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_eq!(server.assets(&created.api_key).await.len(), 1);

    // Wrong password, unknown user, user without a password: one identical answer.
    let (s1, wrong) = login(&server, "alice", "wrong").await;
    let (s2, unknown) = login(&server, "mallory", "correct horse").await;
    let (s3, nopass) = login(&server, "nopassword", "").await;
    for status in [s1, s2, s3] {
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    assert_eq!(wrong, unknown);
    assert_eq!(wrong, nopass);
    assert_eq!(wrong["error"], "login-failed");

    let response = server
        .send(
            Request::post("/api/auth/login")
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from("{\"username\":1}"))
                .unwrap(),
        )
        .await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);

    // Logout revokes the token presented, and only it.
    let (_, second) = login(&server, "alice", "correct horse").await;
    let second = second["token"].as_str().unwrap().to_owned();
    let response = server
        .send(
            Request::post("/api/auth/logout")
                .header(header::AUTHORIZATION, format!("Bearer {token}"))
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        server.send(get("/api/users/me", &token)).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        server.send(get("/api/users/me", &second)).await.status(),
        StatusCode::OK
    );
    assert_eq!(
        server
            .send(get("/api/users/me", &created.api_key))
            .await
            .status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn expired_sessions_are_refused_and_swept() {
    let server = Server::new().await;
    let created = users::create_user(&server.state.pool, "alice", None, Some("pw"))
        .await
        .unwrap();
    let (_, password_hash) = db::user_with_password(&server.state.pool, "alice")
        .await
        .unwrap()
        .unwrap();
    let token = ferry_server::auth::generate_api_key();
    let hash = ferry_server::auth::hash_api_key(&token);
    let past = ferry_server::auth::unix_now() - 1;
    let recorded = db::insert_session(
        &server.state.pool,
        &hash,
        &created.user.id,
        &password_hash.unwrap(),
        past,
    )
    .await
    .unwrap();
    assert!(recorded);
    assert_eq!(
        server.send(get("/api/users/me", &token)).await.status(),
        StatusCode::UNAUTHORIZED
    );
    ferry_tus::sweep_expired(&server.state).await.unwrap();
    let left: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM sessions")
        .fetch_one(&server.state.pool.pool)
        .await
        .unwrap();
    assert_eq!(left, 0);
}

#[tokio::test]
async fn removing_a_user_removes_their_data_and_unshared_blobs() {
    let server = Server::new().await;
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    let shared = sample(1000, 1);
    let own = sample(1000, 2);
    server
        .upload(&alice, &shared, &[("filename", "a.jpg")])
        .await;
    server.upload(&alice, &own, &[("filename", "b.jpg")]).await;
    let bobs = server.upload(&bob, &shared, &[("filename", "c.jpg")]).await;
    let partial_url = server.create_url(&alice, 10, &[]).await;
    server.patch(&alice, &partial_url, 0, b"12345").await;
    let partial = partial_url.rsplit('/').next().unwrap();
    assert!(server.upload_stored(partial));
    assert_eq!(server.blob_files().len(), 2);

    let deleted = users::remove_user(&server.state, "alice").await.unwrap();
    assert_eq!(deleted, 1);
    assert!(!server.upload_stored(partial));
    let blobs = server.blob_files();
    assert_eq!(blobs.len(), 1);
    assert!(blobs[0].ends_with(sha256_hex(&shared)));
    assert_eq!(
        server.send(get("/api/users/me", &alice)).await.status(),
        StatusCode::UNAUTHORIZED
    );
    let response = server
        .send(get(&format!("/api/assets/{bobs}/original"), &bob))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(bytes(response).await, shared);
    for table in ["assets", "uploads", "api_keys"] {
        let n: i64 = sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {table}"))
            .fetch_one(&server.state.pool.pool)
            .await
            .unwrap();
        assert_eq!(n, 1, "{table}");
    }
    assert!(users::remove_user(&server.state, "alice").await.is_err());
}

/// User B, with an API key or a session token, cannot read, list, HEAD, PATCH, delete or
/// dedup-probe user A's data; A's data is untouched afterwards.
#[tokio::test]
async fn authorization_matrix() {
    let server = Server::new().await;
    let a = server.user("a").await;
    users::create_user(&server.state.pool, "b", None, Some("b's password"))
        .await
        .unwrap();
    let (_, body) = login(&server, "b", "b's password").await;
    let b_token = body["token"].as_str().unwrap().to_owned();
    let (_, b_key) = users::create_api_key(&server.state.pool, "b", "phone")
        .await
        .unwrap();

    let data = sample(2000, 7);
    let asset = server
        .upload(
            &a,
            &data,
            &[
                ("filename", "a.jpg"),
                ("deviceId", "a-phone"),
                ("deviceAssetId", "IMG_1"),
            ],
        )
        .await;
    let url = server.create_url(&a, 100, &[]).await;
    assert_eq!(
        server.patch(&a, &url, 0, &[1; 10]).await.status(),
        StatusCode::NO_CONTENT
    );

    for b in [&b_key, &b_token] {
        let original = format!("/api/assets/{asset}/original");
        assert_eq!(
            server.send(get(&original, b)).await.status(),
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            server.send(bearer(&original, b)).await.status(),
            StatusCode::NOT_FOUND
        );
        assert!(server.assets(b).await.is_empty());
        assert_eq!(server.head(b, &url).await.status(), StatusCode::NOT_FOUND);
        assert_eq!(
            server.patch(b, &url, 10, &[2; 10]).await.status(),
            StatusCode::NOT_FOUND
        );
        let response = server
            .send(tus("DELETE", &url, b).body(Body::empty()).unwrap())
            .await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND);
        let (status, body) = server
            .post_json(
                b,
                "/api/assets/bulk-upload-check",
                json!({ "assets": [{ "id": "x", "checksum": sha256_hex(&data) }] }),
            )
            .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body["results"][0]["action"], "accept", "{body}");
        assert!(body["results"][0].get("assetId").is_none());
        let (status, body) = server
            .post_json(
                b,
                "/api/assets/exist",
                json!({ "deviceAssetIds": ["IMG_1"], "deviceId": "a-phone" }),
            )
            .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body["existingIds"], json!([]));
        let size = data.len();
        let (status, body) = server
            .post_json(b, "/api/assets/sizes", json!({ "sizes": [size] }))
            .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body["known"], json!([]));
        let (_, me) = server.get_json(b, "/api/users/me").await;
        assert_eq!(me["quotaUsageInBytes"], 0);
    }

    // A's data is intact.
    assert_eq!(
        header_str(&server.head(&a, &url).await, "upload-offset"),
        "10"
    );
    let response = server
        .send(get(&format!("/api/assets/{asset}/original"), &a))
        .await;
    assert_eq!(bytes(response).await, data);
}

// ---------------------------------------------------------------------------------------
// CORS

fn cors_server_config() -> Config {
    Config {
        cors_origins: vec!["https://photos.example.org".into()],
        ..Config::default()
    }
}

fn preflight(origin: &str) -> Request<Body> {
    Request::options("/api/uploads/0123456789abcdef0123456789abcdef")
        .header("origin", origin)
        .header("access-control-request-method", "PATCH")
        .header(
            "access-control-request-headers",
            "x-api-key,tus-resumable,upload-offset,content-type,upload-checksum",
        )
        .body(Body::empty())
        .unwrap()
}

#[tokio::test]
async fn cors_allows_only_listed_origins() {
    let server = Server::with_config(cors_server_config()).await;
    let key = server.user("alice").await;

    let response = server.send(preflight("https://photos.example.org")).await;
    assert!(response.status().is_success(), "{}", response.status());
    assert_eq!(
        header_str(&response, "access-control-allow-origin"),
        "https://photos.example.org"
    );
    let methods = header_str(&response, "access-control-allow-methods").to_ascii_uppercase();
    for method in ["GET", "HEAD", "POST", "PATCH", "DELETE", "OPTIONS"] {
        assert!(methods.contains(method), "{methods}");
    }
    let allowed = header_str(&response, "access-control-allow-headers").to_ascii_lowercase();
    for h in [
        "x-api-key",
        "authorization",
        "tus-resumable",
        "upload-offset",
        "upload-checksum",
    ] {
        assert!(allowed.contains(h), "{allowed}");
    }

    // An actual request (even a failing one) carries the exposed headers.
    for request in [
        Request::get("/api/users/me")
            .header("origin", "https://photos.example.org")
            .header("x-api-key", &key)
            .body(Body::empty())
            .unwrap(),
        Request::get("/api/users/me")
            .header("origin", "https://photos.example.org")
            .body(Body::empty())
            .unwrap(),
    ] {
        let response = server.send(request).await;
        assert_eq!(
            header_str(&response, "access-control-allow-origin"),
            "https://photos.example.org"
        );
        let mut exposed: Vec<String> = header_str(&response, "access-control-expose-headers")
            .split(',')
            .map(|h| h.trim().to_ascii_lowercase())
            .collect();
        exposed.sort();
        let mut expected: Vec<String> = [
            "location",
            "upload-offset",
            "upload-length",
            "upload-expires",
            "tus-resumable",
            "tus-version",
            "tus-extension",
            "tus-max-size",
            "tus-checksum-algorithm",
            "upload-complete",
            "upload-limit",
            "upload-draft-interop-version",
            "ferry-asset-id",
        ]
        .map(String::from)
        .to_vec();
        expected.sort();
        assert_eq!(exposed, expected);
    }

    for origin in [
        "https://evil.example",
        "https://photos.example.org.evil.example",
        "null",
    ] {
        let response = server.send(preflight(origin)).await;
        assert!(
            response
                .headers()
                .get("access-control-allow-origin")
                .is_none(),
            "{origin}"
        );
        let response = server
            .send(
                Request::get("/api/users/me")
                    .header("origin", origin)
                    .header("x-api-key", &key)
                    .body(Body::empty())
                    .unwrap(),
            )
            .await;
        assert!(response
            .headers()
            .get("access-control-allow-origin")
            .is_none());
    }

    // tus discovery (a plain OPTIONS, not a preflight) still reaches the tus handler.
    for origin in [
        None,
        Some("https://photos.example.org"),
        Some("https://evil.example"),
    ] {
        let mut request = Request::options("/api/uploads");
        if let Some(origin) = origin {
            request = request.header("origin", origin);
        }
        let response = server.send(request.body(Body::empty()).unwrap()).await;
        assert_eq!(response.status(), StatusCode::NO_CONTENT, "{origin:?}");
        assert_eq!(header_str(&response, "tus-version"), "1.0.0");
        assert!(header_str(&response, "tus-extension").contains("expiration"));
        assert_eq!(
            response
                .headers()
                .get("access-control-allow-origin")
                .map(|v| v.to_str().unwrap()),
            origin.filter(|o| o.starts_with("https://photos")),
        );
    }

    // Default: same-origin only, no CORS headers at all.
    let plain = Server::new().await;
    let response = plain.send(preflight("https://photos.example.org")).await;
    assert!(response
        .headers()
        .get("access-control-allow-origin")
        .is_none());
}

#[test]
fn cors_origins_are_normalized_and_validated() {
    use ferry_server::cli::normalize_origin;
    assert_eq!(
        normalize_origin(" https://Photos.Example.org/ ").unwrap(),
        "https://photos.example.org"
    );
    assert_eq!(
        normalize_origin("http://127.0.0.1:8080").unwrap(),
        "http://127.0.0.1:8080"
    );
    for bad in [
        "photos.example.org",
        "ftp://x",
        "https://x/path",
        "*",
        "https://",
    ] {
        assert!(normalize_origin(bad).is_err(), "{bad}");
    }
}

// ---------------------------------------------------------------------------------------
// tus expiration, Tus-Max-Size, quota on append

fn parse_http_date(value: &str) -> i64 {
    let format = time::macros::format_description!(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
    );
    time::PrimitiveDateTime::parse(value, &format)
        .unwrap_or_else(|e| panic!("{value:?}: {e}"))
        .assume_utc()
        .unix_timestamp()
}

#[tokio::test]
async fn uploads_say_when_they_expire() {
    let server = Server::with_config(Config {
        upload_expiry: std::time::Duration::from_secs(3600),
        ..Config::default()
    })
    .await;
    let key = server.user("alice").await;
    let now = ferry_server::auth::unix_now();

    let response = server.create(&key, 10, &[]).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let url = header_str(&response, "location");
    let expires = parse_http_date(&header_str(&response, "upload-expires"));
    assert!(
        (now + 3595..=now + 3605).contains(&expires),
        "{expires} vs {now}"
    );
    assert_eq!(
        header_str(&response, "tus-max-size"),
        (64u64 << 30).to_string()
    );

    let response = server.head(&key, &url).await;
    assert_eq!(
        parse_http_date(&header_str(&response, "upload-expires")),
        expires
    );
    let response = server.patch(&key, &url, 0, b"12345").await;
    assert!(parse_http_date(&header_str(&response, "upload-expires")) >= expires);
    // A completed upload no longer expires.
    let response = server.patch(&key, &url, 5, b"67890").await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert!(response.headers().get("upload-expires").is_none());
    assert!(server
        .head(&key, &url)
        .await
        .headers()
        .get("upload-expires")
        .is_none());
    assert_eq!(
        ferry_server::tus::http_date(0).unwrap(),
        "Thu, 01 Jan 1970 00:00:00 GMT"
    );
}

/// A body that sends `pieces`, waiting `pause` before each: a slow link.
fn slow_body(pieces: Vec<&'static [u8]>, pause: std::time::Duration) -> Body {
    let stream = futures_util::stream::unfold(pieces.into_iter(), move |mut pieces| async move {
        let piece = pieces.next()?;
        tokio::time::sleep(pause).await;
        Some((Ok::<_, std::io::Error>(Bytes::from_static(piece)), pieces))
    });
    Body::from_stream(stream)
}

#[tokio::test]
async fn expiry_counts_from_the_end_of_a_write_not_its_start() {
    // Unfinished uploads expire 2 s after their last write. The PATCH takes 3.6 s: counted
    // from its start, its upload expired 1.6 s before it ended.
    let server = Server::with_config(Config {
        upload_expiry: std::time::Duration::from_secs(2),
        ..Config::default()
    })
    .await;
    let key = server.user("alice").await;
    let url = server.create_url(&key, 20, &[]).await;
    let pause = std::time::Duration::from_millis(1200);
    let request = patch_request(&key, &url, 0)
        .header(header::CONTENT_LENGTH, 9)
        .body(slow_body(vec![b"abc", b"def", b"ghi"], pause))
        .unwrap();
    let response = server.send(request).await;
    let ended = ferry_server::auth::unix_now();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_eq!(header_str(&response, "upload-offset"), "9");
    let expires = parse_http_date(&header_str(&response, "upload-expires"));
    assert!(
        expires > ended,
        "expires {expires}, the write ended at {ended}"
    );

    // Right after the slow PATCH the upload is alive: not 410, not swept.
    let response = server.head(&key, &url).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(header_str(&response, "upload-offset"), "9");
    assert_eq!(ferry_tus::sweep_expired(&server.state).await.unwrap(), 0);
    let response = server.patch(&key, &url, 9, b"jklmnopqrst").await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert!(response.headers().contains_key("ferry-asset-id"));

    // A write the client broke off still counts: it comes back for the rest.
    let url = server.create_url(&key, 20, &[]).await;
    let broken = futures_util::stream::unfold(0, move |step| async move {
        tokio::time::sleep(pause).await;
        match step {
            0 | 1 => Some((Ok(Bytes::from_static(b"abc")), step + 1)),
            _ => Some((Err(std::io::Error::other("connection reset")), 3)),
        }
    });
    let request = patch_request(&key, &url, 0)
        .header(header::CONTENT_LENGTH, 20)
        .body(Body::from_stream(futures_util::StreamExt::take(broken, 3)))
        .unwrap();
    let response = server.send(request).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let response = server.head(&key, &url).await;
    assert_eq!(
        response.status(),
        StatusCode::OK,
        "the broken-off upload is alive"
    );
    assert_eq!(header_str(&response, "upload-offset"), "6");
}

#[tokio::test]
async fn expired_uploads_answer_410_and_are_swept() {
    let server = Server::new().await;
    let key = server.user("alice").await;
    let url = server.create_url(&key, 10, &[]).await;
    server.patch(&key, &url, 0, b"12345").await;
    let live = server.create_url(&key, 10, &[]).await;
    let done = server.create_url(&key, 3, &[]).await;
    server.patch(&key, &done, 0, b"abc").await;
    let id = url.rsplit('/').next().unwrap().to_owned();
    let done_id = done.rsplit('/').next().unwrap().to_owned();
    let past = ferry_server::auth::unix_now() - 1;
    db::set_upload_expiry(&server.state.pool, &id, past)
        .await
        .unwrap();
    db::set_upload_expiry(&server.state.pool, &done_id, past)
        .await
        .unwrap();

    let response = server.head(&key, &url).await;
    assert_eq!(response.status(), StatusCode::GONE);
    let response = server.patch(&key, &url, 5, b"67890").await;
    assert_eq!(response.status(), StatusCode::GONE);
    assert_eq!(json_body(response).await["error"], "upload-expired");
    // A completed upload is not gone: it still names its asset until swept.
    assert_eq!(server.head(&key, &done).await.status(), StatusCode::OK);

    assert!(server.upload_stored(&id));
    assert_eq!(ferry_tus::sweep_expired(&server.state).await.unwrap(), 2);
    assert!(!server.upload_stored(&id));
    assert_eq!(
        server.head(&key, &url).await.status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(server.head(&key, &live).await.status(), StatusCode::OK);
    // The asset of the swept completed upload stays, and so does its blob.
    assert_eq!(server.assets(&key).await.len(), 1);
    assert_eq!(server.blob_files().len(), 1);
}

#[tokio::test]
async fn an_expired_upload_that_crashed_mid_completion_leaves_no_blob() {
    let server = Server::new().await;
    let key = server.user("alice").await;
    let data = b"orphan bytes";
    let url = server.create_url(&key, data.len() as u64, &[]).await;
    let id = url.rsplit('/').next().unwrap().to_owned();
    // Simulate: bytes hashed and promoted into the blob store, then a crash before the
    // asset row was written.
    let sha = sha256_hex(data);
    server.store_bytes(&id, data, true).await;
    db::set_upload_content_sha256(&server.state.pool, &id, &sha)
        .await
        .unwrap();
    let upload = db::upload_by_id(&server.state.pool, &id)
        .await
        .unwrap()
        .unwrap();
    let parts = db::upload_parts(&server.state.pool, &id).await.unwrap();
    server
        .state
        .blobs
        .promote(&upload, &parts, &sha)
        .await
        .unwrap();
    assert_eq!(server.blob_files().len(), 1);
    db::set_upload_expiry(&server.state.pool, &id, 0)
        .await
        .unwrap();
    assert_eq!(ferry_tus::sweep_expired(&server.state).await.unwrap(), 1);
    assert!(server.blob_files().is_empty());
}

#[tokio::test]
async fn max_size_and_quota_on_append() {
    let server = Server::with_config(Config {
        max_upload_bytes: 1000,
        ..Config::default()
    })
    .await;
    let key = server.user_with_quota("alice", Some(100)).await;
    let unlimited = server.user("bob").await;

    let response = server.create(&unlimited, 1001, &[]).await;
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let response = server.create(&unlimited, 1000, &[]).await;
    assert_eq!(header_str(&response, "tus-max-size"), "1000");

    // Two uploads that each fit, but not together.
    let first = server.create(&key, 60, &[]).await;
    assert_eq!(header_str(&first, "tus-max-size"), "100");
    let first = header_str(&first, "location");
    let second = server.create_url(&key, 60, &[]).await;
    assert_eq!(
        server.patch(&key, &first, 0, &sample(60, 1)).await.status(),
        StatusCode::NO_CONTENT
    );
    let response = server.create(&key, 30, &[]).await;
    assert_eq!(header_str(&response, "tus-max-size"), "40");

    let response = server.patch(&key, &second, 0, &sample(60, 2)).await;
    assert_eq!(response.status(), StatusCode::INSUFFICIENT_STORAGE);
    let body = json_body(response).await;
    assert_eq!(body["error"], "quota-exceeded");
    assert_eq!(body["quotaSizeInBytes"], 100);
    assert_eq!(body["quotaUsageInBytes"], 60);
    assert!(body["message"].as_str().unwrap().contains("100"), "{body}");
    assert_eq!(
        header_str(&server.head(&key, &second).await, "upload-offset"),
        "0"
    );

    let response = server.create(&key, 41, &[]).await;
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(json_body(response).await["quotaSizeInBytes"], 100);
}

// ---------------------------------------------------------------------------------------
// Bad input

#[tokio::test]
async fn oversized_headers_are_431() {
    let server = Server::new().await;
    let key = server.user("alice").await;
    let big = "x".repeat(ferry_server::MAX_HEADER_BYTES);
    for uri in ["/api/users/me", "/api/uploads", "/"] {
        let response = server
            .send(
                Request::get(uri)
                    .header("x-api-key", &key)
                    .header("x-padding", &big)
                    .body(Body::empty())
                    .unwrap(),
            )
            .await;
        assert_eq!(
            response.status(),
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE
        );
    }
    let response = server
        .send(
            Request::get("/api/users/me")
                .header("x-api-key", &key)
                .header("x-padding", "x".repeat(8 * 1024))
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn negative_or_overflowing_numbers_are_400() {
    let server = Server::new().await;
    let key = server.user("alice").await;
    for length in [
        "-1",
        "+5",
        "1e3",
        "18446744073709551616",
        "9223372036854775808",
        " 5",
        "",
    ] {
        let response = server
            .send(
                tus("POST", "/api/uploads", &key)
                    .header("upload-length", length)
                    .body(Body::empty())
                    .unwrap(),
            )
            .await;
        assert_eq!(
            response.status(),
            StatusCode::BAD_REQUEST,
            "Upload-Length {length:?}"
        );
    }
    let url = server.create_url(&key, 10, &[]).await;
    server.patch(&key, &url, 0, b"abc").await;
    for offset in [
        "-1",
        "-0",
        "18446744073709551619",
        "99999999999999999999999",
        "3.0",
    ] {
        let response = server
            .send(
                tus("PATCH", &url, &key)
                    .header("upload-offset", offset)
                    .header(header::CONTENT_TYPE, "application/offset+octet-stream")
                    .body(Body::from("def"))
                    .unwrap(),
            )
            .await;
        assert_eq!(
            response.status(),
            StatusCode::BAD_REQUEST,
            "Upload-Offset {offset:?}"
        );
    }
    assert_eq!(
        header_str(&server.head(&key, &url).await, "upload-offset"),
        "3"
    );
}

#[tokio::test]
async fn a_path_traversal_file_name_is_only_a_name() {
    let server = Server::new().await;
    let key = server.user("alice").await;
    let data = b"root:x:0:0:root:/root:/bin/sh\n";
    for name in [
        "../../etc/passwd",
        "/etc/passwd",
        "..\\..\\boot.ini",
        "a/../../../b",
    ] {
        let data = [data.as_slice(), name.as_bytes()].concat();
        let asset = server.upload(&key, &data, &[("filename", name)]).await;
        let (_, listed) = server.get_json(&key, "/api/assets?limit=1000").await;
        let item = listed["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["id"] == asset.as_str())
            .unwrap()
            .clone();
        assert_eq!(item["originalFileName"], name);
        let response = server
            .send(get(&format!("/api/assets/{asset}/original"), &key))
            .await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(bytes(response).await, data);
    }
    // Nothing was written anywhere but under data/blobs/<2 hex>/<64 hex> and data/uploads.
    let root = server.dir.path();
    assert!(!root.join("etc").exists() && !root.join("data/etc").exists());
    assert!(!root.join("b").exists() && !root.join("boot.ini").exists());
    for blob in server.blob_files() {
        let name = blob.file_name().unwrap().to_str().unwrap();
        assert!(
            ferry_server::tus::parse_sha256_hex(name).is_some(),
            "{name}"
        );
    }
    assert_eq!(server.upload_files(), Vec::<std::path::PathBuf>::new());
}

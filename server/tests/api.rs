//! Handler tests: the whole router, driven in-process with `oneshot`.

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::http::{header, Request, Response, StatusCode};
use axum::Router;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use ferry_server::{app, users, AppState};
use http_body_util::BodyExt;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use tempfile::TempDir;
use tower::ServiceExt;

struct Server {
    dir: TempDir,
    state: Arc<AppState>,
    router: Router,
}

impl Server {
    async fn new() -> Self {
        let dir = TempDir::new().unwrap();
        let www = dir.path().join("www");
        std::fs::create_dir_all(&www).unwrap();
        std::fs::write(
            www.join("index.html"),
            "<!doctype html><title>ferry</title>",
        )
        .unwrap();
        std::fs::write(www.join("worker.mjs"), "export {};").unwrap();
        std::fs::write(www.join("app.wasm"), b"\0asm").unwrap();
        let state = Arc::new(AppState::open(&dir.path().join("data"), www).await.unwrap());
        let router = app(Arc::clone(&state));
        Self { dir, state, router }
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

    async fn send(&self, request: Request<Body>) -> Response<Body> {
        self.router.clone().oneshot(request).await.unwrap()
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

    fn blob_files(&self) -> Vec<std::path::PathBuf> {
        let mut files = Vec::new();
        let blobs = self.dir.path().join("data/blobs");
        for dir in std::fs::read_dir(blobs).unwrap() {
            for file in std::fs::read_dir(dir.unwrap().path()).unwrap() {
                files.push(file.unwrap().path());
            }
        }
        files
    }
}

fn tus(method: &str, uri: &str, key: &str) -> axum::http::request::Builder {
    Request::builder()
        .method(method)
        .uri(uri)
        .header("x-api-key", key)
        .header("tus-resumable", "1.0.0")
}

fn patch_request(key: &str, url: &str, offset: u64) -> axum::http::request::Builder {
    tus("PATCH", url, key)
        .header("upload-offset", offset)
        .header(header::CONTENT_TYPE, "application/offset+octet-stream")
}

fn get(uri: &str, key: &str) -> Request<Body> {
    Request::get(uri)
        .header("x-api-key", key)
        .body(Body::empty())
        .unwrap()
}

fn encode_metadata(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{k} {}", STANDARD.encode(v)))
        .collect::<Vec<_>>()
        .join(",")
}

fn header_str(response: &Response<Body>, name: &str) -> String {
    response
        .headers()
        .get(name)
        .unwrap_or_else(|| panic!("missing header {name}"))
        .to_str()
        .unwrap()
        .to_owned()
}

async fn bytes(response: Response<Body>) -> Bytes {
    response.into_body().collect().await.unwrap().to_bytes()
}

async fn json_body(response: Response<Body>) -> Value {
    let body = bytes(response).await;
    serde_json::from_slice(&body)
        .unwrap_or_else(|_| panic!("not JSON: {}", String::from_utf8_lossy(&body)))
}

fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

fn sample(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
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
    ] {
        assert!(
            extensions.split(',').any(|e| e == extension),
            "{extensions}"
        );
    }
    assert_eq!(
        header_str(&response, "tus-checksum-algorithm"),
        "sha1,sha256"
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
                .header("upload-checksum", "md5 AAAA")
                .body(Body::from(&data[..5]))
                .unwrap(),
        )
        .await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);

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
    assert!(!server.dir.path().join("data/uploads").join(id).exists());
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
    // A crash after writing but before acknowledging leaves extra bytes in the partial file.
    let id = url.rsplit('/').next().unwrap();
    let partial = server.dir.path().join("data/uploads").join(id);
    let mut on_disk = std::fs::read(&partial).unwrap();
    on_disk.extend_from_slice(b"junk");
    std::fs::write(&partial, on_disk).unwrap();

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
    std::fs::write(server.dir.path().join("data/uploads").join(id), b"hello").unwrap();
    ferry_server::db::set_upload_offset(&server.state.pool, id, 5)
        .await
        .unwrap();

    let response = server.patch(&key, &url, 5, b"").await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let asset_id = header_str(&response, "ferry-asset-id");
    assert_eq!(server.assets(&key).await[0]["id"], asset_id.as_str());
    assert_eq!(
        server.assets(&key).await[0]["checksum"],
        sha256_hex(b"hello")
    );
}

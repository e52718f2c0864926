//! What an upload's completion checks again as it records the asset, however long its bytes
//! took: that the asset fits the quota (uploads in parallel all passed the check at their
//! start) and that the key or session the request came with still signs the user in (it
//! was checked only as the request started). tus, RUFH and the multipart form, in-process
//! with `oneshot`; the bodies are fed piece by piece, so each request is held mid-stream.

mod common;

use axum::body::{Body, Bytes};
use axum::http::{header, Request, Response, StatusCode};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use common::{get, header_str, json_body, sample, sha256_hex, tus, Server};
use ferry_server::{db, users, Config};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

impl Server {
    async fn new() -> Self {
        Self::start(Config::default(), &[]).await
    }

    async fn user(&self, name: &str, quota: Option<i64>, password: Option<&str>) -> String {
        users::create_user(&self.state.pool, name, quota, password)
            .await
            .unwrap()
            .api_key
    }

    /// Sends `request` in a task of its own, so the test can feed its body meanwhile.
    fn spawn(&self, request: Request<Body>) -> JoinHandle<(StatusCode, Response<Body>)> {
        use tower::ServiceExt;
        let router = self.router.clone();
        tokio::spawn(async move {
            let response = router.oneshot(request).await.unwrap();
            (response.status(), response)
        })
    }

    async fn json(&self, key: &str, uri: &str) -> Value {
        let response = self.send(get(uri, key)).await;
        assert_eq!(response.status(), StatusCode::OK, "{uri}");
        json_body(response).await
    }

    async fn usage(&self, key: &str) -> i64 {
        self.json(key, "/api/users/me").await["quotaUsageInBytes"]
            .as_i64()
            .unwrap()
    }

    async fn asset_checksums(&self, key: &str) -> Vec<String> {
        let items = self.json(key, "/api/assets").await["items"].clone();
        let items = items.as_array().unwrap();
        items
            .iter()
            .map(|a| a["checksum"].as_str().unwrap().to_owned())
            .collect()
    }

    /// Unfinished uploads in the catalog, of anyone.
    async fn open_uploads(&self) -> i64 {
        sqlx::query_scalar("SELECT COUNT(*) FROM uploads WHERE asset_id IS NULL")
            .fetch_one(&self.state.pool.pool)
            .await
            .unwrap()
    }

    /// A tus upload of `length` bytes; its URL.
    async fn tus_create(&self, key: &str, length: usize, metadata: &str) -> String {
        let response = self
            .send(
                tus("POST", "/api/uploads", key)
                    .header("upload-length", length)
                    .header("upload-metadata", metadata)
                    .body(Body::empty())
                    .unwrap(),
            )
            .await;
        assert_eq!(response.status(), StatusCode::CREATED);
        header_str(&response, "location")
    }
}

/// A request body fed by the test: each `send` returns once the server has taken the piece
/// before it (the channel holds one), and the body ends when the sender is dropped.
fn fed_body() -> (mpsc::Sender<Bytes>, Body) {
    let (tx, rx) = mpsc::channel::<Bytes>(1);
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        let piece = rx.recv().await?;
        Some((Ok::<_, std::io::Error>(piece), rx))
    });
    (tx, Body::from_stream(stream))
}

fn tus_patch(key: &str, url: &str, offset: usize) -> axum::http::request::Builder {
    tus("PATCH", url, key)
        .header("upload-offset", offset)
        .header(header::CONTENT_TYPE, "application/offset+octet-stream")
}

fn rufh(method: &str, uri: &str, credential: &str) -> axum::http::request::Builder {
    Request::builder()
        .method(method)
        .uri(uri)
        .header(header::AUTHORIZATION, format!("Bearer {credential}"))
        .header("upload-draft-interop-version", 8)
}

fn rufh_append(credential: &str, url: &str, offset: usize) -> axum::http::request::Builder {
    rufh("PATCH", url, credential)
        .header("upload-offset", offset)
        .header("upload-complete", "?1")
        .header(header::CONTENT_TYPE, "application/partial-upload")
}

const BOUNDARY: &str = "ferry-completion-boundary";

/// A multipart form of one file, `assetData`, split where the file starts and where it
/// ends: `(head, file, tail)`.
fn form(data: &[u8]) -> (Bytes, Bytes, Bytes) {
    let head = format!(
        "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"assetData\"; \
         filename=\"f.bin\"\r\nContent-Type: application/octet-stream\r\n\r\n"
    );
    let tail = format!("\r\n--{BOUNDARY}--\r\n");
    (head.into(), Bytes::copy_from_slice(data), tail.into())
}

fn form_request(key: &str, body: Body) -> Request<Body> {
    Request::post("/api/assets")
        .header("x-api-key", key)
        .header(
            header::CONTENT_TYPE,
            format!("multipart/form-data; boundary={BOUNDARY}"),
        )
        .body(body)
        .unwrap()
}

/// Waits until `done` holds (the server reached some point), for at most 10 s.
async fn until<F: std::future::Future<Output = bool>>(mut done: impl FnMut() -> F) {
    let started = std::time::Instant::now();
    while !done().await {
        assert!(started.elapsed() < std::time::Duration::from_secs(10));
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
}

// ---------------------------------------------------------------------------------------
// Quota

#[tokio::test]
async fn parallel_forms_cannot_store_more_than_the_quota() {
    let server = Server::new().await;
    let key = server.user("alice", Some(1000), None).await;
    // Ten forms of 900 bytes, all past their start (each one's row is made after its
    // quota check) before any ends.
    let mut feeds = Vec::new();
    let mut requests = Vec::new();
    for seed in 0..10 {
        let (tx, body) = fed_body();
        requests.push(server.spawn(form_request(&key, body)));
        let (head, file, tail) = form(&sample(900, seed));
        tx.send(head).await.unwrap();
        tx.send(file.slice(..100)).await.unwrap();
        feeds.push((tx, file.slice(100..), tail));
    }
    let server = &server;
    until(|| async move { server.open_uploads().await == 10 }).await;
    for (tx, rest, tail) in feeds {
        tx.send(rest).await.unwrap();
        tx.send(tail).await.unwrap();
    }

    let mut created = 0;
    for request in requests {
        let (status, response) = request.await.unwrap();
        let body = json_body(response).await;
        match status {
            StatusCode::CREATED => created += 1,
            StatusCode::PAYLOAD_TOO_LARGE => {
                assert_eq!(body["error"], "quota-exceeded", "{body}");
                assert_eq!(body["quotaSizeInBytes"], 1000);
            }
            other => panic!("{other}: {body}"),
        }
    }
    assert_eq!(created, 1);
    assert_eq!(server.usage(&key).await, 900);
    assert_eq!(server.asset_checksums(&key).await.len(), 1);
    // The refused forms left nothing behind.
    assert_eq!(server.open_uploads().await, 0);
    assert!(server.upload_files().is_empty());
    assert_eq!(server.blob_files().len(), 1);
}

#[tokio::test]
async fn parallel_patches_cannot_store_more_than_the_quota() {
    let server = Server::new().await;
    let key = server.user("alice", Some(1000), None).await;
    // Five uploads of 1,000 bytes, each created while nothing was stored, all streaming
    // their PATCH (past its quota check) before any ends.
    let mut urls = Vec::new();
    for _ in 0..5 {
        urls.push(server.tus_create(&key, 1000, "").await);
    }
    let mut feeds = Vec::new();
    let mut requests = Vec::new();
    for (seed, url) in urls.iter().enumerate() {
        let data = Bytes::from(sample(1000, seed as u8));
        let (tx, body) = fed_body();
        requests.push(server.spawn(tus_patch(&key, url, 0).body(body).unwrap()));
        tx.send(data.slice(..500)).await.unwrap();
        tx.send(data.slice(500..)).await.unwrap();
        feeds.push(tx);
    }
    drop(feeds);

    let mut completed = Vec::new();
    for (request, url) in requests.into_iter().zip(&urls) {
        let (status, response) = request.await.unwrap();
        if status == StatusCode::NO_CONTENT {
            assert!(response.headers().contains_key("ferry-asset-id"));
            completed.push(url);
            continue;
        }
        // The quota refusal of an append, as when the PATCH starts over quota.
        assert_eq!(status, StatusCode::INSUFFICIENT_STORAGE);
        let body = json_body(response).await;
        assert_eq!(body["error"], "quota-exceeded", "{body}");
        assert_eq!(body["quotaUsageInBytes"], 1000);
        // Its upload and bytes are gone.
        let head = server
            .send(tus("HEAD", url, &key).body(Body::empty()).unwrap())
            .await;
        assert_eq!(head.status(), StatusCode::NOT_FOUND);
    }
    assert_eq!(completed.len(), 1);
    assert_eq!(server.usage(&key).await, 1000);
    assert_eq!(server.asset_checksums(&key).await.len(), 1);
    assert_eq!(server.open_uploads().await, 0);
    assert!(server.upload_files().is_empty());
    assert_eq!(server.blob_files().len(), 1);
}

#[tokio::test]
async fn a_duplicate_still_completes_when_the_quota_is_full() {
    let server = Server::new().await;
    let key = server.user("alice", Some(1000), None).await;
    let first = Bytes::from(sample(600, 1));
    let second = Bytes::from(sample(400, 2));

    let url = server.tus_create(&key, 600, "").await;
    let response = server
        .send(
            tus_patch(&key, &url, 0)
                .body(Body::from(first.clone()))
                .unwrap(),
        )
        .await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let first_id = header_str(&response, "ferry-asset-id");

    // The same 400 bytes twice in parallel: the first fills the quota, the second is a
    // duplicate of it by the time it completes, which costs nothing.
    let urls = [
        server.tus_create(&key, 400, "").await,
        server.tus_create(&key, 400, "").await,
    ];
    let mut feeds = Vec::new();
    let mut requests = Vec::new();
    for url in &urls {
        let (tx, body) = fed_body();
        requests.push(server.spawn(tus_patch(&key, url, 0).body(body).unwrap()));
        tx.send(second.slice(..200)).await.unwrap();
        tx.send(second.slice(200..)).await.unwrap();
        feeds.push(tx);
    }
    drop(feeds);
    let mut ids = Vec::new();
    for request in requests {
        let (status, response) = request.await.unwrap();
        assert_eq!(status, StatusCode::NO_CONTENT);
        ids.push(header_str(&response, "ferry-asset-id"));
    }
    assert_eq!(ids[0], ids[1]);
    assert_eq!(server.usage(&key).await, 1000);

    // Full now. Content the user has, declared as such (as ferry's engine does), is let in
    // and completes into the asset it already is: with tus...
    let checksum = format!("checksum {}", STANDARD.encode(sha256_hex(&first)));
    let url = server.tus_create(&key, 600, &checksum).await;
    let response = server
        .send(
            tus_patch(&key, &url, 0)
                .body(Body::from(first.clone()))
                .unwrap(),
        )
        .await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_eq!(header_str(&response, "ferry-asset-id"), first_id);
    // ...with RUFH (`Repr-Digest`), in one request...
    let digest = format!("sha-256=:{}:", STANDARD.encode(Sha256::digest(&first)));
    let response = server
        .send(
            rufh("POST", "/api/uploads", &key)
                .header("upload-complete", "?1")
                .header(header::CONTENT_LENGTH, first.len())
                .header("repr-digest", digest)
                .body(Body::from(first.clone()))
                .unwrap(),
        )
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    assert_eq!(
        json_body(response).await,
        json!({ "id": first_id, "duplicate": true })
    );
    // ...and new content is still refused.
    let other = format!("checksum {}", STANDARD.encode(sha256_hex(b"other")));
    let response = server
        .send(
            tus("POST", "/api/uploads", &key)
                .header("upload-length", 5)
                .header("upload-metadata", other)
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(server.usage(&key).await, 1000);
    assert_eq!(server.asset_checksums(&key).await.len(), 2);
}

// ---------------------------------------------------------------------------------------
// Credentials

#[tokio::test]
async fn a_key_revoked_while_its_patch_streams_makes_no_asset() {
    let server = Server::new().await;
    server.user("alice", None, None).await;
    let (phone, key) = users::create_api_key(&server.state.pool, "alice", "phone")
        .await
        .unwrap();
    let data = Bytes::from(sample(1000, 3));
    let url = server.tus_create(&key, 1000, "").await;

    let (tx, body) = fed_body();
    let request = server.spawn(tus_patch(&key, &url, 0).body(body).unwrap());
    tx.send(data.slice(..500)).await.unwrap();
    // Taken: the PATCH is authorized and streaming. Now `ferry-server key revoke`.
    tx.send(data.slice(500..)).await.unwrap();
    assert!(db::delete_api_key(&server.state.pool, &phone.id)
        .await
        .unwrap());
    drop(tx);
    let (status, response) = request.await.unwrap();
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(json_body(response).await["error"], "unauthorized");

    // Signed in again: no asset was made, every byte is still there, and an empty PATCH
    // at the end (what the engine sends when all bytes are there) finishes the upload.
    let (_, key) = users::create_api_key(&server.state.pool, "alice", "phone again")
        .await
        .unwrap();
    assert!(server.asset_checksums(&key).await.is_empty());
    let head = server
        .send(tus("HEAD", &url, &key).body(Body::empty()).unwrap())
        .await;
    assert_eq!(head.status(), StatusCode::OK);
    assert_eq!(header_str(&head, "upload-offset"), "1000");
    let response = server
        .send(tus_patch(&key, &url, 1000).body(Body::empty()).unwrap())
        .await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert!(response.headers().contains_key("ferry-asset-id"));
    assert_eq!(server.asset_checksums(&key).await, [sha256_hex(&data)]);
}

#[tokio::test]
async fn a_session_signed_out_while_its_rufh_append_streams_makes_no_asset() {
    let server = Server::new().await;
    let key = server.user("alice", None, Some("correct horse")).await;
    let server = &server;
    let sign_in = || async move {
        let response = server
            .send(
                Request::post("/api/auth/login")
                    .header(header::CONTENT_TYPE, "application/json")
                    .body(Body::from(
                        json!({ "username": "alice", "password": "correct horse" }).to_string(),
                    ))
                    .unwrap(),
            )
            .await;
        assert_eq!(response.status(), StatusCode::OK);
        json_body(response).await["token"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let token = sign_in().await;
    let data = Bytes::from(sample(1000, 4));
    let response = server
        .send(
            rufh("POST", "/api/uploads", &token)
                .header("upload-complete", "?0")
                .header("upload-length", 1000)
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let url = header_str(&response, "location");

    let (tx, body) = fed_body();
    let request = server.spawn(rufh_append(&token, &url, 0).body(body).unwrap());
    tx.send(data.slice(..500)).await.unwrap();
    tx.send(data.slice(500..)).await.unwrap();
    let logout = server
        .send(
            Request::post("/api/auth/logout")
                .header(header::AUTHORIZATION, format!("Bearer {token}"))
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(logout.status(), StatusCode::NO_CONTENT);
    drop(tx);
    let (status, _) = request.await.unwrap();
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(server.asset_checksums(&key).await.is_empty());

    let token = sign_in().await;
    let head = server
        .send(rufh("HEAD", &url, &token).body(Body::empty()).unwrap())
        .await;
    assert_eq!(header_str(&head, "upload-offset"), "1000");
    assert_eq!(header_str(&head, "upload-complete"), "?0");
    let response = server
        .send(rufh_append(&token, &url, 1000).body(Body::empty()).unwrap())
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(json_body(response).await["duplicate"], false);
    assert_eq!(server.asset_checksums(&key).await, [sha256_hex(&data)]);
}

#[tokio::test]
async fn a_key_revoked_while_its_form_streams_makes_no_asset() {
    let server = Server::new().await;
    let owner = server.user("alice", None, None).await;
    let (phone, key) = users::create_api_key(&server.state.pool, "alice", "phone")
        .await
        .unwrap();
    let (tx, body) = fed_body();
    let request = server.spawn(form_request(&key, body));
    let (head, file, tail) = form(&sample(1000, 5));
    tx.send(head).await.unwrap();
    tx.send(file.slice(..500)).await.unwrap();
    let server = &server;
    until(|| async move { server.open_uploads().await == 1 }).await;
    assert!(db::delete_api_key(&server.state.pool, &phone.id)
        .await
        .unwrap());
    tx.send(file.slice(500..)).await.unwrap();
    tx.send(tail).await.unwrap();
    drop(tx);
    let (status, _) = request.await.unwrap();
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // A form cannot be resumed: nothing of it is kept.
    assert!(server.asset_checksums(&owner).await.is_empty());
    assert_eq!(server.open_uploads().await, 0);
    assert!(server.upload_files().is_empty());
    assert!(server.blob_files().is_empty());
}

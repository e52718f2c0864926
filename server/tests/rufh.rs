//! RUFH (draft-ietf-httpbis-resumable-upload, interop versions 6, 7 and 8) at
//! `/api/uploads`, driven in-process with `oneshot`.

mod common;

use axum::body::{Body, Bytes};
use axum::http::{header, Request, Response, StatusCode};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use common::{get, header_str, json_body, sample, sha256_hex, Server};
use ferry_server::{db, users, Config};
use http_body_util::BodyExt;
use serde_json::Value;
use sha2::{Digest, Sha256};

const VERSIONS: [u8; 3] = [6, 7, 8];
const PROBLEMS: &str = "https://iana.org/assignments/http-problem-types#";

impl Server {
    async fn new() -> Self {
        Self::with_config(Config::default()).await
    }

    async fn with_config(config: Config) -> Self {
        Self::start(config, &[]).await
    }

    async fn user(&self, name: &str, quota: Option<i64>) -> String {
        users::create_user(&self.state.pool, name, quota, None)
            .await
            .unwrap()
            .api_key
    }

    /// `POST /api/uploads` with `Upload-Complete: ?0` and no content; returns the URL.
    async fn create_empty(&self, key: &str, v: u8, length: Option<u64>) -> String {
        let mut request = rufh("POST", "/api/uploads", key, v).header("upload-complete", "?0");
        if let Some(length) = length {
            request = request.header("upload-length", length);
        }
        let response = self.send(request.body(Body::empty()).unwrap()).await;
        assert_eq!(response.status(), StatusCode::CREATED);
        header_str(&response, "location")
    }

    async fn append(
        &self,
        key: &str,
        v: u8,
        url: &str,
        offset: u64,
        complete: bool,
        data: &[u8],
    ) -> Response<Body> {
        self.send(
            append(key, v, url, offset, complete)
                .body(Body::from(data.to_vec()))
                .unwrap(),
        )
        .await
    }

    async fn head(&self, key: &str, v: u8, url: &str) -> Response<Body> {
        self.send(rufh("HEAD", url, key, v).body(Body::empty()).unwrap())
            .await
    }

    async fn original(&self, key: &str, asset_id: &str) -> Bytes {
        let response = self
            .send(get(&format!("/api/assets/{asset_id}/original"), key))
            .await;
        assert_eq!(response.status(), StatusCode::OK);
        bytes(response).await
    }

    async fn asset(&self, key: &str, asset_id: &str) -> Value {
        let response = self
            .send(get(&format!("/api/assets/{asset_id}"), key))
            .await;
        assert_eq!(response.status(), StatusCode::OK);
        json_body(response).await
    }

    async fn asset_count(&self, key: &str) -> usize {
        let response = self.send(get("/api/assets", key)).await;
        let body = json_body(response).await;
        body["assets"]
            .as_array()
            .or_else(|| body["items"].as_array())
            .map_or(0, Vec::len)
    }

    fn partial_files(&self) -> usize {
        self.upload_files().len()
    }
}

fn rufh(method: &str, uri: &str, key: &str, v: u8) -> axum::http::request::Builder {
    Request::builder()
        .method(method)
        .uri(uri)
        .header("x-api-key", key)
        .header("upload-draft-interop-version", u16::from(v))
}

fn append(
    key: &str,
    v: u8,
    url: &str,
    offset: u64,
    complete: bool,
) -> axum::http::request::Builder {
    rufh("PATCH", url, key, v)
        .header("upload-offset", offset)
        .header("upload-complete", if complete { "?1" } else { "?0" })
        .header(header::CONTENT_TYPE, "application/partial-upload")
}

async fn bytes(response: Response<Body>) -> Bytes {
    response.into_body().collect().await.unwrap().to_bytes()
}

/// Asserts an RFC 9457 problem of `kind` and returns its body.
async fn assert_problem(response: Response<Body>, status: StatusCode, kind: &str) -> Value {
    assert_eq!(response.status(), status);
    assert_eq!(
        header_str(&response, "content-type"),
        "application/problem+json"
    );
    let body = json_body(response).await;
    assert_eq!(body["type"], format!("{PROBLEMS}{kind}"), "{body}");
    body
}

#[tokio::test]
async fn careful_creation_head_append_complete_for_each_version() {
    let server = Server::new().await;
    let key = server.user("alice", None).await;
    for v in VERSIONS {
        let data = sample(10_000, v);
        let response = server
            .send(
                rufh("POST", "/api/uploads", &key, v)
                    .header("upload-complete", "?0")
                    .header("upload-length", data.len())
                    .body(Body::empty())
                    .unwrap(),
            )
            .await;
        assert_eq!(response.status(), StatusCode::CREATED);
        assert_eq!(
            header_str(&response, "upload-draft-interop-version"),
            v.to_string()
        );
        assert_eq!(header_str(&response, "upload-complete"), "?0");
        assert_eq!(header_str(&response, "upload-offset"), "0");
        assert!(response.headers().get("tus-resumable").is_none());
        let limit = header_str(&response, "upload-limit");
        let expiry_key = if v == 6 { "expires=" } else { "max-age=" };
        assert!(limit.starts_with("max-size=68719476736, "), "{limit}");
        assert!(limit.contains(expiry_key), "v{v}: {limit}");
        let url = header_str(&response, "location");
        assert!(url.starts_with("/api/uploads/") && url.len() == "/api/uploads/".len() + 32);

        let response = server.head(&key, v, &url).await;
        assert_eq!(response.status(), StatusCode::NO_CONTENT);
        assert_eq!(header_str(&response, "upload-offset"), "0");
        assert_eq!(header_str(&response, "upload-complete"), "?0");
        assert_eq!(header_str(&response, "upload-length"), "10000");
        assert_eq!(header_str(&response, "cache-control"), "no-store");
        assert!(header_str(&response, "upload-limit").contains(expiry_key));

        let response = server.append(&key, v, &url, 0, false, &data[..4000]).await;
        assert_eq!(response.status(), StatusCode::NO_CONTENT);
        assert_eq!(header_str(&response, "upload-complete"), "?0");
        assert_eq!(header_str(&response, "upload-offset"), "4000");

        let response = server
            .append(&key, v, &url, 4000, true, &data[4000..])
            .await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(header_str(&response, "upload-complete"), "?1");
        assert_eq!(header_str(&response, "upload-offset"), "10000");
        let asset_id = header_str(&response, "ferry-asset-id");
        let body = json_body(response).await;
        assert_eq!(body["id"], asset_id.as_str());
        assert_eq!(body["duplicate"], false);
        assert_eq!(&server.original(&key, &asset_id).await[..], &data[..]);
        assert_eq!(
            server.asset(&key, &asset_id).await["checksum"],
            sha256_hex(&data)
        );

        let response = server.head(&key, v, &url).await;
        assert_eq!(response.status(), StatusCode::NO_CONTENT);
        assert_eq!(header_str(&response, "upload-complete"), "?1");
        assert_eq!(header_str(&response, "ferry-asset-id"), asset_id);
    }
    assert_eq!(server.asset_count(&key).await, 3);
    assert_eq!(server.partial_files(), 0);
}

#[tokio::test]
async fn creation_with_part_of_the_body_then_append_the_rest() {
    let server = Server::new().await;
    let key = server.user("alice", None).await;
    let data = sample(5000, 9);
    let metadata = format!(
        "filename {},album {}",
        STANDARD.encode("beach.bin"),
        STANDARD.encode("Holidays")
    );
    let response = server
        .send(
            rufh("POST", "/api/uploads", &key, 8)
                .header("upload-complete", "?0")
                .header("upload-length", 5000)
                .header("upload-metadata", metadata)
                .header(header::CONTENT_TYPE, "application/octet-stream")
                .body(Body::from(data[..1234].to_vec()))
                .unwrap(),
        )
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    assert_eq!(header_str(&response, "upload-offset"), "1234");
    let url = header_str(&response, "location");
    assert_eq!(
        header_str(&server.head(&key, 8, &url).await, "upload-offset"),
        "1234"
    );

    let response = server
        .append(&key, 8, &url, 1234, true, &data[1234..])
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let asset_id = header_str(&response, "ferry-asset-id");
    assert_eq!(&server.original(&key, &asset_id).await[..], &data[..]);
    let asset = server.asset(&key, &asset_id).await;
    assert_eq!(asset["originalFileName"], "beach.bin");
    assert_eq!(asset["albums"][0], "Holidays");
    assert_eq!(asset["fileSize"], 5000);
}

#[tokio::test]
async fn creation_with_the_whole_body_completes_at_once() {
    let server = Server::new().await;
    let key = server.user("alice", None).await;
    for v in VERSIONS {
        let data = sample(777, v.wrapping_add(40));
        let response = server
            .send(
                rufh("POST", "/api/uploads", &key, v)
                    .header("upload-complete", "?1")
                    .header(header::CONTENT_TYPE, "image/x-test")
                    .header(
                        header::CONTENT_DISPOSITION,
                        r#"inline; filename="one shot.raw""#,
                    )
                    .header(header::CONTENT_LENGTH, data.len())
                    .body(Body::from(data.clone()))
                    .unwrap(),
            )
            .await;
        assert_eq!(response.status(), StatusCode::CREATED);
        assert_eq!(header_str(&response, "upload-complete"), "?1");
        assert!(response.headers().contains_key("location"));
        let asset_id = header_str(&response, "ferry-asset-id");
        assert_eq!(json_body(response).await["duplicate"], false);
        assert_eq!(&server.original(&key, &asset_id).await[..], &data[..]);
        let asset = server.asset(&key, &asset_id).await;
        assert_eq!(asset["originalFileName"], "one shot.raw");
        assert_eq!(asset["mimeType"], "image/x-test");
    }
    // The same bytes again: a duplicate answer, not a second asset.
    let data = sample(777, 46);
    let response = server
        .send(
            rufh("POST", "/api/uploads", &key, 8)
                .header("upload-complete", "?1")
                .body(Body::from(data))
                .unwrap(),
        )
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    assert_eq!(json_body(response).await["duplicate"], true);
    assert_eq!(server.asset_count(&key).await, 3);
    // An empty representation is an asset too.
    let response = server
        .send(
            rufh("POST", "/api/uploads", &key, 7)
                .header("upload-complete", "?1")
                .header(header::CONTENT_LENGTH, 0)
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    assert_eq!(header_str(&response, "upload-offset"), "0");
}

#[tokio::test]
async fn unknown_length_is_learned_at_completion() {
    let server = Server::new().await;
    let key = server.user("alice", None).await;
    let data = sample(3000, 1);
    let url = server.create_empty(&key, 7, None).await;
    let response = server.head(&key, 7, &url).await;
    assert!(response.headers().get("upload-length").is_none());
    assert_eq!(
        server
            .append(&key, 7, &url, 0, false, &data[..1000])
            .await
            .status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        server
            .append(&key, 7, &url, 1000, false, &data[1000..2000])
            .await
            .status(),
        StatusCode::NO_CONTENT
    );
    // A tus client cannot finish an upload whose length is unknown.
    let response = server
        .send(
            Request::patch(&url)
                .header("x-api-key", &key)
                .header("tus-resumable", "1.0.0")
                .header("upload-offset", 2000)
                .header(header::CONTENT_TYPE, "application/offset+octet-stream")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(response.status(), StatusCode::CONFLICT);
    let response = server
        .append(&key, 7, &url, 2000, true, &data[2000..])
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let asset_id = header_str(&response, "ferry-asset-id");
    assert_eq!(&server.original(&key, &asset_id).await[..], &data[..]);
    assert_eq!(server.asset(&key, &asset_id).await["fileSize"], 3000);
    assert_eq!(
        header_str(&server.head(&key, 7, &url).await, "upload-length"),
        "3000"
    );

    // Upload-Length may arrive on a later append, and then binds.
    let url = server.create_empty(&key, 8, None).await;
    let response = server
        .send(
            append(&key, 8, &url, 0, false)
                .header("upload-length", 10)
                .body(Body::from(&b"12345"[..]))
                .unwrap(),
        )
        .await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        header_str(&server.head(&key, 8, &url).await, "upload-length"),
        "10"
    );
    let response = server
        .send(
            append(&key, 8, &url, 5, false)
                .header("upload-length", 11)
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_problem(
        response,
        StatusCode::BAD_REQUEST,
        "inconsistent-upload-length",
    )
    .await;
}

#[tokio::test]
async fn partial_upload_media_type_is_required_from_version_7() {
    let server = Server::new().await;
    let key = server.user("alice", None).await;
    for v in VERSIONS {
        let url = server.create_empty(&key, v, Some(4)).await;
        let response = server
            .send(
                rufh("PATCH", &url, &key, v)
                    .header("upload-offset", 0)
                    .header("upload-complete", "?0")
                    .header(header::CONTENT_TYPE, "application/offset+octet-stream")
                    .body(Body::from(&b"ab"[..]))
                    .unwrap(),
            )
            .await;
        if v == 6 {
            assert_eq!(response.status(), StatusCode::NO_CONTENT);
            assert_eq!(header_str(&response, "upload-offset"), "2");
        } else {
            assert_eq!(
                response.status(),
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "v{v}"
            );
            assert_eq!(
                header_str(&server.head(&key, v, &url).await, "upload-offset"),
                "0"
            );
        }
    }
}

#[tokio::test]
async fn mismatching_offset_is_a_409_problem_with_the_expected_offset() {
    let server = Server::new().await;
    let key = server.user("alice", None).await;
    for v in VERSIONS {
        let url = server.create_empty(&key, v, Some(10)).await;
        server.append(&key, v, &url, 0, false, b"abc").await;
        let response = server.append(&key, v, &url, 5, false, b"xyz").await;
        assert_eq!(header_str(&response, "upload-offset"), "3");
        let body =
            assert_problem(response, StatusCode::CONFLICT, "mismatching-upload-offset").await;
        assert_eq!(body["expected-offset"], 3);
        assert_eq!(body["provided-offset"], 5);
        assert_eq!(body["error"], "offset-mismatch");
        assert_eq!(
            header_str(&server.head(&key, v, &url).await, "upload-offset"),
            "3"
        );
    }
}

#[tokio::test]
async fn appending_to_a_completed_upload_is_refused() {
    let server = Server::new().await;
    let key = server.user("alice", None).await;
    let url = server.create_empty(&key, 8, Some(3)).await;
    let response = server.append(&key, 8, &url, 0, true, b"abc").await;
    let asset_id = header_str(&response, "ferry-asset-id");

    let response = server.append(&key, 8, &url, 3, true, b"").await;
    assert_eq!(header_str(&response, "upload-complete"), "?1");
    assert_eq!(header_str(&response, "ferry-asset-id"), asset_id);
    assert_problem(response, StatusCode::BAD_REQUEST, "completed-upload").await;

    // The final append sent again (its answer was lost): completed-upload too, with the
    // offset and the asset, so the client knows it is done.
    let response = server.append(&key, 8, &url, 0, true, b"abc").await;
    assert_eq!(header_str(&response, "upload-offset"), "3");
    assert_eq!(header_str(&response, "ferry-asset-id"), asset_id);
    assert_problem(response, StatusCode::BAD_REQUEST, "completed-upload").await;

    let response = server
        .send(
            append(&key, 8, &url, 3, false)
                .header(header::CONTENT_LENGTH, 4)
                .body(Body::from(&b"more"[..]))
                .unwrap(),
        )
        .await;
    assert_problem(
        response,
        StatusCode::BAD_REQUEST,
        "inconsistent-upload-length",
    )
    .await;
    assert_eq!(&server.original(&key, &asset_id).await[..], b"abc");
}

#[tokio::test]
async fn inconsistent_lengths_are_400_problems() {
    let server = Server::new().await;
    let key = server.user("alice", None).await;
    // Upload-Length and the complete content disagree at creation: nothing is kept.
    let response = server
        .send(
            rufh("POST", "/api/uploads", &key, 8)
                .header("upload-complete", "?1")
                .header("upload-length", 10)
                .header(header::CONTENT_LENGTH, 5)
                .body(Body::from(&b"12345"[..]))
                .unwrap(),
        )
        .await;
    assert_problem(
        response,
        StatusCode::BAD_REQUEST,
        "inconsistent-upload-length",
    )
    .await;
    // More content than Upload-Length.
    let response = server
        .send(
            rufh("POST", "/api/uploads", &key, 8)
                .header("upload-complete", "?0")
                .header("upload-length", 3)
                .header(header::CONTENT_LENGTH, 5)
                .body(Body::from(&b"12345"[..]))
                .unwrap(),
        )
        .await;
    assert_problem(
        response,
        StatusCode::BAD_REQUEST,
        "inconsistent-upload-length",
    )
    .await;
    // Completing before all declared bytes arrived.
    let url = server.create_empty(&key, 7, Some(10)).await;
    let response = server
        .send(
            append(&key, 7, &url, 0, true)
                .header(header::CONTENT_LENGTH, 5)
                .body(Body::from(&b"12345"[..]))
                .unwrap(),
        )
        .await;
    assert_problem(
        response,
        StatusCode::BAD_REQUEST,
        "inconsistent-upload-length",
    )
    .await;
    // Completing with fewer bytes when only Upload-Length said how many (chunked body).
    let response = server
        .send(
            rufh("PATCH", &url, &key, 7)
                .header("upload-offset", 0)
                .header("upload-complete", "?1")
                .header(header::CONTENT_TYPE, "application/partial-upload")
                .body(chunked(b"1234"))
                .unwrap(),
        )
        .await;
    assert_problem(
        response,
        StatusCode::BAD_REQUEST,
        "inconsistent-upload-length",
    )
    .await;
    // ...the bytes that did arrive are kept; the upload is not complete.
    let response = server.head(&key, 7, &url).await;
    assert_eq!(header_str(&response, "upload-offset"), "4");
    assert_eq!(header_str(&response, "upload-complete"), "?0");
    assert_eq!(server.asset_count(&key).await, 0);
}

/// A body without Content-Length, as if sent chunked (oneshot adds no Content-Length).
fn chunked(data: &[u8]) -> Body {
    Body::from(data.to_vec())
}

#[tokio::test]
async fn request_errors() {
    let server = Server::new().await;
    let key = server.user("alice", None).await;
    let other = server.user("bob", None).await;
    // An interop version this server does not speak.
    for bad in ["5", "9", "x"] {
        let response = server
            .send(
                Request::post("/api/uploads")
                    .header("x-api-key", &key)
                    .header("upload-draft-interop-version", bad)
                    .header("upload-complete", "?0")
                    .body(Body::empty())
                    .unwrap(),
            )
            .await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{bad}");
    }
    // Upload-Complete is required on creation and append.
    let response = server
        .send(
            rufh("POST", "/api/uploads", &key, 8)
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let url = server.create_empty(&key, 8, Some(4)).await;
    let response = server
        .send(
            rufh("PATCH", &url, &key, 8)
                .header("upload-offset", 0)
                .header(header::CONTENT_TYPE, "application/partial-upload")
                .body(Body::from(&b"ab"[..]))
                .unwrap(),
        )
        .await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    // Upload-Offset is required, and must be a non-negative integer.
    let response = server
        .send(
            rufh("PATCH", &url, &key, 8)
                .header("upload-complete", "?0")
                .header(header::CONTENT_TYPE, "application/partial-upload")
                .body(Body::from(&b"ab"[..]))
                .unwrap(),
        )
        .await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let response = server
        .send(
            rufh("PATCH", &url, &key, 8)
                .header("upload-offset", "-1")
                .header("upload-complete", "?0")
                .header(header::CONTENT_TYPE, "application/partial-upload")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    // No key: 401. Another user's key: 404 on HEAD, PATCH and DELETE.
    let response = server
        .send(
            Request::head(&url)
                .header("upload-draft-interop-version", 8)
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        server.head(&other, 8, &url).await.status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        server
            .append(&other, 8, &url, 0, false, b"ab")
            .await
            .status(),
        StatusCode::NOT_FOUND
    );
    let response = server
        .send(rufh("DELETE", &url, &other, 8).body(Body::empty()).unwrap())
        .await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    // An unknown upload.
    let missing = format!("/api/uploads/{}", "0".repeat(32));
    assert_eq!(
        server.head(&key, 8, &missing).await.status(),
        StatusCode::NOT_FOUND
    );
    // A body past the declared length is refused and the offset stays: 400 when
    // Content-Length says so up front, 413 when it shows while streaming.
    let response = server
        .send(
            append(&key, 8, &url, 0, false)
                .header(header::CONTENT_LENGTH, 6)
                .body(Body::from(&b"abcdef"[..]))
                .unwrap(),
        )
        .await;
    assert_problem(
        response,
        StatusCode::BAD_REQUEST,
        "inconsistent-upload-length",
    )
    .await;
    let response = server.append(&key, 8, &url, 0, false, b"abcdef").await;
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert!(response.headers().contains_key("upload-limit"));
    assert_eq!(
        header_str(&server.head(&key, 8, &url).await, "upload-offset"),
        "0"
    );
}

#[tokio::test]
async fn cancel_removes_the_upload() {
    let server = Server::new().await;
    let key = server.user("alice", None).await;
    for v in VERSIONS {
        let url = server.create_empty(&key, v, Some(10)).await;
        server.append(&key, v, &url, 0, false, b"abc").await;
        let response = server
            .send(rufh("DELETE", &url, &key, v).body(Body::empty()).unwrap())
            .await;
        assert_eq!(response.status(), StatusCode::NO_CONTENT);
        assert_eq!(
            header_str(&response, "upload-draft-interop-version"),
            v.to_string()
        );
        assert_eq!(
            server.head(&key, v, &url).await.status(),
            StatusCode::NOT_FOUND
        );
    }
    assert_eq!(server.partial_files(), 0);
}

#[tokio::test]
async fn repr_digest_is_verified_on_completion() {
    let server = Server::new().await;
    let key = server.user("alice", None).await;
    let data = sample(2048, 3);
    let good = format!("sha-256=:{}:", STANDARD.encode(Sha256::digest(&data)));
    let bad = format!("sha-256=:{}:", STANDARD.encode(Sha256::digest(b"other")));

    let create = |digest: &str| {
        rufh("POST", "/api/uploads", &key, 8)
            .header("upload-complete", "?0")
            .header("upload-length", data.len())
            .header("repr-digest", digest)
            .body(Body::empty())
            .unwrap()
    };
    let response = server.send(create(&good)).await;
    let url = header_str(&response, "location");
    server.append(&key, 8, &url, 0, false, &data[..1000]).await;
    let response = server
        .append(&key, 8, &url, 1000, true, &data[1000..])
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let asset_id = header_str(&response, "ferry-asset-id");
    assert_eq!(&server.original(&key, &asset_id).await[..], &data[..]);

    // A digest that does not match: rejected at completion, nothing stored.
    let other = sample(2048, 4);
    let response = server.send(create(&bad)).await;
    let url = header_str(&response, "location");
    let response = server.append(&key, 8, &url, 0, true, &other).await;
    assert_eq!(response.status().as_u16(), 460);
    assert_eq!(json_body(response).await["error"], "checksum-mismatch");
    assert_eq!(
        server.head(&key, 8, &url).await.status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(server.asset_count(&key).await, 1);
    assert_eq!(server.partial_files(), 0);

    // Malformed, or disagreeing with Upload-Metadata checksum: 400.
    let response = server.send(create("sha-256=:AAAA:")).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let response = server
        .send(
            rufh("POST", "/api/uploads", &key, 8)
                .header("upload-complete", "?0")
                .header("repr-digest", &good)
                .header(
                    "upload-metadata",
                    format!("checksum {}", STANDARD.encode(sha256_hex(b"x"))),
                )
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    // Only other algorithms: ignored (RFC 9530 lets a server skip ones it does not use).
    let response = server
        .send(
            rufh("POST", "/api/uploads", &key, 8)
                .header("upload-complete", "?1")
                .header("repr-digest", "sha-512=:AAAA:")
                .body(Body::from(sample(10, 99)))
                .unwrap(),
        )
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
}

#[tokio::test]
async fn limits_quota_and_locks() {
    let server = Server::with_config(Config {
        max_upload_bytes: 1000,
        ..Config::default()
    })
    .await;
    let key = server.user("alice", Some(600)).await;
    // Over the server maximum: 413 with Upload-Limit.
    let response = server
        .send(
            rufh("POST", "/api/uploads", &key, 8)
                .header("upload-complete", "?0")
                .header("upload-length", 1001)
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(header_str(&response, "upload-limit"), "max-size=1000");
    // Over the quota: 413 quota-exceeded.
    let response = server
        .send(
            rufh("POST", "/api/uploads", &key, 8)
                .header("upload-complete", "?0")
                .header("upload-length", 700)
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(json_body(response).await["error"], "quota-exceeded");
    // Unknown length: max-size is what the quota leaves, and streaming past it is refused.
    let url = server.create_empty(&key, 8, None).await;
    let limit = header_str(&server.head(&key, 8, &url).await, "upload-limit");
    assert!(limit.starts_with("max-size=600,"), "{limit}");
    let response = server
        .send(
            append(&key, 8, &url, 0, true)
                .body(chunked(&[7u8; 601]))
                .unwrap(),
        )
        .await;
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(
        header_str(&server.head(&key, 8, &url).await, "upload-offset"),
        "0"
    );
    // A second writer while one holds the upload: 423.
    let id = url.rsplit('/').next().unwrap();
    let lock = server.state.upload_locks.try_lock(id).unwrap();
    let response = server.append(&key, 8, &url, 0, false, b"ab").await;
    assert_eq!(response.status(), StatusCode::LOCKED);
    drop(lock);
    let response = server.append(&key, 8, &url, 0, true, b"ab").await;
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn expired_uploads_are_gone() {
    let server = Server::new().await;
    let key = server.user("alice", None).await;
    let url = server.create_empty(&key, 8, Some(10)).await;
    let id = url.rsplit('/').next().unwrap();
    db::set_upload_expiry(&server.state.pool, id, ferry_server::auth::unix_now() - 1)
        .await
        .unwrap();
    assert_eq!(server.head(&key, 8, &url).await.status(), StatusCode::GONE);
    assert_eq!(
        server.append(&key, 8, &url, 0, false, b"ab").await.status(),
        StatusCode::GONE
    );
}

#[tokio::test]
async fn expiry_counts_from_the_end_of_an_append_not_its_start() {
    // Unfinished uploads expire 2 s after their last write; the append takes 3.6 s.
    let server = Server::with_config(Config {
        upload_expiry: std::time::Duration::from_secs(2),
        ..Config::default()
    })
    .await;
    let key = server.user("alice", None).await;
    let url = server.create_empty(&key, 8, Some(20)).await;
    let slow = futures_util::stream::unfold(0, |step| async move {
        tokio::time::sleep(std::time::Duration::from_millis(1200)).await;
        (step < 3).then(|| {
            (
                Ok::<_, std::io::Error>(Bytes::from_static(b"abc")),
                step + 1,
            )
        })
    });
    let request = append(&key, 8, &url, 0, false)
        .header(header::CONTENT_LENGTH, 9)
        .body(Body::from_stream(slow))
        .unwrap();
    let response = server.send(request).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_eq!(header_str(&response, "upload-offset"), "9");
    // Right after it, the upload is alive, with its full period left, and not swept.
    let response = server.head(&key, 8, &url).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_eq!(header_str(&response, "upload-offset"), "9");
    let limit = header_str(&response, "upload-limit");
    assert!(
        limit.contains("max-age=2") || limit.contains("max-age=1"),
        "{limit}"
    );
    assert_eq!(
        ferry_server::tus::sweep_expired(&server.state)
            .await
            .unwrap(),
        0
    );
}

#[tokio::test]
async fn options_advertises_both_protocols_and_tus_still_wins_when_named() {
    let server = Server::new().await;
    let response = server
        .send(
            Request::options("/api/uploads")
                .header("upload-draft-interop-version", 8)
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        header_str(&response, "accept-patch"),
        "application/partial-upload"
    );
    assert_eq!(
        header_str(&response, "upload-limit"),
        "max-size=68719476736"
    );
    assert_eq!(header_str(&response, "tus-version"), "1.0.0");
    assert_eq!(header_str(&response, "upload-draft-interop-version"), "8");

    // A request that names tus is tus, even with the RUFH header.
    let key = server.user("alice", None).await;
    let response = server
        .send(
            Request::post("/api/uploads")
                .header("x-api-key", &key)
                .header("tus-resumable", "1.0.0")
                .header("upload-draft-interop-version", 8)
                .header("upload-length", 3)
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    assert_eq!(header_str(&response, "tus-resumable"), "1.0.0");
    assert!(response.headers().get("upload-complete").is_none());
    // Neither header: tus's 412.
    let response = server
        .send(
            Request::post("/api/uploads")
                .header("x-api-key", &key)
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(response.status(), StatusCode::PRECONDITION_FAILED);
}

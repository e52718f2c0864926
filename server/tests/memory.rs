//! Memory under a long run: the server's per-upload state in memory goes when the upload's
//! requests end (however they end), and its resident set levels off rather than growing
//! with the count of uploads served. The e2e soak (`e2e/soak.test.mjs`) watches the same
//! over HTTP, through faults, for 3 or 30 minutes.

mod common;

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::http::{header, Request, StatusCode};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use common::{tus, Server};
use ferry_server::{users, Config};
use sha2::{Digest, Sha256};

/// Resident set size of this process, in bytes.
fn rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kib| kib * 1024)
}

fn bytes_of(n: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// One upload the way the engine sends it under faults: created, a first chunk broken
/// off halfway (every third upload), a HEAD, a PATCH from a stale offset (409), the rest
/// with `Upload-Checksum`, and one upload in five cancelled instead.
async fn one_upload(server: &Server, key: &str, n: u64) {
    let data = bytes_of(96 * 1024 + (n as usize % 7) * 1000, n);
    let metadata = format!(
        "filename {},filetype {}",
        STANDARD.encode(format!("IMG_{n:05}.jpg")),
        STANDARD.encode("image/jpeg")
    );
    let response = server
        .send(
            tus("POST", "/api/uploads", key)
                .header("upload-length", data.len())
                .header("upload-metadata", metadata)
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let url = response.headers()["location"].to_str().unwrap().to_owned();
    let patch = |offset: usize, body: Body| {
        tus("PATCH", &url, key)
            .header("upload-offset", offset)
            .header(header::CONTENT_TYPE, "application/offset+octet-stream")
            .body(body)
            .unwrap()
    };
    if n % 3 == 0 {
        let half = Bytes::copy_from_slice(&data[..data.len() / 4]);
        let broken =
            futures_util::stream::iter([Ok(half), Err(std::io::Error::other("connection reset"))]);
        let mut request = patch(0, Body::from_stream(broken));
        request
            .headers_mut()
            .insert(header::CONTENT_LENGTH, data.len().into());
        server.send(request).await;
    }
    if n % 5 == 0 {
        let response = server
            .send(tus("DELETE", &url, key).body(Body::empty()).unwrap())
            .await;
        assert_eq!(response.status(), StatusCode::NO_CONTENT);
        return;
    }
    let response = server
        .send(tus("HEAD", &url, key).body(Body::empty()).unwrap())
        .await;
    let offset: usize = response.headers()["upload-offset"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    if offset > 0 {
        let response = server.send(patch(0, Body::from(vec![0u8; 10]))).await;
        assert_eq!(response.status(), StatusCode::CONFLICT);
    }
    let rest = &data[offset..];
    let digest = STANDARD.encode(Sha256::digest(rest));
    let mut request = patch(offset, Body::from(rest.to_vec()));
    request.headers_mut().insert(
        "upload-checksum",
        format!("sha256 {digest}").parse().unwrap(),
    );
    let response = server.send(request).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT, "upload {n}");
    assert!(response.headers().contains_key("ferry-asset-id"));
}

/// `GET /api/assets?limit=1000`, read to the end.
async fn list_assets(server: &Server, key: &str) {
    use http_body_util::BodyExt;
    let response = server
        .send(
            Request::builder()
                .uri("/api/assets?limit=1000")
                .header("x-api-key", key)
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    response.into_body().collect().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_run_keeps_no_per_upload_state_and_its_memory_levels_off() {
    // As `ferry-server`'s `main` does (this process is the server here).
    ferry_server::tune_allocator();
    let server = Arc::new(Server::start(Config::default(), &[]).await);
    let key = users::create_user(&server.state.pool, "alice", None, None)
        .await
        .unwrap()
        .api_key;
    const ROUNDS: u64 = 9;
    const PER_ROUND: u64 = 100;
    let mut series = Vec::new();
    for round in 0..ROUNDS {
        let tasks: Vec<_> = (0..6)
            .map(|lane| {
                let server = Arc::clone(&server);
                let key = key.clone();
                tokio::spawn(async move {
                    let mut n = round * PER_ROUND + lane;
                    while n < (round + 1) * PER_ROUND {
                        one_upload(&server, &key, n).await;
                        if n % 20 < 6 {
                            // A page of the library, as the app's timeline asks for it: it
                            // grows with the library (the soak's RSS grew with it).
                            list_assets(&server, &key).await;
                        }
                        n += 6;
                    }
                })
            })
            .collect();
        for task in tasks {
            task.await.unwrap();
        }
        // Every request has ended: no upload is locked, whatever happened to it.
        assert_eq!(server.state.upload_locks.held(), 0, "round {round}");
        series.push(rss());
    }
    let mib = |b: u64| b as f64 / (1024.0 * 1024.0);
    let shown: Vec<String> = series.iter().map(|&b| format!("{:.1}", mib(b))).collect();
    println!(
        "RSS after each round of {PER_ROUND} uploads (MiB): {}",
        shown.join(", ")
    );
    // Levels off: after the first third (the SQLite page caches, the allocator's arenas
    // and the runtime's threads filling), the last third grows no more than 4 MiB over
    // the middle third; a leak of a few KiB per upload would show as 900 uploads pass.
    let third = series.len() / 3;
    let middle = series[third..2 * third].iter().max().copied().unwrap();
    let last = series[2 * third..].iter().max().copied().unwrap();
    assert!(
        last <= middle + 4 * 1024 * 1024,
        "RSS keeps growing: {}",
        shown.join(", ")
    );
}

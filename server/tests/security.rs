//! Attacks on the server, driven in-process with `oneshot`: the web app's security headers,
//! sign-in brute force and timing, one user opening uploads without end, and credentials in
//! logs. (Cross-user isolation is `api.rs`'s `authorization_matrix`; slowloris, on a real
//! socket, is in `serve.rs`.)

mod common;

use std::io::Write;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{header, Request, Response, StatusCode};
use common::Server;
use ferry_server::{security, users, Config};
use http_body_util::BodyExt;
use serde_json::{json, Value};

impl Server {
    async fn with_config(config: Config) -> Self {
        Self::start(
            config,
            &[
                ("index.html", b"<!doctype html><title>ferry</title>"),
                ("app.js", b"export {};"),
            ],
        )
        .await
    }

    async fn user(&self, name: &str, password: Option<&str>) -> String {
        users::create_user(&self.state.pool, name, None, password)
            .await
            .unwrap()
            .api_key
    }

    /// `POST /api/auth/login` from `peer` (none: no socket, as in-process).
    async fn login(&self, user: &str, password: &str, peer: Option<&str>) -> Response<Body> {
        let mut request = Request::post("/api/auth/login")
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(
                json!({ "username": user, "password": password }).to_string(),
            ))
            .unwrap();
        if let Some(peer) = peer {
            let addr = SocketAddr::new(peer.parse().unwrap(), 40000);
            request.extensions_mut().insert(ConnectInfo(addr));
        }
        self.send(request).await
    }

    async fn login_status(&self, user: &str, password: &str, peer: Option<&str>) -> u16 {
        self.login(user, password, peer).await.status().as_u16()
    }

    async fn create_upload(&self, key: &str) -> Response<Body> {
        self.send(
            Request::post("/api/uploads")
                .header("x-api-key", key)
                .header("tus-resumable", "1.0.0")
                .header("upload-length", "10")
                .body(Body::empty())
                .unwrap(),
        )
        .await
    }
}

async fn json_body(response: Response<Body>) -> Value {
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    serde_json::from_slice(&bytes).unwrap_or(Value::Null)
}

fn header_str<'a>(response: &'a Response<Body>, name: &str) -> &'a str {
    response
        .headers()
        .get(name)
        .map(|v| v.to_str().unwrap())
        .unwrap_or_default()
}

/// No delay after a failed sign-in, so the tests time argon2 alone and run fast.
fn fast_login() -> Config {
    Config {
        failed_login_delay: Duration::ZERO,
        ..Config::default()
    }
}

#[tokio::test]
async fn the_app_is_served_with_a_strict_csp_nosniff_and_no_referrer() {
    let server = Server::with_config(Config::default()).await;
    let key = server.user("alice", None).await;
    for path in ["/", "/index.html", "/app.js", "/missing.png"] {
        let response = server
            .send(Request::get(path).body(Body::empty()).unwrap())
            .await;
        let csp = header_str(&response, "content-security-policy");
        assert_eq!(csp, security::APP_CSP, "{path}");
        for directive in [
            "script-src 'self' 'wasm-unsafe-eval'",
            "worker-src 'self'",
            "style-src 'self'",
            "object-src 'none'",
            "base-uri 'none'",
            "frame-ancestors 'none'",
            "img-src 'self' blob: data:",
            "connect-src 'self'",
        ] {
            assert!(
                csp.split(';').any(|d| d.trim() == directive),
                "{path}: {directive}"
            );
        }
        assert!(!csp.contains("unsafe-inline") && !csp.contains("'unsafe-eval'"));
        assert_eq!(header_str(&response, "x-content-type-options"), "nosniff");
        assert_eq!(header_str(&response, "referrer-policy"), "no-referrer");
        assert_eq!(header_str(&response, "x-frame-options"), "DENY");
    }
    // API answers, including originals of any type, never run anything as a document.
    for (path, key) in [("/api/users/me", key.as_str()), ("/api/assets", "wrong")] {
        let response = server
            .send(
                Request::get(path)
                    .header("x-api-key", key)
                    .body(Body::empty())
                    .unwrap(),
            )
            .await;
        assert_eq!(
            header_str(&response, "content-security-policy"),
            security::API_CSP
        );
        assert_eq!(header_str(&response, "x-content-type-options"), "nosniff");
        assert_eq!(header_str(&response, "referrer-policy"), "no-referrer");
    }
}

#[tokio::test]
async fn login_brute_force_is_429_per_user_name_and_per_address() {
    let server = Server::with_config(fast_login()).await;
    server.user("alice", Some("correct horse")).await;
    server.user("bob", Some("battery staple")).await;

    for i in 0..10 {
        let status = server
            .login_status("alice", "guess", Some("192.0.2.1"))
            .await;
        assert_eq!(status, 401, "failure {i}");
    }
    // The 11th try is refused before the password is even checked, right or wrong, from any
    // address, and for any spelling of the name.
    for (user, password, peer) in [
        ("alice", "guess", "192.0.2.1"),
        ("alice", "correct horse", "198.51.100.7"),
        (" ALICE ", "correct horse", "203.0.113.9"),
    ] {
        let response = server.login(user, password, Some(peer)).await;
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        let retry_after: u64 = header_str(&response, "retry-after").parse().unwrap();
        assert!((1..=900).contains(&retry_after), "{retry_after}");
        let body = json_body(response).await;
        assert_eq!(body["error"], "too-many-login-attempts");
        assert_eq!(body["retryAfterSecs"], retry_after);
        assert!(body["message"].as_str().unwrap().contains("try again"));
    }
    // The address 192.0.2.1 used its 10 failures as well: bob can't be tried from it...
    assert_eq!(
        server
            .login_status("bob", "battery staple", Some("192.0.2.1"))
            .await,
        429
    );
    // ...but bob signs in from elsewhere.
    assert_eq!(
        server
            .login_status("bob", "battery staple", Some("198.51.100.7"))
            .await,
        200
    );
    // Rotating through one IPv6 /64 is one address.
    for i in 0..10 {
        let peer = format!("2001:db8:5:6::{:x}", i + 1);
        assert_eq!(server.login_status("bob", "x", Some(&peer)).await, 401);
    }
    assert_eq!(
        server
            .login_status("nobody", "x", Some("2001:db8:5:6::ffff"))
            .await,
        429
    );
}

#[tokio::test]
async fn a_successful_sign_in_resets_the_user_names_count() {
    let server = Server::with_config(fast_login()).await;
    server.user("alice", Some("correct horse")).await;
    for _ in 0..9 {
        assert_eq!(server.login_status("alice", "guess", None).await, 401);
    }
    assert_eq!(
        server.login_status("alice", "correct horse", None).await,
        200
    );
    for i in 0..10 {
        assert_eq!(
            server.login_status("alice", "guess", None).await,
            401,
            "failure {i} after the reset"
        );
    }
    assert_eq!(server.login_status("alice", "guess", None).await, 429);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallel_guesses_cannot_race_past_the_limit() {
    let server = Arc::new(Server::with_config(fast_login()).await);
    server.user("alice", Some("correct horse")).await;
    let tries = (0..30).map(|i| {
        let server = Arc::clone(&server);
        tokio::spawn(async move {
            let peer = format!("192.0.2.{}", i + 1);
            server.login_status("alice", "guess", Some(&peer)).await
        })
    });
    let mut statuses = Vec::new();
    for t in tries {
        statuses.push(t.await.unwrap());
    }
    let count = |s: u16| statuses.iter().filter(|&&x| x == s).count();
    assert_eq!(
        (count(401), count(429)),
        (10, 20),
        "{statuses:?}: only 10 guesses are ever checked"
    );
}

/// The fastest of `samples`: the cost of the work itself. Other tests of this binary (and,
/// on PostgreSQL, the database) share the two cores, and their load only ever adds time,
/// so a median still moved by 2x between kinds of sign-in in CI; the minimum does not.
fn fastest(samples: &[Duration]) -> Duration {
    samples.iter().copied().min().unwrap_or_default()
}

/// A wrong user name and a wrong password cost the same: the unknown user's password is
/// checked against a dummy argon2 hash. If that path skipped argon2 it would answer in well
/// under a millisecond against tens of milliseconds, far outside the bounds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_user_and_a_wrong_password_take_the_same_time() {
    let server = Server::with_config(Config {
        max_login_failures: 1_000,
        ..fast_login()
    })
    .await;
    server.user("alice", Some("correct horse")).await;
    server.user("keyonly", None).await;
    // Warm up: the dummy hash is made on first use.
    server.login_status("mallory", "x", None).await;
    server.login_status("alice", "x", None).await;
    const N: usize = 15;
    let mut wrong_password = Vec::new();
    let mut unknown_user = Vec::new();
    let mut no_password = Vec::new();
    for i in 0..N {
        for (user, samples) in [
            ("alice", &mut wrong_password),
            ("mallory", &mut unknown_user),
            ("keyonly", &mut no_password),
        ] {
            let started = Instant::now();
            let status = server.login_status(user, &format!("guess {i}"), None).await;
            samples.push(started.elapsed());
            assert_eq!(status, 401);
        }
    }
    let (wrong, unknown, none) = (
        fastest(&wrong_password),
        fastest(&unknown_user),
        fastest(&no_password),
    );
    eprintln!(
        "fastest sign-in of {N}: wrong password {wrong:?}, unknown user {unknown:?}, \
         user without password {none:?}"
    );
    for (what, other) in [("unknown user", unknown), ("no password", none)] {
        let ratio = other.as_secs_f64() / wrong.as_secs_f64();
        assert!(
            (0.5..=2.0).contains(&ratio),
            "{what}: {other:?} vs wrong password {wrong:?} (ratio {ratio:.2})"
        );
    }
    assert!(
        wrong > Duration::from_millis(2),
        "argon2 runs ({wrong:?} per sign-in)"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_parallel_creations_stop_at_the_open_upload_limit() {
    let server = Arc::new(Server::with_config(Config::default()).await);
    let alice = server.user("alice", None).await;
    let bob = server.user("bob", None).await;
    let creations = (0..1_000).map(|_| {
        let server = Arc::clone(&server);
        let alice = alice.clone();
        tokio::spawn(async move {
            let response = server.create_upload(&alice).await;
            let status = response.status().as_u16();
            (status, json_body(response).await)
        })
    });
    let mut created = 0;
    let mut refused = 0;
    for creation in creations {
        let (status, body) = creation.await.unwrap();
        match status {
            201 => created += 1,
            429 => {
                refused += 1;
                assert_eq!(body["error"], "too-many-open-uploads");
                assert_eq!(body["maxOpenUploads"], 100);
                assert!(body["message"]
                    .as_str()
                    .unwrap()
                    .contains("--max-open-uploads"));
            }
            other => panic!("unexpected {other}: {body}"),
        }
    }
    assert_eq!((created, refused), (100, 900));
    // Refused creations leave no partial file behind (on S3 an upload has no object until
    // its first bytes: its multipart upload is inside the S3 server).
    let partials = server.upload_files().len();
    assert_eq!(partials, if common::on_s3() { 0 } else { 100 });

    // RUFH creation counts the same uploads.
    let rufh = server
        .send(
            Request::post("/api/uploads")
                .header("x-api-key", &alice)
                .header("upload-draft-interop-version", "8")
                .header("upload-complete", "?0")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(rufh.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(json_body(rufh).await["error"], "too-many-open-uploads");

    // Another user is not affected.
    assert_eq!(server.create_upload(&bob).await.status(), 201);

    // Finishing one makes room for one more.
    let open: Vec<String> = sqlx::query_scalar(
        "SELECT id FROM uploads WHERE user_id = (SELECT id FROM users WHERE name = 'alice')",
    )
    .fetch_all(&server.state.pool.pool)
    .await
    .unwrap();
    let done = server
        .send(
            Request::patch(format!("/api/uploads/{}", open[0]))
                .header("x-api-key", &alice)
                .header("tus-resumable", "1.0.0")
                .header("upload-offset", "0")
                .header("content-type", "application/offset+octet-stream")
                .body(Body::from(vec![7u8; 10]))
                .unwrap(),
        )
        .await;
    assert_eq!(done.status(), StatusCode::NO_CONTENT);
    assert_eq!(server.create_upload(&alice).await.status(), 201);
    assert_eq!(server.create_upload(&alice).await.status(), 429);
    // So does cancelling one.
    let cancelled = server
        .send(
            Request::delete(format!("/api/uploads/{}", open[1]))
                .header("x-api-key", &alice)
                .header("tus-resumable", "1.0.0")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(cancelled.status(), StatusCode::NO_CONTENT);
    assert_eq!(server.create_upload(&alice).await.status(), 201);
}

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Everything the server logs at the most verbose level, while credentials are sent every
/// way a client might: `x-api-key`, `Authorization: Bearer`, the query string, a password.
/// None of them appears.
#[tokio::test]
async fn logs_never_contain_keys_tokens_or_passwords() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    // Global: a thread-local default misses callsites other tests' threads register first.
    // The other tests of this file then log here too, which only widens what is checked.
    tracing::subscriber::set_global_default(subscriber).unwrap();

    let server = Server::with_config(fast_login()).await;
    let key = server.user("alice", Some("hunter2-password")).await;
    let response = server.login("alice", "hunter2-password", None).await;
    let token = json_body(response).await["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let _ = server.login("alice", "wrong-password-xyz", None).await;
    for request in [
        Request::get("/api/users/me").header("x-api-key", &key),
        Request::get("/api/users/me").header("authorization", format!("Bearer {token}")),
        Request::get(format!("/api/assets?api_key={key}&token={token}"))
            .header("x-api-key", "not-a-key-but-secret-too"),
        Request::get(format!("/?token={token}")),
        Request::post("/api/auth/logout").header("authorization", format!("Bearer {token}")),
    ] {
        server.send(request.body(Body::empty()).unwrap()).await;
    }
    let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(
        logs.contains("/api/users/me") && logs.contains("finished processing request"),
        "requests are logged at this level:\n{logs}"
    );
    for secret in [
        key.as_str(),
        token.as_str(),
        "hunter2-password",
        "wrong-password-xyz",
        "not-a-key-but-secret-too",
    ] {
        assert!(!logs.contains(secret), "{secret} is in the logs:\n{logs}");
    }
}

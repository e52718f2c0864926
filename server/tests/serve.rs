//! The real `ferry-server serve` process on a socket: graceful shutdown (SIGTERM during a
//! slow PATCH) and HTTPS with `--tls-cert/--tls-key`.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_ferry-server");

struct Running {
    child: Child,
    addr: String,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Running {
    fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .args([&format!("-{name}"), &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    fn wait_exit(&mut self, within: Duration) -> ExitStatus {
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(Instant::now() < deadline, "ferry-server did not exit");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn add_user(data: &Path) -> String {
    let out = Command::new(BIN)
        .args(["user", "add", "alice", "--data"])
        .arg(data)
        .output()
        .unwrap();
    assert!(out.status.success());
    let stdout = String::from_utf8(out.stdout).unwrap();
    stdout.trim().lines().last().unwrap().trim().to_owned()
}

fn start(data: &Path, extra: &[&str]) -> Running {
    let addr = format!("127.0.0.1:{}", free_port());
    let mut child = Command::new(BIN)
        .args(["serve", "--listen", &addr, "--data"])
        .arg(data)
        .arg("--www")
        .arg(data.join("www"))
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    loop {
        line.clear();
        assert!(
            stdout.read_line(&mut line).unwrap() > 0,
            "ferry-server exited before it was ready"
        );
        if line.starts_with("ferry is ready") {
            break;
        }
    }
    Running { child, addr }
}

struct Reply {
    status: u16,
    headers: HashMap<String, String>,
    body: Vec<u8>,
}

/// Reads one HTTP/1.1 answer until the server closes the connection.
fn read_reply(stream: &mut TcpStream) -> Reply {
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).unwrap();
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a full header");
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = head.lines();
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    Reply {
        status,
        headers,
        body: raw[split + 4..].to_vec(),
    }
}

fn request(addr: &str, method: &str, path: &str, headers: &[(&str, String)], body: &[u8]) -> Reply {
    let mut stream = TcpStream::connect(addr).unwrap();
    write_head(&mut stream, method, path, headers, body.len());
    stream.write_all(body).unwrap();
    read_reply(&mut stream)
}

fn write_head(
    stream: &mut TcpStream,
    method: &str,
    path: &str,
    headers: &[(&str, String)],
    len: usize,
) {
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Length: {len}\r\n"
    );
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).unwrap();
}

fn tus_headers(key: &str) -> Vec<(&'static str, String)> {
    vec![
        ("x-api-key", key.to_owned()),
        ("tus-resumable", "1.0.0".to_owned()),
    ]
}

fn patch_headers(key: &str, offset: u64) -> Vec<(&'static str, String)> {
    let mut headers = tus_headers(key);
    headers.push(("upload-offset", offset.to_string()));
    headers.push(("content-type", "application/offset+octet-stream".to_owned()));
    headers
}

fn sample(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 + i / 251) as u8).collect()
}

fn setup() -> (tempfile::TempDir, PathBuf, String) {
    let dir = tempfile::TempDir::new().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir_all(data.join("www")).unwrap();
    let key = add_user(&data);
    (dir, data, key)
}

fn create_upload(addr: &str, key: &str, length: usize) -> String {
    let mut headers = tus_headers(key);
    headers.push(("upload-length", length.to_string()));
    let reply = request(addr, "POST", "/api/uploads", &headers, b"");
    assert_eq!(reply.status, 201);
    reply.headers["location"].clone()
}

fn head_offset(addr: &str, key: &str, url: &str) -> u64 {
    let reply = request(addr, "HEAD", url, &tus_headers(key), b"");
    assert_eq!(reply.status, 200);
    reply.headers["upload-offset"].parse().unwrap()
}

#[test]
fn sigterm_past_the_grace_period_cuts_a_slow_patch_cleanly() {
    let (_dir, data, key) = setup();
    let mut server = start(&data, &["--shutdown-grace-secs", "1"]);
    let bytes = sample(1_000_000);
    let url = create_upload(&server.addr, &key, bytes.len());
    let id = url.rsplit('/').next().unwrap().to_owned();
    let partial = data.join("uploads").join(&id);

    // A PATCH that promises 1,000,000 bytes, sends 300,000, then stalls.
    let sent = 300_000;
    let mut slow = TcpStream::connect(&server.addr).unwrap();
    write_head(
        &mut slow,
        "PATCH",
        &url,
        &patch_headers(&key, 0),
        bytes.len(),
    );
    slow.write_all(&bytes[..sent]).unwrap();
    std::thread::sleep(Duration::from_millis(500));
    server.signal("TERM");

    // After the 1 s grace, the request is cut: what arrived is fsynced and acknowledged.
    let reply = read_reply(&mut slow);
    assert_eq!(
        reply.status,
        503,
        "{}",
        String::from_utf8_lossy(&reply.body)
    );
    assert!(String::from_utf8_lossy(&reply.body).contains("shutting-down"));
    let status = server.wait_exit(Duration::from_secs(15));
    assert!(status.success(), "{status:?}");
    assert_eq!(std::fs::metadata(&partial).unwrap().len(), sent as u64);

    // Bytes written but never acknowledged (as a crash could leave) are cut off again by
    // the next request, which never sees them.
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(&partial)
        .unwrap();
    file.write_all(b"never acknowledged").unwrap();
    drop(file);

    let server = start(&data, &[]);
    let offset = head_offset(&server.addr, &key, &url);
    assert_eq!(
        offset, sent as u64,
        "the acknowledged offset survives the restart"
    );
    let reply = request(
        &server.addr,
        "PATCH",
        &url,
        &patch_headers(&key, offset),
        b"",
    );
    assert_eq!(reply.status, 204);
    assert_eq!(std::fs::metadata(&partial).unwrap().len(), offset);

    let reply = request(
        &server.addr,
        "PATCH",
        &url,
        &patch_headers(&key, offset),
        &bytes[sent..],
    );
    assert_eq!(reply.status, 204);
    let asset_id = reply.headers["ferry-asset-id"].clone();
    let original = request(
        &server.addr,
        "GET",
        &format!("/api/assets/{asset_id}/original"),
        &[("x-api-key", key.clone())],
        b"",
    );
    assert_eq!(original.status, 200);
    assert!(
        original.body == bytes,
        "the asset's bytes are the uploaded ones"
    );
}

#[test]
fn sigterm_lets_a_request_in_flight_finish_within_the_grace_period() {
    let (_dir, data, key) = setup();
    let mut server = start(&data, &["--shutdown-grace-secs", "20"]);
    let bytes = sample(200_000);
    let url = create_upload(&server.addr, &key, bytes.len());

    let mut slow = TcpStream::connect(&server.addr).unwrap();
    write_head(
        &mut slow,
        "PATCH",
        &url,
        &patch_headers(&key, 0),
        bytes.len(),
    );
    slow.write_all(&bytes[..50_000]).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    server.signal("TERM");
    std::thread::sleep(Duration::from_millis(500));
    // No new connections are taken while the old request finishes.
    assert!(TcpStream::connect(&server.addr).is_err());
    slow.write_all(&bytes[50_000..]).unwrap();
    let reply = read_reply(&mut slow);
    assert_eq!(reply.status, 204);
    assert!(reply.headers.contains_key("ferry-asset-id"));
    let status = server.wait_exit(Duration::from_secs(10));
    assert!(status.success(), "{status:?}");

    let server = start(&data, &[]);
    assert_eq!(head_offset(&server.addr, &key, &url), bytes.len() as u64);
}

#[cfg(feature = "tls")]
#[test]
fn serves_https_with_a_pem_certificate() {
    let have = |tool: &str| Command::new(tool).arg("--version").output().is_ok();
    if !have("openssl") || !have("curl") {
        eprintln!("skipped: needs openssl and curl");
        return;
    }
    let (dir, data, _key) = setup();
    let cert = dir.path().join("cert.pem");
    let key = dir.path().join("key.pem");
    let made = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
        ])
        .args(["-nodes", "-days", "1", "-subj", "/CN=localhost"])
        .args(["-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(made.success());

    let tls_args = [
        "--tls-cert",
        cert.to_str().unwrap(),
        "--tls-key",
        key.to_str().unwrap(),
        "--header-read-timeout-secs",
        "2",
    ];
    let server = start(&data, &tls_args);
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "10", "--cacert"])
        .arg(&cert)
        .arg(format!("https://{}/healthz", server.addr))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "ok");
    // Plain HTTP on the TLS port gets no answer, and does not stop the server.
    let mut plain = TcpStream::connect(&server.addr).unwrap();
    plain
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    plain
        .set_read_timeout(Some(Duration::from_secs(15)))
        .unwrap();
    let mut answer = Vec::new();
    let _ = plain.read_to_end(&mut answer);
    assert!(!String::from_utf8_lossy(&answer).contains("200 OK"));
    let again = Command::new("curl")
        .args(["-sS", "--max-time", "10", "--cacert"])
        .arg(&cert)
        .arg(format!("https://{}/healthz", server.addr))
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&again.stdout), "ok");

    // Slowloris inside TLS: a finished handshake, then a header dribbled a byte every
    // 100 ms. The header read timeout closes it after about 2 s, as on plain HTTP.
    let mut client = Command::new("openssl")
        .args(["s_client", "-quiet", "-connect", &server.addr])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut input = client.stdin.take().unwrap();
    std::thread::sleep(Duration::from_millis(500)); // the handshake
    let started = Instant::now();
    let head = b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nX-Padding: ";
    let exited = loop {
        if let Some(_status) = client.try_wait().unwrap() {
            break Some(started.elapsed());
        }
        if started.elapsed() > Duration::from_secs(10) {
            break None;
        }
        let byte = head[(started.elapsed().as_millis() / 100) as usize % head.len()];
        let _ = input.write_all(&[byte]);
        std::thread::sleep(Duration::from_millis(100));
    };
    let _ = client.kill();
    let _ = client.wait();
    let exited = exited.expect("the dribbling TLS connection was never closed");
    assert!(exited < Duration::from_secs(6), "closed after {exited:?}");

    // A key that does not exist: serve refuses to start.
    let bad = Command::new(BIN)
        .args(["serve", "--listen", "127.0.0.1:0", "--data"])
        .arg(&data)
        .args([
            "--tls-cert",
            cert.to_str().unwrap(),
            "--tls-key",
            "/nonexistent.pem",
        ])
        .output()
        .unwrap();
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("/nonexistent.pem"));
}

/// Dribbles `bytes` one at a time (over and over), `every` apart, and returns how long
/// after the first byte the server closed the connection (`None`: still open after 10 s).
fn dribble_until_closed(stream: &mut TcpStream, bytes: &[u8], every: Duration) -> Option<Duration> {
    stream.set_read_timeout(Some(every)).unwrap();
    let started = Instant::now();
    let mut answer = Vec::new();
    for byte in bytes.iter().cycle() {
        if started.elapsed() > Duration::from_secs(10) {
            return None;
        }
        if stream.write_all(std::slice::from_ref(byte)).is_err() {
            return Some(started.elapsed());
        }
        let mut buf = [0u8; 1024];
        match stream.read(&mut buf) {
            Ok(0) => return Some(started.elapsed()),
            Ok(n) => answer.extend_from_slice(&buf[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => return Some(started.elapsed()),
        }
        assert!(
            !String::from_utf8_lossy(&answer).contains(" 200 "),
            "a dribbled request was served"
        );
    }
    None
}

#[test]
fn a_slowloris_connection_is_closed_by_the_header_read_timeout() {
    let (_dir, data, key) = setup();
    let server = start(&data, &["--header-read-timeout-secs", "2"]);

    // A request line and headers sent one byte every 100 ms, never finished.
    let mut slow = TcpStream::connect(&server.addr).unwrap();
    let head =
        format!("GET /api/users/me HTTP/1.1\r\nHost: localhost\r\nx-api-key: {key}\r\nX-Padding: ");
    let closed = dribble_until_closed(&mut slow, head.as_bytes(), Duration::from_millis(100))
        .expect("the dribbling connection was never closed");
    assert!(
        closed >= Duration::from_millis(1_800) && closed < Duration::from_secs(6),
        "closed after {closed:?}, expected about 2 s"
    );

    // A connection that opens and sends nothing is closed too.
    let mut silent = TcpStream::connect(&server.addr).unwrap();
    silent
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let started = Instant::now();
    let mut sink = Vec::new();
    let _ = silent.read_to_end(&mut sink);
    assert!(
        started.elapsed() < Duration::from_secs(6),
        "{:?}",
        started.elapsed()
    );

    // A body that keeps flowing is not cut, however long it takes: 1 MB in 20 pieces
    // 200 ms apart (4 s, twice the header timeout) is one acknowledged PATCH.
    let bytes = sample(1_000_000);
    let url = create_upload(&server.addr, &key, bytes.len());
    let mut stream = TcpStream::connect(&server.addr).unwrap();
    write_head(
        &mut stream,
        "PATCH",
        &url,
        &patch_headers(&key, 0),
        bytes.len(),
    );
    for piece in bytes.chunks(bytes.len() / 20) {
        std::thread::sleep(Duration::from_millis(200));
        stream.write_all(piece).unwrap();
    }
    let reply = read_reply(&mut stream);
    assert_eq!(
        reply.status,
        204,
        "{}",
        String::from_utf8_lossy(&reply.body)
    );
    assert_eq!(reply.headers["upload-offset"], bytes.len().to_string());
    // And the server still answers normally.
    let health = request(&server.addr, "GET", "/healthz", &[], b"");
    assert_eq!((health.status, health.body.as_slice()), (200, &b"ok"[..]));
}

#[test]
fn a_sign_in_body_dribbled_without_end_is_answered_and_let_go() {
    let (_dir, data, _key) = setup();
    let server = start(&data, &[]);
    // The headers at once (the header read timeout is met), then the body a byte every
    // 500 ms, never finished: no credential is needed to hold this connection, so the
    // server must not wait for it as it would for an upload's body.
    let mut slow = TcpStream::connect(&server.addr).unwrap();
    slow.write_all(
        b"POST /api/auth/login HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 89\r\n\r\n",
    )
    .unwrap();
    slow.set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    let started = Instant::now();
    let mut answer = Vec::new();
    while started.elapsed() < Duration::from_secs(20) {
        let _ = slow.write_all(b" ");
        let mut buf = [0u8; 1024];
        match slow.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                answer.extend_from_slice(&buf[..n]);
                if answer.windows(4).any(|w| w == b"\r\n\r\n") {
                    break;
                }
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => break,
        }
    }
    let answered = started.elapsed();
    let answer = String::from_utf8_lossy(&answer);
    assert!(
        answer.starts_with("HTTP/1.1 400"),
        "answered {answer:?} after {answered:?}"
    );
    assert!(
        answered >= Duration::from_secs(9) && answered < Duration::from_secs(14),
        "answered after {answered:?}, expected about 10 s"
    );
}

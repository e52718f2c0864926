//! Several `ferry-server` instances on one PostgreSQL catalog and one S3 bucket (issue 9): a
//! backup whose chunks alternate between two instances survives one of them being killed
//! mid-PATCH, tus chunks of any size are re-parted into S3 parts across instances, and
//! concurrent PATCHes of one upload through both instances never interleave.
//!
//! Needs `FERRY_TEST_DATABASE` (a PostgreSQL URL whose user may create databases, as
//! `cargo xtask test` provides); without it each test says so and passes. S3 is the
//! harness's `s3s-fs` (`common::test_s3`). Each instance has a data directory of its own,
//! and the tests check that no byte of an upload or a blob is ever in one.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use sha2::{Digest, Sha256};

mod common;

const BIN: &str = env!("CARGO_BIN_EXE_ferry-server");

struct Instance {
    child: Child,
    addr: String,
}

impl Drop for Instance {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Instance {
    fn start(data: &Path, database: &str, blobs: &str) -> Self {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let addr = format!("127.0.0.1:{port}");
        let mut child = Command::new(BIN)
            .args(["serve", "--listen", &addr, "--database", database])
            .args(["--blobs", blobs, "--data"])
            .arg(data)
            .arg("--www")
            .arg(data.join("www"))
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
        // Keep reading stdout so the instance never blocks on a full pipe.
        std::thread::spawn(move || std::io::copy(&mut stdout, &mut std::io::sink()));
        Self { child, addr }
    }

    fn kill(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

/// A fresh database on the test PostgreSQL server, or `None` (the test is skipped).
fn database(name: &str) -> Option<String> {
    let Ok(url) = std::env::var("FERRY_TEST_DATABASE") else {
        eprintln!("FERRY_TEST_DATABASE is not set: skipping {name}");
        return None;
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let db = format!(
        "ferry_{name}_{}_{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis()
    );
    Some(runtime.block_on(common::fresh_database(&url, &db)))
}

/// A fresh bucket on the test S3 server (credentials in this process's environment, which
/// the instances inherit).
fn bucket(name: &str) -> String {
    common::fresh_bucket(&format!(
        "ferry-{name}-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis()
    ))
}

/// Data directories of their own for `n` instances (each with an empty `www/`).
fn data_dirs(root: &Path, n: usize) -> Vec<std::path::PathBuf> {
    (0..n)
        .map(|i| {
            let data = root.join(format!("data-{i}"));
            std::fs::create_dir_all(data.join("www")).unwrap();
            data
        })
        .collect()
}

/// No instance's disk holds an upload or a blob: everything is in the bucket.
fn assert_nothing_on_instance_disks(dirs: &[std::path::PathBuf]) {
    for dir in dirs {
        for sub in ["uploads", "blobs", "thumbs"] {
            assert!(
                common::files_under(&dir.join(sub)).is_empty(),
                "{} holds files",
                dir.join(sub).display()
            );
        }
    }
}

fn add_user(data: &Path, database: &str, blobs: &str) -> String {
    let out = Command::new(BIN)
        .args(["user", "add", "alice", "--database", database])
        .args(["--blobs", blobs, "--data"])
        .arg(data)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    stdout.trim().lines().last().unwrap().trim().to_owned()
}

struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
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

fn read_reply(stream: &mut TcpStream) -> std::io::Result<Reply> {
    stream.set_read_timeout(Some(Duration::from_secs(60)))?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| std::io::Error::other("no full header"))?;
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other("no status"))?;
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    Ok(Reply {
        status,
        headers,
        body: raw[split + 4..].to_vec(),
    })
}

/// One request; an error is what a client sees of a dead instance.
fn request(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, String)],
    body: &[u8],
) -> std::io::Result<Reply> {
    let mut stream = TcpStream::connect(addr)?;
    write_head(&mut stream, method, path, headers, body.len());
    // A server may answer (423, 409) before reading the body and close: read its answer.
    let written = stream.write_all(body);
    match (read_reply(&mut stream), written) {
        (Ok(reply), _) => Ok(reply),
        (Err(_), Err(e)) | (Err(e), Ok(())) => Err(e),
    }
}

fn tus(key: &str) -> Vec<(&'static str, String)> {
    vec![
        ("x-api-key", key.to_owned()),
        ("tus-resumable", "1.0.0".to_owned()),
    ]
}

fn patch_headers(key: &str, offset: u64) -> Vec<(&'static str, String)> {
    let mut headers = tus(key);
    headers.push(("upload-offset", offset.to_string()));
    headers.push(("content-type", "application/offset+octet-stream".to_owned()));
    headers
}

/// Deterministic incompressible bytes (xorshift), fast enough for hundreds of MiB.
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

/// Round-robin over the live instances, as a proxy in front of them would be.
struct RoundRobin {
    addrs: Vec<String>,
    dead: Vec<bool>,
    next: usize,
}

impl RoundRobin {
    fn pick(&mut self) -> (usize, String) {
        loop {
            let i = self.next % self.addrs.len();
            self.next += 1;
            if !self.dead[i] {
                return (i, self.addrs[i].clone());
            }
        }
    }

    /// Sends through the next live instance; a refused connection marks it dead and the
    /// request goes to the next one (what a proxy with health checks does).
    fn send(&mut self, method: &str, path: &str, headers: &[(&str, String)], body: &[u8]) -> Reply {
        for _ in 0..10 {
            let (i, addr) = self.pick();
            match request(&addr, method, path, headers, body) {
                Ok(reply) => return reply,
                Err(_) => self.dead[i] = true,
            }
        }
        panic!("no instance answered {method} {path}");
    }
}

/// The client's side of a resumable upload: chunks, and on any failure a HEAD for the
/// server's offset before going on (what ferry's engine does). Returns the asset id.
fn backup_file(
    lb: &mut RoundRobin,
    key: &str,
    name: &str,
    bytes: &[u8],
    chunk: usize,
    mut before_chunk: impl FnMut(usize, &mut RoundRobin, &str, u64),
) -> String {
    let sha = hex::encode(Sha256::digest(bytes));
    let mut headers = tus(key);
    headers.push(("upload-length", bytes.len().to_string()));
    headers.push((
        "upload-metadata",
        format!(
            "filename {},checksum {}",
            STANDARD.encode(name),
            STANDARD.encode(&sha)
        ),
    ));
    let created = lb.send("POST", "/api/uploads", &headers, b"");
    assert_eq!(
        created.status,
        201,
        "{}",
        String::from_utf8_lossy(&created.body)
    );
    let url = created.header("location").unwrap().to_owned();
    let mut offset = 0u64;
    let mut index = 0;
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        assert!(Instant::now() < deadline, "{name} did not finish");
        before_chunk(index, lb, &url, offset);
        index += 1;
        let end = (offset as usize + chunk).min(bytes.len());
        let reply = lb.send(
            "PATCH",
            &url,
            &patch_headers(key, offset),
            &bytes[offset as usize..end],
        );
        match reply.status {
            204 => {
                offset = reply.header("upload-offset").unwrap().parse().unwrap();
                if let Some(asset) = reply.header("ferry-asset-id") {
                    return asset.to_owned();
                }
            }
            409 | 423 | 503 => {
                std::thread::sleep(Duration::from_millis(50));
                let head = lb.send("HEAD", &url, &tus(key), b"");
                assert_eq!(head.status, 200);
                offset = head.header("upload-offset").unwrap().parse().unwrap();
            }
            other => panic!(
                "PATCH {name}: {other} {}",
                String::from_utf8_lossy(&reply.body)
            ),
        }
    }
}

#[test]
fn a_backup_alternating_two_instances_survives_one_being_killed_mid_patch() {
    let Some(database) = database("two_instances") else {
        return;
    };
    let blobs = bucket("two-instances");
    let dir = tempfile::TempDir::new().unwrap();
    let data = data_dirs(dir.path(), 2);
    let key = add_user(&data[0], &database, &blobs);
    let mut a = Instance::start(&data[0], &database, &blobs);
    let b = Instance::start(&data[1], &database, &blobs);
    let mut lb = RoundRobin {
        addrs: vec![a.addr.clone(), b.addr.clone()],
        dead: vec![false, false],
        next: 0,
    };

    // 98 small files and 2 large ones; the large ones go up in 8 MiB chunks, alternating.
    let big: usize = std::env::var("FERRY_TEST_BIG_MIB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200)
        << 20;
    let started = Instant::now();
    let mut expected = Vec::new();
    let mut killed = false;
    for n in 0..100u64 {
        let len = match n {
            30 | 70 => big,
            n => 1000 + (n as usize * 7919) % 300_000,
        };
        let bytes = sample(len, n + 1);
        let name = format!("IMG_{n:04}.jpg");
        let kill_at = n == 70;
        let kill_chunk = big / (8 << 20) / 2;
        let asset = backup_file(
            &mut lb,
            &key,
            &name,
            &bytes,
            8 << 20,
            |chunk, _lb, url, offset| {
                // Halfway through the second large file: a PATCH to instance A is cut off
                // mid-body by SIGKILL. Its bytes were never acknowledged.
                if kill_at && chunk == kill_chunk && !killed {
                    killed = true;
                    let mut stream = TcpStream::connect(&a.addr).unwrap();
                    write_head(
                        &mut stream,
                        "PATCH",
                        url,
                        &patch_headers(&key, offset),
                        8 << 20,
                    );
                    stream
                        .write_all(&bytes[offset as usize..offset as usize + (3 << 20)])
                        .unwrap();
                    std::thread::sleep(Duration::from_millis(200));
                    a.kill();
                }
            },
        );
        expected.push((asset, hex::encode(Sha256::digest(&bytes)), name));
    }
    assert!(killed);
    eprintln!(
        "100 files ({} MiB) through two instances, one killed: {:.1} s",
        (2 * big + 98 * 150_000) >> 20,
        started.elapsed().as_secs_f64()
    );

    // Everything is there once, with the server's own SHA-256 of the stored bytes.
    let mut items = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/api/assets?limit=1000&cursor={c}"),
            None => "/api/assets?limit=1000".to_owned(),
        };
        let reply = request(&b.addr, "GET", &path, &[("x-api-key", key.clone())], b"").unwrap();
        assert_eq!(reply.status, 200);
        let page: serde_json::Value = serde_json::from_slice(&reply.body).unwrap();
        items.extend(page["items"].as_array().unwrap().clone());
        match page["nextCursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    assert_eq!(items.len(), 100, "no duplicates and nothing missing");
    for (asset, sha, name) in &expected {
        let item = items.iter().find(|i| i["id"] == asset.as_str()).unwrap();
        assert_eq!(item["originalFileName"], name.as_str());
        assert_eq!(item["checksum"], sha.as_str(), "{name}");
    }
    // The large file cut by the kill reads back byte for byte from the surviving instance.
    let (asset, _, _) = &expected[70];
    let reply = request(
        &b.addr,
        "GET",
        &format!("/api/assets/{asset}/original"),
        &[("x-api-key", key.clone())],
        b"",
    )
    .unwrap();
    assert_eq!(reply.status, 200);
    assert!(reply.body == sample(big, 71), "the original's bytes");
    assert_nothing_on_instance_disks(&data);
    // Every upload finished: nothing of them is left in the bucket either.
    let bucket = common::bucket_dir(&blobs);
    assert_eq!(
        common::files_under(&bucket.join("uploads")),
        Vec::<std::path::PathBuf>::new()
    );
    assert_eq!(common::files_under(&bucket.join("blobs")).len(), 100);
}

#[test]
fn concurrent_patches_of_one_upload_through_two_instances_do_not_interleave() {
    let Some(database) = database("concurrent_patch") else {
        return;
    };
    let blobs = bucket("concurrent-patch");
    let dir = tempfile::TempDir::new().unwrap();
    let data = data_dirs(dir.path(), 2);
    let key = add_user(&data[0], &database, &blobs);
    let a = Instance::start(&data[0], &database, &blobs);
    let b = Instance::start(&data[1], &database, &blobs);
    let bytes = sample(4 << 20, 9);
    let mut headers = tus(&key);
    headers.push(("upload-length", bytes.len().to_string()));
    let created = request(&a.addr, "POST", "/api/uploads", &headers, b"").unwrap();
    assert_eq!(created.status, 201);
    let url = created.header("location").unwrap().to_owned();

    // A's PATCH is mid-body when B's arrives for the same offset: B answers 423 (or 409)
    // at once and A's completes; the stored bytes are A's alone.
    let other = sample(bytes.len(), 100);
    let mut slow = TcpStream::connect(&a.addr).unwrap();
    write_head(
        &mut slow,
        "PATCH",
        &url,
        &patch_headers(&key, 0),
        bytes.len(),
    );
    slow.write_all(&bytes[..1 << 20]).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let fast = request(&b.addr, "PATCH", &url, &patch_headers(&key, 0), &other).unwrap();
    assert!(
        fast.status == 423 || fast.status == 409,
        "the second PATCH gets 423 or 409, not {}",
        fast.status
    );
    slow.write_all(&bytes[1 << 20..]).unwrap();
    let reply = read_reply(&mut slow).unwrap();
    assert_eq!(
        reply.status,
        204,
        "{}",
        String::from_utf8_lossy(&reply.body)
    );
    assert!(reply.header("ferry-asset-id").is_some());
    // Now complete: the same PATCH again through B is refused, not appended.
    let again = request(&b.addr, "PATCH", &url, &patch_headers(&key, 0), b"").unwrap();
    assert_eq!(again.status, 409);
    let reply = request(
        &b.addr,
        "GET",
        "/api/assets",
        &[("x-api-key", key.clone())],
        b"",
    )
    .unwrap();
    let page: serde_json::Value = serde_json::from_slice(&reply.body).unwrap();
    let items = page["items"].as_array().unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(
        items[0]["checksum"],
        hex::encode(Sha256::digest(&bytes)).as_str()
    );
}

#[test]
fn small_tus_chunks_are_re_parted_into_s3_parts_across_instances() {
    let Some(database) = database("re_part") else {
        return;
    };
    let blobs = bucket("re-part");
    let dir = tempfile::TempDir::new().unwrap();
    let data = data_dirs(dir.path(), 2);
    let key = add_user(&data[0], &database, &blobs);
    let mut a = Instance::start(&data[0], &database, &blobs);
    let b = Instance::start(&data[1], &database, &blobs);
    let bucket = common::bucket_dir(&blobs);

    // 23 MiB and 777 bytes: four full 5 MiB parts and a short last one. Chunks of 1 MiB
    // alternate instances, so each part is filled by both and every chunk but the fifth
    // of each part ends mid-part (in a tail object).
    let len = (23 << 20) + 777;
    let bytes = sample(len, 42);
    let sha = hex::encode(Sha256::digest(&bytes));
    let mut headers = tus(&key);
    headers.push(("upload-length", len.to_string()));
    headers.push((
        "upload-metadata",
        format!(
            "filename {},checksum {}",
            STANDARD.encode("clip.mov"),
            STANDARD.encode(&sha)
        ),
    ));
    let created = request(&a.addr, "POST", "/api/uploads", &headers, b"").unwrap();
    assert_eq!(created.status, 201);
    let url = created.header("location").unwrap().to_owned();
    let chunk = 1 << 20;
    let mut offset = 0;
    let mut asset = None;
    for i in 0.. {
        // Up to 12 MiB, alternate; then A dies in the middle of a chunk that crosses the
        // third part's end, and B goes on from the acknowledged offset, mid-part.
        let addr = if i % 2 == 0 { &a.addr } else { &b.addr };
        if offset == 12 << 20 {
            // B's HEAD agrees with what A acknowledged.
            let head = request(&b.addr, "HEAD", &url, &tus(&key), b"").unwrap();
            assert_eq!(
                head.header("upload-offset"),
                Some(offset.to_string().as_str())
            );
            // 12 MiB + 3 MiB 100 bytes would end past 15 MiB (the third part's end).
            let cut = (3 << 20) + 100;
            let mut stream = TcpStream::connect(&a.addr).unwrap();
            write_head(
                &mut stream,
                "PATCH",
                &url,
                &patch_headers(&key, offset as u64),
                cut,
            );
            stream.write_all(&bytes[offset..offset + cut - 50]).unwrap();
            std::thread::sleep(Duration::from_millis(300));
            a.kill();
            let head = request(&b.addr, "HEAD", &url, &tus(&key), b"").unwrap();
            offset = head.header("upload-offset").unwrap().parse().unwrap();
            assert_eq!(
                offset,
                12 << 20,
                "nothing of the cut chunk was acknowledged"
            );
            break;
        }
        let end = (offset + chunk).min(len);
        let reply = request(
            addr,
            "PATCH",
            &url,
            &patch_headers(&key, offset as u64),
            &bytes[offset..end],
        )
        .unwrap();
        assert_eq!(
            reply.status,
            204,
            "{}",
            String::from_utf8_lossy(&reply.body)
        );
        offset = reply.header("upload-offset").unwrap().parse().unwrap();
        assert_eq!(offset, end);
        // Below a part, the bytes past the last full part are one tail object in the bucket.
        let tails = common::files_under(&bucket.join("uploads"))
            .into_iter()
            .filter(|p| {
                p.file_name()
                    .unwrap()
                    .to_string_lossy()
                    .starts_with("tail-")
            })
            .count();
        assert_eq!(tails, usize::from(offset % (5 << 20) != 0), "at {offset}");
    }
    // B alone from here, in odd-sized chunks (1 MiB + 333 bytes) that straddle parts.
    let odd = chunk + 333;
    while asset.is_none() {
        let end = (offset + odd).min(len);
        let reply = request(
            &b.addr,
            "PATCH",
            &url,
            &patch_headers(&key, offset as u64),
            &bytes[offset..end],
        )
        .unwrap();
        assert_eq!(
            reply.status,
            204,
            "{}",
            String::from_utf8_lossy(&reply.body)
        );
        offset = reply.header("upload-offset").unwrap().parse().unwrap();
        asset = reply.header("ferry-asset-id").map(str::to_owned);
    }
    let asset = asset.unwrap();
    let reply = request(
        &b.addr,
        "GET",
        &format!("/api/assets/{asset}/original"),
        &[("x-api-key", key.clone())],
        b"",
    )
    .unwrap();
    assert_eq!(reply.status, 200);
    assert!(reply.body == bytes, "the original is byte-identical");
    // A range inside the fourth part, read back from S3.
    let reply = request(
        &b.addr,
        "GET",
        &format!("/api/assets/{asset}/original"),
        &[
            ("x-api-key", key.clone()),
            ("range", "bytes=16000000-16000999".to_owned()),
        ],
        b"",
    )
    .unwrap();
    assert_eq!(reply.status, 206);
    assert!(reply.body == bytes[16_000_000..16_001_000]);
    let page = request(
        &b.addr,
        "GET",
        "/api/assets",
        &[("x-api-key", key.clone())],
        b"",
    )
    .unwrap();
    let page: serde_json::Value = serde_json::from_slice(&page.body).unwrap();
    assert_eq!(page["items"][0]["checksum"], sha.as_str());
    assert_eq!(
        common::files_under(&bucket.join("uploads")),
        Vec::<std::path::PathBuf>::new()
    );
    assert_nothing_on_instance_disks(&data);
}

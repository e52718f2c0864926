//! The command line as scripts use it: the built binary, its stdout, its exit code.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_ferry-server");

fn user_add(data: &std::path::Path, name: &str) -> std::process::Output {
    Command::new(BIN)
        .args(["user", "add", name, "--quota", "1000000", "--data"])
        .arg(data)
        .env_remove("FERRY_DATA")
        .output()
        .unwrap()
}

/// Minimal HTTP/1.1 GET, so the test needs no HTTP client.
fn http_get(address: &str, path: &str, key: &str) -> String {
    let mut stream = TcpStream::connect(address).unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {address}\r\nx-api-key: {key}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    response
}

#[test]
fn user_add_prints_a_working_key_and_serve_accepts_it() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");

    let output = user_add(&data, "alice");
    assert!(output.status.success(), "{output:?}");
    let stdout = String::from_utf8(output.stdout).unwrap();
    let key = stdout.lines().last().unwrap().to_owned();
    assert_eq!(key.len(), 64, "{stdout}");
    assert!(key.bytes().all(|b| b.is_ascii_hexdigit()));
    // Only a hash of the key is stored.
    let db = std::fs::read(data.join("ferry.sqlite")).unwrap();
    let wal = std::fs::read(data.join("ferry.sqlite-wal")).unwrap_or_default();
    for bytes in [&db, &wal] {
        assert!(!bytes.windows(64).any(|w| w == key.as_bytes()));
    }

    let duplicate = user_add(&data, "alice");
    assert!(!duplicate.status.success());
    assert!(String::from_utf8_lossy(&duplicate.stderr).contains("already exists"));

    // Users exist, so `serve` creates no admin; it says where it is ready.
    let mut server = Command::new(BIN)
        .args(["serve", "--listen", "127.0.0.1:0", "--www"])
        .arg(dir.path().join("www"))
        .env("FERRY_DATA", &data)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(server.stdout.take().unwrap()).lines();
    let ready = lines.next().unwrap().unwrap();
    let address = ready
        .strip_prefix("ferry is ready at http://")
        .and_then(|rest| rest.strip_suffix('/'))
        .unwrap_or_else(|| panic!("unexpected first line: {ready}"))
        .to_owned();

    let me = http_get(&address, "/api/users/me", &key);
    let unauthorized = http_get(&address, "/api/users/me", "wrong");
    server.kill().unwrap();
    server.wait().unwrap();
    assert!(me.starts_with("HTTP/1.1 200"), "{me}");
    assert!(me.contains(r#""name":"alice""#), "{me}");
    assert!(me.contains(r#""quotaSizeInBytes":1000000"#), "{me}");
    assert!(unauthorized.starts_with("HTTP/1.1 401"), "{unauthorized}");
}

#[test]
fn first_serve_creates_admin_and_prints_its_key() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Command::new(BIN)
        .args(["serve", "--listen", "127.0.0.1:0", "--data"])
        .arg(dir.path().join("data"))
        .args(["--www"])
        .arg(dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut key = None;
    let mut address = None;
    for line in BufReader::new(server.stdout.take().unwrap()).lines() {
        let line = line.unwrap();
        if let Some(k) = line.split("API key: ").nth(1) {
            assert!(
                line.starts_with("First start: created user \"admin\"."),
                "{line}"
            );
            key = Some(k.trim().to_owned());
        }
        if let Some(rest) = line.strip_prefix("ferry is ready at http://") {
            address = Some(rest.trim_end_matches('/').to_owned());
            break;
        }
    }
    let (key, address) = (key.expect("API key line"), address.expect("ready line"));
    let me = http_get(&address, "/api/users/me", &key);
    let health = http_get(&address, "/healthz", "");
    server.kill().unwrap();
    server.wait().unwrap();
    assert!(me.contains(r#""name":"admin""#), "{me}");
    assert!(
        health.starts_with("HTTP/1.1 200") && health.ends_with("ok"),
        "{health}"
    );
}

fn run(data: &std::path::Path, args: &[&str]) -> (bool, String, String) {
    let output = Command::new(BIN)
        .args(args)
        .arg("--data")
        .arg(data)
        .env_remove("FERRY_DATA")
        .output()
        .unwrap();
    (
        output.status.success(),
        String::from_utf8(output.stdout).unwrap(),
        String::from_utf8(output.stderr).unwrap(),
    )
}

fn last_line(stdout: &str) -> String {
    stdout.lines().last().unwrap().trim().to_owned()
}

#[test]
fn keys_are_created_listed_and_revoked_and_users_listed_and_removed() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    assert!(user_add(&data, "alice").status.success());
    assert!(user_add(&data, "bob").status.success());

    let (ok, out, err) = run(&data, &["key", "create", "alice", "--name", "laptop"]);
    assert!(ok, "{err}");
    let key = last_line(&out);
    assert_eq!(key.len(), 64, "{out}");
    assert!(out.contains("\"laptop\""), "{out}");

    let (ok, out, _) = run(&data, &["key", "list", "alice"]);
    assert!(ok);
    let rows: Vec<Vec<&str>> = out
        .lines()
        .skip(1)
        .map(|l| l.split('\t').collect())
        .collect();
    assert_eq!(rows.len(), 2, "{out}");
    assert_eq!(rows[0][1], "default");
    assert_eq!(rows[1][1], "laptop");
    assert!(!out.contains(&key), "keys are never shown again");
    let laptop_id = rows[1][0].to_owned();

    let (ok, out, _) = run(&data, &["user", "list"]);
    assert!(ok);
    assert!(
        out.lines()
            .any(|l| l.starts_with("alice\t") && l.contains("\t1000000\t")),
        "{out}"
    );
    assert!(out.lines().any(|l| l.starts_with("bob\t")), "{out}");

    let (ok, _, _) = run(&data, &["key", "revoke", &laptop_id]);
    assert!(ok);
    let (ok, _, err) = run(&data, &["key", "revoke", &laptop_id]);
    assert!(!ok && err.contains("no API key"), "{err}");
    let (ok, out, _) = run(&data, &["key", "list", "alice"]);
    assert!(ok && !out.contains("laptop"), "{out}");
    let (ok, _, err) = run(&data, &["key", "create", "nobody"]);
    assert!(!ok && err.contains("no user named"), "{err}");

    let (ok, out, err) = run(&data, &["user", "remove", "bob"]);
    assert!(ok, "{err}");
    assert!(out.contains("Removed user \"bob\""), "{out}");
    let (_, out, _) = run(&data, &["user", "list"]);
    assert!(!out.contains("bob"), "{out}");
    let (ok, _, err) = run(&data, &["user", "remove", "bob"]);
    assert!(!ok && err.contains("no user named"), "{err}");
}

#[test]
fn user_password_reads_stdin_and_user_sign_out_names_what_it_ended() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    assert!(user_add(&data, "alice").status.success());
    let password = |name: &str, line: &str| {
        let mut child = Command::new(BIN)
            .args(["user", "password", name, "--data"])
            .arg(&data)
            .env_remove("FERRY_DATA")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(line.as_bytes())
            .unwrap();
        let output = child.wait_with_output().unwrap();
        let text = String::from_utf8_lossy(&output.stdout).into_owned()
            + &String::from_utf8_lossy(&output.stderr);
        (output.status.success(), text)
    };
    let (ok, out) = password("alice", "a new one\n");
    assert!(
        ok && out.contains("Set the password of user \"alice\""),
        "{out}"
    );
    let (ok, out) = password("alice", "\n");
    assert!(!ok && out.contains("must not be empty"), "{out}");
    let (ok, out) = password("nobody", "x\n");
    assert!(!ok && out.contains("no user named"), "{out}");

    let (ok, out, err) = run(&data, &["user", "sign-out", "alice"]);
    assert!(ok, "{err}");
    assert!(out.contains("Ended 0 sessions of user \"alice\""), "{out}");
    let (ok, _, err) = run(&data, &["user", "sign-out", "nobody"]);
    assert!(!ok && err.contains("no user named"), "{err}");
}

#[test]
fn serve_refuses_a_malformed_cors_origin() {
    let dir = tempfile::tempdir().unwrap();
    let (ok, _, err) = run(
        &dir.path().join("data"),
        &[
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--cors-origin",
            "example.org/path",
        ],
    );
    assert!(!ok);
    assert!(err.contains("--cors-origin"), "{err}");
}

#[test]
fn serve_refuses_zero_limits_and_a_malformed_client_ip_header() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    for (flag, value) in [
        ("--max-open-uploads", "0"),
        ("--login-attempts", "0"),
        ("--header-read-timeout-secs", "0"),
        ("--client-ip-header", "x forwarded for"),
    ] {
        let (ok, _, err) = run(&data, &["serve", "--listen", "127.0.0.1:0", flag, value]);
        assert!(!ok, "{flag} {value} was accepted");
        assert!(
            err.contains(flag) || err.contains(&flag[2..]),
            "{flag}: {err}"
        );
    }
}

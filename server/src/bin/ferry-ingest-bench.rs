//! Ingest benchmark (not a test): N concurrent tus uploads over loopback into a real
//! `ferry-server serve` child process, against a plain streaming write + fsync of the same
//! number of bytes to the same disk, in the same run. Prints MB/s for both, their ratio,
//! and the server's peak RSS (VmHWM).
//!
//! `cargo run --release -p ferry-server --bin ferry-ingest-bench -- [--uploads 16]
//!  [--size-mib 64] [--chunk-mib 8] [--dir DIR] [--database postgres://... [--instances N]]
//!  [--blobs s3://bucket?endpoint=...]`
//!
//! With `--instances N` it starts N servers on one data directory and one PostgreSQL
//! database and spreads the uploads over them; it also prints p50/p99 PATCH latency.
//! `--blobs` puts blobs and unfinished uploads in that S3 bucket (credentials from the
//! environment, as for `ferry-server`).
//!
//! The server binary is the `ferry-server` next to this one (same target directory);
//! `DIR` (default: the current directory) holds the temporary data, on the disk measured.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Instant;

const MIB: usize = 1024 * 1024;

struct Options {
    uploads: usize,
    size: usize,
    chunk: usize,
    dir: PathBuf,
    /// `--database postgres://...`: every instance on this catalog (else SQLite).
    database: Option<String>,
    /// `--blobs s3://...`: every instance on this bucket (else the data directory).
    blobs: Option<String>,
    /// Instances on one data directory (and `database`); upload `u` goes to `u % instances`.
    instances: usize,
}

fn options() -> Options {
    let mut options = Options {
        uploads: 16,
        size: 64 * MIB,
        chunk: 8 * MIB,
        dir: PathBuf::from("."),
        database: None,
        blobs: None,
        instances: 1,
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let mut value = || args.next().unwrap_or_else(|| usage(&flag));
        match flag.as_str() {
            "--uploads" => options.uploads = value().parse().unwrap_or_else(|_| usage("--uploads")),
            "--size-mib" => {
                options.size = value()
                    .parse::<usize>()
                    .unwrap_or_else(|_| usage("--size-mib"))
                    * MIB
            }
            "--chunk-mib" => {
                options.chunk = value()
                    .parse::<usize>()
                    .unwrap_or_else(|_| usage("--chunk-mib"))
                    * MIB
            }
            "--dir" => options.dir = PathBuf::from(value()),
            "--database" => options.database = Some(value()),
            "--blobs" => options.blobs = Some(value()),
            "--instances" => {
                options.instances = value().parse().unwrap_or_else(|_| usage("--instances"))
            }
            _ => usage(&flag),
        }
    }
    assert!(options.uploads > 0 && options.chunk > 16 && options.size >= options.chunk);
    assert!(options.instances > 0 && (options.instances == 1 || options.database.is_some()));
    options
}

fn usage(flag: &str) -> ! {
    eprintln!(
        "ferry-ingest-bench: bad or incomplete {flag}\n\
         usage: ferry-ingest-bench [--uploads N] [--size-mib N] [--chunk-mib N] [--dir DIR] \
         [--database postgres://... [--instances N]] [--blobs s3://...]"
    );
    std::process::exit(2)
}

/// One chunk of pseudo-random bytes, shared by every writer; each (upload, chunk) gets its
/// own first 16 bytes, so no two uploads are identical (no dedup shortcut).
fn shared_chunk(len: usize) -> Arc<Vec<u8>> {
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut bytes = Vec::with_capacity(len);
    while bytes.len() < len {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        bytes.extend_from_slice(&state.to_le_bytes());
    }
    bytes.truncate(len);
    Arc::new(bytes)
}

fn prefix(upload: usize, chunk: usize) -> [u8; 16] {
    let mut prefix = [0u8; 16];
    prefix[..8].copy_from_slice(&(upload as u64).to_le_bytes());
    prefix[8..].copy_from_slice(&(chunk as u64).to_le_bytes());
    prefix
}

/// Writes the same bytes the uploads carry to `dir`, `writers` files at once, fsyncing
/// after every chunk as the server does. Returns seconds.
fn plain_writes(options: &Options, dir: &Path, data: &Arc<Vec<u8>>) -> f64 {
    std::fs::create_dir_all(dir).unwrap();
    let started = Instant::now();
    let writers: Vec<_> = (0..options.uploads)
        .map(|u| {
            let data = Arc::clone(data);
            let path = dir.join(format!("plain-{u}"));
            let (size, chunk) = (options.size, options.chunk);
            std::thread::spawn(move || {
                let mut file = std::fs::File::create(&path).unwrap();
                for c in 0..size / chunk {
                    file.write_all(&prefix(u, c)).unwrap();
                    file.write_all(&data[16..]).unwrap();
                    file.sync_all().unwrap();
                }
            })
        })
        .collect();
    for writer in writers {
        writer.join().unwrap();
    }
    started.elapsed().as_secs_f64()
}

/// Reads one HTTP/1.1 response (headers and a Content-Length body) off a keep-alive stream.
fn read_response(stream: &mut BufReader<TcpStream>) -> (u16, Vec<(String, String)>) {
    let mut status_line = String::new();
    stream.read_line(&mut status_line).unwrap();
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("bad status line {status_line:?}"));
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        stream.read_line(&mut line).unwrap();
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            headers.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
        }
    }
    let length: usize = headers
        .iter()
        .find(|(n, _)| n == "content-length")
        .map_or(0, |(_, v)| v.parse().unwrap());
    let mut body = vec![0; length];
    stream.read_exact(&mut body).unwrap();
    (status, headers)
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

/// One tus upload on one keep-alive connection: create, then PATCH chunk by chunk.
/// Returns how long each PATCH took.
fn tus_upload(
    addr: &str,
    key: &str,
    upload: usize,
    options: &Options,
    data: &[u8],
) -> Vec<std::time::Duration> {
    let mut latencies = Vec::new();
    let stream = TcpStream::connect(addr).unwrap();
    stream.set_nodelay(true).unwrap();
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut writer = stream;
    let common = format!("Host: bench\r\nx-api-key: {key}\r\nTus-Resumable: 1.0.0\r\n");
    write!(
        writer,
        "POST /api/uploads HTTP/1.1\r\n{common}Upload-Length: {}\r\nContent-Length: 0\r\n\r\n",
        options.size
    )
    .unwrap();
    let (status, headers) = read_response(&mut reader);
    assert_eq!(status, 201, "create");
    let location = header(&headers, "location").unwrap().to_owned();
    let chunks = options.size / options.chunk;
    for c in 0..chunks {
        let sent = Instant::now();
        write!(
            writer,
            "PATCH {location} HTTP/1.1\r\n{common}Upload-Offset: {}\r\n\
             Content-Type: application/offset+octet-stream\r\nContent-Length: {}\r\n\r\n",
            c * options.chunk,
            options.chunk
        )
        .unwrap();
        // A server that answers before reading the whole body (an error) closes early:
        // its answer says why.
        let _ = writer
            .write_all(&prefix(upload, c))
            .and_then(|()| writer.write_all(&data[16..]));
        let (status, headers) = read_response(&mut reader);
        latencies.push(sent.elapsed());
        assert_eq!(status, 204, "PATCH chunk {c}");
        if c + 1 == chunks {
            assert!(header(&headers, "ferry-asset-id").is_some(), "completed");
        }
    }
    latencies
}

fn vm_hwm_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn main() {
    let options = options();
    let server_bin = std::env::current_exe()
        .unwrap()
        .with_file_name("ferry-server");
    assert!(
        server_bin.exists(),
        "{} is missing: build it first (cargo build --release -p ferry-server)",
        server_bin.display()
    );
    let work = options
        .dir
        .join(format!("ferry-ingest-bench-{}", std::process::id()));
    std::fs::create_dir_all(&work).unwrap();
    let data_dir = work.join("data");
    let total = options.uploads * options.size;
    let data = shared_chunk(options.chunk);
    println!(
        "{} uploads x {} MiB in {} MiB chunks = {} MiB, on {}",
        options.uploads,
        options.size / MIB,
        options.chunk / MIB,
        total / MIB,
        work.display()
    );

    // Baseline first, then delete it so both runs see the same free space.
    let plain_secs = plain_writes(&options, &work.join("plain"), &data);
    std::fs::remove_dir_all(work.join("plain")).unwrap();

    let mut database: Vec<&str> = match &options.database {
        Some(url) => vec!["--database", url],
        None => vec![],
    };
    if let Some(url) = &options.blobs {
        database.extend(["--blobs", url.as_str()]);
    }
    let out = Command::new(&server_bin)
        .args(["user", "add", "bench", "--data"])
        .arg(&data_dir)
        .args(&database)
        .output()
        .unwrap();
    assert!(out.status.success(), "user add failed");
    let stdout = String::from_utf8(out.stdout).unwrap();
    let key = stdout.trim().lines().last().unwrap().trim().to_owned();
    let mut servers = Vec::new();
    let mut addrs = Vec::new();
    for _ in 0..options.instances {
        let mut server = Command::new(&server_bin)
            .args(["serve", "--listen", "127.0.0.1:0", "--data"])
            .arg(&data_dir)
            .args(&database)
            .arg("--www")
            .arg(&work)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(server.stdout.take().unwrap()).lines();
        addrs.push(loop {
            let line = lines.next().expect("server exited").unwrap();
            if let Some(rest) = line.strip_prefix("ferry is ready at http://") {
                break rest.trim_end_matches('/').to_owned();
            }
        });
        servers.push(server);
    }

    let started = Instant::now();
    let mut latencies: Vec<std::time::Duration> = std::thread::scope(|scope| {
        let uploads: Vec<_> = (0..options.uploads)
            .map(|u| {
                let (addr, key, options, data) = (&addrs[u % addrs.len()], &key, &options, &data);
                scope.spawn(move || tus_upload(addr, key, u, options, data))
            })
            .collect();
        uploads
            .into_iter()
            .flat_map(|u| u.join().unwrap())
            .collect()
    });
    let tus_secs = started.elapsed().as_secs_f64();
    latencies.sort();
    let at = |q: f64| latencies[((latencies.len() as f64 * q) as usize).min(latencies.len() - 1)];
    let hwm = servers.iter().filter_map(|s| vm_hwm_kib(s.id())).max();
    for mut server in servers {
        let _ = server.kill();
        let _ = server.wait();
    }
    std::fs::remove_dir_all(&work).unwrap();

    let mb = total as f64 / 1e6;
    let plain_rate = mb / plain_secs;
    let tus_rate = mb / tus_secs;
    println!("plain write+fsync:  {plain_rate:8.1} MB/s  ({plain_secs:.2} s)");
    println!("tus ingest:         {tus_rate:8.1} MB/s  ({tus_secs:.2} s, fsync per chunk, SHA-256, rename)");
    println!("ratio tus/plain:    {:8.2}", tus_rate / plain_rate);
    println!(
        "PATCH latency:      p50 {:.0} ms, p99 {:.0} ms ({} chunks, {} instance(s), {})",
        at(0.5).as_secs_f64() * 1e3,
        at(0.99).as_secs_f64() * 1e3,
        latencies.len(),
        options.instances,
        match (&options.database, &options.blobs) {
            (Some(_), Some(_)) => "PostgreSQL + S3",
            (Some(_), None) => "PostgreSQL",
            (None, Some(_)) => "SQLite + S3",
            (None, None) => "SQLite",
        }
    );
    match hwm {
        Some(kib) => println!(
            "server peak RSS:    {:8.1} MiB (VmHWM, largest instance)",
            kib as f64 / 1024.0
        ),
        None => println!("server peak RSS:    unknown (no /proc)"),
    }
}

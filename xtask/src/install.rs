//! Installing what the build and the tests need, only when it is missing, and only from
//! the package registries (rustup's own targets, crates.io, Debian, npm).

use std::path::Path;
use std::process::Command;

use crate::{root, run, Result};

fn output(command: &mut Command) -> Option<String> {
    let out = command.output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The wasm32 target and a wasm-bindgen CLI of exactly the version pinned in Cargo.lock.
pub fn wasm_toolchain() -> Result {
    let installed =
        output(Command::new("rustup").args(["target", "list", "--installed"])).unwrap_or_default();
    if !installed
        .lines()
        .any(|t| t.trim() == "wasm32-unknown-unknown")
    {
        run(Command::new("rustup").args(["target", "add", "wasm32-unknown-unknown"]))?;
    }
    let pin = wasm_bindgen_pin()?;
    let installed_version = || {
        let have = output(Command::new("wasm-bindgen").arg("--version")).unwrap_or_default();
        have.split_whitespace().nth(1).map(str::to_string)
    };
    if installed_version().as_deref() == Some(pin.as_str()) {
        return Ok(());
    }
    eprintln!("xtask: installing wasm-bindgen-cli {pin} to match Cargo.lock (takes a few minutes)");
    // Not --locked: one of its locked dependencies is missing from the registry.
    // --force: cargo's install record may name a binary that is gone or was replaced.
    let install = ["install", "--force", "wasm-bindgen-cli", "--version", &pin];
    run(Command::new("cargo").args(install))?;
    match installed_version() {
        Some(v) if v == pin => Ok(()),
        other => Err(format!(
            "installed wasm-bindgen-cli {pin}, but `wasm-bindgen --version` reports {other:?}; \
             is ~/.cargo/bin on PATH?"
        )),
    }
}

/// The exact wasm-bindgen version in Cargo.lock.
fn wasm_bindgen_pin() -> Result<String> {
    let lock = std::fs::read_to_string(root().join("Cargo.lock"))
        .map_err(|e| format!("cannot read Cargo.lock: {e}"))?;
    let mut lines = lock.lines();
    while let Some(line) = lines.next() {
        if line.trim() == "name = \"wasm-bindgen\"" {
            if let Some(version) = lines
                .next()
                .and_then(|l| l.trim().strip_prefix("version = "))
            {
                return Ok(version.trim_matches('"').to_string());
            }
        }
    }
    Err("Cargo.lock has no wasm-bindgen package".into())
}

pub const CHROMIUM: &str = "/usr/bin/chromium";
pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const SQLITE3: &str = "/usr/bin/sqlite3";

/// Debian's Chromium and ChromeDriver, and `sqlite3` (the timeline test writes 100,000
/// rows with it; uploading them would take minutes), installed with apt when missing and
/// we are root.
pub fn chromium() -> Result {
    if Path::new(CHROMIUM).exists()
        && Path::new(CHROMEDRIVER).exists()
        && Path::new(SQLITE3).exists()
    {
        return Ok(());
    }
    let uid = output(Command::new("id").arg("-u")).unwrap_or_default();
    let apt = "apt-get update && apt-get install -y chromium chromium-driver sqlite3";
    if uid.trim() != "0" {
        return Err(format!(
            "Chromium and ChromeDriver are missing; install them with: sudo sh -c '{apt}'"
        ));
    }
    eprintln!("xtask: installing Debian's chromium, chromium-driver and sqlite3");
    run(Command::new("sh").args(["-c", &format!("DEBIAN_FRONTEND=noninteractive {apt}")]))
}

/// binaryen's version in xtask/package.json; part of the wasm-opt cache key.
pub const BINARYEN_VERSION: &str = "132.0.0";

/// binaryen's `wasm-opt` from npm (xtask/package-lock.json), installed when missing.
/// Returns the script to run with node.
pub fn wasm_opt() -> Result<std::path::PathBuf> {
    xtask_npm_script("binaryen/bin/wasm-opt")
}

/// terser from npm (xtask/package-lock.json), installed when missing. Returns the script to
/// run with node.
pub fn terser() -> Result<std::path::PathBuf> {
    xtask_npm_script("terser/bin/terser")
}

/// A script of one of xtask's own npm packages (`xtask/node_modules/<path>`), after
/// installing them if needed.
fn xtask_npm_script(path: &str) -> Result<std::path::PathBuf> {
    let dir = root().join("xtask");
    npm_packages(&dir)?;
    let script = dir.join("node_modules").join(path);
    if script.exists() {
        Ok(script)
    } else {
        Err(format!(
            "npm installed xtask's packages, but {} is missing",
            script.display()
        ))
    }
}

/// The e2e suite's npm packages (playwright-core and friends), from package-lock.json.
pub fn e2e_packages() -> Result {
    npm_packages(&root().join("e2e"))
}

/// The npm packages of the project in `dir`, exactly as its package-lock.json says,
/// installed only when the lock changed since the last install.
pub fn npm_packages(dir: &Path) -> Result {
    npm(dir, "ci")
}

/// The Vite example's packages. It depends on the built package through a `file:` link,
/// and npm 11's `npm ci` then rejects its lock file as out of sync (it reports rollup's
/// optional platform packages missing); `npm install` honours the same exact pins.
pub fn vite_example_packages() -> Result {
    npm(&root().join("package/examples/vite"), "install")
}

fn npm(dir: &Path, verb: &str) -> Result {
    let marker = dir.join("node_modules/.package-lock.json");
    let lock = dir.join("package-lock.json");
    let fresh = match (marker.metadata(), lock.metadata()) {
        (Ok(m), Ok(l)) => m.modified().ok() >= l.modified().ok(),
        _ => false,
    };
    if fresh {
        return Ok(());
    }
    run(Command::new("npm")
        .current_dir(dir)
        .args([verb, "--no-audit", "--no-fund"])
        // playwright-core downloads nothing on install; this keeps any other package honest.
        .env("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1"))
}

/// The S3 server the PostgreSQL + S3 pass and `server/tests/scale_out.rs` store blobs in:
/// `s3s-fs` from crates.io, pinned (`--locked`: its own lock file resolves here). The test
/// harness (`server/tests/common`) starts it on loopback with a temporary directory.
pub const S3S_FS_VERSION: &str = "0.14.1";

pub fn s3s_fs() -> Result {
    let have = output(Command::new("s3s-fs").arg("--version")).unwrap_or_default();
    if have.split_whitespace().nth(1) == Some(S3S_FS_VERSION) {
        return Ok(());
    }
    eprintln!("xtask: installing s3s-fs {S3S_FS_VERSION} (takes a few minutes)");
    run(Command::new("cargo").args([
        "install",
        "--force",
        "--locked",
        "s3s-fs",
        "--version",
        S3S_FS_VERSION,
        "--features",
        "binary",
    ]))
}

/// Debian's PostgreSQL server binaries (`initdb`, `pg_ctl`), installed with apt when
/// missing and we are root. Returns their directory, e.g. `/usr/lib/postgresql/15/bin`.
pub fn postgres() -> Result<std::path::PathBuf> {
    if let Some(bin) = postgres_bin() {
        return Ok(bin);
    }
    let uid = output(Command::new("id").arg("-u")).unwrap_or_default();
    let apt = "apt-get update && apt-get install -y postgresql";
    if uid.trim() != "0" {
        return Err(format!(
            "PostgreSQL is missing; install it with: sudo sh -c '{apt}'"
        ));
    }
    eprintln!("xtask: installing Debian's postgresql");
    run(Command::new("sh").args(["-c", &format!("DEBIAN_FRONTEND=noninteractive {apt}")]))?;
    postgres_bin()
        .ok_or_else(|| "postgresql installed, but no /usr/lib/postgresql/*/bin/initdb".into())
}

fn postgres_bin() -> Option<std::path::PathBuf> {
    let mut versions: Vec<_> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| e.ok())
        .map(|e| e.path().join("bin"))
        .filter(|bin| bin.join("initdb").exists() && bin.join("pg_ctl").exists())
        .collect();
    versions.sort();
    versions.pop()
}

/// A throwaway PostgreSQL cluster for the tests: made with `initdb` in a temporary
/// directory, listening on a free loopback port only, trust authentication for the one
/// user `ferry`, fsync off (its data is thrown away). As root it runs as the `postgres`
/// user, since PostgreSQL refuses to run as root. Stopped and deleted on drop.
pub struct TestPostgres {
    bin: std::path::PathBuf,
    dir: std::path::PathBuf,
    as_user: Option<&'static str>,
    /// `postgres://ferry@127.0.0.1:PORT/postgres`
    pub url: String,
}

impl TestPostgres {
    pub fn start() -> Result<Self> {
        let bin = postgres()?;
        let root_user = output(Command::new("id").arg("-u"))
            .unwrap_or_default()
            .trim()
            == "0";
        let as_user = root_user.then_some("postgres");
        let dir = std::env::temp_dir().join(format!("ferry-test-pg-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        if let Some(user) = as_user {
            run(Command::new("chown").arg(user).arg(&dir))?;
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| format!("no free port: {e}"))?
            .port();
        let data = dir.join("data");
        let pg = Self {
            url: format!("postgres://ferry@127.0.0.1:{port}/postgres"),
            bin,
            dir,
            as_user,
        };
        pg.run_as(
            "initdb",
            &[
                "-D",
                &data.to_string_lossy(),
                "-U",
                "ferry",
                "--auth=trust",
                "-E",
                "UTF8",
                "--no-sync",
            ],
        )?;
        let options = format!(
            "-h 127.0.0.1 -p {port} -k {} -c fsync=off -c synchronous_commit=off -c max_connections=300",
            pg.dir.display()
        );
        pg.run_as(
            "pg_ctl",
            &[
                "-D",
                &data.to_string_lossy(),
                "-l",
                &pg.dir.join("log").to_string_lossy(),
                "-o",
                &options,
                "-w",
                "start",
            ],
        )?;
        Ok(pg)
    }

    fn run_as(&self, tool: &str, args: &[&str]) -> Result {
        let tool = self.bin.join(tool);
        let mut command = match self.as_user {
            Some(user) => {
                let mut c = Command::new("runuser");
                c.args(["-u", user, "--"]).arg(&tool);
                c
            }
            None => Command::new(&tool),
        };
        command.args(args).stdout(std::process::Stdio::null());
        run(&mut command)
    }
}

impl Drop for TestPostgres {
    fn drop(&mut self) {
        let data = self.dir.join("data");
        let _ = self.run_as(
            "pg_ctl",
            &["-D", &data.to_string_lossy(), "-m", "immediate", "stop"],
        );
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[cfg(test)]
mod tests {
    /// Needs Debian's postgresql; `cargo test -p xtask -- --ignored` runs it.
    #[test]
    #[ignore]
    fn a_throwaway_postgres_starts_on_loopback_and_stops() {
        let pg = super::TestPostgres::start().unwrap();
        let port = pg
            .url
            .rsplit(':')
            .next()
            .unwrap()
            .split('/')
            .next()
            .unwrap();
        let addr = format!("127.0.0.1:{port}");
        assert!(std::net::TcpStream::connect(&addr).is_ok());
        drop(pg);
        assert!(std::net::TcpStream::connect(&addr).is_err());
    }
}

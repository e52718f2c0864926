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

/// Debian's Chromium and ChromeDriver, installed with apt when missing and we are root.
pub fn chromium() -> Result {
    if Path::new(CHROMIUM).exists() && Path::new(CHROMEDRIVER).exists() {
        return Ok(());
    }
    let uid = output(Command::new("id").arg("-u")).unwrap_or_default();
    let apt = "apt-get update && apt-get install -y chromium chromium-driver";
    if uid.trim() != "0" {
        return Err(format!(
            "Chromium and ChromeDriver are missing; install them with: sudo sh -c '{apt}'"
        ));
    }
    eprintln!("xtask: installing Debian's chromium and chromium-driver");
    run(Command::new("sh").args(["-c", &format!("DEBIAN_FRONTEND=noninteractive {apt}")]))
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

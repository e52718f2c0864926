//! The fuzz suite: cargo-fuzz (libFuzzer) targets in `fuzz/`, each run for a bounded time.
//!
//! cargo-fuzz asks rustc for `-Z` flags, which only nightly accepts; `RUSTC_BOOTSTRAP=1`
//! lets the stable toolchain take them (no nightly download is possible here). `-s none`
//! leaves out the sanitizer runtime, which needs nightly's `-Zsanitizer` libraries; these
//! targets are safe Rust, so what they look for is panics, not memory errors.

use std::path::Path;
use std::process::Command;

use crate::{root, run, Result};

/// Seconds each target runs for (`FERRY_FUZZ_SECONDS`, default 30).
fn seconds() -> u64 {
    std::env::var("FERRY_FUZZ_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(30)
}

fn cargo_fuzz(dir: &Path) -> Command {
    let mut c = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    c.current_dir(dir).arg("fuzz").env("RUSTC_BOOTSTRAP", "1");
    c
}

const CARGO_FUZZ: &str = "0.13.2";

/// cargo-fuzz from crates.io, when `cargo fuzz` is missing.
fn install() -> Result {
    let have = Command::new("cargo")
        .args(["fuzz", "--version"])
        .output()
        .is_ok_and(|o| o.status.success());
    if have {
        return Ok(());
    }
    eprintln!("xtask: installing cargo-fuzz {CARGO_FUZZ} from crates.io");
    // Pinned and locked: the version verified to work on stable with RUSTC_BOOTSTRAP.
    run(Command::new("cargo").args(["install", "cargo-fuzz", "--version", CARGO_FUZZ, "--locked"]))
}

/// The targets, as `cargo fuzz list` names them.
fn targets(dir: &Path) -> Result<Vec<String>> {
    let out = cargo_fuzz(dir)
        .arg("list")
        .output()
        .map_err(|e| format!("cargo fuzz list: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "cargo fuzz list failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| l.trim().to_string())
        .filter(|l| !l.is_empty())
        .collect())
}

/// One target's outcome: whether it ran its time without a crash.
pub struct Run {
    pub target: String,
    pub clean: bool,
}

/// Builds every target and runs each from its corpus in `fuzz/corpus/TARGET` (new inputs
/// go to a scratch directory, so the committed corpus stays small). A crash leaves its
/// input in `fuzz/artifacts/TARGET/`; turn it into a test in `server/tests/parsers.rs`.
pub fn run_all() -> Result<Vec<Run>> {
    install()?;
    let dir = root().join("fuzz");
    run(cargo_fuzz(&dir).args(["build", "-s", "none", "--dev"]))?;
    let seconds = seconds();
    let mut runs = Vec::new();
    for target in targets(&dir)? {
        let scratch = std::env::temp_dir().join(format!("ferry-fuzz-{target}"));
        let _ = std::fs::remove_dir_all(&scratch);
        std::fs::create_dir_all(&scratch).map_err(|e| format!("{}: {e}", scratch.display()))?;
        let seeds = dir.join("corpus").join(&target);
        let out = cargo_fuzz(&dir)
            .args(["run", "-s", "none", "--dev", &target])
            .arg(&scratch)
            .arg(&seeds)
            .arg("--")
            .arg(format!("-max_total_time={seconds}"))
            .arg("-print_final_stats=1")
            .output()
            .map_err(|e| format!("cargo fuzz run {target}: {e}"))?;
        let log = String::from_utf8_lossy(&out.stderr);
        let execs_per_second = log
            .lines()
            .find_map(|l| l.strip_prefix("stat::average_exec_per_sec:"))
            .and_then(|n| n.trim().parse().ok());
        let clean = out.status.success();
        if !clean {
            eprintln!("{log}");
        }
        println!(
            "xtask: fuzz {target}: {} for {seconds} s, {} execs/s",
            if clean { "no crash" } else { "CRASHED" },
            execs_per_second.map_or("?".to_string(), |n: u64| n.to_string())
        );
        let _ = std::fs::remove_dir_all(&scratch);
        runs.push(Run { target, clean });
    }
    Ok(runs)
}

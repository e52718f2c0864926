//! `cargo xtask test`: every suite in order, with one closing line that totals them all.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use crate::install::{self, CHROMEDRIVER, CHROMIUM};
use crate::{build_server, build_wasm, cargo, root, server_binary, Profile, Result};

/// Passed and failed counts of one suite or of all of them.
#[derive(Default, Clone, Copy, Debug, PartialEq, Eq)]
struct Tally {
    passed: u64,
    failed: u64,
}

impl std::ops::AddAssign for Tally {
    fn add_assign(&mut self, other: Self) {
        self.passed += other.passed;
        self.failed += other.failed;
    }
}

pub fn run_all() -> Result {
    let mut total = Tally::default();
    let mut failures = Vec::new();
    let mut record = |name: &str, tally: Tally| {
        println!(
            "xtask: {name}: {} passed, {} failed",
            tally.passed, tally.failed
        );
        if tally.failed > 0 {
            failures.push(name.to_string());
        }
        total += tally;
    };

    // Installing is not a test, but a failed install fails the run.
    install::wasm_toolchain()?;
    install::chromium()?;
    install::e2e_packages()?;

    record(
        "cargo fmt",
        check(cargo().args(["fmt", "--all", "--", "--check"])),
    );
    record(
        "clippy (native)",
        check(cargo().args([
            "clippy",
            "--workspace",
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ])),
    );
    record(
        "clippy (wasm32)",
        check(cargo().args([
            "clippy",
            "--package",
            "ferry",
            "--all-targets",
            "--target",
            "wasm32-unknown-unknown",
            "--",
            "-D",
            "warnings",
        ])),
    );
    record(
        "native tests",
        counted(cargo().args(["test", "--workspace"])),
    );
    // The server's handler tests again with the catalog on PostgreSQL and blobs and
    // unfinished uploads in S3 (issue 9), and the two-instance tests, which need both.
    // Debian's postgresql, a throwaway cluster; s3s-fs from crates.io, which the test
    // harness starts (server/tests/common).
    let on_postgres = match install::s3s_fs().and_then(|()| install::TestPostgres::start()) {
        Ok(pg) => {
            let tally = counted(
                cargo()
                    // `--workspace`, as the native tests ran: the same features, so the
                    // test binaries they built are reused instead of rebuilt.
                    .args(["test", "--workspace"])
                    .args(["--test", "api", "--test", "library", "--test", "rufh"])
                    .args(["--test", "security", "--test", "scale_out"])
                    .args(["--test", "s3_store"])
                    .env("FERRY_TEST_DATABASE", &pg.url)
                    .env("FERRY_TEST_BLOBS", "s3"),
            );
            drop(pg);
            tally
        }
        Err(e) => {
            eprintln!("xtask: could not start PostgreSQL or install s3s-fs: {e}");
            Tally {
                passed: 0,
                failed: 1,
            }
        }
    };
    record("ferry-server tests on PostgreSQL + S3", on_postgres);
    record("fuzz (cargo-fuzz, libFuzzer, 30 s a target)", fuzz_tally());
    record(
        "wasm tests in headless Chromium (page and worker)",
        counted(
            cargo()
                .args([
                    "test",
                    "--package",
                    "ferry",
                    "--target",
                    "wasm32-unknown-unknown",
                ])
                .env("CHROMEDRIVER", CHROMEDRIVER)
                .env(
                    "CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER",
                    "wasm-bindgen-test-runner",
                ),
        ),
    );
    // The e2e suite also loads the npm package and builds its Vite example.
    let e2e_build = build_wasm()
        .and_then(|_| build_server(Profile::Dev))
        .and_then(|_| build_chaos())
        .and_then(|_| crate::package::build())
        .and_then(|_| install::vite_example_packages());
    let e2e = match e2e_build {
        Ok(()) => counted(
            Command::new("node")
                .current_dir(root())
                .args(["--test", "--test-reporter=tap", "--test-concurrency=1"])
                // Neither a process a test left running (which kept its file's node alive
                // after its last test, and CI waiting until its 90 minutes ran out) nor a
                // test that hangs may hold CI: a file's node exits when its tests are
                // done, and a file still running after 30 minutes fails (Node 20 applies
                // --test-timeout to each file as a whole, not to each test in it).
                .args(["--test-force-exit", "--test-timeout=1800000"])
                .args(e2e_test_files()?)
                .env("FERRY_SERVER_BIN", server_binary(Profile::Dev))
                .env("FERRY_CHAOS_BIN", root().join("target/debug/ferry-chaos"))
                .env("FERRY_WWW", root().join("www"))
                .env("CHROMIUM", CHROMIUM),
        ),
        Err(e) => {
            eprintln!("xtask: could not build for e2e: {e}");
            Tally {
                passed: 0,
                failed: 1,
            }
        }
    };
    record("e2e (Playwright, Chromium, ferry-server)", e2e);

    if !failures.is_empty() {
        // Said again at the end: CI keeps only the tail of a long run's output.
        let details = FAILURE_DETAILS
            .lock()
            .map(|d| d.clone())
            .unwrap_or_default();
        if !details.is_empty() {
            println!("xtask: the failed e2e tests, as node reported them:");
            for line in details {
                println!("{line}");
            }
        }
        println!("xtask: failed: {}", failures.join(", "));
    }
    println!("{} passed, {} failed", total.passed, total.failed);
    if total.failed > 0 {
        Err("some tests failed".into())
    } else {
        Ok(())
    }
}

/// The fault-injecting proxy that `e2e/chaos.test.mjs` puts between Chromium and the server.
fn build_chaos() -> Result {
    crate::run(cargo().args(["build", "--package", "ferry-chaos", "--bin", "ferry-chaos"]))
}

fn e2e_test_files() -> Result<Vec<String>> {
    let dir = root().join("e2e");
    let mut files: Vec<String> = std::fs::read_dir(&dir)
        .map_err(|e| format!("cannot list {}: {e}", dir.display()))?
        .filter_map(|entry| {
            let path = entry.ok()?.path();
            let name = path.file_name()?.to_str()?;
            name.ends_with(".test.mjs")
                .then(|| path.display().to_string())
        })
        .collect();
    files.sort();
    Ok(files)
}

/// Each fuzz target counts as one test: passed when it ran its time without a crash.
fn fuzz_tally() -> Tally {
    match crate::fuzz::run_all() {
        Ok(runs) => runs.iter().fold(Tally::default(), |mut tally, run| {
            if run.clean {
                tally.passed += 1;
            } else {
                eprintln!("xtask: fuzz target {} crashed", run.target);
                tally.failed += 1;
            }
            tally
        }),
        Err(e) => {
            eprintln!("xtask: fuzz: {e}");
            Tally {
                passed: 0,
                failed: 1,
            }
        }
    }
}

/// A check that passes or fails as a whole, such as fmt or clippy: it counts as one.
fn check(command: &mut Command) -> Tally {
    match command.status() {
        Ok(s) if s.success() => Tally {
            passed: 1,
            failed: 0,
        },
        Ok(_) => Tally {
            passed: 0,
            failed: 1,
        },
        Err(e) => {
            eprintln!("xtask: could not start {command:?}: {e}");
            Tally {
                passed: 0,
                failed: 1,
            }
        }
    }
}

/// Runs a test runner, echoing its output and adding up the counts it reports. A runner
/// that fails without reporting a failed test (a build error, a crash) counts as one failure.
fn counted(command: &mut Command) -> Tally {
    let child = command.stdout(Stdio::piped()).spawn();
    let mut child = match child {
        Ok(child) => child,
        Err(e) => {
            eprintln!("xtask: could not start {command:?}: {e}");
            return Tally {
                passed: 0,
                failed: 1,
            };
        }
    };
    let mut tally = Tally::default();
    let mut failure = FailureBlock::default();
    if let Some(stdout) = child.stdout.take() {
        for line in BufReader::new(stdout).lines().map_while(|l| l.ok()) {
            println!("{line}");
            tally += parse_counts(&line);
            failure.read(&line);
        }
    }
    let success = child.wait().map(|s| s.success()).unwrap_or(false);
    if !success && tally.failed == 0 {
        tally.failed = 1;
    }
    tally
}

/// The TAP report of each failed test (`not ok …` and its YAML block: error, location,
/// stack), kept to be printed again at the end of the run.
static FAILURE_DETAILS: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());

/// Lines of one failed test's TAP report at most.
const FAILURE_LINES: usize = 40;

/// Picks the failed tests' reports out of node's TAP output, line by line.
#[derive(Default)]
struct FailureBlock {
    lines: Vec<String>,
}

impl FailureBlock {
    fn read(&mut self, line: &str) {
        if line.trim_start().starts_with("not ok ") {
            self.lines = vec![line.to_string()];
            return;
        }
        if self.lines.is_empty() {
            return;
        }
        if self.lines.len() < FAILURE_LINES {
            self.lines.push(line.to_string());
        }
        // The YAML block of the report ends with `...` at its own indentation.
        if line.trim() == "..." {
            if let Ok(mut details) = FAILURE_DETAILS.lock() {
                details.append(&mut self.lines);
            }
            self.lines.clear();
        }
    }
}

/// Reads the counts from a closing line of `cargo test` / wasm-bindgen-test-runner
/// (`test result: ok. 3 passed; 1 failed; ...`) or of node's TAP reporter (`# pass 3`).
fn parse_counts(line: &str) -> Tally {
    let line = line.trim();
    if let Some(rest) = line.strip_prefix("test result:") {
        let number_before = |word: &str| {
            rest.split(';')
                .filter_map(|part| part.trim().strip_suffix(word))
                .filter_map(|n| n.split_whitespace().last()?.parse::<u64>().ok())
                .sum()
        };
        return Tally {
            passed: number_before(" passed"),
            failed: number_before(" failed"),
        };
    }
    let tap = |prefix: &str| {
        line.strip_prefix(prefix)
            .and_then(|n| n.trim().parse::<u64>().ok())
    };
    Tally {
        passed: tap("# pass ").unwrap_or(0),
        failed: tap("# fail ").unwrap_or(0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_cargo_test_closing_lines() {
        let t = parse_counts("test result: ok. 20 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.00s");
        assert_eq!(
            t,
            Tally {
                passed: 20,
                failed: 0
            }
        );
        let t = parse_counts("test result: FAILED. 3 passed; 2 failed; 0 ignored; 0 filtered out");
        assert_eq!(
            t,
            Tally {
                passed: 3,
                failed: 2
            }
        );
    }

    #[test]
    fn reads_node_tap_summary() {
        assert_eq!(
            parse_counts("# pass 4"),
            Tally {
                passed: 4,
                failed: 0
            }
        );
        assert_eq!(
            parse_counts("# fail 1"),
            Tally {
                passed: 0,
                failed: 1
            }
        );
    }

    #[test]
    fn keeps_a_failed_tests_report() {
        let mut block = FailureBlock::default();
        for line in [
            "ok 1 - passes",
            "  ---",
            "  ...",
            "not ok 2 - stalls",
            "  ---",
            "  error: 'up: [[\"a.jpg\",\"checking\",null]]'",
            "  ...",
            "ok 3 - passes too",
        ] {
            block.read(line);
        }
        let details = FAILURE_DETAILS.lock().unwrap().clone();
        assert_eq!(
            details.first().map(String::as_str),
            Some("not ok 2 - stalls")
        );
        assert!(details.iter().any(|l| l.contains("checking")));
        assert!(!details.iter().any(|l| l.contains("passes")));
    }

    #[test]
    fn ignores_other_lines() {
        assert_eq!(parse_counts("test common::x ... ok"), Tally::default());
        assert_eq!(parse_counts("# passes are nice"), Tally::default());
        assert_eq!(parse_counts("ok 1 - uploads three files"), Tally::default());
    }
}

//! ferry's build, run and test orchestrator: `cargo xtask serve` and `cargo xtask test`.
//!
//! It installs what is missing (the wasm32 target, a wasm-bindgen CLI matching the exact
//! pin in Cargo.lock, Debian's Chromium and ChromeDriver, the e2e suite's npm packages),
//! builds the wasm package with `wasm-bindgen --target web`, and runs the suites. Nothing
//! is downloaded from outside the package registries.

mod bench;
mod fuzz;
mod install;
mod package;
mod suites;
mod wasm_opt;

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

const USAGE: &str = "\
usage: cargo xtask <command>

commands:
  serve [--listen ADDR] [--data DIR]   build everything and start ferry (default 127.0.0.1:8080, ./data)
  test                                 fmt, clippy (native + wasm32), native tests, wasm tests in
                                       headless Chromium (page + worker), Playwright e2e
  build                                build the wasm package into www/pkg and the server
  package                              build the npm package (Uploader, <ferry-uploader>, wasm)
                                       into target/npm/ferry
  bench [--quick]                      ferry against tus-js-client, Uppy, @tus/server and hash-wasm
                                       in headless Chromium; writes BENCHMARKS.md and bench/charts/
  bench-library [--assets N]           ferry-server's metadata queries on a generated library of N
                                       assets (1,000,000), on SQLite and on PostgreSQL
  fuzz                                 each cargo-fuzz target in fuzz/ for FERRY_FUZZ_SECONDS (30)";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("serve") => serve(&args[1..]),
        Some("test") => suites::run_all(),
        Some("bench") => bench::run_bench(&args[1..]),
        Some("bench-library") => bench::run_library_bench(&args[1..]),
        Some("fuzz") => fuzz::run_all().and_then(|runs| {
            if runs.iter().all(|r| r.clean) {
                Ok(())
            } else {
                Err("a fuzz target crashed; its input is in fuzz/artifacts/".into())
            }
        }),
        Some("package") => package::build(),
        Some("build") => build_wasm().and_then(|_| build_server(Profile::Release)),
        _ => {
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: {e}");
            ExitCode::FAILURE
        }
    }
}

type Result<T = ()> = std::result::Result<T, String>;

/// The workspace root, where Cargo.toml, www/ and e2e/ live.
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives one level below the workspace root")
        .to_path_buf()
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Profile {
    Dev,
    Release,
}

impl Profile {
    fn dir(self) -> &'static str {
        match self {
            Self::Dev => "debug",
            Self::Release => "release",
        }
    }
}

/// Runs `command` to completion with inherited output; a non-zero exit is an error.
fn run(command: &mut Command) -> Result {
    let status = command
        .status()
        .map_err(|e| format!("could not start {command:?}: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{command:?} failed ({status})"))
    }
}

fn cargo() -> Command {
    let mut c = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    c.current_dir(root());
    c
}

/// Builds the client crate for wasm32, generates the ES module into `www/pkg` and runs
/// wasm-opt over its wasm. Without the name section (function names for stack traces): it is a third of the
/// gzipped wasm the app's users download (209 KiB with it, 146 KiB without).
fn build_wasm() -> Result {
    install::wasm_toolchain()?;
    run(cargo().args(WASM_BUILD))?;
    run(Command::new("wasm-bindgen")
        .args([
            "--target",
            "web",
            "--remove-name-section",
            "--remove-producers-section",
        ])
        .arg("--out-dir")
        .arg(root().join("www/pkg"))
        .arg(wasm_binary()))?;
    // `cargo xtask serve` needs no node (only the tests and the npm package do); without
    // it the app's wasm is only larger.
    if Command::new("node").arg("--version").output().is_err() {
        eprintln!("xtask: node not found; www/pkg's wasm is not run through wasm-opt");
        return Ok(());
    }
    wasm_opt::shrink(&root().join("www/pkg/ferry_bg.wasm"))
}

/// The client crate for the browser, with the size-first `wasm` profile of Cargo.toml.
const WASM_BUILD: &[&str] = &[
    "build",
    "--package",
    "ferry",
    "--lib",
    "--target",
    "wasm32-unknown-unknown",
    "--profile",
    "wasm",
];

/// What [`WASM_BUILD`] writes, before wasm-bindgen.
fn wasm_binary() -> PathBuf {
    root().join("target/wasm32-unknown-unknown/wasm/ferry.wasm")
}

/// Builds `ferry-server` and returns the path of its binary.
fn build_server(profile: Profile) -> Result {
    let mut build = cargo();
    build.args([
        "build",
        "--package",
        "ferry-server",
        "--bin",
        "ferry-server",
    ]);
    if profile == Profile::Release {
        build.arg("--release");
    }
    run(&mut build)
}

fn server_binary(profile: Profile) -> PathBuf {
    root()
        .join("target")
        .join(profile.dir())
        .join("ferry-server")
}

fn serve(args: &[String]) -> Result {
    let mut listen = "127.0.0.1:8080".to_string();
    let mut data = "./data".to_string();
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        let value = || -> Result<String> { Err(format!("{arg} needs a value")) };
        match arg.as_str() {
            "--listen" => listen = rest.next().cloned().map_or_else(value, Ok)?,
            "--data" => data = rest.next().cloned().map_or_else(value, Ok)?,
            other => return Err(format!("unknown option {other}\n{USAGE}")),
        }
    }
    build_wasm()?;
    build_server(Profile::Release)?;
    run(Command::new(server_binary(Profile::Release))
        .current_dir(root())
        .args([
            "serve", "--listen", &listen, "--data", &data, "--www", "www",
        ]))
}

//! `cargo xtask bench [--quick]`: ferry against tus-js-client, Uppy, `@tus/server` and
//! hash-wasm, side by side in one run in Debian's Chromium (see `bench/run.mjs`). Writes
//! `BENCHMARKS.md` and `bench/charts/*.svg`.

use std::process::Command;

use crate::{build_server, build_wasm, install, root, run, server_binary, Profile, Result};

pub fn run_bench(args: &[String]) -> Result {
    let mut quick = false;
    for arg in args {
        match arg.as_str() {
            "--quick" => quick = true,
            other => return Err(format!("bench: unknown option {other} (only --quick)")),
        }
    }
    install::chromium()?;
    bench_packages()?;
    // build_wasm installs what is missing first: install::wasm_toolchain().
    build_wasm()?;
    // The npm package, whose size and cold start are measured.
    crate::package::build()?;
    build_server(Profile::Release)?;
    let mut node = Command::new("node");
    node.current_dir(root())
        .arg("bench/run.mjs")
        .env("FERRY_SERVER_BIN", server_binary(Profile::Release))
        .env("FERRY_WWW", root().join("www"))
        .env("FERRY_NPM", root().join("target/npm/ferry"))
        .env("CHROMIUM", install::CHROMIUM);
    if quick {
        node.arg("--quick");
    }
    run(&mut node)
}

/// `cargo xtask bench-library [--assets N]`: see `bench/library.mjs`. The release server
/// on SQLite and on a throwaway PostgreSQL cluster; sqlite3 and psql generate the rows.
pub fn run_library_bench(args: &[String]) -> Result {
    if let Some(other) = args.iter().step_by(2).find(|a| a.as_str() != "--assets") {
        return Err(format!(
            "bench-library: unknown option {other} (only --assets N)"
        ));
    }
    // sqlite3 comes with the browser test tools; psql with Debian's postgresql.
    install::chromium()?;
    let postgres = install::TestPostgres::start()?;
    build_server(Profile::Release)?;
    run(Command::new("node")
        .current_dir(root())
        .arg("bench/library.mjs")
        .args(args)
        .env("FERRY_SERVER_BIN", server_binary(Profile::Release))
        .env("FERRY_BENCH_PG_URL", &postgres.url))
}

/// The benchmark's pinned npm packages (the peers and playwright-core), from
/// bench/package-lock.json, installed with `npm ci` when missing or older than the lock.
fn bench_packages() -> Result {
    let bench = root().join("bench");
    let marker = bench.join("node_modules/.package-lock.json");
    let lock = bench.join("package-lock.json");
    let fresh = match (marker.metadata(), lock.metadata()) {
        (Ok(m), Ok(l)) => m.modified().ok() >= l.modified().ok(),
        _ => false,
    };
    if fresh {
        return Ok(());
    }
    run(Command::new("npm")
        .current_dir(&bench)
        .args(["ci", "--no-audit", "--no-fund"])
        // playwright-core downloads nothing on install; this keeps any other package honest.
        .env("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1"))
}

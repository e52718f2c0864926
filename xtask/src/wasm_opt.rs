//! binaryen's `wasm-opt` over the wasm that wasm-bindgen writes, for `www/pkg` and the npm
//! package. It comes from npm (`xtask/package.json`, pinned): the `binaryen` package's
//! `bin/wasm-opt` is binaryen compiled to wasm and runs on node, so nothing is downloaded
//! from outside the registries.

use std::collections::hash_map::DefaultHasher;
use std::fs;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::{install, root, run, Result};

/// Measured on the engine's wasm (gzip -9, the benchmark's figure): 163.3 KB as wasm-bindgen
/// writes it; `-Oz` 167.7 KB and `-Os` 167.9 KB (smaller raw, but LLVM's `opt-level = "z"`
/// output compresses better than binaryen's rewrite of it); `-O1` 161.1 KB; `-O1` with
/// shrink level 2 160.6 KB. Then `--dae-optimizing` (dead argument elimination: drops the
/// parameters and constant arguments monomorphised code passes around, and optimizes the
/// functions it changed) and `--converge` (the passes again until the size stops falling)
/// take 1.1 KB more off (measured on the engine at 4f0d66f: 164.0 KB with `-O1
/// --shrink-level=2`, 163.1 KB with `--dae-optimizing`, 162.9 KB with `--converge` too;
/// `--local-cse --rse`, `--code-folding`, `--gufa` and `-Oz --converge` do worse). The
/// features come from the wasm's `target_features` section, which is then dropped
/// (nothing reads it at run time).
pub const ARGS: &[&str] = &[
    "-O1",
    "--shrink-level=2",
    "--dae-optimizing",
    "--converge",
    "--strip-target-features",
];

/// Rewrites `wasm` in place with [`ARGS`]. The result is cached by the input's bytes in
/// `target/wasm-opt/`: `cargo xtask test` builds `www/pkg` and the npm package from the
/// same wasm, and the pass takes seconds.
pub fn shrink(wasm: &Path) -> Result {
    let input = fs::read(wasm).map_err(|e| format!("cannot read {}: {e}", wasm.display()))?;
    let cached = cache_path(&input);
    if !cached.exists() {
        let script = install::wasm_opt()?;
        let dir = cached.parent().expect("the cache file has a directory");
        fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        let partial = cached.with_extension("partial");
        run(Command::new("node")
            .arg(&script)
            .args(ARGS)
            .arg(wasm)
            .arg("-o")
            .arg(&partial))?;
        fs::rename(&partial, &cached)
            .map_err(|e| format!("cannot write {}: {e}", cached.display()))?;
    }
    let output = fs::read(&cached).map_err(|e| format!("cannot read {}: {e}", cached.display()))?;
    fs::write(wasm, &output).map_err(|e| format!("cannot write {}: {e}", wasm.display()))?;
    println!(
        "xtask: wasm-opt {}: {} -> {} bytes ({})",
        ARGS.join(" "),
        input.len(),
        output.len(),
        wasm.display()
    );
    Ok(())
}

fn cache_path(input: &[u8]) -> PathBuf {
    let mut hasher = DefaultHasher::new();
    input.hash(&mut hasher);
    ARGS.hash(&mut hasher);
    install::BINARYEN_VERSION.hash(&mut hasher);
    root()
        .join("target/wasm-opt")
        .join(format!("{:016x}.wasm", hasher.finish()))
}

//! `cargo xtask package`: the publishable npm package in `target/npm/ferry/`.
//!
//! It builds the client crate for wasm32 in release, runs `wasm-bindgen --target web`
//! into the package directory (never wasm-pack) and wasm-opt over the wasm, and copies the hand-written wrapper from
//! `package/` beside it: `index.js` (the `Uploader`), `element.js` (`<ferry-uploader>`),
//! their `.d.ts`, the hashing worker, the README, and `package.json` with the version of
//! the Cargo workspace. The package's JavaScript (`index.js`, `ferry.js`, `element.js`,
//! `hash-worker.js`) is minified with terser, each with a `.js.map` beside it that holds
//! the unminified source: the files `exports` points to are the ones a site downloads.
//! The PWA's `www/pkg` keeps wasm-bindgen's glue as written: it is the app's own copy,
//! read in its devtools with no map to serve, and its wasm is most of what it downloads.

use std::fs;
use std::path::Path;
use std::process::Command;

use crate::{cargo, install, root, run, wasm_binary, wasm_opt, Result, WASM_BUILD};

/// Files copied from `package/` as they are.
const COPIED: &[&str] = &["index.d.ts", "element.d.ts", "README.md"];

/// The hand-written modules in `package/`, minified into the package.
const MINIFIED: &[&str] = &["index.js", "element.js", "hash-worker.js"];

/// terser's options. ES modules (so top-level names are mangled, exports keep theirs),
/// two compress passes; `new URL('…', import.meta.url)` is kept as written, which bundlers
/// look for, and so are the comments meant for tools: hash-worker.js's `/* @vite-ignore */`
/// (Vite warns about its dynamic import without it) and wasm-bindgen's `@ts-self-types`. Measured on this package (gzip -9): the four modules go from 22.3 KB to
/// 14.0 KB; a third pass and `pure_getters` change nothing, terser's `unsafe` options
/// take 0.1 KB more and are not worth their risk.
const TERSER_ARGS: &[&str] = &[
    "--module",
    "--ecma",
    "2020",
    "--compress",
    "passes=2",
    "--mangle",
    "--comments",
    "/@vite-ignore|@ts-self-types/",
];

/// The placeholder in `package/package.json` that becomes the workspace version.
const VERSION_PLACEHOLDER: &str = "\"version\": \"0.0.0-set-by-xtask\"";

pub fn build() -> Result {
    let out = root().join("target/npm/ferry");
    if out.exists() {
        fs::remove_dir_all(&out).map_err(|e| format!("cannot clear {}: {e}", out.display()))?;
    }
    fs::create_dir_all(&out).map_err(|e| format!("cannot create {}: {e}", out.display()))?;

    install::wasm_toolchain()?;
    run(cargo().args(WASM_BUILD))?;
    let wasm = wasm_binary();
    run(Command::new("wasm-bindgen")
        // Names and producers are for debugging; without them the wasm is ~15% smaller.
        .args([
            "--target",
            "web",
            "--remove-name-section",
            "--remove-producers-section",
            "--out-dir",
        ])
        .arg(&out)
        .arg(wasm))?;
    wasm_opt::shrink(&out.join("ferry_bg.wasm"))?;

    let source = root().join("package");
    for name in COPIED {
        copy(&source.join(name), &out.join(name))?;
    }
    // wasm-bindgen's glue is minified from a copy outside the package directory.
    let generated = root().join("target/npm/ferry-unminified");
    fs::create_dir_all(&generated)
        .map_err(|e| format!("cannot create {}: {e}", generated.display()))?;
    fs::rename(out.join("ferry.js"), generated.join("ferry.js"))
        .map_err(|e| format!("cannot move ferry.js to {}: {e}", generated.display()))?;
    let terser = install::terser()?;
    minify(&terser, &generated, "ferry.js", &out)?;
    for name in MINIFIED {
        minify(&terser, &source, name, &out)?;
    }
    let license = root().join("LICENSE");
    if license.exists() {
        copy(&license, &out.join("LICENSE"))?;
    }

    let version = workspace_version()?;
    let template = read(&source.join("package.json"))?;
    if !template.contains(VERSION_PLACEHOLDER) {
        return Err(format!(
            "package/package.json must contain {VERSION_PLACEHOLDER} for xtask to fill in"
        ));
    }
    let manifest = template.replace(VERSION_PLACEHOLDER, &format!("\"version\": \"{version}\""));
    fs::write(out.join("package.json"), manifest)
        .map_err(|e| format!("cannot write package.json: {e}"))?;

    println!(
        "xtask: npm package ferry-uploader {version} in {}",
        out.display()
    );
    Ok(())
}

/// `dir/name` minified to `out/name`, with `out/name.map` (its `sources` is `name`, and it
/// holds that source, so the map alone shows the original in a browser's devtools).
fn minify(terser: &Path, dir: &Path, name: &str, out: &Path) -> Result {
    let before = fs::metadata(dir.join(name))
        .map_err(|e| format!("cannot read {}: {e}", dir.join(name).display()))?
        .len();
    run(Command::new("node")
        .current_dir(dir)
        .arg(terser)
        .arg(name)
        .args(TERSER_ARGS)
        .arg("--source-map")
        .arg(format!("url='{name}.map',includeSources"))
        .arg("-o")
        .arg(out.join(name)))?;
    let after = fs::metadata(out.join(name))
        .map_err(|e| format!("terser wrote no {name}: {e}"))?
        .len();
    println!("xtask: terser {name}: {before} -> {after} bytes");
    Ok(())
}

fn read(path: &Path) -> Result<String> {
    fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))
}

fn copy(from: &Path, to: &Path) -> Result {
    fs::copy(from, to)
        .map(|_| ())
        .map_err(|e| format!("cannot copy {} to {}: {e}", from.display(), to.display()))
}

/// `version` under `[workspace.package]` in the root Cargo.toml.
fn workspace_version() -> Result<String> {
    let manifest = read(&root().join("Cargo.toml"))?;
    parse_workspace_version(&manifest).ok_or_else(|| {
        "Cargo.toml has no version under [workspace.package]; the npm version follows it".into()
    })
}

fn parse_workspace_version(manifest: &str) -> Option<String> {
    let mut in_section = false;
    for line in manifest.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            in_section = line == "[workspace.package]";
            continue;
        }
        if !in_section {
            continue;
        }
        if let Some(rest) = line.strip_prefix("version") {
            let value = rest.trim_start().strip_prefix('=')?.trim();
            return Some(value.trim_matches('"').to_string());
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::parse_workspace_version;

    #[test]
    fn reads_the_workspace_version_only() {
        let manifest = "[workspace]\nmembers = []\n\n[workspace.package]\nedition = \"2021\"\nversion = \"1.2.3\"\n\n[package]\nversion = \"9.9.9\"\n";
        assert_eq!(parse_workspace_version(manifest).as_deref(), Some("1.2.3"));
        assert_eq!(
            parse_workspace_version("[package]\nversion = \"1.0.0\"\n"),
            None
        );
    }
}

//! `cargo xtask package`: the publishable npm package in `target/npm/ferry/`.
//!
//! It builds the client crate for wasm32 in release, runs `wasm-bindgen --target web`
//! into the package directory (never wasm-pack) and wasm-opt over the wasm, and copies the hand-written wrapper from
//! `package/` beside it: `index.js` (the `Uploader`), `element.js` (`<ferry-uploader>`),
//! their `.d.ts`, the hashing worker, the README, and `package.json` with the version of
//! the Cargo workspace.

use std::fs;
use std::path::Path;
use std::process::Command;

use crate::{cargo, install, root, run, wasm_binary, wasm_opt, Result, WASM_BUILD};

/// Files copied from `package/` as they are.
const COPIED: &[&str] = &[
    "index.js",
    "index.d.ts",
    "element.js",
    "element.d.ts",
    "hash-worker.js",
    "README.md",
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

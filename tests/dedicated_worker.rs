//! The shared wasm tests, run in a dedicated worker of headless Chromium, where ferry
//! hashes files.
#![cfg(target_arch = "wasm32")]

wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_dedicated_worker);

mod common;

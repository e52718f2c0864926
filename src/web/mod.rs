//! Browser drivers: they carry out what the core decides, using the browser's own parts.
//! Compiled only for `wasm32`.

pub mod backup;
pub mod catalog;
mod device;
pub mod hash;
mod hash_worker;
mod http;
mod media;
mod runner;
mod staging;
mod transfer;

/// `crypto.randomUUID()`, available on the page and in workers alike.
pub(crate) fn random_id() -> String {
    js_sys::Reflect::get(&js_sys::global(), &"crypto".into())
        .ok()
        .and_then(|crypto| {
            let f: js_sys::Function = js_sys::Reflect::get(&crypto, &"randomUUID".into())
                .ok()?
                .into();
            f.call0(&crypto).ok()?.as_string()
        })
        .expect("crypto.randomUUID is available in every secure context ferry runs in")
}

/// Milliseconds since the Unix epoch, from the browser's clock.
pub(crate) fn now_ms() -> f64 {
    js_sys::Date::now()
}

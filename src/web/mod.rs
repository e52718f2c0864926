//! Browser drivers: they carry out what the core decides, using the browser's own parts.
//! Compiled only for `wasm32`.

use wasm_bindgen::JsCast;

pub mod asset_record;
pub mod backup;
pub mod catalog;
mod device;
pub mod hash;
mod hash_worker;
mod http;
mod js_object;
mod media;
mod runner;
mod staging;
mod transfer;
pub mod upload_hash;

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

/// Lets the page handle input and draw, then goes on as soon as it may: `scheduler.yield()`
/// where the browser has it, else `setTimeout(0)`, which browsers hold at least 4 ms once
/// nested five deep (a third of the time of the intake of a large pick, in 8 ms turns).
pub(crate) async fn next_turn() {
    let scheduler = js_sys::Reflect::get(&js_sys::global(), &"scheduler".into()).ok();
    let yielded = scheduler.and_then(|scheduler| {
        let f: js_sys::Function = js_sys::Reflect::get(&scheduler, &"yield".into())
            .ok()?
            .dyn_into()
            .ok()?;
        f.call0(&scheduler).ok()?.dyn_into::<js_sys::Promise>().ok()
    });
    match yielded {
        Some(promise) => {
            let _ = wasm_bindgen_futures::JsFuture::from(promise).await;
        }
        None => gloo_timers::future::TimeoutFuture::new(0).await,
    }
}

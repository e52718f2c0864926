//! What the browser says about the device right now: online or not, the link type, and
//! the battery. Every probe is optional: a browser without an API simply reports nothing.

use std::cell::RefCell;

use js_sys::Reflect;
use wasm_bindgen::JsValue;
use wasm_bindgen_futures::JsFuture;

use super::js_object::{object, ToJs};
use crate::policy::{Conditions, Link};

fn get(object: &JsValue, name: &str) -> Option<JsValue> {
    Reflect::get(object, &JsValue::from_str(name))
        .ok()
        .filter(|v| !v.is_undefined() && !v.is_null())
}

fn navigator() -> Option<JsValue> {
    get(&js_sys::global(), "navigator")
}

/// Which device APIs this browser offers, for the settings screen to explain.
#[derive(Debug, Clone, Copy)]
pub struct Capabilities {
    pub network_type: bool,
    pub battery: bool,
    pub web_locks: bool,
}

/// `{networkType, battery, webLocks}`.
impl ToJs for Capabilities {
    fn to_js(&self) -> JsValue {
        object(&[
            ("networkType", self.network_type.into()),
            ("battery", self.battery.into()),
            ("webLocks", self.web_locks.into()),
        ])
    }
}

/// Probes the device; the battery manager is fetched once and then read live.
#[derive(Default)]
pub struct Device {
    battery: RefCell<Option<Option<JsValue>>>,
}

impl Device {
    pub fn capabilities(&self) -> Capabilities {
        let nav = navigator();
        let has = |name: &str| nav.as_ref().and_then(|n| get(n, name)).is_some();
        Capabilities {
            network_type: nav
                .as_ref()
                .and_then(|n| get(n, "connection"))
                .and_then(|c| get(&c, "type"))
                .is_some(),
            battery: has("getBattery"),
            web_locks: has("locks"),
        }
    }

    /// The conditions the backup policy decides on.
    pub async fn conditions(&self) -> Conditions {
        let nav = navigator();
        let online = nav
            .as_ref()
            .and_then(|n| get(n, "onLine"))
            .is_none_or(|v| v.is_truthy());
        let connection = nav.as_ref().and_then(|n| get(n, "connection"));
        let link_type = connection
            .as_ref()
            .and_then(|c| get(c, "type"))
            .and_then(|t| t.as_string());
        let save_data = connection
            .as_ref()
            .and_then(|c| get(c, "saveData"))
            .is_some_and(|v| v.is_truthy());
        let battery = self.battery(nav.as_ref()).await;
        Conditions {
            link: Link::from_browser(online, link_type.as_deref(), save_data),
            battery_level: battery.as_ref().and_then(|b| get(b, "level")?.as_f64()),
            charging: battery
                .as_ref()
                .and_then(|b| get(b, "charging"))
                .map(|v| v.is_truthy()),
        }
    }

    async fn battery(&self, nav: Option<&JsValue>) -> Option<JsValue> {
        if let Some(known) = self.battery.borrow().clone() {
            return known;
        }
        let manager = match nav.and_then(|n| get(n, "getBattery")) {
            Some(f) => {
                let f: js_sys::Function = f.into();
                match f.call0(nav.unwrap_or(&JsValue::UNDEFINED)) {
                    Ok(promise) => JsFuture::from(js_sys::Promise::from(promise)).await.ok(),
                    Err(_) => None,
                }
            }
            None => None,
        };
        *self.battery.borrow_mut() = Some(manager.clone());
        manager
    }
}

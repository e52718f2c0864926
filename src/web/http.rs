//! The one HTTP helper: every request ferry makes goes through `send`, which adds the
//! user's key and turns the browser's answer into a `tus::Reply` the core can read.

use js_sys::{Promise, Reflect};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;
use web_sys::{Headers, Request, RequestInit, Response};

use super::js_object::{self, Fields, FromJs, Name, ToJs, WrongField};
use crate::dedup::{
    Candidate, CheckRequest, CheckResponse, ExistRequest, ExistResponse, SizesRequest,
    SizesResponse, Verdict,
};
use crate::tus::{Header, Reply, ASSET_ID_HEADER};

#[wasm_bindgen]
extern "C" {
    /// The global `fetch`, which exists on the page and in workers alike.
    #[wasm_bindgen(js_name = fetch)]
    fn global_fetch(request: &Request) -> Promise;
}

/// `AbortSignal.timeout(ms)`, where the browser has it.
fn timeout_signal(ms: f64) -> Option<JsValue> {
    let class = Reflect::get(&js_sys::global(), &"AbortSignal".into()).ok()?;
    let timeout: js_sys::Function = Reflect::get(&class, &"timeout".into())
        .ok()?
        .dyn_into()
        .ok()?;
    timeout.call1(&class, &JsValue::from_f64(ms.ceil())).ok()
}

/// A request that never got an HTTP answer: offline, refused, reset, blocked.
#[derive(Debug, thiserror::Error)]
#[error("could not reach the server: {0}")]
pub struct NetworkError(pub String);

/// The server's address and the user's credentials.
#[derive(Clone)]
pub struct Server {
    /// Absolute URL of the API root, without a trailing slash, e.g. `https://host/api`.
    pub api: String,
    /// Absolute URL where tus uploads are created; `{api}/uploads` on ferry-server.
    pub uploads: String,
    pub api_key: String,
    /// An answer must start within this many milliseconds, plus 1 ms for every 64 bytes
    /// of the request's body (a floor of 64 kB/s). A request past it counts as lost and is
    /// retried: a connection whose state a NAT or a network change dropped never answers.
    pub timeout_ms: f64,
}

impl Server {
    /// The absolute URL of `path` under the API root (`path` starts with `/`).
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.api)
    }

    /// Sends one request and waits for the answer's status and headers.
    pub async fn send(
        &self,
        method: &str,
        url: &str,
        headers: &[Header],
        body: Option<&JsValue>,
    ) -> Result<Response, NetworkError> {
        let init = RequestInit::new();
        init.set_method(method);
        let h = Headers::new().map_err(network)?;
        h.set("x-api-key", &self.api_key).map_err(network)?;
        for (name, value) in headers {
            h.set(name, value).map_err(network)?;
        }
        init.set_headers(&h);
        if let Some(body) = body {
            init.set_body(body);
        }
        let body_bytes = body.map_or(0.0, |b| {
            Reflect::get(b, &"size".into())
                .ok()
                .and_then(|size| size.as_f64())
                .or_else(|| b.as_string().map(|s| s.len() as f64))
                .unwrap_or(0.0)
        });
        if let Some(signal) = timeout_signal(self.timeout_ms + body_bytes / 64.0) {
            Reflect::set(&init, &"signal".into(), &signal).map_err(network)?;
        }
        let request = Request::new_with_str_and_init(url, &init).map_err(network)?;
        let response = JsFuture::from(global_fetch(&request))
            .await
            .map_err(network)?;
        Ok(response.unchecked_into())
    }

    /// Sends a JSON body and parses a JSON answer; a non-2xx answer is an error carrying
    /// the server's message.
    pub async fn json<T: FromJs>(&self, path: &str, body: &impl ToJs) -> Result<T, ApiError> {
        // The browser's JSON rather than serde_json: the same result without a second JSON
        // implementation (and its float formatting) in the wasm.
        let body = js_sys::JSON::stringify(&body.to_js())
            .map_err(|e| ApiError::Decode(describe_js_error(&e)))?;
        let headers = [("Content-Type", "application/json".to_string())];
        let response = self
            .send("POST", &self.url(path), &headers, Some(&body))
            .await?;
        let text = JsFuture::from(response.text().map_err(network)?)
            .await
            .map_err(network)?
            .as_string()
            .unwrap_or_default();
        if !response.ok() {
            return Err(ApiError::Status {
                status: response.status(),
                message: server_message(&text),
            });
        }
        js_sys::JSON::parse(&text)
            .map_err(|e| ApiError::Decode(describe_js_error(&e)))
            .and_then(|v| T::from_js(&v).map_err(|e| ApiError::Decode(e.to_string())))
    }
}

/// A JSON API call failed.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error(transparent)]
    Network(#[from] NetworkError),
    #[error("the server answered HTTP {status}: {message}")]
    Status { status: u16, message: String },
    #[error("the server's answer could not be read: {0}")]
    Decode(String),
}

/// The `message` of a JSON problem body, or the body itself.
fn server_message(body: &str) -> String {
    js_sys::JSON::parse(body)
        .ok()
        .filter(|v| v.is_object())
        .and_then(|v| Reflect::get(&v, &"message".into()).ok()?.as_string())
        .unwrap_or_else(|| body.chars().take(200).collect())
}

/// What the tus codec needs from an answer. A failed answer's body is read for its
/// problem code (a full disk and a full quota share 507).
pub async fn reply_of(response: &Response) -> Reply {
    let headers = response.headers();
    let get = |name: &str| headers.get(name).ok().flatten();
    let error_code = if response.ok() {
        None
    } else {
        problem_code(response).await
    };
    Reply {
        status: response.status(),
        location: get("Location"),
        upload_offset: get("Upload-Offset"),
        asset_id: get(ASSET_ID_HEADER),
        error_code,
    }
}

/// The `error` of a JSON problem body (ferry-server's code), or else the last part of its
/// RFC 9457 `type` (`...#completed-upload`), if the answer has one.
async fn problem_code(response: &Response) -> Option<String> {
    let text = JsFuture::from(response.text().ok()?)
        .await
        .ok()?
        .as_string()?;
    let value = js_sys::JSON::parse(&text).ok().filter(|v| v.is_object())?;
    let field = |name: &str| Reflect::get(&value, &name.into()).ok()?.as_string();
    field("error").or_else(|| {
        let kind = field("type")?;
        Some(kind.rsplit(['#', '/']).next()?.to_string())
    })
}

/// Resolves a possibly relative `location` against `base`, as a browser would.
pub fn resolve_url(location: &str, base: &str) -> Result<String, NetworkError> {
    web_sys::Url::new_with_base(location, base)
        .map(|u| u.href())
        .map_err(network)
}

fn network(e: JsValue) -> NetworkError {
    NetworkError(describe_js_error(&e))
}

/// A JS exception or rejection value as one readable line.
pub fn describe_js_error(e: &JsValue) -> String {
    if let Some(s) = e.as_string() {
        return s;
    }
    let message = Reflect::get(e, &"message".into())
        .ok()
        .and_then(|m| m.as_string());
    let name = Reflect::get(e, &"name".into())
        .ok()
        .and_then(|m| m.as_string());
    match (name, message) {
        (Some(name), Some(message)) => format!("{name}: {message}"),
        (None, Some(message)) => message,
        _ => format!("{e:?}"),
    }
}

/// `{assets: [{id, checksum}]}`.
impl ToJs for CheckRequest {
    fn to_js(&self) -> JsValue {
        let candidate = |c: &Candidate| {
            js_object::object(&[
                ("id", c.id.as_str().into()),
                ("checksum", c.checksum.as_str().into()),
            ])
        };
        js_object::object(&[(
            "assets",
            js_object::array(self.assets.iter().map(candidate)),
        )])
    }
}

/// `{sizes: [bytes]}`.
impl ToJs for SizesRequest {
    fn to_js(&self) -> JsValue {
        let sizes = self.sizes.iter().map(|&size| js_object::number(size));
        js_object::object(&[("sizes", js_object::array(sizes))])
    }
}

/// `{deviceAssetIds: [ids], deviceId}`.
impl ToJs for ExistRequest {
    fn to_js(&self) -> JsValue {
        let ids = self.device_asset_ids.iter().map(|id| id.as_str().into());
        js_object::object(&[
            ("deviceAssetIds", js_object::array(ids)),
            ("deviceId", self.device_id.as_str().into()),
        ])
    }
}

/// `{results: [{id, action, reason?, assetId?}]}`.
impl FromJs for CheckResponse {
    fn from_js(value: &JsValue) -> Result<Self, WrongField> {
        let verdict = |item: &JsValue| {
            let f = Fields::of(item, "results").ok()?;
            Some(Verdict {
                id: f.text(&"id").ok()?,
                action: f.text(&"action").ok()?,
                reason: f.optional_text(&"reason").ok()?,
                asset_id: f.optional_text(&"assetId").ok()?,
            })
        };
        let results = Fields::of(value, "answer")?.optional_list(&"results", verdict)?;
        Ok(Self {
            results: results.ok_or_else(|| "results".wrong())?,
        })
    }
}

/// `{known: [sizes]}`.
impl FromJs for SizesResponse {
    fn from_js(value: &JsValue) -> Result<Self, WrongField> {
        let known = Fields::of(value, "answer")?.optional_list(&"known", js_object::count)?;
        Ok(Self {
            known: known.ok_or_else(|| "known".wrong())?,
        })
    }
}

/// `{existingIds: [ids]}`.
impl FromJs for ExistResponse {
    fn from_js(value: &JsValue) -> Result<Self, WrongField> {
        let f = Fields::of(value, "answer")?;
        let ids = f.optional_list(&"existingIds", JsValue::as_string)?;
        Ok(Self {
            existing_ids: ids.ok_or_else(|| "existingIds".wrong())?,
        })
    }
}

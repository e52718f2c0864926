//! The PWA as static files. `/` serves `index.html`.

use std::path::Path;

use axum::extract::Request;
use axum::http::header::CONTENT_TYPE;
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;
use tower_http::services::ServeDir;

pub fn service(dir: &Path) -> ServeDir {
    ServeDir::new(dir).append_index_html_on_directories(true)
}

/// mime_guess says `application/javascript` for `.mjs`; the HTML spec says all JavaScript
/// should be served as `text/javascript`, and the PWA loads `.mjs` module workers.
pub async fn javascript_content_type(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    if response
        .headers()
        .get(CONTENT_TYPE)
        .map(HeaderValue::as_bytes)
        == Some(b"application/javascript")
    {
        response
            .headers_mut()
            .insert(CONTENT_TYPE, HeaderValue::from_static("text/javascript"));
    }
    response
}

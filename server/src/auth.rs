//! Credentials: API keys (made by the CLI, revocable) and session tokens (from
//! `POST /api/auth/login`, 30 days). Both are 32 random bytes in hex, stored only as their
//! SHA-256, and both are accepted in `x-api-key` and in `Authorization: Bearer`.
//! The `AuthUser` extractor is taken by every `/api` handler but tus OPTIONS and login.

use std::sync::Arc;
use std::time::Duration;

use argon2::password_hash::{PasswordHash, PasswordVerifier};
use argon2::Argon2;
use axum::extract::rejection::JsonRejection;
use axum::extract::{ConnectInfo, FromRequestParts, State};
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::{Json, Router};
use rand::RngCore;
use serde::Deserialize;
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::{db, security, AppError, AppState};

/// How long a session token from `POST /api/auth/login` is valid.
pub const SESSION_LIFETIME: Duration = Duration::from_secs(30 * 24 * 60 * 60);

/// The signed-in user of a request.
#[derive(Debug, Clone)]
pub struct AuthUser(pub db::User);

impl FromRequestParts<Arc<AppState>> for AuthUser {
    type Rejection = AppError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Self, Self::Rejection> {
        let key = presented_credential(&parts.headers).ok_or(AppError::Unauthorized)?;
        db::user_by_credential_hash(&state.pool, &hash_api_key(key), unix_now())
            .await?
            .map(AuthUser)
            .ok_or(AppError::Unauthorized)
    }
}

/// The API key or session token a request came with, as its SHA-256. `AuthUser` checks it
/// once, as the request starts; an upload's chunk may stream for hours after that, so its
/// completion checks this again (`db::complete_upload`) before it records an asset: a key
/// revoked, a session signed out or a user removed meanwhile makes no asset.
#[derive(Debug, Clone)]
pub struct Credential(String);

impl Credential {
    pub fn sha256(&self) -> &str {
        &self.0
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Credential {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        presented_credential(&parts.headers)
            .map(|key| Credential(hash_api_key(key)))
            .ok_or(AppError::Unauthorized)
    }
}

/// The API key or session token of a request: `x-api-key`, else `Authorization: Bearer`.
fn presented_credential(headers: &HeaderMap) -> Option<&str> {
    if let Some(key) = headers.get("x-api-key") {
        return key.to_str().ok().map(str::trim).filter(|k| !k.is_empty());
    }
    let authorization = headers.get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = authorization.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// A new API key or session token: 32 random bytes, hex.
pub fn generate_api_key() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// What the database stores instead of a key or token. They are 256-bit random, so a fast
/// unsalted hash is enough: there is nothing to brute-force.
pub fn hash_api_key(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

pub fn unix_now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

pub fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route(
            "/auth/login",
            post(login).route_layer(axum::middleware::from_fn(sign_in_body_in_time)),
        )
        .route("/auth/logout", post(logout))
}

/// How long a sign-in's body has to arrive, and how large it may be. Every other route
/// asks for a credential before it reads a body; this one cannot, and its headers alone
/// have the server's header read timeout. Without this, a body sent a byte a second kept
/// the connection open for as long as the client liked, with no credential at all.
const SIGN_IN_WITHIN: Duration = Duration::from_secs(10);
const SIGN_IN_MAX_BYTES: usize = 64 * 1024;

async fn sign_in_body_in_time(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Result<axum::response::Response, AppError> {
    let (parts, body) = request.into_parts();
    let bytes = tokio::time::timeout(
        SIGN_IN_WITHIN,
        axum::body::to_bytes(body, SIGN_IN_MAX_BYTES),
    )
    .await
    .map_err(|_| {
        AppError::BadRequest(format!(
            "the sign-in request did not arrive within {} s",
            SIGN_IN_WITHIN.as_secs()
        ))
    })?
    .map_err(|_| {
        AppError::BadRequest("the sign-in request could not be read (over 64 KiB?)".into())
    })?;
    let request = axum::extract::Request::from_parts(parts, axum::body::Body::from(bytes));
    Ok(next.run(request).await)
}

#[derive(Deserialize)]
struct Login {
    username: String,
    password: String,
}

/// `POST /api/auth/login {"username","password"}` → `{"token","expiresAt","user":{id,name}}`.
/// Unknown user, user without a password and wrong password all answer the same 401, after
/// the same argon2 work and the same delay. After `Config::max_login_failures` failures for
/// a user name or from an address within `Config::login_window`, it answers 429
/// `too-many-login-attempts` with `Retry-After`, without checking the password.
async fn login(
    State(state): State<Arc<AppState>>,
    connect: Option<axum::Extension<ConnectInfo<std::net::SocketAddr>>>,
    headers: HeaderMap,
    body: Result<Json<Login>, JsonRejection>,
) -> Result<Json<serde_json::Value>, AppError> {
    let Json(body) = body?;
    let username = body.username.trim();
    let ip = security::client_ip(
        &headers,
        connect.as_deref(),
        state.config.client_ip_header.as_deref(),
    );
    let attempt = state.login_limiter.begin(username, ip).map_err(|wait| {
        tracing::warn!(?ip, "sign-in refused: too many failures");
        AppError::TooManyLoginAttempts {
            retry_after_secs: security::retry_after_secs(wait),
        }
    })?;
    let found = db::user_with_password(&state.pool, username).await?;
    let (user, hash) = match found {
        Some((user, hash)) => (Some(user), hash),
        None => (None, None),
    };
    let checked = hash.clone().unwrap_or_default();
    let verified = verify_password(body.password, hash).await;
    let Some(user) = user.filter(|_| verified) else {
        tokio::time::sleep(state.config.failed_login_delay).await;
        return Err(AppError::LoginFailed);
    };
    let token = generate_api_key();
    let expires_at = unix_now() + SESSION_LIFETIME.as_secs() as i64;
    // Only while the password checked is still the user's: `user password` may have
    // replaced it (and ended the sessions) during the slow check above.
    let token_sha256 = hash_api_key(&token);
    if !db::insert_session(&state.pool, &token_sha256, &user.id, &checked, expires_at).await? {
        return Err(AppError::LoginFailed);
    }
    state.login_limiter.succeeded(attempt);
    let expires = time::OffsetDateTime::from_unix_timestamp(expires_at)
        .map(crate::timestamps::format)
        .unwrap_or_default();
    Ok(Json(json!({
        "token": token,
        "expiresAt": expires,
        "user": { "id": user.id, "name": user.name },
    })))
}

/// Checks `password` against an argon2 PHC hash off the async runtime. Without a hash it
/// still does the same work (against a fixed hash) and answers false, so timing does not
/// tell whether a user exists.
async fn verify_password(password: String, hash: Option<String>) -> bool {
    tokio::task::spawn_blocking(move || {
        let (hash, real) = match hash {
            Some(h) => (h, true),
            None => (dummy_hash().to_owned(), false),
        };
        let Ok(parsed) = PasswordHash::new(&hash) else {
            return false;
        };
        let ok = Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok();
        ok && real
    })
    .await
    .unwrap_or(false)
}

/// Makes the dummy hash now, so the first sign-in of an unknown user is not slower.
pub async fn warm_up() {
    let _ = tokio::task::spawn_blocking(dummy_hash).await;
}

/// An argon2id hash with default parameters (those of every stored password, from
/// `users::create_user`), made once per process.
fn dummy_hash() -> &'static str {
    static HASH: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    HASH.get_or_init(|| {
        use argon2::password_hash::{rand_core::OsRng, PasswordHasher, SaltString};
        Argon2::default()
            .hash_password(b"ferry dummy password", &SaltString::generate(&mut OsRng))
            .map(|h| h.to_string())
            .unwrap_or_default()
    })
}

/// `POST /api/auth/logout`: revokes the presented session token (204). An API key presented
/// here stays valid; keys are revoked with `ferry-server key revoke`.
async fn logout(
    State(state): State<Arc<AppState>>,
    AuthUser(user): AuthUser,
    headers: HeaderMap,
) -> Result<StatusCode, AppError> {
    let token = presented_credential(&headers).ok_or(AppError::Unauthorized)?;
    db::delete_session(&state.pool, &hash_api_key(token), &user.id).await?;
    Ok(StatusCode::NO_CONTENT)
}

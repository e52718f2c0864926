//! API keys and the `AuthUser` extractor that every `/api` handler (but tus OPTIONS) takes.

use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::{db, AppError, AppState};

/// The signed-in user of a request.
#[derive(Debug, Clone)]
pub struct AuthUser(pub db::User);

impl FromRequestParts<Arc<AppState>> for AuthUser {
    type Rejection = AppError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Self, Self::Rejection> {
        let key = presented_key(parts).ok_or(AppError::Unauthorized)?;
        db::user_by_key_hash(&state.pool, &hash_api_key(key))
            .await?
            .map(AuthUser)
            .ok_or(AppError::Unauthorized)
    }
}

fn presented_key(parts: &Parts) -> Option<&str> {
    if let Some(key) = parts.headers.get("x-api-key") {
        return key.to_str().ok().map(str::trim).filter(|k| !k.is_empty());
    }
    let authorization = parts.headers.get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = authorization.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// A new API key: 32 random bytes, hex.
pub fn generate_api_key() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// What the database stores instead of the key. Keys are 256-bit random, so a fast
/// unsalted hash is enough: there is nothing to brute-force.
pub fn hash_api_key(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

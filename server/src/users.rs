//! Users and their API keys (created, listed, revoked and removed by the CLI; the first one
//! on first start) and `GET /api/users/me`.

use std::sync::Arc;

use argon2::password_hash::{rand_core::OsRng, SaltString};
use argon2::{Argon2, PasswordHasher};
use axum::extract::State;
use axum::Json;
use serde::Serialize;

use crate::auth::{generate_api_key, hash_api_key, AuthUser};
use crate::{db, AppError, AppState};

/// A user just created, with the only copy of their API key.
pub struct CreatedUser {
    pub user: db::User,
    pub api_key: String,
}

/// Creates a user with a fresh API key named "default". A password, if given, is stored as
/// an argon2id hash, for `POST /api/auth/login`.
pub async fn create_user(
    pool: &crate::db::Db,
    name: &str,
    quota_size_in_bytes: Option<i64>,
    password: Option<&str>,
) -> Result<CreatedUser, AppError> {
    let name = name.trim();
    if name.is_empty() {
        return Err(AppError::bad_request("user name must not be empty"));
    }
    if quota_size_in_bytes.is_some_and(|q| q < 0) {
        return Err(AppError::bad_request("quota must not be negative"));
    }
    let password_hash = password.map(hash_password).transpose()?;
    let api_key = generate_api_key();
    let user = db::User {
        id: uuid::Uuid::new_v4().to_string(),
        name: name.to_owned(),
        quota_size_in_bytes,
    };
    let inserted = db::insert_user(
        pool,
        &db::NewUser {
            id: &user.id,
            name: &user.name,
            api_key_sha256: &hash_api_key(&api_key),
            password_hash: password_hash.as_deref(),
            quota_size_in_bytes,
        },
    )
    .await?;
    if !inserted {
        return Err(AppError::Conflict(format!(
            "a user named \"{name}\" already exists"
        )));
    }
    Ok(CreatedUser { user, api_key })
}

/// A password as stored: an argon2id hash with a fresh salt.
fn hash_password(password: &str) -> Result<String, AppError> {
    Argon2::default()
        .hash_password(password.as_bytes(), &SaltString::generate(&mut OsRng))
        .map(|h| h.to_string())
        .map_err(|e| AppError::bad_request(format!("cannot hash password: {e}")))
}

/// Gives the user `name` a new password and ends all their sessions (sign-ins with the old
/// one). Returns how many sessions were ended.
pub async fn set_password(pool: &db::Db, name: &str, password: &str) -> Result<u64, AppError> {
    if password.is_empty() {
        return Err(AppError::bad_request("the password must not be empty"));
    }
    let user = db::user_by_name(pool, name)
        .await?
        .ok_or_else(|| no_such_user(name))?;
    Ok(db::set_password_hash(pool, &user.id, &hash_password(password)?).await?)
}

/// Ends all sessions of the user `name`: every browser signed in with their password must
/// sign in again. Their API keys keep working (`key revoke` ends those). Returns how many
/// sessions were ended.
pub async fn sign_out_everywhere(pool: &db::Db, name: &str) -> Result<u64, AppError> {
    let user = db::user_by_name(pool, name)
        .await?
        .ok_or_else(|| no_such_user(name))?;
    Ok(db::delete_sessions_of(pool, &user.id).await?)
}

/// Makes another API key for the user `user_name`; returns it with the only copy of the key.
pub async fn create_api_key(
    pool: &crate::db::Db,
    user_name: &str,
    key_name: &str,
) -> Result<(db::ApiKey, String), AppError> {
    let user = db::user_by_name(pool, user_name)
        .await?
        .ok_or_else(|| no_such_user(user_name))?;
    let key_name = key_name.trim();
    if key_name.is_empty() {
        return Err(AppError::bad_request("key name must not be empty"));
    }
    let key = generate_api_key();
    let row = db::insert_api_key(pool, &user.id, key_name, &hash_api_key(&key)).await?;
    Ok((row, key))
}

/// Removes a user with everything they have: API keys, sessions, assets, uploads and their
/// partial files, and the blobs nobody else references any more. Returns how many blobs
/// were deleted.
pub async fn remove_user(state: &AppState, name: &str) -> Result<usize, AppError> {
    let removed = db::delete_user(&state.pool, name)
        .await?
        .ok_or_else(|| no_such_user(name))?;
    for upload in &removed.uploads {
        state.blobs.discard_partial(upload).await?;
    }
    for asset_id in &removed.asset_ids {
        let thumb = crate::blobs::Thumb::Client { asset_id };
        state.blobs.remove_thumb(thumb).await?;
    }
    let mut deleted = 0;
    for checksum in &removed.checksums {
        if crate::release_blob(state, checksum).await? {
            deleted += 1;
        }
    }
    Ok(deleted)
}

pub fn no_such_user(name: &str) -> AppError {
    AppError::NotFoundNamed(format!("there is no user named \"{name}\""))
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Me {
    id: String,
    name: String,
    quota_usage_in_bytes: i64,
    quota_size_in_bytes: Option<i64>,
}

pub async fn me(
    State(state): State<Arc<AppState>>,
    AuthUser(user): AuthUser,
) -> Result<Json<Me>, AppError> {
    let usage = db::quota_usage(&state.pool, &user.id).await?;
    Ok(Json(Me {
        id: user.id,
        name: user.name,
        quota_usage_in_bytes: usage,
        quota_size_in_bytes: user.quota_size_in_bytes,
    }))
}

//! `/api/keys`: API keys, shown once at creation and stored only as a hash with a visible
//! prefix; list, rotate and revoke. The plan caps how many live keys an account has.

use axum::extract::State;
use axum::http::StatusCode;
use orrery_core::store::ApiKey;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::http::AppState;
use crate::http::auth::Success;
use crate::http::error::{ApiError, Problem};
use crate::http::extract::{CurrentUser, Json, Path};
use crate::services::graphs::Actor;
use crate::services::keys::{Keys, NewKey};

/// The routes of this module.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_keys, create_key))
        .routes(routes!(revoke_key))
        .routes(routes!(rotate_key))
}

/// An API key without its secret.
#[derive(Debug, Serialize, ToSchema)]
pub struct KeyView {
    /// Its id.
    pub id: Uuid,
    /// A name for people.
    pub name: String,
    /// The first characters of the key, to recognise it.
    pub prefix: String,
    /// When it was made.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// When it was last used.
    #[serde(with = "time::serde::rfc3339::option")]
    pub last_used_at: Option<OffsetDateTime>,
    /// When it was revoked.
    #[serde(with = "time::serde::rfc3339::option")]
    pub revoked_at: Option<OffsetDateTime>,
}

impl From<ApiKey> for KeyView {
    fn from(k: ApiKey) -> KeyView {
        KeyView {
            id: k.id,
            name: k.name,
            prefix: k.prefix,
            created_at: k.created_at,
            last_used_at: k.last_used_at,
            revoked_at: k.revoked_at,
        }
    }
}

/// A new key: the secret is shown this once.
#[derive(Debug, Serialize, ToSchema)]
pub struct NewKeyResponse {
    /// The key.
    pub key: KeyView,
    /// The secret, for `Authorization: Bearer …` or `X-API-Key: …`. Not retrievable later.
    pub secret: String,
    /// Always true.
    pub success: bool,
}

/// Your keys.
#[derive(Debug, Serialize, ToSchema)]
pub struct KeyList {
    /// Newest first, revoked ones included.
    pub keys: Vec<KeyView>,
    /// Always true.
    pub success: bool,
}

/// `POST /api/keys`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateKey {
    /// A name to recognise it by: 1 to 100 characters (trimmed), no control characters.
    #[schema(
        min_length = 1,
        max_length = 100,
        pattern = "^[^\u{0}-\u{1f}\u{7f}-\u{9f}]*[^\u{0}-\u{20}\u{7f}-\u{a0}\u{1680}\u{2000}-\u{200a}\u{2028}\u{2029}\u{202f}\u{205f}\u{3000}][^\u{0}-\u{1f}\u{7f}-\u{9f}]*$"
    )]
    pub name: String,
}

/// Create an API key.
#[utoipa::path(post, path = "/api/keys", tag = "keys", request_body = CreateKey, security(("bearer" = []), ("api_key" = [])),
    responses((status = 201, body = NewKeyResponse), (status = 402, body = Problem), (status = 422, body = Problem)))]
#[tracing::instrument(skip_all, fields(user_id = %user.id()), err(level = "info"))]
async fn create_key(
    State(keys): State<Keys>,
    user: CurrentUser,
    Json(body): Json<CreateKey>,
) -> Result<(StatusCode, Json<NewKeyResponse>), ApiError> {
    let NewKey { key, secret } = keys.create(actor(&user), &body.name).await?;
    Ok((
        StatusCode::CREATED,
        Json(NewKeyResponse {
            key: key.into(),
            secret,
            success: true,
        }),
    ))
}

/// List your API keys (never their secrets).
#[utoipa::path(get, path = "/api/keys", tag = "keys", security(("bearer" = []), ("api_key" = [])),
    responses((status = 200, body = KeyList), (status = 401, body = Problem)))]
#[tracing::instrument(skip_all, fields(user_id = %user.id()), err(level = "info"))]
async fn list_keys(State(keys): State<Keys>, user: CurrentUser) -> Result<Json<KeyList>, ApiError> {
    let keys = keys.list(actor(&user)).await?;
    Ok(Json(KeyList {
        keys: keys.into_iter().map(Into::into).collect(),
        success: true,
    }))
}

/// Revoke an API key: it stops working at once, on every server instance.
#[utoipa::path(delete, path = "/api/keys/{id}", tag = "keys", params(("id" = Uuid, Path)), security(("bearer" = []), ("api_key" = [])),
    responses((status = 200, body = Success), (status = 404, body = Problem)))]
#[tracing::instrument(skip_all, fields(user_id = %user.id(), key_id = %id), err(level = "info"))]
async fn revoke_key(
    State(keys): State<Keys>,
    user: CurrentUser,
    Path(id): Path<Uuid>,
) -> Result<Json<Success>, ApiError> {
    keys.revoke(actor(&user), id).await?;
    Ok(Json(Success {
        success: true,
        message: None,
    }))
}

/// Replace an API key with a new secret; the old one stops working.
#[utoipa::path(post, path = "/api/keys/{id}/rotate", tag = "keys", params(("id" = Uuid, Path)), security(("bearer" = []), ("api_key" = [])),
    responses((status = 200, body = NewKeyResponse), (status = 404, body = Problem)))]
#[tracing::instrument(skip_all, fields(user_id = %user.id(), key_id = %id), err(level = "info"))]
async fn rotate_key(
    State(keys): State<Keys>,
    user: CurrentUser,
    Path(id): Path<Uuid>,
) -> Result<Json<NewKeyResponse>, ApiError> {
    let NewKey { key, secret } = keys.rotate(actor(&user), id).await?;
    Ok(Json(NewKeyResponse {
        key: key.into(),
        secret,
        success: true,
    }))
}

fn actor(user: &CurrentUser) -> Actor {
    Actor {
        id: user.id(),
        plan: user.plan,
    }
}

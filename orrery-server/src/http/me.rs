//! `/api/me`: the signed-in account manages itself — its profile (name, theme), its password,
//! and a download of its own data. The rules are the accounts service's.

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use orrery_core::store::Theme;
use secrecy::SecretString;
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::http::AppState;
use crate::http::auth::{AuthResponse, MeResponse, RefreshCookie, UserView, session_body};
use crate::http::error::{ApiError, Problem};
use crate::http::extract::{CurrentUser, Json};
use crate::services::accounts::Accounts;

/// The routes of this module.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(me, update_me))
        .routes(routes!(change_password))
        .routes(routes!(export))
}

/// `PATCH /api/me`: each field present is changed.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateMe {
    /// Display name (the rules of `SignupRequest.name`).
    #[schema(
        min_length = 1,
        max_length = 100,
        pattern = "^[^\u{0}-\u{1f}\u{7f}-\u{9f}]*[^\u{0}-\u{20}\u{7f}-\u{a0}\u{1680}\u{2000}-\u{200a}\u{2028}\u{2029}\u{202f}\u{205f}\u{3000}][^\u{0}-\u{1f}\u{7f}-\u{9f}]*$"
    )]
    pub name: Option<String>,
    /// The console's colours: `light`, `dark` or `system`.
    #[schema(value_type = Option<crate::http::docs::AccountThemeName>)]
    pub theme: Option<String>,
}

/// `POST /api/me/password`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangePassword {
    /// The password now.
    #[schema(value_type = String, format = Password, min_length = 1, max_length = 256)]
    pub current_password: SecretString,
    /// The new one: 8 to 256 characters, not only spaces.
    #[schema(
        value_type = String,
        format = Password,
        min_length = 8,
        max_length = 256,
        pattern = "^[^\u{0}]*[^\u{0}\t\n\u{b}\u{c}\r \u{85}\u{a0}\u{1680}\u{2000}-\u{200a}\u{2028}\u{2029}\u{202f}\u{205f}\u{3000}][^\u{0}]*$"
    )]
    pub new_password: SecretString,
}

/// The signed-in account, as stored now.
#[utoipa::path(get, path = "/api/me", tag = "account", security(("bearer" = []), ("api_key" = [])),
    responses((status = 200, body = MeResponse), (status = 401, body = Problem)))]
#[tracing::instrument(skip_all, fields(user_id = %user.id()), err(level = "info"))]
async fn me(
    State(state): State<AppState>,
    user: CurrentUser,
) -> Result<Json<MeResponse>, ApiError> {
    // The row, not the cached copy: the cache holds no credentials, and `provider` is read
    // from them.
    let account = state.store.user(user.id()).await?;
    Ok(Json(MeResponse {
        user: UserView::of(&account),
        success: true,
    }))
}

/// Change your name or theme.
#[utoipa::path(patch, path = "/api/me", tag = "account", request_body = UpdateMe,
    security(("bearer" = []), ("api_key" = [])),
    responses((status = 200, body = MeResponse), (status = 400, body = Problem), (status = 401, body = Problem),
              (status = 422, body = Problem)))]
#[tracing::instrument(skip_all, fields(user_id = %user.id()), err(level = "info"))]
async fn update_me(
    State(accounts): State<Accounts>,
    user: CurrentUser,
    Json(body): Json<UpdateMe>,
) -> Result<Json<MeResponse>, ApiError> {
    let theme = body
        .theme
        .as_deref()
        .map(|t| {
            Theme::parse(t).ok_or_else(|| ApiError::field("theme", "must be light, dark or system"))
        })
        .transpose()?;
    if body.name.is_none() && theme.is_none() {
        return Err(ApiError::BadRequest(
            "nothing to change: send name or theme".into(),
        ));
    }
    let account = accounts
        .update_profile(user.id(), body.name.as_deref(), theme)
        .await?;
    Ok(Json(MeResponse {
        user: UserView::of(&account),
        success: true,
    }))
}

/// Change your password. Every session ends; the answer is a new one for this client (its
/// refresh token as a cookie with `X-Refresh-Cookie: 1`, as at sign-in).
#[utoipa::path(post, path = "/api/me/password", tag = "account", request_body = ChangePassword,
    security(("bearer" = []), ("api_key" = [])),
    responses((status = 200, body = AuthResponse), (status = 401, body = Problem),
              (status = 409, description = "The account signs in with Google only", body = Problem),
              (status = 422, description = "The current password is wrong, or the new one breaks the rules", body = Problem),
              (status = 429, body = Problem), (status = 503, body = Problem)))]
#[tracing::instrument(skip_all, fields(user_id = %user.id()), err(level = "info"))]
async fn change_password(
    State(accounts): State<Accounts>,
    user: CurrentUser,
    cookie: RefreshCookie,
    Json(body): Json<ChangePassword>,
) -> Result<Response, ApiError> {
    let session = accounts
        .change_password(user.id(), &body.current_password, &body.new_password)
        .await?;
    Ok(cookie.respond(
        StatusCode::OK,
        &session.refresh_token,
        session_body(&session),
    ))
}

/// Everything your account owns, as a JSON download (the format of the admin export).
#[utoipa::path(get, path = "/api/me/export", tag = "account", security(("bearer" = []), ("api_key" = [])),
    responses((status = 200, description = "The account's data (attachment)", body = Object, content_type = "application/json"),
              (status = 401, body = Problem)))]
#[tracing::instrument(skip_all, fields(user_id = %user.id()), err(level = "info"))]
async fn export(State(state): State<AppState>, user: CurrentUser) -> Result<Response, ApiError> {
    let data = state.store.export_user(user.id()).await?;
    let body = serde_json::to_vec_pretty(&data).map_err(ApiError::internal)?;
    Ok((
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, "application/json".to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"orrery-account-{}.json\"", user.id()),
            ),
        ],
        body,
    )
        .into_response())
}

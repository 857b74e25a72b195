//! `/api/me`: the signed-in account manages itself — its profile (name, theme), its email
//! (confirmed through the new address), its password, a download of its own data, and deleting
//! it. The rules are the accounts service's.

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
use crate::http::auth::{AuthResponse, MeResponse, RefreshCookie, Success, UserView, session_body};
use crate::http::error::{ApiError, Problem};
use crate::http::extract::{ClientIp, CurrentUser, Json, limit_auth_attempts};
use crate::services::accounts::Accounts;
use crate::services::billing::Billing;

/// The routes of this module.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(me, update_me, delete_me))
        .routes(routes!(change_password))
        .routes(routes!(export))
        .routes(routes!(confirm_email))
        .routes(routes!(link_google))
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
    /// A new email address: it takes effect once the link mailed to it is followed
    /// (`POST /api/auth/email-change/confirm`); the answer names it as `pending_email`.
    #[schema(max_length = 254, pattern = "^[^@\u{0}]+@[^@\u{0}]+[.][^@\u{0}]+$")]
    pub email: Option<String>,
}

/// `DELETE /api/me`.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeleteMe {
    /// The account's password (required when it has one; an account that signs in with Google
    /// only needs a sign-in in the last 10 minutes instead).
    #[schema(value_type = Option<String>, format = Password, min_length = 1, max_length = 256)]
    pub password: Option<SecretString>,
}

/// `POST /api/me/google`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LinkGoogle {
    /// A Google ID token (JWT) issued to this server's client id.
    #[schema(max_length = 8192)]
    pub token: String,
}

/// `POST /api/auth/email-change/confirm`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConfirmEmail {
    /// The token from the link mailed to the new address.
    #[schema(value_type = String)]
    pub token: SecretString,
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
        pending_email: None,
    }))
}

/// Change your name, theme or email (the new address gets a link that makes the change; the
/// current one is told).
#[utoipa::path(patch, path = "/api/me", tag = "account", request_body = UpdateMe,
    security(("bearer" = []), ("api_key" = [])),
    responses((status = 200, body = MeResponse), (status = 400, body = Problem), (status = 401, body = Problem),
              (status = 409, description = "Another account has the new email", body = Problem),
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
    if body.name.is_none() && theme.is_none() && body.email.is_none() {
        return Err(ApiError::BadRequest(
            "nothing to change: send name, theme or email".into(),
        ));
    }
    // The email first: when it is refused, nothing else has changed either.
    let pending_email = match &body.email {
        Some(email) => Some(accounts.request_email_change(user.id(), email).await?),
        None => None,
    };
    let account = if body.name.is_some() || theme.is_some() {
        accounts
            .update_profile(user.id(), body.name.as_deref(), theme)
            .await?
    } else {
        accounts.account(user.id()).await?
    };
    Ok(Json(MeResponse {
        user: UserView::of(&account),
        success: true,
        pending_email,
    }))
}

/// Delete your account and everything it holds, for good: graphs, versions, agents, API keys,
/// usage and events. A running subscription is cancelled; invoices stay with Stripe, and an
/// anonymised billing record (no name, no email) stays here, as accounting law requires. Every
/// session ends, and a confirmation is mailed to the account's address.
#[utoipa::path(delete, path = "/api/me", tag = "account", request_body(content = DeleteMe, description = "The password, when the account has one"),
    params(("X-Refresh-Cookie" = Option<String>, Header, description = "`1`: the refresh cookie is cleared too")),
    security(("bearer" = [])),
    responses((status = 200, body = Success), (status = 401, body = Problem),
              (status = 403, description = "An API key was used, or an account without a password has not signed in recently", body = Problem),
              (status = 422, description = "The password is missing or wrong", body = Problem),
              (status = 429, body = Problem), (status = 502, body = Problem), (status = 503, body = Problem)))]
#[tracing::instrument(skip_all, fields(user_id = %user.id()), err(level = "info"))]
async fn delete_me(
    State(accounts): State<Accounts>,
    State(billing): State<Billing>,
    user: CurrentUser,
    cookie: RefreshCookie,
    body: Option<Json<DeleteMe>>,
) -> Result<Response, ApiError> {
    let body = body.map(|Json(b)| b).unwrap_or_default();
    accounts
        .delete(&user, body.password.as_ref(), &billing)
        .await?;
    let mut response = Json(Success {
        success: true,
        message: Some("the account was deleted".into()),
    })
    .into_response();
    cookie.clear(&mut response);
    Ok(response)
}

/// Make the new email address of an account its own, with the token from the link mailed to
/// it. Works once; the address must still be free.
#[utoipa::path(post, path = "/api/auth/email-change/confirm", tag = "account", request_body = ConfirmEmail,
    responses((status = 200, body = MeResponse), (status = 400, description = "The token is unknown, used or expired", body = Problem),
              (status = 409, description = "Another account took the address meanwhile", body = Problem),
              (status = 422, body = Problem), (status = 429, body = Problem), (status = 503, body = Problem)))]
#[tracing::instrument(skip_all, err(level = "info"))]
async fn confirm_email(
    State(accounts): State<Accounts>,
    State(state): State<AppState>,
    ip: ClientIp,
    Json(body): Json<ConfirmEmail>,
) -> Result<Json<MeResponse>, ApiError> {
    limit_auth_attempts(&state, ip).await?;
    let account = accounts.confirm_email_change(&body.token).await?;
    Ok(Json(MeResponse {
        user: UserView::of(&account),
        success: true,
        pending_email: None,
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

/// Link a Google account to yours, so that you can also sign in with Google. Needs a signed-in
/// session (Google sign-in never links an existing account by itself).
#[utoipa::path(post, path = "/api/me/google", tag = "account", request_body = LinkGoogle,
    security(("bearer" = [])),
    responses((status = 200, body = MeResponse), (status = 401, body = Problem),
              (status = 403, description = "An API key was used", body = Problem),
              (status = 409, description = "Either side is linked already to another account", body = Problem),
              (status = 503, description = "Google sign-in is not configured on this server", body = Problem)))]
#[tracing::instrument(skip_all, fields(user_id = %user.id()), err(level = "info"))]
async fn link_google(
    State(accounts): State<Accounts>,
    State(state): State<AppState>,
    user: CurrentUser,
    Json(body): Json<LinkGoogle>,
) -> Result<Json<MeResponse>, ApiError> {
    let verifier = state.google.as_ref().ok_or_else(|| {
        ApiError::Unavailable("Google sign-in is not configured on this server".into())
    })?;
    let identity = verifier.verify(&body.token).await?;
    let account = accounts.link_google(&user, identity).await?;
    Ok(Json(MeResponse {
        user: UserView::of(&account),
        success: true,
        pending_email: None,
    }))
}

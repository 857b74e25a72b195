//! `/api/auth`: sign-up, sign-in (password or Google), refresh with rotation and reuse
//! detection, sign-out, password reset. No response or timing tells whether an email has an
//! account, except sign-up's conflict, which cannot be avoided while it returns a session.

use axum::extract::State;
use axum::http::StatusCode;
use orrery_core::Plan;
use orrery_core::store::{
    MonitoringStore, NewEmail, NewUser, RefreshUse, Role, TokenStore, User, UserPatch, UserStore,
};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use serde_json::json;
use time::OffsetDateTime;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::auth::{REFRESH_PREFIX, RESET_PREFIX, random_token, secret_hash};
use crate::http::AppState;
use crate::http::error::{ApiError, Problem};
use crate::http::extract::{
    ClientIp, CurrentUser, Json, effective_plan, forget_user, limit_auth_attempts,
};
use crate::mail::{enqueue, mail_date};

/// The routes of this module.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(signup))
        .routes(routes!(signin))
        .routes(routes!(google))
        .routes(routes!(refresh))
        .routes(routes!(signout))
        .routes(routes!(request_reset))
        .routes(routes!(confirm_reset))
        .routes(routes!(me))
}

/// An account as the API shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct UserView {
    /// Account id.
    pub id: Uuid,
    /// Email address.
    pub email: String,
    /// Display name.
    pub name: String,
    /// `user` or `admin`.
    #[schema(value_type = String, example = "user")]
    pub role: Role,
    /// The plan paid for.
    #[schema(value_type = String, example = "free")]
    pub plan: Plan,
    /// The plan whose limits apply now (the trial's while it runs).
    #[schema(value_type = String, example = "pro")]
    pub effective_plan: Plan,
    /// When the trial ends, if the account has one.
    #[serde(with = "time::serde::rfc3339::option")]
    pub trial_ends_at: Option<OffsetDateTime>,
    /// When the account was created.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

impl UserView {
    /// The view of `user` now.
    pub fn of(user: &User) -> UserView {
        UserView {
            id: user.id,
            email: user.email.clone(),
            name: user.name.clone(),
            role: user.role,
            plan: user.plan,
            effective_plan: effective_plan(user, OffsetDateTime::now_utc()),
            trial_ends_at: user.trial_ends_at,
            created_at: user.created_at,
        }
    }
}

/// A new session.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuthResponse {
    /// The account.
    pub user: UserView,
    /// Access token (JWT) for `Authorization: Bearer …`.
    pub token: String,
    /// Seconds until the access token expires.
    pub expires_in: i64,
    /// Opaque refresh token; single use, rotated on every refresh.
    pub refresh_token: String,
    /// Always true.
    pub success: bool,
}

/// `POST /api/auth/signup`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignupRequest {
    /// Email address.
    pub email: String,
    /// At least 8 characters.
    #[schema(value_type = String, format = Password)]
    pub password: SecretString,
    /// Display name.
    pub name: String,
}

/// `POST /api/auth/signin`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SigninRequest {
    /// Email address.
    pub email: String,
    /// Password.
    #[schema(value_type = String, format = Password)]
    pub password: SecretString,
}

/// `POST /api/auth/google`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GoogleRequest {
    /// A Google ID token (JWT) issued to this server's client id.
    pub token: String,
}

/// `POST /api/auth/refresh` and `/api/auth/signout`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefreshRequest {
    /// The refresh token.
    #[schema(value_type = String)]
    pub refresh_token: SecretString,
}

/// A refreshed session.
#[derive(Debug, Serialize, ToSchema)]
pub struct RefreshResponse {
    /// A new access token.
    pub token: String,
    /// Seconds until it expires.
    pub expires_in: i64,
    /// The next refresh token; the one sent is now used up.
    pub refresh_token: String,
    /// Always true.
    pub success: bool,
}

/// `POST /api/auth/password-reset`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResetRequest {
    /// The account's email.
    pub email: String,
}

/// `POST /api/auth/password-reset/confirm`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResetConfirm {
    /// The token from the reset mail.
    #[schema(value_type = String)]
    pub token: SecretString,
    /// The new password (at least 8 characters).
    #[schema(value_type = String, format = Password)]
    pub password: SecretString,
}

/// A plain acknowledgement.
#[derive(Debug, Serialize, ToSchema)]
pub struct Success {
    /// Always true.
    pub success: bool,
    /// What happened, for people.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// The signed-in account.
#[derive(Debug, Serialize, ToSchema)]
pub struct MeResponse {
    /// The account.
    pub user: UserView,
    /// Always true.
    pub success: bool,
}

/// Create an account and sign in. New accounts try the pro plan for free.
#[utoipa::path(post, path = "/api/auth/signup", tag = "auth", request_body = SignupRequest,
    responses((status = 201, body = AuthResponse), (status = 409, description = "Email taken", body = Problem),
              (status = 422, body = Problem), (status = 429, body = Problem)))]
#[tracing::instrument(skip_all, err)]
async fn signup(
    State(state): State<AppState>,
    ip: ClientIp,
    Json(body): Json<SignupRequest>,
) -> Result<(StatusCode, Json<AuthResponse>), ApiError> {
    limit_auth_attempts(&state, ip).await?;
    let email = normalize_email(&body.email)?;
    let name = check_name(&body.name)?;
    check_password(&body.password)?;
    let hash = state.passwords.hash(&body.password).await?;
    let user = open_account(&state, email, name, Some(hash), None, "password").await?;
    Ok((StatusCode::CREATED, Json(session(&state, &user).await?)))
}

/// Sign in with email and password.
#[utoipa::path(post, path = "/api/auth/signin", tag = "auth", request_body = SigninRequest,
    responses((status = 200, body = AuthResponse), (status = 401, body = Problem), (status = 429, body = Problem)))]
#[tracing::instrument(skip_all, err)]
async fn signin(
    State(state): State<AppState>,
    ip: ClientIp,
    Json(body): Json<SigninRequest>,
) -> Result<Json<AuthResponse>, ApiError> {
    limit_auth_attempts(&state, ip).await?;
    // A malformed email cannot have an account: same answer, same work, as a wrong password.
    let user = match normalize_email(&body.email) {
        Ok(email) => state.store.user_by_email(&email).await?,
        Err(_) => None,
    };
    let hash = user.as_ref().and_then(|u| u.password_hash.as_deref());
    if !state.passwords.verify(&body.password, hash).await {
        return Err(ApiError::InvalidCredentials);
    }
    let user = user.ok_or(ApiError::InvalidCredentials)?;
    Ok(Json(signed_in(&state, &user, "password").await?))
}

/// Sign in (or sign up) with a Google ID token.
#[utoipa::path(post, path = "/api/auth/google", tag = "auth", request_body = GoogleRequest,
    responses((status = 200, body = AuthResponse), (status = 401, body = Problem), (status = 503, body = Problem)))]
#[tracing::instrument(skip_all, err)]
async fn google(
    State(state): State<AppState>,
    ip: ClientIp,
    Json(body): Json<GoogleRequest>,
) -> Result<Json<AuthResponse>, ApiError> {
    limit_auth_attempts(&state, ip).await?;
    let verifier = state.google.as_ref().ok_or_else(|| {
        ApiError::Unavailable("Google sign-in is not configured on this server".into())
    })?;
    let identity = verifier.verify(&body.token).await?;
    let email = normalize_email(&identity.email)
        .map_err(|_| ApiError::Unauthorized("the Google account has no usable email"))?;
    let user = match state.store.user_by_google_sub(&identity.sub).await? {
        Some(user) => user,
        None => match state.store.user_by_email(&email).await? {
            // Linking to an existing account needs Google to vouch for the address.
            Some(existing) if identity.email_verified => {
                forget_user(&state, existing.id).await;
                state
                    .store
                    .update_user(
                        existing.id,
                        UserPatch {
                            google_sub: Some(identity.sub.clone()),
                            ..UserPatch::default()
                        },
                    )
                    .await?
            }
            Some(_) => {
                return Err(ApiError::Unauthorized(
                    "the Google account's email is not verified",
                ));
            }
            None => {
                if !identity.email_verified {
                    return Err(ApiError::Unauthorized(
                        "the Google account's email is not verified",
                    ));
                }
                let name = identity
                    .name
                    .clone()
                    .filter(|n| !n.trim().is_empty())
                    .unwrap_or_else(|| email.clone());
                let name = name.chars().take(100).collect();
                open_account(
                    &state,
                    email,
                    name,
                    None,
                    Some(identity.sub.clone()),
                    "google",
                )
                .await?
            }
        },
    };
    Ok(Json(signed_in(&state, &user, "google").await?))
}

/// Trade a refresh token for a new access token and the next refresh token. Using a refresh
/// token twice signs out every session of its family.
#[utoipa::path(post, path = "/api/auth/refresh", tag = "auth", request_body = RefreshRequest,
    responses((status = 200, body = RefreshResponse), (status = 401, body = Problem)))]
#[tracing::instrument(skip_all, err)]
async fn refresh(
    State(state): State<AppState>,
    Json(body): Json<RefreshRequest>,
) -> Result<Json<RefreshResponse>, ApiError> {
    use secrecy::ExposeSecret;
    let hash = secret_hash(body.refresh_token.expose_secret());
    match state
        .store
        .use_refresh_token(&hash, OffsetDateTime::now_utc())
        .await?
    {
        RefreshUse::Rotated { user_id, family } => {
            let user = state
                .store
                .user(user_id)
                .await
                .map_err(|_| ApiError::Unauthorized("the account no longer exists"))?;
            let refresh_token = new_refresh_token(&state, user.id, family).await?;
            Ok(Json(RefreshResponse {
                token: state.tokens.issue(&user)?,
                expires_in: state.tokens.ttl_secs(),
                refresh_token,
                success: true,
            }))
        }
        RefreshUse::Reused { user_id } => {
            tracing::warn!(%user_id, "a used refresh token was presented again; its family is revoked");
            state
                .store
                .record_event(Some(user_id), None, "auth.refresh_reuse", json!({}))
                .await?;
            Err(ApiError::Unauthorized(
                "the refresh token was already used; sign in again",
            ))
        }
        RefreshUse::Invalid => Err(ApiError::Unauthorized(
            "the refresh token is invalid or has expired",
        )),
    }
}

/// End a session: its refresh token family is revoked. Answers success for unknown tokens too.
#[utoipa::path(post, path = "/api/auth/signout", tag = "auth", request_body = RefreshRequest,
    responses((status = 200, body = Success)))]
#[tracing::instrument(skip_all, err)]
async fn signout(
    State(state): State<AppState>,
    Json(body): Json<RefreshRequest>,
) -> Result<Json<Success>, ApiError> {
    use secrecy::ExposeSecret;
    let hash = secret_hash(body.refresh_token.expose_secret());
    if let RefreshUse::Rotated { family, user_id } = state
        .store
        .use_refresh_token(&hash, OffsetDateTime::now_utc())
        .await?
    {
        state.store.revoke_refresh_family(family).await?;
        state
            .store
            .record_event(Some(user_id), None, "auth.signout", json!({}))
            .await?;
    }
    Ok(Json(Success {
        success: true,
        message: None,
    }))
}

/// Ask for a password-reset mail. The answer is the same whether or not the email has an
/// account.
#[utoipa::path(post, path = "/api/auth/password-reset", tag = "auth", request_body = ResetRequest,
    responses((status = 202, body = Success), (status = 429, body = Problem)))]
#[tracing::instrument(skip_all, err)]
async fn request_reset(
    State(state): State<AppState>,
    ip: ClientIp,
    Json(body): Json<ResetRequest>,
) -> Result<(StatusCode, Json<Success>), ApiError> {
    limit_auth_attempts(&state, ip).await?;
    if let Ok(email) = normalize_email(&body.email) {
        // The lookup and the mail happen after the answer, so its timing says nothing.
        let state = state.clone();
        tokio::spawn(async move {
            if let Err(e) = send_reset(&state, &email).await {
                tracing::error!(error = %e, "sending a password reset failed");
            }
        });
    }
    Ok((
        StatusCode::ACCEPTED,
        Json(Success {
            success: true,
            message: Some("if the email has an account, a reset link is on its way".into()),
        }),
    ))
}

/// Set a new password with the token from a reset mail. Signs out every session.
#[utoipa::path(post, path = "/api/auth/password-reset/confirm", tag = "auth", request_body = ResetConfirm,
    responses((status = 200, body = Success), (status = 400, body = Problem), (status = 422, body = Problem)))]
#[tracing::instrument(skip_all, err)]
async fn confirm_reset(
    State(state): State<AppState>,
    ip: ClientIp,
    Json(body): Json<ResetConfirm>,
) -> Result<Json<Success>, ApiError> {
    use secrecy::ExposeSecret;
    limit_auth_attempts(&state, ip).await?;
    check_password(&body.password)?;
    let hash = secret_hash(body.token.expose_secret());
    let user_id = state
        .store
        .consume_reset_token(&hash, OffsetDateTime::now_utc())
        .await?
        .ok_or(ApiError::InvalidToken)?;
    let password_hash = state.passwords.hash(&body.password).await?;
    state
        .store
        .update_user(
            user_id,
            UserPatch {
                password_hash: Some(password_hash),
                ..UserPatch::default()
            },
        )
        .await?;
    state.store.revoke_user_refresh_tokens(user_id).await?;
    forget_user(&state, user_id).await;
    state
        .store
        .record_event(Some(user_id), None, "auth.password_reset", json!({}))
        .await?;
    Ok(Json(Success {
        success: true,
        message: Some("password changed; sign in again".into()),
    }))
}

/// The signed-in account.
#[utoipa::path(get, path = "/api/auth/me", tag = "auth", security(("bearer" = []), ("api_key" = [])),
    responses((status = 200, body = MeResponse), (status = 401, body = Problem)))]
async fn me(user: CurrentUser) -> Json<MeResponse> {
    Json(MeResponse {
        user: UserView::of(&user.user),
        success: true,
    })
}

/// Creates an account on the free plan with the configured trial, logs the sign-up and queues
/// the welcome mail. A taken email is a conflict (from the store's unique index, so two
/// simultaneous sign-ups cannot both pass a check).
async fn open_account(
    state: &AppState,
    email: String,
    name: String,
    password_hash: Option<String>,
    google_sub: Option<String>,
    method: &str,
) -> Result<User, ApiError> {
    let trial_ends_at = (state.settings.trial_days > 0)
        .then(|| OffsetDateTime::now_utc() + time::Duration::days(state.settings.trial_days));
    let user = state
        .store
        .create_user(NewUser {
            email,
            name,
            password_hash,
            google_sub,
            role: Role::User,
            plan: Plan::Free,
            trial_ends_at,
        })
        .await
        .map_err(|e| match e {
            orrery_core::store::StoreError::Conflict(_) => {
                ApiError::Conflict("an account with this email already exists".into())
            }
            other => other.into(),
        })?;
    state
        .store
        .record_event(
            Some(user.id),
            None,
            "auth.signup",
            json!({"method": method}),
        )
        .await?;
    welcome(state, &user).await;
    Ok(user)
}

/// Records a sign-in (activity, log, metric) and opens a session.
async fn signed_in(state: &AppState, user: &User, method: &str) -> Result<AuthResponse, ApiError> {
    state
        .store
        .touch_user(user.id, OffsetDateTime::now_utc())
        .await?;
    state
        .store
        .record_event(
            Some(user.id),
            None,
            "auth.signin",
            json!({"method": method}),
        )
        .await?;
    state.metrics.signins.inc();
    session(state, user).await
}

async fn session(state: &AppState, user: &User) -> Result<AuthResponse, ApiError> {
    let refresh_token = new_refresh_token(state, user.id, Uuid::new_v4()).await?;
    Ok(AuthResponse {
        user: UserView::of(user),
        token: state.tokens.issue(user)?,
        expires_in: state.tokens.ttl_secs(),
        refresh_token,
        success: true,
    })
}

async fn new_refresh_token(state: &AppState, user: Uuid, family: Uuid) -> Result<String, ApiError> {
    let token = random_token(REFRESH_PREFIX);
    let expires =
        OffsetDateTime::now_utc() + time::Duration::days(state.settings.refresh_token_days);
    state
        .store
        .create_refresh_token(user, family, &secret_hash(&token), expires)
        .await?;
    Ok(token)
}

async fn send_reset(state: &AppState, email: &str) -> anyhow::Result<()> {
    let Some(user) = state.store.user_by_email(email).await? else {
        return Ok(());
    };
    let token = random_token(RESET_PREFIX);
    let expires =
        OffsetDateTime::now_utc() + time::Duration::minutes(state.settings.reset_token_minutes);
    state
        .store
        .create_reset_token(user.id, &secret_hash(&token), expires)
        .await?;
    let link = format!(
        "{}/reset-password?token={token}",
        state.settings.public_url.trim_end_matches('/')
    );
    enqueue(
        state,
        NewEmail {
            user_id: Some(user.id),
            to: user.email.clone(),
            template: "password_reset".into(),
            variables: json!({
                "name": user.name,
                "reset_url": link,
                "expires_in_minutes": state.settings.reset_token_minutes,
            }),
            dedupe_key: None,
        },
    )
    .await;
    state
        .store
        .record_event(
            Some(user.id),
            None,
            "auth.password_reset_requested",
            json!({}),
        )
        .await?;
    Ok(())
}

async fn welcome(state: &AppState, user: &User) {
    enqueue(
        state,
        NewEmail {
            user_id: Some(user.id),
            to: user.email.clone(),
            template: "welcome".into(),
            variables: json!({
                "name": user.name,
                "trial_ends_at": user.trial_ends_at.map(mail_date).unwrap_or_default(),
                "app_url": state.settings.public_url.trim_end_matches('/'),
            }),
            dedupe_key: Some(format!("welcome:{}", user.id)),
        },
    )
    .await;
}

/// A lowercased, trimmed email of a plausible shape.
pub fn normalize_email(raw: &str) -> Result<String, ApiError> {
    let email = raw.trim().to_lowercase();
    let bad = |m: &str| Err(ApiError::field("email", m));
    if email.is_empty() || email.len() > 254 {
        return bad("must be an email address of at most 254 characters");
    }
    let Some((local, domain)) = email.split_once('@') else {
        return bad("must be an email address like name@example.com");
    };
    if local.is_empty()
        || domain.len() < 3
        || !domain.contains('.')
        || domain.contains('@')
        || domain.starts_with('.')
        || domain.ends_with('.')
    {
        return bad("must be an email address like name@example.com");
    }
    if email.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return bad("must not contain spaces");
    }
    Ok(email)
}

/// A trimmed display name of 1 to 100 characters.
pub fn check_name(raw: &str) -> Result<String, ApiError> {
    let name = raw.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(ApiError::field("name", "must be 1 to 100 characters"));
    }
    if name.chars().any(char::is_control) {
        return Err(ApiError::field(
            "name",
            "must not contain control characters",
        ));
    }
    Ok(name.to_owned())
}

/// 8 to 256 characters, not only spaces.
pub fn check_password(password: &SecretString) -> Result<(), ApiError> {
    use secrecy::ExposeSecret;
    let p = password.expose_secret();
    let n = p.chars().count();
    if !(8..=256).contains(&n) || p.trim().is_empty() {
        return Err(ApiError::field("password", "must be 8 to 256 characters"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_normalized_or_refused() {
        assert_eq!(
            normalize_email("  Ada@Example.COM ").unwrap(),
            "ada@example.com"
        );
        for bad in [
            "",
            "ada",
            "ada@",
            "@example.com",
            "ada@example",
            "a da@example.com",
            "a@b@c.com",
            "ada@.com",
        ] {
            assert!(normalize_email(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn names_and_passwords_have_bounds() {
        assert_eq!(check_name("  Ada ").unwrap(), "Ada");
        assert!(check_name("").is_err());
        assert!(check_name(&"x".repeat(101)).is_err());
        assert!(check_name("a\u{0}b").is_err());
        assert!(check_password(&SecretString::from("short")).is_err());
        assert!(check_password(&SecretString::from("        ")).is_err());
        assert!(check_password(&SecretString::from("long enough")).is_ok());
    }
}

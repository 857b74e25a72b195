//! `/api/auth`: sign-up, sign-in (password or Google), refresh with rotation and reuse
//! detection, sign-out, password reset — thin handlers over [`Accounts`]. No response or
//! timing tells whether an email has an account, except sign-up's conflict, which cannot be
//! avoided while it returns a session.
//!
//! Browsers keep the refresh token out of reach of page scripts: a request that carries
//! `X-Refresh-Cookie: 1` gets it as an `HttpOnly; Secure; SameSite=Strict` cookie scoped to
//! `/api/auth` instead of in the body, and refresh and sign-out then read it from the cookie
//! (after checking that `Origin` is this server's). API clients keep sending it in the body.

use axum::extract::State;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use orrery_core::Plan;
use orrery_core::store::{Role, Theme, User};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::http::AppState;
use crate::http::error::{ApiError, Problem};
use crate::http::extract::{ClientIp, CurrentUser, Json, effective_plan, limit_auth_attempts};
use crate::services::accounts::{Accounts, Session};

/// The refresh cookie's name.
pub const REFRESH_COOKIE: &str = "orrery_refresh";
/// The header by which a browser client asks for the refresh token as a cookie.
pub const REFRESH_COOKIE_HEADER: &str = "x-refresh-cookie";

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
    /// When the account last changed.
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
    /// How it signs in: `email` (a password), `google`, or `email+google` (both linked).
    #[schema(example = "email")]
    pub provider: String,
    /// The console's colours: `light`, `dark` or `system`.
    #[schema(value_type = crate::http::docs::AccountThemeName, example = "system")]
    pub theme: Theme,
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
            updated_at: user.updated_at,
            provider: match (user.password_hash.is_some(), user.google_sub.is_some()) {
                (true, true) => "email+google",
                (false, true) => "google",
                _ => "email",
            }
            .to_owned(),
            theme: user.theme,
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
    /// Opaque refresh token; single use, rotated on every refresh. Absent when the request
    /// asked for it as a cookie (`X-Refresh-Cookie: 1`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    /// Always true.
    pub success: bool,
}

/// `POST /api/auth/signup`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignupRequest {
    /// Email address (at most 254 characters; normalised with NFKC and lowercased, and refused
    /// with invisible characters or letters of several scripts in one part).
    #[schema(max_length = 254, pattern = "^[^@\u{0}]+@[^@\u{0}]+[.][^@\u{0}]+$")]
    pub email: String,
    /// 8 to 256 characters, not only spaces.
    #[schema(
        value_type = String,
        format = Password,
        min_length = 8,
        max_length = 256,
        pattern = "^[^\u{0}]*[^\u{0}\t\n\u{b}\u{c}\r \u{85}\u{a0}\u{1680}\u{2000}-\u{200a}\u{2028}\u{2029}\u{202f}\u{205f}\u{3000}][^\u{0}]*$"
    )]
    pub password: SecretString,
    /// Display name, 1 to 100 characters (trimmed, NFKC; no control or invisible characters,
    /// one script per word).
    #[schema(
        min_length = 1,
        max_length = 100,
        pattern = "^[^\u{0}-\u{1f}\u{7f}-\u{9f}]*[^\u{0}-\u{20}\u{7f}-\u{a0}\u{1680}\u{2000}-\u{200a}\u{2028}\u{2029}\u{202f}\u{205f}\u{3000}][^\u{0}-\u{1f}\u{7f}-\u{9f}]*$"
    )]
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
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefreshRequest {
    /// The refresh token. Browsers that sent `X-Refresh-Cookie: 1` leave it out and send the
    /// refresh cookie instead; without that header it is required (422 when missing).
    #[schema(value_type = String, required = true)]
    pub refresh_token: Option<SecretString>,
}

/// A refreshed session.
#[derive(Debug, Serialize, ToSchema)]
pub struct RefreshResponse {
    /// A new access token.
    pub token: String,
    /// Seconds until it expires.
    pub expires_in: i64,
    /// The next refresh token; the one sent is now used up. Absent when it went into the
    /// cookie.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    /// The account.
    pub user: UserView,
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
    /// The new password (8 to 256 characters, not only spaces).
    #[schema(
        value_type = String,
        format = Password,
        min_length = 8,
        max_length = 256,
        pattern = "^[^\u{0}]*[^\u{0}\t\n\u{b}\u{c}\r \u{85}\u{a0}\u{1680}\u{2000}-\u{200a}\u{2028}\u{2029}\u{202f}\u{205f}\u{3000}][^\u{0}]*$"
    )]
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
    /// An email change waiting for its link to be followed (only in the answer that asked
    /// for it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pending_email: Option<String>,
}

/// Whether the client asked for the refresh token as a cookie, and the cookie it sent.
#[derive(Debug)]
pub struct RefreshCookie {
    wanted: bool,
    sent: Option<SecretString>,
    same_origin: bool,
    max_age_secs: i64,
}

impl axum::extract::FromRequestParts<AppState> for RefreshCookie {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let wanted = parts
            .headers
            .get(REFRESH_COOKIE_HEADER)
            .is_some_and(|v| v.as_bytes() == b"1");
        let sent = parts
            .headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .filter_map(|pair| pair.trim().split_once('='))
            .find(|(name, _)| *name == REFRESH_COOKIE)
            .map(|(_, value)| SecretString::from(value.to_owned()));
        Ok(RefreshCookie {
            wanted,
            sent,
            same_origin: same_origin(&parts.headers, &state.settings.cors_origins),
            max_age_secs: state.settings.refresh_token_days.saturating_mul(86_400),
        })
    }
}

/// Whether `Origin` names this server (its `Host`) or a configured CORS origin. A browser
/// always sends `Origin` on a POST, so a missing one is refused too.
fn same_origin(headers: &HeaderMap, allowed: &[String]) -> bool {
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    if allowed.iter().any(|a| a == origin) {
        return true;
    }
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok());
    let origin_host = origin
        .strip_prefix("https://")
        .or_else(|| origin.strip_prefix("http://"));
    matches!((origin_host, host), (Some(o), Some(h)) if o.eq_ignore_ascii_case(h))
}

impl RefreshCookie {
    /// The refresh token of a request: the body's, or the cookie's when the client asked for
    /// cookies and the request comes from this origin.
    fn token(&self, body: Option<SecretString>) -> Result<SecretString, ApiError> {
        if let Some(token) = body {
            return Ok(token);
        }
        if !self.wanted {
            return Err(ApiError::InvalidBody {
                status: StatusCode::UNPROCESSABLE_ENTITY,
                detail: "missing field `refresh_token` (or send X-Refresh-Cookie: 1 with the \
                         refresh cookie)"
                    .into(),
            });
        }
        if !self.same_origin {
            return Err(ApiError::Forbidden(
                "the refresh cookie is only accepted from this server's own pages",
            ));
        }
        self.sent
            .clone()
            .ok_or(ApiError::Unauthorized("no session: sign in"))
    }

    /// The response with the refresh token as a cookie (and not in the body) when wanted.
    pub(crate) fn respond<T: Serialize>(
        &self,
        status: StatusCode,
        token: &SecretString,
        body: impl FnOnce(Option<String>) -> T,
    ) -> Response {
        if !self.wanted {
            return (status, Json(body(Some(token.expose_secret().to_owned())))).into_response();
        }
        let mut response = (status, Json(body(None))).into_response();
        self.set_cookie(&mut response, token.expose_secret(), self.max_age_secs);
        response
    }

    /// Clears the refresh cookie in `response` when the client keeps its token there.
    pub(crate) fn clear(&self, response: &mut Response) {
        if self.wanted {
            self.set_cookie(response, "", 0);
        }
    }

    fn set_cookie(&self, response: &mut Response, value: &str, max_age: i64) {
        let cookie = format!(
            "{REFRESH_COOKIE}={value}; Path=/api/auth; Max-Age={max_age}; HttpOnly; Secure; SameSite=Strict"
        );
        if let Ok(v) = HeaderValue::from_str(&cookie) {
            response.headers_mut().append(header::SET_COOKIE, v);
        }
    }
}

pub(crate) fn session_body(session: &Session) -> impl FnOnce(Option<String>) -> AuthResponse + '_ {
    move |refresh_token| AuthResponse {
        user: UserView::of(&session.user),
        token: session.access_token.clone(),
        expires_in: session.expires_in,
        refresh_token,
        success: true,
    }
}

/// Create an account and sign in. New accounts try the pro plan for free.
#[utoipa::path(post, path = "/api/auth/signup", tag = "auth", request_body = SignupRequest,
    responses((status = 201, body = AuthResponse), (status = 409, description = "Email taken", body = Problem),
              (status = 422, body = Problem), (status = 429, body = Problem),
              (status = 503, description = "Too many passwords being hashed; retry", body = Problem)))]
#[tracing::instrument(skip_all, err(level = "info"))]
async fn signup(
    State(accounts): State<Accounts>,
    State(state): State<AppState>,
    ip: ClientIp,
    cookie: RefreshCookie,
    Json(body): Json<SignupRequest>,
) -> Result<Response, ApiError> {
    limit_auth_attempts(&state, ip).await?;
    let session = accounts
        .sign_up(&body.email, &body.name, body.password)
        .await?;
    Ok(cookie.respond(
        StatusCode::CREATED,
        &session.refresh_token,
        session_body(&session),
    ))
}

/// Sign in with email and password. After 5 failures for one account, each attempt waits
/// twice as long as the last (at most a minute): a 429 says how long.
#[utoipa::path(post, path = "/api/auth/signin", tag = "auth", request_body = SigninRequest,
    responses((status = 200, body = AuthResponse), (status = 401, body = Problem), (status = 429, body = Problem),
              (status = 503, description = "Too many sign-ins being checked; retry", body = Problem)))]
#[tracing::instrument(skip_all, err(level = "info"))]
async fn signin(
    State(accounts): State<Accounts>,
    State(state): State<AppState>,
    ip: ClientIp,
    cookie: RefreshCookie,
    Json(body): Json<SigninRequest>,
) -> Result<Response, ApiError> {
    limit_auth_attempts(&state, ip).await?;
    let session = accounts.sign_in(&body.email, &body.password).await?;
    Ok(cookie.respond(
        StatusCode::OK,
        &session.refresh_token,
        session_body(&session),
    ))
}

/// Sign in (or sign up) with a Google ID token.
#[utoipa::path(post, path = "/api/auth/google", tag = "auth", request_body = GoogleRequest,
    responses((status = 200, body = AuthResponse), (status = 401, body = Problem), (status = 429, body = Problem),
              (status = 503, description = "Google sign-in is not configured on this server", body = Problem)))]
#[tracing::instrument(skip_all, err(level = "info"))]
async fn google(
    State(accounts): State<Accounts>,
    State(state): State<AppState>,
    ip: ClientIp,
    cookie: RefreshCookie,
    Json(body): Json<GoogleRequest>,
) -> Result<Response, ApiError> {
    limit_auth_attempts(&state, ip).await?;
    let verifier = state.google.as_ref().ok_or_else(|| {
        ApiError::Unavailable("Google sign-in is not configured on this server".into())
    })?;
    let identity = verifier.verify(&body.token).await?;
    let session = accounts.sign_in_google(identity).await?;
    Ok(cookie.respond(
        StatusCode::OK,
        &session.refresh_token,
        session_body(&session),
    ))
}

/// Trade a refresh token for a new access token and the next refresh token. Of concurrent
/// uses of one token one wins and the others get 401; using a token again later signs out
/// every session of its family.
#[utoipa::path(post, path = "/api/auth/refresh", tag = "auth", request_body = RefreshRequest,
    params(("X-Refresh-Cookie" = Option<String>, Header, description = "`1`: the refresh token travels in the refresh cookie")),
    responses((status = 200, body = RefreshResponse), (status = 401, body = Problem),
              (status = 403, description = "The refresh cookie was sent from another origin", body = Problem),
              (status = 422, body = Problem)))]
#[tracing::instrument(skip_all, err(level = "info"))]
async fn refresh(
    State(accounts): State<Accounts>,
    cookie: RefreshCookie,
    Json(body): Json<RefreshRequest>,
) -> Result<Response, ApiError> {
    let token = cookie.token(body.refresh_token)?;
    let session = accounts.refresh(&token).await?;
    Ok(
        cookie.respond(StatusCode::OK, &session.refresh_token, |refresh_token| {
            RefreshResponse {
                token: session.access_token.clone(),
                expires_in: session.expires_in,
                refresh_token,
                user: UserView::of(&session.user),
                success: true,
            }
        }),
    )
}

/// End a session: its refresh token family is revoked (and the refresh cookie cleared), and
/// the access token sent as `Authorization: Bearer …`, if any, stops working at once on every
/// instance. Answers success for unknown tokens too.
#[utoipa::path(post, path = "/api/auth/signout", tag = "auth", request_body = RefreshRequest,
    params(("X-Refresh-Cookie" = Option<String>, Header, description = "`1`: the refresh token travels in the refresh cookie")),
    responses((status = 200, body = Success),
              (status = 403, description = "The refresh cookie was sent from another origin", body = Problem),
              (status = 422, body = Problem)))]
#[tracing::instrument(skip_all, err(level = "info"))]
async fn signout(
    State(accounts): State<Accounts>,
    headers: HeaderMap,
    cookie: RefreshCookie,
    Json(body): Json<RefreshRequest>,
) -> Result<Response, ApiError> {
    // The access token sent along, if any, ends now too (not at its expiry).
    if let Some(access) = crate::http::extract::credential(&headers)
        .filter(|c| !c.starts_with(crate::auth::API_KEY_PREFIX))
        && let Ok(claims) = accounts.tokens().verify(access)
    {
        accounts.revoke_access(&claims).await;
    }
    let token = match cookie.token(body.refresh_token) {
        Ok(token) => Some(token),
        // Signing out without a session is fine.
        Err(ApiError::Unauthorized(_)) => None,
        Err(e) => return Err(e),
    };
    if let Some(token) = token {
        accounts.sign_out(&token).await?;
    }
    let mut response = Json(Success {
        success: true,
        message: None,
    })
    .into_response();
    cookie.clear(&mut response);
    Ok(response)
}

/// Ask for a password-reset mail. The answer is the same whether or not the email has an
/// account.
#[utoipa::path(post, path = "/api/auth/password-reset", tag = "auth", request_body = ResetRequest,
    responses((status = 202, description = "The mail is queued when the email has an account", body = Success),
              (status = 422, body = Problem), (status = 429, body = Problem),
              (status = 503, description = "The mail could not be queued; try again", body = Problem)))]
#[tracing::instrument(skip_all, err(level = "info"))]
async fn request_reset(
    State(accounts): State<Accounts>,
    State(state): State<AppState>,
    ip: ClientIp,
    Json(body): Json<ResetRequest>,
) -> Result<(StatusCode, Json<Success>), ApiError> {
    limit_auth_attempts(&state, ip).await?;
    accounts.request_reset(&body.email).await?;
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
    responses((status = 200, body = Success), (status = 400, description = "The token is unknown, used or expired", body = Problem),
              (status = 422, body = Problem), (status = 429, body = Problem), (status = 503, body = Problem)))]
#[tracing::instrument(skip_all, err(level = "info"))]
async fn confirm_reset(
    State(accounts): State<Accounts>,
    State(state): State<AppState>,
    ip: ClientIp,
    Json(body): Json<ResetConfirm>,
) -> Result<Json<Success>, ApiError> {
    limit_auth_attempts(&state, ip).await?;
    accounts.confirm_reset(&body.token, &body.password).await?;
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
        pending_email: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_refresh_cookie_is_only_taken_from_this_origin() {
        let mut h = HeaderMap::new();
        h.insert(header::HOST, HeaderValue::from_static("127.0.0.1:8080"));
        assert!(!same_origin(&h, &[]));
        h.insert(
            header::ORIGIN,
            HeaderValue::from_static("http://127.0.0.1:8080"),
        );
        assert!(same_origin(&h, &[]));
        h.insert(
            header::ORIGIN,
            HeaderValue::from_static("https://evil.example"),
        );
        assert!(!same_origin(&h, &[]));
        assert!(same_origin(&h, &["https://evil.example".to_owned()]));
        h.insert(header::ORIGIN, HeaderValue::from_static("null"));
        assert!(!same_origin(&h, &[]));
    }
}

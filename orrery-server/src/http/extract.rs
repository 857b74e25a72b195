//! Extractors. Access rules are extractors, so a handler's signature says who may call it:
//! [`CurrentUser`] (an access token or an API key), [`MaybeUser`] (anyone; public data),
//! [`AdminUser`]. Body, path and query extractors answer bad input as problems.

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{ConnectInfo, FromRequest, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use orrery_core::Plan;
use orrery_core::plan::{LimitKind, TrialRules};
use orrery_core::store::{Role, User};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::auth::{API_KEY_PREFIX, secret_hash};
use crate::http::AppState;
use crate::http::error::ApiError;
use crate::settings::Settings;
use crate::shared::Window;

/// A JSON body; a malformed one is a problem, like every other error. A string anywhere in the
/// body that holds NUL (`\u0000`) is refused here, for every route at once: PostgreSQL cannot
/// store it in text or jsonb, and no field of the API has a use for it.
#[derive(Debug, Clone, Copy, Default)]
pub struct Json<T>(pub T);

impl<T, S> FromRequest<S> for Json<T>
where
    T: serde::de::DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Json<T>, ApiError> {
        if !json_content_type(req.headers()) {
            return Err(ApiError::InvalidBody {
                status: axum::http::StatusCode::UNSUPPORTED_MEDIA_TYPE,
                detail: "Expected request with `Content-Type: application/json`".into(),
            });
        }
        let bytes = axum::body::Bytes::from_request(req, state)
            .await
            .map_err(|rejection| ApiError::InvalidBody {
                status: rejection.status(),
                detail: rejection.body_text(),
            })?;
        if has_nul_escape(&bytes) {
            return Err(ApiError::InvalidBody {
                status: axum::http::StatusCode::UNPROCESSABLE_ENTITY,
                detail: "strings must not contain the NUL character (\\u0000)".into(),
            });
        }
        let axum::Json(value) = axum::Json::<T>::from_bytes(&bytes)?;
        Ok(Json(value))
    }
}

/// An optional body: `None` when the request has no body and no `Content-Type` (a plain
/// `DELETE`); otherwise read as [`Json`], with its errors.
impl<T, S> axum::extract::OptionalFromRequest<S> for Json<T>
where
    T: serde::de::DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(
        req: axum::extract::Request,
        state: &S,
    ) -> Result<Option<Json<T>>, ApiError> {
        if req.headers().contains_key(header::CONTENT_TYPE) {
            return <Json<T> as FromRequest<S>>::from_request(req, state)
                .await
                .map(Some);
        }
        let bytes = axum::body::Bytes::from_request(req, state)
            .await
            .map_err(|rejection| ApiError::InvalidBody {
                status: rejection.status(),
                detail: rejection.body_text(),
            })?;
        if bytes.is_empty() {
            Ok(None)
        } else {
            Err(ApiError::InvalidBody {
                status: axum::http::StatusCode::UNSUPPORTED_MEDIA_TYPE,
                detail: "Expected request with `Content-Type: application/json`".into(),
            })
        }
    }
}

/// Whether the request says its body is JSON (`application/json` or `application/*+json`).
fn json_content_type(headers: &HeaderMap) -> bool {
    let Some(value) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let essence = value.split(';').next().unwrap_or("").trim();
    let Some((kind, sub)) = essence.split_once('/') else {
        return false;
    };
    kind.eq_ignore_ascii_case("application")
        && (sub.eq_ignore_ascii_case("json")
            || sub.len() > 5 && sub[sub.len() - 5..].eq_ignore_ascii_case("+json"))
}

/// Whether JSON text holds a `\u0000` escape (the only way JSON can carry NUL): escapes are
/// skipped pairwise, so an escaped backslash followed by `u0000` is text, not NUL.
pub fn has_nul_escape(json: &[u8]) -> bool {
    let mut i = 0;
    while let Some(at) = json[i..].iter().position(|&b| b == b'\\') {
        let at = i + at;
        if json.get(at + 1) == Some(&b'u') && json.get(at + 2..at + 6) == Some(&b"0000"[..]) {
            return true;
        }
        i = at + 2;
        if i >= json.len() {
            return false;
        }
    }
    false
}

impl<T: serde::Serialize> IntoResponse for Json<T> {
    fn into_response(self) -> Response {
        axum::Json(self.0).into_response()
    }
}

/// Path parameters; a malformed one (or one holding NUL) is a 400 problem.
#[derive(Debug)]
pub struct Path<T>(pub T);

impl<T, S> FromRequestParts<S> for Path<T>
where
    T: serde::de::DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Path<T>, ApiError> {
        if has_encoded_nul(parts.uri.path()) {
            return Err(ApiError::BadRequest(
                "invalid path: it must not contain the NUL character (%00)".into(),
            ));
        }
        let axum::extract::Path(value) =
            axum::extract::Path::<T>::from_request_parts(parts, state).await?;
        Ok(Path(value))
    }
}

/// Query parameters; a malformed one (or one holding NUL) is a 400 problem.
#[derive(Debug)]
pub struct Query<T>(pub T);

impl<T, S> FromRequestParts<S> for Query<T>
where
    T: serde::de::DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Query<T>, ApiError> {
        if parts.uri.query().is_some_and(has_encoded_nul) {
            return Err(ApiError::BadRequest(
                "invalid query: it must not contain the NUL character (%00)".into(),
            ));
        }
        let axum::extract::Query(value) =
            axum::extract::Query::<T>::from_request_parts(parts, state).await?;
        Ok(Query(value))
    }
}

/// Whether a URI part holds a percent-encoded NUL (a raw one cannot be in a URI).
fn has_encoded_nul(text: &str) -> bool {
    text.as_bytes()
        .windows(3)
        .any(|w| w[0] == b'%' && w[1] == b'0' && w[2] == b'0')
}

/// Who made an authenticated call, for the usage record written after the response.
#[derive(Clone, Copy, Debug)]
pub struct Caller {
    /// The account.
    pub user_id: Uuid,
    /// The API key, when one was used.
    pub api_key_id: Option<Uuid>,
}

/// Filled by [`CurrentUser`] (and the anonymous limit of [`MaybeUser`]) so the middleware that
/// runs after the handler can record who called and report the rate limits that applied.
#[derive(Clone, Debug, Default)]
pub struct CallerSlot(Arc<Mutex<Slot>>);

#[derive(Debug, Default)]
struct Slot {
    caller: Option<Caller>,
    limits: Limits,
}

/// The limits a request was counted against, for the `RateLimit` and `RateLimit-Policy`
/// response headers.
#[derive(Clone, Copy, Debug, Default)]
pub struct Limits {
    /// The per-minute request rate.
    pub rate: Option<Window>,
    /// The monthly API-call quota: (allowed, remaining, seconds until the month ends, the
    /// month's length in seconds).
    pub month: Option<(u64, u64, u64, u64)>,
}

impl Limits {
    /// The `RateLimit-Policy` and `RateLimit` header values (draft-ietf-httpapi-ratelimit-headers,
    /// structured-field lists), or `None` when no limit applied.
    pub fn headers(&self) -> Option<(String, String)> {
        let mut policy = Vec::new();
        let mut state = Vec::new();
        if let Some(w) = self.rate {
            policy.push(format!("\"minute\";q={};w={}", w.limit, w.seconds));
            state.push(format!("\"minute\";r={};t={}", w.remaining, w.reset));
        }
        if let Some((allowed, remaining, reset, seconds)) = self.month {
            policy.push(format!("\"month\";q={allowed};w={seconds}"));
            state.push(format!("\"month\";r={remaining};t={reset}"));
        }
        (!policy.is_empty()).then(|| (policy.join(", "), state.join(", ")))
    }
}

impl CallerSlot {
    /// The caller, once authenticated.
    pub fn get(&self) -> Option<Caller> {
        self.0.lock().ok().and_then(|s| s.caller)
    }

    /// The limits the request was counted against.
    pub fn limits(&self) -> Limits {
        self.0.lock().map(|s| s.limits).unwrap_or_default()
    }

    fn set(&self, caller: Caller) {
        if let Ok(mut slot) = self.0.lock() {
            slot.caller = Some(caller);
        }
    }

    fn update(&self, change: impl FnOnce(&mut Limits)) {
        if let Ok(mut slot) = self.0.lock() {
            change(&mut slot.limits);
        }
    }
}

/// Counts a request against a per-minute rate, noting the outcome in the request's slot.
async fn count_rate(
    state: &AppState,
    parts: &Parts,
    key: &str,
    per_minute: u32,
) -> Result<(), ApiError> {
    let outcome = state
        .shared
        .hit(key, per_minute, Duration::from_secs(60))
        .await;
    let window = match outcome {
        Ok(window) => window,
        Err(refused) => refused.window,
    };
    if let Some(slot) = parts.extensions.get::<CallerSlot>() {
        slot.update(|l| l.rate = Some(window));
    }
    outcome.map(drop).map_err(|refused| ApiError::RateLimited {
        retry_after: refused.retry_after,
    })
}

/// An authenticated account, with the plan that applies to it right now.
#[derive(Clone, Debug)]
pub struct CurrentUser {
    /// The account.
    pub user: User,
    /// The plan whose limits apply (the trial's plan while a trial runs).
    pub plan: Plan,
    /// The API key used, if any.
    pub api_key_id: Option<Uuid>,
    /// API calls left this month under the plan's quota (this call counted); `None` when the
    /// quota is unlimited (or does not apply, as for admins).
    pub calls_remaining: Option<u64>,
    /// When the caller signed in, in Unix milliseconds, if the access token came from that
    /// sign-in; `None` for a refreshed token or an API key.
    pub signed_in_ms: Option<i64>,
}

impl CurrentUser {
    /// The account id.
    pub fn id(&self) -> Uuid {
        self.user.id
    }
}

/// An authenticated admin.
#[derive(Clone, Debug)]
pub struct AdminUser(pub CurrentUser);

/// An authenticated account, or nobody (public data).
#[derive(Clone, Debug)]
pub struct MaybeUser(pub Option<CurrentUser>);

impl MaybeUser {
    /// The viewer's id, if any.
    pub fn id(&self) -> Option<Uuid> {
        self.0.as_ref().map(CurrentUser::id)
    }
}

/// The plan whose limits apply to `user` at `now`.
pub fn effective_plan(user: &User, now: OffsetDateTime) -> Plan {
    match user.trial_ends_at {
        Some(ends) if now < ends => user.plan.max(TrialRules::default().plan),
        _ => user.plan,
    }
}

impl FromRequestParts<AppState> for CurrentUser {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<CurrentUser, ApiError> {
        let Some(credential) = credential(&parts.headers) else {
            return Err(ApiError::Unauthorized(
                "send an access token or API key as `Authorization: Bearer …`",
            ));
        };
        let (user_id, api_key_id, signed_in_ms) = if credential.starts_with(API_KEY_PREFIX) {
            let key = api_key(state, credential).await?;
            (key.0, Some(key.1), None)
        } else {
            let claims = state.tokens.verify(credential)?;
            state.accounts.check_access(&claims).await?;
            (claims.sub, None, claims.signed_in_ms())
        };
        let user = state
            .accounts
            .cached(user_id)
            .await?
            .ok_or(ApiError::Unauthorized("the account no longer exists"))?;
        let now = OffsetDateTime::now_utc();
        let plan = effective_plan(&user, now);
        // Operators are held to the best plan's rate and to no monthly quota: a busy support
        // day must not lock the admin console.
        let admin = user.role == Role::Admin;
        let limits = if admin {
            Plan::Enterprise.limits()
        } else {
            plan.limits()
        };
        // Per key (or per account for access tokens), per minute.
        let rate_key = match api_key_id {
            Some(key) => format!("key:{key}"),
            None => format!("user:{user_id}"),
        };
        count_rate(
            state,
            parts,
            &rate_key,
            limits
                .requests_per_minute
                .saturating_mul(state.settings.limits_scale),
        )
        .await?;
        let mut calls_remaining = None;
        if let Some(allowed) = limits
            .api_calls_per_month
            .filter(|_| !admin)
            .map(|a| a.saturating_mul(u64::from(state.settings.limits_scale)))
        {
            let month_start = now
                .replace_day(1)
                .unwrap_or(now)
                .replace_time(time::Time::MIDNIGHT);
            let store = state.store.clone();
            let used = state
                .shared
                .count_quota(
                    &format!("{user_id}:{}-{:02}", now.year(), u8::from(now.month())),
                    Duration::from_secs(40 * 86_400),
                    async move {
                        store
                            .count_usage(user_id, None, month_start, now)
                            .await
                            .unwrap_or(0)
                    },
                )
                .await;
            let next_month = month_start
                + time::Duration::days(month_start.month().length(month_start.year()).into());
            let seconds = |d: time::Duration| d.whole_seconds().max(1) as u64;
            if let Some(slot) = parts.extensions.get::<CallerSlot>() {
                slot.update(|l| {
                    l.month = Some((
                        allowed,
                        allowed.saturating_sub(used),
                        seconds(next_month - now),
                        seconds(next_month - month_start),
                    ));
                });
            }
            if used > allowed {
                return Err(ApiError::PlanLimit(quota_exceeded(plan, allowed, used)));
            }
            calls_remaining = Some(allowed - used);
        }
        if let Some(slot) = parts.extensions.get::<CallerSlot>() {
            slot.set(crate::http::extract::Caller {
                user_id,
                api_key_id,
            });
        }
        Ok(CurrentUser {
            user,
            plan,
            api_key_id,
            calls_remaining,
            signed_in_ms,
        })
    }
}

/// The monthly quota problem: `allowed` is the plan's (scaled) quota.
fn quota_exceeded(plan: Plan, allowed: u64, used: u64) -> orrery_core::plan::LimitExceeded {
    let upgrade_to = Plan::ALL
        .into_iter()
        .filter(|p| *p > plan)
        .find(|p| p.limits().api_calls_per_month.is_none_or(|a| a > allowed));
    orrery_core::plan::LimitExceeded {
        kind: LimitKind::ApiCallsPerMonth,
        plan,
        allowed,
        needed: used,
        upgrade_to,
    }
}

impl FromRequestParts<AppState> for MaybeUser {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<MaybeUser, ApiError> {
        if credential(&parts.headers).is_none() {
            let ip = ClientIp::from_request_parts(parts, state).await?;
            count_rate(
                state,
                parts,
                &format!("ip:{}", ip.0),
                state.settings.anonymous_requests_per_minute,
            )
            .await?;
            return Ok(MaybeUser(None));
        }
        Ok(MaybeUser(Some(
            CurrentUser::from_request_parts(parts, state).await?,
        )))
    }
}

impl FromRequestParts<AppState> for AdminUser {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<AdminUser, ApiError> {
        let user = CurrentUser::from_request_parts(parts, state).await?;
        if user.user.role != Role::Admin {
            return Err(ApiError::Forbidden("this route is for administrators"));
        }
        Ok(AdminUser(user))
    }
}

/// The address of the client: the TCP peer, or the address a trusted proxy forwarded
/// (`crate::http::forwarded`), as the outermost middleware resolved it for the request.
#[derive(Clone, Copy, Debug)]
pub struct ClientIp(pub IpAddr);

impl ClientIp {
    /// The client of a request from `peer` with `headers`, under `settings`' trusted proxies.
    pub fn resolve(settings: &Settings, peer: Option<SocketAddr>, headers: &HeaderMap) -> ClientIp {
        let peer = peer.map_or(IpAddr::from([127, 0, 0, 1]), |p| p.ip());
        ClientIp(crate::http::forwarded::client_ip(settings, peer, headers))
    }
}

impl<S: Send + Sync> FromRequestParts<S> for ClientIp {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<ClientIp, ApiError> {
        if let Some(ip) = parts.extensions.get::<ClientIp>() {
            return Ok(*ip);
        }
        // Outside the application's middleware (a router under test): the TCP peer.
        let ip = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip())
            .unwrap_or(IpAddr::from([127, 0, 0, 1]));
        Ok(ClientIp(ip))
    }
}

/// Counts an attempt at a sensitive anonymous route (sign-in, sign-up, password reset) against
/// the stricter per-address limit.
pub async fn limit_auth_attempts(state: &AppState, ip: ClientIp) -> Result<(), ApiError> {
    state
        .shared
        .hit(
            &format!("auth:{}", ip.0),
            state.settings.auth_requests_per_minute,
            Duration::from_secs(60),
        )
        .await
        .map(drop)
        .map_err(|refused| ApiError::RateLimited {
            retry_after: refused.retry_after,
        })
}

/// The bearer token or API key of a request: `Authorization: Bearer …` or `X-API-Key: …`.
pub(crate) fn credential(headers: &HeaderMap) -> Option<&str> {
    if let Some(value) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    {
        let (scheme, token) = value.split_once(' ')?;
        return scheme
            .eq_ignore_ascii_case("bearer")
            .then(|| token.trim())
            .filter(|t| !t.is_empty());
    }
    headers
        .get("x-api-key")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|t| !t.is_empty())
}

/// How long an account or API key lookup is cached. Revoking a key or changing an account drops
/// its entry at once (in Redis for every instance); the TTL bounds staleness otherwise.
const AUTH_CACHE_TTL: Duration = Duration::from_secs(30);

/// The (user, key id) of a live API key.
async fn api_key(state: &AppState, key: &str) -> Result<(Uuid, Uuid), ApiError> {
    let hash = secret_hash(key);
    let cache_key = api_key_cache_key(&hash);
    if let Some(bytes) = state.shared.get(&cache_key).await
        && let Ok((user, id)) = serde_json::from_slice::<(Uuid, Uuid)>(&bytes)
    {
        // A revoked key stays cached for a while; the marker ends it at once everywhere.
        if state
            .shared
            .get(&crate::services::keys::revoked_key_marker(id))
            .await
            .is_some()
        {
            return Err(ApiError::Unauthorized(
                "the API key is invalid or has been revoked",
            ));
        }
        return Ok((user, id));
    }
    let found = state
        .store
        .api_key_by_hash(&hash)
        .await?
        .ok_or(ApiError::Unauthorized(
            "the API key is invalid or has been revoked",
        ))?;
    let _ = state
        .store
        .touch_api_key(found.id, OffsetDateTime::now_utc())
        .await;
    let value = serde_json::to_vec(&(found.user_id, found.id)).map_err(ApiError::internal)?;
    state.shared.set(&cache_key, value, AUTH_CACHE_TTL).await;
    Ok((found.user_id, found.id))
}

/// The cache key of an API key, by its hash.
pub fn api_key_cache_key(hash: &[u8; 32]) -> String {
    let hex: String = hash.iter().map(|b| format!("{b:02x}")).collect();
    format!("apikey:{hex}")
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    #[test]
    fn nul_escapes_are_found_and_escaped_backslashes_are_not() {
        assert!(has_nul_escape(br#"{"a":"x\u0000y"}"#));
        assert!(has_nul_escape(br#"["\u0000"]"#));
        assert!(has_nul_escape(br#"{"a":"\\\u0000"}"#));
        assert!(!has_nul_escape(br#"{"a":"\\u0000"}"#));
        assert!(!has_nul_escape(br#"{"a":"\u0001 \n"}"#));
        assert!(!has_nul_escape(b"\\"));
        assert!(!has_nul_escape(b""));
        assert!(has_encoded_nul("search=a%00b"));
        assert!(!has_encoded_nul("search=a%0Ab"));
    }

    #[test]
    fn json_content_types() {
        let mut h = HeaderMap::new();
        assert!(!json_content_type(&h));
        for (value, ok) in [
            ("application/json", true),
            ("application/json; charset=utf-8", true),
            ("application/merge-patch+json", true),
            ("text/json", false),
            ("application/jsonx", false),
        ] {
            h.insert(header::CONTENT_TYPE, HeaderValue::from_static(value));
            assert_eq!(json_content_type(&h), ok, "{value}");
        }
    }

    #[test]
    fn cached_accounts_never_hold_credentials() {
        let user = User {
            id: Uuid::nil(),
            email: "a@example.com".into(),
            name: "A".into(),
            password_hash: Some("$argon2id$secret".into()),
            google_sub: Some("g-1".into()),
            role: Role::User,
            plan: Plan::Pro,
            trial_ends_at: Some(OffsetDateTime::UNIX_EPOCH),
            billing_customer_id: None,
            created_at: OffsetDateTime::UNIX_EPOCH,
            last_seen_at: None,
            theme: Default::default(),
            updated_at: time::OffsetDateTime::UNIX_EPOCH,
        };
        let bytes = serde_json::to_vec(&user).unwrap();
        assert!(!String::from_utf8_lossy(&bytes).contains("argon2"));
        let back: User = serde_json::from_slice(&bytes).unwrap();
        assert_eq!((back.password_hash, back.google_sub), (None, None));
        assert_eq!(
            (back.plan, back.trial_ends_at),
            (Plan::Pro, user.trial_ends_at)
        );
    }

    #[test]
    fn credentials_come_from_bearer_or_api_key_headers() {
        let mut h = HeaderMap::new();
        assert_eq!(credential(&h), None);
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Bearer abc"),
        );
        assert_eq!(credential(&h), Some("abc"));
        h.insert(header::AUTHORIZATION, HeaderValue::from_static("bearer   "));
        assert_eq!(credential(&h), None);
        h.insert(header::AUTHORIZATION, HeaderValue::from_static("Basic abc"));
        assert_eq!(credential(&h), None);
        let mut h = HeaderMap::new();
        h.insert("x-api-key", HeaderValue::from_static("ork_x"));
        assert_eq!(credential(&h), Some("ork_x"));
    }
}

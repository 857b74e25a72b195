//! `/api/admin`: operator routes, refused (403) to everyone but admins — figures, accounts,
//! creating admins, system health, data export and the mail templates. Every call is itself
//! written to the monitoring log (`admin.*`, with the admin's id).

use std::time::Duration;

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use orrery_core::Plan;
use orrery_core::store::{
    EmailStatus, EmailTemplate, GraphFilter, Page, Role, UserFilter, UserPatch,
};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::OffsetDateTime;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::auth::random_token;
use crate::events::{AccountChanges, AuditEvent, Change, SignInMethod, record};
use crate::http::AppState;
use crate::http::auth::UserView;
use crate::http::error::{ApiError, Problem};
use crate::http::extract::{AdminUser, Json, Path, Query};
use crate::http::graphs::page;
use crate::mail::{MailError, check_template};
use crate::services::accounts::{AccountError, NewAccount};

/// How long the figures of `/api/admin/stats` are cached.
pub const STATS_TTL: Duration = Duration::from_secs(300);
const STATS_KEY: &str = "admin:stats";
/// How long one health check may take.
const CHECK_TIMEOUT: Duration = Duration::from_secs(5);

/// The routes of this module.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_users))
        .routes(routes!(update_user))
        .routes(routes!(export_user))
        .routes(routes!(create_admin))
        .routes(routes!(stats))
        .routes(routes!(health))
        .routes(routes!(list_templates))
        .routes(routes!(get_template, save_template))
}

/// Filters and paging.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct UserQuery {
    /// 1-based page (default 1).
    #[param(minimum = 1, maximum = 1000000)]
    pub page: Option<u32>,
    /// Items per page, 1 to 100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<u32>,
    /// Only this plan: free, pro or enterprise.
    #[param(inline, value_type = Option<crate::http::docs::PlanName>)]
    pub plan: Option<String>,
    /// Substring of email or name, at most 254 characters.
    #[param(max_length = 254)]
    pub search: Option<String>,
}

/// A page of accounts.
#[derive(Debug, Serialize, ToSchema)]
pub struct UserList {
    /// This page, newest first.
    pub users: Vec<UserView>,
    /// Accounts in all pages.
    pub total: u64,
    /// This page's number.
    pub page: u32,
    /// Number of pages.
    pub total_pages: u64,
}

/// `PUT /api/admin/users/{id}`: each field present is changed.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateUser {
    /// The plan paid for: free, pro or enterprise (for accounts billed outside Stripe).
    #[schema(value_type = Option<crate::http::docs::PlanName>, example = "pro")]
    pub plan: Option<String>,
    /// `user` or `admin`.
    #[schema(value_type = Option<crate::http::docs::RoleName>, example = "admin")]
    pub role: Option<String>,
    /// When the trial ends (RFC 3339), or `null` to end it now and remove it.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub trial_ends_at: Option<Value>,
}

/// An account after a change.
#[derive(Debug, Serialize, ToSchema)]
pub struct UserResponse {
    /// The account.
    pub user: UserView,
    /// Always true.
    pub success: bool,
}

/// `POST /api/admin/admins`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateAdmin {
    /// Email address (the rules of `SignupRequest.email`).
    #[schema(max_length = 254, pattern = "^[^@\u{0}]+@[^@\u{0}]+[.][^@\u{0}]+$")]
    pub email: String,
    /// Display name (the rules of `SignupRequest.name`).
    #[schema(
        min_length = 1,
        max_length = 100,
        pattern = "^[^\u{0}-\u{1f}\u{7f}-\u{9f}]*[^\u{0}-\u{20}\u{7f}-\u{a0}\u{1680}\u{2000}-\u{200a}\u{2028}\u{2029}\u{202f}\u{205f}\u{3000}][^\u{0}-\u{1f}\u{7f}-\u{9f}]*$"
    )]
    pub name: String,
    /// 8 to 256 characters, not only spaces; generated (and returned once) when left out.
    #[schema(
        value_type = Option<String>,
        format = Password,
        min_length = 8,
        max_length = 256,
        pattern = "^[^\u{0}]*[^\u{0}\t\n\u{b}\u{c}\r \u{85}\u{a0}\u{1680}\u{2000}-\u{200a}\u{2028}\u{2029}\u{202f}\u{205f}\u{3000}][^\u{0}]*$"
    )]
    pub password: Option<SecretString>,
}

/// A new administrator.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedAdmin {
    /// The account.
    pub user: UserView,
    /// The generated password, shown this once (absent when one was given).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    /// Always true.
    pub success: bool,
}

/// `GET /api/admin/stats` options.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct StatsQuery {
    /// Compute the figures now instead of answering from the 5-minute cache.
    pub refresh: Option<bool>,
}

/// Figures about the service, computed from the database and cached for 5 minutes.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Stats {
    /// Accounts.
    pub users: UserStats,
    /// Revenue, in cents of US dollars.
    pub revenue: RevenueStats,
    /// Use of the service.
    pub usage: UsageStats,
    /// When the figures were computed.
    #[serde(with = "time::serde::rfc3339")]
    pub generated_at: OffsetDateTime,
    /// Whether they come from the cache.
    pub cached: bool,
}

/// Account figures.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct UserStats {
    /// Every account.
    pub total: u64,
    /// Accounts that signed in or called the API in the last 30 days.
    pub active_last_30_days: u64,
    /// Accounts paying for the pro plan.
    pub pro_users: u64,
    /// Accounts paying for the enterprise plan.
    pub enterprise_users: u64,
    /// Accounts on the free plan with a trial running.
    pub trial_users: u64,
}

/// Revenue figures, in cents of US dollars at list prices.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct RevenueStats {
    /// Monthly recurring revenue: the monthly price of the plan of every subscription that
    /// grants its plan (active, trialing, past due), in cents.
    pub mrr: u64,
    /// Annual run rate: 12 × `mrr`, in cents.
    pub arr: u64,
    /// Growth of the account base over the last 30 days: accounts created in that time
    /// divided by the accounts that existed before it (0 when there were none).
    pub growth_rate: f64,
    /// The currency of `mrr` and `arr` (cents of it).
    pub currency: String,
    /// Subscriptions counted in `mrr`.
    pub active_subscriptions: u64,
}

/// Usage figures.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct UsageStats {
    /// Graphs of every account.
    pub total_graphs: u64,
    /// Authenticated API calls ever recorded.
    pub total_api_calls: u64,
    /// API calls in the last 30 days.
    pub api_calls_last_30_days: u64,
    /// Mean length of a session in the last 30 days, in seconds: a session is one account's
    /// run of API calls with no pause over 30 minutes, from its first call to its last.
    pub avg_session_duration: f64,
}

/// One part of the system as the health check found it.
#[derive(Debug, Serialize, ToSchema)]
pub struct Check {
    /// Whether it answers (or is not needed).
    pub ok: bool,
    /// Whether it is configured at all.
    pub configured: bool,
    /// What was found, for people.
    pub detail: String,
}

/// The mail queue.
#[derive(Debug, Serialize, ToSchema)]
pub struct OutboxHealth {
    /// Mails waiting to be sent (or being sent).
    pub pending: u64,
    /// Mails given up on.
    pub failed: u64,
    /// Mails sent.
    pub sent: u64,
}

/// The system's health.
#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    /// `ok` when every configured part answers, else `degraded`.
    pub status: String,
    /// The server's version.
    pub version: String,
    /// Seconds since this instance started.
    pub uptime_seconds: u64,
    /// The database (`detail` names the backend).
    pub database: Check,
    /// Redis, when configured.
    pub redis: Check,
    /// The SMTP server, when configured (else mails go to the log).
    pub smtp: Check,
    /// The Stripe API, when configured (its configured prices are fetched).
    pub stripe: Check,
    /// The mail queue.
    pub outbox: OutboxHealth,
}

/// Every mail template.
#[derive(Debug, Serialize, ToSchema)]
pub struct TemplateList {
    /// By name.
    pub templates: Vec<TemplateView>,
    /// Always true.
    pub success: bool,
}

/// A mail template: minijinja syntax; HTML is auto-escaped, subject and text are not.
#[derive(Debug, Serialize, ToSchema)]
pub struct TemplateView {
    /// Its name (`welcome`, `password_reset`…).
    pub name: String,
    /// Subject template.
    pub subject: String,
    /// HTML body template.
    pub html: String,
    /// Plain-text body template.
    pub text: String,
    /// The variables the template may use.
    pub variables: Vec<String>,
}

/// `PUT /api/admin/email-templates/{name}`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SaveTemplate {
    /// Subject template (one line), 1 to 500 characters, not blank.
    #[schema(
        min_length = 1,
        max_length = 500,
        pattern = "^[^\u{0}]*[^\u{0}\t\n\u{b}\u{c}\r \u{85}\u{a0}\u{1680}\u{2000}-\u{200a}\u{2028}\u{2029}\u{202f}\u{205f}\u{3000}][^\u{0}]*$"
    )]
    pub subject: String,
    /// HTML body template, 1 to 100,000 characters, not blank.
    #[schema(
        min_length = 1,
        max_length = 100000,
        pattern = "^[^\u{0}]*[^\u{0}\t\n\u{b}\u{c}\r \u{85}\u{a0}\u{1680}\u{2000}-\u{200a}\u{2028}\u{2029}\u{202f}\u{205f}\u{3000}][^\u{0}]*$"
    )]
    pub html: String,
    /// Plain-text body template, 1 to 100,000 characters, not blank.
    #[schema(
        min_length = 1,
        max_length = 100000,
        pattern = "^[^\u{0}]*[^\u{0}\t\n\u{b}\u{c}\r \u{85}\u{a0}\u{1680}\u{2000}-\u{200a}\u{2028}\u{2029}\u{202f}\u{205f}\u{3000}][^\u{0}]*$"
    )]
    pub text: String,
    /// The variables the templates may use (at most 50); a template using another is refused.
    #[schema(max_items = 50)]
    pub variables: Vec<String>,
}

/// List accounts (admins only).
#[utoipa::path(get, path = "/api/admin/users", tag = "admin", params(UserQuery), security(("bearer" = []), ("api_key" = [])),
    responses((status = 200, body = UserList), (status = 403, body = Problem), (status = 422, body = Problem)))]
#[tracing::instrument(skip_all, fields(admin_id = %admin.0.id()), err)]
async fn list_users(
    State(state): State<AppState>,
    admin: AdminUser,
    Query(q): Query<UserQuery>,
) -> Result<Json<UserList>, ApiError> {
    let page = page(q.page, q.limit)?;
    let plan = q
        .plan
        .as_deref()
        .map(str::parse::<Plan>)
        .transpose()
        .map_err(|e| ApiError::field("plan", e.to_string()))?;
    let search = q
        .search
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty());
    if search.as_ref().is_some_and(|s| s.chars().count() > 254) {
        return Err(ApiError::field("search", "must be at most 254 characters"));
    }
    let found = state
        .store
        .list_users(&UserFilter {
            search: search.clone(),
            plan,
            page,
            ..UserFilter::default()
        })
        .await?;
    audit(
        &state,
        AuditEvent::UsersListed {
            admin_id: admin.0.id(),
            page: page.page,
            plan,
            search,
        },
    )
    .await?;
    Ok(Json(UserList {
        users: found.items.iter().map(UserView::of).collect(),
        total: found.total,
        page: page.page,
        total_pages: found.total.div_ceil(u64::from(page.limit)),
    }))
}

/// Change an account's plan, role or trial (admins only). Limits follow at once.
#[utoipa::path(put, path = "/api/admin/users/{id}", tag = "admin", request_body = UpdateUser,
    params(("id" = Uuid, Path, description = "Account id")), security(("bearer" = []), ("api_key" = [])),
    responses((status = 200, body = UserResponse), (status = 400, body = Problem), (status = 403, body = Problem),
              (status = 404, body = Problem), (status = 409, description = "An admin cannot demote themself", body = Problem),
              (status = 422, body = Problem)))]
#[tracing::instrument(skip_all, fields(admin_id = %admin.0.id(), user_id = %id), err)]
async fn update_user(
    State(state): State<AppState>,
    admin: AdminUser,
    Path(id): Path<Uuid>,
    Json(body): Json<UpdateUser>,
) -> Result<Json<UserResponse>, ApiError> {
    let plan = body
        .plan
        .as_deref()
        .map(str::parse::<Plan>)
        .transpose()
        .map_err(|e| ApiError::field("plan", e.to_string()))?;
    let role = body.role.as_deref().map(parse_role).transpose()?;
    let trial_ends_at = match body.trial_ends_at {
        None => None,
        Some(Value::Null) => Some(None),
        Some(Value::String(s)) => Some(Some(
            OffsetDateTime::parse(&s, &time::format_description::well_known::Rfc3339).map_err(
                |_| ApiError::field("trial_ends_at", "must be an RFC 3339 time or null"),
            )?,
        )),
        Some(_) => {
            return Err(ApiError::field(
                "trial_ends_at",
                "must be an RFC 3339 time or null",
            ));
        }
    };
    if plan.is_none() && role.is_none() && trial_ends_at.is_none() {
        return Err(ApiError::BadRequest(
            "nothing to change: send plan, role or trial_ends_at".into(),
        ));
    }
    if id == admin.0.id() && role == Some(Role::User) {
        return Err(ApiError::Conflict(
            "an admin cannot remove their own admin role (another admin can)".into(),
        ));
    }
    let before = state.store.user(id).await?;
    let user = state
        .accounts
        .update(
            id,
            UserPatch {
                plan,
                role,
                trial_ends_at,
                ..UserPatch::default()
            },
        )
        .await?;
    let changes = AccountChanges {
        plan: plan.map(|to| Change {
            from: before.plan,
            to,
        }),
        role: role.map(|to| Change {
            from: before.role,
            to,
        }),
        trial_ends_at: trial_ends_at.map(|to| Change {
            from: before.trial_ends_at.map(rfc3339),
            to: to.map(rfc3339),
        }),
    };
    audit(
        &state,
        AuditEvent::UserUpdated {
            admin_id: admin.0.id(),
            user_id: id,
            changes,
        },
    )
    .await?;
    Ok(Json(UserResponse {
        user: UserView::of(&user),
        success: true,
    }))
}

/// Everything one account owns, as a JSON download (admins only).
#[utoipa::path(get, path = "/api/admin/users/{id}/export", tag = "admin",
    params(("id" = Uuid, Path, description = "Account id")), security(("bearer" = []), ("api_key" = [])),
    responses((status = 200, description = "The account's data (attachment)", body = Object, content_type = "application/json"),
              (status = 400, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem)))]
#[tracing::instrument(skip_all, fields(admin_id = %admin.0.id(), user_id = %id), err)]
async fn export_user(
    State(state): State<AppState>,
    admin: AdminUser,
    Path(id): Path<Uuid>,
) -> Result<Response, ApiError> {
    let data = state.store.export_user(id).await?;
    audit(
        &state,
        AuditEvent::UserExported {
            admin_id: admin.0.id(),
            user_id: id,
        },
    )
    .await?;
    let body = serde_json::to_vec_pretty(&data).map_err(ApiError::internal)?;
    Ok((
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, "application/json".to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"orrery-user-{id}.json\""),
            ),
        ],
        body,
    )
        .into_response())
}

/// Create an administrator account (admins only; the first comes from `orrery admin
/// create-user --role admin`).
#[utoipa::path(post, path = "/api/admin/admins", tag = "admin", request_body = CreateAdmin,
    security(("bearer" = []), ("api_key" = [])),
    responses((status = 201, body = CreatedAdmin), (status = 403, body = Problem),
              (status = 409, description = "Email taken", body = Problem), (status = 422, body = Problem)))]
#[tracing::instrument(skip_all, fields(admin_id = %admin.0.id()), err)]
async fn create_admin(
    State(state): State<AppState>,
    admin: AdminUser,
    Json(body): Json<CreateAdmin>,
) -> Result<(StatusCode, Json<CreatedAdmin>), ApiError> {
    let (password, generated) = match body.password {
        Some(p) => (p, None),
        None => {
            let p = random_token("");
            (SecretString::from(p.clone()), Some(p))
        }
    };
    let user = state
        .accounts
        .create(NewAccount {
            email: body.email,
            name: Some(body.name),
            password: Some(password),
            google_sub: None,
            role: Role::Admin,
            method: SignInMethod::Admin,
        })
        .await
        .map_err(|e| match e {
            AccountError::EmailTaken => ApiError::Conflict(
                "an account with this email already exists; make it an admin with PUT /api/admin/users/{id}".into(),
            ),
            other => other.into(),
        })?;
    audit(
        &state,
        AuditEvent::AdminCreated {
            admin_id: admin.0.id(),
            user_id: user.id,
        },
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedAdmin {
            user: UserView::of(&user),
            password: generated,
            success: true,
        }),
    ))
}

/// Figures about accounts, revenue and use (admins only), cached for 5 minutes.
#[utoipa::path(get, path = "/api/admin/stats", tag = "admin", params(StatsQuery),
    security(("bearer" = []), ("api_key" = [])),
    responses((status = 200, body = Stats), (status = 400, body = Problem), (status = 403, body = Problem)))]
#[tracing::instrument(skip_all, fields(admin_id = %admin.0.id()), err)]
async fn stats(
    State(state): State<AppState>,
    admin: AdminUser,
    Query(q): Query<StatsQuery>,
) -> Result<Json<Stats>, ApiError> {
    let refresh = q.refresh.unwrap_or(false);
    audit(
        &state,
        AuditEvent::StatsViewed {
            admin_id: admin.0.id(),
            refresh,
        },
    )
    .await?;
    if !refresh
        && let Some(bytes) = state.shared.get(STATS_KEY).await
        && let Ok(mut cached) = serde_json::from_slice::<Stats>(&bytes)
    {
        cached.cached = true;
        return Ok(Json(cached));
    }
    let stats = compute_stats(&state, OffsetDateTime::now_utc()).await?;
    if let Ok(bytes) = serde_json::to_vec(&stats) {
        state.shared.set(STATS_KEY, bytes, STATS_TTL).await;
    }
    Ok(Json(stats))
}

/// The health of every part of the system (admins only).
#[utoipa::path(get, path = "/api/admin/health", tag = "admin", security(("bearer" = []), ("api_key" = [])),
    responses((status = 200, body = Health), (status = 403, body = Problem)))]
#[tracing::instrument(skip_all, fields(admin_id = %admin.0.id()), err)]
async fn health(State(state): State<AppState>, admin: AdminUser) -> Result<Json<Health>, ApiError> {
    let database = match tokio::time::timeout(CHECK_TIMEOUT, state.store.ping()).await {
        Ok(Ok(())) => check(true, true, state.store.backend().as_str()),
        Ok(Err(e)) => check(false, true, &format!("{e}")),
        Err(_) => check(false, true, "timed out"),
    };
    let redis = if state.shared.is_redis() {
        match tokio::time::timeout(CHECK_TIMEOUT, state.shared.ping()).await {
            Ok(true) => check(true, true, "answers"),
            _ => check(false, true, "does not answer"),
        }
    } else {
        check(
            true,
            false,
            "not configured: limits and caches are in-process",
        )
    };
    let smtp = if state.settings.smtp_url.expose_secret().is_empty() {
        check(true, false, "not configured: mails are written to the log")
    } else {
        match tokio::time::timeout(CHECK_TIMEOUT, state.mailer.check()).await {
            Ok(Ok(())) => check(true, true, "answers"),
            Ok(Err(e)) => check(false, true, &error_text(&e)),
            Err(_) => check(false, true, "timed out"),
        }
    };
    let stripe = match &state.billing {
        None => check(true, false, "not configured: billing is off"),
        Some(billing) => match tokio::time::timeout(CHECK_TIMEOUT, billing.ping()).await {
            Ok(Ok(())) => check(true, true, "answers; the configured prices exist"),
            Ok(Err(e)) => check(false, true, &error_text(&e)),
            Err(_) => check(false, true, "timed out"),
        },
    };
    let store = &state.store;
    let count = |status| async move {
        store
            .list_emails(Some(status), Page { page: 1, limit: 1 })
            .await
            .map(|p| p.total)
    };
    let outbox = OutboxHealth {
        pending: count(EmailStatus::Pending).await?,
        failed: count(EmailStatus::Failed).await?,
        sent: count(EmailStatus::Sent).await?,
    };
    let ok = [&database, &redis, &smtp, &stripe].iter().all(|c| c.ok);
    audit(
        &state,
        AuditEvent::HealthViewed {
            admin_id: admin.0.id(),
            ok,
        },
    )
    .await?;
    Ok(Json(Health {
        status: if ok { "ok" } else { "degraded" }.into(),
        version: env!("CARGO_PKG_VERSION").into(),
        uptime_seconds: state.started.elapsed().as_secs(),
        database,
        redis,
        smtp,
        stripe,
        outbox,
    }))
}

/// Every mail template (admins only).
#[utoipa::path(get, path = "/api/admin/email-templates", tag = "admin", security(("bearer" = []), ("api_key" = [])),
    responses((status = 200, body = TemplateList), (status = 403, body = Problem)))]
#[tracing::instrument(skip_all, fields(admin_id = %admin.0.id()), err)]
async fn list_templates(
    State(state): State<AppState>,
    admin: AdminUser,
) -> Result<Json<TemplateList>, ApiError> {
    let templates = state.store.list_templates().await?;
    audit(
        &state,
        AuditEvent::TemplatesListed {
            admin_id: admin.0.id(),
        },
    )
    .await?;
    Ok(Json(TemplateList {
        templates: templates.into_iter().map(template_view).collect(),
        success: true,
    }))
}

/// One mail template (admins only).
#[utoipa::path(get, path = "/api/admin/email-templates/{name}", tag = "admin",
    params(("name" = String, Path, description = "Template name")), security(("bearer" = []), ("api_key" = [])),
    responses((status = 200, body = TemplateView), (status = 403, body = Problem), (status = 404, body = Problem)))]
#[tracing::instrument(skip_all, fields(admin_id = %admin.0.id(), template = %name), err)]
async fn get_template(
    State(state): State<AppState>,
    admin: AdminUser,
    Path(name): Path<String>,
) -> Result<Json<TemplateView>, ApiError> {
    let template = state.store.template(&name).await?;
    audit(
        &state,
        AuditEvent::TemplateViewed {
            admin_id: admin.0.id(),
            name,
        },
    )
    .await?;
    Ok(Json(template_view(template)))
}

/// Replace a mail template (admins only). A template that does not parse, or uses a variable
/// it does not declare, is refused with 422 naming the part and the variable.
#[utoipa::path(put, path = "/api/admin/email-templates/{name}", tag = "admin", request_body = SaveTemplate,
    params(("name" = String, Path, description = "Template name")), security(("bearer" = []), ("api_key" = [])),
    responses((status = 200, body = TemplateView), (status = 403, body = Problem), (status = 404, body = Problem),
              (status = 422, description = "A template does not parse or uses an undeclared variable", body = Problem)))]
#[tracing::instrument(skip_all, fields(admin_id = %admin.0.id(), template = %name), err)]
async fn save_template(
    State(state): State<AppState>,
    admin: AdminUser,
    Path(name): Path<String>,
    Json(body): Json<SaveTemplate>,
) -> Result<Json<TemplateView>, ApiError> {
    // Only the templates the server sends can be edited: a new name would never be used.
    state.store.template(&name).await?;
    for (field, value, max) in [
        ("subject", &body.subject, 500),
        ("html", &body.html, 100_000),
        ("text", &body.text, 100_000),
    ] {
        if value.trim().is_empty() || value.chars().count() > max {
            return Err(ApiError::field(
                field,
                format!("must be 1 to {max} characters"),
            ));
        }
    }
    if body.variables.len() > 50 {
        return Err(ApiError::field("variables", "at most 50 variables"));
    }
    let template = EmailTemplate {
        name: name.clone(),
        subject: body.subject,
        html: body.html,
        text: body.text,
        variables: body.variables,
    };
    if let Err(MailError::Template { part, message, .. }) = check_template(&template) {
        return Err(ApiError::field(part, message));
    }
    state.store.save_template(&template).await?;
    audit(
        &state,
        AuditEvent::TemplateUpdated {
            admin_id: admin.0.id(),
            name,
        },
    )
    .await?;
    Ok(Json(template_view(template)))
}

/// Computes the figures of `/api/admin/stats` at `now`.
pub async fn compute_stats(state: &AppState, now: OffsetDateTime) -> Result<Stats, ApiError> {
    let month_ago = now - time::Duration::days(30);
    let count = |filter: UserFilter| async move {
        state
            .store
            .list_users(&UserFilter {
                page: Page { page: 1, limit: 1 },
                ..filter
            })
            .await
            .map(|p| p.total)
    };
    let total = count(UserFilter::default()).await?;
    let active = count(UserFilter {
        active_since: Some(month_ago),
        ..UserFilter::default()
    })
    .await?;
    let pro = count(UserFilter {
        plan: Some(Plan::Pro),
        ..UserFilter::default()
    })
    .await?;
    let enterprise = count(UserFilter {
        plan: Some(Plan::Enterprise),
        ..UserFilter::default()
    })
    .await?;
    let trials = count(UserFilter {
        plan: Some(Plan::Free),
        trial_ends_between: Some((now, now + time::Duration::days(36_500))),
        ..UserFilter::default()
    })
    .await?;
    let new_accounts = count(UserFilter {
        created_between: Some((month_ago, now + time::Duration::seconds(1))),
        ..UserFilter::default()
    })
    .await?;
    let subscriptions = state.store.active_subscriptions().await?;
    let mrr: u64 = subscriptions
        .iter()
        .map(|s| s.state.plan.monthly_price_cents())
        .sum();
    let existing = total.saturating_sub(new_accounts);
    let growth_rate = if existing == 0 {
        0.0
    } else {
        new_accounts as f64 / existing as f64
    };
    let graphs = state
        .store
        .list_graphs(&GraphFilter {
            page: Page { page: 1, limit: 1 },
            ..GraphFilter::default()
        })
        .await?
        .total;
    let later = now + time::Duration::seconds(1);
    let total_api_calls = state
        .store
        .total_usage(OffsetDateTime::UNIX_EPOCH, later)
        .await?;
    let recent_calls = state.store.total_usage(month_ago, later).await?;
    let sessions = state
        .store
        .session_stats(month_ago, later, time::Duration::minutes(30))
        .await?;
    Ok(Stats {
        users: UserStats {
            total,
            active_last_30_days: active,
            pro_users: pro,
            enterprise_users: enterprise,
            trial_users: trials,
        },
        revenue: RevenueStats {
            mrr,
            arr: mrr * 12,
            growth_rate,
            currency: "usd".into(),
            active_subscriptions: subscriptions.len() as u64,
        },
        usage: UsageStats {
            total_graphs: graphs,
            total_api_calls,
            api_calls_last_30_days: recent_calls,
            avg_session_duration: sessions.average_seconds(),
        },
        generated_at: now,
        cached: false,
    })
}

/// Writes an admin action to the monitoring log, under the admin's account, so an operator's
/// actions read as one history.
async fn audit(state: &AppState, event: AuditEvent) -> Result<(), ApiError> {
    let admin = match &event {
        AuditEvent::UsersListed { admin_id, .. }
        | AuditEvent::UserUpdated { admin_id, .. }
        | AuditEvent::UserExported { admin_id, .. }
        | AuditEvent::AdminCreated { admin_id, .. }
        | AuditEvent::StatsViewed { admin_id, .. }
        | AuditEvent::HealthViewed { admin_id, .. }
        | AuditEvent::TemplatesListed { admin_id }
        | AuditEvent::TemplateViewed { admin_id, .. }
        | AuditEvent::TemplateUpdated { admin_id, .. } => Some(*admin_id),
        _ => None,
    };
    record(&*state.store, admin, None, event).await?;
    Ok(())
}

fn parse_role(raw: &str) -> Result<Role, ApiError> {
    match raw {
        "user" => Ok(Role::User),
        "admin" => Ok(Role::Admin),
        _ => Err(ApiError::field("role", "must be user or admin")),
    }
}

fn template_view(t: EmailTemplate) -> TemplateView {
    TemplateView {
        name: t.name,
        subject: t.subject,
        html: t.html,
        text: t.text,
        variables: t.variables,
    }
}

fn check(ok: bool, configured: bool, detail: &str) -> Check {
    Check {
        ok,
        configured,
        detail: detail.to_owned(),
    }
}

fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// An error with its causes, for operators (no secrets reach these messages: URLs with
/// credentials are never formatted into them).
fn error_text(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// Deserializes a field that may be `null`: present-and-null is `Some(Value::Null)`, which
/// plain `Option` would fold into absent.
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Value>, D::Error> {
    Value::deserialize(d).map(Some)
}

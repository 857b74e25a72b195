//! `/api/admin`: operator routes, refused (403) to everyone but admins — figures, accounts,
//! creating admins, system health, data export and the mail templates. The rules and the audit
//! events (`admin.*`, with the admin's id) are the admin service's ([`crate::services::admin`]);
//! these handlers parse, call it and build the views.

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use orrery_core::Plan;
use orrery_core::store::{EmailTemplate, Role};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::OffsetDateTime;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::http::AppState;
use crate::http::auth::UserView;
use crate::http::error::{ApiError, Problem};
use crate::http::extract::{AdminUser, Json, Path, Query};
use crate::http::graphs::page;
use crate::services::admin::{AccountEdit, Admin, UserSearch};
pub use crate::services::admin::{
    Check, Health, OutboxHealth, RevenueStats, STATS_TTL, Stats, UsageStats, UserStats,
};

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
    /// Whether its mails are sent.
    pub is_active: bool,
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
    /// Whether its mails are sent (left out: unchanged). Mails of a switched-off template are
    /// given up, not sent.
    pub is_active: Option<bool>,
}

/// List accounts (admins only).
#[utoipa::path(get, path = "/api/admin/users", tag = "admin", params(UserQuery), security(("bearer" = []), ("api_key" = [])),
    responses((status = 200, body = UserList), (status = 403, body = Problem), (status = 422, body = Problem)))]
#[tracing::instrument(skip_all, fields(admin_id = %admin.0.id()), err(level = "info"))]
async fn list_users(
    State(admin_service): State<Admin>,
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
    let found = admin_service
        .list_users(
            admin.0.id(),
            UserSearch {
                search: q.search,
                plan,
                page,
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
#[tracing::instrument(skip_all, fields(admin_id = %admin.0.id(), user_id = %id), err(level = "info"))]
async fn update_user(
    State(admin_service): State<Admin>,
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
    let user = admin_service
        .update_user(
            admin.0.id(),
            id,
            AccountEdit {
                plan,
                role,
                trial_ends_at,
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
#[tracing::instrument(skip_all, fields(admin_id = %admin.0.id(), user_id = %id), err(level = "info"))]
async fn export_user(
    State(admin_service): State<Admin>,
    admin: AdminUser,
    Path(id): Path<Uuid>,
) -> Result<Response, ApiError> {
    let data = admin_service.export_user(admin.0.id(), id).await?;
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
#[tracing::instrument(skip_all, fields(admin_id = %admin.0.id()), err(level = "info"))]
async fn create_admin(
    State(admin_service): State<Admin>,
    admin: AdminUser,
    Json(body): Json<CreateAdmin>,
) -> Result<(StatusCode, Json<CreatedAdmin>), ApiError> {
    let created = admin_service
        .create_admin(admin.0.id(), body.email, body.name, body.password)
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedAdmin {
            user: UserView::of(&created.user),
            password: created.generated_password,
            success: true,
        }),
    ))
}

/// Figures about accounts, revenue and use (admins only), cached for 5 minutes.
#[utoipa::path(get, path = "/api/admin/stats", tag = "admin", params(StatsQuery),
    security(("bearer" = []), ("api_key" = [])),
    responses((status = 200, body = Stats), (status = 400, body = Problem), (status = 403, body = Problem)))]
#[tracing::instrument(skip_all, fields(admin_id = %admin.0.id()), err(level = "info"))]
async fn stats(
    State(admin_service): State<Admin>,
    admin: AdminUser,
    Query(q): Query<StatsQuery>,
) -> Result<Json<Stats>, ApiError> {
    let refresh = q.refresh.unwrap_or(false);
    admin_service.stats(admin.0.id(), refresh).await.map(Json)
}

/// The health of every part of the system (admins only).
#[utoipa::path(get, path = "/api/admin/health", tag = "admin", security(("bearer" = []), ("api_key" = [])),
    responses((status = 200, body = Health), (status = 403, body = Problem)))]
#[tracing::instrument(skip_all, fields(admin_id = %admin.0.id()), err(level = "info"))]
async fn health(
    State(admin_service): State<Admin>,
    admin: AdminUser,
) -> Result<Json<Health>, ApiError> {
    admin_service.health(admin.0.id()).await.map(Json)
}

/// Every mail template (admins only).
#[utoipa::path(get, path = "/api/admin/email-templates", tag = "admin", security(("bearer" = []), ("api_key" = [])),
    responses((status = 200, body = TemplateList), (status = 403, body = Problem)))]
#[tracing::instrument(skip_all, fields(admin_id = %admin.0.id()), err(level = "info"))]
async fn list_templates(
    State(admin_service): State<Admin>,
    admin: AdminUser,
) -> Result<Json<TemplateList>, ApiError> {
    let templates = admin_service.templates(admin.0.id()).await?;
    Ok(Json(TemplateList {
        templates: templates.into_iter().map(template_view).collect(),
        success: true,
    }))
}

/// One mail template (admins only).
#[utoipa::path(get, path = "/api/admin/email-templates/{name}", tag = "admin",
    params(("name" = String, Path, description = "Template name")), security(("bearer" = []), ("api_key" = [])),
    responses((status = 200, body = TemplateView), (status = 403, body = Problem), (status = 404, body = Problem)))]
#[tracing::instrument(skip_all, fields(admin_id = %admin.0.id(), template = %name), err(level = "info"))]
async fn get_template(
    State(admin_service): State<Admin>,
    admin: AdminUser,
    Path(name): Path<String>,
) -> Result<Json<TemplateView>, ApiError> {
    let template = admin_service.template(admin.0.id(), name).await?;
    Ok(Json(template_view(template)))
}

/// Replace a mail template (admins only). A template that does not parse, or uses a variable
/// it does not declare, is refused with 422 naming the part and the variable.
#[utoipa::path(put, path = "/api/admin/email-templates/{name}", tag = "admin", request_body = SaveTemplate,
    params(("name" = String, Path, description = "Template name")), security(("bearer" = []), ("api_key" = [])),
    responses((status = 200, body = TemplateView), (status = 403, body = Problem), (status = 404, body = Problem),
              (status = 422, description = "A template does not parse or uses an undeclared variable", body = Problem)))]
#[tracing::instrument(skip_all, fields(admin_id = %admin.0.id(), template = %name), err(level = "info"))]
async fn save_template(
    State(admin_service): State<Admin>,
    admin: AdminUser,
    Path(name): Path<String>,
    Json(body): Json<SaveTemplate>,
) -> Result<Json<TemplateView>, ApiError> {
    let template = EmailTemplate {
        name,
        subject: body.subject,
        html: body.html,
        text: body.text,
        variables: body.variables,
        is_active: true,
    };
    let saved = admin_service
        .save_template(admin.0.id(), template, body.is_active)
        .await?;
    Ok(Json(template_view(saved)))
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
        is_active: t.is_active,
    }
}

/// Deserializes a field that may be `null`: present-and-null is `Some(Value::Null)`, which
/// plain `Option` would fold into absent.
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Value>, D::Error> {
    Value::deserialize(d).map(Some)
}

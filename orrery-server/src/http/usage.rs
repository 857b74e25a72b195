//! `/api/usage`: this month's API calls and graphs against the plan's limits, the trial, and
//! history by day, week or month. The counting is the usage service's
//! ([`crate::services::usage`]).

use axum::extract::State;
use orrery_core::plan::trial_days_remaining;
use orrery_core::store::Granularity;
use serde::{Deserialize, Serialize};
use time::{Date, OffsetDateTime};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::http::AppState;
use crate::http::error::{ApiError, Problem};
use crate::http::extract::{CurrentUser, Json, Query};
use crate::services::usage::Usage;

/// The routes of this module.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(usage))
        .routes(routes!(history))
}

/// Usage in the current period.
#[derive(Debug, Serialize, ToSchema)]
pub struct CurrentPeriod {
    /// Start of the period (the first of the month, UTC).
    #[serde(with = "time::serde::rfc3339")]
    pub start: OffsetDateTime,
    /// End of the period.
    #[serde(with = "time::serde::rfc3339")]
    pub end: OffsetDateTime,
    /// Authenticated API calls so far.
    pub api_calls: u64,
    /// Graphs created in the period.
    pub graphs_created: u64,
    /// Graphs owned now.
    pub graphs: u64,
    /// Seconds of API processing in the period (the server time your calls used).
    pub monitoring_time: f64,
    /// Bytes your graphs take in storage now: current documents and kept versions, as stored
    /// (compressed, older versions as differences).
    pub stored_bytes: u64,
}

/// The limits of the design's usage view (`null` is unlimited).
#[derive(Debug, Serialize, ToSchema)]
pub struct UsageLimits {
    /// Authenticated API calls a calendar month.
    pub api_calls: Option<u64>,
    /// Graphs the plan allows (owned at once).
    pub graphs_created: Option<u64>,
    /// Seconds of processing a month (no plan caps it today).
    pub monitoring_time: Option<f64>,
}

/// What is left of the period's limits (`null` is unlimited).
#[derive(Debug, Serialize, ToSchema)]
pub struct UsageRemaining {
    /// API calls left this month.
    pub api_calls: Option<u64>,
    /// Graphs that can still be created.
    pub graphs: Option<u64>,
    /// Bytes of storage left.
    pub stored_bytes: Option<u64>,
}

/// `GET /api/usage`.
#[derive(Debug, Serialize, ToSchema)]
pub struct UsageResponse {
    /// The plan whose limits apply.
    pub plan: String,
    /// This period.
    pub current_period: CurrentPeriod,
    /// The design's limits.
    pub limits: UsageLimits,
    /// Every limit of the plan (`null` is unlimited), as `GET /api/plans`-style clients read it.
    #[schema(value_type = Object)]
    pub plan_limits: serde_json::Value,
    /// What is left this period.
    pub usage_remaining: UsageRemaining,
    /// Whole days left in the trial; `null` when no trial runs.
    pub trial_days_remaining: Option<u32>,
    /// Always true.
    pub success: bool,
}

/// The current month's usage against your plan.
#[utoipa::path(get, path = "/api/usage", tag = "usage", security(("bearer" = []), ("api_key" = [])),
    responses((status = 200, body = UsageResponse), (status = 401, body = Problem)))]
#[tracing::instrument(skip_all, fields(user_id = %user.id()), err(level = "info"))]
async fn usage(
    State(usage): State<Usage>,
    user: CurrentUser,
) -> Result<Json<UsageResponse>, ApiError> {
    let now = OffsetDateTime::now_utc();
    let period = usage.current(user.id(), now).await?;
    let limits = user.plan.limits();
    let trial = user
        .user
        .trial_ends_at
        .filter(|ends| *ends > now)
        .map(|ends| trial_days_remaining(ends, now));
    Ok(Json(UsageResponse {
        plan: user.plan.to_string(),
        limits: UsageLimits {
            api_calls: limits.api_calls_per_month,
            graphs_created: limits.graphs,
            monitoring_time: None,
        },
        usage_remaining: UsageRemaining {
            api_calls: limits
                .api_calls_per_month
                .map(|a| a.saturating_sub(period.api_calls)),
            graphs: limits.graphs.map(|g| g.saturating_sub(period.graphs)),
            stored_bytes: limits
                .stored_bytes
                .map(|b| b.saturating_sub(period.stored_bytes)),
        },
        plan_limits: serde_json::to_value(&limits).map_err(ApiError::internal)?,
        current_period: CurrentPeriod {
            start: period.start,
            end: period.end,
            api_calls: period.api_calls,
            graphs_created: period.graphs_created,
            graphs: period.graphs,
            monitoring_time: period.monitoring_ms as f64 / 1000.0,
            stored_bytes: period.stored_bytes,
        },
        trial_days_remaining: trial,
        success: true,
    }))
}

/// `?start_date=&end_date=&granularity=`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct HistoryQuery {
    /// First day, `YYYY-MM-DD` between 2000-01-01 and 9999-12-30 (default: 30 days before
    /// `end_date`); at most three years before `end_date`.
    #[param(format = Date)]
    pub start_date: Option<String>,
    /// Last day, inclusive, between 2000-01-01 and 9999-12-30 (default: today).
    #[param(format = Date)]
    pub end_date: Option<String>,
    /// `day` (default), `week` or `month`.
    #[param(inline, value_type = Option<crate::http::docs::GranularityName>)]
    pub granularity: Option<String>,
}

/// Calls in one period.
#[derive(Debug, Serialize, ToSchema)]
pub struct Bucket {
    /// Start of the period, `YYYY-MM-DD`.
    pub period_start: String,
    /// API calls in it.
    pub api_calls: u64,
}

/// One period, as the design's history lists it.
#[derive(Debug, Serialize, ToSchema)]
pub struct HistoryPoint {
    /// First day of the period, `YYYY-MM-DD`.
    #[schema(format = Date)]
    pub date: String,
    /// API calls in it.
    pub api_calls: u64,
    /// Graphs created in it.
    pub graphs_created: u64,
}

/// `GET /api/usage/history`.
#[derive(Debug, Serialize, ToSchema)]
pub struct HistoryResponse {
    /// Every period from the one holding `start_date` to the one holding `end_date`, oldest
    /// first, zeros where nothing happened.
    pub data: Vec<HistoryPoint>,
    /// `day`, `week` or `month`.
    pub granularity: String,
    /// First day covered.
    pub start_date: String,
    /// Last day covered.
    pub end_date: String,
    /// The periods with calls only, oldest first (the earlier shape of `data`).
    pub history: Vec<Bucket>,
    /// Always true.
    pub success: bool,
}

/// Your API calls and graphs created over time, every period present.
#[utoipa::path(get, path = "/api/usage/history", tag = "usage", params(HistoryQuery), security(("bearer" = []), ("api_key" = [])),
    responses((status = 200, body = HistoryResponse), (status = 400, body = Problem), (status = 422, body = Problem)))]
#[tracing::instrument(skip_all, fields(user_id = %user.id()), err(level = "info"))]
async fn history(
    State(usage): State<Usage>,
    user: CurrentUser,
    Query(q): Query<HistoryQuery>,
) -> Result<Json<HistoryResponse>, ApiError> {
    let start = q
        .start_date
        .as_deref()
        .map(|d| parse_date("start_date", d))
        .transpose()?;
    let end = q
        .end_date
        .as_deref()
        .map(|d| parse_date("end_date", d))
        .transpose()?;
    let granularity = match q.granularity.as_deref().unwrap_or("day") {
        "day" => Granularity::Day,
        "week" => Granularity::Week,
        "month" => Granularity::Month,
        _ => return Err(ApiError::field("granularity", "must be day, week or month")),
    };
    let today = OffsetDateTime::now_utc().date();
    let found = usage
        .history(user.id(), start, end, granularity, today)
        .await?;
    Ok(Json(HistoryResponse {
        granularity: q.granularity.unwrap_or_else(|| "day".into()),
        start_date: found.start.to_string(),
        end_date: found.end.to_string(),
        history: found
            .periods
            .iter()
            .filter(|p| p.api_calls > 0)
            .map(|p| Bucket {
                period_start: p.start.to_string(),
                api_calls: p.api_calls,
            })
            .collect(),
        data: found
            .periods
            .into_iter()
            .map(|p| HistoryPoint {
                date: p.start.to_string(),
                api_calls: p.api_calls,
                graphs_created: p.graphs_created,
            })
            .collect(),
        success: true,
    }))
}

/// A `YYYY-MM-DD` date (its bounds are the service's).
fn parse_date(field: &'static str, text: &str) -> Result<Date, ApiError> {
    let format = time::macros::format_description!("[year]-[month]-[day]");
    Date::parse(text, &format).map_err(|_| ApiError::field(field, "must be a date like 2026-11-25"))
}

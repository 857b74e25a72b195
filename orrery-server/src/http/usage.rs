//! `/api/usage`: this month's API calls and graphs against the plan's limits, the trial, and
//! history by day, week or month.

use axum::extract::State;
use orrery_core::plan::trial_days_remaining;
use orrery_core::store::{EventFilter, Granularity, Page};
use serde::{Deserialize, Serialize};
use time::{Date, OffsetDateTime, Time};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::http::AppState;
use crate::http::error::{ApiError, Problem};
use crate::http::extract::{CurrentUser, Json, Query};

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
}

/// `GET /api/usage`.
#[derive(Debug, Serialize, ToSchema)]
pub struct UsageResponse {
    /// The plan whose limits apply.
    pub plan: String,
    /// This period.
    pub current_period: CurrentPeriod,
    /// The plan's limits (`null` is unlimited).
    #[schema(value_type = Object)]
    pub limits: serde_json::Value,
    /// Whole days left in the trial, while one runs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trial_days_remaining: Option<u32>,
    /// Always true.
    pub success: bool,
}

/// The current month's usage against your plan.
#[utoipa::path(get, path = "/api/usage", tag = "usage", security(("bearer" = []), ("api_key" = [])),
    responses((status = 200, body = UsageResponse), (status = 401, body = Problem)))]
#[tracing::instrument(skip_all, fields(user_id = %user.id()), err)]
async fn usage(
    State(state): State<AppState>,
    user: CurrentUser,
) -> Result<Json<UsageResponse>, ApiError> {
    let now = OffsetDateTime::now_utc();
    let start = month_start(now.date()).assume_utc();
    let end = next_month(now.date()).assume_utc();
    let api_calls = state.store.count_usage(user.id(), None, start, now).await?;
    let monitoring_ms = state.store.usage_time(user.id(), start, now).await?;
    let graphs = state.store.count_graphs(user.id()).await?;
    // Events come newest first; count back to the start of the period.
    let mut graphs_created = 0;
    'pages: for number in 1..=100 {
        let events = state
            .store
            .list_events(&EventFilter {
                user_id: Some(user.id()),
                graph_id: None,
                kind: Some("graph.created".into()),
                page: Page {
                    page: number,
                    limit: 100,
                },
            })
            .await?;
        for event in &events.items {
            if event.at < start {
                break 'pages;
            }
            graphs_created += 1;
        }
        if events.items.len() < 100 {
            break;
        }
    }
    let trial = user
        .user
        .trial_ends_at
        .filter(|ends| *ends > now)
        .map(|ends| trial_days_remaining(ends, now));
    Ok(Json(UsageResponse {
        plan: user.plan.to_string(),
        current_period: CurrentPeriod {
            start,
            end,
            api_calls,
            graphs_created,
            graphs,
            monitoring_time: monitoring_ms as f64 / 1000.0,
        },
        limits: serde_json::to_value(user.plan.limits()).map_err(ApiError::internal)?,
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

/// `GET /api/usage/history`.
#[derive(Debug, Serialize, ToSchema)]
pub struct HistoryResponse {
    /// `day`, `week` or `month`.
    pub granularity: String,
    /// First day covered.
    pub start_date: String,
    /// Last day covered.
    pub end_date: String,
    /// Periods with calls, oldest first.
    pub history: Vec<Bucket>,
    /// Always true.
    pub success: bool,
}

/// Your API calls over time.
#[utoipa::path(get, path = "/api/usage/history", tag = "usage", params(HistoryQuery), security(("bearer" = []), ("api_key" = [])),
    responses((status = 200, body = HistoryResponse), (status = 400, body = Problem), (status = 422, body = Problem)))]
#[tracing::instrument(skip_all, fields(user_id = %user.id()), err)]
async fn history(
    State(state): State<AppState>,
    user: CurrentUser,
    Query(q): Query<HistoryQuery>,
) -> Result<Json<HistoryResponse>, ApiError> {
    let today = OffsetDateTime::now_utc().date();
    let end = match &q.end_date {
        Some(d) => parse_date("end_date", d)?,
        None => today,
    };
    let start = match &q.start_date {
        Some(d) => parse_date("start_date", d)?,
        None => end
            .checked_sub(time::Duration::days(30))
            .unwrap_or(HISTORY_FIRST_DAY)
            .max(HISTORY_FIRST_DAY),
    };
    if start > end {
        return Err(ApiError::field("start_date", "must not be after end_date"));
    }
    if end - start > time::Duration::days(3 * 366) {
        return Err(ApiError::field(
            "start_date",
            "the range may span at most three years",
        ));
    }
    let granularity = match q.granularity.as_deref().unwrap_or("day") {
        "day" => Granularity::Day,
        "week" => Granularity::Week,
        "month" => Granularity::Month,
        _ => return Err(ApiError::field("granularity", "must be day, week or month")),
    };
    let from = start.midnight().assume_utc();
    // `end` is at most HISTORY_LAST_DAY, so the next day exists.
    let to = end.next_day().unwrap_or(end).midnight().assume_utc();
    let buckets = state
        .store
        .usage_history(user.id(), from, to, granularity)
        .await?;
    Ok(Json(HistoryResponse {
        granularity: q.granularity.unwrap_or_else(|| "day".into()),
        start_date: start.to_string(),
        end_date: end.to_string(),
        history: buckets
            .into_iter()
            .map(|b| Bucket {
                period_start: b.period_start.date().to_string(),
                api_calls: b.api_calls,
            })
            .collect(),
        success: true,
    }))
}

/// The first day usage history can be asked about.
pub const HISTORY_FIRST_DAY: Date = time::macros::date!(2000 - 01 - 01);
/// The last day usage history can be asked about.
pub const HISTORY_LAST_DAY: Date = time::macros::date!(9999 - 12 - 30);

/// A `YYYY-MM-DD` date between [`HISTORY_FIRST_DAY`] and [`HISTORY_LAST_DAY`], so that the
/// day arithmetic below cannot leave the calendar.
fn parse_date(field: &'static str, text: &str) -> Result<Date, ApiError> {
    let format = time::macros::format_description!("[year]-[month]-[day]");
    let date = Date::parse(text, &format)
        .map_err(|_| ApiError::field(field, "must be a date like 2026-11-25"))?;
    if !(HISTORY_FIRST_DAY..=HISTORY_LAST_DAY).contains(&date) {
        return Err(ApiError::field(
            field,
            format!("must be between {HISTORY_FIRST_DAY} and {HISTORY_LAST_DAY}"),
        ));
    }
    Ok(date)
}

fn month_start(date: Date) -> time::PrimitiveDateTime {
    date.replace_day(1)
        .unwrap_or(date)
        .with_time(Time::MIDNIGHT)
}

fn next_month(date: Date) -> time::PrimitiveDateTime {
    let first = date.replace_day(1).unwrap_or(date);
    let next = if first.month() == time::Month::December {
        Date::from_calendar_date(first.year() + 1, time::Month::January, 1)
    } else {
        Date::from_calendar_date(first.year(), first.month().next(), 1)
    };
    next.unwrap_or(first).with_time(Time::MIDNIGHT)
}

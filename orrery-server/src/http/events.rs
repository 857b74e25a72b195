//! `/api/events`: the account's own activity log (graph changes, sign-ins, keys…).

use axum::extract::State;
use orrery_core::store::{EventFilter, MonitoringEvent};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::http::AppState;
use crate::http::error::{ApiError, Problem};
use crate::http::extract::{CurrentUser, Json, Query};
use crate::http::graphs::page;

/// The routes of this module.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_events))
}

/// One event.
#[derive(Debug, Serialize, ToSchema)]
pub struct EventView {
    /// Its id.
    pub id: Uuid,
    /// What happened (`graph.created`, `auth.signin`, `key.revoked`…).
    #[serde(rename = "type")]
    pub kind: String,
    /// The graph it concerns.
    pub graph_id: Option<Uuid>,
    /// Details.
    #[schema(value_type = Object)]
    pub data: serde_json::Value,
    /// When.
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
}

impl From<MonitoringEvent> for EventView {
    fn from(e: MonitoringEvent) -> EventView {
        EventView {
            id: e.id,
            kind: e.kind,
            graph_id: e.graph_id,
            data: e.data,
            at: e.at,
        }
    }
}

/// A page of events, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct EventList {
    /// This page.
    pub events: Vec<EventView>,
    /// Events in all pages.
    pub total: u64,
    /// This page's number.
    pub page: u32,
}

/// Filters.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct EventQuery {
    /// Only this graph's events.
    pub graph_id: Option<Uuid>,
    /// Only this type (`graph.updated`).
    #[serde(rename = "type")]
    #[param(rename = "type", max_length = 64, pattern = "^[A-Za-z0-9._]*$")]
    pub kind: Option<String>,
    /// 1-based page (default 1).
    #[param(minimum = 1, maximum = 1000000)]
    pub page: Option<u32>,
    /// Items per page, 1 to 100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<u32>,
}

/// Your activity log.
#[utoipa::path(get, path = "/api/events", tag = "events", params(EventQuery), security(("bearer" = []), ("api_key" = [])),
    responses((status = 200, body = EventList), (status = 400, body = Problem)))]
#[tracing::instrument(skip_all, fields(user_id = %user.id()), err(level = "info"))]
async fn list_events(
    State(state): State<AppState>,
    user: CurrentUser,
    Query(q): Query<EventQuery>,
) -> Result<Json<EventList>, ApiError> {
    let page = page(q.page, q.limit)?;
    if q.kind.as_ref().is_some_and(|k| {
        k.len() > 64
            || !k
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '_')
    }) {
        return Err(ApiError::field(
            "type",
            "must be an event type like graph.updated",
        ));
    }
    let found = state
        .store
        .list_events(&EventFilter {
            user_id: Some(user.id()),
            graph_id: q.graph_id,
            kind: q.kind,
            page,
        })
        .await?;
    Ok(Json(EventList {
        events: found.items.into_iter().map(Into::into).collect(),
        total: found.total,
        page: page.page,
    }))
}

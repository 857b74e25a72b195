//! `/healthz` (the process is up), `/readyz` (the database, and Redis when configured, answer)
//! and `/metrics` (Prometheus text), which `metrics_bind` can move to an address of its own and
//! `metrics_token` can put behind a bearer token.

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use secrecy::ExposeSecret;
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::http::AppState;
use crate::http::error::ApiError;

/// The routes of this module (not in the OpenAPI document: they are for operators' tools).
/// `/metrics` is among them unless `metrics_bind` serves it elsewhere; then it is a 404 here
/// (and not the web console's page).
pub fn router(metrics_here: bool) -> Router<AppState> {
    let router = Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz));
    if metrics_here {
        router.route("/metrics", get(metrics))
    } else {
        router.route(
            "/metrics",
            get(|| async { ApiError::NotFound("route").into_response() }),
        )
    }
}

/// The application of the `metrics_bind` address: `/metrics` and nothing else.
pub fn metrics_app(state: AppState) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .fallback(|| async { ApiError::NotFound("route").into_response() })
        .with_state(state)
}

async fn healthz() -> impl IntoResponse {
    axum::Json(json!({"status": "ok", "version": env!("CARGO_PKG_VERSION")}))
}

async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    let database = state.store.ping().await.is_ok();
    let redis = state.shared.ping().await;
    let ready = database && redis;
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        axum::Json(
            json!({"status": if ready { "ready" } else { "unavailable" }, "database": database, "redis": redis}),
        ),
    )
}

async fn metrics(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let token = state.settings.metrics_token.expose_secret();
    if !token.is_empty() && !bearer_matches(&headers, token) {
        return ApiError::Unauthorized("/metrics requires its bearer token").into_response();
    }
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics.render(state.started.elapsed()),
    )
        .into_response()
}

/// Whether `Authorization: Bearer …` holds `token`. Digests are compared, so the time taken
/// says nothing about how much of the token was right.
fn bearer_matches(headers: &HeaderMap, token: &str) -> bool {
    let Some(given) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, given)| given.trim())
    else {
        return false;
    };
    Sha256::digest(given.as_bytes()) == Sha256::digest(token.as_bytes())
}

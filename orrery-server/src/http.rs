//! The HTTP application: [`AppState`], the router of every resource, and the middleware around
//! it (request ids, tracing, metrics, usage, timeouts, body limits, compression, CORS, security
//! headers, panics as problems).

pub mod admin;
pub mod agents;
pub mod auth;
pub mod billing;
pub mod console;
pub mod docs;
pub mod error;
pub mod events;
pub mod extract;
pub mod forwarded;
pub mod graphs;
pub mod health;
pub mod keys;
pub mod me;
pub mod usage;

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderName, HeaderValue, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::compression::CompressionLayer;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::TraceLayer;
use utoipa_axum::router::OpenApiRouter;

use crate::auth::{AccessTokens, GoogleVerifier, Passwords};
use crate::http::error::ApiError;
use crate::http::extract::{CallerSlot, ClientIp};
use crate::mail::{Mailer, Outbox};
use crate::metrics::Metrics;
use crate::services::accounts::Accounts;
use crate::services::admin::Admin;
use crate::services::billing::Billing;
use crate::services::graphs::Graphs;
use crate::services::keys::Keys;
use crate::settings::Settings;
use crate::shared::Shared;
use crate::usage::UsageRecorder;

/// Everything handlers share. Cheap to clone.
#[derive(Clone, Debug)]
pub struct AppState(pub Arc<Services>);

/// The services behind [`AppState`].
#[derive(Debug)]
pub struct Services {
    /// The configuration.
    pub settings: Settings,
    /// The database (any backend of the storage traits).
    pub store: crate::storage::Db,
    /// Password hashing.
    pub passwords: Passwords,
    /// Access tokens.
    pub tokens: AccessTokens,
    /// Google sign-in, when configured.
    pub google: Option<GoogleVerifier>,
    /// Counters and caches (Redis when configured).
    pub shared: Shared,
    /// Writes usage records in the background.
    pub recorder: UsageRecorder,
    /// Delivers mail (SMTP, the log, or memory in tests); requests queue mail in the outbox
    /// and the sender job calls this.
    pub mailer: Arc<dyn Mailer>,
    /// Queues typed mails and wakes this instance's sender.
    pub outbox: Outbox,
    /// Accounts and sessions.
    pub accounts: Accounts,
    /// Graphs and custom agents.
    pub graphs: Graphs,
    /// API keys.
    pub keys: Keys,
    /// Billing (Stripe, when configured).
    pub billing: Billing,
    /// Operating the service.
    pub admin: Admin,
    /// Usage counts and history.
    pub usage: crate::services::usage::Usage,
    /// This instance's name, unique per process: the owner of its outbox leases.
    pub instance: String,
    /// Prometheus metrics.
    pub metrics: Arc<Metrics>,
    /// Headless renderers by size, made on first use.
    pub renderers: moka::future::Cache<(u32, u32), Arc<orrery_render::Renderer>>,
    /// When the process started.
    pub started: Instant,
}

impl axum::extract::FromRef<AppState> for Keys {
    fn from_ref(state: &AppState) -> Keys {
        state.keys.clone()
    }
}

impl axum::extract::FromRef<AppState> for Graphs {
    fn from_ref(state: &AppState) -> Graphs {
        state.graphs.clone()
    }
}

impl axum::extract::FromRef<AppState> for Billing {
    fn from_ref(state: &AppState) -> Billing {
        state.billing.clone()
    }
}

impl axum::extract::FromRef<AppState> for Admin {
    fn from_ref(state: &AppState) -> Admin {
        state.admin.clone()
    }
}

impl axum::extract::FromRef<AppState> for crate::services::usage::Usage {
    fn from_ref(state: &AppState) -> crate::services::usage::Usage {
        state.usage.clone()
    }
}

impl axum::extract::FromRef<AppState> for Accounts {
    fn from_ref(state: &AppState) -> Accounts {
        state.accounts.clone()
    }
}

impl std::ops::Deref for AppState {
    type Target = Services;
    fn deref(&self) -> &Services {
        &self.0
    }
}

/// The routes of every resource, with the OpenAPI document they describe.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(docs::base())
        .merge(auth::router())
        .merge(me::router())
        .merge(billing::router())
        .merge(keys::router())
        .merge(graphs::router())
        .merge(agents::router())
        .merge(usage::router())
        .merge(events::router())
        .merge(admin::router())
}

/// The whole application.
pub fn app(state: AppState) -> Router {
    let (api, mut openapi) = routes().split_for_parts();
    docs::finish(&mut openapi);
    let openapi = Arc::new(openapi);
    let settings = &state.settings;
    let x_request_id = HeaderName::from_static("x-request-id");
    let cors = CorsLayer::new()
        .allow_origin(AllowOrigin::list(
            settings
                .cors_origins
                .iter()
                .filter_map(|o| HeaderValue::from_str(o).ok()),
        ))
        .allow_methods([
            Method::GET,
            Method::POST,
            Method::PUT,
            Method::PATCH,
            Method::DELETE,
        ])
        .allow_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            header::IF_MATCH,
            HeaderName::from_static("x-api-key"),
            HeaderName::from_static(auth::REFRESH_COOKIE_HEADER),
        ])
        .allow_credentials(true)
        .expose_headers([
            header::ETAG,
            header::RETRY_AFTER,
            x_request_id.clone(),
            HeaderName::from_static("ratelimit"),
            HeaderName::from_static("ratelimit-policy"),
        ])
        .max_age(Duration::from_secs(600));
    let hsts = settings
        .behind_tls
        .then(|| HeaderValue::from_static("max-age=63072000; includeSubDomains"));
    Router::new()
        .merge(api)
        .merge(docs::router(openapi))
        .merge(health::router(settings.metrics_address().is_none()))
        // A route layer runs after routing, so it sees the matched route pattern.
        .route_layer(axum::middleware::from_fn_with_state(state.clone(), observe))
        .fallback(console::fallback)
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .layer(
            ServiceBuilder::new()
                .layer(SetRequestIdLayer::new(x_request_id.clone(), MakeRequestUuid))
                .layer(TraceLayer::new_for_http().make_span_with(|req: &Request| {
                    let id = req.headers().get("x-request-id").and_then(|v| v.to_str().ok()).unwrap_or("-");
                    // Filled in by `client_ip_and_time_limit`, inside this span.
                    tracing::info_span!("request", method = %req.method(), uri = %req.uri().path(), request_id = %id, client_ip = tracing::field::Empty)
                }))
                .layer(PropagateRequestIdLayer::new(x_request_id))
                .layer(CatchPanicLayer::custom(|_| {
                    ApiError::internal(anyhow::anyhow!("a handler panicked")).into_response()
                }))
                .layer(cors)
                .layer(CompressionLayer::new())
                // Enforced by the body extractors, so an oversized body is a 413 problem too.
                .layer(axum::extract::DefaultBodyLimit::max(settings.max_body_bytes))
                .layer(SetResponseHeaderLayer::overriding(
                    header::X_CONTENT_TYPE_OPTIONS,
                    HeaderValue::from_static("nosniff"),
                ))
                .layer(SetResponseHeaderLayer::overriding(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")))
                .layer(SetResponseHeaderLayer::overriding(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer")))
                // The docs page sets its own, looser policy; everything else is data.
                .layer(SetResponseHeaderLayer::if_not_present(
                    header::CONTENT_SECURITY_POLICY,
                    HeaderValue::from_static("default-src 'none'; frame-ancestors 'none'"),
                ))
                .layer(SetResponseHeaderLayer::if_not_present(
                    header::STRICT_TRANSPORT_SECURITY,
                    move |_: &Response| hsts.clone(),
                ))
                // A middleware written as a function clones the service inside it on every
                // request: innermost, that is only the router (an `Arc`), not the stack above.
                .layer(axum::middleware::from_fn_with_state(state.clone(), client_ip_and_time_limit)),
        )
        .with_state(state)
}

/// Resolves the client's address once (behind trusted proxies, the one they forwarded), for
/// the log span, rate limits and anything else that asks for [`ClientIp`]; then answers a
/// request that takes longer than `request_timeout_secs` with a 503 problem (and drops its
/// handler).
async fn client_ip_and_time_limit(
    State(state): State<AppState>,
    mut req: Request,
    next: Next,
) -> Response {
    let peer = req
        .extensions()
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|c| c.0);
    let client = ClientIp::resolve(&state.settings, peer, req.headers());
    tracing::Span::current().record("client_ip", tracing::field::display(client.0));
    req.extensions_mut().insert(client);
    let secs = state.settings.request_timeout_secs;
    match tokio::time::timeout(Duration::from_secs(secs), next.run(req)).await {
        Ok(response) => response,
        Err(_) => ApiError::TimedOut(secs).into_response(),
    }
}

/// Per request: the anonymous rate limit, metrics, and the usage record of authenticated calls.
async fn observe(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = req.method().clone();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".to_owned());
    let slot = CallerSlot::default();
    req.extensions_mut().insert(slot.clone());
    let mut response = next.run(req).await;
    let elapsed = started.elapsed();
    if let Some((policy, state)) = slot.limits().headers() {
        let headers = response.headers_mut();
        for (name, value) in [("ratelimit-policy", policy), ("ratelimit", state)] {
            if let Ok(value) = HeaderValue::from_str(&value) {
                headers.insert(name, value);
            }
        }
    }
    state
        .metrics
        .observe(method.as_str(), &route, response.status().as_u16(), elapsed);
    if let Some(caller) = slot.get() {
        state.recorder.record(crate::usage::Call {
            user_id: caller.user_id,
            api_key_id: caller.api_key_id,
            endpoint: route,
            method: method.to_string(),
            status: response.status().as_u16(),
            duration: elapsed,
        });
    }
    response
}

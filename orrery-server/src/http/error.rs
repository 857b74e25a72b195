//! One error type for every handler and extractor, answered as `application/problem+json`
//! (RFC 9457) with a stable `type` per kind of problem. A 5xx carries a generic detail; its cause
//! goes to the log.

use axum::Json;
use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use orrery_core::Diagnostic;
use orrery_core::diff::{BrokenCaller, InterfaceChange};
use orrery_core::plan::LimitExceeded;
use orrery_core::store::StoreError;
use serde::Serialize;
use serde_json::{Map, Value, json};
use utoipa::ToSchema;

/// Everything a request can fail with.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The request is malformed in a way the detail explains.
    #[error("{0}")]
    BadRequest(String),
    /// The body is not JSON, or not the JSON this route takes.
    #[error("{detail}")]
    InvalidBody {
        /// 400 for syntax, 415 for the wrong content type, 422 for the wrong shape.
        status: StatusCode,
        /// What was wrong.
        detail: String,
    },
    /// A field has a value this route does not accept.
    #[error("{field}: {message}")]
    InvalidField {
        /// The field.
        field: &'static str,
        /// Why.
        message: String,
    },
    /// The graph document has error diagnostics.
    #[error("the graph has {} error(s)", .0.iter().filter(|d| d.is_error()).count())]
    InvalidGraph(Vec<Diagnostic>),
    /// The graph document does not parse.
    #[error("{0}")]
    UnparsableGraph(String),
    /// No credentials, or credentials that are not valid.
    #[error("{0}")]
    Unauthorized(&'static str),
    /// Email and password do not match an account.
    #[error("invalid email or password")]
    InvalidCredentials,
    /// A single-use token that is unknown, used or expired.
    #[error("the token is invalid or has expired")]
    InvalidToken,
    /// Authenticated, but not allowed.
    #[error("{0}")]
    Forbidden(&'static str),
    /// No such thing, or not yours.
    #[error("{0} not found")]
    NotFound(&'static str),
    /// The route exists, but not with this method.
    #[error("this route does not take this method")]
    MethodNotAllowed,
    /// The write conflicts with what is stored.
    #[error("{0}")]
    Conflict(String),
    /// The client's base version is not the current one.
    #[error("the graph has changed since version {base}; its current version is {current}")]
    VersionConflict {
        /// What the client sent.
        base: String,
        /// The current version.
        current: String,
    },
    /// `If-Match` names no current version (RFC 9110: 412).
    #[error("the graph is not at the version If-Match names; its current version is {current}")]
    PreconditionFailed {
        /// The current version.
        current: String,
        /// The current revision.
        revision: u64,
    },
    /// Publishing this interface would break callers.
    #[error("the new interface of agent `{agent}` breaks {} caller(s)", .broken.len() + .hidden)]
    BreakingChange {
        /// The agent.
        agent: String,
        /// How the interface changed.
        change: InterfaceChange,
        /// The callers the requester may see.
        broken: Vec<BrokenCaller>,
        /// Broken callers in graphs the requester may not see.
        hidden: usize,
    },
    /// A plan limit.
    #[error("{0}")]
    PlanLimit(LimitExceeded),
    /// Too many requests.
    #[error("too many requests; retry in {retry_after} s")]
    RateLimited {
        /// Seconds to wait.
        retry_after: u64,
    },
    /// The server is too busy for this request now (its queue of expensive work is full).
    #[error("the server is busy; retry in {retry_after} s")]
    Overloaded {
        /// Seconds to wait.
        retry_after: u64,
    },
    /// A part of the service is not configured or not reachable.
    #[error("{0}")]
    Unavailable(String),
    /// The database could not be reached for a moment (no free connection in time, the
    /// connection lost or refused, the server restarting): worth retrying shortly. The cause is
    /// for the log.
    #[error("the database is unavailable for a moment; retry in {STORAGE_RETRY_AFTER} s")]
    StorageUnavailable(#[source] anyhow::Error),
    /// The request took longer than the server allows (`request_timeout_secs`); what it had
    /// done by then may have been kept.
    #[error("the request took longer than {0} s")]
    TimedOut(u64),
    /// A service this one depends on (the payment provider) refused or failed; the cause is
    /// for the log.
    #[error("the payment provider could not complete the request; try again later")]
    BadGateway(#[source] anyhow::Error),
    /// Anything else; details go to the log only.
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

/// The seconds a client is told to wait after a [`ApiError::StorageUnavailable`]: a database
/// restart takes about that long.
pub const STORAGE_RETRY_AFTER: u64 = 2;

/// An RFC 9457 problem document.
#[derive(Debug, Serialize, ToSchema)]
pub struct Problem {
    /// A URI reference naming the kind of problem (`/problems/plan-limit`).
    #[serde(rename = "type")]
    pub type_: String,
    /// A short summary of the kind of problem.
    pub title: String,
    /// The HTTP status.
    pub status: u16,
    /// What went wrong with this request.
    pub detail: String,
    /// Members particular to the kind of problem (`diagnostics`, `limit`, `retry_after`…).
    #[serde(flatten)]
    #[schema(value_type = Object)]
    pub extensions: Map<String, Value>,
}

impl ApiError {
    /// A 500 from anything.
    pub fn internal(e: impl Into<anyhow::Error>) -> ApiError {
        ApiError::Internal(e.into())
    }

    /// A 422 for one field.
    pub fn field(field: &'static str, message: impl Into<String>) -> ApiError {
        ApiError::InvalidField {
            field,
            message: message.into(),
        }
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) | ApiError::InvalidToken => StatusCode::BAD_REQUEST,
            ApiError::InvalidBody { status, .. } => *status,
            ApiError::InvalidField { .. }
            | ApiError::InvalidGraph(_)
            | ApiError::UnparsableGraph(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::Unauthorized(_) | ApiError::InvalidCredentials => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Conflict(_)
            | ApiError::VersionConflict { .. }
            | ApiError::BreakingChange { .. } => StatusCode::CONFLICT,
            ApiError::PlanLimit(_) => StatusCode::PAYMENT_REQUIRED,
            ApiError::PreconditionFailed { .. } => StatusCode::PRECONDITION_FAILED,
            ApiError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Unavailable(_)
            | ApiError::Overloaded { .. }
            | ApiError::StorageUnavailable(_)
            | ApiError::TimedOut(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::BadGateway(_) => StatusCode::BAD_GATEWAY,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn kind(&self) -> (&'static str, &'static str) {
        match self {
            ApiError::BadRequest(_) => ("bad-request", "Bad request"),
            ApiError::InvalidBody { status, .. } if *status == StatusCode::PAYLOAD_TOO_LARGE => {
                ("payload-too-large", "Request body too large")
            }
            ApiError::InvalidBody { status, .. }
                if *status == StatusCode::UNSUPPORTED_MEDIA_TYPE =>
            {
                ("unsupported-media-type", "Unsupported media type")
            }
            ApiError::InvalidBody { .. } => ("invalid-body", "Invalid request body"),
            ApiError::InvalidField { .. } => ("invalid-field", "Invalid field"),
            ApiError::InvalidGraph(_) => ("invalid-graph", "Invalid graph"),
            ApiError::UnparsableGraph(_) => ("unparsable-graph", "Graph document does not parse"),
            ApiError::Unauthorized(_) => ("unauthorized", "Authentication required"),
            ApiError::InvalidCredentials => ("invalid-credentials", "Invalid credentials"),
            ApiError::InvalidToken => ("invalid-token", "Invalid or expired token"),
            ApiError::Forbidden(_) => ("forbidden", "Forbidden"),
            ApiError::NotFound(_) => ("not-found", "Not found"),
            ApiError::MethodNotAllowed => ("method-not-allowed", "Method not allowed"),
            ApiError::Conflict(_) => ("conflict", "Conflict"),
            ApiError::VersionConflict { .. } => ("version-conflict", "Version conflict"),
            ApiError::PreconditionFailed { .. } => ("precondition-failed", "Precondition failed"),
            ApiError::BreakingChange { .. } => ("breaking-change", "Breaking interface change"),
            ApiError::PlanLimit(_) => ("plan-limit", "Plan limit reached"),
            ApiError::RateLimited { .. } => ("rate-limited", "Too many requests"),
            ApiError::Unavailable(_) | ApiError::StorageUnavailable(_) => {
                ("unavailable", "Service unavailable")
            }
            ApiError::TimedOut(_) => ("timeout", "Request timed out"),
            ApiError::Overloaded { .. } => ("overloaded", "Server busy"),
            ApiError::BadGateway(_) => ("bad-gateway", "Upstream service failed"),
            ApiError::Internal(_) => ("internal", "Internal server error"),
        }
    }

    /// The problem document for this error.
    pub fn to_problem(&self) -> Problem {
        let status = self.status();
        let (slug, title) = self.kind();
        let detail = if status.is_server_error()
            && !matches!(
                self,
                ApiError::Unavailable(_)
                    | ApiError::BadGateway(_)
                    | ApiError::Overloaded { .. }
                    | ApiError::StorageUnavailable(_)
                    | ApiError::TimedOut(_)
            ) {
            "the server failed to handle this request; it has been logged".to_owned()
        } else {
            self.to_string()
        };
        let mut extensions = Map::new();
        match self {
            ApiError::InvalidField { field, .. } => {
                extensions.insert("field".into(), json!(field));
            }
            ApiError::InvalidGraph(diagnostics) => {
                extensions.insert("diagnostics".into(), json!(diagnostics));
            }
            ApiError::VersionConflict { current, .. } => {
                extensions.insert("current_version".into(), json!(current));
            }
            ApiError::PreconditionFailed { current, revision } => {
                extensions.insert("current_version".into(), json!(current));
                extensions.insert("current_revision".into(), json!(revision));
                extensions.insert("current_etag".into(), json!(format!("\"r{revision}\"")));
            }
            ApiError::BreakingChange {
                change,
                broken,
                hidden,
                ..
            } => {
                extensions.insert("interface".into(), json!(change));
                extensions.insert("broken_callers".into(), json!(broken));
                extensions.insert("hidden_callers".into(), json!(hidden));
            }
            ApiError::PlanLimit(limit) => {
                extensions.insert("limit".into(), json!(limit.kind));
                extensions.insert("plan".into(), json!(limit.plan));
                extensions.insert("allowed".into(), json!(limit.allowed));
                extensions.insert("needed".into(), json!(limit.needed));
                extensions.insert("upgrade_to".into(), json!(limit.upgrade_to));
            }
            ApiError::RateLimited { retry_after } | ApiError::Overloaded { retry_after } => {
                extensions.insert("retry_after".into(), json!(retry_after));
            }
            ApiError::StorageUnavailable(_) => {
                extensions.insert("retry_after".into(), json!(STORAGE_RETRY_AFTER));
            }
            _ => {}
        }
        Problem {
            type_: format!("/problems/{slug}"),
            title: title.to_owned(),
            status: status.as_u16(),
            detail: printable_detail(detail),
            extensions,
        }
    }
}

/// `detail` with every NUL written as `\u0000`: details quote the caller's input (a JSON key
/// serde did not expect, a field's value), and the published schema promises a detail without NUL
/// (`NO_NUL`), which clients that store it in PostgreSQL text rely on.
fn printable_detail(detail: String) -> String {
    if detail.contains('\0') {
        detail.replace('\0', "\\u0000")
    } else {
        detail
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        // Services wrap store errors in their own; whatever the path, a database that is away
        // for a moment is a 503 to retry, not a 500.
        let this = match self {
            ApiError::Internal(e) if e.chain().any(is_storage_unavailable) => {
                ApiError::StorageUnavailable(e)
            }
            other => other,
        };
        let status = this.status();
        if status.is_server_error() {
            tracing::error!(error.cause_chain = ?this, error.message = %this, "request failed");
        }
        let problem = this.to_problem();
        let mut response = (
            status,
            [(header::CONTENT_TYPE, "application/problem+json")],
            Json(problem),
        )
            .into_response();
        let retry_after = match &this {
            ApiError::RateLimited { retry_after } | ApiError::Overloaded { retry_after } => {
                Some(*retry_after)
            }
            ApiError::StorageUnavailable(_) => Some(STORAGE_RETRY_AFTER),
            _ => None,
        };
        if let Some(v) = retry_after.and_then(|s| HeaderValue::from_str(&s.to_string()).ok()) {
            response.headers_mut().insert(header::RETRY_AFTER, v);
        }
        if let ApiError::Unauthorized(_) = &this {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> ApiError {
        match e {
            StoreError::NotFound(what) => ApiError::NotFound(what.as_str()),
            StoreError::Conflict(what) => {
                ApiError::Conflict(format!("{what} conflicts with existing data"))
            }
            StoreError::Limit(message) => ApiError::BadRequest(message),
            // The store's own rules on what it is given: the input is wrong, not the server.
            StoreError::Invalid(message) => ApiError::InvalidBody {
                status: StatusCode::UNPROCESSABLE_ENTITY,
                detail: message,
            },
            e @ StoreError::Unavailable(_) => ApiError::StorageUnavailable(e.into()),
            other => ApiError::Internal(other.into()),
        }
    }
}

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> ApiError {
        let status = match &rejection {
            JsonRejection::JsonSyntaxError(_) => StatusCode::BAD_REQUEST,
            JsonRejection::JsonDataError(_) => StatusCode::UNPROCESSABLE_ENTITY,
            JsonRejection::MissingJsonContentType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            JsonRejection::BytesRejection(_)
                if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE =>
            {
                StatusCode::PAYLOAD_TOO_LARGE
            }
            _ => StatusCode::BAD_REQUEST,
        };
        ApiError::InvalidBody {
            status,
            detail: rejection.body_text(),
        }
    }
}

impl From<PathRejection> for ApiError {
    fn from(rejection: PathRejection) -> ApiError {
        ApiError::BadRequest(format!("invalid path: {}", rejection.body_text()))
    }
}

impl From<QueryRejection> for ApiError {
    fn from(rejection: QueryRejection) -> ApiError {
        ApiError::BadRequest(format!("invalid query: {}", rejection.body_text()))
    }
}

/// Whether `error` is a [`StoreError::Unavailable`]: the store found the database away for a
/// moment (which causes count is the store's call, not the server's). [`ApiError`] looks for
/// one along an error's chain of causes.
fn is_storage_unavailable(error: &(dyn std::error::Error + 'static)) -> bool {
    matches!(
        error.downcast_ref::<StoreError>(),
        Some(StoreError::Unavailable(_))
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn backend(e: impl std::error::Error + Send + Sync + 'static) -> StoreError {
        StoreError::Backend(Box::new(e))
    }

    fn unavailable(e: impl std::error::Error + Send + Sync + 'static) -> StoreError {
        StoreError::Unavailable(Box::new(e))
    }

    /// The status, `Retry-After` and problem `type` a store error is answered with, whether
    /// it reaches the response directly or wrapped (as services wrap it, in `anyhow`).
    fn answer(e: StoreError) -> (u16, Option<String>) {
        let direct = ApiError::from(e).into_response();
        let status = direct.status().as_u16();
        let retry = direct
            .headers()
            .get(header::RETRY_AFTER)
            .map(|v| v.to_str().unwrap().to_owned());
        assert_eq!(
            direct.headers()[header::CONTENT_TYPE],
            "application/problem+json"
        );
        (status, retry)
    }

    #[test]
    fn a_detail_quoting_a_nul_escapes_it() {
        let problem = ApiError::BadRequest("unknown field `a\0b`".into()).to_problem();
        assert_eq!(problem.detail, "unknown field `a\\u0000b`");
    }

    #[test]
    fn a_database_away_for_a_moment_is_a_503_with_retry_after() {
        let io = || std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        let (status, retry) = answer(unavailable(io()));
        assert_eq!((status, retry.as_deref()), (503, Some("2")));
        // Wrapped as services do: the store's verdict is found along the chain.
        let wrapped =
            ApiError::internal(anyhow::Error::new(unavailable(io())).context("signing in failed"));
        let problem = wrapped.into_response();
        assert_eq!(problem.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(problem.headers()[header::RETRY_AFTER], "2");
    }

    #[test]
    fn other_store_failures_stay_500s() {
        // Which causes mean "away for a moment" is the store's call: a `Backend` error is a 500
        // whatever it wraps.
        let io = || std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        assert_eq!(answer(backend(io())).0, 500);
        assert_eq!(
            answer(StoreError::Backend("stored graph is malformed".into())).0,
            500
        );
        let wrapped = ApiError::internal(anyhow::Error::new(io()).context("calling out failed"));
        assert_eq!(
            wrapped.into_response().status(),
            StatusCode::INTERNAL_SERVER_ERROR
        );
        let wrapped = ApiError::internal(anyhow::anyhow!("a handler panicked"));
        assert_eq!(
            wrapped.into_response().status(),
            StatusCode::INTERNAL_SERVER_ERROR
        );
    }

    #[test]
    fn a_storage_outage_and_a_timeout_are_problems_with_a_detail() {
        let problem = ApiError::StorageUnavailable(anyhow::anyhow!("pool timed out")).to_problem();
        assert_eq!(
            (problem.type_.as_str(), problem.status),
            ("/problems/unavailable", 503)
        );
        assert_eq!(
            problem.detail,
            "the database is unavailable for a moment; retry in 2 s"
        );
        assert_eq!(problem.extensions["retry_after"], 2);
        let problem = ApiError::TimedOut(30).to_problem();
        assert_eq!(
            (
                problem.type_.as_str(),
                problem.status,
                problem.detail.as_str()
            ),
            (
                "/problems/timeout",
                503,
                "the request took longer than 30 s"
            )
        );
    }
}

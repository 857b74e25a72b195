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
    /// A service this one depends on (the payment provider) refused or failed; the cause is
    /// for the log.
    #[error("the payment provider could not complete the request; try again later")]
    BadGateway(#[source] anyhow::Error),
    /// Anything else; details go to the log only.
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

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
            ApiError::Unavailable(_) | ApiError::Overloaded { .. } => {
                StatusCode::SERVICE_UNAVAILABLE
            }
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
            ApiError::Unavailable(_) => ("unavailable", "Service unavailable"),
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
                ApiError::Unavailable(_) | ApiError::BadGateway(_) | ApiError::Overloaded { .. }
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
            ApiError::VersionConflict { current, .. }
            | ApiError::PreconditionFailed { current } => {
                extensions.insert("current_version".into(), json!(current));
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
            _ => {}
        }
        Problem {
            type_: format!("/problems/{slug}"),
            title: title.to_owned(),
            status: status.as_u16(),
            detail,
            extensions,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        if status.is_server_error() {
            tracing::error!(error.cause_chain = ?self, error.message = %self, "request failed");
        }
        let problem = self.to_problem();
        let mut response = (
            status,
            [(header::CONTENT_TYPE, "application/problem+json")],
            Json(problem),
        )
            .into_response();
        match &self {
            ApiError::RateLimited { retry_after } | ApiError::Overloaded { retry_after } => {
                if let Ok(v) = HeaderValue::from_str(&retry_after.to_string()) {
                    response.headers_mut().insert(header::RETRY_AFTER, v);
                }
            }
            ApiError::Unauthorized(_) => {
                response
                    .headers_mut()
                    .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            _ => {}
        }
        response
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> ApiError {
        match e {
            StoreError::NotFound(what) => ApiError::NotFound(what),
            StoreError::Conflict(what) => {
                ApiError::Conflict(format!("{what} conflicts with existing data"))
            }
            StoreError::Limit(message) => ApiError::BadRequest(message),
            // The store's own rules on what it is given: the input is wrong, not the server.
            StoreError::Invalid(message) => ApiError::InvalidBody {
                status: StatusCode::UNPROCESSABLE_ENTITY,
                detail: message,
            },
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

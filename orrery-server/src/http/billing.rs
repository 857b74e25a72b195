//! `/api/billing`: Checkout and the billing portal, plan changes and cancellation at period end,
//! the account's subscription, and Stripe's webhook. The rules (the subscription state machine,
//! return addresses, webhook idempotency) are the billing service's
//! ([`crate::services::billing`]); these handlers parse, call it and build the views.

use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, StatusCode};
use orrery_core::Plan;
use orrery_core::billing::{Invoice, SubscriptionState};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::http::AppState;
use crate::http::error::{ApiError, Problem};
use crate::http::extract::{CurrentUser, Json, Query};
use crate::services::billing::{Billing, BillingSummary, Upgrade};

/// The largest webhook body accepted. Stripe's events are a few kilobytes.
pub const MAX_WEBHOOK_BYTES: usize = 256 * 1024;

/// The routes of this module.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_checkout))
        .routes(routes!(portal))
        .routes(routes!(subscription))
        .routes(routes!(change_plan))
        .routes(routes!(upgrade))
        .routes(routes!(invoices))
        .routes(routes!(cancel))
        .routes(routes!(resume))
        .merge(
            OpenApiRouter::new()
                .routes(routes!(webhook))
                .layer(axum::extract::DefaultBodyLimit::max(MAX_WEBHOOK_BYTES)),
        )
}

/// `POST /api/billing/create-checkout`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckoutBody {
    /// The plan to buy: `pro` or `enterprise`.
    #[schema(value_type = crate::http::docs::PaidPlanName, example = "pro")]
    pub plan: String,
    /// Where Stripe sends the user back to (http(s), on this server's origin or an allowed
    /// one, at most 2,000 characters); `?checkout=success` or `?checkout=canceled` is added.
    #[schema(max_length = 2000)]
    pub return_url: String,
}

/// A Checkout Session to send the user to.
#[derive(Debug, Serialize, ToSchema)]
pub struct CheckoutResponse {
    /// Stripe's hosted checkout page.
    pub checkout_url: String,
    /// Always true.
    pub success: bool,
}

/// `POST /api/billing/portal`.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PortalBody {
    /// Where the portal's "return" link leads (default: `public_url` + `/billing`); the rules
    /// of `CheckoutBody.return_url`.
    #[schema(max_length = 2000)]
    pub return_url: Option<String>,
}

/// A billing-portal session.
#[derive(Debug, Serialize, ToSchema)]
pub struct PortalResponse {
    /// Stripe's billing portal for this account.
    pub portal_url: String,
    /// Always true.
    pub success: bool,
}

/// `POST /api/billing/change-plan`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangePlanBody {
    /// The new plan: `pro` or `enterprise` (to go back to free, cancel).
    #[schema(value_type = crate::http::docs::PaidPlanName, example = "enterprise")]
    pub plan: String,
}

/// `POST /api/billing/upgrade`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpgradeBody {
    /// The plan: `pro` or `enterprise`.
    #[schema(value_type = crate::http::docs::PaidPlanName, example = "pro")]
    pub plan: String,
    /// Where Checkout returns to when there is no subscription yet (default: the console's
    /// billing page); the rules of `CheckoutBody.return_url`.
    #[schema(max_length = 2000)]
    pub return_url: Option<String>,
}

/// What an upgrade did: the subscription moved (`subscription` is the new one), or there was
/// none and `checkout_url` is where the user subscribes.
#[derive(Debug, Serialize, ToSchema)]
pub struct UpgradeResponse {
    /// The subscription after the change (`null` until a checkout completes).
    pub subscription: Option<SubscriptionView>,
    /// The plan whose limits apply now.
    #[schema(value_type = String, example = "pro")]
    pub effective_plan: Plan,
    /// Stripe's checkout page, when the account has no subscription yet.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub checkout_url: Option<String>,
    /// Always true.
    pub success: bool,
}

/// `GET /api/billing/invoices` options.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct InvoiceQuery {
    /// How many, newest first: 1 to 100 (default 24).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<u32>,
}

/// An invoice.
#[derive(Debug, Serialize, ToSchema)]
pub struct InvoiceView {
    /// Stripe's invoice id.
    pub id: String,
    /// Its number, once finalised.
    pub number: Option<String>,
    /// `draft`, `open`, `paid`, `uncollectible` or `void`.
    pub status: String,
    /// Total, in cents of `currency`.
    pub total: i64,
    /// Still due, in cents.
    pub amount_due: i64,
    /// Paid, in cents.
    pub amount_paid: i64,
    /// ISO 4217, lowercase.
    pub currency: String,
    /// When it was issued.
    #[serde(with = "time::serde::rfc3339")]
    pub created: OffsetDateTime,
    /// The period it bills: start.
    #[serde(with = "time::serde::rfc3339")]
    pub period_start: OffsetDateTime,
    /// The period it bills: end.
    #[serde(with = "time::serde::rfc3339")]
    pub period_end: OffsetDateTime,
    /// Stripe's page for it (view, pay, download).
    pub hosted_invoice_url: Option<String>,
    /// Its PDF.
    pub invoice_pdf: Option<String>,
}

/// The account's invoices.
#[derive(Debug, Serialize, ToSchema)]
pub struct InvoiceList {
    /// Newest first.
    pub invoices: Vec<InvoiceView>,
    /// Always true.
    pub success: bool,
}

/// A subscription as the API shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct SubscriptionView {
    /// The plan it is for.
    #[schema(value_type = String, example = "pro")]
    pub plan: Plan,
    /// Stripe's status: `active`, `trialing`, `past_due`, `canceled`…
    #[schema(example = "active")]
    pub status: String,
    /// When the paid period ends.
    #[serde(with = "time::serde::rfc3339::option")]
    pub current_period_end: Option<OffsetDateTime>,
    /// Whether it ends (and the account returns to the free plan) at the end of the period.
    pub cancel_at_period_end: bool,
}

/// The account's billing state.
#[derive(Debug, Serialize, ToSchema)]
pub struct BillingState {
    /// The plan paid for.
    #[schema(value_type = String, example = "pro")]
    pub plan: Plan,
    /// The plan whose limits apply now (the trial's while it runs).
    #[schema(value_type = String, example = "pro")]
    pub effective_plan: Plan,
    /// When the trial ends, if the account has one.
    #[serde(with = "time::serde::rfc3339::option")]
    pub trial_ends_at: Option<OffsetDateTime>,
    /// The subscription, once there is one.
    pub subscription: Option<SubscriptionView>,
    /// Whether this server takes payments (Stripe is configured).
    pub billing_enabled: bool,
    /// Always true.
    pub success: bool,
}

/// The answer to a webhook delivery.
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookReceipt {
    /// Always true: the event is processed (now, or before).
    pub received: bool,
    /// True when this event id was processed before (a replay): nothing changed.
    pub duplicate: bool,
}

/// Start a Stripe Checkout for a plan. Creates the account's Stripe customer on first use.
#[utoipa::path(post, path = "/api/billing/create-checkout", tag = "billing", request_body = CheckoutBody,
    security(("bearer" = []), ("api_key" = [])),
    responses((status = 200, body = CheckoutResponse), (status = 401, body = Problem),
              (status = 409, description = "Already subscribed: change the plan instead", body = Problem),
              (status = 422, body = Problem), (status = 502, body = Problem), (status = 503, description = "Billing is not configured", body = Problem)))]
#[tracing::instrument(skip_all, fields(user_id = %user.id()), err(level = "info"))]
async fn create_checkout(
    State(billing): State<Billing>,
    user: CurrentUser,
    Json(body): Json<CheckoutBody>,
) -> Result<Json<CheckoutResponse>, ApiError> {
    let url = billing
        .start_checkout(user.id(), &body.plan, &body.return_url)
        .await?;
    Ok(Json(CheckoutResponse {
        checkout_url: url,
        success: true,
    }))
}

/// Open Stripe's billing portal (payment methods, invoices, cancellation).
#[utoipa::path(post, path = "/api/billing/portal", tag = "billing", request_body(content = PortalBody, description = "Optional"),
    security(("bearer" = []), ("api_key" = [])),
    responses((status = 200, body = PortalResponse), (status = 401, body = Problem),
              (status = 409, description = "No billing account yet", body = Problem),
              (status = 422, body = Problem), (status = 502, body = Problem), (status = 503, body = Problem)))]
#[tracing::instrument(skip_all, fields(user_id = %user.id()), err(level = "info"))]
async fn portal(
    State(billing): State<Billing>,
    user: CurrentUser,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<PortalResponse>, ApiError> {
    let body = optional_body::<PortalBody>(body)?;
    let url = billing
        .open_portal(user.id(), body.return_url.as_deref())
        .await?;
    Ok(Json(PortalResponse {
        portal_url: url,
        success: true,
    }))
}

/// The account's plan and subscription.
#[utoipa::path(get, path = "/api/billing/subscription", tag = "billing",
    security(("bearer" = []), ("api_key" = [])),
    responses((status = 200, body = BillingState), (status = 401, body = Problem)))]
#[tracing::instrument(skip_all, fields(user_id = %user.id()), err(level = "info"))]
async fn subscription(
    State(billing): State<Billing>,
    user: CurrentUser,
) -> Result<Json<BillingState>, ApiError> {
    billing.summary(user.id()).await.map(BillingState::of)
}

/// Move the subscription to another paid plan (upgrade or downgrade, prorated). The new limits
/// apply at once.
#[utoipa::path(post, path = "/api/billing/change-plan", tag = "billing", request_body = ChangePlanBody,
    security(("bearer" = []), ("api_key" = [])),
    responses((status = 200, body = BillingState), (status = 401, body = Problem),
              (status = 409, description = "No active subscription, or already on that plan", body = Problem),
              (status = 422, body = Problem), (status = 502, body = Problem), (status = 503, body = Problem)))]
#[tracing::instrument(skip_all, fields(user_id = %user.id()), err(level = "info"))]
async fn change_plan(
    State(billing): State<Billing>,
    user: CurrentUser,
    Json(body): Json<ChangePlanBody>,
) -> Result<Json<BillingState>, ApiError> {
    billing.change_plan(user.id(), &body.plan).await?;
    billing.summary(user.id()).await.map(BillingState::of)
}

/// Upgrade (or change) the plan, as the design names it: an existing subscription moves to the
/// plan at once (prorated); without one, the answer carries the Checkout page to subscribe.
#[utoipa::path(post, path = "/api/billing/upgrade", tag = "billing", request_body = UpgradeBody,
    security(("bearer" = []), ("api_key" = [])),
    responses((status = 200, body = UpgradeResponse), (status = 401, body = Problem),
              (status = 409, description = "Already on that plan", body = Problem),
              (status = 422, body = Problem), (status = 502, body = Problem), (status = 503, body = Problem)))]
#[tracing::instrument(skip_all, fields(user_id = %user.id()), err(level = "info"))]
async fn upgrade(
    State(billing): State<Billing>,
    user: CurrentUser,
    Json(body): Json<UpgradeBody>,
) -> Result<Json<UpgradeResponse>, ApiError> {
    let done = billing
        .upgrade(user.id(), &body.plan, body.return_url.as_deref())
        .await?;
    let summary = billing.summary(user.id()).await?;
    Ok(Json(UpgradeResponse {
        subscription: summary.subscription.as_ref().map(view),
        effective_plan: summary.effective_plan,
        checkout_url: match done {
            Upgrade::Changed => None,
            Upgrade::Checkout(url) => Some(url),
        },
        success: true,
    }))
}

/// The account's invoices from Stripe, newest first (none before the first checkout).
#[utoipa::path(get, path = "/api/billing/invoices", tag = "billing", params(InvoiceQuery),
    security(("bearer" = []), ("api_key" = [])),
    responses((status = 200, body = InvoiceList), (status = 401, body = Problem),
              (status = 422, body = Problem), (status = 502, body = Problem), (status = 503, body = Problem)))]
#[tracing::instrument(skip_all, fields(user_id = %user.id()), err(level = "info"))]
async fn invoices(
    State(billing): State<Billing>,
    user: CurrentUser,
    Query(q): Query<InvoiceQuery>,
) -> Result<Json<InvoiceList>, ApiError> {
    let limit = q.limit.unwrap_or(24);
    if !(1..=100).contains(&limit) {
        return Err(ApiError::field("limit", "must be 1 to 100"));
    }
    let invoices = billing.invoices(user.id(), limit).await?;
    Ok(Json(InvoiceList {
        invoices: invoices.into_iter().map(invoice_view).collect(),
        success: true,
    }))
}

/// Cancel the subscription at the end of the paid period; the plan applies until then.
#[utoipa::path(post, path = "/api/billing/cancel", tag = "billing",
    security(("bearer" = []), ("api_key" = [])),
    responses((status = 200, body = BillingState), (status = 401, body = Problem),
              (status = 409, description = "No active subscription", body = Problem),
              (status = 502, body = Problem), (status = 503, body = Problem)))]
#[tracing::instrument(skip_all, fields(user_id = %user.id()), err(level = "info"))]
async fn cancel(
    State(billing): State<Billing>,
    user: CurrentUser,
) -> Result<Json<BillingState>, ApiError> {
    billing.set_cancel(user.id(), true).await?;
    billing.summary(user.id()).await.map(BillingState::of)
}

/// Undo a cancellation before the period ends.
#[utoipa::path(post, path = "/api/billing/resume", tag = "billing",
    security(("bearer" = []), ("api_key" = [])),
    responses((status = 200, body = BillingState), (status = 401, body = Problem),
              (status = 409, description = "No active subscription", body = Problem),
              (status = 502, body = Problem), (status = 503, body = Problem)))]
#[tracing::instrument(skip_all, fields(user_id = %user.id()), err(level = "info"))]
async fn resume(
    State(billing): State<Billing>,
    user: CurrentUser,
) -> Result<Json<BillingState>, ApiError> {
    billing.set_cancel(user.id(), false).await?;
    billing.summary(user.id()).await.map(BillingState::of)
}

/// Stripe's webhook: verified by its `Stripe-Signature` (5 minutes' tolerance, any of several
/// `v1` signatures), processed once per event id.
#[utoipa::path(post, path = "/api/billing/webhook", tag = "billing",
    request_body(content = String, description = "A Stripe event, as Stripe signed it", content_type = "application/json"),
    params(("Stripe-Signature" = String, Header, description = "t=…,v1=…")),
    responses((status = 200, body = WebhookReceipt),
              (status = 400, description = "Missing or bad signature, stale timestamp, or not a Stripe event", body = Problem),
              (status = 413, body = Problem), (status = 503, body = Problem)))]
#[tracing::instrument(skip_all, fields(event_id, event_type), err(level = "info"))]
async fn webhook(
    State(billing): State<Billing>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<WebhookReceipt>, ApiError> {
    if !billing.enabled() {
        return Err(ApiError::Unavailable(
            "billing is not configured on this server (no Stripe keys)".into(),
        ));
    }
    let body = body.map_err(|rejection| ApiError::InvalidBody {
        status: rejection.status(),
        detail: rejection.body_text(),
    })?;
    let signature = headers
        .get("stripe-signature")
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| ApiError::BadRequest("the Stripe-Signature header is missing".into()))?;
    let first = billing.receive_webhook(&body, signature).await?;
    Ok(Json(WebhookReceipt {
        received: true,
        duplicate: !first,
    }))
}

impl BillingState {
    fn of(summary: BillingSummary) -> Json<BillingState> {
        Json(BillingState {
            plan: summary.plan,
            effective_plan: summary.effective_plan,
            trial_ends_at: summary.trial_ends_at,
            subscription: summary.subscription.as_ref().map(view),
            billing_enabled: summary.enabled,
            success: true,
        })
    }
}

/// A JSON body that may be left out (an empty body is the default).
fn optional_body<T: serde::de::DeserializeOwned + Default>(
    body: Result<Bytes, BytesRejection>,
) -> Result<T, ApiError> {
    let body = body.map_err(|rejection| ApiError::InvalidBody {
        status: rejection.status(),
        detail: rejection.body_text(),
    })?;
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    if crate::http::extract::has_nul_escape(&body) {
        return Err(ApiError::InvalidBody {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            detail: "strings must not contain the NUL character (\\u0000)".into(),
        });
    }
    serde_json::from_slice(&body).map_err(|e| ApiError::InvalidBody {
        status: if e.is_syntax() || e.is_eof() {
            StatusCode::BAD_REQUEST
        } else {
            StatusCode::UNPROCESSABLE_ENTITY
        },
        detail: format!("Failed to deserialize the JSON body into the target type: {e}"),
    })
}

fn view(sub: &SubscriptionState) -> SubscriptionView {
    SubscriptionView {
        plan: sub.plan,
        status: sub.status.as_str().to_owned(),
        current_period_end: sub.current_period_end,
        cancel_at_period_end: sub.cancel_at_period_end,
    }
}

fn invoice_view(i: Invoice) -> InvoiceView {
    InvoiceView {
        id: i.id,
        number: i.number,
        status: i.status,
        total: i.total,
        amount_due: i.amount_due,
        amount_paid: i.amount_paid,
        currency: i.currency,
        created: i.created,
        period_start: i.period_start,
        period_end: i.period_end,
        hosted_invoice_url: i.hosted_url,
        invoice_pdf: i.pdf_url,
    }
}

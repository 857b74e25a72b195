//! `/api/billing`: Checkout and the billing portal, plan changes and cancellation at period end,
//! the account's subscription, and Stripe's webhook.
//!
//! The webhook is the source of truth for what a customer pays for. Each event id is processed
//! once (recorded before processing, forgotten again when processing fails so that Stripe's
//! retry is processed); a subscription state older than the stored one never replaces it, so
//! events may arrive in any order. The account's plan follows its subscription's (the free plan
//! when the subscription grants nothing) and applies at once: the cached account is dropped.
//!
//! Return addresses must be `http(s)` on `public_url`'s origin or on one of
//! `billing_return_origins`: Stripe sends the user there, so an open choice would make this
//! server a phishing redirector.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, StatusCode};
use orrery_core::Plan;
use orrery_core::billing::{
    BillingError, BillingEvent, BillingEventKind, BillingProvider, CheckoutRequest,
    SubscriptionState,
};
use orrery_core::store::UserPatch;
use reqwest::Url;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::events::{AuditEvent, record};
use crate::http::AppState;
use crate::http::error::{ApiError, Problem};
use crate::http::extract::{CurrentUser, Json};
use crate::jobs::public_url;
use crate::mail::{OutgoingMail, mail_date};

/// The largest webhook body accepted. Stripe's events are a few kilobytes.
pub const MAX_WEBHOOK_BYTES: usize = 256 * 1024;

/// The routes of this module.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_checkout))
        .routes(routes!(portal))
        .routes(routes!(subscription))
        .routes(routes!(change_plan))
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
#[tracing::instrument(skip_all, fields(user_id = %user.id()), err)]
async fn create_checkout(
    State(state): State<AppState>,
    user: CurrentUser,
    Json(body): Json<CheckoutBody>,
) -> Result<Json<CheckoutResponse>, ApiError> {
    let billing = provider(&state)?;
    let plan = paid_plan(&body.plan)?;
    let return_url = return_url(&state, "return_url", &body.return_url)?;
    if let Some(record) = state.store.subscription(user.id()).await?
        && record.state.status.grants_plan()
    {
        return Err(ApiError::Conflict(format!(
            "the account already pays for the {} plan; use /api/billing/change-plan",
            record.state.plan
        )));
    }
    let customer_id = customer(&state, billing.as_ref(), &user).await?;
    let url = billing
        .create_checkout(&CheckoutRequest {
            customer_id,
            plan,
            success_url: with_query(&return_url, "checkout", "success"),
            cancel_url: with_query(&return_url, "checkout", "canceled"),
            client_reference: user.id().to_string(),
        })
        .await
        .map_err(billing_error)?;
    record(
        &*state.store,
        Some(user.id()),
        None,
        AuditEvent::CheckoutStarted { plan },
    )
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
#[tracing::instrument(skip_all, fields(user_id = %user.id()), err)]
async fn portal(
    State(state): State<AppState>,
    user: CurrentUser,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<PortalResponse>, ApiError> {
    let billing = provider(&state)?;
    let body = optional_body::<PortalBody>(body)?;
    let return_url = match body.return_url {
        Some(url) => return_url(&state, "return_url", &url)?,
        None => format!("{}/billing", public_url(&state)),
    };
    let account = state.store.user(user.id()).await?;
    let customer_id = account.billing_customer_id.ok_or_else(|| {
        ApiError::Conflict("the account has no billing account yet; start a checkout first".into())
    })?;
    let url = billing
        .create_portal(&customer_id, &return_url)
        .await
        .map_err(billing_error)?;
    Ok(Json(PortalResponse {
        portal_url: url,
        success: true,
    }))
}

/// The account's plan and subscription.
#[utoipa::path(get, path = "/api/billing/subscription", tag = "billing",
    security(("bearer" = []), ("api_key" = [])),
    responses((status = 200, body = BillingState), (status = 401, body = Problem)))]
#[tracing::instrument(skip_all, fields(user_id = %user.id()), err)]
async fn subscription(
    State(state): State<AppState>,
    user: CurrentUser,
) -> Result<Json<BillingState>, ApiError> {
    let record = state.store.subscription(user.id()).await?;
    Ok(Json(BillingState {
        plan: user.user.plan,
        effective_plan: user.plan,
        trial_ends_at: user.user.trial_ends_at,
        subscription: record.map(|r| view(&r.state)),
        billing_enabled: state.billing.is_some(),
        success: true,
    }))
}

/// Move the subscription to another paid plan (upgrade or downgrade, prorated). The new limits
/// apply at once.
#[utoipa::path(post, path = "/api/billing/change-plan", tag = "billing", request_body = ChangePlanBody,
    security(("bearer" = []), ("api_key" = [])),
    responses((status = 200, body = BillingState), (status = 401, body = Problem),
              (status = 409, description = "No active subscription, or already on that plan", body = Problem),
              (status = 422, body = Problem), (status = 502, body = Problem), (status = 503, body = Problem)))]
#[tracing::instrument(skip_all, fields(user_id = %user.id()), err)]
async fn change_plan(
    State(state): State<AppState>,
    user: CurrentUser,
    Json(body): Json<ChangePlanBody>,
) -> Result<Json<BillingState>, ApiError> {
    let billing = provider(&state)?;
    let plan = paid_plan(&body.plan)?;
    let current = active_subscription(&state, user.id()).await?;
    if current.plan == plan {
        return Err(ApiError::Conflict(format!(
            "the subscription is already for the {plan} plan"
        )));
    }
    let changed = billing
        .change_plan(&current.subscription_id, plan)
        .await
        .map_err(billing_error)?;
    let cause = format!("api:{}", Uuid::new_v4());
    apply_state(&state, user.id(), &changed, &cause).await?;
    billing_state(&state, user.id()).await.map(Json)
}

/// Cancel the subscription at the end of the paid period; the plan applies until then.
#[utoipa::path(post, path = "/api/billing/cancel", tag = "billing",
    security(("bearer" = []), ("api_key" = [])),
    responses((status = 200, body = BillingState), (status = 401, body = Problem),
              (status = 409, description = "No active subscription", body = Problem),
              (status = 502, body = Problem), (status = 503, body = Problem)))]
#[tracing::instrument(skip_all, fields(user_id = %user.id()), err)]
async fn cancel(
    State(state): State<AppState>,
    user: CurrentUser,
) -> Result<Json<BillingState>, ApiError> {
    set_cancel(&state, user.id(), true).await.map(Json)
}

/// Undo a cancellation before the period ends.
#[utoipa::path(post, path = "/api/billing/resume", tag = "billing",
    security(("bearer" = []), ("api_key" = [])),
    responses((status = 200, body = BillingState), (status = 401, body = Problem),
              (status = 409, description = "No active subscription", body = Problem),
              (status = 502, body = Problem), (status = 503, body = Problem)))]
#[tracing::instrument(skip_all, fields(user_id = %user.id()), err)]
async fn resume(
    State(state): State<AppState>,
    user: CurrentUser,
) -> Result<Json<BillingState>, ApiError> {
    set_cancel(&state, user.id(), false).await.map(Json)
}

/// Stripe's webhook: verified by its `Stripe-Signature` (5 minutes' tolerance, any of several
/// `v1` signatures), processed once per event id.
#[utoipa::path(post, path = "/api/billing/webhook", tag = "billing",
    request_body(content = String, description = "A Stripe event, as Stripe signed it", content_type = "application/json"),
    params(("Stripe-Signature" = String, Header, description = "t=…,v1=…")),
    responses((status = 200, body = WebhookReceipt),
              (status = 400, description = "Missing or bad signature, stale timestamp, or not a Stripe event", body = Problem),
              (status = 413, body = Problem), (status = 503, body = Problem)))]
#[tracing::instrument(skip_all, fields(event_id, event_type), err)]
async fn webhook(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<WebhookReceipt>, ApiError> {
    let billing = provider(&state)?;
    let body = body.map_err(|rejection| ApiError::InvalidBody {
        status: rejection.status(),
        detail: rejection.body_text(),
    })?;
    let signature = headers
        .get("stripe-signature")
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| ApiError::BadRequest("the Stripe-Signature header is missing".into()))?;
    let event = billing
        .parse_webhook(&body, signature)
        .map_err(billing_error)?;
    let span = tracing::Span::current();
    span.record("event_id", event.id.as_str());
    span.record("event_type", event.event_type.as_str());
    let now = OffsetDateTime::now_utc();
    if !state
        .store
        .record_webhook_event(&event.id, &event.event_type, now)
        .await?
    {
        tracing::info!("webhook event already processed");
        return Ok(Json(WebhookReceipt {
            received: true,
            duplicate: true,
        }));
    }
    if let Err(e) = process(&state, billing.as_ref(), &event).await {
        // Processing failed: forget the id, so that Stripe's retry is processed.
        if let Err(forget) = state.store.forget_webhook_event(&event.id).await {
            tracing::error!(error = %forget, "forgetting a failed webhook event failed");
        }
        return Err(e);
    }
    Ok(Json(WebhookReceipt {
        received: true,
        duplicate: false,
    }))
}

/// Acts on one verified, first-seen event.
async fn process(
    state: &AppState,
    billing: &dyn BillingProvider,
    event: &BillingEvent,
) -> Result<(), ApiError> {
    match &event.kind {
        BillingEventKind::CheckoutCompleted {
            customer_id,
            subscription_id,
            client_reference,
        } => {
            let by_reference = client_reference
                .as_deref()
                .and_then(|r| Uuid::parse_str(r).ok());
            let user_id = match by_reference {
                Some(id) if state.store.user(id).await.is_ok() => Some(id),
                _ => state.store.user_by_customer(customer_id).await?,
            };
            let Some(user_id) = user_id else {
                tracing::warn!(%customer_id, "checkout for a customer of no account; ignored");
                return Ok(());
            };
            let account = state.store.user(user_id).await?;
            if account.billing_customer_id.is_none() {
                state
                    .accounts
                    .update(
                        user_id,
                        UserPatch {
                            billing_customer_id: Some(customer_id.clone()),
                            ..UserPatch::default()
                        },
                    )
                    .await?;
            }
            // The subscription as Stripe has it now, in case its own events are late or lost.
            if let Some(subscription_id) = subscription_id {
                let current = billing
                    .subscription(subscription_id)
                    .await
                    .map_err(billing_error)?;
                apply_state(state, user_id, &current, &event.id).await?;
            }
            Ok(())
        }
        BillingEventKind::SubscriptionChanged(sub) | BillingEventKind::SubscriptionDeleted(sub) => {
            let Some(user_id) = subscriber(state, sub).await? else {
                tracing::warn!(subscription_id = %sub.subscription_id, "subscription of no account; ignored");
                return Ok(());
            };
            let stored = state.store.subscription(user_id).await?;
            let tie = stored.is_some_and(|r| {
                r.state.subscription_id == sub.subscription_id
                    && r.state.observed_at == sub.observed_at
            });
            if tie {
                // Event times have whole seconds: two changes in one second cannot be ordered
                // by them, so Stripe's current state decides.
                let current = billing
                    .subscription(&sub.subscription_id)
                    .await
                    .map_err(billing_error)?;
                return apply_state(state, user_id, &current, &event.id).await;
            }
            apply_state(state, user_id, sub, &event.id).await
        }
        BillingEventKind::InvoicePaid {
            customer_id,
            subscription_id,
            amount_paid,
        } => {
            if let Some(user_id) = state.store.user_by_customer(customer_id).await? {
                record(
                    &*state.store,
                    Some(user_id),
                    None,
                    AuditEvent::InvoicePaid {
                        amount_paid: *amount_paid,
                        subscription_id: subscription_id.clone(),
                    },
                )
                .await?;
            }
            Ok(())
        }
        BillingEventKind::InvoicePaymentFailed {
            customer_id,
            subscription_id,
        } => {
            let Some(user_id) = state.store.user_by_customer(customer_id).await? else {
                return Ok(());
            };
            let user = state.store.user(user_id).await?;
            let plan = state
                .store
                .subscription(user_id)
                .await?
                .map_or(user.plan, |r| r.state.plan);
            record(
                &*state.store,
                Some(user_id),
                None,
                AuditEvent::PaymentFailed {
                    subscription_id: subscription_id.clone(),
                },
            )
            .await?;
            state
                .outbox
                .send(
                    user_id,
                    &user.email,
                    OutgoingMail::PaymentFailed {
                        name: user.name.clone(),
                        plan,
                        billing_url: format!("{}/billing", public_url(state)),
                    },
                    Some(format!("{}:payment_failed", event.id)),
                )
                .await;
            Ok(())
        }
        _ => {
            tracing::debug!("event not acted on");
            Ok(())
        }
    }
}

/// Stores a subscription state for an account unless a newer one is stored, then moves the
/// account to the plan of the newest state and tells the user what changed. `cause` (an event
/// id, or `api:<uuid>`) keys the mails, so a reprocessed event does not mail twice.
pub async fn apply_state(
    state: &AppState,
    user_id: Uuid,
    sub: &SubscriptionState,
    cause: &str,
) -> Result<(), ApiError> {
    let before = state.store.subscription(user_id).await?;
    if !state.store.apply_subscription(user_id, sub).await? {
        tracing::info!(subscription_id = %sub.subscription_id, observed_at = %sub.observed_at, "an older subscription state arrived late; ignored");
        return Ok(());
    }
    // The stored state, not `sub`: a newer state stored by a racing delivery wins.
    let newest = state
        .store
        .subscription(user_id)
        .await?
        .map_or_else(|| sub.clone(), |r| r.state);
    let user = state.store.user(user_id).await?;
    let plan = if newest.status.grants_plan() {
        newest.plan
    } else {
        Plan::Free
    };
    let billing_url = format!("{}/billing", public_url(state));
    if plan != user.plan {
        state
            .accounts
            .update(
                user_id,
                UserPatch {
                    plan: Some(plan),
                    ..UserPatch::default()
                },
            )
            .await?;
        record(
            &*state.store,
            Some(user_id),
            None,
            AuditEvent::PlanChanged {
                from: user.plan,
                to: plan,
                subscription_id: newest.subscription_id.clone(),
                status: newest.status,
            },
        )
        .await?;
        let (name, previous_plan, billing_url) =
            (user.name.clone(), user.plan, billing_url.clone());
        let (mail, template) = if plan > user.plan {
            let mail = OutgoingMail::PlanUpgraded {
                name,
                plan,
                previous_plan,
                billing_url,
            };
            (mail, "plan_upgraded")
        } else {
            let mail = OutgoingMail::PlanDowngraded {
                name,
                plan,
                previous_plan,
                billing_url,
            };
            (mail, "plan_downgraded")
        };
        state
            .outbox
            .send(
                user_id,
                &user.email,
                mail,
                Some(format!("{cause}:{template}")),
            )
            .await;
    }
    let was_canceling = before.as_ref().is_some_and(|b| {
        b.state.subscription_id == newest.subscription_id && b.state.cancel_at_period_end
    });
    if newest.cancel_at_period_end && newest.status.grants_plan() && !was_canceling {
        record(
            &*state.store,
            Some(user_id),
            None,
            AuditEvent::CancelScheduled {
                subscription_id: newest.subscription_id.clone(),
                ends_at: newest.current_period_end,
            },
        )
        .await?;
        state
            .outbox
            .send(
                user_id,
                &user.email,
                OutgoingMail::SubscriptionCanceled {
                    name: user.name.clone(),
                    plan: newest.plan,
                    ends_at: newest.current_period_end.map(mail_date).unwrap_or_default(),
                    billing_url,
                },
                Some(format!("{cause}:subscription_canceled")),
            )
            .await;
    }
    Ok(())
}

/// The account a subscription belongs to: by the subscription, then by its customer.
async fn subscriber(state: &AppState, sub: &SubscriptionState) -> Result<Option<Uuid>, ApiError> {
    if let Some(record) = state
        .store
        .subscription_by_provider_id(&sub.subscription_id)
        .await?
    {
        return Ok(Some(record.user_id));
    }
    Ok(state.store.user_by_customer(&sub.customer_id).await?)
}

async fn set_cancel(
    state: &AppState,
    user_id: Uuid,
    cancel: bool,
) -> Result<BillingState, ApiError> {
    let billing = provider(state)?;
    let current = active_subscription(state, user_id).await?;
    let changed = billing
        .cancel_at_period_end(&current.subscription_id, cancel)
        .await
        .map_err(billing_error)?;
    let cause = format!("api:{}", Uuid::new_v4());
    apply_state(state, user_id, &changed, &cause).await?;
    billing_state(state, user_id).await
}

async fn active_subscription(
    state: &AppState,
    user_id: Uuid,
) -> Result<SubscriptionState, ApiError> {
    match state.store.subscription(user_id).await? {
        Some(record) if record.state.status.grants_plan() => Ok(record.state),
        _ => Err(ApiError::Conflict(
            "the account has no active subscription; start a checkout first".into(),
        )),
    }
}

async fn billing_state(state: &AppState, user_id: Uuid) -> Result<BillingState, ApiError> {
    let user = state.store.user(user_id).await?;
    let record = state.store.subscription(user_id).await?;
    Ok(BillingState {
        plan: user.plan,
        effective_plan: crate::http::extract::effective_plan(&user, OffsetDateTime::now_utc()),
        trial_ends_at: user.trial_ends_at,
        subscription: record.map(|r| view(&r.state)),
        billing_enabled: state.billing.is_some(),
        success: true,
    })
}

/// The account's Stripe customer, created (and stored) on first use.
async fn customer(
    state: &AppState,
    billing: &dyn BillingProvider,
    user: &CurrentUser,
) -> Result<String, ApiError> {
    // The cached account may predate the customer: read the row.
    let account = state.store.user(user.id()).await?;
    if let Some(id) = account.billing_customer_id {
        return Ok(id);
    }
    let id = billing
        .create_customer(&account.email, &account.name, &account.id.to_string())
        .await
        .map_err(billing_error)?;
    state
        .accounts
        .update(
            account.id,
            UserPatch {
                billing_customer_id: Some(id.clone()),
                ..UserPatch::default()
            },
        )
        .await?;
    Ok(id)
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

fn provider(state: &AppState) -> Result<Arc<dyn BillingProvider>, ApiError> {
    state.billing.clone().ok_or_else(|| {
        ApiError::Unavailable("billing is not configured on this server (no Stripe keys)".into())
    })
}

/// A plan that can be bought.
fn paid_plan(raw: &str) -> Result<Plan, ApiError> {
    let plan: Plan = raw
        .parse()
        .map_err(|e: orrery_core::plan::UnknownPlan| ApiError::field("plan", e.to_string()))?;
    if plan == Plan::Free {
        return Err(ApiError::field(
            "plan",
            "the free plan is not bought; cancel the subscription to return to it",
        ));
    }
    Ok(plan)
}

/// A return address: absolute http(s), on `public_url`'s origin or an allowed one, no
/// credentials, at most 2,000 characters.
pub fn return_url(state: &AppState, field: &'static str, raw: &str) -> Result<String, ApiError> {
    check_return_url(
        &state.settings.public_url,
        &state.settings.billing_return_origins,
        raw,
    )
    .map_err(|message| ApiError::field(field, message))
}

fn check_return_url(public_url: &str, allowed: &[String], raw: &str) -> Result<String, String> {
    if raw.len() > 2_000 {
        return Err("must be at most 2000 characters".into());
    }
    let url = Url::parse(raw.trim()).map_err(|e| format!("must be an absolute URL ({e})"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err("must be an http or https URL".into());
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("must not carry credentials".into());
    }
    let origin = url.origin();
    let allowed_origin = std::iter::once(public_url)
        .chain(allowed.iter().map(String::as_str))
        .filter_map(|o| Url::parse(o).ok())
        .any(|o| o.origin() == origin);
    if !allowed_origin {
        return Err(format!(
            "must be on this service's origin ({}) or an allowed one",
            Url::parse(public_url)
                .map(|u| u.origin().ascii_serialization())
                .unwrap_or_default()
        ));
    }
    Ok(url.to_string())
}

fn with_query(url: &str, key: &str, value: &str) -> String {
    match Url::parse(url) {
        Ok(mut u) => {
            u.query_pairs_mut().append_pair(key, value);
            u.to_string()
        }
        Err(_) => url.to_owned(),
    }
}

/// Billing failures as problems: bad webhooks are the sender's fault (400), Stripe's refusals
/// and outages are a bad gateway (502, cause in the log).
fn billing_error(e: BillingError) -> ApiError {
    match e {
        BillingError::NotConfigured => {
            ApiError::Unavailable("billing is not configured on this server".into())
        }
        BillingError::NotForSale(plan) => ApiError::field(
            "plan",
            format!("the {plan} plan is not for sale on this server"),
        ),
        BillingError::BadSignature => ApiError::BadRequest(
            "the Stripe-Signature does not verify, or its timestamp is too old".into(),
        ),
        BillingError::BadPayload(_) => {
            ApiError::BadRequest("the webhook payload is not a Stripe event".into())
        }
        other => ApiError::BadGateway(other.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn return_urls_stay_on_allowed_origins() {
        let public = "https://orrery.example";
        let allowed = vec!["https://app.orrery.example".to_owned()];
        let ok = |u: &str| check_return_url(public, &allowed, u);
        assert_eq!(
            ok("https://orrery.example/billing?x=1").unwrap(),
            "https://orrery.example/billing?x=1"
        );
        assert!(ok("https://app.orrery.example/done").is_ok());
        for bad in [
            "javascript:alert(1)",
            "/relative",
            "ftp://orrery.example/",
            "https://evil.example/",
            "https://orrery.example.evil.example/",
            "http://orrery.example/",
            "https://user:pw@orrery.example/",
            "https://orrery.example:8443/",
        ] {
            assert!(ok(bad).is_err(), "{bad}");
        }
        assert!(ok(&format!("https://orrery.example/{}", "a".repeat(2_001))).is_err());
    }

    #[test]
    fn queries_are_added_to_return_urls() {
        assert_eq!(
            with_query("https://o.example/b?x=1", "checkout", "success"),
            "https://o.example/b?x=1&checkout=success"
        );
    }
}

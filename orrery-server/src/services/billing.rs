//! Billing: what an account pays for, and the one state machine that moves it between plans.
//!
//! Stripe is the source of truth. Checkout, the portal, plan changes and cancellations ask it;
//! its answers and its webhook events both go through [`Billing::apply_state`], which stores a
//! subscription state unless a newer one is stored (events arrive in any order), moves the
//! account to the plan the newest state grants (the free plan when it grants nothing; the
//! cached account is dropped so the limits apply at once), writes the audit events and queues
//! the mails, keyed by their cause so a reprocessed event never mails twice. Each webhook event
//! id is processed once: recorded before processing, forgotten again when processing fails, so
//! Stripe's retry is processed.
//!
//! Return addresses must be `http(s)` on `public_url`'s origin or on one of
//! `billing_return_origins`: Stripe sends the user there, so an open choice would make this
//! server a phishing redirector.

use std::sync::Arc;

use orrery_core::Plan;
use orrery_core::billing::{
    BillingError, BillingEvent, BillingEventKind, BillingProvider, CheckoutRequest, Invoice,
    SubscriptionState, SubscriptionStatus,
};
use orrery_core::store::{User, UserPatch};
use reqwest::Url;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::events::{AuditEvent, record};
use crate::http::error::ApiError;
use crate::mail::{Outbox, OutgoingMail, mail_date};
use crate::services::accounts::Accounts;
use crate::storage::Db;

/// The longest return address, in bytes.
pub const RETURN_URL_MAX_BYTES: usize = 2_000;

/// An account's billing, as the API shows it.
#[derive(Clone, Debug)]
pub struct BillingSummary {
    /// The plan paid for.
    pub plan: Plan,
    /// The plan whose limits apply now (the trial's while it runs).
    pub effective_plan: Plan,
    /// When the trial ends, if the account has one.
    pub trial_ends_at: Option<OffsetDateTime>,
    /// The newest subscription state, once there is one.
    pub subscription: Option<SubscriptionState>,
    /// Whether this server takes payments.
    pub enabled: bool,
}

/// What [`Billing::upgrade`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Upgrade {
    /// The subscription moved to the plan; its limits apply now.
    Changed,
    /// There was no subscription: the user goes to this Checkout page to start one.
    Checkout(String),
}

/// The billing service. Cheap to clone.
#[derive(Clone)]
pub struct Billing {
    store: Db,
    accounts: Accounts,
    outbox: Outbox,
    provider: Option<Arc<dyn BillingProvider>>,
    public_url: String,
    return_origins: Vec<String>,
}

impl std::fmt::Debug for Billing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Billing")
            .field("enabled", &self.provider.is_some())
            .field("public_url", &self.public_url)
            .finish_non_exhaustive()
    }
}

impl Billing {
    /// The service over its dependencies; `provider` is `None` when Stripe is not configured
    /// (every paying action is then a 503).
    pub fn new(
        store: Db,
        accounts: Accounts,
        outbox: Outbox,
        provider: Option<Arc<dyn BillingProvider>>,
        public_url: &str,
        return_origins: Vec<String>,
    ) -> Billing {
        Billing {
            store,
            accounts,
            outbox,
            provider,
            public_url: public_url.trim_end_matches('/').to_owned(),
            return_origins,
        }
    }

    /// Whether this server takes payments.
    pub fn enabled(&self) -> bool {
        self.provider.is_some()
    }

    /// Stripe, when configured.
    pub fn provider(&self) -> Option<&Arc<dyn BillingProvider>> {
        self.provider.as_ref()
    }

    /// Starts a Checkout for `plan` (a paid plan's name) and returns the page to send the user
    /// to; Stripe sends them back to `return_url` with `?checkout=success|canceled`. Creates
    /// the account's Stripe customer on first use. An account that already pays changes its
    /// plan instead (409).
    pub async fn start_checkout(
        &self,
        user_id: Uuid,
        plan: &str,
        return_url: &str,
    ) -> Result<String, ApiError> {
        let billing = self.require()?;
        let plan = paid_plan(plan)?;
        let return_url = self.return_url("return_url", return_url)?;
        if let Some(record) = self.store.subscription(user_id).await?
            && record.state.status.grants_plan()
        {
            return Err(ApiError::Conflict(format!(
                "the account already pays for the {} plan; use /api/billing/change-plan",
                record.state.plan
            )));
        }
        let customer_id = self.customer(billing.as_ref(), user_id).await?;
        let url = billing
            .create_checkout(&CheckoutRequest {
                customer_id,
                plan,
                success_url: with_query(&return_url, "checkout", "success"),
                cancel_url: with_query(&return_url, "checkout", "canceled"),
                client_reference: user_id.to_string(),
            })
            .await
            .map_err(billing_error)?;
        record(
            &*self.store,
            Some(user_id),
            None,
            AuditEvent::CheckoutStarted { plan },
        )
        .await?;
        Ok(url)
    }

    /// Opens Stripe's billing portal; its "return" link leads to `return_url` (default: the
    /// console's billing page). An account that never checked out has no portal (409).
    pub async fn open_portal(
        &self,
        user_id: Uuid,
        return_url: Option<&str>,
    ) -> Result<String, ApiError> {
        let billing = self.require()?;
        let return_url = match return_url {
            Some(url) => self.return_url("return_url", url)?,
            None => self.billing_page(),
        };
        let account = self.store.user(user_id).await?;
        let customer_id = account.billing_customer_id.ok_or_else(|| {
            ApiError::Conflict(
                "the account has no billing account yet; start a checkout first".into(),
            )
        })?;
        billing
            .create_portal(&customer_id, &return_url)
            .await
            .map_err(billing_error)
    }

    /// The account's plan and subscription, read from the database (not the cache).
    pub async fn summary(&self, user_id: Uuid) -> Result<BillingSummary, ApiError> {
        let user = self.store.user(user_id).await?;
        let record = self.store.subscription(user_id).await?;
        Ok(BillingSummary {
            plan: user.plan,
            effective_plan: crate::http::extract::effective_plan(&user, OffsetDateTime::now_utc()),
            trial_ends_at: user.trial_ends_at,
            subscription: record.map(|r| r.state),
            enabled: self.enabled(),
        })
    }

    /// Moves the subscription to another paid plan (prorated by Stripe); the new limits apply
    /// at once.
    pub async fn change_plan(&self, user_id: Uuid, plan: &str) -> Result<(), ApiError> {
        let billing = self.require()?;
        let plan = paid_plan(plan)?;
        let current = self.active_subscription(user_id).await?;
        if current.plan == plan {
            return Err(ApiError::Conflict(format!(
                "the subscription is already for the {plan} plan"
            )));
        }
        let changed = billing
            .change_plan(&current.subscription_id, plan)
            .await
            .map_err(billing_error)?;
        self.apply_state(user_id, &changed, &format!("api:{}", Uuid::new_v4()))
            .await
    }

    /// The design's `upgrade`: moves an existing subscription to `plan` (as
    /// [`Billing::change_plan`]), or, when the account has none, starts a Checkout for it
    /// returning to `return_url` (default: the console's billing page).
    pub async fn upgrade(
        &self,
        user_id: Uuid,
        plan: &str,
        return_url: Option<&str>,
    ) -> Result<Upgrade, ApiError> {
        self.require()?;
        let paid = paid_plan(plan)?;
        // Checked whichever way the upgrade goes: a bad address is a bad request either way.
        let return_url = match return_url {
            Some(url) => self.return_url("return_url", url)?,
            None => self.billing_page(),
        };
        let subscribed = self
            .store
            .subscription(user_id)
            .await?
            .is_some_and(|r| r.state.status.grants_plan());
        if subscribed {
            self.change_plan(user_id, paid.as_str()).await?;
            return Ok(Upgrade::Changed);
        }
        let url = self.start_checkout(user_id, plan, &return_url).await?;
        Ok(Upgrade::Checkout(url))
    }

    /// The account's invoices, newest first (none before its first checkout).
    pub async fn invoices(&self, user_id: Uuid, limit: u32) -> Result<Vec<Invoice>, ApiError> {
        let billing = self.require()?;
        let account = self.store.user(user_id).await?;
        let Some(customer_id) = account.billing_customer_id else {
            return Ok(Vec::new());
        };
        billing
            .invoices(&customer_id, limit)
            .await
            .map_err(billing_error)
    }

    /// Cancels the subscription at the end of the paid period (`cancel`), or undoes that.
    pub async fn set_cancel(&self, user_id: Uuid, cancel: bool) -> Result<(), ApiError> {
        let billing = self.require()?;
        let current = self.active_subscription(user_id).await?;
        let changed = billing
            .cancel_at_period_end(&current.subscription_id, cancel)
            .await
            .map_err(billing_error)?;
        self.apply_state(user_id, &changed, &format!("api:{}", Uuid::new_v4()))
            .await
    }

    /// Ends the account's subscription now, if it has one that has not ended (the account is
    /// being deleted); returns whether one was cancelled. Without Stripe configured there is
    /// nothing to cancel, unless a subscription is on record: then it is a 503, and the account
    /// stays, rather than leave a subscription running for a deleted account.
    pub async fn end_now(&self, user_id: Uuid) -> Result<bool, ApiError> {
        let Some(record) = self.store.subscription(user_id).await? else {
            return Ok(false);
        };
        if matches!(
            record.state.status,
            SubscriptionStatus::Canceled | SubscriptionStatus::IncompleteExpired
        ) {
            return Ok(false);
        }
        let billing = self.require()?;
        billing
            .cancel_now(&record.state.subscription_id)
            .await
            .map_err(billing_error)?;
        Ok(true)
    }

    /// One webhook delivery: verifies its signature and processes the event once. Returns
    /// `false` when the event id was processed before (a replay: nothing changes).
    pub async fn receive_webhook(&self, body: &[u8], signature: &str) -> Result<bool, ApiError> {
        let billing = self.require()?;
        let event = billing
            .parse_webhook(body, signature)
            .map_err(billing_error)?;
        let span = tracing::Span::current();
        span.record("event_id", event.id.as_str());
        span.record("event_type", event.event_type.as_str());
        let now = OffsetDateTime::now_utc();
        if !self
            .store
            .record_webhook_event(&event.id, &event.event_type, now)
            .await?
        {
            tracing::info!("webhook event already processed");
            return Ok(false);
        }
        if let Err(e) = self.process(billing.as_ref(), &event).await {
            // Processing failed: forget the id, so that Stripe's retry is processed.
            if let Err(forget) = self.store.forget_webhook_event(&event.id).await {
                tracing::error!(error = %forget, "forgetting a failed webhook event failed");
            }
            return Err(e);
        }
        Ok(true)
    }

    /// Acts on one verified, first-seen event.
    async fn process(
        &self,
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
                    Some(id) if self.store.user(id).await.is_ok() => Some(id),
                    _ => self.store.user_by_customer(customer_id).await?,
                };
                let Some(user_id) = user_id else {
                    tracing::warn!(%customer_id, "checkout for a customer of no account; ignored");
                    return Ok(());
                };
                let account = self.store.user(user_id).await?;
                if account.billing_customer_id.is_none() {
                    self.set_customer(user_id, customer_id).await?;
                }
                // The subscription as Stripe has it now, in case its own events are late or
                // lost.
                if let Some(subscription_id) = subscription_id {
                    let current = billing
                        .subscription(subscription_id)
                        .await
                        .map_err(billing_error)?;
                    self.apply_state(user_id, &current, &event.id).await?;
                }
                Ok(())
            }
            BillingEventKind::SubscriptionChanged(sub)
            | BillingEventKind::SubscriptionDeleted(sub) => {
                let Some(user_id) = self.subscriber(sub).await? else {
                    tracing::warn!(subscription_id = %sub.subscription_id, "subscription of no account; ignored");
                    return Ok(());
                };
                let stored = self.store.subscription(user_id).await?;
                let tie = stored.is_some_and(|r| {
                    r.state.subscription_id == sub.subscription_id
                        && r.state.observed_at == sub.observed_at
                });
                if tie {
                    // Event times have whole seconds: two changes in one second cannot be
                    // ordered by them, so Stripe's current state decides.
                    let current = billing
                        .subscription(&sub.subscription_id)
                        .await
                        .map_err(billing_error)?;
                    return self.apply_state(user_id, &current, &event.id).await;
                }
                self.apply_state(user_id, sub, &event.id).await
            }
            BillingEventKind::InvoicePaid {
                customer_id,
                subscription_id,
                amount_paid,
            } => {
                if let Some(user_id) = self.store.user_by_customer(customer_id).await? {
                    record(
                        &*self.store,
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
                let Some(user_id) = self.store.user_by_customer(customer_id).await? else {
                    return Ok(());
                };
                let user = self.store.user(user_id).await?;
                let plan = self
                    .store
                    .subscription(user_id)
                    .await?
                    .map_or(user.plan, |r| r.state.plan);
                record(
                    &*self.store,
                    Some(user_id),
                    None,
                    AuditEvent::PaymentFailed {
                        subscription_id: subscription_id.clone(),
                    },
                )
                .await?;
                self.outbox
                    .send(
                        user_id,
                        &user.email,
                        OutgoingMail::PaymentFailed {
                            name: user.name.clone(),
                            plan,
                            billing_url: self.billing_page(),
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

    /// Stores a subscription state for an account unless a newer one is stored, then moves
    /// the account to the plan of the newest state and tells the user what changed. `cause`
    /// (an event id, or `api:<uuid>`) keys the mails, so a reprocessed event does not mail
    /// twice.
    pub async fn apply_state(
        &self,
        user_id: Uuid,
        sub: &SubscriptionState,
        cause: &str,
    ) -> Result<(), ApiError> {
        let before = self.store.subscription(user_id).await?;
        if !self.store.apply_subscription(user_id, sub).await? {
            tracing::info!(subscription_id = %sub.subscription_id, observed_at = %sub.observed_at, "an older subscription state arrived late; ignored");
            return Ok(());
        }
        // The stored state, not `sub`: a newer state stored by a racing delivery wins.
        let newest = self
            .store
            .subscription(user_id)
            .await?
            .map_or_else(|| sub.clone(), |r| r.state);
        let user = self.store.user(user_id).await?;
        let plan = if newest.status.grants_plan() {
            newest.plan
        } else {
            Plan::Free
        };
        if plan != user.plan {
            self.move_to_plan(&user, plan, &newest, cause).await?;
        }
        let was_canceling = before.as_ref().is_some_and(|b| {
            b.state.subscription_id == newest.subscription_id && b.state.cancel_at_period_end
        });
        if newest.cancel_at_period_end && newest.status.grants_plan() && !was_canceling {
            record(
                &*self.store,
                Some(user_id),
                None,
                AuditEvent::CancelScheduled {
                    subscription_id: newest.subscription_id.clone(),
                    ends_at: newest.current_period_end,
                },
            )
            .await?;
            self.outbox
                .send(
                    user_id,
                    &user.email,
                    OutgoingMail::SubscriptionCanceled {
                        name: user.name.clone(),
                        plan: newest.plan,
                        ends_at: newest.current_period_end.map(mail_date).unwrap_or_default(),
                        billing_url: self.billing_page(),
                    },
                    Some(format!("{cause}:subscription_canceled")),
                )
                .await;
        }
        Ok(())
    }

    /// The plan change itself: the account row (and its cache), the event, the mail.
    async fn move_to_plan(
        &self,
        user: &User,
        plan: Plan,
        newest: &SubscriptionState,
        cause: &str,
    ) -> Result<(), ApiError> {
        self.accounts
            .update(
                user.id,
                UserPatch {
                    plan: Some(plan),
                    ..UserPatch::default()
                },
            )
            .await?;
        record(
            &*self.store,
            Some(user.id),
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
            (user.name.clone(), user.plan, self.billing_page());
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
        self.outbox
            .send(
                user.id,
                &user.email,
                mail,
                Some(format!("{cause}:{template}")),
            )
            .await;
        Ok(())
    }

    /// A return address: absolute http(s), on `public_url`'s origin or an allowed one, no
    /// credentials, at most [`RETURN_URL_MAX_BYTES`]. `field` names it in the problem.
    pub fn return_url(&self, field: &'static str, raw: &str) -> Result<String, ApiError> {
        check_return_url(&self.public_url, &self.return_origins, raw)
            .map_err(|message| ApiError::field(field, message))
    }

    fn billing_page(&self) -> String {
        format!("{}/billing", self.public_url)
    }

    fn require(&self) -> Result<Arc<dyn BillingProvider>, ApiError> {
        self.provider.clone().ok_or_else(|| {
            ApiError::Unavailable(
                "billing is not configured on this server (no Stripe keys)".into(),
            )
        })
    }

    /// The account a subscription belongs to: by the subscription, then by its customer.
    async fn subscriber(&self, sub: &SubscriptionState) -> Result<Option<Uuid>, ApiError> {
        if let Some(record) = self
            .store
            .subscription_by_provider_id(&sub.subscription_id)
            .await?
        {
            return Ok(Some(record.user_id));
        }
        Ok(self.store.user_by_customer(&sub.customer_id).await?)
    }

    async fn active_subscription(&self, user_id: Uuid) -> Result<SubscriptionState, ApiError> {
        match self.store.subscription(user_id).await? {
            Some(record) if record.state.status.grants_plan() => Ok(record.state),
            _ => Err(ApiError::Conflict(
                "the account has no active subscription; start a checkout first".into(),
            )),
        }
    }

    /// The account's Stripe customer, created (and stored) on first use.
    async fn customer(
        &self,
        billing: &dyn BillingProvider,
        user_id: Uuid,
    ) -> Result<String, ApiError> {
        // The cached account may predate the customer: read the row.
        let account = self.store.user(user_id).await?;
        if let Some(id) = account.billing_customer_id {
            return Ok(id);
        }
        let id = billing
            .create_customer(&account.email, &account.name, &account.id.to_string())
            .await
            .map_err(billing_error)?;
        self.set_customer(account.id, &id).await?;
        Ok(id)
    }

    async fn set_customer(&self, user_id: Uuid, customer_id: &str) -> Result<(), ApiError> {
        self.accounts
            .update(
                user_id,
                UserPatch {
                    billing_customer_id: Some(customer_id.to_owned()),
                    ..UserPatch::default()
                },
            )
            .await?;
        Ok(())
    }
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

fn check_return_url(public_url: &str, allowed: &[String], raw: &str) -> Result<String, String> {
    if raw.len() > RETURN_URL_MAX_BYTES {
        return Err(format!("must be at most {RETURN_URL_MAX_BYTES} characters"));
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
    use orrery_core::billing::SubscriptionStatus;
    use orrery_core::store::Role;

    use super::*;
    use crate::services::testing::Fixture;

    fn state(plan: Plan, status: SubscriptionStatus, at: i64, cancel: bool) -> SubscriptionState {
        SubscriptionState {
            subscription_id: "sub_1".into(),
            customer_id: "cus_1".into(),
            plan,
            status,
            current_period_end: Some(OffsetDateTime::from_unix_timestamp(2_000_000_000).unwrap()),
            cancel_at_period_end: cancel,
            observed_at: OffsetDateTime::from_unix_timestamp(1_800_000_000 + at).unwrap(),
        }
    }

    #[tokio::test]
    async fn the_newest_state_decides_the_plan_whatever_the_order() {
        let f = Fixture::new();
        let user = f.user("ada@example.com", Plan::Free, Role::User).await;
        let plan = |f: &Fixture| {
            let store = f.store.clone();
            async move { store.user(user.id).await.unwrap().plan }
        };
        use SubscriptionStatus::{Active, Canceled};
        f.billing
            .apply_state(user.id, &state(Plan::Pro, Active, 10, false), "evt_1")
            .await
            .unwrap();
        assert_eq!(plan(&f).await, Plan::Pro);
        // An older state arriving late changes nothing and mails nobody.
        f.billing
            .apply_state(
                user.id,
                &state(Plan::Enterprise, Canceled, 5, false),
                "evt_0",
            )
            .await
            .unwrap();
        assert_eq!(plan(&f).await, Plan::Pro);
        // Reprocessing the same event mails once.
        f.billing
            .apply_state(user.id, &state(Plan::Pro, Active, 10, false), "evt_1")
            .await
            .unwrap();
        f.billing
            .apply_state(
                user.id,
                &state(Plan::Enterprise, Active, 20, false),
                "evt_2",
            )
            .await
            .unwrap();
        assert_eq!(plan(&f).await, Plan::Enterprise);
        // A subscription that grants nothing returns the account to the free plan.
        f.billing
            .apply_state(
                user.id,
                &state(Plan::Enterprise, Canceled, 30, false),
                "evt_3",
            )
            .await
            .unwrap();
        assert_eq!(plan(&f).await, Plan::Free);
        assert_eq!(
            f.mails().await,
            ["plan_upgraded", "plan_upgraded", "plan_downgraded"]
        );
        assert_eq!(
            f.events(user.id).await,
            [
                "billing.plan_changed",
                "billing.plan_changed",
                "billing.plan_changed"
            ]
        );
    }

    #[tokio::test]
    async fn a_cancellation_is_announced_once() {
        let f = Fixture::new();
        let user = f.user("bo@example.com", Plan::Free, Role::User).await;
        use SubscriptionStatus::Active;
        for (at, cause) in [(10, "evt_1"), (20, "evt_2"), (30, "evt_3")] {
            f.billing
                .apply_state(user.id, &state(Plan::Pro, Active, at, at >= 20), cause)
                .await
                .unwrap();
        }
        assert_eq!(f.mails().await, ["plan_upgraded", "subscription_canceled"]);
        assert_eq!(f.store.user(user.id).await.unwrap().plan, Plan::Pro);
    }

    #[tokio::test]
    async fn without_stripe_every_paying_action_is_unavailable() {
        let f = Fixture::new();
        let user = f.user("cy@example.com", Plan::Free, Role::User).await;
        fn unavailable<T>(r: Result<T, ApiError>) -> bool {
            matches!(r, Err(ApiError::Unavailable(_)))
        }
        assert!(unavailable(
            f.billing
                .start_checkout(user.id, "pro", "https://orrery.example/billing")
                .await
        ));
        assert!(unavailable(f.billing.open_portal(user.id, None).await));
        assert!(unavailable(f.billing.change_plan(user.id, "pro").await));
        assert!(unavailable(f.billing.set_cancel(user.id, true).await));
        assert!(unavailable(
            f.billing.receive_webhook(b"{}", "t=1,v1=00").await
        ));
        let summary = f.billing.summary(user.id).await.unwrap();
        assert!(!summary.enabled);
        assert_eq!(summary.plan, Plan::Free);
        assert!(summary.subscription.is_none());
    }

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

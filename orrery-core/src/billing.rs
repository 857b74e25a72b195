//! The billing domain: subscription states, the events a payment provider sends, and the
//! [`BillingProvider`] trait the server implements with Stripe.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::plan::Plan;

/// The state of a paid subscription, as the payment provider reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SubscriptionStatus {
    /// In a provider-side trial.
    Trialing,
    /// Paid and running.
    Active,
    /// A payment failed; the provider is retrying. The plan still applies.
    PastDue,
    /// Payment retries gave up; the plan no longer applies.
    Unpaid,
    /// Ended.
    Canceled,
    /// The first payment has not gone through yet.
    Incomplete,
    /// The first payment never went through.
    IncompleteExpired,
    /// Paused by the provider.
    Paused,
}

impl SubscriptionStatus {
    /// Whether the subscription's plan applies in this state.
    pub fn grants_plan(self) -> bool {
        matches!(
            self,
            SubscriptionStatus::Trialing | SubscriptionStatus::Active | SubscriptionStatus::PastDue
        )
    }

    /// The state's name, as written in the database and by Stripe.
    pub fn as_str(self) -> &'static str {
        match self {
            SubscriptionStatus::Trialing => "trialing",
            SubscriptionStatus::Active => "active",
            SubscriptionStatus::PastDue => "past_due",
            SubscriptionStatus::Unpaid => "unpaid",
            SubscriptionStatus::Canceled => "canceled",
            SubscriptionStatus::Incomplete => "incomplete",
            SubscriptionStatus::IncompleteExpired => "incomplete_expired",
            SubscriptionStatus::Paused => "paused",
        }
    }
}

impl fmt::Display for SubscriptionStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An unknown subscription status name.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown subscription status `{0}`")]
pub struct UnknownStatus(pub String);

impl FromStr for SubscriptionStatus {
    type Err = UnknownStatus;

    fn from_str(s: &str) -> Result<SubscriptionStatus, UnknownStatus> {
        Ok(match s {
            "trialing" => SubscriptionStatus::Trialing,
            "active" => SubscriptionStatus::Active,
            "past_due" => SubscriptionStatus::PastDue,
            "unpaid" => SubscriptionStatus::Unpaid,
            "canceled" => SubscriptionStatus::Canceled,
            "incomplete" => SubscriptionStatus::Incomplete,
            "incomplete_expired" => SubscriptionStatus::IncompleteExpired,
            "paused" => SubscriptionStatus::Paused,
            other => return Err(UnknownStatus(other.to_owned())),
        })
    }
}

/// A subscription as the provider last described it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubscriptionState {
    /// The provider's subscription id.
    pub subscription_id: String,
    /// The provider's customer id.
    pub customer_id: String,
    /// The plan the subscription is for.
    pub plan: Plan,
    /// Its state.
    pub status: SubscriptionStatus,
    /// When the paid period ends.
    #[serde(with = "time::serde::rfc3339::option")]
    pub current_period_end: Option<OffsetDateTime>,
    /// Whether it ends at the end of the period.
    pub cancel_at_period_end: bool,
    /// When the provider produced this description: an older one never replaces a newer one.
    #[serde(with = "time::serde::rfc3339")]
    pub observed_at: OffsetDateTime,
}

/// Something the payment provider tells us, verified and parsed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BillingEvent {
    /// The provider's event id: each is processed once.
    pub id: String,
    /// The provider's name for what happened (`customer.subscription.created`).
    pub event_type: String,
    /// When the provider created the event.
    pub created: OffsetDateTime,
    /// What happened.
    pub kind: BillingEventKind,
}

/// What a billing event says.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum BillingEventKind {
    /// A checkout finished: the customer now has a subscription.
    CheckoutCompleted {
        /// The customer.
        customer_id: String,
        /// The new subscription, when the session created one.
        subscription_id: Option<String>,
        /// Our reference passed into the checkout (the user id).
        client_reference: Option<String>,
    },
    /// A subscription was created or changed.
    SubscriptionChanged(SubscriptionState),
    /// A subscription ended.
    SubscriptionDeleted(SubscriptionState),
    /// An invoice was paid.
    InvoicePaid {
        /// The customer.
        customer_id: String,
        /// The subscription it was for.
        subscription_id: Option<String>,
        /// The amount paid, in the smallest currency unit.
        amount_paid: i64,
    },
    /// Paying an invoice failed.
    InvoicePaymentFailed {
        /// The customer.
        customer_id: String,
        /// The subscription it was for.
        subscription_id: Option<String>,
    },
    /// An event we do not act on.
    Other {
        /// The provider's event type.
        event_type: String,
    },
}

/// What a checkout is for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckoutRequest {
    /// The provider customer.
    pub customer_id: String,
    /// The plan being bought.
    pub plan: Plan,
    /// Where the provider sends the user afterwards.
    pub success_url: String,
    /// Where the provider sends the user when they give up.
    pub cancel_url: String,
    /// Our reference for the user, echoed back in `CheckoutCompleted`.
    pub client_reference: String,
}

/// Why a billing call failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BillingError {
    /// Billing is not configured on this server.
    #[error("billing is not configured")]
    NotConfigured,
    /// The plan has no price configured with the provider.
    #[error("the {0} plan cannot be bought")]
    NotForSale(Plan),
    /// A webhook's signature did not verify (or was too old).
    #[error("webhook signature is invalid")]
    BadSignature,
    /// A webhook's body could not be parsed.
    #[error("webhook payload could not be parsed")]
    BadPayload(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The provider refused or could not be reached; the cause is for the logs.
    #[error("payment provider request failed")]
    Provider(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// An invoice, as the provider issued it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Invoice {
    /// The provider's invoice id.
    pub id: String,
    /// Its number, once finalised (`ORR-0001`).
    pub number: Option<String>,
    /// Its state: `draft`, `open`, `paid`, `uncollectible` or `void`.
    pub status: String,
    /// Total, in the smallest unit of `currency` (cents).
    pub total: i64,
    /// What is still due.
    pub amount_due: i64,
    /// What was paid.
    pub amount_paid: i64,
    /// ISO 4217, lowercase (`usd`).
    pub currency: String,
    /// When it was created.
    #[serde(with = "time::serde::rfc3339")]
    pub created: OffsetDateTime,
    /// Start of the period it bills.
    #[serde(with = "time::serde::rfc3339")]
    pub period_start: OffsetDateTime,
    /// End of the period it bills.
    #[serde(with = "time::serde::rfc3339")]
    pub period_end: OffsetDateTime,
    /// The provider's page for it (view and pay).
    pub hosted_url: Option<String>,
    /// Its PDF.
    pub pdf_url: Option<String>,
}

/// A payment provider: Stripe in the server, a fake in tests.
#[async_trait::async_trait]
pub trait BillingProvider: Send + Sync + std::fmt::Debug {
    /// Creates a customer for a user and returns its id.
    async fn create_customer(
        &self,
        email: &str,
        name: &str,
        user_ref: &str,
    ) -> Result<String, BillingError>;

    /// Starts a checkout for a subscription and returns the address to send the user to.
    async fn create_checkout(&self, request: &CheckoutRequest) -> Result<String, BillingError>;

    /// Opens the provider's billing portal for a customer and returns its address.
    async fn create_portal(
        &self,
        customer_id: &str,
        return_url: &str,
    ) -> Result<String, BillingError>;

    /// Moves a subscription to another plan (upgrade or downgrade).
    async fn change_plan(
        &self,
        subscription_id: &str,
        plan: Plan,
    ) -> Result<SubscriptionState, BillingError>;

    /// The subscription as the provider describes it now.
    async fn subscription(&self, subscription_id: &str) -> Result<SubscriptionState, BillingError>;

    /// Checks that the provider answers with the configured credentials (for health checks).
    async fn ping(&self) -> Result<(), BillingError>;

    /// Sets a subscription to end at the end of its period (or undoes that).
    async fn cancel_at_period_end(
        &self,
        subscription_id: &str,
        cancel: bool,
    ) -> Result<SubscriptionState, BillingError>;

    /// Ends a subscription now, without waiting for the end of its period (the account that
    /// paid for it is being deleted).
    async fn cancel_now(&self, subscription_id: &str) -> Result<SubscriptionState, BillingError>;

    /// A customer's invoices, newest first, at most `limit` of them.
    async fn invoices(&self, customer_id: &str, limit: u32) -> Result<Vec<Invoice>, BillingError>;

    /// Verifies a webhook's signature header and parses its payload.
    fn parse_webhook(
        &self,
        payload: &[u8],
        signature_header: &str,
    ) -> Result<BillingEvent, BillingError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_round_trip_and_grant_plans() {
        for s in [
            SubscriptionStatus::Trialing,
            SubscriptionStatus::Active,
            SubscriptionStatus::PastDue,
            SubscriptionStatus::Unpaid,
            SubscriptionStatus::Canceled,
            SubscriptionStatus::Incomplete,
            SubscriptionStatus::IncompleteExpired,
            SubscriptionStatus::Paused,
        ] {
            assert_eq!(s.as_str().parse::<SubscriptionStatus>().unwrap(), s);
        }
        assert!(SubscriptionStatus::PastDue.grants_plan());
        assert!(!SubscriptionStatus::Canceled.grants_plan());
        assert!("gone".parse::<SubscriptionStatus>().is_err());
    }
}

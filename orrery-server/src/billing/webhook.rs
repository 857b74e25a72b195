//! Stripe webhooks, verified and parsed into [`BillingEvent`]s, and Stripe subscriptions described
//! as [`SubscriptionState`]s: pure functions of their inputs (payload, `Stripe-Signature` header,
//! endpoint secret, the time now, the configured prices), with no client, settings or I/O.
//!
//! Invariant: this file names no `crate::` path, only `orrery_core`, `stripe_shared`,
//! `stripe_webhook`, `time` and `tracing`: the `webhook` fuzz target (`orrery-server/fuzz`)
//! compiles this very file, without the rest of the server and its heavy dependencies.

use orrery_core::Plan;
use orrery_core::billing::{
    BillingError, BillingEvent, BillingEventKind, SubscriptionState, SubscriptionStatus,
};
use stripe_webhook::{EventObject, Webhook, WebhookError};
use time::OffsetDateTime;

/// How far a signature's time may be from now, in seconds (Stripe's own tolerance).
pub const TOLERANCE_SECONDS: i64 = 300;

/// The Stripe prices that sell the paid plans; an empty price sells nothing.
#[derive(Clone, Debug, Default)]
pub struct Prices {
    /// The price of [`Plan::Pro`].
    pub pro: String,
    /// The price of [`Plan::Enterprise`].
    pub enterprise: String,
}

impl Prices {
    /// The price that sells `plan`, or [`BillingError::NotForSale`].
    pub fn price(&self, plan: Plan) -> Result<&str, BillingError> {
        let price = match plan {
            Plan::Free => "",
            Plan::Pro => self.pro.as_str(),
            Plan::Enterprise => self.enterprise.as_str(),
        };
        if price.is_empty() {
            return Err(BillingError::NotForSale(plan));
        }
        Ok(price)
    }

    /// The plan a price sells, when it is one of ours.
    pub fn plan_of(&self, price: &str) -> Option<Plan> {
        if !self.pro.is_empty() && price == self.pro {
            return Some(Plan::Pro);
        }
        if !self.enterprise.is_empty() && price == self.enterprise {
            return Some(Plan::Enterprise);
        }
        None
    }

    /// Our description of a Stripe subscription, observed at `observed_at`: the plan of its first
    /// item's price (or its `plan` metadata, which checkout sets too).
    pub fn state(
        &self,
        sub: &stripe_shared::Subscription,
        observed_at: OffsetDateTime,
    ) -> SubscriptionState {
        let item = sub.items.data.first();
        let plan = item
            .and_then(|i| self.plan_of(i.price.id.as_str()))
            .or_else(|| sub.metadata.get("plan").and_then(|p| p.parse().ok()))
            .unwrap_or_else(|| {
                tracing::warn!(subscription_id = %sub.id.as_str(), "subscription for a price that is not configured; it grants no plan");
                Plan::Free
            });
        let status = sub
            .status
            .as_str()
            .parse::<SubscriptionStatus>()
            .unwrap_or(SubscriptionStatus::Incomplete);
        SubscriptionState {
            subscription_id: sub.id.as_str().to_owned(),
            customer_id: sub.customer.id().as_str().to_owned(),
            plan,
            status,
            current_period_end: item.and_then(|i| timestamp(i.current_period_end)),
            cancel_at_period_end: sub.cancel_at_period_end,
            observed_at,
        }
    }
}

/// Verifies a webhook's `Stripe-Signature` header against `secret` at `now`, then parses its
/// payload into the event the server acts on.
///
/// An empty secret is [`BillingError::NotConfigured`]; a header that is malformed, does not verify
/// or was signed more than [`TOLERANCE_SECONDS`] away from `now` is [`BillingError::BadSignature`];
/// a verified payload that is not a Stripe event, or lacks what its type needs, is
/// [`BillingError::BadPayload`].
pub fn parse(
    payload: &[u8],
    signature_header: &str,
    secret: &str,
    now: OffsetDateTime,
    prices: &Prices,
) -> Result<BillingEvent, BillingError> {
    if secret.is_empty() {
        return Err(BillingError::NotConfigured);
    }
    let payload =
        std::str::from_utf8(payload).map_err(|e| BillingError::BadPayload(Box::new(e)))?;
    let now = now.unix_timestamp();
    // async-stripe subtracts the signature's time from now unchecked, which overflows (a panic
    // with overflow checks) for a time near i64::MIN signed with the secret. A time out of
    // tolerance fails its check anyway, so it is refused here, before the subtraction.
    if signature_time(signature_header)
        .is_some_and(|t| (i128::from(now) - i128::from(t)).abs() > i128::from(TOLERANCE_SECONDS))
    {
        return Err(BillingError::BadSignature);
    }
    let event = Webhook::construct_event_with_timestamp(payload, signature_header, secret, now)
        .map_err(|e| match e {
            WebhookError::BadParse(_) => BillingError::BadPayload(Box::new(e)),
            _ => BillingError::BadSignature,
        })?;
    let created = timestamp(event.created)
        .ok_or_else(|| BillingError::BadPayload("event time out of range".into()))?;
    let event_type = event.type_.as_str().to_owned();
    let kind = match event.data.object {
        EventObject::CheckoutSessionCompleted(session) => BillingEventKind::CheckoutCompleted {
            customer_id: session
                .customer
                .as_ref()
                .map(|c| c.id().as_str().to_owned())
                .ok_or_else(|| BillingError::BadPayload("checkout without customer".into()))?,
            subscription_id: session
                .subscription
                .as_ref()
                .map(|s| s.id().as_str().to_owned()),
            client_reference: session.client_reference_id.clone(),
        },
        EventObject::CustomerSubscriptionCreated(sub)
        | EventObject::CustomerSubscriptionUpdated(sub) => {
            BillingEventKind::SubscriptionChanged(prices.state(&sub, created))
        }
        EventObject::CustomerSubscriptionDeleted(sub) => {
            BillingEventKind::SubscriptionDeleted(prices.state(&sub, created))
        }
        EventObject::InvoicePaid(invoice) => BillingEventKind::InvoicePaid {
            customer_id: invoice_customer(&invoice)?,
            subscription_id: invoice_subscription(&invoice),
            amount_paid: invoice.amount_paid,
        },
        EventObject::InvoicePaymentFailed(invoice) => BillingEventKind::InvoicePaymentFailed {
            customer_id: invoice_customer(&invoice)?,
            subscription_id: invoice_subscription(&invoice),
        },
        _ => BillingEventKind::Other {
            event_type: event_type.clone(),
        },
    };
    Ok(BillingEvent {
        id: event.id.as_str().to_owned(),
        event_type,
        created,
        kind,
    })
}

/// Seconds since the epoch as a time, when it is one `time` can hold.
fn timestamp(seconds: i64) -> Option<OffsetDateTime> {
    OffsetDateTime::from_unix_timestamp(seconds).ok()
}

/// The signature time async-stripe will check: the last `t=` of the header, when it parses.
fn signature_time(header: &str) -> Option<i64> {
    header
        .split(',')
        .filter_map(|pair| pair.strip_prefix("t="))
        .next_back()
        .and_then(|t| t.parse().ok())
}

fn invoice_customer(invoice: &stripe_shared::Invoice) -> Result<String, BillingError> {
    invoice
        .customer
        .as_ref()
        .map(|c| c.id().as_str().to_owned())
        .ok_or_else(|| BillingError::BadPayload("invoice without customer".into()))
}

fn invoice_subscription(invoice: &stripe_shared::Invoice) -> Option<String> {
    invoice
        .subscription
        .as_ref()
        .map(|s| s.id().as_str().to_owned())
        .or_else(|| {
            invoice
                .parent
                .as_ref()
                .and_then(|p| p.subscription_details.as_ref())
                .map(|d| d.subscription.id().as_str().to_owned())
        })
}

// The fuzz target's checks, so that its kept crashes and seeds replay in ordinary tests.
#[cfg(test)]
#[path = "../../fuzz/checks/webhook.rs"]
mod fuzz_checks;

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    use orrery_core::billing::BillingEventKind;
    use time::OffsetDateTime;

    use crate::billing::webhook::{fuzz_checks, parse};

    #[test]
    fn kept_fuzz_crashes_pass_the_webhook_checks() {
        let failed: Vec<String> = files("regressions/webhook")
            .iter()
            .filter(|file| {
                let data = std::fs::read(file).unwrap();
                std::panic::catch_unwind(|| fuzz_checks::check(&data)).is_err()
            })
            .map(|file| file.display().to_string())
            .collect();
        assert!(failed.is_empty(), "still failing: {failed:?}");
    }

    #[test]
    fn every_fuzz_seed_is_a_signed_event_the_server_understands() {
        let now = OffsetDateTime::from_unix_timestamp(fuzz_checks::NOW).unwrap();
        let mut seen = String::new();
        for file in files("seeds/webhook") {
            let data = std::fs::read(&file).unwrap();
            fuzz_checks::check(&data);
            let (header, payload) = fuzz_checks::split(&data);
            let name = file.file_name().unwrap().to_string_lossy();
            let event = parse(
                payload,
                &header,
                fuzz_checks::SECRET,
                now,
                &fuzz_checks::prices(),
            )
            .unwrap_or_else(|e| panic!("{name}: {e:?}"));
            let kind = match &event.kind {
                BillingEventKind::CheckoutCompleted { .. } => "checkout completed".to_owned(),
                BillingEventKind::SubscriptionChanged(s) => {
                    format!("subscription changed: {} {:?}", s.plan, s.status)
                }
                BillingEventKind::SubscriptionDeleted(s) => {
                    format!("subscription deleted: {} {:?}", s.plan, s.status)
                }
                BillingEventKind::InvoicePaid { amount_paid, .. } => {
                    format!("invoice paid: {amount_paid}")
                }
                BillingEventKind::InvoicePaymentFailed { .. } => "payment failed".to_owned(),
                BillingEventKind::Other { event_type } => format!("other: {event_type}"),
                _ => format!("{:?}", event.kind),
            };
            seen.push_str(&format!("{name}: {kind}\n"));
        }
        assert_eq!(
            seen,
            "checkout_session_completed.txt: checkout completed
customer_created.txt: other: customer.created
invoice_paid.txt: invoice paid: 2900
invoice_payment_failed.txt: payment failed
subscription_created_pro.txt: subscription changed: pro Active
subscription_deleted.txt: subscription deleted: pro Canceled
subscription_updated_enterprise.txt: subscription changed: enterprise Active
subscription_updated_past_due.txt: subscription changed: pro PastDue
"
        );
    }

    /// The files under `orrery-server/fuzz/<dir>`, sorted (none when it is missing).
    fn files(dir: &str) -> Vec<PathBuf> {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz").join(dir);
        let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
            .map(|entries| entries.flatten().map(|e| e.path()).collect())
            .unwrap_or_default();
        files.retain(|f| f.is_file() && !f.ends_with("README.md"));
        files.sort();
        files
    }
}

//! Stripe behind the core [`BillingProvider`] trait: customers, Checkout Sessions in subscription
//! mode, billing-portal sessions, plan changes and cancellation at period end (async-stripe 1.0),
//! and webhook events verified by their `Stripe-Signature` and turned into [`BillingEvent`]s.
//!
//! The client's base address is configurable (`stripe_api_base`), which is how the tests point it
//! at their Stripe emulator. Prices map to plans through `stripe_price_pro` and
//! `stripe_price_enterprise`; a subscription's plan is the plan of its first item's price (or its
//! `plan` metadata, which checkout sets too).

use std::collections::HashMap;

use orrery_core::Plan;
use orrery_core::billing::{
    BillingError, BillingEvent, BillingEventKind, BillingProvider, CheckoutRequest,
    SubscriptionState, SubscriptionStatus,
};
use secrecy::{ExposeSecret, SecretString};
use stripe::{IdempotencyKey, RequestStrategy, StripeRequest};
use stripe_billing::billing_portal_session::CreateBillingPortalSession;
use stripe_billing::subscription::{
    RetrieveSubscription, UpdateSubscription, UpdateSubscriptionItems,
    UpdateSubscriptionProrationBehavior,
};
use stripe_checkout::checkout_session::{
    CreateCheckoutSession, CreateCheckoutSessionLineItems, CreateCheckoutSessionSubscriptionData,
};
use stripe_core::customer::CreateCustomer;
use stripe_product::price::RetrievePrice;
use stripe_shared::CheckoutSessionMode;
use stripe_webhook::{EventObject, Webhook, WebhookError};
use time::OffsetDateTime;

use crate::settings::Settings;

/// Stripe, configured.
pub struct StripeBilling {
    client: stripe::Client,
    webhook_secret: SecretString,
    price_pro: String,
    price_enterprise: String,
}

impl std::fmt::Debug for StripeBilling {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // No keys: the client's own Debug output would show its configuration.
        f.debug_struct("StripeBilling")
            .field("price_pro", &self.price_pro)
            .field("price_enterprise", &self.price_enterprise)
            .finish_non_exhaustive()
    }
}

impl StripeBilling {
    /// Stripe from the settings, or `None` when no secret key is configured (billing is off).
    pub fn from_settings(settings: &Settings) -> anyhow::Result<Option<StripeBilling>> {
        let key = settings.stripe_secret_key.expose_secret();
        if key.is_empty() {
            return Ok(None);
        }
        let mut base = settings.stripe_api_base.clone();
        // async-stripe appends `v1/…` to the base as it is: the trailing slash is required.
        if !base.ends_with('/') {
            base.push('/');
        }
        let client = stripe::ClientBuilder::new(key)
            .url(base)
            .app_info("orrery", Some(env!("CARGO_PKG_VERSION").to_owned()), None)
            .timeout(std::time::Duration::from_secs(20))
            .build()
            .map_err(|e| anyhow::anyhow!("cannot configure the Stripe client: {e}"))?;
        Ok(Some(StripeBilling {
            client,
            webhook_secret: settings.stripe_webhook_secret.clone(),
            price_pro: settings.stripe_price_pro.clone(),
            price_enterprise: settings.stripe_price_enterprise.clone(),
        }))
    }

    fn price(&self, plan: Plan) -> Result<&str, BillingError> {
        let price = match plan {
            Plan::Free => "",
            Plan::Pro => self.price_pro.as_str(),
            Plan::Enterprise => self.price_enterprise.as_str(),
        };
        if price.is_empty() {
            return Err(BillingError::NotForSale(plan));
        }
        Ok(price)
    }

    fn plan_of_price(&self, price: &str) -> Option<Plan> {
        if !self.price_pro.is_empty() && price == self.price_pro {
            return Some(Plan::Pro);
        }
        if !self.price_enterprise.is_empty() && price == self.price_enterprise {
            return Some(Plan::Enterprise);
        }
        None
    }

    /// Our description of a Stripe subscription, observed at `observed_at`.
    fn state(
        &self,
        sub: &stripe_shared::Subscription,
        observed_at: OffsetDateTime,
    ) -> SubscriptionState {
        let item = sub.items.data.first();
        let plan = item
            .and_then(|i| self.plan_of_price(i.price.id.as_str()))
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

    async fn retrieve(&self, id: &str) -> Result<stripe_shared::Subscription, BillingError> {
        RetrieveSubscription::new(id)
            .send(&self.client)
            .await
            .map_err(provider)
    }
}

#[async_trait::async_trait]
impl BillingProvider for StripeBilling {
    #[tracing::instrument(skip_all, fields(user_ref = %user_ref), err)]
    async fn create_customer(
        &self,
        email: &str,
        name: &str,
        user_ref: &str,
    ) -> Result<String, BillingError> {
        // Keyed by the user, so two racing first checkouts get the same customer from Stripe.
        let key = IdempotencyKey::new(format!("orrery-customer-{user_ref}")).map_err(provider)?;
        let customer = CreateCustomer::new()
            .email(email)
            .name(name)
            .metadata(HashMap::from([("user_id".to_owned(), user_ref.to_owned())]))
            .customize()
            .request_strategy(RequestStrategy::Idempotent(key))
            .send(&self.client)
            .await
            .map_err(provider)?;
        Ok(customer.id.as_str().to_owned())
    }

    #[tracing::instrument(skip_all, fields(customer_id = %request.customer_id, plan = %request.plan), err)]
    async fn create_checkout(&self, request: &CheckoutRequest) -> Result<String, BillingError> {
        let price = self.price(request.plan)?;
        let mut item = CreateCheckoutSessionLineItems::new();
        item.price = Some(price.to_owned());
        item.quantity = Some(1);
        let mut subscription_data = CreateCheckoutSessionSubscriptionData::new();
        subscription_data.metadata = Some(HashMap::from([
            ("plan".to_owned(), request.plan.as_str().to_owned()),
            ("user_id".to_owned(), request.client_reference.clone()),
        ]));
        let session = CreateCheckoutSession::new()
            .mode(CheckoutSessionMode::Subscription)
            .customer(request.customer_id.as_str())
            .client_reference_id(request.client_reference.as_str())
            .line_items(vec![item])
            .subscription_data(subscription_data)
            .success_url(request.success_url.as_str())
            .cancel_url(request.cancel_url.as_str())
            .send(&self.client)
            .await
            .map_err(provider)?;
        session
            .url
            .ok_or_else(|| provider("Stripe returned a checkout session without a url"))
    }

    #[tracing::instrument(skip_all, fields(customer_id = %customer_id), err)]
    async fn create_portal(
        &self,
        customer_id: &str,
        return_url: &str,
    ) -> Result<String, BillingError> {
        let session = CreateBillingPortalSession::new()
            .customer(customer_id)
            .return_url(return_url)
            .send(&self.client)
            .await
            .map_err(provider)?;
        Ok(session.url)
    }

    #[tracing::instrument(skip_all, fields(subscription_id = %subscription_id, plan = %plan), err)]
    async fn change_plan(
        &self,
        subscription_id: &str,
        plan: Plan,
    ) -> Result<SubscriptionState, BillingError> {
        let price = self.price(plan)?;
        let current = self.retrieve(subscription_id).await?;
        let item_id = current
            .items
            .data
            .first()
            .map(|i| i.id.as_str().to_owned())
            .ok_or_else(|| provider("the subscription has no items"))?;
        let mut item = UpdateSubscriptionItems::new();
        item.id = Some(item_id);
        item.price = Some(price.to_owned());
        let sub = UpdateSubscription::new(subscription_id)
            .items(vec![item])
            .proration_behavior(UpdateSubscriptionProrationBehavior::CreateProrations)
            .metadata(HashMap::from([(
                "plan".to_owned(),
                plan.as_str().to_owned(),
            )]))
            .send(&self.client)
            .await
            .map_err(provider)?;
        Ok(self.state(&sub, observed_now()))
    }

    #[tracing::instrument(skip_all, fields(subscription_id = %subscription_id), err)]
    async fn subscription(&self, subscription_id: &str) -> Result<SubscriptionState, BillingError> {
        let sub = self.retrieve(subscription_id).await?;
        Ok(self.state(&sub, observed_now()))
    }

    #[tracing::instrument(skip_all, err)]
    async fn ping(&self) -> Result<(), BillingError> {
        for price in [&self.price_pro, &self.price_enterprise] {
            if !price.is_empty() {
                RetrievePrice::new(price.as_str())
                    .send(&self.client)
                    .await
                    .map_err(provider)?;
            }
        }
        Ok(())
    }

    #[tracing::instrument(skip_all, fields(subscription_id = %subscription_id, cancel), err)]
    async fn cancel_at_period_end(
        &self,
        subscription_id: &str,
        cancel: bool,
    ) -> Result<SubscriptionState, BillingError> {
        let sub = UpdateSubscription::new(subscription_id)
            .cancel_at_period_end(cancel)
            .send(&self.client)
            .await
            .map_err(provider)?;
        Ok(self.state(&sub, observed_now()))
    }

    fn parse_webhook(
        &self,
        payload: &[u8],
        signature_header: &str,
    ) -> Result<BillingEvent, BillingError> {
        let secret = self.webhook_secret.expose_secret();
        if secret.is_empty() {
            return Err(BillingError::NotConfigured);
        }
        let payload =
            std::str::from_utf8(payload).map_err(|e| BillingError::BadPayload(Box::new(e)))?;
        let event =
            Webhook::construct_event(payload, signature_header, secret).map_err(|e| match e {
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
                BillingEventKind::SubscriptionChanged(self.state(&sub, created))
            }
            EventObject::CustomerSubscriptionDeleted(sub) => {
                BillingEventKind::SubscriptionDeleted(self.state(&sub, created))
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

/// Now, in whole seconds: the resolution of Stripe's event times. A state read from the API is
/// then never "newer" than an event created in the same second, and the two tie; the store
/// applies ties, so the later arrival wins within a second, as it must when the order cannot
/// be told.
fn observed_now() -> OffsetDateTime {
    let now = OffsetDateTime::now_utc();
    now.replace_nanosecond(0).unwrap_or(now)
}

fn timestamp(seconds: i64) -> Option<OffsetDateTime> {
    OffsetDateTime::from_unix_timestamp(seconds).ok()
}

fn provider(e: impl std::fmt::Display) -> BillingError {
    // Stripe's errors carry no secrets; the message goes to the log through the 5xx path.
    BillingError::Provider(e.to_string().into())
}

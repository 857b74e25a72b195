//! Stripe behind the core [`BillingProvider`] trait: customers, Checkout Sessions in subscription
//! mode, billing-portal sessions, plan changes and cancellation at period end (async-stripe 1.0),
//! and webhook events verified by their `Stripe-Signature` and turned into [`BillingEvent`]s.
//!
//! The client's base address is configurable (`stripe_api_base`), which is how the tests point it
//! at their Stripe emulator. Prices map to plans through `stripe_price_pro` and
//! `stripe_price_enterprise`; a subscription's plan is the plan of its first item's price (or its
//! `plan` metadata, which checkout sets too). That mapping and the webhook parsing are pure
//! functions in `billing/webhook.rs`, which the `webhook` fuzz target compiles on its own.

mod webhook;

use std::collections::HashMap;

use orrery_core::Plan;
use orrery_core::billing::{
    BillingError, BillingEvent, BillingProvider, CheckoutRequest, Invoice, SubscriptionState,
};
use secrecy::{ExposeSecret, SecretString};
use stripe::{IdempotencyKey, RequestStrategy, StripeRequest};
use stripe_billing::billing_portal_session::CreateBillingPortalSession;
use stripe_billing::invoice::ListInvoice;
use stripe_billing::subscription::{
    CancelSubscription, RetrieveSubscription, UpdateSubscription, UpdateSubscriptionItems,
    UpdateSubscriptionProrationBehavior,
};
use stripe_checkout::checkout_session::{
    CreateCheckoutSession, CreateCheckoutSessionLineItems, CreateCheckoutSessionSubscriptionData,
};
use stripe_core::customer::CreateCustomer;
use stripe_product::price::RetrievePrice;
use stripe_shared::CheckoutSessionMode;
use time::OffsetDateTime;

use crate::billing::webhook::Prices;
use crate::settings::Settings;

/// Stripe, configured.
pub struct StripeBilling {
    client: stripe::Client,
    webhook_secret: SecretString,
    prices: Prices,
}

impl std::fmt::Debug for StripeBilling {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // No keys: the client's own Debug output would show its configuration.
        f.debug_struct("StripeBilling")
            .field("price_pro", &self.prices.pro)
            .field("price_enterprise", &self.prices.enterprise)
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
            prices: Prices {
                pro: settings.stripe_price_pro.clone(),
                enterprise: settings.stripe_price_enterprise.clone(),
            },
        }))
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
        let price = self.prices.price(request.plan)?;
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
        let price = self.prices.price(plan)?;
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
        Ok(self.prices.state(&sub, observed_now()))
    }

    #[tracing::instrument(skip_all, fields(subscription_id = %subscription_id), err)]
    async fn subscription(&self, subscription_id: &str) -> Result<SubscriptionState, BillingError> {
        let sub = self.retrieve(subscription_id).await?;
        Ok(self.prices.state(&sub, observed_now()))
    }

    #[tracing::instrument(skip_all, err)]
    async fn ping(&self) -> Result<(), BillingError> {
        for price in [&self.prices.pro, &self.prices.enterprise] {
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
        Ok(self.prices.state(&sub, observed_now()))
    }

    #[tracing::instrument(skip_all, fields(subscription_id = %subscription_id), err)]
    async fn cancel_now(&self, subscription_id: &str) -> Result<SubscriptionState, BillingError> {
        let sub = CancelSubscription::new(subscription_id)
            .send(&self.client)
            .await
            .map_err(provider)?;
        Ok(self.prices.state(&sub, observed_now()))
    }

    #[tracing::instrument(skip_all, fields(customer_id = %customer_id), err)]
    async fn invoices(&self, customer_id: &str, limit: u32) -> Result<Vec<Invoice>, BillingError> {
        let list = ListInvoice::new()
            .customer(customer_id)
            .limit(i64::from(limit.clamp(1, 100)))
            .send(&self.client)
            .await
            .map_err(provider)?;
        Ok(list.data.iter().map(invoice).collect())
    }

    fn parse_webhook(
        &self,
        payload: &[u8],
        signature_header: &str,
    ) -> Result<BillingEvent, BillingError> {
        webhook::parse(
            payload,
            signature_header,
            self.webhook_secret.expose_secret(),
            OffsetDateTime::now_utc(),
            &self.prices,
        )
    }
}

/// Stripe's invoice as the core's.
fn invoice(i: &stripe_shared::Invoice) -> Invoice {
    let at = |t: stripe_types::Timestamp| {
        OffsetDateTime::from_unix_timestamp(t).unwrap_or(OffsetDateTime::UNIX_EPOCH)
    };
    Invoice {
        id: i
            .id
            .as_ref()
            .map(|id| id.as_str().to_owned())
            .unwrap_or_default(),
        number: i.number.clone(),
        status: i
            .status
            .as_ref()
            .map_or_else(|| "draft".to_owned(), |s| s.as_str().to_owned()),
        total: i.total,
        amount_due: i.amount_due,
        amount_paid: i.amount_paid,
        currency: i.currency.to_string(),
        created: at(i.created),
        period_start: at(i.period_start),
        period_end: at(i.period_end),
        hosted_url: i.hosted_invoice_url.clone(),
        pdf_url: i.invoice_pdf.clone(),
    }
}

/// Now, in whole seconds: the resolution of Stripe's event times. A state read from the API is
/// then never "newer" than an event created in the same second, and the two tie; the store
/// applies ties, so the later arrival wins within a second, as it must when the order cannot
/// be told.
fn observed_now() -> OffsetDateTime {
    let now = OffsetDateTime::now_utc();
    now.replace_nanosecond(0).unwrap_or(now)
}

fn provider(e: impl std::fmt::Display) -> BillingError {
    // Stripe's errors carry no secrets; the message goes to the log through the 5xx path.
    BillingError::Provider(e.to_string().into())
}

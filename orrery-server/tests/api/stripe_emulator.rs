//! A local emulator of the Stripe API, for tests: Stripe itself cannot be reached from these
//! machines, and localstripe answers in a 2017 shape that async-stripe 1.0 cannot decode.
//!
//! It serves the calls the server makes (customers, Checkout Sessions, billing-portal sessions,
//! subscriptions retrieve/update/cancel, prices and products) with objects in the shape of API
//! version 2026-09-30 — every field async-stripe requires, Stripe-like ids (`cus_…`,
//! `cs_test_…`, `sub_…`, `price_…`, `evt_…`, `in_…`) — checks the secret key, honours
//! `Idempotency-Key`, answers unknown ids and missing parameters with Stripe's error objects,
//! and records every form-encoded request for assertions.
//!
//! State changes emit events the way Stripe does and deliver them to the webhook URL signed with
//! `Stripe-Signature: t=…,v1=…` (HMAC-SHA256 of `"{t}.{payload}"` with the endpoint secret).
//! What a customer does on Stripe's pages, and time passing, are test methods:
//! [`StripeEmulator::complete_checkout`], [`StripeEmulator::fail_payment`],
//! [`StripeEmulator::advance_clock`] (a test clock: canceled subscriptions end at their period's
//! end, others renew). Deliveries can be held and released in any order, replayed, and forged.
//!
//! For a browser, the emulator also serves the pages Stripe hosts, without the API key: a Checkout
//! Session's `url` (`/c/pay/{id}`) is a form whose "Pay" completes the session as
//! [`StripeEmulator::complete_checkout`] does and answers 303 to its `success_url` ("Cancel" is
//! a link to its `cancel_url`), and a billing-portal session's `url` (`/p/session/{id}`) links
//! back to its `return_url`. A browser test holds and releases webhooks with
//! `POST /_emulator/webhooks/hold` and `POST /_emulator/webhooks/release`.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use hmac::{Hmac, KeyInit, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

/// The API version the emulated objects follow (async-stripe 1.0.0-rc.10's).
pub const API_VERSION: &str = "2026-09-30.endive";

/// Monthly prices of the plans, in cents, as the emulator's catalogue has them.
pub const PRO_CENTS: i64 = 2_900;
/// See [`PRO_CENTS`].
pub const ENTERPRISE_CENTS: i64 = 19_900;

/// A request the server made, as Stripe received it.
#[derive(Clone, Debug)]
pub struct RecordedRequest {
    /// `GET`, `POST`, `DELETE`.
    pub method: String,
    /// `/v1/customers`.
    pub path: String,
    /// The form body (or query) as decoded pairs, in order: `line_items[0][price]`.
    pub params: Vec<(String, String)>,
    /// The `Idempotency-Key` header.
    pub idempotency_key: Option<String>,
    /// The `Stripe-Version` header.
    pub stripe_version: Option<String>,
}

impl RecordedRequest {
    /// The value of a form parameter.
    pub fn param(&self, key: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// One webhook delivery and the server's answer.
#[derive(Clone, Debug)]
pub struct Delivery {
    /// The event.
    pub event_id: String,
    /// Its type.
    pub event_type: String,
    /// The HTTP status the server answered.
    pub status: u16,
}

/// The running emulator.
pub struct StripeEmulator {
    /// Its base URL, with the trailing slash async-stripe needs.
    pub url: String,
    /// The secret key it accepts.
    pub secret_key: String,
    /// The webhook endpoint's signing secret.
    pub webhook_secret: String,
    /// The price of the pro plan.
    pub price_pro: String,
    /// The price of the enterprise plan.
    pub price_enterprise: String,
    emu: Arc<Emu>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for StripeEmulator {
    fn drop(&mut self) {
        self.task.abort();
    }
}

struct Emu {
    /// The base URL, with its trailing slash: hosted pages' URLs start with it.
    url: String,
    secret_key: String,
    webhook_secret: String,
    state: Mutex<EmuState>,
    http: reqwest::Client,
    in_flight: tokio::sync::watch::Sender<usize>,
}

#[derive(Default)]
struct EmuState {
    customers: BTreeMap<String, Value>,
    products: BTreeMap<String, Value>,
    prices: BTreeMap<String, Value>,
    sessions: BTreeMap<String, Value>,
    portal_sessions: BTreeMap<String, Value>,
    subscriptions: BTreeMap<String, Value>,
    invoices: BTreeMap<String, Value>,
    events: Vec<Value>,
    requests: Vec<RecordedRequest>,
    idempotent: HashMap<String, (u16, Value)>,
    deliveries: Vec<Delivery>,
    webhook_url: Option<String>,
    clock_offset: i64,
    failing: bool,
    hold: bool,
    held: Vec<String>,
}

impl StripeEmulator {
    /// Starts an emulator on a free loopback port with a catalogue of two plans.
    pub async fn start() -> StripeEmulator {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!(
            "http://127.0.0.1:{}/",
            listener.local_addr().unwrap().port()
        );
        let secret_key = format!("sk_test_{}", token(24));
        let webhook_secret = format!("whsec_{}", token(32));
        let emu = Arc::new(Emu {
            url: url.clone(),
            secret_key: secret_key.clone(),
            webhook_secret: webhook_secret.clone(),
            state: Mutex::new(EmuState::default()),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .unwrap(),
            in_flight: tokio::sync::watch::channel(0).0,
        });
        let (price_pro, price_enterprise) = {
            let mut s = emu.state.lock().unwrap();
            let now = s.now();
            let pro = s.catalogue("Orrery Pro", PRO_CENTS, now);
            let enterprise = s.catalogue("Orrery Enterprise", ENTERPRISE_CENTS, now);
            (pro, enterprise)
        };
        let api = Router::new()
            .route("/v1/customers", post(create_customer))
            .route("/v1/customers/{id}", get(retrieve_customer))
            .route("/v1/checkout/sessions", post(create_session))
            .route("/v1/checkout/sessions/{id}", get(retrieve_session))
            .route("/v1/billing_portal/sessions", post(create_portal))
            .route(
                "/v1/subscriptions/{id}",
                get(retrieve_subscription)
                    .post(update_subscription)
                    .delete(cancel_subscription),
            )
            .route("/v1/invoices", get(list_invoices))
            .route("/v1/prices/{id}", get(retrieve_price))
            .route("/v1/products/{id}", get(retrieve_product))
            .fallback(unknown_route)
            .layer(axum::middleware::from_fn_with_state(
                emu.clone(),
                authenticate,
            ));
        // The hosted pages are for the customer's browser, the controls for a browser test: no
        // API key, and not recorded.
        let pages = Router::new()
            .route("/c/pay/{id}", get(checkout_page).post(pay))
            .route("/p/session/{id}", get(portal_page))
            .route("/_emulator/webhooks/hold", post(hold_webhooks))
            .route("/_emulator/webhooks/release", post(release_webhooks));
        let app = pages.merge(api).with_state(emu.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        StripeEmulator {
            url,
            secret_key,
            webhook_secret,
            price_pro,
            price_enterprise,
            emu,
            task,
        }
    }

    /// Where events are delivered (the server's `/api/billing/webhook`).
    pub fn set_webhook_url(&self, url: &str) {
        self.emu.state.lock().unwrap().webhook_url = Some(url.to_owned());
    }

    /// Every request received so far.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.emu.state.lock().unwrap().requests.clone()
    }

    /// The requests of `method` to `path` exactly.
    pub fn requests_to(&self, method: &str, path: &str) -> Vec<RecordedRequest> {
        self.requests()
            .into_iter()
            .filter(|r| r.method == method && r.path == path)
            .collect()
    }

    /// Every event so far, oldest first.
    pub fn events(&self) -> Vec<Value> {
        self.emu.state.lock().unwrap().events.clone()
    }

    /// The newest event of `event_type`.
    #[track_caller]
    pub fn last_event(&self, event_type: &str) -> Value {
        self.events()
            .into_iter()
            .rev()
            .find(|e| e["type"] == event_type)
            .unwrap_or_else(|| panic!("no {event_type} event"))
    }

    /// Every delivery so far, with the server's answers.
    pub fn deliveries(&self) -> Vec<Delivery> {
        self.emu.state.lock().unwrap().deliveries.clone()
    }

    /// A subscription as Stripe has it.
    pub fn subscription(&self, id: &str) -> Value {
        self.emu.state.lock().unwrap().subscriptions[id].clone()
    }

    /// A Checkout Session by id or by its URL.
    pub fn session(&self, id_or_url: &str) -> Value {
        let id = id_or_url.rsplit('/').next().unwrap_or(id_or_url);
        self.emu.state.lock().unwrap().sessions[id].clone()
    }

    /// Makes every API call fail with Stripe's 500 `api_error` (an outage), or stop failing.
    pub fn set_failing(&self, failing: bool) {
        self.emu.state.lock().unwrap().failing = failing;
    }

    /// Holds deliveries (events queue up) until [`StripeEmulator::release`] or
    /// [`StripeEmulator::deliver`].
    pub fn hold_webhooks(&self, hold: bool) {
        self.emu.state.lock().unwrap().hold = hold;
    }

    /// The ids of held events, oldest first; releasing forgets them.
    pub fn take_held(&self) -> Vec<String> {
        std::mem::take(&mut self.emu.state.lock().unwrap().held)
    }

    /// The customer paid on Checkout's page: the session completes, an active subscription and a
    /// paid invoice appear, and `customer.subscription.created`, `invoice.paid` and
    /// `checkout.session.completed` are sent (in that order, as Stripe tends to). Returns the
    /// subscription id. The hosted page's "Pay" does the same, but delivers in the background.
    pub async fn complete_checkout(&self, id_or_url: &str) -> String {
        let id = id_or_url.rsplit('/').next().unwrap_or(id_or_url);
        let (sub_id, events) = {
            let mut s = self.emu.state.lock().unwrap();
            let session = s.sessions.get(id).expect("a checkout session");
            assert_eq!(session["status"], "open", "the session is still open");
            s.complete_checkout(id)
        };
        self.send_all(events).await;
        sub_id
    }

    /// A renewal payment failed: `invoice.payment_failed`, and the subscription goes past due.
    pub async fn fail_payment(&self, sub_id: &str) {
        let events = {
            let mut s = self.emu.state.lock().unwrap();
            let now = s.now();
            let sub = s.subscriptions[sub_id].clone();
            let invoice = s.new_invoice(&sub, now, false);
            let (sub, previous) = s.change_subscription(sub_id, |sub| {
                sub["status"] = json!("past_due");
            });
            vec![
                s.event("invoice.payment_failed", invoice, None, now),
                s.event("customer.subscription.updated", sub, Some(previous), now),
            ]
        };
        self.send_all(events).await;
    }

    /// The customer fixed their payment method: the open invoice is paid (`invoice.paid`) and
    /// the subscription is active again (`customer.subscription.updated`).
    pub async fn recover_payment(&self, sub_id: &str) {
        let events = {
            let mut s = self.emu.state.lock().unwrap();
            let now = s.now();
            let sub = s.subscriptions[sub_id].clone();
            let invoice = s.new_invoice(&sub, now, true);
            let (sub, previous) = s.change_subscription(sub_id, |sub| {
                sub["status"] = json!("active");
            });
            vec![
                s.event("invoice.paid", invoice, None, now),
                s.event("customer.subscription.updated", sub, Some(previous), now),
            ]
        };
        self.send_all(events).await;
    }

    /// Calls the emulator's API as the server would (or as an operator in Stripe's dashboard).
    pub async fn api(
        &self,
        method: reqwest::Method,
        path: &str,
        form: &[(&str, &str)],
    ) -> (u16, Value) {
        let resp = self
            .emu
            .http
            .request(method, format!("{}v1{path}", self.url))
            .bearer_auth(&self.secret_key)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(
                reqwest::Url::parse_with_params("http://form/", form)
                    .unwrap()
                    .query()
                    .unwrap_or_default()
                    .to_owned(),
            )
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    /// Moves the test clock on by `seconds`: subscriptions whose period ended are deleted when
    /// they were set to cancel at its end (`customer.subscription.deleted`), and renew otherwise
    /// (`invoice.paid`, `customer.subscription.updated`).
    pub async fn advance_clock(&self, seconds: i64) {
        let events = {
            let mut s = self.emu.state.lock().unwrap();
            s.clock_offset += seconds;
            let now = s.now();
            let mut events = Vec::new();
            let ids: Vec<String> = s.subscriptions.keys().cloned().collect();
            for id in ids {
                let sub = s.subscriptions[&id].clone();
                let end = sub["items"]["data"][0]["current_period_end"]
                    .as_i64()
                    .unwrap();
                if sub["status"] == "canceled" || end > now {
                    continue;
                }
                if sub["cancel_at_period_end"] == true {
                    let (sub, _) = s.change_subscription(&id, |sub| {
                        sub["status"] = json!("canceled");
                        sub["ended_at"] = json!(end);
                        sub["canceled_at"] = json!(end);
                        sub["cancellation_details"]["reason"] = json!("cancellation_requested");
                    });
                    events.push(s.event("customer.subscription.deleted", sub, None, now));
                } else {
                    let (sub, previous) = s.change_subscription(&id, |sub| {
                        let item = &mut sub["items"]["data"][0];
                        item["current_period_start"] = json!(end);
                        item["current_period_end"] = json!(end + 30 * 86_400);
                        sub["status"] = json!("active");
                    });
                    let invoice = s.new_invoice(&sub, now, true);
                    events.push(s.event("invoice.paid", invoice, None, now));
                    events.push(s.event("customer.subscription.updated", sub, Some(previous), now));
                }
            }
            events
        };
        self.send_all(events).await;
    }

    /// Moves the test clock just past the end of `sub_id`'s current period.
    pub async fn end_period(&self, sub_id: &str) {
        let seconds = {
            let s = self.emu.state.lock().unwrap();
            let end = s.subscriptions[sub_id]["items"]["data"][0]["current_period_end"]
                .as_i64()
                .unwrap();
            end - s.now() + 1
        };
        self.advance_clock(seconds.max(1)).await;
    }

    /// Delivers (again, for a replay) a recorded event, signed now; returns the server's status.
    pub async fn deliver(&self, event_id: &str) -> u16 {
        let event = self
            .events()
            .into_iter()
            .find(|e| e["id"] == event_id)
            .unwrap_or_else(|| panic!("no event {event_id}"));
        deliver(&self.emu, &event).await
    }

    /// Waits until deliveries started in the background (by API calls) have finished.
    pub async fn settle(&self) {
        let mut rx = self.emu.in_flight.subscribe();
        let _ = tokio::time::timeout(Duration::from_secs(30), rx.wait_for(|n| *n == 0)).await;
    }

    /// The signature header Stripe would send for `payload` at `t`, signed with `secret`.
    pub fn signature(payload: &str, t: i64, secret: &str) -> String {
        format!("t={t},v1={}", sign(payload, t, secret))
    }

    /// Posts `payload` with `signature_header` to the webhook URL, as anyone could.
    pub async fn post_raw(&self, payload: &[u8], signature_header: Option<&str>) -> (u16, Value) {
        let url = self.emu.state.lock().unwrap().webhook_url.clone().unwrap();
        let mut req = self
            .emu
            .http
            .post(url)
            .header("content-type", "application/json; charset=utf-8")
            .body(payload.to_vec());
        if let Some(sig) = signature_header {
            req = req.header("stripe-signature", sig);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let body = resp.json::<Value>().await.unwrap_or(Value::Null);
        (status, body)
    }

    async fn send_all(&self, events: Vec<Value>) {
        for event in events {
            let hold = {
                let mut s = self.emu.state.lock().unwrap();
                if s.hold {
                    s.held.push(event["id"].as_str().unwrap().to_owned());
                }
                s.hold
            };
            if !hold {
                deliver(&self.emu, &event).await;
            }
        }
    }
}

impl EmuState {
    fn now(&self) -> i64 {
        time::OffsetDateTime::now_utc().unix_timestamp() + self.clock_offset
    }

    /// Completes the open session `id` as if its customer paid; returns the new subscription's
    /// id and the events to send, in order.
    fn complete_checkout(&mut self, id: &str) -> (String, Vec<Value>) {
        let now = self.now();
        let mut session = self.sessions[id].clone();
        let customer = session["customer"].as_str().unwrap().to_owned();
        let price = session["_price"].as_str().unwrap().to_owned();
        let metadata = session["_subscription_metadata"].clone();
        let sub = self.new_subscription(&customer, &price, metadata, now);
        let sub_id = sub["id"].as_str().unwrap().to_owned();
        let invoice = self.new_invoice(&sub, now, true);
        session["status"] = json!("complete");
        session["payment_status"] = json!("paid");
        session["subscription"] = json!(sub_id);
        session["invoice"] = invoice["id"].clone();
        self.sessions.insert(id.to_owned(), session.clone());
        let events = vec![
            self.event("customer.subscription.created", sub, None, now),
            self.event("invoice.paid", invoice, None, now),
            self.event("checkout.session.completed", public(&session), None, now),
        ];
        (sub_id, events)
    }

    /// A product with a monthly price; returns the price id.
    fn catalogue(&mut self, name: &str, cents: i64, now: i64) -> String {
        let product_id = id("prod");
        let price_id = id("price");
        self.products.insert(
            product_id.clone(),
            json!({
                "id": product_id, "object": "product", "active": true, "created": now,
                "default_price": price_id, "description": null, "images": [],
                "livemode": false, "marketing_features": [], "metadata": {}, "name": name,
                "package_dimensions": null, "shippable": null, "statement_descriptor": null,
                "tax_code": null, "type": "service", "unit_label": null, "updated": now, "url": null
            }),
        );
        self.prices.insert(
            price_id.clone(),
            json!({
                "id": price_id, "object": "price", "active": true, "billing_scheme": "per_unit",
                "created": now, "currency": "usd", "custom_unit_amount": null, "livemode": false,
                "lookup_key": null, "metadata": {}, "nickname": name, "product": product_id,
                "recurring": {"interval": "month", "interval_count": 1, "meter": null,
                              "trial_period_days": null, "usage_type": "licensed"},
                "tax_behavior": "unspecified", "tiers_mode": null, "transform_quantity": null,
                "type": "recurring", "unit_amount": cents, "unit_amount_decimal": cents.to_string()
            }),
        );
        price_id
    }

    fn item(&self, sub_id: &str, price_id: &str, start: i64, end: i64) -> Value {
        let price = self.prices[price_id].clone();
        json!({
            "id": id("si"), "object": "subscription_item", "billing_thresholds": null,
            "created": start, "current_period_end": end, "current_period_start": start,
            "discounts": [], "metadata": {},
            "plan": {
                "id": price_id, "object": "plan", "active": true, "amount": price["unit_amount"],
                "amount_decimal": price["unit_amount_decimal"], "billing_scheme": "per_unit",
                "created": price["created"], "currency": "usd", "interval": "month",
                "interval_count": 1, "livemode": false, "metadata": {}, "meter": null,
                "nickname": null, "product": price["product"], "tiers_mode": null,
                "transform_usage": null, "trial_period_days": null, "usage_type": "licensed"
            },
            "price": price, "quantity": 1, "subscription": sub_id, "tax_rates": []
        })
    }

    fn new_subscription(
        &mut self,
        customer: &str,
        price_id: &str,
        metadata: Value,
        now: i64,
    ) -> Value {
        let sub_id = id("sub");
        let end = now + 30 * 86_400;
        let item = self.item(&sub_id, price_id, now, end);
        let sub = json!({
            "id": sub_id, "object": "subscription", "application": null,
            "application_fee_percent": null,
            "automatic_tax": {"disabled_reason": null, "enabled": false, "liability": null},
            "billing_cycle_anchor": now, "billing_cycle_anchor_config": null,
            "billing_mode": {"type": "flexible", "updated_at": now}, "billing_schedules": [],
            "billing_thresholds": null, "cancel_at": null, "cancel_at_period_end": false,
            "canceled_at": null,
            "cancellation_details": {"comment": null, "feedback": null, "reason": null},
            "collection_method": "charge_automatically", "created": now, "currency": "usd",
            "customer": customer, "days_until_due": null, "default_payment_method": null,
            "default_source": null, "default_tax_rates": [], "description": null,
            "discounts": [], "ended_at": null,
            "invoice_settings": {"account_tax_ids": null, "issuer": {"type": "self"}},
            "items": {"object": "list", "data": [item], "has_more": false,
                      "url": format!("/v1/subscription_items?subscription={sub_id}")},
            "latest_invoice": null, "livemode": false,
            "metadata": if metadata.is_object() { metadata } else { json!({}) },
            "next_pending_invoice_item_invoice": null, "on_behalf_of": null,
            "pause_collection": null, "pending_invoice_item_interval": null,
            "pending_setup_intent": null, "pending_update": null, "schedule": null,
            "start_date": now, "status": "active", "test_clock": null, "transfer_data": null,
            "trial_end": null, "trial_start": null
        });
        self.subscriptions.insert(sub_id, sub.clone());
        sub
    }

    fn new_invoice(&mut self, sub: &Value, now: i64, paid: bool) -> Value {
        let invoice_id = id("in");
        let item = &sub["items"]["data"][0];
        let amount = item["price"]["unit_amount"].as_i64().unwrap_or(0);
        let (start, end) = (
            item["current_period_start"].as_i64().unwrap(),
            item["current_period_end"].as_i64().unwrap(),
        );
        let line = json!({
            "id": id("il"), "object": "line_item", "amount": amount, "currency": "usd",
            "description": format!("1 × {} (at ${}.{:02} / month)", item["price"]["nickname"].as_str().unwrap_or("plan"), amount / 100, amount % 100),
            "discount_amounts": [], "discountable": true, "discounts": [], "invoice": invoice_id,
            "livemode": false, "metadata": {}, "period": {"end": end, "start": start},
            "quantity": 1, "subtotal": amount, "taxes": []
        });
        let invoice = json!({
            "id": invoice_id, "object": "invoice", "account_country": "US",
            "account_name": "Orrery", "amount_due": amount, "amount_overpaid": 0,
            "amount_paid": if paid { amount } else { 0 },
            "amount_remaining": if paid { 0 } else { amount }, "amount_shipping": 0,
            "attempt_count": 1, "attempted": true,
            "automatic_tax": {"disabled_reason": null, "enabled": false, "liability": null, "provider": null, "status": null},
            "billing_reason": "subscription_cycle", "collection_method": "charge_automatically",
            "created": now, "currency": "usd", "customer": sub["customer"],
            "default_tax_rates": [], "description": null, "discounts": [],
            "issuer": {"type": "self"},
            "lines": {"object": "list", "data": [line], "has_more": false,
                      "url": format!("/v1/invoices/{invoice_id}/lines")},
            "livemode": false, "metadata": {},
            "parent": {"quote_details": null, "type": "subscription_details",
                       "subscription_details": {"metadata": {}, "subscription": sub["id"]}},
            "payment_settings": {"default_mandate": null, "payment_method_options": null, "payment_method_types": null},
            "period_end": end, "period_start": start, "post_payment_credit_notes_amount": 0,
            "pre_payment_credit_notes_amount": 0, "starting_balance": 0,
            "status": if paid { "paid" } else { "open" },
            "status_transitions": {"finalized_at": now, "marked_uncollectible_at": null,
                                   "paid_at": if paid { json!(now) } else { Value::Null }, "voided_at": null},
            "subtotal": amount, "total": amount,
            "number": format!("ORR-{:04}", self.invoices.len() + 1),
            "hosted_invoice_url": format!("https://invoice.stripe.test/i/{invoice_id}"),
            "invoice_pdf": format!("https://pay.stripe.test/invoice/{invoice_id}/pdf")
        });
        self.invoices.insert(invoice_id.clone(), invoice.clone());
        if let Some(sub) = self.subscriptions.get_mut(sub["id"].as_str().unwrap()) {
            sub["latest_invoice"] = json!(invoice_id);
        }
        invoice
    }

    /// Applies `change` to a subscription; returns it and the previous values of the changed
    /// top-level fields (Stripe's `previous_attributes`).
    fn change_subscription(&mut self, id: &str, change: impl FnOnce(&mut Value)) -> (Value, Value) {
        let before = self.subscriptions[id].clone();
        let mut after = before.clone();
        change(&mut after);
        let mut previous = serde_json::Map::new();
        if let (Value::Object(b), Value::Object(a)) = (&before, &after) {
            for (k, v) in b {
                if a.get(k) != Some(v) {
                    previous.insert(k.clone(), v.clone());
                }
            }
        }
        self.subscriptions.insert(id.to_owned(), after.clone());
        (after, Value::Object(previous))
    }

    fn event(
        &mut self,
        event_type: &str,
        object: Value,
        previous: Option<Value>,
        now: i64,
    ) -> Value {
        let mut data = json!({"object": object});
        if let Some(previous) = previous {
            data["previous_attributes"] = previous;
        }
        let event = json!({
            "id": id("evt"), "object": "event", "api_version": API_VERSION, "created": now,
            "data": data, "livemode": false, "pending_webhooks": 1,
            "request": {"id": null, "idempotency_key": null}, "type": event_type
        });
        self.events.push(event.clone());
        event
    }
}

/// Sends one event to the webhook URL, signed now, and records the answer.
async fn deliver(emu: &Emu, event: &Value) -> u16 {
    let Some(url) = emu.state.lock().unwrap().webhook_url.clone() else {
        return 0;
    };
    let payload = serde_json::to_string_pretty(event).unwrap();
    let t = time::OffsetDateTime::now_utc().unix_timestamp();
    let status = emu
        .http
        .post(url)
        .header("content-type", "application/json; charset=utf-8")
        .header(
            "user-agent",
            "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
        )
        .header(
            "stripe-signature",
            StripeEmulator::signature(&payload, t, &emu.webhook_secret),
        )
        .body(payload)
        .send()
        .await
        .map(|r| r.status().as_u16())
        .unwrap_or(0);
    emu.state.lock().unwrap().deliveries.push(Delivery {
        event_id: event["id"].as_str().unwrap_or_default().to_owned(),
        event_type: event["type"].as_str().unwrap_or_default().to_owned(),
        status,
    });
    status
}

/// Delivers events in the background, as Stripe does after an API call changed something.
fn deliver_later(emu: &Arc<Emu>, events: Vec<Value>) {
    let hold = {
        let mut s = emu.state.lock().unwrap();
        if s.hold {
            s.held
                .extend(events.iter().map(|e| e["id"].as_str().unwrap().to_owned()));
        }
        s.hold
    };
    if hold || events.is_empty() {
        return;
    }
    emu.in_flight.send_modify(|n| *n += 1);
    let emu = emu.clone();
    tokio::spawn(async move {
        for event in events {
            deliver(&emu, &event).await;
        }
        emu.in_flight.send_modify(|n| *n -= 1);
    });
}

/// Checks the secret key and records the request (the body is read here and handed on).
async fn authenticate(
    State(emu): State<Arc<Emu>>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let (parts, body) = req.into_parts();
    let bytes = axum::body::to_bytes(body, 1 << 20)
        .await
        .unwrap_or_default();
    let auth = parts
        .headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if auth != format!("Bearer {}", emu.secret_key) {
        return stripe_error(
            StatusCode::UNAUTHORIZED,
            "invalid_request_error",
            None,
            None,
            "Invalid API Key provided: sk_test_****",
        );
    }
    let raw = if parts.method == Method::GET {
        parts.uri.query().unwrap_or_default().to_owned()
    } else {
        String::from_utf8_lossy(&bytes).into_owned()
    };
    let header = |name: &str| {
        parts
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    emu.state.lock().unwrap().requests.push(RecordedRequest {
        method: parts.method.to_string(),
        path: parts.uri.path().to_owned(),
        params: decode_form(&raw),
        idempotency_key: header("idempotency-key"),
        stripe_version: header("stripe-version"),
    });
    if emu.state.lock().unwrap().failing {
        return stripe_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "api_error",
            None,
            None,
            "An unknown error occurred (the emulator is failing on purpose).",
        );
    }
    // Stripe answers a repeated idempotency key with the first answer.
    let key =
        header("idempotency-key").map(|k| format!("{} {} {k}", parts.method, parts.uri.path()));
    if let Some(key) = &key
        && let Some((status, body)) = emu.state.lock().unwrap().idempotent.get(key).cloned()
    {
        return (StatusCode::from_u16(status).unwrap(), axum::Json(body)).into_response();
    }
    let response = next
        .run(axum::extract::Request::from_parts(
            parts,
            axum::body::Body::from(bytes),
        ))
        .await;
    let Some(key) = key else { return response };
    let (parts, body) = response.into_parts();
    let bytes = axum::body::to_bytes(body, 1 << 20)
        .await
        .unwrap_or_default();
    if let Ok(value) = serde_json::from_slice::<Value>(&bytes) {
        emu.state
            .lock()
            .unwrap()
            .idempotent
            .insert(key, (parts.status.as_u16(), value));
    }
    Response::from_parts(parts, axum::body::Body::from(bytes))
}

async fn create_customer(State(emu): State<Arc<Emu>>, body: Bytes) -> Response {
    let form = Form::new(&body);
    let mut s = emu.state.lock().unwrap();
    let now = s.now();
    let customer_id = id("cus");
    let customer = json!({
        "id": customer_id, "object": "customer", "address": null, "balance": 0,
        "created": now, "currency": null, "default_source": null, "delinquent": false,
        "description": form.get("description"), "discount": null, "email": form.get("email"),
        "invoice_prefix": token(8).to_uppercase(),
        "invoice_settings": {"custom_fields": null, "default_payment_method": null, "footer": null, "rendering_options": null},
        "livemode": false, "metadata": form.map("metadata"), "name": form.get("name"),
        "next_invoice_sequence": 1, "phone": null, "preferred_locales": [], "shipping": null,
        "tax_exempt": "none", "test_clock": null
    });
    s.customers.insert(customer_id, customer.clone());
    ok(customer)
}

/// `GET /v1/invoices?customer=…&limit=…`: newest first, as Stripe lists them.
async fn list_invoices(State(emu): State<Arc<Emu>>, uri: Uri) -> Response {
    let query = uri.query().unwrap_or("").as_bytes().to_vec();
    let form = Form::new(&Bytes::from(query));
    let limit = form
        .get("limit")
        .and_then(|l| l.parse::<usize>().ok())
        .unwrap_or(10);
    let s = emu.state.lock().unwrap();
    let mut data: Vec<Value> = s
        .invoices
        .values()
        .filter(|i| form.get("customer").is_none_or(|c| i["customer"] == c))
        .cloned()
        .collect();
    data.sort_by_key(|i| std::cmp::Reverse((i["created"].as_i64(), i["number"].to_string())));
    let has_more = data.len() > limit;
    data.truncate(limit);
    ok(json!({"object": "list", "data": data, "has_more": has_more, "url": "/v1/invoices"}))
}

async fn retrieve_customer(State(emu): State<Arc<Emu>>, Path(id): Path<String>) -> Response {
    let s = emu.state.lock().unwrap();
    match s.customers.get(&id) {
        Some(c) => ok(c.clone()),
        None => missing("customer", &id),
    }
}

async fn create_session(State(emu): State<Arc<Emu>>, body: Bytes) -> Response {
    let form = Form::new(&body);
    let mut s = emu.state.lock().unwrap();
    let now = s.now();
    let Some(mode) = form.get("mode") else {
        return param_missing("mode");
    };
    if mode != "subscription" {
        return invalid(
            "mode",
            "This emulator serves subscription-mode sessions only.",
        );
    }
    let Some(success_url) = form.get("success_url") else {
        return param_missing("success_url");
    };
    let Some(price) = form.get("line_items[0][price]") else {
        return param_missing("line_items");
    };
    if !s.prices.contains_key(&price) {
        return stripe_error(
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            Some("resource_missing"),
            Some("line_items[0][price]"),
            &format!("No such price: '{price}'"),
        );
    }
    let customer = form.get("customer");
    if let Some(c) = &customer
        && !s.customers.contains_key(c)
    {
        return stripe_error(
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            Some("resource_missing"),
            Some("customer"),
            &format!("No such customer: '{c}'"),
        );
    }
    let session_id = format!("cs_test_{}", token(58));
    let session = json!({
        "id": session_id, "object": "checkout.session", "adaptive_pricing": null,
        "after_expiration": null, "allow_promotion_codes": null,
        "amount_subtotal": s.prices[&price]["unit_amount"], "amount_total": s.prices[&price]["unit_amount"],
        "automatic_tax": {"enabled": false, "liability": null, "provider": null, "status": null},
        "billing_address_collection": null, "cancel_url": form.get("cancel_url"),
        "client_reference_id": form.get("client_reference_id"), "client_secret": null,
        "consent": null, "consent_collection": null, "created": now, "currency": "usd",
        "custom_fields": [], "custom_text": {"after_submit": null, "shipping_address": null, "submit": null, "terms_of_service_acceptance": null},
        "customer": customer, "customer_creation": null, "customer_details": null,
        "customer_email": form.get("customer_email"), "expires_at": now + 86_400,
        "invoice": null, "invoice_creation": null, "livemode": false, "locale": null,
        "metadata": form.map("metadata"), "mode": "subscription", "payment_intent": null,
        "payment_link": null, "payment_method_collection": "always",
        "payment_method_types": ["card"], "payment_status": "unpaid",
        "phone_number_collection": {"enabled": false}, "recovered_from": null,
        "setup_intent": null, "shipping_address_collection": null, "shipping_cost": null,
        "shipping_options": [], "status": "open", "submit_type": null, "subscription": null,
        "success_url": success_url, "total_details": {"amount_discount": 0, "amount_shipping": 0, "amount_tax": 0},
        "ui_mode": "hosted",
        "url": format!("{}c/pay/{session_id}", emu.url),
        "_price": price, "_subscription_metadata": form.map("subscription_data[metadata]")
    });
    s.sessions.insert(session_id, session.clone());
    ok(public(&session))
}

async fn retrieve_session(State(emu): State<Arc<Emu>>, Path(id): Path<String>) -> Response {
    let s = emu.state.lock().unwrap();
    match s.sessions.get(&id) {
        Some(session) => ok(public(session)),
        None => missing("checkout.session", &id),
    }
}

async fn create_portal(State(emu): State<Arc<Emu>>, body: Bytes) -> Response {
    let form = Form::new(&body);
    let mut s = emu.state.lock().unwrap();
    let now = s.now();
    let Some(customer) = form.get("customer") else {
        return param_missing("customer");
    };
    if !s.customers.contains_key(&customer) {
        return stripe_error(
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            Some("resource_missing"),
            Some("customer"),
            &format!("No such customer: '{customer}'"),
        );
    }
    let session_id = format!("bps_{}", token(24));
    let page = format!("test_{}", token(40));
    let session = json!({
        "id": session_id, "object": "billing_portal.session",
        "configuration": format!("bpc_{}", token(24)), "created": now, "customer": customer,
        "customer_account": null, "flow": null, "livemode": false, "locale": null,
        "on_behalf_of": null, "return_url": form.get("return_url"),
        "url": format!("{}p/session/{page}", emu.url)
    });
    s.portal_sessions.insert(page, session.clone());
    ok(session)
}

async fn retrieve_subscription(State(emu): State<Arc<Emu>>, Path(id): Path<String>) -> Response {
    let s = emu.state.lock().unwrap();
    match s.subscriptions.get(&id) {
        Some(sub) => ok(sub.clone()),
        None => missing("subscription", &id),
    }
}

async fn update_subscription(
    State(emu): State<Arc<Emu>>,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let form = Form::new(&body);
    let (sub, events) = {
        let mut s = emu.state.lock().unwrap();
        let now = s.now();
        let Some(current) = s.subscriptions.get(&id).cloned() else {
            return missing("subscription", &id);
        };
        if current["status"] == "canceled" {
            return invalid(
                "id",
                "A canceled subscription can only update its cancellation_details and metadata.",
            );
        }
        let new_price = form.get("items[0][price]");
        if let Some(price) = &new_price {
            if !s.prices.contains_key(price) {
                return stripe_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_request_error",
                    Some("resource_missing"),
                    Some("items[0][price]"),
                    &format!("No such price: '{price}'"),
                );
            }
            if form.get("items[0][id]").as_deref() != current["items"]["data"][0]["id"].as_str() {
                return invalid(
                    "items[0][id]",
                    "The subscription item does not belong to this subscription.",
                );
            }
        }
        let cancel = form.get("cancel_at_period_end").map(|v| v == "true");
        let metadata = form.map("metadata");
        let replacement = new_price.map(|price| {
            let item = &current["items"]["data"][0];
            let mut new = s.item(
                &id,
                &price,
                item["current_period_start"].as_i64().unwrap(),
                item["current_period_end"].as_i64().unwrap(),
            );
            new["id"] = item["id"].clone();
            new
        });
        let (sub, previous) = s.change_subscription(&id, |sub| {
            if let Some(cancel) = cancel {
                sub["cancel_at_period_end"] = json!(cancel);
                sub["cancel_at"] = if cancel {
                    sub["items"]["data"][0]["current_period_end"].clone()
                } else {
                    Value::Null
                };
                sub["canceled_at"] = if cancel { json!(now) } else { Value::Null };
                sub["cancellation_details"]["reason"] = if cancel {
                    json!("cancellation_requested")
                } else {
                    Value::Null
                };
            }
            if let Some(item) = replacement {
                sub["items"]["data"][0] = item;
            }
            if let (Value::Object(meta), Value::Object(new)) = (&mut sub["metadata"], metadata) {
                meta.extend(new);
            }
        });
        let events = vec![s.event(
            "customer.subscription.updated",
            sub.clone(),
            Some(previous),
            now,
        )];
        (sub, events)
    };
    deliver_later(&emu, events);
    ok(sub)
}

async fn cancel_subscription(State(emu): State<Arc<Emu>>, Path(id): Path<String>) -> Response {
    let (sub, events) = {
        let mut s = emu.state.lock().unwrap();
        let now = s.now();
        let Some(current) = s.subscriptions.get(&id) else {
            return missing("subscription", &id);
        };
        if current["status"] == "canceled" {
            return invalid("id", "This subscription is already canceled.");
        }
        let (sub, _) = s.change_subscription(&id, |sub| {
            sub["status"] = json!("canceled");
            sub["ended_at"] = json!(now);
            sub["canceled_at"] = json!(now);
            sub["cancellation_details"]["reason"] = json!("cancellation_requested");
        });
        let events = vec![s.event("customer.subscription.deleted", sub.clone(), None, now)];
        (sub, events)
    };
    deliver_later(&emu, events);
    ok(sub)
}

async fn retrieve_price(State(emu): State<Arc<Emu>>, Path(id): Path<String>) -> Response {
    let s = emu.state.lock().unwrap();
    match s.prices.get(&id) {
        Some(p) => ok(p.clone()),
        None => missing("price", &id),
    }
}

async fn retrieve_product(State(emu): State<Arc<Emu>>, Path(id): Path<String>) -> Response {
    let s = emu.state.lock().unwrap();
    match s.products.get(&id) {
        Some(p) => ok(p.clone()),
        None => missing("product", &id),
    }
}

/// `GET /c/pay/{id}`: Checkout's hosted page, reduced to what a customer decides: pay or cancel.
async fn checkout_page(State(emu): State<Arc<Emu>>, Path(id): Path<String>) -> Response {
    let s = emu.state.lock().unwrap();
    let Some(session) = s.sessions.get(&id) else {
        return no_such_page(StatusCode::NOT_FOUND, "Checkout Session");
    };
    if session["status"] != "open" {
        return closed_checkout(StatusCode::OK, session);
    }
    let price = &s.prices[session["_price"].as_str().unwrap_or_default()];
    let name = price["nickname"].as_str().unwrap_or("Subscription");
    let cents = price["unit_amount"].as_i64().unwrap_or(0);
    let email = session["customer"]
        .as_str()
        .and_then(|c| s.customers.get(c))
        .and_then(|c| c["email"].as_str())
        .map(|e| format!("<p>Paying as {}.</p>", escape(e)))
        .unwrap_or_default();
    let body = format!(
        "<h1>{name}</h1>\n<p>${}.{:02} per month, test mode: no card is charged.</p>\n{email}\n\
         <form method=\"post\"><button type=\"submit\">Pay</button></form>\n\
         <p><a href=\"{cancel}\">Cancel</a></p>",
        cents / 100,
        cents % 100,
        name = escape(name),
        cancel = escape(session["cancel_url"].as_str().unwrap_or_default()),
    );
    page(StatusCode::OK, &format!("Pay {name}"), &body)
}

/// `POST /c/pay/{id}`: the customer paid. The session completes as in
/// [`StripeEmulator::complete_checkout`]; the events go out in the background (as Stripe's
/// webhooks do, so they may arrive after the browser is back), and the browser goes to
/// `success_url`.
async fn pay(State(emu): State<Arc<Emu>>, Path(id): Path<String>) -> Response {
    let (success_url, events) = {
        let mut s = emu.state.lock().unwrap();
        let Some(session) = s.sessions.get(&id) else {
            return no_such_page(StatusCode::NOT_FOUND, "Checkout Session");
        };
        if session["status"] != "open" {
            return closed_checkout(StatusCode::CONFLICT, session);
        }
        let success_url = session["success_url"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let (_, events) = s.complete_checkout(&id);
        (success_url, events)
    };
    deliver_later(&emu, events);
    axum::response::Redirect::to(&success_url).into_response()
}

/// `GET /p/session/{id}`: the billing portal, reduced to its way back.
async fn portal_page(State(emu): State<Arc<Emu>>, Path(id): Path<String>) -> Response {
    let s = emu.state.lock().unwrap();
    let Some(session) = s.portal_sessions.get(&id) else {
        return no_such_page(StatusCode::NOT_FOUND, "billing portal session");
    };
    let body = format!(
        "<h1>Billing portal</h1>\n<p>Payment methods and invoices would be managed here.</p>\n\
         <p><a href=\"{}\">Return to Orrery</a></p>",
        escape(session["return_url"].as_str().unwrap_or_default()),
    );
    page(StatusCode::OK, "Billing portal", &body)
}

/// `POST /_emulator/webhooks/hold`: events queue up, as with [`StripeEmulator::hold_webhooks`],
/// so a browser test sees the time before Stripe's webhook arrives.
async fn hold_webhooks(State(emu): State<Arc<Emu>>) -> StatusCode {
    emu.state.lock().unwrap().hold = true;
    StatusCode::NO_CONTENT
}

/// `POST /_emulator/webhooks/release`: stops holding and delivers the held events, oldest first,
/// in the background.
async fn release_webhooks(State(emu): State<Arc<Emu>>) -> StatusCode {
    let events = {
        let mut s = emu.state.lock().unwrap();
        s.hold = false;
        let held = std::mem::take(&mut s.held);
        held.iter()
            .filter_map(|id| s.events.iter().find(|e| e["id"] == id.as_str()).cloned())
            .collect()
    };
    deliver_later(&emu, events);
    StatusCode::NO_CONTENT
}

async fn unknown_route(method: Method, uri: Uri) -> Response {
    stripe_error(
        StatusCode::NOT_FOUND,
        "invalid_request_error",
        None,
        None,
        &format!(
            "Unrecognized request URL ({method}: {}). (The emulator serves what Orrery calls.)",
            uri.path()
        ),
    )
}

/// A decoded form body: `a[b][0]=c` keys as Stripe's clients write them.
struct Form(Vec<(String, String)>);

impl Form {
    fn new(body: &[u8]) -> Form {
        Form(decode_form(&String::from_utf8_lossy(body)))
    }

    fn get(&self, key: &str) -> Option<String> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
    }

    /// Every `prefix[key]=value` as an object.
    fn map(&self, prefix: &str) -> Value {
        let start = format!("{prefix}[");
        let mut map = serde_json::Map::new();
        for (k, v) in &self.0 {
            if let Some(rest) = k.strip_prefix(&start)
                && let Some(key) = rest.strip_suffix(']')
                && !key.contains('[')
            {
                map.insert(key.to_owned(), json!(v));
            }
        }
        Value::Object(map)
    }
}

fn decode_form(raw: &str) -> Vec<(String, String)> {
    if raw.is_empty() {
        return Vec::new();
    }
    reqwest::Url::parse(&format!("http://form/?{raw}"))
        .map(|u| {
            u.query_pairs()
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect()
        })
        .unwrap_or_default()
}

/// The object without the emulator's own bookkeeping fields (`_…`).
fn public(object: &Value) -> Value {
    match object {
        Value::Object(map) => Value::Object(
            map.iter()
                .filter(|(k, _)| !k.starts_with('_'))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        ),
        other => other.clone(),
    }
}

fn ok(body: Value) -> Response {
    (StatusCode::OK, request_id(), axum::Json(body)).into_response()
}

fn request_id() -> [(&'static str, String); 1] {
    [("request-id", format!("req_{}", token(14)))]
}

fn missing(object: &str, id: &str) -> Response {
    stripe_error(
        StatusCode::NOT_FOUND,
        "invalid_request_error",
        Some("resource_missing"),
        Some("id"),
        &format!("No such {object}: '{id}'"),
    )
}

fn param_missing(param: &str) -> Response {
    stripe_error(
        StatusCode::BAD_REQUEST,
        "invalid_request_error",
        Some("parameter_missing"),
        Some(param),
        &format!("Missing required param: {param}."),
    )
}

fn invalid(param: &str, message: &str) -> Response {
    stripe_error(
        StatusCode::BAD_REQUEST,
        "invalid_request_error",
        None,
        Some(param),
        message,
    )
}

fn stripe_error(
    status: StatusCode,
    kind: &str,
    code: Option<&str>,
    param: Option<&str>,
    message: &str,
) -> Response {
    let mut error = json!({"type": kind, "message": message});
    if let Some(code) = code {
        error["code"] = json!(code);
        error["doc_url"] = json!(format!(
            "https://stripe.com/docs/error-codes/{}",
            code.replace('_', "-")
        ));
    }
    if let Some(param) = param {
        error["param"] = json!(param);
    }
    (status, request_id(), axum::Json(json!({"error": error}))).into_response()
}

/// A hosted page: a whole HTML document around `body` (already escaped).
fn page(status: StatusCode, title: &str, body: &str) -> Response {
    let html = format!(
        "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <link rel=\"icon\" href=\"data:,\">\n\
         <title>{} · Stripe emulator</title>\n</head>\n<body>\n<main>\n{body}\n</main>\n</body>\n</html>\n",
        escape(title)
    );
    (status, axum::response::Html(html)).into_response()
}

fn no_such_page(status: StatusCode, what: &str) -> Response {
    page(
        status,
        "Not found",
        &format!("<h1>No such {}</h1>", escape(what)),
    )
}

/// The page of a session that can no longer be paid, with the way back.
fn closed_checkout(status: StatusCode, session: &Value) -> Response {
    let state = session["status"].as_str().unwrap_or_default();
    let back = session["success_url"].as_str().unwrap_or_default();
    let body = format!(
        "<h1>This checkout is {}</h1>\n<p><a href=\"{}\">Return to Orrery</a></p>",
        escape(state),
        escape(back)
    );
    page(status, "Checkout closed", &body)
}

/// `text` with HTML's special characters escaped, for element content and quoted attributes.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// HMAC-SHA256 of `"{t}.{payload}"`, hex, as in Stripe's `v1` signatures.
fn sign(payload: &str, t: i64, secret: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{t}.{payload}").as_bytes());
    mac.finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// `prefix_` and 24 random letters and digits, like Stripe's ids.
fn id(prefix: &str) -> String {
    format!("{prefix}_{}", token(24))
}

fn token(n: usize) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut out = String::with_capacity(n);
    while out.len() < n {
        for b in uuid::Uuid::new_v4().as_bytes() {
            if out.len() == n {
                break;
            }
            out.push(ALPHABET[usize::from(*b) % ALPHABET.len()] as char);
        }
    }
    out
}

//! Billing against the Stripe emulator: checkout, signed webhooks, plan changes, cancellation at
//! period end, replayed, forged and out-of-order webhooks, the portal, and bad input.

use reqwest::Method;
use serde_json::{Value, json};

use crate::both;
use crate::helpers::{
    Backend, TestApp, TestUser, spawn_app, spawn_billing_app, spawn_billing_app_with,
};
use crate::stripe_emulator::{API_VERSION, StripeEmulator};

both!(
    a_paying_customer_is_upgraded_by_a_signed_webhook_and_downgraded_at_period_end,
    forged_stale_and_unsigned_webhooks_are_refused_and_change_nothing,
    older_subscription_states_never_overwrite_newer_ones,
    plan_changes_apply_at_once_and_tell_the_user,
    a_failed_payment_mails_the_user_and_keeps_the_plan_while_stripe_retries,
    the_billing_portal_opens_for_customers,
    paying_on_the_hosted_checkout_page_upgrades_as_complete_checkout_does,
    billing_routes_answer_503_without_stripe_keys,
    bad_billing_input_is_answered_with_problems,
    stripe_outages_are_a_502_and_a_failed_webhook_is_processed_on_retry,
    the_emulator_answers_like_stripe,
    upgrade_checks_out_first_then_changes_the_plan,
    invoices_come_from_stripe_newest_first,
    deleting_a_paying_account_cancels_its_subscription_and_keeps_an_anonymous_record,
);

async fn limits(app: &TestApp, user: &TestUser) -> Value {
    app.get("/api/usage", &user.token).await.ok(200).clone()
}

async fn billing(app: &TestApp, user: &TestUser) -> Value {
    app.get("/api/billing/subscription", &user.token)
        .await
        .ok(200)
        .clone()
}

/// Signs up, checks out the plan and completes payment; returns the subscription id.
async fn subscribe(app: &TestApp, stripe: &StripeEmulator, user: &TestUser, plan: &str) -> String {
    let checkout = app
        .post(
            "/api/billing/create-checkout",
            &user.token,
            json!({"plan": plan, "return_url": format!("{}/billing", app_public_url())}),
        )
        .await;
    let url = checkout.ok(200)["checkout_url"]
        .as_str()
        .unwrap()
        .to_owned();
    stripe.complete_checkout(&url).await
}

fn app_public_url() -> &'static str {
    // The test settings keep the default public_url.
    "http://127.0.0.1:8080"
}

async fn a_paying_customer_is_upgraded_by_a_signed_webhook_and_downgraded_at_period_end(
    backend: Backend,
) {
    let (app, stripe) = spawn_billing_app_with(backend, |s| s.trial_days = 0).await;
    let user = app.signed_up_user().await;
    app.wait_for_mail(&user.email, "welcome").await;
    assert_eq!(limits(&app, &user).await["plan_limits"]["graphs"], 10);

    let checkout = app
        .post(
            "/api/billing/create-checkout",
            &user.token,
            json!({"plan": "pro", "return_url": "http://127.0.0.1:8080/billing?tab=plans"}),
        )
        .await;
    let body = checkout.ok(200);
    assert_eq!(body["success"], true);
    let url = body["checkout_url"].as_str().unwrap();
    // The emulator hosts the Checkout page itself (see the hosted page's own test).
    assert!(
        url.starts_with(&format!("{}c/pay/cs_test_", stripe.url)),
        "{url}"
    );

    // What Stripe was asked: a customer for the user (idempotent), then a subscription session.
    let customers = stripe.requests_to("POST", "/v1/customers");
    assert_eq!(customers.len(), 1);
    assert_eq!(customers[0].param("email"), Some(user.email.as_str()));
    assert_eq!(
        customers[0].param("metadata[user_id]"),
        Some(user.id.as_str())
    );
    assert!(customers[0].idempotency_key.is_some());
    assert_eq!(customers[0].stripe_version.as_deref(), Some(API_VERSION));
    let sessions = stripe.requests_to("POST", "/v1/checkout/sessions");
    let session = &sessions[0];
    assert_eq!(session.param("mode"), Some("subscription"));
    assert_eq!(
        session.param("line_items[0][price]"),
        Some(stripe.price_pro.as_str())
    );
    assert_eq!(session.param("line_items[0][quantity]"), Some("1"));
    assert_eq!(session.param("client_reference_id"), Some(user.id.as_str()));
    assert!(session.param("customer").unwrap().starts_with("cus_"));
    assert_eq!(
        session.param("success_url"),
        Some("http://127.0.0.1:8080/billing?tab=plans&checkout=success")
    );
    assert_eq!(
        session.param("cancel_url"),
        Some("http://127.0.0.1:8080/billing?tab=plans&checkout=canceled")
    );
    assert_eq!(
        session.param("subscription_data[metadata][plan]"),
        Some("pro")
    );

    // Nothing changes until Stripe says the customer paid.
    assert_eq!(billing(&app, &user).await["plan"], "free");
    assert_eq!(billing(&app, &user).await["subscription"], Value::Null);

    let sub_id = stripe.complete_checkout(url).await;
    assert!(sub_id.starts_with("sub_"));
    let session = stripe.session(url);
    assert_eq!(session["status"], "complete");
    assert_eq!(session["subscription"], sub_id.as_str());
    let deliveries = stripe.deliveries();
    assert!(deliveries.iter().all(|d| d.event_id.starts_with("evt_")));
    assert_eq!(
        deliveries
            .iter()
            .map(|d| (d.event_type.as_str(), d.status))
            .collect::<Vec<_>>(),
        [
            ("customer.subscription.created", 200),
            ("invoice.paid", 200),
            ("checkout.session.completed", 200)
        ]
    );
    let state = billing(&app, &user).await;
    assert_eq!(state["plan"], "pro");
    assert_eq!(state["effective_plan"], "pro");
    assert_eq!(state["subscription"]["status"], "active");
    assert_eq!(state["subscription"]["cancel_at_period_end"], false);
    assert!(state["subscription"]["current_period_end"].is_string());
    // The limits are lifted at once.
    let usage = limits(&app, &user).await;
    assert_eq!(usage["plan"], "pro");
    assert_eq!(usage["plan_limits"]["graphs"], 500);
    let upgraded = app.wait_for_mail(&user.email, "plan_upgraded").await;
    assert_eq!(upgraded.subject, "You are now on the Orrery pro plan");
    assert!(
        upgraded.text.contains("from the free plan to the pro plan"),
        "{}",
        upgraded.text
    );

    // A replayed event is acknowledged and changes nothing.
    let completed = stripe.last_event("checkout.session.completed");
    let event_id = completed["id"].as_str().unwrap();
    assert_eq!(stripe.deliver(event_id).await, 200);
    let created = stripe.last_event("customer.subscription.created");
    assert_eq!(stripe.deliver(created["id"].as_str().unwrap()).await, 200);
    let payload = serde_json::to_string(&completed).unwrap();
    let t = time::OffsetDateTime::now_utc().unix_timestamp();
    let (status, receipt) = stripe
        .post_raw(
            payload.as_bytes(),
            Some(&StripeEmulator::signature(
                &payload,
                t,
                &stripe.webhook_secret,
            )),
        )
        .await;
    assert_eq!((status, &receipt["duplicate"]), (200, &json!(true)));

    // A forged deletion (signed with another secret) is refused and changes nothing.
    let mut forged = created.clone();
    forged["id"] = json!("evt_forged000000000000000001");
    forged["type"] = json!("customer.subscription.deleted");
    forged["data"]["object"]["status"] = json!("canceled");
    let forged = serde_json::to_string(&forged).unwrap();
    let (status, problem) = stripe
        .post_raw(
            forged.as_bytes(),
            Some(&StripeEmulator::signature(
                &forged,
                t,
                "whsec_not_the_secret",
            )),
        )
        .await;
    assert_eq!(status, 400, "{problem}");
    assert_eq!(problem["type"], "/problems/bad-request");
    assert_eq!(billing(&app, &user).await["plan"], "pro");
    app.outbox_settled().await;
    assert_eq!(
        app.mail_templates(&user.email)
            .iter()
            .filter(|t| *t == "plan_upgraded")
            .count(),
        1,
        "replays mail nothing"
    );

    // Cancel: the plan stays until the period ends.
    let canceled = app
        .call(Method::POST, "/api/billing/cancel", Some(&user.token), None)
        .await;
    let canceled = canceled.ok(200);
    assert_eq!(canceled["plan"], "pro");
    assert_eq!(canceled["subscription"]["cancel_at_period_end"], true);
    let updates = stripe.requests_to("POST", &format!("/v1/subscriptions/{sub_id}"));
    assert_eq!(
        updates.last().unwrap().param("cancel_at_period_end"),
        Some("true")
    );
    stripe.settle().await;
    assert_eq!(stripe.subscription(&sub_id)["cancel_at_period_end"], true);
    let notice = app
        .wait_for_mail(&user.email, "subscription_canceled")
        .await;
    assert!(
        notice.text.contains("is canceled and ends on"),
        "{}",
        notice.text
    );
    assert_eq!(limits(&app, &user).await["plan_limits"]["graphs"], 500);

    // The period ends: Stripe deletes the subscription, and the account is on the free plan.
    stripe.end_period(&sub_id).await;
    let last = stripe.deliveries().pop().unwrap();
    assert_eq!(
        (last.event_type.as_str(), last.status),
        ("customer.subscription.deleted", 200)
    );
    let state = billing(&app, &user).await;
    assert_eq!(state["plan"], "free");
    assert_eq!(state["subscription"]["status"], "canceled");
    assert_eq!(limits(&app, &user).await["plan_limits"]["graphs"], 10);
    let downgraded = app.wait_for_mail(&user.email, "plan_downgraded").await;
    assert_eq!(downgraded.subject, "Your Orrery plan changed to free");
}

async fn forged_stale_and_unsigned_webhooks_are_refused_and_change_nothing(backend: Backend) {
    let (app, stripe) = spawn_billing_app(backend).await;
    let user = app.signed_up_user().await;
    let sub_id = subscribe(&app, &stripe, &user, "pro").await;
    // A genuine-looking deletion of the user's subscription.
    let mut deleted = stripe.last_event("customer.subscription.created");
    deleted["id"] = json!("evt_1DeletionFromNowhere000001");
    // Later than every state stored so far: subscribing can cross a second boundary, and an
    // event in the same second as the stored state is decided by Stripe's copy (still active).
    deleted["created"] = json!(time::OffsetDateTime::now_utc().unix_timestamp() + 1);
    deleted["type"] = json!("customer.subscription.deleted");
    deleted["data"]["object"]["status"] = json!("canceled");
    let payload = serde_json::to_string(&deleted).unwrap();
    let secret = stripe.webhook_secret.clone();
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let sign = |t: i64, secret: &str| StripeEmulator::signature(&payload, t, secret);
    let tampered = payload.replace("canceled", "cancelled");
    for (what, body, header) in [
        ("no signature", payload.clone(), None),
        (
            "another secret",
            payload.clone(),
            Some(sign(now, "whsec_other")),
        ),
        (
            "stale timestamp",
            payload.clone(),
            Some(sign(now - 301, &secret)),
        ),
        (
            "future timestamp",
            payload.clone(),
            Some(sign(now + 400, &secret)),
        ),
        ("tampered payload", tampered, Some(sign(now, &secret))),
        (
            "garbage header",
            payload.clone(),
            Some("nonsense".to_owned()),
        ),
        ("no v1", payload.clone(), Some(format!("t={now}"))),
        (
            "bad t",
            payload.clone(),
            Some("t=yesterday,v1=00".to_owned()),
        ),
        (
            "v0 only",
            payload.clone(),
            Some(sign(now, &secret).replace("v1=", "v0=")),
        ),
    ] {
        let (status, problem) = stripe.post_raw(body.as_bytes(), header.as_deref()).await;
        assert_eq!(status, 400, "{what}: {problem}");
        assert_eq!(problem["type"], "/problems/bad-request", "{what}");
    }
    // Signed, but not a Stripe event of this API version.
    for body in [
        "{}",
        "not json",
        r#"{"id": "evt_1", "object": "event", "type": "customer.subscription.deleted"}"#,
    ] {
        let (status, problem) = stripe
            .post_raw(
                body.as_bytes(),
                Some(&StripeEmulator::signature(body, now, &secret)),
            )
            .await;
        assert_eq!(status, 400, "{body}: {problem}");
    }
    // Oversized.
    let huge = format!("{{\"pad\": \"{}\"}}", "x".repeat(300 * 1024));
    let (status, problem) = stripe
        .post_raw(
            huge.as_bytes(),
            Some(&StripeEmulator::signature(&huge, now, &secret)),
        )
        .await;
    assert_eq!(status, 413, "{problem}");
    assert_eq!(problem["type"], "/problems/payload-too-large");
    assert_eq!(billing(&app, &user).await["plan"], "pro");
    assert_eq!(
        billing(&app, &user).await["subscription"]["status"],
        "active"
    );

    // During a secret rotation Stripe signs with both secrets: one good `v1` is enough.
    let header = format!(
        "t={now},v1={},v1={}",
        sign(now, "whsec_old").split("v1=").nth(1).unwrap(),
        sign(now, &secret).split("v1=").nth(1).unwrap()
    );
    let (status, receipt) = stripe.post_raw(payload.as_bytes(), Some(&header)).await;
    assert_eq!(status, 200, "{receipt}");
    assert_eq!(receipt["duplicate"], false);
    assert_eq!(billing(&app, &user).await["plan"], "free");
    assert_eq!(
        stripe.subscription(&sub_id)["status"],
        "active",
        "only our copy changed"
    );
}

async fn older_subscription_states_never_overwrite_newer_ones(backend: Backend) {
    let (app, stripe) = spawn_billing_app(backend).await;
    let user = app.signed_up_user().await;
    let sub_id = subscribe(&app, &stripe, &user, "pro").await;
    // A payment fails, and ten seconds later (on the test clock) the customer fixes it; the
    // events are held, then delivered newest first.
    stripe.hold_webhooks(true);
    stripe.fail_payment(&sub_id).await;
    stripe.advance_clock(10).await;
    stripe.recover_payment(&sub_id).await;
    stripe.hold_webhooks(false);
    let held = stripe.take_held();
    assert_eq!(held.len(), 4);
    for id in held.iter().rev() {
        assert_eq!(stripe.deliver(id).await, 200);
    }
    let state = billing(&app, &user).await;
    assert_eq!(state["subscription"]["status"], "active", "{state}");
    assert_eq!(state["plan"], "pro");
    // The failed payment was still news, and mailed.
    app.wait_for_mail(&user.email, "payment_failed").await;
    // Delivered again in order, nothing changes either.
    for id in &held {
        assert_eq!(stripe.deliver(id).await, 200);
    }
    assert_eq!(
        billing(&app, &user).await["subscription"]["status"],
        "active"
    );
}

async fn plan_changes_apply_at_once_and_tell_the_user(backend: Backend) {
    let (app, stripe) = spawn_billing_app_with(backend, |s| s.trial_days = 0).await;
    let user = app.signed_up_user().await;
    let sub_id = subscribe(&app, &stripe, &user, "pro").await;
    app.wait_for_mail(&user.email, "plan_upgraded").await;

    // Buying again is a conflict: the plan is changed instead.
    let again = app
        .post(
            "/api/billing/create-checkout",
            &user.token,
            json!({"plan": "enterprise", "return_url": "http://127.0.0.1:8080/"}),
        )
        .await;
    again.problem(409, "conflict");

    let changed = app
        .post(
            "/api/billing/change-plan",
            &user.token,
            json!({"plan": "enterprise"}),
        )
        .await;
    let changed = changed.ok(200);
    assert_eq!(changed["plan"], "enterprise");
    assert_eq!(changed["subscription"]["plan"], "enterprise");
    assert_eq!(
        limits(&app, &user).await["plan_limits"]["graphs"],
        Value::Null,
        "unlimited"
    );
    let update = stripe
        .requests_to("POST", &format!("/v1/subscriptions/{sub_id}"))
        .pop()
        .unwrap();
    assert_eq!(
        update.param("items[0][price]"),
        Some(stripe.price_enterprise.as_str())
    );
    assert!(update.param("items[0][id]").unwrap().starts_with("si_"));
    assert_eq!(
        update.param("proration_behavior"),
        Some("create_prorations")
    );
    stripe.settle().await;
    let mails = app.mail_templates(&user.email);
    for _ in 0..100 {
        if app
            .mail
            .mails_to(&user.email)
            .iter()
            .any(|m| m.subject.contains("enterprise"))
        {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(
        app.mail
            .mails_to(&user.email)
            .iter()
            .any(|m| m.template == "plan_upgraded"
                && m.subject == "You are now on the Orrery enterprise plan"),
        "{mails:?}"
    );

    let same = app
        .post(
            "/api/billing/change-plan",
            &user.token,
            json!({"plan": "enterprise"}),
        )
        .await;
    same.problem(409, "conflict");

    let down = app
        .post(
            "/api/billing/change-plan",
            &user.token,
            json!({"plan": "pro"}),
        )
        .await;
    assert_eq!(down.ok(200)["plan"], "pro");
    assert_eq!(limits(&app, &user).await["plan_limits"]["graphs"], 500);
    let downgraded = app.wait_for_mail(&user.email, "plan_downgraded").await;
    assert_eq!(downgraded.subject, "Your Orrery plan changed to pro");
    stripe.settle().await;
    assert_eq!(billing(&app, &user).await["plan"], "pro");

    // Resuming undoes a cancellation.
    app.call(Method::POST, "/api/billing/cancel", Some(&user.token), None)
        .await
        .ok(200);
    let resumed = app
        .call(Method::POST, "/api/billing/resume", Some(&user.token), None)
        .await;
    assert_eq!(
        resumed.ok(200)["subscription"]["cancel_at_period_end"],
        false
    );
    stripe.settle().await;
    assert_eq!(stripe.subscription(&sub_id)["cancel_at_period_end"], false);
}

async fn a_failed_payment_mails_the_user_and_keeps_the_plan_while_stripe_retries(backend: Backend) {
    let (app, stripe) = spawn_billing_app(backend).await;
    let user = app.signed_up_user().await;
    let sub_id = subscribe(&app, &stripe, &user, "pro").await;
    stripe.fail_payment(&sub_id).await;
    let mail = app.wait_for_mail(&user.email, "payment_failed").await;
    assert_eq!(mail.subject, "We could not take your Orrery payment");
    assert!(
        mail.text.contains("your pro plan did not go through"),
        "{}",
        mail.text
    );
    let state = billing(&app, &user).await;
    assert_eq!(state["subscription"]["status"], "past_due");
    assert_eq!(state["plan"], "pro");
}

async fn the_billing_portal_opens_for_customers(backend: Backend) {
    let (app, stripe) = spawn_billing_app(backend).await;
    let user = app.signed_up_user().await;
    let none = app
        .post("/api/billing/portal", &user.token, json!({}))
        .await;
    none.problem(409, "conflict");
    subscribe(&app, &stripe, &user, "pro").await;
    let portal = app
        .post(
            "/api/billing/portal",
            &user.token,
            json!({"return_url": "http://127.0.0.1:8080/settings"}),
        )
        .await;
    let url = portal.ok(200)["portal_url"].as_str().unwrap().to_owned();
    assert!(
        url.starts_with(&format!("{}p/session/", stripe.url)),
        "{url}"
    );
    // The emulator's portal page leads back to the return address.
    let page = app.client.get(&url).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(
        html.contains(r#"<a href="http://127.0.0.1:8080/settings">Return to Orrery</a>"#),
        "{html}"
    );
    let request = stripe
        .requests_to("POST", "/v1/billing_portal/sessions")
        .pop()
        .unwrap();
    assert!(request.param("customer").unwrap().starts_with("cus_"));
    assert_eq!(
        request.param("return_url"),
        Some("http://127.0.0.1:8080/settings")
    );
    // Without a body, the return address is the billing page.
    let bare = app
        .call(Method::POST, "/api/billing/portal", Some(&user.token), None)
        .await;
    bare.ok(200);
    assert_eq!(
        stripe
            .requests_to("POST", "/v1/billing_portal/sessions")
            .pop()
            .unwrap()
            .param("return_url"),
        Some("http://127.0.0.1:8080/billing")
    );
    for (body, field) in [
        (json!({"return_url": "https://evil.example/"}), "return_url"),
        (json!({"return_url": "javascript:alert(1)"}), "return_url"),
    ] {
        let reply = app.post("/api/billing/portal", &user.token, body).await;
        assert_eq!(reply.problem(422, "invalid-field")["field"], field);
    }
    let wrong = app
        .post("/api/billing/portal", &user.token, json!({"return_url": 7}))
        .await;
    wrong.problem(422, "invalid-body");
    let unknown = app
        .post("/api/billing/portal", &user.token, json!({"colour": "red"}))
        .await;
    unknown.problem(422, "invalid-body");
    // What the fuzzer sent once: a NUL in an unknown key came back raw in the detail.
    let nul = app
        .post(
            "/api/billing/portal",
            &user.token,
            json!({"co\u{0}lour": []}),
        )
        .await;
    let detail = nul.problem(422, "invalid-body")["detail"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(!detail.contains('\0'), "{detail:?}");
}

async fn paying_on_the_hosted_checkout_page_upgrades_as_complete_checkout_does(backend: Backend) {
    let (app, stripe) = spawn_billing_app_with(backend, |s| s.trial_days = 0).await;
    let user = app.signed_up_user().await;
    let checkout = app
        .post(
            "/api/billing/create-checkout",
            &user.token,
            json!({"plan": "pro", "return_url": format!("{}/billing", app_public_url())}),
        )
        .await;
    let url = checkout.ok(200)["checkout_url"]
        .as_str()
        .unwrap()
        .to_owned();

    // The page says what is bought, and offers to pay or to go back to `cancel_url`.
    let page = app.client.get(&url).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert_eq!(page.headers()["content-type"], "text/html; charset=utf-8");
    let html = page.text().await.unwrap();
    for part in [
        "<h1>Orrery Pro</h1>",
        "$29.00 per month",
        &format!("Paying as {}.", user.email),
        r#"<form method="post"><button type="submit">Pay</button></form>"#,
        r#"<a href="http://127.0.0.1:8080/billing?checkout=canceled">Cancel</a>"#,
    ] {
        assert!(html.contains(part), "{part} in {html}");
    }
    assert_eq!(billing(&app, &user).await["plan"], "free");

    // Paying sends the browser to `success_url`, and Stripe's events after it, in order (a
    // browser test holds them back to see the page wait for them).
    let control = |action: &str| {
        app.client
            .post(format!("{}_emulator/webhooks/{action}", stripe.url))
            .send()
    };
    assert_eq!(control("hold").await.unwrap().status(), 204);
    let paid = app.client.post(&url).send().await.unwrap();
    assert_eq!(paid.status(), 303);
    assert_eq!(
        paid.headers()["location"],
        "http://127.0.0.1:8080/billing?checkout=success"
    );
    assert!(stripe.deliveries().is_empty());
    assert_eq!(billing(&app, &user).await["plan"], "free");
    assert_eq!(control("release").await.unwrap().status(), 204);
    stripe.settle().await;
    assert_eq!(
        stripe
            .deliveries()
            .iter()
            .map(|d| (d.event_type.as_str(), d.status))
            .collect::<Vec<_>>(),
        [
            ("customer.subscription.created", 200),
            ("invoice.paid", 200),
            ("checkout.session.completed", 200)
        ]
    );
    let session = stripe.session(&url);
    assert_eq!(
        (&session["status"], &session["payment_status"]),
        (&json!("complete"), &json!("paid"))
    );
    let state = billing(&app, &user).await;
    assert_eq!(
        (&state["plan"], &state["subscription"]["status"]),
        (&json!("pro"), &json!("active"))
    );
    app.wait_for_mail(&user.email, "plan_upgraded").await;

    // A session is paid once; the page then only leads back.
    let again = app.client.post(&url).send().await.unwrap();
    assert_eq!(again.status(), 409);
    assert!(
        again
            .text()
            .await
            .unwrap()
            .contains("This checkout is complete"),
        "the closed page"
    );
    assert_eq!(stripe.deliveries().len(), 3);
    let unknown = app
        .client
        .get(format!("{}c/pay/cs_test_unknown", stripe.url))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 404);
}

async fn billing_routes_answer_503_without_stripe_keys(backend: Backend) {
    let app = spawn_app(backend).await;
    let user = app.signed_up_user().await;
    for (path, body) in [
        (
            "/api/billing/create-checkout",
            json!({"plan": "pro", "return_url": "http://127.0.0.1:8080/"}),
        ),
        ("/api/billing/portal", json!({})),
        ("/api/billing/change-plan", json!({"plan": "pro"})),
        ("/api/billing/cancel", json!({})),
        ("/api/billing/resume", json!({})),
        ("/api/billing/upgrade", json!({"plan": "pro"})),
    ] {
        let reply = app.post(path, &user.token, body).await;
        let problem = reply.problem(503, "unavailable");
        assert!(
            problem["detail"]
                .as_str()
                .unwrap()
                .contains("billing is not configured")
        );
    }
    let hook = app
        .send(
            app.request(Method::POST, "/api/billing/webhook")
                .header("stripe-signature", "t=1,v1=00")
                .body("{}"),
        )
        .await;
    hook.problem(503, "unavailable");
    app.get("/api/billing/invoices", &user.token)
        .await
        .problem(503, "unavailable");
    let state = billing(&app, &user).await;
    assert_eq!(state["billing_enabled"], false);
    assert_eq!(state["subscription"], Value::Null);
    // Everything else works.
    app.create_graph(&user, "Still works", crate::helpers::small_graph())
        .await
        .ok(201);
}

async fn bad_billing_input_is_answered_with_problems(backend: Backend) {
    let (app, _stripe) = spawn_billing_app(backend).await;
    let user = app.signed_up_user().await;
    let anonymous = app
        .call(
            Method::POST,
            "/api/billing/create-checkout",
            None,
            Some(json!({"plan": "pro", "return_url": "http://127.0.0.1:8080/"})),
        )
        .await;
    anonymous.problem(401, "unauthorized");
    for path in [
        "/api/billing/create-checkout",
        "/api/billing/change-plan",
        "/api/billing/cancel",
        "/api/billing/resume",
        "/api/billing/subscription",
    ] {
        let method = if path.ends_with("subscription") {
            Method::GET
        } else {
            Method::POST
        };
        app.call(method, path, None, None)
            .await
            .problem(401, "unauthorized");
    }
    let checkout = |body: Value| app.post("/api/billing/create-checkout", &user.token, body);
    let no_body = app
        .call(
            Method::POST,
            "/api/billing/create-checkout",
            Some(&user.token),
            None,
        )
        .await;
    no_body.problem(415, "unsupported-media-type");
    let malformed = app
        .send(
            app.request(Method::POST, "/api/billing/create-checkout")
                .bearer_auth(&user.token)
                .header("content-type", "application/json")
                .body("{\"plan\": "),
        )
        .await;
    malformed.problem(400, "invalid-body");
    for body in [
        json!({"plan": 1, "return_url": "http://127.0.0.1:8080/"}),
        json!({"plan": "pro"}),
        json!({"return_url": "http://127.0.0.1:8080/"}),
        json!({"plan": "pro", "return_url": "http://127.0.0.1:8080/", "coupon": "FREE"}),
        json!([]),
    ] {
        checkout(body.clone()).await.problem(422, "invalid-body");
    }
    for (body, field) in [
        (
            json!({"plan": "gold", "return_url": "http://127.0.0.1:8080/"}),
            "plan",
        ),
        (
            json!({"plan": "free", "return_url": "http://127.0.0.1:8080/"}),
            "plan",
        ),
        (
            json!({"plan": "PRO", "return_url": "http://127.0.0.1:8080/"}),
            "plan",
        ),
        (
            json!({"plan": "pro", "return_url": "/billing"}),
            "return_url",
        ),
        (
            json!({"plan": "pro", "return_url": "ftp://127.0.0.1:8080/"}),
            "return_url",
        ),
        (
            json!({"plan": "pro", "return_url": "https://evil.example/billing"}),
            "return_url",
        ),
        (
            json!({"plan": "pro", "return_url": "http://127.0.0.1:8080.evil.example/"}),
            "return_url",
        ),
        (
            json!({"plan": "pro", "return_url": "http://user:pw@127.0.0.1:8080/"}),
            "return_url",
        ),
        (json!({"plan": "pro", "return_url": ""}), "return_url"),
        (
            json!({"plan": "pro", "return_url": format!("http://127.0.0.1:8080/{}", "a".repeat(3000))}),
            "return_url",
        ),
    ] {
        let reply = checkout(body.clone()).await;
        assert_eq!(
            reply.problem(422, "invalid-field")["field"],
            field,
            "{body}"
        );
    }
    for body in [json!({"plan": "gold"}), json!({"plan": "free"})] {
        app.post("/api/billing/change-plan", &user.token, body)
            .await
            .problem(422, "invalid-field");
    }
    app.post("/api/billing/change-plan", &user.token, json!({}))
        .await
        .problem(422, "invalid-body");
    // Without a subscription there is nothing to change, cancel or resume.
    app.post(
        "/api/billing/change-plan",
        &user.token,
        json!({"plan": "enterprise"}),
    )
    .await
    .problem(409, "conflict");
    for path in ["/api/billing/cancel", "/api/billing/resume"] {
        app.call(Method::POST, path, Some(&user.token), None)
            .await
            .problem(409, "conflict");
    }
}

async fn stripe_outages_are_a_502_and_a_failed_webhook_is_processed_on_retry(backend: Backend) {
    // Stripe is unreachable: the API call is a 502 problem without internals.
    let closed = crate::smtp_sink::free_port();
    let (app, _stripe) = spawn_billing_app_with(backend, |s| {
        s.stripe_api_base = format!("http://127.0.0.1:{closed}/");
    })
    .await;
    let user = app.signed_up_user().await;
    let reply = app
        .post(
            "/api/billing/create-checkout",
            &user.token,
            json!({"plan": "pro", "return_url": "http://127.0.0.1:8080/"}),
        )
        .await;
    let problem = reply.problem(502, "bad-gateway");
    assert!(!problem["detail"].as_str().unwrap().contains("127.0.0.1"));

    // A checkout.session.completed whose processing needs Stripe fails while Stripe fails
    // (502, and the event id is forgotten), and is processed when Stripe retries it.
    let (app, stripe) = spawn_billing_app(backend).await;
    let user = app.signed_up_user().await;
    stripe.hold_webhooks(true);
    subscribe(&app, &stripe, &user, "pro").await;
    stripe.take_held();
    stripe.hold_webhooks(false);
    let completed = stripe.last_event("checkout.session.completed");
    let completed = completed["id"].as_str().unwrap();
    stripe.set_failing(true);
    assert_eq!(stripe.deliver(completed).await, 502);
    assert_eq!(billing(&app, &user).await["plan"], "free");
    stripe.set_failing(false);
    assert_eq!(stripe.deliver(completed).await, 200);
    let state = billing(&app, &user).await;
    assert_eq!(state["plan"], "pro");
    assert_eq!(state["subscription"]["status"], "active");
    app.wait_for_mail(&user.email, "plan_upgraded").await;
}

async fn the_emulator_answers_like_stripe(backend: Backend) {
    // Not the server: the emulator itself, so that what the server is tested against behaves
    // like Stripe where the server relies on it.
    let (app, stripe) = spawn_billing_app(backend).await;
    let _ = &app;
    let (status, body) = stripe
        .api(Method::GET, &format!("/prices/{}", stripe.price_pro), &[])
        .await;
    assert_eq!(status, 200);
    assert_eq!(body["object"], "price");
    assert_eq!(body["unit_amount"], crate::stripe_emulator::PRO_CENTS);
    assert_eq!(body["recurring"]["interval"], "month");
    let (status, body) = stripe
        .api(Method::GET, "/subscriptions/sub_nope", &[])
        .await;
    assert_eq!(status, 404);
    assert_eq!(body["error"]["code"], "resource_missing");
    assert_eq!(body["error"]["message"], "No such subscription: 'sub_nope'");
    let (status, body) = stripe
        .api(
            Method::POST,
            "/checkout/sessions",
            &[("mode", "subscription")],
        )
        .await;
    assert_eq!(status, 400);
    assert_eq!(body["error"]["code"], "parameter_missing");
    let (status, _) = stripe.api(Method::GET, "/charges", &[]).await;
    assert_eq!(status, 404);
    // A wrong key is refused.
    let wrong = reqwest::Client::new()
        .get(format!("{}v1/prices/{}", stripe.url, stripe.price_pro))
        .bearer_auth("sk_test_wrong")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    // An idempotency key gets the first answer again.
    let create = || async {
        reqwest::Client::new()
            .post(format!("{}v1/customers", stripe.url))
            .bearer_auth(&stripe.secret_key)
            .header("idempotency-key", "same-key")
            .header("content-type", "application/x-www-form-urlencoded")
            .body("email=a%40example.com")
            .send()
            .await
            .unwrap()
            .json::<Value>()
            .await
            .unwrap()
    };
    let first = create().await;
    assert!(first["id"].as_str().unwrap().starts_with("cus_"));
    assert_eq!(first["email"], "a@example.com");
    assert_eq!(create().await["id"], first["id"]);
    // Every request was recorded, form decoded.
    let recorded = stripe.requests_to("POST", "/v1/customers");
    assert_eq!(recorded.len(), 2);
    assert_eq!(recorded[0].param("email"), Some("a@example.com"));
}

async fn upgrade_checks_out_first_then_changes_the_plan(backend: Backend) {
    let (app, stripe) = spawn_billing_app_with(backend, |s| s.trial_days = 0).await;
    let user = app.signed_up_user().await;
    // No subscription yet: the design's upgrade answers with the Checkout page.
    let first = app
        .post("/api/billing/upgrade", &user.token, json!({"plan": "pro"}))
        .await;
    let body = first.ok(200).clone();
    assert_eq!(body["subscription"], Value::Null);
    assert_eq!(body["effective_plan"], "free");
    let url = body["checkout_url"].as_str().unwrap();
    let session = stripe.session(url);
    assert_eq!(
        session["success_url"],
        "http://127.0.0.1:8080/billing?checkout=success"
    );
    stripe.complete_checkout(url).await;
    stripe.settle().await;
    assert_eq!(billing(&app, &user).await["plan"], "pro");
    // With a subscription, it moves it, at once.
    let second = app
        .post(
            "/api/billing/upgrade",
            &user.token,
            json!({"plan": "enterprise"}),
        )
        .await;
    let body = second.ok(200).clone();
    assert!(body.get("checkout_url").is_none(), "{body}");
    assert_eq!(body["subscription"]["plan"], "enterprise");
    assert_eq!(body["effective_plan"], "enterprise");
    app.post(
        "/api/billing/upgrade",
        &user.token,
        json!({"plan": "enterprise"}),
    )
    .await
    .problem(409, "conflict");
    for bad in [
        json!({"plan": "free"}),
        json!({"plan": "gold"}),
        json!({"plan": "pro", "return_url": "https://evil.example/"}),
        json!({"plan": "pro", "extra": 1}),
    ] {
        let reply = app
            .post("/api/billing/upgrade", &user.token, bad.clone())
            .await;
        assert_eq!(reply.status, 422, "{bad}: {:?}", reply.body);
    }
}

async fn invoices_come_from_stripe_newest_first(backend: Backend) {
    let (app, stripe) = spawn_billing_app_with(backend, |s| s.trial_days = 0).await;
    let user = app.signed_up_user().await;
    // Before the first checkout there is no customer, and no invoice.
    let none = app.get("/api/billing/invoices", &user.token).await;
    assert_eq!(none.ok(200)["invoices"], json!([]));
    subscribe(&app, &stripe, &user, "pro").await;
    stripe.settle().await;
    let list = app.get("/api/billing/invoices", &user.token).await;
    let invoices = list.ok(200)["invoices"].as_array().unwrap().clone();
    assert_eq!(invoices.len(), 1, "{invoices:?}");
    let invoice = &invoices[0];
    assert_eq!(invoice["status"], "paid");
    assert_eq!(invoice["currency"], "usd");
    assert!(invoice["total"].as_i64().unwrap() > 0);
    assert_eq!(invoice["amount_paid"], invoice["total"]);
    assert!(invoice["number"].as_str().unwrap().starts_with("ORR-"));
    assert!(invoice["invoice_pdf"].as_str().unwrap().ends_with("/pdf"));
    assert!(invoice["hosted_invoice_url"].is_string());
    // Another account sees none of them.
    let other = app.signed_up_user().await;
    let theirs = app.get("/api/billing/invoices", &other.token).await;
    assert_eq!(theirs.ok(200)["invoices"], json!([]));
    for bad in ["?limit=0", "?limit=101", "?limit=x", "?page=2"] {
        let reply = app
            .get(&format!("/api/billing/invoices{bad}"), &user.token)
            .await;
        assert!(
            reply.status == 400 || reply.status == 422,
            "{bad}: {}",
            reply.status
        );
    }
}

async fn deleting_a_paying_account_cancels_its_subscription_and_keeps_an_anonymous_record(
    backend: Backend,
) {
    let (app, stripe) = spawn_billing_app_with(backend, |s| s.trial_days = 0).await;
    let user = app.signed_up_user().await;
    let checkout = app
        .post("/api/billing/upgrade", &user.token, json!({"plan": "pro"}))
        .await;
    let url = checkout.ok(200)["checkout_url"]
        .as_str()
        .unwrap()
        .to_owned();
    let sub_id = stripe.complete_checkout(&url).await;
    stripe.settle().await;
    assert_eq!(billing(&app, &user).await["plan"], "pro");
    // Stripe down: nothing is deleted, the subscription keeps running.
    stripe.set_failing(true);
    app.call(
        Method::DELETE,
        "/api/me",
        Some(&user.token),
        Some(json!({"password": user.password})),
    )
    .await
    .problem(502, "bad-gateway");
    app.get("/api/me", &user.token).await.ok(200);
    stripe.set_failing(false);
    app.call(
        Method::DELETE,
        "/api/me",
        Some(&user.token),
        Some(json!({"password": user.password})),
    )
    .await
    .ok(200);
    assert_eq!(
        stripe
            .requests_to("DELETE", &format!("/v1/subscriptions/{sub_id}"))
            .len(),
        2,
        "one refused, one done"
    );
    assert_eq!(stripe.subscription(&sub_id)["status"], "canceled");
    // Stripe's news of the cancellation arrives for an account that is gone: acknowledged.
    stripe.settle().await;
    assert!(
        stripe.deliveries().iter().all(|d| d.status < 500),
        "{:?}",
        stripe.deliveries()
    );
    // What accounting needs stays, without the person.
    let store = app.store().await;
    let records =
        orrery_core::store::UserStore::billing_records(&store, orrery_core::store::Page::default())
            .await
            .unwrap();
    assert_eq!(records.total, 1);
    let record = &records.items[0];
    assert_eq!(record.subscription_id.as_deref(), Some(sub_id.as_str()));
    assert_eq!(record.plan, orrery_core::Plan::Pro);
    let text = serde_json::to_string(record).unwrap();
    assert!(
        !text.contains(&user.email) && !text.contains("Test User"),
        "{text}"
    );
    store.close().await;
    app.wait_for_mail(&user.email, "account_deleted").await;
}

//! The admin API: only for admins, figures that follow the data, account changes that apply at
//! once, new admins, exports, health, mail templates, and the monitoring log of it all.

use std::time::Duration;

use orrery_core::store::{EventFilter, MonitoringStore};
use reqwest::Method;
use serde_json::{Value, json};

use crate::both;
use crate::helpers::{
    Backend, TestApp, small_graph, spawn_app, spawn_app_with, spawn_billing_app,
    spawn_billing_app_with,
};

both!(
    admin_routes_refuse_everyone_but_admins,
    an_admin_sees_the_numbers_move,
    admins_change_plans_roles_and_trials_with_immediate_effect,
    admins_create_admins_and_export_accounts,
    health_reports_every_part_of_the_system,
    mail_templates_are_checked_when_saved_and_used_when_sent,
    users_are_listed_by_plan_and_search,
);

async fn admin_events(app: &TestApp, admin_id: &str, kind: &str) -> Vec<Value> {
    let store = app.store().await;
    let events = store
        .list_events(&EventFilter {
            user_id: Some(admin_id.parse().unwrap()),
            kind: Some(kind.to_owned()),
            ..EventFilter::default()
        })
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|e| e.data)
        .collect();
    store.close().await;
    events
}

async fn admin_routes_refuse_everyone_but_admins(backend: Backend) {
    let app = spawn_app(backend).await;
    let user = app.signed_up_user().await;
    let id = user.id.clone();
    let routes: Vec<(Method, String, Option<Value>)> = vec![
        (Method::GET, "/api/admin/users".into(), None),
        (
            Method::PUT,
            format!("/api/admin/users/{id}"),
            Some(json!({"role": "admin"})),
        ),
        (Method::GET, format!("/api/admin/users/{id}/export"), None),
        (
            Method::POST,
            "/api/admin/admins".into(),
            Some(json!({"email": "x@example.com", "name": "X"})),
        ),
        (Method::GET, "/api/admin/stats".into(), None),
        (Method::GET, "/api/admin/health".into(), None),
        (Method::GET, "/api/admin/email-templates".into(), None),
        (
            Method::GET,
            "/api/admin/email-templates/welcome".into(),
            None,
        ),
        (
            Method::PUT,
            "/api/admin/email-templates/welcome".into(),
            Some(json!({"subject": "x", "html": "x", "text": "x", "variables": []})),
        ),
    ];
    for (method, path, body) in routes {
        app.call(method.clone(), &path, Some(&user.token), body.clone())
            .await
            .problem(403, "forbidden");
        app.call(method, &path, None, body)
            .await
            .problem(401, "unauthorized");
    }
    // The user is still a user.
    let me = app.get("/api/auth/me", &user.token).await;
    assert_eq!(me.ok(200)["user"]["role"], "user");
}

async fn stats(app: &TestApp, token: &str) -> Value {
    app.get("/api/admin/stats?refresh=true", token)
        .await
        .ok(200)
        .clone()
}

async fn an_admin_sees_the_numbers_move(backend: Backend) {
    let (app, stripe) = spawn_billing_app(backend).await;
    let admin = app.admin_user().await;
    let before = stats(&app, &admin.token).await;
    assert_eq!(before["users"]["total"], 1);
    assert_eq!(before["revenue"]["mrr"], 0);
    assert_eq!(before["revenue"]["currency"], "usd");
    assert_eq!(before["cached"], false);

    // Three sign-ups (on trial), one of whom buys pro and one of whom does nothing more; a
    // graph; some API calls.
    let idle = app.signed_up_user().await;
    let trying = app.signed_up_user().await;
    let paying = app.signed_up_user().await;
    let url = app
        .post(
            "/api/billing/create-checkout",
            &paying.token,
            json!({"plan": "pro", "return_url": "http://127.0.0.1:8080/billing"}),
        )
        .await
        .ok(200)["checkout_url"]
        .as_str()
        .unwrap()
        .to_owned();
    stripe.complete_checkout(&url).await;
    app.create_graph(&trying, "Counted", small_graph())
        .await
        .ok(201);
    for _ in 0..3 {
        app.get("/api/auth/me", &trying.token).await.ok(200);
    }
    // Usage records are written in the background: wait for them.
    let mut after = stats(&app, &admin.token).await;
    for _ in 0..50 {
        if after["usage"]["total_api_calls"].as_u64().unwrap() >= 5
            && after["users"]["active_last_30_days"] == 3
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        after = stats(&app, &admin.token).await;
    }
    assert_eq!(after["users"]["total"], 4);
    assert_eq!(after["users"]["pro_users"], 1);
    assert_eq!(
        after["users"]["trial_users"],
        before["users"]["trial_users"].as_u64().unwrap() + 2,
        "the paying user is no longer trying"
    );
    assert_eq!(
        after["users"]["active_last_30_days"], 3,
        "calling the API is activity, without signing in: the admin, trying and paying"
    );
    assert_eq!(after["revenue"]["mrr"], 2_900);
    assert_eq!(after["revenue"]["arr"], 34_800);
    assert_eq!(after["revenue"]["active_subscriptions"], 1);
    assert_eq!(after["revenue"]["growth_rate"], 0.0, "every account is new");
    assert_eq!(after["usage"]["total_graphs"], 1);
    assert!(
        after["usage"]["total_api_calls"].as_u64().unwrap() >= 5,
        "{after}"
    );
    assert!(after["usage"]["avg_session_duration"].as_f64().unwrap() >= 0.0);
    // Signing in makes an account active.
    app.call(
        Method::POST,
        "/api/auth/signin",
        None,
        Some(json!({"email": idle.email, "password": idle.password})),
    )
    .await
    .ok(200);
    assert_eq!(
        stats(&app, &admin.token).await["users"]["active_last_30_days"],
        4
    );

    // Without refresh the figures come from the cache.
    let cached = app.get("/api/admin/stats", &admin.token).await;
    let cached = cached.ok(200);
    assert_eq!(cached["cached"], true);
    let again = app.get("/api/admin/stats", &admin.token).await;
    assert_eq!(again.ok(200)["generated_at"], cached["generated_at"]);
    app.get("/api/admin/stats?refresh=maybe", &admin.token)
        .await
        .problem(400, "bad-request");
    app.get("/api/admin/stats?colour=red", &admin.token)
        .await
        .problem(400, "bad-request");
    assert!(
        admin_events(&app, &admin.id, "admin.stats_viewed")
            .await
            .len()
            >= 4
    );
}

async fn admins_change_plans_roles_and_trials_with_immediate_effect(backend: Backend) {
    let app = spawn_app_with(backend, |s| s.trial_days = 0).await;
    let admin = app.admin_user().await;
    let user = app.signed_up_user().await;
    let path = format!("/api/admin/users/{}", user.id);
    // Warm the account cache, so the change has to invalidate it.
    assert_eq!(
        app.get("/api/usage", &user.token).await.ok(200)["plan_limits"]["graphs"],
        10
    );

    let reply = app.put(&path, &admin.token, json!({"plan": "pro"})).await;
    assert_eq!(reply.ok(200)["user"]["plan"], "pro");
    assert_eq!(
        app.get("/api/usage", &user.token).await.ok(200)["plan_limits"]["graphs"],
        500
    );

    let reply = app
        .put(
            &path,
            &admin.token,
            json!({"plan": "free", "trial_ends_at": "2099-01-01T00:00:00Z"}),
        )
        .await;
    let body = reply.ok(200);
    assert_eq!(body["user"]["plan"], "free");
    assert_eq!(body["user"]["effective_plan"], "pro");
    assert_eq!(body["user"]["trial_ends_at"], "2099-01-01T00:00:00Z");
    let reply = app
        .put(&path, &admin.token, json!({"trial_ends_at": null}))
        .await;
    assert_eq!(reply.ok(200)["user"]["trial_ends_at"], Value::Null);
    assert_eq!(
        app.get("/api/auth/me", &user.token).await.ok(200)["user"]["effective_plan"],
        "free"
    );

    // Roles: a user made admin may use admin routes at once.
    app.get("/api/admin/stats", &user.token)
        .await
        .problem(403, "forbidden");
    app.put(&path, &admin.token, json!({"role": "admin"}))
        .await
        .ok(200);
    app.get("/api/admin/stats", &user.token).await.ok(200);
    // An admin cannot demote themself (another admin can).
    app.put(
        &format!("/api/admin/users/{}", admin.id),
        &admin.token,
        json!({"role": "user"}),
    )
    .await
    .problem(409, "conflict");
    app.put(
        &format!("/api/admin/users/{}", admin.id),
        &user.token,
        json!({"role": "user"}),
    )
    .await
    .ok(200);
    app.get("/api/admin/stats", &admin.token)
        .await
        .problem(403, "forbidden");

    // Bad input.
    for (body, field) in [
        (json!({"plan": "gold"}), "plan"),
        (json!({"role": "root"}), "role"),
        (json!({"trial_ends_at": "tomorrow"}), "trial_ends_at"),
        (json!({"trial_ends_at": 42}), "trial_ends_at"),
    ] {
        let reply = app.put(&path, &user.token, body.clone()).await;
        assert_eq!(
            reply.problem(422, "invalid-field")["field"],
            field,
            "{body}"
        );
    }
    app.put(&path, &user.token, json!({}))
        .await
        .problem(400, "bad-request");
    for body in [
        json!({"plan": 3}),
        json!({"email": "new@example.com"}),
        json!("pro"),
    ] {
        app.put(&path, &user.token, body)
            .await
            .problem(422, "invalid-body");
    }
    app.put(
        "/api/admin/users/not-a-uuid",
        &user.token,
        json!({"plan": "pro"}),
    )
    .await
    .problem(400, "bad-request");
    app.put(
        &format!("/api/admin/users/{}", uuid::Uuid::new_v4()),
        &user.token,
        json!({"plan": "pro"}),
    )
    .await
    .problem(404, "not-found");

    // Every change is in the monitoring log, under the admin who made it.
    let changes = admin_events(&app, &admin.id, "admin.user_updated").await;
    assert_eq!(changes.len(), 4);
    assert!(changes.iter().all(|c| c["user_id"] == user.id.as_str()));
    assert!(
        changes
            .iter()
            .any(|c| c["plan"]["to"] == "pro" && c["plan"]["from"] == "free")
    );
    let demotion = admin_events(&app, &user.id, "admin.user_updated").await;
    assert_eq!(demotion[0]["role"]["to"], "user");
}

async fn admins_create_admins_and_export_accounts(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = app.admin_user().await;
    let email = format!("ops-{}@example.com", uuid::Uuid::new_v4().simple());
    let created = app
        .post(
            "/api/admin/admins",
            &admin.token,
            json!({"email": email, "name": "Ops"}),
        )
        .await;
    let body = created.ok(201).clone();
    assert_eq!(body["user"]["role"], "admin");
    let password = body["password"].as_str().unwrap();
    let signin = app
        .call(
            Method::POST,
            "/api/auth/signin",
            None,
            Some(json!({"email": email, "password": password})),
        )
        .await;
    let token = signin.ok(200)["token"].as_str().unwrap().to_owned();
    app.get("/api/admin/health", &token).await.ok(200);
    // With a chosen password, none is returned.
    let chosen = app
        .post(
            "/api/admin/admins",
            &admin.token,
            json!({"email": format!("x{email}"), "name": "Ops 2", "password": "a long enough password"}),
        )
        .await;
    assert_eq!(chosen.ok(201).get("password"), None);
    app.post(
        "/api/admin/admins",
        &admin.token,
        json!({"email": email, "name": "Again"}),
    )
    .await
    .problem(409, "conflict");
    for (body, field) in [
        (json!({"email": "nope", "name": "X"}), "email"),
        (json!({"email": "y@example.com", "name": ""}), "name"),
        (
            json!({"email": "y@example.com", "name": "Y", "password": "short"}),
            "password",
        ),
    ] {
        let reply = app.post("/api/admin/admins", &admin.token, body).await;
        assert_eq!(reply.problem(422, "invalid-field")["field"], field);
    }
    app.post(
        "/api/admin/admins",
        &admin.token,
        json!({"email": "y@example.com"}),
    )
    .await
    .problem(422, "invalid-body");

    // Export: one account's data as a download, without secrets.
    let user = app.signed_up_user().await;
    app.create_graph(&user, "Exported", small_graph())
        .await
        .ok(201);
    let export = app
        .get(
            &format!("/api/admin/users/{}/export", user.id),
            &admin.token,
        )
        .await;
    let data = export.ok(200);
    assert_eq!(
        export.headers["content-disposition"],
        format!("attachment; filename=\"orrery-user-{}.json\"", user.id).as_str()
    );
    let text = String::from_utf8_lossy(&export.bytes);
    assert!(text.contains(&user.email));
    assert!(text.contains("Exported"));
    assert!(!text.contains("argon2"), "no password hash in an export");
    assert!(data.is_object());
    app.get(
        &format!("/api/admin/users/{}/export", uuid::Uuid::new_v4()),
        &admin.token,
    )
    .await
    .problem(404, "not-found");
    app.get("/api/admin/users/123/export", &admin.token)
        .await
        .problem(400, "bad-request");
    assert_eq!(
        admin_events(&app, &admin.id, "admin.user_exported")
            .await
            .len(),
        1
    );
    assert_eq!(
        admin_events(&app, &admin.id, "admin.admin_created")
            .await
            .len(),
        2
    );
}

async fn health_reports_every_part_of_the_system(backend: Backend) {
    let (app, _stripe) = spawn_billing_app(backend).await;
    let admin = app.admin_user().await;
    let health = app.get("/api/admin/health", &admin.token).await;
    let health = health.ok(200);
    assert_eq!(health["status"], "ok", "{health}");
    assert_eq!(health["database"]["ok"], true);
    assert_eq!(
        health["database"]["detail"],
        if backend == Backend::Sqlite {
            "sqlite"
        } else {
            "postgres"
        }
    );
    assert_eq!(health["redis"]["configured"], false);
    assert_eq!(health["stripe"]["configured"], true);
    assert_eq!(health["stripe"]["ok"], true);
    assert_eq!(health["version"], env!("CARGO_PKG_VERSION"));
    assert!(health["outbox"]["pending"].is_u64());
    if matches!(app.mail, crate::helpers::MailSink::Smtp(_)) {
        assert_eq!(health["smtp"]["ok"], true);
        assert_eq!(health["smtp"]["configured"], true);
    }
    // Stripe down: degraded, and says why.
    let closed = crate::smtp_sink::free_port();
    let (down, _stripe) = spawn_billing_app_with(backend, |s| {
        s.stripe_api_base = format!("http://127.0.0.1:{closed}/");
    })
    .await;
    let admin = down.admin_user().await;
    let health = down.get("/api/admin/health", &admin.token).await;
    let health = health.ok(200);
    assert_eq!(health["status"], "degraded");
    assert_eq!(health["stripe"]["ok"], false);
    // Without Stripe: billing is off, which is fine.
    let plain = spawn_app(backend).await;
    let admin = plain.admin_user().await;
    let health = plain.get("/api/admin/health", &admin.token).await;
    let health = health.ok(200);
    assert_eq!(health["stripe"]["configured"], false);
    assert_eq!(health["stripe"]["ok"], true);
}

async fn mail_templates_are_checked_when_saved_and_used_when_sent(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = app.admin_user().await;
    let list = app.get("/api/admin/email-templates", &admin.token).await;
    let names: Vec<&str> = list.ok(200)["templates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    for name in [
        "welcome",
        "trial_ending",
        "trial_expired",
        "plan_upgraded",
        "plan_downgraded",
        "payment_failed",
        "subscription_canceled",
        "password_reset",
    ] {
        assert!(names.contains(&name), "{name} in {names:?}");
    }
    let welcome = app
        .get("/api/admin/email-templates/welcome", &admin.token)
        .await;
    let welcome = welcome.ok(200).clone();
    assert_eq!(
        welcome["variables"],
        json!(["name", "trial_ends_at", "app_url"])
    );
    app.get("/api/admin/email-templates/nope", &admin.token)
        .await
        .problem(404, "not-found");

    let path = "/api/admin/email-templates/welcome";
    let save = |subject: &str, html: &str, text: &str, variables: Value| {
        app.put(
            path,
            &admin.token,
            json!({"subject": subject, "html": html, "text": text, "variables": variables}),
        )
    };
    // A variable the template does not declare is refused, by name.
    let reply = save(
        "Hi {{ name }}",
        "<p>{{ password }}</p>",
        "x",
        json!(["name"]),
    )
    .await;
    let problem = reply.problem(422, "invalid-field");
    assert_eq!(problem["field"], "html");
    assert!(
        problem["detail"].as_str().unwrap().contains("`password`"),
        "{problem}"
    );
    let reply = save("Hi {{ nam }}", "x", "x", json!(["name"])).await;
    assert_eq!(reply.problem(422, "invalid-field")["field"], "subject");
    let reply = save("Hi", "x", "{% if %}", json!(["name"])).await;
    assert_eq!(reply.problem(422, "invalid-field")["field"], "text");
    let reply = save("Hi", "x", "x", json!(["not a name"])).await;
    assert_eq!(reply.problem(422, "invalid-field")["field"], "variables");
    let reply = save("", "x", "x", json!([])).await;
    assert_eq!(reply.problem(422, "invalid-field")["field"], "subject");
    app.put(path, &admin.token, json!({"subject": "x"}))
        .await
        .problem(422, "invalid-body");
    app.put(
        "/api/admin/email-templates/brand_new",
        &admin.token,
        json!({"subject": "x", "html": "x", "text": "x", "variables": []}),
    )
    .await
    .problem(404, "not-found");
    // Nothing was saved.
    let unchanged = app.get(path, &admin.token).await;
    assert_eq!(unchanged.ok(200)["subject"], welcome["subject"]);

    // A good edit is used by the next mail.
    save(
        "Hello {{ name }}!",
        "<h1>Hello {{ name }}</h1><p>{{ app_url }}</p>",
        "Hello {{ name }}, see {{ app_url }}",
        json!(["name", "trial_ends_at", "app_url"]),
    )
    .await
    .ok(200);
    let user = app.signed_up_user().await;
    let mail = app.wait_for_mail(&user.email, "welcome").await;
    assert_eq!(mail.subject, "Hello Test User!");
    assert_eq!(mail.text, "Hello Test User, see http://127.0.0.1:8080");
    assert_eq!(
        mail.html,
        "<h1>Hello Test User</h1><p>http:&#x2f;&#x2f;127.0.0.1:8080</p>"
    );
    assert_eq!(
        admin_events(&app, &admin.id, "admin.template_updated")
            .await
            .len(),
        1
    );

    // Switched off, a template sends nothing: its mails are given up, saying why; an edit that
    // leaves the switch out keeps it off; switched on again, mails go out.
    let off = app
        .put(
            path,
            &admin.token,
            json!({"subject": "Hi {{ name }}", "html": "x", "text": "x",
                   "variables": ["name", "trial_ends_at", "app_url"], "is_active": false}),
        )
        .await;
    assert_eq!(off.ok(200)["is_active"], false);
    let edited = save("Hi again", "x", "x", json!(["name"])).await;
    assert_eq!(edited.ok(200)["is_active"], false);
    app.put(
        path,
        &admin.token,
        json!({"subject": "x", "html": "x", "text": "x",
                                        "variables": [], "is_active": "no"}),
    )
    .await
    .problem(422, "invalid-body");
    let quiet = app.signed_up_user().await;
    app.outbox_settled().await;
    assert!(app.mail_templates(&quiet.email).is_empty(), "nothing sent");
    {
        use orrery_core::store::{EmailOutbox, EmailStatus, Page};
        let store = app.store().await;
        let failed = store
            .list_emails(Some(EmailStatus::Failed), Page::default())
            .await
            .unwrap();
        let given_up = failed
            .items
            .iter()
            .find(|m| m.to == quiet.email)
            .expect("the welcome mail is given up");
        assert_eq!(
            given_up.last_error.as_deref(),
            Some("not sent: the template is switched off")
        );
        store.close().await;
    }
    app.put(
        path,
        &admin.token,
        json!({"subject": "Back", "html": "x", "text": "x", "variables": [], "is_active": true}),
    )
    .await
    .ok(200);
    let loud = app.signed_up_user().await;
    assert_eq!(
        app.wait_for_mail(&loud.email, "welcome").await.subject,
        "Back"
    );
}

async fn users_are_listed_by_plan_and_search(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = app.admin_user().await;
    let mut ids = Vec::new();
    for _ in 0..3 {
        ids.push(app.signed_up_user().await.id);
    }
    app.put(
        &format!("/api/admin/users/{}", ids[0]),
        &admin.token,
        json!({"plan": "pro"}),
    )
    .await
    .ok(200);
    let page = app
        .get("/api/admin/users?page=1&limit=2", &admin.token)
        .await;
    let page = page.ok(200);
    assert_eq!(page["total"], 4);
    assert_eq!(page["total_pages"], 2);
    assert_eq!(page["users"].as_array().unwrap().len(), 2);
    let pro = app.get("/api/admin/users?plan=pro", &admin.token).await;
    let pro = pro.ok(200);
    assert_eq!(pro["total"], 1);
    assert_eq!(pro["users"][0]["id"], ids[0].as_str());
    app.get("/api/admin/users?plan=gold", &admin.token)
        .await
        .problem(422, "invalid-field");
    app.get("/api/admin/users?limit=0", &admin.token)
        .await
        .problem(422, "invalid-field");
    app.get("/api/admin/users?page=x", &admin.token)
        .await
        .problem(400, "bad-request");
}

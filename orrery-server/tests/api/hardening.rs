//! What an attacker and a load test found, each reproduced: NUL and control characters in every
//! string field, dates at the calendar's ends, password hashing under a flood, guessing one
//! account's password, racing refreshes, look-alike identities, 405s, tokens not yet valid,
//! admins held to the free plan.

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};

use crate::both;
use crate::helpers::{Backend, TestApp, small_graph, spawn_app_with};

both!(
    nul_in_any_string_of_any_write_route_is_a_4xx,
    nul_in_queries_and_paths_is_a_400,
    usage_history_dates_at_the_calendars_ends_are_422,
    password_hashing_is_bounded_and_a_flood_gets_503s,
    wrong_passwords_for_one_account_wait_longer_and_its_owner_is_mailed,
    parallel_wrong_passwords_for_one_account_are_held_to_the_throttle,
    parallel_refreshes_of_one_token_have_one_winner,
    lookalike_and_invisible_identities_are_refused_or_normalised,
    a_wrong_method_is_a_405_problem,
    a_request_past_the_time_limit_is_a_503_problem,
    access_tokens_are_not_valid_before_their_nbf,
    admins_are_not_held_to_the_free_plans_limits,
    refresh_tokens_can_live_in_an_http_only_cookie,
);

/// Every string leaf of `body`, as JSON pointers.
fn string_pointers(body: &Value, at: String, out: &mut Vec<String>) {
    match body {
        Value::String(_) => out.push(at),
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                string_pointers(item, format!("{at}/{i}"), out);
            }
        }
        Value::Object(map) => {
            for (key, item) in map {
                string_pointers(item, format!("{at}/{key}"), out);
            }
        }
        _ => {}
    }
}

async fn nul_in_any_string_of_any_write_route_is_a_4xx(backend: Backend) {
    let app = spawn_app_with(backend, |_| {}).await;
    let user = app.signed_up_user().await;
    let admin = app.admin_user().await;
    let graph = app.create_graph(&user, "target", small_graph()).await;
    let graph_id = graph.ok(201)["graph"]["id"].as_str().unwrap().to_owned();
    let key = app
        .post("/api/keys", &user.token, json!({"name": "k"}))
        .await;
    let key_id = key.ok(201)["key"]["id"].as_str().unwrap().to_owned();
    let with_description = |name: &str| json!({"name": name, "description": "d", "graph_data": small_graph(), "is_public": false});
    let routes: Vec<(Method, String, Option<&str>, Value)> = vec![
        (
            Method::POST,
            "/api/auth/signup".into(),
            None,
            json!({"email": "n@example.com", "name": "N", "password": "long enough"}),
        ),
        (
            Method::POST,
            "/api/auth/signin".into(),
            None,
            json!({"email": user.email, "password": user.password}),
        ),
        (
            Method::POST,
            "/api/auth/password-reset".into(),
            None,
            json!({"email": user.email}),
        ),
        (
            Method::POST,
            "/api/auth/password-reset/confirm".into(),
            None,
            json!({"token": "orp_x", "password": "long enough"}),
        ),
        (
            Method::POST,
            "/api/auth/refresh".into(),
            None,
            json!({"refresh_token": "ort_x"}),
        ),
        (
            Method::POST,
            "/api/graphs".into(),
            Some(&user.token),
            with_description("fresh"),
        ),
        (
            Method::POST,
            "/api/graphs/validate".into(),
            Some(&user.token),
            json!({"graph_data": small_graph()}),
        ),
        (
            Method::PUT,
            format!("/api/graphs/{graph_id}"),
            Some(&user.token),
            json!({"name": "renamed", "description": "d", "graph_data": small_graph()}),
        ),
        (
            Method::POST,
            format!("/api/graphs/{graph_id}/clone"),
            Some(&user.token),
            json!({"name": "copy"}),
        ),
        (
            Method::POST,
            "/api/keys".into(),
            Some(&user.token),
            json!({"name": "k2"}),
        ),
        (
            Method::POST,
            format!("/api/keys/{key_id}/rotate"),
            Some(&user.token),
            json!({}),
        ),
        (
            Method::POST,
            "/api/admin/admins".into(),
            Some(&admin.token),
            json!({"email": "ops@example.com", "name": "Ops", "password": "long enough"}),
        ),
        (
            Method::PUT,
            format!("/api/admin/users/{}", user.id),
            Some(&admin.token),
            json!({"plan": "pro", "role": "user", "trial_ends_at": "2030-01-01T00:00:00Z"}),
        ),
        (
            Method::PUT,
            "/api/admin/email-templates/welcome".into(),
            Some(&admin.token),
            json!({"subject": "Hi {{ name }}", "html": "<p>{{ app_url }}</p>",
                "text": "{{ trial_ends_at }}", "variables": ["name", "trial_ends_at", "app_url"]}),
        ),
    ];
    let mut checked = 0;
    for (method, path, auth, body) in &routes {
        // The untouched request reaches the handler (right route, right shape).
        let baseline = app
            .call(method.clone(), path, *auth, Some(body.clone()))
            .await;
        assert!(
            ![404, 405, 415].contains(&baseline.status.as_u16())
                && baseline.body["type"] != "/problems/invalid-body"
                && !baseline.status.is_server_error(),
            "{method} {path}: {} {:#}",
            baseline.status,
            baseline.body
        );
        let mut pointers = Vec::new();
        string_pointers(body, String::new(), &mut pointers);
        for pointer in pointers {
            for bad in ["a\u{0}b", "\u{0}", "a\u{1}\u{7}\u{1b}b"] {
                let mut sent = body.clone();
                *sent.pointer_mut(&pointer).unwrap() = json!(bad);
                let reply = app.call(method.clone(), path, *auth, Some(sent)).await;
                assert!(
                    reply.status.is_client_error()
                        || (bad.starts_with("a\u{1}") && reply.status.is_success()),
                    "{method} {path} with {bad:?} at {pointer}: {} {:#}",
                    reply.status,
                    reply.body
                );
                if bad.contains('\u{0}') {
                    assert_eq!(
                        reply.headers["content-type"], "application/problem+json",
                        "{method} {path} at {pointer}"
                    );
                }
                checked += 1;
            }
        }
    }
    assert!(checked > 100, "{checked}");
    // Nothing half-written: the graph is as it was, apart from accepted control characters.
    let after = app
        .get(&format!("/api/graphs/{graph_id}"), &user.token)
        .await;
    after.ok(200);
}

async fn nul_in_queries_and_paths_is_a_400(backend: Backend) {
    let app = spawn_app_with(backend, |_| {}).await;
    let user = app.signed_up_user().await;
    let admin = app.admin_user().await;
    for (path, token) in [
        ("/api/graphs?search=a%00b", &user.token),
        ("/api/admin/users?search=%00", &admin.token),
        ("/api/agents/a%00b", &user.token),
        ("/api/admin/email-templates/wel%00come", &admin.token),
    ] {
        let reply = app.get(path, token).await;
        assert_eq!(reply.status, 400, "{path}: {:#}", reply.body);
        reply.problem(400, "bad-request");
    }
}

async fn usage_history_dates_at_the_calendars_ends_are_422(backend: Backend) {
    let app = spawn_app_with(backend, |_| {}).await;
    let user = app.signed_up_user().await;
    for query in [
        "end_date=9999-12-31",
        "start_date=-9999-01-01&end_date=2026-01-01",
        "end_date=0001-01-01",
        "start_date=1999-12-31&end_date=2000-01-05",
        "end_date=+10000-01-01",
    ] {
        let reply = app
            .get(&format!("/api/usage/history?{query}"), &user.token)
            .await;
        assert_eq!(reply.status, 422, "{query}: {:#}", reply.body);
    }
    for query in [
        "start_date=9999-11-01&end_date=9999-12-30&granularity=month",
        "start_date=9999-12-01&end_date=9999-12-30&granularity=week",
        "start_date=2000-01-01&end_date=2000-01-01",
        "end_date=2000-01-10",
    ] {
        let reply = app
            .get(&format!("/api/usage/history?{query}"), &user.token)
            .await;
        assert_eq!(reply.status, 200, "{query}: {:#}", reply.body);
    }
}

async fn password_hashing_is_bounded_and_a_flood_gets_503s(backend: Backend) {
    let app = spawn_app_with(backend, |s| {
        s.argon2_memory_kib = 8192;
        s.argon2_iterations = 4;
        s.password_hashes_in_flight = 1;
        s.password_hash_queue = 2;
    })
    .await;
    let replies = futures_util::future::join_all((0..40).map(|i| {
        app.post(
            "/api/auth/signin",
            "",
            json!({"email": format!("nobody{i}@example.com"), "password": "wrong password"}),
        )
    }))
    .await;
    let busy: Vec<_> = replies.iter().filter(|r| r.status == 503).collect();
    assert!(!busy.is_empty(), "a flood beyond the queue is refused");
    for reply in &replies {
        assert!(
            reply.status == 401 || reply.status == 503,
            "{}: {:#}",
            reply.status,
            reply.body
        );
    }
    for reply in busy {
        reply.problem(503, "overloaded");
        assert!(reply.headers.contains_key("retry-after"));
    }
    // Once the flood has passed, sign-ins are checked again.
    let user = app.signed_up_user().await;
    app.post(
        "/api/auth/signin",
        "",
        json!({"email": user.email, "password": user.password}),
    )
    .await
    .ok(200);
}

async fn wrong_passwords_for_one_account_wait_longer_and_its_owner_is_mailed(backend: Backend) {
    let app = spawn_app_with(backend, |_| {}).await;
    let user = app.signed_up_user().await;
    let wrong = json!({"email": user.email, "password": "not the password"});
    for _ in 0..6 {
        app.post("/api/auth/signin", "", wrong.clone())
            .await
            .problem(401, "invalid-credentials");
    }
    // The 7th right after the 6th waits, whatever the password.
    let right = json!({"email": user.email, "password": user.password});
    let waiting = app.post("/api/auth/signin", "", right.clone()).await;
    waiting.problem(429, "rate-limited");
    assert!(waiting.headers.contains_key("retry-after"));
    let mail = app.wait_for_mail(&user.email, "signin_throttled").await;
    assert!(mail.text.contains("5 failed attempts"), "{}", mail.text);
    assert!(mail.text.contains("/forgot-password"), "{}", mail.text);
    // The wait is short: the person gets in with the right password soon after.
    let mut signed_in = false;
    for _ in 0..20 {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let reply = app.post("/api/auth/signin", "", right.clone()).await;
        if reply.status == 200 {
            signed_in = true;
            break;
        }
        reply.problem(429, "rate-limited");
    }
    assert!(signed_in, "the right password works within 10 s");
    // And a success starts the count afresh.
    for _ in 0..5 {
        app.post("/api/auth/signin", "", wrong.clone())
            .await
            .problem(401, "invalid-credentials");
    }
}

async fn parallel_wrong_passwords_for_one_account_are_held_to_the_throttle(backend: Backend) {
    let app = spawn_app_with(backend, |_| {}).await;
    let user = app.signed_up_user().await;
    let replies = futures_util::future::join_all((0..60).map(|i| {
        app.post(
            "/api/auth/signin",
            "",
            json!({"email": user.email, "password": format!("guess number {i}")}),
        )
    }))
    .await;
    let tried = replies.iter().filter(|r| r.status == 401).count();
    let waited = replies.iter().filter(|r| r.status == 429).count();
    assert_eq!(tried + waited, 60);
    assert!(tried <= 6, "at most 5 free attempts and one more: {tried}");
}

async fn parallel_refreshes_of_one_token_have_one_winner(backend: Backend) {
    let app = spawn_app_with(backend, |_| {}).await;
    let user = app.signed_up_user().await;
    let replies = futures_util::future::join_all((0..12).map(|_| {
        app.post(
            "/api/auth/refresh",
            "",
            json!({"refresh_token": user.refresh_token}),
        )
    }))
    .await;
    let winners: Vec<_> = replies.iter().filter(|r| r.status == 200).collect();
    assert_eq!(winners.len(), 1, "{replies:#?}");
    for reply in replies.iter().filter(|r| r.status != 200) {
        reply.problem(401, "unauthorized");
        assert!(!reply.body["detail"].as_str().unwrap().contains("family"));
    }
    // A later use of the spent token is reuse: the family ends, and stays 401s.
    let next = winners[0].body["refresh_token"].as_str().unwrap();
    let after = app
        .post("/api/auth/refresh", "", json!({"refresh_token": next}))
        .await;
    assert!(
        after.status == 200 || after.status == 401,
        "{:#}",
        after.body
    );
}

async fn lookalike_and_invisible_identities_are_refused_or_normalised(backend: Backend) {
    let app = spawn_app_with(backend, |_| {}).await;
    let signup = |email: &str, name: &str| {
        app.post(
            "/api/auth/signup",
            "",
            json!({"email": email, "name": name, "password": "long enough"}),
        )
    };
    for (email, name, field) in [
        ("admin\u{200b}@example.com", "Ada", "email"),
        ("\u{0430}dmin@example.com", "Ada", "email"),
        ("admin@ex\u{0430}mple.com", "Ada", "email"),
        ("ada\u{202e}@example.com", "Ada", "email"),
        ("ada@example.com", "Ada\u{202e}nimda", "name"),
        ("ada@example.com", "P\u{0430}ypal", "name"),
        ("ada@example.com", "Ad\u{200d}a", "name"),
    ] {
        let reply = signup(email, name).await;
        assert_eq!(
            reply.problem(422, "invalid-field")["field"],
            field,
            "{email:?} {name:?}"
        );
    }
    let created = signup("ＡＤＭＩＮ@example.com", "Ａｄａ").await;
    let body = created.ok(201);
    assert_eq!(body["user"]["email"], "admin@example.com");
    assert_eq!(body["user"]["name"], "Ada");
    signup("admin@example.com", "Ada")
        .await
        .problem(409, "conflict");
    // The look-alike of a taken address signs in to nothing.
    app.post(
        "/api/auth/signin",
        "",
        json!({"email": "\u{0430}dmin@example.com", "password": "long enough"}),
    )
    .await
    .problem(401, "invalid-credentials");
}

async fn a_wrong_method_is_a_405_problem(backend: Backend) {
    let app = spawn_app_with(backend, |_| {}).await;
    let user = app.signed_up_user().await;
    let reply = app
        .call(Method::DELETE, "/api/auth/me", Some(&user.token), None)
        .await;
    reply.problem(405, "method-not-allowed");
    let reply = app
        .call(Method::PUT, "/api/keys", Some(&user.token), None)
        .await;
    reply.problem(405, "method-not-allowed");
}

async fn a_request_past_the_time_limit_is_a_503_problem(backend: Backend) {
    // A password hash that takes seconds (64 passes over 64 MiB) against a 1 s limit.
    let app = spawn_app_with(backend, |s| {
        s.request_timeout_secs = 1;
        s.argon2_memory_kib = 65_536;
        s.argon2_iterations = 64;
    })
    .await;
    let started = std::time::Instant::now();
    let reply = app
        .post(
            "/api/auth/signup",
            "",
            json!({"email": "slow@example.com", "password": "correct horse battery", "name": "Slow"}),
        )
        .await;
    reply.problem(503, "timeout");
    assert!(started.elapsed() < Duration::from_secs(3));
}

async fn access_tokens_are_not_valid_before_their_nbf(backend: Backend) {
    let app = spawn_app_with(backend, |_| {}).await;
    let user = app.signed_up_user().await;
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let sign = |nbf: i64| {
        jsonwebtoken::encode(
            &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
            &json!({"sub": user.id, "role": "user", "iat": now, "exp": now + 600, "nbf": nbf,
                    "iss": "orrery", "typ": "access"}),
            &jsonwebtoken::EncodingKey::from_secret(b"test-secret-test-secret-test-secret!"),
        )
        .unwrap()
    };
    app.get("/api/auth/me", &sign(now - 10)).await.ok(200);
    app.get("/api/auth/me", &sign(now + 3600))
        .await
        .problem(401, "unauthorized");
}

async fn admins_are_not_held_to_the_free_plans_limits(backend: Backend) {
    let app = spawn_app_with(backend, |s| s.trial_days = 0).await;
    let admin = app.admin_user().await;
    for n in 0..90 {
        let reply = app.get("/api/admin/users", &admin.token).await;
        assert_eq!(reply.status, 200, "request {n}: {:#}", reply.body);
    }
}

/// What the console does: the refresh token never reaches page scripts.
async fn refresh_tokens_can_live_in_an_http_only_cookie(backend: Backend) {
    let app: TestApp = spawn_app_with(backend, |_| {}).await;
    let user = app.signed_up_user().await;
    let origin = app.address.clone();
    let signin = app
        .send(
            app.request(Method::POST, "/api/auth/signin")
                .header("x-refresh-cookie", "1")
                .header("origin", &origin)
                .json(&json!({"email": user.email, "password": user.password})),
        )
        .await;
    signin.ok(200);
    assert!(
        signin.body.get("refresh_token").is_none(),
        "{:#}",
        signin.body
    );
    let cookie = signin.headers["set-cookie"].to_str().unwrap().to_owned();
    for part in [
        "orrery_refresh=ort_",
        "HttpOnly",
        "Secure",
        "SameSite=Strict",
        "Path=/api/auth",
    ] {
        assert!(cookie.contains(part), "{cookie}");
    }
    let pair = cookie.split(';').next().unwrap().to_owned();
    let refresh = |origin: &str| {
        app.request(Method::POST, "/api/auth/refresh")
            .header("x-refresh-cookie", "1")
            .header("origin", origin)
            .header("cookie", &pair)
            .json(&json!({}))
    };
    // Another site's page cannot use it.
    app.send(refresh("https://evil.example"))
        .await
        .problem(403, "forbidden");
    let refreshed = app.send(refresh(&origin)).await;
    refreshed.ok(200);
    assert_eq!(refreshed.body["user"]["email"], user.email);
    assert!(refreshed.body.get("refresh_token").is_none());
    assert!(
        refreshed.headers["set-cookie"]
            .to_str()
            .unwrap()
            .starts_with("orrery_refresh=ort_")
    );
    // The old cookie is used up.
    app.send(refresh(&origin))
        .await
        .problem(401, "unauthorized");
    // Without the header, a body is needed.
    app.post("/api/auth/refresh", "", json!({}))
        .await
        .problem(422, "invalid-body");
    let signout = app
        .send(
            app.request(Method::POST, "/api/auth/signout")
                .header("x-refresh-cookie", "1")
                .header("origin", &origin)
                .json(&json!({})),
        )
        .await;
    signout.ok(200);
    assert!(
        signout.headers["set-cookie"]
            .to_str()
            .unwrap()
            .contains("Max-Age=0")
    );
}

//! Plan quotas (402 naming the limit and the plan that lifts it) and rate limits (429 with
//! Retry-After).

use orrery_core::store::{UsageRecord, UsageStore};
use reqwest::Method;
use serde_json::json;

use crate::both;
use crate::helpers::{Backend, small_graph, spawn_app_with};

both!(
    the_free_plan_caps_graphs_and_nodes,
    requests_over_the_per_minute_rate_are_refused_with_retry_after,
    anonymous_and_sign_in_attempts_are_rate_limited_per_address,
    the_monthly_api_quota_is_enforced,
);

async fn the_free_plan_caps_graphs_and_nodes(backend: Backend) {
    let app = spawn_app_with(backend, |s| s.trial_days = 0).await;
    let user = app.signed_up_user().await;
    for n in 0..10 {
        app.create_graph(&user, &format!("g{n}"), small_graph())
            .await
            .ok(201);
    }
    let eleventh = app.create_graph(&user, "g10", small_graph()).await;
    let problem = eleventh.problem(402, "plan-limit");
    assert_eq!(
        (
            problem["limit"].as_str(),
            problem["plan"].as_str(),
            problem["upgrade_to"].as_str()
        ),
        (Some("graphs"), Some("free"), Some("pro"))
    );
    assert!(problem["detail"].as_str().unwrap().contains("10 graphs"));
    let graph_id = app.get("/api/graphs?limit=1", &user.token).await.body["graphs"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.call(
        Method::DELETE,
        &format!("/api/graphs/{graph_id}"),
        Some(&user.token),
        None,
    )
    .await
    .ok(200);
    let mut big = small_graph();
    let nodes = big["nodes"].as_array_mut().unwrap();
    for i in 0..250 {
        nodes.push(json!({"id": format!("note{i}"), "kind": "note"}));
    }
    let too_big = app.create_graph(&user, "big", big).await;
    let problem = too_big.problem(402, "plan-limit");
    assert_eq!(
        (problem["limit"].as_str(), problem["needed"].as_u64()),
        (Some("nodes_per_graph"), Some(253))
    );
}

async fn requests_over_the_per_minute_rate_are_refused_with_retry_after(backend: Backend) {
    // Free accounts get 60 requests a minute per credential.
    let app = spawn_app_with(backend, |s| s.trial_days = 0).await;
    let user = app.signed_up_user().await;
    let mut limited = None;
    for _ in 0..70 {
        let reply = app.get("/api/auth/me", &user.token).await;
        if reply.status == 429 {
            limited = Some(reply);
            break;
        }
    }
    let reply = limited.expect("the 61st request in a minute is refused");
    reply.problem(429, "rate-limited");
    let retry: u64 = reply.headers["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry));
}

async fn anonymous_and_sign_in_attempts_are_rate_limited_per_address(backend: Backend) {
    let app = spawn_app_with(backend, |s| {
        s.auth_requests_per_minute = 3;
        s.anonymous_requests_per_minute = 3;
    })
    .await;
    let mut statuses = Vec::new();
    for _ in 0..4 {
        let r = app
            .call(
                Method::POST,
                "/api/auth/signin",
                None,
                Some(json!({"email": "a@example.com", "password": "whatever1"})),
            )
            .await;
        statuses.push(r.status.as_u16());
    }
    assert_eq!(statuses, [401, 401, 401, 429]);
    let mut statuses = Vec::new();
    for _ in 0..4 {
        statuses.push(
            app.call(Method::GET, "/api/agents", None, None)
                .await
                .status
                .as_u16(),
        );
    }
    assert_eq!(statuses, [200, 200, 200, 429]);
}

async fn the_monthly_api_quota_is_enforced(backend: Backend) {
    let app = spawn_app_with(backend, |s| s.trial_days = 0).await;
    let user = app.signed_up_user().await;
    // Fill this month's record to the free plan's 1,000 calls, straight into the database.
    let store = orrery_store::Store::connect(&app.database_url, Default::default())
        .await
        .unwrap();
    let user_id: uuid::Uuid = user.id.parse().unwrap();
    let now = time::OffsetDateTime::now_utc();
    for _ in 0..1_000 {
        let record = UsageRecord {
            user_id,
            api_key_id: None,
            endpoint: "/api/graphs".into(),
            method: "GET".into(),
            status: 200,
            at: now,
            duration_ms: 3,
        };
        store.record_usage(&record).await.unwrap();
    }
    let reply = app.get("/api/auth/me", &user.token).await;
    let problem = reply.problem(402, "plan-limit");
    assert_eq!(
        (problem["limit"].as_str(), problem["upgrade_to"].as_str()),
        (Some("api_calls_per_month"), Some("pro"))
    );
}

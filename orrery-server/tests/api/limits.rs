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
    graphs_over_the_plans_stored_bytes_are_refused_with_a_problem,
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
    for i in 0..70 {
        let reply = app.get("/api/auth/me", &user.token).await;
        if i == 0 {
            // The limits that apply are announced (draft-ietf-httpapi-ratelimit-headers): 60 a
            // minute and the month's quota, with what is left of each.
            let policy = reply.headers["ratelimit-policy"].to_str().unwrap();
            assert!(
                policy.starts_with(r#""minute";q=60;w=60, "month";q="#),
                "{policy}"
            );
            let state = reply.headers["ratelimit"].to_str().unwrap();
            assert!(state.starts_with(r#""minute";r=59;t="#), "{state}");
            assert!(state.contains(r#", "month";r="#), "{state}");
        }
        if reply.status == 429 {
            limited = Some(reply);
            break;
        }
    }
    let reply = limited.expect("the 61st request in a minute is refused");
    reply.problem(429, "rate-limited");
    let state = reply.headers["ratelimit"].to_str().unwrap();
    assert!(state.starts_with(r#""minute";r=0;t="#), "{state}");
    // The window slides: the wait can run into the next minute, never past it.
    let retry: u64 = reply.headers["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=120).contains(&retry));
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

/// A graph holding `bytes` of pseudo-random letters (zstd saves a quarter of them at most), and
/// `edit`, which changes its version.
fn noisy_graph(bytes: usize, seed: u64, edit: u64) -> serde_json::Value {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let text: String = (0..bytes)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            char::from(alphabet[(state % 64) as usize])
        })
        .collect();
    let mut graph = small_graph();
    graph["nodes"][1]["config"] = json!({"model": "small", "notes": text, "edit": edit});
    graph
}

async fn graphs_over_the_plans_stored_bytes_are_refused_with_a_problem(backend: Backend) {
    let app = spawn_app_with(backend, |s| s.trial_days = 0).await;
    let user = app.signed_up_user().await;
    let size = 14 << 20;
    // Each graph takes its text and its packed version, about 1.75 × 14 MiB: two fit in the
    // free plan's 64 MiB.
    let first = app
        .create_graph(&user, "first", noisy_graph(size, 1, 0))
        .await;
    let id = first.ok(201)["graph"]["id"].as_str().unwrap().to_owned();
    // Versions of one document share their content: three more edits add a few bytes.
    for edit in 1..4 {
        app.call(
            Method::PUT,
            &format!("/api/graphs/{id}"),
            Some(&user.token),
            Some(json!({"graph_data": noisy_graph(size, 1, edit)})),
        )
        .await
        .ok(200);
    }
    let second = app
        .create_graph(&user, "second", noisy_graph(size, 2, 0))
        .await;
    let second = second.ok(201)["graph"]["id"].as_str().unwrap().to_owned();
    // A new document unlike the old one adds its frame and the old one's (about 21 MiB):
    // still under 64 MiB once.
    let (app, user) = (&app, &user);
    let put = |id: &str, graph: serde_json::Value| {
        let path = format!("/api/graphs/{id}");
        async move {
            app.call(
                Method::PUT,
                &path,
                Some(&user.token),
                Some(json!({ "graph_data": graph })),
            )
            .await
        }
    };
    put(&id, noisy_graph(size, 4, 0)).await.ok(200);
    let third = app
        .create_graph(user, "third", noisy_graph(size, 3, 0))
        .await;
    let problem = third.problem(402, "plan-limit");
    assert_eq!(
        (
            problem["limit"].as_str(),
            problem["plan"].as_str(),
            problem["allowed"].as_u64(),
            problem["upgrade_to"].as_str()
        ),
        (
            Some("stored_bytes"),
            Some("free"),
            Some(64 << 20),
            Some("pro")
        )
    );
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("bytes of graphs in storage"),
        "{problem}"
    );
    // Nothing was half-written, and an edit that would grow storage past the quota is refused
    // the same way.
    let list = app.get("/api/graphs", &user.token).await;
    assert_eq!(list.ok(200)["total"], 2);
    put(&second, noisy_graph(size, 5, 0))
        .await
        .problem(402, "plan-limit");
    let read = app.get(&format!("/api/graphs/{second}"), &user.token).await;
    assert_eq!(read.ok(200)["graph"]["version_count"], 1);
    // Saving the same document again stores nothing more: not refused.
    put(&second, noisy_graph(size, 2, 0)).await.ok(200);
}

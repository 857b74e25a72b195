//! Usage: every authenticated call is counted; history by day, week and month; events.

use serde_json::json;

use crate::both;
use crate::helpers::{Backend, small_graph, spawn_app};

both!(
    usage_counts_calls_and_graphs_and_keeps_history,
    events_record_what_happened
);

async fn usage_counts_calls_and_graphs_and_keeps_history(backend: Backend) {
    let app = spawn_app(backend).await;
    let user = app.signed_up_user().await;
    app.create_graph(&user, "One", small_graph()).await.ok(201);
    for _ in 0..4 {
        app.get("/api/graphs", &user.token).await.ok(200);
    }
    // Usage is written in the background; give it a moment.
    let mut usage = serde_json::Value::Null;
    for _ in 0..50 {
        usage = app.get("/api/usage", &user.token).await.body;
        if usage["current_period"]["api_calls"].as_u64() >= Some(5) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let period = &usage["current_period"];
    assert!(period["api_calls"].as_u64().unwrap() >= 5, "{usage:#}");
    assert_eq!(
        (period["graphs_created"].as_u64(), period["graphs"].as_u64()),
        (Some(1), Some(1))
    );
    assert_eq!(usage["plan"], "pro");
    assert_eq!(usage["trial_days_remaining"], 14);
    assert_eq!(usage["plan_limits"]["graphs"], 500);
    // The design's shape: its three limits, and what is left.
    assert_eq!(usage["limits"]["graphs_created"], 500);
    assert_eq!(
        usage["limits"]["api_calls"],
        usage["plan_limits"]["api_calls_per_month"]
    );
    assert!(usage["limits"]["monitoring_time"].is_null());
    assert_eq!(usage["usage_remaining"]["graphs"], 499);
    let stored = period["stored_bytes"].as_u64().unwrap();
    assert!(stored > 0, "{usage:#}");
    assert_eq!(
        usage["usage_remaining"]["stored_bytes"].as_u64().unwrap() + stored,
        usage["plan_limits"]["stored_bytes"].as_u64().unwrap()
    );
    let history = app
        .get("/api/usage/history?granularity=day", &user.token)
        .await;
    let buckets = history.ok(200)["history"].as_array().unwrap().clone();
    assert_eq!(buckets.len(), 1);
    assert!(buckets[0]["api_calls"].as_u64().unwrap() >= 5);
    // `data` lists every day of the default 30 days before today, today included, zeros
    // where nothing happened; today has the calls and the graph.
    let data = history.body["data"].as_array().unwrap().clone();
    assert_eq!(data.len(), 31, "{data:?}");
    let today = &data[30];
    assert_eq!(today["date"], history.body["end_date"]);
    assert!(today["api_calls"].as_u64().unwrap() >= 5);
    assert_eq!(today["graphs_created"], 1);
    assert!(
        data[..30]
            .iter()
            .all(|d| d["api_calls"] == 0 && d["graphs_created"] == 0)
    );
    let weeks = app
        .get(
            "/api/usage/history?granularity=week&start_date=2026-01-05&end_date=2026-02-01",
            &user.token,
        )
        .await;
    let weeks = weeks.ok(200)["data"].as_array().unwrap().clone();
    let starts: Vec<&str> = weeks.iter().map(|w| w["date"].as_str().unwrap()).collect();
    assert_eq!(
        starts,
        ["2026-01-05", "2026-01-12", "2026-01-19", "2026-01-26"]
    );
    let month = app
        .get(
            "/api/usage/history?granularity=month&start_date=2026-01-01",
            &user.token,
        )
        .await;
    assert_eq!(month.ok(200)["history"].as_array().unwrap().len(), 1);
    assert!(
        month.body["history"][0]["period_start"]
            .as_str()
            .unwrap()
            .ends_with("-01")
    );
}

async fn events_record_what_happened(backend: Backend) {
    let app = spawn_app(backend).await;
    let user = app.signed_up_user().await;
    let id = app.create_graph(&user, "One", small_graph()).await.body["graph"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.post("/api/keys", &user.token, json!({"name": "k"}))
        .await
        .ok(201);
    let all = app.get("/api/events", &user.token).await;
    let kinds: Vec<&str> = all.ok(200)["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["key.created", "graph.created", "auth.signup"]);
    let graph_events = app
        .get(&format!("/api/events?graph_id={id}"), &user.token)
        .await;
    assert_eq!(graph_events.ok(200)["total"], 1);
    let by_type = app.get("/api/events?type=auth.signup", &user.token).await;
    assert_eq!(by_type.ok(200)["events"][0]["type"], "auth.signup");
}

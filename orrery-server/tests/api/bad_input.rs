//! Bad input on every route: missing, malformed, mistyped, oversized and unknown-field bodies,
//! invalid ids. Always a 4xx problem, never a 5xx, and nothing half-written.

use reqwest::Method;
use serde_json::json;

use crate::both;
use crate::helpers::{Backend, small_graph, spawn_app, spawn_app_with};

both!(
    every_body_route_refuses_bad_bodies,
    invalid_ids_and_queries_are_client_errors,
    oversized_bodies_are_refused
);

/// Routes that take a JSON body, with a body of the right shape.
fn body_routes(graph: &str) -> Vec<(Method, String, serde_json::Value)> {
    vec![
        (
            Method::POST,
            "/api/auth/signup".into(),
            json!({"email": "x@example.com", "password": "long enough", "name": "X"}),
        ),
        (
            Method::POST,
            "/api/auth/signin".into(),
            json!({"email": "x@example.com", "password": "long enough"}),
        ),
        (
            Method::POST,
            "/api/auth/google".into(),
            json!({"token": "x"}),
        ),
        (
            Method::POST,
            "/api/auth/refresh".into(),
            json!({"refresh_token": "x"}),
        ),
        (
            Method::POST,
            "/api/auth/signout".into(),
            json!({"refresh_token": "x"}),
        ),
        (
            Method::POST,
            "/api/auth/password-reset".into(),
            json!({"email": "x@example.com"}),
        ),
        (
            Method::POST,
            "/api/auth/password-reset/confirm".into(),
            json!({"token": "x", "password": "long enough"}),
        ),
        (
            Method::POST,
            "/api/auth/email-change/confirm".into(),
            json!({"token": "x"}),
        ),
        (Method::PATCH, "/api/me".into(), json!({"theme": "dark"})),
        (
            Method::POST,
            "/api/me/password".into(),
            json!({"current_password": "x", "new_password": "long enough"}),
        ),
        (Method::POST, "/api/me/google".into(), json!({"token": "x"})),
        (Method::POST, "/api/keys".into(), json!({"name": "k"})),
        (
            Method::POST,
            "/api/graphs".into(),
            json!({"name": "g", "graph_data": small_graph()}),
        ),
        (
            Method::POST,
            "/api/graphs/validate".into(),
            json!({"graph_data": small_graph()}),
        ),
        (
            Method::PUT,
            format!("/api/graphs/{graph}"),
            json!({"name": "g2"}),
        ),
        (
            Method::POST,
            format!("/api/graphs/{graph}/clone"),
            json!({"name": "copy"}),
        ),
        (
            Method::POST,
            "/api/agents/answerer/check".into(),
            json!({"graph_data": small_graph()}),
        ),
    ]
}

async fn every_body_route_refuses_bad_bodies(backend: Backend) {
    let app = spawn_app(backend).await;
    let user = app.signed_up_user().await;
    let graph = app.create_graph(&user, "Target", small_graph()).await.body["graph"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    for (method, path, good) in body_routes(&graph) {
        let send = |req: reqwest::RequestBuilder| app.send(req.bearer_auth(&user.token));
        let missing = send(app.request(method.clone(), &path)).await;
        assert_eq!(
            missing.status, 415,
            "{method} {path} without a body: {:#}",
            missing.body
        );
        missing.problem(415, "unsupported-media-type");
        let malformed = send(
            app.request(method.clone(), &path)
                .header("content-type", "application/json")
                .body("{,"),
        )
        .await;
        malformed.problem(400, "invalid-body");
        let not_object = send(app.request(method.clone(), &path).json(&json!([1, 2, 3]))).await;
        assert!(
            [400, 422].contains(&not_object.status.as_u16()),
            "{method} {path}: {:#}",
            not_object.body
        );
        assert_eq!(not_object.body["type"], "/problems/invalid-body");
        let mut unknown = good.clone();
        unknown["surprise"] = json!(true);
        let reply = send(app.request(method.clone(), &path).json(&unknown)).await;
        reply.problem(422, "invalid-body");
        assert!(
            reply.body["detail"].as_str().unwrap().contains("surprise"),
            "{method} {path}: {:#}",
            reply.body
        );
        // A detail quotes the caller's input; a NUL in it comes back escaped, never raw (the
        // schema promises details without NUL).
        let mut nul = good.clone();
        nul["sur\u{0}prise"] = json!(true);
        let reply = send(app.request(method.clone(), &path).json(&nul)).await;
        reply.problem(422, "invalid-body");
        let detail = reply.body["detail"].as_str().unwrap();
        assert!(
            !detail.contains('\0') && detail.contains("\\u0000"),
            "{method} {path}: {detail:?}"
        );
        let key = good.as_object().unwrap().keys().next().unwrap().clone();
        let mut wrong_type = good.clone();
        wrong_type[&key] = json!(12345);
        let reply = send(app.request(method.clone(), &path).json(&wrong_type)).await;
        assert!(
            reply.status.is_client_error(),
            "{method} {path} with `{key}` mistyped: {} {:#}",
            reply.status,
            reply.body
        );
    }
    // Nothing above created a second graph or a key.
    assert_eq!(app.get("/api/graphs", &user.token).await.body["total"], 1);
    assert_eq!(
        app.get("/api/keys", &user.token).await.body["keys"],
        json!([])
    );
}

async fn invalid_ids_and_queries_are_client_errors(backend: Backend) {
    let app = spawn_app(backend).await;
    let user = app.signed_up_user().await;
    for path in [
        "/api/graphs/not-a-uuid",
        "/api/graphs/123/versions",
        "/api/graphs/%00/layout",
        "/api/graphs?page=0",
        "/api/graphs?limit=1000",
        "/api/graphs?page=abc",
        "/api/graphs?unknown=1",
        "/api/usage/history?granularity=year",
        "/api/usage/history?start_date=yesterday",
        "/api/usage/history?start_date=2026-12-01&end_date=2026-11-01",
        "/api/events?type=drop%20table",
        "/api/admin/users?plan=gold",
    ] {
        let reply = app.get(path, &user.token).await;
        assert!(
            reply.status.is_client_error(),
            "{path}: {} {:#}",
            reply.status,
            reply.body
        );
        assert_eq!(
            reply.headers["content-type"], "application/problem+json",
            "{path}"
        );
    }
    let missing = uuid::Uuid::new_v4();
    app.get(&format!("/api/graphs/{missing}"), &user.token)
        .await
        .problem(404, "not-found");
}

async fn oversized_bodies_are_refused(backend: Backend) {
    let app = spawn_app_with(backend, |s| s.max_body_bytes = 64 * 1024).await;
    let user = app.signed_up_user().await;
    let mut graph = small_graph();
    graph["nodes"][1]["config"]["prompt"] = json!("x".repeat(100 * 1024));
    let reply = app.create_graph(&user, "Huge", graph).await;
    reply.problem(413, "payload-too-large");
    assert_eq!(app.get("/api/graphs", &user.token).await.body["total"], 0);
}

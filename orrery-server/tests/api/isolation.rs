//! A user never reaches another user's private data: 404, never 403.

use reqwest::Method;
use serde_json::json;

use crate::both;
use crate::helpers::{Backend, small_graph, spawn_app};

both!(a_second_user_sees_nothing_of_the_first);

async fn a_second_user_sees_nothing_of_the_first(backend: Backend) {
    let app = spawn_app(backend).await;
    let alice = app.signed_up_user().await;
    let bob = app.signed_up_user().await;
    let graph = app
        .create_graph(&alice, "Private", small_graph())
        .await
        .body["graph"]
        .clone();
    let id = graph["id"].as_str().unwrap();
    let version = graph["version"].as_str().unwrap();
    let key = app
        .post("/api/keys", &alice.token, json!({"name": "alice"}))
        .await
        .body["key"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    // Alice's reads fill the layout and picture caches first: a cached answer is still only
    // hers.
    for path in [
        format!("/api/graphs/{id}/layout"),
        format!("/api/graphs/{id}/thumbnail.png?width=64&height=64"),
    ] {
        assert_eq!(app.get(&path, &alice.token).await.status, 200, "{path}");
    }
    for path in [
        format!("/api/graphs/{id}"),
        format!("/api/graphs/{id}/thumbnail.png?width=64&height=64"),
        format!("/api/graphs/{id}/versions"),
        format!("/api/graphs/{id}/versions/{version}"),
        format!("/api/graphs/{id}/diff"),
        format!("/api/graphs/{id}/layout"),
        format!("/api/graphs/{id}/thumbnail.png"),
    ] {
        app.get(&path, &bob.token).await.problem(404, "not-found");
        app.call(Method::GET, &path, None, None)
            .await
            .problem(404, "not-found");
    }
    app.call(
        Method::PUT,
        &format!("/api/graphs/{id}"),
        Some(&bob.token),
        Some(json!({"name": "stolen"})),
    )
    .await
    .problem(404, "not-found");
    app.call(
        Method::DELETE,
        &format!("/api/graphs/{id}"),
        Some(&bob.token),
        None,
    )
    .await
    .problem(404, "not-found");
    app.post(&format!("/api/graphs/{id}/clone"), &bob.token, json!({}))
        .await
        .problem(404, "not-found");
    app.call(
        Method::DELETE,
        &format!("/api/keys/{key}"),
        Some(&bob.token),
        None,
    )
    .await
    .problem(404, "not-found");
    app.post(&format!("/api/keys/{key}/rotate"), &bob.token, json!({}))
        .await
        .problem(404, "not-found");
    assert_eq!(app.get("/api/graphs", &bob.token).await.ok(200)["total"], 0);
    assert_eq!(
        app.get("/api/graphs?include_public=true", &bob.token)
            .await
            .ok(200)["total"],
        0
    );
    assert_eq!(
        app.get("/api/keys", &bob.token).await.ok(200)["keys"],
        json!([])
    );
    let events = app
        .get(&format!("/api/events?graph_id={id}"), &bob.token)
        .await;
    assert_eq!(events.ok(200)["total"], 0);
    let usage = app.get("/api/usage", &bob.token).await;
    assert_eq!(usage.ok(200)["current_period"]["graphs"], 0);
    // Alice still has everything.
    assert_eq!(
        app.get(&format!("/api/graphs/{id}"), &alice.token)
            .await
            .status,
        200
    );
    assert!(
        app.get(&format!("/api/events?graph_id={id}"), &alice.token)
            .await
            .ok(200)["total"]
            .as_u64()
            .unwrap()
            >= 1
    );
    // Admin routes refuse users with 403.
    app.get("/api/admin/users", &alice.token)
        .await
        .problem(403, "forbidden");
}

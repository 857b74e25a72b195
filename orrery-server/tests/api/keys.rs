//! API keys: shown once, stored hashed, usable as bearer or X-API-Key, rotated and revoked.

use reqwest::Method;
use serde_json::json;

use crate::both;
use crate::helpers::{Backend, spawn_app};

both!(
    keys_authenticate_until_revoked_or_rotated,
    keys_are_capped_by_the_plan
);

async fn keys_authenticate_until_revoked_or_rotated(backend: Backend) {
    let app = spawn_app(backend).await;
    let user = app.signed_up_user().await;
    let created = app
        .post("/api/keys", &user.token, json!({"name": "ci"}))
        .await;
    let body = created.ok(201);
    let secret = body["secret"].as_str().unwrap().to_owned();
    let id = body["key"]["id"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("ork_"));
    assert!(secret.starts_with(body["key"]["prefix"].as_str().unwrap()));
    let list = app.get("/api/keys", &user.token).await;
    let listed = list.ok(200).to_string();
    assert!(!listed.contains(&secret), "the secret is shown once");
    assert!(!listed.contains("hash"));
    assert_eq!(
        app.get("/api/auth/me", &secret).await.ok(200)["user"]["id"],
        user.id.as_str()
    );
    let header = app
        .send(
            app.request(Method::GET, "/api/auth/me")
                .header("x-api-key", &secret),
        )
        .await;
    assert_eq!(header.ok(200)["user"]["id"], user.id.as_str());
    let rotated = app
        .post(&format!("/api/keys/{id}/rotate"), &user.token, json!({}))
        .await;
    let new_secret = rotated.ok(200)["secret"].as_str().unwrap().to_owned();
    app.get("/api/auth/me", &secret)
        .await
        .problem(401, "unauthorized");
    assert_eq!(app.get("/api/auth/me", &new_secret).await.status, 200);
    let new_id = rotated.body["key"]["id"].as_str().unwrap().to_owned();
    app.call(
        Method::DELETE,
        &format!("/api/keys/{new_id}"),
        Some(&user.token),
        None,
    )
    .await
    .ok(200);
    app.get("/api/auth/me", &new_secret)
        .await
        .problem(401, "unauthorized");
    app.call(
        Method::DELETE,
        &format!("/api/keys/{}", uuid::Uuid::new_v4()),
        Some(&user.token),
        None,
    )
    .await
    .problem(404, "not-found");
    app.call(
        Method::DELETE,
        "/api/keys/not-a-uuid",
        Some(&user.token),
        None,
    )
    .await
    .problem(400, "bad-request");
    app.post("/api/keys", &user.token, json!({"name": ""}))
        .await
        .problem(422, "invalid-field");
    app.post("/api/keys", &user.token, json!({"name": "x".repeat(101)}))
        .await
        .problem(422, "invalid-field");
}

async fn keys_are_capped_by_the_plan(backend: Backend) {
    let app = crate::helpers::spawn_app_with(backend, |s| s.trial_days = 0).await;
    let user = app.signed_up_user().await;
    for n in 0..2 {
        app.post(
            "/api/keys",
            &user.token,
            json!({"name": format!("key {n}")}),
        )
        .await
        .ok(201);
    }
    let third = app
        .post("/api/keys", &user.token, json!({"name": "one too many"}))
        .await;
    let problem = third.problem(402, "plan-limit");
    assert_eq!(
        (
            problem["limit"].as_str(),
            problem["upgrade_to"].as_str(),
            problem["allowed"].as_u64()
        ),
        (Some("api_keys"), Some("pro"), Some(2))
    );
}

//! `/api/me`: an account reads and changes its profile and theme, changes its password (every
//! other session ends), and downloads its own data; bad input is a problem, never a change.

use reqwest::Method;
use serde_json::{Value, json};

use crate::both;
use crate::helpers::{Backend, small_graph, spawn_app};

both!(
    the_profile_and_theme_are_read_and_changed,
    a_password_change_needs_the_current_one_and_ends_other_sessions,
    an_account_exports_its_own_data_only,
    signing_out_ends_the_access_token_too,
);

async fn the_profile_and_theme_are_read_and_changed(backend: Backend) {
    let app = spawn_app(backend).await;
    let user = app.signed_up_user().await;
    let me = app.get("/api/me", &user.token).await.ok(200)["user"].clone();
    assert_eq!(me["provider"], "email");
    assert_eq!(me["theme"], "system");
    assert_eq!(me["email"], user.email.as_str());
    let before = me["updated_at"].as_str().unwrap().to_owned();
    tokio::time::sleep(std::time::Duration::from_millis(1_100)).await;
    let changed = app
        .call(
            Method::PATCH,
            "/api/me",
            Some(&user.token),
            Some(json!({"name": "  Ada King  ", "theme": "dark"})),
        )
        .await;
    let after = changed.ok(200)["user"].clone();
    assert_eq!(
        (after["name"].as_str(), after["theme"].as_str()),
        (Some("Ada King"), Some("dark"))
    );
    assert_ne!(after["updated_at"].as_str().unwrap(), before);
    // Read back, through the cache the next request uses.
    let me = app.get("/api/me", &user.token).await.ok(200)["user"].clone();
    assert_eq!(
        (me["name"].clone(), me["theme"].clone()),
        (json!("Ada King"), json!("dark"))
    );
    let legacy = app.get("/api/auth/me", &user.token).await.ok(200)["user"].clone();
    assert_eq!(legacy["name"], "Ada King");
    for (body, status) in [
        (json!({}), 400),
        (json!({"theme": "neon"}), 422),
        (json!({"name": ""}), 422),
        (json!({"name": "a\u{0}b"}), 422),
        (json!({"name": "x".repeat(101)}), 422),
        (json!({"name": "Ada", "email": "x@example.com"}), 422),
        (json!({"theme": 3}), 422),
    ] {
        let reply = app
            .call(
                Method::PATCH,
                "/api/me",
                Some(&user.token),
                Some(body.clone()),
            )
            .await;
        assert_eq!(reply.status, status, "{body}: {:?}", reply.body);
        assert!(reply.body["type"].is_string(), "{body}: a problem document");
    }
    // Nothing above changed the account.
    let me = app.get("/api/me", &user.token).await.ok(200)["user"].clone();
    assert_eq!(
        (me["name"].clone(), me["theme"].clone()),
        (json!("Ada King"), json!("dark"))
    );
    let anonymous = app
        .call(
            Method::PATCH,
            "/api/me",
            None,
            Some(json!({"theme": "light"})),
        )
        .await;
    anonymous.problem(401, "unauthorized");
}

async fn a_password_change_needs_the_current_one_and_ends_other_sessions(backend: Backend) {
    let app = spawn_app(backend).await;
    let user = app.signed_up_user().await;
    let change =
        |current: &str, new: &str| json!({"current_password": current, "new_password": new});
    let wrong = app
        .post(
            "/api/me/password",
            &user.token,
            change("not it at all", "a brand new secret"),
        )
        .await;
    assert_eq!(wrong.status, 422, "{:?}", wrong.body);
    assert_eq!(wrong.body["field"], "current_password", "{:?}", wrong.body);
    let short = app
        .post(
            "/api/me/password",
            &user.token,
            change(&user.password, "short"),
        )
        .await;
    assert_eq!(short.status, 422, "{:?}", short.body);
    let missing = app
        .post(
            "/api/me/password",
            &user.token,
            json!({"new_password": "a brand new secret"}),
        )
        .await;
    assert_eq!(missing.status, 422, "{:?}", missing.body);
    // The old password still works after the refusals.
    app.post(
        "/api/auth/signin",
        "",
        json!({"email": user.email, "password": user.password}),
    )
    .await
    .ok(200);
    let done = app
        .post(
            "/api/me/password",
            &user.token,
            change(&user.password, "a brand new secret"),
        )
        .await;
    let session = done.ok(200).clone();
    assert!(session["token"].is_string() && session["refresh_token"].is_string());
    // The access tokens issued before the change stop working at once; the new one works.
    app.get("/api/me", &user.token)
        .await
        .problem(401, "unauthorized");
    app.get("/api/me", session["token"].as_str().unwrap())
        .await
        .ok(200);
    // Every earlier session ended; the new one works.
    let old_refresh = app
        .post(
            "/api/auth/refresh",
            "",
            json!({"refresh_token": user.refresh_token}),
        )
        .await;
    old_refresh.problem(401, "unauthorized");
    app.post(
        "/api/auth/refresh",
        "",
        json!({"refresh_token": session["refresh_token"]}),
    )
    .await
    .ok(200);
    let old = app
        .post(
            "/api/auth/signin",
            "",
            json!({"email": user.email, "password": user.password}),
        )
        .await;
    old.problem(401, "invalid-credentials");
    app.post(
        "/api/auth/signin",
        "",
        json!({"email": user.email, "password": "a brand new secret"}),
    )
    .await
    .ok(200);
    let fresh = session["token"].as_str().unwrap();
    let kinds: Vec<Value> = app.get("/api/events", fresh).await.ok(200)["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].clone())
        .collect();
    assert!(kinds.contains(&json!("auth.password_changed")), "{kinds:?}");
}

async fn an_account_exports_its_own_data_only(backend: Backend) {
    let app = spawn_app(backend).await;
    let ada = app.signed_up_user().await;
    let bob = app.signed_up_user().await;
    app.create_graph(&ada, "Ada's flow", small_graph())
        .await
        .ok(201);
    app.create_graph(&bob, "Bob's flow", small_graph())
        .await
        .ok(201);
    let reply = app.get("/api/me/export", &ada.token).await;
    assert_eq!(reply.status, 200);
    assert!(
        reply.headers["content-disposition"]
            .to_str()
            .unwrap()
            .starts_with("attachment;")
    );
    assert_eq!(reply.body["format"], "orrery-account-export");
    assert_eq!(reply.body["user"]["email"], ada.email.as_str());
    let text = String::from_utf8_lossy(&reply.bytes);
    assert!(text.contains("Ada's flow") && !text.contains("Bob's flow"));
    app.call(Method::GET, "/api/me/export", None, None)
        .await
        .problem(401, "unauthorized");
}

async fn signing_out_ends_the_access_token_too(backend: Backend) {
    let app = spawn_app(backend).await;
    let user = app.signed_up_user().await;
    let other = app
        .post(
            "/api/auth/signin",
            "",
            json!({"email": user.email, "password": user.password}),
        )
        .await
        .ok(200)["token"]
        .as_str()
        .unwrap()
        .to_owned();
    app.get("/api/me", &user.token).await.ok(200);
    app.post(
        "/api/auth/signout",
        &user.token,
        json!({"refresh_token": user.refresh_token}),
    )
    .await
    .ok(200);
    let after = app.get("/api/me", &user.token).await;
    let problem = after.problem(401, "unauthorized");
    assert!(
        problem["detail"].as_str().unwrap().contains("signing out"),
        "{problem}"
    );
    // Only that session: the other sign-in's token still works.
    app.get("/api/me", &other).await.ok(200);
    // A forged or foreign bearer on sign-out is ignored, not an error.
    app.post(
        "/api/auth/signout",
        "not-a-token",
        json!({"refresh_token": "ort_unknown"}),
    )
    .await
    .ok(200);
}

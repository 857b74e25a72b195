//! `/api/me`: an account reads and changes its profile and theme, changes its password (every
//! other session ends), and downloads its own data; bad input is a problem, never a change.

use reqwest::Method;
use serde_json::{Value, json};

use crate::both;
use crate::helpers::{Backend, TestApp, small_graph, spawn_app};

both!(
    the_profile_and_theme_are_read_and_changed,
    a_password_change_needs_the_current_one_and_ends_other_sessions,
    an_account_exports_its_own_data_only,
    signing_out_ends_the_access_token_too,
    an_email_change_takes_effect_through_the_link_sent_to_the_new_address,
    two_accounts_racing_for_one_new_address_cannot_both_get_it,
    deleting_an_account_needs_its_password_and_leaves_nothing_behind,
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
        (json!({"name": "Ada", "password": "x"}), 422),
        (json!({"email": "not an address"}), 422),
        (json!({"email": 7}), 422),
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

/// The token in the confirmation link of the last email-change mail to `to`.
async fn email_change_token(app: &TestApp, to: &str) -> String {
    let mail = app.wait_for_mail(to, "email_change_confirm").await;
    let start = mail
        .text
        .find("/confirm-email?token=")
        .expect("a confirmation link")
        + "/confirm-email?token=".len();
    mail.text[start..]
        .split(|c: char| c.is_whitespace())
        .next()
        .unwrap()
        .to_owned()
}

async fn an_email_change_takes_effect_through_the_link_sent_to_the_new_address(backend: Backend) {
    let app = spawn_app(backend).await;
    let user = app.signed_up_user().await;
    let other = app.signed_up_user().await;
    let new_email = format!("new-{}@example.com", uuid::Uuid::new_v4().simple());
    // Refusals change nothing: another account's address, the current one, a malformed one.
    for (email, status) in [
        (other.email.as_str(), 409),
        (user.email.as_str(), 422),
        ("two@@example.com", 422),
    ] {
        let reply = app
            .call(
                Method::PATCH,
                "/api/me",
                Some(&user.token),
                Some(json!({"email": email})),
            )
            .await;
        assert_eq!(reply.status, status, "{email}: {:?}", reply.body);
    }
    let asked = app
        .call(
            Method::PATCH,
            "/api/me",
            Some(&user.token),
            Some(json!({"email": new_email.to_uppercase()})),
        )
        .await;
    let asked = asked.ok(200);
    assert_eq!(asked["pending_email"], new_email.as_str());
    assert_eq!(
        asked["user"]["email"],
        user.email.as_str(),
        "nothing changes yet"
    );
    // The current address is told; the new one gets the link.
    let notice = app.wait_for_mail(&user.email, "email_change_notice").await;
    assert!(notice.text.contains(&new_email), "{}", notice.text);
    let token = email_change_token(&app, &new_email).await;
    let confirm = |token: &str| {
        app.call(
            Method::POST,
            "/api/auth/email-change/confirm",
            None,
            Some(json!({"token": token})),
        )
    };
    confirm("ore_forged").await.problem(400, "invalid-token");
    confirm("").await.problem(400, "invalid-token");
    let done = confirm(&token).await;
    assert_eq!(done.ok(200)["user"]["email"], new_email.as_str());
    // Once only.
    confirm(&token).await.problem(400, "invalid-token");
    // The account is now the new address's: signing in, and what the API shows.
    let me = app.get("/api/me", &user.token).await.ok(200)["user"].clone();
    assert_eq!(me["email"], new_email.as_str());
    app.post(
        "/api/auth/signin",
        "",
        json!({"email": new_email, "password": user.password}),
    )
    .await
    .ok(200);
    app.post(
        "/api/auth/signin",
        "",
        json!({"email": user.email, "password": user.password}),
    )
    .await
    .problem(401, "invalid-credentials");
    let kinds: Vec<Value> = app.get("/api/events", &user.token).await.ok(200)["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].clone())
        .collect();
    assert!(kinds.contains(&json!("account.email_changed")), "{kinds:?}");
}

async fn two_accounts_racing_for_one_new_address_cannot_both_get_it(backend: Backend) {
    let app = spawn_app(backend).await;
    let ada = app.signed_up_user().await;
    let bob = app.signed_up_user().await;
    let wanted = format!("wanted-{}@example.com", uuid::Uuid::new_v4().simple());
    for user in [&ada, &bob] {
        app.call(
            Method::PATCH,
            "/api/me",
            Some(&user.token),
            Some(json!({"email": wanted})),
        )
        .await
        .ok(200);
    }
    app.outbox_settled().await;
    let mails = app.mail.mails_to(&wanted);
    let tokens: Vec<String> = mails
        .iter()
        .filter(|m| m.template == "email_change_confirm")
        .map(|m| {
            let start = m.text.find("token=").unwrap() + "token=".len();
            m.text[start..]
                .split_whitespace()
                .next()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(tokens.len(), 2, "one link per account");
    let confirms = tokens.iter().map(|token| {
        app.call(
            Method::POST,
            "/api/auth/email-change/confirm",
            None,
            Some(json!({"token": token})),
        )
    });
    let replies = futures_util::future::join_all(confirms).await;
    let mut statuses: Vec<u16> = replies.iter().map(|r| r.status.as_u16()).collect();
    statuses.sort_unstable();
    assert_eq!(
        statuses,
        [200, 409],
        "{:?}",
        replies.iter().map(|r| &r.body).collect::<Vec<_>>()
    );
}

async fn deleting_an_account_needs_its_password_and_leaves_nothing_behind(backend: Backend) {
    let app = spawn_app(backend).await;
    let user = app.signed_up_user().await;
    let bystander = app.signed_up_user().await;
    app.create_graph(&user, "Doomed", small_graph())
        .await
        .ok(201);
    let kept = app.create_graph(&bystander, "Kept", small_graph()).await;
    let kept_id = kept.ok(201)["graph"]["id"].as_str().unwrap().to_owned();
    let key = app
        .post("/api/keys", &user.token, json!({"name": "k"}))
        .await;
    let secret = key.ok(201)["secret"].as_str().unwrap().to_owned();
    let delete = |auth: String, body: Option<Value>| {
        let app = &app;
        async move { app.call(Method::DELETE, "/api/me", Some(&auth), body).await }
    };
    // Not with an API key, not without the password, not with a wrong one.
    delete(secret.clone(), Some(json!({"password": user.password})))
        .await
        .problem(403, "forbidden");
    let missing = delete(user.token.clone(), None).await;
    assert_eq!(
        (missing.status.as_u16(), missing.body["field"].clone()),
        (422, json!("password"))
    );
    let wrong = delete(
        user.token.clone(),
        Some(json!({"password": "not the password"})),
    )
    .await;
    assert_eq!(
        (wrong.status.as_u16(), wrong.body["field"].clone()),
        (422, json!("password"))
    );
    delete(user.token.clone(), Some(json!({"password": 5})))
        .await
        .problem(422, "invalid-body");
    delete(
        user.token.clone(),
        Some(json!({"password": "x", "force": true})),
    )
    .await
    .problem(422, "invalid-body");
    app.get("/api/me", &user.token).await.ok(200);
    // Deleted: every credential stops working at once, and the address gets a confirmation.
    delete(user.token.clone(), Some(json!({"password": user.password})))
        .await
        .ok(200);
    app.get("/api/me", &user.token)
        .await
        .problem(401, "unauthorized");
    app.get("/api/graphs", &secret)
        .await
        .problem(401, "unauthorized");
    app.post(
        "/api/auth/refresh",
        "",
        json!({"refresh_token": user.refresh_token}),
    )
    .await
    .problem(401, "unauthorized");
    app.post(
        "/api/auth/signin",
        "",
        json!({"email": user.email, "password": user.password}),
    )
    .await
    .problem(401, "invalid-credentials");
    app.wait_for_mail(&user.email, "account_deleted").await;
    // Nothing of it is left in the database; other accounts are untouched.
    let store = app.store().await;
    {
        use orrery_core::store::UserStore;
        let gone = store.user_by_email(&user.email).await.unwrap();
        assert!(gone.is_none());
    }
    let export = orrery_core::store::UserStore::export_user(&store, user.id.parse().unwrap()).await;
    assert!(export.is_err(), "no data to export for a deleted account");
    store.close().await;
    app.get(&format!("/api/graphs/{kept_id}"), &bystander.token)
        .await
        .ok(200);
    // The address is free again.
    app.sign_up(&user.email).await;
}

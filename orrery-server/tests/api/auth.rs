//! Sign-up, sign-in, tokens, refresh rotation, sign-out and password reset.

use std::time::Instant;

use orrery_core::store::{EmailOutbox, Page};
use orrery_server::services::accounts::RESET_ANSWER_FLOOR;
use reqwest::Method;
use serde_json::json;
use sqlx::Connection as _;

use crate::both;
use crate::helpers::{Backend, spawn_app, spawn_app_with};

both!(
    signing_up_returns_a_session_and_a_pro_trial,
    a_taken_email_is_a_conflict,
    signing_in_checks_the_password_without_telling_which_part_was_wrong,
    access_tokens_that_are_forged_expired_or_of_another_algorithm_are_refused,
    refresh_tokens_rotate_and_a_reused_one_revokes_its_family,
    signing_out_ends_the_session,
    password_reset_answers_alike_and_tokens_work_once,
    a_password_reset_is_queued_before_its_202_and_unknown_emails_take_as_long,
    a_password_reset_that_cannot_be_queued_is_an_error_and_not_a_202,
);

async fn signing_up_returns_a_session_and_a_pro_trial(backend: Backend) {
    let app = spawn_app(backend).await;
    let reply = app
        .call(Method::POST, "/api/auth/signup", None, Some(json!({"email": "Ada@Example.com ", "password": "correct horse battery", "name": "Ada"})))
        .await;
    let body = reply.ok(201);
    assert_eq!(body["success"], true);
    assert_eq!(body["user"]["email"], "ada@example.com");
    assert_eq!(body["user"]["plan"], "free");
    assert_eq!(body["user"]["effective_plan"], "pro");
    assert!(body["user"]["trial_ends_at"].as_str().is_some());
    assert!(body["user"].get("password_hash").is_none());
    assert!(body["refresh_token"].as_str().unwrap().starts_with("ort_"));
    let me = app
        .get("/api/auth/me", body["token"].as_str().unwrap())
        .await;
    assert_eq!(me.ok(200)["user"]["id"], body["user"]["id"]);
}

async fn a_taken_email_is_a_conflict(backend: Backend) {
    let app = spawn_app(backend).await;
    app.sign_up("taken@example.com").await;
    let again = app
        .call(
            Method::POST,
            "/api/auth/signup",
            None,
            Some(
                json!({"email": "TAKEN@example.com", "password": "another password", "name": "B"}),
            ),
        )
        .await;
    again.problem(409, "conflict");
}

async fn signing_in_checks_the_password_without_telling_which_part_was_wrong(backend: Backend) {
    let app = spawn_app(backend).await;
    let user = app.signed_up_user().await;
    let ok = app
        .call(
            Method::POST,
            "/api/auth/signin",
            None,
            Some(json!({"email": user.email, "password": user.password})),
        )
        .await;
    assert!(ok.ok(200)["token"].as_str().is_some());
    let wrong = app
        .call(
            Method::POST,
            "/api/auth/signin",
            None,
            Some(json!({"email": user.email, "password": "wrong password"})),
        )
        .await;
    let unknown = app
        .call(
            Method::POST,
            "/api/auth/signin",
            None,
            Some(json!({"email": "nobody@example.com", "password": "wrong password"})),
        )
        .await;
    let malformed = app
        .call(
            Method::POST,
            "/api/auth/signin",
            None,
            Some(json!({"email": "not an email", "password": "x"})),
        )
        .await;
    for reply in [&wrong, &unknown, &malformed] {
        reply.problem(401, "invalid-credentials");
    }
    assert_eq!(
        wrong.body, unknown.body,
        "the same answer for a wrong password and an unknown email"
    );
    assert_eq!(wrong.body, malformed.body);
}

async fn access_tokens_that_are_forged_expired_or_of_another_algorithm_are_refused(
    backend: Backend,
) {
    use base64::Engine;
    let app = spawn_app(backend).await;
    let user = app.signed_up_user().await;
    let b64 = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
    let parts: Vec<&str> = user.token.split('.').collect();
    let claims: serde_json::Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(parts[1])
            .unwrap(),
    )
    .unwrap();
    let admin_claims = b64(&json!({"sub": claims["sub"], "role": "admin", "iat": claims["iat"], "exp": claims["exp"], "iss": "orrery", "typ": "access"}).to_string());
    let expired = b64(&json!({"sub": claims["sub"], "role": "user", "iat": 1, "exp": 2, "iss": "orrery", "typ": "access"}).to_string());
    for (what, token) in [
        ("garbage", "not-a-token".to_owned()),
        (
            "tampered claims",
            format!("{}.{admin_claims}.{}", parts[0], parts[2]),
        ),
        (
            "alg none",
            format!("{}.{}.", b64(r#"{"alg":"none","typ":"JWT"}"#), parts[1]),
        ),
        (
            "HS512 header",
            format!(
                "{}.{}.{}",
                b64(r#"{"alg":"HS512","typ":"JWT"}"#),
                parts[1],
                parts[2]
            ),
        ),
        ("expired", format!("{}.{expired}.{}", parts[0], parts[2])),
        ("refresh token as access token", user.refresh_token.clone()),
        (
            "unknown API key",
            "ork_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA".to_owned(),
        ),
    ] {
        let reply = app.get("/api/auth/me", &token).await;
        assert_eq!(reply.status, 401, "{what}: {:#}", reply.body);
        reply.problem(401, "unauthorized");
        assert_eq!(reply.headers.get("www-authenticate").unwrap(), "Bearer");
    }
    let no_header = app.call(Method::GET, "/api/auth/me", None, None).await;
    no_header.problem(401, "unauthorized");
    let basic = app
        .send(
            app.request(Method::GET, "/api/auth/me")
                .header("authorization", "Basic dXNlcjpwYXNz"),
        )
        .await;
    basic.problem(401, "unauthorized");
}

async fn refresh_tokens_rotate_and_a_reused_one_revokes_its_family(backend: Backend) {
    let app = spawn_app(backend).await;
    let user = app.signed_up_user().await;
    let first = app
        .call(
            Method::POST,
            "/api/auth/refresh",
            None,
            Some(json!({"refresh_token": user.refresh_token})),
        )
        .await;
    let next = first.ok(200)["refresh_token"].as_str().unwrap().to_owned();
    assert_ne!(next, user.refresh_token);
    assert_eq!(
        app.get("/api/auth/me", first.body["token"].as_str().unwrap())
            .await
            .status,
        200
    );
    // The first token again: a thief or a replay. The whole family goes.
    let reused = app
        .call(
            Method::POST,
            "/api/auth/refresh",
            None,
            Some(json!({"refresh_token": user.refresh_token})),
        )
        .await;
    reused.problem(401, "unauthorized");
    let after = app
        .call(
            Method::POST,
            "/api/auth/refresh",
            None,
            Some(json!({"refresh_token": next})),
        )
        .await;
    after.problem(401, "unauthorized");
    let garbage = app
        .call(
            Method::POST,
            "/api/auth/refresh",
            None,
            Some(json!({"refresh_token": "ort_nothing"})),
        )
        .await;
    garbage.problem(401, "unauthorized");
    let missing = app
        .call(Method::POST, "/api/auth/refresh", None, Some(json!({})))
        .await;
    missing.problem(422, "invalid-body");
}

async fn signing_out_ends_the_session(backend: Backend) {
    let app = spawn_app(backend).await;
    let user = app.signed_up_user().await;
    app.call(
        Method::POST,
        "/api/auth/signout",
        None,
        Some(json!({"refresh_token": user.refresh_token})),
    )
    .await
    .ok(200);
    let refresh = app
        .call(
            Method::POST,
            "/api/auth/refresh",
            None,
            Some(json!({"refresh_token": user.refresh_token})),
        )
        .await;
    refresh.problem(401, "unauthorized");
    // Signing out twice, or with nonsense, still answers success.
    app.call(
        Method::POST,
        "/api/auth/signout",
        None,
        Some(json!({"refresh_token": "ort_nothing"})),
    )
    .await
    .ok(200);
}

async fn password_reset_answers_alike_and_tokens_work_once(backend: Backend) {
    let app = spawn_app(backend).await;
    let user = app.signed_up_user().await;
    let known = app
        .call(
            Method::POST,
            "/api/auth/password-reset",
            None,
            Some(json!({"email": user.email})),
        )
        .await;
    let unknown = app
        .call(
            Method::POST,
            "/api/auth/password-reset",
            None,
            Some(json!({"email": "nobody@example.com"})),
        )
        .await;
    assert_eq!(known.ok(202), unknown.ok(202));
    let token = app
        .wait_for_mail(&user.email, "password_reset")
        .await
        .text
        .split("token=")
        .nth(1)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .to_owned();
    assert!(token.starts_with("orp_"));
    let short = app
        .call(
            Method::POST,
            "/api/auth/password-reset/confirm",
            None,
            Some(json!({"token": token, "password": "short"})),
        )
        .await;
    short.problem(422, "invalid-field");
    let confirm = app
        .call(
            Method::POST,
            "/api/auth/password-reset/confirm",
            None,
            Some(json!({"token": token, "password": "a brand new password"})),
        )
        .await;
    confirm.ok(200);
    let again = app
        .call(
            Method::POST,
            "/api/auth/password-reset/confirm",
            None,
            Some(json!({"token": token, "password": "yet another password"})),
        )
        .await;
    again.problem(400, "invalid-token");
    let old = app
        .call(
            Method::POST,
            "/api/auth/signin",
            None,
            Some(json!({"email": user.email, "password": user.password})),
        )
        .await;
    old.problem(401, "invalid-credentials");
    let new = app
        .call(
            Method::POST,
            "/api/auth/signin",
            None,
            Some(json!({"email": user.email, "password": "a brand new password"})),
        )
        .await;
    new.ok(200);
    let refresh = app
        .call(
            Method::POST,
            "/api/auth/refresh",
            None,
            Some(json!({"refresh_token": user.refresh_token})),
        )
        .await;
    refresh.problem(401, "unauthorized");
}

async fn a_password_reset_is_queued_before_its_202_and_unknown_emails_take_as_long(
    backend: Backend,
) {
    let app = spawn_app(backend).await;
    let user = app.signed_up_user().await;
    let store = app.store().await;
    for email in [user.email.as_str(), "nobody@example.com"] {
        let started = Instant::now();
        app.call(
            Method::POST,
            "/api/auth/password-reset",
            None,
            Some(json!({ "email": email })),
        )
        .await
        .ok(202);
        // Known or not, no sooner than the floor: the timing tells nothing.
        assert!(started.elapsed() >= RESET_ANSWER_FLOOR, "{email}");
    }
    // Queued when the 202 came (not in a task after it), and only for the known email.
    let queued = store.list_emails(None, Page::default()).await.unwrap();
    let resets: Vec<_> = queued
        .items
        .iter()
        .filter(|m| m.template == "password_reset")
        .map(|m| m.to.as_str())
        .collect();
    assert_eq!(resets, [user.email.as_str()]);
}

async fn a_password_reset_that_cannot_be_queued_is_an_error_and_not_a_202(backend: Backend) {
    let app = spawn_app_with(backend, |s| s.request_timeout_secs = 10).await;
    let user = app.signed_up_user().await;
    // The outbox refuses rows, as a database going away between the answer and a detached
    // queueing did in the fault campaign (a 202 whose mail was never queued). On PostgreSQL
    // the refusal says the server is shutting down (57P01): a moment's outage, a 503.
    match backend {
        Backend::Sqlite => {
            let mut db = sqlx::SqliteConnection::connect(&app.database_url)
                .await
                .unwrap();
            sqlx::raw_sql(
                "create trigger refuse_mail before insert on email_outbox \
                 begin select raise(abort, 'refused'); end",
            )
            .execute(&mut db)
            .await
            .unwrap();
        }
        Backend::Postgres => {
            let mut db = sqlx::PgConnection::connect(&app.database_url)
                .await
                .unwrap();
            sqlx::raw_sql(
                "create function refuse_mail() returns trigger language plpgsql as $$ \
                 begin raise exception 'terminating connection due to administrator command' \
                 using errcode = 'admin_shutdown'; end $$; \
                 create trigger refuse_mail before insert on email_outbox \
                 for each row execute function refuse_mail()",
            )
            .execute(&mut db)
            .await
            .unwrap();
        }
    }
    let reply = app
        .call(
            Method::POST,
            "/api/auth/password-reset",
            None,
            Some(json!({"email": user.email})),
        )
        .await;
    match backend {
        Backend::Sqlite => {
            reply.problem(500, "internal");
        }
        Backend::Postgres => {
            reply.problem(503, "unavailable");
            assert_eq!(reply.headers["retry-after"], "2");
        }
    }
    // Nothing is left to send (a queued mail would be delivered first), and none was sent.
    app.outbox_settled().await;
    assert!(
        app.mail_templates(&user.email)
            .iter()
            .all(|t| t != "password_reset")
    );
}

//! Mail through the outbox to a real SMTP server (aiosmtpd): what arrives, escaping, retries
//! while the server is down, giving up, the log without SMTP, and the trial mails sent once by
//! two instances.

use std::time::Duration;

use orrery_core::store::{EmailOutbox, EmailStatus, OutboxEmail, Page};
use serde_json::json;

use crate::both;
use crate::helpers::{
    Backend, MailSink, TestApp, spawn_app, spawn_app_with, spawn_app_with_sink,
    spawn_app_without_smtp, spawn_instance,
};
use crate::smtp_sink::{SmtpSink, free_port};

both!(
    the_welcome_mail_arrives_over_smtp_with_text_and_html_parts,
    html_parts_escape_values_and_text_parts_do_not,
    a_down_smtp_server_delays_mail_but_loses_none,
    mail_is_given_up_after_its_attempts,
    without_smtp_mails_are_logged_and_count_as_sent,
    a_trial_ending_sends_its_mails_once_with_two_instances,
);

async fn outbox(app: &TestApp) -> Vec<OutboxEmail> {
    let store = app.store().await;
    let mails = store
        .list_emails(
            None,
            Page {
                page: 1,
                limit: 100,
            },
        )
        .await
        .unwrap()
        .items;
    store.close().await;
    mails
}

/// Waits up to 15 s for `check` to hold of the outbox.
async fn wait_outbox(app: &TestApp, what: &str, check: impl Fn(&[OutboxEmail]) -> bool) {
    for _ in 0..150 {
        if check(&outbox(app).await) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{what}: {:#?}", outbox(app).await);
}

async fn the_welcome_mail_arrives_over_smtp_with_text_and_html_parts(backend: Backend) {
    let Some(sink) = SmtpSink::start().await else {
        return;
    };
    let sink = std::sync::Arc::new(sink);
    let app = spawn_app_with_sink(backend, sink.clone(), |s| {
        s.mail_from = "Orrery Test <robot@orrery.test>".into();
    })
    .await;
    let user = app.signed_up_user().await;
    app.wait_for_mail(&user.email, "welcome").await;
    let received = sink.messages_to(&user.email);
    assert_eq!(received.len(), 1);
    let mail = &received[0];
    assert_eq!(mail.rcpt_to, user.email);
    assert_eq!(mail.to, user.email);
    assert_eq!(mail.from, "\"Orrery Test\" <robot@orrery.test>");
    assert_eq!(mail.subject, "Welcome to Orrery, Test User");
    assert_eq!(mail.template, "welcome");
    assert!(
        mail.content_type.starts_with("multipart/alternative"),
        "{}",
        mail.content_type
    );
    assert!(
        mail.text
            .starts_with("Hi Test User,\n\nyour Orrery account is ready."),
        "{}",
        mail.text
    );
    assert!(
        mail.text.contains("Open Orrery: http://127.0.0.1:8080"),
        "{}",
        mail.text
    );
    assert!(
        mail.html.starts_with("<p>Hi Test User,</p>"),
        "{}",
        mail.html
    );
    assert!(
        mail.html
            .contains("<a href=\"http:&#x2f;&#x2f;127.0.0.1:8080\">"),
        "{}",
        mail.html
    );
    // The outbox knows it was sent.
    wait_outbox(&app, "the welcome mail is sent", |m| {
        m.iter()
            .any(|m| m.to == user.email && m.status == EmailStatus::Sent && m.attempts == 1)
    })
    .await;
}

async fn html_parts_escape_values_and_text_parts_do_not(backend: Backend) {
    let app = spawn_app(backend).await;
    let email = format!("esc-{}@example.com", uuid::Uuid::new_v4().simple());
    app.call(
        reqwest::Method::POST,
        "/api/auth/signup",
        None,
        Some(
            json!({"email": email, "password": "correct horse battery", "name": "<b>Ada & Co</b>"}),
        ),
    )
    .await
    .ok(201);
    let mail = app.wait_for_mail(&email, "welcome").await;
    assert_eq!(mail.subject, "Welcome to Orrery, <b>Ada & Co</b>");
    assert!(
        mail.text.starts_with("Hi <b>Ada & Co</b>,"),
        "{}",
        mail.text
    );
    assert!(
        mail.html
            .starts_with("<p>Hi &lt;b&gt;Ada &amp; Co&lt;&#x2f;b&gt;,</p>"),
        "{}",
        mail.html
    );
}

async fn a_down_smtp_server_delays_mail_but_loses_none(backend: Backend) {
    if !crate::smtp_sink::available() {
        return;
    }
    let port = free_port();
    let app = spawn_app_with(backend, |s| {
        s.smtp_url = secrecy::SecretString::from(format!("smtp://127.0.0.1:{port}"));
        s.mail_retry_base_ms = 200;
        s.mail_max_attempts = 100;
    })
    .await;
    let user = app.signed_up_user().await;
    wait_outbox(&app, "the welcome mail fails at least twice", |m| {
        m.iter().any(|m| {
            m.to == user.email
                && m.status == EmailStatus::Pending
                && m.attempts >= 2
                && m.last_error.as_deref().is_some_and(|e| !e.is_empty())
        })
    })
    .await;
    // The server comes up on its port: the next retry delivers.
    let sink = SmtpSink::start_on(port).await.unwrap();
    for _ in 0..150 {
        if !sink.messages_to(&user.email).is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let received = sink.messages_to(&user.email);
    assert_eq!(received.len(), 1, "delivered once");
    assert_eq!(received[0].template, "welcome");
    wait_outbox(&app, "the welcome mail is sent", |m| {
        m.iter()
            .any(|m| m.to == user.email && m.status == EmailStatus::Sent)
    })
    .await;
}

async fn mail_is_given_up_after_its_attempts(backend: Backend) {
    let port = free_port();
    let app = spawn_app_with(backend, |s| {
        s.smtp_url = secrecy::SecretString::from(format!("smtp://127.0.0.1:{port}"));
        s.mail_retry_base_ms = 50;
        s.mail_max_attempts = 3;
    })
    .await;
    let user = app.signed_up_user().await;
    wait_outbox(&app, "the welcome mail fails for good", |m| {
        m.iter()
            .any(|m| m.to == user.email && m.status == EmailStatus::Failed && m.attempts == 3)
    })
    .await;
    let admin = app.admin_user().await;
    let health = app.get("/api/admin/health", &admin.token).await;
    let health = health.ok(200);
    assert!(
        health["outbox"]["failed"].as_u64().unwrap() >= 1,
        "{health}"
    );
    assert_eq!(health["smtp"]["ok"], false);
    assert_eq!(health["status"], "degraded");
}

async fn without_smtp_mails_are_logged_and_count_as_sent(backend: Backend) {
    let app = spawn_app_without_smtp(backend).await;
    let user = app.signed_up_user().await;
    wait_outbox(&app, "the welcome mail is logged", |m| {
        m.iter()
            .any(|m| m.to == user.email && m.status == EmailStatus::Sent)
    })
    .await;
    let admin = app.admin_user().await;
    let health = app.get("/api/admin/health", &admin.token).await;
    assert_eq!(health.ok(200)["smtp"]["configured"], false);
}

async fn a_trial_ending_sends_its_mails_once_with_two_instances(backend: Backend) {
    let fast = |s: &mut orrery_server::settings::Settings| {
        s.trial_check_interval_ms = 150;
        s.mail_poll_interval_ms = 100;
    };
    let a = spawn_app_with(backend, fast).await;
    let b = spawn_instance(&a.database_url, fast).await;
    let admin = a.admin_user().await;
    let ending = a.signed_up_user().await;
    let ended = b.signed_up_user().await;
    let paying = a.signed_up_user().await;
    let soon = time::OffsetDateTime::now_utc() + time::Duration::hours(50);
    let past = time::OffsetDateTime::now_utc() - time::Duration::hours(1);
    let rfc = |t: time::OffsetDateTime| {
        t.format(&time::format_description::well_known::Rfc3339)
            .unwrap()
    };
    for (user, body) in [
        (&ending, json!({"trial_ends_at": rfc(soon)})),
        (&ended, json!({"trial_ends_at": rfc(past)})),
        // A paying account gets no trial mail.
        (&paying, json!({"trial_ends_at": rfc(soon), "plan": "pro"})),
    ] {
        a.put(&format!("/api/admin/users/{}", user.id), &admin.token, body)
            .await
            .ok(200);
    }
    let reminder = a.wait_for_mail(&ending.email, "trial_ending").await;
    assert_eq!(reminder.subject, "Your Orrery trial ends in 3 days");
    let notice = a.wait_for_mail(&ended.email, "trial_expired").await;
    assert_eq!(notice.subject, "Your Orrery trial has ended");
    // Both instances keep running the job: still one mail each.
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let count = |to: &str, template: &str| {
        let mut sinks = vec![&a.mail];
        if !matches!((&a.mail, &b.mail), (MailSink::Smtp(x), MailSink::Smtp(y)) if std::sync::Arc::ptr_eq(x, y))
        {
            sinks.push(&b.mail);
        }
        sinks
            .iter()
            .flat_map(|s| s.mails_to(to))
            .filter(|m| m.template == template)
            .count()
    };
    assert_eq!(count(&ending.email, "trial_ending"), 1);
    assert_eq!(count(&ended.email, "trial_expired"), 1);
    assert_eq!(count(&ending.email, "trial_expired"), 0);
    assert_eq!(count(&paying.email, "trial_ending"), 0);
    // The ended trial's limits are the free plan's.
    let me = b.get("/api/auth/me", &ended.token).await;
    assert_eq!(me.ok(200)["user"]["effective_plan"], "free");
}

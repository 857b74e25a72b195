//! Email templates and the outbox.

use std::collections::HashSet;
use std::sync::Arc;

use orrery_core::store::{
    EmailStatus, EmailTemplate, Entity, NewEmail, Page, StoreError, email_backoff,
};
use serde_json::json;
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use crate::cases::user;
use crate::harness::TestDb;

fn mail(to: &str, key: Option<&str>) -> NewEmail {
    NewEmail {
        user_id: None,
        to: to.to_owned(),
        template: "welcome".to_owned(),
        variables: json!({"name": "Ada", "app_url": "https://orrery.example"}),
        dedupe_key: key.map(str::to_owned),
    }
}

pub async fn templates_are_seeded_with_their_variables(db: &TestDb) {
    let store = &db.store;
    let templates = store.list_templates().await.unwrap();
    let names: Vec<&str> = templates.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "account_deleted",
            "email_change_confirm",
            "email_change_notice",
            "password_reset",
            "payment_failed",
            "plan_downgraded",
            "plan_upgraded",
            "signin_throttled",
            "subscription_canceled",
            "trial_ending",
            "trial_expired",
            "welcome",
        ]
    );
    // Every variable a template uses is declared, and every declared one is used.
    for t in &templates {
        let all = format!("{} {} {}", t.subject, t.html, t.text);
        let mut used = HashSet::new();
        for part in all.split("{{").skip(1) {
            used.insert(part.split("}}").next().unwrap().trim().to_owned());
        }
        for part in all.split("{% if ").skip(1) {
            used.insert(part.split(" %}").next().unwrap().trim().to_owned());
        }
        let declared: HashSet<String> = t.variables.iter().cloned().collect();
        assert_eq!(used, declared, "{}", t.name);
    }
    let reset = store.template("password_reset").await.unwrap();
    assert!(reset.text.contains("{{ reset_url }}"));
    assert!(matches!(
        store.template("nope").await,
        Err(StoreError::NotFound(Entity::EmailTemplate))
    ));
}

pub async fn templates_are_saved_and_replaced(db: &TestDb) {
    let store = &db.store;
    let mut template = EmailTemplate {
        name: "digest".to_owned(),
        subject: "Your week, {{ name }}".to_owned(),
        html: "<p>{{ count }} runs</p>".to_owned(),
        text: "{{ count }} runs".to_owned(),
        variables: vec!["name".to_owned(), "count".to_owned()],
        is_active: true,
    };
    store.save_template(&template).await.unwrap();
    assert_eq!(store.template("digest").await.unwrap(), template);
    template.subject = "This week".to_owned();
    template.variables = vec!["count".to_owned()];
    template.is_active = false;
    store.save_template(&template).await.unwrap();
    assert_eq!(store.template("digest").await.unwrap(), template);
    assert_eq!(store.list_templates().await.unwrap().len(), 13);
    assert!(matches!(
        store
            .save_template(&EmailTemplate {
                name: String::new(),
                ..template.clone()
            })
            .await,
        Err(StoreError::Invalid(_))
    ));
}

pub async fn outbox_dedupes_by_key(db: &TestDb) {
    let store = &db.store;
    let ada = user(store, "ada").await;
    let now = OffsetDateTime::now_utc();
    let key = format!("trial_ending:{}", ada.id);
    let first = store
        .enqueue_email(
            NewEmail {
                user_id: Some(ada.id),
                ..mail("ada@example.com", Some(&key))
            },
            now,
        )
        .await
        .unwrap();
    assert!(first.is_some());
    let again = store
        .enqueue_email(mail("ada@example.com", Some(&key)), now)
        .await
        .unwrap();
    assert_eq!(again, None);
    // Mails without a key are never deduplicated.
    assert!(
        store
            .enqueue_email(mail("x@example.com", None), now)
            .await
            .unwrap()
            .is_some()
    );
    assert!(
        store
            .enqueue_email(mail("x@example.com", None), now)
            .await
            .unwrap()
            .is_some()
    );
    let listed = store
        .list_emails(Some(EmailStatus::Pending), Page::default())
        .await
        .unwrap();
    assert_eq!(listed.total, 3);
    let ada_mail = listed.items.iter().find(|m| Some(m.id) == first).unwrap();
    assert_eq!(ada_mail.user_id, Some(ada.id));
    assert_eq!(ada_mail.to, "ada@example.com");
    assert_eq!(ada_mail.template, "welcome");
    assert_eq!(ada_mail.variables["app_url"], "https://orrery.example");
    assert_eq!(
        (ada_mail.attempts, ada_mail.status),
        (0, EmailStatus::Pending)
    );
    assert!(matches!(
        store.enqueue_email(mail("", None), now).await,
        Err(StoreError::Invalid(_))
    ));
    assert!(matches!(
        store
            .enqueue_email(
                NewEmail {
                    user_id: Some(Uuid::now_v7()),
                    ..mail("ghost@example.com", None)
                },
                now
            )
            .await,
        Err(StoreError::NotFound(Entity::User))
    ));
}

pub async fn concurrent_leasers_never_get_the_same_mail(db: &TestDb) {
    let store = Arc::clone(&db.store);
    let now = OffsetDateTime::now_utc();
    let mails = 120;
    for i in 0..mails {
        store
            .enqueue_email(mail(&format!("u{i}@example.com"), None), now)
            .await
            .unwrap();
    }
    let handles: Vec<_> = (0..8)
        .map(|worker| {
            let store = Arc::clone(&store);
            tokio::spawn(async move {
                let owner = format!("worker-{worker}");
                let mut got = Vec::new();
                loop {
                    let batch = store
                        .lease_emails(&owner, now, Duration::minutes(5), 7)
                        .await
                        .unwrap();
                    if batch.is_empty() {
                        break;
                    }
                    for m in &batch {
                        assert_eq!(m.attempts, 1);
                        got.push(m.id);
                    }
                    tokio::task::yield_now().await;
                }
                (owner, got)
            })
        })
        .collect();
    let mut all = Vec::new();
    let mut owners = Vec::new();
    for handle in handles {
        let (owner, got) = handle.await.unwrap();
        owners.extend(got.iter().map(|id| (*id, owner.clone())));
        all.extend(got);
    }
    let unique: HashSet<Uuid> = all.iter().copied().collect();
    assert_eq!(all.len(), mails, "every mail leased exactly once");
    assert_eq!(unique.len(), mails);
    // Each mail is marked sent by its own leaser only.
    for (id, owner) in &owners[..10] {
        assert!(matches!(
            store.mark_email_sent(*id, "someone-else", now).await,
            Err(StoreError::NotFound(Entity::LeasedEmail))
        ));
        store.mark_email_sent(*id, owner, now).await.unwrap();
    }
    let sent = store
        .list_emails(Some(EmailStatus::Sent), Page::default())
        .await
        .unwrap();
    assert_eq!(sent.total, 10);
    assert!(sent.items.iter().all(|m| m.sent_at.is_some()));
}

pub async fn outbox_reschedules_fails_and_frees_expired_leases(db: &TestDb) {
    let store = &db.store;
    let now = OffsetDateTime::now_utc();
    let id = store
        .enqueue_email(mail("a@example.com", None), now)
        .await
        .unwrap()
        .unwrap();
    // Not due yet for a leaser that lives in the past.
    assert!(
        store
            .lease_emails("w1", now - Duration::seconds(1), Duration::minutes(1), 10)
            .await
            .unwrap()
            .is_empty()
    );
    let leased = store
        .lease_emails("w1", now, Duration::minutes(1), 10)
        .await
        .unwrap();
    assert_eq!(leased.len(), 1);
    // Leased: nobody else gets it until the lease runs out...
    assert!(
        store
            .lease_emails("w2", now + Duration::seconds(30), Duration::minutes(1), 10)
            .await
            .unwrap()
            .is_empty()
    );
    // ...then it is free again (w1 crashed), and w1 has lost it.
    let taken = store
        .lease_emails("w2", now + Duration::minutes(2), Duration::minutes(1), 10)
        .await
        .unwrap();
    assert_eq!(taken.len(), 1);
    assert_eq!(taken[0].attempts, 2);
    assert!(matches!(
        store.reschedule_email(id, "w1", "late", now).await,
        Err(StoreError::NotFound(Entity::LeasedEmail))
    ));
    let retry_at = now + Duration::minutes(2) + email_backoff(taken[0].attempts);
    store
        .reschedule_email(id, "w2", "smtp said 451", retry_at)
        .await
        .unwrap();
    assert!(
        store
            .lease_emails(
                "w3",
                retry_at - Duration::seconds(1),
                Duration::minutes(1),
                10
            )
            .await
            .unwrap()
            .is_empty()
    );
    let retried = store
        .lease_emails("w3", retry_at, Duration::minutes(1), 10)
        .await
        .unwrap();
    assert_eq!(retried.len(), 1);
    assert_eq!(retried[0].last_error.as_deref(), Some("smtp said 451"));
    assert_eq!(retried[0].attempts, 3);
    store
        .fail_email(id, "w3", &"bounced ".repeat(1_000))
        .await
        .unwrap();
    let failed = store
        .list_emails(Some(EmailStatus::Failed), Page::default())
        .await
        .unwrap();
    assert_eq!(failed.total, 1);
    assert_eq!(
        failed.items[0].last_error.as_ref().unwrap().chars().count(),
        2_000
    );
    assert!(
        store
            .lease_emails("w4", retry_at + Duration::days(1), Duration::minutes(1), 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(email_backoff(1), Duration::seconds(30));
    assert_eq!(email_backoff(3), Duration::seconds(120));
    assert_eq!(email_backoff(40), Duration::hours(6));
}

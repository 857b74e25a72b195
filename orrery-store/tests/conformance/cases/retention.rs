//! Retention: pruning in bounded batches, usage and `graph.created` events rolled up into daily
//! totals so that counts over whole days stay exact, and several pruners at once counting every
//! call once.

use std::sync::Arc;

use orrery_core::store::{
    EventFilter, Granularity, NewEmail, Page, Prunable, RefreshUse, UsageBucket, UsageRecord,
};
use serde_json::json;
use time::macros::datetime;
use time::{Duration, OffsetDateTime};

use crate::cases::{hash, user};
use crate::harness::TestDb;

fn call(user: uuid::Uuid, key: Option<uuid::Uuid>, at: OffsetDateTime, ms: u32) -> UsageRecord {
    UsageRecord {
        user_id: user,
        api_key_id: key,
        endpoint: "/api/graphs/{id}".to_owned(),
        method: "GET".to_owned(),
        status: 200,
        at,
        duration_ms: ms,
    }
}

/// Every count the API shows over `[from, to)`: calls, calls with `key`, processing time,
/// daily history, everyone's calls.
async fn figures(
    db: &TestDb,
    who: uuid::Uuid,
    key: uuid::Uuid,
    from: OffsetDateTime,
    to: OffsetDateTime,
) -> (u64, u64, u64, Vec<UsageBucket>, u64) {
    let store = &db.store;
    (
        store.count_usage(who, None, from, to).await.unwrap(),
        store.count_usage(who, Some(key), from, to).await.unwrap(),
        store.usage_time(who, from, to).await.unwrap(),
        store
            .usage_history(who, from, to, Granularity::Day)
            .await
            .unwrap(),
        store.total_usage(from, to).await.unwrap(),
    )
}

pub async fn pruned_usage_is_rolled_into_daily_totals_and_counts_stay_exact(db: &TestDb) {
    let store = &db.store;
    let ada = user(store, "ada").await;
    let bob = user(store, "bob").await;
    let k1 = store
        .create_api_key(ada.id, "a", "p1", &hash(1), None)
        .await
        .unwrap();
    for (who, key, at, ms) in [
        (ada.id, Some(k1.id), datetime!(2030-03-01 00:00 UTC), 10),
        (ada.id, None, datetime!(2030-03-01 23:59:59.999999 UTC), 20),
        (ada.id, Some(k1.id), datetime!(2030-03-02 12:00 UTC), 30),
        (ada.id, Some(k1.id), datetime!(2030-03-03 10:00 UTC), 40),
        (bob.id, None, datetime!(2030-03-01 08:00 UTC), 50),
    ] {
        store.record_usage(&call(who, key, at, ms)).await.unwrap();
    }
    let (from, to) = (
        datetime!(2030-03-01 00:00 UTC),
        datetime!(2030-03-04 00:00 UTC),
    );
    let kept = figures(db, ada.id, k1.id, from, to).await;
    assert_eq!(kept.0, 4);
    assert_eq!(kept.1, 3);
    assert_eq!(kept.2, 100);
    assert_eq!(kept.4, 5);

    // The cutoff is taken back to midnight: 2030-03-03 stays whole, as rows.
    let before = datetime!(2030-03-03 15:00 UTC);
    let mut batches = Vec::new();
    loop {
        let n = store
            .prune(Prunable::UsageRecords, before, 3)
            .await
            .unwrap();
        batches.push(n);
        if n < 3 {
            break;
        }
    }
    assert_eq!(batches, [3, 1], "bounded batches, oldest first");
    let raw = db.raw().await;
    assert_eq!(raw.count("select count(*) from api_key_usage").await, 1);
    // ada's key and no key on the 1st, her key on the 2nd, bob on the 1st.
    assert_eq!(raw.count("select count(*) from usage_daily").await, 4);
    assert_eq!(figures(db, ada.id, k1.id, from, to).await, kept);
    assert_eq!(store.count_usage(bob.id, None, from, to).await.unwrap(), 1);
    // Rolled days count whole when they start inside the range; the rows left count exactly.
    assert_eq!(
        store
            .count_usage(ada.id, None, datetime!(2030-03-01 12:00 UTC), to)
            .await
            .unwrap(),
        2
    );
    assert_eq!(
        store
            .usage_history(ada.id, from, to, Granularity::Month)
            .await
            .unwrap()[0]
            .api_calls,
        4
    );
    // Nothing is left to prune; pruning again changes nothing.
    assert_eq!(
        store
            .prune(Prunable::UsageRecords, before, 3)
            .await
            .unwrap(),
        0
    );
    assert_eq!(figures(db, ada.id, k1.id, from, to).await, kept);
    // The account's export carries its totals; deleting the account takes them.
    let export = store.export_user(ada.id).await.unwrap();
    let daily = export["usage_daily"].as_array().unwrap();
    assert_eq!(daily.len(), 3);
    assert!(daily.contains(
        &json!({"day": "2030-03-01", "api_key_id": null, "api_calls": 1,
        "duration_ms": 20, "graphs_created": 0})
    ));
    store.delete_user(ada.id).await.unwrap();
    assert_eq!(raw.count("select count(*) from usage_daily").await, 1);
}

pub async fn concurrent_pruners_count_every_call_once(db: &TestDb) {
    let store = &db.store;
    let ada = user(store, "ada").await;
    let start = datetime!(2030-05-01 00:00 UTC);
    let records: Vec<UsageRecord> = (0..240)
        .map(|i| call(ada.id, None, start + Duration::minutes(i * 37), 1))
        .collect();
    store.record_usages(&records).await.unwrap();
    let end = start + Duration::days(30);
    let pruners = (0..4).map(|_| {
        let store = Arc::clone(store);
        tokio::spawn(async move {
            let mut moved = 0;
            loop {
                let n = store.prune(Prunable::UsageRecords, end, 7).await.unwrap();
                moved += n;
                if n == 0 {
                    return moved;
                }
            }
        })
    });
    let mut moved = 0;
    for pruner in pruners.collect::<Vec<_>>() {
        moved += pruner.await.unwrap();
    }
    assert_eq!(moved, 240);
    assert_eq!(
        db.raw()
            .await
            .count("select count(*) from api_key_usage")
            .await,
        0
    );
    assert_eq!(
        store.count_usage(ada.id, None, start, end).await.unwrap(),
        240
    );
    assert_eq!(store.usage_time(ada.id, start, end).await.unwrap(), 240);
}

pub async fn events_mail_tokens_and_receipts_are_pruned_by_age(db: &TestDb) {
    let store = &db.store;
    let ada = user(store, "ada").await;
    let now = OffsetDateTime::now_utc();

    // Events: `graph.created` stays in usage history as a daily total.
    store
        .record_event(Some(ada.id), None, "graph.created", json!({}))
        .await
        .unwrap();
    store
        .record_event(Some(ada.id), None, "auth.signin", json!({}))
        .await
        .unwrap();
    let today = now.replace_time(time::Time::MIDNIGHT);
    let history = |store: Arc<dyn crate::harness::AnyStore>| async move {
        store
            .usage_history(ada.id, today, today + Duration::days(1), Granularity::Day)
            .await
            .unwrap()
    };
    let before_prune = history(Arc::clone(store)).await;
    assert_eq!(before_prune[0].graphs_created, 1);
    assert_eq!(
        store.prune(Prunable::Events, now, 10).await.unwrap(),
        0,
        "today's events are younger than today's midnight"
    );
    let tomorrow = now + Duration::days(1);
    assert_eq!(
        store.prune(Prunable::Events, tomorrow, 10).await.unwrap(),
        2
    );
    let events = store
        .list_events(&EventFilter {
            user_id: Some(ada.id),
            page: Page::default(),
            ..EventFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(events.total, 0);
    assert_eq!(history(Arc::clone(store)).await, before_prune);

    // Mail: finished mails go by age; a pending one stays however old.
    let mail = |n: u32| NewEmail {
        user_id: Some(ada.id),
        to: "ada@example.com".to_owned(),
        template: "welcome".to_owned(),
        variables: json!({"name": "Ada", "n": n}),
        dedupe_key: None,
    };
    let old = now - Duration::days(40);
    for n in 0..3 {
        store.enqueue_email(mail(n), old).await.unwrap();
    }
    let leased = store
        .lease_emails("me", old + Duration::seconds(1), Duration::minutes(2), 2)
        .await
        .unwrap();
    store
        .mark_email_sent(leased[0].id, "me", old + Duration::seconds(2))
        .await
        .unwrap();
    store
        .fail_email(leased[1].id, "me", "mailbox full")
        .await
        .unwrap();
    let cutoff = now - Duration::days(30);
    assert_eq!(
        store
            .prune(Prunable::FinishedMail, cutoff, 1)
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        store
            .prune(Prunable::FinishedMail, cutoff, 10)
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        store.prune(Prunable::FinishedMail, now, 10).await.unwrap(),
        0
    );
    assert_eq!(
        db.raw()
            .await
            .count("select count(*) from email_outbox")
            .await,
        1
    );

    // Tokens: spent once used, revoked or expired; a live one stays.
    store
        .create_refresh_token(
            ada.id,
            uuid::Uuid::now_v7(),
            &hash(10),
            now + Duration::days(30),
        )
        .await
        .unwrap();
    store
        .create_refresh_token(
            ada.id,
            uuid::Uuid::now_v7(),
            &hash(11),
            now + Duration::days(30),
        )
        .await
        .unwrap();
    store
        .create_reset_token(ada.id, &hash(12), now - Duration::hours(1))
        .await
        .unwrap();
    assert!(matches!(
        store.use_refresh_token(&hash(10), now).await.unwrap(),
        RefreshUse::Rotated { .. }
    ));
    let soon = now + Duration::seconds(1);
    assert_eq!(
        store.prune(Prunable::SpentTokens, now, 10).await.unwrap(),
        1
    );
    assert_eq!(
        store.prune(Prunable::SpentTokens, soon, 10).await.unwrap(),
        1
    );
    assert_eq!(
        store.prune(Prunable::SpentTokens, soon, 10).await.unwrap(),
        0
    );
    // The live token still works.
    assert!(matches!(
        store.use_refresh_token(&hash(11), now).await.unwrap(),
        RefreshUse::Rotated { .. }
    ));

    // Webhook receipts: once pruned, the id is new again.
    store
        .record_webhook_event("evt_old", "invoice.paid", now - Duration::days(100))
        .await
        .unwrap();
    store
        .record_webhook_event("evt_new", "invoice.paid", now)
        .await
        .unwrap();
    assert_eq!(
        store
            .prune(Prunable::WebhookReceipts, now - Duration::days(90), 10)
            .await
            .unwrap(),
        1
    );
    assert!(
        store
            .record_webhook_event("evt_old", "invoice.paid", now)
            .await
            .unwrap()
    );
    assert!(
        !store
            .record_webhook_event("evt_new", "invoice.paid", now)
            .await
            .unwrap()
    );
}

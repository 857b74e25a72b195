//! Usage counters, usage history and the monitoring log.

use orrery_core::store::{
    Entity, EventFilter, Granularity, Page, SessionStats, StoreError, UsageBucket, UsageRecord,
};
use serde_json::json;
use time::OffsetDateTime;
use time::macros::datetime;

use crate::cases::{graph, hash, user};
use crate::harness::TestDb;

fn call(user: uuid::Uuid, key: Option<uuid::Uuid>, at: OffsetDateTime) -> UsageRecord {
    UsageRecord {
        user_id: user,
        api_key_id: key,
        endpoint: "/api/graphs/{id}".to_owned(),
        method: "GET".to_owned(),
        status: 200,
        at,
        duration_ms: 12,
    }
}

pub async fn usage_is_counted_per_user_and_key_over_a_period(db: &TestDb) {
    let store = &db.store;
    let ada = user(store, "ada").await;
    let bob = user(store, "bob").await;
    let k1 = store
        .create_api_key(ada.id, "a", "p1", &hash(1), None)
        .await
        .unwrap();
    let k2 = store
        .create_api_key(ada.id, "b", "p2", &hash(2), None)
        .await
        .unwrap();
    let start = datetime!(2030-03-01 00:00 UTC);
    let end = datetime!(2030-04-01 00:00 UTC);
    for (key, at) in [
        (Some(k1.id), start), // the first instant counts
        (Some(k1.id), datetime!(2030-03-15 12:00 UTC)),
        (Some(k2.id), datetime!(2030-03-31 23:59:59.999999 UTC)),
        (None, datetime!(2030-03-10 08:00 UTC)), // a session, not a key
        (Some(k1.id), end),                      // the end is excluded
        (Some(k1.id), datetime!(2030-02-28 23:59:59.999999 UTC)),
    ] {
        store.record_usage(&call(ada.id, key, at)).await.unwrap();
    }
    store
        .record_usage(&call(bob.id, None, datetime!(2030-03-02 00:00 UTC)))
        .await
        .unwrap();
    assert_eq!(
        store.count_usage(ada.id, None, start, end).await.unwrap(),
        4
    );
    assert_eq!(
        store
            .count_usage(ada.id, Some(k1.id), start, end)
            .await
            .unwrap(),
        2
    );
    assert_eq!(
        store
            .count_usage(ada.id, Some(k2.id), start, end)
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        store.count_usage(bob.id, None, start, end).await.unwrap(),
        1
    );
    assert_eq!(store.total_usage(start, end).await.unwrap(), 5);
    assert_eq!(
        store
            .total_usage(
                datetime!(2000-01-01 00:00 UTC),
                datetime!(2100-01-01 00:00 UTC)
            )
            .await
            .unwrap(),
        7
    );
    assert!(matches!(
        store
            .record_usage(&UsageRecord {
                endpoint: String::new(),
                ..call(ada.id, None, start)
            })
            .await,
        Err(StoreError::Invalid(_))
    ));
    assert!(matches!(
        store
            .record_usage(&call(uuid::Uuid::now_v7(), None, start))
            .await,
        Err(StoreError::NotFound(Entity::User))
    ));
}

pub async fn batches_of_usage_are_written_together_and_time_summed(db: &TestDb) {
    let store = &db.store;
    let ada = user(store, "ada").await;
    let bob = user(store, "bob").await;
    let bobs_key = store
        .create_api_key(bob.id, "b", "pb", &hash(9), None)
        .await
        .unwrap();
    let at = datetime!(2030-05-02 10:00 UTC);
    let batch = [
        call(ada.id, None, at),
        call(ada.id, None, at + time::Duration::minutes(1)),
        // Booked on someone else's key: skipped, never charged to Bob.
        call(ada.id, Some(bobs_key.id), at),
        call(bob.id, Some(bobs_key.id), at),
    ];
    assert_eq!(store.record_usages(&batch).await.unwrap(), 3);
    assert_eq!(store.record_usages(&[]).await.unwrap(), 0);
    let (from, to) = (
        datetime!(2030-05-01 00:00 UTC),
        datetime!(2030-06-01 00:00 UTC),
    );
    assert_eq!(store.count_usage(ada.id, None, from, to).await.unwrap(), 2);
    assert_eq!(
        store
            .count_usage(bob.id, Some(bobs_key.id), from, to)
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        store.usage_time(ada.id, from, to).await.unwrap(),
        24,
        "two calls of 12 ms"
    );
    let mut bad = call(ada.id, None, at);
    bad.endpoint = String::new();
    assert!(matches!(
        store.record_usages(&[bad]).await,
        Err(StoreError::Invalid(_)) | Err(StoreError::Limit(_))
    ));
}

pub async fn usage_history_buckets_by_day_week_and_month(db: &TestDb) {
    let store = &db.store;
    let ada = user(store, "ada").await;
    let bob = user(store, "bob").await;
    // Sunday 2030-03-31 closes a week and a month; Monday 2030-04-01 opens both.
    for at in [
        datetime!(2030-03-29 10:00 UTC),
        datetime!(2030-03-31 00:00 UTC),
        datetime!(2030-03-31 23:59:59.999999 UTC),
        datetime!(2030-04-01 00:00 UTC),
        datetime!(2030-04-01 13:00 UTC),
        datetime!(2030-04-09 09:00 UTC),
        // Outside the window.
        datetime!(2030-03-28 23:59:59 UTC),
        datetime!(2030-04-10 00:00 UTC),
    ] {
        store.record_usage(&call(ada.id, None, at)).await.unwrap();
    }
    store
        .record_usage(&call(bob.id, None, datetime!(2030-04-01 00:00 UTC)))
        .await
        .unwrap();
    let from = datetime!(2030-03-29 00:00 UTC);
    let to = datetime!(2030-04-10 00:00 UTC);
    let history = |granularity| store.usage_history(ada.id, from, to, granularity);
    let b = |period_start, api_calls| UsageBucket {
        period_start,
        api_calls,
        graphs_created: 0,
    };
    assert_eq!(
        history(Granularity::Day).await.unwrap(),
        [
            b(datetime!(2030-03-29 00:00 UTC), 1),
            b(datetime!(2030-03-31 00:00 UTC), 2),
            b(datetime!(2030-04-01 00:00 UTC), 2),
            b(datetime!(2030-04-09 00:00 UTC), 1),
        ]
    );
    assert_eq!(
        history(Granularity::Week).await.unwrap(),
        [
            b(datetime!(2030-03-25 00:00 UTC), 3),
            b(datetime!(2030-04-01 00:00 UTC), 2),
            b(datetime!(2030-04-08 00:00 UTC), 1),
        ]
    );
    assert_eq!(
        history(Granularity::Month).await.unwrap(),
        [
            b(datetime!(2030-03-01 00:00 UTC), 3),
            b(datetime!(2030-04-01 00:00 UTC), 3),
        ]
    );
    assert!(
        store
            .usage_history(bob.id, from, from, Granularity::Day)
            .await
            .unwrap()
            .is_empty()
    );
    // Graphs created are counted from the monitoring log, per period, the account's only.
    for (who, kind) in [
        (ada.id, "graph.created"),
        (ada.id, "graph.created"),
        (ada.id, "graph.updated"),
        (bob.id, "graph.created"),
    ] {
        store
            .record_event(Some(who), None, kind, serde_json::json!({}))
            .await
            .unwrap();
    }
    let now = time::OffsetDateTime::now_utc();
    let today = now.date().midnight().assume_utc();
    let created = store
        .usage_history(
            ada.id,
            today,
            today + time::Duration::days(1),
            Granularity::Month,
        )
        .await
        .unwrap();
    assert_eq!(
        created,
        [UsageBucket {
            period_start: now.date().replace_day(1).unwrap().midnight().assume_utc(),
            api_calls: 0,
            graphs_created: 2,
        }]
    );
}

pub async fn events_are_recorded_filtered_and_paged(db: &TestDb) {
    let store = &db.store;
    let ada = user(store, "ada").await;
    let flow = graph(store, ada.id, "flow", false).await;
    let signin = store
        .record_event(
            Some(ada.id),
            None,
            "auth.signin",
            json!({"ip": "127.0.0.1"}),
        )
        .await
        .unwrap();
    let created = store
        .record_event(
            Some(ada.id),
            Some(flow.id),
            "graph.created",
            json!({"name": "flow", "nodes": 3, "nested": {"ok": true, "list": [1, 2.5]}}),
        )
        .await
        .unwrap();
    let system = store
        .record_event(None, None, "system.started", json!(null))
        .await
        .unwrap();
    assert_eq!(created.kind, "graph.created");

    let all = store.list_events(&EventFilter::default()).await.unwrap();
    assert_eq!(all.total, 3);
    assert_eq!(all.items, [system.clone(), created.clone(), signin.clone()]);
    let ada_events = store
        .list_events(&EventFilter {
            user_id: Some(ada.id),
            ..EventFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(ada_events.items, [created.clone(), signin.clone()]);
    let graph_events = store
        .list_events(&EventFilter {
            graph_id: Some(flow.id),
            ..EventFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(graph_events.items, [created]);
    let by_kind = store
        .list_events(&EventFilter {
            kind: Some("auth.signin".to_owned()),
            page: Page { page: 1, limit: 1 },
            ..EventFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(by_kind.items[0], signin);
    let second = store
        .list_events(&EventFilter {
            page: Page { page: 2, limit: 2 },
            ..EventFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(second.items, [signin]);
    assert!(matches!(
        store.record_event(None, None, "", json!({})).await,
        Err(StoreError::Invalid(_))
    ));
    assert!(matches!(
        store
            .record_event(None, None, "big", json!({"x": "y".repeat(70_000)}))
            .await,
        Err(StoreError::Limit(_))
    ));
    assert!(matches!(
        store
            .record_event(None, Some(uuid::Uuid::now_v7()), "graph.gone", json!({}))
            .await,
        Err(StoreError::NotFound(_))
    ));
}

pub async fn sessions_are_runs_of_calls_without_long_pauses(db: &TestDb) {
    let store = &db.store;
    let ada = user(store, "ada").await;
    let bob = user(store, "bob").await;
    let start = datetime!(2030-05-01 00:00 UTC);
    let end = datetime!(2030-05-02 00:00 UTC);
    assert_eq!(
        store
            .session_stats(start, end, time::Duration::minutes(30))
            .await
            .unwrap(),
        SessionStats::default()
    );
    // Ada: one session of 20 minutes (pauses of 10), then after an hour one of 5 minutes.
    for at in [
        datetime!(2030-05-01 09:00 UTC),
        datetime!(2030-05-01 09:10 UTC),
        datetime!(2030-05-01 09:20 UTC),
        datetime!(2030-05-01 10:20 UTC),
        datetime!(2030-05-01 10:25 UTC),
    ] {
        store.record_usage(&call(ada.id, None, at)).await.unwrap();
    }
    // Bob's calls interleave with Ada's but are his own session: one call, no length. A call
    // outside the period does not count.
    for at in [
        datetime!(2030-05-01 09:05 UTC),
        datetime!(2030-05-02 09:05 UTC),
    ] {
        store.record_usage(&call(bob.id, None, at)).await.unwrap();
    }
    let stats = store
        .session_stats(start, end, time::Duration::minutes(30))
        .await
        .unwrap();
    assert_eq!(
        stats,
        SessionStats {
            sessions: 3,
            total_seconds: 25 * 60
        }
    );
    assert!((stats.average_seconds() - 500.0).abs() < 1e-9);
    // With an idle limit of 5 minutes, every pause of 10 minutes ends a session; a pause of
    // exactly the limit does not.
    let short = store
        .session_stats(start, end, time::Duration::minutes(5))
        .await
        .unwrap();
    assert_eq!(short.sessions, 5);
    assert_eq!(short.total_seconds, 5 * 60);
}

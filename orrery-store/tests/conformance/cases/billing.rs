//! Subscriptions and processed webhook events.

use std::sync::Arc;

use orrery_core::Plan;
use orrery_core::billing::{SubscriptionState, SubscriptionStatus};
use orrery_core::store::{Constraint, Entity, StoreError, UserPatch};
use time::OffsetDateTime;
use time::macros::datetime;

use crate::cases::user;
use crate::harness::TestDb;

fn state(status: SubscriptionStatus, plan: Plan, observed_at: OffsetDateTime) -> SubscriptionState {
    SubscriptionState {
        subscription_id: "sub_1".to_owned(),
        customer_id: "cus_1".to_owned(),
        plan,
        status,
        current_period_end: Some(datetime!(2030-02-01 00:00 UTC)),
        cancel_at_period_end: false,
        observed_at,
    }
}

pub async fn stale_subscription_state_does_not_overwrite_newer(db: &TestDb) {
    let store = &db.store;
    let ada = user(store, "ada").await;
    let t1 = datetime!(2030-01-01 10:00 UTC);
    let t2 = datetime!(2030-01-01 10:05 UTC);
    let active = state(SubscriptionStatus::Active, Plan::Pro, t1);
    assert!(store.apply_subscription(ada.id, &active).await.unwrap());
    let canceled = SubscriptionState {
        cancel_at_period_end: true,
        ..state(SubscriptionStatus::Canceled, Plan::Pro, t2)
    };
    assert!(store.apply_subscription(ada.id, &canceled).await.unwrap());
    // The older "active" event arrives late: it does not bring the subscription back.
    assert!(!store.apply_subscription(ada.id, &active).await.unwrap());
    let stored = store.subscription(ada.id).await.unwrap().unwrap();
    assert_eq!(stored.user_id, ada.id);
    assert_eq!(stored.state, canceled);
    // The same state again applies (a replay changes nothing).
    assert!(store.apply_subscription(ada.id, &canceled).await.unwrap());
    assert_eq!(
        store.subscription(ada.id).await.unwrap().unwrap().state,
        canceled
    );
    assert!(matches!(
        store
            .apply_subscription(
                uuid::Uuid::now_v7(),
                &state(SubscriptionStatus::Active, Plan::Pro, t2)
            )
            .await,
        Err(StoreError::NotFound(Entity::User) | StoreError::Conflict(_))
    ));
}

pub async fn subscriptions_are_found_by_provider_ids(db: &TestDb) {
    let store = &db.store;
    let ada = user(store, "ada").await;
    let bob = user(store, "bob").await;
    let carol = user(store, "carol").await;
    assert_eq!(store.subscription(ada.id).await.unwrap(), None);
    let t = datetime!(2030-01-01 10:00 UTC);
    store
        .apply_subscription(ada.id, &state(SubscriptionStatus::Active, Plan::Pro, t))
        .await
        .unwrap();
    store
        .apply_subscription(
            bob.id,
            &SubscriptionState {
                subscription_id: "sub_2".to_owned(),
                customer_id: "cus_2".to_owned(),
                current_period_end: None,
                ..state(SubscriptionStatus::Unpaid, Plan::Enterprise, t)
            },
        )
        .await
        .unwrap();
    store
        .apply_subscription(
            carol.id,
            &SubscriptionState {
                subscription_id: "sub_3".to_owned(),
                customer_id: "cus_3".to_owned(),
                ..state(SubscriptionStatus::PastDue, Plan::Enterprise, t)
            },
        )
        .await
        .unwrap();
    let found = store
        .subscription_by_provider_id("sub_2")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.user_id, bob.id);
    assert_eq!(found.state.status, SubscriptionStatus::Unpaid);
    assert_eq!(found.state.current_period_end, None);
    assert_eq!(
        store.subscription_by_provider_id("sub_9").await.unwrap(),
        None
    );
    // A subscription id belongs to one account.
    assert!(matches!(
        store
            .apply_subscription(carol.id, &state(SubscriptionStatus::Active, Plan::Pro, t))
            .await,
        Err(StoreError::Conflict(Constraint::Subscription))
    ));

    assert_eq!(store.user_by_customer("cus_1").await.unwrap(), Some(ada.id));
    store
        .update_user(
            bob.id,
            UserPatch {
                billing_customer_id: Some("cus_new".to_owned()),
                ..UserPatch::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(
        store.user_by_customer("cus_new").await.unwrap(),
        Some(bob.id)
    );
    assert_eq!(store.user_by_customer("cus_none").await.unwrap(), None);

    let active: Vec<_> = store
        .active_subscriptions()
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.user_id)
        .collect();
    let mut expected = vec![ada.id, carol.id];
    expected.sort();
    assert_eq!(active, expected);
}

pub async fn webhook_events_are_recorded_once(db: &TestDb) {
    let store = Arc::clone(&db.store);
    let at = OffsetDateTime::now_utc();
    assert!(
        store
            .record_webhook_event("evt_1", "invoice.paid", at)
            .await
            .unwrap()
    );
    assert!(
        !store
            .record_webhook_event("evt_1", "invoice.paid", at)
            .await
            .unwrap()
    );
    // Concurrent deliveries of one event: exactly one records it.
    let handles: Vec<_> = (0..8)
        .map(|_| {
            let store = Arc::clone(&store);
            tokio::spawn(async move {
                store
                    .record_webhook_event("evt_2", "customer.subscription.updated", at)
                    .await
                    .unwrap()
            })
        })
        .collect();
    let mut recorded = 0;
    for handle in handles {
        recorded += usize::from(handle.await.unwrap());
    }
    assert_eq!(recorded, 1);
    // A delivery whose processing failed is forgotten, so the provider's retry is processed.
    store.forget_webhook_event("evt_1").await.unwrap();
    assert!(
        store
            .record_webhook_event("evt_1", "invoice.paid", at)
            .await
            .unwrap()
    );
    assert!(matches!(
        store.record_webhook_event("", "x", at).await,
        Err(StoreError::Invalid(_))
    ));
}

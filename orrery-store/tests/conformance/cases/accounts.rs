//! An account's own lifecycle: email changes through a single-use token, and deletion that
//! keeps an anonymised billing record.

use orrery_core::Plan;
use orrery_core::billing::{SubscriptionState, SubscriptionStatus};
use orrery_core::store::{Constraint, Entity, Page, StoreError, UserPatch};
use time::{Duration, OffsetDateTime};

use crate::cases::{hash, user};
use crate::harness::TestDb;

pub async fn email_changes_are_single_use_and_keep_emails_unique(db: &TestDb) {
    let store = &db.store;
    let ada = user(store, "ada").await;
    let bob = user(store, "bob").await;
    let now = OffsetDateTime::now_utc();
    let later = now + Duration::hours(1);
    store
        .create_email_change(ada.id, "  Ada.New@Example.com ", &hash(1), later)
        .await
        .unwrap();
    store
        .create_email_change(ada.id, "ada.other@example.com", &hash(2), later)
        .await
        .unwrap();
    // Unknown, expired and not-yet-made tokens change nothing.
    assert_eq!(
        store.confirm_email_change(&hash(9), now).await.unwrap(),
        None
    );
    assert_eq!(
        store
            .confirm_email_change(&hash(1), later + Duration::seconds(1))
            .await
            .unwrap(),
        None
    );
    let changed = store
        .confirm_email_change(&hash(1), now)
        .await
        .unwrap()
        .expect("the token works once");
    assert_eq!(changed.email, "ada.new@example.com");
    assert_eq!(
        store.user(ada.id).await.unwrap().email,
        "ada.new@example.com"
    );
    // Once, and the account's other outstanding change is used up with it.
    assert_eq!(
        store.confirm_email_change(&hash(1), now).await.unwrap(),
        None
    );
    assert_eq!(
        store.confirm_email_change(&hash(2), now).await.unwrap(),
        None
    );
    // An address another account has by now is a conflict, and the token stays usable.
    store
        .create_email_change(bob.id, "carol@example.com", &hash(3), later)
        .await
        .unwrap();
    let carol = user(store, "carol").await;
    assert!(matches!(
        store.confirm_email_change(&hash(3), now).await,
        Err(StoreError::Conflict(Constraint::Email))
    ));
    assert_eq!(store.user(bob.id).await.unwrap().email, "bob@example.com");
    store.delete_user(carol.id).await.unwrap();
    let moved = store.confirm_email_change(&hash(3), now).await.unwrap();
    assert_eq!(moved.map(|u| u.email).as_deref(), Some("carol@example.com"));
    // A token for no account, and a taken token hash, are refused.
    assert!(matches!(
        store
            .create_email_change(uuid::Uuid::now_v7(), "x@example.com", &hash(4), later)
            .await,
        Err(StoreError::NotFound(Entity::User))
    ));
    assert!(matches!(
        store
            .create_email_change(bob.id, "y@example.com", &hash(3), later)
            .await,
        Err(StoreError::Conflict(_))
    ));
    assert!(matches!(
        store
            .create_email_change(bob.id, "not an address", &hash(5), later)
            .await,
        Err(StoreError::Invalid(_))
    ));
}

pub async fn deleting_a_paying_account_keeps_an_anonymous_billing_record(db: &TestDb) {
    let store = &db.store;
    let ada = user(store, "ada").await;
    let bob = user(store, "bob").await;
    store
        .update_user(
            ada.id,
            UserPatch {
                billing_customer_id: Some("cus_ada".to_owned()),
                plan: Some(Plan::Pro),
                ..UserPatch::default()
            },
        )
        .await
        .unwrap();
    let state = SubscriptionState {
        subscription_id: "sub_ada".to_owned(),
        customer_id: "cus_ada".to_owned(),
        plan: Plan::Pro,
        status: SubscriptionStatus::Canceled,
        current_period_end: None,
        cancel_at_period_end: false,
        observed_at: OffsetDateTime::now_utc(),
    };
    assert!(store.apply_subscription(ada.id, &state).await.unwrap());
    store.delete_user(ada.id).await.unwrap();
    // An account that never paid leaves nothing.
    store.delete_user(bob.id).await.unwrap();
    assert!(matches!(
        store.delete_user(bob.id).await,
        Err(StoreError::NotFound(Entity::User))
    ));
    let records = store.billing_records(Page::default()).await.unwrap();
    assert_eq!(records.total, 1);
    let record = &records.items[0];
    assert_eq!(record.customer_id, "cus_ada");
    assert_eq!(record.subscription_id.as_deref(), Some("sub_ada"));
    assert_eq!(record.plan, Plan::Pro);
    assert_eq!(
        record.account_created_at.unix_timestamp(),
        ada.created_at.unix_timestamp()
    );
    assert!(record.deleted_at >= record.account_created_at);
}

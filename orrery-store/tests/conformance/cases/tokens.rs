//! Refresh tokens and password-reset tokens.

use std::sync::Arc;

use orrery_core::store::{Constraint, Entity, RefreshUse, StoreError};
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use crate::cases::{hash, user};
use crate::harness::TestDb;

pub async fn refresh_tokens_rotate_and_reuse_revokes_the_family(db: &TestDb) {
    let store = &db.store;
    let ada = user(store, "ada").await;
    let now = OffsetDateTime::now_utc();
    let week = now + Duration::days(7);
    let family = Uuid::now_v7();
    store
        .create_refresh_token(ada.id, family, &hash(1), week)
        .await
        .unwrap();
    assert_eq!(
        store.use_refresh_token(&hash(1), now).await.unwrap(),
        RefreshUse::Rotated {
            user_id: ada.id,
            family
        }
    );
    store
        .create_refresh_token(ada.id, family, &hash(2), week)
        .await
        .unwrap();
    // Another session of the same account is unaffected by what follows.
    let other = Uuid::now_v7();
    store
        .create_refresh_token(ada.id, other, &hash(9), week)
        .await
        .unwrap();

    // The first token comes back: stolen. The whole family ends, the live token included.
    assert_eq!(
        store.use_refresh_token(&hash(1), now).await.unwrap(),
        RefreshUse::Reused { user_id: ada.id }
    );
    assert_eq!(
        store.use_refresh_token(&hash(2), now).await.unwrap(),
        RefreshUse::Invalid
    );
    // And takes no new tokens (a refresh racing with the reuse fails).
    assert!(matches!(
        store
            .create_refresh_token(ada.id, family, &hash(3), week)
            .await,
        Err(StoreError::Conflict(Constraint::RefreshTokenFamily))
    ));
    assert_eq!(
        store.use_refresh_token(&hash(9), now).await.unwrap(),
        RefreshUse::Rotated {
            user_id: ada.id,
            family: other
        }
    );
    assert_eq!(
        store.use_refresh_token(&hash(42), now).await.unwrap(),
        RefreshUse::Invalid
    );
}

pub async fn expired_and_revoked_refresh_tokens_are_invalid(db: &TestDb) {
    let store = &db.store;
    let ada = user(store, "ada").await;
    let bob = user(store, "bob").await;
    let now = OffsetDateTime::now_utc();
    let f1 = Uuid::now_v7();
    store
        .create_refresh_token(ada.id, f1, &hash(1), now + Duration::minutes(1))
        .await
        .unwrap();
    assert_eq!(
        store
            .use_refresh_token(&hash(1), now + Duration::minutes(2))
            .await
            .unwrap(),
        RefreshUse::Invalid
    );

    let f2 = Uuid::now_v7();
    store
        .create_refresh_token(ada.id, f2, &hash(2), now + Duration::days(1))
        .await
        .unwrap();
    store.revoke_refresh_family(f2).await.unwrap();
    assert_eq!(
        store.use_refresh_token(&hash(2), now).await.unwrap(),
        RefreshUse::Invalid
    );

    let f3 = Uuid::now_v7();
    let f4 = Uuid::now_v7();
    store
        .create_refresh_token(ada.id, f3, &hash(3), now + Duration::days(1))
        .await
        .unwrap();
    store
        .create_refresh_token(bob.id, f4, &hash(4), now + Duration::days(1))
        .await
        .unwrap();
    store.revoke_user_refresh_tokens(ada.id).await.unwrap();
    assert_eq!(
        store.use_refresh_token(&hash(3), now).await.unwrap(),
        RefreshUse::Invalid
    );
    assert_eq!(
        store.use_refresh_token(&hash(4), now).await.unwrap(),
        RefreshUse::Rotated {
            user_id: bob.id,
            family: f4
        }
    );
    assert!(matches!(
        store
            .create_refresh_token(Uuid::now_v7(), Uuid::now_v7(), &hash(5), now)
            .await,
        Err(StoreError::NotFound(Entity::User))
    ));
    assert!(matches!(
        store
            .create_refresh_token(bob.id, Uuid::now_v7(), &hash(4), now)
            .await,
        Err(StoreError::Conflict(Constraint::RefreshToken))
    ));
}

pub async fn reset_tokens_are_single_use_and_expire(db: &TestDb) {
    let store = &db.store;
    let ada = user(store, "ada").await;
    let now = OffsetDateTime::now_utc();
    let hour = now + Duration::hours(1);
    store
        .create_reset_token(ada.id, &hash(1), hour)
        .await
        .unwrap();
    store
        .create_reset_token(ada.id, &hash(2), hour)
        .await
        .unwrap();
    store
        .create_reset_token(ada.id, &hash(3), now + Duration::minutes(5))
        .await
        .unwrap();
    // Expired.
    assert_eq!(
        store
            .consume_reset_token(&hash(3), now + Duration::minutes(6))
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store.consume_reset_token(&hash(1), now).await.unwrap(),
        Some(ada.id)
    );
    // Used.
    assert_eq!(
        store.consume_reset_token(&hash(1), now).await.unwrap(),
        None
    );
    // A reset ends the account's other links.
    assert_eq!(
        store.consume_reset_token(&hash(2), now).await.unwrap(),
        None
    );
    assert_eq!(
        store.consume_reset_token(&hash(7), now).await.unwrap(),
        None
    );
    assert!(matches!(
        store
            .create_reset_token(Uuid::now_v7(), &hash(8), hour)
            .await,
        Err(StoreError::NotFound(Entity::User))
    ));
}

pub async fn concurrent_resets_with_one_token_have_one_winner(db: &TestDb) {
    let store = Arc::clone(&db.store);
    let ada = user(&store, "ada").await;
    let now = OffsetDateTime::now_utc();
    store
        .create_reset_token(ada.id, &hash(1), now + Duration::hours(1))
        .await
        .unwrap();
    let handles: Vec<_> = (0..10)
        .map(|_| {
            let store = Arc::clone(&store);
            tokio::spawn(async move { store.consume_reset_token(&hash(1), now).await })
        })
        .collect();
    let mut winners = 0;
    for handle in handles {
        if handle.await.unwrap().unwrap().is_some() {
            winners += 1;
        }
    }
    assert_eq!(winners, 1);
}

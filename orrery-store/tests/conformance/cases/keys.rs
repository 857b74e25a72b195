//! API keys.

use std::sync::Arc;

use orrery_core::store::{Constraint, Entity, StoreError};
use orrery_store::Backend;
use time::macros::datetime;

use crate::cases::{hash, user};
use crate::harness::TestDb;

pub async fn api_keys_round_trip(db: &TestDb) {
    let store = &db.store;
    let ada = user(store, "ada").await;
    let first = store
        .create_api_key(ada.id, "laptop", "ork_live_ab", &hash(1), None)
        .await
        .unwrap();
    assert_eq!(first.user_id, ada.id);
    assert_eq!(first.name, "laptop");
    assert_eq!(first.prefix, "ork_live_ab");
    assert_eq!((first.last_used_at, first.revoked_at), (None, None));
    let second = store
        .create_api_key(ada.id, "ci", "ork_live_cd", &hash(2), None)
        .await
        .unwrap();
    assert_eq!(
        store.list_api_keys(ada.id).await.unwrap(),
        [second.clone(), first.clone()]
    );
    assert_eq!(store.count_api_keys(ada.id).await.unwrap(), 2);
    assert_eq!(
        store.api_key_by_hash(&hash(1)).await.unwrap(),
        Some(first.clone())
    );
    assert_eq!(store.api_key_by_hash(&hash(9)).await.unwrap(), None);

    let used = datetime!(2030-01-01 12:00:00.25 UTC);
    store.touch_api_key(first.id, used).await.unwrap();
    let touched = store.api_key_by_hash(&hash(1)).await.unwrap().unwrap();
    assert_eq!(touched.last_used_at, Some(used));

    assert!(store.revoke_api_key(ada.id, first.id).await.unwrap());
    assert_eq!(store.api_key_by_hash(&hash(1)).await.unwrap(), None);
    assert_eq!(store.count_api_keys(ada.id).await.unwrap(), 1);
    let listed = store.list_api_keys(ada.id).await.unwrap();
    assert_eq!(listed.len(), 2);
    let revoked = listed.iter().find(|k| k.id == first.id).unwrap();
    assert!(revoked.revoked_at.is_some());
    // Revoking again keeps the first revocation time.
    assert!(!store.revoke_api_key(ada.id, first.id).await.unwrap());
    let again = store.list_api_keys(ada.id).await.unwrap();
    assert_eq!(again.iter().find(|k| k.id == first.id).unwrap(), revoked);

    // The same secret twice is a conflict (a hash collision, or a retried request).
    assert!(matches!(
        store
            .create_api_key(ada.id, "dup", "ork_live_cd", &hash(2), None)
            .await,
        Err(StoreError::Conflict(Constraint::ApiKey))
    ));
    for (name, prefix) in [("", "p"), ("n", ""), (&"n".repeat(201)[..], "p")] {
        assert!(matches!(
            store
                .create_api_key(ada.id, name, prefix, &hash(3), None)
                .await,
            Err(StoreError::Invalid(_) | StoreError::Limit(_))
        ));
    }
    assert!(matches!(
        store
            .create_api_key(uuid::Uuid::now_v7(), "orphan", "p", &hash(4), None)
            .await,
        Err(StoreError::NotFound(Entity::User))
    ));
    assert!(matches!(
        store.touch_api_key(uuid::Uuid::now_v7(), used).await,
        Err(StoreError::NotFound(Entity::ApiKey))
    ));
}

pub async fn api_keys_are_stored_hashed(db: &TestDb) {
    let store = &db.store;
    let ada = user(store, "ada").await;
    // The server hashes the secret; the store gets the hash and a short prefix only.
    let secret = "ork_live_9f8e7d6c5b4a39281706f5e4d3c2b1a0";
    let digest: [u8; 32] = *b"0123456789abcdef0123456789ABCDEF";
    store
        .create_api_key(ada.id, "laptop", &secret[..11], &digest, None)
        .await
        .unwrap();
    if db.backend() == Backend::Memory {
        // It keeps the `[u8; 32]` it is given: there is no text column a secret could end
        // up in.
        return;
    }
    let raw = db.raw().await;
    let dump = raw.dump("api_keys").await;
    let text = String::from_utf8_lossy(&dump);
    assert!(
        !text.contains(&secret[11..]),
        "no part past the prefix is stored"
    );
    assert!(
        dump.windows(32).any(|w| w == digest) || text.contains("\\x3031323334353637"),
        "the hash is stored"
    );
}

pub async fn rotating_a_key_revokes_it_and_keeps_its_name(db: &TestDb) {
    let store = &db.store;
    let ada = user(store, "ada").await;
    let old = store
        .create_api_key(ada.id, "deploy", "ork_old", &hash(1), None)
        .await
        .unwrap();
    let new = store
        .rotate_api_key(ada.id, old.id, "ork_new", &hash(2))
        .await
        .unwrap();
    assert_ne!(new.id, old.id);
    assert_eq!(new.name, "deploy");
    assert_eq!(new.prefix, "ork_new");
    assert_eq!(store.api_key_by_hash(&hash(1)).await.unwrap(), None);
    assert_eq!(
        store.api_key_by_hash(&hash(2)).await.unwrap(),
        Some(new.clone())
    );
    assert_eq!(store.count_api_keys(ada.id).await.unwrap(), 1);
    // A revoked key does not rotate (it may have leaked).
    assert!(matches!(
        store
            .rotate_api_key(ada.id, old.id, "ork_x", &hash(3))
            .await,
        Err(StoreError::NotFound(Entity::ApiKey))
    ));
    // A rotation whose new hash is taken changes nothing.
    store
        .create_api_key(ada.id, "other", "ork_o", &hash(4), None)
        .await
        .unwrap();
    assert!(matches!(
        store
            .rotate_api_key(ada.id, new.id, "ork_y", &hash(4))
            .await,
        Err(StoreError::Conflict(Constraint::ApiKey))
    ));
    assert_eq!(store.api_key_by_hash(&hash(2)).await.unwrap(), Some(new));
}

pub async fn revoking_says_whether_this_call_revoked_the_key(db: &TestDb) {
    let store = Arc::clone(&db.store);
    let ada = user(&store, "ada").await;
    let bob = user(&store, "bob").await;
    let key = store
        .create_api_key(ada.id, "ci", "ork_ci", &hash(1), None)
        .await
        .unwrap();
    // Of concurrent revocations, exactly one revoked the key (one audit event, not several).
    let mut handles = Vec::new();
    for _ in 0..8 {
        let store = Arc::clone(&store);
        let (user, id) = (ada.id, key.id);
        handles.push(tokio::spawn(
            async move { store.revoke_api_key(user, id).await },
        ));
    }
    let mut revoked = 0;
    for handle in handles {
        if handle.await.unwrap().unwrap() {
            revoked += 1;
        }
    }
    assert_eq!(revoked, 1, "exactly one call revokes");
    assert!(!store.revoke_api_key(ada.id, key.id).await.unwrap());
    // Someone else's key, or none at all, is not found, whether live or revoked.
    assert!(matches!(
        store.revoke_api_key(bob.id, key.id).await,
        Err(StoreError::NotFound(Entity::ApiKey))
    ));
    assert!(matches!(
        store.revoke_api_key(ada.id, uuid::Uuid::now_v7()).await,
        Err(StoreError::NotFound(Entity::ApiKey))
    ));
}

pub async fn concurrent_creates_stop_at_the_key_quota(db: &TestDb) {
    let store = Arc::clone(&db.store);
    let ada = user(&store, "ada").await;
    let bob = user(&store, "bob").await;
    // Revoked keys and other accounts' keys do not count.
    let old = store
        .create_api_key(ada.id, "old", "ork_old", &hash(200), Some(2))
        .await
        .unwrap();
    assert!(store.revoke_api_key(ada.id, old.id).await.unwrap());
    store
        .create_api_key(bob.id, "bob", "ork_bob", &hash(201), Some(2))
        .await
        .unwrap();
    let limit = 2;
    let mut handles = Vec::new();
    for i in 0..40u8 {
        let store = Arc::clone(&store);
        let user = ada.id;
        handles.push(tokio::spawn(async move {
            store
                .create_api_key(user, &format!("key {i}"), "ork_k", &hash(i), Some(limit))
                .await
        }));
    }
    let (mut created, mut refused) = (0, 0);
    for handle in handles {
        match handle.await.unwrap() {
            Ok(_) => created += 1,
            Err(StoreError::Quota {
                resource: "api keys",
                limit: 2,
            }) => refused += 1,
            Err(other) => panic!("unexpected error {other:?}"),
        }
    }
    assert_eq!((created, refused), (2, 38));
    assert_eq!(store.count_api_keys(ada.id).await.unwrap(), limit);
    // Rotating replaces a key, so it needs no room; revoking one makes room for one.
    let live = store.list_api_keys(ada.id).await.unwrap();
    let rotated = store
        .rotate_api_key(ada.id, live[0].id, "ork_r", &hash(202))
        .await
        .unwrap();
    assert!(store.revoke_api_key(ada.id, rotated.id).await.unwrap());
    store
        .create_api_key(ada.id, "again", "ork_a", &hash(203), Some(limit))
        .await
        .unwrap();
    assert!(matches!(
        store
            .create_api_key(ada.id, "over", "ork_o", &hash(204), Some(limit))
            .await,
        Err(StoreError::Quota { .. })
    ));
    // No room at all, and an account that does not exist.
    assert!(matches!(
        store
            .create_api_key(bob.id, "none", "ork_n", &hash(205), Some(0))
            .await,
        Err(StoreError::Quota {
            resource: "api keys",
            limit: 0
        })
    ));
    assert!(matches!(
        store
            .create_api_key(uuid::Uuid::now_v7(), "orphan", "ork_x", &hash(206), Some(5))
            .await,
        Err(StoreError::NotFound(Entity::User))
    ));
}

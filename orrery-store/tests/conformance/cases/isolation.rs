//! One account never reaches another's private rows: every such call is `NotFound`, exactly
//! like a row that does not exist.

use orrery_core::store::{
    Entity, EventFilter, GraphFilter, GraphUpdate, Page, StoreError, UsageRecord,
};
use serde_json::json;
use time::OffsetDateTime;

use crate::cases::{doc, graph, hash, user};
use crate::harness::TestDb;

pub async fn private_graphs_of_others_are_not_found(db: &TestDb) {
    let store = &db.store;
    let ada = user(store, "ada").await;
    let bob = user(store, "bob").await;
    let secret = graph(store, ada.id, "secret", false).await;
    let shared = graph(store, ada.id, "shared", true).await;

    assert!(matches!(
        store.graph(secret.id, Some(bob.id)).await,
        Err(StoreError::NotFound(Entity::Graph))
    ));
    assert!(matches!(
        store.graph(secret.id, None).await,
        Err(StoreError::NotFound(Entity::Graph))
    ));
    for viewer in [Some(bob.id), None] {
        assert!(matches!(
            store.graph_summary(secret.id, viewer).await,
            Err(StoreError::NotFound(Entity::Graph))
        ));
    }
    assert_eq!(
        store.graph_summary(secret.id, Some(ada.id)).await.unwrap(),
        secret.summary()
    );
    assert_eq!(
        store.graph_summary(shared.id, Some(bob.id)).await.unwrap(),
        shared.summary()
    );
    assert!(matches!(
        store
            .versions(secret.id, Some(bob.id), Page::default())
            .await,
        Err(StoreError::NotFound(Entity::Graph))
    ));
    assert!(matches!(
        store.version(secret.id, Some(bob.id), secret.head).await,
        Err(StoreError::NotFound(_))
    ));
    // Public graphs are readable, but only their owner changes or deletes them.
    for id in [secret.id, shared.id] {
        let change = GraphUpdate {
            author_id: bob.id,
            name: Some("mine now".to_owned()),
            document: Some(doc("hijacked", 0.0)),
            ..GraphUpdate::default()
        };
        assert!(matches!(
            store.update_graph(id, bob.id, change).await,
            Err(StoreError::NotFound(Entity::Graph))
        ));
        assert!(matches!(
            store.delete_graph(id, bob.id).await,
            Err(StoreError::NotFound(Entity::Graph))
        ));
    }
    assert_eq!(store.graph(shared.id, Some(bob.id)).await.unwrap(), shared);
    assert_eq!(store.graph(secret.id, Some(ada.id)).await.unwrap(), secret);
    let bobs_view = store
        .list_graphs(&GraphFilter {
            owner_id: Some(bob.id),
            include_public: true,
            ..GraphFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(
        bobs_view.items.iter().map(|g| g.id).collect::<Vec<_>>(),
        [shared.id]
    );
    assert_eq!(store.count_graphs(bob.id).await.unwrap(), 0);
}

pub async fn keys_usage_and_events_of_others_are_out_of_reach(db: &TestDb) {
    let store = &db.store;
    let ada = user(store, "ada").await;
    let bob = user(store, "bob").await;
    let key = store
        .create_api_key(ada.id, "ci", "ork_ada", &hash(1), None)
        .await
        .unwrap();
    assert!(store.list_api_keys(bob.id).await.unwrap().is_empty());
    assert_eq!(store.count_api_keys(bob.id).await.unwrap(), 0);
    assert!(matches!(
        store.revoke_api_key(bob.id, key.id).await,
        Err(StoreError::NotFound(Entity::ApiKey))
    ));
    assert!(matches!(
        store
            .rotate_api_key(bob.id, key.id, "ork_bob", &hash(2))
            .await,
        Err(StoreError::NotFound(Entity::ApiKey))
    ));
    assert_eq!(
        store.api_key_by_hash(&hash(1)).await.unwrap(),
        Some(key.clone())
    );

    // Usage is never booked on another account's key.
    let now = OffsetDateTime::now_utc();
    let call = UsageRecord {
        user_id: bob.id,
        api_key_id: Some(key.id),
        endpoint: "/api/graphs".to_owned(),
        method: "GET".to_owned(),
        status: 200,
        at: now,
        duration_ms: 3,
    };
    assert!(matches!(
        store.record_usage(&call).await,
        Err(StoreError::NotFound(Entity::ApiKey))
    ));
    store
        .record_usage(&UsageRecord {
            user_id: ada.id,
            ..call.clone()
        })
        .await
        .unwrap();
    let day = time::Duration::days(1);
    assert_eq!(
        store
            .count_usage(bob.id, None, now - day, now + day)
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        store
            .count_usage(bob.id, Some(key.id), now - day, now + day)
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        store
            .count_usage(ada.id, Some(key.id), now - day, now + day)
            .await
            .unwrap(),
        1
    );

    store
        .record_event(
            Some(ada.id),
            None,
            "auth.signin",
            json!({"ip": "127.0.0.1"}),
        )
        .await
        .unwrap();
    let bobs = store
        .list_events(&EventFilter {
            user_id: Some(bob.id),
            ..EventFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(bobs.total, 0);
    assert!(bobs.items.is_empty());
}

//! The account export and deleting an account.

use orrery_core::Plan;
use orrery_core::billing::{SubscriptionState, SubscriptionStatus};
use orrery_core::store::{GraphUpdate, NewEmail, UsageRecord, UserPatch};
use serde_json::json;
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use crate::cases::{doc, graph, hash, user};
use crate::harness::TestDb;

/// An account with something in every table, and a second account beside it.
async fn populated(db: &TestDb) -> (Uuid, Uuid) {
    let store = &db.store;
    let ada = user(store, "ada").await;
    let bob = user(store, "bob").await;
    store
        .update_user(
            ada.id,
            UserPatch {
                google_sub: Some("google-subject-secret".to_owned()),
                billing_customer_id: Some("cus_ada".to_owned()),
                ..UserPatch::default()
            },
        )
        .await
        .unwrap();
    let flow = graph(store, ada.id, "flow", false).await;
    store
        .update_graph(
            flow.id,
            ada.id,
            GraphUpdate {
                base: Some(flow.head),
                author_id: ada.id,
                document: Some(doc("second", 0.0)),
                ..GraphUpdate::default()
            },
        )
        .await
        .unwrap();
    graph(store, ada.id, "public flow", true).await;
    graph(store, bob.id, "bob's", false).await;
    let key = store
        .create_api_key(ada.id, "laptop", "ork_ada", &hash(0xAB), None)
        .await
        .unwrap();
    store
        .create_api_key(bob.id, "bob", "ork_bob", &hash(0xBB), None)
        .await
        .unwrap();
    let now = OffsetDateTime::now_utc();
    store
        .record_usage(&UsageRecord {
            user_id: ada.id,
            api_key_id: Some(key.id),
            endpoint: "/api/graphs".to_owned(),
            method: "POST".to_owned(),
            status: 201,
            at: now,
            duration_ms: 8,
        })
        .await
        .unwrap();
    store
        .record_event(
            Some(ada.id),
            Some(flow.id),
            "graph.created",
            json!({"name": "flow"}),
        )
        .await
        .unwrap();
    store
        .record_event(Some(bob.id), None, "auth.signin", json!({}))
        .await
        .unwrap();
    store
        .apply_subscription(
            ada.id,
            &SubscriptionState {
                subscription_id: "sub_ada".to_owned(),
                customer_id: "cus_ada".to_owned(),
                plan: Plan::Pro,
                status: SubscriptionStatus::Active,
                current_period_end: None,
                cancel_at_period_end: false,
                observed_at: now,
            },
        )
        .await
        .unwrap();
    store
        .create_refresh_token(ada.id, Uuid::now_v7(), &hash(0xCD), now + Duration::days(7))
        .await
        .unwrap();
    store
        .create_reset_token(ada.id, &hash(0xEF), now + Duration::hours(1))
        .await
        .unwrap();
    store
        .enqueue_email(
            NewEmail {
                user_id: Some(ada.id),
                to: "ada@example.com".to_owned(),
                template: "password_reset".to_owned(),
                variables: json!({"name": "Ada", "reset_url": "https://x/reset?token=live-secret"}),
                dedupe_key: None,
            },
            now,
        )
        .await
        .unwrap();
    store
        .record_webhook_event("evt_ada", "invoice.paid", now)
        .await
        .unwrap();
    (ada.id, bob.id)
}

pub async fn export_holds_the_accounts_data_and_no_secrets(db: &TestDb) {
    let store = &db.store;
    let (ada, bob) = populated(db).await;
    let export = store.export_user(ada).await.unwrap();
    assert_eq!(export["user"]["id"], json!(ada));
    assert_eq!(export["user"]["email"], "ada@example.com");
    assert_eq!(export["user"]["signs_in_with_google"], true);
    assert_eq!(export["user"]["theme"], "system");
    assert!(export["user"]["updated_at"].is_string(), "{export}");
    let graphs = export["graphs"].as_array().unwrap();
    assert_eq!(graphs.len(), 2);
    assert_eq!(graphs[0]["name"], "flow");
    assert_eq!(graphs[0]["versions"].as_array().unwrap().len(), 2);
    assert_eq!(
        graphs[0]["versions"][1]["parent"],
        graphs[0]["versions"][0]["digest"]
    );
    assert_eq!(
        graphs[0]["document"]["nodes"][1]["config"]["template"],
        "second"
    );
    assert_eq!(export["api_keys"][0]["prefix"], "ork_ada");
    assert_eq!(export["subscription"]["subscription_id"], "sub_ada");
    assert_eq!(export["usage"].as_array().unwrap().len(), 1);
    assert_eq!(export["events"].as_array().unwrap().len(), 1);
    assert_eq!(export["emails"][0]["template"], "password_reset");

    let text = export.to_string();
    for secret in [
        "$argon2id",             // password hash
        "google-subject-secret", // google subject
        "live-secret",           // a mail's variables
        "abababab",              // key hash, in any hex form
        "cdcdcdcd",              // refresh token hash
        "efefefef",              // reset token hash
        "bob",                   // the other account
    ] {
        assert!(
            !text.to_lowercase().contains(secret),
            "export holds {secret:?}"
        );
    }
    assert!(!text.contains(&bob.to_string()));
}

pub async fn deleting_a_user_cascades_to_everything_they_own(db: &TestDb) {
    let store = &db.store;
    let (ada, bob) = populated(db).await;
    let raw = db.raw().await;
    let tables = [
        "users",
        "graphs",
        "graph_versions",
        "graph_agent_refs",
        "subscriptions",
        "monitoring_logs",
        "api_keys",
        "api_key_usage",
        "refresh_tokens",
        "password_reset_tokens",
        "email_outbox",
    ];
    let mut before = Vec::new();
    for table in tables {
        before.push(raw.count(&format!("select count(*) from {table}")).await);
    }
    store.delete_user(ada).await.unwrap();
    let mut after = Vec::new();
    for table in tables {
        after.push(raw.count(&format!("select count(*) from {table}")).await);
    }
    // What is left is bob's: one user, graph, version, key and event.
    assert_eq!(
        after,
        [1, 1, 1, 0, 0, 1, 1, 0, 0, 0, 0],
        "before: {before:?}"
    );
    assert_eq!(store.count_graphs(bob).await.unwrap(), 1);
    assert_eq!(store.list_api_keys(bob).await.unwrap().len(), 1);
    // Processed webhook events are the provider's, not the account's.
    assert_eq!(
        raw.count("select count(*) from processed_webhook_events")
            .await,
        1
    );
    assert!(store.export_user(ada).await.is_err());
}

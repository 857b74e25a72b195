//! Accounts.

use orrery_core::Plan;
use orrery_core::store::{
    Constraint, Entity, NewUser, Page, Role, StoreError, UserFilter, UserPatch,
};
use orrery_store::{Backend, Store, StoreOptions};
use time::OffsetDateTime;
use time::macros::datetime;
use uuid::Uuid;

use crate::cases::user;
use crate::harness::TestDb;

pub async fn users_round_trip(db: &TestDb) {
    let store = &db.store;
    let trial = datetime!(2030-01-02 03:04:05.123456789 UTC);
    let created = store
        .create_user(NewUser {
            email: "  Ada@Example.COM ".to_owned(),
            name: "Ada".to_owned(),
            password_hash: Some("phc".to_owned()),
            google_sub: Some("google-1".to_owned()),
            role: Role::Admin,
            plan: Plan::Pro,
            trial_ends_at: Some(trial),
        })
        .await
        .unwrap();
    assert_eq!(created.email, "ada@example.com");
    assert_eq!(created.role, Role::Admin);
    assert_eq!(created.plan, Plan::Pro);
    // Both backends keep microseconds.
    assert_eq!(
        created.trial_ends_at,
        Some(datetime!(2030-01-02 03:04:05.123456 UTC))
    );
    assert_eq!(created.last_seen_at, None);

    assert_eq!(store.user(created.id).await.unwrap(), created);
    assert_eq!(
        store.user_by_email("ADA@example.com").await.unwrap(),
        Some(created.clone())
    );
    assert_eq!(store.user_by_email("bob@example.com").await.unwrap(), None);
    assert_eq!(
        store.user_by_google_sub("google-1").await.unwrap(),
        Some(created.clone())
    );
    assert_eq!(store.user_by_google_sub("google-2").await.unwrap(), None);

    let updated = store
        .update_user(
            created.id,
            UserPatch {
                name: Some("Ada L.".to_owned()),
                password_hash: Some("phc2".to_owned()),
                role: Some(Role::User),
                plan: Some(Plan::Enterprise),
                trial_ends_at: Some(None),
                billing_customer_id: Some("cus_1".to_owned()),
                ..UserPatch::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(updated.name, "Ada L.");
    assert_eq!(updated.password_hash.as_deref(), Some("phc2"));
    assert_eq!(updated.google_sub.as_deref(), Some("google-1"));
    assert_eq!(updated.role, Role::User);
    assert_eq!(updated.plan, Plan::Enterprise);
    assert_eq!(updated.trial_ends_at, None);
    assert_eq!(updated.billing_customer_id.as_deref(), Some("cus_1"));
    assert_eq!(updated.created_at, created.created_at);
    assert_eq!(store.user(created.id).await.unwrap(), updated);

    // An empty patch changes nothing and returns the account.
    assert_eq!(
        store
            .update_user(created.id, UserPatch::default())
            .await
            .unwrap(),
        updated
    );

    let seen = datetime!(2030-05-06 07:08:09.5 UTC);
    store.touch_user(created.id, seen).await.unwrap();
    assert_eq!(
        store.user(created.id).await.unwrap().last_seen_at,
        Some(seen)
    );

    store.delete_user(created.id).await.unwrap();
    assert!(matches!(
        store.user(created.id).await,
        Err(StoreError::NotFound(Entity::User))
    ));
    assert_eq!(store.user_by_email("ada@example.com").await.unwrap(), None);
}

pub async fn users_are_listed_searched_and_paged_stably(db: &TestDb) {
    let store = &db.store;
    let mut ids = Vec::new();
    for i in 0..7 {
        let u = user(store, &format!("member{i}")).await;
        ids.push(u.id);
    }
    let pro = user(store, "prolific").await;
    store
        .update_user(
            pro.id,
            UserPatch {
                plan: Some(Plan::Pro),
                trial_ends_at: Some(Some(datetime!(2031-01-10 00:00 UTC))),
                ..UserPatch::default()
            },
        )
        .await
        .unwrap();

    // Pages of 3 cover every account once, newest first.
    let mut seen = Vec::new();
    for page in 1..=3 {
        let listed = store
            .list_users(&UserFilter {
                page: Page { page, limit: 3 },
                ..UserFilter::default()
            })
            .await
            .unwrap();
        assert_eq!(listed.total, 8);
        seen.extend(listed.items.iter().map(|u| u.id));
    }
    let mut expected = ids.clone();
    expected.push(pro.id);
    expected.reverse();
    assert_eq!(seen, expected);

    // Search is a case-insensitive substring of email or name; `%` and `_` are literal.
    let found = store
        .list_users(&UserFilter {
            search: Some("MEMBER1".to_owned()),
            ..UserFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(found.total, 1);
    assert_eq!(found.items[0].id, ids[1]);
    let found = store
        .list_users(&UserFilter {
            search: Some("member_".to_owned()),
            ..UserFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(found.total, 0);
    let found = store
        .list_users(&UserFilter {
            search: Some("example.com".to_owned()),
            plan: Some(Plan::Pro),
            ..UserFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(
        found.items.iter().map(|u| u.id).collect::<Vec<_>>(),
        [pro.id]
    );
    let trials = store
        .list_users(&UserFilter {
            trial_ends_between: Some((
                datetime!(2031-01-01 00:00 UTC),
                datetime!(2031-02-01 00:00 UTC),
            )),
            ..UserFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(
        trials.items.iter().map(|u| u.id).collect::<Vec<_>>(),
        [pro.id]
    );
    let none = store
        .list_users(&UserFilter {
            trial_ends_between: Some((
                datetime!(2031-01-10 00:00:00.000001 UTC),
                datetime!(2031-02-01 00:00 UTC),
            )),
            ..UserFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(none.total, 0);
}

pub async fn users_are_filtered_by_activity_and_creation_time(db: &TestDb) {
    let store = &db.store;
    let before = OffsetDateTime::now_utc();
    let quiet = user(store, "quiet").await;
    let busy = user(store, "busy").await;
    let after = OffsetDateTime::now_utc() + time::Duration::seconds(1);
    store
        .touch_user(busy.id, datetime!(2031-03-01 12:00 UTC))
        .await
        .unwrap();
    store
        .touch_user(quiet.id, datetime!(2031-01-01 12:00 UTC))
        .await
        .unwrap();
    let active = store
        .list_users(&UserFilter {
            active_since: Some(datetime!(2031-03-01 12:00 UTC)),
            ..UserFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(
        active.items.iter().map(|u| u.id).collect::<Vec<_>>(),
        [busy.id]
    );
    let created = store
        .list_users(&UserFilter {
            created_between: Some((before, after)),
            ..UserFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(created.total, 2);
    let earlier = store
        .list_users(&UserFilter {
            created_between: Some((before - time::Duration::days(30), before)),
            ..UserFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(earlier.total, 0);
}

pub async fn taken_email_google_account_or_customer_is_a_conflict(db: &TestDb) {
    let store = &db.store;
    let ada = user(store, "ada").await;
    let again = NewUser {
        email: "ADA@example.com".to_owned(),
        name: "Other Ada".to_owned(),
        password_hash: None,
        google_sub: None,
        role: Role::User,
        plan: Plan::Free,
        trial_ends_at: None,
    };
    assert!(matches!(
        store.create_user(again.clone()).await,
        Err(StoreError::Conflict(Constraint::Email))
    ));
    store
        .update_user(
            ada.id,
            UserPatch {
                google_sub: Some("g-ada".to_owned()),
                billing_customer_id: Some("cus_ada".to_owned()),
                ..UserPatch::default()
            },
        )
        .await
        .unwrap();
    assert!(matches!(
        store
            .create_user(NewUser {
                email: "ada2@example.com".to_owned(),
                google_sub: Some("g-ada".to_owned()),
                ..again.clone()
            })
            .await,
        Err(StoreError::Conflict(Constraint::GoogleAccount))
    ));
    let bob = user(store, "bob").await;
    assert!(matches!(
        store
            .update_user(
                bob.id,
                UserPatch {
                    billing_customer_id: Some("cus_ada".to_owned()),
                    ..UserPatch::default()
                }
            )
            .await,
        Err(StoreError::Conflict(Constraint::BillingCustomer))
    ));
}

pub async fn bad_user_input_is_a_typed_error(db: &TestDb) {
    let store = &db.store;
    let good = NewUser {
        email: "ok@example.com".to_owned(),
        name: "Ok".to_owned(),
        password_hash: None,
        google_sub: None,
        role: Role::User,
        plan: Plan::Free,
        trial_ends_at: None,
    };
    let cases = [
        (
            NewUser {
                name: " ".to_owned(),
                ..good.clone()
            },
            "invalid",
        ),
        (
            NewUser {
                name: "x".repeat(201),
                ..good.clone()
            },
            "limit",
        ),
        (
            NewUser {
                name: "nul\0".to_owned(),
                ..good.clone()
            },
            "invalid",
        ),
        (
            NewUser {
                email: "not an address".to_owned(),
                ..good.clone()
            },
            "invalid",
        ),
        (
            NewUser {
                email: String::new(),
                ..good.clone()
            },
            "invalid",
        ),
        (
            NewUser {
                email: format!("{}@example.com", "a".repeat(400)),
                ..good.clone()
            },
            "limit",
        ),
    ];
    for (input, expected) in cases {
        let got = store.create_user(input.clone()).await;
        let kind = match &got {
            Err(StoreError::Invalid(_)) => "invalid",
            Err(StoreError::Limit(_)) => "limit",
            other => panic!("{input:?}: unexpected {other:?}"),
        };
        assert_eq!(kind, expected, "{input:?}");
    }
    assert_eq!(
        store
            .list_users(&UserFilter::default())
            .await
            .unwrap()
            .total,
        0
    );
    let ok = store.create_user(good).await.unwrap();
    assert!(matches!(
        store
            .update_user(
                ok.id,
                UserPatch {
                    name: Some(String::new()),
                    ..UserPatch::default()
                }
            )
            .await,
        Err(StoreError::Invalid(_))
    ));
}

pub async fn missing_users_are_not_found(db: &TestDb) {
    let store = &db.store;
    let nobody = Uuid::now_v7();
    assert!(matches!(
        store.user(nobody).await,
        Err(StoreError::NotFound(Entity::User))
    ));
    assert!(matches!(
        store.update_user(nobody, UserPatch::default()).await,
        Err(StoreError::NotFound(Entity::User))
    ));
    assert!(matches!(
        store
            .touch_user(nobody, time::OffsetDateTime::now_utc())
            .await,
        Err(StoreError::NotFound(Entity::User))
    ));
    assert!(matches!(
        store.delete_user(nobody).await,
        Err(StoreError::NotFound(Entity::User))
    ));
    assert!(matches!(
        store.export_user(nobody).await,
        Err(StoreError::NotFound(Entity::User))
    ));
}

pub async fn store_answers_pings_and_migrations_run_once(db: &TestDb) {
    db.store.ping().await.unwrap();
    let ada = user(&db.store, "ada").await;
    // Connecting again finds the migrations applied and the data in place.
    let again = db.reopen(StoreOptions::default()).await;
    assert_eq!(again.backend(), db.backend());
    assert_eq!(again.user(ada.id).await.unwrap(), ada);
    again.migrate().await.unwrap();
    again.close().await;
    // A closed pool is a database out of reach, like one whose connections all time out: worth
    // a retry, not a bug (the memory store has nothing to close).
    if again.backend() != Backend::Memory {
        assert!(matches!(
            again.ping().await,
            Err(StoreError::Unavailable(_))
        ));
    }
    assert!(matches!(
        Store::connect("mysql://nope", StoreOptions::default()).await,
        Err(StoreError::Invalid(_))
    ));
}

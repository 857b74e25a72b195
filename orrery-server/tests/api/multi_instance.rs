//! Two server instances on one PostgreSQL and one Redis share rate limits, caches and key
//! revocations. Needs ORRERY_TEST_REDIS_URL and ORRERY_TEST_POSTGRES_URL (the test command
//! starts both); outside CI it is skipped without them.

use reqwest::Method;
use secrecy::SecretString;
use serde_json::json;

use crate::helpers::{Backend, skip_postgres, small_graph, spawn_app_with, spawn_instance};

fn redis_url() -> Option<String> {
    match std::env::var("ORRERY_TEST_REDIS_URL") {
        Ok(url) => Some(url),
        Err(_) => {
            assert!(
                std::env::var("CI").is_err(),
                "CI is set but ORRERY_TEST_REDIS_URL is not"
            );
            eprintln!(
                "SKIPPED: multi-instance test (set ORRERY_TEST_REDIS_URL, or run scripts/test-all)"
            );
            None
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_share_limits_caches_and_revocations() {
    if skip_postgres() {
        return;
    }
    let Some(redis) = redis_url() else { return };
    // A fresh Redis database number per run keeps reruns apart.
    let a = spawn_app_with(Backend::Postgres, |s| {
        s.redis_url = SecretString::from(redis.clone());
        s.trial_days = 0;
    })
    .await;
    let b = spawn_instance(&a.database_url, |s| {
        s.redis_url = SecretString::from(redis.clone());
        s.trial_days = 0;
    })
    .await;
    let user = a.signed_up_user().await;
    // A layout computed on A is served from the shared cache on B.
    let id = a.create_graph(&user, "Shared", small_graph()).await.body["graph"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let seed = rand_seed();
    let on_a = a
        .get(&format!("/api/graphs/{id}/layout?seed={seed}"), &user.token)
        .await;
    assert_eq!(on_a.headers["x-cache"], "miss");
    let on_b = b
        .get(&format!("/api/graphs/{id}/layout?seed={seed}"), &user.token)
        .await;
    assert_eq!(on_b.headers["x-cache"], "hit");
    assert_eq!(on_a.body["positions"], on_b.body["positions"]);
    // A key revoked on A stops working on B at once, although B had it cached.
    let key = a
        .post("/api/keys", &user.token, json!({"name": "k"}))
        .await
        .body
        .clone();
    let secret = key["secret"].as_str().unwrap();
    b.get("/api/auth/me", secret).await.ok(200);
    a.call(
        Method::DELETE,
        &format!("/api/keys/{}", key["key"]["id"].as_str().unwrap()),
        Some(&user.token),
        None,
    )
    .await
    .ok(200);
    b.get("/api/auth/me", secret)
        .await
        .problem(401, "unauthorized");
    // The free plan's 60 requests a minute are counted across both instances.
    let other = a.signed_up_user().await;
    let mut statuses = Vec::new();
    for i in 0..70 {
        let app = if i % 2 == 0 { &a } else { &b };
        statuses.push(app.get("/api/auth/me", &other.token).await.status.as_u16());
    }
    let ok = statuses.iter().filter(|s| **s == 200).count();
    assert!(
        (55..=60).contains(&ok),
        "about 60 of 70 requests pass, whichever instance gets them: {statuses:?}"
    );
    assert!(statuses.contains(&429));
}

fn rand_seed() -> u64 {
    uuid::Uuid::new_v4().as_u128() as u64 >> 12
}

//! Two server instances on one PostgreSQL and one Redis share rate limits, caches and key
//! revocations; a Redis outage neither fails nor holds up requests. Needs
//! ORRERY_TEST_REDIS_URL and ORRERY_TEST_POSTGRES_URL (the test command starts both); outside
//! CI it is skipped without them. The outage test runs a `redis-server` of its own (the one the
//! test command installs), to stop and start again.

use std::time::{Duration, Instant};

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_outage_neither_fails_nor_stalls_requests_and_redis_is_used_again_after() {
    if redis_url().is_none() {
        return;
    }
    let mut redis = OwnRedis::start();
    let app = spawn_app_with(Backend::Sqlite, |s| {
        s.redis_url = SecretString::from(redis.url());
        s.limits_scale = 100;
    })
    .await;
    let user = app.signed_up_user().await;
    app.get("/api/auth/me", &user.token).await.ok(200);

    redis.stop();
    // Each request checks a rate limit, a quota and the account cache in Redis. The crate's
    // reconnection backoff held each for seconds (up to 6.3 s); now each waits 200 ms at most,
    // and none after the first while the breaker is open. 1 s leaves room for a loaded machine.
    let mut slowest = Duration::ZERO;
    for _ in 0..8 {
        let started = Instant::now();
        app.get("/api/auth/me", &user.token).await.ok(200);
        slowest = slowest.max(started.elapsed());
    }
    assert!(
        slowest < Duration::from_secs(1),
        "a request took {slowest:?} while Redis was down"
    );
    app.post(
        "/api/keys",
        &user.token,
        json!({"name": "during the outage"}),
    )
    .await
    .ok(201);

    // Back (empty, on the same port): the counters of new requests appear in it again.
    redis.start_again();
    let client = redis::Client::open(redis.url()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let started = Instant::now();
        app.get("/api/auth/me", &user.token).await.ok(200);
        assert!(started.elapsed() < Duration::from_secs(1));
        let keys: Vec<String> = redis::cmd("KEYS")
            .arg("orrery:*")
            .query_async(&mut conn)
            .await
            .unwrap();
        if !keys.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "Redis is not used again 10 s after it came back"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// A `redis-server` of one test's own, without persistence, on a fixed loopback port.
struct OwnRedis {
    port: u16,
    child: Option<std::process::Child>,
}

impl OwnRedis {
    fn start() -> OwnRedis {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let mut redis = OwnRedis { port, child: None };
        redis.start_again();
        redis
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    fn start_again(&mut self) {
        let child = std::process::Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("redis-server runs (scripts/lib/redis.sh installs it)");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(Instant::now() < deadline, "redis-server did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for OwnRedis {
    fn drop(&mut self) {
        self.stop();
    }
}

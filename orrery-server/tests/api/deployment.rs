//! Running behind proxies and beside monitoring: forwarded client addresses are believed only
//! from trusted proxies, and `/metrics` can move to an address of its own or require a token.

use reqwest::Method;

use crate::both;
use crate::helpers::{Backend, TestApp, spawn_app_with};

both!(
    a_spoofed_x_forwarded_for_from_an_untrusted_peer_does_not_change_the_rate_limit_bucket,
    x_forwarded_for_from_a_trusted_proxy_picks_the_rate_limit_bucket,
    forwarded_from_a_trusted_proxy_picks_the_rate_limit_bucket,
    malformed_forwarding_headers_are_ignored_not_errors,
    metrics_can_require_a_bearer_token,
    metrics_can_be_served_only_on_their_own_address,
);

/// The statuses of anonymous calls, each with `header: value`.
async fn anonymous_calls(app: &TestApp, header: &str, values: &[&str]) -> Vec<u16> {
    let mut statuses = Vec::new();
    for value in values {
        let req = app
            .request(Method::GET, "/api/agents")
            .header(header, *value);
        statuses.push(app.send(req).await.status.as_u16());
    }
    statuses
}

async fn a_spoofed_x_forwarded_for_from_an_untrusted_peer_does_not_change_the_rate_limit_bucket(
    backend: Backend,
) {
    // No trusted proxies: the test client (127.0.0.1) is the client, whatever it claims.
    let app = spawn_app_with(backend, |s| s.anonymous_requests_per_minute = 3).await;
    let statuses = anonymous_calls(
        &app,
        "x-forwarded-for",
        &[
            "198.51.100.1",
            "198.51.100.2",
            "198.51.100.3",
            "198.51.100.4",
        ],
    )
    .await;
    assert_eq!(statuses, [200, 200, 200, 429]);
    // Trusting another network changes nothing for a peer outside it.
    let app = spawn_app_with(backend, |s| {
        s.anonymous_requests_per_minute = 3;
        s.trusted_proxies = vec!["10.0.0.0/8".parse().unwrap()];
    })
    .await;
    let statuses = anonymous_calls(
        &app,
        "x-forwarded-for",
        &[
            "198.51.100.1",
            "198.51.100.2",
            "198.51.100.3",
            "198.51.100.4",
        ],
    )
    .await;
    assert_eq!(statuses, [200, 200, 200, 429]);
}

async fn x_forwarded_for_from_a_trusted_proxy_picks_the_rate_limit_bucket(backend: Backend) {
    let app = spawn_app_with(backend, |s| {
        s.anonymous_requests_per_minute = 3;
        s.auth_requests_per_minute = 2;
        s.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
    })
    .await;
    // Each forwarded client has a bucket of its own…
    let statuses = anonymous_calls(
        &app,
        "x-forwarded-for",
        &[
            "198.51.100.1",
            "198.51.100.2",
            "198.51.100.3",
            "198.51.100.4",
        ],
    )
    .await;
    assert_eq!(statuses, [200, 200, 200, 200]);
    // …which fills like anyone's; what a client writes left of the proxy's entry is its own
    // claim and does not count.
    let statuses = anonymous_calls(
        &app,
        "x-forwarded-for",
        &[
            "198.51.100.9",
            "1.1.1.1, 198.51.100.9",
            "2.2.2.2, 198.51.100.9",
            "3.3.3.3, 198.51.100.9",
        ],
    )
    .await;
    assert_eq!(statuses, [200, 200, 200, 429]);
    // Sign-in attempts are limited per forwarded client too.
    let mut statuses = Vec::new();
    for client in [
        "198.51.100.20",
        "198.51.100.20",
        "198.51.100.20",
        "198.51.100.21",
    ] {
        let req = app
            .request(Method::POST, "/api/auth/signin")
            .header("x-forwarded-for", client)
            .json(&serde_json::json!({"email": "a@example.com", "password": "whatever1"}));
        statuses.push(app.send(req).await.status.as_u16());
    }
    assert_eq!(statuses, [401, 401, 429, 401]);
}

async fn forwarded_from_a_trusted_proxy_picks_the_rate_limit_bucket(backend: Backend) {
    let app = spawn_app_with(backend, |s| {
        s.anonymous_requests_per_minute = 2;
        s.trusted_proxies = vec!["127.0.0.1".parse().unwrap()];
        s.trusted_proxy_header = orrery_server::settings::ProxyHeader::Forwarded;
    })
    .await;
    let statuses = anonymous_calls(
        &app,
        "forwarded",
        &[
            "for=198.51.100.1",
            r#"for="[2001:db8::1]:4711";proto=https"#,
            "for=198.51.100.1",
            "for=198.51.100.1",
        ],
    )
    .await;
    assert_eq!(statuses, [200, 200, 200, 429]);
    // The other header is not read: a client could send it through a proxy that ignores it.
    let statuses = anonymous_calls(
        &app,
        "x-forwarded-for",
        &["198.51.100.5", "198.51.100.6", "198.51.100.7"],
    )
    .await;
    assert_eq!(statuses, [200, 200, 429]);
}

async fn malformed_forwarding_headers_are_ignored_not_errors(backend: Backend) {
    let app = spawn_app_with(backend, |s| {
        s.anonymous_requests_per_minute = 4;
        s.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
    })
    .await;
    // Every malformed header falls back to the peer, so they share its bucket.
    let statuses = anonymous_calls(
        &app,
        "x-forwarded-for",
        &[
            "not an address",
            "198.51.100.1,,198.51.100.2",
            "",
            "198.51.100.1:port",
            "999.1.1.1",
        ],
    )
    .await;
    assert_eq!(statuses, [200, 200, 200, 200, 429]);
    let app = spawn_app_with(backend, |s| {
        s.anonymous_requests_per_minute = 2;
        s.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
        s.trusted_proxy_header = orrery_server::settings::ProxyHeader::Forwarded;
    })
    .await;
    let statuses = anonymous_calls(
        &app,
        "forwarded",
        &["for=[2001:db8::1", "proto=https", r#"for="198.51.100.1"#],
    )
    .await;
    assert_eq!(statuses, [200, 200, 429]);
}

async fn metrics_can_require_a_bearer_token(backend: Backend) {
    let app = spawn_app_with(backend, |s| {
        s.metrics_token = "scrape-me-please".to_owned().into();
    })
    .await;
    app.call(Method::GET, "/metrics", None, None)
        .await
        .problem(401, "unauthorized");
    app.call(Method::GET, "/metrics", Some("wrong-token"), None)
        .await
        .problem(401, "unauthorized");
    let metrics = app
        .call(Method::GET, "/metrics", Some("scrape-me-please"), None)
        .await;
    assert_eq!(metrics.status, 200);
    assert!(String::from_utf8_lossy(&metrics.bytes).contains("orrery_uptime_seconds"));
}

async fn metrics_can_be_served_only_on_their_own_address(backend: Backend) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let app = spawn_app_with(backend, |s| {
        s.metrics_bind = format!("127.0.0.1:{port}");
        s.metrics_token = "scrape-me-please".to_owned().into();
    })
    .await;
    app.call(Method::GET, "/metrics", Some("scrape-me-please"), None)
        .await
        .problem(404, "not-found");
    let client = reqwest::Client::new();
    let url = format!("http://127.0.0.1:{port}/metrics");
    let refused = client.get(&url).send().await.unwrap();
    assert_eq!(refused.status(), 401);
    let metrics = client
        .get(&url)
        .bearer_auth("scrape-me-please")
        .send()
        .await
        .unwrap();
    assert_eq!(metrics.status(), 200);
    assert!(
        metrics
            .text()
            .await
            .unwrap()
            .contains("orrery_uptime_seconds")
    );
    // Nothing else is served there.
    let other = client
        .get(format!("http://127.0.0.1:{port}/api/agents"))
        .send()
        .await
        .unwrap();
    assert_eq!(other.status(), 404);
}

/// What a tracing subscriber writes, kept for the test to read.
#[derive(Clone, Default)]
struct Captured(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

// One thread, so that the subscriber set for this test sees the server's tasks too.
#[tokio::test(flavor = "current_thread")]
async fn client_errors_are_logged_below_error() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_env_filter("info,sqlx=warn")
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let _default = tracing::subscriber::set_default(subscriber);
    let app = spawn_app_with(Backend::Sqlite, |_| {}).await;
    let user = app.signed_up_user().await;
    let missing = format!("/api/graphs/{}", uuid::Uuid::new_v4());
    app.get(&missing, &user.token)
        .await
        .problem(404, "not-found");
    app.get("/api/graphs", "not-a-token")
        .await
        .problem(401, "unauthorized");
    app.post("/api/graphs", &user.token, serde_json::json!({"name": 3}))
        .await
        .problem(422, "invalid-body");
    let log = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    let errors: Vec<&str> = log.lines().filter(|l| l.contains(" ERROR ")).collect();
    assert!(errors.is_empty(), "4xx logged as errors: {errors:#?}");
    assert!(
        log.lines()
            .any(|l| l.contains(" INFO ") && l.contains("error=graph not found")),
        "a refused request is still logged: {log}"
    );
}

/// `ORRERY_TEST_POSTGRES_TLS_URL` with a fresh database of its own, and the two CA files, when
/// the test command started PostgreSQL with TLS on.
async fn tls_database() -> Option<(String, String, String)> {
    let Ok(tls_url) = std::env::var("ORRERY_TEST_POSTGRES_TLS_URL") else {
        eprintln!(
            "SKIPPED: PostgreSQL with TLS (set ORRERY_TEST_POSTGRES_TLS_URL and its CAs, or run scripts/test-all)"
        );
        return None;
    };
    let ca = std::env::var("ORRERY_TEST_POSTGRES_TLS_CA").expect("ORRERY_TEST_POSTGRES_TLS_CA");
    let wrong_ca = std::env::var("ORRERY_TEST_POSTGRES_TLS_WRONG_CA")
        .expect("ORRERY_TEST_POSTGRES_TLS_WRONG_CA");
    // A database of its own, made over the plain URL; the same server answers both.
    let dir = tempfile::tempdir().unwrap();
    let plain = crate::helpers::database_url(Backend::Postgres, dir.path()).await;
    let name = plain.rsplit_once('/').unwrap().1.to_owned();
    let base = tls_url.rsplit_once('/').unwrap().0.to_owned();
    Some((format!("{base}/{name}"), ca, wrong_ca))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_runs_on_postgresql_over_verified_tls() {
    use sqlx::Connection as _;
    let Some((url, ca, _)) = tls_database().await else {
        return;
    };
    let verified = format!("{url}?sslmode=verify-full&sslrootcert={ca}");
    // The connection is encrypted, as the server itself says.
    let mut connection = sqlx::PgConnection::connect(&verified).await.unwrap();
    let ssl: bool = sqlx::query_scalar("select ssl from pg_stat_ssl where pid = pg_backend_pid()")
        .fetch_one(&mut connection)
        .await
        .unwrap();
    assert!(ssl, "the connection uses TLS");
    connection.close().await.unwrap();
    let app = crate::helpers::spawn_instance(&verified, |_| {}).await;
    let user = app.signed_up_user().await;
    app.create_graph(&user, "over tls", crate::helpers::small_graph())
        .await
        .ok(201);
    assert_eq!(
        app.call(Method::GET, "/readyz", None, None).await.ok(200)["database"],
        true
    );
    // require encrypts without checking the certificate, as libpq does without a root cert.
    let required = format!("{url}?sslmode=require");
    sqlx::PgConnection::connect(&required)
        .await
        .unwrap()
        .close()
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_postgresql_certificate_from_another_ca_is_refused_clearly() {
    let Some((url, _, wrong_ca)) = tls_database().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let mut settings = crate::helpers::test_settings(
        dir.path(),
        &format!("{url}?sslmode=verify-full&sslrootcert={wrong_ca}"),
    );
    settings.database_max_connections = 1;
    let error = orrery_server::startup::Application::build(settings)
        .await
        .expect_err("an unverifiable server is refused");
    let message = format!("{error:#}");
    assert!(
        message.contains("cannot open the database") && message.contains("postgres://"),
        "{message}"
    );
    assert!(
        message.to_lowercase().contains("certificate"),
        "the cause names the certificate: {message}"
    );
}

/// A `redis-server` speaking only TLS, with the test command's throwaway certificates (the ones
/// PostgreSQL uses: `server.crt` for localhost and 127.0.0.1, signed by `ca.crt`).
struct TlsRedis {
    port: u16,
    child: std::process::Child,
}

impl TlsRedis {
    fn start(tls_dir: &std::path::Path) -> TlsRedis {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let file = |name: &str| tls_dir.join(name).display().to_string();
        let child = std::process::Command::new("redis-server")
            .args([
                "--port",
                "0",
                "--tls-port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
            ])
            .args(["--tls-cert-file", &file("server.crt")])
            .args(["--tls-key-file", &file("server.key")])
            .args(["--tls-ca-cert-file", &file("ca.crt")])
            .args([
                "--tls-auth-clients",
                "no",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("redis-server runs (scripts/lib/redis.sh installs it)");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                std::time::Instant::now() < deadline,
                "redis-server with TLS did not start"
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        TlsRedis { port, child }
    }
}

impl Drop for TlsRedis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_over_tls_is_verified_against_the_configured_ca() {
    let Ok(ca) = std::env::var("ORRERY_TEST_POSTGRES_TLS_CA") else {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI is set but ORRERY_TEST_POSTGRES_TLS_CA is not"
        );
        eprintln!("SKIPPED: Redis with TLS (needs the test command's TLS material)");
        return;
    };
    let wrong_ca = std::env::var("ORRERY_TEST_POSTGRES_TLS_WRONG_CA")
        .expect("ORRERY_TEST_POSTGRES_TLS_WRONG_CA");
    let tls_dir = std::path::Path::new(&ca).parent().unwrap().to_owned();
    let redis = TlsRedis::start(&tls_dir);
    let url = format!("rediss://localhost:{}/", redis.port);
    // A certificate from another CA, or plain text to a TLS port, is refused at start.
    let wrong = std::fs::read(&wrong_ca).unwrap();
    let refused = orrery_server::shared::Shared::redis_with_ca(&url, Some(wrong)).await;
    assert!(
        refused.is_err(),
        "a server certificate from another CA is refused"
    );
    let plain = format!("redis://localhost:{}/", redis.port);
    assert!(orrery_server::shared::Shared::redis(&plain).await.is_err());
    // With the right CA the server shares its limits through it.
    let app = spawn_app_with(Backend::Sqlite, |s| {
        s.redis_url = secrecy::SecretString::from(url.clone());
        s.redis_ca_file = ca.clone();
    })
    .await;
    let user = app.signed_up_user().await;
    app.get("/api/auth/me", &user.token).await.ok(200);
    let shared =
        orrery_server::shared::Shared::redis_with_ca(&url, Some(std::fs::read(&ca).unwrap()))
            .await
            .expect("the test connects with the right CA");
    assert!(shared.ping().await, "Redis answers over TLS");
    let reply = app.get("/api/auth/me", &user.token).await;
    let state = reply.headers["ratelimit"].to_str().unwrap().to_owned();
    assert!(state.starts_with(r#""minute";r="#), "{state}");
}

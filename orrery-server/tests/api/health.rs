//! Health, readiness, metrics, the OpenAPI document and docs page, the web console, and the
//! headers every response carries.

use reqwest::Method;

use crate::both;
use crate::helpers::{Backend, spawn_app, spawn_app_with};

both!(
    health_readiness_and_metrics_answer,
    every_route_is_in_the_openapi_document,
    responses_carry_security_headers_and_request_ids,
    cors_allows_only_listed_origins,
    the_console_answers_every_page_and_caches_only_hashed_files
);

async fn health_readiness_and_metrics_answer(backend: Backend) {
    let app = spawn_app(backend).await;
    assert_eq!(
        app.call(Method::GET, "/healthz", None, None).await.ok(200)["status"],
        "ok"
    );
    assert_eq!(
        app.call(Method::GET, "/readyz", None, None).await.ok(200)["database"],
        true
    );
    app.call(Method::GET, "/api/agents", None, None)
        .await
        .ok(200);
    let metrics = app.call(Method::GET, "/metrics", None, None).await;
    let text = String::from_utf8(metrics.bytes).unwrap();
    assert!(
        text.contains(
            "orrery_http_requests_total{method=\"GET\",route=\"/api/agents\",status=\"200\"} 1"
        ),
        "{text}"
    );
    assert!(text.contains("orrery_uptime_seconds"));
    app.call(Method::GET, "/api/no/such/route", None, None)
        .await
        .problem(404, "not-found");
}

async fn every_route_is_in_the_openapi_document(backend: Backend) {
    let app = spawn_app(backend).await;
    let doc = app.call(Method::GET, "/openapi.json", None, None).await;
    let paths = doc.ok(200)["paths"].as_object().unwrap().clone();
    for (path, methods) in [
        ("/api/auth/signup", &["post"][..]),
        ("/api/auth/signin", &["post"]),
        ("/api/auth/google", &["post"]),
        ("/api/auth/refresh", &["post"]),
        ("/api/auth/signout", &["post"]),
        ("/api/auth/password-reset", &["post"]),
        ("/api/auth/password-reset/confirm", &["post"]),
        ("/api/auth/me", &["get"]),
        ("/api/keys", &["get", "post"]),
        ("/api/keys/{id}", &["delete"]),
        ("/api/keys/{id}/rotate", &["post"]),
        ("/api/graphs", &["get", "post"]),
        ("/api/graphs/validate", &["post"]),
        ("/api/graphs/{id}", &["get", "put", "delete"]),
        ("/api/graphs/{id}/clone", &["post"]),
        ("/api/graphs/{id}/versions", &["get"]),
        ("/api/graphs/{id}/versions/{version}", &["get"]),
        ("/api/graphs/{id}/diff", &["get"]),
        ("/api/graphs/{id}/layout", &["get"]),
        ("/api/graphs/{id}/thumbnail.png", &["get"]),
        ("/api/agents", &["get"]),
        ("/api/agents/{agent_id}", &["get"]),
        ("/api/agents/{agent_id}/callers", &["get"]),
        ("/api/agents/{agent_id}/check", &["post"]),
        ("/api/usage", &["get"]),
        ("/api/usage/history", &["get"]),
        ("/api/events", &["get"]),
        ("/api/admin/users", &["get"]),
        ("/api/admin/users/{id}", &["put"]),
        ("/api/admin/users/{id}/export", &["get"]),
        ("/api/admin/admins", &["post"]),
        ("/api/admin/stats", &["get"]),
        ("/api/admin/health", &["get"]),
        ("/api/admin/email-templates", &["get"]),
        ("/api/admin/email-templates/{name}", &["get", "put"]),
        ("/api/billing/create-checkout", &["post"]),
        ("/api/billing/portal", &["post"]),
        ("/api/billing/subscription", &["get"]),
        ("/api/billing/change-plan", &["post"]),
        ("/api/billing/cancel", &["post"]),
        ("/api/billing/resume", &["post"]),
        ("/api/billing/webhook", &["post"]),
    ] {
        for method in methods {
            assert!(
                paths.get(path).and_then(|p| p.get(*method)).is_some(),
                "{method} {path} is missing from /openapi.json"
            );
        }
    }
    let page = app.call(Method::GET, "/docs", None, None).await;
    assert_eq!(page.status, 200);
    assert!(
        String::from_utf8_lossy(&page.bytes).contains("openapi"),
        "the docs page embeds the document"
    );
}

async fn responses_carry_security_headers_and_request_ids(backend: Backend) {
    let app = spawn_app(backend).await;
    let reply = app.call(Method::GET, "/healthz", None, None).await;
    for (header, value) in [
        ("x-content-type-options", "nosniff"),
        ("x-frame-options", "DENY"),
        (
            "content-security-policy",
            "default-src 'none'; frame-ancestors 'none'",
        ),
    ] {
        assert_eq!(reply.headers[header], value);
    }
    assert!(
        reply.headers.get("strict-transport-security").is_none(),
        "no HSTS without TLS"
    );
    assert!(uuid::Uuid::parse_str(reply.headers["x-request-id"].to_str().unwrap()).is_ok());
    let echoed = app
        .send(
            app.request(Method::GET, "/healthz")
                .header("x-request-id", "trace-me-123"),
        )
        .await;
    assert_eq!(echoed.headers["x-request-id"], "trace-me-123");
    let tls = spawn_app_with(backend, |s| s.behind_tls = true).await;
    let reply = tls.call(Method::GET, "/healthz", None, None).await;
    assert!(
        reply.headers["strict-transport-security"]
            .to_str()
            .unwrap()
            .starts_with("max-age=")
    );
}

async fn cors_allows_only_listed_origins(backend: Backend) {
    let app = spawn_app_with(backend, |s| {
        s.cors_origins = vec!["https://app.orrery.dev".into()]
    })
    .await;
    let preflight = |origin: &'static str| {
        app.request(Method::OPTIONS, "/api/graphs")
            .header("origin", origin)
            .header("access-control-request-method", "POST")
    };
    let allowed = app.send(preflight("https://app.orrery.dev")).await;
    assert_eq!(
        allowed.headers["access-control-allow-origin"],
        "https://app.orrery.dev"
    );
    let other = app.send(preflight("https://evil.example")).await;
    assert!(other.headers.get("access-control-allow-origin").is_none());
}

async fn the_console_answers_every_page_and_caches_only_hashed_files(backend: Backend) {
    let app = spawn_app(backend).await;
    let home = app.call(Method::GET, "/", None, None).await;
    assert_eq!(home.status, 200);
    let html = String::from_utf8(home.bytes.clone()).unwrap();
    if html.contains("without its web console") {
        // Built with ORRERY_SKIP_CONSOLE=1: the page says how to get it, and that is all.
        assert!(html.contains("Node.js"), "{html}");
        return;
    }
    let csp = home.headers["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("script-src 'self';"), "{csp}");
    assert!(
        !csp.contains("unsafe-inline") && !csp.contains("http"),
        "{csp}"
    );
    assert_eq!(home.headers["cache-control"], "no-cache");
    assert!(
        home.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );

    // Deep links answer the app itself, so a reload works.
    for page in [
        "/graphs/7b1e0d7e-1f4e-4a9e-9a51-0c2b1d3e4f50",
        "/reset-password?token=x",
        "/confirm-email?token=x",
        "/billing",
    ] {
        let reply = app.call(Method::GET, page, None, None).await;
        assert_eq!(reply.status, 200, "{page}");
        assert_eq!(reply.bytes, home.bytes, "{page}");
    }
    let etag = home.headers["etag"].clone();
    let again = app
        .send(
            app.request(Method::GET, "/signin")
                .header("if-none-match", etag),
        )
        .await;
    assert_eq!(again.status, 304);

    // Hashed files are cached for a year, with their type.
    let script = html
        .split('"')
        .find(|s| s.starts_with("/assets/") && s.ends_with(".js"))
        .expect("index.html names its script");
    let reply = app.call(Method::GET, script, None, None).await;
    assert_eq!(reply.status, 200);
    assert_eq!(
        reply.headers["cache-control"],
        "public, max-age=31536000, immutable"
    );
    assert!(
        reply.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/javascript")
    );
    let missing = app
        .call(Method::GET, "/assets/missing-0000.js", None, None)
        .await;
    assert_eq!(missing.status, 404);

    // The API keeps its own answers.
    app.call(Method::POST, "/graphs", None, None)
        .await
        .problem(404, "not-found");
    let docs = app.call(Method::GET, "/docs", None, None).await;
    let csp = docs.headers["content-security-policy"].to_str().unwrap();
    assert!(
        !csp.contains("http"),
        "the reference loads nothing from elsewhere: {csp}"
    );
}

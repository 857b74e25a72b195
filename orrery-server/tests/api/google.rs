//! Google sign-in against a local provider: the server checks the ID token's signature against
//! the provider's JWKS, and its issuer, audience and expiry.

use jsonwebtoken::{EncodingKey, Header};
use reqwest::Method;
use serde_json::{Value, json};

use crate::both;
use crate::helpers::{Backend, spawn_app, spawn_app_with};

both!(
    google_id_tokens_sign_in_and_bad_ones_are_refused,
    google_sign_in_is_unavailable_when_not_configured,
    an_email_account_is_linked_to_google_only_from_a_signed_in_session,
);

const ISSUER: &str = "https://accounts.test.local";
const CLIENT: &str = "orrery-test-client";

/// Serves the test JWKS on a free port; returns its URL.
async fn provider() -> String {
    let jwks: Value = serde_json::from_str(include_str!("fixtures/google-test-jwks.json")).unwrap();
    let app = axum::Router::new().route(
        "/certs",
        axum::routing::get(move || async move { axum::Json(jwks.clone()) }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{address}/certs")
}

fn id_token(claims: Value, kid: &str) -> String {
    let key = EncodingKey::from_rsa_pem(include_bytes!("fixtures/google-test-key.pem")).unwrap();
    let mut header = Header::new(jsonwebtoken::Algorithm::RS256);
    header.kid = Some(kid.to_owned());
    jsonwebtoken::encode(&header, &claims, &key).unwrap()
}

fn claims(sub: &str, email: &str) -> Value {
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    json!({"iss": ISSUER, "aud": CLIENT, "sub": sub, "email": email, "email_verified": true, "name": "Grace", "iat": now, "exp": now + 600})
}

async fn google_id_tokens_sign_in_and_bad_ones_are_refused(backend: Backend) {
    let jwks = provider().await;
    let app = spawn_app_with(backend, |s| {
        s.google_client_id = CLIENT.into();
        s.google_issuer = ISSUER.into();
        s.google_jwks_url = jwks;
    })
    .await;
    let sign_in = |token: String| {
        app.call(
            Method::POST,
            "/api/auth/google",
            None,
            Some(json!({"token": token})),
        )
    };
    let first = sign_in(id_token(claims("g-1", "grace@example.com"), "test-key-1")).await;
    let user = first.ok(200)["user"].clone();
    assert_eq!(
        (user["email"].as_str(), user["name"].as_str()),
        (Some("grace@example.com"), Some("Grace"))
    );
    let again = sign_in(id_token(claims("g-1", "grace@example.com"), "test-key-1")).await;
    assert_eq!(
        again.ok(200)["user"]["id"],
        user["id"],
        "the same Google account is the same user"
    );
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let mut bad = Vec::new();
    let mut c = claims("g-2", "x@example.com");
    c["aud"] = json!("someone-else");
    bad.push(("wrong audience", id_token(c, "test-key-1")));
    let mut c = claims("g-2", "x@example.com");
    c["iss"] = json!("https://evil.example");
    bad.push(("wrong issuer", id_token(c, "test-key-1")));
    let mut c = claims("g-2", "x@example.com");
    c["exp"] = json!(now - 3600);
    bad.push(("expired", id_token(c, "test-key-1")));
    let mut c = claims("g-2", "x@example.com");
    c["email_verified"] = json!(false);
    bad.push(("unverified email", id_token(c, "test-key-1")));
    bad.push((
        "unknown key id",
        id_token(claims("g-2", "x@example.com"), "other-key"),
    ));
    let good = id_token(claims("g-2", "x@example.com"), "test-key-1");
    let mut parts: Vec<String> = good.split('.').map(str::to_owned).collect();
    parts[2] = parts[2].chars().rev().collect();
    bad.push(("bad signature", parts.join(".")));
    let hs = jsonwebtoken::encode(
        &Header::new(jsonwebtoken::Algorithm::HS256),
        &claims("g-2", "x@example.com"),
        &EncodingKey::from_secret(b"guess"),
    )
    .unwrap();
    bad.push(("HS256", hs));
    bad.push(("garbage", "not.a.jwt".into()));
    for (what, token) in bad {
        let reply = sign_in(token).await;
        assert_eq!(reply.status, 401, "{what}: {:#}", reply.body);
        reply.problem(401, "unauthorized");
    }
}

async fn google_sign_in_is_unavailable_when_not_configured(backend: Backend) {
    let app = spawn_app(backend).await;
    let reply = app
        .call(
            Method::POST,
            "/api/auth/google",
            None,
            Some(json!({"token": "x"})),
        )
        .await;
    reply.problem(503, "unavailable");
}

async fn an_email_account_is_linked_to_google_only_from_a_signed_in_session(backend: Backend) {
    let jwks = provider().await;
    let app = spawn_app_with(backend, |s| {
        s.google_client_id = CLIENT.into();
        s.google_issuer = ISSUER.into();
        s.google_jwks_url = jwks;
    })
    .await;
    let user = app.signed_up_user().await;
    let google = |sub: &str| id_token(claims(sub, &user.email), "test-key-1");
    // Google vouching for the address is not enough to enter an existing account.
    let takeover = app
        .call(
            Method::POST,
            "/api/auth/google",
            None,
            Some(json!({"token": google("g-owner")})),
        )
        .await;
    takeover.problem(409, "conflict");
    // The owner, signed in, links it; then Google signs in to the same account.
    let key = app
        .post("/api/keys", &user.token, json!({"name": "k"}))
        .await;
    let secret = key.ok(201)["secret"].as_str().unwrap().to_owned();
    app.post(
        "/api/me/google",
        &secret,
        json!({"token": google("g-owner")}),
    )
    .await
    .problem(403, "forbidden");
    app.post("/api/me/google", &user.token, json!({"token": "not.a.jwt"}))
        .await
        .problem(401, "unauthorized");
    let linked = app
        .post(
            "/api/me/google",
            &user.token,
            json!({"token": google("g-owner")}),
        )
        .await;
    assert_eq!(linked.ok(200)["user"]["provider"], "email+google");
    let signed_in = app
        .call(
            Method::POST,
            "/api/auth/google",
            None,
            Some(json!({"token": google("g-owner")})),
        )
        .await;
    assert_eq!(signed_in.ok(200)["user"]["id"], user.id.as_str());
    // A Google account belongs to one Orrery account, and an account to one Google account.
    let other = app.signed_up_user().await;
    app.post(
        "/api/me/google",
        &other.token,
        json!({"token": google("g-owner")}),
    )
    .await
    .problem(409, "conflict");
    app.post(
        "/api/me/google",
        &user.token,
        json!({"token": google("g-second")}),
    )
    .await
    .problem(409, "conflict");
}

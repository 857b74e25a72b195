//! The OpenAPI document, generated from the handlers' annotations, at `/openapi.json`, and an
//! interactive reference (Scalar) at `/docs`.

use std::sync::Arc;

use axum::Router;
use axum::http::{HeaderValue, header};
use axum::response::IntoResponse;
use axum::routing::get;
use utoipa::openapi::OpenApi;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};

use crate::http::AppState;

/// The document's fixed parts: info, tags and security schemes.
pub fn base() -> OpenApi {
    #[derive(utoipa::OpenApi)]
    #[openapi(
        info(title = "Orrery API", description = "Design, validate, version and lay out AI-agent workflows. Errors are application/problem+json (RFC 9457)."),
        tags(
            (name = "auth", description = "Accounts and sessions"),
            (name = "keys", description = "API keys"),
            (name = "graphs", description = "Workflow graphs and their versions"),
            (name = "agents", description = "Custom agents and their callers"),
            (name = "usage", description = "Usage against plan limits"),
            (name = "events", description = "Activity log"),
            (name = "billing", description = "Plans, checkout, the billing portal and Stripe's webhooks"),
            (name = "admin", description = "Operators only"),
        )
    )]
    struct Doc;
    let mut doc = <Doc as utoipa::OpenApi>::openapi();
    let components = doc.components.get_or_insert_with(Default::default);
    components.add_security_scheme(
        "bearer",
        SecurityScheme::Http(
            HttpBuilder::new()
                .scheme(HttpAuthScheme::Bearer)
                .bearer_format("JWT access token or API key")
                .build(),
        ),
    );
    components.add_security_scheme(
        "api_key",
        SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::new("X-API-Key"))),
    );
    doc
}

/// `/openapi.json` and `/docs`.
pub fn router(doc: Arc<OpenApi>) -> Router<AppState> {
    let json = Arc::new(doc.to_pretty_json().unwrap_or_default());
    let page = utoipa_scalar::Scalar::new((*doc).clone()).to_html();
    Router::new()
        .route(
            "/openapi.json",
            get(move || {
                let json = json.clone();
                async move { ([(header::CONTENT_TYPE, "application/json")], (*json).clone()) }
            }),
        )
        .route(
            "/docs",
            get(move || {
                let page = page.clone();
                async move {
                    let mut response = axum::response::Html(page).into_response();
                    // The reference page loads Scalar's script from its CDN.
                    response.headers_mut().insert(
                        header::CONTENT_SECURITY_POLICY,
                        HeaderValue::from_static(
                            "default-src 'self'; script-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; style-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net https://fonts.googleapis.com; font-src https://fonts.gstatic.com https://cdn.jsdelivr.net; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'",
                        ),
                    );
                    response
                }
            }),
        )
}

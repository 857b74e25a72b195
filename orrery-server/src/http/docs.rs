//! The OpenAPI document, generated from the handlers' annotations, at `/openapi.json` (the
//! interactive reference at `/docs` is served with the web console).

use std::sync::Arc;

use axum::Router;
use axum::http::header;
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

/// Completes the generated document with what every route shares, so that it says what the
/// server really answers: errors are `application/problem+json` (not `application/json`), and
/// each operation lists the statuses its middleware and extractors can give — 400 for a bad path
/// or query, 401 when it takes credentials, 413/415/422 when it takes a body, 429 where a rate
/// limit applies.
pub fn finish(doc: &mut OpenApi) {
    use utoipa::openapi::path::Operation;
    use utoipa::openapi::{ContentBuilder, Ref, RefOr, ResponseBuilder};

    let problem = || {
        ContentBuilder::new()
            .schema(Some(RefOr::Ref(Ref::from_schema_name("Problem"))))
            .build()
    };
    let add = |op: &mut Operation, status: &str, description: &str| {
        if !op.responses.responses.contains_key(status) {
            op.responses.responses.insert(
                status.to_owned(),
                RefOr::T(
                    ResponseBuilder::new()
                        .description(description)
                        .content("application/problem+json", problem())
                        .build(),
                ),
            );
        }
    };
    for item in doc.paths.paths.values_mut() {
        let ops = [
            item.get.as_mut(),
            item.put.as_mut(),
            item.post.as_mut(),
            item.delete.as_mut(),
            item.patch.as_mut(),
        ];
        for op in ops.into_iter().flatten() {
            for (status, response) in op.responses.responses.iter_mut() {
                let error = status.starts_with('4') || status.starts_with('5');
                if let (true, RefOr::T(response)) = (error, response)
                    && let Some(content) = response.content.shift_remove("application/json")
                {
                    response
                        .content
                        .insert("application/problem+json".to_owned(), content);
                }
            }
            let secured = op.security.as_ref().is_some_and(|s| !s.is_empty());
            let has_params = op.parameters.as_ref().is_some_and(|p| !p.is_empty());
            if has_params {
                add(op, "400", "A path or query parameter is malformed");
            }
            if secured {
                add(op, "401", "No valid access token or API key");
                add(op, "429", "Rate limit reached; see Retry-After");
            }
            if op.request_body.is_some() {
                add(op, "400", "The body is not JSON");
                add(op, "413", "The body is too large");
                add(op, "415", "The body is not application/json");
                add(op, "422", "The body is not what this route takes");
            }
        }
    }
}

/// `/openapi.json`. The reference page at `/docs` is part of the web console (`console.rs`):
/// RapiDoc bundled from npm, reading this document, with nothing loaded from a CDN.
pub fn router(doc: Arc<OpenApi>) -> Router<AppState> {
    let json = Arc::new(doc.to_pretty_json().unwrap_or_default());
    Router::new().route(
        "/openapi.json",
        get(move || {
            let json = json.clone();
            async move {
                (
                    [(header::CONTENT_TYPE, "application/json")],
                    (*json).clone(),
                )
            }
        }),
    )
}

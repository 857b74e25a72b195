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
            (name = "account", description = "The signed-in account manages itself"),
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
/// server really answers (a fuzzer run in `scripts/test-all` holds it to that):
///
/// - errors are `application/problem+json` (not `application/json`);
/// - each operation lists the statuses its middleware and extractors can give: 400 for a
///   malformed path or query and 422 for a query value out of range when it takes parameters;
///   401, 402 (the plan's monthly call quota) and 429 when it takes credentials; 403 on admin
///   routes; 400/413/415/422 when it takes a body; 503 everywhere (the request timeout, a database
///   restart);
/// - every free-text string refuses NUL (`\u0000`, `%00`), as the body, path and query
///   extractors do (`extract.rs`): PostgreSQL cannot store it.
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
    if let Some(components) = doc.components.as_mut() {
        for schema in components.schemas.values_mut() {
            refuse_nul(schema);
        }
    }
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
            for parameter in op.parameters.iter_mut().flatten() {
                if let RefOr::T(parameter) = parameter
                    && let Some(schema) = parameter.schema.as_mut()
                {
                    refuse_nul(schema);
                }
            }
            let secured = op.security.as_ref().is_some_and(|s| !s.is_empty());
            let admin = op.tags.iter().flatten().any(|t| t == "admin");
            let has_params = op.parameters.as_ref().is_some_and(|p| !p.is_empty());
            if has_params {
                add(op, "400", "A path or query parameter is malformed");
                add(op, "422", "A query parameter is out of range");
            }
            if secured {
                add(op, "401", "No valid access token or API key");
                add(op, "402", "The plan's monthly API call quota is used up");
                add(op, "429", "Rate limit reached; see Retry-After");
            }
            if admin {
                add(op, "403", "The caller is not an administrator");
            }
            if op.request_body.is_some() {
                add(op, "400", "The body is not JSON");
                add(op, "413", "The body is too large");
                add(op, "415", "The body is not application/json");
                add(op, "422", "The body is not what this route takes");
            }
            add(
                op,
                "503",
                "The request took too long, the server is overloaded, or its database is \
                 away for a moment (then with Retry-After)",
            );
        }
    }
}

/// What every free-text string matches: anything but NUL.
pub const NO_NUL: &str = "^[^\u{0}]*$";

/// Adds [`NO_NUL`] to every string in `schema` that has no pattern, format or enum of its own
/// (those already exclude NUL).
fn refuse_nul(schema: &mut utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>) {
    use utoipa::openapi::RefOr;
    use utoipa::openapi::schema::{AdditionalProperties, ArrayItems, Schema, SchemaType, Type};

    let RefOr::T(schema) = schema else {
        return;
    };
    match schema {
        Schema::Object(object) => {
            let string = match &object.schema_type {
                SchemaType::Type(t) => *t == Type::String,
                SchemaType::Array(types) => types.contains(&Type::String),
                SchemaType::AnyValue => false,
            };
            let password = matches!(
                &object.format,
                Some(utoipa::openapi::SchemaFormat::KnownFormat(
                    utoipa::openapi::KnownFormat::Password
                ))
            );
            if string
                && object.pattern.is_none()
                && object.enum_values.is_none()
                && (object.format.is_none() || password)
            {
                object.pattern = Some(NO_NUL.to_owned());
            }
            for property in object.properties.values_mut() {
                refuse_nul(property);
            }
            if let Some(extra) = object.additional_properties.as_deref_mut()
                && let AdditionalProperties::RefOr(extra) = extra
            {
                refuse_nul(extra);
            }
        }
        Schema::Array(array) => {
            if let ArrayItems::RefOrSchema(items) = &mut array.items {
                refuse_nul(items);
            }
        }
        Schema::OneOf(one) => one.items.iter_mut().for_each(refuse_nul),
        Schema::AllOf(all) => all.items.iter_mut().for_each(refuse_nul),
        Schema::AnyOf(any) => any.items.iter_mut().for_each(refuse_nul),
        _ => {}
    }
}

/// `/openapi.json`. The reference page at `/docs` is part of the web console (`console.rs`):
/// RapiDoc bundled from npm, reading this document, with nothing loaded from a CDN.
pub fn router(doc: Arc<OpenApi>) -> Router<AppState> {
    let json = Arc::new(to_json(&doc));
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

/// The graph document's JSON Schema, as published in `docs/`.
pub const GRAPH_DOCUMENT_SCHEMA: &str = include_str!("../../../docs/graph-document.schema.json");

/// Where `graph_data` fields point: the graph document's schema among the components.
pub fn graph_document() -> utoipa::openapi::Ref {
    utoipa::openapi::Ref::from_schema_name("GraphDocument")
}

/// Where optional `graph_data` fields of requests point: the document, or null (unchanged).
pub fn graph_document_or_null() -> utoipa::openapi::schema::Schema {
    use utoipa::openapi::schema::{ObjectBuilder, OneOfBuilder, Schema, Type};
    Schema::OneOf(
        OneOfBuilder::new()
            .item(graph_document())
            .item(ObjectBuilder::new().schema_type(Type::Null))
            .build(),
    )
}

/// The served document: `doc` with the graph document's schema ([`GRAPH_DOCUMENT_SCHEMA`]) among
/// its components, each of its `$defs` a component of its own (`GraphDocument.node`…), since a
/// `#/$defs/…` reference inside a component would resolve against the OpenAPI document.
pub fn to_json(doc: &OpenApi) -> String {
    fn rebase(value: &mut serde_json::Value) {
        match value {
            serde_json::Value::Object(map) => {
                if let Some(serde_json::Value::String(target)) = map.get_mut("$ref")
                    && let Some(name) = target.strip_prefix("#/$defs/")
                {
                    *target = format!("#/components/schemas/GraphDocument.{name}");
                }
                map.values_mut().for_each(rebase);
            }
            serde_json::Value::Array(items) => items.iter_mut().for_each(rebase),
            _ => {}
        }
    }
    let mut value = serde_json::to_value(doc).unwrap_or_default();
    let mut schema: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(GRAPH_DOCUMENT_SCHEMA).unwrap_or_default();
    let defs = schema.remove("$defs");
    schema.remove("$schema");
    schema.remove("$id");
    if let Some(schemas) = value
        .pointer_mut("/components/schemas")
        .and_then(serde_json::Value::as_object_mut)
    {
        if let Some(serde_json::Value::Object(defs)) = defs {
            for (name, mut def) in defs {
                rebase(&mut def);
                schemas.insert(format!("GraphDocument.{name}"), def);
            }
        }
        let mut schema = serde_json::Value::Object(schema);
        rebase(&mut schema);
        schemas.insert("GraphDocument".to_owned(), schema);
    }
    serde_json::to_string_pretty(&value).unwrap_or_default()
}

/// The closed sets of strings some fields take, for the document only: the handlers read these
/// fields as strings and answer anything else with a 422 naming the field.
mod names {
    #![allow(dead_code)] // Only their schemas are used.

    use utoipa::ToSchema;

    /// A picture's theme.
    #[derive(Debug, ToSchema)]
    #[schema(rename_all = "lowercase")]
    pub enum ThemeName {
        /// Light text on a dark background (the default).
        Dark,
        /// Dark text on a light background.
        Light,
    }

    /// The console's colours, saved on the account.
    #[derive(Debug, ToSchema)]
    #[schema(rename_all = "lowercase")]
    pub enum AccountThemeName {
        /// Light.
        Light,
        /// Dark.
        Dark,
        /// Whatever the device prefers (the default).
        System,
    }

    /// How usage history is bucketed.
    #[derive(Debug, ToSchema)]
    #[schema(rename_all = "lowercase")]
    pub enum GranularityName {
        /// One bucket per day (the default).
        Day,
        /// One per ISO week, from its Monday.
        Week,
        /// One per calendar month.
        Month,
    }

    /// A plan.
    #[derive(Debug, ToSchema)]
    #[schema(rename_all = "lowercase")]
    pub enum PlanName {
        /// The free plan.
        Free,
        /// The pro plan.
        Pro,
        /// The enterprise plan.
        Enterprise,
    }

    /// A plan that is bought (the free plan is reached by cancelling).
    #[derive(Debug, ToSchema)]
    #[schema(rename_all = "lowercase")]
    pub enum PaidPlanName {
        /// The pro plan.
        Pro,
        /// The enterprise plan.
        Enterprise,
    }

    /// An account's role.
    #[derive(Debug, ToSchema)]
    #[schema(rename_all = "lowercase")]
    pub enum RoleName {
        /// An ordinary account.
        User,
        /// An operator: the admin routes.
        Admin,
    }
}

pub use names::{AccountThemeName, GranularityName, PaidPlanName, PlanName, RoleName, ThemeName};

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use crate::services::identity::{
        EMAIL_MAX_CHARS, NAME_MAX_CHARS, PASSWORD_MAX_CHARS, PASSWORD_MIN_CHARS,
    };

    /// The limits in the document are the ones the checks use (utoipa's attributes take
    /// literals, so this keeps them honest).
    #[test]
    fn documented_limits_are_the_checked_ones() {
        let (_, mut doc) = crate::http::routes().split_for_parts();
        super::finish(&mut doc);
        let doc: Value = serde_json::to_value(&doc).unwrap();
        let property = |schema: &str, field: &str| {
            doc["components"]["schemas"][schema]["properties"][field].clone()
        };
        for schema in ["SignupRequest", "CreateAdmin"] {
            let email = property(schema, "email");
            assert_eq!(email["maxLength"], json!(EMAIL_MAX_CHARS), "{schema}");
            let name = property(schema, "name");
            assert_eq!(name["maxLength"], json!(NAME_MAX_CHARS), "{schema}");
        }
        for (schema, field) in [("SignupRequest", "password"), ("ResetConfirm", "password")] {
            let password = property(schema, field);
            assert_eq!(password["minLength"], json!(PASSWORD_MIN_CHARS));
            assert_eq!(password["maxLength"], json!(PASSWORD_MAX_CHARS));
        }
        let agent_id = property("CreateGraph", "agent_id");
        assert_eq!(agent_id["maxLength"], json!(orrery_core::id::MAX_ID_LEN));
        for plan in ["free", "pro", "enterprise"] {
            assert!(plan.parse::<orrery_core::Plan>().is_ok(), "{plan}");
        }
    }

    #[test]
    fn the_served_document_carries_the_graph_document_schema_and_every_reference_resolves() {
        fn refs<'a>(value: &'a Value, out: &mut Vec<&'a str>) {
            match value {
                Value::Object(map) => {
                    if let Some(Value::String(target)) = map.get("$ref") {
                        out.push(target);
                    }
                    map.values().for_each(|v| refs(v, out));
                }
                Value::Array(items) => items.iter().for_each(|v| refs(v, out)),
                _ => {}
            }
        }
        let (_, mut doc) = crate::http::routes().split_for_parts();
        super::finish(&mut doc);
        let doc: Value = serde_json::from_str(&super::to_json(&doc)).unwrap();
        let mut targets = Vec::new();
        refs(&doc, &mut targets);
        for target in &targets {
            let pointer = target.strip_prefix('#').unwrap();
            let pointer = pointer.replace("~1", "/");
            assert!(doc.pointer(&pointer).is_some(), "{target} does not resolve");
        }
        let graph = &doc["components"]["schemas"]["GraphDocument"];
        assert_eq!(graph["required"], json!(["schema", "nodes"]));
        assert_eq!(
            graph["properties"]["nodes"]["items"]["$ref"],
            "#/components/schemas/GraphDocument.node"
        );
        let create = &doc["components"]["schemas"]["CreateGraph"]["properties"]["graph_data"];
        assert_eq!(create["$ref"], "#/components/schemas/GraphDocument");
    }

    #[test]
    fn every_error_is_a_problem_and_every_string_refuses_nul() {
        let (_, mut doc) = crate::http::routes().split_for_parts();
        super::finish(&mut doc);
        let text = doc.to_json().unwrap();
        let doc: Value = serde_json::from_str(&text).unwrap();
        for (path, item) in doc["paths"].as_object().unwrap() {
            for (method, op) in item.as_object().unwrap() {
                for (status, response) in op["responses"].as_object().unwrap() {
                    if status.starts_with('4') || status.starts_with('5') {
                        let content = response["content"].as_object().unwrap();
                        assert!(
                            content.keys().all(|k| k == "application/problem+json"),
                            "{method} {path} {status}"
                        );
                    }
                }
            }
        }
        let search = &doc["paths"]["/api/graphs"]["get"]["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == "search")
            .unwrap()["schema"];
        assert_eq!(search["pattern"], json!(super::NO_NUL));
    }
}

//! `/api/graphs`: create, read, update (optimistic, by version), delete, clone, versions, diff,
//! validation without saving, layout and thumbnails. Private graphs are invisible to others
//! (404, never 403); public ones are readable by everyone and writable by their owner only.

use axum::extract::State;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use orrery_core::store::{GraphFilter, GraphRecord, GraphSummary, Page, VersionSummary};
use orrery_core::{Diagnostic, Digest, Graph, Resolver};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use time::OffsetDateTime;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::graphs;
use crate::http::AppState;
use crate::http::auth::Success;
use crate::http::error::{ApiError, Problem};
use crate::http::extract::{CurrentUser, Json, MaybeUser, Path, Query};
use crate::services::graphs::{Actor, CreateInput, Graphs, Precondition, UpdateInput};

/// The routes of this module.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_graphs, create_graph))
        .routes(routes!(validate_graph))
        .routes(routes!(get_graph, update_graph, delete_graph))
        .routes(routes!(clone_graph))
        .routes(routes!(list_versions))
        .routes(routes!(get_version))
        .routes(routes!(diff_versions))
        .routes(routes!(graph_layout))
        .routes(routes!(thumbnail))
}

/// Longest search text.
const MAX_SEARCH: usize = crate::services::graphs::NAME_MAX_CHARS;
/// Most items on one page.
const MAX_LIMIT: u32 = 100;

/// A graph in a list.
#[derive(Debug, Serialize, ToSchema)]
pub struct GraphSummaryView {
    /// Its id.
    pub id: Uuid,
    /// The owning account.
    pub owner_id: Uuid,
    /// Name, unique per owner.
    pub name: String,
    /// Free text.
    pub description: Option<String>,
    /// Whether it is published as a custom agent.
    pub is_custom_agent: bool,
    /// The agent id it is published under.
    pub agent_id: Option<String>,
    /// Readable by everyone.
    pub is_public: bool,
    /// The current version (its digest): the document's version.
    pub version: String,
    /// Counts every change of the graph (document, name, description, visibility, agent id);
    /// the `ETag` is `"r{revision}"`.
    pub revision: u64,
    /// Nodes in the current version.
    pub node_count: u64,
    /// When it was created.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// When it last changed.
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

impl From<GraphSummary> for GraphSummaryView {
    fn from(g: GraphSummary) -> GraphSummaryView {
        GraphSummaryView {
            id: g.id,
            owner_id: g.owner_id,
            name: g.name,
            description: g.description,
            is_custom_agent: g.agent_id.is_some(),
            agent_id: g.agent_id,
            is_public: g.is_public,
            version: g.head.to_string(),
            revision: g.revision,
            node_count: g.node_count,
            created_at: g.created_at,
            updated_at: g.updated_at,
        }
    }
}

/// A diagnostic as the API shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct DiagnosticView {
    /// Stable code (`E0004`).
    pub code: String,
    /// `error` or `warning`.
    pub severity: String,
    /// What is wrong.
    pub message: String,
    /// How to fix it.
    pub help: String,
    /// Where: `path` (nesting), `node`, `port`, `direction`, `edge`, `group`.
    #[schema(value_type = Object)]
    pub location: serde_json::Value,
}

impl From<&Diagnostic> for DiagnosticView {
    fn from(d: &Diagnostic) -> DiagnosticView {
        DiagnosticView {
            code: d.code.as_str().to_owned(),
            severity: if d.is_error() { "error" } else { "warning" }.to_owned(),
            message: d.message.clone(),
            help: d.help.clone(),
            location: serde_json::to_value(&d.location).unwrap_or_default(),
        }
    }
}

/// A graph with its document.
#[derive(Debug, Serialize, ToSchema)]
pub struct GraphView {
    /// Everything but the document.
    #[serde(flatten)]
    pub summary: GraphSummaryView,
    /// How many versions it has.
    pub version_count: u64,
    /// The current document.
    #[schema(schema_with = crate::http::docs::graph_document)]
    pub graph_data: Box<RawValue>,
    /// Warnings of the version just saved (errors are never saved); absent on reads.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub warnings: Option<Vec<DiagnosticView>>,
}

/// One graph.
#[derive(Debug, Serialize, ToSchema)]
pub struct GraphResponse {
    /// The graph.
    pub graph: GraphView,
    /// On reads by a signed-in caller: what is left of the caller's monthly quota.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub usage_remaining: Option<CallsRemaining>,
    /// Always true.
    pub success: bool,
}

/// What is left of the caller's monthly API calls.
#[derive(Debug, Serialize, ToSchema)]
pub struct CallsRemaining {
    /// API calls left this month (this one counted); `null` is unlimited.
    pub api_calls: Option<u64>,
}

/// A page of graphs.
#[derive(Debug, Serialize, ToSchema)]
pub struct GraphList {
    /// This page (with `graph_data` when `include=graph_data` was asked).
    pub graphs: Vec<ListedGraph>,
    /// Graphs in all pages.
    pub total: u64,
    /// This page's number.
    pub page: u32,
}

/// Paging and search.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// 1-based page (default 1).
    #[param(minimum = 1, maximum = 1000000)]
    pub page: Option<u32>,
    /// Items per page, 1 to 100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<u32>,
    /// Case-insensitive substring of name or description, at most 200 characters.
    #[param(max_length = 200)]
    pub search: Option<String>,
    /// Also list other accounts' public graphs (default false).
    pub include_public: Option<bool>,
    /// `graph_data`: each graph comes with its current document, as the design's list
    /// returns whole graphs (pages of at most 100 then cost one read per graph).
    #[param(inline, value_type = Option<GraphListInclude>)]
    pub include: Option<String>,
}

/// What `include` can add to a graph list.
#[derive(Debug, ToSchema)]
#[schema(rename_all = "snake_case")]
#[allow(dead_code)] // Only its schema is used.
pub enum GraphListInclude {
    /// Each graph's current document.
    GraphData,
}

/// A graph in a list: its summary, and its document when asked for.
#[derive(Debug, Serialize, ToSchema)]
pub struct ListedGraph {
    /// Everything but the document.
    #[serde(flatten)]
    pub summary: GraphSummaryView,
    /// The current document (with `include=graph_data`).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(schema_with = crate::http::docs::graph_document)]
    pub graph_data: Option<Box<RawValue>>,
}

/// Reads a page request, refusing nonsense.
pub fn page(page: Option<u32>, limit: Option<u32>) -> Result<Page, ApiError> {
    let page = page.unwrap_or(1);
    let limit = limit.unwrap_or(20);
    if page == 0 || page > 1_000_000 {
        return Err(ApiError::field("page", "must be between 1 and 1000000"));
    }
    if limit == 0 || limit > MAX_LIMIT {
        return Err(ApiError::field("limit", "must be between 1 and 100"));
    }
    Ok(Page { page, limit })
}

/// `POST /api/graphs`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateGraph {
    /// Name, unique among your graphs: 1 to 200 characters (trimmed), no control characters.
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = "^[^\u{0}-\u{1f}\u{7f}-\u{9f}]*[^\u{0}-\u{20}\u{7f}-\u{a0}\u{1680}\u{2000}-\u{200a}\u{2028}\u{2029}\u{202f}\u{205f}\u{3000}][^\u{0}-\u{1f}\u{7f}-\u{9f}]*$"
    )]
    pub name: String,
    /// Free text, at most 10,000 characters (blank is none).
    #[schema(max_length = 10000)]
    pub description: Option<String>,
    /// The graph document (see docs/graph-format.md).
    #[schema(schema_with = crate::http::docs::graph_document, example = json!({"schema": 1, "nodes": [{"id": "question", "kind": "input", "outputs": [{"name": "value", "type": "text"}]}, {"id": "answer", "kind": "output", "inputs": [{"name": "value", "type": "text"}]}], "edges": [{"from": "question.value", "to": "answer.value"}]}))]
    pub graph_data: Box<RawValue>,
    /// Publish it as a custom agent (under `agent_id`, or a slug of the name).
    #[serde(default)]
    pub is_custom_agent: bool,
    /// The agent id to publish under: ASCII letters, digits, `_` and `-`, not starting with
    /// `-`, at most 128 characters.
    #[schema(
        min_length = 1,
        max_length = 128,
        pattern = "^[A-Za-z0-9_][A-Za-z0-9_-]*$"
    )]
    pub agent_id: Option<String>,
    /// Readable by everyone.
    #[serde(default)]
    pub is_public: bool,
}

/// `PUT /api/graphs/{id}`: what is present changes.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateGraph {
    /// New name: 1 to 200 characters (trimmed), no control characters.
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = "^[^\u{0}-\u{1f}\u{7f}-\u{9f}]*[^\u{0}-\u{20}\u{7f}-\u{a0}\u{1680}\u{2000}-\u{200a}\u{2028}\u{2029}\u{202f}\u{205f}\u{3000}][^\u{0}-\u{1f}\u{7f}-\u{9f}]*$"
    )]
    pub name: Option<String>,
    /// New description, at most 10,000 characters (null or blank clears it).
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>, max_length = 10000)]
    pub description: Option<Option<String>>,
    /// New document: a new version.
    #[schema(schema_with = crate::http::docs::graph_document_or_null, example = json!({"schema": 1, "nodes": [{"id": "question", "kind": "input", "outputs": [{"name": "value", "type": "text"}]}, {"id": "answer", "kind": "output", "inputs": [{"name": "value", "type": "text"}]}], "edges": [{"from": "question.value", "to": "answer.value"}]}))]
    pub graph_data: Option<Box<RawValue>>,
    /// New visibility.
    pub is_public: Option<bool>,
    /// Publish as (or stop being) a custom agent.
    pub is_custom_agent: Option<bool>,
    /// The agent id to publish under (the grammar of `CreateGraph.agent_id`).
    #[schema(
        min_length = 1,
        max_length = 128,
        pattern = "^[A-Za-z0-9_][A-Za-z0-9_-]*$"
    )]
    pub agent_id: Option<String>,
    /// The version you edited (or send `If-Match`); a stale one is a 409.
    #[schema(pattern = "^sha256:[0-9a-f]{64}$")]
    pub base_version: Option<String>,
}

/// `?force=true` publishes an interface that breaks callers.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ForceQuery {
    /// Publish even if callers break.
    pub force: Option<bool>,
}

/// `POST /api/graphs/{id}/clone`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CloneGraph {
    /// Name of the copy (default: "Copy of …"), like `CreateGraph.name`.
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = "^[^\u{0}-\u{1f}\u{7f}-\u{9f}]*[^\u{0}-\u{20}\u{7f}-\u{a0}\u{1680}\u{2000}-\u{200a}\u{2028}\u{2029}\u{202f}\u{205f}\u{3000}][^\u{0}-\u{1f}\u{7f}-\u{9f}]*$"
    )]
    pub name: Option<String>,
}

/// `POST /api/graphs/validate`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ValidateRequest {
    /// The graph document.
    #[schema(schema_with = crate::http::docs::graph_document, example = json!({"schema": 1, "nodes": [{"id": "question", "kind": "input", "outputs": [{"name": "value", "type": "text"}]}, {"id": "answer", "kind": "output", "inputs": [{"name": "value", "type": "text"}]}], "edges": [{"from": "question.value", "to": "answer.value"}]}))]
    pub graph_data: Box<RawValue>,
}

/// Validation without saving.
#[derive(Debug, Serialize, ToSchema)]
pub struct ValidateResponse {
    /// No error diagnostics.
    pub valid: bool,
    /// The document's digest (its version id if saved).
    pub digest: String,
    /// Every diagnostic.
    pub diagnostics: Vec<DiagnosticView>,
}

/// One version in a list.
#[derive(Debug, Serialize, ToSchema)]
pub struct VersionView {
    /// Its digest.
    pub version: String,
    /// The version it was made from.
    pub parent: Option<String>,
    /// Who saved it.
    pub author_id: Uuid,
    /// When.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// Nodes in it.
    pub node_count: u64,
}

impl From<VersionSummary> for VersionView {
    fn from(v: VersionSummary) -> VersionView {
        VersionView {
            version: v.digest.to_string(),
            parent: v.parent.map(|p| p.to_string()),
            author_id: v.author_id,
            created_at: v.created_at,
            node_count: v.node_count,
        }
    }
}

/// A page of versions, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct VersionList {
    /// This page.
    pub versions: Vec<VersionView>,
    /// Versions in all pages.
    pub total: u64,
    /// This page's number.
    pub page: u32,
}

/// Paging.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct PageQuery {
    /// 1-based page (default 1).
    #[param(minimum = 1, maximum = 1000000)]
    pub page: Option<u32>,
    /// Items per page, 1 to 100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<u32>,
}

/// One version with its document.
#[derive(Debug, Serialize, ToSchema)]
pub struct VersionResponse {
    /// Its digest.
    pub version: String,
    /// The version it was made from.
    pub parent: Option<String>,
    /// Who saved it.
    pub author_id: Uuid,
    /// When.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// The document.
    #[schema(schema_with = crate::http::docs::graph_document)]
    pub graph_data: Box<RawValue>,
    /// Always true.
    pub success: bool,
}

/// `?from=&to=`: versions to compare (default: the current version's parent and the current).
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct DiffQuery {
    /// The older version.
    #[param(pattern = "^sha256:[0-9a-f]{64}$")]
    pub from: Option<String>,
    /// The newer version.
    #[param(pattern = "^sha256:[0-9a-f]{64}$")]
    pub to: Option<String>,
}

/// A structural diff.
#[derive(Debug, Serialize, ToSchema)]
pub struct DiffResponse {
    /// The older version.
    pub from: String,
    /// The newer version.
    pub to: String,
    /// Changes: `{change: node_added|node_removed|field_changed|port_added|…, …}`.
    #[schema(value_type = Vec<Object>)]
    pub changes: serde_json::Value,
    /// Always true.
    pub success: bool,
}

/// `?version=&seed=`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct LayoutQuery {
    /// Version to lay out (default: current).
    #[param(pattern = "^sha256:[0-9a-f]{64}$")]
    pub version: Option<String>,
    /// Seed of the layout (default 0); the same seed gives the same positions.
    pub seed: Option<u64>,
}

/// 3D positions of a graph's nodes.
#[derive(Debug, Serialize, ToSchema)]
pub struct LayoutResponse {
    /// The version laid out.
    pub version: String,
    /// The seed used.
    pub seed: u64,
    /// Node ids, in document order.
    pub nodes: Vec<String>,
    /// `[x, y, z]` per node, in the same order.
    pub positions: Vec<[f32; 3]>,
    /// Always true.
    pub success: bool,
}

/// `?width=&height=&version=`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ThumbnailQuery {
    /// Pixels, 16 to 2048 (default 640).
    #[param(minimum = 16, maximum = 2048)]
    pub width: Option<u32>,
    /// Pixels, 16 to 2048 (default 360).
    #[param(minimum = 16, maximum = 2048)]
    pub height: Option<u32>,
    /// Version to draw (default: current).
    #[param(pattern = "^sha256:[0-9a-f]{64}$")]
    pub version: Option<String>,
    /// `dark` (default) or `light`.
    #[param(inline, value_type = Option<crate::http::docs::ThemeName>)]
    pub theme: Option<String>,
}

/// List your graphs (and others' public ones with `include_public`).
#[utoipa::path(get, path = "/api/graphs", tag = "graphs", params(ListQuery), security(("bearer" = []), ("api_key" = [])),
    responses((status = 200, body = GraphList), (status = 400, body = Problem), (status = 401, body = Problem)))]
#[tracing::instrument(skip_all, fields(user_id = %user.id()), err(level = "info"))]
async fn list_graphs(
    State(state): State<AppState>,
    user: CurrentUser,
    Query(q): Query<ListQuery>,
) -> Result<Json<GraphList>, ApiError> {
    let page = page(q.page, q.limit)?;
    let search = q
        .search
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty());
    if search
        .as_ref()
        .is_some_and(|s| s.chars().count() > MAX_SEARCH)
    {
        return Err(ApiError::field("search", "must be at most 200 characters"));
    }
    let with_data = match q.include.as_deref() {
        None | Some("") => false,
        Some("graph_data") => true,
        Some(_) => return Err(ApiError::field("include", "must be graph_data")),
    };
    let found = state
        .store
        .list_graphs(&GraphFilter {
            owner_id: Some(user.id()),
            include_public: q.include_public.unwrap_or(false),
            search,
            page,
            ..GraphFilter::default()
        })
        .await?;
    let mut graphs = Vec::with_capacity(found.items.len());
    for summary in found.items {
        let graph_data = if with_data {
            let record = state.store.graph(summary.id, Some(user.id())).await?;
            Some(view_with(record, None)?.graph_data)
        } else {
            None
        };
        graphs.push(ListedGraph {
            summary: summary.into(),
            graph_data,
        });
    }
    Ok(Json(GraphList {
        graphs,
        total: found.total,
        page: page.page,
    }))
}

/// Create a graph. Graphs with error diagnostics are refused with all of them (422).
#[utoipa::path(post, path = "/api/graphs", tag = "graphs", request_body = CreateGraph, security(("bearer" = []), ("api_key" = [])),
    responses((status = 201, body = GraphResponse), (status = 402, description = "Plan limit", body = Problem),
              (status = 409, description = "Name or agent id taken", body = Problem),
              (status = 422, description = "Invalid graph, with its diagnostics", body = Problem)))]
#[tracing::instrument(skip_all, fields(user_id = %user.id()), err(level = "info"))]
async fn create_graph(
    State(graphs): State<Graphs>,
    user: CurrentUser,
    Json(body): Json<CreateGraph>,
) -> Result<(StatusCode, HeaderMap, Json<GraphResponse>), ApiError> {
    let saved = graphs
        .create(
            actor(&user),
            CreateInput {
                name: &body.name,
                description: body.description,
                document: &body.graph_data,
                is_custom_agent: body.is_custom_agent,
                agent_id: body.agent_id,
                is_public: body.is_public,
            },
        )
        .await?;
    Ok((
        StatusCode::CREATED,
        etag(saved.record.revision),
        Json(GraphResponse {
            usage_remaining: None,
            graph: view_with(saved.record, saved.warnings.as_deref())?,
            success: true,
        }),
    ))
}

/// Validate a graph document without saving it (custom agents resolve as you may see them).
#[utoipa::path(post, path = "/api/graphs/validate", tag = "graphs", request_body = ValidateRequest, security(("bearer" = []), ("api_key" = [])),
    responses((status = 200, body = ValidateResponse), (status = 402, body = Problem), (status = 422, description = "The document does not parse", body = Problem)))]
#[tracing::instrument(skip_all, fields(user_id = %user.id()), err(level = "info"))]
async fn validate_graph(
    State(graphs): State<Graphs>,
    user: CurrentUser,
    Json(body): Json<ValidateRequest>,
) -> Result<Json<ValidateResponse>, ApiError> {
    let (digest, diagnostics) = graphs.validate(actor(&user), &body.graph_data).await?;
    Ok(Json(ValidateResponse {
        valid: !diagnostics.iter().any(Diagnostic::is_error),
        digest: digest.to_string(),
        diagnostics: diagnostics.iter().map(Into::into).collect(),
    }))
}

/// Read a graph: yours, or a public one (no credentials needed for public graphs).
#[utoipa::path(get, path = "/api/graphs/{id}", tag = "graphs", params(("id" = Uuid, Path)), security((), ("bearer" = []), ("api_key" = [])),
    responses((status = 200, body = GraphResponse, headers(("ETag" = String, description = "The graph's revision, `\"r{revision}\"`: send it as `If-Match` to update only what you read"))), (status = 404, body = Problem)))]
#[tracing::instrument(skip_all, fields(graph_id = %id), err(level = "info"))]
async fn get_graph(
    State(state): State<AppState>,
    viewer: MaybeUser,
    Path(id): Path<Uuid>,
) -> Result<(HeaderMap, Json<GraphResponse>), ApiError> {
    let record = state.store.graph(id, viewer.id()).await?;
    // Reads are the hot path: no validation here (POST /api/graphs/validate gives warnings).
    let graph = view_with(record, None)?;
    let usage_remaining = viewer.0.as_ref().map(|user| CallsRemaining {
        api_calls: user.calls_remaining,
    });
    Ok((
        etag(graph.summary.revision),
        Json(GraphResponse {
            graph,
            usage_remaining,
            success: true,
        }),
    ))
}

/// Change a graph you own. A new document is a new version (the oldest beyond your plan's
/// `versions_per_graph` are pruned, except versions a caller pins), and it counts against your
/// plan's `stored_bytes` (402 `plan-limit` with `limit: "stored_bytes"` when a save would go
/// over it; nothing is written).
///
/// Preconditions, checked atomically with the write:
/// - `If-Match: "r{revision}"` (the `ETag`): the graph must not have changed at all since —
///   document, name, description, visibility or agent id; otherwise 412. Of many parallel
///   updates from one revision exactly one succeeds.
/// - `If-Match: "sha256:…"` (a version): only the document must be at that version (a rename
///   meanwhile does not fail it); otherwise 412.
/// - `If-Match: *`: the graph must exist. Lists (`"r3", "r4"`) match any of their tags; weak
///   tags never match.
/// - `base_version` in the body: the document must be at that version, otherwise 409
///   `version-conflict` with the current version to merge from.
#[utoipa::path(put, path = "/api/graphs/{id}", tag = "graphs", request_body = UpdateGraph, params(("id" = Uuid, Path), ForceQuery),
    security(("bearer" = []), ("api_key" = [])),
    responses((status = 200, body = GraphResponse), (status = 402, description = "Plan limit", body = Problem), (status = 404, body = Problem),
              (status = 409, description = "Stale version, name taken, or an interface change that breaks callers", body = Problem),
              (status = 412, description = "If-Match names neither the current revision nor the current version", body = Problem),
              (status = 422, body = Problem)))]
#[tracing::instrument(skip_all, fields(user_id = %user.id(), graph_id = %id), err(level = "info"))]
async fn update_graph(
    State(graphs): State<Graphs>,
    user: CurrentUser,
    Path(id): Path<Uuid>,
    Query(force): Query<ForceQuery>,
    headers: HeaderMap,
    Json(body): Json<UpdateGraph>,
) -> Result<(HeaderMap, Json<GraphResponse>), ApiError> {
    let precondition = precondition(&headers, body.base_version.as_deref())?;
    let saved = graphs
        .update(
            actor(&user),
            id,
            UpdateInput {
                name: body.name.as_deref(),
                description: body.description,
                document: body.graph_data.as_deref(),
                is_public: body.is_public,
                is_custom_agent: body.is_custom_agent,
                agent_id: body.agent_id,
                force: force.force.unwrap_or(false),
            },
            precondition,
        )
        .await?;
    Ok((
        etag(saved.record.revision),
        Json(GraphResponse {
            usage_remaining: None,
            graph: view_with(saved.record, saved.warnings.as_deref())?,
            success: true,
        }),
    ))
}

/// Delete a graph you own, with its versions.
#[utoipa::path(delete, path = "/api/graphs/{id}", tag = "graphs", params(("id" = Uuid, Path)), security(("bearer" = []), ("api_key" = [])),
    responses((status = 200, body = Success), (status = 404, body = Problem)))]
#[tracing::instrument(skip_all, fields(user_id = %user.id(), graph_id = %id), err(level = "info"))]
async fn delete_graph(
    State(graphs): State<Graphs>,
    user: CurrentUser,
    Path(id): Path<Uuid>,
) -> Result<Json<Success>, ApiError> {
    graphs.delete(actor(&user), id).await?;
    Ok(Json(Success {
        success: true,
        message: None,
    }))
}

/// Copy a graph you can read into a new private graph of yours.
#[utoipa::path(post, path = "/api/graphs/{id}/clone", tag = "graphs", request_body = CloneGraph, params(("id" = Uuid, Path)),
    security(("bearer" = []), ("api_key" = [])),
    responses((status = 201, body = GraphResponse), (status = 402, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem),
              (status = 422, description = "The source graph is not valid under your plan", body = Problem)))]
#[tracing::instrument(skip_all, fields(user_id = %user.id(), graph_id = %id), err(level = "info"))]
async fn clone_graph(
    State(graphs): State<Graphs>,
    user: CurrentUser,
    Path(id): Path<Uuid>,
    Json(body): Json<CloneGraph>,
) -> Result<(StatusCode, HeaderMap, Json<GraphResponse>), ApiError> {
    let saved = graphs
        .clone_graph(actor(&user), id, body.name.as_deref())
        .await?;
    Ok((
        StatusCode::CREATED,
        etag(saved.record.revision),
        Json(GraphResponse {
            usage_remaining: None,
            graph: view_with(saved.record, saved.warnings.as_deref())?,
            success: true,
        }),
    ))
}

/// The versions of a graph, newest first.
#[utoipa::path(get, path = "/api/graphs/{id}/versions", tag = "graphs", params(("id" = Uuid, Path), PageQuery),
    security((), ("bearer" = []), ("api_key" = [])), responses((status = 200, body = VersionList), (status = 404, body = Problem)))]
#[tracing::instrument(skip_all, fields(graph_id = %id), err(level = "info"))]
async fn list_versions(
    State(state): State<AppState>,
    viewer: MaybeUser,
    Path(id): Path<Uuid>,
    Query(q): Query<PageQuery>,
) -> Result<Json<VersionList>, ApiError> {
    let page = page(q.page, q.limit)?;
    let found = state.store.versions(id, viewer.id(), page).await?;
    Ok(Json(VersionList {
        versions: found.items.into_iter().map(Into::into).collect(),
        total: found.total,
        page: page.page,
    }))
}

/// One version of a graph, with its document.
#[utoipa::path(get, path = "/api/graphs/{id}/versions/{version}", tag = "graphs", params(("id" = Uuid, Path), ("version" = String, Path, description = "sha256:…", pattern = "^sha256:[0-9a-f]{64}$")),
    security((), ("bearer" = []), ("api_key" = [])), responses((status = 200, body = VersionResponse), (status = 400, body = Problem), (status = 404, body = Problem)))]
#[tracing::instrument(skip_all, fields(graph_id = %id), err(level = "info"))]
async fn get_version(
    State(state): State<AppState>,
    viewer: MaybeUser,
    Path((id, version)): Path<(Uuid, String)>,
) -> Result<Json<VersionResponse>, ApiError> {
    let digest = parse_version("version", &version)?;
    let v = state.store.version(id, viewer.id(), digest).await?;
    Ok(Json(VersionResponse {
        version: v.digest.to_string(),
        parent: v.parent.map(|p| p.to_string()),
        author_id: v.author_id,
        created_at: v.created_at,
        graph_data: raw(&v.document)?,
        success: true,
    }))
}

/// The structural diff between two versions of a graph, following changed agent versions.
#[utoipa::path(get, path = "/api/graphs/{id}/diff", tag = "graphs", params(("id" = Uuid, Path), DiffQuery),
    security((), ("bearer" = []), ("api_key" = [])), responses((status = 200, body = DiffResponse), (status = 400, body = Problem), (status = 404, body = Problem)))]
#[tracing::instrument(skip_all, fields(graph_id = %id), err(level = "info"))]
async fn diff_versions(
    State(state): State<AppState>,
    viewer: MaybeUser,
    Path(id): Path<Uuid>,
    Query(q): Query<DiffQuery>,
) -> Result<Json<DiffResponse>, ApiError> {
    let record = state.store.graph(id, viewer.id()).await?;
    let to = match &q.to {
        Some(v) => parse_version("to", v)?,
        None => record.head,
    };
    let to_version = state.store.version(id, viewer.id(), to).await?;
    let from = match &q.from {
        Some(v) => parse_version("from", v)?,
        None => to_version.parent.unwrap_or(to),
    };
    let from_version = state.store.version(id, viewer.id(), from).await?;
    let depth = viewer
        .0
        .as_ref()
        .map_or(orrery_core::Plan::Free, |u| u.plan)
        .limits()
        .nesting_depth as usize;
    let mut agents =
        graphs::collect_agents(&*state.store, viewer.id(), &from_version.document, depth).await?;
    let newer =
        graphs::collect_agents(&*state.store, viewer.id(), &to_version.document, depth).await?;
    for known in newer.known_graphs() {
        let _ = if known.latest {
            agents.insert(&known.name, (*known.graph).clone())
        } else {
            agents.insert_pinned(&known.name, (*known.graph).clone())
        };
    }
    let diff = orrery_core::diff(&from_version.document, &to_version.document, &agents);
    Ok(Json(DiffResponse {
        from: from.to_string(),
        to: to.to_string(),
        changes: serde_json::to_value(&diff.changes).map_err(ApiError::internal)?,
        success: true,
    }))
}

/// 3D positions for a graph's nodes, computed by orrery-render and cached per version and seed.
#[utoipa::path(get, path = "/api/graphs/{id}/layout", tag = "graphs", params(("id" = Uuid, Path), LayoutQuery),
    security((), ("bearer" = []), ("api_key" = [])),
    responses((status = 200, body = LayoutResponse, headers(("X-Cache" = String, description = "hit or miss"))), (status = 400, body = Problem), (status = 404, body = Problem)))]
#[tracing::instrument(skip_all, fields(graph_id = %id), err(level = "info"))]
async fn graph_layout(
    State(state): State<AppState>,
    viewer: MaybeUser,
    Path(id): Path<Uuid>,
    Query(q): Query<LayoutQuery>,
) -> Result<Response, ApiError> {
    let seed = q.seed.unwrap_or(0);
    // The head's layout is answered from the cached response body, found through the graph's
    // summary: a 100,000-node document is neither read nor parsed for it.
    if q.version.is_none() {
        let head = state.store.graph_summary(id, viewer.id()).await?.head;
        if let Some(body) = state.shared.get(&layout_body_key(head, seed)).await {
            return Ok(layout_response(body.to_vec(), true));
        }
    }
    let (digest, document) =
        version_document(&state, viewer.id(), id, q.version.as_deref()).await?;
    let nodes = document.nodes.iter().map(|n| n.id.clone()).collect();
    let (positions, hit) = graphs::layout(&state, digest, document, seed).await?;
    let body = serde_json::to_vec(&LayoutResponse {
        version: digest.to_string(),
        seed,
        nodes,
        positions,
        success: true,
    })
    .map_err(ApiError::internal)?;
    state
        .shared
        .set(
            &layout_body_key(digest, seed),
            body.clone(),
            std::time::Duration::from_secs(24 * 3600),
        )
        .await;
    Ok(layout_response(body, hit))
}

/// The cache key of a version's whole layout response: it depends only on the version's content
/// and the seed, and is looked up only after the caller may read a graph whose head it is.
fn layout_body_key(digest: Digest, seed: u64) -> String {
    format!("layout-body:{digest}:{seed}")
}

fn layout_response(body: Vec<u8>, hit: bool) -> Response {
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            ),
            (
                HeaderName::from_static("x-cache"),
                HeaderValue::from_static(if hit { "hit" } else { "miss" }),
            ),
        ],
        body,
    )
        .into_response()
}

/// A PNG picture of a graph, laid out in 3D and rendered headless.
#[utoipa::path(get, path = "/api/graphs/{id}/thumbnail.png", tag = "graphs", params(("id" = Uuid, Path), ThumbnailQuery),
    security((), ("bearer" = []), ("api_key" = [])),
    responses((status = 200, content_type = "image/png", body = Vec<u8>), (status = 400, body = Problem), (status = 404, body = Problem),
              (status = 503, description = "No renderer on this server", body = Problem)))]
#[tracing::instrument(skip_all, fields(graph_id = %id), err(level = "info"))]
async fn thumbnail(
    State(state): State<AppState>,
    viewer: MaybeUser,
    Path(id): Path<Uuid>,
    Query(q): Query<ThumbnailQuery>,
) -> Result<Response, ApiError> {
    let width = q.width.unwrap_or(640);
    let height = q.height.unwrap_or(360);
    for (name, v) in [("width", width), ("height", height)] {
        if !(16..=2048).contains(&v) {
            return Err(ApiError::field(name, "must be between 16 and 2048"));
        }
    }
    let theme = match q.theme.as_deref().unwrap_or("dark") {
        "dark" => orrery_render::Theme::dark(),
        "light" => orrery_render::Theme::light(),
        _ => return Err(ApiError::field("theme", "must be dark or light")),
    };
    let theme_name = q.theme.as_deref().unwrap_or("dark");
    let key = |digest: Digest| format!("thumb:{digest}:{width}x{height}:{theme_name}");
    // As for the layout: the head's cached picture is found through the summary alone.
    let cached = match q.version {
        None => {
            let head = state.store.graph_summary(id, viewer.id()).await?.head;
            state.shared.get(&key(head)).await
        }
        Some(_) => None,
    };
    let png = match cached {
        Some(png) => png.to_vec(),
        None => {
            let (digest, document) =
                version_document(&state, viewer.id(), id, q.version.as_deref()).await?;
            match state.shared.get(&key(digest)).await {
                Some(png) => png.to_vec(),
                None => {
                    let (positions, _) =
                        graphs::layout(&state, digest, document.clone(), 0).await?;
                    let renderer = graphs::renderer(&state, width, height).await?;
                    let png = tokio::task::spawn_blocking(move || {
                        let scene = orrery_render::Scene::build(
                            &orrery_render::document::scene_input(&document, positions),
                            &theme,
                        )?;
                        renderer.render_png(&scene)
                    })
                    .await
                    .map_err(ApiError::internal)?
                    .map_err(|e| ApiError::internal(anyhow::anyhow!("rendering failed: {e}")))?;
                    state
                        .shared
                        .set(
                            &key(digest),
                            png.clone(),
                            std::time::Duration::from_secs(24 * 3600),
                        )
                        .await;
                    png
                }
            }
        }
    };
    Ok((
        [
            (header::CONTENT_TYPE, "image/png"),
            (header::CACHE_CONTROL, "private, max-age=300"),
        ],
        png,
    )
        .into_response())
}

async fn version_document(
    state: &AppState,
    viewer: Option<Uuid>,
    id: Uuid,
    version: Option<&str>,
) -> Result<(Digest, Graph), ApiError> {
    match version {
        None => {
            let record = state.store.graph(id, viewer).await?;
            Ok((record.head, record.document))
        }
        Some(v) => {
            let digest = parse_version("version", v)?;
            Ok((
                digest,
                state.store.version(id, viewer, digest).await?.document,
            ))
        }
    }
}

/// The view of `record`, with the warnings of the version just checked when there are some.
fn view_with(record: GraphRecord, warnings: Option<&[Diagnostic]>) -> Result<GraphView, ApiError> {
    Ok(GraphView {
        graph_data: raw(&record.document)?,
        version_count: record.version_count,
        warnings: warnings.map(|w| w.iter().map(Into::into).collect()),
        summary: record.summary().into(),
    })
}

fn raw(graph: &Graph) -> Result<Box<RawValue>, ApiError> {
    RawValue::from_string(graph.to_json()).map_err(ApiError::internal)
}

/// The `ETag` of a graph at `revision`: a strong tag that changes with every change of the
/// graph, not only of its document.
fn etag(revision: u64) -> HeaderMap {
    let mut headers = HeaderMap::new();
    if let Ok(value) = HeaderValue::from_str(&format!("\"r{revision}\"")) {
        headers.insert(header::ETAG, value);
    }
    headers
}

/// The precondition of an update: `If-Match` (`*`, or a list of quoted tags — revisions
/// `"r12"` for the whole graph, versions `"sha256:…"` for the document alone; a stale one is
/// a 412) and/or `base_version` in the body (a stale one is a 409 to merge from, or a 412 with
/// `If-Match`). With version tags, both at once must agree.
fn precondition(headers: &HeaderMap, body: Option<&str>) -> Result<Precondition, ApiError> {
    let body = body.map(|v| parse_version("base_version", v)).transpose()?;
    let Some(value) = headers.get(header::IF_MATCH) else {
        return Ok(body.map_or(Precondition::None, Precondition::BaseVersion));
    };
    let malformed = || ApiError::BadRequest("If-Match must be * or quoted entity tags".into());
    let text = value.to_str().map_err(|_| malformed())?.trim();
    if text == "*" {
        return Ok(body.map_or(Precondition::Exists, Precondition::BaseVersion));
    }
    let (mut revisions, mut versions) = (Vec::new(), Vec::new());
    for tag in text.split(',').map(str::trim).filter(|t| !t.is_empty()) {
        // A weak tag never matches in If-Match (RFC 9110 13.1.1: strong comparison).
        if tag.starts_with("W/") {
            continue;
        }
        let inner = tag
            .strip_prefix('"')
            .and_then(|t| t.strip_suffix('"'))
            .ok_or_else(malformed)?;
        match inner.strip_prefix('r').map(str::parse::<u64>) {
            Some(Ok(revision)) => revisions.push(revision),
            Some(Err(_)) => return Err(malformed()),
            None => versions.push(parse_version("If-Match", inner)?),
        }
    }
    if let Some(base) = body
        && !versions.is_empty()
        && !versions.contains(&base)
    {
        return Err(ApiError::BadRequest(
            "If-Match and base_version name different versions".into(),
        ));
    }
    Ok(Precondition::IfMatch {
        revisions,
        versions,
        base: body,
    })
}

/// The acting account and its plan, for the graphs service.
fn actor(user: &CurrentUser) -> Actor {
    Actor {
        id: user.id(),
        plan: user.plan,
    }
}

fn parse_version(field: &'static str, text: &str) -> Result<Digest, ApiError> {
    text.parse().map_err(|_| {
        ApiError::field(
            field,
            "must be a version like sha256: followed by 64 lowercase hex digits",
        )
    })
}

/// An agent id as the graph format defines it.
pub fn check_agent_id(raw: &str) -> Result<String, ApiError> {
    Ok(crate::services::graphs::check_agent_id(raw)?)
}

fn double_option<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<Option<String>>, D::Error> {
    Ok(Some(Option::deserialize(d)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn preconditions_come_from_if_match_or_the_body() {
        let d = format!("sha256:{}", "a".repeat(64));
        let digest: Digest = d.parse().unwrap();
        let mut h = HeaderMap::new();
        assert_eq!(precondition(&h, None).unwrap(), Precondition::None);
        assert_eq!(
            precondition(&h, Some(&d)).unwrap(),
            Precondition::BaseVersion(digest)
        );
        h.insert(
            header::IF_MATCH,
            HeaderValue::from_str(&format!("\"{d}\"")).unwrap(),
        );
        assert_eq!(
            precondition(&h, Some(&d)).unwrap(),
            Precondition::IfMatch {
                revisions: vec![],
                versions: vec![digest],
                base: Some(digest)
            }
        );
        let other = format!("sha256:{}", "b".repeat(64));
        assert!(precondition(&h, Some(&other)).is_err());
        h.insert(
            header::IF_MATCH,
            HeaderValue::from_str(&format!("W/\"{other}\", \"{d}\", \"r7\"")).unwrap(),
        );
        assert_eq!(
            precondition(&h, None).unwrap(),
            Precondition::IfMatch {
                revisions: vec![7],
                versions: vec![digest],
                base: None
            }
        );
        h.insert(header::IF_MATCH, HeaderValue::from_static("\"r3\""));
        assert_eq!(
            precondition(&h, Some(&other)).unwrap(),
            Precondition::IfMatch {
                revisions: vec![3],
                versions: vec![],
                base: Some(other.parse().unwrap())
            }
        );
        h.insert(header::IF_MATCH, HeaderValue::from_static("\"rx\""));
        assert!(precondition(&h, None).is_err());
        h.insert(header::IF_MATCH, HeaderValue::from_static("*"));
        assert_eq!(precondition(&h, None).unwrap(), Precondition::Exists);
        h.insert(header::IF_MATCH, HeaderValue::from_static("\"nope\""));
        assert!(precondition(&h, None).is_err());
        h.insert(header::IF_MATCH, HeaderValue::from_static("unquoted"));
        assert!(precondition(&h, None).is_err());
    }

    #[test]
    fn pages_are_bounded() {
        assert!(page(Some(0), None).is_err());
        assert!(page(None, Some(101)).is_err());
        assert_eq!(page(None, None).unwrap(), Page { page: 1, limit: 20 });
    }
}

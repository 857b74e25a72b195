//! `/api/graphs`: create, read, update (optimistic, by version), delete, clone, versions, diff,
//! validation without saving, layout and thumbnails. Private graphs are invisible to others
//! (404, never 403); public ones are readable by everyone and writable by their owner only.

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use orrery_core::plan::{LimitExceeded, LimitKind};
use orrery_core::store::{
    GraphFilter, GraphRecord, GraphStore, GraphSummary, GraphUpdate, MonitoringStore, NewGraph,
    Page, StoreError, VersionSummary,
};
use orrery_core::{Diagnostic, Digest, Graph, Plan, Resolver};
use serde::{Deserialize, Serialize};
use serde_json::json;
use serde_json::value::RawValue;
use time::OffsetDateTime;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::graphs::{self, check_callers, parse_graph, require_valid};
use crate::http::AppState;
use crate::http::auth::Success;
use crate::http::error::{ApiError, Problem};
use crate::http::extract::{CurrentUser, Json, MaybeUser, Path, Query};

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

/// Longest graph name.
const MAX_NAME: usize = 200;
/// Longest description.
const MAX_DESCRIPTION: usize = 10_000;
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
    /// The current version (its digest).
    pub version: String,
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
    #[schema(value_type = Object)]
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
    /// Always true.
    pub success: bool,
}

/// A page of graphs.
#[derive(Debug, Serialize, ToSchema)]
pub struct GraphList {
    /// This page.
    pub graphs: Vec<GraphSummaryView>,
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
    #[schema(value_type = Object, example = json!({"schema": 1, "nodes": [{"id": "question", "kind": "input", "outputs": [{"name": "value", "type": "text"}]}, {"id": "answer", "kind": "output", "inputs": [{"name": "value", "type": "text"}]}], "edges": [{"from": "question.value", "to": "answer.value"}]}))]
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
    #[schema(value_type = Option<Object>, example = json!({"schema": 1, "nodes": [{"id": "question", "kind": "input", "outputs": [{"name": "value", "type": "text"}]}, {"id": "answer", "kind": "output", "inputs": [{"name": "value", "type": "text"}]}], "edges": [{"from": "question.value", "to": "answer.value"}]}))]
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
    #[schema(value_type = Object, example = json!({"schema": 1, "nodes": [{"id": "question", "kind": "input", "outputs": [{"name": "value", "type": "text"}]}, {"id": "answer", "kind": "output", "inputs": [{"name": "value", "type": "text"}]}], "edges": [{"from": "question.value", "to": "answer.value"}]}))]
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
    #[schema(value_type = Object)]
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
#[tracing::instrument(skip_all, fields(user_id = %user.id()), err)]
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
        .is_some_and(|s| s.chars().count() > MAX_NAME)
    {
        return Err(ApiError::field("search", "must be at most 200 characters"));
    }
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
    Ok(Json(GraphList {
        graphs: found.items.into_iter().map(Into::into).collect(),
        total: found.total,
        page: page.page,
    }))
}

/// Create a graph. Graphs with error diagnostics are refused with all of them (422).
#[utoipa::path(post, path = "/api/graphs", tag = "graphs", request_body = CreateGraph, security(("bearer" = []), ("api_key" = [])),
    responses((status = 201, body = GraphResponse), (status = 402, description = "Plan limit", body = Problem),
              (status = 409, description = "Name or agent id taken", body = Problem),
              (status = 422, description = "Invalid graph, with its diagnostics", body = Problem)))]
#[tracing::instrument(skip_all, fields(user_id = %user.id()), err)]
async fn create_graph(
    State(state): State<AppState>,
    user: CurrentUser,
    Json(body): Json<CreateGraph>,
) -> Result<(StatusCode, HeaderMap, Json<GraphResponse>), ApiError> {
    let name = check_graph_name(&body.name)?;
    let description = check_description(body.description)?;
    let graph = parse_graph(&body.graph_data, user.plan, state.settings.max_body_bytes)?;
    let agent_id = match (body.is_custom_agent, body.agent_id) {
        (_, Some(id)) => Some(check_agent_id(&id)?),
        (true, None) => Some(slug(&name)?),
        (false, None) => None,
    };
    let warnings = require_valid(
        graphs::validate(
            &state,
            Some(user.id()),
            user.plan,
            &graph,
            agent_id.as_deref(),
        )
        .await?,
    )?;
    let record = state
        .store
        .create_graph(NewGraph {
            owner_id: user.id(),
            name,
            description,
            agent_id,
            is_public: body.is_public,
            document: graph,
            max_graphs: user.plan.limits().allowance(LimitKind::Graphs),
        })
        .await
        .map_err(|e| match e {
            StoreError::Quota { limit, .. } => plan_limit(user.plan, LimitKind::Graphs, limit),
            other => conflict_as(
                "a graph with this name, or an agent with this id, already exists",
            )(other),
        })?;
    state.metrics.graph_versions.inc();
    state
        .store
        .record_event(
            Some(user.id()),
            Some(record.id),
            "graph.created",
            json!({"version": record.head.to_string(), "nodes": record.node_count}),
        )
        .await?;
    if let Some(agent) = &record.agent_id {
        state
            .store
            .record_event(
                Some(user.id()),
                Some(record.id),
                "agent.published",
                json!({"agent_id": agent}),
            )
            .await?;
    }
    Ok((
        StatusCode::CREATED,
        etag(&record.head),
        Json(GraphResponse {
            graph: view(record, &warnings)?,
            success: true,
        }),
    ))
}

/// Validate a graph document without saving it (custom agents resolve as you may see them).
#[utoipa::path(post, path = "/api/graphs/validate", tag = "graphs", request_body = ValidateRequest, security(("bearer" = []), ("api_key" = [])),
    responses((status = 200, body = ValidateResponse), (status = 402, body = Problem), (status = 422, description = "The document does not parse", body = Problem)))]
#[tracing::instrument(skip_all, fields(user_id = %user.id()), err)]
async fn validate_graph(
    State(state): State<AppState>,
    user: CurrentUser,
    Json(body): Json<ValidateRequest>,
) -> Result<Json<ValidateResponse>, ApiError> {
    let graph = parse_graph(&body.graph_data, user.plan, state.settings.max_body_bytes)?;
    let diagnostics = graphs::validate(&state, Some(user.id()), user.plan, &graph, None).await?;
    Ok(Json(ValidateResponse {
        valid: !diagnostics.iter().any(Diagnostic::is_error),
        digest: graph.digest().to_string(),
        diagnostics: diagnostics.iter().map(Into::into).collect(),
    }))
}

/// Read a graph: yours, or a public one (no credentials needed for public graphs).
#[utoipa::path(get, path = "/api/graphs/{id}", tag = "graphs", params(("id" = Uuid, Path)), security((), ("bearer" = []), ("api_key" = [])),
    responses((status = 200, body = GraphResponse, headers(("ETag" = String, description = "The current version"))), (status = 404, body = Problem)))]
#[tracing::instrument(skip_all, fields(graph_id = %id), err)]
async fn get_graph(
    State(state): State<AppState>,
    viewer: MaybeUser,
    Path(id): Path<Uuid>,
) -> Result<(HeaderMap, Json<GraphResponse>), ApiError> {
    let record = state.store.graph(id, viewer.id()).await?;
    // Reads are the hot path: no validation here (POST /api/graphs/validate gives warnings).
    let graph = view_with(record, None)?;
    Ok((
        HeaderMap::from_iter(etag_header(&graph.summary.version)),
        Json(GraphResponse {
            graph,
            success: true,
        }),
    ))
}

/// Change a graph you own. A new document is a new version; send the version you edited as
/// `If-Match` or `base_version` to be told (409) instead of overwriting someone else's change.
#[utoipa::path(put, path = "/api/graphs/{id}", tag = "graphs", request_body = UpdateGraph, params(("id" = Uuid, Path), ForceQuery),
    security(("bearer" = []), ("api_key" = [])),
    responses((status = 200, body = GraphResponse), (status = 402, description = "Plan limit", body = Problem), (status = 404, body = Problem),
              (status = 409, description = "Stale version, name taken, or an interface change that breaks callers", body = Problem),
              (status = 412, description = "If-Match names a version that is not the current one", body = Problem),
              (status = 422, body = Problem)))]
#[tracing::instrument(skip_all, fields(user_id = %user.id(), graph_id = %id), err)]
async fn update_graph(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<Uuid>,
    Query(force): Query<ForceQuery>,
    headers: HeaderMap,
    Json(body): Json<UpdateGraph>,
) -> Result<(HeaderMap, Json<GraphResponse>), ApiError> {
    let base = base_version(&headers, body.base_version.as_deref())?;
    let current = owned(&state, id, user.id()).await?;
    let name = body.name.as_deref().map(check_graph_name).transpose()?;
    let description = match body.description {
        Some(d) => Some(check_description(d)?),
        None => None,
    };
    let agent_id = match (body.is_custom_agent, body.agent_id) {
        (Some(false), _) => Some(None),
        (_, Some(id)) => Some(Some(check_agent_id(&id)?)),
        (Some(true), None) if current.agent_id.is_none() => {
            Some(Some(slug(name.as_deref().unwrap_or(&current.name))?))
        }
        _ => None,
    };
    let document = body
        .graph_data
        .as_deref()
        .map(|raw| parse_graph(raw, user.plan, state.settings.max_body_bytes))
        .transpose()?;
    let published = agent_id.clone().unwrap_or_else(|| current.agent_id.clone());
    // The document is checked when it changes or is published under another id; a rename
    // or a visibility change leaves a graph that was valid when saved alone (even if the plan
    // has shrunk since).
    let warnings = if document.is_some() || agent_id.is_some() {
        let effective = document.as_ref().unwrap_or(&current.document);
        let diagnostics = graphs::validate(
            &state,
            Some(user.id()),
            user.plan,
            effective,
            published.as_deref(),
        )
        .await?;
        Some(require_valid(diagnostics)?)
    } else {
        None
    };
    // Changing an agent's interface under its callers needs `force`.
    if let (Some(agent), Some(new)) = (&current.agent_id, &document)
        && published.as_deref() == Some(agent.as_str())
        && !force.force.unwrap_or(false)
    {
        let check = check_callers(&state, user.id(), agent, &current.document, new).await?;
        if check.blocks() {
            return Err(ApiError::BreakingChange {
                agent: agent.clone(),
                change: check.change,
                broken: check.broken,
                hidden: check.hidden,
            });
        }
    }
    let new_version = document
        .as_ref()
        .is_some_and(|d| d.digest() != current.head);
    let record = state
        .store
        .update_graph(
            id,
            user.id(),
            GraphUpdate {
                base,
                author_id: user.id(),
                name,
                description,
                agent_id: agent_id.clone(),
                is_public: body.is_public,
                document,
            },
        )
        .await;
    let record = match record {
        Ok(record) => record,
        Err(StoreError::Conflict(what)) if what.contains("version") => {
            let now = state.store.graph(id, Some(user.id())).await?;
            return Err(ApiError::VersionConflict {
                base: base.map(|b| b.to_string()).unwrap_or_default(),
                current: now.head.to_string(),
            });
        }
        Err(e) => {
            return Err(conflict_as(
                "a graph with this name, or an agent with this id, already exists",
            )(e));
        }
    };
    if new_version {
        state.metrics.graph_versions.inc();
    }
    state
        .store
        .record_event(
            Some(user.id()),
            Some(id),
            "graph.updated",
            json!({"version": record.head.to_string(), "new_version": new_version}),
        )
        .await?;
    if let Some(Some(agent)) = &agent_id
        && current.agent_id.as_deref() != Some(agent.as_str())
    {
        state
            .store
            .record_event(
                Some(user.id()),
                Some(id),
                "agent.published",
                json!({"agent_id": agent}),
            )
            .await?;
    }
    Ok((
        etag(&record.head),
        Json(GraphResponse {
            graph: view_with(record, warnings.as_deref())?,
            success: true,
        }),
    ))
}

/// Delete a graph you own, with its versions.
#[utoipa::path(delete, path = "/api/graphs/{id}", tag = "graphs", params(("id" = Uuid, Path)), security(("bearer" = []), ("api_key" = [])),
    responses((status = 200, body = Success), (status = 404, body = Problem)))]
#[tracing::instrument(skip_all, fields(user_id = %user.id(), graph_id = %id), err)]
async fn delete_graph(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<Uuid>,
) -> Result<Json<Success>, ApiError> {
    state.store.delete_graph(id, user.id()).await?;
    state
        .store
        .record_event(
            Some(user.id()),
            None,
            "graph.deleted",
            json!({"graph_id": id}),
        )
        .await?;
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
#[tracing::instrument(skip_all, fields(user_id = %user.id(), graph_id = %id), err)]
async fn clone_graph(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<Uuid>,
    Json(body): Json<CloneGraph>,
) -> Result<(StatusCode, HeaderMap, Json<GraphResponse>), ApiError> {
    let source = state.store.graph(id, Some(user.id())).await?;
    let name = match body.name {
        Some(name) => check_graph_name(&name)?,
        None => check_graph_name(
            &format!("Copy of {}", source.name)
                .chars()
                .take(MAX_NAME)
                .collect::<String>(),
        )?,
    };
    user.plan
        .check(LimitKind::NodesPerGraph, source.node_count)
        .map_err(ApiError::PlanLimit)?;
    let warnings = require_valid(
        graphs::validate(&state, Some(user.id()), user.plan, &source.document, None).await?,
    )?;
    let record = state
        .store
        .create_graph(NewGraph {
            owner_id: user.id(),
            name,
            description: source.description.clone(),
            agent_id: None,
            is_public: false,
            document: source.document,
            max_graphs: user.plan.limits().allowance(LimitKind::Graphs),
        })
        .await
        .map_err(|e| match e {
            StoreError::Quota { limit, .. } => plan_limit(user.plan, LimitKind::Graphs, limit),
            other => conflict_as("a graph with this name already exists")(other),
        })?;
    state
        .store
        .record_event(
            Some(user.id()),
            Some(record.id),
            "graph.cloned",
            json!({"from": id}),
        )
        .await?;
    Ok((
        StatusCode::CREATED,
        etag(&record.head),
        Json(GraphResponse {
            graph: view(record, &warnings)?,
            success: true,
        }),
    ))
}

/// The versions of a graph, newest first.
#[utoipa::path(get, path = "/api/graphs/{id}/versions", tag = "graphs", params(("id" = Uuid, Path), PageQuery),
    security((), ("bearer" = []), ("api_key" = [])), responses((status = 200, body = VersionList), (status = 404, body = Problem)))]
#[tracing::instrument(skip_all, fields(graph_id = %id), err)]
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
#[tracing::instrument(skip_all, fields(graph_id = %id), err)]
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
#[tracing::instrument(skip_all, fields(graph_id = %id), err)]
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
        graphs::collect_agents(&state, viewer.id(), &from_version.document, depth).await?;
    let newer = graphs::collect_agents(&state, viewer.id(), &to_version.document, depth).await?;
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
#[tracing::instrument(skip_all, fields(graph_id = %id), err)]
async fn graph_layout(
    State(state): State<AppState>,
    viewer: MaybeUser,
    Path(id): Path<Uuid>,
    Query(q): Query<LayoutQuery>,
) -> Result<Response, ApiError> {
    let (digest, document) =
        version_document(&state, viewer.id(), id, q.version.as_deref()).await?;
    let seed = q.seed.unwrap_or(0);
    let nodes = document.nodes.iter().map(|n| n.id.clone()).collect();
    let (positions, hit) = graphs::layout(&state, digest, document, seed).await?;
    let mut response = Json(LayoutResponse {
        version: digest.to_string(),
        seed,
        nodes,
        positions,
        success: true,
    })
    .into_response();
    response.headers_mut().insert(
        "x-cache",
        HeaderValue::from_static(if hit { "hit" } else { "miss" }),
    );
    Ok(response)
}

/// A PNG picture of a graph, laid out in 3D and rendered headless.
#[utoipa::path(get, path = "/api/graphs/{id}/thumbnail.png", tag = "graphs", params(("id" = Uuid, Path), ThumbnailQuery),
    security((), ("bearer" = []), ("api_key" = [])),
    responses((status = 200, content_type = "image/png", body = Vec<u8>), (status = 400, body = Problem), (status = 404, body = Problem),
              (status = 503, description = "No renderer on this server", body = Problem)))]
#[tracing::instrument(skip_all, fields(graph_id = %id), err)]
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
    let (digest, document) =
        version_document(&state, viewer.id(), id, q.version.as_deref()).await?;
    let key = format!(
        "thumb:{digest}:{width}x{height}:{}",
        q.theme.as_deref().unwrap_or("dark")
    );
    let png = match state.shared.get(&key).await {
        Some(png) => png.to_vec(),
        None => {
            let (positions, _) = graphs::layout(&state, digest, document.clone(), 0).await?;
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
                .set(&key, png.clone(), std::time::Duration::from_secs(24 * 3600))
                .await;
            png
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

/// The graph, when `owner` owns it (404 otherwise, also for public graphs of others).
async fn owned(state: &AppState, id: Uuid, owner: Uuid) -> Result<GraphRecord, ApiError> {
    let record = state.store.graph(id, Some(owner)).await?;
    if record.owner_id != owner {
        return Err(ApiError::NotFound("graph"));
    }
    Ok(record)
}

fn view(record: GraphRecord, warnings: &[Diagnostic]) -> Result<GraphView, ApiError> {
    view_with(record, Some(warnings))
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

fn etag_header(version: &str) -> Option<(axum::http::HeaderName, HeaderValue)> {
    HeaderValue::from_str(&format!("\"{version}\""))
        .ok()
        .map(|v| (header::ETAG, v))
}

fn etag(digest: &Digest) -> HeaderMap {
    let mut headers = HeaderMap::new();
    if let Ok(value) = HeaderValue::from_str(&format!("\"{digest}\"")) {
        headers.insert(header::ETAG, value);
    }
    headers
}

/// The base version from `If-Match` and/or `base_version`; they must agree when both are sent.
fn base_version(headers: &HeaderMap, body: Option<&str>) -> Result<Option<Digest>, ApiError> {
    let header = match headers.get(header::IF_MATCH) {
        Some(value) => {
            let text = value
                .to_str()
                .map_err(|_| ApiError::BadRequest("If-Match must be a quoted version".into()))?;
            let text = text.trim().trim_start_matches("W/").trim_matches('"');
            Some(parse_version("If-Match", text)?)
        }
        None => None,
    };
    let body = body.map(|v| parse_version("base_version", v)).transpose()?;
    match (header, body) {
        (Some(a), Some(b)) if a != b => Err(ApiError::BadRequest(
            "If-Match and base_version name different versions".into(),
        )),
        (a, b) => Ok(a.or(b)),
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

fn check_graph_name(raw: &str) -> Result<String, ApiError> {
    let name = raw.trim();
    if name.is_empty() || name.chars().count() > MAX_NAME || name.chars().any(char::is_control) {
        return Err(ApiError::field(
            "name",
            "must be 1 to 200 characters without control characters",
        ));
    }
    Ok(name.to_owned())
}

fn check_description(raw: Option<String>) -> Result<Option<String>, ApiError> {
    match raw {
        Some(d) if d.chars().count() > MAX_DESCRIPTION => Err(ApiError::field(
            "description",
            "must be at most 10000 characters",
        )),
        Some(d) if d.trim().is_empty() => Ok(None),
        other => Ok(other),
    }
}

/// An agent id as the graph format defines it.
pub fn check_agent_id(raw: &str) -> Result<String, ApiError> {
    orrery_core::id::check_name(raw).map_err(|e| ApiError::field("agent_id", e.to_string()))?;
    Ok(raw.to_owned())
}

/// An agent id made from a name: lowercase letters, digits and `_`.
fn slug(name: &str) -> Result<String, ApiError> {
    let mut out = String::new();
    for c in name.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('_') && !out.is_empty() {
            out.push('_');
        }
    }
    let out: String = out.trim_end_matches('_').chars().take(64).collect();
    if out.is_empty() {
        return Err(ApiError::field(
            "agent_id",
            "the name has no letters or digits to make an agent id from; send agent_id",
        ));
    }
    Ok(out)
}

/// The 402 for a [`StoreError::Quota`] of `limit` (the plan's allowance of `kind`, which the
/// store checked atomically): the same problem a count over the allowance gives.
pub(crate) fn plan_limit(plan: Plan, kind: LimitKind, limit: u64) -> ApiError {
    let needed = limit.saturating_add(1);
    let exceeded = plan.check(kind, needed).err().unwrap_or(LimitExceeded {
        kind,
        plan,
        allowed: limit,
        needed,
        upgrade_to: None,
    });
    ApiError::PlanLimit(exceeded)
}

fn conflict_as(message: &'static str) -> impl Fn(StoreError) -> ApiError {
    move |e| match e {
        StoreError::Conflict(_) => ApiError::Conflict(message.into()),
        other => other.into(),
    }
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
    fn slugs_make_agent_ids() {
        assert_eq!(slug("Billing Bot (v2)").unwrap(), "billing_bot_v2");
        assert!(slug("!!!").is_err());
    }

    #[test]
    fn base_versions_come_from_if_match_or_the_body() {
        let d = format!("sha256:{}", "a".repeat(64));
        let mut h = HeaderMap::new();
        assert_eq!(base_version(&h, None).unwrap(), None);
        h.insert(
            header::IF_MATCH,
            HeaderValue::from_str(&format!("\"{d}\"")).unwrap(),
        );
        assert_eq!(base_version(&h, Some(&d)).unwrap().unwrap().to_string(), d);
        let other = format!("sha256:{}", "b".repeat(64));
        assert!(base_version(&h, Some(&other)).is_err());
        h.insert(header::IF_MATCH, HeaderValue::from_static("\"nope\""));
        assert!(base_version(&h, None).is_err());
    }

    #[test]
    fn pages_are_bounded() {
        assert!(page(Some(0), None).is_err());
        assert!(page(None, Some(101)).is_err());
        assert_eq!(page(None, None).unwrap(), Page { page: 1, limit: 20 });
    }
}

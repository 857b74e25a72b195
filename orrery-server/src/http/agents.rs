//! `/api/agents`: custom agents (graphs published under an agent id), their interfaces, their
//! callers, and the check of a new version against those callers before publishing it.

use axum::extract::State;
use orrery_core::store::GraphFilter;
use orrery_core::{Interface, Plan};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::graphs::{check_callers, parse_graph};
use crate::http::AppState;
use crate::http::error::{ApiError, Problem};
use crate::http::extract::{CurrentUser, Json, MaybeUser, Path, Query};
use crate::http::graphs::{GraphSummaryView, check_agent_id, page};

/// The routes of this module.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_agents))
        .routes(routes!(get_agent))
        .routes(routes!(callers))
        .routes(routes!(check))
}

/// A port of an agent's interface.
#[derive(Debug, Serialize, ToSchema)]
pub struct PortView {
    /// Its name.
    pub name: String,
    /// Its type.
    #[serde(rename = "type")]
    pub ty: String,
}

/// An agent's interface.
#[derive(Debug, Serialize, ToSchema)]
pub struct InterfaceView {
    /// One per `input` node; all required.
    pub inputs: Vec<PortView>,
    /// One per `output` node.
    pub outputs: Vec<PortView>,
}

impl From<&Interface> for InterfaceView {
    fn from(i: &Interface) -> InterfaceView {
        let ports = |ports: &[orrery_core::agents::InterfacePort]| {
            ports
                .iter()
                .map(|p| PortView {
                    name: p.name.clone(),
                    ty: p.ty.to_string(),
                })
                .collect()
        };
        InterfaceView {
            inputs: ports(&i.inputs),
            outputs: ports(&i.outputs),
        }
    }
}

/// A page of agents.
#[derive(Debug, Serialize, ToSchema)]
pub struct AgentList {
    /// This page (graphs published as agents).
    pub agents: Vec<GraphSummaryView>,
    /// Agents in all pages.
    pub total: u64,
    /// This page's number.
    pub page: u32,
}

/// One agent.
#[derive(Debug, Serialize, ToSchema)]
pub struct AgentResponse {
    /// The graph that publishes it.
    pub agent: GraphSummaryView,
    /// Its interface.
    pub interface: InterfaceView,
    /// Graphs of anyone's that use it now.
    pub caller_count: u64,
    /// Always true.
    pub success: bool,
}

/// A graph that uses an agent.
#[derive(Debug, Serialize, ToSchema)]
pub struct CallerView {
    /// The calling graph.
    pub graph_id: Uuid,
    /// Its current version.
    pub version: String,
    /// The `subgraph` node.
    pub node: String,
    /// The agent version it pins, or null for latest.
    pub pinned: Option<String>,
}

/// The callers you may see, and how many others there are.
#[derive(Debug, Serialize, ToSchema)]
pub struct CallerList {
    /// Your graphs and public graphs that use the agent.
    pub callers: Vec<CallerView>,
    /// Graphs of other accounts that use it privately.
    pub hidden_callers: u64,
    /// Always true.
    pub success: bool,
}

/// `POST /api/agents/{agent_id}/check`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckRequest {
    /// The proposed next version of the agent.
    #[schema(schema_with = crate::http::docs::graph_document, example = json!({"schema": 1, "nodes": [{"id": "question", "kind": "input", "outputs": [{"name": "value", "type": "text"}]}, {"id": "answer", "kind": "output", "inputs": [{"name": "value", "type": "text"}]}], "edges": [{"from": "question.value", "to": "answer.value"}]}))]
    pub graph_data: Box<serde_json::value::RawValue>,
}

/// What publishing a version would do.
#[derive(Debug, Serialize, ToSchema)]
pub struct CheckResponse {
    /// Whether some caller that fits now may not fit the new interface.
    pub breaking: bool,
    /// Whether publishing is refused without `force`.
    pub blocked: bool,
    /// Port by port.
    #[schema(value_type = Object)]
    pub interface: serde_json::Value,
    /// Callers you may see that would break, with why.
    #[schema(value_type = Vec<Object>)]
    pub broken_callers: serde_json::Value,
    /// Callers in other accounts' private graphs.
    pub hidden_callers: usize,
    /// Always true.
    pub success: bool,
}

/// Paging and search of the agents list (which always includes the public ones, and never
/// documents: an agent's versions have their own route).
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct AgentQuery {
    /// 1-based page (default 1).
    #[param(minimum = 1, maximum = 1000000)]
    pub page: Option<u32>,
    /// Items per page, 1 to 100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<u32>,
    /// Case-insensitive substring of name or description, at most 200 characters.
    #[param(max_length = 200)]
    pub search: Option<String>,
}

/// Agents you may use: yours and public ones.
#[utoipa::path(get, path = "/api/agents", tag = "agents", params(AgentQuery), security((), ("bearer" = []), ("api_key" = [])),
    responses((status = 200, body = AgentList), (status = 400, body = Problem)))]
#[tracing::instrument(skip_all, err(level = "info"))]
async fn list_agents(
    State(state): State<AppState>,
    viewer: MaybeUser,
    Query(q): Query<AgentQuery>,
) -> Result<Json<AgentList>, ApiError> {
    let page = page(q.page, q.limit)?;
    let search = q
        .search
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty());
    if search.as_ref().is_some_and(|s| s.chars().count() > 200) {
        return Err(ApiError::field("search", "must be at most 200 characters"));
    }
    let filter = match viewer.id() {
        Some(id) => GraphFilter {
            owner_id: Some(id),
            include_public: true,
            custom_agent: Some(true),
            search,
            page,
            ..GraphFilter::default()
        },
        None => GraphFilter {
            public: Some(true),
            custom_agent: Some(true),
            search,
            page,
            ..GraphFilter::default()
        },
    };
    let found = state.store.list_graphs(&filter).await?;
    Ok(Json(AgentList {
        agents: found.items.into_iter().map(Into::into).collect(),
        total: found.total,
        page: page.page,
    }))
}

/// One agent and its interface.
#[utoipa::path(get, path = "/api/agents/{agent_id}", tag = "agents", params(("agent_id" = String, Path, description = "An agent id", pattern = "^[A-Za-z0-9_][A-Za-z0-9_-]*$", max_length = 128)), security((), ("bearer" = []), ("api_key" = [])),
    responses((status = 200, body = AgentResponse), (status = 404, body = Problem)))]
#[tracing::instrument(skip_all, fields(agent_id = %agent_id), err(level = "info"))]
async fn get_agent(
    State(state): State<AppState>,
    viewer: MaybeUser,
    Path(agent_id): Path<String>,
) -> Result<Json<AgentResponse>, ApiError> {
    let agent_id = check_agent_id(&agent_id).map_err(|_| ApiError::NotFound("agent"))?;
    let record = state.store.agent(&agent_id, viewer.id()).await?;
    let interface = Interface::of(&record.document);
    let caller_count = state.store.count_callers(&agent_id).await?;
    Ok(Json(AgentResponse {
        agent: record.summary().into(),
        interface: (&interface).into(),
        caller_count,
        success: true,
    }))
}

/// The graphs that use an agent.
#[utoipa::path(get, path = "/api/agents/{agent_id}/callers", tag = "agents", params(("agent_id" = String, Path, description = "An agent id", pattern = "^[A-Za-z0-9_][A-Za-z0-9_-]*$", max_length = 128)), security((), ("bearer" = []), ("api_key" = [])),
    responses((status = 200, body = CallerList), (status = 404, body = Problem)))]
#[tracing::instrument(skip_all, fields(agent_id = %agent_id), err(level = "info"))]
async fn callers(
    State(state): State<AppState>,
    viewer: MaybeUser,
    Path(agent_id): Path<String>,
) -> Result<Json<CallerList>, ApiError> {
    let agent_id = check_agent_id(&agent_id).map_err(|_| ApiError::NotFound("agent"))?;
    state.store.agent(&agent_id, viewer.id()).await?;
    let visible = state.store.callers(&agent_id, viewer.id()).await?;
    let total = state.store.count_callers(&agent_id).await?;
    let graphs: std::collections::HashSet<Uuid> = visible.iter().map(|c| c.graph_id).collect();
    Ok(Json(CallerList {
        hidden_callers: total.saturating_sub(graphs.len() as u64),
        callers: visible
            .into_iter()
            .map(|c| CallerView {
                graph_id: c.graph_id,
                version: c.head.to_string(),
                node: c.node,
                pinned: c.pinned.map(|p| p.to_string()),
            })
            .collect(),
        success: true,
    }))
}

/// Check a proposed next version of an agent you own against its callers, without publishing.
#[utoipa::path(post, path = "/api/agents/{agent_id}/check", tag = "agents", params(("agent_id" = String, Path, description = "An agent id", pattern = "^[A-Za-z0-9_][A-Za-z0-9_-]*$", max_length = 128)), request_body = CheckRequest,
    security(("bearer" = []), ("api_key" = [])), responses((status = 200, body = CheckResponse), (status = 404, body = Problem), (status = 422, body = Problem)))]
#[tracing::instrument(skip_all, fields(agent_id = %agent_id), err(level = "info"))]
async fn check(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(agent_id): Path<String>,
    Json(body): Json<CheckRequest>,
) -> Result<Json<CheckResponse>, ApiError> {
    let agent_id = check_agent_id(&agent_id).map_err(|_| ApiError::NotFound("agent"))?;
    let record = state.store.agent(&agent_id, Some(user.id())).await?;
    if record.owner_id != user.id() {
        return Err(ApiError::NotFound("agent"));
    }
    let plan: Plan = user.plan;
    let new = parse_graph(&body.graph_data, plan, state.settings.max_body_bytes)?;
    let result = check_callers(&*state.store, user.id(), &agent_id, &record.document, &new).await?;
    Ok(Json(CheckResponse {
        breaking: result.change.breaking,
        blocked: result.blocks(),
        interface: serde_json::to_value(&result.change).map_err(ApiError::internal)?,
        broken_callers: serde_json::to_value(&result.broken).map_err(ApiError::internal)?,
        hidden_callers: result.hidden,
        success: true,
    }))
}

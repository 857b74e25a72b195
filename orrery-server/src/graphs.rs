//! Graph rules the HTTP handlers share: parsing `graph_data` under the plan's limits, collecting
//! the agents a graph nests from the store, validating, checking an agent's new interface
//! against its callers, and laying graphs out (cached per version).

use std::collections::HashSet;
use std::time::Duration;

use orrery_core::diff::BrokenCaller;
use orrery_core::plan::LimitKind;
use orrery_core::store::StoreError;
use orrery_core::{
    AgentRef, AgentVersion, Code, Diagnostic, Digest, Graph, Interface, MemoryResolver,
    ParseOptions, Plan, ValidateOptions, classify_interface, validate_with,
};
use serde_json::value::RawValue;
use uuid::Uuid;

use crate::http::AppState;
use crate::http::error::ApiError;
use crate::storage::Storage;

/// Most agents collected for one validation (each distinct agent version counts once).
const MAX_AGENTS: usize = 500;

/// Parses `graph_data` under the limits of `plan`.
pub fn parse_graph(raw: &RawValue, plan: Plan, max_bytes: usize) -> Result<Graph, ApiError> {
    let graph = Graph::from_json_with(raw.get(), &ParseOptions { max_bytes })
        .map_err(|e| ApiError::UnparsableGraph(format!("graph_data: {e}")))?;
    plan.check(LimitKind::NodesPerGraph, graph.nodes.len() as u64)
        .map_err(ApiError::PlanLimit)?;
    Ok(graph)
}

/// The agents `graph` nests, at every depth, as the store holds them for `viewer`: agents the
/// viewer may not read are left out, so validation reports them as unknown.
pub async fn collect_agents(
    store: &dyn Storage,
    viewer: Option<Uuid>,
    graph: &Graph,
    max_depth: usize,
) -> Result<MemoryResolver, ApiError> {
    let mut resolver = MemoryResolver::default();
    let mut seen: HashSet<AgentRef> = HashSet::new();
    let mut frontier: Vec<(AgentRef, usize)> = refs(graph).map(|r| (r, 1)).collect();
    while let Some((reference, depth)) = frontier.pop() {
        // One level past the limit, so validation can report the excess.
        if depth > max_depth + 1 || seen.len() >= MAX_AGENTS || !seen.insert(reference.clone()) {
            continue;
        }
        let record = match store.agent(&reference.id, viewer).await {
            Ok(record) => record,
            Err(StoreError::NotFound(_)) => continue,
            Err(e) => return Err(e.into()),
        };
        let (document, latest) = match reference.version {
            AgentVersion::Latest => (record.document, true),
            AgentVersion::Pinned(digest) if digest == record.head => (record.document, true),
            AgentVersion::Pinned(digest) => match store.version(record.id, viewer, digest).await {
                Ok(version) => (version.document, false),
                Err(StoreError::NotFound(_)) => continue,
                Err(e) => return Err(e.into()),
            },
        };
        frontier.extend(refs(&document).map(|r| (r, depth + 1)));
        // Ids in the store are valid agent ids.
        let _ = if latest {
            resolver.insert(&reference.id, document)
        } else {
            resolver.insert_pinned(&reference.id, document)
        };
    }
    Ok(resolver)
}

fn refs(graph: &Graph) -> impl Iterator<Item = AgentRef> + '_ {
    graph.nodes.iter().filter_map(|n| n.agent.clone())
}

/// Validates `graph` for `viewer` on `plan`: every diagnostic; a nesting depth over the plan's
/// limit is a plan limit (402) rather than a diagnostic, since a bigger plan lifts it.
pub async fn validate(
    store: &dyn Storage,
    viewer: Option<Uuid>,
    plan: Plan,
    graph: &Graph,
    agent_id: Option<&str>,
) -> Result<Vec<Diagnostic>, ApiError> {
    let limits = plan.limits();
    let graph_limits = limits.graph_limits();
    let resolver = collect_agents(store, viewer, graph, graph_limits.max_depth).await?;
    let options = ValidateOptions {
        limits: graph_limits,
        agent_id: agent_id.map(str::to_owned),
    };
    let diagnostics = validate_with(graph, &resolver, &options);
    if diagnostics.iter().any(|d| d.code == Code::NestingTooDeep) {
        let needed = u64::from(limits.nesting_depth) + 1;
        if let Err(exceeded) = plan.check(LimitKind::NestingDepth, needed) {
            return Err(ApiError::PlanLimit(exceeded));
        }
    }
    Ok(diagnostics)
}

/// Fails with every diagnostic when one is an error; returns the warnings otherwise.
pub fn require_valid(diagnostics: Vec<Diagnostic>) -> Result<Vec<Diagnostic>, ApiError> {
    if diagnostics.iter().any(Diagnostic::is_error) {
        return Err(ApiError::InvalidGraph(diagnostics));
    }
    Ok(diagnostics)
}

/// What a new version of an agent would do to its callers.
#[derive(Debug)]
pub struct CallerCheck {
    /// How the interface changes.
    pub change: orrery_core::diff::InterfaceChange,
    /// Callers `viewer` may see whose ports no longer fit.
    pub broken: Vec<BrokenCaller>,
    /// Callers `viewer` may not see that use the agent.
    pub hidden: usize,
}

impl CallerCheck {
    /// Whether publishing should be refused without `force`: a visible caller breaks, or the
    /// change is breaking and callers the requester cannot inspect use the agent.
    pub fn blocks(&self) -> bool {
        !self.broken.is_empty() || (self.change.breaking && self.hidden > 0)
    }
}

/// Checks `new` as the next version of agent `agent_id` (now `old`) against its callers.
pub async fn check_callers(
    store: &dyn Storage,
    viewer: Uuid,
    agent_id: &str,
    old: &Graph,
    new: &Graph,
) -> Result<CallerCheck, ApiError> {
    let change = classify_interface(&Interface::of(old), &Interface::of(new));
    let interface = Interface::of(new);
    let visible = store.callers(agent_id, Some(viewer)).await?;
    let total = store.count_callers(agent_id).await?;
    let mut broken = Vec::new();
    for caller in &visible {
        if caller.pinned.is_some() {
            continue; // A pinned caller keeps the version it pinned.
        }
        let record = match store.graph(caller.graph_id, Some(viewer)).await {
            Ok(record) => record,
            Err(StoreError::NotFound(_)) => continue,
            Err(e) => return Err(e.into()),
        };
        let Some(node) = record.document.node(&caller.node) else {
            continue;
        };
        let problems = interface.mismatches(node);
        if !problems.is_empty() {
            broken.push(BrokenCaller {
                graph: record.name.clone(),
                digest: record.head,
                node: caller.node.clone(),
                problems,
            });
        }
    }
    let visible_graphs: HashSet<Uuid> = visible.iter().map(|c| c.graph_id).collect();
    Ok(CallerCheck {
        change,
        broken,
        hidden: (total as usize).saturating_sub(visible_graphs.len()),
    })
}

/// Positions of `graph` (version `digest`) for `seed`, from the shared cache or computed off the
/// async threads. Returns whether they came from the cache.
pub async fn layout(
    state: &AppState,
    digest: Digest,
    graph: Graph,
    seed: u64,
) -> Result<(Vec<[f32; 3]>, bool), ApiError> {
    // A graph being started has no nodes yet: nothing to place, not an error.
    if graph.nodes.is_empty() {
        return Ok((Vec::new(), false));
    }
    let key = format!("layout:{digest}:{seed}");
    if let Some(bytes) = state.shared.get(&key).await
        && let Ok(positions) = serde_json::from_slice::<Vec<[f32; 3]>>(&bytes)
    {
        return Ok((positions, true));
    }
    let positions = tokio::task::spawn_blocking(move || {
        let input = orrery_render::document::layout_graph(&graph)?;
        orrery_render::layout::force_directed(
            &input,
            &orrery_render::layout::LayoutOptions {
                seed,
                ..Default::default()
            },
        )
    })
    .await
    .map_err(ApiError::internal)?
    .map_err(|e| ApiError::BadRequest(format!("the graph cannot be laid out: {e}")))?;
    if let Ok(bytes) = serde_json::to_vec(&positions) {
        state
            .shared
            .set(&key, bytes, Duration::from_secs(24 * 3600))
            .await;
    }
    Ok((positions, false))
}

/// A headless renderer of `width` × `height`, made once per size and kept (a few sizes at most).
pub async fn renderer(
    state: &AppState,
    width: u32,
    height: u32,
) -> Result<std::sync::Arc<orrery_render::Renderer>, ApiError> {
    state
        .renderers
        .try_get_with((width, height), async move {
            tokio::task::spawn_blocking(move || {
                orrery_render::Renderer::headless(width, height).map(std::sync::Arc::new)
            })
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| e.to_string())
        })
        .await
        .map_err(|e: std::sync::Arc<String>| {
            tracing::warn!(error = %e, "no renderer");
            ApiError::Unavailable(
                "rendering is unavailable on this server (no GPU or software adapter)".into(),
            )
        })
}

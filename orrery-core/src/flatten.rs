//! Flattening: inline every custom agent into one level, keeping the hierarchy recoverable.
//!
//! A `subgraph` node `billing` that uses agent `billing_bot` becomes the agent's nodes with ids
//! prefixed `billing/`, and a [`Group`] `billing` records which agent version they came from.
//! The agent's `input` and `output` nodes become `relay` nodes, so the caller's edges arrive at
//! and leave from them: every edge keeps its types, and a valid graph flattens to a valid graph.

use rustc_hash::FxHashMap;

use crate::agents::{ResolvedAgent, Resolver};
use crate::document::{
    AgentRef, AgentVersion, Edge, Endpoint, Graph, Group, InputPort, Node, OutputPort,
};
use crate::types::NodeKind;

/// Limits that keep flattening bounded: agents used many times inside agents multiply.
#[derive(Clone, Debug)]
pub struct FlattenOptions {
    /// Most nodes in the flattened graph.
    pub max_nodes: usize,
    /// How deep agents may nest.
    pub max_depth: usize,
}

impl Default for FlattenOptions {
    fn default() -> FlattenOptions {
        FlattenOptions {
            max_nodes: 1_000_000,
            max_depth: 8,
        }
    }
}

/// Why a graph could not be flattened. Validation reports the same problems as diagnostics.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FlattenError {
    /// A `subgraph` node has no agent reference.
    #[error("subgraph node `{node}` does not say which agent it uses")]
    MissingAgent {
        /// The node's flattened id.
        node: String,
    },
    /// The resolver does not know the agent or version.
    #[error("node `{node}` uses unknown agent {agent}")]
    UnknownAgent {
        /// The node's flattened id.
        node: String,
        /// The reference, as written.
        agent: String,
    },
    /// The resolver knows the agent but could not load it.
    #[error("agent for `{node}` could not be loaded: {message}")]
    AgentUnavailable {
        /// The node's flattened id.
        node: String,
        /// The resolver's error.
        message: String,
    },
    /// An agent contains itself.
    #[error("nesting cycle: {}", .ring.join(" → "))]
    NestingCycle {
        /// The agent ids around the cycle, the first repeated at the end.
        ring: Vec<String>,
    },
    /// Agents nest deeper than allowed.
    #[error("`{node}` nests agents deeper than the limit of {limit}")]
    TooDeep {
        /// The node's flattened id.
        node: String,
        /// The depth limit.
        limit: usize,
    },
    /// The flattened graph would have too many nodes.
    #[error("the flattened graph would have more than {limit} nodes")]
    TooLarge {
        /// The node limit.
        limit: usize,
    },
}

/// Inlines every agent `graph` uses, at every depth, with default limits.
pub fn flatten(graph: &Graph, resolver: &dyn Resolver) -> Result<Graph, FlattenError> {
    flatten_with(graph, resolver, &FlattenOptions::default())
}

/// Inlines every agent `graph` uses, at every depth.
pub fn flatten_with(
    graph: &Graph,
    resolver: &dyn Resolver,
    options: &FlattenOptions,
) -> Result<Graph, FlattenError> {
    let mut f = Flattener {
        resolver,
        options,
        out: Graph {
            groups: graph.groups.clone(),
            nodes: Vec::with_capacity(graph.nodes.len()),
            edges: Vec::with_capacity(graph.edges.len()),
            ui: graph.ui.clone(),
        },
        stack: Vec::new(),
    };
    f.inline(graph, "", None)?;
    Ok(f.out)
}

impl Graph {
    /// The group a node of a flattened graph was inlined from (its innermost one).
    pub fn group_of(&self, node_id: &str) -> Option<&Group> {
        let (group, _) = node_id.rsplit_once('/')?;
        self.groups.iter().find(|g| g.id == group)
    }
}

struct Flattener<'a> {
    resolver: &'a dyn Resolver,
    options: &'a FlattenOptions,
    out: Graph,
    stack: Vec<String>,
}

/// How the edges of one level reach the relays of the agents its `subgraph` nodes stand for.
struct Inlined {
    /// Agent input or output name → the port name of the relay that replaced it.
    relay_port: FxHashMap<String, String>,
}

/// The node a nested level was called from, whose declared ports type the relays.
struct Caller<'g> {
    node: &'g Node,
}

impl Flattener<'_> {
    fn inline(
        &mut self,
        graph: &Graph,
        prefix: &str,
        caller: Option<Caller<'_>>,
    ) -> Result<(), FlattenError> {
        let mut inlined: FxHashMap<&str, Inlined> = FxHashMap::default();
        for node in &graph.nodes {
            let id = format!("{prefix}{}", node.id);
            if self.out.nodes.len() >= self.options.max_nodes {
                return Err(FlattenError::TooLarge {
                    limit: self.options.max_nodes,
                });
            }
            if node.kind != NodeKind::Subgraph {
                let mut copy = node.clone();
                copy.id = id;
                if let Some(caller) = &caller {
                    relay_interface_node(&mut copy, caller.node);
                }
                self.out.nodes.push(copy);
                continue;
            }
            let agent_ref = node
                .agent
                .as_ref()
                .ok_or_else(|| FlattenError::MissingAgent { node: id.clone() })?;
            let agent = self.resolve(agent_ref, &id)?;
            if self.stack.contains(&agent.id) {
                let at = self.stack.iter().position(|a| *a == agent.id).unwrap_or(0);
                let mut ring = self.stack[at..].to_vec();
                ring.push(agent.id.clone());
                return Err(FlattenError::NestingCycle { ring });
            }
            if self.stack.len() >= self.options.max_depth {
                return Err(FlattenError::TooDeep {
                    node: id,
                    limit: self.options.max_depth,
                });
            }
            self.out.groups.push(Group {
                id: id.clone(),
                agent: AgentRef {
                    id: agent.id.clone(),
                    version: AgentVersion::Pinned(agent.digest),
                },
                label: node.label.clone(),
                position: node.position,
            });
            self.stack.push(agent.id.clone());
            let graph = agent.graph.clone();
            self.inline(&graph, &format!("{id}/"), Some(Caller { node }))?;
            self.stack.pop();
            let relay_port = graph
                .nodes
                .iter()
                .filter_map(|n| match n.kind {
                    NodeKind::Input => Some((n.id.clone(), n.outputs.first()?.name.clone())),
                    NodeKind::Output => Some((n.id.clone(), n.inputs.first()?.name.clone())),
                    _ => None,
                })
                .collect();
            inlined.insert(node.id.as_str(), Inlined { relay_port });
        }
        for edge in &graph.edges {
            self.out.edges.push(Edge {
                from: endpoint(&edge.from, prefix, &inlined),
                to: endpoint(&edge.to, prefix, &inlined),
                ui: edge.ui.clone(),
            });
        }
        Ok(())
    }

    fn resolve(&self, agent: &AgentRef, node: &str) -> Result<ResolvedAgent, FlattenError> {
        match self.resolver.resolve(agent) {
            Ok(Some(found)) => Ok(found),
            Ok(None) => Err(FlattenError::UnknownAgent {
                node: node.to_owned(),
                agent: agent.to_string(),
            }),
            Err(e) => Err(FlattenError::AgentUnavailable {
                node: node.to_owned(),
                message: e.to_string(),
            }),
        }
    }
}

/// Turns an inlined agent's `input` or `output` node into a relay typed on the outside by the
/// port the caller's `subgraph` node declares.
fn relay_interface_node(node: &mut Node, caller: &Node) {
    let name = node.id.rsplit('/').next().unwrap_or_default().to_owned();
    match node.kind {
        NodeKind::Input => {
            let Some(out) = node.outputs.first() else {
                return;
            };
            let ty = caller.input(&name).map_or(out.ty.clone(), |p| p.ty.clone());
            node.inputs = vec![InputPort::new(out.name.clone(), ty)];
        }
        NodeKind::Output => {
            let Some(inp) = node.inputs.first() else {
                return;
            };
            let ty = caller
                .output(&name)
                .map_or(inp.ty.clone(), |p| p.ty.clone());
            node.outputs = vec![OutputPort::new(inp.name.clone(), ty)];
        }
        _ => return,
    }
    node.kind = NodeKind::Relay;
}

/// Rewrites an endpoint of one level into the flattened graph: prefixed, and moved onto the relay
/// when it names a port of an inlined `subgraph` node.
fn endpoint(endpoint: &Endpoint, prefix: &str, inlined: &FxHashMap<&str, Inlined>) -> Endpoint {
    let Some((node, port)) = endpoint.parts() else {
        return Endpoint::from(format!("{prefix}{endpoint}"));
    };
    match inlined.get(node).and_then(|i| i.relay_port.get(port)) {
        Some(relay_port) => Endpoint::from(format!("{prefix}{node}/{port}.{relay_port}")),
        None => Endpoint::from(format!("{prefix}{endpoint}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agents::MemoryResolver;
    use crate::validate;

    const AGENT: &str = r#"{"schema":1,"nodes":[
        {"id":"question","kind":"input","outputs":[{"name":"value","type":"text"}]},
        {"id":"classify","kind":"agent","inputs":[{"name":"text","type":"text"}],"outputs":[{"name":"label","type":"text"}]},
        {"id":"label","kind":"output","inputs":[{"name":"value","type":"text"}]}],
        "edges":[{"from":"question.value","to":"classify.text"},{"from":"classify.label","to":"label.value"}]}"#;

    const CALLER: &str = r#"{"schema":1,"nodes":[
        {"id":"in","kind":"input","outputs":[{"name":"value","type":"text"}]},
        {"id":"triage","kind":"subgraph","label":"Triage","agent":{"id":"triage_bot"},
         "inputs":[{"name":"question","type":"text"}],"outputs":[{"name":"label","type":"json"}]},
        {"id":"out","kind":"output","inputs":[{"name":"value","type":"json"}]}],
        "edges":[{"from":"in.value","to":"triage.question"},{"from":"triage.label","to":"out.value"}]}"#;

    #[test]
    fn agents_are_inlined_with_namespaced_ids_and_relays() {
        let mut agents = MemoryResolver::default();
        let digest = agents
            .insert("triage_bot", Graph::from_json(AGENT).unwrap())
            .unwrap();
        let caller = Graph::from_json(CALLER).unwrap();
        let flat = flatten(&caller, &agents).unwrap();
        let ids: Vec<(&str, &str)> = flat
            .nodes
            .iter()
            .map(|n| (n.id.as_str(), n.kind.as_str()))
            .collect();
        assert_eq!(
            ids,
            [
                ("in", "input"),
                ("triage/question", "relay"),
                ("triage/classify", "agent"),
                ("triage/label", "relay"),
                ("out", "output"),
            ]
        );
        let edges: Vec<(&str, &str)> = flat
            .edges
            .iter()
            .map(|e| (e.from.as_str(), e.to.as_str()))
            .collect();
        assert_eq!(
            edges,
            [
                ("triage/question.value", "triage/classify.text"),
                ("triage/classify.label", "triage/label.value"),
                ("in.value", "triage/question.value"),
                ("triage/label.value", "out.value"),
            ]
        );
        assert_eq!(
            flat.group_of("triage/classify").unwrap().agent.version,
            AgentVersion::Pinned(digest)
        );
        // The relay's outer side takes the caller's declared type.
        assert_eq!(
            flat.node("triage/label").unwrap().outputs[0].ty.as_str(),
            "json"
        );
        assert_eq!(validate(&flat, &agents), vec![]);
        assert_eq!(validate(&caller, &agents), vec![]);
    }

    #[test]
    fn unknown_agents_and_cycles_are_errors() {
        let caller = Graph::from_json(CALLER).unwrap();
        let err = flatten(&caller, &MemoryResolver::default()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "node `triage` uses unknown agent triage_bot@latest"
        );

        let mut agents = MemoryResolver::default();
        let selfish = CALLER.replace("triage_bot", "selfish");
        agents
            .insert("selfish", Graph::from_json(&selfish).unwrap())
            .unwrap();
        let err = flatten(&Graph::from_json(&selfish).unwrap(), &agents).unwrap_err();
        assert_eq!(err.to_string(), "nesting cycle: selfish → selfish");

        let mut agents = MemoryResolver::default();
        agents
            .insert("triage_bot", Graph::from_json(AGENT).unwrap())
            .unwrap();
        let options = FlattenOptions {
            max_nodes: 3,
            ..Default::default()
        };
        let err = flatten_with(&caller, &agents, &options).unwrap_err();
        assert_eq!(err, FlattenError::TooLarge { limit: 3 });
    }
}

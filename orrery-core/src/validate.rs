//! Validation: every problem of a graph and of every agent it nests, in one pass, in time linear
//! in the size of the graph and its agents.
//!
//! Each graph level is checked in a fixed order (groups, nodes, edges, ports, cycles,
//! reachability, then nested agents), so the diagnostics of a graph always come out in the same
//! order. Each agent version is checked once however often it is used; its diagnostics carry the
//! nesting path of its first use.

use std::collections::hash_map::Entry;
use std::sync::Arc;

use petgraph::graph::{DiGraph, NodeIndex};
use rustc_hash::{FxHashMap, FxHashSet};

use crate::agents::{Interface, ResolvedAgent, Resolver};
use crate::diagnostic::{Code, Diagnostic, Direction, Location, Step};
use crate::digest::Digest;
use crate::document::{AgentRef, AgentVersion, Graph, Node};
use crate::id::{check_name, check_path};
use crate::types::{NodeKind, PortType};

/// Size limits for one graph level. A plan's [`Limits`](crate::Limits) give the values a
/// hosted account gets; the defaults suit local use.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GraphLimits {
    /// Most nodes in one graph (each nesting level counts separately).
    pub max_nodes: usize,
    /// Most edges in one graph.
    pub max_edges: usize,
    /// Most ports on one node, inputs and outputs together.
    pub max_ports: usize,
    /// How deep agents may nest: 1 allows agents that use no agents themselves.
    pub max_depth: usize,
}

impl Default for GraphLimits {
    fn default() -> GraphLimits {
        GraphLimits {
            max_nodes: 1_000_000,
            max_edges: 4_000_000,
            max_ports: 256,
            max_depth: 8,
        }
    }
}

/// What validation checks against.
#[derive(Clone, Debug, Default)]
pub struct ValidateOptions {
    /// Size and nesting limits.
    pub limits: GraphLimits,
    /// The agent id of the graph being validated, when it is itself an agent, so that using
    /// itself (directly or through other agents) is reported as a nesting cycle at once.
    pub agent_id: Option<String>,
}

/// Every diagnostic of `graph` and the agents it nests, with default options.
pub fn validate(graph: &Graph, resolver: &dyn Resolver) -> Vec<Diagnostic> {
    validate_with(graph, resolver, &ValidateOptions::default())
}

/// Every diagnostic of `graph` and the agents it nests.
pub fn validate_with(
    graph: &Graph,
    resolver: &dyn Resolver,
    options: &ValidateOptions,
) -> Vec<Diagnostic> {
    let mut v = Validator {
        resolver,
        limits: &options.limits,
        out: Vec::new(),
        stack: Vec::new(),
        done: FxHashMap::default(),
        resolved: FxHashMap::default(),
        accepts: accept_table(),
    };
    if let Some(id) = &options.agent_id {
        v.stack.push((id.clone(), graph.digest()));
    }
    v.check_level(graph, &[]);
    v.out
}

/// A graph that validated without errors, with the warnings it had.
#[derive(Clone, Debug)]
pub struct ValidGraph {
    graph: Graph,
    warnings: Vec<Diagnostic>,
}

impl ValidGraph {
    /// Validates `graph`; every diagnostic comes back when there is at least one error.
    pub fn new(
        graph: Graph,
        resolver: &dyn Resolver,
        options: &ValidateOptions,
    ) -> Result<ValidGraph, Vec<Diagnostic>> {
        let diagnostics = validate_with(&graph, resolver, options);
        if diagnostics.iter().any(Diagnostic::is_error) {
            return Err(diagnostics);
        }
        Ok(ValidGraph {
            graph,
            warnings: diagnostics,
        })
    }

    /// The graph.
    pub fn graph(&self) -> &Graph {
        &self.graph
    }

    /// The warnings it had.
    pub fn warnings(&self) -> &[Diagnostic] {
        &self.warnings
    }

    /// The graph, giving up the proof.
    pub fn into_graph(self) -> Graph {
        self.graph
    }
}

type AgentKey = (String, Digest);
type Resolution = Result<Option<ResolvedAgent>, String>;

struct Validator<'a> {
    resolver: &'a dyn Resolver,
    limits: &'a GraphLimits,
    out: Vec<Diagnostic>,
    /// The agents being checked, outermost first: finding one again is a nesting cycle.
    stack: Vec<AgentKey>,
    /// Agents already checked, with their interface and nesting height.
    done: FxHashMap<AgentKey, (Arc<Interface>, usize)>,
    resolved: FxHashMap<AgentRef, Resolution>,
    /// `accepts[to][from]`: whether an edge from a port of type `from` into one of type `to`
    /// is fine, for the types as [`Ty`] (an unknown type is reported at its port, never at an
    /// edge).
    accepts: [[bool; TYS]; TYS],
}

/// What one graph level knows about its nodes after the node pass, laid out flat so that the
/// edge pass never touches a node's strings: ids are found through [`Ids`], and each node's
/// ports are slices of the flat port tables, found by their packed names.
struct Level<'g> {
    ids: Ids<'g>,
    /// What each node is, as far as the graph checks care.
    roles: Vec<Role>,
    inputs: Ports,
    outputs: Ports,
    /// Whether each input port (a slot of `inputs`) must have an edge.
    required: Vec<bool>,
    /// Whether each input port may take several edges.
    multiple: Vec<bool>,
    /// Edges arriving at each input port.
    incoming: Vec<u32>,
}

/// The ports of every node on one side, in node order: node `a`'s are the slots
/// `offset[a]..offset[a + 1]`.
struct Ports {
    offset: Vec<u32>,
    names: Vec<Key>,
    types: Vec<Ty>,
}

/// A node's kind, as far as the graph checks care.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Role {
    Input,
    Output,
    Subgraph,
    Loop,
    Note,
    Relay,
    Unknown,
    Other,
}

impl Validator<'_> {
    fn emit(
        &mut self,
        path: &[Step],
        code: Code,
        mut location: Location,
        message: String,
        help: impl Into<String>,
    ) {
        location.path = path.to_vec();
        self.out
            .push(Diagnostic::new(code, location, message, help));
    }

    /// Checks one graph level and the agents below it; returns its nesting height.
    fn check_level(&mut self, graph: &Graph, path: &[Step]) -> usize {
        self.check_size(graph, path);
        let groups = self.check_groups(graph, path);
        let mut level = self.check_nodes(graph, path, &groups);
        let edges = self.check_edges(graph, path, &mut level);
        self.check_inputs(graph, path, &level);
        let adjacency = Adjacency::new(graph.nodes.len(), &edges);
        self.check_cycles(graph, path, &level.roles, &adjacency);
        self.check_reachability(graph, path, &level.roles, &adjacency);
        self.check_agents(graph, path, &level.roles)
    }

    fn check_size(&mut self, graph: &Graph, path: &[Step]) {
        let (nodes, edges) = (graph.nodes.len(), graph.edges.len());
        if nodes > self.limits.max_nodes {
            let max = self.limits.max_nodes;
            self.emit(
                path,
                Code::TooLarge,
                Location::graph(),
                format!("graph has {nodes} nodes, over the limit of {max}"),
                "split it into custom agents, or move to a plan with a higher limit",
            );
        }
        if edges > self.limits.max_edges {
            let max = self.limits.max_edges;
            self.emit(
                path,
                Code::TooLarge,
                Location::graph(),
                format!("graph has {edges} edges, over the limit of {max}"),
                "split it into custom agents, or move to a plan with a higher limit",
            );
        }
    }

    fn check_groups<'g>(&mut self, graph: &'g Graph, path: &[Step]) -> FxHashSet<&'g str> {
        let mut ids = FxHashSet::default();
        for group in &graph.groups {
            if let Err(e) = check_path(&group.id) {
                self.emit(
                    path,
                    Code::InvalidGroup,
                    Location::group(&group.id),
                    format!("group id `{}` is invalid: {e}", group.id),
                    "group ids are the paths of inlined subgraph nodes, like `billing/inner`",
                );
            } else if !ids.insert(group.id.as_str()) {
                self.emit(
                    path,
                    Code::InvalidGroup,
                    Location::group(&group.id),
                    format!("group `{}` is declared twice", group.id),
                    "declare each group once",
                );
            }
            if let Err(e) = check_name(&group.agent.id) {
                self.emit(
                    path,
                    Code::InvalidGroup,
                    Location::group(&group.id),
                    format!("group `{}` names an invalid agent id: {e}", group.id),
                    "agent ids are single names like `billing_bot`",
                );
            }
        }
        for group in &graph.groups {
            if let Some((parent, _)) = group.id.rsplit_once('/')
                && !ids.contains(parent)
            {
                self.emit(
                    path,
                    Code::InvalidGroup,
                    Location::group(&group.id),
                    format!(
                        "group `{}` is inside `{parent}`, which is not a group",
                        group.id
                    ),
                    format!("declare group `{parent}` too"),
                );
            }
        }
        ids
    }

    fn check_nodes<'g>(
        &mut self,
        graph: &'g Graph,
        path: &[Step],
        groups: &FxHashSet<&str>,
    ) -> Level<'g> {
        let n = graph.nodes.len();
        // First only gather what the checks need, with loads alone in the loop, so that the
        // cache misses of the strings of many nodes are under way at once.
        let mut id_keys = Vec::with_capacity(n);
        let mut has_agent = Vec::with_capacity(n);
        let mut roles = Vec::with_capacity(n);
        let mut inputs = Ports::with_capacity(n);
        let mut outputs = Ports::with_capacity(n);
        let mut required = Vec::with_capacity(n);
        let mut multiple = Vec::with_capacity(n);
        for node in &graph.nodes {
            id_keys.push(Key::of(&node.id));
            roles.push(Role::of(&node.kind));
            has_agent.push(node.agent.is_some());
            inputs.push_node(node.inputs.iter().map(|p| (&p.name, &p.ty)));
            outputs.push_node(node.outputs.iter().map(|p| (&p.name, &p.ty)));
            required.extend(node.inputs.iter().map(|p| p.required));
            multiple.extend(node.inputs.iter().map(|p| p.multiple));
        }
        let mut level = Level {
            ids: Ids::new(id_keys),
            roles,
            incoming: vec![0; inputs.names.len()],
            inputs,
            outputs,
            required,
            multiple,
        };
        for (i, &agent) in has_agent.iter().enumerate() {
            // Keep the first node under this id, so edges resolve to it.
            let first = level.ids.insert(i as u32, || &graph.nodes[i].id);
            let key = level.ids.keys[i];
            if first.is_none() && self.is_clean(graph, &level, i, key, agent) {
                continue;
            }
            // Something may be wrong: check the node again on its strings, with the messages.
            let node = &graph.nodes[i];
            self.check_node_id(node, path, groups);
            if let Some(first) = first {
                self.emit(
                    path,
                    Code::DuplicateNodeId,
                    Location::node(&node.id),
                    format!(
                        "node id `{}` is used by nodes[{first}] and nodes[{i}]",
                        node.id
                    ),
                    "give every node its own id",
                );
            }
            if let NodeKind::Unknown(kind) = &node.kind {
                self.emit(
                    path,
                    Code::UnknownKind,
                    Location::node(&node.id),
                    format!("node `{}` has unknown kind `{kind}`", node.id),
                    format!("use one of: {}", NodeKind::KNOWN.join(", ")),
                );
            }
            self.check_ports(node, path);
            self.check_shape(node, path);
        }
        level
    }

    /// Whether node `i` surely has nothing for [`check_node_id`](Self::check_node_id),
    /// [`check_ports`](Self::check_ports) and [`check_shape`](Self::check_shape) to report,
    /// judged from the gathered keys, roles and types; `false` sends it to those checks.
    fn is_clean(&self, graph: &Graph, level: &Level<'_>, i: usize, id: Key, agent: bool) -> bool {
        let role = level.roles[i];
        let inputs = level.inputs.range(i);
        let outputs = level.outputs.range(i);
        let (ins, outs) = (inputs.len(), outputs.len());
        if !id.is_name() || role == Role::Unknown || ins + outs > self.limits.max_ports {
            return false;
        }
        for (ports, range) in [(&level.inputs, inputs), (&level.outputs, outputs)] {
            let (names, types) = (&ports.names[range.clone()], &ports.types[range]);
            // At most max_ports names, as in check_ports.
            for (j, name) in names.iter().enumerate() {
                if !name.is_name() || names[..j].contains(name) {
                    return false;
                }
            }
            if types.contains(&Ty::UNKNOWN) {
                return false;
            }
        }
        let shape = match role {
            Role::Input => ins == 0 && outs == 1,
            Role::Output => ins == 1 && outs == 0,
            Role::Note => ins == 0 && outs == 0,
            Role::Relay => {
                ins == 1 && outs == 1 && {
                    let from = level.inputs.types[level.inputs.offset[i] as usize];
                    let to = level.outputs.types[level.outputs.offset[i] as usize];
                    self.accepts[to.0 as usize][from.0 as usize]
                }
            }
            _ => true,
        };
        shape
            && match (role, agent) {
                (Role::Subgraph, true) => graph.nodes[i]
                    .agent
                    .as_ref()
                    .is_some_and(|a| check_name(&a.id).is_ok()),
                (Role::Subgraph, false) | (_, true) => false,
                _ => true,
            }
    }

    fn check_node_id(&mut self, node: &Node, path: &[Step], groups: &FxHashSet<&str>) {
        let id = node.id.as_str();
        // Nearly every id is a plain name; only the others need to be told apart.
        if check_name(id).is_ok() {
            return;
        }
        let checked = if id.contains('/') {
            check_path(id)
        } else {
            check_name(id)
        };
        if let Err(e) = checked {
            self.emit(
                path,
                Code::InvalidNodeId,
                Location::node(id),
                format!("node id `{id}` is invalid: {e}"),
                "ids are letters, digits, `_` and `-`, like `classify_intent`",
            );
        } else if let Some((group, _)) = id.rsplit_once('/')
            && !groups.contains(group)
        {
            self.emit(
                path,
                Code::InvalidGroup,
                Location::node(id),
                format!("node `{id}` is namespaced under `{group}`, which is not a group"),
                "`/` in an id marks a node inlined by flatten; rename the node without `/`",
            );
        }
    }

    fn check_ports(&mut self, node: &Node, path: &[Step]) {
        let count = node.inputs.len() + node.outputs.len();
        if count > self.limits.max_ports {
            let max = self.limits.max_ports;
            self.emit(
                path,
                Code::TooLarge,
                Location::node(&node.id),
                format!(
                    "node `{}` has {count} ports, over the limit of {max}",
                    node.id
                ),
                "pass structured values (`json`) instead of one port per field",
            );
            return;
        }
        // At most max_ports names per node, so the duplicate scans stay linear in the graph.
        for (j, p) in node.inputs.iter().enumerate() {
            let duplicate = node.inputs[..j].iter().any(|o| o.name == p.name);
            self.check_port(node, path, Direction::Input, &p.name, &p.ty, duplicate);
        }
        for (j, p) in node.outputs.iter().enumerate() {
            let duplicate = node.outputs[..j].iter().any(|o| o.name == p.name);
            self.check_port(node, path, Direction::Output, &p.name, &p.ty, duplicate);
        }
    }

    fn check_port(
        &mut self,
        node: &Node,
        path: &[Step],
        direction: Direction,
        name: &str,
        ty: &PortType,
        duplicate: bool,
    ) {
        let location = || Location::port(&node.id, direction, name);
        if let Err(e) = check_name(name) {
            self.emit(
                path,
                Code::InvalidPortName,
                location(),
                format!("port name `{name}` of node `{}` is invalid: {e}", node.id),
                "port names are letters, digits, `_` and `-`, like `question`",
            );
        }
        if duplicate {
            self.emit(
                path,
                Code::DuplicatePort,
                location(),
                format!(
                    "node `{}` has two {} ports named `{name}`",
                    node.id,
                    direction_word(direction)
                ),
                "give each port of a side its own name",
            );
        }
        if let PortType::Unknown(t) = ty {
            self.emit(
                path,
                Code::UnknownType,
                location(),
                format!("port `{}.{name}` has unknown type `{t}`", node.id),
                format!("use one of: {}", PortType::KNOWN.join(", ")),
            );
        }
    }

    fn check_shape(&mut self, node: &Node, path: &[Step]) {
        let (ins, outs) = (node.inputs.len(), node.outputs.len());
        let shape = |want: &str| {
            format!(
                "{} node `{}` must have {want} (it has {ins} input{} and {outs} output{})",
                node.kind,
                node.id,
                plural(ins),
                plural(outs)
            )
        };
        let wrong = match node.kind {
            NodeKind::Input if ins != 0 || outs != 1 => {
                Some(shape("no input ports and exactly one output port"))
            }
            NodeKind::Output if ins != 1 || outs != 0 => {
                Some(shape("exactly one input port and no output ports"))
            }
            NodeKind::Relay if ins != 1 || outs != 1 => {
                Some(shape("exactly one input port and one output port"))
            }
            NodeKind::Note if ins != 0 || outs != 0 => Some(shape("no ports")),
            _ => None,
        };
        if let Some(message) = wrong {
            self.emit(
                path,
                Code::NodeShape,
                Location::node(&node.id),
                message,
                "input, output and relay nodes carry one value; notes carry none",
            );
        }
        if let (NodeKind::Relay, [input], [output]) =
            (&node.kind, node.inputs.as_slice(), node.outputs.as_slice())
            && !output.ty.accepts(&input.ty)
        {
            self.emit(
                path,
                Code::IncompatibleTypes,
                Location::node(&node.id),
                format!(
                    "relay `{}` receives {} but passes on {}",
                    node.id, input.ty, output.ty
                ),
                "give the relay's two ports compatible types",
            );
        }
        match (&node.kind, &node.agent) {
            (NodeKind::Subgraph, None) => self.emit(
                path,
                Code::AgentReference,
                Location::node(&node.id),
                format!(
                    "subgraph node `{}` does not say which agent it uses",
                    node.id
                ),
                r#"add "agent": {"id": "…", "version": "latest"} (or a pinned sha256: digest)"#,
            ),
            (NodeKind::Subgraph, Some(agent)) => {
                if let Err(e) = check_name(&agent.id) {
                    self.emit(
                        path,
                        Code::AgentReference,
                        Location::node(&node.id),
                        format!("node `{}` names an invalid agent id: {e}", node.id),
                        "agent ids are single names like `billing_bot`",
                    );
                }
            }
            (_, Some(_)) => self.emit(
                path,
                Code::AgentReference,
                Location::node(&node.id),
                format!(
                    "{} node `{}` has an `agent`, but only subgraph nodes use agents",
                    node.kind, node.id
                ),
                "make it a `subgraph` node, or remove `agent`",
            ),
            _ => {}
        }
    }

    /// Resolves every edge it can and reports the rest; returns the node pairs of the edges
    /// whose nodes exist.
    ///
    /// The pass over the edges only resolves them, to integers; the few edges with a problem are
    /// resolved again afterwards, in document order, to report it.
    fn check_edges(
        &mut self,
        graph: &Graph,
        path: &[Step],
        level: &mut Level<'_>,
    ) -> Vec<(u32, u32)> {
        let mut pairs = Vec::with_capacity(graph.edges.len());
        // The output and input port of each edge whose ports both exist.
        let mut ports = vec![(NONE, NONE); graph.edges.len()];
        let mut problems = Vec::new();
        for (i, edge) in graph.edges.iter().enumerate() {
            let (Some(from), Some(to)) = (edge.from.parts(), edge.to.parts()) else {
                problems.push(i as u32);
                continue;
            };
            let (Some(src), Some(dst)) = (level.ids.get(from.0), level.ids.get(to.0)) else {
                problems.push(i as u32);
                continue;
            };
            pairs.push((src, dst));
            let out = level.outputs.find(src, from.1, graph, Direction::Output);
            let input = level.inputs.find(dst, to.1, graph, Direction::Input);
            let (Some(out), Some(input)) = (out, input) else {
                problems.push(i as u32);
                continue;
            };
            ports[i] = (out, input);
            level.incoming[input as usize] += 1;
            let (from_ty, to_ty) = (
                level.outputs.types[out as usize],
                level.inputs.types[input as usize],
            );
            if !self.accepts[to_ty.0 as usize][from_ty.0 as usize] {
                problems.push(i as u32);
            }
        }
        let duplicates = duplicate_edges(&ports, &level.incoming);
        // Both lists are ascending; an edge in both is reported once.
        let (mut p, mut d) = (problems.iter().peekable(), duplicates.iter().peekable());
        loop {
            let (i, duplicate) = match (p.peek(), d.peek()) {
                (None, None) => break,
                (Some(&&a), Some(&&b)) if a == b => {
                    p.next();
                    d.next();
                    (a, true)
                }
                (Some(&&a), Some(&&b)) if a < b => {
                    p.next();
                    (a, false)
                }
                (Some(&&a), None) => {
                    p.next();
                    (a, false)
                }
                (_, Some(&&b)) => {
                    d.next();
                    (b, true)
                }
            };
            self.report_edge(graph, path, level, i as usize, duplicate);
        }
        pairs
    }

    /// Reports what is wrong with edge `i`, in the order a reader would find it: endpoints,
    /// nodes, ports, repetition, types.
    fn report_edge(
        &mut self,
        graph: &Graph,
        path: &[Step],
        level: &Level<'_>,
        i: usize,
        duplicate: bool,
    ) {
        let edge = &graph.edges[i];
        let (Some(from), Some(to)) = (edge.from.parts(), edge.to.parts()) else {
            for endpoint in [&edge.from, &edge.to] {
                if endpoint.parts().is_none() {
                    self.emit(
                        path,
                        Code::InvalidEndpoint,
                        Location::edge(i),
                        format!("edge endpoint `{endpoint}` is not of the form `node.port`"),
                        "write endpoints as the node id, a dot and the port name: `classify.text`",
                    );
                }
            }
            return;
        };
        let src = self.lookup_node(level, from.0, i, path);
        let dst = self.lookup_node(level, to.0, i, path);
        let (Some(src), Some(dst)) = (src, dst) else {
            return;
        };
        let (src_node, dst_node) = (&graph.nodes[src as usize], &graph.nodes[dst as usize]);
        let out = level.outputs.find(src, from.1, graph, Direction::Output);
        let input = level.inputs.find(dst, to.1, graph, Direction::Input);
        if out.is_none() {
            self.unknown_port(src_node, from.1, Direction::Output, i, path);
        }
        if input.is_none() {
            self.unknown_port(dst_node, to.1, Direction::Input, i, path);
        }
        let (Some(out), Some(input)) = (out, input) else {
            return;
        };
        if duplicate {
            self.emit(
                path,
                Code::DuplicateEdge,
                Location::edge(i),
                format!("edge {} -> {} appears more than once", edge.from, edge.to),
                "remove the repeated edge",
            );
        }
        let out_port =
            &src_node.outputs[out as usize - level.outputs.offset[src as usize] as usize];
        let in_port = &dst_node.inputs[input as usize - level.inputs.offset[dst as usize] as usize];
        let known = out_port.ty.is_known() && in_port.ty.is_known();
        if known && !in_port.ty.accepts(&out_port.ty) {
            self.emit(
                path,
                Code::IncompatibleTypes,
                Location::edge(i),
                format!(
                    "`{}` ({}) cannot feed `{}` ({})",
                    edge.from, out_port.ty, edge.to, in_port.ty
                ),
                format!(
                    "{} accepts {}; convert the value in a step between, or change a port type",
                    in_port.ty,
                    accepted_types(&in_port.ty)
                ),
            );
        }
    }

    fn lookup_node(
        &mut self,
        level: &Level<'_>,
        id: &str,
        edge: usize,
        path: &[Step],
    ) -> Option<u32> {
        let found = level.ids.get(id);
        if found.is_none() {
            self.emit(
                path,
                Code::UnknownNode,
                Location::edge(edge),
                format!("edge points at unknown node `{id}`"),
                format!("add a node with id `{id}`, or correct the edge"),
            );
        }
        found
    }

    fn unknown_port(
        &mut self,
        node: &Node,
        port: &str,
        direction: Direction,
        edge: usize,
        path: &[Step],
    ) {
        let (own, other): (Vec<&str>, bool) = match direction {
            Direction::Output => (
                node.outputs.iter().map(|p| p.name.as_str()).collect(),
                node.input(port).is_some(),
            ),
            Direction::Input => (
                node.inputs.iter().map(|p| p.name.as_str()).collect(),
                node.output(port).is_some(),
            ),
        };
        let word = direction_word(direction);
        let help = if other {
            match direction {
                Direction::Output => format!(
                    "`{port}` is an input of `{}`: edges leave from output ports",
                    node.id
                ),
                Direction::Input => format!(
                    "`{port}` is an output of `{}`: edges arrive at input ports",
                    node.id
                ),
            }
        } else if own.is_empty() {
            format!("`{}` has no {word} ports", node.id)
        } else {
            format!("the {word} ports of `{}` are: {}", node.id, own.join(", "))
        };
        self.emit(
            path,
            Code::UnknownPort,
            Location::edge(edge),
            format!("node `{}` has no {word} port `{port}`", node.id),
            help,
        );
    }

    fn check_inputs(&mut self, graph: &Graph, path: &[Step], level: &Level<'_>) {
        for (slot, &count) in level.incoming.iter().enumerate() {
            let problem = if count == 0 {
                level.required[slot]
            } else {
                count > 1 && !level.multiple[slot]
            };
            if !problem {
                continue;
            }
            // Rare, so finding the node by bisection costs nothing that matters.
            let offsets = &level.inputs.offset;
            let i = offsets.partition_point(|&o| o as usize <= slot) - 1;
            let node = &graph.nodes[i];
            let port = &node.inputs[slot - offsets[i] as usize];
            let location = Location::port(&node.id, Direction::Input, &port.name);
            if count == 0 {
                self.emit(
                    path,
                    Code::UnconnectedInput,
                    location,
                    format!("required input `{}.{}` has no edge", node.id, port.name),
                    r#"connect an edge to it, or mark the port "required": false"#,
                );
            } else {
                self.emit(
                    path,
                    Code::FanIn,
                    location,
                    format!(
                        "input `{}.{}` takes one edge but has {count}",
                        node.id, port.name
                    ),
                    r#"remove the extra edges, or mark the port "multiple": true to collect them"#,
                );
            }
        }
    }

    fn check_cycles(&mut self, graph: &Graph, path: &[Step], roles: &[Role], adj: &Adjacency) {
        let n = graph.nodes.len();
        // A cycle through a loop node is allowed, so loop nodes take no part.
        let is_loop: Vec<bool> = roles.iter().map(|&r| r == Role::Loop).collect();
        // Kahn's peeling first: on the common acyclic graph it is all the work there is, and
        // what it cannot peel lies on a cycle or behind one.
        let mut indegree = vec![0u32; n];
        for a in (0..n).filter(|&a| !is_loop[a]) {
            for &b in adj.out(a) {
                if !is_loop[b as usize] {
                    indegree[b as usize] += 1;
                }
            }
        }
        let mut stack: Vec<u32> = (0..n as u32)
            .filter(|&i| !is_loop[i as usize] && indegree[i as usize] == 0)
            .collect();
        while let Some(a) = stack.pop() {
            for &b in adj.out(a as usize) {
                if is_loop[b as usize] {
                    continue;
                }
                indegree[b as usize] -= 1;
                if indegree[b as usize] == 0 {
                    stack.push(b);
                }
            }
        }
        let rest: Vec<u32> = (0..n as u32)
            .filter(|&i| !is_loop[i as usize] && indegree[i as usize] > 0)
            .collect();
        if rest.is_empty() {
            return;
        }
        // Tarjan's strongly connected components (petgraph) on what is left.
        let mut local = vec![u32::MAX; n];
        for (k, &i) in rest.iter().enumerate() {
            local[i as usize] = k as u32;
        }
        let mut g: DiGraph<(), (), u32> = DiGraph::with_capacity(rest.len(), rest.len() * 2);
        for _ in &rest {
            g.add_node(());
        }
        let mut self_loops = Vec::new();
        for &a in &rest {
            for &b in adj.out(a as usize) {
                let (la, lb) = (local[a as usize], local[b as usize]);
                if lb == u32::MAX {
                    continue;
                }
                if la == lb {
                    self_loops.push(la);
                }
                g.add_edge(NodeIndex::new(la as usize), NodeIndex::new(lb as usize), ());
            }
        }
        let mut cycles: Vec<Vec<u32>> = petgraph::algo::tarjan_scc(&g)
            .into_iter()
            .filter(|scc| scc.len() > 1)
            .map(|scc| scc.into_iter().map(|ix| ix.index() as u32).collect())
            .collect();
        self_loops.sort_unstable();
        self_loops.dedup();
        cycles.extend(self_loops.into_iter().map(|a| vec![a]));
        for scc in &mut cycles {
            scc.sort_unstable();
        }
        // `rest` is ascending, so local order is document order.
        cycles.sort_unstable_by_key(|scc| scc[0]);
        for scc in cycles {
            let ring = cycle_through(&g, &scc);
            let names: Vec<&str> = ring
                .iter()
                .map(|&k| graph.nodes[rest[k as usize] as usize].id.as_str())
                .collect();
            let shown = if names.len() > 9 {
                format!(
                    "{} → … ({} more) → {}",
                    names[..4].join(" → "),
                    names.len() - 5,
                    names[names.len() - 1]
                )
            } else {
                names.join(" → ")
            };
            let first = &graph.nodes[rest[scc[0] as usize] as usize].id;
            self.emit(
                path,
                Code::Cycle,
                Location::node(first),
                format!("cycle {shown} does not pass through a loop node"),
                "remove an edge of the cycle, or route the feedback through a `loop` node",
            );
        }
    }

    fn check_reachability(
        &mut self,
        graph: &Graph,
        path: &[Step],
        roles: &[Role],
        adj: &Adjacency,
    ) {
        let n = graph.nodes.len();
        let mut degree = vec![0u32; n];
        for (a, d) in degree.iter_mut().enumerate() {
            *d += adj.out(a).len() as u32;
        }
        for &b in &adj.targets {
            degree[b as usize] += 1;
        }
        let mut seen = vec![false; n];
        let mut queue: Vec<u32> = Vec::new();
        for (i, &role) in roles.iter().enumerate() {
            if role == Role::Input {
                seen[i] = true;
                queue.push(i as u32);
            }
        }
        while let Some(a) = queue.pop() {
            for &b in adj.out(a as usize) {
                if !seen[b as usize] {
                    seen[b as usize] = true;
                    queue.push(b);
                }
            }
        }
        let mut outputs = 0;
        let mut working = 0;
        for (i, &role) in roles.iter().enumerate() {
            if role != Role::Note {
                working += 1;
            }
            if role == Role::Output {
                outputs += 1;
                if !seen[i] {
                    let node = &graph.nodes[i];
                    self.emit(
                        path,
                        Code::UnreachableOutput,
                        Location::node(&node.id),
                        format!("output `{}` cannot be reached from any input", node.id),
                        "connect it to the flow that starts at the graph's inputs",
                    );
                }
            }
        }
        if working > 1 {
            for (i, &role) in roles.iter().enumerate() {
                if degree[i] == 0 && role != Role::Note {
                    let node = &graph.nodes[i];
                    self.emit(
                        path,
                        Code::IsolatedNode,
                        Location::node(&node.id),
                        format!("node `{}` has no edges", node.id),
                        "connect it, or remove it",
                    );
                }
            }
        }
        if working > 0 && outputs == 0 {
            self.emit(
                path,
                Code::NoOutput,
                Location::graph(),
                "graph has no output node, so it produces nothing".to_owned(),
                "add an `output` node for each result the workflow returns",
            );
        }
    }

    /// Checks every `subgraph` node against its agent and the agent itself; returns the height.
    fn check_agents(&mut self, graph: &Graph, path: &[Step], roles: &[Role]) -> usize {
        let mut height = 0;
        for (node, _) in graph
            .nodes
            .iter()
            .zip(roles)
            .filter(|(_, r)| **r == Role::Subgraph)
        {
            let Some(agent) = &node.agent else {
                continue;
            };
            if check_name(&agent.id).is_err() {
                continue; // Reported with the node.
            }
            let Some(resolved) = self.resolve(agent, node, path) else {
                continue;
            };
            let key: AgentKey = (resolved.id.clone(), resolved.digest);
            let step = Step {
                node: node.id.clone(),
                agent: resolved.id.clone(),
                version: resolved.digest,
            };
            if let Some(at) = self.stack.iter().position(|k| *k == key) {
                let mut ring: Vec<&str> = self.stack[at..].iter().map(|k| k.0.as_str()).collect();
                ring.push(&key.0);
                let message = format!("nesting cycle: {}", ring.join(" → "));
                self.emit(
                    path,
                    Code::NestingCycle,
                    Location::node(&node.id),
                    message,
                    "an agent cannot contain itself, directly or through other agents",
                );
                continue;
            }
            let depth = path.len() + 1;
            let max = self.limits.max_depth;
            if depth > max {
                self.too_deep(node, &resolved, depth, path);
                continue;
            }
            // A fresh check reports excess depth where it happens, inside; an agent checked
            // before is only held to the limit here.
            let (interface, below, reused) = match self.done.get(&key) {
                Some((interface, below)) => (interface.clone(), *below, true),
                None => {
                    let mut inner = path.to_vec();
                    inner.push(step);
                    self.stack.push(key.clone());
                    let below = self.check_level(&resolved.graph, &inner);
                    self.stack.pop();
                    let interface = Arc::new(Interface::of(&resolved.graph));
                    self.done.insert(key, (interface.clone(), below));
                    (interface, below, false)
                }
            };
            if reused && depth + below > max {
                self.too_deep(node, &resolved, depth + below, path);
            }
            height = height.max(1 + below);
            let problems = interface.mismatches(node);
            if !problems.is_empty() {
                let inputs: Vec<String> = interface
                    .inputs
                    .iter()
                    .map(|p| format!("{}: {}", p.name, p.ty))
                    .collect();
                let outputs: Vec<String> = interface
                    .outputs
                    .iter()
                    .map(|p| format!("{}: {}", p.name, p.ty))
                    .collect();
                self.emit(
                    path,
                    Code::InterfaceMismatch,
                    Location::node(&node.id),
                    format!(
                        "ports of `{}` do not match agent {}@{}: {}",
                        node.id,
                        resolved.id,
                        resolved.digest.short(),
                        problems.join("; ")
                    ),
                    format!(
                        "declare the agent's interface on the node: inputs [{}], outputs [{}]",
                        inputs.join(", "),
                        outputs.join(", ")
                    ),
                );
            }
        }
        height
    }

    fn too_deep(&mut self, node: &Node, agent: &ResolvedAgent, depth: usize, path: &[Step]) {
        let max = self.limits.max_depth;
        self.emit(
            path,
            Code::NestingTooDeep,
            Location::node(&node.id),
            format!(
                "`{}` nests agent `{}` to depth {depth}, over the limit of {max}",
                node.id, agent.id
            ),
            "inline a level of agents, or move to a plan with deeper nesting",
        );
    }

    fn resolve(&mut self, agent: &AgentRef, node: &Node, path: &[Step]) -> Option<ResolvedAgent> {
        let resolver = self.resolver;
        let found = self
            .resolved
            .entry(agent.clone())
            .or_insert_with(|| resolver.resolve(agent).map_err(|e| e.to_string()))
            .clone();
        match found {
            Ok(Some(resolved)) => Some(resolved),
            Err(message) => {
                self.emit(
                    path,
                    Code::AgentUnavailable,
                    Location::node(&node.id),
                    format!("agent for `{}` could not be loaded: {message}", node.id),
                    "fix the agent's document, or point the node at another agent",
                );
                None
            }
            Ok(None) => {
                let latest = AgentRef {
                    id: agent.id.clone(),
                    version: AgentVersion::Latest,
                };
                let exists = matches!(agent.version, AgentVersion::Pinned(_))
                    && matches!(resolver.resolve(&latest), Ok(Some(_)));
                if exists {
                    self.emit(
                        path,
                        Code::UnknownAgentVersion,
                        Location::node(&node.id),
                        format!("agent `{}` has no version {}", agent.id, agent.version),
                        "pin a version that exists, or use \"latest\"",
                    );
                } else {
                    self.emit(
                        path,
                        Code::UnknownAgent,
                        Location::node(&node.id),
                        format!("node `{}` uses unknown agent `{}`", node.id, agent.id),
                        "publish the agent first, or correct its id (with the CLI: --agents DIR)",
                    );
                }
                None
            }
        }
    }
}

/// A port: the slot of a [`Ports`] table, `NONE` for none.
const NONE: u32 = u32::MAX;

/// A name of at most 15 bytes packed with its length into one integer, so that names compare
/// and hash as integers; every longer name is [`Key::LONG`], which no packed name equals.
#[derive(Clone, Copy, PartialEq, Eq)]
struct Key(u128);

impl Key {
    /// The key of every name over 15 bytes: its length byte (255) is one no packed name has.
    const LONG: Key = Key(u128::MAX);

    #[inline(always)]
    fn of(name: &str) -> Key {
        let bytes = name.as_bytes();
        let len = bytes.len();
        if len > 15 {
            return Key::LONG;
        }
        let (low, high) = if len > 8 {
            (little_endian(&bytes[..8]), little_endian(&bytes[8..]))
        } else {
            (little_endian(bytes), 0)
        };
        Key(u128::from(low) | u128::from(high) << 64 | (len as u128) << 120)
    }

    /// The top bits of a multiplicative hash, as a slot of a table of `2^(64 - shift)`.
    fn hash(self, shift: u32) -> usize {
        let folded = (self.0 as u64) ^ ((self.0 >> 64) as u64).rotate_left(29);
        (folded.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> shift) as usize
    }

    /// Whether this is a name [`check_name`] accepts (never true of [`Key::LONG`]).
    fn is_name(self) -> bool {
        let bytes = self.0.to_le_bytes();
        let len = usize::from(bytes[15]);
        if len == 0 || len > 15 || bytes[0] == b'-' {
            return false;
        }
        bytes[..len]
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    }
}

/// Up to 8 bytes as a little-endian integer, read in at most two overlapping loads rather
/// than copied byte by byte (whose stores the next load would wait for).
#[inline(always)]
fn little_endian(bytes: &[u8]) -> u64 {
    let n = bytes.len();
    if n >= 4 {
        let first = u64::from(u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]));
        let last = u64::from(u32::from_le_bytes([
            bytes[n - 4],
            bytes[n - 3],
            bytes[n - 2],
            bytes[n - 1],
        ]));
        // The overlapping bytes land in the same places, so or-ing them changes nothing.
        return first | last << (8 * (n - 4));
    }
    if n == 0 {
        return 0;
    }
    u64::from(bytes[0])
        | u64::from(bytes[n / 2]) << (8 * (n / 2))
        | u64::from(bytes[n - 1]) << (8 * (n - 1))
}

/// The nodes of one level by id: the first node with each id. Ids of people's graphs are
/// nearly always short, so they are found by their [`Key`] in a table of node indices alone
/// (4 bytes a slot, at most half full), without reading any node; long ids by their text.
struct Ids<'g> {
    /// Node indices (`NONE`: empty), at the slot of their key's hash or linearly after it.
    slots: Vec<u32>,
    /// The key of each node, by index.
    keys: Vec<Key>,
    /// `64 - log2(slots.len())`: the hash's top bits pick the slot.
    shift: u32,
    long: FxHashMap<&'g str, u32>,
}

impl<'g> Ids<'g> {
    /// An index for the nodes whose id keys are `keys`, filled by [`Ids::insert`].
    fn new(keys: Vec<Key>) -> Ids<'g> {
        let size = (keys.len() * 2).next_power_of_two().max(16);
        Ids {
            slots: vec![NONE; size],
            keys,
            shift: 64 - size.trailing_zeros(),
            long: FxHashMap::default(),
        }
    }

    /// Adds node `i` under its id, unless an earlier node has it: then that node's index.
    /// The text of the id (`id`) is only read when it is long.
    fn insert(&mut self, i: u32, id: impl FnOnce() -> &'g str) -> Option<u32> {
        let key = self.keys[i as usize];
        if key == Key::LONG {
            return match self.long.entry(id()) {
                Entry::Occupied(e) => Some(*e.get()),
                Entry::Vacant(e) => {
                    e.insert(i);
                    None
                }
            };
        }
        let mask = self.slots.len() - 1;
        let mut at = key.hash(self.shift);
        loop {
            let node = self.slots[at];
            if node == NONE {
                self.slots[at] = i;
                return None;
            }
            if self.keys[node as usize] == key {
                return Some(node);
            }
            at = (at + 1) & mask;
        }
    }

    fn get(&self, id: &str) -> Option<u32> {
        let key = Key::of(id);
        if key == Key::LONG {
            return self.long.get(id).copied();
        }
        let mask = self.slots.len() - 1;
        let mut at = key.hash(self.shift);
        loop {
            let node = self.slots[at];
            if node == NONE {
                return None;
            }
            if self.keys[node as usize] == key {
                return Some(node);
            }
            at = (at + 1) & mask;
        }
    }
}

impl Ports {
    fn with_capacity(nodes: usize) -> Ports {
        let mut offset = Vec::with_capacity(nodes + 1);
        offset.push(0);
        Ports {
            offset,
            names: Vec::with_capacity(nodes),
            types: Vec::with_capacity(nodes),
        }
    }

    /// The slots of node `a`'s ports.
    fn range(&self, a: usize) -> std::ops::Range<usize> {
        self.offset[a] as usize..self.offset[a + 1] as usize
    }

    /// Adds the next node's ports.
    fn push_node<'p>(&mut self, ports: impl Iterator<Item = (&'p String, &'p PortType)>) {
        for (name, ty) in ports {
            self.names.push(Key::of(name));
            self.types.push(Ty::of(ty));
        }
        self.offset.push(self.names.len() as u32);
    }

    /// The slot of the first port of node `a` named `name` on this side (`direction`).
    fn find(&self, a: u32, name: &str, graph: &Graph, direction: Direction) -> Option<u32> {
        let start = self.offset[a as usize];
        let end = self.offset[a as usize + 1];
        let key = Key::of(name);
        let found = if key != Key::LONG {
            self.names[start as usize..end as usize]
                .iter()
                .position(|k| *k == key)
        } else {
            // Long names are compared as text, on the node itself.
            let node = &graph.nodes[a as usize];
            match direction {
                Direction::Input => node.inputs.iter().position(|p| p.name == name),
                Direction::Output => node.outputs.iter().position(|p| p.name == name),
            }
        };
        found.map(|j| start + j as u32)
    }
}

impl Role {
    fn of(kind: &NodeKind) -> Role {
        match kind {
            NodeKind::Input => Role::Input,
            NodeKind::Output => Role::Output,
            NodeKind::Subgraph => Role::Subgraph,
            NodeKind::Loop => Role::Loop,
            NodeKind::Note => Role::Note,
            NodeKind::Relay => Role::Relay,
            NodeKind::Unknown(_) => Role::Unknown,
            _ => Role::Other,
        }
    }
}

/// A port type as its index in [`PortType::KNOWN`], or [`Ty::UNKNOWN`].
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
struct Ty(u8);

/// How many [`Ty`] values there are.
const TYS: usize = PortType::KNOWN.len() + 1;

impl Ty {
    const UNKNOWN: Ty = Ty(PortType::KNOWN.len() as u8);

    fn of(ty: &PortType) -> Ty {
        // In the order of `PortType::KNOWN` (a unit test holds the two together).
        Ty(match ty {
            PortType::Any => 0,
            PortType::Text => 1,
            PortType::Number => 2,
            PortType::Boolean => 3,
            PortType::Json => 4,
            PortType::Messages => 5,
            PortType::Document => 6,
            PortType::Documents => 7,
            PortType::Embedding => 8,
            PortType::Image => 9,
            PortType::Audio => 10,
            PortType::ToolCall => 11,
            PortType::Unknown(_) => return Ty::UNKNOWN,
        })
    }
}

/// Whether an edge between ports of two types is fine, for every pair of [`Ty`]s.
fn accept_table() -> [[bool; TYS]; TYS] {
    let mut table = [[true; TYS]; TYS];
    for (to, row) in PortType::KNOWN.iter().zip(&mut table) {
        let to = PortType::from_name(to);
        for (from, fine) in PortType::KNOWN.iter().zip(row.iter_mut()) {
            *fine = to.accepts(&PortType::from_name(from));
        }
    }
    table
}

/// The edges that repeat an earlier edge between the same two ports, ascending. `ports` holds
/// each edge's output and input slot (`NONE` when unresolved), `incoming` the edges arriving at
/// each input slot: only slots with several can have repeats, and their edges are bucketed by
/// slot, so no edge is hashed.
fn duplicate_edges(ports: &[(u32, u32)], incoming: &[u32]) -> Vec<u32> {
    let mut start = vec![0u32; incoming.len() + 1];
    for (s, &count) in incoming.iter().enumerate() {
        start[s + 1] = start[s] + if count > 1 { count } else { 0 };
    }
    if start[incoming.len()] == 0 {
        return Vec::new();
    }
    let mut bucket = vec![0u32; start[incoming.len()] as usize];
    let mut fill = start.clone();
    for (i, &(_, input)) in ports.iter().enumerate() {
        if input != NONE && incoming[input as usize] > 1 {
            bucket[fill[input as usize] as usize] = i as u32;
            fill[input as usize] += 1;
        }
    }
    let mut duplicates = Vec::new();
    for s in 0..incoming.len() {
        let edges = &bucket[start[s] as usize..start[s + 1] as usize];
        if edges.len() <= 8 {
            for (j, &e) in edges.iter().enumerate() {
                let out = ports[e as usize].0;
                if edges[..j].iter().any(|&f| ports[f as usize].0 == out) {
                    duplicates.push(e);
                }
            }
        } else {
            // Sorted by output slot, then edge: each edge equal to the one before it repeats it.
            let mut by_out: Vec<(u32, u32)> =
                edges.iter().map(|&e| (ports[e as usize].0, e)).collect();
            by_out.sort_unstable();
            for pair in by_out.windows(2) {
                if pair[0].0 == pair[1].0 {
                    duplicates.push(pair[1].1);
                }
            }
        }
    }
    duplicates.sort_unstable();
    duplicates
}

/// Forward adjacency in compressed rows: the targets of node `a` are
/// `targets[start[a]..start[a + 1]]`, in edge order.
struct Adjacency {
    start: Vec<u32>,
    targets: Vec<u32>,
}

impl Adjacency {
    fn new(n: usize, edges: &[(u32, u32)]) -> Adjacency {
        let mut start = vec![0u32; n + 1];
        for &(a, _) in edges {
            start[a as usize + 1] += 1;
        }
        for i in 0..n {
            start[i + 1] += start[i];
        }
        let mut fill = start.clone();
        let mut targets = vec![0u32; edges.len()];
        for &(a, b) in edges {
            targets[fill[a as usize] as usize] = b;
            fill[a as usize] += 1;
        }
        Adjacency { start, targets }
    }

    fn out(&self, a: usize) -> &[u32] {
        &self.targets[self.start[a] as usize..self.start[a + 1] as usize]
    }
}

/// A shortest cycle through the smallest node of a strongly connected component, as node
/// indices with the start repeated at the end.
fn cycle_through(g: &DiGraph<(), (), u32>, scc: &[u32]) -> Vec<u32> {
    let start = scc[0];
    if scc.len() == 1 {
        return vec![start, start];
    }
    let members: FxHashSet<u32> = scc.iter().copied().collect();
    let mut parent: FxHashMap<u32, u32> = FxHashMap::default();
    let mut frontier = std::collections::VecDeque::from([start]);
    while let Some(a) = frontier.pop_front() {
        // Neighbours come back in reverse insertion order; sort for a stable answer.
        let mut next: Vec<u32> = g
            .neighbors(NodeIndex::new(a as usize))
            .map(|ix| ix.index() as u32)
            .filter(|b| members.contains(b))
            .collect();
        next.sort_unstable();
        next.dedup();
        for b in next {
            if b == start {
                // Walk the parents back from `a`, then read the chain forwards.
                let mut ring = vec![a];
                let mut at = a;
                while at != start {
                    at = parent[&at];
                    ring.push(at);
                }
                ring.reverse();
                ring.push(start);
                return ring;
            }
            if let std::collections::hash_map::Entry::Vacant(e) = parent.entry(b) {
                e.insert(a);
                frontier.push_back(b);
            }
        }
    }
    vec![start, start]
}

fn accepted_types(to: &PortType) -> String {
    PortType::KNOWN
        .iter()
        .map(|name| PortType::from_name(name))
        .filter(|from| to.accepts(from))
        .map(|t| t.as_str().to_owned())
        .collect::<Vec<_>>()
        .join(", ")
}

fn direction_word(d: Direction) -> &'static str {
    match d {
        Direction::Input => "input",
        Direction::Output => "output",
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_are_numbered_as_listed() {
        for (i, name) in PortType::KNOWN.iter().enumerate() {
            assert_eq!(Ty::of(&PortType::from_name(name)), Ty(i as u8), "{name}");
        }
        assert_eq!(Ty::of(&PortType::from_name("strng")), Ty::UNKNOWN);
    }

    #[test]
    fn keys_pack_every_short_name_and_its_length() {
        let text = "abcdefghijklmnopq";
        for len in 0..=15 {
            let mut packed = [0u8; 16];
            packed[..len].copy_from_slice(&text.as_bytes()[..len]);
            packed[15] = len as u8;
            assert_eq!(
                Key::of(&text[..len]).0,
                u128::from_le_bytes(packed),
                "{len}"
            );
        }
        assert!(Key::of(&text[..16]) == Key::LONG && Key::of(text) == Key::LONG);
        // A trailing NUL is part of the name, not padding.
        assert!(Key::of("a") != Key::of("a\0"));
    }

    #[test]
    fn keys_know_the_names_check_name_accepts() {
        for name in [
            "a",
            "classify_2",
            "a-b",
            "_x",
            "",
            "-a",
            "a.b",
            "a b",
            "a/b",
            "é",
            "a\0",
        ] {
            assert_eq!(
                Key::of(name).is_name(),
                check_name(name).is_ok(),
                "{name:?}"
            );
        }
        assert!(!Key::LONG.is_name());
    }
}

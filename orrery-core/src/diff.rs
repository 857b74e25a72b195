//! Structural diff of two graph versions, recursing into the agents they pin, and the
//! classification of an agent's interface change as breaking or compatible.

use std::collections::BTreeMap;
use std::fmt;

use serde::Serialize;
use serde_json::{Map, Value};

use crate::agents::{Interface, Resolver};
use crate::canonical::write_canonical_value;
use crate::diagnostic::Direction;
use crate::digest::Digest;
use crate::document::{AgentRef, AgentVersion, Graph, Node};
use crate::types::PortType;

/// Every difference between two graphs, in a stable order: per node id (sorted), then edges,
/// then groups; the changes inside a changed agent follow the change of its `subgraph` node.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct GraphDiff {
    /// The changes.
    pub changes: Vec<Change>,
}

/// One difference.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Change {
    /// The `subgraph` nodes leading into the agent this change is in; empty at the top level.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub path: Vec<String>,
    /// What changed.
    #[serde(flatten)]
    pub kind: ChangeKind,
}

/// What changed.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "change", rename_all = "snake_case")]
#[non_exhaustive]
pub enum ChangeKind {
    /// A node appeared.
    NodeAdded {
        /// Its id.
        node: String,
        /// Its kind.
        kind: String,
    },
    /// A node disappeared.
    NodeRemoved {
        /// Its id.
        node: String,
        /// Its kind.
        kind: String,
    },
    /// A field of a node changed: `kind`, `label`, or a config field (`config.model`).
    FieldChanged {
        /// The node.
        node: String,
        /// The field, dotted.
        field: String,
        /// The old value; absent when the field was added.
        #[serde(skip_serializing_if = "Option::is_none")]
        old: Option<Value>,
        /// The new value; absent when the field was removed.
        #[serde(skip_serializing_if = "Option::is_none")]
        new: Option<Value>,
    },
    /// A port appeared.
    PortAdded {
        /// The node.
        node: String,
        /// Input or output.
        direction: Direction,
        /// The port name.
        port: String,
        /// Its type.
        #[serde(rename = "type")]
        ty: String,
    },
    /// A port disappeared.
    PortRemoved {
        /// The node.
        node: String,
        /// Input or output.
        direction: Direction,
        /// The port name.
        port: String,
        /// Its type.
        #[serde(rename = "type")]
        ty: String,
    },
    /// A property of a port (`type`, `required`, `multiple`) changed.
    PortChanged {
        /// The node.
        node: String,
        /// Input or output.
        direction: Direction,
        /// The port name.
        port: String,
        /// The property.
        field: String,
        /// The old value.
        old: Value,
        /// The new value.
        new: Value,
    },
    /// An edge appeared.
    EdgeAdded {
        /// `node.port` it leaves.
        from: String,
        /// `node.port` it arrives at.
        to: String,
    },
    /// An edge disappeared.
    EdgeRemoved {
        /// `node.port` it left.
        from: String,
        /// `node.port` it arrived at.
        to: String,
    },
    /// A `subgraph` node now uses another agent or version.
    AgentChanged {
        /// The node.
        node: String,
        /// The old reference.
        old: String,
        /// The new reference.
        new: String,
        /// How the interface changed, when both versions could be resolved.
        #[serde(skip_serializing_if = "Option::is_none")]
        interface: Option<InterfaceChange>,
    },
    /// A group of a flattened graph appeared.
    GroupAdded {
        /// The group id.
        group: String,
        /// Its agent reference.
        agent: String,
    },
    /// A group of a flattened graph disappeared.
    GroupRemoved {
        /// The group id.
        group: String,
        /// Its agent reference.
        agent: String,
    },
}

/// How an agent's interface changed between two versions.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct InterfaceChange {
    /// Whether some caller that fitted the old interface may not fit the new one.
    pub breaking: bool,
    /// Each port that changed.
    pub ports: Vec<PortChange>,
}

/// One port of an interface that changed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PortChange {
    /// Input or output.
    pub direction: Direction,
    /// The port.
    pub port: String,
    /// The old type; absent when the port was added.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub old: Option<String>,
    /// The new type; absent when the port was removed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub new: Option<String>,
    /// Whether this change alone can break a caller.
    pub breaking: bool,
}

/// A caller that the new version of an agent would break.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct BrokenCaller {
    /// The calling graph, as the resolver names it.
    pub graph: String,
    /// Its digest.
    pub digest: Digest,
    /// The `subgraph` node that uses the agent.
    pub node: String,
    /// Why its ports no longer fit.
    pub problems: Vec<String>,
}

/// How far `diff` follows agents into agents.
const MAX_DIFF_DEPTH: usize = 16;

/// The structural diff from `old` to `new`, following changed agent versions through `resolver`.
pub fn diff(old: &Graph, new: &Graph, resolver: &dyn Resolver) -> GraphDiff {
    let mut out = GraphDiff::default();
    diff_level(old, new, &[], resolver, &mut out.changes);
    out
}

/// Classifies the change from `old` to `new`: adding an input, removing any port, narrowing
/// what an input accepts or widening what an output produces can break a caller; the rest
/// cannot.
pub fn classify_interface(old: &Interface, new: &Interface) -> InterfaceChange {
    let mut ports = Vec::new();
    for (direction, old_ports, new_ports) in [
        (Direction::Input, &old.inputs, &new.inputs),
        (Direction::Output, &old.outputs, &new.outputs),
    ] {
        let old_map: BTreeMap<&str, &PortType> =
            old_ports.iter().map(|p| (p.name.as_str(), &p.ty)).collect();
        let new_map: BTreeMap<&str, &PortType> =
            new_ports.iter().map(|p| (p.name.as_str(), &p.ty)).collect();
        let names: std::collections::BTreeSet<&str> =
            old_map.keys().chain(new_map.keys()).copied().collect();
        for name in names {
            let (o, n) = (old_map.get(name), new_map.get(name));
            if o == n {
                continue;
            }
            let breaking = match (direction, o, n) {
                // A new input must be supplied by every caller; an output nobody used is free.
                (Direction::Input, None, Some(_)) => true,
                (Direction::Output, None, Some(_)) => false,
                (_, Some(_), None) => true,
                (Direction::Input, Some(o), Some(n)) => !accepts_all_of(n, o),
                (Direction::Output, Some(o), Some(n)) => !consumers_accept(o, n),
                (_, None, None) => false,
            };
            ports.push(PortChange {
                direction,
                port: name.to_owned(),
                old: o.map(|t| t.to_string()),
                new: n.map(|t| t.to_string()),
                breaking,
            });
        }
    }
    InterfaceChange {
        breaking: ports.iter().any(|p| p.breaking),
        ports,
    }
}

/// The graphs `resolver` knows whose `subgraph` nodes use the latest version of `agent_id` and
/// would no longer fit `new_version`. Callers that pin a version are not affected.
pub fn broken_callers(
    agent_id: &str,
    new_version: &Graph,
    resolver: &dyn Resolver,
) -> Vec<BrokenCaller> {
    let interface = Interface::of(new_version);
    let mut broken = Vec::new();
    for known in resolver.known_graphs() {
        if !known.latest {
            continue;
        }
        for node in &known.graph.nodes {
            let Some(AgentRef {
                id,
                version: AgentVersion::Latest,
            }) = &node.agent
            else {
                continue;
            };
            if id != agent_id {
                continue;
            }
            let problems = interface.mismatches(node);
            if !problems.is_empty() {
                broken.push(BrokenCaller {
                    graph: known.name.clone(),
                    digest: known.digest,
                    node: node.id.clone(),
                    problems,
                });
            }
        }
    }
    broken.sort_by(|a, b| (&a.graph, &a.node).cmp(&(&b.graph, &b.node)));
    broken
}

/// Whether every type `old` accepts is accepted by `new` (an input got wider or stayed).
fn accepts_all_of(new: &PortType, old: &PortType) -> bool {
    all_types().all(|t| !old.accepts(&t) || new.accepts(&t))
}

/// Whether every port that accepted `old` also accepts `new` (an output got narrower or stayed).
fn consumers_accept(old: &PortType, new: &PortType) -> bool {
    all_types().all(|t| !t.accepts(old) || t.accepts(new))
}

fn all_types() -> impl Iterator<Item = PortType> {
    PortType::KNOWN.iter().map(|n| PortType::from_name(n))
}

fn diff_level(
    old: &Graph,
    new: &Graph,
    path: &[String],
    resolver: &dyn Resolver,
    out: &mut Vec<Change>,
) {
    let push = |out: &mut Vec<Change>, kind: ChangeKind| {
        out.push(Change {
            path: path.to_vec(),
            kind,
        })
    };
    let old_nodes = by_id(&old.nodes);
    let new_nodes = by_id(&new.nodes);
    let ids: std::collections::BTreeSet<&str> =
        old_nodes.keys().chain(new_nodes.keys()).copied().collect();
    for id in ids {
        match (old_nodes.get(id), new_nodes.get(id)) {
            (Some(o), None) => push(
                out,
                ChangeKind::NodeRemoved {
                    node: id.to_owned(),
                    kind: o.kind.to_string(),
                },
            ),
            (None, Some(n)) => push(
                out,
                ChangeKind::NodeAdded {
                    node: id.to_owned(),
                    kind: n.kind.to_string(),
                },
            ),
            (Some(o), Some(n)) => {
                let mut changes = Vec::new();
                diff_node(o, n, &mut changes);
                for kind in changes {
                    push(out, kind);
                }
                if o.agent != n.agent {
                    diff_agent(o, n, path, resolver, out);
                }
            }
            (None, None) => {}
        }
    }
    let old_edges = edge_counts(old);
    let new_edges = edge_counts(new);
    for ((from, to), count) in &old_edges {
        for _ in new_edges.get(&(*from, *to)).copied().unwrap_or(0)..*count {
            push(
                out,
                ChangeKind::EdgeRemoved {
                    from: from.to_string(),
                    to: to.to_string(),
                },
            );
        }
    }
    for ((from, to), count) in &new_edges {
        for _ in old_edges.get(&(*from, *to)).copied().unwrap_or(0)..*count {
            push(
                out,
                ChangeKind::EdgeAdded {
                    from: from.to_string(),
                    to: to.to_string(),
                },
            );
        }
    }
    let old_groups: BTreeMap<&str, String> = old
        .groups
        .iter()
        .map(|g| (g.id.as_str(), g.agent.to_string()))
        .collect();
    let new_groups: BTreeMap<&str, String> = new
        .groups
        .iter()
        .map(|g| (g.id.as_str(), g.agent.to_string()))
        .collect();
    for (id, agent) in &old_groups {
        if new_groups.get(id) != Some(agent) {
            push(
                out,
                ChangeKind::GroupRemoved {
                    group: id.to_string(),
                    agent: agent.clone(),
                },
            );
        }
    }
    for (id, agent) in &new_groups {
        if old_groups.get(id) != Some(agent) {
            push(
                out,
                ChangeKind::GroupAdded {
                    group: id.to_string(),
                    agent: agent.clone(),
                },
            );
        }
    }
}

fn diff_agent(o: &Node, n: &Node, path: &[String], resolver: &dyn Resolver, out: &mut Vec<Change>) {
    let show = |a: &Option<AgentRef>| {
        a.as_ref()
            .map_or("none".to_owned(), |a| format!("{}@{}", a.id, a.version))
    };
    let resolve =
        |a: &Option<AgentRef>| a.as_ref().and_then(|a| resolver.resolve(a).ok().flatten());
    let (old_agent, new_agent) = (resolve(&o.agent), resolve(&n.agent));
    let interface = match (&old_agent, &new_agent) {
        (Some(a), Some(b)) => Some(classify_interface(
            &Interface::of(&a.graph),
            &Interface::of(&b.graph),
        )),
        _ => None,
    };
    out.push(Change {
        path: path.to_vec(),
        kind: ChangeKind::AgentChanged {
            node: n.id.clone(),
            old: show(&o.agent),
            new: show(&n.agent),
            interface,
        },
    });
    if let (Some(a), Some(b)) = (old_agent, new_agent)
        && a.digest != b.digest
        && path.len() < MAX_DIFF_DEPTH
    {
        let mut inner = path.to_vec();
        inner.push(n.id.clone());
        diff_level(&a.graph, &b.graph, &inner, resolver, out);
    }
}

fn diff_node(o: &Node, n: &Node, out: &mut Vec<ChangeKind>) {
    let field = |field: &str, old: Option<Value>, new: Option<Value>| ChangeKind::FieldChanged {
        node: n.id.clone(),
        field: field.to_owned(),
        old,
        new,
    };
    if o.kind != n.kind {
        out.push(field(
            "kind",
            Some(o.kind.as_str().into()),
            Some(n.kind.as_str().into()),
        ));
    }
    if o.label != n.label {
        out.push(field(
            "label",
            o.label.clone().map(Value::from),
            n.label.clone().map(Value::from),
        ));
    }
    diff_config(&o.config, &n.config, "config", &n.id, out);
    let ins = |node: &Node| -> BTreeMap<String, (String, bool, bool)> {
        node.inputs
            .iter()
            .map(|p| (p.name.clone(), (p.ty.to_string(), p.required, p.multiple)))
            .collect()
    };
    let outs = |node: &Node| -> BTreeMap<String, (String, bool, bool)> {
        node.outputs
            .iter()
            .map(|p| (p.name.clone(), (p.ty.to_string(), true, false)))
            .collect()
    };
    for (direction, old_ports, new_ports) in [
        (Direction::Input, ins(o), ins(n)),
        (Direction::Output, outs(o), outs(n)),
    ] {
        for (name, (ty, ..)) in &old_ports {
            if !new_ports.contains_key(name) {
                out.push(ChangeKind::PortRemoved {
                    node: n.id.clone(),
                    direction,
                    port: name.clone(),
                    ty: ty.clone(),
                });
            }
        }
        for (name, (ty, required, multiple)) in &new_ports {
            let Some((old_ty, old_required, old_multiple)) = old_ports.get(name) else {
                out.push(ChangeKind::PortAdded {
                    node: n.id.clone(),
                    direction,
                    port: name.clone(),
                    ty: ty.clone(),
                });
                continue;
            };
            let changed = |field: &str, old: Value, new: Value| ChangeKind::PortChanged {
                node: n.id.clone(),
                direction,
                port: name.clone(),
                field: field.to_owned(),
                old,
                new,
            };
            if old_ty != ty {
                out.push(changed("type", old_ty.as_str().into(), ty.as_str().into()));
            }
            if old_required != required {
                out.push(changed(
                    "required",
                    (*old_required).into(),
                    (*required).into(),
                ));
            }
            if old_multiple != multiple {
                out.push(changed(
                    "multiple",
                    (*old_multiple).into(),
                    (*multiple).into(),
                ));
            }
        }
    }
}

/// Objects are compared key by key, down to the leaves; arrays and scalars as wholes.
fn diff_config(
    old: &Map<String, Value>,
    new: &Map<String, Value>,
    prefix: &str,
    node: &str,
    out: &mut Vec<ChangeKind>,
) {
    let keys: std::collections::BTreeSet<&String> = old.keys().chain(new.keys()).collect();
    for key in keys {
        let field = format!("{prefix}.{key}");
        match (old.get(key), new.get(key)) {
            (Some(Value::Object(a)), Some(Value::Object(b))) => {
                diff_config(a, b, &field, node, out)
            }
            (a, b) if !same_canonical(a, b) => out.push(ChangeKind::FieldChanged {
                node: node.to_owned(),
                field,
                old: a.cloned(),
                new: b.cloned(),
            }),
            _ => {}
        }
    }
}

/// Whether two config values have the same canonical form: `8.0` and `8` are one number to the
/// digest, so they are no change to the diff either (serde_json's `==` tells them apart).
fn same_canonical(a: Option<&Value>, b: Option<&Value>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) if a != b => {
            let (mut a_text, mut b_text) = (Vec::new(), Vec::new());
            write_canonical_value(a, &mut a_text);
            write_canonical_value(b, &mut b_text);
            a_text == b_text
        }
        (a, b) => a == b,
    }
}

fn by_id(nodes: &[Node]) -> BTreeMap<&str, &Node> {
    let mut map = BTreeMap::new();
    for node in nodes {
        map.entry(node.id.as_str()).or_insert(node);
    }
    map
}

fn edge_counts(g: &Graph) -> BTreeMap<(&str, &str), usize> {
    let mut map = BTreeMap::new();
    for e in &g.edges {
        *map.entry((e.from.as_str(), e.to.as_str())).or_insert(0) += 1;
    }
    map
}

impl GraphDiff {
    /// Whether the graphs are structurally the same.
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }
}

impl fmt::Display for GraphDiff {
    /// One line per change: `+` added, `-` removed, `~` changed; nested ids are prefixed with
    /// the path of `subgraph` nodes (`billing/classify`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for change in &self.changes {
            writeln!(f, "{change}")?;
        }
        Ok(())
    }
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let p: String = self.path.iter().map(|s| format!("{s}/")).collect();
        let show = |v: &Option<Value>| v.as_ref().map_or("(none)".to_owned(), Value::to_string);
        match &self.kind {
            ChangeKind::NodeAdded { node, kind } => write!(f, "+ node {p}{node} ({kind})"),
            ChangeKind::NodeRemoved { node, kind } => write!(f, "- node {p}{node} ({kind})"),
            ChangeKind::FieldChanged {
                node,
                field,
                old,
                new,
            } => {
                write!(
                    f,
                    "~ node {p}{node}: {field} {} -> {}",
                    show(old),
                    show(new)
                )
            }
            ChangeKind::PortAdded {
                node,
                direction,
                port,
                ty,
            } => {
                write!(f, "+ port {p}{node}.{port} ({}, {ty})", dir(*direction))
            }
            ChangeKind::PortRemoved {
                node,
                direction,
                port,
                ty,
            } => {
                write!(f, "- port {p}{node}.{port} ({}, {ty})", dir(*direction))
            }
            ChangeKind::PortChanged {
                node,
                direction,
                port,
                field,
                old,
                new,
            } => {
                write!(
                    f,
                    "~ port {p}{node}.{port} ({}): {field} {old} -> {new}",
                    dir(*direction)
                )
            }
            ChangeKind::EdgeAdded { from, to } => write!(f, "+ edge {p}{from} -> {p}{to}"),
            ChangeKind::EdgeRemoved { from, to } => write!(f, "- edge {p}{from} -> {p}{to}"),
            ChangeKind::AgentChanged {
                node,
                old,
                new,
                interface,
            } => {
                write!(f, "~ node {p}{node}: agent {old} -> {new}")?;
                match interface {
                    Some(i) if i.ports.is_empty() => write!(f, " (interface unchanged)"),
                    Some(i) => {
                        let ports: Vec<String> =
                            i.ports.iter().map(PortChange::to_string).collect();
                        let verdict = if i.breaking { "breaking" } else { "compatible" };
                        write!(f, " (interface {verdict}: {})", ports.join("; "))
                    }
                    None => Ok(()),
                }
            }
            ChangeKind::GroupAdded { group, agent } => write!(f, "+ group {p}{group} ({agent})"),
            ChangeKind::GroupRemoved { group, agent } => write!(f, "- group {p}{group} ({agent})"),
        }
    }
}

impl fmt::Display for PortChange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = dir(self.direction);
        match (&self.old, &self.new) {
            (None, Some(t)) => write!(f, "{d} `{}` added ({t})", self.port),
            (Some(t), None) => write!(f, "{d} `{}` removed ({t})", self.port),
            (Some(a), Some(b)) => write!(f, "{d} `{}` {a} -> {b}", self.port),
            (None, None) => write!(f, "{d} `{}`", self.port),
        }
    }
}

fn dir(d: Direction) -> &'static str {
    match d {
        Direction::Input => "input",
        Direction::Output => "output",
    }
}

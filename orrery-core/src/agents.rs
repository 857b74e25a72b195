//! Custom agents: their interface, and the [`Resolver`] that supplies them by id and version.
//!
//! A custom agent is a graph; its interface is its `input` nodes (each one input port, named
//! after the node, typed like the node's output port) and its `output` nodes (each one output
//! port, typed like the node's input port). Every interface input is required.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::digest::Digest;
use crate::document::{AgentRef, AgentVersion, Graph, Node, ParseError};
use crate::id::{IdError, check_name};
use crate::types::{NodeKind, PortType};

/// An agent as a resolver hands it out: which version, and its graph.
#[derive(Clone, Debug)]
pub struct ResolvedAgent {
    /// The agent's id.
    pub id: String,
    /// The digest of this version.
    pub digest: Digest,
    /// The agent's graph.
    pub graph: Arc<Graph>,
}

/// Why a resolver could not load an agent it knows of.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ResolveError {
    /// The agent's document could not be read.
    #[error("agent `{id}` could not be read: {message}")]
    Unreadable {
        /// The agent id.
        id: String,
        /// What went wrong (an I/O error, with the path).
        message: String,
    },
    /// The agent's document is not a graph document.
    #[error("agent `{id}` is not a valid graph document: {source}")]
    Invalid {
        /// The agent id.
        id: String,
        /// The parse error.
        source: ParseError,
    },
}

/// A graph a resolver knows, for caller searches ("which graphs use agent X?").
#[derive(Clone, Debug)]
pub struct KnownGraph {
    /// How the resolver names it (an agent id, or another name for plain graphs).
    pub name: String,
    /// Its digest.
    pub digest: Digest,
    /// Whether this is the newest version under that name.
    pub latest: bool,
    /// The graph.
    pub graph: Arc<Graph>,
}

/// Supplies custom agents by id and version: from memory, a directory, a store or a server.
pub trait Resolver {
    /// The agent `agent` refers to; `Ok(None)` when there is no such agent or version.
    fn resolve(&self, agent: &AgentRef) -> Result<Option<ResolvedAgent>, ResolveError>;

    /// Every graph this resolver knows, for finding the callers of an agent. Resolvers that
    /// cannot list their graphs return none.
    fn known_graphs(&self) -> Vec<KnownGraph> {
        Vec::new()
    }
}

/// A resolver that knows no agents: for graphs without `subgraph` nodes.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoAgents;

impl Resolver for NoAgents {
    fn resolve(&self, _: &AgentRef) -> Result<Option<ResolvedAgent>, ResolveError> {
        Ok(None)
    }
}

/// Agents held in memory, each with its versions; the last one added is the latest.
#[derive(Clone, Debug, Default)]
pub struct MemoryResolver {
    agents: BTreeMap<String, Vec<ResolvedAgent>>,
    graphs: Vec<(String, Arc<Graph>)>,
    broken: BTreeMap<String, ResolveError>,
}

impl MemoryResolver {
    /// Adds `graph` as the newest version of agent `id` and returns its digest. Adding a version
    /// that is already there makes it the latest again.
    pub fn insert(&mut self, id: &str, graph: Graph) -> Result<Digest, IdError> {
        check_name(id)?;
        let digest = graph.digest();
        let versions = self.agents.entry(id.to_owned()).or_default();
        versions.retain(|v| v.digest != digest);
        versions.push(ResolvedAgent {
            id: id.to_owned(),
            digest,
            graph: Arc::new(graph),
        });
        self.broken.remove(id);
        Ok(digest)
    }

    /// Adds an older version of agent `id` without changing which version is the latest (unless
    /// the agent had none) and returns its digest.
    pub fn insert_pinned(&mut self, id: &str, graph: Graph) -> Result<Digest, IdError> {
        check_name(id)?;
        let digest = graph.digest();
        let versions = self.agents.entry(id.to_owned()).or_default();
        if !versions.iter().any(|v| v.digest == digest) {
            versions.insert(
                0,
                ResolvedAgent {
                    id: id.to_owned(),
                    digest,
                    graph: Arc::new(graph),
                },
            );
        }
        Ok(digest)
    }

    /// Adds a graph that is not an agent but may call agents, for caller searches.
    pub fn insert_graph(&mut self, name: &str, graph: Graph) {
        self.graphs.push((name.to_owned(), Arc::new(graph)));
    }

    /// Records that agent `id` exists but cannot be loaded; resolving it reports `error`.
    pub fn insert_broken(&mut self, id: &str, error: ResolveError) {
        self.broken.insert(id.to_owned(), error);
    }

    /// The ids of the agents held, sorted.
    pub fn ids(&self) -> impl Iterator<Item = &str> {
        self.agents.keys().map(String::as_str)
    }

    /// The latest version of every agent, sorted by id.
    pub fn latest(&self) -> impl Iterator<Item = &ResolvedAgent> {
        self.agents.values().filter_map(|v| v.last())
    }
}

impl Resolver for MemoryResolver {
    fn resolve(&self, agent: &AgentRef) -> Result<Option<ResolvedAgent>, ResolveError> {
        let Some(versions) = self.agents.get(&agent.id) else {
            return match self.broken.get(&agent.id) {
                Some(error) => Err(error.clone()),
                None => Ok(None),
            };
        };
        Ok(match agent.version {
            AgentVersion::Latest => versions.last().cloned(),
            AgentVersion::Pinned(digest) => versions.iter().find(|v| v.digest == digest).cloned(),
        })
    }

    fn known_graphs(&self) -> Vec<KnownGraph> {
        let agents = self.agents.values().flat_map(|versions| {
            versions.iter().enumerate().map(|(i, v)| KnownGraph {
                name: v.id.clone(),
                digest: v.digest,
                latest: i + 1 == versions.len(),
                graph: v.graph.clone(),
            })
        });
        let graphs = self.graphs.iter().map(|(name, graph)| KnownGraph {
            name: name.clone(),
            digest: graph.digest(),
            latest: true,
            graph: graph.clone(),
        });
        agents.chain(graphs).collect()
    }
}

/// One port of an agent's interface.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct InterfacePort {
    /// The port name: the id of the `input` or `output` node.
    pub name: String,
    /// The port type.
    #[serde(rename = "type")]
    pub ty: PortType,
}

/// What a custom agent looks like from outside: its input and output ports, sorted by name.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Interface {
    /// One per `input` node.
    pub inputs: Vec<InterfacePort>,
    /// One per `output` node.
    pub outputs: Vec<InterfacePort>,
}

impl Interface {
    /// The interface of `graph`, read from its `input` and `output` nodes. A malformed interface
    /// node (no port) contributes an `any` port; validation reports its shape.
    pub fn of(graph: &Graph) -> Interface {
        let mut inputs = Vec::new();
        let mut outputs = Vec::new();
        for node in &graph.nodes {
            match node.kind {
                NodeKind::Input => inputs.push(InterfacePort {
                    name: node.id.clone(),
                    ty: node
                        .outputs
                        .first()
                        .map(|p| p.ty.clone())
                        .unwrap_or_default(),
                }),
                NodeKind::Output => outputs.push(InterfacePort {
                    name: node.id.clone(),
                    ty: node
                        .inputs
                        .first()
                        .map(|p| p.ty.clone())
                        .unwrap_or_default(),
                }),
                _ => {}
            }
        }
        inputs.sort_by(|a, b| a.name.cmp(&b.name));
        outputs.sort_by(|a, b| a.name.cmp(&b.name));
        Interface { inputs, outputs }
    }

    /// The input port with this name.
    pub fn input(&self, name: &str) -> Option<&InterfacePort> {
        self.inputs.iter().find(|p| p.name == name)
    }

    /// The output port with this name.
    pub fn output(&self, name: &str) -> Option<&InterfacePort> {
        self.outputs.iter().find(|p| p.name == name)
    }

    /// Every way in which the ports a `subgraph` node declares do not fit this interface; empty
    /// when they fit.
    ///
    /// A node fits when it declares every interface input (required, single edge) with a type the
    /// interface input accepts, and declares only interface outputs, each with a type that accepts
    /// the interface's. Interface outputs the node leaves out are simply unused.
    pub fn mismatches(&self, node: &Node) -> Vec<String> {
        let mut problems = Vec::new();
        for port in &self.inputs {
            match node.input(&port.name) {
                None => problems.push(format!("missing input `{}` ({})", port.name, port.ty)),
                Some(declared) => {
                    if !port.ty.accepts(&declared.ty) {
                        problems.push(format!(
                            "input `{}` is declared {} but the agent accepts {}",
                            port.name, declared.ty, port.ty
                        ));
                    }
                    if !declared.required || declared.multiple {
                        problems.push(format!(
                            "input `{}` must be required and take one edge, like every agent input",
                            port.name
                        ));
                    }
                }
            }
        }
        for declared in &node.inputs {
            if self.input(&declared.name).is_none() {
                problems.push(format!("the agent has no input `{}`", declared.name));
            }
        }
        for declared in &node.outputs {
            match self.output(&declared.name) {
                None => problems.push(format!("the agent has no output `{}`", declared.name)),
                Some(port) if !declared.ty.accepts(&port.ty) => problems.push(format!(
                    "output `{}` is declared {} but the agent produces {}",
                    declared.name, declared.ty, port.ty
                )),
                Some(_) => {}
            }
        }
        problems
    }
}

#[cfg(feature = "fs")]
pub use dir::DirResolver;

#[cfg(feature = "fs")]
mod dir {
    //! The directory-of-files resolver: the only part of this crate that touches the file system.

    use std::path::{Path, PathBuf};

    use super::*;
    use crate::document::ParseOptions;

    /// Agents read from a directory: `DIR/<id>.json` is the latest version of agent `<id>`, and
    /// every `DIR/<id>/*.json` is an older version, addressed by its digest.
    ///
    /// The directory is read once, when opened. A file that cannot be read or parsed does not
    /// stop the others from loading: resolving that agent reports the error.
    #[derive(Clone, Debug)]
    pub struct DirResolver {
        root: PathBuf,
        agents: MemoryResolver,
    }

    impl DirResolver {
        /// Reads every agent in `dir`. Fails only when `dir` itself cannot be listed.
        pub fn open(dir: &Path, options: &ParseOptions) -> std::io::Result<DirResolver> {
            let mut agents = MemoryResolver::default();
            let mut latest = Vec::new();
            let mut older = Vec::new();
            for entry in std::fs::read_dir(dir)? {
                let path = entry?.path();
                if path.is_dir() {
                    if let Some(id) = file_id(&path, false) {
                        let mut files: Vec<PathBuf> = std::fs::read_dir(&path)?
                            .filter_map(|e| e.ok().map(|e| e.path()))
                            .filter(|p| p.extension().is_some_and(|e| e == "json"))
                            .collect();
                        files.sort();
                        older.extend(files.into_iter().map(|f| (id.clone(), f)));
                    }
                } else if let Some(id) = file_id(&path, true) {
                    latest.push((id, path));
                }
            }
            latest.sort();
            // Older versions first, so that each agent's `<id>.json` ends up as its latest.
            for (id, path) in older.into_iter().chain(latest) {
                match load(&id, &path, options) {
                    Ok(graph) => {
                        // `file_id` only returns names that pass `check_name`.
                        let _ = agents.insert(&id, graph);
                    }
                    Err(error) => agents.insert_broken(&id, error),
                }
            }
            Ok(DirResolver {
                root: dir.to_owned(),
                agents,
            })
        }

        /// The directory this resolver read.
        pub fn root(&self) -> &Path {
            &self.root
        }

        /// The agents that loaded, as a memory resolver.
        pub fn agents(&self) -> &MemoryResolver {
            &self.agents
        }
    }

    impl Resolver for DirResolver {
        fn resolve(&self, agent: &AgentRef) -> Result<Option<ResolvedAgent>, ResolveError> {
            self.agents.resolve(agent)
        }

        fn known_graphs(&self) -> Vec<KnownGraph> {
            self.agents.known_graphs()
        }
    }

    fn file_id(path: &Path, want_json: bool) -> Option<String> {
        if want_json && path.extension()? != "json" {
            return None;
        }
        let stem = if want_json {
            path.file_stem()?
        } else {
            path.file_name()?
        };
        let id = stem.to_str()?;
        check_name(id).ok()?;
        Some(id.to_owned())
    }

    fn load(id: &str, path: &Path, options: &ParseOptions) -> Result<Graph, ResolveError> {
        let unreadable = |e: std::io::Error| ResolveError::Unreadable {
            id: id.to_owned(),
            message: format!("{}: {e}", path.display()),
        };
        let size = std::fs::metadata(path).map_err(unreadable)?.len();
        if size > options.max_bytes as u64 {
            return Err(ResolveError::Invalid {
                id: id.to_owned(),
                source: ParseError::TooLarge {
                    size: usize::try_from(size).unwrap_or(usize::MAX),
                    limit: options.max_bytes,
                },
            });
        }
        let bytes = std::fs::read(path).map_err(unreadable)?;
        Graph::from_slice_with(&bytes, options).map_err(|source| ResolveError::Invalid {
            id: id.to_owned(),
            source,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn agent(inputs: &[(&str, &str)], outputs: &[(&str, &str)]) -> Graph {
        let mut nodes = Vec::new();
        for (name, ty) in inputs {
            nodes.push(format!(
                r#"{{"id":"{name}","kind":"input","outputs":[{{"name":"value","type":"{ty}"}}]}}"#
            ));
        }
        for (name, ty) in outputs {
            nodes.push(format!(
                r#"{{"id":"{name}","kind":"output","inputs":[{{"name":"value","type":"{ty}"}}]}}"#
            ));
        }
        Graph::from_json(&format!(r#"{{"schema":1,"nodes":[{}]}}"#, nodes.join(","))).unwrap()
    }

    #[test]
    fn the_interface_comes_from_input_and_output_nodes() {
        let iface = Interface::of(&agent(
            &[("q", "text"), ("ctx", "documents")],
            &[("a", "json")],
        ));
        assert_eq!(
            iface
                .inputs
                .iter()
                .map(|p| (p.name.as_str(), p.ty.as_str()))
                .collect::<Vec<_>>(),
            [("ctx", "documents"), ("q", "text")]
        );
        assert_eq!(iface.outputs[0].ty, PortType::Json);
    }

    #[test]
    fn the_memory_resolver_keeps_versions() {
        let mut r = MemoryResolver::default();
        let v1 = r.insert("bot", agent(&[("q", "text")], &[])).unwrap();
        let v2 = r.insert("bot", agent(&[("q", "json")], &[])).unwrap();
        let latest = r.resolve(&AgentRef {
            id: "bot".into(),
            version: AgentVersion::Latest,
        });
        assert_eq!(latest.unwrap().unwrap().digest, v2);
        let pinned = r.resolve(&AgentRef {
            id: "bot".into(),
            version: AgentVersion::Pinned(v1),
        });
        assert_eq!(pinned.unwrap().unwrap().digest, v1);
        let v0 = r
            .insert_pinned("bot", agent(&[("q", "number")], &[]))
            .unwrap();
        let latest = r.resolve(&AgentRef {
            id: "bot".into(),
            version: AgentVersion::Latest,
        });
        assert_eq!(
            latest.unwrap().unwrap().digest,
            v2,
            "a pinned version never becomes the latest"
        );
        let pinned = r.resolve(&AgentRef {
            id: "bot".into(),
            version: AgentVersion::Pinned(v0),
        });
        assert_eq!(pinned.unwrap().unwrap().digest, v0);
        let missing = r.resolve(&AgentRef {
            id: "nobody".into(),
            version: AgentVersion::Latest,
        });
        assert!(missing.unwrap().is_none());
        assert_eq!(
            r.insert("bad id", Graph::default()),
            Err(IdError::BadChar(' '))
        );
        assert_eq!(r.known_graphs().len(), 3);
    }

    #[cfg(feature = "fs")]
    #[test]
    fn the_directory_resolver_reads_latest_and_older_versions() {
        let dir = tempfile::tempdir().unwrap();
        let old = agent(&[("q", "text")], &[]);
        let new = agent(&[("q", "json")], &[]);
        std::fs::create_dir(dir.path().join("bot")).unwrap();
        std::fs::write(dir.path().join("bot/v1.json"), old.to_json()).unwrap();
        std::fs::write(dir.path().join("bot.json"), new.to_json()).unwrap();
        std::fs::write(dir.path().join("broken.json"), "{").unwrap();
        std::fs::write(dir.path().join("README.md"), "not an agent").unwrap();
        let r = DirResolver::open(dir.path(), &Default::default()).unwrap();
        let latest = r.resolve(&AgentRef {
            id: "bot".into(),
            version: AgentVersion::Latest,
        });
        assert_eq!(latest.unwrap().unwrap().digest, new.digest());
        let pinned = AgentRef {
            id: "bot".into(),
            version: AgentVersion::Pinned(old.digest()),
        };
        assert_eq!(r.resolve(&pinned).unwrap().unwrap().digest, old.digest());
        let err = r
            .resolve(&AgentRef {
                id: "broken".into(),
                version: AgentVersion::Latest,
            })
            .unwrap_err();
        assert!(
            err.to_string()
                .starts_with("agent `broken` is not a valid graph document: EOF"),
            "{err}"
        );
        assert!(DirResolver::open(&dir.path().join("nope"), &Default::default()).is_err());
    }
}

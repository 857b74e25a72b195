//! The conformance cases, one async function each over a [`TestDb`](crate::harness::TestDb),
//! grouped by trait; helpers shared by several groups are here.

pub mod accounts;
pub mod billing;
pub mod email;
pub mod export;
pub mod graphs;
pub mod isolation;
pub mod keys;
pub mod retention;
pub mod storage;
pub mod tokens;
pub mod usage;
pub mod users;

use std::sync::Arc;

use orrery_core::store::{GraphRecord, NewGraph, NewUser, Role, User};
use orrery_core::{Graph, Plan};
use uuid::Uuid;

use crate::harness::AnyStore;

/// A new account with this name (`name@example.com`).
pub async fn user(store: &Arc<dyn AnyStore>, name: &str) -> User {
    store
        .create_user(NewUser {
            email: format!("{name}@example.com"),
            name: name.to_owned(),
            password_hash: Some("$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".to_owned()),
            google_sub: None,
            role: Role::User,
            plan: Plan::Free,
            trial_ends_at: None,
        })
        .await
        .expect("user is created")
}

/// A small valid graph: `label` goes into a prompt's config, so different labels are different
/// versions; `x` is a position, outside the digest.
pub fn doc(label: &str, x: f64) -> Graph {
    Graph::from_json(&format!(
        r#"{{"schema":1,"nodes":[
            {{"id":"question","kind":"input","outputs":[{{"name":"value","type":"text"}}],"position":[{x},1.5,0]}},
            {{"id":"ask","kind":"prompt","config":{{"template":"{label}"}},"inputs":[{{"name":"text","type":"text"}}],"outputs":[{{"name":"text","type":"text"}}]}},
            {{"id":"answer","kind":"output","inputs":[{{"name":"value","type":"text"}}]}}],
          "edges":[{{"from":"question.value","to":"ask.text"}},{{"from":"ask.text","to":"answer.value"}}]}}"#
    ))
    .expect("test document parses")
}

/// A graph that uses custom agents through `subgraph` nodes: `(node, agent, pinned digest)`.
pub fn doc_using(agents: &[(&str, &str, Option<&str>)]) -> Graph {
    let nodes: Vec<String> = agents
        .iter()
        .map(|(node, agent, pinned)| {
            let version = pinned.unwrap_or("latest");
            format!(r#"{{"id":"{node}","kind":"subgraph","agent":{{"id":"{agent}","version":"{version}"}}}}"#)
        })
        .collect();
    Graph::from_json(&format!(
        r#"{{"schema":1,"nodes":[{}],"edges":[]}}"#,
        nodes.join(",")
    ))
    .expect("test document parses")
}

/// A graph of `owner` named `name`.
pub async fn graph(
    store: &Arc<dyn AnyStore>,
    owner: Uuid,
    name: &str,
    public: bool,
) -> GraphRecord {
    store
        .create_graph(NewGraph {
            owner_id: owner,
            name: name.to_owned(),
            description: None,
            agent_id: None,
            is_public: public,
            document: doc(name, 0.0),
            max_graphs: None,
            max_stored_bytes: None,
        })
        .await
        .expect("graph is created")
}

/// A new graph request with defaults.
pub fn new_graph(owner: Uuid, name: &str, document: Graph) -> NewGraph {
    NewGraph {
        owner_id: owner,
        name: name.to_owned(),
        description: None,
        agent_id: None,
        is_public: false,
        document,
        max_graphs: None,
        max_stored_bytes: None,
    }
}

/// A hash that stands for a secret.
pub fn hash(seed: u8) -> [u8; 32] {
    [seed; 32]
}

//! Graphs, versions and agent references.

use std::collections::HashSet;
use std::sync::Arc;

use orrery_core::store::{
    Constraint, Entity, GraphFilter, GraphUpdate, NewGraph, Page, StoreError,
};
use orrery_core::{Digest, Graph};
use orrery_store::{Backend, StoreOptions};
use uuid::Uuid;

use crate::cases::{doc, doc_using, graph, new_graph, user};
use crate::harness::TestDb;

fn update(author: Uuid, base: Digest, document: Graph) -> GraphUpdate {
    GraphUpdate {
        base: Some(base),
        author_id: author,
        document: Some(document),
        ..GraphUpdate::default()
    }
}

pub async fn saved_graph_loads_back_identical(db: &TestDb) {
    let store = &db.store;
    let ada = user(store, "ada").await;
    let document = Graph::from_json(
        r##"{"schema":1,"ui":{"camera":[1,2,3]},"nodes":[
            {"id":"q","kind":"input","label":"Question ✓","outputs":[{"name":"value","type":"text"}],"position":[0.1,-2.5e-7,1e21],"ui":{"color":"#ff0"}},
            {"id":"llm","kind":"agent","config":{"model":"m","temperature":0.7,"big":12345678901234567890,"nested":{"b":[1,2.5,null,true],"a":"\"quoted\"\n"}},"inputs":[{"name":"text","type":"text"}],"outputs":[{"name":"text","type":"text"}]},
            {"id":"a","kind":"output","inputs":[{"name":"value","type":"text"}]}],
          "edges":[{"from":"q.value","to":"llm.text","ui":{"bend":[[1,2]]}},{"from":"llm.text","to":"a.value"}]}"##,
    )
    .unwrap();
    let created = store
        .create_graph(NewGraph {
            owner_id: ada.id,
            name: "Support triage".to_owned(),
            description: Some("routes tickets".to_owned()),
            agent_id: Some("triage".to_owned()),
            is_public: true,
            document: document.clone(),
            max_graphs: None,
            max_stored_bytes: None,
        })
        .await
        .unwrap();
    assert_eq!(created.head, document.digest());
    assert_eq!(created.version_count, 1);
    assert_eq!(created.node_count, 3);
    assert_eq!(created.created_at, created.updated_at);

    let loaded = store.graph(created.id, Some(ada.id)).await.unwrap();
    assert_eq!(loaded, created);
    assert_eq!(loaded.document, document);
    assert_eq!(loaded.document.canonical_json(), document.canonical_json());
    // Positions and ui data are kept, though outside the digest.
    assert_eq!(loaded.document.to_json(), document.to_json());

    let first = store
        .version(created.id, Some(ada.id), created.head)
        .await
        .unwrap();
    assert_eq!(first.document, document);
    assert_eq!(first.parent, None);
    assert_eq!(first.author_id, ada.id);
    assert_eq!(first.created_at, created.created_at);
    // Public graphs are readable by anyone.
    assert_eq!(store.graph(created.id, None).await.unwrap(), created);
}

pub async fn versions_are_immutable_and_chained(db: &TestDb) {
    let store = &db.store;
    let ada = user(store, "ada").await;
    let v1 = graph(store, ada.id, "flow", false).await;
    let v2 = store
        .update_graph(v1.id, ada.id, update(ada.id, v1.head, doc("second", 0.0)))
        .await
        .unwrap();
    let v3 = store
        .update_graph(v1.id, ada.id, update(ada.id, v2.head, doc("third", 0.0)))
        .await
        .unwrap();
    assert_eq!(v3.version_count, 3);
    assert_eq!(v3.head, doc("third", 0.0).digest());
    assert!(v3.updated_at >= v2.updated_at);
    assert_eq!(v3.created_at, v1.created_at);

    let versions = store
        .versions(v1.id, Some(ada.id), Page::default())
        .await
        .unwrap();
    assert_eq!(versions.total, 3);
    let digests: Vec<Digest> = versions.items.iter().map(|v| v.digest).collect();
    assert_eq!(digests, [v3.head, v2.head, v1.head]);
    let parents: Vec<Option<Digest>> = versions.items.iter().map(|v| v.parent).collect();
    assert_eq!(parents, [Some(v2.head), Some(v1.head), None]);
    assert!(
        versions
            .items
            .iter()
            .all(|v| v.node_count == 3 && v.author_id == ada.id)
    );

    // Older versions keep their documents.
    let old = store.version(v1.id, Some(ada.id), v1.head).await.unwrap();
    assert_eq!(old.document, v1.document);
    let page2 = store
        .versions(v1.id, Some(ada.id), Page { page: 2, limit: 2 })
        .await
        .unwrap();
    assert_eq!(page2.items.len(), 1);
    assert_eq!(page2.items[0].digest, v1.head);

    // A metadata-only update is not a version.
    let renamed = store
        .update_graph(
            v1.id,
            ada.id,
            GraphUpdate {
                base: Some(v3.head),
                author_id: ada.id,
                name: Some("renamed".to_owned()),
                description: Some(Some("now described".to_owned())),
                is_public: Some(true),
                ..GraphUpdate::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(renamed.version_count, 3);
    assert_eq!(renamed.head, v3.head);
    assert_eq!(renamed.name, "renamed");
    assert_eq!(renamed.description.as_deref(), Some("now described"));
    assert!(renamed.is_public);
    assert_eq!(renamed.document, v3.document);
    assert_eq!(store.graph(v1.id, None).await.unwrap(), renamed);
    assert_eq!(
        store.graph_summary(v1.id, None).await.unwrap(),
        renamed.summary()
    );
    let cleared = store
        .update_graph(
            v1.id,
            ada.id,
            GraphUpdate {
                author_id: ada.id,
                description: Some(None),
                ..GraphUpdate::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(cleared.description, None);

    // A digest that is no version of this graph is not found.
    assert!(matches!(
        store
            .version(v1.id, Some(ada.id), doc("never saved", 0.0).digest())
            .await,
        Err(StoreError::NotFound(_))
    ));
}

pub async fn moving_nodes_is_not_a_new_version(db: &TestDb) {
    let store = &db.store;
    let ada = user(store, "ada").await;
    let v1 = graph(store, ada.id, "flow", false).await;
    let moved = doc("flow", 42.0);
    assert_eq!(moved.digest(), v1.head);
    let after = store
        .update_graph(v1.id, ada.id, update(ada.id, v1.head, moved.clone()))
        .await
        .unwrap();
    assert_eq!(after.version_count, 1);
    assert_eq!(after.head, v1.head);
    // The head document has the new positions.
    let loaded = store.graph(v1.id, Some(ada.id)).await.unwrap();
    assert_eq!(loaded.document, moved);
    assert_eq!(
        store
            .versions(v1.id, Some(ada.id), Page::default())
            .await
            .unwrap()
            .total,
        1
    );
}

pub async fn returning_to_earlier_content_is_a_new_version(db: &TestDb) {
    let store = &db.store;
    let ada = user(store, "ada").await;
    let a = graph(store, ada.id, "flow", false).await;
    let b = store
        .update_graph(a.id, ada.id, update(ada.id, a.head, doc("other", 0.0)))
        .await
        .unwrap();
    let back = store
        .update_graph(a.id, ada.id, update(ada.id, b.head, doc("flow", 7.0)))
        .await
        .unwrap();
    assert_eq!(back.head, a.head);
    assert_eq!(back.version_count, 3);
    let versions = store
        .versions(a.id, Some(ada.id), Page::default())
        .await
        .unwrap();
    let chain: Vec<(Digest, Option<Digest>)> = versions
        .items
        .iter()
        .map(|v| (v.digest, v.parent))
        .collect();
    assert_eq!(
        chain,
        [
            (a.head, Some(b.head)),
            (b.head, Some(a.head)),
            (a.head, None)
        ]
    );
    // The newest version with that digest is the one returned.
    let newest = store.version(a.id, Some(ada.id), a.head).await.unwrap();
    assert_eq!(newest.parent, Some(b.head));
    assert_eq!(newest.document, doc("flow", 7.0));
}

pub async fn stale_base_is_a_conflict(db: &TestDb) {
    let store = &db.store;
    let ada = user(store, "ada").await;
    let v1 = graph(store, ada.id, "flow", false).await;
    let v2 = store
        .update_graph(v1.id, ada.id, update(ada.id, v1.head, doc("mine", 0.0)))
        .await
        .unwrap();
    // A second editor still on v1.
    let stale = store
        .update_graph(v1.id, ada.id, update(ada.id, v1.head, doc("theirs", 0.0)))
        .await;
    assert!(matches!(
        stale,
        Err(StoreError::Conflict(Constraint::GraphVersion))
    ));
    // Metadata changes from a stale base conflict too.
    let stale = store
        .update_graph(
            v1.id,
            ada.id,
            GraphUpdate {
                base: Some(v1.head),
                author_id: ada.id,
                name: Some("x".to_owned()),
                ..GraphUpdate::default()
            },
        )
        .await;
    assert!(matches!(
        stale,
        Err(StoreError::Conflict(Constraint::GraphVersion))
    ));
    let now = store.graph(v1.id, Some(ada.id)).await.unwrap();
    assert_eq!(now.head, v2.head);
    assert_eq!(now.name, "flow");
    assert_eq!(now.version_count, 2);
}

pub async fn concurrent_updates_from_one_base_have_one_winner_per_version(db: &TestDb) {
    let store = Arc::clone(&db.store);
    let ada = user(&store, "ada").await;
    let first = graph(&store, ada.id, "flow", false).await;
    let tasks = 12;
    let rounds = 5;
    let mut base = first.head;
    let mut winners = vec![first.head];
    for round in 0..rounds {
        let mut handles = Vec::new();
        for task in 0..tasks {
            let store = Arc::clone(&store);
            let (id, owner) = (first.id, ada.id);
            handles.push(tokio::spawn(async move {
                let document = doc(&format!("round {round} task {task}"), 0.0);
                let digest = document.digest();
                let result = store
                    .update_graph(id, owner, update(owner, base, document))
                    .await;
                (digest, result)
            }));
        }
        let mut won = Vec::new();
        for handle in handles {
            match handle.await.unwrap() {
                (digest, Ok(record)) => {
                    assert_eq!(record.head, digest);
                    won.push(digest);
                }
                (_, Err(StoreError::Conflict(Constraint::GraphVersion))) => {}
                (_, Err(other)) => panic!("round {round}: unexpected error {other:?}"),
            }
        }
        assert_eq!(won.len(), 1, "round {round}: exactly one save wins");
        base = won[0];
        winners.push(base);
    }
    let head = store.graph(first.id, Some(ada.id)).await.unwrap();
    assert_eq!(head.head, base);
    assert_eq!(head.version_count, rounds + 1);
    // Every winning version is there, each the child of the one before: nothing lost.
    let versions = store
        .versions(
            first.id,
            Some(ada.id),
            Page {
                page: 1,
                limit: 100,
            },
        )
        .await
        .unwrap();
    let mut chain: Vec<Digest> = versions.items.iter().map(|v| v.digest).collect();
    chain.reverse();
    assert_eq!(chain, winners);
    for pair in versions.items.windows(2) {
        assert_eq!(pair[0].parent, Some(pair[1].digest));
    }
}

pub async fn failed_head_update_leaves_no_orphan_version(db: &TestDb) {
    let store = &db.store;
    let ada = user(store, "ada").await;
    let flow = graph(store, ada.id, "flow", false).await;
    graph(store, ada.id, "taken", false).await;
    // The new version is written first; moving the head then fails on the name.
    let result = store
        .update_graph(
            flow.id,
            ada.id,
            GraphUpdate {
                name: Some("taken".to_owned()),
                ..update(ada.id, flow.head, doc("new content", 0.0))
            },
        )
        .await;
    assert!(matches!(
        result,
        Err(StoreError::Conflict(Constraint::GraphName))
    ));
    let after = store.graph(flow.id, Some(ada.id)).await.unwrap();
    assert_eq!(after, flow);
    let versions = store
        .versions(flow.id, Some(ada.id), Page::default())
        .await
        .unwrap();
    assert_eq!(versions.total, 1);
    assert_eq!(versions.items.len(), 1);
    let raw = db.raw().await;
    assert_eq!(raw.count("select count(*) from graph_versions").await, 2);
}

pub async fn failing_trigger_between_version_and_head_leaves_nothing(db: &TestDb) {
    let store = &db.store;
    let ada = user(store, "ada").await;
    let flow = store
        .create_graph(new_graph(
            ada.id,
            "flow",
            doc_using(&[("helper", "summarizer", None)]),
        ))
        .await
        .unwrap();
    if db.backend() == Backend::Memory {
        // No trigger can fail between its writes: an update checks everything, then writes
        // under one lock (the other cases show that a refused update changes nothing).
        return;
    }
    let raw = db.raw().await;
    // The head update itself fails, after the version and agent references were written.
    raw.execute(
        "create trigger fail_head before update of head on graphs \
         begin select raise(abort, 'head update failed'); end",
        "create function fail_head() returns trigger language plpgsql as \
         $$ begin raise exception 'head update failed'; end $$; \
         create trigger fail_head before update of head on graphs \
         for each row execute function fail_head();",
    )
    .await;
    let result = store
        .update_graph(
            flow.id,
            ada.id,
            update(
                ada.id,
                flow.head,
                doc_using(&[("other", "translator", None)]),
            ),
        )
        .await;
    assert!(matches!(result, Err(StoreError::Backend(_))), "{result:?}");
    assert_eq!(raw.count("select count(*) from graph_versions").await, 1);
    assert_eq!(store.graph(flow.id, Some(ada.id)).await.unwrap(), flow);
    assert_eq!(
        store
            .callers("summarizer", Some(ada.id))
            .await
            .unwrap()
            .len(),
        1
    );
    assert!(
        store
            .callers("translator", Some(ada.id))
            .await
            .unwrap()
            .is_empty()
    );
    // The error names no SQL.
    let shown = result.unwrap_err().to_string();
    assert_eq!(shown, "storage backend failed");
}

pub async fn taken_graph_name_or_agent_id_is_a_conflict(db: &TestDb) {
    let store = &db.store;
    let ada = user(store, "ada").await;
    let bob = user(store, "bob").await;
    graph(store, ada.id, "flow", false).await;
    assert!(matches!(
        store
            .create_graph(new_graph(ada.id, "flow", doc("x", 0.0)))
            .await,
        Err(StoreError::Conflict(Constraint::GraphName))
    ));
    // Names are per owner.
    graph(store, bob.id, "flow", false).await;

    let agent = store
        .create_graph(NewGraph {
            agent_id: Some("summarizer".to_owned()),
            ..new_graph(ada.id, "summarizer", doc("s", 0.0))
        })
        .await
        .unwrap();
    // Agent ids are global: subgraph nodes name agents by id alone.
    assert!(matches!(
        store
            .create_graph(NewGraph {
                agent_id: Some("summarizer".to_owned()),
                ..new_graph(bob.id, "mine", doc("t", 0.0))
            })
            .await,
        Err(StoreError::Conflict(Constraint::AgentId))
    ));
    let other = graph(store, bob.id, "other", false).await;
    assert!(matches!(
        store
            .update_graph(
                other.id,
                bob.id,
                GraphUpdate {
                    author_id: bob.id,
                    agent_id: Some(Some("summarizer".to_owned())),
                    ..GraphUpdate::default()
                }
            )
            .await,
        Err(StoreError::Conflict(Constraint::AgentId))
    ));
    // Unpublishing frees the id.
    store
        .update_graph(
            agent.id,
            ada.id,
            GraphUpdate {
                author_id: ada.id,
                agent_id: Some(None),
                ..GraphUpdate::default()
            },
        )
        .await
        .unwrap();
    let published = store
        .update_graph(
            other.id,
            bob.id,
            GraphUpdate {
                author_id: bob.id,
                agent_id: Some(Some("summarizer".to_owned())),
                ..GraphUpdate::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(published.agent_id.as_deref(), Some("summarizer"));
}

/// A valid document of about `bytes` bytes: many prompt nodes with long templates.
fn big_document(bytes: usize) -> Graph {
    let per_node = 2_000;
    let nodes = bytes / per_node;
    let mut json = String::with_capacity(bytes + 4096);
    json.push_str(r#"{"schema":1,"nodes":["#);
    for i in 0..nodes {
        if i > 0 {
            json.push(',');
        }
        let text: String = (0..per_node - 200)
            .map(|j| char::from(b'a' + ((i * 7 + j * 13) % 26) as u8))
            .collect();
        json.push_str(&format!(
            r#"{{"id":"n{i}","kind":"prompt","label":"Node {i} é ✓","config":{{"template":"{text}","k":{i}.25,"on":true}},"inputs":[{{"name":"in","type":"text","required":false}}],"outputs":[{{"name":"out","type":"text"}}],"position":[{i},{}, -1.5]}}"#,
            i as f64 / 3.0
        ));
    }
    json.push_str(r#"],"edges":["#);
    for i in 1..nodes {
        if i > 1 {
            json.push(',');
        }
        json.push_str(&format!(r#"{{"from":"n{}.out","to":"n{i}.in"}}"#, i - 1));
    }
    json.push_str("]}");
    Graph::from_json(&json).unwrap()
}

pub async fn ten_megabyte_document_round_trips_in_canonical_form(db: &TestDb) {
    let store = &db.store;
    let ada = user(store, "ada").await;
    let document = big_document(10 << 20);
    let json_len = document.to_json().len();
    assert!(json_len >= 10 << 20, "document is {json_len} bytes");
    let canonical = document.canonical_json();
    let created = store
        .create_graph(new_graph(ada.id, "big", document.clone()))
        .await
        .unwrap();
    let loaded = store.graph(created.id, Some(ada.id)).await.unwrap();
    assert!(
        loaded.document.canonical_json() == canonical,
        "canonical forms differ"
    );
    assert_eq!(loaded.head, document.digest());
    assert_eq!(loaded.document.digest(), document.digest());
    let version = store
        .version(created.id, Some(ada.id), created.head)
        .await
        .unwrap();
    assert!(version.document.canonical_json() == canonical);
    // Versions keep the text exactly as saved.
    assert!(version.document.to_json() == document.to_json());
}

pub async fn oversized_documents_are_refused_with_a_limit_error(db: &TestDb) {
    let small = db
        .reopen(StoreOptions {
            max_document_bytes: 4_096,
            ..StoreOptions::default()
        })
        .await;
    let ada = user(&small, "ada").await;
    let big = big_document(20_000);
    assert!(matches!(
        small
            .create_graph(new_graph(ada.id, "big", big.clone()))
            .await,
        Err(StoreError::Limit(_))
    ));
    let fits = small
        .create_graph(new_graph(ada.id, "small", doc("s", 0.0)))
        .await
        .unwrap();
    assert!(matches!(
        small
            .update_graph(fits.id, ada.id, update(ada.id, fits.head, big))
            .await,
        Err(StoreError::Limit(_))
    ));
    assert_eq!(small.graph(fits.id, Some(ada.id)).await.unwrap(), fits);
    assert_eq!(small.count_graphs(ada.id).await.unwrap(), 1);
    small.close().await;
}

pub async fn bad_graph_input_is_a_typed_error(db: &TestDb) {
    let store = &db.store;
    let ada = user(store, "ada").await;
    let nul_doc = Graph::from_json(
        r#"{"schema":1,"nodes":[{"id":"a","kind":"prompt","config":{"t":"x\u0000y"}}],"edges":[]}"#,
    )
    .unwrap();
    let cases: Vec<(NewGraph, &str)> = vec![
        (new_graph(ada.id, "", doc("a", 0.0)), "invalid"),
        (new_graph(ada.id, "   ", doc("a", 0.0)), "invalid"),
        (new_graph(ada.id, &"n".repeat(201), doc("a", 0.0)), "limit"),
        (new_graph(ada.id, "nul\0name", doc("a", 0.0)), "invalid"),
        (
            NewGraph {
                description: Some("d".repeat(10_001)),
                ..new_graph(ada.id, "described", doc("a", 0.0))
            },
            "limit",
        ),
        (
            NewGraph {
                agent_id: Some("two/segments".to_owned()),
                ..new_graph(ada.id, "agent", doc("a", 0.0))
            },
            "invalid",
        ),
        (
            NewGraph {
                agent_id: Some(String::new()),
                ..new_graph(ada.id, "agent", doc("a", 0.0))
            },
            "invalid",
        ),
        (new_graph(ada.id, "nul doc", nul_doc), "invalid"),
        (
            new_graph(Uuid::now_v7(), "no owner", doc("a", 0.0)),
            "not found",
        ),
    ];
    for (input, expected) in cases {
        let name = input.name.clone();
        let kind = match store.create_graph(input).await {
            Err(StoreError::Invalid(_)) => "invalid",
            Err(StoreError::Limit(_)) => "limit",
            Err(StoreError::NotFound(Entity::User)) => "not found",
            other => panic!("{name:?}: unexpected {other:?}"),
        };
        assert_eq!(kind, expected, "{name:?}");
    }
    assert_eq!(store.count_graphs(ada.id).await.unwrap(), 0);
    let flow = graph(store, ada.id, "flow", false).await;
    for bad in [
        GraphUpdate {
            author_id: ada.id,
            name: Some(String::new()),
            ..GraphUpdate::default()
        },
        GraphUpdate {
            author_id: ada.id,
            agent_id: Some(Some("bad id!".to_owned())),
            ..GraphUpdate::default()
        },
    ] {
        assert!(matches!(
            store.update_graph(flow.id, ada.id, bad).await,
            Err(StoreError::Invalid(_))
        ));
    }
    // Unknown ids are not found, however they are used.
    let nothing = Uuid::now_v7();
    assert!(matches!(
        store.graph(nothing, Some(ada.id)).await,
        Err(StoreError::NotFound(Entity::Graph))
    ));
    assert!(matches!(
        store.graph_summary(nothing, Some(ada.id)).await,
        Err(StoreError::NotFound(Entity::Graph))
    ));
    assert!(matches!(
        store
            .update_graph(nothing, ada.id, GraphUpdate::default())
            .await,
        Err(StoreError::NotFound(Entity::Graph))
    ));
    assert!(matches!(
        store.delete_graph(nothing, ada.id).await,
        Err(StoreError::NotFound(Entity::Graph))
    ));
    assert!(matches!(
        store.versions(nothing, Some(ada.id), Page::default()).await,
        Err(StoreError::NotFound(Entity::Graph))
    ));
    assert!(matches!(
        store.agent("nobody-published-this", Some(ada.id)).await,
        Err(StoreError::NotFound(Entity::Agent))
    ));
}

pub async fn graphs_are_listed_filtered_searched_and_paged_stably(db: &TestDb) {
    let store = &db.store;
    let ada = user(store, "ada").await;
    let bob = user(store, "bob").await;
    let mut ada_graphs = Vec::new();
    for i in 0..5 {
        ada_graphs.push(graph(store, ada.id, &format!("ada flow {i}"), i % 2 == 0).await);
    }
    let bob_public = graph(store, bob.id, "bob public", true).await;
    let bob_private = graph(store, bob.id, "bob private", false).await;
    let agent = store
        .create_graph(NewGraph {
            agent_id: Some("summarizer".to_owned()),
            description: Some("Summarizes 100% of TEXT".to_owned()),
            ..new_graph(ada.id, "summary agent", doc("agent", 0.0))
        })
        .await
        .unwrap();
    // Touching an old graph moves it to the front.
    let touched = store
        .update_graph(
            ada_graphs[0].id,
            ada.id,
            update(ada.id, ada_graphs[0].head, doc("touched", 0.0)),
        )
        .await
        .unwrap();

    let ids = |page: &orrery_core::store::Paged<orrery_core::store::GraphSummary>| {
        page.items.iter().map(|g| g.id).collect::<Vec<_>>()
    };
    let mine = store
        .list_graphs(&GraphFilter {
            owner_id: Some(ada.id),
            ..GraphFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(mine.total, 6);
    let mut expected = vec![touched.id, agent.id];
    expected.extend(ada_graphs[1..].iter().rev().map(|g| g.id));
    assert_eq!(ids(&mine), expected);

    // Pages of two cover the same list once.
    let mut paged = Vec::new();
    for page in 1..=4 {
        let p = store
            .list_graphs(&GraphFilter {
                owner_id: Some(ada.id),
                page: Page { page, limit: 2 },
                ..GraphFilter::default()
            })
            .await
            .unwrap();
        assert_eq!(p.total, 6);
        paged.extend(ids(&p));
    }
    assert_eq!(paged, expected);

    let mine_or_public = store
        .list_graphs(&GraphFilter {
            owner_id: Some(ada.id),
            include_public: true,
            ..GraphFilter::default()
        })
        .await
        .unwrap();
    let set: HashSet<Uuid> = ids(&mine_or_public).into_iter().collect();
    assert_eq!(mine_or_public.total, 7);
    assert!(set.contains(&bob_public.id) && !set.contains(&bob_private.id));

    let public_only = store
        .list_graphs(&GraphFilter {
            include_public: true,
            ..GraphFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(public_only.total, 4); // ada 0, 2, 4 and bob's public one
    assert!(public_only.items.iter().all(|g| g.is_public));

    let agents = store
        .list_graphs(&GraphFilter {
            owner_id: Some(ada.id),
            custom_agent: Some(true),
            ..GraphFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(ids(&agents), [agent.id]);
    assert_eq!(agents.items[0].agent_id.as_deref(), Some("summarizer"));
    let plain = store
        .list_graphs(&GraphFilter {
            owner_id: Some(ada.id),
            custom_agent: Some(false),
            public: Some(false),
            ..GraphFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(ids(&plain), [ada_graphs[3].id, ada_graphs[1].id]);

    // Search: name or description, any case, `%` literal.
    let found = store
        .list_graphs(&GraphFilter {
            owner_id: Some(ada.id),
            search: Some("FLOW 3".to_owned()),
            ..GraphFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(ids(&found), [ada_graphs[3].id]);
    let found = store
        .list_graphs(&GraphFilter {
            owner_id: Some(ada.id),
            search: Some("100% of text".to_owned()),
            ..GraphFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(ids(&found), [agent.id]);
    let found = store
        .list_graphs(&GraphFilter {
            owner_id: Some(ada.id),
            search: Some("1%".to_owned()),
            ..GraphFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(found.total, 0);
    // Everything (operators).
    let all = store.list_graphs(&GraphFilter::default()).await.unwrap();
    assert_eq!(all.total, 8);
    assert_eq!(store.count_graphs(ada.id).await.unwrap(), 6);
    assert_eq!(store.count_graphs(bob.id).await.unwrap(), 2);
}

pub async fn callers_of_an_agent_follow_the_head_version(db: &TestDb) {
    let store = &db.store;
    let ada = user(store, "ada").await;
    let bob = user(store, "bob").await;
    let pin = doc("pinned", 0.0).digest().to_string();
    let uses = store
        .create_graph(new_graph(
            ada.id,
            "uses",
            doc_using(&[
                ("s1", "summarizer", None),
                ("s2", "summarizer", Some(&pin)),
                ("t", "translator", None),
            ]),
        ))
        .await
        .unwrap();
    let bobs = store
        .create_graph(NewGraph {
            is_public: true,
            ..new_graph(bob.id, "bob uses", doc_using(&[("x", "summarizer", None)]))
        })
        .await
        .unwrap();
    let bob_private = store
        .create_graph(new_graph(
            bob.id,
            "bob private",
            doc_using(&[("y", "summarizer", None)]),
        ))
        .await
        .unwrap();

    let callers = store.callers("summarizer", Some(ada.id)).await.unwrap();
    let mut got: Vec<(Uuid, String, Option<String>)> = callers
        .iter()
        .map(|c| (c.graph_id, c.node.clone(), c.pinned.map(|d| d.to_string())))
        .collect();
    got.sort();
    let mut expected = vec![
        (uses.id, "s1".to_owned(), None),
        (uses.id, "s2".to_owned(), Some(pin.clone())),
        (bobs.id, "x".to_owned(), None),
    ];
    expected.sort();
    assert_eq!(got, expected);
    let caller = callers.iter().find(|c| c.graph_id == uses.id).unwrap();
    assert_eq!((caller.owner_id, caller.head), (ada.id, uses.head));
    // Anonymous viewers see public callers; everyone's count includes private ones.
    assert_eq!(store.callers("summarizer", None).await.unwrap().len(), 1);
    assert_eq!(store.count_callers("summarizer").await.unwrap(), 3);
    let bob_sees: HashSet<Uuid> = store
        .callers("summarizer", Some(bob.id))
        .await
        .unwrap()
        .iter()
        .map(|c| c.graph_id)
        .collect();
    assert_eq!(bob_sees, HashSet::from([bobs.id, bob_private.id]));

    // A new version that stops using the agent drops its references.
    let updated = store
        .update_graph(
            uses.id,
            ada.id,
            update(
                ada.id,
                uses.head,
                doc_using(&[("t", "translator", Some(&pin))]),
            ),
        )
        .await
        .unwrap();
    let callers = store.callers("summarizer", Some(ada.id)).await.unwrap();
    assert_eq!(callers.len(), 1);
    assert_eq!(callers[0].graph_id, bobs.id);
    let translator = store.callers("translator", Some(ada.id)).await.unwrap();
    assert_eq!(translator.len(), 1);
    assert_eq!(translator[0].head, updated.head);
    assert_eq!(translator[0].pinned.map(|d| d.to_string()), Some(pin));
    // Deleting a graph drops its references.
    store.delete_graph(bobs.id, bob.id).await.unwrap();
    assert_eq!(store.count_callers("summarizer").await.unwrap(), 1);
}

pub async fn agents_are_found_by_id_when_readable(db: &TestDb) {
    let store = &db.store;
    let ada = user(store, "ada").await;
    let bob = user(store, "bob").await;
    let private = store
        .create_graph(NewGraph {
            agent_id: Some("private-agent".to_owned()),
            ..new_graph(ada.id, "private agent", doc("p", 0.0))
        })
        .await
        .unwrap();
    let public = store
        .create_graph(NewGraph {
            agent_id: Some("public_agent".to_owned()),
            is_public: true,
            ..new_graph(ada.id, "public agent", doc("q", 0.0))
        })
        .await
        .unwrap();
    assert_eq!(
        store.agent("private-agent", Some(ada.id)).await.unwrap(),
        private
    );
    assert!(matches!(
        store.agent("private-agent", Some(bob.id)).await,
        Err(StoreError::NotFound(Entity::Agent))
    ));
    assert!(matches!(
        store.agent("private-agent", None).await,
        Err(StoreError::NotFound(Entity::Agent))
    ));
    assert_eq!(
        store.agent("public_agent", Some(bob.id)).await.unwrap(),
        public
    );
    assert_eq!(store.agent("public_agent", None).await.unwrap(), public);
}

pub async fn deleting_a_graph_deletes_its_versions(db: &TestDb) {
    let store = &db.store;
    let ada = user(store, "ada").await;
    let flow = graph(store, ada.id, "flow", false).await;
    store
        .update_graph(flow.id, ada.id, update(ada.id, flow.head, doc("two", 0.0)))
        .await
        .unwrap();
    let keep = graph(store, ada.id, "keep", false).await;
    store.delete_graph(flow.id, ada.id).await.unwrap();
    assert!(matches!(
        store.graph(flow.id, Some(ada.id)).await,
        Err(StoreError::NotFound(Entity::Graph))
    ));
    assert!(matches!(
        store.version(flow.id, Some(ada.id), flow.head).await,
        Err(StoreError::NotFound(_))
    ));
    assert!(matches!(
        store.delete_graph(flow.id, ada.id).await,
        Err(StoreError::NotFound(Entity::Graph))
    ));
    let raw = db.raw().await;
    assert_eq!(raw.count("select count(*) from graph_versions").await, 1);
    assert_eq!(store.graph(keep.id, Some(ada.id)).await.unwrap(), keep);
}

pub async fn concurrent_creates_stop_at_the_graph_quota(db: &TestDb) {
    let store = Arc::clone(&db.store);
    let ada = user(&store, "ada").await;
    let bob = user(&store, "bob").await;
    graph(&store, ada.id, "already there", false).await;
    graph(&store, bob.id, "bob's", false).await;
    let limit = 3;
    let mut handles = Vec::new();
    for i in 0..40 {
        let store = Arc::clone(&store);
        let owner = ada.id;
        handles.push(tokio::spawn(async move {
            store
                .create_graph(NewGraph {
                    max_graphs: Some(limit),
                    max_stored_bytes: None,
                    ..new_graph(owner, &format!("flow {i}"), doc(&format!("flow {i}"), 0.0))
                })
                .await
        }));
    }
    let (mut created, mut refused) = (0, 0);
    for handle in handles {
        match handle.await.unwrap() {
            Ok(_) => created += 1,
            Err(StoreError::Quota {
                resource: "graphs",
                limit: 3,
            }) => refused += 1,
            Err(other) => panic!("unexpected error {other:?}"),
        }
    }
    // The graph that was there counts: two more fit.
    assert_eq!((created, refused), (2, 38));
    assert_eq!(store.count_graphs(ada.id).await.unwrap(), limit);
    assert_eq!(store.count_graphs(bob.id).await.unwrap(), 1);
    // Deleting one makes room for one; no limit is no limit.
    let listed = store
        .list_graphs(&GraphFilter {
            owner_id: Some(ada.id),
            ..GraphFilter::default()
        })
        .await
        .unwrap();
    store
        .delete_graph(listed.items[0].id, ada.id)
        .await
        .unwrap();
    let quota = |name: &str, max| NewGraph {
        max_graphs: max,
        max_stored_bytes: None,
        ..new_graph(ada.id, name, doc(name, 0.0))
    };
    store
        .create_graph(quota("again", Some(limit)))
        .await
        .unwrap();
    assert!(matches!(
        store.create_graph(quota("over", Some(limit))).await,
        Err(StoreError::Quota { .. })
    ));
    store.create_graph(quota("unlimited", None)).await.unwrap();
    // A quota is checked after the input (a bad name is still `Invalid`), and an owner that
    // does not exist is not found.
    assert!(matches!(
        store.create_graph(quota(" ", Some(limit))).await,
        Err(StoreError::Invalid(_))
    ));
    assert!(matches!(
        store
            .create_graph(NewGraph {
                max_graphs: Some(5),
                max_stored_bytes: None,
                ..new_graph(Uuid::now_v7(), "orphan", doc("o", 0.0))
            })
            .await,
        Err(StoreError::NotFound(Entity::User))
    ));
}

pub async fn events_are_recorded_with_the_update_and_never_without_it(db: &TestDb) {
    use orrery_core::store::{EventFilter, NewEvent};
    let store = &db.store;
    let ada = user(store, "ada").await;
    let v1 = graph(store, ada.id, "flow", false).await;
    let event = |kind: &str| NewEvent {
        kind: kind.to_owned(),
        data: serde_json::json!({"n": 1}),
    };
    let events = || async {
        store
            .list_events(&EventFilter {
                graph_id: Some(v1.id),
                ..EventFilter::default()
            })
            .await
            .unwrap()
            .items
            .into_iter()
            .map(|e| (e.kind, e.user_id))
            .collect::<Vec<_>>()
    };
    // A rename (one statement) and a new version (a transaction) each bring their events.
    store
        .update_graph(
            v1.id,
            ada.id,
            GraphUpdate {
                author_id: ada.id,
                name: Some("renamed".to_owned()),
                events: vec![event("graph.updated"), event("agent.published")],
                ..GraphUpdate::default()
            },
        )
        .await
        .unwrap();
    let v2 = store
        .update_graph(
            v1.id,
            ada.id,
            GraphUpdate {
                events: vec![event("graph.saved")],
                ..update(ada.id, v1.head, doc("two", 0.0))
            },
        )
        .await
        .unwrap();
    let mut kinds = events().await;
    kinds.sort();
    assert_eq!(
        kinds,
        [
            ("agent.published".to_owned(), Some(ada.id)),
            ("graph.saved".to_owned(), Some(ada.id)),
            ("graph.updated".to_owned(), Some(ada.id)),
        ]
    );
    // Refused updates leave no event: a stale revision, a stale base, a bad event.
    for refused in [
        GraphUpdate {
            author_id: ada.id,
            revision: Some(v1.revision),
            name: Some("x".to_owned()),
            events: vec![event("graph.updated")],
            ..GraphUpdate::default()
        },
        GraphUpdate {
            events: vec![event("graph.updated")],
            ..update(ada.id, v1.head, doc("three", 0.0))
        },
        GraphUpdate {
            author_id: ada.id,
            name: Some("y".to_owned()),
            events: vec![event("")],
            ..GraphUpdate::default()
        },
    ] {
        assert!(store.update_graph(v1.id, ada.id, refused).await.is_err());
    }
    assert_eq!(events().await.len(), 3);
    let now = store.graph(v1.id, Some(ada.id)).await.unwrap();
    assert_eq!((now.name.as_str(), now.head), ("renamed", v2.head));
}

//! What graphs cost in storage: versions packed as deltas, the stored-bytes quota (atomic
//! under concurrency), pruning to the plan's count of versions (pinned versions stay), and
//! the revision that counts every change.

use std::sync::Arc;

use orrery_core::store::{Constraint, GraphUpdate, NewGraph, Page, StoreError};
use orrery_core::{Digest, Graph};
use uuid::Uuid;

use crate::cases::{doc, doc_using, graph, new_graph, user};
use crate::harness::TestDb;

/// A graph whose prompt holds `bytes` of pseudo-random letters (64 of them: 6 bits a byte,
/// so zstd alone saves a quarter at most) from `seed`, and a counter that changes the digest.
fn noisy(bytes: usize, seed: u64, edit: u64) -> Graph {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let text: String = (0..bytes)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            char::from(alphabet[(state % 64) as usize])
        })
        .collect();
    Graph::from_json(&format!(
        r#"{{"schema":1,"nodes":[
            {{"id":"question","kind":"input","outputs":[{{"name":"value","type":"text"}}]}},
            {{"id":"ask","kind":"prompt","config":{{"template":"{text}","edit":{edit}}},"inputs":[{{"name":"text","type":"text"}}],"outputs":[{{"name":"text","type":"text"}}]}}],
          "edges":[{{"from":"question.value","to":"ask.text"}}]}}"#
    ))
    .expect("test document parses")
}

fn save(author: Uuid, document: Graph) -> GraphUpdate {
    GraphUpdate {
        author_id: author,
        document: Some(document),
        ..GraphUpdate::default()
    }
}

pub async fn repeated_large_versions_are_stored_compactly(db: &TestDb) {
    let store = &db.store;
    let ada = user(store, "ada").await;
    let size = 2 << 20;
    let first = noisy(size, 7, 0);
    let text = first.to_json().len() as u64;
    let flow = store
        .create_graph(new_graph(ada.id, "big", first))
        .await
        .unwrap();
    let mut heads = vec![flow.head];
    let mut record = flow;
    for edit in 1..4 {
        record = store
            .update_graph(record.id, ada.id, save(ada.id, noisy(size, 7, edit)))
            .await
            .unwrap();
        heads.push(record.head);
    }
    assert_eq!(record.version_count, 4);
    // Kept whole, four versions and the head document would be five texts; packed, they are
    // the head document, one frame of it and three deltas of a few bytes.
    eprintln!(
        "4 versions of {text} bytes: {} bytes stored ({:.2} texts)",
        record.stored_bytes,
        record.stored_bytes as f64 / text as f64
    );
    assert!(
        record.stored_bytes < 2 * text,
        "{} bytes stored for 4 versions of {text}",
        record.stored_bytes
    );
    assert_eq!(
        store.stored_bytes(ada.id).await.unwrap(),
        record.stored_bytes
    );
    for (edit, head) in heads.iter().enumerate() {
        let version = store.version(record.id, Some(ada.id), *head).await.unwrap();
        assert_eq!(
            version.document.digest(),
            noisy(size, 7, edit as u64).digest()
        );
    }
}

pub async fn long_histories_read_back_through_whole_versions(db: &TestDb) {
    let store = &db.store;
    let ada = user(store, "ada").await;
    let flow = graph(store, ada.id, "flow", false).await;
    let mut heads = vec![flow.head];
    // Past two whole versions (every 16th stays whole), each read decodes a short chain.
    for i in 1..40 {
        let record = store
            .update_graph(flow.id, ada.id, save(ada.id, doc(&format!("v{i}"), 0.0)))
            .await
            .unwrap();
        heads.push(record.head);
    }
    for (i, head) in heads.iter().enumerate() {
        let version = store.version(flow.id, Some(ada.id), *head).await.unwrap();
        let label = if i == 0 {
            "flow".to_owned()
        } else {
            format!("v{i}")
        };
        assert_eq!(version.document.digest(), doc(&label, 0.0).digest(), "v{i}");
    }
    let export = store.export_user(ada.id).await.unwrap();
    assert_eq!(
        export["graphs"][0]["versions"].as_array().unwrap().len(),
        40
    );
    assert_eq!(
        export["graphs"][0]["versions"][3]["document"],
        serde_json::from_str::<serde_json::Value>(&doc("v3", 0.0).to_json()).unwrap()
    );
}

pub async fn stored_bytes_quota_refuses_growth_and_writes_nothing(db: &TestDb) {
    let store = &db.store;
    let ada = user(store, "ada").await;
    let size = 50_000;
    let small = store
        .create_graph(new_graph(ada.id, "small", doc("small", 0.0)))
        .await
        .unwrap();
    let used = store.stored_bytes(ada.id).await.unwrap();
    assert_eq!(used, small.stored_bytes);
    let limit = used + 5 * size as u64 / 2;
    let quota = |name: &str, document| NewGraph {
        max_stored_bytes: Some(limit),
        ..new_graph(ada.id, name, document)
    };
    // A random document of `size` takes about 1.75 × size (its text and its frame): the
    // second is refused.
    let first = store
        .create_graph(quota("first", noisy(size, 1, 0)))
        .await
        .unwrap();
    let refused = store.create_graph(quota("second", noisy(size, 2, 0))).await;
    assert!(
        matches!(
            refused,
            Err(StoreError::Quota {
                resource: "stored bytes",
                limit: l
            }) if l == limit
        ),
        "{refused:?}"
    );
    assert_eq!(store.count_graphs(ada.id).await.unwrap(), 2);
    let before = store.stored_bytes(ada.id).await.unwrap();
    // An update that grows past the quota changes nothing: not the head, not the versions.
    let grow = store
        .update_graph(
            first.id,
            ada.id,
            GraphUpdate {
                max_stored_bytes: Some(limit),
                name: Some("renamed".into()),
                ..save(ada.id, noisy(size, 3, 0))
            },
        )
        .await;
    assert!(matches!(grow, Err(StoreError::Quota { .. })), "{grow:?}");
    assert_eq!(store.graph(first.id, Some(ada.id)).await.unwrap(), first);
    assert_eq!(store.stored_bytes(ada.id).await.unwrap(), before);
    let versions = store
        .versions(first.id, Some(ada.id), Page::default())
        .await
        .unwrap();
    assert_eq!(versions.total, 1);
    // A small edit of the same document is a delta: it fits. A rename never grows storage.
    let edited = store
        .update_graph(
            first.id,
            ada.id,
            GraphUpdate {
                max_stored_bytes: Some(limit),
                ..save(ada.id, noisy(size, 1, 1))
            },
        )
        .await
        .unwrap();
    assert_eq!(edited.version_count, 2);
    let tight = store.stored_bytes(ada.id).await.unwrap();
    store
        .update_graph(
            small.id,
            ada.id,
            GraphUpdate {
                author_id: ada.id,
                name: Some("still small".into()),
                max_stored_bytes: Some(tight / 2),
                ..GraphUpdate::default()
            },
        )
        .await
        .unwrap();
    // No limit is no limit.
    store
        .create_graph(new_graph(ada.id, "unlimited", noisy(size, 4, 0)))
        .await
        .unwrap();
}

pub async fn concurrent_saves_stop_at_the_stored_bytes_quota(db: &TestDb) {
    let store = Arc::clone(&db.store);
    let ada = user(&store, "ada").await;
    let size = 20_000;
    let mut ids = Vec::new();
    for i in 0..12 {
        ids.push(graph(&store, ada.id, &format!("flow {i}"), false).await.id);
    }
    let base = store.stored_bytes(ada.id).await.unwrap();
    // Room for about four of the twelve new documents.
    let limit = base + 4 * 2 * size as u64;
    let mut handles = Vec::new();
    for (i, id) in ids.iter().copied().enumerate() {
        let store = Arc::clone(&store);
        let owner = ada.id;
        handles.push(tokio::spawn(async move {
            store
                .update_graph(
                    id,
                    owner,
                    GraphUpdate {
                        max_stored_bytes: Some(limit),
                        ..save(owner, noisy(size, 100 + i as u64, 0))
                    },
                )
                .await
        }));
    }
    // And creates racing with them.
    for i in 0..12 {
        let store = Arc::clone(&store);
        let owner = ada.id;
        handles.push(tokio::spawn(async move {
            store
                .create_graph(NewGraph {
                    max_stored_bytes: Some(limit),
                    ..new_graph(owner, &format!("new {i}"), noisy(size, 200 + i, 0))
                })
                .await
        }));
    }
    let (mut saved, mut refused) = (0, 0);
    for handle in handles {
        match handle.await.unwrap() {
            Ok(_) => saved += 1,
            Err(StoreError::Quota { .. }) => refused += 1,
            Err(other) => panic!("unexpected error {other:?}"),
        }
    }
    let used = store.stored_bytes(ada.id).await.unwrap();
    assert!(
        used <= limit,
        "{used} bytes stored, over the limit of {limit}"
    );
    assert!(
        saved >= 2 && refused >= 12,
        "{saved} saved, {refused} refused"
    );
    // What each graph says it takes adds up to what the owner is charged.
    let mut total = 0;
    let listed = store
        .list_graphs(&orrery_core::store::GraphFilter {
            owner_id: Some(ada.id),
            page: Page {
                page: 1,
                limit: 100,
            },
            ..Default::default()
        })
        .await
        .unwrap();
    for summary in listed.items {
        total += store
            .graph(summary.id, Some(ada.id))
            .await
            .unwrap()
            .stored_bytes;
    }
    assert_eq!(total, used);
}

pub async fn pruning_keeps_the_newest_versions_and_pinned_ones(db: &TestDb) {
    let store = &db.store;
    let ada = user(store, "ada").await;
    let helper = store
        .create_graph(NewGraph {
            agent_id: Some("helper".into()),
            ..new_graph(ada.id, "helper", doc("h0", 0.0))
        })
        .await
        .unwrap();
    let keep = |document| GraphUpdate {
        max_versions: Some(4),
        ..save(ada.id, document)
    };
    let mut heads: Vec<Digest> = vec![helper.head];
    for i in 1..10 {
        let record = store
            .update_graph(helper.id, ada.id, keep(doc(&format!("h{i}"), 0.0)))
            .await
            .unwrap();
        heads.push(record.head);
        assert_eq!(record.version_count, (i + 1).min(4) as u64);
    }
    let listed = store
        .versions(helper.id, Some(ada.id), Page::default())
        .await
        .unwrap();
    assert_eq!(listed.total, 4);
    let kept: Vec<Digest> = listed.items.iter().map(|v| v.digest).collect();
    let newest: Vec<Digest> = heads.iter().rev().take(4).copied().collect();
    assert_eq!(kept, newest);
    assert!(matches!(
        store.version(helper.id, Some(ada.id), heads[0]).await,
        Err(StoreError::NotFound(_))
    ));
    let raw = db.raw().await;
    assert_eq!(raw.count("select count(*) from graph_versions").await, 4);
    // A caller pins version h7: it is never pruned (and reads back though the versions it
    // was a delta against are), so it takes one of the four places.
    let pinned = heads[7].to_string();
    store
        .create_graph(new_graph(
            ada.id,
            "caller",
            doc_using(&[("step", "helper", Some(&pinned))]),
        ))
        .await
        .unwrap();
    for i in 10..16 {
        let record = store
            .update_graph(helper.id, ada.id, keep(doc(&format!("h{i}"), 0.0)))
            .await
            .unwrap();
        heads.push(record.head);
        assert_eq!(
            record.version_count, 4,
            "the pinned one and the three newest"
        );
    }
    let version = store
        .version(helper.id, Some(ada.id), heads[7])
        .await
        .unwrap();
    assert_eq!(version.document.digest(), doc("h7", 0.0).digest());
    for head in &heads[13..] {
        store.version(helper.id, Some(ada.id), *head).await.unwrap();
    }
    assert!(matches!(
        store.version(helper.id, Some(ada.id), heads[8]).await,
        Err(StoreError::NotFound(_))
    ));
    // Sizes follow what was pruned: the graph's figure is what the owner is charged for it.
    let record = store.graph(helper.id, Some(ada.id)).await.unwrap();
    let caller_bytes = store.stored_bytes(ada.id).await.unwrap() - record.stored_bytes;
    assert!(caller_bytes > 0 && caller_bytes < 2_000, "{caller_bytes}");
    // Without a count every version stays.
    let all = store
        .update_graph(helper.id, ada.id, save(ada.id, doc("h16", 0.0)))
        .await
        .unwrap();
    assert_eq!(all.version_count, 5);
}

pub async fn every_change_bumps_the_revision_and_a_stale_one_is_a_conflict(db: &TestDb) {
    let store = Arc::clone(&db.store);
    let ada = user(&store, "ada").await;
    let flow = graph(&store, ada.id, "flow", false).await;
    assert_eq!(flow.revision, 1);
    let renamed = store
        .update_graph(
            flow.id,
            ada.id,
            GraphUpdate {
                author_id: ada.id,
                revision: Some(1),
                name: Some("renamed".into()),
                ..GraphUpdate::default()
            },
        )
        .await
        .unwrap();
    assert_eq!((renamed.revision, renamed.head), (2, flow.head));
    let stale = store
        .update_graph(
            flow.id,
            ada.id,
            GraphUpdate {
                author_id: ada.id,
                revision: Some(1),
                is_public: Some(true),
                ..GraphUpdate::default()
            },
        )
        .await;
    assert!(matches!(
        stale,
        Err(StoreError::Conflict(Constraint::GraphRevision))
    ));
    let moved = store
        .update_graph(flow.id, ada.id, save(ada.id, doc("flow", 9.0)))
        .await
        .unwrap();
    assert_eq!((moved.revision, moved.version_count), (3, 1));
    // Twenty renames from one revision: one wins.
    let mut handles = Vec::new();
    for i in 0..20 {
        let store = Arc::clone(&store);
        let (id, owner) = (flow.id, ada.id);
        handles.push(tokio::spawn(async move {
            store
                .update_graph(
                    id,
                    owner,
                    GraphUpdate {
                        author_id: owner,
                        revision: Some(3),
                        description: Some(Some(format!("take {i}"))),
                        ..GraphUpdate::default()
                    },
                )
                .await
        }));
    }
    let mut won = 0;
    for handle in handles {
        match handle.await.unwrap() {
            Ok(record) => {
                won += 1;
                assert_eq!(record.revision, 4);
            }
            Err(StoreError::Conflict(Constraint::GraphRevision)) => {}
            Err(other) => panic!("unexpected error {other:?}"),
        }
    }
    assert_eq!(won, 1);
    assert_eq!(
        store.graph(flow.id, Some(ada.id)).await.unwrap().revision,
        4
    );
}

pub async fn versions_from_before_packing_stay_readable(db: &TestDb) {
    let store = &db.store;
    let ada = user(store, "ada").await;
    let flow = graph(store, ada.id, "flow", false).await;
    if db.backend() == orrery_store::Backend::Memory {
        // The memory store never held unpacked versions.
        return;
    }
    // A row as migration 0003 leaves those written before it: the text, no frame.
    let text = doc("flow", 0.0).to_json();
    let raw = db.raw().await;
    let sql = format!(
        "update graph_versions set packed = null, base_seq = null, document = '{text}', \
         stored_bytes = {}",
        text.len()
    );
    raw.execute(&sql, &sql).await;
    let v1 = store
        .version(flow.id, Some(ada.id), flow.head)
        .await
        .unwrap();
    assert_eq!(v1.document.digest(), flow.head);
    // The next save packs it (as a delta against the new head).
    let v2 = store
        .update_graph(flow.id, ada.id, save(ada.id, doc("v2", 0.0)))
        .await
        .unwrap();
    let again = store
        .version(flow.id, Some(ada.id), flow.head)
        .await
        .unwrap();
    assert_eq!(again.document.digest(), flow.head);
    assert_eq!(
        raw.count("select count(*) from graph_versions where document is not null")
            .await,
        0
    );
    assert!(v2.stored_bytes < flow.stored_bytes + 2 * text.len() as u64);
}

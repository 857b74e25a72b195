//! Graphs: create, read, list, update with versions and conflicts, diff, clone, delete,
//! validation, layout and thumbnails.

use reqwest::Method;
use serde_json::json;

use crate::both;
use crate::helpers::{Backend, broken_graph, small_graph, spawn_app};

both!(
    a_graph_is_created_read_and_listed,
    a_graph_with_errors_is_refused_with_every_diagnostic,
    updates_make_versions_and_a_stale_version_is_a_conflict,
    versions_can_be_read_and_diffed,
    graphs_are_cloned_and_deleted,
    validation_without_saving_reports_diagnostics_and_the_digest,
    layouts_are_deterministic_and_cached_per_version,
    thumbnails_are_png_pictures,
    public_graphs_are_readable_by_everyone_and_writable_by_their_owner,
    if_match_with_the_etag_covers_name_description_and_visibility,
    parallel_renames_with_one_etag_have_one_winner,
    graph_reads_carry_the_quota_left_and_lists_can_carry_documents,
);

async fn a_graph_is_created_read_and_listed(backend: Backend) {
    let app = spawn_app(backend).await;
    let user = app.signed_up_user().await;
    let created = app.create_graph(&user, "Triage", small_graph()).await;
    let graph = &created.ok(201)["graph"];
    let id = graph["id"].as_str().unwrap();
    let version = graph["version"].as_str().unwrap();
    assert!(version.starts_with("sha256:"));
    // The ETag is the graph's revision: it changes with every change, not only the document's.
    assert_eq!(graph["revision"], 1);
    assert_eq!(created.headers["etag"], "\"r1\"");
    assert_eq!(graph["node_count"], 3);
    assert_eq!(graph["graph_data"]["nodes"][1]["config"]["model"], "small");
    let read = app.get(&format!("/api/graphs/{id}"), &user.token).await;
    assert_eq!(read.ok(200)["graph"]["version"], version);
    for name in ["Billing", "Research helper"] {
        app.create_graph(&user, name, small_graph()).await.ok(201);
    }
    let page = app.get("/api/graphs?page=1&limit=2", &user.token).await;
    let body = page.ok(200);
    assert_eq!(
        (
            body["total"].as_u64(),
            body["graphs"].as_array().unwrap().len(),
            body["page"].as_u64()
        ),
        (Some(3), 2, Some(1))
    );
    let search = app.get("/api/graphs?search=research", &user.token).await;
    assert_eq!(search.ok(200)["graphs"][0]["name"], "Research helper");
    assert_eq!(search.body["total"], 1);
    let duplicate = app.create_graph(&user, "Triage", small_graph()).await;
    duplicate.problem(409, "conflict");
}

async fn a_graph_with_errors_is_refused_with_every_diagnostic(backend: Backend) {
    let app = spawn_app(backend).await;
    let user = app.signed_up_user().await;
    let reply = app.create_graph(&user, "Broken", broken_graph()).await;
    let problem = reply.problem(422, "invalid-graph");
    let codes: Vec<&str> = problem["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["code"].as_str().unwrap())
        .collect();
    assert!(
        codes.contains(&"E0007") && codes.contains(&"E0004"),
        "{codes:?}"
    );
    assert_eq!(problem["diagnostics"][0]["location"]["edge"], 0);
    let unparsable = app
        .post(
            "/api/graphs",
            &user.token,
            json!({"name": "x", "graph_data": {"schema": 9, "nodes": []}}),
        )
        .await;
    unparsable.problem(422, "unparsable-graph");
    let list = app.get("/api/graphs", &user.token).await;
    assert_eq!(list.ok(200)["total"], 0, "nothing was half-written");
}

async fn updates_make_versions_and_a_stale_version_is_a_conflict(backend: Backend) {
    let app = spawn_app(backend).await;
    let user = app.signed_up_user().await;
    let created = app.create_graph(&user, "Triage", small_graph()).await;
    let id = created.body["graph"]["id"].as_str().unwrap().to_owned();
    let v1 = created.body["graph"]["version"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut edited = small_graph();
    edited["nodes"][1]["config"]["model"] = json!("large");
    // A bare version as If-Match is a precondition on the document alone.
    let update = app
        .send(
            app.request(Method::PUT, &format!("/api/graphs/{id}"))
                .bearer_auth(&user.token)
                .header("if-match", format!("\"{v1}\""))
                .json(&json!({"graph_data": edited})),
        )
        .await;
    assert_eq!(update.headers["etag"], "\"r2\"");
    let v2 = update.ok(200)["graph"]["version"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_ne!(v1, v2);
    assert_eq!(update.body["graph"]["version_count"], 2);
    // Someone else's edit was based on v1 too: refused, with the current version to merge from.
    let mut other = small_graph();
    other["nodes"][1]["label"] = json!("Answer politely");
    let stale = app
        .call(
            Method::PUT,
            &format!("/api/graphs/{id}"),
            Some(&user.token),
            Some(json!({"graph_data": other, "base_version": v1})),
        )
        .await;
    assert_eq!(
        stale.problem(409, "version-conflict")["current_version"],
        v2.as_str()
    );
    // Moving a node is not a new version.
    let mut moved = edited.clone();
    moved["nodes"][0]["position"] = json!([100, 200, 0]);
    let same = app
        .call(
            Method::PUT,
            &format!("/api/graphs/{id}"),
            Some(&user.token),
            Some(json!({"graph_data": moved, "base_version": v2})),
        )
        .await;
    assert_eq!(same.ok(200)["graph"]["version"], v2.as_str());
    // Without a base version the write applies to the latest; renaming keeps the version.
    let rename = app
        .call(
            Method::PUT,
            &format!("/api/graphs/{id}"),
            Some(&user.token),
            Some(json!({"name": "Triage v2", "description": "now with a larger model"})),
        )
        .await;
    assert_eq!(rename.ok(200)["graph"]["name"], "Triage v2");
    let invalid = app
        .call(
            Method::PUT,
            &format!("/api/graphs/{id}"),
            Some(&user.token),
            Some(json!({"graph_data": broken_graph()})),
        )
        .await;
    invalid.problem(422, "invalid-graph");
    let bad_base = app
        .call(
            Method::PUT,
            &format!("/api/graphs/{id}"),
            Some(&user.token),
            Some(json!({"name": "x", "base_version": "v1"})),
        )
        .await;
    bad_base.problem(422, "invalid-field");
}

async fn versions_can_be_read_and_diffed(backend: Backend) {
    let app = spawn_app(backend).await;
    let user = app.signed_up_user().await;
    let created = app.create_graph(&user, "Triage", small_graph()).await;
    let id = created.body["graph"]["id"].as_str().unwrap().to_owned();
    let v1 = created.body["graph"]["version"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut edited = small_graph();
    edited["nodes"][1]["config"]["model"] = json!("large");
    let v2 = app
        .call(
            Method::PUT,
            &format!("/api/graphs/{id}"),
            Some(&user.token),
            Some(json!({"graph_data": edited})),
        )
        .await
        .body["graph"]["version"]
        .as_str()
        .unwrap()
        .to_owned();
    let versions = app
        .get(&format!("/api/graphs/{id}/versions"), &user.token)
        .await;
    let list = versions.ok(200)["versions"].as_array().unwrap().clone();
    assert_eq!(list.len(), 2);
    assert_eq!(
        (list[0]["version"].as_str(), list[0]["parent"].as_str()),
        (Some(v2.as_str()), Some(v1.as_str()))
    );
    let old = app
        .get(&format!("/api/graphs/{id}/versions/{v1}"), &user.token)
        .await;
    assert_eq!(
        old.ok(200)["graph_data"]["nodes"][1]["config"]["model"],
        "small"
    );
    let diff = app
        .get(&format!("/api/graphs/{id}/diff"), &user.token)
        .await;
    let changes = diff.ok(200)["changes"].as_array().unwrap().clone();
    assert_eq!(
        changes,
        vec![
            json!({"change": "field_changed", "node": "llm", "field": "config.model", "old": "small", "new": "large"})
        ]
    );
    let explicit = app
        .get(
            &format!("/api/graphs/{id}/diff?from={v2}&to={v1}"),
            &user.token,
        )
        .await;
    assert_eq!(explicit.ok(200)["changes"][0]["new"], "small");
    app.get(
        &format!("/api/graphs/{id}/versions/sha256:{}", "0".repeat(64)),
        &user.token,
    )
    .await
    .problem(404, "not-found");
    app.get(&format!("/api/graphs/{id}/versions/latest"), &user.token)
        .await
        .problem(422, "invalid-field");
}

async fn graphs_are_cloned_and_deleted(backend: Backend) {
    let app = spawn_app(backend).await;
    let user = app.signed_up_user().await;
    let id = app.create_graph(&user, "Triage", small_graph()).await.body["graph"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let clone = app
        .post(&format!("/api/graphs/{id}/clone"), &user.token, json!({}))
        .await;
    let copy = &clone.ok(201)["graph"];
    assert_eq!(copy["name"], "Copy of Triage");
    assert_ne!(copy["id"], id.as_str());
    app.call(
        Method::DELETE,
        &format!("/api/graphs/{id}"),
        Some(&user.token),
        None,
    )
    .await
    .ok(200);
    app.get(&format!("/api/graphs/{id}"), &user.token)
        .await
        .problem(404, "not-found");
    app.call(
        Method::DELETE,
        &format!("/api/graphs/{id}"),
        Some(&user.token),
        None,
    )
    .await
    .problem(404, "not-found");
    assert_eq!(app.get("/api/graphs", &user.token).await.body["total"], 1);
}

async fn validation_without_saving_reports_diagnostics_and_the_digest(backend: Backend) {
    let app = spawn_app(backend).await;
    let user = app.signed_up_user().await;
    let ok = app
        .post(
            "/api/graphs/validate",
            &user.token,
            json!({"graph_data": small_graph()}),
        )
        .await;
    assert_eq!(ok.ok(200)["valid"], true);
    assert!(ok.body["digest"].as_str().unwrap().starts_with("sha256:"));
    let bad = app
        .post(
            "/api/graphs/validate",
            &user.token,
            json!({"graph_data": broken_graph()}),
        )
        .await;
    assert_eq!(bad.ok(200)["valid"], false);
    assert!(bad.body["diagnostics"].as_array().unwrap().len() >= 2);
    assert_eq!(app.get("/api/graphs", &user.token).await.body["total"], 0);
}

async fn layouts_are_deterministic_and_cached_per_version(backend: Backend) {
    let app = spawn_app(backend).await;
    let user = app.signed_up_user().await;
    let id = app.create_graph(&user, "Triage", small_graph()).await.body["graph"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let first = app
        .get(&format!("/api/graphs/{id}/layout?seed=7"), &user.token)
        .await;
    assert_eq!(first.ok(200)["nodes"], json!(["question", "llm", "answer"]));
    assert_eq!(first.body["positions"].as_array().unwrap().len(), 3);
    assert_eq!(first.headers["x-cache"], "miss");
    let second = app
        .get(&format!("/api/graphs/{id}/layout?seed=7"), &user.token)
        .await;
    assert_eq!(second.headers["x-cache"], "hit");
    assert_eq!(second.headers["content-type"], "application/json");
    assert_eq!(first.body, second.body);
    // The same version asked for by its digest is laid out the same.
    let version = first.body["version"].as_str().unwrap();
    let pinned = app
        .get(
            &format!("/api/graphs/{id}/layout?seed=7&version={version}"),
            &user.token,
        )
        .await;
    assert_eq!(pinned.ok(200)["positions"], first.body["positions"]);
    // A new version is a new layout, not the cached one of the old head.
    let mut changed = small_graph();
    changed["nodes"][1]["label"] = json!("Renamed model");
    app.put(
        &format!("/api/graphs/{id}"),
        &user.token,
        json!({"graph_data": changed}),
    )
    .await
    .ok(200);
    let third = app
        .get(&format!("/api/graphs/{id}/layout?seed=7"), &user.token)
        .await;
    assert_eq!(third.headers["x-cache"], "miss");
    assert_ne!(third.ok(200)["version"], first.body["version"]);
    app.get(&format!("/api/graphs/{id}/layout?seed=-1"), &user.token)
        .await
        .problem(400, "bad-request");
    // A graph just started has no nodes: nothing to place, and its picture is an empty canvas.
    let empty = app
        .create_graph(&user, "Blank", json!({"schema": 1, "nodes": []}))
        .await;
    let empty = empty.ok(201)["graph"]["id"].as_str().unwrap().to_owned();
    let layout = app
        .get(&format!("/api/graphs/{empty}/layout"), &user.token)
        .await;
    assert_eq!(layout.ok(200)["positions"], json!([]));
    let png = app
        .get(
            &format!("/api/graphs/{empty}/thumbnail.png?width=64&height=64"),
            &user.token,
        )
        .await;
    assert_eq!(png.status, 200, "{:?}", png.body);
    assert_eq!(&png.bytes[..8], b"\x89PNG\r\n\x1a\n");
}

async fn thumbnails_are_png_pictures(backend: Backend) {
    let app = spawn_app(backend).await;
    let user = app.signed_up_user().await;
    let id = app.create_graph(&user, "Triage", small_graph()).await.body["graph"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let png = app
        .get(
            &format!("/api/graphs/{id}/thumbnail.png?width=320&height=180"),
            &user.token,
        )
        .await;
    assert_eq!(png.status, 200, "{:?}", png.body);
    assert_eq!(png.headers["content-type"], "image/png");
    assert_eq!(&png.bytes[..8], b"\x89PNG\r\n\x1a\n");
    app.get(
        &format!("/api/graphs/{id}/thumbnail.png?width=5"),
        &user.token,
    )
    .await
    .problem(422, "invalid-field");
    app.get(
        &format!("/api/graphs/{id}/thumbnail.png?theme=neon"),
        &user.token,
    )
    .await
    .problem(422, "invalid-field");
}

async fn public_graphs_are_readable_by_everyone_and_writable_by_their_owner(backend: Backend) {
    let app = spawn_app(backend).await;
    let owner = app.signed_up_user().await;
    let other = app.signed_up_user().await;
    let id = app
        .post(
            "/api/graphs",
            &owner.token,
            json!({"name": "Shared", "graph_data": small_graph(), "is_public": true}),
        )
        .await
        .body["graph"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        app.call(Method::GET, &format!("/api/graphs/{id}"), None, None)
            .await
            .ok(200)["graph"]["is_public"],
        true
    );
    assert_eq!(
        app.get(&format!("/api/graphs/{id}"), &other.token)
            .await
            .status,
        200
    );
    app.call(
        Method::PUT,
        &format!("/api/graphs/{id}"),
        Some(&other.token),
        Some(json!({"name": "Mine now"})),
    )
    .await
    .problem(404, "not-found");
    app.call(
        Method::DELETE,
        &format!("/api/graphs/{id}"),
        Some(&other.token),
        None,
    )
    .await
    .problem(404, "not-found");
    let listed = app
        .get("/api/graphs?include_public=true", &other.token)
        .await;
    assert_eq!(listed.ok(200)["total"], 1);
    assert_eq!(app.get("/api/graphs", &other.token).await.body["total"], 0);
}

async fn if_match_with_the_etag_covers_name_description_and_visibility(backend: Backend) {
    let app = spawn_app(backend).await;
    let user = app.signed_up_user().await;
    let created = app.create_graph(&user, "Triage", small_graph()).await;
    let id = created.ok(201)["graph"]["id"].as_str().unwrap().to_owned();
    let version = created.body["graph"]["version"]
        .as_str()
        .unwrap()
        .to_owned();
    let etag = created.headers["etag"].to_str().unwrap().to_owned();
    let put = |if_match: String, body: serde_json::Value| {
        app.send(
            app.request(Method::PUT, &format!("/api/graphs/{id}"))
                .bearer_auth(&user.token)
                .header("if-match", if_match)
                .json(&body),
        )
    };
    let public = put(etag.clone(), json!({"is_public": true})).await;
    assert_eq!(public.ok(200)["graph"]["revision"], 2);
    let next = public.headers["etag"].to_str().unwrap().to_owned();
    assert_eq!(next, "\"r2\"");
    let read = app.get(&format!("/api/graphs/{id}"), &user.token).await;
    assert_eq!(read.headers["etag"].to_str().unwrap(), next);
    // The old tag is stale for a description change too, even though the document is the same.
    let stale = put(etag.clone(), json!({"description": "late"})).await;
    let problem = stale.problem(412, "precondition-failed");
    assert_eq!(problem["current_version"], version.as_str());
    // It says what to send instead: the current revision and its tag.
    assert_eq!(problem["current_revision"], 2);
    assert_eq!(problem["current_etag"], next.as_str());
    // The document's version alone still matches: a rename meanwhile does not fail it.
    put(format!("\"{version}\""), json!({"name": "Renamed"}))
        .await
        .ok(200);
    // Lists match any of their tags; weak tags never match; `*` only needs the graph.
    put(
        format!("W/\"r3\", {etag}, \"r3\""),
        json!({"description": "listed"}),
    )
    .await
    .ok(200);
    put("W/\"r4\"".to_owned(), json!({"description": "weak"}))
        .await
        .problem(412, "precondition-failed");
    put("*".to_owned(), json!({"description": "any"}))
        .await
        .ok(200);
    put("\"r-1\"".to_owned(), json!({"description": "x"}))
        .await
        .problem(400, "bad-request");
}

async fn parallel_renames_with_one_etag_have_one_winner(backend: Backend) {
    let app = spawn_app(backend).await;
    let user = app.signed_up_user().await;
    let created = app.create_graph(&user, "Triage", small_graph()).await;
    let id = created.ok(201)["graph"]["id"].as_str().unwrap().to_owned();
    let etag = created.headers["etag"].to_str().unwrap().to_owned();
    let renames = (0..50).map(|i| {
        app.send(
            app.request(Method::PUT, &format!("/api/graphs/{id}"))
                .bearer_auth(&user.token)
                .header("if-match", etag.clone())
                .json(&json!({"name": format!("Triage {i}")})),
        )
    });
    let replies = futures_util::future::join_all(renames).await;
    let mut statuses: Vec<u16> = replies.iter().map(|r| r.status.as_u16()).collect();
    statuses.sort_unstable();
    let won = statuses.iter().filter(|s| **s == 200).count();
    let failed = statuses.iter().filter(|s| **s == 412).count();
    assert_eq!((won, failed), (1, 49), "{statuses:?}");
    let read = app.get(&format!("/api/graphs/{id}"), &user.token).await;
    assert_eq!(read.ok(200)["graph"]["revision"], 2);
}

async fn graph_reads_carry_the_quota_left_and_lists_can_carry_documents(backend: Backend) {
    let app = spawn_app(backend).await;
    let user = app.signed_up_user().await;
    let created = app.create_graph(&user, "Mine", small_graph()).await;
    let id = created.ok(201)["graph"]["id"].as_str().unwrap().to_owned();
    assert!(
        created.body.get("usage_remaining").is_none(),
        "writes do not carry it"
    );
    let path = format!("/api/graphs/{id}");
    let first = app.get(&path, &user.token).await.ok(200)["usage_remaining"]["api_calls"]
        .as_u64()
        .unwrap();
    let second = app.get(&path, &user.token).await.ok(200)["usage_remaining"]["api_calls"]
        .as_u64()
        .unwrap();
    assert_eq!(second + 1, first, "each call counts");
    // Public graphs read anonymously carry no quota.
    app.put(&path, &user.token, json!({"is_public": true}))
        .await
        .ok(200);
    let anonymous = app.call(Method::GET, &path, None, None).await;
    assert!(anonymous.ok(200).get("usage_remaining").is_none());
    // Lists carry documents on request only.
    let plain = app.get("/api/graphs", &user.token).await;
    assert!(plain.ok(200)["graphs"][0].get("graph_data").is_none());
    let whole = app.get("/api/graphs?include=graph_data", &user.token).await;
    let listed = &whole.ok(200)["graphs"][0];
    assert_eq!(listed["id"], id.as_str());
    assert_eq!(listed["graph_data"]["nodes"], small_graph()["nodes"]);
    for bad in ["?include=everything", "?include=graph_data&include=x"] {
        let reply = app.get(&format!("/api/graphs{bad}"), &user.token).await;
        assert!(
            reply.status == 400 || reply.status == 422,
            "{bad}: {}",
            reply.status
        );
    }
}

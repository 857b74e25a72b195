//! Custom agents: publishing, nesting, callers and the breaking-change check.

use reqwest::Method;
use serde_json::{Value, json};

use crate::both;
use crate::helpers::{Backend, small_graph, spawn_app};

both!(agents_are_published_nested_and_protected_from_breaking_changes);

fn caller(agent: &str) -> Value {
    json!({"schema": 1,
        "nodes": [
            {"id": "q", "kind": "input", "outputs": [{"name": "value", "type": "text"}]},
            {"id": "helper", "kind": "subgraph", "agent": {"id": agent},
             "inputs": [{"name": "question", "type": "text"}], "outputs": [{"name": "answer", "type": "text"}]},
            {"id": "a", "kind": "output", "inputs": [{"name": "value", "type": "text"}]}],
        "edges": [{"from": "q.value", "to": "helper.question"}, {"from": "helper.answer", "to": "a.value"}]})
}

async fn agents_are_published_nested_and_protected_from_breaking_changes(backend: Backend) {
    let app = spawn_app(backend).await;
    let author = app.signed_up_user().await;
    let created = app
        .post("/api/graphs", &author.token, json!({"name": "Answerer", "graph_data": small_graph(), "is_custom_agent": true, "agent_id": "answerer", "is_public": true}))
        .await;
    let agent_graph = created.ok(201)["graph"]["id"].as_str().unwrap().to_owned();
    let agent = app.get("/api/agents/answerer", &author.token).await;
    assert_eq!(
        agent.ok(200)["interface"]["inputs"],
        json!([{"name": "question", "type": "text"}])
    );
    // Someone else nests it.
    let user = app.signed_up_user().await;
    let using = app
        .create_graph(&user, "Uses answerer", caller("answerer"))
        .await;
    using.ok(201);
    let unknown = app.create_graph(&user, "Uses ghost", caller("ghost")).await;
    assert_eq!(
        unknown.problem(422, "invalid-graph")["diagnostics"][0]["code"],
        "E0015"
    );
    let callers = app.get("/api/agents/answerer/callers", &author.token).await;
    assert_eq!(
        callers.ok(200)["callers"].as_array().unwrap().len(),
        0,
        "the caller is private to its owner"
    );
    assert_eq!(callers.body["hidden_callers"], 1);
    // Renaming the output breaks that caller: refused unless forced.
    let mut renamed = small_graph();
    renamed["nodes"][2]["id"] = json!("reply");
    renamed["edges"][1]["to"] = json!("reply.value");
    let check = app
        .post(
            "/api/agents/answerer/check",
            &author.token,
            json!({"graph_data": renamed}),
        )
        .await;
    assert_eq!(
        (
            check.ok(200)["breaking"].as_bool(),
            check.body["blocked"].as_bool()
        ),
        (Some(true), Some(true))
    );
    let refused = app
        .call(
            Method::PUT,
            &format!("/api/graphs/{agent_graph}"),
            Some(&author.token),
            Some(json!({"graph_data": renamed})),
        )
        .await;
    let problem = refused.problem(409, "breaking-change");
    assert_eq!(problem["hidden_callers"], 1);
    // A compatible change (a new output) goes through.
    let mut extended = small_graph();
    extended["nodes"].as_array_mut().unwrap().push(
        json!({"id": "cost", "kind": "output", "inputs": [{"name": "value", "type": "text"}]}),
    );
    extended["edges"]
        .as_array_mut()
        .unwrap()
        .push(json!({"from": "llm.text", "to": "cost.value"}));
    app.call(
        Method::PUT,
        &format!("/api/graphs/{agent_graph}"),
        Some(&author.token),
        Some(json!({"graph_data": extended})),
    )
    .await
    .ok(200);
    let forced = app
        .call(
            Method::PUT,
            &format!("/api/graphs/{agent_graph}?force=true"),
            Some(&author.token),
            Some(json!({"graph_data": renamed})),
        )
        .await;
    forced.ok(200);
    // The author's own caller is listed in detail.
    app.create_graph(
        &author,
        "Own caller",
        caller("answerer")
            .to_string()
            .replace("answer\"", "reply\"")
            .parse::<Value>()
            .unwrap(),
    )
    .await
    .ok(201);
    let mine = app.get("/api/agents/answerer/callers", &author.token).await;
    assert_eq!(mine.ok(200)["callers"][0]["node"], "helper");
    let list = app.get("/api/agents", &user.token).await;
    assert_eq!(list.ok(200)["agents"][0]["agent_id"], "answerer");
    app.get("/api/agents/no such agent", &author.token)
        .await
        .problem(404, "not-found");
    app.post(
        "/api/graphs",
        &author.token,
        json!({"name": "Dup", "graph_data": small_graph(), "agent_id": "answerer"}),
    )
    .await
    .problem(409, "conflict");
    app.post(
        "/api/graphs",
        &author.token,
        json!({"name": "Bad id", "graph_data": small_graph(), "agent_id": "bad id"}),
    )
    .await
    .problem(422, "invalid-field");
}

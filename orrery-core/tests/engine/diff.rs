//! Structural diffs, nested agent diffs, interface classification and broken callers.

use expect_test::expect;
use orrery_core::{Interface, NoAgents, broken_callers, classify_interface, diff};

use crate::{agents, graph};

const OLD: &str = r#"{"schema":1,"nodes":[
    {"id":"q","kind":"input","outputs":[{"name":"value","type":"text"}]},
    {"id":"classify","kind":"agent","label":"Classify","config":{"model":"small","params":{"temperature":0.2,"top_p":1}},
     "inputs":[{"name":"text","type":"text"}],"outputs":[{"name":"label","type":"text"}]},
    {"id":"old_step","kind":"tool","inputs":[{"name":"x","required":false}]},
    {"id":"a","kind":"output","inputs":[{"name":"value","type":"text"}]}],
    "edges":[{"from":"q.value","to":"classify.text"},{"from":"classify.label","to":"a.value"}]}"#;

const NEW: &str = r#"{"schema":1,"nodes":[
    {"id":"q","kind":"input","outputs":[{"name":"value","type":"text"}],"position":[5,5]},
    {"id":"classify","kind":"agent","label":"Classify intent","config":{"model":"large","params":{"temperature":0.2}},
     "inputs":[{"name":"text","type":"json"},{"name":"context","type":"documents","required":false}],"outputs":[{"name":"label","type":"text"}]},
    {"id":"summarize","kind":"agent","inputs":[{"name":"text","type":"text"}],"outputs":[{"name":"summary","type":"text"}]},
    {"id":"a","kind":"output","inputs":[{"name":"value","type":"text"}]}],
    "edges":[{"from":"q.value","to":"classify.text"},{"from":"q.value","to":"summarize.text"},{"from":"summarize.summary","to":"a.value"}]}"#;

#[test]
fn diffs_list_nodes_fields_ports_and_edges() {
    let d = diff(&graph(OLD), &graph(NEW), &NoAgents);
    expect![[r#"
        ~ node classify: label "Classify" -> "Classify intent"
        ~ node classify: config.model "small" -> "large"
        ~ node classify: config.params.top_p 1 -> (none)
        + port classify.context (input, documents)
        ~ port classify.text (input): type "text" -> "json"
        - node old_step (tool)
        + node summarize (agent)
        - edge classify.label -> a.value
        + edge q.value -> summarize.text
        + edge summarize.summary -> a.value
    "#]]
    .assert_eq(&d.to_string());
    let json = serde_json::to_value(&d).unwrap();
    assert_eq!(
        json["changes"][0],
        serde_json::json!({"change": "field_changed", "node": "classify", "field": "label", "old": "Classify", "new": "Classify intent"})
    );
}

#[test]
fn numbers_with_the_same_canonical_form_are_no_change() {
    // Found by fuzzing: `8.0` and `8` have one canonical form and digest, but serde_json's `==`
    // told them apart, so a graph differed from its own canonical round trip.
    let old = r#"{"schema":1,"nodes":[{"id":"r","kind":"router","config":{"threshold":8.0,"weights":[1.0,0.5]}}]}"#;
    let new = r#"{"schema":1,"nodes":[{"id":"r","kind":"router","config":{"threshold":8,"weights":[1,0.5]}}]}"#;
    expect![[""]].assert_eq(&diff(&graph(old), &graph(new), &NoAgents).to_string());
    let changed = r#"{"schema":1,"nodes":[{"id":"r","kind":"router","config":{"threshold":8.5,"weights":[1,0.5]}}]}"#;
    expect![[r#"
        ~ node r: config.threshold 8.0 -> 8.5
    "#]]
    .assert_eq(&diff(&graph(old), &graph(changed), &NoAgents).to_string());
}

const AGENT_V1: &str = r#"{"schema":1,"nodes":[
    {"id":"question","kind":"input","outputs":[{"name":"value","type":"text"}]},
    {"id":"llm","kind":"agent","config":{"model":"small"},"inputs":[{"name":"p","type":"text"}],"outputs":[{"name":"o","type":"text"}]},
    {"id":"answer","kind":"output","inputs":[{"name":"value","type":"text"}]}],
    "edges":[{"from":"question.value","to":"llm.p"},{"from":"llm.o","to":"answer.value"}]}"#;

fn caller(digest: &str) -> String {
    format!(
        r#"{{"schema":1,"nodes":[
        {{"id":"q","kind":"input","outputs":[{{"name":"value","type":"text"}}]}},
        {{"id":"helper","kind":"subgraph","agent":{{"id":"bot","version":"{digest}"}},"inputs":[{{"name":"question","type":"text"}}],"outputs":[{{"name":"answer","type":"text"}}]}},
        {{"id":"a","kind":"output","inputs":[{{"name":"value","type":"text"}}]}}],
        "edges":[{{"from":"q.value","to":"helper.question"}},{{"from":"helper.answer","to":"a.value"}}]}}"#
    )
}

#[test]
fn diffs_recurse_into_pinned_agents_and_classify_their_interface() {
    let v2 = AGENT_V1.replace(r#""model":"small""#, r#""model":"large""#)
        .replace(r#"{"id":"answer","kind":"output","inputs":[{"name":"value","type":"text"}]}"#,
                 r#"{"id":"answer","kind":"output","inputs":[{"name":"value","type":"text"}]},{"id":"cost","kind":"output","inputs":[{"name":"value","type":"number"}]}"#);
    let mut r = agents(&[]);
    let d1 = r.insert("bot", graph(AGENT_V1)).unwrap();
    let d2 = r.insert("bot", graph(&v2)).unwrap();
    let d = diff(
        &graph(&caller(&d1.to_string())),
        &graph(&caller(&d2.to_string())),
        &r,
    );
    let text = d
        .to_string()
        .replace(&d1.to_string(), "sha256:<v1>")
        .replace(&d2.to_string(), "sha256:<v2>");
    expect![[r#"
        ~ node helper: agent bot@sha256:<v1> -> bot@sha256:<v2> (interface compatible: output `cost` added (number))
        + node helper/cost (output)
        ~ node helper/llm: config.model "small" -> "large"
    "#]]
    .assert_eq(&text);
}

#[test]
fn interface_changes_are_breaking_or_compatible() {
    let iface = |json: &str| Interface::of(&graph(json));
    let base = iface(AGENT_V1);
    let widened = iface(&AGENT_V1.replacen(r#""type":"text""#, r#""type":"json""#, 1));
    let c = classify_interface(&base, &widened);
    assert!(
        !c.breaking,
        "an input that accepts more is compatible: {c:?}"
    );
    let c = classify_interface(&widened, &base);
    assert!(c.breaking, "an input that accepts less is breaking");
    let renamed = iface(&AGENT_V1.replace("answer", "reply"));
    let c = classify_interface(&base, &renamed);
    assert!(c.breaking);
    assert_eq!(c.ports.len(), 2);
    let added_input = iface(&AGENT_V1.replace(
        r#"{"id":"llm""#,
        r#"{"id":"extra","kind":"input","outputs":[{"name":"value"}]},{"id":"llm""#,
    ));
    assert!(classify_interface(&base, &added_input).breaking);
}

#[test]
fn broken_callers_are_those_using_latest_whose_ports_no_longer_fit() {
    let mut r = agents(&[("bot", AGENT_V1)]);
    let pinned = r.resolve_latest_digest("bot");
    r.insert_graph("uses_latest", graph(&caller("latest")));
    r.insert_graph("pins_v1", graph(&caller(&pinned)));
    let renamed = graph(&AGENT_V1.replace("answer", "reply"));
    let broken = broken_callers("bot", &renamed, &r);
    assert_eq!(broken.len(), 1);
    assert_eq!(broken[0].graph, "uses_latest");
    assert_eq!(broken[0].node, "helper");
    assert_eq!(broken[0].problems, ["the agent has no output `answer`"]);
    assert!(broken_callers("bot", &graph(AGENT_V1), &r).is_empty());
}

trait LatestDigest {
    fn resolve_latest_digest(&self, id: &str) -> String;
}

impl LatestDigest for orrery_core::MemoryResolver {
    fn resolve_latest_digest(&self, id: &str) -> String {
        self.latest()
            .find(|a| a.id == id)
            .unwrap()
            .digest
            .to_string()
    }
}

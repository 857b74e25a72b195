//! Custom agents: resolution, interface checks, nesting cycles and depth, diagnostics located
//! through the nesting path, and flattening.

use expect_test::{Expect, expect};
use orrery_core::{
    GraphLimits, MemoryResolver, ResolveError, ValidGraph, ValidateOptions, flatten, validate,
    validate_with,
};

use crate::{agents, graph, render};

/// An agent with input `question` (text) and output `answer` (text).
const ANSWERER: &str = r#"{"schema":1,"nodes":[
    {"id":"question","kind":"input","outputs":[{"name":"value","type":"text"}]},
    {"id":"llm","kind":"agent","inputs":[{"name":"prompt","type":"text"}],"outputs":[{"name":"text","type":"text"}]},
    {"id":"answer","kind":"output","inputs":[{"name":"value","type":"text"}]}],
    "edges":[{"from":"question.value","to":"llm.prompt"},{"from":"llm.text","to":"answer.value"}]}"#;

/// A graph that calls agent `agent_ref` (a JSON object) through node `helper`.
fn caller(agent_ref: &str, ports: &str) -> String {
    format!(
        r#"{{"schema":1,"nodes":[
        {{"id":"q","kind":"input","outputs":[{{"name":"value","type":"text"}}]}},
        {{"id":"helper","kind":"subgraph","agent":{agent_ref},{ports}}},
        {{"id":"a","kind":"output","inputs":[{{"name":"value","type":"text"}}]}}],
        "edges":[{{"from":"q.value","to":"helper.question"}},{{"from":"helper.answer","to":"a.value"}}]}}"#
    )
}

const PORTS: &str =
    r#""inputs":[{"name":"question","type":"text"}],"outputs":[{"name":"answer","type":"text"}]"#;

#[track_caller]
fn check(json: &str, resolver: &MemoryResolver, expect: Expect) {
    expect.assert_eq(&render(&validate(&graph(json), resolver)));
}

#[test]
fn a_caller_that_fits_its_agent_is_valid_and_flattens_to_a_valid_graph() {
    let r = agents(&[("answerer", ANSWERER)]);
    let g = graph(&caller(r#"{"id":"answerer"}"#, PORTS));
    assert_eq!(render(&validate(&g, &r)), "");
    let flat = flatten(&g, &r).unwrap();
    assert_eq!(render(&validate(&flat, &r)), "");
    assert_eq!(flat.nodes.len(), 5);
    assert!(ValidGraph::new(g, &r, &ValidateOptions::default()).is_ok());
}

#[test]
fn e0015_e0016_unknown_agents_and_versions() {
    let r = agents(&[("answerer", ANSWERER)]);
    let zero = "0".repeat(64);
    check(
        &caller(r#"{"id":"nobody"}"#, PORTS),
        &r,
        expect![[r#"
            error[E0015] helper: node `helper` uses unknown agent `nobody`
              help: publish the agent first, or correct its id (with the CLI: --agents DIR)
        "#]],
    );
    check(
        &caller(
            &format!(r#"{{"id":"answerer","version":"sha256:{zero}"}}"#),
            PORTS,
        ),
        &r,
        expect![[r#"
            error[E0016] helper: agent `answerer` has no version sha256:0000000000000000000000000000000000000000000000000000000000000000
              help: pin a version that exists, or use "latest"
        "#]],
    );
}

#[test]
fn e0017_ports_that_no_longer_match_the_agent() {
    let r = agents(&[("answerer", ANSWERER)]);
    let ports = r#""inputs":[{"name":"question","type":"image"},{"name":"extra","type":"text"}],"outputs":[{"name":"answer","type":"number"}]"#;
    let g = graph(&caller(r#"{"id":"answerer"}"#, ports));
    let diagnostics = validate(&g, &r);
    let mismatch = diagnostics
        .iter()
        .find(|d| d.code.as_str() == "E0017")
        .unwrap();
    let digest = mismatch
        .message
        .split('@')
        .nth(1)
        .unwrap()
        .split(':')
        .take(2)
        .collect::<Vec<_>>()
        .join(":");
    let text = render(&diagnostics).replace(&digest, "sha256:<digest>…");
    expect![[r#"
        error[E0007] edges[0]: `q.value` (text) cannot feed `helper.question` (image)
          help: image accepts any, image; convert the value in a step between, or change a port type
        error[E0007] edges[1]: `helper.answer` (number) cannot feed `a.value` (text)
          help: text accepts any, text; convert the value in a step between, or change a port type
        error[E0008] helper.extra: required input `helper.extra` has no edge
          help: connect an edge to it, or mark the port "required": false
        error[E0017] helper: ports of `helper` do not match agent answerer@sha256:<digest>…: input `question` is declared image but the agent accepts text; the agent has no input `extra`; output `answer` is declared number but the agent produces text
          help: declare the agent's interface on the node: inputs [question: text], outputs [answer: text]
    "#]]
    .assert_eq(&text);
}

#[test]
fn e0018_nesting_cycles_show_the_path() {
    let a = caller(r#"{"id":"agent_b"}"#, PORTS)
        .replace(
            r#""id":"q","kind":"input""#,
            r#""id":"question","kind":"input""#,
        )
        .replace(
            r#""id":"a","kind":"output""#,
            r#""id":"answer","kind":"output""#,
        )
        .replace("q.value", "question.value")
        .replace("a.value", "answer.value");
    let b = a.replace("agent_b", "agent_a");
    let r = agents(&[("agent_a", &a), ("agent_b", &b)]);
    let diagnostics = validate_with(
        &graph(&a),
        &r,
        &ValidateOptions {
            agent_id: Some("agent_a".into()),
            ..Default::default()
        },
    );
    let cycles: Vec<String> = diagnostics
        .iter()
        .filter(|d| d.code.as_str() == "E0018")
        .map(|d| format!("{} {}", d.location, d.message))
        .collect();
    assert_eq!(
        cycles,
        ["helper/helper nesting cycle: agent_a → agent_b → agent_a"]
    );
    // Without knowing the root's own id, the cycle is found one level further down.
    let diagnostics = validate(&graph(&a), &r);
    let cycles: Vec<String> = diagnostics
        .iter()
        .filter(|d| d.code.as_str() == "E0018")
        .map(|d| format!("{} {}", d.location, d.message))
        .collect();
    assert_eq!(
        cycles,
        ["helper/helper/helper nesting cycle: agent_b → agent_a → agent_b"]
    );
}

#[test]
fn e0019_nesting_deeper_than_the_limit() {
    // level3 uses answerer, level2 uses level3, level1 uses level2: depth 3 below the caller.
    let wrap = |inner: &str| {
        caller(&format!(r#"{{"id":"{inner}"}}"#), PORTS)
            .replace(r#""id":"q","kind""#, r#""id":"question","kind""#)
            .replace(r#""id":"a","kind""#, r#""id":"answer","kind""#)
            .replace("q.value", "question.value")
            .replace("a.value", "answer.value")
    };
    let r = agents(&[
        ("answerer", ANSWERER),
        ("level3", &wrap("answerer")),
        ("level2", &wrap("level3")),
        ("level1", &wrap("level2")),
    ]);
    let g = graph(&caller(r#"{"id":"level1"}"#, PORTS));
    assert_eq!(render(&validate(&g, &r)), "");
    let options = ValidateOptions {
        limits: GraphLimits {
            max_depth: 3,
            ..Default::default()
        },
        ..Default::default()
    };
    let found: Vec<String> = validate_with(&g, &r, &options)
        .iter()
        .map(|d| format!("{} {} {}", d.code, d.location, d.message))
        .collect();
    assert_eq!(
        found,
        [
            "E0019 helper/helper/helper/helper `helper` nests agent `answerer` to depth 4, over the limit of 3"
        ]
    );
    // A second use of an agent already checked is still held to the limit from where it is.
    let g2 = graph(&caller(r#"{"id":"level2"}"#, PORTS).replace(r#"{"id":"a","kind""#, r#"{"id":"deep","kind":"subgraph","agent":{"id":"level1"},"inputs":[{"name":"question","type":"text"}]},{"id":"a","kind""#)
        .replace(r#"{"from":"q.value","to":"helper.question"}"#, r#"{"from":"q.value","to":"helper.question"},{"from":"q.value","to":"deep.question"}"#));
    let found: Vec<String> = validate_with(&g2, &r, &options)
        .iter()
        .map(|d| format!("{} {}", d.code, d.location))
        .collect();
    assert_eq!(found, ["E0019 deep/helper"]);
}

#[test]
fn diagnostics_inside_agents_carry_the_nesting_path() {
    let broken = ANSWERER.replace(r#"{"from":"question.value","to":"llm.prompt"},"#, "");
    let r = agents(&[("answerer", &broken)]);
    check(
        &caller(r#"{"id":"answerer"}"#, PORTS),
        &r,
        expect![[r#"
            error[E0008] helper/llm.prompt: required input `llm.prompt` has no edge
              help: connect an edge to it, or mark the port "required": false
            warning[W0101] helper/answer: output `answer` cannot be reached from any input
              help: connect it to the flow that starts at the graph's inputs
            warning[W0102] helper/question: node `question` has no edges
              help: connect it, or remove it
        "#]],
    );
    let d = &validate(&graph(&caller(r#"{"id":"answerer"}"#, PORTS)), &r)[0];
    assert_eq!(d.location.path[0].agent, "answerer");
    assert_eq!(d.location.path[0].node, "helper");
}

#[test]
fn e0023_agents_that_cannot_be_loaded() {
    let mut r = MemoryResolver::default();
    r.insert_broken(
        "answerer",
        ResolveError::Unreadable {
            id: "answerer".into(),
            message: "agents/answerer.json: permission denied".into(),
        },
    );
    check(
        &caller(r#"{"id":"answerer"}"#, PORTS),
        &r,
        expect![[r#"
            error[E0023] helper: agent for `helper` could not be loaded: agent `answerer` could not be read: agents/answerer.json: permission denied
              help: fix the agent's document, or point the node at another agent
        "#]],
    );
}

#[test]
fn a_shared_agent_is_checked_once() {
    let broken = ANSWERER.replace(r#"{"from":"question.value","to":"llm.prompt"},"#, "");
    let r = agents(&[("answerer", &broken)]);
    let twice = caller(r#"{"id":"answerer"}"#, PORTS)
        .replace(r#"{"id":"a","kind""#, r#"{"id":"again","kind":"subgraph","agent":{"id":"answerer"},"inputs":[{"name":"question","type":"text"}]},{"id":"a","kind""#)
        .replace(r#"{"from":"q.value","to":"helper.question"}"#, r#"{"from":"q.value","to":"helper.question"},{"from":"q.value","to":"again.question"}"#);
    let inner: Vec<String> = validate(&graph(&twice), &r)
        .iter()
        .map(|d| d.location.to_string())
        .collect();
    assert_eq!(
        inner,
        ["helper/llm.prompt", "helper/answer", "helper/question"]
    );
}

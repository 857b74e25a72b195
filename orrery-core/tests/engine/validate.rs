//! One snapshot per diagnostic code, plus the guarantee that everything is reported in one pass.

use expect_test::{Expect, expect};
use orrery_core::{Code, GraphLimits, NoAgents, ValidateOptions, validate, validate_with};

use crate::{graph, render};

#[track_caller]
fn check(json: &str, expect: Expect) {
    expect.assert_eq(&render(&validate(&graph(json), &NoAgents)));
}

#[track_caller]
fn check_limited(json: &str, limits: GraphLimits, expect: Expect) {
    let options = ValidateOptions {
        limits,
        ..Default::default()
    };
    expect.assert_eq(&render(&validate_with(&graph(json), &NoAgents, &options)));
}

/// Input `q` (text) to output `a` (text): a minimal valid graph to add problems to.
const QA: &str = r#"{"id":"q","kind":"input","outputs":[{"name":"value","type":"text"}]},
    {"id":"a","kind":"output","inputs":[{"name":"value","type":"text"}]}"#;

fn with(nodes: &str, edges: &str) -> String {
    format!(
        r#"{{"schema":1,"nodes":[{QA}{}{nodes}],"edges":[{{"from":"q.value","to":"a.value"}}{}{edges}]}}"#,
        if nodes.is_empty() { "" } else { "," },
        if edges.is_empty() { "" } else { "," }
    )
}

#[test]
fn a_valid_graph_has_no_diagnostics() {
    check(&with("", ""), expect![""]);
}

#[test]
fn e0001_malformed_node_ids() {
    check(
        &with(
            r#"{"id":"bad id","kind":"note"},{"id":"","kind":"note"},{"id":"a.b","kind":"note"}"#,
            "",
        ),
        expect![[r#"
            error[E0001] bad id: node id `bad id` is invalid: character ' ' is not allowed in an id (use letters, digits, `_` and `-`)
              help: ids are letters, digits, `_` and `-`, like `classify_intent`
            error[E0001] : node id `` is invalid: an id cannot be empty
              help: ids are letters, digits, `_` and `-`, like `classify_intent`
            error[E0001] a.b: node id `a.b` is invalid: character '.' is not allowed in an id (use letters, digits, `_` and `-`)
              help: ids are letters, digits, `_` and `-`, like `classify_intent`
        "#]],
    );
}

#[test]
fn e0002_malformed_port_names() {
    check(
        &with(
            r#"{"id":"t","kind":"tool","inputs":[{"name":"in put","required":false}]}"#,
            "",
        ),
        expect![[r#"
            error[E0002] t.in put: port name `in put` of node `t` is invalid: character ' ' is not allowed in an id (use letters, digits, `_` and `-`)
              help: port names are letters, digits, `_` and `-`, like `question`
            warning[W0102] t: node `t` has no edges
              help: connect it, or remove it
        "#]],
    );
}

#[test]
fn e0003_duplicate_node_ids() {
    check(
        &with(r#"{"id":"q","kind":"note"}"#, ""),
        expect![[r#"
            error[E0003] q: node id `q` is used by nodes[0] and nodes[2]
              help: give every node its own id
        "#]],
    );
}

#[test]
fn e0004_dangling_edges() {
    check(
        r#"{"schema":1,"nodes":[{"id":"a","kind":"input","outputs":[{"name":"out"}]}],"edges":[{"from":"a.out","to":"b.in"}]}"#,
        expect![[r#"
            error[E0004] edges[0]: edge points at unknown node `b`
              help: add a node with id `b`, or correct the edge
            warning[W0104] graph: graph has no output node, so it produces nothing
              help: add an `output` node for each result the workflow returns
        "#]],
    );
}

#[test]
fn e0005_unknown_ports_say_what_exists() {
    check(
        &with(
            r#"{"id":"t","kind":"tool","inputs":[{"name":"x","required":false}],"outputs":[{"name":"y"}]}"#,
            r#"{"from":"q.nope","to":"t.x"},{"from":"t.x","to":"t.y"},{"from":"a.value","to":"t.zz"}"#,
        ),
        expect![[r#"
            error[E0005] edges[1]: node `q` has no output port `nope`
              help: the output ports of `q` are: value
            error[E0005] edges[2]: node `t` has no output port `x`
              help: `x` is an input of `t`: edges leave from output ports
            error[E0005] edges[2]: node `t` has no input port `y`
              help: `y` is an output of `t`: edges arrive at input ports
            error[E0005] edges[3]: node `a` has no output port `value`
              help: `value` is an input of `a`: edges leave from output ports
            error[E0005] edges[3]: node `t` has no input port `zz`
              help: the input ports of `t` are: x
            error[E0010] t: cycle t → t does not pass through a loop node
              help: remove an edge of the cycle, or route the feedback through a `loop` node
        "#]],
    );
}

#[test]
fn e0006_endpoints_without_a_port() {
    check(
        &with("", r#"{"from":"q","to":"a.value.x"}"#),
        expect![[r#"
            error[E0006] edges[1]: edge endpoint `q` is not of the form `node.port`
              help: write endpoints as the node id, a dot and the port name: `classify.text`
            error[E0006] edges[1]: edge endpoint `a.value.x` is not of the form `node.port`
              help: write endpoints as the node id, a dot and the port name: `classify.text`
        "#]],
    );
}

#[test]
fn e0007_incompatible_port_types() {
    check(
        &with(
            r#"{"id":"n","kind":"tool","inputs":[{"name":"x","type":"number"}],"outputs":[{"name":"y","type":"image"}]},
                 {"id":"r","kind":"relay","inputs":[{"name":"v","type":"json"}],"outputs":[{"name":"v","type":"text"}]}"#,
            r#"{"from":"q.value","to":"n.x"},{"from":"n.y","to":"r.v"}"#,
        ),
        expect![[r#"
            error[E0007] r: relay `r` receives json but passes on text
              help: give the relay's two ports compatible types
            error[E0007] edges[1]: `q.value` (text) cannot feed `n.x` (number)
              help: number accepts any, number; convert the value in a step between, or change a port type
            error[E0007] edges[2]: `n.y` (image) cannot feed `r.v` (json)
              help: json accepts any, text, number, boolean, json, messages, document, documents, tool_call; convert the value in a step between, or change a port type
        "#]],
    );
}

#[test]
fn e0008_unconnected_required_inputs() {
    check(
        &with(
            r#"{"id":"t","kind":"tool","inputs":[{"name":"x"},{"name":"opt","required":false}],"outputs":[{"name":"y"}]}"#,
            r#"{"from":"t.y","to":"a.value"}"#,
        ),
        expect![[r#"
            error[E0009] a.value: input `a.value` takes one edge but has 2
              help: remove the extra edges, or mark the port "multiple": true to collect them
            error[E0008] t.x: required input `t.x` has no edge
              help: connect an edge to it, or mark the port "required": false
        "#]],
    );
}

#[test]
fn e0009_fan_in_where_one_edge_is_allowed() {
    check(
        &with(
            r#"{"id":"many","kind":"agent","inputs":[{"name":"x","multiple":true}],"outputs":[{"name":"y"}]}"#,
            r#"{"from":"q.value","to":"many.x"},{"from":"q.value","to":"many.x"},{"from":"many.y","to":"a.value"}"#,
        ),
        expect![[r#"
            warning[W0103] edges[2]: edge q.value -> many.x appears more than once
              help: remove the repeated edge
            error[E0009] a.value: input `a.value` takes one edge but has 2
              help: remove the extra edges, or mark the port "multiple": true to collect them
        "#]],
    );
}

#[test]
fn e0010_cycles_outside_loops_but_not_through_them() {
    let ring = r#"{"id":"x","kind":"agent","inputs":[{"name":"i","multiple":true}],"outputs":[{"name":"o"}]},
                  {"id":"y","kind":"agent","inputs":[{"name":"i"}],"outputs":[{"name":"o"}]},
                  {"id":"z","kind":"agent","inputs":[{"name":"i"}],"outputs":[{"name":"o"}]}"#;
    check(
        &with(
            ring,
            r#"{"from":"q.value","to":"x.i"},{"from":"x.o","to":"y.i"},{"from":"y.o","to":"z.i"},{"from":"z.o","to":"x.i"}"#,
        ),
        expect![[r#"
            error[E0010] x: cycle x → y → z → x does not pass through a loop node
              help: remove an edge of the cycle, or route the feedback through a `loop` node
        "#]],
    );
    let looped = ring.replace(r#""id":"z","kind":"agent""#, r#""id":"z","kind":"loop""#);
    check(
        &with(
            &looped,
            r#"{"from":"q.value","to":"x.i"},{"from":"x.o","to":"y.i"},{"from":"y.o","to":"z.i"},{"from":"z.o","to":"x.i"}"#,
        ),
        expect![""],
    );
}

#[test]
fn e0011_e0012_unknown_kinds_and_types() {
    check(
        &with(
            r#"{"id":"w","kind":"wizard","inputs":[{"name":"x","type":"strng","required":false}]}"#,
            "",
        ),
        expect![[r#"
            error[E0011] w: node `w` has unknown kind `wizard`
              help: use one of: input, output, agent, tool, prompt, router, subgraph, loop, relay, note
            error[E0012] w.x: port `w.x` has unknown type `strng`
              help: use one of: any, text, number, boolean, json, messages, document, documents, embedding, image, audio, tool_call
            warning[W0102] w: node `w` has no edges
              help: connect it, or remove it
        "#]],
    );
}

#[test]
fn e0013_duplicate_port_names() {
    check(
        &with(
            r#"{"id":"t","kind":"tool","outputs":[{"name":"y"},{"name":"y"}],"inputs":[{"name":"y","required":false}]}"#,
            "",
        ),
        expect![[r#"
            error[E0013] t.y: node `t` has two output ports named `y`
              help: give each port of a side its own name
            warning[W0102] t: node `t` has no edges
              help: connect it, or remove it
        "#]],
    );
}

#[test]
fn e0014_agent_references_on_the_wrong_nodes() {
    check(
        &with(
            r#"{"id":"s","kind":"subgraph"},{"id":"t","kind":"tool","agent":{"id":"x"}},{"id":"u","kind":"subgraph","agent":{"id":"no good"}}"#,
            "",
        ),
        expect![[r#"
            error[E0014] s: subgraph node `s` does not say which agent it uses
              help: add "agent": {"id": "…", "version": "latest"} (or a pinned sha256: digest)
            error[E0014] t: tool node `t` has an `agent`, but only subgraph nodes use agents
              help: make it a `subgraph` node, or remove `agent`
            error[E0014] u: node `u` names an invalid agent id: character ' ' is not allowed in an id (use letters, digits, `_` and `-`)
              help: agent ids are single names like `billing_bot`
            warning[W0102] s: node `s` has no edges
              help: connect it, or remove it
            warning[W0102] t: node `t` has no edges
              help: connect it, or remove it
            warning[W0102] u: node `u` has no edges
              help: connect it, or remove it
        "#]],
    );
}

#[test]
fn e0020_graphs_and_nodes_over_the_limits() {
    let limits = GraphLimits {
        max_nodes: 2,
        max_edges: 0,
        max_ports: 1,
        ..Default::default()
    };
    check_limited(
        &with(
            r#"{"id":"t","kind":"tool","inputs":[{"name":"x","required":false}],"outputs":[{"name":"y"}]}"#,
            "",
        ),
        limits,
        expect![[r#"
            error[E0020] graph: graph has 3 nodes, over the limit of 2
              help: split it into custom agents, or move to a plan with a higher limit
            error[E0020] graph: graph has 1 edges, over the limit of 0
              help: split it into custom agents, or move to a plan with a higher limit
            error[E0020] t: node `t` has 2 ports, over the limit of 1
              help: pass structured values (`json`) instead of one port per field
            warning[W0102] t: node `t` has no edges
              help: connect it, or remove it
        "#]],
    );
}

#[test]
fn e0021_node_shapes() {
    check(
        &with(
            r#"{"id":"i2","kind":"input","outputs":[{"name":"a"},{"name":"b"}]},
                 {"id":"o0","kind":"output"},
                 {"id":"n","kind":"note","inputs":[{"name":"x","required":false}]},
                 {"id":"r","kind":"relay","outputs":[{"name":"v"}]}"#,
            "",
        ),
        expect![[r#"
            error[E0021] i2: input node `i2` must have no input ports and exactly one output port (it has 0 inputs and 2 outputs)
              help: input, output and relay nodes carry one value; notes carry none
            error[E0021] o0: output node `o0` must have exactly one input port and no output ports (it has 0 inputs and 0 outputs)
              help: input, output and relay nodes carry one value; notes carry none
            error[E0021] n: note node `n` must have no ports (it has 1 input and 0 outputs)
              help: input, output and relay nodes carry one value; notes carry none
            error[E0021] r: relay node `r` must have exactly one input port and one output port (it has 0 inputs and 1 output)
              help: input, output and relay nodes carry one value; notes carry none
            warning[W0101] o0: output `o0` cannot be reached from any input
              help: connect it to the flow that starts at the graph's inputs
            warning[W0102] i2: node `i2` has no edges
              help: connect it, or remove it
            warning[W0102] o0: node `o0` has no edges
              help: connect it, or remove it
            warning[W0102] r: node `r` has no edges
              help: connect it, or remove it
        "#]],
    );
}

#[test]
fn e0022_namespaced_ids_need_their_groups() {
    let zero = "0".repeat(64);
    check(
        &format!(
            r#"{{"schema":1,"groups":[{{"id":"g","agent":{{"id":"bot","version":"sha256:{zero}"}}}},{{"id":"x/y","agent":{{"id":"bot"}}}},{{"id":"g","agent":{{"id":"bad bot"}}}}],
            "nodes":[{{"id":"g/n","kind":"note"}},{{"id":"h/n","kind":"note"}}]}}"#
        ),
        expect![[r#"
            error[E0022] groups[g]: group `g` is declared twice
              help: declare each group once
            error[E0022] groups[g]: group `g` names an invalid agent id: character ' ' is not allowed in an id (use letters, digits, `_` and `-`)
              help: agent ids are single names like `billing_bot`
            error[E0022] groups[x/y]: group `x/y` is inside `x`, which is not a group
              help: declare group `x` too
            error[E0022] h/n: node `h/n` is namespaced under `h`, which is not a group
              help: `/` in an id marks a node inlined by flatten; rename the node without `/`
        "#]],
    );
}

#[test]
fn w0101_outputs_unreachable_from_inputs() {
    check(
        &with(
            r#"{"id":"p","kind":"prompt","outputs":[{"name":"text","type":"text"}]},
                 {"id":"b","kind":"output","inputs":[{"name":"value","type":"text"}]}"#,
            r#"{"from":"p.text","to":"b.value"}"#,
        ),
        expect![[r#"
            warning[W0101] b: output `b` cannot be reached from any input
              help: connect it to the flow that starts at the graph's inputs
        "#]],
    );
}

#[test]
fn everything_is_reported_in_one_pass() {
    let g = graph(
        r#"{"schema":1,"nodes":[
            {"id":"q","kind":"input","outputs":[{"name":"value","type":"text"}]},
            {"id":"n","kind":"agent","inputs":[{"name":"x","type":"number"}],"outputs":[{"name":"y"}]},
            {"id":"s","kind":"subgraph","agent":{"id":"ghost"},"inputs":[{"name":"x"}]},
            {"id":"q","kind":"wizard"}],
           "edges":[{"from":"q.value","to":"n.x"},{"from":"n.y","to":"missing.x"},{"from":"n.y","to":"s.x"}]}"#,
    );
    let codes: Vec<&str> = validate(&g, &NoAgents)
        .iter()
        .map(|d| d.code.as_str())
        .collect();
    assert_eq!(
        codes,
        [
            "E0003", "E0011", "E0007", "E0004", "W0102", "W0104", "E0015"
        ]
    );
}

#[test]
fn long_ids_and_port_names_are_told_apart_by_their_whole_text() {
    // Validation finds short names by a packed key and long ones (over 15 bytes) by their text;
    // these share their first 15 bytes and more.
    check(
        r#"{"schema":1,"nodes":[
            {"id":"q","kind":"input","outputs":[{"name":"value","type":"text"}]},
            {"id":"summarise_the_thread_1","kind":"agent","inputs":[{"name":"the_incoming_question"}],
             "outputs":[{"name":"the_outgoing_answer_1","type":"text"},{"name":"the_outgoing_answer_2","type":"image"}]},
            {"id":"summarise_the_thread_2","kind":"tool","inputs":[{"name":"x"}],"outputs":[{"name":"y"}]},
            {"id":"summarise_the_thread_1","kind":"note"},
            {"id":"a","kind":"output","inputs":[{"name":"value","type":"text"}]}],
          "edges":[{"from":"q.value","to":"summarise_the_thread_1.the_incoming_question"},
            {"from":"summarise_the_thread_1.the_outgoing_answer_1","to":"a.value"},
            {"from":"summarise_the_thread_1.the_outgoing_answer_3","to":"summarise_the_thread_2.x"},
            {"from":"summarise_the_thread_1.the_outgoing_answer_2","to":"summarise_the_thread_2.x"},
            {"from":"summarise_the_thread_3.y","to":"summarise_the_thread_2.x"},
            {"from":"summarise_the_thread_2.y","to":"a.value_of_the_answer"}]}"#,
        expect![[r#"
            error[E0003] summarise_the_thread_1: node id `summarise_the_thread_1` is used by nodes[1] and nodes[3]
              help: give every node its own id
            error[E0005] edges[2]: node `summarise_the_thread_1` has no output port `the_outgoing_answer_3`
              help: the output ports of `summarise_the_thread_1` are: the_outgoing_answer_1, the_outgoing_answer_2
            error[E0004] edges[4]: edge points at unknown node `summarise_the_thread_3`
              help: add a node with id `summarise_the_thread_3`, or correct the edge
            error[E0005] edges[5]: node `a` has no input port `value_of_the_answer`
              help: the input ports of `a` are: value
        "#]],
    );
}

#[test]
fn each_repeat_of_an_edge_is_reported_in_document_order() {
    // A port that collects many edges, some repeated, between edges with other problems.
    check(
        &with(
            r#"{"id":"t","kind":"tool","inputs":[{"name":"x","type":"json","multiple":true}],"outputs":[{"name":"y"}]},
               {"id":"p","kind":"prompt","outputs":[{"name":"a","type":"text"},{"name":"b","type":"image"},{"name":"c"}]}"#,
            r#"{"from":"p.a","to":"t.x"},{"from":"p.b","to":"t.x"},{"from":"p.c","to":"t.x"},
               {"from":"q.value","to":"t.x"},{"from":"p.a","to":"t.x"},{"from":"p.d","to":"t.x"},
               {"from":"p.b","to":"t.x"},{"from":"p.c","to":"t.x"},{"from":"q.value","to":"t.x"},
               {"from":"p.c","to":"t.x"},{"from":"t.y","to":"a.value"},{"from":"p.a","to":"t.x"}"#,
        ),
        expect![[r#"
            error[E0007] edges[2]: `p.b` (image) cannot feed `t.x` (json)
              help: json accepts any, text, number, boolean, json, messages, document, documents, tool_call; convert the value in a step between, or change a port type
            warning[W0103] edges[5]: edge p.a -> t.x appears more than once
              help: remove the repeated edge
            error[E0005] edges[6]: node `p` has no output port `d`
              help: the output ports of `p` are: a, b, c
            warning[W0103] edges[7]: edge p.b -> t.x appears more than once
              help: remove the repeated edge
            error[E0007] edges[7]: `p.b` (image) cannot feed `t.x` (json)
              help: json accepts any, text, number, boolean, json, messages, document, documents, tool_call; convert the value in a step between, or change a port type
            warning[W0103] edges[8]: edge p.c -> t.x appears more than once
              help: remove the repeated edge
            warning[W0103] edges[9]: edge q.value -> t.x appears more than once
              help: remove the repeated edge
            warning[W0103] edges[10]: edge p.c -> t.x appears more than once
              help: remove the repeated edge
            warning[W0103] edges[12]: edge p.a -> t.x appears more than once
              help: remove the repeated edge
            error[E0009] a.value: input `a.value` takes one edge but has 2
              help: remove the extra edges, or mark the port "multiple": true to collect them
        "#]],
    );
}

#[test]
fn every_code_has_a_title_and_a_severity_matching_its_letter() {
    for code in Code::ALL {
        assert!(!code.title().is_empty());
        let letter = code.as_str().chars().next().unwrap();
        assert_eq!(
            letter == 'E',
            code.severity() == orrery_core::Severity::Error,
            "{code}"
        );
    }
}

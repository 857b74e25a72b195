//! The edge-list format: what parses, and a clear error with a line number for every bad input.

use expect_test::{Expect, expect};
use orrery_render::layout::parse_edge_list;

#[track_caller]
fn check(text: &str, expect: Expect) {
    let actual = match parse_edge_list(text) {
        Ok(graph) => format!("{} nodes, edges {:?}", graph.node_count(), graph.edges()),
        Err(err) => format!("error: {err}"),
    };
    expect.assert_eq(&actual);
}

#[test]
fn pairs_of_ids_make_an_undirected_simple_graph() {
    check(
        "0 1\n1 2\n2 1\n2 2\n",
        expect!["3 nodes, edges [[0, 1], [1, 2]]"],
    );
}

#[test]
fn comments_blank_lines_and_tabs_are_allowed() {
    check(
        "# a comment\n\n0\t1   # trailing comment\n   \n  3 1\n",
        expect!["4 nodes, edges [[0, 1], [1, 3]]"],
    );
}

#[test]
fn a_nodes_header_adds_isolated_nodes() {
    check("# nodes 5\n0 1\n", expect!["5 nodes, edges [[0, 1]]"]);
}

#[test]
fn a_nodes_header_alone_is_a_graph_without_edges() {
    check("# nodes 2\n", expect!["2 nodes, edges []"]);
}

#[test]
fn a_garbage_token_is_an_error_on_its_line() {
    check(
        "0 1\n1 two\n",
        expect!["error: line 2: `two` is not a node id (expected an integer from 0)"],
    );
}

#[test]
fn a_negative_id_is_an_error_on_its_line() {
    check(
        "0 1\n\n-1 0\n",
        expect!["error: line 3: `-1` is not a node id (expected an integer from 0)"],
    );
}

#[test]
fn a_fractional_id_is_an_error() {
    check(
        "1.5 0\n",
        expect!["error: line 1: `1.5` is not a node id (expected an integer from 0)"],
    );
}

#[test]
fn an_id_out_of_the_declared_range_is_an_error() {
    check(
        "# nodes 3\n0 1\n1 3\n",
        expect!["error: line 3: node id 3 is out of range: `# nodes 3` allows ids below 3"],
    );
}

#[test]
fn an_id_too_large_for_any_graph_is_an_error() {
    check(
        "0 123456789012\n",
        expect![
            "error: line 1: node id 123456789012 is too large (a graph has at most 100000000 nodes)"
        ],
    );
}

#[test]
fn a_missing_target_is_an_error() {
    check(
        "0 1\n2\n",
        expect!["error: line 2: expected `src dst`, found only one node id"],
    );
}

#[test]
fn a_third_field_is_an_error() {
    check(
        "0 1 0.5\n",
        expect!["error: line 1: unexpected `0.5` after `src dst`"],
    );
}

#[test]
fn a_malformed_nodes_header_is_an_error() {
    check(
        "# nodes many\n0 1\n",
        expect!["error: line 1: `# nodes` needs a node count, found `many`"],
    );
}

#[test]
fn empty_input_is_an_empty_graph_error() {
    check("", expect!["error: the graph is empty: it has no nodes"]);
}

#[test]
fn only_comments_is_an_empty_graph_error() {
    check(
        "# edges go here\n\n",
        expect!["error: the graph is empty: it has no nodes"],
    );
}

#[test]
fn zero_declared_nodes_is_an_empty_graph_error() {
    check(
        "# nodes 0\n",
        expect!["error: the graph is empty: it has no nodes"],
    );
}

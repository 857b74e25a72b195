//! `orrery layout` and `orrery render` on edge lists and graph documents, and their errors.

use crate::{orrery, root};

#[test]
fn layout_writes_one_line_per_node_and_is_deterministic() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("g.txt");
    std::fs::write(&input, "# nodes 5\n0 1\n1 2\n# a comment\n2 3\n3 4\n4 0\n").unwrap();
    let out_a = dir.path().join("a.txt");
    let out_b = dir.path().join("b.txt");
    for out in [&out_a, &out_b] {
        let run = orrery(&[
            "layout",
            input.to_str().unwrap(),
            "-o",
            out.to_str().unwrap(),
            "--seed",
            "3",
        ]);
        assert_eq!(run.code, 0, "{}", run.stderr);
    }
    let a = std::fs::read_to_string(&out_a).unwrap();
    assert_eq!(a.lines().count(), 5);
    assert!(a.lines().all(|l| {
        l.split_whitespace()
            .filter_map(|v| v.parse::<f32>().ok())
            .count()
            == 3
    }));
    assert_eq!(
        a,
        std::fs::read_to_string(&out_b).unwrap(),
        "same seed, same positions"
    );
    let json = dir.path().join("p.json");
    let run = orrery(&[
        "layout",
        "examples/graphs/planner.json",
        "--agents",
        "examples/graphs/agents",
        "-o",
        json.to_str().unwrap(),
        "--format",
        "json",
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let value: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(
        value["nodes"].as_array().unwrap().len(),
        value["positions"].as_array().unwrap().len()
    );
    assert!(
        value["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n == "research/summarize")
    );
}

#[test]
fn malformed_edge_lists_and_empty_graphs_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.txt");
    for (content, expected) in [
        ("0 1\n1 x\n", "line 2"),
        ("# nodes 2\n0 1\n1 5\n", "line 3"),
        ("", "empty"),
        ("0 -1\n", "line 1"),
    ] {
        let input = dir.path().join("g.txt");
        std::fs::write(&input, content).unwrap();
        let run = orrery(&[
            "layout",
            input.to_str().unwrap(),
            "-o",
            out.to_str().unwrap(),
        ]);
        assert_eq!(run.code, 1, "{content:?}: {}", run.stderr);
        assert!(
            run.stderr.to_lowercase().contains(expected),
            "{content:?}: {}",
            run.stderr
        );
        assert!(!run.stderr.contains("panicked"));
    }
    let run = orrery(&["layout", "no/such/file", "-o", out.to_str().unwrap()]);
    assert_eq!(run.code, 2);
}

#[test]
fn render_writes_a_png() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("planner.png");
    let run = orrery(&[
        "render",
        "examples/graphs/planner.json",
        "--agents",
        "examples/graphs/agents",
        "-o",
        out.to_str().unwrap(),
        "--width",
        "320",
        "--height",
        "200",
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(&std::fs::read(&out).unwrap()[..8], b"\x89PNG\r\n\x1a\n");
    let bad = orrery(&[
        "render",
        "examples/graphs/planner.json",
        "-o",
        out.to_str().unwrap(),
        "--theme",
        "neon",
    ]);
    // A closed set of values: wrong arguments (2), and the message lists the right ones.
    assert_eq!(bad.code, 2);
    assert!(
        bad.stderr.contains("possible values: dark, light"),
        "{}",
        bad.stderr
    );
    let _ = root();
}

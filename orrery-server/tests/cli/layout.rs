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

/// A ring document `n0 … n{size-1}` without the nodes in `skip`, plus `extra` nodes (listed
/// first) joined to the ring nodes they name.
fn ring_document(size: usize, skip: &[usize], extra: &[(&str, &[usize])]) -> String {
    let node = |id: &str| {
        serde_json::json!({"id": id, "kind": "tool",
            "inputs": [{"name": "in", "type": "text", "multiple": true}],
            "outputs": [{"name": "out", "type": "text"}]})
    };
    let ring: Vec<usize> = (0..size).filter(|i| !skip.contains(i)).collect();
    let mut nodes: Vec<_> = extra.iter().map(|(id, _)| node(id)).collect();
    nodes.extend(ring.iter().map(|i| node(&format!("n{i}"))));
    let mut edges: Vec<_> = (0..ring.len())
        .map(|i| {
            let (a, b) = (ring[i], ring[(i + 1) % ring.len()]);
            serde_json::json!({"from": format!("n{a}.out"), "to": format!("n{b}.in")})
        })
        .collect();
    for (id, targets) in extra {
        for t in *targets {
            edges.push(serde_json::json!({"from": format!("n{t}.out"), "to": format!("{id}.in")}));
        }
    }
    serde_json::json!({"schema": 1, "nodes": nodes, "edges": edges}).to_string()
}

/// `orrery layout` with `args`, which must succeed.
fn layout_ok(args: &[&str]) {
    let run = orrery(&[&["layout"], args].concat());
    assert_eq!(run.code, 0, "{args:?}: {}", run.stderr);
}

fn read_txt(path: &str) -> Vec<[f64; 3]> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| {
            let v: Vec<f64> = l.split_whitespace().map(|v| v.parse().unwrap()).collect();
            [v[0], v[1], v[2]]
        })
        .collect()
}

/// Node ids and positions of `--format json` output.
fn read_json(path: &str) -> Vec<(String, [f64; 3])> {
    let value: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let ids = value["nodes"].as_array().unwrap();
    let positions = value["positions"].as_array().unwrap();
    ids.iter()
        .zip(positions)
        .map(|(id, p)| {
            let p: Vec<f64> = p
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_f64().unwrap())
                .collect();
            (id.as_str().unwrap().to_owned(), [p[0], p[1], p[2]])
        })
        .collect()
}

fn dist(a: [f64; 3], b: [f64; 3]) -> f64 {
    (0..3).map(|k| (a[k] - b[k]).powi(2)).sum::<f64>().sqrt()
}

#[test]
fn initial_positions_of_an_edge_list_are_matched_by_index_and_new_nodes_join_their_neighbours() {
    let dir = tempfile::tempdir().unwrap();
    let path = |name: &str| dir.path().join(name).to_str().unwrap().to_owned();
    let ring: String = (0..12).map(|i| format!("{i} {}\n", (i + 1) % 12)).collect();
    std::fs::write(path("old.txt"), &ring).unwrap();
    std::fs::write(path("new.txt"), format!("{ring}12 0\n12 1\n")).unwrap();
    // Edge lists match by index in either output format.
    for format in ["txt", "json"] {
        let before = path(&format!("before.{format}"));
        layout_ok(&[&path("old.txt"), "-o", &before, "--format", format]);
        let after = path(&format!("after-{format}.txt"));
        layout_ok(&[&path("new.txt"), "-o", &after, "--initial", &before]);
        let (old, new) = (read_txt(&path("before.txt")), read_txt(&after));
        assert_eq!(new.len(), 13);
        let edge = (0..12)
            .map(|i| dist(old[i], old[(i + 1) % 12]))
            .sum::<f64>()
            / 12.0;
        let moved = (0..12).map(|i| dist(old[i], new[i])).sum::<f64>() / 12.0;
        assert!(moved < 0.5 * edge, "{format}: moved {moved}, edge {edge}");
        assert!(
            dist(new[12], new[0]) < 3.0 * edge,
            "{format}: new node strayed"
        );
    }
}

#[test]
fn initial_positions_of_a_document_are_matched_by_id() {
    let dir = tempfile::tempdir().unwrap();
    let path = |name: &str| dir.path().join(name).to_str().unwrap().to_owned();
    std::fs::write(path("old.json"), ring_document(12, &[], &[])).unwrap();
    // `n3` is gone and `x` (listed first, so every index shifts) joins `n5` and `n6`.
    std::fs::write(path("new.json"), ring_document(12, &[3], &[("x", &[5, 6])])).unwrap();
    layout_ok(&[
        &path("old.json"),
        "-o",
        &path("before.json"),
        "--format",
        "json",
    ]);
    layout_ok(&[
        &path("new.json"),
        "-o",
        &path("after.json"),
        "--format",
        "json",
        "--initial",
        &path("before.json"),
    ]);
    let before: std::collections::HashMap<String, [f64; 3]> =
        read_json(&path("before.json")).into_iter().collect();
    let after = read_json(&path("after.json"));
    assert_eq!(after.len(), 12);
    let edge = dist(before["n0"], before["n1"]);
    let kept: Vec<f64> = after
        .iter()
        .filter(|(id, _)| id != "x")
        .map(|(id, p)| dist(before[id], *p))
        .collect();
    let moved = kept.iter().sum::<f64>() / kept.len() as f64;
    assert!(moved < 0.5 * edge, "moved {moved}, edge {edge}");
    assert!(dist(after[0].1, before["n5"]) < 3.0 * edge, "x strayed");
}

#[test]
fn bad_initial_positions_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let path = |name: &str| dir.path().join(name).to_str().unwrap().to_owned();
    std::fs::write(path("ring.txt"), "0 1\n1 2\n2 3\n3 0\n").unwrap();
    std::fs::write(path("ring.json"), ring_document(4, &[], &[])).unwrap();
    let cases = [
        ("ring.txt", "0 0 0\n1 x 2\n", "line 2: expected `x y z`"),
        ("ring.txt", "0 0 nan\n", "line 1"),
        ("ring.txt", "1e39 0 0\n", "line 1"),
        ("ring.txt", "0 0 0 0\n", "line 1"),
        (
            "ring.txt",
            &"0 0 0\n".repeat(5),
            "5 positions for a graph of 4 nodes",
        ),
        (
            "ring.txt",
            r#"{"positions": [[0, 0]]}"#,
            "not a positions file",
        ),
        (
            "ring.txt",
            r#"{"positions": [[0, 0, null]]}"#,
            "not a positions file",
        ),
        (
            "ring.txt",
            r#"{"positions": [[1e300, 0, 0]]}"#,
            "position 0 is not a finite",
        ),
        ("ring.txt", r#"{"positions": "#, "not a positions file"),
        (
            "ring.txt",
            r#"{"nodes": ["n0"], "positions": [[0, 0, 0]]}"#,
            "matched by index",
        ),
        (
            "ring.json",
            r#"{"nodes": ["n0", "n1"], "positions": [[0, 0, 0]]}"#,
            "2 node ids for 1",
        ),
        (
            "ring.json",
            r#"{"nodes": ["n0", "n0"], "positions": [[0, 0, 0], [1, 1, 1]]}"#,
            "node `n0` has two positions",
        ),
    ];
    for (graph, content, expected) in cases {
        std::fs::write(path("initial"), content).unwrap();
        let run = orrery(&[
            "layout",
            &path(graph),
            "-o",
            &path("out.txt"),
            "--initial",
            &path("initial"),
        ]);
        assert_eq!(run.code, 1, "{content:?}: {}", run.stderr);
        assert!(run.stderr.contains(expected), "{content:?}: {}", run.stderr);
        assert!(
            run.stderr.contains("initial"),
            "names the file: {}",
            run.stderr
        );
        assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
    }
    let run = orrery(&[
        "layout",
        &path("ring.txt"),
        "-o",
        &path("out.txt"),
        "--initial",
        &path("no-such-file"),
    ]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("cannot open"), "{}", run.stderr);
}

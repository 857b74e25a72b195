//! `orrery validate`, `digest`, `diff` and `flatten` on the example graphs and on bad input.

use std::process::Command;

use serde_json::Value;

use crate::{orrery, root};

const EXAMPLES: &[&str] = &[
    "examples/graphs/support-triage.json",
    "examples/graphs/rag-pipeline.json",
    "examples/graphs/planner.json",
    "examples/graphs/generated-1000.json",
    "examples/graphs/agents/researcher.json",
    "examples/graphs/agents/writer.json",
];

#[test]
fn the_example_graphs_validate_cleanly() {
    let mut args = vec!["validate", "--agents", "examples/graphs/agents"];
    args.extend(EXAMPLES);
    let run = orrery(&args);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert_eq!(
        run.stdout.matches("0 errors, 0 warnings").count(),
        EXAMPLES.len(),
        "{}",
        run.stdout
    );
}

#[test]
fn a_broken_graph_reports_every_problem_with_its_location() {
    let run = orrery(&[
        "validate",
        "examples/graphs/broken/graph.json",
        "--agents",
        "examples/graphs/broken/agents",
    ]);
    assert_eq!(run.code, 1);
    for expected in [
        "error[E0007]: `question.value` (text) cannot feed `count.n` (number)\n  --> examples/graphs/broken/graph.json: edges[0]",
        "error[E0004]: edge points at unknown node `summary`\n  --> examples/graphs/broken/graph.json: edges[3]",
        "error[E0018]: nesting cycle: ping → pong → ping\n  --> examples/graphs/broken/graph.json: ask/ask/ask",
        "examples/graphs/broken/graph.json: 3 errors, 0 warnings",
    ] {
        assert!(
            run.stdout.contains(expected),
            "missing {expected:?} in\n{}",
            run.stdout
        );
    }
}

#[test]
fn json_output_is_an_array_of_diagnostics() {
    let run = orrery(&[
        "validate",
        "--format",
        "json",
        "examples/graphs/broken/graph.json",
        "--agents",
        "examples/graphs/broken/agents",
    ]);
    assert_eq!(run.code, 1);
    let diagnostics: Vec<Value> = serde_json::from_str(&run.stdout).unwrap();
    let codes: Vec<&str> = diagnostics
        .iter()
        .map(|d| d["code"].as_str().unwrap())
        .collect();
    assert_eq!(codes, ["E0007", "E0004", "E0018"]);
    assert_eq!(diagnostics[1]["location"], serde_json::json!({"edge": 3}));
    assert_eq!(diagnostics[1]["severity"], "error");
    assert_eq!(diagnostics[2]["location"]["path"][1]["agent"], "pong");
}

#[test]
fn malformed_json_gets_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, "{\n  \"schema\": 1,\n  \"nodes\": [}\n").unwrap();
    let run = orrery(&["validate", bad.to_str().unwrap()]);
    assert_eq!(run.code, 1);
    assert!(
        run.stdout.contains(&format!(
            "error[E0000]: expected value at line 3, column 13\n  --> {}:3:13",
            bad.display()
        )),
        "{}",
        run.stdout
    );
    let run = orrery(&["validate", "--format", "json", bad.to_str().unwrap()]);
    let report: Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(
        report[0]["location"],
        serde_json::json!({"line": 3, "column": 13})
    );
}

#[test]
fn bad_documents_get_clear_errors_and_nothing_panics() {
    let dir = tempfile::tempdir().unwrap();
    for (content, expected) in [
        (
            r#"{"schema":9,"nodes":[]}"#,
            "schema version 9 is not supported: this version of orrery reads schema 1 (upgrade orrery to read newer documents)",
        ),
        (r#"{"nodes":[]}"#, "missing field `schema`"),
        (
            r#"{"schema":1,"nodes":[{"id":"a","kind":"agent","colour":"red"}]}"#,
            "unknown field `colour`",
        ),
        (
            "[1,2]",
            "a graph document must be a JSON object, found an array",
        ),
        ("", "EOF while parsing a value at line 1, column 0"),
        ("\u{feff}{}", "missing field `schema`"),
        (
            r#"{"schema":1,"nodes":[{"id":"a","kind":"agent","position":[1,2,3,4]}]}"#,
            "invalid length 4",
        ),
    ] {
        let path = dir.path().join("g.json");
        std::fs::write(&path, content).unwrap();
        for command in ["validate", "digest"] {
            let run = orrery(&[command, path.to_str().unwrap()]);
            assert_eq!(
                run.code, 1,
                "{command} {content}: {}{}",
                run.stdout, run.stderr
            );
            assert!(
                format!("{}{}", run.stdout, run.stderr).contains(expected),
                "{command} {content}: {}{}",
                run.stdout,
                run.stderr
            );
            assert!(!run.stderr.contains("panicked"));
        }
    }
}

#[test]
fn oversized_files_are_refused_before_reading() {
    let run = orrery(&[
        "validate",
        "--max-bytes",
        "100",
        "examples/graphs/planner.json",
    ]);
    assert_eq!(run.code, 1);
    assert!(
        run.stdout.contains("over the limit of 100 bytes"),
        "{}",
        run.stdout
    );
}

#[test]
fn missing_files_and_bad_arguments_exit_with_2() {
    let run = orrery(&["validate", "no/such/file.json"]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("cannot open no/such/file.json"),
        "{}",
        run.stderr
    );
    let run = orrery(&[
        "validate",
        "examples/graphs/planner.json",
        "--agents",
        "no/such/dir",
    ]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr
            .contains("cannot read the agents directory no/such/dir"),
        "{}",
        run.stderr
    );
    assert_eq!(orrery(&["validate"]).code, 2);
    assert_eq!(orrery(&["validate", "--format", "yaml", "x.json"]).code, 2);
    assert_eq!(orrery(&["frobnicate"]).code, 2);
}

#[test]
fn the_digest_ignores_key_order_spacing_and_positions() {
    let dir = tempfile::tempdir().unwrap();
    let original =
        std::fs::read_to_string(root().join("examples/graphs/support-triage.json")).unwrap();
    let mut value: Value = serde_json::from_str(&original).unwrap();
    // serde_json's maps sort keys, so writing the value back reorders every object.
    for node in value["nodes"].as_array_mut().unwrap() {
        node["position"] = serde_json::json!([1, 2, 3]);
    }
    let reordered = dir.path().join("reordered.json");
    std::fs::write(&reordered, serde_json::to_string(&value).unwrap()).unwrap();
    let a = orrery(&["digest", "examples/graphs/support-triage.json"]);
    let b = orrery(&["digest", reordered.to_str().unwrap()]);
    assert_eq!(
        a.stdout.split_whitespace().next(),
        b.stdout.split_whitespace().next()
    );
    assert!(a.stdout.starts_with("sha256:"), "{}", a.stdout);
}

#[test]
fn the_reference_implementation_agrees_with_orrery_digest() {
    let dir = tempfile::tempdir().unwrap();
    let tricky = dir.path().join("tricky.json");
    std::fs::write(
        &tricky,
        r#"{"schema":1,"nodes":[{"id":"b","kind":"agent","label":"Ünïcode \"quoted\"\n\t\u0001",
           "config":{"z":1.0,"a":[0.1,1e21,1e-7,-0.0,333333333.33333329,12345678901234567890],"😀":{"\ufb33":null,"é":true}},
           "inputs":[{"name":"y"},{"name":"x","type":"text","required":false,"multiple":true}]},
          {"id":"a","kind":"subgraph","agent":{"id":"bot"}}],
          "edges":[{"from":"b.o","to":"a.x"},{"from":"a.o","to":"b.x"}],
          "groups":[{"id":"g","agent":{"id":"bot","version":"latest"},"label":"G"}]}"#,
    )
    .unwrap();
    let mut files: Vec<String> = super::engine::EXAMPLES
        .iter()
        .map(|f| root().join(f).display().to_string())
        .collect();
    files.push(tricky.display().to_string());
    for file in files {
        let ours = orrery(&["digest", &file]);
        let reference = Command::new("python3")
            .arg(root().join("docs/reference/digest.py"))
            .arg(&file)
            .output()
            .expect("python3 runs");
        assert_eq!(
            ours.stdout,
            String::from_utf8_lossy(&reference.stdout),
            "{file}: {}",
            String::from_utf8_lossy(&reference.stderr)
        );
    }
}

#[test]
fn digest_with_agents_pins_latest_references() {
    let plain = orrery(&["digest", "examples/graphs/planner.json"]);
    let pinned = orrery(&[
        "digest",
        "examples/graphs/planner.json",
        "--agents",
        "examples/graphs/agents",
    ]);
    assert_eq!(pinned.code, 0, "{}", pinned.stderr);
    assert_ne!(
        plain.stdout, pinned.stdout,
        "the writer agent was `latest` and is now pinned"
    );
    let missing = orrery(&[
        "digest",
        "examples/graphs/planner.json",
        "--agents",
        "examples/graphs/broken/agents",
    ]);
    assert_eq!(missing.code, 2);
    assert!(
        missing
            .stderr
            .contains("node `write` uses unknown agent `writer`"),
        "{}",
        missing.stderr
    );
}

#[test]
fn diff_shows_changes_and_exits_like_diff() {
    let same = orrery(&[
        "diff",
        "examples/graphs/planner.json",
        "examples/graphs/planner.json",
    ]);
    assert_eq!(same.code, 0);
    assert!(same.stdout.starts_with("no differences"), "{}", same.stdout);
    let dir = tempfile::tempdir().unwrap();
    let edited = dir.path().join("edited.json");
    let text = std::fs::read_to_string(root().join("examples/graphs/planner.json"))
        .unwrap()
        .replace("\"temperature\": 0.4", "\"temperature\": 0.9");
    std::fs::write(&edited, text).unwrap();
    let changed = orrery(&[
        "diff",
        "examples/graphs/planner.json",
        edited.to_str().unwrap(),
    ]);
    assert_eq!(changed.code, 1);
    assert_eq!(
        changed.stdout,
        "~ node plan: config.temperature 0.4 -> 0.9\n"
    );
    let json = orrery(&[
        "diff",
        "--format",
        "json",
        "examples/graphs/planner.json",
        edited.to_str().unwrap(),
    ]);
    let value: Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(value["changes"][0]["field"], "config.temperature");
}

#[test]
fn flatten_inlines_agents_into_a_valid_graph() {
    let run = orrery(&[
        "flatten",
        "examples/graphs/planner.json",
        "--agents",
        "examples/graphs/agents",
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let flat: Value = serde_json::from_str(&run.stdout).unwrap();
    let ids: Vec<&str> = flat["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["id"].as_str().unwrap())
        .collect();
    assert!(
        ids.contains(&"research/summarize") && ids.contains(&"write/edit"),
        "{ids:?}"
    );
    assert_eq!(flat["groups"].as_array().unwrap().len(), 2);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("flat.json");
    std::fs::write(&path, &run.stdout).unwrap();
    let check = orrery(&["validate", path.to_str().unwrap()]);
    assert_eq!(check.code, 0, "{}", check.stdout);
    let cycle = orrery(&[
        "flatten",
        "examples/graphs/broken/graph.json",
        "--agents",
        "examples/graphs/broken/agents",
    ]);
    assert_eq!(cycle.code, 2);
    assert!(
        cycle.stderr.contains("nesting cycle: ping → pong → ping"),
        "{}",
        cycle.stderr
    );
}

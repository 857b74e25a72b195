//! Inputs that once crashed the `parse_validate` fuzz target, kept in
//! `orrery-core/fuzz/regressions/parse_validate/` (where `scripts/test-all` writes a new crash) and
//! replayed through the target's own checks, so a fixed crash stays fixed.

use std::path::Path;

#[path = "../../fuzz/checks/parse_validate.rs"]
mod parse_validate;

#[test]
fn kept_fuzz_crashes_pass_the_parse_validate_checks() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/regressions/parse_validate");
    let failed = replay(&dir, parse_validate::check);
    assert!(failed.is_empty(), "still failing: {failed:?}");
}

#[test]
fn the_example_graphs_pass_the_parse_validate_checks() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/graphs");
    let failed = replay(&dir, parse_validate::check);
    assert!(failed.is_empty(), "failing: {failed:?}");
}

/// Runs `check` on every file under `dir` (none when it is missing) and names those that panic.
fn replay(dir: &Path, check: fn(&[u8])) -> Vec<String> {
    let mut files = Vec::new();
    collect(dir, &mut files);
    files.sort();
    files
        .iter()
        .filter(|file| {
            let data = std::fs::read(file).unwrap();
            std::panic::catch_unwind(|| check(&data)).is_err()
        })
        .map(|file| file.display().to_string())
        .collect()
}

fn collect(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect(&path, out);
        } else if path.file_name().is_none_or(|n| n != "README.md") {
            out.push(path);
        }
    }
}

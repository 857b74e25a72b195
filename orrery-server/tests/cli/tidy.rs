//! Checks of the source tree itself: module docs, and docs that list what the code has.

use std::path::Path;

use crate::root;

fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name();
        if name == "target" || name == "node_modules" || name.to_string_lossy().starts_with('.') {
            continue;
        }
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn every_rust_file_starts_with_module_docs() {
    let mut files = Vec::new();
    for dir in [
        "orrery-core",
        "orrery-store",
        "orrery-render",
        "orrery-server",
        "orrery-py",
        "benches",
        "examples",
    ] {
        rust_files(&root().join(dir), &mut files);
    }
    assert!(files.len() > 20);
    let missing: Vec<String> = files
        .iter()
        .filter(|f| {
            !std::fs::read_to_string(f)
                .unwrap_or_default()
                .trim_start()
                .starts_with("//!")
        })
        .map(|f| f.strip_prefix(root()).unwrap().display().to_string())
        .collect();
    assert!(
        missing.is_empty(),
        "files without a leading //! comment: {missing:?}"
    );
}

#[test]
fn no_mod_rs_files() {
    let mut files = Vec::new();
    rust_files(&root(), &mut files);
    let mod_rs: Vec<_> = files
        .iter()
        .filter(|f| f.file_name().is_some_and(|n| n == "mod.rs"))
        .collect();
    assert!(mod_rs.is_empty(), "use foo.rs beside foo/: {mod_rs:?}");
}

#[test]
fn docs_list_every_diagnostic_code() {
    let doc = std::fs::read_to_string(root().join("docs/diagnostics.md")).unwrap();
    for code in orrery_core::Code::ALL {
        let row = format!(
            "| {} | {} | {} |",
            code.as_str(),
            if code.as_str().starts_with('E') {
                "error"
            } else {
                "warning"
            },
            code.title()
        );
        assert!(
            doc.contains(&row),
            "docs/diagnostics.md lacks the row for {code}: {row}"
        );
    }
}

//! Tests of the `orrery` binary, run as a process the way users run it.

mod engine;
mod layout;
mod serve;
mod tidy;

use std::path::{Path, PathBuf};
use std::process::Command;

/// The result of one run of `orrery`.
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

/// Runs `orrery` with `args` from the workspace root.
fn orrery(args: &[&str]) -> Run {
    let output = Command::new(env!("CARGO_BIN_EXE_orrery"))
        .args(args)
        .current_dir(root())
        .output()
        .expect("orrery runs");
    Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// The workspace root.
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_owned()
}

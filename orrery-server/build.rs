//! Builds the web console (`console/`, a Vite project) into `$OUT_DIR/console`, which
//! `src/http/console.rs` embeds in the binary.
//!
//! It runs again only when the console's sources, its lockfile or the bundled example graphs
//! change. `npm ci` runs first when `console/node_modules` is missing or older than
//! `package-lock.json`. Without Node.js the build stops and says what to install;
//! `ORRERY_SKIP_CONSOLE=1` builds the server without the console (then `/` says how to get it).

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The oldest Node.js that Vite 8 supports.
const NODE_MIN: (u32, u32) = (20, 19);

fn main() {
    let manifest = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let console = manifest.join("console");
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("set by cargo")).join("console");

    println!("cargo::rerun-if-env-changed=ORRERY_SKIP_CONSOLE");
    for input in [
        "src",
        "public",
        "index.html",
        "docs.html",
        "package.json",
        "package-lock.json",
        "vite.config.ts",
        "tsconfig.json",
    ] {
        println!("cargo::rerun-if-changed={}", console.join(input).display());
    }
    println!(
        "cargo::rerun-if-changed={}",
        manifest.join("../examples/graphs").display()
    );

    let skip = std::env::var("ORRERY_SKIP_CONSOLE").is_ok_and(|v| !v.is_empty() && v != "0");
    if skip || !console.join("package.json").exists() {
        // An empty folder: the server then answers `/` with how to get the console.
        reset(&out);
        if !skip {
            println!("cargo::warning=console/ is missing: building orrery without the web console");
        }
        return;
    }

    check_node();
    if needs_install(&console) {
        run(
            npm().args(["ci", "--no-audit", "--no-fund", "--loglevel=error"]),
            &console,
            "npm ci",
        );
    }
    reset(&out);
    run(
        npm()
            .args(["run", "build", "--", "--logLevel", "warn"])
            .env("ORRERY_CONSOLE_OUT", &out),
        &console,
        "npm run build",
    );
    if !out.join("index.html").exists() {
        fail("the console's build wrote no index.html");
    }
}

fn npm() -> Command {
    let mut cmd = Command::new(if cfg!(windows) { "npm.cmd" } else { "npm" });
    // Browsers for the end-to-end tests are the system's; never download one while building.
    cmd.env("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1");
    cmd
}

/// `node_modules` is missing, or older than the lockfile (npm writes
/// `node_modules/.package-lock.json` on every install).
fn needs_install(console: &Path) -> bool {
    let modified = |p: &Path| fs::metadata(p).and_then(|m| m.modified()).ok();
    let installed = modified(&console.join("node_modules/.package-lock.json"));
    let locked = modified(&console.join("package-lock.json"));
    match (installed, locked) {
        (Some(installed), Some(locked)) => installed < locked,
        _ => true,
    }
}

fn check_node() {
    let version = Command::new("node")
        .arg("--version")
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned());
    let Some(version) = version else {
        fail("Node.js was not found");
    };
    let mut parts = version
        .trim_start_matches('v')
        .split('.')
        .map(|p| p.parse::<u32>().unwrap_or(0));
    let found = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    if found < NODE_MIN {
        fail(&format!("Node.js {version} is too old"));
    }
}

fn run(cmd: &mut Command, dir: &Path, what: &str) {
    let status = cmd.current_dir(dir).status();
    match status {
        Ok(s) if s.success() => {}
        Ok(s) => fail(&format!("`{what}` in {} failed ({s})", dir.display())),
        Err(e) => fail(&format!("`{what}` could not start ({e})")),
    }
}

fn reset(dir: &Path) {
    let _ = fs::remove_dir_all(dir);
    fs::create_dir_all(dir)
        .unwrap_or_else(|e| fail(&format!("cannot create {}: {e}", dir.display())));
}

fn fail(why: &str) -> ! {
    eprintln!(
        "\nerror: building orrery's web console: {why}.\n\n\
         The console (orrery-server/console) needs Node.js {}.{} or later with npm:\n\
         on Debian or Ubuntu `apt-get install nodejs npm` (if that Node is too old, use\n\
         https://nodejs.org or nvm), then build again.\n\
         To build the server without the web console, set ORRERY_SKIP_CONSOLE=1.\n",
        NODE_MIN.0, NODE_MIN.1
    );
    std::process::exit(1);
}

//! `orrery serve` and `orrery admin` as processes: start on a free port, answer, stop cleanly
//! on SIGTERM; bootstrap an admin; refuse bad configuration.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::Duration;

fn orrery_in(dir: &std::path::Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_orrery"));
    cmd.current_dir(dir)
        .env("ORRERY_ARGON2_MEMORY_KIB", "64")
        .env("ORRERY_ARGON2_ITERATIONS", "1")
        .env_remove("ORRERY_DATABASE_URL");
    cmd
}

fn http_get(address: &str, path: &str) -> String {
    let mut stream = TcpStream::connect(address).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    response
}

#[test]
fn serve_starts_on_embedded_sqlite_answers_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = orrery_in(dir.path())
        .args(["serve", "--bind", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let address = line
        .split("http://")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .expect("it prints where it listens")
        .to_owned();
    assert!(http_get(&address, "/healthz").starts_with("HTTP/1.1 200"));
    assert!(http_get(&address, "/readyz").contains("\"database\":true"));
    assert!(
        dir.path().join(".orrery/orrery.db").exists(),
        "the SQLite file is in the data directory"
    );
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = child.wait().unwrap();
    assert!(exit.success(), "a clean exit after SIGTERM: {exit:?}");
}

#[test]
fn admin_create_user_bootstraps_an_admin_once() {
    let dir = tempfile::tempdir().unwrap();
    let run = |password: &str| {
        let mut child = orrery_in(dir.path())
            .args([
                "admin",
                "create-user",
                "--email",
                "root@example.com",
                "--role",
                "admin",
                "--password-stdin",
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(password.as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    };
    let short = run("short\n");
    assert_eq!(short.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&short.stderr).contains("8 to 256 characters"),
        "{}",
        String::from_utf8_lossy(&short.stderr)
    );
    let created = run("a very good password\n");
    assert!(
        created.status.success(),
        "{}",
        String::from_utf8_lossy(&created.stderr)
    );
    assert!(String::from_utf8_lossy(&created.stdout).starts_with("created admin root@example.com"));
    let again = run("a very good password\n");
    assert_eq!(again.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&again.stderr).contains("already exists"),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
    let generated = orrery_in(dir.path())
        .args(["admin", "create-user", "--email", "ops@example.com"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&generated.stdout).contains("password (shown once): "));
    // The sign-up rules hold here too: the same code path.
    for (email, complaint) in [
        ("nobody@localhost", "name@example.com"),
        ("r\u{200b}oot@example.com", "invisible"),
        ("\u{0430}dmin@example.com", "scripts"),
    ] {
        let refused = orrery_in(dir.path())
            .args(["admin", "create-user", "--email", email])
            .output()
            .unwrap();
        assert_eq!(refused.status.code(), Some(2), "{email}");
        assert!(
            String::from_utf8_lossy(&refused.stderr).contains(complaint),
            "{email}: {}",
            String::from_utf8_lossy(&refused.stderr)
        );
    }
    // Full-width letters are the same address as the ASCII ones.
    let twin = orrery_in(dir.path())
        .args(["admin", "create-user", "--email", "ｏｐｓ@example.com"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&twin.stderr).contains("already exists"));
}

#[test]
fn bad_configuration_is_refused_naming_the_setting() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("orrery.toml"),
        "bind = \"not an address\"\n",
    )
    .unwrap();
    let out = orrery_in(dir.path()).args(["serve"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("bind"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = orrery_in(dir.path())
        .args(["serve", "--config", "missing.toml"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let out = orrery_in(dir.path())
        .env("ORRERY_DATABASE_URL", "mysql://nope")
        .args(["serve", "--config", "/dev/null"])
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("database_url"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Starts `orrery serve` in `dir` on a free port; returns the process and its address.
fn start_server(dir: &std::path::Path) -> (std::process::Child, String) {
    let mut child = orrery_in(dir)
        .args(["serve", "--bind", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let address = line
        .split("http://")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .expect("it prints where it listens")
        .to_owned();
    (child, address)
}

fn stop_server(mut child: std::process::Child) {
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    assert!(child.wait().unwrap().success());
}

fn http_post_json(address: &str, path: &str, body: &str) -> String {
    let mut stream = TcpStream::connect(address).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    write!(
        stream,
        "POST {path} HTTP/1.1\r\nHost: {address}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    response
}

fn sign_up(address: &str, email: &str) {
    let reply = http_post_json(
        address,
        "/api/auth/signup",
        &format!(r#"{{"email":"{email}","password":"a good password","name":"Backup"}}"#),
    );
    assert!(reply.starts_with("HTTP/1.1 201"), "{reply}");
}

#[cfg(unix)]
fn mode(path: &std::path::Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

#[cfg(unix)]
#[test]
fn the_data_directory_database_and_generated_secret_are_private() {
    let dir = tempfile::tempdir().unwrap();
    let (child, address) = start_server(dir.path());
    sign_up(&address, "private@example.com");
    let data = dir.path().join(".orrery");
    assert_eq!(mode(&data), 0o700, "the data directory");
    for file in ["orrery.db", "orrery.db-wal", "orrery.db-shm", "jwt-secret"] {
        assert_eq!(mode(&data.join(file)), 0o600, "{file}");
    }
    stop_server(child);
}

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

/// Every table's rows, one line a row, for comparing databases.
fn rows(url: &str) -> std::collections::BTreeMap<String, Vec<String>> {
    use sqlx::{Column, Row};
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let pool = sqlx::SqlitePool::connect(url).await.unwrap();
        let check: String = sqlx::query_scalar("pragma integrity_check")
            .fetch_one(&pool)
            .await
            .unwrap();
        assert_eq!(check, "ok", "{url}");
        let tables: Vec<String> = sqlx::query_scalar(
            "select name from sqlite_master where type = 'table' and name not like 'sqlite_%'",
        )
        .fetch_all(&pool)
        .await
        .unwrap();
        let mut all = std::collections::BTreeMap::new();
        for table in tables {
            let found = sqlx::query(sqlx::AssertSqlSafe(format!(
                "select * from \"{table}\" order by rowid"
            )))
            .fetch_all(&pool)
            .await
            .unwrap_or_default();
            let lines = found
                .iter()
                .map(|row| {
                    (0..row.columns().len())
                        .map(|i| {
                            let value = match row.try_get_unchecked::<Option<String>, _>(i) {
                                Ok(text) => format!("{text:?}"),
                                Err(_) => format!("{:?}", row.try_get_unchecked::<Vec<u8>, _>(i)),
                            };
                            format!("{}={value}", row.column(i).name())
                        })
                        .collect::<Vec<_>>()
                        .join(" ")
                })
                .collect();
            all.insert(table, lines);
        }
        pool.close().await;
        all
    })
}

#[test]
fn admin_backup_copies_every_row_while_the_server_runs() {
    let dir = tempfile::tempdir().unwrap();
    let (child, address) = start_server(dir.path());
    for n in 0..5 {
        sign_up(&address, &format!("before-{n}@example.com"));
    }
    let db = dir.path().join(".orrery/orrery.db");
    let before = rows(&format!("sqlite://{}?mode=ro", db.display()));
    assert!(before["users"].len() >= 5);
    // The server holds its connections open (and may write) while the copy is made.
    let out = dir.path().join("backup.db");
    let backup = orrery_in(dir.path())
        .args(["admin", "backup", "--out", "backup.db"])
        .output()
        .unwrap();
    assert!(
        backup.status.success(),
        "{}",
        String::from_utf8_lossy(&backup.stderr)
    );
    assert!(String::from_utf8_lossy(&backup.stdout).contains("backed up to backup.db"));
    sign_up(&address, "after@example.com");
    // A second backup to the same file is refused rather than overwriting the first.
    let again = orrery_in(dir.path())
        .args(["admin", "backup", "--out", "backup.db"])
        .output()
        .unwrap();
    assert_eq!(again.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&again.stderr).contains("exists already"));
    stop_server(child);
    #[cfg(unix)]
    assert_eq!(mode(&out), 0o600);
    // Restoring is opening the copy: every row written before the backup is in it, as it was.
    let copy = rows(&format!("sqlite://{}?mode=ro", out.display()));
    for (table, lines) in &before {
        let copied = &copy[table];
        for line in lines {
            // Rows may have changed since (a mail marked sent); users and their sign-up
            // events may not.
            if ["users", "events"].contains(&table.as_str()) {
                assert!(copied.contains(line), "{table}: {line} is missing");
            }
        }
        assert!(copied.len() >= lines.len(), "{table} lost rows");
    }
    assert!(
        copy["users"]
            .iter()
            .any(|l| l.contains("before-4@example.com"))
    );
    assert!(
        !copy["users"]
            .iter()
            .any(|l| l.contains("after@example.com"))
    );
    // And the server runs on the restored copy.
    let restored = tempfile::tempdir().unwrap();
    std::fs::create_dir(restored.path().join(".orrery")).unwrap();
    std::fs::copy(&out, restored.path().join(".orrery/orrery.db")).unwrap();
    std::fs::copy(
        dir.path().join(".orrery/jwt-secret"),
        restored.path().join(".orrery/jwt-secret"),
    )
    .unwrap();
    let (child, address) = start_server(restored.path());
    let taken = http_post_json(
        &address,
        "/api/auth/signin",
        r#"{"email":"before-3@example.com","password":"a good password"}"#,
    );
    assert!(taken.starts_with("HTTP/1.1 200"), "{taken}");
    stop_server(child);
}

/// Runs `sql` on the SQLite database at `db` (read-write, beside a running server).
fn sqlite_exec(db: &std::path::Path, sql: &str) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let options: sqlx::sqlite::SqliteConnectOptions =
            format!("sqlite://{}?mode=rw", db.display())
                .parse()
                .unwrap();
        let pool = sqlx::sqlite::SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options.busy_timeout(Duration::from_secs(10)))
            .await
            .unwrap();
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_owned()))
            .execute(&pool)
            .await
            .unwrap();
        pool.close().await;
    });
}

#[test]
fn admin_prune_rolls_old_usage_up_and_removes_spent_records_while_the_server_runs() {
    let dir = tempfile::tempdir().unwrap();
    let (child, address) = start_server(dir.path());
    sign_up(&address, "ada@example.com");
    let db = dir.path().join(".orrery/orrery.db");
    // Three calls on 2020-01-01 and one on the 2nd (integer microseconds), and a refresh token
    // that expired then; all older than any retention age.
    let day = 1_577_836_800_000_000i64;
    let mut sql = String::new();
    for at in [
        day,
        day + 1_000_000,
        day + 3_600_000_000,
        day + 86_400_000_000,
    ] {
        sql += &format!(
            "insert into api_key_usage (user_id, api_key_id, endpoint, method, status, at, \
             duration_ms) select id, null, '/api/graphs', 'GET', 200, {at}, 7 from users;"
        );
    }
    sql += &format!(
        "insert into refresh_tokens (token_hash, family, user_id, expires_at, created_at) \
         select x'00', x'01', id, {day}, {day} from users;"
    );
    sqlite_exec(&db, &sql);
    let prune = orrery_in(dir.path())
        .args(["admin", "prune"])
        .output()
        .unwrap();
    assert!(
        prune.status.success(),
        "{}",
        String::from_utf8_lossy(&prune.stderr)
    );
    let out = String::from_utf8_lossy(&prune.stdout);
    assert!(out.contains("usage_records      4 removed"), "{out}");
    assert!(out.contains("spent_tokens       1 removed"), "{out}");
    let left = rows(&format!("sqlite://{}?mode=ro", db.display()));
    assert!(
        !left["api_key_usage"]
            .iter()
            .any(|r| r.contains("at=Some(\"1577"))
    );
    let daily = &left["usage_daily"];
    assert_eq!(daily.len(), 2, "{daily:?}");
    assert!(
        daily
            .iter()
            .any(|r| r.contains("day=Some(\"18262\")") && r.contains("api_calls=Some(\"3\")"))
    );
    assert!(
        !left["refresh_tokens"]
            .iter()
            .any(|r| r.contains("expires_at=Some(\"1577"))
    );
    // The server goes on (its own sign-in token is fresh, so it stays).
    sign_up(&address, "bob@example.com");
    stop_server(child);
    // A retention setting that would weaken a guarantee is refused, saying why.
    let refused = orrery_in(dir.path())
        .env("ORRERY_RETENTION_MAIL_DAYS", "5")
        .args(["admin", "prune"])
        .output()
        .unwrap();
    assert_eq!(refused.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("retention_mail_days"));
}

#[test]
fn admin_backup_of_postgresql_points_at_pg_dump() {
    let dir = tempfile::tempdir().unwrap();
    let out = orrery_in(dir.path())
        .env(
            "ORRERY_DATABASE_URL",
            "postgres://orrery@127.0.0.1:1/orrery",
        )
        .args(["admin", "backup", "--out", "backup.sql"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("pg_dump"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!dir.path().join("backup.sql").exists());
}

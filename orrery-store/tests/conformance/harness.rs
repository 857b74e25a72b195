//! Where each case's database comes from: SQLite in a temporary directory, or a fresh database
//! on the PostgreSQL server at `ORRERY_TEST_POSTGRES_URL` (which `scripts/test-all` starts).
//! When `CI` is set and no PostgreSQL is given, the PostgreSQL cases fail: a backend is never
//! skipped silently.

use std::str::FromStr;

use orrery_store::{Backend, Store, StoreOptions};
use sqlx::ConnectOptions as _;
use sqlx::postgres::PgConnectOptions;

/// One case's database: the store under test, and a way to look under it.
#[derive(Debug)]
pub struct TestDb {
    /// The store under test.
    pub store: Store,
    url: String,
    /// The database to drop at the end (PostgreSQL), with the server's admin URL.
    drop: Option<(String, String)>,
    _dir: Option<tempfile::TempDir>,
}

/// A bare connection beside the store, for what no trait method shows (raw rows, triggers).
#[derive(Debug)]
pub enum Raw {
    /// SQLite.
    Sqlite(sqlx::SqlitePool),
    /// PostgreSQL.
    Postgres(sqlx::PgPool),
}

pub async fn sqlite() -> TestDb {
    let dir = tempfile::tempdir().expect("temporary directory");
    let url = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("orrery.db").display()
    );
    let store = Store::connect(&url, StoreOptions::default())
        .await
        .expect("sqlite store opens");
    TestDb {
        store,
        url,
        drop: None,
        _dir: Some(dir),
    }
}

pub async fn postgres() -> Option<TestDb> {
    let Ok(admin_url) = std::env::var("ORRERY_TEST_POSTGRES_URL") else {
        if std::env::var_os("CI").is_some() {
            panic!(
                "CI is set but ORRERY_TEST_POSTGRES_URL is not: the PostgreSQL conformance cases \
                 cannot run (scripts/test-all starts a server and sets it)"
            );
        }
        warn_once_about_skipping();
        return None;
    };
    let name = format!("orrery_test_{}", uuid::Uuid::now_v7().simple());
    let admin = PgConnectOptions::from_str(&admin_url).expect("ORRERY_TEST_POSTGRES_URL parses");
    let mut conn = admin.connect().await.expect("postgres server answers");
    sqlx::query(sqlx::AssertSqlSafe(format!("create database {name}")))
        .execute(&mut conn)
        .await
        .expect("test database is created");
    drop(conn);
    let url = with_database(&admin_url, &name);
    let store = Store::connect(&url, StoreOptions::default())
        .await
        .expect("postgres store opens");
    Some(TestDb {
        store,
        url,
        drop: Some((admin_url, name)),
        _dir: None,
    })
}

impl TestDb {
    /// Which backend the case runs on.
    pub fn backend(&self) -> Backend {
        self.store.backend()
    }

    /// Another store on the same database, with other options.
    pub async fn reopen(&self, options: StoreOptions) -> Store {
        Store::connect(&self.url, options)
            .await
            .expect("store reopens")
    }

    /// A bare connection pool to the same database.
    pub async fn raw(&self) -> Raw {
        match self.backend() {
            Backend::Sqlite => Raw::Sqlite(sqlx::SqlitePool::connect(&self.url).await.unwrap()),
            _ => Raw::Postgres(sqlx::PgPool::connect(&self.url).await.unwrap()),
        }
    }

    /// Drops the case's PostgreSQL database (the SQLite directory goes with `self`). A case that
    /// panicked leaves its database to the throwaway server.
    pub async fn finish(self) {
        self.store.close().await;
        if let Some((admin_url, name)) = self.drop {
            let admin = PgConnectOptions::from_str(&admin_url).unwrap();
            if let Ok(mut conn) = admin.connect().await {
                let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
                    "drop database if exists {name} with (force)"
                )))
                .execute(&mut conn)
                .await;
            }
        }
    }
}

impl Raw {
    /// Runs a statement, in the dialect of the backend.
    pub async fn execute(&self, sqlite: &str, postgres: &str) {
        match self {
            Raw::Sqlite(pool) => {
                sqlx::raw_sql(sqlx::AssertSqlSafe(sqlite.to_owned()))
                    .execute(pool)
                    .await
                    .unwrap();
            }
            Raw::Postgres(pool) => {
                sqlx::raw_sql(sqlx::AssertSqlSafe(postgres.to_owned()))
                    .execute(pool)
                    .await
                    .unwrap();
            }
        }
    }

    /// A count (`select count(*) …`, same text on both backends).
    pub async fn count(&self, sql: &str) -> i64 {
        match self {
            Raw::Sqlite(pool) => sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_owned()))
                .fetch_one(pool)
                .await
                .unwrap(),
            Raw::Postgres(pool) => sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_owned()))
                .fetch_one(pool)
                .await
                .unwrap(),
        }
    }

    /// Every text and blob cell of a table, as bytes (to look for secrets).
    pub async fn dump(&self, table: &str) -> Vec<u8> {
        let sql = match self {
            Raw::Sqlite(_) => format!("select * from {table}"),
            Raw::Postgres(_) => format!("select t::text from {table} t"),
        };
        let mut out = Vec::new();
        match self {
            Raw::Sqlite(pool) => {
                use sqlx::{Row, ValueRef};
                let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
                    .fetch_all(pool)
                    .await
                    .unwrap();
                for row in rows {
                    for i in 0..row.len() {
                        let raw = row.try_get_raw(i).unwrap();
                        if raw.is_null() {
                            continue;
                        }
                        if let Ok(bytes) = row.try_get_unchecked::<Vec<u8>, _>(i) {
                            out.extend(bytes);
                        }
                        out.push(b'|');
                    }
                }
            }
            Raw::Postgres(pool) => {
                let rows: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
                    .fetch_all(pool)
                    .await
                    .unwrap();
                for row in rows {
                    out.extend(row.into_bytes());
                    out.push(b'\n');
                }
            }
        }
        out
    }
}

/// Says once per run, past the test harness's output capture, that PostgreSQL was skipped.
fn warn_once_about_skipping() {
    static WARNED: std::sync::Once = std::sync::Once::new();
    WARNED.call_once(|| {
        use std::io::Write as _;
        let _ = writeln!(
            std::io::stderr(),
            "\n!!! the PostgreSQL conformance cases are SKIPPED: ORRERY_TEST_POSTGRES_URL is \
             not set (scripts/test-all starts a server; or point it at one where you may create \
             databases). They pass without checking anything. !!!\n"
        );
    });
}

/// `url` with its database name replaced by `name`.
fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let after_scheme = base.find("://").map_or(0, |i| i + 3);
    let base = match base[after_scheme..].find('/') {
        Some(slash) => &base[..after_scheme + slash],
        None => base,
    };
    match query {
        Some(query) => format!("{base}/{name}?{query}"),
        None => format!("{base}/{name}"),
    }
}

//! Where each case's store comes from: SQLite in a temporary directory, a fresh database on
//! the PostgreSQL server at `ORRERY_TEST_POSTGRES_URL` (which `scripts/test-all` starts), or a
//! [`MemoryStore`] — made by `orrery_store::testing`, as the server's API tests make theirs.
//! Cases see the store as an [`AnyStore`] trait object, as the server will. When `CI` is set
//! and no PostgreSQL is given, the PostgreSQL cases fail: a backend is never skipped silently.

use std::sync::Arc;

use orrery_store::testing;
use orrery_store::{Backend, MemoryStore, Store, StoreOptions};

/// Every storage trait plus the backend's own methods: the trait the server holds.
pub use orrery_store::Storage as AnyStore;

/// One case's store, and a way to look under it.
pub struct TestDb {
    /// The store under test.
    pub store: Arc<dyn AnyStore>,
    source: Source,
}

/// Where a case's data lives.
enum Source {
    Sqlite {
        url: String,
        _dir: tempfile::TempDir,
    },
    /// The database to drop at the end, with the server's admin URL.
    Postgres {
        url: String,
        admin_url: String,
        name: String,
    },
    Memory(MemoryStore),
}

/// A look under the store, for what no trait method shows (raw rows, triggers).
#[derive(Debug)]
pub enum Raw {
    /// SQLite.
    Sqlite(sqlx::SqlitePool),
    /// PostgreSQL.
    Postgres(sqlx::PgPool),
    /// The memory store: its records counted per table ([`MemoryStore::row_counts`]).
    Memory(MemoryStore),
}

/// Runs `case` on a fresh store of `backend`, then drops its database.
pub async fn run<F>(backend: Backend, case: F)
where
    F: for<'a> AsyncFnOnce(&'a TestDb),
{
    let db = match backend {
        Backend::Sqlite => sqlite().await,
        Backend::Postgres => postgres().await.expect("a PostgreSQL server"),
        _ => memory().await,
    };
    case(&db).await;
    db.finish().await;
}

pub async fn sqlite() -> TestDb {
    let dir = tempfile::tempdir().expect("temporary directory");
    let url = testing::sqlite_url(dir.path());
    let store = Store::connect(&url, StoreOptions::default())
        .await
        .expect("sqlite store opens");
    TestDb {
        store: Arc::new(store),
        source: Source::Sqlite { url, _dir: dir },
    }
}

pub async fn postgres() -> Option<TestDb> {
    let admin_url = testing::postgres_server()?;
    let (url, name) = testing::create_postgres_database(&admin_url, "orrery_test").await;
    let store = Store::connect(&url, StoreOptions::default())
        .await
        .expect("postgres store opens");
    Some(TestDb {
        store: Arc::new(store),
        source: Source::Postgres {
            url,
            admin_url,
            name,
        },
    })
}

pub async fn memory() -> TestDb {
    let store = MemoryStore::new(StoreOptions::default());
    TestDb {
        store: Arc::new(store.clone()),
        source: Source::Memory(store),
    }
}

impl TestDb {
    /// Which backend the case runs on.
    pub fn backend(&self) -> Backend {
        self.store.backend()
    }

    /// Another store on the same data, with other options.
    pub async fn reopen(&self, options: StoreOptions) -> Arc<dyn AnyStore> {
        match &self.source {
            Source::Sqlite { url, .. } | Source::Postgres { url, .. } => {
                Arc::new(Store::connect(url, options).await.expect("store reopens"))
            }
            Source::Memory(store) => Arc::new(store.with_options(options)),
        }
    }

    /// A look under the store: a bare connection pool to the same database, or the memory
    /// store's counts.
    pub async fn raw(&self) -> Raw {
        match &self.source {
            Source::Sqlite { url, .. } => {
                Raw::Sqlite(sqlx::SqlitePool::connect(url).await.unwrap())
            }
            Source::Postgres { url, .. } => {
                Raw::Postgres(sqlx::PgPool::connect(url).await.unwrap())
            }
            Source::Memory(store) => Raw::Memory(store.clone()),
        }
    }

    /// Drops the case's PostgreSQL database (the SQLite directory goes with `self`). A case that
    /// panicked leaves its database to the throwaway server.
    pub async fn finish(self) {
        self.store.close().await;
        if let Source::Postgres {
            admin_url, name, ..
        } = self.source
        {
            testing::drop_postgres_database(&admin_url, &name).await;
        }
    }
}

impl Raw {
    /// Runs a statement, in the dialect of the backend (SQL backends only).
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
            Raw::Memory(_) => panic!("the memory store runs no SQL"),
        }
    }

    /// A count (`select count(*) from <table>`, same text on both SQL backends; the memory
    /// store counts the records standing for the table).
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
            Raw::Memory(store) => {
                let table = sql
                    .strip_prefix("select count(*) from ")
                    .expect("the memory store counts whole tables only");
                let counts = store.row_counts();
                let n = counts
                    .get(table)
                    .unwrap_or_else(|| panic!("no table {table}"));
                i64::try_from(*n).unwrap()
            }
        }
    }

    /// Every text and blob cell of a table, as bytes (to look for secrets; SQL backends
    /// only).
    pub async fn dump(&self, table: &str) -> Vec<u8> {
        let sql = match self {
            Raw::Sqlite(_) => format!("select * from {table}"),
            Raw::Postgres(_) => format!("select t::text from {table} t"),
            Raw::Memory(_) => panic!("the memory store has no tables to dump"),
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
            Raw::Memory(_) => unreachable!("refused above"),
        }
        out
    }
}

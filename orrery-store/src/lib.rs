//! Persistence for Orrery: the `orrery-core` storage traits implemented over SQLite (the embedded
//! default) and PostgreSQL, with sqlx. Start with [`Store::connect`]: the URL picks the backend
//! (`sqlite://path?mode=rwc`, `sqlite::memory:`, `postgres://…`), the embedded migrations are
//! applied, and the [`Store`] implements every trait of [`orrery_core::store`].
//! [`MemoryStore`] implements them too, with the same semantics and no database (for tests and
//! embedders).
//!
//! Invariants:
//! - callers only see the storage traits and [`StoreError`]; no SQL text or sqlx type leaks out
//!   (causes are logged with `tracing` and boxed in [`StoreError::Backend`], or in
//!   [`StoreError::Unavailable`] when the database is out of reach for a moment);
//! - every backend behaves the same: one conformance suite (`tests/conformance`) runs every
//!   case on SQLite, PostgreSQL and the memory store;
//! - a saved document becomes an immutable version in the same transaction as the head update,
//!   and an update from a stale version is a `Conflict`, never a lost update;
//! - every call that reaches one account's private rows takes that account's id, and "not
//!   yours" is the same `NotFound` as "not there";
//! - secrets (API keys, refresh and reset tokens) are stored as hashes only.

#![warn(missing_docs)]

mod db;
mod email;
mod events;
mod export;
mod graphs;
mod keys;
mod limits;
mod memory;
mod pack;
mod retention;
mod subscriptions;
pub mod testing;
mod tokens;
mod usage;
mod users;

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

pub use orrery_core::store::{StoreError, StoreResult};

pub use crate::memory::MemoryStore;

use crate::db::{Pool, map_err};

/// How to connect, and the limits the store enforces on what it is given.
#[derive(Clone, Debug)]
pub struct StoreOptions {
    /// Connections in the pool (SQLite in memory always uses one: each connection would
    /// otherwise see its own database).
    pub max_connections: u32,
    /// How long a call waits for a free connection before failing.
    pub acquire_timeout: Duration,
    /// How long a SQLite writer waits for another writer before failing.
    pub busy_timeout: Duration,
    /// The largest graph document accepted, in bytes of compact JSON.
    pub max_document_bytes: usize,
}

impl Default for StoreOptions {
    fn default() -> StoreOptions {
        StoreOptions {
            max_connections: 16,
            acquire_timeout: Duration::from_secs(10),
            busy_timeout: Duration::from_secs(10),
            max_document_bytes: 32 << 20,
        }
    }
}

/// Which database a [`Store`] runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Backend {
    /// SQLite, embedded.
    Sqlite,
    /// PostgreSQL.
    Postgres,
    /// No database: [`MemoryStore`].
    Memory,
    /// A backend of an embedding application, by its name.
    Other(&'static str),
}

impl Backend {
    /// The backend's name (`sqlite`, `postgres`).
    pub fn as_str(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
            Backend::Memory => "memory",
            Backend::Other(name) => name,
        }
    }
}

/// The store: one pool over SQLite or PostgreSQL, implementing every storage trait of
/// `orrery-core`. Cheap to clone (the pool is shared).
#[derive(Clone, Debug)]
pub struct Store {
    pool: Pool,
    options: StoreOptions,
    /// SQLite files: the task that checkpoints the WAL, stopped when the last clone goes.
    _checkpointer: Option<Arc<db::Checkpointer>>,
}

impl Store {
    /// Connects to `url` and applies the migrations that have not run yet.
    ///
    /// SQLite runs in WAL mode with foreign keys on, `synchronous = normal` and a busy timeout;
    /// a file is created when the URL says `mode=rwc`.
    #[tracing::instrument(skip_all, fields(backend))]
    pub async fn connect(url: &str, options: StoreOptions) -> StoreResult<Store> {
        let store = if url.starts_with("sqlite:") {
            tracing::Span::current().record("backend", "sqlite");
            let connect = SqliteConnectOptions::from_str(url)
                .map_err(|e| StoreError::Invalid(format!("bad sqlite url: {e}")))?
                .foreign_keys(true)
                .busy_timeout(options.busy_timeout)
                .synchronous(SqliteSynchronous::Normal);
            let in_memory = url.contains(":memory:") || url.contains("mode=memory");
            if !in_memory && url.contains("mode=rwc") {
                // SQLite would create the file readable by everyone (0644); the WAL and shared
                // memory files it makes beside it take the database file's mode.
                create_private_file(connect.get_filename()).map_err(|e| {
                    StoreError::Invalid(format!(
                        "cannot create the database file {}: {e}",
                        connect.get_filename().display()
                    ))
                })?;
            }
            let pools = if in_memory {
                // One connection that never closes: the database lives as long as it does.
                let pool = SqlitePoolOptions::new()
                    .max_connections(1)
                    .min_connections(1)
                    .idle_timeout(None)
                    .max_lifetime(None)
                    .acquire_timeout(options.acquire_timeout)
                    .connect_with(connect)
                    .await
                    .map_err(map_err)?;
                db::SqlitePools {
                    read: pool.clone(),
                    write: pool,
                }
            } else {
                // Checkpoints run in the background (`db::Checkpointer`), not inside whichever
                // commit crosses the WAL's size threshold: that commit's request stalled for
                // the copy and its fsync (the write tail in BENCHMARKS.md).
                let connect = connect
                    .journal_mode(SqliteJournalMode::Wal)
                    .pragma("wal_autocheckpoint", "0");
                // The writer first: it creates the file and switches it to WAL before readers
                // open it.
                let write = SqlitePoolOptions::new()
                    .max_connections(1)
                    .acquire_timeout(options.acquire_timeout)
                    .connect_with(connect.clone())
                    .await
                    .map_err(map_err)?;
                let read = SqlitePoolOptions::new()
                    .max_connections(options.max_connections.max(1))
                    .acquire_timeout(options.acquire_timeout)
                    .connect_with(connect)
                    .await
                    .map_err(map_err)?;
                db::SqlitePools { read, write }
            };
            let checkpointer =
                (!in_memory).then(|| Arc::new(db::Checkpointer::start(pools.read.clone())));
            Store {
                pool: Pool::Sqlite(pools),
                options,
                _checkpointer: checkpointer,
            }
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            tracing::Span::current().record("backend", "postgres");
            let connect = PgConnectOptions::from_str(url)
                .map_err(|e| StoreError::Invalid(format!("bad postgres url: {e}")))?;
            let pool = PgPoolOptions::new()
                .max_connections(options.max_connections.max(1))
                .acquire_timeout(options.acquire_timeout)
                .connect_with(connect)
                .await
                .map_err(map_err)?;
            Store {
                pool: Pool::Postgres(pool),
                options,
                _checkpointer: None,
            }
        } else {
            return Err(StoreError::Invalid(
                "database url must start with sqlite: or postgres:".to_owned(),
            ));
        };
        store.migrate().await?;
        Ok(store)
    }

    /// Which database this store runs on.
    pub fn backend(&self) -> Backend {
        match self.pool {
            Pool::Sqlite(_) => Backend::Sqlite,
            Pool::Postgres(_) => Backend::Postgres,
        }
    }

    /// The options the store was opened with.
    pub fn options(&self) -> &StoreOptions {
        &self.options
    }

    /// Checks that the database answers (for readiness probes).
    #[tracing::instrument(skip_all)]
    pub async fn ping(&self) -> StoreResult<()> {
        db::with_db!(self, |db, pg| {
            sqlx::query("select 1").execute(db).await.map_err(map_err)?;
        });
        Ok(())
    }

    /// Writes a consistent copy of the whole database to the new file `path` while the store
    /// stays in use (`VACUUM INTO`: one read transaction, so writers carry on and the copy is a
    /// snapshot, compacted). The file is created with mode 0600 and must not exist yet.
    /// SQLite only: a PostgreSQL database is backed up with `pg_dump`.
    #[tracing::instrument(skip_all, fields(path = %path.display()))]
    pub async fn backup_to(&self, path: &std::path::Path) -> StoreResult<()> {
        let Pool::Sqlite(db::SqlitePools { read: pool, .. }) = &self.pool else {
            return Err(StoreError::Invalid(
                "backups of PostgreSQL are made with pg_dump (see the README), not by orrery"
                    .to_owned(),
            ));
        };
        let Some(target) = path.to_str() else {
            return Err(StoreError::Invalid(format!(
                "the backup path {} is not UTF-8",
                path.display()
            )));
        };
        // VACUUM INTO accepts an empty file: creating it first gives it its mode and refuses to
        // overwrite an earlier backup.
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode_private()
            .open(path)
            .map_err(|e| {
                StoreError::Invalid(format!("cannot create the backup {}: {e}", path.display()))
            })?;
        let copied = sqlx::query("vacuum into ?")
            .bind(target)
            .execute(pool)
            .await
            .map_err(map_err);
        if copied.is_err() {
            let _ = std::fs::remove_file(path);
        }
        copied.map(|_| ())
    }

    /// Closes every connection; calls after this fail.
    pub async fn close(&self) {
        match &self.pool {
            Pool::Sqlite(pools) => {
                pools.write.close().await;
                pools.read.close().await;
            }
            Pool::Postgres(pool) => pool.close().await,
        }
    }

    /// Applies the embedded migrations that have not run yet (`connect` does this).
    #[tracing::instrument(skip_all)]
    pub async fn migrate(&self) -> StoreResult<()> {
        let result = match &self.pool {
            Pool::Sqlite(pools) => migrator(SQLITE_MIGRATIONS).run(&pools.write).await,
            Pool::Postgres(pool) => migrator(POSTGRES_MIGRATIONS).run(pool).await,
        };
        result.map_err(|e| {
            tracing::error!(error = %e, "migrations failed");
            StoreError::Backend(Box::new(e))
        })
    }
}

/// Creates `path` empty with mode 0600 unless it exists (an existing file keeps its mode).
fn create_private_file(path: &std::path::Path) -> std::io::Result<()> {
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode_private()
        .open(path)
    {
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        other => other.map(drop),
    }
}

/// Files only their owner can read and write, where the platform has modes.
trait PrivateMode {
    fn mode_private(&mut self) -> &mut Self;
}

impl PrivateMode for std::fs::OpenOptions {
    fn mode_private(&mut self) -> &mut Self {
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            self.mode(0o600);
        }
        self
    }
}

/// A whole store: every storage trait of `orrery-core`, plus what operators and tests need of
/// the backend. [`Store`] and [`MemoryStore`] implement it; the server holds an
/// `Arc<dyn Storage>`, so an embedding application can bring its own backend.
#[async_trait::async_trait]
pub trait Storage:
    orrery_core::store::UserStore
    + orrery_core::store::GraphStore
    + orrery_core::store::ApiKeyStore
    + orrery_core::store::TokenStore
    + orrery_core::store::SubscriptionStore
    + orrery_core::store::UsageStore
    + orrery_core::store::MonitoringStore
    + orrery_core::store::EmailTemplateStore
    + orrery_core::store::EmailOutbox
    + orrery_core::store::RetentionStore
    + Send
    + Sync
    + 'static
{
    /// Which backend it runs on.
    fn backend(&self) -> Backend;
    /// Checks that the backend answers (readiness probes, health).
    async fn ping(&self) -> StoreResult<()>;
    /// Applies pending migrations.
    async fn migrate(&self) -> StoreResult<()>;
    /// Closes its connections; calls after this fail.
    async fn close(&self);
}

/// Implements [`Storage`] for a store type by calling its inherent methods.
macro_rules! storage {
    ($($store:ty),*) => {$(
        #[async_trait::async_trait]
        impl Storage for $store {
            fn backend(&self) -> Backend {
                <$store>::backend(self)
            }

            async fn ping(&self) -> StoreResult<()> {
                <$store>::ping(self).await
            }

            async fn migrate(&self) -> StoreResult<()> {
                <$store>::migrate(self).await
            }

            async fn close(&self) {
                <$store>::close(self).await
            }
        }
    )*};
}
storage!(Store, MemoryStore);

impl std::fmt::Debug for dyn Storage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Storage({})", self.backend().as_str())
    }
}

/// One embedded migration: version, description, SQL.
type Embedded = (i64, &'static str, &'static str);

/// The migrations of each backend, embedded in the binary. A landed migration is never edited;
/// add the next file and list it here (a test checks that the lists match the folders).
const SQLITE_MIGRATIONS: &[Embedded] = &[
    (
        1,
        "initial",
        include_str!("../migrations/sqlite/0001_initial.sql"),
    ),
    (
        2,
        "signin_throttled_mail",
        include_str!("../migrations/sqlite/0002_signin_throttled_mail.sql"),
    ),
    (
        3,
        "graph_revisions_and_packed_versions",
        include_str!("../migrations/sqlite/0003_graph_revisions_and_packed_versions.sql"),
    ),
    (
        4,
        "user_theme_and_updated_at",
        include_str!("../migrations/sqlite/0004_user_theme_and_updated_at.sql"),
    ),
    (
        5,
        "email_change_and_account_deletion",
        include_str!("../migrations/sqlite/0005_email_change_and_account_deletion.sql"),
    ),
    (
        6,
        "email_template_switch",
        include_str!("../migrations/sqlite/0006_email_template_switch.sql"),
    ),
    (
        7,
        "retention",
        include_str!("../migrations/sqlite/0007_retention.sql"),
    ),
];
const POSTGRES_MIGRATIONS: &[Embedded] = &[
    (
        1,
        "initial",
        include_str!("../migrations/postgres/0001_initial.sql"),
    ),
    (
        2,
        "signin_throttled_mail",
        include_str!("../migrations/postgres/0002_signin_throttled_mail.sql"),
    ),
    (
        3,
        "graph_revisions_and_packed_versions",
        include_str!("../migrations/postgres/0003_graph_revisions_and_packed_versions.sql"),
    ),
    (
        4,
        "user_theme_and_updated_at",
        include_str!("../migrations/postgres/0004_user_theme_and_updated_at.sql"),
    ),
    (
        5,
        "email_change_and_account_deletion",
        include_str!("../migrations/postgres/0005_email_change_and_account_deletion.sql"),
    ),
    (
        6,
        "email_template_switch",
        include_str!("../migrations/postgres/0006_email_template_switch.sql"),
    ),
    (
        7,
        "retention",
        include_str!("../migrations/postgres/0007_retention.sql"),
    ),
];

fn migrator(embedded: &'static [Embedded]) -> Migrator {
    Migrator::with_migrations(
        embedded
            .iter()
            .map(|&(version, description, sql)| {
                Migration::new(
                    version,
                    description.into(),
                    MigrationType::Simple,
                    sqlx::SqlSafeStr::into_sql_str(sql),
                    false,
                )
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Commits leave their pages in the WAL (no commit checkpoints); the background
    /// checkpointer copies them into the database file within a second.
    #[tokio::test]
    async fn the_wal_is_checkpointed_in_the_background_not_by_commits() {
        use orrery_core::store::{NewUser, Role, UserStore};
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("orrery.db");
        let store = Store::connect(
            &format!("sqlite://{}?mode=rwc", file.display()),
            StoreOptions::default(),
        )
        .await
        .unwrap();
        // Let the first checkpoint (at start) pass, then write.
        tokio::time::sleep(Duration::from_millis(100)).await;
        let size = || std::fs::metadata(&file).unwrap().len();
        let before = size();
        for n in 0..600 {
            store
                .create_user(NewUser {
                    email: format!("user{n}@example.com"),
                    name: "x".repeat(100),
                    password_hash: None,
                    google_sub: Some(format!("g{n}")),
                    role: Role::User,
                    plan: orrery_core::Plan::Free,
                    trial_ends_at: None,
                })
                .await
                .unwrap();
        }
        let wal = dir.path().join("orrery.db-wal");
        assert!(std::fs::metadata(&wal).unwrap().len() > 100_000);
        let mut copied = false;
        for _ in 0..30 {
            tokio::time::sleep(Duration::from_millis(100)).await;
            if size() > before + 100_000 {
                copied = true;
                break;
            }
        }
        assert!(copied, "the database file stayed at {} bytes", size());
        store.close().await;
    }

    /// Every file in `migrations/<backend>` is embedded, in order, under its own number.
    #[test]
    fn embedded_migrations_match_the_folders() {
        for (dir, embedded) in [
            ("sqlite", SQLITE_MIGRATIONS),
            ("postgres", POSTGRES_MIGRATIONS),
        ] {
            let path = format!("{}/migrations/{dir}", env!("CARGO_MANIFEST_DIR"));
            let mut files: Vec<String> = std::fs::read_dir(&path)
                .unwrap()
                .map(|e| e.unwrap().file_name().into_string().unwrap())
                .collect();
            files.sort();
            let listed: Vec<String> = embedded
                .iter()
                .map(|(v, d, _)| format!("{v:04}_{d}.sql"))
                .collect();
            assert_eq!(files, listed, "migrations/{dir}");
            for ((_, _, sql), file) in embedded.iter().zip(&files) {
                let on_disk = std::fs::read_to_string(format!("{path}/{file}")).unwrap();
                assert_eq!(*sql, on_disk, "{file}");
            }
        }
    }
}

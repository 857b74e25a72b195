//! The plumbing under every store method: the two pools, the macro that writes a method body
//! once for both backends, the column types that differ between them (timestamps, JSON), write
//! transactions, and the mapping of sqlx errors to [`StoreError`].

use orrery_core::store::{Constraint, Entity, StoreError};
use sqlx::encode::IsNull;
use sqlx::error::BoxDynError;
use sqlx::postgres::{PgArgumentBuffer, PgTypeInfo, PgValueFormat, PgValueRef};
use sqlx::sqlite::{SqliteArgumentsBuffer, SqliteTypeInfo, SqliteValueRef};
use sqlx::{Decode, Encode, PgPool, Postgres, Sqlite, SqlitePool, Transaction, Type};
use time::OffsetDateTime;

/// The pool of one backend.
#[derive(Clone, Debug)]
pub(crate) enum Pool {
    Sqlite(SqlitePools),
    Postgres(PgPool),
}

/// SQLite's connections: readers, and one writer. SQLite lets one connection write at a time;
/// queueing writers on one connection in-process (sqlx's pool hands it out first come, first
/// served) replaces the busy handler's sleep-and-retry, whose waits grew the write tail to
/// hundreds of milliseconds under load. Readers never wait for it (WAL). The busy timeout
/// still covers writers in other processes (the CLI beside a running server).
#[derive(Clone, Debug)]
pub(crate) struct SqlitePools {
    pub(crate) read: SqlitePool,
    pub(crate) write: SqlitePool,
}

/// Checkpoints an SQLite database's WAL in the background, every [`Checkpointer::EVERY`], on a
/// reader connection: a passive checkpoint copies committed pages into the database file
/// beside running readers and writers, and the next writer restarts the WAL once everything is
/// copied. Connections are opened with `wal_autocheckpoint = 0`, so no commit pays for a
/// checkpoint; the last connection to close checkpoints once more and removes the WAL. The task
/// ends when the last clone of the store is dropped, or the pool closes.
#[derive(Debug)]
pub(crate) struct Checkpointer(tokio::task::JoinHandle<()>);

impl Checkpointer {
    const EVERY: std::time::Duration = std::time::Duration::from_millis(500);

    pub(crate) fn start(pool: SqlitePool) -> Checkpointer {
        Checkpointer(tokio::spawn(async move {
            let mut tick = tokio::time::interval(Self::EVERY);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                if pool.is_closed() {
                    return;
                }
                // (busy, pages in the WAL, pages copied); busy is normal under load.
                match sqlx::query_as::<_, (i64, i64, i64)>("pragma wal_checkpoint(passive)")
                    .fetch_one(&pool)
                    .await
                {
                    Ok((_, log, copied)) if log > 100_000 => {
                        tracing::warn!(
                            log,
                            copied,
                            "the SQLite WAL is large: long-running reads keep the checkpoint from finishing"
                        );
                    }
                    Ok(_) => {}
                    Err(e) if pool.is_closed() => {
                        tracing::debug!(error = %e, "checkpointer stopping");
                        return;
                    }
                    Err(e) => tracing::warn!(error = %e, "checkpointing the SQLite WAL failed"),
                }
            }
        }))
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Runs `$body` with `$db` bound to the pool of the store's backend and `$pg` to whether it
/// is PostgreSQL. The body is compiled once per backend, so it is plain monomorphic sqlx code
/// (no generic bounds); SQL that differs between the dialects picks its text with `$pg`.
/// On SQLite `$db` is the readers' pool: bodies that write use [`with_writer!`].
macro_rules! with_db {
    ($store:expr, |$db:ident, $pg:ident| $body:expr) => {
        $crate::db::on_pool!($store, read, |$db, $pg| $body)
    };
}

/// [`with_db!`] for bodies that write: on SQLite `$db` is the writer connection (see
/// [`SqlitePools`]). A write through [`with_db!`] still works (SQLite's busy handler
/// serialises it), only slower.
macro_rules! with_writer {
    ($store:expr, |$db:ident, $pg:ident| $body:expr) => {
        $crate::db::on_pool!($store, write, |$db, $pg| $body)
    };
}

/// The body of [`with_db!`] and [`with_writer!`]: `$side` names the SQLite pool.
macro_rules! on_pool {
    ($store:expr, $side:ident, |$db:ident, $pg:ident| $body:expr) => {
        match &$store.pool {
            $crate::db::Pool::Sqlite(pools) => {
                let $db = &pools.$side;
                #[allow(unused_variables)]
                let $pg = false;
                $body
            }
            $crate::db::Pool::Postgres($db) => {
                #[allow(unused_variables)]
                let $pg = true;
                $body
            }
        }
    };
}
pub(crate) use on_pool;
pub(crate) use with_db;
pub(crate) use with_writer;

/// Declares a row struct and its `FromRow` for both backends (the derive needs sqlx's macros,
/// which this crate does without).
macro_rules! row {
    ($(#[$meta:meta])* struct $name:ident { $($field:ident: $ty:ty),* $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug)]
        pub(crate) struct $name {
            $(pub(crate) $field: $ty),*
        }

        impl<'r> sqlx::FromRow<'r, sqlx::sqlite::SqliteRow> for $name {
            fn from_row(row: &'r sqlx::sqlite::SqliteRow) -> Result<Self, sqlx::Error> {
                use sqlx::Row as _;
                Ok($name { $($field: row.try_get(stringify!($field))?),* })
            }
        }

        impl<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow> for $name {
            fn from_row(row: &'r sqlx::postgres::PgRow) -> Result<Self, sqlx::Error> {
                use sqlx::Row as _;
                Ok($name { $($field: row.try_get(stringify!($field))?),* })
            }
        }
    };
}
pub(crate) use row;

/// Starts a transaction that will write.
pub(crate) trait BeginWrite {
    type Db: sqlx::Database;
    async fn begin_write(&self) -> Result<Transaction<'static, Self::Db>, sqlx::Error>;
}

impl BeginWrite for SqlitePool {
    type Db = Sqlite;

    async fn begin_write(&self) -> Result<Transaction<'static, Sqlite>, sqlx::Error> {
        // A deferred transaction that reads first cannot always upgrade to a writer under WAL
        // (SQLITE_BUSY_SNAPSHOT, which no busy timeout retries); taking the write lock up front
        // queues writers on the busy timeout instead.
        self.begin_with("begin immediate").await
    }
}

impl BeginWrite for PgPool {
    type Db = Postgres;

    async fn begin_write(&self) -> Result<Transaction<'static, Postgres>, sqlx::Error> {
        self.begin().await
    }
}

/// Takes the owner's lock inside the write transaction `$tx` before a quota is counted: the
/// users row `for update` on PostgreSQL (SQLite's `begin immediate` already holds the one write
/// lock). Concurrent creates of one owner queue here, so each counts what the others inserted.
/// Returns `NotFound(Entity::User)` from the enclosing function when the owner does not exist.
macro_rules! lock_owner {
    ($tx:ident, $pg:ident, $owner:expr) => {{
        let sql = if $pg {
            "select 1 from users where id = $1 for update"
        } else {
            "select 1 from users where id = $1"
        };
        let found: Option<i32> = sqlx::query_scalar(sql)
            .bind($owner)
            .fetch_optional(&mut *$tx)
            .await
            .db()?;
        if found.is_none() {
            return Err(orrery_core::store::StoreError::NotFound(
                orrery_core::store::Entity::User,
            ));
        }
    }};
}
pub(crate) use lock_owner;

/// A point in time as the database holds it: `timestamptz` on PostgreSQL, integer microseconds
/// since the Unix epoch on SQLite (sqlx would write RFC 3339 text there, whose sort order is
/// not the time order when fractions of seconds are trimmed). Both keep microseconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Ts(pub(crate) OffsetDateTime);

impl Ts {
    /// `at` in UTC, truncated to the microsecond, as both backends store it.
    pub(crate) fn new(at: OffsetDateTime) -> Ts {
        let at = at.to_offset(time::UtcOffset::UTC);
        let micros = at.nanosecond() / 1_000 * 1_000;
        Ts(at.replace_nanosecond(micros).unwrap_or(at))
    }

    pub(crate) fn now() -> Ts {
        Ts::new(OffsetDateTime::now_utc())
    }

    pub(crate) fn micros(self) -> i64 {
        // Every date `time` can hold fits in i64 microseconds (±9999 years).
        (self.0.unix_timestamp_nanos() / 1_000) as i64
    }

    pub(crate) fn from_micros(micros: i64) -> Result<Ts, time::error::ComponentRange> {
        OffsetDateTime::from_unix_timestamp_nanos(i128::from(micros) * 1_000).map(Ts)
    }
}

impl From<Ts> for OffsetDateTime {
    fn from(ts: Ts) -> OffsetDateTime {
        ts.0
    }
}

impl Type<Sqlite> for Ts {
    fn type_info() -> SqliteTypeInfo {
        <i64 as Type<Sqlite>>::type_info()
    }

    fn compatible(ty: &SqliteTypeInfo) -> bool {
        <i64 as Type<Sqlite>>::compatible(ty)
    }
}

impl Encode<'_, Sqlite> for Ts {
    fn encode_by_ref(&self, buf: &mut SqliteArgumentsBuffer) -> Result<IsNull, BoxDynError> {
        <i64 as Encode<'_, Sqlite>>::encode(self.micros(), buf)
    }
}

impl<'r> Decode<'r, Sqlite> for Ts {
    fn decode(value: SqliteValueRef<'r>) -> Result<Ts, BoxDynError> {
        let micros = <i64 as Decode<'r, Sqlite>>::decode(value)?;
        Ok(Ts::from_micros(micros)?)
    }
}

impl Type<Postgres> for Ts {
    fn type_info() -> PgTypeInfo {
        <OffsetDateTime as Type<Postgres>>::type_info()
    }

    fn compatible(ty: &PgTypeInfo) -> bool {
        <OffsetDateTime as Type<Postgres>>::compatible(ty)
    }
}

impl Encode<'_, Postgres> for Ts {
    fn encode_by_ref(&self, buf: &mut PgArgumentBuffer) -> Result<IsNull, BoxDynError> {
        <OffsetDateTime as Encode<'_, Postgres>>::encode_by_ref(&self.0, buf)
    }
}

impl<'r> Decode<'r, Postgres> for Ts {
    fn decode(value: PgValueRef<'r>) -> Result<Ts, BoxDynError> {
        Ok(Ts::new(<OffsetDateTime as Decode<'r, Postgres>>::decode(
            value,
        )?))
    }
}

/// JSON text in a `jsonb` column on PostgreSQL and a `text` column on SQLite, passed through
/// as text both ways: no `serde_json::Value` is built on the way in or out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct JsonText(pub(crate) String);

impl Type<Sqlite> for JsonText {
    fn type_info() -> SqliteTypeInfo {
        <String as Type<Sqlite>>::type_info()
    }

    fn compatible(ty: &SqliteTypeInfo) -> bool {
        <String as Type<Sqlite>>::compatible(ty)
    }
}

impl Encode<'_, Sqlite> for JsonText {
    fn encode_by_ref(&self, buf: &mut SqliteArgumentsBuffer) -> Result<IsNull, BoxDynError> {
        <String as Encode<'_, Sqlite>>::encode_by_ref(&self.0, buf)
    }
}

impl<'r> Decode<'r, Sqlite> for JsonText {
    fn decode(value: SqliteValueRef<'r>) -> Result<JsonText, BoxDynError> {
        Ok(JsonText(<String as Decode<'r, Sqlite>>::decode(value)?))
    }
}

/// Borrowed JSON text to bind where [`JsonText`] is read: no copy of a large document.
#[derive(Clone, Copy, Debug)]
pub(crate) struct JsonStr<'a>(pub(crate) &'a str);

impl Type<Sqlite> for JsonStr<'_> {
    fn type_info() -> SqliteTypeInfo {
        <String as Type<Sqlite>>::type_info()
    }
}

impl<'a> Encode<'a, Sqlite> for JsonStr<'a> {
    fn encode_by_ref(&self, buf: &mut SqliteArgumentsBuffer) -> Result<IsNull, BoxDynError> {
        <&str as Encode<'a, Sqlite>>::encode_by_ref(&self.0, buf)
    }
}

impl Type<Postgres> for JsonStr<'_> {
    fn type_info() -> PgTypeInfo {
        <JsonText as Type<Postgres>>::type_info()
    }
}

impl Encode<'_, Postgres> for JsonStr<'_> {
    fn encode_by_ref(&self, buf: &mut PgArgumentBuffer) -> Result<IsNull, BoxDynError> {
        // The binary jsonb format is a version byte (1) and the JSON text.
        buf.push(1);
        buf.extend_from_slice(self.0.as_bytes());
        Ok(IsNull::No)
    }
}

impl Type<Postgres> for JsonText {
    fn type_info() -> PgTypeInfo {
        PgTypeInfo::with_name("jsonb")
    }

    fn compatible(ty: &PgTypeInfo) -> bool {
        *ty == PgTypeInfo::with_name("jsonb") || *ty == PgTypeInfo::with_name("json")
    }
}

impl Encode<'_, Postgres> for JsonText {
    fn encode_by_ref(&self, buf: &mut PgArgumentBuffer) -> Result<IsNull, BoxDynError> {
        // The binary jsonb format is a version byte (1) and the JSON text.
        buf.push(1);
        buf.extend_from_slice(self.0.as_bytes());
        Ok(IsNull::No)
    }
}

impl<'r> Decode<'r, Postgres> for JsonText {
    fn decode(value: PgValueRef<'r>) -> Result<JsonText, BoxDynError> {
        let is_jsonb = *sqlx::ValueRef::type_info(&value) == PgTypeInfo::with_name("jsonb");
        let mut bytes = value.as_bytes()?;
        if value.format() == PgValueFormat::Binary && is_jsonb {
            match bytes.split_first() {
                Some((1, rest)) => bytes = rest,
                _ => return Err("unsupported jsonb format version".into()),
            }
        }
        Ok(JsonText(std::str::from_utf8(bytes)?.to_owned()))
    }
}

/// What each unique constraint protects, for the `Conflict` it becomes. PostgreSQL names the
/// constraint; SQLite names the columns (`UNIQUE constraint failed: users.email`).
const UNIQUE: &[(&str, &str, Constraint)] = &[
    ("users_email_key", "users.email", Constraint::Email),
    (
        "users_google_sub_key",
        "users.google_sub",
        Constraint::GoogleAccount,
    ),
    (
        "users_billing_customer_id_key",
        "users.billing_customer_id",
        Constraint::BillingCustomer,
    ),
    (
        "graphs_owner_name_key",
        "graphs.owner_id, graphs.name",
        Constraint::GraphName,
    ),
    (
        "graphs_agent_id_key",
        "graphs.agent_id",
        Constraint::AgentId,
    ),
    (
        "graph_versions_pkey",
        "graph_versions.graph_id, graph_versions.seq",
        Constraint::GraphVersion,
    ),
    (
        "api_keys_key_hash_key",
        "api_keys.key_hash",
        Constraint::ApiKey,
    ),
    (
        "refresh_tokens_pkey",
        "refresh_tokens.token_hash",
        Constraint::RefreshToken,
    ),
    (
        "password_reset_tokens_pkey",
        "password_reset_tokens.token_hash",
        Constraint::PasswordResetToken,
    ),
    (
        "email_change_tokens_pkey",
        "email_change_tokens.token_hash",
        Constraint::EmailChangeToken,
    ),
    (
        "subscriptions_subscription_id_key",
        "subscriptions.subscription_id",
        Constraint::Subscription,
    ),
    (
        "email_outbox_dedupe_key_key",
        "email_outbox.dedupe_key",
        Constraint::OutboxEmail,
    ),
    (
        "email_templates_pkey",
        "email_templates.name",
        Constraint::EmailTemplate,
    ),
];

/// Maps a sqlx error to what callers may see: a database out of reach for a moment becomes
/// `Unavailable` (see [`is_unavailable`]), unique violations `Conflict` (named by constraint), a
/// missing referenced row `NotFound`, text PostgreSQL cannot hold `Invalid`; anything else is
/// logged here and returned as `Backend`, its SQL text never shown.
pub(crate) fn map_err(error: sqlx::Error) -> StoreError {
    if is_unavailable(&error) {
        if matches!(error, sqlx::Error::PoolTimedOut) {
            tracing::warn!("no database connection became free in time");
        } else {
            tracing::warn!(error = %error, "the database is unavailable");
        }
        return StoreError::Unavailable(Box::new(error));
    }
    if let sqlx::Error::Database(db) = &error {
        match db.kind() {
            sqlx::error::ErrorKind::UniqueViolation => {
                let constraint = db.constraint().map(str::to_owned);
                let message = db.message();
                let label = UNIQUE
                    .iter()
                    .find(|(pg, sqlite, _)| {
                        constraint.as_deref() == Some(*pg)
                            || message.ends_with(&format!("failed: {sqlite}"))
                    })
                    .map_or(Constraint::Other, |(_, _, label)| *label);
                return StoreError::Conflict(label);
            }
            sqlx::error::ErrorKind::ForeignKeyViolation => {
                return StoreError::NotFound(Entity::ReferencedRow);
            }
            _ => {}
        }
        // 22021: invalid byte sequence (a NUL in text); 22P05: untranslatable character (a
        // `\u0000` in jsonb). PostgreSQL refuses both, so both backends refuse them earlier;
        // this is the backstop.
        if matches!(db.code().as_deref(), Some("22021" | "22P05")) {
            return StoreError::Invalid("text cannot contain the NUL character".to_owned());
        }
    }
    tracing::error!(error = %error, "database call failed");
    StoreError::Backend(Box::new(error))
}

/// Whether `error` says the database is out of reach for a moment rather than refusing the
/// query: no connection became free in time, the pool is closed, the connection was lost,
/// refused or reset (I/O, TLS), or the server is shutting down, starting or out of
/// connections (SQLSTATE class 08, 57P01–57P03, 53300).
fn is_unavailable(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed
        | sqlx::Error::Io(_)
        | sqlx::Error::Tls(_) => true,
        sqlx::Error::Database(db) => db.code().is_some_and(|code| {
            code.starts_with("08") || matches!(&*code, "57P01" | "57P02" | "57P03" | "53300")
        }),
        _ => false,
    }
}

/// A store error for data that the database holds but should not (a corrupt row).
pub(crate) fn corrupt(what: &'static str, detail: impl std::fmt::Display) -> StoreError {
    tracing::error!(%detail, "stored {what} is malformed");
    StoreError::Backend(format!("stored {what} is malformed").into())
}

/// `.db()?` turns sqlx results into store results.
pub(crate) trait DbResult<T> {
    fn db(self) -> Result<T, StoreError>;
}

impl<T> DbResult<T> for Result<T, sqlx::Error> {
    fn db(self) -> Result<T, StoreError> {
        self.map_err(map_err)
    }
}

/// The SQL text of a `like` pattern that finds `needle` anywhere, with `%`, `_` and `\` escaped
/// (queries say `escape '\'`).
pub(crate) fn contains_pattern(needle: &str) -> String {
    let mut pattern = String::with_capacity(needle.len() + 2);
    pattern.push('%');
    for c in needle.chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

/// `u64` from a count column.
pub(crate) fn count(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

/// The limit and offset of a page, clamped to what the database accepts.
pub(crate) fn page_bounds(page: orrery_core::store::Page) -> (i64, i64) {
    let limit = i64::from(page.limit.clamp(1, 1_000));
    let offset = i64::try_from(page.offset()).unwrap_or(i64::MAX);
    (limit, offset)
}

#[cfg(test)]
mod tests {
    use orrery_core::store::StoreError;

    use crate::db::map_err;

    #[test]
    fn a_database_out_of_reach_is_unavailable_and_other_failures_are_backend() {
        let refused = || std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        for error in [
            sqlx::Error::PoolTimedOut,
            sqlx::Error::PoolClosed,
            sqlx::Error::WorkerCrashed,
            sqlx::Error::Io(refused()),
        ] {
            let shown = error.to_string();
            assert!(
                matches!(map_err(error), StoreError::Unavailable(_)),
                "{shown}"
            );
        }
        assert!(matches!(
            map_err(sqlx::Error::RowNotFound),
            StoreError::Backend(_)
        ));
    }
}

//! Pruning what has been kept long enough: [`RetentionStore`].
//!
//! Each call removes one bounded batch in one transaction. Usage records and `graph.created`
//! events are moved into `usage_daily` (totals per account, key and UTC day) in the same
//! transaction, so a call is counted either as a row or inside a total, never both and never
//! lost. Several instances may prune at once: on PostgreSQL the batch is chosen `for update
//! skip locked` and deleted with `returning`, so each row is moved by exactly one of them; on
//! SQLite the write transaction holds the database's one write lock throughout.

use orrery_core::store::{Prunable, RetentionStore, StoreResult};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::Store;
use crate::db::BeginWrite as _;
use crate::db::{DbResult, Ts, with_writer};

/// The key totals of calls made without an API key (signed-in sessions) are booked under.
pub(crate) const NO_KEY: Uuid = Uuid::nil();

/// Microseconds in a day.
const DAY_MICROS: i64 = 86_400_000_000;

/// `at` taken back to its UTC midnight.
pub(crate) fn midnight(at: OffsetDateTime) -> OffsetDateTime {
    at.to_offset(time::UtcOffset::UTC)
        .replace_time(time::Time::MIDNIGHT)
}

/// The first UTC day (days since the Unix epoch) that starts at or after `at`: day `d` lies in
/// `[from, to)` for totals when `first_day(from) <= d < first_day(to)`.
pub(crate) fn first_day(at: OffsetDateTime) -> i64 {
    let micros = Ts::new(at).micros();
    micros.div_euclid(DAY_MICROS) + i64::from(micros.rem_euclid(DAY_MICROS) != 0)
}

/// SQLite's UTC day of a call or event time (integer microseconds; floors negative times).
macro_rules! sqlite_day {
    () => {
        "at / 86400000000 - (at < 0 and at % 86400000000 != 0)"
    };
}

#[async_trait::async_trait]
impl RetentionStore for Store {
    #[tracing::instrument(skip_all, fields(what = what.as_str(), %before, batch))]
    async fn prune(&self, what: Prunable, before: OffsetDateTime, batch: u32) -> StoreResult<u64> {
        let limit = i64::from(batch.max(1));
        let removed = match what {
            Prunable::UsageRecords => self.prune_usage(midnight(before), limit).await?,
            Prunable::Events => self.prune_events(midnight(before), limit).await?,
            Prunable::FinishedMail => {
                self.delete_batch(
                    "email_outbox",
                    "id",
                    "status <> 'pending' and created_at < $1",
                    "created_at, id",
                    before,
                    limit,
                )
                .await?
            }
            Prunable::SpentTokens => {
                let mut removed = 0;
                for (table, spent) in [
                    (
                        "refresh_tokens",
                        "(expires_at < $1 or used_at < $1 or revoked_at < $1)",
                    ),
                    ("password_reset_tokens", "(expires_at < $1 or used_at < $1)"),
                    ("email_change_tokens", "(expires_at < $1 or used_at < $1)"),
                ] {
                    let left = limit - i64::try_from(removed).unwrap_or(limit);
                    if left <= 0 {
                        break;
                    }
                    removed += self
                        .delete_batch(table, "token_hash", spent, "token_hash", before, left)
                        .await?;
                }
                removed
            }
            Prunable::WebhookReceipts => {
                self.delete_batch(
                    "processed_webhook_events",
                    "event_id",
                    "processed_at < $1",
                    "processed_at, event_id",
                    before,
                    limit,
                )
                .await?
            }
        };
        tracing::debug!(removed, "pruned");
        Ok(removed)
    }
}

impl Store {
    /// Deletes up to `limit` rows of `table` matching `condition` (with `$1` = `before`), in
    /// `order`. The names are this module's constants, never input.
    async fn delete_batch(
        &self,
        table: &str,
        key: &str,
        condition: &str,
        order: &str,
        before: OffsetDateTime,
        limit: i64,
    ) -> StoreResult<u64> {
        let lock = if matches!(self.pool, crate::db::Pool::Postgres(_)) {
            " for update skip locked"
        } else {
            ""
        };
        let sql = format!(
            "delete from {table} where {key} in (select {key} from {table} where {condition} \
             order by {order} limit $2{lock})"
        );
        let removed = with_writer!(self, |db, pg| {
            sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(Ts::new(before))
                .bind(limit)
                .execute(db)
                .await
                .db()?
                .rows_affected()
        });
        Ok(removed)
    }

    async fn prune_usage(&self, before: OffsetDateTime, limit: i64) -> StoreResult<u64> {
        let removed = with_writer!(self, |db, pg| {
            if pg {
                let moved: i64 = sqlx::query_scalar(
                    "with moved as (delete from api_key_usage where id in (select id from \
                     api_key_usage where at < $1 order by id limit $2 for update skip locked) \
                     returning user_id, api_key_id, at, duration_ms), \
                     totals as (select user_id, coalesce(api_key_id, $3) as api_key_id, \
                     floor(extract(epoch from at) / 86400)::bigint as day, count(*) as calls, \
                     sum(duration_ms)::bigint as ms from moved group by 1, 2, 3), \
                     added as (insert into usage_daily (user_id, api_key_id, day, api_calls, \
                     duration_ms, graphs_created) select user_id, api_key_id, day, calls, ms, 0 \
                     from totals on conflict (user_id, day, api_key_id) do update set \
                     api_calls = usage_daily.api_calls + excluded.api_calls, \
                     duration_ms = usage_daily.duration_ms + excluded.duration_ms) \
                     select cast(coalesce(sum(calls), 0) as bigint) from totals",
                )
                .bind(Ts::new(before))
                .bind(limit)
                .bind(NO_KEY)
                .fetch_one(db)
                .await
                .db()?;
                u64::try_from(moved).unwrap_or(0)
            } else {
                // The write lock is held from the first statement to the commit, so both
                // statements see the same batch (ordered by the unique id).
                let mut tx = db.begin_write().await.db()?;
                sqlx::query(concat!(
                    "insert into usage_daily (user_id, api_key_id, day, api_calls, duration_ms, \
                     graphs_created) select user_id, coalesce(api_key_id, $3), ",
                    sqlite_day!(),
                    " as day, count(*), sum(duration_ms), 0 from api_key_usage where id in \
                     (select id from api_key_usage where at < $1 order by id limit $2) \
                     group by 1, 2, 3 on conflict (user_id, day, api_key_id) do update set \
                     api_calls = api_calls + excluded.api_calls, \
                     duration_ms = duration_ms + excluded.duration_ms"
                ))
                .bind(Ts::new(before))
                .bind(limit)
                .bind(NO_KEY)
                .execute(&mut *tx)
                .await
                .db()?;
                let removed = sqlx::query(
                    "delete from api_key_usage where id in (select id from api_key_usage \
                     where at < $1 order by id limit $2)",
                )
                .bind(Ts::new(before))
                .bind(limit)
                .execute(&mut *tx)
                .await
                .db()?
                .rows_affected();
                tx.commit().await.db()?;
                removed
            }
        });
        Ok(removed)
    }

    async fn prune_events(&self, before: OffsetDateTime, limit: i64) -> StoreResult<u64> {
        let removed = with_writer!(self, |db, pg| {
            if pg {
                let moved: i64 = sqlx::query_scalar(
                    "with moved as (delete from monitoring_logs where id in (select id from \
                     monitoring_logs where at < $1 order by at, id limit $2 for update skip \
                     locked) returning user_id, kind, at), \
                     created as (select user_id, floor(extract(epoch from at) / 86400)::bigint \
                     as day, count(*) as n from moved where kind = 'graph.created' and user_id \
                     is not null group by 1, 2), \
                     added as (insert into usage_daily (user_id, api_key_id, day, api_calls, \
                     duration_ms, graphs_created) select user_id, $3, day, 0, 0, n from created \
                     on conflict (user_id, day, api_key_id) do update set graphs_created = \
                     usage_daily.graphs_created + excluded.graphs_created) \
                     select count(*) from moved",
                )
                .bind(Ts::new(before))
                .bind(limit)
                .bind(NO_KEY)
                .fetch_one(db)
                .await
                .db()?;
                u64::try_from(moved).unwrap_or(0)
            } else {
                let mut tx = db.begin_write().await.db()?;
                sqlx::query(concat!(
                    "insert into usage_daily (user_id, api_key_id, day, api_calls, duration_ms, \
                     graphs_created) select user_id, $3, ",
                    sqlite_day!(),
                    " as day, 0, 0, count(*) from monitoring_logs where id in (select id from \
                     monitoring_logs where at < $1 order by at, id limit $2) \
                     and kind = 'graph.created' and user_id is not null group by 1, 2, 3 \
                     on conflict (user_id, day, api_key_id) do update set \
                     graphs_created = graphs_created + excluded.graphs_created"
                ))
                .bind(Ts::new(before))
                .bind(limit)
                .bind(NO_KEY)
                .execute(&mut *tx)
                .await
                .db()?;
                let removed = sqlx::query(
                    "delete from monitoring_logs where id in (select id from monitoring_logs \
                     where at < $1 order by at, id limit $2)",
                )
                .bind(Ts::new(before))
                .bind(limit)
                .execute(&mut *tx)
                .await
                .db()?
                .rows_affected();
                tx.commit().await.db()?;
                removed
            }
        });
        Ok(removed)
    }
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;

    #[test]
    fn totals_count_for_the_days_that_start_inside_a_range() {
        assert_eq!(first_day(datetime!(1970-01-01 0:00 UTC)), 0);
        assert_eq!(first_day(datetime!(1970-01-01 0:00:00.000001 UTC)), 1);
        assert_eq!(first_day(datetime!(1970-01-02 0:00 UTC)), 1);
        assert_eq!(first_day(datetime!(1969-12-31 12:00 UTC)), 0);
        assert_eq!(first_day(datetime!(1969-12-31 0:00 UTC)), -1);
        assert_eq!(
            midnight(datetime!(2026-03-04 17:30 +02:00)),
            datetime!(2026-03-04 0:00 UTC)
        );
    }
}

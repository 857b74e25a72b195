//! API usage counters and history: [`UsageStore`].
//!
//! History is counted per UTC day in SQL (the only date arithmetic the two dialects need) and
//! rolled up into weeks and months here, so both backends give the same buckets.

use std::collections::BTreeMap;

use orrery_core::store::{
    Entity, Granularity, SessionStats, StoreError, StoreResult, UsageBucket, UsageRecord,
    UsageStore,
};
use time::{Date, Duration, OffsetDateTime, Time};
use uuid::Uuid;

use crate::Store;
use crate::db::BeginWrite as _;
use crate::db::{DbResult, Ts, count, row, with_db, with_writer};
use crate::graphs::missing;
use crate::limits::{self, MAX_ENDPOINT, MAX_TOKEN};
use crate::retention::first_day;

/// The session statistics query, with `$t` the expression for a call's time in microseconds.
macro_rules! session_sql {
    ($t:literal) => {
        concat!(
            "with calls as (select user_id, ",
            $t,
            " as t from api_key_usage where at >= $1 and at < $2), \
             marked as (select user_id, t, case when lag(t) over w is null \
             or t - lag(t) over w > $3 then 1 else 0 end as starts from calls \
             window w as (partition by user_id order by t)), \
             numbered as (select user_id, t, sum(starts) over (partition by user_id \
             order by t rows between unbounded preceding and current row) as session \
             from marked), \
             spans as (select max(t) - min(t) as span from numbered group by user_id, session) \
             select count(*) as sessions, cast(coalesce(sum(span), 0) as bigint) as total \
             from spans"
        )
    };
}

row! {
    struct SessionRow {
        sessions: i64,
        total: i64,
    }
}

/// Records in one insert of [`UsageStore::record_usages`] (7 parameters each, well under
/// SQLite's 32,766 and PostgreSQL's 65,535).
const USAGE_ROWS_PER_STATEMENT: usize = 500;

row! {
    struct RolledRow {
        day: i64,
        calls: i64,
        created: i64,
    }
}

row! {
    struct DayRow {
        day: i64,
        calls: i64,
    }
}

#[async_trait::async_trait]
impl UsageStore for Store {
    #[tracing::instrument(skip_all, fields(user_id = %record.user_id, key_id = ?record.api_key_id))]
    async fn record_usage(&self, record: &UsageRecord) -> StoreResult<()> {
        limits::required("endpoint", &record.endpoint, MAX_ENDPOINT)?;
        limits::required("method", &record.method, MAX_TOKEN)?;
        // The key must be the account's own: usage is never booked on another account's key.
        let done = with_writer!(self, |db, pg| {
            sqlx::query(
                "insert into api_key_usage (user_id, api_key_id, endpoint, method, status, at, \
                 duration_ms) select $1, $2, $3, $4, $5, $6, $7 where $2 is null or exists \
                 (select 1 from api_keys where id = $2 and user_id = $1)",
            )
            .bind(record.user_id)
            .bind(record.api_key_id)
            .bind(&record.endpoint)
            .bind(&record.method)
            .bind(i32::from(record.status))
            .bind(Ts::new(record.at))
            .bind(i64::from(record.duration_ms))
            .execute(db)
            .await
            .db()
            .map_err(missing(Entity::User))?
            .rows_affected()
        });
        if done == 0 {
            return Err(StoreError::NotFound(Entity::ApiKey));
        }
        Ok(())
    }

    #[tracing::instrument(skip_all, fields(records = records.len()))]
    async fn record_usages(&self, records: &[UsageRecord]) -> StoreResult<u64> {
        for record in records {
            limits::required("endpoint", &record.endpoint, MAX_ENDPOINT)?;
            limits::required("method", &record.method, MAX_TOKEN)?;
        }
        // One statement per chunk of rows and one commit for the batch: the writer is held
        // for one round trip a chunk, not one a record. A record of an account that is gone, or
        // booked on another account's key, is skipped by the `where`. `VALUES` columns are
        // `column1…` on both backends.
        let written = with_writer!(self, |db, pg| {
            let mut tx = db.begin_write().await.db()?;
            let mut written = 0;
            for chunk in records.chunks(USAGE_ROWS_PER_STATEMENT) {
                let mut qb = sqlx::QueryBuilder::new(
                    "insert into api_key_usage (user_id, api_key_id, endpoint, method, status, \
                     at, duration_ms) select v.column1, v.column2, v.column3, v.column4, \
                     v.column5, v.column6, v.column7 from (",
                );
                qb.push_values(chunk, |mut row, record| {
                    row.push_bind(record.user_id)
                        .push_bind(record.api_key_id)
                        .push_bind(&record.endpoint)
                        .push_bind(&record.method)
                        .push_bind(i32::from(record.status))
                        .push_bind(Ts::new(record.at))
                        .push_bind(i64::from(record.duration_ms));
                });
                qb.push(
                    ") as v where exists (select 1 from users u where u.id = v.column1) and \
                     (v.column2 is null or exists (select 1 from api_keys k where \
                     k.id = v.column2 and k.user_id = v.column1))",
                );
                written += qb.build().execute(&mut *tx).await.db()?.rows_affected();
            }
            tx.commit().await.db()?;
            written
        });
        Ok(written)
    }

    #[tracing::instrument(skip_all, fields(user_id = %user, key_id = ?key))]
    async fn count_usage(
        &self,
        user: Uuid,
        key: Option<Uuid>,
        from: OffsetDateTime,
        to: OffsetDateTime,
    ) -> StoreResult<u64> {
        let n: i64 = with_db!(self, |db, pg| {
            let mut qb = sqlx::QueryBuilder::new(
                "select (select count(*) from api_key_usage where user_id = ",
            );
            qb.push_bind(user);
            if let Some(key) = key {
                qb.push(" and api_key_id = ").push_bind(key);
            }
            qb.push(" and at >= ")
                .push_bind(Ts::new(from))
                .push(" and at < ")
                .push_bind(Ts::new(to));
            // Plus the days already rolled up (see `retention`).
            qb.push(") + (select cast(coalesce(sum(api_calls), 0) as bigint) from usage_daily where user_id = ")
                .push_bind(user);
            if let Some(key) = key {
                qb.push(" and api_key_id = ").push_bind(key);
            }
            qb.push(" and day >= ")
                .push_bind(first_day(from))
                .push(" and day < ")
                .push_bind(first_day(to))
                .push(")");
            qb.build_query_scalar().fetch_one(db).await.db()?
        });
        Ok(count(n))
    }

    #[tracing::instrument(skip_all, fields(user_id = %user))]
    async fn usage_time(
        &self,
        user: Uuid,
        from: OffsetDateTime,
        to: OffsetDateTime,
    ) -> StoreResult<u64> {
        // The sum is cast in SQL: PostgreSQL sums integers to numeric, SQLite to integer.
        let n: i64 = with_db!(self, |db, pg| {
            sqlx::query_scalar(
                "select (select cast(coalesce(sum(duration_ms), 0) as bigint) from api_key_usage \
                 where user_id = $1 and at >= $2 and at < $3) + (select cast(coalesce(\
                 sum(duration_ms), 0) as bigint) from usage_daily where user_id = $1 \
                 and day >= $4 and day < $5)",
            )
            .bind(user)
            .bind(Ts::new(from))
            .bind(Ts::new(to))
            .bind(first_day(from))
            .bind(first_day(to))
            .fetch_one(db)
            .await
            .db()?
        });
        Ok(count(n))
    }

    #[tracing::instrument(skip_all, fields(user_id = %user, ?granularity))]
    async fn usage_history(
        &self,
        user: Uuid,
        from: OffsetDateTime,
        to: OffsetDateTime,
        granularity: Granularity,
    ) -> StoreResult<Vec<UsageBucket>> {
        let days = with_db!(self, |db, pg| {
            let sql = if pg {
                "select floor(extract(epoch from at) / 86400)::bigint as day, count(*) as calls \
                 from api_key_usage where user_id = $1 and at >= $2 and at < $3 \
                 group by 1 order by 1"
            } else {
                "select at / 86400000000 - (at < 0 and at % 86400000000 != 0) as day, \
                 count(*) as calls from api_key_usage where user_id = $1 and at >= $2 and at < $3 \
                 group by 1 order by 1"
            };
            sqlx::query_as::<_, DayRow>(sql)
                .bind(user)
                .bind(Ts::new(from))
                .bind(Ts::new(to))
                .fetch_all(db)
                .await
                .db()?
        });
        let created = with_db!(self, |db, pg| {
            let sql = if pg {
                "select floor(extract(epoch from at) / 86400)::bigint as day, count(*) as calls \
                 from monitoring_logs where user_id = $1 and kind = 'graph.created' \
                 and at >= $2 and at < $3 group by 1 order by 1"
            } else {
                "select at / 86400000000 - (at < 0 and at % 86400000000 != 0) as day, \
                 count(*) as calls from monitoring_logs where user_id = $1 \
                 and kind = 'graph.created' and at >= $2 and at < $3 group by 1 order by 1"
            };
            sqlx::query_as::<_, DayRow>(sql)
                .bind(user)
                .bind(Ts::new(from))
                .bind(Ts::new(to))
                .fetch_all(db)
                .await
                .db()?
        });
        let rolled = with_db!(self, |db, pg| {
            sqlx::query_as::<_, RolledRow>(
                "select day, cast(sum(api_calls) as bigint) as calls, \
                 cast(sum(graphs_created) as bigint) as created from usage_daily \
                 where user_id = $1 and day >= $2 and day < $3 group by day",
            )
            .bind(user)
            .bind(first_day(from))
            .bind(first_day(to))
            .fetch_all(db)
            .await
            .db()?
        });
        let mut buckets = BTreeMap::<Date, (u64, u64)>::new();
        let day_of = |row: &DayRow| OffsetDateTime::UNIX_EPOCH.date() + Duration::days(row.day);
        for row in &rolled {
            let day = OffsetDateTime::UNIX_EPOCH.date() + Duration::days(row.day);
            let bucket = buckets.entry(period_start(day, granularity)).or_default();
            bucket.0 += count(row.calls);
            bucket.1 += count(row.created);
        }
        for row in &days {
            buckets
                .entry(period_start(day_of(row), granularity))
                .or_default()
                .0 += count(row.calls);
        }
        for row in &created {
            buckets
                .entry(period_start(day_of(row), granularity))
                .or_default()
                .1 += count(row.calls);
        }
        Ok(buckets
            .into_iter()
            .map(|(start, (api_calls, graphs_created))| UsageBucket {
                period_start: start.with_time(Time::MIDNIGHT).assume_utc(),
                api_calls,
                graphs_created,
            })
            .collect())
    }

    #[tracing::instrument(skip_all)]
    async fn total_usage(&self, from: OffsetDateTime, to: OffsetDateTime) -> StoreResult<u64> {
        let n: i64 = with_db!(self, |db, pg| {
            sqlx::query_scalar(
                "select (select count(*) from api_key_usage where at >= $1 and at < $2) + \
                 (select cast(coalesce(sum(api_calls), 0) as bigint) from usage_daily \
                 where day >= $3 and day < $4)",
            )
            .bind(Ts::new(from))
            .bind(Ts::new(to))
            .bind(first_day(from))
            .bind(first_day(to))
            .fetch_one(db)
            .await
            .db()?
        });
        Ok(count(n))
    }

    #[tracing::instrument(skip_all)]
    async fn session_stats(
        &self,
        from: OffsetDateTime,
        to: OffsetDateTime,
        idle: Duration,
    ) -> StoreResult<SessionStats> {
        let idle_micros = i64::try_from(idle.whole_microseconds()).unwrap_or(i64::MAX);
        // Times become integer microseconds first (SQLite already stores them so), so that the
        // gaps and spans are the same integer arithmetic on both backends. A call starts a
        // session when its account's previous call is more than `idle` before it; the running
        // sum of those starts numbers the sessions.
        let row = with_db!(self, |db, pg| {
            let sql = if pg {
                session_sql!("cast(extract(epoch from at) * 1000000 as bigint)")
            } else {
                session_sql!("at")
            };
            sqlx::query_as::<_, SessionRow>(sql)
                .bind(Ts::new(from))
                .bind(Ts::new(to))
                .bind(idle_micros)
                .fetch_one(db)
                .await
                .db()?
        });
        Ok(SessionStats {
            sessions: count(row.sessions),
            total_seconds: count(row.total) / 1_000_000,
        })
    }
}

/// The first day of the period `day` falls in: itself, its ISO week's Monday, or the first of
/// its month.
pub(crate) fn period_start(day: Date, granularity: Granularity) -> Date {
    match granularity {
        Granularity::Day => day,
        Granularity::Week => {
            day - Duration::days(i64::from(day.weekday().number_days_from_monday()))
        }
        Granularity::Month => day.replace_day(1).unwrap_or(day),
    }
}

#[cfg(test)]
mod tests {
    use time::macros::date;

    use super::*;

    #[test]
    fn periods_start_on_the_day_the_monday_and_the_first() {
        let day = date!(2026 - 03 - 05); // a Thursday
        assert_eq!(period_start(day, Granularity::Day), day);
        assert_eq!(period_start(day, Granularity::Week), date!(2026 - 03 - 02));
        assert_eq!(period_start(day, Granularity::Month), date!(2026 - 03 - 01));
        let monday = date!(2026 - 03 - 02);
        assert_eq!(period_start(monday, Granularity::Week), monday);
    }
}

//! Usage: what an account used in the current period (API calls, graphs created and owned,
//! processing time) and its history by day, week or month, every period present (zeros where
//! nothing happened), within calendar bounds that keep the date arithmetic safe.

use std::collections::BTreeMap;

use orrery_core::store::{EventFilter, Granularity, Page};
use time::{Date, Duration, OffsetDateTime, Time};
use uuid::Uuid;

use crate::http::error::ApiError;
use crate::storage::Db;

/// The first day usage history can be asked about.
pub const HISTORY_FIRST_DAY: Date = time::macros::date!(2000 - 01 - 01);
/// The last day usage history can be asked about (its next day still exists).
pub const HISTORY_LAST_DAY: Date = time::macros::date!(9999 - 12 - 30);
/// The longest history one request covers.
pub const HISTORY_MAX_DAYS: i64 = 3 * 366;
/// The history covered when no start is given, in days before the end.
pub const HISTORY_DEFAULT_DAYS: i64 = 30;

/// Use in the current period (a calendar month, UTC).
#[derive(Clone, Debug, PartialEq)]
pub struct PeriodUsage {
    /// The first of the month.
    pub start: OffsetDateTime,
    /// The first of the next month.
    pub end: OffsetDateTime,
    /// Authenticated API calls so far.
    pub api_calls: u64,
    /// Graphs created in the period.
    pub graphs_created: u64,
    /// Graphs owned now.
    pub graphs: u64,
    /// Milliseconds of processing of the period's calls.
    pub monitoring_ms: u64,
    /// Bytes the account's graphs take in storage now (documents and kept versions).
    pub stored_bytes: u64,
}

/// One period of history.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Period {
    /// Its first day.
    pub start: Date,
    /// API calls in it.
    pub api_calls: u64,
    /// Graphs created in it.
    pub graphs_created: u64,
}

/// A history: its bounds and every period between them, oldest first.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct History {
    /// How the periods are cut.
    pub granularity: Granularity,
    /// First day covered.
    pub start: Date,
    /// Last day covered.
    pub end: Date,
    /// Every period from the one holding `start` to the one holding `end`.
    pub periods: Vec<Period>,
}

/// The usage service. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Usage {
    store: Db,
}

impl Usage {
    /// The service over its store.
    pub fn new(store: Db) -> Usage {
        Usage { store }
    }

    /// `user`'s use in the month of `now`.
    pub async fn current(&self, user: Uuid, now: OffsetDateTime) -> Result<PeriodUsage, ApiError> {
        let start = month_start(now.date()).midnight().assume_utc();
        let end = next_month(now.date()).assume_utc();
        let api_calls = self.store.count_usage(user, None, start, now).await?;
        let monitoring_ms = self.store.usage_time(user, start, now).await?;
        let graphs = self.store.count_graphs(user).await?;
        let graphs_created = self.graphs_created(user, start).await?;
        let stored_bytes = self.store.stored_bytes(user).await?;
        Ok(PeriodUsage {
            stored_bytes,
            start,
            end,
            api_calls,
            graphs_created,
            graphs,
            monitoring_ms,
        })
    }

    /// `user`'s history from `start` to `end` (inclusive; default: the 30 days before today),
    /// every period present. Dates outside [`HISTORY_FIRST_DAY`]..=[`HISTORY_LAST_DAY`], a
    /// start after the end, or more than [`HISTORY_MAX_DAYS`] are refused naming the field.
    pub async fn history(
        &self,
        user: Uuid,
        start: Option<Date>,
        end: Option<Date>,
        granularity: Granularity,
        today: Date,
    ) -> Result<History, ApiError> {
        for (field, date) in [("start_date", start), ("end_date", end)] {
            if date.is_some_and(|d| !(HISTORY_FIRST_DAY..=HISTORY_LAST_DAY).contains(&d)) {
                return Err(ApiError::field(
                    field,
                    format!("must be between {HISTORY_FIRST_DAY} and {HISTORY_LAST_DAY}"),
                ));
            }
        }
        let end = end
            .unwrap_or(today)
            .clamp(HISTORY_FIRST_DAY, HISTORY_LAST_DAY);
        let start = start.unwrap_or_else(|| {
            end.checked_sub(Duration::days(HISTORY_DEFAULT_DAYS))
                .unwrap_or(HISTORY_FIRST_DAY)
                .max(HISTORY_FIRST_DAY)
        });
        if start > end {
            return Err(ApiError::field("start_date", "must not be after end_date"));
        }
        if end - start > Duration::days(HISTORY_MAX_DAYS) {
            return Err(ApiError::field(
                "start_date",
                "the range may span at most three years",
            ));
        }
        let from = start.midnight().assume_utc();
        // `end` is at most HISTORY_LAST_DAY, so the next day exists.
        let to = end.next_day().unwrap_or(end).midnight().assume_utc();
        let buckets = self
            .store
            .usage_history(user, from, to, granularity)
            .await?;
        let mut counts: BTreeMap<Date, Period> = periods(start, end, granularity)
            .map(|start| {
                (
                    start,
                    Period {
                        start,
                        api_calls: 0,
                        graphs_created: 0,
                    },
                )
            })
            .collect();
        for bucket in buckets {
            if let Some(period) = counts.get_mut(&bucket.period_start.date()) {
                period.api_calls = bucket.api_calls;
                period.graphs_created = bucket.graphs_created;
            }
        }
        Ok(History {
            granularity,
            start,
            end,
            periods: counts.into_values().collect(),
        })
    }

    /// Graphs `user` created since `since`, from the monitoring log (newest first, so the
    /// count stops at the first older event).
    async fn graphs_created(&self, user: Uuid, since: OffsetDateTime) -> Result<u64, ApiError> {
        let mut created = 0;
        for number in 1..=100 {
            let events = self
                .store
                .list_events(&EventFilter {
                    user_id: Some(user),
                    graph_id: None,
                    kind: Some("graph.created".into()),
                    page: Page {
                        page: number,
                        limit: 100,
                    },
                })
                .await?;
            for event in &events.items {
                if event.at < since {
                    return Ok(created);
                }
                created += 1;
            }
            if events.items.len() < 100 {
                break;
            }
        }
        Ok(created)
    }
}

/// The first day of every period from the one holding `start` to the one holding `end`.
fn periods(start: Date, end: Date, granularity: Granularity) -> impl Iterator<Item = Date> {
    let first = period_start(start, granularity);
    std::iter::successors(Some(first), move |&day| {
        let next = match granularity {
            Granularity::Day => day.next_day(),
            Granularity::Week => day.checked_add(Duration::days(7)),
            Granularity::Month => Some(next_month(day).date()),
        };
        // A period that cannot advance (the calendar's end) ends the walk.
        next.filter(|n| *n > day && *n <= end)
    })
}

/// The first day of the period holding `day`: the day, its week's Monday, its month's first.
pub fn period_start(day: Date, granularity: Granularity) -> Date {
    match granularity {
        Granularity::Day => day,
        Granularity::Week => {
            day - Duration::days(i64::from(day.weekday().number_days_from_monday()))
        }
        Granularity::Month => day.replace_day(1).unwrap_or(day),
    }
}

fn month_start(date: Date) -> Date {
    date.replace_day(1).unwrap_or(date)
}

fn next_month(date: Date) -> time::PrimitiveDateTime {
    let first = month_start(date);
    let next = if first.month() == time::Month::December {
        Date::from_calendar_date(first.year() + 1, time::Month::January, 1)
    } else {
        Date::from_calendar_date(first.year(), first.month().next(), 1)
    };
    next.unwrap_or(first).with_time(Time::MIDNIGHT)
}

#[cfg(test)]
mod tests {
    use orrery_core::Plan;
    use orrery_core::store::Role;
    use time::macros::date;

    use super::*;
    use crate::services::testing::Fixture;

    #[tokio::test]
    async fn history_is_bounded_and_lists_every_period() {
        let f = Fixture::new();
        let ada = f.user("ada@example.com", Plan::Free, Role::User).await;
        f.store
            .record_event(Some(ada.id), None, "graph.created", serde_json::json!({}))
            .await
            .unwrap();
        let today = OffsetDateTime::now_utc().date();
        let h = f
            .usage
            .history(ada.id, None, None, Granularity::Day, today)
            .await
            .unwrap();
        assert_eq!(h.periods.len(), 31);
        assert_eq!((h.start, h.end), (today - Duration::days(30), today));
        let last = h.periods.last().unwrap();
        assert_eq!(
            (last.start, last.graphs_created, last.api_calls),
            (today, 1, 0)
        );
        assert!(h.periods[..30].iter().all(|p| p.graphs_created == 0));
        let refused = |r: Result<History, ApiError>, field: &str| matches!(r, Err(ApiError::InvalidField { field: f, .. }) if f == field);
        let day = Granularity::Day;
        let far = Some(date!(9999 - 12 - 31));
        assert!(refused(
            f.usage.history(ada.id, None, far, day, today).await,
            "end_date"
        ));
        let early = Some(date!(1999 - 12 - 31));
        assert!(refused(
            f.usage.history(ada.id, early, None, day, today).await,
            "start_date"
        ));
        let (a, b) = (Some(date!(2026 - 02 - 01)), Some(date!(2026 - 01 - 01)));
        assert!(refused(
            f.usage.history(ada.id, a, b, day, today).await,
            "start_date"
        ));
        let (a, b) = (Some(date!(2020 - 01 - 01)), Some(date!(2026 - 01 - 01)));
        assert!(refused(
            f.usage.history(ada.id, a, b, day, today).await,
            "start_date"
        ));
        // The calendar's last allowed day works, by month.
        let last_day = Some(HISTORY_LAST_DAY);
        let end = f
            .usage
            .history(
                ada.id,
                Some(date!(9999 - 11 - 15)),
                last_day,
                Granularity::Month,
                today,
            )
            .await
            .unwrap();
        assert_eq!(end.periods.len(), 2);
    }

    #[test]
    fn every_period_between_the_bounds_is_listed() {
        let days: Vec<Date> = periods(
            date!(2026 - 02 - 27),
            date!(2026 - 03 - 02),
            Granularity::Day,
        )
        .collect();
        assert_eq!(
            days,
            [
                date!(2026 - 02 - 27),
                date!(2026 - 02 - 28),
                date!(2026 - 03 - 01),
                date!(2026 - 03 - 02)
            ]
        );
        let weeks: Vec<Date> = periods(
            date!(2026 - 03 - 05),
            date!(2026 - 03 - 16),
            Granularity::Week,
        )
        .collect();
        assert_eq!(
            weeks,
            [
                date!(2026 - 03 - 02),
                date!(2026 - 03 - 09),
                date!(2026 - 03 - 16)
            ]
        );
        let months: Vec<Date> = periods(
            date!(2025 - 11 - 20),
            date!(2026 - 01 - 01),
            Granularity::Month,
        )
        .collect();
        assert_eq!(
            months,
            [
                date!(2025 - 11 - 01),
                date!(2025 - 12 - 01),
                date!(2026 - 01 - 01)
            ]
        );
        // The calendar's last allowed day ends the walk without overflowing.
        let last: Vec<Date> =
            periods(HISTORY_LAST_DAY, HISTORY_LAST_DAY, Granularity::Month).collect();
        assert_eq!(last, [date!(9999 - 12 - 01)]);
    }
}

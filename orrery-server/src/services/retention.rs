//! Retention: what the server keeps and for how long, applied in bounded batches. The
//! background job (`jobs`) and `orrery admin prune` both call [`Retention::run`].
//!
//! What is kept (ages from the settings, `retention_*`; 0 keeps for ever):
//! - API call records for `retention_usage_days`, then as daily totals per account and key;
//! - monitoring events for `retention_event_days` (`graph.created` also as daily totals);
//! - sent and given-up mails for `retention_mail_days` (pending mails always);
//! - spent tokens for `retention_token_days` after their use, revocation or expiry;
//! - Stripe webhook receipts for `retention_webhook_days`.
//!
//! Accounts, graphs, versions, keys, subscriptions and billing records are never pruned by age.

use std::sync::Arc;
use std::time::Duration;

use orrery_core::store::{Prunable, RetentionStore, StoreResult};
use time::OffsetDateTime;

use crate::settings::Settings;

/// The retention rules, from the settings.
#[derive(Clone)]
pub struct Retention {
    store: Arc<dyn RetentionStore>,
    /// How long each kind is kept; `None` for ever.
    ages: Vec<(Prunable, Option<time::Duration>)>,
    batch: u32,
    /// A pause between two batches, so that other writers get the database in between.
    pause: Duration,
}

impl std::fmt::Debug for Retention {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Retention")
            .field("ages", &self.ages)
            .field("batch", &self.batch)
            .finish_non_exhaustive()
    }
}

/// What one run removed, per kind.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Pruned {
    /// `(kind, records removed)`, in the order they were pruned.
    pub removed: Vec<(Prunable, u64)>,
}

impl Pruned {
    /// Records removed in all.
    pub fn total(&self) -> u64 {
        self.removed.iter().map(|(_, n)| n).sum()
    }
}

impl Retention {
    /// The rules of `settings` over `store`.
    pub fn new(store: Arc<dyn RetentionStore>, settings: &Settings) -> Retention {
        let days = |d: u32| (d > 0).then(|| time::Duration::days(i64::from(d)));
        Retention {
            store,
            ages: vec![
                (Prunable::UsageRecords, days(settings.retention_usage_days)),
                (Prunable::Events, days(settings.retention_event_days)),
                (Prunable::FinishedMail, days(settings.retention_mail_days)),
                (Prunable::SpentTokens, days(settings.retention_token_days)),
                (
                    Prunable::WebhookReceipts,
                    days(settings.retention_webhook_days),
                ),
            ],
            batch: settings.retention_batch,
            pause: Duration::from_millis(10),
        }
    }

    /// How long `what` is kept; `None` for ever.
    pub fn age(&self, what: Prunable) -> Option<time::Duration> {
        self.ages
            .iter()
            .find(|(kind, _)| *kind == what)
            .and_then(|(_, age)| *age)
    }

    /// Prunes everything older than its age at `now`, batch by batch, until nothing is left or
    /// `stop` says so (checked between batches). `progress` hears each batch.
    pub async fn run(
        &self,
        now: OffsetDateTime,
        stop: &(dyn Fn() -> bool + Sync),
        progress: &mut (dyn FnMut(Prunable, u64) + Send),
    ) -> StoreResult<Pruned> {
        let mut pruned = Pruned::default();
        for &(what, age) in &self.ages {
            let Some(age) = age else { continue };
            let Some(before) = now.checked_sub(age) else {
                continue;
            };
            let mut removed = 0;
            loop {
                if stop() {
                    break;
                }
                let n = self.store.prune(what, before, self.batch).await?;
                removed += n;
                progress(what, n);
                if n < u64::from(self.batch) {
                    break;
                }
                tokio::time::sleep(self.pause).await;
            }
            pruned.removed.push((what, removed));
        }
        Ok(pruned)
    }
}

#[cfg(test)]
mod tests {
    use orrery_core::store::{NewUser, Role, UsageRecord, UsageStore, UserStore};
    use orrery_store::MemoryStore;
    use time::macros::datetime;

    use super::*;

    #[tokio::test]
    async fn a_run_prunes_what_is_older_than_its_age_and_keeps_what_is_kept_for_ever() {
        let store = Arc::new(MemoryStore::new(orrery_store::StoreOptions::default()));
        let user = store
            .create_user(NewUser {
                email: "ada@example.com".into(),
                name: "Ada".into(),
                password_hash: None,
                google_sub: Some("g".into()),
                role: Role::User,
                plan: orrery_core::Plan::Free,
                trial_ends_at: None,
            })
            .await
            .unwrap();
        let now = datetime!(2030-06-01 12:00 UTC);
        let record = |at| UsageRecord {
            user_id: user.id,
            api_key_id: None,
            endpoint: "/api/graphs".into(),
            method: "GET".into(),
            status: 200,
            at,
            duration_ms: 5,
        };
        let calls: Vec<UsageRecord> = (0..25)
            .map(|i| record(datetime!(2030-01-01 0:00 UTC) + time::Duration::hours(i)))
            .chain([record(now)])
            .collect();
        store.record_usages(&calls).await.unwrap();
        let settings = Settings {
            retention_batch: 10,
            retention_event_days: 0,
            ..Settings::default()
        };
        let retention = Retention::new(store.clone(), &settings);
        assert_eq!(retention.age(Prunable::Events), None);
        let mut batches = Vec::new();
        let pruned = retention
            .run(now, &|| false, &mut |what, n| batches.push((what, n)))
            .await
            .unwrap();
        assert_eq!(pruned.total(), 25);
        assert!(
            !pruned
                .removed
                .iter()
                .any(|(what, _)| *what == Prunable::Events)
        );
        assert_eq!(
            batches
                .iter()
                .filter(|(what, _)| *what == Prunable::UsageRecords)
                .map(|(_, n)| *n)
                .collect::<Vec<_>>(),
            [10, 10, 5]
        );
        let year = (
            datetime!(2030-01-01 0:00 UTC),
            datetime!(2031-01-01 0:00 UTC),
        );
        assert_eq!(
            store
                .count_usage(user.id, None, year.0, year.1)
                .await
                .unwrap(),
            26
        );
        assert_eq!(store.row_counts()["api_key_usage"], 1);
        // Stopped before the first batch: nothing is touched.
        let again = retention.run(now, &|| true, &mut |_, _| {}).await.unwrap();
        assert_eq!(again.total(), 0);
    }
}

//! Usage records of authenticated calls, written by a background task so that recording never
//! adds a database write to a request's latency. The same task keeps each account's
//! `last_seen_at` current for accounts that only call the API (sign-ins set it too), at most
//! once per [`SEEN_EVERY`] per account, so "active in the last 30 days" counts them.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use orrery_core::store::{UsageRecord, UsageStore, UserStore};
use time::OffsetDateTime;
use tokio::sync::mpsc;
use uuid::Uuid;

/// One authenticated call.
#[derive(Clone, Debug)]
pub struct Call {
    /// The account.
    pub user_id: Uuid,
    /// The key used, if any.
    pub api_key_id: Option<Uuid>,
    /// The route pattern.
    pub endpoint: String,
    /// The HTTP method.
    pub method: String,
    /// The response status.
    pub status: u16,
    /// How long the request took.
    pub duration: Duration,
}

/// Queues calls for the writer task.
#[derive(Clone, Debug)]
pub struct UsageRecorder {
    tx: mpsc::Sender<UsageRecord>,
}

/// How many records may wait before a request has to wait for the writer.
const QUEUE: usize = 65_536;
/// Most records written in one transaction.
const BATCH: usize = 512;
/// How often an account's `last_seen_at` is written, at most, for its API calls.
pub const SEEN_EVERY: Duration = Duration::from_secs(10 * 60);

impl UsageRecorder {
    /// Starts the writer task on `store`; it ends when every recorder is dropped, after writing
    /// what was queued.
    pub fn start<S>(store: Arc<S>) -> (UsageRecorder, tokio::task::JoinHandle<()>)
    where
        S: UsageStore + UserStore + ?Sized + 'static,
    {
        let (tx, mut rx) = mpsc::channel::<UsageRecord>(QUEUE);
        let task = tokio::spawn(async move {
            // Whatever queued while the last batch was written goes in the next, in one
            // transaction: under load that is one write lock per batch, not per call.
            let mut batch = Vec::with_capacity(BATCH);
            let mut seen: HashMap<Uuid, Instant> = HashMap::new();
            while rx.recv_many(&mut batch, BATCH).await > 0 {
                if let Err(e) = store.record_usages(&batch).await {
                    tracing::error!(error = %e, records = batch.len(), "recording usage failed");
                }
                let now = Instant::now();
                seen.retain(|_, at| now.duration_since(*at) < SEEN_EVERY);
                for record in &batch {
                    if seen.contains_key(&record.user_id) {
                        continue;
                    }
                    seen.insert(record.user_id, now);
                    // A deleted account's last calls find no row: nothing to record.
                    if let Err(e) = store.touch_user(record.user_id, record.at).await
                        && !matches!(e, orrery_core::store::StoreError::NotFound(_))
                    {
                        tracing::warn!(error = %e, "recording an account's activity failed");
                    }
                }
                batch.clear();
            }
        });
        (UsageRecorder { tx }, task)
    }

    /// Queues a call; waits only when the queue is full.
    pub fn record(&self, call: Call) {
        let record = UsageRecord {
            user_id: call.user_id,
            api_key_id: call.api_key_id,
            endpoint: call.endpoint,
            method: call.method,
            status: call.status,
            at: OffsetDateTime::now_utc(),
            duration_ms: u32::try_from(call.duration.as_millis()).unwrap_or(u32::MAX),
        };
        if let Err(mpsc::error::TrySendError::Full(record)) = self.tx.try_send(record) {
            let tx = self.tx.clone();
            tokio::spawn(async move {
                let _ = tx.send(record).await;
            });
        }
    }
}

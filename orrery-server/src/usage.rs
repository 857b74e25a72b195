//! Usage records of authenticated calls, written by a background task so that recording never
//! adds a database write to a request's latency.

use std::sync::Arc;
use std::time::Duration;

use orrery_core::store::{UsageRecord, UsageStore};
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

impl UsageRecorder {
    /// Starts the writer task on `store`; it ends when every recorder is dropped, after writing
    /// what was queued.
    pub fn start(store: Arc<dyn UsageStore>) -> (UsageRecorder, tokio::task::JoinHandle<()>) {
        let (tx, mut rx) = mpsc::channel::<UsageRecord>(QUEUE);
        let task = tokio::spawn(async move {
            // Whatever queued while the last batch was written goes in the next, in one
            // transaction: under load that is one write lock per batch, not per call.
            let mut batch = Vec::with_capacity(BATCH);
            while rx.recv_many(&mut batch, BATCH).await > 0 {
                if let Err(e) = store.record_usages(&batch).await {
                    tracing::error!(error = %e, records = batch.len(), "recording usage failed");
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

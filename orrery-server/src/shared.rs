//! State that several server instances must agree on: rate-limit windows, monthly quotas and
//! caches. In-process by default; in Redis when `redis_url` is set, so every instance sees the
//! same counters and cached values. Redis trouble never fails a request: limits fail open and
//! caches miss, with a warning in the log.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use redis::AsyncCommands;
use redis::aio::ConnectionManager;
use time::OffsetDateTime;
use tokio::sync::Mutex;

/// Counters and caches, local or shared.
#[derive(Clone)]
pub enum Shared {
    /// In this process only.
    Local(Arc<Local>),
    /// In Redis, shared by every instance.
    Redis(ConnectionManager),
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Shared::Local(_) => "Shared::Local",
            Shared::Redis(_) => "Shared::Redis",
        })
    }
}

/// The in-process implementation.
#[derive(Debug)]
pub struct Local {
    windows: moka::future::Cache<String, Arc<Mutex<(u64, u32)>>>,
    quotas: moka::future::Cache<String, Arc<AtomicU64>>,
    counters: moka::future::Cache<String, Arc<Mutex<(u64, Instant)>>>,
    values: moka::future::Cache<String, (Arc<Vec<u8>>, Instant)>,
}

impl Shared {
    /// In-process counters and caches.
    pub fn local() -> Shared {
        Shared::Local(Arc::new(Local {
            windows: moka::future::Cache::builder()
                .max_capacity(1_000_000)
                .time_to_idle(Duration::from_secs(3600))
                .build(),
            quotas: moka::future::Cache::builder()
                .max_capacity(1_000_000)
                .time_to_idle(Duration::from_secs(3600))
                .build(),
            counters: moka::future::Cache::builder()
                .max_capacity(1_000_000)
                .time_to_idle(Duration::from_secs(3600))
                .build(),
            values: moka::future::Cache::builder()
                .max_capacity(10_000)
                .time_to_live(Duration::from_secs(3600))
                .build(),
        }))
    }

    /// Counters and caches in the Redis at `url`.
    pub async fn redis(url: &str) -> anyhow::Result<Shared> {
        let client = redis::Client::open(url)?;
        let manager = tokio::time::timeout(Duration::from_secs(5), ConnectionManager::new(client))
            .await
            .map_err(|_| anyhow::anyhow!("connecting to Redis timed out"))??;
        Ok(Shared::Redis(manager))
    }

    /// Whether state is shared through Redis.
    pub fn is_redis(&self) -> bool {
        matches!(self, Shared::Redis(_))
    }

    /// Checks Redis (always fine in-process).
    pub async fn ping(&self) -> bool {
        match self {
            Shared::Local(_) => true,
            Shared::Redis(conn) => {
                let mut conn = conn.clone();
                redis::cmd("PING")
                    .query_async::<String>(&mut conn)
                    .await
                    .is_ok()
            }
        }
    }

    /// Counts one request against `key` in the current fixed window of `window`; `Err` carries
    /// the seconds until the window ends when `limit` is already used up.
    pub async fn hit(&self, key: &str, limit: u32, window: Duration) -> Result<(), u64> {
        let secs = window.as_secs().max(1);
        let now = OffsetDateTime::now_utc().unix_timestamp() as u64;
        let index = now / secs;
        let retry_after = (index + 1) * secs - now;
        let count = match self {
            Shared::Local(local) => {
                let slot = local
                    .windows
                    .get_with(key.to_owned(), async { Arc::new(Mutex::new((index, 0))) })
                    .await;
                let mut slot = slot.lock().await;
                if slot.0 != index {
                    *slot = (index, 0);
                }
                slot.1 = slot.1.saturating_add(1);
                u64::from(slot.1)
            }
            Shared::Redis(conn) => {
                let mut conn = conn.clone();
                let rkey = format!("orrery:rl:{key}:{index}");
                let result: redis::RedisResult<(u64, i64)> = redis::pipe()
                    .atomic()
                    .incr(&rkey, 1)
                    .expire(&rkey, secs as i64 + 1)
                    .query_async(&mut conn)
                    .await;
                match result {
                    Ok((count, _)) => count,
                    Err(e) => {
                        tracing::warn!(error = %e, "rate limiting through Redis failed; letting the request through");
                        return Ok(());
                    }
                }
            }
        };
        if count > u64::from(limit) {
            Err(retry_after.max(1))
        } else {
            Ok(())
        }
    }

    /// Adds one to the quota counter `key` (one per account and month) and returns the new
    /// value; a counter that does not exist yet starts from `seed()` (the count in the database).
    pub async fn count_quota<F>(&self, key: &str, ttl: Duration, seed: F) -> u64
    where
        F: std::future::Future<Output = u64> + Send,
    {
        match self {
            Shared::Local(local) => {
                let counter = local
                    .quotas
                    .get_with(key.to_owned(), async {
                        Arc::new(AtomicU64::new(seed.await))
                    })
                    .await;
                counter.fetch_add(1, Ordering::Relaxed) + 1
            }
            Shared::Redis(conn) => {
                let mut conn = conn.clone();
                let rkey = format!("orrery:quota:{key}");
                let exists: redis::RedisResult<bool> = conn.exists(&rkey).await;
                if let Ok(false) = exists {
                    let start = seed.await;
                    let _: redis::RedisResult<()> = redis::cmd("SET")
                        .arg(&rkey)
                        .arg(start)
                        .arg("NX")
                        .arg("EX")
                        .arg(ttl.as_secs())
                        .query_async(&mut conn)
                        .await;
                }
                match conn.incr::<_, _, u64>(&rkey, 1).await {
                    Ok(n) => n,
                    Err(e) => {
                        tracing::warn!(error = %e, "counting quota through Redis failed");
                        0
                    }
                }
            }
        }
    }

    /// Adds one to the counter `key` and returns the new value; the counter is forgotten `ttl`
    /// after its last increment.
    pub async fn incr(&self, key: &str, ttl: Duration) -> u64 {
        match self {
            Shared::Local(local) => {
                let slot = local
                    .counters
                    .get_with(key.to_owned(), async {
                        Arc::new(Mutex::new((0, Instant::now())))
                    })
                    .await;
                let mut slot = slot.lock().await;
                let now = Instant::now();
                if now >= slot.1 {
                    slot.0 = 0;
                }
                *slot = (slot.0.saturating_add(1), now + ttl);
                slot.0
            }
            Shared::Redis(conn) => {
                let mut conn = conn.clone();
                let rkey = format!("orrery:count:{key}");
                let result: redis::RedisResult<(u64, i64)> = redis::pipe()
                    .atomic()
                    .incr(&rkey, 1)
                    .expire(&rkey, ttl.as_secs().max(1) as i64)
                    .query_async(&mut conn)
                    .await;
                result.map(|(n, _)| n).unwrap_or_else(|e| {
                    tracing::warn!(error = %e, "counting through Redis failed");
                    0
                })
            }
        }
    }

    /// Takes the lock `key` for `ttl` when nobody holds it; `Err` carries the seconds until the
    /// holder's time runs out. Atomic across instances (`SET NX PX` in Redis).
    pub async fn acquire(&self, key: &str, ttl: Duration) -> Result<(), u64> {
        let ttl_ms = ttl.as_millis().max(1) as u64;
        match self {
            Shared::Local(local) => {
                let slot = local
                    .counters
                    .get_with(format!("lock:{key}"), async {
                        Arc::new(Mutex::new((0, Instant::now())))
                    })
                    .await;
                let mut slot = slot.lock().await;
                let now = Instant::now();
                if now < slot.1 {
                    return Err((slot.1 - now).as_secs().max(1));
                }
                *slot = (1, now + ttl);
                Ok(())
            }
            Shared::Redis(conn) => {
                let mut conn = conn.clone();
                let rkey = format!("orrery:lock:{key}");
                let taken: redis::RedisResult<Option<String>> = redis::cmd("SET")
                    .arg(&rkey)
                    .arg(1)
                    .arg("NX")
                    .arg("PX")
                    .arg(ttl_ms)
                    .query_async(&mut conn)
                    .await;
                match taken {
                    Ok(Some(_)) => Ok(()),
                    Ok(None) => {
                        let left: i64 = redis::cmd("PTTL")
                            .arg(&rkey)
                            .query_async(&mut conn)
                            .await
                            .unwrap_or(1000);
                        Err((left.max(0) as u64).div_ceil(1000).max(1))
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "taking a lock in Redis failed; letting the request through");
                        Ok(())
                    }
                }
            }
        }
    }

    /// Frees the lock `key` before its time runs out.
    pub async fn release(&self, key: &str) {
        match self {
            Shared::Local(local) => local.counters.invalidate(&format!("lock:{key}")).await,
            Shared::Redis(conn) => {
                let mut conn = conn.clone();
                let result: redis::RedisResult<()> = conn.del(format!("orrery:lock:{key}")).await;
                if let Err(e) = result {
                    tracing::warn!(error = %e, "releasing a Redis lock failed");
                }
            }
        }
    }

    /// Forgets the counter `key`.
    pub async fn reset(&self, key: &str) {
        match self {
            Shared::Local(local) => local.counters.invalidate(key).await,
            Shared::Redis(conn) => {
                let mut conn = conn.clone();
                let result: redis::RedisResult<()> = conn.del(format!("orrery:count:{key}")).await;
                if let Err(e) = result {
                    tracing::warn!(error = %e, "resetting a Redis counter failed");
                }
            }
        }
    }

    /// A cached value.
    pub async fn get(&self, key: &str) -> Option<Arc<Vec<u8>>> {
        match self {
            Shared::Local(local) => {
                let (value, expires) = local.values.get(key).await?;
                if Instant::now() >= expires {
                    local.values.invalidate(key).await;
                    return None;
                }
                Some(value)
            }
            Shared::Redis(conn) => {
                let mut conn = conn.clone();
                match conn
                    .get::<_, Option<Vec<u8>>>(format!("orrery:cache:{key}"))
                    .await
                {
                    Ok(value) => value.map(Arc::new),
                    Err(e) => {
                        tracing::warn!(error = %e, "reading the Redis cache failed");
                        None
                    }
                }
            }
        }
    }

    /// Caches `value` under `key` for `ttl`.
    pub async fn set(&self, key: &str, value: Vec<u8>, ttl: Duration) {
        match self {
            Shared::Local(local) => {
                local
                    .values
                    .insert(key.to_owned(), (Arc::new(value), Instant::now() + ttl))
                    .await;
            }
            Shared::Redis(conn) => {
                let mut conn = conn.clone();
                let result: redis::RedisResult<()> = conn
                    .set_ex(format!("orrery:cache:{key}"), value, ttl.as_secs().max(1))
                    .await;
                if let Err(e) = result {
                    tracing::warn!(error = %e, "writing the Redis cache failed");
                }
            }
        }
    }

    /// Drops a cached value.
    pub async fn delete(&self, key: &str) {
        match self {
            Shared::Local(local) => local.values.invalidate(key).await,
            Shared::Redis(conn) => {
                let mut conn = conn.clone();
                let result: redis::RedisResult<()> = conn.del(format!("orrery:cache:{key}")).await;
                if let Err(e) = result {
                    tracing::warn!(error = %e, "deleting from the Redis cache failed");
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn local_windows_count_and_say_when_to_retry() {
        let shared = Shared::local();
        for _ in 0..3 {
            assert_eq!(shared.hit("k", 3, Duration::from_secs(3600)).await, Ok(()));
        }
        let retry = shared
            .hit("k", 3, Duration::from_secs(3600))
            .await
            .unwrap_err();
        assert!((1..=3600).contains(&retry));
        assert_eq!(
            shared.hit("other", 3, Duration::from_secs(3600)).await,
            Ok(())
        );
    }

    #[tokio::test]
    async fn local_quotas_start_from_their_seed() {
        let shared = Shared::local();
        assert_eq!(
            shared
                .count_quota("u", Duration::from_secs(60), async { 41 })
                .await,
            42
        );
        assert_eq!(
            shared
                .count_quota("u", Duration::from_secs(60), async { 1000 })
                .await,
            43
        );
    }

    #[tokio::test]
    async fn local_counters_count_expire_and_reset() {
        let shared = Shared::local();
        assert_eq!(shared.incr("c", Duration::from_secs(60)).await, 1);
        assert_eq!(shared.incr("c", Duration::from_secs(60)).await, 2);
        shared.reset("c").await;
        assert_eq!(shared.incr("c", Duration::from_millis(20)).await, 1);
        tokio::time::sleep(Duration::from_millis(30)).await;
        assert_eq!(shared.incr("c", Duration::from_secs(60)).await, 1);
    }

    #[tokio::test]
    async fn local_locks_are_held_for_their_time() {
        let shared = Shared::local();
        assert_eq!(shared.acquire("l", Duration::from_millis(50)).await, Ok(()));
        assert_eq!(shared.acquire("l", Duration::from_millis(50)).await, Err(1));
        assert_eq!(shared.acquire("m", Duration::from_millis(50)).await, Ok(()));
        tokio::time::sleep(Duration::from_millis(60)).await;
        assert_eq!(shared.acquire("l", Duration::from_secs(60)).await, Ok(()));
        shared.release("l").await;
        assert_eq!(shared.acquire("l", Duration::from_secs(60)).await, Ok(()));
    }

    #[tokio::test]
    async fn local_values_expire() {
        let shared = Shared::local();
        shared
            .set("a", b"x".to_vec(), Duration::from_millis(30))
            .await;
        assert_eq!(
            shared.get("a").await.as_deref().map(Vec::as_slice),
            Some(&b"x"[..])
        );
        tokio::time::sleep(Duration::from_millis(40)).await;
        assert!(shared.get("a").await.is_none());
        shared.set("b", b"y".to_vec(), Duration::from_secs(5)).await;
        shared.delete("b").await;
        assert!(shared.get("b").await.is_none());
    }
}

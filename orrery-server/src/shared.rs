//! State that several server instances must agree on: rate-limit windows, monthly quotas and
//! caches. In-process by default; in Redis when `redis_url` is set, so every instance sees the
//! same counters and cached values. Redis trouble never fails a request, nor holds one up: a
//! Redis call has [`REDIS_DEADLINE`] to answer, and after a failure a circuit breaker skips Redis
//! for [`BREAKER_OPEN`] (then lets one call probe it). Meanwhile limits, counters and locks are
//! kept in-process (per instance, like without Redis) and caches miss, with one warning in the
//! log per outage.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{AsyncCommands, RedisResult};
use time::OffsetDateTime;
use tokio::sync::Mutex;

/// The longest a request waits on one Redis call (a connection being re-established included).
pub const REDIS_DEADLINE: Duration = Duration::from_millis(200);
/// How long Redis is skipped after it failed or did not answer in time.
pub const BREAKER_OPEN: Duration = Duration::from_secs(1);

/// Counters and caches, local or shared.
#[derive(Clone)]
pub enum Shared {
    /// In this process only.
    Local(Arc<Local>),
    /// In Redis, shared by every instance, with this process's state as the fallback.
    Redis(Arc<Remote>),
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

/// The Redis implementation: a connection, its circuit breaker, and the in-process state used
/// while the breaker is open.
pub struct Remote {
    conn: ConnectionManager,
    breaker: Breaker,
    fallback: Local,
}

impl std::fmt::Debug for Remote {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Remote")
            .field("breaker", &self.breaker)
            .finish_non_exhaustive()
    }
}

/// Skips Redis for [`BREAKER_OPEN`] after a failure. Closed, every call goes to Redis; open,
/// none does; once the time is up, the first caller probes Redis (and the others stay
/// in-process until it has answered, or for [`REDIS_DEADLINE`]).
#[derive(Debug)]
struct Breaker {
    epoch: Instant,
    /// Milliseconds since `epoch` until which Redis is skipped; 0 when closed.
    open_until: AtomicU64,
}

impl Shared {
    /// In-process counters and caches.
    pub fn local() -> Shared {
        Shared::Local(Arc::new(Local::new()))
    }

    /// Counters and caches in the Redis at `url`.
    pub async fn redis(url: &str) -> anyhow::Result<Shared> {
        let client = redis::Client::open(url)?;
        // The crate's defaults retry a lost connection six times from 100 ms, doubling, and
        // every command waits for that: seconds per request while Redis is away. A short,
        // bounded reconnection instead; the breaker spaces out the next attempts.
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(REDIS_DEADLINE))
            .set_response_timeout(Some(REDIS_DEADLINE))
            .set_number_of_retries(1)
            .set_min_delay(Duration::from_millis(50))
            .set_max_delay(Duration::from_millis(100));
        let manager = tokio::time::timeout(
            Duration::from_secs(5),
            ConnectionManager::new_with_config(client, config),
        )
        .await
        .map_err(|_| anyhow::anyhow!("connecting to Redis timed out"))??;
        Ok(Shared::Redis(Arc::new(Remote {
            conn: manager,
            breaker: Breaker::default(),
            fallback: Local::new(),
        })))
    }

    /// Whether state is shared through Redis.
    pub fn is_redis(&self) -> bool {
        matches!(self, Shared::Redis(_))
    }

    /// Checks Redis (always fine in-process), breaker or not; an answer closes the breaker.
    pub async fn ping(&self) -> bool {
        match self {
            Shared::Local(_) => true,
            Shared::Redis(remote) => {
                let mut conn = remote.conn.clone();
                let answer = tokio::time::timeout(
                    REDIS_DEADLINE,
                    redis::cmd("PING").query_async::<String>(&mut conn),
                )
                .await;
                match answer {
                    Ok(Ok(_)) => {
                        remote.breaker.succeeded();
                        true
                    }
                    _ => false,
                }
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
            Shared::Local(local) => local.hit(key, index).await,
            Shared::Redis(remote) => {
                let rkey = format!("orrery:rl:{key}:{index}");
                let counted = remote
                    .run("rate limiting", |mut conn| async move {
                        redis::pipe()
                            .atomic()
                            .incr(&rkey, 1)
                            .expire(&rkey, secs as i64 + 1)
                            .query_async::<(u64, i64)>(&mut conn)
                            .await
                    })
                    .await;
                match counted {
                    Some((count, _)) => count,
                    None => remote.fallback.hit(key, index).await,
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
        F: Future<Output = u64> + Send,
    {
        match self {
            Shared::Local(local) => local.count_quota(key, seed).await,
            Shared::Redis(remote) => {
                let rkey = format!("orrery:quota:{key}");
                let exists = remote
                    .run("counting quota", |mut conn| {
                        let rkey = rkey.clone();
                        async move { conn.exists::<_, bool>(&rkey).await }
                    })
                    .await;
                let seed = match exists {
                    None => return remote.fallback.count_quota(key, seed).await,
                    Some(true) => None,
                    Some(false) => Some(seed.await),
                };
                let counted = remote
                    .run("counting quota", |mut conn| async move {
                        if let Some(start) = seed {
                            redis::cmd("SET")
                                .arg(&rkey)
                                .arg(start)
                                .arg("NX")
                                .arg("EX")
                                .arg(ttl.as_secs())
                                .query_async::<()>(&mut conn)
                                .await?;
                        }
                        conn.incr::<_, _, u64>(&rkey, 1).await
                    })
                    .await;
                // Without Redis the count is unknown: 0 lets the request through.
                counted.unwrap_or(0)
            }
        }
    }

    /// Adds one to the counter `key` and returns the new value; the counter is forgotten `ttl`
    /// after its last increment.
    pub async fn incr(&self, key: &str, ttl: Duration) -> u64 {
        match self {
            Shared::Local(local) => local.incr(key, ttl).await,
            Shared::Redis(remote) => {
                let rkey = format!("orrery:count:{key}");
                let counted = remote
                    .run("counting", |mut conn| async move {
                        redis::pipe()
                            .atomic()
                            .incr(&rkey, 1)
                            .expire(&rkey, ttl.as_secs().max(1) as i64)
                            .query_async::<(u64, i64)>(&mut conn)
                            .await
                    })
                    .await;
                match counted {
                    Some((n, _)) => n,
                    None => remote.fallback.incr(key, ttl).await,
                }
            }
        }
    }

    /// Takes the lock `key` for `ttl` when nobody holds it; `Err` carries the seconds until the
    /// holder's time runs out. Atomic across instances (`SET NX PX` in Redis).
    pub async fn acquire(&self, key: &str, ttl: Duration) -> Result<(), u64> {
        let ttl_ms = ttl.as_millis().max(1) as u64;
        match self {
            Shared::Local(local) => local.acquire(key, ttl).await,
            Shared::Redis(remote) => {
                let rkey = format!("orrery:lock:{key}");
                let taken = remote
                    .run("taking a lock", |mut conn| async move {
                        let taken: Option<String> = redis::cmd("SET")
                            .arg(&rkey)
                            .arg(1)
                            .arg("NX")
                            .arg("PX")
                            .arg(ttl_ms)
                            .query_async(&mut conn)
                            .await?;
                        if taken.is_some() {
                            return Ok(Ok(()));
                        }
                        let left: i64 =
                            redis::cmd("PTTL").arg(&rkey).query_async(&mut conn).await?;
                        Ok(Err((left.max(0) as u64).div_ceil(1000).max(1)))
                    })
                    .await;
                match taken {
                    Some(outcome) => outcome,
                    None => remote.fallback.acquire(key, ttl).await,
                }
            }
        }
    }

    /// Frees the lock `key` before its time runs out.
    pub async fn release(&self, key: &str) {
        match self {
            Shared::Local(local) => local.release(key).await,
            Shared::Redis(remote) => {
                // Taken in-process while Redis was away, perhaps.
                remote.fallback.release(key).await;
                let rkey = format!("orrery:lock:{key}");
                remote
                    .run("releasing a lock", |mut conn| async move {
                        conn.del::<_, ()>(&rkey).await
                    })
                    .await;
            }
        }
    }

    /// Forgets the counter `key`.
    pub async fn reset(&self, key: &str) {
        match self {
            Shared::Local(local) => local.counters.invalidate(key).await,
            Shared::Redis(remote) => {
                remote.fallback.counters.invalidate(key).await;
                let rkey = format!("orrery:count:{key}");
                remote
                    .run("resetting a counter", |mut conn| async move {
                        conn.del::<_, ()>(&rkey).await
                    })
                    .await;
            }
        }
    }

    /// A cached value.
    pub async fn get(&self, key: &str) -> Option<Arc<Vec<u8>>> {
        match self {
            Shared::Local(local) => local.get(key).await,
            // A value cached in-process during an outage could be stale by the next one (its
            // deletion went to Redis): caches only miss without Redis.
            Shared::Redis(remote) => {
                let rkey = format!("orrery:cache:{key}");
                remote
                    .run("reading the cache", |mut conn| async move {
                        conn.get::<_, Option<Vec<u8>>>(&rkey).await
                    })
                    .await
                    .flatten()
                    .map(Arc::new)
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
            Shared::Redis(remote) => {
                let rkey = format!("orrery:cache:{key}");
                remote
                    .run("writing the cache", |mut conn| async move {
                        conn.set_ex::<_, _, ()>(&rkey, value, ttl.as_secs().max(1))
                            .await
                    })
                    .await;
            }
        }
    }

    /// Drops a cached value.
    pub async fn delete(&self, key: &str) {
        match self {
            Shared::Local(local) => local.values.invalidate(key).await,
            Shared::Redis(remote) => {
                let rkey = format!("orrery:cache:{key}");
                remote
                    .run("deleting from the cache", |mut conn| async move {
                        conn.del::<_, ()>(&rkey).await
                    })
                    .await;
            }
        }
    }
}

impl Local {
    fn new() -> Local {
        Local {
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
        }
    }

    /// Counts one hit in window `index` of `key`; returns the count.
    async fn hit(&self, key: &str, index: u64) -> u64 {
        let slot = self
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

    async fn count_quota<F>(&self, key: &str, seed: F) -> u64
    where
        F: Future<Output = u64> + Send,
    {
        let counter = self
            .quotas
            .get_with(key.to_owned(), async {
                Arc::new(AtomicU64::new(seed.await))
            })
            .await;
        counter.fetch_add(1, Ordering::Relaxed) + 1
    }

    async fn incr(&self, key: &str, ttl: Duration) -> u64 {
        let slot = self
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

    async fn acquire(&self, key: &str, ttl: Duration) -> Result<(), u64> {
        let slot = self
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

    async fn release(&self, key: &str) {
        self.counters.invalidate(&format!("lock:{key}")).await;
    }

    async fn get(&self, key: &str) -> Option<Arc<Vec<u8>>> {
        let (value, expires) = self.values.get(key).await?;
        if Instant::now() >= expires {
            self.values.invalidate(key).await;
            return None;
        }
        Some(value)
    }
}

impl Remote {
    /// Runs `op` on Redis within [`REDIS_DEADLINE`], unless the breaker says to skip Redis;
    /// `None` when it was skipped or failed (`what` names the operation in the log).
    async fn run<T, F, Fut>(&self, what: &str, op: F) -> Option<T>
    where
        F: FnOnce(ConnectionManager) -> Fut,
        Fut: Future<Output = RedisResult<T>>,
    {
        if !self.breaker.allow() {
            return None;
        }
        match tokio::time::timeout(REDIS_DEADLINE, op(self.conn.clone())).await {
            Ok(Ok(value)) => {
                self.breaker.succeeded();
                Some(value)
            }
            Ok(Err(e)) => {
                self.breaker.failed(what, &e);
                None
            }
            Err(_) => {
                self.breaker.failed(what, &"no answer in time");
                None
            }
        }
    }
}

impl Default for Breaker {
    fn default() -> Breaker {
        Breaker {
            epoch: Instant::now(),
            open_until: AtomicU64::new(0),
        }
    }
}

impl Breaker {
    /// Whether this call may go to Redis.
    fn allow(&self) -> bool {
        let until = self.open_until.load(Ordering::Acquire);
        if until == 0 {
            return true;
        }
        let now = self.now_ms();
        if now < until {
            return false;
        }
        // Half-open: whoever moves the deadline probes; the others stay in-process meanwhile.
        let probing = now + REDIS_DEADLINE.as_millis() as u64;
        self.open_until
            .compare_exchange(until, probing, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }

    fn succeeded(&self) {
        if self.open_until.swap(0, Ordering::AcqRel) != 0 {
            tracing::info!("Redis answers again; limits and caches are shared again");
        }
    }

    fn failed(&self, what: &str, error: &dyn std::fmt::Display) {
        let until = self.now_ms() + BREAKER_OPEN.as_millis() as u64;
        if self.open_until.swap(until, Ordering::AcqRel) == 0 {
            tracing::warn!(
                error = %error,
                "{what} through Redis failed; limits are kept in-process and caches miss until it answers again"
            );
        }
    }

    /// Milliseconds since the epoch, at least 1 (0 means closed).
    fn now_ms(&self) -> u64 {
        (self.epoch.elapsed().as_millis() as u64).max(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_breaker_skips_redis_after_a_failure_then_lets_one_call_probe() {
        let breaker = Breaker::default();
        assert!(breaker.allow() && breaker.allow());
        breaker.failed("counting", &"connection refused");
        assert!(!breaker.allow());
        // Its time is up: one caller probes, the others stay in-process until it answers.
        breaker.open_until.store(1, Ordering::SeqCst);
        assert!(breaker.allow());
        assert!(!breaker.allow());
        breaker.failed("counting", &"connection refused");
        assert!(!breaker.allow());
        breaker.succeeded();
        assert!(breaker.allow() && breaker.allow());
    }

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

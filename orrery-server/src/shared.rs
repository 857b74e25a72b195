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

/// A rate limit's state after a request passed it: what the `RateLimit` and
/// `RateLimit-Policy` response headers report.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window {
    /// Requests allowed per window.
    pub limit: u32,
    /// Requests left now (this one counted).
    pub remaining: u32,
    /// Seconds until the current fixed window ends and its count starts to lapse.
    pub reset: u64,
    /// The window's length in seconds.
    pub seconds: u64,
}

/// A request a rate limit refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Refused {
    /// The limit's state (nothing remaining).
    pub window: Window,
    /// Seconds until a request would pass again, if no other arrives meanwhile.
    pub retry_after: u64,
}

/// One key's counts in the in-process sliding window.
#[derive(Debug)]
struct Counts {
    index: u64,
    previous: u64,
    current: u64,
}

/// The sliding window in Redis, atomically: reads both windows' counts, counts the hit when it
/// passes (`admits`, in Lua), returns the counts as they were before it.
static SLIDING_WINDOW: std::sync::LazyLock<redis::Script> = std::sync::LazyLock::new(|| {
    redis::Script::new(
        r"
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
local previous = tonumber(redis.call('GET', KEYS[2]) or '0')
local estimate = current + math.ceil(previous * tonumber(ARGV[2]) / tonumber(ARGV[3]))
if estimate < tonumber(ARGV[1]) then
  redis.call('INCR', KEYS[1])
  redis.call('EXPIRE', KEYS[1], tonumber(ARGV[4]))
end
return {previous, current}
",
    )
});

/// Whether a request passes a sliding window whose previous fixed window counted `previous`
/// (of which `weight` ms out of `window_ms` still lie within the window) and whose current one
/// counted `current`. The previous window's share is rounded up: a limit is never exceeded by
/// rounding.
fn admits(limit: u32, previous: u64, current: u64, weight: u64, window_ms: u64) -> bool {
    estimate(previous, current, weight, window_ms) < u64::from(limit)
}

/// The requests a sliding window holds: see [`admits`].
fn estimate(previous: u64, current: u64, weight: u64, window_ms: u64) -> u64 {
    current.saturating_add(previous.saturating_mul(weight).div_ceil(window_ms))
}

/// The outcome of a hit, from the counts before it, `elapsed_ms` into the current window.
fn decide(
    limit: u32,
    previous: u64,
    current: u64,
    elapsed_ms: u64,
    window_ms: u64,
) -> Result<Window, Refused> {
    let weight = window_ms - elapsed_ms;
    let estimate = estimate(previous, current, weight, window_ms);
    let mut window = Window {
        limit,
        remaining: 0,
        reset: weight.div_ceil(1000).max(1),
        seconds: window_ms / 1000,
    };
    if admits(limit, previous, current, weight, window_ms) {
        window.remaining = u32::try_from(u64::from(limit) - estimate - 1).unwrap_or(u32::MAX);
        return Ok(window);
    }
    // When the next request would pass: later in this window, as the previous one's share
    // shrinks to `room - 1`, if the current count leaves room; else once this window's own count,
    // become the previous, has shrunk to `limit - 1` in the next.
    let room = u64::from(limit).saturating_sub(current);
    let wait_ms = if limit == 0 {
        weight + window_ms
    } else if room > 0 && previous > 0 {
        let at = window_ms - ((room - 1) * window_ms / previous).min(window_ms);
        at.saturating_sub(elapsed_ms)
    } else {
        let into_next =
            window_ms - ((u64::from(limit) - 1) * window_ms / current.max(1)).min(window_ms);
        weight + into_next
    };
    Err(Refused {
        window,
        retry_after: wait_ms.div_ceil(1000).max(1),
    })
}

/// The in-process implementation.
#[derive(Debug)]
pub struct Local {
    windows: moka::future::Cache<String, Arc<Mutex<Counts>>>,
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
        Shared::redis_with_ca(url, None).await
    }

    /// Counters and caches in the Redis at `url`; with `rediss://`, over TLS (rustls), the
    /// server verified against `ca` (a PEM CA certificate) when given, else the system's roots.
    pub async fn redis_with_ca(url: &str, ca: Option<Vec<u8>>) -> anyhow::Result<Shared> {
        let client = match ca {
            Some(root_cert) => redis::Client::build_with_tls(
                url,
                redis::TlsCertificates {
                    client_tls: None,
                    root_cert: Some(root_cert),
                },
            )?,
            None => redis::Client::open(url)?,
        };
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

    /// Counts one request against `key` under `limit` requests per `window`, as a sliding
    /// window: the current fixed window's count plus the previous one's, weighted by how much
    /// of it still lies within `window` of now. Unlike fixed windows, a burst cannot pass twice
    /// the limit across a window's end. A refused request is not counted; `Err` carries the
    /// window and the seconds until a request would pass again.
    pub async fn hit(&self, key: &str, limit: u32, window: Duration) -> Result<Window, Refused> {
        let window_ms = window.as_millis().clamp(1000, u128::from(u32::MAX)) as u64;
        let now_ms = (OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000).max(0) as u64;
        let index = now_ms / window_ms;
        let elapsed_ms = now_ms % window_ms;
        let weight = window_ms - elapsed_ms;
        let (previous, current) = match self {
            Shared::Local(local) => local.hit(key, index, limit, weight, window_ms).await,
            Shared::Redis(remote) => {
                // `{key}` keeps both windows in one cluster slot.
                let current = format!("orrery:rl:{{{key}}}:{index}");
                let previous = format!("orrery:rl:{{{key}}}:{}", index.saturating_sub(1));
                let ttl = 2 * window_ms.div_ceil(1000) + 1;
                let counted = remote
                    .run("rate limiting", |mut conn| async move {
                        SLIDING_WINDOW
                            .key(current)
                            .key(previous)
                            .arg(limit)
                            .arg(weight)
                            .arg(window_ms)
                            .arg(ttl)
                            .invoke_async::<(u64, u64)>(&mut conn)
                            .await
                    })
                    .await;
                match counted {
                    Some(counts) => counts,
                    None => {
                        remote
                            .fallback
                            .hit(key, index, limit, weight, window_ms)
                            .await
                    }
                }
            }
        };
        decide(limit, previous, current, elapsed_ms, window_ms)
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

/// What the in-process cache of values may hold, in bytes.
const LOCAL_VALUE_BYTES: u64 = 256 << 20;

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
            // Values are layouts and pictures of up to a few megabytes each: the cache is bounded
            // by their bytes, not by their number.
            values: moka::future::Cache::builder()
                .weigher(|key: &String, (value, _): &(Arc<Vec<u8>>, Instant)| {
                    u32::try_from(key.len() + value.len()).unwrap_or(u32::MAX)
                })
                .max_capacity(LOCAL_VALUE_BYTES)
                .time_to_live(Duration::from_secs(3600))
                .build(),
        }
    }

    /// The sliding window of `key` at window `index`: returns the previous and the current
    /// window's counts before this hit, and counts the hit when [`admits`] lets it pass.
    async fn hit(
        &self,
        key: &str,
        index: u64,
        limit: u32,
        weight: u64,
        window_ms: u64,
    ) -> (u64, u64) {
        let slot = self
            .windows
            .get_with(key.to_owned(), async {
                Arc::new(Mutex::new(Counts {
                    index,
                    previous: 0,
                    current: 0,
                }))
            })
            .await;
        let mut slot = slot.lock().await;
        if slot.index != index {
            let previous = if slot.index + 1 == index {
                slot.current
            } else {
                0
            };
            *slot = Counts {
                index,
                previous,
                current: 0,
            };
        }
        let counts = (slot.previous, slot.current);
        if admits(limit, counts.0, counts.1, weight, window_ms) {
            slot.current = slot.current.saturating_add(1);
        }
        counts
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
        let hour = Duration::from_secs(3600);
        for left in [2, 1, 0] {
            let window = shared.hit("k", 3, hour).await.unwrap();
            assert_eq!(
                (window.limit, window.remaining, window.seconds),
                (3, left, 3600)
            );
            assert!((1..=3600).contains(&window.reset));
        }
        let refused = shared.hit("k", 3, hour).await.unwrap_err();
        assert_eq!(refused.window.remaining, 0);
        assert!((1..=7200).contains(&refused.retry_after));
        // Refused requests are not counted, and other keys have their own windows.
        assert!(shared.hit("k", 3, hour).await.is_err());
        assert_eq!(shared.hit("other", 3, hour).await.unwrap().remaining, 2);
    }

    #[test]
    fn the_previous_window_counts_by_how_much_of_it_is_still_in_reach() {
        let w = 60_000;
        // Ten requests last minute, a quarter into this one: ⌈7.5⌉ = 8 of them still count.
        assert!(admits(10, 10, 1, 45_000, w));
        assert!(!admits(10, 10, 2, 45_000, w));
        // A full window's burst at its end leaves nothing at the start of the next; the next
        // request passes once a tenth of the window has gone.
        assert!(!admits(10, 10, 0, 59_990, w));
        assert!(admits(10, 10, 0, 54_000, w));
        assert_eq!(
            decide(10, 0, 3, 0, w).unwrap(),
            Window {
                limit: 10,
                remaining: 6,
                reset: 60,
                seconds: 60
            }
        );
    }

    #[test]
    fn retry_after_is_when_the_next_request_would_pass() {
        let w = 60_000;
        // 10 last minute, 2 in this one, 5 s in: ⌈9.2⌉ + 2 ≥ 10. The next passes once
        // ⌈10·(60 − t)/60⌉ ≤ 7, from t = 18 s: 13 s from now.
        let refused = decide(10, 10, 2, 5_000, w).unwrap_err();
        assert_eq!(refused.retry_after, 13);
        assert!(!admits(10, 10, 2, w - 17_999, w));
        assert!(admits(10, 10, 2, w - 18_000, w));
        // This window is full: wait for its end, then 6 s into the next.
        let refused = decide(10, 0, 10, 30_000, w).unwrap_err();
        assert_eq!(refused.retry_after, 36);
        assert!(admits(10, 10, 0, w - 6_000, w));
        // A limit of zero never passes; the answer is still finite.
        assert_eq!(decide(0, 0, 0, 0, w).unwrap_err().retry_after, 120);
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

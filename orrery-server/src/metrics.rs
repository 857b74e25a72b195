//! Prometheus metrics, served as text at `/metrics`.

use std::sync::Mutex;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: String,
    route: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    method: String,
    route: String,
}

/// The server's metrics.
pub struct Metrics {
    registry: Mutex<Registry>,
    requests: Family<RequestLabels, Counter>,
    durations: Family<RouteLabels, Histogram>,
    /// Graphs saved (created or updated with a new version).
    pub graph_versions: Counter,
    /// Sign-ins that succeeded.
    pub signins: Counter,
    /// Requests refused by a rate limit or quota.
    pub limited: Counter,
    /// Seconds since the process started, set when scraped.
    uptime: Gauge,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Metrics {
        let mut registry = Registry::with_prefix("orrery");
        let requests = Family::<RequestLabels, Counter>::default();
        let durations = Family::<RouteLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.0005, 2.0, 16))
        });
        let graph_versions = Counter::default();
        let signins = Counter::default();
        let limited = Counter::default();
        let uptime = Gauge::default();
        registry.register(
            "http_requests",
            "HTTP requests by route and status",
            requests.clone(),
        );
        registry.register(
            "http_request_duration_seconds",
            "HTTP request latency",
            durations.clone(),
        );
        registry.register(
            "graph_versions",
            "Graph versions written",
            graph_versions.clone(),
        );
        registry.register("signins", "Successful sign-ins", signins.clone());
        registry.register(
            "requests_limited",
            "Requests refused by rate limits and quotas",
            limited.clone(),
        );
        registry.register(
            "uptime_seconds",
            "Seconds since the process started",
            uptime.clone(),
        );
        Metrics {
            registry: Mutex::new(registry),
            requests,
            durations,
            graph_versions,
            signins,
            limited,
            uptime,
        }
    }
}

impl Metrics {
    /// Records one finished request.
    pub fn observe(&self, method: &str, route: &str, status: u16, elapsed: Duration) {
        self.requests
            .get_or_create(&RequestLabels {
                method: method.to_owned(),
                route: route.to_owned(),
                status,
            })
            .inc();
        self.durations
            .get_or_create(&RouteLabels {
                method: method.to_owned(),
                route: route.to_owned(),
            })
            .observe(elapsed.as_secs_f64());
        if status == 429 || status == 402 {
            self.limited.inc();
        }
    }

    /// The Prometheus text exposition.
    pub fn render(&self, uptime: Duration) -> String {
        self.uptime.set(uptime.as_secs() as i64);
        let mut out = String::new();
        if let Ok(registry) = self.registry.lock() {
            let _ = prometheus_client::encoding::text::encode(&mut out, &registry);
        }
        out
    }
}

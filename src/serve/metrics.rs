//! Prometheus metrics of the server (`GET /metrics`).
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::{
    counter::Counter, family::Family, gauge::Gauge, histogram::Histogram,
};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(super) struct RequestLabels {
    pub route: String,
    pub status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(super) struct RouteLabels {
    pub route: String,
}

type Latency = Family<RouteLabels, Histogram, fn() -> Histogram>;

/// Prometheus metrics: requests by route and status, latency by route, texts per batch.
pub struct Metrics {
    pub(super) registry: Registry,
    pub(super) requests: Family<RequestLabels, Counter>,
    pub(super) latency: Latency,
    pub batch: Histogram,
    pub(super) refused: Counter,
    pub(super) rss: Gauge,
    pub(super) peak_rss: Gauge,
}

/// A `/proc/self/status` figure in bytes (`VmRSS`, `VmHWM`); 0 where there is none.
pub(super) fn proc_status_bytes(key: &str) -> i64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| {
            l.strip_prefix(key)?
                .trim_start_matches(':')
                .split_whitespace()
                .next()?
                .parse::<i64>()
                .ok()
        })
        .map_or(0, |kb| kb * 1024)
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("textgan");
        let requests = Family::<RequestLabels, Counter>::default();
        let latency: Latency = Family::new_with_constructor(|| {
            Histogram::new(prometheus_client::metrics::histogram::exponential_buckets(
                0.0005, 2.0, 18,
            ))
        });
        let batch = Histogram::new([1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0]);
        let refused = Counter::default();
        let (rss, peak_rss) = (Gauge::default(), Gauge::default());
        registry.register(
            "process_resident_memory_bytes",
            "Resident memory of the server process",
            rss.clone(),
        );
        registry.register(
            "process_peak_resident_memory_bytes",
            "Peak resident memory of the server process",
            peak_rss.clone(),
        );
        registry.register(
            "http_requests",
            "HTTP requests by route and status",
            requests.clone(),
        );
        registry.register(
            "http_request_duration_seconds",
            "Time to answer a request, by route",
            latency.clone(),
        );
        registry.register(
            "batch_texts",
            "Texts generated or scored in one batched forward pass",
            batch.clone(),
        );
        registry.register(
            "queue_full",
            "Requests refused because a run's queue was full",
            refused.clone(),
        );
        Metrics {
            registry,
            requests,
            latency,
            batch,
            refused,
            rss,
            peak_rss,
        }
    }
}

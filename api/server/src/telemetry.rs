//! Prometheus metrics, served at `/metrics`: what was ingested, how reconciles go, and the
//! sessions running now.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KindLabel {
    /// `user` or `ci`.
    pub kind: &'static str,
}

/// Every metric of the process.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    /// Events stored (ingest endpoint and operator sessions alike).
    pub events_accepted: Counter,
    /// Exact repeats of stored events.
    pub events_duplicate: Counter,
    /// Batches refused for invalid or conflicting events.
    pub batches_rejected: Counter,
    /// Time to reconcile one MirrordUsageReport.
    pub reconcile_duration: Histogram,
    /// Reconciles that failed.
    pub reconcile_errors: Counter,
    /// Sessions running now, by kind; set when scraped.
    pub open_sessions: Family<KindLabel, Gauge>,
    /// Sessions taken out of the session log by the retention.
    pub sessions_archived: Counter,
    /// The retention in seconds; 0 when every session is kept.
    pub retention_seconds: Gauge,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("mirrord_usage");
        let events_accepted = Counter::default();
        registry.register("events_accepted", "Session events stored", events_accepted.clone());
        let events_duplicate = Counter::default();
        registry.register(
            "events_duplicate",
            "Exact repeats of stored session events, ignored",
            events_duplicate.clone(),
        );
        let batches_rejected = Counter::default();
        registry.register(
            "ingest_batches_rejected",
            "Batches of session events refused as invalid or conflicting",
            batches_rejected.clone(),
        );
        let reconcile_duration = Histogram::new(exponential_buckets(0.001, 2.0, 14));
        registry.register(
            "reconcile_duration_seconds",
            "Time to compute and write one MirrordUsageReport's status",
            reconcile_duration.clone(),
        );
        let reconcile_errors = Counter::default();
        registry.register(
            "reconcile_errors",
            "MirrordUsageReport reconciles that failed",
            reconcile_errors.clone(),
        );
        let open_sessions = Family::<KindLabel, Gauge>::default();
        registry.register("open_sessions", "Sessions running now", open_sessions.clone());
        let sessions_archived = Counter::default();
        registry.register(
            "sessions_archived",
            "Sessions taken out of the session log by the retention (reports keep them)",
            sessions_archived.clone(),
        );
        let retention_seconds = Gauge::default();
        registry.register(
            "retention_seconds",
            "How long sessions stay in the session log after they end; 0: forever",
            retention_seconds.clone(),
        );
        Metrics {
            registry,
            events_accepted,
            events_duplicate,
            batches_rejected,
            reconcile_duration,
            reconcile_errors,
            open_sessions,
            sessions_archived,
            retention_seconds,
        }
    }
}

impl Metrics {
    /// The OpenMetrics text of every metric.
    pub fn encode(&self) -> String {
        let mut text = String::new();
        encode(&mut text, &self.registry).expect("writing to a String cannot fail");
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_are_named_with_the_product_prefix() {
        let metrics = Metrics::default();
        metrics.events_accepted.inc_by(3);
        metrics.open_sessions.get_or_create(&KindLabel { kind: "user" }).set(2);
        let text = metrics.encode();
        assert!(text.contains("mirrord_usage_events_accepted_total 3"), "{text}");
        assert!(text.contains("mirrord_usage_open_sessions{kind=\"user\"} 2"), "{text}");
        assert!(
            text.contains("mirrord_usage_reconcile_duration_seconds_bucket"),
            "{text}"
        );
    }
}

//! Prometheus metrics, served at `/metrics`: what was ingested, how reconciles go, and the
//! sessions running now.

use std::collections::HashMap;
use std::sync::Arc;

use mirrord_usage_crds::event::Event;
use mirrord_usage_crds::report::License;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use tokio::sync::watch;

use mirrord_usage_store::Error;
use mirrord_usage_store::calendar::Micros;
use mirrord_usage_store::ingest::EventProblem;
use mirrord_usage_store::model::{SessionPage, SessionQuery, Snapshot, SnapshotQuery};
use mirrord_usage_store::{IngestFailure, IngestOutcome, SessionState, UsageStore, Watched};

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

/// A store that counts what is ingested and says when sessions were stored (so reports can be
/// refreshed).
#[derive(Debug)]
pub struct MeasuredStore<S> {
    inner: S,
    metrics: Arc<Metrics>,
    stored: watch::Sender<u64>,
}

impl<S: UsageStore> MeasuredStore<S> {
    /// The store, and a receiver whose value changes after every batch that stored something.
    pub fn new(inner: S, metrics: Arc<Metrics>) -> (Self, watch::Receiver<u64>) {
        let (stored, receiver) = watch::channel(0);
        (MeasuredStore { inner, metrics, stored }, receiver)
    }
}

impl<S: UsageStore> UsageStore for MeasuredStore<S> {
    fn ingest(&self, events: &[Event]) -> Result<IngestOutcome, IngestFailure> {
        match self.inner.ingest(events) {
            Ok(outcome) => {
                self.metrics.events_accepted.inc_by(outcome.accepted);
                self.metrics.events_duplicate.inc_by(outcome.duplicates);
                if outcome.accepted > 0 {
                    self.stored.send_modify(|count| *count += 1);
                }
                Ok(outcome)
            }
            Err(failure) => {
                if matches!(failure, IngestFailure::Rejected(_)) {
                    self.metrics.batches_rejected.inc();
                }
                Err(failure)
            }
        }
    }

    fn check(&self, events: &[Event]) -> Result<Vec<EventProblem>, Error> {
        self.inner.check(events)
    }

    fn snapshot(&self, query: &SnapshotQuery) -> Result<Snapshot, Error> {
        self.inner.snapshot(query)
    }

    fn known_sessions(&self, session_ids: &[String]) -> Result<HashMap<String, SessionState>, Error> {
        self.inner.known_sessions(session_ids)
    }

    fn watched(&self) -> Result<Vec<Watched>, Error> {
        self.inner.watched()
    }

    fn watch(&self, seen: &[(String, Micros)]) -> Result<(), Error> {
        self.inner.watch(seen)
    }

    fn unwatch(&self, session_ids: &[String]) -> Result<(), Error> {
        self.inner.unwatch(session_ids)
    }

    fn record_license(&self, license: &License) -> Result<(), Error> {
        self.inner.record_license(license)
    }

    fn record_operator_ci_running(&self, count: Option<u64>) -> Result<bool, Error> {
        let changed = self.inner.record_operator_ci_running(count)?;
        if changed {
            self.stored.send_modify(|count| *count += 1);
        }
        Ok(changed)
    }

    fn sessions(&self, query: &SessionQuery) -> Result<SessionPage, Error> {
        self.inner.sessions(query)
    }

    fn ready(&self) -> Result<(), Error> {
        self.inner.ready()
    }

    fn expire(&self, horizon: Micros) -> Result<u64, Error> {
        let archived = self.inner.expire(horizon)?;
        self.metrics.sessions_archived.inc_by(archived);
        Ok(archived)
    }

    fn close(&self) -> Result<(), Error> {
        self.inner.close()
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

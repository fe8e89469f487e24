//! The one service every caller goes through: the JSON API, the aggregated API, the reconciler,
//! the operator's session sources and the demo read reports and store sessions through [`Usage`],
//! so what "now" is, what the installation says, what is counted and who hears that sessions
//! arrived are the same whoever asks.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use mirrord_usage_crds::event::Event;
use mirrord_usage_crds::report::{Interval, License, PrimaryKey, TrendReport, UsageReport, UsageSummary};
use mirrord_usage_report::{self as report, ReportSettings};
use mirrord_usage_store::calendar::{self, Micros};
use mirrord_usage_store::clock::Clock;
use mirrord_usage_store::ingest::{self, EventProblem};
use mirrord_usage_store::model::{Granularity, SessionPage, SessionQuery, SnapshotQuery};
use mirrord_usage_store::{IngestFailure, IngestOutcome, SessionState, UsageStore, Watched};
use tokio::sync::watch;

use crate::telemetry::Metrics;

/// Most trend buckets one request may ask for.
pub const MAX_TREND_BUCKETS: u64 = 10_000;

/// What the operator of the server configured about the installation.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Installation {
    pub total_licenses: Option<u64>,
    pub tier: Option<String>,
    pub cluster_name: Option<String>,
    pub chart_version: Option<String>,
}

/// The range and primary key of a report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RangeParams {
    pub from: Option<Micros>,
    pub to: Micros,
    pub primary_key: PrimaryKey,
}

/// Why the service could not answer.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Store(#[from] mirrord_usage_store::Error),
    #[error(
        "{buckets} {} buckets were asked for; at most {MAX_TREND_BUCKETS}: narrow the range or use a wider interval",
        interval.as_str()
    )]
    TooManyBuckets { buckets: u64, interval: Interval },
}

/// Reads reports and stores sessions; cheap to clone, every clone is the same service.
#[derive(Debug, Clone)]
pub struct Usage {
    store: Arc<dyn UsageStore>,
    installation: Arc<Installation>,
    clock: Arc<dyn Clock>,
    metrics: Arc<Metrics>,
    /// Changes after every write that can change a report.
    stored: Arc<watch::Sender<u64>>,
}

/// Runs blocking store work off the async threads.
async fn blocking<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> Result<T, Error> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|error| Error::Store(mirrord_usage_store::Error::Task(error.to_string())))
}

impl Usage {
    pub fn new(
        store: Arc<dyn UsageStore>,
        installation: Installation,
        clock: Arc<dyn Clock>,
        metrics: Arc<Metrics>,
    ) -> Self {
        Usage {
            store,
            installation: Arc::new(installation),
            clock,
            metrics,
            stored: Arc::new(watch::channel(0).0),
        }
    }

    /// The time every answer is computed at.
    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    pub fn installation(&self) -> &Installation {
        &self.installation
    }

    /// A receiver whose value changes after every write that can change a report (sessions
    /// stored, the operator's count of running CI sessions).
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.stored.subscribe()
    }

    fn notify(&self) {
        self.stored.send_modify(|count| *count += 1);
    }

    fn settings(&self, primary_key: PrimaryKey, now: Micros) -> ReportSettings {
        ReportSettings {
            primary_key,
            now,
            total_licenses: self.installation.total_licenses,
            tier: self.installation.tier.clone(),
            cluster_name: self.installation.cluster_name.clone(),
            chart_version: self.installation.chart_version.clone(),
        }
    }

    /// The usage report over a range, as of now.
    pub async fn report(&self, range: RangeParams) -> Result<UsageReport, Error> {
        let settings = self.settings(range.primary_key, calendar::to_micros(self.now()));
        let store = self.store.clone();
        let query = SnapshotQuery {
            from: range.from,
            to: range.to,
            granularity: Granularity::Month,
        };
        blocking(move || -> Result<UsageReport, Error> {
            let snapshot = store.snapshot(&query)?;
            Ok(report::usage_report(&snapshot, &settings))
        })
        .await?
    }

    /// The headline figures of a range, without per-user rows.
    pub async fn summary(&self, range: RangeParams) -> Result<UsageSummary, Error> {
        Ok(UsageSummary::of(&self.report(range).await?))
    }

    /// Usage over time, in buckets of `interval`.
    pub async fn trends(&self, range: RangeParams, interval: Interval) -> Result<TrendReport, Error> {
        let now = calendar::to_micros(self.now());
        let store = self.store.clone();
        let granularity = if interval == Interval::Month {
            Granularity::Month
        } else {
            Granularity::Day
        };
        let query = SnapshotQuery {
            from: range.from,
            to: range.to,
            granularity,
        };
        blocking(move || -> Result<TrendReport, Error> {
            let snapshot = store.snapshot(&query)?;
            let buckets = report::bucket_count(interval, snapshot.from, snapshot.to);
            if buckets > MAX_TREND_BUCKETS {
                return Err(Error::TooManyBuckets { buckets, interval });
            }
            Ok(report::trends(&snapshot, range.primary_key, interval, now))
        })
        .await?
    }

    /// One page of the session log.
    pub async fn sessions(&self, query: SessionQuery) -> Result<SessionPage, Error> {
        let store = self.store.clone();
        Ok(blocking(move || store.sessions(&query)).await??)
    }

    /// Sessions running now: (user, CI).
    pub async fn running(&self) -> Result<(u64, u64), Error> {
        let now = calendar::to_micros(self.now());
        let store = self.store.clone();
        // An empty range: only what is running now is read.
        let probe = SnapshotQuery {
            from: Some(now),
            to: now,
            granularity: Granularity::Day,
        };
        let snapshot = blocking(move || store.snapshot(&probe)).await??;
        let ci = snapshot.running.iter().filter(|session| session.ci).count() as u64;
        Ok((snapshot.running.len() as u64 - ci, ci))
    }

    /// Whether a batch could be stored now; the error says why not.
    pub async fn ready(&self) -> Result<(), Error> {
        let store = self.store.clone();
        Ok(blocking(move || store.ready()).await??)
    }

    /// Stores a batch, all or nothing: events that break the rules of ingest or contradict
    /// what is stored reject the whole batch. Counts what happened and tells subscribers when
    /// something was stored. Blocking: call it off the async threads.
    pub fn ingest(&self, events: &[Event]) -> Result<IngestOutcome, IngestFailure> {
        let invalid = self.invalid(events);
        let result = if invalid.is_empty() {
            self.store.ingest(events)
        } else {
            Err(IngestFailure::Rejected(invalid))
        };
        match &result {
            Ok(outcome) => {
                self.metrics.events_accepted.inc_by(outcome.accepted);
                self.metrics.events_duplicate.inc_by(outcome.duplicates);
                if outcome.accepted > 0 {
                    self.notify();
                }
            }
            Err(IngestFailure::Rejected(_)) => {
                self.metrics.batches_rejected.inc();
            }
            Err(IngestFailure::Store(_)) => {}
        }
        result
    }

    /// What [`Usage::ingest`] would reject in `events`, without storing anything.
    pub fn check(&self, events: &[Event]) -> Result<Vec<EventProblem>, mirrord_usage_store::Error> {
        let mut problems = self.invalid(events);
        problems.extend(self.store.check(events)?);
        problems.sort_by_key(|problem| problem.index);
        Ok(problems)
    }

    fn invalid(&self, events: &[Event]) -> Vec<EventProblem> {
        let now = self.now();
        events
            .iter()
            .enumerate()
            .filter_map(|(index, event)| {
                ingest::validate(event, now)
                    .err()
                    .map(|message| EventProblem::invalid(index, Some(event.session_id()), message))
            })
            .collect()
    }

    /// What is stored of each of these sessions; unknown ones are left out. Blocking.
    pub fn known_sessions(&self, session_ids: &[String]) -> Result<HashMap<String, SessionState>, Error> {
        Ok(self.store.known_sessions(session_ids)?)
    }

    /// Sessions being watched on the operator, oldest id first. Blocking.
    pub fn watched(&self) -> Result<Vec<Watched>, Error> {
        Ok(self.store.watched()?)
    }

    /// Records that these sessions were seen running at these times. Blocking.
    pub fn watch(&self, seen: &[(String, Micros)]) -> Result<(), Error> {
        Ok(self.store.watch(seen)?)
    }

    /// Stops watching these sessions. Blocking.
    pub fn unwatch(&self, session_ids: &[String]) -> Result<(), Error> {
        Ok(self.store.unwatch(session_ids)?)
    }

    /// Remembers the license the operator reports. Blocking.
    pub fn record_license(&self, license: &License) -> Result<(), Error> {
        Ok(self.store.record_license(license)?)
    }

    /// Remembers how many CI sessions the operator's summary counts as running now (`None` when
    /// the summary is not the source), telling subscribers when that changed. Blocking.
    pub fn record_operator_ci_running(&self, count: Option<u64>) -> Result<(), Error> {
        if self.store.record_operator_ci_running(count)? {
            self.notify();
        }
        Ok(())
    }

    /// Takes the sessions that ended before `horizon` out of the session log (see
    /// [`UsageStore::expire`]). Blocking.
    pub fn expire(&self, horizon: Micros) -> Result<u64, Error> {
        let archived = self.store.expire(horizon)?;
        self.metrics.sessions_archived.inc_by(archived);
        Ok(archived)
    }

    /// Moves every stored batch into the database file itself, at a clean stop.
    pub async fn close(&self) -> Result<(), Error> {
        let store = self.store.clone();
        Ok(blocking(move || store.close()).await??)
    }
}

//! A store that says when sessions were stored, so reports can be refreshed.

use std::collections::HashMap;

use mirrord_usage_api::Error;
use mirrord_usage_api::calendar::Micros;
use mirrord_usage_api::ingest::EventProblem;
use mirrord_usage_api::model::{Snapshot, SnapshotQuery};
use mirrord_usage_api::store::{IngestFailure, IngestOutcome, SessionState, UsageStore, Watched};
use mirrord_usage_crds::event::Event;
use tokio::sync::watch;

/// Wraps a store; every batch that changes something bumps the counter.
#[derive(Debug)]
pub struct NotifyingStore<S> {
    inner: S,
    stored: watch::Sender<u64>,
}

impl<S: UsageStore> NotifyingStore<S> {
    pub fn new(inner: S) -> (Self, watch::Receiver<u64>) {
        let (stored, receiver) = watch::channel(0);
        (NotifyingStore { inner, stored }, receiver)
    }
}

impl<S: UsageStore> UsageStore for NotifyingStore<S> {
    fn ingest(&self, events: &[Event]) -> Result<IngestOutcome, IngestFailure> {
        let outcome = self.inner.ingest(events)?;
        if outcome.accepted > 0 {
            self.stored.send_modify(|count| *count += 1);
        }
        Ok(outcome)
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

    fn watch(&self, session_ids: &[String], seen_at: Micros) -> Result<(), Error> {
        self.inner.watch(session_ids, seen_at)
    }

    fn unwatch(&self, session_ids: &[String]) -> Result<(), Error> {
        self.inner.unwatch(session_ids)
    }
}

//! Where sessions live. Everything that reads or writes storage goes through [`UsageStore`];
//! nothing outside this crate writes SQL. The crate also holds what every layer above shares:
//! the model a report is computed from, the calendar and the clock, and the rules of ingest.

mod blocks;
pub mod calendar;
pub mod clock;
mod error;
pub mod ingest;
mod maintenance;
pub mod model;
pub mod peaks;
mod sqlite;

use std::collections::HashMap;

use mirrord_usage_crds::event::Event;
use mirrord_usage_crds::report::License;

use crate::calendar::Micros;

use crate::ingest::EventProblem;
use crate::model::{SessionPage, SessionQuery, Snapshot, SnapshotQuery};

pub use error::{Error, Result};
pub use maintenance::{BackupSummary, backup, restore};
pub use sqlite::SqliteStore;

/// What a stored batch did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct IngestOutcome {
    /// Events that changed what is stored.
    pub accepted: u64,
    /// Exact repeats of stored events.
    pub duplicates: u64,
}

/// Why a batch was not stored.
#[derive(Debug, thiserror::Error)]
pub enum IngestFailure {
    /// Some events contradict what is stored or are impossible; nothing of the batch was kept.
    #[error("{} event(s) rejected", .0.len())]
    Rejected(Vec<EventProblem>),
    #[error(transparent)]
    Store(#[from] Error),
}

impl From<rusqlite::Error> for IngestFailure {
    fn from(error: rusqlite::Error) -> Self {
        IngestFailure::Store(error.into())
    }
}

/// What is stored of a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionState {
    pub start: Option<Micros>,
    pub end: Option<Micros>,
    /// The stored start is an estimate (the session was first seen already running).
    pub start_estimated: bool,
}

impl SessionState {
    pub fn is_running(&self) -> bool {
        self.start.is_some() && self.end.is_none()
    }
}

/// A session started from what the operator showed as running, and when it was last seen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Watched {
    pub session_id: String,
    pub last_seen: Micros,
    /// What is stored of it (both `None` if nothing is).
    pub state: SessionState,
}

/// Storage of sessions. Implementations serialise writers; readers see committed batches whole.
pub trait UsageStore: Send + Sync + std::fmt::Debug + 'static {
    /// Stores a batch of validated events, all or nothing.
    fn ingest(&self, events: &[Event]) -> Result<IngestOutcome, IngestFailure>;

    /// What [`UsageStore::ingest`] would reject in `events`, without storing anything.
    fn check(&self, events: &[Event]) -> Result<Vec<EventProblem>, Error>;

    /// Reads what a report over a range needs, consistently.
    fn snapshot(&self, query: &SnapshotQuery) -> Result<Snapshot, Error>;

    /// What is stored of each of these sessions; unknown ones are left out.
    fn known_sessions(&self, session_ids: &[String]) -> Result<HashMap<String, SessionState>, Error>;

    /// Sessions being watched on the operator, oldest id first.
    fn watched(&self) -> Result<Vec<Watched>, Error>;

    /// Records that these sessions were seen running at these times (starting to watch new
    /// ones); a time never moves back.
    fn watch(&self, seen: &[(String, Micros)]) -> Result<(), Error>;

    /// Stops watching these sessions.
    fn unwatch(&self, session_ids: &[String]) -> Result<(), Error>;

    /// Remembers the license the operator reports.
    fn record_license(&self, license: &License) -> Result<(), Error>;

    /// Remembers how many CI sessions the operator's summary counts as running now (`None`
    /// when the summary is not the source). Returns whether that changed what is stored.
    fn record_operator_ci_running(&self, count: Option<u64>) -> Result<bool, Error>;

    /// Sessions matching `query`, newest start first, one page.
    fn sessions(&self, query: &SessionQuery) -> Result<SessionPage, Error>;

    /// Takes the sessions that ended before `horizon` out of the session log, keeping what
    /// reports need of them; events from before `horizon` of sessions not stored are ignored from
    /// then on. Returns how many sessions were archived.
    fn expire(&self, horizon: Micros) -> Result<u64, Error>;

    /// Whether a batch could be stored now; the error says why not.
    fn ready(&self) -> Result<(), Error>;

    /// Moves every stored batch into the database file itself, so that the file alone holds
    /// them (at a clean stop).
    fn close(&self) -> Result<(), Error>;
}

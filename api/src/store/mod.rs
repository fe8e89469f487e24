//! Where sessions live. Everything that reads or writes storage goes through [`UsageStore`];
//! nothing outside this module writes SQL.

mod blocks;
pub mod sqlite;

use mirrord_usage_crds::event::Event;

use crate::error::Error;
use crate::ingest::EventProblem;
use crate::model::{Snapshot, SnapshotQuery};

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

/// Storage of sessions. Implementations serialise writers; readers see committed batches whole.
pub trait UsageStore: Send + Sync + std::fmt::Debug + 'static {
    /// Stores a batch of validated events, all or nothing.
    fn ingest(&self, events: &[Event]) -> Result<IngestOutcome, IngestFailure>;

    /// What [`UsageStore::ingest`] would reject in `events`, without storing anything.
    fn check(&self, events: &[Event]) -> Result<Vec<EventProblem>, Error>;

    /// Reads what a report over a range needs, consistently.
    fn snapshot(&self, query: &SnapshotQuery) -> Result<Snapshot, Error>;
}

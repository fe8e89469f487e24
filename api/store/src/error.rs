//! Failures of the store: the database, its files and its health.

/// Failures of the machinery (storage, files), as opposed to bad input.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),

    #[error("could not bring the database schema up to date: {0}")]
    Migration(#[from] rusqlite_migration::Error),

    #[error(
        "the database at {path} was written by a newer mirrord-usage (schema version {found}, this build knows up to {known}); upgrade mirrord-usage or point --db at another file"
    )]
    SchemaTooNew { path: String, found: usize, known: usize },

    #[error("could not open the database at {path}: {source}")]
    Open { path: String, source: rusqlite::Error },

    #[error(
        "the database at {path} is damaged ({detail}); stop mirrord-usage and restore the latest backup \
         (docs/operations.md, \"Restore\"), or move the file and its -wal and -shm files away to start empty"
    )]
    Damaged { path: String, detail: String },

    #[error(
        "the database at {path} cannot be written (a read-only file, directory or volume); \
         give mirrord-usage write access to it and to its directory"
    )]
    ReadOnly { path: String },

    #[error("{path}: {source}")]
    File { path: String, source: std::io::Error },

    #[error("the store stopped taking writes after an error: {0}; restart mirrord-usage to check the database")]
    Unhealthy(String),

    #[error("a page of sessions must hold at least one session, not {limit}; clamp the limit before asking the store")]
    EmptyPage { limit: usize },

    #[error("background task failed: {0}")]
    Task(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

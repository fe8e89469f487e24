//! Errors of the store and the server, and the JSON shape every HTTP error takes.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

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

    #[error("could not write the report as {format}: {message}")]
    Export { format: &'static str, message: String },

    #[error("a page of sessions must hold at least one session, not {limit}; clamp the limit before asking the store")]
    EmptyPage { limit: usize },

    #[error("background task failed: {0}")]
    Task(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// An HTTP error: `{"error": code, "message": sentence, "details": [...]}`.
#[derive(Debug, Clone, Serialize)]
pub struct ApiError {
    #[serde(skip)]
    pub status: StatusCode,
    pub error: &'static str,
    pub message: String,
    pub details: Vec<serde_json::Value>,
}

impl ApiError {
    pub fn new(status: StatusCode, error: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            error,
            message: message.into(),
            details: Vec::new(),
        }
    }

    pub fn with_details(mut self, details: Vec<serde_json::Value>) -> Self {
        self.details = details;
        self
    }

    pub fn bad_request(error: &'static str, message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::BAD_REQUEST, error, message)
    }

    /// A query parameter that cannot be used; `message` names it and its value.
    pub fn invalid_parameter(message: impl Into<String>) -> Self {
        ApiError::bad_request("invalid_parameter", message)
    }

    pub fn unauthorized(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::FORBIDDEN, "forbidden", message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    pub fn internal(error: &Error) -> Self {
        tracing::error!(%error, "request failed");
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            format!("the server could not answer: {error}"),
        )
    }
}

impl From<Error> for ApiError {
    fn from(error: Error) -> Self {
        ApiError::internal(&error)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(&self)).into_response()
    }
}

//! The usage store, the ingest path, the report engine and the HTTP API of mirrord-usage.

pub mod aggregated;
pub mod auth;
pub mod calendar;
pub mod clock;
pub mod connections;
pub mod dashboard;
pub mod error;
pub mod export;
pub mod human;
pub mod ingest;
pub mod model;
pub mod openapi;
pub mod report;
pub mod server;
pub mod simulation;
pub mod store;
pub mod telemetry;
pub mod tls;

pub use error::{ApiError, Error, Result};

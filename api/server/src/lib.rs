//! The HTTP faces of mirrord-usage: the design RFC's JSON API, the Kubernetes aggregated API,
//! the ingest endpoint, authentication, TLS, metrics and the embedded dashboard.

pub mod aggregated;
pub mod auth;
pub mod connections;
pub mod dashboard;
pub mod error;
mod export;
pub mod human;
mod ingest;
mod openapi;
pub mod query;
pub mod server;
pub mod telemetry;
pub mod tls;
pub mod usage;

pub use error::ApiError;

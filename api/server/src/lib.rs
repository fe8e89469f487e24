//! The HTTP faces of mirrord-usage: the design RFC's JSON API, the Kubernetes aggregated API,
//! the ingest endpoint, authentication, TLS, metrics and the embedded dashboard.

pub mod aggregated;
pub mod auth;
pub mod connections;
pub mod dashboard;
pub mod error;
pub mod export;
pub mod human;
pub mod ingest;
pub mod openapi;
pub mod server;
pub mod telemetry;
pub mod tls;
pub mod usage;

pub use error::ApiError;

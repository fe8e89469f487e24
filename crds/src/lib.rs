//! Types that cross a process boundary: what clients send to the ingest endpoint, what the
//! report endpoints answer, and the identifiers every part of mirrord-usage agrees on.
//! Nothing here does I/O.

pub mod analytics;
pub mod event;
pub mod operator;
pub mod rbac;
pub mod report;
pub mod session_record;
pub mod time;
pub mod ui_types;
pub mod usage_report;

/// API group of the `MirrordUsageReport` custom resource.
pub const USAGE_GROUP: &str = "usage.mirrord.metalbear.co";

/// Version of the `MirrordUsageReport` custom resource.
pub const USAGE_VERSION: &str = "v1alpha1";

/// API group of the aggregated API (usage reports, users and sessions read through
/// kube-apiserver).
pub const ANALYTICS_GROUP: &str = "analytics.mirrord.metalbear.co";

/// Version of the aggregated API.
pub const ANALYTICS_VERSION: &str = "v1alpha1";

/// Field manager for everything mirrord-usage writes to the Kubernetes API.
pub const FIELD_MANAGER: &str = "mirrord-usage";

/// Prefix of the plain HTTP API (the design RFC's endpoints).
pub const API_PREFIX: &str = "/api/v1";

/// Header carrying the license key on the plain HTTP API.
pub const LICENSE_KEY_HEADER: &str = "x-license-key";

/// Most events one ingest request may carry.
pub const MAX_EVENTS_PER_BATCH: usize = 10_000;

/// Largest ingest request body, in bytes.
pub const MAX_INGEST_BODY_BYTES: usize = 16 * 1024 * 1024;

//! The report engine: turns a [`Snapshot`] into the usage report and its trends. Pure: no
//! storage, no clock (the caller says what "now" is), so every rule can be tested directly.

use mirrord_usage_crds::report::PrimaryKey;
use mirrord_usage_store::calendar::Micros;
#[cfg(doc)]
use mirrord_usage_store::model::Snapshot;

mod activity;
#[cfg(test)]
mod fixtures;
mod trends;
mod usage;

pub use trends::{bucket_count, bucket_start, trends};
pub use usage::{days_in, usage_report};

/// What a report is asked for, besides the stored data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportSettings {
    pub primary_key: PrimaryKey,
    pub now: Micros,
    pub total_licenses: Option<u64>,
    pub tier: Option<String>,
    pub cluster_name: Option<String>,
    pub chart_version: Option<String>,
}

/// Tier reported when none is configured.
pub const UNKNOWN_TIER: &str = "Unknown";

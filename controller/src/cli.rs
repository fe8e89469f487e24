//! Command line of `mirrord-usage`. Every flag can also be set through an environment variable
//! named `MIRRORD_USAGE_<FLAG>`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use crate::session_sources::ci_users::CiUsers;

#[derive(Debug, Parser)]
#[command(
    name = "mirrord-usage",
    version,
    about = "Usage analytics for mirrord: sessions, reports and the dashboard"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the API and the dashboard from a SQLite database, without Kubernetes.
    Serve(ServeArgs),
    /// Fill a fresh database with a simulated organisation and serve it, with new sessions
    /// arriving while it runs.
    Demo(DemoArgs),
    /// Serve and keep MirrordUsageReports up to date in a Kubernetes cluster, collecting
    /// sessions from the mirrord operator.
    Controller(ControllerArgs),
    /// Write a consistent copy of a database, also while a server uses it. To restore, stop the
    /// server and put the copy in place of the database (docs/operations.md).
    Backup(BackupArgs),
    /// Put a backup in place of a database that no server is using (stop the server first).
    Restore(RestoreArgs),
    /// Print the MirrordUsageReport CustomResourceDefinition as YAML.
    Crdgen,
}

#[derive(Debug, Clone, Args)]
pub struct RestoreArgs {
    /// Database to replace.
    #[arg(
        long,
        env = "MIRRORD_USAGE_DB",
        default_value = "./mirrord-usage.db",
        value_name = "PATH"
    )]
    pub db: PathBuf,
    /// The backup to put in its place (written by `mirrord-usage backup`).
    #[arg(value_name = "BACKUP")]
    pub backup: PathBuf,
}

#[derive(Debug, Clone, Args)]
pub struct BackupArgs {
    /// Database to copy.
    #[arg(
        long,
        env = "MIRRORD_USAGE_DB",
        default_value = "./mirrord-usage.db",
        value_name = "PATH"
    )]
    pub db: PathBuf,
    /// Where to write the copy; a file already there is replaced once the copy is whole.
    #[arg(value_name = "FILE")]
    pub target: PathBuf,
}

/// What the server reports about the installation.
#[derive(Debug, Clone, Args)]
pub struct InstallationArgs {
    /// Seats bought (reported as generalMetrics.totalLicenses).
    #[arg(long, env = "MIRRORD_USAGE_LICENSES", value_name = "N")]
    pub licenses: Option<u64>,
    /// Subscription tier (reported as generalMetrics.tier; "Unknown" when unset).
    #[arg(long, env = "MIRRORD_USAGE_TIER", value_name = "NAME")]
    pub tier: Option<String>,
    /// Name of the cluster shown in the dashboard.
    #[arg(long, env = "MIRRORD_USAGE_CLUSTER_NAME", value_name = "NAME")]
    pub cluster_name: Option<String>,
    /// Version of the Helm chart that installed this server, shown in the dashboard.
    #[arg(long, env = "MIRRORD_USAGE_CHART_VERSION", value_name = "VERSION")]
    pub chart_version: Option<String>,
}

#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// SQLite database file; created if missing.
    #[arg(
        long,
        env = "MIRRORD_USAGE_DB",
        default_value = "./mirrord-usage.db",
        value_name = "PATH"
    )]
    pub db: PathBuf,
    /// Address to listen on; port 0 picks a free port.
    #[arg(
        long,
        env = "MIRRORD_USAGE_LISTEN",
        default_value = "127.0.0.1:8080",
        value_name = "ADDR"
    )]
    pub listen: SocketAddr,
    /// Key every /api/v1 request must carry in the x-license-key header.
    #[arg(long, env = "MIRRORD_USAGE_LICENSE_KEY", value_name = "KEY", hide_env_values = true)]
    pub license_key: Option<String>,
    /// How long a session stays in the session log after it ended, e.g. 400d, 52w or 2y (at
    /// least a day); reports keep counting it. Default: forever.
    #[arg(long, env = "MIRRORD_USAGE_RETENTION", value_name = "DURATION", value_parser = parse_retention)]
    pub retention: Option<Duration>,
    #[command(flatten)]
    pub installation: InstallationArgs,
}

/// Reads a retention: a whole number and a unit, `h`, `d`, `w` or `y` (365 days).
pub fn parse_retention(text: &str) -> Result<Duration, String> {
    let usage = || format!("'{text}' is not a retention: write a number and a unit, h, d, w or y (e.g. 400d)");
    let split = text.find(|c: char| !c.is_ascii_digit()).ok_or_else(usage)?;
    let (number, unit) = text.split_at(split);
    let number: u64 = number.parse().map_err(|_| usage())?;
    let hours = match unit {
        "h" => 1,
        "d" => 24,
        "w" => 7 * 24,
        "y" => 365 * 24,
        _ => return Err(usage()),
    };
    let retention = Duration::from_secs(number.saturating_mul(hours * 3600));
    if retention < Duration::from_secs(24 * 3600) {
        return Err(format!(
            "a retention of {text} is less than a day; keep sessions at least 1d"
        ));
    }
    Ok(retention)
}

#[derive(Debug, Clone, Args)]
pub struct DemoArgs {
    /// SQLite database file to create; it must not exist. Default: a new data directory.
    #[arg(long, env = "MIRRORD_USAGE_DB", value_name = "PATH")]
    pub db: Option<PathBuf>,
    /// Address to listen on; port 0 picks a free port.
    #[arg(
        long,
        env = "MIRRORD_USAGE_LISTEN",
        default_value = "127.0.0.1:8080",
        value_name = "ADDR"
    )]
    pub listen: SocketAddr,
    /// Key for the API; default: a random one, printed.
    #[arg(long, env = "MIRRORD_USAGE_LICENSE_KEY", value_name = "KEY", hide_env_values = true)]
    pub license_key: Option<String>,
    /// Seats bought.
    #[arg(long, env = "MIRRORD_USAGE_LICENSES", default_value_t = 200, value_name = "N")]
    pub licenses: u64,
    /// Subscription tier.
    #[arg(long, env = "MIRRORD_USAGE_TIER", default_value = "Enterprise", value_name = "NAME")]
    pub tier: String,
    /// Name of the cluster shown in the dashboard.
    #[arg(
        long,
        env = "MIRRORD_USAGE_CLUSTER_NAME",
        default_value = "demo-cluster",
        value_name = "NAME"
    )]
    pub cluster_name: String,
    /// Version of the Helm chart shown in the dashboard.
    #[arg(long, env = "MIRRORD_USAGE_CHART_VERSION", value_name = "VERSION")]
    pub chart_version: Option<String>,
    /// Seed of the simulation; default: random.
    #[arg(long, env = "MIRRORD_USAGE_SEED", value_name = "N")]
    pub seed: Option<u64>,
}

/// How the controller serves HTTPS.
#[derive(Debug, Clone, Args)]
pub struct TlsArgs {
    /// Serving certificate (PEM, with its chain), reloaded when the file changes. Without it, a
    /// self-signed pair is generated at start.
    #[arg(long = "tls-cert-file", env = "MIRRORD_USAGE_TLS_CERT_FILE", value_name = "PATH")]
    pub cert_file: Option<PathBuf>,
    /// Private key of --tls-cert-file (PEM), reloaded when the file changes.
    #[arg(
        long = "tls-private-key-file",
        env = "MIRRORD_USAGE_TLS_PRIVATE_KEY_FILE",
        value_name = "PATH"
    )]
    pub private_key_file: Option<PathBuf>,
    /// DNS names and IP addresses of the self-signed certificate (repeat, or separate with commas).
    #[arg(
        long = "tls-san",
        env = "MIRRORD_USAGE_TLS_SAN",
        value_delimiter = ',',
        default_values_t = ["localhost".to_owned(), "127.0.0.1".to_owned()],
        value_name = "NAME"
    )]
    pub san: Vec<String>,
}

#[derive(Debug, Clone, Args)]
pub struct ControllerArgs {
    #[command(flatten)]
    pub serve: ServeArgs,
    #[command(flatten)]
    pub tls: TlsArgs,
    /// Seconds a reviewed bearer token is remembered (TokenReview).
    #[arg(
        long,
        env = "MIRRORD_USAGE_AUTHENTICATION_CACHE_TTL",
        default_value_t = 10,
        value_name = "SECONDS"
    )]
    pub authentication_cache_ttl: u64,
    /// Seconds an authorization decision is remembered (SubjectAccessReview); 0: ask every time.
    #[arg(
        long,
        env = "MIRRORD_USAGE_AUTHORIZATION_CACHE_TTL",
        default_value_t = 10,
        value_name = "SECONDS"
    )]
    pub authorization_cache_ttl: u64,
    /// Seconds between reads of the mirrord operator's running-sessions summary, used when its
    /// per-session records are not served (and between checks whether they are); 0 turns
    /// reading sessions from the operator off.
    #[arg(
        long,
        env = "MIRRORD_USAGE_OPERATOR_POLL_INTERVAL",
        default_value_t = 5,
        value_name = "SECONDS"
    )]
    pub operator_poll_interval: u64,
    /// Kubernetes users whose sessions are CI runs, as comma-separated globs (e.g.
    /// `system:serviceaccount:ci:*`). Only needed with operators that have no per-session
    /// records: their summary does not mark CI sessions.
    #[arg(
        long,
        env = "MIRRORD_USAGE_CI_KUBERNETES_USERS",
        default_value = "",
        value_name = "GLOB,..."
    )]
    pub ci_kubernetes_users: CiUsers,
    /// Create the reports current-month and all-time when missing.
    #[arg(long, env = "MIRRORD_USAGE_DEFAULT_REPORTS", default_value_t = true, action = clap::ArgAction::Set, value_name = "BOOL")]
    pub default_reports: bool,
    /// Namespace of the Lease that makes this the only active controller of the cluster;
    /// default: the pod's namespace (POD_NAMESPACE), else `default`.
    #[arg(long, env = "MIRRORD_USAGE_LEASE_NAMESPACE", value_name = "NAMESPACE")]
    pub lease_namespace: Option<String>,
    /// Seconds a controller that stopped renewing keeps the Lease.
    #[arg(
        long,
        env = "MIRRORD_USAGE_LEASE_DURATION",
        default_value_t = 15,
        value_name = "SECONDS"
    )]
    pub lease_duration: u64,
    /// Least seconds between report refreshes caused by arriving sessions.
    #[arg(
        long,
        env = "MIRRORD_USAGE_REPORT_TRIGGER_INTERVAL",
        default_value_t = 3,
        value_name = "SECONDS"
    )]
    pub report_trigger_interval: u64,
}

#[cfg(test)]
mod tests {
    use super::parse_retention;
    use std::time::Duration;

    #[test]
    fn a_retention_is_a_number_and_a_unit_of_at_least_a_day() {
        let day = Duration::from_secs(24 * 3600);
        assert_eq!(parse_retention("400d"), Ok(400 * day));
        assert_eq!(parse_retention("2w"), Ok(14 * day));
        assert_eq!(parse_retention("1y"), Ok(365 * day));
        assert_eq!(parse_retention("48h"), Ok(2 * day));
        for wrong in ["", "d", "400", "4 d", "1.5y", "-1d", "3m"] {
            assert!(parse_retention(wrong).unwrap_err().contains("e.g. 400d"), "{wrong}");
        }
        assert!(parse_retention("12h").unwrap_err().contains("less than a day"));
    }
}

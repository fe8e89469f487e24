//! The HTTP server: ingest, reports, health, the OpenAPI document and the dashboard.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, OriginalUri, Query, Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router, middleware};
use chrono::{DateTime, Utc};
use mirrord_usage_crds::MAX_INGEST_BODY_BYTES;
use mirrord_usage_crds::analytics::{MirrordSession, ObjectList};
use mirrord_usage_crds::event::IngestResponse;
use mirrord_usage_crds::report::{Interval, PrimaryKey, TrendReport, UsageReport, UsageSummary};
use tokio::net::TcpListener;
use tower_http::timeout::RequestBodyTimeoutLayer;
use tower_http::trace::TraceLayer;

use crate::auth::{self, Auth, Permission, Principal};
use crate::error::ApiError;
use crate::telemetry::{KindLabel, Metrics};
use crate::{connections, dashboard, export, ingest, openapi};
use mirrord_usage_report::{self as report, ReportSettings};
use mirrord_usage_store::Error;
use mirrord_usage_store::calendar::{self, Micros};
use mirrord_usage_store::clock::Clock;
use mirrord_usage_store::model::{Granularity, SnapshotQuery};
use mirrord_usage_store::{IngestFailure, UsageStore};

/// Most trend buckets one request may ask for.
pub const MAX_TREND_BUCKETS: u64 = 10_000;

/// What the operator of the server configured about the installation.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Installation {
    pub total_licenses: Option<u64>,
    pub tier: Option<String>,
    pub cluster_name: Option<String>,
    pub chart_version: Option<String>,
}

/// Everything a request handler needs.
#[derive(Debug, Clone)]
pub struct AppState {
    pub store: Arc<dyn UsageStore>,
    pub installation: Installation,
    pub auth: Auth,
    pub clock: Arc<dyn Clock>,
    pub metrics: Arc<Metrics>,
}

/// Runs blocking store work off the async threads.
async fn blocking<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| ApiError::internal(&Error::Task(e.to_string())))
}

/// The routes of the plain HTTP API (the design RFC's), behind authentication; nested under
/// `/api`.
pub fn api_routes(state: AppState) -> Router {
    Router::new()
        .route("/v1/events", post(post_events).layer(DefaultBodyLimit::disable()))
        .route("/v1/reports/usage", get(get_usage_report))
        .route("/v1/reports/usage/trends", get(get_trends))
        .route("/v1/reports/usage/summary", get(get_summary))
        .route("/v1/reports/usage/sessions", get(get_sessions))
        .fallback(api_not_found)
        .layer(middleware::from_fn_with_state(
            state.auth.clone(),
            auth::authenticate::<ApiError>,
        ))
        .with_state(state)
}

/// The whole server: API, health, OpenAPI document and dashboard.
pub fn router(state: AppState) -> Router {
    let store = state.store.clone();
    let metrics_state = state.clone();
    Router::new()
        .route("/metrics", get(move || metrics(metrics_state.clone())))
        .nest("/api", api_routes(state))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(move || readyz(store.clone())))
        .route("/openapi.json", get(|| async { Json(openapi::document()) }))
        .fallback(dashboard::serve)
        .layer(RequestBodyTimeoutLayer::new(connections::BODY_TIMEOUT))
        // The path only: query strings may carry the license key (`?key=`).
        .layer(TraceLayer::new_for_http().make_span_with(|request: &Request| {
            tracing::debug_span!("request", method = %request.method(), path = %request.uri().path())
        }))
}

/// Serves plain HTTP until `shutdown` completes, with the bounds of [`connections::serve`].
pub async fn serve(
    listener: TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    connections::serve(
        listener,
        router,
        shutdown,
        |stream, _| async move { Some((stream, None)) },
    )
    .await
}

/// Ready when a batch could be stored now: the database takes a write.
async fn readyz(store: Arc<dyn UsageStore>) -> Response {
    match blocking(move || store.ready()).await {
        Ok(Ok(())) => "ok".into_response(),
        Ok(Err(error)) => (StatusCode::SERVICE_UNAVAILABLE, format!("store unavailable: {error}")).into_response(),
        Err(error) => error.into_response(),
    }
}

async fn metrics(state: AppState) -> Response {
    let now = calendar::to_micros(state.clock.now());
    let store = state.store.clone();
    // An empty range: only what is running now is read.
    let probe = SnapshotQuery {
        from: Some(now),
        to: now,
        granularity: Granularity::Day,
    };
    if let Ok(Ok(snapshot)) = blocking(move || store.snapshot(&probe)).await {
        let ci = snapshot.running.iter().filter(|session| session.ci).count() as i64;
        let user = snapshot.running.len() as i64 - ci;
        state
            .metrics
            .open_sessions
            .get_or_create(&KindLabel { kind: "user" })
            .set(user);
        state
            .metrics
            .open_sessions
            .get_or_create(&KindLabel { kind: "ci" })
            .set(ci);
    }
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics.encode(),
    )
        .into_response()
}

async fn api_not_found(OriginalUri(uri): OriginalUri, request: Request) -> ApiError {
    ApiError::not_found(format!("no API endpoint {} {}", request.method(), uri.path()))
}

async fn post_events(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    body: Body,
) -> Result<Json<IngestResponse>, ApiError> {
    state.auth.require(&principal, Permission::IngestEvents).await?;
    let metrics = state.metrics.clone();
    // Rejections by the store are counted by the store; these are the ones before it.
    let counted = |error: ApiError| {
        metrics.batches_rejected.inc();
        error
    };
    let body = read_body(body).await.map_err(counted)?;
    let now = state.clock.now();
    let parsed = blocking(move || ingest::parse_batch(&body, now))
        .await?
        .map_err(counted)?;
    let store = state.store.clone();
    if !parsed.problems.is_empty() {
        // Say everything that is wrong at once: also what the well-formed events would hit.
        let found = blocking(move || store.check(&parsed.events).map(|problems| (parsed, problems))).await??;
        let (mut parsed, problems) = found;
        parsed.merge(problems);
        return Err(counted(ingest::rejection(parsed.problems)));
    }
    let events = parsed.events;
    let count = events.len();
    match blocking(move || store.ingest(&events)).await? {
        Ok(outcome) => {
            tracing::debug!(
                events = count,
                accepted = outcome.accepted,
                duplicates = outcome.duplicates,
                "batch stored"
            );
            Ok(Json(IngestResponse {
                accepted: outcome.accepted,
                duplicates: outcome.duplicates,
            }))
        }
        Err(IngestFailure::Rejected(problems)) => Err(ingest::rejection(problems)),
        Err(IngestFailure::Store(error)) => Err(error.into()),
    }
}

/// Reads a request body of at most [`MAX_INGEST_BODY_BYTES`]: `413` only when it is larger, `400`
/// when it cannot be read whole (cut short, or not sent in time).
async fn read_body(body: Body) -> Result<Bytes, ApiError> {
    axum::body::to_bytes(body, MAX_INGEST_BODY_BYTES)
        .await
        .map_err(|error| {
            let error = error.into_inner();
            if error.is::<http_body_util::LengthLimitError>() {
                ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "batch_too_large",
                    format!("the request body is larger than {MAX_INGEST_BODY_BYTES} bytes; split the batch"),
                )
            } else {
                ApiError::bad_request(
                    "unreadable_body",
                    format!("the request body could not be read whole: {error}; send it again"),
                )
            }
        })
}

/// Range, primary key and format as asked in a query string.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RangeParams {
    pub from: Option<Micros>,
    pub to: Micros,
    pub primary_key: PrimaryKey,
}

fn parse_time(params: &HashMap<String, String>, name: &str) -> Result<Option<DateTime<Utc>>, ApiError> {
    params
        .get(name)
        .filter(|value| !value.is_empty())
        .map(|value| {
            mirrord_usage_crds::time::parse_rfc3339(value).map_err(|error| {
                ApiError::invalid_parameter(format!(
                    "{name} must be an RFC 3339 time such as 2026-11-01T00:00:00Z, not '{value}': {error}"
                ))
            })
        })
        .transpose()
}

/// Reads `from`, `to` and `primaryKey` (also spelt `primary_key`); `to` defaults to `now`.
pub fn range_params(params: &HashMap<String, String>, now: DateTime<Utc>) -> Result<RangeParams, ApiError> {
    let from = parse_time(params, "from")?;
    let to = parse_time(params, "to")?.unwrap_or(now);
    if let Some(from) = from
        && from >= to
    {
        return Err(ApiError::bad_request(
            "invalid_range",
            format!(
                "from ({}) must be earlier than to ({})",
                from.to_rfc3339(),
                to.to_rfc3339()
            ),
        ));
    }
    let primary_key = match params.get("primaryKey").or_else(|| params.get("primary_key")) {
        None => PrimaryKey::default(),
        Some(value) => value.parse().map_err(ApiError::invalid_parameter)?,
    };
    Ok(RangeParams {
        from: from.map(calendar::to_micros),
        to: calendar::to_micros(to),
        primary_key,
    })
}

/// The downloadable forms of a usage report (`format=csv|xlsx`; JSON is the default answer).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileFormat {
    Csv,
    Xlsx,
}

impl AppState {
    fn settings(&self, primary_key: PrimaryKey, now: Micros) -> ReportSettings {
        ReportSettings {
            primary_key,
            now,
            total_licenses: self.installation.total_licenses,
            tier: self.installation.tier.clone(),
            cluster_name: self.installation.cluster_name.clone(),
            chart_version: self.installation.chart_version.clone(),
        }
    }

    /// Computes the usage report over a range, as of the clock's now.
    pub async fn compute_usage_report(&self, range: RangeParams) -> Result<UsageReport, ApiError> {
        let now = calendar::to_micros(self.clock.now());
        let settings = self.settings(range.primary_key, now);
        let store = self.store.clone();
        let query = SnapshotQuery {
            from: range.from,
            to: range.to,
            granularity: Granularity::Month,
        };
        Ok(blocking(move || -> Result<UsageReport, Error> {
            let snapshot = store.snapshot(&query)?;
            Ok(report::usage_report(&snapshot, &settings))
        })
        .await??)
    }

    /// Computes the usage report for a caller already allowed to read reports, leaving out
    /// per-user rows they may not read.
    pub async fn usage_report(
        &self,
        principal: &Principal,
        range: RangeParams,
        inactive: Option<Inactive>,
    ) -> Result<UsageReport, ApiError> {
        let may_read_users = self.auth.allows(principal, Permission::ReadUsers).await?;
        let mut report = self.compute_usage_report(range).await?;
        if let Some(inactive) = inactive {
            inactive.keep_only_inactive(&mut report);
        }
        if !may_read_users {
            report.user_metrics = None;
            report.user_metrics_omitted = Some(format!(
                "{}: per-user rows are left out",
                auth::denial(principal, Permission::ReadUsers)
            ));
        }
        Ok(report)
    }

    /// Computes usage trends over a range (for a caller already allowed to read reports).
    pub async fn trends(&self, range: RangeParams, interval: Interval) -> Result<TrendReport, ApiError> {
        let now = calendar::to_micros(self.clock.now());
        let store = self.store.clone();
        let granularity = if interval == Interval::Month {
            Granularity::Month
        } else {
            Granularity::Day
        };
        let query = SnapshotQuery {
            from: range.from,
            to: range.to,
            granularity,
        };
        blocking(move || -> Result<TrendReport, ApiError> {
            let snapshot = store.snapshot(&query)?;
            let buckets = report::bucket_count(interval, snapshot.from, snapshot.to);
            if buckets > MAX_TREND_BUCKETS {
                return Err(ApiError::bad_request(
                    "too_many_buckets",
                    format!(
                        "{buckets} {} buckets were asked for; at most {MAX_TREND_BUCKETS}: narrow the range or use a wider interval",
                        interval.as_str()
                    ),
                ));
            }
            Ok(report::trends(&snapshot, range.primary_key, interval, now))
        })
        .await?
    }
}

/// Reads `format`: `None` for JSON (also when absent).
pub fn report_format(params: &HashMap<String, String>) -> Result<Option<FileFormat>, ApiError> {
    match params.get("format").map(String::as_str) {
        None | Some("json") => Ok(None),
        Some("csv") => Ok(Some(FileFormat::Csv)),
        Some("xlsx") => Ok(Some(FileFormat::Xlsx)),
        Some(other) => Err(ApiError::invalid_parameter(format!(
            "format must be one of json, csv, xlsx, not '{other}'"
        ))),
    }
}

/// `inactiveDays=N`: only the users without a session in the last N days of the range, the
/// longest idle first (the seats an admin can reclaim, with the range running to now).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Inactive {
    pub days: u32,
}

/// At most ten years.
const MAX_INACTIVE_DAYS: u32 = 3650;

impl Inactive {
    /// Reads `inactiveDays`; `None` when absent.
    pub fn from_params(params: &HashMap<String, String>) -> Result<Option<Inactive>, ApiError> {
        let Some(value) = params.get("inactiveDays").filter(|value| !value.is_empty()) else {
            return Ok(None);
        };
        match value.parse::<u32>() {
            Ok(days) if (1..=MAX_INACTIVE_DAYS).contains(&days) => Ok(Some(Inactive { days })),
            _ => Err(ApiError::invalid_parameter(format!(
                "inactiveDays must be a whole number of days from 1 to {MAX_INACTIVE_DAYS}, not '{value}'"
            ))),
        }
    }

    /// Drops the rows with a session at or after the cut-off; a session exactly at it counts.
    fn keep_only_inactive(self, report: &mut UsageReport) {
        let cutoff = report.general_metrics.report_period.to - chrono::Duration::days(i64::from(self.days));
        if let Some(users) = report.user_metrics.as_mut() {
            users.retain(|user| user.last_session < cutoff);
            users.sort_by(|a, b| a.last_session.cmp(&b.last_session).then_with(|| a.id.cmp(&b.id)));
        }
    }
}

/// Reads `interval` (`day` when absent).
pub fn interval_param(params: &HashMap<String, String>) -> Result<Interval, ApiError> {
    params.get("interval").map_or(Ok(Interval::Day), |value| {
        value.parse().map_err(ApiError::invalid_parameter)
    })
}

impl AppState {
    /// The usage report as a CSV or XLSX download, for a caller already allowed to read reports;
    /// files list users, so they also need that permission.
    pub async fn report_file(
        &self,
        principal: &Principal,
        range: RangeParams,
        format: FileFormat,
        inactive: Option<Inactive>,
    ) -> Result<Response, ApiError> {
        self.auth.require(principal, Permission::ReadUsers).await?;
        let mut report = self.compute_usage_report(range).await?;
        if let Some(inactive) = inactive {
            inactive.keep_only_inactive(&mut report);
        }
        let name = format!(
            "mirrord-usage-{}-{}",
            report.general_metrics.report_period.from.format("%Y%m%dT%H%M%SZ"),
            report.general_metrics.report_period.to.format("%Y%m%dT%H%M%SZ")
        );
        let (content_type, extension, bytes) = match format {
            FileFormat::Csv => (
                "text/csv; charset=utf-8",
                "csv",
                export::csv(&report, range.primary_key)?,
            ),
            FileFormat::Xlsx => (
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                "xlsx",
                blocking(move || export::xlsx(&report, range.primary_key)).await??,
            ),
        };
        Ok((
            [
                (header::CONTENT_TYPE, content_type.to_owned()),
                (
                    header::CONTENT_DISPOSITION,
                    format!("attachment; filename=\"{name}.{extension}\""),
                ),
            ],
            bytes,
        )
            .into_response())
    }
}

async fn get_usage_report(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let format = report_format(&params)?;
    let range = range_params(&params, state.clock.now())?;
    let inactive = Inactive::from_params(&params)?;
    state.auth.require(&principal, Permission::ReadReports).await?;
    match format {
        None => Ok(Json(state.usage_report(&principal, range, inactive).await?).into_response()),
        Some(format) => state.report_file(&principal, range, format, inactive).await,
    }
}

async fn get_trends(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Json<TrendReport>, ApiError> {
    let range = range_params(&params, state.clock.now())?;
    let interval = interval_param(&params)?;
    state.auth.require(&principal, Permission::ReadReports).await?;
    Ok(Json(state.trends(range, interval).await?))
}

async fn get_summary(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Json<UsageSummary>, ApiError> {
    let range = range_params(&params, state.clock.now())?;
    state.auth.require(&principal, Permission::ReadReports).await?;
    Ok(Json(UsageSummary::of(&state.compute_usage_report(range).await?)))
}

/// The session audit log, as the aggregated API's `mirrordsessions` lists it.
async fn get_sessions(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Json<ObjectList<MirrordSession>>, ApiError> {
    state.auth.require(&principal, Permission::ReadSessions).await?;
    let (sessions, continue_token) = crate::aggregated::session_page(&state, &params).await?;
    Ok(Json(ObjectList::new(
        MirrordSession::LIST_KIND,
        sessions,
        continue_token,
    )))
}

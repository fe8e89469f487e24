//! The HTTP server: ingest, reports, health, the OpenAPI document and the dashboard.

use std::future::Future;

use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, OriginalUri, Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router, middleware};
use mirrord_usage_crds::MAX_INGEST_BODY_BYTES;
use mirrord_usage_crds::analytics::{MirrordSession, ObjectList};
use mirrord_usage_crds::event::IngestResponse;
use mirrord_usage_crds::report::{TrendReport, UsageReport, UsageSummary};
use tokio::net::TcpListener;
use tower_http::timeout::RequestBodyTimeoutLayer;
use tower_http::trace::TraceLayer;

use crate::auth::{self, Auth, Permission, Principal};
use crate::error::ApiError;
use crate::query::{FileFormat, Inactive, Params, ReportQuery, SessionListQuery};
use crate::telemetry::KindLabel;
use crate::usage::{RangeParams, Usage};
use crate::{connections, dashboard, export, ingest, openapi};
use mirrord_usage_store::Error;
use mirrord_usage_store::IngestFailure;

/// Everything a request handler needs.
#[derive(Debug, Clone)]
pub struct AppState {
    pub usage: Usage,
    pub auth: Auth,
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
    let usage = state.usage.clone();
    let metrics_usage = state.usage.clone();
    Router::new()
        .route("/metrics", get(move || metrics(metrics_usage.clone())))
        .nest("/api", api_routes(state))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(move || readyz(usage.clone())))
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
async fn readyz(usage: Usage) -> Response {
    match usage.ready().await {
        Ok(()) => "ok".into_response(),
        Err(error) => (StatusCode::SERVICE_UNAVAILABLE, format!("store unavailable: {error}")).into_response(),
    }
}

async fn metrics(usage: Usage) -> Response {
    if let Ok((user, ci)) = usage.running().await {
        let open = &usage.metrics().open_sessions;
        open.get_or_create(&KindLabel { kind: "user" }).set(user as i64);
        open.get_or_create(&KindLabel { kind: "ci" }).set(ci as i64);
    }
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        usage.metrics().encode(),
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
    let metrics = state.usage.metrics().clone();
    // Rejections by the service are counted by it; these are the ones before it.
    let counted = |error: ApiError| {
        metrics.batches_rejected.inc();
        error
    };
    let body = read_body(body).await.map_err(counted)?;
    let now = state.usage.now();
    let parsed = blocking(move || ingest::parse_batch(&body, now))
        .await?
        .map_err(counted)?;
    let usage = state.usage.clone();
    if !parsed.problems.is_empty() {
        // Say everything that is wrong at once: also what the well-formed events would hit.
        let found = blocking(move || usage.check(&parsed.events).map(|problems| (parsed, problems))).await??;
        let (mut parsed, problems) = found;
        parsed.merge(problems);
        return Err(counted(ingest::rejection(parsed.problems)));
    }
    let events = parsed.events;
    let count = events.len();
    match blocking(move || usage.ingest(&events)).await? {
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

impl AppState {
    /// Computes the usage report for a caller already allowed to read reports, leaving out
    /// per-user rows they may not read.
    pub async fn usage_report(
        &self,
        principal: &Principal,
        range: RangeParams,
        inactive: Option<Inactive>,
    ) -> Result<UsageReport, ApiError> {
        let may_read_users = self.auth.allows(principal, Permission::ReadUsers).await?;
        let mut report = self.usage.report(range).await?;
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
        let mut report = self.usage.report(range).await?;
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
    Params(query): Params<ReportQuery>,
) -> Result<Response, ApiError> {
    let format = query.format()?;
    let range = query.range(state.usage.now())?;
    let inactive = query.inactive()?;
    state.auth.require(&principal, Permission::ReadReports).await?;
    match format {
        None => Ok(Json(state.usage_report(&principal, range, inactive).await?).into_response()),
        Some(format) => state.report_file(&principal, range, format, inactive).await,
    }
}

async fn get_trends(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    Params(query): Params<ReportQuery>,
) -> Result<Json<TrendReport>, ApiError> {
    let range = query.range(state.usage.now())?;
    let interval = query.interval()?;
    state.auth.require(&principal, Permission::ReadReports).await?;
    Ok(Json(state.usage.trends(range, interval).await?))
}

async fn get_summary(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    Params(query): Params<ReportQuery>,
) -> Result<Json<UsageSummary>, ApiError> {
    let range = query.range(state.usage.now())?;
    state.auth.require(&principal, Permission::ReadReports).await?;
    Ok(Json(state.usage.summary(range).await?))
}

/// The session audit log, as the aggregated API's `mirrordsessions` lists it.
async fn get_sessions(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    Params(query): Params<SessionListQuery>,
) -> Result<Json<ObjectList<MirrordSession>>, ApiError> {
    state.auth.require(&principal, Permission::ReadSessions).await?;
    let (sessions, continue_token) = crate::aggregated::session_page(&state, &query).await?;
    Ok(Json(ObjectList::new(
        MirrordSession::LIST_KIND,
        sessions,
        continue_token,
    )))
}

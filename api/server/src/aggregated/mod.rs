//! The aggregated API `analytics.mirrord.metalbear.co/v1alpha1`: usage reports, per-user usage and
//! the session audit log as Kubernetes resources, reached through kube-apiserver (or directly)
//! with Kubernetes credentials, and the dashboard under the same path.

pub mod discovery;
pub mod status;
pub mod table;

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::middleware;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{any, get};
use axum::{Extension, Json, Router};
use chrono::{DateTime, SecondsFormat, Utc};
use mirrord_usage_crds::analytics::{
    MirrordSession, MirrordUser, ObjectList, SessionCi, SessionTarget, UsageReportObject, resources,
};
use mirrord_usage_crds::report::{PrimaryKey, UsageSummary};
use mirrord_usage_crds::{ANALYTICS_GROUP, ANALYTICS_VERSION};

use crate::auth::{self, BoxFuture, Permission, Principal};
use crate::dashboard;
use crate::error::ApiError;
use crate::query::{ReportQuery, SessionListQuery};
use crate::server::AppState;
use mirrord_usage_store::calendar::{self, Micros};
use mirrord_usage_store::model::{SessionCursor, SessionQuery, SessionRecord};
use status::Status;

/// A query string deserialised into `T`, refused as a `Status` like every error of this face.
#[derive(Debug, Clone, Default)]
pub struct KubeParams<T>(pub T);

impl<T: serde::de::DeserializeOwned + Send, S: Send + Sync> axum::extract::FromRequestParts<S> for KubeParams<T> {
    type Rejection = Status;

    async fn from_request_parts(parts: &mut axum::http::request::Parts, _state: &S) -> Result<Self, Self::Rejection> {
        crate::query::read(parts).map(KubeParams).map_err(Status::from)
    }
}

/// Sessions per page when a list request sets no `limit`.
pub const DEFAULT_SESSION_LIMIT: usize = 500;
/// Most sessions one page may hold.
pub const MAX_SESSION_LIMIT: usize = 5_000;

/// `/apis/analytics.mirrord.metalbear.co/v1alpha1`.
pub fn prefix() -> String {
    format!("/apis/{ANALYTICS_GROUP}/{ANALYTICS_VERSION}")
}

/// The range and primary key a named report stands for right now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NamedRange {
    pub from: Option<DateTime<Utc>>,
    pub to: DateTime<Utc>,
    pub primary_key: PrimaryKey,
}

/// Looks up the `MirrordUsageReport`s that `usagereports/<name>` refers to.
pub trait ReportDefinitions: Send + Sync + fmt::Debug {
    /// `Ok(None)`: no report of that name.
    fn resolve<'a>(&'a self, name: &'a str, now: DateTime<Utc>) -> BoxFuture<'a, Result<Option<NamedRange>, ApiError>>;
}

#[derive(Debug, Clone)]
struct Aggregated {
    app: AppState,
    reports: Arc<dyn ReportDefinitions>,
}

/// Discovery, OpenAPI and the group version's resources; every route needs an authenticated
/// caller, and each resource its own permission.
pub fn routes(app: AppState, reports: Arc<dyn ReportDefinitions>) -> Router {
    let auth = app.auth.clone();
    let prefix = prefix();
    let state = Aggregated { app, reports };
    Router::new()
        .route("/apis", get(|| async { Json(discovery::api_group_list()) }))
        .route(
            &format!("/apis/{ANALYTICS_GROUP}"),
            get(|| async { Json(discovery::api_group()) }),
        )
        .route(&prefix, get(|| async { Json(discovery::resource_list()) }))
        .route("/openapi/v3", get(|| async { Json(discovery::openapi_index()) }))
        .route(
            &format!("/openapi/v3/{}", discovery::openapi_path()),
            get(|| async { Json(discovery::openapi_document()) }),
        )
        .nest(
            &prefix,
            Router::new()
                .route("/usagereports", any(reports_are_not_listed))
                .route("/usagereports/{name}", get(get_report))
                .route("/usagereports/{name}/trends", get(get_trends))
                .route("/usagereports/{name}/summary", get(get_summary))
                .route("/mirrordusers", get(list_users))
                .route("/mirrordsessions", get(list_sessions))
                .fallback(not_found),
        )
        .layer(middleware::from_fn_with_state(auth, auth::authenticate::<Status>))
        .with_state(state)
}

/// The dashboard under the group version's path, for `kubectl proxy` users; its files are not
/// secret, the data it then reads is authorised call by call.
pub fn dashboard_routes() -> Router {
    let base = format!("{}/{}", prefix(), resources::DASHBOARD);
    Router::new()
        .route(&base, get(to_dashboard_directory))
        .route(&format!("{base}/"), get(dashboard_file))
        .route(&format!("{base}/{{*path}}"), get(dashboard_file))
}

/// `…/dashboard` to `…/dashboard/`, keeping the query (the dashboard's view lives there). A page
/// rather than a redirect status: kube-apiserver refuses redirects from aggregated servers. The
/// link is relative, so it also works behind `kubectl proxy` and other path-preserving proxies.
async fn to_dashboard_directory(uri: Uri) -> Html<String> {
    let query = uri.query().map(|query| format!("?{query}")).unwrap_or_default();
    let target = html_escape(&format!("{}/{query}", resources::DASHBOARD));
    Html(format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>mirrord usage</title>\
         <link rel=\"icon\" href=\"data:,\"><meta http-equiv=\"refresh\" content=\"0; url={target}\"></head>\
         <body><a href=\"{target}\">Open the dashboard</a></body></html>\n"
    ))
}

fn html_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('"', "&quot;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

async fn dashboard_file(path: Option<Path<String>>) -> Response {
    let path = path.map(|Path(path)| path).unwrap_or_default();
    dashboard::serve(format!("/{path}").parse().unwrap_or_else(|_| Uri::from_static("/"))).await
}

async fn not_found(uri: Uri) -> Status {
    Status::from(ApiError::not_found(format!(
        "the server could not find the requested resource {}",
        uri.path()
    )))
}

async fn reports_are_not_listed() -> Status {
    Status::from(ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "usagereports can only be read one at a time: get usagereports/<name>, where <name> is a MirrordUsageReport (kubectl get mirrordusagereports)",
    ))
}

impl Aggregated {
    /// The named report's range, overridden by `from`, `to` and `primaryKey` in the query.
    async fn named_range(&self, name: &str, query: &ReportQuery) -> Result<crate::usage::RangeParams, Status> {
        let now = self.app.usage.now();
        let Some(defined) = self.reports.resolve(name, now).await? else {
            return Err(Status::about(
                ApiError::not_found(format!(
                    "{}.{ANALYTICS_GROUP} \"{name}\" not found: there is no MirrordUsageReport named '{name}' (kubectl get mirrordusagereports lists them)",
                    resources::USAGE_REPORTS
                )),
                resources::USAGE_REPORTS,
                name,
            ));
        };
        let mut merged = query.clone();
        let time = |at: DateTime<Utc>| at.to_rfc3339_opts(SecondsFormat::Micros, true);
        if let Some(from) = defined.from {
            merged.from.get_or_insert_with(|| time(from));
        }
        merged.to.get_or_insert_with(|| time(defined.to));
        merged
            .primary_key
            .get_or_insert_with(|| defined.primary_key.as_str().to_owned());
        Ok(merged.range(now)?)
    }
}

async fn get_report(
    State(state): State<Aggregated>,
    Extension(principal): Extension<Principal>,
    Path(name): Path<String>,
    KubeParams(query): KubeParams<ReportQuery>,
) -> Result<Response, Status> {
    state.app.auth.require(&principal, Permission::ReadReports).await?;
    let format = query.format()?;
    let range = state.named_range(&name, &query).await?;
    let inactive = query.inactive()?;
    match format {
        None => {
            let report = state.app.usage_report(&principal, range, inactive).await?;
            Ok(Json(UsageReportObject::new(name, report)).into_response())
        }
        Some(format) => Ok(state.app.report_file(&principal, range, format, inactive).await?),
    }
}

async fn get_trends(
    State(state): State<Aggregated>,
    Extension(principal): Extension<Principal>,
    Path(name): Path<String>,
    KubeParams(query): KubeParams<ReportQuery>,
) -> Result<Response, Status> {
    state.app.auth.require(&principal, Permission::ReadReports).await?;
    let range = state.named_range(&name, &query).await?;
    let interval = query.interval()?;
    Ok(Json(state.app.usage.trends(range, interval).await.map_err(ApiError::from)?).into_response())
}

async fn get_summary(
    State(state): State<Aggregated>,
    Extension(principal): Extension<Principal>,
    Path(name): Path<String>,
    KubeParams(query): KubeParams<ReportQuery>,
) -> Result<Response, Status> {
    state.app.auth.require(&principal, Permission::ReadReports).await?;
    let range = state.named_range(&name, &query).await?;
    let report = state.app.usage.report(range).await.map_err(ApiError::from)?;
    Ok(Json(UsageSummary::of(&report)).into_response())
}

async fn list_users(
    State(state): State<Aggregated>,
    Extension(principal): Extension<Principal>,
    headers: HeaderMap,
    KubeParams(query): KubeParams<ReportQuery>,
) -> Result<Response, Status> {
    state.app.auth.require(&principal, Permission::ReadUsers).await?;
    let range = query.range(state.app.usage.now())?;
    let report = state.app.usage.report(range).await.map_err(ApiError::from)?;
    let users: Vec<MirrordUser> = report
        .user_metrics
        .unwrap_or_default()
        .into_iter()
        .map(|usage| MirrordUser::new(range.primary_key, usage))
        .collect();
    Ok(list_response(
        &headers,
        MirrordUser::LIST_KIND,
        users,
        None,
        table::USER_COLUMNS,
        table::user_rows,
    ))
}

/// A list as a `Table` when the client asks for one (`kubectl get`), else as the objects.
fn list_response<T: serde::Serialize>(
    headers: &HeaderMap,
    list_kind: &str,
    items: Vec<T>,
    continue_token: Option<String>,
    columns: &[table::Column],
    rows: impl FnOnce(&[T]) -> Vec<table::Row>,
) -> Response {
    match table::requested_version(headers) {
        Some(version) => Json(table::table(version, columns, rows(&items), continue_token)).into_response(),
        None => Json(ObjectList::new(list_kind, items, continue_token)).into_response(),
    }
}

/// Filters of the audit log from the query: plain parameters, or `fieldSelector` terms as
/// `kubectl get --field-selector` sends them.
fn session_query(params: &SessionListQuery, now: DateTime<Utc>) -> Result<SessionQuery, ApiError> {
    let mut filters: HashMap<&str, String> = HashMap::new();
    if let Some(selector) = params.field_selector.as_deref().filter(|selector| !selector.is_empty()) {
        for term in selector.split(',') {
            if term.contains("!=") {
                return Err(ApiError::invalid_parameter(format!(
                    "fieldSelector term '{term}': only = and == are supported"
                )));
            }
            let Some((field, value)) = term.split_once('=') else {
                return Err(ApiError::invalid_parameter(format!(
                    "fieldSelector term '{term}' is not field=value"
                )));
            };
            if !matches!(field, "user" | "namespace" | "ci" | "closeReason") {
                return Err(ApiError::invalid_parameter(format!(
                    "fieldSelector field '{field}' is not supported; use user, namespace, ci or closeReason"
                )));
            }
            let value = value.strip_prefix('=').unwrap_or(value);
            filters.insert(field, value.to_owned());
        }
    }
    let plain = [
        ("user", &params.user),
        ("namespace", &params.namespace),
        ("ci", &params.ci),
        ("closeReason", &params.close_reason),
    ];
    for (field, value) in plain {
        if let Some(value) = value {
            filters.insert(field, value.clone());
        }
    }
    let range = params.report.range(now)?;
    let ci = match filters.get("ci").map(String::as_str) {
        None | Some("") => None,
        Some("true") => Some(true),
        Some("false") => Some(false),
        Some(other) => {
            return Err(ApiError::invalid_parameter(format!(
                "ci must be true or false, not '{other}'"
            )));
        }
    };
    let limit = match params.limit.as_deref().filter(|limit| !limit.is_empty()) {
        None => DEFAULT_SESSION_LIMIT,
        Some(value) => match value.parse::<usize>() {
            // Kubernetes lists treat 0 as "no limit"; a page is still bounded here.
            Ok(0) => MAX_SESSION_LIMIT,
            Ok(limit) => limit.min(MAX_SESSION_LIMIT),
            Err(_) => {
                return Err(ApiError::invalid_parameter(format!(
                    "limit must be a whole number, not '{value}'"
                )));
            }
        },
    };
    let after = match params.continue_token.as_deref().filter(|token| !token.is_empty()) {
        None => None,
        Some(token) => Some(SessionCursor::decode(token).map_err(|message| {
            ApiError::new(
                StatusCode::GONE,
                "expired",
                format!("{message}; start the list again without continue"),
            )
        })?),
    };
    let non_empty = |field: &str| filters.get(field).filter(|value| !value.is_empty()).cloned();
    Ok(SessionQuery {
        from: range.from,
        to: range.to,
        user: non_empty("user"),
        namespace: non_empty("namespace"),
        ci,
        close_reason: non_empty("closeReason"),
        limit,
        after,
    })
}

fn session_object(record: SessionRecord, now: Micros) -> MirrordSession {
    let start = calendar::from_micros(record.start);
    let end = record.end.map(calendar::from_micros);
    let until = record.end.unwrap_or(now.max(record.start));
    MirrordSession {
        api_version: mirrord_usage_crds::analytics::api_version(),
        kind: MirrordSession::KIND.to_owned(),
        metadata: mirrord_usage_crds::analytics::ObjectMeta {
            name: record.session_id.clone(),
            creation_timestamp: Some(start),
        },
        session_id: record.session_id,
        machine_id: record.machine_id,
        kubernetes_username: record.kubernetes_username,
        client_username: record.client_username,
        client_hostname: record.client_hostname,
        target: record.target.map(|target| SessionTarget {
            kind: target.kind,
            name: target.name,
            container: target.container,
        }),
        namespace: record.namespace,
        start,
        end,
        running: record.end.is_none(),
        duration_seconds: (until - record.start) as f64 / 1e6,
        ci: record.ci.map(|ci| SessionCi {
            provider: ci.provider,
            pipeline: ci.pipeline,
            environment: ci.environment,
            triggered_by: ci.triggered_by,
        }),
        cli_version: record.cli_version,
        operator_version: record.operator_version,
        close_reason: record.close_reason,
        multi_cluster_parent: record.multi_cluster_parent,
    }
}

/// One page of the session audit log for these query parameters, with the token of the next;
/// the one store query behind `kubectl get mirrordsessions` and the dashboard's session log.
pub(crate) async fn session_page(
    app: &AppState,
    params: &SessionListQuery,
) -> Result<(Vec<MirrordSession>, Option<String>), ApiError> {
    let now = app.usage.now();
    let query = session_query(params, now)?;
    let page = app.usage.sessions(query).await?;
    let now = calendar::to_micros(now);
    let continue_token = page.next.map(|cursor| cursor.encode());
    let sessions = page
        .sessions
        .into_iter()
        .map(|record| session_object(record, now))
        .collect();
    Ok((sessions, continue_token))
}

async fn list_sessions(
    State(state): State<Aggregated>,
    Extension(principal): Extension<Principal>,
    headers: HeaderMap,
    KubeParams(query): KubeParams<SessionListQuery>,
) -> Result<Response, Status> {
    state.app.auth.require(&principal, Permission::ReadSessions).await?;
    let (sessions, continue_token) = session_page(&state.app, &query).await?;
    Ok(list_response(
        &headers,
        MirrordSession::LIST_KIND,
        sessions,
        continue_token,
        table::SESSION_COLUMNS,
        table::session_rows,
    ))
}

#[cfg(test)]
mod tests {
    use axum::extract::Query;

    use super::*;

    fn params(pairs: &[(&str, &str)]) -> SessionListQuery {
        let encode = |text: &str| text.replace('%', "%25").replace('=', "%3D").replace(',', "%2C");
        let query: Vec<String> = pairs
            .iter()
            .map(|(key, value)| format!("{key}={}", encode(value)))
            .collect();
        let uri: Uri = format!("/?{}", query.join("&")).parse().unwrap();
        Query::<SessionListQuery>::try_from_uri(&uri).unwrap().0
    }

    #[test]
    fn field_selectors_and_parameters_both_filter_sessions() {
        let now = Utc::now();
        let query = session_query(
            &params(&[("fieldSelector", "user=alice,ci=true"), ("namespace", "prod")]),
            now,
        )
        .unwrap();
        assert_eq!(query.user.as_deref(), Some("alice"));
        assert_eq!(query.namespace.as_deref(), Some("prod"));
        assert_eq!(query.ci, Some(true));
        assert_eq!(query.limit, DEFAULT_SESSION_LIMIT);
        let query = session_query(&params(&[("fieldSelector", "user==bob"), ("limit", "7")]), now).unwrap();
        assert_eq!(query.user.as_deref(), Some("bob"));
        assert_eq!(query.limit, 7);
    }

    #[test]
    fn bad_session_filters_name_the_value() {
        let now = Utc::now();
        let error = session_query(&params(&[("fieldSelector", "pod=x")]), now).unwrap_err();
        assert!(error.message.contains("'pod'"), "{}", error.message);
        let error = session_query(&params(&[("ci", "maybe")]), now).unwrap_err();
        assert!(error.message.contains("'maybe'"));
        let error = session_query(&params(&[("limit", "ten")]), now).unwrap_err();
        assert!(error.message.contains("'ten'"));
        let error = session_query(&params(&[("continue", "%%%")]), now).unwrap_err();
        assert_eq!(error.status, StatusCode::GONE);
        assert_eq!(
            session_query(&params(&[("limit", "999999")]), now).unwrap().limit,
            MAX_SESSION_LIMIT
        );
    }
}

//! Keeps every `MirrordUsageReport`'s status up to date: on changes to the report, when new
//! sessions arrive (at most once per trigger interval), at period boundaries, and every minute
//! while time passes.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::StreamExt;
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::events::{Event as KubeEvent, EventType, Recorder, Reporter};
use kube::runtime::watcher;
use kube::{Client, Resource, ResourceExt};
use mirrord_usage_crds::FIELD_MANAGER;
use mirrord_usage_crds::usage_report::{MirrordUsageReport, MirrordUsageReportSpec, MirrordUsageReportStatus, Period};
use mirrord_usage_server::telemetry::Metrics;
use mirrord_usage_server::usage::{RangeParams, Usage};
use mirrord_usage_store::calendar;
use serde_json::json;
use tokio::sync::watch;
use tracing::instrument;

use crate::{period, status};

/// How often status is refreshed while nothing else happens (running sessions grow).
pub const REFRESH: Duration = Duration::from_secs(60);

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("could not compute the report: {0}")]
    Report(String),
    #[error("could not write the status of {name}: {source}")]
    Status { name: String, source: kube::Error },
}

/// What the reconciler works with.
#[derive(Clone)]
pub struct Context {
    pub client: Client,
    pub recorder: Recorder,
    pub usage: Usage,
    pub metrics: Arc<Metrics>,
}

impl std::fmt::Debug for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context").finish_non_exhaustive()
    }
}

impl Context {
    pub fn new(client: Client, usage: Usage) -> Self {
        let reporter = Reporter {
            controller: FIELD_MANAGER.to_owned(),
            instance: std::env::var("POD_NAME").ok(),
        };
        Context {
            recorder: Recorder::new(client.clone(), reporter),
            client,
            metrics: usage.metrics().clone(),
            usage,
        }
    }
}

fn seats_exceeded(status: &MirrordUsageReportStatus) -> bool {
    status.licenses.total.is_some_and(|total| status.licenses.used > total)
}

#[instrument(skip_all, fields(report = %report.name_any()))]
pub async fn reconcile(report: Arc<MirrordUsageReport>, ctx: Arc<Context>) -> Result<Action, Error> {
    let started = std::time::Instant::now();
    let action = reconcile_report(&report, &ctx).await;
    ctx.metrics.reconcile_duration.observe(started.elapsed().as_secs_f64());
    action
}

async fn reconcile_report(report: &MirrordUsageReport, ctx: &Context) -> Result<Action, Error> {
    let name = report.name_any();
    let now = ctx.usage.now();
    let period = period::resolve(&report.spec, now);
    let range = RangeParams {
        from: period.from.map(calendar::to_micros),
        to: calendar::to_micros(period.to),
        primary_key: report.spec.primary_key,
    };
    let usage = ctx
        .usage
        .report(range)
        .await
        .map_err(|e| Error::Report(e.to_string()))?;
    let mut status = status::from_report(&report.spec, report.metadata.generation, &usage, now);
    status::keep_transition_times(&mut status, report.status.as_ref());
    let previous = report.status.as_ref();
    if previous.is_none_or(|old| !status::same_numbers(old, &status)) {
        let api: Api<MirrordUsageReport> = Api::all(ctx.client.clone());
        let patch = json!({
            "apiVersion": MirrordUsageReport::api_version(&()),
            "kind": MirrordUsageReport::kind(&()),
            "status": status,
        });
        api.patch_status(&name, &PatchParams::apply(FIELD_MANAGER).force(), &Patch::Apply(&patch))
            .await
            .map_err(|source| Error::Status {
                name: name.clone(),
                source,
            })?;
        tracing::debug!(
            users = status.active_users,
            sessions = status.user_sessions,
            "status written"
        );
        if seats_exceeded(&status) && !previous.is_some_and(seats_exceeded) {
            let note = format!(
                "{} machines used mirrord in the period, more than the {} seats bought",
                status.licenses.used,
                status.licenses.total.unwrap_or_default()
            );
            let event = KubeEvent {
                type_: EventType::Warning,
                reason: "SeatsExceeded".into(),
                note: Some(note),
                action: "Reconcile".into(),
                secondary: None,
            };
            if let Err(error) = ctx.recorder.publish(&event, &report.object_ref(&())).await {
                tracing::warn!(%error, "could not record an event");
            }
        }
    }
    Ok(Action::requeue(next_wake(period.next_boundary, now)))
}

/// The next refresh: the period boundary if it comes first.
fn next_wake(boundary: Option<DateTime<Utc>>, now: DateTime<Utc>) -> Duration {
    boundary
        .and_then(|boundary| (boundary - now).to_std().ok())
        .map_or(REFRESH, |until| until.min(REFRESH))
        .max(Duration::from_millis(100))
}

pub fn error_policy(report: Arc<MirrordUsageReport>, error: &Error, ctx: Arc<Context>) -> Action {
    ctx.metrics.reconcile_errors.inc();
    tracing::warn!(report = %report.name_any(), %error, "reconcile failed; retrying");
    Action::requeue(Duration::from_secs(15))
}

/// Creates the default reports unless they exist; never changes an existing one.
pub async fn create_default_reports(client: &Client) -> Result<(), kube::Error> {
    let api: Api<MirrordUsageReport> = Api::all(client.clone());
    for (name, period) in [("current-month", Period::CurrentMonth), ("all-time", Period::AllTime)] {
        let spec: MirrordUsageReportSpec =
            serde_json::from_value(json!({ "period": period })).expect("a default spec deserialises");
        match api
            .create(
                &PostParams {
                    field_manager: Some(FIELD_MANAGER.into()),
                    ..Default::default()
                },
                &MirrordUsageReport::new(name, spec),
            )
            .await
        {
            Ok(_) => tracing::info!(report = name, "created default report"),
            Err(kube::Error::Api(response)) if response.code == 409 => {}
            Err(error) => return Err(error),
        }
    }
    Ok(())
}

/// Turns "sessions were stored" signals into at most one trigger per `every`.
pub fn throttled(mut changes: watch::Receiver<u64>, every: Duration) -> impl futures::Stream<Item = ()> {
    async_stream::stream! {
        let mut seen = *changes.borrow_and_update();
        loop {
            if changes.changed().await.is_err() {
                return;
            }
            tokio::time::sleep(every).await;
            let current = *changes.borrow_and_update();
            if current != seen {
                seen = current;
                yield ();
            }
        }
    }
}

/// Runs the report controller until shutdown.
pub async fn run(ctx: Arc<Context>, stored: watch::Receiver<u64>, trigger_every: Duration) {
    let api: Api<MirrordUsageReport> = Api::all(ctx.client.clone());
    Controller::new(api, watcher::Config::default().any_semantic())
        .reconcile_all_on(throttled(stored, trigger_every))
        .shutdown_on_signal()
        .run(reconcile, error_policy, ctx)
        .for_each(|result| async move {
            if let Err(error) = result {
                tracing::debug!(%error, "reconcile loop");
            }
        })
        .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_next_wake_is_the_boundary_when_it_is_sooner() {
        let now = DateTime::parse_from_rfc3339("2026-11-30T23:59:50Z").unwrap().to_utc();
        let boundary = DateTime::parse_from_rfc3339("2026-12-01T00:00:00Z").unwrap().to_utc();
        assert_eq!(next_wake(Some(boundary), now), Duration::from_secs(10));
        assert_eq!(next_wake(None, now), REFRESH);
        assert_eq!(next_wake(Some(now), now), Duration::from_millis(100));
    }
}

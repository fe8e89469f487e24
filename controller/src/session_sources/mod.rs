//! Where the controller's sessions come from: the mirrord operator's per-session
//! `MirrordClusterSession` records whenever the cluster serves them, else the running-sessions
//! summary on the `operator` object (operators that predate the records). The controller
//! notices the records appearing or going away and switches without a restart.
//!
//! Both sources keep what they follow in the store's watched sessions, so a switch hands the
//! running sessions over: a session first seen in the summary and then as a record is the same
//! session when the record's name equals the summary's session id, and the record's exact start
//! replaces the summary's estimate. Everything goes through the same ingest as
//! `POST /api/v1/events`. Nothing here writes to the operator's objects.

pub mod ci_users;
pub mod record_watch;
pub mod records;
pub mod summary;

use std::collections::HashSet;
use std::time::Duration;

use kube::Api;
use kube::api::ListParams;
use mirrord_usage_crds::event::Event;
use mirrord_usage_crds::operator::MirrordOperator;
use mirrord_usage_crds::session_record::MirrordClusterSession;
use mirrord_usage_server::usage::Usage;
use mirrord_usage_store::IngestFailure;
use mirrord_usage_store::calendar::{self, Micros};
use mirrord_usage_store::ingest;

use ci_users::CiUsers;
use summary::Scope;

/// How the session sources run.
#[derive(Debug, Clone)]
pub struct SourceSettings {
    /// Between reads of the summary (and checks whether records are served meanwhile).
    pub poll_interval: Duration,
    /// Kubernetes users whose summary sessions are CI runs.
    pub ci_users: CiUsers,
}

/// Whether the cluster serves the operator's session records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Served {
    Yes,
    No,
    /// The API server could not say (unreachable, or an unexpected error).
    Unknown,
}

/// Asks for one record: the cheapest way to learn whether the resource is served and readable.
pub async fn records_served(api: &Api<MirrordClusterSession>) -> Served {
    match api.list_metadata(&ListParams::default().limit(1)).await {
        Ok(_) => Served::Yes,
        Err(kube::Error::Api(status)) if status.code == 404 => Served::No,
        Err(kube::Error::Api(status)) if status.code == 403 => {
            tracing::warn!(
                message = %status.message,
                "may not list mirrordclustersessions.mirrord.metalbear.co; reading the operator's summary instead (grant get, list, watch on them for exact sessions)"
            );
            Served::No
        }
        Err(error) => {
            tracing::debug!(%error, "could not tell whether session records are served");
            Served::Unknown
        }
    }
}

/// Stores events through the ingest path, skipping (and logging) any that stored data
/// contradicts, so one bad session never holds up the others.
pub fn store_events(usage: &Usage, events: &[Event], now: Micros) -> Result<(), mirrord_usage_store::Error> {
    if events.is_empty() {
        return Ok(());
    }
    let valid: Vec<Event> = events
        .iter()
        .filter(|event| match ingest::validate(event, calendar::from_micros(now)) {
            Ok(()) => true,
            Err(message) => {
                tracing::warn!(session = event.session_id(), %message, "skipping an operator session");
                false
            }
        })
        .cloned()
        .collect();
    match usage.ingest(&valid) {
        Ok(_) => Ok(()),
        Err(IngestFailure::Store(error)) => Err(error),
        Err(IngestFailure::Rejected(problems)) => {
            let rejected: HashSet<usize> = problems.iter().map(|p| p.index).collect();
            for problem in &problems {
                tracing::warn!(session = ?problem.session_id, message = %problem.message, "operator session conflicts with stored data");
            }
            let rest: Vec<Event> = valid
                .into_iter()
                .enumerate()
                .filter(|(i, _)| !rejected.contains(i))
                .map(|(_, e)| e)
                .collect();
            match usage.ingest(&rest) {
                Ok(_) | Err(IngestFailure::Rejected(_)) => Ok(()),
                Err(IngestFailure::Store(error)) => Err(error),
            }
        }
    }
}

/// Reads sessions from whichever source the cluster offers until the task is dropped.
pub async fn run(client: kube::Client, usage: Usage, settings: SourceSettings) {
    let clock = usage.clock().clone();
    let records: Api<MirrordClusterSession> = Api::all(client.clone());
    let summary: Api<MirrordOperator> = Api::all(client.clone());
    let mut ticker = tokio::time::interval(settings.poll_interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut reachable = true;
    loop {
        ticker.tick().await;
        match records_served(&records).await {
            Served::Yes => {
                tracing::info!("reading sessions from the operator's session records");
                if let Err(error) = record_watch::run(client.clone(), usage.clone(), clock.clone(), &settings).await {
                    tracing::warn!(%error, "following the operator's session records failed; starting over");
                }
                continue;
            }
            // Not knowing which source is right, read neither rather than end the other's
            // sessions.
            Served::Unknown => continue,
            Served::No => {}
        }
        match summary::poll_once(
            &summary,
            usage.clone(),
            &settings.ci_users,
            clock.now(),
            Scope::Everything,
        )
        .await
        {
            Ok(outcome) => {
                if !reachable {
                    tracing::info!("the mirrord operator can be read again");
                }
                reachable = true;
                if outcome.started + outcome.ended > 0 {
                    tracing::info!(
                        running = outcome.running,
                        started = outcome.started,
                        ended = outcome.ended,
                        "operator sessions"
                    );
                }
            }
            Err(error) => {
                if reachable {
                    tracing::warn!(%error, "cannot read the mirrord operator; open sessions are kept until it can be read again");
                }
                reachable = false;
            }
        }
    }
}

//! Following the operator's `MirrordClusterSession` records with a watch, for as long as the
//! cluster serves them.
//!
//! Every (re)list is compared with what the store watches, so a restart, an expired watch or an
//! API server that was away loses nothing: a session whose record is gone ended at its last
//! connection. A record deleted with no close signal is ended only once the resource is known to
//! still be served: if the whole resource went away (its CRD was deleted), its sessions stay
//! watched and the summary takes them over.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use kube::Api;
use kube::runtime::watcher::{self, Event as WatchEvent};
use kube::runtime::{WatchStreamExt, watcher::watcher};
use mirrord_usage_crds::event::Event;
use mirrord_usage_crds::operator::{MirrordOperator, OPERATOR_OBJECT};
use mirrord_usage_crds::session_record::MirrordClusterSession;
use mirrord_usage_server::usage::Usage;
use mirrord_usage_store::calendar::{self, Micros};
use mirrord_usage_store::clock::Clock;

use super::records::{self, Tracker};
use super::summary::{self, Scope};
use super::{Served, SourceSettings, records_served, store_events};

/// How often sightings of running sessions are written, and the operator's version re-read.
pub const CHECKPOINT_EVERY: Duration = Duration::from_secs(60);
/// How long a record deleted without a close signal waits before its session is ended, so that
/// the deletion of the whole resource can be told apart.
const VANISH_SETTLE: Duration = Duration::from_secs(1);

/// What the watch holds between events.
struct Follower {
    usage: Usage,
    clock: Arc<dyn Clock>,
    tracker: Tracker,
    operator_version: Option<String>,
    /// Records seen while a (re)list is under way.
    listing: Vec<MirrordClusterSession>,
    /// Records deleted with no close signal, with when that was seen.
    vanished: Vec<(MirrordClusterSession, Micros)>,
    /// When to end the vanished ones, if the resource is still served then.
    settle_at: Option<tokio::time::Instant>,
}

impl Follower {
    fn new(usage: Usage, clock: Arc<dyn Clock>, operator_version: Option<String>) -> Self {
        Follower {
            usage,
            clock,
            tracker: Tracker::default(),
            operator_version,
            listing: Vec::new(),
            vanished: Vec::new(),
            settle_at: None,
        }
    }

    /// Takes one event of the watch.
    async fn handle(&mut self, event: WatchEvent<MirrordClusterSession>) -> anyhow::Result<()> {
        match event {
            WatchEvent::Init => self.listing.clear(),
            WatchEvent::InitApply(record) => self.listing.push(record),
            WatchEvent::InitDone => self.listed().await?,
            WatchEvent::Apply(record) => self.applied(record).await?,
            WatchEvent::Delete(record) => self.deleted(record).await?,
        }
        Ok(())
    }

    fn now(&self) -> Micros {
        calendar::to_micros(self.clock.now())
    }

    async fn blocking<T: Send + 'static>(
        &self,
        work: impl FnOnce(&Usage) -> anyhow::Result<T> + Send + 'static,
    ) -> anyhow::Result<T> {
        let usage = self.usage.clone();
        tokio::task::spawn_blocking(move || work(&usage)).await?
    }

    /// A complete (re)list: every record that exists now.
    async fn listed(&mut self) -> anyhow::Result<()> {
        let listed = std::mem::take(&mut self.listing);
        let now = self.now();
        let names: HashSet<String> = listed
            .iter()
            .filter_map(|record| records::session_id(record).map(str::to_owned))
            .collect();
        let last_seen: std::collections::HashMap<String, Micros> =
            self.tracker.retain(|id| names.contains(id)).into_iter().collect();
        let new: Vec<MirrordClusterSession> = listed
            .into_iter()
            .filter(|record| records::session_id(record).is_some_and(|id| !self.tracker.contains(id)))
            .collect();
        let version = self.operator_version.clone();
        let (followed, ended) = self
            .blocking(move |usage| {
                let ids: Vec<String> = new
                    .iter()
                    .filter_map(|r| records::session_id(r).map(str::to_owned))
                    .collect();
                let known = usage.known_sessions(&ids)?;
                let mut events = Vec::new();
                let mut follow = Vec::new();
                for record in &new {
                    let id = records::session_id(record).expect("filtered");
                    let stored = known.get(id);
                    if stored.is_some_and(|state| state.end.is_some()) {
                        continue;
                    }
                    events.extend(records::start_event(record, version.as_deref()));
                    if records::is_closed(record) {
                        events.extend(records::end_event(record, now, false));
                    } else {
                        let seen = records::connected_at(record).map_or(now, |at| at.min(now));
                        follow.push((id.to_owned(), seen));
                    }
                }
                // Watched sessions that no record lists any more ended when last seen; those the
                // summary started (estimated starts) stay the summary's.
                let gone: Vec<_> = usage
                    .watched()?
                    .into_iter()
                    .filter(|watched| !names.contains(&watched.session_id) && !watched.state.start_estimated)
                    .collect();
                // Watch first: a crash after this only makes the next list do it again.
                usage.watch(&follow)?;
                store_events(usage, &events, now)?;
                let ends: Vec<Event> = gone
                    .iter()
                    .filter(|watched| watched.state.is_running())
                    .map(|watched| {
                        let seen = last_seen.get(&watched.session_id).copied().unwrap_or_default();
                        records::estimated_end(&watched.session_id, watched.last_seen.max(seen))
                    })
                    .collect();
                store_events(usage, &ends, now)?;
                let gone_ids: Vec<String> = gone.into_iter().map(|watched| watched.session_id).collect();
                usage.unwatch(&gone_ids)?;
                // Sessions named by records run now: the summary's CI count no longer applies.
                usage.record_operator_ci_running(None)?;
                Ok((follow, ends.len()))
            })
            .await?;
        for (id, seen) in &followed {
            self.tracker.follow(id, *seen);
        }
        tracing::info!(
            running = self.tracker.len(),
            ended,
            "listed the operator's session records"
        );
        Ok(())
    }

    /// A record created or changed while watching.
    async fn applied(&mut self, record: MirrordClusterSession) -> anyhow::Result<()> {
        let Some(id) = records::session_id(&record).map(str::to_owned) else {
            return Ok(());
        };
        let now = self.now();
        if self.tracker.contains(&id) {
            if records::is_closed(&record) {
                let end = records::end_event(&record, now, true);
                self.tracker.forget(&id);
                self.blocking(move |usage| {
                    store_events(usage, &end.into_iter().collect::<Vec<_>>(), now)?;
                    usage.unwatch(&[id])?;
                    Ok(())
                })
                .await?;
            } else {
                // The heartbeat: memory only.
                self.tracker
                    .seen(&id, records::connected_at(&record).map_or(now, |at| at.min(now)));
            }
            return Ok(());
        }
        let version = self.operator_version.clone();
        let follow = self
            .blocking(move |usage| {
                let known = usage.known_sessions(std::slice::from_ref(&id))?;
                if known.get(&id).is_some_and(|state| state.end.is_some()) {
                    return Ok(None);
                }
                let mut events: Vec<Event> = records::start_event(&record, version.as_deref()).into_iter().collect();
                if records::is_closed(&record) {
                    events.extend(records::end_event(&record, now, true));
                    store_events(usage, &events, now)?;
                    usage.unwatch(std::slice::from_ref(&id))?;
                    return Ok(None);
                }
                usage.watch(&[(id.clone(), now)])?;
                store_events(usage, &events, now)?;
                Ok(Some(id))
            })
            .await?;
        if let Some(id) = follow {
            self.tracker.follow(&id, now);
        }
        Ok(())
    }

    /// A record deleted while watching.
    async fn deleted(&mut self, record: MirrordClusterSession) -> anyhow::Result<()> {
        let Some(id) = records::session_id(&record).map(str::to_owned) else {
            return Ok(());
        };
        let now = self.now();
        if records::is_closed(&record) {
            // Ends it if it was followed; else the store says whether it ended already.
            return self.applied(record).await;
        }
        if !self.tracker.contains(&id) {
            // Created and deleted between two events this watch saw: start it now.
            self.applied(record.clone()).await?;
            if !self.tracker.contains(&id) {
                // The store had it ended already.
                return Ok(());
            }
        }
        self.vanished.push((record, now));
        self.settle_at
            .get_or_insert_with(|| tokio::time::Instant::now() + VANISH_SETTLE);
        Ok(())
    }

    /// Ends the sessions whose records vanished, now that the resource is known to be served.
    async fn settle_vanished(&mut self) -> anyhow::Result<()> {
        let vanished = std::mem::take(&mut self.vanished);
        self.settle_at = None;
        let now = self.now();
        let mut events = Vec::new();
        let mut ids = Vec::new();
        for (record, seen) in &vanished {
            if let Some(id) = records::session_id(record) {
                self.tracker.forget(id);
                ids.push(id.to_owned());
                events.extend(records::vanished_event(record, *seen));
            }
        }
        self.blocking(move |usage| {
            store_events(usage, &events, now)?;
            usage.unwatch(&ids)?;
            Ok(())
        })
        .await
    }

    /// Writes sightings newer than what is stored.
    async fn checkpoint(&mut self) -> anyhow::Result<()> {
        let due = self.tracker.due();
        if due.is_empty() {
            return Ok(());
        }
        self.blocking(move |usage| Ok(usage.watch(&due)?)).await
    }
}

/// The operator's version, for the sessions' `operatorVersion`.
async fn operator_version(operators: &Api<MirrordOperator>) -> Option<String> {
    match operators.get_opt(OPERATOR_OBJECT).await {
        Ok(operator) => operator.and_then(|operator| operator.spec.operator_version),
        Err(_) => None,
    }
}

/// Follows the records until the resource stops being served (then returns, its running
/// sessions still watched for the next source) or the task is dropped.
pub async fn run(
    client: kube::Client,
    usage: Usage,
    clock: Arc<dyn Clock>,
    settings: &SourceSettings,
) -> anyhow::Result<()> {
    let api: Api<MirrordClusterSession> = Api::all(client.clone());
    let operators: Api<MirrordOperator> = Api::all(client);
    let mut follower = Follower::new(usage, clock, operator_version(&operators).await);
    let mut stream = watcher(api.clone(), watcher::Config::default())
        .default_backoff()
        .boxed();
    // Sessions the summary started before the records were served stay the summary's until a
    // record takes them over or the summary stops showing them.
    let mut summary_owns_some = true;
    let mut summary_tick = tokio::time::interval(settings.poll_interval);
    summary_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut checkpoint = tokio::time::interval(CHECKPOINT_EVERY);
    checkpoint.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    checkpoint.tick().await;
    let result = loop {
        let settle_at = follower.settle_at;
        let settle = async move {
            match settle_at {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending::<()>().await,
            }
        };
        tokio::select! {
            event = stream.next() => match event {
                None => break Ok(()),
                Some(Ok(event)) => follower.handle(event).await?,
                Some(Err(error)) => {
                    if records_served(&api).await == Served::No {
                        tracing::info!("the operator's session records are no longer served");
                        break Ok(());
                    }
                    tracing::warn!(%error, "watching the operator's session records failed; retrying");
                }
            },
            () = settle => {
                if records_served(&api).await == Served::Yes {
                    follower.settle_vanished().await?;
                } else {
                    tracing::info!("the operator's session records are no longer served");
                    break Ok(());
                }
            }
            _ = summary_tick.tick(), if summary_owns_some => {
                let polled = summary::poll_once(
                    &operators,
                    follower.usage.clone(),
                    &settings.ci_users,
                    follower.clock.now(),
                    Scope::StartedBySummary,
                )
                .await;
                match polled {
                    Ok(outcome) => summary_owns_some = outcome.running > 0 || outcome.ended > 0,
                    // No summary to read: whatever it started ends when the records relist.
                    Err(error) => tracing::debug!(%error, "cannot read the operator's summary"),
                }
            }
            _ = checkpoint.tick() => {
                follower.checkpoint().await?;
                if let Some(version) = operator_version(&operators).await {
                    follower.operator_version = Some(version);
                }
            }
        }
    };
    // Whatever source comes next starts from what is stored.
    follower.checkpoint().await?;
    result
}

#[cfg(test)]
mod tests {
    use chrono::{DateTime, Utc};
    use mirrord_usage_server::telemetry::Metrics;
    use mirrord_usage_server::usage::Installation;
    use mirrord_usage_store::SqliteStore;
    use mirrord_usage_store::clock::ManualClock;
    use mirrord_usage_store::model::{SessionQuery, SessionRecord};

    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        text.parse().unwrap()
    }

    fn record(name: &str, created: &str, connected: Option<&str>) -> MirrordClusterSession {
        let mut status = serde_json::json!({});
        if let Some(connected) = connected {
            status["connectedTimestamp"] = serde_json::json!(connected);
        }
        serde_json::from_value(serde_json::json!({
            "apiVersion": "mirrord.metalbear.co/v1alpha",
            "kind": "MirrordClusterSession",
            "metadata": {"name": name, "creationTimestamp": created},
            "spec": {"owner": {"userId": format!("m-{name}"), "username": name, "hostname": "h", "k8sUsername": name}},
            "status": status
        }))
        .unwrap()
    }

    async fn sessions(usage: &Usage) -> Vec<SessionRecord> {
        let query = SessionQuery {
            from: None,
            to: calendar::to_micros(at("2027-01-01T00:00:00Z")),
            user: None,
            namespace: None,
            ci: None,
            close_reason: None,
            limit: 100,
            after: None,
        };
        let mut listed = usage.sessions(query).await.unwrap().sessions;
        listed.sort_by(|a, b| a.session_id.cmp(&b.session_id));
        listed
    }

    #[tokio::test]
    async fn a_relist_after_a_gap_ends_what_disappeared_at_its_last_connection_and_repeats_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let clock = Arc::new(ManualClock::new(at("2026-11-02T10:00:00Z")));
        let usage = Usage::new(
            Arc::new(SqliteStore::open(dir.path().join("usage.db")).unwrap()),
            Installation::default(),
            clock.clone(),
            Arc::new(Metrics::default()),
        );
        let mut follower = Follower::new(usage.clone(), clock.clone(), Some("3.130.0".into()));
        let a = record("a", "2026-11-02T09:00:00Z", Some("2026-11-02T09:59:58Z"));
        let b = record("b", "2026-11-02T09:30:00Z", Some("2026-11-02T09:59:59Z"));
        for event in [
            WatchEvent::Init,
            WatchEvent::InitApply(a.clone()),
            WatchEvent::InitApply(b.clone()),
            WatchEvent::InitDone,
        ] {
            follower.handle(event).await.unwrap();
        }
        // Heartbeats: memory only.
        clock.set(at("2026-11-02T10:05:00Z"));
        follower
            .handle(WatchEvent::Apply(record(
                "b",
                "2026-11-02T09:30:00Z",
                Some("2026-11-02T10:04:59Z"),
            )))
            .await
            .unwrap();
        assert_eq!(
            usage.watched().unwrap()[1].last_seen,
            calendar::to_micros(at("2026-11-02T09:59:59Z"))
        );
        // The watch expires (410); meanwhile b's record went away. The relist finds only a.
        clock.set(at("2026-11-02T10:20:00Z"));
        for event in [WatchEvent::Init, WatchEvent::InitApply(a.clone()), WatchEvent::InitDone] {
            follower.handle(event).await.unwrap();
        }
        let listed = sessions(&usage).await;
        assert_eq!(listed.len(), 2);
        assert_eq!(listed[0].start, calendar::to_micros(at("2026-11-02T09:00:00Z")));
        assert_eq!(listed[0].end, None, "a runs on");
        assert_eq!(
            listed[1].end,
            Some(calendar::to_micros(at("2026-11-02T10:04:59Z"))),
            "b ended at its last connection"
        );
        assert_eq!(listed[0].operator_version.as_deref(), Some("3.130.0"));
        // A new follower (a restart) relisting the same records changes nothing.
        let mut restarted = Follower::new(usage.clone(), clock.clone(), None);
        for event in [WatchEvent::Init, WatchEvent::InitApply(a), WatchEvent::InitDone] {
            restarted.handle(event).await.unwrap();
        }
        assert_eq!(sessions(&usage).await, listed);
    }
}

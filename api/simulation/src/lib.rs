//! A simulated organisation using mirrord: developers who join over time and work office
//! hours, power users and occasional ones, CI pipelines, several namespaces and target kinds.
//! It produces the same events the operator sends, in time order, for the demo and benchmarks.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use chrono::{DateTime, Datelike, Duration, Utc, Weekday};
use mirrord_usage_crds::event::{CiContext, Event, SessionEnd, SessionStart, Target};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use rand_distr::{Distribution, LogNormal, Poisson};

use mirrord_usage_store::calendar::{self, Micros};

/// The shape of a simulated organisation.
#[derive(Debug, Clone, PartialEq)]
pub struct Organisation {
    pub developers: usize,
    pub ci_pipelines: usize,
    /// How many days of history end at the simulation's end time.
    pub history_days: i64,
    /// Scales every developer's and pipeline's session rate.
    pub intensity: f64,
    /// Scales CI pipelines' run rate on top of `intensity`.
    pub ci_scale: f64,
    pub seed: u64,
}

impl Organisation {
    /// About 150 developers and 12 CI pipelines over 9 months.
    pub fn demo(seed: u64) -> Self {
        Organisation {
            developers: 150,
            ci_pipelines: 12,
            history_days: 274,
            intensity: 1.0,
            ci_scale: 1.0,
            seed,
        }
    }
}

const NAMESPACES: [&str; 6] = ["shop", "payments", "search", "identity", "data-platform", "staging"];
const WORKLOADS: [(&str, &str, &str); 8] = [
    ("Deployment", "api", "app"),
    ("Deployment", "web", "frontend"),
    ("Deployment", "worker", "worker"),
    ("Rollout", "checkout", "app"),
    ("StatefulSet", "postgres", "postgres"),
    ("Deployment", "gateway", "envoy"),
    ("Job", "migrations", "migrate"),
    ("Pod", "debug-shell", "shell"),
];
const FIRST_NAMES: [&str; 40] = [
    "alice", "bob", "carol", "dan", "erin", "frank", "grace", "heidi", "ivan", "judy", "ken", "lena", "mallory",
    "nick", "olivia", "peggy", "quinn", "rupert", "sybil", "trent", "uma", "victor", "wendy", "xavier", "yara", "zoe",
    "amir", "bea", "chen", "dara", "eli", "farah", "gus", "hana", "igor", "jin", "kofi", "lucia", "mo", "nia",
];
const PROVIDERS: [&str; 2] = ["github", "gitlab"];
const PIPELINES: [&str; 6] = [
    "e2e",
    "integration",
    "contract-tests",
    "smoke",
    "preview-deploy",
    "load-check",
];
const ENVIRONMENTS: [&str; 3] = ["staging", "preview", "e2e"];

#[derive(Debug, Clone)]
struct Machine {
    id: String,
    hostname: String,
}

#[derive(Debug, Clone)]
struct Developer {
    machines: Vec<Machine>,
    kubernetes_username: Option<String>,
    client_username: String,
    namespace: usize,
    favourites: Vec<usize>,
    join_day: i64,
    /// Mean sessions on a day the developer uses mirrord.
    sessions_per_day: f64,
    /// Chance of using mirrord on a weekday.
    weekday_activity: f64,
    /// Hours east of UTC.
    utc_offset: i64,
}

#[derive(Debug, Clone)]
struct Pipeline {
    provider: &'static str,
    name: String,
    environment: &'static str,
    namespace: usize,
    runners: Vec<Machine>,
    runs_per_weekday: f64,
}

/// A session to be announced: its start event and, unless it runs past the end, its end.
#[derive(Debug, Clone)]
struct Planned {
    start: SessionStart,
    end: Micros,
}

/// Generates the organisation's sessions as events in time order.
#[derive(Debug)]
pub struct Simulator {
    org: Organisation,
    rng: SmallRng,
    developers: Vec<Developer>,
    pipelines: Vec<Pipeline>,
    first_day: i64,
    next_day: i64,
    end: Micros,
    /// Starts not yet emitted, earliest first.
    starts: Vec<Planned>,
    /// Ends not yet emitted.
    ends: BinaryHeap<Reverse<(Micros, String)>>,
    sessions_started: u64,
    max_sessions: Option<u64>,
}

fn hex_id(rng: &mut SmallRng, bytes: usize) -> String {
    (0..bytes).map(|_| format!("{:02x}", rng.random::<u8>())).collect()
}

impl Simulator {
    /// A simulation whose history ends at `end`; sessions still running then stay running.
    pub fn new(org: Organisation, end: DateTime<Utc>) -> Self {
        let mut rng = SmallRng::seed_from_u64(org.seed);
        let end = calendar::to_micros(end);
        let first_day = calendar::day_of(end) - org.history_days;
        let developers = (0..org.developers)
            .map(|index| Self::developer(&mut rng, &org, index))
            .collect();
        let pipelines = (0..org.ci_pipelines)
            .map(|index| Self::pipeline(&mut rng, index))
            .collect();
        Simulator {
            org,
            rng,
            developers,
            pipelines,
            first_day,
            next_day: first_day,
            end,
            starts: Vec::new(),
            ends: BinaryHeap::new(),
            sessions_started: 0,
            max_sessions: None,
        }
    }

    /// Stops starting sessions after `max` of them (their ends still come).
    pub fn with_max_sessions(mut self, max: u64) -> Self {
        self.max_sessions = Some(max);
        self
    }

    /// How many identities (machine, user, host) the organisation has.
    pub fn identity_count(&self) -> usize {
        self.developers.iter().map(|d| d.machines.len()).sum::<usize>()
            + self.pipelines.iter().map(|p| p.runners.len()).sum::<usize>()
    }

    fn developer(rng: &mut SmallRng, org: &Organisation, index: usize) -> Developer {
        let first = FIRST_NAMES[index % FIRST_NAMES.len()];
        let client_username = if index < FIRST_NAMES.len() {
            first.to_owned()
        } else {
            format!("{first}{}", index / FIRST_NAMES.len())
        };
        let machine_count = if rng.random_bool(0.15) { 2 } else { 1 };
        let machines = (0..machine_count)
            .map(|n| Machine {
                id: hex_id(rng, 32),
                hostname: format!("{client_username}-{}", ["mbp", "desktop"][n]),
            })
            .collect();
        // A few clients authenticate without a recognisable Kubernetes user.
        let kubernetes_username = (!rng.random_bool(0.03)).then(|| format!("{client_username}@acme.example"));
        let namespace = rng.random_range(0..NAMESPACES.len() - 1);
        let mut favourites: Vec<usize> = (0..rng.random_range(2..=3))
            .map(|_| rng.random_range(0..WORKLOADS.len()))
            .collect();
        favourites.dedup();
        // Adoption grows: a core team from the start, the rest joining ever faster.
        let join_day = if rng.random_bool(0.15) {
            rng.random_range(0..14)
        } else {
            (org.history_days as f64 * rng.random::<f64>().powf(0.7)) as i64
        };
        let kind: f64 = rng.random();
        let (sessions_per_day, weekday_activity) = if kind < 0.1 {
            (rng.random_range(7.0..14.0), 0.92)
        } else if kind < 0.6 {
            (rng.random_range(2.0..5.0), 0.75)
        } else {
            (rng.random_range(0.5..1.5), 0.2)
        };
        Developer {
            machines,
            kubernetes_username,
            client_username,
            namespace,
            favourites,
            join_day,
            sessions_per_day: sessions_per_day * org.intensity,
            weekday_activity,
            utc_offset: [-8, -5, 0, 1, 2, 3, 5][rng.random_range(0..7)],
        }
    }

    fn pipeline(rng: &mut SmallRng, index: usize) -> Pipeline {
        let provider = PROVIDERS[index % PROVIDERS.len()];
        let service = WORKLOADS[index % WORKLOADS.len()].1;
        let runners = (0..rng.random_range(1..=3))
            .map(|n| Machine {
                id: hex_id(rng, 32),
                hostname: format!("{provider}-runner-{index}-{n}"),
            })
            .collect();
        Pipeline {
            provider,
            name: format!("{service}-{}", PIPELINES[index % PIPELINES.len()]),
            environment: ENVIRONMENTS[index % ENVIRONMENTS.len()],
            namespace: index % NAMESPACES.len(),
            runners,
            runs_per_weekday: rng.random_range(2.0..10.0),
        }
    }

    fn version(base: i64, day: i64, every: i64) -> String {
        format!("3.{}.0", base + day.max(0) / every)
    }

    fn plan_day(&mut self, day: i64) {
        let day_start = calendar::day_start(day);
        let relative = day - self.first_day;
        let weekday = calendar::from_micros(day_start).weekday();
        let weekend = matches!(weekday, Weekday::Sat | Weekday::Sun);
        let duration = LogNormal::new((25.0_f64 * 60.0).ln(), 0.9).expect("valid");
        let ci_duration = LogNormal::new((8.0_f64 * 60.0).ln(), 0.5).expect("valid");
        let operator_version = Self::version(100, relative, 30);
        let mut planned = Vec::new();

        for developer in &self.developers {
            if relative < developer.join_day {
                continue;
            }
            let activity = if weekend { 0.03 } else { developer.weekday_activity };
            if !self.rng.random_bool(activity) {
                continue;
            }
            let count = Poisson::new(developer.sessions_per_day)
                .expect("positive rate")
                .sample(&mut self.rng)
                .max(1.0) as u64;
            for _ in 0..count {
                let local_minute = self.rng.random_range(8 * 60 + 30..18 * 60 + 30) as i64;
                let start = day_start
                    + (local_minute - developer.utc_offset * 60) * 60_000_000
                    + self.rng.random_range(0..60_000_000);
                let seconds = duration.sample(&mut self.rng).clamp(20.0, 8.0 * 3600.0);
                let machine = &developer.machines[self.rng.random_range(0..developer.machines.len())];
                let roll: f64 = self.rng.random();
                let (namespace, target) = if roll < 0.08 {
                    (developer.namespace, None)
                } else if roll < 0.85 {
                    (
                        developer.namespace,
                        Some(developer.favourites[self.rng.random_range(0..developer.favourites.len())]),
                    )
                } else {
                    (
                        self.rng.random_range(0..NAMESPACES.len()),
                        Some(self.rng.random_range(0..WORKLOADS.len())),
                    )
                };
                planned.push(Planned {
                    start: SessionStart {
                        session_id: hex_id(&mut self.rng, 8),
                        timestamp: calendar::from_micros(start),
                        machine_id: machine.id.clone(),
                        kubernetes_username: developer.kubernetes_username.clone(),
                        client_username: Some(developer.client_username.clone()),
                        client_hostname: Some(machine.hostname.clone()),
                        target: target.map(|index| {
                            let (kind, name, container) = WORKLOADS[index];
                            Target {
                                kind: kind.to_owned(),
                                name: name.to_owned(),
                                container: Some(container.to_owned()),
                            }
                        }),
                        namespace: Some(NAMESPACES[namespace].to_owned()),
                        ci: None,
                        cli_version: Some(Self::version(120, relative - developer.join_day / 2, 14)),
                        operator_version: Some(operator_version.clone()),
                        multi_cluster_parent: None,
                        estimated: false,
                    },
                    end: start + (seconds * 1e6) as i64,
                });
            }
        }

        for pipeline in &self.pipelines {
            let rate = if weekend { 1.0 } else { pipeline.runs_per_weekday } * self.org.intensity * self.org.ci_scale;
            let runs = Poisson::new(rate).expect("positive rate").sample(&mut self.rng) as u64;
            for _ in 0..runs {
                let start = day_start + self.rng.random_range(6 * 3600..22 * 3600) * 1_000_000;
                let seconds = ci_duration.sample(&mut self.rng).clamp(30.0, 2.0 * 3600.0);
                let runner = &pipeline.runners[self.rng.random_range(0..pipeline.runners.len())];
                let triggered_by = if self.rng.random_bool(0.1) || self.developers.is_empty() {
                    "schedule".to_owned()
                } else {
                    self.developers[self.rng.random_range(0..self.developers.len())]
                        .client_username
                        .clone()
                };
                let (kind, name, container) = WORKLOADS[self.rng.random_range(0..WORKLOADS.len())];
                planned.push(Planned {
                    start: SessionStart {
                        session_id: hex_id(&mut self.rng, 8),
                        timestamp: calendar::from_micros(start),
                        machine_id: runner.id.clone(),
                        kubernetes_username: Some("system:serviceaccount:ci:mirrord-ci".to_owned()),
                        client_username: Some("runner".to_owned()),
                        client_hostname: Some(runner.hostname.clone()),
                        target: Some(Target {
                            kind: kind.to_owned(),
                            name: name.to_owned(),
                            container: Some(container.to_owned()),
                        }),
                        namespace: Some(NAMESPACES[pipeline.namespace].to_owned()),
                        ci: Some(CiContext {
                            provider: Some(pipeline.provider.to_owned()),
                            pipeline: Some(pipeline.name.clone()),
                            environment: Some(pipeline.environment.to_owned()),
                            triggered_by: Some(triggered_by),
                        }),
                        cli_version: Some(Self::version(120, relative, 14)),
                        operator_version: Some(operator_version.clone()),
                        multi_cluster_parent: None,
                        estimated: false,
                    },
                    end: start + (seconds * 1e6) as i64,
                });
            }
        }
        // Late-evening sessions west of UTC start after the next UTC day begins: keep them.
        self.starts.extend(planned);
        // Emitted from the back: latest first in the vector.
        self.starts
            .sort_by_key(|p| Reverse(calendar::to_micros(p.start.timestamp)));
    }

    /// Ends of sessions still running at the simulation's end: (session id, planned end).
    pub fn still_running(&self) -> Vec<(String, DateTime<Utc>)> {
        self.ends
            .iter()
            .map(|Reverse((end, id))| (id.clone(), calendar::from_micros(*end)))
            .collect()
    }

    /// The organisation's developers as (client user, machine ids), for a live simulation.
    fn pick_live_developer(&mut self) -> Option<&Developer> {
        let active: Vec<usize> = (0..self.developers.len())
            .filter(|&i| self.developers[i].join_day <= self.org.history_days)
            .collect();
        (!active.is_empty()).then(|| &self.developers[active[self.rng.random_range(0..active.len())]])
    }

    /// A new session starting at `now` for a random developer, lasting a few minutes.
    pub fn live_session(&mut self, now: DateTime<Utc>) -> Option<(SessionStart, DateTime<Utc>)> {
        let minutes = self.rng.random_range(1..15);
        let seconds = self.rng.random_range(0..60);
        let session_id = hex_id(&mut self.rng, 8);
        let machine_pick: f64 = self.rng.random();
        let target_pick: f64 = self.rng.random();
        let developer = self.pick_live_developer()?.clone();
        let machine = &developer.machines[(machine_pick * developer.machines.len() as f64) as usize];
        let (kind, name, container) =
            WORKLOADS[developer.favourites[(target_pick * developer.favourites.len() as f64) as usize]];
        let relative = calendar::day_of(calendar::to_micros(now)) - self.first_day;
        let start = SessionStart {
            session_id,
            timestamp: now,
            machine_id: machine.id.clone(),
            kubernetes_username: developer.kubernetes_username.clone(),
            client_username: Some(developer.client_username.clone()),
            client_hostname: Some(machine.hostname.clone()),
            target: Some(Target {
                kind: kind.to_owned(),
                name: name.to_owned(),
                container: Some(container.to_owned()),
            }),
            namespace: Some(NAMESPACES[developer.namespace].to_owned()),
            ci: None,
            cli_version: Some(Self::version(120, relative - developer.join_day / 2, 14)),
            operator_version: Some(Self::version(100, relative, 30)),
            multi_cluster_parent: None,
            estimated: false,
        };
        Some((start, now + Duration::minutes(minutes) + Duration::seconds(seconds)))
    }
}

impl Iterator for Simulator {
    type Item = Event;

    /// The next event of the history, in time order; `None` once the end time is reached.
    fn next(&mut self) -> Option<Event> {
        loop {
            let next_start = self.starts.last().map(|p| calendar::to_micros(p.start.timestamp));
            let next_end = self.ends.peek().map(|Reverse((at, _))| *at);
            let day_end = calendar::day_start(self.next_day);
            // Everything before the next unplanned day is planned; a start comes before an end
            // at the same instant only if it is earlier.
            let candidate = match (next_start, next_end) {
                (Some(start), Some(end)) if end <= start => Some((end, false)),
                (Some(start), _) => Some((start, true)),
                (None, Some(end)) => Some((end, false)),
                (None, None) => None,
            };
            let exhausted = self.max_sessions.is_some_and(|max| self.sessions_started >= max);
            let more_days = self.next_day <= calendar::day_of(self.end) && !exhausted;
            match candidate {
                Some((at, _)) if more_days && at >= day_end => {}
                Some((at, _)) if at >= self.end => return None,
                Some((_, true)) => {
                    let planned = self.starts.pop().expect("peeked");
                    if exhausted {
                        self.starts.clear();
                        continue;
                    }
                    self.sessions_started += 1;
                    self.ends.push(Reverse((planned.end, planned.start.session_id.clone())));
                    return Some(Event::SessionStart(planned.start));
                }
                Some((_, false)) => {
                    let Reverse((at, session_id)) = self.ends.pop().expect("peeked");
                    return Some(Event::SessionEnd(SessionEnd {
                        session_id,
                        timestamp: calendar::from_micros(at),
                        close_reason: None,
                        estimated: false,
                    }));
                }
                None if !more_days => return None,
                None => {}
            }
            if more_days {
                let day = self.next_day;
                self.next_day += 1;
                self.plan_day(day);
                // Starts planned for before the history's beginning never happen.
                let first = calendar::day_start(self.first_day);
                self.starts.retain(|p| calendar::to_micros(p.start.timestamp) >= first);
            } else {
                return None;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::{HashMap, HashSet};

    use super::*;

    fn history(org: Organisation) -> (Vec<Event>, Simulator) {
        let end = DateTime::parse_from_rfc3339("2026-11-25T12:00:00Z").unwrap().to_utc();
        let mut simulator = Simulator::new(org, end);
        let events: Vec<Event> = simulator.by_ref().collect();
        (events, simulator)
    }

    #[test]
    fn the_demo_history_is_ordered_consistent_and_sized_like_the_organisation() {
        let (events, simulator) = history(Organisation::demo(7));
        let timestamps: Vec<_> = events.iter().map(Event::timestamp).collect();
        assert!(
            timestamps.windows(2).all(|pair| pair[0] <= pair[1]),
            "events come in time order"
        );
        assert!(*timestamps.last().unwrap() < DateTime::parse_from_rfc3339("2026-11-25T12:00:00Z").unwrap());

        let mut starts = HashMap::new();
        let mut ends = HashSet::new();
        let mut machines = HashSet::new();
        let mut ci = 0;
        for event in &events {
            match event {
                Event::SessionStart(start) => {
                    assert!(
                        starts.insert(start.session_id.clone(), start.timestamp).is_none(),
                        "ids are unique"
                    );
                    machines.insert(start.machine_id.clone());
                    ci += usize::from(start.ci.is_some());
                }
                Event::SessionEnd(end) => {
                    assert!(end.timestamp >= starts[&end.session_id], "an end follows its start");
                    ends.insert(end.session_id.clone());
                }
            }
        }
        assert!(
            starts.len() > 30_000,
            "nine months of 150 developers: {} sessions",
            starts.len()
        );
        assert!(ci > 5_000 && ci < starts.len() / 2, "{ci} CI sessions");
        assert!(machines.len() >= 150 && machines.len() <= simulator.identity_count());
        assert_eq!(starts.len() - ends.len(), simulator.still_running().len());
    }

    #[test]
    fn the_same_seed_gives_the_same_history_and_a_cap_is_honoured() {
        let org = Organisation {
            developers: 20,
            ci_pipelines: 2,
            history_days: 30,
            intensity: 1.0,
            ci_scale: 1.0,
            seed: 3,
        };
        let (first, _) = history(org.clone());
        let (second, _) = history(org.clone());
        assert_eq!(first, second);
        let end = DateTime::parse_from_rfc3339("2026-11-25T12:00:00Z").unwrap().to_utc();
        let capped: Vec<Event> = Simulator::new(org, end).with_max_sessions(100).collect();
        let starts = capped.iter().filter(|e| matches!(e, Event::SessionStart(_))).count();
        assert_eq!(starts, 100);
    }
}

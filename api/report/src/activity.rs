//! What a snapshot says happened in its range, as both reports read it: usage per identity and
//! kind (running sessions lasting until now), and each user's first and latest session ever.

use std::cmp::Ordering;
use std::collections::HashMap;

use mirrord_usage_crds::report::{PrimaryKey, ReportPeriod};
use mirrord_usage_store::calendar::{self, Micros};
use mirrord_usage_store::model::{DimId, Dimensions, IdentityKey, RunningSession, Snapshot};

/// What is known of one user (one primary-key value) across all time.
#[derive(Debug, Clone, Copy)]
pub(crate) struct UserProfile {
    pub(crate) first_user_start: Micros,
    /// Identity of the latest-starting user session; ties go to the greatest identity fields.
    pub(crate) latest: (Micros, IdentityKey),
}

pub(crate) fn identity_fields<'a>(dims: &'a Dimensions, key: &IdentityKey) -> [Option<&'a str>; 4] {
    [
        key.machine_id,
        key.kubernetes_username,
        key.client_username,
        key.client_hostname,
    ]
    .map(|id| dims.string(id).map(|s| &**s))
}

pub(crate) fn profiles(dims: &Dimensions, primary_key: PrimaryKey) -> HashMap<DimId, UserProfile> {
    let mut profiles: HashMap<DimId, UserProfile> = HashMap::new();
    for (_, identity) in dims.identities() {
        let (Some(first), Some(last)) = (identity.first_user_start, identity.last_user_start) else {
            continue;
        };
        let candidate = UserProfile {
            first_user_start: first,
            latest: (last, identity.key),
        };
        profiles
            .entry(identity.key.field(primary_key))
            .and_modify(|profile| {
                profile.first_user_start = profile.first_user_start.min(first);
                let newer = (last, identity_fields(dims, &identity.key))
                    .cmp(&(profile.latest.0, identity_fields(dims, &profile.latest.1)));
                if newer == Ordering::Greater {
                    profile.latest = (last, identity.key);
                }
            })
            .or_insert(candidate);
    }
    profiles
}

/// Sessions of one identity and kind within a block of time.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Usage {
    /// Start of the block: every session counted here starts in the same day (or month).
    pub(crate) start: Micros,
    pub(crate) ci: bool,
    pub(crate) identity: DimId,
    pub(crate) sessions: u64,
    pub(crate) total_micros: i64,
    pub(crate) last_start: Micros,
}

pub(crate) fn running_in_range(snapshot: &Snapshot) -> impl Iterator<Item = &RunningSession> + '_ {
    snapshot
        .running
        .iter()
        .filter(|session| snapshot.from <= session.start && session.start < snapshot.to)
}

/// Completed sessions in range, plus running sessions that started in range (lasting until
/// `now`).
pub(crate) fn usage_in_range(snapshot: &Snapshot, now: Micros) -> impl Iterator<Item = Usage> + '_ {
    let completed = snapshot.usage.iter().flat_map(|block| {
        block.identities.iter().map(move |entry| Usage {
            start: block.start,
            ci: block.ci,
            identity: entry.identity,
            sessions: entry.sessions,
            total_micros: entry.total_micros,
            last_start: entry.last_start,
        })
    });
    let running = running_in_range(snapshot).map(move |session| Usage {
        start: session.start,
        ci: session.ci,
        identity: session.identity,
        sessions: 1,
        total_micros: (now - session.start).max(0),
        last_start: session.start,
    });
    completed.chain(running)
}

pub(crate) fn period(snapshot: &Snapshot) -> ReportPeriod {
    ReportPeriod {
        from: calendar::from_micros(snapshot.from),
        to: calendar::from_micros(snapshot.to),
    }
}

//! Stored usage as the report engine reads it: interned dimensions (identities, targets,
//! namespaces) and sessions summed into contributions. A store produces a [`Snapshot`]; the
//! report engine turns it into numbers without touching storage. Individual sessions are read
//! back a page at a time ([`SessionQuery`], [`SessionPage`]).

use std::collections::HashMap;
use std::sync::Arc;

use mirrord_usage_crds::report::{License, PrimaryKey};

use crate::calendar::Micros;

/// Id of an interned value; 0 always means "absent".
pub type DimId = u32;

pub const ABSENT: DimId = 0;

/// Who ran a session: the four identity fields, interned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct IdentityKey {
    pub machine_id: DimId,
    pub kubernetes_username: DimId,
    pub client_username: DimId,
    pub client_hostname: DimId,
}

impl IdentityKey {
    pub fn field(&self, key: PrimaryKey) -> DimId {
        match key {
            PrimaryKey::MachineId => self.machine_id,
            PrimaryKey::KubernetesUsername => self.kubernetes_username,
            PrimaryKey::ClientUsername => self.client_username,
            PrimaryKey::ClientHostname => self.client_hostname,
        }
    }
}

/// An identity with the span of its user sessions (CI sessions do not count here).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Identity {
    pub key: IdentityKey,
    pub first_user_start: Option<Micros>,
    pub last_user_start: Option<Micros>,
}

/// A session target; the container is kept but reports group by kind and name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TargetKey {
    pub kind: DimId,
    pub name: DimId,
    pub container: DimId,
}

/// Where a CI session ran.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CiKey {
    pub provider: DimId,
    pub pipeline: DimId,
    pub environment: DimId,
    pub triggered_by: DimId,
}

/// Every repeated value, stored once. Index 0 of each table is the "absent" placeholder.
#[derive(Debug, Clone)]
pub struct Dimensions {
    strings: Vec<Arc<str>>,
    string_ids: HashMap<Arc<str>, DimId>,
    identities: Vec<Identity>,
    identity_ids: HashMap<IdentityKey, DimId>,
    targets: Vec<TargetKey>,
    target_ids: HashMap<TargetKey, DimId>,
    ci_contexts: Vec<CiKey>,
    ci_ids: HashMap<CiKey, DimId>,
}

impl Default for Dimensions {
    fn default() -> Self {
        let no_identity = IdentityKey {
            machine_id: ABSENT,
            kubernetes_username: ABSENT,
            client_username: ABSENT,
            client_hostname: ABSENT,
        };
        Dimensions {
            strings: vec![Arc::from("")],
            string_ids: HashMap::new(),
            identities: vec![Identity {
                key: no_identity,
                first_user_start: None,
                last_user_start: None,
            }],
            identity_ids: HashMap::new(),
            targets: vec![TargetKey {
                kind: ABSENT,
                name: ABSENT,
                container: ABSENT,
            }],
            target_ids: HashMap::new(),
            ci_contexts: vec![CiKey {
                provider: ABSENT,
                pipeline: ABSENT,
                environment: ABSENT,
                triggered_by: ABSENT,
            }],
            ci_ids: HashMap::new(),
        }
    }
}

impl Dimensions {
    pub fn string(&self, id: DimId) -> Option<&Arc<str>> {
        (id != ABSENT).then(|| &self.strings[id as usize])
    }

    pub fn string_id(&self, value: &str) -> Option<DimId> {
        self.string_ids.get(value).copied()
    }

    pub fn identity(&self, id: DimId) -> &Identity {
        &self.identities[id as usize]
    }

    /// Every real identity with its id.
    pub fn identities(&self) -> impl Iterator<Item = (DimId, &Identity)> {
        self.identities
            .iter()
            .enumerate()
            .skip(1)
            .map(|(id, identity)| (id as DimId, identity))
    }

    pub fn identity_mut(&mut self, id: DimId) -> &mut Identity {
        &mut self.identities[id as usize]
    }

    pub fn target(&self, id: DimId) -> &TargetKey {
        &self.targets[id as usize]
    }

    pub fn ci_context(&self, id: DimId) -> &CiKey {
        &self.ci_contexts[id as usize]
    }

    /// Numbers of entries (placeholders included): ids at or above these are newer.
    pub fn counts(&self) -> [usize; 4] {
        [
            self.strings.len(),
            self.identities.len(),
            self.targets.len(),
            self.ci_contexts.len(),
        ]
    }

    pub fn strings_from(&self, first: usize) -> impl Iterator<Item = (DimId, &str)> {
        self.strings[first..]
            .iter()
            .enumerate()
            .map(move |(i, s)| ((first + i) as DimId, &**s))
    }

    pub fn identities_from(&self, first: usize) -> impl Iterator<Item = (DimId, &Identity)> {
        self.identities[first..]
            .iter()
            .enumerate()
            .map(move |(i, v)| ((first + i) as DimId, v))
    }

    pub fn targets_from(&self, first: usize) -> impl Iterator<Item = (DimId, &TargetKey)> {
        self.targets[first..]
            .iter()
            .enumerate()
            .map(move |(i, v)| ((first + i) as DimId, v))
    }

    pub fn ci_contexts_from(&self, first: usize) -> impl Iterator<Item = (DimId, &CiKey)> {
        self.ci_contexts[first..]
            .iter()
            .enumerate()
            .map(move |(i, v)| ((first + i) as DimId, v))
    }

    pub fn identity_id(&self, key: &IdentityKey) -> Option<DimId> {
        self.identity_ids.get(key).copied()
    }

    pub fn target_id(&self, key: &TargetKey) -> Option<DimId> {
        self.target_ids.get(key).copied()
    }

    pub fn ci_id(&self, key: &CiKey) -> Option<DimId> {
        self.ci_ids.get(key).copied()
    }

    pub fn intern_string(&mut self, value: &str) -> DimId {
        if let Some(&id) = self.string_ids.get(value) {
            return id;
        }
        let id = self.strings.len() as DimId;
        let value: Arc<str> = Arc::from(value);
        self.strings.push(value.clone());
        self.string_ids.insert(value, id);
        id
    }

    pub fn intern_identity(&mut self, key: IdentityKey) -> DimId {
        intern(&mut self.identities, &mut self.identity_ids, key, |key| Identity {
            key,
            first_user_start: None,
            last_user_start: None,
        })
    }

    pub fn intern_target(&mut self, key: TargetKey) -> DimId {
        intern(&mut self.targets, &mut self.target_ids, key, |key| key)
    }

    pub fn intern_ci(&mut self, key: CiKey) -> DimId {
        intern(&mut self.ci_contexts, &mut self.ci_ids, key, |key| key)
    }

    /// Restores a row read back from storage; ids must arrive in increasing order.
    pub fn restore_string(&mut self, id: DimId, value: &str) {
        assert_eq!(id as usize, self.strings.len(), "strings are restored in id order");
        self.intern_string(value);
    }

    pub fn restore_identity(&mut self, id: DimId, identity: Identity) {
        assert_eq!(
            id as usize,
            self.identities.len(),
            "identities are restored in id order"
        );
        self.intern_identity(identity.key);
        self.identities[id as usize] = identity;
    }

    pub fn restore_target(&mut self, id: DimId, key: TargetKey) {
        assert_eq!(id as usize, self.targets.len(), "targets are restored in id order");
        self.intern_target(key);
    }

    pub fn restore_ci(&mut self, id: DimId, key: CiKey) {
        assert_eq!(
            id as usize,
            self.ci_contexts.len(),
            "CI contexts are restored in id order"
        );
        self.intern_ci(key);
    }
}

fn intern<K: Copy + Eq + std::hash::Hash, V>(
    values: &mut Vec<V>,
    ids: &mut HashMap<K, DimId>,
    key: K,
    make: impl FnOnce(K) -> V,
) -> DimId {
    if let Some(&id) = ids.get(&key) {
        return id;
    }
    let id = values.len() as DimId;
    values.push(make(key));
    ids.insert(key, id);
    id
}

/// Completed sessions of one identity within a block, summed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IdentityUsage {
    pub identity: DimId,
    pub sessions: u64,
    pub total_micros: i64,
    pub last_start: Micros,
}

/// Completed sessions of one kind (user or CI) that started within one block of time: a UTC
/// day, a UTC month, or the part of a day at the edge of a range.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageBlock {
    /// Start of the block (never before the start of the day or month it lies in).
    pub start: Micros,
    pub ci: bool,
    pub identities: Vec<IdentityUsage>,
}

/// Completed user sessions against one target (in one namespace) within one block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetUsage {
    pub namespace: DimId,
    pub target: DimId,
    pub sessions: u64,
    pub total_micros: i64,
    /// Who ran them.
    pub identities: Vec<DimId>,
}

/// A session with a start and no end yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunningSession {
    pub identity: DimId,
    pub target: DimId,
    pub namespace: DimId,
    pub ci: bool,
    pub start: Micros,
}

/// Count and total duration of completed sessions of one kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Totals {
    pub sessions: u64,
    pub total_micros: i64,
}

/// A completed session's interval, for concurrency.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Interval {
    pub start: Micros,
    pub end: Micros,
    pub ci: bool,
}

/// What a snapshot covers: completed sessions starting in `[from, to)`, summed at most per day
/// (`Day`) or per month where whole months fit (`Month`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Granularity {
    Day,
    Month,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SnapshotQuery {
    /// Start of the range; `None` means the first session ever (or `to` on an empty store).
    pub from: Option<Micros>,
    pub to: Micros,
    pub granularity: Granularity,
}

/// Everything a report needs, read consistently at one point in time.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub dims: Arc<Dimensions>,
    pub from: Micros,
    pub to: Micros,
    /// Completed sessions starting in `[from, to)`, in blocks that never straddle a day (or, at
    /// `Month` granularity, a month) boundary.
    pub usage: Vec<UsageBlock>,
    /// Completed user sessions starting in `[from, to)`, per target (a target may repeat).
    pub targets: Vec<TargetUsage>,
    /// Every running session, whenever it started.
    pub running: Vec<RunningSession>,
    /// Completed user sessions ever.
    pub user_totals: Totals,
    /// Completed CI sessions ever.
    pub ci_totals: Totals,
    /// Peak overlap of completed user / CI sessions, all time.
    pub completed_peak_user: u64,
    pub completed_peak_ci: u64,
    /// Completed sessions ending after the earliest running session started: with the running
    /// ones they decide any peak that running sessions take part in.
    pub overlapping_running: Vec<Interval>,
    pub first_session_at: Option<Micros>,
    pub last_event_at: Option<Micros>,
    pub operator_version: Option<String>,
    pub license: Option<License>,
    /// CI sessions running now by the operator's summary count, when the summary is the
    /// source: it has no CI marker on the sessions themselves.
    pub operator_ci_running: Option<u64>,
}

/// Which sessions to list: those overlapping [from, to) (start < to, and running or end > from;
/// from None = since the beginning), newest start first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionQuery {
    pub from: Option<Micros>,
    pub to: Micros,
    /// Exact match on the kubernetes username, the client username or the machine id.
    pub user: Option<String>,
    /// Exact match on the target namespace.
    pub namespace: Option<String>,
    /// Only CI sessions (true) or only non-CI sessions (false).
    pub ci: Option<bool>,
    /// Exact match on how the session closed (e.g. `Unused`).
    pub close_reason: Option<String>,
    /// At most this many sessions (the caller clamps it; the store requires >= 1).
    pub limit: usize,
    /// Continue after this position (from a previous page).
    pub after: Option<SessionCursor>,
}

/// Position in the newest-first order: (start, row id), opaque to clients.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionCursor {
    pub start: Micros,
    pub id: i64,
}

/// Hex digits of a token: the start's and the row id's 64 bits each.
const CURSOR_DIGITS: usize = 32;

impl SessionCursor {
    /// URL-safe token: the start's and the row id's bits as 32 lowercase hex digits.
    pub fn encode(&self) -> String {
        // The casts keep every bit, so negative starts (before 1970) round-trip too.
        format!("{:016x}{:016x}", self.start as u64, self.id as u64)
    }

    /// Err(message naming the token) when malformed.
    pub fn decode(token: &str) -> Result<Self, String> {
        let malformed = || {
            format!(
                "'{token}' is not a page token: pass the `next` token of a previous page unchanged, or leave it out \
                 for the first page"
            )
        };
        // from_str_radix alone would also accept a sign, so the digits are checked first.
        if token.len() != CURSOR_DIGITS || !token.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            return Err(malformed());
        }
        let (start, id) = token.split_at(CURSOR_DIGITS / 2);
        let start = u64::from_str_radix(start, 16).map_err(|_| malformed())? as i64;
        let id = u64::from_str_radix(id, 16).map_err(|_| malformed())? as i64;
        // Row ids start at 1: anything else was not made by `encode`.
        if id < 1 {
            return Err(malformed());
        }
        Ok(SessionCursor { start, id })
    }
}

/// The workload a listed session targeted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionTarget {
    pub kind: String,
    pub name: String,
    pub container: Option<String>,
}

/// Where a listed CI session ran, as it reported it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CiRecord {
    pub provider: Option<String>,
    pub pipeline: Option<String>,
    pub environment: Option<String>,
    pub triggered_by: Option<String>,
}

/// One session as its start (and end, if any) told it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRecord {
    pub session_id: String,
    pub machine_id: Option<String>,
    pub kubernetes_username: Option<String>,
    pub client_username: Option<String>,
    pub client_hostname: Option<String>,
    /// None for a targetless session.
    pub target: Option<SessionTarget>,
    pub namespace: Option<String>,
    pub start: Micros,
    /// None while the session runs.
    pub end: Option<Micros>,
    /// None for a user session; present (its fields possibly all None) for a CI session.
    pub ci: Option<CiRecord>,
    pub cli_version: Option<String>,
    pub operator_version: Option<String>,
    /// How the session closed, as the operator reported it.
    pub close_reason: Option<String>,
    /// The parent of a multi-cluster session.
    pub multi_cluster_parent: Option<String>,
}

/// One page of a session listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionPage {
    pub sessions: Vec<SessionRecord>,
    /// Set when more sessions match.
    pub next: Option<SessionCursor>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_survives_its_token() {
        let cursors = [
            SessionCursor {
                start: 1_795_564_800_000_000,
                id: 4_999_999,
            },
            SessionCursor { start: -1, id: 1 },
            SessionCursor {
                start: Micros::MIN,
                id: i64::MAX,
            },
        ];
        for cursor in cursors {
            let token = cursor.encode();
            assert!(
                token
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
                "{token} is not URL-safe"
            );
            assert_eq!(SessionCursor::decode(&token), Ok(cursor), "{token}");
        }
    }

    #[test]
    fn a_malformed_token_is_refused_by_name() {
        let valid = SessionCursor { start: 5, id: 7 }.encode();
        let too_short = &valid[1..];
        let signed = format!("+{}", &valid[1..]);
        let upper = valid.to_uppercase().replace('0', "A");
        let row_zero = SessionCursor { start: 5, id: 0 }.encode();
        for token in [
            "",
            "abc",
            too_short,
            &signed,
            &upper,
            &format!("{valid}0"),
            "zz",
            &row_zero,
        ] {
            let message = SessionCursor::decode(token).unwrap_err();
            assert!(message.contains(&format!("'{token}'")), "{message}");
        }
    }
}

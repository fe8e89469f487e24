//! Packed rollups: per UTC day and per UTC month, the completed sessions of every identity (and
//! of every target) in one BLOB, so a report over two years reads a few dozen values instead of
//! a row per identity and target.
//!
//! Formats (little endian, entries sorted by identity):
//! - identity usage: `identity u32, sessions u32, total_us i64, last_start_us i64` per entry;
//! - identity set: `identity u32` per entry.

use std::collections::BTreeMap;

use crate::calendar::Micros;
use crate::model::{DimId, IdentityUsage};

/// Width of a block.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum Span {
    Day = 0,
    Month = 1,
}

const USAGE_ENTRY: usize = 24;
const ID_ENTRY: usize = 4;

fn u32_at(bytes: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(bytes[at..at + 4].try_into().expect("four bytes"))
}

fn i64_at(bytes: &[u8], at: usize) -> i64 {
    i64::from_le_bytes(bytes[at..at + 8].try_into().expect("eight bytes"))
}

/// Appends the entries of an identity-usage blob to `out`.
pub(crate) fn decode_usage(bytes: &[u8], out: &mut Vec<IdentityUsage>) {
    out.reserve(bytes.len() / USAGE_ENTRY);
    for entry in bytes.chunks_exact(USAGE_ENTRY) {
        out.push(IdentityUsage {
            identity: u32_at(entry, 0),
            sessions: u64::from(u32_at(entry, 4)),
            total_micros: i64_at(entry, 8),
            last_start: i64_at(entry, 16),
        });
    }
}

pub(crate) fn encode_usage(entries: &BTreeMap<DimId, IdentityUsage>) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(entries.len() * USAGE_ENTRY);
    for entry in entries.values() {
        bytes.extend_from_slice(&entry.identity.to_le_bytes());
        // A block holds at most a month of one identity's sessions: far below u32::MAX.
        bytes.extend_from_slice(&(entry.sessions.min(u64::from(u32::MAX)) as u32).to_le_bytes());
        bytes.extend_from_slice(&entry.total_micros.to_le_bytes());
        bytes.extend_from_slice(&entry.last_start.to_le_bytes());
    }
    bytes
}

/// Adds `additions` to a stored blob.
pub(crate) fn merge_usage(stored: Option<&[u8]>, additions: &BTreeMap<DimId, IdentityUsage>) -> Vec<u8> {
    let mut merged: BTreeMap<DimId, IdentityUsage> = BTreeMap::new();
    let mut existing = Vec::new();
    if let Some(bytes) = stored {
        decode_usage(bytes, &mut existing);
    }
    for entry in existing {
        merged.insert(entry.identity, entry);
    }
    for (&identity, addition) in additions {
        merged
            .entry(identity)
            .and_modify(|entry| {
                entry.sessions += addition.sessions;
                entry.total_micros += addition.total_micros;
                entry.last_start = entry.last_start.max(addition.last_start);
            })
            .or_insert(*addition);
    }
    encode_usage(&merged)
}

pub(crate) fn decode_ids(bytes: &[u8], out: &mut Vec<DimId>) {
    out.extend(bytes.chunks_exact(ID_ENTRY).map(|entry| u32_at(entry, 0)));
}

/// The union of a stored identity set and `additions` (sorted, without repeats).
pub(crate) fn merge_ids(stored: Option<&[u8]>, additions: &std::collections::BTreeSet<DimId>) -> Vec<u8> {
    let mut ids = Vec::new();
    if let Some(bytes) = stored {
        decode_ids(bytes, &mut ids);
    }
    ids.extend(additions.iter().copied());
    ids.sort_unstable();
    ids.dedup();
    ids.iter().flat_map(|id| id.to_le_bytes()).collect()
}

/// Sums for one identity, for building blobs.
pub(crate) fn usage(identity: DimId, start: Micros, duration: i64) -> IdentityUsage {
    IdentityUsage {
        identity,
        sessions: 1,
        total_micros: duration,
        last_start: start,
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    #[test]
    fn merging_adds_to_stored_entries_and_keeps_them_sorted() {
        let first: BTreeMap<_, _> = [(7, usage(7, 100, 10)), (2, usage(2, 50, 5))].into();
        let stored = encode_usage(&first);
        let second: BTreeMap<_, _> = [(7, usage(7, 90, 1)), (3, usage(3, 10, 2))].into();
        let mut out = Vec::new();
        decode_usage(&merge_usage(Some(&stored), &second), &mut out);
        let summary: Vec<_> = out
            .iter()
            .map(|e| (e.identity, e.sessions, e.total_micros, e.last_start))
            .collect();
        assert_eq!(summary, [(2, 1, 5, 50), (3, 1, 2, 10), (7, 2, 11, 100)]);
    }

    #[test]
    fn identity_sets_merge_without_repeats() {
        let stored = merge_ids(None, &BTreeSet::from([5, 1]));
        let mut out = Vec::new();
        decode_ids(&merge_ids(Some(&stored), &BTreeSet::from([3, 5])), &mut out);
        assert_eq!(out, [1, 3, 5]);
    }
}

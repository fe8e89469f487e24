//! Concurrency: the most sessions running at once, from their start and end times. The store
//! keeps each completed day's peak; the report adds the sessions still running.

use crate::calendar::Micros;

/// Peak of a set of half-open intervals given as (+1 at start, -1 at end) edges: at equal
/// times ends come first, so touching intervals do not overlap.
pub fn peak_of(edges: &mut [(Micros, i32)]) -> u64 {
    edges.sort_unstable();
    let mut current: i64 = 0;
    let mut peak: i64 = 0;
    for &(_, delta) in edges.iter() {
        current += i64::from(delta);
        peak = peak.max(current);
    }
    peak as u64
}

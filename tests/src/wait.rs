//! Waiting for something a test can observe but not await: poll, and fail saying what was
//! awaited once a deadline passes.

use std::future::Future;
use std::time::{Duration, Instant};

/// How long [`eventually`] waits.
pub const EVENTUALLY_DEADLINE: Duration = Duration::from_secs(30);

const POLL: Duration = Duration::from_millis(100);

/// Calls `check` until it returns `Some`, and returns that.
///
/// # Panics
/// After [`EVENTUALLY_DEADLINE`], with `what` in the message: this is for tests.
pub async fn eventually<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let started = Instant::now();
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            started.elapsed() < EVENTUALLY_DEADLINE,
            "timed out after {EVENTUALLY_DEADLINE:?} waiting for {what}"
        );
        tokio::time::sleep(POLL).await;
    }
}

//! How one activity call runs: [`ActivityOptions`] and its [`RetryPolicy`], converted to the
//! WIT's `activity-options` when the orchestrator schedules the call.

use std::time::Duration;

use crate::time::millis;
use crate::wit::wasmhost::host::workflow_types;

/// How an activity is retried after a failed attempt (an `Err`, a trap, a timeout): attempt
/// `n` (from 2) starts `first_retry × 2^(n-2)` after attempt `n - 1` failed, at most
/// `max_retry` (plus up to as much again at random, as queue retries). Once `max_attempts`
/// attempts have failed, the task fails with the last attempt's error.
///
/// ```
/// use std::time::Duration;
/// use wasmhost_sdk::workflow::RetryPolicy;
///
/// // Attempts 2, 3, 4, 5 start 1 s, 2 s, 4 s, 5 s after the one before failed.
/// let policy = RetryPolicy::exponential(5, Duration::from_secs(1), Duration::from_secs(5));
/// assert_eq!(policy.max_attempts(), 5);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    max_attempts: u32,
    first_retry: Duration,
    max_retry: Duration,
}

impl RetryPolicy {
    /// Up to `max_attempts` attempts in all, the first included (0 is taken as 1: no retry),
    /// waiting `first_retry` before the second, doubling each time up to `max_retry`.
    /// Durations are sent in whole milliseconds.
    pub fn exponential(max_attempts: u32, first_retry: Duration, max_retry: Duration) -> Self {
        Self {
            max_attempts: max_attempts.max(1),
            first_retry,
            max_retry,
        }
    }

    /// The attempts in all, the first one included (at least 1).
    pub fn max_attempts(&self) -> u32 {
        self.max_attempts
    }

    /// The delay before the second attempt.
    pub fn first_retry(&self) -> Duration {
        self.first_retry
    }

    /// The longest delay between two attempts.
    pub fn max_retry(&self) -> Duration {
        self.max_retry
    }
}

impl From<RetryPolicy> for workflow_types::RetryPolicy {
    fn from(policy: RetryPolicy) -> Self {
        Self {
            max_attempts: policy.max_attempts,
            first_retry_ms: millis(policy.first_retry),
            max_retry_ms: millis(policy.max_retry),
        }
    }
}

/// How one activity call runs: its retries and the time limit of each attempt.
///
/// The default (`ActivityOptions::new()`) is one attempt, no retry, with the activity
/// component's own `timeout_ms` as the limit.
///
/// ```
/// use std::time::Duration;
/// use wasmhost_sdk::workflow::{ActivityOptions, RetryPolicy};
///
/// let options = ActivityOptions::new()
///     .retry(RetryPolicy::exponential(3, Duration::from_secs(1), Duration::from_secs(30)))
///     .timeout(Duration::from_secs(10));
/// # let _ = options;
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ActivityOptions {
    retry: Option<RetryPolicy>,
    timeout: Option<Duration>,
}

impl ActivityOptions {
    /// One attempt, no retry, the component's own time limit.
    pub fn new() -> Self {
        Self::default()
    }

    /// Retries failed attempts as `policy` says.
    pub fn retry(mut self, policy: RetryPolicy) -> Self {
        self.retry = Some(policy);
        self
    }

    /// Limits each attempt to `timeout` of wall-clock time (whole milliseconds); an attempt
    /// that runs out of it has failed (and is retried as the policy says).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }
}

impl From<ActivityOptions> for workflow_types::ActivityOptions {
    fn from(options: ActivityOptions) -> Self {
        Self {
            retry: options.retry.map(Into::into),
            timeout_ms: options.timeout.map(millis),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_is_one_attempt_with_the_components_limit() {
        let wit: workflow_types::ActivityOptions = ActivityOptions::new().into();
        assert!(wit.retry.is_none());
        assert_eq!(wit.timeout_ms, None);
    }

    #[test]
    fn options_become_the_wit_record_in_milliseconds() {
        let options = ActivityOptions::new()
            .retry(RetryPolicy::exponential(
                4,
                Duration::from_millis(250),
                Duration::from_secs(60),
            ))
            .timeout(Duration::from_secs(10));
        let wit: workflow_types::ActivityOptions = options.into();
        let retry = wit.retry.expect("a retry policy");
        assert_eq!(
            (retry.max_attempts, retry.first_retry_ms, retry.max_retry_ms),
            (4, 250, 60_000)
        );
        assert_eq!(wit.timeout_ms, Some(10_000));
    }

    #[test]
    fn zero_attempts_means_one() {
        let policy = RetryPolicy::exponential(0, Duration::ZERO, Duration::ZERO);
        assert_eq!(policy.max_attempts(), 1);
    }
}

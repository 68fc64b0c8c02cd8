//! Layer 1, the value types of one invocation, which every layer above may use: what an
//! invocation carries into its instance ([`Invocation`]: its [`RequestId`], its outbound
//! [`Budget`] and its [`TraceContext`]) and how its wall-clock deadline ends it ([`until`],
//! [`WallClockTimeout`]).
//!
//! A trigger makes one per event (an HTTP request, a cron tick, a batch of queue messages);
//! internal chaining hands the caller's id and budget on to the callee. Nothing here knows a
//! trigger, a capability or a loaded app.

pub mod request_id;
pub mod trace_context;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::Duration;

pub use request_id::RequestId;

pub use trace_context::TraceContext;

/// What one invocation carries into its instance: its id (for logs, and for the guest), its
/// outbound request budget, and its trace context. Internal chaining hands the caller's id and
/// budget to the callee, which gets a trace context of its own, a child of the caller's.
#[derive(Clone, Debug)]
pub struct Invocation {
    /// The request id (HTTP), run id (cron) or batch id (queue).
    pub request_id: RequestId,
    /// Outbound requests left.
    pub budget: Budget,
    /// The invocation's span context, the parent of the requests it sends.
    pub trace: TraceContext,
}

/// Outbound requests left to one invocation, shared along a chain of internal calls.
/// Cloning shares it.
#[derive(Clone, Debug)]
pub struct Budget(Arc<BudgetState>);

#[derive(Debug)]
struct BudgetState {
    left: AtomicU32,
    /// Whether a request was already refused for want of budget.
    refused: AtomicBool,
}

/// What [`Budget::take`] gives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Take {
    /// One request taken.
    Taken,
    /// None left, for the first time in this invocation (worth one log line).
    FirstRefusal,
    /// None left, again.
    Refused,
}

impl Budget {
    /// A budget of `max_requests` outbound requests.
    pub fn new(max_requests: u32) -> Self {
        Self(Arc::new(BudgetState {
            left: AtomicU32::new(max_requests),
            refused: AtomicBool::new(false),
        }))
    }

    /// Takes one request, or says that none are left, and whether that is news.
    pub fn take(&self) -> Take {
        let taken = self
            .0
            .left
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |left| {
                left.checked_sub(1)
            })
            .is_ok();
        if taken {
            Take::Taken
        } else if self.0.refused.swap(true, Ordering::Relaxed) {
            Take::Refused
        } else {
            Take::FirstRefusal
        }
    }
}

/// The failure of an invocation that ran past its wall-clock deadline
/// ([`crate::limits::Limits::timeout`]): counted as [`crate::metrics::Outcome::Timeout`].
#[derive(Debug, thiserror::Error)]
#[error("wall-clock timeout of {ms} ms exceeded (timeout_ms, --timeout-ms)")]
pub struct WallClockTimeout {
    /// The timeout, in ms.
    pub ms: u64,
}

/// When an invocation's wall-clock time runs out: the instant, and the timeout it was
/// counted from (for the account of a [`WallClockTimeout`]).
#[derive(Debug, Clone, Copy)]
pub struct Deadline {
    /// The instant ([`deadline`] of the start and the timeout).
    pub at: tokio::time::Instant,
    /// The timeout.
    pub timeout: Duration,
}

impl Deadline {
    /// `timeout` after `start`.
    pub fn new(start: tokio::time::Instant, timeout: Duration) -> Self {
        Self {
            at: deadline(start, timeout),
            timeout,
        }
    }

    /// The failure of an invocation still running at this deadline.
    pub fn passed(&self) -> wasmtime::Error {
        WallClockTimeout {
            ms: u64::try_from(self.timeout.as_millis()).unwrap_or(u64::MAX),
        }
        .into()
    }
}

/// About thirty years: a deadline that never comes.
const FAR_FUTURE: Duration = Duration::from_secs(30 * 365 * 86_400);

/// `start` + `timeout`, or about thirty years on where that would overflow (a configured
/// timeout of `u64::MAX` ms means no deadline, never a panic).
pub fn deadline(start: tokio::time::Instant, timeout: Duration) -> tokio::time::Instant {
    start
        .checked_add(timeout)
        .unwrap_or_else(|| start + FAR_FUTURE)
}

/// `duration` rounded to whole microseconds, so that it prints as `3.123ms`, not
/// `3.123456789ms`.
pub fn round_to_micros(duration: Duration) -> Duration {
    let nanos = duration.as_nanos().saturating_add(500);
    Duration::from_micros(u64::try_from(nanos / 1000).unwrap_or(u64::MAX))
}

/// `invocation`'s result, or a [`WallClockTimeout`] failure if it has not finished by
/// `deadline` (it is then dropped, and its instance with it).
pub async fn until<T>(
    deadline: Deadline,
    invocation: impl Future<Output = wasmtime::Result<T>>,
) -> wasmtime::Result<T> {
    tokio::time::timeout_at(deadline.at, invocation)
        .await
        .unwrap_or_else(|_| Err(deadline.passed()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_print_to_the_microsecond() {
        let shown = |nanos| format!("{:?}", round_to_micros(Duration::from_nanos(nanos)));
        assert_eq!(shown(3_123_456_789), "3.123457s");
        assert_eq!(shown(3_123_456), "3.123ms");
        assert_eq!(shown(3_100_000), "3.1ms");
        assert_eq!(shown(850_400), "850µs");
        assert_eq!(shown(400), "0ns");
    }

    #[test]
    fn a_budget_is_shared_and_runs_out() {
        let budget = Budget::new(2);
        let chained = budget.clone();
        assert_eq!(budget.take(), Take::Taken);
        assert_eq!(chained.take(), Take::Taken);
        assert_eq!(budget.take(), Take::FirstRefusal);
        assert_eq!(chained.take(), Take::Refused);
        assert_eq!(budget.take(), Take::Refused);
    }
}

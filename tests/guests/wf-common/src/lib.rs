//! `wf-common`: what the test orchestrators share (a library, not a component): the input of
//! the letter activities `a`, `b`, `c` of `wf-activities`, the call options a test passes in
//! a workflow's input, and a chain of letter activities.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use wasmhost_sdk::workflow::{ActivityOptions, RetryPolicy, TaskError, WorkflowContext};

/// The input of a letter activity (`a`, `b`, `c`), which appends its name to `text` and
/// returns the new text (a JSON string).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Letters {
    /// The text so far.
    #[serde(default)]
    pub text: String,
    /// Where each activity POSTs first, so that the test upstream counts the calls and sees
    /// their idempotency keys.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count_url: Option<String>,
    /// Per activity name, how long it sleeps after counting, in milliseconds (to kill the
    /// host while it runs).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub sleep_ms: BTreeMap<String, u64>,
}

/// How each activity call of a test orchestrator runs, as its input may say: `max_attempts`
/// (with `first_retry_ms`, default 100, and `max_retry_ms`, default 1000) and `timeout_ms`.
/// Absent: one attempt, the component's time limit.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct CallOptions {
    /// Attempts in all; a retry policy only if set.
    #[serde(default)]
    pub max_attempts: Option<u32>,
    /// The delay before the second attempt, in milliseconds.
    #[serde(default)]
    pub first_retry_ms: Option<u64>,
    /// The longest delay between two attempts, in milliseconds.
    #[serde(default)]
    pub max_retry_ms: Option<u64>,
    /// The time limit of each attempt, in milliseconds.
    #[serde(default)]
    pub timeout_ms: Option<u64>,
}

impl CallOptions {
    /// The SDK's options for these.
    pub fn activity_options(&self) -> ActivityOptions {
        let mut options = ActivityOptions::new();
        if let Some(max_attempts) = self.max_attempts {
            options = options.retry(RetryPolicy::exponential(
                max_attempts,
                Duration::from_millis(self.first_retry_ms.unwrap_or(100)),
                Duration::from_millis(self.max_retry_ms.unwrap_or(1000)),
            ));
        }
        if let Some(timeout_ms) = self.timeout_ms {
            options = options.timeout(Duration::from_millis(timeout_ms));
        }
        options
    }
}

/// Calls the letter activities `steps` one after the other, each with the text the one before
/// returned; returns the last text.
///
/// # Errors
/// The first activity that fails, as the SDK reports it.
pub fn chain(
    ctx: &WorkflowContext,
    steps: &[&str],
    mut letters: Letters,
    options: ActivityOptions,
) -> Result<String, TaskError> {
    for step in steps {
        letters.text = ctx.call_with(step, &letters, options)?;
    }
    Ok(letters.text)
}

/// Waits for event `go` (any payload), then runs [`chain`] over `steps` with one attempt per
/// call: the body of `wf-order-v1` and `wf-order-v2`, which differ only in the order of
/// `steps`.
///
/// # Errors
/// As [`chain`], or a `go` payload that is not JSON.
pub fn go_then_chain(
    ctx: &WorkflowContext,
    steps: &[&str],
    letters: Letters,
) -> Result<String, TaskError> {
    ctx.wait_for_event::<serde::de::IgnoredAny>("go", None)?;
    chain(ctx, steps, letters, ActivityOptions::new())
}

//! `wf-event`: human interaction with a timeout. Optionally sleeps `sleep_ms` first (so that
//! a test can raise the event before the wait), then waits for event `name` (default
//! `approval`) with `timeout_ms` (none: no timeout). Output: `{"first": "event", "payload":
//! <the event's JSON payload>}` if the event came first, `{"first": "timeout"}` if the
//! timeout did.
//!
//! Input: `{"timeout_ms": 2000, "sleep_ms": 500, "name": "approval"}`, every field optional.

use std::time::Duration;

use serde::Deserialize;
use serde_json::{Value, json};
use wasmhost_sdk::workflow;
use wasmhost_sdk::workflow::{TaskError, WorkflowContext};

/// The input.
#[derive(Default, Deserialize)]
struct Input {
    #[serde(default)]
    timeout_ms: Option<u64>,
    #[serde(default)]
    sleep_ms: Option<u64>,
    #[serde(default)]
    name: Option<String>,
}

#[workflow]
fn event(ctx: &WorkflowContext, input: Option<Input>) -> Result<Value, TaskError> {
    let input = input.unwrap_or_default();
    if let Some(ms) = input.sleep_ms {
        ctx.sleep(Duration::from_millis(ms));
    }
    let name = input.name.as_deref().unwrap_or("approval");
    match ctx.wait_for_event::<Value>(name, input.timeout_ms.map(Duration::from_millis)) {
        Ok(payload) => Ok(json!({ "first": "event", "payload": payload })),
        Err(TaskError::TimedOut) => Ok(json!({ "first": "timeout" })),
        Err(err) => Err(err),
    }
}

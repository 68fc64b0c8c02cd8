//! `wf-chain`: function chaining. Orchestrator calling the letter activities `a` → `b` → `c`
//! of `wf-activities`, each with the text the one before returned; its output is the final
//! text (a JSON string, `"abc"` from an empty start).
//!
//! Input (JSON, every field optional): `text` (the start), `count_url` and `sleep_ms`
//! (passed to each activity: see `wf_common::Letters`), and `max_attempts`,
//! `first_retry_ms`, `max_retry_ms`, `timeout_ms` for every call (see
//! `wf_common::CallOptions`). Needs `activities = ["a", "b", "c"]`.

use serde::Deserialize;
use wasmhost_sdk::workflow;
use wasmhost_sdk::workflow::{TaskError, WorkflowContext};
use wf_common::{CallOptions, Letters};

/// The input: the letters and the options of each call.
#[derive(Default, Deserialize)]
struct Input {
    #[serde(flatten)]
    letters: Letters,
    #[serde(flatten)]
    options: CallOptions,
}

#[workflow]
fn chain(ctx: &WorkflowContext, input: Option<Input>) -> Result<String, TaskError> {
    let Input { letters, options } = input.unwrap_or_default();
    wf_common::chain(ctx, &["a", "b", "c"], letters, options.activity_options())
}

//! `wf-saga`: retries and a compensation. Calls `flaky` of `wf-activities` (input
//! `{"succeed_on": <succeed_on>}`) with an exponential retry policy of `max_attempts`
//! attempts (default: `succeed_on`), 100 ms doubling up to 1 s; then `fail`, which always
//! fails; on its error calls `compensate` with `{"reason": <the error>}` and returns
//! `{"compensated": true, "error": <the error>, "flaky": <flaky's output>}`. If `flaky` fails
//! for good, the instance fails with its error.
//!
//! Input: `{"succeed_on": 3, "max_attempts": 3, "count_url": ".."}`, every field optional
//! (`succeed_on` defaults to 3; `count_url` is passed to every call). Needs
//! `activities = ["flaky", "fail", "compensate"]`.

use serde::Deserialize;
use serde_json::{Value, json};
use wasmhost_sdk::workflow;
use wasmhost_sdk::workflow::{TaskError, WorkflowContext};
use wf_common::CallOptions;

/// The input.
#[derive(Default, Deserialize)]
struct Input {
    #[serde(default)]
    succeed_on: Option<u32>,
    #[serde(default)]
    max_attempts: Option<u32>,
    #[serde(default)]
    count_url: Option<String>,
}

#[workflow]
fn saga(ctx: &WorkflowContext, input: Option<Input>) -> Result<Value, TaskError> {
    let input = input.unwrap_or_default();
    let succeed_on = input.succeed_on.unwrap_or(3);
    let retry = CallOptions {
        max_attempts: Some(input.max_attempts.unwrap_or(succeed_on)),
        ..CallOptions::default()
    };
    let url = &input.count_url;
    let flaky: Value = ctx.call_with(
        "flaky",
        &json!({ "succeed_on": succeed_on, "count_url": url }),
        retry.activity_options(),
    )?;
    match ctx.call::<Value>("fail", &json!({ "count_url": url })) {
        Ok(_) => Ok(json!({ "compensated": false, "flaky": flaky })),
        Err(err) => {
            let error = err.to_string();
            ctx.call::<Value>("compensate", &json!({ "reason": error, "count_url": url }))?;
            Ok(json!({ "compensated": true, "error": error, "flaky": flaky }))
        }
    }
}

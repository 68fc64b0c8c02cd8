//! `wf-fanout`: fan-out/fan-in. Starts `n` calls of activity `activity` (`slow` or `echo` of
//! `wf-activities`; default `echo`) at once, call `i` with input
//! `{"ms": <ms>, "value": i, "count_url": <count_url>}`, waits for all of them (`when_all`) and
//! returns their results in call order: for `slow`, `[0, 1, ..., n-1]`; for `echo`, the inputs.
//! Any failed call fails the instance with every failure, by index.
//!
//! Input: a JSON object such as `{"n": 100, "activity": "slow", "ms": 200, "count_url": ".."}`
//! (every field optional; `n` defaults to 10, `ms` to 0). Needs
//! `activities = ["slow", "echo"]`.

use serde::Deserialize;
use serde_json::{Value, json};
use wasmhost_sdk::workflow;
use wasmhost_sdk::workflow::WorkflowContext;

/// The input.
#[derive(Deserialize)]
struct Input {
    #[serde(default = "ten")]
    n: u32,
    #[serde(default = "echo")]
    activity: String,
    #[serde(default)]
    ms: u64,
    #[serde(default)]
    count_url: Option<String>,
}

fn ten() -> u32 {
    10
}

fn echo() -> String {
    "echo".to_owned()
}

#[workflow]
fn fanout(ctx: &WorkflowContext, input: Input) -> Result<Vec<Value>, String> {
    let tasks: Vec<_> = (0..input.n)
        .map(|i| {
            let call = json!({ "ms": input.ms, "value": i, "count_url": input.count_url });
            ctx.schedule::<Value>(&input.activity, &call)
        })
        .collect();
    let mut results = Vec::new();
    let mut failures = Vec::new();
    for (i, result) in ctx.when_all(tasks).into_iter().enumerate() {
        match result {
            Ok(value) => results.push(value),
            Err(err) => failures.push(format!("call {i}: {err}")),
        }
    }
    if failures.is_empty() {
        Ok(results)
    } else {
        Err(failures.join("; "))
    }
}

//! `wf-activities`: ONE activity component serving every activity of the workflow tests, by
//! name. Every activity whose input (a JSON object) has `count_url` first POSTs its input to
//! that URL, with headers `x-activity` (its name), `x-idempotency-key`, `x-attempt` and
//! `x-instance-id`, so that the test upstream counts the calls (a non-2xx answer fails the
//! attempt). Then:
//! - `a`, `b`, `c`: input `wf_common::Letters`-shaped `{text, count_url?, sleep_ms?}`; sleeps
//!   `sleep_ms[<name>]` milliseconds if given, then returns `text` with its name appended (a
//!   JSON string);
//! - `slow`: input `{ms, value}`; sleeps `ms` milliseconds, then returns `value`;
//! - `flaky`: input `{succeed_on}`; fails on attempts before `succeed_on`
//!   (`flaky: attempt 1 fails, succeeds on 3`), then returns `{"attempt": n}`;
//! - `fail`: always fails, with `fail: <message>` (`message` from the input, default
//!   `always fails`);
//! - `compensate`: records its call (through `count_url`) and returns
//!   `{"compensated": true, "reason": <reason from the input>}`;
//! - `echo`: returns its input as it came.
//!
//! Any other name fails (`wf-activities serves no activity `x``). The manifest gives it
//! `allowed_outbound_hosts = ["http://127.0.0.1:*"]` for `count_url`.

use std::time::Duration;

use serde_json::{Value, json};
use wasmhost_sdk::activity;
use wasmhost_sdk::http;
use wasmhost_sdk::outbound_http;
use wasmhost_sdk::workflow::ActivityContext;

#[activity]
fn activities(ctx: ActivityContext) -> Result<Value, String> {
    let input: Value = ctx.input()?;
    if let Some(url) = input.get("count_url").and_then(Value::as_str) {
        count(&ctx, url)?;
    }
    let field = |name: &str| input.get(name).cloned().unwrap_or(Value::Null);
    match ctx.name() {
        name @ ("a" | "b" | "c") => {
            if let Some(ms) = input["sleep_ms"].get(name).and_then(Value::as_u64) {
                std::thread::sleep(Duration::from_millis(ms));
            }
            let text = input["text"].as_str().unwrap_or_default();
            Ok(Value::String(format!("{text}{name}")))
        }
        "slow" => {
            std::thread::sleep(Duration::from_millis(input["ms"].as_u64().unwrap_or(0)));
            Ok(field("value"))
        }
        "flaky" => {
            let succeed_on = input["succeed_on"].as_u64().unwrap_or(1);
            let attempt = ctx.attempt();
            if u64::from(attempt) < succeed_on {
                return Err(format!(
                    "flaky: attempt {attempt} fails, succeeds on {succeed_on}"
                ));
            }
            Ok(json!({ "attempt": attempt }))
        }
        "fail" => Err(format!(
            "fail: {}",
            input["message"].as_str().unwrap_or("always fails")
        )),
        "compensate" => Ok(json!({ "compensated": true, "reason": field("reason") })),
        "echo" => Ok(input),
        other => Err(format!("wf-activities serves no activity `{other}`")),
    }
}

/// POSTs this call's input to `url` with the call's name, idempotency key, attempt and
/// instance as headers.
fn count(ctx: &ActivityContext, url: &str) -> Result<(), String> {
    let request = http::Request::post(url)
        .header("x-activity", ctx.name())
        .header("x-idempotency-key", ctx.idempotency_key())
        .header("x-attempt", ctx.attempt().to_string())
        .header("x-instance-id", ctx.instance_id())
        .header("content-type", "application/json")
        .body(ctx.raw_input().to_vec())
        .map_err(|err| format!("count_url `{url}`: {err}"))?;
    let response =
        outbound_http::send(request).map_err(|err| format!("count_url `{url}`: {err}"))?;
    let status = response.status();
    if !status.is_success() {
        return Err(format!("count_url `{url}` answered {status}"));
    }
    Ok(())
}

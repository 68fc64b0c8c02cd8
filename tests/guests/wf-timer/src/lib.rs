//! `wf-timer`: a durable timer. Sleeps `ms` milliseconds (input `{"ms": 5000}`) and returns
//! the instance's time before and after, as milliseconds since the Unix epoch:
//! `{"before_ms": .., "after_ms": .., "slept_ms": after - before}`.

use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};
use wasmhost_sdk::workflow;
use wasmhost_sdk::workflow::WorkflowContext;

/// The input.
#[derive(Deserialize)]
struct Input {
    ms: u64,
}

/// The output.
#[derive(Serialize)]
struct Slept {
    before_ms: u64,
    after_ms: u64,
    slept_ms: u64,
}

#[workflow]
fn timer(ctx: &WorkflowContext, input: Input) -> Result<Slept, String> {
    let before = unix_ms(ctx.now());
    ctx.sleep(Duration::from_millis(input.ms));
    let after = unix_ms(ctx.now());
    Ok(Slept {
        before_ms: before,
        after_ms: after,
        slept_ms: after.saturating_sub(before),
    })
}

fn unix_ms(time: SystemTime) -> u64 {
    let since_epoch = time
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default();
    u64::try_from(since_epoch.as_millis()).unwrap_or(u64::MAX)
}

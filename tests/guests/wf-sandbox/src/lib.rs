//! `wf-sandbox`: what must be the same on every replay. Takes a sample before and after a
//! durable timer of `ms` milliseconds (input `{"ms": 10}`, default 10): the context's
//! `now()` and `new_uuid()`, std's `SystemTime::now()` (`wasi:clocks`), and a random `u64`
//! from std (`RandomState`, seeded through `wasi:random`). The sample before the timer is
//! also the custom status, set (and committed) in the first turn; the second turn replays it.
//!
//! Output: `{"before": <sample>, "after": <sample>}`, a sample being
//! `{"now_ns", "uuid", "std_now_ns", "random"}` (nanoseconds since the Unix epoch). On a host
//! that answers them from history, `before` equals the custom status, and the two samples'
//! uuids differ.

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};
use wasmhost_sdk::workflow;
use wasmhost_sdk::workflow::WorkflowContext;

/// The input.
#[derive(Default, Deserialize)]
struct Input {
    #[serde(default)]
    ms: Option<u64>,
}

/// What is sampled.
#[derive(Serialize)]
struct Sample {
    now_ns: u64,
    uuid: String,
    std_now_ns: u64,
    random: u64,
}

impl Sample {
    fn take(ctx: &WorkflowContext) -> Self {
        Self {
            now_ns: unix_ns(ctx.now()),
            uuid: ctx.new_uuid(),
            std_now_ns: unix_ns(SystemTime::now()),
            random: RandomState::new().hash_one(0_u8),
        }
    }
}

/// The output.
#[derive(Serialize)]
struct Samples {
    before: Sample,
    after: Sample,
}

#[workflow]
fn sandbox(ctx: &WorkflowContext, input: Option<Input>) -> Result<Samples, String> {
    let ms = input.unwrap_or_default().ms.unwrap_or(10);
    let before = Sample::take(ctx);
    ctx.set_custom_status(&before);
    ctx.sleep(Duration::from_millis(ms));
    let after = Sample::take(ctx);
    Ok(Samples { before, after })
}

fn unix_ns(time: SystemTime) -> u64 {
    let since_epoch = time
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default();
    u64::try_from(since_epoch.as_nanos()).unwrap_or(u64::MAX)
}

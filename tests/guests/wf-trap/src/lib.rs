//! `wf-trap`: an orchestrator that fails its instance by itself. Input `{"mode": "panic"}`
//! panics (a trap); `{"mode": "loop"}` spins until its CPU deadline interrupts it. With
//! `"after_ms": n` it first sleeps `n` milliseconds on a durable timer, so that the failure
//! comes in a later turn.

use std::time::Duration;

use serde::Deserialize;
use wasmhost_sdk::workflow;
use wasmhost_sdk::workflow::WorkflowContext;

/// How to fail.
#[derive(Deserialize)]
#[serde(rename_all = "lowercase")]
enum Mode {
    Panic,
    Loop,
}

/// The input.
#[derive(Deserialize)]
struct Input {
    mode: Mode,
    #[serde(default)]
    after_ms: Option<u64>,
}

#[workflow]
fn trap(ctx: &WorkflowContext, input: Input) -> Result<(), String> {
    if let Some(ms) = input.after_ms {
        ctx.sleep(Duration::from_millis(ms));
    }
    match input.mode {
        Mode::Panic => panic!("wf-trap asked to panic"),
        Mode::Loop => {
            let mut n = 0_u64;
            loop {
                n = std::hint::black_box(n.wrapping_add(1));
            }
        }
    }
}

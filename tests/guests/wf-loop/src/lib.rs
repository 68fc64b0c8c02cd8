//! `wf-loop`: an eternal orchestration kept bounded by continue-as-new. Input `{"i": 0,
//! "n": 10000}`: while `i < n` it continues as new with `{"i": i + 1, "n": n}`; then it
//! completes with `i` (so the output is `n`).

use serde::{Deserialize, Serialize};
use wasmhost_sdk::workflow;
use wasmhost_sdk::workflow::WorkflowContext;

/// The input of each execution.
#[derive(Serialize, Deserialize)]
struct Round {
    i: u64,
    n: u64,
}

#[workflow]
fn count(ctx: &WorkflowContext, round: Round) -> Result<u64, String> {
    if round.i < round.n {
        ctx.continue_as_new(&Round {
            i: round.i + 1,
            n: round.n,
        });
    }
    Ok(round.i)
}

//! `wf-order-v2`: version 2 of one orchestrator, for the redeploy test. It waits for event
//! `go`, then calls the letter activities `b` then `a` of `wf-activities` (`wf-order-v1` calls them in
//! the other order). Input: `wf_common::Letters` (`text`, `count_url`, `sleep_ms`);
//! output: the final text. Needs `activities = ["a", "b"]`.

use wasmhost_sdk::workflow;
use wasmhost_sdk::workflow::{TaskError, WorkflowContext};
use wf_common::Letters;

#[workflow]
fn order(ctx: &WorkflowContext, letters: Option<Letters>) -> Result<String, TaskError> {
    wf_common::go_then_chain(ctx, &["b", "a"], letters.unwrap_or_default())
}

//! `wf-order-v1`: version 1 of one orchestrator, for the redeploy test. It waits for event
//! `go`, then calls the letter activities `a` then `b` of `wf-activities` (`wf-order-v2` calls them in
//! the other order). Input: `wf_common::Letters` (`text`, `count_url`, `sleep_ms`);
//! output: the final text. Needs `activities = ["a", "b"]`.

use wasmhost_sdk::workflow;
use wasmhost_sdk::workflow::{TaskError, WorkflowContext};
use wf_common::Letters;

#[workflow]
fn order(ctx: &WorkflowContext, letters: Option<Letters>) -> Result<String, TaskError> {
    wf_common::go_then_chain(ctx, &["a", "b"], letters.unwrap_or_default())
}

//! Durable workflows: orchestrators ([`crate::workflow`](macro@crate::workflow)) and
//! activities ([`crate::activity`]), typed over serde JSON, on the `wasmhost:host` workflow
//! interfaces (`wit/workflow.wit`). To start and drive instances from an ordinary component,
//! see [`crate::workflows`].
//!
//! This is where a workflow's turns and its activities' attempts enter the guest: the host
//! runs an orchestrator from the start at every turn of an instance, in a fresh instance of
//! its component, and calls an activity component once per attempt of each call.
//!
//! ```no_run
//! use std::time::Duration;
//! use wasmhost_sdk::workflow;
//! use wasmhost_sdk::workflow::{ActivityOptions, RetryPolicy, TaskError, WorkflowContext};
//!
//! #[derive(serde::Deserialize, serde::Serialize)]
//! struct Order {
//!     sku: String,
//!     amount: u64,
//! }
//!
//! #[workflow]
//! fn order(ctx: &WorkflowContext, order: Order) -> Result<String, TaskError> {
//!     ctx.set_custom_status(&serde_json::json!({ "stage": "reserving" }));
//!     let reservation: String = ctx.call("reserve", &order)?; // looks blocking: it is durable
//!     let retry = RetryPolicy::exponential(3, Duration::from_secs(1), Duration::from_secs(30));
//!     let charged = ctx.call_with::<String>("charge", &order, ActivityOptions::new().retry(retry));
//!     if let Err(err) = charged {
//!         ctx.call::<()>("release", &reservation)?; // compensate (a saga)
//!         return Err(err);
//!     }
//!     ctx.sleep(Duration::from_secs(24 * 3600)); // a durable timer: costs storage only
//!     Ok(reservation)
//! }
//! # fn main() {}
//! ```
//!
//! And, in another component, the activities it calls:
//!
//! ```no_run
//! # #[derive(serde::Deserialize)]
//! # struct Order { sku: String, amount: u64 }
//! use wasmhost_sdk::activity;
//! use wasmhost_sdk::workflow::ActivityContext;
//!
//! #[activity]
//! fn reserve(ctx: ActivityContext, order: Order) -> Result<String, String> {
//!     // Runs at least once: make the side effect idempotent with the key.
//!     Ok(format!("{} held for {}", order.sku, ctx.idempotency_key()))
//! }
//! # fn main() {}
//! ```
//!
//! # Orchestrators replay
//!
//! Each turn runs the `#[workflow]` function from the start. Every task it starts (an
//! activity call, a sub-workflow, a timer, an event wait) gets the next sequence number of the
//! instance; a task the history holds already is answered from it, a new one is recorded and
//! scheduled when the turn ends. Waiting for a task that has not completed ends the turn
//! inside the call: nothing after it runs, and the function runs again from the start once
//! the task completes. So the code is straight-line Rust, and:
//!
//! - it must make the same calls in the same order on every turn: branch only on its input,
//!   the results of its tasks, [`WorkflowContext::now`] and [`WorkflowContext::new_uuid`]
//!   (std's clocks and random numbers answer the same way). A call that does not match the
//!   history fails the instance as nondeterministic, naming the step;
//! - it does its I/O in activities: an orchestrator component may import nothing but the
//!   orchestration context and the WASI interfaces std links. Keep it in a crate of its own
//!   that uses nothing else of this SDK (no outbound HTTP, key-value, queues): the host
//!   refuses a component that imports them, naming the import;
//! - side effects such as logging run again on every replay: guard them with
//!   [`WorkflowContext::is_replaying`].
//!
//! The workflow's input is read from JSON (an empty input reads as `null`), its output
//! written as JSON; an `Err` fails the instance with its text, as does a panic.
//!
//! # Activities run at least once
//!
//! An `#[activity]` function gets the [`ActivityContext`] and its input, and returns
//! `Result<O, E>`: `Err` fails the attempt, which is retried as the call's [`RetryPolicy`]
//! says, and the last failure is the orchestrator's [`TaskError::Failed`]. A crash of the host
//! runs an attempt again, so side effects use [`ActivityContext::idempotency_key`]. One
//! component exports one `#[activity]` function; to serve several activities from one
//! component (each a `[[trigger.activity]]` naming it), take the context only, dispatch on
//! [`ActivityContext::name`] and read each input with [`ActivityContext::input`]:
//!
//! ```no_run
//! use wasmhost_sdk::activity;
//! use wasmhost_sdk::workflow::ActivityContext;
//!
//! #[derive(serde::Deserialize)]
//! struct Hold {
//!     sku: String,
//!     qty: u32,
//! }
//!
//! #[activity]
//! fn stock(ctx: ActivityContext) -> Result<String, String> {
//!     match ctx.name() {
//!         "reserve" => Ok(format!("held {}", ctx.input::<Hold>()?.qty)),
//!         "release" => Ok(format!("released {}", ctx.input::<Hold>()?.sku)),
//!         other => Err(format!("this component does not serve activity `{other}`")),
//!     }
//! }
//! # fn main() {}
//! ```
//!
//! Activities whose outputs differ in type return a `serde_json::Value` from each branch.

mod activity;
mod context;
mod options;

use std::fmt::Display;

use serde::Serialize;
use serde::de::DeserializeOwned;

pub use activity::{ActivityContext, InputError};
pub use context::{Task, TaskError, TaskId, WorkflowContext};
pub use options::{ActivityOptions, RetryPolicy};

#[doc(hidden)]
pub use activity::{dispatch as dispatch_activity, run as run_activity};

/// What a `#[workflow]` or `#[activity]` function returns: `Result<O, E>`, the output written
/// as JSON, the error by its text. Not a public API.
#[doc(hidden)]
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be returned from a #[workflow] or #[activity] function",
    note = "return `Result<O, E>` where `O: serde::Serialize` (the output, as JSON) and `E: Display` (the failure)"
)]
pub trait IntoOutput {
    /// The output as JSON, or the error's text; `what` ("activity `x`", "the workflow") names
    /// the function in a serialization error.
    fn into_output(self, what: &str) -> Result<Vec<u8>, String>;
}

impl<O: Serialize, E: Display> IntoOutput for Result<O, E> {
    fn into_output(self, what: &str) -> Result<Vec<u8>, String> {
        let output = self.map_err(|err| err.to_string())?;
        encode(&output)
            .map_err(|err| format!("the output of {what} does not serialize to JSON: {err}"))
    }
}

/// Runs one turn of a `#[workflow]` function: reads the input, calls `workflow` with a fresh
/// context, writes its output. Called by the code `#[workflow]` generates.
#[doc(hidden)]
pub fn run_workflow<T: DeserializeOwned, R: IntoOutput>(
    input: Vec<u8>,
    workflow: impl FnOnce(&WorkflowContext, T) -> R,
) -> Result<Vec<u8>, String> {
    let input = decode(&input)
        .map_err(|err| format!("the workflow's input is not the JSON expected: {err}"))?;
    workflow(&WorkflowContext::new(), input).into_output("the workflow")
}

/// `bytes` read from JSON; no bytes at all read as `null`, so that a timer's empty result, an
/// empty input and an empty payload fit `()` and `Option<T>`.
pub(crate) fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, serde_json::Error> {
    serde_json::from_slice(if bytes.is_empty() { b"null" } else { bytes })
}

/// `value` written as JSON.
pub(crate) fn encode<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, serde_json::Error> {
    serde_json::to_vec(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    struct Order {
        amount: u64,
    }

    #[test]
    fn a_turn_reads_the_input_and_writes_the_output() {
        let output = run_workflow(br#"{"amount": 12}"#.to_vec(), |_, order: Order| {
            Ok::<_, String>(vec![order.amount, order.amount + 1])
        });
        assert_eq!(output, Ok(b"[12,13]".to_vec()));
    }

    #[test]
    fn an_empty_input_is_null() {
        let output = run_workflow(Vec::new(), |_, input: Option<Order>| {
            Ok::<_, String>(input.is_none())
        });
        assert_eq!(output, Ok(b"true".to_vec()));
    }

    #[test]
    fn a_bad_input_or_an_error_fails_the_instance_with_a_reason() {
        let bad = run_workflow(b"{}".to_vec(), |_, order: Order| {
            Ok::<_, String>(order.amount)
        });
        assert_eq!(
            bad,
            Err(
                "the workflow's input is not the JSON expected: missing field `amount` at line 1 column 2"
                    .to_owned()
            )
        );
        let failed = run_workflow(b"null".to_vec(), |_, (): ()| {
            Err::<(), _>(TaskError::Failed("card declined".to_owned()))
        });
        assert_eq!(failed, Err("card declined".to_owned()));
    }

    #[test]
    fn an_output_that_does_not_serialize_names_the_function() {
        let keys = std::collections::HashMap::from([((1, 2), "pair keys are not JSON")]);
        let err = Ok::<_, String>(keys)
            .into_output("activity `x`")
            .unwrap_err();
        assert!(
            err.starts_with("the output of activity `x` does not serialize to JSON"),
            "{err}"
        );
    }
}

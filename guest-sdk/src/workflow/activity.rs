//! The activity's side: [`ActivityContext`], what one attempt of one activity call knows, and
//! the glue between the `wasmhost:host/activity-handler` export and an `#[activity]`
//! function.

use std::fmt;

use serde::de::DeserializeOwned;

use super::{IntoOutput, decode};
use crate::activity_wit::exports::wasmhost::host::activity_handler::ActivityCall;

/// One attempt of one activity call: which activity, for which instance, with what input.
///
/// Activities run at least once: a retry, or a crash of the host, runs the call again with
/// the same [`ActivityContext::idempotency_key`]. An activity with a side effect (a charge, a
/// stock change, a message) makes it idempotent with that key.
#[derive(Debug, Clone)]
pub struct ActivityContext {
    call: ActivityCall,
}

impl ActivityContext {
    /// The activity's name, as the orchestrator called it: a component serving several
    /// activities dispatches on it.
    pub fn name(&self) -> &str {
        &self.call.name
    }

    /// `<instance id>:<sequence>`: the same on every attempt and every delivery of this call,
    /// and unique among all calls.
    pub fn idempotency_key(&self) -> &str {
        &self.call.idempotency_key
    }

    /// 1 on the first attempt, one more on each retry.
    pub fn attempt(&self) -> u32 {
        self.call.attempt
    }

    /// The workflow instance that called it.
    pub fn instance_id(&self) -> &str {
        &self.call.instance_id
    }

    /// The workflow of that instance (its `[[trigger.workflow]] name`).
    pub fn workflow(&self) -> &str {
        &self.call.workflow
    }

    /// The input, read from JSON (an empty input reads as `null`, so `()` and `Option<T>`
    /// accept it).
    ///
    /// # Errors
    /// [`InputError`] with serde_json's reason, naming the activity.
    pub fn input<T: DeserializeOwned>(&self) -> Result<T, InputError> {
        decode(&self.call.input).map_err(|err| InputError {
            message: format!(
                "the input of activity `{}` is not the JSON expected: {err}",
                self.call.name
            ),
        })
    }

    /// The input as the orchestrator sent it (by convention JSON).
    pub fn raw_input(&self) -> &[u8] {
        &self.call.input
    }
}

/// An activity's input that is not the JSON of the type asked for. Its text names the
/// activity and gives serde_json's reason; `?` turns it into a `String` or any boxed error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputError {
    message: String,
}

impl fmt::Display for InputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for InputError {}

impl From<InputError> for String {
    fn from(err: InputError) -> Self {
        err.message
    }
}

/// Runs one attempt of an `#[activity]` function that takes its input: reads the input, calls
/// `activity`, writes its output. Called by the code `#[activity]` generates.
pub fn run<T: DeserializeOwned, R: IntoOutput>(
    call: ActivityCall,
    activity: impl FnOnce(ActivityContext, T) -> R,
) -> Result<Vec<u8>, String> {
    let ctx = ActivityContext { call };
    let input = ctx.input()?;
    let name = ctx.call.name.clone();
    activity(ctx, input).into_output(&format!("activity `{name}`"))
}

/// Runs one attempt of an `#[activity]` function that takes the context only (and dispatches
/// on its name). Called by the code `#[activity]` generates.
pub fn dispatch<R: IntoOutput>(
    call: ActivityCall,
    activity: impl FnOnce(ActivityContext) -> R,
) -> Result<Vec<u8>, String> {
    let name = call.name.clone();
    activity(ActivityContext { call }).into_output(&format!("activity `{name}`"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq, serde::Deserialize, serde::Serialize)]
    struct Charge {
        card: String,
        amount: u64,
    }

    fn call(name: &str, input: &str) -> ActivityCall {
        ActivityCall {
            name: name.to_owned(),
            input: input.as_bytes().to_vec(),
            instance_id: "order-1".to_owned(),
            workflow: "order".to_owned(),
            idempotency_key: "order-1:2".to_owned(),
            attempt: 1,
        }
    }

    #[test]
    fn the_input_is_read_and_the_output_written_as_json() {
        let output = run(
            call("charge", r#"{"card":"4242","amount":1200}"#),
            |ctx, charge: Charge| {
                assert_eq!(
                    (ctx.name(), ctx.idempotency_key(), ctx.attempt()),
                    ("charge", "order-1:2", 1)
                );
                Ok::<_, String>(charge.amount * 2)
            },
        );
        assert_eq!(output, Ok(b"2400".to_vec()));
    }

    #[test]
    fn an_input_of_another_shape_fails_the_attempt_naming_the_activity() {
        let output = run(call("charge", r#"{"card":4242}"#), |_, _: Charge| {
            Ok::<_, String>(())
        });
        let err = output.unwrap_err();
        assert!(
            err.starts_with("the input of activity `charge` is not the JSON expected"),
            "{err}"
        );
    }

    #[test]
    fn an_error_fails_the_attempt_with_its_text() {
        let output = dispatch(call("release", ""), |ctx| {
            let nothing: () = ctx.input()?;
            Err::<(), _>(format!("{} cannot run {nothing:?}", ctx.name()))
        });
        assert_eq!(output, Err("release cannot run ()".to_owned()));
    }
}

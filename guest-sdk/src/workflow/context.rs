//! The orchestrator's side: [`WorkflowContext`], typed over serde JSON, on the
//! `wasmhost:host/orchestration` import; the [`Task`]s it starts and their [`TaskError`].
//!
//! Every method is one call of the import. Those that wait (`Task::wait`, `when_all`,
//! `when_any` and the blocking forms built on them) return at once when the instance's history
//! holds the result; otherwise the host ends the turn inside the call, and the orchestrator
//! runs again from the start once the result is there.

use std::fmt;
use std::marker::PhantomData;
use std::time::{Duration, SystemTime};

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::options::ActivityOptions;
use super::{decode, encode};
use crate::time::{datetime, millis, system_time};
use crate::wit::wasmhost::host::workflow_types;
use crate::workflow_wit::wasmhost::host::orchestration;

/// Why a task gave no result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TaskError {
    /// The activity failed on its last attempt (its `Err`, a trap, a timeout, an activity the
    /// workflow is not granted), or the sub-workflow failed or was terminated: the text says
    /// why.
    Failed(String),
    /// The timeout of [`WorkflowContext::wait_for_event`] passed before the event came.
    TimedOut,
    /// The task completed, but its result is not the JSON of the type asked for: the text
    /// names the task and gives serde_json's reason.
    Decode(String),
}

impl fmt::Display for TaskError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Failed(message) | Self::Decode(message) => f.write_str(message),
            Self::TimedOut => f.write_str("timed out before the event came"),
        }
    }
}

impl std::error::Error for TaskError {}

/// So that `?` works in a workflow that returns `Result<O, String>`.
impl From<TaskError> for String {
    fn from(err: TaskError) -> Self {
        err.to_string()
    }
}

impl From<workflow_types::TaskError> for TaskError {
    fn from(err: workflow_types::TaskError) -> Self {
        match err {
            workflow_types::TaskError::Failed(message) => Self::Failed(message),
            workflow_types::TaskError::TimedOut => Self::TimedOut,
        }
    }
}

/// A task's sequence number in its instance's history (0, 1, 2, ... in the order the
/// orchestrator started them): what [`WorkflowContext::when_any`] takes, whatever each task's
/// result type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TaskId(u32);

impl TaskId {
    /// The sequence number.
    pub fn sequence(self) -> u32 {
        self.0
    }
}

impl fmt::Display for TaskId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "task {}", self.0)
    }
}

/// A started task (an activity call, a sub-workflow, a timer, an event wait) whose result is
/// an `O`, read from JSON. Start several, then wait for them, to run them in parallel
/// (fan-out/fan-in): [`Task::wait`], [`WorkflowContext::when_all`],
/// [`WorkflowContext::when_any`].
#[must_use = "a task runs anyway; wait for it to use its result"]
pub struct Task<O> {
    id: TaskId,
    /// What the task is, for errors: "activity `reserve`", "event `approval`", ...
    what: String,
    output: PhantomData<fn() -> O>,
}

impl<O> Clone for Task<O> {
    fn clone(&self) -> Self {
        Self {
            id: self.id,
            what: self.what.clone(),
            output: PhantomData,
        }
    }
}

impl<O> fmt::Debug for Task<O> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Task({} {})", self.what, self.id.0)
    }
}

impl<O: DeserializeOwned> Task<O> {
    fn new(sequence: u32, what: String) -> Self {
        Self {
            id: TaskId(sequence),
            what,
            output: PhantomData,
        }
    }

    /// Its sequence number, for [`WorkflowContext::when_any`].
    pub fn id(&self) -> TaskId {
        self.id
    }

    /// Its result, once it has completed (`wasmhost:host/orchestration.await-task`); until
    /// then the turn ends here. Waiting again for a completed task gives the same result.
    ///
    /// # Errors
    /// [`TaskError::Failed`] or [`TaskError::TimedOut`] as the host reports;
    /// [`TaskError::Decode`] if the result is not the JSON of an `O`.
    pub fn wait(self) -> Result<O, TaskError> {
        self.decode(orchestration::await_task(self.id.0))
    }

    fn decode(&self, result: Result<Vec<u8>, workflow_types::TaskError>) -> Result<O, TaskError> {
        let bytes = result?;
        decode(&bytes).map_err(|err| {
            TaskError::Decode(format!(
                "the result of {} ({}) is not the JSON expected: {err}",
                self.what, self.id
            ))
        })
    }
}

/// What an orchestrator works with: its instance, the tasks it starts, its deterministic time
/// and ids, its custom status. Only `#[workflow]` makes one, so these calls are made only
/// inside an orchestrator.
///
/// Inputs and results are JSON (serde_json), as are the workflow's own input and output.
/// Every call is recorded in the instance's history and answered from it on every later turn,
/// so the orchestrator must make the same calls in the same order each time (see the module
/// documentation).
#[derive(Debug)]
pub struct WorkflowContext {
    _private: (),
}

impl WorkflowContext {
    /// The context of the current turn. Called by `#[workflow]`'s code only.
    pub(crate) fn new() -> Self {
        Self { _private: () }
    }

    /// The instance's id.
    pub fn instance_id(&self) -> String {
        orchestration::instance_id()
    }

    /// `true` while the orchestrator replays what earlier turns ran already, `false` once it
    /// goes past it (and in the first turn). Guard side effects such as logging with it.
    pub fn is_replaying(&self) -> bool {
        orchestration::is_replaying()
    }

    /// The instance's current time (UTC): when it started, then the time each completion it
    /// has waited for was recorded. The same on every replay (`SystemTime::now()` in an
    /// orchestrator answers the same).
    pub fn now(&self) -> SystemTime {
        system_time(orchestration::now())
    }

    /// A new UUID (`8-4-4-4-12` hex digits), the same on every replay and different for every
    /// call.
    pub fn new_uuid(&self) -> String {
        orchestration::new_uuid()
    }

    /// Calls activity `activity` with `input` (as JSON) and waits for its result: one attempt,
    /// no retry. The same as `self.schedule(activity, input).wait()`.
    ///
    /// # Errors
    /// As [`Task::wait`]: [`TaskError::Failed`] when the activity failed (or is not granted
    /// to the workflow), [`TaskError::Decode`] when its output is not an `O`.
    ///
    /// # Panics
    /// If `input` does not serialize to JSON (a map with non-string keys): the same on every
    /// replay, so it fails the instance.
    pub fn call<O: DeserializeOwned>(
        &self,
        activity: &str,
        input: &(impl Serialize + ?Sized),
    ) -> Result<O, TaskError> {
        self.schedule(activity, input).wait()
    }

    /// As [`WorkflowContext::call`], with `options` (retries, a time limit per attempt).
    ///
    /// # Errors
    /// As [`WorkflowContext::call`]; a failure is the last attempt's.
    ///
    /// # Panics
    /// As [`WorkflowContext::call`].
    pub fn call_with<O: DeserializeOwned>(
        &self,
        activity: &str,
        input: &(impl Serialize + ?Sized),
        options: ActivityOptions,
    ) -> Result<O, TaskError> {
        self.schedule_with(activity, input, options).wait()
    }

    /// Starts activity `activity` with `input` and returns its task without waiting: start
    /// several, then wait for them all ([`WorkflowContext::when_all`]) to run them in
    /// parallel. One attempt, no retry.
    ///
    /// The activity runs at least once, with the idempotency key `<instance id>:<sequence>`.
    ///
    /// # Panics
    /// As [`WorkflowContext::call`].
    pub fn schedule<O: DeserializeOwned>(
        &self,
        activity: &str,
        input: &(impl Serialize + ?Sized),
    ) -> Task<O> {
        self.schedule_with(activity, input, ActivityOptions::new())
    }

    /// As [`WorkflowContext::schedule`], with `options`.
    ///
    /// # Panics
    /// As [`WorkflowContext::call`].
    pub fn schedule_with<O: DeserializeOwned>(
        &self,
        activity: &str,
        input: &(impl Serialize + ?Sized),
        options: ActivityOptions,
    ) -> Task<O> {
        let what = format!("activity `{activity}`");
        let input = encode_input(&what, input);
        let sequence = orchestration::call_activity(activity, &input, options.into());
        Task::new(sequence, what)
    }

    /// Runs workflow `workflow` (granted by this workflow's `workflows = [..]`) as a
    /// sub-workflow with `input`, as instance `instance_id` (`None`: `<this instance's
    /// id>:<sequence>`), and waits for its output.
    ///
    /// # Errors
    /// [`TaskError::Failed`] if the sub-workflow failed, was terminated, is not granted, or
    /// its instance id exists already; [`TaskError::Decode`] if its output is not an `O`.
    ///
    /// # Panics
    /// As [`WorkflowContext::call`].
    pub fn call_workflow<O: DeserializeOwned>(
        &self,
        workflow: &str,
        input: &(impl Serialize + ?Sized),
        instance_id: Option<&str>,
    ) -> Result<O, TaskError> {
        self.schedule_workflow(workflow, input, instance_id).wait()
    }

    /// As [`WorkflowContext::call_workflow`], returning the task without waiting.
    ///
    /// # Panics
    /// As [`WorkflowContext::call`].
    pub fn schedule_workflow<O: DeserializeOwned>(
        &self,
        workflow: &str,
        input: &(impl Serialize + ?Sized),
        instance_id: Option<&str>,
    ) -> Task<O> {
        let what = format!("workflow `{workflow}`");
        let input = encode_input(&what, input);
        Task::new(
            orchestration::call_workflow(workflow, &input, instance_id),
            what,
        )
    }

    /// Waits `delay` (whole milliseconds) on a durable timer: the turn ends, and the instance
    /// costs nothing but storage until the timer fires, host restarts included.
    pub fn sleep(&self, delay: Duration) {
        wait_for_timer(self.timer(delay));
    }

    /// Waits until `time` (a time in the past returns at once) on a durable timer.
    pub fn sleep_until(&self, time: SystemTime) {
        wait_for_timer(self.timer_at(time));
    }

    /// A durable timer that fires `delay` (whole milliseconds) after [`WorkflowContext::now`],
    /// as a task: race it against an event or an activity with
    /// [`WorkflowContext::when_any`].
    pub fn timer(&self, delay: Duration) -> Task<()> {
        Task::new(orchestration::sleep(millis(delay)), "timer".to_owned())
    }

    /// A durable timer that fires at `time` (UTC), as a task.
    pub fn timer_at(&self, time: SystemTime) -> Task<()> {
        Task::new(
            orchestration::create_timer(datetime(time)),
            "timer".to_owned(),
        )
    }

    /// Waits for the external event `name` raised on this instance (by the API, the CLI or
    /// [`crate::workflows::raise_event`]) and returns its payload, read from JSON. An event
    /// raised before the wait is kept for it; events of one name go to waits in order.
    ///
    /// # Errors
    /// [`TaskError::TimedOut`] if `timeout` (whole milliseconds from now) passes first (a
    /// later event is kept for the next wait of that name); [`TaskError::Decode`] if the
    /// payload is not the JSON of a `T`.
    pub fn wait_for_event<T: DeserializeOwned>(
        &self,
        name: &str,
        timeout: Option<Duration>,
    ) -> Result<T, TaskError> {
        self.event(name, timeout).wait()
    }

    /// As [`WorkflowContext::wait_for_event`], returning the task without waiting.
    pub fn event<T: DeserializeOwned>(&self, name: &str, timeout: Option<Duration>) -> Task<T> {
        Task::new(
            orchestration::wait_for_event(name, timeout.map(millis)),
            format!("event `{name}`"),
        )
    }

    /// Waits until every task of `tasks` has completed and returns their results in the same
    /// order (a failure does not end the wait). The turn ends here until then.
    pub fn when_all<O: DeserializeOwned>(
        &self,
        tasks: impl IntoIterator<Item = Task<O>>,
    ) -> Vec<Result<O, TaskError>> {
        let tasks: Vec<Task<O>> = tasks.into_iter().collect();
        let ids: Vec<u32> = tasks.iter().map(|task| task.id.0).collect();
        let results = orchestration::when_all(&ids);
        tasks
            .iter()
            .zip(results)
            .map(|(task, result)| task.decode(result))
            .collect()
    }

    /// Waits until one of `tasks` has completed and returns its index in `tasks` (the first
    /// to complete, as the history records it); then read its result with [`Task::wait`],
    /// which returns at once. The turn ends here until then.
    ///
    /// ```no_run
    /// # use std::time::Duration;
    /// # use wasmhost_sdk::workflow::WorkflowContext;
    /// # fn approval(ctx: &WorkflowContext) -> Option<bool> {
    /// let answer = ctx.event::<bool>("approval", None);
    /// let deadline = ctx.timer(Duration::from_secs(3600));
    /// if ctx.when_any(&[answer.id(), deadline.id()]) == 0 {
    ///     return answer.wait().ok();
    /// }
    /// None // an hour passed first
    /// # }
    /// ```
    ///
    /// # Panics
    /// If `tasks` is empty: it would wait forever.
    pub fn when_any(&self, tasks: &[TaskId]) -> usize {
        assert!(
            !tasks.is_empty(),
            "WorkflowContext::when_any needs at least one task"
        );
        let ids: Vec<u32> = tasks.iter().map(|id| id.0).collect();
        orchestration::when_any(&ids) as usize
    }

    /// Sets the custom status the status API shows (as JSON), such as
    /// `{"stage": "charging"}`; it is committed with the turn.
    ///
    /// # Panics
    /// If `status` does not serialize to JSON.
    pub fn set_custom_status(&self, status: &(impl Serialize + ?Sized)) {
        let status = encode(status)
            .unwrap_or_else(|err| panic!("the custom status does not serialize to JSON: {err}"));
        orchestration::set_custom_status(Some(&status));
    }

    /// Clears the custom status.
    pub fn clear_custom_status(&self) {
        orchestration::set_custom_status(None);
    }

    /// Ends this execution and starts the instance again from the start with `input` and an
    /// empty history (the same instance id; events raised and not yet waited for are kept),
    /// on the component's current code. Keeps an eternal orchestration's storage bounded.
    /// Does not return.
    ///
    /// # Panics
    /// If `input` does not serialize to JSON.
    pub fn continue_as_new(&self, input: &(impl Serialize + ?Sized)) -> ! {
        let input = encode_input("continue-as-new", input);
        orchestration::continue_as_new(&input);
        unreachable!("the host ends the turn in continue-as-new")
    }
}

/// `input` as JSON.
///
/// # Panics
/// If it does not serialize, naming `what` it is the input of.
fn encode_input(what: &str, input: &(impl Serialize + ?Sized)) -> Vec<u8> {
    encode(input)
        .unwrap_or_else(|err| panic!("the input of {what} does not serialize to JSON: {err}"))
}

/// Waits for a timer, which completes with an empty result.
///
/// # Panics
/// If the host says the timer failed, which it never does.
fn wait_for_timer(timer: Task<()>) {
    if let Err(err) = orchestration::await_task(timer.id.0) {
        panic!("{} failed: {}", timer.id, TaskError::from(err));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq, serde::Deserialize)]
    struct Receipt {
        payment_id: String,
    }

    fn task<O: DeserializeOwned>() -> Task<O> {
        Task::new(3, "activity `charge`".to_owned())
    }

    #[test]
    fn a_result_is_read_from_json() {
        let receipt = task::<Receipt>().decode(Ok(br#"{"payment_id":"pay_1"}"#.to_vec()));
        assert_eq!(
            receipt,
            Ok(Receipt {
                payment_id: "pay_1".to_owned()
            })
        );
    }

    #[test]
    fn an_empty_result_is_null() {
        assert_eq!(task::<()>().decode(Ok(Vec::new())), Ok(()));
        assert_eq!(task::<Option<u32>>().decode(Ok(Vec::new())), Ok(None));
    }

    #[test]
    fn a_result_of_another_shape_names_the_task() {
        let err = task::<Receipt>().decode(Ok(b"42".to_vec())).unwrap_err();
        let TaskError::Decode(message) = &err else {
            panic!("not a decode error: {err:?}");
        };
        assert!(
            message.starts_with(
                "the result of activity `charge` (task 3) is not the JSON expected: invalid type"
            ),
            "{message}"
        );
    }

    #[test]
    fn the_hosts_errors_come_through() {
        let failed = workflow_types::TaskError::Failed("card declined".to_owned());
        assert_eq!(
            task::<Receipt>().decode(Err(failed)),
            Err(TaskError::Failed("card declined".to_owned()))
        );
        assert_eq!(
            task::<Receipt>().decode(Err(workflow_types::TaskError::TimedOut)),
            Err(TaskError::TimedOut)
        );
    }

    #[test]
    fn task_errors_display_their_reason() {
        assert_eq!(
            TaskError::Failed("card declined".to_owned()).to_string(),
            "card declined"
        );
        assert_eq!(
            String::from(TaskError::TimedOut),
            "timed out before the event came"
        );
        let err: Box<dyn std::error::Error> = Box::new(TaskError::TimedOut);
        assert_eq!(err.to_string(), "timed out before the event came");
    }
}

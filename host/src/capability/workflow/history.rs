//! What the workflow store keeps, in layer 4: an instance's record ([`InstanceRecord`]), its
//! append-only history ([`HistoryEvent`]), and the two kinds of queue message the workflow
//! machinery sends itself: [`Control`] messages on the turns queue (a completion, an event, a
//! termination: each leads to a turn of its instance) and [`ActivityWork`] on the activities
//! queue (one activity call, retried as its policy says).
//!
//! Everything is stored with postcard; [`encode`] and [`decode`] never panic on bad bytes.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::capability::backend::BackendError;

/// Where an instance is: Durable Functions' `runtimeStatus`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum RuntimeStatus {
    /// Started; its first turn has not run yet.
    Pending,
    /// Running or waiting on a task.
    Running,
    /// `run` returned `ok`.
    Completed,
    /// `run` returned `err`, trapped, ran out of a limit, or was nondeterministic.
    Failed,
    /// Terminated by an operator or a component.
    Terminated,
    /// It called `continue-as-new`; its next execution has not run yet.
    ContinuedAsNew,
}

impl RuntimeStatus {
    /// Every status, in the order above.
    pub const ALL: [Self; 6] = [
        Self::Pending,
        Self::Running,
        Self::Completed,
        Self::Failed,
        Self::Terminated,
        Self::ContinuedAsNew,
    ];

    /// Its name as Durable Functions' API writes it: `Pending`, `Running`, `Completed`,
    /// `Failed`, `Terminated`, `ContinuedAsNew`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "Pending",
            Self::Running => "Running",
            Self::Completed => "Completed",
            Self::Failed => "Failed",
            Self::Terminated => "Terminated",
            Self::ContinuedAsNew => "ContinuedAsNew",
        }
    }

    /// The status named `name` (as [`RuntimeStatus::as_str`] writes it, any case).
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|status| status.as_str().eq_ignore_ascii_case(name))
    }

    /// Whether an instance with this status has ended for good (completed, failed or
    /// terminated): it runs no more turns.
    pub fn is_ended(self) -> bool {
        matches!(self, Self::Completed | Self::Failed | Self::Terminated)
    }
}

/// The instance that started a sub-workflow, and the task that waits for it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Parent {
    /// The parent instance's id.
    pub instance: String,
    /// The sequence number of its `call-workflow` task.
    pub seq: u32,
}

/// An instance's record: one per instance id, rewritten by every commit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstanceRecord {
    /// The instance id.
    pub id: String,
    /// Its workflow's name.
    pub workflow: String,
    /// Where it is.
    pub status: RuntimeStatus,
    /// The input of its current execution.
    pub input: Vec<u8>,
    /// `run`'s output, once completed.
    pub output: Option<Vec<u8>>,
    /// Why it failed or was terminated.
    pub error: Option<String>,
    /// The last custom status the orchestrator set.
    pub custom_status: Option<Vec<u8>>,
    /// When it was started, in ms since the Unix epoch.
    pub created_ms: u64,
    /// When its record last changed, in ms since the Unix epoch.
    pub updated_ms: u64,
    /// The SHA-256 (hex) of the orchestrator component its current execution is pinned to.
    pub digest: String,
    /// Events in the history of the current execution.
    pub history_len: u32,
    /// The first sequence number of the current execution (sequence numbers go on across
    /// `continue-as-new`, so idempotency keys stay unique).
    pub first_seq: u32,
    /// Executions before the current one (`continue-as-new` adds one).
    pub execution: u32,
    /// Turns run so far, over every execution.
    pub turns: u64,
    /// The instance to tell when this one ends, if it is a sub-workflow.
    pub parent: Option<Parent>,
    /// The W3C `traceparent` of the instance's trace: every turn and activity is a span of it.
    pub traceparent: Option<String>,
}

/// One event of a history, with when it was recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryEvent {
    /// When it was recorded, in ms since the Unix epoch.
    pub at_ms: u64,
    /// What happened.
    pub event: Event,
}

/// What can happen to an instance. `seq` is the sequence number of the task concerned.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Event {
    /// The execution started with `input` (the first event of every execution).
    Started {
        /// The execution's input.
        input: Vec<u8>,
    },
    /// The orchestrator called activity `name`; `input_hash` is [`input_hash`] of its input.
    ActivityScheduled {
        /// The task.
        seq: u32,
        /// The activity.
        name: String,
        /// The hash of its input.
        input_hash: u64,
    },
    /// The activity of task `seq` returned `output`.
    ActivityCompleted {
        /// The task.
        seq: u32,
        /// What it returned.
        output: Vec<u8>,
    },
    /// The activity of task `seq` failed on its last attempt.
    ActivityFailed {
        /// The task.
        seq: u32,
        /// Why.
        error: String,
    },
    /// The orchestrator created a timer that fires at `fire_at_ms` (ms since the Unix epoch).
    TimerCreated {
        /// The task.
        seq: u32,
        /// When it fires.
        fire_at_ms: u64,
    },
    /// The timer of task `seq` fired (or the timeout of the wait of task `seq` passed).
    TimerFired {
        /// The task.
        seq: u32,
    },
    /// The orchestrator waits for event `name`, until `timeout_at_ms` if it is set.
    EventWaited {
        /// The task.
        seq: u32,
        /// The event's name.
        name: String,
        /// When the wait times out, in ms since the Unix epoch.
        timeout_at_ms: Option<u64>,
    },
    /// Event `name` was raised on the instance with `payload`.
    EventRaised {
        /// The event's name.
        name: String,
        /// Its payload.
        payload: Vec<u8>,
    },
    /// The orchestrator started workflow `name` as sub-workflow instance `instance`.
    SubWorkflowScheduled {
        /// The task.
        seq: u32,
        /// The workflow.
        name: String,
        /// The sub-workflow's instance id.
        instance: String,
        /// The hash of its input.
        input_hash: u64,
    },
    /// The sub-workflow of task `seq` completed with `output`.
    SubWorkflowCompleted {
        /// The task.
        seq: u32,
        /// Its output.
        output: Vec<u8>,
    },
    /// The sub-workflow of task `seq` failed, was terminated or could not start.
    SubWorkflowFailed {
        /// The task.
        seq: u32,
        /// Why.
        error: String,
    },
    /// The orchestrator set its custom status.
    CustomStatusSet {
        /// The new status (`None`: cleared).
        status: Option<Vec<u8>>,
    },
    /// The execution ended with `continue-as-new`.
    ContinuedAsNew {
        /// The next execution's input.
        input: Vec<u8>,
    },
    /// `run` returned `ok(output)`.
    Completed {
        /// The output.
        output: Vec<u8>,
    },
    /// The instance failed.
    Failed {
        /// Why.
        error: String,
    },
    /// The instance was terminated.
    Terminated {
        /// The reason given.
        reason: String,
    },
}

impl Event {
    /// The event's kind, as the history API names it: `Started`, `ActivityScheduled`, ...
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Started { .. } => "Started",
            Self::ActivityScheduled { .. } => "ActivityScheduled",
            Self::ActivityCompleted { .. } => "ActivityCompleted",
            Self::ActivityFailed { .. } => "ActivityFailed",
            Self::TimerCreated { .. } => "TimerCreated",
            Self::TimerFired { .. } => "TimerFired",
            Self::EventWaited { .. } => "EventWaited",
            Self::EventRaised { .. } => "EventRaised",
            Self::SubWorkflowScheduled { .. } => "SubWorkflowScheduled",
            Self::SubWorkflowCompleted { .. } => "SubWorkflowCompleted",
            Self::SubWorkflowFailed { .. } => "SubWorkflowFailed",
            Self::CustomStatusSet { .. } => "CustomStatusSet",
            Self::ContinuedAsNew { .. } => "ContinuedAsNew",
            Self::Completed { .. } => "Completed",
            Self::Failed { .. } => "Failed",
            Self::Terminated { .. } => "Terminated",
        }
    }
}

/// A message on the turns queue: something for instance `instance` that leads to a turn.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ControlMessage {
    /// The instance it is for.
    pub instance: String,
    /// What it brings.
    pub control: Control,
}

/// What a [`ControlMessage`] brings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Control {
    /// Run a turn (the first one of an execution).
    Wake,
    /// Append `event` (a completion, a timer, a raised event) to the history, then run a turn.
    /// A completion of a task the history has completed already, or of an earlier execution,
    /// is dropped (at least once delivery).
    Append(Event),
    /// Terminate the instance with this reason.
    Terminate(String),
}

/// One activity call, on the activities queue; each delivery is one attempt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActivityWork {
    /// The calling instance.
    pub instance: String,
    /// Its workflow.
    pub workflow: String,
    /// The task's sequence number.
    pub seq: u32,
    /// The activity's name.
    pub name: String,
    /// Its input.
    pub input: Vec<u8>,
    /// Attempts in all, at least 1.
    pub max_attempts: u32,
    /// The delay before the second attempt, in ms.
    pub first_retry_ms: u64,
    /// The longest delay between attempts, in ms.
    pub max_retry_ms: u64,
    /// Each attempt's wall-clock limit, in ms, if the call set one.
    pub timeout_ms: Option<u64>,
    /// The instance's trace, for the attempt's span.
    pub traceparent: Option<String>,
    /// Attempts that failed so far (the activity's `err`, a trap, a timeout). Deliveries lost
    /// to a crash of the host are not counted here: they do not use up the retry policy.
    pub failed: u32,
}

impl ActivityWork {
    /// `<instance>:<seq>`: the idempotency key the activity sees.
    pub fn idempotency_key(&self) -> String {
        format!("{}:{}", self.instance, self.seq)
    }
}

/// The hash of a task's input that the history keeps, to tell a replay that passes another
/// input: the first 8 bytes of its BLAKE3 hash.
pub fn input_hash(input: &[u8]) -> u64 {
    let hash = blake3::hash(input);
    let mut first = [0; 8];
    first.copy_from_slice(&hash.as_bytes()[..8]);
    u64::from_le_bytes(first)
}

/// `value` in postcard.
///
/// # Errors
/// None in practice (postcard fails only on types it cannot write); `Unavailable` if it did.
pub fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, BackendError> {
    postcard::to_stdvec(value)
        .map_err(|err| BackendError::Unavailable(format!("cannot encode: {err}")))
}

/// The value stored as `bytes`.
///
/// # Errors
/// Bytes that are not such a value (corrupted, or written by another program): `Unavailable`
/// with why; never a panic.
pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, BackendError> {
    postcard::from_bytes(bytes)
        .map_err(|err| BackendError::Unavailable(format!("corrupt workflow data: {err}")))
}

/// Whether `id` is a valid instance id: 1 to 128 ASCII letters, digits and `-_.:@`.
pub fn is_instance_id(id: &str) -> bool {
    (1..=128).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.:@".contains(&b))
}

/// Whether `name` is a valid event name: 1 to 128 bytes, no control character.
pub fn is_event_name(name: &str) -> bool {
    (1..=128).contains(&name.len()) && !name.chars().any(char::is_control)
}

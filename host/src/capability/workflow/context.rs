//! Per guest call, the `orchestration` capability: one [`Turn`] of an orchestrator answers
//! every context call from the instance's history and records the new ones (the rules are
//! those of `wit/workflow.wit`). The workflow trigger makes the turn from the history, puts it
//! in the orchestrator's store ([`crate::state::InstanceState::set_turn`]), runs `run`, then
//! reads what the turn recorded ([`Turn::scheduled`], [`Turn::ending`]) to commit it.
//!
//! A call that waits on a task the history has not completed ends the turn: it records
//! [`Ending::Suspended`] and traps the instance (a trap is the only way to stop a guest
//! mid-call; the trigger tells it from a real trap by the ending). So does a call that does
//! not match the history ([`Ending::Nondeterministic`], naming the step) and
//! `continue-as-new`.
//!
//! The orchestrator's `wasi:clocks` and `wasi:random` are answered by [`ReplayClock`]: the
//! turn's current time, and a generator seeded from the instance id.

use std::collections::{HashMap, VecDeque};
use std::convert::Infallible;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use anyhow::Result;
use rand::{SeedableRng, TryRng};
use wasmtime::component::{HasData, Linker};
use wasmtime_wasi::p2::bindings::clocks::wall_clock::Datetime;
use wasmtime_wasi::{HostMonotonicClock, HostWallClock, WasiCtxBuilder};

use super::client::datetime;
use super::history::{Event, HistoryEvent, input_hash};
use crate::bindings::wasmhost::host::workflow_types::{ActivityOptions, TaskError};
use crate::bindings::workflow_component::wasmhost::host::orchestration;

/// The time an orchestrator's instance sees, and its random generator: shared by its
/// `wasi:clocks`, its `wasi:random` and its [`Turn`].
#[derive(Default)]
pub struct ReplayClock {
    now_ms: AtomicU64,
    rng: Mutex<Option<rand::rngs::StdRng>>,
}

impl ReplayClock {
    /// Sets the time, in ms since the Unix epoch.
    pub fn set(&self, ms: u64) {
        self.now_ms.store(ms, Ordering::Relaxed);
    }

    /// The time, in ms since the Unix epoch.
    pub fn now_ms(&self) -> u64 {
        self.now_ms.load(Ordering::Relaxed)
    }

    /// Seeds the random generator from `instance` (the same bytes on every replay).
    pub fn seed(&self, instance: &str) {
        let hash = blake3::hash(instance.as_bytes());
        *self.rng.lock().unwrap_or_else(PoisonError::into_inner) =
            Some(rand::rngs::StdRng::from_seed(*hash.as_bytes()));
    }

    /// Sets `builder`'s clocks and random generators to answer from `clock`.
    pub fn apply(clock: &Arc<Self>, builder: &mut WasiCtxBuilder) {
        builder
            .wall_clock(ReplayWallClock(clock.clone()))
            .monotonic_clock(ReplayMonotonicClock(clock.clone()))
            .secure_random(ReplayRandom(clock.clone()))
            .insecure_random(ReplayRandom(clock.clone()))
            .insecure_random_seed(0x05ee_d0f0_a7c5_7a7e);
    }
}

struct ReplayWallClock(Arc<ReplayClock>);

impl HostWallClock for ReplayWallClock {
    fn resolution(&self) -> Duration {
        Duration::from_millis(1)
    }

    fn now(&self) -> Duration {
        Duration::from_millis(self.0.now_ms())
    }
}

struct ReplayMonotonicClock(Arc<ReplayClock>);

impl HostMonotonicClock for ReplayMonotonicClock {
    fn resolution(&self) -> u64 {
        1_000_000
    }

    fn now(&self) -> u64 {
        self.0.now_ms().saturating_mul(1_000_000)
    }
}

struct ReplayRandom(Arc<ReplayClock>);

impl ReplayRandom {
    fn with<T>(&self, draw: impl FnOnce(&mut rand::rngs::StdRng) -> T) -> T {
        let mut rng = self.0.rng.lock().unwrap_or_else(PoisonError::into_inner);
        let rng = rng.get_or_insert_with(|| rand::rngs::StdRng::from_seed([0; 32]));
        draw(rng)
    }
}

impl TryRng for ReplayRandom {
    type Error = Infallible;

    fn try_next_u32(&mut self) -> Result<u32, Infallible> {
        self.with(TryRng::try_next_u32)
    }

    fn try_next_u64(&mut self) -> Result<u64, Infallible> {
        self.with(TryRng::try_next_u64)
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Infallible> {
        self.with(|rng| rng.try_fill_bytes(dst))
    }
}

/// The kind of a task, as the history records it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Activity,
    SubWorkflow,
    Timer,
    Wait,
}

/// One task the history has scheduled: what a replay must call again at its sequence number.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Step {
    kind: Kind,
    /// The activity, workflow or event name (empty for a timer).
    name: String,
    /// The input's hash (activity, sub-workflow), the time it fires (timer), or its timeout
    /// (wait; `u64::MAX` for none).
    detail: u64,
}

impl Step {
    /// The step in words, for the nondeterminism error.
    fn describe(&self) -> String {
        match self.kind {
            Kind::Activity => format!("activity `{}`", self.name),
            Kind::SubWorkflow => format!("sub-workflow `{}`", self.name),
            Kind::Timer => "a timer".to_owned(),
            Kind::Wait => format!("a wait for event `{}`", self.name),
        }
    }
}

/// A completed task: where its completion is in the history (or after it, for one completed
/// in this turn), when it was recorded, and its result.
#[derive(Debug, Clone)]
struct Done {
    position: usize,
    at_ms: u64,
    result: Result<Vec<u8>, TaskError>,
}

/// A task this turn started, for the commit.
#[derive(Debug, Clone)]
pub enum Scheduled {
    /// `call-activity`; `denied` says why it fails at once (not granted), if it does.
    Activity {
        /// The task.
        seq: u32,
        /// The activity.
        name: String,
        /// Its input.
        input: Vec<u8>,
        /// Its retry policy and timeout.
        options: ActivityOptions,
        /// Why it fails without running, if it does.
        denied: Option<String>,
    },
    /// `call-workflow`; `denied` as for an activity.
    SubWorkflow {
        /// The task.
        seq: u32,
        /// The workflow.
        name: String,
        /// The sub-workflow's instance id.
        instance: String,
        /// Its input.
        input: Vec<u8>,
        /// Why it fails without starting, if it does.
        denied: Option<String>,
    },
    /// `create-timer` or `sleep`.
    Timer {
        /// The task.
        seq: u32,
        /// When it fires, in ms since the Unix epoch.
        fire_at_ms: u64,
    },
    /// `wait-for-event`.
    Wait {
        /// The task.
        seq: u32,
        /// The event's name.
        name: String,
        /// When it times out, in ms since the Unix epoch.
        timeout_at_ms: Option<u64>,
    },
}

impl Scheduled {
    /// The history events that record it: its scheduling, and its failure if it was denied.
    pub fn events(&self) -> Vec<Event> {
        let (scheduled, denied) = match self {
            Self::Activity {
                seq,
                name,
                input,
                denied,
                ..
            } => (
                Event::ActivityScheduled {
                    seq: *seq,
                    name: name.clone(),
                    input_hash: input_hash(input),
                },
                denied
                    .clone()
                    .map(|error| Event::ActivityFailed { seq: *seq, error }),
            ),
            Self::SubWorkflow {
                seq,
                name,
                instance,
                input,
                denied,
            } => (
                Event::SubWorkflowScheduled {
                    seq: *seq,
                    name: name.clone(),
                    instance: instance.clone(),
                    input_hash: input_hash(input),
                },
                denied
                    .clone()
                    .map(|error| Event::SubWorkflowFailed { seq: *seq, error }),
            ),
            Self::Timer { seq, fire_at_ms } => (
                Event::TimerCreated {
                    seq: *seq,
                    fire_at_ms: *fire_at_ms,
                },
                None,
            ),
            Self::Wait {
                seq,
                name,
                timeout_at_ms,
            } => (
                Event::EventWaited {
                    seq: *seq,
                    name: name.clone(),
                    timeout_at_ms: *timeout_at_ms,
                },
                None,
            ),
        };
        std::iter::once(scheduled).chain(denied).collect()
    }
}

/// Why a turn ended before `run` returned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ending {
    /// The orchestrator waits on a task that has not completed.
    Suspended,
    /// `continue-as-new` with this input.
    ContinueAsNew(Vec<u8>),
    /// A call did not match the history: the error names the step.
    Nondeterministic(String),
}

/// What the orchestrator may call: the workflow's grants.
#[derive(Debug, Clone, Default)]
pub struct TurnGrants {
    /// The workflow's name.
    pub workflow: String,
    /// The activities it may call.
    pub activities: Vec<String>,
    /// The workflows it may call as sub-workflows.
    pub workflows: Vec<String>,
}

/// One turn of one instance: its history, read once into what each sequence number was and
/// how it completed, and what the orchestrator did in this run.
pub struct Turn {
    instance: String,
    grants: TurnGrants,
    first_seq: u32,
    steps: Vec<Step>,
    outcomes: HashMap<u32, Done>,
    /// Raised events no wait has taken, by name, oldest first.
    buffered: HashMap<String, VecDeque<(u64, Vec<u8>)>>,
    /// The history's length before this turn's new events: a completion at or past it is news.
    seen: usize,
    /// The position the next completion made in this turn gets.
    next_position: usize,
    next_seq: u32,
    clock: Arc<ReplayClock>,
    now_ms: u64,
    replaying: bool,
    uuids: u32,
    /// The tasks this run started that the history did not have, in order.
    pub scheduled: Vec<Scheduled>,
    /// The last `set-custom-status` of this run, if it called it.
    pub custom_status: Option<Option<Vec<u8>>>,
    /// Why the turn ended early, if it did.
    pub ending: Option<Ending>,
    /// The last error that made the history unreadable, if any (a corrupt history).
    pub corrupt: Option<String>,
}

impl Turn {
    /// The turn of instance `instance` (whose execution's first sequence number is
    /// `first_seq`), with `history` (its current execution's, this turn's new events
    /// included from index `seen`), answering clocks through `clock`.
    pub fn new(
        instance: &str,
        grants: TurnGrants,
        first_seq: u32,
        history: &[HistoryEvent],
        seen: usize,
        clock: Arc<ReplayClock>,
    ) -> Self {
        let mut turn = Self {
            instance: instance.to_owned(),
            grants,
            first_seq,
            steps: Vec::new(),
            outcomes: HashMap::new(),
            buffered: HashMap::new(),
            seen,
            next_position: history.len(),
            next_seq: first_seq,
            now_ms: history.first().map_or(0, |first| first.at_ms),
            clock,
            replaying: false,
            uuids: 0,
            scheduled: Vec::new(),
            custom_status: None,
            ending: None,
            corrupt: None,
        };
        turn.read(history);
        turn.replaying = !turn.steps.is_empty();
        turn.clock.set(turn.now_ms);
        turn.clock.seed(instance);
        turn
    }

    /// Reads `history` into steps, outcomes and buffered events.
    fn read(&mut self, history: &[HistoryEvent]) {
        let mut open_waits: HashMap<String, VecDeque<u32>> = HashMap::new();
        for (position, entry) in history.iter().enumerate() {
            let at_ms = entry.at_ms;
            let done = |result| Done {
                position,
                at_ms,
                result,
            };
            match &entry.event {
                Event::ActivityScheduled {
                    seq,
                    name,
                    input_hash,
                } => self.step(*seq, Kind::Activity, name, *input_hash),
                Event::SubWorkflowScheduled {
                    seq,
                    name,
                    input_hash,
                    ..
                } => self.step(*seq, Kind::SubWorkflow, name, *input_hash),
                Event::TimerCreated { seq, fire_at_ms } => {
                    self.step(*seq, Kind::Timer, "", *fire_at_ms);
                }
                Event::EventWaited {
                    seq,
                    name,
                    timeout_at_ms,
                } => {
                    self.step(*seq, Kind::Wait, name, timeout_at_ms.unwrap_or(u64::MAX));
                    match self.buffered.get_mut(name).and_then(VecDeque::pop_front) {
                        Some((at_ms, payload)) => {
                            self.complete(
                                *seq,
                                Done {
                                    position,
                                    at_ms,
                                    result: Ok(payload),
                                },
                            );
                        }
                        None => open_waits.entry(name.clone()).or_default().push_back(*seq),
                    }
                }
                Event::ActivityCompleted { seq, output }
                | Event::SubWorkflowCompleted { seq, output } => {
                    self.complete(*seq, done(Ok(output.clone())));
                }
                Event::ActivityFailed { seq, error } | Event::SubWorkflowFailed { seq, error } => {
                    self.complete(*seq, done(Err(TaskError::Failed(error.clone()))));
                }
                Event::TimerFired { seq } => match self.step_of(*seq).map(|step| step.kind) {
                    Some(Kind::Timer) => self.complete(*seq, done(Ok(Vec::new()))),
                    Some(Kind::Wait) => {
                        let name = &self.steps[(*seq - self.first_seq) as usize].name;
                        if let Some(waits) = open_waits.get_mut(name)
                            && let Some(at) = waits.iter().position(|wait| wait == seq)
                        {
                            waits.remove(at);
                            self.complete(*seq, done(Err(TaskError::TimedOut)));
                        }
                    }
                    _ => {}
                },
                Event::EventRaised { name, payload } => {
                    match open_waits.get_mut(name).and_then(VecDeque::pop_front) {
                        Some(seq) => self.complete(seq, done(Ok(payload.clone()))),
                        None => self
                            .buffered
                            .entry(name.clone())
                            .or_default()
                            .push_back((at_ms, payload.clone())),
                    }
                }
                Event::Started { .. }
                | Event::CustomStatusSet { .. }
                | Event::ContinuedAsNew { .. }
                | Event::Completed { .. }
                | Event::Failed { .. }
                | Event::Terminated { .. } => {}
            }
        }
    }

    /// Records that the history scheduled task `seq`.
    fn step(&mut self, seq: u32, kind: Kind, name: &str, detail: u64) {
        if seq != self.first_seq + self.steps.len() as u32 {
            self.corrupt = Some(format!(
                "the history schedules task {seq} where task {} was expected",
                self.first_seq + self.steps.len() as u32
            ));
            return;
        }
        self.steps.push(Step {
            kind,
            name: name.to_owned(),
            detail,
        });
    }

    /// The step the history has for task `seq`.
    fn step_of(&self, seq: u32) -> Option<&Step> {
        seq.checked_sub(self.first_seq)
            .and_then(|index| self.steps.get(index as usize))
    }

    /// Records the first completion of task `seq`.
    fn complete(&mut self, seq: u32, done: Done) {
        self.outcomes.entry(seq).or_insert(done);
    }

    /// Whether the history has a completion of task `seq` (a second one is dropped).
    pub fn is_completed(&self, seq: u32) -> bool {
        self.outcomes.contains_key(&seq)
    }

    /// The number of tasks the history has scheduled in this execution.
    pub fn history_tasks(&self) -> u32 {
        self.first_seq + self.steps.len() as u32
    }

    /// The next sequence number (the first one of the next execution after
    /// `continue-as-new`).
    pub fn next_seq(&self) -> u32 {
        self.next_seq
    }

    /// The raised events no wait took, oldest first (carried into the next execution by
    /// `continue-as-new`).
    pub fn unclaimed_events(&self) -> Vec<(String, Vec<u8>)> {
        let mut events: Vec<(u64, String, Vec<u8>)> = self
            .buffered
            .iter()
            .flat_map(|(name, queue)| {
                queue
                    .iter()
                    .map(|(at, payload)| (*at, name.clone(), payload.clone()))
            })
            .collect();
        events.sort_by_key(|(at, ..)| *at);
        events
            .into_iter()
            .map(|(_, name, payload)| (name, payload))
            .collect()
    }

    /// Ends the turn for `ending`: the error traps the instance.
    fn end<T>(&mut self, ending: Ending) -> wasmtime::Result<T> {
        let message = match &ending {
            Ending::Suspended => "the turn ends: the orchestrator waits on a task".to_owned(),
            Ending::ContinueAsNew(_) => "the turn ends: continue-as-new".to_owned(),
            Ending::Nondeterministic(message) => message.clone(),
        };
        self.ending = Some(ending);
        Err(wasmtime::Error::msg(message))
    }

    /// Starts a task: checks it against the history, or records it as new.
    fn schedule(
        &mut self,
        step: Step,
        new: impl FnOnce(u32, &mut Self) -> Scheduled,
    ) -> wasmtime::Result<u32> {
        if let Some(corrupt) = self.corrupt.clone() {
            return self.end(Ending::Nondeterministic(format!(
                "corrupt history: {corrupt}"
            )));
        }
        let seq = self.next_seq;
        self.next_seq += 1;
        if let Some(old) = self.step_of(seq) {
            if *old == step {
                return Ok(seq);
            }
            let index = seq - self.first_seq;
            let message = if old.kind == step.kind && old.name == step.name {
                format!(
                    "nondeterministic at step {index}: the history has {} here with another {}",
                    old.describe(),
                    match step.kind {
                        Kind::Activity | Kind::SubWorkflow => "input",
                        Kind::Timer => "time",
                        Kind::Wait => "timeout",
                    }
                )
            } else {
                format!(
                    "nondeterministic at step {index}: the history has {} here, the orchestrator now calls {}",
                    old.describe(),
                    step.describe()
                )
            };
            return self.end(Ending::Nondeterministic(message));
        }
        self.replaying = false;
        let scheduled = new(seq, self);
        self.scheduled.push(scheduled);
        Ok(seq)
    }

    /// Completes task `seq` within this turn (a denied call, a wait an unclaimed event
    /// answers).
    fn complete_now(&mut self, seq: u32, at_ms: u64, result: Result<Vec<u8>, TaskError>) {
        let position = self.next_position;
        self.next_position += 1;
        self.complete(
            seq,
            Done {
                position,
                at_ms,
                result,
            },
        );
    }

    /// The completion of `task`, if it has one.
    fn done(&self, task: u32) -> wasmtime::Result<Option<&Done>> {
        if task < self.first_seq || task >= self.next_seq {
            wasmtime::bail!("task {task} was not started by this execution of the orchestrator");
        }
        Ok(self.outcomes.get(&task))
    }

    /// Moves the clock to `done`, and out of replay if it is news.
    fn consume(&mut self, position: usize, at_ms: u64) {
        if at_ms > self.now_ms {
            self.now_ms = at_ms;
            self.clock.set(at_ms);
        }
        if position >= self.seen {
            self.replaying = false;
        }
    }

    /// The deadline `delay_ms` from now, in ms since the Unix epoch.
    fn after(&self, delay_ms: u64) -> u64 {
        self.now_ms.saturating_add(delay_ms)
    }
}

/// The per-instance view the generated trait is implemented on: the turn, if the instance
/// is an orchestrator's.
pub struct OrchestrationView<'a> {
    /// The turn.
    pub turn: Option<&'a Arc<Mutex<Turn>>>,
}

impl OrchestrationView<'_> {
    fn turn(&self) -> wasmtime::Result<MutexGuard<'_, Turn>> {
        match self.turn {
            Some(turn) => Ok(turn.lock().unwrap_or_else(PoisonError::into_inner)),
            None => wasmtime::bail!(
                "wasmhost:host/orchestration is for orchestrators only: this instance is not running a workflow turn"
            ),
        }
    }
}

impl orchestration::Host for OrchestrationView<'_> {
    async fn instance_id(&mut self) -> wasmtime::Result<String> {
        Ok(self.turn()?.instance.clone())
    }

    async fn call_activity(
        &mut self,
        name: String,
        input: Vec<u8>,
        options: ActivityOptions,
    ) -> wasmtime::Result<u32> {
        let mut turn = self.turn()?;
        let step = Step {
            kind: Kind::Activity,
            name: name.clone(),
            detail: input_hash(&input),
        };
        turn.schedule(step, |seq, turn| {
            let denied = (!turn.grants.activities.contains(&name)).then(|| {
                format!(
                    "activity `{name}` is not granted to workflow `{}` (add it to its `activities`)",
                    turn.grants.workflow
                )
            });
            if let Some(error) = &denied {
                let now = turn.now_ms;
                turn.complete_now(seq, now, Err(TaskError::Failed(error.clone())));
            }
            Scheduled::Activity {
                seq,
                name,
                input,
                options,
                denied,
            }
        })
    }

    async fn call_workflow(
        &mut self,
        name: String,
        input: Vec<u8>,
        instance_id: Option<String>,
    ) -> wasmtime::Result<u32> {
        let mut turn = self.turn()?;
        let step = Step {
            kind: Kind::SubWorkflow,
            name: name.clone(),
            detail: input_hash(&input),
        };
        turn.schedule(step, |seq, turn| {
            let instance = instance_id.unwrap_or_else(|| format!("{}:{seq}", turn.instance));
            let denied = if !turn.grants.workflows.contains(&name) {
                Some(format!(
                    "workflow `{name}` is not granted to workflow `{}` (add it to its `workflows`)",
                    turn.grants.workflow
                ))
            } else if !super::history::is_instance_id(&instance) {
                Some(format!(
                    "instance id `{}` must be 1 to 128 letters, digits and `-_.:@`",
                    instance.escape_debug()
                ))
            } else {
                None
            };
            if let Some(error) = &denied {
                let now = turn.now_ms;
                turn.complete_now(seq, now, Err(TaskError::Failed(error.clone())));
            }
            Scheduled::SubWorkflow {
                seq,
                name,
                instance,
                input,
                denied,
            }
        })
    }

    async fn create_timer(&mut self, fire_at: Datetime) -> wasmtime::Result<u32> {
        let fire_at_ms = fire_at
            .seconds
            .saturating_mul(1_000)
            .saturating_add(u64::from(fire_at.nanoseconds / 1_000_000));
        let mut turn = self.turn()?;
        let step = Step {
            kind: Kind::Timer,
            name: String::new(),
            detail: fire_at_ms,
        };
        turn.schedule(step, |seq, _| Scheduled::Timer { seq, fire_at_ms })
    }

    async fn sleep(&mut self, delay_ms: u64) -> wasmtime::Result<u32> {
        let fire_at_ms = self.turn()?.after(delay_ms);
        self.create_timer(datetime(fire_at_ms)).await
    }

    async fn wait_for_event(
        &mut self,
        name: String,
        timeout_ms: Option<u64>,
    ) -> wasmtime::Result<u32> {
        let mut turn = self.turn()?;
        let timeout_at_ms = timeout_ms.map(|ms| turn.after(ms));
        let step = Step {
            kind: Kind::Wait,
            name: name.clone(),
            detail: timeout_at_ms.unwrap_or(u64::MAX),
        };
        turn.schedule(step, |seq, turn| {
            if let Some((at_ms, payload)) =
                turn.buffered.get_mut(&name).and_then(VecDeque::pop_front)
            {
                turn.complete_now(seq, at_ms, Ok(payload));
            }
            Scheduled::Wait {
                seq,
                name,
                timeout_at_ms,
            }
        })
    }

    async fn await_task(&mut self, task: u32) -> wasmtime::Result<Result<Vec<u8>, TaskError>> {
        let mut turn = self.turn()?;
        let Some(done) = turn.done(task)?.cloned() else {
            return turn.end(Ending::Suspended);
        };
        turn.consume(done.position, done.at_ms);
        Ok(done.result)
    }

    async fn when_all(
        &mut self,
        tasks: Vec<u32>,
    ) -> wasmtime::Result<Vec<Result<Vec<u8>, TaskError>>> {
        let mut turn = self.turn()?;
        let mut done = Vec::with_capacity(tasks.len());
        for task in &tasks {
            match turn.done(*task)? {
                Some(result) => done.push(result.clone()),
                None => return turn.end(Ending::Suspended),
            }
        }
        if let Some(last) = done.iter().max_by_key(|done| done.position) {
            let (position, at_ms) = (last.position, done.iter().map(|d| d.at_ms).max());
            turn.consume(position, at_ms.unwrap_or(0));
        }
        Ok(done.into_iter().map(|done| done.result).collect())
    }

    async fn when_any(&mut self, tasks: Vec<u32>) -> wasmtime::Result<u32> {
        if tasks.is_empty() {
            wasmtime::bail!("when-any needs at least one task");
        }
        let mut turn = self.turn()?;
        let mut first: Option<(usize, u64, usize)> = None;
        for (index, task) in tasks.iter().enumerate() {
            if let Some(done) = turn.done(*task)?
                && first.is_none_or(|(position, ..)| done.position < position)
            {
                first = Some((done.position, done.at_ms, index));
            }
        }
        let Some((position, at_ms, index)) = first else {
            return turn.end(Ending::Suspended);
        };
        turn.consume(position, at_ms);
        Ok(u32::try_from(index).unwrap_or(u32::MAX))
    }

    async fn now(&mut self) -> wasmtime::Result<Datetime> {
        Ok(datetime(self.turn()?.now_ms))
    }

    async fn new_uuid(&mut self) -> wasmtime::Result<String> {
        let mut turn = self.turn()?;
        turn.uuids += 1;
        let name = format!("{}:{}:{}", turn.instance, turn.first_seq, turn.uuids);
        Ok(uuid::Uuid::new_v5(&UUID_NAMESPACE, name.as_bytes()).to_string())
    }

    async fn set_custom_status(&mut self, status: Option<Vec<u8>>) -> wasmtime::Result<()> {
        self.turn()?.custom_status = Some(status);
        Ok(())
    }

    async fn continue_as_new(&mut self, input: Vec<u8>) -> wasmtime::Result<()> {
        self.turn()?.end(Ending::ContinueAsNew(input))
    }

    async fn is_replaying(&mut self) -> wasmtime::Result<bool> {
        Ok(self.turn()?.replaying)
    }
}

/// The namespace of the UUIDs `new-uuid` makes (version 5, from the instance id, the
/// execution's first sequence number and a counter).
const UUID_NAMESPACE: uuid::Uuid = uuid::Uuid::from_u128(0x5d0e_6b2a_8c1f_4e7a_9b3d_2f6c_1a8e_7b40);

/// Adds `orchestration` to `linker`, each call on the view `view` makes.
///
/// # Errors
/// An interface defined twice (a host bug).
pub fn add_to_linker<T: Send + 'static>(
    linker: &mut Linker<T>,
    view: fn(&mut T) -> OrchestrationView<'_>,
) -> Result<()> {
    orchestration::add_to_linker::<T, Orchestration>(linker, view)?;
    Ok(())
}

struct Orchestration;

impl HasData for Orchestration {
    type Data<'a> = OrchestrationView<'a>;
}

#[cfg(test)]
mod tests {
    use orchestration::Host;

    use super::*;

    fn at(ms: u64, event: Event) -> HistoryEvent {
        HistoryEvent { at_ms: ms, event }
    }

    fn started() -> HistoryEvent {
        at(1_000, Event::Started { input: Vec::new() })
    }

    fn grants() -> TurnGrants {
        TurnGrants {
            workflow: "w".into(),
            activities: vec!["a".into(), "b".into()],
            workflows: Vec::new(),
        }
    }

    fn new_turn(history: &[HistoryEvent], seen: usize) -> Arc<Mutex<Turn>> {
        Arc::new(Mutex::new(Turn::new(
            "i",
            grants(),
            0,
            history,
            seen,
            Arc::default(),
        )))
    }

    fn no_options() -> ActivityOptions {
        ActivityOptions {
            retry: None,
            timeout_ms: None,
        }
    }

    /// A task's result, comparable.
    fn result(result: wasmtime::Result<Result<Vec<u8>, TaskError>>) -> String {
        format!("{:?}", result.unwrap())
    }

    fn ok(bytes: &[u8]) -> String {
        format!("{:?}", Ok::<_, TaskError>(bytes.to_vec()))
    }

    fn ending(turn: &Arc<Mutex<Turn>>) -> Option<Ending> {
        turn.lock().unwrap().ending.clone()
    }

    #[tokio::test]
    async fn a_new_call_is_recorded_and_waiting_on_it_suspends() {
        let turn = new_turn(&[started()], 1);
        let mut view = OrchestrationView { turn: Some(&turn) };
        assert!(
            !view.is_replaying().await.unwrap(),
            "the first turn is not a replay"
        );
        let task = view
            .call_activity("a".into(), b"1".to_vec(), no_options())
            .await
            .unwrap();
        assert_eq!(task, 0);
        assert!(view.await_task(task).await.is_err());
        assert_eq!(ending(&turn), Some(Ending::Suspended));
        assert_eq!(turn.lock().unwrap().scheduled.len(), 1);
    }

    #[tokio::test]
    async fn a_replay_answers_from_history_and_moves_the_clock() {
        let history = [
            started(),
            at(
                1_100,
                Event::ActivityScheduled {
                    seq: 0,
                    name: "a".into(),
                    input_hash: input_hash(b"1"),
                },
            ),
            at(
                2_000,
                Event::ActivityCompleted {
                    seq: 0,
                    output: b"out".to_vec(),
                },
            ),
        ];
        let turn = new_turn(&history, 2);
        let mut view = OrchestrationView { turn: Some(&turn) };
        assert_eq!(view.now().await.unwrap().seconds, 1);
        assert!(view.is_replaying().await.unwrap());
        let task = view
            .call_activity("a".into(), b"1".to_vec(), no_options())
            .await
            .unwrap();
        assert_eq!(result(view.await_task(task).await), ok(b"out"));
        assert_eq!(view.now().await.unwrap().seconds, 2);
        assert!(
            !view.is_replaying().await.unwrap(),
            "the completion is news"
        );
        assert!(turn.lock().unwrap().scheduled.is_empty());
    }

    #[tokio::test]
    async fn another_call_at_a_step_is_nondeterministic_and_named() {
        let history = [
            started(),
            at(
                1_100,
                Event::ActivityScheduled {
                    seq: 0,
                    name: "a".into(),
                    input_hash: input_hash(b"1"),
                },
            ),
        ];
        let turn = new_turn(&history, 2);
        let mut view = OrchestrationView { turn: Some(&turn) };
        assert!(
            view.call_activity("b".into(), b"1".to_vec(), no_options())
                .await
                .is_err()
        );
        let Some(Ending::Nondeterministic(message)) = ending(&turn) else {
            panic!("{:?}", ending(&turn));
        };
        assert_eq!(
            message,
            "nondeterministic at step 0: the history has activity `a` here, the orchestrator now calls activity `b`"
        );
        let turn = new_turn(&history, 2);
        let mut view = OrchestrationView { turn: Some(&turn) };
        assert!(
            view.call_activity("a".into(), b"2".to_vec(), no_options())
                .await
                .is_err()
        );
        assert!(
            matches!(ending(&turn), Some(Ending::Nondeterministic(m)) if m.contains("another input"))
        );
    }

    #[tokio::test]
    async fn events_are_matched_to_waits_in_order_and_kept_until_one_waits() {
        // Raised before any wait: kept for the first wait of its name.
        let history = [
            started(),
            at(
                1_200,
                Event::EventRaised {
                    name: "go".into(),
                    payload: b"early".to_vec(),
                },
            ),
        ];
        let turn = new_turn(&history, 1);
        let mut view = OrchestrationView { turn: Some(&turn) };
        let wait = view
            .wait_for_event("go".into(), Some(10_000))
            .await
            .unwrap();
        assert_eq!(result(view.await_task(wait).await), ok(b"early"));
        let second = view.wait_for_event("go".into(), None).await.unwrap();
        assert!(
            view.await_task(second).await.is_err(),
            "a second wait waits"
        );

        // The timeout fired first: the wait times out, and the later event is kept.
        let history = [
            started(),
            at(
                1_000,
                Event::EventWaited {
                    seq: 0,
                    name: "go".into(),
                    timeout_at_ms: Some(1_500),
                },
            ),
            at(1_500, Event::TimerFired { seq: 0 }),
            at(
                1_600,
                Event::EventRaised {
                    name: "go".into(),
                    payload: b"late".to_vec(),
                },
            ),
        ];
        let turn = new_turn(&history, 1);
        let mut view = OrchestrationView { turn: Some(&turn) };
        let wait = view.wait_for_event("go".into(), Some(500)).await.unwrap();
        assert!(matches!(
            view.await_task(wait).await,
            Ok(Err(TaskError::TimedOut))
        ));
        assert_eq!(
            turn.lock().unwrap().unclaimed_events(),
            [("go".to_owned(), b"late".to_vec())]
        );
    }

    #[tokio::test]
    async fn when_any_gives_the_first_completed_and_denied_calls_fail_at_once() {
        let history = [
            started(),
            at(
                1_000,
                Event::TimerCreated {
                    seq: 0,
                    fire_at_ms: 9_000,
                },
            ),
            at(
                1_000,
                Event::TimerCreated {
                    seq: 1,
                    fire_at_ms: 2_000,
                },
            ),
            at(2_000, Event::TimerFired { seq: 1 }),
        ];
        let turn = new_turn(&history, 4);
        let mut view = OrchestrationView { turn: Some(&turn) };
        let slow = view.sleep(8_000).await.unwrap();
        let fast = view.sleep(1_000).await.unwrap();
        assert_eq!(view.when_any(vec![slow, fast]).await.unwrap(), 1);
        assert!(view.when_all(vec![slow, fast]).await.is_err());
        let denied = view
            .call_activity("x".into(), Vec::new(), no_options())
            .await
            .unwrap();
        let Ok(Err(TaskError::Failed(error))) = view.await_task(denied).await else {
            panic!("a denied activity fails");
        };
        assert!(error.contains("not granted to workflow `w`"), "{error}");
    }

    #[tokio::test]
    async fn uuids_and_random_are_the_same_on_a_replay() {
        let mut first = Vec::new();
        for _ in 0..2 {
            let turn = new_turn(&[started()], 1);
            let mut view = OrchestrationView { turn: Some(&turn) };
            let uuids = (
                view.new_uuid().await.unwrap(),
                view.new_uuid().await.unwrap(),
            );
            assert_ne!(uuids.0, uuids.1);
            let clock = turn.lock().unwrap().clock.clone();
            let random = ReplayRandom(clock).try_next_u64().unwrap();
            if first.is_empty() {
                first.push((uuids, random));
            } else {
                assert_eq!(first[0], (uuids, random));
            }
        }
    }
}

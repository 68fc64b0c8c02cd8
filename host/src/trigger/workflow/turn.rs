//! One turn of one instance (see [`crate::capability::workflow::context`] for how the
//! orchestrator's calls are answered):
//!
//! 1. the turns-queue messages taken for the instance are grouped; its lease is taken (an
//!    instance whose turn runs already gets its messages back a little later);
//! 2. its record and history are read; the messages' events are appended (a completion the
//!    history has already, or of an earlier execution, is dropped: delivery is at least once);
//!    a termination ends it there;
//! 3. the orchestrator runs from the start in a fresh instance, pinned to the component its
//!    instance started on (kept in the store under its digest), with the component's limits;
//! 4. what it did is committed in one atomic write ([`Commit`]): the new events, the new
//!    tasks' messages (activities, timers, sub-workflows' starts), the record, and the
//!    acknowledgement of the messages the turn consumed. A crash before the commit runs the
//!    turn again; after it, nothing runs twice.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, LazyLock, Mutex, PoisonError};
use std::time::Instant;

use anyhow::Context;
use wasmtime::component::Component;

use super::{put_back, trace_headers};
use crate::app_version::{AppVersion, Export, LoadedComponent};
use crate::bindings::workflow_component::WorkflowComponentPre;
use crate::capability::backend::now_ms;
use crate::capability::queue::{Received, StoredMessage};
use crate::capability::workflow::context::{Ending, Scheduled, Turn, TurnGrants};
use crate::capability::workflow::history::{
    ActivityWork, Control, ControlMessage, Event, HistoryEvent, InstanceRecord, Parent,
    RuntimeStatus, decode, encode,
};
use crate::capability::workflow::store::{Commit, StoreError};
use crate::capability::workflow::{WorkflowInfo, Workflows, control};
use crate::invocation::{RequestId, until};
use crate::metrics::Outcome;
use crate::state::InstanceState;
use crate::trace::TraceContext;
use crate::trigger::invoke::{self, Failure, Trigger, Who};

/// How long a message waits before it is taken again when its instance's turn runs already:
/// 20 ms.
const BUSY_RETRY_MS: u64 = 20;

/// Handles one batch of the turns queue: a turn per instance it names, in order.
pub async fn handle(version: &Arc<AppVersion>, workflows: &Workflows, received: Received) {
    let queue = workflows.store.turns();
    for bad in received.undecodable {
        tracing::error!(queue = %queue.name, "undecodable turn message dropped: {}", bad.error);
        let _ = queue.backend.ack(std::slice::from_ref(&bad.entry)).await;
    }
    let mut order: Vec<String> = Vec::new();
    let mut groups: HashMap<String, Vec<(StoredMessage, Control)>> = HashMap::new();
    for message in received.messages {
        match decode::<ControlMessage>(&message.body) {
            Ok(decoded) => {
                let group = groups.entry(decoded.instance.clone()).or_default();
                if group.is_empty() {
                    order.push(decoded.instance);
                }
                group.push((message, decoded.control));
            }
            Err(err) => {
                tracing::error!(queue = %queue.name, "turn message dropped: {err}");
                let _ = queue.backend.ack(std::slice::from_ref(&message)).await;
            }
        }
    }
    for instance in order {
        let messages = groups.remove(&instance).unwrap_or_default();
        run(version, workflows, &instance, messages).await;
    }
}

/// How a turn ended.
enum End {
    Suspended,
    Completed(Vec<u8>),
    Failed(String),
    ContinueAsNew(Vec<u8>),
}

/// One turn of instance `id` with the messages taken for it.
async fn run(
    version: &Arc<AppVersion>,
    workflows: &Workflows,
    id: &str,
    messages: Vec<(StoredMessage, Control)>,
) {
    let store = &workflows.store;
    let queue = store.turns();
    let taken: Vec<StoredMessage> = messages.iter().map(|(m, _)| m.clone()).collect();
    let Some(_lease) = store.lease(id).await else {
        put_back(queue, &taken, BUSY_RETRY_MS).await;
        return;
    };
    let started = Instant::now();
    let record = match store.record(id).await {
        Ok(Some(record)) if !record.status.is_ended() => record,
        Ok(_) => {
            // Purged, or ended: what still comes for it (a timer, a late completion) is moot.
            let _ = queue.backend.ack(&taken).await;
            return;
        }
        Err(err) => {
            tracing::warn!(
                instance = id,
                "cannot read the instance; its turn runs again later: {err}"
            );
            return;
        }
    };
    let mut history = match store.history(id).await {
        Ok(history) => history,
        Err(err) => {
            tracing::warn!(
                instance = id,
                "cannot read the history; its turn runs again later: {err}"
            );
            return;
        }
    };
    let seen = history.len();
    let now = now_ms();
    let (scheduled, mut completed) = tasks(&history);
    let mut terminate = None;
    let mut woken = false;
    for (_, control) in messages {
        match control {
            Control::Wake => woken = true,
            Control::Terminate(reason) => terminate = Some(reason),
            Control::Append(event) => {
                if let Some(seq) = completion(&event)
                    && (!scheduled.contains(&seq) || !completed.insert(seq))
                {
                    continue;
                }
                history.push(HistoryEvent { at_ms: now, event });
            }
        }
    }
    let mut commit = Commit {
        expected_len: record.history_len,
        ack: taken.clone(),
        ..Commit::default()
    };
    let mut record = record;
    record.turns += 1;
    record.updated_ms = now;
    if let Some(reason) = terminate {
        commit.append = history[seen..].to_vec();
        record.status = RuntimeStatus::Terminated;
        record.error = Some(reason.clone());
        let event = Event::Terminated { reason };
        finish(workflows, &mut commit, &mut record, event, now);
        save(workflows, commit, record, &taken, "terminated").await;
        return;
    }
    let pending = matches!(
        record.status,
        RuntimeStatus::Pending | RuntimeStatus::ContinuedAsNew
    );
    if history.len() == seen && !(woken && pending) {
        // Nothing new for the orchestrator (a duplicate completion, a stale timer).
        let _ = queue.backend.ack(&taken).await;
        return;
    }
    let Some(info) = workflows.workflows.get(&record.workflow) else {
        commit.append = history[seen..].to_vec();
        let error = format!(
            "workflow `{}` is not in the app any more (its `[[trigger.workflow]]` was removed)",
            record.workflow
        );
        fail(workflows, commit, record, error, now, &taken).await;
        return;
    };
    let component = &version.components[info.component];
    let export = match orchestrator(version, workflows, info, component, &record).await {
        Ok(export) => export,
        Err(err) => {
            tracing::warn!(
                instance = id,
                "cannot load the orchestrator; its turn runs again later: {err:#}"
            );
            put_back(queue, &taken, 1_000).await;
            return;
        }
    };
    let grants = TurnGrants {
        workflow: info.name.clone(),
        activities: info.activities.clone(),
        workflows: info.workflows.clone(),
    };
    let (end, turn) = replay(version, component, &export, &record, grants, &history, seen).await;
    let turn = Recorded::from(&*turn.lock().unwrap_or_else(PoisonError::into_inner));
    let took = started.elapsed();
    workflows
        .metrics
        .turn(&record.workflow, took, history.len());
    tracing::debug!(
        workflow = %record.workflow,
        instance = id,
        events = history.len(),
        us = u64::try_from(took.as_micros()).unwrap_or(u64::MAX),
        "turn replayed",
    );
    commit.append = history[seen..].to_vec();
    match end {
        End::ContinueAsNew(input) => {
            // A new execution: its history starts again, with the events nothing took.
            commit.reset_history = true;
            commit.append = vec![HistoryEvent {
                at_ms: now,
                event: Event::Started {
                    input: input.clone(),
                },
            }];
            for (name, payload) in turn.unclaimed {
                commit.append.push(HistoryEvent {
                    at_ms: now,
                    event: Event::EventRaised { name, payload },
                });
            }
            record.input = input;
            record.first_seq = turn.next_seq;
            record.execution += 1;
            record.digest = info.digest.clone();
            record.status = RuntimeStatus::ContinuedAsNew;
            record.custom_status = turn.custom_status.clone().unwrap_or(record.custom_status);
            record.history_len = u32::try_from(commit.append.len()).unwrap_or(u32::MAX);
            match control(id, Control::Wake, 0) {
                Ok(wake) => commit.turns.push(wake),
                Err(err) => tracing::error!(instance = id, "{err}"),
            }
            workflows
                .metrics
                .ended(&record.workflow, "continued_as_new");
            commit_turn(workflows, commit, record, &taken).await;
            return;
        }
        End::Suspended | End::Completed(_) | End::Failed(_) => {}
    }
    if let Err(err) = schedule(workflows, &turn, &record, &mut commit, now).await {
        tracing::warn!(
            instance = id,
            "cannot schedule the turn's tasks; it runs again later: {err}"
        );
        put_back(queue, &taken, 1_000).await;
        return;
    }
    if let Some(status) = turn.custom_status.clone()
        && status != record.custom_status
    {
        commit.append.push(HistoryEvent {
            at_ms: now,
            event: Event::CustomStatusSet {
                status: status.clone(),
            },
        });
        record.custom_status = status;
    }
    match end {
        End::Suspended => {
            record.status = RuntimeStatus::Running;
            record.history_len = len_after(&commit);
            commit_turn(workflows, commit, record, &taken).await;
        }
        End::Completed(output) => {
            record.status = RuntimeStatus::Completed;
            record.output = Some(output.clone());
            finish(
                workflows,
                &mut commit,
                &mut record,
                Event::Completed { output },
                now,
            );
            save(workflows, commit, record, &taken, "completed").await;
        }
        End::Failed(error) => fail(workflows, commit, record, error, now, &taken).await,
        End::ContinueAsNew(_) => unreachable!("handled above"),
    }
}

/// What a turn recorded, taken out of it once `run` returned.
struct Recorded {
    scheduled: Vec<Scheduled>,
    custom_status: Option<Option<Vec<u8>>>,
    unclaimed: Vec<(String, Vec<u8>)>,
    next_seq: u32,
}

impl From<&Turn> for Recorded {
    fn from(turn: &Turn) -> Self {
        Self {
            scheduled: turn.scheduled.clone(),
            custom_status: turn.custom_status.clone(),
            unclaimed: turn.unclaimed_events(),
            next_seq: turn.next_seq(),
        }
    }
}

/// The history's length once `commit` is written.
fn len_after(commit: &Commit) -> u32 {
    let base = if commit.reset_history {
        0
    } else {
        commit.expected_len
    };
    base + u32::try_from(commit.append.len()).unwrap_or(u32::MAX)
}

/// The tasks `history` schedules, and those it completes.
fn tasks(history: &[HistoryEvent]) -> (HashSet<u32>, HashSet<u32>) {
    let mut scheduled = HashSet::new();
    let mut completed = HashSet::new();
    for entry in history {
        match &entry.event {
            Event::ActivityScheduled { seq, .. }
            | Event::SubWorkflowScheduled { seq, .. }
            | Event::TimerCreated { seq, .. }
            | Event::EventWaited { seq, .. } => {
                scheduled.insert(*seq);
            }
            event => {
                if let Some(seq) = completion(event) {
                    completed.insert(seq);
                }
            }
        }
    }
    (scheduled, completed)
}

/// The task an event completes, if it completes one.
fn completion(event: &Event) -> Option<u32> {
    match event {
        Event::ActivityCompleted { seq, .. }
        | Event::ActivityFailed { seq, .. }
        | Event::SubWorkflowCompleted { seq, .. }
        | Event::SubWorkflowFailed { seq, .. }
        | Event::TimerFired { seq } => Some(*seq),
        _ => None,
    }
}

/// Runs the orchestrator once on `history`, as a fresh instance of `export` with the limits
/// of `component`; returns how the turn ended and what it recorded.
async fn replay(
    version: &Arc<AppVersion>,
    component: &LoadedComponent,
    export: &Export<WorkflowComponentPre<InstanceState>>,
    record: &InstanceRecord,
    grants: TurnGrants,
    history: &[HistoryEvent],
    seen: usize,
) -> (End, Arc<Mutex<Turn>>) {
    let parent = trace_headers(record.traceparent.as_deref());
    let (span, trace) = TraceContext::start(parent.as_ref(), || {
        tracing::info_span!(
            target: crate::trace::SPAN_TARGET,
            "invocation",
            otel.name = %format_args!("workflow {} turn", record.workflow),
            otel.kind = "internal",
            otel.status_code = tracing::field::Empty,
            wasmhost.app = tracing::field::Empty,
            wasmhost.component = %component.id,
            wasmhost.trigger = "workflow",
            wasmhost.workflow = %record.workflow,
            wasmhost.instance = %record.id,
            wasmhost.request_id = %record.id,
            wasmhost.outcome = tracing::field::Empty,
        )
    });
    let invocation = component.invocation(RequestId::named(&record.id), trace);
    let trigger = Orchestrate {
        workflow: record.workflow.clone(),
        instance: record.id.clone(),
    };
    let mut started = invoke::start(version, component, export, invocation, span, trigger);
    let clock = started
        .store
        .data()
        .replay_clock()
        .cloned()
        .unwrap_or_default();
    let turn = Arc::new(Mutex::new(Turn::new(
        &record.id,
        grants,
        record.first_seq,
        history,
        seen,
        clock,
    )));
    started.store.data_mut().set_turn(turn.clone());
    let input = record.input.clone();
    let deadline = started.deadline;
    let (guest, end) = started.call(move |instance, mut store| async move {
        instance
            .wasmhost_host_orchestrator()
            .call_run(&mut store, &input)
            .await
    });
    let result = until(deadline, guest).await;
    let ending = turn
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .ending
        .take();
    let (ended, result): (End, Result<(), Failure>) = match (result, ending) {
        (Ok(Ok(output)), _) => (End::Completed(output), Ok(())),
        (Ok(Err(message)), _) => (
            End::Failed(message.clone()),
            Err(Failure::Answered(message)),
        ),
        (Err(_), Some(Ending::Suspended)) => (End::Suspended, Ok(())),
        (Err(_), Some(Ending::ContinueAsNew(input))) => (End::ContinueAsNew(input), Ok(())),
        (Err(_), Some(Ending::Nondeterministic(message))) => (
            End::Failed(message.clone()),
            Err(Failure::Answered(message)),
        ),
        (Err(trap), None) => {
            let failure = Failure::Trapped(trap);
            (End::Failed(failure.to_string()), Err(failure))
        }
    };
    end.finish(&result);
    (ended, turn)
}

/// The orchestrator export for `record`: the component of this version if the instance is
/// pinned to it, else the one it is pinned to, compiled from the copy the store keeps (once
/// per process).
async fn orchestrator(
    version: &AppVersion,
    workflows: &Workflows,
    info: &WorkflowInfo,
    component: &LoadedComponent,
    record: &InstanceRecord,
) -> anyhow::Result<Export<WorkflowComponentPre<InstanceState>>> {
    static PINNED: LazyLock<Mutex<HashMap<String, WorkflowComponentPre<InstanceState>>>> =
        LazyLock::new(Mutex::default);
    let current = component
        .orchestrator
        .as_ref()
        .context("the orchestrator does not export wasmhost:host/orchestrator")?;
    if info.digest == record.digest {
        return Ok(Export {
            pre: current.pre.clone(),
            metrics: current.metrics.clone(),
        });
    }
    let cached = PINNED
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .get(&record.digest)
        .cloned();
    let pre = match cached {
        Some(pre) => pre,
        None => {
            let bytes = workflows
                .store
                .component(&record.digest)
                .await?
                .with_context(|| {
                    format!(
                        "the orchestrator component {} that instance `{}` is pinned to is not in the workflow store",
                        record.digest, record.id
                    )
                })?;
            let engine = version.engine.clone();
            let pre = tokio::task::spawn_blocking(move || -> anyhow::Result<_> {
                let compiled = Component::new(&engine, &bytes)?;
                let linker = crate::app_version::linker(&engine)?;
                let pre = linker.instantiate_pre(&compiled)?;
                Ok(WorkflowComponentPre::new(pre)?)
            })
            .await??;
            tracing::info!(
                workflow = %record.workflow,
                digest = %record.digest,
                "an instance is pinned to an earlier orchestrator: loaded it from the workflow store"
            );
            PINNED
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .insert(record.digest.clone(), pre.clone());
            pre
        }
    };
    Ok(Export {
        pre,
        metrics: current.metrics.clone(),
    })
}

/// Adds what `turn` started to `commit`: its events, and the messages of its activities,
/// timers and sub-workflows.
async fn schedule(
    workflows: &Workflows,
    turn: &Recorded,
    record: &InstanceRecord,
    commit: &mut Commit,
    now: u64,
) -> Result<(), StoreError> {
    for task in &turn.scheduled {
        let mut events = task.events();
        match task {
            Scheduled::Activity {
                seq,
                name,
                input,
                options,
                denied: None,
            } => {
                let retry = options.retry.unwrap_or(
                    crate::bindings::wasmhost::host::workflow_types::RetryPolicy {
                        max_attempts: 1,
                        first_retry_ms: 0,
                        max_retry_ms: 0,
                    },
                );
                let work = ActivityWork {
                    instance: record.id.clone(),
                    workflow: record.workflow.clone(),
                    seq: *seq,
                    name: name.clone(),
                    input: input.clone(),
                    max_attempts: retry.max_attempts.max(1),
                    first_retry_ms: retry.first_retry_ms,
                    max_retry_ms: retry.max_retry_ms.max(retry.first_retry_ms),
                    timeout_ms: options.timeout_ms,
                    traceparent: record.traceparent.clone(),
                    failed: 0,
                };
                commit
                    .activities
                    .push(StoredMessage::new(encode(&work)?, None, Vec::new(), 0));
            }
            Scheduled::SubWorkflow {
                seq,
                name,
                instance,
                input,
                denied: None,
            } => {
                let exists = workflows.store.record(instance).await?.is_some()
                    || commit.create.iter().any(|(child, _)| child.id == *instance);
                if exists {
                    events.push(Event::SubWorkflowFailed {
                        seq: *seq,
                        error: format!("cannot start sub-workflow `{name}`: instance `{instance}` exists already"),
                    });
                } else {
                    let info = workflows.workflow(name).map_err(|err| {
                        StoreError::Backend(crate::capability::backend::BackendError::Invalid(
                            err.to_string(),
                        ))
                    })?;
                    let parent = Parent {
                        instance: record.id.clone(),
                        seq: *seq,
                    };
                    let (child, first) = Workflows::new_instance(
                        info,
                        instance.clone(),
                        input.clone(),
                        0,
                        Some(parent),
                        record.traceparent.clone(),
                    );
                    commit.create.push((child, first));
                    commit.turns.push(control(instance, Control::Wake, 0)?);
                    workflows.metrics.started(name);
                }
            }
            Scheduled::Timer { seq, fire_at_ms } => {
                let delay = fire_at_ms.saturating_sub(now);
                let fired = Control::Append(Event::TimerFired { seq: *seq });
                commit.turns.push(control(&record.id, fired, delay)?);
            }
            Scheduled::Wait {
                seq,
                timeout_at_ms: Some(at),
                ..
            } => {
                let delay = at.saturating_sub(now);
                let fired = Control::Append(Event::TimerFired { seq: *seq });
                commit.turns.push(control(&record.id, fired, delay)?);
            }
            Scheduled::Activity { .. } | Scheduled::SubWorkflow { .. } | Scheduled::Wait { .. } => {
            }
        }
        commit.append.extend(
            events
                .into_iter()
                .map(|event| HistoryEvent { at_ms: now, event }),
        );
    }
    Ok(())
}

/// Ends the instance with `event` in `commit`, and tells its parent.
fn finish(
    workflows: &Workflows,
    commit: &mut Commit,
    record: &mut InstanceRecord,
    event: Event,
    now: u64,
) {
    if let Some(parent) = &record.parent {
        let done = match &event {
            Event::Completed { output } => Event::SubWorkflowCompleted {
                seq: parent.seq,
                output: output.clone(),
            },
            other => Event::SubWorkflowFailed {
                seq: parent.seq,
                error: format!(
                    "sub-workflow `{}` (instance `{}`) {}",
                    record.workflow,
                    record.id,
                    match other {
                        Event::Terminated { reason } => format!("was terminated: {reason}"),
                        Event::Failed { error } => format!("failed: {error}"),
                        _ => "ended".to_owned(),
                    }
                ),
            },
        };
        match control(&parent.instance, Control::Append(done), 0) {
            Ok(message) => commit.turns.push(message),
            Err(err) => tracing::error!(instance = %record.id, "cannot tell the parent: {err}"),
        }
    }
    let _ = workflows;
    commit.append.push(HistoryEvent { at_ms: now, event });
    record.history_len = len_after(commit);
}

/// Fails the instance with `error`.
async fn fail(
    workflows: &Workflows,
    mut commit: Commit,
    mut record: InstanceRecord,
    error: String,
    now: u64,
    taken: &[StoredMessage],
) {
    record.status = RuntimeStatus::Failed;
    record.error = Some(error.clone());
    tracing::warn!(workflow = %record.workflow, instance = %record.id, "workflow instance failed: {error}");
    finish(
        workflows,
        &mut commit,
        &mut record,
        Event::Failed { error },
        now,
    );
    save(workflows, commit, record, taken, "failed").await;
}

/// Commits an instance's end, counted as `ended`.
async fn save(
    workflows: &Workflows,
    commit: Commit,
    record: InstanceRecord,
    taken: &[StoredMessage],
    ended: &'static str,
) {
    let (workflow, id) = (record.workflow.clone(), record.id.clone());
    if commit_turn(workflows, commit, record, taken).await {
        workflows.metrics.ended(&workflow, ended);
        tracing::info!(workflow = %workflow, instance = %id, "workflow instance {ended}");
    }
}

/// Writes `commit` with `record`; on a conflict or a failure the messages are delivered
/// again (the turn runs again). Returns whether it was written.
async fn commit_turn(
    workflows: &Workflows,
    mut commit: Commit,
    record: InstanceRecord,
    taken: &[StoredMessage],
) -> bool {
    let id = record.id.clone();
    commit.record = Some(record);
    match workflows.store.commit(commit).await {
        Ok(()) => true,
        Err(StoreError::Conflict) => {
            tracing::debug!(instance = %id, "the history changed during the turn; it runs again");
            put_back(workflows.store.turns(), taken, BUSY_RETRY_MS).await;
            false
        }
        Err(err) => {
            tracing::warn!(instance = %id, "cannot commit the turn; it runs again later: {err}");
            put_back(workflows.store.turns(), taken, 1_000).await;
            false
        }
    }
}

/// The workflow trigger in the invocation recipe: one turn of one instance.
struct Orchestrate {
    workflow: String,
    instance: String,
}

impl Trigger for Orchestrate {
    const NAME: &'static str = "workflow";

    fn log_failure(&self, who: &Who, outcome: Outcome, failure: &Failure) {
        tracing::error!(
            app = %who.app,
            trigger = Self::NAME,
            component = %who.component,
            request_id = %who.request_id,
            workflow = %self.workflow,
            instance = %self.instance,
            outcome = outcome.as_str(),
            "orchestrator failed: {}",
            failure.detail(),
        );
    }
}

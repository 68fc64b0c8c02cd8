//! One attempt of one activity call: a message of the activities queue
//! ([`ActivityWork`]), run on the component its `[[trigger.activity]]` names through the
//! invocation recipe, with the call's timeout (at most the component's), renewed in flight
//! while it runs.
//!
//! - `ok(output)`: the completion goes to the turns queue and the message is acknowledged, in
//!   one write ([`crate::capability::workflow::store::WorkflowStore::settle_activity`]): a
//!   completed activity never runs again;
//! - `err`, a trap or a timeout: the message goes back to the queue, due after the call's
//!   exponential backoff, until its last attempt; then the failure goes to the turns queue
//!   (the orchestrator's `await` gets it as `failed`);
//! - a crash of the host mid-attempt: the message is delivered again after its visibility
//!   timeout (or at the next start); the attempt runs again, with the same idempotency key,
//!   without using up the retry policy. After [`MAX_LOST_DELIVERIES`] such losses the call
//!   fails (an activity that crashes the host must not run for ever);
//! - an instance that has ended (terminated, purged) gets no more attempts: its messages are
//!   dropped when they come.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Semaphore;

use super::trace_headers;
use crate::app_version::AppVersion;
use crate::bindings::activity_component::exports::wasmhost::host::activity_handler::ActivityCall;
use crate::capability::backend::now_ms;
use crate::capability::queue::{Received, StoredMessage};
use crate::capability::workflow::history::{ActivityWork, Control, Event, decode, encode};
use crate::capability::workflow::{Workflows, control};
use crate::invocation::{Deadline, RequestId};
use crate::metrics::Outcome;
use crate::trace::TraceContext;
use crate::trigger::invoke::{self, Failure, Trigger, Who};
use crate::trigger::queue::{exponential, renew};

/// Deliveries of one call that may be lost to crashes of the host before the call fails: 3.
pub const MAX_LOST_DELIVERIES: u32 = 3;

/// An activity of the app, as its attempts need it: resolved once when the trigger starts.
pub struct Served {
    /// Index into the app's components.
    pub component: usize,
    /// Its `max_concurrency`.
    pub limit: Arc<Semaphore>,
}

/// Handles what the activities queue gave: one attempt per message.
pub async fn handle(
    version: &Arc<AppVersion>,
    workflows: &Workflows,
    activities: &HashMap<String, Served>,
    received: Received,
) {
    let queue = workflows.store.activities();
    for bad in received.undecodable {
        tracing::error!(queue = %queue.name, "undecodable activity message dropped: {}", bad.error);
        let _ = queue.backend.ack(std::slice::from_ref(&bad.entry)).await;
    }
    // The attempts of one batch run side by side, each renewed in flight from the start (its
    // activity's `max_concurrency` may keep it waiting).
    let attempts = received.messages.into_iter().map(|message| async move {
        let held = [message.clone()];
        tokio::select! {
            () = attempt(version, workflows, activities, message) => {}
            never = renew(queue, &held) => match never {},
        }
    });
    futures::future::join_all(attempts).await;
}

/// One attempt of the activity call `message` carries.
async fn attempt(
    version: &Arc<AppVersion>,
    workflows: &Workflows,
    activities: &HashMap<String, Served>,
    mut message: StoredMessage,
) {
    let store = &workflows.store;
    let queue = store.activities();
    let work: ActivityWork = match decode(&message.body) {
        Ok(work) => work,
        Err(err) => {
            tracing::error!(queue = %queue.name, "activity message dropped: {err}");
            let _ = queue.backend.ack(std::slice::from_ref(&message)).await;
            return;
        }
    };
    match store.record(&work.instance).await {
        Ok(Some(record)) if !record.status.is_ended() && record.first_seq <= work.seq => {}
        Ok(_) => {
            tracing::debug!(instance = %work.instance, activity = %work.name, "the instance has ended: its activity is dropped");
            let _ = queue.backend.ack(std::slice::from_ref(&message)).await;
            return;
        }
        Err(err) => {
            tracing::warn!(instance = %work.instance, "cannot read the instance; the activity runs later: {err}");
            return;
        }
    }
    // Every delivery, the lost ones included, is an attempt the activity sees; only real
    // failures use up the retry policy.
    let attempt = message.failures + 1;
    let lost = message.failures.saturating_sub(work.failed);
    let settle = async |event: Event| {
        let completion = match control(&work.instance, Control::Append(event), 0) {
            Ok(completion) => completion,
            Err(err) => return tracing::error!(instance = %work.instance, "{err}"),
        };
        if let Err(err) = store.settle_activity(&message, completion).await {
            tracing::warn!(
                instance = %work.instance,
                activity = %work.name,
                "cannot record the activity's end; it runs again after its visibility timeout: {err}"
            );
        }
    };
    if lost > MAX_LOST_DELIVERIES || work.failed >= work.max_attempts {
        let error = format!(
            "activity `{}` failed after {attempt} deliveries, {lost} of them lost: {}",
            work.name,
            message.last_error.clone().unwrap_or_default()
        );
        workflows.metrics.attempt(&work.name, "failed");
        return settle(Event::ActivityFailed {
            seq: work.seq,
            error,
        })
        .await;
    }
    let Some(served) = activities.get(&work.name) else {
        let error = format!(
            "no activity named `{}` in the app (no `[[trigger.activity]]` names it)",
            work.name
        );
        return settle(Event::ActivityFailed {
            seq: work.seq,
            error,
        })
        .await;
    };
    let component = &version.components[served.component];
    let Some(export) = &component.activity else {
        unreachable!(
            "AppVersion::load checks that every activity component exports activity-handler"
        )
    };
    let _permit = served.limit.clone().acquire_owned().await.ok();
    let key = work.idempotency_key();
    let parent = trace_headers(work.traceparent.as_deref());
    let (span, trace) = TraceContext::start(parent.as_ref(), || {
        tracing::info_span!(
            target: crate::trace::SPAN_TARGET,
            "invocation",
            otel.name = %format_args!("activity {}", work.name),
            otel.kind = "internal",
            otel.status_code = tracing::field::Empty,
            wasmhost.app = tracing::field::Empty,
            wasmhost.component = %component.id,
            wasmhost.trigger = "activity",
            wasmhost.workflow = %work.workflow,
            wasmhost.instance = %work.instance,
            wasmhost.activity = %work.name,
            wasmhost.attempt = attempt,
            wasmhost.request_id = %key,
            wasmhost.outcome = tracing::field::Empty,
        )
    });
    let invocation = component.invocation(RequestId::named(&key), trace);
    let who = Activity {
        name: work.name.clone(),
        instance: work.instance.clone(),
        attempt,
    };
    let mut started = invoke::start(version, component, export, invocation, span, who);
    if let Some(ms) = work.timeout_ms {
        let timeout = Duration::from_millis(ms).min(component.limits.timeout);
        started.deadline = Deadline::new(tokio::time::Instant::now(), timeout);
    }
    let call = ActivityCall {
        name: work.name.clone(),
        input: work.input.clone(),
        instance_id: work.instance.clone(),
        workflow: work.workflow.clone(),
        idempotency_key: key,
        attempt,
    };
    let run = started.run(move |instance, mut store| async move {
        instance
            .wasmhost_host_activity_handler()
            .call_run(&mut store, &call)
            .await
    });
    let result = run.await;
    match result {
        Ok(output) => {
            workflows.metrics.attempt(&work.name, "ok");
            settle(Event::ActivityCompleted {
                seq: work.seq,
                output,
            })
            .await;
        }
        Err(failure) if work.failed + 1 < work.max_attempts => {
            workflows.metrics.attempt(&work.name, "retried");
            let delay = exponential(
                Duration::from_millis(work.first_retry_ms),
                Duration::from_millis(work.max_retry_ms),
                work.failed + 1,
            );
            let mut work = work.clone();
            work.failed += 1;
            match encode(&work) {
                Ok(body) => message.body = body,
                Err(err) => return tracing::error!(instance = %work.instance, "{err}"),
            }
            message.failures = attempt;
            message.last_error = Some(failure.to_string());
            message.due_ms =
                now_ms().saturating_add(u64::try_from(delay.as_millis()).unwrap_or(u64::MAX));
            if let Err(err) = queue.backend.retry(&message).await {
                tracing::warn!(activity = %work.name, "cannot schedule the retry; the attempt runs again after its visibility timeout: {err}");
            }
        }
        Err(failure) => {
            workflows.metrics.attempt(&work.name, "failed");
            let failed = work.failed + 1;
            let error = format!(
                "activity `{}` failed after {failed} attempt{}: {failure}",
                work.name,
                if failed == 1 { "" } else { "s" }
            );
            settle(Event::ActivityFailed {
                seq: work.seq,
                error,
            })
            .await;
        }
    }
}

/// The activity side of the workflow trigger in the invocation recipe: one attempt.
struct Activity {
    name: String,
    instance: String,
    attempt: u32,
}

impl Trigger for Activity {
    const NAME: &'static str = "activity";

    fn log_failure(&self, who: &Who, outcome: Outcome, failure: &Failure) {
        tracing::warn!(
            app = %who.app,
            trigger = Self::NAME,
            component = %who.component,
            request_id = %who.request_id,
            activity = %self.name,
            instance = %self.instance,
            attempt = self.attempt,
            outcome = outcome.as_str(),
            "activity attempt failed: {}",
            failure.detail(),
        );
    }
}

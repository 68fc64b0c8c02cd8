//! Layer 6, the workflow trigger: runs durable workflows' turns and activities, each through
//! the one invocation recipe ([`crate::trigger::invoke`]), as consumers of the workflow
//! store's two queues ([`crate::trigger::queue::take`], the machinery of every queue
//! trigger: visibility timeouts, redelivery after a crash):
//! - [`turn`]: a message on the turns queue (a start, a completion, a timer, an event, a
//!   termination) leads to a turn of its instance: the orchestrator replayed from its history
//!   in a fresh instance, then one atomic commit of what it did;
//! - [`activity`]: a message on the activities queue is one attempt of one activity call, on
//!   the component its `[[trigger.activity]]` names, retried as the call's policy says.
//!
//! Every turn and activity is a span of the instance's trace, and its log lines carry the
//! instance id (the activity's, its idempotency key) as their request id.

pub mod activity;
pub mod turn;

use std::collections::HashMap;
use std::sync::Arc;

use http::{HeaderMap, HeaderValue};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use crate::app_version::AppVersion;
use crate::capability::queue::StoredMessage;
use crate::trigger::queue::take;

/// Turns-queue messages one turn takes at once, at most: 64 (the completions of a fan-out
/// are replayed in few turns).
pub const TURN_BATCH: u32 = 64;

/// Turn batches handled at once, at most: 4.
pub const TURN_CONCURRENCY: u32 = 4;

/// Activity messages one take gets at once, at most: 16 (their attempts run side by side).
pub const ACTIVITY_BATCH: u32 = 16;

/// Activity batches handled at once, at most: 8, so at most 128 attempts run at once in the
/// process (each activity has its own `max_concurrency` too).
pub const ACTIVITY_CONCURRENCY: u32 = 8;

/// Runs the turns and activities of `version`'s workflows until `stop` is cancelled. Until
/// then pending, even if the app has no workflows.
pub async fn run_all(version: Arc<AppVersion>, stop: CancellationToken) {
    let Some(workflows) = version.workflows.clone() else {
        stop.cancelled().await;
        return;
    };
    if version.app.workflow_triggers.is_empty() && version.app.activity_triggers.is_empty() {
        stop.cancelled().await;
        return;
    }
    tracing::info!(
        app = %version.app_name,
        trigger = "workflow",
        workflows = version.app.workflow_triggers.len(),
        activities = version.app.activity_triggers.len(),
        store = %workflows.store.description(),
        "workflow trigger started",
    );
    let activities: Arc<HashMap<String, activity::Served>> = Arc::new(
        version
            .app
            .activity_triggers
            .iter()
            .map(|t| {
                let served = activity::Served {
                    component: t.component,
                    limit: Arc::new(Semaphore::new(t.max_concurrency as usize)),
                };
                (t.name.clone(), served)
            })
            .collect(),
    );
    let turns = {
        let (version, workflows) = (version.clone(), workflows.clone());
        take(
            workflows.store.turns().clone(),
            TURN_BATCH,
            TURN_CONCURRENCY,
            version.tasks.clone(),
            stop.clone(),
            move |received, permit| {
                let (version, workflows) = (version.clone(), workflows.clone());
                async move {
                    turn::handle(&version, &workflows, received).await;
                    drop(permit);
                }
            },
        )
    };
    let activities = {
        let (version, workflows) = (version.clone(), workflows.clone());
        take(
            workflows.store.activities().clone(),
            ACTIVITY_BATCH,
            ACTIVITY_CONCURRENCY,
            version.tasks.clone(),
            stop.clone(),
            move |received, permit| {
                let (version, workflows, activities) =
                    (version.clone(), workflows.clone(), activities.clone());
                async move {
                    activity::handle(&version, &workflows, &activities, received).await;
                    drop(permit);
                }
            },
        )
    };
    futures::future::join(turns, activities).await;
    stop.cancelled().await;
}

/// The headers carrying `traceparent`, for [`crate::trace::TraceContext::start`].
fn trace_headers(traceparent: Option<&str>) -> Option<HeaderMap> {
    let value = HeaderValue::from_str(traceparent?).ok()?;
    let mut headers = HeaderMap::new();
    headers.insert(crate::capability::queue::TRACEPARENT_ATTRIBUTE, value);
    Some(headers)
}

/// Puts `messages` (taken, not handled) back in `queue`, due `delay_ms` from now, their
/// failures unchanged.
async fn put_back(
    queue: &crate::capability::queue::OpenQueue,
    messages: &[StoredMessage],
    delay_ms: u64,
) {
    let due = crate::capability::backend::now_ms().saturating_add(delay_ms);
    for message in messages {
        let mut message = message.clone();
        message.due_ms = due;
        if let Err(err) = queue.backend.retry(&message).await {
            tracing::warn!(queue = %queue.name, "cannot put a message back; it is delivered again after its visibility timeout: {err}");
        }
    }
    // The consumer may be asleep until its next poll: it is told the messages are due soon.
    queue.sent.notify_waiters();
}

//! Layer 6, the queue trigger: each `[[trigger.queue]]` hands the messages of its queue to its
//! component's `wasmhost:host/queue-handler.handle`, in batches of up to `batch_size`. A
//! `[[trigger.topic]]` is the same on its subscription's queue
//! ([`crate::capability::queue::topic`]); its deliveries name the topic.
//!
//! One tokio task per trigger takes due messages from the queue (they go in flight), and starts
//! a handler call for them on a task of its own, at most `max_concurrency` at once, through
//! the invocation recipe ([`crate::trigger::invoke`]): a fresh instance, as for an HTTP
//! request, with the same CPU deadline and grants. When the queue has
//! nothing due, the task sleeps until a send wakes it or the next delayed message is due (at
//! most 1 s).
//!
//! While a handler runs, its batch is renewed in flight every third of the queue's
//! visibility timeout. Before a call, an entry that does not decode, and a message whose
//! deliveries were lost (the host stopped, crashed or hung) until its retries ran out, go to
//! the dead-letter queue with `wasmhost-error`; the rest of the batch flows.
//!
//! Outcome of a call (the rules of `queue-types` and `queue-batch` in `wit/wasmhost.wit`):
//! - a message the handler marked (`queue-batch`, [`BatchMarks`]) follows its mark: `ack`
//!   acknowledges it, `retry` puts it back as a failure (after the delay it asked for, if any);
//! - otherwise, `ok`: the message is acknowledged;
//! - `err` or a trap (a timeout included): the message is put back, due after an exponential
//!   backoff with jitter (`retry_backoff_ms`, doubling, capped at `max_retry_backoff_ms`, plus
//!   up to as much again at random), unless it has failed `max_retries` + 1 times: then it is
//!   sent to the dead-letter queue (durably) with `wasmhost-error` and `wasmhost-attempts`
//!   attributes, and only then acknowledged.
//!
//! The consumer's span continues the producer's trace: its parent is the first message's
//! `traceparent` attribute. Counts: `wasmhost_invocations_total{trigger="queue"}` and the
//! `wasmhost_queue_*` metrics ([`crate::metrics`]).

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBuilder};
use http::{HeaderMap, HeaderValue};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;
use wasmtime_wasi::p2::bindings::clocks::wall_clock::Datetime;

use crate::app::QueueTrigger;
use crate::app_version::AppVersion;
use crate::bindings::wasmhost::host::queue_types::Delivery;
use crate::capability::backend::now_ms;
use crate::capability::queue::batch::{BatchMarks, Mark};
use crate::capability::queue::{OpenQueue, Received, StoredMessage, TRACEPARENT_ATTRIBUTE};
use crate::invocation::RequestId;
use crate::metrics::Outcome;
use crate::trace::TraceContext;
use crate::trigger::invoke::{self, Failure, Trigger, Who};

/// The longest an idle consumer sleeps before looking at its queue again: 1 s.
pub const IDLE_POLL: Duration = Duration::from_secs(1);

/// The shortest interval between two renewals of messages in flight: 100 ms.
const MIN_RENEWAL: Duration = Duration::from_millis(100);

/// The attribute a dead-lettered message gets with its last failure.
pub const ERROR_ATTRIBUTE: &str = "wasmhost-error";
/// The attribute a dead-lettered message gets with its number of attempts.
pub const ATTEMPTS_ATTRIBUTE: &str = "wasmhost-attempts";

/// Runs every queue trigger of `version`'s app until `stop` is cancelled (then returns once
/// no consumer is between taking messages and starting their handler, whose calls go on in
/// [`AppVersion::tasks`]). Until then pending, even if the app has no queue trigger.
pub async fn run_all(version: Arc<AppVersion>, stop: CancellationToken) {
    let consumers =
        (0..version.app.queue_triggers.len()).map(|i| consume(version.clone(), i, stop.clone()));
    futures::future::join_all(consumers).await;
    stop.cancelled().await;
}

/// The consumer of trigger `index`, until `stop`.
async fn consume(version: Arc<AppVersion>, index: usize, stop: CancellationToken) {
    let trigger = &version.app.queue_triggers[index];
    let queue = version.queues.get(&trigger.queue).clone();
    tracing::info!(
        app = %version.app_name,
        trigger = "queue",
        queue = %trigger.queue,
        component = %version.components[trigger.component].id,
        batch_size = trigger.batch_size,
        max_concurrency = trigger.max_concurrency,
        "queue consumer started",
    );
    let tasks = version.tasks.clone();
    let (batch_size, max_concurrency) = (trigger.batch_size, trigger.max_concurrency);
    take(
        queue,
        batch_size,
        max_concurrency,
        tasks,
        stop,
        move |received, permit| {
            let version = version.clone();
            async move { handle(&version, index, received, permit).await }
        },
    )
    .await;
}

/// Takes messages from `queue` until `stop`: batches of up to `batch_size` due messages, each
/// handed to `handle` (with a place in `max_concurrency`, which it holds until it is done) on
/// a task of `tasks`. When nothing is due, sleeps until a send wakes it or the next delayed
/// message is due (at most [`IDLE_POLL`]). Every consumer of a queue (queue and topic
/// triggers, the workflow trigger's turns and activities) takes its messages this way.
pub async fn take<F, H>(
    queue: Arc<OpenQueue>,
    batch_size: u32,
    max_concurrency: u32,
    tasks: tokio_util::task::TaskTracker,
    stop: CancellationToken,
    handle: F,
) where
    F: Fn(Received, OwnedSemaphorePermit) -> H,
    H: Future<Output = ()> + Send + 'static,
{
    let permits = Arc::new(Semaphore::new(max_concurrency as usize));
    loop {
        let permit = tokio::select! {
            permit = permits.clone().acquire_owned() => permit,
            () = stop.cancelled() => return,
        };
        let Ok(permit) = permit else {
            return;
        };
        if stop.is_cancelled() {
            return;
        }
        // Registered before looking, so a send between the look and the wait is not missed.
        let sent = queue.sent.notified();
        tokio::pin!(sent);
        sent.as_mut().enable();
        match queue.backend.receive(batch_size as usize).await {
            Ok(received) if !received.messages.is_empty() || !received.undecodable.is_empty() => {
                tasks.spawn(handle(received, permit));
            }
            Ok(_) => {
                drop(permit);
                let wait = match queue.backend.next_due_ms().await {
                    Ok(Some(due)) => Duration::from_millis(due.saturating_sub(now_ms())),
                    _ => IDLE_POLL,
                };
                tokio::select! {
                    () = &mut sent => {}
                    () = tokio::time::sleep(wait.min(IDLE_POLL)) => {}
                    () = stop.cancelled() => return,
                }
            }
            Err(err) => {
                drop(permit);
                tracing::warn!(queue = %queue.name, "cannot take messages: {err}; retrying in 1 s");
                tokio::time::sleep(IDLE_POLL).await;
            }
        }
    }
}

/// What trigger `index` took: its undecodable entries and the messages whose lost deliveries
/// used up their retries go to the dead-letter queue; the other messages go to one handler
/// call, renewed in flight while it runs, then to the acknowledgement, retries or
/// dead-lettering it leads to. `_permit` holds a place in `max_concurrency` until the end.
async fn handle(
    version: &AppVersion,
    index: usize,
    received: Received,
    _permit: OwnedSemaphorePermit,
) {
    let trigger = &version.app.queue_triggers[index];
    let queue = version.queues.get(&trigger.queue);
    let dead_letters = version.queues.get(&trigger.dead_letter);
    for bad in received.undecodable {
        let error = format!("undecodable message: {}", bad.error);
        dead_letter(trigger, queue, dead_letters, bad.entry, &error).await;
    }
    // A message whose handling crashed or hung the host until its retries ran out.
    let (batch, exhausted): (Vec<_>, Vec<_>) = received
        .messages
        .into_iter()
        .partition(|message| message.failures <= trigger.max_retries);
    for message in exhausted {
        let error = message.last_error.clone().unwrap_or_default();
        dead_letter(trigger, queue, dead_letters, message, &error).await;
    }
    if batch.is_empty() {
        return;
    }
    let component = &version.components[trigger.component];
    let Some(export) = &component.queue else {
        unreachable!("AppVersion::load checks that every queue component exports queue-handler")
    };
    let request_id = RequestId::generate();
    let parent = batch.first().and_then(traceparent_headers);
    let (span, trace) = TraceContext::start(parent.as_ref(), || {
        tracing::info_span!(
            target: crate::trace::SPAN_TARGET,
            "invocation",
            otel.name = %format_args!("{} process", trigger.queue),
            otel.kind = "consumer",
            otel.status_code = tracing::field::Empty,
            messaging.destination.name = %trigger.queue,
            messaging.batch.message_count = batch.len(),
            wasmhost.app = %version.app_name,
            wasmhost.component = %component.id,
            wasmhost.trigger = "queue",
            wasmhost.request_id = %request_id,
            wasmhost.outcome = tracing::field::Empty,
        )
    });
    let invocation = component.invocation(request_id.clone(), trace);
    let source = trigger.topic.as_deref().unwrap_or(&trigger.queue);
    let deliveries: Vec<Delivery> = batch.iter().map(|m| delivery(source, m)).collect();
    let now = now_ms();
    for message in &batch {
        let delay_ms = now.saturating_sub(message.due_ms);
        queue.metrics.delivery_delay.observe(delay_ms as f64 / 1e3);
    }
    let consumer = Queue {
        queue: trigger.queue.clone(),
        messages: batch.len(),
    };
    let marks = BatchMarks::new(batch.iter().map(|message| message.id).collect());
    let mut started = invoke::start(version, component, export, invocation, span, consumer);
    started.store.data_mut().set_batch(marks.clone());
    let call = started.run(move |instance, mut store| async move {
        instance
            .wasmhost_host_queue_handler()
            .call_handle(&mut store, &deliveries)
            .await
    });
    let result = tokio::select! {
        result = call => result,
        never = renew(queue, &batch) => match never {},
    };
    let failure = result.err().map(|failure| failure.to_string());
    let mut acks = Vec::with_capacity(batch.len());
    for (message, mark) in batch.into_iter().zip(marks.marks()) {
        match (mark, &failure) {
            (Some(Mark::Ack), _) | (None, None) => acks.push(message),
            (Some(Mark::Retry { delay }), _) => {
                fail(trigger, queue, dead_letters, message, RETRIED, delay).await;
            }
            (None, Some(failure)) => {
                fail(trigger, queue, dead_letters, message, failure, None).await;
            }
        }
    }
    if acks.is_empty() {
        return;
    }
    match queue.backend.ack(&acks).await {
        Ok(()) => {
            queue.metrics.acked.inc_by(acks.len() as u64);
        }
        Err(err) => tracing::warn!(
            queue = %trigger.queue,
            "cannot acknowledge {} messages; they will be delivered again: {err}",
            acks.len()
        ),
    }
}

/// The last error of a message its handler marked for another attempt (`queue-batch.retry`).
pub const RETRIED: &str = "retried by the handler";

/// The queue trigger in the invocation recipe: one handler call for `messages` messages of
/// `queue`.
struct Queue {
    queue: String,
    messages: usize,
}

impl Trigger for Queue {
    const NAME: &'static str = "queue";

    fn log_failure(&self, who: &Who, outcome: Outcome, failure: &Failure) {
        tracing::error!(
            app = %who.app,
            trigger = Self::NAME,
            queue = %self.queue,
            component = %who.component,
            request_id = %who.request_id,
            outcome = outcome.as_str(),
            messages = self.messages,
            "queue handler failed: {failure}",
        );
    }
}

/// Retries `message` after `delay` (`None`: its backoff), or dead-letters it after its last
/// attempt.
async fn fail(
    trigger: &QueueTrigger,
    queue: &OpenQueue,
    dead_letters: &OpenQueue,
    mut message: StoredMessage,
    failure: &str,
    delay: Option<Duration>,
) {
    message.failures += 1;
    message.last_error = Some(failure.to_owned());
    if message.failures <= trigger.max_retries {
        let delay = delay.unwrap_or_else(|| backoff(trigger, message.failures));
        message.due_ms = now_ms().saturating_add(duration_ms(delay));
        match queue.backend.retry(&message).await {
            Ok(()) => {
                queue.metrics.retried.inc();
            }
            Err(err) => tracing::warn!(
                queue = %trigger.queue,
                id = message.id,
                "cannot schedule the retry; the message is delivered again after its visibility timeout: {err}"
            ),
        }
        return;
    }
    dead_letter(trigger, queue, dead_letters, message, failure).await;
}

/// Renews `batch` in flight every third of `queue`'s visibility timeout, for as long as it is
/// polled: while its handler runs.
pub async fn renew(queue: &OpenQueue, batch: &[StoredMessage]) -> Infallible {
    let every = (queue.visibility / 3).max(MIN_RENEWAL);
    loop {
        tokio::time::sleep(every).await;
        if let Err(err) = queue.backend.renew(batch).await {
            tracing::warn!(
                queue = %queue.name,
                messages = batch.len(),
                "cannot renew messages in flight; another consumer may take them: {err}"
            );
        }
    }
}

/// Sends `message` of `trigger`'s queue to its dead-letter queue with `error` (and its
/// failures as attempts), then acknowledges it there.
async fn dead_letter(
    trigger: &QueueTrigger,
    queue: &OpenQueue,
    dead_letters: &OpenQueue,
    message: StoredMessage,
    error: &str,
) {
    let id = message.id;
    let mut dead = StoredMessage::new(
        message.body.clone(),
        message.content_type.clone(),
        message.attributes.clone(),
        0,
    );
    dead.first_enqueued_ms = message.first_enqueued_ms;
    dead.attributes
        .retain(|(name, _)| name != ERROR_ATTRIBUTE && name != ATTEMPTS_ATTRIBUTE);
    dead.attributes.extend([
        (ERROR_ATTRIBUTE.to_owned(), error.to_owned()),
        (ATTEMPTS_ATTRIBUTE.to_owned(), message.failures.to_string()),
    ]);
    dead.last_error = Some(error.to_owned());
    // Stored in the dead-letter queue first, acknowledged after: a crash in between leaves a
    // copy in both, never in neither.
    match dead_letters.send(vec![dead]).await {
        Ok(_) => match queue.backend.ack(std::slice::from_ref(&message)).await {
            Ok(()) => {
                queue.metrics.dead_lettered.inc();
                tracing::warn!(
                    queue = %trigger.queue,
                    dead_letter = %trigger.dead_letter,
                    id,
                    attempts = message.failures,
                    "message moved to the dead-letter queue: {error}"
                );
            }
            Err(err) => {
                tracing::warn!(queue = %trigger.queue, id, "dead-lettered, but not acknowledged: {err}")
            }
        },
        Err(err) => tracing::error!(
            queue = %trigger.queue,
            dead_letter = %trigger.dead_letter,
            id,
            "cannot dead-letter the message; it is delivered again after its visibility timeout: {err}"
        ),
    }
}

/// The delay before retry number `retry` (from 1): `retry_backoff` doubled per earlier retry,
/// capped at `max_retry_backoff`, plus a random jitter of up to as much again (backon).
pub fn backoff(trigger: &QueueTrigger, retry: u32) -> Duration {
    exponential(trigger.retry_backoff, trigger.max_retry_backoff, retry)
}

/// The delay before retry number `retry` (from 1): `first` doubled per earlier retry, capped
/// at `max`, plus a random jitter of up to as much again (backon).
pub fn exponential(first: Duration, max: Duration, retry: u32) -> Duration {
    ExponentialBuilder::default()
        .with_min_delay(first)
        .with_max_delay(max)
        .with_factor(2.0)
        .with_jitter()
        .without_max_times()
        .build()
        .nth(retry.saturating_sub(1) as usize)
        .unwrap_or(max)
}

fn duration_ms(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

/// The message's `traceparent` attribute as a header map, if it has one.
fn traceparent_headers(message: &StoredMessage) -> Option<HeaderMap> {
    let (_, value) = message
        .attributes
        .iter()
        .find(|(name, _)| name == TRACEPARENT_ATTRIBUTE)?;
    let mut headers = HeaderMap::new();
    headers.insert(
        crate::trace::TRACEPARENT,
        HeaderValue::from_str(value).ok()?,
    );
    Some(headers)
}

/// The WIT delivery of `message` from `queue` (for a topic subscription, the topic).
fn delivery(queue: &str, message: &StoredMessage) -> Delivery {
    Delivery {
        id: message.id.to_string(),
        queue: queue.to_owned(),
        body: message.body.clone(),
        content_type: message.content_type.clone(),
        attributes: message.attributes.clone(),
        attempt: message.failures + 1,
        first_enqueued: Datetime {
            seconds: message.first_enqueued_ms / 1000,
            nanoseconds: u32::try_from(message.first_enqueued_ms % 1000).unwrap_or(0) * 1_000_000,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_with_jitter_and_is_capped() {
        let trigger = QueueTrigger {
            queue: "q".into(),
            topic: None,
            component: 0,
            max_retries: 10,
            retry_backoff: Duration::from_millis(100),
            max_retry_backoff: Duration::from_millis(1000),
            batch_size: 1,
            max_concurrency: 1,
            dead_letter: "q-dead-letter".into(),
        };
        for (retry, base) in [(1, 100), (2, 200), (3, 400), (4, 800), (5, 1000), (9, 1000)] {
            let delay = backoff(&trigger, retry).as_millis();
            assert!(
                (base..2 * base).contains(&delay),
                "retry {retry}: {delay} ms, expected {base} to {}",
                2 * base
            );
        }
    }
}

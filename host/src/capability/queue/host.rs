//! Per guest call, for the queue capability: the per-instance [`QueueView`] implements the
//! generated `wasmhost:host/queue` host traits over the component's [`QueueGrants`];
//! [`add_to_linker`] adds them once at startup.
//!
//! `send` compares the queue name with the few granted ones (an ungranted name is
//! `access-denied`, whether or not such a queue exists), checks the message (`send-batch`:
//! at most [`MAX_BATCH_MESSAGES`] messages and [`MAX_BATCH_BYTES`] bytes), adds the
//! invocation's W3C `traceparent` attribute, stores it durably, and wakes the queue's
//! consumers. `publish` does the same for a topic, as a CloudEvent.

use std::sync::Arc;

use anyhow::Result;
use wasmtime::component::{HasData, Linker};

use super::backend::StoredMessage;
use super::queues::{OpenQueue, QueueGrants};
use super::topic;
use super::{
    MAX_BATCH_BYTES, MAX_BATCH_MESSAGES, TRACEPARENT_ATTRIBUTE, check_message, message_bytes,
};
use crate::bindings::wasmhost::host::{queue, queue_types};
use crate::capability::backend::BackendError;
use crate::invocation::RequestId;
use crate::trace::TraceContext;

/// The per-instance view the generated traits are implemented on.
pub struct QueueView<'a> {
    /// What the instance's component may send to.
    pub grants: &'a QueueGrants,
    /// The invocation's trace context, written into every message as `traceparent`.
    pub trace: &'a TraceContext,
    /// The invocation's request id, for log lines.
    pub request_id: &'a RequestId,
}

impl QueueView<'_> {
    /// Checks and converts one guest message, adding the `traceparent` attribute.
    fn message(&self, message: queue_types::Message) -> Result<StoredMessage, queue_types::Error> {
        let message = self.checked(message)?;
        Ok(StoredMessage::new(
            message.body,
            message.content_type,
            message.attributes,
            message.delay_ms.unwrap_or(0),
        ))
    }

    /// Checks one guest message for a topic and makes it a CloudEvent
    /// ([`topic::event_from_attributes`]) with the `traceparent` attribute; returns it and the
    /// event's id.
    fn event(
        &self,
        message: queue_types::Message,
    ) -> Result<(StoredMessage, String), queue_types::Error> {
        let message = self.checked(message)?;
        let (event, others) = topic::event_from_attributes(
            message.attributes,
            message.content_type.as_deref(),
            message.body,
            &self.grants.0.source,
        )
        .map_err(queue_types::Error::Invalid)?;
        let id = cloudevents::AttributesReader::id(&event).to_owned();
        Ok((
            topic::event_message(event, others, message.delay_ms.unwrap_or(0)),
            id,
        ))
    }

    /// Checks a guest message's limits and attribute names, and sets its `traceparent`.
    fn checked(
        &self,
        message: queue_types::Message,
    ) -> Result<queue_types::Message, queue_types::Error> {
        check_message(
            &message.body,
            message.content_type.as_deref(),
            &message.attributes,
        )
        .map_err(queue_types::Error::Invalid)?;
        let mut attributes: Vec<(String, String)> = message
            .attributes
            .into_iter()
            .filter(|(name, _)| name != TRACEPARENT_ATTRIBUTE)
            .collect();
        attributes.push((TRACEPARENT_ATTRIBUTE.to_owned(), self.trace.traceparent()));
        Ok(queue_types::Message {
            attributes,
            ..message
        })
    }

    fn queue(&self, name: &str) -> Result<&Arc<OpenQueue>, queue_types::Error> {
        let found = self
            .grants
            .0
            .queues
            .iter()
            .find(|queue| *queue.name == *name);
        found.ok_or_else(|| self.denied("queue", name, "queues"))
    }

    /// `access-denied` for the `kind` called `name`, logged with the manifest `key` that would
    /// grant it ([`crate::capability::log_denied`]).
    fn denied(&self, kind: &str, name: &str, key: &str) -> queue_types::Error {
        if let Some(component) = &self.grants.0.component {
            let request_id = self.request_id.as_str();
            crate::capability::log_denied(component, request_id, kind, name, key);
        }
        queue_types::Error::AccessDenied
    }
}

fn backend_error(queue: &str, err: BackendError) -> queue_types::Error {
    match err {
        BackendError::Invalid(message) => queue_types::Error::Invalid(message),
        BackendError::Unavailable(message) => {
            tracing::warn!(queue, "queue send failed: {message}");
            queue_types::Error::Unavailable(format!("queue `{queue}` is unavailable: {message}"))
        }
    }
}

/// The error of every queue call: `wasmhost:host/queue-types.error` for the guest, or a trap
/// for a broken host invariant (the generated `convert_error` tells them apart).
#[derive(Debug)]
pub enum QueueError {
    /// Told to the guest: `access-denied`, `invalid(..)` or `unavailable(..)`.
    Guest(queue_types::Error),
    /// A host-side fault: traps the instance.
    Trap(wasmtime::Error),
}

impl From<queue_types::Error> for QueueError {
    fn from(err: queue_types::Error) -> Self {
        Self::Guest(err)
    }
}

impl queue_types::Host for QueueView<'_> {
    fn convert_error(&mut self, err: QueueError) -> wasmtime::Result<queue_types::Error> {
        match err {
            QueueError::Guest(err) => Ok(err),
            QueueError::Trap(trap) => Err(trap),
        }
    }
}

impl queue::Host for QueueView<'_> {
    async fn send(
        &mut self,
        queue: String,
        message: queue_types::Message,
    ) -> Result<String, QueueError> {
        let mut ids = self.send_batch(queue, vec![message]).await?;
        ids.pop()
            .ok_or_else(|| QueueError::Trap(wasmtime::format_err!("the backend returned no id")))
    }

    async fn send_batch(
        &mut self,
        queue: String,
        messages: Vec<queue_types::Message>,
    ) -> Result<Vec<String>, QueueError> {
        let queue = self.queue(&queue)?.clone();
        if messages.len() > MAX_BATCH_MESSAGES {
            return Err(queue_types::Error::Invalid(format!(
                "{} messages in one batch; the limit is {MAX_BATCH_MESSAGES}",
                messages.len()
            ))
            .into());
        }
        let bytes: usize = messages
            .iter()
            .map(|m| message_bytes(&m.body, m.content_type.as_deref(), &m.attributes))
            .sum();
        if bytes > MAX_BATCH_BYTES {
            return Err(queue_types::Error::Invalid(format!(
                "the batch is {bytes} bytes; the limit is {MAX_BATCH_BYTES}"
            ))
            .into());
        }
        let messages = messages
            .into_iter()
            .map(|m| self.message(m))
            .collect::<Result<Vec<_>, _>>()?;
        match queue.send(messages).await {
            Ok(ids) => Ok(ids.iter().map(u64::to_string).collect()),
            Err(err) => Err(backend_error(&queue.name, err).into()),
        }
    }

    async fn publish(
        &mut self,
        topic: String,
        message: queue_types::Message,
    ) -> Result<String, QueueError> {
        let topic = self
            .grants
            .0
            .topics
            .iter()
            .find(|t| *t.name == *topic)
            .cloned()
            .ok_or_else(|| self.denied("topic", &topic, "topics"))?;
        let (message, id) = self.event(message)?;
        match topic.publish(message).await {
            Ok(()) => Ok(id),
            Err((queue, err)) => Err(backend_error(&queue, err).into()),
        }
    }
}

/// [`HasData`] marker for the queue imports.
struct HasQueue;

impl HasData for HasQueue {
    type Data<'a> = QueueView<'a>;
}

/// Adds the queue imports to `linker`; `view` borrows the instance's [`QueueView`].
///
/// # Errors
/// An import already defined in `linker`.
pub fn add_to_linker<T: Send + 'static>(
    linker: &mut Linker<T>,
    view: fn(&mut T) -> QueueView<'_>,
) -> Result<()> {
    queue_types::add_to_linker::<_, HasQueue>(linker, view)?;
    queue::add_to_linker::<_, HasQueue>(linker, view)?;
    Ok(())
}

//! Queues (`wasmhost:host/queue`): send messages to the queues the manifest grants
//! (`queues = [..]`), and consume them with [`crate::queue_component`].
//!
//! ```no_run
//! use wasmhost_sdk::queue::{self, Delivery, Message};
//! use wasmhost_sdk::queue_component;
//!
//! #[derive(serde::Deserialize)]
//! struct Click {
//!     code: String,
//! }
//!
//! fn click(code: &str) -> Result<String, queue::Error> {
//!     queue::send("clicks", Message::new(format!(r#"{{"code":"{code}"}}"#)))
//! }
//!
//! #[queue_component]
//! fn count(batch: Vec<Delivery>) -> Result<(), String> {
//!     for message in &batch {
//!         match message.json::<Click>() {
//!             Ok(click) => println!("click on {} (attempt {})", click.code, message.attempt),
//!             // A message that is not a click goes back, alone, then to the dead-letter queue.
//!             Err(err) => {
//!                 eprintln!("{err}");
//!                 message.retry().map_err(|e| e.to_string())?;
//!             }
//!         }
//!     }
//!     Ok(())
//! }
//! # fn main() {}
//! ```
//!
//! `send` returns once the message is durable. Delivery is at least once: a handler that
//! returns `Err` (or traps) sees the batch again after a backoff, then the messages go to the
//! trigger's dead-letter queue; make handlers idempotent with [`Delivery::id`].
//!
//! **A decision per message**, as in Workers' `MessageBatch`: [`Delivery::ack`] keeps a
//! message from being delivered again even if the handler then fails, and
//! [`Delivery::retry`] (or [`Delivery::retry_after`]) sends it back even if the handler
//! returns `Ok`. A message with no decision follows the handler's result. The decisions take
//! effect when the handler returns (`wasmhost:host/queue-batch` in `wit/wasmhost.wit`).

use std::fmt;
use std::time::{Duration, SystemTime};

use crate::cron::IntoRunResult;
use crate::queue_wit::wasmhost::host::queue_batch;
use crate::time::{millis, system_time};
use crate::wit::wasmhost::host::{queue as wit_queue, queue_types};

/// A message to send: a body, and optionally a content type, attributes and a delay.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Message {
    /// The payload (at most 1 MiB).
    pub body: Vec<u8>,
    /// Its media type.
    pub content_type: Option<String>,
    /// String attributes, delivered unchanged (at most 64).
    pub attributes: Vec<(String, String)>,
    /// Not delivered before this long after the send.
    pub delay: Option<Duration>,
}

impl Message {
    /// A message with `body`.
    pub fn new(body: impl Into<Vec<u8>>) -> Self {
        Self {
            body: body.into(),
            ..Self::default()
        }
    }

    /// Sets the content type.
    pub fn content_type(mut self, content_type: impl Into<String>) -> Self {
        self.content_type = Some(content_type.into());
        self
    }

    /// Adds an attribute.
    pub fn attribute(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.attributes.push((name.into(), value.into()));
        self
    }

    /// Delays delivery by `delay` (millisecond precision).
    pub fn delay(mut self, delay: Duration) -> Self {
        self.delay = Some(delay);
        self
    }
}

impl From<&str> for Message {
    fn from(body: &str) -> Self {
        Self::new(body)
    }
}

impl From<Vec<u8>> for Message {
    fn from(body: Vec<u8>) -> Self {
        Self::new(body)
    }
}

impl From<Message> for queue_types::Message {
    fn from(message: Message) -> Self {
        Self {
            body: message.body,
            content_type: message.content_type,
            attributes: message.attributes,
            delay_ms: message.delay.map(millis),
        }
    }
}

/// Why a send failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// The queue is not in the component's `queues = [..]` (or the topic not in `topics`).
    AccessDenied,
    /// The message cannot be sent as it is (too large, too many attributes, an empty name).
    Invalid(String),
    /// The backend failed; the message may not have been stored.
    Unavailable(String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::AccessDenied => f.write_str("access denied: the queue or topic is not granted"),
            Self::Invalid(message) => write!(f, "invalid message: {message}"),
            Self::Unavailable(message) => f.write_str(message),
        }
    }
}

impl std::error::Error for Error {}

impl From<queue_types::Error> for Error {
    fn from(err: queue_types::Error) -> Self {
        match err {
            queue_types::Error::AccessDenied => Self::AccessDenied,
            queue_types::Error::Invalid(message) => Self::Invalid(message),
            queue_types::Error::Unavailable(message) => Self::Unavailable(message),
        }
    }
}

/// Sends `message` to `queue`; returns its id once it is durable.
///
/// # Errors
/// [`Error::AccessDenied`] for a queue the manifest does not grant, [`Error::Invalid`] for a
/// message over the limits, [`Error::Unavailable`] if the backend failed.
pub fn send(queue: &str, message: impl Into<Message>) -> Result<String, Error> {
    Ok(wit_queue::send(queue, &message.into().into())?)
}

/// Sends `messages` to `queue`, in order, durable together; returns their ids.
///
/// # Errors
/// As [`send`]; on an error none is guaranteed to have been stored.
pub fn send_batch(queue: &str, messages: Vec<Message>) -> Result<Vec<String>, Error> {
    let messages: Vec<queue_types::Message> = messages.into_iter().map(Into::into).collect();
    Ok(wit_queue::send_batch(queue, &messages)?)
}

/// One message as a handler receives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// Unique within its queue, the same on every attempt.
    pub id: String,
    /// The queue it was sent to.
    pub queue: String,
    /// The payload.
    pub body: Vec<u8>,
    /// Its media type, if the sender gave one.
    pub content_type: Option<String>,
    /// Its attributes (the host adds `traceparent`).
    pub attributes: Vec<(String, String)>,
    /// 1 on the first delivery, one more on each retry.
    pub attempt: u32,
    /// When it was first sent.
    pub first_enqueued: SystemTime,
}

impl Delivery {
    /// The value of attribute `name`, if the message has it.
    pub fn attribute(&self, name: &str) -> Option<&str> {
        self.attributes
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// For a topic event, its CloudEvents context attribute or extension `name` (`id`,
    /// `source`, `type`, `time`, `subject`, ...): the attribute `ce-<name>`.
    pub fn event_attribute(&self, name: &str) -> Option<&str> {
        self.attributes
            .iter()
            .find(|(n, _)| n.strip_prefix("ce-") == Some(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body as UTF-8 text.
    ///
    /// # Errors
    /// [`Error::Invalid`] if it is not UTF-8, naming the message.
    pub fn text(&self) -> Result<&str, Error> {
        std::str::from_utf8(&self.body)
            .map_err(|err| Error::Invalid(format!("message {} is not UTF-8 text: {err}", self.id)))
    }

    /// The body parsed as JSON into `T`, by serde_json.
    ///
    /// # Errors
    /// [`Error::Invalid`] with serde_json's reason, naming the message.
    #[cfg(feature = "json")]
    pub fn json<T: serde::de::DeserializeOwned>(&self) -> Result<T, Error> {
        serde_json::from_slice(&self.body).map_err(|err| {
            Error::Invalid(format!(
                "message {} is not the JSON expected: {err}",
                self.id
            ))
        })
    }

    /// Acknowledges this message whatever the handler returns: it is not delivered again,
    /// even if the handler then returns `Err` or traps (`wasmhost:host/queue-batch.ack`).
    /// Takes effect when the handler returns; the last of `ack` and `retry` wins.
    ///
    /// # Errors
    /// [`Error::Invalid`] outside a queue handler, or for a delivery not of the batch being
    /// handled.
    pub fn ack(&self) -> Result<(), Error> {
        queue_batch::ack(&self.id).map_err(Error::Invalid)
    }

    /// Has this message delivered again, whatever the handler returns, after the trigger's
    /// backoff; the attempt counts as a failure towards `max_retries`, then the dead-letter
    /// queue (`wasmhost:host/queue-batch.retry`).
    ///
    /// # Errors
    /// As [`Delivery::ack`].
    pub fn retry(&self) -> Result<(), Error> {
        queue_batch::retry(&self.id, None).map_err(Error::Invalid)
    }

    /// As [`Delivery::retry`], due `delay` after the handler returns instead of the trigger's
    /// backoff (millisecond precision; at most 12 hours, longer is cut to it).
    ///
    /// # Errors
    /// As [`Delivery::ack`].
    pub fn retry_after(&self, delay: Duration) -> Result<(), Error> {
        queue_batch::retry(&self.id, Some(millis(delay))).map_err(Error::Invalid)
    }
}

impl From<queue_types::Delivery> for Delivery {
    fn from(d: queue_types::Delivery) -> Self {
        Self {
            id: d.id,
            queue: d.queue,
            body: d.body,
            content_type: d.content_type,
            attributes: d.attributes,
            attempt: d.attempt,
            first_enqueued: system_time(d.first_enqueued),
        }
    }
}

/// Calls `handler` with `batch`. Called by the code `#[queue_component]` generates.
pub fn run<R: IntoRunResult>(
    batch: Vec<queue_types::Delivery>,
    handler: impl FnOnce(Vec<Delivery>) -> R,
) -> Result<(), String> {
    handler(batch.into_iter().map(Delivery::from).collect()).into_run_result()
}

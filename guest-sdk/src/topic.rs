//! Topics (`wasmhost:host/queue.publish`): publish CloudEvents 1.0 events to the topics the
//! manifest grants (`topics = [..]`); every `[[trigger.topic]]` subscription gets each event
//! once, and consumes it with [`crate::queue_component`] like a queue message.
//!
//! ```no_run
//! use wasmhost_sdk::queue::Delivery;
//! use wasmhost_sdk::topic::{self, Event};
//! use wasmhost_sdk::queue_component;
//!
//! fn clicked(code: &str) -> Result<String, topic::Error> {
//!     topic::publish("links", Event::new("com.example.link.clicked", code).subject(code))
//! }
//!
//! #[queue_component]
//! fn audit(batch: Vec<Delivery>) -> Result<(), String> {
//!     for event in batch {
//!         println!("{:?} from {:?}", event.event_attribute("type"), event.event_attribute("source"));
//!     }
//!     Ok(())
//! }
//! # fn main() {}
//! ```
//!
//! Events travel in the CloudEvents binary content mode: a delivery's body is the event's
//! `data`, its content type the `datacontenttype`, and each context attribute is an attribute
//! `ce-<name>` ([`crate::queue::Delivery::event_attribute`]). The host sets `id` (a UUID v4),
//! `source` (`/<app>/<component>`), `time` and `specversion` unless the event has them.

use std::time::Duration;

pub use crate::queue::Error;
use crate::queue::Message;
use crate::wit::wasmhost::host::queue as wit_queue;

/// A CloudEvents 1.0 event to publish: a [`Message`] whose attributes are the event's `ce-*`
/// context attributes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event(Message);

impl Event {
    /// An event of type `ty` (such as `com.example.link.clicked`; required, not empty) with
    /// `data` (at most 1 MiB).
    pub fn new(ty: impl Into<String>, data: impl Into<Vec<u8>>) -> Self {
        Self(Message::new(data).attribute("ce-type", ty))
    }

    /// Sets `datacontenttype`.
    pub fn content_type(self, content_type: impl Into<String>) -> Self {
        Self(self.0.content_type(content_type))
    }

    /// Sets `subject`.
    pub fn subject(self, subject: impl Into<String>) -> Self {
        self.attribute("subject", subject)
    }

    /// Sets context attribute or extension `name`, without the `ce-` prefix: `dataschema`,
    /// `id`, `source`, or an extension (lowercase letters and digits).
    pub fn attribute(self, name: impl AsRef<str>, value: impl Into<String>) -> Self {
        Self(self.0.attribute(format!("ce-{}", name.as_ref()), value))
    }

    /// Delays delivery by `delay` (millisecond precision).
    pub fn delay(self, delay: Duration) -> Self {
        Self(self.0.delay(delay))
    }
}

/// Publishes `event` to `topic`; returns the event's `id` once every subscription of the topic
/// holds it durably.
///
/// # Errors
/// [`Error::AccessDenied`] for a topic the manifest does not grant, [`Error::Invalid`] for an
/// event over the limits or that the CloudEvents spec does not allow (the text says which
/// attribute), [`Error::Unavailable`] if a backend failed (the subscriptions before it keep
/// the event).
pub fn publish(topic: &str, event: Event) -> Result<String, Error> {
    Ok(wit_queue::publish(topic, &event.0.into())?)
}

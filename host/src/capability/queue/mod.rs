//! The queue capability: `wasmhost:host/queue` (send, and publish to a [`topic`]), over one
//! [`QueueBackend`] per queue: [`sled`] (embedded, the default) or [`redis`] (Redis Streams,
//! shared by several nodes), chosen per queue in the runtime config. The delivery rules are in
//! `wit/wasmhost.wit` (`queue-types`); the consumer side is the queue trigger.
//!
//! In the capability shape of [`crate::capability`]: [`backend`] is the backend trait,
//! [`queues`] the state opened and resolved at startup ([`Queues::open`], [`QueueGrants`]),
//! and [`host`] the per-instance [`QueueView`] and [`add_to_linker`]. [`batch`] is the
//! consumer's side: a queue handler's decision per message (`queue-batch`).

pub mod backend;
pub mod batch;
pub mod host;
pub mod queues;
pub mod redis;
pub mod sled;
pub mod topic;

pub use backend::{LOST_DELIVERY, QueueBackend, Received, StoredMessage, Undecodable};
pub use host::{QueueError, QueueView, add_to_linker};
pub use queues::{GrantedQueues, OpenQueue, QueueGrants, Queues};

/// The largest message, in bytes: its body, content type and attributes (names and values)
/// together: 1 MiB.
pub const MAX_MESSAGE_BYTES: usize = 1 << 20;

/// The size of a message as [`MAX_MESSAGE_BYTES`] counts it, in bytes: its `body`, its
/// `content_type` and its `attributes` (names and values).
pub fn message_bytes(
    body: &[u8],
    content_type: Option<&str>,
    attributes: &[(String, String)],
) -> usize {
    let attributes: usize = attributes
        .iter()
        .map(|(name, value)| name.len() + value.len())
        .sum();
    body.len() + content_type.map_or(0, str::len) + attributes
}
/// Checks one message against the limits every sender meets (a guest's `send`, the admin
/// endpoint, `wasmhost queue send`): at most [`MAX_MESSAGE_BYTES`] as [`message_bytes`]
/// counts them, at most [`MAX_ATTRIBUTES`] attributes, no empty attribute name.
///
/// # Errors
/// The first limit broken, said in words with its figures.
pub fn check_message(
    body: &[u8],
    content_type: Option<&str>,
    attributes: &[(String, String)],
) -> Result<(), String> {
    let size = message_bytes(body, content_type, attributes);
    if size > MAX_MESSAGE_BYTES {
        return Err(format!(
            "the message is {size} bytes (body {}, content type and attributes {}); the limit is {MAX_MESSAGE_BYTES}",
            body.len(),
            size - body.len()
        ));
    }
    if attributes.len() > MAX_ATTRIBUTES {
        return Err(format!(
            "{} attributes; the limit is {MAX_ATTRIBUTES}",
            attributes.len()
        ));
    }
    if attributes.iter().any(|(name, _)| name.is_empty()) {
        return Err("an attribute name is empty".to_owned());
    }
    Ok(())
}

/// The most messages one `send-batch` may send: 100.
pub const MAX_BATCH_MESSAGES: usize = 100;

/// The most bytes one `send-batch` may send, its messages counted as [`message_bytes`] does:
/// 4 MiB.
pub const MAX_BATCH_BYTES: usize = 4 << 20;

/// The most attributes a message may have: 64.
pub const MAX_ATTRIBUTES: usize = 64;
/// The attribute that carries the sender's W3C `traceparent`.
pub const TRACEPARENT_ATTRIBUTE: &str = "traceparent";

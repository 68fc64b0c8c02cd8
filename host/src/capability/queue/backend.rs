//! The queue backend trait every queue implements ([`sled`](super::sled) embedded, or
//! [`redis`](super::redis) Redis Streams shared by several nodes), and the message as a backend
//! stores it. Layer 4: sent to per guest call through [`super::host`], received from by the
//! queue trigger, opened at startup by [`super::queues`].

use serde::{Deserialize, Serialize};

use crate::capability::backend::{BackendError, now_ms};

/// A message as a backend stores it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct StoredMessage {
    /// Unique within its queue, given by the backend on `send` (0 before).
    pub id: u64,
    /// The payload.
    pub body: Vec<u8>,
    /// Its media type.
    pub content_type: Option<String>,
    /// Its attributes.
    pub attributes: Vec<(String, String)>,
    /// Deliveries that failed so far (0 until the first failure).
    pub failures: u32,
    /// When it was first sent, in ms since the Unix epoch.
    pub first_enqueued_ms: u64,
    /// Not to be delivered before this, in ms since the Unix epoch.
    pub due_ms: u64,
    /// The last failure's text, if any.
    pub last_error: Option<String>,
    /// The backend's handle on this delivery (the Redis stream entry id), set by `receive`;
    /// not stored.
    #[serde(skip)]
    pub receipt: String,
}

impl StoredMessage {
    /// A new message with `body`, `content_type` and `attributes`, due `delay_ms` from now.
    pub fn new(
        body: Vec<u8>,
        content_type: Option<String>,
        attributes: Vec<(String, String)>,
        delay_ms: u64,
    ) -> Self {
        let now = now_ms();
        Self {
            id: 0,
            body,
            content_type,
            attributes,
            failures: 0,
            first_enqueued_ms: now,
            due_ms: now.saturating_add(delay_ms),
            last_error: None,
            receipt: String::new(),
        }
    }
}

/// What one [`QueueBackend::receive`] took, now in flight with this consumer.
#[derive(Debug, Default)]
pub struct Received {
    /// The messages, oldest first. A message whose previous delivery was lost (its consumer
    /// stopped, crashed or hung past the visibility timeout) counts that delivery in
    /// `failures`, with [`LOST_DELIVERY`] as its `last_error` unless it has a later one.
    pub messages: Vec<StoredMessage>,
    /// The entries that do not decode as a message (written by another program, or corrupted):
    /// for the dead-letter queue, so they block nothing.
    pub undecodable: Vec<Undecodable>,
}

/// A stored entry that does not decode as a [`StoredMessage`].
#[derive(Debug)]
pub struct Undecodable {
    /// Its raw bytes as `body`, with the `id` and `receipt` that acknowledge it (nothing else
    /// is known).
    pub entry: StoredMessage,
    /// Why it does not decode.
    pub error: String,
}

/// The `last_error` of a message whose delivery ended without an outcome: its consumer
/// stopped, crashed or hung past the visibility timeout.
pub const LOST_DELIVERY: &str = "the delivery ended without an outcome: the host stopped, crashed or hung past the visibility timeout";

/// A queue's backend. Every operation is atomic; `send` is durable when it returns.
///
/// A message taken by `receive` is in flight with this consumer until `ack` or `retry`, or
/// until the visibility timeout passes without `renew`: it is then due again, with one more
/// failure (so a message whose handling crashes the host reaches the dead-letter queue after
/// `max_retries`). An `ack`, `retry` or `renew` of a message another consumer has taken since
/// does nothing.
#[async_trait::async_trait]
pub trait QueueBackend: Send + Sync + 'static {
    /// Stores `messages` in order, durable together; returns their new ids.
    async fn send(&self, messages: Vec<StoredMessage>) -> Result<Vec<u64>, BackendError>;
    /// Takes up to `max` due entries, oldest first, and holds them in flight for the
    /// visibility timeout.
    async fn receive(&self, max: usize) -> Result<Received, BackendError>;
    /// Holds `messages` (as `receive` returned them) in flight for another visibility timeout,
    /// from now; those another consumer took meanwhile are left alone.
    async fn renew(&self, messages: &[StoredMessage]) -> Result<(), BackendError>;
    /// Forgets in-flight messages (as `receive` returned them) for good: handled, or
    /// dead-lettered.
    async fn ack(&self, messages: &[StoredMessage]) -> Result<(), BackendError>;
    /// Puts an in-flight message back in the queue as `message` says (its new `due_ms`,
    /// `failures` and `last_error`).
    async fn retry(&self, message: &StoredMessage) -> Result<(), BackendError>;
    /// When the first pending message is due (ms since the Unix epoch), if there is one.
    async fn next_due_ms(&self) -> Result<Option<u64>, BackendError>;
    /// Up to `max` pending messages, in queue order, without taking them (entries that do not
    /// decode are left out).
    async fn peek(&self, max: usize) -> Result<Vec<StoredMessage>, BackendError>;
    /// Pending and in-flight counts (for metrics, on every scrape: no scan).
    async fn depth(&self) -> Result<(u64, u64), BackendError>;
    /// Checks that the backend answers.
    async fn ping(&self) -> Result<(), BackendError>;
    /// Why a message acknowledged to its sender could still be lost with the backend's server
    /// (Redis without an append-only file), if it could; `None` for a backend that persists
    /// every write itself (sled).
    async fn durability_warning(&self) -> Result<Option<String>, BackendError> {
        Ok(None)
    }
}

/// Generators for the property tests of the backends' stored-message decoders.
#[cfg(test)]
pub(super) mod strategy {
    use proptest::prelude::*;

    use super::StoredMessage;

    /// Any message as a backend stores it: fields of any value, some of them empty, some
    /// text not ASCII (the receipt stays empty: it is not stored).
    pub fn stored_message() -> impl Strategy<Value = StoredMessage> {
        let text = || prop_oneof!["\\PC{0,12}", Just(String::new())];
        (
            any::<u64>(),
            proptest::collection::vec(any::<u8>(), 0..64),
            proptest::option::of(text()),
            proptest::collection::vec((text(), text()), 0..4),
            any::<u32>(),
            (any::<u64>(), any::<u64>()),
            proptest::option::of(text()),
        )
            .prop_map(
                |(id, body, content_type, attributes, failures, (first, due), last_error)| {
                    StoredMessage {
                        id,
                        body,
                        content_type,
                        attributes,
                        failures,
                        first_enqueued_ms: first,
                        due_ms: due,
                        last_error,
                        receipt: String::new(),
                    }
                },
            )
    }

    /// Bytes a backend may find where a message should be: arbitrary ones, or a message as
    /// `encode` writes it, then cut short, with a byte changed, with a length of 2^64 - 1
    /// put in, with bytes added at the end, or intact.
    pub fn stored_bytes(encode: fn(&StoredMessage) -> Vec<u8>) -> impl Strategy<Value = Vec<u8>> {
        /// Postcard's varint for `u64::MAX`: a length or count no input can hold.
        const HUGE: [u8; 10] = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01];
        let at = any::<proptest::sample::Index>();
        let damaged = (stored_message(), 0..5_u8, at, any::<u8>()).prop_map(
            move |(message, damage, at, byte)| {
                let mut bytes = encode(&message);
                let i = at.index(bytes.len() + 1);
                match damage {
                    0 => bytes.truncate(i),
                    1 if i < bytes.len() => bytes[i] = byte,
                    2 => {
                        let tail = bytes.split_off(i);
                        bytes.extend(HUGE.into_iter().chain(tail));
                    }
                    3 => bytes.extend([byte; 3]),
                    _ => {}
                }
                bytes
            },
        );
        prop_oneof![1 => proptest::collection::vec(any::<u8>(), 0..64), 3 => damaged]
    }
}

//! The embedded queue backend: a sled database (`.wasmhost/queues` next to the manifest), two
//! trees per queue.
//!
//! - `queue:<name>:pending`: key = due time (ms since the Unix epoch, big-endian) then id
//!   (big-endian), so a scan from the start meets the due messages in FIFO order and stops at
//!   the first one not due yet;
//! - `queue:<name>:in-flight`: key = id; value = when the message is visible again (ms since
//!   the Unix epoch, big-endian), the delivery's token (big-endian; the message's `receipt`),
//!   then the message as it goes back to pending if the delivery is lost: with one more
//!   failure and [`LOST_DELIVERY`] as its last error (an entry that did not decode keeps its
//!   bytes).
//!
//! `send` flushes (fsync) before it returns, so a message a guest was told is sent survives
//! `kill -9`; so does `receive`, so a delivery is counted before it starts. Renewing,
//! acknowledging and retrying are sled transactions over both trees and are not flushed one by
//! one (sled flushes every 500 ms): a crash can undo the last of them, which only ever
//! delivers a message again, never loses one. A message in flight past
//! its visibility timeout, or when the process stopped (opening the queue recovers them), goes
//! back to pending, due at once, with its lost delivery counted: a message whose handling
//! crashes the host ends in the dead-letter queue after `max_retries`. An ack, retry or renewal
//! whose token is no longer the in-flight one (a later delivery holds the message) does
//! nothing.
//!
//! The pending and in-flight counts are kept in counters (one scan when the queue opens), so
//! a metrics scrape reads two atomics.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::Result;
use sled::transaction::{
    ConflictableTransactionError, TransactionError, Transactional, TransactionalTree,
};
use sled::{IVec, Tree};

use super::backend::{LOST_DELIVERY, Received, Undecodable};
use super::{QueueBackend, StoredMessage};
use crate::capability::backend::{BackendError, now_ms};

/// A message made ready for [`SledQueue::stage_send`]: its pending key and encoded value.
pub struct Staged {
    key: [u8; 16],
    value: Vec<u8>,
}

/// One queue: its two trees in a sled database, and their counts.
pub struct SledQueue {
    db: sled::Db,
    pending: Tree,
    in_flight: Tree,
    visibility_ms: u64,
    pending_count: AtomicU64,
    in_flight_count: AtomicU64,
    /// Whether `receive` flushes before it returns (see [`SledQueue::without_durable_receive`]).
    durable_receive: bool,
}

fn pending_key(due_ms: u64, id: u64) -> [u8; 16] {
    let mut key = [0; 16];
    key[..8].copy_from_slice(&due_ms.to_be_bytes());
    key[8..].copy_from_slice(&id.to_be_bytes());
    key
}

/// The big-endian `u64` at `at` in `bytes`; 0 where `bytes` is too short.
fn u64_at(bytes: &[u8], at: usize) -> u64 {
    bytes
        .get(at..at + 8)
        .and_then(|b| b.try_into().ok())
        .map_or(0, u64::from_be_bytes)
}

/// The id in a pending key.
fn pending_id(key: &[u8]) -> u64 {
    u64_at(key, 8)
}

/// An in-flight value: visible again at `visible_at_ms`, delivery `token`, then `payload`.
fn in_flight_value(visible_at_ms: u64, token: u64, payload: &[u8]) -> Vec<u8> {
    let mut value = Vec::with_capacity(16 + payload.len());
    value.extend_from_slice(&visible_at_ms.to_be_bytes());
    value.extend_from_slice(&token.to_be_bytes());
    value.extend_from_slice(payload);
    value
}

/// The delivery token of an in-flight value.
fn token(value: &[u8]) -> u64 {
    u64_at(value, 8)
}

/// What goes back to pending from an in-flight value.
fn payload(value: &[u8]) -> &[u8] {
    value.get(16..).unwrap_or_default()
}

fn unavailable(err: impl std::fmt::Display) -> BackendError {
    BackendError::Unavailable(format!("sled: {err}"))
}

fn encode(message: &StoredMessage) -> Result<Vec<u8>, BackendError> {
    postcard::to_stdvec(message).map_err(unavailable)
}

/// The message stored as `bytes`.
///
/// # Errors
/// Bytes that are not a postcard-encoded [`StoredMessage`]: the error says why; never a panic.
pub fn decode(bytes: &[u8]) -> Result<StoredMessage, BackendError> {
    postcard::from_bytes(bytes).map_err(|err| unavailable(format!("corrupt message: {err}")))
}

fn transaction_error(err: TransactionError<BackendError>) -> BackendError {
    match err {
        TransactionError::Abort(err) => err,
        TransactionError::Storage(err) => unavailable(err),
    }
}

type Abortable<T> = Result<T, ConflictableTransactionError<BackendError>>;

impl SledQueue {
    /// Queue `name` of `db`, its trees created if needed; a message in flight longer than
    /// `visibility` without a renewal is delivered again. Every message a stopped run left in
    /// flight goes back to pending, due at once, its lost delivery counted.
    ///
    /// # Errors
    /// sled cannot open the trees, or fails the move (I/O, corruption).
    pub fn open(db: &sled::Db, name: &str, visibility: Duration) -> Result<Self> {
        let queue = Self {
            db: db.clone(),
            pending: db.open_tree(format!("queue:{name}:pending"))?,
            in_flight: db.open_tree(format!("queue:{name}:in-flight"))?,
            visibility_ms: u64::try_from(visibility.as_millis()).unwrap_or(u64::MAX),
            pending_count: AtomicU64::new(0),
            in_flight_count: AtomicU64::new(0),
            durable_receive: true,
        };
        queue
            .pending_count
            .store(queue.pending.len() as u64, Ordering::Relaxed);
        queue
            .in_flight_count
            .store(queue.in_flight.len() as u64, Ordering::Relaxed);
        let recovered = queue.requeue(u64::MAX)?;
        if recovered > 0 {
            queue.db.flush()?;
            tracing::warn!(
                queue = name,
                recovered,
                "messages in flight when the last run stopped go back to the queue, their delivery counted as failed"
            );
        }
        Ok(queue)
    }

    /// Moves every in-flight message visible again at `now_ms` back to pending, due at once;
    /// returns how many.
    fn requeue(&self, now_ms: u64) -> Result<usize, BackendError> {
        let mut moved = 0;
        for entry in self.in_flight.iter() {
            let (key, value) = entry.map_err(unavailable)?;
            if u64_at(&value, 0) > now_ms {
                continue;
            }
            let id = u64_at(&key, 0);
            let requeued = (&self.pending, &self.in_flight)
                .transaction(|(pending, in_flight)| {
                    // Acknowledged, retried or renewed since the scan: not lost.
                    if in_flight.get(&key)?.as_ref() != Some(&value) {
                        return Ok(false);
                    }
                    in_flight.remove(&key)?;
                    pending.insert(&pending_key(0, id)[..], payload(&value))?;
                    Abortable::Ok(true)
                })
                .map_err(transaction_error)?;
            if requeued {
                moved += 1;
                self.pending_count.fetch_add(1, Ordering::Relaxed);
                decrement(&self.in_flight_count);
            }
        }
        Ok(moved)
    }

    /// Runs `change` on the in-flight value of `message`, if `message`'s delivery still holds
    /// it (the token of its `receipt`); returns whether it did.
    fn with_held(
        &self,
        message: &StoredMessage,
        change: impl Fn(&TransactionalTree, &TransactionalTree, &IVec) -> Abortable<()>,
    ) -> Result<bool, BackendError> {
        let Ok(held) = message.receipt.parse::<u64>() else {
            return Ok(false);
        };
        let key = message.id.to_be_bytes();
        (&self.pending, &self.in_flight)
            .transaction(|(pending, in_flight)| match in_flight.get(key)? {
                Some(value) if token(&value) == held => {
                    change(pending, in_flight, &value)?;
                    Ok(true)
                }
                _ => Ok(false),
            })
            .map_err(transaction_error)
    }

    /// This queue, with `receive` not flushing: a delivery is not counted durably before it
    /// starts, so a crash may deliver the message again with its failures as they were. For
    /// a queue whose failures count for nothing (the workflow turns queue: a turn is replayed
    /// from its history, however often it runs), this saves a sync per take.
    #[must_use]
    pub fn without_durable_receive(mut self) -> Self {
        self.durable_receive = false;
        self
    }

    /// The queue's pending and in-flight trees, for a transaction that spans other trees of
    /// its database too (the workflow store's commits): [`SledQueue::stage_send`] and
    /// [`SledQueue::stage_ack`] write into them, and [`SledQueue::staged`] counts what such a
    /// transaction did once it committed.
    pub fn trees(&self) -> (&Tree, &Tree) {
        (&self.pending, &self.in_flight)
    }

    /// Gives `message` a new id and returns its pending key and value, for
    /// [`SledQueue::stage_send`].
    ///
    /// # Errors
    /// sled cannot generate an id.
    pub fn prepare(&self, message: &mut StoredMessage) -> Result<Staged, BackendError> {
        message.id = self.db.generate_id().map_err(unavailable)?;
        Ok(Staged {
            key: pending_key(message.due_ms, message.id),
            value: encode(message)?,
        })
    }

    /// Inserts a [`SledQueue::prepare`]d message into `pending` (this queue's pending tree in
    /// a transaction).
    ///
    /// # Errors
    /// The transaction's.
    pub fn stage_send<E>(
        pending: &TransactionalTree,
        staged: &Staged,
    ) -> Result<(), ConflictableTransactionError<E>> {
        pending.insert(&staged.key[..], &staged.value[..])?;
        Ok(())
    }

    /// Acknowledges `message` (as `receive` returned it) in `in_flight` (this queue's
    /// in-flight tree in a transaction) if its delivery still holds it; returns whether it did.
    ///
    /// # Errors
    /// The transaction's.
    pub fn stage_ack<E>(
        in_flight: &TransactionalTree,
        message: &StoredMessage,
    ) -> Result<bool, ConflictableTransactionError<E>> {
        let Ok(held) = message.receipt.parse::<u64>() else {
            return Ok(false);
        };
        let key = message.id.to_be_bytes();
        match in_flight.get(key)? {
            Some(value) if token(&value) == held => {
                in_flight.remove(&key[..])?;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    /// Counts what a committed transaction staged: `sent` messages more pending, `acked` fewer
    /// in flight.
    pub fn staged(&self, sent: usize, acked: usize) {
        self.pending_count.fetch_add(sent as u64, Ordering::Relaxed);
        for _ in 0..acked {
            decrement(&self.in_flight_count);
        }
    }

    /// Removes the pending messages `matches` selects (by their decoded value); returns how
    /// many. Not one transaction: a message taken meanwhile is left to its consumer.
    ///
    /// # Errors
    /// sled fails (I/O, corruption).
    pub fn remove_pending(
        &self,
        matches: impl Fn(&StoredMessage) -> bool,
    ) -> Result<usize, BackendError> {
        let mut removed = 0;
        for entry in self.pending.iter() {
            let (key, value) = entry.map_err(unavailable)?;
            if decode(&value).is_ok_and(|message| matches(&message))
                && self.pending.remove(&key).map_err(unavailable)?.is_some()
            {
                removed += 1;
                decrement(&self.pending_count);
            }
        }
        Ok(removed)
    }

    /// Makes every write so far durable, on tokio's blocking pool.
    pub async fn flush(&self) -> Result<(), BackendError> {
        let db = self.db.clone();
        match tokio::task::spawn_blocking(move || db.flush()).await {
            Ok(flushed) => flushed.map(drop).map_err(unavailable),
            Err(err) => Err(unavailable(err)),
        }
    }
}

/// Subtracts 1 from `count`, stopping at 0.
fn decrement(count: &AtomicU64) {
    let _ = count.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
        Some(n.saturating_sub(1))
    });
}

#[async_trait::async_trait]
impl QueueBackend for SledQueue {
    async fn send(&self, mut messages: Vec<StoredMessage>) -> Result<Vec<u64>, BackendError> {
        let mut ids = Vec::with_capacity(messages.len());
        let mut batch = sled::Batch::default();
        for message in &mut messages {
            message.id = self.db.generate_id().map_err(unavailable)?;
            batch.insert(
                &pending_key(message.due_ms, message.id)[..],
                encode(message)?,
            );
            ids.push(message.id);
        }
        self.pending.apply_batch(batch).map_err(unavailable)?;
        self.pending_count
            .fetch_add(ids.len() as u64, Ordering::Relaxed);
        self.flush().await?;
        Ok(ids)
    }

    async fn receive(&self, max: usize) -> Result<Received, BackendError> {
        let now = now_ms();
        self.requeue(now)?;
        let visible_at = now.saturating_add(self.visibility_ms);
        let due = pending_key(now, u64::MAX);
        let mut received = Received::default();
        for entry in self.pending.range(..=&due[..]) {
            if received.messages.len() + received.undecodable.len() >= max {
                break;
            }
            let (key, value) = entry.map_err(unavailable)?;
            let id = pending_id(&key);
            let token = self.db.generate_id().map_err(unavailable)?;
            let receipt = token.to_string();
            let (held, taken) = match decode(&value) {
                Ok(mut message) => {
                    let mut lost = message.clone();
                    lost.failures = lost.failures.saturating_add(1);
                    lost.last_error = Some(LOST_DELIVERY.to_owned());
                    message.receipt = receipt;
                    (
                        in_flight_value(visible_at, token, &encode(&lost)?),
                        Ok(message),
                    )
                }
                Err(err) => {
                    let mut entry = StoredMessage::new(value.to_vec(), None, Vec::new(), 0);
                    entry.id = id;
                    entry.receipt = receipt;
                    let error = err.to_string();
                    (
                        in_flight_value(visible_at, token, &value),
                        Err(Undecodable { entry, error }),
                    )
                }
            };
            let moved = (&self.pending, &self.in_flight)
                .transaction(|(pending, in_flight)| {
                    if pending.remove(&key)?.is_none() {
                        // Another consumer of this queue took it first.
                        return Ok(false);
                    }
                    in_flight.insert(&id.to_be_bytes()[..], &held[..])?;
                    Abortable::Ok(true)
                })
                .map_err(transaction_error)?;
            if !moved {
                continue;
            }
            decrement(&self.pending_count);
            self.in_flight_count.fetch_add(1, Ordering::Relaxed);
            match taken {
                Ok(message) => received.messages.push(message),
                Err(undecodable) => received.undecodable.push(undecodable),
            }
        }
        if self.durable_receive
            && (!received.messages.is_empty() || !received.undecodable.is_empty())
        {
            // The delivery is counted durably before it starts, so a handler that crashes the
            // host cannot come back forever.
            self.flush().await?;
        }
        Ok(received)
    }

    async fn renew(&self, messages: &[StoredMessage]) -> Result<(), BackendError> {
        let visible_at = now_ms().saturating_add(self.visibility_ms);
        for message in messages {
            self.with_held(message, |_, in_flight, value| {
                let mut renewed = value.to_vec();
                renewed[..8].copy_from_slice(&visible_at.to_be_bytes());
                in_flight.insert(&message.id.to_be_bytes()[..], renewed)?;
                Ok(())
            })?;
        }
        Ok(())
    }

    async fn ack(&self, messages: &[StoredMessage]) -> Result<(), BackendError> {
        for message in messages {
            let removed = self.with_held(message, |_, in_flight, _| {
                in_flight.remove(&message.id.to_be_bytes()[..])?;
                Ok(())
            })?;
            if removed {
                decrement(&self.in_flight_count);
            }
        }
        Ok(())
    }

    async fn retry(&self, message: &StoredMessage) -> Result<(), BackendError> {
        let value = encode(message)?;
        let retried = self.with_held(message, |pending, in_flight, _| {
            in_flight.remove(&message.id.to_be_bytes()[..])?;
            pending.insert(&pending_key(message.due_ms, message.id)[..], &value[..])?;
            Ok(())
        })?;
        if retried {
            decrement(&self.in_flight_count);
            self.pending_count.fetch_add(1, Ordering::Relaxed);
        }
        Ok(())
    }

    async fn next_due_ms(&self) -> Result<Option<u64>, BackendError> {
        let first = self.pending.first().map_err(unavailable)?;
        // An in-flight message past its visibility timeout is not counted here: the consumer
        // looks at least every second in any case.
        Ok(first.map(|(key, _)| u64_at(&key, 0)))
    }

    async fn peek(&self, max: usize) -> Result<Vec<StoredMessage>, BackendError> {
        let mut messages = Vec::new();
        for entry in self.pending.iter() {
            if messages.len() >= max {
                break;
            }
            let (_, value) = entry.map_err(unavailable)?;
            if let Ok(message) = decode(&value) {
                messages.push(message);
            }
        }
        Ok(messages)
    }

    async fn depth(&self) -> Result<(u64, u64), BackendError> {
        Ok((
            self.pending_count.load(Ordering::Relaxed),
            self.in_flight_count.load(Ordering::Relaxed),
        ))
    }

    async fn ping(&self) -> Result<(), BackendError> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(body: &str, delay_ms: u64) -> StoredMessage {
        StoredMessage::new(body.into(), None, Vec::new(), delay_ms)
    }

    fn bodies(messages: &[StoredMessage]) -> Vec<String> {
        messages
            .iter()
            .map(|m| String::from_utf8_lossy(&m.body).into_owned())
            .collect()
    }

    fn open(db: &sled::Db, visibility_ms: u64) -> SledQueue {
        SledQueue::open(db, "q", Duration::from_millis(visibility_ms)).unwrap()
    }

    /// Send order, delays, retries, acks, and a restart that delivers in-flight messages again
    /// with their lost delivery counted.
    #[tokio::test]
    async fn fifo_delay_retry_ack_and_recovery() {
        let dir = tempfile::tempdir().unwrap();
        let db = ::sled::open(dir.path()).unwrap();
        let queue = open(&db, 60_000);
        let ids = queue
            .send(vec![
                message("a", 0),
                message("later", 60_000),
                message("b", 0),
            ])
            .await
            .unwrap();
        assert!(ids[0] < ids[1] && ids[1] < ids[2]);

        // Due messages come in send order; the delayed one stays.
        let taken = queue.receive(10).await.unwrap().messages;
        assert_eq!(bodies(&taken), ["a", "b"]);
        assert_eq!(queue.depth().await.unwrap(), (1, 2));
        assert!(queue.receive(10).await.unwrap().messages.is_empty());

        // A retry due now comes back with its failure count; an ack is gone for good.
        let mut retried = taken[0].clone();
        retried.failures = 1;
        retried.due_ms = now_ms();
        queue.retry(&retried).await.unwrap();
        queue.ack(&taken[1..]).await.unwrap();
        let again = queue.receive(10).await.unwrap().messages;
        assert_eq!(bodies(&again), ["a"]);
        assert_eq!(again[0].failures, 1);
        assert_eq!(queue.depth().await.unwrap(), (1, 1));

        // Reopening (a restart) puts the in-flight message back, its lost delivery counted.
        drop(queue);
        let queue = open(&db, 60_000);
        assert_eq!(queue.depth().await.unwrap(), (2, 0));
        let recovered = queue.receive(10).await.unwrap().messages;
        assert_eq!(bodies(&recovered), ["a"]);
        assert_eq!(recovered[0].failures, 2);
        assert_eq!(recovered[0].last_error.as_deref(), Some(LOST_DELIVERY));
        assert_eq!(bodies(&queue.peek(10).await.unwrap()), ["later"]);
    }

    /// An entry that does not decode is handed over as undecodable, and the messages after it
    /// still flow.
    #[tokio::test]
    async fn an_undecodable_entry_blocks_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let db = ::sled::open(dir.path()).unwrap();
        db.open_tree("queue:q:pending")
            .unwrap()
            .insert(pending_key(0, 7), &b"\xff\xff\xff"[..])
            .unwrap();
        let queue = open(&db, 60_000);
        queue.send(vec![message("after", 0)]).await.unwrap();
        let received = queue.receive(10).await.unwrap();
        assert_eq!(bodies(&received.messages), ["after"]);
        assert_eq!(received.undecodable.len(), 1);
        let bad = &received.undecodable[0];
        assert_eq!(
            (bad.entry.id, &bad.entry.body[..]),
            (7, &b"\xff\xff\xff"[..])
        );
        assert!(bad.error.contains("corrupt message"), "{}", bad.error);
        queue.ack(std::slice::from_ref(&bad.entry)).await.unwrap();
        queue.ack(&received.messages).await.unwrap();
        assert_eq!(queue.depth().await.unwrap(), (0, 0));
        assert!(queue.in_flight.is_empty());
    }

    /// Past its visibility timeout, an unrenewed message is delivered again with one more
    /// failure; the first delivery's ack then does nothing, and a renewed one stays held.
    #[tokio::test]
    async fn the_visibility_timeout_redelivers_and_a_stale_ack_does_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let db = ::sled::open(dir.path()).unwrap();
        let queue = open(&db, 50);
        queue
            .send(vec![message("lost", 0), message("renewed", 0)])
            .await
            .unwrap();
        let first = queue.receive(10).await.unwrap().messages;
        for _ in 0..4 {
            tokio::time::sleep(Duration::from_millis(20)).await;
            queue.renew(&first[1..]).await.unwrap();
        }
        let second = queue.receive(10).await.unwrap().messages;
        assert_eq!(bodies(&second), ["lost"]);
        assert_eq!(second[0].failures, 1);
        queue.ack(&first[..1]).await.unwrap();
        assert_eq!(queue.depth().await.unwrap(), (0, 2));
        queue.ack(&second).await.unwrap();
        queue.ack(&first[1..]).await.unwrap();
        assert_eq!(queue.depth().await.unwrap(), (0, 0));
    }

    /// Fuzzing by property: the decoder of stored messages (256 cases per property per run).
    mod properties {
        use proptest::prelude::*;

        use super::*;
        use crate::capability::queue::backend::strategy::{stored_bytes, stored_message};

        /// [`encode`], which cannot fail for a message.
        fn encoded(message: &StoredMessage) -> Vec<u8> {
            encode(message).unwrap()
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(256))]

            /// Any bytes decode to a message or an error, never a panic; a message decoded
            /// from them encodes to bytes that decode to it again.
            #[test]
            fn any_bytes_decode_or_err(bytes in stored_bytes(encoded)) {
                if let Ok(message) = decode(&bytes) {
                    prop_assert_eq!(decode(&encoded(&message)).unwrap(), message);
                }
            }

            /// An encoded message decodes back to itself.
            #[test]
            fn a_message_round_trips(message in stored_message()) {
                prop_assert_eq!(decode(&encoded(&message)).unwrap(), message);
            }

            /// An in-flight value reads back as its visibility time, token and payload; cut
            /// anywhere, it reads what is whole and zero or nothing for the rest, never a
            /// panic.
            #[test]
            fn in_flight_values_read_back(
                visible_at in any::<u64>(),
                held in any::<u64>(),
                payload_bytes in stored_bytes(encoded),
                cut in prop_oneof![0..24_usize, 0..200_usize],
            ) {
                let value = in_flight_value(visible_at, held, &payload_bytes);
                prop_assert_eq!(u64_at(&value, 0), visible_at);
                prop_assert_eq!(token(&value), held);
                prop_assert_eq!(payload(&value), &payload_bytes[..]);
                // Cut short: what is whole still reads, the rest as zero or empty.
                let short = &value[..cut.min(value.len())];
                let whole = |at: usize, n: u64| if short.len() >= at + 8 { n } else { 0 };
                prop_assert_eq!(u64_at(short, 0), whole(0, visible_at));
                prop_assert_eq!(token(short), whole(8, held));
                prop_assert_eq!(pending_id(short), whole(8, held));
                prop_assert_eq!(payload(short), value.get(16..short.len()).unwrap_or_default());
            }
        }
    }
}

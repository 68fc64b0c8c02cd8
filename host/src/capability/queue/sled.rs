//! The embedded queue backend: a sled database (`.wasmhost/queues` next to the manifest), two
//! trees per queue.
//!
//! - `queue:<name>:pending`: key = due time (ms since the Unix epoch, big-endian) then id
//!   (big-endian), so a scan from the start meets the due messages in FIFO order and stops at
//!   the first one not due yet;
//! - `queue:<name>:in-flight`: key = id; the messages a handler has and has not acknowledged.
//!
//! `send` flushes (fsync) before it returns, so a message a guest was told is sent survives
//! `kill -9`. Taking, acknowledging and retrying are sled transactions over both trees and are
//! not flushed one by one (sled flushes every 500 ms): a crash can undo the last of them, which
//! only ever delivers a message again, never loses one. Opening a queue moves every in-flight
//! message back to pending: a crashed run's messages are delivered again on restart.

use anyhow::Result;
use sled::Tree;
use sled::transaction::{ConflictableTransactionError, TransactionError, Transactional};

use super::{QueueBackend, StoredMessage};
use crate::capability::backend::{BackendError, now_ms};

/// One queue: its two trees in a sled database.
pub struct SledQueue {
    db: sled::Db,
    pending: Tree,
    in_flight: Tree,
}

fn pending_key(due_ms: u64, id: u64) -> [u8; 16] {
    let mut key = [0; 16];
    key[..8].copy_from_slice(&due_ms.to_be_bytes());
    key[8..].copy_from_slice(&id.to_be_bytes());
    key
}

fn unavailable(err: impl std::fmt::Display) -> BackendError {
    BackendError::Unavailable(format!("sled: {err}"))
}

fn encode(message: &StoredMessage) -> Result<Vec<u8>, BackendError> {
    postcard::to_stdvec(message).map_err(unavailable)
}

fn decode(bytes: &[u8]) -> Result<StoredMessage, BackendError> {
    postcard::from_bytes(bytes).map_err(|err| unavailable(format!("corrupt message: {err}")))
}

fn transaction_error(err: TransactionError<BackendError>) -> BackendError {
    match err {
        TransactionError::Abort(err) => err,
        TransactionError::Storage(err) => unavailable(err),
    }
}

impl SledQueue {
    /// Queue `name` of `db`, its trees created if needed; every message a crashed run left in
    /// flight goes back to pending, due at once.
    ///
    /// # Errors
    /// sled cannot open the trees, or fails the move (I/O, corruption).
    pub fn open(db: &sled::Db, name: &str) -> Result<Self> {
        let queue = Self {
            db: db.clone(),
            pending: db.open_tree(format!("queue:{name}:pending"))?,
            in_flight: db.open_tree(format!("queue:{name}:in-flight"))?,
        };
        let mut recovered = 0;
        for entry in queue.in_flight.iter() {
            let (key, value) = entry?;
            let message = decode(&value)?;
            queue
                .pending
                .insert(pending_key(message.due_ms, message.id), value)?;
            queue.in_flight.remove(key)?;
            recovered += 1;
        }
        if recovered > 0 {
            queue.db.flush()?;
            tracing::warn!(
                queue = name,
                recovered,
                "messages in flight when the last run stopped go back to the queue"
            );
        }
        Ok(queue)
    }

    /// Makes every write so far durable, on tokio's blocking pool.
    async fn flush(&self) -> Result<(), BackendError> {
        let db = self.db.clone();
        match tokio::task::spawn_blocking(move || db.flush()).await {
            Ok(flushed) => flushed.map(drop).map_err(unavailable),
            Err(err) => Err(unavailable(err)),
        }
    }
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
        self.flush().await?;
        Ok(ids)
    }

    async fn receive(&self, max: usize) -> Result<Vec<StoredMessage>, BackendError> {
        let due = pending_key(now_ms(), u64::MAX);
        let mut taken = Vec::new();
        for entry in self.pending.range(..=&due[..]) {
            if taken.len() >= max {
                break;
            }
            let (key, value) = entry.map_err(unavailable)?;
            let message = decode(&value)?;
            let moved = (&self.pending, &self.in_flight)
                .transaction(|(pending, in_flight)| {
                    if pending.remove(&key)?.is_none() {
                        // Another consumer of this queue took it first.
                        return Ok(false);
                    }
                    in_flight.insert(&message.id.to_be_bytes()[..], &value)?;
                    Ok::<_, ConflictableTransactionError<BackendError>>(true)
                })
                .map_err(transaction_error)?;
            if moved {
                taken.push(message);
            }
        }
        Ok(taken)
    }

    async fn ack(&self, messages: &[StoredMessage]) -> Result<(), BackendError> {
        let mut batch = sled::Batch::default();
        for message in messages {
            batch.remove(&message.id.to_be_bytes()[..]);
        }
        self.in_flight.apply_batch(batch).map_err(unavailable)
    }

    async fn retry(&self, message: &StoredMessage) -> Result<(), BackendError> {
        let value = encode(message)?;
        (&self.pending, &self.in_flight)
            .transaction(|(pending, in_flight)| {
                in_flight.remove(&message.id.to_be_bytes()[..])?;
                pending.insert(&pending_key(message.due_ms, message.id)[..], &value[..])?;
                Ok::<_, ConflictableTransactionError<BackendError>>(())
            })
            .map_err(transaction_error)
    }

    async fn next_due_ms(&self) -> Result<Option<u64>, BackendError> {
        let first = self.pending.first().map_err(unavailable)?;
        Ok(first.map(|(key, _)| {
            let mut due = [0; 8];
            due.copy_from_slice(&key[..8]);
            u64::from_be_bytes(due)
        }))
    }

    async fn peek(&self, max: usize) -> Result<Vec<StoredMessage>, BackendError> {
        self.pending
            .iter()
            .take(max)
            .map(|entry| decode(&entry.map_err(unavailable)?.1))
            .collect()
    }

    async fn depth(&self) -> Result<(u64, u64), BackendError> {
        Ok((self.pending.len() as u64, self.in_flight.len() as u64))
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

    #[tokio::test]
    async fn fifo_delay_retry_ack_and_recovery() {
        let dir = tempfile::tempdir().unwrap();
        let db = ::sled::open(dir.path()).unwrap();
        let queue = SledQueue::open(&db, "q").unwrap();
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
        let taken = queue.receive(10).await.unwrap();
        assert_eq!(bodies(&taken), ["a", "b"]);
        assert_eq!(queue.depth().await.unwrap(), (1, 2));
        assert!(queue.receive(10).await.unwrap().is_empty());

        // A retry due now comes back with its failure count; an ack is gone for good.
        let mut retried = taken[0].clone();
        retried.failures = 1;
        retried.due_ms = now_ms();
        queue.retry(&retried).await.unwrap();
        queue.ack(&taken[1..]).await.unwrap();
        let again = queue.receive(10).await.unwrap();
        assert_eq!(bodies(&again), ["a"]);
        assert_eq!(again[0].failures, 1);
        assert_eq!(queue.depth().await.unwrap(), (1, 1));

        // Reopening (a restart) puts the in-flight message back.
        drop(queue);
        let queue = SledQueue::open(&db, "q").unwrap();
        assert_eq!(queue.depth().await.unwrap(), (2, 0));
        assert_eq!(bodies(&queue.receive(10).await.unwrap()), ["a"]);
        assert_eq!(bodies(&queue.peek(10).await.unwrap()), ["later"]);
    }
}

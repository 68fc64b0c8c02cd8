//! The embedded workflow store: one sled database (`.wasmhost/workflows` next to the manifest
//! by default) holding
//! - `workflow:instances`: key = instance id; value = its [`InstanceRecord`];
//! - `workflow:history`: key = instance id, a 0 byte, then the event's index (big-endian
//!   `u32`); value = the [`HistoryEvent`], so one prefix scan reads a history in order;
//! - `workflow:components`: key = SHA-256 (hex) of an orchestrator component; value = the
//!   component's bytes (instances are pinned to them);
//! - the turns and activities queues, as [`SledQueue`]s in the same database (the queue
//!   machinery every queue trigger uses: visibility timeouts, redelivery after a crash), so
//!   that a turn's commit — history, record, new messages, acknowledged messages — is one sled
//!   transaction over all five trees it writes, flushed (fsync) before it returns.
//!
//! Leases are in-process: a set of the instances whose turn runs now. Writes are made durable
//! by a group commit: one flush for every caller waiting when it starts.

use std::collections::HashSet;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, Result};
use sled::transaction::{ConflictableTransactionError, TransactionError, TransactionalTree};
use sled::{Transactional, Tree};
use tokio::sync::Notify;

use super::history::{ActivityWork, ControlMessage, HistoryEvent, InstanceRecord, decode, encode};
use super::store::{Commit, InstancePage, Lease, ListFilter, StoreError, WorkflowStore};
use crate::capability::backend::{BackendContext, BackendError};
use crate::capability::queue::sled::{SledQueue, Staged};
use crate::capability::queue::{OpenQueue, StoredMessage};

/// The name of the turns queue (in metrics and logs).
pub const TURNS_QUEUE: &str = "workflow-turns";
/// The name of the activities queue (in metrics and logs).
pub const ACTIVITIES_QUEUE: &str = "workflow-activities";

/// How long a taken turn or activity message stays in flight without a renewal: 60 s (an
/// activity's attempt is renewed while it runs).
pub const VISIBILITY: Duration = Duration::from_secs(60);

/// The embedded workflow store.
pub struct SledWorkflowStore {
    db: sled::Db,
    dir: String,
    instances: Tree,
    history: Tree,
    components: Tree,
    turns: Arc<SledQueue>,
    activities: Arc<SledQueue>,
    turns_queue: Arc<OpenQueue>,
    activities_queue: Arc<OpenQueue>,
    leases: Arc<Mutex<HashSet<String>>>,
    group: GroupFlush,
}

/// The state of the group commit ([`SledWorkflowStore::flush`]): callers numbered so far, the
/// highest number a finished flush covers, and the lock one flush at a time holds.
#[derive(Default)]
struct GroupFlush {
    written: AtomicU64,
    flushed: AtomicU64,
    lock: tokio::sync::Mutex<()>,
}

fn unavailable(err: impl std::fmt::Display) -> StoreError {
    StoreError::Backend(BackendError::Unavailable(format!("sled: {err}")))
}

/// The history key of event `index` of instance `id`.
fn history_key(id: &str, index: u32) -> Vec<u8> {
    let mut key = Vec::with_capacity(id.len() + 5);
    key.extend_from_slice(id.as_bytes());
    key.push(0);
    key.extend_from_slice(&index.to_be_bytes());
    key
}

/// The prefix of every history key of instance `id`.
fn history_prefix(id: &str) -> Vec<u8> {
    let mut key = Vec::with_capacity(id.len() + 1);
    key.extend_from_slice(id.as_bytes());
    key.push(0);
    key
}

type Abortable<T> = Result<T, ConflictableTransactionError<StoreError>>;

fn abort<T>(err: StoreError) -> Abortable<T> {
    Err(ConflictableTransactionError::Abort(err))
}

fn backend(err: BackendError) -> ConflictableTransactionError<StoreError> {
    // Reached only for a stored record that does not decode.
    ConflictableTransactionError::Abort(StoreError::Backend(err))
}

impl SledWorkflowStore {
    /// The store in the sled database at `dir` (opened through `context`, which shares it with
    /// any queue or store there), its two queues' in-flight messages back to pending.
    ///
    /// # Errors
    /// The database cannot be opened (held by another process, not writable, corrupted).
    pub fn open(context: &mut BackendContext, dir: &Path) -> Result<Self> {
        let db = context.sled.open(dir)?;
        let open =
            |name: &str, durable_receive: bool| -> Result<(Arc<SledQueue>, Arc<OpenQueue>)> {
                let queue = SledQueue::open(&db, name, VISIBILITY)
                    .with_context(|| format!("workflow queue `{name}`: cannot open it"))?;
                let queue = Arc::new(if durable_receive {
                    queue
                } else {
                    queue.without_durable_receive()
                });
                let open = Arc::new(OpenQueue {
                    name: name.into(),
                    description: format!("sled {}", dir.display()),
                    backend: queue.clone(),
                    visibility: VISIBILITY,
                    sent: Notify::new(),
                    metrics: context.metrics.queue(name),
                });
                Ok((queue, open))
            };
        // A turn is replayed from its history however often it runs: its deliveries need no
        // durable count. An activity's lost deliveries are counted ([`ActivityWork::failed`]).
        let (turns, turns_queue) = open(TURNS_QUEUE, false)?;
        let (activities, activities_queue) = open(ACTIVITIES_QUEUE, true)?;
        Ok(Self {
            instances: db.open_tree("workflow:instances")?,
            history: db.open_tree("workflow:history")?,
            components: db.open_tree("workflow:components")?,
            db,
            dir: dir.display().to_string(),
            turns,
            activities,
            turns_queue,
            activities_queue,
            leases: Arc::default(),
            group: GroupFlush::default(),
        })
    }

    /// Flushes (fsync) on tokio's blocking pool.
    ///
    /// A group commit: the writes made before this call are durable when it returns, and one
    /// flush serves every caller waiting when it starts (turns and activity attempts of many
    /// instances commit at once; each would otherwise wait for a sync of its own).
    async fn flush(&self) -> Result<(), StoreError> {
        let GroupFlush {
            written,
            flushed,
            lock,
        } = &self.group;
        // Every write of this caller is applied before its number is taken.
        let mine = written.fetch_add(1, Ordering::SeqCst) + 1;
        let _turn = lock.lock().await;
        if flushed.load(Ordering::SeqCst) >= mine {
            return Ok(());
        }
        // Every caller numbered up to `upto` applied its writes before this flush starts.
        let upto = written.load(Ordering::SeqCst);
        self.turns.flush().await.map_err(StoreError::Backend)?;
        flushed.store(upto, Ordering::SeqCst);
        Ok(())
    }

    /// Runs `write` as one transaction over the instances, the history, and the queues' trees
    /// a turn writes.
    fn transaction<T>(&self, write: impl Fn(&Trees<'_>) -> Abortable<T>) -> Result<T, StoreError> {
        let (turns_pending, turns_in_flight) = self.turns.trees();
        let (activities_pending, _) = self.activities.trees();
        (
            &self.instances,
            &self.history,
            turns_pending,
            turns_in_flight,
            activities_pending,
        )
            .transaction(|(instances, history, tp, tf, ap)| {
                write(&Trees {
                    instances,
                    history,
                    turns_pending: tp,
                    turns_in_flight: tf,
                    activities_pending: ap,
                })
            })
            .map_err(|err| match err {
                TransactionError::Abort(err) => err,
                TransactionError::Storage(err) => unavailable(err),
            })
    }

    /// Stages `messages` for `queue`.
    fn prepare(queue: &SledQueue, messages: Vec<StoredMessage>) -> Result<Vec<Staged>, StoreError> {
        messages
            .into_iter()
            .map(|mut message| queue.prepare(&mut message).map_err(StoreError::Backend))
            .collect()
    }
}

/// The trees of one transaction.
struct Trees<'a> {
    instances: &'a TransactionalTree,
    history: &'a TransactionalTree,
    turns_pending: &'a TransactionalTree,
    turns_in_flight: &'a TransactionalTree,
    activities_pending: &'a TransactionalTree,
}

/// A held in-process lease; dropping it removes the id from the set.
struct SledLease {
    id: String,
    leases: Arc<Mutex<HashSet<String>>>,
}

impl Lease for SledLease {}

impl Drop for SledLease {
    fn drop(&mut self) {
        self.leases
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(&self.id);
    }
}

#[async_trait::async_trait]
impl WorkflowStore for SledWorkflowStore {
    fn description(&self) -> String {
        format!("sled {}", self.dir)
    }

    fn turns(&self) -> &Arc<OpenQueue> {
        &self.turns_queue
    }

    fn activities(&self) -> &Arc<OpenQueue> {
        &self.activities_queue
    }

    async fn create(
        &self,
        record: InstanceRecord,
        first: HistoryEvent,
        wake: StoredMessage,
    ) -> Result<(), StoreError> {
        let staged = Self::prepare(&self.turns, vec![wake])?;
        let value = encode(&record)?;
        let event = encode(&first)?;
        self.transaction(|trees| {
            if trees.instances.get(record.id.as_bytes())?.is_some() {
                return abort(StoreError::AlreadyExists);
            }
            trees.instances.insert(record.id.as_bytes(), &value[..])?;
            trees
                .history
                .insert(history_key(&record.id, 0), &event[..])?;
            for message in &staged {
                SledQueue::stage_send(trees.turns_pending, message)?;
            }
            Ok(())
        })?;
        self.turns.staged(1, 0);
        self.flush().await?;
        self.turns_queue.metrics.sent.inc();
        self.turns_queue.sent.notify_waiters();
        Ok(())
    }

    async fn record(&self, id: &str) -> Result<Option<InstanceRecord>, StoreError> {
        match self.instances.get(id.as_bytes()).map_err(unavailable)? {
            Some(bytes) => Ok(Some(decode(&bytes)?)),
            None => Ok(None),
        }
    }

    async fn history(&self, id: &str) -> Result<Vec<HistoryEvent>, StoreError> {
        self.history
            .scan_prefix(history_prefix(id))
            .map(|entry| {
                let (_, value) = entry.map_err(unavailable)?;
                decode(&value).map_err(StoreError::Backend)
            })
            .collect()
    }

    async fn commit(&self, commit: Commit) -> Result<(), StoreError> {
        let Some(record) = &commit.record else {
            return Ok(());
        };
        let turns = Self::prepare(&self.turns, commit.turns)?;
        let activities = Self::prepare(&self.activities, commit.activities)?;
        let value = encode(record)?;
        let first = if commit.reset_history {
            0
        } else {
            commit.expected_len
        };
        let events = commit
            .append
            .iter()
            .enumerate()
            .map(|(i, event)| {
                let index = first + u32::try_from(i).unwrap_or(u32::MAX);
                Ok((history_key(&record.id, index), encode(event)?))
            })
            .collect::<Result<Vec<_>, BackendError>>()?;
        let created = commit
            .create
            .iter()
            .map(|(child, event)| Ok((child.id.as_bytes(), encode(child)?, encode(event)?)))
            .collect::<Result<Vec<_>, BackendError>>()?;
        let acked = self.transaction(|trees| {
            let stored = trees.instances.get(record.id.as_bytes())?;
            let stored: InstanceRecord = match stored {
                Some(bytes) => decode(&bytes).map_err(backend)?,
                None => return abort(StoreError::Conflict),
            };
            if stored.history_len != commit.expected_len || stored.turns + 1 != record.turns {
                return abort(StoreError::Conflict);
            }
            if commit.reset_history {
                for index in 0..stored.history_len {
                    trees.history.remove(history_key(&record.id, index))?;
                }
            }
            for (key, event) in &events {
                trees.history.insert(&key[..], &event[..])?;
            }
            trees.instances.insert(record.id.as_bytes(), &value[..])?;
            for (id, child, event) in &created {
                if trees.instances.get(id)?.is_some() {
                    return abort(StoreError::AlreadyExists);
                }
                trees.instances.insert(*id, &child[..])?;
                let id = std::str::from_utf8(id).unwrap_or_default();
                trees.history.insert(history_key(id, 0), &event[..])?;
            }
            for message in &turns {
                SledQueue::stage_send(trees.turns_pending, message)?;
            }
            for message in &activities {
                SledQueue::stage_send(trees.activities_pending, message)?;
            }
            let mut acked = 0;
            for message in &commit.ack {
                if SledQueue::stage_ack(trees.turns_in_flight, message)? {
                    acked += 1;
                }
            }
            Ok(acked)
        })?;
        self.turns.staged(turns.len(), acked);
        self.activities.staged(activities.len(), 0);
        self.flush().await?;
        self.turns_queue.metrics.sent.inc_by(turns.len() as u64);
        self.turns_queue.metrics.acked.inc_by(acked as u64);
        self.activities_queue
            .metrics
            .sent
            .inc_by(activities.len() as u64);
        if !turns.is_empty() {
            self.turns_queue.sent.notify_waiters();
        }
        if !activities.is_empty() {
            self.activities_queue.sent.notify_waiters();
        }
        Ok(())
    }

    async fn settle_activity(
        &self,
        work: &StoredMessage,
        completion: StoredMessage,
    ) -> Result<(), StoreError> {
        let staged = Self::prepare(&self.turns, vec![completion])?;
        let (_, activities_in_flight) = self.activities.trees();
        let (turns_pending, _) = self.turns.trees();
        let settled = (turns_pending, activities_in_flight)
            .transaction(|(pending, in_flight)| -> Abortable<bool> {
                if !SledQueue::stage_ack(in_flight, work)? {
                    return Ok(false);
                }
                for message in &staged {
                    SledQueue::stage_send(pending, message)?;
                }
                Ok(true)
            })
            .map_err(|err| match err {
                TransactionError::Abort(err) => err,
                TransactionError::Storage(err) => unavailable(err),
            })?;
        if settled {
            self.turns.staged(1, 0);
            self.activities.staged(0, 1);
            self.flush().await?;
            self.turns_queue.metrics.sent.inc();
            self.activities_queue.metrics.acked.inc();
            self.turns_queue.sent.notify_waiters();
        }
        Ok(())
    }

    async fn purge(&self, id: &str) -> Result<bool, StoreError> {
        let Some(record) = self.record(id).await? else {
            return Ok(false);
        };
        self.transaction(|trees| {
            trees.instances.remove(id.as_bytes())?;
            for index in 0..record.history_len {
                trees.history.remove(history_key(id, index))?;
            }
            Ok(())
        })?;
        // Left by a crash between two writes, if any.
        for entry in self.history.scan_prefix(history_prefix(id)).keys() {
            self.history
                .remove(entry.map_err(unavailable)?)
                .map_err(unavailable)?;
        }
        self.turns
            .remove_pending(|message| {
                decode::<ControlMessage>(&message.body).is_ok_and(|m| m.instance == id)
            })
            .map_err(StoreError::Backend)?;
        self.activities
            .remove_pending(|message| {
                decode::<ActivityWork>(&message.body).is_ok_and(|w| w.instance == id)
            })
            .map_err(StoreError::Backend)?;
        self.flush().await?;
        Ok(true)
    }

    async fn list(&self, filter: &ListFilter) -> Result<InstancePage, StoreError> {
        let top = filter.top.clamp(1, 1_000);
        let start = filter
            .continuation
            .as_deref()
            .map_or(std::ops::Bound::Unbounded, |after| {
                std::ops::Bound::Excluded(after.as_bytes().to_vec())
            });
        let mut page = InstancePage::default();
        for entry in self
            .instances
            .range::<Vec<u8>, _>((start, std::ops::Bound::Unbounded))
        {
            let (_, value) = entry.map_err(unavailable)?;
            let Ok(record) = decode::<InstanceRecord>(&value) else {
                continue;
            };
            let selected = (filter.statuses.is_empty() || filter.statuses.contains(&record.status))
                && filter
                    .created_from_ms
                    .is_none_or(|from| record.created_ms >= from)
                && filter.created_to_ms.is_none_or(|to| record.created_ms < to)
                && filter
                    .workflow
                    .as_ref()
                    .is_none_or(|workflow| *workflow == record.workflow);
            if !selected {
                continue;
            }
            if page.instances.len() == top {
                page.continuation = page.instances.last().map(|last| last.id.clone());
                break;
            }
            page.instances.push(record);
        }
        Ok(page)
    }

    async fn keep_component(&self, digest: &str, bytes: Vec<u8>) -> Result<(), StoreError> {
        if self.components.contains_key(digest).map_err(unavailable)? {
            return Ok(());
        }
        self.components.insert(digest, bytes).map_err(unavailable)?;
        self.flush().await
    }

    async fn component(&self, digest: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self
            .components
            .get(digest)
            .map_err(unavailable)?
            .map(|bytes| bytes.to_vec()))
    }

    async fn lease(&self, id: &str) -> Option<Box<dyn Lease>> {
        let mut leases = self
            .leases
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if !leases.insert(id.to_owned()) {
            return None;
        }
        Some(Box::new(SledLease {
            id: id.to_owned(),
            leases: self.leases.clone(),
        }))
    }
}

/// Keeps the database handle alive as long as the store (its trees share it).
impl Drop for SledWorkflowStore {
    fn drop(&mut self) {
        let _ = self.db.flush();
    }
}

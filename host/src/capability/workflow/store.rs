//! The workflow store trait, in layer 4: where instances, their histories and the two
//! workflow queues live ([`sled`](super::sled) embedded by default; a Redis implementation
//! fits the same trait: an atomic append plus enqueue, and instance leases).
//!
//! Written per turn by the workflow trigger ([`Commit`]), per activity attempt
//! ([`WorkflowStore::settle_activity`]), and per call of the workflow client, the admin API
//! and `wasmhost workflow` (create, raise, terminate, purge, list).

use std::sync::Arc;

use super::history::{HistoryEvent, InstanceRecord, RuntimeStatus};
use crate::capability::backend::BackendError;
use crate::capability::queue::{OpenQueue, StoredMessage};

/// What a store operation can fail with.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    /// `create`: an instance with this id exists already.
    #[error("an instance with this id exists already")]
    AlreadyExists,
    /// `commit`: the history changed since the turn read it (another turn of the instance
    /// committed first); nothing was written.
    #[error("the instance's history changed during the turn")]
    Conflict,
    /// The backend failed.
    #[error(transparent)]
    Backend(#[from] BackendError),
}

/// One turn's writes, made in one atomic write: all of them, or none.
#[derive(Debug, Default)]
pub struct Commit {
    /// The instance's new record (its `history_len` counts `append`).
    pub record: Option<InstanceRecord>,
    /// The instance's `history_len` when the turn read it: the commit fails with
    /// [`StoreError::Conflict`] if the stored record says otherwise.
    pub expected_len: u32,
    /// Whether the history of the current execution is deleted before `append` is written
    /// (`continue-as-new`; `append` then starts at index 0).
    pub reset_history: bool,
    /// Events to append, in order, after the `expected_len` ones (or from 0 after a reset).
    pub append: Vec<HistoryEvent>,
    /// Sub-workflow instances to create, each with its first event and a wake-up on the
    /// turns queue (already in `turns`). One that exists already fails the commit with
    /// [`StoreError::AlreadyExists`].
    pub create: Vec<(InstanceRecord, HistoryEvent)>,
    /// Messages for the turns queue ([`super::history::ControlMessage`]s: timers, with their
    /// delay; wake-ups; a parent's completion).
    pub turns: Vec<StoredMessage>,
    /// Messages for the activities queue ([`super::history::ActivityWork`]).
    pub activities: Vec<StoredMessage>,
    /// Messages of the turns queue this turn consumed (as `receive` returned them): they are
    /// acknowledged in the same write.
    pub ack: Vec<StoredMessage>,
}

/// Which instances [`WorkflowStore::list`] returns.
#[derive(Debug, Clone, Default)]
pub struct ListFilter {
    /// Only these statuses (empty: any).
    pub statuses: Vec<RuntimeStatus>,
    /// Only instances created at or after this, in ms since the Unix epoch.
    pub created_from_ms: Option<u64>,
    /// Only instances created before this, in ms since the Unix epoch.
    pub created_to_ms: Option<u64>,
    /// Only instances of this workflow.
    pub workflow: Option<String>,
    /// At most this many (1 to 1 000).
    pub top: usize,
    /// Where the previous page ended ([`InstancePage::continuation`]).
    pub continuation: Option<String>,
}

/// One page of [`WorkflowStore::list`].
#[derive(Debug, Clone, Default)]
pub struct InstancePage {
    /// The instances, by id.
    pub instances: Vec<InstanceRecord>,
    /// Where the next page starts, if there may be one.
    pub continuation: Option<String>,
}

/// A lease on one instance: while it is held, no other turn of the instance runs (in this
/// process for sled; on every node for Redis). Dropping it releases it.
pub trait Lease: Send {}

/// Where workflow instances live. Every operation is atomic; writes are durable (fsynced, or
/// acknowledged by Redis) when they return.
#[async_trait::async_trait]
pub trait WorkflowStore: Send + Sync + 'static {
    /// Where it lives, for logs: `sled <dir>`.
    fn description(&self) -> String;

    /// The turns queue: [`super::history::ControlMessage`]s.
    fn turns(&self) -> &Arc<OpenQueue>;

    /// The activities queue: [`super::history::ActivityWork`].
    fn activities(&self) -> &Arc<OpenQueue>;

    /// Creates instance `record` with its first event and `wake` (a message for the turns
    /// queue), in one write.
    ///
    /// # Errors
    /// [`StoreError::AlreadyExists`], or the backend's.
    async fn create(
        &self,
        record: InstanceRecord,
        first: HistoryEvent,
        wake: StoredMessage,
    ) -> Result<(), StoreError>;

    /// The record of instance `id`, if it exists.
    ///
    /// # Errors
    /// The backend's.
    async fn record(&self, id: &str) -> Result<Option<InstanceRecord>, StoreError>;

    /// The history of the current execution of instance `id`, in order (empty if none).
    ///
    /// # Errors
    /// The backend's, or an event that does not decode.
    async fn history(&self, id: &str) -> Result<Vec<HistoryEvent>, StoreError>;

    /// Writes `commit` for instance `commit.record.id` in one atomic write.
    ///
    /// # Errors
    /// [`StoreError::Conflict`], [`StoreError::AlreadyExists`] (a sub-workflow's id), or the
    /// backend's.
    async fn commit(&self, commit: Commit) -> Result<(), StoreError>;

    /// Ends one attempt of an activity for good: sends `completion` to the turns queue and
    /// acknowledges `work` (as the activities queue's `receive` returned it), in one write.
    /// If another delivery holds `work` now, nothing is written.
    ///
    /// # Errors
    /// The backend's.
    async fn settle_activity(
        &self,
        work: &StoredMessage,
        completion: StoredMessage,
    ) -> Result<(), StoreError>;

    /// Deletes instance `id`: its record, its history, and the messages the queues hold for
    /// it and no consumer has taken. Returns whether it existed.
    ///
    /// # Errors
    /// The backend's.
    async fn purge(&self, id: &str) -> Result<bool, StoreError>;

    /// The instances `filter` selects, by id, one page.
    ///
    /// # Errors
    /// The backend's.
    async fn list(&self, filter: &ListFilter) -> Result<InstancePage, StoreError>;

    /// Keeps orchestrator component `bytes` under `digest` (its SHA-256, hex), if it is not
    /// kept already: instances pinned to it run on it after a redeploy.
    ///
    /// # Errors
    /// The backend's.
    async fn keep_component(&self, digest: &str, bytes: Vec<u8>) -> Result<(), StoreError>;

    /// The component kept under `digest`.
    ///
    /// # Errors
    /// The backend's.
    async fn component(&self, digest: &str) -> Result<Option<Vec<u8>>, StoreError>;

    /// A lease on instance `id`, if no one holds one.
    async fn lease(&self, id: &str) -> Option<Box<dyn Lease>>;
}

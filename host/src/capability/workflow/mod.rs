//! Layer 4, durable workflows' capabilities and storage:
//! - the workflow store ([`store::WorkflowStore`], embedded in sled by default:
//!   [`sled::SledWorkflowStore`]) with instances, their append-only histories
//!   ([`history`]) and the turns and activities queues, opened once per process;
//! - [`Workflows`], what starts and drives instances (the `workflow-client` import of any
//!   component, [`client`]; the admin API and `wasmhost workflow`), one per app version;
//! - the `orchestration` import an orchestrator's turn answers from its history
//!   ([`context`]).
//!
//! The workflow trigger ([`crate::trigger::workflow`]) runs the turns and the activities; it
//! hands each turn its [`context::Turn`] when it makes the orchestrator's store. The rules
//! every part follows are in `wit/workflow.wit` and `docs/workflows.md`.

pub mod client;
pub mod context;
pub mod history;
pub mod sled;
pub mod store;

use std::collections::BTreeMap;
use std::sync::Arc;

use anyhow::Result;

pub use client::{WorkflowClientView, WorkflowGrants, add_to_linker};
use history::{
    Control, ControlMessage, Event, HistoryEvent, InstanceRecord, RuntimeStatus, encode,
    is_event_name, is_instance_id,
};
use store::{InstancePage, ListFilter, StoreError, WorkflowStore};

use crate::app::App;
use crate::capability::backend::{BackendError, now_ms};
use crate::capability::queue::StoredMessage;
use crate::metrics::WorkflowMetrics;

/// Why a call on [`Workflows`] failed; the message names the workflow or instance.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClientError {
    /// The caller is not granted the workflow (`workflows = [..]`).
    #[error("workflow `{0}` is not granted to this component (workflows)")]
    AccessDenied(String),
    /// No such workflow, or no such instance.
    #[error("{0}")]
    NotFound(String),
    /// An instance with that id exists already.
    #[error("instance `{0}` exists already; purge it first, or start another id")]
    AlreadyExists(String),
    /// The request cannot be done as it is (a bad id or name, purging a running instance).
    #[error("{0}")]
    Invalid(String),
    /// The workflow store failed.
    #[error("workflow store: {0}")]
    Unavailable(String),
}

impl From<BackendError> for ClientError {
    fn from(err: BackendError) -> Self {
        Self::from(StoreError::Backend(err))
    }
}

impl From<StoreError> for ClientError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::Backend(BackendError::Invalid(message)) => Self::Invalid(message),
            other => Self::Unavailable(other.to_string()),
        }
    }
}

/// One workflow of the app, as the client and the trigger need it.
#[derive(Debug, Clone)]
pub struct WorkflowInfo {
    /// Its name.
    pub name: String,
    /// Index of its orchestrator in [`App::components`].
    pub component: usize,
    /// SHA-256 (hex) of the orchestrator's component file: new instances are pinned to it.
    pub digest: String,
    /// The activities it may call.
    pub activities: Vec<String>,
    /// The workflows it may call as sub-workflows.
    pub workflows: Vec<String>,
}

/// What starts and drives the instances of one app version: its workflows by name, over the
/// process's workflow store. Shared by the `workflow-client` import, the admin API and the
/// workflow trigger.
pub struct Workflows {
    /// The store.
    pub store: Arc<dyn WorkflowStore>,
    /// The app's workflows, by name.
    pub workflows: BTreeMap<String, WorkflowInfo>,
    /// Their metrics.
    pub metrics: Arc<WorkflowMetrics>,
}

impl Workflows {
    /// The workflows of `app` over `store`: each orchestrator's component file is hashed, and
    /// kept in the store under its digest (so instances pinned to it can run after a
    /// redeploy).
    ///
    /// # Errors
    /// A component file that cannot be read, or a store that cannot keep it.
    pub async fn new(
        app: &App,
        store: Arc<dyn WorkflowStore>,
        metrics: Arc<WorkflowMetrics>,
    ) -> Result<Self> {
        let mut workflows = BTreeMap::new();
        for trigger in &app.workflow_triggers {
            let component = &app.components[trigger.component];
            let bytes = std::fs::read(&component.source).map_err(|err| {
                anyhow::anyhow!(
                    "component `{}`: cannot read `{}`: {err}",
                    component.id,
                    component.source.display()
                )
            })?;
            let digest = hex(ring::digest::digest(&ring::digest::SHA256, &bytes).as_ref());
            store.keep_component(&digest, bytes).await.map_err(|err| {
                anyhow::anyhow!(
                    "workflow `{}`: cannot keep its orchestrator: {err}",
                    trigger.name
                )
            })?;
            workflows.insert(
                trigger.name.clone(),
                WorkflowInfo {
                    name: trigger.name.clone(),
                    component: trigger.component,
                    digest,
                    activities: trigger.activities.clone(),
                    workflows: trigger.workflows.clone(),
                },
            );
        }
        Ok(Self {
            store,
            workflows,
            metrics,
        })
    }

    /// Workflow `name`.
    ///
    /// # Errors
    /// [`ClientError::NotFound`] naming the app's workflows.
    pub fn workflow(&self, name: &str) -> Result<&WorkflowInfo, ClientError> {
        self.workflows.get(name).ok_or_else(|| {
            let names: Vec<&str> = self.workflows.keys().map(String::as_str).collect();
            ClientError::NotFound(format!(
                "no workflow named `{name}`; the app has {}",
                if names.is_empty() {
                    "none".to_owned()
                } else {
                    names.join(", ")
                }
            ))
        })
    }

    /// The record and first event of a new instance `id` of `workflow` with `input`.
    pub fn new_instance(
        workflow: &WorkflowInfo,
        id: String,
        input: Vec<u8>,
        first_seq: u32,
        parent: Option<history::Parent>,
        traceparent: Option<String>,
    ) -> (InstanceRecord, HistoryEvent) {
        let now = now_ms();
        let record = InstanceRecord {
            id,
            workflow: workflow.name.clone(),
            status: RuntimeStatus::Pending,
            input: input.clone(),
            output: None,
            error: None,
            custom_status: None,
            created_ms: now,
            updated_ms: now,
            digest: workflow.digest.clone(),
            history_len: 1,
            first_seq,
            execution: 0,
            turns: 0,
            parent,
            traceparent,
        };
        let first = HistoryEvent {
            at_ms: now,
            event: Event::Started { input },
        };
        (record, first)
    }

    /// Starts workflow `workflow` with `input` as instance `id` (`None`: a new UUID), in the
    /// trace `traceparent` (W3C Trace Context; `None`: a new trace); returns the instance id
    /// once the start is durable.
    ///
    /// # Errors
    /// [`ClientError::NotFound`] (no such workflow), [`ClientError::Invalid`] (a bad id),
    /// [`ClientError::AlreadyExists`], [`ClientError::Unavailable`].
    pub async fn start(
        &self,
        workflow: &str,
        input: Vec<u8>,
        id: Option<String>,
        traceparent: Option<String>,
    ) -> Result<String, ClientError> {
        let info = self.workflow(workflow)?;
        let id = match id {
            Some(id) => checked_id(id)?,
            None => uuid::Uuid::new_v4().simple().to_string(),
        };
        // One trace per instance: the caller's, or a new one.
        let traceparent = traceparent.or_else(|| {
            let (_, trace) = crate::trace::TraceContext::start(None, tracing::Span::none);
            Some(trace.traceparent())
        });
        let (record, first) = Self::new_instance(info, id.clone(), input, 0, None, traceparent);
        let wake = control(&id, Control::Wake, 0)?;
        match self.store.create(record, first, wake).await {
            Ok(()) => {}
            Err(StoreError::AlreadyExists) => return Err(ClientError::AlreadyExists(id)),
            Err(err) => return Err(err.into()),
        }
        self.metrics.started(workflow);
        tracing::info!(workflow, instance = %id, "workflow instance started");
        Ok(id)
    }

    /// The record of instance `id`.
    ///
    /// # Errors
    /// [`ClientError::NotFound`], [`ClientError::Invalid`] (a bad id), or the store's.
    pub async fn status(&self, id: &str) -> Result<InstanceRecord, ClientError> {
        if !is_instance_id(id) {
            return Err(bad_id(id));
        }
        self.store
            .record(id)
            .await?
            .ok_or_else(|| ClientError::NotFound(format!("no instance `{id}`")))
    }

    /// The history of the current execution of instance `id`.
    ///
    /// # Errors
    /// As [`Workflows::status`].
    pub async fn history(&self, id: &str) -> Result<Vec<HistoryEvent>, ClientError> {
        self.status(id).await?;
        Ok(self.store.history(id).await?)
    }

    /// Raises event `name` with `payload` on instance `id`; durable when it returns. An
    /// instance that has ended ignores it.
    ///
    /// # Errors
    /// [`ClientError::NotFound`], [`ClientError::Invalid`] (a bad name), or the store's.
    pub async fn raise_event(
        &self,
        id: &str,
        name: &str,
        payload: Vec<u8>,
    ) -> Result<(), ClientError> {
        if !is_event_name(name) {
            return Err(ClientError::Invalid(format!(
                "event name `{}` must be 1 to 128 characters, none of them a control character",
                name.escape_debug()
            )));
        }
        let record = self.status(id).await?;
        if record.status.is_ended() {
            return Ok(());
        }
        let event = Event::EventRaised {
            name: name.to_owned(),
            payload,
        };
        self.send(id, Control::Append(event)).await
    }

    /// Terminates instance `id` with `reason` (durable when it returns; its next turn ends
    /// it). Terminating an instance that has ended does nothing.
    ///
    /// # Errors
    /// [`ClientError::NotFound`], or the store's.
    pub async fn terminate(&self, id: &str, reason: &str) -> Result<(), ClientError> {
        let record = self.status(id).await?;
        if record.status.is_ended() {
            return Ok(());
        }
        self.send(id, Control::Terminate(reason.to_owned())).await
    }

    /// Deletes instance `id`, which must have ended, with its history.
    ///
    /// # Errors
    /// [`ClientError::NotFound`], [`ClientError::Invalid`] (it has not ended), or the store's.
    pub async fn purge(&self, id: &str) -> Result<(), ClientError> {
        let record = self.status(id).await?;
        if !record.status.is_ended() {
            return Err(ClientError::Invalid(format!(
                "instance `{id}` is {}; only an instance that has completed, failed or been terminated can be purged (terminate it first)",
                record.status.as_str()
            )));
        }
        self.store.purge(id).await?;
        Ok(())
    }

    /// One page of the instances `filter` selects.
    ///
    /// # Errors
    /// The store's.
    pub async fn list(&self, filter: &ListFilter) -> Result<InstancePage, ClientError> {
        Ok(self.store.list(filter).await?)
    }

    /// Sends `control` to instance `id` on the turns queue.
    async fn send(&self, id: &str, control_: Control) -> Result<(), ClientError> {
        let message = control(id, control_, 0)?;
        self.store
            .turns()
            .send(vec![message])
            .await
            .map(drop)
            .map_err(|err| ClientError::Unavailable(err.to_string()))
    }
}

/// A turns-queue message bringing `control` to instance `instance`, due `delay_ms` from now.
///
/// # Errors
/// Encoding fails (never in practice).
pub fn control(
    instance: &str,
    control: Control,
    delay_ms: u64,
) -> Result<StoredMessage, BackendError> {
    let body = encode(&ControlMessage {
        instance: instance.to_owned(),
        control,
    })?;
    Ok(StoredMessage::new(body, None, Vec::new(), delay_ms))
}

/// `id` if it is a valid instance id.
fn checked_id(id: String) -> Result<String, ClientError> {
    if is_instance_id(&id) {
        Ok(id)
    } else {
        Err(bad_id(&id))
    }
}

fn bad_id(id: &str) -> ClientError {
    ClientError::Invalid(format!(
        "instance id `{}` must be 1 to 128 letters, digits and `-_.:@`",
        id.escape_debug()
    ))
}

/// `bytes` as lowercase hex.
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut text, byte| {
            let _ = write!(text, "{byte:02x}");
            text
        })
}

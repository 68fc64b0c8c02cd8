//! Per guest call, the `workflow-client` capability: the per-instance [`WorkflowClientView`]
//! implements the generated `wasmhost:host/workflow-client` host trait over the component's
//! [`WorkflowGrants`] (its `workflows = [..]`), and [`add_to_linker`] adds it once at startup.
//!
//! A workflow the component is not granted, or an instance of one, is `access-denied` (and
//! logged, [`crate::capability::log_denied`]); the rest is [`super::Workflows`]'s. A start
//! carries the invocation's trace, so the instance's turns and activities are spans of the
//! caller's trace.

use std::sync::Arc;

use anyhow::Result;
use wasmtime::component::{HasData, Linker};
use wasmtime_wasi::p2::bindings::clocks::wall_clock::Datetime;

use super::history::{InstanceRecord, RuntimeStatus};
use super::{ClientError, Workflows};
use crate::app::ComponentId;
use crate::bindings::wasmhost::host::workflow_client::{self, ClientError as WitError};
use crate::bindings::wasmhost::host::workflow_types;
use crate::invocation::RequestId;
use crate::trace::TraceContext;

/// The workflows one component may drive; cloning is an `Arc` increment.
#[derive(Clone, Default)]
pub struct WorkflowGrants(Option<Arc<Granted>>);

struct Granted {
    component: ComponentId,
    workflows: Arc<Workflows>,
    granted: Vec<String>,
}

impl WorkflowGrants {
    /// What `component` may drive (`granted`, its `workflows = [..]`) among `workflows`.
    pub fn new(component: ComponentId, workflows: Arc<Workflows>, granted: Vec<String>) -> Self {
        Self(Some(Arc::new(Granted {
            component,
            workflows,
            granted,
        })))
    }
}

/// The per-instance view the generated trait is implemented on.
pub struct WorkflowClientView<'a> {
    /// What the instance's component may drive.
    pub grants: &'a WorkflowGrants,
    /// The invocation's trace context, carried into the instances it starts.
    pub trace: &'a TraceContext,
    /// The invocation's request id, for log lines.
    pub request_id: &'a RequestId,
}

impl WorkflowClientView<'_> {
    /// The grants, if `workflow` is among them.
    fn granted(&self, workflow: &str) -> Result<&Granted, WitError> {
        let Some(granted) = self.grants.0.as_deref() else {
            return Err(WitError::AccessDenied);
        };
        if granted.granted.iter().any(|name| name == workflow) {
            Ok(granted)
        } else {
            crate::capability::log_denied(
                &granted.component,
                self.request_id.as_str(),
                "workflow",
                workflow,
                "workflows",
            );
            Err(WitError::AccessDenied)
        }
    }

    /// The record of instance `id`, if its workflow is granted.
    async fn instance(&self, id: &str) -> Result<(&Granted, InstanceRecord), WitError> {
        let Some(any) = self.grants.0.as_deref() else {
            return Err(WitError::AccessDenied);
        };
        let record = any.workflows.status(id).await.map_err(wit_error)?;
        let granted = self.granted(&record.workflow)?;
        Ok((granted, record))
    }
}

/// The WIT error of `err`.
fn wit_error(err: ClientError) -> WitError {
    match err {
        ClientError::AccessDenied(_) => WitError::AccessDenied,
        ClientError::NotFound(_) => WitError::NotFound,
        ClientError::AlreadyExists(_) => WitError::AlreadyExists,
        ClientError::Invalid(message) => WitError::Invalid(message),
        ClientError::Unavailable(message) => WitError::Unavailable(message),
    }
}

/// `ms` since the Unix epoch as a WASI datetime.
pub fn datetime(ms: u64) -> Datetime {
    Datetime {
        seconds: ms / 1_000,
        nanoseconds: u32::try_from(ms % 1_000).unwrap_or(0) * 1_000_000,
    }
}

/// The WIT status of `record`.
fn status(record: InstanceRecord) -> workflow_types::InstanceStatus {
    workflow_types::InstanceStatus {
        instance_id: record.id,
        workflow: record.workflow,
        runtime_status: match record.status {
            RuntimeStatus::Pending => workflow_types::RuntimeStatus::Pending,
            RuntimeStatus::Running => workflow_types::RuntimeStatus::Running,
            RuntimeStatus::Completed => workflow_types::RuntimeStatus::Completed,
            RuntimeStatus::Failed => workflow_types::RuntimeStatus::Failed,
            RuntimeStatus::Terminated => workflow_types::RuntimeStatus::Terminated,
            RuntimeStatus::ContinuedAsNew => workflow_types::RuntimeStatus::ContinuedAsNew,
        },
        input: record.input,
        output: record.output,
        error: record.error,
        custom_status: record.custom_status,
        created: datetime(record.created_ms),
        last_updated: datetime(record.updated_ms),
    }
}

impl workflow_types::Host for WorkflowClientView<'_> {}

impl workflow_client::Host for WorkflowClientView<'_> {
    async fn start(
        &mut self,
        workflow: String,
        input: Vec<u8>,
        instance_id: Option<String>,
    ) -> wasmtime::Result<Result<String, WitError>> {
        let granted = match self.granted(&workflow) {
            Ok(granted) => granted,
            Err(err) => return Ok(Err(err)),
        };
        let traceparent = Some(self.trace.traceparent());
        Ok(granted
            .workflows
            .start(&workflow, input, instance_id, traceparent)
            .await
            .map_err(wit_error))
    }

    async fn status(
        &mut self,
        instance_id: String,
    ) -> wasmtime::Result<Result<workflow_types::InstanceStatus, WitError>> {
        Ok(self
            .instance(&instance_id)
            .await
            .map(|(_, record)| status(record)))
    }

    async fn raise_event(
        &mut self,
        instance_id: String,
        name: String,
        payload: Vec<u8>,
    ) -> wasmtime::Result<Result<(), WitError>> {
        Ok(match self.instance(&instance_id).await {
            Ok((granted, _)) => granted
                .workflows
                .raise_event(&instance_id, &name, payload)
                .await
                .map_err(wit_error),
            Err(err) => Err(err),
        })
    }

    async fn terminate(
        &mut self,
        instance_id: String,
        reason: String,
    ) -> wasmtime::Result<Result<(), WitError>> {
        Ok(match self.instance(&instance_id).await {
            Ok((granted, _)) => granted
                .workflows
                .terminate(&instance_id, &reason)
                .await
                .map_err(wit_error),
            Err(err) => Err(err),
        })
    }
}

/// Adds `workflow-client` (and its types) to `linker`, each call on the view `view` makes.
///
/// # Errors
/// An interface defined twice (a host bug).
pub fn add_to_linker<T: Send + 'static>(
    linker: &mut Linker<T>,
    view: fn(&mut T) -> WorkflowClientView<'_>,
) -> Result<()> {
    workflow_types::add_to_linker::<T, Client>(linker, view)?;
    workflow_client::add_to_linker::<T, Client>(linker, view)?;
    Ok(())
}

struct Client;

impl HasData for Client {
    type Data<'a> = WorkflowClientView<'a>;
}

//! Layer 7, `wasmhost workflow`: what an operator does to an app's workflow instances
//! (start, status, history, raise an event, terminate, purge, list), on the app's workflow
//! store directly ([`Workflows`]), or through the admin listener of the `serve` that holds it
//! (its workflow management API, [`crate::admin::workflows`]).
//!
//! The workflow store is sled, open in one process at a time: as the queue commands do
//! ([`super::operate`]), each request first opens it here, and if a `serve` holds it, goes
//! through that serve's admin listener (`--admin`, else the one it recorded in
//! [`super::operate::ADMIN_URL_FILE`]) with the admin token. Either way the answers have the
//! shapes of [`crate::operate::workflows`].
//!
//! With nothing serving, what is done here is durable and waits for a `serve` of the app: a
//! started instance stays `Pending`, and a raised event or a termination takes effect at the
//! instance's next turn.

use std::collections::BTreeMap;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use http::Method;
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use serde_json::Value;

use super::open_workflow_store;
use super::operate::{AdminListener, Target, fallback, runtime};
use crate::admin::WORKFLOWS_PATH;
use crate::admin::workflows::INSTANCES;
use crate::capability::workflow::store::ListFilter;
use crate::capability::workflow::{ClientError, Workflows};
use crate::manifest;
use crate::metrics::Metrics;
use crate::operate::workflows::{
    CONTINUATION_HEADER, InstanceStatus, history_event, list_query, or_null,
};
use crate::runtime_config::RuntimeConfig;

/// One workflow operation. Inputs and payloads are bytes, JSON by convention; an empty one
/// is the JSON `null`.
#[derive(Debug, Clone)]
pub enum WorkflowRequest {
    /// Start an instance of `workflow` with `input`, as instance `id` (none: a new UUID).
    Start {
        /// The workflow.
        workflow: String,
        /// Its input.
        input: Vec<u8>,
        /// The instance id to give it.
        id: Option<String>,
    },
    /// The status of instance `id`.
    Status {
        /// The instance.
        id: String,
    },
    /// The history of the current execution of instance `id`.
    History {
        /// The instance.
        id: String,
    },
    /// Raise event `event` with `payload` on instance `id`.
    Raise {
        /// The instance.
        id: String,
        /// The event's name.
        event: String,
        /// Its payload.
        payload: Vec<u8>,
    },
    /// Terminate instance `id` with `reason`.
    Terminate {
        /// The instance.
        id: String,
        /// Why.
        reason: String,
    },
    /// Delete instance `id`, which has ended, with its history.
    Purge {
        /// The instance.
        id: String,
    },
    /// One page of the instances `filter` selects.
    List {
        /// Which instances, and where the page starts.
        filter: ListFilter,
    },
}

/// What a workflow operation gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WorkflowAnswer {
    /// The id of the instance started.
    Started(String),
    /// An instance's status (without its history).
    Status(Box<InstanceStatus>),
    /// An instance's history, each event as [`history_event`] shows it.
    History(Vec<Value>),
    /// The event was raised, the termination sent, or the instance purged.
    Done,
    /// One page of instances, and the token of the next page if there may be one.
    Listed {
        /// The instances, by id.
        instances: Vec<InstanceStatus>,
        /// Give it as [`ListFilter::continuation`] for the next page.
        continuation: Option<String>,
    },
}

/// Does `request` on the workflow instances of `target`'s app: on its workflow store
/// directly, or, when a `serve` whose admin listener is known holds it, through it.
///
/// # Errors
/// A bad manifest or runtime config, an app without workflows, an unknown workflow or
/// instance, a bad id or event name, an id in use, purging an instance that has not ended, an
/// orchestrator file that cannot be read (to start), a store that fails, a store held by
/// another process with no admin listener known (the error names the process and the flag),
/// or an admin listener that refuses or cannot be reached.
pub fn workflow(target: &Target, request: WorkflowRequest) -> Result<WorkflowAnswer> {
    runtime()?.block_on(async {
        let app = manifest::load(&target.app).map_err(super::Errors::from)?;
        if app.workflow_triggers.is_empty() {
            bail!(
                "app `{}` has no workflows: declare them with `[[trigger.workflow]]`",
                app.name
            );
        }
        let config = match &target.runtime_config {
            Some(path) => RuntimeConfig::load(path)?,
            None => RuntimeConfig::default(),
        };
        let metrics = Arc::new(Metrics::new());
        let store = match open_workflow_store(&app, &config, &metrics) {
            Ok(store) => store,
            Err(err) => {
                let admin = fallback(target, app.base_dir(), err)?;
                return through(&admin, request).await;
            }
        };
        let workflows = if matches!(request, WorkflowRequest::Start { .. }) {
            // Only a start needs the orchestrators: the new instance is pinned to its
            // component's digest, which the store keeps.
            Workflows::new(&app, store, metrics.workflows()).await?
        } else {
            Workflows {
                store,
                workflows: BTreeMap::new(),
                metrics: metrics.workflows(),
            }
        };
        Ok(here(&workflows, request).await?)
    })
}

/// Does `request` on `workflows`, opened here.
async fn here(
    workflows: &Workflows,
    request: WorkflowRequest,
) -> Result<WorkflowAnswer, ClientError> {
    Ok(match request {
        WorkflowRequest::Start {
            workflow,
            input,
            id,
        } => WorkflowAnswer::Started(workflows.start(&workflow, or_null(input), id, None).await?),
        WorkflowRequest::Status { id } => {
            let record = workflows.status(&id).await?;
            WorkflowAnswer::Status(Box::new(InstanceStatus::new(&record, None)))
        }
        WorkflowRequest::History { id } => {
            let history = workflows.history(&id).await?;
            WorkflowAnswer::History(history.iter().map(history_event).collect())
        }
        WorkflowRequest::Raise { id, event, payload } => {
            workflows.raise_event(&id, &event, or_null(payload)).await?;
            WorkflowAnswer::Done
        }
        WorkflowRequest::Terminate { id, reason } => {
            workflows.terminate(&id, &reason).await?;
            WorkflowAnswer::Done
        }
        WorkflowRequest::Purge { id } => {
            workflows.purge(&id).await?;
            WorkflowAnswer::Done
        }
        WorkflowRequest::List { filter } => {
            let page = workflows.list(&filter).await?;
            WorkflowAnswer::Listed {
                instances: page
                    .instances
                    .iter()
                    .map(|record| InstanceStatus::new(record, None))
                    .collect(),
                continuation: page.continuation,
            }
        }
    })
}

/// Does `request` through the admin listener `admin`.
async fn through(admin: &AdminListener, request: WorkflowRequest) -> Result<WorkflowAnswer> {
    let encode = |text: &str| utf8_percent_encode(text, NON_ALPHANUMERIC).to_string();
    let instance = |id: &str| format!("{WORKFLOWS_PATH}{INSTANCES}/{}", encode(id));
    let status = |body: &[u8]| -> Result<InstanceStatus> {
        serde_json::from_slice(body).context("the admin listener's status is not one")
    };
    Ok(match request {
        WorkflowRequest::Start {
            workflow,
            input,
            id,
        } => {
            let mut path = format!("{WORKFLOWS_PATH}{}", encode(&workflow));
            if let Some(id) = id {
                path = format!("{path}?instanceId={}", encode(&id));
            }
            let started: Value =
                serde_json::from_slice(&admin.call(Method::POST, &path, None, input).await?)?;
            let id = started["id"]
                .as_str()
                .context("the admin listener's answer to a start has no `id`")?;
            WorkflowAnswer::Started(id.to_owned())
        }
        WorkflowRequest::Status { id } => {
            let body = admin
                .call(Method::GET, &instance(&id), None, Vec::new())
                .await?;
            WorkflowAnswer::Status(Box::new(status(&body)?))
        }
        WorkflowRequest::History { id } => {
            let path = format!("{}?showHistory=true", instance(&id));
            let body = admin.call(Method::GET, &path, None, Vec::new()).await?;
            WorkflowAnswer::History(status(&body)?.history_events.unwrap_or_default())
        }
        WorkflowRequest::Raise { id, event, payload } => {
            let path = format!("{}/raiseEvent/{}", instance(&id), encode(&event));
            admin.call(Method::POST, &path, None, payload).await?;
            WorkflowAnswer::Done
        }
        WorkflowRequest::Terminate { id, reason } => {
            let path = format!("{}/terminate?reason={}", instance(&id), encode(&reason));
            admin.call(Method::POST, &path, None, Vec::new()).await?;
            WorkflowAnswer::Done
        }
        WorkflowRequest::Purge { id } => {
            admin
                .call(Method::DELETE, &instance(&id), None, Vec::new())
                .await?;
            WorkflowAnswer::Done
        }
        WorkflowRequest::List { filter } => {
            let path = format!("{WORKFLOWS_PATH}{INSTANCES}?{}", list_query(&filter));
            let (headers, body) = admin.exchange(Method::GET, &path, None, Vec::new()).await?;
            WorkflowAnswer::Listed {
                instances: serde_json::from_slice(&body)
                    .context("the admin listener's list is not one")?,
                continuation: headers
                    .get(CONTINUATION_HEADER)
                    .and_then(|token| token.to_str().ok())
                    .map(str::to_owned),
            }
        }
    })
}

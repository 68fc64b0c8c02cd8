//! `wasmhost workflow ...`: flags, then [`crate::lifecycle::workflow::workflow`]; start an
//! app's workflows and look at and act on their instances, on the workflow store directly or,
//! while `serve` holds it, through its admin listener (as `wasmhost queue` does).
//!
//! - `start <WORKFLOW>`: starts an instance; prints its id;
//! - `status <ID>`: prints its status as one JSON object;
//! - `history <ID>`: prints its history, one JSON object per event;
//! - `raise <ID> <EVENT>`, `terminate <ID>`, `purge <ID>`: act on it;
//! - `list`: prints one page of instances, one JSON object per line (the next page's token
//!   on stderr).

use std::path::PathBuf;

use anyhow::Result;

use super::queue::AdminArgs;
use crate::admin::workflows::DEFAULT_REASON;
use crate::capability::workflow::history::RuntimeStatus;
use crate::capability::workflow::store::ListFilter;
use crate::lifecycle::workflow::{self, WorkflowAnswer, WorkflowRequest};
use crate::operate::workflows::{DEFAULT_TOP, MAX_TOP, parse_statuses, parse_time};

/// Start an app's workflows, and look at and act on their instances.
#[derive(Debug, clap::Args)]
pub struct WorkflowCommand {
    /// What to do.
    #[command(subcommand)]
    pub action: WorkflowAction,

    /// The manifest, or a directory holding `wasmhost.toml`.
    #[arg(long, global = true, default_value = ".", env = "WASMHOST_APP")]
    pub app: PathBuf,

    /// The runtime config. Without one, the workflow store is sled under
    /// `.wasmhost/workflows` next to the manifest.
    #[arg(long, global = true, env = "WASMHOST_RUNTIME_CONFIG")]
    pub runtime_config: Option<PathBuf>,

    /// The admin listener of the `serve` of this app, to go through while it holds the
    /// workflow store.
    #[command(flatten)]
    pub admin: AdminArgs,
}

/// The workflow subcommands. Instance ids are 1 to 128 letters, digits and `-_.:@`.
#[derive(Debug, clap::Subcommand)]
pub enum WorkflowAction {
    /// Start an instance of a workflow; prints its id once the start is durable. With
    /// nothing serving the app, it stays `Pending` until a `serve` runs it.
    Start {
        /// The workflow: one the app declares in `[[trigger.workflow]]`.
        workflow: String,
        /// The input, as JSON. Default: `null`.
        #[arg(long, conflicts_with = "input_file", value_parser = json_text)]
        input: Option<String>,
        /// The input, read from a file (`-` for stdin), as it is.
        #[arg(long)]
        input_file: Option<PathBuf>,
        /// The instance id. Default: a new UUID.
        #[arg(long)]
        id: Option<String>,
    },
    /// Print an instance's status as one JSON object: `name`, `instanceId`, `runtimeStatus`,
    /// `input`, `output`, `customStatus`, `error`, `createdTime`, `lastUpdatedTime`.
    Status {
        /// The instance id.
        id: String,
    },
    /// Print the history of an instance's current execution, one JSON object per event
    /// (`eventType`, `timestamp`, then the event's fields).
    History {
        /// The instance id.
        id: String,
    },
    /// Raise an event on an instance (ignored once it has ended).
    Raise {
        /// The instance id.
        id: String,
        /// The event's name.
        event: String,
        /// The payload, as JSON. Default: `null`.
        #[arg(long, value_parser = json_text)]
        payload: Option<String>,
    },
    /// Terminate an instance: its next turn ends it, as `Terminated` (nothing happens to one
    /// that has ended).
    Terminate {
        /// The instance id.
        id: String,
        /// Why, kept as its error.
        #[arg(long, default_value = DEFAULT_REASON)]
        reason: String,
    },
    /// Delete an instance that has completed, failed or been terminated, with its history.
    Purge {
        /// The instance id.
        id: String,
    },
    /// Print the instances, by id, one JSON object per line (as `status` prints them); when
    /// there are more, the `--continuation` of the next page goes to stderr.
    List {
        /// Only instances with this runtime status (`Pending`, `Running`, `Completed`,
        /// `Failed`, `Terminated`, `ContinuedAsNew`). Repeatable, or comma-separated.
        #[arg(
            long = "status",
            value_name = "STATUS",
            value_delimiter = ',',
            value_parser = one_status
        )]
        statuses: Vec<RuntimeStatus>,
        /// Only instances created at or after this time (RFC 3339, such as
        /// `2026-01-31T12:00:00Z`).
        #[arg(long, value_name = "TIME", value_parser = parse_time)]
        created_from: Option<u64>,
        /// Only instances created before this time (RFC 3339).
        #[arg(long, value_name = "TIME", value_parser = parse_time)]
        created_to: Option<u64>,
        /// Only instances of this workflow.
        #[arg(long)]
        workflow: Option<String>,
        /// Print at most this many (1 to 1000).
        #[arg(long, default_value_t = DEFAULT_TOP, value_parser = page_size)]
        top: usize,
        /// Start after the previous page (the token it printed).
        #[arg(long, value_name = "TOKEN")]
        continuation: Option<String>,
    },
}

/// `text` if it is JSON.
fn json_text(text: &str) -> Result<String, String> {
    serde_json::from_str::<serde::de::IgnoredAny>(text)
        .map(|_| text.to_owned())
        .map_err(|err| format!("not JSON ({err}); quote a string as '\"text\"'"))
}

/// `text` as a page size: 1 to [`MAX_TOP`].
fn page_size(text: &str) -> Result<usize, String> {
    match text.parse() {
        Ok(top) if (1..=MAX_TOP).contains(&top) => Ok(top),
        _ => Err(format!("expected a whole number from 1 to {MAX_TOP}")),
    }
}

/// The one runtime status `name` names.
fn one_status(name: &str) -> Result<RuntimeStatus, String> {
    match parse_statuses(name)?.as_slice() {
        [status] => Ok(*status),
        _ => Err(format!("expected a runtime status, not `{name}`")),
    }
}

impl WorkflowCommand {
    /// Does the action on the app's workflow instances, here or through the admin listener.
    ///
    /// # Errors
    /// An unreadable `--input-file`, and whatever [`workflow::workflow`] reports.
    pub fn run(self) -> Result<()> {
        let target = self.admin.target(self.app, self.runtime_config)?;
        let request = match self.action {
            WorkflowAction::Start {
                workflow,
                input,
                input_file,
                id,
            } => WorkflowRequest::Start {
                workflow,
                input: match (input, input_file) {
                    (Some(input), _) => input.into_bytes(),
                    (None, Some(path)) => super::read_file_or_stdin(&path)?,
                    (None, None) => Vec::new(),
                },
                id,
            },
            WorkflowAction::Status { id } => WorkflowRequest::Status { id },
            WorkflowAction::History { id } => WorkflowRequest::History { id },
            WorkflowAction::Raise { id, event, payload } => WorkflowRequest::Raise {
                id,
                event,
                payload: payload.unwrap_or_default().into_bytes(),
            },
            WorkflowAction::Terminate { id, reason } => WorkflowRequest::Terminate { id, reason },
            WorkflowAction::Purge { id } => WorkflowRequest::Purge { id },
            WorkflowAction::List {
                statuses,
                created_from,
                created_to,
                workflow,
                top,
                continuation,
            } => WorkflowRequest::List {
                filter: ListFilter {
                    statuses,
                    created_from_ms: created_from,
                    created_to_ms: created_to,
                    workflow,
                    top,
                    continuation,
                },
            },
        };
        let done = match &request {
            WorkflowRequest::Raise { id, event, .. } => {
                format!("event `{event}` raised on instance `{id}`")
            }
            WorkflowRequest::Terminate { id, .. } => format!("instance `{id}` is terminating"),
            WorkflowRequest::Purge { id } => format!("instance `{id}` purged"),
            _ => String::new(),
        };
        match workflow::workflow(&target, request)? {
            WorkflowAnswer::Started(id) => println!("{id}"),
            WorkflowAnswer::Status(status) => println!("{}", serde_json::to_string(&status)?),
            WorkflowAnswer::History(events) => {
                for event in events {
                    println!("{event}");
                }
            }
            WorkflowAnswer::Done => eprintln!("{done}"),
            WorkflowAnswer::Listed {
                instances,
                continuation,
            } => {
                for instance in instances {
                    println!("{}", serde_json::to_string(&instance)?);
                }
                if let Some(token) = continuation {
                    eprintln!("more instances: --continuation {token}");
                }
            }
        }
        Ok(())
    }
}

//! `wasmhost queue ...`: look at and act on an app's queues from the shell, through the same
//! backends `serve` uses (the manifest and runtime config say where each queue lives).
//!
//! - `send <QUEUE>`: sends one message, durably, as a guest's `send` does;
//! - `peek <QUEUE>`: prints the waiting messages, oldest first, without taking them;
//! - `dead-letters <QUEUE>`: the same for the dead-letter queue of `QUEUE`'s trigger;
//! - `redrive <QUEUE>`: moves the dead letters of `QUEUE` back to it, for a fresh set of
//!   attempts (the `wasmhost-error` and `wasmhost-attempts` attributes are dropped).
//!
//! Messages are printed one JSON object per line: `id`, `body` (UTF-8, invalid bytes
//! replaced), `content_type`, `attributes`, `attempts` (deliveries that failed so far),
//! `first_enqueued` and `due` (RFC 3339, UTC), `last_error`.
//!
//! A sled database is held by one process at a time: with the embedded backend, run these
//! while the app is not being served (`serve` reports the lock otherwise). Redis queues can be
//! used while every node serves.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, Result};

use crate::app::App;
use crate::capability::Open;
use crate::capability::queue::{OpenQueue, Queues, StoredMessage};
use crate::manifest;
use crate::metrics::Metrics;
use crate::runtime_config::RuntimeConfig;
use crate::trigger::queue::{ATTEMPTS_ATTRIBUTE, ERROR_ATTRIBUTE};

/// Send, peek at, and redrive the messages of an app's queues.
#[derive(Debug, clap::Args)]
pub struct QueueCommand {
    /// What to do.
    #[command(subcommand)]
    pub action: QueueAction,

    /// The manifest, or a directory holding `wasmhost.toml`.
    #[arg(long, global = true, default_value = ".", env = "WASMHOST_APP")]
    pub app: PathBuf,

    /// The runtime config: where each queue lives. Without one, every queue is sled under
    /// `.wasmhost/queues` next to the manifest.
    #[arg(long, global = true, env = "WASMHOST_RUNTIME_CONFIG")]
    pub runtime_config: Option<PathBuf>,
}

/// The queue subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum QueueAction {
    /// Send one message to a queue; prints its id once it is durable.
    Send {
        /// The queue: one the app names (in `queues`, a trigger, or a dead-letter queue).
        queue: String,
        /// The body, as text.
        #[arg(long, conflicts_with = "body_file")]
        body: Option<String>,
        /// The body, read from a file (`-` for stdin).
        #[arg(long)]
        body_file: Option<PathBuf>,
        /// The content type.
        #[arg(long)]
        content_type: Option<String>,
        /// An attribute, `NAME=VALUE`. Repeatable.
        #[arg(long = "attribute", value_name = "NAME=VALUE")]
        attributes: Vec<String>,
        /// Deliver no sooner than this many milliseconds from now.
        #[arg(long, default_value_t = 0)]
        delay_ms: u64,
    },
    /// Print the waiting messages of a queue (due or delayed), oldest first, without taking
    /// them.
    Peek {
        /// The queue.
        queue: String,
        /// Print at most this many.
        #[arg(long, default_value_t = 100)]
        max: usize,
    },
    /// Print the messages in the dead-letter queue of a queue's trigger.
    DeadLetters {
        /// The queue whose trigger dead-letters (not the dead-letter queue itself).
        queue: String,
        /// Print at most this many.
        #[arg(long, default_value_t = 100)]
        max: usize,
    },
    /// Move the dead letters of a queue back to it, for a fresh set of attempts.
    Redrive {
        /// The queue whose trigger dead-letters.
        queue: String,
        /// Move at most this many.
        #[arg(long, default_value_t = 10_000)]
        max: usize,
    },
}

impl QueueCommand {
    /// Opens the app's queues and does the action.
    ///
    /// # Errors
    /// A bad manifest or runtime config, a queue the app does not name (the error lists those
    /// it does), a queue database held by a running `serve`, an unreadable `--body-file`, a
    /// malformed `--attribute`, or a backend failure.
    pub fn run(self) -> Result<()> {
        let app = manifest::load(&self.app)?;
        let config = match &self.runtime_config {
            Some(path) => RuntimeConfig::load(path)?,
            None => RuntimeConfig::default(),
        };
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("cannot start the tokio runtime")?
            .block_on(async {
                let queues = Queues::open(&app, &config, &Arc::new(Metrics::new())).await?;
                self.action.run(&app, &queues).await
            })
    }
}

impl QueueAction {
    async fn run(self, app: &App, queues: &Queues) -> Result<()> {
        match self {
            Self::Send {
                queue,
                body,
                body_file,
                content_type,
                attributes,
                delay_ms,
            } => {
                let queue = find(queues, &queue)?;
                let body = match (body, body_file) {
                    (Some(body), _) => body.into_bytes(),
                    (None, Some(path)) if path.as_os_str() == "-" => {
                        let mut body = Vec::new();
                        std::io::Read::read_to_end(&mut std::io::stdin(), &mut body)
                            .context("cannot read the body from stdin")?;
                        body
                    }
                    (None, Some(path)) => std::fs::read(&path)
                        .with_context(|| format!("cannot read `{}`", path.display()))?,
                    (None, None) => Vec::new(),
                };
                let attributes = attributes
                    .iter()
                    .map(|a| {
                        a.split_once('=')
                            .map(|(n, v)| (n.to_owned(), v.to_owned()))
                            .with_context(|| format!("--attribute `{a}`: expected NAME=VALUE"))
                    })
                    .collect::<Result<Vec<_>>>()?;
                let message = StoredMessage::new(body, content_type, attributes, delay_ms);
                let ids = queue.send(vec![message]).await.map_err(|err| {
                    anyhow::anyhow!("queue `{}` ({}): {err}", queue.name, queue.description)
                })?;
                println!("{}", ids[0]);
            }
            Self::Peek { queue, max } => print(find(queues, &queue)?, max).await?,
            Self::DeadLetters { queue, max } => {
                print(find(queues, dead_letter(app, &queue)?)?, max).await?;
            }
            Self::Redrive { queue, max } => {
                let target = find(queues, &queue)?;
                let dead = find(queues, dead_letter(app, &queue)?)?;
                let moved = redrive(dead, target, max).await?;
                eprintln!(
                    "moved {moved} messages from `{}` to `{}`",
                    dead.name, target.name
                );
            }
        }
        Ok(())
    }
}

/// The open queue `name`, or an error listing the queues the app names.
fn find<'a>(queues: &'a Queues, name: &str) -> Result<&'a Arc<OpenQueue>> {
    queues.all().find(|q| *q.name == *name).with_context(|| {
        let names: Vec<&str> = queues.all().map(|q| &*q.name).collect();
        format!(
            "the app names no queue `{name}`; its queues are: {}",
            names.join(", ")
        )
    })
}

/// The dead-letter queue of the trigger that consumes `queue`.
fn dead_letter<'a>(app: &'a App, queue: &str) -> Result<&'a str> {
    app.queue_triggers
        .iter()
        .find(|t| t.queue == queue)
        .map(|t| t.dead_letter.as_str())
        .with_context(|| {
            format!(
                "no `[[trigger.queue]]` consumes queue `{queue}`, so it has no dead-letter queue"
            )
        })
}

/// Prints up to `max` waiting messages of `queue`, one JSON object per line.
async fn print(queue: &OpenQueue, max: usize) -> Result<()> {
    let messages =
        queue.backend.peek(max).await.map_err(|err| {
            anyhow::anyhow!("queue `{}` ({}): {err}", queue.name, queue.description)
        })?;
    for message in messages {
        println!("{}", json(&message));
    }
    Ok(())
}

/// Moves up to `max` due messages of `dead` to `target`: each is stored in `target` before it
/// leaves `dead`, so a failure in between leaves a copy in both, never in neither.
async fn redrive(dead: &OpenQueue, target: &OpenQueue, max: usize) -> Result<usize> {
    let failed = |queue: &OpenQueue, err| {
        anyhow::anyhow!("queue `{}` ({}): {err}", queue.name, queue.description)
    };
    let mut moved = 0;
    while moved < max {
        let received = dead
            .backend
            .receive((max - moved).min(100))
            .await
            .map_err(|err| failed(dead, err))?;
        // An entry that does not decode goes back as its bytes.
        let undecodable = received.undecodable.into_iter().map(|bad| bad.entry);
        let batch: Vec<StoredMessage> = received.messages.into_iter().chain(undecodable).collect();
        if batch.is_empty() {
            break;
        }
        let fresh = batch
            .iter()
            .map(|message| {
                let mut fresh = StoredMessage::new(
                    message.body.clone(),
                    message.content_type.clone(),
                    message.attributes.clone(),
                    0,
                );
                fresh
                    .attributes
                    .retain(|(n, _)| n != ERROR_ATTRIBUTE && n != ATTEMPTS_ATTRIBUTE);
                fresh.first_enqueued_ms = message.first_enqueued_ms;
                fresh
            })
            .collect();
        target
            .send(fresh)
            .await
            .map_err(|err| failed(target, err))?;
        dead.backend
            .ack(&batch)
            .await
            .map_err(|err| failed(dead, err))?;
        moved += batch.len();
    }
    Ok(moved)
}

/// `message` as one line of JSON.
fn json(message: &StoredMessage) -> String {
    let time = |ms: u64| {
        chrono::DateTime::from_timestamp_millis(i64::try_from(ms).unwrap_or(i64::MAX))
            .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
    };
    let attributes: serde_json::Map<String, serde_json::Value> = message
        .attributes
        .iter()
        .map(|(n, v)| (n.clone(), serde_json::Value::String(v.clone())))
        .collect();
    serde_json::json!({
        "id": message.id.to_string(),
        "body": String::from_utf8_lossy(&message.body),
        "content_type": message.content_type,
        "attributes": attributes,
        "attempts": message.failures,
        "first_enqueued": time(message.first_enqueued_ms),
        "due": time(message.due_ms),
        "last_error": message.last_error,
    })
    .to_string()
}

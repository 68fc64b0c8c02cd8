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
//! A sled database is held by one process at a time: while `serve` holds it, these go through
//! its admin listener, the one `--admin` gives or else the one `serve` recorded in
//! `.wasmhost/admin-url` if it is on this machine ([`crate::lifecycle::operate`]). Redis queues
//! can be used directly while every node serves.

use std::path::PathBuf;

use anyhow::Result;

use crate::lifecycle::operate::{self, QueueAnswer, QueueRequest};
use crate::operate::Outgoing;

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

    /// The admin listener of the `serve` of this app, to go through while it holds a sled
    /// store.
    #[command(flatten)]
    pub admin: AdminArgs,
}

/// The admin listener to go through when a `serve` holds the app's sled stores.
#[derive(Debug, clap::Args)]
pub struct AdminArgs {
    /// The base URL of the admin listener (`serve --admin-listen`), such as
    /// `http://127.0.0.1:9090`. Used only when a sled store is held by another process (a
    /// `serve` of the app); the command then goes through that serve's admin endpoints.
    /// Default: the address `serve` records in `.wasmhost/admin-url` beside the manifest.
    #[arg(
        long = "admin",
        value_name = "URL",
        global = true,
        env = "WASMHOST_ADMIN_URL"
    )]
    pub url: Option<String>,

    /// A file holding the admin token (as for `serve`); without it, `WASMHOST_ADMIN_TOKEN`.
    #[arg(long, global = true, env = "WASMHOST_ADMIN_TOKEN_FILE")]
    pub admin_token_file: Option<PathBuf>,
}

impl AdminArgs {
    /// The app's target: `app`, `runtime_config`, `--admin` and the admin token.
    ///
    /// # Errors
    /// The admin token's file cannot be read, or the token is not visible ASCII.
    pub(super) fn target(
        &self,
        app: PathBuf,
        runtime_config: Option<PathBuf>,
    ) -> Result<operate::Target> {
        Ok(operate::Target {
            app,
            runtime_config,
            admin_url: self.url.clone(),
            admin_token: crate::admin::AdminToken::resolve(self.admin_token_file.as_deref())?,
        })
    }
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
    /// Does the action on the app's queues, here or through the admin listener.
    ///
    /// # Errors
    /// An unreadable `--body-file`, and whatever [`operate::queue`] reports.
    pub fn run(self) -> Result<()> {
        let target = self.admin.target(self.app, self.runtime_config)?;
        let request = match self.action {
            QueueAction::Send {
                queue,
                body,
                body_file,
                content_type,
                attributes,
                delay_ms,
            } => {
                let body = match (body, body_file) {
                    (Some(body), _) => body.into_bytes(),
                    (None, Some(path)) => super::read_file_or_stdin(&path)?,
                    (None, None) => Vec::new(),
                };
                let message = Outgoing {
                    body,
                    content_type,
                    attributes,
                    delay_ms,
                };
                QueueRequest::Send { queue, message }
            }
            QueueAction::Peek { queue, max } => QueueRequest::Peek { queue, max },
            QueueAction::DeadLetters { queue, max } => QueueRequest::DeadLetters { queue, max },
            QueueAction::Redrive { queue, max } => QueueRequest::Redrive { queue, max },
        };
        match operate::queue(&target, request)? {
            QueueAnswer::Sent(id) => println!("{id}"),
            QueueAnswer::Messages(messages) => {
                for message in messages {
                    println!("{}", serde_json::to_string(&message)?);
                }
            }
            QueueAnswer::Redriven(redriven) => eprintln!(
                "moved {} messages from `{}` to `{}`",
                redriven.moved, redriven.from, redriven.to
            ),
        }
        Ok(())
    }
}

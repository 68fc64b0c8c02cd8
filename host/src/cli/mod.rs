//! The `wasmhost` command line: one struct per subcommand, each with `run()`. The doc comments
//! are the help text; every flag also reads a `WASMHOST_*` environment variable.

mod blob;
mod build;
mod check;
mod cron;
mod keys;
mod new;
mod queue;
mod serve;
mod workflow;

use clap::{Parser, Subcommand};

pub use blob::{BlobAction, BlobCommand};
pub use build::BuildCommand;
pub use check::CheckCommand;
pub use cron::{CronAction, CronCommand};
pub use keys::KeysCommand;
pub use new::NewCommand;
pub use queue::{AdminArgs, QueueAction, QueueCommand};
pub use serve::{LimitArgs, ServeCommand};
pub use workflow::{WorkflowAction, WorkflowCommand};

/// wasmhost: serve WebAssembly components (WASI 0.2) per request, like Spin or Workers.
#[derive(Debug, Parser)]
#[command(name = "wasmhost", version, about, long_about = None)]
pub struct Cli {
    /// Log filter, in `RUST_LOG` syntax (for example `info` or `wasmhost=debug`).
    /// Default: `-v`, else `RUST_LOG`, else `info` for `serve` and `warn` for the others.
    #[arg(long, env = "WASMHOST_LOG", global = true)]
    pub log: Option<String>,

    /// More log lines: `-v` for `info`, `-vv` for `debug`. By default `serve` logs `info`
    /// and the other commands only warnings and errors. `--log` and `RUST_LOG` say more
    /// precisely; `--log` (or `WASMHOST_LOG`) wins over `-v`, which wins over `RUST_LOG`.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,

    /// Log line format on stderr: `text` for people, `json` for machines (one JSON object per
    /// line, with `timestamp`, `level`, `target`, `fields`).
    #[arg(
        long,
        env = "WASMHOST_LOG_FORMAT",
        global = true,
        value_enum,
        default_value_t
    )]
    pub log_format: LogFormat,

    /// Export a span per invocation over OTLP (HTTP/protobuf) to this collector base URL, for
    /// example `http://127.0.0.1:4318` (`/v1/traces` is appended). Off unless given. W3C
    /// `traceparent` is read and propagated either way.
    #[arg(long, env = "OTEL_EXPORTER_OTLP_ENDPOINT", global = true)]
    pub otlp_endpoint: Option<String>,

    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The format of log lines.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines (colored on a terminal).
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve an app: its HTTP routes on `--listen`, one fresh instance per request.
    Serve(ServeCommand),
    /// Build an app's components by running each `[component.<id>.build] command`.
    Build(BuildCommand),
    /// Send to, peek at, and redrive the dead letters of an app's queues.
    Queue(QueueCommand),
    /// Run an app's cron triggers by hand.
    Cron(CronCommand),
    /// Start an app's workflows, and look at and act on their instances.
    Workflow(WorkflowCommand),
    /// Create a guest project from a template (`--list` lists them).
    New(NewCommand),
    /// Validate an app (manifest, runtime config, components, grants) without serving it.
    Check(CheckCommand),
    /// Manage the keys of an app's `function` and `admin` routes.
    Keys(KeysCommand),
    /// List, read, write and delete the objects of an app's blob containers.
    Blob(BlobCommand),
}

impl Cli {
    /// The log filter: `--log`, else `-v`/`-vv`, else `rust_log` (the `RUST_LOG` variable),
    /// else `info` for `serve` and `warn` for the other commands (whose output is their
    /// answer).
    pub fn log_filter(&self, rust_log: Option<String>) -> String {
        let verbose = match self.verbose {
            0 => None,
            1 => Some("info".to_owned()),
            _ => Some("debug".to_owned()),
        };
        let default = match self.command {
            Command::Serve(_) => "info",
            _ => "warn",
        };
        self.log
            .clone()
            .or(verbose)
            .or(rust_log)
            .unwrap_or_else(|| default.to_owned())
    }

    /// Runs the chosen subcommand.
    ///
    /// # Errors
    /// Whatever the subcommand reports; `main` prints the whole cause chain.
    pub fn run(self) -> anyhow::Result<()> {
        match self.command {
            Command::Serve(serve) => serve.run(self.log_format),
            Command::Build(build) => build.run(),
            Command::Queue(queue) => queue.run(),
            Command::Cron(cron) => cron.run(),
            Command::Workflow(workflow) => workflow.run(),
            Command::New(new) => new.run(),
            Command::Check(check) => check.run(),
            Command::Keys(keys) => keys.run(),
            Command::Blob(blob) => blob.run(),
        }
    }
}

/// The bytes of the file at `path`, or of stdin if `path` is `-`.
///
/// # Errors
/// The file or stdin cannot be read; the error names it.
fn read_file_or_stdin(path: &std::path::Path) -> anyhow::Result<Vec<u8>> {
    use anyhow::Context;
    if path.as_os_str() == "-" {
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(&mut std::io::stdin(), &mut bytes)
            .context("cannot read stdin")?;
        Ok(bytes)
    } else {
        std::fs::read(path).with_context(|| format!("cannot read `{}`", path.display()))
    }
}

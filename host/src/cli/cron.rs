//! `wasmhost cron run <TRIGGER>`: flags, then [`crate::lifecycle::operate::run_cron`].

use std::path::PathBuf;

use anyhow::Result;

use super::queue::AdminArgs;
use crate::lifecycle::{LoadOptions, operate};

/// Run an app's cron triggers by hand.
#[derive(Debug, clap::Args)]
pub struct CronCommand {
    /// What to do.
    #[command(subcommand)]
    pub action: CronAction,

    /// The manifest, or a directory holding `wasmhost.toml`.
    #[arg(long, global = true, default_value = ".", env = "WASMHOST_APP")]
    pub app: PathBuf,

    /// The runtime config: where each store and queue lives. Without one, every store and
    /// queue is sled next to the manifest.
    #[arg(long, global = true, env = "WASMHOST_RUNTIME_CONFIG")]
    pub runtime_config: Option<PathBuf>,

    /// Directory of the compile cache. Default: `.wasmhost/cache` next to the manifest.
    #[arg(long, global = true, env = "WASMHOST_CACHE_DIR")]
    pub cache_dir: Option<PathBuf>,

    /// The admin listener of the `serve` of this app, to go through while it holds a sled
    /// store.
    #[command(flatten)]
    pub admin: AdminArgs,
}

/// The cron subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum CronAction {
    /// Run a cron trigger once, now, as a tick of its schedule runs (a fresh instance, the
    /// component's limits and grants); exits non-zero if the run fails. Loads the app in this
    /// process, or, while a `serve` holds its sled stores, runs it in that serve through
    /// `--admin`.
    Run {
        /// The trigger: its component's id, or `<component>#<n>` (from 1, in manifest order)
        /// for a component with several cron triggers.
        trigger: String,

        /// Set an application variable, as `serve --var NAME=VALUE` (when the app is loaded
        /// here). Repeatable.
        #[arg(long = "var", value_name = "NAME=VALUE")]
        vars: Vec<String>,

        /// The host's limits, as `serve` takes them (when the app is loaded here).
        #[command(flatten)]
        limits: Box<super::LimitArgs>,
    },
}

impl CronCommand {
    /// Does the action.
    ///
    /// # Errors
    /// As [`operate::run_cron`].
    pub fn run(self) -> Result<()> {
        let target = self.admin.target(self.app, self.runtime_config)?;
        match self.action {
            CronAction::Run {
                trigger,
                vars,
                limits,
            } => {
                let load = LoadOptions {
                    cache_dir: self.cache_dir,
                    vars: super::serve::parse_vars(&vars)?,
                    limits: limits.limits(),
                    ..LoadOptions::default()
                };
                operate::run_cron(&target, &trigger, load)?;
                eprintln!("cron trigger `{trigger}` ran");
            }
        }
        Ok(())
    }
}

//! `wasmhost check [PATH]`: validates an app without serving it ([`crate::lifecycle::check()`]),
//! printing one line per warning and a summary.

use std::path::PathBuf;

use anyhow::Result;

use crate::lifecycle::{self, LoadOptions};

/// Validate an app without serving it.
#[derive(Debug, clap::Args)]
pub struct CheckCommand {
    /// The manifest, or a directory holding `wasmhost.toml`.
    #[arg(default_value = ".", env = "WASMHOST_APP")]
    pub path: PathBuf,

    /// The runtime config to check the grants against (as `serve --runtime-config`).
    #[arg(long, env = "WASMHOST_RUNTIME_CONFIG")]
    pub runtime_config: Option<PathBuf>,

    /// Directory of the compile cache. Default: `.wasmhost/cache` next to the manifest.
    #[arg(long, env = "WASMHOST_CACHE_DIR")]
    pub cache_dir: Option<PathBuf>,

    /// Set an application variable, as `serve --var NAME=VALUE`. Repeatable.
    #[arg(long = "var", value_name = "NAME=VALUE")]
    pub vars: Vec<String>,

    /// The host's limits to check the components' `[component.<id>.limits]` against, as
    /// `serve` takes them.
    #[command(flatten)]
    pub limits: super::LimitArgs,
}

impl CheckCommand {
    /// Checks the app; prints one line per warning and a summary on stdout.
    ///
    /// # Errors
    /// As [`lifecycle::check()`].
    pub fn run(self) -> Result<()> {
        let report = lifecycle::check(LoadOptions {
            path: self.path,
            runtime_config: self.runtime_config,
            cache_dir: self.cache_dir,
            vars: super::serve::parse_vars(&self.vars)?,
            limits: self.limits.limits(),
            ..LoadOptions::default()
        })?;
        for (location, warning) in &report.warnings {
            println!("{location}: warning: {warning}");
        }
        println!(
            "{}: {} component(s) checked, {} warning(s)",
            report.manifest.display(),
            report.components,
            report.warnings.len()
        );
        Ok(())
    }
}

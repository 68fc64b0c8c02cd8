//! `wasmhost build [PATH]`: runs each component's build command in its directory, shows the
//! compiler's output as it comes, and ends with a summary of sizes and times.

use anyhow::Result;
use std::path::PathBuf;

use crate::lifecycle::build_app;
use crate::manifest;

/// Build an app's components.
#[derive(Debug, clap::Args)]
pub struct BuildCommand {
    /// The manifest, or a directory holding `wasmhost.toml`.
    #[arg(default_value = ".", env = "WASMHOST_APP")]
    pub path: PathBuf,
}

impl BuildCommand {
    /// Loads the manifest and builds every component that has a build command.
    ///
    /// # Errors
    /// A bad manifest; a build command that cannot start or exits non-zero (naming the
    /// component and the command).
    pub fn run(self) -> Result<()> {
        let app = manifest::load(&self.path)?;
        build_app(&app)
    }
}

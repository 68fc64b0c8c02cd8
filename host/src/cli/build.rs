//! `wasmhost build [PATH]`: runs each component's build command in its directory, shows the
//! compiler's output as it comes, and ends with a summary of sizes and times.

use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, Result, bail};

use crate::app::App;
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

/// Runs the build command of every component of `app` that has one, in manifest order, with
/// `sh -c` in the command's working directory. Progress goes to stderr; the compiler's own
/// output is passed through.
///
/// # Errors
/// The first command that cannot start or exits non-zero, naming the component, the command,
/// the directory and the exit status.
pub fn build_app(app: &App) -> Result<()> {
    let total = app.components.iter().filter(|c| c.build.is_some()).count();
    if total == 0 {
        eprintln!("No component of app `{}` has a build command.", app.name);
        return Ok(());
    }
    let started = Instant::now();
    let mut summary = Vec::with_capacity(total);
    for (n, component) in app
        .components
        .iter()
        .filter(|c| c.build.is_some())
        .enumerate()
    {
        let build = component
            .build
            .as_ref()
            .expect("filtered on build commands");
        eprintln!(
            "[{}/{total}] Building component `{}`: {}",
            n + 1,
            component.id,
            build.command
        );
        let one = Instant::now();
        let status = Command::new("sh")
            .arg("-c")
            .arg(&build.command)
            .current_dir(&build.workdir)
            .status()
            .with_context(|| {
                format!(
                    "component `{}`: cannot run its build command in `{}`",
                    component.id,
                    build.workdir.display()
                )
            })?;
        if !status.success() {
            bail!(
                "component `{}`: build command `{}` failed ({status}) in `{}`",
                component.id,
                build.command,
                build.workdir.display()
            );
        }
        let size = std::fs::metadata(&component.source).map(|m| m.len()).ok();
        summary.push((component.id.to_string(), size, one.elapsed()));
    }
    eprintln!(
        "Built {total} component(s) in {:.1} s:",
        started.elapsed().as_secs_f64()
    );
    for (id, size, took) in summary {
        let size = size.map_or_else(
            || "output file missing".to_owned(),
            |bytes| format!("{:.1} KiB", bytes as f64 / 1024.0),
        );
        eprintln!("  {id:<24} {size:>14}  {:.1} s", took.as_secs_f64());
    }
    Ok(())
}

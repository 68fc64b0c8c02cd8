//! Layer 7: building an app's components, for `wasmhost build` and for `serve --build` and
//! `--watch` before each load. Each `[component.<id>.build] command` runs with `sh -c` in its
//! working directory; the compiler's output is passed through and a summary of sizes and times
//! ends it.

use std::process::Command;
use std::time::Instant;

use anyhow::{Context, Result, bail};

use crate::app::App;

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

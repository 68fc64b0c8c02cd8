//! `wasmhost check [PATH]`: validates an app without serving it. It runs every startup check
//! that does not need a backend:
//! - the manifest and the runtime config (errors name file:line:col and the field);
//! - every granted store defined;
//! - every component file present, compiled (through the compile cache), linked against
//!   every capability, and exporting what its triggers call.
//!
//! It then warns, at the component's `source` line, about a mismatch between what a
//! component imports and what its manifest grants: an import with no grant fails at run time
//! (`access-denied`), and a grant with no import is unused.

use std::path::PathBuf;

use anyhow::Result;

use crate::app::Component;
use crate::compile_cache::CompileCache;
use crate::limits::Limits;
use crate::manifest;
use crate::runtime::{check_component, linker};
use crate::runtime_config::RuntimeConfig;

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
}

impl CheckCommand {
    /// Checks the app; prints one line per warning and a summary on stdout.
    ///
    /// # Errors
    /// The first error `serve` would stop at before binding its listeners: a bad manifest or
    /// runtime config, an undefined store, a missing, invalid or unlinkable component file, a
    /// missing export.
    pub fn run(self) -> Result<()> {
        let app = manifest::load(&self.path)?;
        let config = match &self.runtime_config {
            Some(path) => RuntimeConfig::load(path)?,
            None => RuntimeConfig::default(),
        };
        config.check_grants(&app)?;
        manifest::check_sources(&app)?;
        let engine = Limits::default().engine_settings().build()?;
        let cache_dir = self
            .cache_dir
            .clone()
            .unwrap_or_else(|| app.base_dir().join(".wasmhost/cache"));
        let cache = CompileCache::new(cache_dir, &engine);
        let linker = linker(&engine)?;
        let mut warnings = 0;
        for (index, component) in app.components.iter().enumerate() {
            let imports = check_component(&app, index, &engine, &linker, &cache)?;
            for warning in mismatches(component, &imports) {
                println!("{}: warning: {warning}", component.source_location);
                warnings += 1;
            }
        }
        println!(
            "{}: {} component(s) checked, {warnings} warning(s)",
            app.manifest_path.display(),
            app.components.len()
        );
        Ok(())
    }
}

/// Where imports and grants of `component` disagree, in words.
fn mismatches(component: &Component, imports: &[String]) -> Vec<String> {
    let imports_any = |prefix: &str| imports.iter().any(|name| name.starts_with(prefix));
    let id = &component.id;
    let outbound = &component.outbound_http;
    let checks = [
        (
            "wasi:keyvalue/",
            !component.key_value_stores.is_empty(),
            "key_value_stores",
        ),
        (
            "wasmhost:host/queue@",
            !component.queues.is_empty() || !component.topics.is_empty(),
            "queues or topics",
        ),
        (
            "wasi:http/outgoing-handler@",
            !outbound.allowed_hosts.is_empty() || !outbound.chain_targets.is_empty(),
            "allowed_outbound_hosts",
        ),
        (
            "wasi:config/store@",
            !component.config.is_empty(),
            "[component.<id>.variables]",
        ),
    ];
    checks
        .into_iter()
        .filter_map(|(import, granted, field)| match (imports_any(import), granted) {
            (true, false) => Some(format!(
                "component `{id}` imports `{import}` but is granted no {field}: every such call fails at run time"
            )),
            (false, true) => Some(format!(
                "component `{id}` is granted {field} but does not import `{import}`: the grant is unused"
            )),
            _ => None,
        })
        .collect()
}

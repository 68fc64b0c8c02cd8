//! Layer 7: `wasmhost check`, every startup check that does not need a backend, without
//! serving:
//! - the manifest and the runtime config (errors name file:line:col and the field);
//! - every granted store defined, every consumed queue's visibility timeout long enough;
//! - every variable given a value (`--var`, `WASMHOST_VAR_<NAME>`, defaults), and every
//!   templated `allowed_outbound_hosts` entry rendered with them and parsed;
//! - every component limit within the host's (the limit flags `serve` takes), and a routing
//!   table without two routes of one shape (the same `Loader::validate` as `serve`);
//! - every component file present, compiled (through the compile cache), linked against
//!   every capability, and exporting what its triggers call.
//!
//! It then warns, at the component's `source` line, about a mismatch between what a
//! component imports and what its manifest grants: an import with no grant fails at run time
//! (`access-denied`), and a grant with no import is unused; and about the Spin interfaces a
//! component imports that wasmhost links as traps.

use std::path::PathBuf;

use anyhow::Result;

use super::{Errors, LoadOptions, Loader};
use crate::app::{Component, Location};
use crate::app_version::{check_component, linker};
use crate::capability::spin;
use crate::manifest;

/// What [`check()`] found in an app that passes every check.
#[derive(Debug)]
pub struct CheckReport {
    /// The manifest checked.
    pub manifest: PathBuf,
    /// How many components were checked.
    pub components: usize,
    /// Each warning, at the `source` line of the component it concerns.
    pub warnings: Vec<(Location, String)>,
}

/// Checks the app of `options` (its manifest, runtime config, compile cache, variables and
/// limits; the rest is ignored) as `serve` would before binding its listeners: the same
/// [`Loader::validate`], then every component file.
///
/// # Errors
/// Every error `serve` would stop at before binding its listeners, as [`super::Errors`] when
/// there are several: a bad manifest or runtime config, an undefined store, a required
/// variable with no value, an allowed host that does not render, a component limit above
/// the host's, a missing, invalid or unlinkable component file, a missing export.
pub fn check(options: LoadOptions) -> Result<CheckReport> {
    let (loader, app) = Loader::new(options)?;
    let mut errors = Errors::default();
    errors.take(loader.validate(&app));
    let shared = &loader.shared;
    let linker = linker(&shared.engine)?;
    let mut warnings: Vec<(Location, String)> = app
        .warnings
        .iter()
        .map(|warning| (warning.location.clone(), warning.message.clone()))
        .collect();
    for (index, component) in app.components.iter().enumerate() {
        if errors.take(manifest::check_source(component)).is_none() {
            continue;
        }
        let Some(checked) = errors.take(check_component(
            &app,
            index,
            &shared.engine,
            &linker,
            &shared.cache,
        )) else {
            continue;
        };
        for warning in mismatches(component, &checked.imports) {
            warnings.push((component.source_location.clone(), warning));
        }
        if !checked.trapped.is_empty() {
            let warning = format!(
                "component `{}` {} ({})",
                component.id,
                spin::TRAPPED,
                checked.trapped.join(", ")
            );
            warnings.push((component.source_location.clone(), warning));
        }
    }
    errors.into_result()?;
    Ok(CheckReport {
        manifest: app.manifest_path.clone(),
        components: app.components.len(),
        warnings,
    })
}

/// Where imports and grants of `component` disagree, in words. Each grant is used by the
/// imports of some prefixes (Spin's own interfaces after the standard one); a warning about
/// an import names each such interface in full and the manifest line that would grant it.
fn mismatches(component: &Component, imports: &[String]) -> Vec<String> {
    let id = &component.id;
    let outbound = &component.outbound_http;
    let checks: [(&[&str], bool, &str, String); 5] = [
        (
            &["wasi:keyvalue/", "fermyon:spin/key-value@"],
            !component.key_value_stores.is_empty(),
            "key_value_stores",
            format!("add `key_value_stores = [\"default\"]` to [component.{id}]"),
        ),
        (
            &["wasmhost:host/queue@"],
            !component.queues.is_empty() || !component.topics.is_empty(),
            "queues or topics",
            format!("add `queues = [\"<queue>\"]` or `topics = [\"<topic>\"]` to [component.{id}]"),
        ),
        (
            &["wasi:http/outgoing-handler@"],
            !outbound.allowed_hosts.is_empty() || !outbound.chain_targets.is_empty(),
            "allowed_outbound_hosts",
            format!("add `allowed_outbound_hosts = [\"https://<host>\"]` to [component.{id}]"),
        ),
        (
            &["wasi:config/store@", "fermyon:spin/variables@"],
            !component.config.is_empty(),
            "[component.<id>.variables]",
            format!(
                "add a `[component.{id}.variables]` table of `<key> = \"{{{{ <variable> }}}}\"`"
            ),
        ),
        (
            &["wasi:blobstore/"],
            !component.blob_containers.is_empty(),
            "blob_containers",
            format!("add `blob_containers = [\"<container>\"]` to [component.{id}]"),
        ),
    ];
    checks
        .into_iter()
        .filter_map(|(prefixes, granted, field, grant)| {
            let imported: Vec<String> = imports
                .iter()
                .filter(|name| prefixes.iter().any(|prefix| name.starts_with(prefix)))
                .map(|name| format!("`{name}`"))
                .collect();
            match (imported.is_empty(), granted) {
                (false, false) => Some(format!(
                    "component `{id}` imports {} but is granted no {field}: every such call fails at run time; to grant it, {grant}",
                    imported.join(", ")
                )),
                (true, true) => Some(format!(
                    "component `{id}` is granted {field} but imports no `{}*` interface: the grant is unused",
                    prefixes[0]
                )),
                _ => None,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::mismatches;

    /// A warning names each interface in full and the line that would grant it.
    #[test]
    fn grant_warnings_name_the_interface_and_the_grant() {
        let text = "manifest_version = 1\n[application]\nname = \"x\"\n\
                    [component.counter]\nsource = \"c.wasm\"\n\
                    [component.hello]\nsource = \"h.wasm\"\nkey_value_stores = [\"default\"]\n";
        let app = crate::manifest::parse(std::path::Path::new("/app/wasmhost.toml"), text).unwrap();
        let imports = [
            "wasi:keyvalue/store@0.2.0-draft",
            "wasi:keyvalue/atomics@0.2.0-draft",
            "wasi:config/store@0.2.0-draft",
            "wasi:http/outgoing-handler@0.2.6",
            "wasi:cli/stdout@0.2.6",
        ]
        .map(str::to_owned);
        let mut warnings = mismatches(&app.components[0], &imports);
        warnings.extend(mismatches(&app.components[1], &[]));
        insta::assert_snapshot!(warnings.join("\n"));
    }
}

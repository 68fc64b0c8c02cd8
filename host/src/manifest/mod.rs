//! Layer 2, startup steps 1 and 2 (see [`crate`]): read `wasmhost.toml` into raw serde types
//! (`raw`), then check and resolve them into the [`App`] model. Every error names the file,
//! line, column and field.
//!
//! The format (manifest version 1) is documented key by key, with a complete example, in
//! `docs/reference/manifest.md`; `host/tests/docs.rs` checks that page against the raw types
//! and parses its example. One module per section: [`component`] (`[component.<id>]`),
//! [`http`] (`[[trigger.http]]`), [`queue`] (`[[trigger.queue]]`, `[[trigger.topic]]`,
//! `[[trigger.blob]]`), [`cron`] (`[[trigger.cron]]`), [`workflow`] (`[[trigger.workflow]]`,
//! `[[trigger.activity]]`, the `workflows` grant, the orchestrators' sandbox); `[variables]`
//! and `[application]` are checked here. `allowed_outbound_hosts` syntax:
//! [`crate::allowed_hosts`].

mod component;
mod cron;
mod error;
mod http;
mod queue;
mod raw;
mod spin;
mod workflow;

use std::collections::HashMap;
use std::ops::Range;
use std::path::{Path, PathBuf};

pub(crate) use error::write_lines;
pub use error::{ManifestError, ManifestErrorKind, ManifestErrors};
use raw::RawManifest;

use crate::app::{App, Component, Location, ManifestFormat};
use crate::toml_doc::TomlDoc;
use crate::variables::{Variable, is_variable_name};

/// The file name looked for when a directory is given.
pub const MANIFEST_FILE: &str = "wasmhost.toml";

/// The file name of a Spin manifest, looked for when a directory has no [`MANIFEST_FILE`].
pub const SPIN_MANIFEST_FILE: &str = "spin.toml";

/// Resolves a path given on the command line to a manifest file: a directory means its
/// `wasmhost.toml`, else its `spin.toml` if it has one.
pub fn manifest_path(path: &Path) -> PathBuf {
    if path.is_dir() {
        let own = path.join(MANIFEST_FILE);
        let spin = path.join(SPIN_MANIFEST_FILE);
        if !own.exists() && spin.exists() {
            spin
        } else {
            own
        }
    } else {
        path.to_owned()
    }
}

/// Reads and checks the manifest at `path` (a file, or a directory holding `wasmhost.toml`).
///
/// Component files are not required to exist yet (they may still have to be built); call
/// [`check_sources`] before loading them.
///
/// # Errors
/// [`ManifestErrors`]: a missing or unreadable file, or TOML syntax (one error); or every error
/// of the checks, each section checked even when another fails: TOML syntax, an unknown or missing field, a
/// `manifest_version` other than 1, a component id that is not kebab-case, a bad route, a
/// route that duplicates another, a trigger naming an undefined component, a workflow or
/// activity name that is bad or taken, a workflow or grant naming an undefined activity or
/// workflow, or an orchestrator that another trigger names or that has a capability grant.
pub fn load(path: &Path) -> Result<App, ManifestErrors> {
    let file = manifest_path(path);
    let (file, text) = crate::toml_doc::read(&file).map_err(|(location, err)| {
        let kind = if file.exists() {
            ManifestErrorKind::Io(err)
        } else {
            ManifestErrorKind::NoManifest {
                spin: path
                    .is_dir()
                    .then(|| location.file.with_file_name(SPIN_MANIFEST_FILE)),
            }
        };
        ManifestError { location, kind }
    })?;
    parse(&file, &text)
}

/// Checks and resolves manifest `text` read from `file` (absolute). See [`load`].
///
/// # Errors
/// As [`load`], but never an I/O error.
pub fn parse(file: &Path, text: &str) -> Result<App, ManifestErrors> {
    let doc = Doc(TomlDoc { file, text });
    let syntax = |err: crate::toml_doc::TomlError| ManifestError {
        location: err.location,
        kind: ManifestErrorKind::Syntax {
            table: err.table,
            message: err.message,
        },
    };
    let (raw, format, warnings) = if spin::is_spin_manifest(text) {
        spin::check_version(&doc)?;
        let manifest: spin::SpinManifest = doc.0.parse().map_err(syntax)?;
        let (raw, warnings) = spin::translate(&doc, manifest)?;
        (raw, ManifestFormat::Spin, warnings)
    } else {
        let raw: RawManifest = doc.0.parse().map_err(syntax)?;
        (raw, ManifestFormat::Wasmhost, Vec::new())
    };

    if *raw.manifest_version.get_ref() != 1 {
        return Err(doc
            .error(
                raw.manifest_version.span(),
                ManifestErrorKind::Version(*raw.manifest_version.get_ref()),
            )
            .into());
    }
    let mut errors = Vec::new();
    let name = raw.application.name.get_ref().trim();
    if name.is_empty() {
        errors.push(doc.error(raw.application.name.span(), ManifestErrorKind::EmptyName));
    }

    // Each section is checked even when another fails, so that one run shows every error;
    // the triggers find components by the `[component.<id>]` keys if those fail.
    let variables = keep(&mut errors, check_variables(&doc, &raw));
    let components = variables.as_ref().and_then(|variables| {
        keep(
            &mut errors,
            component::check_components(&doc, &raw, variables),
        )
    });
    let index = match &components {
        Some((_, index)) => index.clone(),
        None => raw
            .component
            .keys()
            .enumerate()
            .map(|(i, key)| (key.get_ref().clone(), i))
            .collect(),
    };
    let http_triggers = keep(&mut errors, http::check_http_triggers(&doc, &raw, &index));
    let cron_triggers = keep(&mut errors, cron::check_cron_triggers(&doc, &raw, &index));
    let queue_triggers = keep(&mut errors, queue::check_queue_triggers(&doc, &raw, &index));
    let workflow_triggers = keep(
        &mut errors,
        workflow::check_workflow_triggers(&doc, &raw, &index),
    );
    let (
        Some(variables),
        Some((components, _)),
        Some(http_triggers),
        Some(cron_triggers),
        Some((queue_triggers, topics, blob_triggers)),
        Some((workflow_triggers, activity_triggers)),
        true,
    ) = (
        variables,
        components,
        http_triggers,
        cron_triggers,
        queue_triggers,
        workflow_triggers,
        errors.is_empty(),
    )
    else {
        return Err(ManifestErrors(errors));
    };

    Ok(App {
        name: name.to_owned(),
        version: raw.application.version,
        description: raw.application.description,
        authors: raw.application.authors,
        manifest_path: file.to_owned(),
        components,
        http_triggers,
        cron_triggers,
        queue_triggers,
        topics,
        blob_triggers,
        workflow_triggers,
        activity_triggers,
        variables,
        format,
        warnings,
    })
}

/// The value of `result`, or `None` with its errors added to `errors`.
fn keep<T>(
    errors: &mut Vec<ManifestError>,
    result: Result<T, impl Into<ManifestErrors>>,
) -> Option<T> {
    result.map_err(|err| errors.extend(err.into().0)).ok()
}

/// The index of the component that `[[trigger.<trigger>]]` number `i` names (`component`).
///
/// # Errors
/// [`ManifestErrorKind::UnknownComponent`] at `component`, listing the ids that are defined.
fn trigger_component(
    doc: &Doc<'_>,
    raw: &RawManifest,
    index: &HashMap<String, usize>,
    trigger: &'static str,
    i: usize,
    component: &toml::Spanned<String>,
) -> Result<usize, ManifestError> {
    index.get(component.get_ref()).copied().ok_or_else(|| {
        doc.error(
            component.span(),
            ManifestErrorKind::UnknownComponent {
                trigger,
                index: i,
                id: component.get_ref().clone(),
                defined: raw.component.keys().map(|k| k.get_ref().clone()).collect(),
            },
        )
    })
}

/// Checks `[variables]`: names, and exactly one of `default` and `required = true` each.
fn check_variables(doc: &Doc<'_>, raw: &RawManifest) -> Result<Vec<Variable>, ManifestError> {
    raw.variables
        .iter()
        .map(|(name, variable)| {
            let id = name.get_ref();
            if !is_variable_name(id) {
                return Err(doc.error(name.span(), ManifestErrorKind::VariableName(id.clone())));
            }
            let spec = variable.get_ref();
            if spec.default.is_some() == spec.required {
                return Err(doc.error(
                    variable.span(),
                    ManifestErrorKind::VariableDefault(id.clone()),
                ));
            }
            Ok(Variable {
                name: id.clone(),
                default: spec.default.clone(),
                secret: spec.secret,
                location: doc.location(name.span()),
            })
        })
        .collect()
}

/// Checks that every component's `source` file exists.
///
/// # Errors
/// As [`check_source`], for the first missing file.
pub fn check_sources(app: &App) -> Result<(), ManifestError> {
    app.components.iter().try_for_each(check_source)
}

/// Checks that `component`'s `source` file exists.
///
/// # Errors
/// [`ManifestErrorKind::MissingSource`] at the `source` field.
pub fn check_source(component: &Component) -> Result<(), ManifestError> {
    if component.source.is_file() {
        return Ok(());
    }
    Err(ManifestError {
        location: component.source_location.clone(),
        kind: ManifestErrorKind::MissingSource {
            id: component.id.to_string(),
            path: component.source.clone(),
            has_build: component.build.is_some(),
        },
    })
}

/// The manifest text, for turning byte spans into line and column.
struct Doc<'a>(TomlDoc<'a>);

impl Doc<'_> {
    fn location(&self, span: Range<usize>) -> Location {
        self.0.location(span)
    }

    fn error(&self, span: Range<usize>, kind: ManifestErrorKind) -> ManifestError {
        ManifestError {
            location: self.location(span),
            kind,
        }
    }
}

#[cfg(test)]
mod spin_tests;
#[cfg(test)]
mod tests;

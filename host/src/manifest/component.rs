//! Layer 2, startup step 2: the `[component.<id>]` tables of the manifest, checked into
//! [`Component`]s.

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use toml::Spanned;

use super::raw::{RawComponent, RawFiles, RawManifest};
use super::{Doc, ManifestError, ManifestErrorKind};
use crate::allowed_hosts::AllowedHostError;
use crate::app::{
    AllowedHostEntry, BuildCommand, Component, ComponentId, ComponentLimits, FileMount,
    KeyValueGrant, OutboundHttpGrant, OutboundLimits, StagedFile, is_label,
};
use crate::variables::{Template, TemplateError, Variable, is_variable_name};

/// Checks every `[component.<id>]`: its id, source, build command, grants (key-value stores,
/// queues, topics, config keys over `variables`, outbound hosts and internal chaining) and
/// limits. Returns the components, in manifest order, and the index of each id.
pub(super) fn check_components(
    doc: &Doc<'_>,
    raw: &RawManifest,
    variables: &[Variable],
) -> Result<(Vec<Component>, HashMap<String, usize>), ManifestError> {
    let base = doc.0.file.parent().unwrap_or(Path::new("/"));
    let mut components = Vec::with_capacity(raw.component.len());
    let mut index = HashMap::new();
    for (key, component) in &raw.component {
        let id: ComponentId = key
            .get_ref()
            .parse()
            .map_err(|err| doc.error(key.span(), ManifestErrorKind::ComponentId(err)))?;
        let build = component.build.as_ref().map(|build| BuildCommand {
            command: build.command.get_ref().clone(),
            workdir: build
                .workdir
                .as_ref()
                .map_or_else(|| base.to_owned(), |w| base.join(w.get_ref())),
        });
        let mut key_value_stores: Vec<KeyValueGrant> = Vec::new();
        for label in &component.key_value_stores {
            let (id, name) = (key.get_ref().clone(), label.get_ref().clone());
            let kind = if !is_label(&name) {
                ManifestErrorKind::StoreLabel {
                    component: id,
                    label: name,
                }
            } else if key_value_stores.iter().any(|grant| grant.label == name) {
                ManifestErrorKind::DuplicateStore {
                    component: id,
                    label: name,
                }
            } else {
                key_value_stores.push(KeyValueGrant {
                    label: name,
                    location: doc.location(label.span()),
                });
                continue;
            };
            return Err(doc.error(label.span(), kind));
        }
        let queues = check_name_grant(doc, key.get_ref(), "queues", &component.queues)?;
        let topics = check_name_grant(doc, key.get_ref(), "topics", &component.topics)?;
        let blob_containers = check_name_grant(
            doc,
            key.get_ref(),
            "blob_containers",
            &component.blob_containers,
        )?;
        index.insert(key.get_ref().clone(), components.len());
        components.push(Component {
            id,
            description: component.description.clone(),
            source: base.join(component.source.get_ref()),
            source_location: doc.location(component.source.span()),
            build,
            key_value_stores,
            queues,
            topics,
            blob_containers,
            // Checked against the `[[trigger.workflow]]` names by `super::workflow`.
            workflows: component
                .workflows
                .iter()
                .map(|name| name.get_ref().clone())
                .collect(),
            config: check_config(doc, key.get_ref(), &component.variables, variables)?,
            outbound_http: OutboundHttpGrant {
                allowed_hosts: check_allowed_hosts(doc, key.get_ref(), component, variables)?,
                chain_targets: Vec::new(),
                limits: check_outbound_limits(doc, key.get_ref(), component)?,
            },
            limits: check_limits(doc, key.get_ref(), component)?,
            memory_mb_location: component
                .limits
                .as_ref()
                .and_then(|limits| limits.memory_mb.as_ref())
                .map(|memory_mb| doc.location(memory_mb.span())),
            environment: check_environment(doc, key.get_ref(), component, variables)?,
            files: check_files(doc, key.get_ref(), component, base)?,
        });
    }
    resolve_chain_targets(doc, raw, &mut components, &index)?;
    Ok((components, index))
}

/// Checks a component's `queues`, `topics` or `blob_containers` (`field`): valid names
/// ([`is_label`]), none twice.
fn check_name_grant(
    doc: &Doc<'_>,
    component: &str,
    field: &'static str,
    names: &[Spanned<String>],
) -> Result<Vec<String>, ManifestError> {
    let what = match field {
        "topics" => "topic",
        "blob_containers" => "container",
        _ => "queue",
    };
    let field = format!("component.{component}.{field}");
    let mut checked: Vec<String> = Vec::with_capacity(names.len());
    for name in names {
        let text = name.get_ref();
        let kind = if !is_label(text) {
            ManifestErrorKind::Name {
                field,
                what,
                name: text.clone(),
            }
        } else if checked.contains(text) {
            ManifestErrorKind::ListedTwice {
                field,
                name: text.clone(),
            }
        } else {
            checked.push(text.clone());
            continue;
        };
        return Err(doc.error(name.span(), kind));
    }
    Ok(checked)
}

/// The error of a component field (`environment.NAME`, `files`, `exclude_files`) at `span`.
fn field_error(
    doc: &Doc<'_>,
    span: std::ops::Range<usize>,
    component: &str,
    field: String,
    message: String,
) -> ManifestError {
    doc.error(
        span,
        ManifestErrorKind::ComponentField {
            component: component.to_owned(),
            field,
            message,
        },
    )
}

/// Checks `environment`: names (no `=`, no NUL, not empty), templates and their variables.
fn check_environment(
    doc: &Doc<'_>,
    component: &str,
    raw: &RawComponent,
    variables: &[Variable],
) -> Result<Vec<(String, Template)>, ManifestError> {
    raw.environment
        .iter()
        .map(|(name, value)| {
            let field = format!("environment.{}", name.get_ref());
            let bad_name = name.get_ref().is_empty() || name.get_ref().contains(['=', '\0']);
            if bad_name {
                let message = "an environment variable name must be non-empty, without `=` or NUL";
                return Err(field_error(
                    doc,
                    name.span(),
                    component,
                    field,
                    message.into(),
                ));
            }
            let error =
                |message: String| field_error(doc, value.span(), component, field.clone(), message);
            let template: Template = value
                .get_ref()
                .parse()
                .map_err(|err: TemplateError| error(err.to_string()))?;
            if let Some(undeclared) = undeclared_variable(&template, variables) {
                return Err(error(format!(
                    "variable `{undeclared}` is not declared in `[variables]`"
                )));
            }
            Ok((name.get_ref().clone(), template))
        })
        .collect()
}

/// Checks `files` and `exclude_files` (glob syntax as the `glob` crate's: `*`, `?`, `[..]`,
/// `**`), relative to `base`: a directory placement must name an existing directory and an
/// absolute destination; patterns are expanded now, minus the exclusions, into the files to
/// stage. A pattern may match nothing (as in Spin).
fn check_files(
    doc: &Doc<'_>,
    component: &str,
    raw: &RawComponent,
    base: &Path,
) -> Result<Vec<FileMount>, ManifestError> {
    let error = |span, field: &str, message: String| {
        field_error(doc, span, component, field.to_owned(), message)
    };
    let excluded = raw
        .exclude_files
        .iter()
        .map(|pattern| {
            glob::Pattern::new(pattern.get_ref()).map_err(|err| {
                error(
                    pattern.span(),
                    "exclude_files",
                    format!("`{}`: {err}", pattern.get_ref()),
                )
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let mut mounts = Vec::new();
    let mut staged = Vec::new();
    for entry in &raw.files {
        match entry.get_ref() {
            RawFiles::Placement {
                source,
                destination,
            } => {
                let dir = base.join(source);
                if !dir.is_dir() {
                    let message = format!(
                        "`{source}` is not a directory beside the manifest (`source` of a placement is a directory)"
                    );
                    return Err(error(entry.span(), "files", message));
                }
                if !destination.starts_with('/') {
                    let message = format!(
                        "destination `{destination}` must be an absolute guest path, such as `/assets`"
                    );
                    return Err(error(entry.span(), "files", message));
                }
                mounts.push(FileMount::Directory {
                    source: dir,
                    destination: destination.clone(),
                });
            }
            RawFiles::Pattern(pattern) => {
                let bad = |message: String| {
                    error(entry.span(), "files", format!("`{pattern}`: {message}"))
                };
                if Path::new(pattern).is_absolute() || pattern.split('/').any(|part| part == "..") {
                    return Err(bad(
                        "a pattern is relative to the manifest's directory and stays inside it"
                            .into(),
                    ));
                }
                let full = base.join(pattern);
                let paths =
                    glob::glob(&full.to_string_lossy()).map_err(|err| bad(err.to_string()))?;
                for path in paths {
                    let path = path.map_err(|err| bad(err.to_string()))?;
                    let Ok(relative) = path.strip_prefix(base) else {
                        continue;
                    };
                    if path.is_file() && !excluded.iter().any(|ex| ex.matches_path(relative)) {
                        staged.push(StagedFile {
                            relative: relative.to_owned(),
                            source: path.clone(),
                        });
                    }
                }
            }
        }
    }
    if !staged.is_empty() {
        staged.sort_by(|a, b| a.relative.cmp(&b.relative));
        staged.dedup();
        mounts.push(FileMount::Files(staged));
    }
    Ok(mounts)
}

/// Checks `[component.<id>.limits]`: each value in its range.
fn check_limits(
    doc: &Doc<'_>,
    component: &str,
    raw: &RawComponent,
) -> Result<ComponentLimits, ManifestError> {
    let Some(limits) = &raw.limits else {
        return Ok(ComponentLimits::default());
    };
    let check =
        |value: &Option<Spanned<u64>>, field, range: std::ops::RangeInclusive<u64>, message| {
            match value {
                None => Ok(None),
                Some(v) if range.contains(v.get_ref()) => Ok(Some(*v.get_ref())),
                Some(v) => Err(doc.error(
                    v.span(),
                    ManifestErrorKind::Limit {
                        component: component.to_owned(),
                        field,
                        message,
                    },
                )),
            }
        };
    let concurrent = limits
        .max_concurrent_requests
        .as_ref()
        .map(|v| Spanned::new(v.span(), u64::from(*v.get_ref())));
    let memory_mb = check(
        &limits.memory_mb,
        "memory_mb",
        1..=65_536,
        "must be 1 to 65536 (MiB)",
    )?;
    Ok(ComponentLimits {
        memory_bytes: memory_mb.map(|mb| usize::try_from(mb << 20).unwrap_or(usize::MAX)),
        cpu: check(
            &limits.cpu_ms,
            "cpu_ms",
            10..=u64::MAX,
            "must be at least 10 (ms)",
        )?
        .map(Duration::from_millis),
        timeout: check(
            &limits.timeout_ms,
            "timeout_ms",
            1..=u64::MAX,
            "must be at least 1 (ms)",
        )?
        .map(Duration::from_millis),
        max_concurrent_requests: check(
            &concurrent,
            "max_concurrent_requests",
            1..=u64::from(u32::MAX),
            "must be at least 1",
        )?
        .map(|n| u32::try_from(n).unwrap_or(u32::MAX)),
        max_body_bytes: check(
            &limits.max_body_mb,
            "max_body_mb",
            1..=1 << 20,
            "must be 1 to 1048576 (MiB)",
        )?
        .map(|mb| mb << 20),
    })
}

/// Checks `[component.<id>.variables]`: key names, template syntax, and that every variable a
/// template names is declared.
fn check_config(
    doc: &Doc<'_>,
    component: &str,
    raw: &std::collections::BTreeMap<Spanned<String>, Spanned<String>>,
    variables: &[Variable],
) -> Result<std::collections::BTreeMap<String, Template>, ManifestError> {
    raw.iter()
        .map(|(key, text)| {
            let (component, name) = (component.to_owned(), key.get_ref().clone());
            if !is_variable_name(&name) {
                return Err(doc.error(
                    key.span(),
                    ManifestErrorKind::ConfigKey {
                        component,
                        key: name,
                    },
                ));
            }
            let template_error = |error: String| {
                doc.error(
                    text.span(),
                    ManifestErrorKind::Template {
                        component: component.clone(),
                        key: name.clone(),
                        error,
                    },
                )
            };
            let template: Template = text
                .get_ref()
                .parse()
                .map_err(|err: TemplateError| template_error(err.to_string()))?;
            if let Some(undeclared) = undeclared_variable(&template, variables) {
                return Err(template_error(format!(
                    "variable `{undeclared}` is not declared in `[variables]`"
                )));
            }
            Ok((name, template))
        })
        .collect()
}

/// Parses a component's `allowed_outbound_hosts`: literal patterns now, templates' syntax
/// and variables now (they are rendered and parsed at startup).
fn check_allowed_hosts(
    doc: &Doc<'_>,
    component: &str,
    raw: &RawComponent,
    variables: &[Variable],
) -> Result<Vec<AllowedHostEntry>, ManifestError> {
    raw.allowed_outbound_hosts
        .iter()
        .map(|entry| {
            let text = entry.get_ref();
            let error = |error: String| {
                doc.error(
                    entry.span(),
                    ManifestErrorKind::OutboundHost {
                        component: component.to_owned(),
                        pattern: text.clone(),
                        error,
                    },
                )
            };
            if !text.contains("{{") {
                let pattern = text
                    .parse()
                    .map_err(|err: AllowedHostError| error(err.to_string()))?;
                return Ok(AllowedHostEntry::Pattern(pattern));
            }
            let template: Template = text
                .parse()
                .map_err(|err: TemplateError| error(err.to_string()))?;
            if let Some(undeclared) = undeclared_variable(&template, variables) {
                return Err(error(format!(
                    "variable `{undeclared}` is not declared in `[variables]`"
                )));
            }
            Ok(AllowedHostEntry::Template {
                template,
                text: text.clone(),
                location: doc.location(entry.span()),
            })
        })
        .collect()
}

/// The first variable `template` names that `variables` does not declare.
fn undeclared_variable<'t>(template: &'t Template, variables: &[Variable]) -> Option<&'t str> {
    template
        .variables()
        .find(|used| !variables.iter().any(|v| v.name == *used))
}

/// Reads `[component.<id>.outbound_http]` over the defaults; zeros are errors.
fn check_outbound_limits(
    doc: &Doc<'_>,
    component: &str,
    raw: &RawComponent,
) -> Result<OutboundLimits, ManifestError> {
    let mut limits = OutboundLimits::default();
    let Some(table) = &raw.outbound_http else {
        return Ok(limits);
    };
    let zero = |field| {
        doc.error(
            table.span(),
            ManifestErrorKind::OutboundZero {
                component: component.to_owned(),
                field,
            },
        )
    };
    let raw = table.get_ref();
    for (value, field, slot) in [
        (
            raw.connect_timeout_ms,
            "connect_timeout_ms",
            &mut limits.connect_timeout,
        ),
        (
            raw.first_byte_timeout_ms,
            "first_byte_timeout_ms",
            &mut limits.first_byte_timeout,
        ),
        (
            raw.between_bytes_timeout_ms,
            "between_bytes_timeout_ms",
            &mut limits.between_bytes_timeout,
        ),
    ] {
        match value {
            Some(0) => return Err(zero(field)),
            Some(ms) => *slot = std::time::Duration::from_millis(ms),
            None => {}
        }
    }
    match raw.max_requests {
        Some(0) => return Err(zero("max_requests")),
        Some(max) => limits.max_requests = max,
        None => {}
    }
    Ok(limits)
}

/// Resolves each component's `http://<id>.internal` grants to component indices; a grant
/// naming no component of the app is an error at the entry.
fn resolve_chain_targets(
    doc: &Doc<'_>,
    raw: &RawManifest,
    components: &mut [Component],
    index: &HashMap<String, usize>,
) -> Result<(), ManifestError> {
    let count = components.len();
    for (position, (key, raw_component)) in raw.component.iter().enumerate() {
        let grant = &mut components[position].outbound_http;
        let mut targets = Vec::new();
        for (host, entry) in grant
            .allowed_hosts
            .iter()
            .zip(&raw_component.allowed_outbound_hosts)
        {
            let AllowedHostEntry::Pattern(host) = host else {
                continue;
            };
            match host.internal_target() {
                None => {}
                Some(None) => targets.extend(0..count),
                Some(Some(id)) => match index.get(id) {
                    Some(&target) => targets.push(target),
                    None => {
                        return Err(doc.error(
                            entry.span(),
                            ManifestErrorKind::OutboundHost {
                                component: key.get_ref().clone(),
                                pattern: entry.get_ref().clone(),
                                error: format!("this app has no component `{id}` to call"),
                            },
                        ));
                    }
                },
            }
        }
        targets.sort_unstable();
        targets.dedup();
        grant.chain_targets = targets;
    }
    Ok(())
}

//! Layer 2, startup step 1 for a Spin app: `spin.toml` (`spin_manifest_version = 2`, Spin's
//! format, <https://spinframework.dev/v3/manifest-reference>) read into serde types with
//! spans, then translated into wasmhost's own raw manifest, so that every later check (routes,
//! grants, templates, limits) is the one `wasmhost.toml` gets, with the same file:line:column
//! errors.
//!
//! What maps, key by key, is in `docs/spin.md`. In short:
//! - `[application]` name, version, description, authors; `[variables]`;
//! - `[[trigger.http]]` `route` (a path, or `{ private = true }`: no route, reachable only by
//!   service chaining, `http://<id>.spin.internal`), `component` (an id or an inline table,
//!   named as Spin names it: `<trigger id>-component`, else `inline-component<n>`),
//!   `static_response`, `executor = { type = "spin" | "http" }`;
//! - `[component.<id>]` `source` (a local file), `description`, `variables`, `environment`,
//!   `files`, `exclude_files`, `allowed_outbound_hosts`, `key_value_stores`, `build`.
//!
//! Keys whose absence would change what the app does (`sqlite_databases`, `ai_models`,
//! `dependencies`, a `{ url, digest }` or registry `source`, a Wagi executor, triggers other
//! than HTTP) are errors at their line and column. Keys that only tooling reads (`tool`,
//! `targets`, `profile`, `[application.trigger]`) and the deprecated `allowed_http_hosts` are
//! warnings: the app runs without them.

use std::collections::BTreeMap;
use std::fmt;
use std::ops::Range;

use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, Visitor};
use toml::Spanned;

use super::raw::{
    RawApplication, RawBuild, RawComponent, RawFiles, RawHttpTrigger, RawManifest,
    RawStaticResponse, RawTriggers, RawVariable,
};
use super::{Doc, ManifestError, ManifestErrorKind};
use crate::app::ManifestWarning;

/// A whole `spin.toml`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct SpinManifest {
    spin_manifest_version: Spanned<i64>,
    application: SpinApplication,
    #[serde(default)]
    variables: BTreeMap<Spanned<String>, Spanned<SpinVariable>>,
    #[serde(default)]
    trigger: SpinTriggers,
    #[serde(default)]
    component: BTreeMap<Spanned<String>, SpinComponent>,
}

/// `[application]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SpinApplication {
    name: Spanned<String>,
    #[serde(default)]
    version: Option<String>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    authors: Vec<String>,
    #[serde(default)]
    targets: Option<Spanned<toml::Value>>,
    #[serde(default)]
    trigger: Option<Spanned<toml::Value>>,
    #[serde(default)]
    tool: Option<Spanned<toml::Value>>,
}

/// One `[variables]` entry.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SpinVariable {
    /// Free text; accepted, shown nowhere.
    #[serde(default)]
    #[allow(dead_code)]
    description: Option<String>,
    #[serde(default)]
    required: bool,
    #[serde(default)]
    default: Option<String>,
    #[serde(default)]
    secret: bool,
}

/// `[trigger]`: HTTP is supported; Spin's other trigger types are named so that their error
/// points at them (a plugin's trigger type is an unknown field, at its line).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct SpinTriggers {
    #[serde(default)]
    http: Vec<SpinHttpTrigger>,
    #[serde(default)]
    redis: Option<Spanned<toml::Value>>,
    #[serde(default)]
    mqtt: Option<Spanned<toml::Value>>,
    #[serde(default)]
    cron: Option<Spanned<toml::Value>>,
    #[serde(default)]
    sqs: Option<Spanned<toml::Value>>,
    #[serde(default)]
    kafka: Option<Spanned<toml::Value>>,
    #[serde(default)]
    command: Option<Spanned<toml::Value>>,
}

/// One `[[trigger.http]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SpinHttpTrigger {
    #[serde(default)]
    id: Option<String>,
    route: Spanned<toml::Value>,
    #[serde(default)]
    component: Option<Spanned<ComponentSpec>>,
    #[serde(default)]
    static_response: Option<SpinStaticResponse>,
    #[serde(default)]
    executor: Option<Spanned<toml::Value>>,
    #[serde(default)]
    components: Option<Spanned<toml::Value>>,
    #[serde(default)]
    dependencies: Option<Spanned<toml::Value>>,
}

/// `static_response = { status_code, headers, body }`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SpinStaticResponse {
    #[serde(default)]
    status_code: Option<Spanned<u16>>,
    #[serde(default)]
    headers: BTreeMap<Spanned<String>, Spanned<String>>,
    #[serde(default)]
    body: Option<String>,
}

/// A trigger's `component`: an id, or an inline `[component]` table.
#[derive(Debug)]
enum ComponentSpec {
    Reference(String),
    Inline(Box<SpinComponent>),
}

impl<'de> Deserialize<'de> for ComponentSpec {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct SpecVisitor;
        impl<'de> Visitor<'de> for SpecVisitor {
            type Value = ComponentSpec;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a component id or an inline component table")
            }
            fn visit_str<E: de::Error>(self, id: &str) -> Result<ComponentSpec, E> {
                Ok(ComponentSpec::Reference(id.to_owned()))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<ComponentSpec, A::Error> {
                // The map access is toml's own, so the spans inside the table survive.
                SpinComponent::deserialize(de::value::MapAccessDeserializer::new(map))
                    .map(|component| ComponentSpec::Inline(Box::new(component)))
            }
        }
        deserializer.deserialize_any(SpecVisitor)
    }
}

/// One `[component.<id>]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SpinComponent {
    source: Spanned<toml::Value>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    variables: BTreeMap<Spanned<String>, Spanned<String>>,
    #[serde(default)]
    environment: BTreeMap<Spanned<String>, Spanned<String>>,
    #[serde(default)]
    files: Vec<Spanned<RawFiles>>,
    #[serde(default)]
    exclude_files: Vec<Spanned<String>>,
    #[serde(default)]
    allowed_outbound_hosts: Vec<Spanned<String>>,
    #[serde(default)]
    allowed_http_hosts: Option<Spanned<Vec<String>>>,
    #[serde(default)]
    key_value_stores: Vec<Spanned<String>>,
    #[serde(default)]
    sqlite_databases: Option<Spanned<Vec<String>>>,
    #[serde(default)]
    ai_models: Option<Spanned<Vec<String>>>,
    #[serde(default)]
    build: Option<SpinBuild>,
    #[serde(default)]
    targets: Option<Spanned<toml::Value>>,
    #[serde(default)]
    tool: Option<Spanned<toml::Value>>,
    #[serde(default)]
    profile: Option<Spanned<toml::Value>>,
    #[serde(default)]
    dependencies_inherit_configuration: Option<Spanned<bool>>,
    #[serde(default)]
    dependencies: Option<Spanned<toml::Table>>,
}

/// `[component.<id>.build]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SpinBuild {
    command: Spanned<toml::Value>,
    #[serde(default)]
    workdir: Option<Spanned<String>>,
    /// Globs of what to watch. wasmhost's `--watch` watches the whole app directory (minus
    /// `target/` and hidden directories), which includes them.
    #[serde(default)]
    #[allow(dead_code)]
    watch: Vec<String>,
}

/// Whether `text`, a TOML document, is a Spin manifest: it has a top-level
/// `spin_manifest_version` key. A document that does not parse is not (its syntax error is
/// reported by the parse that follows).
pub(super) fn is_spin_manifest(text: &str) -> bool {
    text.parse::<toml::Table>()
        .is_ok_and(|table| table.contains_key("spin_manifest_version"))
}

/// Checks `spin_manifest_version` before the rest is read: Spin's version 1 has another
/// shape, which would otherwise be reported as unknown fields.
///
/// # Errors
/// A version other than 2, at its line and column.
pub(super) fn check_version(doc: &Doc<'_>) -> Result<(), ManifestError> {
    #[derive(Deserialize)]
    struct Version {
        spin_manifest_version: Spanned<toml::Value>,
    }
    let Ok(version) = doc.0.parse::<Version>() else {
        return Ok(());
    };
    let value = version.spin_manifest_version;
    if value.get_ref().as_integer() == Some(2) {
        return Ok(());
    }
    Err(doc.error(
        value.span(),
        ManifestErrorKind::Unsupported {
            key: "spin_manifest_version".into(),
            why: format!(
                "version {} (wasmhost reads Spin manifests of version 2; `spin doctor` upgrades a version 1 manifest)",
                value.get_ref()
            ),
        },
    ))
}

/// Translates a Spin manifest into wasmhost's raw manifest: the same spans, so later errors
/// point into `spin.toml`; returns the warnings for the keys it ignores.
///
/// # Errors
/// Every unsupported key, at its line and column.
pub(super) fn translate(
    doc: &Doc<'_>,
    spin: SpinManifest,
) -> Result<(RawManifest, Vec<ManifestWarning>), ManifestError> {
    let mut out = Translation {
        doc,
        warnings: Vec::new(),
    };
    let application = &spin.application;
    for (value, key) in [
        (&application.targets, "application.targets"),
        (&application.tool, "application.tool"),
        (&application.trigger, "application.trigger"),
    ] {
        if let Some(value) = value {
            out.warn(value.span(), format!("`{key}` is ignored by wasmhost"));
        }
    }
    for (value, kind) in [
        (&spin.trigger.redis, "redis"),
        (&spin.trigger.mqtt, "mqtt"),
        (&spin.trigger.cron, "cron"),
        (&spin.trigger.sqs, "sqs"),
        (&spin.trigger.kafka, "kafka"),
        (&spin.trigger.command, "command"),
    ] {
        if let Some(value) = value {
            return Err(out.unsupported(
                value.span(),
                &format!("trigger.{kind}"),
                "wasmhost runs Spin's HTTP triggers only; use `[[trigger.http]]`, or write a wasmhost.toml with its cron and queue triggers".into(),
            ));
        }
    }

    let mut components = BTreeMap::new();
    for (id, component) in spin.component {
        let raw = out.component(id.get_ref(), component)?;
        components.insert(id, raw);
    }
    let mut http = Vec::new();
    let mut counter = 1;
    for (index, trigger) in spin.trigger.http.into_iter().enumerate() {
        if let Some(trigger) = out.http_trigger(index, trigger, &mut components, &mut counter)? {
            http.push(trigger);
        }
    }

    let variables = spin
        .variables
        .into_iter()
        .map(|(name, variable)| {
            let span = variable.span();
            let SpinVariable {
                required,
                default,
                secret,
                ..
            } = variable.into_inner();
            let raw = RawVariable {
                default,
                required,
                secret,
            };
            (name, Spanned::new(span, raw))
        })
        .collect();
    let raw = RawManifest {
        manifest_version: Spanned::new(spin.spin_manifest_version.span(), 1),
        application: RawApplication {
            name: spin.application.name,
            version: spin.application.version,
            description: spin.application.description,
            authors: spin.application.authors,
            auth: None,
            cors: None,
        },
        trigger: RawTriggers {
            http,
            ..RawTriggers::default()
        },
        component: components,
        variables,
    };
    let mut warnings = out.warnings;
    warnings.sort_by_key(|warning| (warning.location.line, warning.location.column));
    Ok((raw, warnings))
}

/// The state of one translation: the document (for locations) and the warnings so far.
struct Translation<'d, 'a> {
    doc: &'d Doc<'a>,
    warnings: Vec<ManifestWarning>,
}

impl Translation<'_, '_> {
    fn warn(&mut self, span: Range<usize>, message: String) {
        self.warnings.push(ManifestWarning {
            location: self.doc.location(span),
            message,
        });
    }

    fn unsupported(&self, span: Range<usize>, key: &str, why: String) -> ManifestError {
        self.doc.error(
            span,
            ManifestErrorKind::Unsupported {
                key: key.to_owned(),
                why,
            },
        )
    }

    /// One `[[trigger.http]]`; `None` for a private route (its component is reached by
    /// service chaining only). Inline components are added to `components`.
    fn http_trigger(
        &mut self,
        index: usize,
        trigger: SpinHttpTrigger,
        components: &mut BTreeMap<Spanned<String>, RawComponent>,
        counter: &mut usize,
    ) -> Result<Option<RawHttpTrigger>, ManifestError> {
        let key = |field: &str| format!("trigger.http[{index}].{field}");
        for (value, field, why) in [
            (
                &trigger.components,
                "components",
                "a trigger with several components (middleware) is Spin-specific; give it one `component`",
            ),
            (
                &trigger.dependencies,
                "dependencies",
                "component dependencies are not composed by wasmhost; compose them before (`wac plug`) and point `source` at the result",
            ),
        ] {
            if let Some(value) = value {
                return Err(self.unsupported(value.span(), &key(field), why.into()));
            }
        }
        if let Some(executor) = &trigger.executor {
            let kind = executor
                .get_ref()
                .get("type")
                .and_then(toml::Value::as_str)
                .unwrap_or_default();
            if !matches!(kind, "spin" | "http") {
                return Err(self.unsupported(
                    executor.span(),
                    &key("executor"),
                    format!("executor type `{kind}` (wasmhost runs `wasi:http` components, the `spin` executor; Wagi modules are not run)"),
                ));
            }
        }
        let component = match trigger.component {
            None => None,
            Some(spec) => {
                let span = spec.span();
                match spec.into_inner() {
                    ComponentSpec::Reference(id) => Some(Spanned::new(span, id)),
                    ComponentSpec::Inline(component) => {
                        let id = inline_id(trigger.id.as_deref(), components, counter);
                        let raw = self.component(&id, *component)?;
                        components.insert(Spanned::new(span.clone(), id.clone()), raw);
                        Some(Spanned::new(span, id))
                    }
                }
            }
        };
        let route_span = trigger.route.span();
        let route = match trigger.route.into_inner() {
            toml::Value::String(route) => route,
            toml::Value::Table(table)
                if table.len() == 1
                    && table.get("private") == Some(&toml::Value::Boolean(true)) =>
            {
                return Ok(None);
            }
            _ => {
                return Err(self.doc.error(
                    route_span,
                    ManifestErrorKind::HttpTarget {
                        index,
                        field: ".route",
                        message: "give a path (`/api/...`) or `{ private = true }`".into(),
                    },
                ));
            }
        };
        let static_response = trigger.static_response.map(|response| RawStaticResponse {
            status: response.status_code,
            headers: response.headers,
            body: response.body,
        });
        Ok(Some(RawHttpTrigger {
            route: Spanned::new(route_span, route),
            component,
            redirect: None,
            static_response,
            static_files: None,
            follow_symlinks: None,
            private: false,
            auth: None,
            cors: None,
        }))
    }

    /// One component, translated; errors for its unsupported keys, warnings for its ignored
    /// ones.
    fn component(&mut self, id: &str, spin: SpinComponent) -> Result<RawComponent, ManifestError> {
        let key = |field: &str| format!("component.{id}.{field}");
        let source_span = spin.source.span();
        let source = match spin.source.into_inner() {
            toml::Value::String(path) => Spanned::new(source_span, path),
            other => {
                let what = if other.get("url").is_some() {
                    "a `{ url, digest }` source (wasmhost does not download components; download it and give its local path)"
                } else {
                    "a registry source (wasmhost does not pull from registries; give a local path)"
                };
                return Err(self.unsupported(source_span, &key("source"), what.into()));
            }
        };
        for (value, field, why) in [
            (
                &spin.sqlite_databases,
                "sqlite_databases",
                "SQLite databases are not provided; use `key_value_stores`",
            ),
            (
                &spin.ai_models,
                "ai_models",
                "LLM inferencing is not provided",
            ),
        ] {
            if let Some(value) = value
                && !value.get_ref().is_empty()
            {
                return Err(self.unsupported(value.span(), &key(field), why.into()));
            }
        }
        if let Some(dependencies) = &spin.dependencies
            && !dependencies.get_ref().is_empty()
        {
            return Err(self.unsupported(
                dependencies.span(),
                &key("dependencies"),
                "component dependencies are not composed by wasmhost; compose them before (`wac plug`) and point `source` at the result".into(),
            ));
        }
        if let Some(hosts) = &spin.allowed_http_hosts {
            self.warn(
                hosts.span(),
                format!("`{}` (deprecated in Spin) is ignored: list the hosts in `allowed_outbound_hosts` as `https://host`", key("allowed_http_hosts")),
            );
        }
        for (span, field) in [
            (spin.targets.as_ref().map(Spanned::span), "targets"),
            (spin.tool.as_ref().map(Spanned::span), "tool"),
            (spin.profile.as_ref().map(Spanned::span), "profile"),
            (
                spin.dependencies_inherit_configuration
                    .as_ref()
                    .map(Spanned::span),
                "dependencies_inherit_configuration",
            ),
        ] {
            if let Some(span) = span {
                self.warn(span, format!("`{}` is ignored by wasmhost", key(field)));
            }
        }
        let build = match spin.build {
            None => None,
            Some(build) => Some(RawBuild {
                command: self.build_command(id, build.command)?,
                workdir: build.workdir,
            }),
        };
        let allowed_outbound_hosts = spin
            .allowed_outbound_hosts
            .into_iter()
            .filter(|host| {
                let scheme = host.get_ref().split("://").next().unwrap_or_default();
                let other = !host.get_ref().contains("{{")
                    && host.get_ref().contains("://")
                    && !matches!(scheme, "http" | "https" | "*");
                if other {
                    self.warn(
                        host.span(),
                        format!(
                            "`{}`: `{}` is ignored: wasmhost makes HTTP requests only ({scheme}:// is for an interface it does not provide)",
                            key("allowed_outbound_hosts"),
                            host.get_ref()
                        ),
                    );
                }
                !other
            })
            .collect();
        Ok(RawComponent {
            source,
            description: spin.description,
            build,
            key_value_stores: spin.key_value_stores,
            queues: Vec::new(),
            topics: Vec::new(),
            blob_containers: Vec::new(),
            workflows: Vec::new(),
            variables: spin.variables,
            allowed_outbound_hosts,
            outbound_http: None,
            limits: None,
            environment: spin.environment,
            files: spin.files,
            exclude_files: spin.exclude_files,
        })
    }

    /// `build.command`: one command, or several run in turn (joined with `&&`, so the first
    /// failure stops the build, as Spin does).
    fn build_command(
        &self,
        id: &str,
        command: Spanned<toml::Value>,
    ) -> Result<Spanned<String>, ManifestError> {
        let span = command.span();
        let text = match command.into_inner() {
            toml::Value::String(command) => Some(command),
            toml::Value::Array(commands) => commands
                .iter()
                .map(|c| c.as_str().map(|c| format!("( {c} )")))
                .collect::<Option<Vec<_>>>()
                .map(|commands| commands.join(" && ")),
            _ => None,
        };
        text.map(|text| Spanned::new(span.clone(), text))
            .ok_or_else(|| {
                self.doc.error(
                    span,
                    ManifestErrorKind::ComponentField {
                        component: id.to_owned(),
                        field: "build.command".into(),
                        message: "give a command, or a list of commands".into(),
                    },
                )
            })
    }
}

/// The id Spin gives an inline component: `<trigger id>-component` when the trigger has an
/// id and that name is free, else the first free `inline-component<n>`.
fn inline_id(
    trigger_id: Option<&str>,
    components: &BTreeMap<Spanned<String>, RawComponent>,
    counter: &mut usize,
) -> String {
    let taken = |id: &str| components.keys().any(|key| key.get_ref() == id);
    if let Some(trigger) = trigger_id {
        let id = format!("{trigger}-component");
        if id.parse::<crate::app::ComponentId>().is_ok() && !taken(&id) {
            return id;
        }
    }
    loop {
        let id = format!("inline-component{counter}");
        *counter += 1;
        if !taken(&id) {
            return id;
        }
    }
}

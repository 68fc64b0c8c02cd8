//! Startup, step 1 and 2: read `wasmhost.toml` into raw serde types (`raw`), then check and
//! resolve them into the [`App`] model. Every error names the file, line, column and field.
//!
//! The format (manifest version 1):
//!
//! ```toml
//! manifest_version = 1
//! [application]
//! name = "hello"
//!
//! [[trigger.http]]
//! route = "/hello/:name"        # see crate::route for the syntax
//! component = "hello"
//!
//! [[trigger.cron]]              # see crate::app::CronTrigger for the syntax
//! schedule = "0 */5 * * * *"    # [sec] min hour day-of-month month day-of-week
//! component = "refresh"
//! timezone = "Europe/Paris"     # optional IANA name; default UTC
//!
//! [[trigger.queue]]             # see crate::app::QueueTrigger
//! queue = "clicks"
//! component = "counter"         # exports wasmhost:host/queue-handler
//! max_retries = 3               # optional; these are the defaults
//! retry_backoff_ms = 1000       # doubles per retry, with jitter
//! max_retry_backoff_ms = 60000
//! batch_size = 1                # 1 to 1000 messages per call
//! max_concurrency = 1
//! dead_letter = "clicks-dead-letter"
//!
//! [[trigger.topic]]             # every subscription of a topic gets every event
//! topic = "links"
//! subscription = "audit"        # optional; default the component id
//! component = "audit"           # exports wasmhost:host/queue-handler
//! # max_retries, retry_backoff_ms, ..., as for a queue; dead_letter default
//! # `<topic>-<subscription>-dead-letter`
//!
//! [component.hello]
//! source = "target/wasm32-wasip2/release/hello.wasm"   # relative to this file
//! key_value_stores = ["default"]                       # optional: stores it may open
//! queues = ["clicks"]                                  # optional: queues it may send to
//! topics = ["links"]                                   # optional: topics it may publish to
//! allowed_outbound_hosts = ["https://{{ api_host }}"]  # optional: default deny-all
//! [component.hello.build]
//! command = "cargo build --release --target wasm32-wasip2"
//! workdir = "."                                         # optional, relative to this file
//! [component.hello.variables]                          # optional: its wasi:config keys
//! api_url = "https://{{ api_host }}/v1"                # templates over [variables]
//! [component.hello.outbound_http]                      # optional; these are the defaults
//! connect_timeout_ms = 5000
//! first_byte_timeout_ms = 30000
//! between_bytes_timeout_ms = 30000
//! max_requests = 100                                   # per invocation
//! [component.hello.limits]                             # optional; see crate::limits
//! memory_mb = 64                                       # at most the host's
//! cpu_ms = 500
//! timeout_ms = 10000
//! max_concurrent_requests = 20
//!
//! [variables]
//! api_host = { default = "api.example.com" }
//! api_key = { required = true, secret = true }         # WASMHOST_VAR_API_KEY or --var
//! ```
//!
//! `allowed_outbound_hosts` syntax: [`crate::capability::outbound_http::allowed_hosts`].

mod error;
mod raw;

use std::collections::{BTreeMap, HashMap};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

pub use error::{ManifestError, ManifestErrorKind};
use raw::{RawComponent, RawManifest};
use toml::Spanned;

use crate::app::{
    AllowedHostEntry, App, BuildCommand, Component, ComponentId, ComponentLimits, CronTrigger,
    FixedResponse, HttpTarget, HttpTrigger, Location, OutboundHttpGrant, OutboundLimits,
    QueueTrigger, StaticFiles, StoreGrant, is_store_label, subscription_queue,
};
use crate::capability::outbound_http::allowed_hosts::AllowedHostError;
use crate::route::Route;
use crate::toml_doc::TomlDoc;
use crate::variables::{Template, TemplateError, Variable, is_variable_name};

/// The file name looked for when a directory is given.
pub const MANIFEST_FILE: &str = "wasmhost.toml";

/// Resolves a path given on the command line to a manifest file: a directory means its
/// `wasmhost.toml`.
pub fn manifest_path(path: &Path) -> PathBuf {
    if path.is_dir() {
        path.join(MANIFEST_FILE)
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
/// [`ManifestError`] for an unreadable file, TOML syntax, an unknown or missing field, a
/// `manifest_version` other than 1, a component id that is not kebab-case, a bad route, a
/// route that duplicates another, or a trigger naming an undefined component.
pub fn load(path: &Path) -> Result<App, ManifestError> {
    let (file, text) =
        crate::toml_doc::read(&manifest_path(path)).map_err(|(location, err)| ManifestError {
            location,
            kind: ManifestErrorKind::Io(err),
        })?;
    parse(&file, &text)
}

/// Checks and resolves manifest `text` read from `file` (absolute). See [`load`].
///
/// # Errors
/// As [`load`], but never an I/O error.
pub fn parse(file: &Path, text: &str) -> Result<App, ManifestError> {
    let doc = Doc(TomlDoc { file, text });
    let raw: RawManifest = doc.0.parse().map_err(|err| ManifestError {
        location: err.location,
        kind: ManifestErrorKind::Syntax {
            table: err.table,
            message: err.message,
        },
    })?;

    if *raw.manifest_version.get_ref() != 1 {
        return Err(doc.error(
            raw.manifest_version.span(),
            ManifestErrorKind::Version(*raw.manifest_version.get_ref()),
        ));
    }
    let name = raw.application.name.get_ref().trim();
    if name.is_empty() {
        return Err(doc.error(raw.application.name.span(), ManifestErrorKind::EmptyName));
    }

    let base = file.parent().unwrap_or(Path::new("/"));
    let mut components = Vec::with_capacity(raw.component.len());
    let mut index = HashMap::new();
    let variables = check_variables(&doc, &raw)?;
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
        let mut key_value_stores: Vec<StoreGrant> = Vec::new();
        for label in &component.key_value_stores {
            let (id, name) = (key.get_ref().clone(), label.get_ref().clone());
            let kind = if !is_store_label(&name) {
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
                key_value_stores.push(StoreGrant {
                    label: name,
                    location: doc.location(label.span()),
                });
                continue;
            };
            return Err(doc.error(label.span(), kind));
        }
        let queues = check_queue_grants(&doc, key.get_ref(), "queues", &component.queues)?;
        let topics = check_queue_grants(&doc, key.get_ref(), "topics", &component.topics)?;
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
            config: check_config(&doc, key.get_ref(), &component.variables, &variables)?,
            outbound_http: OutboundHttpGrant {
                allowed_hosts: check_allowed_hosts(&doc, key.get_ref(), component, &variables)?,
                chain_targets: Vec::new(),
                limits: check_outbound_limits(&doc, key.get_ref(), component)?,
            },
            limits: check_limits(&doc, key.get_ref(), component)?,
        });
    }
    resolve_chain_targets(&doc, &raw, &mut components, &index)?;

    let mut http_triggers = Vec::with_capacity(raw.trigger.http.len());
    let mut seen: HashMap<String, &Spanned<String>> = HashMap::new();
    for (i, trigger) in raw.trigger.http.iter().enumerate() {
        let route: Route = trigger.route.get_ref().parse().map_err(|err| {
            doc.error(
                trigger.route.span(),
                ManifestErrorKind::Route {
                    index: i,
                    error: err,
                },
            )
        })?;
        if let Some(first) = seen.insert(route.shape(), &trigger.route) {
            return Err(doc.error(
                trigger.route.span(),
                ManifestErrorKind::DuplicateRoute {
                    index: i,
                    route: route.to_string(),
                    first: first.get_ref().clone(),
                    first_line: doc.location(first.span()).line,
                },
            ));
        }
        let target = check_http_target(&doc, &raw, &index, i, trigger)?;
        http_triggers.push(HttpTrigger { route, target });
    }
    let cron_triggers = check_cron_triggers(&doc, &raw, &index)?;
    let (queue_triggers, topics) = check_queue_triggers(&doc, &raw, &index)?;

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
        variables,
    })
}

/// Checks what answers `[[trigger.http]]` number `i`: exactly one of a defined component, a
/// redirect to a valid URI with a redirect status, a static response with a valid status and
/// headers, or the files of an existing directory on a wildcard route.
fn check_http_target(
    doc: &Doc<'_>,
    raw: &RawManifest,
    index: &HashMap<String, usize>,
    i: usize,
    trigger: &raw::RawHttpTrigger,
) -> Result<HttpTarget, ManifestError> {
    let error = |span: Range<usize>, field, message: String| {
        doc.error(
            span,
            ManifestErrorKind::HttpTarget {
                index: i,
                field,
                message,
            },
        )
    };
    let given = [
        trigger.component.is_some(),
        trigger.redirect.is_some(),
        trigger.static_response.is_some(),
        trigger.static_files.is_some(),
    ];
    if given.iter().filter(|g| **g).count() != 1 {
        return Err(error(
            trigger.route.span(),
            "",
            "give exactly one of `component`, `redirect`, `static_response` and `static_files`"
                .to_owned(),
        ));
    }
    if let Some(dir) = &trigger.static_files {
        if !trigger.route.get_ref().ends_with("/...") {
            return Err(error(
                trigger.route.span(),
                ".route",
                "a `static_files` route must end in `/...` (the tail names the file)".to_owned(),
            ));
        }
        let base = doc.0.file.parent().unwrap_or(Path::new("/"));
        let path = base.join(dir.get_ref());
        if !path.is_dir() {
            return Err(error(
                dir.span(),
                ".static_files",
                format!("`{}` is not a directory", path.display()),
            ));
        }
        return Ok(HttpTarget::Files(Arc::new(StaticFiles::new(path))));
    }
    if let Some(component) = &trigger.component {
        let Some(&found) = index.get(component.get_ref()) else {
            return Err(doc.error(
                component.span(),
                ManifestErrorKind::UnknownComponent {
                    trigger: "http",
                    index: i,
                    id: component.get_ref().clone(),
                    defined: raw.component.keys().map(|k| k.get_ref().clone()).collect(),
                },
            ));
        };
        return Ok(HttpTarget::Component(found));
    }
    let mut headers = http::HeaderMap::new();
    let (status, body) = if let Some(redirect) = &trigger.redirect {
        let status = redirect.status.as_ref().map_or(302, |s| *s.get_ref());
        if ![301, 302, 303, 307, 308].contains(&status) {
            let span = redirect.status.as_ref().map_or(0..0, Spanned::span);
            return Err(error(
                span,
                ".redirect.status",
                format!("{status} is not a redirect status (301, 302, 303, 307 or 308)"),
            ));
        }
        let to = redirect.to.get_ref();
        let location = to
            .parse::<http::Uri>()
            .ok()
            .and_then(|_| http::HeaderValue::from_str(to).ok())
            .ok_or_else(|| {
                error(
                    redirect.to.span(),
                    ".redirect.to",
                    format!("`{to}` is not a URI"),
                )
            })?;
        headers.insert(http::header::LOCATION, location);
        (status, bytes::Bytes::new())
    } else {
        let fixed = trigger
            .static_response
            .as_ref()
            .expect("exactly one target is given");
        let status = fixed.status.as_ref().map_or(200, |s| *s.get_ref());
        if !(100..=599).contains(&status) {
            let span = fixed.status.as_ref().map_or(0..0, Spanned::span);
            return Err(error(
                span,
                ".static_response.status",
                format!("{status} is not an HTTP status"),
            ));
        }
        for (name, value) in &fixed.headers {
            let name_ok = http::HeaderName::try_from(name.get_ref().as_str());
            let value_ok = http::HeaderValue::from_str(value.get_ref());
            match (name_ok, value_ok) {
                (Ok(name), Ok(value)) => {
                    headers.append(name, value);
                }
                (Err(_), _) => {
                    return Err(error(
                        name.span(),
                        ".static_response.headers",
                        format!("`{}` is not a header name", name.get_ref()),
                    ));
                }
                (_, Err(_)) => {
                    return Err(error(
                        value.span(),
                        ".static_response.headers",
                        format!("the value of `{}` is not a header value", name.get_ref()),
                    ));
                }
            }
        }
        let body = fixed.body.clone().unwrap_or_default();
        (status, bytes::Bytes::from(body))
    };
    Ok(HttpTarget::Fixed(Arc::new(FixedResponse {
        status: http::StatusCode::from_u16(status).expect("checked above"),
        headers,
        body,
    })))
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
    })
}

/// Checks a component's `queues` or `topics` (`field`): valid names, none twice.
fn check_queue_grants(
    doc: &Doc<'_>,
    component: &str,
    field: &'static str,
    names: &[Spanned<String>],
) -> Result<Vec<String>, ManifestError> {
    let mut queues: Vec<String> = Vec::with_capacity(names.len());
    for name in names {
        let text = name.get_ref();
        let kind = if !is_store_label(text) {
            ManifestErrorKind::QueueName {
                field: format!("component.{component}.{field}"),
                what: if field == "topics" { "topic" } else { "queue" },
                name: text.clone(),
            }
        } else if queues.contains(text) {
            ManifestErrorKind::DuplicateQueue {
                component: component.to_owned(),
                field,
                name: text.clone(),
            }
        } else {
            queues.push(text.clone());
            continue;
        };
        return Err(doc.error(name.span(), kind));
    }
    Ok(queues)
}

/// Each topic with subscriptions, and the queues of its subscriptions ([`App::topics`]).
type Topics = BTreeMap<String, Vec<String>>;

/// A field of a raw queue or topic trigger, and its name.
type NamedField<'a> = (&'a Option<Spanned<String>>, &'static str);

/// Checks `[[trigger.queue]]` and `[[trigger.topic]]`: names, component, and settings in
/// range. Each topic subscription becomes a trigger on its own queue,
/// [`subscription_queue`]`(topic, subscription)`; returns the triggers and, per topic, the
/// queues of its subscriptions.
fn check_queue_triggers(
    doc: &Doc<'_>,
    raw: &RawManifest,
    index: &HashMap<String, usize>,
) -> Result<(Vec<QueueTrigger>, Topics), ManifestError> {
    let mut triggers = Vec::with_capacity(raw.trigger.queue.len() + raw.trigger.topic.len());
    let mut topics = Topics::new();
    let kinds = [("queue", &raw.trigger.queue), ("topic", &raw.trigger.topic)];
    for (kind, list) in kinds {
        for (i, spanned) in list.iter().enumerate() {
            let trigger = spanned.get_ref();
            let setting_error = |span: Range<usize>, field, message| {
                doc.error(
                    span,
                    ManifestErrorKind::QueueSetting {
                        trigger: kind,
                        index: i,
                        field,
                        message,
                    },
                )
            };
            let name = |value: &Spanned<String>, field: &str, what| {
                if is_store_label(value.get_ref()) {
                    Ok(value.get_ref().clone())
                } else {
                    Err(doc.error(
                        value.span(),
                        ManifestErrorKind::QueueName {
                            field: format!("trigger.{kind}[{i}].{field}"),
                            what,
                            name: value.get_ref().clone(),
                        },
                    ))
                }
            };
            // The field this kind names its source with, and the ones it does not take.
            let (source, foreign): (_, &[NamedField<'_>]) = if kind == "queue" {
                (
                    &trigger.queue,
                    &[
                        (&trigger.topic, "topic"),
                        (&trigger.subscription, "subscription"),
                    ],
                )
            } else {
                (&trigger.topic, &[(&trigger.queue, "queue")])
            };
            if let Some((value, field)) = foreign.iter().find(|(value, _)| value.is_some()) {
                let span = value.as_ref().map_or(0..0, Spanned::span);
                let message = if kind == "queue" {
                    "only a `[[trigger.topic]]` takes this field"
                } else {
                    "only a `[[trigger.queue]]` takes this field"
                };
                return Err(setting_error(span, field, message));
            }
            let Some(source) = source else {
                return Err(setting_error(
                    spanned.span(),
                    kind,
                    "this field is required",
                ));
            };
            let source_name = name(source, kind, kind)?;
            let component = *index.get(trigger.component.get_ref()).ok_or_else(|| {
                doc.error(
                    trigger.component.span(),
                    ManifestErrorKind::UnknownComponent {
                        trigger: kind,
                        index: i,
                        id: trigger.component.get_ref().clone(),
                        defined: raw.component.keys().map(|k| k.get_ref().clone()).collect(),
                    },
                )
            })?;
            let (queue, topic, default_dead_letter) = if kind == "queue" {
                let dead = format!("{source_name}-dead-letter");
                (source_name, None, dead)
            } else {
                let subscription = match &trigger.subscription {
                    Some(value) => name(value, "subscription", "subscription")?,
                    None => trigger.component.get_ref().clone(),
                };
                let queue = subscription_queue(&source_name, &subscription);
                let subscriptions = topics.entry(source_name.clone()).or_default();
                if subscriptions.contains(&queue) {
                    return Err(doc.error(
                        trigger
                            .subscription
                            .as_ref()
                            .map_or_else(|| trigger.component.span(), Spanned::span),
                        ManifestErrorKind::DuplicateSubscription {
                            index: i,
                            topic: source_name,
                            subscription,
                        },
                    ));
                }
                subscriptions.push(queue.clone());
                let dead = format!("{source_name}-{subscription}-dead-letter");
                (queue, Some(source_name), dead)
            };
            let dead_letter = match &trigger.dead_letter {
                Some(value) => {
                    let dead = name(value, "dead_letter", "queue")?;
                    if dead == queue || topic.as_deref() == Some(dead.as_str()) {
                        return Err(setting_error(
                            value.span(),
                            "dead_letter",
                            "must be another queue than the one the trigger consumes",
                        ));
                    }
                    dead
                }
                None => default_dead_letter,
            };
            let setting = |value: &Option<Spanned<u32>>,
                           field: &'static str,
                           default: u32,
                           range: std::ops::RangeInclusive<u32>,
                           message: &'static str| {
                match value {
                    None => Ok(default),
                    Some(v) if range.contains(v.get_ref()) => Ok(*v.get_ref()),
                    Some(v) => Err(setting_error(v.span(), field, message)),
                }
            };
            let millis = |value: &Option<Spanned<u64>>, default: u64| {
                Duration::from_millis(value.as_ref().map_or(default, |v| *v.get_ref()))
            };
            triggers.push(QueueTrigger {
                queue,
                topic,
                component,
                max_retries: setting(
                    &trigger.max_retries,
                    "max_retries",
                    3,
                    0..=100,
                    "must be 0 to 100",
                )?,
                retry_backoff: millis(&trigger.retry_backoff_ms, 1_000),
                max_retry_backoff: millis(&trigger.max_retry_backoff_ms, 60_000),
                batch_size: setting(
                    &trigger.batch_size,
                    "batch_size",
                    1,
                    1..=1000,
                    "must be 1 to 1000",
                )?,
                max_concurrency: setting(
                    &trigger.max_concurrency,
                    "max_concurrency",
                    1,
                    1..=1000,
                    "must be 1 to 1000",
                )?,
                dead_letter,
            });
        }
    }
    Ok((triggers, topics))
}

/// Checks `[[trigger.cron]]`: schedule syntax (croner, seconds optional, no year field),
/// timezone, component.
fn check_cron_triggers(
    doc: &Doc<'_>,
    raw: &RawManifest,
    index: &HashMap<String, usize>,
) -> Result<Vec<CronTrigger>, ManifestError> {
    let parser = croner::parser::CronParser::builder()
        .seconds(croner::parser::Seconds::Optional)
        .year(croner::parser::Year::Disallowed)
        .build();
    raw.trigger
        .cron
        .iter()
        .enumerate()
        .map(|(i, trigger)| {
            let expression = trigger.schedule.get_ref().clone();
            let schedule = parser.parse(&expression).map_err(|err| {
                doc.error(
                    trigger.schedule.span(),
                    ManifestErrorKind::Schedule {
                        index: i,
                        expression: expression.clone(),
                        error: err.to_string(),
                    },
                )
            })?;
            let timezone = match &trigger.timezone {
                None => chrono_tz::UTC,
                Some(name) => name.get_ref().parse().map_err(|_| {
                    doc.error(
                        name.span(),
                        ManifestErrorKind::Timezone {
                            index: i,
                            name: name.get_ref().clone(),
                        },
                    )
                })?,
            };
            let component = *index.get(trigger.component.get_ref()).ok_or_else(|| {
                doc.error(
                    trigger.component.span(),
                    ManifestErrorKind::UnknownComponent {
                        trigger: "cron",
                        index: i,
                        id: trigger.component.get_ref().clone(),
                        defined: raw.component.keys().map(|k| k.get_ref().clone()).collect(),
                    },
                )
            })?;
            Ok(CronTrigger {
                schedule,
                expression,
                timezone,
                component,
            })
        })
        .collect()
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
            })
        })
        .collect()
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

/// Checks that every component's `source` file exists.
///
/// # Errors
/// [`ManifestErrorKind::MissingSource`] at the `source` field of the first missing file.
pub fn check_sources(app: &App) -> Result<(), ManifestError> {
    for component in &app.components {
        if !component.source.is_file() {
            return Err(ManifestError {
                location: component.source_location.clone(),
                kind: ManifestErrorKind::MissingSource {
                    id: component.id.to_string(),
                    path: component.source.clone(),
                    has_build: component.build.is_some(),
                },
            });
        }
    }
    Ok(())
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
mod tests;

//! What can be wrong with a manifest. Each error carries the [`Location`] it concerns and
//! names the field.

use std::path::PathBuf;

use crate::app::{BadComponentId, Location};
use crate::route::RouteError;

/// A manifest error: where, and what. Displays as `file:line:column: message`.
#[derive(Debug, thiserror::Error)]
#[error("{location}: {kind}")]
pub struct ManifestError {
    /// The file, line and column the error concerns (line 0 when the file cannot be read).
    pub location: Location,
    /// What is wrong.
    pub kind: ManifestErrorKind,
}

/// Every error found in one manifest, in the order found (at least one). Displays one per
/// line.
#[derive(Debug)]
pub struct ManifestErrors(pub Vec<ManifestError>);

impl From<ManifestError> for ManifestErrors {
    fn from(err: ManifestError) -> Self {
        Self(vec![err])
    }
}

impl std::fmt::Display for ManifestErrors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write_lines(f, &self.0)
    }
}

/// Writes each of `items` on a line of its own (no newline after the last): how a list of
/// errors displays.
///
/// # Errors
/// As the formatter's.
pub(crate) fn write_lines(
    f: &mut std::fmt::Formatter<'_>,
    items: impl IntoIterator<Item = impl std::fmt::Display>,
) -> std::fmt::Result {
    for (i, item) in items.into_iter().enumerate() {
        if i > 0 {
            f.write_str("\n")?;
        }
        write!(f, "{item}")?;
    }
    Ok(())
}

impl std::error::Error for ManifestErrors {}

/// What is wrong with a manifest.
#[derive(Debug, thiserror::Error)]
pub enum ManifestErrorKind {
    /// The file cannot be read.
    #[error("cannot read the manifest: {0}")]
    Io(String),
    /// There is no manifest at the path looked at (the error's location).
    #[error(
        "no manifest here{}; create an app with `wasmhost new http <name>` (`wasmhost new --list` lists the templates), or give the manifest's path",
        spin.as_ref().map(|spin| format!(" (nor a Spin manifest, {})", spin.display())).unwrap_or_default()
    )]
    NoManifest {
        /// For a directory, the Spin manifest also looked for.
        spin: Option<PathBuf>,
    },
    /// TOML syntax, a missing field, an unknown field or a wrong type (toml's message), with
    /// the header of the table it is in.
    #[error("{}{message}", table.as_ref().map(|t| format!("in `{t}`: ")).unwrap_or_default())]
    Syntax {
        /// The enclosing table's header line, such as `[component.hello]`.
        table: Option<String>,
        /// What toml says is wrong.
        message: String,
    },
    /// `manifest_version` is not 1.
    #[error("`manifest_version`: version {0} is not supported (this wasmhost reads version 1)")]
    Version(i64),
    /// `[application] name` is empty.
    #[error("`application.name` must not be empty")]
    EmptyName,
    /// A `[component.<id>]` key that is not kebab-case.
    #[error("`component`: {0}")]
    ComponentId(BadComponentId),
    /// A route that does not parse.
    #[error("`trigger.http[{index}].route`: {error}")]
    Route {
        /// Index of the trigger in `[[trigger.http]]`, from 0.
        index: usize,
        /// Why.
        error: RouteError,
    },
    /// A route that matches exactly the same paths as an earlier one (the same shape: the
    /// same literals, parameters at the same places, the wildcard or not).
    #[error(
        "`trigger.http[{index}].route`: route `{route}` matches exactly the same paths as route `{first}` at {first_location}; remove one, or make them differ"
    )]
    DuplicateRoute {
        /// Index of the trigger in `[[trigger.http]]`, from 0.
        index: usize,
        /// The duplicate.
        route: String,
        /// The earlier route.
        first: String,
        /// Where the earlier route is written.
        first_location: Box<Location>,
    },
    /// A trigger naming a component that is not defined.
    #[error(
        "`trigger.{trigger}[{index}].component`: no component `{id}` is defined (defined: {})",
        list(defined)
    )]
    UnknownComponent {
        /// The trigger type: `http`, `cron`, `queue`, `topic`, `blob`, `workflow` or
        /// `activity`.
        trigger: &'static str,
        /// Index of the trigger in `[[trigger.<type>]]`, from 0.
        index: usize,
        /// The name used.
        id: String,
        /// The ids that are defined.
        defined: Vec<String>,
    },
    /// A `key_value_stores` label that is not a valid store label.
    #[error(
        "`component.{component}.key_value_stores`: `{label}` is not a store label (1 to 64 ASCII letters, digits, `-` or `_`)"
    )]
    StoreLabel {
        /// The component.
        component: String,
        /// The label.
        label: String,
    },
    /// A label listed twice in one component's `key_value_stores`.
    #[error("`component.{component}.key_value_stores`: store `{label}` is listed twice")]
    DuplicateStore {
        /// The component.
        component: String,
        /// The label.
        label: String,
    },
    /// A queue, topic, subscription, container, workflow or activity name that is not valid
    /// ([`crate::app::is_label`]).
    #[error("`{field}`: `{name}` is not a {what} name (1 to 64 ASCII letters, digits, `-` or `_`)")]
    Name {
        /// The field, such as `component.shop.queues` or `trigger.workflow[0].name`.
        field: String,
        /// `queue`, `topic`, `subscription`, `container`, `workflow` or `activity`.
        what: &'static str,
        /// The name.
        name: String,
    },
    /// A name listed twice in one list: a component's `queues`, `topics`, `blob_containers`
    /// or `workflows`, a workflow's `activities` or `workflows`.
    #[error("`{field}`: `{name}` is listed twice")]
    ListedTwice {
        /// The list, such as `component.shop.queues` or `trigger.workflow[0].activities`.
        field: String,
        /// The name.
        name: String,
    },
    /// A field of a `[[trigger.queue]]`, `[[trigger.topic]]`, `[[trigger.blob]]` or
    /// `[[trigger.activity]]` that is missing, out of range, or not one this kind of trigger
    /// takes.
    #[error("`trigger.{trigger}[{index}].{field}`: {message}")]
    TriggerSetting {
        /// `queue`, `topic`, `blob` or `activity`.
        trigger: &'static str,
        /// Index of the trigger in its array, from 0.
        index: usize,
        /// The field.
        field: &'static str,
        /// What is wrong, or what is allowed.
        message: &'static str,
    },
    /// An `[application]` setting out of range (`auth`, `cors`).
    #[error("`application.{field}`: {message}")]
    Application {
        /// The field (`auth`, `cors`).
        field: &'static str,
        /// What is wrong.
        message: String,
    },
    /// A `[[trigger.http]]` whose target is missing, doubled or malformed.
    #[error("`trigger.http[{index}]{field}`: {message}")]
    HttpTarget {
        /// Index of the trigger in `[[trigger.http]]`, from 0.
        index: usize,
        /// The field, with its leading `.` (`.redirect.status`), or empty for the trigger.
        field: &'static str,
        /// What is wrong.
        message: String,
    },
    /// A `[component.<id>.limits]` value out of range.
    #[error("`component.{component}.limits.{field}`: {message}")]
    Limit {
        /// The component.
        component: String,
        /// The field.
        field: &'static str,
        /// What is allowed.
        message: &'static str,
    },
    /// Two `[[trigger.topic]]` with the same topic and subscription.
    #[error(
        "`trigger.{trigger}[{index}].subscription`: {} `{topic}` already has subscription `{subscription}`; give each trigger of a {0} its own `subscription`",
        if *trigger == "blob" { "container" } else { "topic" }
    )]
    DuplicateSubscription {
        /// `topic` or `blob`.
        trigger: &'static str,
        /// Index of the second trigger in its array, from 0.
        index: usize,
        /// The topic, or the blob container.
        topic: String,
        /// The subscription.
        subscription: String,
    },
    /// A `[[trigger.workflow]]` or `[[trigger.activity]]` whose name an earlier one of its
    /// kind has.
    #[error(
        "`trigger.{trigger}[{index}].name`: {trigger} `{name}` is already defined at {first}; give each {trigger} its own name"
    )]
    DuplicateName {
        /// `workflow` or `activity`.
        trigger: &'static str,
        /// Index of the second trigger in its array, from 0.
        index: usize,
        /// The name.
        name: String,
        /// Where the first one's name is written.
        first: Box<Location>,
    },
    /// A workflow's `activities` or `workflows`, or a component's `workflows`, naming no
    /// `[[trigger.activity]]` (or `[[trigger.workflow]]`).
    #[error(
        "`{field}`: no {what} `{name}` is defined (defined: {}); each `[[trigger.{what}]]` defines one by its `name`",
        list(defined)
    )]
    UndefinedName {
        /// The list, such as `trigger.workflow[0].activities` or `component.web.workflows`.
        field: String,
        /// `activity` or `workflow`.
        what: &'static str,
        /// The name used.
        name: String,
        /// The names that are defined, in manifest order (boxed: it keeps errors small).
        defined: Box<[String]>,
    },
    /// The orchestrator of a workflow named as the component of another trigger.
    #[error(
        "`trigger.{trigger}[{index}].component`: component `{component}` is the orchestrator of workflow `{workflow}`, and an orchestrator runs only as its workflow (it is replayed from its history; see docs/workflows.md); give this trigger another component"
    )]
    OrchestratorTrigger {
        /// The other trigger's type: `http`, `cron`, `queue`, `topic`, `blob` or `activity`.
        trigger: &'static str,
        /// Index of the trigger in `[[trigger.<type>]]`, from 0.
        index: usize,
        /// The component.
        component: String,
        /// The workflow it orchestrates (the first, if several).
        workflow: String,
    },
    /// The orchestrator of a workflow with a capability grant.
    #[error(
        "`component.{component}.{field}`: component `{component}` is the orchestrator of workflow `{workflow}` and takes no capability grant: an orchestrator is replayed from its history, so it does its I/O in activities (see docs/workflows.md)"
    )]
    OrchestratorGrant {
        /// The component.
        component: String,
        /// The grant: `key_value_stores`, `queues`, `topics`, `blob_containers`, `workflows`,
        /// `allowed_outbound_hosts`, `outbound_http`, `environment`, `files` or `variables`.
        field: &'static str,
        /// The workflow it orchestrates (the first, if several).
        workflow: String,
    },
    /// A granted store that the runtime config does not define.
    #[error(
        "`component.{component}.key_value_stores`: store `{label}` is not defined in the runtime config `{}`; add a `[key_value_store.{label}]` table there (only `default` needs none)",
        runtime_config.display()
    )]
    UndefinedStore {
        /// The component.
        component: String,
        /// The label.
        label: String,
        /// The runtime config file.
        runtime_config: PathBuf,
    },
    /// A `[variables]` name that is not lowercase letters, digits and `_`.
    #[error(
        "`variables.{0}`: `{0}` is not a variable name (a lowercase letter, then lowercase letters, digits or `_`)"
    )]
    VariableName(String),
    /// A variable with both or neither of `default` and `required = true`.
    #[error("`variables.{0}`: give either a `default` or `required = true`, not both or neither")]
    VariableDefault(String),
    /// A `[component.<id>.variables]` key that is not a variable name.
    #[error(
        "`component.{component}.variables.{key}`: `{key}` is not a config key (a lowercase letter, then lowercase letters, digits or `_`)"
    )]
    ConfigKey {
        /// The component.
        component: String,
        /// The key.
        key: String,
    },
    /// A config template that does not parse, or names an undeclared variable.
    #[error("`component.{component}.variables.{key}`: {error}")]
    Template {
        /// The component.
        component: String,
        /// The key.
        key: String,
        /// Why.
        error: String,
    },
    /// An `allowed_outbound_hosts` entry that does not parse, or names an internal component
    /// that does not exist.
    #[error("`component.{component}.allowed_outbound_hosts`: `{pattern}`: {error}")]
    OutboundHost {
        /// The component.
        component: String,
        /// The entry as written.
        pattern: String,
        /// Why.
        error: String,
    },
    /// A zero in `[component.<id>.outbound_http]`.
    #[error("`component.{component}.outbound_http.{field}` must be at least 1")]
    OutboundZero {
        /// The component.
        component: String,
        /// The field.
        field: &'static str,
    },
    /// A cron schedule that does not parse.
    #[error(
        "`trigger.cron[{index}].schedule`: `{expression}` is not a cron schedule: {error} (expected `[sec] min hour day-of-month month day-of-week`, e.g. `*/5 * * * *`)"
    )]
    Schedule {
        /// Index of the trigger in `[[trigger.cron]]`, from 0.
        index: usize,
        /// The schedule as written.
        expression: String,
        /// The parser's message.
        error: String,
    },
    /// A cron timezone that is not an IANA name.
    #[error(
        "`trigger.cron[{index}].timezone`: `{name}` is not an IANA time zone (e.g. `UTC`, `Europe/Paris`)"
    )]
    Timezone {
        /// Index of the trigger in `[[trigger.cron]]`, from 0.
        index: usize,
        /// The name as written.
        name: String,
    },
    /// A component field other than `variables` and `allowed_outbound_hosts` that is wrong:
    /// an `environment` name or template, a `files` entry, an `exclude_files` pattern.
    #[error("`component.{component}.{field}`: {message}")]
    ComponentField {
        /// The component.
        component: String,
        /// The field, with any key under it (`environment.API_URL`, `files`).
        field: String,
        /// What is wrong.
        message: String,
    },
    /// A key of a Spin manifest (`spin.toml`) that wasmhost does not support, where ignoring
    /// it would change what the app does.
    #[error("`{key}` is not supported by wasmhost: {why}")]
    Unsupported {
        /// The key, as a dotted path (`component.todo.sqlite_databases`).
        key: String,
        /// What it is and what to do instead.
        why: String,
    },
    /// A component file that does not exist.
    #[error("`component.{id}.source`: file `{}` does not exist; {}", path.display(), how_to_build(id, *has_build))]
    MissingSource {
        /// The component.
        id: String,
        /// The absolute path looked for.
        path: PathBuf,
        /// Whether the component has a build command.
        has_build: bool,
    },
}

/// How to build component `id`, whose source file is missing: with its build command
/// (`has_build`), or with cargo.
fn how_to_build(id: &str, has_build: bool) -> String {
    if has_build {
        "it was not built yet: build it with `wasmhost build`, or serve with `wasmhost serve --build`".to_owned()
    } else {
        format!(
            "build it first (for a Rust component, `cargo build --target wasm32-wasip2 --release`), or give it a `[component.{id}.build] command` and serve with `wasmhost serve --build`"
        )
    }
}

fn list(ids: &[String]) -> String {
    if ids.is_empty() {
        "none".to_owned()
    } else {
        ids.iter()
            .map(|id| format!("`{id}`"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

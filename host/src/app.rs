//! Layer 2, the output of startup step 2 (see [`crate`]): the checked application model, what
//! a `wasmhost.toml` means once it has been parsed and validated (see [`crate::manifest`]).
//! Startup step 4 builds each loaded app version ([`crate::app_version`]) from it; nothing
//! here is consulted per request.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use http::HeaderValue;

use crate::allowed_hosts::AllowedHost;
use crate::route::Route;
use crate::variables::{Template, Variable};

/// A checked application.
#[derive(Debug, Clone)]
pub struct App {
    /// `[application] name`.
    pub name: String,
    /// `[application] version`, free text.
    pub version: Option<String>,
    /// `[application] description`.
    pub description: Option<String>,
    /// `[application] authors`.
    pub authors: Vec<String>,
    /// The manifest file, absolute.
    pub manifest_path: PathBuf,
    /// The components, in manifest order. Triggers refer to them by index.
    pub components: Vec<Component>,
    /// `[[trigger.http]]` entries, in manifest order.
    pub http_triggers: Vec<HttpTrigger>,
    /// `[[trigger.cron]]` entries, in manifest order.
    pub cron_triggers: Vec<CronTrigger>,
    /// `[[trigger.queue]]` entries in manifest order, then one per `[[trigger.topic]]` (on the
    /// subscription's queue), then one per `[[trigger.blob]]` (on [`blob_queue`]).
    pub queue_triggers: Vec<QueueTrigger>,
    /// The topics that have subscriptions: each topic's name, and the queues of its
    /// subscriptions ([`subscription_queue`]) in manifest order.
    pub topics: BTreeMap<String, Vec<String>>,
    /// `[[trigger.blob]]` entries, in manifest order: which events of which container reach
    /// which queue (each is also a [`QueueTrigger`] on that queue).
    pub blob_triggers: Vec<BlobTrigger>,
    /// `[[trigger.workflow]]` entries, in manifest order: each workflow's orchestrator and
    /// what it may call.
    pub workflow_triggers: Vec<WorkflowTrigger>,
    /// `[[trigger.activity]]` entries, in manifest order: which component runs which
    /// activity.
    pub activity_triggers: Vec<ActivityTrigger>,
    /// `[variables]`, by name.
    pub variables: Vec<Variable>,
    /// The manifest format it was read from: what the HTTP trigger tells guests follows it.
    pub format: ManifestFormat,
    /// What the manifest says that wasmhost ignores (Spin keys it does not need), each with
    /// where it is written; logged at startup and printed by `check`.
    pub warnings: Vec<ManifestWarning>,
}

/// The format of a manifest.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ManifestFormat {
    /// `wasmhost.toml`, manifest version 1: requests carry the `wasmhost-*` routing headers.
    #[default]
    Wasmhost,
    /// Spin's `spin.toml`, `spin_manifest_version = 2`: requests carry Spin's `spin-*`
    /// routing headers as well, with the values Spin gives them.
    Spin,
}

/// Something in a manifest that is ignored, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestWarning {
    /// Where it is written.
    pub location: Location,
    /// What is ignored and why, naming the key.
    pub message: String,
}

impl fmt::Display for ManifestWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.location, self.message)
    }
}

impl App {
    /// The directory holding the manifest; relative paths in the manifest are resolved from it.
    pub fn base_dir(&self) -> &Path {
        self.manifest_path.parent().unwrap_or(Path::new("/"))
    }
}

/// A component id: kebab-case (`[a-z][a-z0-9]*` words joined by `-`), as in Spin.
///
/// Cloning is a reference-count increment, so the per-request path can carry it into logs
/// without allocating.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ComponentId(Arc<str>);

/// A component id that is not kebab-case.
#[derive(Debug, Clone, thiserror::Error)]
#[error(
    "component id `{0}` must be kebab-case: lowercase words of letters and digits joined by `-`, starting with a letter"
)]
pub struct BadComponentId(pub String);

impl FromStr for ComponentId {
    type Err = BadComponentId;

    fn from_str(s: &str) -> Result<Self, BadComponentId> {
        let kebab = s.split('-').all(|word| {
            !word.is_empty()
                && word
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        }) && s.starts_with(|c: char| c.is_ascii_lowercase());
        if kebab {
            Ok(Self(s.into()))
        } else {
            Err(BadComponentId(s.to_owned()))
        }
    }
}

impl ComponentId {
    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ComponentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A place in a file: `file:line:column`, both 1-based (column in characters).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    /// The file.
    pub file: PathBuf,
    /// Line, from 1.
    pub line: usize,
    /// Column, from 1.
    pub column: usize,
}

/// `file:line:column`, or the file alone for line 0 (an error about the whole file, such as
/// one that cannot be read).
impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            return write!(f, "{}", self.file.display());
        }
        write!(f, "{}:{}:{}", self.file.display(), self.line, self.column)
    }
}

/// A component: one Wasm component file and what it may do.
#[derive(Debug, Clone)]
pub struct Component {
    /// Its id, the key of `[component.<id>]`.
    pub id: ComponentId,
    /// `description`.
    pub description: Option<String>,
    /// The component file, absolute.
    pub source: PathBuf,
    /// Where `source` is written in the manifest, for errors about the file.
    pub source_location: Location,
    /// How to build it, if the manifest says.
    pub build: Option<BuildCommand>,
    /// `key_value_stores`: the key-value stores it may open, by label, without duplicates.
    pub key_value_stores: Vec<KeyValueGrant>,
    /// `queues`: the queues it may send to, by name, without duplicates.
    pub queues: Vec<String>,
    /// `topics`: the topics it may publish to, by name, without duplicates.
    pub topics: Vec<String>,
    /// `blob_containers`: the blob containers it may use (`wasi:blobstore`), by name, without
    /// duplicates.
    pub blob_containers: Vec<String>,
    /// `workflows`: the workflows it may start and drive through `workflow-client`, by name,
    /// without duplicates.
    pub workflows: Vec<String>,
    /// `[component.<id>.variables]`: the `wasi:config/store` keys it may read, each a
    /// template over the app's variables.
    pub config: BTreeMap<String, Template>,
    /// `allowed_outbound_hosts` and `[component.<id>.outbound_http]`.
    pub outbound_http: OutboundHttpGrant,
    /// `[component.<id>.limits]`: where it differs from the host's [`crate::limits::Limits`].
    pub limits: ComponentLimits,
    /// Where `limits.memory_mb` is written, if it is, for the error of a value above the
    /// host's.
    pub memory_mb_location: Option<Location>,
    /// `environment`: the environment variables its instances see (`wasi:cli/environment`),
    /// each value a template over the app's variables. Nothing of the host's environment is
    /// passed on.
    pub environment: Vec<(String, Template)>,
    /// `files`: host files and directories its instances may read (read-only preopened
    /// directories of `wasi:filesystem`); empty: no filesystem at all.
    pub files: Vec<FileMount>,
}

/// One read-only directory a component sees (`files`, as Spin mounts them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileMount {
    /// `{ source = "dir", destination = "/path" }`: a host directory (absolute), mounted as it
    /// is at an absolute guest path.
    Directory {
        /// The host directory, absolute.
        source: PathBuf,
        /// Where the guest sees it: an absolute path.
        destination: String,
    },
    /// Glob patterns (`"static/**/*.html"`), relative to the manifest's directory: the files
    /// they match, minus `exclude_files`, are copied into a directory of their own at
    /// startup ([`crate::capability::wasi`]) and mounted at `/`, each at its path relative to
    /// the manifest's directory.
    Files(Vec<StagedFile>),
}

/// One file matched by a `files` pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StagedFile {
    /// The file on the host, absolute.
    pub source: PathBuf,
    /// Its path under the guest's `/`, relative (`static/index.html`).
    pub relative: PathBuf,
}

/// `[component.<id>.limits]`: each `None` takes the host's default ([`crate::limits`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ComponentLimits {
    /// Linear memory per instance, in bytes (`memory_mb`, 1 to 65 536 MiB; at most the
    /// host's).
    pub memory_bytes: Option<usize>,
    /// CPU time per invocation (`cpu_ms`, at least 10 ms).
    pub cpu: Option<Duration>,
    /// Wall-clock time per invocation (`timeout_ms`, at least 1 ms).
    pub timeout: Option<Duration>,
    /// Requests handled at once (`max_concurrent_requests`, at least 1).
    pub max_concurrent_requests: Option<u32>,
    /// The largest request body, in bytes (`max_body_mb`, 1 to 1 048 576 MiB): a component
    /// that takes uploads sets it above the host's default.
    pub max_body_bytes: Option<u64>,
}

/// What a component may do with `wasi:http/outgoing-handler`.
#[derive(Debug, Clone, Default)]
pub struct OutboundHttpGrant {
    /// `allowed_outbound_hosts`; empty denies every request.
    pub allowed_hosts: Vec<AllowedHostEntry>,
    /// Indices into [`App::components`] of the components it may call as
    /// `http://<id>.internal`, without duplicates.
    pub chain_targets: Vec<usize>,
    /// Timeouts and the per-request cap.
    pub limits: OutboundLimits,
}

/// One `allowed_outbound_hosts` entry.
#[derive(Debug, Clone)]
pub enum AllowedHostEntry {
    /// A literal pattern, parsed when the manifest is checked.
    Pattern(AllowedHost),
    /// A pattern with `{{ variable }}`s (`"https://{{ api_host }}"`): its variables are checked
    /// with the manifest; it is rendered and parsed at startup, once variables have values.
    /// It cannot grant internal chaining.
    Template {
        /// The parsed template.
        template: Template,
        /// The entry as written.
        text: String,
        /// Where it is written.
        location: Location,
    },
}

/// Outbound HTTP timeouts and cap of one component (`[component.<id>.outbound_http]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutboundLimits {
    /// TCP connect plus TLS handshake (`connect_timeout_ms`, default 5 000 ms).
    pub connect_timeout: Duration,
    /// From sending the request to the response head (`first_byte_timeout_ms`, default
    /// 30 000 ms).
    pub first_byte_timeout: Duration,
    /// Between two frames of the response body (`between_bytes_timeout_ms`, default 30 000 ms).
    pub between_bytes_timeout: Duration,
    /// Outbound requests one invocation may make, internal chaining included, shared along a
    /// chain (`max_requests`, default 100).
    pub max_requests: u32,
}

impl Default for OutboundLimits {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(5),
            first_byte_timeout: Duration::from_secs(30),
            between_bytes_timeout: Duration::from_secs(30),
            max_requests: 100,
        }
    }
}

/// One label in a component's `key_value_stores`, with where it is written (for the startup
/// error when the runtime config does not define it).
#[derive(Debug, Clone)]
pub struct KeyValueGrant {
    /// The store's label: ASCII letters, digits, `-` and `_`.
    pub label: String,
    /// Where the label is written in the manifest.
    pub location: Location,
}

/// Whether `label` is a valid store label: 1 to 64 ASCII letters, digits, `-` or `_`.
///
/// Labels become sled tree names and part of Redis keys (`<prefix>:kv:<label>:<key>`), so they
/// hold no separator or glob character.
pub fn is_label(label: &str) -> bool {
    (1..=64).contains(&label.len())
        && label
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// `[component.<id>.build]`: a shell command that produces the component file.
#[derive(Debug, Clone)]
pub struct BuildCommand {
    /// The command line, run with `sh -c`.
    pub command: String,
    /// The directory it runs in, absolute (`workdir`, default: the manifest's directory).
    pub workdir: PathBuf,
}

/// `[[trigger.http]]`: requests whose path matches `route` go to `target`.
#[derive(Debug, Clone)]
pub struct HttpTrigger {
    /// The route.
    pub route: Route,
    /// What answers it.
    pub target: HttpTarget,
    /// `private = true`: reachable only through internal chaining; 404 from outside.
    pub private: bool,
    /// `auth`, else `[application] auth`, else anonymous.
    pub auth: AuthLevel,
    /// `cors`, else `[application.cors]`, else none (no CORS headers, `OPTIONS` goes to the
    /// target like any method).
    pub cors: Option<Arc<CorsPolicy>>,
}

/// Who may call an HTTP route (`auth`), as Azure Functions' authorization levels.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum AuthLevel {
    /// `anonymous`: anyone.
    #[default]
    Anonymous,
    /// `function`: a key of the route's component, an app key or an admin key.
    Function,
    /// `admin`: an admin key only.
    Admin,
}

/// A route's CORS policy (`cors = { .. }`), answered by the host (the Fetch standard's CORS
/// protocol, <https://fetch.spec.whatwg.org/#http-cors-protocol>). Header values are made at
/// startup.
#[derive(Debug, Clone)]
pub struct CorsPolicy {
    /// `allowed_origins`: `None` for `*`, else the origins, lowercase (`https://app.example`).
    pub origins: Option<Vec<String>>,
    /// `allowed_methods`, joined (`GET, POST`); default `GET, HEAD, POST`.
    pub methods: HeaderValue,
    /// `allowed_headers`, joined; `None`: the preflight's `access-control-request-headers` is
    /// echoed back when the list is `*`, and none are allowed when it is empty.
    pub headers: Option<HeaderValue>,
    /// `allowed_headers = ["*"]`.
    pub any_header: bool,
    /// `exposed_headers`, joined.
    pub exposed_headers: Option<HeaderValue>,
    /// `max_age_secs`.
    pub max_age: Option<HeaderValue>,
    /// `allow_credentials`: the origin is echoed, never `*` (checked at load).
    pub credentials: bool,
}

/// What answers an HTTP route.
#[derive(Debug, Clone)]
pub enum HttpTarget {
    /// A component: an index into [`App::components`].
    Component(usize),
    /// A fixed response made by the host, no guest instantiated: a `redirect` or a
    /// `static_response`.
    Fixed(Arc<FixedResponse>),
    /// `static_files = "dir"`: the files under a directory, served by the host at the route's
    /// wildcard tail, no guest instantiated.
    Files(Arc<StaticFiles>),
}

/// A `static_files` directory and its file server (hyper-staticfile), made once when the
/// manifest is checked, so a request only clones a handle.
#[derive(Clone)]
pub struct StaticFiles {
    /// The directory, absolute.
    pub dir: PathBuf,
    /// `dir` with every symbolic link resolved: where a served file must be, unless
    /// `follow_symlinks`.
    pub root: PathBuf,
    /// `follow_symlinks = true`: serve a file a symbolic link leads to outside `root` too.
    pub follow_symlinks: bool,
    /// Serves the files under `dir`.
    pub server: hyper_staticfile::Static,
}

impl StaticFiles {
    /// The file server of `dir` (absolute, an existing directory); with `follow_symlinks`, a
    /// symbolic link may lead out of it.
    ///
    /// # Errors
    /// `dir`'s real path cannot be found (it vanished, or a link in it is broken).
    pub fn new(dir: PathBuf, follow_symlinks: bool) -> std::io::Result<Self> {
        Ok(Self {
            server: hyper_staticfile::Static::new(&dir),
            root: std::fs::canonicalize(&dir)?,
            follow_symlinks,
            dir,
        })
    }
}

impl fmt::Debug for StaticFiles {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StaticFiles")
            .field("dir", &self.dir)
            .finish()
    }
}

impl HttpTarget {
    /// The component, if a component answers.
    pub fn component(&self) -> Option<usize> {
        match self {
            Self::Component(index) => Some(*index),
            Self::Fixed(_) | Self::Files(_) => None,
        }
    }
}

/// A response the host sends as it is: `redirect = { to, status }` (301, 302, 303, 307 or 308,
/// default 302, with `location`) or `static_response = { status, headers, body }` (default
/// 200, no header, empty body).
#[derive(Debug, Clone)]
pub struct FixedResponse {
    /// The status.
    pub status: http::StatusCode,
    /// The headers.
    pub headers: http::HeaderMap,
    /// The body, sent with its `content-length`.
    pub body: bytes::Bytes,
}

/// `[[trigger.cron]]`: `component` runs at every tick of `schedule`, in `timezone`.
#[derive(Debug, Clone)]
pub struct CronTrigger {
    /// The schedule, parsed by croner: POSIX/Vixie cron syntax, five fields
    /// (`min hour day-of-month month day-of-week`) or six with a leading seconds field, with
    /// ranges, steps, names, `L`, `W`, `#` and `@hourly`-style aliases.
    pub schedule: croner::Cron,
    /// The schedule as written, for logs.
    pub expression: String,
    /// The time zone the schedule is read in (`timezone`, an IANA name; default UTC).
    pub timezone: chrono_tz::Tz,
    /// Index into [`App::components`].
    pub component: usize,
}

/// The queue that holds the events of `topic` for `subscription` until its trigger handles
/// them: `<topic>.<subscription>`. The dot keeps it apart from every queue a manifest can name.
pub fn subscription_queue(topic: &str, subscription: &str) -> String {
    format!("{topic}.{subscription}")
}

/// The queue that holds the events of blob `container` for `subscription` until its trigger
/// handles them: `blob.<container>.<subscription>`. Its two dots keep it apart from every
/// queue a manifest can name and from every topic subscription's queue.
pub fn blob_queue(container: &str, subscription: &str) -> String {
    format!("blob.{container}.{subscription}")
}

/// `[[trigger.blob]]`: the events of a blob container that reach one queue trigger.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobTrigger {
    /// The container (`container`).
    pub container: String,
    /// Only objects whose name starts with this (`prefix`; empty: every object).
    pub prefix: String,
    /// Only objects whose name ends with this (`suffix`; empty: every object).
    pub suffix: String,
    /// `events` has `created` (the default).
    pub created: bool,
    /// `events` has `deleted`.
    pub deleted: bool,
    /// The queue its events go to ([`blob_queue`]), consumed by its [`QueueTrigger`].
    pub queue: String,
}

impl BlobTrigger {
    /// Whether an event about object `name` (`created` or not, i.e. deleted) is one this
    /// trigger takes.
    pub fn matches(&self, name: &str, created: bool) -> bool {
        (if created { self.created } else { self.deleted })
            && name.starts_with(&self.prefix)
            && name.ends_with(&self.suffix)
    }
}

/// `[[trigger.queue]]`: `component`'s `queue-handler` gets the messages of `queue`, in batches.
/// A `[[trigger.topic]]` is one too, on its subscription's queue, and so is a
/// `[[trigger.blob]]`, on its [`blob_queue`].
#[derive(Debug, Clone)]
pub struct QueueTrigger {
    /// The queue's name (the same rule as store labels, [`is_label`]), or for a topic
    /// subscription, [`subscription_queue`], or for a blob trigger, [`blob_queue`].
    pub queue: String,
    /// For a `[[trigger.topic]]`, the topic; for a `[[trigger.blob]]`, the container:
    /// deliveries name it as their `queue`.
    pub topic: Option<String>,
    /// Index into [`App::components`].
    pub component: usize,
    /// Retries after the first failed attempt before a message is dead-lettered
    /// (`max_retries`, default 3: at most 4 attempts).
    pub max_retries: u32,
    /// The delay before the first retry (`retry_backoff_ms`, default 1 000 ms); each further
    /// retry doubles it, up to `max_retry_backoff`, with full jitter.
    pub retry_backoff: Duration,
    /// The longest delay between retries (`max_retry_backoff_ms`, default 60 000 ms).
    pub max_retry_backoff: Duration,
    /// Messages per handler call, at most (`batch_size`, 1 to 1 000, default 1).
    pub batch_size: u32,
    /// Handler calls of this trigger running at once, at most (`max_concurrency`, default 1,
    /// which keeps the handling order the queue order).
    pub max_concurrency: u32,
    /// Where messages go after their last failed attempt (`dead_letter`, default
    /// `<queue>-dead-letter`).
    pub dead_letter: String,
}

/// `[[trigger.workflow]]`: workflow `name`, whose orchestrator is `component` (it exports
/// `wasmhost:host/orchestrator`), and the activities and sub-workflows it may call (deny by
/// default, like every grant).
#[derive(Debug, Clone)]
pub struct WorkflowTrigger {
    /// The workflow's name (the same rule as store labels, [`is_label`]), unique in the app.
    pub name: String,
    /// Index into [`App::components`]: the orchestrator.
    pub component: usize,
    /// `activities`: the `[[trigger.activity]]` names it may call, without duplicates.
    pub activities: Vec<String>,
    /// `workflows`: the workflows it may call as sub-workflows, without duplicates.
    pub workflows: Vec<String>,
    /// Where the entry is written, for errors about it.
    pub location: Location,
}

/// `[[trigger.activity]]`: activity `name` runs on `component` (it exports
/// `wasmhost:host/activity-handler`).
#[derive(Debug, Clone)]
pub struct ActivityTrigger {
    /// The activity's name (the same rule as store labels, [`is_label`]), unique in the app.
    pub name: String,
    /// Index into [`App::components`].
    pub component: usize,
    /// Attempts of this activity running at once, at most (`max_concurrency`, default 16).
    pub max_concurrency: u32,
}

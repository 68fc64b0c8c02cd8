//! The manifest exactly as written: serde types for `wasmhost.toml`, with spans so that every
//! later error can point at a file, line and column. Unknown fields are rejected.

use std::collections::BTreeMap;

use serde::Deserialize;
use toml::Spanned;

/// The whole manifest.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawManifest {
    pub manifest_version: Spanned<i64>,
    pub application: RawApplication,
    #[serde(default)]
    pub trigger: RawTriggers,
    #[serde(default)]
    pub component: BTreeMap<Spanned<String>, RawComponent>,
    #[serde(default)]
    pub variables: BTreeMap<Spanned<String>, Spanned<RawVariable>>,
}

/// One `[variables] <name> = { default = "..", required = true, secret = true }`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawVariable {
    #[serde(default)]
    pub default: Option<String>,
    #[serde(default)]
    pub required: bool,
    #[serde(default)]
    pub secret: bool,
}

/// `[application]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawApplication {
    pub name: Spanned<String>,
    #[serde(default)]
    pub version: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub authors: Vec<String>,
    #[serde(default)]
    pub auth: Option<Spanned<String>>,
    #[serde(default)]
    pub cors: Option<Spanned<RawCors>>,
}

/// `cors = { .. }` of a route, or `[application.cors]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCors {
    pub allowed_origins: Vec<String>,
    #[serde(default)]
    pub allowed_methods: Option<Vec<String>>,
    #[serde(default)]
    pub allowed_headers: Vec<String>,
    #[serde(default)]
    pub exposed_headers: Vec<String>,
    #[serde(default)]
    pub max_age_secs: Option<u64>,
    #[serde(default)]
    pub allow_credentials: bool,
}

/// `[trigger]`: one array of tables per trigger type.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTriggers {
    #[serde(default)]
    pub http: Vec<RawHttpTrigger>,
    #[serde(default)]
    pub cron: Vec<RawCronTrigger>,
    #[serde(default)]
    pub queue: Vec<Spanned<RawQueueTrigger>>,
    #[serde(default)]
    pub topic: Vec<Spanned<RawQueueTrigger>>,
    #[serde(default)]
    pub blob: Vec<Spanned<RawQueueTrigger>>,
    #[serde(default)]
    pub workflow: Vec<RawWorkflowTrigger>,
    #[serde(default)]
    pub activity: Vec<RawActivityTrigger>,
}

/// One `[[trigger.queue]]` (which needs `queue`), `[[trigger.topic]]` (which needs `topic` and
/// may name a `subscription`) or `[[trigger.blob]]` (which needs `container`, and may name a
/// `subscription`, a `prefix`, a `suffix` and `events`): the same delivery settings. The fields
/// one kind does not take are rejected when the manifest is checked, each at its own line and
/// column.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawQueueTrigger {
    #[serde(default)]
    pub queue: Option<Spanned<String>>,
    #[serde(default)]
    pub topic: Option<Spanned<String>>,
    #[serde(default)]
    pub subscription: Option<Spanned<String>>,
    #[serde(default)]
    pub container: Option<Spanned<String>>,
    #[serde(default)]
    pub prefix: Option<Spanned<String>>,
    #[serde(default)]
    pub suffix: Option<Spanned<String>>,
    #[serde(default)]
    pub events: Option<Spanned<Vec<String>>>,
    pub component: Spanned<String>,
    #[serde(default)]
    pub max_retries: Option<Spanned<u32>>,
    #[serde(default)]
    pub retry_backoff_ms: Option<Spanned<u64>>,
    #[serde(default)]
    pub max_retry_backoff_ms: Option<Spanned<u64>>,
    #[serde(default)]
    pub batch_size: Option<Spanned<u32>>,
    #[serde(default)]
    pub max_concurrency: Option<Spanned<u32>>,
    #[serde(default)]
    pub dead_letter: Option<Spanned<String>>,
}

/// One `[[trigger.workflow]]`: a workflow's name, its orchestrator component, and the
/// activities and sub-workflows it may call.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawWorkflowTrigger {
    pub name: Spanned<String>,
    pub component: Spanned<String>,
    #[serde(default)]
    pub activities: Vec<Spanned<String>>,
    #[serde(default)]
    pub workflows: Vec<Spanned<String>>,
}

/// One `[[trigger.activity]]`: an activity's name and the component that runs it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawActivityTrigger {
    pub name: Spanned<String>,
    pub component: Spanned<String>,
    #[serde(default)]
    pub max_concurrency: Option<Spanned<u32>>,
}

/// One `[[trigger.cron]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCronTrigger {
    pub schedule: Spanned<String>,
    pub component: Spanned<String>,
    #[serde(default)]
    pub timezone: Option<Spanned<String>>,
}

/// One `[[trigger.http]]`: a route and exactly one of `component`, `redirect` and
/// `static_response`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawHttpTrigger {
    pub route: Spanned<String>,
    #[serde(default)]
    pub component: Option<Spanned<String>>,
    #[serde(default)]
    pub redirect: Option<RawRedirect>,
    #[serde(default)]
    pub static_response: Option<RawStaticResponse>,
    #[serde(default)]
    pub static_files: Option<Spanned<String>>,
    #[serde(default)]
    pub follow_symlinks: Option<Spanned<bool>>,
    #[serde(default)]
    pub private: bool,
    #[serde(default)]
    pub auth: Option<Spanned<String>>,
    #[serde(default)]
    pub cors: Option<Spanned<RawCors>>,
}

/// `redirect = { to = "..", status = 301 }`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRedirect {
    pub to: Spanned<String>,
    #[serde(default)]
    pub status: Option<Spanned<u16>>,
}

/// `static_response = { status = 200, headers = { .. }, body = ".." }`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawStaticResponse {
    #[serde(default)]
    pub status: Option<Spanned<u16>>,
    #[serde(default)]
    pub headers: BTreeMap<Spanned<String>, Spanned<String>>,
    #[serde(default)]
    pub body: Option<String>,
}

/// One `[component.<id>]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawComponent {
    pub source: Spanned<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub build: Option<RawBuild>,
    #[serde(default)]
    pub key_value_stores: Vec<Spanned<String>>,
    #[serde(default)]
    pub queues: Vec<Spanned<String>>,
    #[serde(default)]
    pub topics: Vec<Spanned<String>>,
    #[serde(default)]
    pub blob_containers: Vec<Spanned<String>>,
    #[serde(default)]
    pub workflows: Vec<Spanned<String>>,
    #[serde(default)]
    pub variables: BTreeMap<Spanned<String>, Spanned<String>>,
    #[serde(default)]
    pub allowed_outbound_hosts: Vec<Spanned<String>>,
    #[serde(default)]
    pub outbound_http: Option<Spanned<RawOutboundHttp>>,
    #[serde(default)]
    pub limits: Option<RawLimits>,
    #[serde(default)]
    pub environment: BTreeMap<Spanned<String>, Spanned<String>>,
    #[serde(default)]
    pub files: Vec<Spanned<RawFiles>>,
    #[serde(default)]
    pub exclude_files: Vec<Spanned<String>>,
}

/// One `files` entry: a glob pattern relative to the manifest's directory, or a directory
/// mounted at a guest path.
#[derive(Debug, Deserialize)]
#[serde(untagged, deny_unknown_fields)]
pub enum RawFiles {
    Pattern(String),
    Placement { source: String, destination: String },
}

/// `[component.<id>.limits]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLimits {
    pub memory_mb: Option<Spanned<u64>>,
    pub cpu_ms: Option<Spanned<u64>>,
    pub timeout_ms: Option<Spanned<u64>>,
    pub max_concurrent_requests: Option<Spanned<u32>>,
    pub max_body_mb: Option<Spanned<u64>>,
}

/// `[component.<id>.outbound_http]`: timeouts in ms and the per-request cap.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawOutboundHttp {
    pub connect_timeout_ms: Option<u64>,
    pub first_byte_timeout_ms: Option<u64>,
    pub between_bytes_timeout_ms: Option<u64>,
    pub max_requests: Option<u32>,
}

/// `[component.<id>.build]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawBuild {
    pub command: Spanned<String>,
    #[serde(default)]
    pub workdir: Option<Spanned<String>>,
}

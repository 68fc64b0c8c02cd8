//! The runtime config exactly as written: serde types with spans. Unknown fields are rejected.

use std::collections::BTreeMap;

use serde::Deserialize;
use toml::Spanned;

/// The whole runtime config file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRuntimeConfig {
    #[serde(default)]
    pub node: Option<Spanned<String>>,
    #[serde(default)]
    pub outbound_http: Option<RawOutboundHttp>,
    #[serde(default)]
    pub keys: Option<RawStore>,
    #[serde(default)]
    pub key_value_store: BTreeMap<Spanned<String>, RawKeyValueStore>,
    #[serde(default)]
    pub queue: BTreeMap<Spanned<String>, RawQueue>,
    #[serde(default)]
    pub topic: BTreeMap<Spanned<String>, RawQueue>,
    #[serde(default)]
    pub blob_container: BTreeMap<Spanned<String>, RawBlobContainer>,
    #[serde(default)]
    pub variables_provider: Vec<Spanned<RawVariablesProvider>>,
    /// Spin's older name of `variables_provider`.
    #[serde(default)]
    pub config_provider: Vec<Spanned<RawVariablesProvider>>,
}

/// One `[[variables_provider]]` (Spin's runtime config): `type = "env"` with an optional
/// `prefix`, or `type = "static"` with `values`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawVariablesProvider {
    #[serde(rename = "type")]
    pub kind: Spanned<String>,
    #[serde(default)]
    pub prefix: Option<Spanned<String>>,
    #[serde(default)]
    pub values: BTreeMap<String, String>,
}

/// `[outbound_http]`: the operator's outbound settings.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawOutboundHttp {
    #[serde(default)]
    pub allow_private_networks: bool,
}

/// One `[queue.<name>]` or `[topic.<name>]`: a store's fields and the visibility timeout (no `#[serde(flatten)]`:
/// spans do not survive it).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawQueue {
    #[serde(rename = "type")]
    pub kind: Spanned<String>,
    #[serde(default)]
    pub path: Option<Spanned<String>>,
    #[serde(default)]
    pub url: Option<Spanned<String>>,
    #[serde(default)]
    pub prefix: Option<Spanned<String>>,
    #[serde(default)]
    pub visibility_timeout_ms: Option<Spanned<u64>>,
}

/// One `[key_value_store.<label>]`: a store's fields and its size limits (no
/// `#[serde(flatten)]`: spans do not survive it).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawKeyValueStore {
    #[serde(rename = "type")]
    pub kind: Spanned<String>,
    #[serde(default)]
    pub path: Option<Spanned<String>>,
    #[serde(default)]
    pub url: Option<Spanned<String>>,
    #[serde(default)]
    pub prefix: Option<Spanned<String>>,
    #[serde(default)]
    pub max_key_bytes: Option<Spanned<u64>>,
    #[serde(default)]
    pub max_value_bytes: Option<Spanned<u64>>,
}

/// Where a store or queue lives. The fields allowed depend on `type`; they are checked after
/// parsing so that each misplaced field gets its own line and column.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawStore {
    #[serde(rename = "type")]
    pub kind: Spanned<String>,
    #[serde(default)]
    pub path: Option<Spanned<String>>,
    #[serde(default)]
    pub url: Option<Spanned<String>>,
    #[serde(default)]
    pub prefix: Option<Spanned<String>>,
}

/// One `[blob_container.<name>]` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawBlobContainer {
    #[serde(rename = "type")]
    pub kind: Spanned<String>,
    #[serde(default)]
    pub path: Option<Spanned<String>>,
    #[serde(default)]
    pub endpoint: Option<Spanned<String>>,
    #[serde(default)]
    pub bucket: Option<Spanned<String>>,
    #[serde(default)]
    pub prefix: Option<Spanned<String>>,
    #[serde(default)]
    pub region: Option<Spanned<String>>,
    #[serde(default)]
    pub max_object_bytes: Option<Spanned<u64>>,
    #[serde(default)]
    pub poll_interval_ms: Option<Spanned<u64>>,
}

//! Layer 2, startup step 2 (see [`crate`]): the runtime config (`--runtime-config FILE`), which says where each
//! key-value store lives. Operators write it; app authors do not.
//!
//! ```toml
//! [key_value_store.default]
//! type = "sled"
//! path = "data/kv"                  # a directory, relative to this file
//!
//! [key_value_store.sessions]
//! type = "redis"
//! url = "redis://127.0.0.1:6379"    # redis://[user:password@]host[:port][/db], rediss://, unix://
//! prefix = "shop"                   # optional; keys are `<prefix>:kv:<label>:<key>`, default `wasmhost`
//! ```
//!
//! Queues are the same, in `[queue.<name>]` tables (`type`, `path` or `url` and `prefix`, and
//! `visibility_timeout_ms`, default 60 000, which must exceed the handler's `timeout_ms` by
//! [`VISIBILITY_MARGIN`]); a queue without a table is sled under `.wasmhost/queues`. The
//! top-level `node = "<name>"` names this node's consumer of every Redis queue (default: the
//! host name). `[outbound_http] allow_private_networks = true` lets guests reach internal
//! addresses through names and `*` (default: only addresses and `localhost` named literally). A `[topic.<name>]` table, of the same shape, says where the queues of
//! the topic's subscriptions live.
//!
//! Read in two stages like the manifest: raw serde types (`raw`), then the checked
//! [`RuntimeConfig`]. [`RuntimeConfig::check_grants`] then checks every component's
//! `key_value_stores` against it. Without a file, every store is a sled tree under
//! `.wasmhost/kv` next to the manifest.

pub mod blob;
mod raw;

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub use blob::{BlobBackendConfig, BlobContainerConfig};
use raw::{RawRuntimeConfig, RawStore};
use toml::Spanned;

use crate::app::{App, Location, is_label};
use crate::manifest::{ManifestError, ManifestErrorKind};
use crate::toml_doc::TomlDoc;

/// The store every component may be granted without a runtime config entry.
pub const DEFAULT_KEY_VALUE_STORE: &str = "default";

/// Where sled stores live when the runtime config does not say: this directory under the
/// manifest's.
pub const DEFAULT_SLED_DIR: &str = ".wasmhost/kv";

/// The default Redis key prefix.
pub const DEFAULT_REDIS_PREFIX: &str = "wasmhost";

/// The checked runtime config.
#[derive(Debug, Clone, Default)]
pub struct RuntimeConfig {
    /// The file it was read from; `None` when no runtime config was given.
    pub file: Option<PathBuf>,
    /// `node`: this node's consumer name in every Redis queue; `None`: the host name.
    pub node: Option<String>,
    /// `[keys]`: where the keys of `function` and `admin` routes live (`type = "redis"`, so
    /// every node of a cluster reads them, or `type = "sled"` with a `path`: a directory of
    /// key files); `None`: `.wasmhost/keys` beside the manifest.
    pub keys: Option<Backend>,
    /// `[outbound_http] allow_private_networks = true`: guests granted a name or `*` may reach
    /// loopback, private and link-local addresses too
    /// ([`crate::allowed_hosts::is_internal_address`]); default `false`.
    pub allow_private_networks: bool,
    /// `[key_value_store.<label>]` tables, by label.
    pub key_value_stores: BTreeMap<String, Backend>,
    /// The size limits of the stores whose table sets any, by label.
    pub key_value_limits: BTreeMap<String, KeyValueLimits>,
    /// `[queue.<name>]` tables, by name.
    pub queues: BTreeMap<String, QueueBackendConfig>,
    /// `[topic.<name>]` tables, by name: where the queues of the topic's subscriptions live.
    pub topics: BTreeMap<String, QueueBackendConfig>,
    /// Spin's `[[variables_provider]]` (or `[[config_provider]]`) tables.
    pub variables: VariableProviders,
    /// `[blob_container.<name>]` tables, by name ([`blob`]).
    pub blob_containers: BTreeMap<String, BlobContainerConfig>,
}

/// Where app variables may get their values besides `--var` and `WASMHOST_VAR_<NAME>`: Spin's
/// variables providers of the environment and of static values
/// (<https://spinframework.dev/v3/dynamic-configuration#application-variables-runtime-configuration>).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VariableProviders {
    /// `type = "static"` providers' `values`, by variable name: below `--var`, above the
    /// environment (as Spin orders its providers).
    pub values: BTreeMap<String, String>,
    /// `type = "env"` providers' prefixes with their `_` (`prefix = "MYAPP"` gives `MYAPP_`),
    /// in file order.
    pub env_prefixes: Vec<String>,
}

/// Where a queue lives (`[queue.<name>]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueBackendConfig {
    /// `type = "sled"` (`path`) or `type = "redis"` (`url`, `prefix`): the stream is
    /// `<prefix>:queue:<name>`.
    pub backend: Backend,
    /// How long a message may stay in flight with a consumer without a renewal before it is
    /// delivered again, its delivery counted as failed (`visibility_timeout_ms`, default
    /// 60 000 ms). More than the longest `timeout_ms` of the queue's handlers plus
    /// [`VISIBILITY_MARGIN`].
    pub visibility_timeout: Duration,
    /// Where `visibility_timeout_ms` is written; `None` for the default.
    pub visibility_location: Option<Location>,
}

/// The default visibility timeout of a queue: 60 s.
pub const DEFAULT_VISIBILITY_TIMEOUT: Duration = Duration::from_secs(60);

/// How much longer than its handlers' `timeout_ms` a queue's visibility timeout must be: 1 s
/// (the time to instantiate a handler and to acknowledge, retry or dead-letter its batch).
pub const VISIBILITY_MARGIN: Duration = Duration::from_secs(1);

/// Where sled queues live when the runtime config does not say: this directory under the
/// manifest's.
pub const DEFAULT_QUEUE_DIR: &str = ".wasmhost/queues";

/// The size limits of one key-value store (`max_key_bytes`, `max_value_bytes` in its
/// `[key_value_store.<label>]`). Past them an operation fails with `other(..)` and reaches no
/// backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyValueLimits {
    /// The longest key, in bytes (UTF-8): default 256, as Spin; 1 to 65 536.
    pub max_key_bytes: usize,
    /// The largest value, in bytes: default 1 MiB, as Spin; 1 to 512 MiB (Redis's own limit).
    pub max_value_bytes: usize,
}

impl Default for KeyValueLimits {
    fn default() -> Self {
        Self {
            max_key_bytes: 256,
            max_value_bytes: 1 << 20,
        }
    }
}

/// Where a key-value store lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Backend {
    /// `type = "sled"`: an embedded sled database in directory `path` (absolute); the store is
    /// the tree named after its label. Several labels may share one directory.
    Sled {
        /// The database directory.
        path: PathBuf,
    },
    /// `type = "redis"`: a Redis server shared by every node; the store's keys are
    /// `<prefix>:kv:<label>:<key>`.
    Redis {
        /// The server's URL.
        url: RedisUrl,
        /// The key prefix.
        prefix: String,
    },
}

impl Backend {
    /// Its `type`: `sled` or `redis`.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Sled { .. } => "sled",
            Self::Redis { .. } => "redis",
        }
    }
}

/// A Redis URL. `Debug` and `Display` hide its password, so it can be logged.
#[derive(Clone, PartialEq, Eq)]
pub struct RedisUrl(String);

impl RedisUrl {
    /// The full URL, password included: for connecting only, never for logs.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RedisUrl {
    /// The URL with every credential form redis-rs reads masked as `***`: the password of the
    /// user info (`redis://user:***@host`) and the `pass` / `password` query parameters
    /// (`unix:///run/redis.sock?pass=***`). A URL that does not parse shows only its scheme.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Ok(mut url) = url::Url::parse(&self.0) else {
            let scheme = self
                .0
                .split_once("://")
                .map_or("redis", |(scheme, _)| scheme);
            return write!(f, "{scheme}://***");
        };
        if url.password().is_some() {
            let _ = url.set_password(Some("***"));
        }
        if url.query().is_some() {
            let masked: Vec<(String, String)> = url
                .query_pairs()
                .map(|(name, value)| {
                    let secret =
                        name.eq_ignore_ascii_case("pass") || name.eq_ignore_ascii_case("password");
                    let value = if secret { "***".into() } else { value };
                    (name.into_owned(), value.into_owned())
                })
                .collect();
            url.query_pairs_mut().clear().extend_pairs(masked);
        }
        write!(f, "{url}")
    }
}

impl fmt::Debug for RedisUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RedisUrl({self})")
    }
}

/// A runtime config error: where, and what. Displays as `file:line:column: message`.
#[derive(Debug, thiserror::Error)]
#[error("{location}: {kind}")]
pub struct RuntimeConfigError {
    /// The file, line and column the error concerns (line 0 when the file cannot be read).
    pub location: Location,
    /// What is wrong.
    pub kind: RuntimeConfigErrorKind,
}

/// What is wrong with a runtime config.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeConfigErrorKind {
    /// The file cannot be read.
    #[error("cannot read the runtime config: {0}")]
    Io(String),
    /// TOML syntax, an unknown or missing field, a wrong type (toml's message).
    #[error("{}{message}", table.as_ref().map(|t| format!("in `{t}`: ")).unwrap_or_default())]
    Syntax {
        /// The enclosing table's header line.
        table: Option<String>,
        /// What toml says is wrong.
        message: String,
    },
    /// A store label or queue name that is not 1 to 64 ASCII letters, digits, `-` or `_`.
    #[error(
        "`{table}.{label}`: `{label}` is not a valid name (1 to 64 ASCII letters, digits, `-` or `_`)"
    )]
    Label {
        /// `key_value_store` or `queue`.
        table: &'static str,
        /// The name given.
        label: String,
    },
    /// A `type` other than `sled` or `redis`.
    #[error("`{table}.{label}.type`: unknown type `{kind}` (expected `sled` or `redis`)")]
    Type {
        /// `key_value_store` or `queue`.
        table: &'static str,
        /// The store.
        label: String,
        /// The type given.
        kind: String,
    },
    /// A field that the store's type does not take.
    #[error(
        "`{table}.{label}.{field}`: a `{kind}` {} has no `{field}`",
        noun(table)
    )]
    FieldNotForType {
        /// `key_value_store` or `queue`.
        table: &'static str,
        /// The store.
        label: String,
        /// The field.
        field: &'static str,
        /// The store's type.
        kind: &'static str,
    },
    /// A field the store's type needs.
    #[error("`{table}.{label}`: a `{kind}` {} needs `{field}`", noun(table))]
    MissingField {
        /// `key_value_store` or `queue`.
        table: &'static str,
        /// The store.
        label: String,
        /// The field.
        field: &'static str,
        /// The store's type.
        kind: &'static str,
    },
    /// A Redis URL that does not parse (the URL is not repeated: it may hold a password).
    #[error(
        "`{table}.{label}.url`: not a Redis URL ({reason}); expected redis://[user:password@]host[:port][/db], rediss://.. or unix://.."
    )]
    RedisUrl {
        /// `key_value_store` or `queue`.
        table: &'static str,
        /// The store.
        label: String,
        /// The Redis client's reason.
        reason: String,
    },
    /// A `[blob_container.<name>]` field with a value it cannot take.
    #[error("`blob_container.{label}.{field}`: {message}")]
    BlobSetting {
        /// The container.
        label: String,
        /// The field.
        field: &'static str,
        /// What is wrong, and what is allowed.
        message: String,
    },
    /// A Spin variables provider wasmhost does not have (Vault, Azure Key Vault), or a
    /// setting it does not support.
    #[error("`{table}`: {message}")]
    VariablesProvider {
        /// `variables_provider` or `config_provider`.
        table: &'static str,
        /// What is not supported, and what to do instead.
        message: String,
    },
    /// A `node` name that is empty, longer than 255 bytes, or holds a space or control
    /// character.
    #[error("`node`: `{0}` must be 1 to 255 printable ASCII characters without spaces")]
    Node(String),
    /// A visibility timeout a queue handler can outlast: its message would be delivered again
    /// while the handler still runs. The text names the queue, both values, the component and
    /// the table to change.
    #[error("{0}")]
    Visibility(String),
    /// A number out of its range.
    #[error("`{table}.{label}.{field}`: {value} is out of range ({min} to {max})")]
    Range {
        /// `key_value_store`.
        table: &'static str,
        /// The store.
        label: String,
        /// The field.
        field: &'static str,
        /// The value given.
        value: u64,
        /// The least allowed.
        min: u64,
        /// The most allowed.
        max: u64,
    },
    /// A Redis prefix that is empty or holds `:`, whitespace or a glob character.
    #[error(
        "`{table}.{label}.prefix`: `{prefix}` must be non-empty, without `:`, whitespace, `*`, `?`, `[`, `]` or `\\`"
    )]
    Prefix {
        /// `key_value_store` or `queue`.
        table: &'static str,
        /// The store.
        label: String,
        /// The prefix given.
        prefix: String,
    },
}

/// Whether `name` may name a node: 1 to 255 printable ASCII characters, no space.
fn is_node_name(name: &str) -> bool {
    (1..=255).contains(&name.len()) && name.bytes().all(|b| b.is_ascii_graphic())
}

/// What a table of the runtime config defines, for messages: `store` or `queue`.
fn noun(table: &str) -> &'static str {
    match table {
        "queue" => "queue",
        "topic" => "topic",
        "blob_container" => "container",
        _ => "store",
    }
}

impl RuntimeConfig {
    /// Reads and checks the runtime config at `path`. Relative `path`s in it are resolved from
    /// the file's directory.
    ///
    /// # Errors
    /// [`RuntimeConfigError`] for an unreadable file, TOML syntax, an unknown or missing field,
    /// a bad label, an unknown `type`, a field the type does not take, a bad Redis URL or
    /// prefix.
    pub fn load(path: &Path) -> Result<Self, RuntimeConfigError> {
        let (file, text) =
            crate::toml_doc::read(path).map_err(|(location, err)| RuntimeConfigError {
                location,
                kind: RuntimeConfigErrorKind::Io(err),
            })?;
        Self::parse(&file, &text)
    }

    /// Checks runtime config `text` read from `file` (absolute). See [`RuntimeConfig::load`].
    ///
    /// # Errors
    /// As [`RuntimeConfig::load`], but never an I/O error.
    pub fn parse(file: &Path, text: &str) -> Result<Self, RuntimeConfigError> {
        let doc = TomlDoc { file, text };
        let error = |span: std::ops::Range<usize>, kind| RuntimeConfigError {
            location: doc.location(span),
            kind,
        };
        let raw: RawRuntimeConfig = doc.parse().map_err(|err| RuntimeConfigError {
            location: err.location,
            kind: RuntimeConfigErrorKind::Syntax {
                table: err.table,
                message: err.message,
            },
        })?;
        let base = file.parent().unwrap_or(Path::new("/"));
        let check_name = |table, name: &Spanned<String>| {
            let label = name.get_ref().clone();
            if is_label(&label) {
                Ok(label)
            } else {
                Err(error(
                    name.span(),
                    RuntimeConfigErrorKind::Label { table, label },
                ))
            }
        };
        let mut key_value_stores = BTreeMap::new();
        let mut key_value_limits = BTreeMap::new();
        for (label, store) in raw.key_value_store {
            let name = check_name("key_value_store", &label)?;
            let range = |field, value: Option<Spanned<u64>>, default: usize, max: u64| {
                let Some(value) = value else {
                    return Ok(default);
                };
                let given = *value.get_ref();
                if (1..=max).contains(&given) {
                    Ok(usize::try_from(given).unwrap_or(usize::MAX))
                } else {
                    Err(error(
                        value.span(),
                        RuntimeConfigErrorKind::Range {
                            table: "key_value_store",
                            label: name.clone(),
                            field,
                            value: given,
                            min: 1,
                            max,
                        },
                    ))
                }
            };
            let defaults = KeyValueLimits::default();
            let sets_limits = store.max_key_bytes.is_some() || store.max_value_bytes.is_some();
            let limits = KeyValueLimits {
                max_key_bytes: range(
                    "max_key_bytes",
                    store.max_key_bytes,
                    defaults.max_key_bytes,
                    1 << 16,
                )?,
                max_value_bytes: range(
                    "max_value_bytes",
                    store.max_value_bytes,
                    defaults.max_value_bytes,
                    512 << 20,
                )?,
            };
            let store = RawStore {
                kind: store.kind,
                path: store.path,
                url: store.url,
                prefix: store.prefix,
            };
            let backend = check_store("key_value_store", &name, store, base)
                .map_err(|(span, kind)| error(span, kind))?;
            if sets_limits {
                key_value_limits.insert(name.clone(), limits);
            }
            key_value_stores.insert(name, backend);
        }
        let mut queues = BTreeMap::new();
        let mut topics = BTreeMap::new();
        let tables = [
            ("queue", raw.queue, &mut queues),
            ("topic", raw.topic, &mut topics),
        ];
        for (table, raw_tables, checked) in tables {
            for (label, queue) in raw_tables {
                let name = check_name(table, &label)?;
                let visibility = queue.visibility_timeout_ms;
                let store = RawStore {
                    kind: queue.kind,
                    path: queue.path,
                    url: queue.url,
                    prefix: queue.prefix,
                };
                let backend = check_store(table, &name, store, base)
                    .map_err(|(span, kind)| error(span, kind))?;
                let (visibility_timeout, visibility_location) = match visibility {
                    None => (DEFAULT_VISIBILITY_TIMEOUT, None),
                    Some(ms) if *ms.get_ref() > 0 => (
                        Duration::from_millis(*ms.get_ref()),
                        Some(doc.location(ms.span())),
                    ),
                    Some(ms) => {
                        return Err(error(
                            ms.span(),
                            RuntimeConfigErrorKind::MissingField {
                                table,
                                label: name,
                                field: "visibility_timeout_ms of at least 1",
                                kind: backend.kind(),
                            },
                        ));
                    }
                };
                checked.insert(
                    name,
                    QueueBackendConfig {
                        backend,
                        visibility_timeout,
                        visibility_location,
                    },
                );
            }
        }
        let mut blob_containers = BTreeMap::new();
        for (label, table) in raw.blob_container {
            let name = check_name("blob_container", &label)?;
            let config =
                blob::check(&name, table, base).map_err(|(span, kind)| error(span, kind))?;
            blob_containers.insert(name, config);
        }
        let node = match raw.node {
            Some(node) if !is_node_name(node.get_ref()) => {
                return Err(error(
                    node.span(),
                    RuntimeConfigErrorKind::Node(node.into_inner()),
                ));
            }
            node => node.map(Spanned::into_inner),
        };
        let keys = match raw.keys {
            Some(store) => Some(
                check_store("keys", "store", store, base)
                    .map_err(|(span, kind)| error(span, kind))?,
            ),
            None => None,
        };
        let mut variables = VariableProviders::default();
        let providers = [
            ("variables_provider", raw.variables_provider),
            ("config_provider", raw.config_provider),
        ];
        for (table, providers) in providers {
            for provider in providers {
                let span = provider.span();
                let provider = provider.into_inner();
                let unsupported = |span, message: String| {
                    error(
                        span,
                        RuntimeConfigErrorKind::VariablesProvider { table, message },
                    )
                };
                match provider.kind.get_ref().as_str() {
                    "env" => variables.env_prefixes.push(format!(
                        "{}_",
                        provider
                            .prefix
                            .map_or_else(|| "SPIN_VARIABLE".to_owned(), Spanned::into_inner)
                    )),
                    "static" => variables.values.extend(provider.values),
                    other => {
                        let message = format!(
                            "provider type `{other}` is not supported (wasmhost has `env` and `static`)"
                        );
                        return Err(unsupported(span, message));
                    }
                }
            }
        }
        Ok(Self {
            file: Some(file.to_owned()),
            keys,
            variables,
            node,
            allow_private_networks: raw
                .outbound_http
                .is_some_and(|outbound| outbound.allow_private_networks),
            key_value_stores,
            key_value_limits,
            queues,
            topics,
            blob_containers,
        })
    }

    /// Checks that every store a component of `app` is granted is defined here. Without a
    /// runtime config file every label is a sled store; with one, only `default` may be left
    /// out.
    ///
    /// # Errors
    /// [`ManifestErrorKind::UndefinedStore`] at the first undefined label in the manifest.
    pub fn check_grants(&self, app: &App) -> Result<(), ManifestError> {
        let Some(file) = &self.file else {
            return Ok(());
        };
        for component in &app.components {
            for grant in &component.key_value_stores {
                if !self.defines_key_value_store(&grant.label) {
                    return Err(ManifestError {
                        location: grant.location.clone(),
                        kind: ManifestErrorKind::UndefinedStore {
                            component: component.id.to_string(),
                            label: grant.label.clone(),
                            runtime_config: file.clone(),
                        },
                    });
                }
            }
        }
        Ok(())
    }

    /// Checks that every queue consumed by a trigger of `app` has a visibility timeout of at
    /// least its handler's `timeout_ms` (`default_timeout` where the component sets none) plus
    /// [`VISIBILITY_MARGIN`].
    ///
    /// # Errors
    /// [`RuntimeConfigErrorKind::Visibility`], at `visibility_timeout_ms` where it is written,
    /// else at the file (line 0), else at the handler's component in the manifest.
    pub fn check_visibility(
        &self,
        app: &App,
        default_timeout: Duration,
    ) -> Result<(), RuntimeConfigError> {
        for trigger in &app.queue_triggers {
            let component = &app.components[trigger.component];
            let timeout = component.limits.timeout.unwrap_or(default_timeout);
            let settings = self.queue_backend(&trigger.queue, app.base_dir());
            if settings.visibility_timeout >= timeout.saturating_add(VISIBILITY_MARGIN) {
                continue;
            }
            let remedy = match trigger.queue.split_once('.') {
                Some((_, rest)) if rest.contains('.') => {
                    "lower `timeout_ms` (a blob trigger's queue has the default)".to_owned()
                }
                Some((topic, _)) => format!(
                    "set `visibility_timeout_ms` in `[topic.{topic}]` of the runtime config, or lower `timeout_ms`"
                ),
                None => format!(
                    "set `visibility_timeout_ms` in `[queue.{}]` of the runtime config, or lower `timeout_ms`",
                    trigger.queue
                ),
            };
            let location = settings.visibility_location.clone().unwrap_or_else(|| {
                self.file.as_ref().map_or_else(
                    || component.source_location.clone(),
                    |file| Location {
                        file: file.clone(),
                        line: 0,
                        column: 0,
                    },
                )
            });
            return Err(RuntimeConfigError {
                location,
                kind: RuntimeConfigErrorKind::Visibility(format!(
                    "queue `{}`: the visibility timeout ({} ms{}) must be at least component `{}`'s timeout_ms ({} ms) plus {} ms, or a message is delivered again while its handler still runs; {remedy}",
                    trigger.queue,
                    settings.visibility_timeout.as_millis(),
                    if settings.visibility_location.is_none() {
                        ", the default"
                    } else {
                        ""
                    },
                    component.id,
                    timeout.as_millis(),
                    VISIBILITY_MARGIN.as_millis(),
                )),
            });
        }
        Ok(())
    }

    /// This node's consumer name in every Redis queue: `node`, else the host name, else
    /// `wasmhost`.
    pub fn node_name(&self) -> String {
        self.node.clone().unwrap_or_else(|| {
            hostname::get()
                .ok()
                .and_then(|name| name.into_string().ok())
                .filter(|name| is_node_name(name))
                .unwrap_or_else(|| "wasmhost".to_owned())
        })
    }

    /// Whether store `label` may be used: always without a runtime config file (every store is
    /// then sled), and with one if it is `default` or has a `[key_value_store.<label>]` table.
    pub fn defines_key_value_store(&self, label: &str) -> bool {
        self.file.is_none()
            || label == DEFAULT_KEY_VALUE_STORE
            || self.key_value_stores.contains_key(label)
    }

    /// Where queue `name` lives: its `[queue.<name>]` table (for the queue of a topic
    /// subscription, `<topic>.<subscription>`, its topic's `[topic.<name>]`), or else sled in
    /// `<app_dir>/.wasmhost/queues`. A blob trigger's queue (`blob.<container>.<subscription>`)
    /// is always sled there.
    pub fn queue_backend(&self, name: &str, app_dir: &Path) -> QueueBackendConfig {
        let table = match name.split_once('.') {
            // A blob trigger's queue (`blob.<container>.<subscription>`): always the default.
            Some((_, rest)) if rest.contains('.') => None,
            Some((topic, _)) => self.topics.get(topic),
            None => self.queues.get(name),
        };
        table.cloned().unwrap_or_else(|| QueueBackendConfig {
            backend: Backend::Sled {
                path: app_dir.join(DEFAULT_QUEUE_DIR),
            },
            visibility_timeout: DEFAULT_VISIBILITY_TIMEOUT,
            visibility_location: None,
        })
    }

    /// Where blob container `name` lives, its largest object and its poller: its
    /// `[blob_container.<name>]` table, or else local files under `<app_dir>/.wasmhost/blobs`.
    pub fn blob_container(&self, name: &str, app_dir: &Path) -> BlobContainerConfig {
        self.blob_containers
            .get(name)
            .cloned()
            .unwrap_or_else(|| BlobContainerConfig::default_for(app_dir))
    }

    /// The size limits of store `label`: its table's, or the defaults.
    pub fn key_value_limits(&self, label: &str) -> KeyValueLimits {
        self.key_value_limits
            .get(label)
            .copied()
            .unwrap_or_default()
    }

    /// Where store `label` lives: its `[key_value_store.<label>]` table, or else a sled tree in
    /// `<app_dir>/.wasmhost/kv`.
    pub fn key_value_backend(&self, label: &str, app_dir: &Path) -> Backend {
        self.key_value_stores
            .get(label)
            .cloned()
            .unwrap_or_else(|| Backend::Sled {
                path: app_dir.join(DEFAULT_SLED_DIR),
            })
    }
}

type SpannedError = (std::ops::Range<usize>, RuntimeConfigErrorKind);

/// Checks one `[key_value_store.<label>]` table.
fn check_store(
    table: &'static str,
    label: &str,
    store: RawStore,
    base: &Path,
) -> Result<Backend, SpannedError> {
    let kind_span = store.kind.span();
    let not_for = |field: Option<Spanned<String>>, name: &'static str, kind: &'static str| {
        field.map_or(Ok(()), |field| {
            Err((
                field.span(),
                RuntimeConfigErrorKind::FieldNotForType {
                    table,
                    label: label.to_owned(),
                    field: name,
                    kind,
                },
            ))
        })
    };
    match store.kind.get_ref().as_str() {
        // Spin's own default store (SQLite in a file): an embedded sled store here, in a
        // directory beside that file (`<path>.sled`), or under `.wasmhost/kv` without a path.
        "spin" if table == "key_value_store" => {
            not_for(store.url, "url", "spin")?;
            not_for(store.prefix, "prefix", "spin")?;
            let path = store.path.map_or_else(
                || base.join(DEFAULT_SLED_DIR),
                |path| {
                    let mut dir = base.join(path.get_ref()).into_os_string();
                    dir.push(".sled");
                    PathBuf::from(dir)
                },
            );
            Ok(Backend::Sled { path })
        }
        "sled" => {
            not_for(store.url, "url", "sled")?;
            not_for(store.prefix, "prefix", "sled")?;
            let path = store.path.ok_or_else(|| {
                (
                    kind_span,
                    RuntimeConfigErrorKind::MissingField {
                        table,
                        label: label.to_owned(),
                        field: "path",
                        kind: "sled",
                    },
                )
            })?;
            Ok(Backend::Sled {
                path: base.join(path.get_ref()),
            })
        }
        "redis" => {
            not_for(store.path, "path", "redis")?;
            let url = store.url.ok_or_else(|| {
                (
                    kind_span.clone(),
                    RuntimeConfigErrorKind::MissingField {
                        table,
                        label: label.to_owned(),
                        field: "url",
                        kind: "redis",
                    },
                )
            })?;
            if let Err(err) = redis::Client::open(url.get_ref().as_str()) {
                return Err((
                    url.span(),
                    RuntimeConfigErrorKind::RedisUrl {
                        table,
                        label: label.to_owned(),
                        reason: err.to_string(),
                    },
                ));
            }
            let prefix = match store.prefix {
                Some(prefix) if !is_redis_prefix(prefix.get_ref()) => {
                    return Err((
                        prefix.span(),
                        RuntimeConfigErrorKind::Prefix {
                            table,
                            label: label.to_owned(),
                            prefix: prefix.get_ref().clone(),
                        },
                    ));
                }
                Some(prefix) => prefix.into_inner(),
                None => DEFAULT_REDIS_PREFIX.to_owned(),
            };
            Ok(Backend::Redis {
                url: RedisUrl(url.into_inner()),
                prefix,
            })
        }
        other => Err((
            kind_span,
            RuntimeConfigErrorKind::Type {
                table,
                label: label.to_owned(),
                kind: other.to_owned(),
            },
        )),
    }
}

/// A Redis key prefix: non-empty, without the separator `:`, whitespace or glob characters
/// (so that a `SCAN MATCH <prefix>:kv:<label>:*` pattern needs no escaping).
fn is_redis_prefix(prefix: &str) -> bool {
    !prefix.is_empty()
        && !prefix
            .chars()
            .any(|c| c == ':' || c.is_whitespace() || matches!(c, '*' | '?' | '[' | ']' | '\\'))
}

#[cfg(test)]
mod tests;

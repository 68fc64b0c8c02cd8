//! The key-value capability: `wasi:keyvalue@0.2.0-draft` (`store`, `atomics`, `batch`) and
//! wasmhost's `keyvalue-cas`, over one [`KeyValueBackend`] per store: [`sled`] (embedded,
//! the default) or [`redis`] (shared by several nodes). A third backend is one more file that
//! implements the trait, and one more arm in `open_backend`.
//!
//! Startup: [`KeyValueStores::open`] opens every store some component is granted, as the
//! [`RuntimeConfig`] says, and [`KeyValueStores::grants`] resolves each component's
//! `key_value_stores` into its [`StoreGrants`] once.
//!
//! Per request: the instance state holds its component's [`StoreGrants`] (an `Arc` clone).
//! `store.open(label)` compares the label with the few granted ones and pushes a [`Bucket`]
//! into the resource table; a label not granted gets `access-denied`, whether or not such a
//! store exists. Every other call goes straight to the backend.

pub mod redis;
pub mod sled;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, Result};
use wasmtime::component::{HasData, Linker, Resource, ResourceTable};

use crate::app::{App, Component, ComponentId};
use crate::bindings::wasi::keyvalue::{atomics, batch, store};
use crate::bindings::wasmhost::host::keyvalue_cas;
pub use crate::capability::BackendError;
use crate::metrics::{Metrics, StoreMetrics, StoreOutcome};
use crate::runtime_config::{RuntimeConfig, StoreBackend};
use crate::trigger::request_id::RequestId;

/// Keys a `list-keys` call returns at most per page.
pub const LIST_PAGE: usize = 1000;

/// One page of `list-keys`: the keys, and the cursor of the next page (`None` on the last).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyPage {
    /// Keys of this page, at most [`LIST_PAGE`].
    pub keys: Vec<String>,
    /// Pass this to get the next page; `None` when there is none.
    pub cursor: Option<u64>,
}

/// A key-value store's backend. Keys are strings; values are bytes of any length (0 bytes
/// included). Every write is durable when it returns: flushed to disk (sled) or acknowledged
/// by the server (Redis).
///
/// Counters (`increment`) are stored as decimal ASCII text, so `get` on a counter returns
/// `b"42"` with every backend.
#[async_trait::async_trait]
pub trait KeyValueBackend: Send + Sync + 'static {
    /// The value of `key`, or `None`.
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, BackendError>;
    /// Sets `key` to `value`.
    async fn set(&self, key: &str, value: &[u8]) -> Result<(), BackendError>;
    /// Deletes `key`; deleting a missing key succeeds.
    async fn delete(&self, key: &str) -> Result<(), BackendError>;
    /// Whether `key` exists.
    async fn exists(&self, key: &str) -> Result<bool, BackendError>;
    /// A page of keys, from the start (`cursor = None`) or from a cursor an earlier page
    /// returned. Keys present during the whole listing are returned at least once.
    async fn list_keys(&self, cursor: Option<u64>) -> Result<KeyPage, BackendError>;
    /// Atomically adds `delta` to the decimal counter at `key` (a missing key counts as 0) and
    /// returns the new value.
    ///
    /// # Errors
    /// [`BackendError::Invalid`] if the value is not a decimal `u64` or the sum overflows.
    async fn increment(&self, key: &str, delta: u64) -> Result<u64, BackendError>;
    /// Atomically sets `key` to `value` if its value is `expected` (`None`: the key does not
    /// exist). Returns whether it was written.
    async fn compare_and_swap(
        &self,
        key: &str,
        expected: Option<&[u8]>,
        value: &[u8],
    ) -> Result<bool, BackendError>;
    /// The values of `keys`, in order.
    async fn get_many(&self, keys: &[String]) -> Result<Vec<Option<Vec<u8>>>, BackendError>;
    /// Sets every pair, atomically where the backend can (both here can).
    async fn set_many(&self, entries: &[(String, Vec<u8>)]) -> Result<(), BackendError>;
    /// Deletes every key.
    async fn delete_many(&self, keys: &[String]) -> Result<(), BackendError>;
    /// Checks that the backend answers.
    async fn ping(&self) -> Result<(), BackendError>;
}

/// An open store: its label, its backend, and a description of where it lives for logs (a
/// Redis password is never in it).
pub struct OpenStore {
    /// The store's label.
    pub label: Arc<str>,
    /// Where it lives: `sled <dir>` or `redis <url> prefix <p>`.
    pub description: String,
    /// The backend.
    pub backend: Arc<dyn KeyValueBackend>,
    /// Its operation counters.
    pub metrics: StoreMetrics,
}

/// Every store the app uses, opened at startup, by label. `default()` has none (and fresh
/// metrics).
#[derive(Default)]
pub struct KeyValueStores {
    stores: BTreeMap<String, Arc<OpenStore>>,
    config: RuntimeConfig,
    app_dir: PathBuf,
    sled_dbs: BTreeMap<PathBuf, ::sled::Db>,
    metrics: Arc<Metrics>,
}

impl KeyValueStores {
    /// Opens every store some component of `app` is granted, where `config` says; each
    /// store counts its operations in `metrics`.
    ///
    /// Redis stores connect lazily (a node may start before Redis is up); an unreachable one is
    /// logged as a warning here, and its operations fail until it answers.
    ///
    /// # Errors
    /// A sled directory that cannot be opened (in use by another process, no permission).
    pub async fn open(app: &App, config: &RuntimeConfig, metrics: Arc<Metrics>) -> Result<Self> {
        let mut stores = Self {
            config: config.clone(),
            app_dir: app.base_dir().to_owned(),
            stores: BTreeMap::new(),
            sled_dbs: BTreeMap::new(),
            metrics,
        };
        for component in &app.components {
            for grant in &component.key_value_stores {
                stores.open_store(&grant.label).await?;
            }
        }
        Ok(stores)
    }

    /// The stores of `app` (a new version of the app these were opened for): the stores open
    /// here are shared; only the labels `app` newly grants are opened, as
    /// [`KeyValueStores::open`] does.
    ///
    /// # Errors
    /// As [`KeyValueStores::open`], for the stores opened now.
    pub async fn reopen(&self, app: &App) -> Result<Self> {
        let mut stores = Self {
            config: self.config.clone(),
            app_dir: app.base_dir().to_owned(),
            stores: self.stores.clone(),
            sled_dbs: self.sled_dbs.clone(),
            metrics: self.metrics.clone(),
        };
        for component in &app.components {
            for grant in &component.key_value_stores {
                stores.open_store(&grant.label).await?;
            }
        }
        Ok(stores)
    }

    /// The store `label`, opened now if it was not yet.
    ///
    /// # Errors
    /// As [`KeyValueStores::open`].
    pub async fn open_store(&mut self, label: &str) -> Result<Arc<OpenStore>> {
        if let Some(store) = self.stores.get(label) {
            return Ok(store.clone());
        }
        let backend = self.config.store_backend(label, &self.app_dir);
        let store = Arc::new(
            open_backend(
                label,
                &backend,
                &mut self.sled_dbs,
                self.metrics.store(label),
            )
            .with_context(|| format!("key-value store `{label}`"))?,
        );
        if let Err(err) = store.backend.ping().await {
            tracing::warn!(
                store = label,
                backend = %store.description,
                "key-value store does not answer yet; its operations fail until it does: {err}"
            );
        }
        tracing::info!(store = label, backend = %store.description, "key-value store open");
        self.stores.insert(label.to_owned(), store.clone());
        Ok(store)
    }

    /// Every open store, by label.
    pub fn stores(&self) -> impl Iterator<Item = &Arc<OpenStore>> {
        self.stores.values()
    }

    /// The stores `component` is granted, resolved once at startup.
    ///
    /// # Panics
    /// If a granted store was not opened, which [`KeyValueStores::open`] rules out.
    pub fn grants(&self, component: &Component) -> StoreGrants {
        let stores = component
            .key_value_stores
            .iter()
            .map(|grant| self.stores[&grant.label].clone())
            .collect();
        StoreGrants {
            component: component.id.clone(),
            stores,
        }
    }

    /// Development seeding (`wasmhost serve --key-value store:key=value`): sets `key` in store
    /// `label` before serving.
    ///
    /// # Errors
    /// A store that cannot be opened, or a backend that fails the write.
    pub async fn seed(&mut self, label: &str, key: &str, value: &[u8]) -> Result<()> {
        if let Some(file) = &self.config.file
            && !self.config.defines_store(label)
        {
            anyhow::bail!(
                "--key-value: store `{label}` is not defined in the runtime config `{}`",
                file.display()
            );
        }
        let store = self.open_store(label).await?;
        store
            .backend
            .set(key, value)
            .await
            .with_context(|| format!("cannot seed key `{key}` in key-value store `{label}`"))
    }
}

/// Opens one store's backend. `sled_dbs` holds the sled databases opened so far: stores that
/// share a directory share its database (sled locks a directory to one opener).
fn open_backend(
    label: &str,
    backend: &StoreBackend,
    sled_dbs: &mut BTreeMap<PathBuf, ::sled::Db>,
    metrics: StoreMetrics,
) -> Result<OpenStore> {
    let (description, backend): (String, Arc<dyn KeyValueBackend>) = match backend {
        StoreBackend::Sled { path } => {
            let db = match sled_dbs.get(path) {
                Some(db) => db.clone(),
                None => {
                    let db = sled::open_db(path)?;
                    sled_dbs.insert(path.clone(), db.clone());
                    db
                }
            };
            (
                format!("sled {}", path.display()),
                Arc::new(sled::SledStore::open(&db, label)?),
            )
        }
        StoreBackend::Redis { url, prefix } => (
            format!("redis {url} prefix {prefix}"),
            Arc::new(redis::RedisStore::open(url, prefix, label)?),
        ),
    };
    Ok(OpenStore {
        label: label.into(),
        description,
        backend,
        metrics,
    })
}

/// The stores one component may open, resolved at startup; cloning is an `Arc` increment.
#[derive(Clone)]
pub struct StoreGrants {
    component: ComponentId,
    stores: Arc<[Arc<OpenStore>]>,
}

/// The `wasi:keyvalue/store.bucket` resource: an open store.
pub struct Bucket(Arc<OpenStore>);

/// The error of every key-value call, as `wasi:keyvalue/store.error`, or a trap. wasmhost never
/// answers `no-such-store`: an unknown label is `access-denied`, so a guest cannot probe which
/// stores exist.
#[derive(Debug)]
pub enum KeyValueError {
    /// `access-denied`: the store is not granted to the component.
    AccessDenied,
    /// `other`: the backend failed, or the operation does not apply.
    Other(String),
    /// A host-side fault (a bucket handle not in the resource table): traps the instance.
    Trap(wasmtime::Error),
}

impl From<wasmtime::component::ResourceTableError> for KeyValueError {
    fn from(err: wasmtime::component::ResourceTableError) -> Self {
        Self::Trap(err.into())
    }
}

/// The per-instance view the generated traits are implemented on.
pub struct KeyValue<'a> {
    /// The instance's resource table.
    pub table: &'a mut ResourceTable,
    /// What the instance's component is granted.
    pub grants: &'a StoreGrants,
    /// The invocation's request id, for log lines.
    pub request_id: &'a RequestId,
}

impl KeyValue<'_> {
    fn store(&self, bucket: &Resource<Bucket>) -> Result<Arc<OpenStore>, KeyValueError> {
        Ok(self.table.get(bucket)?.0.clone())
    }

    /// Counts the operation in its store's metrics and turns a backend failure into the
    /// guest's error, logging an unavailable backend with the component, store and request id.
    fn check<T>(
        &self,
        store: &OpenStore,
        op: &str,
        result: Result<T, BackendError>,
    ) -> Result<T, KeyValueError> {
        let outcome = match &result {
            Ok(_) => StoreOutcome::Ok,
            Err(BackendError::Invalid(_)) => StoreOutcome::Invalid,
            Err(BackendError::Unavailable(_)) => StoreOutcome::Unavailable,
        };
        store.metrics.count(outcome);
        result.map_err(|err| match err {
            BackendError::Invalid(message) => KeyValueError::Other(message),
            BackendError::Unavailable(message) => {
                tracing::warn!(
                    component = %self.grants.component,
                    request_id = %self.request_id,
                    store = %store.label,
                    backend = %store.description,
                    "key-value {op} failed: {message}"
                );
                KeyValueError::Other(format!(
                    "key-value store `{}` is unavailable: {message}",
                    store.label
                ))
            }
        })
    }
}

impl store::Host for KeyValue<'_> {
    async fn open(&mut self, identifier: String) -> Result<Resource<Bucket>, KeyValueError> {
        let store = self
            .grants
            .stores
            .iter()
            .find(|store| *store.label == *identifier)
            .ok_or(KeyValueError::AccessDenied)?;
        Ok(self.table.push(Bucket(store.clone()))?)
    }

    fn convert_error(&mut self, err: KeyValueError) -> wasmtime::Result<store::Error> {
        match err {
            KeyValueError::AccessDenied => Ok(store::Error::AccessDenied),
            KeyValueError::Other(message) => Ok(store::Error::Other(message)),
            KeyValueError::Trap(trap) => Err(trap),
        }
    }
}

impl store::HostBucket for KeyValue<'_> {
    async fn get(
        &mut self,
        bucket: Resource<Bucket>,
        key: String,
    ) -> Result<Option<Vec<u8>>, KeyValueError> {
        {
            let store = self.store(&bucket)?;
            let result = store.backend.get(&key).await;
            self.check(&store, "get", result)
        }
    }

    async fn set(
        &mut self,
        bucket: Resource<Bucket>,
        key: String,
        value: Vec<u8>,
    ) -> Result<(), KeyValueError> {
        {
            let store = self.store(&bucket)?;
            let result = store.backend.set(&key, &value).await;
            self.check(&store, "set", result)
        }
    }

    async fn delete(&mut self, bucket: Resource<Bucket>, key: String) -> Result<(), KeyValueError> {
        {
            let store = self.store(&bucket)?;
            let result = store.backend.delete(&key).await;
            self.check(&store, "delete", result)
        }
    }

    async fn exists(
        &mut self,
        bucket: Resource<Bucket>,
        key: String,
    ) -> Result<bool, KeyValueError> {
        {
            let store = self.store(&bucket)?;
            let result = store.backend.exists(&key).await;
            self.check(&store, "exists", result)
        }
    }

    async fn list_keys(
        &mut self,
        bucket: Resource<Bucket>,
        cursor: Option<u64>,
    ) -> Result<store::KeyResponse, KeyValueError> {
        let page = {
            let store = self.store(&bucket)?;
            let result = store.backend.list_keys(cursor).await;
            self.check(&store, "list-keys", result)
        }?;
        Ok(store::KeyResponse {
            keys: page.keys,
            cursor: page.cursor,
        })
    }

    async fn drop(&mut self, bucket: Resource<Bucket>) -> wasmtime::Result<()> {
        self.table.delete(bucket)?;
        Ok(())
    }
}

impl atomics::Host for KeyValue<'_> {
    async fn increment(
        &mut self,
        bucket: Resource<Bucket>,
        key: String,
        delta: u64,
    ) -> Result<u64, KeyValueError> {
        {
            let store = self.store(&bucket)?;
            let result = store.backend.increment(&key, delta).await;
            self.check(&store, "increment", result)
        }
    }
}

impl keyvalue_cas::Host for KeyValue<'_> {
    async fn compare_and_swap(
        &mut self,
        bucket: Resource<Bucket>,
        key: String,
        expected: Option<Vec<u8>>,
        value: Vec<u8>,
    ) -> Result<bool, KeyValueError> {
        {
            let store = self.store(&bucket)?;
            let result = store
                .backend
                .compare_and_swap(&key, expected.as_deref(), &value)
                .await;
            self.check(&store, "compare-and-swap", result)
        }
    }
}

impl batch::Host for KeyValue<'_> {
    async fn get_many(
        &mut self,
        bucket: Resource<Bucket>,
        keys: Vec<String>,
    ) -> Result<Vec<Option<(String, Vec<u8>)>>, KeyValueError> {
        let values = {
            let store = self.store(&bucket)?;
            let result = store.backend.get_many(&keys).await;
            self.check(&store, "get-many", result)
        }?;
        Ok(keys
            .into_iter()
            .zip(values)
            .map(|(key, value)| value.map(|value| (key, value)))
            .collect())
    }

    async fn set_many(
        &mut self,
        bucket: Resource<Bucket>,
        key_values: Vec<(String, Vec<u8>)>,
    ) -> Result<(), KeyValueError> {
        {
            let store = self.store(&bucket)?;
            let result = store.backend.set_many(&key_values).await;
            self.check(&store, "set-many", result)
        }
    }

    async fn delete_many(
        &mut self,
        bucket: Resource<Bucket>,
        keys: Vec<String>,
    ) -> Result<(), KeyValueError> {
        {
            let store = self.store(&bucket)?;
            let result = store.backend.delete_many(&keys).await;
            self.check(&store, "delete-many", result)
        }
    }
}

/// [`HasData`] marker for the key-value imports.
struct HasKeyValue;

impl HasData for HasKeyValue {
    type Data<'a> = KeyValue<'a>;
}

/// Adds every key-value import to `linker`; `view` borrows the instance's [`KeyValue`].
///
/// # Errors
/// An import already defined in `linker`.
pub fn add_to_linker<T: Send + 'static>(
    linker: &mut Linker<T>,
    view: fn(&mut T) -> KeyValue<'_>,
) -> Result<()> {
    store::add_to_linker::<_, HasKeyValue>(linker, view)?;
    atomics::add_to_linker::<_, HasKeyValue>(linker, view)?;
    batch::add_to_linker::<_, HasKeyValue>(linker, view)?;
    keyvalue_cas::add_to_linker::<_, HasKeyValue>(linker, view)?;
    Ok(())
}

//! Startup, for the key-value capability: [`Open::open`] opens every store some
//! component is granted, as the runtime config says, and [`KeyValueStores::grants`] resolves
//! each component's `key_value_stores` into its [`KeyValueGrants`] once. A third backend is one
//! more file that implements [`KeyValueBackend`], and one more arm in `open_backend`.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, Result};

use super::backend::KeyValueBackend;
use super::redis::RedisStore;
use super::sled::SledStore;
use crate::app::{App, Component, ComponentId};
use crate::capability::Open;
use crate::capability::backend::{BackendContext, SledDatabases};
use crate::metrics::KeyValueMetrics;
use crate::runtime_config::{Backend, KeyValueLimits};

/// An open store: its label, its backend, and a description of where it lives for logs (a
/// Redis password is never in it).
pub struct KeyValueStore {
    /// The store's label.
    pub label: Arc<str>,
    /// Where it lives: `sled <dir>` or `redis <url> prefix <p>`.
    pub description: String,
    /// The backend.
    pub backend: Arc<dyn KeyValueBackend>,
    /// Its operation counters.
    pub metrics: KeyValueMetrics,
    /// Its key and value size limits.
    pub limits: KeyValueLimits,
}

/// Every store the app uses, opened at startup, by label. `default()` has none (and fresh
/// metrics).
#[derive(Default)]
pub struct KeyValueStores {
    stores: BTreeMap<String, Arc<KeyValueStore>>,
    app_dir: PathBuf,
    context: BackendContext,
}

impl KeyValueStores {
    /// The store `label`, opened now if it was not yet.
    ///
    /// # Errors
    /// As [`Open::open`].
    pub async fn get_or_open(&mut self, label: &str) -> Result<Arc<KeyValueStore>> {
        if let Some(store) = self.stores.get(label) {
            return Ok(store.clone());
        }
        let backend = self.context.config.key_value_backend(label, &self.app_dir);
        let mut store = open_backend(
            label,
            &backend,
            &mut self.context.sled,
            self.context.metrics.key_value(label),
        )
        .with_context(|| format!("key-value store `{label}`"))?;
        store.limits = self.context.config.key_value_limits(label);
        let store = Arc::new(store);
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
    pub fn stores(&self) -> impl Iterator<Item = &Arc<KeyValueStore>> {
        self.stores.values()
    }

    /// The stores `component` is granted, resolved once at startup.
    ///
    /// # Panics
    /// If a granted store was not opened, which [`Open::open`] rules out.
    pub fn grants(&self, component: &Component) -> KeyValueGrants {
        let stores = component
            .key_value_stores
            .iter()
            .map(|grant| self.stores[&grant.label].clone())
            .collect();
        KeyValueGrants {
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
        if let Some(file) = &self.context.config.file
            && !self.context.config.defines_key_value_store(label)
        {
            anyhow::bail!(
                "--key-value: store `{label}` is not defined in the runtime config `{}`",
                file.display()
            );
        }
        let store = self.get_or_open(label).await?;
        store
            .backend
            .set(key, value)
            .await
            .with_context(|| format!("cannot seed key `{key}` in key-value store `{label}`"))
    }
}

/// Opened at startup: every store some component of the app is granted, where the runtime config
/// says (Redis stores connect lazily, a node may start before Redis is up: an unreachable one is
/// logged as a warning, and its operations fail until it answers).
impl Open for KeyValueStores {
    fn empty(context: BackendContext) -> Self {
        Self {
            context,
            ..Self::default()
        }
    }

    /// The stores of `app` (a new version of the app these were opened for): the stores open
    /// here are shared; only the labels `app` newly grants are opened, as
    /// [`Open::open`] does.
    ///
    /// # Errors
    /// As [`Open::open`], for the stores opened now.
    async fn reopen(&self, app: &App) -> Result<Self> {
        let mut stores = Self {
            app_dir: app.base_dir().to_owned(),
            stores: self.stores.clone(),
            context: self.context.clone(),
        };
        for component in &app.components {
            for grant in &component.key_value_stores {
                stores.get_or_open(&grant.label).await?;
            }
        }
        Ok(stores)
    }
}

/// Opens one store's backend. `sled` holds the sled databases opened so far: stores that
/// share a directory share its database.
fn open_backend(
    label: &str,
    backend: &Backend,
    sled: &mut SledDatabases,
    metrics: KeyValueMetrics,
) -> Result<KeyValueStore> {
    let (description, backend): (String, Arc<dyn KeyValueBackend>) = match backend {
        Backend::Sled { path } => {
            let db = sled.open(path)?;
            (
                format!("sled {}", path.display()),
                Arc::new(SledStore::open(&db, label)?),
            )
        }
        Backend::Redis { url, prefix } => (
            format!("redis {url} prefix {prefix}"),
            Arc::new(RedisStore::open(url, prefix, label)?),
        ),
    };
    Ok(KeyValueStore {
        label: label.into(),
        description,
        backend,
        metrics,
        limits: KeyValueLimits::default(),
    })
}

/// The stores one component may open, resolved at startup; cloning is an `Arc` increment.
#[derive(Clone)]
pub struct KeyValueGrants {
    pub(super) component: ComponentId,
    pub(super) stores: Arc<[Arc<KeyValueStore>]>,
}

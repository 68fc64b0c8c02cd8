//! Startup, for the blob capability: [`Open::open`] opens every container the app names (in a
//! component's `blob_containers` or a `[[trigger.blob]]`), each on the backend the runtime
//! config gives it, and makes it exist; [`BlobContainers::grants`] resolves each component's
//! `blob_containers` once, with the blob triggers of each container.

use std::collections::{BTreeMap, HashMap};
use std::path::Path as FsPath;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

use super::backend::BlobBackend;
use super::events::ContainerEvents;
use super::local::LocalBackend;
use super::s3::S3Backend;
use super::spool::SpoolDir;
use crate::app::{App, Component, ComponentId};
use crate::capability::Open;
use crate::capability::backend::{BackendContext, BackendError};
use crate::capability::queue::Queues;
use crate::metrics::BlobMetrics;
use crate::runtime_config::blob::DEFAULT_BLOB_DIR;
use crate::runtime_config::{BlobBackendConfig, BlobContainerConfig};

/// The spool directory of every app: `.wasmhost/blobs/.spool` beside the manifest.
pub const SPOOL_DIR: &str = ".spool";

/// An open container: its name, backend and settings, shared by every app version.
pub struct OpenContainer {
    /// The container's name.
    pub name: Arc<str>,
    /// Where it lives, for logs (no credential in it).
    pub description: String,
    /// The backend.
    pub backend: Arc<dyn BlobBackend>,
    /// Its settings (`max_object_bytes`, `poll_interval_ms`).
    pub config: BlobContainerConfig,
    /// Its operation and byte counters.
    pub metrics: BlobMetrics,
    /// With a poller: the entity tag of each object this process wrote (`None`: deleted)
    /// since the poller last listed it, so that the poller raises no second event for a
    /// change made through wasmhost. The poller takes the entries it sees.
    pub known: Mutex<HashMap<String, (Option<String>, Instant)>>,
    /// The container's record was found or written (at open, or since): until then,
    /// `get-container` tries to write it (a backend down at startup).
    ensured: AtomicBool,
}

impl OpenContainer {
    /// Opens container `name` where `config` says, counting in `metrics`, and (with `create`)
    /// makes it exist.
    ///
    /// # Errors
    /// A backend that cannot be set up; one that does not answer is logged, and its
    /// operations fail until it does.
    pub async fn open(
        name: &str,
        config: BlobContainerConfig,
        metrics: BlobMetrics,
        create: bool,
    ) -> Result<Self> {
        let backend: Arc<dyn BlobBackend> = match &config.backend {
            BlobBackendConfig::Local { path } => Arc::new(LocalBackend::open(path)?),
            BlobBackendConfig::S3 {
                endpoint,
                bucket,
                prefix,
                region,
            } => Arc::new(S3Backend::open(
                endpoint.as_deref(),
                bucket,
                prefix,
                region,
            )?),
        };
        let open = Self {
            name: name.into(),
            description: config.backend.describe(),
            backend,
            config,
            metrics,
            known: Mutex::new(HashMap::new()),
            ensured: AtomicBool::new(false),
        };
        if create {
            if let Err(err) = open.ensure().await {
                tracing::warn!(
                    container = name,
                    backend = %open.description,
                    "blob container does not answer yet; its operations fail until it does: {err}"
                );
            }
            tracing::info!(container = name, backend = %open.description, "blob container open");
        }
        Ok(open)
    }

    /// Makes the container exist (writes its record) unless that was done already by this
    /// process.
    ///
    /// # Errors
    /// The backend does not answer or refuses the write.
    pub async fn ensure(&self) -> Result<(), BackendError> {
        if self.ensured.load(Ordering::Acquire) {
            return Ok(());
        }
        if self.backend.container_created(&self.name).await?.is_none() {
            self.backend.create_container(&self.name).await?;
        }
        self.ensured.store(true, Ordering::Release);
        Ok(())
    }

    /// With a poller, remembers `name`'s entity tag as written (`Some`) or deleted (`None`)
    /// through wasmhost.
    pub fn remember(&self, name: &str, etag: Option<String>) {
        if self.config.poll_interval.is_some() {
            self.known().insert(name.to_owned(), (etag, Instant::now()));
        }
    }

    /// Takes what [`OpenContainer::remember`] holds of `name`: `Some(etag)` if this process
    /// wrote or deleted it since.
    pub fn take_known(&self, name: &str) -> Option<Option<String>> {
        self.known().remove(name).map(|(etag, _)| etag)
    }

    /// Forgets what [`OpenContainer::remember`] holds from more than `age` ago (a change the
    /// poller never saw, undone before its next listing).
    pub fn forget_known(&self, age: Duration) {
        self.known().retain(|_, (_, when)| when.elapsed() < age);
    }

    fn known(&self) -> std::sync::MutexGuard<'_, HashMap<String, (Option<String>, Instant)>> {
        self.known
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Every container the app uses, opened at startup, by name, and the spool of the objects
/// being written.
#[derive(Default)]
pub struct BlobContainers {
    containers: BTreeMap<String, Arc<OpenContainer>>,
    spool: Option<Arc<SpoolDir>>,
    context: BackendContext,
}

impl BlobContainers {
    /// The container `name`, opened now if it was not yet.
    ///
    /// # Errors
    /// As [`OpenContainer::open`], naming the container.
    pub async fn get_or_open(
        &mut self,
        name: &str,
        app_dir: &FsPath,
    ) -> Result<Arc<OpenContainer>> {
        if let Some(open) = self.containers.get(name) {
            return Ok(open.clone());
        }
        let config = self.context.config.blob_container(name, app_dir);
        let open = OpenContainer::open(name, config, self.context.metrics.blob(name), true)
            .await
            .with_context(|| format!("blob container `{name}`"))?;
        let open = Arc::new(open);
        self.containers.insert(name.to_owned(), open.clone());
        Ok(open)
    }

    /// Every open container, by name.
    pub fn all(&self) -> impl Iterator<Item = &Arc<OpenContainer>> {
        self.containers.values()
    }

    /// The container `name`, if the app names it.
    pub fn get(&self, name: &str) -> Option<&Arc<OpenContainer>> {
        self.containers.get(name)
    }

    /// The containers `component` of `app` is granted, each with its blob triggers (on their
    /// queues in `queues`), resolved once at startup.
    ///
    /// # Panics
    /// If a granted container was not opened, which [`Open::open`] rules out.
    pub fn grants(&self, app: &App, component: &Component, queues: &Queues) -> BlobGrants {
        let containers: Vec<GrantedContainer> = component
            .blob_containers
            .iter()
            .map(|name| GrantedContainer {
                open: self.containers[name].clone(),
                events: Arc::new(ContainerEvents::resolve(app, queues, name)),
            })
            .collect();
        let max_object_bytes = containers
            .iter()
            .map(|c| c.open.config.max_object_bytes)
            .max()
            .unwrap_or(0);
        BlobGrants(Arc::new(GrantedContainers {
            component: component.id.clone(),
            containers,
            max_object_bytes,
            spool: self.spool.clone(),
        }))
    }
}

/// Opened at startup: every container some component is granted or some blob trigger watches,
/// where the runtime config says (by default local files under `.wasmhost/blobs` beside the
/// manifest), and the spool directory if a component is granted one.
impl Open for BlobContainers {
    fn empty(context: BackendContext) -> Self {
        Self {
            context,
            ..Self::default()
        }
    }

    /// The containers of `app` (a new version of the app these were opened for): the ones
    /// open here are shared; only the names `app` newly uses are opened.
    ///
    /// # Errors
    /// As [`Open::open`], for the containers opened now, and a spool directory that cannot be
    /// made.
    async fn reopen(&self, app: &App) -> Result<Self> {
        let mut containers = Self {
            containers: self.containers.clone(),
            spool: self.spool.clone(),
            context: self.context.clone(),
        };
        let granted = app.components.iter().flat_map(|c| c.blob_containers.iter());
        let watched = app.blob_triggers.iter().map(|t| &t.container);
        for name in granted.chain(watched) {
            containers.get_or_open(name, app.base_dir()).await?;
        }
        let grants_any = app.components.iter().any(|c| !c.blob_containers.is_empty());
        if grants_any && containers.spool.is_none() {
            let root = app.base_dir().join(DEFAULT_BLOB_DIR).join(SPOOL_DIR);
            containers.spool = Some(Arc::new(SpoolDir::open(&root)?));
        }
        Ok(containers)
    }
}

/// The containers one component may use, resolved at startup; cloning is an `Arc` increment.
#[derive(Clone)]
pub struct BlobGrants(pub(super) Arc<GrantedContainers>);

/// What [`BlobGrants`] holds.
pub struct GrantedContainers {
    /// The component, for log lines.
    pub(super) component: ComponentId,
    /// Its containers, in manifest order.
    pub(super) containers: Vec<GrantedContainer>,
    /// The largest `max_object_bytes` among them: the most a value may hold before it is
    /// written to a container.
    pub(super) max_object_bytes: u64,
    /// Where values are written before they are objects (`None`: no container is granted).
    pub(super) spool: Option<Arc<SpoolDir>>,
}

/// One granted container, with its blob triggers.
#[derive(Clone)]
pub struct GrantedContainer {
    /// The container.
    pub open: Arc<OpenContainer>,
    /// Its triggers in this app version.
    pub events: Arc<ContainerEvents>,
}

//! Layer 7, the app lifecycle, as a library: load a version of an app (startup steps 1 to 5 of
//! [`crate`]), start and stop its triggers, reload it, drain it. `wasmhost serve`, `check`
//! and the benches drive it; the CLI only turns flags into [`LoadOptions`] and
//! [`ServeOptions`].
//!
//! - [`Loader`] holds what every version of one app shares (the engine, the compile cache, the
//!   metrics, the runtime config) and loads versions: the first one opens the backends, a
//!   reload shares them and opens only what is new;
//! - [`Triggers`] runs the cron, queue and blob triggers of one version;
//! - [`serve()`] serves a version until SIGINT or SIGTERM, reloads on SIGHUP or a change
//!   (`--watch`, [`watch`]), then drains;
//! - [`check()`] runs every startup check without serving;
//! - [`build_app`] runs the components' build commands;
//! - [`blob::BlobContainer`] is what `wasmhost blob` does to a container;
//! - [`operate`] is what `wasmhost queue` and `wasmhost cron run` do, here or through the
//!   admin listener of the `serve` that holds the stores, and [`workflow`] what `wasmhost
//!   workflow` does, the same way;
//! - [`new`] makes a guest project from a template (`wasmhost new`).

pub mod blob;
pub mod build;
mod check;
pub mod new;
pub mod operate;
mod serve;
mod watch;
pub mod workflow;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, Result};
use tokio_util::sync::CancellationToken;

use crate::admin::AdminToken;
use crate::app::{App, AuthLevel, ManifestFormat};
use crate::app_version::{AppVersion, Backends, Shared};
use crate::capability::Open;
use crate::capability::backend::{BackendContext, SledDatabases};
use crate::capability::blob::BlobContainers;
use crate::capability::key_value::KeyValueStores;
use crate::capability::outbound_http::check_allowed_hosts;
use crate::capability::queue::Queues;
use crate::capability::workflow::Workflows;
use crate::capability::workflow::sled::SledWorkflowStore;
use crate::capability::workflow::store::WorkflowStore;
use crate::compile_cache::CompileCache;
use crate::keys::{KeyRing, KeyStore};
use crate::limits::Limits;
use crate::metrics::Metrics;
use crate::runtime_config::RuntimeConfig;
use crate::tls::TlsFiles;
use crate::trigger::cron::LocalClaims;
use crate::trigger::http::InternalChain;
use crate::variables::{self, Value};
use crate::{manifest, trigger};

pub use build::build_app;
pub use check::{CheckReport, check};
pub use serve::serve;

/// What loading an app needs, from the command line or a bench.
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    /// The manifest, or a directory holding `wasmhost.toml`.
    pub path: PathBuf,
    /// The runtime config file; none: every store and queue is sled next to the manifest.
    pub runtime_config: Option<PathBuf>,
    /// The compile cache's directory; none: `.wasmhost/cache` next to the manifest.
    pub cache_dir: Option<PathBuf>,
    /// The host's limits (the engine is built from them).
    pub limits: Limits,
    /// Build the components before each load.
    pub build: bool,
    /// Rebuild the components before each reload (`serve --watch`).
    pub watch: bool,
    /// Application variables given on the command line (`--var NAME=VALUE`), by name; they
    /// win over `WASMHOST_VAR_<NAME>` and the defaults.
    pub vars: Vec<(String, String)>,
    /// Keys to set before serving (`--key-value`), in the first version only.
    pub seeds: Vec<Seed>,
}

/// What serving an app needs beyond loading it.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// How to load it.
    pub load: LoadOptions,
    /// The public HTTP listener's address (port 0: any free port, printed).
    pub listen: SocketAddr,
    /// The public listener's certificate and key: with them it serves HTTPS only.
    pub tls: Option<TlsFiles>,
    /// The admin listener's address, if any.
    pub admin_listen: Option<SocketAddr>,
    /// The admin listener's certificate and key: with them it serves HTTPS only.
    pub admin_tls: Option<TlsFiles>,
    /// The bearer token of the admin write endpoints; none: they are off.
    pub admin_token: Option<AdminToken>,
    /// Log a line per request on the public listener (`GET /path 200 3.1ms component=..`).
    pub access_log: bool,
}

/// One `--key-value` seed: a key set in a store before serving, for development.
#[derive(Debug, Clone)]
pub struct Seed {
    /// The store's label.
    pub store: String,
    /// The key.
    pub key: String,
    /// The value, as UTF-8 bytes.
    pub value: String,
}

/// What every version of one app shares, and how to load the next one.
pub struct Loader {
    options: LoadOptions,
    runtime_config: RuntimeConfig,
    shared: Shared,
    keys: std::sync::OnceLock<Arc<KeyRing>>,
    workflow_store: std::sync::OnceLock<Arc<dyn WorkflowStore>>,
}

impl Loader {
    /// Reads the manifest and the runtime config of `options` and makes the engine and the
    /// compile cache; returns the loader and the app, not loaded yet.
    ///
    /// # Errors
    /// A bad manifest or runtime config (file, line and field), or an engine the limits
    /// cannot make.
    pub fn new(options: LoadOptions) -> Result<(Self, App)> {
        let app = manifest::load(&options.path).map_err(Errors::from)?;
        let runtime_config = match &options.runtime_config {
            Some(path) => RuntimeConfig::load(path)?,
            None => RuntimeConfig::default(),
        };
        let (engine, ticks) = options.limits.engine_settings().build()?;
        let cache = CompileCache::new(cache_dir(&options, &app), &engine);
        let shared = Shared {
            engine,
            ticks,
            limits: options.limits.clone(),
            cache,
            metrics: Arc::new(Metrics::new()),
            chain: InternalChain::handler,
            allow_private_networks: runtime_config.allow_private_networks,
        };
        let loader = Self {
            options,
            runtime_config,
            shared,
            keys: std::sync::OnceLock::new(),
            workflow_store: std::sync::OnceLock::new(),
        };
        Ok((loader, app))
    }

    /// The next version of the app: the manifest read again, then as [`Loader::load`] next
    /// to `old`.
    ///
    /// # Errors
    /// As [`Loader::load`].
    pub async fn reload(&self, old: &AppVersion) -> Result<Arc<AppVersion>> {
        self.load(
            manifest::load(&self.options.path).map_err(Errors::from)?,
            Some(old),
        )
        .await
    }

    /// A version of `app`: its grants checked, its variables given values, its components
    /// built (with `build`; on a reload also with `watch`), compiled where they changed and
    /// loaded. The first version (`old` is `None`) opens the stores and queues and writes the
    /// seeds; a later one shares `old`'s and opens only what is new. On a multi-thread tokio
    /// runtime, building and compiling let the other tasks move to other workers.
    ///
    /// # Errors
    /// Whatever stops a start: an undefined store, a bad `--var`, a failed build, a missing or
    /// bad component, a store or queue that cannot be opened.
    pub async fn load(&self, app: App, old: Option<&AppVersion>) -> Result<Arc<AppVersion>> {
        let options = &self.options;
        for warning in &app.warnings {
            tracing::warn!("{warning}");
        }
        let variables = self.validate(&app)?;
        if options.build || (options.watch && old.is_some()) {
            blocking(|| build_app(&app))?;
        }
        manifest::check_sources(&app)?;
        let backends = match old {
            Some(old) => Backends {
                key_value: old.key_value.reopen(&app).await?,
                queues: old.queues.reopen(&app).await?,
                blob: old.blob.reopen(&app).await?,
                workflows: self.workflows(&app).await?,
                keys: self.keys(&app).await?,
            },
            None => {
                let metrics = &self.shared.metrics;
                check_seeds(&app, &options.seeds)?;
                let mut key_value =
                    KeyValueStores::open(&app, &self.runtime_config, metrics).await?;
                for seed in &options.seeds {
                    key_value
                        .seed(&seed.store, &seed.key, seed.value.as_bytes())
                        .await?;
                }
                let queues = Queues::open(&app, &self.runtime_config, metrics).await?;
                let blob = BlobContainers::open(&app, &self.runtime_config, metrics).await?;
                Backends {
                    key_value,
                    queues,
                    blob,
                    workflows: self.workflows(&app).await?,
                    keys: self.keys(&app).await?,
                }
            }
        };
        blocking(|| AppVersion::load(app, &self.shared, backends, &variables))
    }

    /// Every startup check of `app` that needs neither its component files nor a backend, the
    /// same for `serve` (before it builds or opens anything) and `check`, so that the two
    /// cannot disagree: every granted store defined in the runtime config, every consumed
    /// queue's visibility timeout longer than its handler's timeout, every variable given a
    /// value, every templated `allowed_outbound_hosts` entry rendered and parsed, every
    /// component's limits within the host's, the routing table built. Returns the
    /// variables' values.
    ///
    /// # Errors
    /// Every failed check, as [`Errors`] when there are several; each names its file, line
    /// and column.
    pub fn validate(&self, app: &App) -> Result<BTreeMap<String, Value>> {
        let mut errors = Errors::default();
        errors.take(self.runtime_config.check_grants(app));
        errors.take(
            self.runtime_config
                .check_visibility(app, self.options.limits.timeout),
        );
        let variables = match resolve_variables(app, &self.options.vars, &self.runtime_config) {
            Ok(variables) => Some(variables),
            Err(missing) => {
                errors.0.extend(missing);
                None
            }
        };
        for component in &app.components {
            if let Some(variables) = &variables {
                errors.take(check_allowed_hosts(component, variables));
            }
            errors.take(self.options.limits.resolve(component));
        }
        errors.take(crate::app_version::router(app));
        errors.into_result()?;
        Ok(variables.unwrap_or_default())
    }

    /// The workflows of `app` over the process's workflow store, which the first version
    /// with workflows (or a `workflows` grant) opens: sled, in `.wasmhost/workflows` next to
    /// the manifest. `None` for an app with neither.
    ///
    /// # Errors
    /// The store cannot be opened (held by another process, not writable), or an
    /// orchestrator's file cannot be read.
    async fn workflows(&self, app: &App) -> Result<Option<Arc<Workflows>>> {
        let granted = app.components.iter().any(|c| !c.workflows.is_empty());
        if app.workflow_triggers.is_empty() && !granted {
            return Ok(None);
        }
        let store = match self.workflow_store.get() {
            Some(store) => store.clone(),
            None => {
                let store = open_workflow_store(app, &self.runtime_config, &self.shared.metrics)?;
                tracing::info!(backend = %store.description(), "workflow store open");
                self.workflow_store.get_or_init(|| store).clone()
            }
        };
        let workflows = Workflows::new(app, store, self.shared.metrics.workflows()).await?;
        Ok(Some(Arc::new(workflows)))
    }

    /// The app's key ring, opened (and refreshed every [`crate::keys::REFRESH`] on a task of its
    /// own) the first time a version has a route that needs a key; none before.
    ///
    /// # Errors
    /// The key store cannot be created or read.
    async fn keys(&self, app: &App) -> Result<Option<Arc<KeyRing>>> {
        if let Some(ring) = self.keys.get() {
            return Ok(Some(ring.clone()));
        }
        if app
            .http_triggers
            .iter()
            .all(|t| t.auth == AuthLevel::Anonymous)
        {
            return Ok(None);
        }
        let store = KeyStore::for_app(app.base_dir(), &self.runtime_config).await?;
        let ring = Arc::new(KeyRing::open(store, &self.shared.metrics).await?);
        let refreshed = Arc::downgrade(&ring);
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            // Outside a runtime (a bench): the keys read now.
            return Ok(Some(self.keys.get_or_init(|| ring).clone()));
        };
        runtime.spawn(async move {
            loop {
                tokio::time::sleep(crate::keys::REFRESH).await;
                let Some(ring) = refreshed.upgrade() else {
                    return;
                };
                if let Err(err) = ring.refresh().await {
                    tracing::warn!(
                        "cannot read the key store again; the last keys read stay: {err:#}"
                    );
                }
            }
        });
        Ok(Some(self.keys.get_or_init(|| ring).clone()))
    }

    /// The options this loader was made with.
    pub fn options(&self) -> &LoadOptions {
        &self.options
    }
}

/// Loads the first version of the app of `options` (as `serve` does, without serving it).
///
/// # Errors
/// As [`Loader::new`] and [`Loader::load`].
pub async fn load(options: LoadOptions) -> Result<Arc<AppVersion>> {
    let (loader, app) = Loader::new(options)?;
    loader.load(app, None).await
}

/// Checks that every `--key-value` seed names a store some component of `app` is granted.
///
/// # Errors
/// The first seed whose store no component is granted, naming the store and the manifest key
/// that grants it (never the value).
fn check_seeds(app: &App, seeds: &[Seed]) -> Result<()> {
    for seed in seeds {
        let granted = app.components.iter().any(|component| {
            component
                .key_value_stores
                .iter()
                .any(|grant| grant.label == seed.store)
        });
        if !granted {
            anyhow::bail!(
                "--key-value {}:{}=...: no component of {} is granted the key-value store `{}`; grant it with `key_value_stores = [\"{}\"]` in a [component.<id>] table",
                seed.store,
                seed.key,
                app.manifest_path.display(),
                seed.store,
                seed.store,
            );
        }
    }
    Ok(())
}

/// Runs `work`, which blocks: on a multi-thread tokio runtime, after handing this worker's
/// other tasks to the others (so a reload never stalls requests); elsewhere, directly.
fn blocking<T>(work: impl FnOnce() -> T) -> T {
    match tokio::runtime::Handle::try_current().map(|handle| handle.runtime_flavor()) {
        Ok(tokio::runtime::RuntimeFlavor::MultiThread) => tokio::task::block_in_place(work),
        _ => work(),
    }
}

/// The workflow store of `app`: sled, in `.wasmhost/workflows` next to the manifest (`config`
/// and `metrics` go to the backend). `serve` opens it once per process; `wasmhost workflow`
/// opens it while nothing serves the app.
///
/// # Errors
/// The store cannot be opened: held by another process
/// ([`crate::capability::backend::StoreLocked`] in the chain), not writable, corrupted; the
/// error names its directory.
pub fn open_workflow_store(
    app: &App,
    config: &RuntimeConfig,
    metrics: &Arc<Metrics>,
) -> Result<Arc<dyn WorkflowStore>> {
    let dir = app.base_dir().join(".wasmhost").join("workflows");
    let mut context = BackendContext {
        config: config.clone(),
        metrics: metrics.clone(),
        sled: SledDatabases::default(),
    };
    let store = SledWorkflowStore::open(&mut context, &dir)
        .with_context(|| format!("workflow store `{}`", dir.display()))?;
    Ok(Arc::new(store))
}

/// The compile cache's directory: the option, else `.wasmhost/cache` next to the manifest.
fn cache_dir(options: &LoadOptions, app: &App) -> PathBuf {
    options
        .cache_dir
        .clone()
        .unwrap_or_else(|| app.base_dir().join(".wasmhost/cache"))
}

/// Gives every `[variables]` entry of `app` its value: `vars` (from `--var`), then the
/// runtime config's static values, then the environment (`WASMHOST_VAR_<NAME>`, then for a
/// Spin app `SPIN_VARIABLE_<NAME>`, then each prefix of the runtime config's environment
/// providers), then the default.
///
/// # Errors
/// Each `--var` naming an undeclared variable, and each required variable with no value; each
/// names the variable (never its value).
fn resolve_variables(
    app: &App,
    vars: &[(String, String)],
    config: &RuntimeConfig,
) -> Result<BTreeMap<String, Value>, Vec<anyhow::Error>> {
    let manifest = app.manifest_path.display();
    let mut overrides = config.variables.values.clone();
    let mut errors = Vec::new();
    for (name, value) in vars {
        if !app.variables.iter().any(|v| v.name == *name) {
            errors.push(anyhow::anyhow!(
                "--var {name}: {manifest} declares no variable `{name}` in [variables]"
            ));
        }
        overrides.insert(name.clone(), value.clone());
    }
    let mut prefixes = vec![variables::ENV_PREFIX];
    if app.format == ManifestFormat::Spin {
        prefixes.push(variables::SPIN_ENV_PREFIX);
    }
    prefixes.extend(config.variables.env_prefixes.iter().map(String::as_str));
    let values = variables::resolve(&app.variables, &overrides, &prefixes, |name| {
        std::env::var(name).ok()
    });
    match values {
        Ok(values) if errors.is_empty() => Ok(values),
        Ok(_) => Err(errors),
        Err(missing) => {
            errors.extend(missing.into_iter().map(anyhow::Error::new));
            Err(errors)
        }
    }
}

/// Every error one run found, in the order found: `check` reports them all at once, and so
/// does `serve` for its startup checks. Displays one per line; the binary prints each with
/// its causes.
#[derive(Debug, Default)]
pub struct Errors(pub Vec<anyhow::Error>);

impl Errors {
    /// Keeps the error of `result`, if any; returns its value otherwise.
    /// (The errors of an [`Errors`] are kept one by one.)
    pub fn take<T>(&mut self, result: Result<T, impl Into<anyhow::Error>>) -> Option<T> {
        let err = match result {
            Ok(value) => return Some(value),
            Err(err) => err.into(),
        };
        match err.downcast::<Self>() {
            Ok(errors) => self.0.extend(errors.0),
            Err(err) => self.0.push(err),
        }
        None
    }

    /// Nothing if no error was kept, the one error if one was, else all of them.
    ///
    /// # Errors
    /// The errors kept.
    pub fn into_result(mut self) -> Result<()> {
        match self.0.len() {
            0 => Ok(()),
            1 => Err(self.0.remove(0)),
            _ => Err(self.into()),
        }
    }
}

impl std::fmt::Display for Errors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        manifest::write_lines(f, self.0.iter().map(|err| format!("{err:#}")))
    }
}

impl std::error::Error for Errors {}

impl From<manifest::ManifestErrors> for Errors {
    fn from(errors: manifest::ManifestErrors) -> Self {
        Self(errors.0.into_iter().map(anyhow::Error::new).collect())
    }
}

/// The cron, queue, blob and workflow triggers of one app version, running.
pub struct Triggers {
    stop: CancellationToken,
    cron: tokio::task::JoinHandle<()>,
}

impl Triggers {
    /// Starts the cron schedulers, queue consumers and blob pollers of `version`.
    pub fn start(version: &Arc<AppVersion>) -> Self {
        let stop = CancellationToken::new();
        // The queue consumers and blob pollers end by themselves once `stop` is cancelled.
        tokio::spawn(trigger::queue::run_all(version.clone(), stop.clone()));
        tokio::spawn(trigger::blob::run_all(version.clone(), stop.clone()));
        tokio::spawn(trigger::workflow::run_all(version.clone(), stop.clone()));
        Self {
            cron: tokio::spawn(trigger::cron::run_all(
                version.clone(),
                Arc::new(LocalClaims),
            )),
            stop,
        }
    }

    /// Stops taking ticks and messages; the handler calls already started go on.
    pub fn stop(&self) {
        self.cron.abort();
        self.stop.cancel();
    }
}

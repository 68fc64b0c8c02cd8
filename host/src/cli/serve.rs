//! `wasmhost serve [PATH]`: load the app, compile or load its components from the cache,
//! pre-instantiate them, then serve the HTTP triggers, run the cron triggers (and serve the
//! admin endpoints, if asked).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use arc_swap::ArcSwap;

use crate::app::{App, HttpTarget};
use crate::capability::key_value::KeyValueStores;
use crate::capability::queue::Queues;
use crate::compile_cache::CompileCache;
use crate::limits::Limits;
use crate::metrics::Metrics;
use crate::runtime::Runtime;
use crate::runtime_config::{DEFAULT_STORE, RuntimeConfig};
use crate::trigger::cron::LocalClaims;
use crate::variables::{self, Value};
use crate::{admin, manifest, server, trigger};
use tokio::signal::unix::{Signal, SignalKind, signal};
use tokio_util::sync::CancellationToken;

/// Serve an app.
#[derive(Debug, clap::Args)]
pub struct ServeCommand {
    /// The manifest, or a directory holding `wasmhost.toml`.
    #[arg(default_value = ".", env = "WASMHOST_APP")]
    pub path: PathBuf,

    /// Address of the public HTTP listener. Port 0 picks a free port; the bound address is
    /// printed as `Serving http://ADDR`.
    #[arg(long, default_value = "127.0.0.1:3000", env = "WASMHOST_LISTEN")]
    pub listen: SocketAddr,

    /// Address of the admin listener (health, readiness and Prometheus metrics). Off unless
    /// given; keep it on loopback or a private network.
    #[arg(long, env = "WASMHOST_ADMIN_LISTEN")]
    pub admin_listen: Option<SocketAddr>,

    /// Directory of the compile cache. Default: `.wasmhost/cache` next to the manifest.
    #[arg(long, env = "WASMHOST_CACHE_DIR")]
    pub cache_dir: Option<PathBuf>,

    /// Run `wasmhost build` on the app before serving it (and before each reload).
    #[arg(long)]
    pub build: bool,

    /// Watch the manifest's directory: on a change (debounced), rebuild and reload the app.
    /// In-flight requests finish on the old version, new ones go to the new one; a failed
    /// build or a bad manifest keeps the old version serving. SIGHUP does the same without
    /// `--watch` (rebuilding only with `--build`).
    #[arg(long)]
    pub watch: bool,

    /// The runtime config: where each key-value store lives (sled or Redis). Without one,
    /// every store is a sled tree under `.wasmhost/kv` next to the manifest.
    #[arg(long, env = "WASMHOST_RUNTIME_CONFIG")]
    pub runtime_config: Option<PathBuf>,

    /// Set a key before serving, for development: `STORE:KEY=VALUE`, or `KEY=VALUE` for the
    /// `default` store. Repeatable.
    #[arg(long = "key-value", value_name = "STORE:KEY=VALUE", value_parser = parse_seed)]
    pub key_value: Vec<Seed>,

    /// Linear memory per instance, in MiB: `memory.grow` past it fails. A component's
    /// `[component.<id>.limits] memory_mb` may only be lower.
    #[arg(long, default_value_t = 128, env = "WASMHOST_MAX_MEMORY_MB", value_parser = clap::value_parser!(u64).range(1..=65_536))]
    pub max_memory_mb: u64,

    /// CPU time one invocation may run, in ms (counted in 10 ms epoch ticks): past it the guest
    /// is interrupted and the request answers 504. A component's `cpu_ms` overrides it.
    #[arg(long, default_value_t = 1000, env = "WASMHOST_CPU_LIMIT_MS", value_parser = clap::value_parser!(u64).range(10..))]
    pub cpu_limit_ms: u64,

    /// Wall-clock time one invocation may take, in ms, body streaming and outbound calls
    /// included: past it the instance is dropped and the request answers 504 (a body already
    /// under way is cut). A component's `timeout_ms` overrides it.
    #[arg(long, default_value_t = 30_000, env = "WASMHOST_TIMEOUT_MS", value_parser = clap::value_parser!(u64).range(1..))]
    pub timeout_ms: u64,

    /// Requests one component may handle at once; past it, 503 with `Retry-After: 1` at once.
    /// A component's `max_concurrent_requests` overrides it.
    #[arg(long, default_value_t = 100, env = "WASMHOST_MAX_CONCURRENT_REQUESTS", value_parser = clap::value_parser!(u32).range(1..))]
    pub max_concurrent_requests: u32,

    /// Component instances alive at once in the whole process (the pooling allocator's total).
    #[arg(long, default_value_t = 1000, env = "WASMHOST_MAX_INSTANCES", value_parser = clap::value_parser!(u32).range(1..))]
    pub max_instances: u32,

    /// The largest request body, in bytes; a larger one answers 413.
    #[arg(long, default_value_t = 10 << 20, env = "WASMHOST_MAX_BODY_BYTES")]
    pub max_body_bytes: u64,

    /// Header fields one HTTP/1.1 request may have; more answers 431.
    #[arg(long, default_value_t = 100, env = "WASMHOST_MAX_HEADERS")]
    pub max_headers: usize,

    /// The largest request head, in bytes (at least 8192 for HTTP/1.1); larger answers 431.
    #[arg(long, default_value_t = 64 << 10, env = "WASMHOST_MAX_HEADER_BYTES")]
    pub max_header_bytes: usize,

    /// How long a client may take to send a request head, in ms; then it gets 408 and the
    /// connection is closed (slowloris).
    #[arg(long, default_value_t = 10_000, env = "WASMHOST_HEADER_READ_TIMEOUT_MS", value_parser = clap::value_parser!(u64).range(1..))]
    pub header_read_timeout_ms: u64,

    /// On SIGTERM or SIGINT, how long to let requests and handler calls in flight finish, in
    /// ms; then they are dropped (queue messages stay unacknowledged and come again).
    #[arg(long, default_value_t = 10_000, env = "WASMHOST_DRAIN_TIMEOUT_MS")]
    pub drain_timeout_ms: u64,

    /// Set an application variable declared in `[variables]`: `NAME=VALUE`. Repeatable. Wins
    /// over the environment variable `WASMHOST_VAR_<NAME>`, which wins over the default.
    /// Checked after parsing, so that no error message ever shows the value.
    #[arg(long = "var", value_name = "NAME=VALUE")]
    pub vars: Vec<String>,
}

/// Splits `NAME=VALUE` for `--var`. The error names the variable, never the value.
fn parse_var(arg: &str) -> Result<(&str, &str)> {
    let Some((name, value)) = arg.split_once('=') else {
        anyhow::bail!("--var expects NAME=VALUE");
    };
    if !crate::variables::is_variable_name(name) {
        anyhow::bail!(
            "--var: `{name}` is not a variable name (a lowercase letter, then lowercase letters, digits or `_`)"
        );
    }
    Ok((name, value))
}

/// One `--key-value` seed.
#[derive(Debug, Clone)]
pub struct Seed {
    /// The store's label.
    pub store: String,
    /// The key.
    pub key: String,
    /// The value, as UTF-8 bytes.
    pub value: String,
}

/// Parses `STORE:KEY=VALUE` or `KEY=VALUE` (store `default`). The key is what lies between the
/// first `:` and the first `=`; a key holding `:` needs the `STORE:` form.
fn parse_seed(arg: &str) -> Result<Seed, String> {
    let (target, value) = arg
        .split_once('=')
        .ok_or("expected STORE:KEY=VALUE or KEY=VALUE")?;
    let (store, key) = target.split_once(':').unwrap_or((DEFAULT_STORE, target));
    if key.is_empty() {
        return Err("the key is empty".to_owned());
    }
    if !crate::app::is_store_label(store) {
        return Err(format!(
            "`{store}` is not a store label (1 to 64 ASCII letters, digits, `-` or `_`)"
        ));
    }
    Ok(Seed {
        store: store.to_owned(),
        key: key.to_owned(),
        value: value.to_owned(),
    })
}

impl ServeCommand {
    /// Loads, optionally builds, and serves the app until SIGINT or SIGTERM, then drains what
    /// is in flight for up to `--drain-timeout-ms`.
    ///
    /// # Errors
    /// A bad manifest or runtime config, a `--var` for an undeclared variable, a required
    /// variable with no value, a granted store the runtime config does not define, a
    /// failed build, a missing or invalid component, a sled store that cannot be opened, a
    /// `--key-value` seed that cannot be written, or an address that cannot be bound.
    pub fn run(self) -> Result<()> {
        let app = manifest::load(&self.path)?;
        let runtime_config = match &self.runtime_config {
            Some(path) => RuntimeConfig::load(path)?,
            None => RuntimeConfig::default(),
        };
        let limits = self.limits();
        let engine = limits.engine_settings().build()?;
        let cache_dir = self
            .cache_dir
            .clone()
            .unwrap_or_else(|| app.base_dir().join(".wasmhost/cache"));
        let cache = CompileCache::new(cache_dir, &engine);

        tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .context("cannot start the tokio runtime")?
            .block_on(async {
                // Before anything slow (compiling, binding): a SIGHUP during startup must not
                // kill the process (its default action), and a SIGTERM once requests are
                // served must drain them.
                let signals = Signals::install()?;
                let reloader = Reloader {
                    command: &self,
                    runtime_config,
                    engine,
                    limits,
                    cache,
                    metrics: Arc::new(Metrics::new()),
                };
                let runtime = reloader.load(app, None).await?;
                serve(runtime, &reloader, signals).await
            })
    }

    /// The host's limits, from the flags.
    fn limits(&self) -> Limits {
        Limits {
            max_instances: self.max_instances,
            memory_bytes: usize::try_from(self.max_memory_mb << 20).unwrap_or(usize::MAX),
            cpu: Duration::from_millis(self.cpu_limit_ms),
            timeout: Duration::from_millis(self.timeout_ms),
            max_concurrent_requests: self.max_concurrent_requests,
            max_body_bytes: self.max_body_bytes,
            max_headers: self.max_headers,
            max_header_bytes: self.max_header_bytes,
            header_read_timeout: Duration::from_millis(self.header_read_timeout_ms),
            drain_timeout: Duration::from_millis(self.drain_timeout_ms),
        }
    }

    /// Gives every `[variables]` entry its value: `--var`, then `WASMHOST_VAR_<NAME>`, then the
    /// default.
    ///
    /// # Errors
    /// A `--var` that is not `NAME=VALUE` or names an undeclared variable, or a required
    /// variable with no value; each names the variable (never its value).
    fn resolve_variables(&self, app: &App) -> Result<BTreeMap<String, Value>> {
        let manifest = app.manifest_path.display();
        let mut overrides = BTreeMap::new();
        for arg in &self.vars {
            let (name, value) = parse_var(arg)?;
            if !app.variables.iter().any(|v| v.name == name) {
                anyhow::bail!(
                    "--var {name}: {manifest} declares no variable `{name}` in [variables]"
                );
            }
            overrides.insert(name.to_owned(), value.to_owned());
        }
        variables::resolve(&app.variables, &overrides, |name| std::env::var(name).ok())
            .with_context(|| format!("{manifest}: [variables]"))
    }
}

/// What a reload needs: the command's flags and what the first version was built with (the
/// runtime config is read once, at start).
struct Reloader<'a> {
    command: &'a ServeCommand,
    runtime_config: RuntimeConfig,
    engine: wasmtime::Engine,
    limits: Limits,
    cache: CompileCache,
    metrics: Arc<Metrics>,
}

impl Reloader<'_> {
    /// The next version of the app: the manifest read again, then as [`Reloader::load`] next
    /// to `old`.
    ///
    /// # Errors
    /// As [`Reloader::load`].
    async fn reload(&self, old: &Runtime) -> Result<Arc<Runtime>> {
        self.load(manifest::load(&self.command.path)?, Some(old))
            .await
    }

    /// A version of `app`: its grants checked, its variables given values, its components
    /// built (with `--build`; on a reload also with `--watch`), compiled where they changed
    /// and loaded. The first version (`old` is `None`) opens the stores and queues and writes
    /// the `--key-value` seeds; a later one shares `old`'s and opens only what is new.
    ///
    /// # Errors
    /// Whatever stops a start: an undefined store, a bad `--var`, a failed build, a missing or
    /// bad component, a store or queue that cannot be opened.
    async fn load(&self, app: App, old: Option<&Runtime>) -> Result<Arc<Runtime>> {
        let command = self.command;
        self.runtime_config.check_grants(&app)?;
        let variables = command.resolve_variables(&app)?;
        if command.build || (command.watch && old.is_some()) {
            tokio::task::block_in_place(|| crate::cli::build_app(&app))?;
        }
        manifest::check_sources(&app)?;
        let (key_value, queues) = match old {
            Some(old) => (
                old.key_value.reopen(&app).await?,
                old.queues
                    .reopen(&app, &self.runtime_config, &self.metrics)?,
            ),
            None => {
                let mut key_value =
                    KeyValueStores::open(&app, &self.runtime_config, self.metrics.clone()).await?;
                for seed in &command.key_value {
                    key_value
                        .seed(&seed.store, &seed.key, seed.value.as_bytes())
                        .await?;
                }
                let queues = Queues::open(&app, &self.runtime_config, &self.metrics)?;
                (key_value, queues)
            }
        };
        tokio::task::block_in_place(|| {
            Runtime::load(
                app,
                &self.engine,
                &self.limits,
                &self.cache,
                key_value,
                queues,
                &variables,
                self.metrics.clone(),
            )
        })
    }
}

/// The cron and queue triggers of one app version, running.
struct Triggers {
    stop: CancellationToken,
    cron: tokio::task::JoinHandle<()>,
}

impl Triggers {
    fn start(runtime: &Arc<Runtime>) -> Self {
        let stop = CancellationToken::new();
        // The queue consumers end by themselves once `stop` is cancelled.
        tokio::spawn(trigger::queue::run_all(runtime.clone(), stop.clone()));
        Self {
            cron: tokio::spawn(trigger::cron::run_all(
                runtime.clone(),
                Arc::new(LocalClaims),
            )),
            stop,
        }
    }

    /// Stops taking ticks and messages; the handler calls already started go on.
    fn stop(&self) {
        self.cron.abort();
        self.stop.cancel();
    }
}

/// Prints the routes and triggers of `runtime`.
fn print_routes(runtime: &Runtime, addr: SocketAddr) {
    println!("Available routes:");
    for (route, target) in runtime.router.entries() {
        match &target.target {
            HttpTarget::Component(index) => {
                println!("  {}: http://{addr}{route}", runtime.components[*index].id);
            }
            HttpTarget::Fixed(fixed) => {
                println!("  ({}): http://{addr}{route}", fixed.status);
            }
            HttpTarget::Files(files) => {
                println!("  (files in {}): http://{addr}{route}", files.dir.display());
            }
        }
    }
    if !runtime.app.queue_triggers.is_empty() {
        println!("Queue triggers:");
        for trigger in &runtime.app.queue_triggers {
            let source = match &trigger.topic {
                Some(topic) => format!("topic `{topic}` (queue `{}`)", trigger.queue),
                None => format!("queue `{}`", trigger.queue),
            };
            println!(
                "  {}: {source} (dead letters: `{}`)",
                runtime.components[trigger.component].id, trigger.dead_letter
            );
        }
    }
    if !runtime.app.cron_triggers.is_empty() {
        println!("Cron triggers:");
        for trigger in &runtime.app.cron_triggers {
            println!(
                "  {}: `{}` ({})",
                runtime.components[trigger.component].id, trigger.expression, trigger.timezone
            );
        }
    }
}

/// Directories `--watch` never looks into: build output, the host's own state, version
/// control and package caches (and every hidden directory).
fn ignored_by_watch(name: &std::ffi::OsStr) -> bool {
    name == "target" || name == "node_modules" || name.as_encoded_bytes().starts_with(b".")
}

/// What `--watch` watches: the directory of the manifest (its files), and every directory in
/// it, recursively, but those [`ignored_by_watch`] (so a project's `target/`, which a build
/// fills with thousands of files, costs no watch). Symlinks are not followed. It sends on its
/// channel after each burst of changes (debounced 300 ms) that made, wrote, renamed or removed
/// a file: reads (a build reading `Cargo.toml`, a reload reading the manifest) do not count.
struct Watch {
    debouncer: notify_debouncer_full::Debouncer<
        notify_debouncer_full::notify::RecommendedWatcher,
        notify_debouncer_full::RecommendedCache,
    >,
    dir: std::path::PathBuf,
    watched: std::collections::BTreeSet<std::path::PathBuf>,
}

impl Watch {
    /// Starts watching the directory of `manifest`, sending on `changed`.
    ///
    /// # Errors
    /// The platform's watcher cannot start, or a directory cannot be read or watched.
    fn start(manifest: &std::path::Path, changed: tokio::sync::mpsc::Sender<()>) -> Result<Self> {
        use notify_debouncer_full::notify::{self, EventKind, RecursiveMode};
        let dir = match manifest.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
            _ => std::path::PathBuf::from("."),
        };
        let root = dir.clone();
        let mut debouncer = notify_debouncer_full::new_debouncer_opt(
            Duration::from_millis(300),
            None,
            move |events: notify_debouncer_full::DebounceEventResult| {
                let relevant = events.ok().and_then(|events| {
                    events.into_iter().find(|event| {
                        matches!(
                            event.kind,
                            EventKind::Create(_) | EventKind::Modify(_) | EventKind::Remove(_)
                        ) && event.paths.iter().any(|path| {
                            let inside = path.strip_prefix(&root).unwrap_or(path);
                            !inside.components().any(|c| ignored_by_watch(c.as_os_str()))
                        })
                    })
                });
                if let Some(event) = relevant {
                    tracing::debug!(paths = ?event.paths, kind = ?event.kind, "changed");
                    let _ = changed.try_send(());
                }
            },
            notify_debouncer_full::RecommendedCache::new(),
            notify::Config::default().with_follow_symlinks(false),
        )
        .context("cannot start watching for changes")?;
        debouncer
            .watch(&dir, RecursiveMode::NonRecursive)
            .with_context(|| format!("cannot watch `{}`", dir.display()))?;
        let mut watch = Self {
            debouncer,
            dir,
            watched: std::collections::BTreeSet::new(),
        };
        watch.watch_new_directories()?;
        Ok(watch)
    }

    /// Watches each directory at the top of the project not watched yet (one made since the
    /// start shows as a change at the top, so this runs before each reload).
    ///
    /// # Errors
    /// The project's directory cannot be read, or a directory cannot be watched.
    fn watch_new_directories(&mut self) -> Result<()> {
        use notify_debouncer_full::notify::RecursiveMode;
        let cannot_watch = |path: &std::path::Path| format!("cannot watch `{}`", path.display());
        for entry in std::fs::read_dir(&self.dir).with_context(|| cannot_watch(&self.dir))? {
            let entry = entry.with_context(|| cannot_watch(&self.dir))?;
            let path = entry.path();
            if entry.file_type().is_ok_and(|kind| kind.is_dir())
                && !ignored_by_watch(&entry.file_name())
                && !self.watched.contains(&path)
            {
                self.debouncer
                    .watch(&path, RecursiveMode::Recursive)
                    .with_context(|| cannot_watch(&path))?;
                self.watched.insert(path);
            }
        }
        Ok(())
    }
}

/// Serves `runtime` until SIGINT or SIGTERM, reloading it on SIGHUP and, with `--watch`, on
/// a change.
async fn serve(runtime: Arc<Runtime>, reloader: &Reloader<'_>, signals: Signals) -> Result<()> {
    let Signals {
        mut hangup,
        mut terminate,
        mut interrupt,
    } = signals;
    let command = reloader.command;
    let listener = server::bind(command.listen).await?;
    let addr = listener.local_addr()?;
    let admin = match command.admin_listen {
        Some(admin_addr) => Some(server::bind(admin_addr).await?),
        None => None,
    };

    println!("Serving http://{addr}");
    print_routes(&runtime, addr);
    if let Some(admin) = &admin {
        let admin_addr = admin.local_addr()?;
        println!(
            "Admin endpoints on http://{admin_addr} ({}, {}, {}, POST {}<topic>)",
            admin::HEALTH_PATH,
            admin::READY_PATH,
            admin::METRICS_PATH,
            admin::TOPICS_PATH,
        );
    }

    let current = Arc::new(ArcSwap::new(runtime.clone()));
    let shutdown = CancellationToken::new();
    let mut http = tokio::spawn(trigger::http::serve(
        listener,
        current.clone(),
        shutdown.clone(),
    ));
    let mut admin = tokio::spawn({
        let (current, shutdown) = (current.clone(), shutdown.clone());
        async move {
            match admin {
                Some(admin) => admin::serve(admin, current, shutdown).await,
                None => {
                    shutdown.cancelled().await;
                    Ok(())
                }
            }
        }
    });
    let mut triggers = Triggers::start(&runtime);
    // Versions replaced by a reload, kept until their invocations in flight are done.
    let mut retired: Vec<Arc<Runtime>> = Vec::new();
    let (changed, mut changes) = tokio::sync::mpsc::channel(1);
    let mut watcher = if command.watch {
        let watcher = Watch::start(&runtime.app.manifest_path, changed)?;
        println!("Watching {} for changes", runtime.app.base_dir().display());
        Some(watcher)
    } else {
        drop(changed);
        None
    };
    loop {
        let cause = tokio::select! {
            result = &mut http => return result.context("the HTTP listener stopped")?,
            result = &mut admin => return result.context("the admin listener stopped")?,
            _ = hangup.recv() => "SIGHUP",
            Some(()) = changes.recv() => "a change",
            _ = terminate.recv() => break,
            _ = interrupt.recv() => break,
        };
        let started = std::time::Instant::now();
        tracing::info!("reloading after {cause}");
        if let Some(watcher) = &mut watcher
            && let Err(err) = watcher.watch_new_directories()
        {
            tracing::warn!("{err:#}");
        }
        match reloader.reload(&current.load()).await {
            Ok(next) => {
                triggers.stop();
                let old = current.swap(next.clone());
                old.tasks.close();
                retired.push(old);
                retired.retain(|version| !version.tasks.is_empty());
                triggers = Triggers::start(&next);
                println!("Reloaded in {} ms", started.elapsed().as_millis());
                print_routes(&next, addr);
            }
            Err(err) => {
                eprintln!("Reload failed; still serving the previous version: {err:#}");
                tracing::error!("reload failed; still serving the previous version: {err:#}");
            }
        }
    }
    // The schedulers and queue consumers stop: no new tick or message is taken.
    triggers.stop();
    let runtime = current.load_full();
    let drain = runtime.limits.drain_timeout;
    tracing::info!(
        drain_timeout_ms = drain.as_millis(),
        "shutting down: no new connections; finishing the requests and handler calls in flight"
    );
    shutdown.cancel();
    runtime.tasks.close();
    let drained = tokio::time::timeout(drain, async {
        let _ = tokio::join!(http, admin);
        runtime.tasks.wait().await;
        for version in &retired {
            version.tasks.wait().await;
        }
    })
    .await;
    match drained {
        Ok(()) => tracing::info!("drained; stopped"),
        Err(_) => tracing::warn!(
            still_running = runtime.tasks.len(),
            "drain timeout: what still runs is dropped (queue messages stay unacknowledged and are delivered again)"
        ),
    }
    Ok(())
}

/// The signals `serve` handles, installed before startup: their default actions (ending the
/// process at once) would lose a reload or the drain.
struct Signals {
    hangup: Signal,
    terminate: Signal,
    interrupt: Signal,
}

impl Signals {
    /// Installs the handlers of SIGHUP, SIGTERM and SIGINT.
    ///
    /// # Errors
    /// A handler cannot be installed (not in practice on Unix).
    fn install() -> Result<Self> {
        let install = |kind: SignalKind, name: &str| {
            signal(kind).with_context(|| format!("cannot install a {name} handler"))
        };
        Ok(Self {
            hangup: install(SignalKind::hangup(), "SIGHUP")?,
            terminate: install(SignalKind::terminate(), "SIGTERM")?,
            interrupt: install(SignalKind::interrupt(), "SIGINT")?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::parse_seed;

    #[test]
    fn seeds_name_a_store_or_default() {
        let seed = parse_seed("sessions:user:1=a=b").unwrap();
        assert_eq!(
            (seed.store.as_str(), seed.key.as_str(), seed.value.as_str()),
            ("sessions", "user:1", "a=b")
        );
        let seed = parse_seed("greeting=hello").unwrap();
        assert_eq!(
            (seed.store.as_str(), seed.key.as_str(), seed.value.as_str()),
            ("default", "greeting", "hello")
        );
        assert_eq!(parse_seed("empty=").unwrap().value, "");
        assert!(parse_seed("no-equals").is_err());
        assert!(parse_seed("default:=x").is_err());
        assert!(
            parse_seed("bad store:k=v")
                .unwrap_err()
                .contains("not a store label")
        );
    }
}

//! Layer 7: serving one app until it is stopped. The first version is loaded, its HTTP
//! triggers served on the public listener and its admin endpoints on their own, its cron and
//! queue triggers started; SIGHUP (and, with `--watch`, a change) loads the next version beside
//! it and swaps it in (requests in flight finish on the old one), and SIGHUP also reads the
//! listeners' TLS certificates again; SIGTERM or SIGINT stop accepting and drain what is in
//! flight for up to the drain timeout.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::{Context, Result};
use arc_swap::ArcSwap;
use tokio::signal::unix::{Signal, SignalKind, signal};
use tokio_util::sync::CancellationToken;

use super::watch::Watch;
use super::{Loader, ServeOptions, Triggers, operate};
use crate::admin::AdminToken;
use crate::app::HttpTarget;
use crate::app_version::AppVersion;
use crate::tls::{Tls, TlsFiles};
use crate::{admin, server, trigger};

/// Loads the app of `options` and serves it until SIGINT or SIGTERM, then drains what is in
/// flight for up to the drain timeout ([`crate::limits::Limits::drain_timeout`]). Prints
/// `Serving http://ADDR` (`https://` with TLS) and the routes once it listens.
///
/// # Errors
/// A TLS certificate or key that cannot be read or used (before anything else), a bad
/// manifest or runtime config, a `--var` for an undeclared variable, a required
/// variable with no value, a granted store the version config does not define, a failed
/// build, a missing or invalid component, a sled store that cannot be opened, a seed that
/// cannot be written, or an address that cannot be bound.
pub fn serve(options: ServeOptions) -> Result<()> {
    let ServeOptions {
        load,
        listen,
        tls,
        admin_listen,
        admin_tls,
        admin_token,
        access_log,
    } = options;
    let public = Listen::new(listen, tls, "public")?;
    let admin = admin_listen
        .map(|addr| Listen::new(addr, admin_tls, "admin"))
        .transpose()?;
    let (loader, app) = Loader::new(load)?;
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the tokio runtime")?
        .block_on(async {
            // Before anything slow (compiling, binding): a SIGHUP during startup must not
            // kill the process (its default action), and a SIGTERM once requests are
            // served must drain them.
            let mut signals = Signals::install()?;
            let version = match loader.load(app, None).await {
                Ok(version) => version,
                // Ctrl-C during `serve --build` also stops the build (the terminal sends it to
                // the whole process group): that is a stop, not a failure.
                Err(err) => return signals.stopped_during_startup(err).await,
            };
            let admin = admin.map(|admin| (admin, admin_token));
            run(version, &loader, public, admin, signals, access_log).await
        })
}

/// A listener to open: its address and, for HTTPS, its TLS (kept here too, to reload it).
struct Listen {
    addr: SocketAddr,
    tls: Option<Tls>,
    /// Which listener it is, for the log: `public` or `admin`.
    name: &'static str,
}

impl Listen {
    /// The listener `name` on `addr`, with the certificate and key of `tls` read now.
    ///
    /// # Errors
    /// As [`Tls::load`], naming the listener.
    fn new(addr: SocketAddr, tls: Option<TlsFiles>, name: &'static str) -> Result<Self> {
        let tls = tls
            .map(Tls::load)
            .transpose()
            .with_context(|| format!("cannot set up TLS on the {name} listener"))?;
        Ok(Self { addr, tls, name })
    }

    /// Binds it.
    ///
    /// # Errors
    /// As [`server::bind`]; a port in use suggests the flag that picks a free one.
    async fn bind(&self) -> Result<server::Listener> {
        server::bind(self.addr, self.tls.clone())
            .await
            .map_err(|err| {
                let in_use = err
                    .chain()
                    .filter_map(|cause| cause.downcast_ref::<std::io::Error>())
                    .any(|io| io.kind() == std::io::ErrorKind::AddrInUse);
                if !in_use {
                    return err;
                }
                let flag = if self.name == "admin" {
                    "--admin-listen"
                } else {
                    "--listen"
                };
                let free = SocketAddr::new(self.addr.ip(), 0);
                err.context(format!(
                    "port {} is in use (by another wasmhost, or another server): stop it, or serve on another port; `{flag} {free}` picks a free one and prints it",
                    self.addr.port()
                ))
            })
    }

    /// Reads its certificate and key again, if it has TLS; a failure keeps the certificate
    /// it presents and is logged, naming the file.
    fn reload_tls(&self) {
        let Some(tls) = &self.tls else { return };
        match tls.reload() {
            Ok(()) => tracing::info!(
                listener = self.name,
                cert = %tls.files().cert.display(),
                "TLS certificate reloaded; new connections get it"
            ),
            Err(err) => tracing::error!(
                listener = self.name,
                "TLS certificate reload failed; still presenting the previous one: {err:#}"
            ),
        }
    }
}

/// Serves `version` until SIGINT or SIGTERM, reloading it (and the certificates of `public`
/// and `admin`) on SIGHUP and, with `--watch`, on a change.
async fn run(
    version: Arc<AppVersion>,
    loader: &Loader,
    public: Listen,
    admin_listen: Option<(Listen, Option<AdminToken>)>,
    signals: Signals,
    access_log: bool,
) -> Result<()> {
    let Signals {
        mut hangup,
        mut terminate,
        mut interrupt,
    } = signals;
    let listener = public.bind().await?;
    let base = format!("{}://{}", listener.scheme(), listener.local_addr()?);
    let admin = match &admin_listen {
        Some((listen, token)) => Some((listen.bind().await?, token.clone())),
        None => None,
    };

    println!("Serving {base}");
    print_routes(&version, &base);
    if let Some((admin, token)) = &admin {
        let admin_addr = admin.local_addr()?;
        let writes = if token.is_some() {
            "with the bearer token"
        } else {
            "off: no --admin-token-file"
        };
        println!(
            "Admin endpoints on {}://{admin_addr} ({}, {}, {}; {}<topic>, {}<queue>/..., {}<trigger>/run, {}... {writes})",
            admin.scheme(),
            admin::HEALTH_PATH,
            admin::READY_PATH,
            admin::METRICS_PATH,
            admin::TOPICS_PATH,
            admin::QUEUES_PATH,
            admin::CRON_PATH,
            admin::WORKFLOWS_PATH,
        );
    }
    // Where `wasmhost queue`, `cron run` and `workflow` find this serve while it holds the
    // sled stores.
    let admin_url = match &admin {
        Some((admin, _)) => Some(format!("{}://{}", admin.scheme(), admin.local_addr()?)),
        None => None,
    };
    // Removed when dropped, however `serve` ends.
    let _admin_url_record = admin_url.as_deref().and_then(|url| {
        operate::record_admin_url(version.app.base_dir(), url)
            .inspect_err(|err| {
                tracing::warn!("the queue, cron and workflow commands will need --admin: {err:#}");
            })
            .ok()
    });

    let current = Arc::new(ArcSwap::new(version.clone()));
    let shutdown = CancellationToken::new();
    let mut http = tokio::spawn(trigger::http::serve(
        listener,
        current.clone(),
        shutdown.clone(),
        access_log,
    ));
    let mut admin = tokio::spawn({
        let (current, shutdown) = (current.clone(), shutdown.clone());
        async move {
            match admin {
                Some((admin, token)) => admin::serve(admin, current, token, shutdown).await,
                None => {
                    shutdown.cancelled().await;
                    Ok(())
                }
            }
        }
    });
    let mut triggers = Triggers::start(&version);
    // Versions replaced by a reload, kept until their invocations in flight are done.
    let mut retired: Vec<Arc<AppVersion>> = Vec::new();
    // The error of the last reload, if it failed.
    let mut last_failure: Option<String> = None;
    let (changed, mut changes) = tokio::sync::mpsc::channel(1);
    let mut watcher = if loader.options().watch {
        let watcher = Watch::start(&version.app.manifest_path, changed)?;
        println!("Watching {} for changes", version.app.base_dir().display());
        Some(watcher)
    } else {
        drop(changed);
        None
    };
    loop {
        let cause = tokio::select! {
            result = &mut http => return result.context("the HTTP listener stopped")?,
            result = &mut admin => return result.context("the admin listener stopped")?,
            _ = hangup.recv() => {
                let admin = admin_listen.iter().map(|(listen, _)| listen);
                for listen in std::iter::once(&public).chain(admin) {
                    listen.reload_tls();
                }
                "SIGHUP"
            }
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
        match loader.reload(&current.load()).await {
            Ok(next) => {
                last_failure = None;
                triggers.stop();
                let old = current.swap(next.clone());
                old.tasks.close();
                retired.push(old);
                retired.retain(|version| !version.tasks.is_empty());
                triggers = Triggers::start(&next);
                println!("Reloaded in {} ms", started.elapsed().as_millis());
                print_routes(&next, &base);
            }
            Err(err) => {
                // Once per failure: a change that fails the same way again gets a short line.
                let error = format!("{err:#}");
                if last_failure.as_ref() == Some(&error) {
                    tracing::error!(
                        "reload failed again with the same error; still serving the previous version"
                    );
                } else {
                    tracing::error!("reload failed; still serving the previous version: {error}");
                    last_failure = Some(error);
                }
            }
        }
    }
    // The schedulers and queue consumers stop: no new tick or message is taken.
    triggers.stop();
    let version = current.load_full();
    let drain = version.limits.drain_timeout;
    tracing::info!(
        drain_timeout_ms = drain.as_millis(),
        "shutting down: no new connections; finishing the requests and handler calls in flight"
    );
    shutdown.cancel();
    version.tasks.close();
    let drained = tokio::time::timeout(drain, async {
        let _ = tokio::join!(http, admin);
        version.tasks.wait().await;
        for version in &retired {
            version.tasks.wait().await;
        }
    })
    .await;
    match drained {
        Ok(()) => tracing::info!("drained; stopped"),
        Err(_) => tracing::warn!(
            still_running = version.tasks.len(),
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
    /// What ends a startup that failed with `err`: `Ok` (exit status 0) if a SIGINT or
    /// SIGTERM came during it (or comes within 200 ms: a build killed by the same Ctrl-C may
    /// fail a moment before the host sees its signal), else `err`.
    async fn stopped_during_startup(&mut self, err: anyhow::Error) -> Result<()> {
        let stopped = async {
            tokio::select! {
                _ = self.interrupt.recv() => "SIGINT",
                _ = self.terminate.recv() => "SIGTERM",
            }
        };
        match tokio::time::timeout(std::time::Duration::from_millis(200), stopped).await {
            Ok(signal) => {
                tracing::info!("stopped by {signal} during startup");
                Ok(())
            }
            Err(_) => Err(err),
        }
    }

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

/// Prints the routes and triggers of `version`, served at `base` (`http://ADDR` or
/// `https://ADDR`).
fn print_routes(version: &AppVersion, base: &str) {
    let routes = version.router.entries();
    if !routes.is_empty() {
        println!("Available routes:");
    }
    for (route, target) in routes {
        match &target.target {
            HttpTarget::Component(index) => {
                println!("  {}: {base}{route}", version.components[*index].id);
            }
            HttpTarget::Fixed(fixed) => {
                println!("  ({}): {base}{route}", fixed.status);
            }
            HttpTarget::Files(files) => {
                println!("  (files in {}): {base}{route}", files.dir.display());
            }
        }
    }
    if !version.app.queue_triggers.is_empty() {
        println!("Queue triggers:");
        for trigger in &version.app.queue_triggers {
            let blob = version
                .app
                .blob_triggers
                .iter()
                .find(|b| b.queue == trigger.queue);
            let source = match (&trigger.topic, blob) {
                (_, Some(blob)) => format!(
                    "blob container `{}`{}{} (queue `{}`)",
                    blob.container,
                    match (blob.created, blob.deleted) {
                        (true, true) => " created and deleted",
                        (true, false) => " created",
                        _ => " deleted",
                    },
                    if blob.prefix.is_empty() && blob.suffix.is_empty() {
                        String::new()
                    } else {
                        format!(" matching `{}*{}`", blob.prefix, blob.suffix)
                    },
                    trigger.queue
                ),
                (Some(topic), None) => format!("topic `{topic}` (queue `{}`)", trigger.queue),
                (None, None) => format!("queue `{}`", trigger.queue),
            };
            println!(
                "  {}: {source} (dead letters: `{}`)",
                version.components[trigger.component].id, trigger.dead_letter
            );
        }
    }
    if !version.app.cron_triggers.is_empty() {
        println!("Cron triggers:");
        for trigger in &version.app.cron_triggers {
            println!(
                "  {}: `{}` ({})",
                version.components[trigger.component].id, trigger.expression, trigger.timezone
            );
        }
    }
}

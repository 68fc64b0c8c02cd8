//! Layer 5, the loaded app version: startup steps 3 to 5 of [`crate`] for one version of an
//! app, and the state every invocation of that version reads.
//!
//! [`AppVersion::load`] turns a checked [`App`] into compiled components (through the
//! [`CompileCache`]), pre-instantiates each one once against the one [`Linker`] that holds every
//! capability (`ProxyPre` and the typed cron and queue exports), resolves each component's
//! grants and limits, and builds the HTTP routing table. Per invocation,
//! [`AppVersion::new_store`] makes the small per-instance [`Store`]; nothing on that path
//! parses, compiles or looks up by string. A reload loads a new version beside the old one;
//! each invocation keeps the version it started on.

use std::collections::BTreeMap;
use std::sync::{Arc, Weak};
use std::time::Instant;

use anyhow::{Context, Result};
use http::{HeaderName, HeaderValue};
use tokio_util::task::TaskTracker;
use wasmtime::component::{InstancePre, Linker};
use wasmtime::{CallHook, Engine, Store};
use wasmtime_wasi_http::p2::bindings::ProxyPre;

use crate::app::{App, AuthLevel, ComponentId, CorsPolicy, HttpTarget, ManifestFormat};
use crate::bindings::CronComponentPre;
use crate::bindings::activity_component::ActivityComponentPre;
use crate::bindings::queue_component::QueueComponentPre;
use crate::bindings::workflow_component::WorkflowComponentPre;
use crate::capability::Grants;
use crate::capability::blob::{self, BlobContainers};
use crate::capability::config::{self, ComponentConfig};
use crate::capability::key_value::{self, KeyValueStores};
use crate::capability::outbound_http::{ChainHandler, OutboundHttp, OutboundPolicy, TlsSettings};
use crate::capability::queue::{self, Queues};
use crate::capability::spin;
use crate::capability::wasi::WasiGrants;
use crate::capability::workflow::context::ReplayClock;
use crate::capability::workflow::{self, WorkflowGrants, Workflows};
use crate::compile_cache::{CacheOutcome, CompileCache};
use crate::engine::EpochTicks;
use crate::guest_output::{Faults, GuestOutput, LineLimiter};
use crate::invocation::{Invocation, RequestId, TraceContext};
use crate::keys::KeyRing;
use crate::limits::{CpuSlices, Limits, LongLane, MemoryLimiter, ResolvedLimits};
use crate::metrics::{Metrics, TriggerMetrics};
use crate::route::{Router, headers};
use crate::state::InstanceState;
use crate::variables::Value;

/// One export a trigger calls: the component pre-instantiated and typed for it, and the
/// metrics of its invocations.
pub struct Export<P> {
    /// The typed pre-instantiation; cloning is a reference-count increment.
    pub pre: P,
    /// Invocation counts and durations, labelled with the component and the trigger kind.
    pub metrics: Arc<TriggerMetrics>,
}

impl<P> Export<P> {
    fn new(pre: P, metrics: &Metrics, component: &ComponentId, trigger: &'static str) -> Self {
        Self {
            pre,
            metrics: Arc::new(metrics.trigger(component.as_str(), trigger)),
        }
    }
}

/// A component ready to serve: compiled, linked and pre-instantiated.
pub struct LoadedComponent {
    /// The component's id.
    pub id: ComponentId,
    /// Its `wasi:http/incoming-handler` export, if it has one.
    pub http: Option<Export<ProxyPre<InstanceState>>>,
    /// Its `wasmhost:host/cron-handler` export, if it has one.
    pub cron: Option<Export<CronComponentPre<InstanceState>>>,
    /// Its `wasmhost:host/queue-handler` export, if it has one.
    pub queue: Option<Export<QueueComponentPre<InstanceState>>>,
    /// Its `wasmhost:host/orchestrator` export, if a `[[trigger.workflow]]` names it (an
    /// orchestrator: its instances get a [`ReplayClock`]).
    pub orchestrator: Option<Export<WorkflowComponentPre<InstanceState>>>,
    /// Its `wasmhost:host/activity-handler` export, if a `[[trigger.activity]]` names it.
    pub activity: Option<Export<ActivityComponentPre<InstanceState>>>,
    /// Whether its compiled code came from the compile cache.
    pub cache: CacheOutcome,
    /// What its manifest grants.
    pub grants: Grants,
    /// The rate limit on its log lines, shared by its instances.
    pub log_limiter: Arc<LineLimiter>,
    /// Its memory, CPU, time and concurrency limits.
    pub limits: ResolvedLimits,
    /// Its count of `memory.grow`s refused by [`ResolvedLimits::memory_bytes`].
    pub memory_refused: prometheus_client::metrics::counter::Counter,
}

impl LoadedComponent {
    /// A new invocation of this component with `request_id` and `trace`: its outbound budget
    /// is the component's `max_requests` ([`OutboundPolicy::budget`]).
    pub fn invocation(&self, request_id: RequestId, trace: TraceContext) -> Invocation {
        Invocation {
            request_id,
            budget: self.grants.outbound_http.budget(),
            trace,
        }
    }
}

/// One loaded version of the app: what every invocation reads, shared behind an `Arc`.
pub struct AppVersion {
    /// The checked application.
    pub app: App,
    /// Loaded components, in the order of [`App::components`].
    pub components: Vec<LoadedComponent>,
    /// The HTTP routing table.
    pub router: Router<HttpRoute>,
    /// The open key-value stores.
    pub key_value: KeyValueStores,
    /// The open queues.
    pub queues: Queues,
    /// The open blob containers.
    pub blob: BlobContainers,
    /// The app's workflows over the workflow store, if it has workflows or a component with a
    /// `workflows` grant.
    pub workflows: Option<Arc<Workflows>>,
    /// The app's keys, if a route needs one (none: such a route is closed).
    pub keys: Option<Arc<KeyRing>>,
    /// The app's name, for log lines (cloning is a reference-count increment).
    pub app_name: Arc<str>,
    /// The process's metrics.
    pub metrics: Arc<Metrics>,
    /// The host's limits (each component's resolved ones are in [`LoadedComponent::limits`]).
    pub limits: Limits,
    /// The tasks that run invocations past their trigger's own task (queue batches, cron runs,
    /// response bodies still streaming): a shutdown waits for them.
    pub tasks: TaskTracker,
    /// The lane long-running guests share.
    long_lane: LongLane,
    /// The process's engine (a pinned orchestrator of an earlier version is compiled with it).
    pub engine: Engine,
    ticks: EpochTicks,
    /// Internal chaining from this version's instances (the HTTP trigger's handler, holding
    /// this version weakly).
    chain: Arc<dyn ChainHandler>,
}

/// What every version of one served app shares, made once at start: the engine and the limits
/// it was built from, the compile cache, the metrics, and how internal chaining reaches a
/// version (a handler the HTTP trigger makes for it, so this layer never imports a trigger).
pub struct Shared {
    /// The one wasmtime engine ([`Limits::engine_settings`]).
    pub engine: Engine,
    /// The ticks of its epoch ticker.
    pub ticks: EpochTicks,
    /// The host's limits.
    pub limits: Limits,
    /// Where compiled components are cached.
    pub cache: CompileCache,
    /// The process's metrics, which every version updates.
    pub metrics: Arc<Metrics>,
    /// Makes the internal-chaining handler of a version from a weak reference to it.
    pub chain: fn(Weak<AppVersion>) -> Arc<dyn ChainHandler>,
    /// The runtime config's `[outbound_http] allow_private_networks`.
    pub allow_private_networks: bool,
}

/// The backends a version's capabilities use: opened for the first version, shared (and
/// extended) by the next ones.
pub struct Backends {
    /// The open key-value stores.
    pub key_value: KeyValueStores,
    /// The open queues and topics.
    pub queues: Queues,
    /// The open blob containers.
    pub blob: BlobContainers,
    /// The app's workflows, if it has any (or a `workflows` grant).
    pub workflows: Option<Arc<Workflows>>,
    /// The app's keys, if a route needs one.
    pub keys: Option<Arc<KeyRing>>,
}

impl AppVersion {
    /// Compiles (or loads from the [`Shared`] compile cache), links and pre-instantiates every
    /// component of `app`, resolves each one's grants in `backends` (opened for `app`),
    /// renders its config keys with `variables` (the app's variables from
    /// [`crate::variables::resolve`]), resolves its limits against the host's (the engine
    /// must have been built from them), and builds its router. Logs one line per component
    /// with its cache outcome, and counts it in the shared metrics, which every invocation
    /// then updates.
    ///
    /// # Errors
    /// A component file that cannot be read or compiled, a component that imports something
    /// no capability provides, or one that lacks the export its triggers call
    /// (`wasi:http/incoming-handler` for HTTP, `wasmhost:host/cron-handler` for cron), or one
    /// whose `memory_mb` exceeds the host's; each error names the component.
    pub fn load(
        app: App,
        shared: &Shared,
        backends: Backends,
        variables: &BTreeMap<String, Value>,
    ) -> Result<Arc<Self>> {
        let Shared {
            engine,
            ticks,
            limits,
            cache,
            metrics,
            chain,
            allow_private_networks,
        } = shared;
        let Backends {
            key_value,
            queues,
            blob,
            workflows,
            keys,
        } = backends;
        let tls = TlsSettings::new()?;
        let linker = linker(engine)?;

        let mut components = Vec::with_capacity(app.components.len());
        for (index, component) in app.components.iter().enumerate() {
            let started = Instant::now();
            let prepared = prepare(&app, index, engine, &linker, cache)?;
            let outcome = prepared.outcome;
            let (http, cron, queue, orchestrator, activity) = prepared.exports;
            metrics.compile_cache_lookup(outcome);
            if !prepared.trapped.is_empty() {
                tracing::warn!(
                    component = %component.id,
                    interfaces = %prepared.trapped.join(", "),
                    "{}",
                    spin::TRAPPED,
                );
            }
            tracing::info!(
                component = %component.id,
                cache = %outcome.as_str(),
                // To the µs (`12.345`, not `12.345678901`).
                ms = u32::try_from(started.elapsed().as_micros()).map_or(f64::MAX, f64::from) / 1e3,
                "component ready",
            );
            components.push(LoadedComponent {
                id: component.id.clone(),
                http: http.map(|pre| Export::new(pre, metrics, &component.id, "http")),
                cron: cron.map(|pre| Export::new(pre, metrics, &component.id, "cron")),
                queue: queue.map(|pre| Export::new(pre, metrics, &component.id, "queue")),
                orchestrator: orchestrator
                    .map(|pre| Export::new(pre, metrics, &component.id, "workflow")),
                activity: activity.map(|pre| Export::new(pre, metrics, &component.id, "activity")),
                log_limiter: Arc::new(LineLimiter::new()),
                limits: limits.resolve(component)?,
                memory_refused: metrics.memory_grow_refused(component.id.as_str()),
                cache: outcome,
                grants: Grants {
                    key_value: key_value.grants(component),
                    config: ComponentConfig::render(component, variables),
                    outbound_http: Arc::new(OutboundPolicy::new(
                        &app,
                        component,
                        &tls,
                        *allow_private_networks,
                        variables,
                        metrics,
                    )?),
                    queues: queues.grants(&app.name, component),
                    wasi: WasiGrants::resolve(&app, component, variables)?,
                    blob: blob.grants(&app, component, &queues),
                    workflows: match &workflows {
                        Some(workflows) if !component.workflows.is_empty() => WorkflowGrants::new(
                            component.id.clone(),
                            workflows.clone(),
                            component.workflows.clone(),
                        ),
                        _ => WorkflowGrants::default(),
                    },
                },
            });
        }

        let router = router(&app)?;
        let app_name = Arc::from(app.name.as_str());
        Ok(Arc::new_cyclic(|me| Self {
            app_name,
            metrics: metrics.clone(),
            app,
            components,
            router,
            key_value,
            queues,
            blob,
            workflows,
            keys,
            limits: limits.clone(),
            tasks: TaskTracker::new(),
            long_lane: LongLane::new(),
            engine: engine.clone(),
            ticks: ticks.clone(),
            chain: chain(me.clone()),
        }))
    }

    /// Component instances alive now, in the whole process (the pooling allocator's count).
    pub fn live_instances(&self) -> u64 {
        self.engine
            .pooling_allocator_metrics()
            .map_or(0, |pool| pool.component_instances())
    }

    /// A new store for one instance of `component`, with its grants, its memory limit and its
    /// CPU deadline (the guest yields to the async runtime at every epoch tick, shares the
    /// [`LongLane`] once it runs long, and is interrupted after `cpu_ticks` ticks;
    /// [`CpuSlices`]), for
    /// `invocation`, recording its panic and refused `memory.grow` in `faults`: a new one per incoming request or cron run (its outbound budget from
    /// [`OutboundPolicy::budget`]), the caller's along an internal chain.
    pub fn new_store(
        &self,
        component: &LoadedComponent,
        invocation: Invocation,
        faults: Arc<Faults>,
    ) -> Store<InstanceState> {
        let grants = component.grants.clone();
        let (request_id, trace) = (invocation.request_id.clone(), invocation.trace.clone());
        let output = GuestOutput::new(
            self.app_name.clone(),
            component.id.clone(),
            request_id.clone(),
            component.log_limiter.clone(),
            faults.clone(),
        );
        let outbound =
            OutboundHttp::new(grants.outbound_http.clone(), invocation, self.chain.clone());
        let limiter = MemoryLimiter {
            max_bytes: component.limits.memory_bytes,
            refused: component.memory_refused.clone(),
            faults,
        };
        let replay = component
            .orchestrator
            .is_some()
            .then(|| Arc::new(ReplayClock::default()));
        let state = InstanceState::new(
            grants, outbound, &output, request_id, trace, limiter, replay,
        );
        let mut store = Store::new(&self.engine, state);
        store.limiter(InstanceState::limiter);
        let mut slices = CpuSlices::new(component.limits.cpu_ticks, self.long_lane.clone());
        store.set_epoch_deadline(1);
        store.epoch_deadline_callback(move |_| slices.tick());
        let ticks = self.ticks.clone();
        // The tick count when the guest last called into the host.
        let mut entered = 0;
        store.call_hook(move |mut store, hook| {
            match hook {
                CallHook::CallingHost => entered = ticks.now(),
                // A host call that outlasted a tick (awaiting a socket, a backend, a timer)
                // was not the guest's CPU time: the guest gets a fresh slice rather than
                // being charged, at its next check, for the ticks it spent waiting.
                CallHook::ReturningFromHost if ticks.now() != entered => {
                    store.set_epoch_deadline(1);
                }
                _ => {}
            }
            Ok(())
        });
        store
    }
}

/// The one linker of `engine`: the WASI 0.2 base, `wasi:http`, and every capability of
/// [`crate::capability`] (Spin's implemented interfaces included; the others are linked as
/// traps per component, by [`spin::instantiate_pre`]).
///
/// # Errors
/// An import defined twice (a bug in the host).
pub fn linker(engine: &Engine) -> Result<Linker<InstanceState>> {
    let mut linker = Linker::<InstanceState>::new(engine);
    wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
    wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)?;
    key_value::add_to_linker(&mut linker, InstanceState::key_value)?;
    config::add_to_linker(&mut linker, InstanceState::config)?;
    queue::add_to_linker(&mut linker, InstanceState::queue)?;
    queue::batch::add_to_linker(&mut linker, InstanceState::batch)?;
    blob::add_to_linker(&mut linker, InstanceState::blob)?;
    workflow::add_to_linker(&mut linker, InstanceState::workflow_client)?;
    workflow::context::add_to_linker(&mut linker, InstanceState::orchestration)?;
    Ok(linker)
}

/// What [`check_component`] found in a component that links.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CheckedImports {
    /// The names of the interfaces it imports (`wasi:keyvalue/store@0.2.0-draft`, ...), in
    /// the component's order.
    pub imports: Vec<String>,
    /// The Spin interfaces among them that wasmhost does not implement, linked as traps
    /// ([`spin::unsupported`]): a call to one traps the instance. Empty for most components.
    pub trapped: Vec<String>,
}

/// Checks component `index` of `app` without running it: it compiles (through `cache`),
/// links against [`linker`] (with its unsupported Spin imports as traps), and has the exports
/// its triggers call. Returns what it imports, and which of those are trapped.
///
/// # Errors
/// As [`AppVersion::load`] for that component.
pub fn check_component(
    app: &App,
    index: usize,
    engine: &Engine,
    linker: &Linker<InstanceState>,
    cache: &CompileCache,
) -> Result<CheckedImports> {
    let prepared = prepare(app, index, engine, linker, cache)?;
    let imports = prepared
        .compiled
        .component_type()
        .imports(engine)
        .map(|(name, _)| name.to_owned())
        .collect();
    Ok(CheckedImports {
        imports,
        trapped: prepared.trapped,
    })
}

/// One component, ready to be served: what [`prepare`] makes.
struct Prepared {
    /// The compiled component.
    compiled: wasmtime::component::Component,
    /// Whether it came from the compile cache.
    outcome: CacheOutcome,
    /// Its exports, typed for the triggers that call them.
    exports: TypedExports,
    /// The Spin interfaces it imports that are linked as traps ([`spin::instantiate_pre`]).
    trapped: Vec<String>,
}

/// Component `index` of `app` compiled (or mapped from `cache`), linked against `linker` (its
/// unsupported Spin imports as traps, in a clone made for it alone), and typed for the
/// exports its triggers call. Errors name the component and its file.
fn prepare(
    app: &App,
    index: usize,
    engine: &Engine,
    linker: &Linker<InstanceState>,
    cache: &CompileCache,
) -> Result<Prepared> {
    let component = &app.components[index];
    let context = || {
        format!(
            "component `{}` ({})",
            component.id,
            component.source.display()
        )
    };
    let (compiled, outcome) = cache
        .load(engine, &component.source)
        .with_context(context)?;
    check_orchestrator_imports(app, index, &compiled, engine).with_context(context)?;
    let (pre, trapped) = spin::instantiate_pre(linker, &compiled)
        .with_context(|| format!("{}: cannot be linked", context()))?;
    let exports = exports(app, index, &pre).with_context(context)?;
    Ok(Prepared {
        compiled,
        outcome,
        exports,
        trapped,
    })
}

/// A component's typed exports: HTTP, cron, queue, orchestrator, activity, or several.
type TypedExports = (
    Option<ProxyPre<InstanceState>>,
    Option<CronComponentPre<InstanceState>>,
    Option<QueueComponentPre<InstanceState>>,
    Option<WorkflowComponentPre<InstanceState>>,
    Option<ActivityComponentPre<InstanceState>>,
);

/// The interfaces an orchestrator may import: what Rust's std links, and `orchestration`
/// (prefixes of the import names).
const ORCHESTRATOR_IMPORTS: [&str; 7] = [
    "wasi:cli/",
    "wasi:io/",
    "wasi:clocks/",
    "wasi:random/",
    "wasi:filesystem/",
    "wasmhost:host/orchestration@",
    "wasmhost:host/workflow-types@",
];

/// Checks the imports of component `index` of `app` (compiled as `compiled`): an
/// orchestrator imports only [`ORCHESTRATOR_IMPORTS`]; any other component does not import
/// `orchestration`.
///
/// # Errors
/// The imports that break the rule, each named, with what to do instead.
pub fn check_orchestrator_imports(
    app: &App,
    index: usize,
    compiled: &wasmtime::component::Component,
    engine: &Engine,
) -> Result<()> {
    let workflow = app.workflow_triggers.iter().find(|t| t.component == index);
    let mut refused = Vec::new();
    for (name, _) in compiled.component_type().imports(engine) {
        let allowed = ORCHESTRATOR_IMPORTS
            .iter()
            .any(|prefix| name.starts_with(prefix));
        match workflow {
            Some(_) if !allowed => refused.push(format!("`{name}`")),
            None if name.starts_with("wasmhost:host/orchestration@") => anyhow::bail!(
                "it imports `{name}`, which only an orchestrator (a component a `[[trigger.workflow]]` names) may import"
            ),
            _ => {}
        }
    }
    if let (Some(trigger), false) = (workflow, refused.is_empty()) {
        anyhow::bail!(
            "it is the orchestrator of workflow `{}` but imports {}: an orchestrator is replayed from its history, so it may import only `wasmhost:host/orchestration` and the WASI interfaces Rust's std links (cli, io, clocks, random, filesystem); do I/O in an activity (see docs/workflows.md)",
            trigger.name,
            refused.join(", ")
        );
    }
    Ok(())
}

/// The typed exports of component `index` of `app`: each one its triggers need must be there,
/// and it must have at least one.
fn exports(app: &App, index: usize, pre: &InstancePre<InstanceState>) -> Result<TypedExports> {
    let http = ProxyPre::new(pre.clone());
    let cron = CronComponentPre::new(pre.clone());
    let queue = QueueComponentPre::new(pre.clone());
    let orchestrator = WorkflowComponentPre::new(pre.clone());
    let activity = ActivityComponentPre::new(pre.clone());
    let routed = app
        .http_triggers
        .iter()
        .find(|t| t.target.component() == Some(index));
    let scheduled = app.cron_triggers.iter().find(|t| t.component == index);
    let consuming = app.queue_triggers.iter().find(|t| t.component == index);
    if let (Err(err), Some(trigger)) = (&http, routed) {
        anyhow::bail!(
            "route `{}` calls it, but it does not export wasi:http/incoming-handler@0.2 ({err})",
            trigger.route
        );
    }
    if let (Err(err), Some(trigger)) = (&cron, scheduled) {
        anyhow::bail!(
            "cron schedule `{}` calls it, but it does not export wasmhost:host/cron-handler ({err})",
            trigger.expression
        );
    }
    if let (Err(err), Some(trigger)) = (&queue, consuming) {
        anyhow::bail!(
            "the trigger of queue `{}` calls it, but it does not export wasmhost:host/queue-handler ({err})",
            trigger.queue
        );
    }
    let orchestrating = app.workflow_triggers.iter().find(|t| t.component == index);
    if let (Err(err), Some(trigger)) = (&orchestrator, orchestrating) {
        anyhow::bail!(
            "it is the orchestrator of workflow `{}`, but it does not export wasmhost:host/orchestrator ({err})",
            trigger.name
        );
    }
    let serving = app.activity_triggers.iter().find(|t| t.component == index);
    if let (Err(err), Some(trigger)) = (&activity, serving) {
        anyhow::bail!(
            "activity `{}` runs on it, but it does not export wasmhost:host/activity-handler ({err})",
            trigger.name
        );
    }
    let (http, cron, queue) = (http.ok(), cron.ok(), queue.ok());
    // Typed only where a trigger calls it: an orchestrator's instances are made differently.
    let orchestrator = orchestrator.ok().filter(|_| orchestrating.is_some());
    let activity = activity.ok();
    if http.is_none()
        && cron.is_none()
        && queue.is_none()
        && orchestrator.is_none()
        && activity.is_none()
    {
        anyhow::bail!(
            "it exports none of wasi:http/incoming-handler@0.2, wasmhost:host/cron-handler, wasmhost:host/queue-handler, wasmhost:host/orchestrator and wasmhost:host/activity-handler"
        );
    }
    Ok((http, cron, queue, orchestrator, activity))
}

/// What an HTTP route leads to, with the header names and values it adds to requests, made once
/// at startup.
#[derive(Debug)]
pub struct HttpRoute {
    /// The component (an index into [`AppVersion::components`]) or the fixed response.
    pub target: HttpTarget,
    /// The value of `wasmhost-route`.
    pub route_header: HeaderValue,
    /// `wasmhost-param-<name>` for each route parameter, in path order.
    pub param_headers: Vec<HeaderName>,
    /// Reachable only through internal chaining.
    pub private: bool,
    /// Who may call it.
    pub auth: AuthLevel,
    /// Its CORS policy, answered by the host.
    pub cors: Option<Arc<CorsPolicy>>,
    /// For a Spin app ([`ManifestFormat::Spin`]), the values of Spin's routing headers.
    pub spin: Option<SpinRoute>,
}

/// The values of Spin's routing headers for one route, made at startup (Spin's
/// `spin-matched-route`, `spin-raw-component-route`, `spin-component-route` and the
/// `spin-path-match-<name>` names; the per-request ones are set by the HTTP trigger).
#[derive(Debug, Clone)]
pub struct SpinRoute {
    /// The route as written (`/hello/...`): both `spin-matched-route` (the base is always `/`)
    /// and `spin-raw-component-route`.
    pub route: HeaderValue,
    /// The route without its trailing `/...` (`/hello`): `spin-component-route`.
    pub component_route: HeaderValue,
    /// `spin-path-match-<name>` for each route parameter, in path order.
    pub param_headers: Vec<HeaderName>,
}

impl SpinRoute {
    /// The values for `route` as written.
    pub fn new(route: &crate::route::Route) -> Self {
        let text = route.as_str();
        let value = |text: &str| {
            HeaderValue::from_str(text).expect("a parsed route is a valid header value")
        };
        Self {
            route: value(text),
            component_route: value(text.strip_suffix("/...").unwrap_or(text)),
            param_headers: route
                .params()
                .map(|name| {
                    let name = format!(
                        "{}{}",
                        headers::SPIN_PATH_MATCH_PREFIX,
                        name.to_ascii_lowercase()
                    );
                    HeaderName::try_from(name)
                        .expect("a parsed parameter name is a valid header name")
                })
                .collect(),
        }
    }

    /// The values of a service-chaining request that no route of its component matched: as
    /// Spin, the route `/...`, so the whole path is the path info.
    pub fn synthetic() -> Self {
        Self {
            route: HeaderValue::from_static("/..."),
            component_route: HeaderValue::from_static(""),
            param_headers: Vec::new(),
        }
    }
}

/// Builds the routing table of `app`'s `[[trigger.http]]` entries (startup step 5).
///
/// # Errors
/// Two routes matching the same paths; [`crate::manifest::load`] already rejects those, so
/// this only fails for an `App` built by hand.
pub fn router(app: &App) -> Result<Router<HttpRoute>> {
    let routes = app.http_triggers.iter().map(|trigger| {
        let param_headers = trigger
            .route
            .params()
            .map(|name| {
                let name = format!("{}{}", headers::PARAM_PREFIX, name.to_ascii_lowercase());
                HeaderName::try_from(name).expect("a parsed parameter name is a valid header name")
            })
            .collect();
        let route_header = HeaderValue::from_str(trigger.route.as_str())
            .expect("a parsed route is a valid header value");
        (
            trigger.route.clone(),
            HttpRoute {
                target: trigger.target.clone(),
                route_header,
                param_headers,
                private: trigger.private,
                auth: trigger.auth,
                cors: trigger.cors.clone(),
                spin: (app.format == ManifestFormat::Spin).then(|| SpinRoute::new(&trigger.route)),
            },
        )
    });
    Router::new(routes).map_err(|conflict| {
        anyhow::anyhow!(
            "routes `{}` and `{}` match the same paths",
            app.http_triggers[conflict.first].route,
            app.http_triggers[conflict.second].route
        )
    })
}

//! Startup, steps 3 to 5, and the runtime state every request reads.
//!
//! [`Runtime::load`] turns a checked [`App`] into compiled components (through the
//! [`CompileCache`]), pre-instantiates each one once against the one [`Linker`] that holds every
//! capability (`ProxyPre`), and builds the HTTP router. Per request, [`Runtime::new_store`] makes
//! the small per-instance [`Store`]; nothing on that path parses, compiles or looks up by string.

use std::sync::{Arc, Weak};
use std::time::Instant;

use anyhow::{Context, Result};
use wasmtime::component::{InstancePre, Linker};
use wasmtime::{Engine, Store};
use wasmtime_wasi_http::p2::bindings::ProxyPre;

use crate::app::{App, ComponentId};
use crate::bindings::CronComponentPre;
use std::collections::BTreeMap;

use crate::capability::Grants;
use crate::capability::config::{self, ComponentConfig};
use crate::capability::key_value::{self, KeyValueStores};
use crate::capability::outbound_http::{OutboundHttp, OutboundPolicy, TlsSettings};
use crate::compile_cache::{CacheOutcome, CompileCache};
use crate::guest_output::{GuestOutput, LineLimiter};
use crate::route::Router;
use crate::state::InstanceState;
use crate::trigger::Invocation;
use crate::trigger::http::HttpRoute;
use crate::variables::Value;

/// CPU time one call may run, in epoch ticks of [`crate::engine::EPOCH_TICK`] (10 ms): 1 s.
/// The guest yields to the async runtime at every tick, so a busy guest never starves others.
pub const CPU_DEADLINE_TICKS: u32 = 100;

/// A component ready to serve: compiled, linked and pre-instantiated.
pub struct LoadedComponent {
    /// The component's id.
    pub id: ComponentId,
    /// The pre-instantiated component, typed for `wasi:http/incoming-handler`, if it exports
    /// it.
    pub http: Option<ProxyPre<InstanceState>>,
    /// The pre-instantiated component, typed for `wasmhost:host/cron-handler`, if it exports
    /// it.
    pub cron: Option<CronComponentPre<InstanceState>>,
    /// Whether its compiled code came from the compile cache.
    pub cache: CacheOutcome,
    /// What its manifest grants.
    pub grants: Grants,
    /// The rate limit on its log lines, shared by its instances.
    pub log_limiter: Arc<LineLimiter>,
}

/// The loaded application: what every request reads, shared behind an `Arc`.
pub struct Runtime {
    /// The checked application.
    pub app: App,
    /// Loaded components, in the order of [`App::components`].
    pub components: Vec<LoadedComponent>,
    /// The HTTP routing table.
    pub router: Router<HttpRoute>,
    /// The open key-value stores.
    pub key_value: KeyValueStores,
    /// The app's name, for log lines (cloning is a reference-count increment).
    pub app_name: Arc<str>,
    engine: Engine,
    /// This runtime, for internal chaining from its own instances.
    me: Weak<Runtime>,
}

impl Runtime {
    /// Compiles (or loads from `cache`), links and pre-instantiates every component of `app`,
    /// resolves each one's grants in `key_value` (the stores opened for `app`), renders its
    /// config keys with `variables` (the app's variables from
    /// [`crate::variables::resolve`]), and builds its router. Logs one line per component with
    /// its cache outcome.
    ///
    /// # Errors
    /// A component file that cannot be read or compiled, a component that imports something
    /// no capability provides, or one that lacks the export its triggers call
    /// (`wasi:http/incoming-handler` for HTTP, `wasmhost:host/cron-handler` for cron); each
    /// error names the component.
    pub fn load(
        app: App,
        engine: &Engine,
        cache: &CompileCache,
        key_value: KeyValueStores,
        variables: &BTreeMap<String, Value>,
    ) -> Result<Arc<Self>> {
        let tls = TlsSettings::new()?;
        let mut linker = Linker::<InstanceState>::new(engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
        wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)?;
        key_value::add_to_linker(&mut linker, InstanceState::key_value)?;
        config::add_to_linker(&mut linker, InstanceState::config)?;

        let mut components = Vec::with_capacity(app.components.len());
        for (index, component) in app.components.iter().enumerate() {
            let started = Instant::now();
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
            let pre = linker
                .instantiate_pre(&compiled)
                .map_err(anyhow::Error::from)
                .with_context(|| format!("{}: cannot be linked", context()))?;
            let (http, cron) = exports(&app, index, &pre).with_context(context)?;
            tracing::info!(
                component = %component.id,
                cache = %outcome.as_str(),
                ms = started.elapsed().as_secs_f64() * 1e3,
                "component ready",
            );
            components.push(LoadedComponent {
                id: component.id.clone(),
                http,
                cron,
                log_limiter: Arc::new(LineLimiter::new()),
                cache: outcome,
                grants: Grants {
                    key_value: key_value.grants(component),
                    config: ComponentConfig::render(component, variables),
                    outbound_http: Arc::new(OutboundPolicy::new(&app, component, &tls, variables)?),
                },
            });
        }

        let router = crate::trigger::http::router(&app)?;
        let app_name = Arc::from(app.name.as_str());
        Ok(Arc::new_cyclic(|me| Self {
            app_name,
            app,
            components,
            router,
            key_value,
            engine: engine.clone(),
            me: me.clone(),
        }))
    }

    /// A new store for one instance of `component`, with its grants and its CPU deadline, for
    /// `invocation`: a new one per incoming request or cron run (its outbound budget from
    /// [`OutboundPolicy::budget`]), the caller's along an internal chain.
    pub fn new_store(
        &self,
        component: &LoadedComponent,
        invocation: Invocation,
    ) -> Store<InstanceState> {
        let grants = component.grants.clone();
        let invocation_id = invocation.request_id.clone();
        let outbound = OutboundHttp::new(grants.outbound_http.clone(), invocation, self.me.clone());
        let output = GuestOutput::new(
            self.app_name.clone(),
            component.id.clone(),
            invocation_id,
            component.log_limiter.clone(),
        );
        let state = InstanceState::new(grants, outbound, &output);
        let mut store = Store::new(&self.engine, state);
        let mut ticks_left = CPU_DEADLINE_TICKS;
        store.set_epoch_deadline(1);
        store.epoch_deadline_callback(move |_| {
            ticks_left = ticks_left.saturating_sub(1);
            if ticks_left == 0 {
                Ok(wasmtime::UpdateDeadline::Interrupt)
            } else {
                Ok(wasmtime::UpdateDeadline::Yield(1))
            }
        });
        store
    }
}

/// A component's typed exports: HTTP, cron, or both.
type TypedExports = (
    Option<ProxyPre<InstanceState>>,
    Option<CronComponentPre<InstanceState>>,
);

/// The typed exports of component `index` of `app`: each one its triggers need must be there,
/// and it must have at least one.
fn exports(app: &App, index: usize, pre: &InstancePre<InstanceState>) -> Result<TypedExports> {
    let http = ProxyPre::new(pre.clone());
    let cron = CronComponentPre::new(pre.clone());
    let routed = app.http_triggers.iter().find(|t| t.component == index);
    let scheduled = app.cron_triggers.iter().find(|t| t.component == index);
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
    let (http, cron) = (http.ok(), cron.ok());
    if http.is_none() && cron.is_none() {
        anyhow::bail!(
            "it exports neither wasi:http/incoming-handler@0.2 nor wasmhost:host/cron-handler"
        );
    }
    Ok((http, cron))
}

//! Layer 4, capabilities: what a guest may import, each in its own module, each denied unless
//! the manifest grants it. A capability never imports a trigger, the loaded app version or the
//! CLI; where it needs one (internal chaining), the trigger hands it a handler when it makes
//! the store ([`outbound_http::ChainHandler`]).
//!
//! ## The shape of a capability
//!
//! Every capability has the same host-side shape (as wasmtime's `wasi-config` crate):
//! - **state resolved at load**: a context of shared state opened once per app version; with
//!   backends, it implements [`Open`] (`open(app, config, metrics)` for the first version,
//!   `reopen(app)` for the next); each component's grants are resolved from it once into an
//!   `Arc`-cloned value in [`Grants`];
//! - **a borrowed view**, `…View<'a>`, made per call from the instance's
//!   [`crate::state::InstanceState`], which implements the generated `Host` traits
//!   ([`key_value::KeyValueView`], [`config::ConfigView`], [`queue::QueueView`],
//!   [`blob::BlobView`], [`workflow::WorkflowClientView`],
//!   [`workflow::context::OrchestrationView`]);
//! - **`add_to_linker(linker, fn(&mut T) -> …View<'_>)`**, called once at startup for the one
//!   linker;
//! - **trappable errors**: each interface's WIT error maps to a `…Error` enum with a `Guest`
//!   side (told to the guest as the WIT error variant: permission and backend failures) and a
//!   `Trap` side (a broken host invariant), converted by the generated `convert_error`;
//! - a backend is a trait (`backend.rs`) with one file per implementation (`sled.rs`,
//!   `redis.rs`); what backends share (the error, the Redis connection, the sled databases, the
//!   clock) is in [`backend`].
//!
//! Spin's guest interfaces are faces of the capabilities above: `fermyon:spin/key-value` and
//! `wasi:keyvalue@0.2.0-draft2` of [`key_value`], `fermyon:spin/variables` and
//! `wasi:config@0.2.0-draft-2024-09-27` of [`config`], each added by that capability's
//! `add_to_linker`. The Spin interfaces wasmhost does not implement are linked per component
//! as traps ([`spin`]).
//!
//! Outbound HTTP follows wasmtime-wasi-http's own shape instead: its per-instance hooks
//! ([`outbound_http::OutboundHttp`]) are the `WasiHttpHooks` of the `wasi:http` view.
//!
//! The WASI 0.2 base (clocks, random, stdio, and the `wasi:cli`/`wasi:filesystem`/
//! `wasi:sockets` interfaces that Rust's std imports) comes from `wasmtime-wasi`, configured
//! per instance with no socket, and no environment variable or preopened directory beyond
//! what the manifest's `environment` and `files` grant ([`wasi`]).

pub mod backend;
pub mod blob;
pub mod config;
pub mod key_value;
pub mod outbound_http;
pub mod queue;
pub mod spin;
pub mod wasi;
pub mod workflow;

use std::num::NonZeroU32;
use std::sync::{Arc, LazyLock};

use anyhow::Result;
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};

use crate::app::{App, ComponentId};
use crate::capability::backend::{BackendContext, SledDatabases};
use crate::capability::blob::BlobGrants;
use crate::capability::config::ComponentConfig;
use crate::capability::key_value::KeyValueGrants;
use crate::capability::outbound_http::OutboundPolicy;
use crate::capability::queue::QueueGrants;
use crate::capability::wasi::WasiGrants;
use crate::capability::workflow::WorkflowGrants;
use crate::metrics::Metrics;
use crate::runtime_config::RuntimeConfig;

/// The state of a capability with backends, opened once per app version: the one `open` (and
/// `reopen`) every such capability has ([`key_value::KeyValueStores`], [`queue::Queues`]).
pub trait Open: Sized + Send + Sync {
    /// The state with nothing open yet: its backends will be where `context` says.
    fn empty(context: BackendContext) -> Self;

    /// The state of `app`, a new version of the app this state was opened for: what is open
    /// here is shared as it is; what `app` newly names is opened.
    ///
    /// # Errors
    /// As [`Open::open`], for what is opened now.
    fn reopen(&self, app: &App) -> impl Future<Output = Result<Self>> + Send;

    /// Opens every backend `app` names (a grant, a trigger, a dead-letter queue), where
    /// `config` says; each counts its operations in `metrics`.
    ///
    /// # Errors
    /// A backend that cannot be opened: a sled directory held by another process or not
    /// writable, a queue whose trees cannot be recovered, a Redis URL the client rejects. Each
    /// error names the store or queue.
    fn open(
        app: &App,
        config: &RuntimeConfig,
        metrics: &Arc<Metrics>,
    ) -> impl Future<Output = Result<Self>> + Send {
        let empty = Self::empty(BackendContext {
            config: config.clone(),
            metrics: metrics.clone(),
            sled: SledDatabases::default(),
        });
        async move { empty.reopen(app).await }
    }
}

/// The longest name a denial's log line shows, in bytes (the guest chose the name).
const MAX_DENIED_NAME: usize = 128;

/// Denial lines the whole process logs per second (bursts of ten times as many); past that
/// they are dropped, so a guest that asks for an ungranted store in a loop cannot flood the log.
const DENIALS_PER_SECOND: u32 = 10;

/// Logs (WARN) that `component` asked at run time for the `kind` (`key-value store`, `queue`,
/// `topic`, `blob container`) called `name`, which its manifest does not grant, with the
/// manifest `key` that would grant it: `key = ["name"]` in `[component.<id>]`. The guest only
/// gets its WIT error (`access-denied`), and an HTTP client only what the guest answers, so
/// this line is where the app's author learns why. At most [`DENIALS_PER_SECOND`] lines a
/// second for the whole process.
pub fn log_denied(component: &ComponentId, request_id: &str, kind: &str, name: &str, key: &str) {
    static LIMIT: LazyLock<DefaultDirectRateLimiter> = LazyLock::new(|| {
        let rate = NonZeroU32::new(DENIALS_PER_SECOND).expect("non-zero");
        let burst = rate.saturating_mul(NonZeroU32::new(10).expect("non-zero"));
        RateLimiter::direct(Quota::per_second(rate).allow_burst(burst))
    });
    if LIMIT.check().is_err() {
        return;
    }
    let mut end = name.len().min(MAX_DENIED_NAME);
    while !name.is_char_boundary(end) {
        end -= 1;
    }
    // Escaped: the guest chose the name, and a newline in it must not forge a log line.
    let name = name[..end].escape_debug();
    tracing::warn!(
        target: "wasmhost::capability",
        component = %component,
        request_id,
        "{kind} `{name}` denied: component `{component}` is not granted it; to grant it, add `{key} = [\"{name}\"]` to [component.{component}] in the manifest",
    );
}

/// What one component's manifest grants, resolved at startup. Every instance of the component
/// gets a clone (reference-count increments only).
#[derive(Clone)]
pub struct Grants {
    /// The key-value stores it may open.
    pub key_value: KeyValueGrants,
    /// Its rendered `wasi:config` keys.
    pub config: ComponentConfig,
    /// Where it may send HTTP requests, and its pooled client.
    pub outbound_http: Arc<OutboundPolicy>,
    /// The queues it may send to.
    pub queues: QueueGrants,
    /// Its environment variables and read-only file mounts.
    pub wasi: WasiGrants,
    /// The blob containers it may use.
    pub blob: BlobGrants,
    /// The workflows it may start and drive (`workflow-client`).
    pub workflows: WorkflowGrants,
}

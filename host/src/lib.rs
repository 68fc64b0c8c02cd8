//! # wasmhost
//!
//! A WebAssembly edge function host: it serves WASI 0.2 components, one fresh instance per
//! request, made in microseconds from a precompiled, pre-instantiated component.
//!
//! The modules follow the flow of a request:
//!
//! Startup, once per app version:
//! 1. [`manifest`] reads `wasmhost.toml` into raw serde types and checks it into the [`app`]
//!    model (routes parsed by [`route`], templates by [`variables`]); [`runtime_config`] reads
//!    the operator's backends and checks every grant against them; [`variables`] gives every
//!    app variable its value;
//! 2. [`engine`] makes the one wasmtime engine (pooling allocator, copy-on-write images,
//!    epochs); [`compile_cache`] compiles each component once and maps it on later starts;
//! 3. [`runtime`] links every [`capability`], pre-instantiates each component, resolves its
//!    [`limits`] and builds the router.
//!
//! Per request: [`server`] accepts and speaks HTTP, [`trigger::http`] routes, makes a store
//! ([`state`]), instantiates, calls the guest and streams the response; [`guest_output`]
//! turns the guest's stdout and stderr into log lines. Per tick,
//! [`trigger::cron`] does the same with the `cron-handler` export; per batch of queue messages
//! or topic events, [`trigger::queue`] with the `queue-handler` export. [`trace`] carries W3C trace
//! context through each invocation (and exports spans over OTLP when asked); [`metrics`]
//! counts what happens. [`admin`] serves health, readiness and metrics on its own listener. [`cli`] is the `wasmhost` command.

pub mod admin;
pub mod app;
#[allow(missing_docs)] // generated; the WIT doc comments are carried over where they exist
pub mod bindings;
pub mod capability;
pub mod cli;
pub mod compile_cache;
pub mod engine;
pub mod guest_output;
pub mod limits;
pub mod manifest;
pub mod metrics;
pub mod route;
pub mod runtime;
pub mod runtime_config;
pub mod server;
pub mod state;
mod toml_doc;
pub mod trace;
pub mod trigger;
pub mod variables;

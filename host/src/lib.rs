//! # wasmhost
//!
//! A WebAssembly edge function host: it serves WASI 0.2 components, one fresh instance per
//! invocation, made in microseconds from a precompiled, pre-instantiated component.
//!
//! ## Layers
//!
//! From the bottom up; a module imports only from its own layer and the layers below.
//! 1. Value types: [`invocation`] (request id, outbound budget, wall-clock deadline).
//! 2. The model: [`manifest`] (raw → checked [`app`]), [`route`], [`allowed_hosts`],
//!    [`variables`], [`runtime_config`].
//! 3. Infrastructure: [`engine`], [`compile_cache`], [`limits`], [`metrics`], [`trace`],
//!    [`guest_output`], and [`server`] (an accept loop that knows no app) with its [`tls`].
//! 4. [`capability`]: one module per capability, all of one shape.
//! 5. The loaded app version: [`app_version`] (linker, pre-instantiated components, grants
//!    resolved to `Arc`s) and the per-instance [`state`].
//! 6. [`trigger`]s (HTTP, cron, queue and topic), each routing its event through the one
//!    invocation recipe ([`trigger::invoke`]), and the [`admin`] endpoints.
//! 7. The app [`lifecycle`]: load a version, start and stop its triggers, reload, drain.
//! 8. [`cli`]: flags, then calls into the lifecycle.
//!
//! ## The flow of a request
//!
//! Startup, once per app version (the steps every module doc refers to):
//! 1. [`manifest`] reads `wasmhost.toml` into raw serde types;
//! 2. [`manifest`] checks and resolves them into the [`app`] model (routes parsed by
//!    [`route`], outbound hosts by [`allowed_hosts`], templates by [`variables`]);
//!    [`runtime_config`] reads the operator's backends and checks every grant against them;
//!    [`variables`] gives every app variable its value;
//! 3. [`engine`] makes the one wasmtime engine (pooling allocator, copy-on-write images,
//!    epochs) and [`compile_cache`] compiles each component once, mapping it on later starts;
//! 4. [`app_version`] links every [`capability`] into one linker and pre-instantiates each
//!    component once, with its grants and [`limits`] resolved;
//! 5. [`app_version`] builds the HTTP router, and [`lifecycle`] starts the consumers (queue,
//!    topic) and schedules (cron).
//!
//! Per invocation: [`server`] accepts, runs the TLS handshake ([`tls`]) and speaks HTTP; [`trigger::http`] routes (or a cron tick
//! or a batch of queue messages arrives); [`trigger::invoke`] makes the store ([`state`]),
//! instantiates, sets the deadline, calls the export, and counts, traces and logs the outcome;
//! the response streams back and the store is dropped. [`guest_output`] turns the guest's
//! stdout and stderr into log lines; [`trace`] carries W3C trace context through each
//! invocation (and exports spans over OTLP when asked); [`metrics`] counts what happens;
//! [`admin`] serves health, readiness and metrics on its own listener.

pub mod admin;
pub mod allowed_hosts;
pub mod app;
pub mod app_version;
#[allow(missing_docs)] // generated; the WIT doc comments are carried over where they exist
pub mod bindings;
pub mod capability;
pub mod cli;
pub mod compile_cache;
pub mod engine;
pub mod guest_output;
pub mod invocation;
pub mod keys;
pub mod lifecycle;
pub mod limits;
pub mod manifest;
pub mod metrics;
pub mod operate;
pub mod route;
pub mod runtime_config;
pub mod server;
pub mod state;
pub mod tls;
mod toml_doc;
pub mod trace;
pub mod trigger;
pub mod variables;

//! The end-to-end tests: the real `wasmhost` binary on real sockets, real guest components
//! compiled from Rust, real HTTP clients, a real `redis-server` and a real S3 server (moto's),
//! one module per area. One test binary, so the support crate and the tests are linked once.

mod admin;
mod auth;
mod blob;
mod cli;
mod cron;
mod http;
mod isolation;
mod key_value;
mod logs;
mod metrics;
mod outbound_http;
mod queue;
mod redis_queue;
mod reload;
mod s3_server;
mod shortener;
mod spin;
mod templates;
mod tls;
mod trace;
mod variables;
mod weather_proxy;
mod workflow;
mod workflow_api;

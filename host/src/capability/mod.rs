//! Capabilities: what a guest may import, each in its own module, each denied unless the
//! manifest grants it.
//!
//! Every capability has the same host-side shape (as wasmtime's own WASI crates): a context
//! holding shared state, a view borrowed from the per-request [`crate::state::InstanceState`]
//! that implements the generated host trait, and an `add_to_linker` used once at startup.
//!
//! The WASI 0.2 base (clocks, random, stdio, and the `wasi:cli`/`wasi:filesystem`/
//! `wasi:sockets` interfaces that Rust's std imports) comes from `wasmtime-wasi`, configured
//! per instance with no preopened directory, no environment variable and no socket.

pub mod config;
pub mod key_value;
pub mod outbound_http;
pub mod queue;

use crate::capability::config::ComponentConfig;
use crate::capability::key_value::StoreGrants;
use crate::capability::outbound_http::OutboundPolicy;
use crate::capability::queue::QueueGrants;

/// What a backend operation (a key-value store's or a queue's) can fail with.
#[derive(Debug, Clone, thiserror::Error)]
pub enum BackendError {
    /// The operation does not apply to the data, such as incrementing a value that is not a
    /// decimal integer. The guest's doing: told to the guest, not logged.
    #[error("{0}")]
    Invalid(String),
    /// The backend failed: I/O, a lost connection, a timeout. Logged with the store or queue,
    /// and told to the guest.
    #[error("{0}")]
    Unavailable(String),
}

/// What one component's manifest grants, resolved at startup. Every instance of the component
/// gets a clone (reference-count increments only).
#[derive(Clone)]
pub struct Grants {
    /// The key-value stores it may open.
    pub key_value: StoreGrants,
    /// Its rendered `wasi:config` keys.
    pub config: ComponentConfig,
    /// Where it may send HTTP requests, and its pooled client.
    pub outbound_http: std::sync::Arc<OutboundPolicy>,
    /// The queues it may send to.
    pub queues: QueueGrants,
}

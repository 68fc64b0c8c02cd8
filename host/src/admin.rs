//! Admin endpoints, on their own listener (`--admin-listen`), never on the public one:
//!
//! - `GET /.well-known/wasmhost/health`: 200 `ok` while the process serves (liveness);
//! - `GET /.well-known/wasmhost/ready`: 200 `ready` once every component is pre-instantiated
//!   (the admin listener only starts after that).
//!
//! Neither touches a guest.

use anyhow::Result;
use http::StatusCode;
use tokio::net::TcpListener;

use crate::server::{accept_loop, text};

/// Path of the liveness endpoint.
pub const HEALTH_PATH: &str = "/.well-known/wasmhost/health";
/// Path of the readiness endpoint.
pub const READY_PATH: &str = "/.well-known/wasmhost/ready";

/// Serves the admin endpoints on `listener` until the task is dropped.
///
/// # Errors
/// As [`accept_loop`].
pub async fn serve(listener: TcpListener) -> Result<()> {
    accept_loop(listener, |_client, req| async move {
        match req.uri().path() {
            HEALTH_PATH => text(StatusCode::OK, "ok\n"),
            READY_PATH => text(StatusCode::OK, "ready\n"),
            _ => text(StatusCode::NOT_FOUND, "unknown admin endpoint\n"),
        }
    })
    .await
}

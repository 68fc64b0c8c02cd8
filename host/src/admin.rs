//! Admin endpoints, on their own listener (`--admin-listen`), never on the public one:
//!
//! - `GET /.well-known/wasmhost/health`: 200 `ok` while the process serves (liveness);
//! - `GET /.well-known/wasmhost/ready`: 200 `ready` when every component is pre-instantiated
//!   (the admin listener only starts after that) and every key-value and queue backend answers
//!   a ping within [`READY_PING_TIMEOUT`]; otherwise 503, naming each one that does not;
//! - `GET /metrics`: every metric of [`crate::metrics`], in the Prometheus text format
//!   (OpenMetrics 1.0).
//!
//! None of them touches a guest.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;
use http::{HeaderValue, StatusCode};
use tokio::net::TcpListener;

use crate::runtime::Runtime;
use crate::server::{accept_loop, response, text};

/// Path of the liveness endpoint.
pub const HEALTH_PATH: &str = "/.well-known/wasmhost/health";
/// Path of the readiness endpoint.
pub const READY_PATH: &str = "/.well-known/wasmhost/ready";
/// Path of the metrics endpoint.
pub const METRICS_PATH: &str = "/metrics";
/// How long readiness waits for each backend's ping: 2 s.
pub const READY_PING_TIMEOUT: Duration = Duration::from_secs(2);

/// Serves the admin endpoints of `runtime` on `listener` until the task is dropped.
///
/// # Errors
/// As [`accept_loop`].
pub async fn serve(listener: TcpListener, runtime: Arc<Runtime>) -> Result<()> {
    accept_loop(listener, move |_client, req| {
        let runtime = runtime.clone();
        async move {
            match req.uri().path() {
                HEALTH_PATH => text(StatusCode::OK, "ok\n"),
                READY_PATH => match unready_backends(&runtime).await {
                    problems if problems.is_empty() => text(StatusCode::OK, "ready\n"),
                    problems => text(
                        StatusCode::SERVICE_UNAVAILABLE,
                        format!("not ready:\n{}", problems.concat()),
                    ),
                },
                METRICS_PATH => {
                    for queue in runtime.queues.all() {
                        // A backend that does not answer keeps its last figures.
                        if let Ok((pending, in_flight)) = queue.backend.depth().await {
                            let gauge = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
                            queue.metrics.depth.set(gauge(pending));
                            queue.metrics.in_flight.set(gauge(in_flight));
                        }
                    }
                    response(
                        StatusCode::OK,
                        HeaderValue::from_static(crate::metrics::CONTENT_TYPE),
                        runtime.metrics.encode(runtime.live_instances()),
                    )
                }
                _ => text(StatusCode::NOT_FOUND, "unknown admin endpoint\n"),
            }
        }
    })
    .await
}

/// One line per key-value store or queue whose backend does not answer a ping in time, naming
/// it.
async fn unready_backends(runtime: &Runtime) -> Vec<String> {
    let stores = runtime.key_value.stores().map(|store| {
        let name = format!("key-value store `{}` ({})", store.label, store.description);
        unanswered(name, store.backend.ping())
    });
    let queues = runtime.queues.all().map(|queue| {
        let name = format!("queue `{}` ({})", queue.name, queue.description);
        unanswered(name, queue.backend.ping())
    });
    let (stores, queues) = futures::future::join(
        futures::future::join_all(stores),
        futures::future::join_all(queues),
    )
    .await;
    stores.into_iter().chain(queues).flatten().collect()
}

/// `None` if `ping` succeeds within [`READY_PING_TIMEOUT`], else a line naming `backend` and
/// the problem.
async fn unanswered(
    backend: String,
    ping: impl Future<Output = Result<(), crate::capability::BackendError>>,
) -> Option<String> {
    let problem = match tokio::time::timeout(READY_PING_TIMEOUT, ping).await {
        Ok(Ok(())) => return None,
        Ok(Err(err)) => err.to_string(),
        Err(_) => format!("no answer in {} ms", READY_PING_TIMEOUT.as_millis()),
    };
    Some(format!("{backend}: {problem}\n"))
}

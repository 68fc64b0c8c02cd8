//! The socket side shared by every listener (the public HTTP trigger and the admin endpoints):
//! accept connections, speak HTTP/1.1 or HTTP/2 (prior knowledge) with hyper, and hand each
//! request to a handler that always produces a response.

use std::convert::Infallible;
use std::net::SocketAddr;

use anyhow::{Context, Result};
use bytes::Bytes;
use http::{HeaderValue, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;

use crate::limits::Limits;

/// Binds `addr` for serving.
///
/// # Errors
/// The address is in use or not local, naming it.
pub async fn bind(addr: SocketAddr) -> Result<TcpListener> {
    TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr}"))
}

/// Accepts connections on `listener` until `shutdown` is cancelled, serving each on its own
/// task with the header limits of `limits` ([`Limits::max_headers`],
/// [`Limits::max_header_bytes`], [`Limits::header_read_timeout`]). `handler` gets the
/// client's address (as a header value, made once per connection) and the request. After
/// `shutdown`, it stops accepting, asks every connection to finish the request it is on (HTTP/1.1
/// keep-alive ends, HTTP/2 sends GOAWAY), and returns once they all have: wrap it in the drain
/// timeout.
///
/// # Errors
/// None in practice: a failed accept (for example, out of file descriptors) is logged and
/// retried after 10 ms; per-connection errors are logged at debug level.
pub async fn accept_loop<H, F>(
    listener: TcpListener,
    limits: &Limits,
    shutdown: CancellationToken,
    handler: H,
) -> Result<()>
where
    H: Fn(HeaderValue, Request<Incoming>) -> F + Clone + Send + Sync + 'static,
    F: Future<Output = Response<HyperOutgoingBody>> + Send + 'static,
{
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .max_headers(limits.max_headers)
        .max_buf_size(limits.max_header_bytes.max(8192));
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_header_list_size(u32::try_from(limits.max_header_bytes).unwrap_or(u32::MAX));
    let graceful = GracefulShutdown::new();
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(err) => {
                    tracing::warn!("accept failed: {err}");
                    tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                    continue;
                }
            },
            () = shutdown.cancelled() => break,
        };
        let _ = stream.set_nodelay(true);
        let handler = handler.clone();
        let client = client_header(peer);
        let service = hyper::service::service_fn(move |req| {
            let response = handler(client.clone(), req);
            async move { Ok::<_, Infallible>(response.await) }
        });
        let connection = builder
            .serve_connection(TokioIo::new(stream), service)
            .into_owned();
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(err) = connection.await {
                tracing::debug!(%peer, "connection ended with an error: {err}");
            }
        });
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}

fn client_header(peer: SocketAddr) -> HeaderValue {
    HeaderValue::from_str(&peer.to_string()).expect("a socket address is a valid header value")
}

/// A plain-text response made by the host itself.
pub fn text(status: StatusCode, body: impl Into<Bytes>) -> Response<HyperOutgoingBody> {
    response(
        status,
        HeaderValue::from_static("text/plain; charset=utf-8"),
        body,
    )
}

/// A response made by the host itself, with its content type.
pub fn response(
    status: StatusCode,
    content_type: HeaderValue,
    body: impl Into<Bytes>,
) -> Response<HyperOutgoingBody> {
    let mut response = Response::new(
        Full::new(body.into())
            .map_err(|never| match never {})
            .boxed_unsync(),
    );
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(http::header::CONTENT_TYPE, content_type);
    response
}

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
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;

/// Binds `addr` for serving.
///
/// # Errors
/// The address is in use or not local, naming it.
pub async fn bind(addr: SocketAddr) -> Result<TcpListener> {
    TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr}"))
}

/// Accepts connections on `listener` until the task is dropped, serving each on its own task.
/// `handler` gets the client's address (as a header value, made once per connection) and the
/// request.
///
/// # Errors
/// None in practice: a failed accept (for example, out of file descriptors) is logged and
/// retried after 10 ms; per-connection errors are logged at debug level.
pub async fn accept_loop<H, F>(listener: TcpListener, handler: H) -> Result<()>
where
    H: Fn(HeaderValue, Request<Incoming>) -> F + Clone + Send + Sync + 'static,
    F: Future<Output = Response<HyperOutgoingBody>> + Send + 'static,
{
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(err) => {
                tracing::warn!("accept failed: {err}");
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let handler = handler.clone();
        tokio::spawn(async move {
            let client = client_header(peer);
            let service = hyper::service::service_fn(move |req| {
                let response = handler(client.clone(), req);
                async move { Ok::<_, Infallible>(response.await) }
            });
            if let Err(err) = auto::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(stream), service)
                .await
            {
                tracing::debug!(%peer, "connection ended with an error: {err}");
            }
        });
    }
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

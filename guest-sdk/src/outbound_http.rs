//! Outbound HTTP: send a request and read the response, over the standard
//! `wasi:http/outgoing-handler` (WASI 0.2, `wasi:http@0.2.12`).
//!
//! The host sends only to what the component's manifest allows
//! (`allowed_outbound_hosts = ["https://api.example.com"]`); anything else fails with
//! [`Error::Denied`] before any connection. `http://<component-id>.internal/...` calls another
//! component of the same app without a network hop, when the manifest allows that name.
//! Each incoming request may make a limited number of outbound requests (default 100);
//! past it, [`Error::LimitReached`].
//!
//! ```no_run
//! use wasmhost_sdk::outbound_http;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let request = wasmhost_sdk::http::Request::get("https://api.example.com/v1/weather").body(())?;
//! let response = outbound_http::send(request)?;
//! let status = response.status();
//! let body = response.into_body().into_bytes()?;      // streams; read it as you need
//! # let _ = (status, body);
//! # Ok(())
//! # }
//! ```
//!
//! Request bodies are written before the response is awaited; response bodies stream.

use std::fmt;
use std::future::poll_fn;
use std::task::Poll;

use crate::body::{IncomingBody, IntoBody};
use crate::executor::wait_for;
use crate::wit::wasi::http::outgoing_handler;
use crate::wit::wasi::http::types::{
    ErrorCode, FutureIncomingResponse, IncomingResponse, Method, OutgoingRequest, Scheme,
};

/// A response to an outbound request; its body streams as it is read.
pub type Response = http::Response<IncomingBody>;

/// Why an outbound request failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// The manifest's `allowed_outbound_hosts` does not allow the destination
    /// (`HTTP-request-denied`).
    Denied,
    /// No connection within the connect timeout (`connection-timeout`).
    ConnectTimeout,
    /// No response head within the first-byte timeout, or a pause in the body longer than the
    /// between-bytes timeout (`connection-read-timeout`, `HTTP-response-timeout`).
    ReadTimeout,
    /// The destination refused the connection (`connection-refused`).
    ConnectionRefused,
    /// This invocation has used its outbound requests (the host's message says how many).
    LimitReached(String),
    /// The request cannot be sent as built: a method, scheme, authority or header the host
    /// rejects.
    InvalidRequest(String),
    /// Any other `wasi:http` error code, in its debug form.
    Other(String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Denied => f.write_str("the destination is not in allowed_outbound_hosts"),
            Self::ConnectTimeout => f.write_str("connecting timed out"),
            Self::ReadTimeout => f.write_str("waiting for the response timed out"),
            Self::ConnectionRefused => f.write_str("the connection was refused"),
            Self::LimitReached(message) => f.write_str(message),
            Self::InvalidRequest(message) => write!(f, "invalid outbound request: {message}"),
            Self::Other(message) => write!(f, "outbound request failed: {message}"),
        }
    }
}

impl std::error::Error for Error {}

impl From<ErrorCode> for Error {
    fn from(code: ErrorCode) -> Self {
        match code {
            ErrorCode::HttpRequestDenied => Self::Denied,
            ErrorCode::ConnectionTimeout => Self::ConnectTimeout,
            ErrorCode::ConnectionReadTimeout | ErrorCode::HttpResponseTimeout => Self::ReadTimeout,
            ErrorCode::ConnectionRefused => Self::ConnectionRefused,
            ErrorCode::InternalError(Some(message)) if message.contains("limit reached") => {
                Self::LimitReached(message)
            }
            other => Self::Other(format!("{other:?}")),
        }
    }
}

/// Sends `request` and blocks until the response head arrives.
///
/// # Errors
/// See [`Error`].
pub fn send<B: IntoBody>(request: http::Request<B>) -> Result<Response, Error> {
    let pending = start(request)?;
    pending.subscribe().block();
    finish(pending.get())
}

/// Sends `request` at once, as `fetch` does, and gives a future of the response head that
/// waits without blocking the handler's other futures (run by
/// [`crate::executor::block_on`]).
///
/// The request is on its way when this returns, before the future is first polled: the host
/// carries it on while the guest does other work, key-value and queue calls included (they
/// are synchronous), so start the requests first and await them last.
///
/// # Errors
/// See [`Error`]; an invalid or denied request fails when the future is awaited.
pub fn send_async<B: IntoBody>(
    request: http::Request<B>,
) -> impl Future<Output = Result<Response, Error>> {
    let started = start(request);
    async move {
        let pending = started?;
        let ready = poll_fn(|_| match pending.get() {
            None => {
                wait_for(pending.subscribe());
                Poll::Pending
            }
            ready => Poll::Ready(ready),
        })
        .await;
        finish(ready)
    }
}

/// Builds the WASI request, hands it to the host, then writes its body.
fn start<B: IntoBody>(request: http::Request<B>) -> Result<FutureIncomingResponse, Error> {
    let (parts, body) = request.into_parts();
    let invalid = |what: String| Error::InvalidRequest(what);
    let headers = crate::serve::fields(&parts.headers)
        .map_err(|err| invalid(format!("header rejected: {err:?}")))?;
    let outgoing = OutgoingRequest::new(headers);
    outgoing
        .set_method(&method(&parts.method))
        .map_err(|()| invalid(format!("method `{}`", parts.method)))?;
    let scheme = match parts.uri.scheme_str() {
        Some("http") => Scheme::Http,
        Some("https") | None => Scheme::Https,
        Some(other) => Scheme::Other(other.to_owned()),
    };
    outgoing
        .set_scheme(Some(&scheme))
        .map_err(|()| invalid(format!("scheme of `{}`", parts.uri)))?;
    let authority = parts
        .uri
        .authority()
        .ok_or_else(|| invalid(format!("`{}` has no host", parts.uri)))?;
    outgoing
        .set_authority(Some(authority.as_str()))
        .map_err(|()| invalid(format!("authority `{authority}`")))?;
    let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    outgoing
        .set_path_with_query(Some(path))
        .map_err(|()| invalid(format!("path `{path}`")))?;
    let Ok(outgoing_body) = outgoing.body() else {
        unreachable!("a new outgoing-request's body is taken only once")
    };
    let pending = outgoing_handler::handle(outgoing, None)?;
    crate::serve::write_and_finish(outgoing_body, body.into_body());
    Ok(pending)
}

/// What `future-incoming-response.get` returns once ready.
type Ready = Option<Result<Result<IncomingResponse, ErrorCode>, ()>>;

/// Converts a ready `get` into the response or the error.
fn finish(ready: Ready) -> Result<Response, Error> {
    match ready {
        Some(Ok(Ok(response))) => from_wasi(response),
        Some(Ok(Err(code))) => Err(code.into()),
        Some(Err(())) => Err(Error::Other("the response was already taken".to_owned())),
        None => Err(Error::Other("the response is not ready".to_owned())),
    }
}

fn from_wasi(response: IncomingResponse) -> Result<Response, Error> {
    let mut builder = http::Response::builder().status(response.status());
    for (name, value) in response.headers().entries() {
        builder = builder.header(name, value);
    }
    let body = IncomingBody::new(response.consume().ok());
    builder
        .body(body)
        .map_err(|err| Error::Other(format!("the response is not valid HTTP: {err}")))
}

fn method(method: &http::Method) -> Method {
    match *method {
        http::Method::GET => Method::Get,
        http::Method::HEAD => Method::Head,
        http::Method::POST => Method::Post,
        http::Method::PUT => Method::Put,
        http::Method::DELETE => Method::Delete,
        http::Method::CONNECT => Method::Connect,
        http::Method::OPTIONS => Method::Options,
        http::Method::TRACE => Method::Trace,
        http::Method::PATCH => Method::Patch,
        ref other => Method::Other(other.as_str().to_owned()),
    }
}

//! The HTTP trigger: the per-request path.
//!
//! Layer 6. accept → [`Router::at`] → routing headers → the invocation recipe
//! ([`crate::trigger::invoke`]: store, instantiate from the `ProxyPre`, call
//! `wasi:http/incoming-handler.handle`) → stream the response body → drop the store. Request
//! and response bodies stream both ways. The guest runs on the request's own
//! task until it sets its response; a body it has already finished by then (up to 64 KiB) goes
//! out in one piece with a `content-length`, anything longer or slower streams.
//!
//! Outcomes: no route → 404; a request body past the limit → 413; a guest trap or a guest that
//! never sends a response → 500, logged with the component id and the trap, and the host goes
//! on serving; a guest out of CPU time or of wall-clock time ([`crate::limits`]) → 504 (a body
//! already under way is cut); a full instance pool, or a component with all of its
//! `max_concurrent_requests` in flight → 503 with `Retry-After: 1`. Each invocation is counted
//! by outcome in [`crate::metrics`] when its guest returns.
//!
//! Internal chaining (`http://<id>.internal/...` from a guest) comes back here through
//! [`InternalChain`], the handler this trigger gives the outbound HTTP capability.

use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};

use anyhow::Result;
use arc_swap::ArcSwap;
use bytes::Bytes;
use futures::FutureExt;
use http::{HeaderMap, HeaderName, HeaderValue, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;
use wasmtime_wasi_http::WasiHttpView;
use wasmtime_wasi_http::p2::bindings::http::types::ErrorCode;
use wasmtime_wasi_http::p2::bindings::http::types::Scheme;
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;

use crate::app::{ComponentId, HttpTarget, ManifestFormat};
use crate::app_version::{AppVersion, HttpRoute, LoadedComponent, SpinRoute};
use crate::capability::outbound_http::{ChainHandler, ChainTarget};
use crate::invocation::request_id::{self, RequestId};
use crate::invocation::{Deadline, Invocation, until};
use crate::metrics::Outcome;
use crate::server::OverTls;
use crate::trace::TraceContext;
use crate::trigger::invoke::{self, Failure, Trigger, Who};

mod access;
mod auth;
mod body;
mod cors;
mod fixed;
mod spin;

pub use body::LimitedBody;
use body::{GuestEnd, coalesce_ready_body, guard_body};
use fixed::{fixed_response, static_file};

pub use crate::route::headers;

/// A request body the HTTP trigger accepts: any stream of [`Bytes`] whose errors
/// wasmtime-wasi-http can report (hyper's `Incoming` when serving, a guest's outgoing body
/// when chaining, an in-memory body in benches).
pub trait RequestBody:
    http_body::Body<Data = Bytes, Error: Into<wasmtime_wasi_http::Error>> + Send + Unpin + 'static
{
}

impl<B> RequestBody for B where
    B: http_body::Body<Data = Bytes, Error: Into<wasmtime_wasi_http::Error>>
        + Send
        + Unpin
        + 'static
{
}

/// Serves the HTTP triggers of the app version in `current` on `listener`, HTTP/1.1 and
/// HTTP/2, until `shutdown`; then lets the requests in flight finish (see
/// [`crate::server::serve_current`]: each request keeps the version current when it arrives;
/// the header limits are those of the version current at the start). With `access_log`, each
/// request gets a line in the log ([`access`]).
///
/// # Errors
/// As [`crate::server::accept_loop`].
pub async fn serve(
    listener: crate::server::Listener,
    current: Arc<ArcSwap<AppVersion>>,
    shutdown: CancellationToken,
    access_log: bool,
) -> Result<()> {
    let limits = current.load().limits.clone();
    let connections = current.load().metrics.connections("http");
    crate::server::serve_current(
        listener,
        &limits,
        connections,
        current,
        shutdown,
        move |version, client, req| async move {
            if !access_log {
                return handle(&version, client, req).await;
            }
            let entry = access::Entry::start(req.method(), req.uri().path());
            let response = handle(&version, client, req).await;
            entry.finish(&response);
            response
        },
    )
    .await
}

/// Handles one request end to end. Never fails: every error becomes a response.
///
/// `client` is the value of the `wasmhost-client-addr` header. The request body `B` is any
/// byte stream: hyper's `Incoming` when serving, an in-memory body in benches.
pub async fn handle<B: RequestBody>(
    version: &AppVersion,
    client: HeaderValue,
    req: Request<B>,
) -> Response<HyperOutgoingBody> {
    let (mut parts, body) = req.into_parts();
    // Out of the request before anything else reads it: no guest, span or log line sees a key.
    let key = auth::take_key(&mut parts);
    let Some(matched) = version.router.at(parts.uri.path()) else {
        return no_route();
    };
    let route = matched.value;
    if route.private {
        // Reachable through internal chaining only: from outside, as if it did not exist.
        return no_route();
    }
    let cors = route
        .cors
        .as_deref()
        .and_then(|cors| Some((cors, parts.headers.get(http::header::ORIGIN)?.clone())));
    if let Some((policy, _)) = &cors
        && cors::is_preflight(&parts.method, &parts.headers)
    {
        return cors::preflight(policy, &parts.headers);
    }
    let mut response = 'respond: {
        let target_id = match &route.target {
            HttpTarget::Component(index) => version.components[*index].id.as_str(),
            _ => "",
        };
        let keys = version.keys.as_deref();
        let caller = match auth::authorize(keys, key.as_deref(), route.auth, target_id, &client) {
            Ok(caller) => caller,
            Err(refusal) => break 'respond auth::refused(refusal),
        };
        let component_index = match &route.target {
            HttpTarget::Component(index) => *index,
            // A redirect, a static response or a file: no guest runs.
            HttpTarget::Fixed(fixed) => break 'respond fixed_response(fixed),
            HttpTarget::Files(files) => {
                let tail = matched.path_info().unwrap_or_default().to_owned();
                drop(matched);
                break 'respond static_file(files, tail, parts).await;
            }
        };
        remove_forged_headers(&mut parts.headers, version.app.format);
        if let Some(caller) = caller {
            parts.headers.insert(auth::KEY_ID_HEADER, caller.id);
            parts.headers.insert(auth::KEY_NAME_HEADER, caller.name);
        }
        let tls = parts.extensions.get::<OverTls>().is_some();
        let routed =
            set_route_headers(&mut parts.headers, &parts.uri, tls, &matched, Some(&client));
        if let Err(InvalidPath) = routed {
            break 'respond InvalidPath::response();
        }
        parts.headers.insert(headers::CLIENT_ADDR, client);
        let component = &version.components[component_index];
        drop(matched);
        serve_component(version, component, route, parts, body).await
    };
    if let Some((policy, origin)) = &cors {
        cors::decorate(policy, origin, response.headers_mut());
    }
    response
}

/// The 404 of a path no public route matches.
fn no_route() -> Response<HyperOutgoingBody> {
    text(StatusCode::NOT_FOUND, "no route matches this path\n")
}

/// Serves a request (its routing headers set) with `component`, the target of `route`: the
/// body limit, the request id, the trace context, then the invocation.
async fn serve_component<B: RequestBody>(
    version: &AppVersion,
    component: &LoadedComponent,
    route: &HttpRoute,
    parts: http::request::Parts,
    body: B,
) -> Response<HyperOutgoingBody> {
    let mut parts = parts;
    let max_body = component.limits.max_body_bytes;
    let declared = parts
        .headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    // A 413, counted.
    let too_large = || {
        if let Some(export) = &component.http {
            export.metrics.body_too_large();
        }
        body_too_large(max_body)
    };
    if declared.is_some_and(|length| length > max_body) {
        return too_large();
    }
    let request_id = RequestId::from_client(&parts.headers);
    parts
        .headers
        .insert(request_id::HEADER, request_id.header().clone());
    let (span, trace) = TraceContext::start(Some(&parts.headers), || {
        invocation_span(&parts, &component.id, &route.route_header)
    });
    let invocation = component.invocation(request_id.clone(), trace);
    let (body, exceeded) = LimitedBody::new(body, max_body);
    let mut response = invoke(
        version,
        component,
        Request::from_parts(parts, body),
        invocation,
        span,
    )
    .await;
    if exceeded.load(Ordering::Relaxed) {
        // The guest read past the limit (a body without a truthful `content-length`).
        response = too_large();
    }
    response
        .headers_mut()
        .insert(request_id::HEADER, request_id.header().clone());
    response
        .extensions_mut()
        .insert(access::Served(component.id.clone()));
    response
}

/// Handles a request that a component sent to `http://<id>.internal/...` (internal chaining),
/// for component `target` (an index into [`AppVersion::components`]), with no network hop. The
/// callee runs in the caller's `invocation`: the same request id (set as its `x-request-id`),
/// and the same outbound budget, so a chain (or a loop) cannot exceed the first caller's cap;
/// its trace context is a child of the one in the request's `traceparent` (the caller's).
///
/// If the path matches one of the target's routes, the routing headers are set as for a
/// request from outside; otherwise the target is called without them (a component with no
/// route of its own can still be called internally). `wasmhost-client-addr` is absent.
pub async fn handle_chained<B: RequestBody>(
    version: &AppVersion,
    target: ChainTarget,
    req: Request<B>,
    invocation: Invocation,
) -> Response<HyperOutgoingBody> {
    let (mut parts, body) = req.into_parts();
    remove_forged_headers(&mut parts.headers, version.app.format);
    parts
        .headers
        .insert(request_id::HEADER, invocation.request_id.header().clone());
    let matched = version.router.at(parts.uri.path());
    let target = match (target, &matched) {
        (ChainTarget::Component(index), _) => index,
        (ChainTarget::App, None) => return no_route(),
        (ChainTarget::App, Some(matched)) => match &matched.value.target {
            HttpTarget::Component(index) => *index,
            HttpTarget::Fixed(fixed) => return fixed_response(fixed),
            HttpTarget::Files(files) => {
                let tail = matched.path_info().unwrap_or_default().to_owned();
                return static_file(files, tail, parts).await;
            }
        },
    };
    let mut route = HeaderValue::from_static("");
    match matched {
        Some(matched) if matched.value.target.component() == Some(target) => {
            let routed = set_route_headers(&mut parts.headers, &parts.uri, false, &matched, None);
            if let Err(InvalidPath) = routed {
                return InvalidPath::response();
            }
            route = matched.value.route_header.clone();
        }
        _ if version.app.format == ManifestFormat::Spin => {
            // As Spin's service chaining: the component's route is taken to be `/...`.
            let matched = spin::Matched {
                uri: &parts.uri,
                tls: false,
                path_info: Some(parts.uri.path()),
                params: std::iter::empty(),
                client: None,
            };
            if let Err(InvalidPath) =
                spin::set_headers(&mut parts.headers, &SpinRoute::synthetic(), matched)
            {
                return InvalidPath::response();
            }
        }
        _ => {}
    }
    let component = &version.components[target];
    let (span, trace) = TraceContext::start(Some(&parts.headers), || {
        invocation_span(&parts, &component.id, &route)
    });
    let invocation = Invocation {
        trace,
        ..invocation
    };
    invoke(
        version,
        component,
        Request::from_parts(parts, body),
        invocation,
        span,
    )
    .await
}

/// The span of one HTTP invocation, made only when spans are exported: named
/// `<method> <route>` and with the attributes of OpenTelemetry's HTTP server conventions, plus
/// the component, trigger and request id.
fn invocation_span(
    parts: &http::request::Parts,
    component: &ComponentId,
    route: &HeaderValue,
) -> tracing::Span {
    let route = route.to_str().unwrap_or_default();
    tracing::info_span!(
        target: crate::trace::SPAN_TARGET,
        "invocation",
        otel.name = %format_args!("{} {route}", parts.method),
        otel.kind = "server",
        otel.status_code = tracing::field::Empty,
        http.request.method = %parts.method,
        http.route = route,
        url.path = parts.uri.path(),
        http.response.status_code = tracing::field::Empty,
        wasmhost.app = tracing::field::Empty,
        wasmhost.component = %component,
        wasmhost.trigger = "http",
        wasmhost.request_id = parts
            .headers
            .get(request_id::HEADER)
            .and_then(|id| id.to_str().ok())
            .unwrap_or_default(),
        wasmhost.outcome = tracing::field::Empty,
    )
}

/// A path character that cannot be a header value; answered 400.
struct InvalidPath;

impl InvalidPath {
    fn response() -> Response<HyperOutgoingBody> {
        text(StatusCode::BAD_REQUEST, "invalid characters in the path\n")
    }
}

/// Sets `wasmhost-route`, the `wasmhost-param-*` headers and `wasmhost-path-info` for a matched
/// route, and for a Spin app, Spin's headers ([`spin`]): those need the request's `uri`,
/// whether it came over `tls`, and the `client` address (none for an internal request).
fn set_route_headers(
    headers: &mut HeaderMap,
    uri: &http::Uri,
    tls: bool,
    matched: &crate::route::RouteMatch<'_, '_, HttpRoute>,
    client: Option<&HeaderValue>,
) -> Result<(), InvalidPath> {
    let bad = |_| InvalidPath;
    let target = matched.value;
    if let Some(spin_route) = &target.spin {
        let spin_matched = spin::Matched {
            uri,
            tls,
            path_info: matched.path_info(),
            params: matched.param_values(),
            client,
        };
        spin::set_headers(headers, spin_route, spin_matched)?;
    }
    headers.insert(headers::ROUTE, target.route_header.clone());
    for (name, value) in target.param_headers.iter().zip(matched.param_values()) {
        // Path characters are all valid in a header value; a bad one is a bad request.
        headers.insert(name.clone(), HeaderValue::from_str(value).map_err(bad)?);
    }
    if let Some(path_info) = matched.path_info() {
        headers.insert(
            headers::PATH_INFO,
            HeaderValue::from_str(path_info).map_err(bad)?,
        );
    }
    Ok(())
}

/// Instantiates `component`, calls its `wasi:http/incoming-handler.handle` with `req`, and
/// returns its response (the body may go on streaming from the guest's own task), through the
/// invocation recipe ([`invoke::start`]). The invocation is counted when the guest returns,
/// with its duration, body streaming included.
async fn invoke<B: RequestBody>(
    version: &AppVersion,
    component: &LoadedComponent,
    req: Request<B>,
    invocation: Invocation,
    span: tracing::Span,
) -> Response<HyperOutgoingBody> {
    let Some(export) = &component.http else {
        // Only internal chaining gets here: routes lead to HTTP components only.
        return text(
            StatusCode::NOT_FOUND,
            "the component does not handle HTTP requests\n",
        );
    };
    let Ok(permit) = component.limits.requests.clone().try_acquire_owned() else {
        export
            .metrics
            .invoked(Outcome::Rejected, std::time::Duration::ZERO);
        tracing::warn!(
            app = %version.app_name,
            trigger = "http",
            component = %component.id,
            request_id = %invocation.request_id,
            "request rejected with 503: the component's max_concurrent_requests are in flight"
        );
        return rejected();
    };
    let mut started = invoke::start(version, component, export, invocation, span, Http);
    started.end.hold(permit);
    let (sender, receiver) = oneshot::channel();
    let store = &mut started.store;
    // The scheme the client used, as the listener knows it (not as the client claims it).
    let scheme = if req.extensions().get::<OverTls>().is_some() {
        Scheme::Https
    } else {
        Scheme::Http
    };
    let prepared = store
        .data_mut()
        .http()
        .new_incoming_request(scheme, req)
        .and_then(|request| {
            Ok((
                request,
                store.data_mut().http().new_response_outparam(sender)?,
            ))
        });
    let (request, response_out) = match prepared {
        Ok(prepared) => prepared,
        // The only input wasmtime-wasi-http refuses here is a request without an authority.
        Err(_) => return text(StatusCode::BAD_REQUEST, "the request has no Host header\n"),
    };
    let deadline = started.deadline;
    let (guest, end) = started.call(move |proxy, mut store| async move {
        proxy
            .wasi_http_incoming_handler()
            .call_handle(&mut store, request, response_out)
            .await
    });

    let Ok(ran) = tokio::time::timeout_at(deadline.at, run_until_response(guest, receiver)).await
    else {
        // The guest (and its store) is dropped: the instance stops where it was.
        end.finish::<()>(&Err(Failure::Trapped(deadline.passed())));
        return timed_out();
    };
    match ran {
        (Ok(Ok(response)), GuestRun::Done(result)) => {
            end.span
                .record("http.response.status_code", response.status().as_u16());
            let result = result.map_err(Failure::Trapped);
            if result.is_err() {
                // It failed after setting its response, before any of it was sent: the client
                // gets the failure, not a body cut short.
                return failed(end.finish(&result));
            }
            end.finish(&result);
            coalesce_ready_body(response)
        }
        (Ok(Ok(response)), GuestRun::Streaming(guest)) => {
            end.span
                .record("http.response.status_code", response.status().as_u16());
            // The guest goes on streaming the body after the head: it finishes on its own
            // task, or is dropped at the deadline; either way the body says how it ended.
            let (ended, end_receiver) = oneshot::channel();
            version.tasks.spawn(async move {
                let result = until(deadline, guest).await.map_err(Failure::Trapped);
                let ok = result.is_ok();
                end.finish(&result);
                let _ = ended.send(ok);
            });
            coalesce_ready_body(guard_body(response, GuestEnd::Pending(end_receiver)))
        }
        (Ok(Err(code)), run) => {
            let answered = format!("guest answered with error code {code:?}");
            end_answered(version, run, deadline, end, answered);
            text(StatusCode::INTERNAL_SERVER_ERROR, "the component failed\n")
        }
        // The sender was dropped before a response was set: the guest returned, trapped or
        // could not be instantiated (its store, and so the sender, is gone), or it dropped its
        // `response-outparam` and runs on. The client gets its answer now; a guest still
        // running goes on to its deadline on a task of its own and is counted when it ends.
        (Err(_), run) => {
            let answered = match run {
                GuestRun::Done(_) => "guest returned without a response",
                GuestRun::Streaming(_) => "guest dropped its response-outparam without a response",
            };
            let outcome = end_answered(version, run, deadline, end, answered.to_owned());
            failed(outcome.unwrap_or(Outcome::Error))
        }
    }
}

/// Ends an invocation whose guest answered wrongly (`answered` says how; its trap instead, if
/// it trapped): at once if the guest is done, returning the outcome; else when the guest ends,
/// by `deadline`, on a task of `version`'s own (`None`).
fn end_answered(
    version: &AppVersion,
    run: GuestRun,
    deadline: Deadline,
    end: invoke::End<Http>,
    answered: String,
) -> Option<Outcome> {
    let failure = move |result: wasmtime::Result<()>| match result {
        Ok(()) => Failure::Answered(answered),
        Err(trap) => Failure::Trapped(trap),
    };
    match run {
        GuestRun::Done(result) => Some(end.finish::<()>(&Err(failure(result)))),
        GuestRun::Streaming(guest) => {
            version.tasks.spawn(async move {
                let result = until(deadline, guest).await;
                end.finish::<()>(&Err(failure(result)));
            });
            None
        }
    }
}

/// The HTTP trigger in the invocation recipe.
struct Http;

impl Trigger for Http {
    const NAME: &'static str = "http";

    fn log_failure(&self, who: &Who, outcome: Outcome, failure: &Failure) {
        match (failure, outcome) {
            (Failure::Trapped(_), Outcome::Rejected) => tracing::warn!(
                app = %who.app,
                trigger = Self::NAME,
                component = %who.component,
                request_id = %who.request_id,
                "request rejected with 503: the instance pool is full"
            ),
            (Failure::Trapped(_), _) => tracing::error!(
                app = %who.app,
                trigger = Self::NAME,
                component = %who.component,
                request_id = %who.request_id,
                outcome = outcome.as_str(),
                "guest trapped: {}",
                failure.detail()
            ),
            (Failure::Answered(_), _) => tracing::error!(
                app = %who.app,
                trigger = Self::NAME,
                component = %who.component,
                request_id = %who.request_id,
                "{}",
                failure.detail()
            ),
        }
    }
}

/// The answer to a failed invocation: 503 for a full pool, 504 past a deadline, else 500.
fn failed(outcome: Outcome) -> Response<HyperOutgoingBody> {
    match outcome {
        Outcome::Rejected => rejected(),
        Outcome::Timeout => timed_out(),
        _ => text(StatusCode::INTERNAL_SERVER_ERROR, "the component failed\n"),
    }
}

/// The internal-chaining handler of one app version: serves the requests its instances send
/// to `http://<id>.internal/...` with [`handle_chained`], on the same version. The outbound
/// HTTP capability holds it ([`ChainHandler`]) without knowing this trigger.
pub struct InternalChain(Weak<AppVersion>);

impl InternalChain {
    /// The handler of `version`, as [`crate::app_version::Shared::chain`] makes it.
    pub fn handler(version: Weak<AppVersion>) -> Arc<dyn ChainHandler> {
        Arc::new(Self(version))
    }
}

impl ChainHandler for InternalChain {
    fn handle(
        &self,
        target: ChainTarget,
        request: Request<wasmtime_wasi_http::WasiBody>,
        invocation: Invocation,
    ) -> Pin<
        Box<
            dyn Future<
                    Output = Result<
                        Response<wasmtime_wasi_http::WasiBody>,
                        wasmtime_wasi_http::Error,
                    >,
                > + Send,
        >,
    > {
        let version = self.0.upgrade();
        Box::pin(async move {
            match version {
                Some(version) => Ok(handle_chained(&version, target, request, invocation).await),
                None => Err(wasmtime_wasi_http::Error::DestinationUnavailable),
            }
        })
    }
}

/// The HTTP guest: instantiate, call `handle`; resolves when the guest returns.
type Guest = invoke::Guest<()>;

/// Where a guest is once its response is set.
enum GuestRun {
    /// It returned, with this result.
    Done(wasmtime::Result<()>),
    /// It is still writing its body.
    Streaming(Guest),
}

/// Runs `guest` on the calling task until it sets its response (`receiver` resolves), then
/// gives it one more poll. Returns the response, and the guest's result or the guest itself if
/// it has not finished (it is still writing its body).
///
/// Running the guest here rather than on a task of its own saves a task spawn and a cross-task
/// wake-up per request, and in the common case (a guest that writes its whole body and
/// returns) the body is complete when the response is returned.
async fn run_until_response(
    mut guest: Guest,
    mut receiver: oneshot::Receiver<GuestResponse>,
) -> (Result<GuestResponse, oneshot::error::RecvError>, GuestRun) {
    let mut done = None;
    let response = std::future::poll_fn(|cx| {
        if done.is_none()
            && let std::task::Poll::Ready(result) = guest.as_mut().poll(cx)
        {
            done = Some(result);
        }
        // Once the guest is done its store, and so the sender, is gone: this is ready.
        Pin::new(&mut receiver).poll(cx)
    })
    .await;
    if done.is_none() {
        done = guest.as_mut().now_or_never();
    }
    let run = match done {
        Some(result) => GuestRun::Done(result),
        None => GuestRun::Streaming(guest),
    };
    (response, run)
}

/// What a guest sends through `response-outparam.set`.
type GuestResponse = Result<Response<HyperOutgoingBody>, ErrorCode>;

/// Removes every header named `wasmhost-*`, and for a Spin app every `spin-*`: only the host
/// sets those.
fn remove_forged_headers(headers: &mut HeaderMap, format: ManifestFormat) {
    let spin = format == ManifestFormat::Spin;
    let forged: Vec<HeaderName> = headers
        .keys()
        .filter(|name| {
            name.as_str().starts_with(headers::PREFIX)
                || (spin && name.as_str().starts_with(headers::SPIN_PREFIX))
        })
        .cloned()
        .collect();
    for name in forged {
        headers.remove(name);
    }
}

/// 504: the guest ran out of CPU time or of wall-clock time.
fn timed_out() -> Response<HyperOutgoingBody> {
    text(
        StatusCode::GATEWAY_TIMEOUT,
        "the component did not answer in time\n",
    )
}

/// 413: the request body is larger than the limit.
fn body_too_large(limit: u64) -> Response<HyperOutgoingBody> {
    text(
        StatusCode::PAYLOAD_TOO_LARGE,
        format!("the request body is larger than {limit} bytes\n"),
    )
}

/// 503 with `Retry-After: 1`: the instance pool is full, or the component has as many
/// requests in flight as it may.
fn rejected() -> Response<HyperOutgoingBody> {
    let mut response = text(
        StatusCode::SERVICE_UNAVAILABLE,
        "too many requests in flight; retry shortly\n",
    );
    response
        .headers_mut()
        .insert(http::header::RETRY_AFTER, HeaderValue::from_static("1"));
    response
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

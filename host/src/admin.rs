//! Layer 6, beside the triggers: the admin endpoints, on their own listener (`--admin-listen`), never on the public one:
//!
//! - `GET /.well-known/wasmhost/health`: 200 `ok` while the process serves (liveness);
//! - `GET /.well-known/wasmhost/ready`: 200 `ready` when every component is pre-instantiated
//!   (the admin listener only starts after that) and every key-value and queue backend answers
//!   a ping within [`READY_PING_TIMEOUT`]; otherwise 503, naming each one that does not; either
//!   way followed by a `warning:` line per queue whose Redis keeps no append-only file;
//! - `GET /metrics`: every metric of [`crate::metrics`], in the Prometheus text format
//!   (OpenMetrics 1.0);
//! - `POST /.well-known/wasmhost/topics/<topic>`: publishes the CloudEvent in the request
//!   (CloudEvents 1.0 HTTP binding, binary or structured mode, at most [`MAX_EVENT_BYTES`]) to
//!   a topic of the app, as a guest's `publish` does (default `source`: `/<app>/ingress`):
//!   202 with the event's id once every subscription holds it; 400 for what is not a
//!   CloudEvent, 404 for a topic the app does not name, 413 for a body too large, 503 if a
//!   backend failed.
//! - `GET /.well-known/wasmhost/queues/<queue>/messages?max=N`: the waiting messages of a
//!   queue, oldest first, left in place (default and most: [`MAX_LISTED`]), as a JSON array of
//!   [`crate::operate::MessageView`];
//! - `POST /.well-known/wasmhost/queues/<queue>/messages?delay_ms=MS&attribute=NAME=VALUE`:
//!   sends the request body (at most [`MAX_EVENT_BYTES`]; its `Content-Type` goes with it) as
//!   one message; 202 with `{"id": "<id>"}` once it is durable;
//! - `GET /.well-known/wasmhost/queues/<queue>/dead-letters?max=N`: the same for the
//!   dead-letter queue of the queue's trigger;
//! - `POST /.well-known/wasmhost/queues/<queue>/redrive?max=N`: moves the dead letters back
//!   (default and most: [`MAX_REDRIVEN`]; run it again for more); 200 with
//!   [`crate::operate::Redriven`] as JSON; a body over [`MAX_EVENT_BYTES`] is 413;
//! - `POST /.well-known/wasmhost/cron/<trigger>/run`: runs a cron trigger once, now (the
//!   trigger named by [`crate::operate::cron_trigger_name`], percent-encoded); 200 once the
//!   run returned `ok`, 500 with the failure otherwise;
//! - the workflow management API under [`WORKFLOWS_PATH`] ([`workflows`], in the shape of
//!   Durable Functions' HTTP API): `POST <workflow>?instanceId=ID` starts an instance (202
//!   with `Location` and the instance's URLs; 404 for an unknown workflow, 409 for an id in
//!   use), `GET instances/<id>[?showHistory=true]` is its status (202 while it runs, 200 once
//!   it has ended), `POST instances/<id>/raiseEvent/<event>` and `POST
//!   instances/<id>/terminate?reason=TEXT` (202), `DELETE instances/<id>` purges it (200; 409
//!   while it runs), and `GET instances?runtimeStatus=..&createdTimeFrom=..&top=N` lists them
//!   a page at a time (the next page's token in `x-ms-continuation-token`). Bodies (an input,
//!   an event's payload) are at most [`MAX_EVENT_BYTES`]; an empty one is JSON `null`.
//!
//! The queue and cron endpoints answer 404 for a queue or trigger the app does not name (the
//! text lists those it does), 400 for a bad query, 503 if a backend failed; errors are
//! `text/plain`.
//!
//! Health, readiness and metrics are open to whoever reaches the (private) admin address. The
//! write endpoints (the topic ingress, the queue and cron endpoints (a queue's messages are
//! data), and every endpoint of the workflow management API) need
//! `Authorization: Bearer <token>`, the token of `--admin-token-file` or
//! `WASMHOST_ADMIN_TOKEN` ([`AdminToken`]), compared in constant time: 401 without it or with
//! another, 403 when the node has no token (write endpoints off).
//!
//! None of them touches a guest.

pub mod workflows;

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use arc_swap::ArcSwap;
use cloudevents::AttributesReader;
use http::{HeaderValue, Response, StatusCode};
use http_body_util::{BodyExt, LengthLimitError, Limited};
use tokio_util::sync::CancellationToken;
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;

use crate::app_version::AppVersion;
use crate::capability::queue::{MAX_MESSAGE_BYTES, message_bytes, topic};
use crate::operate;
use crate::server::{Listener, serve_current};
use crate::trigger::http::{response, text};

/// Path of the liveness endpoint.
pub const HEALTH_PATH: &str = "/.well-known/wasmhost/health";
/// Path of the readiness endpoint.
pub const READY_PATH: &str = "/.well-known/wasmhost/ready";
/// Path of the metrics endpoint.
pub const METRICS_PATH: &str = "/metrics";
/// How long readiness waits for each backend's ping: 2 s.
pub const READY_PING_TIMEOUT: Duration = Duration::from_secs(2);
/// The prefix of the topic ingress paths; the topic's name follows it.
pub const TOPICS_PATH: &str = "/.well-known/wasmhost/topics/";
/// The largest request body the topic ingress reads, in bytes: 1 MiB of data plus room for a
/// structured-mode envelope (and base64): 2 MiB.
pub const MAX_EVENT_BYTES: usize = 2 << 20;

/// The prefix of the queue endpoints: `<queue>/messages`, `<queue>/dead-letters` and
/// `<queue>/redrive` follow it.
pub const QUEUES_PATH: &str = "/.well-known/wasmhost/queues/";
/// The prefix of the cron endpoint: `<trigger>/run` follows it.
pub const CRON_PATH: &str = "/.well-known/wasmhost/cron/";
/// The prefix of the workflow management API: `<workflow>` and `instances/...` follow it
/// ([`workflows`]).
pub const WORKFLOWS_PATH: &str = "/.well-known/wasmhost/workflows/";
/// The most messages one peek or dead-letters answer lists, and its default: 1000.
pub const MAX_LISTED: usize = 1000;
/// The most messages one redrive through the admin listener moves, and its default: 10 000.
pub const MAX_REDRIVEN: usize = 10_000;

/// The bearer token the admin write endpoints require. `Debug` never shows it.
#[derive(Clone)]
pub struct AdminToken(Vec<u8>);

impl std::fmt::Debug for AdminToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AdminToken(***)")
    }
}

/// The environment variable that holds the admin token when no file is given.
pub const ADMIN_TOKEN_ENV: &str = "WASMHOST_ADMIN_TOKEN";

impl AdminToken {
    /// The token in `file` (surrounding whitespace trimmed), else in `WASMHOST_ADMIN_TOKEN`,
    /// else none (the write endpoints are off).
    ///
    /// # Errors
    /// `file` cannot be read, or the token is empty or not visible ASCII; the error names the
    /// file or the variable, never the token.
    pub fn resolve(file: Option<&std::path::Path>) -> Result<Option<Self>> {
        let (token, from) = match file {
            Some(file) => (
                std::fs::read_to_string(file).with_context(|| {
                    format!("--admin-token-file: cannot read `{}`", file.display())
                })?,
                format!("--admin-token-file `{}`", file.display()),
            ),
            None => match std::env::var(ADMIN_TOKEN_ENV) {
                Ok(token) => (token, ADMIN_TOKEN_ENV.to_owned()),
                Err(_) => return Ok(None),
            },
        };
        let token = token.trim();
        if token.is_empty() || !token.bytes().all(|b| b.is_ascii_graphic()) {
            anyhow::bail!("{from}: the admin token must be visible ASCII characters, at least one");
        }
        Ok(Some(Self(token.as_bytes().to_vec())))
    }

    /// `Bearer <token>`, for the `Authorization` header of a request to the admin listener;
    /// marked sensitive (never logged by hyper or shown by `Debug`).
    pub fn authorization(&self) -> HeaderValue {
        let mut value = HeaderValue::from_bytes(&[b"Bearer ", &self.0[..]].concat())
            .expect("the token is visible ASCII");
        value.set_sensitive(true);
        value
    }

    /// Whether `authorization` is `Bearer <this token>`, compared in constant time.
    fn allows(&self, authorization: Option<&HeaderValue>) -> bool {
        use subtle::ConstantTimeEq;
        let Some(given) = authorization.and_then(|value| value.as_bytes().strip_prefix(b"Bearer "))
        else {
            return false;
        };
        bool::from(given.ct_eq(&self.0))
    }
}

/// Whether a write endpoint may go on for `req`: `None` if so, else the 401 or 403 answer.
fn refused_write<B>(
    token: Option<&AdminToken>,
    req: &http::Request<B>,
) -> Option<Response<HyperOutgoingBody>> {
    let Some(token) = token else {
        return Some(text(
            StatusCode::FORBIDDEN,
            "the admin write endpoints are off: start wasmhost with --admin-token-file\n",
        ));
    };
    if token.allows(req.headers().get(http::header::AUTHORIZATION)) {
        return None;
    }
    let mut refused = text(
        StatusCode::UNAUTHORIZED,
        "this admin endpoint needs `Authorization: Bearer <token>`\n",
    );
    refused.headers_mut().insert(
        http::header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Bearer"),
    );
    Some(refused)
}

/// Serves the admin endpoints of the app version in `current` on `listener` until `shutdown`;
/// the write endpoints need `token`.
///
/// # Errors
/// As [`crate::server::accept_loop`].
pub async fn serve(
    listener: Listener,
    current: Arc<ArcSwap<AppVersion>>,
    token: Option<AdminToken>,
    shutdown: CancellationToken,
) -> Result<()> {
    let limits = current.load().limits.clone();
    let connections = current.load().metrics.connections("admin");
    let scheme = listener.scheme();
    serve_current(
        listener,
        &limits,
        connections,
        current,
        shutdown,
        move |version, _client, req| {
            let token = token.clone();
            async move {
                match req.uri().path() {
                    HEALTH_PATH => text(StatusCode::OK, "ok\n"),
                    READY_PATH => {
                        let (problems, warnings) = futures::future::join(
                            unready_backends(&version),
                            durability_warnings(&version),
                        )
                        .await;
                        let warnings = warnings.concat();
                        if problems.is_empty() {
                            text(StatusCode::OK, format!("ready\n{warnings}"))
                        } else {
                            text(
                                StatusCode::SERVICE_UNAVAILABLE,
                                format!("not ready:\n{}{warnings}", problems.concat()),
                            )
                        }
                    }
                    METRICS_PATH => {
                        let workflow_queues = version.workflows.iter().flat_map(|workflows| {
                            [workflows.store.turns(), workflows.store.activities()]
                        });
                        for queue in version.queues.all().chain(workflow_queues) {
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
                            version.metrics.encode(version.live_instances()),
                        )
                    }
                    path if path.starts_with(TOPICS_PATH) && req.method() == http::Method::POST => {
                        if let Some(refused) = refused_write(token.as_ref(), &req) {
                            return refused;
                        }
                        let topic = path[TOPICS_PATH.len()..].to_owned();
                        publish(&version, &topic, req).await
                    }
                    path if path.starts_with(QUEUES_PATH) || path.starts_with(CRON_PATH) => {
                        if let Some(refused) = refused_write(token.as_ref(), &req) {
                            return refused;
                        }
                        operate(&version, req).await
                    }
                    path if path.starts_with(WORKFLOWS_PATH) => {
                        if let Some(refused) = refused_write(token.as_ref(), &req) {
                            return refused;
                        }
                        workflows::answer(&version, scheme, req).await
                    }
                    _ => text(StatusCode::NOT_FOUND, "unknown admin endpoint\n"),
                }
            }
        },
    )
    .await
}

/// The queue and cron endpoints: `req`'s path and method say which.
async fn operate(
    version: &Arc<AppVersion>,
    req: http::Request<hyper::body::Incoming>,
) -> Response<HyperOutgoingBody> {
    let path = req.uri().path().to_owned();
    let (prefix, rest) = if let Some(rest) = path.strip_prefix(QUEUES_PATH) {
        (QUEUES_PATH, rest)
    } else {
        (CRON_PATH, &path[CRON_PATH.len()..])
    };
    let Some((name, action)) = rest.rsplit_once('/') else {
        return text(StatusCode::NOT_FOUND, "unknown admin endpoint\n");
    };
    let name = percent_encoding::percent_decode_str(name)
        .decode_utf8_lossy()
        .into_owned();
    let query = Query::parse(req.uri().query());
    let asked = query.max;
    let max = |default: usize, cap: usize| match asked {
        Some(Ok(max)) => Ok(max.min(cap)),
        Some(Err(())) => Err(operate::OperateError::BadRequest(
            "`max` must be a whole number".to_owned(),
        )),
        None => Ok(default),
    };
    let (queues, app) = (&version.queues, &version.app);
    let method = req.method().clone();
    let result = async {
        match (prefix, action, method) {
            (QUEUES_PATH, "messages", http::Method::GET) => {
                let max = max(MAX_LISTED, MAX_LISTED)?;
                operate::peek(queues, &name, max).await.map(json)
            }
            (QUEUES_PATH, "dead-letters", http::Method::GET) => {
                let max = max(MAX_LISTED, MAX_LISTED)?;
                operate::dead_letters(app, queues, &name, max)
                    .await
                    .map(json)
            }
            (QUEUES_PATH, "redrive", http::Method::POST) => {
                // Capped: a message that fails again comes back to the dead-letter queue, and
                // one request must not cycle it for ever.
                let max = max(MAX_REDRIVEN, MAX_REDRIVEN)?;
                operate::redrive(app, queues, &name, max).await.map(json)
            }
            (QUEUES_PATH, "messages", http::Method::POST) => send(version, &name, query, req).await,
            (CRON_PATH, "run", http::Method::POST) => operate::run_cron(version, &name)
                .await
                .map(|()| text(StatusCode::OK, format!("cron trigger `{name}` ran\n"))),
            _ => Err(operate::OperateError::NotFound(
                "unknown admin endpoint".to_owned(),
            )),
        }
    }
    .await;
    result.unwrap_or_else(|err| {
        let status = match err {
            operate::OperateError::NotFound(_) => StatusCode::NOT_FOUND,
            operate::OperateError::BadRequest(_) => StatusCode::BAD_REQUEST,
            operate::OperateError::Backend(_) => StatusCode::SERVICE_UNAVAILABLE,
            operate::OperateError::Failed(_) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        text(status, format!("{err}\n"))
    })
}

/// The query parameters of the queue endpoints: `max`, `delay_ms`, and each `attribute`.
#[derive(Default)]
struct Query {
    max: Option<Result<usize, ()>>,
    delay_ms: Option<Result<u64, ()>>,
    attributes: Vec<String>,
}

impl Query {
    /// Reads `query` (`application/x-www-form-urlencoded`); unknown parameters are ignored.
    fn parse(query: Option<&str>) -> Self {
        let mut parsed = Self::default();
        for (name, value) in url::form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
            match &*name {
                "max" => parsed.max = Some(value.parse().map_err(drop)),
                "delay_ms" => parsed.delay_ms = Some(value.parse().map_err(drop)),
                "attribute" => parsed.attributes.push(value.into_owned()),
                _ => {}
            }
        }
        parsed
    }
}

/// `value` as a 200 JSON answer.
fn json(value: impl serde::Serialize) -> Response<HyperOutgoingBody> {
    let body = serde_json::to_string(&value).expect("plain data serializes");
    response(
        StatusCode::OK,
        HeaderValue::from_static("application/json"),
        body,
    )
}

/// `body`, read whole: at most [`MAX_EVENT_BYTES`], else the 413 answer (or 400 if it
/// breaks off).
async fn read_body(body: hyper::body::Incoming) -> Result<Vec<u8>, Response<HyperOutgoingBody>> {
    match Limited::new(body, MAX_EVENT_BYTES).collect().await {
        Ok(body) => Ok(body.to_bytes().to_vec()),
        Err(err) if err.is::<LengthLimitError>() => Err(text(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("the body is larger than {MAX_EVENT_BYTES} bytes\n"),
        )),
        Err(err) => Err(text(
            StatusCode::BAD_REQUEST,
            format!("cannot read the body: {err}\n"),
        )),
    }
}

/// Sends the body of `req` to queue `queue` (the queue's `messages` endpoint, `POST`).
async fn send(
    version: &AppVersion,
    queue: &str,
    query: Query,
    req: http::Request<hyper::body::Incoming>,
) -> Result<Response<HyperOutgoingBody>, operate::OperateError> {
    let bad = operate::OperateError::BadRequest;
    let delay_ms = match query.delay_ms {
        Some(Ok(ms)) => ms,
        Some(Err(())) => return Err(bad("`delay_ms` must be a whole number".to_owned())),
        None => 0,
    };
    let (parts, body) = req.into_parts();
    let content_type = parts
        .headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let body = match read_body(body).await {
        Ok(body) => body,
        Err(refused) => return Ok(refused),
    };
    let message = operate::Outgoing {
        body,
        content_type,
        attributes: query.attributes,
        delay_ms,
    };
    let id = operate::send(&version.queues, queue, message).await?;
    let mut answer = json(serde_json::json!({ "id": id.to_string() }));
    *answer.status_mut() = StatusCode::ACCEPTED;
    Ok(answer)
}

/// Publishes the CloudEvent of `req` to `topic` (the topic ingress).
async fn publish(
    version: &AppVersion,
    topic: &str,
    req: http::Request<hyper::body::Incoming>,
) -> Response<HyperOutgoingBody> {
    let Some(open) = version.queues.topic(topic) else {
        return text(
            StatusCode::NOT_FOUND,
            format!("topic `{topic}` is not one of this app's topics\n"),
        );
    };
    let (parts, body) = req.into_parts();
    let body = match read_body(body).await {
        Ok(body) => body,
        Err(refused) => return refused,
    };
    let source = format!("/{}/ingress", version.app_name);
    let event = match topic::event_from_http(parts.headers, body, &source) {
        Ok(event) => event,
        Err(err) => return text(StatusCode::BAD_REQUEST, format!("{err}\n")),
    };
    let id = event.id().to_owned();
    let message = topic::event_message(event, Vec::new(), 0);
    let size = message_bytes(
        &message.body,
        message.content_type.as_deref(),
        &message.attributes,
    );
    if size > MAX_MESSAGE_BYTES {
        return text(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "the event is {size} bytes (data, content type and attributes); the limit is {MAX_MESSAGE_BYTES}\n"
            ),
        );
    }
    match open.publish(message).await {
        Ok(()) => text(StatusCode::ACCEPTED, format!("{id}\n")),
        Err((queue, err)) => {
            tracing::warn!(topic, queue = %queue, "topic ingress: cannot publish: {err}");
            text(
                StatusCode::SERVICE_UNAVAILABLE,
                format!("queue `{queue}` of topic `{topic}` is unavailable\n"),
            )
        }
    }
}

/// One `warning:` line per queue whose backend could lose acknowledged messages (Redis without
/// an append-only file), naming it; a backend that does not answer in time is left out (the
/// readiness check names it).
async fn durability_warnings(version: &AppVersion) -> Vec<String> {
    let queues = version.queues.all().map(|queue| async move {
        let checked = tokio::time::timeout(READY_PING_TIMEOUT, queue.backend.durability_warning());
        match checked.await {
            Ok(Ok(Some(warning))) => Some(format!(
                "warning: queue `{}` ({}): {warning}\n",
                queue.name, queue.description
            )),
            _ => None,
        }
    });
    futures::future::join_all(queues)
        .await
        .into_iter()
        .flatten()
        .collect()
}

/// One line per key-value store or queue whose backend does not answer a ping in time, naming
/// it.
async fn unready_backends(version: &AppVersion) -> Vec<String> {
    let stores = version.key_value.stores().map(|store| {
        let name = format!("key-value store `{}` ({})", store.label, store.description);
        unanswered(name, store.backend.ping())
    });
    let queues = version.queues.all().map(|queue| {
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
    ping: impl Future<Output = Result<(), crate::capability::backend::BackendError>>,
) -> Option<String> {
    let problem = match tokio::time::timeout(READY_PING_TIMEOUT, ping).await {
        Ok(Ok(())) => return None,
        Ok(Err(err)) => err.to_string(),
        Err(_) => format!("no answer in {} ms", READY_PING_TIMEOUT.as_millis()),
    };
    Some(format!("{backend}: {problem}\n"))
}

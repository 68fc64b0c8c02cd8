//! The workflow management API of the admin listener ([`super`]), in the shape of Durable
//! Functions' HTTP API (<https://learn.microsoft.com/azure/azure-functions/durable/durable-functions-http-api>),
//! over the app version's [`Workflows`]; every endpoint needs the admin token. The paths
//! start with [`WORKFLOWS_PATH`]; `<id>`, `<workflow>` and `<event>` are percent-decoded:
//!
//! - `POST <workflow>?instanceId=<id>`: starts an instance with the body as its input;
//! - `GET instances/<id>[?showHistory=true]`: its status;
//! - `POST instances/<id>/raiseEvent/<event>`: raises an event with the body as its payload;
//! - `POST instances/<id>/terminate?reason=<text>`: terminates it;
//! - `DELETE instances/<id>`: purges it (once it has ended);
//! - `GET instances?runtimeStatus=..&createdTimeFrom=..&top=..`: one page of instances
//!   (every parameter in [`parse_list_query`]), the next page's token in
//!   [`CONTINUATION_HEADER`].
//!
//! The shapes are [`crate::operate::workflows`]'s. A [`ClientError`] is a `text/plain` answer
//! naming the workflow or instance: 404, 409, 400, 403 or 503.

use std::borrow::Cow;

use http::uri::Authority;
use http::{HeaderValue, Method, Request, Response, StatusCode};
use serde::Serialize;
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;

use super::{WORKFLOWS_PATH, json, read_body};
use crate::app_version::AppVersion;
use crate::capability::workflow::history::is_instance_id;
use crate::capability::workflow::{ClientError, Workflows};
use crate::invocation::trace_context::{TRACEPARENT, TraceContext};
use crate::operate::workflows::{CONTINUATION_HEADER, InstanceStatus, or_null, parse_list_query};
use crate::trigger::http::text;

/// The path segment of the instance endpoints, after [`WORKFLOWS_PATH`].
pub const INSTANCES: &str = "instances";

/// The reason an instance terminated through the API gets when the request gives none.
pub const DEFAULT_REASON: &str = "terminated by an operator";

/// What a request to the workflow management API asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Endpoint {
    /// Start an instance of `workflow`.
    Start { workflow: String },
    /// One page of instances.
    List,
    /// The status of instance `id`.
    Status { id: String },
    /// Purge instance `id`.
    Purge { id: String },
    /// Raise `event` on instance `id`.
    RaiseEvent { id: String, event: String },
    /// Terminate instance `id`.
    Terminate { id: String },
}

/// The endpoint `method` and `rest` (the path after [`WORKFLOWS_PATH`]) name.
///
/// # Errors
/// 404 for a path or method the API does not have, 400 for a segment that is not UTF-8 once
/// percent-decoded; with the text to answer.
fn endpoint(method: &Method, rest: &str) -> Result<Endpoint, (StatusCode, String)> {
    let decode = |segment: &str| {
        percent_encoding::percent_decode_str(segment)
            .decode_utf8()
            .map(Cow::into_owned)
            .map_err(|_| {
                (
                    StatusCode::BAD_REQUEST,
                    format!("`{segment}` is not UTF-8 once percent-decoded"),
                )
            })
    };
    let segments: Vec<&str> = rest.split('/').collect();
    Ok(match (method, segments.as_slice()) {
        (&Method::GET, [INSTANCES]) => Endpoint::List,
        (&Method::GET, [INSTANCES, id]) => Endpoint::Status { id: decode(id)? },
        (&Method::DELETE, [INSTANCES, id]) => Endpoint::Purge { id: decode(id)? },
        (&Method::POST, [INSTANCES, id, "terminate"]) => Endpoint::Terminate { id: decode(id)? },
        (&Method::POST, [INSTANCES, id, "raiseEvent", event]) => Endpoint::RaiseEvent {
            id: decode(id)?,
            event: decode(event)?,
        },
        (&Method::POST, [workflow]) if !workflow.is_empty() => Endpoint::Start {
            workflow: decode(workflow)?,
        },
        _ => {
            return Err((StatusCode::NOT_FOUND, "unknown admin endpoint".to_owned()));
        }
    })
}

/// The URLs of instance `id`, as the start endpoint answers them (Durable Functions' names).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
struct InstanceUrls {
    /// The instance id.
    id: String,
    /// `GET` it for the status (also the `Location` header).
    status_query_get_uri: String,
    /// `POST` an event's payload to it, `{eventName}` replaced by the event's name.
    send_event_post_uri: String,
    /// `POST` to it to terminate the instance, `{text}` replaced by the reason.
    terminate_post_uri: String,
    /// `DELETE` it to purge the instance once it has ended.
    purge_history_delete_uri: String,
}

impl InstanceUrls {
    /// The URLs of instance `id` (a valid id: no character to escape) under `base` (such as
    /// `http://127.0.0.1:9090`; empty: paths only).
    fn new(base: &str, id: &str) -> Self {
        let instance = format!("{base}{WORKFLOWS_PATH}{INSTANCES}/{id}");
        Self {
            id: id.to_owned(),
            status_query_get_uri: instance.clone(),
            send_event_post_uri: format!("{instance}/raiseEvent/{{eventName}}"),
            terminate_post_uri: format!("{instance}/terminate?reason={{text}}"),
            purge_history_delete_uri: instance,
        }
    }
}

/// The base URL of the admin listener as the client of `req` reaches it: `scheme`, then the
/// request's authority (HTTP/2) or its `Host` header; empty (so the URLs are paths) if it has
/// neither or they are not an authority.
fn base_url<B>(scheme: &str, req: &Request<B>) -> String {
    let authority = req.uri().authority().cloned().or_else(|| {
        req.headers()
            .get(http::header::HOST)
            .and_then(|host| Authority::try_from(host.as_bytes()).ok())
    });
    authority.map_or_else(String::new, |authority| format!("{scheme}://{authority}"))
}

/// `answer` with status `status` and, if `url` is a header value, `Location: url`.
fn located(
    mut answer: Response<HyperOutgoingBody>,
    status: StatusCode,
    url: &str,
) -> Response<HyperOutgoingBody> {
    *answer.status_mut() = status;
    if let Ok(location) = HeaderValue::from_str(url) {
        answer
            .headers_mut()
            .insert(http::header::LOCATION, location);
    }
    answer
}

/// The value of query parameter `name` of `req`, if it is given.
fn query_param<B>(req: &Request<B>, name: &str) -> Option<String> {
    url::form_urlencoded::parse(req.uri().query().unwrap_or_default().as_bytes())
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.into_owned())
}

/// Answers `req`, a request to the workflow management API (its path starts with
/// [`WORKFLOWS_PATH`]) of `version`, whose admin listener serves `scheme` (`http` or
/// `https`).
pub(super) async fn answer(
    version: &AppVersion,
    scheme: &str,
    req: Request<hyper::body::Incoming>,
) -> Response<HyperOutgoingBody> {
    let endpoint = match endpoint(req.method(), &req.uri().path()[WORKFLOWS_PATH.len()..]) {
        Ok(endpoint) => endpoint,
        Err((status, message)) => return text(status, format!("{message}\n")),
    };
    let Some(workflows) = &version.workflows else {
        return text(
            StatusCode::NOT_FOUND,
            format!(
                "app `{}` has no workflows (no `[[trigger.workflow]]`)\n",
                version.app_name
            ),
        );
    };
    let base = base_url(scheme, &req);
    on(workflows, endpoint, &base, req)
        .await
        .unwrap_or_else(|err| refusal(&err))
}

/// Does `endpoint` on `workflows`; `base` is the listener's base URL.
async fn on(
    workflows: &Workflows,
    endpoint: Endpoint,
    base: &str,
    req: Request<hyper::body::Incoming>,
) -> Result<Response<HyperOutgoingBody>, ClientError> {
    Ok(match endpoint {
        Endpoint::Start { workflow } => {
            let id = query_param(&req, "instanceId");
            let traceparent = req.headers().contains_key(TRACEPARENT).then(|| {
                TraceContext::start(Some(req.headers()), tracing::Span::none)
                    .1
                    .traceparent()
            });
            let input = match read_body(req.into_body()).await {
                Ok(body) => or_null(body),
                Err(refused) => return Ok(refused),
            };
            let id = workflows.start(&workflow, input, id, traceparent).await?;
            let urls = InstanceUrls::new(base, &id);
            let location = urls.status_query_get_uri.clone();
            located(json(urls), StatusCode::ACCEPTED, &location)
        }
        Endpoint::Status { id } => {
            let record = workflows.status(&id).await?;
            let history = if query_param(&req, "showHistory")
                .is_some_and(|show| show.eq_ignore_ascii_case("true"))
            {
                Some(workflows.store.history(&id).await?)
            } else {
                None
            };
            let status = json(InstanceStatus::new(&record, history.as_deref()));
            if record.status.is_ended() {
                status
            } else {
                // While it runs, a client of the asynchronous pattern polls the `Location`.
                let url = InstanceUrls::new(base, &id).status_query_get_uri;
                located(status, StatusCode::ACCEPTED, &url)
            }
        }
        Endpoint::RaiseEvent { id, event } => {
            let payload = match read_body(req.into_body()).await {
                Ok(body) => or_null(body),
                Err(refused) => return Ok(refused),
            };
            workflows.raise_event(&id, &event, payload).await?;
            text(
                StatusCode::ACCEPTED,
                format!("event `{event}` raised on instance `{id}`\n"),
            )
        }
        Endpoint::Terminate { id } => {
            let reason = query_param(&req, "reason").unwrap_or_else(|| DEFAULT_REASON.to_owned());
            workflows.terminate(&id, &reason).await?;
            text(
                StatusCode::ACCEPTED,
                format!("instance `{id}` is terminating\n"),
            )
        }
        Endpoint::List => {
            let mut filter = parse_list_query(req.uri().query()).map_err(ClientError::Invalid)?;
            if filter.continuation.is_none() {
                filter.continuation = req
                    .headers()
                    .get(CONTINUATION_HEADER)
                    .and_then(|token| token.to_str().ok())
                    .map(str::to_owned);
            }
            let page = workflows.list(&filter).await?;
            let statuses: Vec<InstanceStatus> = page
                .instances
                .iter()
                .map(|record| InstanceStatus::new(record, None))
                .collect();
            let mut answer = json(statuses);
            if let Some(token) = page
                .continuation
                .and_then(|token| HeaderValue::from_str(&token).ok())
            {
                answer.headers_mut().insert(CONTINUATION_HEADER, token);
            }
            answer
        }
        Endpoint::Purge { id } => match workflows.purge(&id).await {
            Ok(()) => json(serde_json::json!({ "instancesDeleted": 1 })),
            // The id is valid, so what is invalid is purging an instance that has not ended.
            Err(ClientError::Invalid(message)) if is_instance_id(&id) => {
                text(StatusCode::CONFLICT, format!("{message}\n"))
            }
            Err(err) => return Err(err),
        },
    })
}

/// The answer to `err`: 404 (no such workflow or instance), 409 (the id is taken), 400 (a bad
/// id, name or query), 403 (not granted), 503 (the store failed); `text/plain`, naming the
/// workflow or instance.
fn refusal(err: &ClientError) -> Response<HyperOutgoingBody> {
    let status = match err {
        ClientError::NotFound(_) => StatusCode::NOT_FOUND,
        ClientError::AlreadyExists(_) => StatusCode::CONFLICT,
        ClientError::Invalid(_) => StatusCode::BAD_REQUEST,
        ClientError::AccessDenied(_) => StatusCode::FORBIDDEN,
        ClientError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
    };
    if status == StatusCode::SERVICE_UNAVAILABLE {
        tracing::warn!("workflow management API: {err}");
    }
    text(status, format!("{err}\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_and_methods_name_endpoints() {
        let id = || "order-1".to_owned();
        for (method, rest, want) in [
            (Method::GET, "instances", Endpoint::List),
            (
                Method::GET,
                "instances/order-1",
                Endpoint::Status { id: id() },
            ),
            (
                Method::DELETE,
                "instances/order-1",
                Endpoint::Purge { id: id() },
            ),
            (
                Method::POST,
                "instances/order-1/terminate",
                Endpoint::Terminate { id: id() },
            ),
            (
                Method::POST,
                "instances/order-1/raiseEvent/needs%2Fapproval",
                Endpoint::RaiseEvent {
                    id: id(),
                    event: "needs/approval".to_owned(),
                },
            ),
            (
                Method::POST,
                "order%20v2",
                Endpoint::Start {
                    workflow: "order v2".to_owned(),
                },
            ),
            // A workflow may be called `instances`: starting it is a POST.
            (
                Method::POST,
                "instances",
                Endpoint::Start {
                    workflow: "instances".to_owned(),
                },
            ),
        ] {
            assert_eq!(endpoint(&method, rest), Ok(want), "{method} {rest}");
        }
    }

    #[test]
    fn other_paths_and_methods_are_not_found_and_bad_escapes_are_bad_requests() {
        for (method, rest) in [
            (Method::GET, "order"),
            (Method::POST, ""),
            (Method::PUT, "instances/x"),
            (Method::POST, "instances/x/raiseEvent"),
            (Method::POST, "instances/x/restart"),
            (Method::GET, "instances/x/terminate"),
        ] {
            let (status, _) = endpoint(&method, rest).unwrap_err();
            assert_eq!(status, StatusCode::NOT_FOUND, "{method} {rest}");
        }
        let (status, message) = endpoint(&Method::GET, "instances/%FF").unwrap_err();
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(message.contains("%FF"), "{message}");
    }

    #[test]
    fn start_urls_follow_the_host_the_client_used() {
        let req = Request::post("/.well-known/wasmhost/workflows/order")
            .header(http::header::HOST, "127.0.0.1:9090")
            .body(())
            .unwrap();
        let base = base_url("https", &req);
        assert_eq!(base, "https://127.0.0.1:9090");
        insta::assert_snapshot!(
            serde_json::to_string_pretty(&InstanceUrls::new(&base, "order-1")).unwrap()
        );
        // A `Host` that is no authority gives paths, never a URL elsewhere.
        let req = Request::post("/x")
            .header(http::header::HOST, "evil.example/path")
            .body(())
            .unwrap();
        assert_eq!(base_url("http", &req), "");
    }

    #[test]
    fn client_errors_are_answered_with_their_status() {
        for (err, status) in [
            (ClientError::NotFound("no instance `x`".to_owned()), 404),
            (ClientError::AlreadyExists("x".to_owned()), 409),
            (ClientError::Invalid("bad".to_owned()), 400),
            (ClientError::AccessDenied("order".to_owned()), 403),
            (ClientError::Unavailable("down".to_owned()), 503),
        ] {
            assert_eq!(refusal(&err).status().as_u16(), status, "{err}");
        }
    }
}

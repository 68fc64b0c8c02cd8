//! `wf-client`: an HTTP component driving workflows through the workflow client
//! (`wasmhost_sdk::workflows`), for the tests of the client and its grant:
//! - `POST /start/:workflow`: starts the workflow with the request body as its input (JSON;
//!   an empty body is `null`), as instance `?id=<id>` if given; 202 with
//!   `Location: /status/<id>` and `{"id", "statusUrl"}`;
//! - `GET /status/:id`: the instance's status as JSON (Durable Functions' shape), 202 while it
//!   runs, 200 once it has ended;
//! - `POST /raise/:id/:event`: raises the event with the body (JSON) as its payload; 202;
//! - `POST /terminate/:id`: terminates the instance with the body (text) as the reason; 202.
//!
//! A client error answers its status (`ClientError::status_code`: 403 for a workflow the
//! manifest does not grant, 404, 409, 400, 503) with its text.

use serde_json::{Value, json};
use wasmhost_sdk::http::{Response as HttpResponse, StatusCode, header};
use wasmhost_sdk::router::{Params, Router};
use wasmhost_sdk::workflows::{self, ClientError};
use wasmhost_sdk::{
    HttpError, Json, Request, RequestBodyExt, RequestExt, Response, http_component,
};

#[http_component]
fn handle(req: Request) -> Response {
    Router::new()
        .post("/start/:workflow", start)
        .get("/status/:id", status)
        .post("/raise/:id/:event", raise)
        .post("/terminate/:id", terminate)
        .handle(req)
}

/// The request body as JSON, `null` if empty.
fn body_json(req: Request) -> Result<Value, HttpError> {
    let body = req.bytes()?;
    if body.is_empty() {
        return Ok(Value::Null);
    }
    serde_json::from_slice(&body)
        .map_err(|err| HttpError::bad_request(format!("the body is not JSON: {err}")))
}

/// A client error as the answer it calls for.
fn client_error(err: ClientError) -> HttpError {
    HttpError::with_status(err.status_code(), err.to_string())
}

fn param(params: &Params, name: &str) -> String {
    params.get(name).unwrap_or_default().into_owned()
}

fn start(req: Request, params: Params) -> Result<HttpResponse<String>, HttpError> {
    let requested_id = req.query_param("id");
    let input = body_json(req)?;
    let id = workflows::start(&param(&params, "workflow"), &input, requested_id.as_deref())
        .map_err(client_error)?;
    let status_url = format!("/status/{id}");
    let body = json!({ "id": id, "statusUrl": status_url }).to_string();
    Ok(HttpResponse::builder()
        .status(StatusCode::ACCEPTED)
        .header(header::LOCATION, &status_url)
        .header(header::CONTENT_TYPE, "application/json")
        .body(body)?)
}

fn status(
    _: Request,
    params: Params,
) -> Result<(StatusCode, Json<workflows::InstanceStatus>), HttpError> {
    let status = workflows::status(&param(&params, "id")).map_err(client_error)?;
    let code = if status.runtime_status.is_done() {
        StatusCode::OK
    } else {
        StatusCode::ACCEPTED
    };
    Ok((code, Json(status)))
}

fn raise(req: Request, params: Params) -> Result<StatusCode, HttpError> {
    let payload = body_json(req)?;
    workflows::raise_event(&param(&params, "id"), &param(&params, "event"), &payload)
        .map_err(client_error)?;
    Ok(StatusCode::ACCEPTED)
}

fn terminate(req: Request, params: Params) -> Result<StatusCode, HttpError> {
    let reason = req.text()?;
    workflows::terminate(&param(&params, "id"), &reason).map_err(client_error)?;
    Ok(StatusCode::ACCEPTED)
}

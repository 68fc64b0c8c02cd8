//! `config-probe`: reads the component's variables (`wasi:config/store`) for the tests.
//!
//! - `GET /var/:key`: 200 with the value, or 404 naming the key if the component has none;
//! - `GET /vars`: every key the component has, `key=value` per line, sorted;
//! - any route ending in `/request-id`: the request's `x-request-id`, as the guest sees it.

use wasmhost_sdk::http::StatusCode;
use wasmhost_sdk::variables::{self, Error};
use wasmhost_sdk::{IntoResponse, Request, RequestExt, Response, http_component};

#[http_component]
fn handle(req: Request) -> Response {
    if req.route().unwrap_or_default().ends_with("/request-id") {
        let id = req
            .headers()
            .get("x-request-id")
            .and_then(|v| v.to_str().ok());
        return id.unwrap_or("none").to_owned().into_response();
    }
    let result = match req.param("key") {
        Some(key) => variables::get(key),
        None => variables::get_all().map(|mut all| {
            all.sort();
            all.iter()
                .map(|(key, value)| format!("{key}={value}\n"))
                .collect()
        }),
    };
    match result {
        Ok(text) => text.into_response(),
        Err(err @ Error::Undefined(_)) => (StatusCode::NOT_FOUND, err.to_string()).into_response(),
        Err(err) => (StatusCode::INTERNAL_SERVER_ERROR, err.to_string()).into_response(),
    }
}

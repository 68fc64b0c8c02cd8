//! `echo`: streams the request body back unread, whatever its size, with the request's
//! content type.

use wasmhost_sdk::http::{Response, header};
use wasmhost_sdk::{IntoResponse, Request, http_component};

/// `POST /echo` → 200 with the request body, streamed chunk by chunk.
#[http_component]
fn handle(req: Request) -> impl IntoResponse {
    let content_type = req.headers().get(header::CONTENT_TYPE).cloned();
    let mut response = Response::builder();
    if let Some(content_type) = content_type {
        response = response.header(header::CONTENT_TYPE, content_type);
    }
    response.body(req.into_body())
}

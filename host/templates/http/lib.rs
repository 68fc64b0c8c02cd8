//! `__NAME__`: answers `GET /hello/:name` with a greeting.

use wasmhost_sdk::{IntoResponse, Request, RequestExt, http_component};

#[http_component]
fn handle(req: Request) -> impl IntoResponse {
    let name = req.param("name").unwrap_or("world");
    format!("hello, {name}, from __NAME__\n")
}

//! `hello`: the demo app. Greets the caller by the `:name` route parameter and echoes the path.

use wasmhost_sdk::{IntoResponse, Request, RequestExt, http_component};

/// `GET /hello/:name` → `hello, <name>!` plus the path and the matched route.
#[http_component]
fn handle(req: Request) -> impl IntoResponse {
    let name = req.param("name").unwrap_or("world");
    let route = req.route().unwrap_or("?");
    let path_info = req.path_info().unwrap_or("");
    format!(
        "hello, {name}!\npath: {}\nroute: {route}\npath-info: {path_info}\n",
        req.uri().path()
    )
}

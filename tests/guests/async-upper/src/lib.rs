//! `async-upper`: an async handler. It reads the whole request body with the SDK's async API
//! (driven by its WASI-pollable executor) and answers it upper-cased; an empty body is an error,
//! which the SDK turns into a 500 through `IntoResponse for Result`.

use wasmhost_sdk::{IntoResponse, Request, http_component};

/// `POST` any body → 200 with the body upper-cased; an empty body → 500 `empty body`.
#[http_component]
async fn handle(req: Request) -> impl IntoResponse {
    let body = req
        .into_body()
        .into_bytes_async()
        .await
        .map_err(|e| e.to_string())?;
    if body.is_empty() {
        return Err("empty body".to_owned());
    }
    Ok(body.to_ascii_uppercase())
}

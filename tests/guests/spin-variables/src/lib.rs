//! `spin-variables`: a Spin app (spin-sdk 5) for wasmhost's Spin compatibility tests. Its
//! component variables `greeting` and `token` are templates over the app variables
//! `greeting` (default `hello`) and `api_token` (required, secret).
//!
//! Any request answers 200 with two lines: `greeting=<greeting>` and `token=token-ok` if
//! `token` is [`EXPECTED_TOKEN`], else `token=token-wrong`. The token itself is never echoed
//! or printed. A variable that cannot be read answers 500 with the error.

use spin_sdk::http::{IntoResponse, Request, Response};
use spin_sdk::{http_component, variables};

/// The value of `api_token` that answers `token-ok`.
pub const EXPECTED_TOKEN: &str = "s3cr3t-spin-t0ken-4711";

#[http_component]
fn handle_spin_variables(_req: Request) -> anyhow::Result<impl IntoResponse> {
    let greeting = match variables::get("greeting") {
        Ok(greeting) => greeting,
        Err(err) => return Ok(Response::new(500, format!("greeting: {err}"))),
    };
    let token = match variables::get("token") {
        Ok(token) if token == EXPECTED_TOKEN => "token-ok",
        Ok(_) => "token-wrong",
        // The error names the variable, never a value.
        Err(err) => return Ok(Response::new(500, format!("token: {err}"))),
    };
    Ok(Response::builder()
        .status(200)
        .header("content-type", "text/plain")
        .body(format!("greeting={greeting}\ntoken={token}\n"))
        .build())
}

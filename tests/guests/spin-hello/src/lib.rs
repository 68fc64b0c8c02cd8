//! `spin-hello`: a Spin app written as a Spin user writes one (spin-sdk 5, the `http-rust`
//! template's shape), for wasmhost's Spin compatibility tests. Built for `wasm32-wasip2` (a
//! component) and for `wasm32-wasip1` (a core module, as Spin's older templates build it).
//!
//! - any request: 200 `Hello, Fermyon` (`text/plain`);
//! - with `accept: application/json`: 200, a JSON object of every request header whose name
//!   starts with `spin-` (the headers Spin gives a component: `spin-full-url`,
//!   `spin-path-info`, `spin-matched-route`, ...), so a test can read them.
//!
//! Its `spin.toml` is the app's manifest; `source` names the path `spin build` would write
//! in a project of its own (the tests copy the built file there).

use std::collections::BTreeMap;

use spin_sdk::http::{IntoResponse, Request, Response};
use spin_sdk::http_component;

/// A simple Spin HTTP component.
#[http_component]
fn handle_spin_hello(req: Request) -> anyhow::Result<impl IntoResponse> {
    let wants_json = req
        .header("accept")
        .and_then(|value| value.as_str())
        .is_some_and(|accept| accept.contains("application/json"));
    if wants_json {
        let spin_headers: BTreeMap<String, &str> = req
            .headers()
            .map(|(name, value)| (name.to_ascii_lowercase(), value))
            .filter(|(name, _)| name.starts_with("spin-"))
            .map(|(name, value)| (name, value.as_str().unwrap_or("<not UTF-8>")))
            .collect();
        return Ok(Response::builder()
            .status(200)
            .header("content-type", "application/json")
            .body(serde_json::to_string(&spin_headers)?)
            .build());
    }
    Ok(Response::builder()
        .status(200)
        .header("content-type", "text/plain")
        .body("Hello, Fermyon")
        .build())
}

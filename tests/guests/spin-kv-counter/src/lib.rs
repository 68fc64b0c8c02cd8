//! `spin-kv-counter`: a Spin app (spin-sdk 5) for wasmhost's Spin compatibility tests. Each
//! `GET /count` adds one to key `count` of the `default` store (a decimal number, as text)
//! and answers the new count. A store error answers 500 with the error.

use spin_sdk::http::{IntoResponse, Method, Request, Response};
use spin_sdk::http_component;
use spin_sdk::key_value::Store;

/// The key the count is kept under.
const KEY: &str = "count";

#[http_component]
fn handle_spin_kv_counter(req: Request) -> anyhow::Result<impl IntoResponse> {
    if *req.method() != Method::Get {
        return Ok(Response::new(405, "GET only"));
    }
    let store = match Store::open_default() {
        Ok(store) => store,
        Err(err) => return Ok(Response::new(500, format!("cannot open the store: {err}"))),
    };
    let current = match store.get(KEY) {
        Ok(Some(bytes)) => String::from_utf8(bytes)?.parse::<u64>()?,
        Ok(None) => 0,
        Err(err) => return Ok(Response::new(500, format!("cannot read `{KEY}`: {err}"))),
    };
    let next = current + 1;
    if let Err(err) = store.set(KEY, next.to_string().as_bytes()) {
        return Ok(Response::new(500, format!("cannot write `{KEY}`: {err}")));
    }
    Ok(text(next))
}

fn text(count: u64) -> Response {
    Response::builder()
        .status(200)
        .header("content-type", "text/plain")
        .body(count.to_string())
        .build()
}

//! `http-probe`: makes outbound requests for the tests (`wasmhost_sdk::outbound_http`).
//!
//! The destination is the `x-target` header (an absolute URL). The action is the last segment
//! of the matched route:
//! - `.../proxy`: sends the request's method and body (streamed) to the target and answers the
//!   target's status and body (streamed back); a denied destination is 403 `denied`, any other
//!   failure 502 with the error;
//! - `.../proxy-async`: the same with `outbound_http::send_async`;
//! - `.../repeat`: sends `x-count` GET requests one after another, reading each body, and answers
//!   `ok=<n> failed=<m>` and the last error, if any.

use wasmhost_sdk::http::{self, StatusCode};
use wasmhost_sdk::outbound_http::{self, Error};
use wasmhost_sdk::{IntoResponse, Request, RequestExt, Response, http_component};

#[http_component]
fn handle(req: Request) -> Response {
    let header = |name: &str| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let target = header("x-target");
    let route = req.route().unwrap_or_default().to_owned();
    match route.rsplit('/').next().unwrap_or_default() {
        action @ ("proxy" | "proxy-async") => {
            let method = req.method().clone();
            let body = req.into_body();
            let outbound = http::Request::builder()
                .method(method)
                .uri(&target)
                .body(body);
            let send = |outbound| {
                if action == "proxy" {
                    outbound_http::send(outbound)
                } else {
                    wasmhost_sdk::executor::block_on(outbound_http::send_async(outbound))
                }
            };
            match outbound {
                Ok(outbound) => match send(outbound) {
                    Ok(response) => {
                        let status = response.status();
                        (status, response.into_body()).into_response()
                    }
                    Err(err) => failure(err),
                },
                Err(err) => (StatusCode::BAD_REQUEST, format!("{err}\n")).into_response(),
            }
        }
        "repeat" => {
            let count: u32 = header("x-count").parse().unwrap_or(1);
            let (mut ok, mut failed, mut last) = (0, 0, String::new());
            for _ in 0..count {
                let request = http::Request::get(&target).body(()).expect("a valid URL");
                let result = outbound_http::send(request).and_then(|r| {
                    r.into_body()
                        .into_bytes()
                        .map_err(|e| Error::Other(e.to_string()))
                });
                match result {
                    Ok(_) => ok += 1,
                    Err(err) => {
                        failed += 1;
                        last = err.to_string();
                    }
                }
            }
            format!("ok={ok} failed={failed} {last}\n").into_response()
        }
        _ => StatusCode::NOT_FOUND.into_response(),
    }
}

fn failure(err: Error) -> Response {
    match err {
        Error::Denied => (StatusCode::FORBIDDEN, "denied\n".to_owned()).into_response(),
        Error::ConnectTimeout | Error::ReadTimeout => {
            (StatusCode::GATEWAY_TIMEOUT, format!("timeout: {err}\n")).into_response()
        }
        err => (StatusCode::BAD_GATEWAY, format!("{err}\n")).into_response(),
    }
}

//! `spin-outbound`: a Spin app (spin-sdk 5) for wasmhost's Spin compatibility tests, two
//! components of one source. `spin-outbound` (public routes) may reach `http://127.0.0.1:*`,
//! its own app (`http://self`) and `http://private-echo.spin.internal`; `private-echo` has
//! only a private route and may reach nothing.
//!
//! By path:
//! - `/outbound?url=<url>`: sends `GET <url>` (the query after `url=`, as it is) with
//!   `spin_sdk::http::send`;
//! - `/chain`: sends `GET http://private-echo.spin.internal/x` (service chaining);
//! - `/self`: sends `GET /hello`, a relative URL: a request to this app's own `/hello` route;
//! - `/self-alt`: sends `GET http://self.alt/hello`, the same with an authority (Spin's form
//!   for SDKs that need one);
//! - `/self-host`: sends `GET http://self/hello` (wasmhost's form; Spin denies it);
//! - `/hello`: 200 `hello from spin-outbound`;
//! - any other path (only `private-echo` gets one): 200 `private: <path>`.
//!
//! A request sent answers 200 `<status> <body>` with the upstream's status and body; one
//! that failed (denied, unreachable) answers 502 with the error (`{:?}` of spin-sdk's
//! `SendError`, so a denial reads `Http(ErrorCode::HttpRequestDenied)`).

use spin_sdk::http::{self, IntoResponse, Request, Response};
use spin_sdk::http_component;

#[http_component]
async fn handle_spin_outbound(req: Request) -> anyhow::Result<impl IntoResponse> {
    let response = match req.path() {
        "/outbound" => match req.query().strip_prefix("url=") {
            Some(url) => fetch(url).await,
            None => Response::new(400, "want ?url=<url>"),
        },
        "/chain" => fetch("http://private-echo.spin.internal/x").await,
        "/self" => fetch("/hello").await,
        "/self-alt" => fetch("http://self.alt/hello").await,
        "/self-host" => fetch("http://self/hello").await,
        "/hello" => text(200, "hello from spin-outbound".to_owned()),
        path => text(200, format!("private: {path}")),
    };
    Ok(response)
}

/// Sends `GET url`; 200 `<status> <body>`, or 502 and the error.
async fn fetch(url: &str) -> Response {
    match http::send::<_, Response>(Request::get(url)).await {
        Ok(upstream) => text(
            200,
            format!(
                "{} {}",
                upstream.status(),
                String::from_utf8_lossy(upstream.body())
            ),
        ),
        Err(err) => text(502, format!("{err:?}")),
    }
}

fn text(status: u16, body: String) -> Response {
    Response::builder()
        .status(status)
        .header("content-type", "text/plain")
        .body(body)
        .build()
}

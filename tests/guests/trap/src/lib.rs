//! `trap`: a guest that faults on purpose, to show that a guest fault never takes the host down.

use wasmhost_sdk::{IntoResponse, Request, http_component};

/// Any request → the guest panics before it sends a response, which traps the instance.
#[http_component]
fn handle(req: Request) -> impl IntoResponse {
    panic!("trap guest asked to fail on {}", req.uri().path());
    #[allow(unreachable_code)]
    ""
}

//! `trap`: a guest that faults on purpose, to show that a guest fault never takes the host down.

use wasmhost_sdk::{IntoResponse, Request, http_component};

/// A path ending in `/loop` → the guest spins forever, until its CPU deadline interrupts it.
/// Any other request → the guest panics before it sends a response, which traps the instance.
#[http_component]
fn handle(req: Request) -> impl IntoResponse {
    if req.uri().path().ends_with("/loop") {
        let mut n = 0u64;
        loop {
            n = std::hint::black_box(n.wrapping_add(1));
        }
    }
    panic!("trap guest asked to fail on {}", req.uri().path());
    #[allow(unreachable_code)]
    ""
}

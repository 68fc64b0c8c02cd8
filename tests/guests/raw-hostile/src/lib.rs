//! `raw-hostile`: `wasi:http/proxy` misbehaviour that the wasmhost SDK cannot express, written
//! with the `wasip2` crate's bindings only (the second path segment picks it, `/raw/<what>`):
//!
//! - `/drop-outparam`: drops its `response-outparam` without setting it, then keeps running for
//!   300 ms (blocked on a monotonic-clock pollable) and returns normally;
//! - `/headers/<n>/<kib>`: makes `n` header sets (`fields`), each with one header of `kib` KiB,
//!   and keeps them all alive; answers `made <count>` and, after the first refusal, `; then:
//!   <error>`.

use wasip2::clocks::monotonic_clock;
use wasip2::exports::http::incoming_handler::Guest;
use wasip2::http::types::{
    Fields, IncomingRequest, OutgoingBody, OutgoingResponse, ResponseOutparam,
};

struct RawHostile;

impl Guest for RawHostile {
    fn handle(request: IncomingRequest, response_out: ResponseOutparam) {
        let path = request.path_with_query().unwrap_or_default();
        let what = path
            .trim_start_matches('/')
            .split('/')
            .nth(1)
            .unwrap_or_default();
        match what {
            "drop-outparam" => {
                drop(response_out);
                monotonic_clock::subscribe_duration(300_000_000).block();
            }
            "headers" => {
                let mut args = path.trim_start_matches('/').split('/').skip(2);
                let mut number = || {
                    args.next()
                        .and_then(|n| n.parse::<usize>().ok())
                        .unwrap_or(1)
                };
                let (count, kib) = (number(), number());
                let value = vec![b'v'; kib << 10];
                let mut kept = Vec::new();
                let mut refused = String::new();
                for _ in 0..count {
                    match Fields::from_list(&[("x-big".to_owned(), value.clone())]) {
                        Ok(fields) => kept.push(fields),
                        Err(err) => {
                            refused = format!("; then: {err:?}");
                            break;
                        }
                    }
                }
                let made = kept.len();
                drop(kept);
                answer(response_out, 200, &format!("made {made}{refused}\n"));
            }
            _ => answer(response_out, 404, "no such misbehaviour\n"),
        }
    }
}

/// Sets `status` and the whole `body`.
fn answer(response_out: ResponseOutparam, status: u16, body: &str) {
    let response = OutgoingResponse::new(Fields::new());
    let _ = response.set_status_code(status);
    let Ok(outgoing) = response.body() else {
        return;
    };
    ResponseOutparam::set(response_out, Ok(response));
    if let Ok(stream) = outgoing.write() {
        let _ = stream.blocking_write_and_flush(body.as_bytes());
    }
    let _ = OutgoingBody::finish(outgoing, None);
}

wasip2::http::proxy::export!(RawHostile);

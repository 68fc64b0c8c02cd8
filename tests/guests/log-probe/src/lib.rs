//! `log-probe`: writes to stdout and stderr for the log tests.
//!
//! - `.../hello`: `hello from the guest` on stdout and `a warning` on stderr;
//! - `.../long`: one 10 MB line on stdout;
//! - `.../many/:n`: `n` short lines on stdout.

use std::io::Write;

use wasmhost_sdk::{IntoResponse, Request, RequestExt, Response, http_component};

#[http_component]
fn handle(req: Request) -> Response {
    let route = req.route().unwrap_or_default().to_owned();
    if route.ends_with("/hello") {
        println!("hello from the guest");
        eprintln!("a warning");
    } else if route.ends_with("/long") {
        let mut out = std::io::stdout().lock();
        let chunk = vec![b'x'; 1 << 20];
        for _ in 0..10 {
            out.write_all(&chunk).unwrap();
        }
        out.write_all(b"\n").unwrap();
    } else {
        let n: usize = req.param("n").and_then(|n| n.parse().ok()).unwrap_or(1);
        for i in 0..n {
            println!("line {i}");
        }
    }
    "ok\n".into_response()
}

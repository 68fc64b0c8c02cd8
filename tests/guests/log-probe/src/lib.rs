//! `log-probe`: writes to stdout and stderr for the log tests.
//!
//! - `.../hello`: `hello from the guest` on stdout and `a warning` on stderr;
//! - `.../long`: one 10 MB line on stdout;
//! - `.../many/:n`: `n` short lines on stdout;
//! - `.../pieces`: `start`, `1` and `2` on stdout and on stderr, each piece through a handle of
//!   its own (`wasi:cli/stdout.get-stdout`, as a libc does per write), no newline at all.

use std::io::Write;

use wasmhost_sdk::{IntoResponse, Request, RequestExt, Response, http_component};

#[http_component]
fn handle(req: Request) -> Response {
    let route = req.route().unwrap_or_default().to_owned();
    if route.ends_with("/hello") {
        println!("hello from the guest");
        eprintln!("a warning");
    } else if route.ends_with("/pieces") {
        for piece in [&b"start"[..], b"1", b"2"] {
            let _ = wasip2::cli::stdout::get_stdout().blocking_write_and_flush(piece);
            let _ = wasip2::cli::stderr::get_stderr().blocking_write_and_flush(piece);
        }
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

//! `hostile`: a guest that misbehaves in every way the isolation tests need, one path each
//! (the second path segment picks it, whatever the first: `/h/ok`, `/small/loop`):
//!
//! - `/ok`: 200 `ok`, the well-behaved request;
//! - `/trap`: panics before answering; `/loop`: spins until the CPU deadline;
//! - `/oom`: allocates 1 MiB at a time until linear memory runs out (the allocation failure
//!   aborts: a trap); `/reserve/<MiB>`: tries to reserve that much and answers `reserved` or
//!   `refused` (a `memory.grow` that fails, without a trap);
//! - `/stack`: recurses until the stack overflows;
//! - `/sleep/<ms>`: waits that long (blocked in the host), then answers `slept`;
//! - `/endless`: answers 200 and streams a body that never ends;
//! - `/panic-mid-stream`: answers 200, streams 64 KiB, then panics;
//! - `/body`: reads the whole request body and answers its length;
//! - `/fs`: lists `/`; `/env`: counts the environment variables it sees; `/socket/<port>`:
//!   connects to `127.0.0.1:<port>`. Each answers what happened, `denied: ..` on an error;
//! - `/request`: answers the request as the guest sees it: `uri: <uri>`, then a line
//!   `<name>: <value>` per header.

use std::io::Read;
use std::time::Duration;

use wasmhost_sdk::http::StatusCode;
use wasmhost_sdk::{Body, IntoResponse, Request, Response, http_component};

#[http_component]
fn handle(req: Request) -> Response {
    let path = req.uri().path().to_owned();
    let mut segments = path.trim_start_matches('/').split('/').skip(1);
    let what = segments.next().unwrap_or_default();
    let arg = segments.next().unwrap_or_default();
    match what {
        "ok" => "ok\n".into_response(),
        "request" => {
            let mut seen = format!("uri: {}\n", req.uri());
            for (name, value) in req.headers() {
                seen += &format!("{name}: {}\n", String::from_utf8_lossy(value.as_bytes()));
            }
            seen.into_response()
        }
        "trap" => panic!("hostile guest traps on purpose"),
        "loop" => {
            let mut n = 0u64;
            loop {
                n = std::hint::black_box(n.wrapping_add(1));
            }
        }
        "oom" => {
            let mut hoard: Vec<Vec<u8>> = Vec::new();
            loop {
                hoard.push(std::hint::black_box(vec![1u8; 1 << 20]));
            }
        }
        "reserve" => {
            let mib: usize = arg.parse().unwrap_or(1);
            let mut v: Vec<u8> = Vec::new();
            match v.try_reserve_exact(mib << 20) {
                Ok(()) => "reserved\n".into_response(),
                Err(_) => "refused\n".into_response(),
            }
        }
        "stack" => format!("{}\n", recurse(1)).into_response(),
        "sleep" => {
            std::thread::sleep(Duration::from_millis(arg.parse().unwrap_or(100)));
            "slept\n".into_response()
        }
        "endless" => (StatusCode::OK, Body::Reader(Box::new(Endless))).into_response(),
        "panic-mid-stream" => {
            (StatusCode::OK, Body::Reader(Box::new(PanicAfter(64 << 10)))).into_response()
        }
        "body" => match req.into_body().into_bytes() {
            Ok(body) => format!("{}\n", body.len()).into_response(),
            Err(err) => (StatusCode::BAD_REQUEST, format!("denied: {err}\n")).into_response(),
        },
        "fs" => match std::fs::read_dir("/") {
            Ok(entries) => format!("listed {}\n", entries.count()).into_response(),
            Err(err) => format!("denied: {err}\n").into_response(),
        },
        "env" => format!("{} variables\n", std::env::vars().count()).into_response(),
        "socket" => match std::net::TcpStream::connect(("127.0.0.1", arg.parse().unwrap_or(80))) {
            Ok(_) => "connected\n".into_response(),
            Err(err) => format!("denied: {err}\n").into_response(),
        },
        _ => (StatusCode::NOT_FOUND, "").into_response(),
    }
}

/// Recurses forever (the sum keeps it from being a loop).
#[allow(unconditional_recursion)]
fn recurse(depth: u64) -> u64 {
    let mut frame = [depth; 64];
    frame = std::hint::black_box(frame);
    frame[0] + recurse(depth + 1)
}

/// A body that never ends.
struct Endless;

impl Read for Endless {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        buf.fill(b'x');
        Ok(buf.len())
    }
}

/// A body that panics after this many bytes.
struct PanicAfter(usize);

impl Read for PanicAfter {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.0 == 0 {
            panic!("hostile guest panics mid-stream");
        }
        let n = buf.len().min(self.0);
        buf[..n].fill(b'y');
        self.0 -= n;
        Ok(n)
    }
}

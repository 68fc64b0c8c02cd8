//! The access log of the public listener: one line per request, after its response head, in
//! the text log format (`GET /links/abc 200 3.1ms component=links`, as `wrangler dev` prints
//! it). `serve --no-access-log` turns it off, and the JSON log never has it (requests are
//! counted in the metrics and traced in spans there).
//!
//! The path is logged without its query, which may hold a secret.

use std::time::Instant;

use http::{Method, Response};

use crate::app::ComponentId;
use crate::invocation::round_to_micros;

/// The component that answered a response, kept in its extensions for the access log.
#[derive(Debug, Clone)]
pub struct Served(pub ComponentId);

/// What the access log keeps of a request while it is served: its method, path and start.
pub struct Entry {
    method: Method,
    path: String,
    started: Instant,
}

impl Entry {
    /// Starts the entry of a request with `method` and `path` (no query), now.
    pub fn start(method: &Method, path: &str) -> Self {
        Self {
            method: method.clone(),
            path: path.to_owned(),
            started: Instant::now(),
        }
    }

    /// Logs the line (INFO, target `wasmhost::access`) for `response`: method, path, status,
    /// the time to the response head (rounded to µs), and the component that answered
    /// (`-` for none: no route, a redirect, a static file, a refusal before any guest).
    pub fn finish<B>(self, response: &Response<B>) {
        let took = round_to_micros(self.started.elapsed());
        let component = response
            .extensions()
            .get::<Served>()
            .map_or("-", |served| served.0.as_str());
        tracing::info!(
            target: "wasmhost::access",
            component = %component,
            "{} {} {} {took:?}",
            self.method,
            self.path,
            response.status().as_u16(),
        );
    }
}

//! Layer 3, guest stdout and stderr, per instance: captured line by line into the host's log, never
//! written raw to the host's own stdout or stderr.
//!
//! Each line becomes one `INFO` event (target `wasmhost::guest`) with `app`, `component`,
//! `request_id` and `stream` (`stdout` or `stderr`). Limits, so a chatty guest cannot flood
//! the host:
//! - a line is cut at [`MAX_LINE`] bytes (16 KiB); the rest of it is dropped and reported as
//!   `truncated_bytes` on the line;
//! - each component may log [`LINES_PER_SECOND`] lines per second, in bursts of up to
//!   [`BURST`] (a GCRA rate limiter from `governor`, shared by all its instances); lines past
//!   that are dropped and counted, and the next line that gets through is preceded by a `WARN`
//!   with the number dropped.
//!
//! The guest never waits on its output: writes are always accepted.

use std::borrow::Cow;
use std::num::NonZeroU32;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};

use bytes::Bytes;
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use tokio::io::AsyncWrite;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamResult};

use crate::app::ComponentId;
use crate::invocation::RequestId;

/// The longest line kept, in bytes: 16 KiB.
pub const MAX_LINE: usize = 16 << 10;
/// `text`, cut to [`MAX_LINE`] bytes (at a character boundary) and followed by
/// ` … [truncated_bytes=N]` when it is longer: how every guest-provided string (a handler's
/// error text, an error code, a trap's account, a host name) is logged or stored, so a guest
/// cannot write megabyte lines into the host's log or its queues.
pub fn cut(text: &str) -> Cow<'_, str> {
    if text.len() <= MAX_LINE {
        return Cow::Borrowed(text);
    }
    let mut end = MAX_LINE;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    Cow::Owned(format!(
        "{} … [truncated_bytes={}]",
        &text[..end],
        text.len() - end
    ))
}

/// Lines per second a component may log, sustained.
pub const LINES_PER_SECOND: u32 = 100;
/// Lines a component may log at once before the rate applies.
pub const BURST: u32 = 1000;

/// The log budget of one component, shared by all its instances.
pub struct LineLimiter {
    limiter: DefaultDirectRateLimiter,
    dropped: AtomicU64,
    truncated: AtomicU64,
}

impl LineLimiter {
    /// [`LINES_PER_SECOND`] lines per second, bursts of [`BURST`].
    pub fn new() -> Self {
        let rate = NonZeroU32::new(LINES_PER_SECOND).expect("non-zero");
        let burst = NonZeroU32::new(BURST).expect("non-zero");
        Self {
            limiter: RateLimiter::direct(Quota::per_second(rate).allow_burst(burst)),
            dropped: AtomicU64::new(0),
            truncated: AtomicU64::new(0),
        }
    }

    /// Lines dropped by the rate limit since startup.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Lines cut at [`MAX_LINE`] since startup.
    pub fn truncated(&self) -> u64 {
        self.truncated.load(Ordering::Relaxed)
    }
}

impl Default for LineLimiter {
    fn default() -> Self {
        Self::new()
    }
}

/// Where one instance's stdout or stderr goes: its log fields and its component's limiter.
#[derive(Clone)]
pub struct GuestOutput {
    app: Arc<str>,
    component: ComponentId,
    request_id: RequestId,
    stream: &'static str,
    limiter: Arc<LineLimiter>,
}

impl GuestOutput {
    /// The output of one instance of `component` for `request_id`, as `stdout`; see
    /// [`GuestOutput::for_stream`].
    pub fn new(
        app: Arc<str>,
        component: ComponentId,
        request_id: RequestId,
        limiter: Arc<LineLimiter>,
    ) -> Self {
        Self {
            app,
            component,
            request_id,
            stream: "stdout",
            limiter,
        }
    }

    /// The same output, for `stream` (`stdout` or `stderr`).
    pub fn for_stream(&self, stream: &'static str) -> Self {
        Self {
            stream,
            ..self.clone()
        }
    }

    fn writer(&self) -> LineWriter {
        LineWriter {
            output: self.clone(),
            line: Vec::new(),
            cut: 0,
        }
    }
}

impl IsTerminal for GuestOutput {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for GuestOutput {
    fn async_stream(&self) -> Box<dyn AsyncWrite + Send + Sync> {
        Box::new(self.writer())
    }

    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.writer())
    }
}

/// Splits what a guest writes into lines and logs each.
struct LineWriter {
    output: GuestOutput,
    /// The line so far, at most [`MAX_LINE`] bytes.
    line: Vec<u8>,
    /// Bytes of the current line dropped past [`MAX_LINE`].
    cut: usize,
}

impl LineWriter {
    fn push(&mut self, mut bytes: &[u8]) {
        while let Some(newline) = bytes.iter().position(|&b| b == b'\n') {
            self.append(&bytes[..newline]);
            self.emit();
            bytes = &bytes[newline + 1..];
        }
        self.append(bytes);
    }

    fn append(&mut self, bytes: &[u8]) {
        let room = MAX_LINE - self.line.len();
        let kept = bytes.len().min(room);
        self.line.extend_from_slice(&bytes[..kept]);
        self.cut += bytes.len() - kept;
    }

    /// Logs the current line (if the rate limit allows) and starts a new one.
    fn emit(&mut self) {
        let out = &self.output;
        let limiter = &out.limiter;
        if limiter.limiter.check().is_err() {
            limiter.dropped.fetch_add(1, Ordering::Relaxed);
        } else {
            let dropped = limiter.dropped.swap(0, Ordering::Relaxed);
            if dropped > 0 {
                tracing::warn!(
                    target: "wasmhost::guest",
                    app = %out.app,
                    component = %out.component,
                    dropped,
                    "guest log lines dropped by the rate limit ({LINES_PER_SECOND}/s, bursts of {BURST})",
                );
            }
            let text = String::from_utf8_lossy(&self.line);
            let text = text.strip_suffix('\r').unwrap_or(&text);
            if self.cut > 0 {
                limiter.truncated.fetch_add(1, Ordering::Relaxed);
                tracing::info!(
                    target: "wasmhost::guest",
                    app = %out.app,
                    component = %out.component,
                    request_id = %out.request_id,
                    stream = out.stream,
                    truncated_bytes = self.cut,
                    "{text}",
                );
            } else {
                tracing::info!(
                    target: "wasmhost::guest",
                    app = %out.app,
                    component = %out.component,
                    request_id = %out.request_id,
                    stream = out.stream,
                    "{text}",
                );
            }
        }
        self.line.clear();
        self.cut = 0;
    }
}

impl Drop for LineWriter {
    fn drop(&mut self) {
        // A last line without its newline.
        if !self.line.is_empty() || self.cut > 0 {
            self.emit();
        }
    }
}

#[async_trait::async_trait]
impl Pollable for LineWriter {
    async fn ready(&mut self) {}
}

impl OutputStream for LineWriter {
    fn write(&mut self, bytes: Bytes) -> StreamResult<()> {
        self.push(&bytes);
        Ok(())
    }

    fn flush(&mut self) -> StreamResult<()> {
        Ok(())
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        Ok(1 << 20)
    }
}

impl AsyncWrite for LineWriter {
    fn poll_write(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        bytes: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        self.get_mut().push(bytes);
        Poll::Ready(Ok(bytes.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

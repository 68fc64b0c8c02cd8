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
//! Each stream (stdout, stderr) of an instance keeps one line buffer, shared by every handle
//! the guest gets for it: a line written in pieces through several handles is one log line.
//! The last line without its newline is logged when the instance is dropped.
//!
//! A Rust panic on stderr (`thread '..' panicked at FILE:LINE:COL:`, its message, and std's
//! `note: run with RUST_BACKTRACE=1` line) is not logged line by line: its location and message
//! go to the instance's [`Faults`], and the trap that follows is logged once with them
//! ([`Faults::explain`]).
//!
//! The guest never waits on its output: writes are always accepted.

use std::borrow::Cow;
use std::num::NonZeroU32;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
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

/// What one instance left behind when it faulted, for the account of its trap
/// ([`Faults::explain`]): the location and message of a Rust panic it wrote to stderr, and
/// the memory limit if a `memory.grow` was refused. Shared by the instance's stderr, its
/// memory limiter and the invocation that runs it.
#[derive(Debug, Default)]
pub struct Faults {
    panic: Mutex<Option<String>>,
    /// The limit in bytes of the refused `memory.grow` (0: none refused).
    memory_refused: AtomicUsize,
}

impl Faults {
    /// Records that a `memory.grow` past `max_bytes` was refused.
    pub fn memory_refused(&self, max_bytes: usize) {
        self.memory_refused.store(max_bytes, Ordering::Relaxed);
    }

    /// Records a panic: `at` its location, `message` its message.
    fn panicked(&self, at: &str, message: &str) {
        let text = format!("guest panicked at {at}: {message}");
        *self.panic.lock().unwrap_or_else(PoisonError::into_inner) = Some(text);
    }

    /// `trap` with what the instance left behind as its context: the panic's location and
    /// message (`guest panicked at src/lib.rs:9:5: boom`), else a refused `memory.grow`
    /// (`memory limit of 128 MiB reached: a memory.grow was refused`); unchanged if neither.
    pub fn explain(&self, trap: wasmtime::Error) -> wasmtime::Error {
        let panic = self
            .panic
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(panic) = panic {
            return trap.context(cut(&panic).into_owned());
        }
        match self.memory_refused.load(Ordering::Relaxed) {
            0 => trap,
            max => trap.context(format!(
                "memory limit of {} MiB reached: a memory.grow was refused",
                max >> 20
            )),
        }
    }
}

/// Where one instance's stdout or stderr goes: its log fields, its component's limiter, and
/// the stream's one line buffer, shared by every handle of the stream.
#[derive(Clone)]
pub struct GuestOutput {
    fields: Arc<Fields>,
    faults: Arc<Faults>,
    lines: Arc<Mutex<Lines>>,
}

/// The log fields and the rate limit of one instance's output.
struct Fields {
    app: Arc<str>,
    component: ComponentId,
    request_id: RequestId,
    limiter: Arc<LineLimiter>,
}

impl GuestOutput {
    /// The output of one instance of `component` for `request_id`, whose panics go to
    /// `faults`; each stream gets its own with [`GuestOutput::for_stream`].
    pub fn new(
        app: Arc<str>,
        component: ComponentId,
        request_id: RequestId,
        limiter: Arc<LineLimiter>,
        faults: Arc<Faults>,
    ) -> Self {
        let fields = Arc::new(Fields {
            app,
            component,
            request_id,
            limiter,
        });
        let lines = Arc::new(Mutex::new(Lines::new(
            fields.clone(),
            faults.clone(),
            "stdout",
        )));
        Self {
            fields,
            faults,
            lines,
        }
    }

    /// The same instance's output for `stream` (`stdout` or `stderr`), with a line buffer of
    /// its own, which its clones share.
    pub fn for_stream(&self, stream: &'static str) -> Self {
        Self {
            fields: self.fields.clone(),
            faults: self.faults.clone(),
            lines: Arc::new(Mutex::new(Lines::new(
                self.fields.clone(),
                self.faults.clone(),
                stream,
            ))),
        }
    }

    fn writer(&self) -> LineWriter {
        LineWriter(self.lines.clone())
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

/// The std line that ends a Rust panic's report (std prints it once per process, and each
/// instance is a process of its own).
const PANIC_NOTE: &str = "note: run with `RUST_BACKTRACE=1`";

/// The most lines a panic's message may have: past it (a report that does not end with
/// [`PANIC_NOTE`]), the lines are logged as usual, so a guest cannot grow the host's memory
/// by faking a panic report.
const MAX_PANIC_LINES: usize = 32;

/// One stream of one instance, split into lines, each logged.
struct Lines {
    fields: Arc<Fields>,
    faults: Arc<Faults>,
    stream: &'static str,
    /// The line so far, at most [`MAX_LINE`] bytes.
    line: Vec<u8>,
    /// Bytes of the current line dropped past [`MAX_LINE`].
    cut: usize,
    /// Empty lines not logged yet: a panic's report starts with one, which is then dropped.
    blank: usize,
    /// A panic being reported on stderr: its location, and its message so far.
    panic: Option<(String, String)>,
}

impl Lines {
    fn new(fields: Arc<Fields>, faults: Arc<Faults>, stream: &'static str) -> Self {
        Self {
            fields,
            faults,
            stream,
            line: Vec::new(),
            cut: 0,
            blank: 0,
            panic: None,
        }
    }

    fn push(&mut self, mut bytes: &[u8]) {
        while let Some(newline) = bytes.iter().position(|&b| b == b'\n') {
            self.append(&bytes[..newline]);
            self.end_line();
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

    /// Ends the current line: part of a panic's report, held back if empty, or logged.
    fn end_line(&mut self) {
        let text = String::from_utf8_lossy(&self.line);
        let text = text.strip_suffix('\r').unwrap_or(&text);
        let mut logged = true;
        if let Some((at, message)) = &mut self.panic {
            let full = message.len() + text.len() >= MAX_LINE
                || message.matches('\n').count() + 1 >= MAX_PANIC_LINES;
            if text.starts_with(PANIC_NOTE) || full {
                // The report ended, or it is not one that ends (a custom hook, a guest writing
                // on): what it has is the panic, and later lines are logged as usual.
                self.panic = None;
                logged = !text.starts_with(PANIC_NOTE);
            } else {
                if !message.is_empty() {
                    message.push('\n');
                }
                message.push_str(text);
                // Recorded at once, so a trap right after it is explained by it.
                self.faults.panicked(at, message);
                logged = false;
            }
        }
        if logged {
            if let Some(at) = panic_location(self.stream, text) {
                self.blank = 0;
                self.faults.panicked(at, "");
                self.panic = Some((at.to_owned(), String::new()));
            } else if text.is_empty() && self.cut == 0 {
                self.blank += 1;
            } else {
                for _ in 0..std::mem::take(&mut self.blank) {
                    self.emit("", 0);
                }
                let text = text.to_owned();
                self.emit(&text, self.cut);
            }
        }
        self.line.clear();
        self.cut = 0;
    }

    /// Logs `text` (if the rate limit allows), `cut` bytes of it cut.
    fn emit(&self, text: &str, cut: usize) {
        let out = &self.fields;
        let limiter = &out.limiter;
        if limiter.limiter.check().is_err() {
            limiter.dropped.fetch_add(1, Ordering::Relaxed);
            return;
        }
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
        if cut > 0 {
            limiter.truncated.fetch_add(1, Ordering::Relaxed);
        }
        tracing::info!(
            target: "wasmhost::guest",
            app = %out.app,
            component = %out.component,
            request_id = %out.request_id,
            stream = self.stream,
            // Recorded only for a line that was cut.
            truncated_bytes = (cut > 0).then_some(cut),
            "{text}",
        );
    }
}

/// The location of a Rust panic if `text` is the first line of one on stderr:
/// `thread '<name>' (<id>) panicked at <file>:<line>:<column>:` (or without ` (<id>)`).
fn panic_location<'a>(stream: &str, text: &'a str) -> Option<&'a str> {
    if stream != "stderr" || !text.starts_with("thread '") {
        return None;
    }
    let (_, at) = text.split_once(" panicked at ")?;
    at.strip_suffix(':')
}

impl Drop for Lines {
    fn drop(&mut self) {
        // A last line without its newline, or a panic whose report did not end.
        if !self.line.is_empty() || self.cut > 0 {
            self.end_line();
        }
        self.panic = None;
    }
}

/// One handle of a stream, as the guest gets it: writes go to the stream's line buffer.
struct LineWriter(Arc<Mutex<Lines>>);

impl LineWriter {
    fn push(&self, bytes: &[u8]) {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(bytes);
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

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::{Faults, GuestOutput, LineLimiter};
    use crate::invocation::RequestId;

    /// The stderr of a new instance, and its faults.
    fn stderr() -> (GuestOutput, Arc<Faults>) {
        let faults = Arc::new(Faults::default());
        let output = GuestOutput::new(
            Arc::from("app"),
            "probe".parse().unwrap(),
            RequestId::generate(),
            Arc::new(LineLimiter::new()),
            faults.clone(),
        );
        (output.for_stream("stderr"), faults)
    }

    #[test]
    fn a_panic_report_becomes_the_account_of_the_trap() {
        let (stderr, faults) = stderr();
        // As std writes it, in pieces, through two handles.
        stderr
            .writer()
            .push(b"\nthread '<unnamed>' (1) panicked at src/lib.rs:9:5:\nbo");
        stderr.writer().push(
            b"om\nnote: run with `RUST_BACKTRACE=1` environment variable to display a backtrace\n",
        );
        let trap = faults.explain(wasmtime::Error::msg("wasm trap: unreachable"));
        insta::assert_snapshot!(format!("{trap:#}"));
        // Taken once: a later trap of the same instance is told as it is.
        let again = faults.explain(wasmtime::Error::msg("wasm trap: unreachable"));
        assert_eq!(format!("{again:#}"), "wasm trap: unreachable");
    }

    #[test]
    fn a_panic_report_that_does_not_end_is_bounded_and_still_explains_the_trap() {
        let (stderr, faults) = stderr();
        let writer = stderr.writer();
        writer.push(b"thread 'main' panicked at src/lib.rs:1:1:\nfirst\n");
        for _ in 0..10_000 {
            writer.push(b"more and more\n");
        }
        {
            let lines = stderr.lines.lock().unwrap();
            assert!(
                lines.panic.is_none(),
                "past {} lines it logs again",
                super::MAX_PANIC_LINES
            );
        }
        let trap = faults.explain(wasmtime::Error::msg("wasm trap: unreachable"));
        let trap = format!("{trap:#}");
        assert!(
            trap.starts_with("guest panicked at src/lib.rs:1:1: first\nmore and more"),
            "{trap}"
        );
        assert_eq!(
            trap.matches("more and more").count(),
            super::MAX_PANIC_LINES - 1,
            "{trap}"
        );
    }

    #[test]
    fn a_refused_memory_grow_is_the_account_of_the_trap() {
        let (_, faults) = stderr();
        faults.memory_refused(64 << 20);
        let trap = faults.explain(wasmtime::Error::msg("wasm trap: unreachable"));
        insta::assert_snapshot!(format!("{trap:#}"));
    }

    #[test]
    fn handles_of_one_stream_share_its_line() {
        let (stderr, _) = stderr();
        let (first, second) = (stderr.writer(), stderr.writer());
        first.push(b"start");
        second.push(b" 1");
        assert_eq!(stderr.lines.lock().unwrap().line, b"start 1");
        // Another stream of the same instance has a line of its own.
        assert!(
            stderr
                .for_stream("stdout")
                .lines
                .lock()
                .unwrap()
                .line
                .is_empty()
        );
    }
}

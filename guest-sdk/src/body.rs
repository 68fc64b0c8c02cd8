//! Request and response bodies, streamed through `wasi:io/streams`.

use std::future::poll_fn;
use std::io::{self, Read};
use std::task::Poll;

use crate::executor::wait_for;
use crate::wit::wasi::http::types::IncomingBody as WitIncomingBody;
use crate::wit::wasi::io::streams::{InputStream, StreamError};

/// The most bytes one read of a body returns: 64 KiB.
const CHUNK_BYTES: u64 = 64 * 1024;

/// The body of an incoming request, read as a stream.
///
/// Read it in chunks ([`IncomingBody::chunk`], or [`IncomingBody::next_chunk`] in an async
/// handler), all at once ([`IncomingBody::into_bytes`]), through [`std::io::Read`], or hand it
/// to a response unread to stream it straight back ([`IntoBody`]).
pub struct IncomingBody {
    // Field order matters: the stream is a child of the body and must be dropped first.
    stream: Option<InputStream>,
    _body: Option<WitIncomingBody>,
}

impl IncomingBody {
    pub(crate) fn new(body: Option<WitIncomingBody>) -> Self {
        let stream = body.as_ref().and_then(|b| b.stream().ok());
        Self {
            stream,
            _body: body,
        }
    }

    /// A body read from `stream` alone (a blob object's stream), with no parent resource.
    pub(crate) fn from_stream(stream: InputStream) -> Self {
        Self {
            stream: Some(stream),
            _body: None,
        }
    }

    /// Blocks until the next chunk (at most 64 KiB) arrives. `None` at the end of the body.
    ///
    /// # Errors
    /// The client's connection failed mid-body.
    pub fn chunk(&mut self) -> Option<io::Result<Vec<u8>>> {
        let stream = self.stream.as_ref()?;
        match stream.blocking_read(CHUNK_BYTES) {
            Ok(bytes) => Some(Ok(bytes)),
            Err(StreamError::Closed) => {
                self.stream = None;
                None
            }
            Err(StreamError::LastOperationFailed(e)) => {
                Some(Err(stream_error(&e.to_debug_string())))
            }
        }
    }

    /// Waits for the next chunk (at most 64 KiB) without blocking other futures of the handler.
    /// `None` at the end of the body.
    ///
    /// # Errors
    /// The client's connection failed mid-body.
    pub async fn next_chunk(&mut self) -> Option<io::Result<Vec<u8>>> {
        poll_fn(|_| {
            let Some(stream) = self.stream.as_ref() else {
                return Poll::Ready(None);
            };
            match stream.read(CHUNK_BYTES) {
                Ok(bytes) if bytes.is_empty() => {
                    wait_for(stream.subscribe());
                    Poll::Pending
                }
                Ok(bytes) => Poll::Ready(Some(Ok(bytes))),
                Err(StreamError::Closed) => {
                    self.stream = None;
                    Poll::Ready(None)
                }
                Err(StreamError::LastOperationFailed(e)) => {
                    Poll::Ready(Some(Err(stream_error(&e.to_debug_string()))))
                }
            }
        })
        .await
    }

    /// Reads the whole body into memory.
    ///
    /// # Errors
    /// The client's connection failed mid-body.
    pub fn into_bytes(mut self) -> io::Result<Vec<u8>> {
        let mut all = Vec::new();
        while let Some(chunk) = self.chunk() {
            all.extend_from_slice(&chunk?);
        }
        Ok(all)
    }

    /// Reads the whole body into memory, asynchronously.
    ///
    /// # Errors
    /// The client's connection failed mid-body.
    pub async fn into_bytes_async(mut self) -> io::Result<Vec<u8>> {
        let mut all = Vec::new();
        while let Some(chunk) = self.next_chunk().await {
            all.extend_from_slice(&chunk?);
        }
        Ok(all)
    }

    pub(crate) fn into_stream(self) -> Option<(InputStream, Option<WitIncomingBody>)> {
        let Self { stream, _body } = self;
        stream.map(|s| (s, _body))
    }
}

impl Read for IncomingBody {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let Some(stream) = self.stream.as_ref() else {
            return Ok(0);
        };
        let want = u64::try_from(buf.len())
            .unwrap_or(u64::MAX)
            .min(CHUNK_BYTES);
        match stream.blocking_read(want) {
            Ok(bytes) => {
                buf[..bytes.len()].copy_from_slice(&bytes);
                Ok(bytes.len())
            }
            Err(StreamError::Closed) => {
                self.stream = None;
                Ok(0)
            }
            Err(StreamError::LastOperationFailed(e)) => Err(stream_error(&e.to_debug_string())),
        }
    }
}

fn stream_error(detail: &str) -> io::Error {
    io::Error::other(format!("body stream failed: {detail}"))
}

/// A response body.
pub enum Body {
    /// No body.
    Empty,
    /// Bytes already in memory.
    Bytes(Vec<u8>),
    /// A request body streamed back unread, chunk by chunk (`wasi:io/streams` splice).
    Incoming(IncomingBody),
    /// Bytes produced on demand by a reader, streamed in chunks of at most 64 KiB.
    Reader(Box<dyn Read>),
}

/// Converts a value into a response [`Body`].
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be used as an HTTP response body",
    note = "use (), String, &'static str, Vec<u8>, &'static [u8], an IncomingBody, or wasmhost_sdk::Body"
)]
pub trait IntoBody {
    /// The body.
    fn into_body(self) -> Body;

    /// The `content-type` a response with this body gets if the handler set none:
    /// [`TEXT_PLAIN`] for `String` and `&str`, none for bytes and streams.
    fn content_type() -> Option<&'static str>
    where
        Self: Sized,
    {
        None
    }
}

/// The content type of text bodies: `text/plain; charset=utf-8`.
pub const TEXT_PLAIN: &str = "text/plain; charset=utf-8";

impl IntoBody for Body {
    fn into_body(self) -> Body {
        self
    }
}

impl IntoBody for () {
    fn into_body(self) -> Body {
        Body::Empty
    }
}

impl IntoBody for String {
    fn into_body(self) -> Body {
        Body::Bytes(self.into_bytes())
    }

    fn content_type() -> Option<&'static str> {
        Some(TEXT_PLAIN)
    }
}

impl IntoBody for &'static str {
    fn into_body(self) -> Body {
        Body::Bytes(self.as_bytes().to_vec())
    }

    fn content_type() -> Option<&'static str> {
        Some(TEXT_PLAIN)
    }
}

impl IntoBody for Vec<u8> {
    fn into_body(self) -> Body {
        Body::Bytes(self)
    }
}

impl IntoBody for &'static [u8] {
    fn into_body(self) -> Body {
        Body::Bytes(self.to_vec())
    }
}

impl IntoBody for IncomingBody {
    fn into_body(self) -> Body {
        Body::Incoming(self)
    }
}

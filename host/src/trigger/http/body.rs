//! The HTTP trigger's bodies, between hyper and wasmtime-wasi-http: the request body cut at
//! the size limit ([`LimitedBody`]), the response body gathered whole when the guest has
//! already written it ([`coalesce_ready_body`]), and the response body that breaks when its
//! guest fails mid-body ([`guard_body`]).

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use bytes::Bytes;
use futures::{FutureExt, StreamExt};
use http::Response;
use http_body_util::{BodyExt, BodyStream, Full, StreamBody};
use tokio::sync::oneshot;
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;

use super::RequestBody;

/// How the guest that writes a response body ended, as far as [`GuardedBody`] knows.
pub(super) enum GuestEnd {
    /// It trapped or ran out of time.
    Failed,
    /// Still running: `true` comes when it returns normally, `false` (or nothing) when it
    /// fails.
    Pending(oneshot::Receiver<bool>),
}

/// A response body that breaks, rather than ends, when its guest failed. wasmtime-wasi-http
/// ends a body cleanly when the guest's store is dropped mid-body (a trap, a deadline), which a
/// client would take for a complete response; this turns that end into an error, so hyper
/// cuts the connection (HTTP/1.1) or resets the stream (HTTP/2).
struct GuardedBody {
    inner: HyperOutgoingBody,
    guest: GuestEnd,
}

/// `response` with its body guarded by how `guest` ends ([`GuardedBody`]).
pub(super) fn guard_body(
    response: Response<HyperOutgoingBody>,
    guest: GuestEnd,
) -> Response<HyperOutgoingBody> {
    response.map(|inner| GuardedBody { inner, guest }.boxed_unsync())
}

impl http_body::Body for GuardedBody {
    type Data = Bytes;
    type Error = wasmtime_wasi_http::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Bytes>, Self::Error>>> {
        use std::task::Poll;
        let this = &mut *self;
        if let Some(frame) = std::task::ready!(Pin::new(&mut this.inner).poll_frame(cx)) {
            return Poll::Ready(Some(frame));
        }
        let ok = match &mut this.guest {
            GuestEnd::Failed => false,
            GuestEnd::Pending(receiver) => {
                std::task::ready!(Pin::new(receiver).poll(cx)).unwrap_or(false)
            }
        };
        if ok {
            Poll::Ready(None)
        } else {
            this.guest = GuestEnd::Failed;
            Poll::Ready(Some(Err(wasmtime_wasi_http::Error::InternalError(Some(
                "the component failed while writing the body".to_owned(),
            )))))
        }
    }
}

/// Bytes of body the host gathers before it sends the response head: 64 KiB.
const COALESCE_BYTES: usize = 64 << 10;

/// Takes the body frames that are ready now (up to [`COALESCE_BYTES`]). A body that is complete
/// is sent in one piece with a `content-length`, so hyper writes head and body in one syscall
/// instead of a chunked head, a chunk and a terminator. A longer or slower body streams on
/// after the frames gathered.
pub(super) fn coalesce_ready_body(
    response: Response<HyperOutgoingBody>,
) -> Response<HyperOutgoingBody> {
    let (parts, mut body) = response.into_parts();
    let mut frames = Vec::new();
    let mut bytes = 0;
    let ended = loop {
        if bytes >= COALESCE_BYTES {
            break false;
        }
        match body.frame().now_or_never() {
            Some(None) => break true,
            Some(Some(frame)) => {
                let failed = frame.is_err();
                bytes += frame
                    .as_ref()
                    .ok()
                    .and_then(|f| f.data_ref())
                    .map_or(0, Bytes::len);
                frames.push(frame);
                if failed {
                    // The error goes to the client in order, as a broken body.
                    break false;
                }
            }
            None => break false,
        }
    };
    let whole = ended && frames.iter().all(|f| f.as_ref().is_ok_and(|f| f.is_data()));
    let body = if whole {
        let mut data: Vec<Bytes> = frames
            .into_iter()
            .filter_map(|f| f.ok()?.into_data().ok())
            .collect();
        let whole = if data.len() == 1 {
            data.pop().unwrap_or_default()
        } else {
            data.concat().into()
        };
        Full::new(whole)
            .map_err(|never| match never {})
            .boxed_unsync()
    } else {
        StreamBody::new(futures::stream::iter(frames).chain(BodyStream::new(body))).boxed_unsync()
    };
    Response::from_parts(parts, body)
}

/// A request body cut at a limit: past `limit` bytes it fails with wasi:http's
/// `HTTP-request-body-size` error (what the guest reading it sees) and sets its flag, so the
/// trigger answers 413.
pub struct LimitedBody<B> {
    body: B,
    left: u64,
    limit: u64,
    exceeded: Arc<AtomicBool>,
}

impl<B> LimitedBody<B> {
    /// `body` limited to `limit` bytes, and the flag set if it goes past them.
    pub fn new(body: B, limit: u64) -> (Self, Arc<AtomicBool>) {
        let exceeded = Arc::new(AtomicBool::new(false));
        let body = Self {
            body,
            left: limit,
            limit,
            exceeded: exceeded.clone(),
        };
        (body, exceeded)
    }
}

impl<B: RequestBody> http_body::Body for LimitedBody<B> {
    type Data = Bytes;
    type Error = wasmtime_wasi_http::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Bytes>, Self::Error>>> {
        let this = &mut *self;
        let frame = match std::task::ready!(Pin::new(&mut this.body).poll_frame(cx)) {
            None => return std::task::Poll::Ready(None),
            Some(Err(err)) => return std::task::Poll::Ready(Some(Err(err.into()))),
            Some(Ok(frame)) => frame,
        };
        let size = frame.data_ref().map_or(0, |data| data.len() as u64);
        if size > this.left {
            this.exceeded.store(true, Ordering::Relaxed);
            this.left = 0;
            let limit = this.limit;
            return std::task::Poll::Ready(Some(Err(
                wasmtime_wasi_http::Error::HttpRequestBodySize(Some(limit)),
            )));
        }
        this.left -= size;
        std::task::Poll::Ready(Some(Ok(frame)))
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.body.size_hint()
    }
}

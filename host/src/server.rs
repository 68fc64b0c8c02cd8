//! Layer 3, the socket side shared by every listener (the public HTTP trigger and the admin
//! endpoints): accept connections, run the TLS handshake where the listener has [`Tls`], speak
//! HTTP/1.1 or HTTP/2 (prior knowledge, or ALPN `h2` over TLS) with hyper, and hand each
//! request to a service (a handler that always produces a response). It knows sockets, TLS and
//! HTTP only: no app, no trigger.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::task::Poll;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use arc_swap::ArcSwap;
use http::{HeaderValue, Request, Response};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;

use crate::limits::Limits;
use crate::metrics::ConnectionMetrics;
use crate::tls::Tls;

/// A bound listener: its socket and, for HTTPS, its [`Tls`].
#[derive(Debug)]
pub struct Listener {
    tcp: TcpListener,
    tls: Option<Tls>,
}

impl Listener {
    /// The address it listens on (the port chosen, if it was bound to port 0).
    ///
    /// # Errors
    /// The socket has no local address (not in practice).
    pub fn local_addr(&self) -> Result<SocketAddr> {
        self.tcp
            .local_addr()
            .context("the listener has no local address")
    }

    /// The URL scheme it serves: `https` with TLS, else `http`.
    pub fn scheme(&self) -> &'static str {
        if self.tls.is_some() { "https" } else { "http" }
    }
}

/// Binds `addr` for serving, over TLS with `tls`.
///
/// # Errors
/// The address is in use or not local, naming it.
pub async fn bind(addr: SocketAddr, tls: Option<Tls>) -> Result<Listener> {
    let tcp = TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr}"))?;
    Ok(Listener { tcp, tls })
}

/// A request extension: the request came over a TLS connection (its scheme is `https`). Set
/// by [`accept_loop`] on the requests of a [`Listener`] with TLS.
#[derive(Debug, Clone, Copy)]
pub struct OverTls;

/// Accepts connections on `listener` until `shutdown` is cancelled, serving each on its own
/// task with the header limits of `limits` ([`Limits::max_headers`],
/// [`Limits::max_header_bytes`], [`Limits::header_read_timeout`]: a first request head not
/// sent in time gets 408). `handler` gets the client's address (as a header value, made once
/// per connection) and the request.
///
/// With TLS, the handshake (ALPN: `h2` or `http/1.1`) runs on the connection's task, within
/// the same [`Limits::header_read_timeout`] as the first request head: a client that sends no
/// ClientHello, or does not finish the handshake, is dropped once it is over (no 408: it
/// speaks no HTTP yet). Each request then carries the [`OverTls`] extension.
///
/// At most [`Limits::max_connections`] connections are open at once (a connection's place is
/// taken before its handshake): one more is closed as soon as it is accepted and counted in
/// `connections.refused`. A connection that starts no request for [`Limits::idle_timeout`] is
/// closed gracefully (HTTP/1.1: after the response in flight; HTTP/2: GOAWAY, then after the
/// streams in flight); HTTP/2 also pings every [`H2_KEEP_ALIVE`] and closes a peer that does
/// not answer within as long.
///
/// After `shutdown`, it stops accepting, asks every connection to finish the requests it is on
/// (HTTP/1.1 keep-alive ends, HTTP/2 sends GOAWAY), and returns once they all have: wrap it in
/// the drain timeout.
///
/// # Errors
/// None in practice: a failed accept (for example, out of file descriptors) is logged and
/// retried after 10 ms; per-connection errors (failed handshakes too) are logged at debug
/// level.
pub async fn accept_loop<H, F>(
    listener: Listener,
    limits: &Limits,
    connections: ConnectionMetrics,
    shutdown: CancellationToken,
    handler: H,
) -> Result<()>
where
    H: Fn(HeaderValue, Request<Incoming>) -> F + Clone + Send + Sync + 'static,
    F: Future<Output = Response<HyperOutgoingBody>> + Send + 'static,
{
    let Listener { tcp: listener, tls } = listener;
    let acceptor = tls.map(|tls| tls.acceptor().clone());
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .max_headers(limits.max_headers)
        .max_buf_size(limits.max_header_bytes.max(8192));
    builder
        .http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(Some(H2_KEEP_ALIVE))
        .keep_alive_timeout(H2_KEEP_ALIVE)
        .max_header_list_size(u32::try_from(limits.max_header_bytes).unwrap_or(u32::MAX));
    let serving = Arc::new(Serving {
        builder,
        header_read_timeout: limits.header_read_timeout,
        max_head: limits.max_header_bytes,
        idle_timeout: limits.idle_timeout,
        shutdown: shutdown.clone(),
    });
    let open = Arc::new(Semaphore::new(limits.max_connections));
    let tasks = TaskTracker::new();
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(err) => {
                    tracing::warn!("accept failed: {err}");
                    tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                    continue;
                }
            },
            () = shutdown.cancelled() => break,
        };
        let Ok(permit) = open.clone().try_acquire_owned() else {
            connections.refused.inc();
            drop(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let handler = handler.clone();
        let client = client_header(peer);
        let (serving, connections, acceptor) =
            (serving.clone(), connections.clone(), acceptor.clone());
        tasks.spawn(async move {
            let _permit = permit;
            connections.open.inc();
            // The handshake, then the first request head, by one deadline.
            let deadline = crate::invocation::deadline(
                tokio::time::Instant::now(),
                serving.header_read_timeout,
            );
            match acceptor {
                None => serving.serve(stream, deadline, peer, client, handler).await,
                Some(acceptor) => {
                    match tokio::time::timeout_at(deadline, acceptor.accept(stream)).await {
                        Ok(Ok(stream)) => {
                            let handler = move |client, mut req: Request<Incoming>| {
                                req.extensions_mut().insert(OverTls);
                                handler(client, req)
                            };
                            serving.serve(stream, deadline, peer, client, handler).await;
                        }
                        Ok(Err(err)) => tracing::debug!(%peer, "TLS handshake failed: {err}"),
                        Err(_) => tracing::debug!(
                            %peer,
                            "TLS handshake not done within the header read timeout; dropped"
                        ),
                    }
                }
            }
            connections.open.dec();
        });
    }
    drop(listener);
    tasks.close();
    tasks.wait().await;
    Ok(())
}

/// What every connection of one listener is served with.
struct Serving {
    builder: auto::Builder<TokioExecutor>,
    /// [`Limits::header_read_timeout`].
    header_read_timeout: Duration,
    /// [`Limits::max_header_bytes`].
    max_head: usize,
    /// [`Limits::idle_timeout`].
    idle_timeout: Duration,
    shutdown: CancellationToken,
}

impl Serving {
    /// Serves one connection (a socket, or the decrypted side of a TLS one) to its end: its
    /// first request head must come by `deadline` (else 408, see [`first_head`]), then hyper
    /// takes it. At shutdown, or once it has had no request in flight for `idle_timeout`, it
    /// is asked to finish gracefully (the responses in flight go on); if it has none in flight
    /// and does not end within [`CLOSE_GRACE`] (an HTTP/2 peer that does not answer the
    /// GOAWAY's ping), it is dropped.
    async fn serve<S, H, F>(
        &self,
        mut stream: S,
        deadline: tokio::time::Instant,
        peer: SocketAddr,
        client: HeaderValue,
        handler: H,
    ) where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
        H: Fn(HeaderValue, Request<Incoming>) -> F + Clone + Send + Sync + 'static,
        F: Future<Output = Response<HyperOutgoingBody>> + Send + 'static,
    {
        let Some(head) = first_head(&mut stream, deadline, self.max_head).await else {
            return;
        };
        let activity = Activity::new();
        let seen = activity.clone();
        let service = hyper::service::service_fn(move |req| {
            let in_flight = seen.request_started();
            let response = handler(client.clone(), req);
            async move {
                let response = response.await;
                Ok::<_, Infallible>(response.map(|body| Tracked {
                    body,
                    _in_flight: in_flight,
                }))
            }
        });
        let io = TokioIo::new(Prefixed::new(head, stream));
        let mut connection = std::pin::pin!(self.builder.serve_connection(io, service));
        let mut asked = false;
        let ended = loop {
            let wake = if asked {
                Instant::now() + CLOSE_GRACE
            } else {
                activity.idle_at(self.idle_timeout)
            };
            tokio::select! {
                ended = connection.as_mut() => break ended,
                () = self.shutdown.cancelled(), if !asked => {
                    connection.as_mut().graceful_shutdown();
                    asked = true;
                }
                () = tokio::time::sleep_until(wake.into()) => {
                    if asked && activity.in_flight() == 0 {
                        break Ok(());
                    }
                    if !asked && activity.idle_at(self.idle_timeout) <= Instant::now() {
                        connection.as_mut().graceful_shutdown();
                        asked = true;
                    }
                }
            }
        };
        if let Err(err) = ended {
            tracing::debug!(%peer, "connection ended with an error: {err}");
        }
    }
}

/// How often an HTTP/2 connection is pinged, and how long the peer has to answer: 20 s.
pub const H2_KEEP_ALIVE: Duration = Duration::from_secs(20);

/// How long a connection asked to finish, with no response in flight, may take to close
/// before it is dropped: 1 s.
pub const CLOSE_GRACE: Duration = Duration::from_secs(1);

/// A connection's requests: how many have a response still going, and when the last one
/// started (in ms since the connection was accepted).
#[derive(Clone)]
struct Activity {
    accepted: Instant,
    last_ms: Arc<AtomicU64>,
    in_flight: Arc<AtomicUsize>,
}

impl Activity {
    fn new() -> Self {
        Self {
            accepted: Instant::now(),
            last_ms: Arc::new(AtomicU64::new(0)),
            in_flight: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// Notes a request's start; it is in flight until the returned guard drops (with its
    /// response body).
    fn request_started(&self) -> InFlight {
        let ms = u64::try_from(self.accepted.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last_ms.store(ms, Ordering::Relaxed);
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        InFlight(self.in_flight.clone())
    }

    fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::Relaxed)
    }

    /// When the connection is idle for `timeout`, unless a request starts before: `timeout`
    /// after the last request started, or from now while one is in flight.
    fn idle_at(&self, timeout: Duration) -> Instant {
        let since = if self.in_flight() > 0 {
            Instant::now()
        } else {
            self.accepted + Duration::from_millis(self.last_ms.load(Ordering::Relaxed))
        };
        crate::invocation::deadline(since.into(), timeout).into_std()
    }
}

/// One request in flight on a connection, until dropped.
struct InFlight(Arc<AtomicUsize>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A response body that keeps its request in flight until it is sent or dropped.
struct Tracked<B> {
    body: B,
    /// Held, not read: dropping it ends the request.
    _in_flight: InFlight,
}

impl<B: http_body::Body + Unpin> http_body::Body for Tracked<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.body.size_hint()
    }
}

/// [`accept_loop`] for whatever `current` holds now (an app version): each request takes the
/// value current when it arrives and keeps it to its end (`handler` gets it with the client's
/// address and the request), so swapping `current` (a reload) never cuts a request.
///
/// # Errors
/// As [`accept_loop`].
pub async fn serve_current<T, H, F>(
    listener: Listener,
    limits: &Limits,
    connections: ConnectionMetrics,
    current: Arc<ArcSwap<T>>,
    shutdown: CancellationToken,
    handler: H,
) -> Result<()>
where
    T: Send + Sync + 'static,
    H: Fn(Arc<T>, HeaderValue, Request<Incoming>) -> F + Clone + Send + Sync + 'static,
    F: Future<Output = Response<HyperOutgoingBody>> + Send + 'static,
{
    accept_loop(
        listener,
        limits,
        connections,
        shutdown,
        move |client, req| handler(current.load_full(), client, req),
    )
    .await
}

/// The 408 answer to a client that did not send its first request head in time.
const REQUEST_TIMEOUT: &[u8] =
    b"HTTP/1.1 408 Request Timeout\r\nconnection: close\r\ncontent-length: 0\r\n\r\n";

/// Reads a connection's first request head: the bytes up to its blank line (`\r\n\r\n`, which
/// the HTTP/2 preface has too), or `max` bytes, or what came before the client closed. A client
/// that does not get that far by `deadline` (slowloris) gets a 408 and the connection is
/// closed: `None`. Later heads on a kept-alive connection fall to hyper's own header read
/// timeout, which closes the connection. Generic over the stream so that tests can drive it
/// without a socket.
async fn first_head<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    deadline: tokio::time::Instant,
    max: usize,
) -> Option<Vec<u8>> {
    let mut head = Vec::with_capacity(4096);
    loop {
        let searched = head.len().saturating_sub(3);
        let read = tokio::time::timeout_at(deadline, stream.read_buf(&mut head)).await;
        match read {
            Ok(Ok(0)) => return Some(head),
            Ok(Ok(_)) => {
                if head.len() >= max || head[searched..].windows(4).any(|w| w == b"\r\n\r\n") {
                    return Some(head);
                }
            }
            Ok(Err(_)) => return None,
            Err(_) => {
                if !head.is_empty() {
                    // Flushed: over TLS, the write only fills the record buffer.
                    let _ = async {
                        stream.write_all(REQUEST_TIMEOUT).await?;
                        stream.flush().await
                    }
                    .await;
                }
                return None;
            }
        }
    }
}

/// A connection whose first bytes were already read: they are read again first.
struct Prefixed<S> {
    prefix: Vec<u8>,
    at: usize,
    inner: S,
}

impl<S> Prefixed<S> {
    fn new(prefix: Vec<u8>, inner: S) -> Self {
        Self {
            prefix,
            at: 0,
            inner,
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Prefixed<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = &mut *self;
        if this.at < this.prefix.len() {
            let n = buf.remaining().min(this.prefix.len() - this.at);
            buf.put_slice(&this.prefix[this.at..this.at + n]);
            this.at += n;
            if this.at == this.prefix.len() {
                this.prefix = Vec::new();
                this.at = 0;
            }
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut this.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Prefixed<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(
        mut self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(
        mut self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

fn client_header(peer: SocketAddr) -> HeaderValue {
    HeaderValue::from_str(&peer.to_string()).expect("a socket address is a valid header value")
}

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;
    use std::time::Duration;

    use proptest::prelude::*;

    use super::*;

    /// How a [`Script`] ends once its chunks are read.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    enum End {
        /// The client closes the connection.
        Close,
        /// A read fails.
        Fail,
        /// The client sends nothing more and keeps the connection open.
        Hang,
    }

    /// An in-memory connection: each read gives what fits of the next chunk, then `end`. It
    /// logs every non-empty read and keeps what is written to it.
    struct Script {
        chunks: VecDeque<Vec<u8>>,
        end: End,
        reads: Vec<Vec<u8>>,
        written: Vec<u8>,
    }

    impl AsyncRead for Script {
        fn poll_read(
            mut self: Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
            buf: &mut ReadBuf<'_>,
        ) -> Poll<std::io::Result<()>> {
            let this = &mut *self;
            let Some(chunk) = this.chunks.front_mut() else {
                return match this.end {
                    End::Close => Poll::Ready(Ok(())),
                    End::Fail => Poll::Ready(Err(std::io::ErrorKind::ConnectionReset.into())),
                    End::Hang => Poll::Pending,
                };
            };
            let read: Vec<u8> = chunk.drain(..buf.remaining().min(chunk.len())).collect();
            if chunk.is_empty() {
                this.chunks.pop_front();
            }
            buf.put_slice(&read);
            this.reads.push(read);
            Poll::Ready(Ok(()))
        }
    }

    impl AsyncWrite for Script {
        fn poll_write(
            mut self: Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
            buf: &[u8],
        ) -> Poll<std::io::Result<usize>> {
            self.written.extend_from_slice(buf);
            Poll::Ready(Ok(buf.len()))
        }

        fn poll_flush(
            self: Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
        ) -> Poll<std::io::Result<()>> {
            Poll::Ready(Ok(()))
        }

        fn poll_shutdown(
            self: Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
        ) -> Poll<std::io::Result<()>> {
            Poll::Ready(Ok(()))
        }
    }

    /// Whether `bytes` hold the blank line that ends a head.
    fn has_blank_line(bytes: &[u8]) -> bool {
        bytes.windows(4).any(|w| w == b"\r\n\r\n")
    }

    /// What a client sends: bytes (often none or few) rich in `\r` and `\n`, with the
    /// blank line inserted somewhere or not, cut into non-empty chunks at arbitrary points.
    fn chunks() -> impl Strategy<Value = Vec<Vec<u8>>> {
        let byte = prop_oneof![2 => any::<u8>(), 1 => Just(b'\r'), 1 => Just(b'\n')];
        let bytes = prop_oneof![
            proptest::collection::vec(byte.clone(), 0..8),
            proptest::collection::vec(byte, 0..300),
        ];
        (
            bytes,
            proptest::option::of(any::<proptest::sample::Index>()),
            proptest::collection::vec(any::<proptest::sample::Index>(), 0..16),
        )
            .prop_map(|(mut bytes, blank_line, cuts)| {
                if let Some(at) = blank_line {
                    let at = at.index(bytes.len() + 1);
                    bytes.splice(at..at, *b"\r\n\r\n");
                }
                let mut cuts: Vec<usize> = cuts.iter().map(|c| c.index(bytes.len() + 1)).collect();
                cuts.extend([0, bytes.len()]);
                cuts.sort_unstable();
                cuts.dedup();
                cuts.windows(2)
                    .map(|w| bytes[w[0]..w[1]].to_vec())
                    .collect()
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// `first_head` stops reading at the first read that reaches `max` bytes or the blank
        /// line, or else at the end: it returns exactly the bytes read (`None` when the read
        /// failed or timed out, after a 408 if something came), so never more than `max` plus
        /// one read, and always the whole blank line when it was sent within `max` bytes.
        #[test]
        fn first_head_stops_at_the_blank_line_or_max(
            chunks in chunks(),
            max in prop_oneof![0..16_usize, 0..400_usize, Just(8192_usize)],
            max_at_a_cut in proptest::option::of(any::<proptest::sample::Index>()),
            end in proptest::sample::select(&[End::Close, End::Fail, End::Hang][..]),
        ) {
            let sent = chunks.concat();
            // Sometimes `max` falls exactly where a chunk ends.
            let max = max_at_a_cut.map_or(max, |at| {
                chunks[..at.index(chunks.len() + 1)].iter().map(Vec::len).sum()
            });
            let mut script = Script {
                chunks: chunks.into(),
                end,
                reads: Vec::new(),
                written: Vec::new(),
            };
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_time()
                .build()
                .unwrap();
            let timeout = Duration::from_millis(1);
            let head = runtime.block_on(async {
                let deadline = tokio::time::Instant::now() + timeout;
                first_head(&mut script, deadline, max).await
            });

            // Where it had to stop: after the first read that completes a head, or at the end.
            let mut read = Vec::new();
            let stop = script.reads.iter().position(|r| {
                read.extend_from_slice(r);
                read.len() >= max || has_blank_line(&read)
            });
            let read = script.reads.concat();
            prop_assert_eq!(&read[..], &sent[..read.len()]);
            match stop {
                Some(last) => {
                    prop_assert_eq!(last + 1, script.reads.len(), "read past a complete head");
                    prop_assert_eq!(head.as_ref(), Some(&read));
                    prop_assert!(read.len() <= max + script.reads[last].len());
                    prop_assert!(script.written.is_empty());
                }
                None => {
                    prop_assert_eq!(read.len(), sent.len(), "stopped before the end");
                    let expected = (end == End::Close).then(|| read.clone());
                    prop_assert_eq!(head.as_ref(), expected.as_ref());
                    let answered = end == End::Hang && !read.is_empty();
                    let written: &[u8] = if answered { REQUEST_TIMEOUT } else { b"" };
                    prop_assert_eq!(&script.written[..], written);
                }
            }
            if let Some(at) = sent.windows(4).position(|w| w == b"\r\n\r\n")
                && at + 4 <= max
            {
                prop_assert!(head.is_some_and(|h| h.starts_with(&sent[..at + 4])));
            }
        }
    }
}

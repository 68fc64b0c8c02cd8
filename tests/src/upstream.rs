//! [`Upstream`]: a real hyper HTTP/1.1 server on loopback that outbound-HTTP tests send to. It
//! counts the connections it accepts, so a test can tell pooling from a socket per request, and
//! that a denied request never connected.
//!
//! Paths:
//! - `/hello`: 200 `hello from upstream`;
//! - `/echo`: the request body, streamed back;
//! - `/headers`: the request headers, one `name: value` line each;
//! - `/stream`: `first\n`, then waits until the test calls [`Upstream::release`], then
//!   `second\n` (a client that sees `first` before the release got a streamed body);
//! - `/slow-head`: the head after 5 s (for first-byte timeouts);
//! - `/stall`: `partial\n`, then nothing for 60 s (for between-bytes timeouts);
//! - `/count`: 200 `counted`, after recording the call's `x-activity`, `x-idempotency-key`
//!   and `x-attempt` headers ([`Upstream::calls`]): how the workflow tests count activity
//!   attempts;
//! - any other `/<city>`: `{"city":"<city>","temp_c":21,"version":<n>}`, where `n` counts the
//!   weather requests served so far (from 1), so a test can tell a cached answer from a fresh
//!   one.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::sync::Notify;

type Body = http_body_util::combinators::UnsyncBoxBody<Bytes, hyper::Error>;

/// A running upstream; it stops when dropped.
pub struct Upstream {
    /// Its address on 127.0.0.1.
    pub addr: SocketAddr,
    connections: Arc<AtomicUsize>,
    weather: Arc<AtomicUsize>,
    release: Arc<Notify>,
    calls: Arc<Mutex<Vec<Call>>>,
    task: tokio::task::JoinHandle<()>,
}

/// One request to `/count`: an activity attempt, by its headers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    /// `x-activity`: the activity's name.
    pub activity: String,
    /// `x-idempotency-key`.
    pub key: String,
    /// `x-attempt`.
    pub attempt: u32,
}

impl Upstream {
    /// Starts an upstream on a free port of the current tokio runtime.
    ///
    /// # Panics
    /// If no port can be bound.
    pub async fn start() -> Self {
        Self::serve(None).await
    }

    /// Starts an upstream that speaks HTTPS with a self-signed certificate for `127.0.0.1`
    /// and `localhost`: one that no client trusting the public roots accepts. It counts TCP
    /// connections as [`Upstream::start`]'s does.
    ///
    /// # Panics
    /// If no port can be bound or the certificate cannot be made.
    pub async fn start_untrusted_tls() -> Self {
        let certified = rcgen::generate_simple_self_signed(vec![
            "127.0.0.1".to_owned(),
            "localhost".to_owned(),
        ])
        .unwrap();
        let key = rustls::pki_types::PrivateKeyDer::try_from(certified.signing_key.serialize_der())
            .unwrap();
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![certified.cert.der().clone()], key)
        .unwrap();
        Self::serve(Some(tokio_rustls::TlsAcceptor::from(Arc::new(config)))).await
    }

    async fn serve(tls: Option<tokio_rustls::TlsAcceptor>) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let connections = Arc::new(AtomicUsize::new(0));
        let release = Arc::new(Notify::new());
        let weather = Arc::new(AtomicUsize::new(0));
        let calls = Arc::new(Mutex::new(Vec::new()));
        let (count, gate, served) = (connections.clone(), release.clone(), weather.clone());
        let recorded = calls.clone();
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                count.fetch_add(1, Ordering::SeqCst);
                let (gate, served, tls) = (gate.clone(), served.clone(), tls.clone());
                let recorded = recorded.clone();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |req| {
                        let (gate, served, recorded) =
                            (gate.clone(), served.clone(), recorded.clone());
                        async move { Ok::<_, Infallible>(respond(req, gate, &served, &recorded).await) }
                    });
                    let http = hyper::server::conn::http1::Builder::new();
                    let _ = match tls {
                        None => http.serve_connection(TokioIo::new(stream), service).await,
                        Some(tls) => match tls.accept(stream).await {
                            Ok(stream) => {
                                http.serve_connection(TokioIo::new(stream), service).await
                            }
                            Err(_) => return,
                        },
                    };
                });
            }
        });
        Self {
            addr,
            connections,
            weather,
            release,
            calls,
            task,
        }
    }

    /// The `/count` calls so far, in the order they came.
    pub fn calls(&self) -> Vec<Call> {
        self.calls.lock().unwrap().clone()
    }

    /// The `/count` calls of activity `activity` so far.
    pub fn calls_of(&self, activity: &str) -> Vec<Call> {
        self.calls()
            .into_iter()
            .filter(|call| call.activity == activity)
            .collect()
    }

    /// `http://127.0.0.1:<port>{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }

    /// Weather (`/<city>`) requests served so far.
    pub fn weather_served(&self) -> usize {
        self.weather.load(Ordering::SeqCst)
    }

    /// Lets a waiting `/stream` response send its second chunk.
    pub fn release(&self) {
        self.release.notify_one();
    }
}

impl Drop for Upstream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn full(text: &'static str) -> Body {
    Full::new(Bytes::from_static(text.as_bytes()))
        .map_err(|never| match never {})
        .boxed_unsync()
}

/// A body of `first`, then after `wait`, `second`.
fn two_parts<F>(first: &'static str, wait: F, second: &'static str) -> Body
where
    F: Future<Output = ()> + Send + 'static,
{
    let frame = |text: &'static str| Ok(Frame::data(Bytes::from_static(text.as_bytes())));
    let first = futures::stream::once(async move { frame(first) });
    let second = futures::stream::once(async move {
        wait.await;
        frame(second)
    });
    StreamBody::new(first.chain(second)).boxed_unsync()
}

async fn respond(
    req: Request<Incoming>,
    gate: Arc<Notify>,
    weather: &AtomicUsize,
    calls: &Mutex<Vec<Call>>,
) -> Response<Body> {
    let body = match req.uri().path() {
        "/hello" => full("hello from upstream"),
        "/count" => {
            let header = |name: &str| {
                req.headers()
                    .get(name)
                    .and_then(|value| value.to_str().ok())
                    .unwrap_or_default()
                    .to_owned()
            };
            calls.lock().unwrap().push(Call {
                activity: header("x-activity"),
                key: header("x-idempotency-key"),
                attempt: header("x-attempt").parse().unwrap_or(0),
            });
            full("counted")
        }
        "/echo" => req.into_body().boxed_unsync(),
        "/headers" => {
            let lines: String = req
                .headers()
                .iter()
                .map(|(name, value)| format!("{name}: {}\n", value.to_str().unwrap_or("?")))
                .collect();
            Full::new(Bytes::from(lines))
                .map_err(|never| match never {})
                .boxed_unsync()
        }
        "/stream" => two_parts("first\n", async move { gate.notified().await }, "second\n"),
        "/slow-head" => {
            tokio::time::sleep(Duration::from_secs(5)).await;
            full("late")
        }
        "/stall" => two_parts(
            "partial\n",
            tokio::time::sleep(Duration::from_secs(60)),
            "never\n",
        ),
        path => {
            let city = path.trim_start_matches('/');
            let version = weather.fetch_add(1, Ordering::SeqCst) + 1;
            let json = format!(r#"{{"city":"{city}","temp_c":21,"version":{version}}}"#);
            Full::new(Bytes::from(json))
                .map_err(|never| match never {})
                .boxed_unsync()
        }
    };
    Response::new(body)
}

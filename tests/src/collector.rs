//! [`Collector`]: a minimal OTLP/HTTP trace receiver on loopback, for the tests of span export.
//! It accepts `POST /v1/traces` with an `application/x-protobuf` `ExportTraceServiceRequest`
//! (OTLP 1.x), answers 200 with an empty `ExportTraceServiceResponse`, and keeps every span.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value;
pub use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message;

/// A running collector; it stops when dropped.
pub struct Collector {
    /// Its address on 127.0.0.1.
    pub addr: SocketAddr,
    spans: Arc<Mutex<Vec<Span>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Collector {
    /// Starts a collector on a free port of the current tokio runtime.
    ///
    /// # Panics
    /// If no port can be bound.
    pub async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let spans = Arc::new(Mutex::new(Vec::new()));
        let sink = spans.clone();
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let sink = sink.clone();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |req| {
                        let sink = sink.clone();
                        async move { Ok::<_, Infallible>(receive(req, &sink).await) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Self { addr, spans, task }
    }

    /// Its base URL, for `--otlp-endpoint`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Waits up to `timeout` for a span that `matches`, and returns it.
    ///
    /// # Panics
    /// If none arrives in time; the message lists the span names received.
    pub async fn wait_for(&self, timeout: Duration, matches: impl Fn(&Span) -> bool) -> Span {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(span) = self.spans.lock().unwrap().iter().find(|s| matches(s)) {
                return span.clone();
            }
            if Instant::now() > deadline {
                let names: Vec<String> = self
                    .spans
                    .lock()
                    .unwrap()
                    .iter()
                    .map(|s| s.name.clone())
                    .collect();
                panic!("no matching span in {timeout:?}; received: {names:?}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Collector {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The string value of attribute `key` of `span`, if it has one (ints as decimal text).
pub fn attribute(span: &Span, key: &str) -> Option<String> {
    let value = span
        .attributes
        .iter()
        .find(|kv| kv.key == key)?
        .value
        .as_ref()?;
    match value.value.as_ref()? {
        any_value::Value::StringValue(text) => Some(text.clone()),
        any_value::Value::IntValue(n) => Some(n.to_string()),
        any_value::Value::BoolValue(b) => Some(b.to_string()),
        other => Some(format!("{other:?}")),
    }
}

async fn receive(req: Request<Incoming>, sink: &Mutex<Vec<Span>>) -> Response<Full<Bytes>> {
    if req.uri().path() != "/v1/traces" {
        let mut response = Response::new(Full::new(Bytes::new()));
        *response.status_mut() = StatusCode::NOT_FOUND;
        return response;
    }
    let body = req.into_body().collect().await.unwrap().to_bytes();
    let export = ExportTraceServiceRequest::decode(body).unwrap();
    let mut spans = sink.lock().unwrap();
    for resource in export.resource_spans {
        for scope in resource.scope_spans {
            spans.extend(scope.spans);
        }
    }
    Response::new(Full::new(Bytes::new()))
}

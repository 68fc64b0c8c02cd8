//! Trace context: W3C Trace Context Level 1 (<https://www.w3.org/TR/trace-context/>) in and out
//! of every invocation, and optional OTLP export of one span per invocation.
//!
//! In the request flow: the HTTP trigger reads `traceparent` / `tracestate` from the request
//! ([`TraceContext::start`]); a cron run starts a new trace. The invocation's own span context
//! (the caller's trace id, or a new one; a new span id) travels in its
//! [`crate::trigger::Invocation`], and outbound HTTP writes it into every request the guest
//! sends ([`TraceContext::inject`]), replacing any the guest set, so the callee's span is a
//! child of this invocation. Internal chaining goes through the same two steps.
//!
//! Export is off unless `--otlp-endpoint` (or `OTEL_EXPORTER_OTLP_ENDPOINT`) is given
//! ([`otlp_layer`]). Off, no span is made: the ids come from the SDK's random id generator, and
//! the per-request cost is two random ids and, when the client sent one, parsing its
//! `traceparent`. On, each invocation is a `tracing` span exported through
//! `tracing-opentelemetry` and `opentelemetry-otlp` (HTTP/protobuf, batched), with the ids of
//! that span.

use std::sync::OnceLock;

use anyhow::{Context as _, Result};
use http::HeaderMap;
use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::{
    SpanContext, TraceContextExt, TraceFlags, TraceId, TraceState, TracerProvider as _,
};
use opentelemetry_http::{HeaderExtractor, HeaderInjector};
use opentelemetry_otlp::WithExportConfig;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{IdGenerator, RandomIdGenerator, SdkTracerProvider};
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::Layer;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::registry::LookupSpan;

/// The `tracing` target of invocation spans: the only target the OTLP layer exports.
pub const SPAN_TARGET: &str = "wasmhost::invocation";

/// Whether invocation spans are made and exported; set once by [`otlp_layer`].
static EXPORTING: OnceLock<()> = OnceLock::new();

/// The `traceparent` header.
pub const TRACEPARENT: &str = "traceparent";
/// The `tracestate` header.
pub const TRACESTATE: &str = "tracestate";

/// One invocation's place in a trace: its own span context, whose span id is the parent of
/// every request it sends. Cloning copies 26 bytes and the `tracestate` (a reference count).
#[derive(Clone, Debug)]
pub struct TraceContext(SpanContext);

impl TraceContext {
    /// Starts an invocation that `headers` may carry a parent for (`None` for a cron run):
    /// a valid `traceparent` (W3C Trace Context §3.2) gives the trace id, flags and
    /// `tracestate`; without one, a new trace starts, sampled. Returns the invocation's span
    /// (made by `span` when exporting, else [`tracing::Span::none`]) and its context.
    ///
    /// An invalid `traceparent` is ignored, as the spec asks: a new trace starts.
    pub fn start(
        headers: Option<&HeaderMap>,
        span: impl FnOnce() -> tracing::Span,
    ) -> (tracing::Span, Self) {
        let parent = headers
            .filter(|headers| headers.contains_key(TRACEPARENT))
            .map(|headers| {
                TraceContextPropagator::new()
                    .extract(&HeaderExtractor(headers))
                    .span()
                    .span_context()
                    .clone()
            })
            .filter(SpanContext::is_valid);
        if EXPORTING.get().is_some() {
            let span = span();
            if let Some(parent) = &parent {
                let remote = opentelemetry::Context::new().with_remote_span_context(parent.clone());
                let _ = span.set_parent(remote);
            }
            let own = span.context().span().span_context().clone();
            if own.is_valid() {
                return (span, Self(own));
            }
        }
        let ids = RandomIdGenerator::default();
        let (trace_id, flags, state) = match parent {
            Some(parent) => (
                parent.trace_id(),
                parent.trace_flags(),
                parent.trace_state().clone(),
            ),
            None => (ids.new_trace_id(), TraceFlags::SAMPLED, TraceState::NONE),
        };
        let own = SpanContext::new(trace_id, ids.new_span_id(), flags, false, state);
        (tracing::Span::none(), Self(own))
    }

    /// Writes `traceparent` (and `tracestate`, if not empty) naming this invocation as the
    /// parent into `headers`, replacing what was there.
    pub fn inject(&self, headers: &mut HeaderMap) {
        let context = opentelemetry::Context::new().with_remote_span_context(self.0.clone());
        TraceContextPropagator::new().inject_context(&context, &mut HeaderInjector(headers));
        if headers
            .get(TRACESTATE)
            .is_some_and(|state| state.is_empty())
        {
            headers.remove(TRACESTATE);
        }
    }

    /// This invocation as a `traceparent` value (W3C Trace Context §3.2), for a queue
    /// message's attributes.
    pub fn traceparent(&self) -> String {
        let mut headers = HeaderMap::new();
        self.inject(&mut headers);
        headers
            .get(TRACEPARENT)
            .and_then(|value| value.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    }

    /// The trace id.
    pub fn trace_id(&self) -> TraceId {
        self.0.trace_id()
    }
}

/// The OTLP export of invocation spans to `endpoint` (a base URL such as
/// `http://127.0.0.1:4318`; `/v1/traces` is appended, as for `OTEL_EXPORTER_OTLP_ENDPOINT`),
/// as a `tracing` layer that sees only [`SPAN_TARGET`], and its provider, which the caller
/// shuts down (flushing what is batched) before exiting. The service name is
/// `OTEL_SERVICE_NAME` if set, else `wasmhost`; batching follows the `OTEL_BSP_*` variables.
///
/// Only `http://` endpoints: the exporter is built without TLS (a collector agent on the node
/// is the expected setup).
///
/// # Errors
/// The exporter cannot be built (a malformed endpoint).
pub fn otlp_layer<S>(endpoint: &str) -> Result<(impl Layer<S>, SdkTracerProvider)>
where
    S: tracing::Subscriber + for<'span> LookupSpan<'span>,
{
    let url = format!("{}/v1/traces", endpoint.trim_end_matches('/'));
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_endpoint(&url)
        .build()
        .with_context(|| format!("--otlp-endpoint: cannot export to {url}"))?;
    let mut resource = opentelemetry_sdk::Resource::builder();
    if std::env::var_os("OTEL_SERVICE_NAME").is_none() {
        resource = resource.with_service_name("wasmhost");
    }
    let provider = SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(resource.build())
        .build();
    let layer = tracing_opentelemetry::layer()
        .with_tracer(provider.tracer("wasmhost"))
        .with_filter(Targets::new().with_target(SPAN_TARGET, tracing::Level::TRACE));
    let _ = EXPORTING.set(());
    Ok((layer, provider))
}

#[cfg(test)]
mod tests {
    use super::*;

    const PARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    #[test]
    fn a_child_keeps_the_trace_and_gets_a_new_span() {
        let mut headers = HeaderMap::new();
        headers.insert(TRACEPARENT, PARENT.parse().unwrap());
        headers.insert("tracestate", "vendor=abc".parse().unwrap());
        let (_, context) = TraceContext::start(Some(&headers), tracing::Span::none);
        let mut out = HeaderMap::new();
        context.inject(&mut out);
        let sent = out[TRACEPARENT].to_str().unwrap();
        assert!(
            sent.starts_with("00-4bf92f3577b34da6a3ce929d0e0e4736-"),
            "{sent}"
        );
        assert!(sent.ends_with("-01"), "{sent}");
        assert_ne!(&sent[36..52], "00f067aa0ba902b7");
        assert_eq!(out["tracestate"], "vendor=abc");
    }

    #[test]
    fn a_missing_or_invalid_parent_starts_a_new_trace() {
        let (_, first) = TraceContext::start(None, tracing::Span::none);
        let mut headers = HeaderMap::new();
        headers.insert(TRACEPARENT, "00-zz-bad".parse().unwrap());
        let (_, second) = TraceContext::start(Some(&headers), tracing::Span::none);
        assert_ne!(first.trace_id(), TraceId::INVALID);
        assert_ne!(first.trace_id(), second.trace_id());
        let mut out = HeaderMap::new();
        out.insert(TRACESTATE, "guest=set".parse().unwrap());
        second.inject(&mut out);
        assert!(out[TRACEPARENT].to_str().unwrap().ends_with("-01"));
        assert!(!out.contains_key(TRACESTATE));
    }
}

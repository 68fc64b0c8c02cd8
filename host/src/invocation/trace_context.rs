//! Layer 1: the trace context an invocation carries, W3C Trace Context Level 1
//! (<https://www.w3.org/TR/trace-context/>): read from a request's `traceparent` and
//! `tracestate` ([`TraceContext::start`]), written into every request the guest sends
//! ([`TraceContext::inject`]) and into every queue message. Exporting spans is
//! [`crate::trace`]'s.

use std::sync::OnceLock;

use http::HeaderMap;
use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::{SpanContext, TraceContextExt, TraceFlags, TraceId, TraceState};
use opentelemetry_http::{HeaderExtractor, HeaderInjector};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{IdGenerator, RandomIdGenerator};
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// The `tracing` target of invocation spans: the only target the OTLP layer exports.
pub const SPAN_TARGET: &str = "wasmhost::invocation";

/// Whether invocation spans are made and exported; set once by
/// [`crate::trace::otlp_layer`] through [`export_spans`].
static EXPORTING: OnceLock<()> = OnceLock::new();

/// From now on, [`TraceContext::start`] makes the invocation's span (the OTLP layer exports
/// it). Called once, by [`crate::trace::otlp_layer`].
pub fn export_spans() {
    let _ = EXPORTING.set(());
}

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

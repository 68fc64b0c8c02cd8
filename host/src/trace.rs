//! Layer 3, traces: W3C Trace Context Level 1 (<https://www.w3.org/TR/trace-context/>) in and
//! out of every invocation (the value type, [`TraceContext`], is layer 1's, in
//! [`crate::invocation`]), and optional OTLP export of one span per invocation.
//!
//! In the request flow: the HTTP trigger reads `traceparent` / `tracestate` from the request
//! ([`TraceContext::start`]); a cron run starts a new trace. The invocation's own span context
//! (the caller's trace id, or a new one; a new span id) travels in its
//! [`crate::invocation::Invocation`], and outbound HTTP writes it into every request the guest
//! sends ([`TraceContext::inject`]), replacing any the guest set, so the callee's span is a
//! child of this invocation. Internal chaining goes through the same two steps.
//!
//! Export is off unless `--otlp-endpoint` (or `OTEL_EXPORTER_OTLP_ENDPOINT`) is given
//! ([`otlp_layer`]). Off, no span is made: the ids come from the SDK's random id generator, and
//! the per-request cost is two random ids and, when the client sent one, parsing its
//! `traceparent`. On, each invocation is a `tracing` span exported through
//! `tracing-opentelemetry` and `opentelemetry-otlp` (HTTP/protobuf, batched), with the ids of
//! that span.

use anyhow::{Context as _, Result};
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::WithExportConfig;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_subscriber::Layer;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::registry::LookupSpan;

use crate::invocation::trace_context::export_spans;
pub use crate::invocation::trace_context::{SPAN_TARGET, TRACEPARENT, TRACESTATE, TraceContext};

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
    export_spans();
    Ok((layer, provider))
}

//! End-to-end tests of W3C trace context and OTLP export: the real `wasmhost` binary serving
//! `tests/guests/http-probe`, which proxies to a real hyper [`Upstream`] that reports the
//! headers it got; with `--otlp-endpoint`, spans go to a real OTLP/HTTP [`Collector`] that
//! decodes them.

use std::time::Duration;

use wasmhost_tests::collector::attribute;
use wasmhost_tests::{Collector, Server, Upstream, guests, wasmhost_binary};

const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const CLIENT_SPAN: &str = "00f067aa0ba902b7";

fn start(upstream: &Upstream, collector: Option<&Collector>) -> (tempfile::TempDir, Server) {
    let manifest = format!(
        r#"manifest_version = 1
[application]
name = "traced"

[[trigger.http]]
route = "/probe/proxy"
component = "probe"
[[trigger.http]]
route = "/trap/..."
component = "trap"

[component.probe]
source = "{probe}"
allowed_outbound_hosts = ["http://127.0.0.1:{port}"]
[component.trap]
source = "{trap}"
"#,
        probe = guests::HTTP_PROBE,
        trap = guests::TRAP,
        port = upstream.addr.port(),
    );
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("wasmhost.toml");
    std::fs::write(&path, manifest).unwrap();
    let endpoint = collector.map(Collector::url);
    let mut args = vec![];
    if let Some(endpoint) = &endpoint {
        args.extend(["--otlp-endpoint", endpoint.as_str()]);
    }
    // Export batches every 100 ms rather than every 5 s.
    let server = Server::start_app_with_env(
        wasmhost_binary(),
        &path,
        &args,
        &[("OTEL_BSP_SCHEDULE_DELAY", "100")],
    )
    .unwrap();
    (dir, server)
}

/// Sends `GET /probe/proxy` to the upstream's `/headers` with `traceparent` and
/// `tracestate: vendor=abc` (if given); returns the `traceparent` the upstream received, split
/// into its four fields, and whether it got `tracestate: vendor=abc`.
async fn proxied_traceparent(
    server: &Server,
    upstream: &Upstream,
    sent: Option<&str>,
) -> (Vec<String>, bool) {
    let mut request = reqwest::Client::new()
        .get(server.url("/probe/proxy"))
        .header("x-target", upstream.url("/headers"));
    if let Some(sent) = sent {
        request = request
            .header("traceparent", sent)
            .header("tracestate", "vendor=abc");
    }
    let response = request.send().await.unwrap();
    assert_eq!(response.status(), 200);
    let headers = response.text().await.unwrap();
    let line = headers
        .lines()
        .find_map(|line| line.strip_prefix("traceparent: "))
        .unwrap_or_else(|| panic!("no traceparent upstream:\n{headers}"));
    let state = headers.contains("tracestate: vendor=abc");
    (line.split('-').map(str::to_owned).collect(), state)
}

#[tokio::test(flavor = "multi_thread")]
async fn an_inbound_traceparent_reaches_outbound_calls_as_the_parent_of_a_new_span() {
    let upstream = Upstream::start().await;
    let (_dir, server) = start(&upstream, None);
    let sent = format!("00-{TRACE_ID}-{CLIENT_SPAN}-01");
    let (fields, state) = proxied_traceparent(&server, &upstream, Some(&sent)).await;
    assert!(state, "tracestate goes along");
    assert_eq!(fields.len(), 4, "{fields:?}");
    assert_eq!(fields[0], "00");
    assert_eq!(fields[1], TRACE_ID, "the same trace");
    assert_ne!(fields[2], CLIENT_SPAN, "a new parent span");
    assert_eq!(fields[2].len(), 16);
    assert_eq!(fields[3], "01", "the sampled flag is kept");

    // Each invocation gets a span of its own.
    let (again, _) = proxied_traceparent(&server, &upstream, Some(&sent)).await;
    assert_eq!(again[1], TRACE_ID);
    assert_ne!(again[2], fields[2]);

    // Without one (or with a malformed one), a new trace starts, and it is propagated too.
    let (fresh, state) = proxied_traceparent(&server, &upstream, None).await;
    assert!(!state);
    assert_ne!(fresh[1], TRACE_ID);
    assert_eq!(fresh[1].len(), 32);
    let (repaired, state) =
        proxied_traceparent(&server, &upstream, Some("00-not-a-trace-01")).await;
    assert!(
        !state,
        "the tracestate of an invalid traceparent is dropped"
    );
    assert_eq!(repaired[1].len(), 32);
    assert_ne!(repaired[1], fresh[1]);
}

#[tokio::test(flavor = "multi_thread")]
async fn spans_are_exported_over_otlp_with_names_ids_and_attributes() {
    let upstream = Upstream::start().await;
    let collector = Collector::start().await;
    let (_dir, server) = start(&upstream, Some(&collector));
    let sent = format!("00-{TRACE_ID}-{CLIENT_SPAN}-01");
    let (fields, _) = proxied_traceparent(&server, &upstream, Some(&sent)).await;

    let span = collector
        .wait_for(Duration::from_secs(10), |s| s.name == "GET /probe/proxy")
        .await;
    assert_eq!(hex(&span.trace_id), TRACE_ID);
    assert_eq!(hex(&span.parent_span_id), CLIENT_SPAN);
    // The span exported is the one the outbound call named as its parent.
    assert_eq!(hex(&span.span_id), fields[2]);
    assert_eq!(span.kind, 2, "SPAN_KIND_SERVER");
    assert_eq!(
        attribute(&span, "wasmhost.component").as_deref(),
        Some("probe")
    );
    assert_eq!(attribute(&span, "wasmhost.app").as_deref(), Some("traced"));
    assert_eq!(
        attribute(&span, "wasmhost.trigger").as_deref(),
        Some("http")
    );
    assert_eq!(attribute(&span, "wasmhost.outcome").as_deref(), Some("ok"));
    assert_eq!(
        attribute(&span, "http.route").as_deref(),
        Some("/probe/proxy")
    );
    assert_eq!(
        attribute(&span, "http.response.status_code").as_deref(),
        Some("200")
    );
    assert_eq!(
        attribute(&span, "wasmhost.request_id").map(|id| id.len()),
        Some(36)
    );
    assert!(span.end_time_unix_nano > span.start_time_unix_nano);

    // A trap is an error span.
    let response = reqwest::get(server.url("/trap/now")).await.unwrap();
    assert_eq!(response.status(), 500);
    let span = collector
        .wait_for(Duration::from_secs(10), |s| s.name == "GET /trap/...")
        .await;
    assert_eq!(
        attribute(&span, "wasmhost.outcome").as_deref(),
        Some("trap")
    );
    assert_eq!(
        span.status.as_ref().map(|s| s.code),
        Some(2),
        "STATUS_CODE_ERROR"
    );
    drop(server);
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

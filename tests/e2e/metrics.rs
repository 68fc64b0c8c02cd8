//! End-to-end test of `/metrics`: the real `wasmhost` binary gets known traffic (guests that
//! answer, trap, run out of CPU time, use a key-value store and send outbound requests), then
//! its admin listener is scraped and parsed with `prometheus-parse`; every counter must be exact
//! and every histogram count must match.

use std::time::{Duration, Instant};

use prometheus_parse::{Sample, Scrape, Value};
use wasmhost_tests::{Server, Upstream, guests, wasmhost_binary};

fn start(upstream: &Upstream) -> (tempfile::TempDir, Server) {
    let manifest = format!(
        r#"manifest_version = 1
[application]
name = "metrics"

[[trigger.http]]
route = "/hello/:name"
component = "hello"
[[trigger.http]]
route = "/trap/..."
component = "trap"
[[trigger.http]]
route = "/count/:name"
component = "counter"
[[trigger.http]]
route = "/probe/repeat"
component = "probe"

[component.hello]
source = "{hello}"
[component.trap]
source = "{trap}"
[component.counter]
source = "{counter}"
key_value_stores = ["default"]
[component.probe]
source = "{probe}"
allowed_outbound_hosts = ["http://127.0.0.1:{port}"]
"#,
        hello = guests::HELLO,
        trap = guests::TRAP,
        counter = guests::KV_COUNTER,
        probe = guests::HTTP_PROBE,
        port = upstream.addr.port(),
    );
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("wasmhost.toml");
    std::fs::write(&path, manifest).unwrap();
    let server =
        Server::start_app(wasmhost_binary(), &path, &["--admin-listen", "127.0.0.1:0"]).unwrap();
    (dir, server)
}

async fn status(request: reqwest::RequestBuilder) -> u16 {
    request.send().await.unwrap().status().as_u16()
}

async fn scrape(server: &Server) -> Scrape {
    let url = format!("http://{}/metrics", server.admin_addr.unwrap());
    let response = reqwest::get(&url).await.unwrap();
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/openmetrics-text")
    );
    let text = response.text().await.unwrap();
    assert!(text.ends_with("# EOF\n"), "{text}");
    Scrape::parse(text.lines().map(|line| Ok(line.to_owned()))).unwrap()
}

/// The value of the sample `metric` whose labels include `labels`; 0 if there is none.
fn value(scrape: &Scrape, metric: &str, labels: &[(&str, &str)]) -> f64 {
    let matching: Vec<&Sample> = scrape
        .samples
        .iter()
        .filter(|s| s.metric == metric && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
        .collect();
    assert!(matching.len() <= 1, "{metric} {labels:?}: {matching:?}");
    match matching.first().map(|s| &s.value) {
        None => 0.0,
        Some(Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v)) => *v,
        Some(other) => panic!("{metric}: {other:?}"),
    }
}

/// The `+Inf` bucket of histogram `metric` with `labels`.
fn histogram_count(scrape: &Scrape, metric: &str, labels: &[(&str, &str)]) -> f64 {
    let sample = scrape
        .samples
        .iter()
        .find(|s| s.metric == metric && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
        .unwrap_or_else(|| panic!("no {metric} {labels:?}"));
    let Value::Histogram(buckets) = &sample.value else {
        panic!("{metric} is not a histogram: {:?}", sample.value)
    };
    buckets
        .iter()
        .find(|b| b.less_than.is_infinite())
        .expect("a +Inf bucket")
        .count
}

#[tokio::test(flavor = "multi_thread")]
async fn counters_are_exact_and_histogram_counts_match() {
    let upstream = Upstream::start().await;
    let (_dir, server) = start(&upstream);
    let client = reqwest::Client::new();
    let (ok, traps, timeouts, increments) = (5, 3, 2, 4);

    for i in 0..ok {
        assert_eq!(
            status(client.get(server.url(&format!("/hello/{i}")))).await,
            200
        );
    }
    for _ in 0..traps {
        assert_eq!(status(client.get(server.url("/trap/now"))).await, 500);
    }
    for _ in 0..timeouts {
        assert_eq!(status(client.get(server.url("/trap/loop"))).await, 504);
    }
    for _ in 0..increments {
        assert_eq!(status(client.get(server.url("/count/hits"))).await, 200);
    }
    // Three requests upstream in one invocation, then one to a host not granted.
    let repeat = |target: String, count: &str| {
        client
            .get(server.url("/probe/repeat"))
            .header("x-target", target)
            .header("x-count", count)
    };
    assert_eq!(status(repeat(upstream.url("/hello"), "3")).await, 200);
    assert_eq!(status(repeat("http://192.0.2.1/".into(), "1")).await, 200);

    // Invocations are counted when their guest returns; wait until every instance is gone.
    let deadline = Instant::now() + Duration::from_secs(10);
    let scrape = loop {
        let scrape = scrape(&server).await;
        if value(&scrape, "wasmhost_live_instances", &[]) == 0.0 {
            break scrape;
        }
        assert!(Instant::now() < deadline, "instances stay alive");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };

    let invocations = |component, outcome| {
        value(
            &scrape,
            "wasmhost_invocations_total",
            &[
                ("component", component),
                ("trigger", "http"),
                ("outcome", outcome),
            ],
        )
    };
    assert_eq!(invocations("hello", "ok"), f64::from(ok));
    assert_eq!(invocations("hello", "trap"), 0.0);
    assert_eq!(invocations("trap", "trap"), f64::from(traps));
    assert_eq!(invocations("trap", "timeout"), f64::from(timeouts));
    assert_eq!(invocations("trap", "ok"), 0.0);
    assert_eq!(invocations("counter", "ok"), f64::from(increments));
    assert_eq!(invocations("probe", "ok"), 2.0);

    let durations = |component| {
        histogram_count(
            &scrape,
            "wasmhost_invocation_duration_seconds",
            &[("component", component), ("trigger", "http")],
        )
    };
    assert_eq!(durations("hello"), f64::from(ok));
    assert_eq!(durations("trap"), f64::from(traps + timeouts));
    let instantiations = |component| {
        histogram_count(
            &scrape,
            "wasmhost_instantiation_duration_seconds",
            &[("component", component), ("trigger", "http")],
        )
    };
    assert_eq!(instantiations("hello"), f64::from(ok));
    assert_eq!(instantiations("trap"), f64::from(traps + timeouts));
    assert_eq!(
        value(
            &scrape,
            "wasmhost_invocation_duration_seconds_count",
            &[("component", "hello")]
        ),
        f64::from(ok)
    );

    // The timed-out runs each used their whole CPU deadline (1 s).
    let trap_seconds = value(
        &scrape,
        "wasmhost_invocation_duration_seconds_sum",
        &[("component", "trap")],
    );
    assert!(trap_seconds >= 2.0, "{trap_seconds}");

    assert_eq!(
        value(
            &scrape,
            "wasmhost_key_value_operations_total",
            &[("store", "default"), ("outcome", "ok")]
        ),
        f64::from(increments)
    );
    let granted = format!("http://127.0.0.1:{}", upstream.addr.port());
    let outbound = |host: &str, outcome| {
        value(
            &scrape,
            "wasmhost_outbound_http_requests_total",
            &[("component", "probe"), ("host", host), ("outcome", outcome)],
        )
    };
    assert_eq!(outbound(&granted, "ok"), 3.0);
    assert_eq!(outbound(&granted, "error"), 0.0);
    assert_eq!(outbound("", "denied"), 1.0);

    let lookups = value(
        &scrape,
        "wasmhost_compile_cache_lookups_total",
        &[("outcome", "hit")],
    ) + value(
        &scrape,
        "wasmhost_compile_cache_lookups_total",
        &[("outcome", "miss")],
    );
    assert_eq!(lookups, 4.0);

    // Labels stay bounded: no raw path appears.
    assert!(
        !scrape
            .samples
            .iter()
            .any(|s| s.labels.values().any(|v| v.contains("/hello/")))
    );
}

#[tokio::test]
async fn metrics_are_not_on_the_public_listener() {
    let upstream = Upstream::start().await;
    let (_dir, server) = start(&upstream);
    let response = reqwest::get(server.url("/metrics")).await.unwrap();
    assert_eq!(response.status(), 404);
}

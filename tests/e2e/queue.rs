//! End-to-end tests of queues on the embedded (sled) backend: the real `wasmhost` binary
//! serving `tests/guests/queue-probe`, which sends messages from HTTP requests and records
//! what its queue handler gets in the key-value store; the tests read that back over HTTP and
//! scrape `/metrics`.

use std::path::Path;
use std::time::{Duration, Instant};

use wasmhost_tests::{Server, guests, shared_compile_cache};

const BIN: &str = env!("CARGO_BIN_EXE_wasmhost");

/// Queues: `jobs` (2 retries, 100 ms backoff, its dead letters consumed too), `bulk` (batches
/// of up to 8), `crash` (batches of 32, only counted); `other` exists but is not granted.
fn manifest() -> String {
    format!(
        r#"manifest_version = 1
[application]
name = "queues"

[[trigger.http]]
route = "/send/:queue"
component = "probe"
[[trigger.http]]
route = "/kv/:key"
component = "probe"
[[trigger.http]]
route = "/seen"
component = "probe"

[[trigger.queue]]
queue = "jobs"
component = "probe"
max_retries = 2
retry_backoff_ms = 100
max_retry_backoff_ms = 400

[[trigger.queue]]
queue = "jobs-dead-letter"
component = "probe"

[[trigger.queue]]
queue = "bulk"
component = "probe"
batch_size = 8

[[trigger.queue]]
queue = "crash"
component = "probe"
batch_size = 32

[[trigger.queue]]
queue = "other"
component = "consumer"

[component.probe]
source = "{probe}"
key_value_stores = ["default"]
queues = ["jobs", "bulk", "crash"]

[component.consumer]
source = "{probe}"
key_value_stores = ["default"]
"#,
        probe = guests::QUEUE_PROBE,
    )
}

fn serve(dir: &Path) -> Server {
    let cache = shared_compile_cache();
    let manifest = dir.join("wasmhost.toml");
    Server::start(
        BIN.as_ref(),
        &[
            manifest.to_str().unwrap(),
            "--cache-dir",
            cache.to_str().unwrap(),
            "--admin-listen",
            "127.0.0.1:0",
        ],
    )
    .unwrap()
}

fn start() -> (tempfile::TempDir, Server) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("wasmhost.toml"), manifest()).unwrap();
    let server = serve(dir.path());
    (dir, server)
}

/// POSTs `body` to `/send/<queue>` with `headers`; the status and the body.
async fn send(server: &Server, queue: &str, body: &str, headers: &[(&str, &str)]) -> (u16, String) {
    let mut request = reqwest::Client::new()
        .post(server.url(&format!("/send/{queue}")))
        .body(body.to_owned());
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

async fn kv(server: &Server, key: &str) -> Option<String> {
    let response = reqwest::get(server.url(&format!("/kv/{key}")))
        .await
        .unwrap();
    match response.status().as_u16() {
        200 => Some(response.text().await.unwrap()),
        404 => None,
        status => panic!("GET /kv/{key}: {status}"),
    }
}

/// Waits up to 20 s until `key` is `want`.
async fn wait_for(server: &Server, key: &str, want: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let got = kv(server, key).await;
        if got.as_deref() == Some(want) {
            return;
        }
        assert!(Instant::now() < deadline, "{key} is {got:?}, not {want:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits up to 20 s until `key` has a value, and returns it.
async fn wait_some(server: &Server, key: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(value) = kv(server, key).await {
            return value;
        }
        assert!(Instant::now() < deadline, "{key} never set");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The value of the exposition line that starts with `series`.
async fn metric(server: &Server, series: &str) -> f64 {
    let text = reqwest::get(format!("http://{}/metrics", server.admin_addr.unwrap()))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .unwrap_or_else(|| panic!("no {series} in\n{text}"))
        .trim()
        .parse()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn messages_are_handled_once_in_order() {
    let (_dir, server) = start();
    let (status, ids) = send(&server, "jobs", "m", &[("x-count", "5")]).await;
    assert_eq!(status, 200, "{ids}");
    assert_eq!(ids.lines().count(), 5);
    wait_for(&server, "order", "m-0 m-1 m-2 m-3 m-4").await;
    for i in 0..5 {
        assert_eq!(
            kv(&server, &format!("seen:m-{i}")).await.as_deref(),
            Some("1")
        );
        assert_eq!(
            kv(&server, &format!("attempt:m-{i}")).await.as_deref(),
            Some("1")
        );
    }
    // Nothing comes twice.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(kv(&server, "seen:m-0").await.as_deref(), Some("1"));
    assert_eq!(
        metric(
            &server,
            r#"wasmhost_queue_handled_total{queue="jobs",outcome="acked"}"#
        )
        .await,
        5.0
    );
    assert_eq!(
        metric(&server, r#"wasmhost_queue_sent_total{queue="jobs"}"#).await,
        5.0
    );
    assert_eq!(
        metric(
            &server,
            r#"wasmhost_invocations_total{component="probe",trigger="queue",outcome="ok"}"#
        )
        .await,
        5.0
    );
    assert_eq!(
        metric(&server, r#"wasmhost_queue_depth{queue="jobs"}"#).await,
        0.0
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failing_message_is_retried_with_backoff_then_dead_lettered() {
    let (_dir, server) = start();
    assert_eq!(send(&server, "jobs", "fail-1", &[]).await.0, 200);
    assert_eq!(send(&server, "jobs", "trap-1", &[]).await.0, 200);
    // 1 attempt + 2 retries each, then the dead-letter queue, with the last error.
    wait_for(&server, "dead:fail-1", "3|asked to fail on fail-1").await;
    assert_eq!(kv(&server, "seen:fail-1").await.as_deref(), Some("3"));
    assert_eq!(kv(&server, "attempt:fail-1").await.as_deref(), Some("3"));
    let dead = wait_some(&server, "dead:trap-1").await;
    assert!(dead.starts_with("3|trapped: "), "{dead}");
    assert_eq!(kv(&server, "seen:trap-1").await.as_deref(), Some("3"));
    assert_eq!(
        metric(
            &server,
            r#"wasmhost_queue_handled_total{queue="jobs",outcome="retried"}"#
        )
        .await,
        4.0
    );
    assert_eq!(
        metric(
            &server,
            r#"wasmhost_queue_handled_total{queue="jobs",outcome="dead_lettered"}"#
        )
        .await,
        2.0
    );
    let log = server.log_with("message moved to the dead-letter queue");
    assert!(
        log.contains("queue handler failed: asked to fail on fail-1"),
        "{log}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_delayed_message_waits_for_its_time() {
    let (_dir, server) = start();
    let sent_at = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis();
    assert_eq!(
        send(&server, "jobs", "later", &[("x-delay-ms", "1500")])
            .await
            .0,
        200
    );
    assert_eq!(send(&server, "jobs", "now", &[]).await.0, 200);
    // `order` is appended after every other record of a message.
    wait_for(&server, "order", "now later").await;
    let handled_at: u128 = kv(&server, "at:later").await.unwrap().parse().unwrap();
    assert!(handled_at >= sent_at + 1500, "{} ms", handled_at - sent_at);
}

#[tokio::test(flavor = "multi_thread")]
async fn batches_hold_up_to_batch_size_messages() {
    let (_dir, server) = start();
    assert_eq!(
        send(&server, "bulk", "b", &[("x-count", "20")]).await.0,
        200
    );
    wait_for(&server, "seen:b-19", "1").await;
    let batches: Vec<usize> = kv(&server, "batches")
        .await
        .unwrap()
        .split(' ')
        .map(|n| n.parse().unwrap())
        .collect();
    assert_eq!(batches.iter().sum::<usize>(), 20, "{batches:?}");
    assert!(batches.iter().all(|&n| (1..=8).contains(&n)), "{batches:?}");
    assert!(batches.iter().any(|&n| n > 1), "{batches:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn sending_to_a_queue_not_granted_is_access_denied() {
    let (_dir, server) = start();
    let (status, body) = send(&server, "other", "x", &[]).await;
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("access denied"), "{body}");
    let (status, _) = send(&server, "nonexistent", "x", &[]).await;
    assert_eq!(status, 403);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_consumer_continues_the_senders_trace() {
    let (_dir, server) = start();
    let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
    let parent = format!("00-{trace_id}-00f067aa0ba902b7-01");
    assert_eq!(
        send(&server, "jobs", "traced", &[("traceparent", &parent)])
            .await
            .0,
        200
    );
    // The probe records the trace after the count: wait for the trace itself.
    let trace = wait_some(&server, "trace:traced").await;
    let fields: Vec<&str> = trace.split('-').collect();
    assert_eq!(fields[1], trace_id, "{trace}");
    assert_ne!(
        fields[2], "00f067aa0ba902b7",
        "the sender's own span: {trace}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn sent_messages_survive_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("wasmhost.toml"), manifest()).unwrap();
    let mut server = serve(dir.path());
    // Due in 3 s: certainly not handled before the kill.
    let (status, ids) = send(
        &server,
        "jobs",
        "durable",
        &[("x-count", "50"), ("x-delay-ms", "3000")],
    )
    .await;
    assert_eq!(status, 200, "{ids}");
    server.kill();
    let server = serve(dir.path());
    wait_for(&server, "seen:durable-49", "1").await;
    for i in 0..50 {
        assert_eq!(
            kv(&server, &format!("seen:durable-{i}")).await.as_deref(),
            Some("1"),
            "durable-{i}"
        );
    }
}

/// The crash test: 10 000 messages sent through HTTP in batches of 100; the host is killed with
/// SIGKILL halfway, while its consumer is busy, and restarted. Every message whose send was
/// answered 200 is handled, none is missing; the duplicates (messages handled again after the
/// restart because their acknowledgement was lost) are counted and printed.
#[tokio::test(flavor = "multi_thread")]
async fn kill_9_mid_stream_loses_no_message() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("wasmhost.toml"), manifest()).unwrap();
    let mut server = serve(dir.path());
    for chunk in 0..100 {
        if chunk == 50 {
            server.kill();
            server = serve(dir.path());
        }
        let body = format!("c{chunk}");
        let (status, ids) = send(&server, "crash", &body, &[("x-count", "100")]).await;
        assert_eq!(status, 200, "chunk {chunk}: {ids}");
    }
    let deadline = Instant::now() + Duration::from_secs(180);
    let (keys, total) = loop {
        let seen = reqwest::get(server.url("/seen"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let (keys, total) = seen.trim().split_once(' ').unwrap();
        let (keys, total): (u64, u64) = (keys.parse().unwrap(), total.parse().unwrap());
        if keys == 10_000 {
            break (keys, total);
        }
        assert!(
            Instant::now() < deadline,
            "only {keys} of 10 000 messages handled"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    eprintln!(
        "crash test: {keys} distinct messages handled, {} duplicates",
        total - keys
    );
    assert!(total >= keys);
}

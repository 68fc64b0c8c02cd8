//! End-to-end tests of queues on both backends, sled and Redis Streams (a real
//! `redis-server`, which these tests start; a missing one fails them, never skips): the real
//! `wasmhost` binary serving `tests/guests/queue-probe`, which sends messages from HTTP
//! requests and records what its queue handler gets in the key-value store (on Redis too, for
//! the Redis runs, so two nodes share it); the tests read that back over HTTP and scrape
//! `/metrics`.

use std::path::Path;
use std::time::{Duration, Instant};

use wasmhost_tests::{RedisServer, Server, guests, wasmhost_binary};

/// Queues: `jobs` (2 retries, 100 ms backoff, its dead letters consumed too), `bulk` (batches
/// of up to 8), `crash` (batches of 32, only counted), `cli` (no retry; its dead letters left
/// for the `wasmhost queue` commands); `other` exists but is not granted. Topic `news` has
/// three subscriptions, `a`, `b` and `c`, each a component of its own (the same probe, told
/// its name by the config key `subscriber`); `probe` may publish to it.
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
[[trigger.http]]
route = "/publish/:topic"
component = "probe"

[[trigger.topic]]
topic = "news"
subscription = "a"
component = "sub-a"
[[trigger.topic]]
topic = "news"
subscription = "b"
component = "sub-b"
[[trigger.topic]]
topic = "news"
subscription = "c"
component = "sub-c"
batch_size = 4

[[trigger.queue]]
queue = "cli"
component = "probe"
max_retries = 0

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

[[trigger.queue]]
queue = "hang"
component = "probe"
max_retries = 1

[[trigger.queue]]
queue = "hang-dead-letter"
component = "probe"

[[trigger.queue]]
queue = "marks-a"
component = "probe"
batch_size = 8
max_retries = 1
retry_backoff_ms = 100
[[trigger.queue]]
queue = "marks-a-dead-letter"
component = "probe"
[[trigger.queue]]
queue = "marks-b"
component = "probe"
batch_size = 8
[[trigger.queue]]
queue = "marks-c"
component = "probe"
max_retries = 1
retry_backoff_ms = 100
[[trigger.queue]]
queue = "marks-c-dead-letter"
component = "probe"

[component.probe]
source = "{probe}"
key_value_stores = ["default"]
queues = ["jobs", "bulk", "crash", "cli", "hang", "marks-a", "marks-b", "marks-c"]
topics = ["news"]

[component.consumer]
source = "{probe}"
key_value_stores = ["default"]

[component.sub-a]
source = "{probe}"
key_value_stores = ["default"]
[component.sub-a.variables]
subscriber = "a"
[component.sub-b]
source = "{probe}"
key_value_stores = ["default"]
[component.sub-b.variables]
subscriber = "b"
[component.sub-c]
source = "{probe}"
key_value_stores = ["default"]
[component.sub-c.variables]
subscriber = "c"
"#,
        probe = guests::QUEUE_PROBE,
    )
}

/// Where the app's queues (and its `default` store) live.
enum Backend {
    Sled,
    Redis(RedisServer),
}

/// The runtime config putting every queue of [`manifest`] and the `default` store on `redis`,
/// with a visibility timeout of [`VISIBILITY_MS`].
fn redis_config(redis: &RedisServer) -> String {
    let url = redis.url();
    let mut config =
        format!("[key_value_store.default]\ntype = \"redis\"\nurl = \"{url}\"\nprefix = \"e2e\"\n");
    for queue in [
        "jobs",
        "jobs-dead-letter",
        "bulk",
        "crash",
        "other",
        "other-dead-letter",
        "cli",
        "cli-dead-letter",
        "hang",
        "hang-dead-letter",
        "news-a-dead-letter",
        "news-b-dead-letter",
        "news-c-dead-letter",
        "marks-a",
        "marks-a-dead-letter",
        "marks-b",
        "marks-b-dead-letter",
        "marks-c",
        "marks-c-dead-letter",
    ] {
        config += &format!(
            "[queue.{queue}]\ntype = \"redis\"\nurl = \"{url}\"\nprefix = \"e2e\"\nvisibility_timeout_ms = {VISIBILITY_MS}\n"
        );
    }
    config += &format!("[topic.news]\ntype = \"redis\"\nurl = \"{url}\"\nprefix = \"e2e\"\n");
    config
}

/// A running app on one backend.
struct App {
    dir: tempfile::TempDir,
    backend: Backend,
    server: Server,
}

impl App {
    fn start(backend: Backend) -> Self {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("wasmhost.toml"), manifest()).unwrap();
        if let Backend::Redis(redis) = &backend {
            std::fs::write(dir.path().join("runtime.toml"), redis_config(redis)).unwrap();
        }
        let server = serve(dir.path());
        Self {
            dir,
            backend,
            server,
        }
    }

    /// Kills the host with SIGKILL and starts it again on the same directory.
    fn kill_and_restart(&mut self) {
        self.server.kill();
        self.server = serve(self.dir.path());
    }
}

/// Every handler's wall-clock timeout here (`--timeout-ms`): 2 s.
const TIMEOUT_MS: &str = "2000";
/// Every Redis queue's visibility timeout here: the handler's timeout plus the 1 s margin.
const VISIBILITY_MS: u64 = 3000;

/// The admin token of these apps (`--admin-token-file`), for the topic ingress.
const ADMIN_TOKEN: &str = "e2e-admin-token";

fn serve(dir: &Path) -> Server {
    let config = dir.join("runtime.toml");
    let token = dir.join("admin.token");
    std::fs::write(&token, format!("{ADMIN_TOKEN}\n")).unwrap();
    let mut args = vec![
        "--admin-listen",
        "127.0.0.1:0",
        "--admin-token-file",
        token.to_str().unwrap(),
        "--timeout-ms",
        TIMEOUT_MS,
    ];
    if config.exists() {
        args.extend(["--runtime-config", config.to_str().unwrap()]);
    }
    Server::start_app(wasmhost_binary(), &dir.join("wasmhost.toml"), &args).unwrap()
}

/// Generates, for each test function `f(App)`, `sled::f` and `redis::f`.
macro_rules! on_both_backends {
    ($($test:ident),* $(,)?) => {
        mod sled {
            $(
                #[tokio::test(flavor = "multi_thread")]
                async fn $test() {
                    super::$test(super::App::start(super::Backend::Sled)).await;
                }
            )*
        }
        mod redis {
            $(
                #[tokio::test(flavor = "multi_thread")]
                async fn $test() {
                    let redis = super::Backend::Redis(super::RedisServer::start());
                    super::$test(super::App::start(redis)).await;
                }
            )*
        }
    };
}

on_both_backends!(
    messages_are_handled_once_in_order,
    a_failing_message_is_retried_with_backoff_then_dead_lettered,
    a_handler_decides_per_message_with_ack_and_retry,
    a_delayed_message_waits_for_its_time,
    batches_hold_up_to_batch_size_messages,
    sending_to_a_queue_not_granted_is_access_denied,
    the_consumer_continues_the_senders_trace,
    sent_messages_survive_kill_9,
    kill_9_mid_stream_loses_no_message,
    kill_9_mid_batch_redelivers_the_batch,
    a_handler_that_loops_or_runs_out_of_memory_is_retried_and_the_consumer_goes_on,
    a_topic_gives_every_subscription_every_event_once,
    the_queue_commands_peek_and_redrive_dead_letters,
    a_message_that_crashes_the_host_ends_in_the_dead_letter_queue,
    a_huge_handler_error_is_cut_where_it_is_logged_and_stored,
);

/// POSTs `body` to `/send/<queue>` with `headers`; the status and the body.
async fn send(server: &Server, queue: &str, body: &str, headers: &[(&str, &str)]) -> (u16, String) {
    send_to(server, &format!("/send/{queue}"), body, headers).await
}

/// POSTs `body` to `path` with `headers`; the status and the body.
async fn send_to(
    server: &Server,
    path: &str,
    body: &str,
    headers: &[(&str, &str)],
) -> (u16, String) {
    let mut request = reqwest::Client::new()
        .post(server.url(path))
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
    server.metric(series)
}

async fn messages_are_handled_once_in_order(app: App) {
    let server = &app.server;
    let (status, ids) = send(server, "jobs", "m", &[("x-count", "5")]).await;
    assert_eq!(status, 200, "{ids}");
    assert_eq!(ids.lines().count(), 5);
    wait_for(server, "order", "m-0 m-1 m-2 m-3 m-4").await;
    for i in 0..5 {
        assert_eq!(
            kv(server, &format!("seen:m-{i}")).await.as_deref(),
            Some("1")
        );
        assert_eq!(
            kv(server, &format!("attempt:m-{i}")).await.as_deref(),
            Some("1")
        );
    }
    // Nothing comes twice.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(kv(server, "seen:m-0").await.as_deref(), Some("1"));
    assert_eq!(
        metric(
            server,
            r#"wasmhost_queue_handled_total{queue="jobs",outcome="acked"}"#
        )
        .await,
        5.0
    );
    assert_eq!(
        metric(server, r#"wasmhost_queue_sent_total{queue="jobs"}"#).await,
        5.0
    );
    assert_eq!(
        metric(
            server,
            r#"wasmhost_invocations_total{component="probe",trigger="queue",outcome="ok"}"#
        )
        .await,
        5.0
    );
    assert_eq!(
        metric(server, r#"wasmhost_queue_depth{queue="jobs"}"#).await,
        0.0
    );
    assert_eq!(
        metric(
            server,
            r#"wasmhost_queue_delivery_delay_seconds_count{queue="jobs"}"#
        )
        .await,
        5.0
    );
}

async fn a_failing_message_is_retried_with_backoff_then_dead_lettered(app: App) {
    let server = &app.server;
    assert_eq!(send(server, "jobs", "fail-1", &[]).await.0, 200);
    assert_eq!(send(server, "jobs", "trap-1", &[]).await.0, 200);
    // 1 attempt + 2 retries each, then the dead-letter queue, with the last error.
    wait_for(server, "dead:fail-1", "3|asked to fail on fail-1").await;
    assert_eq!(kv(server, "seen:fail-1").await.as_deref(), Some("3"));
    assert_eq!(kv(server, "attempt:fail-1").await.as_deref(), Some("3"));
    // The retries come after a growing backoff: 100 ms then 200 ms, each plus up to as much
    // jitter.
    let times: Vec<u64> = kv(server, "times:fail-1")
        .await
        .unwrap()
        .split(' ')
        .map(|t| t.parse().unwrap())
        .collect();
    assert_eq!(times.len(), 3, "{times:?}");
    assert!(times[1] - times[0] >= 100, "{times:?}");
    assert!(times[2] - times[1] >= 200, "{times:?}");
    let dead = wait_some(server, "dead:trap-1").await;
    assert!(dead.starts_with("3|trapped: "), "{dead}");
    assert_eq!(kv(server, "seen:trap-1").await.as_deref(), Some("3"));
    assert_eq!(
        metric(
            server,
            r#"wasmhost_queue_handled_total{queue="jobs",outcome="retried"}"#
        )
        .await,
        4.0
    );
    assert_eq!(
        metric(
            server,
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

async fn a_handler_decides_per_message_with_ack_and_retry(app: App) {
    let server = &app.server;
    // One batch that fails: the message acknowledged on its own is not delivered again; the
    // others are retried (each after its own jittered backoff, so not always together).
    let bodies = [("x-bodies", "ack-a,plain-a,fail-a")];
    assert_eq!(send(server, "marks-a", "", &bodies).await.0, 200);
    wait_for(server, "dead:fail-a", "2|asked to fail on fail-a").await;
    wait_for(server, "attempt:plain-a", "2").await;
    assert_eq!(kv(server, "seen:ack-a").await.as_deref(), Some("1"));
    assert_eq!(kv(server, "dead:ack-a").await, None);
    // One batch that succeeds: the message sent back comes again (after its 50 ms), alone.
    let bodies = [("x-bodies", "retry-b,plain-b")];
    assert_eq!(send(server, "marks-b", "", &bodies).await.0, 200);
    wait_for(server, "attempt:retry-b", "2").await;
    let times: Vec<u64> = wait_some(server, "times:retry-b")
        .await
        .split(' ')
        .map(|t| t.parse().unwrap())
        .collect();
    assert!(times[1] - times[0] >= 50, "{times:?}");
    assert_eq!(kv(server, "seen:plain-b").await.as_deref(), Some("1"));
    // A message sent back every time uses up its retries like a failure.
    assert_eq!(send(server, "marks-c", "retryalways-c", &[]).await.0, 200);
    wait_for(server, "dead:retryalways-c", "2|retried by the handler").await;
    assert_eq!(kv(server, "seen:retryalways-c").await.as_deref(), Some("2"));
}

async fn a_delayed_message_waits_for_its_time(app: App) {
    let server = &app.server;
    let sent_at = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis();
    assert_eq!(
        send(server, "jobs", "later", &[("x-delay-ms", "1500")])
            .await
            .0,
        200
    );
    assert_eq!(send(server, "jobs", "now", &[]).await.0, 200);
    // `order` is appended after every other record of a message.
    wait_for(server, "order", "now later").await;
    let handled_at: u128 = kv(server, "at:later").await.unwrap().parse().unwrap();
    assert!(handled_at >= sent_at + 1500, "{} ms", handled_at - sent_at);
}

async fn batches_hold_up_to_batch_size_messages(app: App) {
    let server = &app.server;
    assert_eq!(send(server, "bulk", "b", &[("x-count", "20")]).await.0, 200);
    wait_for(server, "seen:b-19", "1").await;
    let batches: Vec<usize> = kv(server, "batches")
        .await
        .unwrap()
        .split(' ')
        .map(|n| n.parse().unwrap())
        .collect();
    assert_eq!(batches.iter().sum::<usize>(), 20, "{batches:?}");
    assert!(batches.iter().all(|&n| (1..=8).contains(&n)), "{batches:?}");
    assert!(batches.iter().any(|&n| n > 1), "{batches:?}");
}

async fn sending_to_a_queue_not_granted_is_access_denied(app: App) {
    let server = &app.server;
    let (status, body) = send(server, "other", "x", &[]).await;
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("access denied"), "{body}");
    let (status, _) = send(server, "nonexistent", "x", &[]).await;
    assert_eq!(status, 403);
    // The host's log names the queue and the grant that would allow it.
    let log = server.log_with(r#"queues = ["nonexistent"]"#);
    assert!(
        log.lines().any(|line| line.contains("WARN")
            && line.contains("queue `nonexistent` denied")
            && line.contains(r#"queues = ["nonexistent"]"#)),
        "{log}"
    );
}

async fn the_consumer_continues_the_senders_trace(app: App) {
    let server = &app.server;
    let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
    let parent = format!("00-{trace_id}-00f067aa0ba902b7-01");
    assert_eq!(
        send(server, "jobs", "traced", &[("traceparent", &parent)])
            .await
            .0,
        200
    );
    // The probe records the trace after the count: wait for the trace itself.
    let trace = wait_some(server, "trace:traced").await;
    let fields: Vec<&str> = trace.split('-').collect();
    assert_eq!(fields[1], trace_id, "{trace}");
    assert_ne!(
        fields[2], "00f067aa0ba902b7",
        "the sender's own span: {trace}"
    );
}

async fn a_handler_that_loops_or_runs_out_of_memory_is_retried_and_the_consumer_goes_on(app: App) {
    let server = &app.server;
    for body in ["loop-1", "oom-1", "after-1"] {
        assert_eq!(send(server, "jobs", body, &[]).await.0, 200);
    }
    // Each hostile message fails its 3 attempts (the loop at the 1 s CPU deadline), then goes
    // to the dead-letter queue; the message after them is handled all the same.
    wait_for(server, "seen:after-1", "1").await;
    let looped = wait_some(server, "dead:loop-1").await;
    assert!(looped.starts_with("3|trapped: "), "{looped}");
    let hoarded = wait_some(server, "dead:oom-1").await;
    assert!(hoarded.starts_with("3|trapped: "), "{hoarded}");
    assert_eq!(kv(server, "seen:loop-1").await.as_deref(), Some("3"));
    let outcome = |outcome: &str| {
        format!(
            r#"wasmhost_invocations_total{{component="probe",trigger="queue",outcome="{outcome}"}}"#
        )
    };
    assert_eq!(metric(server, &outcome("timeout")).await, 3.0);
    assert!(metric(server, &outcome("trap")).await >= 3.0);
    // The host still serves.
    assert_eq!(send(server, "jobs", "later-1", &[]).await.0, 200);
    wait_for(server, "seen:later-1", "1").await;
}

async fn a_topic_gives_every_subscription_every_event_once(app: App) {
    let server = &app.server;
    let (status, ids) = send_to(server, "/publish/news", "e", &[("x-count", "5")]).await;
    assert_eq!(status, 200, "{ids}");
    assert_eq!(ids.lines().count(), 5);

    // The admin listener's ingress takes CloudEvents in binary and structured mode.
    let ingress = format!(
        "http://{}/.well-known/wasmhost/topics/news",
        server.admin_addr.unwrap()
    );
    let client = admin_client(Some(ADMIN_TOKEN));
    let binary = client
        .post(&ingress)
        .header("ce-type", "ingress.event")
        .header("ce-subject", "in-bin")
        .header("content-type", "text/plain")
        .body("from outside")
        .send()
        .await
        .unwrap();
    assert_eq!(binary.status().as_u16(), 202);
    let structured = client
        .post(&ingress)
        .header("content-type", "application/cloudevents+json")
        .body(
            r#"{"specversion":"1.0","id":"s-1","source":"https://example.com/x",
                "type":"ingress.structured","subject":"in-struct",
                "datacontenttype":"application/json","data":{"n":1}}"#,
        )
        .send()
        .await
        .unwrap();
    assert_eq!(structured.status().as_u16(), 202);
    assert_eq!(structured.text().await.unwrap(), "s-1\n");
    let refused = client.post(&ingress).body("no type").send().await.unwrap();
    assert_eq!(refused.status().as_u16(), 400);
    assert!(refused.text().await.unwrap().contains("not a CloudEvent"));
    let unknown = client
        .post(ingress.replace("/news", "/nope"))
        .header("ce-type", "t")
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status().as_u16(), 404);

    let subjects = ["e-0", "e-1", "e-2", "e-3", "e-4", "in-bin", "in-struct"];
    for subscriber in ["a", "b", "c"] {
        for subject in subjects {
            wait_for(server, &format!("event:{subscriber}:{subject}"), "1").await;
        }
    }
    // Nothing comes twice.
    tokio::time::sleep(Duration::from_millis(500)).await;
    for subscriber in ["a", "b", "c"] {
        for subject in subjects {
            let key = format!("event:{subscriber}:{subject}");
            assert_eq!(kv(server, &key).await.as_deref(), Some("1"), "{key}");
        }
    }
    assert_eq!(
        kv(server, "event-meta:e-3").await.as_deref(),
        Some("news|test.event|/queues/probe|text/plain|e-3")
    );
    assert_eq!(
        kv(server, "event-meta:in-bin").await.as_deref(),
        Some("news|ingress.event|/queues/ingress|text/plain|from outside")
    );
    assert_eq!(
        kv(server, "event-meta:in-struct").await.as_deref(),
        Some(r#"news|ingress.structured|https://example.com/x|application/json|{"n":1}"#)
    );
    assert_eq!(
        metric(server, r#"wasmhost_queue_sent_total{queue="news.b"}"#).await,
        7.0
    );
    // A topic the component is not granted.
    let (status, body) = send_to(server, "/publish/other", "x", &[]).await;
    assert_eq!(status, 403, "{body}");
    // An event the spec does not allow: an empty type.
    let (status, body) = send_to(server, "/publish/news", "x", &[("x-type", "")]).await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("`type` must not be empty"), "{body}");
}

/// `wasmhost queue ...` against the queues of a stopped app (a sled database is held by one
/// process; Redis would not need the stop).
async fn the_queue_commands_peek_and_redrive_dead_letters(mut app: App) {
    assert_eq!(send(&app.server, "cli", "fail-cli", &[]).await.0, 200);
    wait_for(&app.server, "seen:fail-cli", "1").await;
    let dead = r#"wasmhost_queue_depth{queue="cli-dead-letter"}"#;
    let deadline = Instant::now() + Duration::from_secs(20);
    while metric(&app.server, dead).await != 1.0 {
        assert!(Instant::now() < deadline, "never dead-lettered");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // sled persists acknowledgements within 500 ms (only sends are fsynced at once): a kill
    // sooner could deliver `fail-cli` once more, as at-least-once allows.
    tokio::time::sleep(Duration::from_secs(1)).await;
    app.server.kill();
    let dir = app.dir.path().to_owned();
    let queue = |args: &[&str]| -> (bool, String, String) {
        let mut all = vec!["queue"];
        all.extend_from_slice(args);
        let manifest = dir.join("wasmhost.toml");
        let config = dir.join("runtime.toml");
        all.extend(["--app", manifest.to_str().unwrap()]);
        if config.exists() {
            all.extend(["--runtime-config", config.to_str().unwrap()]);
        }
        wasmhost_tests::run(wasmhost_binary(), &all).unwrap()
    };
    let json = |line: &str| -> serde_json::Value { serde_json::from_str(line).unwrap() };

    let (ok, out, err) = queue(&["dead-letters", "cli"]);
    assert!(ok, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 1, "{out}");
    let letter = json(lines[0]);
    assert_eq!(letter["body"], "fail-cli");
    assert_eq!(letter["attributes"]["wasmhost-attempts"], "1");
    assert_eq!(
        letter["attributes"]["wasmhost-error"],
        "asked to fail on fail-cli"
    );

    let (ok, _, err) = queue(&["redrive", "cli"]);
    assert!(ok && err.contains("moved 1 messages"), "{err}");
    let (ok, out, _) = queue(&["dead-letters", "cli"]);
    assert!(ok && out.is_empty(), "{out}");
    let (ok, id, err) = queue(&["send", "cli", "--body", "ok-cli", "--attribute", "k=v"]);
    assert!(ok && !id.trim().is_empty(), "{err}");
    let (ok, out, _) = queue(&["peek", "cli"]);
    assert!(ok);
    let waiting: Vec<serde_json::Value> = out.lines().map(json).collect();
    assert_eq!(waiting.len(), 2, "{out}");
    assert_eq!(waiting[0]["body"], "fail-cli");
    assert!(waiting[0]["attributes"].get("wasmhost-error").is_none());
    assert_eq!(waiting[1]["body"], "ok-cli");
    assert_eq!(waiting[1]["attributes"]["k"], "v");
    assert_eq!(waiting[1]["id"], id.trim());

    let (ok, _, err) = queue(&["peek", "nope"]);
    assert!(
        !ok && err.contains("no queue `nope`") && err.contains("cli-dead-letter"),
        "{err}"
    );
    let (ok, _, err) = queue(&["dead-letters", "other-dead-letter"]);
    assert!(
        !ok && err.contains("no `[[trigger.queue]]` consumes"),
        "{err}"
    );

    // Served again, both are handled: the redriven message fails once more.
    app.server = serve(app.dir.path());
    wait_for(&app.server, "seen:ok-cli", "1").await;
    wait_for(&app.server, "seen:fail-cli", "2").await;
}

async fn sent_messages_survive_kill_9(mut app: App) {
    // Due in 3 s: certainly not handled before the kill.
    let (status, ids) = send(
        &app.server,
        "jobs",
        "durable",
        &[("x-count", "50"), ("x-delay-ms", "3000")],
    )
    .await;
    assert_eq!(status, 200, "{ids}");
    app.kill_and_restart();
    let server = &app.server;
    wait_for(server, "seen:durable-49", "1").await;
    for i in 0..50 {
        assert_eq!(
            kv(server, &format!("seen:durable-{i}")).await.as_deref(),
            Some("1"),
            "durable-{i}"
        );
    }
}

/// Waits up to 10 s until the `queue` trigger holds messages in flight (the metric, read
/// from the backend at the scrape).
async fn wait_in_flight(server: &Server, queue: &str) {
    let series = format!(r#"wasmhost_queue_in_flight{{queue="{queue}"}}"#);
    let deadline = Instant::now() + Duration::from_secs(10);
    while metric(server, &series).await < 1.0 {
        assert!(
            Instant::now() < deadline,
            "nothing ever in flight on `{queue}`"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Waits up to 180 s until `want` distinct messages are seen; returns the total deliveries.
async fn wait_seen(server: &Server, want: u64) -> u64 {
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        let seen = reqwest::get(server.url("/seen"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let (keys, total) = seen.trim().split_once(' ').unwrap();
        let (keys, total): (u64, u64) = (keys.parse().unwrap(), total.parse().unwrap());
        if keys == want {
            return total;
        }
        assert!(
            Instant::now() < deadline,
            "only {keys} of {want} messages handled"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// A kill in the middle of a batch: 40 messages whose handler takes 100 ms each, in batches
/// of 8; the host is killed with SIGKILL while a batch is in its handler (in flight, seen, not
/// acknowledged) and restarted. Every message is handled, and the interrupted batch again.
async fn kill_9_mid_batch_redelivers_the_batch(mut app: App) {
    let (status, ids) = send(&app.server, "bulk", "sleep100-b", &[("x-count", "40")]).await;
    assert_eq!(status, 200, "{ids}");
    wait_in_flight(&app.server, "bulk").await;
    tokio::time::sleep(Duration::from_millis(150)).await;
    app.kill_and_restart();
    let total = wait_seen(&app.server, 40).await;
    assert!(
        total > 40,
        "the batch killed in its handler was not delivered again ({total} deliveries)"
    );
}

/// The crash test: 10 000 messages sent through HTTP in batches of 100; the host is killed with
/// SIGKILL halfway, while its consumer holds messages in flight, and restarted. Every message
/// whose send was answered 200 is handled, none is missing; the duplicates (messages handled
/// again after the restart because their acknowledgement was lost) are counted and printed.
async fn kill_9_mid_stream_loses_no_message(mut app: App) {
    for chunk in 0..100 {
        if chunk == 50 {
            wait_in_flight(&app.server, "crash").await;
            app.kill_and_restart();
        }
        let body = format!("c{chunk}");
        let (status, ids) = send(&app.server, "crash", &body, &[("x-count", "100")]).await;
        assert_eq!(status, 200, "chunk {chunk}: {ids}");
    }
    let keys = 10_000;
    let total = wait_seen(&app.server, keys).await;
    eprintln!(
        "crash test: {keys} distinct messages handled, {} duplicates",
        total - keys
    );
    assert!(total >= keys);
}

/// `redis-server` itself killed with SIGKILL mid-stream and restarted (with its append-only
/// file): sends fail while it is down (never a 200), the consumer waits and goes on once it is
/// back, and every message whose send was answered 200 is handled.
#[tokio::test(flavor = "multi_thread")]
async fn redis_killed_mid_stream_loses_nothing_acknowledged() {
    let mut app = App::start(Backend::Redis(RedisServer::start()));
    let mut acknowledged = Vec::new();
    for chunk in 0..30 {
        if chunk == 10 {
            wait_in_flight(&app.server, "crash").await;
            let Backend::Redis(redis) = &mut app.backend else {
                unreachable!()
            };
            redis.kill();
        }
        if chunk == 15 {
            let Backend::Redis(redis) = &mut app.backend else {
                unreachable!()
            };
            redis.restart();
        }
        let body = format!("r{chunk}");
        let (status, ids) = send(&app.server, "crash", &body, &[("x-count", "20")]).await;
        match status {
            200 => acknowledged.push(body),
            _ => assert!(
                (10..15).contains(&chunk),
                "chunk {chunk} failed with Redis up: {status} {ids}"
            ),
        }
    }
    assert!(
        acknowledged.len() >= 20,
        "sends failed after the restart: {acknowledged:?}"
    );
    for body in &acknowledged {
        for i in 0..20 {
            let key = format!("seen:{body}-{i}");
            let deadline = Instant::now() + Duration::from_secs(60);
            // Read through the app, whose store reconnects to the restarted Redis on its own:
            // a 500 while it does is "not yet".
            loop {
                let url = app.server.url(&format!("/kv/{key}"));
                if reqwest::get(url).await.unwrap().status() == 200 {
                    break;
                }
                assert!(
                    Instant::now() < deadline,
                    "{key}: acknowledged, never handled"
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

/// A client sending `Authorization: Bearer <token>` (none without a token).
fn admin_client(token: Option<&str>) -> reqwest::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    if let Some(token) = token {
        headers.insert("authorization", format!("Bearer {token}").parse().unwrap());
    }
    reqwest::Client::builder()
        .default_headers(headers)
        .build()
        .unwrap()
}

/// The topic ingress, a write endpoint, needs the bearer token of `--admin-token-file`: 401
/// without it or with another one, 202 with it; a node started without a token answers 403;
/// health, readiness and metrics need no token (issue 18: the admin listener had no
/// authentication).
#[tokio::test(flavor = "multi_thread")]
async fn the_topic_ingress_needs_the_admin_token() {
    let app = App::start(Backend::Sled);
    let admin = app.server.admin_addr.unwrap();
    let ingress = format!("http://{admin}/.well-known/wasmhost/topics/news");
    let post = |token: Option<&'static str>| {
        let ingress = ingress.clone();
        async move {
            let response = admin_client(token)
                .post(ingress)
                .header("ce-type", "t")
                .body("x")
                .send()
                .await
                .unwrap();
            let status = response.status().as_u16();
            let challenge = response.headers().get("www-authenticate").cloned();
            (status, challenge)
        }
    };
    let (status, challenge) = post(None).await;
    assert_eq!(
        (status, challenge.unwrap()),
        (401, "Bearer".parse().unwrap())
    );
    assert_eq!(post(Some("e2e-admin-tokem")).await.0, 401);
    assert_eq!(post(Some("e2e-admin-token-longer")).await.0, 401);
    assert_eq!(post(Some(ADMIN_TOKEN)).await.0, 202);
    for path in [
        "/.well-known/wasmhost/health",
        "/.well-known/wasmhost/ready",
        "/metrics",
    ] {
        let response = reqwest::get(format!("http://{admin}{path}")).await.unwrap();
        assert_eq!(response.status().as_u16(), 200, "{path}");
    }

    // Without a token, the write endpoints are off.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("wasmhost.toml"), manifest()).unwrap();
    let tokenless = Server::start_app(
        wasmhost_binary(),
        &dir.path().join("wasmhost.toml"),
        &["--admin-listen", "127.0.0.1:0", "--timeout-ms", TIMEOUT_MS],
    )
    .unwrap();
    let response = admin_client(Some(ADMIN_TOKEN))
        .post(format!(
            "http://{}/.well-known/wasmhost/topics/news",
            tokenless.admin_addr.unwrap()
        ))
        .header("ce-type", "t")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 403);
    assert!(
        response
            .text()
            .await
            .unwrap()
            .contains("--admin-token-file"),
        "the refusal says how to turn them on"
    );
}

/// A queue on a Redis without an append-only file could lose acknowledged messages: the log
/// says so at startup, and readiness (still 200) adds a warning line per queue; with
/// `appendonly yes` neither does (issue 18, by reading: durability depended on Redis
/// persistence, silently).
#[tokio::test(flavor = "multi_thread")]
async fn a_redis_without_an_append_only_file_is_warned_about() {
    let mut app = App::start(Backend::Redis(RedisServer::start()));
    let ready = format!(
        "http://{}/.well-known/wasmhost/ready",
        app.server.admin_addr.unwrap()
    );
    let get = |url: String| async move {
        let response = reqwest::get(url).await.unwrap();
        (response.status().as_u16(), response.text().await.unwrap())
    };
    assert_eq!(get(ready.clone()).await, (200, "ready\n".to_owned()));
    let Backend::Redis(redis) = &app.backend else {
        unreachable!()
    };
    redis.cli(&["CONFIG", "SET", "appendonly", "no"]);
    let (status, body) = get(ready).await;
    assert_eq!(status, 200, "{body}");
    assert!(
        body.starts_with("ready\nwarning: queue `")
            && body.contains("its Redis keeps no append-only file (appendonly no)"),
        "{body}"
    );
    app.kill_and_restart();
    let log = app.server.log_with("keeps no append-only file");
    assert!(log.contains("set `appendonly yes`"), "{log}");
}

/// A message whose handling kills the host (here: killed with SIGKILL while its handler runs,
/// every time) is delivered again after each restart, its lost delivery counted, and goes to
/// the dead-letter queue once its retries are used up (`max_retries = 1`: two deliveries),
/// instead of coming back forever.
async fn a_message_that_crashes_the_host_ends_in_the_dead_letter_queue(mut app: App) {
    let body = "sleep1500-crash";
    assert_eq!(send(&app.server, "hang", body, &[]).await.0, 200);
    for delivery in ["1", "2"] {
        wait_for(&app.server, &format!("seen:{body}"), delivery).await;
        assert_eq!(
            kv(&app.server, &format!("attempt:{body}")).await.as_deref(),
            Some(delivery)
        );
        app.kill_and_restart();
    }
    let dead = wait_some(&app.server, &format!("dead:{body}")).await;
    assert!(
        dead.starts_with("2|the delivery ended without an outcome"),
        "{dead}"
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        kv(&app.server, &format!("seen:{body}")).await.as_deref(),
        Some("2")
    );
}

/// A handler's error text of 3 MB is cut to 16 KiB, with the bytes cut counted, in the log
/// line and in the dead-letter queue's `wasmhost-error`.
async fn a_huge_handler_error_is_cut_where_it_is_logged_and_stored(app: App) {
    assert_eq!(send(&app.server, "jobs", "failbig-1", &[]).await.0, 200);
    let dead = wait_some(&app.server, "dead:failbig-1").await;
    assert!(dead.starts_with("3|asked to fail"), "{}", &dead[..80]);
    assert!(dead.len() < 17 << 10, "{} bytes stored", dead.len());
    // "asked to fail on failbig-1: " and 3 MiB of `x`, cut at 16 KiB.
    let cut = "asked to fail on failbig-1: ".len() + (3 << 20) - (16 << 10);
    let tail = format!("[truncated_bytes={cut}]");
    assert!(dead.ends_with(&tail), "{}", &dead[dead.len() - 80..]);
    let log = app
        .server
        .log_with("message moved to the dead-letter queue");
    let longest = log.lines().map(str::len).max().unwrap_or(0);
    assert!(longest < 17 << 10, "a log line of {longest} bytes");
    let failed: Vec<&str> = log
        .lines()
        .filter(|line| line.contains("queue handler failed"))
        .collect();
    assert_eq!(failed.len(), 3, "{log}");
    assert!(
        failed.iter().all(|line| line.contains(&tail)),
        "{}",
        failed[0]
    );
}

/// An entry of a Redis queue that does not decode as a message (written there by another
/// program) goes to the dead-letter queue with the reason, and the messages after it flow.
#[tokio::test(flavor = "multi_thread")]
async fn an_undecodable_entry_goes_to_the_dead_letter_queue_and_the_rest_flows() {
    let app = App::start(Backend::Redis(RedisServer::start()));
    let Backend::Redis(redis) = &app.backend else {
        unreachable!()
    };
    assert_eq!(send(&app.server, "jobs", "before-bad", &[]).await.0, 200);
    wait_for(&app.server, "seen:before-bad", "1").await;
    redis.cli(&["XADD", "e2e:queue:jobs", "*", "m", "garbage"]);
    redis.cli(&["XADD", "e2e:queue:jobs", "*", "other", "field"]);
    assert_eq!(send(&app.server, "jobs", "after-bad", &[]).await.0, 200);
    wait_for(&app.server, "seen:after-bad", "1").await;
    let garbage = wait_some(&app.server, "dead:garbage").await;
    assert!(
        garbage.starts_with("0|undecodable message: corrupt message"),
        "{garbage}"
    );
    let fieldless = wait_some(&app.server, "dead:").await;
    assert!(
        fieldless.contains("has no message field `m`"),
        "{fieldless}"
    );
    assert_eq!(redis.cli(&["XLEN", "e2e:queue:jobs"]), "0");
}

/// A Redis queue whose visibility timeout a handler can outlast is refused at load, by
/// `check` as by `serve`, at the line that sets it: its messages would be delivered again
/// while their handler still runs.
#[test]
fn a_visibility_timeout_shorter_than_the_handler_timeout_is_refused() {
    let redis = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("wasmhost.toml"), manifest()).unwrap();
    let config = redis_config(&redis).replace(
        &format!("visibility_timeout_ms = {VISIBILITY_MS}"),
        "visibility_timeout_ms = 1000",
    );
    let runtime = dir.path().join("runtime.toml");
    std::fs::write(&runtime, config).unwrap();
    let manifest = dir.path().join("wasmhost.toml");
    let (ok, _, stderr) = wasmhost_tests::run(
        wasmhost_binary(),
        &[
            "check",
            manifest.to_str().unwrap(),
            "--runtime-config",
            runtime.to_str().unwrap(),
        ],
    )
    .unwrap();
    assert!(!ok, "{stderr}");
    assert!(
        stderr.contains("runtime.toml:")
            && stderr.contains("the visibility timeout (1000 ms) must be at least component `probe`'s timeout_ms (30000 ms) plus 1000 ms"),
        "{stderr}"
    );
}

/// Two hosts on one Redis, one queue trigger each on the same queue, each its own consumer
/// (the runtime config's `node`): every message is handled once, by one of them. Then one is killed with SIGKILL while it holds messages; the other
/// claims them after the visibility timeout (3 s here), and none is lost.
#[tokio::test(flavor = "multi_thread")]
async fn two_nodes_share_a_redis_queue_and_survive_one_dying() {
    let mut first = App::start(Backend::Redis(RedisServer::start()));
    let Backend::Redis(redis) = &first.backend else {
        unreachable!()
    };
    let second_dir = tempfile::tempdir().unwrap();
    std::fs::write(second_dir.path().join("wasmhost.toml"), manifest()).unwrap();
    // The second node is named in its runtime config; the first takes the host name.
    let config = format!("node = \"second-node\"\n{}", redis_config(redis));
    std::fs::write(second_dir.path().join("runtime.toml"), config).unwrap();
    let second = serve(second_dir.path());

    let seen = |server: &Server| {
        let url = server.url("/seen");
        async move {
            let text = reqwest::get(url).await.unwrap().text().await.unwrap();
            let (keys, total) = text.trim().split_once(' ').unwrap();
            (keys.parse::<u64>().unwrap(), total.parse::<u64>().unwrap())
        }
    };
    let wait_for_keys = |want: u64| {
        let second = &second;
        async move {
            let deadline = Instant::now() + Duration::from_secs(60);
            loop {
                let (keys, total) = seen(second).await;
                if keys == want {
                    return total;
                }
                assert!(Instant::now() < deadline, "only {keys} of {want} handled");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    };

    // Both nodes send; together they handle each message once.
    for chunk in 0..10 {
        let node = if chunk % 2 == 0 {
            &first.server
        } else {
            &second
        };
        let (status, _) = send(node, "crash", &format!("a{chunk}"), &[("x-count", "100")]).await;
        assert_eq!(status, 200);
    }
    assert_eq!(
        wait_for_keys(1000).await,
        1000,
        "a message was handled twice"
    );
    let acked = r#"wasmhost_queue_handled_total{queue="crash",outcome="acked"}"#;
    let (by_first, by_second) = (
        metric(&first.server, acked).await,
        metric(&second, acked).await,
    );
    assert_eq!(by_first + by_second, 1000.0);
    let consumers = redis.cli(&["XINFO", "CONSUMERS", "e2e:queue:crash", "wasmhost"]);
    assert!(consumers.contains("second-node"), "{consumers}");
    eprintln!("two nodes: {by_first} handled by the first, {by_second} by the second");

    // The first dies mid-stream; the second finishes its work.
    for chunk in 0..20 {
        if chunk == 10 {
            first.server.kill();
        }
        let node = if chunk < 10 { &first.server } else { &second };
        let (status, _) = send(node, "crash", &format!("b{chunk}"), &[("x-count", "100")]).await;
        assert_eq!(status, 200);
    }
    let total = wait_for_keys(3000).await;
    eprintln!(
        "two nodes, one killed: 3000 handled, {} duplicates",
        total - 3000
    );
}

/// The 1 MiB message limit counts the attributes and the content type, not only the body: a
/// body just under 1 MiB with a 60 KB attribute is refused as `invalid` (400 from the probe),
/// and nothing is stored (issue 18, finding 7: a 20 MB attribute was stored and delivered).
/// A `send-batch` holds at most 100 messages and 4 MiB.
#[tokio::test]
async fn the_message_limit_counts_attributes_too_and_a_batch_is_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = format!(
        "manifest_version = 1\n[application]\nname = \"limit\"\n\
         [[trigger.http]]\nroute = \"/send/:queue\"\ncomponent = \"probe\"\n\
         [component.probe]\nsource = \"{}\"\nqueues = [\"sink\"]\nkey_value_stores = [\"default\"]\n",
        guests::QUEUE_PROBE
    );
    let path = dir.path().join("wasmhost.toml");
    std::fs::write(&path, manifest).unwrap();
    let server = Server::start_app(wasmhost_binary(), &path, &[]).unwrap();
    let client = reqwest::Client::new();
    let send = |body: Vec<u8>, attribute: String| {
        client
            .post(server.url("/send/sink"))
            .header("x-attribute", attribute)
            .body(body)
            .send()
    };
    let big = send(vec![b'x'; 1_000_000], format!("big={}", "a".repeat(60_000)))
        .await
        .unwrap();
    let status = big.status().as_u16();
    let text = big.text().await.unwrap();
    assert_eq!(status, 400, "{text}");
    assert!(text.contains("the limit is 1048576"), "{text}");
    // The same body with a small attribute fits.
    let fits = send(vec![b'x'; 1_000_000], "small=1".to_owned())
        .await
        .unwrap();
    assert_eq!(fits.status().as_u16(), 200);

    // `send-batch` is bounded by count (100) and by bytes (4 MiB).
    let batch = |count: usize, body: Vec<u8>| {
        client
            .post(server.url("/send/sink"))
            .header("x-count", count.to_string())
            .body(body)
            .send()
    };
    for (count, size, refusal) in [
        (101, 1, "101 messages in one batch; the limit is 100"),
        (5, 1_000_000, "the limit is 4194304"),
    ] {
        let response = batch(count, vec![b'x'; size]).await.unwrap();
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        assert_eq!(status, 400, "{text}");
        assert!(text.contains(refusal), "{text}");
    }
    assert_eq!(
        batch(100, vec![b'x'; 1000])
            .await
            .unwrap()
            .status()
            .as_u16(),
        200
    );
}

//! End-to-end tests of durable workflows: the real `wasmhost` binary serving orchestrators and
//! activities from `tests/guests/wf-*`, driven through `wf-client` (an HTTP component using
//! the `workflow-client` import), with an [`Upstream`] that counts activity attempts by
//! idempotency key. The crash tests kill the server with SIGKILL mid-workflow and start it
//! again on the same directory.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use wasmhost_tests::{Server, Upstream, guests, run, wasmhost_binary};

/// Every test workflow, its orchestrator, and the activities it may call.
const WORKFLOWS: &[(&str, &str, &[&str])] = &[
    ("chain", guests::WF_CHAIN, &["a", "b", "c"]),
    ("fanout", guests::WF_FANOUT, &["slow", "echo"]),
    ("timer", guests::WF_TIMER, &[]),
    ("event", guests::WF_EVENT, &[]),
    ("saga", guests::WF_SAGA, &["flaky", "fail", "compensate"]),
    ("sandbox", guests::WF_SANDBOX, &[]),
    ("loop", guests::WF_LOOP, &[]),
    ("trap", guests::WF_TRAP, &[]),
];

/// The activities of `wf-activities`.
const ACTIVITIES: &[&str] = &["a", "b", "c", "slow", "echo", "flaky", "fail", "compensate"];

/// A manifest with every test workflow, `order` on `order_source`, the activities, and the
/// client on `/...`.
fn manifest(order_source: &str) -> String {
    let mut text = String::from(
        "manifest_version = 1\n[application]\nname = \"workflows\"\n\n[[trigger.http]]\nroute = \"/...\"\ncomponent = \"client\"\n\n",
    );
    let mut names: Vec<&str> = WORKFLOWS.iter().map(|(name, ..)| *name).collect();
    names.push("order");
    let workflows = WORKFLOWS
        .iter()
        .copied()
        .chain([("order", order_source, &["a", "b"][..])]);
    for (name, source, activities) in workflows {
        let list = activities
            .iter()
            .map(|a| format!("\"{a}\""))
            .collect::<Vec<_>>()
            .join(", ");
        text += &format!(
            "[[trigger.workflow]]\nname = \"{name}\"\ncomponent = \"{name}\"\nactivities = [{list}]\n\n[component.{name}]\nsource = \"{source}\"\n[component.{name}.limits]\ncpu_ms = 200\n\n"
        );
    }
    for activity in ACTIVITIES {
        text +=
            &format!("[[trigger.activity]]\nname = \"{activity}\"\ncomponent = \"activities\"\n\n");
    }
    let granted = names
        .iter()
        .map(|n| format!("\"{n}\""))
        .collect::<Vec<_>>()
        .join(", ");
    text += &format!(
        "[component.activities]\nsource = \"{}\"\nallowed_outbound_hosts = [\"http://127.0.0.1:*\"]\n\n[component.client]\nsource = \"{}\"\nworkflows = [{granted}]\n",
        guests::WF_ACTIVITIES,
        guests::WF_CLIENT,
    );
    text
}

fn write_app(dir: &Path, order_source: &str) {
    std::fs::write(dir.join("wasmhost.toml"), manifest(order_source)).unwrap();
}

fn serve(dir: &Path) -> Server {
    Server::start_app(wasmhost_binary(), &dir.join("wasmhost.toml"), &[]).unwrap()
}

/// Starts `workflow` with `input` through the client; returns the instance id.
async fn start(server: &Server, workflow: &str, input: &Value) -> String {
    let response = reqwest::Client::new()
        .post(server.url(&format!("/start/{workflow}")))
        .header("content-type", "application/json")
        .body(input.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202, "{}", response.text().await.unwrap());
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    let body: Value = serde_json::from_slice(&response.bytes().await.unwrap()).unwrap();
    let id = body["id"].as_str().unwrap().to_owned();
    assert_eq!(location, format!("/status/{id}"));
    id
}

/// The status of instance `id`, and whether it answered 200 (ended) rather than 202.
async fn status(server: &Server, id: &str) -> (bool, Value) {
    let response = reqwest::get(server.url(&format!("/status/{id}")))
        .await
        .unwrap();
    let code = response.status().as_u16();
    assert!(code == 200 || code == 202, "status {code}");
    let body = response.bytes().await.unwrap();
    (code == 200, serde_json::from_slice(&body).unwrap())
}

/// Waits up to `timeout` for instance `id` to reach `runtime_status`; its status.
async fn wait_for(server: &Server, id: &str, runtime_status: &str, timeout: Duration) -> Value {
    let deadline = Instant::now() + timeout;
    loop {
        let (_, status) = status(server, id).await;
        if status["runtimeStatus"] == runtime_status {
            return status;
        }
        assert!(
            Instant::now() < deadline,
            "instance {id} is not {runtime_status} after {timeout:?}: {status}\n{}",
            server.stderr()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits for instance `id` to complete; its output.
async fn output(server: &Server, id: &str, timeout: Duration) -> Value {
    let completed = wait_for(server, id, "Completed", timeout).await;
    assert!(
        status(server, id).await.0,
        "a completed instance answers 200"
    );
    completed["output"].clone()
}

async fn raise(server: &Server, id: &str, event: &str, payload: &Value) {
    let response = reqwest::Client::new()
        .post(server.url(&format!("/raise/{id}/{event}")))
        .header("content-type", "application/json")
        .body(payload.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202, "{}", response.text().await.unwrap());
}

/// Waits until `upstream` has counted `n` calls of `activity`.
async fn wait_calls(upstream: &Upstream, activity: &str, n: usize, server: &Server) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while upstream.calls_of(activity).len() < n {
        assert!(
            Instant::now() < deadline,
            "{activity} was called {} times, not {n}\n{}",
            upstream.calls_of(activity).len(),
            server.stderr()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Calls per idempotency key.
fn per_key(calls: &[wasmhost_tests::Call]) -> BTreeMap<String, usize> {
    let mut keys = BTreeMap::new();
    for call in calls {
        *keys.entry(call.key.clone()).or_default() += 1;
    }
    keys
}

const LONG: Duration = Duration::from_secs(60);

/// 1. Function chaining: A → B → C gives "abc", each activity ran once, each with the
/// idempotency key `<instance>:<task>`.
#[tokio::test(flavor = "multi_thread")]
async fn a_chain_runs_each_activity_once_and_gives_the_output() {
    let upstream = Upstream::start().await;
    let dir = tempfile::tempdir().unwrap();
    write_app(dir.path(), guests::WF_ORDER_V1);
    let server = serve(dir.path());
    let id = start(
        &server,
        "chain",
        &json!({ "count_url": upstream.url("/count") }),
    )
    .await;
    assert_eq!(output(&server, &id, LONG).await, json!("abc"));
    for (task, activity) in ["a", "b", "c"].into_iter().enumerate() {
        let calls = upstream.calls_of(activity);
        assert_eq!(calls.len(), 1, "{activity}: {calls:?}");
        assert_eq!(calls[0].key, format!("{id}:{task}"));
        assert_eq!(calls[0].attempt, 1);
    }
    let log = server.log_with("workflow instance completed");
    assert!(log.contains(&id), "{log}");
}

/// 2. `kill -9` while B runs: after a restart the workflow completes; A and C ran once, B at
/// most twice, with the same idempotency key.
#[tokio::test(flavor = "multi_thread")]
async fn a_kill_during_an_activity_runs_only_that_activity_again() {
    let upstream = Upstream::start().await;
    let dir = tempfile::tempdir().unwrap();
    write_app(dir.path(), guests::WF_ORDER_V1);
    let mut server = serve(dir.path());
    let input = json!({ "count_url": upstream.url("/count"), "sleep_ms": { "b": 3000 } });
    let id = start(&server, "chain", &input).await;
    wait_calls(&upstream, "b", 1, &server).await;
    server.kill();
    let server = serve(dir.path());
    assert_eq!(output(&server, &id, LONG).await, json!("abc"));
    assert_eq!(upstream.calls_of("a").len(), 1);
    assert_eq!(upstream.calls_of("c").len(), 1);
    let b = upstream.calls_of("b");
    assert!((1..=2).contains(&b.len()), "{b:?}");
    assert!(b.iter().all(|call| call.key == format!("{id}:1")), "{b:?}");
}

/// 3. `kill -9` in the middle of a fan-out of 100: the workflow completes with the results
/// in order; only the attempts in flight at the kill ran again (at most the activity's
/// `max_concurrency`, 16), each once more at most.
#[tokio::test(flavor = "multi_thread")]
async fn a_kill_during_a_fan_out_reruns_no_completed_activity() {
    let upstream = Upstream::start().await;
    let dir = tempfile::tempdir().unwrap();
    write_app(dir.path(), guests::WF_ORDER_V1);
    let mut server = serve(dir.path());
    let input =
        json!({ "n": 100, "activity": "slow", "ms": 200, "count_url": upstream.url("/count") });
    let id = start(&server, "fanout", &input).await;
    wait_calls(&upstream, "slow", 40, &server).await;
    server.kill();
    let before = per_key(&upstream.calls_of("slow"));
    let server = serve(dir.path());
    let out = output(&server, &id, LONG).await;
    assert_eq!(out, json!((0..100).collect::<Vec<u32>>()));
    let after = per_key(&upstream.calls_of("slow"));
    assert_eq!(after.len(), 100, "every call ran");
    let again: Vec<_> = after.iter().filter(|(_, n)| **n > 1).collect();
    assert!(again.len() <= 16, "ran again: {again:?}");
    assert!(after.values().all(|n| *n <= 2), "{after:?}");
    assert!(
        again.iter().all(|(key, _)| before.contains_key(*key)),
        "only attempts started before the kill run again"
    );
}

/// 4. A 5 s timer across a `kill -9` and a restart 10 s later fires once; the workflow
/// completes.
#[tokio::test(flavor = "multi_thread")]
async fn a_durable_timer_fires_once_across_a_kill() {
    let dir = tempfile::tempdir().unwrap();
    write_app(dir.path(), guests::WF_ORDER_V1);
    let mut server = serve(dir.path());
    let id = start(&server, "timer", &json!({ "ms": 5000 })).await;
    wait_for(&server, &id, "Running", LONG).await;
    server.kill();
    tokio::time::sleep(Duration::from_secs(10)).await;
    let server = serve(dir.path());
    let out = output(&server, &id, Duration::from_secs(20)).await;
    assert!(out["slept_ms"].as_u64().unwrap() >= 5000, "{out}");
    tokio::time::sleep(Duration::from_millis(500)).await;
    let log = server.stderr();
    assert_eq!(
        log.matches("workflow instance completed").count(),
        1,
        "{log}"
    );
}

/// 5. An event with a timeout: the event first, the timeout first, and an event raised before
/// the wait (kept for it).
#[tokio::test(flavor = "multi_thread")]
async fn an_event_wait_ends_with_the_event_or_its_timeout() {
    let dir = tempfile::tempdir().unwrap();
    write_app(dir.path(), guests::WF_ORDER_V1);
    let server = serve(dir.path());

    let first = start(&server, "event", &json!({ "timeout_ms": 30_000 })).await;
    wait_for(&server, &first, "Running", LONG).await;
    raise(&server, &first, "approval", &json!({ "approved": true })).await;
    let out = output(&server, &first, LONG).await;
    assert_eq!(
        out,
        json!({ "first": "event", "payload": { "approved": true } })
    );

    let late = start(&server, "event", &json!({ "timeout_ms": 500 })).await;
    assert_eq!(
        output(&server, &late, LONG).await,
        json!({ "first": "timeout" })
    );
    // Raising on an ended instance is accepted and changes nothing.
    raise(&server, &late, "approval", &json!(1)).await;
    assert_eq!(
        status(&server, &late).await.1["output"],
        json!({ "first": "timeout" })
    );

    let early = start(
        &server,
        "event",
        &json!({ "sleep_ms": 1500, "timeout_ms": 30_000 }),
    )
    .await;
    raise(&server, &early, "approval", &json!("early")).await;
    let out = output(&server, &early, LONG).await;
    assert_eq!(out, json!({ "first": "event", "payload": "early" }));
}

/// 6. A redeploy that changes the call order: an instance started on v1 stays pinned to v1's
/// component (it calls `a` then `b`); a new instance runs v2 (`b` then `a`).
#[tokio::test(flavor = "multi_thread")]
async fn a_redeploy_keeps_running_instances_on_their_component() {
    let upstream = Upstream::start().await;
    let dir = tempfile::tempdir().unwrap();
    write_app(dir.path(), guests::WF_ORDER_V1);
    let server = serve(dir.path());
    let input = json!({ "count_url": upstream.url("/count") });
    let old = start(&server, "order", &input).await;
    wait_for(&server, &old, "Running", LONG).await;
    drop(server);
    write_app(dir.path(), guests::WF_ORDER_V2);
    let server = serve(dir.path());
    raise(&server, &old, "go", &json!(null)).await;
    assert_eq!(output(&server, &old, LONG).await, json!("ab"));
    let new = start(&server, "order", &input).await;
    raise(&server, &new, "go", &json!(null)).await;
    assert_eq!(output(&server, &new, LONG).await, json!("ba"));
}

/// 7a. An orchestrator that imports outbound HTTP is refused at load, naming the import.
#[test]
fn an_orchestrator_importing_outbound_http_is_refused_at_load() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = format!(
        "manifest_version = 1\n[application]\nname = \"bad\"\n[[trigger.workflow]]\nname = \"bad\"\ncomponent = \"bad\"\n[component.bad]\nsource = \"{}\"\n",
        guests::WF_HTTP_IMPORT
    );
    std::fs::write(dir.path().join("wasmhost.toml"), manifest).unwrap();
    let path = dir.path().join("wasmhost.toml");
    let (ok, _, stderr) = run(wasmhost_binary(), &["check", path.to_str().unwrap()]).unwrap();
    assert!(!ok, "{stderr}");
    assert!(stderr.contains("wasi:http/outgoing-handler"), "{stderr}");
    assert!(
        stderr.contains("orchestrator of workflow `bad`"),
        "{stderr}"
    );
}

/// 7b. `now`, UUIDs, std's clock and std's random are the same on every replay: the sample
/// the first turn set as custom status is the one the last turn's replay returns.
#[tokio::test(flavor = "multi_thread")]
async fn time_uuids_and_random_are_the_same_on_every_replay() {
    let dir = tempfile::tempdir().unwrap();
    write_app(dir.path(), guests::WF_ORDER_V1);
    let server = serve(dir.path());
    let id = start(&server, "sandbox", &json!({ "ms": 300 })).await;
    let status = wait_for(&server, &id, "Completed", LONG).await;
    let out = &status["output"];
    assert_eq!(out["before"], status["customStatus"], "{status}");
    assert_ne!(out["before"]["uuid"], out["after"]["uuid"]);
    assert_eq!(out["before"]["now_ns"], out["before"]["std_now_ns"]);
    assert!(out["after"]["now_ns"].as_u64() > out["before"]["now_ns"].as_u64());
}

/// 7c. An orchestrator that traps, or loops past its CPU limit, fails its instance and
/// nothing else.
#[tokio::test(flavor = "multi_thread")]
async fn a_trapping_or_looping_orchestrator_fails_only_its_instance() {
    let upstream = Upstream::start().await;
    let dir = tempfile::tempdir().unwrap();
    write_app(dir.path(), guests::WF_ORDER_V1);
    let server = serve(dir.path());
    let panics = start(&server, "trap", &json!({ "mode": "panic" })).await;
    let loops = start(&server, "trap", &json!({ "mode": "loop", "after_ms": 100 })).await;
    let chain = start(
        &server,
        "chain",
        &json!({ "count_url": upstream.url("/count") }),
    )
    .await;
    let failed = wait_for(&server, &panics, "Failed", LONG).await;
    assert!(
        failed["error"]
            .as_str()
            .unwrap()
            .contains("wf-trap asked to panic"),
        "{failed}"
    );
    let failed = wait_for(&server, &loops, "Failed", LONG).await;
    assert!(
        failed["error"].as_str().unwrap().contains("CPU"),
        "{failed}"
    );
    assert_eq!(output(&server, &chain, LONG).await, json!("abc"));
}

/// 8. Continue-as-new: 10 000 iterations complete with a bounded history; the store's size
/// is reported.
#[tokio::test(flavor = "multi_thread")]
async fn continue_as_new_keeps_storage_bounded() {
    let dir = tempfile::tempdir().unwrap();
    write_app(dir.path(), guests::WF_ORDER_V1);
    let server = serve(dir.path());
    let id = start(&server, "loop", &json!({ "i": 0, "n": 10_000 })).await;
    let out = output(&server, &id, Duration::from_secs(600)).await;
    assert_eq!(out, json!(10_000));
    let bytes = dir_size(&dir.path().join(".wasmhost/workflows"));
    println!("workflow store after 10 000 executions: {bytes} bytes");
    assert!(bytes < 64 << 20, "{bytes} bytes");
}

fn dir_size(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| {
            let entry = entry.unwrap();
            let meta = entry.metadata().unwrap();
            if meta.is_dir() {
                dir_size(&entry.path())
            } else {
                meta.len()
            }
        })
        .sum()
}

/// 9. Retries and a saga: `flaky` fails twice then succeeds (3 attempts, one key); `fail`
/// fails for good, and the orchestrator catches it and compensates once.
#[tokio::test(flavor = "multi_thread")]
async fn retries_then_a_compensation() {
    let upstream = Upstream::start().await;
    let dir = tempfile::tempdir().unwrap();
    write_app(dir.path(), guests::WF_ORDER_V1);
    let server = serve(dir.path());
    let url = upstream.url("/count");
    let id = start(
        &server,
        "saga",
        &json!({ "succeed_on": 3, "count_url": url }),
    )
    .await;
    let out = output(&server, &id, LONG).await;
    assert_eq!(out["compensated"], json!(true), "{out}");
    assert_eq!(out["flaky"], json!({ "attempt": 3 }));
    assert!(
        out["error"]
            .as_str()
            .unwrap()
            .contains("fail: always fails"),
        "{out}"
    );
    let flaky = upstream.calls_of("flaky");
    assert_eq!(
        flaky.iter().map(|c| c.attempt).collect::<Vec<_>>(),
        [1, 2, 3]
    );
    assert!(flaky.iter().all(|c| c.key == format!("{id}:0")));
    assert_eq!(upstream.calls_of("fail").len(), 1);
    assert_eq!(upstream.calls_of("compensate").len(), 1);

    // Out of attempts: the failure reaches the orchestrator, which fails the instance.
    let id = start(
        &server,
        "saga",
        &json!({ "succeed_on": 3, "max_attempts": 2 }),
    )
    .await;
    let failed = wait_for(&server, &id, "Failed", LONG).await;
    let error = failed["error"].as_str().unwrap();
    assert!(error.contains("flaky: attempt 2 fails"), "{error}");
    assert!(error.contains("after 2 attempts"), "{error}");
}

//! End-to-end tests of the workflow management API on the admin listener (Durable Functions'
//! shape: start with 202 and `Location`, status 202 then 200, raise event, terminate, purge,
//! list by pages) and of `wasmhost workflow`, on the workflow store directly with nothing
//! serving and through the admin listener of a `serve`. The app has two workflows of
//! `tests/guests`: `chain` (`wf-chain`: activities `a` → `b` → `c` of `wf-activities`, output
//! `"abc"`) and `event` (`wf-event`: waits for event `approval`).

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{Value, json};
use wasmhost_tests::{Server, guests, wasmhost_binary};

const TOKEN: &str = "e2e-workflow-token";

/// The prefix of the API's paths.
const API: &str = "/.well-known/wasmhost/workflows/";

/// How long an instance may take to reach a status (a debug build on 2 busy cores).
const LONG: Duration = Duration::from_secs(60);

fn write_app(dir: &Path) {
    let mut manifest = format!(
        r#"manifest_version = 1
[application]
name = "workflow-api"

[[trigger.workflow]]
name = "chain"
component = "chain"
activities = ["a", "b", "c"]

[[trigger.workflow]]
name = "event"
component = "event"

[component.chain]
source = "{chain}"

[component.event]
source = "{event}"

[component.activities]
source = "{activities}"
"#,
        chain = guests::WF_CHAIN,
        event = guests::WF_EVENT,
        activities = guests::WF_ACTIVITIES,
    );
    for activity in ["a", "b", "c"] {
        manifest +=
            &format!("\n[[trigger.activity]]\nname = \"{activity}\"\ncomponent = \"activities\"\n");
    }
    std::fs::write(dir.join("wasmhost.toml"), manifest).unwrap();
    std::fs::write(dir.join("admin.token"), format!("{TOKEN}\n")).unwrap();
}

fn serve(dir: &Path) -> Server {
    let token = dir.join("admin.token");
    let args = [
        "--admin-listen",
        "127.0.0.1:0",
        "--admin-token-file",
        token.to_str().unwrap(),
    ];
    Server::start_app(wasmhost_binary(), &dir.join("wasmhost.toml"), &args).unwrap()
}

/// The workflow management API of one server, with the admin token.
struct Api<'a> {
    server: &'a Server,
    client: reqwest::Client,
}

impl<'a> Api<'a> {
    fn new(server: &'a Server) -> Self {
        Self {
            server,
            client: reqwest::Client::new(),
        }
    }

    /// `API` + `path` on the admin listener.
    fn url(&self, path: &str) -> String {
        self.server.admin_url(&format!("{API}{path}"))
    }

    /// `method API+path` with `body` and the token.
    async fn call(&self, method: Method, path: &str, body: &str) -> reqwest::Response {
        self.client
            .request(method, self.url(path))
            .bearer_auth(TOKEN)
            .body(body.to_owned())
            .send()
            .await
            .unwrap()
    }

    /// Starts `workflow` as instance `id` with `input`: the answer, which must be a 202.
    async fn start(&self, workflow: &str, id: &str, input: &str) -> reqwest::Response {
        let started = self
            .call(Method::POST, &format!("{workflow}?instanceId={id}"), input)
            .await;
        assert_eq!(started.status(), 202, "start {workflow} as {id}");
        started
    }

    /// The status code and body of instance `id`'s status (`query` appended).
    async fn status(&self, id: &str, query: &str) -> (u16, Value) {
        let answer = self
            .call(Method::GET, &format!("instances/{id}{query}"), "")
            .await;
        let code = answer.status().as_u16();
        let body = answer.text().await.unwrap();
        match serde_json::from_str(&body) {
            Ok(status) => (code, status),
            Err(_) => (code, Value::String(body)),
        }
    }

    /// Waits until instance `id` is `runtime_status`; its status with its history.
    async fn wait_for(&self, id: &str, runtime_status: &str) -> (u16, Value) {
        let deadline = Instant::now() + LONG;
        loop {
            let (code, status) = self.status(id, "?showHistory=true").await;
            if status["runtimeStatus"] == runtime_status {
                return (code, status);
            }
            assert!(
                Instant::now() < deadline,
                "{id} is not {runtime_status}: {status}\n{}",
                self.server.stderr()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits until the history of instance `id` has an event of `event_type`.
    async fn wait_for_event(&self, id: &str, event_type: &str) {
        let deadline = Instant::now() + LONG;
        loop {
            let (_, status) = self.status(id, "?showHistory=true").await;
            if event_types(&status).contains(&event_type.to_owned()) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{id} has no {event_type}: {status}\n{}",
                self.server.stderr()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Every instance the list endpoint gives for `query`, page after page of `top`, and the
    /// number of pages.
    async fn list_all(&self, query: &str) -> (Vec<String>, usize) {
        let (mut ids, mut pages, mut token) = (Vec::new(), 0, None::<String>);
        loop {
            let mut path = format!("instances?{query}");
            if let Some(token) = &token {
                path += &format!("&continuationToken={token}");
            }
            let answer = self.call(Method::GET, &path, "").await;
            assert_eq!(answer.status(), 200);
            token = answer
                .headers()
                .get("x-ms-continuation-token")
                .map(|token| token.to_str().unwrap().to_owned());
            let page = json_of(answer).await.as_array().cloned().unwrap();
            ids.extend(
                page.iter()
                    .map(|s| s["instanceId"].as_str().unwrap().to_owned()),
            );
            pages += 1;
            if token.is_none() {
                return (ids, pages);
            }
        }
    }
}

/// The body of `answer`, as JSON.
async fn json_of(answer: reqwest::Response) -> Value {
    serde_json::from_slice(&answer.bytes().await.unwrap()).unwrap()
}

/// The `eventType` of each event in `status`'s history.
fn event_types(status: &Value) -> Vec<String> {
    status["historyEvents"]
        .as_array()
        .map(|events| {
            events
                .iter()
                .map(|event| event["eventType"].as_str().unwrap().to_owned())
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread")]
async fn every_endpoint_needs_the_token_and_names_what_it_refuses() {
    let dir = tempfile::tempdir().unwrap();
    write_app(dir.path());
    let server = serve(dir.path());
    let api = Api::new(&server);
    let client = reqwest::Client::new();
    for (method, path) in [
        (Method::POST, "chain"),
        (Method::GET, "instances"),
        (Method::GET, "instances/x"),
        (Method::DELETE, "instances/x"),
        (Method::POST, "instances/x/raiseEvent/approval"),
        (Method::POST, "instances/x/terminate"),
    ] {
        let refused = client
            .request(method.clone(), api.url(path))
            .send()
            .await
            .unwrap();
        assert_eq!(refused.status(), 401, "{method} {path} without the token");
        let refused = client
            .request(method.clone(), api.url(path))
            .bearer_auth("not-the-token")
            .send()
            .await
            .unwrap();
        assert_eq!(refused.status(), 401, "{method} {path} with another token");
    }

    let unknown = api.call(Method::POST, "nope", "{}").await;
    assert_eq!(unknown.status(), 404);
    let text = unknown.text().await.unwrap();
    assert!(
        text.contains("no workflow named `nope`; the app has chain, event"),
        "{text}"
    );
    let (code, text) = api.status("missing", "").await;
    assert_eq!((code, text), (404, json!("no instance `missing`\n")));
    for (method, path) in [
        (Method::DELETE, "instances/missing"),
        (Method::POST, "instances/missing/raiseEvent/approval"),
        (Method::POST, "instances/missing/terminate"),
    ] {
        let answer = api.call(method.clone(), path, "").await;
        assert_eq!(answer.status(), 404, "{method} {path}");
    }

    let bad = api
        .call(Method::POST, "event?instanceId=not%20an%20id", "{}")
        .await;
    assert_eq!(bad.status(), 400);
    assert!(
        bad.text()
            .await
            .unwrap()
            .contains("instance id `not an id`")
    );
    let bad = api.call(Method::GET, "instances?top=0", "").await;
    assert_eq!(bad.status(), 400);

    api.start("event", "taken", "{}").await;
    let taken = api.call(Method::POST, "event?instanceId=taken", "{}").await;
    assert_eq!(taken.status(), 409);
    assert!(
        taken
            .text()
            .await
            .unwrap()
            .contains("instance `taken` exists already")
    );
    let bad_event = api
        .call(Method::POST, "instances/taken/raiseEvent/%01", "")
        .await;
    assert_eq!(bad_event.status(), 400);

    let large = "x".repeat(2 * 1024 * 1024 + 1);
    let too_large = api
        .call(Method::POST, "event?instanceId=large", &large)
        .await;
    assert_eq!(too_large.status(), 413);
    assert_eq!(api.status("large", "").await.0, 404, "nothing was started");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_started_instance_answers_202_while_it_runs_then_200_with_its_output() {
    let dir = tempfile::tempdir().unwrap();
    write_app(dir.path());
    let server = serve(dir.path());
    let api = Api::new(&server);

    // `a` sleeps 1.5 s, so the instance is still running when asked at once.
    let input = r#"{"sleep_ms": {"a": 1500}}"#;
    let started = api.start("chain", "chain-1", input).await;
    let location = started.headers()["location"].to_str().unwrap().to_owned();
    let instance = api.url("instances/chain-1");
    assert_eq!(location, instance);
    let urls: Value = json_of(started).await;
    assert_eq!(
        urls,
        json!({
            "id": "chain-1",
            "statusQueryGetUri": instance,
            "sendEventPostUri": format!("{instance}/raiseEvent/{{eventName}}"),
            "terminatePostUri": format!("{instance}/terminate?reason={{text}}"),
            "purgeHistoryDeleteUri": instance,
        })
    );

    let (code, status) = api.status("chain-1", "").await;
    assert_eq!(code, 202, "{status}");
    assert!(
        ["Pending", "Running"].contains(&status["runtimeStatus"].as_str().unwrap()),
        "{status}"
    );
    assert_eq!(status["input"], json!({ "sleep_ms": { "a": 1500 } }));
    assert_eq!(status["output"], Value::Null);
    assert!(status.get("historyEvents").is_none(), "only when asked");

    let (code, status) = api.wait_for("chain-1", "Completed").await;
    assert_eq!(code, 200);
    assert_eq!(status["name"], "chain");
    assert_eq!(status["instanceId"], "chain-1");
    assert_eq!(status["output"], "abc");
    assert!(status.get("error").is_none(), "{status}");
    let created = status["createdTime"].as_str().unwrap();
    let updated = status["lastUpdatedTime"].as_str().unwrap();
    assert!(
        created.ends_with('Z') && created < updated,
        "{created} {updated}"
    );
    let types = event_types(&status);
    assert_eq!(types.first().map(String::as_str), Some("Started"));
    assert_eq!(types.last().map(String::as_str), Some("Completed"));
    let scheduled: Vec<&str> = status["historyEvents"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|event| event["eventType"] == "ActivityScheduled")
        .map(|event| event["name"].as_str().unwrap())
        .collect();
    assert_eq!(scheduled, ["a", "b", "c"]);

    // An event raised on the instance that completed is ignored.
    let late = api
        .call(Method::POST, "instances/chain-1/raiseEvent/approval", "{}")
        .await;
    assert_eq!(late.status(), 202);
}

#[tokio::test(flavor = "multi_thread")]
async fn raise_and_terminate_end_waiting_instances_and_purge_leaves_none() {
    let dir = tempfile::tempdir().unwrap();
    write_app(dir.path());
    let server = serve(dir.path());
    let api = Api::new(&server);

    // An event completes the instance that waits for it; an empty start body is `null`.
    api.start("event", "approved", "").await;
    api.wait_for_event("approved", "EventWaited").await;
    let (_, status) = api.status("approved", "").await;
    assert_eq!(status["input"], Value::Null);
    let raised = api
        .call(
            Method::POST,
            "instances/approved/raiseEvent/approval",
            r#"{"by": "ops"}"#,
        )
        .await;
    assert_eq!(raised.status(), 202);
    let (code, status) = api.wait_for("approved", "Completed").await;
    assert_eq!(code, 200);
    assert_eq!(
        status["output"],
        json!({ "first": "event", "payload": { "by": "ops" } })
    );

    // A waiting instance can be neither purged nor left waiting once terminated.
    api.start("event", "waiting", "{}").await;
    api.wait_for_event("waiting", "EventWaited").await;
    let running = api.call(Method::DELETE, "instances/waiting", "").await;
    assert_eq!(running.status(), 409);
    assert!(running.text().await.unwrap().contains("terminate it first"));
    let terminated = api
        .call(
            Method::POST,
            "instances/waiting/terminate?reason=no%20longer%20needed",
            "",
        )
        .await;
    assert_eq!(terminated.status(), 202);
    let (code, status) = api.wait_for("waiting", "Terminated").await;
    assert_eq!(code, 200);
    assert_eq!(status["error"], "no longer needed");
    assert_eq!(
        event_types(&status).last().map(String::as_str),
        Some("Terminated")
    );

    // Purged, it is gone from the status and the list.
    for id in ["approved", "waiting"] {
        let purged = api
            .call(Method::DELETE, &format!("instances/{id}"), "")
            .await;
        assert_eq!(purged.status(), 200);
        assert_eq!(json_of(purged).await, json!({ "instancesDeleted": 1 }));
        assert_eq!(api.status(id, "").await.0, 404);
        let again = api
            .call(Method::DELETE, &format!("instances/{id}"), "")
            .await;
        assert_eq!(again.status(), 404);
    }
    let (listed, _) = api.list_all("top=100").await;
    assert!(listed.is_empty(), "{listed:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_list_is_paged_and_filtered() {
    let dir = tempfile::tempdir().unwrap();
    write_app(dir.path());
    let server = serve(dir.path());
    let api = Api::new(&server);

    let waiting: Vec<String> = (0..5).map(|n| format!("wait-{n}")).collect();
    for id in &waiting {
        api.start("event", id, "{}").await;
    }
    api.start("chain", "done", "{}").await;
    api.wait_for("done", "Completed").await;
    for id in &waiting {
        api.wait_for_event(id, "EventWaited").await;
    }

    // Five waiting instances, two a page: three pages, each instance once, by id.
    let (ids, pages) = api.list_all("workflow=event&top=2").await;
    assert_eq!((ids.clone(), pages), (waiting.clone(), 3));
    let (all, _) = api.list_all("top=100").await;
    assert_eq!(all.len(), 6, "{all:?}");
    let (completed, _) = api.list_all("runtimeStatus=Completed").await;
    assert_eq!(completed, ["done"]);
    let (running, _) = api.list_all("runtimeStatus=Running,Pending&top=4").await;
    assert_eq!(running, waiting);
    let (later, _) = api.list_all("createdTimeFrom=2999-01-01T00:00:00Z").await;
    assert!(later.is_empty(), "{later:?}");
    let (earlier, _) = api
        .list_all("createdTimeTo=2999-01-01T00:00:00Z&top=100")
        .await;
    assert_eq!(earlier.len(), 6);

    // The token also goes in the request header, as Durable Functions' clients send it.
    let first = api
        .call(Method::GET, "instances?workflow=event&top=4", "")
        .await;
    let token = first.headers()["x-ms-continuation-token"].clone();
    let rest = api
        .client
        .get(api.url("instances?workflow=event&top=4"))
        .bearer_auth(TOKEN)
        .header("x-ms-continuation-token", token)
        .send()
        .await
        .unwrap();
    assert!(rest.headers().get("x-ms-continuation-token").is_none());
    let rest = json_of(rest).await.as_array().cloned().unwrap();
    assert_eq!(rest.len(), 1);
    assert_eq!(rest[0]["instanceId"], "wait-4");
    assert!(rest[0].get("historyEvents").is_none());
}

/// Runs `wasmhost workflow <args> --app <dir>` with no `RUST_LOG` and no stdin; (success,
/// stdout, stderr).
fn workflow(dir: &Path, args: &[&str]) -> (bool, String, String) {
    let token = dir.join("admin.token");
    let out = Command::new(wasmhost_binary())
        .arg("workflow")
        .args(args)
        .arg("--app")
        .arg(dir.join("wasmhost.toml"))
        .arg("--admin-token-file")
        .arg(token)
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `wasmhost workflow <args>`, which must succeed; its stdout as one JSON value per line.
fn workflow_json(dir: &Path, args: &[&str]) -> Vec<Value> {
    let (ok, out, err) = workflow(dir, args);
    assert!(ok, "workflow {args:?}: {err}");
    out.lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

/// Waits until `wasmhost workflow status id` says `runtime_status`; that status.
async fn cli_wait_for(dir: &Path, id: &str, runtime_status: &str) -> Value {
    let deadline = Instant::now() + LONG;
    loop {
        let status = workflow_json(dir, &["status", id]).remove(0);
        if status["runtimeStatus"] == runtime_status {
            return status;
        }
        assert!(
            Instant::now() < deadline,
            "{id} is not {runtime_status}: {status}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_workflow_commands_work_on_the_store_and_through_a_serve() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    write_app(dir);

    // With nothing serving, on the store: the instance waits, `Pending`, for a serve.
    let (ok, id, err) = workflow(dir, &["start", "chain", "--id", "offline-1"]);
    assert!(ok, "{err}");
    assert_eq!((id.as_str(), err.as_str()), ("offline-1\n", ""));
    let status = workflow_json(dir, &["status", "offline-1"]);
    assert_eq!(status[0]["runtimeStatus"], "Pending");
    assert_eq!(status[0]["input"], Value::Null);
    let listed = workflow_json(dir, &["list", "--status", "Pending"]);
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["instanceId"], "offline-1");
    let (ok, _, err) = workflow(dir, &["purge", "offline-1"]);
    assert!(!ok && err.contains("is Pending"), "{err}");
    let (ok, _, err) = workflow(dir, &["start", "nope"]);
    assert!(!ok && err.contains("no workflow named `nope`"), "{err}");
    let (ok, _, err) = workflow(dir, &["start", "chain", "--input", "not json"]);
    assert!(!ok && err.contains("not JSON"), "{err}");

    // Served, the instance runs; the commands go through the admin listener that the serve
    // records beside the manifest.
    let server = serve(dir);
    let deadline = Instant::now() + LONG;
    while !dir.join(".wasmhost/admin-url").exists() {
        assert!(
            Instant::now() < deadline,
            "serve records its admin listener"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        cli_wait_for(dir, "offline-1", "Completed").await["output"],
        "abc"
    );
    let history = workflow_json(dir, &["history", "offline-1"]);
    assert_eq!(history[0]["eventType"], "Started");
    assert_eq!(history.last().unwrap()["eventType"], "Completed");
    assert_eq!(history.last().unwrap()["output"], "abc");

    let (ok, id, err) = workflow(
        dir,
        &[
            "start",
            "event",
            "--id",
            "cli-ev",
            "--input",
            r#"{"timeout_ms": 600000}"#,
        ],
    );
    assert!(ok && id == "cli-ev\n", "{err}");
    Api::new(&server)
        .wait_for_event("cli-ev", "EventWaited")
        .await;
    let (ok, _, err) = workflow(
        dir,
        &[
            "raise",
            "cli-ev",
            "approval",
            "--payload",
            r#"{"by": "cli"}"#,
        ],
    );
    assert!(
        ok && err.contains("event `approval` raised on instance `cli-ev`"),
        "{err}"
    );
    let done = cli_wait_for(dir, "cli-ev", "Completed").await;
    assert_eq!(
        done["output"],
        json!({ "first": "event", "payload": { "by": "cli" } })
    );

    let (ok, id, err) = workflow(dir, &["start", "event"]);
    assert!(ok, "{err}");
    let id = id.trim();
    assert_eq!(id.len(), 32, "a new UUID: {id}");
    let (ok, _, err) = workflow(dir, &["terminate", id, "--reason", "by hand"]);
    assert!(ok && err.contains("is terminating"), "{err}");
    assert_eq!(
        cli_wait_for(dir, id, "Terminated").await["error"],
        "by hand"
    );

    // Paged through the listener: the token of the next page goes to stderr.
    let (ok, out, err) = workflow(dir, &["list", "--workflow", "event", "--top", "1"]);
    assert!(ok, "{err}");
    let first: Value = serde_json::from_str(out.trim()).unwrap();
    let token = err
        .trim()
        .strip_prefix("more instances: --continuation ")
        .unwrap_or_else(|| panic!("{err}"));
    let rest = workflow_json(
        dir,
        &["list", "--workflow", "event", "--continuation", token],
    );
    assert_eq!(rest.len(), 1);
    assert_ne!(rest[0]["instanceId"], first["instanceId"]);
    let ended = workflow_json(dir, &["list", "--status", "Completed,Terminated"]);
    assert_eq!(ended.len(), 3);

    for id in ["offline-1", "cli-ev", id] {
        let (ok, _, err) = workflow(dir, &["purge", id]);
        assert!(ok && err.contains("purged"), "{err}");
    }
    assert!(workflow_json(dir, &["list"]).is_empty());
    let (ok, _, err) = workflow(dir, &["status", "cli-ev"]);
    assert!(
        !ok && err.contains("404") && err.contains("no instance `cli-ev`"),
        "{err}"
    );
}

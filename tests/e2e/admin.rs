//! End-to-end tests of `wasmhost queue` and `wasmhost cron run` against an app that a real
//! `wasmhost serve` holds (sled stores are locked to it): the commands go through its admin
//! listener (the one `serve` recorded, or `--admin`), and say who holds the store without
//! one; a second `serve` of the
//! app names the holder too; `cron run` also runs a trigger with nothing serving. The app is
//! `tests/guests/queue-probe` (records each message in the key-value store) and
//! `tests/guests/cron-probe` (counts its runs there).

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use wasmhost_tests::{Server, guests, shared_compile_cache, wasmhost_binary};

const TOKEN: &str = "e2e-operator-token";

/// Queue `cli` (no retry, its dead letters left alone), HTTP routes to send and read the
/// store, and two cron triggers that do not fire during a test: `ticker`, and `failer`,
/// whose runs fail.
fn write_app(dir: &Path) {
    let manifest = format!(
        r#"manifest_version = 1
[application]
name = "operated"

[[trigger.http]]
route = "/send/:queue"
component = "probe"
[[trigger.http]]
route = "/kv/:key"
component = "probe"

[[trigger.queue]]
queue = "cli"
component = "probe"
max_retries = 0

[[trigger.cron]]
schedule = "0 0 0 1 1 *"
component = "ticker"
[[trigger.cron]]
schedule = "0 0 0 1 1 *"
component = "failer"

[component.probe]
source = "{probe}"
key_value_stores = ["default"]
queues = ["cli"]

[component.ticker]
source = "{cron}"
key_value_stores = ["default"]
[component.ticker.variables]
key = "ticker"

[component.failer]
source = "{cron}"
key_value_stores = ["default"]
[component.failer.variables]
key = "failer"
fail = "true"
"#,
        probe = guests::QUEUE_PROBE,
        cron = guests::CRON_PROBE,
    );
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

/// Runs `wasmhost <args> --app <dir>` (and the shared compile cache for `cron`) with no
/// `RUST_LOG` (the command's own default) and no stdin; (success, stdout, stderr).
fn wasmhost(dir: &Path, args: &[&str]) -> (bool, String, String) {
    let mut command = Command::new(wasmhost_binary());
    command
        .args(args)
        .arg("--app")
        .arg(dir.join("wasmhost.toml"));
    if args[0] == "cron" {
        command.arg("--cache-dir").arg(shared_compile_cache());
    }
    let out = command
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

/// [`wasmhost`] with `--admin <the server's admin listener>` and the token file `token`.
fn through_admin(
    dir: &Path,
    server: &Server,
    token: &str,
    args: &[&str],
) -> (bool, String, String) {
    let admin = server.admin_url("");
    let token = dir.join(token);
    let mut all = args.to_vec();
    all.extend([
        "--admin",
        &admin,
        "--admin-token-file",
        token.to_str().unwrap(),
    ]);
    wasmhost(dir, &all)
}

/// `text` with the server's pid and the app's directory replaced, for snapshots.
fn redact(text: &str, server: &Server, dir: &Path) -> String {
    text.replace(&server.pid().to_string(), "<pid>")
        .replace(dir.to_str().unwrap(), "<dir>")
}

async fn kv(server: &Server, key: &str) -> Option<String> {
    let response = reqwest::get(server.url(&format!("/kv/{key}")))
        .await
        .unwrap();
    match response.status().as_u16() {
        200 => Some(response.text().await.unwrap()),
        _ => None,
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

fn json_lines(out: &str) -> Vec<serde_json::Value> {
    out.lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn while_serving_the_queue_and_cron_commands_go_through_the_admin_listener() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    write_app(dir);
    let server = serve(dir);

    // A second serve of the same app names the process that holds its store.
    let manifest = dir.join("wasmhost.toml");
    let (ok, _, err) = wasmhost_tests::run(
        wasmhost_binary(),
        &[
            "serve",
            manifest.to_str().unwrap(),
            "--listen",
            "127.0.0.1:0",
            "--cache-dir",
            shared_compile_cache().to_str().unwrap(),
        ],
    )
    .unwrap();
    assert!(!ok);
    assert!(err.contains(&format!("pid {}", server.pid())), "{err}");
    insta::assert_snapshot!("second_serve", redact(&err, &server, dir));

    // Without --admin, a queue command finds the admin listener that serve recorded beside
    // the manifest...
    let recorded = std::fs::read_to_string(dir.join(".wasmhost/admin-url")).unwrap();
    assert_eq!(recorded.trim(), server.admin_url(""));
    let token = dir.join("admin.token");
    let (ok, out, err) = wasmhost(
        dir,
        &[
            "queue",
            "peek",
            "cli",
            "--admin-token-file",
            token.to_str().unwrap(),
        ],
    );
    assert!(ok && out.is_empty() && err.is_empty(), "{err}");
    // ... and with none recorded, names the holder and what to give.
    std::fs::remove_file(dir.join(".wasmhost/admin-url")).unwrap();
    let (ok, _, err) = wasmhost(dir, &["queue", "peek", "cli"]);
    assert!(!ok);
    insta::assert_snapshot!("queue_without_admin", redact(&err, &server, dir));

    // A message that fails is dead-lettered at once (no retry).
    let sent = reqwest::Client::new()
        .post(server.url("/send/cli"))
        .body("fail-cli")
        .send()
        .await
        .unwrap();
    assert_eq!(sent.status(), 200);
    wait_for(&server, "seen:fail-cli", "1").await;
    let deadline = Instant::now() + Duration::from_secs(20);
    let letters = loop {
        let (ok, out, err) = through_admin(
            dir,
            &server,
            "admin.token",
            &["queue", "dead-letters", "cli"],
        );
        assert!(ok, "{err}");
        assert!(err.is_empty(), "no log lines unless asked: {err}");
        let letters = json_lines(&out);
        if !letters.is_empty() || Instant::now() > deadline {
            break letters;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(letters.len(), 1, "{letters:?}");
    assert_eq!(letters[0]["body"], "fail-cli");
    assert_eq!(
        letters[0]["attributes"]["wasmhost-error"],
        "asked to fail on fail-cli"
    );

    // Redriven, the serving consumer takes it again.
    let (ok, _, err) = through_admin(dir, &server, "admin.token", &["queue", "redrive", "cli"]);
    assert!(ok, "{err}");
    assert!(
        err.contains("moved 1 messages from `cli-dead-letter` to `cli`"),
        "{err}"
    );
    wait_for(&server, "seen:fail-cli", "2").await;

    // Sent through the listener (delayed, so it waits), then peeked at.
    let (ok, id, err) = through_admin(
        dir,
        &server,
        "admin.token",
        &[
            "queue",
            "send",
            "cli",
            "--body",
            "later",
            "--attribute",
            "k=v",
            "--delay-ms",
            "600000",
        ],
    );
    assert!(ok, "{err}");
    let (ok, out, err) = through_admin(dir, &server, "admin.token", &["queue", "peek", "cli"]);
    assert!(ok, "{err}");
    let waiting = json_lines(&out);
    assert_eq!(waiting.len(), 1, "{out}");
    assert_eq!(waiting[0]["body"], "later");
    assert_eq!(waiting[0]["attributes"]["k"], "v");
    assert_eq!(waiting[0]["id"], id.trim());

    // The listener's answers name the queue, and the token.
    let (ok, _, err) = through_admin(dir, &server, "admin.token", &["queue", "peek", "nope"]);
    assert!(
        !ok && err.contains("no queue `nope`; its queues are: cli, cli-dead-letter"),
        "{err}"
    );
    std::fs::write(dir.join("wrong.token"), "not-it").unwrap();
    let (ok, _, err) = through_admin(dir, &server, "wrong.token", &["queue", "peek", "cli"]);
    assert!(
        !ok && err.contains("401") && err.contains("not that serve's"),
        "{err}"
    );

    // A cron trigger run by hand, in the serving process.
    let (ok, _, err) = through_admin(dir, &server, "admin.token", &["cron", "run", "ticker"]);
    assert!(ok && err.contains("cron trigger `ticker` ran"), "{err}");
    assert_eq!(kv(&server, "ticker").await.as_deref(), Some("1"));
    let (ok, _, err) = through_admin(dir, &server, "admin.token", &["cron", "run", "failer"]);
    assert!(!ok && err.contains("asked to fail (failer)"), "{err}");
    let (ok, _, err) = through_admin(dir, &server, "admin.token", &["cron", "run", "nope"]);
    assert!(!ok);
    insta::assert_snapshot!("unknown_cron_trigger", redact(&err, &server, dir));

    // The endpoint itself, with and without the token.
    let run = server.admin_url("/.well-known/wasmhost/cron/ticker/run");
    let client = reqwest::Client::new();
    let refused = client.post(&run).send().await.unwrap();
    assert_eq!(refused.status(), 401);
    let ran = client.post(&run).bearer_auth(TOKEN).send().await.unwrap();
    assert_eq!(ran.status(), 200);
    assert_eq!(kv(&server, "ticker").await.as_deref(), Some("2"));
    let peek = server.admin_url("/.well-known/wasmhost/queues/cli/messages?max=5");
    let listed = client
        .get(&peek)
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let listed: Vec<serde_json::Value> = serde_json::from_str(&listed).unwrap();
    assert_eq!(listed.len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn cron_run_loads_the_app_when_nothing_serves() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    write_app(dir);
    let (ok, _, err) = wasmhost(dir, &["cron", "run", "ticker"]);
    assert!(ok, "{err}");
    assert_eq!(
        err, "cron trigger `ticker` ran\n",
        "no log lines unless asked"
    );
    // An unknown trigger is told before the app loads.
    let (ok, _, err) = wasmhost(dir, &["cron", "run", "tick"]);
    assert!(
        !ok && err.contains("`ticker` (0 0 0 1 1 *), `failer`"),
        "{err}"
    );
    // The run's effect is in the app's store.
    let server = serve(dir);
    assert_eq!(kv(&server, "ticker").await.as_deref(), Some("1"));
}

//! End-to-end tests of the key-value capability: the real `wasmhost` binary serving
//! `apps/kv-counter` and `tests/guests/kv-probe`, driven over HTTP with reqwest.
//!
//! Each test in [`on_both_backends!`] is one body run twice: on the embedded sled default (no
//! runtime config) and on a real `redis-server` of its own (a runtime config mapping both
//! stores to it). A missing `redis-server` fails the Redis tests; it never skips them.

use std::path::Path;
use std::time::{Duration, Instant};

use wasmhost_tests::{RedisServer, Server, guests, run, wasmhost_binary};

/// Where an app's stores live.
enum Backend {
    /// No runtime config: sled under `.wasmhost/kv` next to the manifest.
    Sled,
    /// Both stores on this Redis server.
    Redis(RedisServer),
}

impl Backend {
    fn redis() -> Self {
        Self::Redis(RedisServer::start())
    }
}

/// The test app: kv-counter (granted `default`) and kv-probe (granted `default`, `sessions`).
fn manifest() -> String {
    format!(
        r#"manifest_version = 1
[application]
name = "kv"

[[trigger.http]]
route = "/count/:name"
component = "kv-counter"
[[trigger.http]]
route = "/kv/:key"
component = "kv-counter"
[[trigger.http]]
route = "/kv"
component = "kv-counter"
[[trigger.http]]
route = "/suite/:store"
component = "kv-probe"
[[trigger.http]]
route = "/open/:store"
component = "kv-probe"
[[trigger.http]]
route = "/claim/:store/:key"
component = "kv-probe"
[[trigger.http]]
route = "/set/:store/:key"
component = "kv-probe"
[[trigger.http]]
route = "/get-many/:store/:key/:count"
component = "kv-probe"
[[trigger.http]]
route = "/empty-identifier/:key"
component = "kv-probe"

[component.kv-counter]
source = "{}"
key_value_stores = ["default"]

[component.kv-probe]
source = "{}"
key_value_stores = ["default", "sessions"]
"#,
        guests::KV_COUNTER,
        guests::KV_PROBE
    )
}

/// A running app on one backend.
struct App {
    dir: tempfile::TempDir,
    backend: Backend,
    server: Server,
}

impl App {
    /// Writes the app (and, for Redis, its runtime config) to a new directory and serves it,
    /// seeding `default:greeting=hello`.
    fn start(backend: Backend) -> Self {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("wasmhost.toml"), manifest()).unwrap();
        if let Backend::Redis(redis) = &backend {
            let config = format!(
                "[key_value_store.default]\ntype = \"redis\"\nurl = \"{url}\"\n\n\
                 [key_value_store.sessions]\ntype = \"redis\"\nurl = \"{url}\"\nprefix = \"e2e\"\n",
                url = redis.url()
            );
            std::fs::write(dir.path().join("runtime.toml"), config).unwrap();
        }
        let server = serve(dir.path(), &backend);
        Self {
            dir,
            backend,
            server,
        }
    }

    fn url(&self, path: &str) -> String {
        self.server.url(path)
    }

    /// Kills the host with SIGKILL and starts it again on the same directory and backend.
    fn kill_and_restart(&mut self) {
        self.server.kill();
        self.server = serve(self.dir.path(), &self.backend);
    }
}

/// Starts `wasmhost serve` on the app in `dir`.
fn serve(dir: &Path, backend: &Backend) -> Server {
    let config = dir.join("runtime.toml");
    let mut args = vec![
        "--key-value",
        "default:greeting=hello",
        "--admin-listen",
        "127.0.0.1:0",
    ];
    if matches!(backend, Backend::Redis(_)) {
        args.extend(["--runtime-config", config.to_str().unwrap()]);
    }
    Server::start_app(wasmhost_binary(), &dir.join("wasmhost.toml"), &args).unwrap()
}

async fn send(request: reqwest::RequestBuilder) -> (u16, String) {
    let response = request
        .timeout(Duration::from_secs(30))
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

async fn get(url: String) -> (u16, String) {
    send(reqwest::Client::new().get(url)).await
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
                    super::$test(super::App::start(super::Backend::redis())).await;
                }
            )*
        }
    };
}

on_both_backends!(
    every_operation_from_a_guest,
    concurrent_increments_sum_exactly,
    compare_and_swap_conflict_has_one_winner,
    keys_in_paths_and_non_utf8_keys,
    ungranted_store_is_access_denied,
    seeded_key_is_served,
    keys_values_and_batches_are_bounded,
);

/// PUTs `body` to `/set/<store>/<key>`.
async fn set(app: &App, store: &str, key: &str, body: Vec<u8>) -> (u16, String) {
    let url = app.url(&format!("/set/{store}/{key}"));
    send(reqwest::Client::new().put(url).body(body)).await
}

/// Keys are at most 256 bytes and values at most 1 MiB by default (as Spin); a batch call
/// names at most 1 000 keys, and `get-many` returns at most 16 MiB; past each, the call fails
/// with `other` saying which limit (issue 18, finding 5: nothing bounded them).
async fn keys_values_and_batches_are_bounded(app: App) {
    let long_key = "k".repeat(257);
    let (status, body) = set(&app, "default", &long_key, b"v".to_vec()).await;
    assert_eq!(status, 500, "{body}");
    assert!(
        body.contains("a key of 257 bytes; key-value store `default` takes keys of at most 256 bytes (max_key_bytes)"),
        "{body}"
    );
    let (status, body) = set(&app, "default", "big", vec![b'v'; (1 << 20) + 1]).await;
    assert_eq!(status, 500, "{body}");
    assert!(
        body.contains("takes values of at most 1048576 bytes (max_value_bytes)"),
        "{body}"
    );
    assert_eq!(
        set(&app, "default", "big", vec![b'v'; 1 << 20]).await.0,
        204
    );
    assert_eq!(
        get(app.url("/get-many/default/big/16")).await,
        (200, "16777216\n".to_owned())
    );
    let (status, body) = get(app.url("/get-many/default/big/17")).await;
    assert_eq!(status, 500, "{body}");
    assert!(body.contains("one call returns at most 16777216"), "{body}");
    let (status, body) = get(app.url("/get-many/default/none/1001")).await;
    assert_eq!(status, 500, "{body}");
    assert!(
        body.contains("1001 keys in one batch call; the limit is 1000"),
        "{body}"
    );
}

/// A store's `max_key_bytes` and `max_value_bytes` in the runtime config replace the defaults;
/// a limit out of range stops startup at its line.
#[tokio::test(flavor = "multi_thread")]
async fn a_store_sets_its_own_size_limits() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("wasmhost.toml"), manifest()).unwrap();
    let config = dir.path().join("runtime.toml");
    std::fs::write(
        &config,
        "[key_value_store.sessions]\ntype = \"sled\"\npath = \"kv\"\nmax_key_bytes = 8\nmax_value_bytes = 4\n",
    )
    .unwrap();
    let server = Server::start_app(
        wasmhost_binary(),
        &dir.path().join("wasmhost.toml"),
        &["--runtime-config", config.to_str().unwrap()],
    )
    .unwrap();
    let put = |key: &str, body: &'static [u8]| {
        let url = server.url(&format!("/set/sessions/{key}"));
        send(reqwest::Client::new().put(url).body(body))
    };
    assert_eq!(put("12345678", b"1234").await.0, 204);
    let (status, body) = put("123456789", b"1").await;
    assert!(
        status == 500 && body.contains("at most 8 bytes (max_key_bytes)"),
        "{body}"
    );
    let (status, body) = put("k", b"12345").await;
    assert!(
        status == 500 && body.contains("at most 4 bytes (max_value_bytes)"),
        "{body}"
    );
    // The `default` store keeps the defaults.
    let url = server.url("/set/default/k");
    assert_eq!(
        send(reqwest::Client::new().put(url).body("12345")).await.0,
        204
    );

    let (dir, stderr) = serve_fails(
        "sessions",
        "[key_value_store.sessions]\ntype = \"sled\"\npath = \"kv\"\nmax_value_bytes = 0\n",
    );
    let want = format!(
        "{}:4:19: `key_value_store.sessions.max_value_bytes`: 0 is out of range (1 to 536870912)",
        dir.path().join("runtime.toml").display()
    );
    assert!(stderr.contains(&want), "{stderr}");
}

/// The capability suite inside kv-probe: get/set/delete/exists, 0-byte and 1 MiB values,
/// increment, compare-and-swap, the batch calls, list-keys paging over 10 000 keys. Stores
/// are isolated: wiping `sessions` leaves `default` alone.
async fn every_operation_from_a_guest(app: App) {
    assert_eq!(
        send(reqwest::Client::new().put(app.url("/kv/kept")).body("yes"))
            .await
            .0,
        204
    );
    for store in ["sessions", "default"] {
        let started = Instant::now();
        let (status, body) = get(app.url(&format!("/suite/{store}"))).await;
        assert_eq!((status, body.as_str()), (200, "ok\n"), "store {store}");
        eprintln!("suite on {store}: {:?}", started.elapsed());
        if store == "sessions" {
            assert_eq!(get(app.url("/kv/kept")).await, (200, "yes".to_owned()));
        }
    }
}

/// 100 parallel requests each increment the same counter: every value 1..=100 is answered
/// once, and the counter ends at exactly 100.
async fn concurrent_increments_sum_exactly(app: App) {
    let client = reqwest::Client::new();
    let requests = (0..100).map(|_| send(client.get(app.url("/count/hits"))));
    let mut counts: Vec<u64> = futures::future::join_all(requests)
        .await
        .into_iter()
        .map(|(status, body)| {
            assert_eq!(status, 200, "{body}");
            body.trim().parse().unwrap()
        })
        .collect();
    counts.sort_unstable();
    assert_eq!(counts, (1..=100).collect::<Vec<_>>());
    assert_eq!(
        get(app.url("/kv/count:hits")).await,
        (200, "100".to_owned())
    );
}

/// 20 parallel compare-and-swaps from "absent": exactly one wins, and its value stays.
async fn compare_and_swap_conflict_has_one_winner(app: App) {
    let client = reqwest::Client::new();
    let claims = (0..20).map(|i| {
        let client = client.clone();
        let url = app.url("/claim/default/leader");
        async move { (i, send(client.post(url).body(format!("node-{i}"))).await) }
    });
    let results = futures::future::join_all(claims).await;
    let winners: Vec<usize> = results
        .iter()
        .filter(|(_, (status, body))| {
            assert_eq!(*status, 200, "{body}");
            body == "won\n"
        })
        .map(|(i, _)| *i)
        .collect();
    assert_eq!(winners.len(), 1, "{results:?}");
    assert_eq!(
        get(app.url("/kv/leader")).await,
        (200, format!("node-{}", winners[0]))
    );
}

/// Keys are WIT strings: percent-encoded UTF-8 keys work, a key that is not UTF-8 once
/// decoded is rejected with 400 before reaching the store.
async fn keys_in_paths_and_non_utf8_keys(app: App) {
    let client = reqwest::Client::new();
    assert_eq!(
        send(client.put(app.url("/kv/caf%C3%A9%20au%20lait")).body("☕"))
            .await
            .0,
        204
    );
    assert_eq!(
        get(app.url("/kv/caf%C3%A9%20au%20lait")).await,
        (200, "☕".to_owned())
    );
    let (_, listed) = get(app.url("/kv?prefix=caf")).await;
    assert_eq!(listed, "café au lait\n");
    for bad in ["/kv/%FF", "/kv/%C3%28", "/count/%80"] {
        let (status, body) = send(client.put(app.url(bad)).body("x")).await;
        assert_eq!(status, 400, "{bad}: {body}");
        let (status, body) = get(app.url(bad)).await;
        assert_eq!(
            (status, body.as_str()),
            (400, "the key is not valid UTF-8\n"),
            "{bad}"
        );
    }
    assert_eq!(
        send(client.delete(app.url("/kv/caf%C3%A9%20au%20lait")))
            .await
            .0,
        204
    );
    assert_eq!(get(app.url("/kv/caf%C3%A9%20au%20lait")).await.0, 404);
}

/// A label the component is not granted is `access-denied` (no trap); granted ones open.
async fn ungranted_store_is_access_denied(app: App) {
    assert_eq!(
        get(app.url("/open/default")).await,
        (200, "ok\n".to_owned())
    );
    assert_eq!(
        get(app.url("/open/sessions")).await,
        (200, "ok\n".to_owned())
    );
    for label in ["secret", "nope"] {
        assert_eq!(
            get(app.url(&format!("/open/{label}"))).await,
            (403, "access-denied\n".to_owned())
        );
    }
    // The host's log says which store, which component, and the grant that would allow it.
    let log = app.server.log_with("key_value_stores");
    let denied = log
        .lines()
        .find(|line| line.contains("WARN") && line.contains("`secret`"))
        .unwrap_or_else(|| panic!("no WARN line for `secret` in\n{log}"));
    assert!(denied.contains("component=kv-probe"), "{denied}");
    assert!(
        denied.contains(r#"key_value_stores = ["secret"]"#),
        "{denied}"
    );
}

/// `--key-value default:greeting=hello` is set before the first request; `open("")` is the
/// `default` store, as wasmtime's own key-value test program expects.
async fn seeded_key_is_served(app: App) {
    assert_eq!(
        get(app.url("/kv/greeting")).await,
        (200, "hello".to_owned())
    );
    assert_eq!(
        get(app.url("/empty-identifier/greeting")).await,
        (200, "hello".to_owned())
    );
}

/// sled: a write answered 204 survives `kill -9` of the host.
#[tokio::test(flavor = "multi_thread")]
async fn sled_write_survives_kill_9() {
    let mut app = App::start(Backend::Sled);
    let client = reqwest::Client::new();
    assert_eq!(
        send(client.put(app.url("/kv/durable")).body("still here"))
            .await
            .0,
        204
    );
    assert_eq!(get(app.url("/count/crash")).await, (200, "1\n".to_owned()));
    app.kill_and_restart();
    assert_eq!(
        get(app.url("/kv/durable")).await,
        (200, "still here".to_owned())
    );
    assert_eq!(get(app.url("/count/crash")).await, (200, "2\n".to_owned()));
}

/// Redis killed mid-run: requests get a 5xx quickly, the log names the store and the request,
/// and readiness turns 503 naming both stores; once Redis is back (with its append-only file,
/// so the acknowledged writes), requests succeed again and readiness is 200 again, without
/// restarting the host.
#[tokio::test(flavor = "multi_thread")]
async fn redis_down_mid_run_then_back() {
    let mut app = App::start(Backend::redis());
    let ready = format!(
        "http://{}/.well-known/wasmhost/ready",
        app.server.admin_addr.unwrap()
    );
    assert_eq!(get(ready.clone()).await, (200, "ready\n".to_owned()));
    assert_eq!(get(app.url("/count/up")).await, (200, "1\n".to_owned()));

    let Backend::Redis(redis) = &mut app.backend else {
        unreachable!()
    };
    redis.kill();
    let started = Instant::now();
    let (status, body) = get(app.server.url("/count/up")).await;
    assert_eq!(status, 500, "{body}");
    assert_eq!(
        body, "internal server error\n",
        "the detail is logged, not sent"
    );
    let log = app
        .server
        .log_with("key-value store `default` is unavailable");
    assert!(log.contains("handler failed: "), "{log}");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    let log = app.server.log_with("key-value increment failed");
    assert!(
        log.contains("key-value increment failed")
            && log.contains("store=default")
            && log.contains("request_id="),
        "{log}"
    );
    let (status, body) = get(ready.clone()).await;
    assert_eq!(status, 503, "{body}");
    assert!(
        body.contains("key-value store `default` (redis redis://127.0.0.1:")
            && body.contains("key-value store `sessions`"),
        "{body}"
    );

    redis.restart();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (status, body) = get(app.server.url("/count/up")).await;
        if status == 200 {
            // Redis kept its append-only file: the counter goes on from its acknowledged 1.
            assert_eq!(body, "2\n");
            break;
        }
        assert!(Instant::now() < deadline, "still failing: {status} {body}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Each store reconnects on its own; a readiness probe polls until all of them answer.
    loop {
        let (status, body) = get(ready.clone()).await;
        if status == 200 {
            assert_eq!(body, "ready\n");
            break;
        }
        assert!(Instant::now() < deadline, "still not ready: {body}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Two hosts on one Redis share their stores: 50 increments on each sum to 100.
#[tokio::test(flavor = "multi_thread")]
async fn two_nodes_share_state_through_redis() {
    let app = App::start(Backend::redis());
    let second = serve(app.dir.path(), &app.backend);
    let client = reqwest::Client::new();
    let requests = (0..100).map(|i| {
        let url = if i % 2 == 0 {
            app.url("/count/shared")
        } else {
            second.url("/count/shared")
        };
        send(client.get(url))
    });
    for (status, body) in futures::future::join_all(requests).await {
        assert_eq!(status, 200, "{body}");
    }
    assert_eq!(
        get(second.url("/kv/count:shared")).await,
        (200, "100".to_owned())
    );
}

/// The guide's first mistake: a component that opens `default` without the grant. The client
/// gets a plain 500 with no internal detail; the log says which store, which component, and the
/// line that grants it.
#[tokio::test]
async fn a_store_opened_without_its_grant_is_a_plain_500_and_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = format!(
        "manifest_version = 1\n[application]\nname = \"kv\"\n[[trigger.http]]\nroute = \"/count/:name\"\ncomponent = \"kv-counter\"\n[component.kv-counter]\nsource = \"{}\"\n",
        guests::KV_COUNTER
    );
    let path = dir.path().join("wasmhost.toml");
    std::fs::write(&path, manifest).unwrap();
    let server = Server::start_app(wasmhost_binary(), &path, &[]).unwrap();
    assert_eq!(
        get(server.url("/count/x")).await,
        (500, "internal server error\n".to_owned())
    );
    let log = server.log_with("key_value_stores = [");
    let warning = log
        .lines()
        .find(|line| line.contains("WARN") && line.contains("key-value store `default` denied"))
        .unwrap_or_else(|| panic!("{log}"));
    assert!(
        warning.contains(r#"add `key_value_stores = ["default"]` to [component.kv-counter]"#),
        "{warning}"
    );
    // The SDK writes the handler's error to stderr, which the host logs with the request.
    let log = server.log_with("handler failed");
    assert!(
        log.contains("handler failed: access to the key-value store is denied"),
        "{log}"
    );
}

/// A store granted in the manifest but missing from the runtime config stops startup with the
/// manifest's file, line and column, the component and the label.
#[test]
fn undefined_store_fails_at_startup() {
    let (dir, stderr) = serve_fails(
        "carts",
        "[key_value_store.sessions]\ntype = \"sled\"\npath = \"kv\"\n",
    );
    let want = format!(
        "{}:6:32: `component.counter.key_value_stores`: store `carts` is not defined in the runtime config `{}`",
        dir.path().join("wasmhost.toml").display(),
        dir.path().join("runtime.toml").display()
    );
    assert!(stderr.contains(&want), "{stderr}");
}

/// A runtime config with an unknown field is rejected with its file and line.
#[test]
fn bad_runtime_config_names_file_and_line() {
    let (dir, stderr) = serve_fails(
        "sessions",
        "[key_value_store.default]\ntype = \"redis\"\nurl = \"redis://127.0.0.1:1\"\ndatabase = 2\n",
    );
    let want = format!(
        "{}:4:1: in `[key_value_store.default]`: unknown key `database`",
        dir.path().join("runtime.toml").display()
    );
    assert!(stderr.contains(&want), "{stderr}");
}

/// Serves an app whose component is granted `default` and `label`, with runtime config
/// `config`; asserts that `wasmhost serve` fails, and returns the directory and its stderr.
fn serve_fails(label: &str, config: &str) -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let manifest = dir.path().join("wasmhost.toml");
    std::fs::write(&manifest, manifest_text_with_store(label)).unwrap();
    let runtime_config = dir.path().join("runtime.toml");
    std::fs::write(&runtime_config, config).unwrap();
    let (ok, _, stderr) = run(
        wasmhost_binary(),
        &[
            "serve",
            manifest.to_str().unwrap(),
            "--runtime-config",
            runtime_config.to_str().unwrap(),
        ],
    )
    .unwrap();
    assert!(!ok, "{stderr}");
    (dir, stderr)
}

fn manifest_text_with_store(label: &str) -> String {
    format!(
        "manifest_version = 1\n[application]\nname = \"a\"\n[component.counter]\nsource = \"{}\"\nkey_value_stores = [\"default\", \"{label}\"]\n",
        guests::KV_COUNTER
    )
}

/// A key-value store labelled `queue`, on the same Redis and prefix as a queue, cannot reach
/// the queue's keys: it neither reads the queue's id counter nor replaces its stream (issue 18,
/// finding 2: before, keys were `<prefix>:<label>:<key>` and queues `<prefix>:queue:<name>`,
/// and a `set` there lost every pending message without a queue grant).
#[tokio::test(flavor = "multi_thread")]
async fn a_store_label_cannot_alias_a_queue() {
    let redis = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let manifest = format!(
        r#"manifest_version = 1
[application]
name = "alias"

[[trigger.http]]
route = "/send/:queue"
component = "sender"
[[trigger.http]]
route = "/set/:store/:key"
component = "kv-probe"
[[trigger.http]]
route = "/get/:store/:key"
component = "kv-probe"

[component.sender]
source = "{}"
queues = ["clicks"]
key_value_stores = ["default"]

[component.kv-probe]
source = "{}"
key_value_stores = ["queue"]
"#,
        guests::QUEUE_PROBE,
        guests::KV_PROBE
    );
    std::fs::write(dir.path().join("wasmhost.toml"), manifest).unwrap();
    let config = format!(
        "[key_value_store.queue]\ntype = \"redis\"\nurl = \"{url}\"\n\n\
         [queue.clicks]\ntype = \"redis\"\nurl = \"{url}\"\n",
        url = redis.url()
    );
    let runtime_config = dir.path().join("runtime.toml");
    std::fs::write(&runtime_config, config).unwrap();
    let server = Server::start_app(
        wasmhost_binary(),
        &dir.path().join("wasmhost.toml"),
        &["--runtime-config", runtime_config.to_str().unwrap()],
    )
    .unwrap();
    let client = reqwest::Client::new();
    let sent = send(client.post(server.url("/send/clicks")).body("first")).await;
    assert_eq!(sent.0, 200, "{}", sent.1);
    // The queue's id counter and stream are out of the store's reach.
    assert_eq!(get(server.url("/get/queue/clicks:seq")).await.0, 404);
    assert_eq!(get(server.url("/get/queue/clicks")).await.0, 404);
    let set = send(
        client
            .put(server.url("/set/queue/clicks"))
            .body("overwritten"),
    )
    .await;
    assert_eq!(set.0, 204, "{}", set.1);
    assert_eq!(
        get(server.url("/get/queue/clicks")).await,
        (200, "overwritten".to_owned())
    );
    // The queue still takes messages after the store's write.
    let again = send(client.post(server.url("/send/clicks")).body("second")).await;
    assert_eq!(again.0, 200, "{}", again.1);
}

/// A Redis password given the `unix://` way (`?pass=`), which redis-rs reads, never shows: not
/// in the log line of the store's opening, not in the readiness answer that names the store
/// (issue 18, finding 8).
#[tokio::test(flavor = "multi_thread")]
async fn a_unix_socket_redis_password_never_shows() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("wasmhost.toml"), manifest()).unwrap();
    let socket = dir.path().join("no-redis.sock");
    let config = format!(
        "[key_value_store.default]\ntype = \"redis\"\nurl = \"unix://{}?db=0&pass=hunter2\"\n\n\
         [key_value_store.sessions]\ntype = \"sled\"\npath = \"kv\"\n",
        socket.display()
    );
    let runtime_config = dir.path().join("runtime.toml");
    std::fs::write(&runtime_config, config).unwrap();
    let server = Server::start_app(
        wasmhost_binary(),
        &dir.path().join("wasmhost.toml"),
        &[
            "--runtime-config",
            runtime_config.to_str().unwrap(),
            "--admin-listen",
            "127.0.0.1:0",
        ],
    )
    .unwrap();
    let admin = server.admin_addr.unwrap();
    let (status, body) = get(format!("http://{admin}/.well-known/wasmhost/ready")).await;
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("key-value store `default`"), "{body}");
    assert!(!body.contains("hunter2"), "{body}");
    let log = server.stderr();
    assert!(log.contains("key-value store open"), "{log}");
    assert!(!log.contains("hunter2"), "{log}");
}

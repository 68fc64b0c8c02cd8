//! End-to-end tests of route authorization: keys made with `wasmhost keys`, verified by the
//! real binary before any guest runs, against `hello`, `echo` and the `hostile` guest's
//! `/request` (which shows the request as the guest sees it).

use std::path::Path;
use std::time::{Duration, Instant};

use wasmhost_tests::{Server, guests, run, wasmhost_binary};

/// An app whose routes need keys: `/anon/:name` (anonymous), `/fn/:name` (a `hello` key),
/// `/admin/:name` (admin), `/other` (an `echo` key), `/seen/...` (a `hostile` key).
fn write_app(dir: &Path) -> std::path::PathBuf {
    let manifest = format!(
        r#"manifest_version = 1
[application]
name = "guarded"
auth = "function"

[[trigger.http]]
route = "/anon/:name"
component = "hello"
auth = "anonymous"
[[trigger.http]]
route = "/fn/:name"
component = "hello"
[[trigger.http]]
route = "/admin/:name"
component = "hello"
auth = "admin"
[[trigger.http]]
route = "/other"
component = "echo"
[[trigger.http]]
route = "/seen/..."
component = "hostile"

[component.hello]
source = "{}"
[component.echo]
source = "{}"
[component.hostile]
source = "{}"
"#,
        guests::HELLO,
        guests::ECHO,
        guests::HOSTILE
    );
    let path = dir.join("wasmhost.toml");
    std::fs::write(&path, manifest).unwrap();
    path
}

/// `wasmhost keys <args> <dir>`: stdout (the key, for create and rotate).
fn keys(dir: &Path, args: &[&str]) -> String {
    let mut all = vec!["keys"];
    all.extend_from_slice(args);
    all.push(dir.to_str().unwrap());
    let (ok, stdout, stderr) = run(wasmhost_binary(), &all).unwrap();
    assert!(ok, "wasmhost {all:?}: {stderr}");
    stdout.trim().to_owned()
}

/// A key's id: `wh_<id>_<secret>`.
fn id(key: &str) -> &str {
    &key[3..19]
}

/// GET `path` with `key` in `x-functions-key`; the status and body.
async fn get(server: &Server, path: &str, key: Option<&str>) -> (u16, String) {
    let mut request = reqwest::Client::new().get(server.url(path));
    if let Some(key) = key {
        request = request.header("x-functions-key", key);
    }
    let response = request.send().await.unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

/// Waits up to 10 s (a node reads the keys again every 2 s) until `path` with `key` answers
/// `status`.
async fn wait_status(server: &Server, path: &str, key: Option<&str>, status: u16) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (got, body) = get(server, path, key).await;
        if got == status {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{path}: {got} {body}, not {status}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn start(dir: &Path, extra: &[&str]) -> Server {
    Server::start_app(wasmhost_binary(), &dir.join("wasmhost.toml"), extra).unwrap()
}

/// Anonymous routes answer without a key; a `function` route takes its component's key (or an
/// app or admin key) and refuses a wrong, missing, expired or revoked one with one uniform
/// 401; a component's key does not open another component's routes; an `admin` route takes
/// admin keys only. The guest sees the key's id and name, never the key.
#[tokio::test]
async fn keys_open_the_routes_of_their_scope() {
    let dir = tempfile::tempdir().unwrap();
    write_app(dir.path());
    let hello = keys(
        dir.path(),
        &["create", "--component", "hello", "--name", "ci"],
    );
    let app_key = keys(dir.path(), &["create", "--app"]);
    let admin = keys(dir.path(), &["create", "--admin", "--name", "ops"]);
    let hostile = keys(
        dir.path(),
        &["create", "--component", "hostile", "--name", "probe"],
    );
    let short = keys(
        dir.path(),
        &["create", "--component", "hello", "--expires-in-secs", "1"],
    );
    let server = start(dir.path(), &["--admin-listen", "127.0.0.1:0"]);

    assert_eq!(get(&server, "/anon/ann", None).await.0, 200);
    assert_eq!(get(&server, "/fn/ann", Some(&hello)).await.0, 200);
    assert_eq!(get(&server, "/fn/ann", Some(&app_key)).await.0, 200);
    assert_eq!(get(&server, "/fn/ann", Some(&admin)).await.0, 200);
    let mut wrong = hello.clone();
    wrong.replace_range(
        wrong.len() - 1..,
        if hello.ends_with('0') { "1" } else { "0" },
    );
    let unauthorized = (401, "unauthorized\n".to_owned());
    for key in [
        None,
        Some(wrong.as_str()),
        Some("wh_nonsense"),
        Some(&hostile),
    ] {
        assert_eq!(get(&server, "/fn/ann", key).await, unauthorized, "{key:?}");
    }
    assert_eq!(get(&server, "/other", Some(&hello)).await, unauthorized);
    assert_eq!(get(&server, "/admin/ann", Some(&hello)).await, unauthorized);
    assert_eq!(
        get(&server, "/admin/ann", Some(&app_key)).await,
        unauthorized
    );
    assert_eq!(get(&server, "/admin/ann", Some(&admin)).await.0, 200);

    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert_eq!(
        get(&server, "/fn/ann", Some(&short)).await,
        unauthorized,
        "expired"
    );

    let (status, seen) = get(&server, "/seen/request", Some(&hostile)).await;
    assert_eq!(status, 200, "{seen}");
    assert!(
        seen.contains(&format!("wasmhost-key-id: {}", id(&hostile))),
        "{seen}"
    );
    assert!(seen.contains("wasmhost-key-name: probe"), "{seen}");
    assert!(
        !seen.contains(&hostile) && !seen.contains("x-functions-key"),
        "{seen}"
    );

    keys(dir.path(), &["revoke", id(&hello)]);
    wait_status(&server, "/fn/ann", Some(&hello), 401).await;
    assert_eq!(get(&server, "/fn/ann", Some(&app_key)).await.0, 200);

    let failures = r#"wasmhost_http_auth_failures_total{outcome="unauthorized"}"#;
    assert!(server.metric(failures) >= 8.0, "failures are counted");
}

/// After a rotation with a grace period, the old and the new key both work until the grace
/// period ends, then only the new one; `list` shows the keys without their secrets, with
/// their last use.
#[tokio::test]
async fn a_rotated_key_keeps_working_for_its_grace_period() {
    let dir = tempfile::tempdir().unwrap();
    write_app(dir.path());
    let old = keys(dir.path(), &["create", "--component", "hello"]);
    let server = start(dir.path(), &[]);
    assert_eq!(get(&server, "/fn/a", Some(&old)).await.0, 200);
    let new = keys(dir.path(), &["rotate", id(&old), "--grace-secs", "4"]);
    wait_status(&server, "/fn/a", Some(&new), 200).await;
    assert_eq!(
        get(&server, "/fn/a", Some(&old)).await.0,
        200,
        "in the grace period"
    );
    wait_status(&server, "/fn/a", Some(&old), 401).await;
    assert_eq!(get(&server, "/fn/a", Some(&new)).await.0, 200);

    let list = keys(dir.path(), &["list"]);
    assert!(list.contains(id(&old)) && list.contains(id(&new)), "{list}");
    assert!(!list.contains(&new[20..]), "list shows a secret: {list}");
    // The node writes last-used times back to the store.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let list = keys(dir.path(), &["list"]);
        let line = list
            .lines()
            .find(|l| l.starts_with(id(&new)))
            .unwrap()
            .to_owned();
        if !line.ends_with("last_used=-") {
            break;
        }
        assert!(Instant::now() < deadline, "no last use recorded: {line}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// The key store holds no secret: neither the whole key nor its random part is in any of its
/// files.
#[test]
fn the_store_never_holds_a_secret() {
    let dir = tempfile::tempdir().unwrap();
    write_app(dir.path());
    let key = keys(dir.path(), &["create", "--admin"]);
    let secret = &key[20..];
    let store = dir.path().join(".wasmhost/keys");
    let mut files = 0;
    for entry in std::fs::read_dir(&store).unwrap() {
        let bytes = std::fs::read(entry.unwrap().path()).unwrap();
        let text = String::from_utf8_lossy(&bytes);
        assert!(!text.contains(secret) && !text.contains(&key), "{text}");
        files += 1;
    }
    assert_eq!(files, 2, "the pepper and one record");
}

/// A key sent in `?code=` opens the route, and is seen neither by the guest (its URL and
/// query: the other parameters stay) nor in the JSON log.
#[tokio::test]
async fn a_key_in_the_query_reaches_neither_the_guest_nor_the_log() {
    let dir = tempfile::tempdir().unwrap();
    write_app(dir.path());
    let key = keys(dir.path(), &["create", "--component", "hostile"]);
    let server = start(dir.path(), &["--log-format", "json"]);
    let url = server.url(&format!("/seen/request?a=1&code={key}&b=2"));
    let response = reqwest::get(url).await.unwrap();
    assert_eq!(response.status(), 200);
    let seen = response.text().await.unwrap();
    assert!(seen.starts_with("uri: "), "{seen}");
    assert!(seen.contains("/seen/request?a=1&b=2\n"), "{seen}");
    assert!(!seen.contains(&key) && !seen.contains("code="), "{seen}");
    let log = server.log_with("\"request_id\"");
    assert!(!log.contains(&key[20..]), "the key is in the log: {log}");
}

/// A burst of wrong keys from one address ends in 429; another address still gets 401.
#[tokio::test]
async fn repeated_failures_from_one_address_get_429() {
    let dir = tempfile::tempdir().unwrap();
    write_app(dir.path());
    keys(dir.path(), &["create", "--app"]);
    let server = start(dir.path(), &["--admin-listen", "127.0.0.1:0"]);
    let mut statuses = Vec::new();
    for _ in 0..20 {
        statuses.push(
            get(&server, "/fn/a", Some("wh_0000000000000000_00"))
                .await
                .0,
        );
    }
    assert_eq!(statuses[0], 401);
    assert_eq!(*statuses.last().unwrap(), 429, "{statuses:?}");
    let elsewhere = reqwest::Client::builder()
        .local_address(Some("127.0.0.2".parse().unwrap()))
        .build()
        .unwrap();
    let other = elsewhere
        .get(server.url("/fn/a"))
        .header("x-functions-key", "wh_0000000000000000_00")
        .send()
        .await
        .unwrap();
    assert_eq!(other.status().as_u16(), 401);
    assert!(server.metric(r#"wasmhost_http_auth_failures_total{outcome="rate_limited"}"#) >= 1.0);
}

/// The example app `apps/secured` passes every startup check.
#[test]
fn the_secured_example_passes_check() {
    let example = wasmhost_tests::repo_root().join("apps/secured");
    let (ok, stdout, stderr) =
        run(wasmhost_binary(), &["check", example.to_str().unwrap()]).unwrap();
    assert!(ok, "{stderr}");
    assert!(stdout.contains("2 component(s) checked"), "{stdout}");
}

/// With `[keys] type = "redis"` in the runtime config, keys made by `wasmhost keys` are
/// accepted by every node on that Redis, a revocation reaches them all, and nothing in Redis
/// holds the secret.
#[tokio::test(flavor = "multi_thread")]
async fn keys_on_redis_are_shared_by_every_node() {
    let redis = wasmhost_tests::RedisServer::start();
    let config = format!(
        "[keys]\ntype = \"redis\"\nurl = \"{}\"\nprefix = \"e2e\"\n",
        redis.url()
    );
    let dirs = [tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()];
    let mut nodes = Vec::new();
    for dir in &dirs {
        write_app(dir.path());
        let runtime = dir.path().join("runtime.toml");
        std::fs::write(&runtime, &config).unwrap();
        nodes.push(runtime);
    }
    let runtime = nodes[0].to_str().unwrap().to_owned();
    let key = keys(
        dirs[0].path(),
        &[
            "create",
            "--runtime-config",
            &runtime,
            "--component",
            "hello",
        ],
    );
    let servers: Vec<Server> = dirs
        .iter()
        .zip(&nodes)
        .map(|(dir, config)| start(dir.path(), &["--runtime-config", config.to_str().unwrap()]))
        .collect();
    for server in &servers {
        wait_status(server, "/fn/ann", Some(&key), 200).await;
    }
    let stored = redis.cli(&["HGETALL", "e2e:keys"]);
    assert!(stored.contains(id(&key)), "{stored}");
    let everything = format!("{stored}{}", redis.cli(&["KEYS", "*"]));
    assert!(
        !everything.contains(&key[20..]),
        "a secret in Redis: {everything}"
    );
    assert!(
        !dirs[0].path().join(".wasmhost/keys").exists(),
        "keys written to files"
    );

    keys(
        dirs[0].path(),
        &["revoke", "--runtime-config", &runtime, id(&key)],
    );
    for server in &servers {
        wait_status(server, "/fn/ann", Some(&key), 401).await;
    }
}

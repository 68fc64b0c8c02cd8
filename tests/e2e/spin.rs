//! End-to-end tests of Spin compatibility (issue 22): unmodified Spin apps, `spin.toml` v2 and
//! components built with spin-sdk 5 (`tests/guests/spin-*`), served by the real `wasmhost`
//! binary. Each test copies an app's directory (its `spin.toml`, and `assets/` if it has one)
//! into a temporary directory, puts the built guest at the path the manifest's `source` names
//! (`target/wasm32-wasip2/release/<crate>.wasm`, as `spin build` would), and runs
//! `wasmhost serve <dir>`: there is no `wasmhost.toml`, so the host must find `spin.toml`.
//!
//! What Spin does, and so what these tests expect, was read from Spin's source
//! (spinframework/spin): the `spin-*` request headers from `crates/trigger-http/src/headers.rs`
//! and the route matching they describe from `crates/routes/src/lib.rs`; service chaining and
//! self requests from `crates/trigger-http/src/outbound_http.rs`,
//! `crates/factor-outbound-http/src/wasi.rs` and
//! `crates/outbound-networking-config/src/allowed_hosts.rs`; variables from the environment
//! (`SPIN_VARIABLE_<NAME>`) from `crates/variables-env`; read-only file mounts from
//! `crates/factor-wasi`.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::Duration;

use wasmhost_tests::{
    RedisServer, Server, Upstream, guests, repo_root, run, shared_compile_cache, wasmhost_binary,
};

/// The `api_token` that `tests/guests/spin-variables` answers `token-ok` to (its
/// `EXPECTED_TOKEN`). A secret: it must never reach the host's output.
const TOKEN: &str = "s3cr3t-spin-t0ken-4711";

/// A copy of the Spin app `tests/guests/<name>` (its `spin.toml` unchanged, and `assets/` if
/// it has one) in a new temporary directory, with `wasm` at the manifest's `source` path,
/// `target/wasm32-wasip2/release/<crate>.wasm`.
///
/// # Panics
/// The manifest names another `source`, or a file cannot be copied.
fn spin_app(name: &str, wasm: &str) -> tempfile::TempDir {
    let from = repo_root().join("tests/guests").join(name);
    let dir = tempfile::tempdir().unwrap();
    let manifest = std::fs::read_to_string(from.join("spin.toml")).unwrap();
    let source = format!(
        "target/wasm32-wasip2/release/{}.wasm",
        name.replace('-', "_")
    );
    assert!(
        manifest.contains(&format!("source = \"{source}\"")),
        "{name}/spin.toml names another source:\n{manifest}"
    );
    std::fs::write(dir.path().join("spin.toml"), manifest).unwrap();
    let target = dir.path().join(&source);
    std::fs::create_dir_all(target.parent().unwrap()).unwrap();
    std::fs::copy(wasm, &target).unwrap();
    let assets = from.join("assets");
    if assets.is_dir() {
        copy_dir(&assets, &dir.path().join("assets"));
    }
    dir
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let path = entry.path();
        if path.is_dir() {
            copy_dir(&path, &to.join(entry.file_name()));
        } else {
            std::fs::copy(&path, to.join(entry.file_name())).unwrap();
        }
    }
}

/// `wasmhost serve <dir>` with `args` and `env`.
///
/// # Panics
/// The server does not start; the message holds its log.
fn serve(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Server {
    Server::start_app_with_env(wasmhost_binary(), dir, args, env)
        .unwrap_or_else(|err| panic!("{err:#}"))
}

async fn get(server: &Server, path: &str) -> (u16, String) {
    let response = reqwest::Client::new()
        .get(server.url(path))
        .timeout(Duration::from_secs(30))
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

/// `GET path` with `accept: application/json` over a connection of its own (HTTP/1.0, so the
/// body ends with the connection): the status, the `spin-*` headers the guest (spin-hello)
/// says it was given, and this client's address as the server sees it.
fn spin_headers(server: &Server, path: &str) -> (u16, BTreeMap<String, String>, String) {
    spin_headers_sending(server, path, "")
}

/// [`spin_headers`], with `extra` (header lines, each ending in `\r\n`) in the request.
fn spin_headers_sending(
    server: &Server,
    path: &str,
    extra: &str,
) -> (u16, BTreeMap<String, String>, String) {
    let mut stream = TcpStream::connect(server.addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let client = stream.local_addr().unwrap().to_string();
    let request = format!(
        "GET {path} HTTP/1.0\r\nhost: {}\r\naccept: application/json\r\n{extra}\r\n",
        server.addr
    );
    stream.write_all(request.as_bytes()).unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    let (head, body) = answer
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("no head in {answer:?}"));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("no status in {head:?}"));
    let headers = serde_json::from_str(body)
        .unwrap_or_else(|err| panic!("{path}: not a JSON object ({err}): {answer}"));
    (status, headers, client)
}

fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(name, value)| (name.to_string(), value.to_string()))
        .collect()
}

/// The names of the component `wasm`'s imports (`fermyon:spin/llm@2.0.0`, ...).
fn component_imports(wasm: &str) -> Vec<String> {
    let bytes = std::fs::read(wasm).unwrap();
    let mut imports = Vec::new();
    for payload in wasmparser::Parser::new(0).parse_all(&bytes) {
        // Only the outer component's own import section: nested components and core modules
        // come with their own parsers' payloads, whose imports are not the component's.
        if let wasmparser::Payload::ComponentImportSection(section) = payload.unwrap() {
            for import in section {
                imports.push(import.unwrap().name.name.to_owned());
            }
        }
    }
    imports
}

// ---- spin-hello: the app, its wasip1 build, Spin's headers ----

#[tokio::test(flavor = "multi_thread")]
async fn hello_is_served_from_a_directory_holding_spin_toml() {
    let app = spin_app("spin-hello", guests::SPIN_HELLO);
    assert!(!app.path().join("wasmhost.toml").exists());
    let server = serve(app.path(), &[], &[]);
    for path in ["/hello", "/hello/", "/hello/you", "/users/42"] {
        let response = reqwest::get(server.url(path)).await.unwrap();
        assert_eq!(response.status(), 200, "{path}");
        assert_eq!(
            response.headers()["content-type"],
            "text/plain",
            "{path}: {:?}",
            response.headers()
        );
        assert_eq!(response.text().await.unwrap(), "Hello, Fermyon", "{path}");
    }
    // No route: Spin's 404.
    assert_eq!(get(&server, "/").await.0, 404);
    assert_eq!(get(&server, "/users/42/more").await.0, 404);
    drop(server);

    // The manifest's own path works as well as its directory.
    let server = serve(&app.path().join("spin.toml"), &[], &[]);
    assert_eq!(
        get(&server, "/hello").await,
        (200, "Hello, Fermyon".to_owned())
    );
}

/// The same source built for `wasm32-wasip1`, as Spin's templates before Spin 3.6 did: a core
/// module, put where the unchanged `spin.toml` names the component. The host makes it a
/// component (the WASI preview 1 adapter) and serves it as it serves the wasip2 build.
#[tokio::test(flavor = "multi_thread")]
async fn hello_built_for_wasip1_as_a_core_module_answers_the_same() {
    let module = std::fs::read(guests::SPIN_HELLO_WASIP1).unwrap();
    // A core module (version 1, layer 0), not a component.
    assert_eq!(&module[..8], b"\0asm\x01\0\0\0");
    let app = spin_app("spin-hello", guests::SPIN_HELLO_WASIP1);
    let server = serve(app.path(), &[], &[]);
    let response = reqwest::get(server.url("/hello/you")).await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "text/plain");
    assert_eq!(response.text().await.unwrap(), "Hello, Fermyon");
    let (status, headers, _) = spin_headers(&server, "/users/7");
    assert_eq!(status, 200);
    assert_eq!(headers["spin-path-match-id"], "7", "{headers:?}");
    assert_eq!(headers["spin-matched-route"], "/users/:id", "{headers:?}");
}

/// Every `spin-*` header Spin gives a component, with Spin's values
/// (`compute_default_headers` in Spin's `crates/trigger-http/src/headers.rs`):
/// - `spin-full-url`: `http://` + the `host` header + the path and query;
/// - `spin-path-info`: the part of the path the trailing `/...` matched, with Spin's
///   trailing-slash rule (`/hello` → empty, `/hello/` → `/`, `/hello/a/` → `/a/`); empty for
///   a route with no trailing wildcard;
/// - `spin-matched-route` and `spin-raw-component-route`: the route as the manifest writes it
///   (there is no base, so both are the same);
/// - `spin-component-route`: that route less a trailing `/...`;
/// - `spin-base-path`: always `/`;
/// - `spin-client-addr`: the client's address and port;
/// - `spin-path-match-<name>`: each `:name` segment's value.
///
/// And no other `spin-*` header: not one a client sent.
#[test]
fn spin_headers_have_spins_values() {
    let app = spin_app("spin-hello", guests::SPIN_HELLO);
    let server = serve(app.path(), &[], &[]);
    let port = server.addr.port();

    let (status, headers, client) = spin_headers(&server, "/hello/a/b?x=1");
    assert_eq!(status, 200);
    let full_url = format!("http://127.0.0.1:{port}/hello/a/b?x=1");
    assert_eq!(
        headers,
        map(&[
            ("spin-base-path", "/"),
            ("spin-client-addr", &client),
            ("spin-component-route", "/hello"),
            ("spin-full-url", &full_url),
            ("spin-matched-route", "/hello/..."),
            ("spin-path-info", "/a/b"),
            ("spin-raw-component-route", "/hello/..."),
        ])
    );
    assert!(client.starts_with("127.0.0.1:"), "{client}");

    for (path, path_info) in [
        ("/hello", ""),
        ("/hello/", "/"),
        ("/hello/a/", "/a/"),
        ("/hello/a%20b/c", "/a%20b/c"),
    ] {
        let (status, headers, _) = spin_headers(&server, path);
        assert_eq!(status, 200, "{path}");
        assert_eq!(headers["spin-path-info"], path_info, "{path}: {headers:?}");
        assert_eq!(
            headers["spin-full-url"],
            format!("http://127.0.0.1:{port}{path}"),
            "{path}"
        );
    }

    // What a client sends as `spin-*` never reaches the guest (wasmhost removes them; Spin
    // itself would add its own after them).
    let (status, headers, _) = spin_headers_sending(
        &server,
        "/hello/a",
        "spin-path-info: /forged\r\nspin-path-match-id: 666\r\nSpin-Client-Addr: 10.0.0.1:1\r\n",
    );
    assert_eq!(status, 200);
    assert_eq!(headers["spin-path-info"], "/a", "{headers:?}");
    assert!(!headers.contains_key("spin-path-match-id"), "{headers:?}");
    assert!(
        headers["spin-client-addr"].starts_with("127.0.0.1:"),
        "{headers:?}"
    );

    let (status, headers, client) = spin_headers(&server, "/users/42");
    assert_eq!(status, 200);
    let full_url = format!("http://127.0.0.1:{port}/users/42");
    assert_eq!(
        headers,
        map(&[
            ("spin-base-path", "/"),
            ("spin-client-addr", &client),
            ("spin-component-route", "/users/:id"),
            ("spin-full-url", &full_url),
            ("spin-matched-route", "/users/:id"),
            ("spin-path-info", ""),
            ("spin-path-match-id", "42"),
            ("spin-raw-component-route", "/users/:id"),
        ])
    );
}

// ---- spin-kv-counter: fermyon:spin/key-value on the embedded store and on Redis ----

/// With no runtime config, store `default` is the embedded one, kept beside the manifest:
/// the count survives a crash (Spin keeps it in `.spin/`, wasmhost in `.wasmhost/`).
#[tokio::test(flavor = "multi_thread")]
async fn kv_counter_counts_on_the_embedded_store() {
    let app = spin_app("spin-kv-counter", guests::SPIN_KV_COUNTER);
    let mut server = serve(app.path(), &[], &[]);
    for expected in ["1", "2", "3"] {
        assert_eq!(get(&server, "/count").await, (200, expected.to_owned()));
    }
    server.kill();
    let server = serve(app.path(), &[], &[]);
    assert_eq!(get(&server, "/count").await, (200, "4".to_owned()));
}

/// A Spin runtime config (`runtime-config.toml`, as `spin up --runtime-config-file` takes it)
/// puts store `default` in Redis; the count lands there.
///
/// Where in Redis is the host's choice: Spin writes the key as it is (`count`), wasmhost's
/// own layout is `<prefix>:kv:default:count`. So the test looks for the one key that ends in
/// `count`.
#[tokio::test(flavor = "multi_thread")]
async fn kv_counter_counts_in_redis_through_a_spin_runtime_config() {
    let redis = RedisServer::start();
    let app = spin_app("spin-kv-counter", guests::SPIN_KV_COUNTER);
    let config = app.path().join("runtime-config.toml");
    std::fs::write(
        &config,
        format!(
            "[key_value_store.default]\ntype = \"redis\"\nurl = \"{}\"\n",
            redis.url()
        ),
    )
    .unwrap();
    let server = serve(
        app.path(),
        &["--runtime-config", config.to_str().unwrap()],
        &[],
    );
    for expected in ["1", "2", "3"] {
        assert_eq!(get(&server, "/count").await, (200, expected.to_owned()));
    }
    let keys = redis.cli(&["--scan", "--pattern", "*count"]);
    let keys: Vec<&str> = keys.lines().collect();
    assert_eq!(keys.len(), 1, "keys ending in `count`: {keys:?}");
    assert!(
        keys[0] == "count" || keys[0].ends_with(":count"),
        "{keys:?}"
    );
    assert_eq!(redis.cli(&["GET", keys[0]]), "3");
}

// ---- spin-variables: fermyon:spin/variables, values from SPIN_VARIABLE_<NAME> ----

/// Serves spin-variables with `env`, expects `answer`, and checks that `secret` appears
/// neither in the log nor on stdout.
async fn variables_answer(app: &Path, env: &[(&str, &str)], answer: &str, secret: &str) {
    let server = serve(app, &[], env);
    assert_eq!(get(&server, "/").await, (200, answer.to_owned()));
    let (stdout, log) = (server.stdout(), server.stop());
    assert!(!log.contains(secret), "the secret is in the log:\n{log}");
    assert!(
        !stdout.contains(secret),
        "the secret is on stdout:\n{stdout}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn variables_come_from_defaults_and_spin_variable_environment_variables() {
    let app = spin_app("spin-variables", guests::SPIN_VARIABLES);
    let env = [
        ("SPIN_VARIABLE_API_TOKEN", TOKEN),
        ("RUST_LOG", "info,wasmhost=debug"),
    ];
    let answer = "greeting=hello\ntoken=token-ok\n";
    variables_answer(app.path(), &env, answer, TOKEN).await;

    let wrong = "not-the-token-9876";
    let env = [
        ("SPIN_VARIABLE_API_TOKEN", wrong),
        ("SPIN_VARIABLE_GREETING", "bonjour"),
    ];
    let answer = "greeting=bonjour\ntoken=token-wrong\n";
    variables_answer(app.path(), &env, answer, wrong).await;
}

#[test]
fn a_missing_required_variable_fails_at_startup_naming_it() {
    let app = spin_app("spin-variables", guests::SPIN_VARIABLES);
    let err = Server::start_app(wasmhost_binary(), app.path(), &[])
        .err()
        .expect("serve refuses an app whose required variable has no value");
    let message = format!("{err:#}");
    assert!(message.contains("api_token"), "{message}");
    assert!(message.contains("spin.toml"), "{message}");
}

// ---- spin-outbound: outbound HTTP, private components, self requests ----

#[tokio::test(flavor = "multi_thread")]
async fn outbound_requests_reach_allowed_hosts_only() {
    let upstream = Upstream::start().await;
    let app = spin_app("spin-outbound", guests::SPIN_OUTBOUND);
    let server = serve(app.path(), &[], &[]);

    // `localhost` is not `127.0.0.1`: outside `allowed_outbound_hosts`, refused before any
    // connection.
    let port = upstream.addr.port();
    let (status, body) = get(
        &server,
        &format!("/outbound?url=http://localhost:{port}/hello"),
    )
    .await;
    assert_eq!(status, 502, "{body}");
    assert!(body.contains("HttpRequestDenied"), "{body}");
    let (status, body) = get(&server, "/outbound?url=https://example.com/").await;
    assert_eq!(status, 502, "{body}");
    assert!(body.contains("HttpRequestDenied"), "{body}");
    assert_eq!(upstream.connections(), 0);

    assert_eq!(
        get(
            &server,
            &format!("/outbound?url={}", upstream.url("/hello"))
        )
        .await,
        (200, "200 hello from upstream".to_owned())
    );
    assert_eq!(upstream.connections(), 1);
}

/// A component whose only trigger is `route = { private = true }` answers no request from
/// outside, whatever the path or `host`; another component reaches it through
/// `http://<id>.spin.internal` when its `allowed_outbound_hosts` names that host.
#[tokio::test(flavor = "multi_thread")]
async fn a_private_component_answers_only_service_chaining() {
    let app = spin_app("spin-outbound", guests::SPIN_OUTBOUND);
    let server = serve(app.path(), &[], &[]);
    for path in ["/", "/x", "/private-echo", "/private-echo/x", "/chain/x"] {
        let (status, body) = get(&server, path).await;
        assert_eq!(status, 404, "{path}: {body}");
        assert!(!body.contains("private:"), "{path}: {body}");
    }
    let response = reqwest::Client::new()
        .get(server.url("/x"))
        .header("host", "private-echo.spin.internal")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);

    // The chained request: path `/x`.
    assert_eq!(
        get(&server, "/chain").await,
        (200, "200 private: /x".to_owned())
    );
}

/// `allowed_outbound_hosts = ["http://self"]` lets a component call its own app's routes, as
/// Spin does: with a relative URL (spin-sdk's `Request::get("/hello")` goes out with scheme
/// `https`, authority `:443`: an empty host), or with the authority `self.alt`, which Spin
/// takes for SDKs that need one (Spin's own test, `tests/test-components/components/
/// outbound-http`, sends both). wasmhost also takes `http://self/<path>`, its documented form
/// (Spin denies that one: a host named `self` is not a self request there).
#[tokio::test(flavor = "multi_thread")]
async fn http_self_reaches_the_apps_own_routes() {
    let app = spin_app("spin-outbound", guests::SPIN_OUTBOUND);
    let server = serve(app.path(), &[], &[]);
    assert_eq!(
        get(&server, "/hello").await,
        (200, "hello from spin-outbound".to_owned())
    );
    let mut answers = Vec::new();
    for path in ["/self-host", "/self", "/self-alt"] {
        answers.push((path, get(&server, path).await));
    }
    let expected = (200, "200 hello from spin-outbound".to_owned());
    assert_eq!(
        answers,
        [
            ("/self-host", expected.clone()),
            ("/self", expected.clone()),
            ("/self-alt", expected),
        ]
    );
}

// ---- spin-files: files mounted from the manifest; an unsupported Spin import ----

#[tokio::test(flavor = "multi_thread")]
async fn files_are_mounted_read_only_and_nothing_else_is_reachable() {
    let app = spin_app("spin-files", guests::SPIN_FILES);
    let server = serve(app.path(), &[], &[]);
    assert_eq!(
        get(&server, "/read?path=/greeting.txt").await,
        (200, "Hello from a file of a Spin app\n".to_owned())
    );
    // Nothing outside the mounted directory: not the host's files, not the manifest beside it.
    for path in [
        "/etc/passwd",
        "../spin.toml",
        "/../spin.toml",
        "/assets/../spin.toml",
    ] {
        let (status, body) = get(&server, &format!("/read?path={path}")).await;
        assert_eq!(status, 404, "{path}: {body}");
        assert!(!body.contains("root:"), "{path}: {body}");
        assert!(!body.contains("spin_manifest_version"), "{path}: {body}");
    }
    // Read-only, as Spin mounts files without `--allow-transient-write`.
    for path in ["/greeting.txt", "/new.txt"] {
        let (status, body) = get(&server, &format!("/write?path={path}")).await;
        assert_eq!(status, 500, "{path}: {body}");
    }
    assert_eq!(
        std::fs::read_to_string(app.path().join("assets/greeting.txt")).unwrap(),
        "Hello from a file of a Spin app\n"
    );
    assert!(!app.path().join("assets/new.txt").exists());
}

/// spin-files imports `fermyon:spin/llm@2.0.0`, which wasmhost does not provide: the app still
/// loads and serves, the log says which import is unsupported, and a call to it traps (500)
/// without harming the next request.
#[tokio::test(flavor = "multi_thread")]
async fn a_component_importing_an_unsupported_spin_interface_loads_and_serves() {
    let imports = component_imports(guests::SPIN_FILES);
    assert!(
        imports.iter().any(|name| name == "fermyon:spin/llm@2.0.0"),
        "{imports:?}"
    );
    let app = spin_app("spin-files", guests::SPIN_FILES);
    let server = serve(app.path(), &[], &[]);
    let log = server.log_with("fermyon:spin/llm");
    assert!(log.contains("fermyon:spin/llm"), "{log}");
    assert_eq!(
        get(&server, "/read?path=/greeting.txt").await.0,
        200,
        "{}",
        server.stderr()
    );
    let (status, body) = get(&server, "/infer").await;
    assert_eq!(status, 500, "{body}");
    assert_eq!(
        get(&server, "/read?path=/greeting.txt").await,
        (200, "Hello from a file of a Spin app\n".to_owned())
    );
}

// ---- wasmhost check on spin.toml ----

#[test]
fn check_passes_the_spin_apps() {
    for (name, wasm) in [
        ("spin-hello", guests::SPIN_HELLO),
        ("spin-kv-counter", guests::SPIN_KV_COUNTER),
        ("spin-outbound", guests::SPIN_OUTBOUND),
        ("spin-files", guests::SPIN_FILES),
    ] {
        let app = spin_app(name, wasm);
        let (ok, stdout, stderr) = check(app.path(), &shared_compile_cache());
        assert!(ok, "{name}: {stdout}{stderr}");
        assert!(stdout.contains("spin.toml"), "{name}: {stdout}");
    }
}

/// Runs `wasmhost check` on the app in `dir`, its compile cache in `cache`: success, stdout,
/// stderr.
fn check(dir: &Path, cache: &Path) -> (bool, String, String) {
    run(
        wasmhost_binary(),
        &[
            "check",
            dir.to_str().unwrap(),
            "--cache-dir",
            cache.to_str().unwrap(),
        ],
    )
    .unwrap()
}

/// A Spin key wasmhost does not support (`sqlite_databases`) is refused by name, at its file,
/// line and column, not ignored.
#[test]
fn check_refuses_sqlite_databases_naming_the_key_and_its_place() {
    let app = spin_app("spin-hello", guests::SPIN_HELLO);
    let manifest = app.path().join("spin.toml");
    let text = std::fs::read_to_string(&manifest).unwrap();
    let granted = text.replace(
        "allowed_outbound_hosts = []\n",
        "allowed_outbound_hosts = []\nsqlite_databases = [\"default\"]\n",
    );
    assert_ne!(granted, text);
    std::fs::write(&manifest, &granted).unwrap();
    let line = granted
        .lines()
        .position(|line| line.starts_with("sqlite_databases"))
        .unwrap()
        + 1;
    let (ok, stdout, stderr) = check(app.path(), &app.path().join("cache"));
    assert!(!ok, "{stdout}");
    let dir = app.path().to_str().unwrap();
    let stderr = stderr.replace(dir, "<dir>");
    assert!(
        stderr.contains(&format!("<dir>/spin.toml:{line}:")),
        "{stderr}"
    );
    assert!(stderr.contains("sqlite_databases"), "{stderr}");
    insta::assert_snapshot!("check_spin_sqlite_databases", stderr);
}

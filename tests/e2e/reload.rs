//! End-to-end tests of reloading a served app: SIGHUP, and `serve --watch` rebuilding a guest
//! with cargo. A client sends requests back to back the whole time; none may fail, and the
//! answers switch from the old version's to the new one's. A broken manifest, or an edit that
//! does not compile, keeps the old version serving.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use wasmhost_tests::{Server, guests, new_project, wasmhost_binary};

/// Writes the manifest of version `version`: `config-probe` answering `GET /var/version` with
/// it.
fn write_version(dir: &Path, version: &str) {
    let manifest = format!(
        "manifest_version = 1\n[application]\nname = \"reload\"\n\
         [[trigger.http]]\nroute = \"/var/:key\"\ncomponent = \"app\"\n\
         [component.app]\nsource = \"{}\"\n\
         [component.app.variables]\nversion = \"{version}\"\n",
        guests::CONFIG_PROBE
    );
    std::fs::write(dir.join("wasmhost.toml"), manifest).unwrap();
}

fn start(dir: &Path, extra: &[&str]) -> Server {
    Server::start_app(wasmhost_binary(), &dir.join("wasmhost.toml"), extra).unwrap()
}

/// Sends `GET <path>` back to back until `stop`; returns (answers, failures).
fn client(
    server: &Server,
    path: &str,
    stop: Arc<AtomicBool>,
) -> tokio::task::JoinHandle<(u64, Vec<String>)> {
    let url = server.url(path);
    tokio::spawn(async move {
        let client = reqwest::Client::new();
        let (mut answers, mut failures) = (0, Vec::new());
        while !stop.load(Ordering::Relaxed) {
            match client.get(&url).send().await {
                Ok(response) if response.status() == 200 => answers += 1,
                Ok(response) => failures.push(format!("status {}", response.status())),
                Err(err) => failures.push(err.to_string()),
            }
        }
        (answers, failures)
    })
}

/// Waits up to 30 s until `GET /var/version` answers `version`.
async fn wait_for_version(server: &Server, version: &str) {
    wait_for(server, "/var/version", version, Duration::from_secs(30)).await;
}

/// Waits up to `timeout` until `GET <path>` answers `version`.
async fn wait_for(server: &Server, path: &str, version: &str, timeout: Duration) {
    let deadline = Instant::now() + timeout;
    loop {
        let body = reqwest::get(server.url(path))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        if body == version {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "still {body:?}, not {version:?}\n{}\n{}",
            server.stdout(),
            server.stderr()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn sighup_swaps_versions_under_load_and_a_broken_manifest_keeps_the_old_one() {
    let dir = tempfile::tempdir().unwrap();
    write_version(dir.path(), "v1");
    let server = start(dir.path(), &[]);
    wait_for_version(&server, "v1").await;

    let stop = Arc::new(AtomicBool::new(false));
    let load = client(&server, "/var/version", stop.clone());
    for n in 2..=6 {
        let version = format!("v{n}");
        write_version(dir.path(), &version);
        server.hangup();
        wait_for_version(&server, &version).await;
    }
    std::fs::write(
        dir.path().join("wasmhost.toml"),
        "manifest_version = 1\n[application]\n",
    )
    .unwrap();
    server.hangup();
    let log = server.log_with("reload failed");
    assert!(log.contains("the key `name` is missing"), "{log}");
    // The same failure again is one short line, not the whole error once more.
    server.hangup();
    let log = server.log_with("reload failed again with the same error");
    assert_eq!(log.matches("the key `name` is missing").count(), 1, "{log}");
    tokio::time::sleep(Duration::from_millis(300)).await;
    wait_for_version(&server, "v6").await;
    stop_load_and_check(&server, stop, load, "5 reloads and a failed one").await;
}

/// Stops the client `load` (sending during `what`) and checks that none of its requests
/// failed, that it got answers, and that the server printed exactly 5 reloads.
async fn stop_load_and_check(
    server: &Server,
    stop: Arc<AtomicBool>,
    load: tokio::task::JoinHandle<(u64, Vec<String>)>,
    what: &str,
) {
    stop.store(true, Ordering::Relaxed);
    let (answers, failures) = load.await.unwrap();
    eprintln!(
        "{answers} answers during {what}, {} failures",
        failures.len()
    );
    assert!(failures.is_empty(), "{failures:?}");
    assert!(answers > 0);
    assert_eq!(reloads(server), 5, "{}", server.stdout());
}

/// Waits up to 10 s until the server says it watches for changes (changes count from then).
async fn wait_for_watching(server: &Server) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !server.stdout().contains("Watching") {
        assert!(Instant::now() < deadline, "{}", server.stdout());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// How many reloads the server has printed.
fn reloads(server: &Server) -> usize {
    server.stdout().matches("Reloaded in").count()
}

/// Waits up to 10 s until the server has printed `n` reloads.
async fn wait_for_reloads(server: &Server, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while reloads(server) < n {
        assert!(Instant::now() < deadline, "{}", server.stdout());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn watch_reloads_on_a_manifest_change() {
    let dir = tempfile::tempdir().unwrap();
    write_version(dir.path(), "v1");
    let server = start(dir.path(), &["--watch"]);
    wait_for_version(&server, "v1").await;
    wait_for_watching(&server).await;
    write_version(dir.path(), "v2");
    wait_for_version(&server, "v2").await;
    wait_for_reloads(&server, 1).await;
    // A directory made after the start is watched from the reload its making caused.
    std::fs::create_dir(dir.path().join("conf")).unwrap();
    wait_for_reloads(&server, 2).await;
    std::fs::write(dir.path().join("conf/extra.txt"), "x").unwrap();
    wait_for_reloads(&server, 3).await;
    // Reads (each reload reads the manifest) and target/ do not count.
    std::fs::create_dir_all(dir.path().join("target/debug")).unwrap();
    std::fs::write(dir.path().join("target/debug/out"), "x").unwrap();
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert_eq!(reloads(&server), 3, "{}", server.stdout());
}

/// The `http` template's function, answering `version` to every request.
fn write_source(project: &Path, version: &str) {
    let source = format!(
        "use wasmhost_sdk::{{IntoResponse, Request, http_component}};\n\
         #[http_component]\nfn handle(_req: Request) -> impl IntoResponse {{ \"{version}\" }}\n"
    );
    std::fs::write(project.join("src/lib.rs"), source).unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn watch_rebuilds_with_cargo_five_times_under_load_and_a_broken_edit_keeps_the_old_one() {
    let dir = tempfile::tempdir().unwrap();
    let project = new_project(wasmhost_binary(), dir.path(), "http", "swap");
    write_source(&project, "v1");
    let server = start(&project, &["--build", "--watch"]);
    let (path, rebuild) = ("/hello/x", Duration::from_secs(120));
    wait_for(&server, path, "v1", rebuild).await;
    wait_for_watching(&server).await;

    let stop = Arc::new(AtomicBool::new(false));
    let load = client(&server, path, stop.clone());
    for n in 2..=6 {
        let version = format!("v{n}");
        write_source(&project, &version);
        wait_for(&server, path, &version, rebuild).await;
    }
    std::fs::write(project.join("src/lib.rs"), "fn broken( {\n").unwrap();
    let log = server.log_with_within("reload failed", rebuild);
    assert!(log.contains("reload failed"), "{log}");
    assert!(
        log.contains("component `swap`") && log.contains("unclosed delimiter"),
        "the error names the component and shows the compiler's output: {log}"
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    wait_for(&server, path, "v6", Duration::from_secs(5)).await;
    stop_load_and_check(&server, stop, load, "5 rebuilds and a failed one").await;
}

//! End-to-end tests of `wasmhost new`: each template, created into a fresh directory inside
//! this checkout (so it depends on the SDK by a relative path), builds with `wasmhost build`
//! and serves with `wasmhost serve`, and a real request gets the answer its README promises. The projects share one cargo target directory (a `target` symlink), so
//! the SDK and its dependencies compile once per run.

use std::path::Path;
use std::time::{Duration, Instant};

use wasmhost_tests::{Server, new_project, repo_root, run, wasmhost_binary};

/// Creates, builds and serves template `template` as project `name`.
fn create_build_serve(dir: &Path, template: &str, name: &str) -> Server {
    let project = new_project(wasmhost_binary(), dir, template, name);
    // `dir` is `target/<tmp>` of this checkout: the SDK is three levels up.
    let cargo = std::fs::read_to_string(project.join("Cargo.toml")).unwrap();
    assert!(
        cargo.contains(r#"wasmhost-sdk = { path = "../../../guest-sdk" }"#),
        "{cargo}"
    );
    for file in [
        "Cargo.toml",
        "wasmhost.toml",
        "src/lib.rs",
        "README.md",
        ".gitignore",
    ] {
        assert!(project.join(file).is_file(), "{file} missing");
    }
    let (ok, _, stderr) = run(wasmhost_binary(), &["build", project.to_str().unwrap()]).unwrap();
    assert!(ok, "{stderr}");
    assert!(stderr.contains("Built 1 component(s)"), "{stderr}");
    Server::start_app(wasmhost_binary(), &project.join("wasmhost.toml"), &[]).unwrap()
}

async fn get(server: &Server, path: &str) -> (u16, String) {
    let response = reqwest::get(server.url(path)).await.unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

/// Polls `path` until it answers 200 with something `check` accepts (20 s at most).
async fn eventually(server: &Server, path: &str, check: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (status, body) = get(server, path).await;
        if status == 200 && check(&body) {
            return body;
        }
        assert!(
            Instant::now() < deadline,
            "{path}: {status} {body}\n{}",
            server.stderr()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn every_template_builds_serves_and_answers() {
    let dir = tempfile::tempdir_in(repo_root().join("target")).unwrap();

    let http = create_build_serve(dir.path(), "http", "greeter");
    assert_eq!(
        get(&http, "/hello/you").await,
        (200, "hello, you, from greeter\n".to_owned())
    );
    drop(http);

    let kv = create_build_serve(dir.path(), "kv", "counter");
    assert_eq!(get(&kv, "/count/visits").await, (200, "1\n".to_owned()));
    assert_eq!(get(&kv, "/count/visits").await, (200, "2\n".to_owned()));
    drop(kv);

    let worker = create_build_serve(dir.path(), "queue-worker", "worker");
    let sent = reqwest::Client::new()
        .post(worker.url("/jobs"))
        .body("job 1")
        .send()
        .await
        .unwrap();
    assert_eq!(sent.status(), 202);
    eventually(&worker, "/jobs/last", |body| body == "job 1").await;
    drop(worker);

    let cron = create_build_serve(dir.path(), "cron", "ticker");
    eventually(&cron, "/ticks", |body| {
        body.trim().parse::<u32>().is_ok_and(|n| n >= 1)
    })
    .await;
}

#[test]
fn list_names_every_template_and_bad_input_is_refused() {
    let (ok, stdout, _) = run(wasmhost_binary(), &["new", "--list"]).unwrap();
    assert!(ok);
    for template in ["http", "kv", "queue-worker", "cron"] {
        assert!(stdout.lines().any(|l| l.starts_with(template)), "{stdout}");
    }
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("x");
    let target = target.to_str().unwrap();
    let (ok, _, stderr) = run(wasmhost_binary(), &["new", "nope", "x", "--dir", target]).unwrap();
    assert!(!ok && stderr.contains("no template `nope`") && stderr.contains("queue-worker"));
    let (ok, _, stderr) = run(
        wasmhost_binary(),
        &["new", "http", "Bad_Name", "--dir", target],
    )
    .unwrap();
    assert!(!ok && stderr.contains("kebab-case"), "{stderr}");
    std::fs::create_dir(target).unwrap();
    let (ok, _, stderr) = run(wasmhost_binary(), &["new", "http", "x", "--dir", target]).unwrap();
    assert!(!ok && stderr.contains("already exists"), "{stderr}");
}

#[test]
fn new_off_a_terminal_names_what_is_missing() {
    // `run` gives no stdin: nothing is asked, the error says what to give.
    let (ok, stdout, stderr) = run(wasmhost_binary(), &["new"]).unwrap();
    assert!(!ok && stdout.is_empty());
    insta::assert_snapshot!("new_without_arguments", stderr);
    let (ok, _, stderr) = run(wasmhost_binary(), &["new", "http"]).unwrap();
    assert!(
        !ok && stderr.contains("wasmhost new needs a name:"),
        "{stderr}"
    );
}

#[test]
fn a_project_outside_a_checkout_depends_on_the_sdk_by_version() {
    let dir = tempfile::tempdir().unwrap();
    let project = dir.path().join("away");
    let (ok, stdout, stderr) = run(
        wasmhost_binary(),
        &["new", "http", "away", "--dir", project.to_str().unwrap()],
    )
    .unwrap();
    assert!(ok, "{stderr}");
    assert!(
        stdout.contains("depends on wasmhost-sdk 0.1 from crates.io"),
        "{stdout}"
    );
    let cargo = std::fs::read_to_string(project.join("Cargo.toml")).unwrap();
    let sdk = repo_root().join("guest-sdk");
    assert!(
        cargo.contains(&format!(
            "wasmhost-sdk = \"0.1\"\n# To build against a checkout of wasmhost instead, add:\n# [patch.crates-io]\n# wasmhost-sdk = {{ path = \"{}\" }}",
            sdk.canonicalize().unwrap().display()
        )),
        "{cargo}"
    );
}

#[test]
fn new_on_a_terminal_asks_for_the_template_and_name() {
    // `script` gives the command a pseudo-terminal; the answers wait in it: arrow down (to
    // `kv`), Enter, then the name and Enter.
    let dir = tempfile::tempdir().unwrap();
    let command = format!("{} new", wasmhost_binary().display());
    let mut child = std::process::Command::new("script")
        .args(["-qec", &command, "/dev/null"])
        .current_dir(dir.path())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("`script` (util-linux) runs the command on a pseudo-terminal");
    let mut stdin = child.stdin.take().unwrap();
    std::io::Write::write_all(&mut stdin, b"\x1b[B\rasked-kv\r").unwrap();
    // Kept open until the command is done: `script` ends the session when its input ends.
    let out = child.wait_with_output().unwrap();
    drop(stdin);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(
        stdout.contains("Created `asked-kv` from template `kv`."),
        "{stdout}"
    );
    let source = std::fs::read_to_string(dir.path().join("asked-kv/src/lib.rs")).unwrap();
    assert!(source.contains("count"), "{source}");
}

//! End-to-end tests of variables and secrets: the real `wasmhost` binary serving
//! `tests/guests/config-probe`, whose `wasi:config/store` keys are templates over the app's
//! `[variables]`, set by defaults, `WASMHOST_VAR_<NAME>` and `--var`.

use wasmhost_tests::{Server, guests, run, shared_compile_cache, wasmhost_binary};

/// A secret value that must never reach the host's logs.
const SECRET: &str = "hunter2-s3cr3t-value";

/// Two instances of config-probe: `probe` with four keys, `bare` with none.
fn write_app(dir: &std::path::Path) -> String {
    let manifest = format!(
        r#"manifest_version = 1
[application]
name = "variables"

[variables]
region = {{ default = "eu" }}
host = {{ default = "api.example.com" }}
greeting = {{ default = "hello" }}
api_key = {{ required = true, secret = true }}

[[trigger.http]]
route = "/probe/var/:key"
component = "probe"
[[trigger.http]]
route = "/probe/vars"
component = "probe"
[[trigger.http]]
route = "/bare/var/:key"
component = "bare"

[component.probe]
source = "{probe}"
[component.probe.variables]
region = "{{{{ region }}}}"
api_url = "https://{{{{ host }}}}/v1"
greeting = "{{{{greeting}}}}, {{{{ region }}}}!"
auth = "Bearer {{{{ api_key }}}}"

[component.bare]
source = "{probe}"
"#,
        probe = guests::CONFIG_PROBE
    );
    let path = dir.join("wasmhost.toml");
    std::fs::write(&path, manifest).unwrap();
    path.display().to_string()
}

fn start(manifest: &str, args: &[&str], env: &[(&str, &str)]) -> Server {
    Server::start_app_with_env(wasmhost_binary(), manifest.as_ref(), args, env).unwrap()
}

async fn get(server: &Server, path: &str) -> (u16, String) {
    let response = reqwest::get(server.url(path)).await.unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

#[tokio::test]
async fn flag_beats_environment_beats_default() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = write_app(dir.path());
    let server = start(
        &manifest,
        &["--var", "region=ap", "--var", &format!("api_key={SECRET}")],
        &[
            ("WASMHOST_VAR_REGION", "us"),
            ("WASMHOST_VAR_HOST", "env.example.com"),
        ],
    );
    // region: --var over the environment; host: the environment over the default;
    // greeting: the default.
    assert_eq!(get(&server, "/probe/var/region").await, (200, "ap".into()));
    assert_eq!(
        get(&server, "/probe/var/api_url").await,
        (200, "https://env.example.com/v1".into())
    );
    assert_eq!(
        get(&server, "/probe/var/greeting").await,
        (200, "hello, ap!".into())
    );
    assert_eq!(
        get(&server, "/probe/vars").await.1,
        format!(
            "api_url=https://env.example.com/v1\nauth=Bearer {SECRET}\ngreeting=hello, ap!\nregion=ap\n"
        )
    );
}

#[tokio::test]
async fn a_component_reads_only_the_keys_its_manifest_gives_it() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = write_app(dir.path());
    let server = start(&manifest, &[], &[("WASMHOST_VAR_API_KEY", SECRET)]);
    // A variable of the app that is not one of the component's keys.
    let (status, body) = get(&server, "/probe/var/host").await;
    assert_eq!(status, 404, "{body}");
    assert!(body.contains("`host` is not defined"), "{body}");
    // A component with no [component.x.variables] has no keys at all.
    assert_eq!(get(&server, "/bare/var/region").await.0, 404);
    assert_eq!(get(&server, "/bare/var/auth").await.0, 404);
}

#[test]
fn a_required_variable_without_value_fails_at_startup_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = write_app(dir.path());
    let (ok, _, stderr) = run(wasmhost_binary(), &["serve", &manifest]).unwrap();
    assert!(!ok);
    assert!(
        stderr.contains("variable `api_key` is required"),
        "{stderr}"
    );
    assert!(stderr.contains("WASMHOST_VAR_API_KEY"), "{stderr}");
    assert!(stderr.contains("wasmhost.toml"), "{stderr}");
}

#[test]
fn var_flags_are_checked() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = write_app(dir.path());
    let undeclared = format!("nope={SECRET}");
    let (ok, _, stderr) = run(
        wasmhost_binary(),
        &["serve", &manifest, "--var", &undeclared],
    )
    .unwrap();
    assert!(!ok);
    assert!(stderr.contains("declares no variable `nope`"), "{stderr}");
    assert!(!stderr.contains(SECRET), "the value leaked: {stderr}");
    let badly_named = format!("API_KEY={SECRET}");
    let (ok, _, stderr) = run(
        wasmhost_binary(),
        &["serve", &manifest, "--var", &badly_named],
    )
    .unwrap();
    assert!(!ok);
    assert!(
        stderr.contains("`API_KEY` is not a variable name"),
        "{stderr}"
    );
    assert!(!stderr.contains(SECRET), "the value leaked: {stderr}");
}

#[tokio::test]
async fn secrets_never_reach_the_logs() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = write_app(dir.path());
    // The most verbose log the host has, with the secret set both ways.
    let server = start(
        &manifest,
        &["--var", &format!("api_key={SECRET}")],
        &[("RUST_LOG", "trace"), ("WASMHOST_VAR_API_KEY", SECRET)],
    );
    // The guest may read it (and here answers it, which is its own choice).
    assert_eq!(
        get(&server, "/probe/var/auth").await,
        (200, format!("Bearer {SECRET}"))
    );
    assert_eq!(get(&server, "/probe/var/missing").await.0, 404);
    let stdout = server.stdout();
    let stderr = server.stop();
    assert!(
        stderr.contains("component ready"),
        "the log was captured: {stderr}"
    );
    assert!(
        !stderr.contains(SECRET),
        "the secret is in the log:\n{stderr}"
    );
    assert!(
        !stdout.contains(SECRET),
        "the secret is on stdout:\n{stdout}"
    );
}

/// Serves the app with `entries` as the `allowed_outbound_hosts` of component `bare` and
/// `--var api_key=<SECRET>`; whether it started, and its stderr.
fn run_with_outbound_hosts(command: &str, entries: &str) -> (bool, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = write_app(dir.path());
    let manifest = std::fs::read_to_string(&path).unwrap().replace(
        "[component.bare]\n",
        &format!("[component.bare]\nallowed_outbound_hosts = {entries}\n"),
    );
    std::fs::write(&path, manifest).unwrap();
    let cache = shared_compile_cache();
    let (ok, _, stderr) = run(
        wasmhost_binary(),
        &[
            command,
            &path,
            "--cache-dir",
            cache.to_str().unwrap(),
            "--var",
            &format!("api_key={SECRET}"),
        ],
    )
    .unwrap();
    (ok, stderr)
}

/// `check` and `serve` alike (issue 18, finding 9: `check` passed an app `serve` rejects).
#[test]
fn a_templated_outbound_host_that_renders_badly_names_the_entry_but_not_a_secret() {
    for command in ["check", "serve"] {
        let (ok, stderr) =
            run_with_outbound_hosts(command, r#"["https://{{ host }}", "{{ api_key }}"]"#);
        assert!(!ok, "{command} passed");
        assert!(
            stderr.contains(
                "`component.bare.allowed_outbound_hosts`: `{{ api_key }}` renders to <secret>"
            ),
            "{stderr}"
        );
        assert!(
            stderr.contains("wasmhost.toml:30:49:"),
            "the entry's line: {stderr}"
        );
        assert!(!stderr.contains(SECRET), "the secret leaked: {stderr}");
    }
}

/// A secret rendered into the host part of an `allowed_outbound_hosts` entry that then fails to
/// parse: the error names the entry and why, and shows no part of the rendered text (issue 18,
/// finding 9: the error said `<secret>`, then printed the host it could not parse); `check`
/// and `serve` alike.
#[test]
fn a_secret_in_a_bad_outbound_host_never_shows_in_the_error() {
    for command in ["check", "serve"] {
        let (ok, stderr) =
            run_with_outbound_hosts(command, r#"["https://{{ api_key }}.exa mple.com"]"#);
        assert!(!ok, "{command} passed");
        assert!(
        stderr.contains(
            "`component.bare.allowed_outbound_hosts`: `https://{{ api_key }}.exa mple.com` renders to <secret>"
        ),
        "{stderr}"
    );
        assert!(
            stderr.contains("its host is not a name"),
            "the reason: {stderr}"
        );
        assert!(!stderr.contains(SECRET), "the secret leaked: {stderr}");
    }
}

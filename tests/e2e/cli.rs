//! End-to-end tests of the command line: bad input gets one clear error naming the file, line
//! and field, and a non-zero exit; `wasmhost build` runs build commands and reports failures.

use std::path::Path;

use wasmhost_tests::{guests, run, wasmhost_binary};

fn write(dir: &Path, text: &str) -> String {
    let path = dir.join("wasmhost.toml");
    std::fs::write(&path, text).unwrap();
    path.to_str().unwrap().to_owned()
}

#[test]
fn bad_manifest_fails_with_file_line_and_field() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = write(
        dir.path(),
        "manifest_version = 1\n[application]\nname = \"x\"\n[[trigger.http]]\nroute = \"/a\"\ncomponent = \"nope\"\n",
    );
    let (ok, _, stderr) = run(
        wasmhost_binary(),
        &["serve", &manifest, "--listen", "127.0.0.1:0"],
    )
    .unwrap();
    assert!(!ok);
    assert!(
        stderr.contains(&format!(
            "{manifest}:6:13: `trigger.http[0].component`: no component `nope` is defined"
        )),
        "{stderr}"
    );
}

#[test]
fn missing_component_file_names_the_source_field() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = write(
        dir.path(),
        "manifest_version = 1\n[application]\nname = \"x\"\n[component.a]\nsource = \"missing.wasm\"\n",
    );
    let (ok, _, stderr) = run(wasmhost_binary(), &["serve", &manifest]).unwrap();
    assert!(!ok);
    assert!(
        stderr.contains(&format!("{manifest}:5:10: `component.a.source`: file")),
        "{stderr}"
    );
}

#[test]
fn a_file_that_is_not_a_component_is_named() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("junk.wasm"), b"junk").unwrap();
    let manifest = write(
        dir.path(),
        "manifest_version = 1\n[application]\nname = \"x\"\n[component.junk]\nsource = \"junk.wasm\"\n",
    );
    let cache = dir.path().join("cache");
    let (ok, _, stderr) = run(
        wasmhost_binary(),
        &["serve", &manifest, "--cache-dir", cache.to_str().unwrap()],
    )
    .unwrap();
    assert!(!ok);
    assert!(stderr.contains("error: component `junk`"), "{stderr}");
    // The file, what wasmhost runs and how to build it; never a dump of its first bytes.
    let junk = dir.path().join("junk.wasm");
    assert!(
        stderr.contains(&format!(
            "caused by: `{}` is not a WebAssembly file",
            junk.display()
        )),
        "{stderr}"
    );
    assert!(
        stderr.contains("cargo build --target wasm32-wasip2 --release"),
        "{stderr}"
    );
    assert!(!stderr.contains("0x"), "{stderr}");
}

/// Runs `serve` on an app whose one component `bad` is the file `wasm`; the startup error.
fn serve_error(wasm: &[u8]) -> String {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("bad.wasm"), wasm).unwrap();
    let manifest = write(
        dir.path(),
        "manifest_version = 1\n[application]\nname = \"x\"\n[[trigger.http]]\nroute = \"/\"\ncomponent = \"bad\"\n[component.bad]\nsource = \"bad.wasm\"\n",
    );
    let cache = dir.path().join("cache");
    let (ok, _, stderr) = run(
        wasmhost_binary(),
        &["serve", &manifest, "--cache-dir", cache.to_str().unwrap()],
    )
    .unwrap();
    assert!(!ok, "{stderr}");
    stderr
}

#[test]
fn a_core_module_is_made_a_component_and_checked_like_one() {
    // The smallest core module: the magic number and version 1. It becomes a component (with
    // the WASI preview1 adapter), which exports nothing the route could call.
    let stderr = serve_error(b"\0asm\x01\0\0\0");
    assert!(
        stderr.contains("a core module (built for wasm32-wasip1)"),
        "{stderr}"
    );
    assert!(stderr.contains("error: component `bad`"), "{stderr}");
    assert!(
        stderr.contains("does not export wasi:http/incoming-handler"),
        "{stderr}"
    );
}

#[test]
fn a_missing_import_is_named_with_the_component() {
    let wasm = std::fs::read(wasmhost_tests::guests::MISSING_IMPORT).unwrap();
    let stderr = serve_error(&wasm);
    assert!(stderr.contains("error: component `bad`"), "{stderr}");
    assert!(stderr.contains("cannot be linked"), "{stderr}");
    assert!(stderr.contains("test:missing/gadget"), "{stderr}");
}

#[test]
fn build_runs_each_command_in_its_directory() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("sub")).unwrap();
    let manifest = write(
        dir.path(),
        &format!(
            "manifest_version = 1\n[application]\nname = \"x\"\n\
             [component.a]\nsource = \"sub/a.wasm\"\n\
             [component.a.build]\ncommand = \"cp {} a.wasm\"\nworkdir = \"sub\"\n",
            guests::HELLO
        ),
    );
    let (ok, _, stderr) = run(wasmhost_binary(), &["build", &manifest]).unwrap();
    assert!(ok, "{stderr}");
    assert!(dir.path().join("sub/a.wasm").is_file());
    assert!(stderr.contains("[1/1] Building component `a`"), "{stderr}");
    assert!(stderr.contains("Built 1 component(s)"), "{stderr}");
}

#[test]
fn failing_build_names_the_component_and_exits_non_zero() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = write(
        dir.path(),
        "manifest_version = 1\n[application]\nname = \"x\"\n\
         [component.broken]\nsource = \"b.wasm\"\n\
         [component.broken.build]\ncommand = \"echo compiler says no >&2; exit 3\"\n",
    );
    let (ok, _, stderr) = run(wasmhost_binary(), &["build", &manifest]).unwrap();
    assert!(!ok);
    assert!(
        stderr.contains("compiler says no"),
        "the compiler's output is shown: {stderr}"
    );
    assert!(
        stderr.contains(
            "component `broken`: build command `echo compiler says no >&2; exit 3` failed"
        ),
        "{stderr}"
    );
}

/// `wasmhost check` on `manifest` (written in a new directory); success, and stdout and stderr
/// with the directory replaced by `<dir>`.
fn check(manifest: &str) -> (bool, String, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), manifest);
    let cache = dir.path().join("cache");
    let (ok, stdout, stderr) = run(
        wasmhost_binary(),
        &["check", &path, "--cache-dir", cache.to_str().unwrap()],
    )
    .unwrap();
    let dir = dir.path().to_str().unwrap().to_owned();
    (
        ok,
        stdout.replace(&dir, "<dir>"),
        stderr.replace(&dir, "<dir>"),
    )
}

#[test]
fn check_passes_a_good_app_and_warns_where_imports_and_grants_disagree() {
    let good = format!(
        "manifest_version = 1\n[application]\nname = \"x\"\n\
         [[trigger.http]]\nroute = \"/count/:name\"\ncomponent = \"counter\"\n\
         [component.counter]\nsource = \"{}\"\nkey_value_stores = [\"default\"]\n",
        guests::KV_COUNTER
    );
    let (ok, stdout, stderr) = check(&good);
    assert!(ok, "{stderr}");
    assert_eq!(
        stdout,
        "<dir>/wasmhost.toml: 1 component(s) checked, 0 warning(s)\n"
    );

    // The counter imports wasi:keyvalue without a grant; hello is granted a store it never
    // opens.
    let mismatched = format!(
        "manifest_version = 1\n[application]\nname = \"x\"\n\
         [[trigger.http]]\nroute = \"/count/:name\"\ncomponent = \"counter\"\n\
         [[trigger.http]]\nroute = \"/hello/:name\"\ncomponent = \"hello\"\n\
         [component.counter]\nsource = \"{}\"\n\
         [component.hello]\nsource = \"{}\"\nkey_value_stores = [\"default\"]\n",
        guests::KV_COUNTER,
        guests::HELLO
    );
    let (ok, stdout, stderr) = check(&mismatched);
    assert!(ok, "{stderr}");
    insta::assert_snapshot!(stdout.replace(guests::KV_COUNTER, "<counter>"));
}

#[test]
fn check_errors_name_the_file_line_and_field_or_the_component() {
    let (ok, _, stderr) = check(
        "manifest_version = 1\n[application]\nname = \"x\"\n[[trigger.http]]\nroute = \"no-slash\"\ncomponent = \"a\"\n",
    );
    assert!(!ok);
    insta::assert_snapshot!("check_bad_route", stderr);
    let missing = format!(
        "manifest_version = 1\n[application]\nname = \"x\"\n[[trigger.http]]\nroute = \"/\"\ncomponent = \"bad\"\n[component.bad]\nsource = \"{}\"\n",
        guests::MISSING_IMPORT
    );
    let (ok, _, stderr) = check(&missing);
    assert!(!ok);
    assert!(
        stderr.contains("error: component `bad`") && stderr.contains("test:missing/gadget"),
        "{stderr}"
    );
}

/// The `error:` lines of `stderr` (and their causes), without the log lines.
fn error_lines(stderr: &str) -> Vec<&str> {
    stderr
        .lines()
        .filter(|line| line.starts_with("error: ") || line.starts_with("  caused by: "))
        .collect()
}

/// `check` fails wherever `serve` fails at startup, with the same message: a route that
/// matches the same paths as another, a required variable with no value, a component limit
/// above the host's (and passes with the host's limit raised, as `serve` starts), an allowed
/// host whose template renders to no host.
#[test]
fn check_fails_where_serve_fails_with_the_same_message() {
    let app = |rest: &str| {
        format!(
            "manifest_version = 1\n[application]\nname = \"x\"\n\
             [[trigger.http]]\nroute = \"/users/:id\"\ncomponent = \"hello\"\n\
             [component.hello]\nsource = \"{}\"\n{rest}",
            guests::HELLO
        )
    };
    let cases = [
        (
            "route conflict",
            format!(
                "{}[[trigger.http]]\nroute = \"/users/:name\"\ncomponent = \"hello\"\n",
                app("")
            ),
            "`trigger.http[1].route`: route `/users/:name` matches exactly the same paths as route `/users/:id` at",
        ),
        (
            "missing variable",
            format!("{}[variables]\napi_key = {{ required = true }}\n", app("")),
            "`variables.api_key`: variable `api_key` is required and has no value",
        ),
        (
            "limit above the host's",
            app("limits.memory_mb = 4096\n"),
            "`component.hello.limits.memory_mb`: 4096 MiB is more than the host's 128 MiB",
        ),
        (
            "bad allowed-host template",
            format!(
                "{}[variables]\nhost = {{ default = \"a host\" }}\n",
                app("allowed_outbound_hosts = [\"https://{{ host }}\"]\n")
            ),
            "`component.hello.allowed_outbound_hosts`: `https://{{ host }}` renders to `https://a host`",
        ),
    ];
    for (case, manifest, message) in cases {
        let dir = tempfile::tempdir().unwrap();
        let path = write(dir.path(), &manifest);
        let cache = dir.path().join("cache");
        let cache = cache.to_str().unwrap();
        let (checked, _, check_err) =
            run(wasmhost_binary(), &["check", &path, "--cache-dir", cache]).unwrap();
        let (served, _, serve_err) = run(
            wasmhost_binary(),
            &[
                "serve",
                &path,
                "--cache-dir",
                cache,
                "--listen",
                "127.0.0.1:0",
            ],
        )
        .unwrap();
        assert!(!checked && !served, "{case}: {check_err}\n{serve_err}");
        let errors = error_lines(&check_err);
        assert_eq!(errors, error_lines(&serve_err), "{case}");
        assert_eq!(errors.len(), 1, "{case}: {check_err}");
        assert!(
            errors[0].starts_with(&format!("error: {path}:")) && errors[0].contains(message),
            "{case}: {check_err}"
        );
    }

    // With the host's limit raised as `serve` would be, `check` passes.
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), &app("limits.memory_mb = 4096\n"));
    let cache = dir.path().join("cache");
    let (ok, _, stderr) = run(
        wasmhost_binary(),
        &[
            "check",
            &path,
            "--cache-dir",
            cache.to_str().unwrap(),
            "--max-memory-mb",
            "4096",
        ],
    )
    .unwrap();
    assert!(ok, "{stderr}");
}

/// `check` reports every error it finds in one run, each with its file:line:col.
#[test]
fn check_reports_every_error_at_once() {
    let manifest = "manifest_version = 1\n[application]\nname = \"x\"\n\
                    [variables]\napi_key = { required = true }\nregion = { required = true }\n\
                    [[trigger.http]]\nroute = \"/\"\ncomponent = \"a\"\n\
                    [component.a]\nsource = \"a.wasm\"\nlimits.memory_mb = 4096\n\
                    [component.b]\nsource = \"b.wasm\"\n";
    let (ok, _, stderr) = check(manifest);
    assert!(!ok);
    insta::assert_snapshot!(error_lines(&stderr).join("\n"));
}

/// A directory with no manifest: the path looked at, and `wasmhost new`.
#[test]
fn check_without_a_manifest_suggests_wasmhost_new() {
    let dir = tempfile::tempdir().unwrap();
    let (ok, _, stderr) = run(wasmhost_binary(), &["check", dir.path().to_str().unwrap()]).unwrap();
    assert!(!ok);
    let dir = dir.path().to_str().unwrap();
    assert!(
        stderr.contains(&format!("error: {dir}/wasmhost.toml: no manifest here"))
            && stderr.contains("wasmhost new"),
        "{stderr}"
    );
}

/// An app of one `kv-counter` component at `/kv/:key`, granted `default`, with `extra`
/// appended to its manifest; returns its manifest's path.
fn counter_app(dir: &Path, extra: &str) -> String {
    write(
        dir,
        &format!(
            "manifest_version = 1\n[application]\nname = \"x\"\n[[trigger.http]]\nroute = \"/kv/:key\"\ncomponent = \"counter\"\n[component.counter]\nsource = \"{}\"\nkey_value_stores = [\"default\"]\n{extra}",
            guests::KV_COUNTER
        ),
    )
}

/// The first line `child` writes to its (piped) stdout.
fn first_line(child: &mut std::process::Child) -> String {
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(child.stdout.take().expect("piped")),
        &mut line,
    )
    .unwrap();
    line
}

#[test]
fn listen_takes_a_host_name() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = counter_app(dir.path(), "");
    let cache = wasmhost_tests::shared_compile_cache();
    let mut child = std::process::Command::new(wasmhost_binary())
        .args(["serve", &manifest, "--listen", "localhost:0", "--cache-dir"])
        .arg(&cache)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let first = first_line(&mut child);
    let _ = child.kill();
    let _ = child.wait();
    let addr: std::net::SocketAddr = first
        .trim()
        .strip_prefix("Serving http://")
        .unwrap_or_else(|| panic!("{first}"))
        .parse()
        .unwrap();
    assert!(addr.ip().is_loopback(), "{first}");
}

#[test]
fn a_port_in_use_suggests_a_free_one() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = counter_app(dir.path(), "");
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let cache = wasmhost_tests::shared_compile_cache();
    let (ok, _, stderr) = run(
        wasmhost_binary(),
        &[
            "serve",
            &manifest,
            "--listen",
            &addr,
            "--cache-dir",
            cache.to_str().unwrap(),
        ],
    )
    .unwrap();
    assert!(!ok);
    let error = stderr
        .lines()
        .find(|line| line.starts_with("error: "))
        .unwrap_or_else(|| panic!("{stderr}"));
    let port = addr.rsplit_once(':').unwrap().1;
    insta::assert_snapshot!(error.replace(port, "<port>"));
}

#[test]
fn a_cron_only_app_prints_no_empty_route_list() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = write(
        dir.path(),
        &format!(
            "manifest_version = 1\n[application]\nname = \"x\"\n[[trigger.cron]]\nschedule = \"0 0 0 1 1 *\"\ncomponent = \"tick\"\n[component.tick]\nsource = \"{}\"\nkey_value_stores = [\"default\"]\n[component.tick.variables]\nkey = \"tick\"\n",
            guests::CRON_PROBE
        ),
    );
    let server =
        wasmhost_tests::Server::start_app(wasmhost_binary(), Path::new(&manifest), &[]).unwrap();
    // The cron list follows the address at once.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !server.stdout().contains("Cron triggers:") && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let stdout = server.stdout();
    assert!(stdout.contains("Cron triggers:"), "{stdout}");
    assert!(!stdout.contains("Available routes"), "{stdout}");
}

#[test]
fn a_seed_for_a_store_no_component_is_granted_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = counter_app(dir.path(), "");
    let (ok, _, stderr) = run(
        wasmhost_binary(),
        &[
            "serve",
            &manifest,
            "--listen",
            "127.0.0.1:0",
            "--key-value",
            "sessions:token=hunter2",
        ],
    )
    .unwrap();
    assert!(!ok);
    assert!(!stderr.contains("hunter2"), "{stderr}");
    insta::assert_snapshot!(stderr.replace(&manifest, "<manifest>"));
}

#[test]
fn ctrl_c_during_serve_build_exits_0() {
    use std::os::unix::process::CommandExt;

    let dir = tempfile::tempdir().unwrap();
    let manifest = counter_app(
        dir.path(),
        "[component.counter.build]\ncommand = \"echo building; sleep 30\"\n",
    );
    // A process group of its own, as a shell makes for a foreground job: Ctrl-C signals
    // the whole group, the build command included.
    let mut child = std::process::Command::new(wasmhost_binary())
        .args(["serve", &manifest, "--listen", "127.0.0.1:0", "--build"])
        .process_group(0)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    assert_eq!(first_line(&mut child).trim(), "building");
    let group = format!("-{}", child.id());
    let status = std::process::Command::new("kill")
        .args(["-INT", "--", &group])
        .status()
        .unwrap();
    assert!(status.success());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{:?}: {stderr}", out.status);
    assert!(!stderr.contains("error"), "{stderr}");
}

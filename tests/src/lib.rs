//! Test support for wasmhost's integration and end-to-end tests (tier 3 and 4 of the testing
//! plan): the paths of the guest components this crate's build script compiled,
//! [`Server`], which runs the real `wasmhost` binary on a free port, [`RedisServer`], a real
//! `redis-server` of the test's own, and [`S3Server`], a real S3-protocol server (moto's) of the
//! test's own.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, Result, bail};

pub mod collector;
mod s3;
mod upstream;
pub use collector::Collector;
pub use s3::S3Server;
pub use upstream::{Call, Upstream};

/// Paths of the guest components, built for `wasm32-wasip2` by this crate's build script.
pub mod guests {
    /// `apps/hello`: greets by the `:name` route parameter, shows path, route and path-info.
    pub const HELLO: &str = env!("WASMHOST_GUEST_HELLO");
    /// `apps/echo`: streams the request body back.
    pub const ECHO: &str = env!("WASMHOST_GUEST_ECHO");
    /// `tests/guests/trap`: spins forever on a path ending in `/loop`, panics on any other.
    pub const TRAP: &str = env!("WASMHOST_GUEST_TRAP");
    /// `tests/guests/plain-wasip2`: a `wasi:http/proxy` component with no wasmhost crate;
    /// answers `plain wasip2 component at <path>`, the request's scheme (as the host gives it)
    /// in `x-request-scheme`.
    pub const PLAIN_WASIP2: &str = env!("WASMHOST_GUEST_PLAIN_WASIP2");
    /// `tests/guests/async-upper`: an async handler; answers the body upper-cased, 500 if empty.
    pub const ASYNC_UPPER: &str = env!("WASMHOST_GUEST_ASYNC_UPPER");
    /// `apps/kv-counter`: atomic counters and get/put/delete/list over the `default` store.
    pub const KV_COUNTER: &str = env!("WASMHOST_GUEST_KV_COUNTER");
    /// `apps/weather-proxy`: a caching proxy (HTTP) and its refresh job (cron).
    pub const WEATHER_PROXY: &str = env!("WASMHOST_GUEST_WEATHER_PROXY");
    /// `tests/guests/kv-probe`: runs the key-value capability suite from inside a guest.
    pub const KV_PROBE: &str = env!("WASMHOST_GUEST_KV_PROBE");
    /// `tests/guests/queue-probe`: sends queue messages over HTTP and records what its queue
    /// handler gets in the key-value store.
    pub const QUEUE_PROBE: &str = env!("WASMHOST_GUEST_QUEUE_PROBE");
    /// `tests/guests/blob-probe`: drives every `wasi:blobstore` call over HTTP (objects
    /// streamed both ways, ranges, listing pages, containers, copy and move).
    pub const BLOB_PROBE: &str = env!("WASMHOST_GUEST_BLOB_PROBE");
    /// `tests/guests/blob-events`: a blob trigger handler that records each event in the
    /// `default` key-value store (`events`, `count:<subject>`) and fails on keys with `fail`.
    pub const BLOB_EVENTS: &str = env!("WASMHOST_GUEST_BLOB_EVENTS");
    /// `apps/uploads`: file uploads in blob container `files` (HTTP) and their SHA-256
    /// computed by a blob trigger.
    pub const UPLOADS: &str = env!("WASMHOST_GUEST_UPLOADS");
    /// `tests/guests/config-probe`: answers its variables (`wasi:config/store`).
    pub const CONFIG_PROBE: &str = env!("WASMHOST_GUEST_CONFIG_PROBE");
    /// `tests/guests/http-probe`: sends outbound requests to the `x-target` header's URL.
    pub const HTTP_PROBE: &str = env!("WASMHOST_GUEST_HTTP_PROBE");
    /// `tests/guests/cron-probe`: a cron component that counts its runs in the key-value store.
    pub const CRON_PROBE: &str = env!("WASMHOST_GUEST_CRON_PROBE");
    /// `tests/guests/log-probe`: writes lines (short, 10 MB, many) to stdout and stderr.
    pub const LOG_PROBE: &str = env!("WASMHOST_GUEST_LOG_PROBE");
    /// `tests/guests/hostile`: a guest that misbehaves in every way, one path each.
    pub const HOSTILE: &str = env!("WASMHOST_GUEST_HOSTILE");
    /// `tests/guests/missing-import`: a component importing `test:missing/gadget`, which no
    /// host provides.
    pub const MISSING_IMPORT: &str = env!("WASMHOST_GUEST_MISSING_IMPORT");
    /// `tests/guests/raw-hostile`: `wasi:http` misbehaviour the SDK cannot express (a dropped
    /// `response-outparam`), with the `wasip2` crate only.
    pub const RAW_HOSTILE: &str = env!("WASMHOST_GUEST_RAW_HOSTILE");
    /// `tests/guests/spin-hello`: a Spin app (spin-sdk 5); `Hello, Fermyon`, or with
    /// `accept: application/json` the `spin-*` request headers as a JSON object.
    pub const SPIN_HELLO: &str = env!("WASMHOST_GUEST_SPIN_HELLO");
    /// [`SPIN_HELLO`] built for `wasm32-wasip1`: a core module, not a component.
    pub const SPIN_HELLO_WASIP1: &str = env!("WASMHOST_GUEST_SPIN_HELLO_WASIP1");
    /// `tests/guests/spin-kv-counter`: a Spin app counting its requests in store `default`.
    pub const SPIN_KV_COUNTER: &str = env!("WASMHOST_GUEST_SPIN_KV_COUNTER");
    /// `tests/guests/spin-variables`: a Spin app reading its variables, one a secret.
    pub const SPIN_VARIABLES: &str = env!("WASMHOST_GUEST_SPIN_VARIABLES");
    /// `tests/guests/spin-outbound`: a Spin app sending outbound requests (to a host, a private
    /// component through `*.spin.internal`, its own routes through `http://self`).
    pub const SPIN_OUTBOUND: &str = env!("WASMHOST_GUEST_SPIN_OUTBOUND");
    /// `tests/guests/spin-files`: a Spin app reading the files its manifest mounts; it imports
    /// `fermyon:spin/llm@2.0.0`.
    pub const SPIN_FILES: &str = env!("WASMHOST_GUEST_SPIN_FILES");
    /// `tests/guests/wf-chain`: orchestrator calling activities `a` → `b` → `c`.
    pub const WF_CHAIN: &str = env!("WASMHOST_GUEST_WF_CHAIN");
    /// `tests/guests/wf-activities`: every test activity, by name, counting calls.
    pub const WF_ACTIVITIES: &str = env!("WASMHOST_GUEST_WF_ACTIVITIES");
    /// `tests/guests/wf-fanout`: fans out `n` activities, then fans in.
    pub const WF_FANOUT: &str = env!("WASMHOST_GUEST_WF_FANOUT");
    /// `tests/guests/wf-timer`: a durable timer of `ms`.
    pub const WF_TIMER: &str = env!("WASMHOST_GUEST_WF_TIMER");
    /// `tests/guests/wf-event`: waits for an event, with a timeout.
    pub const WF_EVENT: &str = env!("WASMHOST_GUEST_WF_EVENT");
    /// `tests/guests/wf-saga`: retries, then a compensation.
    pub const WF_SAGA: &str = env!("WASMHOST_GUEST_WF_SAGA");
    /// `tests/guests/wf-sandbox`: time, UUIDs and random before and after a timer.
    pub const WF_SANDBOX: &str = env!("WASMHOST_GUEST_WF_SANDBOX");
    /// `tests/guests/wf-loop`: continue-as-new `n` times.
    pub const WF_LOOP: &str = env!("WASMHOST_GUEST_WF_LOOP");
    /// `tests/guests/wf-trap`: an orchestrator that panics or loops.
    pub const WF_TRAP: &str = env!("WASMHOST_GUEST_WF_TRAP");
    /// `tests/guests/wf-http-import`: an orchestrator that imports outbound HTTP.
    pub const WF_HTTP_IMPORT: &str = env!("WASMHOST_GUEST_WF_HTTP_IMPORT");
    /// `tests/guests/wf-order-v1`: waits for `go`, then `a` then `b`.
    pub const WF_ORDER_V1: &str = env!("WASMHOST_GUEST_WF_ORDER_V1");
    /// `tests/guests/wf-order-v2`: waits for `go`, then `b` then `a`.
    pub const WF_ORDER_V2: &str = env!("WASMHOST_GUEST_WF_ORDER_V2");
    /// `tests/guests/wf-client`: an HTTP component driving workflows through the client.
    pub const WF_CLIENT: &str = env!("WASMHOST_GUEST_WF_CLIENT");
}

/// The repository's root directory.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ is in the repo")
        .to_owned()
}

/// The `wasmhost` binary under test: `wasmhost` in the cargo profile directory of the
/// running test binary (`target/debug/wasmhost` for `cargo test`). `cargo test --workspace`
/// builds it (the `wasmhost` package has an integration test, so cargo builds its binary
/// first). If it is missing, or older than a source file of `host/`, it is built here once per
/// test process with `cargo build -p wasmhost --bin wasmhost`, so a test never runs a stale
/// binary.
///
/// # Panics
/// If cargo cannot build it; the build's own output says why.
pub fn wasmhost_binary() -> &'static Path {
    static BINARY: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    BINARY.get_or_init(|| {
        let exe = std::env::current_exe().expect("the test binary's path");
        // target/<profile>/deps/e2e-<hash>
        let profile_dir = exe
            .parent()
            .and_then(Path::parent)
            .expect("the test binary is in target/<profile>/deps")
            .to_owned();
        let binary = profile_dir.join(format!("wasmhost{}", std::env::consts::EXE_SUFFIX));
        if is_fresh(&binary) {
            return binary;
        }
        let target_dir = profile_dir.parent().expect("target/<profile>");
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
        let mut build = Command::new(cargo);
        build
            .args([
                "build",
                "-p",
                "wasmhost",
                "--bin",
                "wasmhost",
                "--target-dir",
            ])
            .arg(target_dir)
            .current_dir(repo_root());
        if profile_dir
            .file_name()
            .is_some_and(|name| name == "release")
        {
            build.arg("--release");
        }
        let status = build.status().expect("cargo runs");
        assert!(
            status.success(),
            "cargo could not build the wasmhost binary"
        );
        binary
    })
}

/// Whether `binary` exists and is newer than every file under `host/` (sources, templates,
/// `Cargo.toml`) and `wit/`.
fn is_fresh(binary: &Path) -> bool {
    /// The newest modification time of `path`, a file or a directory tree.
    fn newest(path: &Path) -> std::time::SystemTime {
        let modified = std::fs::metadata(path)
            .and_then(|m| m.modified())
            .unwrap_or(std::time::SystemTime::UNIX_EPOCH);
        match std::fs::read_dir(path) {
            Ok(entries) => entries
                .flatten()
                .map(|entry| newest(&entry.path()))
                .fold(modified, std::time::SystemTime::max),
            Err(_) => modified,
        }
    }
    let Ok(built) = std::fs::metadata(binary).and_then(|m| m.modified()) else {
        return false;
    };
    let root = repo_root();
    ["host/src", "host/templates", "host/Cargo.toml", "wit"]
        .iter()
        .all(|part| newest(&root.join(part)) <= built)
}

/// A compile cache shared by the tests that do not test the cache itself, so each component
/// is compiled once per run rather than once per test.
pub fn shared_compile_cache() -> PathBuf {
    repo_root().join("target/e2e-compile-cache")
}

/// A running `wasmhost serve`, killed when dropped.
pub struct Server {
    child: Child,
    /// The public listener's address, as the binary printed it.
    pub addr: SocketAddr,
    /// The public listener's URL scheme, as the binary printed it: `http`, or `https` with
    /// `--tls-cert`.
    pub scheme: &'static str,
    /// The admin listener's address, if `--admin-listen` was given.
    pub admin_addr: Option<SocketAddr>,
    /// The admin listener's URL scheme (`http`, or `https` with `--admin-tls-cert`), if
    /// `--admin-listen` was given.
    pub admin_scheme: Option<&'static str>,
    stderr: Arc<Mutex<String>>,
    stdout: Arc<Mutex<String>>,
}

/// How long a server may take to print its address: compiling components on a cold cache
/// under a debug build can take a while on 2 cores.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(120);

impl Server {
    /// Runs `bin serve <args>` with `--listen 127.0.0.1:0` added, and waits until it prints
    /// `Serving http://ADDR` or `Serving https://ADDR` (and the admin address, if `args` has
    /// `--admin-listen`).
    ///
    /// # Errors
    /// The binary exits or stays silent for [`STARTUP_TIMEOUT`]; the error holds its stderr.
    pub fn start(bin: &Path, args: &[&str]) -> Result<Self> {
        Self::start_with_env(bin, args, &[])
    }

    /// Serves the app of `manifest` with the [`shared_compile_cache`] and `args` after them.
    ///
    /// # Errors
    /// As [`Server::start`].
    pub fn start_app(bin: &Path, manifest: &Path, args: &[&str]) -> Result<Self> {
        Self::start_app_with_env(bin, manifest, args, &[])
    }

    /// As [`Server::start_app`], with `env` added as [`Server::start_with_env`] does.
    ///
    /// # Errors
    /// As [`Server::start`].
    pub fn start_app_with_env(
        bin: &Path,
        manifest: &Path,
        args: &[&str],
        env: &[(&str, &str)],
    ) -> Result<Self> {
        let cache = shared_compile_cache();
        let mut all = vec![
            manifest.to_str().expect("a UTF-8 path"),
            "--cache-dir",
            cache.to_str().expect("a UTF-8 path"),
        ];
        all.extend_from_slice(args);
        Self::start_with_env(bin, &all, env)
    }

    /// As [`Server::start`], with `env` added to the binary's environment (`RUST_LOG` is
    /// `info` unless `env` sets it).
    ///
    /// # Errors
    /// As [`Server::start`].
    pub fn start_with_env(bin: &Path, args: &[&str], env: &[(&str, &str)]) -> Result<Self> {
        let mut child = Command::new(bin)
            .arg("serve")
            .args(["--listen", "127.0.0.1:0"])
            .args(args)
            .env("RUST_LOG", "info")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("cannot start {}", bin.display()))?;

        let stderr = Arc::new(Mutex::new(String::new()));
        let mut stderr_pipe = child.stderr.take().expect("piped");
        let sink = stderr.clone();
        std::thread::spawn(move || {
            let mut buf = [0; 4096];
            while let Ok(n) = stderr_pipe.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });

        let want_admin = args.contains(&"--admin-listen");
        let (tx, rx) = std::sync::mpsc::channel();
        let stdout_pipe = child.stdout.take().expect("piped");
        let stdout = Arc::new(Mutex::new(String::new()));
        let sink = stdout.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout_pipe).lines() {
                let Ok(line) = line else { break };
                let mut all = sink.lock().unwrap();
                all.push_str(&line);
                all.push('\n');
                drop(all);
                if tx.send(line).is_err() {
                    // Nobody listens any more; keep draining so the child never blocks.
                    continue;
                }
            }
        });

        let mut public = None;
        let mut admin = None;
        let deadline = std::time::Instant::now() + STARTUP_TIMEOUT;
        while public.is_none() || (want_admin && admin.is_none()) {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match rx.recv_timeout(left) {
                Ok(line) => {
                    if let Some(printed) = printed_listener(&line, "Serving ") {
                        public = Some(printed?);
                    } else if let Some(printed) = printed_listener(&line, "Admin endpoints on ") {
                        admin = Some(printed?);
                    }
                }
                Err(_) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    std::thread::sleep(Duration::from_millis(100));
                    bail!(
                        "wasmhost did not start; stderr:\n{}",
                        stderr.lock().unwrap()
                    );
                }
            }
        }
        let (scheme, addr) = public.expect("loop ends with an address");
        Ok(Self {
            child,
            addr,
            scheme,
            admin_addr: admin.map(|(_, addr)| addr),
            admin_scheme: admin.map(|(scheme, _)| scheme),
            stderr,
            stdout,
        })
    }

    /// `http://ADDR{path}` (`https://` with TLS) on the public listener.
    pub fn url(&self, path: &str) -> String {
        format!("{}://{}{path}", self.scheme, self.addr)
    }

    /// `http://ADDR{path}` (`https://` with TLS) on the admin listener.
    ///
    /// # Panics
    /// The server has no admin listener.
    pub fn admin_url(&self, path: &str) -> String {
        let (scheme, addr) = self
            .admin_scheme
            .zip(self.admin_addr)
            .expect("started with --admin-listen");
        format!("{scheme}://{addr}{path}")
    }

    /// Everything the server wrote to stderr (its log) so far.
    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// Waits up to 10 s until the log holds `needle` (the log is read on a thread of its own,
    /// so a line written just before a response may arrive just after it), and returns the
    /// log's complete lines.
    pub fn log_with(&self, needle: &str) -> String {
        self.log_with_within(needle, Duration::from_secs(10))
    }

    /// [`Server::log_with`], waiting up to `timeout`. Only complete lines count and are
    /// returned: a long line (a JSON record with a backtrace) may arrive in several reads.
    /// Past the deadline, the whole log is returned as it is.
    pub fn log_with_within(&self, needle: &str, timeout: Duration) -> String {
        let deadline = std::time::Instant::now() + timeout;
        loop {
            let mut log = self.stderr();
            if std::time::Instant::now() > deadline {
                return log;
            }
            log.truncate(log.rfind('\n').map_or(0, |end| end + 1));
            if log.contains(needle) {
                return log;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The server's resident set size now (`VmRSS` of `/proc/<pid>/status`), in KiB.
    pub fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid()))
            .expect("the server is running");
        status
            .lines()
            .find_map(|line| line.strip_prefix("VmRSS:"))
            .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("a VmRSS line")
    }

    /// Everything the server (and its guests) wrote to stdout so far.
    pub fn stdout(&self) -> String {
        self.stdout.lock().unwrap().clone()
    }

    /// Stops the server (SIGKILL) and returns its log.
    pub fn stop(mut self) -> String {
        self.kill()
    }

    /// The value of the Prometheus series `series` (name and labels, as exposed, such as
    /// `wasmhost_live_instances` or `wasmhost_queue_depth{queue="jobs"}`) on the admin
    /// listener's `/metrics`.
    ///
    /// # Panics
    /// The server has no admin listener, or does not expose the series.
    pub fn metric(&self, series: &str) -> f64 {
        use std::io::{Read, Write};
        let admin = self.admin_addr.expect("started with --admin-listen");
        let mut stream = std::net::TcpStream::connect(admin).expect("the admin listener");
        stream
            .write_all(b"GET /metrics HTTP/1.0\r\nhost: admin\r\n\r\n")
            .expect("a request");
        let mut text = String::new();
        stream.read_to_string(&mut text).expect("a response");
        text.lines()
            .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
            .unwrap_or_else(|| panic!("no {series} in\n{text}"))
            .trim()
            .parse()
            .expect("a number")
    }

    /// Sends SIGTERM, as an operator's shutdown would.
    pub fn terminate(&self) {
        self.signal("TERM");
    }

    /// Sends SIGHUP, as an operator's reload would.
    pub fn hangup(&self) {
        self.signal("HUP");
    }

    fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .args([&format!("-{name}"), &self.pid().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success(), "kill -{name} failed");
    }

    /// Waits up to `timeout` for the server to exit; its exit status, or `None` if it still
    /// runs.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let deadline = std::time::Instant::now() + timeout;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            if std::time::Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Kills the server with SIGKILL, as a crash would, and returns its log so far.
    pub fn kill(&mut self) -> String {
        let _ = self.child.kill();
        let _ = self.child.wait();
        std::thread::sleep(Duration::from_millis(50));
        self.stderr()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The scheme and address of a listener URL that `line` prints after `prefix`
/// (`Serving http://ADDR`, `Admin endpoints on https://ADDR (...)`), if it does.
fn printed_listener(line: &str, prefix: &str) -> Option<Result<(&'static str, SocketAddr)>> {
    let rest = line.strip_prefix(prefix)?;
    let (scheme, rest) = match rest.strip_prefix("https://") {
        Some(rest) => ("https", rest),
        None => ("http", rest.strip_prefix("http://")?),
    };
    let host = rest
        .split(|c: char| c == '/' || c.is_whitespace())
        .next()
        .unwrap_or_default();
    Some(
        host.parse()
            .map(|addr| (scheme, addr))
            .with_context(|| format!("not an address in `{line}`")),
    )
}

/// Runs `bin <args>` to completion and returns (success, stdout, stderr).
///
/// # Errors
/// The binary cannot be started.
pub fn run(bin: &Path, args: &[&str]) -> Result<(bool, String, String)> {
    let out = Command::new(bin).args(args).stdin(Stdio::null()).output()?;
    Ok((
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    ))
}

/// Runs `wasmhost new <template> <name> --dir <dir>/<name> --sdk-path <this checkout>/guest-sdk`
/// with binary `bin` (so the project builds wherever `dir` is) and links the
/// project's `target` to one shared directory (`target/templates` of this repository), so the
/// SDK and its dependencies compile once per test run. Returns the project directory.
///
/// # Panics
/// `new` fails or the link cannot be made.
pub fn new_project(bin: &Path, dir: &Path, template: &str, name: &str) -> PathBuf {
    let project = dir.join(name);
    let sdk = repo_root().join("guest-sdk");
    let (ok, stdout, stderr) = run(
        bin,
        &[
            "new",
            template,
            name,
            "--dir",
            project.to_str().unwrap(),
            "--sdk-path",
            sdk.to_str().unwrap(),
        ],
    )
    .unwrap();
    assert!(ok, "{stderr}");
    assert!(stdout.contains("wasmhost serve --build"), "{stdout}");
    let shared = repo_root().join("target/templates");
    std::fs::create_dir_all(&shared).unwrap();
    std::os::unix::fs::symlink(&shared, project.join("target")).unwrap();
    project
}

/// A `redis-server` of a test's own: a free port on loopback, a temporary directory, and an
/// append-only file written through on every write (`appendonly yes`, `appendfsync always`),
/// so a killed server restarts with every write it acknowledged. Killed when dropped.
pub struct RedisServer {
    child: Option<Child>,
    /// Its port on 127.0.0.1.
    pub port: u16,
    dir: tempfile::TempDir,
}

impl RedisServer {
    /// Starts `redis-server` on a free port and waits until it answers `PING`.
    ///
    /// # Panics
    /// If `redis-server` is not installed: a test that needs Redis fails without it, it never
    /// skips (install it with `apt-get install -y redis-server`; `scripts/test` does).
    pub fn start() -> Self {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .expect("a free port")
            .port();
        let mut server = Self {
            child: None,
            port,
            dir: tempfile::tempdir().expect("a temporary directory"),
        };
        server.restart();
        server
    }

    /// `redis://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Kills the server (SIGKILL), as a crash or a network loss would look to clients.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again on the same port (after [`RedisServer::kill`]).
    ///
    /// # Panics
    /// If `redis-server` is missing or does not answer within 10 s.
    pub fn restart(&mut self) {
        self.kill();
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args([
                "--save",
                "",
                "--appendonly",
                "yes",
                "--appendfsync",
                "always",
            ])
            .arg("--dir")
            .arg(self.dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|err| {
                panic!(
                    "cannot run `redis-server` ({err}); the Redis tests need it: install it with \
                     `apt-get install -y redis-server` (or run `bash scripts/test`, which does)"
                )
            });
        self.child = Some(child);
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while !self.answers_ping() {
            assert!(
                std::time::Instant::now() < deadline,
                "redis-server on port {} did not answer PING within 10 s",
                self.port
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Runs `redis-cli` on this server with `args`; returns its output, trimmed.
    ///
    /// # Panics
    /// If `redis-cli` cannot run or fails.
    pub fn cli(&self, args: &[&str]) -> String {
        let output = Command::new("redis-cli")
            .args(["-p", &self.port.to_string()])
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("redis-cli (installed with redis-server)");
        assert!(output.status.success(), "redis-cli {args:?}: {output:?}");
        String::from_utf8_lossy(&output.stdout).trim().to_owned()
    }

    fn answers_ping(&self) -> bool {
        let Ok(mut stream) = TcpStream::connect(("127.0.0.1", self.port)) else {
            return false;
        };
        let _ = stream.set_read_timeout(Some(Duration::from_secs(1)));
        let mut reply = [0; 7];
        stream.write_all(b"PING\r\n").is_ok()
            && stream.read_exact(&mut reply).is_ok()
            && &reply == b"+PONG\r\n"
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}

//! End-to-end tests of blob storage (`wasi:blobstore`), one suite run on both backends: local
//! files, and S3 against a real S3-protocol server that these tests start (a missing one fails
//! them, never skips). The real `wasmhost` binary serves `tests/guests/blob-probe` (every
//! blobstore call over HTTP) and `tests/guests/blob-events` (a `[[trigger.blob]]` handler that
//! records each event in key-value, read back through `kv-probe`).

use std::io::Read;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use wasmhost_tests::{S3Server, Server, guests, wasmhost_binary};

/// Where the containers live.
enum Backend {
    /// Local files under `.wasmhost/blobs` (no runtime config).
    Local,
    /// The S3 server, each test's containers under a prefix of their own in its bucket.
    S3(S3Server),
}

/// The app: `probe` (HTTP, granted `files` and `other`), `events` (the handler of two blob
/// triggers on `files`: every created or deleted object, and objects under `fail/`, which it
/// fails, so they end in the dead-letter queue after 2 retries), `kv` (reads its events back),
/// and `outsider` (container `secret` is granted to it alone).
fn manifest() -> String {
    format!(
        r#"manifest_version = 1
[application]
name = "blobs"

[[trigger.http]]
route = "/..."
component = "probe"
[[trigger.http]]
route = "/get/:store/:key"
component = "kv"

[[trigger.blob]]
container = "files"
component = "events"
events = ["created", "deleted"]
max_retries = 2
retry_backoff_ms = 100
max_retry_backoff_ms = 200

[[trigger.queue]]
queue = "blob-files-events-dead-letter"
component = "events"

[component.probe]
source = "{probe}"
blob_containers = ["files", "other"]
[component.probe.limits]
max_body_mb = 256

[component.events]
source = "{events}"
key_value_stores = ["default"]

[component.kv]
source = "{kv}"
key_value_stores = ["default"]

[component.outsider]
source = "{probe}"
blob_containers = ["secret"]
"#,
        probe = guests::BLOB_PROBE,
        events = guests::BLOB_EVENTS,
        kv = guests::KV_PROBE,
    )
}

/// An app of its own in a fresh directory, served on `backend` (`prefix` keeps S3 runs apart),
/// with `extra` runtime config.
struct App {
    dir: tempfile::TempDir,
    args: Vec<String>,
    env: Vec<(&'static str, String)>,
}

impl App {
    fn new(backend: &Backend, prefix: &str, extra: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("wasmhost.toml"), manifest()).unwrap();
        let (mut config, env) = match backend {
            Backend::Local => (String::new(), Vec::new()),
            Backend::S3(s3) => {
                let config = ["files", "other", "secret"]
                    .iter()
                    .map(|container| s3.runtime_config_toml(container, prefix))
                    .collect::<String>();
                (config, s3.env())
            }
        };
        config.push_str(extra);
        let mut args = Vec::new();
        if !config.is_empty() {
            let path = dir.path().join("runtime-config.toml");
            std::fs::write(&path, config).unwrap();
            args = vec!["--runtime-config".to_owned(), path.display().to_string()];
        }
        Self { dir, args, env }
    }

    fn manifest(&self) -> PathBuf {
        self.dir.path().join("wasmhost.toml")
    }

    fn serve(&self) -> Server {
        let args: Vec<&str> = self.args.iter().map(String::as_str).collect();
        let env: Vec<(&str, &str)> = self.env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        Server::start_app_with_env(wasmhost_binary(), &self.manifest(), &args, &env).unwrap()
    }
}

fn client() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(300))
        .build()
        .unwrap()
}

/// The byte at `offset` of the test objects: a pattern that repeats only every 251 bytes, so a
/// shifted or reordered range shows.
fn pattern(offset: u64) -> u8 {
    (offset % 251) as u8
}

fn pattern_bytes(range: std::ops::Range<u64>) -> Vec<u8> {
    range.map(pattern).collect()
}

/// A reader of `len` pattern bytes, made as they are read (the test never holds the object).
struct PatternReader {
    at: u64,
    len: u64,
}

impl Read for PatternReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        // Whole periods of the pattern, copied (the client sends at loopback speed).
        static PERIODS: std::sync::LazyLock<Vec<u8>> =
            std::sync::LazyLock::new(|| pattern_bytes(0..251 * 1024));
        let n = buf.len().min((self.len - self.at) as usize).min(250 * 1024);
        let start = (self.at % 251) as usize;
        buf[..n].copy_from_slice(&PERIODS[start..start + n]);
        self.at += n as u64;
        Ok(n)
    }
}

/// `(status, body)` of `request`.
fn send(request: reqwest::blocking::RequestBuilder) -> (u16, String) {
    let response = request.send().unwrap();
    (response.status().as_u16(), response.text().unwrap())
}

fn put(server: &Server, path: &str, body: impl Into<reqwest::blocking::Body>) -> (u16, String) {
    match client().put(server.url(path)).body(body).send() {
        Ok(response) => (response.status().as_u16(), response.text().unwrap()),
        Err(err) => panic!("PUT {path}: {err:?}\n{}", server.stderr()),
    }
}

/// The lines of key `events` that the blob trigger's handler recorded.
fn events(server: &Server) -> Vec<String> {
    let response = client()
        .get(server.url("/get/default/events"))
        .send()
        .unwrap();
    if response.status() == 404 {
        return Vec::new();
    }
    let text = response.text().unwrap();
    text.lines().map(str::to_owned).collect()
}

/// Waits until `done` holds of the recorded events (at most 20 s); returns them.
fn wait_for_events(server: &Server, done: impl Fn(&[String]) -> bool) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let events = events(server);
        if done(&events) {
            return events;
        }
        assert!(
            Instant::now() < deadline,
            "events never got there: {events:#?}\n{}",
            server.stderr()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The lines of `events` about `subject` of type `kind` (`created`, `deleted`, `dead`).
fn count(events: &[String], kind: &str, subject: &str) -> usize {
    let prefix = match kind {
        "dead" => format!("dead {subject} "),
        kind => format!("wasmhost.blob.{kind} {subject} "),
    };
    events
        .iter()
        .filter(|line| line.starts_with(&prefix))
        .count()
}

/// The resident set of process `pid`, and its peak since the last reset, in KiB.
fn memory_kib(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap()
        .lines()
        .find_map(|line| line.strip_prefix(field))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

const MIB: u64 = 1 << 20;

fn round_trip_of_100_mib_keeps_host_memory_bounded(backend: &Backend, prefix: &str) {
    let app = App::new(backend, prefix, "");
    let server = app.serve();
    // Warm up: the first request instantiates and touches the instance pool.
    assert_eq!(put(&server, "/c/files/o/warm", "x").0, 200);
    std::fs::write(format!("/proc/{}/clear_refs", server.pid()), "5").unwrap();
    let before = memory_kib(server.pid(), "VmRSS:");

    let size = 100 * MIB;
    let body = reqwest::blocking::Body::sized(PatternReader { at: 0, len: size }, size);
    let (status, text) = put(&server, "/c/files/o/big/object.bin", body);
    assert_eq!((status, text.trim()), (200, size.to_string().as_str()));

    let mut response = client()
        .get(server.url("/c/files/o/big/object.bin"))
        .send()
        .unwrap();
    assert_eq!(response.status(), 200);
    let mut at = 0;
    let mut buf = vec![0; 1 << 16];
    loop {
        let n = response.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        assert_eq!(
            buf[..n],
            pattern_bytes(at..at + n as u64)[..],
            "at byte {at}"
        );
        at += n as u64;
    }
    assert_eq!(at, size);

    let peak = memory_kib(server.pid(), "VmHWM:");
    let grown_mib = peak.saturating_sub(before) / 1024;
    eprintln!("100 MiB round trip: host RSS {before} KiB before, peak {peak} KiB");
    assert!(
        grown_mib < 64,
        "the host's resident memory grew by {grown_mib} MiB ({before} KiB before, {peak} KiB at its peak)"
    );
}

fn ranges_return_the_exact_bytes(backend: &Backend, prefix: &str) {
    let app = App::new(backend, prefix, "");
    let server = app.serve();
    let size = 3 * MIB + 17;
    let (status, _) = put(&server, "/c/files/o/ranged", pattern_bytes(0..size));
    assert_eq!(status, 200);
    for (header, start, end) in [
        ("bytes=0-0", 0, 0),
        ("bytes=10-19", 10, 19),
        ("bytes=1048570-2097160", 1_048_570, 2_097_160),
        (&format!("bytes={}-", size - 5), size - 5, size - 1),
        ("bytes=-7", size - 7, size - 1),
        (&format!("bytes=100-{}", size + 1000), 100, size - 1),
    ] {
        let response = client()
            .get(server.url("/c/files/o/ranged"))
            .header("range", header)
            .send()
            .unwrap();
        assert_eq!(response.status(), 206, "{header}");
        assert_eq!(
            response.headers()["content-range"],
            format!("bytes {start}-{end}/{size}").as_str(),
            "{header}"
        );
        let bytes = response.bytes().unwrap();
        assert_eq!(bytes.len() as u64, end - start + 1, "{header}");
        assert!(bytes[..] == pattern_bytes(start..end + 1)[..], "{header}");
    }
    let response = client()
        .get(server.url("/c/files/o/ranged"))
        .header("range", format!("bytes={size}-"))
        .send()
        .unwrap();
    assert_eq!(response.status(), 416);

    // An empty object reads as empty; an object written with the bytes before `write-data`
    // is the same object.
    assert_eq!(put(&server, "/c/files/o/empty", "").0, 200);
    assert_eq!(
        send(client().get(server.url("/c/files/o/empty"))),
        (200, String::new())
    );
    let body = pattern_bytes(0..100_000);
    let (status, _) = put(&server, "/c/files/o/late?order=data-last", body.clone());
    assert_eq!(status, 200);
    let bytes = client()
        .get(server.url("/c/files/o/late"))
        .send()
        .unwrap()
        .bytes()
        .unwrap();
    assert!(bytes[..] == body[..]);
    // Past 16 MiB, a synchronous read is refused with a clear error.
    let (status, _) = put(&server, "/c/files/o/seventeen", pattern_bytes(0..17 * MIB));
    assert_eq!(status, 200);
    let (status, text) = send(client().get(server.url("/c/files/o/seventeen?sync=1")));
    assert_eq!(status, 500);
    assert!(text.contains("incoming-value-consume-async"), "{text}");
}

fn listing_10_000_objects_pages_correctly(backend: &Backend, prefix: &str) {
    let app = App::new(backend, prefix, "");
    let server = app.serve();
    let names: Vec<String> = (0..10_000)
        .map(|i| format!("dir{}/obj-{i:05}", i % 7))
        .collect();
    std::thread::scope(|scope| {
        for chunk in names.chunks(names.len() / 8) {
            let server = &server;
            scope.spawn(move || {
                let client = client();
                for name in chunk {
                    let response = client
                        .put(server.url(&format!("/c/files/o/{name}")))
                        .body(name.clone())
                        .send()
                        .unwrap();
                    assert_eq!(response.status(), 200, "{name}");
                }
            });
        }
    });
    let mut expected = names.clone();
    expected.sort();
    for (page, calls) in [(1000, 11), (333, 31), (5000, 3)] {
        let (status, text) = send(client().get(server.url(&format!("/c/files/list?page={page}"))));
        assert_eq!(status, 200);
        let mut lines: Vec<&str> = text.lines().collect();
        let reads: usize = lines.pop().unwrap().parse().unwrap();
        assert_eq!(lines, expected, "page {page}");
        // A call returns at most 1 000 names, and the last says the listing ended.
        let least = expected.len().div_ceil(page.min(1000));
        assert!(
            (least..=least + 1).contains(&reads),
            "page {page}: {reads} read calls, expected {calls}"
        );
    }
    let (status, text) = send(client().get(server.url("/c/files/list?page=1000&skip=9990")));
    assert_eq!(status, 200);
    assert_eq!(text.lines().count(), 11, "{text}");
}

fn an_ungranted_container_is_denied(backend: &Backend, prefix: &str) {
    let app = App::new(backend, prefix, "");
    let server = app.serve();
    // `secret` exists (it is granted to `outsider`); `nowhere` does not exist at all.
    for container in ["secret", "nowhere"] {
        for request in [
            client()
                .put(server.url(&format!("/c/{container}/o/x")))
                .body("x"),
            client().get(server.url(&format!("/c/{container}/o/x"))),
            client().get(server.url(&format!("/c/{container}/list"))),
            client().post(server.url(&format!("/containers/{container}"))),
            client().get(server.url(&format!("/containers/{container}/exists"))),
            client().post(server.url(&format!("/copy?from=files/a&to={container}/a"))),
        ] {
            let (status, text) = send(request);
            assert_eq!(status, 403, "{container}: {text}");
            assert_eq!(
                text.trim(),
                format!(
                    "container `{container}` is not granted to this component (blob_containers)"
                )
            );
        }
    }
    // The granted ones work, across containers too.
    assert_eq!(put(&server, "/c/files/o/a", "alpha").0, 200);
    assert_eq!(
        send(client().post(server.url("/copy?from=files/a&to=other/b"))).0,
        204
    );
    assert_eq!(
        send(client().get(server.url("/c/other/o/b"))),
        (200, "alpha".to_owned())
    );
    assert_eq!(
        send(client().post(server.url("/move?from=other/b&to=files/c"))).0,
        204
    );
    assert_eq!(send(client().head(server.url("/c/other/o/b"))).0, 404);
    assert_eq!(
        send(client().get(server.url("/c/files/o/c"))),
        (200, "alpha".to_owned())
    );
    assert_eq!(
        send(client().post(server.url("/containers/files"))),
        (409, "container `files` already exists\n".to_owned())
    );
    assert!(
        server
            .stderr()
            .lines()
            .all(|line| !line.contains("panicked"))
    );
}

fn a_blob_trigger_fires_once_per_write_and_dead_letters_failures(backend: &Backend, prefix: &str) {
    let app = App::new(backend, prefix, "");
    let server = app.serve();
    for i in 0..5 {
        assert_eq!(
            put(&server, &format!("/c/files/o/in/{i}.txt"), format!("n{i}")).0,
            200
        );
    }
    assert_eq!(put(&server, "/c/other/o/elsewhere", "x").0, 200);
    assert_eq!(
        send(client().delete(server.url("/c/files/o/in/0.txt"))).0,
        204
    );
    assert_eq!(put(&server, "/c/files/o/fail/bad.txt", "boom").0, 200);
    let events = wait_for_events(&server, |events| {
        count(events, "dead", "files/fail/bad.txt") == 1
            && count(events, "deleted", "files/in/0.txt") == 1
    });
    // Let any duplicate arrive before counting.
    std::thread::sleep(Duration::from_millis(500));
    let events = self::events(&server).max_by_len(events);
    for i in 0..5 {
        assert_eq!(
            count(&events, "created", &format!("files/in/{i}.txt")),
            1,
            "{events:#?}"
        );
    }
    assert_eq!(
        count(&events, "deleted", "files/in/0.txt"),
        1,
        "{events:#?}"
    );
    assert!(
        events.iter().all(|line| !line.contains("elsewhere")),
        "{events:#?}"
    );
    // The failing one: the first attempt and 2 retries, then the dead-letter queue.
    assert_eq!(
        count(&events, "created", "files/fail/bad.txt"),
        3,
        "{events:#?}"
    );
    let dead: Vec<&String> = events.iter().filter(|l| l.starts_with("dead ")).collect();
    assert_eq!(dead.len(), 1, "{events:#?}");
    assert!(
        dead[0].contains(" 3|") && dead[0].contains("asked to fail on fail/bad.txt"),
        "{dead:?}"
    );
    // The data of an event: size and ETag.
    let created = events
        .iter()
        .find(|l| l.starts_with("wasmhost.blob.created files/in/1.txt "))
        .unwrap();
    let fields: Vec<&str> = created.split(' ').collect();
    assert_eq!(fields[2], "2", "{created}");
    assert_ne!(fields[3], "-", "{created}");
}

/// The longer of two event lists (the later read has every line of the earlier one).
trait Longest {
    fn max_by_len(self, other: Self) -> Self;
}

impl Longest for Vec<String> {
    fn max_by_len(self, other: Self) -> Self {
        if self.len() >= other.len() {
            self
        } else {
            other
        }
    }
}

fn kill_during_a_write_leaves_no_object(backend: &Backend, prefix: &str) {
    let app = App::new(backend, prefix, "");
    let mut server = app.serve();
    assert_eq!(put(&server, "/c/files/o/kept", "kept").0, 200);
    // A body that sends 8 MiB, then stalls: the guest is in the middle of the write.
    let (sent_tx, sent_rx) = std::sync::mpsc::channel();
    struct Stalling {
        sent: u64,
        signal: Option<std::sync::mpsc::Sender<()>>,
    }
    impl Read for Stalling {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            if self.sent >= 8 * MIB {
                if let Some(signal) = self.signal.take() {
                    signal.send(()).unwrap();
                }
                std::thread::sleep(Duration::from_secs(30));
                return Err(std::io::Error::other("stalled"));
            }
            let n = buf.len().min((8 * MIB - self.sent) as usize);
            buf[..n].fill(7);
            self.sent += n as u64;
            Ok(n)
        }
    }
    let url = server.url("/c/files/o/partial");
    let writer = std::thread::spawn(move || {
        let body = reqwest::blocking::Body::sized(
            Stalling {
                sent: 0,
                signal: Some(sent_tx),
            },
            64 * MIB,
        );
        let _ = client().put(url).body(body).send();
    });
    sent_rx.recv_timeout(Duration::from_secs(60)).unwrap();
    std::thread::sleep(Duration::from_millis(500));
    let old_pid = server.pid();
    server.kill();
    drop(server);
    let server = app.serve();
    assert_eq!(send(client().head(server.url("/c/files/o/partial"))).0, 404);
    let (_, list) = send(client().get(server.url("/c/files/list")));
    assert!(list.starts_with("kept\n"), "{list}");
    assert!(!list.contains("partial"), "{list}");
    if let Backend::Local = backend {
        let spool = app.dir.path().join(".wasmhost/blobs/.spool");
        assert!(
            !spool.join(old_pid.to_string()).exists(),
            "the dead process's spool is removed"
        );
    }
    drop(writer);
}

fn the_cli_lists_reads_writes_and_deletes(backend: &Backend, prefix: &str) {
    let app = App::new(backend, prefix, "");
    let manifest = app.manifest();
    let manifest = manifest.to_str().unwrap();
    let mut common = vec!["blob", "--app", manifest];
    common.extend(app.args.iter().map(String::as_str));
    let envs: Vec<(&str, &str)> = app.env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let blob = |args: &[&str]| {
        let mut all = common.clone();
        all.extend_from_slice(args);
        let output = std::process::Command::new(wasmhost_binary())
            .args(&all)
            .envs(envs.iter().copied())
            .output()
            .unwrap();
        (
            output.status.success(),
            String::from_utf8_lossy(&output.stdout).into_owned(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    };
    let file = app.dir.path().join("in.txt");
    std::fs::write(&file, "hello blob").unwrap();
    let (ok, out, err) = blob(&["put", "files", "docs/a.txt", file.to_str().unwrap()]);
    assert!(ok, "{err}");
    assert_eq!(out, "10\tdocs/a.txt\n");
    let (ok, out, _) = blob(&["ls", "files", "--prefix", "docs/"]);
    assert!(ok);
    assert_eq!(out, "10\tdocs/a.txt\n");
    let (ok, out, _) = blob(&["get", "files", "docs/a.txt"]);
    assert!(ok);
    assert_eq!(out, "hello blob");
    let (ok, _, _) = blob(&["rm", "files", "docs/a.txt"]);
    assert!(ok);
    let (ok, _, err) = blob(&["get", "files", "docs/a.txt"]);
    assert!(!ok);
    assert!(
        err.contains("object `docs/a.txt` does not exist in container `files`"),
        "{err}"
    );
    let (ok, _, err) = blob(&["ls", "no.such"]);
    assert!(!ok);
    assert!(err.contains("`no.such` is not a container name"), "{err}");
}

/// A body that comes slowly (150 pieces, 25 ms apart: 3.75 s, more than the 1 000 ms CPU
/// limit) is not charged to the guest as CPU time while it waits for the next piece: the upload
/// succeeds, whole.
#[test]
fn a_slow_upload_is_not_charged_as_cpu_time() {
    let app = App::new(&Backend::Local, "", "");
    let server = app.serve();
    /// 150 000 bytes in pieces of at most 1 000, each after a 25 ms pause.
    struct Slow(usize);
    impl Read for Slow {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let n = buf.len().min(1000).min(150_000 - self.0);
            if n > 0 {
                std::thread::sleep(Duration::from_millis(25));
            }
            buf[..n].fill(b's');
            self.0 += n;
            Ok(n)
        }
    }
    let body = reqwest::blocking::Body::sized(Slow(0), 150_000);
    let (status, text) = put(&server, "/c/files/o/slow", body);
    assert_eq!(
        (status, text.trim()),
        (200, "150000"),
        "{}",
        server.stderr()
    );
    let (status, bytes) = send(client().get(server.url("/c/files/o/slow")));
    assert_eq!((status, bytes.len()), (200, 150_000));
}

/// Runs `test` against the local backend.
fn local(test: fn(&Backend, &str)) {
    test(&Backend::Local, "");
}

/// Runs `test` against the S3 server, under a prefix of its own.
fn s3(test: fn(&Backend, &str), prefix: &str) {
    let backend = Backend::S3(S3Server::start());
    test(&backend, prefix);
}

#[test]
fn local_round_trip_of_100_mib_keeps_host_memory_bounded() {
    local(round_trip_of_100_mib_keeps_host_memory_bounded);
}

#[test]
fn s3_round_trip_of_100_mib_keeps_host_memory_bounded() {
    s3(round_trip_of_100_mib_keeps_host_memory_bounded, "big");
}

#[test]
fn local_ranges_return_the_exact_bytes() {
    local(ranges_return_the_exact_bytes);
}

#[test]
fn s3_ranges_return_the_exact_bytes() {
    s3(ranges_return_the_exact_bytes, "ranges");
}

#[test]
fn local_listing_10_000_objects_pages_correctly() {
    local(listing_10_000_objects_pages_correctly);
}

#[test]
fn s3_listing_10_000_objects_pages_correctly() {
    s3(listing_10_000_objects_pages_correctly, "listing");
}

#[test]
fn local_an_ungranted_container_is_denied() {
    local(an_ungranted_container_is_denied);
}

#[test]
fn s3_an_ungranted_container_is_denied() {
    s3(an_ungranted_container_is_denied, "denied");
}

#[test]
fn local_a_blob_trigger_fires_once_per_write_and_dead_letters_failures() {
    local(a_blob_trigger_fires_once_per_write_and_dead_letters_failures);
}

#[test]
fn s3_a_blob_trigger_fires_once_per_write_and_dead_letters_failures() {
    s3(
        a_blob_trigger_fires_once_per_write_and_dead_letters_failures,
        "trigger",
    );
}

#[test]
fn local_kill_during_a_write_leaves_no_object() {
    local(kill_during_a_write_leaves_no_object);
}

#[test]
fn s3_kill_during_a_write_leaves_no_object() {
    s3(kill_during_a_write_leaves_no_object, "kill");
}

#[test]
fn local_the_cli_lists_reads_writes_and_deletes() {
    local(the_cli_lists_reads_writes_and_deletes);
}

#[test]
fn s3_the_cli_lists_reads_writes_and_deletes() {
    s3(the_cli_lists_reads_writes_and_deletes, "cli");
}

/// The poller: an object another client puts into the container (straight into the bucket,
/// or the directory) raises a `created` event; one it deletes, `deleted`. Objects there
/// before the first listing raise nothing; writes through wasmhost are not raised twice.
fn the_poller_finds_objects_written_by_others(backend: &Backend, prefix: &str) {
    let extra = match backend {
        Backend::Local => "[blob_container.files]\ntype = \"local\"\npoll_interval_ms = 200\n",
        Backend::S3(_) => "",
    };
    let app = App::new(backend, prefix, extra);
    if let Backend::S3(s3) = backend {
        // The poll interval goes into the S3 table of `files`.
        let path = app.dir.path().join("runtime-config.toml");
        let config = std::fs::read_to_string(&path).unwrap();
        let table = "[blob_container.files]\n";
        let config = config.replacen(table, &format!("{table}poll_interval_ms = 200\n"), 1);
        std::fs::write(&path, config).unwrap();
        s3.put_object(&format!("{prefix}/files/before.txt"), b"old");
    }
    let write_behind = |name: &str, bytes: &[u8]| match backend {
        Backend::Local => {
            let path = app.dir.path().join(".wasmhost/blobs/files").join(name);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, bytes).unwrap();
        }
        Backend::S3(s3) => s3.put_object(&format!("{prefix}/files/{name}"), bytes),
    };
    let server = app.serve();
    server.log_with_within("blob poller started", Duration::from_secs(10));
    std::thread::sleep(Duration::from_millis(500));
    write_behind("dropped/in.csv", b"a,b\n1,2\n");
    assert_eq!(put(&server, "/c/files/o/through-wasmhost", "mine").0, 200);
    let events = wait_for_events(&server, |events| {
        count(events, "created", "files/dropped/in.csv") == 1
    });
    std::thread::sleep(Duration::from_millis(800));
    let events = self::events(&server).max_by_len(events);
    assert_eq!(
        count(&events, "created", "files/dropped/in.csv"),
        1,
        "{events:#?}"
    );
    assert_eq!(
        count(&events, "created", "files/through-wasmhost"),
        1,
        "{events:#?}"
    );
    assert_eq!(
        count(&events, "created", "files/before.txt"),
        0,
        "{events:#?}"
    );
    let line = events
        .iter()
        .find(|l| l.starts_with("wasmhost.blob.created files/dropped/in.csv "))
        .unwrap();
    assert!(line.contains(" 8 "), "the size: {line}");
}

#[test]
fn local_the_poller_finds_objects_written_by_others() {
    local(the_poller_finds_objects_written_by_others);
}

#[test]
fn s3_the_poller_finds_objects_written_by_others() {
    s3(the_poller_finds_objects_written_by_others, "poller");
}

/// `apps/uploads` as the README runs it: a file put over HTTP comes back whole and by range,
/// and its SHA-256, computed by the blob trigger, shows in `/info`.
#[test]
fn the_uploads_app_stores_files_and_digests_them() {
    let dir = tempfile::tempdir().unwrap();
    let app = wasmhost_tests::repo_root().join("apps/uploads/wasmhost.toml");
    let manifest = std::fs::read_to_string(&app).unwrap().replace(
        "../../target/guests/wasm32-wasip2/release/uploads.wasm",
        guests::UPLOADS,
    );
    std::fs::write(dir.path().join("wasmhost.toml"), manifest).unwrap();
    let server =
        Server::start_app(wasmhost_binary(), &dir.path().join("wasmhost.toml"), &[]).unwrap();
    let body = pattern_bytes(0..300_000);
    let (status, _) = put(&server, "/files/report.bin", body.clone());
    assert_eq!(status, 201);
    let bytes = client()
        .get(server.url("/files/report.bin"))
        .send()
        .unwrap()
        .bytes()
        .unwrap();
    assert!(bytes[..] == body[..]);
    let response = client()
        .get(server.url("/files/report.bin"))
        .header("range", "bytes=1000-1009")
        .send()
        .unwrap();
    assert_eq!(response.status(), 206);
    assert!(response.bytes().unwrap()[..] == body[1000..1010]);
    let digest = ring_sha256(&body);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (status, info) = send(client().get(server.url("/files/report.bin/info")));
        assert_eq!(status, 200, "{info}");
        if info.contains(&digest) {
            assert!(info.contains("\"size\":300000"), "{info}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no digest: {info}\n{}",
            server.stderr()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(send(client().get(server.url("/files/missing/info"))).0, 404);
}

/// The SHA-256 of `bytes`, in lowercase hex.
fn ring_sha256(bytes: &[u8]) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, bytes);
    digest.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

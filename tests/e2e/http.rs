//! End-to-end tests of the HTTP trigger: the real `wasmhost` binary on port 0, real guest
//! components compiled from Rust, driven by a real HTTP client (reqwest).

use std::path::{Path, PathBuf};
use std::time::Duration;

use futures::StreamExt;
use wasmhost_tests::{Server, guests, wasmhost_binary};

/// Writes an app with every test guest to `dir` and returns the manifest's path.
fn write_app(dir: &Path) -> PathBuf {
    let manifest = format!(
        r#"manifest_version = 1
[application]
name = "e2e"

[[trigger.http]]
route = "/hello/:name"
component = "hello"

[[trigger.http]]
route = "/hello"
component = "hello"

[[trigger.http]]
route = "/files/..."
component = "hello"

[[trigger.http]]
route = "/echo"
component = "echo"

[[trigger.http]]
route = "/trap"
component = "trap"

[[trigger.http]]
route = "/plain/..."
component = "plain"

[[trigger.http]]
route = "/upper"
component = "async-upper"

[[trigger.http]]
route = "/old/..."
redirect = {{ to = "https://example.com/new", status = 301 }}

[[trigger.http]]
route = "/robots.txt"
static_response = {{ headers = {{ content-type = "text/plain", cache-control = "max-age=60" }}, body = "User-agent: *\nDisallow:\n" }}

[component.hello]
source = "{}"
[component.echo]
source = "{}"
[component.trap]
source = "{}"
[component.plain]
source = "{}"
[component.async-upper]
source = "{}"
"#,
        guests::HELLO,
        guests::ECHO,
        guests::TRAP,
        guests::PLAIN_WASIP2,
        guests::ASYNC_UPPER
    );
    let path = dir.join("wasmhost.toml");
    std::fs::write(&path, manifest).unwrap();
    path
}

fn start(extra: &[&str]) -> (tempfile::TempDir, Server) {
    let dir = tempfile::tempdir().unwrap();
    let manifest = write_app(dir.path());
    let server = Server::start_app(wasmhost_binary(), &manifest, extra).unwrap();
    (dir, server)
}

async fn get(url: impl reqwest::IntoUrl) -> (u16, String) {
    let response = reqwest::get(url).await.unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

#[tokio::test]
async fn hello_sees_path_route_and_param() {
    let (_dir, server) = start(&[]);
    let (status, body) = get(server.url("/hello/alice?x=1")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body,
        "hello, alice!\npath: /hello/alice\nroute: /hello/:name\npath-info: \n"
    );

    let (status, body) = get(server.url("/hello")).await;
    assert_eq!(status, 200);
    assert!(
        body.starts_with("hello, world!\npath: /hello\nroute: /hello\n"),
        "{body}"
    );
}

#[tokio::test]
async fn wildcard_route_passes_the_tail() {
    let (_dir, server) = start(&[]);
    let (status, body) = get(server.url("/files/css/site.css")).await;
    assert_eq!(status, 200);
    assert!(
        body.contains("route: /files/...\npath-info: /css/site.css\n"),
        "{body}"
    );
    let (_, body) = get(server.url("/files")).await;
    assert!(body.contains("route: /files/...\npath-info: \n"), "{body}");
}

#[tokio::test]
async fn unknown_path_is_404() {
    let (_dir, server) = start(&[]);
    assert_eq!(get(server.url("/nope")).await.0, 404);
    assert_eq!(get(server.url("/hello/a/b")).await.0, 404);
    assert_eq!(get(server.url("/echo/x")).await.0, 404);
}

#[tokio::test]
async fn clients_cannot_forge_wasmhost_headers() {
    let (_dir, server) = start(&[]);
    let body = reqwest::Client::new()
        .get(server.url("/hello/bob"))
        .header("wasmhost-route", "/forged")
        .header("wasmhost-param-name", "mallory")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(body.starts_with("hello, bob!\n"), "{body}");
    assert!(body.contains("route: /hello/:name\n"), "{body}");
}

/// 10 MiB goes through echo, streamed both ways: the first bytes of the response arrive while
/// the client still holds back the rest of the request body, which a host that buffered the
/// request (or the response) whole could never do.
#[tokio::test]
async fn echo_streams_10_mib_both_ways() {
    const TOTAL: usize = 10 << 20;
    const CHUNK: usize = 64 << 10;
    let (_dir, server) = start(&[]);
    let pattern = |i: usize| (i % 251) as u8;

    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Vec<u8>, std::io::Error>>(4);
    let body = reqwest::Body::wrap_stream(tokio_stream(rx));
    let request = reqwest::Client::new()
        .post(server.url("/echo"))
        .header("content-type", "application/octet-stream")
        .body(body)
        .send();
    let first = (0..CHUNK).map(pattern).collect::<Vec<u8>>();
    let producer = tokio::spawn(async move {
        tx.send(Ok(first)).await.unwrap();
        (tx,)
    });
    let response = tokio::time::timeout(Duration::from_secs(30), request)
        .await
        .expect("the response head arrives before the request body is complete")
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"],
        "application/octet-stream"
    );
    let mut stream = response.bytes_stream();
    let mut received = Vec::with_capacity(TOTAL);
    // Read the echo of the first chunk while the rest of the request is still unsent.
    while received.len() < CHUNK {
        let chunk = tokio::time::timeout(Duration::from_secs(30), stream.next())
            .await
            .expect("echoed bytes arrive before the request body is complete")
            .unwrap()
            .unwrap();
        received.extend_from_slice(&chunk);
    }
    let (tx,) = producer.await.unwrap();
    let rest = tokio::spawn(async move {
        let mut offset = CHUNK;
        while offset < TOTAL {
            let chunk = (offset..offset + CHUNK).map(pattern).collect::<Vec<u8>>();
            tx.send(Ok(chunk)).await.unwrap();
            offset += CHUNK;
        }
    });
    while let Some(chunk) = stream.next().await {
        received.extend_from_slice(&chunk.unwrap());
    }
    rest.await.unwrap();
    assert_eq!(received.len(), TOTAL);
    assert!(
        received.iter().enumerate().all(|(i, b)| *b == pattern(i)),
        "echoed bytes differ"
    );
}

fn tokio_stream<T>(mut rx: tokio::sync::mpsc::Receiver<T>) -> impl futures::Stream<Item = T> {
    futures::stream::poll_fn(move |cx| rx.poll_recv(cx))
}

#[tokio::test]
async fn trap_is_500_and_the_host_keeps_serving() {
    let (_dir, server) = start(&[]);
    let (trap, hello) = tokio::join!(get(server.url("/trap")), get(server.url("/hello/after")));
    assert_eq!(trap.0, 500);
    assert_eq!(hello.0, 200);
    // Many traps in a row, interleaved with good requests: every good one still succeeds.
    for _ in 0..20 {
        let (trap, hello) = tokio::join!(get(server.url("/trap")), get(server.url("/hello/x")));
        assert_eq!((trap.0, hello.0), (500, 200));
    }
    let log = server.stop();
    assert!(log.contains("guest trapped"), "{log}");
    assert!(log.contains("component=trap"), "{log}");
    assert!(
        log.contains("trap guest asked to fail on /trap"),
        "the guest's panic message is logged: {log}"
    );
}

#[tokio::test]
async fn plain_wasip2_component_runs_unchanged() {
    let (_dir, server) = start(&[]);
    let response = reqwest::get(server.url("/plain/anything?q=1"))
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "text/plain");
    assert_eq!(
        response.text().await.unwrap(),
        "plain wasip2 component at /plain/anything?q=1\n"
    );
}

#[tokio::test]
async fn async_handler_reads_the_body_and_errors_become_500() {
    let (_dir, server) = start(&[]);
    let client = reqwest::Client::new();
    let response = client
        .post(server.url("/upper"))
        .body("shout ".repeat(50_000))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.text().await.unwrap(), "SHOUT ".repeat(50_000));
    let response = client.post(server.url("/upper")).send().await.unwrap();
    assert_eq!(response.status(), 500);
    // An unexpected error's text is logged, not sent.
    assert_eq!(response.text().await.unwrap(), "internal server error\n");
    let log = server.log_with("handler failed: empty body");
    assert!(log.contains("handler failed: empty body"), "{log}");
}

#[tokio::test]
async fn health_is_on_the_admin_listener_only() {
    let (_dir, server) = start(&["--admin-listen", "127.0.0.1:0"]);
    let admin = server.admin_addr.unwrap();
    assert_ne!(admin, server.addr);
    let (status, body) = get(&format!("http://{admin}/.well-known/wasmhost/health")).await;
    assert_eq!((status, body.as_str()), (200, "ok\n"));
    let (status, _) = get(&format!("http://{admin}/.well-known/wasmhost/ready")).await;
    assert_eq!(status, 200);
    assert_eq!(get(server.url("/.well-known/wasmhost/health")).await.0, 404);
}

#[tokio::test]
async fn http2_prior_knowledge_is_served() {
    let (_dir, server) = start(&[]);
    let client = reqwest::Client::builder()
        .http2_prior_knowledge()
        .build()
        .unwrap();
    let response = client.get(server.url("/hello/h2")).send().await.unwrap();
    assert_eq!(response.version(), reqwest::Version::HTTP_2);
    assert!(response.text().await.unwrap().starts_with("hello, h2!\n"));
}

/// The second start with a warm cache compiles nothing: every component logs `cache=hit`.
#[tokio::test]
async fn warm_compile_cache_skips_compilation() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = write_app(dir.path());
    let cache = dir.path().join("cache");
    let args = [
        manifest.to_str().unwrap(),
        "--cache-dir",
        cache.to_str().unwrap(),
    ];

    let cold = Server::start(wasmhost_binary(), &args).unwrap();
    assert_eq!(get(cold.url("/hello/cold")).await.0, 200);
    let log = cold.stop();
    assert_eq!(log.matches("cache=miss").count(), 5, "{log}");
    assert_eq!(log.matches("cache=hit").count(), 0, "{log}");

    let warm = Server::start(wasmhost_binary(), &args).unwrap();
    assert_eq!(get(warm.url("/hello/warm")).await.0, 200);
    let log = warm.stop();
    assert_eq!(log.matches("cache=hit").count(), 5, "{log}");
    assert_eq!(log.matches("cache=miss").count(), 0, "{log}");

    // A corrupt entry is replaced, not fatal.
    for entry in std::fs::read_dir(&cache).unwrap() {
        std::fs::write(entry.unwrap().path(), b"not a compiled component").unwrap();
    }
    let repaired = Server::start(wasmhost_binary(), &args).unwrap();
    assert_eq!(get(repaired.url("/hello/again")).await.0, 200);
    let log = repaired.stop();
    assert_eq!(log.matches("cache=miss").count(), 5, "{log}");
}

#[tokio::test]
async fn redirects_and_static_responses_answer_without_a_guest() {
    let (_dir, server) = start(&["--admin-listen", "127.0.0.1:0"]);
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let moved = client.get(server.url("/old/page")).send().await.unwrap();
    assert_eq!(moved.status(), 301);
    assert_eq!(moved.headers()["location"], "https://example.com/new");
    let robots = client.get(server.url("/robots.txt")).send().await.unwrap();
    assert_eq!(robots.status(), 200);
    assert_eq!(robots.headers()["content-type"], "text/plain");
    assert_eq!(robots.headers()["cache-control"], "max-age=60");
    assert_eq!(robots.text().await.unwrap(), "User-agent: *\nDisallow:\n");
    // No guest ran: no invocation is counted for any component.
    let text = reqwest::get(format!("http://{}/metrics", server.admin_addr.unwrap()))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let invoked: f64 = text
        .lines()
        .filter(|l| l.starts_with("wasmhost_invocations_total{"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum();
    assert_eq!(invoked, 0.0, "{text}");
    assert!(
        server.stdout().contains("(301 Moved Permanently): http://"),
        "{}",
        server.stdout()
    );
}

#[tokio::test]
async fn static_files_have_types_etags_ranges_and_no_way_out() {
    let dir = tempfile::tempdir().unwrap();
    let public = dir.path().join("public");
    std::fs::create_dir_all(public.join("docs")).unwrap();
    std::fs::write(public.join("style.css"), "body { color: red }\n").unwrap();
    std::fs::write(public.join("docs/index.html"), "<h1>docs</h1>\n").unwrap();
    std::fs::write(dir.path().join("secret.txt"), "not for you").unwrap();
    let manifest = dir.path().join("wasmhost.toml");
    std::fs::write(
        &manifest,
        "manifest_version = 1\n[application]\nname = \"files\"\n\
         [[trigger.http]]\nroute = \"/files/...\"\nstatic_files = \"public\"\n",
    )
    .unwrap();
    let server = Server::start_app(wasmhost_binary(), &manifest, &[]).unwrap();
    let client = reqwest::Client::new();

    let css = client
        .get(server.url("/files/style.css"))
        .send()
        .await
        .unwrap();
    assert_eq!(css.status(), 200);
    assert!(
        css.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/css")
    );
    let etag = css.headers()["etag"].clone();
    assert_eq!(css.text().await.unwrap(), "body { color: red }\n");

    let cached = client
        .get(server.url("/files/style.css"))
        .header("if-none-match", etag)
        .send()
        .await
        .unwrap();
    assert_eq!(cached.status(), 304);

    let part = client
        .get(server.url("/files/style.css"))
        .header("range", "bytes=0-3")
        .send()
        .await
        .unwrap();
    assert_eq!(part.status(), 206);
    assert_eq!(part.text().await.unwrap(), "body");

    let index = client.get(server.url("/files/docs/")).send().await.unwrap();
    assert_eq!(index.text().await.unwrap(), "<h1>docs</h1>\n");
    assert_eq!(
        client
            .get(server.url("/files/nope.txt"))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );

    // Escapes, sent raw so no client normalizes them away.
    for path in [
        "/files/../secret.txt",
        "/files/%2e%2e/secret.txt",
        "/files/docs/../../secret.txt",
    ] {
        let answer = raw_get(server.addr, path).await;
        assert!(!answer.contains("not for you"), "{path}: {answer}");
        assert!(!answer.starts_with("HTTP/1.1 200"), "{path}: {answer}");
    }
    // `..` inside the directory is refused too, as documented (issue 18, finding 11: it
    // answered 200).
    for path in ["/files/docs/../style.css", "/files/docs/%2E%2e/style.css"] {
        let answer = raw_get(server.addr, path).await;
        assert!(answer.starts_with("HTTP/1.1 404"), "{path}: {answer}");
    }
}

/// A directory named without its trailing `/` is redirected to the request's own path with it,
/// route prefix and query kept; a symbolic link out of the directory (to a file, to a
/// directory, or as a directory's `index.html`) is 404 unless the route sets
/// `follow_symlinks = true`; a link that stays inside is served (issue 18, finding 11: the
/// redirect went to `/sub/` without the prefix, and a link out of the root was served).
#[tokio::test]
async fn static_files_redirect_with_the_prefix_and_keep_to_their_directory() {
    let dir = tempfile::tempdir().unwrap();
    let public = dir.path().join("public");
    let outside = dir.path().join("outside");
    std::fs::create_dir_all(public.join("docs")).unwrap();
    std::fs::create_dir_all(public.join("linked-index")).unwrap();
    std::fs::create_dir_all(&outside).unwrap();
    std::fs::write(public.join("docs/index.html"), "<h1>docs</h1>\n").unwrap();
    std::fs::write(public.join("inside.txt"), "inside\n").unwrap();
    std::fs::write(outside.join("secret.txt"), "not for you").unwrap();
    std::fs::write(outside.join("index.html"), "not for you").unwrap();
    let link = |target: &Path, name: &str| std::os::unix::fs::symlink(target, public.join(name));
    link(&outside.join("secret.txt"), "file-link.txt").unwrap();
    link(&outside, "dir-link").unwrap();
    link(&public.join("inside.txt"), "inside-link.txt").unwrap();
    std::os::unix::fs::symlink(
        outside.join("index.html"),
        public.join("linked-index/index.html"),
    )
    .unwrap();
    let manifest = dir.path().join("wasmhost.toml");
    std::fs::write(
        &manifest,
        "manifest_version = 1\n[application]\nname = \"files\"\n\
         [[trigger.http]]\nroute = \"/files/...\"\nstatic_files = \"public\"\n\
         [[trigger.http]]\nroute = \"/open/...\"\nstatic_files = \"public\"\nfollow_symlinks = true\n",
    )
    .unwrap();
    let server = Server::start_app(wasmhost_binary(), &manifest, &[]).unwrap();

    let answer = raw_get(server.addr, "/files/docs?lang=en").await;
    assert!(answer.starts_with("HTTP/1.1 301"), "{answer}");
    assert!(
        answer
            .to_ascii_lowercase()
            .contains("location: /files/docs/?lang=en\r\n"),
        "{answer}"
    );
    for path in [
        "/files/file-link.txt",
        "/files/dir-link/secret.txt",
        "/files/dir-link/",
        "/files/linked-index/",
    ] {
        let answer = raw_get(server.addr, path).await;
        assert!(answer.starts_with("HTTP/1.1 404"), "{path}: {answer}");
        assert!(!answer.contains("not for you"), "{path}: {answer}");
    }
    let answer = raw_get(server.addr, "/files/inside-link.txt").await;
    assert!(
        answer.starts_with("HTTP/1.1 200") && answer.ends_with("inside\n"),
        "{answer}"
    );
    let answer = raw_get(server.addr, "/open/file-link.txt").await;
    assert!(
        answer.starts_with("HTTP/1.1 200") && answer.ends_with("not for you"),
        "{answer}"
    );
}

/// `GET path`, sent raw over TCP so that no client normalizes `..` away; the whole answer.
async fn raw_get(addr: std::net::SocketAddr, path: &str) -> String {
    let request = format!("GET {path} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n");
    tokio::task::spawn_blocking(move || {
        use std::io::{Read, Write};
        let mut stream = std::net::TcpStream::connect(addr).unwrap();
        stream.write_all(request.as_bytes()).unwrap();
        let mut answer = String::new();
        let _ = stream.read_to_string(&mut answer);
        answer
    })
    .await
    .unwrap()
}

/// Reads from `stream` until the server closes it; whether it did within `within`.
fn closed_within(stream: &mut std::net::TcpStream, within: Duration) -> bool {
    use std::io::Read;
    stream.set_read_timeout(Some(within)).unwrap();
    let mut buf = [0; 4096];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(err) if err.kind() == std::io::ErrorKind::ConnectionReset => return true,
            Err(_) => return false,
        }
    }
}

/// An HTTP/2 (h2c) connection that sends only the preface and its settings, then nothing, is
/// closed after `--idle-timeout-ms`, as is an HTTP/1.1 keep-alive connection after its last
/// request (issue 18, finding 10: the h2c connection stayed open).
#[tokio::test]
async fn idle_connections_are_closed() {
    use std::io::Write;
    let (_dir, server) = start(&[
        "--idle-timeout-ms",
        "1000",
        "--header-read-timeout-ms",
        "30000",
    ]);
    let addr = server.addr;
    let (h2, h1) = tokio::task::spawn_blocking(move || {
        let mut h2 = std::net::TcpStream::connect(addr).unwrap();
        h2.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\0\0\0\x04\0\0\0\0\0")
            .unwrap();
        let mut h1 = std::net::TcpStream::connect(addr).unwrap();
        h1.write_all(b"GET /hello/idle HTTP/1.1\r\nhost: x\r\n\r\n")
            .unwrap();
        (
            closed_within(&mut h2, Duration::from_secs(10)),
            closed_within(&mut h1, Duration::from_secs(10)),
        )
    })
    .await
    .unwrap();
    assert!(h2, "the idle HTTP/2 connection is still open after 10 s");
    assert!(h1, "the idle HTTP/1.1 connection is still open after 10 s");
}

/// With `--max-connections 2`, a third connection is closed as soon as it is accepted and
/// counted; once one of the two closes, a new one is served (issue 18, finding 10: nothing
/// capped connections).
#[tokio::test]
async fn connections_past_the_maximum_are_refused_and_counted() {
    use std::io::Write;
    let (_dir, server) = start(&["--max-connections", "2", "--admin-listen", "127.0.0.1:0"]);
    let addr = server.addr;
    let (mut first, second) = (
        std::net::TcpStream::connect(addr).unwrap(),
        std::net::TcpStream::connect(addr).unwrap(),
    );
    first.write_all(b"GET /hel").unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let refused = tokio::task::spawn_blocking(move || {
        let mut third = std::net::TcpStream::connect(addr).unwrap();
        closed_within(&mut third, Duration::from_secs(5))
    })
    .await
    .unwrap();
    assert!(refused, "the third connection was kept");
    assert_eq!(
        server.metric(r#"wasmhost_connections_refused_total{listener="http"}"#),
        1.0
    );
    drop((first, second));
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        if let Ok(response) = reqwest::get(server.url("/hello/again")).await
            && response.status() == 200
        {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "never served again");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Timeouts of `u64::MAX` ms mean no deadline, never an overflow: requests are served and
/// nothing panics (the deadlines were `now + timeout`, which overflowed per request).
#[tokio::test]
async fn the_largest_timeouts_are_served_without_a_panic() {
    let max = u64::MAX.to_string();
    let (_dir, server) = start(&[
        "--timeout-ms",
        &max,
        "--idle-timeout-ms",
        &max,
        "--header-read-timeout-ms",
        &max,
    ]);
    let response = reqwest::get(server.url("/hello/forever")).await.unwrap();
    assert_eq!(response.status(), 200);
    assert!(
        response
            .text()
            .await
            .unwrap()
            .starts_with("hello, forever!\n")
    );
    let log = server.stderr();
    assert!(!log.contains("panicked"), "{log}");
}

/// An app with a private route, CORS routes and a probe that chains: `hello` at `/private/:name`
/// (private) and at `/cors/:name` (credentials, listed origins) and `/open-cors/:name`
/// (any origin), http-probe at `/probe/proxy` chaining to `hello.internal`.
fn start_guarded() -> (tempfile::TempDir, Server) {
    let manifest = format!(
        r#"manifest_version = 1
[application]
name = "guarded"

[[trigger.http]]
route = "/private/:name"
component = "hello"
private = true

[[trigger.http]]
route = "/cors/:name"
component = "hello"
cors = {{ allowed_origins = ["https://app.example"], allowed_methods = ["GET", "PUT"], allowed_headers = ["x-token"], exposed_headers = ["x-request-id"], max_age_secs = 600, allow_credentials = true }}

[[trigger.http]]
route = "/open-cors/:name"
component = "hello"
cors = {{ allowed_origins = ["*"] }}

[[trigger.http]]
route = "/probe/proxy"
component = "probe"

[component.hello]
source = "{hello}"
[component.probe]
source = "{probe}"
allowed_outbound_hosts = ["http://hello.internal"]
"#,
        hello = guests::HELLO,
        probe = guests::HTTP_PROBE,
    );
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("wasmhost.toml");
    std::fs::write(&path, manifest).unwrap();
    let server =
        Server::start_app(wasmhost_binary(), &path, &["--admin-listen", "127.0.0.1:0"]).unwrap();
    (dir, server)
}

/// A private route answers 404 from outside and 200 through internal chaining.
#[tokio::test]
async fn a_private_route_is_reachable_only_through_chaining() {
    let (_dir, server) = start_guarded();
    let outside = reqwest::get(server.url("/private/ann")).await.unwrap();
    assert_eq!(outside.status(), 404);
    let chained = reqwest::Client::new()
        .get(server.url("/probe/proxy"))
        .header("x-target", "http://hello.internal/private/ann")
        .send()
        .await
        .unwrap();
    assert_eq!(chained.status(), 200);
    assert!(chained.text().await.unwrap().starts_with("hello, ann!"));
}

/// CORS answered by the host: a preflight from an allowed origin gets 204 with the route's
/// methods, headers and max age, and no guest runs; an actual request from it gets its origin
/// echoed (with credentials, never `*`) and `vary: origin`; a disallowed origin gets no
/// `access-control-allow-origin`; a route open to any origin answers `*`.
#[tokio::test]
async fn cors_is_answered_by_the_host() {
    let (_dir, server) = start_guarded();
    let client = reqwest::Client::new();
    let preflight = client
        .request(reqwest::Method::OPTIONS, server.url("/cors/ann"))
        .header("origin", "https://app.example")
        .header("access-control-request-method", "PUT")
        .header("access-control-request-headers", "x-token")
        .send()
        .await
        .unwrap();
    assert_eq!(preflight.status(), 204);
    let h = preflight.headers();
    assert_eq!(h["access-control-allow-origin"], "https://app.example");
    assert_eq!(h["access-control-allow-methods"], "GET, PUT");
    assert_eq!(h["access-control-allow-headers"], "x-token");
    assert_eq!(h["access-control-max-age"], "600");
    assert_eq!(h["access-control-allow-credentials"], "true");
    assert_eq!(h["vary"], "origin");
    let invocations =
        r#"wasmhost_invocations_total{component="hello",trigger="http",outcome="ok"}"#;
    assert_eq!(
        server.metric(invocations),
        0.0,
        "a guest answered the preflight"
    );

    let actual = client
        .get(server.url("/cors/ann"))
        .header("origin", "https://app.example")
        .send()
        .await
        .unwrap();
    assert_eq!(actual.status(), 200);
    let h = actual.headers();
    assert_eq!(h["access-control-allow-origin"], "https://app.example");
    assert_eq!(h["access-control-allow-credentials"], "true");
    assert_eq!(h["access-control-expose-headers"], "x-request-id");
    assert_eq!(h["vary"], "origin");

    for (method, path) in [
        (reqwest::Method::GET, "/cors/ann"),
        (reqwest::Method::OPTIONS, "/cors/ann"),
    ] {
        let evil = client
            .request(method, server.url(path))
            .header("origin", "https://evil.example")
            .header("access-control-request-method", "GET")
            .send()
            .await
            .unwrap();
        assert!(
            !evil.headers().contains_key("access-control-allow-origin"),
            "{:?}",
            evil.headers()
        );
    }
    let open = client
        .get(server.url("/open-cors/ann"))
        .header("origin", "https://anyone.example")
        .send()
        .await
        .unwrap();
    assert_eq!(open.headers()["access-control-allow-origin"], "*");
}

/// `allowed_origins = ["*"]` with `allow_credentials = true` is refused at load, at its line.
#[test]
fn cors_refuses_any_origin_with_credentials() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("wasmhost.toml");
    std::fs::write(
        &path,
        format!(
            "manifest_version = 1\n[application]\nname = \"c\"\n[[trigger.http]]\nroute = \"/a\"\ncomponent = \"hello\"\n\
             cors = {{ allowed_origins = [\"*\"], allow_credentials = true }}\n[component.hello]\nsource = \"{}\"\n",
            guests::HELLO
        ),
    )
    .unwrap();
    let (ok, _, stderr) =
        wasmhost_tests::run(wasmhost_binary(), &["check", path.to_str().unwrap()]).unwrap();
    assert!(!ok);
    assert!(
        stderr.contains("wasmhost.toml:7:8: `trigger.http[0].cors`: `allowed_origins = [\"*\"]` cannot go with `allow_credentials = true`"),
        "{stderr}"
    );
}

/// The precedence example of `docs/routes.md`, served: `/users/me`, `/users/:id` and
/// `/users/...` each reach their own component (config-probe answers its `component`
/// variable), `/users/:id/...` takes the longer prefix from `/users/...`, and a static-files
/// route answers its bare prefix with and without the trailing slash.
#[tokio::test]
async fn the_routes_pages_precedence_example_reaches_each_handler() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("public")).unwrap();
    std::fs::write(dir.path().join("public/index.html"), "index\n").unwrap();
    let component = |id: &str| {
        format!(
            "[component.{id}]\nsource = \"{}\"\n[component.{id}.variables]\ncomponent = \"{id}\"\n",
            guests::CONFIG_PROBE
        )
    };
    let manifest = format!(
        "manifest_version = 1\n[application]\nname = \"routes\"\n\
         [[trigger.http]]\nroute = \"/users/me\"\ncomponent = \"me\"\n\
         [[trigger.http]]\nroute = \"/users/:id\"\ncomponent = \"by-id\"\n\
         [[trigger.http]]\nroute = \"/users/...\"\ncomponent = \"any\"\n\
         [[trigger.http]]\nroute = \"/posts/...\"\ncomponent = \"any\"\n\
         [[trigger.http]]\nroute = \"/posts/:id/...\"\ncomponent = \"by-id\"\n\
         [[trigger.http]]\nroute = \"/assets/...\"\nstatic_files = \"public\"\n\
         {}{}{}",
        component("me"),
        component("by-id"),
        component("any"),
    );
    let path = dir.path().join("wasmhost.toml");
    std::fs::write(&path, manifest).unwrap();
    let server = Server::start_app(wasmhost_binary(), &path, &[]).unwrap();
    for (path, answer) in [
        ("/users/me", "component=me\n"),
        ("/users/42", "component=by-id\n"),
        ("/users/42/posts", "component=any\n"),
        ("/users", "component=any\n"),
        ("/users/", "component=any\n"),
        ("/posts/7/comments", "component=by-id\n"),
        ("/posts", "component=any\n"),
        ("/assets/", "index\n"),
        ("/assets/index.html", "index\n"),
    ] {
        assert_eq!(
            get(server.url(path)).await,
            (200, answer.to_owned()),
            "{path}"
        );
    }
}

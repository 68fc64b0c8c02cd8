//! End-to-end tests of outbound HTTP: the real `wasmhost` binary serving
//! `tests/guests/http-probe`, which sends requests to a real hyper [`Upstream`] on loopback
//! (or to another component, for internal chaining).

use std::time::Duration;

use wasmhost_tests::{Server, Upstream, guests, wasmhost_binary};

/// Four instances of http-probe with different grants, and `hello` to chain to:
/// - `open`: any port on 127.0.0.1, and `hello.internal`; 3 outbound requests per invocation;
/// - `strict`: only `http://127.0.0.1:<upstream port>`;
/// - `hasty`: any port on 127.0.0.1, with 300 ms connect and between-bytes timeouts and a
///   600 ms first-byte timeout (which includes connecting: longer, so that a connect that
///   hangs always meets the connect timeout first);
/// - `closed`: no grant at all.
fn start(upstream: &Upstream) -> (tempfile::TempDir, Server) {
    let port = upstream.addr.port();
    let mut manifest = String::from("manifest_version = 1\n[application]\nname = \"outbound\"\n");
    for id in ["open", "strict", "hasty", "closed"] {
        for route in ["proxy", "proxy-async", "repeat"] {
            manifest +=
                &format!("[[trigger.http]]\nroute = \"/{id}/{route}\"\ncomponent = \"{id}\"\n");
        }
    }
    manifest += &format!(
        r#"[[trigger.http]]
route = "/hello/:name"
component = "hello"

[component.hello]
source = "{hello}"

[component.open]
source = "{probe}"
allowed_outbound_hosts = ["http://127.0.0.1:*", "http://hello.internal"]
[component.open.outbound_http]
max_requests = 3

[component.strict]
source = "{probe}"
allowed_outbound_hosts = ["http://127.0.0.1:{port}"]

[component.hasty]
source = "{probe}"
allowed_outbound_hosts = ["http://127.0.0.1:*", "https://127.0.0.1:*"]
[component.hasty.outbound_http]
connect_timeout_ms = 300
first_byte_timeout_ms = 600
between_bytes_timeout_ms = 300

[component.closed]
source = "{probe}"
"#,
        hello = guests::HELLO,
        probe = guests::HTTP_PROBE,
    );
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("wasmhost.toml");
    std::fs::write(&path, manifest).unwrap();
    let server = Server::start_app(wasmhost_binary(), &path, &[]).unwrap();
    (dir, server)
}

/// GET (or POST with `body`) `path` on the server with `x-target: target`.
async fn probe(server: &Server, path: &str, target: &str, count: u32) -> (u16, String) {
    let response = reqwest::Client::new()
        .get(server.url(path))
        .header("x-target", target)
        .header("x-count", count.to_string())
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

#[tokio::test]
async fn an_allowed_host_answers_and_bodies_stream_both_ways() {
    let upstream = Upstream::start().await;
    let (_dir, server) = start(&upstream);
    assert_eq!(
        probe(&server, "/strict/proxy", &upstream.url("/hello"), 1).await,
        (200, "hello from upstream".into())
    );

    // The SDK's async send reaches the same upstream.
    assert_eq!(
        probe(&server, "/strict/proxy-async", &upstream.url("/hello"), 1).await,
        (200, "hello from upstream".into())
    );
    assert_eq!(
        probe(&server, "/closed/proxy-async", &upstream.url("/hello"), 1).await,
        (403, "denied\n".into())
    );

    // Request body: 1 MiB through the guest to the upstream's /echo and back.
    let body: Vec<u8> = (0..1 << 20).map(|i| (i % 251) as u8).collect();
    let response = reqwest::Client::new()
        .post(server.url("/strict/proxy"))
        .header("x-target", upstream.url("/echo"))
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.bytes().await.unwrap().as_ref(), body.as_slice());

    // Response body: the first chunk reaches the client while the upstream still holds the
    // second; it sends the second only once the client has the first.
    let mut response = reqwest::Client::new()
        .get(server.url("/strict/proxy"))
        .header("x-target", upstream.url("/stream"))
        .send()
        .await
        .unwrap();
    let first = tokio::time::timeout(Duration::from_secs(30), response.chunk())
        .await
        .expect("the first chunk came before the upstream finished: the body streams")
        .unwrap()
        .unwrap();
    assert_eq!(first.as_ref(), b"first\n");
    upstream.release();
    assert_eq!(response.text().await.unwrap(), "second\n");
}

#[tokio::test]
async fn denied_hosts_ports_and_schemes_never_connect() {
    let upstream = Upstream::start().await;
    let other = Upstream::start().await;
    let (_dir, server) = start(&upstream);
    let port = upstream.addr.port();
    let denied = [
        ("/strict/proxy", format!("http://localhost:{port}/hello")), // host
        ("/strict/proxy", other.url("/hello")),                      // port
        ("/strict/proxy", format!("https://127.0.0.1:{port}/hello")), // scheme
        ("/closed/proxy", upstream.url("/hello")),                   // no grant at all
        ("/strict/proxy", "http://hello.internal/hello/x".to_owned()), // chaining not granted
    ];
    for (path, target) in &denied {
        assert_eq!(
            probe(&server, path, target, 1).await,
            (403, "denied\n".into()),
            "{path} → {target}"
        );
    }
    assert_eq!(upstream.connections(), 0);
    assert_eq!(other.connections(), 0);
    let log = server.log_with("not in allowed_outbound_hosts");
    assert!(log.contains("not in allowed_outbound_hosts"), "{log}");
    // With the grant that would allow it.
    assert!(
        log.contains("to allow it, add `allowed_outbound_hosts = [\"http://"),
        "{log}"
    );
}

#[tokio::test]
async fn connections_are_pooled_per_host() {
    let upstream = Upstream::start().await;
    let (_dir, server) = start(&upstream);
    for _ in 0..5 {
        // 2 requests per invocation, 5 invocations: 10 requests, one after another.
        let (status, body) = probe(&server, "/open/repeat", &upstream.url("/hello"), 2).await;
        assert_eq!((status, body.trim()), (200, "ok=2 failed=0"));
    }
    assert_eq!(
        upstream.connections(),
        1,
        "10 sequential requests used one connection"
    );
}

#[tokio::test]
async fn outbound_requests_per_invocation_are_capped() {
    let upstream = Upstream::start().await;
    let (_dir, server) = start(&upstream);
    let (status, body) = probe(&server, "/open/repeat", &upstream.url("/hello"), 5).await;
    assert_eq!(status, 200);
    assert!(body.starts_with("ok=3 failed=2 "), "{body}");
    assert!(body.contains("outbound request limit reached: 3"), "{body}");
    // The cap is per invocation: the next request starts afresh.
    let (_, body) = probe(&server, "/open/repeat", &upstream.url("/hello"), 3).await;
    assert!(body.starts_with("ok=3 failed=0"), "{body}");
}

#[tokio::test]
async fn first_byte_and_between_bytes_timeouts() {
    let upstream = Upstream::start().await;
    let (_dir, server) = start(&upstream);
    let (status, body) = probe(&server, "/hasty/proxy", &upstream.url("/slow-head"), 1).await;
    assert_eq!(status, 504, "{body}");
    // The head comes at once, the body stalls after `partial`: the guest's read fails.
    let (status, body) = probe(&server, "/hasty/repeat", &upstream.url("/stall"), 1).await;
    assert_eq!(status, 200);
    assert!(body.starts_with("ok=0 failed=1"), "{body}");
    // The same paths without a short timeout wait for the upstream (5 s for /slow-head).
    assert_eq!(
        probe(&server, "/open/proxy", &upstream.url("/slow-head"), 1).await,
        (200, "late".into())
    );
}

#[tokio::test]
async fn connect_timeout() {
    // A listener whose accept queue is full: the kernel drops further SYNs, so a connect hangs
    // until the client gives up.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let listener = socket.listen(1).unwrap();
    let addr = listener.local_addr().unwrap();
    let mut held = Vec::new();
    loop {
        let attempt = tokio::time::timeout(
            Duration::from_millis(200),
            tokio::net::TcpStream::connect(addr),
        )
        .await;
        match attempt {
            Ok(Ok(stream)) => held.push(stream),
            Ok(Err(err)) => panic!("cannot fill the accept queue: {err}"),
            Err(_) => break,
        }
        assert!(held.len() < 64, "the accept queue never filled");
    }
    let upstream = Upstream::start().await;
    let (_dir, server) = start(&upstream);
    let (status, body) = probe(&server, "/hasty/proxy", &format!("http://{addr}/"), 1).await;
    assert_eq!(
        (status, body.as_str()),
        (504, "timeout: connecting timed out\n")
    );
}

#[tokio::test]
async fn internal_chaining_calls_a_component_without_the_network() {
    let upstream = Upstream::start().await;
    let (_dir, server) = start(&upstream);
    let (status, body) = probe(
        &server,
        "/open/proxy",
        "http://hello.internal/hello/chain",
        1,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(body.starts_with("hello, chain"), "{body}");
    // An id that is not granted (or not a component) never reaches DNS.
    let (status, _) = probe(&server, "/open/proxy", "http://strict.internal/", 1).await;
    assert_eq!(status, 403);
}

#[tokio::test]
async fn https_checks_the_upstream_certificate() {
    // An HTTPS upstream whose self-signed certificate chains to no public root: the TLS
    // handshake runs and fails, and the guest sees a certificate error, not a response.
    let untrusted = Upstream::start_untrusted_tls().await;
    let upstream = Upstream::start().await;
    let (_dir, server) = start(&upstream);
    let target = format!("https://127.0.0.1:{}/hello", untrusted.addr.port());
    let (status, body) = probe(&server, "/hasty/proxy", &target, 1).await;
    assert_eq!(status, 502, "{body}");
    assert!(body.contains("TlsCertificateError"), "{body}");
    assert_eq!(
        untrusted.connections(),
        1,
        "the TCP connection was made, then refused"
    );
}

/// Denied requests are charged to the invocation's budget and the limit is logged once: a guest
/// that loops over a denied destination writes at most `max_requests` denial lines and one
/// limit line, not one line per attempt (issue 18, finding 6: one request wrote 20 000 lines).
#[tokio::test]
async fn a_denied_loop_cannot_flood_the_log() {
    let upstream = Upstream::start().await;
    let (_dir, server) = start(&upstream);
    // `strict` may reach only the upstream's port; port 1 is denied. Its budget: 100.
    let (status, body) = probe(&server, "/strict/repeat", "http://127.0.0.1:1/", 2000).await;
    assert_eq!(status, 200);
    assert!(body.starts_with("ok=0 failed=2000 "), "{body}");
    assert!(
        body.contains("outbound request limit reached: 100"),
        "{body}"
    );
    let log = server.log_with("outbound request limit reached");
    let denials = log.matches("denied: not in allowed_outbound_hosts").count();
    let limits = log.matches("outbound request limit reached").count();
    assert_eq!((denials, limits), (100, 1), "{log}");
}

/// Serves http-probe as `any` (`http://*:*`) and `local` (`http://localhost:*`), with runtime
/// config `runtime` if given.
fn start_internal(runtime: Option<&str>) -> (tempfile::TempDir, Server) {
    let mut manifest = String::from("manifest_version = 1\n[application]\nname = \"ssrf\"\n");
    for id in ["any", "local"] {
        manifest += &format!("[[trigger.http]]\nroute = \"/{id}/proxy\"\ncomponent = \"{id}\"\n");
    }
    manifest += &format!(
        "[component.any]\nsource = \"{probe}\"\nallowed_outbound_hosts = [\"http://*:*\"]\n\
         [component.local]\nsource = \"{probe}\"\nallowed_outbound_hosts = [\"http://localhost:*\"]\n",
        probe = guests::HTTP_PROBE,
    );
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("wasmhost.toml");
    std::fs::write(&path, manifest).unwrap();
    let mut args = Vec::new();
    let config = dir.path().join("runtime.toml");
    if let Some(runtime) = runtime {
        std::fs::write(&config, runtime).unwrap();
        args.extend(["--runtime-config", config.to_str().unwrap()]);
    }
    let server = Server::start_app(wasmhost_binary(), &path, &args).unwrap();
    (dir, server)
}

/// A name or `*` in `allowed_outbound_hosts` does not reach this machine's or its private
/// networks' addresses (loopback here; cloud metadata at 169.254.169.254 alike): an IP literal
/// is refused before connecting, a name that resolves only to such addresses when it resolves
/// (`destination-IP-prohibited`); an entry naming `localhost` (or the address) literally
/// reaches it, and so does everything once the runtime config sets
/// `[outbound_http] allow_private_networks = true` (issue 18, by reading: `*` reached
/// 127.0.0.1).
#[tokio::test]
async fn internal_addresses_need_a_literal_grant() {
    let upstream = Upstream::start().await;
    let port = upstream.addr.port();
    let literal = upstream.url("/hello");
    let named = format!("http://localhost:{port}/hello");
    let metadata = "http://169.254.169.254/latest/meta-data/".to_owned();

    let (_dir, server) = start_internal(None);
    for target in [&literal, &named, &metadata] {
        let (status, body) = probe(&server, "/any/proxy", target, 1).await;
        assert_eq!(status, 502, "{target}: {body}");
        assert!(body.contains("DestinationIpProhibited"), "{target}: {body}");
    }
    assert_eq!(
        probe(&server, "/local/proxy", &named, 1).await,
        (200, "hello from upstream".into())
    );
    assert_eq!(
        upstream.connections(),
        1,
        "only the literal grant connected"
    );
    let log = server.log_with("an internal address that allowed_outbound_hosts does not name");
    assert!(log.contains("169.254.169.254"), "{log}");

    let (_dir, open) = start_internal(Some("[outbound_http]\nallow_private_networks = true\n"));
    for target in [&literal, &named] {
        assert_eq!(
            probe(&open, "/any/proxy", target, 1).await,
            (200, "hello from upstream".into()),
            "{target}"
        );
    }
}

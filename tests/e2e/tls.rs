//! End-to-end tests of TLS on the listeners (`--tls-cert`/`--tls-key`,
//! `--admin-tls-cert`/`--admin-tls-key`): the real binary with self-signed certificates made
//! here (rcgen), driven by a rustls client that trusts only them and speaks HTTP/1.1 or HTTP/2
//! (hyper's client connections, so that a test sees the negotiated ALPN protocol and the
//! certificate the server presented).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::{Request, Response, StatusCode, Version};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::pki_types::{CertificateDer, ServerName};
use wasmhost_tests::{Server, guests, wasmhost_binary};

/// A self-signed certificate for `localhost` and `127.0.0.1`, with its key.
struct Pair {
    cert_pem: String,
    key_pem: String,
    der: CertificateDer<'static>,
}

impl Pair {
    fn new() -> Self {
        let certified = rcgen::generate_simple_self_signed(vec![
            "localhost".to_owned(),
            "127.0.0.1".to_owned(),
        ])
        .unwrap();
        Self {
            cert_pem: certified.cert.pem(),
            key_pem: certified.signing_key.serialize_pem(),
            der: certified.cert.der().clone(),
        }
    }

    /// Writes it to `<dir>/<name>.crt` and `<dir>/<name>.key` (over what is there); returns
    /// their paths.
    fn write(&self, dir: &Path, name: &str) -> (PathBuf, PathBuf) {
        let (cert, key) = (
            dir.join(format!("{name}.crt")),
            dir.join(format!("{name}.key")),
        );
        std::fs::write(&cert, &self.cert_pem).unwrap();
        std::fs::write(&key, &self.key_pem).unwrap();
        (cert, key)
    }
}

/// Writes a manifest serving the `hello` guest on `/hello/:name` and the `plain-wasip2`
/// guest (which answers the scheme it was given) on `/plain` to `dir`.
fn write_app(dir: &Path) -> PathBuf {
    let manifest = format!(
        r#"manifest_version = 1
[application]
name = "tls"

[[trigger.http]]
route = "/hello/:name"
component = "hello"

[[trigger.http]]
route = "/plain"
component = "plain"

[component.hello]
source = "{}"

[component.plain]
source = "{}"
"#,
        guests::HELLO,
        guests::PLAIN_WASIP2,
    );
    let path = dir.join("wasmhost.toml");
    std::fs::write(&path, manifest).unwrap();
    path
}

/// Serves the hello app with `pair` as the public listener's certificate (written to
/// `dir/public.*`) and `args` after.
fn start(dir: &Path, pair: &Pair, args: &[&str]) -> Server {
    let manifest = write_app(dir);
    let (cert, key) = pair.write(dir, "public");
    let mut all = vec![
        "--tls-cert",
        cert.to_str().unwrap(),
        "--tls-key",
        key.to_str().unwrap(),
    ];
    all.extend_from_slice(args);
    let server = Server::start_app(wasmhost_binary(), &manifest, &all).unwrap();
    assert_eq!(server.scheme, "https");
    assert!(server.url("/").starts_with("https://"));
    server
}

/// One HTTPS connection, made by a client that trusts only the certificates it was given.
struct Connection {
    /// The certificate the server presented.
    peer: CertificateDer<'static>,
    /// The ALPN protocol agreed on.
    alpn: Option<Vec<u8>>,
    sender: Sender,
    authority: String,
}

enum Sender {
    Http1(hyper::client::conn::http1::SendRequest<Empty<Bytes>>),
    Http2(hyper::client::conn::http2::SendRequest<Empty<Bytes>>),
}

/// A TCP connection to `addr`, then a TLS handshake for `localhost` that trusts only
/// `trusted`, offering the ALPN protocols `alpn`, then HTTP/2 if the server chose `h2`, else
/// HTTP/1.1.
async fn connect(
    addr: SocketAddr,
    trusted: &[&CertificateDer<'static>],
    alpn: &[&[u8]],
) -> anyhow::Result<Connection> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in trusted {
        roots.add((*cert).clone())?;
    }
    let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()?
    .with_root_certificates(roots)
    .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    let tcp = tokio::net::TcpStream::connect(addr).await?;
    let stream = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(ServerName::try_from("localhost")?, tcp)
        .await?;
    let (_, session) = stream.get_ref();
    let peer = session
        .peer_certificates()
        .and_then(|chain| chain.first())
        .expect("the server presents a certificate")
        .clone();
    let alpn = session.alpn_protocol().map(<[u8]>::to_vec);
    let io = TokioIo::new(stream);
    let sender = if alpn.as_deref() == Some(b"h2") {
        let (sender, connection) =
            hyper::client::conn::http2::handshake(TokioExecutor::new(), io).await?;
        tokio::spawn(connection);
        Sender::Http2(sender)
    } else {
        let (sender, connection) = hyper::client::conn::http1::handshake(io).await?;
        tokio::spawn(connection);
        Sender::Http1(sender)
    };
    Ok(Connection {
        peer,
        alpn,
        sender,
        authority: format!("localhost:{}", addr.port()),
    })
}

impl Connection {
    /// `GET path`, its body read whole.
    async fn get(&mut self, path: &str) -> anyhow::Result<Response<String>> {
        let response = match &mut self.sender {
            Sender::Http1(sender) => {
                // The path (origin form) and a Host header.
                let request = Request::get(path)
                    .header(hyper::header::HOST, &self.authority)
                    .body(Empty::new())?;
                sender.ready().await?;
                sender.send_request(request).await?
            }
            Sender::Http2(sender) => {
                // `:scheme` and `:authority` from the absolute URI.
                let request =
                    Request::get(format!("https://{}{path}", self.authority)).body(Empty::new())?;
                sender.ready().await?;
                sender.send_request(request).await?
            }
        };
        let (parts, body) = response.into_parts();
        let body = body.collect().await?.to_bytes();
        Ok(Response::from_parts(
            parts,
            String::from_utf8_lossy(&body).into_owned(),
        ))
    }
}

/// The status and HTTP version of `response`.
fn status_version<B>(response: &Response<B>) -> (StatusCode, Version) {
    (response.status(), response.version())
}

/// Over HTTPS, ALPN `h2` gets HTTP/2 and ALPN `http/1.1` gets HTTP/1.1, and both reach the
/// guest; the server presents the certificate of `--tls-cert`.
#[tokio::test]
async fn https_serves_http2_and_http1_by_alpn() {
    let dir = tempfile::tempdir().unwrap();
    let pair = Pair::new();
    let server = start(dir.path(), &pair, &[]);

    for (alpn, version) in [
        (&[&b"h2"[..], b"http/1.1"][..], Version::HTTP_2),
        (&[&b"http/1.1"[..]][..], Version::HTTP_11),
    ] {
        let mut connection = connect(server.addr, &[&pair.der], alpn).await.unwrap();
        assert_eq!(connection.alpn.as_deref(), Some(alpn[0]));
        assert_eq!(connection.peer, pair.der);
        // Two requests: the connection stays open after the first.
        for name in ["tls", "again"] {
            let response = connection.get(&format!("/hello/{name}")).await.unwrap();
            assert_eq!(status_version(&response), (StatusCode::OK, version));
            let body = response.body();
            assert!(body.starts_with(&format!("hello, {name}!")), "{body}");
        }
        // The guest is told the request came over HTTPS.
        let response = connection.get("/plain").await.unwrap();
        assert_eq!(status_version(&response), (StatusCode::OK, version));
        assert_eq!(response.headers()["x-request-scheme"], "https");
    }

    // A client that offers no ALPN gets HTTP/1.1.
    let mut connection = connect(server.addr, &[&pair.der], &[]).await.unwrap();
    assert_eq!(connection.alpn, None);
    let response = connection.get("/hello/plain").await.unwrap();
    assert_eq!(
        status_version(&response),
        (StatusCode::OK, Version::HTTP_11)
    );

    // A plain-HTTP request on the TLS port gets no HTTP answer.
    let answer = reqwest::get(format!("http://{}/hello/x", server.addr)).await;
    assert!(answer.is_err(), "{answer:?}");
}

/// A renewed certificate written over the files is presented to new connections after
/// SIGHUP, with no failed request while it is swapped; a connection opened before keeps
/// working.
#[tokio::test]
async fn sighup_swaps_in_a_renewed_certificate_without_a_failed_request() {
    let dir = tempfile::tempdir().unwrap();
    let (old, new) = (Pair::new(), Pair::new());
    assert_ne!(old.der, new.der);
    let server = start(dir.path(), &old, &[]);
    let addr = server.addr;
    let mut before = connect(addr, &[&old.der], &[b"h2"]).await.unwrap();
    assert_eq!(before.peer, old.der);

    // New connections, one request each, until one presents the new certificate (or 30 s).
    let trusted = (old.der.clone(), new.der.clone());
    let client = tokio::spawn(async move {
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut seen = Vec::new();
        while Instant::now() < deadline {
            let mut connection = connect(addr, &[&trusted.0, &trusted.1], &[b"h2", b"http/1.1"])
                .await
                .expect("a connection during the reload");
            let response = connection
                .get("/hello/renewal")
                .await
                .expect("a request during the reload");
            assert_eq!(response.status(), StatusCode::OK, "{}", response.body());
            let renewed = connection.peer == trusted.1;
            seen.push(renewed);
            if renewed {
                break;
            }
        }
        seen
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    new.write(dir.path(), "public");
    server.hangup();
    let seen = client.await.unwrap();
    assert_eq!(
        seen.last(),
        Some(&true),
        "the new certificate was never presented"
    );
    assert!(
        seen.len() > 1,
        "no request was made with the old certificate"
    );
    server.log_with("TLS certificate reloaded");

    // From now on, every new connection gets the new certificate.
    for _ in 0..3 {
        let connection = connect(addr, &[&new.der], &[b"h2"]).await.unwrap();
        assert_eq!(connection.peer, new.der);
    }
    // The connection opened before the reload was not cut.
    let response = before.get("/hello/before").await.unwrap();
    assert_eq!(status_version(&response), (StatusCode::OK, Version::HTTP_2));
}

/// A client that opens TCP and never sends its ClientHello is dropped after the header read
/// timeout, and holds its place under `--max-connections` only that long.
#[tokio::test]
async fn a_silent_client_is_dropped_after_the_header_read_timeout() {
    use tokio::io::AsyncReadExt;

    let dir = tempfile::tempdir().unwrap();
    let pair = Pair::new();
    let server = start(
        dir.path(),
        &pair,
        &["--header-read-timeout-ms", "500", "--max-connections", "1"],
    );

    let opened = Instant::now();
    let mut silent = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    // Its place is taken: a second connection is refused before any handshake.
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(connect(server.addr, &[&pair.der], &[b"h2"]).await.is_err());

    let mut buf = [0; 64];
    let read = tokio::time::timeout(Duration::from_secs(5), silent.read(&mut buf))
        .await
        .expect("the server closes the connection within 5 s");
    let waited = opened.elapsed();
    // Closed (EOF or reset), with nothing sent: no TLS alert, no 408.
    assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");
    assert!(
        waited >= Duration::from_millis(400),
        "closed after {waited:?}"
    );

    // The place is free again.
    let mut connection = connect(server.addr, &[&pair.der], &[b"h2"]).await.unwrap();
    let response = connection.get("/hello/next").await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}

/// The admin listener serves HTTPS with its own certificate, while the public one stays
/// plain HTTP.
#[tokio::test]
async fn the_admin_listener_has_its_own_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = write_app(dir.path());
    let admin = Pair::new();
    let (cert, key) = admin.write(dir.path(), "admin");
    let server = Server::start_app(
        wasmhost_binary(),
        &manifest,
        &[
            "--admin-listen",
            "127.0.0.1:0",
            "--admin-tls-cert",
            cert.to_str().unwrap(),
            "--admin-tls-key",
            key.to_str().unwrap(),
        ],
    )
    .unwrap();
    assert_eq!(server.admin_scheme, Some("https"));
    assert!(
        server
            .admin_url("/x")
            .starts_with(&format!("https://{}", server.admin_addr.unwrap()))
    );

    let mut connection = connect(server.admin_addr.unwrap(), &[&admin.der], &[b"h2"])
        .await
        .unwrap();
    assert_eq!(connection.peer, admin.der);
    let health = connection
        .get("/.well-known/wasmhost/health")
        .await
        .unwrap();
    assert_eq!(status_version(&health), (StatusCode::OK, Version::HTTP_2));
    assert_eq!(health.body(), "ok\n");

    // The public listener speaks plain HTTP, and says so to the guest.
    assert_eq!(server.scheme, "http");
    let plain = reqwest::get(server.url("/plain")).await.unwrap();
    assert_eq!(plain.status(), StatusCode::OK);
    assert_eq!(plain.headers()["x-request-scheme"], "http");
}

/// A certificate file with no certificate stops startup with an error naming the file; a
/// key that does not match, swapped in with SIGHUP, keeps the old certificate serving and is
/// logged (naming the file, showing no key material).
#[tokio::test]
async fn bad_files_fail_startup_and_leave_a_reload_without_effect() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = write_app(dir.path());
    let pair = Pair::new();
    let (_, key) = pair.write(dir.path(), "public");
    let bad = dir.path().join("bad.crt");
    std::fs::write(&bad, "not a certificate\n").unwrap();
    let (ok, _, stderr) = wasmhost_tests::run(
        wasmhost_binary(),
        &[
            "serve",
            manifest.to_str().unwrap(),
            "--listen",
            "127.0.0.1:0",
            "--tls-cert",
            bad.to_str().unwrap(),
            "--tls-key",
            key.to_str().unwrap(),
        ],
    )
    .unwrap();
    assert!(!ok, "{stderr}");
    assert!(stderr.contains(bad.to_str().unwrap()), "{stderr}");
    assert!(stderr.contains("holds no certificate"), "{stderr}");

    let (ok, _, stderr) = wasmhost_tests::run(
        wasmhost_binary(),
        &[
            "serve",
            manifest.to_str().unwrap(),
            "--tls-cert",
            bad.to_str().unwrap(),
        ],
    )
    .unwrap();
    assert!(!ok && stderr.contains("--tls-key"), "{stderr}");

    let server = start(dir.path(), &pair, &[]);
    // Another certificate's key over the key file: it does not match the certificate.
    let other = Pair::new();
    std::fs::write(&key, &other.key_pem).unwrap();
    server.hangup();
    let log = server.log_with("TLS certificate reload failed");
    assert!(log.contains(key.to_str().unwrap()), "{log}");
    assert!(
        log.contains("does not hold the key of the certificate"),
        "{log}"
    );
    let key_body = other.key_pem.lines().nth(1).unwrap();
    assert!(
        !log.contains(key_body),
        "the log shows key material:\n{log}"
    );

    let mut connection = connect(server.addr, &[&pair.der], &[b"h2"]).await.unwrap();
    assert_eq!(connection.peer, pair.der);
    let response = connection.get("/hello/still").await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}

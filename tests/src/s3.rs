//! [`S3Server`]: a real S3-protocol server of a test's own (moto's server mode, `python3 -m
//! moto.server`, installed with `pip install 'moto[server]'`), with one bucket, and a plain
//! HTTP client of its own: "another client" that writes, reads and lists objects behind
//! wasmhost's back.

use std::fmt::Write as _;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The credentials wasmhost is given for the test server (moto accepts any).
const ACCESS_KEY_ID: &str = "wasmhost-test";
const SECRET_ACCESS_KEY: &str = "wasmhost-test-secret";
const REGION: &str = "us-east-1";

/// How to install the server, for the panic of a test that needs it.
const INSTALL_HINT: &str = "the S3 blob tests need moto's S3 server: install it with \
     `python3 -m pip install 'moto[server]'` (or run `bash scripts/test`, which does)";

/// A moto S3 server on a free port of 127.0.0.1, its state in memory, with bucket
/// [`S3Server::bucket`] created. Killed when dropped.
///
/// Moto does not check request signatures: wrong credentials are not refused. It does treat a
/// request without an `authorization` header as anonymous (refused reads of private objects),
/// so the helpers here ([`S3Server::put_object`] and the others) send one with a dummy
/// signature.
pub struct S3Server {
    child: Child,
    /// Its port on 127.0.0.1.
    pub port: u16,
    bucket: String,
    /// The server's stderr (its request log), for a failure's message.
    log: tempfile::NamedTempFile,
}

impl S3Server {
    /// Starts `python3 -m moto.server` on a free port, waits until it answers, and creates
    /// the bucket `wasmhost-test`.
    ///
    /// # Panics
    /// If moto's server is not installed (`pip install 'moto[server]'`): a test that needs
    /// it fails without it, it never skips. Also if it does not answer within 30 s.
    pub fn start() -> Self {
        // The free port is found by binding port 0 and letting it go, so another process may
        // take it first: then moto exits at once, and it is started again on another port.
        for _ in 0..5 {
            if let Some(server) = Self::try_start() {
                server.create_bucket();
                return server;
            }
        }
        panic!("moto's S3 server could not bind a free port in 5 tries");
    }

    /// One try: `None` if the port was taken meanwhile.
    fn try_start() -> Option<Self> {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .expect("a free port")
            .port();
        let log = tempfile::NamedTempFile::new().expect("a temporary file");
        let child = Command::new("python3")
            .args([
                "-m",
                "moto.server",
                "-H",
                "127.0.0.1",
                "-p",
                &port.to_string(),
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log.reopen().expect("the log file"))
            .spawn()
            .unwrap_or_else(|err| panic!("cannot run `python3` ({err}); {INSTALL_HINT}"));
        let mut server = Self {
            child,
            port,
            bucket: "wasmhost-test".to_owned(),
            log,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(Some(status)) = server.child.try_wait() {
                let log = server.log();
                if log.contains("in use") {
                    return None;
                }
                panic!("moto's S3 server exited ({status}); {INSTALL_HINT}; its stderr:\n{log}");
            }
            if server
                .request("GET", "/", &[], &[])
                .is_ok_and(|(status, _)| status == 200)
            {
                return Some(server);
            }
            assert!(
                Instant::now() < deadline,
                "moto's S3 server on port {port} did not answer within 30 s; its stderr:\n{}",
                server.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// `http://127.0.0.1:<port>`: the `endpoint` of the runtime config.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The bucket's name.
    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    /// The environment wasmhost needs for this server: the credentials
    /// (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`) and `AWS_REGION`. For
    /// [`crate::Server::start_app_with_env`]:
    /// `let env = s3.env(); let env: Vec<_> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();`
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ACCESS_KEY_ID", ACCESS_KEY_ID.to_owned()),
            ("AWS_SECRET_ACCESS_KEY", SECRET_ACCESS_KEY.to_owned()),
            ("AWS_REGION", REGION.to_owned()),
        ]
    }

    /// The runtime config section of blob container `container` on this server's bucket,
    /// under `prefix` (none if empty): its objects are `<prefix>/<container>/<name>` in the
    /// bucket (`<container>/<name>` without a prefix).
    pub fn runtime_config_toml(&self, container: &str, prefix: &str) -> String {
        let mut toml = format!(
            "[blob_container.{container}]\ntype = \"s3\"\nendpoint = \"{}\"\nbucket = \"{}\"\n\
             region = \"{REGION}\"\n",
            self.endpoint(),
            self.bucket
        );
        if !prefix.is_empty() {
            let _ = writeln!(toml, "prefix = \"{prefix}\"");
        }
        toml
    }

    /// Writes object `key` (the whole key in the bucket: `<prefix>/<container>/<name>`) with
    /// `body`, as another client would.
    ///
    /// # Panics
    /// The server does not answer 200.
    pub fn put_object(&self, key: &str, body: &[u8]) {
        self.put_object_with_type(key, body, None);
    }

    /// [`S3Server::put_object`] with a `content-type` header.
    ///
    /// # Panics
    /// The server does not answer 200.
    pub fn put_object_with_type(&self, key: &str, body: &[u8], content_type: Option<&str>) {
        let headers: Vec<(&str, &str)> = content_type
            .map(|content_type| ("content-type", content_type))
            .into_iter()
            .collect();
        let (status, answer) = self.expect_request("PUT", &self.object_path(key), &headers, body);
        assert_eq!(
            status,
            200,
            "PUT {key}: {}",
            String::from_utf8_lossy(&answer)
        );
    }

    /// Object `key`'s bytes, `None` if there is no such object.
    ///
    /// # Panics
    /// The server answers neither 200 nor 404.
    pub fn get_object(&self, key: &str) -> Option<Vec<u8>> {
        let (status, body) = self.expect_request("GET", &self.object_path(key), &[], &[]);
        match status {
            200 => Some(body),
            404 => None,
            _ => panic!("GET {key}: {status} {}", String::from_utf8_lossy(&body)),
        }
    }

    /// Deletes object `key` (no error if it is missing), as another client would.
    ///
    /// # Panics
    /// The server does not answer 204.
    pub fn delete_object(&self, key: &str) {
        let (status, body) = self.expect_request("DELETE", &self.object_path(key), &[], &[]);
        assert_eq!(
            status,
            204,
            "DELETE {key}: {}",
            String::from_utf8_lossy(&body)
        );
    }

    /// Every key of the bucket that starts with `prefix`, in order (ListObjectsV2, following
    /// its continuation tokens).
    ///
    /// # Panics
    /// The server does not answer 200, or with a listing.
    pub fn list_keys(&self, prefix: &str) -> Vec<String> {
        let mut keys = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut path = format!(
                "/{}?list-type=2&prefix={}",
                self.bucket,
                encode(prefix, false)
            );
            if let Some(token) = &token {
                let _ = write!(path, "&continuation-token={}", encode(token, false));
            }
            let (status, body) = self.expect_request("GET", &path, &[], &[]);
            let body = String::from_utf8(body).expect("a UTF-8 listing");
            assert_eq!(status, 200, "list {prefix:?}: {body}");
            keys.extend(elements(&body, "Key").into_iter().map(unescape));
            if elements(&body, "IsTruncated").first() != Some(&"true") {
                return keys;
            }
            token = Some(unescape(
                elements(&body, "NextContinuationToken")
                    .first()
                    .expect("a truncated listing has a continuation token"),
            ));
        }
    }

    /// Everything the server wrote to stderr so far (its request log).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log.path()).unwrap_or_default()
    }

    fn create_bucket(&self) {
        let (status, body) = self.expect_request("PUT", &format!("/{}", self.bucket), &[], &[]);
        assert_eq!(
            status,
            200,
            "creating bucket {}: {}",
            self.bucket,
            String::from_utf8_lossy(&body)
        );
    }

    /// The request path of object `key`.
    fn object_path(&self, key: &str) -> String {
        format!("/{}/{}", self.bucket, encode(key, true))
    }

    /// [`S3Server::request`], which must get an answer.
    fn expect_request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> (u16, Vec<u8>) {
        self.request(method, path, headers, body)
            .unwrap_or_else(|err| {
                panic!(
                    "{method} {path} to moto's S3 server: {err}; its stderr:\n{}",
                    self.log()
                )
            })
    }

    /// One HTTP/1.0 request (so the answer is never chunked, and ends when the connection
    /// closes), with an `authorization` header whose signature moto does not check: the status
    /// and the body.
    fn request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> std::io::Result<(u16, Vec<u8>)> {
        let mut stream = TcpStream::connect(("127.0.0.1", self.port))?;
        stream.set_read_timeout(Some(Duration::from_secs(30)))?;
        let mut head = format!(
            "{method} {path} HTTP/1.0\r\nhost: 127.0.0.1:{}\r\ncontent-length: {}\r\n\
             authorization: AWS4-HMAC-SHA256 Credential={ACCESS_KEY_ID}/20260101/{REGION}/s3/\
             aws4_request, SignedHeaders=host, Signature=00\r\n",
            self.port,
            body.len()
        );
        for (name, value) in headers {
            let _ = write!(head, "{name}: {value}\r\n");
        }
        head.push_str("\r\n");
        stream.write_all(head.as_bytes())?;
        stream.write_all(body)?;
        let mut answer = Vec::new();
        stream.read_to_end(&mut answer)?;
        let invalid = || std::io::Error::new(std::io::ErrorKind::InvalidData, "not an HTTP answer");
        let end = answer
            .windows(4)
            .position(|window| window == b"\r\n\r\n")
            .ok_or_else(invalid)?;
        let status = std::str::from_utf8(&answer[..end])
            .ok()
            .and_then(|head| head.split(' ').nth(1))
            .and_then(|status| status.parse().ok())
            .ok_or_else(invalid)?;
        Ok((status, answer[end + 4..].to_vec()))
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `text` percent-encoded for a URL: every byte but the unreserved ones (and `/` if
/// `keep_slash`).
fn encode(text: &str, keep_slash: bool) -> String {
    let mut encoded = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric()
            || matches!(byte, b'-' | b'_' | b'.' | b'~')
            || (keep_slash && byte == b'/')
        {
            encoded.push(char::from(byte));
        } else {
            let _ = write!(encoded, "%{byte:02X}");
        }
    }
    encoded
}

/// The texts of the XML elements `<name>…</name>` of `xml`, in order.
fn elements<'a>(xml: &'a str, name: &str) -> Vec<&'a str> {
    let open = format!("<{name}>");
    let close = format!("</{name}>");
    xml.split(open.as_str())
        .skip(1)
        .filter_map(|rest| rest.split_once(close.as_str()).map(|(text, _)| text))
        .collect()
}

/// `text` with XML's character references replaced.
fn unescape(text: &str) -> String {
    let mut plain = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find('&') {
        plain.push_str(&rest[..start]);
        rest = &rest[start..];
        let Some(end) = rest.find(';') else { break };
        let entity = &rest[1..end];
        let decoded = match entity {
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            _ => entity
                .strip_prefix("#x")
                .map(|hex| u32::from_str_radix(hex, 16))
                .or_else(|| entity.strip_prefix('#').map(str::parse))
                .and_then(Result::ok)
                .and_then(char::from_u32),
        };
        if let Some(c) = decoded {
            plain.push(c);
            rest = &rest[end + 1..];
        } else {
            plain.push('&');
            rest = &rest[1..];
        }
    }
    plain.push_str(rest);
    plain
}

//! Layer 7, `wasmhost queue` and `wasmhost cron run`: the operations of [`crate::operate`],
//! done on the app's backends directly, or through the admin listener of the `serve` that
//! holds them. `wasmhost workflow` ([`super::workflow`]) goes the same two ways.
//!
//! A sled store is open in one process at a time. So each command first opens the backends
//! itself (which works while nothing serves the app, and always for Redis); if a sled store
//! is held by another process ([`StoreLocked`]) and the admin listener of the `serve` is known
//! ([`Target::admin_url`]: `--admin URL` or `WASMHOST_ADMIN_URL`; else the address that
//! `serve` records in [`ADMIN_URL_FILE`] beside the manifest), the command goes through its
//! endpoints ([`crate::admin`]) with the admin token of `--admin-token-file` or
//! `WASMHOST_ADMIN_TOKEN`. Without one, the error names the store, the process holding it, and
//! the flag to give.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use bytes::Bytes;
use http::{Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};

use super::{LoadOptions, load};
use crate::admin::{self, AdminToken};
use crate::app::App;
use crate::capability::Open;
use crate::capability::backend::{StoreLocked, tls_client_config};
use crate::capability::queue::Queues;
use crate::metrics::Metrics;
use crate::operate::{self, MessageView, Outgoing, Redriven};
use crate::runtime_config::RuntimeConfig;
use crate::{manifest, operate::OperateError};

/// Where `serve` records the address of its admin listener, relative to the manifest's
/// directory (removed when it stops): `.wasmhost/admin-url`, one line such as
/// `http://127.0.0.1:9090`.
pub const ADMIN_URL_FILE: &str = ".wasmhost/admin-url";

/// The app a command acts on, and the admin listener to fall back on.
#[derive(Debug, Clone, Default)]
pub struct Target {
    /// The manifest, or a directory holding `wasmhost.toml`.
    pub app: PathBuf,
    /// The runtime config; none: every store and queue is sled next to the manifest.
    pub runtime_config: Option<PathBuf>,
    /// The base URL of the admin listener of the `serve` of this app, used when a sled store
    /// is held; none: the one in [`ADMIN_URL_FILE`], if `serve` recorded one.
    pub admin_url: Option<String>,
    /// The admin token to send to it; none: the request goes without one (and gets 401 or
    /// 403).
    pub admin_token: Option<AdminToken>,
}

/// Records `url` as the admin listener of the app in `app_dir` (in [`ADMIN_URL_FILE`]), for
/// the queue, cron and workflow commands to find while `serve` holds the sled stores. The
/// record is removed when the returned guard is dropped, on every way out of `serve`, if it
/// still holds `url` (a later `serve` may have replaced it).
///
/// # Errors
/// The file cannot be written.
pub fn record_admin_url(app_dir: &Path, url: &str) -> Result<AdminUrlRecord> {
    let path = app_dir.join(ADMIN_URL_FILE);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("cannot create `{}`", parent.display()))?;
    }
    std::fs::write(&path, format!("{url}\n"))
        .with_context(|| format!("cannot write `{}`", path.display()))?;
    Ok(AdminUrlRecord {
        path,
        url: url.to_owned(),
    })
}

/// What [`record_admin_url`] wrote; removed when dropped, if it is still its URL.
#[derive(Debug)]
pub struct AdminUrlRecord {
    path: PathBuf,
    url: String,
}

impl Drop for AdminUrlRecord {
    fn drop(&mut self) {
        if std::fs::read_to_string(&self.path).is_ok_and(|recorded| recorded.trim() == self.url) {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// Where an admin listener is, and the token its write endpoints need.
#[derive(Debug, Clone)]
pub(super) struct AdminListener {
    /// Its base URL, such as `http://127.0.0.1:9090` (no path).
    url: String,
    /// The bearer token; none: the request goes without one (and gets 401 or 403).
    token: Option<AdminToken>,
}

/// One queue operation.
#[derive(Debug, Clone)]
pub enum QueueRequest {
    /// Send one message to `queue`.
    Send {
        /// The queue.
        queue: String,
        /// The message.
        message: Outgoing,
    },
    /// At most `max` waiting messages of `queue`.
    Peek {
        /// The queue.
        queue: String,
        /// The most to list.
        max: usize,
    },
    /// At most `max` messages of the dead-letter queue of `queue`'s trigger.
    DeadLetters {
        /// The queue whose trigger dead-letters.
        queue: String,
        /// The most to list.
        max: usize,
    },
    /// Move at most `max` dead letters of `queue` back to it.
    Redrive {
        /// The queue whose trigger dead-letters.
        queue: String,
        /// The most to move.
        max: usize,
    },
}

/// What a queue operation gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QueueAnswer {
    /// The id of the message sent.
    Sent(String),
    /// The messages listed, oldest first.
    Messages(Vec<MessageView>),
    /// What a redrive moved.
    Redriven(Redriven),
}

/// Does `request` on the queues of `target`'s app: on the backends directly, or, when a sled
/// store is held by a `serve` whose admin listener is known, through it.
///
/// # Errors
/// A bad manifest or runtime config, an unknown queue (the error lists the app's queues), a
/// queue without a trigger (for dead letters and redrive), a malformed attribute, a backend
/// failure, a sled store held by another process with no admin listener known (the error
/// names the process and the flag), or an admin listener that refuses or cannot be reached.
pub fn queue(target: &Target, request: QueueRequest) -> Result<QueueAnswer> {
    runtime()?.block_on(async {
        let app = manifest::load(&target.app).map_err(super::Errors::from)?;
        let config = match &target.runtime_config {
            Some(path) => RuntimeConfig::load(path)?,
            None => RuntimeConfig::default(),
        };
        let queues = match Queues::open(&app, &config, &std::sync::Arc::new(Metrics::new())).await {
            Ok(queues) => queues,
            Err(err) => {
                let admin = fallback(target, app.base_dir(), err)?;
                return queue_through(&admin, &request).await;
            }
        };
        Ok(queue_here(&app, &queues, request).await?)
    })
}

/// Does `request` on `queues`, opened here.
async fn queue_here(
    app: &App,
    queues: &Queues,
    request: QueueRequest,
) -> Result<QueueAnswer, OperateError> {
    Ok(match request {
        QueueRequest::Send { queue, message } => {
            QueueAnswer::Sent(operate::send(queues, &queue, message).await?.to_string())
        }
        QueueRequest::Peek { queue, max } => {
            QueueAnswer::Messages(operate::peek(queues, &queue, max).await?)
        }
        QueueRequest::DeadLetters { queue, max } => {
            QueueAnswer::Messages(operate::dead_letters(app, queues, &queue, max).await?)
        }
        QueueRequest::Redrive { queue, max } => {
            QueueAnswer::Redriven(operate::redrive(app, queues, &queue, max).await?)
        }
    })
}

/// Does `request` through the admin listener `admin`.
async fn queue_through(admin: &AdminListener, request: &QueueRequest) -> Result<QueueAnswer> {
    let path = |queue: &str, action: &str| {
        format!(
            "{}{}/{action}",
            admin::QUEUES_PATH,
            utf8_percent_encode(queue, NON_ALPHANUMERIC)
        )
    };
    Ok(match request {
        QueueRequest::Send { queue, message } => {
            let mut query = url::form_urlencoded::Serializer::new(String::new());
            query.append_pair("delay_ms", &message.delay_ms.to_string());
            for attribute in &message.attributes {
                query.append_pair("attribute", attribute);
            }
            let path = format!("{}?{}", path(queue, "messages"), query.finish());
            let sent: serde_json::Value = serde_json::from_slice(
                &admin
                    .call(
                        Method::POST,
                        &path,
                        message.content_type.as_deref(),
                        message.body.clone(),
                    )
                    .await?,
            )?;
            QueueAnswer::Sent(sent["id"].as_str().unwrap_or_default().to_owned())
        }
        QueueRequest::Peek { queue, max } => {
            let path = format!("{}?max={max}", path(queue, "messages"));
            let body = admin.call(Method::GET, &path, None, Vec::new()).await?;
            QueueAnswer::Messages(serde_json::from_slice(&body)?)
        }
        QueueRequest::DeadLetters { queue, max } => {
            let path = format!("{}?max={max}", path(queue, "dead-letters"));
            let body = admin.call(Method::GET, &path, None, Vec::new()).await?;
            QueueAnswer::Messages(serde_json::from_slice(&body)?)
        }
        QueueRequest::Redrive { queue, max } => {
            let path = format!("{}?max={max}", path(queue, "redrive"));
            let body = admin.call(Method::POST, &path, None, Vec::new()).await?;
            QueueAnswer::Redriven(serde_json::from_slice(&body)?)
        }
    })
}

/// Runs cron trigger `trigger` of `target`'s app once, now: in this process (the app loaded
/// as `serve` loads it, with `load`'s limits and cache), or, when a sled store is held by a
/// `serve` whose admin listener is known, in that `serve`.
///
/// # Errors
/// A bad manifest, a trigger the app does not have (the error lists those it has), whatever
/// stops the app from loading, a run that fails (the guest's error or the trap), a sled store
/// held by another process with no admin listener known, or an admin listener that refuses
/// or cannot be reached.
pub fn run_cron(target: &Target, trigger: &str, load_options: LoadOptions) -> Result<()> {
    let app = manifest::load(&target.app).map_err(super::Errors::from)?;
    // An unknown trigger is told before anything slow (compiling, opening stores).
    operate::find_cron_trigger(&app, trigger)?;
    runtime()?.block_on(async {
        let options = LoadOptions {
            path: target.app.clone(),
            runtime_config: target.runtime_config.clone(),
            ..load_options
        };
        match load(options).await {
            Ok(version) => Ok(operate::run_cron(&version, trigger).await?),
            Err(err) => {
                let admin = fallback(target, app.base_dir(), err)?;
                let path = format!(
                    "{}{}/run",
                    admin::CRON_PATH,
                    utf8_percent_encode(trigger, NON_ALPHANUMERIC)
                );
                admin.call(Method::POST, &path, None, Vec::new()).await?;
                Ok(())
            }
        }
    })
}

/// The admin listener to use after `err`, if `err` is a sled store held by another process:
/// `target`'s, else the one recorded beside the manifest in `app_dir`. Otherwise `err` itself.
pub(super) fn fallback(
    target: &Target,
    app_dir: &Path,
    err: anyhow::Error,
) -> Result<AdminListener> {
    if !err.chain().any(|cause| cause.is::<StoreLocked>()) {
        return Err(err);
    }
    let recorded = || {
        std::fs::read_to_string(app_dir.join(ADMIN_URL_FILE))
            .ok()
            .map(|url| url.trim().to_owned())
    };
    let url = match (&target.admin_url, recorded()) {
        (Some(url), _) => url.clone(),
        (None, Some(url)) if is_local(&url) => url,
        (None, Some(url)) => {
            // The token goes with the request: a recorded address is trusted only on this
            // machine (the file may be stale, or come with a cloned project).
            return Err(err.context(format!(
                "`{}` records the admin listener `{url}`, which is not on this machine; pass                  `--admin {url}` if it is the app's",
                app_dir.join(ADMIN_URL_FILE).display()
            )));
        }
        (None, None) => return Err(err),
    };
    tracing::info!(%url, "a sled store is held; going through the admin listener");
    Ok(AdminListener {
        url,
        token: target.admin_token.clone(),
    })
}

/// Whether `url`'s host is this machine: a loopback or unspecified address (what `serve`
/// records for `--admin-listen 127.0.0.1:…` or `0.0.0.0:…`), or `localhost`.
fn is_local(url: &str) -> bool {
    let Ok(uri) = url.parse::<http::Uri>() else {
        return false;
    };
    let host = uri.host().unwrap_or_default();
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback() || ip.is_unspecified())
}

/// A tokio runtime for one command.
pub(super) fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the tokio runtime")
}

impl AdminListener {
    /// Sends `method path` (`path` with its query) with `body` to the listener; returns the
    /// answer's body if it is a success.
    ///
    /// # Errors
    /// As [`AdminListener::exchange`].
    pub(super) async fn call(
        &self,
        method: Method,
        path: &str,
        content_type: Option<&str>,
        body: Vec<u8>,
    ) -> Result<Bytes> {
        Ok(self.exchange(method, path, content_type, body).await?.1)
    }

    /// Sends `method path` (`path` with its query) with `body` to the listener; returns the
    /// answer's headers and body if it is a success.
    ///
    /// # Errors
    /// A URL that is not one, a listener that cannot be reached, or an answer that is not a
    /// success: the error gives the URL, the status and the listener's text (which names the
    /// queue, trigger, workflow or instance, and lists the valid ones).
    pub(super) async fn exchange(
        &self,
        method: Method,
        path: &str,
        content_type: Option<&str>,
        body: Vec<u8>,
    ) -> Result<(http::HeaderMap, Bytes)> {
        let url = format!("{}{path}", self.url.trim_end_matches('/'));
        let mut request = Request::builder().method(method.clone()).uri(&url);
        if let Some(token) = &self.token {
            request = request.header(http::header::AUTHORIZATION, token.authorization());
        }
        if let Some(content_type) = content_type {
            request = request.header(http::header::CONTENT_TYPE, content_type);
        }
        let request = request
            .body(Full::new(Bytes::from(body)))
            .with_context(|| {
                format!("--admin: `{}` is not an http:// or https:// URL", self.url)
            })?;
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls_client_config()?)
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        let client: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new()).build(connector);
        let response = client
            .request(request)
            .await
            .with_context(|| format!("cannot reach the admin listener at {}", self.url))?;
        let status = response.status();
        let (parts, body) = response.into_parts();
        let body = body
            .collect()
            .await
            .with_context(|| format!("{method} {url}: the answer broke off"))?
            .to_bytes();
        if status.is_success() {
            return Ok((parts.headers, body));
        }
        let text = String::from_utf8_lossy(&body);
        let hint = match (status, &self.token) {
            (StatusCode::UNAUTHORIZED, None) => {
                " (give the admin token: WASMHOST_ADMIN_TOKEN or --admin-token-file)"
            }
            (StatusCode::UNAUTHORIZED, Some(_)) => " (the admin token given is not that serve's)",
            _ => "",
        };
        bail!(
            "the admin listener at {} answered {status}: {}{hint}",
            self.url,
            text.trim_end()
        );
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn only_a_local_recorded_admin_listener_is_trusted() {
        for url in [
            "http://127.0.0.1:9090",
            "https://[::1]:9090",
            "http://0.0.0.0:9090",
            "http://localhost:9090",
        ] {
            assert!(super::is_local(url), "{url}");
        }
        for url in [
            "http://203.0.113.7:9090",
            "https://admin.example.com",
            "not a url",
        ] {
            assert!(!super::is_local(url), "{url}");
        }
    }
}

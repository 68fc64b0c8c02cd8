//! Outbound HTTP (`wasi:http/outgoing-handler`, WASI 0.2): denied unless
//! `allowed_outbound_hosts` grants it.
//!
//! wasmtime-wasi-http implements the interface and calls [`OutboundHttp::send_request`] for
//! each request a guest sends. In order:
//! 1. the invocation's [`Budget`] is charged, denied requests included; past `max_requests`
//!    (default 100 per incoming request, shared with the components it chains to) the request
//!    fails with `internal-error("outbound request limit ...")`, logged once per invocation;
//! 2. the request's scheme, host and port are matched against the component's allowed-host
//!    patterns ([`crate::allowed_hosts`]); no match is the WIT error `HTTP-request-denied`,
//!    before any DNS lookup or connection;
//! 3. `http://<component-id>.internal/...` (or Spin's `<component-id>.spin.internal`) goes to
//!    that component of the same app without a network hop, and a request to the app itself
//!    (a relative URL, `http://self.alt/...` or `http://self/...`, granted by an entry naming
//!    `self` or `self.alt`, as in Spin) to whatever the app's routes give its path, through the [`ChainHandler`] the HTTP trigger gives each instance when it
//!    makes its store (this capability never calls a trigger);
//! 4. an internal address (loopback, private, link-local: [`crate::allowed_hosts::is_internal_address`])
//!    is reached only where the matching entry names that address (or `localhost`) exactly, or
//!    the runtime config sets `[outbound_http] allow_private_networks = true`: an IP literal is
//!    checked here, a name when it resolves (`resolve.rs`: the connection goes to the checked
//!    addresses only, so DNS rebinding does not get through); else `destination-IP-prohibited`;
//!    anything else goes out through
//!    the component's pooled [`hyper_util`] client (one pool per component, connections kept
//!    per scheme, host and port), HTTP/1.1 or HTTP/2 (ALPN) over TLS with the webpki roots.
//!
//! Timeouts ([`OutboundLimits`], per component): connect (TCP), first byte (from sending the
//! request to the response head, DNS and TLS included) and between bytes (between two frames
//! of the response body). A guest's `request-options` may shorten the first-byte and
//! between-bytes timeouts, never lengthen them. Request and response bodies stream.
//!
//! Every request carries the invocation's W3C `traceparent` ([`crate::trace`]), replacing any
//! the guest set.
//!
//! Failures reach the guest as `wasi:http` error codes: `connection-timeout`,
//! `connection-refused`, `connection-read-timeout` (first byte or between bytes),
//! `TLS-certificate-error` / `TLS-alert-received` / `TLS-protocol-error`, and
//! `destination-unavailable` for other connect failures (DNS included).

mod resolve;
mod timeout_body;

use std::collections::BTreeMap;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use wasmtime_wasi_http::{Error, RequestOptions, WasiBody, WasiHttpHooks};

use crate::allowed_hosts::{
    AllowedHost, AllowedHostError, INTERNAL_SUFFIX, SELF_ALT_HOST, SELF_HOST, SPIN_INTERNAL_SUFFIX,
};
use crate::app::{AllowedHostEntry, App, Component, ComponentId, OutboundLimits};
use crate::invocation::{Budget, Invocation, Take};
use crate::metrics::{Metrics, OutboundMetrics, OutboundOutcome};
use crate::variables::Value;
use resolve::CheckedResolver;
use timeout_body::TimeoutBody;

/// The pooled client of one component.
type HttpClient = Client<hyper_rustls::HttpsConnector<HttpConnector<CheckedResolver>>, WasiBody>;

/// What one component may send, built at startup and shared by all its instances.
pub struct OutboundPolicy {
    component: ComponentId,
    /// Each entry, with the counters of the requests it allows.
    allowed_hosts: Vec<(AllowedHost, OutboundMetrics)>,
    /// `<id>.internal` and the index of that component, for each chaining grant, with the
    /// counters of its requests.
    chain_targets: Vec<(String, usize, OutboundMetrics)>,
    /// The counters of requests no entry allows.
    denied: OutboundMetrics,
    limits: OutboundLimits,
    /// `[outbound_http] allow_private_networks` of the runtime config.
    allow_private_networks: bool,
    client: HttpClient,
}

/// TLS settings shared by every component's client: webpki roots, ring, HTTP/1.1 and HTTP/2.
pub struct TlsSettings(rustls::ClientConfig);

impl TlsSettings {
    /// Loads the webpki root certificates.
    ///
    /// # Errors
    /// The ring provider rejects the default protocol versions (it does not in practice).
    pub fn new() -> anyhow::Result<Self> {
        Ok(Self(crate::capability::backend::tls_client_config()?))
    }
}

impl OutboundPolicy {
    /// The policy of `component` of `app`, with a client of its own (no connection is opened
    /// until the first request). Templated `allowed_outbound_hosts` entries are rendered with
    /// the app's resolved `variables` and parsed. Requests are counted in `metrics`, labelled
    /// with the entry that allows them: as written, or as rendered unless a secret went into
    /// it.
    ///
    /// # Errors
    /// A templated entry that renders to something that is not a pattern; the error names the
    /// component, the entry and where it is written, and shows the rendered text unless a
    /// secret went into it.
    pub fn new(
        app: &App,
        component: &Component,
        tls: &TlsSettings,
        allow_private_networks: bool,
        variables: &BTreeMap<String, Value>,
        metrics: &Metrics,
    ) -> anyhow::Result<Self> {
        let grant = &component.outbound_http;
        let id = component.id.as_str();
        let allowed_hosts: Vec<(AllowedHost, OutboundMetrics)> = grant
            .allowed_hosts
            .iter()
            .map(|entry| {
                let (pattern, label) = render_entry(&component.id, entry, variables)?;
                Ok((pattern, metrics.outbound(id, &label)))
            })
            .collect::<anyhow::Result<_>>()?;
        let localhost_named = allowed_hosts
            .iter()
            .any(|(allowed, _)| allowed.names_exactly("localhost"));
        let mut http = HttpConnector::new_with_resolver(CheckedResolver::new(
            allow_private_networks,
            localhost_named,
        ));
        http.enforce_http(false);
        http.set_nodelay(true);
        http.set_connect_timeout(Some(grant.limits.connect_timeout));
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls.0.clone())
            .https_or_http()
            .enable_http1()
            .enable_http2()
            .wrap_connector(http);
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(90))
            .build(connector);
        Ok(Self {
            component: component.id.clone(),
            allowed_hosts,
            chain_targets: grant
                .chain_targets
                .iter()
                .flat_map(|&target| {
                    [INTERNAL_SUFFIX, SPIN_INTERNAL_SUFFIX].map(|suffix| {
                        let name = format!("{}{suffix}", app.components[target].id);
                        let counters = metrics.outbound(id, &name);
                        (name, target, counters)
                    })
                })
                .collect(),
            denied: metrics.outbound(id, ""),
            limits: grant.limits,
            allow_private_networks,
            client,
        })
    }

    /// The cap a new invocation of this component starts with.
    pub fn budget(&self) -> Budget {
        Budget::new(self.limits.max_requests)
    }

    /// Where a request to `scheme://host:port` goes, with the counters of the grant that
    /// allows it, or `None` if it is denied.
    fn destination(
        &self,
        scheme: &str,
        host: &str,
        port: u16,
    ) -> Option<(Destination, &OutboundMetrics)> {
        if host.ends_with(INTERNAL_SUFFIX) {
            // Internal names never reach DNS: a component of this app, granted, or nothing.
            return self
                .chain_targets
                .iter()
                .find(|(name, _, _)| name == host)
                .filter(|_| scheme == "http")
                .map(|(_, target, counters)| {
                    (
                        Destination::Chain(ChainTarget::Component(*target)),
                        counters,
                    )
                });
        }
        if host.is_empty() || host == SELF_HOST || host == SELF_ALT_HOST {
            // The app itself (a relative URL, `self` or `self.alt`, over either scheme, as in
            // Spin): only an entry naming `self` or `self.alt` grants it; it never reaches DNS.
            return self
                .allowed_hosts
                .iter()
                .find(|(allowed, _)| {
                    allowed.names_exactly(SELF_HOST) || allowed.names_exactly(SELF_ALT_HOST)
                })
                .map(|(_, counters)| (Destination::Chain(ChainTarget::App), counters));
        }
        let (allowed, counters) = self
            .allowed_hosts
            .iter()
            .find(|(allowed, _)| allowed.allows(scheme, host, port))?;
        // An internal address is reached only where the entry names it, or the operator allows
        // private networks; names are checked when they resolve ([`CheckedResolver`]).
        let internal = host
            .parse::<std::net::IpAddr>()
            .is_ok_and(crate::allowed_hosts::is_internal_address);
        if internal && !self.allow_private_networks && !allowed.names_exactly(host) {
            return Some((Destination::Prohibited, counters));
        }
        Some((Destination::Network, counters))
    }
}

/// Renders every templated `allowed_outbound_hosts` entry of `component` with `variables`, as
/// [`OutboundPolicy::new`] does, without making a client: for `wasmhost check`.
///
/// # Errors
/// As [`OutboundPolicy::new`].
pub fn check_allowed_hosts(
    component: &Component,
    variables: &BTreeMap<String, Value>,
) -> anyhow::Result<()> {
    for entry in &component.outbound_http.allowed_hosts {
        render_entry(&component.id, entry, variables)?;
    }
    Ok(())
}

/// An `allowed_outbound_hosts` entry as a pattern (literal ones as they are, templated ones
/// rendered with `variables` and parsed) and its metrics label (the pattern, or the template
/// as written if a secret went into it).
fn render_entry(
    component: &ComponentId,
    entry: &AllowedHostEntry,
    variables: &BTreeMap<String, Value>,
) -> anyhow::Result<(AllowedHost, String)> {
    match entry {
        AllowedHostEntry::Pattern(pattern) => Ok((pattern.clone(), pattern.to_string())),
        AllowedHostEntry::Template {
            template,
            text,
            location,
        } => {
            let rendered = crate::variables::render(template, variables);
            let pattern: AllowedHost = rendered.text.parse().map_err(|err: AllowedHostError| {
                // A secret went into it: neither the rendered text nor any part of it (the
                // error quotes the part it could not parse) is shown.
                let (shown, why) = if rendered.secret {
                    ("<secret>".to_owned(), err.reason().to_owned())
                } else {
                    (format!("`{}`", rendered.text), err.to_string())
                };
                anyhow::anyhow!(
                    "{location}: `component.{component}.allowed_outbound_hosts`: `{text}` renders to {shown}: {why}"
                )
            })?;
            let label = if rendered.secret {
                text.clone()
            } else {
                pattern.to_string()
            };
            Ok((pattern, label))
        }
    }
}

enum Destination {
    Network,
    Chain(ChainTarget),
    /// An internal address that the matching entry names only through `*`.
    Prohibited,
}

/// Where an internal request goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChainTarget {
    /// `http://<id>.internal/...` (or `<id>.spin.internal`): that component, its index in the
    /// app's components.
    Component(usize),
    /// `http://self/...`: whatever the app's routes (private ones included) give the path.
    App,
}

/// Internal chaining: serves a request a component sent to `http://<id>.internal/...` or
/// `http://self/...`, in the same process, without a network hop. The HTTP trigger implements it (the callee runs
/// as an HTTP invocation of its own); outbound HTTP only holds it, so this capability never
/// imports a trigger or the loaded app.
pub trait ChainHandler: Send + Sync + 'static {
    /// Handles `request` for `target`, in the caller's `invocation` (its request id and
    /// outbound budget go along). The response, or `destination-unavailable` if the app
    /// version is gone.
    fn handle(
        &self,
        target: ChainTarget,
        request: http::Request<WasiBody>,
        invocation: Invocation,
    ) -> Pin<Box<dyn Future<Output = Result<http::Response<WasiBody>, Error>> + Send>>;
}

/// The outbound HTTP hooks of one instance.
pub struct OutboundHttp {
    policy: Arc<OutboundPolicy>,
    invocation: Invocation,
    chain: Arc<dyn ChainHandler>,
}

impl OutboundHttp {
    /// The hooks of an instance with `policy`, for `invocation` (whose budget it draws on);
    /// `chain` serves internal chaining.
    pub fn new(
        policy: Arc<OutboundPolicy>,
        invocation: Invocation,
        chain: Arc<dyn ChainHandler>,
    ) -> Self {
        Self {
            policy,
            invocation,
            chain,
        }
    }
}

/// What `send_request` resolves to: the response, and a future reporting body errors.
type SendResult = wasmtime_wasi_http::Result<(
    http::Response<WasiBody>,
    Box<dyn Future<Output = Result<(), Error>> + Send>,
)>;

impl WasiHttpHooks for OutboundHttp {
    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        _fut: Box<dyn Future<Output = Result<(), Error>> + Send>,
    ) -> Box<dyn Future<Output = SendResult> + Send> {
        let policy = self.policy.clone();
        let invocation = self.invocation.clone();
        let chain = self.chain.clone();
        Box::new(async move {
            let response = send(&policy, invocation, &*chain, request, options).await?;
            Ok((
                response,
                Box::new(async { Ok(()) }) as Box<dyn Future<Output = _> + Send>,
            ))
        })
    }
}

/// Checks, charges and sends one request (steps 1 to 3 of the module docs).
async fn send(
    policy: &OutboundPolicy,
    invocation: Invocation,
    chain: &dyn ChainHandler,
    mut request: http::Request<WasiBody>,
    options: Option<RequestOptions>,
) -> Result<http::Response<WasiBody>, Error> {
    let uri = request.uri();
    let scheme = uri.scheme_str().unwrap_or("https").to_ascii_lowercase();
    let host = uri
        .host()
        .ok_or(Error::HttpRequestUriInvalid)?
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_ascii_lowercase();
    let port = uri
        .port_u16()
        .unwrap_or(if scheme == "http" { 80 } else { 443 });
    // Charged before anything is logged, denied requests included, so a guest that loops over
    // a denied destination writes at most `max_requests` lines per invocation.
    let allowed = policy.destination(&scheme, &host, port);
    let take = invocation.budget.take();
    if take != Take::Taken {
        allowed
            .map_or(&policy.denied, |(_, counters)| counters)
            .count(OutboundOutcome::Limited);
        if take == Take::FirstRefusal {
            tracing::warn!(
                component = %policy.component,
                request_id = %invocation.request_id,
                max = policy.limits.max_requests,
                "outbound request limit reached; further requests of this invocation fail unlogged",
            );
        }
        return Err(Error::InternalError(Some(format!(
            "outbound request limit reached: {} per incoming request",
            policy.limits.max_requests
        ))));
    }
    let Some((destination, counters)) = allowed else {
        policy.denied.count(OutboundOutcome::Denied);
        let host = crate::guest_output::cut(&host);
        tracing::warn!(
            component = %policy.component,
            request_id = %invocation.request_id,
            "outbound request to {scheme}://{host}:{port} denied: not in allowed_outbound_hosts; to allow it, add `allowed_outbound_hosts = [\"{scheme}://{host}:{port}\"]` to [component.{}] in the manifest",
            policy.component,
        );
        return Err(Error::HttpRequestDenied);
    };
    invocation.trace.inject(request.headers_mut());
    let result = match destination {
        Destination::Prohibited => {
            tracing::warn!(
                component = %policy.component,
                request_id = %invocation.request_id,
                "outbound request to {scheme}://{host}:{port} denied: an internal address that allowed_outbound_hosts does not name",
            );
            Err(Error::DestinationIpProhibited)
        }
        Destination::Chain(target) => chain.handle(target, request, invocation).await,
        Destination::Network => {
            let limits = effective_limits(policy.limits, options);
            tokio::time::timeout(limits.first_byte_timeout, policy.client.request(request))
                .await
                .map_err(|_| Error::ConnectionReadTimeout)
                .and_then(|sent| sent.map_err(client_error))
                .map(|response| {
                    response
                        .map(|body| TimeoutBody::new(body, limits.between_bytes_timeout).boxed())
                })
        }
    };
    counters.count(match &result {
        Ok(_) => OutboundOutcome::Ok,
        Err(Error::ConnectionReadTimeout | Error::ConnectionTimeout) => OutboundOutcome::Timeout,
        Err(_) => OutboundOutcome::Error,
    });
    result
}

/// The component's limits, shortened by the guest's `request-options` where it asks.
fn effective_limits(mut limits: OutboundLimits, options: Option<RequestOptions>) -> OutboundLimits {
    if let Some(options) = options {
        if let Some(asked) = options.first_byte_timeout {
            limits.first_byte_timeout = limits.first_byte_timeout.min(asked);
        }
        if let Some(asked) = options.between_bytes_timeout {
            limits.between_bytes_timeout = limits.between_bytes_timeout.min(asked);
        }
    }
    limits
}

/// Maps a client error to the `wasi:http` error code a guest sees.
fn client_error(err: hyper_util::client::legacy::Error) -> Error {
    use std::error::Error as _;
    let mut causes = std::iter::successors(err.source(), |e| (*e).source());
    if let Some(tls) = causes.clone().find_map(rustls_error) {
        return match tls {
            rustls::Error::InvalidCertificate(_) => Error::TlsCertificateError,
            rustls::Error::AlertReceived(alert) => Error::TlsAlertReceived {
                alert_id: Some(u8::from(*alert)),
                alert_message: Some(format!("{alert:?}")),
            },
            _ => Error::TlsProtocolError,
        };
    }
    if err.is_connect() {
        let io_kind = causes.find_map(|e| e.downcast_ref::<std::io::Error>().map(|io| io.kind()));
        return match io_kind {
            Some(std::io::ErrorKind::TimedOut) => Error::ConnectionTimeout,
            Some(std::io::ErrorKind::ConnectionRefused) => Error::ConnectionRefused,
            // The resolver found only internal addresses.
            Some(std::io::ErrorKind::PermissionDenied) => Error::DestinationIpProhibited,
            _ => Error::DestinationUnavailable,
        };
    }
    match causes.find_map(|e| e.downcast_ref::<hyper::Error>()) {
        Some(hyper) if hyper.is_timeout() => Error::HttpResponseTimeout,
        Some(hyper) if hyper.is_incomplete_message() => Error::HttpResponseIncomplete,
        Some(hyper) if hyper.is_parse() => Error::HttpProtocolError,
        _ => Error::InternalError(Some(err.to_string())),
    }
}

/// The rustls error in `cause`, directly or inside `io::Error`s (hyper-rustls wraps
/// tokio-rustls's `io::Error` in another one; `io::Error::source` skips the wrapped error).
fn rustls_error<'a>(cause: &'a (dyn std::error::Error + 'static)) -> Option<&'a rustls::Error> {
    let mut current = cause;
    loop {
        if let Some(tls) = current.downcast_ref::<rustls::Error>() {
            return Some(tls);
        }
        current = current.downcast_ref::<std::io::Error>()?.get_ref()?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guests_may_shorten_timeouts_but_not_lengthen_them() {
        let limits = OutboundLimits::default();
        let options = RequestOptions {
            connect_timeout: None,
            first_byte_timeout: Some(Duration::from_millis(10)),
            between_bytes_timeout: Some(Duration::from_secs(3600)),
        };
        let effective = effective_limits(limits, Some(options));
        assert_eq!(effective.first_byte_timeout, Duration::from_millis(10));
        assert_eq!(
            effective.between_bytes_timeout,
            limits.between_bytes_timeout
        );
    }
}

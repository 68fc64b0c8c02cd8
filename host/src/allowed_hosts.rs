//! Layer 2, the model: `allowed_outbound_hosts`, the patterns a component's outbound requests
//! must match, parsed once when the manifest is checked (beside [`crate::route`]) and matched
//! by the outbound HTTP capability before any DNS lookup or connection.
//!
//! A pattern is `scheme://host[:port]`:
//! - scheme: `http`, `https` or `*`;
//! - host: a name (`api.example.com`, matched case-insensitively), `*.example.com` (any name
//!   ending in `.example.com`, not `example.com` itself), an IPv4 address, an IPv6 address in
//!   brackets, or `*` (any host);
//! - port: a number, `*` (any port), or omitted for the scheme's default (80 for `http`, 443
//!   for `https`; `*://` needs an explicit port).
//!
//! An entry may also be a template over the app's variables (`"https://{{ api_host }}"`,
//! [`crate::app::AllowedHostEntry::Template`]): rendered at startup, then parsed as above.
//!
//! `http://<component-id>.internal` (or `http://*.internal`) grants internal chaining to a
//! component of the same app (served by the HTTP trigger without a network hop); Spin's
//! `http://<component-id>.spin.internal` and `http://*.spin.internal` are the same. `http://self`
//! (or `http://self.alt`) grants requests to the app's own routes ([`SELF_HOST`]). Such names
//! never reach DNS.

use std::fmt;

/// The top-level domain of internal chaining: `http://<component-id>.internal/...`.
pub const INTERNAL_SUFFIX: &str = ".internal";

/// Spin's name for the same (service chaining): `http://<component-id>.spin.internal/...`.
pub const SPIN_INTERNAL_SUFFIX: &str = ".spin.internal";

/// The host name of the app itself, as Spin has it: with an entry naming it
/// (`http://self`), a request with a relative URL (no host), or to `http://self/<path>`, is
/// routed by the app's own routes, private ones included, without a network hop. `*` does
/// not grant it.
pub const SELF_HOST: &str = "self";

/// Spin's other name of the app itself: an entry `http://self.alt` grants requests to
/// `http://self.alt/<path>` (and relative URLs), as [`SELF_HOST`].
pub const SELF_ALT_HOST: &str = "self.alt";

/// One parsed `allowed_outbound_hosts` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowedHost {
    scheme: SchemePattern,
    host: HostPattern,
    port: PortPattern,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum SchemePattern {
    Http,
    Https,
    Any,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum HostPattern {
    /// A lowercase name or IP literal (IPv6 without brackets).
    Exact(String),
    /// `*.suffix`: the lowercase suffix with its leading dot.
    Subdomains(String),
    Any,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum PortPattern {
    Exact(u16),
    Any,
}

/// Why an `allowed_outbound_hosts` entry does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AllowedHostError {
    /// No `://`, or a scheme other than `http`, `https`, `*`.
    #[error("expected `http://`, `https://` or `*://` followed by a host")]
    Scheme,
    /// A path, query or fragment after the host.
    #[error("only scheme, host and port are allowed; remove the path `{0}`")]
    Path(String),
    /// An empty host, or a `*` that is not the whole host or its first label.
    #[error("`{0}` is not a host: give a name, `*.domain`, an IP address or `*`")]
    Host(String),
    /// A port that is not a number 1..=65535 or `*`.
    #[error("`{0}` is not a port: give a number from 1 to 65535, or `*`")]
    Port(String),
    /// `*://host` without a port.
    #[error("`*://` has no default port: add `:PORT` or `:*`")]
    NoDefaultPort,
}

impl AllowedHostError {
    /// Why the entry does not parse, without quoting any of it: for an entry rendered from a
    /// secret, where the text itself must not be shown.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Scheme => "expected `http://`, `https://` or `*://` followed by a host",
            Self::Path(_) => "only scheme, host and port are allowed, and it has a path",
            Self::Host(_) => "its host is not a name, `*.domain`, an IP address or `*`",
            Self::Port(_) => "its port is not a number from 1 to 65535, or `*`",
            Self::NoDefaultPort => "`*://` has no default port: add `:PORT` or `:*`",
        }
    }
}

impl std::str::FromStr for AllowedHost {
    type Err = AllowedHostError;

    fn from_str(text: &str) -> Result<Self, AllowedHostError> {
        let (scheme, rest) = text.split_once("://").ok_or(AllowedHostError::Scheme)?;
        let scheme = match scheme.to_ascii_lowercase().as_str() {
            "http" => SchemePattern::Http,
            "https" => SchemePattern::Https,
            "*" => SchemePattern::Any,
            _ => return Err(AllowedHostError::Scheme),
        };
        let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let (authority, path) = rest.split_at(authority_end);
        if !path.is_empty() && path != "/" {
            return Err(AllowedHostError::Path(path.to_owned()));
        }
        let (host, port) = split_port(authority);
        let host = parse_host(host)?;
        let port = match port {
            Some("*") => PortPattern::Any,
            Some(port) => match port.parse::<u16>() {
                Ok(port) if port > 0 => PortPattern::Exact(port),
                _ => return Err(AllowedHostError::Port(port.to_owned())),
            },
            None => match scheme {
                SchemePattern::Http => PortPattern::Exact(80),
                SchemePattern::Https => PortPattern::Exact(443),
                SchemePattern::Any => return Err(AllowedHostError::NoDefaultPort),
            },
        };
        Ok(Self { scheme, host, port })
    }
}

/// Splits `host[:port]`, where host may be a bracketed IPv6 address.
fn split_port(authority: &str) -> (&str, Option<&str>) {
    if let Some(rest) = authority.strip_prefix('[')
        && let Some((host, after)) = rest.split_once(']')
    {
        return (host, after.strip_prefix(':'));
    }
    match authority.rsplit_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (authority, None),
    }
}

fn parse_host(host: &str) -> Result<HostPattern, AllowedHostError> {
    let bad = || AllowedHostError::Host(host.to_owned());
    let lower = host.to_ascii_lowercase();
    if lower == "*" {
        return Ok(HostPattern::Any);
    }
    let (pattern, name) = match lower.strip_prefix("*.") {
        Some(suffix) => (HostPattern::Subdomains(format!(".{suffix}")), suffix),
        None => (HostPattern::Exact(lower.clone()), lower.as_str()),
    };
    let valid = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | ':' | '_'));
    if valid { Ok(pattern) } else { Err(bad()) }
}

/// Whether `ip` is an address of this machine or its private networks, which an allowed
/// name or `*` must not lead to (server-side request forgery, cloud metadata endpoints):
/// unspecified, loopback, private (RFC 1918; IPv6 unique local, RFC 4193), link-local
/// (169.254.0.0/16, where cloud metadata lives; fe80::/10), shared (100.64.0.0/10, RFC 6598),
/// broadcast, multicast, and IPv4-mapped IPv6 forms of those.
pub fn is_internal_address(ip: std::net::IpAddr) -> bool {
    match ip {
        std::net::IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            v4.is_unspecified()
                || v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_broadcast()
                || v4.is_multicast()
                || a == 0
                || (a == 100 && (64..128).contains(&b))
        }
        std::net::IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => is_internal_address(v4.into()),
            None => {
                v6.is_unspecified()
                    || v6.is_loopback()
                    || v6.is_unique_local()
                    || v6.is_unicast_link_local()
                    || v6.is_multicast()
            }
        },
    }
}

impl AllowedHost {
    /// Whether this entry names `host` (lowercase, IPv6 without brackets) exactly: not with
    /// `*` or `*.domain`.
    pub fn names_exactly(&self, host: &str) -> bool {
        matches!(&self.host, HostPattern::Exact(name) if name == host)
    }

    /// Whether a request to `scheme://host:port` matches. `host` is lowercase, IPv6 without
    /// brackets; `port` is explicit or the scheme's default.
    pub fn allows(&self, scheme: &str, host: &str, port: u16) -> bool {
        let scheme_ok = match self.scheme {
            SchemePattern::Http => scheme == "http",
            SchemePattern::Https => scheme == "https",
            SchemePattern::Any => true,
        };
        let host_ok = match &self.host {
            HostPattern::Exact(name) => name == host,
            HostPattern::Subdomains(suffix) => host.len() > suffix.len() && host.ends_with(suffix),
            HostPattern::Any => true,
        };
        let port_ok = match self.port {
            PortPattern::Exact(allowed) => allowed == port,
            PortPattern::Any => true,
        };
        scheme_ok && host_ok && port_ok
    }

    /// The component id this entry grants internal chaining to: `Some(Some(id))` for
    /// `http://<id>.internal`, `Some(None)` for `http://*.internal` or a `*` host (every
    /// component), `None` if it grants no chaining.
    pub fn internal_target(&self) -> Option<Option<&str>> {
        if self.scheme == SchemePattern::Https {
            return None;
        }
        match &self.host {
            HostPattern::Exact(name) => name
                .strip_suffix(SPIN_INTERNAL_SUFFIX)
                .or_else(|| name.strip_suffix(INTERNAL_SUFFIX))
                .map(Some),
            HostPattern::Subdomains(suffix)
                if suffix == INTERNAL_SUFFIX || suffix == SPIN_INTERNAL_SUFFIX =>
            {
                Some(None)
            }
            HostPattern::Any => Some(None),
            HostPattern::Subdomains(_) => None,
        }
    }
}

impl fmt::Display for AllowedHost {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = match self.scheme {
            SchemePattern::Http => "http",
            SchemePattern::Https => "https",
            SchemePattern::Any => "*",
        };
        let host = match &self.host {
            HostPattern::Exact(name) if name.contains(':') => format!("[{name}]"),
            HostPattern::Exact(name) => name.clone(),
            HostPattern::Subdomains(suffix) => format!("*{suffix}"),
            HostPattern::Any => "*".to_owned(),
        };
        match self.port {
            PortPattern::Exact(port) => write!(f, "{scheme}://{host}:{port}"),
            PortPattern::Any => write!(f, "{scheme}://{host}:*"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Loopback, private, link-local (cloud metadata), shared and unspecified addresses are
    /// internal, in IPv4, IPv6 and IPv4-mapped IPv6; public ones are not.
    #[test]
    fn internal_addresses() {
        for internal in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "::1",
            "::",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
        ] {
            assert!(is_internal_address(internal.parse().unwrap()), "{internal}");
        }
        for public in [
            "1.1.1.1",
            "93.184.216.34",
            "2606:4700::1111",
            "::ffff:8.8.8.8",
        ] {
            assert!(!is_internal_address(public.parse().unwrap()), "{public}");
        }
    }

    fn allows(pattern: &str, scheme: &str, host: &str, port: u16) -> bool {
        pattern
            .parse::<AllowedHost>()
            .unwrap()
            .allows(scheme, host, port)
    }

    #[test]
    fn exact_hosts_with_default_and_explicit_ports() {
        assert!(allows(
            "https://api.example.com",
            "https",
            "api.example.com",
            443
        ));
        assert!(allows(
            "https://API.example.com",
            "https",
            "api.example.com",
            443
        ));
        assert!(!allows(
            "https://api.example.com",
            "http",
            "api.example.com",
            443
        ));
        assert!(!allows(
            "https://api.example.com",
            "https",
            "api.example.com",
            8443
        ));
        assert!(!allows("https://api.example.com", "https", "evil.com", 443));
        assert!(allows("http://127.0.0.1:8080", "http", "127.0.0.1", 8080));
        assert!(!allows("http://127.0.0.1:8080", "http", "127.0.0.1", 8081));
        assert!(allows("http://[::1]:80", "http", "::1", 80));
    }

    #[test]
    fn wildcards() {
        assert!(allows("http://127.0.0.1:*", "http", "127.0.0.1", 1234));
        assert!(allows(
            "https://*.example.com",
            "https",
            "a.b.example.com",
            443
        ));
        assert!(!allows(
            "https://*.example.com",
            "https",
            "example.com",
            443
        ));
        assert!(!allows(
            "https://*.example.com",
            "https",
            "badexample.com",
            443
        ));
        assert!(allows("*://*:*", "https", "anything", 1));
        assert!(allows(
            "*://api.example.com:443",
            "http",
            "api.example.com",
            443
        ));
    }

    #[test]
    fn bad_patterns_say_why() {
        let err = |text: &str| text.parse::<AllowedHost>().unwrap_err();
        assert_eq!(err("api.example.com"), AllowedHostError::Scheme);
        assert_eq!(err("ftp://x"), AllowedHostError::Scheme);
        assert_eq!(err("https://x/v1"), AllowedHostError::Path("/v1".into()));
        assert_eq!(err("https://"), AllowedHostError::Host(String::new()));
        assert_eq!(
            err("https://a.*.com"),
            AllowedHostError::Host("a.*.com".into())
        );
        assert_eq!(err("http://x:0"), AllowedHostError::Port("0".into()));
        assert_eq!(err("http://x:http"), AllowedHostError::Port("http".into()));
        assert_eq!(err("*://x"), AllowedHostError::NoDefaultPort);
        assert!("https://x/".parse::<AllowedHost>().is_ok());
    }

    #[test]
    fn internal_chaining_grants() {
        let target = |text: &str| {
            let host = text.parse::<AllowedHost>().unwrap();
            host.internal_target().map(|t| t.map(str::to_owned))
        };
        assert_eq!(
            target("http://backend.internal"),
            Some(Some("backend".into()))
        );
        assert_eq!(target("http://*.internal"), Some(None));
        assert_eq!(target("https://backend.internal"), None);
        assert_eq!(target("https://api.example.com"), None);
    }

    #[test]
    fn display_is_canonical() {
        let shown = |text: &str| text.parse::<AllowedHost>().unwrap().to_string();
        assert_eq!(
            shown("https://API.example.com"),
            "https://api.example.com:443"
        );
        assert_eq!(shown("http://[::1]:*"), "http://[::1]:*");
    }
}

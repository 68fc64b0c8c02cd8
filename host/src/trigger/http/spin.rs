//! Spin's routing headers, for the requests of a Spin app (`spin.toml`): the HTTP trigger
//! sets them beside wasmhost's own, with the values Spin gives them (Spin's
//! `trigger-http/src/headers.rs`), so that spin-sdk's router and Spin guests that read them
//! work unchanged. What does not change per request was made at startup
//! ([`crate::app_version::SpinRoute`]); per request, only the full URL, the path info and the
//! parameters are made.

use http::{HeaderMap, HeaderValue, Uri};

use super::InvalidPath;
use crate::app_version::SpinRoute;
use crate::route::headers;

/// The request a route matched, as Spin's headers describe it.
pub(super) struct Matched<'a, P> {
    /// The request's URI.
    pub uri: &'a Uri,
    /// Whether it came over TLS (the scheme of `spin-full-url`).
    pub tls: bool,
    /// The wildcard tail; `None` for a route without one.
    pub path_info: Option<&'a str>,
    /// The parameter values, in path order.
    pub params: P,
    /// The client's address; `None` for an internal request, which has none.
    pub client: Option<&'a HeaderValue>,
}

/// Sets Spin's headers on a request matched to a route with `spin` values.
pub(super) fn set_headers<'a, P: Iterator<Item = &'a str>>(
    headers: &mut HeaderMap,
    spin: &SpinRoute,
    matched: Matched<'a, P>,
) -> Result<(), InvalidPath> {
    let scheme = if matched.tls { "https" } else { "http" };
    let host = headers
        .get(http::header::HOST)
        .and_then(|host| host.to_str().ok())
        .or_else(|| matched.uri.authority().map(http::uri::Authority::as_str))
        .unwrap_or("localhost");
    let path = matched
        .uri
        .path_and_query()
        .map_or("/", http::uri::PathAndQuery::as_str);
    let full_url =
        HeaderValue::try_from(format!("{scheme}://{host}{path}")).map_err(|_| InvalidPath)?;
    let path_info =
        HeaderValue::from_str(matched.path_info.unwrap_or_default()).map_err(|_| InvalidPath)?;
    headers.insert(headers::SPIN_FULL_URL, full_url);
    headers.insert(headers::SPIN_PATH_INFO, path_info);
    headers.insert(headers::SPIN_MATCHED_ROUTE, spin.route.clone());
    headers.insert(headers::SPIN_RAW_COMPONENT_ROUTE, spin.route.clone());
    headers.insert(headers::SPIN_COMPONENT_ROUTE, spin.component_route.clone());
    headers.insert(headers::SPIN_BASE_PATH, HeaderValue::from_static("/"));
    if let Some(client) = matched.client {
        headers.insert(headers::SPIN_CLIENT_ADDR, client.clone());
    }
    for (name, value) in spin.param_headers.iter().zip(matched.params) {
        headers.insert(
            name.clone(),
            HeaderValue::from_str(value).map_err(|_| InvalidPath)?,
        );
    }
    Ok(())
}

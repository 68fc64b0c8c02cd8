//! CORS for the HTTP trigger, answered by the host from a route's [`CorsPolicy`] (the Fetch
//! standard's CORS protocol, <https://fetch.spec.whatwg.org/#http-cors-protocol>): the
//! preflight `OPTIONS` gets its 204 here, before authorization and without a guest; the actual
//! response gets `access-control-allow-origin` (the request's origin echoed, with
//! `vary: origin`, or `*` for any origin without credentials) when the origin is allowed, and
//! nothing when it is not.

use http::header::{
    ACCESS_CONTROL_ALLOW_CREDENTIALS, ACCESS_CONTROL_ALLOW_HEADERS, ACCESS_CONTROL_ALLOW_METHODS,
    ACCESS_CONTROL_ALLOW_ORIGIN, ACCESS_CONTROL_EXPOSE_HEADERS, ACCESS_CONTROL_MAX_AGE,
    ACCESS_CONTROL_REQUEST_HEADERS, ACCESS_CONTROL_REQUEST_METHOD, ORIGIN, VARY,
};
use http::{HeaderMap, HeaderValue, Method, Response, StatusCode};
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;

use super::text;
use crate::app::CorsPolicy;

/// Whether a request with `method` and `headers` is a CORS preflight: `OPTIONS` with an
/// `origin` and an `access-control-request-method`.
pub(super) fn is_preflight(method: &Method, headers: &HeaderMap) -> bool {
    method == Method::OPTIONS
        && headers.contains_key(ORIGIN)
        && headers.contains_key(ACCESS_CONTROL_REQUEST_METHOD)
}

/// The 204 answer to a preflight with `headers`: the allowed methods, headers and max age for
/// an allowed origin; no CORS header for another.
pub(super) fn preflight(policy: &CorsPolicy, headers: &HeaderMap) -> Response<HyperOutgoingBody> {
    let mut response = text(StatusCode::NO_CONTENT, "");
    response.headers_mut().remove(http::header::CONTENT_TYPE);
    let Some(origin) = headers.get(ORIGIN) else {
        return response;
    };
    let out = response.headers_mut();
    if !allow_origin(policy, origin, out) {
        return response;
    }
    out.insert(ACCESS_CONTROL_ALLOW_METHODS, policy.methods.clone());
    let asked = headers.get(ACCESS_CONTROL_REQUEST_HEADERS);
    match (&policy.headers, asked) {
        (Some(allowed), _) => {
            out.insert(ACCESS_CONTROL_ALLOW_HEADERS, allowed.clone());
        }
        (None, Some(asked)) if policy.any_header => {
            out.insert(ACCESS_CONTROL_ALLOW_HEADERS, asked.clone());
        }
        _ => {}
    }
    if let Some(max_age) = &policy.max_age {
        out.insert(ACCESS_CONTROL_MAX_AGE, max_age.clone());
    }
    response
}

/// Adds the CORS headers of an actual response to `out`, for a request from `origin`.
pub(super) fn decorate(policy: &CorsPolicy, origin: &HeaderValue, out: &mut HeaderMap) {
    if allow_origin(policy, origin, out)
        && let Some(exposed) = &policy.exposed_headers
    {
        out.insert(ACCESS_CONTROL_EXPOSE_HEADERS, exposed.clone());
    }
}

/// Sets `access-control-allow-origin` (and `-credentials`, and `vary: origin` where the origin
/// is echoed) if `origin` is allowed; returns whether it is.
fn allow_origin(policy: &CorsPolicy, origin: &HeaderValue, out: &mut HeaderMap) -> bool {
    let echoed = match &policy.origins {
        None if !policy.credentials => {
            out.insert(ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*"));
            return true;
        }
        None => true,
        Some(origins) => {
            let origin = origin.to_str().unwrap_or_default();
            origins
                .iter()
                .any(|allowed| allowed.eq_ignore_ascii_case(origin))
        }
    };
    out.append(VARY, HeaderValue::from_static("origin"));
    if !echoed {
        return false;
    }
    out.insert(ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone());
    if policy.credentials {
        out.insert(
            ACCESS_CONTROL_ALLOW_CREDENTIALS,
            HeaderValue::from_static("true"),
        );
    }
    true
}

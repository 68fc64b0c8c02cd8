//! Authorization for the HTTP trigger: a route whose `auth` is `function` or `admin` needs a
//! key ([`crate::keys`]) in `x-functions-key` (Azure Functions' header) or `?code=`, checked
//! before any guest runs. A missing or wrong key gets one uniform 401, and an address that
//! fails too often gets 429. Both places are stripped from every request before a guest sees
//! it (and before its span or any log line is made); the guest gets the key's id and name in
//! `wasmhost-key-id` and `wasmhost-key-name`, never the key.

use http::{HeaderName, HeaderValue, Response, StatusCode, Uri};
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;

use super::text;
use crate::app::AuthLevel;
use crate::keys::{Caller, KeyRing, Refusal};

/// The header a key may come in.
pub const KEY_HEADER: HeaderName = HeaderName::from_static("x-functions-key");
/// The query parameter a key may come in.
pub const KEY_PARAM: &str = "code";
/// The header that tells the guest which key called.
pub const KEY_ID_HEADER: HeaderName = HeaderName::from_static("wasmhost-key-id");
/// The header that tells the guest the name of the key that called.
pub const KEY_NAME_HEADER: HeaderName = HeaderName::from_static("wasmhost-key-name");

/// Takes the key out of `parts` (header and query, whichever it came in; both are removed
/// either way); the key, if there was one.
pub(super) fn take_key(parts: &mut http::request::Parts) -> Option<Vec<u8>> {
    let header = parts.headers.remove(KEY_HEADER);
    let query = strip_query_key(&mut parts.uri);
    header.map(|value| value.as_bytes().to_vec()).or(query)
}

/// Checks `key` for a route of `level` whose target is `component`, from `client` (the
/// peer's `ip:port`): the caller (none for an anonymous route), or why it is refused (counted).
pub(super) fn authorize(
    keys: Option<&KeyRing>,
    key: Option<&[u8]>,
    level: AuthLevel,
    component: &str,
    client: &HeaderValue,
) -> Result<Option<Caller>, Refusal> {
    if level == AuthLevel::Anonymous {
        return Ok(None);
    }
    let caller = keys
        .zip(key)
        .and_then(|(keys, key)| keys.verify(key, level, component));
    if let Some(caller) = caller {
        return Ok(Some(caller));
    }
    let ip = client
        .to_str()
        .ok()
        .and_then(|addr| addr.parse::<std::net::SocketAddr>().ok())
        .map(|addr| addr.ip());
    Err(keys.map_or(Refusal::Unauthorized, |keys| keys.refuse(ip)))
}

/// The answer to a refused key: one uniform 401 (whatever was wrong), or 429 with
/// `retry-after: 60`.
pub(super) fn refused(refusal: Refusal) -> Response<HyperOutgoingBody> {
    match refusal {
        Refusal::Unauthorized => {
            let mut response = text(StatusCode::UNAUTHORIZED, "unauthorized\n");
            response.headers_mut().insert(
                http::header::WWW_AUTHENTICATE,
                HeaderValue::from_static("key"),
            );
            response
        }
        Refusal::TooMany => {
            let mut response = text(StatusCode::TOO_MANY_REQUESTS, "too many failed keys\n");
            response
                .headers_mut()
                .insert(http::header::RETRY_AFTER, HeaderValue::from_static("60"));
            response
        }
    }
}

/// Removes every `code=` parameter from `uri`'s query, the others kept as they were sent;
/// the first one's value, percent-decoded.
fn strip_query_key(uri: &mut Uri) -> Option<Vec<u8>> {
    let query = uri.query()?;
    let mut key = None;
    let mut kept = Vec::new();
    for pair in query.split('&') {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        if percent_encoding::percent_decode_str(name).decode_utf8_lossy() == KEY_PARAM {
            key.get_or_insert_with(|| percent_encoding::percent_decode_str(value).collect());
        } else {
            kept.push(pair);
        }
    }
    key.as_ref()?;
    let path_and_query = if kept.is_empty() {
        uri.path().to_owned()
    } else {
        format!("{}?{}", uri.path(), kept.join("&"))
    };
    let mut parts = std::mem::take(uri).into_parts();
    parts.path_and_query = path_and_query.parse().ok();
    if let Ok(stripped) = Uri::from_parts(parts) {
        *uri = stripped;
    }
    key
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `code=` goes, wherever it is in the query; the other parameters stay as sent.
    #[test]
    fn the_query_key_is_stripped_and_the_rest_kept() {
        for (sent, kept, key) in [
            ("/a?code=k1&x=1%202", "/a?x=1%202", Some("k1")),
            ("/a?x=1&code=k%5F2", "/a?x=1", Some("k_2")),
            ("/a?code=k", "/a", Some("k")),
            ("/a?x=code", "/a?x=code", None),
        ] {
            let mut uri: Uri = sent.parse().unwrap();
            let got = strip_query_key(&mut uri);
            assert_eq!(uri.to_string(), kept, "{sent}");
            assert_eq!(got.as_deref(), key.map(str::as_bytes), "{sent}");
        }
    }
}

//! HTTP routes that run no guest: `redirect` and `static_response` answers made at startup,
//! and `static_files` served from a directory.

use http::{HeaderValue, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;

use super::InvalidPath;
use super::text;
use crate::app::{FixedResponse, StaticFiles};

/// The response of a `redirect` or `static_response` route, sent whole.
pub(super) fn fixed_response(fixed: &FixedResponse) -> Response<HyperOutgoingBody> {
    let mut response = Response::new(
        Full::new(fixed.body.clone())
            .map_err(|never| match never {})
            .boxed_unsync(),
    );
    *response.status_mut() = fixed.status;
    *response.headers_mut() = fixed.headers.clone();
    response
}

/// The file at `tail` under `files.dir` (hyper-staticfile: content type from the extension,
/// ETag and Last-Modified with `If-None-Match` / `If-Modified-Since` → 304, `Range` → 206, an
/// `index.html` for a directory; `..` cannot leave the directory). A missing file is 404.
pub(super) async fn static_file(
    files: &StaticFiles,
    tail: String,
    parts: http::request::Parts,
) -> Response<HyperOutgoingBody> {
    // `..` (percent-encoded or not) is refused even where it would stay inside the directory,
    // as documented: a path names one file, one way.
    if tail
        .split('/')
        .any(|segment| percent_encoding::percent_decode_str(segment).decode_utf8_lossy() == "..")
    {
        return text(StatusCode::NOT_FOUND, "no such file\n");
    }
    let if_none_match = parts.headers.get(http::header::IF_NONE_MATCH).cloned();
    let mut request = Request::new(());
    *request.method_mut() = parts.method;
    *request.headers_mut() = parts.headers;
    *request.uri_mut() = match (if tail.is_empty() { "/" } else { &tail }).parse() {
        Ok(uri) => uri,
        Err(_) => return InvalidPath::response(),
    };
    match files.server.clone().serve(request).await {
        Ok(response) => {
            // hyper-staticfile sends an ETag but answers only `If-Modified-Since`; RFC 9110
            // 13.1.2: `If-None-Match` matching the ETag (weak comparison) is a 304.
            let etag = response.headers().get(http::header::ETAG);
            if response.status().is_success()
                && let (Some(etag), Some(wanted)) = (etag, &if_none_match)
                && etag_matches(etag, wanted)
            {
                let mut not_modified = text(StatusCode::NOT_MODIFIED, "");
                not_modified
                    .headers_mut()
                    .remove(http::header::CONTENT_TYPE);
                not_modified
                    .headers_mut()
                    .insert(http::header::ETAG, etag.clone());
                return not_modified;
            }
            response.map(|body| {
                body.map_err(|err| wasmtime_wasi_http::Error::InternalError(Some(err.to_string())))
                    .boxed_unsync()
            })
        }
        Err(err) => {
            tracing::warn!(dir = %files.dir.display(), "static file failed: {err}");
            text(StatusCode::INTERNAL_SERVER_ERROR, "cannot read the file\n")
        }
    }
}

/// Whether `If-None-Match: wanted` (`*` or a list of entity tags) matches `etag`, by weak
/// comparison (RFC 9110 8.8.3.2: the `W/` prefixes are ignored).
fn etag_matches(etag: &HeaderValue, wanted: &HeaderValue) -> bool {
    let (Ok(etag), Ok(wanted)) = (etag.to_str(), wanted.to_str()) else {
        return false;
    };
    let opaque = |tag: &str| tag.trim().trim_start_matches("W/").to_owned();
    wanted.trim() == "*" || wanted.split(',').any(|tag| opaque(tag) == opaque(etag))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn if_none_match_compares_weakly_and_takes_lists_and_star() {
        let etag = HeaderValue::from_static("W/\"14-6a\"");
        let matches = |wanted: &'static str| etag_matches(&etag, &HeaderValue::from_static(wanted));
        assert!(matches("W/\"14-6a\""));
        assert!(matches("\"14-6a\""));
        assert!(matches("\"other\", W/\"14-6a\""));
        assert!(matches("*"));
        assert!(!matches("\"14-6b\""));
    }
}

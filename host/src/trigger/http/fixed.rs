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
/// `index.html` for a directory, and a directory named without its trailing `/` redirected
/// (301) to the request's own path with it). A missing file is 404, and so is a path with a
/// `..` segment, or one a symbolic link leads out of the directory (unless `follow_symlinks`).
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
    if !files.follow_symlinks && leaves_root(files, &tail).await {
        return text(StatusCode::NOT_FOUND, "no such file\n");
    }
    let uri = parts.uri.clone();
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
            let mut response = response;
            // A directory named without its `/` is redirected to the request's own path with
            // it (the file server knows only the tail, not the route's prefix).
            if response.status() == StatusCode::MOVED_PERMANENTLY
                && let Ok(location) = HeaderValue::from_str(&with_slash(&uri))
            {
                response
                    .headers_mut()
                    .insert(http::header::LOCATION, location);
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

/// `uri`'s path with a `/` added, and its query.
fn with_slash(uri: &http::Uri) -> String {
    match uri.query() {
        Some(query) => format!("{}/?{query}", uri.path()),
        None => format!("{}/", uri.path()),
    }
}

/// Whether the file `tail` names (percent-decoded), or a directory's `index.html`, is a
/// symbolic link, or under one, that leads out of `files.root`. A path that does not resolve
/// is left to the file server (a 404).
async fn leaves_root(files: &StaticFiles, tail: &str) -> bool {
    let relative: std::path::PathBuf = tail
        .split('/')
        .map(|segment| percent_encoding::percent_decode_str(segment).decode_utf8_lossy())
        .filter(|segment| !segment.is_empty() && segment != ".")
        .map(|segment| segment.into_owned())
        .collect();
    let Ok(real) = tokio::fs::canonicalize(files.dir.join(relative)).await else {
        return false;
    };
    if !real.starts_with(&files.root) {
        return true;
    }
    let index = real.join("index.html");
    match tokio::fs::canonicalize(&index).await {
        Ok(real_index) => !real_index.starts_with(&files.root),
        Err(_) => false,
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

//! The request a handler receives, converted from `wasi:http/types.incoming-request`.

use crate::body::IncomingBody;
use crate::wit::wasi::http::types::{IncomingRequest, Method as WitMethod, Scheme};

/// An incoming HTTP request: the `http` crate's type with a streaming [`IncomingBody`].
///
/// The URI is absolute (`scheme://authority/path?query`), as the client addressed it.
pub type Request = http::Request<IncomingBody>;

/// Header names wasmhost sets on every routed request. Clients cannot forge them: the host
/// removes any incoming `wasmhost-*` header before it adds its own.
mod headers {
    pub const ROUTE: &str = "wasmhost-route";
    pub const PATH_INFO: &str = "wasmhost-path-info";
    pub const PARAM_PREFIX: &str = "wasmhost-param-";
}

/// Routing information wasmhost attaches to a request.
pub trait RequestExt {
    /// The value of route parameter `name` (`:name` in the manifest's route), percent-encoded
    /// as it appeared in the path. `None` if the matched route has no such parameter.
    fn param(&self, name: &str) -> Option<&str>;
    /// The manifest route that matched, for example `/users/:id`.
    fn route(&self) -> Option<&str>;
    /// For a wildcard route (`/static/...`), the part of the path the wildcard matched, with its
    /// leading `/` (empty when the request path is the route's prefix itself). Empty for other
    /// routes.
    fn path_info(&self) -> Option<&str>;
}

impl<B> RequestExt for http::Request<B> {
    fn param(&self, name: &str) -> Option<&str> {
        header_str(self, &format!("{}{name}", headers::PARAM_PREFIX))
    }

    fn route(&self) -> Option<&str> {
        header_str(self, headers::ROUTE)
    }

    fn path_info(&self) -> Option<&str> {
        header_str(self, headers::PATH_INFO)
    }
}

fn header_str<'a, B>(req: &'a http::Request<B>, name: &str) -> Option<&'a str> {
    req.headers().get(name).and_then(|v| v.to_str().ok())
}

/// Converts the WASI request into a [`Request`].
///
/// # Errors
/// A method, URI or header the `http` crate rejects; the host only forwards valid HTTP, so this
/// means a broken invariant and is answered with 500.
pub(crate) fn from_wasi(request: IncomingRequest) -> Result<Request, http::Error> {
    let method = match request.method() {
        WitMethod::Get => http::Method::GET,
        WitMethod::Head => http::Method::HEAD,
        WitMethod::Post => http::Method::POST,
        WitMethod::Put => http::Method::PUT,
        WitMethod::Delete => http::Method::DELETE,
        WitMethod::Connect => http::Method::CONNECT,
        WitMethod::Options => http::Method::OPTIONS,
        WitMethod::Trace => http::Method::TRACE,
        WitMethod::Patch => http::Method::PATCH,
        WitMethod::Other(other) => http::Method::from_bytes(other.as_bytes())?,
    };
    let scheme = match request.scheme() {
        Some(Scheme::Https) => "https".to_owned(),
        Some(Scheme::Other(other)) => other,
        Some(Scheme::Http) | None => "http".to_owned(),
    };
    let authority = request
        .authority()
        .unwrap_or_else(|| "localhost".to_owned());
    let path = request.path_with_query().unwrap_or_else(|| "/".to_owned());
    let mut builder = http::Request::builder()
        .method(method)
        .uri(format!("{scheme}://{authority}{path}"));
    for (name, value) in request.headers().entries() {
        builder = builder.header(name, value);
    }
    let body = IncomingBody::new(request.consume().ok());
    builder.body(body)
}

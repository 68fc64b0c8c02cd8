//! The request a handler receives, converted from `wasi:http/types.incoming-request`, and the
//! helpers that read it: routing information and the query ([`RequestExt`]), and the body as
//! bytes, text or JSON ([`RequestBodyExt`]).

use std::borrow::Cow;

use crate::body::IncomingBody;
use crate::error::HttpError;
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

/// Routing information wasmhost attaches to a request, and its query.
pub trait RequestExt {
    /// The value of route parameter `name` (`:name` in the manifest's route), percent-encoded
    /// as it appeared in the path (the raw form). `None` if the matched route has no such
    /// parameter. [`RequestExt::decoded_param`] decodes it; a [`crate::router::Router`] in the
    /// component gives decoded and typed parameters ([`crate::router::Params`]).
    fn param(&self, name: &str) -> Option<&str>;
    /// Route parameter `name`, percent-decoded (`caf%C3%A9` → `café`; an invalid UTF-8
    /// sequence becomes U+FFFD).
    fn decoded_param(&self, name: &str) -> Option<Cow<'_, str>> {
        self.param(name)
            .map(|raw| percent_encoding::percent_decode_str(raw).decode_utf8_lossy())
    }
    /// The first value of query parameter `name`, decoded as a form
    /// (`application/x-www-form-urlencoded`: `+` is a space, `%XX` a byte). `None` if the
    /// query has no such parameter.
    fn query_param(&self, name: &str) -> Option<String> {
        let query = self.raw_query()?;
        form_urlencoded::parse(query.as_bytes())
            .find(|(n, _)| n == name)
            .map(|(_, value)| value.into_owned())
    }
    /// The query parsed into `T` (a struct with serde's `Deserialize`, or a
    /// `HashMap<String, String>`), by serde_urlencoded.
    ///
    /// # Errors
    /// A 400 with serde's reason (a missing field, a number that does not parse).
    #[cfg(feature = "json")]
    fn query<T: serde::de::DeserializeOwned>(&self) -> Result<T, HttpError> {
        serde_urlencoded::from_str(self.raw_query().unwrap_or_default())
            .map_err(|err| HttpError::bad_request(format!("invalid query: {err}")))
    }
    /// The query as it came, without the `?`, percent-encoded. `None` if the URI has none.
    fn raw_query(&self) -> Option<&str>;
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

    fn raw_query(&self) -> Option<&str> {
        self.uri().query()
    }
}

/// Reads a request's body whole: as bytes, UTF-8 text or JSON. Each takes the request, and
/// answers a failure with the [`HttpError`] a handler can return with `?`.
pub trait RequestBodyExt {
    /// The body's bytes.
    ///
    /// # Errors
    /// A 400 if the client's connection failed mid-body.
    fn bytes(self) -> Result<Vec<u8>, HttpError>;

    /// The body as UTF-8 text.
    ///
    /// # Errors
    /// As [`RequestBodyExt::bytes`]; a 400 if it is not UTF-8.
    fn text(self) -> Result<String, HttpError>
    where
        Self: Sized,
    {
        String::from_utf8(self.bytes()?)
            .map_err(|err| HttpError::bad_request(format!("the body is not UTF-8 text: {err}")))
    }

    /// The body parsed as JSON into `T`, by serde_json. The content type is not checked.
    ///
    /// # Errors
    /// As [`RequestBodyExt::bytes`]; a 400 with serde_json's reason and its line and column
    /// (`invalid JSON body: missing field `url` at line 1 column 2`).
    #[cfg(feature = "json")]
    fn json<T: serde::de::DeserializeOwned>(self) -> Result<T, HttpError>
    where
        Self: Sized,
    {
        serde_json::from_slice(&self.bytes()?)
            .map_err(|err| HttpError::bad_request(format!("invalid JSON body: {err}")))
    }
}

impl RequestBodyExt for Request {
    fn bytes(self) -> Result<Vec<u8>, HttpError> {
        self.into_body()
            .into_bytes()
            .map_err(|err| HttpError::bad_request(format!("cannot read the body: {err}")))
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

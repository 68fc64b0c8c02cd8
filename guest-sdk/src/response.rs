//! What a handler may return: anything that is [`IntoResponse`]; [`Json`] for JSON bodies.

use http::{HeaderValue, StatusCode, header};

use crate::body::{Body, IntoBody};
use crate::error::HttpError;

/// An HTTP response with a streaming [`Body`].
pub type Response = http::Response<Body>;

/// Converts a handler's return value into a [`Response`], as axum's trait of the same name.
///
/// Implemented for `http::Response<B>` (any [`IntoBody`] `B`), bodies alone (status 200),
/// a [`StatusCode`] alone (empty body), `(StatusCode, R)` for any `IntoResponse` `R`, [`Json`], [`HttpError`], and
/// `Result<T, E>` where `E` converts into an [`HttpError`]: an `HttpError` the handler made
/// gives its status and message; any other error (anything that implements `Display`) gives
/// a 500 whose text is logged (the guest's stderr) and not sent to the client.
///
/// A text body (`String`, `&str`) gets `content-type: text/plain; charset=utf-8` unless the
/// handler set a content type.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be returned from an #[http_component] handler",
    note = "return a String, &'static str, Vec<u8>, StatusCode, (StatusCode, body), http::Response<body>, Json(value), or a Result of one of these with an error that converts into HttpError"
)]
pub trait IntoResponse {
    /// The response.
    fn into_response(self) -> Response;
}

/// `response` with `B`'s default content type ([`IntoBody::content_type`]) unless it has one.
fn with_default_type<B: IntoBody>(mut response: http::Response<B>) -> Response {
    if let Some(content_type) = B::content_type() {
        response
            .headers_mut()
            .entry(header::CONTENT_TYPE)
            .or_insert(HeaderValue::from_static(content_type));
    }
    response.map(IntoBody::into_body)
}

impl<B: IntoBody> IntoResponse for http::Response<B> {
    fn into_response(self) -> Response {
        with_default_type(self)
    }
}

impl IntoResponse for StatusCode {
    fn into_response(self) -> Response {
        let mut response = http::Response::new(Body::Empty);
        *response.status_mut() = self;
        response
    }
}

impl<R: IntoResponse> IntoResponse for (StatusCode, R) {
    fn into_response(self) -> Response {
        let mut response = self.1.into_response();
        *response.status_mut() = self.0;
        response
    }
}

impl<T: IntoResponse, E: Into<HttpError>> IntoResponse for Result<T, E> {
    fn into_response(self) -> Response {
        match self {
            Ok(ok) => ok.into_response(),
            Err(err) => err.into().into_response(),
        }
    }
}

/// A JSON response: `value` serialized with serde_json, with
/// `content-type: application/json`. A value that cannot be serialized (a map with non-string
/// keys) is a 500, logged.
///
/// ```no_run
/// use wasmhost_sdk::{Json, Request, http_component};
///
/// #[derive(serde::Serialize)]
/// struct Link {
///     code: String,
///     clicks: u64,
/// }
///
/// #[http_component]
/// fn handle(_req: Request) -> Json<Link> {
///     Json(Link { code: "1".into(), clicks: 3 })
/// }
/// # fn main() {}
/// ```
#[cfg(feature = "json")]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Json<T>(pub T);

#[cfg(feature = "json")]
impl<T: serde::Serialize> IntoResponse for Json<T> {
    fn into_response(self) -> Response {
        match serde_json::to_vec(&self.0) {
            Ok(bytes) => {
                let mut response = http::Response::new(Body::Bytes(bytes));
                response.headers_mut().insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/json"),
                );
                response
            }
            Err(err) => HttpError::internal(format!("cannot serialize the JSON response: {err}"))
                .into_response(),
        }
    }
}

macro_rules! body_is_response {
    ($($ty:ty),*) => {$(
        impl IntoResponse for $ty {
            fn into_response(self) -> Response {
                with_default_type(http::Response::new(self))
            }
        }
    )*};
}

body_is_response!(
    Body,
    (),
    String,
    &'static str,
    Vec<u8>,
    &'static [u8],
    crate::IncomingBody,
    crate::blob::Object,
    crate::blob::ObjectReader
);

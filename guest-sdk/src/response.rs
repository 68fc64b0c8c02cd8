//! What a handler may return: anything that is [`IntoResponse`].

use std::fmt::Display;

use http::StatusCode;

use crate::body::{Body, IntoBody};

/// An HTTP response with a streaming [`Body`].
pub type Response = http::Response<Body>;

/// Converts a handler's return value into a [`Response`], as axum's trait of the same name.
///
/// Implemented for `http::Response<B>` (any [`IntoBody`] `B`), bodies alone (status 200),
/// a [`StatusCode`] alone (empty body), `(StatusCode, body)`, and `Result<T, E>` where an `Err`
/// becomes a plain 500 (`Internal Server Error`, no detail for the client) and its `Display`
/// text goes to stderr (`handler failed: ...`), which the host logs with the request id. To
/// show a client what failed, answer a `(StatusCode, body)` of your own.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be returned from an #[http_component] handler",
    note = "return a String, &'static str, Vec<u8>, StatusCode, (StatusCode, body), http::Response<body>, or a Result of one of these"
)]
pub trait IntoResponse {
    /// The response.
    fn into_response(self) -> Response;
}

impl<B: IntoBody> IntoResponse for http::Response<B> {
    fn into_response(self) -> Response {
        self.map(IntoBody::into_body)
    }
}

impl IntoResponse for StatusCode {
    fn into_response(self) -> Response {
        let mut response = http::Response::new(Body::Empty);
        *response.status_mut() = self;
        response
    }
}

impl<B: IntoBody> IntoResponse for (StatusCode, B) {
    fn into_response(self) -> Response {
        let mut response = http::Response::new(self.1.into_body());
        *response.status_mut() = self.0;
        response
    }
}

impl<T: IntoResponse, E: Display> IntoResponse for Result<T, E> {
    fn into_response(self) -> Response {
        match self {
            Ok(ok) => ok.into_response(),
            Err(err) => {
                eprintln!("handler failed: {err}");
                (StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error\n").into_response()
            }
        }
    }
}

macro_rules! body_is_response {
    ($($ty:ty),*) => {$(
        impl IntoResponse for $ty {
            fn into_response(self) -> Response {
                http::Response::new(self.into_body())
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
    crate::IncomingBody
);

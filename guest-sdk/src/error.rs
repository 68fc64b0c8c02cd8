//! One error type for handlers: [`HttpError`], an HTTP status with a message for the client.
//! Every error converts into it, so `?` works across key-value, queues, topics, outbound HTTP,
//! variables, blobs and body parsing in one handler. It sits at the end of a guest's part of
//! the request flow: a handler's `Err` becomes the response the host sends back.
//!
//! ```no_run
//! use wasmhost_sdk::key_value::Store;
//! use wasmhost_sdk::{HttpError, Request, RequestExt, http_component};
//!
//! #[http_component]
//! fn handle(req: Request) -> Result<String, HttpError> {
//!     let store = Store::open_default()?; // a key-value error: 500, logged
//!     let code = req.param("code").unwrap_or_default();
//!     let url = store
//!         .get(&format!("link:{code}"))?
//!         .ok_or_else(|| HttpError::new(404, "no such link"))?; // 404, sent
//!     Ok(String::from_utf8_lossy(&url).into_owned())
//! }
//! # fn main() {}
//! ```

use std::fmt::Display;

use http::StatusCode;

use crate::response::{IntoResponse, Response};

/// The body a client gets for an unexpected error: `internal server error`.
const INTERNAL: &str = "internal server error";

/// An error a handler returns: a status, and a message that is either for the client or, for
/// an unexpected error, for the log only.
///
/// - [`HttpError::new`] (and [`HttpError::with_status`]) is an answer the handler chose: the
///   client gets the status and the message as a `text/plain` body.
/// - Any other error (anything that implements [`Display`]: every capability's error,
///   [`std::io::Error`], `serde_json::Error`, a `String`) converts into a 500 through `?`. Its
///   text goes to the guest's stderr (the host's log, with the request id); the client gets
///   `internal server error` and nothing of the detail.
///
/// `HttpError` does not implement `Display` itself, so that the conversion from every
/// `Display` type can exist; read it with [`HttpError::status`] and [`HttpError::message`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpError {
    status: StatusCode,
    message: String,
    /// Whether the message may be sent to the client.
    public: bool,
}

impl HttpError {
    /// An answer with `status` (100 to 999; any other number is a 500) and `message` for the
    /// client, such as `HttpError::new(404, "no such link")`.
    pub fn new(status: u16, message: impl Into<String>) -> Self {
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        Self::with_status(status, message)
    }

    /// An answer with `status` and `message` for the client.
    pub fn with_status(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
            public: true,
        }
    }

    /// An unexpected failure: a 500 whose `detail` is logged and not sent.
    pub fn internal(detail: impl Display) -> Self {
        Self {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            message: detail.to_string(),
            public: false,
        }
    }

    /// 400 Bad Request with `message`.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::with_status(StatusCode::BAD_REQUEST, message)
    }

    /// 404 Not Found with `message`.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::with_status(StatusCode::NOT_FOUND, message)
    }

    /// The status the client gets.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The message: the client's body for an answer, the logged detail for an unexpected
    /// error.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// Whether the client sees [`HttpError::message`] (`false` for a converted error).
    pub fn is_public(&self) -> bool {
        self.public
    }
}

/// Any error that displays converts into an unexpected 500 ([`HttpError::internal`]).
impl<E: Display> From<E> for HttpError {
    fn from(err: E) -> Self {
        Self::internal(err)
    }
}

impl IntoResponse for HttpError {
    /// The status with the message as a `text/plain` body (a trailing newline added); for an
    /// unexpected error, the detail goes to stderr and the body is `internal server error`.
    fn into_response(self) -> Response {
        let body = if self.public {
            self.message
        } else {
            eprintln!("handler failed: {}", self.message);
            INTERNAL.to_owned()
        };
        (self.status, format!("{body}\n")).into_response()
    }
}

/// A cron or queue handler may return `Result<(), HttpError>` too, so `?` works there as in an
/// HTTP handler: an `Err` is a failed run (or batch) with the error's message.
impl crate::cron::IntoRunResult for Result<(), HttpError> {
    fn into_run_result(self) -> Result<(), String> {
        self.map_err(|err| err.message)
    }
}

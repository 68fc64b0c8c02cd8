//! Outbound HTTP (`wasi:http/outgoing-handler`, WASI 0.2): denied by default.
//!
//! wasmtime-wasi-http implements the interface and calls [`OutboundHttp`] to send each
//! request. No manifest field grants outbound HTTP yet, so every request a guest makes fails
//! with the WIT error code `HTTP-request-denied` before any DNS lookup or connection.

use wasmtime_wasi_http::{Error, RequestOptions, WasiBody, WasiHttpHooks};

/// The outbound HTTP policy of one instance: at present, deny everything.
#[derive(Debug, Default)]
pub struct OutboundHttp;

/// What `send_request` resolves to: the response, and a future reporting body errors.
type SendResult = wasmtime_wasi_http::Result<(
    http::Response<WasiBody>,
    Box<dyn Future<Output = Result<(), Error>> + Send>,
)>;

impl WasiHttpHooks for OutboundHttp {
    fn send_request(
        &mut self,
        _request: http::Request<WasiBody>,
        _options: Option<RequestOptions>,
        _fut: Box<dyn Future<Output = Result<(), Error>> + Send>,
    ) -> Box<dyn Future<Output = SendResult> + Send> {
        Box::new(async { Err(Error::HttpRequestDenied) })
    }
}

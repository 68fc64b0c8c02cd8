//! The glue between the exported `wasi:http/incoming-handler.handle` and a user handler.

use std::io::Read;

use crate::body::Body;
use crate::request::from_wasi;
use crate::response::{IntoResponse, Response};
use crate::wit::wasi::http::types::{
    Fields, HeaderError, IncomingRequest, OutgoingBody, OutgoingResponse, ResponseOutparam,
};
use crate::wit::wasi::io::streams::{OutputStream, StreamError};

/// The most bytes one write to the response stream carries: 64 KiB.
pub(crate) const WRITE_BYTES: usize = 64 * 1024;

/// Serves one request: converts it, calls `handler`, sends the response head, then streams the
/// body. Called by the code `#[http_component]` generates.
pub fn serve<R, F>(request: IncomingRequest, response_out: ResponseOutparam, handler: F)
where
    R: IntoResponse,
    F: FnOnce(crate::Request) -> R,
{
    let response = match from_wasi(request) {
        Ok(request) => handler(request).into_response(),
        Err(err) => {
            eprintln!("wasmhost-sdk: cannot convert the request: {err}");
            (
                http::StatusCode::INTERNAL_SERVER_ERROR,
                "bad request from host\n",
            )
                .into_response()
        }
    };
    send(response, response_out);
}

fn send(response: Response, response_out: ResponseOutparam) {
    let (parts, body) = response.into_parts();
    let headers = fields(&parts.headers).unwrap_or_else(|err| {
        eprintln!("wasmhost-sdk: the response has a header the host rejects: {err:?}");
        Fields::new()
    });
    let outgoing = OutgoingResponse::new(headers);
    // Setting a valid status code cannot fail: `http::StatusCode` is always 100..=999.
    let _ = outgoing.set_status_code(parts.status.as_u16());
    let Ok(outgoing_body) = outgoing.body() else {
        unreachable!("a new outgoing-response's body is taken only once")
    };
    ResponseOutparam::set(response_out, Ok(outgoing));
    write_and_finish(outgoing_body, body);
}

/// The WASI `fields` of `headers`.
///
/// # Errors
/// A header the host forbids or finds invalid.
pub(crate) fn fields(headers: &http::HeaderMap) -> Result<Fields, HeaderError> {
    let entries: Vec<(String, Vec<u8>)> = headers
        .iter()
        .map(|(name, value)| (name.as_str().to_owned(), value.as_bytes().to_vec()))
        .collect();
    Fields::from_list(&entries)
}

/// Writes `body` to `outgoing_body` (a response's or an outbound request's) and finishes it.
/// A peer that went away ends the write quietly; other failures are logged to stderr.
pub(crate) fn write_and_finish(outgoing_body: OutgoingBody, body: Body) {
    let written = match outgoing_body.write() {
        Ok(stream) => {
            let result = write_body(&stream, body);
            drop(stream);
            result
        }
        Err(()) => Err(StreamError::Closed),
    };
    match written {
        Ok(()) => {
            if let Err(err) = OutgoingBody::finish(outgoing_body, None) {
                eprintln!("wasmhost-sdk: finishing the body failed: {err:?}");
            }
        }
        // The peer went away: there is nobody left to tell.
        Err(StreamError::Closed) => {}
        Err(StreamError::LastOperationFailed(err)) => {
            eprintln!(
                "wasmhost-sdk: writing the body failed: {}",
                err.to_debug_string()
            );
        }
    }
}

fn write_body(stream: &OutputStream, body: Body) -> Result<(), StreamError> {
    match body {
        Body::Empty => Ok(()),
        Body::Bytes(bytes) => write_all(stream, &bytes),
        Body::Incoming(incoming) => {
            let Some((input, _body)) = incoming.into_stream() else {
                return Ok(());
            };
            loop {
                match stream.blocking_splice(&input, WRITE_BYTES as u64) {
                    Ok(_) => {}
                    Err(StreamError::Closed) => break,
                    Err(err) => return Err(err),
                }
            }
            drop(input);
            stream.blocking_flush()
        }
        Body::Reader(mut reader) => {
            let mut buf = vec![0; WRITE_BYTES];
            loop {
                match reader.read(&mut buf) {
                    Ok(0) => return stream.blocking_flush(),
                    Ok(n) => write_all(stream, &buf[..n])?,
                    Err(err) => {
                        eprintln!("wasmhost-sdk: the response body reader failed: {err}");
                        return Err(StreamError::Closed);
                    }
                }
            }
        }
    }
}

/// Writes all of `bytes`, waiting for the host to accept more as needed, then flushes.
pub(crate) fn write_all(stream: &OutputStream, mut bytes: &[u8]) -> Result<(), StreamError> {
    while !bytes.is_empty() {
        let permitted = stream.check_write()?;
        if permitted == 0 {
            stream.subscribe().block();
            continue;
        }
        let n = usize::try_from(permitted)
            .unwrap_or(usize::MAX)
            .min(bytes.len())
            .min(WRITE_BYTES);
        stream.write(&bytes[..n])?;
        bytes = &bytes[n..];
    }
    stream.blocking_flush()
}

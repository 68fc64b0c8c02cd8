//! `blob-probe`: drives every `wasi:blobstore` call from inside a guest over HTTP, through
//! `wasmhost_sdk::blob`, for the blob storage tests. Mount it on a wildcard route (`/...`): it
//! routes on the path the wildcard matched (the whole path if the route is not a wildcard).
//! Containers and object names are percent-decoded path segments; an object name is the rest
//! of the path, `/`s included.
//!
//! Objects:
//! - `PUT /c/:container/o/*name`: streams the request body into the object, spliced chunk by
//!   chunk, never whole (`write-data` first, then the bytes, then `finish`); 200 with the size
//!   in bytes. `?via=read` copies it through the guest in 64 KiB reads instead;
//!   `?via=bytes` reads the whole body first, then writes it in one `put`;
//!   `?order=data-last` writes the bytes first, then calls `write-data`, then `finish`;
//! - `GET /c/:container/o/*name`: streams the object back, 200 with `content-length`; with
//!   `Range: bytes=a-b` (or `a-`, `-n`) reads only that part (`get-data` with inclusive
//!   offsets) and answers 206 with `content-range: bytes a-b/size`, or 416 with
//!   `content-range: bytes */size` past the end; `?sync=1` reads the whole object with one
//!   `incoming-value-consume-sync` instead (refused by the host above 16 MiB);
//! - `HEAD /c/:container/o/*name`: 200 if it exists, else 404 (`has-object`), no body;
//! - `DELETE /c/:container/o/*name`: 204 (also for a missing object);
//! - `GET /c/:container/info/*name`: `{"name","container","size","createdAt"}`;
//! - `GET /c/:container/exists/*name`: `true` or `false`.
//!
//! Containers:
//! - `GET /c/:container`: `{"name","createdAt"}` (`container.info`);
//! - `GET /c/:container/list?page=N&skip=K`: skips K names first (`skip-stream-object-names`,
//!   none by default), then every remaining name, sorted, one per line, reading N names per
//!   `read-stream-object-names` call (default 1000); the last line is the number of read calls;
//! - `POST /c/:container/clear`: 204;
//! - `POST /c/:container/delete-many`: deletes the names in the body, one per line; 204;
//! - `POST /containers/:name`: 201 (`create-container`); `DELETE /containers/:name`: 204;
//!   `GET /containers/:name/exists`: `true` or `false`.
//!
//! Across containers: `POST /copy?from=c/k&to=c/k` and `POST /move?from=c/k&to=c/k`: 204.
//!
//! Every line of a text body ends in `\n`. A blob store error answers with its text and a
//! newline: 403 (not granted), 404 (not found), 409 (already exists), 400 (invalid), or 500
//! (anything else, a broken stream or an object over the size limit included). An unknown path
//! or method is 404 / 405 with an empty body.

use percent_encoding::percent_decode_str;
use wasmhost_sdk::blob::{self, Container, Error, ObjectId};
use wasmhost_sdk::http::{Method, StatusCode, header};
use wasmhost_sdk::wit::wasi::blobstore::{blobstore, types};
use wasmhost_sdk::wit::wasi::io::streams::{OutputStream, StreamError};
use wasmhost_sdk::{IntoResponse, Request, RequestExt, Response, http_component};

#[http_component]
fn handle(req: Request) -> Response {
    route(req).unwrap_or_else(IntoResponse::into_response)
}

fn route(req: Request) -> Result<Response, Error> {
    let path = match req.path_info() {
        Some(info) if !info.is_empty() => info.to_owned(),
        _ => req.uri().path().to_owned(),
    };
    let query = req.uri().query().unwrap_or_default().to_owned();
    let segments: Vec<&str> = path.trim_start_matches('/').splitn(4, '/').collect();
    let method = req.method().clone();
    Ok(match (method, segments.as_slice()) {
        (m, ["c", c, "o", name]) => object(m, &decode(c), &decode(name), &query, req)?,
        (Method::GET, ["c", c, "info", name]) => {
            let info = Container::open(&decode(c))?.info(&decode(name))?;
            json(&serde_json::json!({
                "name": info.name,
                "container": info.container,
                "size": info.size,
                "createdAt": info.created_at,
            }))
        }
        (Method::GET, ["c", c, "exists", name]) => {
            boolean(Container::open(&decode(c))?.exists(&decode(name))?)
        }
        (Method::GET, ["c", c]) => {
            let info = Container::open(&decode(c))?.container_info()?;
            json(&serde_json::json!({"name": info.name, "createdAt": info.created_at}))
        }
        (Method::GET, ["c", c, "list"]) => list(&decode(c), &query)?,
        (Method::POST, ["c", c, "clear"]) => {
            Container::open(&decode(c))?.clear()?;
            StatusCode::NO_CONTENT.into_response()
        }
        (Method::POST, ["c", c, "delete-many"]) => {
            let container = Container::open(&decode(c))?;
            let body = read_body(req)?;
            let names: Vec<String> = String::from_utf8_lossy(&body)
                .lines()
                .filter(|l| !l.is_empty())
                .map(str::to_owned)
                .collect();
            container.delete_many(&names)?;
            StatusCode::NO_CONTENT.into_response()
        }
        (Method::POST, ["copy" | "move"]) => {
            let id = |name: &str| {
                query_param(&query, name)
                    .and_then(|v| ObjectId::parse(&v))
                    .ok_or_else(|| Error::Invalid(format!("`{name}` must be `container/key`")))
            };
            let (from, to) = (id("from")?, id("to")?);
            if segments[0] == "copy" {
                blob::copy(from, to)?;
            } else {
                blob::rename(from, to)?;
            }
            StatusCode::NO_CONTENT.into_response()
        }
        (Method::POST, ["containers", name]) => {
            blob::create_container(&decode(name))?;
            StatusCode::CREATED.into_response()
        }
        (Method::DELETE, ["containers", name]) => {
            blob::delete_container(&decode(name))?;
            StatusCode::NO_CONTENT.into_response()
        }
        (Method::GET, ["containers", name, "exists"]) => {
            boolean(blob::container_exists(&decode(name))?)
        }
        (_, ["c", ..] | ["copy" | "move"] | ["containers", ..]) => {
            StatusCode::METHOD_NOT_ALLOWED.into_response()
        }
        _ => StatusCode::NOT_FOUND.into_response(),
    })
}

/// `PUT`, `GET`, `HEAD` and `DELETE` of one object.
fn object(
    method: Method,
    container: &str,
    name: &str,
    query: &str,
    req: Request,
) -> Result<Response, Error> {
    let container = Container::open(container)?;
    match method {
        Method::PUT => {
            let size = match (
                query_param(query, "via").as_deref(),
                query_param(query, "order").as_deref(),
            ) {
                (_, Some("data-last")) => put_data_last(container.name(), name, req)?,
                (Some("read"), _) => container.put_stream(name, req.into_body())?,
                (Some("bytes"), _) => {
                    let body = read_body(req)?;
                    container.put(name, &body)?;
                    body.len() as u64
                }
                _ => container.put_body(name, req.into_body())?,
            };
            Ok(format!("{size}\n").into_response())
        }
        Method::GET if query_param(query, "sync").as_deref() == Some("1") => {
            let raw = blobstore::get_container(container.name()).map_err(Error::from_host)?;
            let value = raw.get_data(name, 0, u64::MAX).map_err(Error::from_host)?;
            let bytes = types::IncomingValue::incoming_value_consume_sync(value)
                .map_err(Error::from_host)?;
            Ok(bytes.into_response())
        }
        Method::GET => container.http_response(name, req.headers()),
        Method::HEAD => Ok(if container.exists(name)? {
            StatusCode::OK
        } else {
            StatusCode::NOT_FOUND
        }
        .into_response()),
        Method::DELETE => {
            container.delete(name)?;
            Ok(StatusCode::NO_CONTENT.into_response())
        }
        _ => Ok(StatusCode::METHOD_NOT_ALLOWED.into_response()),
    }
}

/// The other write order, on the raw bindings: the bytes first (chunk by chunk), then
/// `write-data`, then `finish`. Returns the size in bytes.
fn put_data_last(container: &str, name: &str, req: Request) -> Result<u64, Error> {
    let raw = blobstore::get_container(container).map_err(Error::from_host)?;
    let value = types::OutgoingValue::new_outgoing_value();
    let stream = value
        .outgoing_value_write_body()
        .map_err(|()| Error::Other("the value's stream was taken".into()))?;
    let mut body = req.into_body();
    let mut total = 0u64;
    while let Some(chunk) = body.chunk() {
        let chunk = chunk.map_err(|e| Error::Stream(e.to_string()))?;
        write_all(&stream, &chunk)?;
        total += chunk.len() as u64;
    }
    drop(stream);
    raw.write_data(name, &value).map_err(Error::from_host)?;
    types::OutgoingValue::finish(value).map_err(Error::from_host)?;
    Ok(total)
}

fn write_all(stream: &OutputStream, mut bytes: &[u8]) -> Result<(), Error> {
    let failed = |err: StreamError| match err {
        StreamError::Closed => Error::Stream("the blob stream was closed".into()),
        StreamError::LastOperationFailed(e) => Error::Stream(e.to_debug_string()),
    };
    while !bytes.is_empty() {
        let permitted = stream.check_write().map_err(failed)?;
        if permitted == 0 {
            stream.subscribe().block();
            continue;
        }
        let n = bytes
            .len()
            .min(usize::try_from(permitted).unwrap_or(usize::MAX));
        stream.write(&bytes[..n]).map_err(failed)?;
        bytes = &bytes[n..];
    }
    stream.blocking_flush().map_err(failed)
}

/// Every name of `container` (after skipping `skip`), sorted, one per line, then the number of
/// `read-stream-object-names` calls.
fn list(container: &str, query: &str) -> Result<Response, Error> {
    let number = |name| query_param(query, name).and_then(|v| v.parse::<u64>().ok());
    let mut names = Container::open(container)?
        .list()?
        .page_size(number("page").unwrap_or(1000));
    if let Some(skip) = number("skip") {
        names.skip_names(skip)?;
    }
    let mut all = Vec::new();
    for name in names.by_ref() {
        all.push(name?);
    }
    all.sort();
    let mut body = String::new();
    for name in &all {
        body.push_str(name);
        body.push('\n');
    }
    body.push_str(&format!("{}\n", names.read_calls()));
    Ok(body.into_response())
}

fn read_body(req: Request) -> Result<Vec<u8>, Error> {
    req.into_body()
        .into_bytes()
        .map_err(|e| Error::Stream(e.to_string()))
}

fn boolean(value: bool) -> Response {
    format!("{value}\n").into_response()
}

fn json(value: &serde_json::Value) -> Response {
    wasmhost_sdk::http::Response::builder()
        .header(header::CONTENT_TYPE, "application/json")
        .body(format!("{value}\n"))
        .map_or_else(
            |_| StatusCode::INTERNAL_SERVER_ERROR.into_response(),
            IntoResponse::into_response,
        )
}

fn decode(segment: &str) -> String {
    percent_decode_str(segment).decode_utf8_lossy().into_owned()
}

/// The percent-decoded value of `name` in `query` (`a=1&b=2`).
fn query_param(query: &str, name: &str) -> Option<String> {
    query
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| decode(value))
}

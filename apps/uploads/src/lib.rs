//! `uploads`: files in blob container `files`, each digested by a blob trigger.
//!
//! One component file, used by two components of `wasmhost.toml`:
//! - `upload` (HTTP):
//!   - `PUT /files/:name` streams the request body into object `<name>` of container `files`
//!     (chunk by chunk, never whole) and answers 201 with its size in bytes;
//!   - `GET /files/:name` streams the object back; a `Range: bytes=a-b` header gets 206 with
//!     only those bytes (416 past the end);
//!   - `GET /files/:name/info` answers
//!     `{"name", "size", "createdAt", "digest": {"sha256", "size", "etag"} | null}`: the
//!     object's size, and what the `digest` trigger stored (`null` until it has run);
//!   - `DELETE /files/:name` deletes the object and its digest; 204.
//!
//!   `:name` is one percent-decoded path segment. A missing file is 404.
//! - `digest` (blob trigger on `files`, `created` events): streams each new object through
//!   SHA-256 and stores `{"sha256": "<hex>", "size": <bytes>, "etag": "<the event's etag>"}` as
//!   JSON in key-value store `default` under `digest:<name>`.
//!
//! Delivery is at least once: a digest may be computed twice, with the same result.

use percent_encoding::percent_decode_str;
use sha2::{Digest, Sha256};
use wasmhost_sdk::blob::{BlobEvent, BlobEventKind, Container, Error};
use wasmhost_sdk::http::{Method, StatusCode, header};
use wasmhost_sdk::key_value::Store;
use wasmhost_sdk::queue::Delivery;
use wasmhost_sdk::{IntoResponse, Request, RequestExt, Response, http_component, queue_component};

/// The container every file lives in.
const FILES: &str = "files";

#[http_component]
fn handle(req: Request) -> Response {
    let name = percent_decode_str(req.param("name").unwrap_or_default())
        .decode_utf8_lossy()
        .into_owned();
    let info = req.route() == Some("/files/:name/info");
    let result = match (req.method().clone(), info) {
        (Method::PUT, false) => put(&name, req),
        (Method::GET, false) => {
            Container::open(FILES).and_then(|c| c.http_response(&name, req.headers()))
        }
        (Method::DELETE, false) => delete(&name),
        (Method::GET, true) => describe(&name),
        _ => Ok((StatusCode::METHOD_NOT_ALLOWED, "method not allowed\n").into_response()),
    };
    // A blob error answers 403, 404, 400 or 500 with its text.
    result.unwrap_or_else(IntoResponse::into_response)
}

fn put(name: &str, req: Request) -> Result<Response, Error> {
    let size = Container::open(FILES)?.put_body(name, req.into_body())?;
    Ok((StatusCode::CREATED, format!("{size}\n")).into_response())
}

fn delete(name: &str) -> Result<Response, Error> {
    Container::open(FILES)?.delete(name)?;
    Store::open_default()
        .and_then(|store| store.delete(&digest_key(name)))
        .map_err(|e| Error::Other(e.to_string()))?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

fn describe(name: &str) -> Result<Response, Error> {
    let info = Container::open(FILES)?.info(name)?;
    let digest: Option<serde_json::Value> = Store::open_default()
        .and_then(|store| store.get_json(&digest_key(name)))
        .map_err(|e| Error::Other(e.to_string()))?;
    let body = serde_json::json!({
        "name": info.name,
        "size": info.size,
        "createdAt": info.created_at,
        "digest": digest,
    });
    wasmhost_sdk::http::Response::builder()
        .header(header::CONTENT_TYPE, "application/json")
        .body(format!("{body}\n"))
        .map(IntoResponse::into_response)
        .map_err(|e| Error::Other(e.to_string()))
}

fn digest_key(name: &str) -> String {
    format!("digest:{name}")
}

#[queue_component]
fn digest(batch: Vec<Delivery>) -> Result<(), String> {
    let store = Store::open_default().map_err(|e| e.to_string())?;
    for delivery in &batch {
        let event = BlobEvent::from_delivery(delivery).map_err(|e| e.to_string())?;
        let key = digest_key(&event.key);
        if event.kind == BlobEventKind::Deleted {
            store.delete(&key).map_err(|e| e.to_string())?;
            continue;
        }
        let (sha256, size) = match sha256(&event.container, &event.key) {
            Ok(digest) => digest,
            // Deleted since: nothing to digest.
            Err(Error::NotFound(_)) => continue,
            Err(err) => return Err(format!("cannot digest `{}`: {err}", event.key)),
        };
        let record = serde_json::json!({"sha256": sha256, "size": size, "etag": event.etag});
        store.set_json(&key, &record).map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// The SHA-256 (lowercase hex) and size in bytes of object `name`, read as a stream.
fn sha256(container: &str, name: &str) -> Result<(String, u64), Error> {
    let mut reader = Container::open(container)?.get(name)?.reader()?;
    let mut hasher = Sha256::new();
    let mut size = 0u64;
    while let Some(chunk) = reader.chunk() {
        let chunk = chunk.map_err(|e| Error::Stream(e.to_string()))?;
        hasher.update(&chunk);
        size += chunk.len() as u64;
    }
    let hex = format!("{:x}", hasher.finalize());
    Ok((hex, size))
}

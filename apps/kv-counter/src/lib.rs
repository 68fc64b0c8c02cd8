//! `kv-counter`: atomic counters and a small key-value API over the `default` store.
//!
//! - `GET /count/:name` increments counter `count:<name>` atomically and answers the new value;
//! - `GET /kv/:key` answers the value (404 if unset), `PUT /kv/:key` stores the request body,
//!   `DELETE /kv/:key` deletes it;
//! - `GET /kv?prefix=p` lists the keys starting with `p`, one per line, in byte order.
//!
//! Keys in the path are percent-decoded; one that is not UTF-8 after decoding gets 400 (the
//! `wasi:keyvalue` key is a WIT `string`). A store failure is a 500 naming the failure.

use percent_encoding::percent_decode_str;
use wasmhost_sdk::http::{Method, StatusCode};
use wasmhost_sdk::key_value::{Error, Store};
use wasmhost_sdk::{IntoResponse, Request, RequestExt, Response, http_component};

#[http_component]
fn handle(req: Request) -> Result<Response, Error> {
    let store = Store::open_default()?;
    let route = req.route().unwrap_or_default().to_owned();
    let key = match req.param("name").or(req.param("key")).map(decode) {
        Some(Ok(key)) => Some(key),
        Some(Err(response)) => return Ok(response),
        None => None,
    };
    Ok(match (req.method().clone(), route.as_str(), key) {
        (Method::GET, "/count/:name", Some(name)) => {
            let count = store.increment(&format!("count:{name}"), 1)?;
            format!("{count}\n").into_response()
        }
        (Method::GET, "/kv/:key", Some(key)) => match store.get(&key)? {
            Some(value) => value.into_response(),
            None => (StatusCode::NOT_FOUND, "no such key\n").into_response(),
        },
        (Method::PUT, "/kv/:key", Some(key)) => {
            let Ok(value) = req.into_body().into_bytes() else {
                return Ok((StatusCode::BAD_REQUEST, "cannot read the body\n").into_response());
            };
            store.set(&key, value)?;
            StatusCode::NO_CONTENT.into_response()
        }
        (Method::DELETE, "/kv/:key", Some(key)) => {
            store.delete(&key)?;
            StatusCode::NO_CONTENT.into_response()
        }
        (Method::GET, "/kv", None) => {
            let prefix = query(&req, "prefix").unwrap_or_default();
            let mut keys: Vec<String> = store
                .keys()?
                .into_iter()
                .filter(|key| key.starts_with(&prefix))
                .collect();
            keys.sort();
            keys.dedup();
            keys.into_iter()
                .map(|key| key + "\n")
                .collect::<String>()
                .into_response()
        }
        _ => (StatusCode::METHOD_NOT_ALLOWED, "method not allowed\n").into_response(),
    })
}

/// Percent-decodes a path parameter; a key that is not UTF-8 is a 400.
fn decode(raw: &str) -> Result<String, Response> {
    percent_decode_str(raw)
        .decode_utf8()
        .map(|key| key.into_owned())
        .map_err(|_| (StatusCode::BAD_REQUEST, "the key is not valid UTF-8\n").into_response())
}

/// The first value of query parameter `name`.
fn query(req: &Request, name: &str) -> Option<String> {
    form_urlencoded::parse(req.uri().query()?.as_bytes())
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.into_owned())
}

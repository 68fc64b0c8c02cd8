//! `shortener`: a link shortener whose clicks are counted through a queue.
//!
//! One component file, used by two components of `wasmhost.toml`:
//! - `links` (HTTP):
//!   - `POST /links` with a `http://` or `https://` URL as the body stores it under a new
//!     short code (`link:<code>`), publishes a `dev.wasmhost.shortener.link.created` CloudEvent
//!     to topic `links`, and answers 201 with the code (and `Location: /<code>`);
//!   - `GET /:code` answers 302 to the link's URL and sends the code to queue `clicks`
//!     (404 for an unknown code);
//!   - `GET /links/:code/stats` answers `{"code", "url", "clicks", "created"}` as JSON.
//! - `click-counter` (queue handler): for queue `clicks`, adds each batch's clicks up per code
//!   and increments `clicks:<code>` once per code; for topic `links`, records the event's time
//!   as `created:<code>`.
//!
//! Delivery is at least once, so after a crash a click can be counted twice, never lost.

use std::collections::BTreeMap;

use wasmhost_sdk::http::{Method, StatusCode, header};
use wasmhost_sdk::key_value::Store;
use wasmhost_sdk::queue::{self, Delivery, Message};
use wasmhost_sdk::topic::{self, Event};
use wasmhost_sdk::{IntoResponse, Request, RequestExt, Response, http_component, queue_component};

/// The CloudEvents type of a new link.
const LINK_CREATED: &str = "dev.wasmhost.shortener.link.created";

#[http_component]
fn handle(req: Request) -> Result<Response, String> {
    let store = Store::open_default().map_err(|e| e.to_string())?;
    let route = req.route().unwrap_or_default().to_owned();
    let code = req.param("code").map(str::to_owned);
    Ok(match (req.method().clone(), route.as_str(), code) {
        (Method::POST, "/links", None) => create(&store, req)?,
        (Method::GET, "/:code", Some(code)) => follow(&store, &code)?,
        (Method::GET, "/links/:code/stats", Some(code)) => stats(&store, &code)?,
        _ => (StatusCode::METHOD_NOT_ALLOWED, "method not allowed\n").into_response(),
    })
}

fn create(store: &Store, req: Request) -> Result<Response, String> {
    let Ok(body) = req.into_body().into_bytes() else {
        return Ok((StatusCode::BAD_REQUEST, "cannot read the body\n").into_response());
    };
    let url = String::from_utf8_lossy(&body).trim().to_owned();
    if !(url.starts_with("http://") || url.starts_with("https://"))
        || url.contains(char::is_whitespace)
    {
        return Ok((
            StatusCode::BAD_REQUEST,
            "the body must be one http:// or https:// URL\n",
        )
            .into_response());
    }
    let n = store.increment("next-code", 1).map_err(|e| e.to_string())?;
    let code = base62(n);
    store
        .set(&format!("link:{code}"), url.as_bytes())
        .map_err(|e| e.to_string())?;
    let event = Event::new(LINK_CREATED, url)
        .content_type("text/uri-list")
        .subject(code.as_str());
    topic::publish("links", event).map_err(|e| format!("cannot publish the new link: {e}"))?;
    Ok(wasmhost_sdk::http::Response::builder()
        .status(StatusCode::CREATED)
        .header(header::LOCATION, format!("/{code}"))
        .body(format!("{code}\n"))
        .map_err(|e| e.to_string())?
        .into_response())
}

fn follow(store: &Store, code: &str) -> Result<Response, String> {
    let Some(url) = store
        .get(&format!("link:{code}"))
        .map_err(|e| e.to_string())?
    else {
        return Ok((StatusCode::NOT_FOUND, "no such link\n").into_response());
    };
    // The redirect matters more than the count: a click that cannot be queued is logged.
    if let Err(err) = queue::send("clicks", Message::new(code).content_type("text/plain")) {
        eprintln!("click on `{code}` not counted: {err}");
    }
    Ok(wasmhost_sdk::http::Response::builder()
        .status(StatusCode::FOUND)
        .header(header::LOCATION, url)
        .body(Vec::new())
        .map_err(|e| e.to_string())?
        .into_response())
}

fn stats(store: &Store, code: &str) -> Result<Response, String> {
    let get = |key: String| -> Result<Option<String>, String> {
        Ok(store
            .get(&key)
            .map_err(|e| e.to_string())?
            .map(|v| String::from_utf8_lossy(&v).into_owned()))
    };
    let Some(url) = get(format!("link:{code}"))? else {
        return Ok((StatusCode::NOT_FOUND, "no such link\n").into_response());
    };
    let clicks: u64 = get(format!("clicks:{code}"))?
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    let body = serde_json::json!({
        "code": code,
        "url": url,
        "clicks": clicks,
        "created": get(format!("created:{code}"))?,
    });
    Ok(wasmhost_sdk::http::Response::builder()
        .header(header::CONTENT_TYPE, "application/json")
        .body(format!("{body}\n"))
        .map_err(|e| e.to_string())?
        .into_response())
}

#[queue_component]
fn count(batch: Vec<Delivery>) -> Result<(), String> {
    let store = Store::open_default().map_err(|e| e.to_string())?;
    let mut clicks: BTreeMap<String, u64> = BTreeMap::new();
    for delivery in &batch {
        match delivery.queue.as_str() {
            "clicks" => {
                *clicks
                    .entry(String::from_utf8_lossy(&delivery.body).into_owned())
                    .or_default() += 1;
            }
            "links" if delivery.event_attribute("type") == Some(LINK_CREATED) => {
                let code = delivery.event_attribute("subject").unwrap_or_default();
                let time = delivery.event_attribute("time").unwrap_or_default();
                store
                    .set(&format!("created:{code}"), time)
                    .map_err(|e| e.to_string())?;
            }
            other => eprintln!("ignoring a delivery from `{other}`"),
        }
    }
    for (code, n) in clicks {
        store
            .increment(&format!("clicks:{code}"), n)
            .map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// `n` in base 62 (`0-9a-zA-Z`): 1 → `1`, 62 → `10`.
fn base62(mut n: u64) -> String {
    const DIGITS: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
    let mut code = Vec::new();
    loop {
        code.push(DIGITS[(n % 62) as usize]);
        n /= 62;
        if n == 0 {
            break;
        }
    }
    code.reverse();
    String::from_utf8(code).unwrap_or_default()
}

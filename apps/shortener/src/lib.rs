//! `shortener`: a link shortener whose clicks are counted through a queue.
//!
//! One component file, used by two components of `wasmhost.toml`:
//! - `links` (HTTP), one [`Router`]:
//!   - `POST /links` with a `http://` or `https://` URL as the body (or JSON `{"url": ..}`)
//!     stores it under a new short code (`link:<code>`), publishes a
//!     `dev.wasmhost.shortener.link.created` CloudEvent to topic `links`, and answers 201 with
//!     the code (and `Location: /<code>`);
//!   - `GET /:code` answers 302 to the link's URL and sends the code to queue `clicks`
//!     (404 for an unknown code);
//!   - `GET /links/:code/stats` answers `{"code", "url", "clicks", "created"}` as JSON.
//! - `click-counter` (queue handler): for queue `clicks`, adds each batch's clicks up per code
//!   and increments `clicks:<code>` once per code; for topic `links`, records the event's time
//!   as `created:<code>`, retrying only that event if it cannot.
//!
//! Delivery is at least once, so after a crash a click can be counted twice, never lost.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use wasmhost_sdk::http::{Response as HttpResponse, StatusCode, header};
use wasmhost_sdk::key_value::Store;
use wasmhost_sdk::queue::{self, Delivery, Message};
use wasmhost_sdk::router::{Params, Router};
use wasmhost_sdk::topic::{self, Event};
use wasmhost_sdk::{HttpError, Json, Request, RequestBodyExt, Response};
use wasmhost_sdk::{http_component, queue_component};

/// The CloudEvents type of a new link.
const LINK_CREATED: &str = "dev.wasmhost.shortener.link.created";

#[http_component]
fn handle(req: Request) -> Response {
    Router::new()
        .post("/links", create)
        .get("/:code", follow)
        .get("/links/:code/stats", stats)
        .handle(req)
}

/// A new link as JSON.
#[derive(Deserialize)]
struct NewLink {
    url: String,
}

fn create(req: Request, _: Params) -> Result<HttpResponse<String>, HttpError> {
    let content_type = req.headers().get(header::CONTENT_TYPE);
    let url = if content_type.is_some_and(|t| t == "application/json") {
        req.json::<NewLink>()?.url
    } else {
        req.text()?.trim().to_owned()
    };
    if !(url.starts_with("http://") || url.starts_with("https://"))
        || url.contains(char::is_whitespace)
    {
        return Err(HttpError::bad_request(
            "the body must be one http:// or https:// URL",
        ));
    }
    let store = Store::open_default()?;
    let code = base62(store.increment("next-code", 1)?);
    store.set(&format!("link:{code}"), url.as_bytes())?;
    let event = Event::new(LINK_CREATED, url)
        .content_type("text/uri-list")
        .subject(code.as_str());
    topic::publish("links", event)?;
    Ok(HttpResponse::builder()
        .status(StatusCode::CREATED)
        .header(header::LOCATION, format!("/{code}"))
        .body(format!("{code}\n"))?)
}

fn follow(_: Request, params: Params) -> Result<HttpResponse<()>, HttpError> {
    let code = params.get("code").unwrap_or_default();
    let url = Store::open_default()?
        .get(&format!("link:{code}"))?
        .ok_or_else(|| HttpError::not_found("no such link"))?;
    // The redirect matters more than the count: a click that cannot be queued is logged.
    if let Err(err) = queue::send(
        "clicks",
        Message::new(code.as_bytes()).content_type("text/plain"),
    ) {
        eprintln!("click on `{code}` not counted: {err}");
    }
    Ok(HttpResponse::builder()
        .status(StatusCode::FOUND)
        .header(header::LOCATION, url)
        .body(())?)
}

/// What `GET /links/:code/stats` answers.
#[derive(Serialize)]
struct Stats {
    code: String,
    url: String,
    clicks: u64,
    created: Option<String>,
}

fn stats(_: Request, params: Params) -> Result<Json<Stats>, HttpError> {
    let code = params.get("code").unwrap_or_default().into_owned();
    let store = Store::open_default()?;
    let text = |key: String| -> Result<Option<String>, HttpError> {
        Ok(store
            .get(&key)?
            .map(|v| String::from_utf8_lossy(&v).into_owned()))
    };
    let url = text(format!("link:{code}"))?.ok_or_else(|| HttpError::not_found("no such link"))?;
    let clicks = text(format!("clicks:{code}"))?
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    let created = text(format!("created:{code}"))?;
    Ok(Json(Stats {
        code,
        url,
        clicks,
        created,
    }))
}

#[queue_component]
fn count(batch: Vec<Delivery>) -> Result<(), HttpError> {
    let store = Store::open_default()?;
    let mut clicks: BTreeMap<&str, u64> = BTreeMap::new();
    for message in &batch {
        match message.queue.as_str() {
            "clicks" => *clicks.entry(message.text()?).or_default() += 1,
            "links" if message.event_attribute("type") == Some(LINK_CREATED) => {
                let code = message.event_attribute("subject").unwrap_or_default();
                let time = message.event_attribute("time").unwrap_or_default();
                // Only this event comes again; the batch's clicks are still counted once.
                if let Err(err) = store.set(&format!("created:{code}"), time) {
                    eprintln!("cannot record when `{code}` was created: {err}");
                    message.retry()?;
                }
            }
            other => eprintln!("ignoring a delivery from `{other}`"),
        }
    }
    for (code, n) in clicks {
        store.increment(&format!("clicks:{code}"), n)?;
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

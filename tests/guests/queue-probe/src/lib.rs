//! `queue-probe`: sends messages from an HTTP request and consumes them as a queue handler,
//! recording what it saw in the `default` key-value store, for the queue tests.
//!
//! HTTP:
//! - `POST /send/:queue`: sends the request body as one message (`x-count: n` sends n messages
//!   `<body>-0` .. `<body>-{n-1}` with `send-batch`; `x-bodies: a,b,c` sends those bodies
//!   with one `send-batch`; `x-delay-ms` delays them; header
//!   `x-attribute: name=value` adds an attribute); 200 with the ids, one per line, or 403 / 400
//!   / 503 with the error;
//! - `POST /publish/:topic`: publishes the request body as one CloudEvent of type `x-type`
//!   (default `test.event`) with the body as its `subject` (`x-count: n` publishes n events
//!   `<body>-0` ..); 200 with the event ids, one per line, or 403 / 400 / 503 with the error;
//! - `GET /kv/:key`: the value of `key` in the store, or 404;
//! - `GET /seen`: `<keys> <total>`: how many `seen:` keys the store holds, and the sum of their
//!   counts (more than the keys if some message was handled twice).
//!
//! Queue handler, for queue `sink`: acknowledges every batch and does nothing else (the queue
//! benchmark). For queue `crash`: only increments `seen:b` per message with body `b`, for a
//! fast crash test. Per message from a dead-letter queue (its name ends in `dead-letter`) with
//! body `b`: sets `dead:b` to `<wasmhost-attempts>|<wasmhost-error>`. Per other message with
//! body `b`: increments `seen:b`, sets `attempt:b` to the
//! attempt number, `trace:b` to its `traceparent` attribute and `at:b` to the ms since the Unix
//! epoch it was handled at, appends that time to `times:b`, and appends `b` to `order` and the batch size to `batches` (both
//! space-separated). A batch holding a body that starts with `fail` returns `err` (`failbig`:
//! an error text of 3 MB); one that starts with `trap` panics; `sleep<ms>` sleeps that many ms
//! (wall-clock time, not CPU) after recording it. A message whose body starts with `ack` is
//! acknowledged on its own (`Delivery::ack`); `retryalways` is sent back on every attempt and
//! `retry` on its first (`Delivery::retry_after`, 50 ms), whatever the batch returns.

use std::time::{Duration, SystemTime};

use wasmhost_sdk::http::StatusCode;
use wasmhost_sdk::key_value::Store;
use wasmhost_sdk::queue::{self, Delivery, Message};
use wasmhost_sdk::topic::{self, Event};
use wasmhost_sdk::{IntoResponse, Request, RequestExt, Response, http_component, queue_component};

#[http_component]
fn handle(req: Request) -> Response {
    match req.route().unwrap_or_default() {
        "/send/:queue" => send(req),
        "/publish/:topic" => publish(req),
        "/seen" => match count_seen() {
            Ok((keys, total)) => format!("{keys} {total}\n").into_response(),
            Err(err) => (StatusCode::INTERNAL_SERVER_ERROR, err.to_string()).into_response(),
        },
        "/kv/:key" => {
            let key = req.param("key").unwrap_or_default();
            match Store::open_default().and_then(|s| s.get(key)) {
                Ok(Some(value)) => value.into_response(),
                Ok(None) => (StatusCode::NOT_FOUND, "").into_response(),
                Err(err) => (StatusCode::INTERNAL_SERVER_ERROR, err.to_string()).into_response(),
            }
        }
        _ => (StatusCode::NOT_FOUND, "").into_response(),
    }
}

fn send(req: Request) -> Response {
    let header = |name: &str| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let queue_name = req.param("queue").unwrap_or_default().to_owned();
    let count: Option<usize> = header("x-count").and_then(|n| n.parse().ok());
    let delay = header("x-delay-ms").and_then(|n| n.parse().ok());
    let attribute = header("x-attribute");
    let bodies = header("x-bodies");
    let body = req.into_body().into_bytes().unwrap_or_default();
    let message = |body: Vec<u8>| {
        let mut message = Message::new(body).content_type("text/plain");
        if let Some(ms) = delay {
            message = message.delay(Duration::from_millis(ms));
        }
        if let Some((name, value)) = attribute.as_deref().and_then(|a| a.split_once('=')) {
            message = message.attribute(name, value);
        }
        message
    };
    let sent = match (count, bodies) {
        (_, Some(bodies)) => queue::send_batch(
            &queue_name,
            bodies
                .split(',')
                .map(|b| message(b.as_bytes().to_vec()))
                .collect(),
        ),
        (None, None) => queue::send(&queue_name, message(body)).map(|id| vec![id]),
        (Some(n), None) => {
            let text = String::from_utf8_lossy(&body).into_owned();
            let messages = (0..n)
                .map(|i| message(format!("{text}-{i}").into_bytes()))
                .collect();
            queue::send_batch(&queue_name, messages)
        }
    };
    sent_response(sent)
}

fn publish(req: Request) -> Response {
    let header = |name: &str| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let topic_name = req.param("topic").unwrap_or_default().to_owned();
    let count: usize = header("x-count").and_then(|n| n.parse().ok()).unwrap_or(1);
    let ty = header("x-type").unwrap_or_else(|| "test.event".to_owned());
    let body =
        String::from_utf8_lossy(&req.into_body().into_bytes().unwrap_or_default()).into_owned();
    let published = (0..count)
        .map(|i| {
            let subject = if count == 1 {
                body.clone()
            } else {
                format!("{body}-{i}")
            };
            let event = Event::new(ty.as_str(), subject.as_str())
                .content_type("text/plain")
                .subject(subject);
            topic::publish(&topic_name, event)
        })
        .collect();
    sent_response(published)
}

fn sent_response(sent: Result<Vec<String>, queue::Error>) -> Response {
    match sent {
        Ok(ids) => (ids.join("\n") + "\n").into_response(),
        Err(err @ queue::Error::AccessDenied) => {
            (StatusCode::FORBIDDEN, format!("{err}\n")).into_response()
        }
        Err(err @ queue::Error::Invalid(_)) => {
            (StatusCode::BAD_REQUEST, format!("{err}\n")).into_response()
        }
        Err(err) => (StatusCode::SERVICE_UNAVAILABLE, format!("{err}\n")).into_response(),
    }
}

fn count_seen() -> Result<(usize, u64), wasmhost_sdk::key_value::Error> {
    let store = Store::open_default()?;
    let keys: Vec<String> = store
        .keys()?
        .into_iter()
        .filter(|k| k.starts_with("seen:"))
        .collect();
    let mut total = 0;
    for chunk in keys.chunks(500) {
        for value in store.get_many(chunk)?.into_iter().flatten() {
            total += String::from_utf8_lossy(&value).parse::<u64>().unwrap_or(0);
        }
    }
    Ok((keys.len(), total))
}

#[queue_component]
fn consume(batch: Vec<Delivery>) -> Result<(), String> {
    if batch.first().is_some_and(|m| m.queue == "sink") {
        return Ok(());
    }
    let store = Store::open_default().map_err(|e| e.to_string())?;
    if batch.first().is_some_and(|m| m.queue == "crash") {
        for message in &batch {
            let body = String::from_utf8_lossy(&message.body);
            store
                .increment(&format!("seen:{body}"), 1)
                .map_err(|e| e.to_string())?;
        }
        return Ok(());
    }
    let append = |key: &str, item: &str| -> Result<(), String> {
        let mut list = store
            .get(key)
            .map_err(|e| e.to_string())?
            .map(|v| String::from_utf8_lossy(&v).into_owned())
            .unwrap_or_default();
        if !list.is_empty() {
            list.push(' ');
        }
        list.push_str(item);
        store.set(key, list).map_err(|e| e.to_string())
    };
    append("batches", &batch.len().to_string())?;
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis();
    let mut fail = None;
    for message in &batch {
        let body = String::from_utf8_lossy(&message.body).into_owned();
        if let Some(ty) = message.event_attribute("type") {
            let subject = message.event_attribute("subject").unwrap_or_default();
            let subscriber = wasmhost_sdk::variables::get("subscriber").unwrap_or_default();
            let meta = format!(
                "{}|{ty}|{}|{}|{body}",
                message.queue,
                message.event_attribute("source").unwrap_or_default(),
                message.content_type.as_deref().unwrap_or_default(),
            );
            store
                .increment(&format!("event:{subscriber}:{subject}"), 1)
                .map_err(|e| e.to_string())?;
            store
                .set(&format!("event-meta:{subject}"), meta)
                .map_err(|e| e.to_string())?;
            continue;
        }
        if message.queue.ends_with("dead-letter") {
            let attribute = |name| message.attribute(name).unwrap_or_default();
            let dead = format!(
                "{}|{}",
                attribute("wasmhost-attempts"),
                attribute("wasmhost-error")
            );
            store
                .set(&format!("dead:{body}"), dead)
                .map_err(|e| e.to_string())?;
            continue;
        }
        let record = || -> Result<(), wasmhost_sdk::key_value::Error> {
            store.increment(&format!("seen:{body}"), 1)?;
            store.set(&format!("attempt:{body}"), message.attempt.to_string())?;
            store.set(&format!("at:{body}"), now.to_string())?;
            if let Some(trace) = message.attribute("traceparent") {
                store.set(&format!("trace:{body}"), trace)?;
            }
            Ok(())
        };
        record().map_err(|e| e.to_string())?;
        append(&format!("times:{body}"), &now.to_string())?;
        append("order", &body)?;
        // Decisions per message (`queue-batch`): `ack…` is acknowledged whatever the batch
        // returns; `retryalways…` is sent back on every attempt, `retry…` on the first only
        // (after 50 ms), whatever the batch returns.
        if body.starts_with("ack") {
            message.ack().map_err(|e| e.to_string())?;
        }
        if body.starts_with("retryalways") || (body.starts_with("retry") && message.attempt == 1) {
            message
                .retry_after(Duration::from_millis(50))
                .map_err(|e| e.to_string())?;
        }
        if body.starts_with("trap") {
            panic!("asked to trap on {body}");
        }
        if body.starts_with("loop") {
            let mut n = 0u64;
            loop {
                n = std::hint::black_box(n.wrapping_add(1));
            }
        }
        if body.starts_with("oom") {
            let mut hoard: Vec<Vec<u8>> = Vec::new();
            loop {
                hoard.push(std::hint::black_box(vec![1u8; 1 << 20]));
            }
        }
        if let Some(ms) = body
            .strip_prefix("sleep")
            .and_then(|rest| rest.split(|c: char| !c.is_ascii_digit()).next())
            .and_then(|ms| ms.parse().ok())
        {
            std::thread::sleep(Duration::from_millis(ms));
        }
        if body.starts_with("failbig") {
            fail = Some(format!("asked to fail on {body}: {}", "x".repeat(3 << 20)));
        } else if body.starts_with("fail") {
            fail = Some(format!("asked to fail on {body}"));
        }
    }
    fail.map_or(Ok(()), Err)
}

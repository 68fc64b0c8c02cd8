//! `blob-events`: a `[[trigger.blob]]` handler (the `queue-handler` export) that records every
//! blob event it gets in the `default` key-value store, for the blob trigger tests.
//!
//! Per delivery of a blob event (read with `wasmhost_sdk::blob::BlobEvent`):
//! - appends the line `<ce-type> <ce-subject> <size> <etag>\n` to key `events` (`-` for a
//!   missing subject, size or etag), with compare-and-swap so that concurrent batches lose no
//!   line;
//! - increments `count:<ce-subject>` (decimal text);
//! - sets `attempt:<ce-subject>` to the delivery's attempt number (1 on the first);
//! - then, if the object's key contains `fail`, fails the whole batch with
//!   `asked to fail on <key>`, so that the test sees the retries (one more line each) and then
//!   the message in the dead-letter queue.
//!
//! Per delivery from a dead-letter queue (its queue name ends in `dead-letter`; wire it with a
//! `[[trigger.queue]]` to this component): sets `dead:<ce-subject>` to
//! `<wasmhost-attempts>|<wasmhost-error>` and appends the line
//! `dead <ce-subject> <wasmhost-attempts>|<wasmhost-error>\n` to `events`.
//!
//! A delivery that is not a blob event fails the batch with the reason.

use wasmhost_sdk::blob::BlobEvent;
use wasmhost_sdk::key_value::{Error, Store};
use wasmhost_sdk::queue::Delivery;
use wasmhost_sdk::queue_component;

#[queue_component]
fn handle(batch: Vec<Delivery>) -> Result<(), String> {
    let store = Store::open_default().map_err(|e| e.to_string())?;
    let mut fail = None;
    for delivery in &batch {
        let subject = delivery.event_attribute("subject").unwrap_or("-");
        if delivery.queue.ends_with("dead-letter") {
            let attribute = |name| delivery.attribute(name).unwrap_or_default();
            let dead = format!(
                "{}|{}",
                attribute("wasmhost-attempts"),
                attribute("wasmhost-error")
            );
            append(&store, "events", &format!("dead {subject} {dead}\n"))
                .map_err(|e| e.to_string())?;
            store
                .set(&format!("dead:{subject}"), dead)
                .map_err(|e| e.to_string())?;
            continue;
        }
        let event = BlobEvent::from_delivery(delivery).map_err(|e| e.to_string())?;
        let line = format!(
            "{} {subject} {} {}\n",
            event.kind.ce_type(),
            event.size.map_or_else(|| "-".to_owned(), |n| n.to_string()),
            event.etag.as_deref().unwrap_or("-"),
        );
        append(&store, "events", &line).map_err(|e| e.to_string())?;
        store
            .increment(&format!("count:{subject}"), 1)
            .map_err(|e| e.to_string())?;
        store
            .set(&format!("attempt:{subject}"), delivery.attempt.to_string())
            .map_err(|e| e.to_string())?;
        if event.key.contains("fail") {
            fail = Some(format!("asked to fail on {}", event.key));
        }
    }
    fail.map_or(Ok(()), Err)
}

/// Appends `text` to the value of `key`, retrying the compare-and-swap until no other writer
/// came between the read and the write.
fn append(store: &Store, key: &str, text: &str) -> Result<(), Error> {
    loop {
        let old = store.get(key)?;
        let mut new = old.clone().unwrap_or_default();
        new.extend_from_slice(text.as_bytes());
        if store.compare_and_swap(key, old.as_deref(), new)? {
            return Ok(());
        }
    }
}

//! Blob events: what `[[trigger.blob]]` handlers receive when an object is written or deleted
//! through wasmhost (or found by the poller). Each is a CloudEvents 1.0 event
//! (<https://github.com/cloudevents/spec/blob/v1.0.2/cloudevents/spec.md>) stored, in binary
//! mode as topic events are ([`crate::capability::queue::topic`]), in the queue of every blob
//! trigger whose filter matches, so it has the queue machinery's delivery: at least once,
//! retries with backoff, and a dead-letter queue.
//!
//! - `type`: `wasmhost.blob.created` or `wasmhost.blob.deleted`;
//! - `source`: `/<app>/blob/<container>`; `subject`: `<container>/<name>`;
//! - `id` a UUID v4, `time` the moment the event was made;
//! - data, `application/json`: `{"container", "key", "size", "etag", "contentType"}` (the
//!   content type guessed from the name's extension, else `application/octet-stream`).

use std::sync::Arc;

use cloudevents::{EventBuilder, EventBuilderV10};

use super::backend::ObjectInfo;
use crate::app::{App, BlobTrigger};
use crate::capability::backend::BackendError;
use crate::capability::queue::topic::event_message;
use crate::capability::queue::{OpenQueue, Queues, TRACEPARENT_ATTRIBUTE};

/// The CloudEvents `type` of an object written.
pub const CREATED: &str = "wasmhost.blob.created";
/// The CloudEvents `type` of an object deleted.
pub const DELETED: &str = "wasmhost.blob.deleted";

/// The blob triggers of one container in one app version, with their queues.
#[derive(Default)]
pub struct ContainerEvents {
    /// The container.
    pub container: Arc<str>,
    /// The events' `source`: `/<app>/blob/<container>`.
    pub source: String,
    /// Each trigger's filter and the queue its events go to, in manifest order.
    pub subscriptions: Vec<(BlobTrigger, Arc<OpenQueue>)>,
}

impl ContainerEvents {
    /// The triggers of `container` in `app`, on their queues (opened in `queues`).
    ///
    /// # Panics
    /// If a trigger's queue was not opened, which `Queues::open` rules out.
    pub fn resolve(app: &App, queues: &Queues, container: &str) -> Self {
        Self {
            container: container.into(),
            source: format!("/{}/blob/{container}", app.name),
            subscriptions: app
                .blob_triggers
                .iter()
                .filter(|trigger| trigger.container == container)
                .map(|trigger| (trigger.clone(), queues.get(&trigger.queue).clone()))
                .collect(),
        }
    }

    /// Whether some trigger takes an event about `name` (`created`, else deleted).
    pub fn wanted(&self, name: &str, created: bool) -> bool {
        self.subscriptions
            .iter()
            .any(|(trigger, _)| trigger.matches(name, created))
    }

    /// Stores the event that `object` was written (`created`) or deleted in the queue of every
    /// trigger that takes it, each durably, with `traceparent` (W3C Trace Context) if given.
    ///
    /// # Errors
    /// The first queue that fails, and its error; the queues before it keep the event.
    pub async fn publish(
        &self,
        object: &ObjectInfo,
        created: bool,
        traceparent: Option<String>,
    ) -> Result<(), (Arc<str>, BackendError)> {
        let mut queues: Vec<Arc<OpenQueue>> = Vec::new();
        for (trigger, queue) in &self.subscriptions {
            if trigger.matches(&object.name, created) {
                queues.push(queue.clone());
            }
        }
        if queues.is_empty() {
            return Ok(());
        }
        let message = self.message(object, created, traceparent);
        for queue in queues {
            queue
                .send(vec![message.clone()])
                .await
                .map_err(|err| (queue.name.clone(), err))?;
        }
        Ok(())
    }

    /// The event about `object` as a stored message.
    fn message(
        &self,
        object: &ObjectInfo,
        created: bool,
        traceparent: Option<String>,
    ) -> crate::capability::queue::StoredMessage {
        let content_type = mime_guess::from_path(&object.name)
            .first_raw()
            .unwrap_or("application/octet-stream");
        let data = serde_json::json!({
            "container": &*self.container,
            "key": object.name,
            "size": object.size,
            "etag": object.etag,
            "contentType": content_type,
        });
        let event = EventBuilderV10::new()
            .id(uuid::Uuid::new_v4().to_string())
            .ty(if created { CREATED } else { DELETED })
            .source(self.source.as_str())
            .subject(format!("{}/{}", self.container, object.name))
            .time(chrono::Utc::now())
            .data("application/json", data)
            .build()
            .expect("every required attribute is set");
        let attributes = traceparent
            .map(|value| vec![(TRACEPARENT_ATTRIBUTE.to_owned(), value)])
            .unwrap_or_default();
        event_message(event, attributes, 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_event_carries_its_object_in_json_and_cloudevents_attributes() {
        let events = ContainerEvents {
            container: "files".into(),
            source: "/uploads/blob/files".to_owned(),
            subscriptions: Vec::new(),
        };
        let object = ObjectInfo {
            name: "a/b.txt".to_owned(),
            size: 5,
            etag: Some("\"e1\"".to_owned()),
            modified_ms: 0,
        };
        let message = events.message(&object, true, Some("00-ab-cd-01".to_owned()));
        let attribute = |name: &str| {
            message
                .attributes
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.clone())
        };
        assert_eq!(attribute("ce-type").as_deref(), Some(CREATED));
        assert_eq!(attribute("ce-subject").as_deref(), Some("files/a/b.txt"));
        assert_eq!(
            attribute("ce-source").as_deref(),
            Some("/uploads/blob/files")
        );
        assert_eq!(attribute("ce-specversion").as_deref(), Some("1.0"));
        assert_eq!(attribute("traceparent").as_deref(), Some("00-ab-cd-01"));
        assert_eq!(message.content_type.as_deref(), Some("application/json"));
        let body: serde_json::Value = serde_json::from_slice(&message.body).unwrap();
        assert_eq!(
            body,
            serde_json::json!({"container": "files", "key": "a/b.txt", "size": 5,
                "etag": "\"e1\"", "contentType": "text/plain"})
        );
    }
}

//! Topics: publish once, every subscription gets the event (fan-out), as CloudEvents 1.0.
//!
//! A topic has no storage of its own: each `[[trigger.topic]]` subscription is a queue
//! ([`crate::app::subscription_queue`], `<topic>.<subscription>`), and publishing sends the
//! event to every one of them, so each subscription has its own retries, dead-letter queue and
//! consumers (on Redis, its own consumer group shared by every node).
//!
//! Events are kept in the CloudEvents 1.0 binary content mode, the shape of the spec's HTTP
//! binding (<https://github.com/cloudevents/spec/blob/v1.0.2/cloudevents/bindings/http-protocol-binding.md>):
//! the body is the event's `data`, the content type its `datacontenttype`, and every other
//! context attribute and extension is an attribute `ce-<name>`. The guest's `publish` and the
//! admin listener's `POST /.well-known/wasmhost/topics/<topic>` both go through
//! [`event_from_http`], which uses the CloudEvents SDK's HTTP binding, so a guest's attributes
//! and an HTTP request's headers are read by the same rules, structured mode
//! (`application/cloudevents+json`) included.

use std::sync::Arc;

use cloudevents::event::AttributesReader;
use cloudevents::{Data, Event};
use http::{HeaderMap, HeaderName, HeaderValue};

use super::{OpenQueue, StoredMessage};
use crate::capability::backend::BackendError;

/// The CloudEvents spec version wasmhost writes when a publisher gives none.
pub const SPEC_VERSION: &str = "1.0";
/// The prefix of the attributes that hold CloudEvents context attributes (binary mode).
pub const ATTRIBUTE_PREFIX: &str = "ce-";

/// A topic the app names, opened at startup: the queues of its subscriptions.
pub struct OpenTopic {
    /// The topic's name.
    pub name: Arc<str>,
    /// The queue of each `[[trigger.topic]]` subscription, in manifest order; may be empty.
    pub subscriptions: Vec<Arc<OpenQueue>>,
}

impl OpenTopic {
    /// Stores `message` in every subscription, one after the other, each durably.
    ///
    /// # Errors
    /// The first backend error; the subscriptions before it keep the event.
    pub async fn publish(&self, message: StoredMessage) -> Result<(), (Arc<str>, BackendError)> {
        if self.subscriptions.is_empty() {
            tracing::debug!(topic = %self.name, "event published to a topic with no subscription");
        }
        for queue in &self.subscriptions {
            queue
                .send(vec![message.clone()])
                .await
                .map_err(|err| (queue.name.clone(), err))?;
        }
        Ok(())
    }
}

/// The event in HTTP request `headers` and `body`, in binary mode (`ce-*` headers,
/// `content-type` as `datacontenttype`) or structured mode (`content-type:
/// application/cloudevents+json`, the event as JSON). In binary mode, `ce-id`, `ce-source`,
/// `ce-time` and `ce-specversion` are set when missing: a new UUID v4, `default_source`, now,
/// and `1.0`.
///
/// # Errors
/// What the CloudEvents 1.0 spec does not allow, in words: a missing or empty `type`, `id` or
/// `source`, a `source` that is not a URI reference, a `time` that is not RFC 3339, an
/// unknown spec version, a structured body that is not a CloudEvent.
pub fn event_from_http(
    mut headers: HeaderMap,
    body: Vec<u8>,
    default_source: &str,
) -> Result<Event, String> {
    let structured = headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/cloudevents"));
    if !structured {
        let now = chrono::Utc::now().to_rfc3339();
        let defaults = [
            ("ce-id", uuid::Uuid::new_v4().to_string()),
            ("ce-source", default_source.to_owned()),
            ("ce-time", now),
            ("ce-specversion", SPEC_VERSION.to_owned()),
        ];
        for (name, value) in defaults {
            if !headers.contains_key(name) {
                let value = HeaderValue::from_str(&value)
                    .map_err(|_| format!("`{name}` cannot be `{value}`"))?;
                headers.insert(HeaderName::from_static(name), value);
            }
        }
    }
    let event = cloudevents::binding::http::to_event(&headers, body)
        .map_err(|err| format!("not a CloudEvent: {err}"))?;
    for (name, value) in [
        ("id", event.id()),
        ("type", event.ty()),
        ("source", event.source().as_str()),
    ] {
        if value.is_empty() {
            return Err(format!(
                "the CloudEvents attribute `{name}` must not be empty"
            ));
        }
    }
    Ok(event)
}

/// The event in guest message attributes: the `ce-*` ones and `content_type` are read as
/// [`event_from_http`] reads headers; the others are returned as they are.
///
/// # Errors
/// As [`event_from_http`], and an attribute name or value that an HTTP header cannot hold.
pub fn event_from_attributes(
    attributes: Vec<(String, String)>,
    content_type: Option<&str>,
    body: Vec<u8>,
    default_source: &str,
) -> Result<(Event, Vec<(String, String)>), String> {
    let mut headers = HeaderMap::new();
    let mut others = Vec::new();
    for (name, value) in attributes {
        if !name.starts_with(ATTRIBUTE_PREFIX) {
            others.push((name, value));
            continue;
        }
        let header = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| format!("attribute `{name}` is not a CloudEvents attribute name"))?;
        let value = HeaderValue::from_str(&value)
            .map_err(|_| format!("attribute `{name}` has a value that cannot be sent"))?;
        headers.insert(header, value);
    }
    if let Some(content_type) = content_type {
        let value = HeaderValue::from_str(content_type)
            .map_err(|_| format!("content type `{content_type}` cannot be sent"))?;
        headers.insert(http::header::CONTENT_TYPE, value);
    }
    Ok((event_from_http(headers, body, default_source)?, others))
}

/// `event` as a message in binary mode: `data` as the body, `datacontenttype` as the content
/// type, every other attribute and extension as `ce-<name>` (times in RFC 3339), then
/// `attributes`; due `delay_ms` from now.
pub fn event_message(
    mut event: Event,
    attributes: Vec<(String, String)>,
    delay_ms: u64,
) -> StoredMessage {
    let mut all: Vec<(String, String)> = event
        .iter()
        .filter(|(name, _)| *name != "datacontenttype")
        .map(|(name, value)| (format!("{ATTRIBUTE_PREFIX}{name}"), value.to_string()))
        .collect();
    all.extend(attributes);
    let (content_type, _, data) = event.take_data();
    let body = match data {
        None => Vec::new(),
        Some(Data::Binary(bytes)) => bytes,
        Some(Data::String(text)) => text.into_bytes(),
        Some(Data::Json(value)) => value.to_string().into_bytes(),
    };
    StoredMessage::new(body, content_type, all, delay_ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attribute<'a>(message: &'a StoredMessage, name: &str) -> Option<&'a str> {
        message
            .attributes
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    #[test]
    fn guest_attributes_become_a_binary_mode_event_with_defaults() {
        let (event, others) = event_from_attributes(
            vec![
                ("ce-type".into(), "com.example.clicked".into()),
                ("ce-subject".into(), "abc".into()),
                ("ce-region".into(), "eu".into()),
                ("plain".into(), "kept".into()),
            ],
            Some("text/plain"),
            b"hi".to_vec(),
            "/shortener/links",
        )
        .unwrap();
        let message = event_message(event, others, 0);
        assert_eq!(message.body, b"hi");
        assert_eq!(message.content_type.as_deref(), Some("text/plain"));
        assert_eq!(attribute(&message, "ce-type"), Some("com.example.clicked"));
        assert_eq!(attribute(&message, "ce-source"), Some("/shortener/links"));
        assert_eq!(attribute(&message, "ce-specversion"), Some("1.0"));
        assert_eq!(attribute(&message, "ce-subject"), Some("abc"));
        assert_eq!(attribute(&message, "ce-region"), Some("eu"));
        assert_eq!(attribute(&message, "plain"), Some("kept"));
        assert_eq!(attribute(&message, "ce-id").unwrap().len(), 36);
        assert!(attribute(&message, "ce-time").unwrap().contains('T'));
        assert_eq!(attribute(&message, "ce-datacontenttype"), None);
    }

    #[test]
    fn a_structured_event_is_read_whole() {
        let json = br#"{"specversion":"1.0","id":"e-1","source":"https://example.com/a",
            "type":"t","datacontenttype":"application/json","data":{"n":1}}"#;
        let mut headers = HeaderMap::new();
        headers.insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static("application/cloudevents+json"),
        );
        let event = event_from_http(headers, json.to_vec(), "/unused").unwrap();
        let message = event_message(event, Vec::new(), 0);
        assert_eq!(attribute(&message, "ce-id"), Some("e-1"));
        assert_eq!(
            attribute(&message, "ce-source"),
            Some("https://example.com/a")
        );
        assert_eq!(message.content_type.as_deref(), Some("application/json"));
        assert_eq!(message.body, br#"{"n":1}"#);
    }

    #[test]
    fn what_the_spec_forbids_is_refused_in_words() {
        let refused = |attributes: Vec<(&str, &str)>| {
            let attributes = attributes
                .into_iter()
                .map(|(n, v)| (n.to_owned(), v.to_owned()))
                .collect();
            event_from_attributes(attributes, None, Vec::new(), "/a/b").unwrap_err()
        };
        assert!(refused(vec![]).contains("type"), "no type");
        assert!(refused(vec![("ce-type", "")]).contains("`type` must not be empty"));
        let time = refused(vec![("ce-type", "t"), ("ce-time", "yesterday")]);
        assert!(time.contains("not a CloudEvent"), "{time}");
        let version = refused(vec![("ce-type", "t"), ("ce-specversion", "9.9")]);
        assert!(version.contains("not a CloudEvent"), "{version}");
    }
}

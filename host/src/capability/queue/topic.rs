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

    /// Fuzzing by property: no headers, attributes or body make the CloudEvents reader panic,
    /// what it accepts has the required attributes and can be stored, and a valid event
    /// reads back from its stored attributes as itself. 256 cases per property per run.
    mod properties {
        use proptest::prelude::*;

        use super::*;

        /// Strings near what the attributes hold (spec versions, URIs, times, media types,
        /// base64), or arbitrary.
        fn plausible() -> impl Strategy<Value = String> {
            const NEAR: [&str; 12] = [
                "1.0",
                "0.3",
                "",
                "t",
                "/a/b",
                "https://example.com/x?y#z",
                "not a uri ::",
                "2024-02-30T25:61:00Z",
                "application/json",
                "application/cloudevents+json",
                "text/plain; charset=utf-8",
                "aGVsbG8=",
            ];
            prop_oneof![
                3 => proptest::sample::select(&NEAR[..]).prop_map(str::to_owned),
                1 => "[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]{0,12}(Z|[+-][0-9:]{0,5})?",
                2 => "\\PC{0,12}",
            ]
        }

        /// An RFC 3339 time, with or without fractions of a second, in any time zone.
        fn time() -> impl Strategy<Value = String> {
            let date = (
                1..=9999_u32,
                1..=12_u32,
                1..=28_u32,
                0..24_u32,
                0..60_u32,
                0..60_u32,
            );
            (date, "(\\.[0-9]{1,9})?", "Z|[+-](0[0-9]|1[0-3]):[0-5][0-9]").prop_map(
                |((y, mo, d, h, mi, s), fraction, zone)| {
                    format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}{fraction}{zone}")
                },
            )
        }

        /// A media type that is not a CloudEvents one.
        fn media_type() -> impl Strategy<Value = String> {
            const TYPES: [&str; 4] = [
                "text/plain",
                "text/plain; charset=utf-8",
                "application/json",
                "application/octet-stream",
            ];
            proptest::sample::select(&TYPES[..]).prop_map(str::to_owned)
        }

        /// The CloudEvents context attributes (but the content type): each name, how often an
        /// event has it (`defaulted` for those wasmhost sets when missing in binary mode), and
        /// its valid values.
        fn attributes(defaulted: f64) -> Vec<(&'static str, f64, BoxedStrategy<String>)> {
            let url = "https://[a-z]{1,8}\\.example/[a-z]{0,6}";
            vec![
                ("type", 0.9, "[a-zA-Z0-9.]{1,12}".boxed()),
                ("id", defaulted, "[a-zA-Z0-9-]{1,12}".boxed()),
                (
                    "source",
                    defaulted,
                    prop_oneof!["/[a-z]{1,6}", url, "urn:[a-z]{1,6}"].boxed(),
                ),
                (
                    "specversion",
                    defaulted,
                    proptest::sample::select(&["1.0", "0.3"][..])
                        .prop_map(str::to_owned)
                        .boxed(),
                ),
                ("time", 0.3, time().boxed()),
                ("subject", 0.3, "[ -~]{0,16}".boxed()),
                ("dataschema", 0.3, url.boxed()),
            ]
        }

        /// Some of `fields`, each present with its probability (always at 1) and a value from
        /// its strategy.
        fn some_of<T: std::fmt::Debug + 'static>(
            fields: Vec<(&'static str, f64, BoxedStrategy<T>)>,
        ) -> impl Strategy<Value = Vec<(&'static str, T)>> {
            fields
                .into_iter()
                .map(|(name, p, value)| {
                    let field = value.prop_map(move |v| (name, v));
                    if p < 1.0 {
                        proptest::option::weighted(p, field).boxed()
                    } else {
                        field.prop_map(Some).boxed()
                    }
                })
                .collect::<Vec<_>>()
                .prop_map(|fields| fields.into_iter().flatten().collect())
        }

        /// Some of the attributes (see [`attributes`]), each mostly valid, else `spoilt`.
        fn mostly_valid<T: std::fmt::Debug + 'static>(
            defaulted: f64,
            valid: impl Fn(String) -> T + Clone + 'static,
            spoilt: impl Fn() -> BoxedStrategy<T>,
        ) -> impl Strategy<Value = Vec<(&'static str, T)>> {
            let fields = attributes(defaulted)
                .into_iter()
                .map(|(name, p, value)| {
                    let value = prop_oneof![9 => value.prop_map(valid.clone()), 1 => spoilt()];
                    (name, p, value.boxed())
                })
                .collect();
            some_of(fields)
        }

        /// JSON text: arbitrary values nested a little (numbers too large for any type
        /// included), or arrays and objects nested far deeper than a parser recurses.
        fn json() -> impl Strategy<Value = String> {
            let leaf = prop_oneof![
                Just("null".to_owned()),
                any::<bool>().prop_map(|b| b.to_string()),
                any::<i64>().prop_map(|n| n.to_string()),
                any::<f64>().prop_map(|n| n.to_string()),
                proptest::sample::select(
                    &["1e400", "-1e400", "123456789012345678901234567890"][..]
                )
                .prop_map(str::to_owned),
                plausible().prop_map(|s| serde_json::Value::String(s).to_string()),
            ];
            let nested = leaf.prop_recursive(4, 32, 4, |inner| {
                prop_oneof![
                    proptest::collection::vec(inner.clone(), 0..4)
                        .prop_map(|items| format!("[{}]", items.join(","))),
                    proptest::collection::vec((plausible(), inner), 0..4).prop_map(|fields| {
                        let fields: Vec<String> = fields
                            .into_iter()
                            .map(|(k, v)| format!("{}:{v}", serde_json::Value::String(k)))
                            .collect();
                        format!("{{{}}}", fields.join(","))
                    }),
                ]
            });
            let deep = (100..3000_usize, any::<bool>()).prop_map(|(depth, array)| {
                let (open, close) = if array {
                    ("[", "]")
                } else {
                    ("{\"data\":", "}")
                };
                format!("{}1{}", open.repeat(depth), close.repeat(depth))
            });
            prop_oneof![4 => nested, 1 => deep]
        }

        /// A structured-mode body: a JSON object of the attributes, each mostly valid else any
        /// JSON, with or without a content type, data (a string or any JSON) or base64 data
        /// (valid or not), and an extension (mostly a string, integer or boolean, else any
        /// JSON); or any JSON at all.
        fn structured_body() -> impl Strategy<Value = Vec<u8>> {
            let string = |s: String| serde_json::Value::String(s).to_string();
            let base64 = prop_oneof!["([A-Za-z0-9+/]{4}){0,4}", "\\PC{0,8}"].prop_map(string);
            let extension = prop_oneof![
                plausible().prop_map(string),
                any::<i64>().prop_map(|n| n.to_string()),
                any::<bool>().prop_map(|b| b.to_string()),
            ];
            let others = vec![
                (
                    "datacontenttype",
                    0.3,
                    media_type().prop_map(string).boxed(),
                ),
                (
                    "data",
                    0.3,
                    prop_oneof![plausible().prop_map(string), json()].boxed(),
                ),
                ("data_base64", 0.2, base64.boxed()),
                ("ext", 0.3, prop_oneof![4 => extension, 1 => json()].boxed()),
            ];
            let event = (
                mostly_valid(0.95, string, || json().boxed()),
                some_of(others),
            )
                .prop_map(|(attributes, others)| {
                    let fields: Vec<String> = attributes
                        .iter()
                        .chain(&others)
                        .map(|(k, v)| format!("{k:?}:{v}"))
                        .collect();
                    format!("{{{}}}", fields.join(","))
                });
            prop_oneof![3 => event, 1 => json()].prop_map(String::into_bytes)
        }

        /// Bytes that a header value may or may not hold.
        fn header_value() -> impl Strategy<Value = Vec<u8>> {
            prop_oneof![
                plausible().prop_map(String::into_bytes),
                proptest::collection::vec(any::<u8>(), 0..12),
            ]
        }

        /// HTTP headers: some of the `ce-*` ones, mostly valid, `content-type` or not, and
        /// others with arbitrary names and values (those HTTP cannot hold left out).
        fn headers() -> impl Strategy<Value = HeaderMap> {
            let known = mostly_valid(0.5, String::into_bytes, || header_value().boxed());
            let content_type = proptest::option::of(prop_oneof![
                4 => media_type().prop_map(String::into_bytes),
                1 => header_value(),
            ]);
            let other = (
                prop_oneof![
                    "ce-[a-z0-9-]{0,8}",
                    Just("ce-datacontenttype".to_owned()),
                    "\\PC{0,8}"
                ],
                header_value(),
            );
            (known, content_type, proptest::collection::vec(other, 0..4)).prop_map(
                |(known, content_type, others)| {
                    let known = known
                        .into_iter()
                        .map(|(name, value)| (format!("{ATTRIBUTE_PREFIX}{name}"), value));
                    let content_type = content_type.map(|v| ("content-type".to_owned(), v));
                    let mut headers = HeaderMap::new();
                    for (name, value) in known.chain(content_type).chain(others) {
                        if let (Ok(name), Ok(value)) = (
                            HeaderName::from_bytes(name.as_bytes()),
                            HeaderValue::from_bytes(&value),
                        ) {
                            headers.append(name, value);
                        }
                    }
                    headers
                },
            )
        }

        /// An event accepted from a publisher has the attributes the spec requires, and can
        /// be stored as a message.
        fn accepted(
            event: Result<Event, String>,
            others: Vec<(String, String)>,
        ) -> Result<(), TestCaseError> {
            let Ok(event) = event else {
                return Ok(());
            };
            prop_assert!(!event.id().is_empty());
            prop_assert!(!event.ty().is_empty());
            prop_assert!(!event.source().is_empty());
            let message = event_message(event, others, u64::MAX);
            prop_assert!(attribute(&message, "ce-datacontenttype").is_none());
            Ok(())
        }

        /// A valid binary-mode event as a guest publishes it: its attributes (`ce-*` and
        /// plain ones), content type and body.
        type Published = (Vec<(String, String)>, Option<String>, Vec<u8>);

        /// A valid event: a type, and any of the other attributes, extensions, plain
        /// attributes, a content type and a body.
        fn valid_event() -> impl Strategy<Value = Published> {
            let known = attributes(0.5)
                .into_iter()
                .map(|(name, p, value)| (name, if name == "type" { 1.0 } else { p }, value))
                .collect();
            (
                some_of(known),
                proptest::collection::vec(("x[a-z0-9]{0,8}", "[ -~]{0,16}"), 0..3),
                proptest::collection::vec(("[a-z_]{1,8}", "\\PC{0,8}"), 0..3),
                proptest::option::of(media_type()),
                proptest::collection::vec(any::<u8>(), 0..32),
            )
                .prop_map(|(known, extensions, plain, content_type, body)| {
                    let known = known
                        .into_iter()
                        .map(|(name, value)| (name.to_owned(), value));
                    let attributes = known
                        .chain(extensions)
                        .map(|(name, value)| (format!("{ATTRIBUTE_PREFIX}{name}"), value))
                        .chain(plain)
                        .collect();
                    (attributes, content_type, body)
                })
        }

        /// A body: mostly a structured-mode one, else arbitrary bytes.
        fn body() -> impl Strategy<Value = Vec<u8>> {
            prop_oneof![
                3 => structured_body(),
                1 => proptest::collection::vec(any::<u8>(), 0..64),
            ]
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(256))]

            /// Arbitrary headers and a body of arbitrary bytes, JSON or event fields, in binary
            /// or structured mode, give an error or an event with its required attributes that
            /// can be stored, never a panic.
            #[test]
            fn any_http_request_never_panics(
                mut headers in headers(),
                structured in proptest::option::of(proptest::sample::select(&[
                    "application/cloudevents+json",
                    "application/cloudevents+json; charset=utf-8",
                    "application/cloudevents",
                    "application/cloudevents-batch+json",
                ][..])),
                body in body(),
            ) {
                if let Some(content_type) = structured {
                    headers.insert(http::header::CONTENT_TYPE, HeaderValue::from_static(content_type));
                }
                accepted(event_from_http(headers, body, "/default"), Vec::new())?;
            }

            /// Arbitrary guest attributes, content type and body give an error or an event
            /// with its required attributes that can be stored, never a panic.
            #[test]
            fn any_guest_attributes_never_panic(
                known in mostly_valid(0.5, |v| v, || plausible().boxed()),
                others in proptest::collection::vec(
                    (prop_oneof!["ce-[a-z]{0,12}", "ce-\\PC{0,6}", "\\PC{0,8}"], plausible()),
                    0..4,
                ),
                content_type in proptest::option::of(prop_oneof![media_type(), plausible()]),
                body in body(),
                source in plausible(),
            ) {
                let known = known
                    .into_iter()
                    .map(|(name, value)| (format!("{ATTRIBUTE_PREFIX}{name}"), value));
                let attributes = known.chain(others).collect();
                let event = event_from_attributes(attributes, content_type.as_deref(), body, &source);
                let (event, others) = match event {
                    Ok((event, others)) => (Ok(event), others),
                    Err(err) => (Err(err), Vec::new()),
                };
                accepted(event, others)?;
            }

            /// A valid event stored as a message reads back from the message's attributes,
            /// content type and body as the same event, with the same plain attributes.
            #[test]
            fn a_valid_event_round_trips((attributes, content_type, body) in valid_event()) {
                let (event, others) =
                    event_from_attributes(attributes, content_type.as_deref(), body, "/a")
                        .unwrap();
                let message = event_message(event.clone(), others.clone(), 0);
                let (again, others_again) = event_from_attributes(
                    message.attributes,
                    message.content_type.as_deref(),
                    message.body,
                    "/b",
                )
                .unwrap();
                prop_assert_eq!(again, event);
                prop_assert_eq!(others_again, others);
            }
        }
    }
}

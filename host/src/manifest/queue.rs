//! Layer 2, startup step 2: the queue, topic and blob-trigger parts of the manifest:
//! `[[trigger.queue]]`, `[[trigger.topic]]` and `[[trigger.blob]]` (a queue trigger on its
//! container's events). A component's `queues`, `topics` and `blob_containers` grants are
//! checked with the component ([`super::component`]).

use std::collections::{BTreeMap, HashMap};
use std::ops::Range;
use std::time::Duration;

use toml::Spanned;

use super::raw::{RawManifest, RawQueueTrigger};
use super::{Doc, ManifestError, ManifestErrorKind, trigger_component};
use crate::app::{BlobTrigger, QueueTrigger, blob_queue, is_label, subscription_queue};

/// Each topic with subscriptions, and the queues of its subscriptions ([`App::topics`]).
type Topics = BTreeMap<String, Vec<String>>;

/// What [`check_queue_triggers`] gives: every queue trigger (blob triggers included), the
/// topics' subscriptions, and the blob triggers' filters.
pub(super) type QueueTriggers = (Vec<QueueTrigger>, Topics, Vec<BlobTrigger>);

/// The span of a raw trigger field, if it is written, and its name.
type NamedField = (Option<Range<usize>>, &'static str);

/// Checks `[[trigger.queue]]`, `[[trigger.topic]]` and `[[trigger.blob]]`: names, component,
/// and settings in range. Each topic subscription becomes a trigger on its own queue,
/// [`subscription_queue`]`(topic, subscription)`, and each blob trigger one on
/// [`blob_queue`]`(container, subscription)`; returns the triggers, per topic the queues of its
/// subscriptions, and the blob triggers' filters.
pub(super) fn check_queue_triggers(
    doc: &Doc<'_>,
    raw: &RawManifest,
    index: &HashMap<String, usize>,
) -> Result<QueueTriggers, ManifestError> {
    let t = &raw.trigger;
    let mut triggers = Vec::with_capacity(t.queue.len() + t.topic.len() + t.blob.len());
    let mut topics = Topics::new();
    let mut blobs: Vec<BlobTrigger> = Vec::with_capacity(t.blob.len());
    let kinds = [("queue", &t.queue), ("topic", &t.topic), ("blob", &t.blob)];
    for (kind, list) in kinds {
        for (i, spanned) in list.iter().enumerate() {
            let trigger = spanned.get_ref();
            let setting_error = |span: Range<usize>, field, message| {
                doc.error(
                    span,
                    ManifestErrorKind::TriggerSetting {
                        trigger: kind,
                        index: i,
                        field,
                        message,
                    },
                )
            };
            let name = |value: &Spanned<String>, field: &str, what| {
                if is_label(value.get_ref()) {
                    Ok(value.get_ref().clone())
                } else {
                    Err(doc.error(
                        value.span(),
                        ManifestErrorKind::Name {
                            field: format!("trigger.{kind}[{i}].{field}"),
                            what,
                            name: value.get_ref().clone(),
                        },
                    ))
                }
            };
            // The field this kind names its source with, and the ones it does not take.
            let span = |value: &Option<Spanned<String>>| value.as_ref().map(Spanned::span);
            let blob_fields: [NamedField; 4] = [
                (span(&trigger.container), "container"),
                (span(&trigger.prefix), "prefix"),
                (span(&trigger.suffix), "suffix"),
                (trigger.events.as_ref().map(Spanned::span), "events"),
            ];
            let (source, foreign): (_, Vec<NamedField>) = match kind {
                "queue" => {
                    let mut foreign = vec![
                        (span(&trigger.topic), "topic"),
                        (span(&trigger.subscription), "subscription"),
                    ];
                    foreign.extend(blob_fields);
                    (&trigger.queue, foreign)
                }
                "topic" => {
                    let mut foreign = vec![(span(&trigger.queue), "queue")];
                    foreign.extend(blob_fields);
                    (&trigger.topic, foreign)
                }
                _ => (
                    &trigger.container,
                    vec![
                        (span(&trigger.queue), "queue"),
                        (span(&trigger.topic), "topic"),
                    ],
                ),
            };
            if let Some((Some(span), field)) = foreign.iter().find(|(span, _)| span.is_some()) {
                let message = match *field {
                    "topic" => "only a `[[trigger.topic]]` takes this field",
                    "subscription" => {
                        "only a `[[trigger.topic]]` or `[[trigger.blob]]` takes this field"
                    }
                    "queue" => "only a `[[trigger.queue]]` takes this field",
                    _ => "only a `[[trigger.blob]]` takes this field",
                };
                return Err(setting_error(span.clone(), field, message));
            }
            let source_field = if kind == "blob" { "container" } else { kind };
            let Some(source) = source else {
                return Err(setting_error(
                    spanned.span(),
                    source_field,
                    "this field is required",
                ));
            };
            let source_name = name(source, source_field, source_field)?;
            let component = trigger_component(doc, raw, index, kind, i, &trigger.component)?;
            let (queue, topic, default_dead_letter) = if kind == "queue" {
                let dead = format!("{source_name}-dead-letter");
                (source_name, None, dead)
            } else {
                let subscription = match &trigger.subscription {
                    Some(value) => name(value, "subscription", "subscription")?,
                    None => trigger.component.get_ref().clone(),
                };
                let (queue, dead, taken) = if kind == "topic" {
                    let queue = subscription_queue(&source_name, &subscription);
                    let subscriptions = topics.entry(source_name.clone()).or_default();
                    let taken = subscriptions.contains(&queue);
                    subscriptions.push(queue.clone());
                    (
                        queue,
                        format!("{source_name}-{subscription}-dead-letter"),
                        taken,
                    )
                } else {
                    let queue = blob_queue(&source_name, &subscription);
                    let taken = blobs.iter().any(|blob| blob.queue == queue);
                    blobs.push(check_blob_filter(doc, trigger, i, &source_name, &queue)?);
                    let dead = format!("blob-{source_name}-{subscription}-dead-letter");
                    (queue, dead, taken)
                };
                if taken {
                    return Err(doc.error(
                        trigger
                            .subscription
                            .as_ref()
                            .map_or_else(|| trigger.component.span(), Spanned::span),
                        ManifestErrorKind::DuplicateSubscription {
                            trigger: kind,
                            index: i,
                            topic: source_name,
                            subscription,
                        },
                    ));
                }
                (queue, Some(source_name), dead)
            };
            let dead_letter = match &trigger.dead_letter {
                Some(value) => {
                    let dead = name(value, "dead_letter", "queue")?;
                    if dead == queue || topic.as_deref() == Some(dead.as_str()) {
                        return Err(setting_error(
                            value.span(),
                            "dead_letter",
                            "must be another queue than the one the trigger consumes",
                        ));
                    }
                    dead
                }
                None => default_dead_letter,
            };
            let setting = |value: &Option<Spanned<u32>>,
                           field: &'static str,
                           default: u32,
                           range: std::ops::RangeInclusive<u32>,
                           message: &'static str| {
                match value {
                    None => Ok(default),
                    Some(v) if range.contains(v.get_ref()) => Ok(*v.get_ref()),
                    Some(v) => Err(setting_error(v.span(), field, message)),
                }
            };
            let millis = |value: &Option<Spanned<u64>>, default: u64| {
                Duration::from_millis(value.as_ref().map_or(default, |v| *v.get_ref()))
            };
            triggers.push(QueueTrigger {
                queue,
                topic,
                component,
                max_retries: setting(
                    &trigger.max_retries,
                    "max_retries",
                    3,
                    0..=100,
                    "must be 0 to 100",
                )?,
                retry_backoff: millis(&trigger.retry_backoff_ms, 1_000),
                max_retry_backoff: millis(&trigger.max_retry_backoff_ms, 60_000),
                batch_size: setting(
                    &trigger.batch_size,
                    "batch_size",
                    1,
                    1..=1000,
                    "must be 1 to 1000",
                )?,
                max_concurrency: setting(
                    &trigger.max_concurrency,
                    "max_concurrency",
                    1,
                    1..=1000,
                    "must be 1 to 1000",
                )?,
                dead_letter,
            });
        }
    }
    Ok((triggers, topics, blobs))
}

/// The filter of `[[trigger.blob]]` number `index` on `container`, whose events go to `queue`:
/// `prefix`, `suffix`, and `events` (`created`, `deleted`; default `["created"]`).
fn check_blob_filter(
    doc: &Doc<'_>,
    trigger: &RawQueueTrigger,
    index: usize,
    container: &str,
    queue: &str,
) -> Result<BlobTrigger, ManifestError> {
    let text = |value: &Option<Spanned<String>>| {
        value
            .as_ref()
            .map_or_else(String::new, |v| v.get_ref().clone())
    };
    let (mut created, mut deleted) = (false, false);
    match &trigger.events {
        None => created = true,
        Some(events) => {
            let error = |message| {
                doc.error(
                    events.span(),
                    ManifestErrorKind::TriggerSetting {
                        trigger: "blob",
                        index,
                        field: "events",
                        message,
                    },
                )
            };
            for event in events.get_ref() {
                match event.as_str() {
                    "created" => created = true,
                    "deleted" => deleted = true,
                    _ => return Err(error("the events are `created` and `deleted`")),
                }
            }
            if !created && !deleted {
                return Err(error("name at least one event: `created`, `deleted`"));
            }
        }
    }
    Ok(BlobTrigger {
        container: container.to_owned(),
        prefix: text(&trigger.prefix),
        suffix: text(&trigger.suffix),
        created,
        deleted,
        queue: queue.to_owned(),
    })
}

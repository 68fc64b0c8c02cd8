//! Layer 2, startup step 2: the queue and topic parts of the manifest: `[[trigger.queue]]`,
//! `[[trigger.topic]]`, and a component's `queues` and `topics` grants.

use std::collections::{BTreeMap, HashMap};
use std::ops::Range;
use std::time::Duration;

use toml::Spanned;

use super::raw::RawManifest;
use super::{Doc, ManifestError, ManifestErrorKind};
use crate::app::{QueueTrigger, is_label, subscription_queue};

/// Each topic with subscriptions, and the queues of its subscriptions ([`App::topics`]).
type Topics = BTreeMap<String, Vec<String>>;

/// A field of a raw queue or topic trigger, and its name.
type NamedField<'a> = (&'a Option<Spanned<String>>, &'static str);

/// Checks a component's `queues` or `topics` (`field`): valid names, none twice.
pub(super) fn check_queue_grants(
    doc: &Doc<'_>,
    component: &str,
    field: &'static str,
    names: &[Spanned<String>],
) -> Result<Vec<String>, ManifestError> {
    let mut queues: Vec<String> = Vec::with_capacity(names.len());
    for name in names {
        let text = name.get_ref();
        let kind = if !is_label(text) {
            ManifestErrorKind::QueueName {
                field: format!("component.{component}.{field}"),
                what: if field == "topics" { "topic" } else { "queue" },
                name: text.clone(),
            }
        } else if queues.contains(text) {
            ManifestErrorKind::DuplicateQueue {
                component: component.to_owned(),
                field,
                name: text.clone(),
            }
        } else {
            queues.push(text.clone());
            continue;
        };
        return Err(doc.error(name.span(), kind));
    }
    Ok(queues)
}

/// Checks `[[trigger.queue]]` and `[[trigger.topic]]`: names, component, and settings in
/// range. Each topic subscription becomes a trigger on its own queue,
/// [`subscription_queue`]`(topic, subscription)`; returns the triggers and, per topic, the
/// queues of its subscriptions.
pub(super) fn check_queue_triggers(
    doc: &Doc<'_>,
    raw: &RawManifest,
    index: &HashMap<String, usize>,
) -> Result<(Vec<QueueTrigger>, Topics), ManifestError> {
    let mut triggers = Vec::with_capacity(raw.trigger.queue.len() + raw.trigger.topic.len());
    let mut topics = Topics::new();
    let kinds = [("queue", &raw.trigger.queue), ("topic", &raw.trigger.topic)];
    for (kind, list) in kinds {
        for (i, spanned) in list.iter().enumerate() {
            let trigger = spanned.get_ref();
            let setting_error = |span: Range<usize>, field, message| {
                doc.error(
                    span,
                    ManifestErrorKind::QueueSetting {
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
                        ManifestErrorKind::QueueName {
                            field: format!("trigger.{kind}[{i}].{field}"),
                            what,
                            name: value.get_ref().clone(),
                        },
                    ))
                }
            };
            // The field this kind names its source with, and the ones it does not take.
            let (source, foreign): (_, &[NamedField<'_>]) = if kind == "queue" {
                (
                    &trigger.queue,
                    &[
                        (&trigger.topic, "topic"),
                        (&trigger.subscription, "subscription"),
                    ],
                )
            } else {
                (&trigger.topic, &[(&trigger.queue, "queue")])
            };
            if let Some((value, field)) = foreign.iter().find(|(value, _)| value.is_some()) {
                let span = value.as_ref().map_or(0..0, Spanned::span);
                let message = if kind == "queue" {
                    "only a `[[trigger.topic]]` takes this field"
                } else {
                    "only a `[[trigger.queue]]` takes this field"
                };
                return Err(setting_error(span, field, message));
            }
            let Some(source) = source else {
                return Err(setting_error(
                    spanned.span(),
                    kind,
                    "this field is required",
                ));
            };
            let source_name = name(source, kind, kind)?;
            let component = *index.get(trigger.component.get_ref()).ok_or_else(|| {
                doc.error(
                    trigger.component.span(),
                    ManifestErrorKind::UnknownComponent {
                        trigger: kind,
                        index: i,
                        id: trigger.component.get_ref().clone(),
                        defined: raw.component.keys().map(|k| k.get_ref().clone()).collect(),
                    },
                )
            })?;
            let (queue, topic, default_dead_letter) = if kind == "queue" {
                let dead = format!("{source_name}-dead-letter");
                (source_name, None, dead)
            } else {
                let subscription = match &trigger.subscription {
                    Some(value) => name(value, "subscription", "subscription")?,
                    None => trigger.component.get_ref().clone(),
                };
                let queue = subscription_queue(&source_name, &subscription);
                let subscriptions = topics.entry(source_name.clone()).or_default();
                if subscriptions.contains(&queue) {
                    return Err(doc.error(
                        trigger
                            .subscription
                            .as_ref()
                            .map_or_else(|| trigger.component.span(), Spanned::span),
                        ManifestErrorKind::DuplicateSubscription {
                            index: i,
                            topic: source_name,
                            subscription,
                        },
                    ));
                }
                subscriptions.push(queue.clone());
                let dead = format!("{source_name}-{subscription}-dead-letter");
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
    Ok((triggers, topics))
}

//! The queue capability: `wasmhost:host/queue` (send, and publish to a [`topic`]), over one
//! [`QueueBackend`] per queue:
//! [`sled`] (embedded, the default) or [`redis`] (Redis Streams, shared by several nodes),
//! chosen per queue in the runtime config. The delivery rules are in `wit/wasmhost.wit`
//! (`queue-types`) and the consumer side is [`crate::trigger::queue`].
//!
//! Startup: [`Queues::open`] opens every queue the app names (in a component's `queues`, in a
//! `[[trigger.queue]]`, as a dead-letter queue, or as a topic subscription's queue), moving
//! the messages a crashed run left in flight back to pending, and [`Queues::grants`] resolves
//! each component's `queues` and `topics` once.
//!
//! Per request: `send` compares the queue name with the few granted ones (an ungranted name is
//! `access-denied`, whether or not such a queue exists), checks the message, adds the
//! invocation's W3C `traceparent` attribute, stores it durably, and wakes the queue's
//! consumers.

pub mod redis;
pub mod sled;
pub mod topic;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use tokio::sync::Notify;
use wasmtime::component::{HasData, Linker};

use crate::app::{App, Component};
use crate::bindings::wasmhost::host::{queue, queue_types};
use crate::capability::BackendError;
use crate::metrics::{Metrics, QueueMetrics};
use crate::runtime_config::{RuntimeConfig, StoreBackend};
use crate::trace::TraceContext;
use topic::OpenTopic;

/// The largest message body, in bytes: 1 MiB.
pub const MAX_BODY_BYTES: usize = 1 << 20;
/// The most attributes a message may have: 64.
pub const MAX_ATTRIBUTES: usize = 64;
/// The attribute that carries the sender's W3C `traceparent`.
pub const TRACEPARENT_ATTRIBUTE: &str = "traceparent";

/// A message as a backend stores it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct StoredMessage {
    /// Unique within its queue, given by the backend on `send` (0 before).
    pub id: u64,
    /// The payload.
    pub body: Vec<u8>,
    /// Its media type.
    pub content_type: Option<String>,
    /// Its attributes.
    pub attributes: Vec<(String, String)>,
    /// Deliveries that failed so far (0 until the first failure).
    pub failures: u32,
    /// When it was first sent, in ms since the Unix epoch.
    pub first_enqueued_ms: u64,
    /// Not to be delivered before this, in ms since the Unix epoch.
    pub due_ms: u64,
    /// The last failure's text, if any.
    pub last_error: Option<String>,
    /// The backend's handle on this delivery (the Redis stream entry id), set by `receive`;
    /// not stored.
    #[serde(skip)]
    pub receipt: String,
}

impl StoredMessage {
    /// A new message with `body`, `content_type` and `attributes`, due `delay_ms` from now.
    pub fn new(
        body: Vec<u8>,
        content_type: Option<String>,
        attributes: Vec<(String, String)>,
        delay_ms: u64,
    ) -> Self {
        let now = sled::now_ms();
        Self {
            id: 0,
            body,
            content_type,
            attributes,
            failures: 0,
            first_enqueued_ms: now,
            due_ms: now.saturating_add(delay_ms),
            last_error: None,
            receipt: String::new(),
        }
    }
}

/// A queue's backend. Every operation is atomic; `send` is durable when it returns.
#[async_trait::async_trait]
pub trait QueueBackend: Send + Sync + 'static {
    /// Stores `messages` in order, durable together; returns their new ids.
    async fn send(&self, messages: Vec<StoredMessage>) -> Result<Vec<u64>, BackendError>;
    /// Takes up to `max` due messages, oldest first, and holds them in flight.
    async fn receive(&self, max: usize) -> Result<Vec<StoredMessage>, BackendError>;
    /// Forgets in-flight messages (as `receive` returned them) for good: handled, or
    /// dead-lettered.
    async fn ack(&self, messages: &[StoredMessage]) -> Result<(), BackendError>;
    /// Puts an in-flight message back in the queue as `message` says (its new `due_ms`,
    /// `failures` and `last_error`).
    async fn retry(&self, message: &StoredMessage) -> Result<(), BackendError>;
    /// When the first pending message is due (ms since the Unix epoch), if there is one.
    async fn next_due_ms(&self) -> Result<Option<u64>, BackendError>;
    /// Up to `max` pending messages, in queue order, without taking them.
    async fn peek(&self, max: usize) -> Result<Vec<StoredMessage>, BackendError>;
    /// Pending and in-flight counts (for metrics; may scan).
    async fn depth(&self) -> Result<(u64, u64), BackendError>;
    /// Checks that the backend answers.
    async fn ping(&self) -> Result<(), BackendError>;
}

/// An open queue: its name, backend, the wake-up of its consumers, and its metrics.
pub struct OpenQueue {
    /// The queue's name.
    pub name: Arc<str>,
    /// Where it lives, for logs: `sled <dir>` or `redis <url> prefix <p>` (no password).
    pub description: String,
    /// The backend.
    pub backend: Arc<dyn QueueBackend>,
    /// Woken (`notify_waiters`) after each send, so an idle consumer takes the message at once.
    pub sent: Notify,
    /// Its counters and gauges.
    pub metrics: QueueMetrics,
}

impl OpenQueue {
    /// Sends `messages` durably, counts them and wakes the consumers; returns their ids.
    ///
    /// # Errors
    /// The backend's.
    pub async fn send(&self, messages: Vec<StoredMessage>) -> Result<Vec<u64>, BackendError> {
        let count = messages.len() as u64;
        let ids = self.backend.send(messages).await?;
        self.metrics.sent.inc_by(count);
        self.sent.notify_waiters();
        Ok(ids)
    }
}

/// Every queue and topic the app uses, opened at startup, by name.
#[derive(Default)]
pub struct Queues {
    queues: BTreeMap<String, Arc<OpenQueue>>,
    topics: BTreeMap<String, Arc<OpenTopic>>,
    /// The sled databases opened so far, by directory (sled locks a directory to one opener).
    sled_dbs: BTreeMap<PathBuf, ::sled::Db>,
}

impl Queues {
    /// Opens every queue `app` names where `config` says (by default sled, under
    /// `.wasmhost/queues` next to the manifest), the queues of topic subscriptions included
    /// (where the topic's `[topic.<name>]` says); each counts in `metrics`. Redis queues
    /// connect lazily.
    ///
    /// # Errors
    /// A sled database that cannot be opened (held by another process, no permission), or a
    /// queue whose trees cannot be opened or recovered.
    pub fn open(app: &App, config: &RuntimeConfig, metrics: &Metrics) -> Result<Self> {
        Self::default().reopen(app, config, metrics)
    }

    /// The queues and topics of `app` (a new version of the app these were opened for): the
    /// queues open here are shared, as they are (their in-flight messages stay in flight for
    /// the handlers still running); only the ones `app` newly names are opened, as
    /// [`Queues::open`] does.
    ///
    /// # Errors
    /// As [`Queues::open`], for the queues opened now.
    pub fn reopen(&self, app: &App, config: &RuntimeConfig, metrics: &Metrics) -> Result<Self> {
        let mut names: Vec<&str> = app
            .components
            .iter()
            .flat_map(|c| c.queues.iter().map(String::as_str))
            .collect();
        for trigger in &app.queue_triggers {
            names.extend([trigger.queue.as_str(), trigger.dead_letter.as_str()]);
        }
        names.sort_unstable();
        names.dedup();
        let mut sled_dbs = self.sled_dbs.clone();
        let mut queues = BTreeMap::new();
        for name in names {
            if let Some(open) = self.queues.get(name) {
                queues.insert(name.to_owned(), open.clone());
                continue;
            }
            let settings = config.queue_backend(name, app.base_dir());
            let (description, backend): (String, Arc<dyn QueueBackend>) = match &settings.backend {
                StoreBackend::Sled { path } => {
                    let db = match sled_dbs.get(path) {
                        Some(db) => db.clone(),
                        None => {
                            let db = sled::open_db(path)?;
                            sled_dbs.insert(path.clone(), db.clone());
                            db
                        }
                    };
                    let queue = sled::SledQueue::open(&db, name)
                        .with_context(|| format!("queue `{name}`: cannot open it"))?;
                    (format!("sled {}", path.display()), Arc::new(queue))
                }
                StoreBackend::Redis { url, prefix } => {
                    let queue =
                        redis::RedisQueue::open(url, prefix, name, settings.visibility_timeout)
                            .with_context(|| format!("queue `{name}`"))?;
                    (format!("redis {url} prefix {prefix}"), Arc::new(queue))
                }
            };
            tracing::info!(queue = name, backend = %description, "queue open");
            queues.insert(
                name.to_owned(),
                Arc::new(OpenQueue {
                    name: name.into(),
                    description,
                    backend,
                    sent: Notify::new(),
                    metrics: metrics.queue(name),
                }),
            );
        }
        let mut topics: BTreeMap<String, Arc<OpenTopic>> = BTreeMap::new();
        let granted = app.components.iter().flat_map(|c| c.topics.iter());
        for name in app.topics.keys().chain(granted) {
            topics.entry(name.clone()).or_insert_with(|| {
                let subscriptions = app.topics.get(name).map_or(&[][..], Vec::as_slice);
                if subscriptions.is_empty() {
                    tracing::warn!(topic = %name, "topic has no subscription: events published to it are kept nowhere");
                }
                Arc::new(OpenTopic {
                    name: name.as_str().into(),
                    subscriptions: subscriptions.iter().map(|q| queues[q].clone()).collect(),
                })
            });
        }
        Ok(Self {
            queues,
            topics,
            sled_dbs,
        })
    }

    /// The queue `name`.
    ///
    /// # Panics
    /// If it was not opened; [`Queues::open`] opens every queue the app names.
    pub fn get(&self, name: &str) -> &Arc<OpenQueue> {
        &self.queues[name]
    }

    /// Every open queue.
    pub fn all(&self) -> impl Iterator<Item = &Arc<OpenQueue>> {
        self.queues.values()
    }

    /// The topic `name`, if the app names it (in a `topics` grant or a `[[trigger.topic]]`).
    pub fn topic(&self, name: &str) -> Option<&Arc<OpenTopic>> {
        self.topics.get(name)
    }

    /// What `component` of app `app_name` may send to (`queues = [..]`) and publish to
    /// (`topics = [..]`, its events' default `source` being `/<app>/<component>`).
    pub fn grants(&self, app_name: &str, component: &Component) -> QueueGrants {
        QueueGrants(Arc::new(GrantedQueues {
            queues: component
                .queues
                .iter()
                .map(|name| self.get(name).clone())
                .collect(),
            topics: component
                .topics
                .iter()
                .map(|name| self.topics[name].clone())
                .collect(),
            source: format!("/{app_name}/{}", component.id),
        }))
    }
}

/// The queues and topics one component may use; cloning is an `Arc` increment.
#[derive(Clone, Default)]
pub struct QueueGrants(Arc<GrantedQueues>);

/// What [`QueueGrants`] holds.
#[derive(Default)]
pub struct GrantedQueues {
    queues: Vec<Arc<OpenQueue>>,
    topics: Vec<Arc<OpenTopic>>,
    /// The CloudEvents `source` of the events the component publishes, unless it gives one.
    source: String,
}

/// The per-instance view the generated traits are implemented on.
pub struct QueueView<'a> {
    /// What the instance's component may send to.
    pub grants: &'a QueueGrants,
    /// The invocation's trace context, written into every message as `traceparent`.
    pub trace: &'a TraceContext,
}

impl QueueView<'_> {
    /// Checks and converts one guest message, adding the `traceparent` attribute.
    fn message(&self, message: queue_types::Message) -> Result<StoredMessage, queue_types::Error> {
        let message = self.checked(message)?;
        Ok(StoredMessage::new(
            message.body,
            message.content_type,
            message.attributes,
            message.delay_ms.unwrap_or(0),
        ))
    }

    /// Checks one guest message for a topic and makes it a CloudEvent
    /// ([`topic::event_from_attributes`]) with the `traceparent` attribute; returns it and the
    /// event's id.
    fn event(
        &self,
        message: queue_types::Message,
    ) -> Result<(StoredMessage, String), queue_types::Error> {
        let message = self.checked(message)?;
        let (event, others) = topic::event_from_attributes(
            message.attributes,
            message.content_type.as_deref(),
            message.body,
            &self.grants.0.source,
        )
        .map_err(queue_types::Error::Invalid)?;
        let id = cloudevents::AttributesReader::id(&event).to_owned();
        Ok((
            topic::event_message(event, others, message.delay_ms.unwrap_or(0)),
            id,
        ))
    }

    /// Checks a guest message's limits and attribute names, and sets its `traceparent`.
    fn checked(
        &self,
        message: queue_types::Message,
    ) -> Result<queue_types::Message, queue_types::Error> {
        if message.body.len() > MAX_BODY_BYTES {
            return Err(queue_types::Error::Invalid(format!(
                "the body is {} bytes; the limit is {MAX_BODY_BYTES}",
                message.body.len()
            )));
        }
        if message.attributes.len() > MAX_ATTRIBUTES {
            return Err(queue_types::Error::Invalid(format!(
                "{} attributes; the limit is {MAX_ATTRIBUTES}",
                message.attributes.len()
            )));
        }
        if let Some((name, _)) = message.attributes.iter().find(|(name, _)| name.is_empty()) {
            return Err(queue_types::Error::Invalid(format!(
                "attribute name `{name}` is empty"
            )));
        }
        let mut attributes: Vec<(String, String)> = message
            .attributes
            .into_iter()
            .filter(|(name, _)| name != TRACEPARENT_ATTRIBUTE)
            .collect();
        attributes.push((TRACEPARENT_ATTRIBUTE.to_owned(), self.trace.traceparent()));
        Ok(queue_types::Message {
            attributes,
            ..message
        })
    }

    fn queue(&self, name: &str) -> Result<&Arc<OpenQueue>, queue_types::Error> {
        self.grants
            .0
            .queues
            .iter()
            .find(|queue| *queue.name == *name)
            .ok_or(queue_types::Error::AccessDenied)
    }
}

fn backend_error(queue: &str, err: BackendError) -> queue_types::Error {
    match err {
        BackendError::Invalid(message) => queue_types::Error::Invalid(message),
        BackendError::Unavailable(message) => {
            tracing::warn!(queue, "queue send failed: {message}");
            queue_types::Error::Unavailable(format!("queue `{queue}` is unavailable: {message}"))
        }
    }
}

impl queue_types::Host for QueueView<'_> {}

impl queue::Host for QueueView<'_> {
    async fn send(
        &mut self,
        queue: String,
        message: queue_types::Message,
    ) -> wasmtime::Result<Result<String, queue_types::Error>> {
        Ok(self
            .send_batch(queue, vec![message])
            .await?
            .map(|mut ids| ids.remove(0)))
    }

    async fn send_batch(
        &mut self,
        queue: String,
        messages: Vec<queue_types::Message>,
    ) -> wasmtime::Result<Result<Vec<String>, queue_types::Error>> {
        let queue = match self.queue(&queue) {
            Ok(queue) => queue.clone(),
            Err(err) => return Ok(Err(err)),
        };
        let messages: Result<Vec<_>, _> = messages.into_iter().map(|m| self.message(m)).collect();
        let messages = match messages {
            Ok(messages) => messages,
            Err(err) => return Ok(Err(err)),
        };
        Ok(match queue.send(messages).await {
            Ok(ids) => Ok(ids.iter().map(u64::to_string).collect()),
            Err(err) => Err(backend_error(&queue.name, err)),
        })
    }

    async fn publish(
        &mut self,
        topic: String,
        message: queue_types::Message,
    ) -> wasmtime::Result<Result<String, queue_types::Error>> {
        let Some(topic) = self
            .grants
            .0
            .topics
            .iter()
            .find(|t| *t.name == *topic)
            .cloned()
        else {
            return Ok(Err(queue_types::Error::AccessDenied));
        };
        let (message, id) = match self.event(message) {
            Ok(event) => event,
            Err(err) => return Ok(Err(err)),
        };
        Ok(match topic.publish(message).await {
            Ok(()) => Ok(id),
            Err((queue, err)) => Err(backend_error(&queue, err)),
        })
    }
}

/// [`HasData`] marker for the queue imports.
struct HasQueue;

impl HasData for HasQueue {
    type Data<'a> = QueueView<'a>;
}

/// Adds the queue imports to `linker`; `view` borrows the instance's [`QueueView`].
///
/// # Errors
/// An import already defined in `linker`.
pub fn add_to_linker<T: Send + 'static>(
    linker: &mut Linker<T>,
    view: fn(&mut T) -> QueueView<'_>,
) -> Result<()> {
    queue_types::add_to_linker::<_, HasQueue>(linker, view)?;
    queue::add_to_linker::<_, HasQueue>(linker, view)?;
    Ok(())
}

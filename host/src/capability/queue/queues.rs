//! Startup, for the queue capability: [`Open::open`] opens every queue the app names (in a
//! component's `queues`, in a `[[trigger.queue]]`, as a dead-letter queue, or as a topic
//! subscription's queue), moving the messages a crashed run left in flight back to pending,
//! and [`Queues::grants`] resolves each component's `queues` and `topics` once.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use tokio::sync::Notify;

use super::backend::{QueueBackend, StoredMessage};
use super::redis::RedisQueue;
use super::sled::SledQueue;
use super::topic::OpenTopic;
use crate::app::{App, Component, ComponentId};
use crate::capability::Open;
use crate::capability::backend::{BackendContext, BackendError};
use crate::metrics::QueueMetrics;
use crate::runtime_config::Backend;

/// An open queue: its name, backend, the wake-up of its consumers, and its metrics.
pub struct OpenQueue {
    /// The queue's name.
    pub name: Arc<str>,
    /// Where it lives, for logs: `sled <dir>` or `redis <url> prefix <p>` (no password).
    pub description: String,
    /// The backend.
    pub backend: Arc<dyn QueueBackend>,
    /// How long a taken message stays in flight without a renewal (`visibility_timeout_ms`);
    /// a consumer renews every third of it while its handler runs.
    pub visibility: Duration,
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
    context: BackendContext,
}

impl Queues {
    /// The queue `name`.
    ///
    /// # Panics
    /// If it was not opened; [`Open::open`] opens every queue the app names.
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
            component: Some(component.id.clone()),
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

/// Opened at startup: every queue the app names, where the runtime config says (by default sled,
/// under `.wasmhost/queues` next to the manifest), the queues of topic subscriptions included
/// (where the topic's `[topic.<name>]` says). Redis queues connect lazily.
impl Open for Queues {
    fn empty(context: BackendContext) -> Self {
        Self {
            context,
            ..Self::default()
        }
    }

    /// The queues and topics of `app` (a new version of the app these were opened for): the
    /// queues open here are shared, as they are (their in-flight messages stay in flight for
    /// the handlers still running); only the ones `app` newly names are opened, as
    /// [`Open::open`] does.
    ///
    /// # Errors
    /// As [`Open::open`], for the queues opened now.
    async fn reopen(&self, app: &App) -> Result<Self> {
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
        let mut context = self.context.clone();
        let mut queues = BTreeMap::new();
        for name in names {
            if let Some(open) = self.queues.get(name) {
                queues.insert(name.to_owned(), open.clone());
                continue;
            }
            let settings = context.config.queue_backend(name, app.base_dir());
            let (description, backend): (String, Arc<dyn QueueBackend>) = match &settings.backend {
                Backend::Sled { path } => {
                    let db = context.sled.open(path)?;
                    let queue = SledQueue::open(&db, name, settings.visibility_timeout)
                        .with_context(|| format!("queue `{name}`: cannot open it"))?;
                    (format!("sled {}", path.display()), Arc::new(queue))
                }
                Backend::Redis { url, prefix } => {
                    let node = context.config.node_name();
                    let visibility = settings.visibility_timeout;
                    let queue = Arc::new(
                        RedisQueue::open(url, prefix, name, &node, visibility)
                            .with_context(|| format!("queue `{name}`"))?,
                    );
                    warn_if_not_durable(name, queue.clone());
                    (format!("redis {url} prefix {prefix}"), queue)
                }
            };
            tracing::info!(queue = name, backend = %description, "queue open");
            queues.insert(
                name.to_owned(),
                Arc::new(OpenQueue {
                    name: name.into(),
                    description,
                    backend,
                    visibility: settings.visibility_timeout,
                    sent: Notify::new(),
                    metrics: context.metrics.queue(name),
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
            context,
        })
    }
}

/// Logs, once the server answers (on a task of its own, so startup does not wait for Redis),
/// a warning if queue `name`'s backend could lose acknowledged messages.
fn warn_if_not_durable(name: &str, backend: Arc<dyn QueueBackend>) {
    let name = name.to_owned();
    tokio::spawn(async move {
        match backend.durability_warning().await {
            Ok(Some(warning)) => tracing::warn!(queue = %name, "queue `{name}`: {warning}"),
            Ok(None) => {}
            Err(err) => {
                tracing::debug!(queue = %name, "cannot read the queue's persistence settings: {err}")
            }
        }
    });
}

/// The queues and topics one component may use; cloning is an `Arc` increment.
#[derive(Clone, Default)]
pub struct QueueGrants(pub(super) Arc<GrantedQueues>);

/// What [`QueueGrants`] holds.
#[derive(Default)]
pub struct GrantedQueues {
    /// The component, for log lines (none only in an empty default).
    pub(super) component: Option<ComponentId>,
    pub(super) queues: Vec<Arc<OpenQueue>>,
    pub(super) topics: Vec<Arc<OpenTopic>>,
    /// The CloudEvents `source` of the events the component publishes, unless it gives one.
    pub(super) source: String,
}

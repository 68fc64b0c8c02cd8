//! Layer 6, beside the triggers: what an operator does to an app's queues and cron triggers,
//! shared by the admin endpoints ([`crate::admin`], while the app serves) and `wasmhost queue`
//! and `wasmhost cron` ([`crate::lifecycle::operate`], on the backends directly):
//!
//! - [`send`] one message to a queue, durably, as a guest's `send` does;
//! - [`peek`] at the waiting messages of a queue, or at its trigger's [`dead_letters`];
//! - [`redrive`] the dead letters of a queue back to it, for a fresh set of attempts;
//! - [`run_cron`]: run a cron trigger once, now, through the one invocation recipe.
//!
//! Messages are shown as [`MessageView`]s. Every error is an [`OperateError`], whose kind says
//! what the admin endpoints answer (404, 400, 503, 500).
//!
//! The workflow management API's shapes, shared the same way, are in [`workflows`].

pub mod workflows;

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::app::App;
use crate::app_version::AppVersion;
use crate::capability::queue::{OpenQueue, Queues, StoredMessage, check_message};
use crate::trigger::queue::{ATTEMPTS_ATTRIBUTE, ERROR_ATTRIBUTE};

/// Why an operation failed; its message names the queue or trigger, and lists the valid ones
/// where the name was wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OperateError {
    /// The app names no such queue or cron trigger, or the queue has no dead-letter queue
    /// (admin: 404).
    #[error("{0}")]
    NotFound(String),
    /// The request itself is malformed, such as an attribute without `=` (admin: 400).
    #[error("{0}")]
    BadRequest(String),
    /// A queue's backend failed (admin: 503).
    #[error("{0}")]
    Backend(String),
    /// A cron run returned `err`, trapped or ran out of time (admin: 500).
    #[error("{0}")]
    Failed(String),
}

/// One queue message as `peek` and `dead-letters` show it (one JSON object per line on the
/// command line, a JSON array from the admin endpoints).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageView {
    /// The message's id in its queue.
    pub id: String,
    /// The body, as UTF-8 (invalid bytes replaced by U+FFFD).
    pub body: String,
    /// The content type the sender gave, if any.
    pub content_type: Option<String>,
    /// The attributes, by name.
    pub attributes: serde_json::Map<String, serde_json::Value>,
    /// Deliveries that failed so far.
    pub attempts: u32,
    /// When it was first sent: RFC 3339, UTC, in ms.
    pub first_enqueued: Option<String>,
    /// When it is (or was) due for delivery: RFC 3339, UTC, in ms.
    pub due: Option<String>,
    /// The last failure's reason, if any.
    pub last_error: Option<String>,
}

/// `ms` (since the Unix epoch) as an RFC 3339 time in UTC, in ms (`2026-01-01T00:00:00.000Z`);
/// `None` past the year 262 143.
pub fn rfc3339_ms(ms: u64) -> Option<String> {
    chrono::DateTime::from_timestamp_millis(i64::try_from(ms).unwrap_or(i64::MAX))
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
}

impl From<&StoredMessage> for MessageView {
    fn from(message: &StoredMessage) -> Self {
        Self {
            id: message.id.to_string(),
            body: String::from_utf8_lossy(&message.body).into_owned(),
            content_type: message.content_type.clone(),
            attributes: message
                .attributes
                .iter()
                .map(|(n, v)| (n.clone(), serde_json::Value::String(v.clone())))
                .collect(),
            attempts: message.failures,
            first_enqueued: rfc3339_ms(message.first_enqueued_ms),
            due: rfc3339_ms(message.due_ms),
            last_error: message.last_error.clone(),
        }
    }
}

/// What a redrive did: `moved` messages from dead-letter queue `from` to queue `to`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Redriven {
    /// How many messages moved.
    pub moved: usize,
    /// The dead-letter queue they left.
    pub from: String,
    /// The queue they went back to.
    pub to: String,
}

/// One message to send, as `wasmhost queue send` and the admin endpoint take it.
#[derive(Debug, Clone, Default)]
pub struct Outgoing {
    /// The body.
    pub body: Vec<u8>,
    /// The content type, if any.
    pub content_type: Option<String>,
    /// Attributes as `NAME=VALUE`, split here.
    pub attributes: Vec<String>,
    /// Deliver no sooner than this many milliseconds from now.
    pub delay_ms: u64,
}

/// The open queue `name` of `queues`.
///
/// # Errors
/// [`OperateError::NotFound`] listing the queues the app names.
pub fn find_queue<'a>(queues: &'a Queues, name: &str) -> Result<&'a Arc<OpenQueue>, OperateError> {
    queues.all().find(|q| *q.name == *name).ok_or_else(|| {
        let names: Vec<&str> = queues.all().map(|q| &*q.name).collect();
        OperateError::NotFound(format!(
            "the app names no queue `{name}`; its queues are: {}",
            names.join(", ")
        ))
    })
}

/// The dead-letter queue of the trigger that consumes `queue`.
///
/// # Errors
/// [`OperateError::NotFound`]: no `[[trigger.queue]]` consumes it.
pub fn dead_letter_queue<'a>(app: &'a App, queue: &str) -> Result<&'a str, OperateError> {
    app.queue_triggers
        .iter()
        .find(|t| t.queue == queue)
        .map(|t| t.dead_letter.as_str())
        .ok_or_else(|| {
            OperateError::NotFound(format!(
                "no `[[trigger.queue]]` consumes queue `{queue}`, so it has no dead-letter queue"
            ))
        })
}

/// `queue`'s backend failure, naming it.
fn failed(queue: &OpenQueue, err: impl std::fmt::Display) -> OperateError {
    OperateError::Backend(format!(
        "queue `{}` ({}): {err}",
        queue.name, queue.description
    ))
}

/// Sends `message` to queue `queue`, durably; returns its id.
///
/// # Errors
/// An unknown queue, a malformed attribute, a backend failure.
pub async fn send(queues: &Queues, queue: &str, message: Outgoing) -> Result<u64, OperateError> {
    let queue = find_queue(queues, queue)?;
    let attributes = message
        .attributes
        .iter()
        .map(|a| {
            a.split_once('=')
                .map(|(n, v)| (n.to_owned(), v.to_owned()))
                .ok_or_else(|| {
                    OperateError::BadRequest(format!("attribute `{a}`: expected NAME=VALUE"))
                })
        })
        .collect::<Result<Vec<_>, _>>()?;
    check_message(&message.body, message.content_type.as_deref(), &attributes)
        .map_err(OperateError::BadRequest)?;
    let stored = StoredMessage::new(
        message.body,
        message.content_type,
        attributes,
        message.delay_ms,
    );
    let ids = queue
        .send(vec![stored])
        .await
        .map_err(|err| failed(queue, err))?;
    Ok(ids[0])
}

/// Up to `max` waiting messages of queue `queue` (due or delayed), oldest first, left in place.
///
/// # Errors
/// An unknown queue, a backend failure.
pub async fn peek(
    queues: &Queues,
    queue: &str,
    max: usize,
) -> Result<Vec<MessageView>, OperateError> {
    let queue = find_queue(queues, queue)?;
    let messages = queue
        .backend
        .peek(max)
        .await
        .map_err(|err| failed(queue, err))?;
    Ok(messages.iter().map(MessageView::from).collect())
}

/// Up to `max` messages of the dead-letter queue of `queue`'s trigger, oldest first.
///
/// # Errors
/// No trigger consumes `queue`, a backend failure.
pub async fn dead_letters(
    app: &App,
    queues: &Queues,
    queue: &str,
    max: usize,
) -> Result<Vec<MessageView>, OperateError> {
    peek(queues, dead_letter_queue(app, queue)?, max).await
}

/// Moves up to `max` due messages of the dead-letter queue of `queue`'s trigger back to
/// `queue`, without the `wasmhost-error` and `wasmhost-attempts` attributes: each is stored in
/// `queue` before it leaves the dead-letter queue, so a failure in between leaves a copy in
/// both, never in neither.
///
/// # Errors
/// An unknown queue, no trigger consuming it, a backend failure.
pub async fn redrive(
    app: &App,
    queues: &Queues,
    queue: &str,
    max: usize,
) -> Result<Redriven, OperateError> {
    let target = find_queue(queues, queue)?;
    let dead = find_queue(queues, dead_letter_queue(app, queue)?)?;
    let mut moved = 0;
    while moved < max {
        let received = dead
            .backend
            .receive((max - moved).min(100))
            .await
            .map_err(|err| failed(dead, err))?;
        // An entry that does not decode goes back as its bytes.
        let undecodable = received.undecodable.into_iter().map(|bad| bad.entry);
        let batch: Vec<StoredMessage> = received.messages.into_iter().chain(undecodable).collect();
        if batch.is_empty() {
            break;
        }
        let fresh = batch
            .iter()
            .map(|message| {
                let mut fresh = StoredMessage::new(
                    message.body.clone(),
                    message.content_type.clone(),
                    message.attributes.clone(),
                    0,
                );
                fresh
                    .attributes
                    .retain(|(n, _)| n != ERROR_ATTRIBUTE && n != ATTEMPTS_ATTRIBUTE);
                fresh.first_enqueued_ms = message.first_enqueued_ms;
                fresh
            })
            .collect();
        target
            .send(fresh)
            .await
            .map_err(|err| failed(target, err))?;
        dead.backend
            .ack(&batch)
            .await
            .map_err(|err| failed(dead, err))?;
        moved += batch.len();
    }
    Ok(Redriven {
        moved,
        from: dead.name.to_string(),
        to: target.name.to_string(),
    })
}

/// The name of cron trigger `index` (in `[[trigger.cron]]` order): its component's id, or
/// `<component>#<n>` (`n` from 1, in manifest order) when that component has several cron
/// triggers.
pub fn cron_trigger_name(app: &App, index: usize) -> String {
    let component = app.cron_triggers[index].component;
    let id = &app.components[component].id;
    let same: Vec<usize> = (0..app.cron_triggers.len())
        .filter(|&i| app.cron_triggers[i].component == component)
        .collect();
    if same.len() == 1 {
        return id.to_string();
    }
    let n = same.iter().position(|&i| i == index).unwrap_or_default() + 1;
    format!("{id}#{n}")
}

/// The index of the cron trigger called `name` ([`cron_trigger_name`]).
///
/// # Errors
/// [`OperateError::NotFound`] listing each cron trigger of the app with its schedule.
pub fn find_cron_trigger(app: &App, name: &str) -> Result<usize, OperateError> {
    let names: Vec<String> = (0..app.cron_triggers.len())
        .map(|index| cron_trigger_name(app, index))
        .collect();
    names.iter().position(|n| n == name).ok_or_else(|| {
        let valid = if names.is_empty() {
            "it has none".to_owned()
        } else {
            let listed: Vec<String> = names
                .iter()
                .zip(&app.cron_triggers)
                .map(|(n, t)| format!("`{n}` ({})", t.expression))
                .collect();
            format!("its cron triggers are: {}", listed.join(", "))
        };
        OperateError::NotFound(format!(
            "app `{}` has no cron trigger `{name}`; {valid}",
            app.name
        ))
    })
}

/// Runs cron trigger `name` of `version` once, now (the tick is the current time), through
/// the invocation recipe, as a scheduled tick runs: a fresh instance, the component's limits
/// and grants, counted and logged. It runs beside a scheduled run that may be going.
///
/// # Errors
/// An unknown trigger ([`OperateError::NotFound`]), or a run that returned `err`, trapped or
/// ran out of time ([`OperateError::Failed`], with the guest's answer or the trap).
pub async fn run_cron(version: &Arc<AppVersion>, name: &str) -> Result<(), OperateError> {
    let index = find_cron_trigger(&version.app, name)?;
    let run = {
        let version = version.clone();
        async move { crate::trigger::cron::run_once(&version, index, chrono::Utc::now()).await }
    };
    // On the version's tasks: a drain waits for it, and a client that goes away does not stop
    // the guest halfway.
    version
        .tasks
        .spawn(run)
        .await
        .map_err(|err| OperateError::Failed(format!("cron trigger `{name}`: {err}")))?
        .map_err(|failure| OperateError::Failed(format!("cron trigger `{name}`: {failure}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_views_show_times_and_text() {
        let mut message = StoredMessage::new(
            b"hi \xff".to_vec(),
            Some("text/plain".to_owned()),
            vec![("k".to_owned(), "v".to_owned())],
            0,
        );
        message.id = 7;
        message.failures = 2;
        message.first_enqueued_ms = 1_767_225_600_000;
        message.due_ms = 1_767_225_601_500;
        message.last_error = Some("boom".to_owned());
        insta::assert_snapshot!(serde_json::to_string(&MessageView::from(&message)).unwrap());
    }
}

//! Layer 6, the blob trigger's poller: for each container with `poll_interval_ms` in the
//! runtime config and a `[[trigger.blob]]` in the app, a task that lists the container every
//! interval and raises `created` and `deleted` blob events for the objects others wrote or
//! removed (another service putting files into the S3 bucket). Writes and deletes made through
//! wasmhost raise their events when they are made ([`crate::capability::blob::events`]); the
//! events of both kinds then travel on the queue machinery to the trigger's handler.
//!
//! Best effort, by design: the last listing (each object's ETag and size) is saved beside the
//! container's record, so a restart compares with it; with none saved, the first listing is a
//! baseline and raises nothing. A change undone between two listings is not seen, and every
//! node that polls one bucket raises the event.

use std::collections::BTreeMap;
use std::sync::Arc;

use futures::TryStreamExt;
use tokio_util::sync::CancellationToken;

use crate::app_version::AppVersion;
use crate::capability::blob::{ContainerEvents, ObjectInfo, OpenContainer};

/// What the poller remembers of each object: its ETag and size, by name.
type Listing = BTreeMap<String, (Option<String>, u64)>;

/// Runs the poller of every container of `version` that has one and a blob trigger, until
/// `stop` is cancelled.
pub async fn run_all(version: Arc<AppVersion>, stop: CancellationToken) {
    let pollers = version.blob.all().filter_map(|open| {
        let interval = open.config.poll_interval?;
        let events = ContainerEvents::resolve(&version.app, &version.queues, &open.name);
        if events.subscriptions.is_empty() {
            return None;
        }
        Some(poll(open.clone(), events, interval, stop.clone()))
    });
    futures::future::join_all(pollers.collect::<Vec<_>>()).await;
}

/// Polls `open` every `interval` and raises what changed to `events`, until `stop`.
async fn poll(
    open: Arc<OpenContainer>,
    events: ContainerEvents,
    interval: std::time::Duration,
    stop: CancellationToken,
) {
    tracing::info!(
        container = %open.name,
        interval_ms = interval.as_millis() as u64,
        "blob poller started"
    );
    let mut last: Option<Listing> = match open.backend.poller_state(&open.name).await {
        Ok(state) => state.and_then(|bytes| serde_json::from_slice(&bytes).ok()),
        Err(err) => {
            tracing::warn!(container = %open.name, "cannot read the blob poller's last listing: {err}");
            None
        }
    };
    loop {
        match list(&open).await {
            Ok(now) => {
                let changed = match &last {
                    None => true,
                    Some(before) => raise(&open, &events, before, &now).await,
                };
                if changed
                    && let Ok(state) = serde_json::to_vec(&now)
                    && let Err(err) = open.backend.save_poller_state(&open.name, state).await
                {
                    tracing::warn!(container = %open.name, "cannot save the blob poller's listing: {err}");
                }
                last = Some(now);
                // What this process wrote and the listing did not show (undone before it).
                open.forget_known(interval * 3);
            }
            Err(err) => {
                tracing::warn!(container = %open.name, "blob poller cannot list the container: {err}");
            }
        }
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(interval) => {}
        }
    }
}

/// Every object of `open` now.
async fn list(open: &OpenContainer) -> Result<Listing, crate::capability::backend::BackendError> {
    open.backend
        .list(&open.name)
        .map_ok(|object| (object.name, (object.etag, object.size)))
        .try_collect()
        .await
}

/// Raises an event for each object of `now` that is new or changed since `before` (created)
/// and each of `before` that is gone (deleted), unless this process made that change itself.
/// Returns whether anything changed; an event that cannot be stored is logged, and the next
/// poll's listing no longer shows the change.
async fn raise(
    open: &OpenContainer,
    events: &ContainerEvents,
    before: &Listing,
    now: &Listing,
) -> bool {
    let mut changed = false;
    let created = now
        .iter()
        .filter(|(name, state)| before.get(*name) != Some(state))
        .map(|(name, state)| (name, state, true));
    let deleted = before
        .iter()
        .filter(|(name, _)| !now.contains_key(*name))
        .map(|(name, state)| (name, state, false));
    for (name, (etag, size), created) in created.chain(deleted).collect::<Vec<_>>() {
        changed = true;
        let ours = open.take_known(name);
        if ours == Some(if created { etag.clone() } else { None }) {
            continue;
        }
        let object = ObjectInfo {
            name: name.clone(),
            size: *size,
            etag: etag.clone(),
            modified_ms: 0,
        };
        if let Err((queue, err)) = events.publish(&object, created, None).await {
            tracing::warn!(
                container = %open.name,
                queue = %queue,
                object = %name,
                "the blob poller cannot store an event: {err}"
            );
        }
    }
    changed
}

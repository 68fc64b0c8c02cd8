//! Layer 6, triggers: what makes an instance run. Each trigger type routes an event (an HTTP
//! request, a cron tick, a batch of queue messages, topic events or blob events) to a
//! component's export and runs it through the one invocation recipe, [`invoke`]. Blob events
//! are queue messages; [`blob`] is the poller that finds the objects others wrote. Durable
//! workflows' turns and activities ([`workflow`]) are messages of the workflow store's queues.

pub mod blob;
pub mod cron;
pub mod http;
pub mod invoke;
pub mod queue;
pub mod workflow;

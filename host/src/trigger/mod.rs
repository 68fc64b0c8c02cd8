//! Triggers: what makes an instance run. Each trigger type turns an event (an HTTP request
//! here; queue messages and cron ticks later) into a call of a component's export.

pub mod http;

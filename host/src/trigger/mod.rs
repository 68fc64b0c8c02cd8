//! Triggers: what makes an instance run. Each trigger type turns an event (an HTTP request,
//! a cron tick; queue messages later) into a call of a component's export.

pub mod cron;
pub mod http;

//! Triggers: what makes an instance run. Each trigger type turns an event (an HTTP request,
//! a cron tick; queue messages later) into a call of a component's export.

pub mod cron;
pub mod http;
pub mod request_id;

use crate::capability::outbound_http::Budget;
use request_id::RequestId;

/// What one invocation carries into its instance: its id (for logs, and for the guest) and
/// its outbound request budget. Internal chaining hands the caller's to the callee.
#[derive(Clone, Debug)]
pub struct Invocation {
    /// The request id (HTTP) or run id (cron).
    pub request_id: RequestId,
    /// Outbound requests left.
    pub budget: Budget,
}

//! Triggers: what makes an instance run. Each trigger type turns an event (an HTTP request,
//! a cron tick, a batch of queue messages) into a call of a component's export.

pub mod cron;
pub mod http;
pub mod queue;
pub mod request_id;

use crate::capability::outbound_http::Budget;
use crate::trace::TraceContext;
use request_id::RequestId;

/// What one invocation carries into its instance: its id (for logs, and for the guest), its
/// outbound request budget, and its trace context. Internal chaining hands the caller's id and
/// budget to the callee, which gets a trace context of its own, a child of the caller's.
#[derive(Clone, Debug)]
pub struct Invocation {
    /// The request id (HTTP) or run id (cron).
    pub request_id: RequestId,
    /// Outbound requests left.
    pub budget: Budget,
    /// The invocation's span context, the parent of the requests it sends.
    pub trace: TraceContext,
}

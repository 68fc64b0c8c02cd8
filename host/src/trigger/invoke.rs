//! Layer 6, the one invocation recipe every trigger calls (HTTP, cron, queue and topic, and the
//! triggers to come):
//!
//! [`start`] (the store, with its grants, memory limit and CPU slices; the wall-clock
//! deadline) → [`Started::call`] (instantiate from the pre-instantiated component, counting
//! the instantiation time; call the export, inside the invocation's span) → the trigger runs
//! the guest to its deadline ([`Started::run`] does it for a call that ends with the guest) →
//! [`End::finish`] (the [`Outcome`], the invocation metrics, the span's outcome and status,
//! and the failure's log line).
//!
//! What differs between triggers is the event they route, the export they call and their log
//! line ([`Trigger`]); the HTTP trigger also streams a body past the guest's response, which
//! is why the steps are separate values rather than one `async fn`.

use std::fmt;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Instant;

use tokio::sync::OwnedSemaphorePermit;
use tracing::Instrument;
use wasmtime::Store;
use wasmtime_wasi_http::p2::bindings::{Proxy, ProxyPre};

use crate::app::ComponentId;
use crate::app_version::{AppVersion, Export, LoadedComponent};
use crate::bindings::activity_component::{ActivityComponent, ActivityComponentPre};
use crate::bindings::queue_component::{QueueComponent, QueueComponentPre};
use crate::bindings::workflow_component::{WorkflowComponent, WorkflowComponentPre};
use crate::bindings::{CronComponent, CronComponentPre};
use crate::guest_output;
use crate::guest_output::Faults;
use crate::invocation::{Deadline, Invocation, RequestId, until};
use crate::metrics::{Outcome, TriggerMetrics};
use crate::state::InstanceState;

/// What sets one trigger's invocations apart in the recipe: its name and its log line.
pub trait Trigger: Send + 'static {
    /// The `trigger` label of metrics, spans and log lines: `http`, `cron` or `queue`.
    const NAME: &'static str;

    /// Logs the failure of one invocation, which ended with `outcome`. Each trigger writes its
    /// own line (its log target, its message, its own fields such as the tick or the queue),
    /// with the app, component and request id of `who`.
    fn log_failure(&self, who: &Who, outcome: Outcome, failure: &Failure);
}

/// Who an invocation was, for its log lines.
#[derive(Debug, Clone)]
pub struct Who {
    /// The app's name.
    pub app: Arc<str>,
    /// The component's id.
    pub component: ComponentId,
    /// The invocation's request id (run id, batch id).
    pub request_id: RequestId,
}

/// Why an invocation failed.
#[derive(Debug)]
pub enum Failure {
    /// The guest returned normally but answered an error: its `err` text (cron, queue), or
    /// the HTTP trigger's account of it (an error code, or no response at all).
    Answered(String),
    /// The guest trapped, ran out of CPU or wall-clock time, or could not be instantiated (a
    /// full instance pool included).
    Trapped(wasmtime::Error),
}

impl Failure {
    /// The failure of a call whose export returns `result<_, string>`: a trap, or the guest's
    /// `err`.
    pub fn of_call<T>(result: wasmtime::Result<Result<T, String>>) -> Result<T, Self> {
        match result {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(message)) => Err(Self::Answered(message)),
            Err(trap) => Err(Self::Trapped(trap)),
        }
    }

    /// The outcome this failure is counted as.
    pub fn outcome(&self) -> Outcome {
        match self {
            Self::Answered(_) => Outcome::Error,
            Self::Trapped(trap) => Outcome::of_failure(trap),
        }
    }
}

impl Failure {
    /// For the log: the guest's answer, or the trap with its causes on one line (the limit
    /// that ended it, a panic's location and message) and its Wasm backtrace on the next ones
    /// (never the host's own stack); cut to 16 KiB ([`guest_output::cut`]).
    pub fn detail(&self) -> String {
        match self {
            Self::Answered(message) => guest_output::cut(message).into_owned(),
            Self::Trapped(trap) => {
                let mut text = causes(trap);
                if let Some(backtrace) = trap.downcast_ref::<wasmtime::WasmBacktrace>() {
                    text.push('\n');
                    text.push_str(backtrace.to_string().trim_end());
                }
                guest_output::cut(&text).into_owned()
            }
        }
    }
}

/// The causes of `trap` on one line, outermost first, joined by `: `, without its Wasm
/// backtrace.
fn causes(trap: &wasmtime::Error) -> String {
    // The backtrace is a context of the trap, not an error of its own: told apart by its text.
    let backtrace = trap
        .downcast_ref::<wasmtime::WasmBacktrace>()
        .map(ToString::to_string);
    let mut line = String::new();
    for cause in trap.chain().map(ToString::to_string) {
        if Some(&cause) == backtrace.as_ref() {
            continue;
        }
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(&cause);
    }
    line
}

impl fmt::Display for Failure {
    /// The guest's answer, or `trapped: ` and the trap with its causes on one line (no
    /// backtrace); cut to 16 KiB ([`guest_output::cut`]), as it is logged and stored with a
    /// queue message.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Answered(message) => f.write_str(&guest_output::cut(message)),
            Self::Trapped(trap) => {
                f.write_str(&guest_output::cut(&format!("trapped: {}", causes(trap))))
            }
        }
    }
}

/// A pre-instantiated component, typed for one export: instantiating it in a store gives the
/// instance whose export the trigger calls.
pub trait Pre: Clone + Send + Sync + 'static {
    /// The typed instance (`Proxy`, `CronComponent`, `QueueComponent`).
    type Instance: Send + 'static;

    /// A new instance in `store`, from the instance pool.
    ///
    /// # Errors
    /// A full pool (`PoolConcurrencyLimitError`) or a trap in the component's start.
    fn instantiate(
        &self,
        store: &mut Store<InstanceState>,
    ) -> impl Future<Output = wasmtime::Result<Self::Instance>> + Send;
}

/// `Pre` for each typed pre-instantiation the host's bindings generate.
macro_rules! typed_pre {
    ($($pre:ty => $instance:ty),* $(,)?) => {$(
        impl Pre for $pre {
            type Instance = $instance;

            fn instantiate(
                &self,
                store: &mut Store<InstanceState>,
            ) -> impl Future<Output = wasmtime::Result<$instance>> + Send {
                self.instantiate_async(store)
            }
        }
    )*};
}

typed_pre! {
    ProxyPre<InstanceState> => Proxy,
    CronComponentPre<InstanceState> => CronComponent,
    QueueComponentPre<InstanceState> => QueueComponent,
    WorkflowComponentPre<InstanceState> => WorkflowComponent,
    ActivityComponentPre<InstanceState> => ActivityComponent,
}

/// A guest invocation under way: instantiate, then call the export; it owns its store, so
/// dropping it stops the instance where it is.
pub type Guest<T> = Pin<Box<dyn Future<Output = wasmtime::Result<T>> + Send>>;

/// An invocation whose store is made and whose guest has not started.
pub struct Started<K: Trigger, P: Pre> {
    /// The new instance's store. The HTTP trigger puts the request and its response-outparam
    /// in its resource table before the guest runs.
    pub store: Store<InstanceState>,
    /// When the invocation's wall-clock time ([`crate::limits::ResolvedLimits::timeout`]) runs
    /// out, counted from [`start`].
    pub deadline: Deadline,
    pre: P,
    /// What the instance leaves behind for the account of its trap.
    faults: Arc<Faults>,
    /// What counting and logging the end needs.
    pub end: End<K>,
}

/// Starts one invocation of `component` of `version` through `export`, as `trigger`: records
/// the app in `span` (the invocation's span, disabled unless spans are exported), makes the
/// store for `invocation` ([`AppVersion::new_store`]: grants, memory limit, CPU slices) and
/// sets the wall-clock deadline.
pub fn start<K: Trigger, P: Pre>(
    version: &AppVersion,
    component: &LoadedComponent,
    export: &Export<P>,
    invocation: Invocation,
    span: tracing::Span,
    trigger: K,
) -> Started<K, P> {
    let started = Instant::now();
    span.record("wasmhost.app", &*version.app_name);
    let who = Who {
        app: version.app_name.clone(),
        component: component.id.clone(),
        request_id: invocation.request_id.clone(),
    };
    let faults = Arc::new(Faults::default());
    let store = version.new_store(component, invocation, faults.clone());
    Started {
        store,
        deadline: Deadline::new(
            tokio::time::Instant::from_std(started),
            component.limits.timeout,
        ),
        pre: export.pre.clone(),
        faults,
        end: End {
            started,
            metrics: export.metrics.clone(),
            span,
            who,
            trigger,
            _permit: None,
        },
    }
}

impl<K: Trigger, P: Pre> Started<K, P> {
    /// The guest: instantiates from the pre-instantiated component (counting the time it
    /// took), then runs `call` on the instance and its store (which the call's future owns, so
    /// the store lives exactly as long as the guest), inside the invocation's span; and the
    /// invocation's [`End`]. The guest runs when it is polled: on the trigger's task, or on one
    /// of its own.
    pub fn call<T, F, C>(self, call: F) -> (Guest<T>, End<K>)
    where
        T: Send + 'static,
        F: FnOnce(P::Instance, Store<InstanceState>) -> C + Send + 'static,
        C: Future<Output = wasmtime::Result<T>> + Send + 'static,
    {
        let Self {
            mut store,
            pre,
            end,
            faults,
            ..
        } = self;
        let (started, metrics, span) = (end.started, end.metrics.clone(), end.span.clone());
        let guest = async move {
            let instance = pre.instantiate(&mut store).await?;
            metrics.instantiated(started.elapsed());
            // A trap names what the instance left behind: its panic, a refused memory.grow.
            call(instance, store)
                .await
                .map_err(|trap| faults.explain(trap))
        };
        (Box::pin(guest.instrument(span)), end)
    }

    /// The whole invocation, for an export that returns `result<T, string>` and whose work
    /// ends when it returns (cron, queue, activity): [`Started::call`], run to the deadline,
    /// then [`End::finish`]. Returns the guest's `ok` value, or why it failed.
    pub async fn run<T, F, C>(self, call: F) -> Result<T, Failure>
    where
        T: Send + 'static,
        F: FnOnce(P::Instance, Store<InstanceState>) -> C + Send + 'static,
        C: Future<Output = wasmtime::Result<Result<T, String>>> + Send + 'static,
    {
        let deadline = self.deadline;
        let (guest, end) = self.call(call);
        let result = Failure::of_call(until(deadline, guest).await);
        end.finish(&result);
        result
    }
}

/// What counting and logging the end of an invocation needs, taken at its start.
pub struct End<K: Trigger> {
    started: Instant,
    metrics: Arc<TriggerMetrics>,
    /// The invocation's span (disabled unless spans are exported).
    pub span: tracing::Span,
    /// Who it was, for log lines.
    pub who: Who,
    trigger: K,
    /// A place the trigger holds for the invocation's whole life (the HTTP trigger's
    /// `max_concurrent_requests`), given back with this.
    _permit: Option<OwnedSemaphorePermit>,
}

impl<K: Trigger> End<K> {
    /// Holds `permit` until the invocation ends.
    pub fn hold(&mut self, permit: OwnedSemaphorePermit) {
        self._permit = Some(permit);
    }

    /// Ends the invocation with `result`: counts it by [`Outcome`] with its duration (from
    /// [`start`]), records the outcome in its span (and an error status unless it is
    /// [`Outcome::Ok`]), and has the trigger log a failure. Returns the outcome.
    pub fn finish<T>(self, result: &Result<T, Failure>) -> Outcome {
        let outcome = match result {
            Ok(_) => Outcome::Ok,
            Err(failure) => failure.outcome(),
        };
        self.metrics.invoked(outcome, self.started.elapsed());
        self.span.record("wasmhost.outcome", outcome.as_str());
        if let Err(failure) = result {
            self.span.record("otel.status_code", "ERROR");
            self.trigger.log_failure(&self.who, outcome, failure);
        }
        outcome
    }
}
